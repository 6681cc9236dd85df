//! A client: connects, sends one message, prints what comes back, closes.
//!
//! ```sh
//! cargo run -p sockwright-tokio --example tokio-client -- ws://127.0.0.1:9001/ hello
//! ```

use sockwright_tokio::{ClientOptions, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:9001/".to_owned());
    let text = args.next().unwrap_or_else(|| "hello".to_owned());
    let options = ClientOptions::default().with_header("Name", "example");
    let mut ws = sockwright_tokio::connect(&url, options).await?;
    ws.send(text).await?;
    if let Some(reply) = ws.recv().await {
        println!("received {:?}", reply?);
    }
    ws.close().await?;
    // The server's close reply, then the end of the stream.
    while let Some(item) = ws.recv().await {
        println!("received {:?}", item?);
    }
    Ok(())
}
