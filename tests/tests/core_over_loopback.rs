//! The core, driven by the blocking test driver over real loopback sockets, against tungstenite
//! (an independent implementation) in both roles: handshake, echo of every length encoding,
//! pipelined bytes after the handshake, ping/pong, close codes both ways, a rejected
//! handshake, invalid UTF-8 and abrupt EOF.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use sockwright::conn::{Closed, Initiator, Message};
use sockwright::frame::CloseCode;
use sockwright::handshake::ServerConfig;
use sockwright_tests::blocking;
use tungstenite::protocol::frame::coding::{CloseCode as TCloseCode, Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::CloseFrame as TCloseFrame;
use tungstenite::Message as TMessage;

/// Starts a core echo server for one connection; returns its address and the thread that
/// reports how the connection closed.
fn core_echo_server() -> (String, thread::JoinHandle<Option<Closed>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let (mut conn, trailing) =
            blocking::accept(&mut stream, &ServerConfig::default()).unwrap()?;
        blocking::run(&mut stream, &mut conn, &trailing, blocking::echo).unwrap()
    });
    (addr, handle)
}

#[test]
fn tungstenite_client_gets_every_message_echoed_by_the_core_server() {
    let (addr, server) = core_echo_server();
    let (mut ws, response) = tungstenite::connect(format!("ws://{addr}/ws")).unwrap();
    assert_eq!(response.status(), 101);
    for len in [0, 125, 126, 65535, 65536, 1 << 20] {
        let text: String = "é".repeat(len / 2);
        ws.send(TMessage::text(text.clone())).unwrap();
        assert_eq!(
            ws.read().unwrap(),
            TMessage::text(text),
            "text of {len} bytes"
        );
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        ws.send(TMessage::binary(data.clone())).unwrap();
        assert_eq!(
            ws.read().unwrap(),
            TMessage::binary(data),
            "binary of {len} bytes"
        );
    }
    ws.send(TMessage::Ping(b"are you there".to_vec().into()))
        .unwrap();
    assert_eq!(
        ws.read().unwrap(),
        TMessage::Pong(b"are you there".to_vec().into())
    );
    ws.close(Some(TCloseFrame {
        code: TCloseCode::Library(4000),
        reason: "done".into(),
    }))
    .unwrap();
    // The server echoes the code.
    match ws.read() {
        Ok(TMessage::Close(Some(frame))) => assert_eq!(frame.code, TCloseCode::Library(4000)),
        other => panic!("expected the close reply, got {other:?}"),
    }
    let closed = server.join().unwrap().expect("the server saw the close");
    assert_eq!(
        (closed.initiator, closed.code, closed.reason.as_str()),
        (Initiator::Remote, CloseCode(4000), "done")
    );
}

#[test]
fn core_client_talks_to_a_tungstenite_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(stream).unwrap();
        let mut echoed = 0;
        while echoed < 3 {
            let message = ws.read().unwrap();
            if message.is_text() || message.is_binary() {
                ws.send(message).unwrap();
                echoed += 1;
            }
        }
        // Then the server closes first, with a code of its own.
        ws.close(Some(TCloseFrame {
            code: TCloseCode::Away,
            reason: "server going away".into(),
        }))
        .unwrap();
        loop {
            match ws.read() {
                Err(tungstenite::Error::ConnectionClosed) => break,
                Ok(_) => {}
                Err(e) => panic!("server: {e}"),
            }
        }
    });
    let mut stream = TcpStream::connect(&addr).unwrap();
    let (mut conn, trailing) = blocking::connect(&mut stream, &addr, "/chat?room=1").unwrap();
    conn.send_text("one").unwrap();
    conn.send_binary(&[2; 70_000]).unwrap();
    conn.send_text("three").unwrap();
    let mut received = Vec::new();
    let closed = blocking::run(&mut stream, &mut conn, &trailing, |_, m| received.push(m)).unwrap();
    assert_eq!(
        received,
        [
            Message::Text("one".into()),
            Message::Binary(vec![2; 70_000].into()),
            Message::Text("three".into())
        ]
    );
    let closed = closed.expect("a close frame arrived");
    assert_eq!(
        (closed.initiator, closed.code, closed.reason.as_str()),
        (
            Initiator::Remote,
            CloseCode::GOING_AWAY,
            "server going away"
        )
    );
    server.join().unwrap();
}

#[test]
fn frames_pipelined_with_the_handshake_are_not_lost() {
    let (addr, server) = core_echo_server();
    let mut stream = TcpStream::connect(&addr).unwrap();
    // The request and a masked "Hello" text frame (RFC 6455 §5.7) in one write.
    let mut bytes = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes();
    bytes.extend_from_slice(&[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    stream.write_all(&bytes).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0; 1024];
    while !reply.ends_with(b"Hello") {
        let n = stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "connection closed early: {:?}",
            String::from_utf8_lossy(&reply)
        );
        reply.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&reply);
    assert!(
        text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{text}"
    );
    assert!(reply.ends_with(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']));
    drop(stream); // abrupt EOF: the server reports an abnormal close
    let closed = server.join().unwrap().expect("closed");
    assert_eq!(closed.code, CloseCode::ABNORMAL);
}

#[test]
fn a_bad_handshake_gets_an_http_error_with_a_reason() {
    let (addr, server) = core_echo_server();
    let mut stream = TcpStream::connect(&addr).unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{response}"
    );
    assert!(
        response.contains("Connection header \"keep-alive\" has no \"upgrade\" token"),
        "{response}"
    );
    assert!(server.join().unwrap().is_none());
}

#[test]
fn invalid_utf8_from_a_tungstenite_client_gets_1007() {
    let (addr, server) = core_echo_server();
    let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/ws")).unwrap();
    // tungstenite will not send invalid text as a message, so send a raw text frame.
    let frame = Frame::message(vec![0xce, 0xba, 0xff], OpCode::Data(Data::Text), true);
    ws.write(TMessage::Frame(frame)).unwrap();
    ws.flush().unwrap();
    match ws.read() {
        Ok(TMessage::Close(Some(frame))) => assert_eq!(frame.code, TCloseCode::Invalid, "1007"),
        other => panic!("expected a 1007 close, got {other:?}"),
    }
    let _ = server.join();
}
