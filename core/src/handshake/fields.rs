//! Header fields as text: showing untrusted values inside reasons (escaped, bounded), and
//! checking the header fields a caller asks us to write (no header injection).

use alloc::string::{String, ToString};
use core::fmt::{self, Write as _};

/// How many bytes of an untrusted value a reason shows; longer values are cut with `…`, so a
/// hostile 16 KiB header cannot make a 16 KiB error message.
const MAX_SHOWN_BYTES: usize = 64;

/// Shows untrusted bytes as a double-quoted string for a human: printable text as is, `"` and
/// `\` escaped, control characters and bytes that are not UTF-8 as `\xNN`, cut after
/// [`MAX_SHOWN_BYTES`] with `…`.
pub(crate) fn quoted(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len().min(MAX_SHOWN_BYTES) + 8);
    out.push('"');
    let (shown, cut) = match value.get(..MAX_SHOWN_BYTES) {
        Some(head) if head.len() < value.len() => (head, true),
        _ => (value, false),
    };
    for chunk in shown.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => {
                    let _ = write!(out, "\\x{:02X}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02X}");
        }
    }
    if cut {
        out.push('…');
    }
    out.push('"');
    out
}

/// A header field the caller asked us to write that would corrupt or hijack the HTTP head:
/// a name that is not an RFC 9110 token, a value with CR, LF or another control character,
/// or a header that the handshake itself owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidHeader {
    name: String,
    problem: &'static str,
}

impl InvalidHeader {
    pub(crate) fn new(name: &str, problem: &'static str) -> Self {
        InvalidHeader {
            name: quoted(name.as_bytes()),
            problem,
        }
    }

    /// What was wrong, e.g. `value contains CR or LF`.
    pub fn problem(&self) -> &str {
        self.problem
    }
}

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "header {}: {}", self.name, self.problem)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for InvalidHeader {}

/// Whether `byte` is an RFC 9110 §5.6.2 `tchar` (the characters of a token).
pub(crate) fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Whether `text` is a non-empty RFC 9110 token.
pub(crate) fn is_token(text: &[u8]) -> bool {
    !text.is_empty() && text.iter().all(|&b| is_tchar(b))
}

/// Checks a header field before it is written: the name must be a token, the value must have
/// no control characters other than HTAB (CR and LF would end the header or the head), and the
/// name must not be one of `reserved` (headers the handshake writes itself).
pub(crate) fn check_header(
    name: &str,
    value: &str,
    reserved: &[&str],
) -> Result<(), InvalidHeader> {
    if !is_token(name.as_bytes()) {
        return Err(InvalidHeader::new(name, "name is not an HTTP token"));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err(InvalidHeader::new(name, "value contains CR or LF"));
    }
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7F) {
        return Err(InvalidHeader::new(
            name,
            "value contains a control character",
        ));
    }
    if reserved.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(InvalidHeader::new(
            name,
            "is written by the handshake itself and cannot be set here",
        ));
    }
    Ok(())
}

/// Appends `Name: value\r\n` to an HTTP head being built.
pub(crate) fn push_header(out: &mut alloc::vec::Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends a decimal number (status codes, lengths) without going through `format!`.
pub(crate) fn push_decimal(out: &mut alloc::vec::Vec<u8>, n: usize) {
    out.extend_from_slice(n.to_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_table() {
        let long = [b'a'; 100];
        let rows: &[(&str, &[u8], &str)] = &[
            ("plain", b"keep-alive", "\"keep-alive\""),
            ("empty", b"", "\"\""),
            ("quotes escaped", b"\"upgrade\"", "\"\\\"upgrade\\\"\""),
            ("backslash escaped", b"a\\b", "\"a\\\\b\""),
            ("not utf-8", b"up\xFFgrade", "\"up\\xFFgrade\""),
            ("control chars", b"a\r\n\x00", "\"a\\x0D\\x0A\\x00\""),
            ("utf-8 kept", "héllo".as_bytes(), "\"héllo\""),
        ];
        for (name, input, expected) in rows {
            assert_eq!(quoted(input), *expected, "row {name}");
        }
        let shown = quoted(&long);
        assert!(shown.ends_with("…\""), "long value is cut: {shown}");
        assert_eq!(shown.matches('a').count(), MAX_SHOWN_BYTES);
    }

    #[test]
    fn check_header_table() {
        let reserved = ["Upgrade"];
        let rows: &[(&str, &str, &str, Option<&str>)] = &[
            ("ordinary", "X-Request-Id", "42", None),
            ("tab in value is fine", "Name", "a\tb", None),
            (
                "CRLF injection",
                "Name",
                "x\r\nSet-Cookie: a=b",
                Some("CR or LF"),
            ),
            ("bare LF", "Name", "x\nY: z", Some("CR or LF")),
            ("NUL", "Name", "x\0", Some("control character")),
            ("colon in name", "Na:me", "x", Some("not an HTTP token")),
            ("space in name", "Na me", "x", Some("not an HTTP token")),
            ("empty name", "", "x", Some("not an HTTP token")),
            (
                "reserved, any case",
                "upgrade",
                "h2c",
                Some("written by the handshake"),
            ),
        ];
        for (row, name, value, expected) in rows {
            let got = check_header(name, value, &reserved);
            match (got, expected) {
                (Ok(()), None) => {}
                (Err(e), Some(want)) => {
                    assert!(e.to_string().contains(want), "row {row}: {e}")
                }
                (got, want) => panic!("row {row}: got {got:?}, want {want:?}"),
            }
        }
    }
}
