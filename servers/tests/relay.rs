//! The `sockwright relay` binary on each runtime, from the outside: a tungstenite client in
//! front, and behind it either the `sockwright echo` binary or an upstream of the test's own
//! (tungstenite on a thread) that records what reaches it.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{get, tcp, tls, tls_args, ws, ws_over, Restarting, Sockwright, Tcp, STEP};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::server::{Request, Response};
use tungstenite::http::HeaderValue;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Error as WsError, Message, WebSocket};

/// Reads the next message that is not a ping or pong.
fn read_data<S: Read + Write>(ws: &mut WebSocket<S>) -> Message {
    loop {
        match ws.read().expect("read") {
            Message::Ping(_) | Message::Pong(_) => {}
            other => return other,
        }
    }
}

/// Reads until the connection is over; the close frame received, if any.
fn read_to_close<S: Read + Write>(ws: &mut WebSocket<S>) -> Option<CloseFrame> {
    let mut frame = None;
    loop {
        match ws.read() {
            Ok(Message::Close(close)) => frame = frame.or(close),
            Ok(_) => {}
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => return frame,
            Err(WsError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => return frame,
            Err(e) => panic!("reading to the close: {e}"),
        }
    }
}

/// Asserts the next data read is a close with `code` whose reason contains `reason`.
fn expect_close<S: Read + Write>(ws: &mut WebSocket<S>, code: CloseCode, reason: &str) {
    match read_to_close(ws) {
        Some(frame) => {
            assert_eq!(frame.code, code, "{frame:?}");
            assert!(frame.reason.contains(reason), "{frame:?}");
        }
        None => panic!("no close frame; expected {code} {reason:?}"),
    }
}

fn relay(args: &[&str]) -> Sockwright {
    let command: Vec<&str> = ["relay"].iter().chain(args).copied().collect();
    Sockwright::start(&command)
}

/// A port on which nothing listens (bound, then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What the test's own upstream saw.
#[derive(Debug)]
enum Seen {
    /// A request head: its target and headers (lowercase names, in order).
    Request(String, Vec<(String, String)>),
    /// A close frame from the relay.
    Close(u16, String),
    /// A data message.
    Data(Message),
}

/// An upstream of the test's own on a thread: accepts connections one after the other,
/// reports each request head, chooses subprotocol `superchat` when offered, adds
/// `Set-Cookie: relayed=yes` and `X-Upstream: 1`, then runs `script` on it.
// The callback's error type is tungstenite's (an HTTP response), large or not.
#[allow(clippy::result_large_err)]
fn upstream<F>(script: F) -> (SocketAddr, Receiver<Seen>)
where
    F: Fn(usize, &mut WebSocket<Tcp>, &Sender<Seen>) + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { return };
            let stream = Restarting(stream);
            stream.set_read_timeout(Some(STEP)).unwrap();
            let seen = tx.clone();
            let callback = move |request: &Request, mut response: Response| {
                let headers = request
                    .headers()
                    .iter()
                    .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("?").to_owned()))
                    .collect();
                let target = request.uri().to_string();
                let _ = seen.send(Seen::Request(target, headers));
                let offered = request
                    .headers()
                    .get("Sec-WebSocket-Protocol")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.split(',').any(|p| p.trim() == "superchat"));
                let headers = response.headers_mut();
                if offered {
                    headers.insert(
                        "Sec-WebSocket-Protocol",
                        HeaderValue::from_static("superchat"),
                    );
                }
                headers.insert("Set-Cookie", HeaderValue::from_static("relayed=yes"));
                headers.insert("X-Upstream", HeaderValue::from_static("1"));
                Ok(response)
            };
            let Ok(mut ws) = tungstenite::accept_hdr(stream, callback) else {
                continue;
            };
            script(n, &mut ws, &tx);
        }
    });
    (addr, rx)
}

