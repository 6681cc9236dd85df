//! Helpers shared by the test programs: a std echo server, the test certificates, tungstenite
//! over rustls, and a raw client handshake.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use sockwright_std::{Message, Server, ServerHandle, ServerOptions};

#[path = "../../../../tests/src/restarting.rs"]
pub mod restarting;

/// A std echo server on `127.0.0.1:0`, as an application writes it.
pub fn echo_server(options: ServerOptions) -> (SocketAddr, ServerHandle) {
    let server = Server::bind("127.0.0.1:0", options).unwrap();
    let handle = server
        .spawn(|mut ws| {
            while let Ok(message) = ws.read() {
                if message.is_data() {
                    let _ = ws.send(message);
                }
            }
        })
        .unwrap();
    (handle.local_addr(), handle)
}

/// Reads until a data message or the end, skipping pings and pongs.
pub fn read_data(ws: &mut sockwright_std::WebSocket) -> Message {
    loop {
        match ws.read_timeout(Duration::from_secs(10)).unwrap() {
            Message::Ping(_) | Message::Pong(_) => {}
            other => return other,
        }
    }
}

fn cert_file(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/certs/");
    std::fs::read(format!("{path}{name}")).unwrap()
}

/// The test server's rustls configuration (localhost and 127.0.0.1).
pub fn tls_server() -> Arc<rustls::ServerConfig> {
    sockwright_std::tls::server_config_from_pem(&cert_file("server.pem"), &cert_file("server.key"))
        .unwrap()
}

/// A client configuration trusting the test CA.
pub fn tls_client() -> Arc<rustls::ClientConfig> {
    sockwright_std::tls::client_config_with_roots(&cert_file("ca.pem")).unwrap()
}

/// A TLS client stream to `addr` for `localhost`, for tungstenite.
pub fn tls_connect(addr: SocketAddr) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let name = "localhost".try_into().unwrap();
    let conn = rustls::ClientConnection::new(tls_client(), name).unwrap();
    rustls::StreamOwned::new(conn, TcpStream::connect(addr).unwrap())
}

/// A TLS server stream over an accepted socket, for tungstenite.
pub fn tls_accept(stream: TcpStream) -> rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    let conn = rustls::ServerConnection::new(tls_server()).unwrap();
    rustls::StreamOwned::new(conn, stream)
}

/// A plain TCP client that completes the upgrade by hand, reading nothing past the response
/// head: a peer that does nothing on its own.
pub fn raw_upgrade(addr: SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "{head:?}");
        head.extend_from_slice(&byte);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    stream
}

/// Everything `stream` sends until it closes (or `timeout` passes without a byte).
pub fn read_to_end(stream: &mut TcpStream, timeout: Duration) -> Vec<u8> {
    stream.set_read_timeout(Some(timeout)).unwrap();
    let mut all = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            // A socket with a timeout gives EINTR after a stop and SIGCONT.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("no end after {:?}: {e}", all),
        }
    }
}
