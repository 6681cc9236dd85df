//! A broadcast hub on tokio-tungstenite, speaking the sockwright hub's protocol:
//! `/im?user_id=…&topic=…` (`user_id` required, no topic: one default room); a client's text or
//! binary message goes to everyone in its topic, the sender included.
//!
//! Built the way a careful tokio-tungstenite user would: one `tokio::sync::broadcast` channel
//! per topic (each message shared, not copied per subscriber), `TCP_NODELAY`, and batched
//! writes: the writer feeds every message already waiting, then flushes once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

/// Messages a subscriber may fall behind before it skips (`Lagged`): far more than the bench
/// keeps in flight.
const TOPIC_CAPACITY: usize = 1024;

type Topics = Arc<Mutex<HashMap<String, broadcast::Sender<Message>>>>;

#[tokio::main]
async fn main() {
    let listener = sockwright_bench_peers::bind().await;
    let topics = Topics::default();
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve(stream, topics.clone()));
    }
}

// The handshake callback's error type is tungstenite's (a whole HTTP response).
#[allow(clippy::result_large_err)]
async fn serve(stream: TcpStream, topics: Topics) {
    let _ = stream.set_nodelay(true);
    let mut topic = None;
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        match topic_of(request) {
            Some(name) => {
                topic = Some(name);
                Ok(response)
            }
            None => {
                let mut refusal = ErrorResponse::new(Some("/im?user_id=… required".into()));
                *refusal.status_mut() = StatusCode::BAD_REQUEST;
                Err(refusal)
            }
        }
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
        return;
    };
    let Some(topic) = topic else { return };
    let sender = topics
        .lock()
        .expect("topics lock")
        .entry(topic)
        .or_insert_with(|| broadcast::channel(TOPIC_CAPACITY).0)
        .clone();
    let mut inbox = sender.subscribe();
    let (mut sink, mut stream) = ws.split();
    let writer = tokio::spawn(async move {
        loop {
            match inbox.recv().await {
                Ok(message) => sink.feed(message).await?,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return Ok(()),
            }
            loop {
                match inbox.try_recv() {
                    Ok(message) => sink.feed(message).await?,
                    Err(TryRecvError::Lagged(_)) => continue,
                    Err(_) => break,
                }
            }
            sink.flush().await?;
        }
        #[allow(unreachable_code)]
        Ok::<(), tokio_tungstenite::tungstenite::Error>(())
    });
    while let Some(Ok(message)) = stream.next().await {
        if message.is_text() || message.is_binary() {
            let _ = sender.send(message);
        } else if message.is_close() {
            break;
        }
    }
    writer.abort();
}

/// The topic named by `/im?user_id=…[&topic=…]` (`""`, the default room, without one), or
/// `None` when the path is not `/im` or `user_id` is missing or empty.
fn topic_of(request: &Request) -> Option<String> {
    if request.uri().path() != "/im" {
        return None;
    }
    let mut user = None;
    let mut topic = String::new();
    for pair in request.uri().query().unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("user_id", value)) if !value.is_empty() => user = Some(value),
            Some(("topic", value)) => topic = value.to_string(),
            _ => {}
        }
    }
    user.map(|_| topic)
}
