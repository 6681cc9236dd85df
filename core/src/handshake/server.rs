//! Server side: read the upgrade request, check it against RFC 6455 §4.2.1, then answer with
//! `101 Switching Protocols` ([`Accepted`]) or an HTTP error ([`Rejection`]).

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::accept_key::{accept_key, is_valid_key};
use super::fields::{check_header, push_header, quoted, InvalidHeader};
use super::head::{
    HandshakeLimits, Head, HeadError, HeadParser, HeadStatus, HeaderValues, RequestLine,
};
use super::reject::Rejection;
use super::tokens::{list_contains, list_elements, TokenListError, TokenMode};
use super::Parsed;

/// How a server judges upgrade requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerConfig {
    /// Limits on the request head.
    pub limits: HandshakeLimits,
    /// Whether quoted elements such as `Connection: "upgrade"` are accepted.
    pub token_mode: TokenMode,
    /// Subprotocols the server speaks, most preferred first. The first one the client also
    /// offers is chosen; none in common means no `Sec-WebSocket-Protocol` in the response.
    pub subprotocols: Vec<String>,
    /// Which `Origin`s may connect.
    pub origin: OriginPolicy,
}

/// Which `Origin` header values a server accepts.
///
/// A request without `Origin` is always accepted: browsers always send it on a WebSocket
/// handshake, and non-browser clients (CLIs, backends, mobile apps) usually send none, so its
/// absence says "not a browser page" and the policy, which exists to stop other sites' pages
/// from connecting with the user's cookies, does not apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OriginPolicy {
    /// Accept every origin.
    #[default]
    Any,
    /// Accept only these origins (e.g. `https://example.com`), compared ASCII-case-insensitively;
    /// any other gets 403.
    AllowList(Vec<String>),
}

/// Reads an upgrade request head incrementally.
///
/// Feed it bytes as they arrive; it returns [`Parsed::Partial`] until the head is complete,
/// then [`Parsed::Complete`] with the bytes that followed the head (often the client's first
/// frames), exactly once. Errors are [`Rejection`]s (400 malformed, 431 over a limit) and are
/// sticky; feeding after `Complete` is a caller bug answered with a 500 rejection.
#[derive(Clone, Debug)]
pub struct RequestParser {
    head: HeadParser<RequestLine>,
}

impl RequestParser {
    /// A parser that enforces `limits` (see [`ServerConfig::limits`]).
    pub fn new(limits: HandshakeLimits) -> Self {
        RequestParser {
            head: HeadParser::new(limits),
        }
    }

    /// Takes the next bytes from the connection. Only the new bytes are scanned.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Parsed<Request>, Rejection> {
        match self.head.feed(bytes) {
            Ok(HeadStatus::Partial) => Ok(Parsed::Partial),
            Ok(HeadStatus::Complete { head, trailing }) => Ok(Parsed::Complete {
                head: Request { head },
                trailing,
            }),
            Err(error) => Err(head_rejection(error)),
        }
    }

    /// How many bytes the parser holds (never more than the `max_head_bytes` limit).
    pub fn buffered(&self) -> usize {
        self.head.buffered()
    }
}

fn head_rejection(error: HeadError) -> Rejection {
    match error {
        HeadError::TooLarge { limit } => Rejection::new(
            431,
            format!("request head is larger than the limit of {limit} bytes (max_head_bytes)"),
        ),
        HeadError::TooManyHeaders { limit } => Rejection::new(
            431,
            format!("request has more than the limit of {limit} header lines (max_headers)"),
        ),
        HeadError::Malformed(why) => Rejection::new(400, format!("malformed HTTP request: {why}")),
        HeadError::AlreadyComplete => Rejection::new(
            500,
            "RequestParser::feed was called after the request head was complete",
        ),
    }
}

/// A parsed upgrade request (not yet validated). Header names are matched
/// ASCII-case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    head: Head<RequestLine>,
}

impl Request {
    /// The method, e.g. `GET`.
    pub fn method(&self) -> &str {
        self.head.text(self.head.line.method)
    }

    /// The request-target as sent, e.g. `/im?user_id=7`.
    pub fn target(&self) -> &str {
        self.head.text(self.head.line.target)
    }

    /// The path: the request-target before any `?`.
    pub fn path(&self) -> &str {
        split_target(self.target()).0
    }

    /// The query: the request-target after the first `?`, if any.
    pub fn query(&self) -> Option<&str> {
        split_target(self.target()).1
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

/// Splits a request-target into path and query at the first `?`.
pub fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

/// A request that passed validation: what the `101` response needs, and what the caller
/// routes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    key: String,
    accept: String,
    subprotocol: Option<String>,
    target: String,
}

/// Headers the `101` response writes itself.
const ACCEPTED_RESERVED: &[&str] = &[
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Accept",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
];

impl Accepted {
    /// The client's `Sec-WebSocket-Key`, as sent.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The `Sec-WebSocket-Accept` value of the response.
    pub fn accept(&self) -> &str {
        &self.accept
    }

