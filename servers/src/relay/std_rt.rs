//! The std relay runner: blocking sockets and threads. Per relayed connection, under one
//! lock around its [`Proxy`]: a thread that runs its timer and opens the upstream
//! connection (on a short-lived thread of its own, as name lookup and connect block), and
//! for each socket a reader thread (which waits while the proxy does not want that side
//! read: backpressure) and a writer thread (which copies a chunk out under the lock and
//! writes it outside, so a peer that does not read never stalls the other side).

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Instant;

use sockwright::relay::Side;
use sockwright_driver::clock;
use tracing::warn;

use super::proxy::{Proxy, Upstream, FLUSH_TIMEOUT};
use super::Service;
use crate::runner::{std_rt, Running};

/// How many bytes a writer thread copies out of the proxy per socket write.
const WRITE_CHUNK: usize = 64 * 1024;

/// How many bytes a reader thread reads at once.
const READ_BUFFER: usize = 16 * 1024;

pub(super) fn start(service: Arc<Service>, addr: SocketAddr) -> io::Result<Box<dyn Running>> {
    std_rt::listen(addr, "sockwright-relay", move |stream, peer| {
        let service = service.clone();
        move || relay(service, stream, peer)
    })
}

/// One relayed connection's state, shared by its threads.
struct Relayed {
    state: Mutex<State>,
    /// Signalled whenever the state may have changed.
    changed: Condvar,
    /// A shutdown asked for [`Proxy::handle_wake`].
    woken: AtomicBool,
}

struct State {
    proxy: Proxy,
    /// A writer thread holds bytes taken from the proxy and not yet written.
    writing: [bool; 2],
    /// The sockets, to end them from the timer thread.
    sockets: [Option<TcpStream>; 2],
    /// The relay is over: every thread leaves.
    stopped: bool,
}

