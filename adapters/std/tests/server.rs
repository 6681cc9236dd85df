//! The server's side of things seen from raw TCP: refusals with a status and a reason, the
//! request hook, the handshake timeout, keepalive closing a silent peer, and stopping.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use sockwright_std::{
    accept, connect, ClientOptions, Error, Handshake, Message, Rejection, Route, Server,
    ServerOptions,
};

fn request(addr: impl std::fmt::Display, path: &str, connection: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: {connection}\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

fn exchange(addr: impl std::net::ToSocketAddrs, bytes: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(bytes.as_bytes()).unwrap();
    let mut response = String::new();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn a_bad_upgrade_gets_an_http_error_with_a_reason() {
    let (addr, _server) = common::echo_server(ServerOptions::default());
    let response = exchange(addr, &request(addr, "/ws", "keep-alive"));
    assert!(
        response.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{response}"
    );
    assert!(
        response.contains("Connection header \"keep-alive\" has no \"upgrade\" token"),
        "{response}"
    );
}

#[test]
fn accept_reports_the_rejection_it_answered() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        accept(stream, ServerOptions::default()).map(|_| ())
    });
    let response = exchange(addr, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(response.starts_with("HTTP/1.1 "), "{response}");
    match server.join().unwrap() {
        Err(Error::Rejected(rejection)) => {
            assert!(response.starts_with(&format!("HTTP/1.1 {} ", rejection.status())));
            assert!(response.contains(rejection.reason()), "{response}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_hook_routes_refuses_and_answers_plain_requests() {
    let hook = |req: &sockwright_std::Request| match req.path() {
        "/ws" => Route::Upgrade(vec![("X-Room".into(), "lobby".into())]),
        "/ping" => Route::Respond(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npong".to_vec()),
        other => Route::Reject(Rejection::not_found(other)),
    };
    let (tx, rx) = mpsc::channel();
    let server = Server::bind("127.0.0.1:0", ServerOptions::default().with_hook(hook)).unwrap();
    let addr = server.local_addr().unwrap();
    let _handle = server
        .spawn(move |ws| {
            let Handshake::Server { request, .. } = ws.handshake() else {
                panic!("not a server handshake");
            };
            let name = request.header("name").map(|v| v.to_vec());
            tx.send((
                request.path().to_owned(),
                request.query().map(str::to_owned),
                name,
            ))
            .unwrap();
        })
        .unwrap();

    let response = exchange(addr, &request(addr, "/nope", "Upgrade"));
    assert!(
        response.starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{response}"
    );
    assert!(
        response.contains("no WebSocket endpoint at \"/nope\""),
        "{response}"
    );

    let response = exchange(addr, "GET /ping HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(response.ends_with("\r\n\r\npong"), "{response}");

    let options = ClientOptions::default().with_header("Name", "bob");
    let ws = connect(&format!("ws://{addr}/ws?room=1"), options).unwrap();
    let Handshake::Client { response, .. } = ws.handshake() else {
        panic!("not a client handshake");
    };
    assert_eq!(response.header("x-room"), Some(&b"lobby"[..]));
    let (path, query, name) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(path, "/ws");
    assert_eq!(query.as_deref(), Some("room=1"));
    assert_eq!(name.as_deref(), Some(&b"bob"[..]));
}

#[test]
fn a_client_that_sends_nothing_is_dropped_after_the_handshake_timeout() {
    let mut options = ServerOptions::default();
    options.handshake_timeout = Duration::from_millis(300);
    let (addr, _server) = common::echo_server(options);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let start = Instant::now();
    let rest = common::read_to_end(&mut stream, Duration::from_secs(10));
    let took = start.elapsed();
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn keepalive_closes_a_silent_peer() {
    let mut options = ServerOptions::default();
    options.connection.ping_interval = Some(Duration::from_millis(200));
    options.connection.pong_timeout = Duration::from_millis(300);
    let (tx, rx) = mpsc::channel();
    let server = Server::bind("127.0.0.1:0", options).unwrap();
    let addr = server.local_addr().unwrap();
    let _handle = server
        .spawn(move |mut ws| {
            let mut seen = Vec::new();
            let end = loop {
                match ws.read() {
                    Ok(message) => seen.push(message),
                    Err(e) => break e,
                }
            };
            tx.send((
                seen,
                end.to_string(),
                matches!(end, Error::KeepaliveTimeout),
            ))
            .unwrap();
        })
        .unwrap();

    // Upgrades, then never sends a byte (it reads, as a kernel would buffer anyway).
    let start = Instant::now();
    let mut peer = common::raw_upgrade(addr, "/");
    let bytes = common::read_to_end(&mut peer, Duration::from_secs(10));
    let took = start.elapsed();
    // A ping (opcode 0x9), then a close frame (0x8) with 1011, then the end of the stream.
    assert_eq!(bytes.first(), Some(&0x89), "{bytes:?}");
    let close = bytes
        .iter()
        .position(|&b| b == 0x88)
        .expect("a close frame");
    assert_eq!(
        &bytes[close + 2..close + 4],
        &1011u16.to_be_bytes(),
        "{bytes:?}"
    );
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    let (seen, end, keepalive) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(seen.is_empty(), "{seen:?}");
    assert!(keepalive, "{end}");
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn a_send_to_a_peer_that_stopped_reading_is_released_by_keepalive() {
    let mut options = ServerOptions::default();
    options.connection.ping_interval = Some(Duration::from_millis(200));
    options.connection.pong_timeout = Duration::from_millis(300);
    options.connection.close_timeout = Duration::from_millis(300);
    let (tx, rx) = mpsc::channel();
    let server = Server::bind("127.0.0.1:0", options).unwrap();
    let addr = server.local_addr().unwrap();
    let _handle = server
        .spawn(move |mut ws| {
            // An echo that replies from the reading thread: its send waits for a peer that
            // never reads, and meanwhile nothing is read.
            let end = loop {
                match ws.read() {
                    Ok(message) if message.is_data() => {
                        let _ = ws.send(message);
                    }
                    Ok(_) => {}
                    Err(e) => break e,
                }
            };
            tx.send(matches!(end, Error::KeepaliveTimeout)).unwrap();
        })
        .unwrap();

    // 32 MiB to be echoed, and never a read; the writes stop once the server stops reading.
    let mut peer = common::raw_upgrade(addr, "/");
    peer.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(1u64 << 20).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.resize(frame.len() + (1 << 20), 7);
    for _ in 0..32 {
        if peer.write_all(&frame).is_err() {
            break;
        }
    }
    // The blocked send ran the keepalive timer: the unanswered ping failed the connection,
    // the send gave up after the close timeout, and the reader ended with the error.
    let keepalive = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the server is still waiting on a peer that does not read");
    assert!(keepalive);
}

#[test]
fn a_stopped_server_accepts_no_more_and_live_connections_run_on() {
    let (addr, server) = common::echo_server(ServerOptions::default());
    let mut ws = connect(&format!("ws://{addr}/"), ClientOptions::default()).unwrap();
    server.stop();
    ws.send("still here").unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("still here".into()));
    assert!(connect(&format!("ws://{addr}/"), ClientOptions::default()).is_err());
}

#[test]
fn a_client_gives_up_on_a_server_that_never_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut options = ClientOptions::default();
    options.handshake_timeout = Duration::from_millis(300);
    let start = Instant::now();
    let result = connect(&format!("ws://{addr}/"), options);
    assert!(matches!(result, Err(Error::HandshakeTimeout)), "{result:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    drop(listener);
}

#[test]
fn a_frame_sent_with_the_request_is_not_lost() {
    let (addr, _server) = common::echo_server(ServerOptions::default());
    let mut stream = common::restarting::Restarting(TcpStream::connect(addr).unwrap());
    // The request and a masked "Hello" text frame (RFC 6455 §5.7) in one write.
    let mut bytes = request(addr, "/", "Upgrade").into_bytes();
    bytes.extend_from_slice(&[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    stream.write_all(&bytes).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reply = Vec::new();
    let mut buf = [0; 1024];
    while !reply.ends_with(b"Hello") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "{:?}", String::from_utf8_lossy(&reply));
        reply.extend_from_slice(&buf[..n]);
    }
    assert!(reply.starts_with(b"HTTP/1.1 101 "));
    assert!(reply.ends_with(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']));
}
