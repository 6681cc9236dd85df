//! The [`Outbox`]: every open connection of a server by [`ConnId`], reachable from any
//! thread, whatever runtime serves it. A hub fans out through it; shutdown closes every
//! connection through it.

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use futures_channel::mpsc;
use futures_core::Stream;
use sockwright::frame::{CloseCode, CloseFrame};
use sockwright_driver::Message;

use crate::app::ConnId;

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
}

#[derive(Default)]
struct Registry {
    peers: HashMap<ConnId, Arc<dyn Peer>>,
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
        let peer = self.registry().peers.get(&id).cloned();
        match peer {
            Some(peer) => peer.deliver(message),
            None => Err(Undelivered {
                message,
                reason: Refusal::Gone,
            }),
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
            registry.peers.insert(id, peer.clone());
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
            registry.peers.values().cloned().collect()
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

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("open", &self.len())
            .finish_non_exhaustive()
    }
}

/// A connection's queue of messages from the outbox, for the runners that write them from
/// a task or thread of their own (std, tokio, smol). Bounded in bytes: at most `limit`
/// bytes of messages wait (close frames are always taken).
pub(crate) struct Mailbox {
    tx: mpsc::UnboundedSender<Message>,
    queued: Arc<AtomicUsize>,
    limit: usize,
}

/// The receiving end of a [`Mailbox`], owned by the connection's writer.
pub(crate) struct MailboxRx {
    rx: mpsc::UnboundedReceiver<Message>,
    queued: Arc<AtomicUsize>,
}

impl Mailbox {
    /// A mailbox holding at most `limit` bytes of messages.
    pub(crate) fn new(limit: usize) -> (Mailbox, MailboxRx) {
        let (tx, rx) = mpsc::unbounded();
        let queued = Arc::new(AtomicUsize::new(0));
        let mailbox = Mailbox {
            tx,
            queued: queued.clone(),
            limit,
        };
        (mailbox, MailboxRx { rx, queued })
    }
}

impl Peer for Mailbox {
    fn deliver(&self, message: Message) -> Result<(), Undelivered> {
        let len = message.as_bytes().len();
        if !matches!(message, Message::Close(_)) {
            let before = self.queued.fetch_add(len, Ordering::AcqRel);
            if before.saturating_add(len) > self.limit {
                self.queued.fetch_sub(len, Ordering::AcqRel);
                return Err(Undelivered {
                    message,
                    reason: Refusal::Full,
                });
            }
        } else {
            self.queued.fetch_add(len, Ordering::AcqRel);
        }
        self.tx.unbounded_send(message).map_err(|e| Undelivered {
            message: e.into_inner(),
            reason: Refusal::Gone,
        })
    }
}

impl MailboxRx {
    /// The next message, or `None` once the connection has left the outbox.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        let polled = Pin::new(&mut self.rx).poll_next(cx);
        if let Poll::Ready(Some(message)) = &polled {
            self.queued
                .fetch_sub(message.as_bytes().len(), Ordering::AcqRel);
        }
        polled
    }

    /// [`MailboxRx::poll_recv`], blocking the thread (for the std runner's writer thread).
    pub(crate) fn recv_blocking(&mut self) -> Option<Message> {
        futures_lite::future::block_on(std::future::poll_fn(|cx| self.poll_recv(cx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn mailbox_is_bounded_in_bytes_but_always_takes_a_close() {
        let (mailbox, mut rx) = Mailbox::new(10);
        assert!(mailbox.deliver(Message::Binary(vec![0; 6].into())).is_ok());
        let refused = mailbox.deliver(Message::Text("12345".into())).unwrap_err();
        assert_eq!(refused.reason, Refusal::Full);
        assert_eq!(refused.message, Message::Text("12345".into()));
        assert!(mailbox.deliver(Message::Close(None)).is_ok());
        assert_eq!(rx.recv_blocking(), Some(Message::Binary(vec![0; 6].into())));
        assert!(mailbox.deliver(Message::Text("12345".into())).is_ok());
        assert_eq!(rx.recv_blocking(), Some(Message::Close(None)));
        assert_eq!(rx.recv_blocking(), Some(Message::Text("12345".into())));
        drop(mailbox);
        assert_eq!(rx.recv_blocking(), None);
    }

    #[test]
    fn outbox_sends_by_id_refuses_unknown_ids_and_closes_late_comers() {
        let outbox = Outbox::default();
        let (a, mut a_rx) = Mailbox::new(1 << 20);
        let id = outbox.next_id();
        outbox.register(id, Arc::new(a));
        assert!(outbox.send(id, "hi").is_ok());
        assert_eq!(a_rx.recv_blocking(), Some(Message::Text("hi".into())));
        let gone = outbox.send(ConnId(999), "x").unwrap_err();
        assert_eq!(gone.reason, Refusal::Gone);

        assert_eq!(outbox.close_all(CloseCode::GOING_AWAY, "bye"), 1);
        let late = outbox.next_id();
        let (b, mut b_rx) = Mailbox::new(1 << 20);
        outbox.register(late, Arc::new(b));
        let close = Some(Message::Close(Some(CloseFrame {
            code: CloseCode::GOING_AWAY,
            reason: "bye".into(),
        })));
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
