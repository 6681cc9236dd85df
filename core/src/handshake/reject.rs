//! Rejections: the HTTP error response a server sends instead of `101 Switching Protocols`.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use super::fields::{check_header, push_decimal, push_header, quoted, InvalidHeader};

/// Why a handshake request was refused: an HTTP status (4xx/5xx), a reason for a human, and
/// any headers the status calls for (e.g. `Allow: GET` with 405). [`Rejection::response`]
/// turns it into the bytes to send before closing the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
}

/// Headers that [`Rejection::response`] writes itself.
const REJECTION_RESERVED: &[&str] = &["Content-Type", "Content-Length", "Connection"];

impl Rejection {
    /// A rejection with `status` and `reason` (the response body).
    ///
    /// A status outside 400..=599 is stored as 500: a rejection must never read as success,
    /// and a status line holds exactly three digits.
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        let status = if (400..=599).contains(&status) {
            status
        } else {
            500
        };
        Rejection {
            status,
            reason: reason.into(),
            headers: Vec::new(),
        }
    }

    /// `404 Not Found` for a path the caller's router does not serve.
    pub fn not_found(path: &str) -> Self {
        Rejection::new(
            404,
            alloc::format!("no WebSocket endpoint at {}", quoted(path.as_bytes())),
        )
    }

    /// Adds a header to the response, e.g. `Retry-After`. Refuses names that are not tokens,
    /// values with control characters (no header injection) and the headers the response
    /// writes itself.
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, InvalidHeader> {
        check_header(name, value, REJECTION_RESERVED)?;
        self.headers.push((name.to_string(), value.to_string()));
        Ok(self)
    }

    /// Adds a header known to be valid (our own constants).
    pub(crate) fn with_fixed_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The HTTP status code, 400..=599.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Why, for a human: names the header and the value at fault.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The extra headers of the response, as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The full HTTP/1.1 response: status line with the standard reason phrase,
    /// `Content-Type: text/plain; charset=utf-8`, `Content-Length`, `Connection: close`, the
    /// extra headers, and the reason plus `\n` as the body.
    pub fn response(&self) -> Vec<u8> {
        let body_len = self.reason.len() + 1;
        let mut out = Vec::with_capacity(160 + body_len);
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(&mut out, usize::from(self.status));
        out.push(b' ');
        out.extend_from_slice(reason_phrase(self.status).unwrap_or("").as_bytes());
        out.extend_from_slice(b"\r\n");
        push_header(&mut out, "Content-Type", "text/plain; charset=utf-8");
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(&mut out, body_len);
        out.extend_from_slice(b"\r\n");
        push_header(&mut out, "Connection", "close");
        for (name, value) in &self.headers {
            push_header(&mut out, name, value);
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(self.reason.as_bytes());
        out.push(b'\n');
        out
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status,
            reason_phrase(self.status).unwrap_or(""),
            self.reason
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Rejection {}

/// The standard reason phrase of the status codes a WebSocket handshake meets (RFC 9110 §15,
/// RFC 6585 for 431), or `None` for others.
pub fn reason_phrase(status: u16) -> Option<&'static str> {
    Some(match status {
        101 => "Switching Protocols",
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_bytes() {
        let r = Rejection::new(405, "method POST is not allowed").with_fixed_header("Allow", "GET");
        let expected = "HTTP/1.1 405 Method Not Allowed\r\n\
            Content-Type: text/plain; charset=utf-8\r\n\
            Content-Length: 27\r\n\
            Connection: close\r\n\
            Allow: GET\r\n\
            \r\n\
            method POST is not allowed\n";
        assert_eq!(String::from_utf8_lossy(&r.response()), expected);
    }

    #[test]
    fn status_table() {
        let rows: &[(&str, u16, u16, &str)] = &[
            ("client error kept", 403, 403, "HTTP/1.1 403 Forbidden\r\n"),
            (
                "431",
                431,
                431,
                "HTTP/1.1 431 Request Header Fields Too Large\r\n",
            ),
            ("unknown 4xx, empty phrase", 499, 499, "HTTP/1.1 499 \r\n"),
            (
                "success refused",
                200,
                500,
                "HTTP/1.1 500 Internal Server Error\r\n",
            ),
            (
                "101 refused",
                101,
                500,
                "HTTP/1.1 500 Internal Server Error\r\n",
            ),
            (
                "four digits refused",
                4040,
                500,
                "HTTP/1.1 500 Internal Server Error\r\n",
            ),
        ];
        for (name, status, stored, line) in rows {
            let r = Rejection::new(*status, "x");
            assert_eq!(r.status(), *stored, "row {name}");
            assert!(r.response().starts_with(line.as_bytes()), "row {name}");
        }
    }

    #[test]
    fn not_found_names_the_path() {
        let r = Rejection::not_found("/nope\r\nX: y");
        assert_eq!(r.status(), 404);
        assert_eq!(
            r.reason(),
            "no WebSocket endpoint at \"/nope\\x0D\\x0AX: y\""
        );
    }

    #[test]
    fn with_header_refuses_injection() {
        assert!(Rejection::new(503, "busy")
            .with_header("Retry-After", "5")
            .is_ok());
        assert!(Rejection::new(503, "busy")
            .with_header("Retry-After", "5\r\nX: y")
            .is_err());
        assert!(Rejection::new(503, "busy")
            .with_header("Content-Length", "0")
            .is_err());
    }
}
