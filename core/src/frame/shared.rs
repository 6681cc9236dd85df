//! A server data frame encoded once and shared by every connection it is sent on.

use alloc::vec::Vec;
use bytes::Bytes;

use super::{encode_frame, FrameHeader, OpCode};

/// One whole data frame from a server: FIN set, no RSV bits, unmasked, a text frame's payload
/// valid UTF-8. It is encoded once, and clones share the same bytes (a reference count, no
/// copy), so a broadcast to ten thousand peers costs one encoding.
///
/// It can only be built by [`SharedFrame::text`] and [`SharedFrame::binary`], so a connection
/// queues it without checking it again
/// ([`Connection::send_shared`](crate::conn::Connection::send_shared)). Server frames are never
/// masked (RFC 6455 §5.1), which is why their bytes do not depend on the recipient; a client
/// masks every frame with a fresh key, so it cannot send one.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedFrame {
    bytes: Bytes,
    opcode: OpCode,
    header_len: usize,
}

impl SharedFrame {
    /// A text message as one frame.
    pub fn text(text: &str) -> Self {
        Self::encode(OpCode::Text, text.as_bytes())
    }

    /// A binary message as one frame.
    pub fn binary(data: &[u8]) -> Self {
        Self::encode(OpCode::Binary, data)
    }

    fn encode(opcode: OpCode, payload: &[u8]) -> Self {
        let header_len = FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask: None,
            payload_len: payload.len() as u64,
        }
        .encoded_len();
        // Exactly the frame's size, so the buffer becomes `Bytes` without a reallocation.
        let mut out = Vec::with_capacity(header_len + payload.len());
        encode_frame(&mut out, true, opcode, payload, None);
        Self {
            bytes: Bytes::from(out),
            opcode,
            header_len,
        }
    }

    /// The encoded frame, header and payload, as written to the wire. Clones of this frame
    /// return the same bytes (same address).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The encoded size in bytes (header and payload); what the frame costs in an outbound
    /// queue.
    pub fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    /// [`OpCode::Text`] or [`OpCode::Binary`].
    pub fn opcode(&self) -> OpCode {
        self.opcode
    }

    /// The payload: the message's bytes.
    pub fn payload(&self) -> &[u8] {
        self.bytes.get(self.header_len..).unwrap_or_default()
    }
}

impl From<&str> for SharedFrame {
    /// A text frame.
    fn from(text: &str) -> Self {
        Self::text(text)
    }
}

impl From<&[u8]> for SharedFrame {
    /// A binary frame.
    fn from(data: &[u8]) -> Self {
        Self::binary(data)
    }
}

impl core::fmt::Debug for SharedFrame {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SharedFrame")
            .field("opcode", &self.opcode)
            .field("encoded_len", &self.bytes.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_unmasked_final_frames() {
        let text = SharedFrame::text("Hello");
        assert_eq!(
            &text.bytes()[..],
            [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']
        );
        assert_eq!(text.payload(), b"Hello");
        assert_eq!(text.opcode(), OpCode::Text);

        let big = SharedFrame::binary(&[7; 300]);
        assert_eq!(&big.bytes()[..4], [0x82, 126, 0x01, 0x2c]);
        assert_eq!(big.encoded_len(), 304);
        assert_eq!(big.payload(), [7; 300]);

        let empty = SharedFrame::binary(&[]);
        assert_eq!(&empty.bytes()[..], [0x82, 0x00]);
        assert!(empty.payload().is_empty());
    }

    #[test]
    fn clones_share_the_bytes() {
        let frame = SharedFrame::binary(&[1; 2000]);
        let copy = frame.clone();
        assert_eq!(frame.bytes().as_ptr(), copy.bytes().as_ptr());
    }
}
