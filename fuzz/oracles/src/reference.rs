//! A reference reader: what a connection must make of an inbound byte stream, written from
//! RFC 6455 and the core's documented rules as one plain loop over whole frames, to compare
//! the core's incremental reader with.
//!
//! The documented order of checks for each frame: reserved opcode; then, once the length is
//! there, a 64-bit length with its top bit set; for control frames, FIN and the 125-byte
//! limit; then, once the masking key is there, masking by role, RSV bits not allowed, frame
//! size, message size, continuation rules. Text is rejected at the first byte that can no
//! longer be UTF-8 (also when its frame is only partly there), a close payload is parsed when
//! its frame is complete. Reading stops at a close frame or a violation.

use sockwright::conn::{Config, Message, Role};
use sockwright::frame::{CloseCode, CloseFrame, ProtocolError};

use crate::wire::op;

/// What a reader hands out, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A complete message.
    Message(Message),
    /// A ping's payload.
    Ping(Vec<u8>),
    /// A pong's payload.
    Pong(Vec<u8>),
    /// A valid close frame (`None`: it had no code). Nothing is read after it.
    Close(Option<CloseFrame>),
}

/// The reading of a whole stream: the items, then the violation that stopped it, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    /// Items in order, up to the first close frame or violation.
    pub items: Vec<Item>,
    /// The violation, if the stream has one before its first close frame.
    pub violation: Option<ProtocolError>,
}

/// The limits a reader applies.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    max_frame: usize,
    max_message: usize,
    allowed_rsv: u8,
}

impl From<&Config> for Limits {
    fn from(config: &Config) -> Self {
        Self {
            max_frame: config.max_frame_size,
            max_message: config.max_message_size,
            allowed_rsv: config.allowed_rsv_bits,
        }
    }
}

/// Reads `stream` as the endpoint in `role` (a server reads a client's masked frames).
pub fn read(stream: &[u8], role: Role, limits: Limits) -> Reading {
    let mut items = Vec::new();
    let violation = read_into(stream, role, limits, &mut items).err();
    Reading { items, violation }
}

/// The message being assembled.
struct Partial {
    text: bool,
    data: Vec<u8>,
}

fn read_into(
    mut rest: &[u8],
    role: Role,
    limits: Limits,
    items: &mut Vec<Item>,
) -> Result<(), ProtocolError> {
    let mut message: Option<Partial> = None;
    loop {
        let [b0, b1, after @ ..] = rest else {
            return Ok(());
        };
        let opcode = b0 & 0x0F;
        if !matches!(opcode, 0x0..=0x2 | 0x8..=0xA) {
            return Err(ProtocolError::ReservedOpcode(opcode));
        }
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x07;
        let (len, after) = match b1 & 0x7F {
            126 => match after {
                [a, b, tail @ ..] => (u64::from(u16::from_be_bytes([*a, *b])), tail),
                _ => return Ok(()),
            },
            127 => {
                if after.len() < 8 {
                    return Ok(());
                }
                let (ext, tail) = after.split_at(8);
                (ext.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)), tail)
            }
            n => (u64::from(n), after),
        };
        if len >> 63 != 0 {
            return Err(ProtocolError::LengthTopBitSet);
        }
        let control = opcode & 0x8 != 0;
        if control && !fin {
            return Err(ProtocolError::FragmentedControlFrame);
        }
        if control && len > 125 {
            return Err(ProtocolError::ControlFrameTooLong(len));
        }
        let masked = b1 & 0x80 != 0;
        let (key, after) = if masked {
            if after.len() < 4 {
                return Ok(());
            }
            let (key, tail) = after.split_at(4);
            (Some([key[0], key[1], key[2], key[3]]), tail)
        } else {
            (None, after)
        };
        match (role, masked) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedClientFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedServerFrame),
            _ => {}
        }
        if rsv & !limits.allowed_rsv != 0 {
            return Err(ProtocolError::ReservedBits(rsv & !limits.allowed_rsv));
        }
        if !control {
            if len > limits.max_frame as u64 {
                return Err(ProtocolError::FrameTooLarge {
                    len,
                    max: limits.max_frame,
                });
            }
            let so_far = message.as_ref().map_or(0, |m| m.data.len() as u64);
            if so_far + len > limits.max_message as u64 {
                return Err(ProtocolError::MessageTooLarge {
                    len: so_far + len,
                    max: limits.max_message,
                });
            }
            match (opcode, &message) {
                (op::CONTINUATION, None) => return Err(ProtocolError::UnexpectedContinuation),
                (op::CONTINUATION, Some(_)) => {}
                (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
                (_, None) => {
                    message = Some(Partial {
                        text: opcode == op::TEXT,
                        data: Vec::new(),
                    });
                }
            }
        }
        // The payload, or as much of it as there is.
        let available = usize::try_from(len).map_or(after.len(), |n| n.min(after.len()));
        let mut payload = after[..available].to_vec();
        if let Some(key) = key {
            for (i, byte) in payload.iter_mut().enumerate() {
                *byte ^= key[i % 4];
            }
        }
        let complete = available as u64 == len;
        rest = &after[available..];
        if control {
            if !complete {
                return Ok(());
            }
            match opcode {
                op::PING => items.push(Item::Ping(payload)),
                op::PONG => items.push(Item::Pong(payload)),
                _ => {
                    items.push(Item::Close(CloseFrame::parse(&payload)?));
                    return Ok(());
                }
            }
            continue;
        }
        let partial = message.as_mut().expect("a data frame has a message");
        partial.data.extend_from_slice(&payload);
        if partial.text {
            if let Err(e) = std::str::from_utf8(&partial.data) {
                if e.error_len().is_some() {
                    return Err(ProtocolError::InvalidUtf8);
                }
            }
        }
        if !complete {
            return Ok(());
        }
        if fin {
            let done = message.take().expect("checked above");
            items.push(Item::Message(if done.text {
                let text = String::from_utf8(done.data).map_err(|_| ProtocolError::InvalidUtf8)?;
                Message::Text(text)
            } else {
                Message::Binary(done.data.into())
            }));
        }
    }
}

