//! Targets `handshake_server` (request-head parser + server handshake) and `handshake_client`
//! (response parser + client handshake). The input is the raw HTTP head as received, so the
//! seeds are real browser requests and server responses.
//!
//! Oracles, server: one piece, one byte at a time and a chunking chosen by the input give the
//! same result; only the documented statuses come out (parser 400/431; validation
//! 400/403/405/426), each a well-formed response whose reason has no control characters; the
//! head and the trailing bytes are exactly the input (nothing lost, nothing past the limits
//! held); an accepted request really has what RFC 6455 §4.2.1 asks, checked here without the
//! core's token parser, and its `101` passes the core's own client validation; strict mode
//! accepts nothing tolerant mode refuses; tight limits accept nothing the defaults refuse.
//!
//! Client: the same chunk invariance and no-loss; only documented errors, whose messages are
//! bounded and free of control characters; an accepted response is a `101` with the right
//! `Sec-WebSocket-Accept`, at most one offered subprotocol and no extension.

use sockwright::handshake::{
    validate_request, validate_response, Accepted, ClientAccepted, ClientHandshakeError,
    ClientRequest, HandshakeLimits, OriginPolicy, Parsed, Rejection, Request, RequestParser,
    Response, ResponseParser, ServerConfig, TokenMode,
};

use crate::input::chunkings;
use crate::tokens::reference_elements;

/// The key of the client request the client target validates against (RFC 6455 §1.3's).
pub const CLIENT_KEY: [u8; 16] = *b"the sample nonce";

/// Longest reason or error message a hostile head may cause: values are shown cut to 64 bytes.
const MAX_MESSAGE_LEN: usize = 600;

/// Request-head parser + server handshake.
pub fn run_handshake_server(data: &[u8]) {
    let seed = checksum(data);
    let tolerant = server_config(
        TokenMode::Tolerant,
        OriginPolicy::Any,
        HandshakeLimits::default(),
    );
    let allowed = vec![
        "http://example.com".to_string(),
        "https://example.com".to_string(),
    ];
    let strict = server_config(
        TokenMode::Strict,
        OriginPolicy::AllowList(allowed),
        HandshakeLimits::default(),
    );
    let tight = server_config(
        TokenMode::Tolerant,
        OriginPolicy::Any,
        HandshakeLimits {
            max_head_bytes: 300,
            max_headers: 8,
        },
    );
    let results = [&tolerant, &strict, &tight].map(|cfg| server_outcome(data, seed, cfg));
    let [tolerant_result, strict_result, tight_result] = &results;
    if let ServerOutcome::Complete {
        validated: Ok(strict_ok),
        ..
    } = strict_result
    {
        match tolerant_result {
            ServerOutcome::Complete {
                validated: Ok(ok), ..
            } => {
                assert_eq!(ok, strict_ok, "strict and tolerant accept differently")
            }
            other => panic!("strict mode accepted what tolerant mode did not: {other:?}"),
        }
    }
    if let ServerOutcome::Complete {
        head, validated, ..
    } = tight_result
    {
        match tolerant_result {
            ServerOutcome::Complete {
                head: h,
                validated: v,
                ..
            } => {
                assert_eq!(
                    (head, validated),
                    (h, v),
                    "tight limits changed a complete head"
                )
            }
            other => panic!("tight limits completed what the defaults did not: {other:?}"),
        }
    }
}

/// Response parser + client handshake.
pub fn run_handshake_client(data: &[u8]) {
    let seed = checksum(data);
    let request = client_request();
    let [tolerant, strict] = [TokenMode::Tolerant, TokenMode::Strict]
        .map(|mode| client_outcome(data, seed, &request, mode));
    if let ClientOutcome::Complete {
        validated: Ok(strict_ok),
        ..
    } = &strict
    {
        match &tolerant {
            ClientOutcome::Complete {
                validated: Ok(ok), ..
            } => assert_eq!(ok, strict_ok),
            other => panic!("strict mode accepted what tolerant mode did not: {other:?}"),
        }
    }
}

/// The client request of the client target: RFC 6455 §1.3's, offering `chat` and `superchat`.
pub fn client_request() -> ClientRequest {
    ClientRequest::new("server.example.com", "/chat", CLIENT_KEY)
        .and_then(|r| r.with_subprotocol("chat"))
        .and_then(|r| r.with_subprotocol("superchat"))
        .expect("a valid request")
}

