//! The loop's state apart from the handler: the poll, the connections, the timers, the
//! listener and the command queue. Everything a [`crate::Context`] can do is here; what
//! calls the handler is in `event_loop.rs`.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Poll, Token, Waker};
use sockwright_driver::sockwright::conn::SendError;
use sockwright_driver::sockwright::frame::SharedFrame;
use sockwright_driver::sockwright::handshake::WsUrl;
use sockwright_driver::sockwright::hub::{Delivery, HubConfig};
use sockwright_driver::{clock, ClientOptions, Error, Message, ServerOptions, Session};

use crate::conn::{interest, Conn, Slab};
use crate::handle::{Command, LoopHandle};
use crate::handler::ConnId;
use crate::timers::Timers;

/// The waker's token.
pub(crate) const WAKER: Token = Token(usize::MAX);
/// The listener's token. Connection tokens are slab indices, far below both.
pub(crate) const LISTENER: Token = Token(usize::MAX - 1);
/// Bytes read per `read` call: one buffer per loop, shared by its connections.
const READ_BUFFER: usize = 64 * 1024;

/// A listening socket and where its connections go.
pub(crate) struct Listener {
    pub(crate) socket: TcpListener,
    pub(crate) options: Arc<ServerOptions>,
    /// Every loop of the server (this one included), dealt connections in turn.
    pub(crate) loops: Vec<LoopHandle>,
    /// This loop's place in `loops`.
    pub(crate) own: usize,
    pub(crate) next: usize,
}