impl Relayed {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs one relayed connection on this thread (its timer) and the threads it starts.
fn relay(service: Arc<Service>, front: TcpStream, peer: SocketAddr) {
    let _ = front.set_nodelay(true);
    let relayed = Arc::new_cyclic(|weak: &std::sync::Weak<Relayed>| {
        let weak = weak.clone();
        let wake = Box::new(move || {
            if let Some(relayed) = weak.upgrade() {
                relayed.woken.store(true, Ordering::SeqCst);
                // Taken so that the timer thread is either waiting or yet to look at `woken`.
                drop(relayed.lock());
                relayed.changed.notify_all();
            }
        });
        Relayed {
            state: Mutex::new(State {
                proxy: Proxy::new(service, peer, clock::now(), wake),
                writing: [false; 2],
                sockets: [front.try_clone().ok(), None],
                stopped: false,
            }),
            changed: Condvar::new(),
            woken: AtomicBool::new(false),
        }
    });
    if let Err(e) = spawn_side(&relayed, Side::Front, front) {
        warn!(peer = %peer, "no threads for the connection: {e}");
        relayed.lock().stopped = true;
    }
    run_timer(&relayed);
    let mut state = relayed.lock();
    state.stopped = true;
    // Ending both sockets wakes the readers still blocked in a read.
    for socket in state.sockets.iter().flatten() {
        let _ = socket.shutdown(Shutdown::Both);
    }
    drop(state);
    relayed.changed.notify_all();
}

/// The timer thread's loop: deadlines, shutdown wake-ups, the upstream connect, and the end.
fn run_timer(relayed: &Arc<Relayed>) {
    let mut state = relayed.lock();
    let mut finished_at = None;
    loop {
        if state.stopped {
            return;
        }
        let now = clock::now();
        if relayed.woken.swap(false, Ordering::SeqCst) {
            state.proxy.handle_wake(now);
            relayed.changed.notify_all();
        }
        if let Some(upstream) = state.proxy.poll_connect() {
            if let Err(e) = connect(relayed, upstream) {
                state.proxy.handle_back_connect_failed(now, &e.to_string());
            }
        }
        if state.proxy.is_finished() {
            // Writers may still be writing the last bytes; a peer that does not take them
            // gets FLUSH_TIMEOUT, then its socket is ended under it.
            let since = *finished_at.get_or_insert_with(Instant::now);
            if !state.writing.contains(&true) || since.elapsed() >= FLUSH_TIMEOUT {
                return;
            }
            state = relayed
                .changed
                .wait_timeout(state, FLUSH_TIMEOUT.saturating_sub(since.elapsed()))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            continue;
        }
        state = match state.proxy.poll_timeout() {
            Some(at) if at <= now => {
                state.proxy.handle_timeout(now);
                relayed.changed.notify_all();
                state
            }
            Some(at) => {
                relayed
                    .changed
                    .wait_timeout(state, at - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => relayed.wait(state),
        };
    }
}

/// Opens the upstream connection on a thread of its own; then starts its reader and writer.
/// The thread holds the relay only once connected, so that a relay that ended meanwhile is
/// not kept alive by a slow connect.
fn connect(relayed: &Arc<Relayed>, upstream: Upstream) -> io::Result<()> {
    let relayed = Arc::downgrade(relayed);
    thread::Builder::new()
        .name("sockwright-dial".into())
        .spawn(move || {
            let connected = dial(&upstream);
            let Some(relayed) = relayed.upgrade() else {
                return;
            };
            let mut state = relayed.lock();
            let now = clock::now();
            match connected {
                Ok(_) if state.stopped || state.proxy.is_done(Side::Back) => {}
                Ok(stream) => {
                    state.sockets[Side::Back as usize] = stream.try_clone().ok();
                    state.proxy.handle_back_connected(now);
                    if let Err(e) = spawn_side(&relayed, Side::Back, stream) {
                        state.proxy.handle_write_error(Side::Back, now, &e);
                    }
                }
                Err(e) => state.proxy.handle_back_connect_failed(now, &e.to_string()),
            }
            drop(state);
            relayed.changed.notify_all();
        })?;
    Ok(())
}

/// Name lookup, then a TCP connect to each address in turn. The relay's own upstream
/// timeout answers the client meanwhile; this only keeps the thread from lingering.
fn dial(upstream: &Upstream) -> io::Result<TcpStream> {
    let mut last = io::Error::new(ErrorKind::NotFound, "the host has no address");
    for addr in (upstream.host.as_str(), upstream.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, upstream.timeout) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Starts the reader and the writer of one side's socket.
fn spawn_side(relayed: &Arc<Relayed>, side: Side, stream: TcpStream) -> io::Result<()> {
    let (reader, writer) = (relayed.clone(), relayed.clone());
    let read_half = stream.try_clone()?;
    thread::Builder::new()
        .name("sockwright-read".into())
        .spawn(move || read_loop(&reader, side, read_half))?;
    thread::Builder::new()
        .name("sockwright-write".into())
        .spawn(move || write_loop(&writer, side, stream))?;
    Ok(())
}

/// Reads `side` while the proxy wants it read, until its end.
fn read_loop(relayed: &Relayed, side: Side, mut stream: TcpStream) {
    let mut buf = vec![0; READ_BUFFER];
    loop {
        let mut state = relayed.lock();
        while !state.proxy.wants_read(side) {
            if state.stopped || state.proxy.is_done(side) {
                return;
            }
            state = relayed.wait(state);
        }
        drop(state);
        let read = stream.read(&mut buf);
        let mut state = relayed.lock();
        let now = clock::now();
        match read {
            Ok(0) => state.proxy.handle_eof(side, now),
            Ok(n) => state
                .proxy
                .handle_input(side, now, buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => state.proxy.handle_eof(side, now),
        }
        drop(state);
        relayed.changed.notify_all();
    }
}

/// Writes what the proxy has for `side`, then ends the socket's write side once the side
/// is done.
fn write_loop(relayed: &Relayed, side: Side, mut stream: TcpStream) {
    let mut chunk = Vec::with_capacity(WRITE_CHUNK);
    loop {
        let mut state = relayed.lock();
        loop {
            if state.stopped {
                return;
            }
            let _ = state.proxy.write_output(side, clock::now(), |out| {
                let n = out.len().min(WRITE_CHUNK - chunk.len());
                if n == 0 {
                    return Err(ErrorKind::WouldBlock.into());
                }
                chunk.extend_from_slice(out.get(..n).unwrap_or_default());
                Ok(n)
            });
            if !chunk.is_empty() {
                state.writing[side as usize] = true;
                break;
            }
            if state.proxy.is_done(side) {
                let _ = stream.shutdown(Shutdown::Write);
                drop(state);
                relayed.changed.notify_all();
                return;
            }
            state = relayed.wait(state);
        }
        drop(state);
        // Taking output lets held messages move: the other threads look again.
        relayed.changed.notify_all();
        let written = stream.write_all(&chunk);
        chunk.clear();
        let mut state = relayed.lock();
        state.writing[side as usize] = false;
        if let Err(e) = written {
            state.proxy.handle_write_error(side, clock::now(), &e);
        }
        drop(state);
        relayed.changed.notify_all();
    }
}
