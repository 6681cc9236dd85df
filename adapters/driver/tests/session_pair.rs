//! A client and a server session joined by in-memory byte pipes, in virtual time: the
//! layers (TLS, handshake, connection) are joined right, whatever the runtime.

use std::sync::Arc;
use std::time::Duration;

use sockwright::frame::{CloseCode, SharedFrame};
use sockwright::handshake::{Rejection, WsUrl};
use sockwright::hub::{Delivery, HubConfig};
use sockwright_driver::{
    ClientOptions, Error, Message, Route, ServerOptions, Session, SessionEvent,
};

struct Pair {
    client: Session,
    server: Session,
    now: Duration,
    client_events: Vec<Result<SessionEvent, Error>>,
    server_events: Vec<Result<SessionEvent, Error>>,
}

impl Pair {
    fn new(url: &str, client: ClientOptions, server: ServerOptions) -> Pair {
        let url = WsUrl::parse(url).unwrap();
        Pair {
            client: Session::client(&url, Arc::new(client), Duration::ZERO).unwrap(),
            server: Session::server(Arc::new(server), Duration::ZERO),
            now: Duration::ZERO,
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    /// Moves bytes both ways, in small pieces, until neither side has any to send.
    fn drive(&mut self) {
        loop {
            let a = pump(&mut self.client, &mut self.server, self.now);
            let b = pump(&mut self.server, &mut self.client, self.now);
            while let Some(e) = self.client.poll_event() {
                self.client_events.push(e);
            }
            while let Some(e) = self.server.poll_event() {
                self.server_events.push(e);
            }
            if !a && !b {
                break;
            }
        }
    }
}

/// Writes `from`'s output into `to` in 1000-byte pieces; returns whether anything moved.
fn pump(from: &mut Session, to: &mut Session, now: Duration) -> bool {
    let mut moved = false;
    loop {
        let out = from.pending_output();
        if out.is_empty() {
            return moved;
        }
        let n = out.len().min(1000);
        let piece = out[..n].to_vec();
        from.advance_output(n);
        to.handle_input(now, &piece);
        moved = true;
    }
}

fn messages(events: &[Result<SessionEvent, Error>]) -> Vec<Message> {
    events
        .iter()
        .filter_map(|e| match e {
            Ok(SessionEvent::Message(m)) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn certs() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/certs/");
    let read = |name: &str| std::fs::read(format!("{dir}{name}")).unwrap();
    (read("server.pem"), read("server.key"), read("ca.pem"))
}

fn exchange_and_close(mut pair: Pair) {
    pair.drive();
    assert!(matches!(
        pair.client_events.first(),
        Some(Ok(SessionEvent::Opened))
    ));
    assert!(matches!(
        pair.server_events.first(),
        Some(Ok(SessionEvent::Opened))
    ));
    let big = vec![7u8; 300_000];
    pair.client.send_text("hello").unwrap();
    pair.client.send_binary(&big).unwrap();
    pair.drive();
    assert_eq!(
        messages(&pair.server_events),
        [
            Message::Text("hello".into()),
            Message::Binary(big.clone().into())
        ]
    );
    pair.server
        .send(Message::Binary(big.clone().into()))
        .unwrap();
    pair.drive();
    assert_eq!(messages(&pair.client_events), [Message::Binary(big.into())]);
    pair.client.close(CloseCode::NORMAL, "bye").unwrap();
    pair.drive();
    assert!(pair.client.is_finished() && pair.server.is_finished());
    // The server hears the reason; the client hears the server's echo of the code.
    for (events, reason) in [(&pair.client_events, ""), (&pair.server_events, "bye")] {
        let Some(Ok(SessionEvent::Closed(closed))) = events.last() else {
            panic!("no close: {events:?}");
        };
        assert_eq!(
            (closed.code, closed.reason.as_str()),
            (CloseCode::NORMAL, reason)
        );
    }
}

#[test]
fn plain_sessions_handshake_exchange_and_close() {
    let pair = Pair::new(
        "ws://localhost/chat",
        Default::default(),
        Default::default(),
    );
    exchange_and_close(pair);
}

#[test]
fn tls_sessions_handshake_exchange_and_close() {
    let (cert, key, ca) = certs();
    let mut server = ServerOptions::default();
    server.tls = Some(sockwright_driver::tls::server_config_from_pem(&cert, &key).unwrap());
    let mut client = ClientOptions::default();
    client.tls = Some(sockwright_driver::tls::client_config_with_roots(&ca).unwrap());
    exchange_and_close(Pair::new("wss://localhost/chat", client, server));
}

#[test]
fn a_client_that_does_not_trust_the_certificate_fails_with_a_tls_error() {
    let (cert, key, _) = certs();
    let mut server = ServerOptions::default();
    server.tls = Some(sockwright_driver::tls::server_config_from_pem(&cert, &key).unwrap());
    let mut client = ClientOptions::default();
    // The server's own certificate is not a CA: nothing chains to a trusted root.
    client.tls = Some(sockwright_driver::tls::client_config_with_roots(&cert).unwrap());
    let mut pair = Pair::new("wss://localhost/", client, server);
    pair.drive();
    assert!(
        matches!(pair.client_events.as_slice(), [Err(Error::Tls(_))]),
        "{:?}",
        pair.client_events
    );
    assert!(pair.client.is_finished());
    // The server hears the client's alert.
    assert!(matches!(
        pair.server_events.as_slice(),
        [Err(Error::Tls(_))]
    ));
}

#[test]
fn the_hook_routes_rejects_and_answers_plain_requests() {
    let hook = |req: &sockwright::handshake::Request| match req.path() {
        "/ws" => Route::Upgrade(vec![("X-Room".into(), "lobby".into())]),
        "/ping" => Route::Respond(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npong".to_vec()),
        other => Route::Reject(Rejection::not_found(other)),
    };
    let server = || ServerOptions::default().with_hook(hook);

    let mut ok = Pair::new("ws://h/ws", Default::default(), server());
    ok.drive();
    let Some(sockwright_driver::Handshake::Client { response, .. }) = ok.client.handshake() else {
        panic!("{:?}", ok.client_events);
    };
    assert_eq!(response.header("x-room"), Some(&b"lobby"[..]));

    let mut missing = Pair::new("ws://h/nope", Default::default(), server());
    missing.drive();
    assert!(matches!(&missing.server_events[..], [Err(Error::Rejected(r))] if r.status() == 404));
    assert!(matches!(
        &missing.client_events[..],
        [Err(Error::Handshake(_))]
    ));
    assert!(missing.server.is_finished());

    let mut server = Session::server(Arc::new(server()), Duration::ZERO);
    server.handle_input(Duration::ZERO, b"GET /ping HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(server.pending_output().ends_with(b"\r\n\r\npong"));
    assert!(server.is_finished());
    assert!(server.poll_event().is_none());
}

#[test]
fn a_silent_peer_hits_the_handshake_timeout() {
    let options = ServerOptions::default();
    let timeout = options.handshake_timeout;
    let mut server = Session::server(Arc::new(options), Duration::ZERO);
    server.handle_input(Duration::ZERO, b"GET / HTTP/1.1\r\n");
    assert_eq!(server.poll_timeout(), Some(timeout));
    server.handle_timeout(timeout - Duration::from_millis(1));
    assert!(server.poll_event().is_none());
    server.handle_timeout(timeout);
    assert!(matches!(
        server.poll_event(),
        Some(Err(Error::HandshakeTimeout))
    ));
    assert!(server.is_finished() && server.poll_timeout().is_none());
}

#[test]
fn frames_sent_right_behind_the_request_are_not_lost() {
    let url = WsUrl::parse("ws://h/").unwrap();
    let mut client = Session::client(&url, Default::default(), Duration::ZERO).unwrap();
    let mut server = Session::server(Default::default(), Duration::ZERO);
    // The client's request and the server's reply, then a message from the server written
    // in the same burst as its 101.
    pump(&mut client, &mut server, Duration::ZERO);
    server.poll_event();
    server.send_text("early").unwrap();
    let mut burst = Vec::new();
    while !server.pending_output().is_empty() {
        let out = server.pending_output().to_vec();
        server.advance_output(out.len());
        burst.extend(out);
    }
    client.handle_input(Duration::ZERO, &burst);
    assert_eq!(client.poll_event().unwrap().unwrap(), SessionEvent::Opened);
    assert_eq!(
        client.poll_event().unwrap().unwrap(),
        SessionEvent::Message(Message::Text("early".into()))
    );
}

#[test]
fn commands_before_the_handshake_are_refused() {
    let mut server = Session::server(Default::default(), Duration::ZERO);
    assert!(matches!(server.send_text("x"), Err(Error::NotOpen)));
}

#[test]
fn hub_frames_are_shared_and_get_the_slow_consumer_policy() {
    let mut pair = Pair::new("ws://localhost/im", Default::default(), Default::default());
    let mut config = HubConfig::default();
    config.max_queued_bytes = 3000;
    let frame = SharedFrame::binary(&[1; 1200]);
    assert_eq!(
        pair.server.deliver_shared(&config, &frame),
        Delivery::Gone,
        "not before the handshake"
    );
    pair.drive();
    assert_eq!(
        pair.server.deliver_shared(&config, &frame),
        Delivery::Queued
    );
    pair.drive();
    assert_eq!(
        messages(&pair.client_events),
        [Message::Binary(vec![1; 1200].into())]
    );
    // Nothing written meanwhile: the third frame does not fit and the policy closes.
    assert_eq!(
        pair.server.deliver_shared(&config, &frame),
        Delivery::Queued
    );
    assert_eq!(
        pair.server.deliver_shared(&config, &frame),
        Delivery::Queued
    );
    assert_eq!(
        pair.server.deliver_shared(&config, &frame),
        Delivery::Closed
    );
    assert_eq!(pair.server.deliver_shared(&config, &frame), Delivery::Gone);
    pair.drive();
    assert_eq!(messages(&pair.client_events).len(), 3);
    let Some(Ok(SessionEvent::Closed(closed))) = pair.client_events.last() else {
        panic!("no close: {:?}", pair.client_events);
    };
    assert_eq!(closed.code, CloseCode::TRY_AGAIN_LATER);
    // A client cannot send a server's shared frame.
    assert!(pair.client.send_shared(&frame).is_err());
}
