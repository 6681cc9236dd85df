//! The [`Outbox`]: every open connection of a server by [`ConnId`], reachable from any
//! thread, whatever runtime serves it. A hub fans out through it ([`Outbox::publish`]: one
//! encoded frame, shared by every recipient, with the hub's slow-consumer policy); shutdown
//! closes every connection through it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use sockwright::frame::{CloseCode, CloseFrame, SharedFrame};
use sockwright::hub::{Delivery, HubConfig};
use sockwright_driver::Message;

use crate::app::ConnId;
use crate::id_map::IdMap;

/// A message [`Outbox::send`] could not take, handed back with the reason.
#[derive(Debug)]
pub struct Undelivered {
    /// The message.
    pub message: Message,
    /// Why it was refused.
    pub reason: Refusal,
}

/// Why the outbox refused a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No open connection has this id (it never existed, or it has ended).
    Gone,
    /// The connection's queue of messages not yet written is at its limit (the
    /// connection's `max_outbound_bytes`): its peer is not reading fast enough. What to do
    /// about a slow consumer (drop the message, close the connection) is the caller's policy.
    Full,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::Gone => "no open connection has this id",
            Refusal::Full => "the connection's outbound queue is full",
        })
    }
}

/// How the outbox reaches one connection; each runner has its own.
pub(crate) trait Peer: Send + Sync {
    /// Queues `message` for the connection without blocking. Close frames are always taken.
    fn deliver(&self, message: Message) -> Result<(), Undelivered>;

    /// Hands a hub's frame to the connection without blocking, for the core's
    /// [`sockwright::hub::deliver`] to queue it or apply `config`'s slow-consumer policy
    /// there. The same frame (the same bytes) goes to every recipient.
    fn deliver_shared(&self, frame: &SharedFrame, config: &Arc<HubConfig>) -> Delivery;

    /// For a connection whose runner takes a hub frame for many connections in one
    /// hand-over (a mio loop, a task runtime's broadcast): that group, and the connection's
    /// number in it. `None`: hub frames go to this connection one by one, through
    /// [`Peer::deliver_shared`]. Asked once, when the connection is registered.
    fn fanout(&self) -> Option<(Arc<dyn Fanout>, u64)> {
        None
    }
}

/// Connections that take a hub's frame together: [`Outbox::publish`] hands the frame over
/// once for all of a group's recipients, not once per recipient.
pub(crate) trait Fanout: Send + Sync {
    /// Hands `frame` to each of `members` (numbers given by [`Peer::fanout`]), each to get
    /// the core's [`sockwright::hub::deliver`] with `config`. `false` if the group can take
    /// nothing any more (its runner has stopped).
    fn deliver_shared_to(
        &self,
        members: Vec<u64>,
        frame: &SharedFrame,
        config: &Arc<HubConfig>,
    ) -> bool;
}

/// A registered connection: its peer, and its group and number for hub frames, kept beside
/// it so that a publish reads them without reaching into each recipient's peer.
struct Registered {
    peer: Arc<dyn Peer>,
    fanout: Option<(Arc<dyn Fanout>, u64)>,
}

#[derive(Default)]
struct Registry {
    peers: IdMap<ConnId, Registered>,
    /// Connections registered and not yet [released](Outbox::release): they leave the
    /// map first, and count until their runner has finished with them.
    active: usize,
    /// Set by [`Outbox::close_all`]: connections that open afterwards are closed at once.
    closing: Option<CloseFrame>,
}

/// Every open connection of a server, by id. Sends are non-blocking from any thread: a
/// message is queued for its connection and written by the connection's runner, in order.
#[derive(Default)]
pub struct Outbox {
    registry: Mutex<Registry>,
    /// Signalled whenever a connection leaves.
    left: Condvar,
    next_id: AtomicU64,
}

impl Outbox {
    /// Queues `message` for connection `id`. `Ok` means the connection's runner took it;
    /// it is written unless the connection ends first (a later refusal goes to
    /// [`crate::App::on_undelivered`]).
    pub fn send(&self, id: ConnId, message: impl Into<Message>) -> Result<(), Undelivered> {
        let message = message.into();
        let peer = self.peer(id);
        match peer {
            Some(peer) => peer.deliver(message),
            None => Err(Undelivered {
                message,
                reason: Refusal::Gone,
            }),
        }
    }

