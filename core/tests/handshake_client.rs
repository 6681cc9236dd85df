//! Client side: building the request, validating the server's response, round trips with the
//! sockwright server side, and interop with tungstenite in both roles.

use std::io::{self, Read, Write};

use sockwright::handshake::{
    validate_request, validate_response, ClientHandshakeError, ClientRequest, HandshakeLimits,
    Parsed, Rejection, RequestParser, Response, ResponseParser, ServerConfig, TokenMode,
};

const KEY: [u8; 16] = *b"the sample nonce"; // base64: dGhlIHNhbXBsZSBub25jZQ==
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// An unmasked server text frame "Hi", pipelined right after the 101 response.
const SERVER_FRAME: &[u8] = b"\x81\x02Hi";

fn client_request() -> ClientRequest {
    ClientRequest::new("server.example.com:8080", "/chat?room=1", KEY)
        .and_then(|r| r.with_subprotocol("chat"))
        .and_then(|r| r.with_subprotocol("superchat"))
        .and_then(|r| r.with_header("Origin", "https://app.example"))
        .and_then(|r| r.with_header("Name", "alice"))
        .expect("valid request")
}

fn parse_response(bytes: &[u8]) -> Result<(Response, Vec<u8>), ClientHandshakeError> {
    match ResponseParser::new(HandshakeLimits::default()).feed(bytes)? {
        Parsed::Complete { head, trailing } => Ok((head, trailing)),
        Parsed::Partial => panic!("response head incomplete"),
    }
}

#[test]
fn round_trip_with_the_sockwright_server() {
    let request = client_request();
    let mut server = RequestParser::new(HandshakeLimits::default());
    let Ok(Parsed::Complete { head, trailing }) = server.feed(&request.to_bytes()) else {
        panic!("server parses the client's request");
    };
    assert!(trailing.is_empty());
    assert_eq!(head.header("Name"), Some(&b"alice"[..]));
    let cfg = ServerConfig {
        subprotocols: vec!["superchat".into()],
        ..ServerConfig::default()
    };
    let accepted = validate_request(&head, &cfg).expect("server accepts");
    assert_eq!(accepted.query(), Some("room=1"));

    let reply = [accepted.response().as_slice(), SERVER_FRAME].concat();
    // Byte by byte, as a slow network would deliver it.
    let mut parser = ResponseParser::new(HandshakeLimits::default());
    let mut done = None;
    for (i, byte) in reply.iter().enumerate() {
        if let Parsed::Complete { head, mut trailing } = parser.feed(&[*byte]).expect("parses") {
            trailing.extend_from_slice(&reply[i + 1..]);
            done = Some((head, trailing));
            break;
        }
    }
    let (response, trailing) = done.expect("response completes");
    assert_eq!(
        trailing, SERVER_FRAME,
        "the server's first frame is not lost"
    );
    let client = validate_response(&response, &request, TokenMode::Strict).expect("valid 101");
    assert_eq!(client.subprotocol(), Some("superchat"));
    assert_eq!(client.response().status(), 101);
}

#[test]
fn a_rejection_reaches_the_client_as_a_status_error() {
    let rejection = Rejection::new(403, "Origin header \"https://evil.example\" is not allowed");
    let (response, trailing) = parse_response(&rejection.response()).expect("parses");
    assert_eq!(
        trailing,
        format!("{}\n", rejection.reason()).as_bytes(),
        "body follows the head"
    );
    let err = validate_response(&response, &client_request(), TokenMode::Tolerant).unwrap_err();
    assert_eq!(
        err,
        ClientHandshakeError::Status {
            code: 403,
            reason: "Forbidden".into()
        }
    );
}

