//! The inbound half: bytes in, validated messages and control frames out.
//!
//! Payload bytes are unmasked and, for text, UTF-8 validated as they arrive, so a bad byte fails
//! the connection at once even when its frame is still arriving, and a frame's payload is
//! copied exactly once (from the caller's buffer into the message).

use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;

use super::{Config, Message, Role};
use crate::frame::{apply_mask, FrameHeader, OpCode, ProtocolError, Utf8Validator, MAX_HEADER_LEN};

/// Up to this much of a message is reserved at once from a frame's declared length; past it
/// the buffer grows as data arrives, so a header that promises much and sends little costs
/// little.
const RESERVE_AHEAD: u64 = 64 << 10;

/// What a complete frame (or message) gives the connection.
#[derive(Debug)]
pub(super) enum Received {
    Message(Message),
    Ping(Bytes),
    Pong(Bytes),
    /// A close frame's raw payload, parsed by the connection.
    Close(Bytes),
}

/// The frame being read: its header and how much of its payload has arrived.
#[derive(Debug)]
struct FrameInProgress {
    header: FrameHeader,
    received: u64,
}

/// The data message being assembled from one or more frames.
#[derive(Debug)]
struct MessageInProgress {
    is_text: bool,
    data: Vec<u8>,
    utf8: Utf8Validator,
}

/// Reads frames and assembles messages.
#[derive(Debug)]
pub(super) struct Reader {
    /// A header that arrived in pieces.
    partial_header: [u8; MAX_HEADER_LEN],
    partial_header_len: usize,
    frame: Option<FrameInProgress>,
    message: Option<MessageInProgress>,
    /// The control frame in progress, unmasked. Empty (no allocation) between control
    /// frames: its buffer becomes the frame's `Bytes` when the frame is complete, so an idle
    /// connection carries no control buffer and a control frame costs one allocation.
    control: Vec<u8>,
}

impl Default for Reader {
    fn default() -> Self {
        Self {
            partial_header: [0; MAX_HEADER_LEN],
            partial_header_len: 0,
            frame: None,
            message: None,
            control: Vec::new(),
        }
    }
}

impl Reader {
    /// Consumes bytes from the front of `input` until one item is complete (returned) or
    /// `input` is empty (`None`).
    pub(super) fn read(
        &mut self,
        input: &mut &[u8],
        role: Role,
        config: &Config,
    ) -> Result<Option<Received>, ProtocolError> {
        while !input.is_empty() {
            let Some(frame) = &mut self.frame else {
                if let Some(header) = self.read_header(input)? {
                    self.start_frame(header, role, config)?;
                    if header.payload_len == 0 {
                        if let Some(item) = self.finish_frame()? {
                            return Ok(Some(item));
                        }
                    }
                }
                continue;
            };
            let remaining = frame.header.payload_len - frame.received;
            let take = usize::try_from(remaining).map_or(input.len(), |r| r.min(input.len()));
            let (chunk, rest) = input.split_at(take);
            *input = rest;
            let mask = frame.header.mask;
            let offset = frame.received as usize;
            frame.received += take as u64;
            let done = frame.received == frame.header.payload_len;
            if frame.header.opcode.is_control() {
                if offset == 0 {
                    // At most `MAX_CONTROL_PAYLOAD` bytes (the header decoder refuses more): one
                    // allocation.
                    self.control
                        .reserve_exact(frame.header.payload_len as usize);
                }
                self.control.extend_from_slice(chunk);
                if let Some(key) = mask {
                    apply_mask(&mut self.control[offset..], key, offset);
                }
            } else if let Some(message) = &mut self.message {
                let start = message.data.len();
                message.data.extend_from_slice(chunk);
                let fresh = &mut message.data[start..];
                if let Some(key) = mask {
                    apply_mask(fresh, key, offset);
                }
                // A message that arrives whole in this read is validated once, by the String
                // conversion in `finish_frame` during this same call: failing there is as
                // early as failing here, and validating twice would double the cost.
                let whole_message_now = start == 0 && done && frame.header.fin;
                if message.is_text && !whole_message_now {
                    message
                        .utf8
                        .feed(fresh)
                        .map_err(|_| ProtocolError::InvalidUtf8)?;
                }
            }
            if done {
                if let Some(item) = self.finish_frame()? {
                    return Ok(Some(item));
                }
            }
        }
        Ok(None)
    }

