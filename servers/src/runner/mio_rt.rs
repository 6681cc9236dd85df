//! The mio runner (`sockwright-mio`): one event loop per core, the first one accepting, each
//! with a [`Handler`] that hands its connections' events to the app. The outbox reaches a
//! connection through its loop's [`LoopHandle`].
//!
//! A reply that does not fit in the connection's outbound queue waits in the handler, in
//! order, and reading from that peer pauses until the loop reports the queue written
//! (`on_writable`): a peer that does not read stops being read (backpressure).

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread;

use sockwright::conn::{Closed, SendError};
use sockwright::frame::SharedFrame;
use sockwright::hub::{Delivery, HubConfig};
use sockwright_driver::{Error, Handshake, Message, ServerOptions};
use sockwright_mio::{ConnId as LoopConnId, Context, Handler, LoopHandle, Server, ServerHandle};
use tracing::debug;

use super::shared::Shared;
use super::Running;
use crate::app::{App, Conn, ConnId, End, Reply};
use crate::id_map::IdMap;
use crate::outbox::{Fanout, Peer, Undelivered};

struct MioServer {
    addr: SocketAddr,
    handle: ServerHandle,
}

pub(crate) fn start(
    shared: Arc<Shared>,
    addr: SocketAddr,
    options: Arc<ServerOptions>,
) -> io::Result<Box<dyn Running>> {
    let threads = thread::available_parallelism().map_or(1, |n| n.get());
    let server = Server::bind(addr, (*options).clone())
        .map_err(io::Error::from)?
        .threads(threads);
    let addr = server.local_addr()?;
    let handle = server
        .spawn(move || Loop {
            shared: shared.clone(),
            conns: IdMap::default(),
            waiting: IdMap::default(),
            fanout: None,
        })
        .map_err(io::Error::from)?;
    Ok(Box::new(MioServer { addr, handle }))
}

/// One loop's handler: its connections, by the loop's ids.
///
/// It keeps only the server's id of each connection: the peer's address is the loop's
/// (`Context::peer_addr`), and replies that wait are kept apart for the few connections that
/// have any. An idle connection costs one 16-byte entry here.
struct Loop {
    shared: Arc<Shared>,
    conns: IdMap<LoopConnId, ConnId>,
    /// Replies that found a connection's outbound queue full, in order; reading from it is
    /// paused while it has an entry here.
    waiting: IdMap<LoopConnId, VecDeque<Message>>,
    /// The outbox's way to this loop, shared by its connections (made with the first).
    fanout: Option<Arc<LoopFanout>>,
}

impl Loop {
    /// Runs an app callback for connection `lid` with a [`Conn`] that replies through `ctx`.
    fn callback(
        &mut self,
        ctx: &mut Context<'_>,
        lid: LoopConnId,
        call: impl FnOnce(&dyn App, &mut Conn<'_>),
    ) {
        let Some(&id) = self.conns.get(&lid) else {
            return;
        };
        let peer = peer_addr(ctx, lid);
        let mut reply = LoopReply {
            ctx,
            lid,
            waiting: &mut self.waiting,
        };
        let mut conn = Conn::new(id, peer, &mut reply, &self.shared.outbox);
        call(&*self.shared.app, &mut conn);
    }
}

impl Handler for Loop {
    fn on_open(&mut self, ctx: &mut Context<'_>, lid: LoopConnId, handshake: &Handshake) {
        let peer = peer_addr(ctx, lid);
        let fanout = self
            .fanout
            .get_or_insert_with(|| Arc::new(LoopFanout(ctx.handle())));
        let outbound = Arc::new(LoopPeer {
            fanout: fanout.clone(),
            lid,
        });
        let id = self.shared.opened(peer, handshake, outbound);
        self.conns.insert(lid, id);
        self.callback(ctx, lid, |app, conn| app.on_open(conn, handshake));
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, lid: LoopConnId, message: Message) {
        // Pings are answered by the core; pongs are for information.
        if message.is_data() {
            self.callback(ctx, lid, |app, conn| app.on_message(conn, message));
        }
    }

    fn on_close(&mut self, _: &mut Context<'_>, lid: LoopConnId, result: Result<Closed, Error>) {
        self.waiting.remove(&lid);
        let Some(id) = self.conns.remove(&lid) else {
            return;
        };
        let end = match result {
            Ok(closed) => match Message::from(closed) {
                Message::Close(frame) => End::Closed(frame),
                _ => End::Closed(None),
            },
            Err(e) => End::Failed(e),
        };
        self.shared.closed(id, end);
    }

    fn on_writable(&mut self, ctx: &mut Context<'_>, lid: LoopConnId) {
        if !self.conns.contains_key(&lid) {
            return;
        }
        if let Some(mut waiting) = self.waiting.remove(&lid) {
            while let Some(message) = waiting.pop_front() {
                match try_send(ctx, lid, message) {
                    Ok(()) => {}
                    Err(Some(message)) => {
                        // Still no room: wait for the next on_writable.
                        waiting.push_front(message);
                        self.waiting.insert(lid, waiting);
                        return;
                    }
                    Err(None) => {}
                }
            }
        }
        ctx.resume_reading(lid);
    }

