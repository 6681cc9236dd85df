//! wss both ways: the std server under a tungstenite client over rustls, the std client
//! against a tungstenite server over rustls, std to std, and a client that does not trust
//! the certificate.

mod common;

use std::net::TcpListener;
use std::thread;

use sockwright_std::{connect, ClientOptions, CloseCode, Error, Message, ServerOptions};
use tungstenite::Message as TMessage;

fn tls_server_options() -> ServerOptions {
    let mut options = ServerOptions::default();
    options.tls = Some(common::tls_server());
    options
}

fn tls_client_options() -> ClientOptions {
    let mut options = ClientOptions::default();
    options.tls = Some(common::tls_client());
    options
}

#[test]
fn a_tungstenite_client_over_rustls_gets_echoes_from_the_std_wss_server() {
    let (addr, _server) = common::echo_server(tls_server_options());
    let stream = common::tls_connect(addr);
    let url = format!("wss://localhost:{}/secure", addr.port());
    let (mut ws, response) = tungstenite::client(url.as_str(), stream).unwrap();
    assert_eq!(response.status(), 101);
    for len in [0, 125, 70_000, 1 << 20] {
        let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        ws.send(TMessage::binary(data.clone())).unwrap();
        assert_eq!(ws.read().unwrap(), TMessage::binary(data), "{len}");
    }
    ws.send(TMessage::text("tls text")).unwrap();
    assert_eq!(ws.read().unwrap(), TMessage::text("tls text"));
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(TMessage::Close(_)) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn the_std_wss_client_talks_to_a_tungstenite_server_over_rustls() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let stream = common::tls_accept(listener.accept().unwrap().0);
        let mut ws = tungstenite::accept(stream).unwrap();
        loop {
            match ws.read() {
                Ok(message) if message.is_text() || message.is_binary() => {
                    ws.send(message).unwrap()
                }
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => break,
                Err(e) => panic!("server: {e}"),
            }
        }
    });
    let url = format!("wss://localhost:{}/chat", addr.port());
    let mut ws = connect(&url, tls_client_options()).unwrap();
    let big = vec![9u8; 300_000];
    ws.send("over tls").unwrap();
    ws.send(big.clone()).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("over tls".into()));
    assert_eq!(ws.read().unwrap(), Message::Binary(big.into()));
    ws.close(CloseCode::NORMAL, "bye").unwrap();
    match ws.read().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::NORMAL),
        other => panic!("{other:?}"),
    }
    server.join().unwrap();
}

#[test]
fn std_wss_client_and_server_by_ip_address() {
    let (addr, _server) = common::echo_server(tls_server_options());
    let mut ws = connect(&format!("wss://{addr}/"), tls_client_options()).unwrap();
    ws.send(vec![1, 2, 3]).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Binary(vec![1, 2, 3].into()));
    ws.close(CloseCode::NORMAL, "").unwrap();
    assert!(matches!(ws.read().unwrap(), Message::Close(Some(_))));
    assert!(matches!(ws.read(), Err(Error::Closed)));
}

#[test]
fn a_client_that_does_not_trust_the_certificate_gets_a_tls_error() {
    let (addr, _server) = common::echo_server(tls_server_options());
    let mut options = ClientOptions::default();
    // The server's own certificate is not a CA: nothing chains to a trusted root.
    let leaf = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/certs/server.pem"
    ))
    .unwrap();
    options.tls = Some(sockwright_std::tls::client_config_with_roots(&leaf).unwrap());
    let result = connect(&format!("wss://localhost:{}/", addr.port()), options);
    assert!(matches!(result, Err(Error::Tls(_))), "{result:?}");
}
