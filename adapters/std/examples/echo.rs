//! An echo server: every text or binary message comes back with its own type.
//!
//! `cargo run -p sockwright-std --example std-echo [ADDR]` (default `127.0.0.1:9001`).

use sockwright_std::{Server, ServerOptions};

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let server = Server::bind(&addr, ServerOptions::default())?;
    println!("echo server on ws://{}/", server.local_addr()?);
    server.serve(|mut ws| {
        // `read` ends with the final `Close` (or the error that ended the connection).
        while let Ok(message) = ws.read() {
            if message.is_data() {
                // A refused send (the connection is closing) still lets the close finish.
                let _ = ws.send(message);
            }
        }
    })
}