/// The state of one loop, without its handler.
pub(crate) struct Reactor {
    pub(crate) poll: Poll,
    pub(crate) conns: Slab,
    pub(crate) timers: Timers,
    pub(crate) listener: Option<Listener>,
    pub(crate) commands: Receiver<Command>,
    pub(crate) handle: LoopHandle,
    /// Connections with something to do (events, output, a re-armed timer, an end), in the
    /// order they were marked: the loop's sweep serves them first come, first served.
    pub(crate) dirty: VecDeque<ConnId>,
    /// Connections whose read budget ran out, or whose reading resumed: read next turn.
    pub(crate) read_again: Vec<ConnId>,
    pub(crate) buf: Box<[u8]>,
    pub(crate) stopping: bool,
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let (tx, commands) = mpsc::channel();
        Ok(Reactor {
            poll,
            conns: Slab::default(),
            timers: Timers::default(),
            listener: None,
            commands,
            handle: LoopHandle::new(tx, waker),
            dirty: VecDeque::new(),
            read_again: Vec::new(),
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
            stopping: false,
        })
    }

    /// Accepts on `listener`, dealing connections to `loops` in turn (`own` is this loop).
    pub(crate) fn listen(
        &mut self,
        listener: std::net::TcpListener,
        options: Arc<ServerOptions>,
        loops: Vec<LoopHandle>,
        own: usize,
    ) -> Result<(), Error> {
        if self.listener.is_some() {
            return Err(Error::Config("this loop already has a listener".into()));
        }
        listener.set_nonblocking(true)?;
        let mut socket = TcpListener::from_std(listener);
        self.poll
            .registry()
            .register(&mut socket, LISTENER, mio::Interest::READABLE)?;
        self.listener = Some(Listener {
            socket,
            options,
            loops,
            own,
            next: 0,
        });
        Ok(())
    }

    /// Deregisters and closes the listener, if any.
    pub(crate) fn stop_accepting(&mut self) {
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener.socket);
        }
    }

    /// Accepts every pending connection. Errors other than a connection that went away
    /// before it was accepted (e.g. out of file descriptors) end this round; the listener is
    /// polled again with the next readiness event.
    pub(crate) fn accept(&mut self) {
        loop {
            let Some(listener) = &mut self.listener else {
                return;
            };
            let (stream, peer) = match listener.socket.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    continue
                }
                Err(_) => return,
            };
            let options = listener.options.clone();
            let turn = listener.next % listener.loops.len().max(1);
            listener.next = listener.next.wrapping_add(1);
            let stream = match listener.loops.get(turn) {
                Some(other) if turn != listener.own => {
                    match other.adopt(stream, peer, options.clone()) {
                        Ok(()) => continue,
                        Err(stream) => stream, // that loop has stopped: serve it here
                    }
                }
                _ => stream,
            };
            self.adopt(stream, peer, options);
        }
    }

    /// Serves an accepted connection on this loop.
    pub(crate) fn adopt(
        &mut self,
        mut stream: TcpStream,
        peer: SocketAddr,
        options: Arc<ServerOptions>,
    ) {
        let _ = stream.set_nodelay(true);
        let Some(id) = self.conns.vacant_id() else {
            return; // four billion connections on one loop: refuse by closing
        };
        let token = Token(id.index as usize);
        if self
            .poll
            .registry()
            .register(&mut stream, token, interest(false))
            .is_err()
        {
            return;
        }
        let flush_timeout = options.connection.close_timeout;
        let session = Session::server(options, clock::now());
        if let Some(id) = self
            .conns
            .insert(Conn::new(stream, peer, session, flush_timeout))
        {
            self.mark(id);
        }
    }

    /// Starts a client connection to the first of `addrs` that connects (the others are
    /// tried in turn if it fails).
    pub(crate) fn connect(
        &mut self,
        url: &WsUrl,
        addrs: Vec<SocketAddr>,
        options: Arc<ClientOptions>,
    ) -> Result<ConnId, Error> {
        let flush_timeout = options.connection.close_timeout;
        let session = Session::client(url, options, clock::now())?;
        let id = self
            .conns
            .vacant_id()
            .ok_or_else(|| Error::Config("the loop has no room for another connection".into()))?;
        let token = Token(id.index as usize);
        let mut addrs: VecDeque<SocketAddr> = addrs.into();
        let mut last_error = io::Error::new(io::ErrorKind::NotFound, "no address to connect to");
        while let Some(addr) = addrs.pop_front() {
            let mut stream = match TcpStream::connect(addr) {
                Ok(stream) => stream,
                Err(e) => {
                    last_error = e;
                    continue;
                }
            };
            if let Err(e) = self
                .poll
                .registry()
                .register(&mut stream, token, interest(true))
            {
                last_error = e;
                continue;
            }
            let _ = stream.set_nodelay(true);
            let mut conn = Conn::new(stream, addr, session, flush_timeout);
            conn.fallback = addrs;
            conn.connecting = true;
            conn.known = true;
            conn.write_interest = true;
            let id = self.conns.insert(conn).ok_or_else(|| {
                Error::Config("the loop has no room for another connection".into())
            })?;
            self.mark(id);
            return Ok(id);
        }
        Err(Error::Io(last_error))
    }

    /// A connecting client's socket reported readiness: see whether the connect completed,
    /// failed (then try the next address), or is still under way.
    pub(crate) fn finish_connect(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if !conn.connecting {
            return;
        }
        match conn.connect_result() {
            Ok(true) => conn.connecting = false,
            Ok(false) => return,
            Err(e) => {
                let token = Token(id.index as usize);
                if !conn.try_next_address(self.poll.registry(), token) {
                    conn.connecting = false;
                    conn.transport_failed(clock::now(), e);
                }
            }
        }
        self.mark(id);
    }

    /// Queues `id` for processing (once).
    pub(crate) fn mark(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(id) {
            if !conn.marked {
                conn.marked = true;
                self.dirty.push_back(id);
            }
        }
    }

    /// Runs a command on `id`'s session; a refusal for lack of room asks for `on_writable`.
    pub(crate) fn command(
        &mut self,
        id: ConnId,
        command: impl FnOnce(&mut Session) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let conn = self
            .conns
            .get_mut(id)
            .ok_or(Error::Send(SendError::Closed))?;
        let result = command(&mut conn.session);
        if matches!(result, Err(Error::Send(SendError::OutboundFull { .. }))) {
            conn.want_writable = true;
        }
        self.mark(id);
        result
    }

    /// Whether `bytes` more would fit in `id`'s outbound queue, under `limit` and under the
    /// connection's own `max_outbound_bytes` (true for a connection that is not open: the
    /// command then fails on its own).
    pub(crate) fn fits(&self, id: ConnId, bytes: usize, limit: usize) -> bool {
        let Some(conn) = self.conns.get(id).and_then(|c| c.session.connection()) else {
            return true;
        };
        let queued = conn.queued_bytes().saturating_add(bytes);
        queued <= limit && queued <= conn.config().max_outbound_bytes
    }

    /// Queues a hub's frame on `id` with the hub's slow-consumer policy (the core decides).
    pub(crate) fn deliver_shared(
        &mut self,
        id: ConnId,
        config: &HubConfig,
        frame: &SharedFrame,
    ) -> Delivery {
        let Some(conn) = self.conns.get_mut(id) else {
            return Delivery::Gone;
        };
        let delivery = conn.session.deliver_shared(config, frame);
        self.mark(id);
        delivery
    }

    /// Sends `message` without taking it (so that a refused one can be handed back).
    pub(crate) fn send_ref(&mut self, id: ConnId, message: &Message) -> Result<(), Error> {
        self.command(id, |session| match message {
            Message::Text(text) => session.send_text(text),
            Message::Binary(data) => session.send_binary(data),
            other => session.send(other.clone()),
        })
    }

    pub(crate) fn set_paused(&mut self, id: ConnId, paused: bool) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let resumed = conn.paused && !paused;
        conn.paused = paused;
        if resumed {
            // Edge-triggered: bytes that came while paused raise no new event. Messages
            // already decoded are delivered first.
            self.read_again.push(id);
            self.mark(id);
        }
    }

    /// How long `poll` may wait: not at all with work queued, else until the next deadline.
    pub(crate) fn poll_timeout(&self) -> Option<Duration> {
        if !self.dirty.is_empty() || !self.read_again.is_empty() {
            return Some(Duration::ZERO);
        }
        self.timers.next().map(|at| at.saturating_sub(clock::now()))
    }
}