/// The close frame a connection sends when it fails for `violation`.
pub fn violation_close(violation: &ProtocolError) -> Vec<u8> {
    CloseFrame {
        code: violation.close_code(),
        reason: violation.to_string(),
    }
    .payload()
}

/// The close frame a connection answers `frame` with: the same code, no reason.
pub fn close_reply(frame: &Option<CloseFrame>) -> Vec<u8> {
    match frame {
        Some(frame) => CloseFrame {
            code: frame.code,
            reason: String::new(),
        }
        .payload(),
        None => Vec::new(),
    }
}

/// The code a connection reports for a received close frame.
pub fn reported_code(frame: &Option<CloseFrame>) -> CloseCode {
    frame.as_ref().map_or(CloseCode::NO_STATUS, |f| f.code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::encode;

    fn server_reading(stream: &[u8]) -> Reading {
        read(stream, Role::Server, Limits::from(&Config::default()))
    }

    #[test]
    fn rfc_examples() {
        // RFC 6455 §5.7: a masked "Hello" from a client.
        let hello = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let reading = server_reading(&hello);
        assert_eq!(
            reading.items,
            [Item::Message(Message::Text("Hello".into()))]
        );
        assert_eq!(reading.violation, None);
        // The same frame unmasked is a violation for a server.
        let unmasked = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        assert_eq!(
            server_reading(&unmasked).violation,
            Some(ProtocolError::UnmaskedClientFrame)
        );
    }

    #[test]
    fn fails_fast_inside_a_partial_text_frame() {
        let mut frame = encode(true, 0, op::TEXT, b"ab\xffcd", Some([1, 2, 3, 4]));
        frame.truncate(frame.len() - 2);
        assert_eq!(
            server_reading(&frame).violation,
            Some(ProtocolError::InvalidUtf8)
        );
    }

    #[test]
    fn stops_at_a_close_frame() {
        let key = Some([9, 9, 9, 9]);
        let mut stream = encode(true, 0, op::CLOSE, &[0x03, 0xe8], key);
        stream.extend(encode(true, 0, op::TEXT, b"late", key));
        let reading = server_reading(&stream);
        assert_eq!(reading.items.len(), 1);
        assert!(matches!(&reading.items[0], Item::Close(Some(f)) if f.code == CloseCode::NORMAL));
    }
}
