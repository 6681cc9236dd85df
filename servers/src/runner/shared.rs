//! What every runner shares, and the part of the server loop that is the same on every
//! runtime: routing through the app (refusing upgrades once shutdown began), registering
//! connections in the outbox, and the log line for each connection's open, close or
//! refusal.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sockwright::handshake::{Rejection, Request};
use sockwright_driver::{Error, Handshake, Route, ServerOptions};
use tracing::{debug, info};

use crate::app::{App, ConnId, End};
use crate::broadcast::Broadcast;
use crate::outbox::{Outbox, Peer};

/// The app, the outbox and the shutdown flag, shared by a runner's threads and tasks.
pub(crate) struct Shared {
    pub(crate) app: Arc<dyn App>,
    pub(crate) outbox: Arc<Outbox>,
    /// The most bytes of outbox messages that wait for one connection (its
    /// `max_outbound_bytes`).
    pub(crate) mailbox_limit: usize,
    /// The hub frames of the task runtimes' connections (tokio, smol): one hand-over per
    /// publish, not one per recipient. The std and mio runners have their own ways.
    pub(crate) cast: Arc<Broadcast>,
    shutting_down: AtomicBool,
}

impl Shared {
    pub(crate) fn new(app: Arc<dyn App>, options: &ServerOptions) -> Shared {
        Shared {
            app,
            outbox: Arc::default(),
            mailbox_limit: options.connection.max_outbound_bytes,
            cast: Arc::new(Broadcast::new(options.connection.max_outbound_bytes)),
            shutting_down: AtomicBool::new(false),
        }
    }

    /// The request hook every runner serves with: the app's route, except that upgrades
    /// are refused with `503` once shutdown began.
    pub(crate) fn route(&self, request: &Request) -> Route {
        let route = self.app.route(request);
        match &route {
            Route::Upgrade(_) if self.shutting_down.load(Ordering::Acquire) => {
                return Route::Reject(Rejection::new(
                    503,
                    "the server is shutting down; connect again later",
                ));
            }
            Route::Respond(response) => {
                let status = response.get(9..12).unwrap_or_default();
                debug!(
                    "{} {} answered {}",
                    request.method(),
                    request.target(),
                    String::from_utf8_lossy(status)
                );
            }
            _ => {}
        }
        route
    }

    /// Stops upgrading new requests (they get `503`).
    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    /// A connection was upgraded: gives it an id, registers it with its `peer` (how the
    /// outbox reaches it) and logs it. The runner calls [`App::on_open`] next.
    pub(crate) fn opened(
        &self,
        addr: SocketAddr,
        handshake: &Handshake,
        peer: Arc<dyn Peer>,
    ) -> ConnId {
        let id = self.outbox.next_id();
        let target = match handshake {
            Handshake::Server { request, .. } => request.target(),
            Handshake::Client { .. } => "",
        };
        info!(conn = %id, peer = %addr, "open {target}");
        self.outbox.register(id, peer);
        id
    }

    /// A connection ended: unregisters it, logs how, and tells the app.
    pub(crate) fn closed(&self, id: ConnId, end: End) {
        self.outbox.unregister(id);
        info!(conn = %id, "{end}");
        self.app.on_close(id, &end);
        // Only now may a shutdown waiting for this connection go on.
        self.outbox.release();
    }

    /// An accepted connection from `peer` was not upgraded: refused (its HTTP response was
    /// sent), answered with plain HTTP, or lost during the handshake.
    pub(crate) fn not_upgraded(&self, peer: SocketAddr, error: &Error) {
        match error {
            // Already logged by `route`.
            Error::Answered => {}
            Error::Rejected(rejection) => info!(peer = %peer, "refused: {rejection}"),
            other => debug!(peer = %peer, "handshake failed: {other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::echo::Echo;
    use sockwright::handshake::{Parsed, RequestParser};

    fn get(path: &str) -> Request {
        let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        match RequestParser::new(Default::default()).feed(head.as_bytes()) {
            Ok(Parsed::Complete { head, .. }) => head,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn upgrades_are_refused_with_503_once_shutting_down_and_pages_still_served() {
        let shared = Shared::new(Arc::new(Echo), &ServerOptions::default());
        assert!(matches!(shared.route(&get("/ws")), Route::Upgrade(_)));
        shared.begin_shutdown();
        match shared.route(&get("/ws")) {
            Route::Reject(rejection) => assert_eq!(rejection.status(), 503),
            other => panic!("{other:?}"),
        }
        assert!(matches!(shared.route(&get("/ping")), Route::Respond(_)));
    }
}
