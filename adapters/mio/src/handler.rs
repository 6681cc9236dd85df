//! What an application implements to serve connections on a loop, and how it names them.

use std::fmt;
use std::net::SocketAddr;

use sockwright_driver::sockwright::conn::Closed;
use sockwright_driver::{Error, Handshake, Message};

use crate::context::Context;

/// Names one connection of one event loop.
///
/// An id stays unique for the loop's life: the slot it names carries a generation that
/// changes when its connection ends, so an old id never reaches a newer connection (commands
/// to it fail with [`SendError::Closed`](sockwright_driver::sockwright::conn::SendError)).
/// An id means nothing to another loop: with several loops, keep the [`LoopHandle`]
/// (`ctx.handle()`) with it.
///
/// [`LoopHandle`]: crate::LoopHandle
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl ConnId {
    /// The id as one number, to keep in a table that is not the loop's (e.g. a server's
    /// registry of connections across runtimes); [`ConnId::from_bits`] gives it back.
    pub fn to_bits(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// The id that [`ConnId::to_bits`] made `bits` from. Bits that no id of the loop gave
    /// name no connection: commands to them fail as for a connection that has ended.
    pub fn from_bits(bits: u64) -> ConnId {
        ConnId {
            index: bits as u32,
            generation: (bits >> 32) as u32,
        }
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}", self.index, self.generation)
    }
}

/// The application's side of an event loop: every callback runs on the loop's thread, with a
/// [`Context`] to send to, close or open any connection of the loop.
///
/// For each connection the handler hears, in order: [`on_open`](Handler::on_open), then
/// [`on_message`](Handler::on_message) for each message, then exactly one
/// [`on_close`](Handler::on_close). A client connection started with
/// [`Context::connect`] gets its `on_close` even when it never opened. A server connection
/// whose handshake fails is reported to [`on_handshake_failed`](Handler::on_handshake_failed)
/// instead (the handler never saw its id).
///
/// Callbacks must not block: the loop serves every other connection in between.
pub trait Handler {
    /// The handshake of connection `id` completed; it may send from now on. The loop does not
    /// keep `handshake` after this call (a connection should not carry its whole request
    /// head for its life): keep what you need of it, such as the path or a header.
    fn on_open(&mut self, ctx: &mut Context<'_>, id: ConnId, handshake: &Handshake) {
        let _ = (ctx, id, handshake);
    }

    /// A message arrived: `Text` or `Binary`, or a `Ping`/`Pong` for information (pings are
    /// answered by the core on its own). The close handshake is reported to
    /// [`on_close`](Handler::on_close), not here.
    fn on_message(&mut self, ctx: &mut Context<'_>, id: ConnId, message: Message);

    /// Connection `id` ended: `Ok` with who closed and the code and reason (code 1006 when
    /// the transport ended without a close frame), or the error that ended it. The id is
    /// dead afterwards.
    fn on_close(&mut self, ctx: &mut Context<'_>, id: ConnId, result: Result<Closed, Error>) {
        let _ = (ctx, id, result);
    }

    /// Backpressure relief: a send to `id` was refused with
    /// [`SendError::OutboundFull`](sockwright_driver::sockwright::conn::SendError) and
    /// everything queued has now been written to the socket. Called once per refusal.
    fn on_writable(&mut self, ctx: &mut Context<'_>, id: ConnId) {
        let _ = (ctx, id);
    }

    /// A message sent through a [`LoopHandle`](crate::LoopHandle) was refused by its
    /// connection (gone, closing, outbound queue full): it is handed back with the reason.
    fn on_undelivered(
        &mut self,
        ctx: &mut Context<'_>,
        id: ConnId,
        message: Message,
        error: Error,
    ) {
        let _ = (ctx, id, message, error);
    }

    /// An accepted connection from `peer` did not complete its handshake: refused
    /// ([`Error::Rejected`], the HTTP response was sent), timed out, TLS failure, or the
    /// peer left. For logging; the connection is gone. A request the server's hook answered
    /// itself ([`Route::Respond`](crate::Route::Respond)) is not reported: nothing failed.
    fn on_handshake_failed(&mut self, ctx: &mut Context<'_>, peer: SocketAddr, error: Error) {
        let _ = (ctx, peer, error);
    }
}
