//! The conformance suite, server role: every adapter's echo server, over real loopback
//! sockets, against tungstenite and against hand-written frames.

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use sockwright::handshake::{Rejection, Request};
use sockwright_driver::{Route, ServerOptions};
use sockwright_tests::adapters::{self, Adapter};
use sockwright_tests::peer::{
    self, client_frame, close_payload, op, raw_client, raw_request, read_body, read_frame,
    read_until_close, upgrade_request, wait_for_eof,
};
use tungstenite::protocol::frame::coding::CloseCode as TCloseCode;
use tungstenite::protocol::CloseFrame as TCloseFrame;
use tungstenite::Message as TMessage;

/// Runs `test` against every adapter, naming the adapter when it fails.
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

#[test]
fn every_adapter_is_under_test() {
    let names: Vec<_> = adapters::all().iter().map(|a| a.name()).collect();
    assert_eq!(names, ["std", "mio", "smol", "tokio"]);
}

#[test]
fn echoes_text_and_binary_of_every_length_encoding() {
    each(|a| {
        let (addr, _server) = a.echo_server(ServerOptions::default());
        let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/")).unwrap();
        for len in [0, 125, 126, 65535, 65536, 16 << 20] {
            let text: String = "ab".repeat(len / 2);
            ws.send(TMessage::text(text.clone())).unwrap();
            assert_eq!(
                ws.read().unwrap(),
                TMessage::text(text),
                "{}: text {len}",
                a.name()
            );
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            ws.send(TMessage::binary(data.clone())).unwrap();
            assert_eq!(
                ws.read().unwrap(),
                TMessage::binary(data),
                "{}: binary {len}",
                a.name()
            );
        }
        ws.close(None).unwrap();
        while ws.read().is_ok() {}
    });
}

#[test]
fn reassembles_fragments_and_answers_a_ping_between_them() {
    each(|a| {
        let (addr, _server) = a.echo_server(ServerOptions::default());
        let mut s = raw_client(addr, "/");
        let mut burst = client_frame(false, op::TEXT, "frag".as_bytes());
        burst.extend(client_frame(false, op::CONT, "men".as_bytes()));
        burst.extend(client_frame(true, op::PING, b"mid"));
        burst.extend(client_frame(true, op::CONT, "té".as_bytes()));
        s.write_all(&burst).unwrap();
        let pong = read_frame(&mut s).unwrap().unwrap();
        assert_eq!(
            (pong.opcode, pong.payload.as_slice()),
            (op::PONG, &b"mid"[..]),
            "{}",
            a.name()
        );
        let echo = read_frame(&mut s).unwrap().unwrap();
        assert_eq!((echo.fin, echo.opcode), (true, op::TEXT), "{}", a.name());
        assert_eq!(echo.payload, "fragmenté".as_bytes(), "{}", a.name());
        assert!(
            !echo.masked,
            "{}: a server frame must not be masked",
            a.name()
        );
    });
}

#[test]
fn echoes_the_clients_close_code_and_ends_the_connection() {
    each(|a| {
        let (addr, _server) = a.echo_server(ServerOptions::default());
        let mut s = raw_client(addr, "/");
        s.write_all(&client_frame(true, op::CLOSE, &close_payload(4000, "bye")))
            .unwrap();
        let close = read_until_close(&mut s).unwrap();
        assert_eq!(close.close_code(), Some(4000), "{}", a.name());
        wait_for_eof(&mut s).unwrap();
    });
}

/// Sends `bytes` after a good handshake and returns the close code the server answers with,
/// checking that it then ends the connection.
fn close_code_after(a: &dyn Adapter, options: ServerOptions, bytes: &[u8]) -> Option<u16> {
    let (addr, _server) = a.echo_server(options);
    let mut s = raw_client(addr, "/");
    s.write_all(bytes).unwrap();
    let close = read_until_close(&mut s).unwrap_or_else(|e| panic!("{}: {e}", a.name()));
    wait_for_eof(&mut s).unwrap();
    close.close_code()
}

#[test]
fn invalid_utf8_is_closed_with_1007() {
    each(|a| {
        let whole = client_frame(true, op::TEXT, b"bad \xff here");
        assert_eq!(
            close_code_after(a, Default::default(), &whole),
            Some(1007),
            "{}",
            a.name()
        );
        // Inside a fragmented message, the first impossible byte is enough.
        let first = client_frame(false, op::TEXT, b"ok so far \xf4\x90");
        assert_eq!(
            close_code_after(a, Default::default(), &first),
            Some(1007),
            "{}",
            a.name()
        );
    });
}

#[test]
fn an_oversize_message_is_closed_with_1009() {
    each(|a| {
        let mut options = ServerOptions::default();
        options.connection.max_message_size = 1024;
        let mut frames = client_frame(false, op::BINARY, &[1; 1000]);
        frames.extend(client_frame(true, op::CONT, &[2; 1000]));
        assert_eq!(
            close_code_after(a, options, &frames),
            Some(1009),
            "{}",
            a.name()
        );
    });
}

#[test]
fn an_unmasked_client_frame_is_closed_with_1002() {
    each(|a| {
        let unmasked = peer::frame(true, op::TEXT, b"hello", None);
        assert_eq!(
            close_code_after(a, Default::default(), &unmasked),
            Some(1002),
            "{}",
            a.name()
        );
    });
}

