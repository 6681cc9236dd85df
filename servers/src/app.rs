//! What a server is: an [`App`] that routes requests and reacts to connection events, and
//! the [`Conn`] handle its callbacks get to answer with.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use sockwright::frame::{CloseCode, CloseFrame};
use sockwright::handshake::Request;
use sockwright_driver::{Error, Handshake, Message, Route};

use crate::outbox::Outbox;

/// A server written once, run by whichever runtime `--runtime` names.
///
/// The runner calls [`App::route`] for every request head (on the thread or task that read
/// it), then, for each upgraded connection, in order: [`App::on_open`], [`App::on_message`]
/// for each text or binary message, and exactly one [`App::on_close`]. Callbacks of one
/// connection never overlap; callbacks of different connections may run at the same time on
/// different threads, hence `Send + Sync`. Callbacks must not block: on the mio runtime a
/// whole event loop of connections waits for them.
///
/// Every protocol decision (validating the upgrade, origins, close codes, keepalive) is the
/// core's; an app decides only what its server does: which paths upgrade, what plain HTTP
/// requests are answered with, and what a message causes.
pub trait App: Send + Sync + 'static {
    /// What to do with a request, before it is validated as an upgrade:
    /// [`Route::Upgrade`] (the core then validates it, answering `400`/`403`/`426` with a
    /// reason if it is not a valid upgrade), [`Route::Reject`] (e.g. `404`), or
    /// [`Route::Respond`] with a plain HTTP response (see [`crate::http`]).
    fn route(&self, request: &Request) -> Route;

    /// Called once by [`Server::start`](crate::Server::start), before the first request,
    /// with the server's outbox: an app that reaches connections from outside their own
    /// callbacks (a hub's publish endpoint, answered from [`App::route`]) keeps it.
    fn on_start(&self, outbox: &Arc<Outbox>) {
        let _ = outbox;
    }

    /// Connection `conn` was upgraded; `handshake` holds its request (path, query, headers
    /// such as `Name` or `Topic`) and subprotocol.
    fn on_open(&self, conn: &mut Conn<'_>, handshake: &Handshake) {
        let _ = (conn, handshake);
    }

    /// A text or binary message arrived on `conn` (pings are answered by the core).
    fn on_message(&self, conn: &mut Conn<'_>, message: Message);

    /// Connection `id` ended; `end` says how. The id is dead afterwards: the outbox refuses
    /// sends to it.
    fn on_close(&self, id: ConnId, end: &End) {
        let _ = (id, end);
    }

    /// A message accepted by [`Outbox::send`] could not be handed to connection `id` later
    /// (the mio runtime's outbound queue was full), and is given back. Messages to a
    /// connection that ends first are not reported here: its [`App::on_close`] is.
    fn on_undelivered(&self, id: ConnId, message: Message, error: &Error) {
        tracing::warn!(conn = %id, kind = kind(&message), len = message.as_bytes().len(),
            "message not delivered: {error}");
    }
}

/// Names one connection of a server, whatever runtime serves it. Ids are never reused
/// within a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub(crate) u64);

impl ConnId {
    /// The id as a number (for logs and maps).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// How a connection ended, as [`App::on_close`] hears it.
#[derive(Debug)]
pub enum End {
    /// The close handshake ended it, or the transport did: the code and reason (`None`
    /// when the peer's close frame had no code; code 1006 when no close frame came).
    Closed(Option<CloseFrame>),
    /// It failed: a protocol violation (a close with the matching code was sent), a
    /// keepalive timeout, or a transport error.
    Failed(Error),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Closed(None) => f.write_str("closed without a status code"),
            End::Closed(Some(frame)) if frame.code == CloseCode::ABNORMAL => {
                f.write_str("closed 1006: the connection ended without a close frame")
            }
            End::Closed(Some(frame)) if frame.reason.is_empty() => {
                write!(f, "closed {}", frame.code)
            }
            End::Closed(Some(frame)) => {
                write!(f, "closed {} {:?}", frame.code, frame.reason)
            }
            End::Failed(Error::Protocol(violation)) => {
                write!(f, "failed (closed {}): {violation}", violation.close_code())
            }
            End::Failed(error) => write!(f, "failed: {error}"),
        }
    }
}

/// How a runner answers on the connection whose callback is running. Each runtime has its
/// own: a blocking send (std), a reply buffer written after the callback (tokio, smol), the
/// loop's context (mio).
pub(crate) trait Reply {
    /// Queues `message` (any kind; `Close` starts the close handshake) on this connection.
    fn reply(&mut self, message: Message) -> Result<(), Error>;
}

/// One connection, as a callback sees it: answer on it, close it, or reach any other
/// connection through the [`Outbox`].
pub struct Conn<'a> {
    id: ConnId,
    peer: SocketAddr,
    reply: &'a mut dyn Reply,
    outbox: &'a Outbox,
}

impl<'a> Conn<'a> {
    pub(crate) fn new(
        id: ConnId,
        peer: SocketAddr,
        reply: &'a mut dyn Reply,
        outbox: &'a Outbox,
    ) -> Conn<'a> {
        Conn {
            id,
            peer,
            reply,
            outbox,
        }
    }

    /// This connection's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Sends `message` on this connection. Replies keep their order and are never dropped
    /// for lack of room: the runner reads no more from this peer until they fit in its
    /// outbound queue (that is the backpressure a peer that sends but does not read feels).
    /// An error means the message will not be sent (the connection is closing or gone, or
    /// the message is larger than the outbound limit); on tokio and smol replies are handed
    /// to the connection after the callback returns, so such a refusal is logged there
    /// instead (debug) and the connection's end is reported by [`App::on_close`].
    pub fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        self.reply.reply(message.into())
    }

    /// Starts the close handshake with `code` and `reason` (idempotent).
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        self.reply.reply(Message::Close(Some(frame)))
    }

    /// Every connection of the server, by id, from any thread.
    pub fn outbox(&self) -> &'a Outbox {
        self.outbox
    }
}

impl fmt::Debug for Conn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.id)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// A message's kind, for logs.
pub(crate) fn kind(message: &Message) -> &'static str {
    match message {
        Message::Text(_) => "text",
        Message::Binary(_) => "binary",
        Message::Ping(_) => "ping",
        Message::Pong(_) => "pong",
        Message::Close(_) => "close",
    }
}
