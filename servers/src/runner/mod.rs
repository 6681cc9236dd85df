//! The runtime-neutral server loop and its four runners.
//!
//! [`Shared`](shared::Shared) holds what is the same on every runtime: routing through the
//! app, the outbox, the log lines, the shutdown flag. Each runner only accepts, runs the
//! adapter's handshake with the shared request hook, and moves each connection's events to
//! the app and the app's messages to the connection, the way its runtime does it:
//!
//! | runtime | connections | replies | outbox messages |
//! |---|---|---|---|
//! | std | a thread each | blocking send on that thread | a writer thread each |
//! | mio | event loops, one per core | the loop's context | the loop's handle |
//! | tokio | a task each | written after the callback | the same task |
//! | smol | a task each | written after the callback | the same task |

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;
use sockwright_driver::ServerOptions;

mod async_conn;
mod mio_rt;
pub(crate) mod shared;
pub(crate) mod smol_rt;
pub(crate) mod std_rt;
pub(crate) mod tokio_rt;

/// How long a runner pauses after an accept that failed for a reason that is not about
/// one connection (e.g. out of file descriptors), so that it does not spin meanwhile.
pub(crate) const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Whether an accept failed for a reason about that one connection (it was reset or
/// aborted before it was taken, or a signal interrupted the call): accept again at once.
pub(crate) fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// Which adapter runs the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    /// `sockwright-std`: blocking std::net, a thread per connection (and one more to write
    /// what other connections send it). Smallest build; best for few connections.
    Std,
    /// `sockwright-mio`: mio event loops, one per core, many connections each.
    Mio,
    /// `sockwright-smol`: async-io, a task per connection on one thread per core.
    Smol,
    /// `sockwright-tokio`: tokio's multi-thread runtime, a task per connection.
    Tokio,
}

impl RuntimeKind {
    /// The name `--runtime` takes.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Std => "std",
            RuntimeKind::Mio => "mio",
            RuntimeKind::Smol => "smol",
            RuntimeKind::Tokio => "tokio",
        }
    }
}

/// A runner, started: it accepts and serves until it is stopped.
pub(crate) trait Running: Send {
    /// The address the listener is bound to.
    fn local_addr(&self) -> SocketAddr;

    /// Stops accepting connections: the listener is closed (at once, or soon after by the
    /// accepting thread or task), so connecting is refused; upgrades that slip in meanwhile
    /// are refused with 503.
    fn stop_accepting(&mut self);

    /// Stops the runtime; connections still open are dropped.
    fn finish(self: Box<Self>);
}

/// Starts the runner of `kind` on `addr`, serving with `options` (whose request hook is
/// already the shared one).
pub(crate) fn start(
    kind: RuntimeKind,
    shared: Arc<shared::Shared>,
    addr: SocketAddr,
    options: Arc<ServerOptions>,
) -> io::Result<Box<dyn Running>> {
    match kind {
        RuntimeKind::Std => std_rt::start(shared, addr, options),
        RuntimeKind::Mio => mio_rt::start(shared, addr, options),
        RuntimeKind::Smol => smol_rt::start(shared, addr, options),
        RuntimeKind::Tokio => tokio_rt::start(shared, addr, options),
    }
}
