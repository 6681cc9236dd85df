//! [`EventLoop`]: one thread's `mio::Poll`, its connections and its handler.
//!
//! The drain invariant of the session, kept per connection by [`EventLoop::process`]: after
//! any input (a read, EOF, a timer) or command, hand every event to the handler, write the
//! output until the socket would block, then set WRITABLE interest (only while output is
//! pending) and re-arm the timer. A finished session is flushed, its write side shut down,
//! and its socket deregistered and closed.

use std::io;
use std::mem;
use std::sync::mpsc::TryRecvError;
use std::sync::Arc;
use std::time::Duration;

use mio::event::Event;
use mio::{Events, Token};
use sockwright_driver::sockwright::conn::Closed;
use sockwright_driver::sockwright::handshake::WsUrl;
use sockwright_driver::{clock, ClientOptions, Error, Message, ServerOptions, SessionEvent};

use crate::conn::{interest, ReadOutcome};
use crate::context::Context;
use crate::handle::{resolve, Command, LoopHandle};
use crate::handler::{ConnId, Handler};
use crate::reactor::{Reactor, LISTENER, WAKER};

/// Readiness events taken per `poll`.
const EVENTS: usize = 1024;
/// Connections processed (written, mostly) between two looks at the sockets and commands
/// while many are waiting: a hub's burst to thousands of connections takes tens of
/// milliseconds to write, and what is published meanwhile should join the writes of the
/// connections not yet reached, as one write each, rather than wait for a sweep of its own.
const SWEEP_SLICE: usize = 64;
/// Reads one connection gets per turn (of the loop's 64 KiB buffer) before the others are
/// served; a connection with more to read is read again next turn.
const READ_BUDGET: usize = 16;

/// An event loop: many connections on one thread, reported to one [`Handler`].
///
/// Build it, give it a listener ([`EventLoop::listen`]) and/or client connections
/// ([`EventLoop::connect`]), then [`run`](EventLoop::run) it on the thread that should serve
/// them. [`Server`](crate::Server) runs several of them, one per thread.
pub struct EventLoop<H> {
    reactor: Reactor,
    handler: H,
}

impl<H: Handler> EventLoop<H> {
    /// A loop with no connections yet.
    pub fn new(handler: H) -> Result<EventLoop<H>, Error> {
        Ok(EventLoop::from_reactor(Reactor::new()?, handler))
    }

    pub(crate) fn from_reactor(reactor: Reactor, handler: H) -> EventLoop<H> {
        EventLoop { reactor, handler }
    }

    /// Accepts connections from `listener` (made non-blocking) as a server with `options`.
    /// One listener per loop.
    pub fn listen(
        &mut self,
        listener: std::net::TcpListener,
        options: ServerOptions,
    ) -> Result<(), Error> {
        let own = vec![self.reactor.handle.clone()];
        self.reactor.listen(listener, Arc::new(options), own, 0)
    }

    /// Opens a client connection to a `ws://` or `wss://` URL once the loop runs (the host
    /// is resolved now, on this thread).
    pub fn connect(&mut self, url: &str, options: ClientOptions) -> Result<ConnId, Error> {
        let url = WsUrl::parse(url)?;
        let addrs = resolve(&url)?;
        self.reactor.connect(&url, addrs, Arc::new(options))
    }

