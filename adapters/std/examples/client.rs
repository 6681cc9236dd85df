//! Connects to a URL, sends one text message and prints the reply.
//!
//! `cargo run -p sockwright-std --example std-client [URL] [MESSAGE]` (default
//! `ws://127.0.0.1:9001/` and `hello`). For `wss://` with a private CA, build with the `tls`
//! feature and set `SOCKWRIGHT_CA` to the CA's PEM file.

use sockwright_std::{connect, ClientOptions, CloseCode, Error, Message};

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:9001/".to_owned());
    let text = args.next().unwrap_or_else(|| "hello".to_owned());

    #[allow(unused_mut)]
    let mut options = ClientOptions::default();
    #[cfg(feature = "tls")]
    if let Some(ca) = std::env::var_os("SOCKWRIGHT_CA") {
        let pem = std::fs::read(&ca)?;
        options.tls = Some(sockwright_std::tls::client_config_with_roots(&pem)?);
    }

    let mut ws = connect(&url, options)?;
    ws.send(text)?;
    loop {
        match ws.read()? {
            Message::Text(reply) => {
                println!("{reply}");
                break;
            }
            Message::Binary(reply) => {
                println!("{} bytes", reply.len());
                break;
            }
            Message::Close(frame) => {
                println!("closed by the server: {frame:?}");
                return Ok(());
            }
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    ws.close(CloseCode::NORMAL, "done")?;
    // The server's reply to the close comes last.
    while ws.read().is_ok() {}
    Ok(())
}
