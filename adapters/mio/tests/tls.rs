//! wss both ways over real loopback sockets: the mio server and client with each other and
//! with tungstenite over rustls streams. The loop only moves bytes; the session does TLS.

mod common;

use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{certs, read_data, wait_for, Echo, Probe, Seen};
use sockwright_mio::{tls, ClientOptions, CloseCode, Error, Message, Server, ServerOptions};
use tungstenite::Message as TMessage;

fn wss_server() -> sockwright_mio::ServerHandle {
    let (cert, key, _) = certs();
    let mut options = ServerOptions::default();
    options.tls = Some(tls::server_config_from_pem(&cert, &key).unwrap());
    Server::bind("127.0.0.1:0", options)
        .unwrap()
        .spawn(Echo::default)
        .unwrap()
}

fn trusting_client() -> ClientOptions {
    let (_, _, ca) = certs();
    let mut options = ClientOptions::default();
    options.tls = Some(tls::client_config_with_roots(&ca).unwrap());
    options
}

#[test]
fn the_mio_client_and_server_talk_wss() {
    let server = wss_server();
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("wss://{host}:{}/secure", server.local_addr().port());
        let mut client = sockwright_mio::connect(&url, trusting_client()).unwrap();
        let big: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
        client.send("over tls").unwrap();
        client.send(big.clone()).unwrap();
        assert_eq!(
            client.recv().unwrap().unwrap(),
            Message::Text("over tls".into())
        );
        assert_eq!(client.recv().unwrap().unwrap(), Message::Binary(big.into()));
        client.close(CloseCode::NORMAL, "").unwrap();
        match client.recv().unwrap() {
            Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::NORMAL),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_tungstenite_client_over_rustls_talks_to_the_wss_server() {
    let server = wss_server();
    let (_, _, ca) = certs();
    let config = tls::client_config_with_roots(&ca).unwrap();
    let tcp = common::Restarting(TcpStream::connect(server.local_addr()).unwrap());
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let name = "localhost".try_into().unwrap();
    let tls = rustls::StreamOwned::new(rustls::ClientConnection::new(config, name).unwrap(), tcp);
    let (mut ws, _) = tungstenite::client("wss://localhost/", tls).unwrap();
    ws.send(TMessage::text("interop")).unwrap();
    assert_eq!(read_data(&mut ws), TMessage::text("interop"));
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
}

#[test]
fn the_mio_client_talks_to_a_tungstenite_server_over_rustls() {
    let (cert, key, _) = certs();
    let config = tls::server_config_from_pem(&cert, &key).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
        let mut ws = tungstenite::accept(rustls::StreamOwned::new(conn, tcp)).unwrap();
        while let Ok(message) = ws.read() {
            if message.is_text() || message.is_binary() {
                ws.send(message).unwrap();
            }
        }
    });
    let (tx, rx) = mpsc::channel();
    let mut event_loop = sockwright_mio::EventLoop::new(Probe { tx, echo: false }).unwrap();
    let id = event_loop
        .connect(&format!("wss://localhost:{port}/"), trusting_client())
        .unwrap();
    let handle = event_loop.handle();
    let thread = thread::spawn(move || event_loop.run().unwrap());
    wait_for(&rx, |seen| matches!(seen, Seen::Open(..)).then_some(()));
    handle.send(id, "secure echo").unwrap();
    let echoed = wait_for(&rx, |seen| match seen {
        Seen::Message(_, message) => Some(message),
        _ => None,
    });
    assert_eq!(echoed, Message::Text("secure echo".into()));
    handle.close(id, CloseCode::NORMAL, "").unwrap();
    let closed = wait_for(&rx, |seen| match seen {
        Seen::Close(_, result) => Some(result),
        _ => None,
    });
    assert_eq!(closed.unwrap().code, CloseCode::NORMAL);
    handle.stop();
    thread.join().unwrap();
    server.join().unwrap();
}

#[test]
fn a_client_that_does_not_trust_the_certificate_fails_with_a_tls_error() {
    let server = wss_server();
    let url = format!("wss://localhost:{}/", server.local_addr().port());
    let (cert, _, _) = certs();
    let mut options = ClientOptions::default();
    // The server's own certificate is no CA: nothing chains to a trusted root.
    options.tls = Some(tls::client_config_with_roots(&cert).unwrap());
    let error = sockwright_mio::connect(&url, options).unwrap_err();
    assert!(matches!(error, Error::Tls(_)), "{error:?}");
    // A plain client on the TLS port is refused by the TLS layer, not hung.
    let plain = format!("ws://127.0.0.1:{}/", server.local_addr().port());
    assert!(sockwright_mio::connect(&plain, ClientOptions::default()).is_err());
}
