//! The mio relay runner: one event loop per core, the first one accepting and dealing
//! connections out in turn. Each loop keeps its relayed connections in a slab (two tokens
//! each: the client's socket and the upstream's), one timer heap for all their deadlines,
//! and edge-triggered readiness flags per socket: a side is read while its proxy wants it
//! read, until a read comes back short (the socket is empty: one `recv` per message rather
//! than a second one for `EAGAIN`) or, once the peer's FIN has been announced, until
//! `WouldBlock`; it is written until `WouldBlock` while it has output.
//!
//! Upstream connects are non-blocking; a host name is looked up on a short-lived thread (the
//! system resolver blocks), which posts the addresses back to the loop.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use sockwright::relay::Side;
use sockwright_driver::clock;
use tracing::{debug, warn};

use super::proxy::Proxy;
use super::Service;
use crate::runner::{is_transient, Running};

/// The waker's token.
const WAKER: Token = Token(usize::MAX);
/// The listener's token. Socket tokens are `2 * slot` (client) and `2 * slot + 1`
/// (upstream), far below both.
const LISTENER: Token = Token(usize::MAX - 1);
/// Bytes read per `read` call: one buffer per loop, shared by its connections.
const READ_BUFFER: usize = 64 * 1024;
/// How many rounds (connect, writes, reads, ends) one connection gets per loop turn before
/// the others have theirs: a busy relay cannot starve its loop's other connections.
const ROUNDS_PER_TURN: usize = 16;

/// What other threads ask of a loop.
enum Command {
    /// A connection accepted by the first loop, for this one.
    Accepted(TcpStream, SocketAddr),
    /// The upstream addresses of the connection in `slot` (if it is still generation `gen`).
    Resolved {
        slot: usize,
        gen: u64,
        addrs: io::Result<Vec<SocketAddr>>,
    },
    /// The connection in `slot` was woken (a shutdown).
    Wake { slot: usize, gen: u64 },
    /// Drop the listener.
    StopAccepting,
    /// Drop every connection and end the loop.
    Stop,
}

/// How to reach a loop from another thread.
#[derive(Clone)]
struct LoopHandle {
    tx: Sender<Command>,
    waker: Arc<Waker>,
}