    /// The subprotocol chosen, if the client offered one the server speaks.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The request-target, e.g. `/im?user_id=7`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The path of the request-target (before `?`).
    pub fn path(&self) -> &str {
        split_target(&self.target).0
    }

    /// The query of the request-target (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        split_target(&self.target).1
    }

    /// The same acceptance with another subprotocol, for a relay that lets its upstream
    /// choose among what the client offered (the caller checks the client offered it).
    pub(crate) fn with_subprotocol(mut self, subprotocol: Option<String>) -> Self {
        self.subprotocol = subprotocol;
        self
    }

    /// The `101 Switching Protocols` response.
    pub fn response(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        self.write_head(&mut out);
        out.extend_from_slice(b"\r\n");
        out
    }

    /// The `101` response with extra headers (e.g. `Set-Cookie`). Refuses a name that is not a
    /// token, a value with control characters (no header injection), and the headers the
    /// handshake writes itself.
    pub fn response_with_headers(&self, extra: &[(&str, &str)]) -> Result<Vec<u8>, InvalidHeader> {
        for (name, value) in extra {
            check_header(name, value, ACCEPTED_RESERVED)?;
        }
        let mut out = Vec::with_capacity(160 + extra.len() * 32);
        self.write_head(&mut out);
        for (name, value) in extra {
            push_header(&mut out, name, value);
        }
        out.extend_from_slice(b"\r\n");
        Ok(out)
    }

    fn write_head(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
        push_header(out, "Upgrade", "websocket");
        push_header(out, "Connection", "Upgrade");
        push_header(out, "Sec-WebSocket-Accept", &self.accept);
        if let Some(protocol) = &self.subprotocol {
            push_header(out, "Sec-WebSocket-Protocol", protocol);
        }
    }
}

/// Checks an upgrade request per RFC 6455 §4.2.1, in this order, each failure one
/// [`Rejection`] naming the header and value: method `GET` (405), HTTP/1.1 (400), `Upgrade`
/// has `websocket` (400), `Connection` has `upgrade` (400), one `Host` (400),
/// `Sec-WebSocket-Version: 13` (426), one valid `Sec-WebSocket-Key` (400), the origin policy
/// (403). Then chooses a subprotocol (no match is not an error).
pub fn validate_request(req: &Request, cfg: &ServerConfig) -> Result<Accepted, Rejection> {
    let mode = cfg.token_mode;
    if req.method() != "GET" {
        return Err(Rejection::new(
            405,
            format!(
                "method {} is not allowed; a WebSocket handshake is a GET",
                quoted(req.method().as_bytes())
            ),
        )
        .with_fixed_header("Allow", "GET"));
    }
    if req.version() != 1 {
        return Err(Rejection::new(
            400,
            "HTTP/1.0 cannot upgrade to WebSocket; send HTTP/1.1",
        ));
    }
    require_token(req, "Upgrade", "websocket", mode)?;
    require_token(req, "Connection", "upgrade", mode)?;
    single_header(req, "Host")?;
    check_version(req)?;
    let key = single_header(req, "Sec-WebSocket-Key")?;
    if !is_valid_key(key) {
        return Err(Rejection::new(
            400,
            format!(
                "Sec-WebSocket-Key header {} is not base64 of 16 bytes",
                quoted(key)
            ),
        ));
    }
    check_origin(req, &cfg.origin)?;
    let subprotocol = choose_subprotocol(req, &cfg.subprotocols, mode)?;
    Ok(Accepted {
        // The key passed `is_valid_key`, so it is ASCII; `from_utf8_lossy` never replaces.
        key: String::from_utf8_lossy(key).into_owned(),
        accept: accept_key(key),
        subprotocol,
        target: req.target().to_string(),
    })
}

/// All lines of header `name`, joined with ", " and quoted for a reason.
fn shown_merged(req: &Request, name: &str) -> String {
    let mut merged = Vec::new();
    for (i, value) in req.header_values(name).enumerate() {
        if i > 0 {
            merged.extend_from_slice(b", ");
        }
        merged.extend_from_slice(value);
    }
    quoted(&merged)
}

fn token_list_rejection(req: &Request, name: &str, error: TokenListError) -> Rejection {
    Rejection::new(
        400,
        format!(
            "{name} header {}: {error}; {}",
            shown_merged(req, name),
            error.advice()
        ),
    )
}

fn require_token(req: &Request, name: &str, token: &str, mode: TokenMode) -> Result<(), Rejection> {
    match list_contains(req.header_values(name), token, mode) {
        Ok(true) => Ok(()),
        Err(error) => Err(token_list_rejection(req, name, error)),
        Ok(false) if req.header(name).is_none() => Err(Rejection::new(
            400,
            if name.eq_ignore_ascii_case("Upgrade") {
                "Upgrade header is missing: this path serves WebSocket connections only; \
                 connect with a WebSocket client (Upgrade: websocket)"
                    .to_string()
            } else {
                format!("{name} header is missing; a WebSocket handshake needs \"{name}: {token}\"")
            },
        )),
        Ok(false) => Err(Rejection::new(
            400,
            format!(
                "{name} header {} has no \"{token}\" token",
                shown_merged(req, name)
            ),
        )),
    }
}

