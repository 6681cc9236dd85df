//! The frame header (RFC 6455 §5.2) and whole-frame encoding.

use alloc::vec::Vec;

use super::{apply_mask, ProtocolError};

/// The longest a frame header can be: 2 fixed bytes, 8 bytes of extended length, 4 of mask key.
pub const MAX_HEADER_LEN: usize = 14;

/// The largest payload a control frame may carry (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame's opcode. Reserved opcodes are rejected by [`FrameHeader::decode`], so a value of this
/// type is always one of the six defined ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// `0x0`: continues a fragmented message.
    Continuation,
    /// `0x1`: the first frame of a text (UTF-8) message.
    Text,
    /// `0x2`: the first frame of a binary message.
    Binary,
    /// `0x8`: starts or answers the close handshake.
    Close,
    /// `0x9`: asks the peer for a pong.
    Ping,
    /// `0xA`: answers a ping, or is sent unsolicited as a heartbeat.
    Pong,
}

impl OpCode {
    /// The opcode for a 4-bit value, or `None` for the reserved values 3–7 and 11–15.
    pub fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    /// The 4-bit value on the wire.
    pub fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Close, ping and pong: frames that may arrive between the fragments of a message.
    pub fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }
}

/// A decoded frame header: everything before the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The last frame of its message.
    pub fin: bool,
    /// The three reserved bits, RSV1 as `0b100`, RSV2 as `0b010`, RSV3 as `0b001`. Non-zero only
    /// when an extension claims them; the connection rejects the rest.
    pub rsv: u8,
    /// What the frame carries.
    pub opcode: OpCode,
    /// The masking key: present on frames from clients, absent on frames from servers.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes, as declared; nothing has been allocated for it.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Decodes a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` holds only part of a header (never more than
    /// [`MAX_HEADER_LEN`] bytes are needed), or the header and the number of bytes it took. A
    /// length written in a longer form than needed (RFC 6455 §5.2 asks for the shortest) is
    /// accepted, and the bytes it took are counted as sent. Fails on
    /// what is wrong for any role: a reserved opcode, a 64-bit length with its top bit set, a
    /// control frame that is fragmented or longer than 125 bytes.
    pub fn decode(buf: &[u8]) -> Result<Option<(Self, usize)>, ProtocolError> {
        let [b0, b1, rest @ ..] = buf else {
            return Ok(None);
        };
        let opcode =
            OpCode::from_bits(b0 & 0x0F).ok_or(ProtocolError::ReservedOpcode(b0 & 0x0F))?;
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x07;
        let masked = b1 & 0x80 != 0;
        let (payload_len, len_bytes) = match b1 & 0x7F {
            126 => match rest {
                [a, b, ..] => (u64::from(u16::from_be_bytes([*a, *b])), 2),
                _ => return Ok(None),
            },
            127 => match rest.first_chunk::<8>() {
                Some(bytes) => (u64::from_be_bytes(*bytes), 8),
                None => return Ok(None),
            },
            short => (u64::from(short), 0),
        };
        if payload_len > i64::MAX as u64 {
            return Err(ProtocolError::LengthTopBitSet);
        }
        if opcode.is_control() {
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlFrameTooLong(payload_len));
            }
        }
        let rest = &rest[len_bytes..];
        let mask = if masked {
            match rest.first_chunk::<4>() {
                Some(key) => Some(*key),
                None => return Ok(None),
            }
        } else {
            None
        };
        let header = Self {
            fin,
            rsv,
            opcode,
            mask,
            payload_len,
        };
        // The bytes this header took, which is more than `encoded_len` when the peer wrote
        // the length in a longer form than needed.
        let mask_bytes = if masked { 4 } else { 0 };
        Ok(Some((header, 2 + len_bytes + mask_bytes)))
    }

    /// How many bytes [`encode`](Self::encode) writes for this header.
    pub fn encoded_len(&self) -> usize {
        let len_bytes = match self.payload_len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        2 + len_bytes + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Writes the header with the shortest length encoding and returns how many bytes of `out`
    /// it used.
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0x07) << 4) | self.opcode.bits();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut at = 2;
        match self.payload_len {
            len @ 0..=125 => out[1] = mask_bit | len as u8,
            len @ 126..=0xFFFF => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                at = 4;
            }
            len => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&len.to_be_bytes());
                at = 10;
            }
        }
        if let Some(key) = self.mask {
            out[at..at + 4].copy_from_slice(&key);
            at += 4;
        }
        at
    }
}

/// Appends one whole frame (header and payload, masked with `mask` when given) to `out`.
///
/// With `mask == None` the bytes depend only on the frame, so a server can encode a broadcast
/// once and hand the same bytes to every peer.
pub fn encode_frame(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    let header = FrameHeader {
        fin,
        rsv: 0,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    let mut head = [0; MAX_HEADER_LEN];
    let head_len = header.encode(&mut head);
    out.reserve(head_len + payload.len());
    out.extend_from_slice(&head[..head_len]);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_counts_the_bytes_a_longer_length_form_took() {
        // Found by the frame_client fuzz target: a length of 1 written in the 16-bit and the
        // 64-bit form. The header took 4 and 10 bytes, not the 2 of the shortest form.
        let rows: &[(&str, &[u8], usize)] = &[
            ("shortest", &[0x82, 0x01], 2),
            ("16-bit form", &[0x82, 0x7e, 0x00, 0x01], 4),
            ("64-bit form", &[0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0x01], 10),
            (
                "16-bit form, masked",
                &[0x82, 0xfe, 0x00, 0x01, 1, 2, 3, 4],
                8,
            ),
        ];
        for (name, bytes, taken) in rows {
            let (header, len) = FrameHeader::decode(bytes)
                .expect("valid")
                .expect("complete");
            assert_eq!(header.payload_len, 1, "row {name}");
            assert_eq!(len, *taken, "row {name}");
        }
    }
}