impl LoopHandle {
    fn send(&self, command: Command) {
        // Fails only once the loop has stopped, which dropped its connections.
        if self.tx.send(command).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

struct MioServer {
    addr: SocketAddr,
    loops: Vec<LoopHandle>,
    threads: Vec<JoinHandle<()>>,
}

impl Running for MioServer {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn stop_accepting(&mut self) {
        if let Some(first) = self.loops.first() {
            first.send(Command::StopAccepting);
        }
    }

    fn finish(self: Box<Self>) {
        for handle in &self.loops {
            handle.send(Command::Stop);
        }
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

pub(super) fn start(service: Arc<Service>, addr: SocketAddr) -> io::Result<Box<dyn Running>> {
    let count = thread::available_parallelism().map_or(1, |n| n.get());
    let listener = TcpListener::bind(addr)?;
    let addr = listener.local_addr()?;
    let mut listener = Some(listener);
    let mut polls = Vec::new();
    let mut loops = Vec::new();
    for _ in 0..count {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = mpsc::channel();
        loops.push(LoopHandle { tx, waker });
        polls.push((poll, rx));
    }
    let mut threads = Vec::new();
    for (n, (poll, commands)) in polls.into_iter().enumerate() {
        let mut listener = listener.take();
        if let Some(listener) = &mut listener {
            poll.registry()
                .register(listener, LISTENER, Interest::READABLE)?;
        }
        let mut event_loop = Loop {
            service: service.clone(),
            poll,
            commands,
            own: n,
            loops: loops.clone(),
            next: 0,
            listener,
            slots: Vec::new(),
            free: Vec::new(),
            next_gen: 0,
            timers: BinaryHeap::new(),
            dirty: Vec::new(),
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
        };
        threads.push(
            thread::Builder::new()
                .name(format!("sockwright-relay-{n}"))
                .spawn(move || event_loop.run())?,
        );
    }
    Ok(Box::new(MioServer {
        addr,
        loops,
        threads,
    }))
}

/// One socket and its edge-triggered readiness.
struct Socket {
    stream: TcpStream,
    readable: bool,
    writable: bool,
    /// An event announced the peer's FIN (or an error): read on to the end, since no later
    /// edge would announce it again.
    to_eof: bool,
}

/// One relayed connection of a loop.
struct Entry {
    gen: u64,
    proxy: Proxy,
    /// The client's and the upstream's sockets, dropped once their side is done.
    sockets: [Option<Socket>; 2],
    /// The upstream socket is connecting; these addresses are left to try.
    connecting: bool,
    addrs: Vec<SocketAddr>,
    /// The last connect failure, for the client's 502.
    connect_error: Option<io::Error>,
    /// The deadline the timer heap holds for it.
    armed: Option<Duration>,
}

struct Loop {
    service: Arc<Service>,
    poll: Poll,
    commands: Receiver<Command>,
    own: usize,
    loops: Vec<LoopHandle>,
    next: usize,
    listener: Option<TcpListener>,
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
    next_gen: u64,
    /// Deadlines by slot and generation; stale ones are skipped when they come up.
    timers: BinaryHeap<Reverse<(Duration, usize, u64)>>,
    /// Slots with something to do this turn.
    dirty: Vec<usize>,
    buf: Box<[u8]>,
}

impl Loop {
    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = if self.dirty.is_empty() {
                self.timers
                    .peek()
                    .map(|Reverse((at, _, _))| at.saturating_sub(clock::now()))
            } else {
                Some(Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != ErrorKind::Interrupted {
                    warn!("relay event loop failed: {e}");
                    return;
                }
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => {}
                    LISTENER => self.accept(),
                    Token(token) => {
                        let (slot, side) = (token / 2, side_of(token));
                        let Some(Some(entry)) = self.slots.get_mut(slot) else {
                            continue;
                        };
                        if let Some(socket) = &mut entry.sockets[side as usize] {
                            socket.readable |=
                                event.is_readable() || event.is_read_closed() || event.is_error();
                            socket.to_eof |= event.is_read_closed() || event.is_error();
                            socket.writable |=
                                event.is_writable() || event.is_write_closed() || event.is_error();
                            self.dirty.push(slot);
                        }
                    }
                }
            }
            while let Ok(command) = self.commands.try_recv() {
                if !self.command(command) {
                    return;
                }
            }
            let now = clock::now();
            while let Some(Reverse((at, slot, gen))) = self.timers.peek().copied() {
                if at > now {
                    break;
                }
                self.timers.pop();
                if let Some(Some(entry)) = self.slots.get_mut(slot) {
                    if entry.gen == gen && entry.armed == Some(at) {
                        entry.armed = None;
                        entry.proxy.handle_timeout(now);
                        self.dirty.push(slot);
                    }
                }
            }
            let mut dirty = std::mem::take(&mut self.dirty);
            dirty.sort_unstable();
            dirty.dedup();
            for slot in dirty {
                self.drive(slot);
            }
        }
    }

    /// Handles a command; `false` to stop.
    fn command(&mut self, command: Command) -> bool {
        match command {
            Command::Accepted(stream, peer) => self.insert(stream, peer),
            Command::Resolved { slot, gen, addrs } => {
                if let Some(Some(entry)) = self.slots.get_mut(slot) {
                    if entry.gen == gen {
                        match addrs {
                            Ok(addrs) => entry.addrs = addrs.into_iter().rev().collect(),
                            Err(e) => entry.connect_error = Some(e),
                        }
                        connect_next(entry, self.poll.registry(), slot);
                        self.dirty.push(slot);
                    }
                }
            }
            Command::Wake { slot, gen } => {
                if let Some(Some(entry)) = self.slots.get_mut(slot) {
                    if entry.gen == gen {
                        entry.proxy.handle_wake(clock::now());
                        self.dirty.push(slot);
                    }
                }
            }
            Command::StopAccepting => {
                if let Some(mut listener) = self.listener.take() {
                    let _ = self.poll.registry().deregister(&mut listener);
                }
            }
            Command::Stop => return false,
        }
        true
    }

    /// Accepts every waiting connection, dealing them out to the loops in turn.
    fn accept(&mut self) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    let target = self.next % self.loops.len();
                    self.next = self.next.wrapping_add(1);
                    if target == self.own {
                        self.insert(stream, peer);
                    } else {
                        self.loops[target].send(Command::Accepted(stream, peer));
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if is_transient(&e) => {}
                Err(e) => {
                    // E.g. out of file descriptors: the next readiness event retries.
                    warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    /// Takes a new client connection into a free slot.
    fn insert(&mut self, mut stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let gen = self.next_gen;
        self.next_gen += 1;
        let token = Token(2 * slot);
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warn!(peer = %peer, "cannot watch the connection: {e}");
            self.free.push(slot);
            return;
        }
        let handle = self.loops[self.own].clone();
        let wake = Box::new(move || handle.send(Command::Wake { slot, gen }));
        let proxy = Proxy::new(self.service.clone(), peer, clock::now(), wake);
        self.slots[slot] = Some(Entry {
            gen,
            proxy,
            sockets: [
                Some(Socket {
                    stream,
                    readable: true,
                    writable: true,
                    to_eof: false,
                }),
                None,
            ],
            connecting: false,
            addrs: Vec::new(),
            connect_error: None,
            armed: None,
        });
        self.dirty.push(slot);
    }

    /// Moves everything that can move for the connection in `slot`.
    fn drive(&mut self, slot: usize) {
        let Some(Some(mut entry)) = self.slots.get_mut(slot).map(Option::take) else {
            return;
        };
        let registry = self.poll.registry();
        let mut settled = false;
        for _ in 0..ROUNDS_PER_TURN {
            let now = clock::now();
            let mut moved = start_connect(&mut entry, registry, &self.loops[self.own], slot);
            moved |= finish_connect(&mut entry, registry, slot, now);
            for side in [Side::Front, Side::Back] {
                moved |= write(&mut entry, side, now);
            }
            for side in [Side::Front, Side::Back] {
                moved |= read(&mut entry, side, now, &mut self.buf);
            }
            for side in [Side::Front, Side::Back] {
                moved |= end(&mut entry, registry, side);
            }
            if entry.sockets.iter().all(Option::is_none) && entry.proxy.is_finished() {
                // Dropping the proxy tells the server the connection has ended.
                self.free.push(slot);
                return;
            }
            if !moved {
                settled = true;
                break;
            }
        }
        if !settled {
            self.dirty.push(slot);
        }
        let deadline = entry.proxy.poll_timeout();
        if deadline != entry.armed {
            entry.armed = deadline;
            if let Some(at) = deadline {
                self.timers.push(Reverse((at, slot, entry.gen)));
            }
        }
        self.slots[slot] = Some(entry);
    }
}

/// Starts the upstream connect the proxy asks for: at once for an IP address, after a
/// lookup on a thread of its own for a name (`handle` is this loop's, for the answer).
fn start_connect(entry: &mut Entry, registry: &Registry, handle: &LoopHandle, slot: usize) -> bool {
    let Some(upstream) = entry.proxy.poll_connect() else {
        return false;
    };
    entry.connecting = true;
    if let Ok(ip) = upstream.host.parse::<IpAddr>() {
        entry.addrs = vec![SocketAddr::new(ip, upstream.port)];
        connect_next(entry, registry, slot);
        return true;
    }
    let handle = handle.clone();
    let gen = entry.gen;
    let spawned = thread::Builder::new()
        .name("sockwright-resolve".into())
        .spawn(move || {
            let addrs = (upstream.host.as_str(), upstream.port)
                .to_socket_addrs()
                .map(Iterator::collect);
            handle.send(Command::Resolved { slot, gen, addrs });
        });
    if let Err(e) = spawned {
        entry.connect_error = Some(e);
        connect_next(entry, registry, slot);
    }
    true
}

fn side_of(token: usize) -> Side {
    if token.is_multiple_of(2) {
        Side::Front
    } else {
        Side::Back
    }
}

/// Starts a non-blocking connect to the next address left, or tells the proxy that none
/// worked.
fn connect_next(entry: &mut Entry, registry: &Registry, slot: usize) {
    if let Some(mut old) = entry.sockets[Side::Back as usize].take() {
        let _ = registry.deregister(&mut old.stream);
    }
    while let Some(addr) = entry.addrs.pop() {
        let started = TcpStream::connect(addr).and_then(|mut stream| {
            registry.register(
                &mut stream,
                Token(2 * slot + 1),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        match started {
            Ok(stream) => {
                entry.sockets[Side::Back as usize] = Some(Socket {
                    stream,
                    readable: false,
                    writable: false,
                    to_eof: false,
                });
                return;
            }
            Err(e) => entry.connect_error = Some(e),
        }
    }
    entry.connecting = false;
    let detail = entry
        .connect_error
        .take()
        .map_or_else(|| "the host has no address".to_owned(), |e| e.to_string());
    entry
        .proxy
        .handle_back_connect_failed(clock::now(), &detail);
}

/// Once the connecting upstream socket is ready: connected, or on to the next address.
fn finish_connect(entry: &mut Entry, registry: &Registry, slot: usize, now: Duration) -> bool {
    let Some(socket) = entry.sockets[Side::Back as usize].as_mut() else {
        return false;
    };
    if !entry.connecting || !socket.writable {
        return false;
    }
    let failed = match socket.stream.take_error() {
        Ok(Some(e)) | Err(e) => Some(e),
        Ok(None) => match socket.stream.peer_addr() {
            Ok(_) => None,
            Err(e) if e.kind() == ErrorKind::NotConnected => {
                // Not yet: wait for the next writable event.
                socket.writable = false;
                return false;
            }
            Err(e) => Some(e),
        },
    };
    match failed {
        None => {
            let _ = socket.stream.set_nodelay(true);
            entry.connecting = false;
            entry.proxy.handle_back_connected(now);
        }
        Some(e) => {
            debug!("upstream connect failed: {e}");
            entry.connect_error = Some(e);
            connect_next(entry, registry, slot);
        }
    }
    true
}

/// Writes the side's output while the socket takes it; whether anything happened.
fn write(entry: &mut Entry, side: Side, now: Duration) -> bool {
    let connecting = side == Side::Back && entry.connecting;
    let Some(socket) = entry.sockets[side as usize].as_mut() else {
        return false;
    };
    if !socket.writable || connecting {
        return false;
    }
    let mut wrote = false;
    let result = entry.proxy.write_output(side, now, |out| {
        let n = socket.stream.write(out)?;
        wrote = true;
        Ok(n)
    });
    match result {
        Ok(true) => {}
        Ok(false) => socket.writable = false,
        Err(_) => {
            socket.writable = false;
            wrote = true;
        }
    }
    wrote
}

/// Reads the side while the proxy wants it read and the socket has bytes (a few reads at
/// most; a short read means it has no more, unless the peer's FIN is due); whether anything
/// happened.
fn read(entry: &mut Entry, side: Side, now: Duration, buf: &mut [u8]) -> bool {
    let connecting = side == Side::Back && entry.connecting;
    let Some(socket) = entry.sockets[side as usize].as_mut() else {
        return false;
    };
    let mut moved = false;
    for _ in 0..4 {
        if !socket.readable || connecting || !entry.proxy.wants_read(side) {
            break;
        }
        match socket.stream.read(buf) {
            Ok(0) => {
                socket.readable = false;
                entry.proxy.handle_eof(side, now);
            }
            Ok(n) => {
                entry
                    .proxy
                    .handle_input(side, now, buf.get(..n).unwrap_or_default());
                if n < buf.len() && !socket.to_eof {
                    // Short: the socket is empty; new bytes raise a new edge.
                    socket.readable = false;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                socket.readable = false;
                break;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                debug!(peer = %entry.proxy.peer(), "reading failed: {e}");
                socket.readable = false;
                entry.proxy.handle_eof(side, now);
            }
        }
        moved = true;
    }
    moved
}

/// Ends and drops the socket of a side that is done; whether anything happened.
fn end(entry: &mut Entry, registry: &Registry, side: Side) -> bool {
    if entry.sockets[side as usize].is_none() || !entry.proxy.is_done(side) {
        return false;
    }
    if let Some(mut socket) = entry.sockets[side as usize].take() {
        let _ = socket.stream.shutdown(Shutdown::Write);
        let _ = registry.deregister(&mut socket.stream);
    }
    if side == Side::Back {
        entry.connecting = false;
    }
    true
}