/// A 101 response with `ACCEPT`, edited like the server tests' requests.
fn response(status_line: &str, edits: &[(&str, Option<&str>)]) -> Vec<u8> {
    const BASE: &[(&str, &str)] = &[
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", ACCEPT),
    ];
    let edited = |name: &str| edits.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut out = format!("{status_line}\r\n");
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

#[test]
fn response_validation_table() {
    const OK: &str = "HTTP/1.1 101 Switching Protocols";
    type Expect = Result<Option<&'static str>, &'static str>; // subprotocol, or error fragment
    let rows: &[(&str, Vec<u8>, TokenMode, Expect)] = &[
        ("minimal", response(OK, &[]), TokenMode::Strict, Ok(None)),
        ("keep-alive, Upgrade", response(OK, &[("Connection", Some("keep-alive, Upgrade"))]), TokenMode::Strict, Ok(None)),
        ("subprotocol offered", response(OK, &[("Sec-WebSocket-Protocol", Some("chat"))]), TokenMode::Strict, Ok(Some("chat"))),
        ("200", response("HTTP/1.1 200 OK", &[]), TokenMode::Strict, Err("server answered 200 \"OK\" instead of 101")),
        ("404", response("HTTP/1.1 404 Not Found", &[]), TokenMode::Strict, Err("404")),
        ("Upgrade missing", response(OK, &[("Upgrade", None)]), TokenMode::Strict, Err("Upgrade header is missing")),
        ("Upgrade h2c", response(OK, &[("Upgrade", Some("h2c"))]), TokenMode::Strict, Err("Upgrade header \"h2c\" has no \"websocket\" token")),
        ("Connection missing", response(OK, &[("Connection", None)]), TokenMode::Strict, Err("Connection header is missing")),
        ("Connection noupgrade", response(OK, &[("Connection", Some("noupgrade"))]), TokenMode::Strict, Err("has no \"upgrade\" token")),
        ("Connection quoted, tolerant", response(OK, &[("Connection", Some("\"upgrade\""))]), TokenMode::Tolerant, Ok(None)),
        ("Connection quoted, strict", response(OK, &[("Connection", Some("\"upgrade\""))]), TokenMode::Strict, Err("remove the quotes")),
        (
            "wrong accept",
            response(OK, &[("Sec-WebSocket-Accept", Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA="))]),
            TokenMode::Strict,
            Err("Sec-WebSocket-Accept header is \"AAAAAAAAAAAAAAAAAAAAAAAAAAA=\", expected \"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\""),
        ),
        ("accept missing", response(OK, &[("Sec-WebSocket-Accept", None)]), TokenMode::Strict, Err("Sec-WebSocket-Accept header is missing")),
        (
            "accept twice",
            response(OK, &[("Sec-WebSocket-Accept", Some(ACCEPT)), ("Sec-WebSocket-Accept", Some(ACCEPT))]),
            TokenMode::Strict,
            Err("expected"),
        ),
        (
            "unsolicited subprotocol",
            response(OK, &[("Sec-WebSocket-Protocol", Some("mqtt"))]),
            TokenMode::Strict,
            Err("server chose subprotocol \"mqtt\", which the client did not offer"),
        ),
        ("two subprotocols", response(OK, &[("Sec-WebSocket-Protocol", Some("chat, superchat"))]), TokenMode::Strict, Err("did not offer")),
        ("subprotocol other case", response(OK, &[("Sec-WebSocket-Protocol", Some("CHAT"))]), TokenMode::Strict, Err("did not offer")),
        (
            "unsolicited extension",
            response(OK, &[("Sec-WebSocket-Extensions", Some("permessage-deflate"))]),
            TokenMode::Strict,
            Err("server enabled extension \"permessage-deflate\""),
        ),
        ("empty extensions header", response(OK, &[("Sec-WebSocket-Extensions", Some(""))]), TokenMode::Strict, Ok(None)),
    ];
    for (name, bytes, mode, expected) in rows {
        let got = parse_response(bytes)
            .and_then(|(resp, _)| validate_response(&resp, &client_request(), *mode))
            .map(|accepted| accepted.subprotocol().map(String::from));
        match (&got, expected) {
            (Ok(protocol), Ok(want)) => assert_eq!(protocol.as_deref(), *want, "row {name}"),
            (Err(e), Err(fragment)) => assert!(e.to_string().contains(fragment), "row {name}: {e}"),
            _ => panic!("row {name}: got {got:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn response_parser_errors() {
    let rows: &[(&str, Vec<u8>, HandshakeLimits, &str)] = &[
        (
            "malformed",
            b"HTTP/1.1 1x1 Nope\r\n\r\n".to_vec(),
            HandshakeLimits::default(),
            "malformed HTTP response",
        ),
        (
            "head too large",
            response("HTTP/1.1 101 Switching Protocols", &[]),
            HandshakeLimits {
                max_head_bytes: 50,
                max_headers: 64,
            },
            "larger than the limit of 50 bytes",
        ),
        (
            "too many headers",
            response("HTTP/1.1 101 Switching Protocols", &[]),
            HandshakeLimits {
                max_head_bytes: 1024,
                max_headers: 2,
            },
            "more than the limit of 2 header lines",
        ),
    ];
    for (name, bytes, limits, fragment) in rows {
        let err = ResponseParser::new(*limits).feed(bytes).expect_err(name);
        assert!(err.to_string().contains(fragment), "row {name}: {err}");
    }
}

// --- interop with tungstenite --------------------------------------------------------------

/// An in-memory stream: reads come from `input` (WouldBlock when empty), writes go to `output`.
#[derive(Default)]
struct MockStream {
    input: io::Cursor<Vec<u8>>,
    output: Vec<u8>,
}

impl Read for MockStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.input.read(buf)? {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }
}

impl Write for MockStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn sockwright_client_against_tungstenite_server() {
    let request = client_request();
    let stream = MockStream {
        input: io::Cursor::new(request.to_bytes()),
        output: Vec::new(),
    };
    let websocket = tungstenite::accept(stream).expect("tungstenite accepts our request");
    let reply = &websocket.get_ref().output;
    let (response, _) = parse_response(reply).expect("parses tungstenite's response");
    let accepted = validate_response(&response, &request, TokenMode::Strict).expect("valid 101");
    assert_eq!(
        accepted.subprotocol(),
        None,
        "tungstenite's accept picks no subprotocol"
    );
}

#[test]
fn tungstenite_client_against_sockwright_server() {
    use tungstenite::client::IntoClientRequest;
    use tungstenite::handshake::{client::ClientHandshake, HandshakeError};

    let mut request = "ws://localhost:9001/chat"
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "chat".parse().expect("value"));
    let mid = match ClientHandshake::start(MockStream::default(), request, None)
        .expect("starts")
        .handshake()
    {
        Err(HandshakeError::Interrupted(mid)) => mid,
        other => panic!(
            "expected to wait for the response, got {:?}",
            other.map(|_| ())
        ),
    };
    let sent = mid.get_ref().get_ref().output.clone();

    let Ok(Parsed::Complete { head, .. }) =
        RequestParser::new(HandshakeLimits::default()).feed(&sent)
    else {
        panic!("sockwright parses tungstenite's request");
    };
    let cfg = ServerConfig {
        subprotocols: vec!["chat".into()],
        ..ServerConfig::default()
    };
    let accepted = validate_request(&head, &cfg).expect("sockwright accepts tungstenite's request");

    let mut mid = mid;
    mid.get_mut().get_mut().input = io::Cursor::new(accepted.response());
    let (_, response) = mid.handshake().expect("tungstenite accepts our 101");
    assert_eq!(response.status(), 101);
    assert_eq!(
        response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.as_bytes()),
        Some(&b"chat"[..])
    );
}
