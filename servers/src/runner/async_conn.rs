//! One connection on an async runtime (tokio or smol): the same task for both, over the
//! driver's split [`Reader`] and [`Writer`]. The driver task behind the halves reads the
//! socket and runs the timers; this task hands messages to the app and writes its replies
//! and the outbox's messages.
//!
//! Replies are written after the callback returns, each `send` waiting for room in the
//! connection's outbound queue; meanwhile the reader is not polled, so a peer that does not
//! read stops being read (backpressure), while the driver task keeps its timers running.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use futures_core::Stream;
use sockwright::conn::SendError;
use sockwright::frame::{CloseCode, CloseFrame};
use sockwright_driver::asynch::{AsyncTransport, Reader, Runtime, WebSocketStream, Writer};
use sockwright_driver::{Error, Handshake, Message};
use tracing::debug;

use super::shared::Shared;
use crate::app::{kind, Conn, End, Reply};
use crate::outbox::{Mailbox, Outgoing};

/// What woke the connection's task.
enum Next {
    /// A message or hub frame from the outbox, to write.
    Outbox(Outgoing),
    /// An item from the reader (`None` once the connection is over).
    Read(Option<Result<Message, Error>>),
}

/// Serves the connection an accept gave, once upgraded; a connection that was not (refused,
/// answered with a page, or lost in the handshake) is only reported.
pub(crate) async fn serve_accepted<T: AsyncTransport, R: Runtime>(
    shared: Arc<Shared>,
    peer: SocketAddr,
    accepted: Result<WebSocketStream<T, R>, Error>,
) {
    match accepted {
        Ok(ws) => {
            let handshake = ws.handshake().clone();
            let (reader, writer) = ws.split();
            serve(shared, peer, handshake, reader, writer).await;
        }
        Err(e) => shared.not_upgraded(peer, &e),
    }
}

/// Serves an upgraded connection until it ends.
async fn serve(
    shared: Arc<Shared>,
    peer: SocketAddr,
    handshake: Handshake,
    mut reader: Reader,
    mut writer: Writer,
) {
    let (mailbox, mut rx) = Mailbox::new(shared.mailbox_limit);
    let id = shared.opened(peer, &handshake, Arc::new(mailbox));
    let mut replies = Replies::default();
    {
        let mut conn = Conn::new(id, peer, &mut replies, &shared.outbox);
        shared.app.on_open(&mut conn, &handshake);
    }
    replies.write(&mut writer).await;
    let end = loop {
        let next = poll_fn(|cx| {
            if let Poll::Ready(Some(message)) = rx.poll_recv(cx) {
                return Poll::Ready(Next::Outbox(message));
            }
            Pin::new(&mut reader).poll_next(cx).map(Next::Read)
        })
        .await;
        match next {
            Next::Outbox(Outgoing::Message(message)) => write(&mut writer, message).await,
            Next::Outbox(Outgoing::Shared(frame, config)) => {
                // The driver task applies the hub's policy; an error means the connection
                // is over, which the reader reports.
                if let Err(e) = writer.deliver_shared(config, frame).await {
                    debug!("hub frame not delivered: {e}");
                }
            }
            // Only the std runner's publishers queue into the connection directly.
            Next::Outbox(Outgoing::Flush) => {}
            Next::Read(Some(Ok(Message::Close(frame)))) => break End::Closed(frame),
            Next::Read(Some(Ok(message))) if message.is_data() => {
                {
                    let mut conn = Conn::new(id, peer, &mut replies, &shared.outbox);
                    shared.app.on_message(&mut conn, message);
                }
                replies.write(&mut writer).await;
            }
            Next::Read(Some(Ok(_))) => {} // pings (answered by the core) and pongs
            Next::Read(Some(Err(e))) => break End::Failed(e),
            // The driver task ended without a word: count it as a transport end.
            Next::Read(None) => {
                break End::Closed(Some(CloseFrame {
                    code: CloseCode::ABNORMAL,
                    reason: String::new(),
                }))
            }
        }
    };
    // Dropping the halves lets the driver task finish the close and end.
    drop((reader, writer, rx));
    shared.closed(id, end);
}

/// Hands `message` to the connection, waiting for room in its outbound queue.
async fn write(writer: &mut Writer, message: Message) {
    let (kind, len) = (kind(&message), message.as_bytes().len());
    match writer.send(message).await {
        Ok(()) => {}
        // The connection is over; its end is reported by the reader.
        Err(Error::Send(SendError::Closed)) => {}
        Err(e) => debug!(kind, len, "message not sent: {e}"),
    }
}

/// The replies of one callback, written once it returns.
#[derive(Default)]
struct Replies(VecDeque<Message>);

impl Replies {
    async fn write(&mut self, writer: &mut Writer) {
        while let Some(message) = self.0.pop_front() {
            write(writer, message).await;
        }
    }
}

impl Reply for Replies {
    fn reply(&mut self, message: Message) -> Result<(), Error> {
        self.0.push_back(message);
        Ok(())
    }
}
