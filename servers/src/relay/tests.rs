//! The relay's routing, and the [`Proxy`] driven by hand in virtual time: no sockets, the
//! client and the upstream played by core connections.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use sockwright::conn::{Config, Connection, Event, Message as CoreMessage};
use sockwright::frame::CloseCode;
use sockwright::handshake::{validate_request, Parsed, RequestParser, ServerConfig};
use sockwright::relay::Side;

use super::proxy::{Proxy, Upstream};
use super::*;

fn get(path: &str) -> Request {
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    match RequestParser::new(Default::default()).feed(head.as_bytes()) {
        Ok(Parsed::Complete { head, .. }) => head,
        other => panic!("{other:?}"),
    }
}

#[test]
fn routes_parse() {
    let (path, url) = parse_route("/chat=wss://10.0.0.5:9443/im?topic=a").unwrap();
    assert_eq!(path, "/chat");
    assert!(url.is_secure());
    assert_eq!(url.target(), "/im?topic=a");
    for bad in [
        "/chat",
        "chat=ws://x/",
        "/=ws://x/",
        "/ping=ws://x/",
        "/a?b=ws://x/",
        "/chat=http://x/",
    ] {
        assert!(parse_route(bad).is_err(), "{bad}");
    }
}

#[test]
fn routing() {
    let url = WsUrl::parse("ws://127.0.0.1:9/ws").unwrap();
    let routes = Routes::new(vec![("/chat".into(), url.clone())]);
    assert!(matches!(routes.route(&get("/chat")), Route::Upgrade(_)));
    assert!(matches!(routes.route(&get("/chat?x=1")), Route::Upgrade(_)));
    assert_eq!(routes.upstream("/chat"), Some(&url));
    assert!(matches!(routes.route(&get("/ping")), Route::Respond(_)));
    match routes.route(&get("/nope")) {
        Route::Reject(r) => assert_eq!(r.status(), 404),
        other => panic!("{other:?}"),
    }
    match routes.route(&get("/")) {
        Route::Respond(page) => {
            let page = String::from_utf8(page).unwrap();
            assert!(
                page.contains(r#"name="sockwright-path" content="/chat""#),
                "{page}"
            );
            assert!(!page.contains(r#"content="/ws""#), "{page}");
        }
        other => panic!("{other:?}"),
    }
}

const T0: Duration = Duration::from_secs(100);

fn service(options: ServerOptions) -> Arc<Service> {
    let relay = RelayOptions {
        routes: vec![(
            "/chat".into(),
            WsUrl::parse("ws://127.0.0.1:9001/ws").unwrap(),
        )],
        config: RelayConfig::default(),
        upstream_tls: None,
    };
    Arc::new(Service::new(relay, &options))
}

/// A proxy for a client at 10.0.0.7, and how many times it woke its runner.
fn proxy(service: &Arc<Service>) -> (Proxy, Arc<AtomicUsize>) {
    let woken = Arc::new(AtomicUsize::new(0));
    let count = woken.clone();
    let wake = Box::new(move || {
        count.fetch_add(1, Ordering::SeqCst);
    });
    let peer = SocketAddr::from(([10, 0, 0, 7], 5555));
    (Proxy::new(service.clone(), peer, T0, wake), woken)
}

/// Everything the proxy has for `side`.
fn take(proxy: &mut Proxy, side: Side) -> Vec<u8> {
    let mut out = Vec::new();
    let all = proxy
        .write_output(side, T0, |bytes| {
            out.extend_from_slice(bytes);
            Ok(bytes.len())
        })
        .unwrap();
    assert!(all);
    out
}

const UPGRADE: &str = "GET /chat?user_id=7 HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\n\
                       Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                       Sec-WebSocket-Version: 13\r\nName: alice\r\n\r\n";

/// The upstream's side: answers the relay's request with a `101`; its connection.
fn upstream_accepts(request: &[u8]) -> (Vec<u8>, Connection) {
    let head = match RequestParser::new(Default::default()).feed(request) {
        Ok(Parsed::Complete { head, trailing }) => {
            assert!(trailing.is_empty());
            head
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(head.target(), "/ws?user_id=7");
    assert_eq!(head.header_values("Name").collect::<Vec<_>>(), [b"alice"]);
    assert_eq!(
        head.header_values("X-Forwarded-For").collect::<Vec<_>>(),
        [b"10.0.0.7"]
    );
    let accepted = validate_request(&head, &ServerConfig::default()).unwrap();
    (
        accepted.response(),
        Connection::server(Config::default(), T0),
    )
}

/// A proxy whose relay is open, the client's and the upstream's connections.
fn open(service: &Arc<Service>) -> (Proxy, Arc<AtomicUsize>, Connection, Connection) {
    let (mut proxy, woken) = proxy(service);
    proxy.handle_input(Side::Front, T0, UPGRADE.as_bytes());
    assert_eq!(
        proxy.poll_connect(),
        Some(Upstream {
            host: "127.0.0.1".into(),
            port: 9001,
            timeout: RelayConfig::default().upstream_timeout,
        })
    );
    assert_eq!(proxy.poll_connect(), None);
    // The client waits for the upstream; nothing is sent before the connect.
    assert!(!proxy.wants_read(Side::Front));
    assert!(take(&mut proxy, Side::Back).is_empty());
    proxy.handle_back_connected(T0);
    let (response, upstream) = upstream_accepts(&take(&mut proxy, Side::Back));
    assert!(take(&mut proxy, Side::Front).is_empty());
    proxy.handle_input(Side::Back, T0, &response);
    let front = take(&mut proxy, Side::Front);
    assert!(front.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
    assert!(proxy.wants_read(Side::Front) && proxy.wants_read(Side::Back));
    let client = Connection::client(Config::default(), T0, || [1, 2, 3, 4]);
    (proxy, woken, client, upstream)
}

fn events(conn: &mut Connection, bytes: &[u8]) -> Vec<Event> {
    conn.handle_read(T0, bytes).unwrap();
    std::iter::from_fn(|| conn.poll_event()).collect()
}

#[test]
fn plain_requests_are_answered_and_the_connection_ends() {
    let service = service(ServerOptions::default());
    for (request, status) in [
        ("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n", "200 OK"),
        ("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", "404 Not Found"),
        ("GET /chat HTTP/1.1\r\nHost: x\r\n\r\n", "400 Bad Request"),
        ("BAD\r\n\r\n", "400 Bad Request"),
    ] {
        let (mut proxy, _) = proxy(&service);
        // In two pieces: the head is parsed across reads.
        let (a, b) = request.split_at(5);
        proxy.handle_input(Side::Front, T0, a.as_bytes());
        proxy.handle_input(Side::Front, T0, b.as_bytes());
        assert_eq!(proxy.poll_connect(), None);
        let out = String::from_utf8(take(&mut proxy, Side::Front)).unwrap();
        assert!(out.starts_with(&format!("HTTP/1.1 {status}\r\n")), "{out}");
        assert!(proxy.is_finished(), "{request}");
    }
    assert_eq!(service.shared.outbox.wait_empty(Instant::now()), 0);
}

#[test]
fn an_incomplete_request_times_out() {
    let service = service(ServerOptions::default());
    let (mut proxy, _) = proxy(&service);
    proxy.handle_input(Side::Front, T0, b"GET /chat HTTP/1.1\r\n");
    assert!(!proxy.is_finished());
    let deadline = proxy.poll_timeout().unwrap();
    assert_eq!(deadline, T0 + sockwright_driver::DEFAULT_HANDSHAKE_TIMEOUT);
    proxy.handle_timeout(deadline - Duration::from_millis(1));
    assert!(!proxy.is_finished());
    proxy.handle_timeout(deadline);
    assert!(proxy.is_finished());
}

#[test]
fn messages_cross_once_the_upstream_answers() {
    let service = service(ServerOptions::default());
    let (mut proxy, _, mut client, mut upstream) = open(&service);
    assert_eq!(service.shared.outbox.len(), 1);

    client.send_text("hello").unwrap();
    let mut bytes = Vec::new();
    client.poll_transmit(&mut bytes);
    proxy.handle_input(Side::Front, T0, &bytes);
    let seen = events(&mut upstream, &take(&mut proxy, Side::Back));
    assert_eq!(seen, [Event::Message(CoreMessage::Text("hello".into()))]);

    upstream.send_binary(&[1, 2, 3]).unwrap();
    let mut bytes = Vec::new();
    upstream.poll_transmit(&mut bytes);
    proxy.handle_input(Side::Back, T0, &bytes);
    let seen = events(&mut client, &take(&mut proxy, Side::Front));
    assert_eq!(
        seen,
        [Event::Message(CoreMessage::Binary(vec![1, 2, 3].into()))]
    );

    // The upstream goes away: the client gets 1011, and once it answers, all is over.
    proxy.handle_eof(Side::Back, T0);
    assert!(proxy.is_done(Side::Back));
    let seen = events(&mut client, &take(&mut proxy, Side::Front));
    match &seen[..] {
        [Event::Closed(closed)] => {
            assert_eq!(closed.code, CloseCode::INTERNAL_ERROR);
            assert_eq!(closed.reason, "upstream connection lost");
        }
        other => panic!("{other:?}"),
    }
    let mut reply = Vec::new();
    client.poll_transmit(&mut reply);
    proxy.handle_input(Side::Front, T0, &reply);
    assert!(take(&mut proxy, Side::Front).is_empty());
    assert!(proxy.is_finished());
    assert_eq!(service.shared.outbox.len(), 0);
    drop(proxy);
    assert_eq!(service.shared.outbox.wait_empty(Instant::now()), 0);
}

#[test]
fn an_unreachable_upstream_gives_the_client_502() {
    let service = service(ServerOptions::default());
    let (mut proxy, _) = proxy(&service);
    proxy.handle_input(Side::Front, T0, UPGRADE.as_bytes());
    assert!(proxy.poll_connect().is_some());
    assert!(!proxy.is_finished());
    proxy.handle_back_connect_failed(T0, "Connection refused (os error 111)");
    assert!(proxy.is_done(Side::Back));
    let out = String::from_utf8(take(&mut proxy, Side::Front)).unwrap();
    assert!(out.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{out}");
    assert!(
        out.contains(
            "\r\n\r\nupstream ws://127.0.0.1:9001/ws could not be reached: \
             Connection refused (os error 111)"
        ),
        "{out}"
    );
    assert!(proxy.is_finished());
    drop(proxy);
    assert_eq!(service.shared.outbox.wait_empty(Instant::now()), 0);
}

#[test]
fn a_silent_upstream_times_out_with_502() {
    let service = service(ServerOptions::default());
    let (mut proxy, _) = proxy(&service);
    proxy.handle_input(Side::Front, T0, UPGRADE.as_bytes());
    proxy.handle_back_connected(T0);
    let deadline = proxy.poll_timeout().unwrap();
    assert_eq!(deadline, T0 + RelayConfig::default().upstream_timeout);
    proxy.handle_timeout(deadline);
    let out = String::from_utf8(take(&mut proxy, Side::Front)).unwrap();
    assert!(out.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{out}");
    assert!(proxy.is_finished());
}

#[test]
fn a_shutdown_closes_both_sides_with_1001() {
    let service = service(ServerOptions::default());
    let (mut proxy, woken, mut client, mut upstream) = open(&service);
    assert_eq!(
        service
            .shared
            .outbox
            .close_all(CloseCode::GOING_AWAY, "bye"),
        1
    );
    assert_eq!(woken.load(Ordering::SeqCst), 1);
    proxy.handle_wake(T0);
    for (side, conn) in [(Side::Front, &mut client), (Side::Back, &mut upstream)] {
        match &events(conn, &take(&mut proxy, side))[..] {
            [Event::Closed(closed)] => {
                assert_eq!(
                    (closed.code, closed.reason.as_str()),
                    (CloseCode::GOING_AWAY, "bye")
                )
            }
            other => panic!("{other:?}"),
        }
        let mut reply = Vec::new();
        conn.poll_transmit(&mut reply);
        proxy.handle_input(side, T0, &reply);
    }
    assert!(proxy.is_finished());
    drop(proxy);
    assert_eq!(service.shared.outbox.wait_empty(Instant::now()), 0);
}

#[test]
fn a_relay_started_during_a_shutdown_gets_503_without_a_wake() {
    let service = service(ServerOptions::default());
    service
        .shared
        .outbox
        .close_all(CloseCode::GOING_AWAY, "bye");
    let (mut proxy, woken) = proxy(&service);
    proxy.handle_input(Side::Front, T0, UPGRADE.as_bytes());
    let out = String::from_utf8(take(&mut proxy, Side::Front)).unwrap();
    assert!(
        out.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{out}"
    );
    assert_eq!(woken.load(Ordering::SeqCst), 0);
    assert!(proxy.is_finished());
}

#[test]
fn a_failed_write_drops_the_side() {
    let service = service(ServerOptions::default());
    let (mut proxy, _, mut client, _) = open(&service);
    client.send_text("to the upstream").unwrap();
    let mut bytes = Vec::new();
    client.poll_transmit(&mut bytes);
    proxy.handle_input(Side::Front, T0, &bytes);
    let failed = proxy.write_output(Side::Back, T0, |_| Err(io::ErrorKind::BrokenPipe.into()));
    assert!(failed.is_err());
    assert!(proxy.is_done(Side::Back));
    assert!(!proxy.wants_read(Side::Back));
    // The client hears that the upstream is gone.
    let seen = events(&mut client, &take(&mut proxy, Side::Front));
    assert!(matches!(&seen[..], [Event::Closed(c)] if c.code == CloseCode::INTERNAL_ERROR));
}

#[test]
fn the_origin_policy_applies_to_clients() {
    let mut options = ServerOptions::default();
    options.handshake.origin =
        sockwright::handshake::OriginPolicy::AllowList(vec!["https://app.example".into()]);
    let service = service(options);
    let (mut proxy, _) = proxy(&service);
    let request = UPGRADE.replace("Name: alice", "Origin: https://evil.example");
    proxy.handle_input(Side::Front, T0, request.as_bytes());
    assert_eq!(proxy.poll_connect(), None);
    let out = String::from_utf8(take(&mut proxy, Side::Front)).unwrap();
    assert!(out.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{out}");
    assert!(out.contains("evil.example"), "{out}");
    assert!(proxy.is_finished());
}