fn server_config(
    token_mode: TokenMode,
    origin: OriginPolicy,
    limits: HandshakeLimits,
) -> ServerConfig {
    ServerConfig {
        limits,
        token_mode,
        origin,
        subprotocols: vec!["chat".into(), "superchat".into()],
    }
}

/// A seed for the chunking, from the input itself (the input is the raw head).
fn checksum(data: &[u8]) -> u8 {
    data.iter()
        .fold(0u8, |acc, &b| acc.wrapping_mul(31).wrapping_add(b))
}

#[derive(Debug, PartialEq, Eq)]
enum ServerOutcome {
    Partial,
    Rejected(Rejection),
    Complete {
        head: Vec<u8>,
        trailing: Vec<u8>,
        validated: Result<Accepted, Rejection>,
    },
}

fn server_outcome(data: &[u8], seed: u8, cfg: &ServerConfig) -> ServerOutcome {
    let [whole, bytewise, chunked] = chunkings(data, seed).map(|pieces| feed_request(&pieces, cfg));
    assert_eq!(bytewise, whole, "one byte at a time differs from one piece");
    assert_eq!(chunked, whole, "chunked differs from one piece");
    whole
}

fn feed_request(pieces: &[&[u8]], cfg: &ServerConfig) -> ServerOutcome {
    let mut parser = RequestParser::new(cfg.limits);
    for (i, piece) in pieces.iter().enumerate() {
        match parser.feed(piece) {
            Ok(Parsed::Partial) => {
                assert!(
                    parser.buffered() <= cfg.limits.max_head_bytes,
                    "held past the limit"
                )
            }
            Ok(Parsed::Complete { head, trailing }) => {
                let mut rest = trailing;
                rest.extend(pieces[i + 1..].concat());
                return complete_request(head, rest, pieces.concat(), cfg);
            }
            Err(rejection) => {
                assert!(
                    matches!(rejection.status(), 400 | 431),
                    "parser rejected with {}",
                    rejection.status()
                );
                assert_rejection(&rejection);
                assert_eq!(
                    parser.feed(b"x").err(),
                    Some(rejection.clone()),
                    "not sticky"
                );
                return ServerOutcome::Rejected(rejection);
            }
        }
    }
    ServerOutcome::Partial
}

fn complete_request(
    head: Request,
    trailing: Vec<u8>,
    input: Vec<u8>,
    cfg: &ServerConfig,
) -> ServerOutcome {
    let raw = head.raw().to_vec();
    assert_eq!(
        [raw.as_slice(), &trailing].concat(),
        input,
        "head + trailing is not the input"
    );
    assert!(
        raw.len() <= cfg.limits.max_head_bytes,
        "a head past max_head_bytes"
    );
    assert!(
        head.headers().count() <= cfg.limits.max_headers,
        "more headers than max_headers"
    );
    assert!(
        raw.ends_with(b"\n"),
        "a head that does not end with a line break"
    );
    let target = match head.query() {
        Some(query) => format!("{}?{query}", head.path()),
        None => head.path().to_string(),
    };
    assert_eq!(target, head.target());
    let validated = validate_request(&head, cfg);
    match &validated {
        Ok(accepted) => assert_accepted(&head, accepted, cfg),
        Err(rejection) => {
            assert!(
                matches!(rejection.status(), 400 | 403 | 405 | 426),
                "validation rejected with {}",
                rejection.status()
            );
            assert_rejection(rejection);
        }
    }
    ServerOutcome::Complete {
        head: raw,
        trailing,
        validated,
    }
}

/// A rejection is a well-formed HTTP response: its status, `Content-Length` matching the
/// body, the body being the reason, and a reason a hostile head cannot inject lines into.
pub fn assert_rejection(rejection: &Rejection) {
    let reason = rejection.reason();
    assert!(!reason.is_empty(), "empty reason");
    assert!(
        reason.len() <= MAX_MESSAGE_LEN,
        "reason of {} bytes",
        reason.len()
    );
    assert!(
        !reason.chars().any(char::is_control),
        "control character in {reason:?}"
    );
    let bytes = rejection.response();
    let mut parser = ResponseParser::new(HandshakeLimits::default());
    let Ok(Parsed::Complete { head, trailing }) = parser.feed(&bytes) else {
        panic!(
            "a rejection response that does not parse: {:?}",
            String::from_utf8_lossy(&bytes)
        );
    };
    assert_eq!(head.status(), rejection.status());
    assert_eq!(
        trailing,
        [reason.as_bytes(), b"\n"].concat(),
        "the body is not the reason"
    );
    let length = head.header("Content-Length").expect("Content-Length");
    assert_eq!(length, trailing.len().to_string().as_bytes());
    for (name, value) in rejection.headers() {
        assert!(
            head.header_values(name).any(|v| v == value.as_bytes()),
            "header {name} lost"
        );
    }
}

