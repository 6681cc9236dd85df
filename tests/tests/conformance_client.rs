//! The conformance suite, client role: every adapter's client, over real loopback sockets,
//! against a tungstenite server and against raw servers that send what a well-behaved
//! library cannot.

use std::io::Write;
use std::time::Duration;

use sockwright::frame::{CloseCode, CloseFrame};
use sockwright_driver::{ClientOptions, Error, Message};
use sockwright_tests::adapters::{self, Adapter, TestClient};
use sockwright_tests::peer::{
    self, close_payload, op, raw_server, read_frame, read_until_close, switching_protocols,
    tungstenite_echo_server, wait_for_eof, Raw,
};

const WAIT: Duration = Duration::from_secs(10);

fn each(test: impl Fn(&dyn Adapter)) {
    let all = adapters::all();
    assert!(
        !all.is_empty(),
        "no adapter is registered in tests/src/adapters"
    );
    for adapter in all {
        eprintln!("-- adapter {}", adapter.name());
        test(adapter.as_ref());
    }
}

/// The next text, binary or close message, skipping pings and pongs.
fn next_data(client: &mut dyn TestClient) -> Result<Message, Error> {
    loop {
        match client.recv(WAIT) {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(other) => return other,
            None => return Err(Error::NotOpen),
        }
    }
}

/// Everything the client reports until it ends (bounded by [`WAIT`] per item).
fn drain(client: &mut dyn TestClient) -> Vec<Result<Message, Error>> {
    let mut seen = Vec::new();
    while let Some(item) = client.recv(WAIT) {
        let timed_out =
            matches!(&item, Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut);
        seen.push(item);
        if timed_out || seen.len() > 100 {
            break;
        }
    }
    seen
}

fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    peer::frame(fin, opcode, payload, None)
}

#[test]
fn echo_of_every_length_encoding_through_a_tungstenite_server() {
    each(|a| {
        let url = tungstenite_echo_server(1);
        let mut c = a.connect(&url, ClientOptions::default()).unwrap();
        for len in [0, 125, 126, 65535, 65536, 16 << 20] {
            let text = "yz".repeat(len / 2);
            c.send(Message::Text(text.clone())).unwrap();
            assert_eq!(
                next_data(c.as_mut()).unwrap(),
                Message::Text(text),
                "{}: {len}",
                a.name()
            );
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            c.send(Message::Binary(data.clone().into())).unwrap();
            let back = next_data(c.as_mut()).unwrap();
            assert_eq!(
                back,
                Message::Binary(data.into()),
                "{}: binary {len}",
                a.name()
            );
        }
        c.send(Message::Ping(b"hi"[..].into())).unwrap();
        let pong = loop {
            match c.recv(WAIT) {
                Some(Ok(Message::Pong(p))) => break p,
                Some(Ok(_)) => continue,
                other => panic!("{}: {other:?}", a.name()),
            }
        };
        assert_eq!(&pong[..], b"hi");
        c.send(Message::Close(None)).unwrap();
        let last = drain(c.as_mut()).into_iter().last();
        assert!(
            matches!(&last, Some(Ok(Message::Close(Some(f)))) if f.code == CloseCode::NORMAL),
            "{}: {last:?}",
            a.name()
        );
    });
}

#[test]
fn sends_its_headers_and_subprotocols_and_learns_the_choice() {
    each(|a| {
        let (url, server) = raw_server(|mut s: Raw, head: String| {
            let reply = switching_protocols(&head, "Sec-WebSocket-Protocol: chat\r\n");
            s.write_all(reply.as_bytes()).unwrap();
            head
        });
        let options = ClientOptions::default()
            .with_header("Name", "alice")
            .with_header("Topic", "news")
            .with_subprotocol("chat.v2")
            .with_subprotocol("chat");
        let c = a.connect(&format!("{url}im?user_id=7"), options).unwrap();
        assert_eq!(c.subprotocol().as_deref(), Some("chat"), "{}", a.name());
        let head = server.join().unwrap();
        assert!(
            head.starts_with("GET /im?user_id=7 HTTP/1.1\r\n"),
            "{}: {head}",
            a.name()
        );
        for line in [
            "Name: alice\r\n",
            "Topic: news\r\n",
            "Sec-WebSocket-Protocol: chat.v2, chat",
        ] {
            assert!(
                head.contains(line),
                "{}: {line:?} missing from {head}",
                a.name()
            );
        }
    });
}

