//! Putting a fan-out's frame on its recipients' connections, with the slow-consumer policy.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::{Handle, HubConfig, SlowConsumerPolicy};
use crate::conn::{Connection, Role, SendError};
use crate::frame::SharedFrame;

/// A publish's plan: one frame, encoded once, and who should get it.
#[derive(Clone, Debug)]
pub struct FanOut {
    pub(super) frame: SharedFrame,
    pub(super) recipients: Vec<Handle>,
}

impl FanOut {
    /// The frame every recipient gets: the same bytes for all of them.
    pub fn frame(&self) -> &SharedFrame {
        &self.frame
    }

    /// The recipients, in handle order, each once.
    pub fn recipients(&self) -> &[Handle] {
        &self.recipients
    }

    /// How many recipients there are (for a publish endpoint's reply).
    pub fn recipient_count(&self) -> usize {
        self.recipients.len()
    }

    /// The frame and the recipients, for a server that hands them to other threads or tasks.
    pub fn into_parts(self) -> (SharedFrame, Vec<Handle>) {
        (self.frame, self.recipients)
    }
}

/// What became of a frame for one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Queued on the connection; write its output as usual.
    Queued,
    /// Not queued: the queue was full and the policy is
    /// [`DropMessage`](SlowConsumerPolicy::DropMessage), or the frame is larger than the
    /// connection's own outbound limit and could never be queued.
    Dropped,
    /// Not queued: the queue was full and the policy closed the connection (its close frame is
    /// queued). Write its output as usual; unregister it when it ends.
    Closed,
    /// Not queued: the connection is closing or closed, or the server has no connection for
    /// this handle.
    Gone,
    /// Not queued: the connection refused the frame for a reason that is the caller's mistake
    /// (a client connection cannot send a shared frame).
    Refused(SendError),
}

/// Where [`Hub::deliver_all`](super::Hub::deliver_all) finds the connection behind each
/// handle: the server's own table.
pub trait Connections {
    /// The connection registered under `handle`, if the server still has it.
    fn connection(&mut self, handle: Handle) -> Option<&mut Connection>;
}

impl Connections for BTreeMap<Handle, Connection> {
    fn connection(&mut self, handle: Handle) -> Option<&mut Connection> {
        self.get_mut(&handle)
    }
}

#[cfg(feature = "std")]
impl<S: core::hash::BuildHasher> Connections for std::collections::HashMap<Handle, Connection, S> {
    fn connection(&mut self, handle: Handle) -> Option<&mut Connection> {
        self.get_mut(&handle)
    }
}

/// What became of a fan-out, recipient by recipient, in its order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Each recipient and its delivery.
    pub outcomes: Vec<(Handle, Delivery)>,
}

impl Report {
    /// How many recipients had this outcome.
    pub fn count(&self, delivery: &Delivery) -> usize {
        self.outcomes.iter().filter(|(_, d)| d == delivery).count()
    }

    /// The recipients that had this outcome.
    pub fn handles<'a>(&'a self, delivery: &'a Delivery) -> impl Iterator<Item = Handle> + 'a {
        self.outcomes
            .iter()
            .filter(move |(_, d)| d == delivery)
            .map(|(handle, _)| *handle)
    }
}

/// Running totals of deliveries, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubStats {
    /// Fan-outs planned (publishes and client messages that were routed).
    pub published: u64,
    /// Frames queued on connections.
    pub queued: u64,
    /// Frames dropped because a queue was full or too small
    /// ([`Delivery::Dropped`]).
    pub dropped: u64,
    /// Connections closed as slow consumers ([`Delivery::Closed`]).
    pub closed: u64,
}

impl HubStats {
    pub(super) fn record(&mut self, delivery: &Delivery) {
        let counter = match delivery {
            Delivery::Queued => &mut self.queued,
            Delivery::Dropped => &mut self.dropped,
            Delivery::Closed => &mut self.closed,
            Delivery::Gone | Delivery::Refused(_) => return,
        };
        *counter = counter.saturating_add(1);
    }
}

/// Queues `frame` on `conn`, or applies the slow-consumer policy when the queue has no room:
/// the decision [`Hub::deliver`](super::Hub::deliver) makes, without the counting, for a
/// server whose connections live on other threads or tasks than its hub (each keeps a clone of
/// the config). Never blocks and never queues past the limits.
pub fn deliver(config: &HubConfig, frame: &SharedFrame, conn: &mut Connection) -> Delivery {
    if conn.role() != Role::Server {
        return Delivery::Refused(SendError::SharedFrameFromClient);
    }
    if !conn.is_open() {
        return Delivery::Gone;
    }
    let fits = conn
        .queued_bytes()
        .checked_add(frame.encoded_len())
        .is_some_and(|total| total <= config.max_queued_bytes);
    if fits {
        match conn.send_shared(frame) {
            Ok(()) => return Delivery::Queued,
            Err(SendError::OutboundFull { .. }) => {}
            Err(SendError::TooLarge { .. }) => return Delivery::Dropped,
            Err(SendError::Closed) => return Delivery::Gone,
            Err(e) => return Delivery::Refused(e),
        }
    }
    match &config.slow_consumer {
        SlowConsumerPolicy::DropMessage => Delivery::Dropped,
        SlowConsumerPolicy::Close { code, reason } => match conn.close(*code, reason) {
            Ok(()) => Delivery::Closed,
            // `Hub::new` checked the code; a hand-made config may not have been.
            Err(e) => Delivery::Refused(e),
        },
    }
}
