//! Connects to a WebSocket URL, sends one message and prints the reply.
//!
//! ```sh
//! cargo run -p sockwright-mio --example mio-client -- ws://127.0.0.1:9001/ "hello"
//! ```

use sockwright_mio::{ClientOptions, CloseCode, Error, Message};

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let text = args.next().unwrap_or_else(|| "hello".into());
    let mut client = sockwright_mio::connect(&url, ClientOptions::default())?;
    client.send(text.as_str())?;
    while let Some(received) = client.recv() {
        match received? {
            Message::Text(reply) => println!("{reply}"),
            Message::Binary(reply) => println!("{} bytes: {reply:?}", reply.len()),
            _ => continue, // pings and pongs
        }
        break;
    }
    client.close(CloseCode::NORMAL, "bye")?;
    // Wait for the server's reply to the close.
    while let Some(Ok(message)) = client.recv() {
        if let Message::Close(frame) = message {
            eprintln!("closed: {frame:?}");
        }
    }
    Ok(())
}
