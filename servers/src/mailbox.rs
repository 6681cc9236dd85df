//! [`Mailbox`]: how the outbox reaches a connection that is written by a task or thread of
//! its own (std, tokio, smol). On tokio and smol a hub's frames for many connections go
//! through the runtime's [`Broadcast`](crate::broadcast::Broadcast) instead; each item here
//! is stamped from the same count, so that the writer can take both in the order given.
//!
//! A queue under a mutex, not a channel: on std a hub's publish pushes one item into
//! thousands of mailboxes, and the writer takes everything that waits in one look. A push
//! costs a lock, an append into reused room and, only when the writer is asleep, one
//! wake-up; a linked channel (futures' `mpsc`, as before) allocated a node per item and woke
//! the writer per item, which made up a fifth of a tokio hub's CPU.

use std::collections::VecDeque;
use std::mem;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use sockwright::frame::SharedFrame;
use sockwright::hub::{Delivery, HubConfig};
use sockwright_driver::Message;

use crate::outbox::{Peer, Refusal, Undelivered};

/// What a [`Mailbox`] holds for its connection's writer.
#[derive(Debug, PartialEq)]
pub(crate) enum Outgoing {
    /// A message of any kind, to send as [`Conn::send`](crate::Conn::send) would.
    Message(Message),
    /// A hub's frame, to hand to the connection with the hub's slow-consumer policy.
    Shared(SharedFrame, Arc<HubConfig>),
    /// Write what was queued in the connection directly (std: hub frames are queued by the
    /// publishing thread, written by the connection's writer thread).
    Flush,
}

impl Outgoing {
    /// What the item counts against the mailbox's limit.
    fn cost(&self) -> usize {
        match self {
            Outgoing::Message(message) => message.as_bytes().len(),
            Outgoing::Shared(frame, _) => frame.encoded_len(),
            Outgoing::Flush => 0,
        }
    }
}

/// A connection's queue of messages from the outbox. Bounded in bytes: at most `limit`
/// bytes of messages and frames wait (close frames are always taken). Dropping it ends the
/// writer's [`MailboxRx::poll_recv`] once what was queued is taken.
pub(crate) struct Mailbox {
    shared: Arc<Shared>,
    limit: usize,
}

/// The receiving end of a [`Mailbox`], owned by the connection's writer.
pub(crate) struct MailboxRx {
    shared: Arc<Shared>,
    /// What the last look took out of the shared queue, in order, with their stamps: the
    /// lock is taken once per batch, not once per item. Its room is swapped back and forth
    /// with the shared queue's, so a busy mailbox does not allocate.
    taken: VecDeque<(u64, Outgoing)>,
}

/// What [`MailboxRx::refill`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refill {
    /// Items were taken out of the shared queue.
    Taken,
    /// Nothing waits; the writer is woken by the next push.
    Empty,
    /// Nothing waits and nothing more will come: the [`Mailbox`] is gone.
    Ended,
}

struct Shared {
    state: Mutex<State>,
    /// Stamps each item as it is queued, from a counter that may be shared with other
    /// queues (a [`Broadcast`](crate::broadcast::Broadcast)'s), so that a writer taking from
    /// several can put them back in the order they were given.
    stamps: Arc<AtomicU64>,
    /// Bytes of the items pushed and not yet returned by [`MailboxRx::poll_recv`].
    queued: AtomicUsize,
    /// A [`Outgoing::Flush`] is waiting: another would add nothing.
    flush_pending: AtomicBool,
}

