//! Every registered adapter's client against every registered adapter's echo server, over
//! ws and wss: text and binary come back with their own type, a ping is answered, and a
//! normal close is answered with the code.

use std::time::Duration;

use sockwright::frame::CloseCode;
use sockwright_driver::{tls, ClientOptions, Message, ServerOptions};
use sockwright_tests::adapters;

const WAIT: Duration = Duration::from_secs(10);

fn certs() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/certs/");
    let read = |name: &str| std::fs::read(format!("{dir}{name}")).unwrap();
    (read("server.pem"), read("server.key"), read("ca.pem"))
}

fn matrix(secure: bool) {
    let (cert, key, ca) = certs();
    for server in adapters::all() {
        let mut options = ServerOptions::default();
        if secure {
            options.tls = Some(tls::server_config_from_pem(&cert, &key).unwrap());
        }
        let (addr, _guard) = server.echo_server(options);
        for client in adapters::all() {
            let pair = format!("{} client -> {} server", client.name(), server.name());
            let mut options = ClientOptions::default().with_header("Name", "matrix");
            let url = if secure {
                options.tls = Some(tls::client_config_with_roots(&ca).unwrap());
                format!("wss://localhost:{}/echo", addr.port())
            } else {
                format!("ws://{addr}/echo")
            };
            let mut ws = client
                .connect(&url, options)
                .unwrap_or_else(|e| panic!("{pair}: {e}"));
            let sent = [
                Message::Text("héllo".into()),
                Message::Binary(vec![7; 100_000].into()),
            ];
            for message in sent {
                ws.send(message.clone()).unwrap();
                assert_eq!(ws.recv(WAIT).unwrap().unwrap(), message, "{pair}");
            }
            ws.send(Message::Ping(b"p".to_vec().into())).unwrap();
            let pong = ws.recv(WAIT).unwrap().unwrap();
            assert_eq!(pong, Message::Pong(b"p".to_vec().into()), "{pair}");
            ws.send(Message::Close(None)).unwrap();
            match ws.recv(WAIT) {
                Some(Ok(Message::Close(Some(frame)))) => {
                    assert_eq!(frame.code, CloseCode::NORMAL, "{pair}")
                }
                other => panic!("{pair}: {other:?}"),
            }
            assert!(ws.recv(WAIT).is_none(), "{pair}");
        }
    }
}

#[test]
fn every_client_talks_to_every_echo_server() {
    matrix(false);
}

#[test]
fn every_client_talks_to_every_echo_server_over_tls() {
    matrix(true);
}
