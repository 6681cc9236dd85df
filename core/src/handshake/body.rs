//! The length of a plain HTTP request's body (a backend's `POST`), for servers that read one
//! next to their WebSocket endpoints. Only `Content-Length` bodies are read: each server
//! answers one request per connection and closes, so chunked uploads would buy nothing but
//! a second framing to get wrong (and a request-smuggling surface).

use alloc::format;

use super::fields::quoted;
use super::reject::Rejection;
use super::server::Request;

/// How many bytes of body follow `request`'s head, from its `Content-Length`, if that is at
/// most `limit`. Refusals, each with a reason that names the header and the value:
///
/// - `411 Length Required`: no `Content-Length`, or a `Transfer-Encoding` (chunked bodies are
///   not read; send the length);
/// - `400 Bad Request`: a `Content-Length` that is not a decimal number, several that differ
///   (RFC 9110 §8.6 allows repeats of one value only), or both `Content-Length` and
///   `Transfer-Encoding` (RFC 9112 §6.1: a server may refuse them, and should, as the pair is
///   how requests are smuggled past proxies);
/// - `413 Content Too Large`: more than `limit` bytes.
pub fn request_body_length(request: &Request, limit: usize) -> Result<usize, Rejection> {
    let has_transfer_encoding = request.header("Transfer-Encoding").is_some();
    let mut length: Option<usize> = None;
    let mut too_large = false;
    for line in request.header_values("Content-Length") {
        // `Content-Length: 5, 5` is one value repeated, as a proxy may merge lines.
        for element in line.split(|&b| b == b',') {
            let element = element.trim_ascii();
            let Some(value) = parse_decimal(element) else {
                return Err(Rejection::new(
                    400,
                    format!(
                        "Content-Length header {} is not a decimal number of bytes",
                        quoted(line)
                    ),
                ));
            };
            // A number too large for usize is larger than any limit.
            let value = value.unwrap_or(usize::MAX);
            too_large |= value == usize::MAX;
            match length {
                Some(seen) if seen != value => {
                    return Err(Rejection::new(
                        400,
                        "the request has several Content-Length values that differ",
                    ))
                }
                _ => length = Some(value),
            }
        }
    }
    match (length, has_transfer_encoding) {
        (Some(_), true) => Err(Rejection::new(
            400,
            "the request has both Content-Length and Transfer-Encoding; send only Content-Length",
        )),
        (None, true) => Err(Rejection::new(
            411,
            "Transfer-Encoding bodies (chunked) are not read here; send the body with a \
             Content-Length header",
        )),
        (None, false) => Err(Rejection::new(
            411,
            "Content-Length header is missing: this endpoint reads the request body; send its \
             length",
        )),
        (Some(length), false) if too_large || length > limit => {
            Err(Rejection::new(
                413,
                if too_large {
                    format!("the request body is larger than the limit of {limit} bytes")
                } else {
                    format!("the request body of {length} bytes is larger than the limit of {limit} bytes")
                },
            ))
        }
        (Some(length), false) => Ok(length),
    }
}

/// `Some(Some(n))` for a decimal number, `Some(None)` for one that overflows `usize`, `None`
/// for anything else (empty, signs, spaces inside, other characters).
fn parse_decimal(text: &[u8]) -> Option<Option<usize>> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: Option<usize> = Some(0);
    for &digit in text {
        value = value
            .and_then(|v| v.checked_mul(10))
            .and_then(|v| v.checked_add(usize::from(digit - b'0')));
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{HandshakeLimits, Parsed, RequestParser};

    fn post(headers: &str) -> Request {
        let head = format!("POST /publish HTTP/1.1\r\nHost: h\r\n{headers}\r\n");
        match RequestParser::new(HandshakeLimits::default()).feed(head.as_bytes()) {
            Ok(Parsed::Complete { head, .. }) => head,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lengths_and_refusals() {
        // (row name, header lines, the length or the refusal's status and words)
        type Row<'a> = (&'a str, &'a str, Result<usize, (u16, &'a str)>);
        let rows: &[Row] = &[
            ("plain", "Content-Length: 5\r\n", Ok(5)),
            ("zero", "Content-Length: 0\r\n", Ok(0)),
            ("at the limit", "Content-Length: 100\r\n", Ok(100)),
            ("spaces around", "Content-Length:  7 \r\n", Ok(7)),
            ("repeated value", "Content-Length: 5, 5\r\n", Ok(5)),
            (
                "repeated line",
                "Content-Length: 5\r\nContent-Length: 5\r\n",
                Ok(5),
            ),
            (
                "missing",
                "",
                Err((411, "Content-Length header is missing")),
            ),
            (
                "chunked",
                "Transfer-Encoding: chunked\r\n",
                Err((411, "Transfer-Encoding bodies")),
            ),
            (
                "both",
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                Err((400, "both Content-Length and Transfer-Encoding")),
            ),
            ("over", "Content-Length: 101\r\n", Err((413, "101 bytes"))),
            (
                "overflow",
                "Content-Length: 99999999999999999999999999\r\n",
                Err((413, "limit of 100")),
            ),
            ("negative", "Content-Length: -1\r\n", Err((400, "\"-1\""))),
            (
                "plus",
                "Content-Length: +1\r\n",
                Err((400, "not a decimal")),
            ),
            (
                "hex",
                "Content-Length: 0x10\r\n",
                Err((400, "not a decimal")),
            ),
            ("empty", "Content-Length: \r\n", Err((400, "not a decimal"))),
            (
                "empty element",
                "Content-Length: 5,\r\n",
                Err((400, "not a decimal")),
            ),
            (
                "differ",
                "Content-Length: 5\r\nContent-Length: 6\r\n",
                Err((400, "differ")),
            ),
        ];
        for (name, headers, expected) in rows {
            let got = request_body_length(&post(headers), 100);
            match (got, expected) {
                (Ok(len), Ok(want)) => assert_eq!(len, *want, "row {name}"),
                (Err(rejection), Err((status, text))) => {
                    assert_eq!(rejection.status(), *status, "row {name}: {rejection}");
                    assert!(rejection.reason().contains(text), "row {name}: {rejection}");
                }
                (got, _) => panic!("row {name}: {got:?}"),
            }
        }
    }
}
