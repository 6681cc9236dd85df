//! Split halves: a [`Reader`] and a [`Writer`] served by one driver task that owns the
//! [`WebSocketStream`]. The halves share no lock: they talk to the task over bounded channels.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_channel::{mpsc, oneshot};
use futures_core::Stream;
use futures_sink::Sink;
use sockwright::conn::SendError;
use sockwright::frame::SharedFrame;
use sockwright::hub::HubConfig;

use super::stream::WebSocketStream;
use super::{AsyncTimer, AsyncTransport, Runtime};
use crate::{clock, Error, Message};

/// How many messages may wait for the [`Reader`] in its channel. With the one the channel
/// reserves for its sender and the one the driver task holds, at most this plus two received
/// messages are held for a reader that lags.
pub const READER_QUEUE: usize = 4;

type Item = Result<Message, Error>;

/// What the [`Writer`] hands the driver task.
enum Outgoing {
    Message(Message),
    /// A hub's frame, queued with its slow-consumer policy ([`Writer::deliver_shared`]).
    Shared {
        frame: SharedFrame,
        config: Arc<HubConfig>,
    },
}

/// The receiving half of a split connection: a [`Stream`] of the same items as
/// [`WebSocketStream`] (messages, the final `Close`, or the error once, then `None`).
///
/// The driver task reads the socket and runs the timers whether or not the reader is
/// polled, so keepalive works while the application is busy elsewhere. While the reader
/// lags ([`READER_QUEUE`] messages waiting), the task reads no further (the peer feels the
/// backpressure) but its timers run on; pings and pongs that find the queue full are not
/// queued (the core has already answered the pings). So an application blocked sending to
/// a peer that stopped reading is released: the unanswered keepalive ping fails the
/// connection, the send is refused, and the reader then ends with the error. Dropping the reader discards later
/// messages; dropping both halves closes the connection normally (the task then ends when
/// the close handshake does, and at the latest after the connection's close timeout, even
/// if the peer has stopped reading).
pub struct Reader {
    events: mpsc::Receiver<Item>,
    /// Tells the driver task, by being dropped, that the reader is gone.
    _alive: oneshot::Receiver<()>,
}

/// The sending half of a split connection: a [`Sink`] of [`Message`]s, served by the driver
/// task.
///
/// `poll_ready` waits until the task has taken the previous message, and the task takes a
/// message only when the connection has room for it, so the outbound limit holds back the
/// writer (async backpressure). `poll_flush` waits until the task has taken the message into
/// the connection (it writes it to the socket on its own).
///
/// Where errors surface: a message the connection refuses (too large, a bad close code or
/// control payload) is reported by the writer's next `poll_ready`, `poll_flush` or
/// `poll_close` — normally the flush of the same `send`. Once the connection has ended
/// (closed, failed, or the transport broke) the writer fails with [`SendError::Closed`];
/// why it ended is reported by the [`Reader`]. `poll_close` sends a normal close frame
/// (the peer's reply arrives on the reader); a connection that has already ended closes
/// without error.
pub struct Writer {
    messages: mpsc::Sender<Outgoing>,
    refusals: mpsc::UnboundedReceiver<Error>,
    close_sent: bool,
}

impl<T: AsyncTransport, R: Runtime> WebSocketStream<T, R> {
    /// Splits the connection into a [`Reader`] and a [`Writer`] that can be used from
    /// different tasks, and spawns (with [`Runtime::spawn`]) the task that drives the
    /// connection for them. The halves share no lock; they exchange messages with the task
    /// over bounded channels.
    pub fn split(self) -> (Reader, Writer) {
        let (event_tx, events) = mpsc::channel(READER_QUEUE);
        // No buffer: each sender owns one slot, so the writer has one message in flight.
        let (messages, message_rx) = mpsc::channel(0);
        let (refusal_tx, refusals) = mpsc::unbounded();
        let (reader_alive, alive) = oneshot::channel();
        R::spawn(Driver {
            ws: self,
            events: event_tx,
            pending: None,
            reader: Some(reader_alive),
            messages: Some(message_rx),
            refusals: refusal_tx,
            closing: None,
        });
        let reader = Reader {
            events,
            _alive: alive,
        };
        let writer = Writer {
            messages,
            refusals,
            close_sent: false,
        };
        (reader, writer)
    }
}