    fn on_undelivered(
        &mut self,
        _: &mut Context<'_>,
        lid: LoopConnId,
        message: Message,
        error: Error,
    ) {
        let Some(&id) = self.conns.get(&lid) else {
            return; // the connection has ended: its on_close says so
        };
        match error {
            Error::Send(SendError::Closed) | Error::NotOpen => {}
            error => self.shared.app.on_undelivered(id, message, &error),
        }
    }

    fn on_handshake_failed(&mut self, _: &mut Context<'_>, peer: SocketAddr, error: Error) {
        self.shared.not_upgraded(peer, &error);
    }
}

/// The peer's address of connection `lid`, as the loop keeps it.
fn peer_addr(ctx: &Context<'_>, lid: LoopConnId) -> SocketAddr {
    ctx.peer_addr(lid)
        .unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
}

/// Sends `message` on `lid` without giving it up: `Err(Some(message))` when the outbound
/// queue is full, `Err(None)` when it was refused for good (logged).
fn try_send(
    ctx: &mut Context<'_>,
    lid: LoopConnId,
    message: Message,
) -> Result<(), Option<Message>> {
    let sent = match &message {
        Message::Text(text) => ctx.send_text(lid, text),
        Message::Binary(data) => ctx.send_binary(lid, data),
        // Control frames are always taken.
        _ => ctx.send(lid, message.clone()),
    };
    match sent {
        Ok(()) => Ok(()),
        Err(Error::Send(SendError::OutboundFull { .. })) => Err(Some(message)),
        Err(e) => {
            debug!("reply not sent: {e}");
            Err(None)
        }
    }
}

/// Replies through the loop's context; a reply that does not fit waits (see the module).
struct LoopReply<'a, 'c> {
    ctx: &'a mut Context<'c>,
    lid: LoopConnId,
    /// The loop's waiting replies, all connections'.
    waiting: &'a mut IdMap<LoopConnId, VecDeque<Message>>,
}

impl Reply for LoopReply<'_, '_> {
    fn reply(&mut self, message: Message) -> Result<(), Error> {
        if let Some(waiting) = self.waiting.get_mut(&self.lid) {
            waiting.push_back(message);
            return Ok(());
        }
        let sent = match &message {
            Message::Text(text) => self.ctx.send_text(self.lid, text),
            Message::Binary(data) => self.ctx.send_binary(self.lid, data),
            _ => return self.ctx.send(self.lid, message),
        };
        match sent {
            Err(Error::Send(SendError::OutboundFull { .. })) => {
                self.waiting.insert(self.lid, VecDeque::from([message]));
                self.ctx.pause_reading(self.lid);
                Ok(())
            }
            other => other,
        }
    }
}

/// The outbox's way to a loop: its handle. A hub frame for many of the loop's connections
/// is one command.
struct LoopFanout(LoopHandle);

impl Fanout for LoopFanout {
    fn deliver_shared_to(
        &self,
        members: Vec<u64>,
        frame: &SharedFrame,
        config: &Arc<HubConfig>,
    ) -> bool {
        // The loop applies the hub's policy when it takes the frame: a connection found
        // full then is closed or skipped there, as the policy says.
        let ids = members.into_iter().map(LoopConnId::from_bits).collect();
        self.0
            .deliver_shared_to(ids, config.clone(), frame.clone())
            .is_ok()
    }
}

/// The outbox's way to a connection: its loop's, and its id there.
struct LoopPeer {
    fanout: Arc<LoopFanout>,
    lid: LoopConnId,
}

impl Peer for LoopPeer {
    fn deliver(&self, message: Message) -> Result<(), Undelivered> {
        // Fails only once the loop has stopped, which drops its connections: like any
        // message to a connection that ends first, it is not reported.
        if let Err(e) = self.fanout.0.send(self.lid, message) {
            debug!("outbox message not sent: {e}");
        }
        Ok(())
    }

    fn deliver_shared(&self, frame: &SharedFrame, config: &Arc<HubConfig>) -> Delivery {
        match self
            .fanout
            .deliver_shared_to(vec![self.lid.to_bits()], frame, config)
        {
            true => Delivery::Queued,
            false => Delivery::Gone,
        }
    }

    fn fanout(&self) -> Option<(Arc<dyn Fanout>, u64)> {
        Some((self.fanout.clone(), self.lid.to_bits()))
    }
}

impl Running for MioServer {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn stop_accepting(&mut self) {
        // Returns once the accepting loop has closed its listener.
        if let Err(e) = self.handle.stop_accepting() {
            debug!("stop accepting: {e}");
        }
    }

    fn finish(self: Box<Self>) {
        self.handle.stop();
        let _ = self.handle.join();
    }
}
