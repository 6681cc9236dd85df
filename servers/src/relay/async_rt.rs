//! The tokio and smol relay runners: the servers' accept loops, and one driving loop for
//! both, a task per relayed connection over the driver's [`AsyncTransport`] and [`Runtime`]
//! traits.
//!
//! The task polls, in turn: the upstream connect, both sockets' writes, both sockets' reads
//! (each only while the proxy wants it read), the end of a side that is done (FIN, then the
//! socket is dropped) and the proxy's timer, until nothing moves; a shutdown wakes it.

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use sockwright::relay::Side;
use sockwright_driver::asynch::{AsyncTransport, DeadlineTimer, Runtime};
use sockwright_driver::clock;
#[cfg(feature = "rt-smol")]
use sockwright_smol::Smol;
#[cfg(feature = "rt-tokio")]
use sockwright_tokio::Tokio;
use tracing::debug;

use super::proxy::Proxy;
use super::Service;
#[cfg(feature = "rt-smol")]
use crate::runner::smol_rt;
#[cfg(feature = "rt-tokio")]
use crate::runner::tokio_rt;
use crate::runner::Running;

/// How many bytes one read asks a socket for: a full TLS record.
const READ_BUFFER: usize = 16 * 1024;

/// How many reads one poll makes before yielding, so that a busy relay cannot starve the
/// other tasks of its thread.
const READS_PER_POLL: usize = 32;

#[cfg(feature = "rt-tokio")]
pub(super) fn start_tokio(service: Arc<Service>, addr: SocketAddr) -> io::Result<Box<dyn Running>> {
    tokio_rt::listen(addr, move |stream, peer| {
        let front = sockwright_tokio::Transport::new(stream);
        let dial = |host, port| sockwright_tokio::dial(host, port);
        Tokio::spawn(relay::<Tokio, _, _, _>(service.clone(), peer, front, dial));
    })
}

#[cfg(feature = "rt-smol")]
pub(super) fn start_smol(service: Arc<Service>, addr: SocketAddr) -> io::Result<Box<dyn Running>> {
    smol_rt::listen(addr, move |stream, peer| {
        let front = sockwright_smol::Transport::tcp(stream);
        let dial = |host, port| sockwright_smol::dial(host, port);
        Smol::spawn(relay::<Smol, _, _, _>(service.clone(), peer, front, dial));
    })
}

/// Relays one accepted connection until both sides are done. `dial` opens the upstream's
/// TCP connection (name lookup off the event loop).
async fn relay<R, T, D, F>(service: Arc<Service>, peer: SocketAddr, front: T, dial: D)
where
    R: Runtime,
    T: AsyncTransport,
    D: Fn(String, u16) -> F,
    F: Future<Output = io::Result<T>> + Send,
{
    let wake = Arc::new(TaskWaker::default());
    let signal = wake.clone();
    let proxy = Proxy::new(service, peer, clock::now(), Box::new(move || signal.wake()));
    let mut task = Task::<T, R, F> {
        proxy,
        front: Some(Socket::new(front)),
        back: None,
        dial: None,
        timer: DeadlineTimer::new(),
        wake,
        buf: vec![0; READ_BUFFER].into_boxed_slice(),
    };
    poll_fn(|cx| task.poll(cx, &dial)).await;
}

/// The waker of a relay's task, for a shutdown from another thread.
#[derive(Default)]
struct TaskWaker(Mutex<Option<Waker>>);

impl TaskWaker {
    fn register(&self, waker: &Waker) {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }

