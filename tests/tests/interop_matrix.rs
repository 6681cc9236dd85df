//! Every adapter's client against every adapter's server, over ws and wss: the 4 × 4 matrix.

use std::time::Duration;

use sockwright::frame::{CloseCode, CloseFrame};
use sockwright_driver::{tls, ClientOptions, Message, ServerOptions};
use sockwright_tests::adapters::{self, Adapter, TestClient};

const WAIT: Duration = Duration::from_secs(10);

fn cert(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/certs/");
    std::fs::read(format!("{path}{name}")).unwrap()
}

/// Text, binary, a ping and a close with a code, from `client` to `server`'s echo server.
fn talk(client: &dyn Adapter, server: &dyn Adapter, secure: bool) {
    let pair = format!(
        "{} client -> {} server ({})",
        client.name(),
        server.name(),
        if secure { "wss" } else { "ws" }
    );
    let mut server_options = ServerOptions::default();
    let mut client_options = ClientOptions::default();
    if secure {
        server_options.tls =
            Some(tls::server_config_from_pem(&cert("server.pem"), &cert("server.key")).unwrap());
        client_options.tls = Some(tls::client_config_with_roots(&cert("ca.pem")).unwrap());
    }
    let (addr, _guard) = server.echo_server(server_options);
    let scheme = if secure { "wss" } else { "ws" };
    let url = format!("{scheme}://localhost:{}/matrix", addr.port());
    let mut c = client
        .connect(&url, client_options)
        .unwrap_or_else(|e| panic!("{pair}: {e}"));
    let big: Vec<u8> = (0..200_000).map(|i| (i % 241) as u8).collect();
    for message in [Message::Text("héllo".into()), Message::Binary(big.into())] {
        c.send(message.clone()).unwrap();
        assert_eq!(next(c.as_mut(), &pair), message, "{pair}");
    }
    c.send(Message::Ping(b"p"[..].into())).unwrap();
    assert_eq!(
        next(c.as_mut(), &pair),
        Message::Pong(b"p"[..].into()),
        "{pair}"
    );
    let bye = CloseFrame {
        code: CloseCode(4321),
        reason: "matrix".into(),
    };
    c.send(Message::Close(Some(bye))).unwrap();
    match next(c.as_mut(), &pair) {
        Message::Close(Some(f)) => assert_eq!(f.code, CloseCode(4321), "{pair}"),
        other => panic!("{pair}: {other:?}"),
    }
}

fn next(c: &mut dyn TestClient, pair: &str) -> Message {
    match c.recv(WAIT) {
        Some(Ok(m)) => m,
        other => panic!("{pair}: {other:?}"),
    }
}

fn matrix(secure: bool) {
    let all = adapters::all();
    assert_eq!(all.len(), 4, "the matrix needs all four adapters");
    for client in &all {
        for server in &all {
            talk(client.as_ref(), server.as_ref(), secure);
        }
    }
}

#[test]
fn every_client_talks_to_every_server() {
    matrix(false);
}

#[test]
fn every_client_talks_to_every_server_over_tls() {
    matrix(true);
}