    /// Decodes a header from `input`, buffering a header that arrives in pieces.
    fn read_header(&mut self, input: &mut &[u8]) -> Result<Option<FrameHeader>, ProtocolError> {
        if self.partial_header_len == 0 {
            // Fast path: the whole header is in this read.
            if let Some((header, len)) = FrameHeader::decode(input)? {
                *input = &input[len..];
                return Ok(Some(header));
            }
        }
        let have = self.partial_header_len;
        let copy = (MAX_HEADER_LEN - have).min(input.len());
        self.partial_header[have..have + copy].copy_from_slice(&input[..copy]);
        match FrameHeader::decode(&self.partial_header[..have + copy])? {
            Some((header, len)) => {
                self.partial_header_len = 0;
                *input = &input[len - have..];
                Ok(Some(header))
            }
            None => {
                self.partial_header_len = have + copy;
                *input = &input[copy..];
                Ok(None)
            }
        }
    }

    /// Checks a new frame against the role, the extensions, the message in progress and the
    /// size limits, before any of its payload is stored.
    fn start_frame(
        &mut self,
        header: FrameHeader,
        role: Role,
        config: &Config,
    ) -> Result<(), ProtocolError> {
        match (role, header.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedClientFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedServerFrame),
            _ => {}
        }
        let unclaimed = header.rsv & !config.allowed_rsv_bits;
        if unclaimed != 0 {
            return Err(ProtocolError::ReservedBits(unclaimed));
        }
        if !header.opcode.is_control() {
            if header.payload_len > config.max_frame_size as u64 {
                return Err(ProtocolError::FrameTooLarge {
                    len: header.payload_len,
                    max: config.max_frame_size,
                });
            }
            let so_far = self.message.as_ref().map_or(0, |m| m.data.len() as u64);
            let total = so_far + header.payload_len;
            if total > config.max_message_size as u64 {
                return Err(ProtocolError::MessageTooLarge {
                    len: total,
                    max: config.max_message_size,
                });
            }
            let reserve = header.payload_len.min(RESERVE_AHEAD) as usize;
            match (header.opcode, &mut self.message) {
                (OpCode::Continuation, Some(message)) => message.data.reserve(reserve),
                (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
                (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
                (opcode, None) => {
                    self.message = Some(MessageInProgress {
                        is_text: opcode == OpCode::Text,
                        data: Vec::with_capacity(reserve),
                        utf8: Utf8Validator::new(),
                    });
                }
            }
        }
        self.frame = Some(FrameInProgress {
            header,
            received: 0,
        });
        Ok(())
    }

    /// The current frame's payload is complete: hand out a control frame, or a message when
    /// this was its final fragment.
    fn finish_frame(&mut self) -> Result<Option<Received>, ProtocolError> {
        let Some(frame) = self.frame.take() else {
            return Ok(None);
        };
        let mut control = || Bytes::from(core::mem::take(&mut self.control));
        Ok(match frame.header.opcode {
            OpCode::Ping => Some(Received::Ping(control())),
            OpCode::Pong => Some(Received::Pong(control())),
            OpCode::Close => Some(Received::Close(control())),
            _ if !frame.header.fin => None,
            _ => match self.message.take() {
                None => None,
                Some(mut message) if message.is_text => {
                    message
                        .utf8
                        .finish()
                        .map_err(|_| ProtocolError::InvalidUtf8)?;
                    let text =
                        String::from_utf8(message.data).map_err(|_| ProtocolError::InvalidUtf8)?;
                    Some(Received::Message(Message::Text(text)))
                }
                Some(message) => Some(Received::Message(Message::Binary(Bytes::from(
                    message.data,
                )))),
            },
        })
    }
}
