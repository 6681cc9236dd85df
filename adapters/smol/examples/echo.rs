//! An echo server: every text and binary message comes back with its own type. Connections
//! run as tasks of one async-executor, driven by async-io's `block_on`.
//!
//! ```sh
//! cargo run -p sockwright-smol --example smol-echo -- 127.0.0.1:9001
//! ```

use std::net::SocketAddr;

use async_executor::Executor;
use sockwright_smol::{Incoming, ServerOptions};

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let listener = sockwright_smol::bind(addr, ServerOptions::default())?;
    println!("echo server on ws://{}/", listener.local_addr()?);
    let executor = Executor::new();
    async_io::block_on(executor.run(async {
        loop {
            match listener.accept().await {
                Ok(incoming) => executor.spawn(echo(incoming)).detach(),
                Err(e) => eprintln!("accept: {e}"),
            }
        }
    }))
}

async fn echo(incoming: Incoming) {
    let peer = incoming.peer_addr();
    let mut ws = match incoming.handshake().await {
        Ok(ws) => ws,
        Err(e) => return eprintln!("{peer}: {e}"),
    };
    while let Some(item) = ws.recv().await {
        match item {
            Ok(message) if message.is_data() => {
                if let Err(e) = ws.send(message).await {
                    eprintln!("{peer}: {e}");
                }
            }
            Ok(_) => {}
            Err(e) => eprintln!("{peer}: {e}"),
        }
    }
}
