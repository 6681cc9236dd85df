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

#[cfg(feature = "async")]
mod async_conn;
#[cfg(feature = "rt-mio")]
mod mio_rt;
pub(crate) mod shared;
#[cfg(feature = "rt-smol")]
pub(crate) mod smol_rt;
#[cfg(feature = "rt-std")]
pub(crate) mod std_rt;
#[cfg(feature = "rt-tokio")]
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
    /// Every runtime, built in or not.
    pub const ALL: [RuntimeKind; 4] = [
        RuntimeKind::Std,
        RuntimeKind::Mio,
        RuntimeKind::Smol,
        RuntimeKind::Tokio,
    ];

    /// The runtime `--runtime` defaults to: tokio, or the first one built in when this
    /// binary was built without it.
    pub const DEFAULT: RuntimeKind = if cfg!(feature = "rt-tokio") {
        RuntimeKind::Tokio
    } else if cfg!(feature = "rt-mio") {
        RuntimeKind::Mio
    } else if cfg!(feature = "rt-smol") {
        RuntimeKind::Smol
    } else {
        RuntimeKind::Std
    };

    /// The name `--runtime` takes.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Std => "std",
            RuntimeKind::Mio => "mio",
            RuntimeKind::Smol => "smol",
            RuntimeKind::Tokio => "tokio",
        }
    }

    /// Whether this binary has the runtime: its cargo feature (`rt-std`, `rt-mio`,
    /// `rt-smol`, `rt-tokio`; all on by default) was on when it was built.
    pub fn is_built(self) -> bool {
        match self {
            RuntimeKind::Std => cfg!(feature = "rt-std"),
            RuntimeKind::Mio => cfg!(feature = "rt-mio"),
            RuntimeKind::Smol => cfg!(feature = "rt-smol"),
            RuntimeKind::Tokio => cfg!(feature = "rt-tokio"),
        }
    }

    /// The error for starting a runtime this binary was built without.
    pub(crate) fn not_built(self) -> io::Error {
        let built: Vec<&str> = Self::ALL
            .into_iter()
            .filter(|kind| kind.is_built())
            .map(RuntimeKind::name)
            .collect();
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "this sockwright was built without the {name} runtime (cargo feature rt-{name}); \
                 it has: {}",
                built.join(", "),
                name = self.name(),
            ),
        )
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
        #[cfg(feature = "rt-std")]
        RuntimeKind::Std => std_rt::start(shared, addr, options),
        #[cfg(feature = "rt-mio")]
        RuntimeKind::Mio => mio_rt::start(shared, addr, options),
        #[cfg(feature = "rt-smol")]
        RuntimeKind::Smol => smol_rt::start(shared, addr, options),
        #[cfg(feature = "rt-tokio")]
        RuntimeKind::Tokio => tokio_rt::start(shared, addr, options),
        #[allow(unreachable_patterns)] // every runtime built in: nothing is left
        _ => {
            let _ = (shared, addr, options);
            Err(kind.not_built())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::echo::Echo;
    use crate::relay::RelayOptions;
    use crate::Server;

    #[test]
    fn the_error_for_a_runtime_left_out_names_its_feature_and_what_is_built() {
        let error = RuntimeKind::Smol.not_built();
        assert_eq!(error.kind(), io::ErrorKind::Unsupported);
        let text = error.to_string();
        assert!(
            text.contains("without the smol runtime (cargo feature rt-smol)"),
            "{text}"
        );
        let built = if cfg!(all(
            feature = "rt-std",
            feature = "rt-mio",
            feature = "rt-smol",
            feature = "rt-tokio"
        )) {
            "std, mio, smol, tokio"
        } else if cfg!(all(
            feature = "rt-mio",
            not(any(
                feature = "rt-std",
                feature = "rt-smol",
                feature = "rt-tokio"
            ))
        )) {
            "mio"
        } else {
            return; // other builds: the start test below covers them
        };
        assert!(text.ends_with(&format!("it has: {built}")), "{text}");
    }

    /// Every runtime starts when it is built in and is refused with that error when it is
    /// not, for both kinds of server (CI runs this in the full build and in a mio-only one).
    #[test]
    fn each_runtime_starts_only_when_built_in() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        for kind in RuntimeKind::ALL {
            let relay = RelayOptions {
                routes: vec![crate::relay::parse_route("/r=ws://127.0.0.1:9/ws").unwrap()],
                config: Default::default(),
                upstream_tls: None,
            };
            let started = [
                Server::start(Arc::new(Echo), kind, addr, ServerOptions::default()),
                Server::start_relay(relay, kind, addr, ServerOptions::default()),
            ];
            for server in started {
                match server {
                    Ok(server) => {
                        assert!(kind.is_built(), "{} started", kind.name());
                        server.shutdown(Duration::from_secs(1));
                    }
                    Err(error) => {
                        assert!(!kind.is_built(), "{}: {error}", kind.name());
                        assert_eq!(error.to_string(), kind.not_built().to_string());
                    }
                }
            }
        }
    }
}