    /// Hands a hub's frame (encoded once, see [`SharedFrame`]) to connection `id`, with the
    /// hub's slow-consumer policy; see [`Outbox::publish`].
    pub fn send_shared(
        &self,
        id: ConnId,
        frame: &SharedFrame,
        config: &Arc<HubConfig>,
    ) -> Delivery {
        let peer = self.peer(id);
        match peer {
            Some(peer) => peer.deliver_shared(frame, config),
            None => Delivery::Gone,
        }
    }

    /// Hands a hub's frame to each of `ids`, in order: the same encoded bytes for all of
    /// them, never blocking, so a slow recipient holds back no other. Each connection's
    /// runner gives the frame to the core's
    /// [`hub::deliver`](sockwright::hub::deliver), which queues it if the connection has
    /// room under `config.max_queued_bytes`, and otherwise applies `config.slow_consumer`
    /// (close with its code, by default 1013, or drop the frame for that connection).
    ///
    /// Returns each id's [`Delivery`] as far as it is known here: [`Delivery::Gone`] for an
    /// id with no open connection; [`Delivery::Queued`] when the connection's runner took
    /// the frame (on std the core's verdict itself; on mio, tokio and smol the frame is
    /// handed over and the verdict is the connection's own: a moment later, or at once on
    /// tokio and smol when the connection already owes its runtime's log its whole bound,
    /// which applies the policy without reporting it here).
    pub fn publish(
        &self,
        ids: impl IntoIterator<Item = ConnId>,
        frame: &SharedFrame,
        config: &Arc<HubConfig>,
    ) -> Vec<(ConnId, Delivery)> {
        let mut deliveries = Vec::new();
        self.hand_over(ids, frame, config, Some(&mut deliveries));
        deliveries
    }

    /// The peer registered as `id`, taken out of the lock.
    fn peer(&self, id: ConnId) -> Option<Arc<dyn Peer>> {
        self.registry()
            .peers
            .get(&id)
            .map(|known| known.peer.clone())
    }

    /// [`Outbox::publish`] without the verdicts, for a caller that does not read them (a
    /// hub relaying a member's message): it spares a publish to many connections a result
    /// as long as its recipients.
    pub fn fan_out(
        &self,
        ids: impl IntoIterator<Item = ConnId>,
        frame: &SharedFrame,
        config: &Arc<HubConfig>,
    ) {
        self.hand_over(ids, frame, config, None);
    }

    /// Hands `frame` to `ids`: once per [`Fanout`] group, once per other peer. With
    /// `report`, each id's verdict in order.
    fn hand_over(
        &self,
        ids: impl IntoIterator<Item = ConnId>,
        frame: &SharedFrame,
        config: &Arc<HubConfig>,
        mut report: Option<&mut Vec<(ConnId, Delivery)>>,
    ) {
        let mut groups: Vec<GroupDelivery> = Vec::new();
        let mut singles: Vec<(usize, Arc<dyn Peer>)> = Vec::new();
        // One lock for the lookups; the deliveries run outside it.
        {
            let registry = self.registry();
            for (index, id) in ids.into_iter().enumerate() {
                let known = registry.peers.get(&id);
                if let Some(report) = report.as_deref_mut() {
                    let delivery = match known {
                        Some(_) => Delivery::Queued,
                        None => Delivery::Gone,
                    };
                    report.push((id, delivery));
                }
                let Some(known) = known else {
                    continue;
                };
                let Some((group, member)) = &known.fanout else {
                    singles.push((index, known.peer.clone()));
                    continue;
                };
                // A server has a group per loop or runtime, so a few at most: a scan beats
                // a map.
                let same = |known: &GroupDelivery| Arc::ptr_eq(&known.group, group);
                let place = groups.iter().position(same).unwrap_or_else(|| {
                    groups.push(GroupDelivery {
                        group: group.clone(),
                        members: Vec::new(),
                        places: Vec::new(),
                    });
                    groups.len() - 1
                });
                let delivery = &mut groups[place];
                delivery.members.push(*member);
                if report.is_some() {
                    delivery.places.push(index);
                }
            }
        }
        for group in groups {
            let taken = group.group.deliver_shared_to(group.members, frame, config);
            if let (false, Some(report)) = (taken, report.as_deref_mut()) {
                for index in group.places {
                    report[index].1 = Delivery::Gone;
                }
            }
        }
        for (index, peer) in singles {
            let delivery = peer.deliver_shared(frame, config);
            if let Some(report) = report.as_deref_mut() {
                report[index].1 = delivery;
            }
        }
    }

