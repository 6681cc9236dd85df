//! What the peer servers share: the `--listen ADDR` option and the `listening on ADDR` line the
//! bench suite waits for.

use std::net::SocketAddr;

/// The address from `--listen ADDR` (default `127.0.0.1:0`, a free port).
///
/// # Panics
/// On an unknown argument or an address that does not parse: these are bench tools, started
/// by the suite with fixed arguments.
pub fn listen_addr() -> SocketAddr {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:0".to_string();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => addr = args.next().expect("--listen needs an address"),
            other => panic!("unknown argument {other:?}; usage: --listen 127.0.0.1:0"),
        }
    }
    addr.parse().expect("--listen takes IP:PORT")
}

/// Binds the listener and prints `listening on ADDR` (then flushes, as stdout is a pipe).
pub async fn bind() -> tokio::net::TcpListener {
    use std::io::Write;
    let listener = tokio::net::TcpListener::bind(listen_addr())
        .await
        .expect("bind the listener");
    let addr = listener.local_addr().expect("local address");
    let mut out = std::io::stdout();
    writeln!(out, "listening on {addr}").expect("stdout");
    out.flush().expect("stdout");
    listener
}