/// Reads on `ws` until its close frame, reporting data messages and the close.
fn report_until_close(ws: &mut WebSocket<Tcp>, seen: &Sender<Seen>) {
    loop {
        match ws.read() {
            Ok(Message::Close(frame)) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| {
                    (u16::from(f.code), f.reason.as_str().to_owned())
                });
                let _ = seen.send(Seen::Close(code, reason));
            }
            Ok(message) if message.is_text() || message.is_binary() => {
                let _ = seen.send(Seen::Data(message));
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

fn next(seen: &Receiver<Seen>) -> Seen {
    seen.recv_timeout(STEP).expect("the upstream saw nothing")
}

/// Echo through the relay (types, sizes), the plain HTTP answers, the 502s, the close
/// handshake through, and an upstream killed mid-stream.
fn echo_through_and_failures(runtime: &str) {
    let echo = Sockwright::echo(&[]);
    let down = closed_port();
    // Connections to it complete (the kernel's backlog) but nobody answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let routes = [
        format!("/chat=ws://{}/ws", echo.addr),
        format!("/refused=ws://{}/nope", echo.addr),
        format!("/down=ws://127.0.0.1:{down}/ws"),
        format!("/silent=ws://{}/ws", silent.local_addr().unwrap()),
    ];
    let server = relay(&[
        "--runtime",
        runtime,
        "--route",
        &routes[0],
        "--route",
        &routes[1],
        "--route",
        &routes[2],
        "--route",
        &routes[3],
        "--upstream-timeout",
        "500ms",
    ]);
    let addr = server.addr;

    let mut client = ws(addr, "/chat", None).expect("connect to /chat");
    client.send(Message::text("hello")).unwrap();
    assert_eq!(read_data(&mut client), Message::text("hello"));
    client.send(Message::binary(vec![0, 1, 2, 255])).unwrap();
    assert_eq!(read_data(&mut client), Message::binary(vec![0, 1, 2, 255]));
    let big: Vec<u8> = (0..300_000).map(|i| (i % 251) as u8).collect();
    client.send(Message::binary(big.clone())).unwrap();
    assert_eq!(read_data(&mut client), Message::binary(big));
    let text = "é".repeat(70_000);
    client.send(Message::text(text.clone())).unwrap();
    assert_eq!(read_data(&mut client), Message::text(text));
    client
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        }))
        .unwrap();
    // The core's reply echoes the code (not the reason).
    expect_close(&mut client, CloseCode::Normal, "");

    // Plain HTTP: /ping, the page (for the first route), a plain GET to a route, 404.
    assert!(get(addr, "/ping").ends_with("\r\n\r\npong\n"));
    let page = get(addr, "/");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(
        page.contains(r#"name="sockwright-path" content="/chat""#),
        "{page}"
    );
    let plain = get(addr, "/chat");
    assert!(plain.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{plain}");
    assert!(plain.contains("Upgrade header is missing"), "{plain}");
    assert!(get(addr, "/nope").starts_with("HTTP/1.1 404 Not Found\r\n"));

    // An upstream that refuses, and one that is not there: 502 with the reason.
    match ws(addr, "/refused", None) {
        Err(WsError::Http(response)) => {
            assert_eq!(response.status(), 502);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default());
            assert!(
                body.contains("refused the WebSocket handshake with 404"),
                "{body}"
            );
        }
        other => panic!("expected 502, got {:?}", other.map(|_| ())),
    }
    match ws(addr, "/down", None) {
        Err(WsError::Http(response)) => {
            assert_eq!(response.status(), 502);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default());
            assert!(body.contains("could not be reached"), "{body}");
            assert!(body.contains(&format!("127.0.0.1:{down}")), "{body}");
        }
        other => panic!("expected 502, got {:?}", other.map(|_| ())),
    }

    match ws(addr, "/silent", None) {
        Err(WsError::Http(response)) => {
            assert_eq!(response.status(), 502);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default());
            assert!(
                body.contains("did not answer the WebSocket handshake within 500 ms"),
                "{body}"
            );
        }
        other => panic!("expected 502, got {:?}", other.map(|_| ())),
    }

    // The upstream process killed mid-stream: the client gets 1011.
    let mut client = ws(addr, "/chat", None).expect("connect to /chat");
    client.send(Message::text("before")).unwrap();
    assert_eq!(read_data(&mut client), Message::text("before"));
    drop(echo); // kills it
    expect_close(&mut client, CloseCode::Error, "upstream connection lost");

    // One line per relay opened, one per relay ended, with how.
    server.wait_log("upstream lost (1006, no close frame");
    let log = server.log();
    if std::env::var_os("SHOW_LOG").is_some() {
        eprintln!("{log}");
    }
    let open = format!("relay /chat -> ws://{}/ws: open", addr_of(&routes[0]));
    assert!(log.contains(&open), "{log}");
    assert!(
        log.contains("closed; client closed 1000 \"bye\" by client; upstream closed 1000"),
        "{log}"
    );
    assert!(log.contains("refused 502 Bad Gateway"), "{log}");
}

