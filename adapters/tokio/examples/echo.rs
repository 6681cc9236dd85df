//! An echo server: every text and binary message comes back with its own type.
//!
//! ```sh
//! cargo run -p sockwright-tokio --example tokio-echo -- 127.0.0.1:9001
//! ```

use sockwright_tokio::ServerOptions;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let listener = sockwright_tokio::bind(addr.as_str(), ServerOptions::default()).await?;
    println!("echo server on ws://{}/", listener.local_addr()?);
    loop {
        let incoming = match listener.accept().await {
            Ok(incoming) => incoming,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        tokio::spawn(async move {
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
        });
    }
}
