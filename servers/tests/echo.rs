//! The `sockwright echo` binary on each runtime, from the outside: echoes, plain HTTP
//! answers, refusals, keepalive, the message limit, wss, and graceful shutdown on SIGTERM.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{get, http, raw, tls, tls_args, ws, ws_over, Sockwright, STEP};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Error as WsError, Message};

const ALLOWED: &str = "http://allowed.example";

/// Reads the next message that is not a ping or pong.
fn read_data<S: std::io::Read + std::io::Write>(ws: &mut tungstenite::WebSocket<S>) -> Message {
    loop {
        match ws.read().expect("read") {
            Message::Ping(_) | Message::Pong(_) => {}
            other => return other,
        }
    }
}

/// Everything but TLS on one server, ended by SIGTERM with a client connected.
fn echo_http_limits_and_shutdown(runtime: &str) {
    let mut server = Sockwright::echo(&[
        "--runtime",
        runtime,
        "--origin",
        ALLOWED,
        "--max-message-size",
        "64KiB",
        "--ping-interval",
        "300ms",
        "--idle-timeout",
        "5s",
    ]);
    let addr = server.addr;

    // Echo: each message with its own type.
    let mut client = ws(addr, "/ws", None).expect("connect to /ws");
    client.send(Message::text("hello")).unwrap();
    assert_eq!(read_data(&mut client), Message::text("hello"));
    let data: Vec<u8> = (0..70_000 / 2).map(|i| (i % 251) as u8).collect();
    client.send(Message::binary(data.clone())).unwrap();
    assert_eq!(read_data(&mut client), Message::binary(data));
    client.send(Message::text("")).unwrap();
    assert_eq!(read_data(&mut client), Message::text(""));

    // Keepalive: the server pings a client that has gone quiet (--ping-interval).
    let start = Instant::now();
    match client.read().expect("read while waiting for a ping") {
        Message::Ping(_) => {}
        other => panic!("expected a ping, got {other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(3));
    client.flush().unwrap(); // the pong
    client.send(Message::text("still here")).unwrap();
    assert_eq!(read_data(&mut client), Message::text("still here"));

    // A browser page of an allowed origin connects; another origin gets 403 with a reason.
    let mut allowed = ws(addr, "/ws", Some(ALLOWED)).expect("allowed origin");
    allowed.send(Message::text("from the page")).unwrap();
    assert_eq!(read_data(&mut allowed), Message::text("from the page"));
    match ws(addr, "/ws", Some("http://evil.example")) {
        Err(WsError::Http(response)) => {
            assert_eq!(response.status(), 403);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default());
            assert!(body.contains("evil.example"), "{body}");
        }
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }

    // A message over --max-message-size closes the connection with 1009.
    let mut big = ws(addr, "/ws", None).unwrap();
    big.send(Message::binary(vec![7u8; 100 * 1024])).unwrap();
    match read_data(&mut big) {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("expected a 1009 close, got {other:?}"),
    }

    // Plain HTTP: /ping, the test page, a plain GET to the WebSocket path, unknown paths.
    let pong = get(addr, "/ping");
    assert!(pong.starts_with("HTTP/1.1 200 OK\r\n"), "{pong}");
    assert!(pong.ends_with("\r\n\r\npong\n"), "{pong}");
    let page = get(addr, "/");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("Content-Type: text/html"), "{page}");
    assert!(
        page.contains("<script>") && page.contains("new WebSocket("),
        "{page}"
    );
    let plain = get(addr, "/ws");
    assert!(plain.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{plain}");
    assert!(plain.contains("Upgrade header is missing"), "{plain}");
    assert!(get(addr, "/nope").starts_with("HTTP/1.1 404 Not Found\r\n"));

    // Graceful shutdown: the port closes while connected clients get 1001, the process
    // exits 0. A raw client that does not answer its close keeps the server waiting
    // meanwhile, so that the port is seen closed before the process exits.
    drop(allowed);
    let mut lingering = raw::upgrade(addr, "/ws");
    server.wait_log("open /ws");
    server.sigterm();
    match read_data(&mut client) {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::Away);
            assert_eq!(frame.reason.as_str(), "the server is shutting down");
        }
        other => panic!("expected a 1001 close, got {other:?}"),
    }
    common::wait_refused(addr);
    assert!(
        !server.has_exited(),
        "the port must close when shutdown begins, not when the process exits"
    );
    let close = loop {
        match raw::read_frame(&mut lingering) {
            (9, _) => {} // a keepalive ping, unanswered
            (8, close) => break close,
            other => panic!("expected a close, got {other:?}"),
        }
    };
    assert_eq!(close.get(..2), Some(&1001u16.to_be_bytes()[..]));
    drop(lingering);
    loop {
        match client.read() {
            Err(WsError::ConnectionClosed) => break,
            Ok(Message::Close(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    let status = server
        .wait_exit(STEP)
        .expect("the server exits after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", server.log());
    let log = server.log();
    if std::env::var_os("SHOW_LOG").is_some() {
        eprintln!("{log}");
    }
    assert!(log.contains("closed 1001"), "{log}");
    assert!(log.contains("refused: 403 Forbidden"), "{log}");
    assert!(log.contains("failed (closed 1009)"), "{log}");
}

/// wss and https on one server: echoes over TLS and `/ping`.
fn over_tls(runtime: &str) {
    let mut args = vec!["--runtime".to_owned(), runtime.to_owned()];
    args.extend(tls_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Sockwright::echo(&args);
    let addr = server.addr;
    let url = format!("wss://localhost:{}/ws", addr.port());
    let mut client = ws_over(tls(addr), &url, None).expect("wss handshake");
    client.send(Message::text("secure")).unwrap();
    assert_eq!(read_data(&mut client), Message::text("secure"));
    let data = vec![3u8; 200_000];
    client.send(Message::binary(data.clone())).unwrap();
    assert_eq!(read_data(&mut client), Message::binary(data));
    client.close(None).unwrap();
    loop {
        match client.read() {
            Err(WsError::ConnectionClosed) => break,
            Ok(Message::Close(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    let request = "GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let pong = http(tls(addr), request);
    assert!(pong.starts_with("HTTP/1.1 200 OK\r\n"), "{pong}");
    assert!(pong.ends_with("pong\n"), "{pong}");
}

/// A client that sends much more than the server may buffer without reading: the server
/// stops reading from it (its writes block), and once it reads, every echo comes back, in
/// order.
fn backpressure_keeps_order(runtime: &str) {
    const MESSAGES: u32 = 96;
    const SIZE: usize = 1 << 20;
    let server = Sockwright::echo(&[
        "--runtime",
        runtime,
        "--max-message-size",
        "1MiB",
        "--ping-interval",
        "0",
    ]);
    let mut stream = raw::upgrade(server.addr, "/ws");
    let mut writer = stream.try_clone().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let finished = done.clone();
    let sender = thread::spawn(move || {
        for i in 0..MESSAGES {
            raw::write_binary(&mut writer, &raw::payload(i, SIZE));
        }
        finished.store(true, Ordering::Release);
    });
    // 96 MiB is far more than the outbound limit (32 MiB) plus the socket buffers.
    thread::sleep(Duration::from_secs(2));
    assert!(
        !done.load(Ordering::Acquire),
        "the server read 96 MiB without its echoes being read"
    );
    for i in 0..MESSAGES {
        let (opcode, data) = raw::read_frame(&mut stream);
        assert_eq!(opcode, 2, "message {i}");
        assert!(data == raw::payload(i, SIZE), "message {i} differs");
    }
    sender.join().unwrap();
}

macro_rules! per_runtime {
    ($($module:ident => $runtime:literal),*) => {
        $(
            mod $module {
                #[test]
                fn echo_http_limits_and_shutdown() {
                    super::echo_http_limits_and_shutdown($runtime);
                }

                #[test]
                fn backpressure_keeps_order() {
                    super::backpressure_keeps_order($runtime);
                }

                #[test]
                fn over_tls() {
                    super::over_tls($runtime);
                }
            }
        )*
    };
}

per_runtime!(on_std => "std", on_mio => "mio", on_smol => "smol", on_tokio => "tokio");

#[test]
fn the_default_runtime_serves() {
    let server = Sockwright::echo(&[]);
    let mut client = ws(server.addr, "/ws", None).unwrap();
    client.send(Message::text("default")).unwrap();
    assert_eq!(read_data(&mut client), Message::text("default"));
    server.wait_log("(runtime tokio)");
}