    /// Starts the close handshake of connection `id` with `code` and `reason`; `false` if
    /// no open connection has this id.
    pub fn close(&self, id: ConnId, code: CloseCode, reason: &str) -> bool {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        self.send(id, Message::Close(Some(frame))).is_ok()
    }

    /// The ids of the open connections, in no particular order.
    pub fn ids(&self) -> Vec<ConnId> {
        self.registry().peers.keys().copied().collect()
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.registry().peers.len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A new id for a connection about to be registered.
    pub(crate) fn next_id(&self) -> ConnId {
        ConnId(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Adds an open connection. After [`Outbox::close_all`] it is closed at once.
    pub(crate) fn register(&self, id: ConnId, peer: Arc<dyn Peer>) {
        let closing = {
            let mut registry = self.registry();
            let fanout = peer.fanout();
            let known = Registered {
                peer: peer.clone(),
                fanout,
            };
            registry.peers.insert(id, known);
            registry.active += 1;
            registry.closing.clone()
        };
        if let Some(frame) = closing {
            let _ = peer.deliver(Message::Close(Some(frame)));
        }
    }

    /// Removes a connection that has ended: sends to it are refused from now on.
    pub(crate) fn unregister(&self, id: ConnId) {
        self.registry().peers.remove(&id);
    }

    /// Notes that the runner has finished with a connection it unregistered (its close is
    /// logged and reported): [`Outbox::wait_empty`] no longer waits for it.
    pub(crate) fn release(&self) {
        let mut registry = self.registry();
        registry.active = registry.active.saturating_sub(1);
        self.left.notify_all();
    }

    /// Closes every open connection, and every one that opens from now on, with `code` and
    /// `reason`; returns how many were open.
    pub(crate) fn close_all(&self, code: CloseCode, reason: &str) -> usize {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let peers: Vec<Arc<dyn Peer>> = {
            let mut registry = self.registry();
            registry.closing = Some(frame.clone());
            registry
                .peers
                .values()
                .map(|known| known.peer.clone())
                .collect()
        };
        for peer in &peers {
            let _ = peer.deliver(Message::Close(Some(frame.clone())));
        }
        peers.len()
    }

    /// Waits until every connection has been released or `deadline` passes; returns how
    /// many are left.
    pub(crate) fn wait_empty(&self, deadline: Instant) -> usize {
        let mut registry = self.registry();
        loop {
            let left = registry.active;
            let now = Instant::now();
            if left == 0 || now >= deadline {
                return left;
            }
            registry = self
                .left
                .wait_timeout(registry, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // The registry is consistent between calls; a panic elsewhere leaves it usable.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One [`Fanout`] group's share of a publish.
struct GroupDelivery {
    /// The group, to reach once the registry's lock is released.
    group: Arc<dyn Fanout>,
    /// The recipients' numbers in the group.
    members: Vec<u64>,
    /// Their places in the publish's result, when it has one.
    places: Vec<usize>,
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("open", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::{Mailbox, Outgoing};
    use std::time::Duration;

    #[test]
    fn outbox_sends_by_id_refuses_unknown_ids_and_closes_late_comers() {
        let outbox = Outbox::default();
        let (a, mut a_rx) = Mailbox::new(1 << 20);
        let id = outbox.next_id();
        outbox.register(id, Arc::new(a));
        assert!(outbox.send(id, "hi").is_ok());
        assert_eq!(
            a_rx.recv_blocking(),
            Some(Outgoing::Message(Message::Text("hi".into())))
        );
        let gone = outbox.send(ConnId(999), "x").unwrap_err();
        assert_eq!(gone.reason, Refusal::Gone);

        assert_eq!(outbox.close_all(CloseCode::GOING_AWAY, "bye"), 1);
        let late = outbox.next_id();
        let (b, mut b_rx) = Mailbox::new(1 << 20);
        outbox.register(late, Arc::new(b));
        let close = Some(Outgoing::Message(Message::Close(Some(CloseFrame {
            code: CloseCode::GOING_AWAY,
            reason: "bye".into(),
        }))));
        assert_eq!(a_rx.recv_blocking(), close);
        assert_eq!(b_rx.recv_blocking(), close);

        outbox.unregister(id);
        outbox.unregister(late);
        assert!(outbox.is_empty());
        assert_eq!(outbox.wait_empty(Instant::now()), 2);
        outbox.release();
        outbox.release();
        let deadline = Instant::now() + Duration::from_secs(1);
        assert_eq!(outbox.wait_empty(deadline), 0);
    }
}
