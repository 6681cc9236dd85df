//! `sockwright-smol`: WebSocket (RFC 6455) servers and clients on async-io (smol's reactor),
//! usable from any executor: smol, `async_io::block_on`, async-executor.
//!
//! ```no_run
//! use sockwright_smol::{Message, ServerOptions};
//!
//! # fn run() -> std::io::Result<()> {
//! let addr: std::net::SocketAddr = "127.0.0.1:9001".parse().unwrap();
//! let listener = sockwright_smol::bind(addr, ServerOptions::default())?;
//! async_io::block_on(async {
//!     loop {
//!         let incoming = listener.accept().await?;
//!         std::thread::spawn(move || async_io::block_on(async {
//!             let Ok(mut ws) = incoming.handshake().await else { return };
//!             while let Some(Ok(message)) = ws.recv().await {
//!                 if message.is_data() && ws.send(message).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         }));
//!     }
//! })
//! # }
//! ```
//!
//! (With smol, spawn the connection with `smol::spawn` instead of a thread.)
//!
//! This crate only joins async-io's sockets and timers to the runtime-independent loop in
//! [`sockwright_driver::asynch`]; every protocol decision is the core's, so it behaves like
//! every other sockwright adapter. [`WebSocketStream`] is a `Stream` of received messages and
//! a `Sink` of messages to send; the documentation of
//! [`asynch`](mod@sockwright_driver::asynch) says who drives the connection (timers run while
//! the stream is polled), how backpressure works (sends wait while the outbound queue is at
//! its limit) and the cancel safety of every method.
//!
//! [`WebSocketStream::split`] gives a [`Reader`] and a [`Writer`] served by a driver task.
//! async-io has no executor, so that task runs on a small global executor of this crate
//! (async-executor, the executor smol itself uses), run by one thread per available CPU,
//! started on the first split. The halves work from any executor.
//!
//! With the feature `tls`, `ServerOptions::tls` serves wss and `wss://` URLs connect over
//! TLS; the session runs rustls, this crate only moves bytes. `tls` builds the
//! configurations from PEM files or the system's roots.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::sync::{Arc, Once};
use std::task::{ready, Context, Poll};
use std::thread;
use std::time::Instant;

use async_executor::Executor;
use async_io::Async;
use futures_lite::{AsyncRead, AsyncWrite, Stream};
use sockwright_driver::asynch::{self, AsyncTimer, AsyncTransport, Runtime};

pub use sockwright_driver::asynch::{Reader, Writer};
#[cfg(feature = "tls")]
pub use sockwright_driver::tls;
pub use sockwright_driver::{
    sockwright, ClientOptions, Error, Handshake, Message, Route, ServerOptions,
};

/// A WebSocket connection over a futures-io byte stream (an async-io TCP stream unless
/// named).
pub type WebSocketStream<S = Async<TcpStream>> = asynch::WebSocketStream<Transport<S>, Smol>;

/// async-io, as the async loop sees it: [`async_io::Timer`] timers, and this crate's global
/// executor for the driver tasks of split halves.
#[derive(Clone, Copy, Debug, Default)]
pub struct Smol;

static EXECUTOR: Executor<'static> = Executor::new();
static EXECUTOR_THREADS: Once = Once::new();

impl Runtime for Smol {
    type Timer = Timer;

    fn timer() -> Timer {
        Timer {
            timer: async_io::Timer::never(),
            set: false,
            fired: false,
        }
    }

    fn spawn<F>(future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        EXECUTOR_THREADS.call_once(|| {
            let threads = thread::available_parallelism().map_or(1, |n| n.get());
            for n in 0..threads {
                // A thread that cannot start leaves the others; the first always can, in
                // any process that could start this one.
                let _ = thread::Builder::new()
                    .name(format!("sockwright-smol-{n}"))
                    .spawn(|| async_io::block_on(EXECUTOR.run(std::future::pending::<()>())));
            }
        });
        EXECUTOR.spawn(future).detach();
    }
}

/// An [`async_io::Timer`] that, once fired, stays fired until it is reset.
#[derive(Debug)]
pub struct Timer {
    timer: async_io::Timer,
    set: bool,
    fired: bool,
}

impl AsyncTimer for Timer {
    fn reset(&mut self, at: Instant) {
        self.timer.set_at(at);
        self.set = true;
        self.fired = false;
    }