    fn wake(&self) {
        let waker = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// One side's socket.
struct Socket<T> {
    transport: T,
    /// EOF or a read error: nothing more is read.
    read_done: bool,
}

impl<T> Socket<T> {
    fn new(transport: T) -> Self {
        Socket {
            transport,
            read_done: false,
        }
    }
}

/// A relay's task state.
struct Task<T, R: Runtime, F> {
    proxy: Proxy,
    /// Dropped once the side is done.
    front: Option<Socket<T>>,
    back: Option<Socket<T>>,
    dial: Option<Pin<Box<F>>>,
    timer: DeadlineTimer<R>,
    wake: Arc<TaskWaker>,
    buf: Box<[u8]>,
}

impl<T, R, F> Task<T, R, F>
where
    T: AsyncTransport,
    R: Runtime,
    F: Future<Output = io::Result<T>>,
{
    fn poll<D: Fn(String, u16) -> F>(&mut self, cx: &mut Context<'_>, dial: &D) -> Poll<()> {
        self.wake.register(cx.waker());
        let mut reads = 0;
        loop {
            let now = clock::now();
            self.proxy.handle_wake(now);
            let mut moved = self.poll_connect(cx, dial, now);
            for side in [Side::Front, Side::Back] {
                moved |= self.poll_write(cx, side, now);
            }
            for side in [Side::Front, Side::Back] {
                if reads < READS_PER_POLL && self.poll_read(cx, side, now) {
                    reads += 1;
                    moved = true;
                }
            }
            for side in [Side::Front, Side::Back] {
                moved |= self.poll_end(cx, side);
            }
            if self.front.is_none() && self.back.is_none() && self.proxy.is_finished() {
                return Poll::Ready(());
            }
            moved |= self.poll_timer(cx, now);
            if reads >= READS_PER_POLL {
                // Let the thread's other tasks run; come back at once.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if !moved {
                return Poll::Pending;
            }
        }
    }

    /// Starts the upstream connect when asked, and hands its outcome to the proxy.
    fn poll_connect<D: Fn(String, u16) -> F>(
        &mut self,
        cx: &mut Context<'_>,
        dial: &D,
        now: Duration,
    ) -> bool {
        if let Some(upstream) = self.proxy.poll_connect() {
            self.dial = Some(Box::pin(dial(upstream.host, upstream.port)));
        }
        let Some(connecting) = &mut self.dial else {
            return false;
        };
        let Poll::Ready(result) = connecting.as_mut().poll(cx) else {
            return false;
        };
        self.dial = None;
        match result {
            Ok(transport) => {
                self.back = Some(Socket::new(transport));
                self.proxy.handle_back_connected(now);
            }
            Err(e) => self.proxy.handle_back_connect_failed(now, &e.to_string()),
        }
        true
    }

    fn socket(&mut self, side: Side) -> (&mut Proxy, Option<&mut Socket<T>>) {
        let socket = match side {
            Side::Front => self.front.as_mut(),
            Side::Back => self.back.as_mut(),
        };
        (&mut self.proxy, socket)
    }

    /// Writes what the side has; whether anything happened.
    fn poll_write(&mut self, cx: &mut Context<'_>, side: Side, now: Duration) -> bool {
        let (proxy, Some(socket)) = self.socket(side) else {
            return false;
        };
        let mut wrote = false;
        let result = proxy.write_output(side, now, |out| {
            match socket.transport.poll_write(cx, out) {
                Poll::Ready(Ok(n)) => {
                    wrote = true;
                    Ok(n)
                }
                Poll::Ready(Err(e)) => Err(e),
                Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
            }
        });
        wrote || result.is_err()
    }

    /// Reads the side once if the proxy wants it read; whether anything happened.
    fn poll_read(&mut self, cx: &mut Context<'_>, side: Side, now: Duration) -> bool {
        let buf = &mut self.buf;
        let (proxy, Some(socket)) = (
            &mut self.proxy,
            match side {
                Side::Front => self.front.as_mut(),
                Side::Back => self.back.as_mut(),
            },
        ) else {
            return false;
        };
        if socket.read_done || !proxy.wants_read(side) {
            return false;
        }
        match socket.transport.poll_read(cx, buf) {
            Poll::Ready(Ok(0)) => {
                socket.read_done = true;
                proxy.handle_eof(side, now);
            }
            Poll::Ready(Ok(n)) => proxy.handle_input(side, now, buf.get(..n).unwrap_or_default()),
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Poll::Ready(Err(e)) => {
                debug!(peer = %proxy.peer(), "reading failed: {e}");
                socket.read_done = true;
                proxy.handle_eof(side, now);
            }
            Poll::Pending => return false,
        }
        true
    }

    /// Ends and drops the socket of a side that is done (or the connect it no longer
    /// needs); whether anything happened.
    fn poll_end(&mut self, cx: &mut Context<'_>, side: Side) -> bool {
        if !self.proxy.is_done(side) {
            return false;
        }
        if side == Side::Back && self.dial.take().is_some() {
            return true;
        }
        let slot = match side {
            Side::Front => &mut self.front,
            Side::Back => &mut self.back,
        };
        let Some(socket) = slot else {
            return false;
        };
        match socket.transport.poll_shutdown(cx) {
            // Errors do not matter: the side is over either way.
            Poll::Ready(_) => {
                *slot = None;
                true
            }
            Poll::Pending => false,
        }
    }

    /// Arms the timer for the proxy's next deadline; when it has come, tells the proxy.
    fn poll_timer(&mut self, cx: &mut Context<'_>, now: Duration) -> bool {
        let deadline = self.proxy.poll_timeout();
        if deadline.is_some_and(|at| at <= now) || self.timer.poll(cx, deadline) {
            self.proxy.handle_timeout(clock::now());
            return true;
        }
        false
    }
}