#[derive(Default)]
struct State {
    items: VecDeque<(u64, Outgoing)>,
    /// The writer, asleep in [`MailboxRx::poll_recv`] on an empty queue.
    waker: Option<Waker>,
    /// The [`Mailbox`] was dropped: nothing more will come.
    sender_gone: bool,
    /// The [`MailboxRx`] was dropped: nothing pushed would be taken.
    receiver_gone: bool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state whole; a panic elsewhere cannot tear it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Mailbox {
    /// A mailbox holding at most `limit` bytes of messages.
    pub(crate) fn new(limit: usize) -> (Mailbox, MailboxRx) {
        Mailbox::stamped_by(limit, Arc::default())
    }

    /// A mailbox holding at most `limit` bytes of messages, whose items take their stamps
    /// from `stamps`.
    pub(crate) fn stamped_by(limit: usize, stamps: Arc<AtomicU64>) -> (Mailbox, MailboxRx) {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            stamps,
            queued: AtomicUsize::new(0),
            flush_pending: AtomicBool::new(false),
        });
        let rx = MailboxRx {
            shared: shared.clone(),
            taken: VecDeque::new(),
        };
        (Mailbox { shared, limit }, rx)
    }

    /// Asks the writer to write what was queued in the connection (once, however often it
    /// is asked before it does).
    pub(crate) fn wake_writer(&self) {
        if !self.shared.flush_pending.swap(true, Ordering::AcqRel) {
            let _ = self.push(Outgoing::Flush);
        }
    }

    /// Queues `item` if it fits under the limit (a close always does), waking the writer if
    /// it sleeps.
    fn push(&self, item: Outgoing) -> Result<(), (Outgoing, Refusal)> {
        let cost = item.cost();
        let queued = &self.shared.queued;
        let before = queued.fetch_add(cost, Ordering::AcqRel);
        let always = matches!(item, Outgoing::Message(Message::Close(_)));
        if !always && before.saturating_add(cost) > self.limit {
            queued.fetch_sub(cost, Ordering::AcqRel);
            return Err((item, Refusal::Full));
        }
        let waker = {
            let mut state = self.shared.state();
            if state.receiver_gone {
                drop(state);
                queued.fetch_sub(cost, Ordering::AcqRel);
                return Err((item, Refusal::Gone));
            }
            // Stamped under the lock, so that the queue is in stamp order.
            let stamp = self.shared.stamps.fetch_add(1, Ordering::AcqRel);
            state.items.push_back((stamp, item));
            state.waker.take()
        };
        // Woken outside the lock: the writer's first act is to take it.
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// The hub's slow-consumer policy for a connection whose writer is so far behind that
    /// its mailbox is full: what the core does with a connection whose queue is full, with
    /// the policy's own code and reason.
    fn slow_consumer(&self, config: &HubConfig) -> Delivery {
        let Some(frame) = config.slow_consumer.close_frame() else {
            return Delivery::Dropped;
        };
        match self.push(Outgoing::Message(Message::Close(Some(frame)))) {
            Ok(()) => Delivery::Closed,
            Err(_) => Delivery::Gone,
        }
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.shared.state();
            state.sender_gone = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Peer for Mailbox {
    fn deliver(&self, message: Message) -> Result<(), Undelivered> {
        self.push(Outgoing::Message(message))
            .map_err(|(item, reason)| Undelivered {
                message: match item {
                    Outgoing::Message(message) => message,
                    // Unreachable: `push` gives back what it was given.
                    _ => Message::Close(None),
                },
                reason,
            })
    }

    fn deliver_shared(&self, frame: &SharedFrame, config: &Arc<HubConfig>) -> Delivery {
        match self.push(Outgoing::Shared(frame.clone(), config.clone())) {
            Ok(()) => Delivery::Queued,
            Err((_, Refusal::Full)) => self.slow_consumer(config),
            Err((_, Refusal::Gone)) => Delivery::Gone,
        }
    }
}

impl MailboxRx {
    /// The next item, or `None` once the [`Mailbox`] is dropped and everything it queued
    /// has been taken.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Outgoing>> {
        if self.taken.is_empty() {
            match self.refill(cx) {
                Refill::Taken => {}
                Refill::Empty => return Poll::Pending,
                Refill::Ended => return Poll::Ready(None),
            }
        }
        Poll::Ready(self.pop())
    }

    /// Takes what waits in the shared queue, in one look, behind what was taken before;
    /// with nothing there, leaves `cx`'s waker for the next push.
    pub(crate) fn refill(&mut self, cx: &mut Context<'_>) -> Refill {
        let mut state = self.shared.state();
        if state.items.is_empty() {
            if state.sender_gone {
                return Refill::Ended;
            }
            match &state.waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => state.waker = Some(cx.waker().clone()),
            }
            return Refill::Empty;
        }
        if self.taken.is_empty() {
            mem::swap(&mut self.taken, &mut state.items);
        } else {
            self.taken.append(&mut state.items);
        }
        Refill::Taken
    }

    /// The stamp of the next item taken, if any was.
    pub(crate) fn next_stamp(&self) -> Option<u64> {
        self.taken.front().map(|(stamp, _)| *stamp)
    }

    /// The next item taken, if any was; it no longer counts against the limit.
    pub(crate) fn pop(&mut self) -> Option<Outgoing> {
        let (_, item) = self.taken.pop_front()?;
        match &item {
            Outgoing::Flush => self.shared.flush_pending.store(false, Ordering::Release),
            item => {
                self.shared.queued.fetch_sub(item.cost(), Ordering::AcqRel);
            }
        }
        Some(item)
    }

    /// [`MailboxRx::poll_recv`], blocking the thread (for the std runner's writer thread).
    pub(crate) fn recv_blocking(&mut self) -> Option<Outgoing> {
        futures_lite::future::block_on(std::future::poll_fn(|cx| self.poll_recv(cx)))
    }
}

