//! [`Server`]: one listener served by several event loops, one per thread.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use sockwright_driver::{Error, ServerOptions};

use crate::event_loop::EventLoop;
use crate::handle::LoopHandle;
use crate::handler::Handler;
use crate::reactor::Reactor;

/// A WebSocket server: a bound listener and the number of event loops (threads) to serve it
/// with.
///
/// # Threading
///
/// Each loop runs on its own thread with its own `mio::Poll` and its own handler, made by
/// the factory given to [`Server::run`] or [`Server::spawn`] on that thread (so a handler
/// need not be `Send`). The first loop accepts and deals the connections to all loops in
/// turn, itself included; a connection then stays on its loop for life. Handlers share
/// state the usual way (an `Arc<Mutex<…>>`, channels, or a [`LoopHandle`] per loop).
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    options: Arc<ServerOptions>,
    threads: usize,
}

impl Server {
    /// Binds a listener to `addr` (port 0 picks a free port), to serve with `options`.
    pub fn bind(addr: impl ToSocketAddrs, options: ServerOptions) -> Result<Server, Error> {
        Ok(Server::from_listener(TcpListener::bind(addr)?, options))
    }

    /// Serves an already bound listener.
    pub fn from_listener(listener: TcpListener, options: ServerOptions) -> Server {
        Server {
            listener,
            options: Arc::new(options),
            threads: 1,
        }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves with `n` event loops, one thread each (at least one; default one).
    pub fn threads(mut self, n: usize) -> Server {
        self.threads = n.max(1);
        self
    }

    /// Serves on the configured number of threads, blocking the caller until every loop has
    /// stopped (see [`LoopHandle::stop`]). `factory` makes each loop's handler on that loop's
    /// thread.
    pub fn run<H, F>(self, factory: F) -> Result<(), Error>
    where
        H: Handler + 'static,
        F: Fn() -> H + Send + Sync + 'static,
    {
        self.spawn(factory)?.join()
    }

    /// Starts the loops on their own threads and returns at once.
    pub fn spawn<H, F>(self, factory: F) -> Result<ServerHandle, Error>
    where
        H: Handler + 'static,
        F: Fn() -> H + Send + Sync + 'static,
    {
        let addr = self.listener.local_addr()?;
        let mut reactors = (0..self.threads)
            .map(|_| Reactor::new())
            .collect::<io::Result<Vec<_>>>()?;
        let loops: Vec<LoopHandle> = reactors.iter().map(|r| r.handle.clone()).collect();
        if let Some(first) = reactors.first_mut() {
            first.listen(self.listener, self.options, loops.clone(), 0)?;
        }
        let factory = Arc::new(factory);
        let mut server = ServerHandle {
            addr,
            loops,
            threads: Vec::new(),
        };
        for (i, reactor) in reactors.into_iter().enumerate() {
            let factory = factory.clone();
            let thread = thread::Builder::new()
                .name(format!("sockwright-mio-{i}"))
                .spawn(move || {
                    let handler = factory();
                    EventLoop::from_reactor(reactor, handler).run().map(drop)
                })?;
            server.threads.push(thread);
        }
        Ok(server)
    }
}

/// Running loops started by [`Server::spawn`]. Dropping it stops them and waits for their
/// threads.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    loops: Vec<LoopHandle>,
    threads: Vec<JoinHandle<Result<(), Error>>>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle to each loop, in the order they were started (the first one accepts).
    pub fn loops(&self) -> &[LoopHandle] {
        &self.loops
    }

    /// Closes the listener and waits until it is closed: from then on connecting to the
    /// port is refused, while every loop goes on serving the connections it has (e.g. to
    /// close them cleanly before [`ServerHandle::stop`]). Fails with [`Error::Io`] if the
    /// accepting loop has already stopped (its listener is then closed too), and with
    /// [`Error::Config`] on that loop's own thread (use [`crate::Context::stop_accepting`]).
    pub fn stop_accepting(&self) -> Result<(), Error> {
        match self.loops.first() {
            Some(first) => first.stop_accepting(),
            None => Ok(()),
        }
    }

    /// Asks every loop to stop.
    pub fn stop(&self) {
        for handle in &self.loops {
            handle.stop();
        }
    }

    /// Waits until every loop has stopped; the first loop's error, if any.
    pub fn join(mut self) -> Result<(), Error> {
        self.join_threads()
    }

    fn join_threads(&mut self) -> Result<(), Error> {
        let mut result = Ok(());
        for thread in self.threads.drain(..) {
            let outcome = thread.join().unwrap_or_else(|_| {
                Err(Error::Io(io::Error::other("an event loop thread panicked")))
            });
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
        let _ = self.join_threads();
    }
}
