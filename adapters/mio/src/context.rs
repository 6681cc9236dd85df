//! [`Context`]: what a handler callback can do to its loop.

use std::net::SocketAddr;
use std::sync::Arc;

use sockwright_driver::sockwright::frame::{CloseCode, SharedFrame};
use sockwright_driver::sockwright::handshake::WsUrl;
use sockwright_driver::sockwright::hub::{Delivery, HubConfig};
use sockwright_driver::{ClientOptions, Error, Message};

use crate::handle::{resolve, LoopHandle};
use crate::handler::ConnId;
use crate::reactor::Reactor;

/// The loop, as a [`Handler`](crate::Handler) callback sees it: send to or close any of its
/// connections, open client connections, stop it.
///
/// Commands queue bytes in the connection's session; the loop writes them after the
/// callback returns. A command to an id whose connection has ended fails with
/// [`Error::Send`]`(`[`SendError::Closed`](sockwright_driver::sockwright::conn::SendError)`)`;
/// before its handshake completed, with [`Error::NotOpen`].
///
/// # Backpressure
///
/// Each connection's outbound queue is bounded by its `max_outbound_bytes`. A send that does
/// not fit fails with [`Error::Send`]`(SendError::OutboundFull { .. })` and queues nothing;
/// the loop then calls [`Handler::on_writable`](crate::Handler::on_writable) once the queue
/// has been written to the socket. Meanwhile, [`Context::pause_reading`] stops reading from
/// a peer whose answers cannot be sent (its TCP window then slows it down).
///
/// # Flow control
///
/// [`Context::pause_reading`] also holds back the connection's decoded messages, so a
/// handler can take them one at a time (e.g. to hand each to another thread and resume when
/// it has been answered, as the blocking [`Client`](crate::Client) does).
pub struct Context<'a> {
    reactor: &'a mut Reactor,
}

impl<'a> Context<'a> {
    pub(crate) fn new(reactor: &'a mut Reactor) -> Context<'a> {
        Context { reactor }
    }

    /// Sends a message of any kind to `id` (`Close(None)` closes normally).
    pub fn send(&mut self, id: ConnId, message: impl Into<Message>) -> Result<(), Error> {
        self.reactor.send_ref(id, &message.into())
    }

    /// Sends a text message to `id`, without taking ownership of it.
    pub fn send_text(&mut self, id: ConnId, text: &str) -> Result<(), Error> {
        self.reactor.command(id, |session| session.send_text(text))
    }

    /// Sends a binary message to `id`, without taking ownership of it.
    pub fn send_binary(&mut self, id: ConnId, data: &[u8]) -> Result<(), Error> {
        self.reactor
            .command(id, |session| session.send_binary(data))
    }

    /// Queues a hub's frame, encoded once for every recipient, on `id` with the hub's
    /// slow-consumer policy, as the core's
    /// [`hub::deliver`](sockwright_driver::sockwright::hub::deliver) decides: queued if the
    /// connection has room under the hub's `max_queued_bytes`, otherwise closed with the
    /// policy's code or dropped. Never waits and never asks for `on_writable`.
    pub fn deliver_shared(
        &mut self,
        id: ConnId,
        config: &HubConfig,
        frame: &SharedFrame,
    ) -> Delivery {
        self.reactor.deliver_shared(id, config, frame)
    }

    /// Starts the close handshake of `id` (idempotent). The handler hears `on_close` when it
    /// is over.
    pub fn close(&mut self, id: ConnId, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.reactor
            .command(id, |session| session.close(code, reason))
    }

    /// Opens a client connection to a `ws://` or `wss://` URL on this loop and returns its
    /// id at once; the handler hears `on_open` or `on_close` for it (an error returned here,
    /// e.g. a bad URL or every address refusing at once, is the only report). A host name is resolved
    /// here, blocking the loop for the lookup: use an IP address, or
    /// [`LoopHandle::connect`] from another thread, where that matters.
    pub fn connect(&mut self, url: &str, options: ClientOptions) -> Result<ConnId, Error> {
        let url = WsUrl::parse(url)?;
        let addrs = resolve(&url)?;
        self.reactor.connect(&url, addrs, Arc::new(options))
    }

    /// Stops reading from `id`, and handing its messages to the handler, until
    /// [`Context::resume_reading`]; messages already read wait in the session (a close or a
    /// protocol violation that came behind them waits too, so that what the handler sends
    /// meanwhile still goes out). Timers keep running; once the connection has ended, what
    /// remains is delivered anyway. Also takes effect inside the current callback: no
    /// further message of `id` follows it until the resume.
    pub fn pause_reading(&mut self, id: ConnId) {
        self.reactor.set_paused(id, true);
    }

    /// Reads from `id` again after [`Context::pause_reading`].
    pub fn resume_reading(&mut self, id: ConnId) {
        self.reactor.set_paused(id, false);
    }

    /// Whether a send to `id` now would stay within its outbound limit (`false` for an id
    /// that has ended).
    pub fn has_outbound_room(&self, id: ConnId) -> bool {
        self.reactor
            .conns
            .get(id)
            .is_some_and(|conn| conn.session.has_outbound_room())
    }

    /// Bytes queued for `id` and not yet written to its socket.
    pub fn queued_bytes(&self, id: ConnId) -> Option<usize> {
        Some(self.reactor.conns.get(id)?.session.queued_bytes())
    }

    /// Whether `id` is open: handshake done and no close started.
    pub fn is_open(&self, id: ConnId) -> bool {
        self.reactor
            .conns
            .get(id)
            .is_some_and(|conn| conn.session.is_open())
    }

    /// The peer's address (for a client connection, the server's).
    pub fn peer_addr(&self, id: ConnId) -> Option<SocketAddr> {
        Some(self.reactor.conns.get(id)?.peer)
    }

    /// How many connections the loop holds, handshakes and closings included.
    pub fn connection_count(&self) -> usize {
        self.reactor.conns.len()
    }

    /// A handle to this loop, for other threads.
    pub fn handle(&self) -> LoopHandle {
        self.reactor.handle.clone()
    }

    /// Closes this loop's listener, if it has one: connecting to its port is refused from
    /// now on, while the connections already accepted are served on.
    pub fn stop_accepting(&mut self) {
        self.reactor.stop_accepting();
    }

    /// Stops the loop once this callback returns. Connections still open are dropped (the
    /// handler hears `on_close` with an `Io` error for each). In a [`Server`](crate::Server)
    /// this stops only this loop; stopping the first one stops accepting.
    pub fn stop(&mut self) {
        self.reactor.stopping = true;
    }
}