#[test]
fn close_codes_travel_both_ways() {
    each(|a| {
        // The client closes: the server hears its code and reason.
        let (url, server) = raw_server(|mut s: Raw, head: String| {
            s.write_all(switching_protocols(&head, "").as_bytes())
                .unwrap();
            let close = read_until_close(&mut s).unwrap();
            s.write_all(&server_frame(true, op::CLOSE, &close.payload))
                .unwrap();
            close
        });
        let mut c = a.connect(&url, ClientOptions::default()).unwrap();
        let frame = CloseFrame {
            code: CloseCode(4001),
            reason: "done".into(),
        };
        c.send(Message::Close(Some(frame))).unwrap();
        let heard = server.join().unwrap();
        assert!(heard.masked, "{}: client frames must be masked", a.name());
        assert_eq!(heard.payload, close_payload(4001, "done"), "{}", a.name());
        let last = drain(c.as_mut()).into_iter().last();
        assert!(
            matches!(&last, Some(Ok(Message::Close(Some(f)))) if f.code == CloseCode(4001)),
            "{}: {last:?}",
            a.name()
        );

        // The server closes: the client reports its code and reason and echoes the code.
        let (url, server) = raw_server(|mut s: Raw, head: String| {
            s.write_all(switching_protocols(&head, "").as_bytes())
                .unwrap();
            s.write_all(&server_frame(true, op::CLOSE, &close_payload(4002, "bye")))
                .unwrap();
            let echo = read_until_close(&mut s).unwrap();
            drop(s);
            echo.close_code()
        });
        let mut c = a.connect(&url, ClientOptions::default()).unwrap();
        let got = next_data(c.as_mut()).unwrap();
        let expected = CloseFrame {
            code: CloseCode(4002),
            reason: "bye".into(),
        };
        assert_eq!(got, Message::Close(Some(expected)), "{}", a.name());
        assert_eq!(server.join().unwrap(), Some(4002), "{}", a.name());
    });
}

/// Sends `bytes` from a raw server after the handshake; returns the close code the client
/// answers with and what the client reported.
fn client_answer(
    a: &dyn Adapter,
    options: ClientOptions,
    bytes: Vec<u8>,
) -> (Option<u16>, Vec<Result<Message, Error>>) {
    let (url, server) = raw_server(move |mut s: Raw, head: String| {
        s.write_all(switching_protocols(&head, "").as_bytes())
            .unwrap();
        s.write_all(&bytes).unwrap();
        let close = read_until_close(&mut s).unwrap();
        let _ = wait_for_eof(&mut s);
        close.close_code()
    });
    let mut c = a.connect(&url, options).unwrap();
    let seen = drain(c.as_mut());
    (server.join().unwrap(), seen)
}

#[test]
fn a_server_breaking_the_protocol_gets_the_right_close_code() {
    each(|a| {
        let mut small = ClientOptions::default();
        small.connection.max_message_size = 1024;
        let table: Vec<(&str, ClientOptions, Vec<u8>, u16)> = vec![
            (
                "invalid UTF-8",
                Default::default(),
                server_frame(true, op::TEXT, b"\xc3\x28"),
                1007,
            ),
            (
                "oversize",
                small,
                server_frame(true, op::BINARY, &[0; 2048]),
                1009,
            ),
            (
                "masked server frame",
                Default::default(),
                peer::frame(true, op::TEXT, b"x", Some([1, 2, 3, 4])),
                1002,
            ),
            (
                "reserved opcode",
                Default::default(),
                server_frame(true, 0x3, b""),
                1002,
            ),
        ];
        for (what, options, bytes, code) in table {
            let (answer, seen) = client_answer(a, options, bytes);
            assert_eq!(answer, Some(code), "{}: {what}: {seen:?}", a.name());
            assert!(
                seen.iter().any(|s| matches!(s, Err(Error::Protocol(_)))),
                "{}: {what}: the application is told: {seen:?}",
                a.name()
            );
        }
    });
}

