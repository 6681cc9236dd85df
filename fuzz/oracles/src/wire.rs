//! An independent reading of RFC 6455 frames, written plainly from §5.2 (no code shared with
//! the core's decoder), to check what the core writes: [`Written`] takes an endpoint's output
//! stream piece by piece and asserts that it is whole, well-formed frames as that endpoint
//! must send them, and that nothing follows a close frame.

use sockwright::conn::Role;
use sockwright::frame::CloseCode;

/// One frame as it is on the wire, unmasked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireFrame {
    /// FIN.
    pub fin: bool,
    /// RSV1..3 as the three low bits.
    pub rsv: u8,
    /// The 4-bit opcode.
    pub opcode: u8,
    /// Whether a masking key was present.
    pub masked: bool,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
}

/// Opcodes, as numbers (RFC 6455 §5.2).
pub mod op {
    /// Continuation.
    pub const CONTINUATION: u8 = 0x0;
    /// Text.
    pub const TEXT: u8 = 0x1;
    /// Binary.
    pub const BINARY: u8 = 0x2;
    /// Close.
    pub const CLOSE: u8 = 0x8;
    /// Ping.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;
}

/// Reads one frame from the front of `buf`: `None` while it is incomplete, else the frame and
/// its length in bytes. Any payload length is accepted here; callers judge it.
pub fn parse_frame(buf: &[u8]) -> Option<(WireFrame, usize)> {
    let b0 = *buf.first()?;
    let b1 = *buf.get(1)?;
    let mut at = 2usize;
    let len = match b1 & 0x7F {
        126 => {
            let ext = buf.get(at..at + 2)?;
            at += 2;
            u64::from(u16::from_be_bytes([ext[0], ext[1]]))
        }
        127 => {
            let ext = buf.get(at..at + 8)?;
            at += 8;
            ext.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b))
        }
        n => u64::from(n),
    };
    let masked = b1 & 0x80 != 0;
    let key = if masked {
        let key = buf.get(at..at + 4)?;
        at += 4;
        Some([key[0], key[1], key[2], key[3]])
    } else {
        None
    };
    let len = usize::try_from(len).ok()?;
    let end = at.checked_add(len)?;
    let mut payload = buf.get(at..end)?.to_vec();
    if let Some(key) = key {
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= key[i % 4];
        }
    }
    let frame = WireFrame {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 0x07,
        opcode: b0 & 0x0F,
        masked,
        payload,
    };
    Some((frame, end))
}

/// Encodes a frame (for inputs built from fuzz operations): shortest length form, masked with
/// `mask` when given.
pub fn encode(fin: bool, rsv: u8, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | ((rsv & 7) << 4) | (opcode & 0x0F)];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let start = out.len() + if mask.is_some() { 4 } else { 0 };
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        for (i, byte) in out[start..].iter_mut().enumerate() {
            *byte ^= key[i % 4];
        }
    }
    out
}

/// A data message as sent: text or binary, and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFrame {
    /// Text (true) or binary.
    pub text: bool,
    /// The payload.
    pub payload: Vec<u8>,
}

/// One endpoint's output stream, checked as it is taken.
///
/// Asserts, frame by frame: masked exactly when the writer is a client; no RSV bit; a
/// defined opcode; FIN set (the core never fragments what it sends); control payloads of at
/// most 125 bytes; text that is UTF-8; a close payload that is empty or a sendable code and a
/// UTF-8 reason of at most 123 bytes; and no frame at all after a close frame.
#[derive(Debug)]
pub struct Written {
    writer: Role,
    buf: Vec<u8>,
    /// The data frames, in order.
    pub data: Vec<DataFrame>,
    /// Ping payloads, in order.
    pub pings: Vec<Vec<u8>>,
    /// Pong payloads, in order.
    pub pongs: Vec<Vec<u8>>,
    /// The close frame's payload, once one was written.
    pub close: Option<Vec<u8>>,
    /// Total bytes taken.
    pub total: usize,
}