    fn poll_fire(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.fired {
            return Poll::Ready(());
        }
        if !self.set {
            return Poll::Pending;
        }
        match Pin::new(&mut self.timer).poll_next(cx) {
            Poll::Ready(Some(_)) => {
                self.fired = true;
                Poll::Ready(())
            }
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}

/// Any futures-io byte stream (`AsyncRead + AsyncWrite`) as the transport of a connection.
pub struct Transport<S> {
    stream: S,
    /// Ends the write side where `poll_close` only flushes (async-io's TCP streams).
    shutdown: Option<fn(&S) -> io::Result<()>>,
}

impl<S> Transport<S> {
    /// Wraps a byte stream; ending the connection calls its `poll_close`.
    pub fn new(stream: S) -> Self {
        Transport {
            stream,
            shutdown: None,
        }
    }

    /// The byte stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The byte stream, given back.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl Transport<Async<TcpStream>> {
    /// Wraps a TCP stream: ending the connection also ends its write side (FIN), which
    /// async-io's `poll_close` does not do.
    pub fn tcp(stream: Async<TcpStream>) -> Self {
        // Frames are written whole: Nagle's algorithm would only delay them.
        let _ = stream.get_ref().set_nodelay(true);
        Transport {
            stream,
            shutdown: Some(|s| s.get_ref().shutdown(Shutdown::Write)),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Transport<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Transport").field(&self.stream).finish()
    }
}

impl<S> AsyncTransport for Transport<S>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(Pin::new(&mut self.stream).poll_close(cx))?;
        Poll::Ready(match self.shutdown {
            Some(shutdown) => shutdown(&self.stream),
            None => Ok(()),
        })
    }
}

/// Binds a listener for WebSocket connections at `addr`, each to be answered with
/// `options` (shared, not copied, by every connection).
pub fn bind(
    addr: impl Into<SocketAddr>,
    options: impl Into<Arc<ServerOptions>>,
) -> io::Result<Listener> {
    Ok(Listener {
        inner: Async::<TcpListener>::bind(addr)?,
        options: options.into(),
    })
}

/// A TCP listener whose connections become WebSocket connections.
#[derive(Debug)]
pub struct Listener {
    inner: Async<TcpListener>,
    options: Arc<ServerOptions>,
}

impl Listener {
    /// Waits for the next TCP connection. The handshake is left to
    /// [`Incoming::handshake`], to run in the connection's own task so that a slow client
    /// does not hold up the others. Errors are those of the OS's accept (e.g. out of file
    /// descriptors); the listener stays usable. Cancel safe.
    pub async fn accept(&self) -> io::Result<Incoming> {
        let (stream, peer) = self.inner.accept().await?;
        Ok(Incoming {
            stream,
            peer,
            options: self.options.clone(),
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The options every connection is answered with.
    pub fn options(&self) -> &Arc<ServerOptions> {
        &self.options
    }
}

/// An accepted TCP connection whose upgrade handshake has not run yet.
#[derive(Debug)]
pub struct Incoming {
    stream: Async<TcpStream>,
    peer: SocketAddr,
    options: Arc<ServerOptions>,
}

impl Incoming {
    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Runs the server handshake; see [`accept`].
    pub async fn handshake(self) -> Result<WebSocketStream, Error> {
        asynch::accept::<_, Smol>(Transport::tcp(self.stream), self.options).await
    }
}

/// Runs the server handshake on an accepted byte stream: reads the upgrade request (TLS
/// first when `ServerOptions::tls` is set), asks the request hook, answers, and returns the
/// open connection.
///
/// A refused request gets the core's HTTP response (e.g. `400` with a reason naming the
/// header) and [`Error::Rejected`]; a request the hook answered itself gives
/// [`Error::Answered`]; [`ServerOptions::handshake_timeout`] bounds it all
/// ([`Error::HandshakeTimeout`]). Not cancel safe: dropping it drops the connection.
pub async fn accept<S>(
    stream: S,
    options: impl Into<Arc<ServerOptions>>,
) -> Result<WebSocketStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    asynch::accept::<_, Smol>(Transport::new(stream), options.into()).await
}

/// Connects to a `ws://` or `wss://` URL: resolves the host (on a short-lived thread, as
/// the system resolver blocks; IP addresses need none), connects over TCP to each address in
/// turn, and runs the client handshake with the options' headers (e.g. `Name`, `Topic`)
/// and subprotocols.
///
/// [`ClientOptions::handshake_timeout`] bounds it all, name lookup and TCP connect included
/// ([`Error::HandshakeTimeout`]). A server that refuses gives [`Error::Handshake`] with its
/// status and reason. Not cancel safe: dropping it drops the connection.
pub async fn connect(
    url: &str,
    options: impl Into<Arc<ClientOptions>>,
) -> Result<WebSocketStream, Error> {
    asynch::connect::<_, Smol, _, _>(url, options.into(), dial).await
}

/// Opens a TCP connection to `host` (a DNS name or an IP address) and `port`: resolves the
/// name on a short-lived thread (the system resolver blocks; IP addresses need none), then
/// tries each address in turn. For code that runs its own protocol over the stream, such as
/// a relay; [`connect`] uses it. Not bounded in time: wrap it in a timeout.
pub async fn dial(host: String, port: u16) -> io::Result<Transport<Async<TcpStream>>> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for addr in resolve(host, port).await? {
        match Async::<TcpStream>::connect(addr).await {
            Ok(stream) => return Ok(Transport::tcp(stream)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn resolve(host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = futures_channel::oneshot::channel();
    thread::Builder::new()
        .name("sockwright-smol-resolve".into())
        .spawn(move || {
            let found = (host.as_str(), port).to_socket_addrs();
            let _ = tx.send(found.map(Iterator::collect));
        })?;
    rx.await
        .map_err(|_| io::Error::other("the name lookup thread stopped"))?
}
