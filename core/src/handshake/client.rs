//! Client side: build the upgrade request, then check the server's `101` response per
//! RFC 6455 §4.1 (status, `Upgrade`, `Connection`, `Sec-WebSocket-Accept`, subprotocol,
//! extensions).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use super::accept_key::{accept_key, encode_key};
use super::fields::{check_header, is_token, push_header, quoted, InvalidHeader};
use super::head::{
    HandshakeLimits, Head, HeadError, HeadParser, HeadStatus, HeaderValues, StatusLine,
};
use super::tokens::{list_contains, list_elements, TokenListError, TokenMode};
use super::Parsed;

/// Headers [`ClientRequest::to_bytes`] writes itself (or that would give a GET a body).
const REQUEST_RESERVED: &[&str] = &[
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Content-Length",
    "Transfer-Encoding",
];

/// A client's upgrade request. Every part is checked when set, so [`ClientRequest::to_bytes`]
/// cannot emit a broken or injected header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRequest {
    host: String,
    target: String,
    key: String,
    subprotocols: Vec<String>,
    headers: Vec<(String, String)>,
}

impl ClientRequest {
    /// A request for `target` (path and query, e.g. `/im?user_id=7`) on `host` (the `Host`
    /// header: include `:port` when it is not the scheme's default, e.g. `example.com:8080`).
    /// `key` must be 16 fresh random bytes per connection (RFC 6455 §4.1); the caller supplies
    /// them because the core has no source of randomness.
    ///
    /// Refuses a host that is empty or holds whitespace, control characters, non-ASCII or any
    /// of `/?#@`, and a target that does not start with `/` or holds anything but visible ASCII
    /// (percent-encode it first).
    pub fn new(host: &str, target: &str, key: [u8; 16]) -> Result<Self, InvalidHeader> {
        let visible = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
        if host.is_empty() || !visible(host) || host.contains(['/', '?', '#', '@']) {
            return Err(InvalidHeader::new("Host", "value is not a host[:port]"));
        }
        if !target.starts_with('/') || !visible(target) {
            return Err(InvalidHeader::new(
                "request-target",
                "must start with '/' and hold only visible ASCII (percent-encode the rest)",
            ));
        }
        Ok(ClientRequest {
            host: host.to_string(),
            target: target.to_string(),
            key: encode_key(&key),
            subprotocols: Vec::new(),
            headers: Vec::new(),
        })
    }

    /// Offers a subprotocol (sent in `Sec-WebSocket-Protocol`, in the order added). It must be
    /// an HTTP token (RFC 6455 §4.1).
    pub fn with_subprotocol(mut self, protocol: &str) -> Result<Self, InvalidHeader> {
        if !is_token(protocol.as_bytes()) {
            return Err(InvalidHeader::new(
                "Sec-WebSocket-Protocol",
                "a subprotocol must be a token",
            ));
        }
        self.subprotocols.push(protocol.to_string());
        Ok(self)
    }

    /// Adds a header, e.g. `Origin`, `Name`, `Topic`, `Authorization`. Refuses names that are
    /// not tokens, values with CR/LF or other control characters, and the headers the handshake
    /// writes itself.
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, InvalidHeader> {
        check_header(name, value, REQUEST_RESERVED)?;
        self.headers.push((name.to_string(), value.to_string()));
        Ok(self)
    }

    /// The `Host` header value.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The request-target.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The `Sec-WebSocket-Key` header value (base64 of the 16 key bytes).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The subprotocols offered, in order.
    pub fn subprotocols(&self) -> &[String] {
        &self.subprotocols
    }

