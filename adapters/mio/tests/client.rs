//! The mio client over real loopback sockets, against tungstenite servers.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use common::{wait_for, Probe, Seen};
use sockwright_mio::{ClientOptions, CloseCode, Error, EventLoop, Handshake, Message};
use tungstenite::handshake::server::{Request, Response};

/// A tungstenite echo server for `connections` connections. It agrees to the `chat`
/// subprotocol when offered, and reports each request's `Name` and `Topic` headers.
#[allow(clippy::result_large_err)] // tungstenite's callback type
fn tungstenite_server(
    connections: usize,
) -> (SocketAddr, mpsc::Receiver<(String, String)>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    let thread = thread::spawn(move || {
        for _ in 0..connections {
            let (stream, _) = listener.accept().unwrap();
            let tx = tx.clone();
            let callback = |request: &Request, mut response: Response| {
                let header = |name: &str| {
                    request.headers().get(name).map_or(String::new(), |v| {
                        String::from_utf8_lossy(v.as_bytes()).into_owned()
                    })
                };
                tx.send((header("Name"), header("Topic"))).unwrap();
                if header("Sec-WebSocket-Protocol").contains("chat") {
                    let headers = response.headers_mut();
                    headers.insert("Sec-WebSocket-Protocol", "chat".parse().unwrap());
                }
                Ok(response)
            };
            let mut ws = tungstenite::accept_hdr(stream, callback).unwrap();
            loop {
                match ws.read() {
                    Ok(message) if message.is_text() || message.is_binary() => {
                        ws.send(message).unwrap()
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }
    });
    (addr, rx, thread)
}

#[test]
fn the_blocking_client_talks_to_a_tungstenite_server_with_headers_and_a_subprotocol() {
    let (addr, headers, server) = tungstenite_server(1);
    let options = ClientOptions::default()
        .with_header("Name", "alice")
        .with_header("Topic", "news")
        .with_subprotocol("chat");
    let mut client =
        sockwright_mio::connect(&format!("ws://{addr}/im?user_id=7"), options).unwrap();
    assert_eq!(headers.recv().unwrap(), ("alice".into(), "news".into()));
    assert_eq!(client.subprotocol(), Some("chat"));
    assert!(matches!(client.handshake(), Some(Handshake::Client { .. })));
    client.send("hello").unwrap();
    assert_eq!(
        client.recv().unwrap().unwrap(),
        Message::Text("hello".into())
    );
    let big = vec![3u8; 1 << 20];
    client.send(big.clone()).unwrap();
    assert_eq!(client.recv().unwrap().unwrap(), Message::Binary(big.into()));
    client.close(CloseCode::NORMAL, "done").unwrap();
    match client.recv_timeout(Duration::from_secs(5)) {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::NORMAL),
        other => panic!("{other:?}"),
    }
    assert!(client.recv().is_none());
    // The connection is gone, and its loop with it.
    assert!(matches!(
        client.send("after"),
        Err(Error::Io(_) | Error::Send(_))
    ));
    server.join().unwrap();
}

#[test]
fn a_loop_opens_clients_from_its_context_and_from_a_handle() {
    let (addr, _headers, server) = tungstenite_server(2);
    let (tx, rx) = mpsc::channel();
    let mut event_loop = EventLoop::new(Probe { tx, echo: false }).unwrap();
    let first = event_loop
        .connect(&format!("ws://{addr}/a"), ClientOptions::default())
        .unwrap();
    let handle = event_loop.handle();
    let thread = thread::spawn(move || event_loop.run().unwrap());

    let (opened, loop_handle) = wait_for(&rx, |seen| match seen {
        Seen::Open(id, Handshake::Client { .. }, handle, _) => Some((id, handle)),
        _ => None,
    });
    assert_eq!(opened, first);
    loop_handle.send(first, "one").unwrap();
    let echoed = wait_for(&rx, |seen| match seen {
        Seen::Message(id, message) if id == first => Some(message),
        _ => None,
    });
    assert_eq!(echoed, Message::Text("one".into()));
    handle.close(first, CloseCode::NORMAL, "").unwrap();
    let closed = wait_for(&rx, |seen| match seen {
        Seen::Close(id, result) if id == first => Some(result.unwrap()),
        _ => None,
    });
    assert_eq!(closed.code, CloseCode::NORMAL);

    // From another thread: the id comes back once the loop has started connecting.
    let second = handle
        .connect(&format!("ws://{addr}/b"), ClientOptions::default())
        .unwrap();
    assert_ne!(second, first);
    wait_for(&rx, |seen| match seen {
        Seen::Open(id, ..) if id == second => Some(()),
        _ => None,
    });
    handle.send(second, vec![1u8, 2, 3]).unwrap();
    let echoed = wait_for(&rx, |seen| match seen {
        Seen::Message(id, message) if id == second => Some(message),
        _ => None,
    });
    assert_eq!(echoed, Message::Binary(vec![1u8, 2, 3].into()));
    handle.close(second, CloseCode::NORMAL, "").unwrap();
    wait_for(&rx, |seen| match seen {
        Seen::Close(id, _) if id == second => Some(()),
        _ => None,
    });
    handle.stop();
    thread.join().unwrap();
    server.join().unwrap();
}

#[test]
fn a_refused_connection_is_reported() {
    // A port with no listener: bind one, note its port, close it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ws://127.0.0.1:{port}/");
    let error = sockwright_mio::connect(&url, ClientOptions::default()).unwrap_err();
    assert!(
        matches!(&error, Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{error:?}"
    );
    assert!(matches!(
        sockwright_mio::connect("http://127.0.0.1/", ClientOptions::default()),
        Err(Error::Url(_))
    ));
}

#[test]
fn a_host_name_is_tried_at_each_of_its_addresses() {
    // `localhost` may resolve to ::1 first, where nothing listens: the next address is used.
    let (addr, _headers, server) = tungstenite_server(1);
    let url = format!("ws://localhost:{}/", addr.port());
    let mut client = sockwright_mio::connect(&url, ClientOptions::default()).unwrap();
    client.send("via name").unwrap();
    assert_eq!(
        client.recv().unwrap().unwrap(),
        Message::Text("via name".into())
    );
    client.close(CloseCode::NORMAL, "").unwrap();
    while client.recv().is_some() {}
    server.join().unwrap();
}

#[test]
fn the_blocking_client_waits_for_room_when_the_server_does_not_read() {
    const COUNT: u32 = 1000;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(stream).unwrap();
        thread::sleep(Duration::from_millis(300));
        for i in 0..COUNT {
            match ws.read().unwrap() {
                tungstenite::Message::Binary(data) => assert_eq!(data[..4], i.to_be_bytes()),
                other => panic!("{other:?}"),
            }
        }
        ws.send("all read".into()).unwrap();
        while ws.read().is_ok() {}
    });
    let mut options = ClientOptions::default();
    options.connection.max_outbound_bytes = 64 * 1024;
    let mut client = sockwright_mio::connect(&format!("ws://{addr}/"), options).unwrap();
    let started = std::time::Instant::now();
    for i in 0..COUNT {
        let mut data = vec![0u8; 16 * 1024];
        data[..4].copy_from_slice(&i.to_be_bytes());
        client.send(data).unwrap();
    }
    // 16 MiB through a 64 KiB queue to a server that slept first: sends had to wait.
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(
        client.recv().unwrap().unwrap(),
        Message::Text("all read".into())
    );
    client.close(CloseCode::NORMAL, "").unwrap();
    while client.recv().is_some() {}
    server.join().unwrap();
}

#[test]
fn the_blocking_client_answers_a_message_before_the_violation_behind_it_closes() {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let mut burst = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .into_bytes();
        // A text message, then a frame with a reserved opcode, in one write.
        burst.extend_from_slice(&[0x81, 0x01, b'a', 0x83, 0x00]);
        stream.write_all(&burst).unwrap();
        // The client's frames: the echo of "a" first, then its 1002 close.
        let mut frames = Vec::new();
        for _ in 0..2 {
            let mut h = [0u8; 6];
            stream.read_exact(&mut h).unwrap();
            let mut payload = vec![0u8; (h[1] & 0x7f) as usize];
            stream.read_exact(&mut payload).unwrap();
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= h[2 + i % 4];
            }
            frames.push((h[0] & 0x0f, payload));
        }
        frames
    });
    let mut client =
        sockwright_mio::connect(&format!("ws://{addr}/"), ClientOptions::default()).unwrap();
    assert_eq!(client.recv().unwrap().unwrap(), Message::Text("a".into()));
    client.send("a").unwrap();
    assert!(matches!(client.recv(), Some(Err(Error::Protocol(_)))));
    let frames = server.join().unwrap();
    assert_eq!(frames[0], (1, b"a".to_vec()));
    assert_eq!(frames[1].0, 8);
    assert_eq!(frames[1].1[..2], 1002u16.to_be_bytes());
}
