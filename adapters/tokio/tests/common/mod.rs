//! Blocking peers for the async adapters' loopback tests: tungstenite (an independent
//! implementation) in both roles, over plain TCP or rustls, and a raw HTTP client. They run
//! in std threads. Shared by `sockwright-tokio` and `sockwright-smol` (the smol tests
//! include this file by path).

#![allow(dead_code, clippy::result_large_err)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tungstenite::handshake::server::{Request, Response};
use tungstenite::{Message as TMessage, WebSocket};

/// A byte stream, plain or TLS.
pub trait Duplex: Read + Write + Send {}
impl<S: Read + Write + Send> Duplex for S {}

/// The test certificate (for localhost and 127.0.0.1), its key and the CA that signed it.
pub fn certs() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/certs/");
    let read = |name: &str| std::fs::read(format!("{dir}{name}")).expect("test certificate");
    (read("server.pem"), read("server.key"), read("ca.pem"))
}

fn server_stream(tcp: TcpStream, tls: Option<Arc<rustls::ServerConfig>>) -> Box<dyn Duplex> {
    match tls {
        Some(config) => {
            let conn = rustls::ServerConnection::new(config).expect("tls server");
            Box::new(rustls::StreamOwned::new(conn, tcp))
        }
        None => Box::new(tcp),
    }
}

/// What a tungstenite server saw of a client's request.
#[derive(Debug, Default)]
pub struct Seen {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub messages: usize,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A tungstenite server for one connection. It accepts the first offered subprotocol,
/// waits for `go` (if given) before reading, then echoes every data message until the
/// close; it returns what it saw.
pub fn tungstenite_server(
    tls: Option<Arc<rustls::ServerConfig>>,
    go: Option<std::sync::mpsc::Receiver<()>>,
) -> (SocketAddr, JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handle = thread::spawn(move || {
        let (tcp, _) = listener.accept().expect("accept");
        let mut seen = Seen::default();
        let callback = |req: &Request, mut resp: Response| {
            seen.path = req.uri().path().to_owned();
            for (name, value) in req.headers() {
                let value = value.to_str().unwrap_or_default().to_owned();
                seen.headers.push((name.as_str().to_owned(), value));
            }
            if let Some(offered) = req.headers().get("sec-websocket-protocol") {
                let first = offered.to_str().unwrap_or_default().split(',').next();
                let first = first
                    .unwrap_or_default()
                    .trim()
                    .parse()
                    .expect("header value");
                resp.headers_mut().insert("sec-websocket-protocol", first);
            }
            Ok(resp)
        };
        let mut ws = tungstenite::accept_hdr(server_stream(tcp, tls), callback).expect("handshake");
        if let Some(go) = go {
            let _ = go.recv();
        }
        loop {
            match ws.read() {
                Ok(message) if message.is_text() || message.is_binary() => {
                    seen.messages += 1;
                    if ws.send(message).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        seen
    });
    (addr, handle)
}

/// A tungstenite server for one connection that sends `messages` (written in small pieces
/// with pauses, so that they arrive over many reads) and then closes normally.
pub fn trickling_server(messages: Vec<TMessage>) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handle = thread::spawn(move || {
        let (tcp, _) = listener.accept().expect("accept");
        let mut ws = tungstenite::accept(Trickle(tcp)).expect("handshake");
        for message in messages {
            ws.send(message).expect("send");
        }
        ws.close(None).expect("close");
        while ws.read().is_ok() {}
    });
    (addr, handle)
}

/// A stream that writes at most 4000 bytes at a time, pausing after each write.
struct Trickle(TcpStream);

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.0.write(&buf[..buf.len().min(4000)])?;
        thread::sleep(Duration::from_micros(300));
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// A tungstenite client connected to `url` at `addr`, over TLS with `tls`.
pub fn tungstenite_client(
    addr: SocketAddr,
    url: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> WebSocket<Box<dyn Duplex>> {
    let tcp = TcpStream::connect(addr).expect("connect");
    let stream: Box<dyn Duplex> = match tls {
        Some(config) => {
            let name = "localhost".try_into().expect("server name");
            let conn = rustls::ClientConnection::new(config, name).expect("tls client");
            Box::new(rustls::StreamOwned::new(conn, tcp))
        }
        None => Box::new(tcp),
    };
    tungstenite::client(url, stream).expect("handshake").0
}

/// Sends text and binary messages of every length encoding and checks the echoes, then a
/// ping, then closes with 4000 and checks that the code comes back.
pub fn exchange_with_echo_server(ws: &mut WebSocket<Box<dyn Duplex>>) {
    for len in [0, 125, 126, 65535, 65536, 1 << 20] {
        let text: String = "é".repeat(len / 2);
        ws.send(TMessage::text(text.clone())).expect("send");
        assert_eq!(
            ws.read().expect("read"),
            TMessage::text(text),
            "text of {len} bytes"
        );
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        ws.send(TMessage::binary(data.clone())).expect("send");
        assert_eq!(
            ws.read().expect("read"),
            TMessage::binary(data),
            "binary of {len}"
        );
    }
    ws.send(TMessage::Ping(b"are you there".to_vec().into()))
        .expect("ping");
    assert_eq!(
        ws.read().expect("read"),
        TMessage::Pong(b"are you there".to_vec().into())
    );
    let code = tungstenite::protocol::frame::coding::CloseCode::Library(4000);
    let frame = tungstenite::protocol::CloseFrame {
        code,
        reason: "done".into(),
    };
    ws.close(Some(frame)).expect("close");
    match ws.read() {
        Ok(TMessage::Close(Some(frame))) => assert_eq!(frame.code, code),
        other => panic!("expected the close reply, got {other:?}"),
    }
}

/// Sends `request` on a raw TCP connection and returns everything the server answers
/// until it closes.
pub fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    tcp.write_all(request).expect("write");
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}