    /// The request head to send.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(200);
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        push_header(&mut out, "Host", &self.host);
        push_header(&mut out, "Upgrade", "websocket");
        push_header(&mut out, "Connection", "Upgrade");
        push_header(&mut out, "Sec-WebSocket-Key", &self.key);
        push_header(&mut out, "Sec-WebSocket-Version", "13");
        if !self.subprotocols.is_empty() {
            push_header(
                &mut out,
                "Sec-WebSocket-Protocol",
                &self.subprotocols.join(", "),
            );
        }
        for (name, value) in &self.headers {
            push_header(&mut out, name, value);
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// The `Sec-WebSocket-Accept` value a genuine server answers with.
    pub fn expected_accept(&self) -> String {
        accept_key(self.key.as_bytes())
    }
}

/// Why the server's handshake response was refused (or could not be read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientHandshakeError {
    /// The response head did not end within `max_head_bytes`.
    HeadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The response has more than `max_headers` header lines.
    TooManyHeaders {
        /// The limit, in header lines.
        limit: usize,
    },
    /// The response is not valid HTTP/1.1.
    Malformed {
        /// httparse's error.
        detail: String,
    },
    /// The status is not `101 Switching Protocols`: the server refused the upgrade.
    Status {
        /// The status code.
        code: u16,
        /// The reason phrase as sent.
        reason: String,
    },
    /// A header that must hold a token (`Upgrade: websocket`, `Connection: upgrade`) is
    /// missing or does not hold it.
    MissingToken {
        /// The header name.
        header: &'static str,
        /// The token required.
        token: &'static str,
        /// The header lines as sent, quoted, or `None` when absent.
        got: Option<String>,
    },
    /// A header list could not be read (or has quotes in strict mode).
    TokenList {
        /// The header name.
        header: &'static str,
        /// The header lines as sent, quoted.
        value: String,
        /// What was wrong.
        error: TokenListError,
    },
    /// `Sec-WebSocket-Accept` is missing or does not match our key: not a WebSocket server,
    /// or a cache or proxy answering for another request.
    WrongAccept {
        /// What our key implies.
        expected: String,
        /// What the server sent, quoted, or `None` when absent.
        got: Option<String>,
    },
    /// The server chose a subprotocol the client did not offer, or more than one.
    UnofferedSubprotocol {
        /// The `Sec-WebSocket-Protocol` value, quoted.
        got: String,
    },
    /// The server enabled an extension; this client offers none.
    UnofferedExtension {
        /// The `Sec-WebSocket-Extensions` value, quoted.
        got: String,
    },
    /// [`ResponseParser::feed`] was called after it returned `Complete` (caller bug).
    AlreadyComplete,
}

impl fmt::Display for ClientHandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ClientHandshakeError::*;
        match self {
            HeadTooLarge { limit } => {
                write!(
                    f,
                    "response head is larger than the limit of {limit} bytes (max_head_bytes)"
                )
            }
            TooManyHeaders { limit } => {
                write!(
                    f,
                    "response has more than the limit of {limit} header lines (max_headers)"
                )
            }
            Malformed { detail } => write!(f, "malformed HTTP response: {detail}"),
            Status { code, reason } => write!(
                f,
                "server answered {code} {} instead of 101 Switching Protocols",
                quoted(reason.as_bytes())
            ),
            MissingToken {
                header,
                token,
                got: None,
            } => {
                write!(f, "{header} header is missing; expected \"{token}\"")
            }
            MissingToken {
                header,
                token,
                got: Some(got),
            } => {
                write!(f, "{header} header {got} has no \"{token}\" token")
            }
            TokenList {
                header,
                value,
                error,
            } => {
                write!(f, "{header} header {value}: {error}; {}", error.advice())
            }
            WrongAccept {
                expected,
                got: None,
            } => {
                write!(
                    f,
                    "Sec-WebSocket-Accept header is missing; expected \"{expected}\""
                )
            }
            WrongAccept {
                expected,
                got: Some(got),
            } => {
                write!(
                    f,
                    "Sec-WebSocket-Accept header is {got}, expected \"{expected}\""
                )
            }
            UnofferedSubprotocol { got } => {
                write!(
                    f,
                    "server chose subprotocol {got}, which the client did not offer"
                )
            }
            UnofferedExtension { got } => {
                write!(
                    f,
                    "server enabled extension {got}, which the client did not offer"
                )
            }
            AlreadyComplete => {
                f.write_str("ResponseParser::feed was called after the response head was complete")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ClientHandshakeError {}

/// Reads the server's response head incrementally (same engine and limits as
/// [`RequestParser`](super::RequestParser)). The bytes after the head are the server's first
/// frames: they come back in [`Parsed::Complete`].
#[derive(Clone, Debug)]
pub struct ResponseParser {
    head: HeadParser<StatusLine>,
}

impl ResponseParser {
    /// A parser that enforces `limits`.
    pub fn new(limits: HandshakeLimits) -> Self {
        ResponseParser {
            head: HeadParser::new(limits),
        }
    }

    /// Takes the next bytes from the connection. Errors are sticky.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Parsed<Response>, ClientHandshakeError> {
        match self.head.feed(bytes) {
            Ok(HeadStatus::Partial) => Ok(Parsed::Partial),
            Ok(HeadStatus::Complete { head, trailing }) => Ok(Parsed::Complete {
                head: Response { head },
                trailing,
            }),
            Err(HeadError::TooLarge { limit }) => Err(ClientHandshakeError::HeadTooLarge { limit }),
            Err(HeadError::TooManyHeaders { limit }) => {
                Err(ClientHandshakeError::TooManyHeaders { limit })
            }
            Err(HeadError::Malformed(detail)) => Err(ClientHandshakeError::Malformed { detail }),
            Err(HeadError::AlreadyComplete) => Err(ClientHandshakeError::AlreadyComplete),
        }
    }

    /// How many bytes the parser holds (never more than the `max_head_bytes` limit).
    pub fn buffered(&self) -> usize {
        self.head.buffered()
    }
}

/// A parsed handshake response (not yet validated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    head: Head<StatusLine>,
}

