//! `sockwright-tokio`: WebSocket (RFC 6455) servers and clients on tokio.
//!
//! ```no_run
//! use sockwright_tokio::{Message, ServerOptions};
//!
//! # async fn run() -> std::io::Result<()> {
//! let listener = sockwright_tokio::bind("127.0.0.1:9001", ServerOptions::default()).await?;
//! loop {
//!     let incoming = listener.accept().await?;
//!     tokio::spawn(async move {
//!         let Ok(mut ws) = incoming.handshake().await else { return };
//!         while let Some(Ok(message)) = ws.recv().await {
//!             if message.is_data() && ws.send(message).await.is_err() {
//!                 break;
//!             }
//!         }
//!     });
//! }
//! # }
//! ```
//!
//! This crate only joins tokio's sockets, timers and tasks to the runtime-independent loop
//! in [`sockwright_driver::asynch`]; every protocol decision is the core's, so it behaves
//! like every other sockwright adapter. [`WebSocketStream`] is a `Stream` of received
//! messages and a `Sink` of messages to send; its documentation and that of
//! [`asynch`](mod@sockwright_driver::asynch) say who drives the connection (timers run while the
//! stream is polled), how backpressure works (sends wait while the outbound queue is at its
//! limit) and the cancel safety of every method. [`WebSocketStream::split`] gives a
//! [`Reader`] and a [`Writer`] for use from different tasks, served by a task spawned with
//! [`tokio::spawn`] (so it must be called inside a tokio runtime).
//!
//! With the feature `tls`, `ServerOptions::tls` serves wss and `wss://` URLs connect over
//! TLS; the session runs rustls, this crate only moves bytes. `tls` builds the
//! configurations from PEM files or the system's roots.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use sockwright_driver::asynch::{self, AsyncTimer, AsyncTransport, Runtime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::time::Sleep;

pub use sockwright_driver::asynch::{Reader, Writer};
#[cfg(feature = "tls")]
pub use sockwright_driver::tls;
pub use sockwright_driver::{
    sockwright, ClientOptions, Error, Handshake, Message, Route, ServerOptions,
};

/// A WebSocket connection over a tokio byte stream (a [`TcpStream`] unless named).
pub type WebSocketStream<S = TcpStream> = asynch::WebSocketStream<Transport<S>, Tokio>;

/// The tokio runtime, as the async loop sees it: [`tokio::time`] timers and
/// [`tokio::spawn`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    type Timer = Timer;

    fn timer() -> Timer {
        Timer(None)
    }

    fn spawn<F>(future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(future);
    }
}

/// A [`tokio::time::Sleep`], made on its first reset (so that streams can be built outside
/// the runtime).
#[derive(Debug)]
pub struct Timer(Option<Pin<Box<Sleep>>>);

impl AsyncTimer for Timer {
    fn reset(&mut self, at: Instant) {
        let at = tokio::time::Instant::from_std(at);
        match &mut self.0 {
            Some(sleep) => sleep.as_mut().reset(at),
            None => self.0 = Some(Box::pin(tokio::time::sleep_until(at))),
        }
    }

    fn poll_fire(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.0 {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

/// Any tokio byte stream (`AsyncRead + AsyncWrite`) as the transport of a connection.
#[derive(Debug)]
pub struct Transport<S>(S);

impl<S> Transport<S> {
    /// Wraps a byte stream.
    pub fn new(stream: S) -> Self {
        Transport(stream)
    }

    /// The byte stream.
    pub fn get_ref(&self) -> &S {
        &self.0
    }

    /// The byte stream, given back.
    pub fn into_inner(self) -> S {
        self.0
    }
}

impl<S> AsyncTransport for Transport<S>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        ready!(Pin::new(&mut self.0).poll_read(cx, &mut buf))?;
        Poll::Ready(Ok(buf.filled().len()))
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Binds a listener for WebSocket connections at `addr`, each to be answered with
/// `options` (shared, not copied, by every connection).
pub async fn bind(
    addr: impl ToSocketAddrs,
    options: impl Into<Arc<ServerOptions>>,
) -> io::Result<Listener> {
    Ok(Listener {
        inner: TcpListener::bind(addr).await?,
        options: options.into(),
    })
}

/// A TCP listener whose connections become WebSocket connections.
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
    options: Arc<ServerOptions>,
}

impl Listener {
    /// Waits for the next TCP connection. The handshake is left to
    /// [`Incoming::handshake`], to run in the connection's own task so that a slow client
    /// does not hold up the others. Errors are those of [`TcpListener::accept`] (e.g. out of
    /// file descriptors); the listener stays usable. Cancel safe.
    pub async fn accept(&self) -> io::Result<Incoming> {
        let (stream, peer) = self.inner.accept().await?;
        // Frames are written whole: Nagle's algorithm would only delay them.
        let _ = stream.set_nodelay(true);
        Ok(Incoming {
            stream,
            peer,
            options: self.options.clone(),
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The options every connection is answered with.
    pub fn options(&self) -> &Arc<ServerOptions> {
        &self.options
    }
}

/// An accepted TCP connection whose upgrade handshake has not run yet.
#[derive(Debug)]
pub struct Incoming {
    stream: TcpStream,
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
        accept(self.stream, self.options).await
    }
}

/// Runs the server handshake on an accepted byte stream: reads the upgrade request (TLS
/// first when `ServerOptions::tls` is set), asks the request hook, answers, and returns
/// the open connection.
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
    asynch::accept::<_, Tokio>(Transport(stream), options.into()).await
}

/// Connects to a `ws://` or `wss://` URL: resolves the host with tokio, connects over TCP,
/// and runs the client handshake with the options' headers (e.g. `Name`, `Topic`) and
/// subprotocols.
///
/// [`ClientOptions::handshake_timeout`] bounds it all, name lookup and TCP connect included
/// ([`Error::HandshakeTimeout`]). A server that refuses gives [`Error::Handshake`] with its
/// status and reason. Not cancel safe: dropping it drops the connection.
pub async fn connect(
    url: &str,
    options: impl Into<Arc<ClientOptions>>,
) -> Result<WebSocketStream, Error> {
    asynch::connect::<_, Tokio, _, _>(url, options.into(), dial).await
}

/// Opens a TCP connection to `host` (a DNS name or an IP address) and `port`, resolving the
/// name with tokio (on its blocking pool), with Nagle's algorithm off. For code that runs its
/// own protocol over the stream, such as a relay; [`connect`] uses it. Not bounded in time:
/// wrap it in a timeout.
pub async fn dial(host: String, port: u16) -> io::Result<Transport<TcpStream>> {
    let stream = TcpStream::connect((host.as_str(), port)).await?;
    let _ = stream.set_nodelay(true);
    Ok(Transport(stream))
}
