//! An open connection: the reading handle ([`WebSocket`]) and the sending handles
//! ([`Sender`]).

use std::fmt;
use std::io::{self, ErrorKind, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use sockwright_driver::sockwright::frame::{CloseCode, SharedFrame};
use sockwright_driver::sockwright::hub::{Delivery, HubConfig};
use sockwright_driver::{clock, Error, Handshake, Message, Session, SessionEvent};

use crate::ready::{self, Ready};
use crate::shared::Shared;

/// The longest the reader waits in one socket read while other handles ([`Sender`]s) exist:
/// one of them may have moved the session's deadline (a `close` arms the close timeout), and
/// the reader only learns of it when it wakes. Without other handles the reader sleeps until
/// the session's own deadline, or until input comes.
pub const MAX_READ_WAIT: Duration = Duration::from_secs(1);

/// How many bytes one socket read takes at most.
const READ_CHUNK: usize = 64 * 1024;

/// An open WebSocket connection (server or client, plain or TLS), read from one thread.
///
/// [`WebSocket::read`] drives the connection: it hands socket bytes to the session, writes
/// what the session answers (pongs, close replies) and runs the session's timers. Sends
/// work from any thread through [`WebSocket::sender`]. See the [crate documentation](crate)
/// for backpressure, timers and how a connection ends.
pub struct WebSocket {
    shared: Arc<Shared>,
    /// The socket's read half (a clone of the writer's).
    stream: TcpStream,
    buf: Box<[u8]>,
    handshake: Handshake,
    /// The socket's read timeout as last set, to skip needless system calls.
    read_timeout: Option<Duration>,
    /// The transport ended (EOF, reset or failure): nothing more is read from it.
    eof: bool,
    /// The end of the connection (the `Close` message or the error) was returned.
    ended: bool,
}

impl WebSocket {
    /// A connection whose handshake has completed on `stream`.
    pub(crate) fn new(stream: TcpStream, mut session: Session) -> Result<WebSocket, Error> {
        let handshake = session.take_handshake().ok_or(Error::NotOpen)?;
        let write_half = stream.try_clone()?;
        Ok(WebSocket {
            shared: Arc::new(Shared::new(session, write_half)),
            stream,
            buf: vec![0; READ_CHUNK].into_boxed_slice(),
            handshake,
            read_timeout: None,
            eof: false,
            ended: false,
        })
    }

    /// Waits for the next message: `Text`, `Binary`, `Ping` or `Pong` (pings are already
    /// answered), then one final `Close` with the code and reason the connection ended with
    /// (code 1006 when the transport ended without a close frame), then [`Error::Closed`].
    /// A fatal error (a protocol violation, a keepalive timeout, a transport failure) is
    /// returned in place of the `Close`.
    pub fn read(&mut self) -> Result<Message, Error> {
        self.read_until(None)
    }

    /// [`WebSocket::read`], waiting at most `timeout`: then it returns an [`Error::Io`] of kind
    /// [`ErrorKind::TimedOut`] and the connection stays usable (nothing read is lost).
    pub fn read_timeout(&mut self, timeout: Duration) -> Result<Message, Error> {
        self.read_until(clock::now().checked_add(timeout))
    }

    /// Sends a message and returns once it is written to the socket (the std adapter's
    /// backpressure). `Message::Close` starts the close handshake, as [`WebSocket::close`].
    pub fn send(&self, message: impl Into<Message>) -> Result<(), Error> {
        send(&self.shared, message.into())
    }

    /// Starts the close handshake with `code` and `reason` and returns once the close frame
    /// is written. Keep reading to see the peer's reply as the final `Close`. Idempotent.
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.shared.send(|session| session.close(code, reason))
    }

    /// Ends the transport at once, both ways, without a close handshake: a send blocked in a
    /// socket write fails, and reading ends. For a peer that has stopped reading: once the
    /// connection is over (its close timeout passed), nothing else frees a thread blocked
    /// writing to it, as the peer's TCP window stays shut.
    pub fn abort(&self) {
        self.shared.write_closed_by_reader();
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// A handle that sends on this connection from another thread.
    pub fn sender(&self) -> Sender {
        Sender {
            shared: self.shared.clone(),
        }
    }

    /// What the handshake agreed on: the request (path, query, headers such as `Name` or
    /// `Topic`) on a server, the response on a client, and the subprotocol.
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// The subprotocol agreed on, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.handshake.subprotocol()
    }

    /// Whether messages may still be sent (no close has been sent, no failure).
    pub fn is_open(&self) -> bool {
        self.shared.session().is_open()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    fn read_until(&mut self, deadline: Option<Duration>) -> Result<Message, Error> {
        loop {
            if self.ended {
                return Err(Error::Closed);
            }
            let (event, finished) = {
                let mut session = self.shared.session();
                (session.poll_event(), session.is_finished())
            };
            // The drain invariant: write what the input left queued (pongs, close replies),
            // as much as fits now; the rest while waiting for input. The last bytes of a
            // finished session are waited for. A write failure shows up as the end of the
            // transport on the next read.
            let _ = if finished || self.eof {
                self.shared.flush_waiting()
            } else {
                self.shared.flush()
            };
            match event {
                Some(Ok(event)) => {
                    if let Some(message) = into_message(event) {
                        return Ok(message);
                    }
                }
                Some(Err(e)) => {
                    self.ended = true;
                    return Err(e);
                }
                None if finished || self.eof => {
                    self.ended = true;
                    return Err(Error::Closed);
                }
                None => self.wait_for_input(deadline)?,
            }
        }
    }

    /// One socket read, bounded by the session's deadline, the caller's and (while other
    /// handles exist) [`MAX_READ_WAIT`]; what it brings goes to the session.
    fn wait_for_input(&mut self, deadline: Option<Duration>) -> Result<(), Error> {
        let now = clock::now();
        let timer = self.shared.session().poll_timeout();
        if timer.is_some_and(|at| at <= now) {
            self.shared.session().handle_timeout(now);
            return Ok(());
        }
        if deadline.is_some_and(|at| at <= now) {
            return Err(Error::Io(ErrorKind::TimedOut.into()));
        }
        let mut wait = timer
            .into_iter()
            .chain(deadline)
            .min()
            .map(|at| at.saturating_sub(now));
        if Arc::strong_count(&self.shared) > 1 {
            wait = Some(wait.map_or(MAX_READ_WAIT, |w| w.min(MAX_READ_WAIT)));
        }
        // A zero timeout means "block" to the socket.
        let wait = wait.map(|w| w.max(Duration::from_millis(1)));
        // Output the peer is not taking yet, and no sender is writing it: wait for room to
        // write it as well as for input, so that neither waits for the other.
        if self.shared.output_blocked() {
            match ready::wait(&self.stream, wait)? {
                Ready::Readable => {}
                Ready::Writable => return Ok(()),
                Ready::TimedOut => {
                    self.shared.session().handle_timeout(clock::now());
                    return Ok(());
                }
            }
        }
        if wait != self.read_timeout {
            self.stream.set_read_timeout(wait)?;
            self.read_timeout = wait;
        }
        match self.stream.read(&mut self.buf) {
            Ok(0) => self.transport_ended(),
            Ok(n) => {
                let bytes = self.buf.get(..n).unwrap_or_default();
                self.shared.session().handle_input(clock::now(), bytes);
            }
            // The timer fired, or the wait was cut short: early calls do nothing.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                self.shared.session().handle_timeout(clock::now());
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ) =>
            {
                self.transport_ended();
            }
            Err(e) => {
                self.transport_ended();
                let _ = self.stream.shutdown(Shutdown::Both);
                self.shared.write_closed_by_reader();
                self.ended = true;
                return Err(Error::Io(e));
            }
        }
        Ok(())
    }

    fn transport_ended(&mut self) {
        self.eof = true;
        self.shared.session().handle_eof(clock::now());
    }
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("peer", &self.stream.peer_addr().ok())
            .field("subprotocol", &self.subprotocol())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// Sends on a [`WebSocket`] from any thread; clone it freely.
///
/// Concurrent sends are safe: each message is queued and written whole, one sender at a
/// time, and a send returns once its bytes are on the socket. Sends never stop the reader
/// from taking input. A sender keeps the socket open after the [`WebSocket`] is dropped,
/// but then nobody reads: pings go unanswered and timers do not run.
#[derive(Clone)]
pub struct Sender {
    shared: Arc<Shared>,
}

impl Sender {
    /// Sends a message and returns once it is written, as [`WebSocket::send`].
    pub fn send(&self, message: impl Into<Message>) -> Result<(), Error> {
        send(&self.shared, message.into())
    }

    /// Starts the close handshake, as [`WebSocket::close`]. Idempotent. The reader sees the
    /// peer's reply (or the close timeout) within [`MAX_READ_WAIT`] of it being due.
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.shared.send(|session| session.close(code, reason))
    }

    /// Whether messages may still be sent (no close has been sent, no failure).
    pub fn is_open(&self) -> bool {
        self.shared.session().is_open()
    }

    /// Queues a message without writing it and without waiting: fails with
    /// [`SendError::OutboundFull`](sockwright_driver::sockwright::conn::SendError) when the
    /// outbound queue has no room (a close is always taken). The bytes are written by the
    /// next [`Sender::flush`] or send, or by the reader after its next input. For a thread
    /// that must never block on a peer (a broadcaster), with another thread that flushes.
    pub fn queue(&self, message: impl Into<Message>) -> Result<(), Error> {
        self.shared.session().send(message.into())
    }

    /// Queues a hub's frame with the hub's slow-consumer policy, without writing it and
    /// without waiting, as the core's `hub::deliver` decides (see
    /// [`Session::deliver_shared`](sockwright_driver::Session::deliver_shared)): the same
    /// encoded bytes for every recipient; a connection whose queue has no room is closed
    /// with the policy's code, or the frame is dropped for it. Written as for
    /// [`Sender::queue`].
    pub fn deliver_shared(&self, config: &HubConfig, frame: &SharedFrame) -> Delivery {
        self.shared.session().deliver_shared(config, frame)
    }

    /// Writes everything queued and returns once it is on the socket, waiting first for any
    /// other thread that is writing.
    pub fn flush(&self) -> Result<(), Error> {
        self.shared.flush_blocking()
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

fn send(shared: &Shared, message: Message) -> Result<(), Error> {
    shared.send(|session| session.send(message))
}

/// What the application reads for a session event (`Opened` is the handshake's business).
fn into_message(event: SessionEvent) -> Option<Message> {
    match event {
        SessionEvent::Opened => None,
        SessionEvent::Message(message) => Some(message),
        SessionEvent::Ping(data) => Some(Message::Ping(data)),
        SessionEvent::Pong(data) => Some(Message::Pong(data)),
        SessionEvent::Closed(closed) => Some(closed.into()),
    }
}