impl Response {
    /// The status code, e.g. 101.
    pub fn status(&self) -> u16 {
        self.head.line.code
    }

    /// The reason phrase as sent (empty if it was not UTF-8).
    pub fn reason(&self) -> &str {
        self.head.text(self.head.line.reason)
    }

    /// The HTTP minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub fn version(&self) -> u8 {
        self.head.minor_version
    }

    /// The value of the first `name` header line.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.head.header(name)
    }

    /// The values of every `name` header line, in order.
    pub fn header_values<'r, 'n>(&'r self, name: &'n str) -> HeaderValues<'r, 'n> {
        self.head.header_values(name)
    }

    /// Every header line as (name, value), in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.head.headers()
    }

    /// The head exactly as received.
    pub fn raw(&self) -> &[u8] {
        self.head.raw()
    }
}

/// A response that completes the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAccepted {
    subprotocol: Option<String>,
    response: Response,
}

impl ClientAccepted {
    /// The subprotocol the server chose, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The whole response, for its other headers (e.g. `Set-Cookie`).
    pub fn response(&self) -> &Response {
        &self.response
    }
}

/// Checks the server's response to `req` per RFC 6455 §4.1: status 101, `Upgrade` has
/// `websocket`, `Connection` has `upgrade`, `Sec-WebSocket-Accept` matches our key, the
/// subprotocol (if any) is one we offered, and no extension is enabled.
pub fn validate_response(
    resp: &Response,
    req: &ClientRequest,
    mode: TokenMode,
) -> Result<ClientAccepted, ClientHandshakeError> {
    if resp.status() != 101 {
        return Err(ClientHandshakeError::Status {
            code: resp.status(),
            reason: resp.reason().to_string(),
        });
    }
    require_token(resp, "Upgrade", "websocket", mode)?;
    require_token(resp, "Connection", "upgrade", mode)?;

    let expected = req.expected_accept();
    let mut accepts = resp.header_values("Sec-WebSocket-Accept");
    match (accepts.next(), accepts.next()) {
        (Some(got), None) if got == expected.as_bytes() => {}
        (None, _) => {
            return Err(ClientHandshakeError::WrongAccept {
                expected,
                got: None,
            })
        }
        _ => {
            let got = Some(shown_merged(resp, "Sec-WebSocket-Accept"));
            return Err(ClientHandshakeError::WrongAccept { expected, got });
        }
    }

    let subprotocol = chosen_subprotocol(resp, req, mode)?;
    for value in resp.header_values("Sec-WebSocket-Extensions") {
        if list_elements(value, mode).next().is_some() {
            let got = shown_merged(resp, "Sec-WebSocket-Extensions");
            return Err(ClientHandshakeError::UnofferedExtension { got });
        }
    }
    Ok(ClientAccepted {
        subprotocol,
        response: resp.clone(),
    })
}

