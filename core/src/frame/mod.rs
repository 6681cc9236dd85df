//! Frames: the header codec, masking, close payloads and incremental UTF-8 validation.
//!
//! These are plain functions over bytes, used by [`crate::conn`] and usable on their own by
//! fuzzers, tests and anyone who wants to encode a frame once and send the same bytes to many
//! peers (server frames are unmasked, so their bytes do not depend on the recipient):
//! [`SharedFrame`] is such a frame.
//!
//! What is checked where: [`FrameHeader::decode`] rejects what is wrong for every role (reserved
//! opcodes, a 64-bit length with its top bit set, control frames that are long or fragmented);
//! the connection adds what depends on configuration (masking by role, RSV bits, size limits).

mod close;
mod error;
mod header;
mod mask;
mod shared;
mod utf8;

pub use close::{CloseCode, CloseFrame, MAX_CLOSE_REASON_LEN};
pub use error::ProtocolError;
pub use header::{encode_frame, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
pub use mask::{apply_mask, apply_mask_bytewise};
pub use shared::SharedFrame;
pub use utf8::{Utf8Error, Utf8Validator};
