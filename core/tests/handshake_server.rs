//! Server-side handshake rules (RFC 6455 §4.2.1), one row per rule and per real-world variant:
//! the request is parsed and validated, and the outcome (accepted with a subprotocol, or
//! rejected with a status and a reason fragment) is checked.

use sockwright::handshake::{
    validate_request, HandshakeLimits, OriginPolicy, Parsed, Rejection, Request, RequestParser,
    ServerConfig, TokenMode,
};

/// The minimal valid request's headers (RFC 6455 §1.3 key).
const BASE: &[(&str, &str)] = &[
    ("Host", "server.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-WebSocket-Version", "13"),
];

/// `GET /chat HTTP/1.1` with [`BASE`], edited: each edit removes the base lines of that name
/// (once per name) and, when `Some`, appends a line. Several edits of one name make several
/// lines.
fn request(edits: &[(&str, Option<&str>)]) -> Vec<u8> {
    request_with_line("GET /chat HTTP/1.1", edits)
}

fn request_with_line(start_line: &str, edits: &[(&str, Option<&str>)]) -> Vec<u8> {
    let edited = |name: &str| edits.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut out = format!("{start_line}\r\n");
    for (name, value) in BASE.iter().filter(|(n, _)| !edited(n)) {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    for (name, value) in edits {
        if let Some(value) = value {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    out.push_str("\r\n");
    out.into_bytes()
}

const CHROME: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: localhost:8080\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: http://localhost:8080\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
\r\n";

const FIREFOX: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: localhost:8080\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0\r\n\
Accept: */*\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Sec-WebSocket-Version: 13\r\n\
Origin: http://localhost:8080\r\n\
Sec-WebSocket-Extensions: permessage-deflate\r\n\
Sec-WebSocket-Key: 9kN8i8/3UUL5cUF4UlAgJg==\r\n\
Connection: keep-alive, Upgrade\r\n\
Sec-Fetch-Dest: empty\r\n\
Sec-Fetch-Mode: websocket\r\n\
Sec-Fetch-Site: same-origin\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
Upgrade: websocket\r\n\
\r\n";

fn tolerant() -> ServerConfig {
    ServerConfig::default()
}

fn strict() -> ServerConfig {
    ServerConfig {
        token_mode: TokenMode::Strict,
        ..ServerConfig::default()
    }
}

fn origins() -> ServerConfig {
    ServerConfig {
        origin: OriginPolicy::AllowList(vec![
            "https://app.example".into(),
            "http://localhost:8080".into(),
        ]),
        ..ServerConfig::default()
    }
}

fn protocols() -> ServerConfig {
    ServerConfig {
        subprotocols: vec!["chat".into(), "superchat".into()],
        ..ServerConfig::default()
    }
}

#[derive(Debug)]
enum Expect {
    /// Accepted, with this subprotocol.
    Accept(Option<&'static str>),
    /// Rejected with this status and a reason containing this text.
    Reject(u16, &'static str),
}
use Expect::{Accept, Reject};

/// Parses and validates; a parse failure is a rejection like any other.
fn outcome(bytes: &[u8], cfg: &ServerConfig) -> Result<Option<String>, Rejection> {
    let request = match RequestParser::new(cfg.limits).feed(bytes)? {
        Parsed::Complete { head, .. } => head,
        Parsed::Partial => panic!("request head incomplete"),
    };
    validate_request(&request, cfg).map(|a| a.subprotocol().map(String::from))
}

/// (row name, request bytes, configuration, expected outcome).
type Row = (&'static str, Vec<u8>, fn() -> ServerConfig, Expect);

fn check_rows(rows: &[Row]) {
    for (name, bytes, cfg, expected) in rows {
        let got = outcome(bytes, &cfg());
        match (&got, expected) {
            (Ok(protocol), Accept(want)) => assert_eq!(protocol.as_deref(), *want, "row {name}"),
            (Err(r), Reject(status, fragment)) => {
                assert_eq!(r.status(), *status, "row {name}: {}", r.reason());
                assert!(
                    r.reason().contains(fragment),
                    "row {name}: reason {:?}",
                    r.reason()
                );
            }
            _ => panic!("row {name}: got {got:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn method_version_and_host() {
    check_rows(&[
        ("RFC 6455 example", request(&[]), tolerant, Accept(None)),
        (
            "POST",
            request_with_line("POST /chat HTTP/1.1", &[]),
            tolerant,
            Reject(405, "method \"POST\""),
        ),
        (
            "HTTP/1.0",
            request_with_line("GET /chat HTTP/1.0", &[]),
            tolerant,
            Reject(400, "HTTP/1.0"),
        ),
        (
            "Host missing",
            request(&[("Host", None)]),
            tolerant,
            Reject(400, "Host header is missing"),
        ),
        (
            "Host twice",
            request(&[("Host", Some("a")), ("Host", Some("b"))]),
            tolerant,
            Reject(400, "Host header is sent more than once (\"a, b\")"),
        ),
        (
            "malformed header name",
            request(&[("Bad Name", Some("x"))]),
            tolerant,
            Reject(400, "malformed HTTP request: invalid header name"),
        ),
        (
            "HTTP/2 request line",
            request_with_line("GET /chat HTTP/2.0", &[]),
            tolerant,
            Reject(400, "malformed HTTP request: invalid HTTP version"),
        ),
    ]);
}

#[test]
fn real_browsers() {
    check_rows(&[
        ("Chrome", CHROME.to_vec(), tolerant, Accept(None)),
        ("Chrome, strict", CHROME.to_vec(), strict, Accept(None)),
        (
            "Firefox keep-alive, Upgrade",
            FIREFOX.to_vec(),
            tolerant,
            Accept(None),
        ),
        ("Firefox, strict", FIREFOX.to_vec(), strict, Accept(None)),
        (
            "Chrome, allowed origin",
            CHROME.to_vec(),
            origins,
            Accept(None),
        ),
    ]);
}

#[test]
fn upgrade_header() {
    check_rows(&[
        (
            "missing: plain HTTP GET",
            request(&[("Upgrade", None), ("Connection", None)]),
            tolerant,
            Reject(400, "this path serves WebSocket connections only"),
        ),
        (
            "other protocol",
            request(&[("Upgrade", Some("h2c"))]),
            tolerant,
            Reject(400, "Upgrade header \"h2c\" has no \"websocket\" token"),
        ),
        (
            "longer token",
            request(&[("Upgrade", Some("websocketx"))]),
            tolerant,
            Reject(400, "\"websocketx\" has no \"websocket\""),
        ),
        (
            "case-insensitive",
            request(&[("Upgrade", Some("WebSocket"))]),
            strict,
            Accept(None),
        ),
        (
            "in a list",
            request(&[("Upgrade", Some("h2c, websocket"))]),
            strict,
            Accept(None),
        ),
        (
            "quoted, tolerant",
            request(&[("Upgrade", Some("\"websocket\""))]),
            tolerant,
            Accept(None),
        ),
        (
            "quoted, strict",
            request(&[("Upgrade", Some("\"websocket\""))]),
            strict,
            Reject(400, "remove the quotes"),
        ),
    ]);
}

#[test]
fn connection_header() {
    check_rows(&[
        ("missing", request(&[("Connection", None)]), tolerant, Reject(400, "Connection header is missing")),
        (
            "keep-alive only",
            request(&[("Connection", Some("keep-alive"))]),
            tolerant,
            Reject(400, "Connection header \"keep-alive\" has no \"upgrade\" token"),
        ),
        ("noupgrade", request(&[("Connection", Some("noupgrade"))]), tolerant, Reject(400, "\"noupgrade\" has no \"upgrade\"")),
        ("upgrade-insecure", request(&[("Connection", Some("upgrade-insecure"))]), tolerant, Reject(400, "has no \"upgrade\"")),
        ("space-separated", request(&[("Connection", Some("keep-alive upgrade"))]), tolerant, Reject(400, "has no \"upgrade\"")),
        ("lowercase", request(&[("Connection", Some("upgrade"))]), strict, Accept(None)),
        ("empty elements", request(&[("Connection", Some(", ,upgrade,"))]), strict, Accept(None)),
        (
            "two lines",
            request(&[("Connection", Some("keep-alive")), ("Connection", Some("Upgrade"))]),
            strict,
            Accept(None),
        ),
        (
            "two lines, neither upgrade",
            request(&[("Connection", Some("keep-alive")), ("Connection", Some("close"))]),
            tolerant,
            Reject(400, "Connection header \"keep-alive, close\" has no \"upgrade\""),
        ),
        ("quoted (proxy), tolerant", request(&[("Connection", Some("\"upgrade\""))]), tolerant, Accept(None)),
        (
            "quoted (proxy), strict",
            request(&[("Connection", Some("\"upgrade\""))]),
            strict,
            Reject(400, "Connection header \"\\\"upgrade\\\"\": a list element is a quoted string; strict mode"),
        ),
        ("quoted second element, tolerant", request(&[("Connection", Some("keep-alive, \"Upgrade\""))]), tolerant, Accept(None)),
        ("quoted second element, strict", request(&[("Connection", Some("keep-alive, \"Upgrade\""))]), strict, Reject(400, "remove the quotes")),
        ("unterminated quote", request(&[("Connection", Some("\"upgrade"))]), tolerant, Reject(400, "not terminated")),
        ("quoted with escape", request(&[("Connection", Some("\"up\\grade\""))]), tolerant, Accept(None)),
    ]);
}

#[test]
fn version_and_key() {
    check_rows(&[
        (
            "version 8",
            request(&[("Sec-WebSocket-Version", Some("8"))]),
            tolerant,
            Reject(426, "Sec-WebSocket-Version header \"8\" is not supported"),
        ),
        (
            "version missing",
            request(&[("Sec-WebSocket-Version", None)]),
            tolerant,
            Reject(426, "missing"),
        ),
        (
            "version list",
            request(&[("Sec-WebSocket-Version", Some("13, 8"))]),
            tolerant,
            Reject(426, "\"13, 8\""),
        ),
        (
            "version twice",
            request(&[
                ("Sec-WebSocket-Version", Some("13")),
                ("Sec-WebSocket-Version", Some("13")),
            ]),
            tolerant,
            Reject(426, "\"13, 13\""),
        ),
        (
            "key missing",
            request(&[("Sec-WebSocket-Key", None)]),
            tolerant,
            Reject(400, "Sec-WebSocket-Key header is missing"),
        ),
        (
            "key of 15 bytes",
            request(&[("Sec-WebSocket-Key", Some("ZWVlZWVlZWVlZWVlZWVl"))]),
            tolerant,
            Reject(
                400,
                "Sec-WebSocket-Key header \"ZWVlZWVlZWVlZWVlZWVl\" is not base64 of 16 bytes",
            ),
        ),
        (
            "key not base64",
            request(&[("Sec-WebSocket-Key", Some("not a key at all!!!!!!!!"))]),
            tolerant,
            Reject(400, "is not base64"),
        ),
        (
            "key twice",
            request(&[
                ("Sec-WebSocket-Key", Some("dGhlIHNhbXBsZSBub25jZQ==")),
                ("Sec-WebSocket-Key", Some("AAAAAAAAAAAAAAAAAAAAAA==")),
            ]),
            tolerant,
            Reject(400, "sent more than once"),
        ),
    ]);
}

#[test]
fn origin_policy() {
    check_rows(&[
        (
            "no Origin: not a browser",
            request(&[]),
            origins,
            Accept(None),
        ),
        (
            "allowed",
            request(&[("Origin", Some("https://app.example"))]),
            origins,
            Accept(None),
        ),
        (
            "allowed, other case",
            request(&[("Origin", Some("HTTPS://APP.example"))]),
            origins,
            Accept(None),
        ),
        (
            "other site",
            request(&[("Origin", Some("https://evil.example"))]),
            origins,
            Reject(403, "Origin header \"https://evil.example\" is not allowed"),
        ),
        (
            "prefix of allowed",
            request(&[("Origin", Some("https://app.example.evil"))]),
            origins,
            Reject(403, "not allowed"),
        ),
        (
            "null origin",
            request(&[("Origin", Some("null"))]),
            origins,
            Reject(403, "\"null\""),
        ),
        (
            "two origins",
            request(&[
                ("Origin", Some("https://app.example")),
                ("Origin", Some("https://evil.example")),
            ]),
            origins,
            Reject(403, "more than once"),
        ),
        (
            "any origin by default",
            request(&[("Origin", Some("https://evil.example"))]),
            tolerant,
            Accept(None),
        ),
    ]);
}

#[test]
fn subprotocol_choice() {
    check_rows(&[
        (
            "server preference",
            request(&[("Sec-WebSocket-Protocol", Some("superchat, chat"))]),
            protocols,
            Accept(Some("chat")),
        ),
        (
            "only one in common",
            request(&[("Sec-WebSocket-Protocol", Some("v2, superchat"))]),
            protocols,
            Accept(Some("superchat")),
        ),
        (
            "over two lines",
            request(&[
                ("Sec-WebSocket-Protocol", Some("v2")),
                ("Sec-WebSocket-Protocol", Some("superchat")),
            ]),
            protocols,
            Accept(Some("superchat")),
        ),
        (
            "none in common",
            request(&[("Sec-WebSocket-Protocol", Some("mqtt"))]),
            protocols,
            Accept(None),
        ),
        (
            "case-sensitive",
            request(&[("Sec-WebSocket-Protocol", Some("CHAT"))]),
            protocols,
            Accept(None),
        ),
        ("not offered", request(&[]), protocols, Accept(None)),
        (
            "server speaks none",
            request(&[("Sec-WebSocket-Protocol", Some("chat"))]),
            tolerant,
            Accept(None),
        ),
        (
            "quoted, strict",
            request(&[("Sec-WebSocket-Protocol", Some("\"chat\""))]),
            || ServerConfig {
                token_mode: TokenMode::Strict,
                ..protocols()
            },
            Reject(400, "Sec-WebSocket-Protocol header"),
        ),
    ]);
}

#[test]
fn untrusted_values_in_reasons() {
    let long = "x".repeat(5000);
    let rows: &[(&str, Vec<u8>)] = &[
        ("long value", request(&[("Connection", Some(&long))])),
        ("not UTF-8", {
            let mut r = request(&[]);
            let at = r
                .windows(19)
                .position(|w| w == b"Connection: Upgrade")
                .expect("in base");
            r.splice(at + 12..at + 19, b"Upgr\xFF\xFEe".iter().copied());
            r
        }),
    ];
    for (name, bytes) in rows {
        let rejection = outcome(bytes, &tolerant()).expect_err(name);
        assert_eq!(rejection.status(), 400, "row {name}");
        assert!(
            rejection.reason().len() < 300,
            "row {name}: {} bytes",
            rejection.reason().len()
        );
    }
    let rejection = outcome(&rows[1].1, &tolerant()).expect_err("not UTF-8");
    assert!(
        rejection.reason().contains("Upgr\\xFF\\xFEe"),
        "{}",
        rejection.reason()
    );
}

#[test]
fn rejection_responses_carry_required_headers() {
    let text = |r: &Rejection| String::from_utf8(r.response()).expect("ASCII response");
    let post =
        outcome(&request_with_line("POST /chat HTTP/1.1", &[]), &tolerant()).expect_err("405");
    assert!(text(&post).starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    assert!(text(&post).contains("\r\nAllow: GET\r\n"));

    let old = outcome(
        &request(&[("Sec-WebSocket-Version", Some("8"))]),
        &tolerant(),
    )
    .expect_err("426");
    let response = text(&old);
    assert!(response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
    assert!(response.contains("\r\nSec-WebSocket-Version: 13\r\n"));
    assert!(response.contains("\r\nConnection: close\r\n"));
    let body = format!("{}\n", old.reason());
    assert!(response.contains(&format!("\r\nContent-Length: {}\r\n", body.len())));
    assert!(response.ends_with(&format!("\r\n\r\n{body}")));
}

#[test]
fn request_accessors_on_chrome() {
    let Ok(Parsed::Complete { head, trailing }) =
        RequestParser::new(HandshakeLimits::default()).feed(CHROME)
    else {
        panic!("Chrome request parses");
    };
    let head: Request = head;
    assert!(trailing.is_empty());
    assert_eq!(head.method(), "GET");
    assert_eq!(head.path(), "/chat");
    assert_eq!(
        head.header("sec-websocket-key"),
        Some(&b"x3JJHMbDL1EzLkh9GBhXDw=="[..])
    );
    assert_eq!(head.headers().count(), 12);
    assert_eq!(head.raw(), CHROME);
    let accepted = validate_request(&head, &tolerant()).expect("valid");
    assert_eq!(accepted.accept(), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}
