//! Plain HTTP answers for [`Route::Respond`]: a status
//! page, `/ping`, the test page. Errors (404, 405) are the core's
//! [`Rejection`]s; this builds the successful ones.

use sockwright::handshake::{reason_phrase, Rejection, Request};
use sockwright_driver::Route;

/// `text/plain; charset=utf-8`.
pub const TEXT: &str = "text/plain; charset=utf-8";
/// `text/html; charset=utf-8`.
pub const HTML: &str = "text/html; charset=utf-8";

/// A complete `HTTP/1.1` response with `status`, `content_type` and `body`, which closes
/// the connection (`Connection: close`) and is not cached. With `head_only` (a `HEAD`
/// request) the body is left out and `Content-Length` still gives its length.
///
/// The status must be a known one ([`reason_phrase`]); others are sent as `500`.
pub fn response(status: u16, content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let (status, phrase) = match reason_phrase(status) {
        Some(phrase) => (status, phrase),
        None => (500, "Internal Server Error"),
    };
    let mut out = format!(
        "HTTP/1.1 {status} {phrase}\r\n\
         Content-Type: {content_type}\r\n\
         Content-Length: {}\r\n\
         Cache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// Serves a page: `200` with `body` for `GET`, the same head without it for `HEAD`, and
/// `405 Method Not Allowed` (with `Allow: GET, HEAD`) for other methods.
pub fn page(request: &Request, content_type: &str, body: &[u8]) -> Route {
    match request.method() {
        "GET" => Route::Respond(response(200, content_type, body, false)),
        "HEAD" => Route::Respond(response(200, content_type, body, true)),
        method => {
            let reason = format!("method {method} is not allowed here; use GET");
            let rejection = Rejection::new(405, reason);
            // A constant, valid header: `with_header` cannot refuse it.
            Route::Reject(
                rejection
                    .clone()
                    .with_header("Allow", "GET, HEAD")
                    .unwrap_or(rejection),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_response_with_and_without_body() {
        let full = String::from_utf8(response(200, TEXT, b"pong\n", false)).unwrap();
        assert!(full.starts_with("HTTP/1.1 200 OK\r\n"), "{full}");
        assert!(full.contains("\r\nContent-Length: 5\r\n"), "{full}");
        assert!(full.ends_with("\r\n\r\npong\n"), "{full}");
        let head = String::from_utf8(response(200, TEXT, b"pong\n", true)).unwrap();
        assert!(head.ends_with("\r\n\r\n"), "{head}");
        assert!(head.contains("\r\nContent-Length: 5\r\n"), "{head}");
    }

    #[test]
    fn unknown_status_becomes_500() {
        let out = String::from_utf8(response(299, TEXT, b"", false)).unwrap();
        assert!(
            out.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
            "{out}"
        );
    }
}