#[test]
fn reassembles_fragments_and_answers_a_ping_between_them() {
    each(|a| {
        let (url, server) = raw_server(|mut s: Raw, head: String| {
            s.write_all(switching_protocols(&head, "").as_bytes())
                .unwrap();
            let mut burst = server_frame(false, op::BINARY, &[1, 2]);
            burst.extend(server_frame(true, op::PING, b"mid"));
            burst.extend(server_frame(true, op::CONT, &[3]));
            s.write_all(&burst).unwrap();
            let pong = read_frame(&mut s).unwrap().unwrap();
            s.write_all(&server_frame(true, op::CLOSE, &close_payload(1000, "")))
                .unwrap();
            (pong.opcode, pong.payload, pong.masked)
        });
        let mut c = a.connect(&url, ClientOptions::default()).unwrap();
        assert_eq!(
            next_data(c.as_mut()).unwrap(),
            Message::Binary(vec![1, 2, 3].into())
        );
        assert_eq!(
            server.join().unwrap(),
            (op::PONG, b"mid".to_vec(), true),
            "{}",
            a.name()
        );
    });
}

#[test]
fn a_refused_handshake_is_an_error_with_the_status() {
    each(|a| {
        let (url, _server) = raw_server(|mut s: Raw, _head: String| {
            let body = "no such room\n";
            let reply = format!(
                "HTTP/1.1 403 Forbidden\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            s.write_all(reply.as_bytes()).unwrap();
        });
        match a.connect(&url, ClientOptions::default()) {
            Err(Error::Handshake(e)) => assert!(e.to_string().contains("403"), "{}: {e}", a.name()),
            Err(other) => panic!("{}: wrong error {other}", a.name()),
            Ok(_) => panic!("{}: a 403 was taken for an upgrade", a.name()),
        }
    });
}

#[test]
fn keepalive_ends_a_connection_to_a_silent_server() {
    each(|a| {
        let (url, server) = raw_server(|mut s: Raw, head: String| {
            s.write_all(switching_protocols(&head, "").as_bytes())
                .unwrap();
            // Read everything, answer nothing.
            let mut opcodes = Vec::new();
            while let Ok(Some(frame)) = read_frame(&mut s) {
                opcodes.push(frame.opcode);
                if frame.opcode == op::CLOSE {
                    break;
                }
            }
            opcodes
        });
        let mut options = ClientOptions::default();
        options.connection.ping_interval = Some(Duration::from_millis(200));
        options.connection.pong_timeout = Duration::from_millis(300);
        options.connection.close_timeout = Duration::from_millis(300);
        let mut c = a.connect(&url, options).unwrap();
        let seen = drain(c.as_mut());
        assert!(
            seen.iter()
                .any(|s| matches!(s, Err(Error::KeepaliveTimeout))),
            "{}: {seen:?}",
            a.name()
        );
        let opcodes = server.join().unwrap();
        assert_eq!(
            opcodes.first(),
            Some(&op::PING),
            "{}: {opcodes:?}",
            a.name()
        );
        assert_eq!(
            opcodes.last(),
            Some(&op::CLOSE),
            "{}: {opcodes:?}",
            a.name()
        );
    });
}

#[test]
fn an_abrupt_eof_mid_frame_ends_the_connection_as_abnormal() {
    each(|a| {
        let (url, _server) = raw_server(|mut s: Raw, head: String| {
            s.write_all(switching_protocols(&head, "").as_bytes())
                .unwrap();
            let frame = server_frame(true, op::BINARY, &[5; 300]);
            s.write_all(&frame[..100]).unwrap();
        });
        let mut c = a.connect(&url, ClientOptions::default()).unwrap();
        let seen = drain(c.as_mut());
        let abnormal = |s: &Result<Message, Error>| match s {
            Ok(Message::Close(Some(f))) => f.code == CloseCode::ABNORMAL,
            Err(Error::Io(e)) => e.kind() != std::io::ErrorKind::TimedOut,
            _ => false,
        };
        assert!(seen.iter().any(abnormal), "{}: {seen:?}", a.name());
        assert!(
            !seen.iter().any(|s| matches!(s, Ok(m) if m.is_data())),
            "{}",
            a.name()
        );
    });
}

#[test]
fn a_bad_url_is_refused_before_connecting() {
    each(|a| {
        for url in ["http://127.0.0.1:1/", "ws://127.0.0.1:1/#frag", "ws:///x"] {
            let result = a.connect(url, ClientOptions::default());
            assert!(matches!(result, Err(Error::Url(_))), "{}: {url}", a.name());
        }
    });
}
