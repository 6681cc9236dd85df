//! `sockwright-servers`: the servers of the `sockwright` binary, each written once and run
//! by whichever adapter `--runtime` names.
//!
//! A server is an [`App`]: it routes request heads ([`App::route`]: upgrade, refuse, or
//! answer with plain HTTP) and reacts to its connections' events ([`App::on_open`],
//! [`App::on_message`], [`App::on_close`]), answering through a [`Conn`] and reaching any
//! other connection, from any thread, through the [`Outbox`]. [`Server::start`] runs an app
//! on one of the four runtimes ([`RuntimeKind`]); each runner only accepts, runs the
//! adapter's handshake with the shared request hook, and moves events and messages. Every
//! protocol decision (upgrade validation, origins, close codes, keepalive) is the core's.
//!
//! The relay ([`Server::start_relay`], module [`relay`]) is the exception to the app model:
//! its client must wait for its upstream, so a runtime-neutral proxy connection around the
//! core's relay machine is driven by runners of its own, within the same [`Server`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use sockwright_servers::{echo::Echo, RuntimeKind, Server, ServerOptions};
//!
//! let addr = "127.0.0.1:9001".parse().unwrap();
//! let server = Server::start(Arc::new(Echo), RuntimeKind::Tokio, addr, ServerOptions::default())?;
//! println!("listening on {}", server.local_addr());
//! // ... until it is time to stop: close every connection with 1001, wait at most 5 s.
//! server.shutdown(Duration::from_secs(5));
//! # Ok::<(), std::io::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// A build with some runtimes left out (see the crate's features) leaves parts of the shared
// machinery unused, e.g. the task runtimes' broadcast log in a mio-only build; the linker
// drops them. Dead code is checked in the full build, which CI lints.
#![cfg_attr(
    not(all(
        feature = "rt-std",
        feature = "rt-mio",
        feature = "rt-smol",
        feature = "rt-tokio"
    )),
    allow(dead_code, unused_imports)
)]

#[cfg(not(any(
    feature = "rt-std",
    feature = "rt-mio",
    feature = "rt-smol",
    feature = "rt-tokio"
)))]
compile_error!("sockwright-servers needs a runtime: one or more of the features rt-std, rt-mio, rt-smol, rt-tokio");

mod app;
mod broadcast;
pub mod cli;
pub mod echo;
pub mod http;
pub mod hub;
mod id_map;
mod mailbox;
pub mod open_files;
mod outbox;
pub mod relay;
mod runner;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sockwright::frame::CloseCode;
use tracing::{info, warn};

pub use app::{App, Conn, ConnId, End};
pub use outbox::{Outbox, Refusal, Undelivered};
pub use runner::RuntimeKind;
pub use sockwright_driver::{Error, Handshake, Message, Route, ServerOptions};

use runner::shared::Shared;
use runner::Running;

/// The close reason every connection gets on shutdown, with code 1001 (going away).
pub const SHUTDOWN_REASON: &str = "the server is shutting down";

/// A server running an [`App`] on one runtime.
pub struct Server {
    shared: Arc<Shared>,
    running: Option<Box<dyn Running>>,
    runtime: RuntimeKind,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port; see [`Server::local_addr`]) and serves `app`
    /// on `runtime` with `options` (TLS, origin policy, limits). The options' request hook is
    /// replaced by the app's [`App::route`].
    pub fn start(
        app: Arc<dyn App>,
        runtime: RuntimeKind,
        addr: SocketAddr,
        mut options: ServerOptions,
    ) -> io::Result<Server> {
        let shared = Arc::new(Shared::new(app.clone(), &options));
        app.on_start(&shared.outbox);
        let hook = shared.clone();
        options.hook = Some(Arc::new(move |request| hook.route(request)));
        let running = runner::start(runtime, shared.clone(), addr, Arc::new(options))?;
        Ok(Server {
            shared,
            running: Some(running),
            runtime,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.running
            .as_ref()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |r| r.local_addr())
    }

    /// The runtime serving it.
    pub fn runtime(&self) -> RuntimeKind {
        self.runtime
    }

    /// Every open connection, by id.
    pub fn outbox(&self) -> &Outbox {
        &self.shared.outbox
    }

    /// Graceful shutdown: stops accepting (upgrades are refused with 503 from now on),
    /// closes every connection with 1001 ([`SHUTDOWN_REASON`]), waits until they have all
    /// ended or `timeout` has passed, then stops the runtime. Returns how many connections
    /// were still open at the deadline (they are dropped).
    pub fn shutdown(mut self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        self.shared.begin_shutdown();
        let Some(mut running) = self.running.take() else {
            return 0;
        };
        running.stop_accepting();
        let open = self
            .shared
            .outbox
            .close_all(CloseCode::GOING_AWAY, SHUTDOWN_REASON);
        info!("shutting down: closing {open} connection(s) with 1001");
        let left = self.shared.outbox.wait_empty(deadline);
        if left > 0 {
            warn!("{left} connection(s) did not finish closing within {timeout:?}; dropping them");
        }
        running.finish();
        left
    }
}

impl Drop for Server {
    /// Stops at once, without closing connections first; see [`Server::shutdown`].
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.finish();
        }
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.local_addr())
            .field("runtime", &self.runtime)
            .field("outbox", &self.shared.outbox)
            .finish()
    }
}
