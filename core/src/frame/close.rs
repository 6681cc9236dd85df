//! Close frames (RFC 6455 §5.5.1, §7.4): status codes and the reason.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::ProtocolError;

/// The longest close reason that fits a control frame: 125 bytes less the 2-byte code.
pub const MAX_CLOSE_REASON_LEN: usize = 123;

/// A close status code (RFC 6455 §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection is fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigated away).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a message type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: no code was in the close frame. Reported locally, never sent.
    pub const NO_STATUS: Self = Self(1005);
    /// 1006: the connection ended without a close frame. Reported locally, never sent.
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: a text message was not valid UTF-8.
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a frame or message was larger than the endpoint accepts.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client needed an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later (overload).
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: a gateway or proxy got an invalid response from upstream.
    pub const BAD_GATEWAY: Self = Self(1014);
    /// 1015: the TLS handshake failed. Reported locally, never sent.
    pub const TLS_HANDSHAKE: Self = Self(1015);

    /// Whether this code may appear in a close frame on the wire: 1000–1003, 1007–1014 (the
    /// registered codes) and 3000–4999 (libraries, frameworks and applications).
    pub fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A close frame's status code and reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason, at most [`MAX_CLOSE_REASON_LEN`] bytes of UTF-8.
    pub reason: String,
}

impl CloseFrame {
    /// Parses a received close payload. An empty payload is a close without a code (`None`).
    ///
    /// Fails with 1002 on a 1-byte payload or a code that may not be sent, and with 1007 on a
    /// reason that is not UTF-8.
    pub fn parse(payload: &[u8]) -> Result<Option<Self>, ProtocolError> {
        let (code, reason) = match payload {
            [] => return Ok(None),
            [_] => return Err(ProtocolError::CloseFrameTooShort),
            [hi, lo, reason @ ..] => (CloseCode(u16::from_be_bytes([*hi, *lo])), reason),
        };
        if !code.is_sendable() {
            return Err(ProtocolError::InvalidCloseCode(code.0));
        }
        let reason = core::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
        Ok(Some(Self {
            code,
            reason: reason.into(),
        }))
    }

    /// The close payload: the code, then the reason cut to [`MAX_CLOSE_REASON_LEN`] bytes at a
    /// character boundary.
    pub fn payload(&self) -> Vec<u8> {
        let reason = truncate_utf8(&self.reason, MAX_CLOSE_REASON_LEN);
        let mut out = Vec::with_capacity(2 + reason.len());
        out.extend_from_slice(&self.code.0.to_be_bytes());
        out.extend_from_slice(reason.as_bytes());
        out
    }
}

/// The longest prefix of `s` that has at most `max` bytes and ends on a character boundary.
pub(crate) fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Ok(Some((code, reason)))`, `Ok(None)` for no code, or the error.
    type Expected = Result<Option<(u16, &'static str)>, ProtocolError>;

    #[test]
    fn parse_table() {
        // (name, payload, expected)
        let table: &[(&str, &[u8], Expected)] = &[
            ("empty", b"", Ok(None)),
            ("one byte", b"\x03", Err(ProtocolError::CloseFrameTooShort)),
            ("normal", b"\x03\xe8", Ok(Some((1000, "")))),
            (
                "normal with reason",
                b"\x03\xe8bye",
                Ok(Some((1000, "bye"))),
            ),
            ("1014 is registered", b"\x03\xf6", Ok(Some((1014, "")))),
            ("application 4999", b"\x13\x87", Ok(Some((4999, "")))),
            (
                "999",
                b"\x03\xe7",
                Err(ProtocolError::InvalidCloseCode(999)),
            ),
            (
                "1004 reserved",
                b"\x03\xec",
                Err(ProtocolError::InvalidCloseCode(1004)),
            ),
            (
                "1005 local only",
                b"\x03\xed",
                Err(ProtocolError::InvalidCloseCode(1005)),
            ),
            (
                "1006 local only",
                b"\x03\xee",
                Err(ProtocolError::InvalidCloseCode(1006)),
            ),
            (
                "1015 local only",
                b"\x03\xf7",
                Err(ProtocolError::InvalidCloseCode(1015)),
            ),
            (
                "1016 unassigned",
                b"\x03\xf8",
                Err(ProtocolError::InvalidCloseCode(1016)),
            ),
            (
                "2999",
                b"\x0b\xb7",
                Err(ProtocolError::InvalidCloseCode(2999)),
            ),
            (
                "5000",
                b"\x13\x88",
                Err(ProtocolError::InvalidCloseCode(5000)),
            ),
            (
                "invalid utf-8 reason",
                b"\x03\xe8\xff",
                Err(ProtocolError::InvalidUtf8),
            ),
        ];
        for (name, payload, expected) in table {
            let got = CloseFrame::parse(payload).map(|c| c.map(|c| (c.code.0, c.reason)));
            let expected = expected
                .clone()
                .map(|c| c.map(|(code, r)| (code, r.into())));
            assert_eq!(got, expected, "row {name:?}");
        }
    }

    #[test]
    fn payload_truncates_reason_at_a_char_boundary() {
        let reason: String = core::iter::repeat_n('é', 100).collect(); // 200 bytes
        let frame = CloseFrame {
            code: CloseCode::NORMAL,
            reason,
        };
        let payload = frame.payload();
        assert_eq!(payload.len(), 2 + 122);
        assert!(core::str::from_utf8(&payload[2..]).is_ok());
    }
}
