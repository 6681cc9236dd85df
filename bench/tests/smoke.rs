//! The generator itself, against `sockwright echo` in process on loopback: a second or so of
//! each scenario it can run against an echo server, with what it counted checked, and proof
//! that it verifies echoes rather than counting them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sockwright_bench::scenario::echo::{self, EchoConfig};
use sockwright_bench::scenario::handshakes::{self, HandshakeConfig};
use sockwright_bench::scenario::idle::{self, IdleConfig};
use sockwright_bench::scenario::Window;
use sockwright_servers::echo::Echo;
use sockwright_servers::{App, Conn, Message, Route, RuntimeKind, Server, ServerOptions};

const WINDOW: Window = Window {
    warmup: Duration::from_millis(50),
    duration: Duration::from_millis(250),
};

/// The echo server with keepalive off (the library default), as `--ping-interval 0` runs it.
fn start(app: Arc<dyn App>, runtime: RuntimeKind) -> Server {
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    Server::start(app, runtime, addr, ServerOptions::default()).expect("start the server")
}

fn echo_config(server: &Server, connections: usize, payload: usize) -> EchoConfig {
    EchoConfig {
        url: format!("ws://{}/ws", server.local_addr()),
        connections,
        payload,
        window: WINDOW,
        server_pid: Some(std::process::id()),
    }
}

#[test]
fn echo_counts_verified_messages_on_every_runtime() {
    for runtime in [
        RuntimeKind::Mio,
        RuntimeKind::Tokio,
        RuntimeKind::Std,
        RuntimeKind::Smol,
    ] {
        let server = start(Arc::new(Echo), runtime);
        for (connections, payload) in [(20, 20), (4, 16 * 1024)] {
            let report = echo::run(&echo_config(&server, connections, payload))
                .unwrap_or_else(|e| panic!("{runtime:?}: {e}"));
            assert!(report.messages > 0, "{runtime:?}: {report:?}");
            assert_eq!(report.bytes, report.messages * payload as u64, "{report:?}");
            assert!(report.rate > 0.0 && report.p50 <= report.p99, "{report:?}");
            // The echo server sends nothing but echoes (no keepalive pings, no fragments).
            assert_eq!(report.unexpected_frames, 0, "{runtime:?}: {report:?}");
            assert!(report.cpu_per_message.is_some(), "{report:?}");
        }
        server.shutdown(Duration::from_secs(2));
    }
}

/// Echoes every message with its last byte changed.
struct Corrupting;

impl App for Corrupting {
    fn route(&self, _: &sockwright::handshake::Request) -> Route {
        Route::Upgrade(Vec::new())
    }

    fn on_message(&self, conn: &mut Conn<'_>, message: Message) {
        if let Message::Binary(bytes) = message {
            let mut bytes = bytes.to_vec();
            if let Some(last) = bytes.last_mut() {
                *last ^= 1;
            }
            let _ = conn.send(Message::Binary(bytes.into()));
        }
    }
}

#[test]
fn echo_fails_on_an_echo_that_differs() {
    let server = start(Arc::new(Corrupting), RuntimeKind::Mio);
    let error = echo::run(&echo_config(&server, 2, 64)).expect_err("a corrupted echo");
    assert!(error.to_string().contains("differs"), "{error}");
    server.shutdown(Duration::from_secs(2));
}

#[test]
fn handshakes_and_idle_against_the_echo_server() {
    let server = start(Arc::new(Echo), RuntimeKind::Mio);
    let url = format!("ws://{}/ws", server.local_addr());
    let report = handshakes::run(&HandshakeConfig {
        url: url.clone(),
        concurrency: 4,
        window: WINDOW,
        server_pid: None,
    })
    .expect("handshakes");
    assert!(report.completed > 0 && report.rate > 0.0, "{report:?}");
    // The server here is this test process: its memory is read like any server's.
    let report = idle::run(&IdleConfig {
        url,
        connections: 50,
        server_pid: std::process::id(),
    })
    .expect("idle");
    assert!(
        report.loaded.rss > 0 && report.loaded.peak >= report.loaded.rss,
        "{report:?}"
    );
    server.shutdown(Duration::from_secs(2));
}
