//! The std adapter against tungstenite over loopback sockets: echo both ways, every length
//! encoding, ping/pong, close codes, and the client's request (path, query, headers,
//! subprotocol) as a tungstenite server sees it.

mod common;

use std::net::TcpListener;
use std::thread;

use sockwright_std::{connect, ClientOptions, CloseCode, CloseFrame, Message, ServerOptions};
use tungstenite::handshake::server::{Request as TRequest, Response as TResponse};
use tungstenite::protocol::frame::coding::CloseCode as TCloseCode;
use tungstenite::protocol::CloseFrame as TCloseFrame;
use tungstenite::Message as TMessage;

#[test]
fn a_tungstenite_client_gets_every_message_echoed_by_the_std_server() {
    let (addr, _server) = common::echo_server(ServerOptions::default());
    let (mut ws, response) = tungstenite::connect(format!("ws://{addr}/echo")).unwrap();
    assert_eq!(response.status(), 101);
    for len in [0, 125, 126, 65535, 65536, 1 << 20] {
        let text = "é".repeat(len / 2);
        ws.send(TMessage::text(text.clone())).unwrap();
        assert_eq!(ws.read().unwrap(), TMessage::text(text), "text of {len}");
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        ws.send(TMessage::binary(data.clone())).unwrap();
        assert_eq!(
            ws.read().unwrap(),
            TMessage::binary(data),
            "binary of {len}"
        );
    }
    ws.send(TMessage::Ping(b"there?".to_vec().into())).unwrap();
    assert_eq!(
        ws.read().unwrap(),
        TMessage::Pong(b"there?".to_vec().into())
    );
    ws.close(Some(TCloseFrame {
        code: TCloseCode::Library(4000),
        reason: "done".into(),
    }))
    .unwrap();
    match ws.read() {
        Ok(TMessage::Close(Some(frame))) => assert_eq!(frame.code, TCloseCode::Library(4000)),
        other => panic!("expected the close reply, got {other:?}"),
    }
    assert!(matches!(
        ws.read(),
        Err(tungstenite::Error::ConnectionClosed)
    ));
}

#[test]
fn the_std_client_talks_to_a_tungstenite_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut seen = None;
        // tungstenite's callback type returns its large error response by value.
        #[allow(clippy::result_large_err)]
        let callback = |request: &TRequest, mut response: TResponse| {
            let header = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_owned())
            };
            seen = Some((
                request.uri().to_string(),
                header("Name"),
                header("Topic"),
                header("Host"),
            ));
            let chosen = "chat.v2".parse().unwrap();
            response
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", chosen);
            Ok(response)
        };
        let mut ws = tungstenite::accept_hdr(stream, callback).unwrap();
        for _ in 0..3 {
            let message = ws.read().unwrap();
            ws.send(message).unwrap();
        }
        ws.send(TMessage::Ping(b"hb".to_vec().into())).unwrap();
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
        seen.unwrap()
    });

    let options = ClientOptions::default()
        .with_header("Name", "alice")
        .with_header("Topic", "news")
        .with_subprotocol("chat.v1")
        .with_subprotocol("chat.v2");
    let mut ws = connect(&format!("ws://{addr}/im?user_id=7"), options).unwrap();
    assert_eq!(ws.subprotocol(), Some("chat.v2"));
    let big = vec![2; 70_000];
    ws.send("one").unwrap();
    ws.send(big.clone()).unwrap();
    ws.send(Message::Text("three".into())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("one".into()));
    assert_eq!(ws.read().unwrap(), Message::Binary(big.into()));
    assert_eq!(ws.read().unwrap(), Message::Text("three".into()));
    assert_eq!(ws.read().unwrap(), Message::Ping(b"hb".to_vec().into()));
    assert_eq!(
        ws.read().unwrap(),
        Message::Close(Some(CloseFrame {
            code: CloseCode::GOING_AWAY,
            reason: "server going away".into()
        }))
    );
    assert!(matches!(ws.read(), Err(sockwright_std::Error::Closed)));
    assert!(matches!(
        ws.send("late"),
        Err(sockwright_std::Error::Send(_))
    ));

    let (uri, name, topic, host) = server.join().unwrap();
    assert_eq!(uri, "/im?user_id=7");
    assert_eq!(name.as_deref(), Some("alice"));
    assert_eq!(topic.as_deref(), Some("news"));
    assert_eq!(host, Some(addr.to_string()));
}

#[test]
fn the_std_client_and_server_echo_and_close_cleanly() {
    let (addr, _server) = common::echo_server(ServerOptions::default());
    let mut ws = connect(&format!("ws://{addr}/"), ClientOptions::default()).unwrap();
    for len in [0, 126, 65536, 3 << 20] {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        ws.send(data.clone()).unwrap();
        assert_eq!(ws.read().unwrap(), Message::Binary(data.into()));
    }
    ws.send(Message::Ping(b"p".to_vec().into())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Pong(b"p".to_vec().into()));
    ws.close(CloseCode::NORMAL, "bye").unwrap();
    ws.close(CloseCode::NORMAL, "again").unwrap(); // idempotent
    assert_eq!(
        ws.read().unwrap(),
        Message::Close(Some(CloseFrame {
            code: CloseCode::NORMAL,
            reason: String::new()
        }))
    );
    assert!(matches!(ws.read(), Err(sockwright_std::Error::Closed)));
    ws.close(CloseCode::NORMAL, "after the end").unwrap(); // still idempotent
}

#[test]
fn a_close_without_a_code_reads_as_close_none() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let mut ws = tungstenite::accept(listener.accept().unwrap().0).unwrap();
        ws.close(None).unwrap();
        while ws.read().is_ok() {}
    });
    let mut ws = connect(&format!("ws://{addr}/"), ClientOptions::default()).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Close(None));
    server.join().unwrap();
}

#[test]
fn a_peer_that_vanishes_reads_as_close_1006() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let ws = tungstenite::accept(listener.accept().unwrap().0).unwrap();
        drop(ws);
    });
    let mut ws = connect(&format!("ws://{addr}/"), ClientOptions::default()).unwrap();
    server.join().unwrap();
    match ws.read().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::ABNORMAL),
        other => panic!("{other:?}"),
    }
}