/// The task behind split halves.
struct Driver<T, R: Runtime> {
    ws: WebSocketStream<T, R>,
    events: mpsc::Sender<Item>,
    /// An item waiting for room in the reader's channel.
    pending: Option<Item>,
    /// Cancelled when the reader is dropped; `None` once it is.
    reader: Option<oneshot::Sender<()>>,
    /// `None` once the writer is gone or the connection can send no more.
    messages: Option<mpsc::Receiver<Outgoing>>,
    /// Refusals of the writer's messages; each answers one message, so at most one or two
    /// are ever queued.
    refusals: mpsc::UnboundedSender<Error>,
    /// Set once both halves are gone: the connection is being closed, and the task ends
    /// at the latest when this timer fires.
    closing: Option<R::Timer>,
}

impl<T: AsyncTransport, R: Runtime> Driver<T, R> {
    /// A received item for the reader; pings and pongs only if there is room.
    fn deliver(&mut self, item: Item) {
        if self.reader.is_none() {
            return;
        }
        match item {
            Ok(Message::Ping(_) | Message::Pong(_)) => {
                let _ = self.events.try_send(item);
            }
            item => self.pending = Some(item),
        }
    }

    /// The writer can send no more: tell it why, and stop taking its messages.
    fn refuse_all(&mut self, error: Error) {
        let _ = self.refusals.unbounded_send(error);
        self.messages = None;
    }

    /// Takes the writer's messages while the connection has room; returns whether anything
    /// happened.
    fn poll_writer(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(messages) = &mut self.messages else {
            return false;
        };
        let mut progress = false;
        match Pin::new(&mut self.ws).poll_ready(cx) {
            Poll::Ready(Ok(())) => match Pin::new(messages).poll_next(cx) {
                Poll::Ready(Some(Outgoing::Message(message))) => {
                    progress = true;
                    if let Err(e) = Pin::new(&mut self.ws).start_send(message) {
                        let _ = self.refusals.unbounded_send(e);
                    }
                }
                Poll::Ready(Some(Outgoing::Shared { frame, config })) => {
                    progress = true;
                    // Dropped or closed by the policy is no error of the writer's: the
                    // connection's end, if it comes to that, is reported by the reader.
                    let _ = self.ws.deliver_shared(&config, &frame);
                }
                Poll::Ready(None) => {
                    progress = true;
                    self.messages = None;
                }
                Poll::Pending => {}
            },
            Poll::Ready(Err(e)) => {
                self.refuse_all(e);
                return true;
            }
            Poll::Pending => {}
        }
        if let Poll::Ready(Err(e)) = Pin::new(&mut self.ws).poll_flush(cx) {
            self.refuse_all(e);
            progress = true;
        }
        progress
    }
}

impl<T: AsyncTransport, R: Runtime> Future for Driver<T, R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let mut progress = false;
            if let Some(alive) = &mut this.reader {
                if alive.poll_canceled(cx).is_ready() {
                    this.reader = None;
                    this.pending = None;
                }
            }
            if let Some(item) = this.pending.take() {
                match this.events.poll_ready(cx) {
                    Poll::Ready(Ok(())) => {
                        let _ = this.events.start_send(item);
                        progress = true;
                    }
                    Poll::Ready(Err(_)) => this.reader = None,
                    Poll::Pending => this.pending = Some(item),
                }
            }
            if this.pending.is_none() {
                match Pin::new(&mut this.ws).poll_next(cx) {
                    Poll::Ready(Some(item)) => {
                        this.deliver(item);
                        progress = true;
                    }
                    // The connection is over: the halves see their channels end.
                    Poll::Ready(None) => return Poll::Ready(()),
                    Poll::Pending => {}
                }
            } else {
                // The reader lags: read nothing more, but keep writing and keep the timers
                // running, so that keepalive and the close timeout still end a connection
                // whose peer stopped reading while the application waits to send to it.
                progress |= this.ws.poll_timers_and_writes(cx);
            }
            progress |= this.poll_writer(cx);
            if this.reader.is_none() && this.messages.is_none() && this.closing.is_none() {
                // No one is left to wait for the close: a peer that stops reading must not
                // keep the task alive, so it gets the configured close timeout to let the
                // close through, counted from now, even if writes are stuck.
                let mut timer = R::timer();
                let close_timeout = this
                    .ws
                    .session()
                    .connection()
                    .map(|c| c.config().close_timeout);
                timer.reset(clock::instant_at(
                    clock::now() + close_timeout.unwrap_or_default(),
                ));
                this.closing = Some(timer);
                progress = true;
            }
            if let Some(timer) = &mut this.closing {
                if timer.poll_fire(cx).is_ready() {
                    return Poll::Ready(());
                }
                // Errors here mean the connection is already over; the stream ends it.
                let _ = Pin::new(&mut this.ws).poll_close(cx);
            }
            if !progress {
                return Poll::Pending;
            }
        }
    }
}