fn shown_merged(resp: &Response, name: &str) -> String {
    let mut merged = Vec::new();
    for (i, value) in resp.header_values(name).enumerate() {
        if i > 0 {
            merged.extend_from_slice(b", ");
        }
        merged.extend_from_slice(value);
    }
    quoted(&merged)
}

fn require_token(
    resp: &Response,
    header: &'static str,
    token: &'static str,
    mode: TokenMode,
) -> Result<(), ClientHandshakeError> {
    match list_contains(resp.header_values(header), token, mode) {
        Ok(true) => Ok(()),
        Ok(false) => {
            let got = resp
                .header(header)
                .is_some()
                .then(|| shown_merged(resp, header));
            Err(ClientHandshakeError::MissingToken { header, token, got })
        }
        Err(error) => Err(ClientHandshakeError::TokenList {
            header,
            value: shown_merged(resp, header),
            error,
        }),
    }
}

/// The subprotocol in the response: absent, or exactly one element that we offered.
fn chosen_subprotocol(
    resp: &Response,
    req: &ClientRequest,
    mode: TokenMode,
) -> Result<Option<String>, ClientHandshakeError> {
    const HEADER: &str = "Sec-WebSocket-Protocol";
    let mut chosen = None;
    for value in resp.header_values(HEADER) {
        for element in list_elements(value, mode) {
            let element = element.map_err(|error| ClientHandshakeError::TokenList {
                header: HEADER,
                value: shown_merged(resp, HEADER),
                error,
            })?;
            let offered = req.subprotocols.iter().find(|p| p.as_bytes() == &*element);
            match (offered, &chosen) {
                (Some(p), None) => chosen = Some(p.clone()),
                _ => {
                    return Err(ClientHandshakeError::UnofferedSubprotocol {
                        got: shown_merged(resp, HEADER),
                    })
                }
            }
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 16] = *b"the sample nonce";

    #[test]
    fn request_bytes() {
        let req = ClientRequest::new("server.example.com", "/chat", KEY)
            .and_then(|r| r.with_subprotocol("chat"))
            .and_then(|r| r.with_subprotocol("superchat"))
            .and_then(|r| r.with_header("Origin", "http://example.com"))
            .expect("valid request");
        let expected = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
            Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
            Origin: http://example.com\r\n\r\n";
        assert_eq!(String::from_utf8_lossy(&req.to_bytes()), expected);
        assert_eq!(req.expected_accept(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn builder_refusals_table() {
        type Build = fn() -> Result<ClientRequest, InvalidHeader>;
        let rows: &[(&str, Build, &str)] = &[
            ("empty host", || ClientRequest::new("", "/", KEY), "host"),
            (
                "host with CRLF",
                || ClientRequest::new("a\r\nX: y", "/", KEY),
                "host",
            ),
            (
                "host with path",
                || ClientRequest::new("a/b", "/", KEY),
                "host",
            ),
            (
                "target without slash",
                || ClientRequest::new("a", "x", KEY),
                "start with '/'",
            ),
            (
                "target with space",
                || ClientRequest::new("a", "/a b", KEY),
                "visible ASCII",
            ),
            (
                "target with LF",
                || ClientRequest::new("a", "/a\nX: y", KEY),
                "visible ASCII",
            ),
            (
                "target non-ASCII",
                || ClientRequest::new("a", "/é", KEY),
                "visible ASCII",
            ),
            (
                "header injection",
                || ClientRequest::new("a", "/", KEY)?.with_header("Name", "bob\r\nX: y"),
                "CR or LF",
            ),
            (
                "reserved header",
                || ClientRequest::new("a", "/", KEY)?.with_header("sec-websocket-key", "x"),
                "written by the handshake",
            ),
            (
                "subprotocol not a token",
                || ClientRequest::new("a", "/", KEY)?.with_subprotocol("a b"),
                "token",
            ),
        ];
        for (name, build, needle) in rows {
            match build() {
                Err(e) => assert!(e.to_string().contains(needle), "row {name}: {e}"),
                Ok(r) => panic!("row {name}: built {r:?}"),
            }
        }
    }
}