/// The upstream address in a `--route` value.
fn addr_of(route: &str) -> &str {
    let url = route.split_once("ws://").unwrap().1;
    url.split_once('/').unwrap().0
}

/// What reaches the upstream (forwarded headers, X-Forwarded-For, not hop-by-hop ones), what
/// comes back (subprotocol, end-to-end headers), and closes both ways.
fn headers_and_closes(runtime: &str) {
    let (up, seen) = upstream(|n, ws, seen| match n {
        // Echoes one message, then closes with its own code.
        0 => {
            let message = read_data(ws);
            ws.send(message).unwrap();
            ws.close(Some(CloseFrame {
                code: CloseCode::from(4000),
                reason: "upstream says bye".into(),
            }))
            .unwrap();
            let _ = read_to_close(ws);
        }
        _ => report_until_close(ws, seen),
    });
    let route = format!("/chat=ws://{up}/im?room=a");
    let server = relay(&[
        "--runtime",
        runtime,
        "--route",
        &route,
        "--forward-header",
        "X-Custom",
        "--forward-header",
        "X-Dropped",
    ]);
    let url = format!("ws://{}/chat?user_id=7", server.addr);
    let mut request = url.as_str().into_client_request().unwrap();
    let headers = request.headers_mut();
    for (name, value) in [
        ("Name", "alice"),
        ("Topic", "news"),
        ("X-Custom", "yes"),
        ("Cookie", "secret=1"),
        ("X-Dropped", "hop"),
        ("Connection", "Upgrade, X-Dropped"),
        ("Keep-Alive", "timeout=5"),
        ("X-Forwarded-For", "10.1.2.3"),
        ("Sec-WebSocket-Protocol", "chat, superchat"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    let (mut client, response) = tungstenite::client(request, tcp(server.addr)).unwrap();

    // Back to the client: the upstream's choice and its end-to-end headers.
    let back = response.headers();
    assert_eq!(back.get("Sec-WebSocket-Protocol").unwrap(), "superchat");
    assert_eq!(back.get("Set-Cookie").unwrap(), "relayed=yes");
    assert_eq!(back.get("X-Upstream").unwrap(), "1");

    // At the upstream: the route's URL with the client's query, the forwarded headers.
    let Seen::Request(target, headers) = next(&seen) else {
        panic!("no request first")
    };
    assert_eq!(target, "/im?room=a&user_id=7");
    let header = |name: &str| {
        headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(header("name"), ["alice"]);
    assert_eq!(header("topic"), ["news"]);
    assert_eq!(header("x-custom"), ["yes"]);
    assert_eq!(header("x-forwarded-for"), ["10.1.2.3, 127.0.0.1"]);
    assert_eq!(header("host"), [up.to_string()]);
    assert!(header("cookie").is_empty(), "{headers:?}");
    assert!(
        header("x-dropped").is_empty(),
        "named by Connection: {headers:?}"
    );
    assert!(header("keep-alive").is_empty(), "{headers:?}");
    assert_eq!(header("sec-websocket-protocol"), ["chat, superchat"]);

    // The upstream echoes, then closes with 4000: the client gets its code and reason.
    client.send(Message::text("ping?")).unwrap();
    assert_eq!(read_data(&mut client), Message::text("ping?"));
    expect_close(&mut client, CloseCode::from(4000), "upstream says bye");

    // The client closes with its code: the upstream gets it.
    let mut client = ws(server.addr, "/chat", None).unwrap();
    assert!(matches!(next(&seen), Seen::Request(..)));
    client.send(Message::binary(vec![9; 10])).unwrap();
    match next(&seen) {
        Seen::Data(message) => assert_eq!(message, Message::binary(vec![9; 10])),
        other => panic!("{other:?}"),
    }
    client
        .close(Some(CloseFrame {
            code: CloseCode::from(4001),
            reason: "client done".into(),
        }))
        .unwrap();
    match next(&seen) {
        Seen::Close(code, reason) => assert_eq!((code, reason.as_str()), (4001, "client done")),
        other => panic!("{other:?}"),
    }
    expect_close(&mut client, CloseCode::from(4001), "");

    // The client vanishes without a close: the upstream gets 1001.
    let client = ws(server.addr, "/chat", None).unwrap();
    assert!(matches!(next(&seen), Seen::Request(..)));
    drop(client);
    match next(&seen) {
        Seen::Close(code, reason) => {
            assert_eq!((code, reason.as_str()), (1001, "client went away"))
        }
        other => panic!("{other:?}"),
    }
}

/// wss on both sides: a TLS client in front (the test CA), a TLS upstream behind (the
/// `sockwright echo` binary with the test certificate, trusted with --upstream-ca).
fn wss_both_sides(runtime: &str) {
    let tls_echo_args = tls_args();
    let echo_args: Vec<&str> = tls_echo_args.iter().map(String::as_str).collect();
    let echo = Sockwright::echo(&echo_args);
    // `localhost`: looked up by name (it may resolve to ::1 first, where nothing listens).
    let route = format!("/secure=wss://localhost:{}/ws", echo.addr.port());
    let ca = format!("{}/../tests/certs/ca.pem", env!("CARGO_MANIFEST_DIR"));
    let mut args = vec![
        "--runtime".to_owned(),
        runtime.to_owned(),
        "--route".to_owned(),
        route,
        "--upstream-ca".to_owned(),
        ca,
    ];
    args.extend(tls_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = relay(&args);
    let url = format!("wss://localhost:{}/secure", server.addr.port());
    let mut client = ws_over(tls(server.addr), &url, None).expect("wss handshake");
    client.send(Message::text("secure")).unwrap();
    assert_eq!(read_data(&mut client), Message::text("secure"));
    let data: Vec<u8> = (0..200_000).map(|i| (i % 7) as u8).collect();
    client.send(Message::binary(data.clone())).unwrap();
    assert_eq!(read_data(&mut client), Message::binary(data));
    client.close(None).unwrap();
    // A close without a code is answered without one.
    assert_eq!(read_to_close(&mut client), None);

    // The same upstream without the CA: the relay does not trust it, the client gets 502.
    let untrusted = relay(&[
        "--runtime",
        runtime,
        "--route",
        &format!("/secure=wss://localhost:{}/ws", echo.addr.port()),
        "--upstream-ca",
        &format!("{}/../tests/certs/server.pem", env!("CARGO_MANIFEST_DIR")),
    ]);
    match ws(untrusted.addr, "/secure", None) {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 502),
        other => panic!("expected 502, got {:?}", other.map(|_| ())),
    }
}

/// A client that sends more than a silent upstream takes: the relay's queue towards the
/// upstream fills and the client is no longer read (its writes block); once the upstream
/// reads, every message arrives, in order.
fn backpressure(runtime: &str) {
    const MESSAGES: u32 = 64;
    const SIZE: usize = 1 << 20;
    let reading = Arc::new(AtomicBool::new(false));
    let start_reading = reading.clone();
    let (up, seen) = upstream(move |_, ws, seen| {
        while !start_reading.load(Ordering::Acquire) {
            thread::sleep(Duration::from_millis(20));
        }
        for _ in 0..MESSAGES {
            let _ = seen.send(Seen::Data(read_data(ws)));
        }
    });
    let route = format!("/bulk=ws://{up}/");
    let server = relay(&[
        "--runtime",
        runtime,
        "--route",
        &route,
        "--max-message-size",
        "1MiB",
        "--ping-interval",
        "0",
    ]);
    let mut client = ws(server.addr, "/bulk", None).unwrap();
    assert!(matches!(next(&seen), Seen::Request(..)));
    let sent = Arc::new(AtomicBool::new(false));
    let all_sent = sent.clone();
    let sender = thread::spawn(move || {
        for i in 0..MESSAGES {
            let mut data = vec![(i % 251) as u8; SIZE];
            data[..4].copy_from_slice(&i.to_be_bytes());
            client.send(Message::binary(data)).unwrap();
        }
        all_sent.store(true, Ordering::Release);
        client
    });
    // 64 MiB is far more than the relay's queue (32 MiB) plus the socket buffers.
    thread::sleep(Duration::from_secs(2));
    assert!(
        !sent.load(Ordering::Acquire),
        "the relay read 64 MiB that its upstream did not take"
    );
    reading.store(true, Ordering::Release);
    for i in 0..MESSAGES {
        match next(&seen) {
            Seen::Data(Message::Binary(data)) => {
                assert_eq!(data.len(), SIZE);
                assert_eq!(&data[..4], &i.to_be_bytes(), "message {i} out of order");
            }
            other => panic!("message {i}: {other:?}"),
        }
    }
    let _client = sender.join().unwrap();
}

/// SIGTERM with a relay open: the client and the upstream both get 1001, the process exits 0.
fn shutdown(runtime: &str) {
    let (up, seen) = upstream(|_, ws, seen| report_until_close(ws, seen));
    let route = format!("/chat=ws://{up}/");
    let mut server = relay(&["--runtime", runtime, "--route", &route]);
    let mut client = ws(server.addr, "/chat", None).unwrap();
    assert!(matches!(next(&seen), Seen::Request(..)));
    client.send(Message::text("hi")).unwrap();
    assert!(matches!(next(&seen), Seen::Data(_)));
    server.wait_log(": open");
    server.sigterm();
    expect_close(&mut client, CloseCode::Away, "the server is shutting down");
    match next(&seen) {
        Seen::Close(code, reason) => {
            assert_eq!(
                (code, reason.as_str()),
                (1001, "the server is shutting down")
            )
        }
        other => panic!("{other:?}"),
    }
    let status = server
        .wait_exit(STEP)
        .expect("the relay exits after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", server.log());
    let log = server.log();
    assert!(log.contains("closed; client closed 1001"), "{log}");
}

/// The relay in front of the `sockwright hub` binary: the client's `Topic` and `Name`
/// headers and query reach the hub (its session is in the topic the header names), messages
/// cross both ways through the hub, a backend's publish reaches the relayed client, the hub's
/// refusal comes back as 502 naming its status, and the relayed client's close ends its hub
/// session only.
fn to_a_hub(runtime: &str) {
    let hub = Sockwright::hub(&["--runtime", runtime]);
    let route = format!("/im=ws://{}/im", hub.addr);
    let server = relay(&["--runtime", runtime, "--route", &route]);

    // Direct to the hub: bob in "news", carol in the default room. Each is registered once
    // its own first message came back (the hub registers a session after its 101).
    let mut bob = ws(hub.addr, "/im?user_id=bob&topic=news", None).expect("bob");
    bob.send(Message::text("bob here")).unwrap();
    assert_eq!(read_data(&mut bob), Message::text("bob here"));
    let mut carol = ws(hub.addr, "/im?user_id=carol", None).expect("carol");
    carol.send(Message::text("carol here")).unwrap();
    assert_eq!(read_data(&mut carol), Message::text("carol here"));

    // Relayed: ann, in topic "news" by header only; bob hears her first message.
    let url = format!("ws://{}/im?user_id=ann", server.addr);
    let mut request = url.as_str().into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("Topic", HeaderValue::from_static("news"));
    headers.insert("Name", HeaderValue::from_static("Ann"));
    let (mut ann, _) = tungstenite::client(request, tcp(server.addr)).expect("relayed client");
    ann.send(Message::text("ann here")).unwrap();
    assert_eq!(read_data(&mut ann), Message::text("ann here"));
    assert_eq!(read_data(&mut bob), Message::text("ann here"));

    // A publish to "news" counts ann (through the relay) and bob, not carol; both get it.
    let reply = common::post(hub.addr, "/publish?topic=news", None, b"headline");
    assert!(reply.contains("\"recipients\":2"), "{reply}");
    assert_eq!(read_data(&mut ann), Message::text("headline"));
    assert_eq!(read_data(&mut bob), Message::text("headline"));

    // Ann's messages reach bob through the relay and the hub, types kept; and come back to her.
    ann.send(Message::text("hi from ann")).unwrap();
    ann.send(Message::binary(vec![1, 2, 3])).unwrap();
    for ws in [&mut bob, &mut ann] {
        assert_eq!(read_data(ws), Message::text("hi from ann"));
        assert_eq!(read_data(ws), Message::binary(vec![1, 2, 3]));
    }
    // Bob's reach ann.
    bob.send(Message::text("hi ann")).unwrap();
    assert_eq!(read_data(&mut ann), Message::text("hi ann"));
    assert_eq!(read_data(&mut bob), Message::text("hi ann"));

    // The hub refuses a relayed request without user_id: 502 naming the hub's reason.
    let Some(refused) = relayed_refusal(server.addr, "/im") else {
        panic!("the relay upgraded /im without user_id");
    };
    assert!(refused.starts_with("HTTP/1.1 502 "), "{refused}");
    assert!(
        refused.contains("refused the WebSocket handshake with 400"),
        "{refused}"
    );

    // Ann leaves: a publish to "news" now reaches bob only; carol never heard a thing.
    ann.close(None).unwrap();
    let _ = read_to_close(&mut ann);
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let reply = common::post(hub.addr, "/publish?topic=news", None, b"later");
        assert_eq!(read_data(&mut bob), Message::text("later"));
        if reply.contains("\"recipients\":1") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{reply}");
        thread::sleep(Duration::from_millis(20));
    }
    carol.send(Message::text("carol only")).unwrap();
    assert_eq!(read_data(&mut carol), Message::text("carol only"));
}

/// An upstream whose last message and FIN arrive together (the relay usually sees both in
/// one readiness event): the client gets the message, then 1011, at once rather than after
/// a keepalive timeout (a runner that stopped reading at the message's short read would
/// never see the FIN announced again).
fn last_message_and_fin_together(runtime: &str) {
    let (up, _seen) = upstream(|_, ws, _| {
        let _ = read_data(ws);
        ws.send(Message::text("last words")).unwrap();
        ws.get_mut().shutdown(std::net::Shutdown::Write).unwrap();
        // Hold the socket (a read side left open) until the relay lets it go.
        while ws.read().is_ok() {}
    });
    let route = format!("/chat=ws://{up}/");
    let server = relay(&["--runtime", runtime, "--route", &route]);
    let mut client = ws(server.addr, "/chat", None).unwrap();
    client.send(Message::text("go")).unwrap();
    assert_eq!(read_data(&mut client), Message::text("last words"));
    expect_close(&mut client, CloseCode::Error, "upstream connection lost");
}

/// The relay's answer to a WebSocket upgrade of `path` that the upstream refuses.
fn relayed_refusal(addr: SocketAddr, path: &str) -> Option<String> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    let response = common::http(tcp(addr), &request);
    (!response.starts_with("HTTP/1.1 101")).then_some(response)
}

macro_rules! per_runtime {
    ($($module:ident => $runtime:literal),*) => {
        $(
            mod $module {
                #[test]
                fn echo_through_and_failures() {
                    super::echo_through_and_failures($runtime);
                }

                #[test]
                fn headers_and_closes() {
                    super::headers_and_closes($runtime);
                }

                #[test]
                fn wss_both_sides() {
                    super::wss_both_sides($runtime);
                }

                #[test]
                fn backpressure() {
                    super::backpressure($runtime);
                }

                #[test]
                fn shutdown() {
                    super::shutdown($runtime);
                }

                #[test]
                fn to_a_hub() {
                    super::to_a_hub($runtime);
                }

                #[test]
                fn last_message_and_fin_together() {
                    super::last_message_and_fin_together($runtime);
                }
            }
        )*
    };
}

per_runtime!(on_std => "std", on_mio => "mio", on_smol => "smol", on_tokio => "tokio");

#[test]
fn bad_arguments_are_refused_before_listening() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sockwright"))
        .args([
            "relay",
            "--route",
            "/a=ws://x/",
            "--forward-header",
            "Connection",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hop-by-hop"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sockwright"))
        .args(["relay", "--route", "chat=ws://x/"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
