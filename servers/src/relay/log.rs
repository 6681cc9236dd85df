//! The log lines of a relayed connection: one when it opens (or is refused, with the status
//! and reason), one when it ends, saying how each side ended and how many messages crossed.

use std::mem;
use std::net::SocketAddr;

use sockwright::conn::{Closed, Initiator};
use sockwright::frame::CloseCode;
use sockwright::relay::RelayEvent;
use tracing::info;

use crate::app::ConnId;

/// What the log says about one relay.
pub(super) struct Log {
    /// Set once the relay started (and is in the outbox).
    pub(super) id: Option<ConnId>,
    /// `/path -> ws://upstream/...`.
    pub(super) route: String,
    /// How the client's side ended, once it has.
    pub(super) front: Option<String>,
    /// How the upstream's side ended, once it has.
    pub(super) back: Option<String>,
    /// The close line is written (or not needed).
    pub(super) ended: bool,
}

impl Log {
    /// Writes the open and close lines; sets `ended` with the last one.
    pub(super) fn note(&mut self, peer: SocketAddr, event: RelayEvent) {
        let id = self.id.map_or_else(String::new, |id| id.to_string());
        let route = &self.route;
        match event {
            RelayEvent::Opened { subprotocol } => match subprotocol {
                Some(p) => {
                    info!(conn = %id, peer = %peer, "relay {route}: open, subprotocol {p:?}")
                }
                None => info!(conn = %id, peer = %peer, "relay {route}: open"),
            },
            RelayEvent::Refused(rejection) => {
                self.ended = true;
                info!(conn = %id, peer = %peer, "relay {route}: refused {rejection}");
            }
            RelayEvent::Abandoned => {
                self.ended = true;
                info!(conn = %id, peer = %peer,
                    "relay {route}: the client left before the upstream answered");
            }
            RelayEvent::FrontClosed(closed) => self.front = Some(describe(&closed, "client")),
            RelayEvent::BackClosed(closed) => self.back = Some(describe(&closed, "upstream")),
            RelayEvent::FrontFailed(error) => self.front = Some(format!("failed: {error}")),
            RelayEvent::BackFailed(error) => self.back = Some(format!("failed: {error}")),
            RelayEvent::Finished(stats) => {
                if mem::replace(&mut self.ended, true) {
                    return;
                }
                let undelivered = stats.undelivered_to_back + stats.undelivered_to_front;
                info!(conn = %id, peer = %peer,
                    "relay {route}: closed; client {}; upstream {}; {} message(s) to the upstream, \
                     {} to the client, {undelivered} undelivered",
                    self.front.as_deref().unwrap_or("-"),
                    self.back.as_deref().unwrap_or("-"),
                    stats.to_back,
                    stats.to_front,
                );
            }
        }
    }
}

/// How one side closed, for the log: `closed 1000 "bye" by the client`.
fn describe(closed: &Closed, peer: &str) -> String {
    let by = match closed.initiator {
        Initiator::Remote => peer,
        Initiator::Local => "the relay",
    };
    match closed.code {
        CloseCode::ABNORMAL => format!("lost (1006, no close frame; started by {by})"),
        code if closed.reason.is_empty() => format!("closed {code} by {by}"),
        code => format!("closed {code} {:?} by {by}", closed.reason),
    }
}
