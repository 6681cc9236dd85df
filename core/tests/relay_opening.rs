//! Relay phase 1 inside the machine: from `Relay::start` to the client's `101` or its `502`
//! (or `400`, `503`), and a client that leaves first.

mod relay_support;

use std::time::Duration;

use relay_support::{front_request, relay_events, request, MASK, RELAY_KEY};
use sockwright::handshake::{validate_request, ServerConfig, WsUrl};
use sockwright::relay::{Relay, RelayConfig, RelayEvent, RelayStats};

fn url(s: &str) -> WsUrl {
    WsUrl::parse(s).expect("valid url")
}

#[test]
fn relay_is_send() {
    fn send<T: Send>() {}
    send::<Relay>();
}

fn started(cfg: &RelayConfig) -> Relay {
    let front = front_request(
        "/chat?room=1",
        "Name: alice\r\nSec-WebSocket-Protocol: chat\r\n",
    );
    Relay::start(
        &front,
        &url("ws://up:9001/ws"),
        Some("203.0.113.7"),
        RELAY_KEY,
        || MASK,
        cfg,
        Duration::ZERO,
    )
    .expect("starts")
}

fn front_bytes(relay: &mut Relay) -> String {
    let mut out = Vec::new();
    relay.poll_front_transmit(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn refused_with(relay: &mut Relay, status: u16, needle: &str) {
    let text = front_bytes(relay);
    assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
    assert!(text.contains(needle), "{text}");
    let events = relay_events(relay);
    assert!(
        matches!(&events[..], [RelayEvent::Refused(r), RelayEvent::Finished(s)]
            if r.status() == status && *s == RelayStats::default()),
        "{events:?}"
    );
    assert!(relay.is_finished());
    assert!(!relay.wants_front_read() && !relay.wants_back_read());
    assert_eq!(relay.poll_timeout(), None);
}

#[test]
fn start_rejects_an_invalid_client_request() {
    let front = request(b"GET /chat HTTP/1.1\r\nHost: h\r\n\r\n");
    let err = Relay::start(
        &front,
        &url("ws://up/"),
        None,
        RELAY_KEY,
        || MASK,
        &RelayConfig::default(),
        Duration::ZERO,
    )
    .expect_err("not an upgrade");
    assert_eq!(err.status(), 400);
    assert!(err.reason().contains("Upgrade header is missing"));
}

#[test]
fn opens_when_the_upstream_accepts() {
    let mut relay = started(&RelayConfig::default());
    assert!(
        !relay.wants_front_read(),
        "the client must wait for the 101"
    );
    assert!(relay.wants_back_read());
    assert_eq!(relay.poll_timeout(), Some(Duration::from_secs(10)));
    assert_eq!(front_bytes(&mut relay), "");
    let mut req = Vec::new();
    relay.poll_back_transmit(&mut req);
    let up_req = request(&req);
    assert_eq!(up_req.target(), "/ws?room=1");
    assert_eq!(up_req.header("Name"), Some(&b"alice"[..]));
    assert_eq!(up_req.header("X-Forwarded-For"), Some(&b"203.0.113.7"[..]));

    // Early frames from the client are replayed once open.
    relay.handle_front_read(Duration::ZERO, &[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']);
    let cfg = ServerConfig {
        subprotocols: vec!["chat".into()],
        ..ServerConfig::default()
    };
    let accepted = validate_request(&up_req, &cfg).expect("valid");
    let mut answer = accepted
        .response_with_headers(&[("Set-Cookie", "id=1")])
        .expect("headers");
    answer.extend_from_slice(&[0x82, 0x01, 0xAA]); // a binary frame right behind the 101
                                                   // Byte by byte.
    for b in &answer {
        relay.handle_back_read(Duration::from_millis(5), std::slice::from_ref(b));
    }
    let mut bytes = Vec::new();
    relay.poll_front_transmit(&mut bytes);
    let frame = bytes.split_off(bytes.len() - 3);
    assert_eq!(
        frame,
        [0x82, 0x01, 0xAA],
        "the upstream's frame follows the 101"
    );
    let text = String::from_utf8(bytes).expect("head is text");
    assert!(
        text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{text}"
    );
    assert!(
        text.ends_with("Sec-WebSocket-Protocol: chat\r\nSet-Cookie: id=1\r\n\r\n"),
        "{text}"
    );
    let mut to_up = Vec::new();
    relay.poll_back_transmit(&mut to_up);
    assert_eq!(
        to_up,
        [0x81, 0x82, 0x37, 0xfa, 0x21, 0x3d, b'h' ^ 0x37, b'i' ^ 0xfa]
    );
    assert_eq!(
        relay_events(&mut relay),
        [RelayEvent::Opened {
            subprotocol: Some("chat".into())
        }]
    );
    assert_eq!(relay.subprotocol(), Some("chat"));
    assert!(relay.wants_front_read() && relay.wants_back_read());
}

#[test]
fn upstream_refusal_is_a_502_naming_status_and_upstream() {
    let mut relay = started(&RelayConfig::default());
    relay.handle_back_read(
        Duration::ZERO,
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
    );
    refused_with(
        &mut relay,
        502,
        "upstream ws://up:9001/ws refused the WebSocket handshake with 403 \"Forbidden\"",
    );
}

#[test]
fn upstream_bad_handshake_is_a_502() {
    let mut relay = started(&RelayConfig::default());
    relay.handle_back_read(
        Duration::ZERO,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: nope\r\n\r\n",
    );
    refused_with(
        &mut relay,
        502,
        "sent an invalid handshake response: Sec-WebSocket-Accept",
    );
}

#[test]
fn upstream_unreachable_eof_and_timeout_are_502s() {
    let mut relay = started(&RelayConfig::default());
    relay.handle_back_unreachable(Duration::ZERO, "connection refused (os error 111)");
    refused_with(
        &mut relay,
        502,
        "could not be reached: connection refused (os error 111)",
    );

    let mut relay = started(&RelayConfig::default());
    relay.handle_back_read(Duration::ZERO, b"HTTP/1.1 101 Swi");
    relay.handle_back_eof(Duration::ZERO);
    refused_with(&mut relay, 502, "closed the connection before answering");

    let mut cfg = RelayConfig::default();
    cfg.upstream_timeout = Duration::from_secs(3);
    cfg.name_upstream = false;
    let mut relay = started(&cfg);
    relay.handle_timeout(Duration::from_secs(2));
    assert!(relay_events(&mut relay).is_empty(), "not due yet");
    relay.handle_timeout(Duration::from_secs(3));
    refused_with(
        &mut relay,
        502,
        "upstream did not answer the WebSocket handshake within 3000 ms",
    );
}

#[test]
fn client_gone_before_the_upstream_answered() {
    let mut relay = started(&RelayConfig::default());
    relay.handle_front_eof(Duration::ZERO);
    assert_eq!(
        relay_events(&mut relay),
        [
            RelayEvent::Abandoned,
            RelayEvent::Finished(RelayStats::default())
        ]
    );
    assert!(relay.is_finished());
    let mut out = Vec::new();
    assert_eq!(
        relay.poll_back_transmit(&mut out),
        0,
        "the request is not sent"
    );
    assert_eq!(front_bytes(&mut relay), "");
}

#[test]
fn too_much_early_data_is_a_400() {
    let mut cfg = RelayConfig::default();
    cfg.max_early_bytes = 8;
    let mut relay = started(&cfg);
    relay.handle_front_read(Duration::ZERO, &[0; 8]);
    assert!(relay_events(&mut relay).is_empty());
    relay.handle_front_read(Duration::ZERO, &[0]);
    refused_with(
        &mut relay,
        400,
        "more than 8 bytes before its handshake was answered",
    );
}

#[test]
fn close_during_the_handshake_is_a_503() {
    let mut relay = started(&RelayConfig::default());
    relay
        .close(
            sockwright::frame::CloseCode::GOING_AWAY,
            "relay shutting down",
        )
        .expect("closes");
    refused_with(&mut relay, 503, "relay shutting down");
}