/// The value of a header that must appear exactly once.
fn single_header<'r>(req: &'r Request, name: &str) -> Result<&'r [u8], Rejection> {
    let mut values = req.header_values(name);
    match (values.next(), values.next()) {
        (Some(value), None) => Ok(value),
        (None, _) => Err(Rejection::new(400, format!("{name} header is missing"))),
        (Some(_), Some(_)) => Err(Rejection::new(
            400,
            format!(
                "{name} header is sent more than once ({})",
                shown_merged(req, name)
            ),
        )),
    }
}

fn check_version(req: &Request) -> Result<(), Rejection> {
    let mut values = req.header_values("Sec-WebSocket-Version");
    let reason = match (values.next(), values.next()) {
        (Some(b"13"), None) => return Ok(()),
        (None, _) => {
            "Sec-WebSocket-Version header is missing; this server speaks version 13".to_string()
        }
        _ => format!(
            "Sec-WebSocket-Version header {} is not supported; this server speaks version 13",
            shown_merged(req, "Sec-WebSocket-Version")
        ),
    };
    Err(Rejection::new(426, reason).with_fixed_header("Sec-WebSocket-Version", "13"))
}

fn check_origin(req: &Request, policy: &OriginPolicy) -> Result<(), Rejection> {
    let OriginPolicy::AllowList(allowed) = policy else {
        return Ok(());
    };
    let mut values = req.header_values("Origin");
    match (values.next(), values.next()) {
        (None, _) => Ok(()), // not a browser: see OriginPolicy
        (Some(origin), None)
            if allowed
                .iter()
                .any(|a| a.as_bytes().eq_ignore_ascii_case(origin)) =>
        {
            Ok(())
        }
        (Some(origin), None) => Err(Rejection::new(
            403,
            format!("Origin header {} is not allowed to connect", quoted(origin)),
        )),
        (Some(_), Some(_)) => Err(Rejection::new(
            403,
            format!(
                "Origin header is sent more than once ({})",
                shown_merged(req, "Origin")
            ),
        )),
    }
}

/// The server's most preferred subprotocol that the client offers (exact, case-sensitive
/// match, as subprotocol names are).
fn choose_subprotocol(
    req: &Request,
    ours: &[String],
    mode: TokenMode,
) -> Result<Option<String>, Rejection> {
    const NAME: &str = "Sec-WebSocket-Protocol";
    let mut offered: Vec<Cow<'_, [u8]>> = Vec::new();
    for value in req.header_values(NAME) {
        for element in list_elements(value, mode) {
            offered.push(element.map_err(|e| token_list_rejection(req, NAME, e))?);
        }
    }
    let is_offered = |p: &str| offered.iter().any(|o| **o == *p.as_bytes());
    Ok(ours.iter().find(|p| is_offered(p)).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(bytes: &[u8]) -> Request {
        match RequestParser::new(HandshakeLimits::default()).feed(bytes) {
            Ok(Parsed::Complete { head, .. }) => head,
            other => panic!("not a complete request: {other:?}"),
        }
    }

    #[test]
    fn request_accessors() {
        let req = request(b"GET /im?user_id=7&x HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(req.method(), "GET");
        assert_eq!(req.target(), "/im?user_id=7&x");
        assert_eq!(req.path(), "/im");
        assert_eq!(req.query(), Some("user_id=7&x"));
        assert_eq!(req.version(), 1);
        assert_eq!(split_target("/a"), ("/a", None));
        assert_eq!(split_target("/a?"), ("/a", Some("")));
    }

    #[test]
    fn accepted_response_bytes() {
        let req = request(
            b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n",
        );
        let cfg = ServerConfig {
            subprotocols: ["superchat".into(), "chat".into()].into(),
            ..Default::default()
        };
        let accepted = validate_request(&req, &cfg).expect("RFC 6455 §1.3 example is valid");
        assert_eq!(
            accepted.subprotocol(),
            Some("superchat"),
            "server preference wins"
        );
        assert_eq!(accepted.path(), "/chat");
        let expected = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: superchat\r\n\r\n";
        assert_eq!(String::from_utf8_lossy(&accepted.response()), expected);

        let with = accepted
            .response_with_headers(&[("Set-Cookie", "a=b")])
            .expect("valid header");
        assert!(String::from_utf8_lossy(&with).ends_with("superchat\r\nSet-Cookie: a=b\r\n\r\n"));
        assert!(accepted.response_with_headers(&[("X", "a\r\nb")]).is_err());
        assert!(accepted
            .response_with_headers(&[("sec-websocket-accept", "x")])
            .is_err());
    }
}
