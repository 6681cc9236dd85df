//! [`WebSocketStream`]: an open connection as a `Stream` of messages and a `Sink` of them.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use futures_sink::Sink;
use sockwright::conn::SendError;
use sockwright::frame::SharedFrame;
use sockwright::hub::{Delivery, HubConfig};

use super::io::{Conn, READS_PER_POLL};
use super::{AsyncTransport, Runtime};
use crate::{clock, Error, Handshake, Message, Session, SessionEvent};

/// An open WebSocket connection over the transport `T`, on the runtime `R`.
///
/// As a [`Stream`] it yields `Text`, `Binary`, `Ping` and `Pong` messages as they arrive
/// (pings are answered by the core on its own), then one final [`Message::Close`] with the
/// code and reason the connection ended with, then `None`. A failure is yielded once as an
/// `Err` item, after every message that arrived before it, and then the stream ends: a
/// protocol violation or a keepalive timeout (the session's close frame for the peer is
/// written first), or a transport error.
///
/// As a [`Sink`] it sends any [`Message`]; `Message::Close(None)` closes normally.
/// `poll_ready` waits while the outbound queue is at its limit (see the
/// [module documentation](super) for backpressure), `start_send` queues the message,
/// `poll_flush` writes until the queue is empty, and `poll_close` queues a normal close
/// frame and flushes it — the peer's reply is then read on the stream, which ends after it;
/// the transport is closed when the stream ends (or when this value is dropped). Sending
/// after the connection has ended fails with [`SendError::Closed`].
///
/// The stream side drives the connection: timers (keepalive, close timeout) run only while
/// it is polled. See the [module documentation](super) for who drives what and for the
/// cancel safety of each method.
pub struct WebSocketStream<T, R: Runtime> {
    pub(super) conn: Conn<T, R>,
    handshake: Handshake,
    /// A message `start_send` accepted while the queue was too full for it.
    held: Option<Message>,
    broken: Option<Broken>,
    /// The stream has returned `None`.
    ended: bool,
    close_queued: bool,
    /// Once the session has finished: when its last output must be written by (its close
    /// timeout from then), or the stream ends without it, so that a peer that stopped
    /// reading cannot hold the connection open.
    flush_deadline: Option<Duration>,
}

/// A transport failure, reported once to the stream and once to the sink.
struct Broken {
    kind: io::ErrorKind,
    text: String,
    told_stream: bool,
    told_sink: bool,
}

impl Broken {
    fn error(&self) -> Error {
        Error::Io(io::Error::new(self.kind, self.text.clone()))
    }
}

impl<T: AsyncTransport, R: Runtime> WebSocketStream<T, R> {
    pub(super) fn new(conn: Conn<T, R>, handshake: Handshake) -> Self {
        WebSocketStream {
            conn,
            handshake,
            held: None,
            broken: None,
            ended: false,
            close_queued: false,
            flush_deadline: None,
        }
    }

    /// What the handshake agreed on: the request (path, query, headers) on a server, the
    /// response on a client, and the subprotocol.
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// The transport, e.g. to read the peer's address.
    pub fn get_ref(&self) -> &T {
        &self.conn.transport
    }

    /// The session, to observe it (queued bytes, whether it is open).
    pub fn session(&self) -> &Session {
        &self.conn.session
    }

