//! One connection on an async runtime (tokio or smol): the same task for both, over the
//! unsplit [`WebSocketStream`]. The task reads the socket, hands messages to the app, queues
//! its replies and what its [`Inbox`] holds (the outbox's messages, the hub's frames), and
//! writes them; the stream runs the timers whenever it is polled. One task poll per echoed
//! message, and every frame that arrived in the inbox meanwhile goes out in one write.
//!
//! Backpressure: a message that does not fit in the connection's outbound queue waits in
//! [`Pending`], and while anything waits there the socket is not read and the inbox is not
//! taken from (its senders then meet its bounds), but the stream is still polled with
//! reading gated off, so writes go on and the keepalive and close timers keep running.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use sockwright::conn::SendError;
use sockwright::frame::{CloseCode, CloseFrame, SharedFrame};
use sockwright::hub::HubConfig;
use sockwright_driver::asynch::{AsyncTransport, Runtime, WebSocketStream};
use sockwright_driver::{Error, Message};
use tracing::debug;

use super::shared::Shared;
use crate::app::{kind, Conn, End, Reply};
use crate::broadcast::Inbox;
use crate::mailbox::Outgoing;

/// Serves the connection an accept gave, once upgraded; a connection that was not (refused,
/// answered with a page, or lost in the handshake) is only reported.
pub(crate) async fn serve_accepted<T: AsyncTransport, R: Runtime>(
    shared: Arc<Shared>,
    peer: SocketAddr,
    accepted: Result<WebSocketStream<T, R>, Error>,
) {
    match accepted {
        Ok(ws) => serve(shared, peer, ws).await,
        Err(e) => shared.not_upgraded(peer, &e),
    }
}

/// Serves an upgraded connection until it ends.
async fn serve<T: AsyncTransport, R: Runtime>(
    shared: Arc<Shared>,
    peer: SocketAddr,
    mut ws: WebSocketStream<T, R>,
) {
    let handshake = ws.handshake().clone();
    let (outbox_peer, mut inbox) = shared.cast.join(shared.mailbox_limit);
    let id = shared.opened(peer, &handshake, outbox_peer);
    let mut pending = Pending::default();
    {
        let mut conn = Conn::new(id, peer, &mut pending, &shared.outbox);
        shared.app.on_open(&mut conn, &handshake);
    }
    let end = loop {
        match poll_fn(|cx| poll_next(cx, &mut ws, &mut pending, &mut inbox)).await {
            Some(Ok(Message::Close(frame))) => break End::Closed(frame),
            Some(Ok(message)) if message.is_data() => {
                let mut conn = Conn::new(id, peer, &mut pending, &shared.outbox);
                shared.app.on_message(&mut conn, message);
            }
            Some(Ok(_)) => {} // pings (answered by the core) and pongs
            Some(Err(e)) => break End::Failed(e),
            // The stream ended without a word: count it as a transport end.
            None => {
                break End::Closed(Some(CloseFrame {
                    code: CloseCode::ABNORMAL,
                    reason: String::new(),
                }))
            }
        }
    };
    drop(inbox);
    shared.closed(id, end);
    // Finish the close: write what the session still owes (its close frame, bounded by the
    // close timeout) and end the transport.
    while ws.recv().await.is_some() {}
}

/// Queues what waits and what the inbox holds, then polls the stream: its next message,
/// reading only while nothing waits for room.
fn poll_next<T: AsyncTransport, R: Runtime>(
    cx: &mut Context<'_>,
    ws: &mut WebSocketStream<T, R>,
    pending: &mut Pending,
    inbox: &mut Inbox,
) -> Poll<Option<Result<Message, Error>>> {
    loop {
        pending.queue(ws);
        while pending.is_empty() {
            // The core's hub policy decides, against the hub's own bound; frames whose turn
            // it is are queued in place, without a clone each.
            let mut deliver = |frame: &SharedFrame, config: &Arc<HubConfig>| {
                let _ = ws.deliver_shared(config, frame);
            };
            match inbox.poll_recv_delivering(cx, &mut deliver) {
                Poll::Ready(Some(Outgoing::Message(message))) => {
                    pending.0.push_back(message);
                    pending.queue(ws);
                }
                // A frame behind mail, or from the mailbox.
                Poll::Ready(Some(Outgoing::Shared(frame, config))) => {
                    let _ = ws.deliver_shared(&config, &frame);
                }
                // Only the std runner's publishers queue into the connection directly.
                Poll::Ready(Some(Outgoing::Flush)) => {}
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        let may_read = pending.is_empty();
        let queued = ws.session().queued_bytes();
        match ws.poll_recv_gated(cx, may_read) {
            Poll::Ready(item) => return Poll::Ready(item),
            // The write freed room for what waits: queue it now, or no waker would.
            Poll::Pending if !may_read && ws.session().queued_bytes() < queued => continue,
            Poll::Pending => return Poll::Pending,
        }
    }
}

/// Messages for the connection (the app's replies, the outbox's messages) waiting, in order,
/// for room in its outbound queue.
#[derive(Default)]
struct Pending(VecDeque<Message>);

impl Pending {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Queues messages in the connection until one does not fit.
    fn queue<T: AsyncTransport, R: Runtime>(&mut self, ws: &mut WebSocketStream<T, R>) {
        while let Some(message) = self.0.front() {
            match ws.try_send(message) {
                Ok(()) => {}
                Err(Error::Send(SendError::OutboundFull { .. })) => return,
                // The connection is over; its end is reported by the stream.
                Err(Error::Send(SendError::Closed)) => {}
                Err(e) => debug!(
                    kind = kind(message),
                    len = message.as_bytes().len(),
                    "message not sent: {e}"
                ),
            }
            self.0.pop_front();
        }
    }
}

impl Reply for Pending {
    fn reply(&mut self, message: Message) -> Result<(), Error> {
        self.0.push_back(message);
        Ok(())
    }
}