#[test]
fn refused_handshakes_carry_a_status_and_a_reason() {
    let huge = format!("X-Filler: {}\r\n", "x".repeat(20_000));
    // (request, status, words the reason must contain)
    let table: Vec<(String, &str, &str)> = vec![
        ("GET / HTTP/1.1\r\nHost: h\r\n\r\n".into(), "400", "Upgrade"),
        (
            upgrade_request("/", "").replace("Upgrade: websocket\r\n", ""),
            "400",
            "Upgrade",
        ),
        (
            upgrade_request("/", "").replace("Connection: Upgrade", "Connection: keep-alive"),
            "400",
            "keep-alive",
        ),
        (
            upgrade_request("/", "").replace("Version: 13", "Version: 12"),
            "426",
            "12",
        ),
        (
            upgrade_request("/", "").replacen("GET", "POST", 1),
            "405",
            "POST",
        ),
        (upgrade_request("/", &huge), "431", ""),
        (upgrade_request("/elsewhere", ""), "404", "/elsewhere"),
    ];
    each(|a| {
        let hook = |req: &Request| match req.path() {
            "/" => Route::Upgrade(Vec::new()),
            other => Route::Reject(Rejection::not_found(other)),
        };
        let (addr, _server) = a.echo_server(ServerOptions::default().with_hook(hook));
        for (request, status, words) in &table {
            let (mut s, head) = raw_request(addr, request.as_bytes()).unwrap();
            assert!(
                head.starts_with(&format!("HTTP/1.1 {status} ")),
                "{}: {status} expected for {:.60?}, got {head}",
                a.name(),
                request
            );
            let body = read_body(&mut s, &head);
            assert!(
                body.contains(words),
                "{}: reason {body:?} lacks {words:?}",
                a.name()
            );
            wait_for_eof(&mut s).unwrap();
        }
    });
}

#[test]
fn keepalive_closes_a_silent_peer_with_1011() {
    each(|a| {
        let mut options = ServerOptions::default();
        options.connection.ping_interval = Some(Duration::from_millis(200));
        options.connection.pong_timeout = Duration::from_millis(300);
        let (addr, _server) = a.echo_server(options);
        let mut s = raw_client(addr, "/");
        let started = Instant::now();
        // Read (so the server is not blocked) but never answer: a ping, then a 1011 close.
        let first = read_frame(&mut s).unwrap().unwrap();
        assert_eq!(first.opcode, op::PING, "{}", a.name());
        let close = read_until_close(&mut s).unwrap();
        assert_eq!(close.close_code(), Some(1011), "{}", a.name());
        wait_for_eof(&mut s).unwrap();
        assert!(started.elapsed() < Duration::from_secs(8), "{}", a.name());
    });
}

#[test]
fn keepalive_keeps_an_answering_peer() {
    each(|a| {
        let mut options = ServerOptions::default();
        options.connection.ping_interval = Some(Duration::from_millis(100));
        options.connection.pong_timeout = Duration::from_millis(300);
        let (addr, _server) = a.echo_server(options);
        // tungstenite answers pings while it reads.
        let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/")).unwrap();
        let until = Instant::now() + Duration::from_millis(1000);
        let mut n = 0;
        while Instant::now() < until {
            ws.send(TMessage::text(format!("{n}"))).unwrap();
            loop {
                match ws.read().unwrap() {
                    TMessage::Text(t) => {
                        assert_eq!(t.as_str(), format!("{n}"));
                        break;
                    }
                    TMessage::Ping(_) | TMessage::Pong(_) => continue,
                    other => panic!("{}: {other:?}", a.name()),
                }
            }
            n += 1;
            thread::sleep(Duration::from_millis(50));
        }
        ws.close(Some(TCloseFrame {
            code: TCloseCode::Normal,
            reason: "".into(),
        }))
        .unwrap();
        while ws.read().is_ok() {}
    });
}

#[test]
fn an_abrupt_eof_mid_frame_affects_no_other_connection() {
    each(|a| {
        let (addr, _server) = a.echo_server(ServerOptions::default());
        let (mut other, _) = tungstenite::connect(format!("ws://{addr}/")).unwrap();
        for _ in 0..3 {
            let mut s = raw_client(addr, "/");
            let frame = client_frame(true, op::BINARY, &[9; 1000]);
            s.write_all(&frame[..500]).unwrap();
            drop(s);
        }
        other.send(TMessage::text("still here")).unwrap();
        assert_eq!(
            other.read().unwrap(),
            TMessage::text("still here"),
            "{}",
            a.name()
        );
        let (mut fresh, _) = tungstenite::connect(format!("ws://{addr}/")).unwrap();
        fresh.send(TMessage::binary(vec![1, 2, 3])).unwrap();
        assert_eq!(
            fresh.read().unwrap(),
            TMessage::binary(vec![1, 2, 3]),
            "{}",
            a.name()
        );
    });
}

#[test]
fn negotiates_a_subprotocol_by_server_preference() {
    each(|a| {
        let mut options = ServerOptions::default();
        options.handshake.subprotocols = vec!["chat.v2".into(), "chat".into()];
        let (addr, _server) = a.echo_server(options);
        let request = upgrade_request("/", "Sec-WebSocket-Protocol: chat, chat.v2\r\n");
        let (_s, head) = raw_request(addr, request.as_bytes()).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{}: {head}", a.name());
        assert!(
            head.contains("Sec-WebSocket-Protocol: chat.v2\r\n"),
            "{}: {head}",
            a.name()
        );
    });
}