impl Written {
    /// The output of an endpoint in role `writer`.
    pub fn new(writer: Role) -> Self {
        Self {
            writer,
            buf: Vec::new(),
            data: Vec::new(),
            pings: Vec::new(),
            pongs: Vec::new(),
            close: None,
            total: 0,
        }
    }

    /// Takes the next bytes of the stream (any piece of it).
    pub fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len();
        self.buf.extend_from_slice(bytes);
        while let Some((frame, len)) = parse_frame(&self.buf) {
            self.buf.drain(..len);
            self.check(frame);
        }
    }

    /// The stream has ended (or everything queued was taken): it must end on a frame boundary.
    pub fn assert_whole(&self) {
        assert!(
            self.buf.is_empty(),
            "output ends inside a frame: {} bytes left over",
            self.buf.len()
        );
    }

    fn check(&mut self, frame: WireFrame) {
        assert!(
            self.close.is_none(),
            "a frame (opcode {:#x}) was written after the close frame",
            frame.opcode
        );
        let must_mask = self.writer == Role::Client;
        assert_eq!(
            frame.masked, must_mask,
            "masking is wrong for a {:?}",
            self.writer
        );
        assert_eq!(frame.rsv, 0, "an RSV bit is set on an outgoing frame");
        assert!(frame.fin, "an outgoing frame is fragmented");
        if frame.opcode & 0x8 != 0 {
            assert!(
                frame.payload.len() <= 125,
                "control frame of {} bytes",
                frame.payload.len()
            );
        }
        match frame.opcode {
            op::TEXT => {
                assert!(
                    std::str::from_utf8(&frame.payload).is_ok(),
                    "text is not UTF-8"
                );
                self.data.push(DataFrame {
                    text: true,
                    payload: frame.payload,
                });
            }
            op::BINARY => self.data.push(DataFrame {
                text: false,
                payload: frame.payload,
            }),
            op::PING => self.pings.push(frame.payload),
            op::PONG => self.pongs.push(frame.payload),
            op::CLOSE => {
                assert_close_payload(&frame.payload);
                self.close = Some(frame.payload);
            }
            other => panic!("outgoing frame with opcode {other:#x}"),
        }
    }
}

/// A close payload an endpoint may send: empty, or a sendable code and a UTF-8 reason of at
/// most 123 bytes.
pub fn assert_close_payload(payload: &[u8]) {
    if payload.is_empty() {
        return;
    }
    assert!(payload.len() >= 2, "close payload of 1 byte");
    let code = u16::from_be_bytes([payload[0], payload[1]]);
    assert!(
        CloseCode(code).is_sendable(),
        "close code {code} may not be sent"
    );
    assert!(
        payload.len() - 2 <= 123,
        "close reason of {} bytes",
        payload.len() - 2
    );
    assert!(
        std::str::from_utf8(&payload[2..]).is_ok(),
        "close reason is not UTF-8"
    );
}

/// The close code of a close payload, 1005 for an empty one.
pub fn close_code(payload: &[u8]) -> u16 {
    match payload {
        [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
        _ => 1005,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_parse_round_trips() {
        for len in [0usize, 1, 125, 126, 65535, 65536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for mask in [None, Some([1, 2, 3, 4])] {
                let bytes = encode(true, 0, op::BINARY, &payload, mask);
                let (frame, used) = parse_frame(&bytes).expect("whole frame");
                assert_eq!(used, bytes.len());
                assert_eq!(frame.payload, payload);
                assert_eq!(frame.masked, mask.is_some());
                assert!(parse_frame(&bytes[..bytes.len() - 1]).is_none() || len == 0);
            }
        }
    }

    #[test]
    #[should_panic(expected = "after the close frame")]
    fn nothing_may_follow_a_close() {
        let mut out = Written::new(Role::Server);
        out.push(&encode(true, 0, op::CLOSE, &[0x03, 0xe8], None));
        out.push(&encode(true, 0, op::TEXT, b"late", None));
    }
}
