//! An echo server over the core alone, for Autobahn's `fuzzingclient` mode:
//! `autobahn-echo-server [127.0.0.1:PORT]` (port 0 picks one; the address is printed).

use std::net::TcpListener;
use std::thread;

use sockwright::handshake::ServerConfig;
use sockwright_tests::blocking;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr)?;
    println!("listening on {}", listener.local_addr()?);
    let config = ServerConfig::default();
    for stream in listener.incoming() {
        let mut stream = stream?;
        let config = config.clone();
        thread::spawn(move || {
            if let Ok(Some((mut conn, trailing))) = blocking::accept(&mut stream, &config) {
                let _ = blocking::run(&mut stream, &mut conn, &trailing, blocking::echo);
            }
        });
    }
    Ok(())
}
