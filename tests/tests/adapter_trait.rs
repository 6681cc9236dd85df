//! Every registered adapter through the adapter-under-test trait: its echo server and its
//! client, over ws and wss, with each other.

use std::time::Duration;

use sockwright::frame::{CloseCode, CloseFrame};
use sockwright_driver::{tls, ClientOptions, Message, ServerOptions};
use sockwright_tests::adapters;

const WAIT: Duration = Duration::from_secs(5);

fn certs() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/certs/");
    let read = |name: &str| std::fs::read(format!("{dir}{name}")).unwrap();
    (read("server.pem"), read("server.key"), read("ca.pem"))
}

fn exchange(client: &mut dyn adapters::TestClient) {
    client.send(Message::Text("hello".into())).unwrap();
    assert_eq!(
        client.recv(WAIT).unwrap().unwrap(),
        Message::Text("hello".into())
    );
    let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    client.send(Message::Binary(data.clone().into())).unwrap();
    assert_eq!(
        client.recv(WAIT).unwrap().unwrap(),
        Message::Binary(data.into())
    );
    client.send(Message::Ping(b"p".to_vec().into())).unwrap();
    assert_eq!(
        client.recv(WAIT).unwrap().unwrap(),
        Message::Pong(b"p".to_vec().into())
    );
    let close = CloseFrame {
        code: CloseCode(4000),
        reason: "done".into(),
    };
    client.send(Message::Close(Some(close))).unwrap();
    match client.recv(WAIT) {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode(4000)),
        other => panic!("{other:?}"),
    }
    assert!(client.recv(WAIT).is_none());
}

#[test]
fn each_adapter_echoes_to_its_own_client_over_ws_and_wss() {
    let (cert, key, ca) = certs();
    for adapter in adapters::all() {
        let (addr, _server) = adapter.echo_server(ServerOptions::default());
        let mut client = adapter
            .connect(&format!("ws://{addr}/ws"), ClientOptions::default())
            .unwrap();
        exchange(client.as_mut());

        let mut options = ServerOptions::default();
        options.tls = Some(tls::server_config_from_pem(&cert, &key).unwrap());
        let (addr, _server) = adapter.echo_server(options);
        let mut options = ClientOptions::default();
        options.tls = Some(tls::client_config_with_roots(&ca).unwrap());
        let url = format!("wss://localhost:{}/ws", addr.port());
        let mut client = adapter.connect(&url, options).unwrap();
        exchange(client.as_mut());
        assert!(adapters::by_name(adapter.name()).is_some());
    }
}