impl Drop for MailboxRx {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        state.receiver_gone = true;
        // What waits will never be written: free it now, not when the last sender goes.
        state.items = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockwright::frame::CloseCode;
    use sockwright::hub::SlowConsumerPolicy;

    #[test]
    fn mailbox_is_bounded_in_bytes_but_always_takes_a_close() {
        let (mailbox, mut rx) = Mailbox::new(10);
        assert!(mailbox.deliver(Message::Binary(vec![0; 6].into())).is_ok());
        let refused = mailbox.deliver(Message::Text("12345".into())).unwrap_err();
        assert_eq!(refused.reason, Refusal::Full);
        assert_eq!(refused.message, Message::Text("12345".into()));
        assert!(mailbox.deliver(Message::Close(None)).is_ok());
        assert_eq!(
            rx.recv_blocking(),
            Some(Outgoing::Message(Message::Binary(vec![0; 6].into())))
        );
        assert!(mailbox.deliver(Message::Text("12345".into())).is_ok());
        assert_eq!(
            rx.recv_blocking(),
            Some(Outgoing::Message(Message::Close(None)))
        );
        assert_eq!(
            rx.recv_blocking(),
            Some(Outgoing::Message(Message::Text("12345".into())))
        );
        drop(mailbox);
        assert_eq!(rx.recv_blocking(), None);
    }

    #[test]
    fn hub_frames_are_shared_bounded_and_get_the_policy_when_the_mailbox_is_full() {
        let frame = SharedFrame::binary(&[7; 2000]);
        let size = frame.encoded_len();
        let (mailbox, mut rx) = Mailbox::new(size);
        let close = Arc::new(HubConfig::default());
        assert_eq!(mailbox.deliver_shared(&frame, &close), Delivery::Queued);
        // Full: the default policy closes with 1013 and the policy's reason.
        assert_eq!(mailbox.deliver_shared(&frame, &close), Delivery::Closed);
        let mut dropping = HubConfig::default();
        dropping.slow_consumer = SlowConsumerPolicy::DropMessage;
        let dropping = Arc::new(dropping);
        assert_eq!(mailbox.deliver_shared(&frame, &dropping), Delivery::Dropped);
        match rx.recv_blocking() {
            Some(Outgoing::Shared(got, _)) => {
                assert_eq!(got.bytes().as_ptr(), frame.bytes().as_ptr(), "not copied");
            }
            other => panic!("{other:?}"),
        }
        match rx.recv_blocking() {
            Some(Outgoing::Message(Message::Close(Some(frame)))) => {
                assert_eq!(frame.code, CloseCode::TRY_AGAIN_LATER);
                assert_eq!(frame.reason, "slow consumer: outbound queue full");
            }
            other => panic!("{other:?}"),
        }
        // Taken out, the frame's bytes no longer count.
        assert_eq!(mailbox.deliver_shared(&frame, &dropping), Delivery::Queued);
        // Wakes for the writer are not repeated while one waits.
        mailbox.wake_writer();
        mailbox.wake_writer();
        assert!(matches!(rx.recv_blocking(), Some(Outgoing::Shared(..))));
        assert_eq!(rx.recv_blocking(), Some(Outgoing::Flush));
        mailbox.wake_writer();
        assert_eq!(rx.recv_blocking(), Some(Outgoing::Flush));
        drop(mailbox);
        assert_eq!(rx.recv_blocking(), None);
    }

    #[test]
    fn a_push_wakes_a_sleeping_writer_once_and_a_dropped_writer_refuses_pushes() {
        use std::sync::atomic::AtomicUsize;
        use std::task::Wake;

        struct CountingWaker(AtomicUsize);
        impl Wake for CountingWaker {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);

        let (mailbox, mut rx) = Mailbox::new(1 << 20);
        assert!(rx.poll_recv(&mut cx).is_pending());
        for i in 0..3 {
            assert!(mailbox.deliver(Message::Text(i.to_string())).is_ok());
        }
        // One wake-up for the three: the writer takes them all in one look.
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        for i in 0..3 {
            let expected = Outgoing::Message(Message::Text(i.to_string()));
            assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(expected)));
        }
        assert!(rx.poll_recv(&mut cx).is_pending());
        assert_eq!(mailbox.shared.queued.load(Ordering::SeqCst), 0);

        drop(rx);
        let refused = mailbox.deliver(Message::Text("late".into())).unwrap_err();
        assert_eq!(refused.reason, Refusal::Gone);
        assert_eq!(mailbox.shared.queued.load(Ordering::SeqCst), 0);
    }
}