/// What RFC 6455 §4.2.1 asks of a request, checked without the core's validation: a GET over
/// HTTP/1.1 with one Host, `websocket` in Upgrade and `upgrade` in Connection (by the
/// reference list reader), version 13, one key of 24 base64 characters; the subprotocol one
/// the server speaks and the client offered. Then the client side accepts the `101`.
fn assert_accepted(req: &Request, accepted: &Accepted, cfg: &ServerConfig) {
    assert_eq!(req.method(), "GET");
    assert_eq!(req.version(), 1);
    assert_eq!(
        req.header_values("Host").count(),
        1,
        "accepted without one Host"
    );
    let mode = cfg.token_mode;
    let has = |name: &str, token: &str| {
        req.header_values(name).any(|value| {
            let elements = reference_elements(value, mode).expect("a list the core accepted");
            elements
                .iter()
                .any(|e| e.eq_ignore_ascii_case(token.as_bytes()))
        })
    };
    assert!(
        has("Upgrade", "websocket"),
        "accepted without Upgrade: websocket"
    );
    assert!(
        has("Connection", "upgrade"),
        "accepted without Connection: upgrade"
    );
    let versions: Vec<&[u8]> = req.header_values("Sec-WebSocket-Version").collect();
    assert_eq!(versions, [b"13"], "accepted without exactly version 13");
    let keys: Vec<&[u8]> = req.header_values("Sec-WebSocket-Key").collect();
    assert_eq!(keys.len(), 1, "accepted without exactly one key");
    let key = decode_key(keys[0]).expect("accepted a key that is not base64 of 16 bytes");
    assert_eq!(accepted.key().as_bytes(), keys[0]);
    if let Some(chosen) = accepted.subprotocol() {
        assert!(
            cfg.subprotocols.iter().any(|p| p == chosen),
            "chose {chosen:?}, not ours"
        );
        let offered = req.header_values("Sec-WebSocket-Protocol").any(|value| {
            reference_elements(value, mode)
                .is_ok_and(|elements| elements.iter().any(|e| e == chosen.as_bytes()))
        });
        assert!(offered, "chose {chosen:?}, which the client did not offer");
    }
    // The 101 passes the client side of the same handshake.
    let mut client = ClientRequest::new("h", "/", key).expect("valid request");
    if let Some(chosen) = accepted.subprotocol() {
        client = client
            .with_subprotocol(chosen)
            .expect("a subprotocol we speak is a token");
    }
    let response = accepted.response();
    let mut parser = ResponseParser::new(HandshakeLimits::default());
    let Ok(Parsed::Complete { head, trailing }) = parser.feed(&response) else {
        panic!("the 101 does not parse");
    };
    assert!(trailing.is_empty());
    let ok = validate_response(&head, &client, TokenMode::Strict).expect("the 101 validates");
    assert_eq!(ok.subprotocol(), accepted.subprotocol());
}

/// Base64 (standard alphabet, padded) of exactly 16 bytes, decoded by hand.
pub fn decode_key(value: &[u8]) -> Option<[u8; 16]> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if value.len() != 24 || !value.ends_with(b"==") {
        return None;
    }
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(16);
    for &c in &value[..22] {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    // 22 characters carry 132 bits: 16 bytes and 4 bits that must be zero.
    (bits == 0).then(|| out.try_into().ok()).flatten()
}

#[derive(Debug, PartialEq, Eq)]
enum ClientOutcome {
    Partial,
    Failed(ClientHandshakeError),
    Complete {
        head: Vec<u8>,
        trailing: Vec<u8>,
        validated: Result<ClientAccepted, ClientHandshakeError>,
    },
}

