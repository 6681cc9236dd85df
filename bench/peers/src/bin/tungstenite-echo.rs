//! Echo server on tokio-tungstenite: accept, then send every text or binary message back.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;

#[tokio::main]
async fn main() {
    let listener = sockwright_bench_peers::bind().await;
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve(stream));
    }
}

async fn serve(stream: TcpStream) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    while let Some(Ok(message)) = ws.next().await {
        if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
            return;
        }
    }
}
