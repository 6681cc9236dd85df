//! Handshake benchmarks: the server's whole job on one typical Chrome request (parse, validate,
//! build the 101 response), sockwright against tungstenite 0.28, and the accept-key derivation.
//!
//! Run: `cargo bench -p sockwright --bench handshake -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use sockwright::handshake::{
    accept_key, validate_request, HandshakeLimits, Parsed, RequestParser, ServerConfig,
};
use tungstenite::handshake::machine::TryParse;
use tungstenite::handshake::server::{create_response, write_response, Request};

/// A request as Chrome 124 sends it (13 headers, 600 bytes).
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

/// sockwright: a fresh `RequestParser` (as per connection), one `feed` of the whole request
/// (scan for the end, one httparse pass, header ranges), `validate_request` with the default
/// config (method, version, Upgrade/Connection token lists, Host, version, key decode, origin
/// policy Any, no subprotocols) and the 101 response bytes.
fn sockwright_server(cfg: &ServerConfig) -> Vec<u8> {
    let mut parser = RequestParser::new(cfg.limits);
    match parser.feed(black_box(CHROME)) {
        Ok(Parsed::Complete { head, .. }) => match validate_request(&head, cfg) {
            Ok(accepted) => accepted.response(),
            Err(rejection) => rejection.response(),
        },
        Ok(Parsed::Partial) => Vec::new(),
        Err(rejection) => rejection.response(),
    }
}

/// tungstenite: the same steps its `ServerHandshake` runs, without a stream: `Request::try_parse`
/// (httparse into a 124-slot header array, then an `http::Request` with a `HeaderMap`, one
/// allocation per header), `create_response` (method, version, Connection/Upgrade,
/// Sec-WebSocket-Version, key presence, accept key, an `http::Response`) and `write_response`
/// into a `Vec`. It checks less (no Host, no key decoding, no origin policy, Upgrade compared
/// whole), so this comparison favours it slightly.
fn tungstenite_server() -> Vec<u8> {
    let mut out = Vec::new();
    if let Ok(Some((_, request))) = Request::try_parse(black_box(CHROME)) {
        if let Ok(response) = create_response(&request) {
            let _ = write_response(&mut out, &response);
        }
    }
    out
}

fn server_handshake(c: &mut Criterion) {
    let cfg = ServerConfig::default();
    // Both must produce a 101 for the same request, or the comparison means nothing.
    assert!(sockwright_server(&cfg).starts_with(b"HTTP/1.1 101 "));
    assert!(tungstenite_server().starts_with(b"HTTP/1.1 101 "));

    let mut group = c.benchmark_group("server_handshake_chrome");
    group.bench_function("sockwright", |b| b.iter(|| sockwright_server(&cfg)));
    group.bench_function("tungstenite", |b| b.iter(tungstenite_server));
    // The same request arriving one byte per read: the scan is incremental, so this stays
    // linear in the head size (no re-parse per read).
    group.bench_function("sockwright_byte_by_byte", |b| {
        b.iter(|| {
            let mut parser = RequestParser::new(HandshakeLimits::default());
            let mut result = None;
            for byte in black_box(CHROME).chunks(1) {
                if let Ok(Parsed::Complete { head, .. }) = parser.feed(byte) {
                    result = validate_request(&head, &cfg).ok().map(|a| a.response());
                }
            }
            result
        })
    });
    group.finish();
}

fn accept_key_derivation(c: &mut Criterion) {
    let key = b"x3JJHMbDL1EzLkh9GBhXDw==";
    assert_eq!(
        accept_key(key),
        tungstenite::handshake::derive_accept_key(key)
    );
    let mut group = c.benchmark_group("accept_key");
    group.bench_function("sockwright", |b| b.iter(|| accept_key(black_box(key))));
    group.bench_function("tungstenite", |b| {
        b.iter(|| tungstenite::handshake::derive_accept_key(black_box(key)))
    });
    group.finish();
}

criterion_group!(benches, server_handshake, accept_key_derivation);
criterion_main!(benches);
