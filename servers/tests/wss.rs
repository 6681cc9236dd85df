//! wss with a self-signed certificate made by the test: `sockwright echo --tls-cert --tls-key`
//! on each runtime, and a rustls client that trusts exactly that certificate.

mod common;

use common::certs::SelfSigned;
use common::checks::{assert_echoes, close_and_get_code_back};
use common::{http, ws_over, Sockwright};
use tungstenite::Error as WsError;

fn echoes_over_wss_with_a_fresh_certificate(runtime: &str) {
    let cert = SelfSigned::new();
    let mut args = vec!["--runtime", runtime];
    args.extend(cert.args());
    let server = Sockwright::echo(&args);
    let addr = server.addr;
    let url = format!("wss://localhost:{}/ws", addr.port());

    let mut client = ws_over(cert.client(addr), &url, None).expect("wss handshake");
    assert_echoes(&mut client, "over wss", 300_000);
    close_and_get_code_back(&mut client, 4000, "done");

    let pong = http(
        cert.client(addr),
        "GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert!(pong.starts_with("HTTP/1.1 200 OK\r\n"), "{pong}");

    // A client that trusts another certificate refuses this server.
    let other = SelfSigned::new();
    match ws_over(other.client(addr), &url, None) {
        Err(WsError::Io(e)) => assert!(e.to_string().contains("invalid peer certificate"), "{e}"),
        other => panic!("expected a certificate error, got {:?}", other.map(|_| ())),
    }
}

macro_rules! per_runtime {
    ($($name:ident => $runtime:literal),*) => {
        $(
            #[test]
            fn $name() {
                echoes_over_wss_with_a_fresh_certificate($runtime);
            }
        )*
    };
}

per_runtime!(on_std => "std", on_mio => "mio", on_smol => "smol", on_tokio => "tokio");
