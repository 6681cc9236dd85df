//! The async driving loop, written once for every runtime (feature `async`).
//!
//! A runtime adapter (`sockwright-tokio`, `sockwright-smol`) implements three small traits —
//! [`AsyncTransport`] for its socket, [`AsyncTimer`] for its timer and [`Runtime`] to make
//! timers and spawn tasks — and gets from here:
//!
//! - [`WebSocketStream`]: a [`Stream`](futures_core::Stream) of
//!   `Result<Message, Error>` and a [`Sink`](futures_sink::Sink) of [`Message`](crate::Message),
//!   with inherent `recv`, `send`, `flush` and `close` methods for code without `StreamExt`
//!   or `SinkExt`;
//! - [`accept`] and [`connect`]: the server and client handshakes, bounded by the handshake
//!   timeout of the options;
//! - [`WebSocketStream::split`]: a [`Reader`] and a [`Writer`] served by a driver task.
//!
//! The loop only moves bytes between the transport and a [`Session`](crate::Session) and arms
//! the session's timer, keeping the session's drain invariant; every protocol decision is the
//! core's.
//!
//! # Who drives the connection
//!
//! A [`WebSocketStream`] does its work inside the calls made on it:
//!
//! - polling the stream ([`WebSocketStream::recv`], `StreamExt::next`) reads the socket, runs
//!   the session's timers (keepalive pings, the pong timeout, the close timeout) and writes
//!   whatever the session has queued (pongs, close replies). **Timers only run while the
//!   stream is polled**: an application that holds a stream without reading it gets no
//!   keepalive. Use [`WebSocketStream::split`] when reading and writing happen in different
//!   places, or when the application may stop reading for a while; or, to serve both in one
//!   task (one wake-up per message, as `sockwright-servers` does), queue with
//!   [`WebSocketStream::try_send`] and poll [`WebSocketStream::poll_recv_gated`], with reading
//!   gated off while a message waits for room: timers and writes go on;
//! - the sink ([`WebSocketStream::send`], `SinkExt::send`) queues messages and writes; it never
//!   reads.
//!
//! # Backpressure
//!
//! A send waits while the session's outbound queue is at its limit
//! ([`Config::max_outbound_bytes`](sockwright::conn::Config::max_outbound_bytes)):
//! `poll_ready` writes queued bytes to the socket until there is room again. A peer that does
//! not read therefore stalls the sender instead of growing memory: at most the limit plus
//! one message is held per connection. A message too large for the limit is refused at once
//! with [`SendError::TooLarge`](sockwright::conn::SendError::TooLarge). Once the connection can
//! send no more (closing, closed or failed) a waiting send is refused at once with
//! [`SendError::Closed`](sockwright::conn::SendError::Closed); and a finished connection whose
//! last bytes the peer does not take within the close timeout ends without them, so a peer
//! that stopped reading holds nothing for long. The driver task of split halves runs the
//! timers even while its reader lags, so keepalive ends such a connection while the
//! application waits to send to it.
//!
//! # Cancel safety
//!
//! - `recv` / `StreamExt::next`: cancel safe. Everything read is kept in the session; a
//!   dropped call loses nothing and the next call returns the next item.
//! - `send` / `SinkExt::send`: while it waits for room (before the message is queued),
//!   cancelling drops the message unsent; once the message is queued — the future then only
//!   waits for the socket to take the bytes — cancelling leaves it queued, and it is written
//!   by the next `send`, `flush`, `close` or `recv`. A message is always queued whole: the
//!   peer never sees part of a frame because a future was dropped.
//! - `flush`, `close`: cancel safe; calling them again resumes where they stopped (`close`
//!   queues only one close frame).
//! - [`accept`], [`connect`]: not cancel safe: dropping the future drops the connection.
//! - [`Reader::recv`]: cancel safe. [`Writer::send`]: as `send` above, where "queued" means
//!   handed to the driver task.

mod handshake;
mod io;
mod split;
mod stream;

use std::future::Future;
use std::io as stdio;
use std::task::{Context, Poll};
use std::time::Instant;

pub use handshake::{accept, connect, with_deadline};
pub use io::DeadlineTimer;
pub use split::{Reader, Writer, READER_QUEUE};
pub use stream::WebSocketStream;

/// A byte stream to run a WebSocket over: a TCP stream (or any duplex byte stream) of the
/// runtime. The methods have the meaning of their namesakes in tokio's and futures' I/O
/// traits: each either makes progress or registers the waker in `cx` and returns `Pending`.
pub trait AsyncTransport: Send + Unpin + 'static {
    /// Reads into `buf`; `Ok(0)` means the peer ended its side.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<stdio::Result<usize>>;

    /// Writes from `buf`; returns how many bytes were taken (more than 0 for a non-empty
    /// `buf`).
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<stdio::Result<usize>>;

    /// Flushes and ends the write side (TCP FIN).
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<stdio::Result<()>>;
}

/// A resettable one-shot timer of the runtime.
pub trait AsyncTimer: Send + Unpin + 'static {
    /// Sets the timer to fire at `at`, replacing any earlier setting (fired or not).
    fn reset(&mut self, at: Instant);

    /// `Ready` once the time set by the last [`AsyncTimer::reset`] has come (and on every
    /// later poll until the next reset); otherwise registers the waker and returns `Pending`.
    fn poll_fire(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// What the async loop needs from a runtime besides its sockets. Implemented by a unit type
/// in each runtime adapter and used as a type parameter only.
pub trait Runtime: Send + Sync + 'static {
    /// The runtime's timer.
    type Timer: AsyncTimer;

    /// A new timer, not yet set (it must not fire before its first reset).
    fn timer() -> Self::Timer;

    /// Runs `future` to completion in the background (the driver task of split halves).
    fn spawn<F>(future: F)
    where
        F: Future<Output = ()> + Send + 'static;
}