    /// The next message, `None` after the final `Close` (or the error). Cancel safe.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Sends a message: waits for room in the outbound queue, queues it, and writes until
    /// the queue is empty. See the module documentation for cancel safety.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        poll_fn(|cx| self.poll_ready_send(cx)).await?;
        self.queue(message.into())?;
        self.flush().await
    }

    /// Queues a hub's frame with the hub's slow-consumer policy, as the core's
    /// [`hub::deliver`](sockwright::hub::deliver) decides (see
    /// [`Session::deliver_shared`]), without waiting: the frame is written by the next
    /// `send`, `flush`, `close` or `recv`. It goes behind everything in the session's queue;
    /// a message the sink is still holding for room (`start_send` without `poll_ready`) is
    /// not in it yet.
    pub fn deliver_shared(&mut self, config: &HubConfig, frame: &SharedFrame) -> Delivery {
        self.conn.session.deliver_shared(config, frame)
    }

    /// Writes everything queued. Cancel safe.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_flush_all(cx)).await
    }

    /// Starts the close handshake with a normal close (1000) and writes it; the peer's reply
    /// arrives on the stream. Cancel safe and idempotent. To close with another code, send a
    /// `Message::Close(Some(..))`.
    pub async fn close(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_close_send(cx)).await
    }

    /// Queues `message` behind what is queued if it fits in the outbound queue now, without
    /// waiting and without writing (the next poll of the stream, `flush` or `send` writes
    /// it). A message that does not fit yet is refused with
    /// [`SendError::OutboundFull`] and stays the caller's, to try again once the peer has
    /// taken some bytes; a close frame always fits. Refused with `OutboundFull` too while the
    /// sink holds a message (`start_send` without `poll_ready`), so nothing is reordered.
    pub fn try_send(&mut self, message: &Message) -> Result<(), Error> {
        if let Some(e) = self.sink_error() {
            return Err(e);
        }
        if self.held.is_some() {
            let session = &self.conn.session;
            return Err(Error::Send(SendError::OutboundFull {
                queued: session.queued_bytes(),
                needed: message.as_bytes().len(),
                limit: session
                    .connection()
                    .map_or(0, |c| c.config().max_outbound_bytes),
            }));
        }
        queue_into(&mut self.conn.session, message)
    }

    /// Polls for the next message as the stream does, but reads the transport only when
    /// `may_read`. Otherwise it still writes what is queued, runs the timers (keepalive, the
    /// pong and close timeouts) and yields what the session already holds (a failure a timer
    /// caused, the final close, the end). For one task that both reads and writes a
    /// connection and stops reading while its peer does not take what it is sent
    /// (backpressure) without stopping keepalive: with `may_read` false and nothing queued
    /// to write, only the timers can wake the task.
    pub fn poll_recv_gated(
        &mut self,
        cx: &mut Context<'_>,
        may_read: bool,
    ) -> Poll<Option<Result<Message, Error>>> {
        self.poll_recv_inner(cx, may_read)
    }

    // ---- the stream ----

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        self.poll_recv_inner(cx, true)
    }

    fn poll_recv_inner(
        &mut self,
        cx: &mut Context<'_>,
        may_read: bool,
    ) -> Poll<Option<Result<Message, Error>>> {
        let mut reads = 0;
        loop {
            if self.ended {
                return Poll::Ready(None);
            }
            if let Some(item) = self.next_event() {
                // Write what taking the event queued (a close reply), without waiting.
                let _ = self.poll_write(cx);
                return Poll::Ready(Some(item));
            }
            if let Some(broken) = &mut self.broken {
                self.ended = true;
                if !broken.told_stream {
                    broken.told_stream = true;
                    return Poll::Ready(Some(Err(broken.error())));
                }
                return Poll::Ready(None);
            }
            let written = self.poll_write(cx);
            if self.broken.is_some() {
                continue;
            }
            if self.conn.session.is_finished() {
                if written.is_pending() {
                    if !self.poll_flush_deadline(cx) {
                        return Poll::Pending;
                    }
                    // The peer has not taken the last bytes within the close timeout: the
                    // transport is dropped with the stream, without them.
                } else {
                    ready!(self.conn.poll_shutdown(cx));
                }
                self.ended = true;
                return Poll::Ready(None);
            }
            if self.conn.poll_timer(cx) {
                continue;
            }
            if self.conn.read_done || !may_read {
                // (`read_done`: unreachable in practice, the end of input finishes the
                // session.)
                return Poll::Pending;
            }
            if reads == READS_PER_POLL {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            reads += 1;
            match self.conn.poll_read_in(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => self.break_with(e),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Arms the timer for the finished session's flush deadline; whether it has passed.
    fn poll_flush_deadline(&mut self, cx: &mut Context<'_>) -> bool {
        let session = &self.conn.session;
        let deadline = *self.flush_deadline.get_or_insert_with(|| {
            let close_timeout = session.connection().map(|c| c.config().close_timeout);
            clock::now() + close_timeout.unwrap_or_default()
        });
        self.conn.poll_deadline(cx, Some(deadline))
    }

    /// For a driver whose reader lags, so that the stream is not polled: writes what can be
    /// written and runs the session's timers (keepalive, close timeout), reading nothing.
    /// Returns whether a timer fired (the caller polls again, to re-arm it). What the timers
    /// cause (an error, the close) reaches the reader when it catches up.
    pub(super) fn poll_timers_and_writes(&mut self, cx: &mut Context<'_>) -> bool {
        let _ = self.poll_write(cx);
        if self.ended || self.broken.is_some() || self.conn.session.is_finished() {
            return false;
        }
        self.conn.poll_timer(cx)
    }

    /// The session's next event as a stream item (`Opened` was taken by the handshake).
    fn next_event(&mut self) -> Option<Result<Message, Error>> {
        loop {
            return Some(match self.conn.session.poll_event()? {
                Ok(SessionEvent::Opened) => continue,
                Ok(SessionEvent::Message(message)) => Ok(message),
                Ok(SessionEvent::Ping(data)) => Ok(Message::Ping(data)),
                Ok(SessionEvent::Pong(data)) => Ok(Message::Pong(data)),
                Ok(SessionEvent::Closed(closed)) => Ok(closed.into()),
                Err(e) => Err(e),
            });
        }
    }

    /// Writes what can be written now; a failure is recorded, not returned.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.broken.is_some() {
            return Poll::Ready(());
        }
        match ready!(self.conn.poll_write_out(cx)) {
            Ok(()) => {}
            Err(e) => self.break_with(e),
        }
        Poll::Ready(())
    }

    fn break_with(&mut self, e: io::Error) {
        if self.broken.is_none() {
            self.broken = Some(Broken {
                kind: e.kind(),
                text: e.to_string(),
                told_stream: false,
                told_sink: false,
            });
        }
    }

    // ---- the sink ----

    /// The sink's view of a broken transport: the error once, then `Closed`.
    fn sink_error(&mut self) -> Option<Error> {
        let broken = self.broken.as_mut()?;
        if broken.told_sink {
            return Some(Error::Send(SendError::Closed));
        }
        broken.told_sink = true;
        Some(broken.error())
    }

    /// Writes everything queued; `Ready(Ok)` once the session's output is empty.
    fn poll_write_all(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.poll_write(cx));
        match self.sink_error() {
            Some(e) => Poll::Ready(Err(e)),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Queues the held message, writing until there is room for it.
    fn poll_held(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while let Some(message) = self.held.take() {
            match queue_into(&mut self.conn.session, &message) {
                Ok(()) => {}
                Err(Error::Send(SendError::OutboundFull { .. }))
                    if self.conn.session.queued_bytes() > 0 =>
                {
                    self.held = Some(message);
                    ready!(self.poll_write_all(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_ready_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            if let Some(e) = self.sink_error() {
                return Poll::Ready(Err(e));
            }
            ready!(self.poll_held(cx))?;
            // With nothing queued, waiting cannot make room: the send decides (a message
            // over the limit is refused as too large). Nor can it once the connection may
            // send no more (closing, closed or failed): the send is refused.
            let session = &self.conn.session;
            if session.has_outbound_room() || session.queued_bytes() == 0 || !session.is_open() {
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_write_all(cx))?;
        }
    }

    /// Queues `message`; one that does not fit yet is held and queued by the next
    /// `poll_ready` or `poll_flush`.
    fn queue(&mut self, message: Message) -> Result<(), Error> {
        if let Some(e) = self.sink_error() {
            return Err(e);
        }
        if let Some(held) = &self.held {
            // The caller skipped `poll_ready`: refuse rather than reorder.
            queue_into(&mut self.conn.session, held)?;
            self.held = None;
        }
        match queue_into(&mut self.conn.session, &message) {
            Err(Error::Send(SendError::OutboundFull { .. })) => {
                self.held = Some(message);
                Ok(())
            }
            other => other,
        }
    }

    fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if let Some(e) = self.sink_error() {
            return Poll::Ready(Err(e));
        }
        ready!(self.poll_held(cx))?;
        self.poll_write_all(cx)
    }

    fn poll_close_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if !self.close_queued {
            ready!(self.poll_flush_all(cx))?;
            match self.conn.session.send(Message::Close(None)) {
                // Already closing or closed: closing again is not an error.
                Ok(()) | Err(Error::Send(SendError::Closed)) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            self.close_queued = true;
        }
        self.poll_flush_all(cx)
    }
}

/// Queues `message` in the session without giving it up, so that a message that does not
/// fit yet can be kept.
fn queue_into(session: &mut Session, message: &Message) -> Result<(), Error> {
    match message {
        Message::Text(text) => session.send_text(text),
        Message::Binary(data) => session.send_binary(data),
        // Control payloads are at most 125 bytes, or refused: cheap to copy.
        other => session.send(other.clone()),
    }
}

impl<T: AsyncTransport, R: Runtime> Stream for WebSocketStream<T, R> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<T: AsyncTransport, R: Runtime> Sink<Message> for WebSocketStream<T, R> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_ready_send(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().queue(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_flush_all(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_close_send(cx)
    }
}

impl<T, R: Runtime> fmt::Debug for WebSocketStream<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketStream")
            .field("subprotocol", &self.handshake.subprotocol())
            .field("queued_bytes", &self.conn.session.queued_bytes())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