    /// A handle to this loop, for other threads.
    pub fn handle(&self) -> LoopHandle {
        self.reactor.handle.clone()
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The handler, mutably.
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// Serves until [`Context::stop`] or [`LoopHandle::stop`], then drops the connections
    /// left (each known one reported to `on_close` with an `Io` error) and returns the
    /// handler. Fails only if polling itself fails.
    pub fn run(mut self) -> Result<H, Error> {
        self.reactor.handle.set_loop_thread();
        let mut events = Events::with_capacity(EVENTS);
        let result = loop {
            if let Err(e) = self.sweep(&mut events) {
                break Err(e);
            }
            if self.reactor.stopping {
                break Ok(());
            }
            let timeout = self.reactor.poll_timeout();
            if let Err(e) = self.turn(&mut events, timeout) {
                break Err(e);
            }
        };
        self.shutdown();
        result.map(|()| self.handler)
    }

    /// Processes the connections waiting in [`Reactor::dirty`], in the order they were
    /// marked, taking a turn ([`EventLoop::turn`] without waiting) after every
    /// [`SWEEP_SLICE`] of them while more wait. Connections marked during the sweep go to
    /// the back: one not yet reached takes what the turn queued for it in the same write,
    /// one already written waits for the rest to be served first.
    fn sweep(&mut self, events: &mut Events) -> Result<(), Error> {
        let mut slice = 0;
        while let Some(id) = self.reactor.dirty.pop_front() {
            self.process(id);
            slice += 1;
            if slice == SWEEP_SLICE && !self.reactor.dirty.is_empty() {
                slice = 0;
                self.turn(events, Some(Duration::ZERO))?;
            }
        }
        Ok(())
    }

    /// Polls for up to `timeout`, then serves what came: readiness (a connection that read
    /// is processed at once; others are marked), other threads' commands, connections with
    /// more to read, and due timers. Fails only if polling itself fails.
    fn turn(&mut self, events: &mut Events, timeout: Option<Duration>) -> Result<(), Error> {
        if let Err(e) = self.reactor.poll.poll(events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(Error::Io(e));
        }
        for event in events.iter() {
            match event.token() {
                WAKER => {}
                LISTENER => self.reactor.accept(),
                Token(index) => self.ready(index, event),
            }
        }
        self.run_commands();
        for id in mem::take(&mut self.reactor.read_again) {
            self.read(id, false);
        }
        self.fire_timers();
        Ok(())
    }

    /// A connection's socket is ready.
    fn ready(&mut self, index: usize, event: &Event) {
        let Some(id) = self.reactor.conns.id_at(index) else {
            return; // a connection closed earlier in this batch
        };
        let failed = event.is_error() || event.is_write_closed();
        let readable = event.is_readable() || event.is_read_closed() || event.is_error();
        if event.is_writable() || failed || readable {
            self.reactor.finish_connect(id);
        }
        if event.is_writable() || failed {
            self.reactor.mark(id);
        }
        if readable {
            // With the peer's FIN in this event, read on to the end of the stream: no later
            // edge would announce it. Otherwise a short read means the socket is empty.
            let to_eof = event.is_read_closed() || event.is_error();
            self.read(id, !to_eof);
        }
    }

    /// Reads until the socket would block, or (with `stop_when_drained`) a read comes back
    /// short, or the turn's budget is spent, handing each piece to the handler before the
    /// next is read.
    fn read(&mut self, id: ConnId, stop_when_drained: bool) {
        for _ in 0..READ_BUDGET {
            let reactor = &mut self.reactor;
            let Some(conn) = reactor.conns.get_mut(id) else {
                return;
            };
            match conn.read(&mut reactor.buf, clock::now()) {
                ReadOutcome::Data => self.process(id),
                ReadOutcome::Drained => {
                    self.process(id);
                    if stop_when_drained {
                        return;
                    }
                }
                ReadOutcome::Blocked => return,
                ReadOutcome::Ended => return self.process(id),
            }
        }
        self.reactor.read_again.push(id);
    }

    /// Keeps the drain invariant for `id`: events to the handler, output to the socket,
    /// `on_writable` when due, then interest, timer, or the end of the connection.
    fn process(&mut self, id: ConnId) {
        loop {
            self.deliver_events(id);
            let Some(conn) = self.reactor.conns.get_mut(id) else {
                return;
            };
            conn.marked = false;
            let was_broken = conn.broken;
            conn.write(clock::now());
            if conn.broken && !was_broken {
                continue; // the failure has events of its own
            }
            if conn.want_writable
                && !conn.broken
                && conn.session.is_open()
                && conn.session.queued_bytes() == 0
            {
                conn.want_writable = false;
                self.handler
                    .on_writable(&mut Context::new(&mut self.reactor), id);
                continue;
            }
            break;
        }
        self.settle(id);
    }

    /// Hands the session's events (then a transport error, if any) to the handler. A paused
    /// connection's events wait in the session, where a close or violation that came behind them
    /// also waits, so that what the handler sends before resuming goes out first; once the
    /// connection has ended, what remains is delivered anyway.
    fn deliver_events(&mut self, id: ConnId) {
        loop {
            let reactor = &mut self.reactor;
            let Some(conn) = reactor.conns.get_mut(id) else {
                return;
            };
            if conn.paused && !conn.broken && !conn.session.is_finished() {
                return;
            }
            let event = match conn.session.poll_event() {
                Some(event) => event,
                None => match conn.io_error.take() {
                    Some(e) => Err(Error::Io(e)),
                    None => return,
                },
            };
            let message = match event {
                Ok(SessionEvent::Opened) => {
                    conn.known = true;
                    // Taken, not kept: `on_open` is the one place a handler sees it.
                    if let Some(handshake) = conn.session.take_handshake() {
                        self.handler
                            .on_open(&mut Context::new(reactor), id, &handshake);
                    }
                    continue;
                }
                Ok(SessionEvent::Message(message)) => message,
                Ok(SessionEvent::Ping(data)) => Message::Ping(data),
                Ok(SessionEvent::Pong(data)) => Message::Pong(data),
                Ok(SessionEvent::Closed(closed)) => {
                    self.report_close(id, Ok(closed));
                    continue;
                }
                Err(e) => {
                    self.report_close(id, Err(e));
                    continue;
                }
            };
            self.handler
                .on_message(&mut Context::new(reactor), id, message);
        }
    }

    /// The one `on_close` of a connection the handler knows, or `on_handshake_failed` for
    /// an accepted one that never opened.
    fn report_close(&mut self, id: ConnId, result: Result<Closed, Error>) {
        let Some(conn) = self.reactor.conns.get_mut(id) else {
            return;
        };
        if conn.close_reported {
            return;
        }
        conn.close_reported = true;
        let (known, peer) = (conn.known, conn.peer);
        let mut ctx = Context::new(&mut self.reactor);
        match result {
            result if known => self.handler.on_close(&mut ctx, id, result),
            Err(e) => self.handler.on_handshake_failed(&mut ctx, peer, e),
            Ok(_) => {}
        }
    }

    /// After processing: end the connection if it is done, else set its interest and timer.
    fn settle(&mut self, id: ConnId) {
        let now = clock::now();
        let reactor = &mut self.reactor;
        let Some(conn) = reactor.conns.get_mut(id) else {
            return;
        };
        if conn.broken || conn.session.is_finished() {
            let flushed = conn.broken || conn.session.pending_output().is_empty();
            let late = conn.flush_deadline.is_some_and(|at| now >= at);
            if flushed || late {
                return self.finish(id);
            }
            conn.flush_deadline
                .get_or_insert(now.saturating_add(conn.flush_timeout));
        }
        let write = conn.wants_write();
        if write != conn.write_interest {
            let token = Token(id.index as usize);
            match reactor
                .poll
                .registry()
                .reregister(&mut conn.stream, token, interest(write))
            {
                Ok(()) => conn.write_interest = write,
                Err(e) => {
                    conn.transport_failed(now, e);
                    reactor.mark(id);
                    return;
                }
            }
        }
        let deadline = match (conn.session.poll_timeout(), conn.flush_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(at) = deadline {
            if conn.timer.is_none_or(|armed| at < armed) {
                conn.timer = Some(at);
                reactor.timers.arm(at, id);
            }
        }
    }

    /// Closes `id`'s socket, after telling the handler if it has not heard.
    fn finish(&mut self, id: ConnId) {
        let unreported = self
            .reactor
            .conns
            .get(id)
            .is_some_and(|conn| conn.known && !conn.close_reported);
        if unreported {
            let aborted = io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the connection ended without a close",
            );
            self.report_close(id, Err(Error::Io(aborted)));
        }
        let reactor = &mut self.reactor;
        if let Some(conn) = reactor.conns.remove(id) {
            conn.close(reactor.poll.registry(), &mut reactor.buf);
        }
    }

    /// Tells the sessions whose deadlines have come. Deadlines armed meanwhile wait for the
    /// next turn, so a session that keeps asking for `now` cannot hold the loop.
    fn fire_timers(&mut self) {
        let now = clock::now();
        let mut due = Vec::new();
        while let Some(entry) = self.reactor.timers.pop_due(now) {
            due.push(entry);
        }
        for (at, id) in due {
            let Some(conn) = self.reactor.conns.get_mut(id) else {
                continue;
            };
            if conn.timer != Some(at) {
                continue; // superseded by an earlier deadline
            }
            conn.timer = None;
            conn.session.handle_timeout(now);
            self.process(id);
        }
    }

    /// Runs what other threads asked for, marking the connections it queued for: the next
    /// sweep writes each once, with everything queued for it by then (a hub's burst of
    /// messages to thousands of connections becomes one write per connection, not one per
    /// message). A command that would not fit in its connection's queue writes that
    /// connection first, so the limits and the slow-consumer policy see only what the peer
    /// has not taken, as if each command had been written at once.
    fn run_commands(&mut self) {
        self.reactor.handle.commands_taken();
        loop {
            let command = match self.reactor.commands.try_recv() {
                Ok(command) => command,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            };
            match command {
                Command::Send { id, message, reply } => {
                    if !self.reactor.fits(id, message_bound(&message), usize::MAX) {
                        self.process(id);
                    }
                    let result = self.reactor.send_ref(id, &message);
                    match (reply, result) {
                        (Some(reply), result) => {
                            let _ = reply.send(result.map_err(|e| (e, Some(message))));
                        }
                        (None, Err(e)) => {
                            let mut ctx = Context::new(&mut self.reactor);
                            self.handler.on_undelivered(&mut ctx, id, message, e);
                        }
                        (None, Ok(())) => {}
                    }
                }
                Command::DeliverShared { ids, frame, config } => {
                    let limit = config.max_queued_bytes;
                    for id in ids {
                        if !self.reactor.fits(id, frame.encoded_len(), limit) {
                            self.process(id);
                        }
                        let _ = self.reactor.deliver_shared(id, &config, &frame);
                    }
                }
                Command::Connect {
                    url,
                    addrs,
                    options,
                    reply,
                } => {
                    let _ = reply.send(self.reactor.connect(&url, addrs, options));
                }
                Command::Adopt {
                    stream,
                    peer,
                    options,
                } => self.reactor.adopt(stream, peer, options),
                Command::Pause { id, paused } => self.reactor.set_paused(id, paused),
                Command::StopAccepting { done } => {
                    self.reactor.stop_accepting();
                    let _ = done.send(());
                }
                Command::Stop => self.reactor.stopping = true,
            }
        }
    }

    /// The loop stopped: report and drop the connections left.
    fn shutdown(&mut self) {
        let stopped = || io::Error::new(io::ErrorKind::ConnectionAborted, "the event loop stopped");
        for id in self.reactor.conns.ids() {
            let unreported = self
                .reactor
                .conns
                .get(id)
                .is_some_and(|conn| conn.known && !conn.close_reported);
            if unreported {
                self.report_close(id, Err(Error::Io(stopped())));
            }
        }
        let reactor = &mut self.reactor;
        for id in reactor.conns.ids() {
            if let Some(mut conn) = reactor.conns.remove(id) {
                conn.write(clock::now()); // one last try, without waiting
                conn.close(reactor.poll.registry(), &mut reactor.buf);
            }
        }
    }
}

/// The most bytes `message` can take in a connection's queue: its payload, a close code and
/// the largest frame header.
fn message_bound(message: &Message) -> usize {
    message.as_bytes().len().saturating_add(2 + 14)
}