fn client_outcome(
    data: &[u8],
    seed: u8,
    request: &ClientRequest,
    mode: TokenMode,
) -> ClientOutcome {
    let [whole, bytewise, chunked] =
        chunkings(data, seed).map(|pieces| feed_response(&pieces, request, mode));
    assert_eq!(bytewise, whole, "one byte at a time differs from one piece");
    assert_eq!(chunked, whole, "chunked differs from one piece");
    whole
}

fn feed_response(pieces: &[&[u8]], request: &ClientRequest, mode: TokenMode) -> ClientOutcome {
    let limits = HandshakeLimits::default();
    let mut parser = ResponseParser::new(limits);
    for (i, piece) in pieces.iter().enumerate() {
        match parser.feed(piece) {
            Ok(Parsed::Partial) => assert!(parser.buffered() <= limits.max_head_bytes),
            Ok(Parsed::Complete { head, trailing }) => {
                let mut rest = trailing;
                rest.extend(pieces[i + 1..].concat());
                return complete_response(head, rest, pieces.concat(), request, mode);
            }
            Err(error) => {
                assert!(
                    matches!(
                        error,
                        ClientHandshakeError::HeadTooLarge { .. }
                            | ClientHandshakeError::TooManyHeaders { .. }
                            | ClientHandshakeError::Malformed { .. }
                    ),
                    "the parser failed with {error:?}"
                );
                assert_message(&error.to_string());
                return ClientOutcome::Failed(error);
            }
        }
    }
    ClientOutcome::Partial
}

fn complete_response(
    head: Response,
    trailing: Vec<u8>,
    input: Vec<u8>,
    request: &ClientRequest,
    mode: TokenMode,
) -> ClientOutcome {
    let raw = head.raw().to_vec();
    assert_eq!(
        [raw.as_slice(), &trailing].concat(),
        input,
        "head + trailing is not the input"
    );
    let validated = validate_response(&head, request, mode);
    match &validated {
        Ok(accepted) => {
            assert_eq!(head.status(), 101);
            let accepts: Vec<&[u8]> = head.header_values("Sec-WebSocket-Accept").collect();
            assert_eq!(
                accepts,
                [b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".as_slice()],
                "wrong accept"
            );
            let chosen = accepted.subprotocol();
            assert!(
                matches!(chosen, None | Some("chat" | "superchat")),
                "chose {chosen:?}"
            );
            let elements: Vec<Vec<u8>> = head
                .header_values("Sec-WebSocket-Protocol")
                .flat_map(|v| reference_elements(v, mode).expect("a list the core accepted"))
                .collect();
            assert_eq!(
                elements,
                chosen
                    .map(|c| c.as_bytes().to_vec())
                    .into_iter()
                    .collect::<Vec<_>>()
            );
            let extensions = head
                .header_values("Sec-WebSocket-Extensions")
                .flat_map(|v| reference_elements(v, mode).unwrap_or_default())
                .count();
            assert_eq!(extensions, 0, "accepted an extension");
        }
        Err(error) => {
            assert!(
                !matches!(
                    error,
                    ClientHandshakeError::AlreadyComplete
                        | ClientHandshakeError::HeadTooLarge { .. }
                        | ClientHandshakeError::TooManyHeaders { .. }
                        | ClientHandshakeError::Malformed { .. }
                ),
                "validation failed with a parser error: {error:?}"
            );
            if let ClientHandshakeError::Status { code, .. } = error {
                assert_ne!(*code, 101);
            }
            assert_message(&error.to_string());
        }
    }
    ClientOutcome::Complete {
        head: raw,
        trailing,
        validated,
    }
}

/// An error message shown to people: not empty, bounded, one line.
pub fn assert_message(message: &str) {
    assert!(!message.is_empty());
    assert!(
        message.len() <= MAX_MESSAGE_LEN,
        "message of {} bytes",
        message.len()
    );
    assert!(
        !message.chars().any(char::is_control),
        "control character in {message:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_key_reads_the_rfc_key() {
        assert_eq!(
            decode_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            Some(*b"the sample nonce")
        );
        assert_eq!(
            decode_key(b"dGhlIHNhbXBsZSBub25jZR=="),
            None,
            "non-zero padding bits"
        );
        assert_eq!(decode_key(b"dGhlIHNhbXBsZSBub25j"), None);
    }
}
