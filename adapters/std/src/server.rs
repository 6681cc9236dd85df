//! A listening server: a thread per connection, each running the handshake and then the
//! application's handler.

use std::fmt;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use sockwright_driver::ServerOptions;

use crate::handshake::accept;
use crate::websocket::WebSocket;

/// How long the accept loop pauses after a failed accept that is not about one connection
/// (e.g. out of file descriptors), so that it does not spin while the cause lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long [`ServerHandle::stop`] waits to connect to its own listener to wake it.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// A WebSocket server on a `TcpListener`: each accepted connection gets its own thread,
/// which runs the handshake ([`accept`]) and then the handler.
///
/// ```no_run
/// use sockwright_std::{Server, ServerOptions};
///
/// # fn main() -> std::io::Result<()> {
/// Server::bind("127.0.0.1:9001", ServerOptions::default())?.serve(|mut ws| {
///     while let Ok(message) = ws.read() {
///         if message.is_data() {
///             let _ = ws.send(message);
///         }
///     }
/// })
/// # }
/// ```
pub struct Server {
    listener: TcpListener,
    options: Arc<ServerOptions>,
}

impl Server {
    /// Listens on `addr` (port 0 picks a free port; see [`Server::local_addr`]).
    pub fn bind(
        addr: impl ToSocketAddrs,
        options: impl Into<Arc<ServerOptions>>,
    ) -> io::Result<Server> {
        Ok(Server::from_listener(TcpListener::bind(addr)?, options))
    }

    /// Serves on a listener the caller has set up.
    pub fn from_listener(listener: TcpListener, options: impl Into<Arc<ServerOptions>>) -> Server {
        Server {
            listener,
            options: options.into(),
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The options every connection is accepted with.
    pub fn options(&self) -> &Arc<ServerOptions> {
        &self.options
    }

    /// Accepts connections forever in the calling thread. Each one gets a thread that runs
    /// the handshake and, if it succeeds, `handler`. Refused requests were answered (with
    /// the rejection's HTTP response) and never reach the handler. A failed accept that
    /// concerns one connection is skipped; one that does not (out of file descriptors) is
    /// retried after a short pause. Never returns; see [`Server::spawn`] for a server that
    /// can be stopped.
    pub fn serve<F>(self, handler: F) -> !
    where
        F: Fn(WebSocket) + Send + Sync + 'static,
    {
        let handler = Arc::new(handler);
        let never = AtomicBool::new(false);
        loop {
            self.run(handler.clone(), &never);
        }
    }

    /// [`Server::serve`] in a background thread. The returned handle stops accepting when
    /// it is dropped or [stopped](ServerHandle::stop); connections already accepted run on
    /// until they end.
    pub fn spawn<F>(self, handler: F) -> io::Result<ServerHandle>
    where
        F: Fn(WebSocket) + Send + Sync + 'static,
    {
        let addr = self.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::Builder::new()
            .name("sockwright-accept".into())
            .spawn(move || self.run(Arc::new(handler), &stopping))?;
        Ok(ServerHandle {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    fn run<F>(&self, handler: Arc<F>, stop: &AtomicBool)
    where
        F: Fn(WebSocket) + Send + Sync + 'static,
    {
        loop {
            let accepted = self.listener.accept();
            if stop.load(Ordering::Acquire) {
                return;
            }
            match accepted {
                Ok((stream, _)) => self.spawn_connection(stream, handler.clone()),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionAborted
                            | ErrorKind::ConnectionReset
                            | ErrorKind::Interrupted
                    ) => {}
                Err(_) => thread::sleep(ACCEPT_BACKOFF),
            }
        }
    }

    fn spawn_connection<F>(&self, stream: TcpStream, handler: Arc<F>)
    where
        F: Fn(WebSocket) + Send + Sync + 'static,
    {
        let options = self.options.clone();
        // If no thread can be started, the connection is dropped: the peer sees it close.
        let _ = thread::Builder::new()
            .name("sockwright-conn".into())
            .spawn(move || {
                if let Ok(ws) = accept(stream, options) {
                    handler(ws);
                }
            });
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.listener.local_addr().ok())
            .field("options", &self.options)
            .finish()
    }
}

/// A server running in the background ([`Server::spawn`]). Dropping it stops accepting.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits for the accept loop to end. Connections
    /// already accepted run on until they end.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop with a connection of our own; it sees the flag and returns.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        if TcpStream::connect_timeout(&wake, WAKE_TIMEOUT).is_ok() {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .field("running", &self.thread.is_some())
            .finish()
    }
}