impl Reader {
    /// The next message, `None` once the connection is over. Cancel safe.
    pub async fn recv(&mut self) -> Option<Item> {
        poll_fn(|cx| Pin::new(&mut self.events).poll_next(cx)).await
    }
}

impl Stream for Reader {
    type Item = Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        Pin::new(&mut self.get_mut().events).poll_next(cx)
    }
}

impl Writer {
    /// Sends a message: waits until the driver task can take it, hands it over, and waits
    /// until the task has queued it in the connection. See [`Writer`] for where errors
    /// surface; cancel safety is that of [`WebSocketStream::send`], where "queued" means
    /// handed to the task.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        poll_fn(|cx| self.poll_ready_send(cx)).await?;
        self.hand_over(Outgoing::Message(message.into()))?;
        poll_fn(|cx| self.poll_flush_sent(cx)).await
    }

    /// Queues a hub's frame, encoded once for every recipient, with the hub's slow-consumer
    /// policy ([`WebSocketStream::deliver_shared`]): waits until the driver task can take it
    /// (as for [`Writer::send`]) but not for room in the outbound queue, since the policy
    /// decides what happens when there is none. Fails with [`SendError::Closed`] once the
    /// connection has ended.
    pub async fn deliver_shared(
        &mut self,
        config: Arc<HubConfig>,
        frame: SharedFrame,
    ) -> Result<(), Error> {
        poll_fn(|cx| self.poll_ready_send(cx)).await?;
        self.hand_over(Outgoing::Shared { frame, config })?;
        poll_fn(|cx| self.poll_flush_sent(cx)).await
    }

    /// Sends a normal close frame (once) and waits until the task has taken it. Cancel safe.
    pub async fn close(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_close_sent(cx)).await
    }

    /// A refusal reported by the task, if any.
    fn poll_refusal(&mut self, cx: &mut Context<'_>) -> Option<Error> {
        match Pin::new(&mut self.refusals).poll_next(cx) {
            Poll::Ready(Some(e)) => Some(e),
            Poll::Ready(None) | Poll::Pending => None,
        }
    }

    fn poll_ready_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if let Some(e) = self.poll_refusal(cx) {
            return Poll::Ready(Err(e));
        }
        match ready!(self.messages.poll_ready(cx)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(_) => Poll::Ready(Err(Error::Send(SendError::Closed))),
        }
    }

    fn hand_over(&mut self, item: Outgoing) -> Result<(), Error> {
        self.messages
            .start_send(item)
            .map_err(|_| Error::Send(SendError::Closed))
    }

    fn poll_flush_sent(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let taken = ready!(self.messages.poll_ready(cx));
        if let Some(e) = self.poll_refusal(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(taken.map_err(|_| Error::Send(SendError::Closed)))
    }

    fn poll_close_sent(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let result = if self.close_sent {
            ready!(self.poll_flush_sent(cx))
        } else {
            match ready!(self.poll_ready_send(cx)) {
                Ok(()) => {
                    self.close_sent = true;
                    match self.hand_over(Outgoing::Message(Message::Close(None))) {
                        Ok(()) => ready!(self.poll_flush_sent(cx)),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        };
        match result {
            // The connection is already over: it is closed.
            Err(Error::Send(SendError::Closed)) => Poll::Ready(Ok(())),
            other => Poll::Ready(other),
        }
    }
}

impl Sink<Message> for Writer {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_ready_send(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().hand_over(Outgoing::Message(message))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_flush_sent(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_close_sent(cx)
    }
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader").finish_non_exhaustive()
    }
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("close_sent", &self.close_sent)
            .finish_non_exhaustive()
    }
}
