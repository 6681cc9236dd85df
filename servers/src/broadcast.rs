//! [`Broadcast`]: how a hub's frame reaches the connections of a task runtime (tokio, smol)
//! in one hand-over, and [`Inbox`]: what a connection's writer takes, from its mailbox and
//! from the broadcast, in the order it was given.
//!
//! With a mailbox per recipient, a publish to 10,000 connections touched 10,000 queues,
//! locks and counters spread over the heap: a cache miss or more per recipient, a fifth of
//! a tokio hub's CPU. Here a publish appends the frame once to a log that every connection
//! of the runtime reads, with a mark per recipient; it touches a recipient only in a table
//! of small slots held together, and to wake its writer if that sleeps. A writer takes the
//! frames marked for it and clears its marks; a frame is freed when the last recipient has
//! taken it. Frames whose turn it is (no mail given before them) go to the writer's
//! connection in place, under the lock, so that a recipient adds no reference count to the
//! shared frame and its config: at 10,000 recipients those atomic counts were a sixth of a
//! writer's own time.
//!
//! Bounds, the same as a mailbox's:
//! - a member owes at most `limit` bytes (its connection's `max_outbound_bytes`): a frame
//!   past that gets the hub's slow-consumer policy for that member at once, as a full
//!   mailbox did (close with 1013 by default, or skip the frame);
//! - the log keeps at most [`MAX_ENTRIES`] frames: a member that has not taken the oldest
//!   by then gets the policy too, so that one stuck reader under its byte bound cannot make
//!   the log grow without end.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use sockwright::frame::{CloseFrame, SharedFrame};
use sockwright::hub::{Delivery, HubConfig};
use sockwright_driver::Message;

use crate::mailbox::{Mailbox, MailboxRx, Outgoing, Refill};
use crate::outbox::{Fanout, Peer, Undelivered};

/// The most frames the log keeps. A member that still has not taken the oldest when one
/// more comes is a slow consumer: at 16 publishes in flight, a writer would have to sleep
/// through 256 rounds.
pub(crate) const MAX_ENTRIES: usize = 4096;

/// The hub frames of one runtime's connections (see the [module docs](self)).
pub(crate) struct Broadcast {
    log: Mutex<Log>,
    /// Stamps the log's frames and its members' mailbox items from one count.
    stamps: Arc<AtomicU64>,
    /// Bumped (under the lock) by every publish: a writer that saw the same value at its
    /// last look, and left its waker then, has nothing new and need not take the lock, which
    /// every connection of the runtime shares (an echo server's tasks look once per message).
    changes: AtomicU64,
    /// The most bytes a member may owe.
    limit: usize,
}

#[derive(Default)]
struct Log {
    /// In stamp order.
    entries: VecDeque<Entry>,
    /// By member index.
    slots: Vec<Slot>,
    /// Indices of slots no member holds.
    free: Vec<u32>,
}

struct Entry {
    stamp: u64,
    /// `None` once every recipient has taken it (it waits only to leave the front).
    frame: Option<(SharedFrame, Arc<HubConfig>)>,
    /// The members that have not taken it.
    waiting: Recipients,
    remaining: usize,
}

/// A member's place in the log.
#[derive(Default)]
struct Slot {
    /// Bumped when the slot is freed, so that an id of its former member matches nothing.
    generation: u32,
    in_use: bool,
    /// Bytes of frames marked for it and not taken.
    owed: usize,
    /// The first stamp it has not looked at.
    cursor: u64,
    /// Its writer, asleep.
    waker: Option<Waker>,
    /// The policy closed it: the close frame its writer queues next, with its stamp.
    close: Option<Box<(u64, CloseFrame)>>,
    /// The policy closed it: nothing more is marked for it.
    closed: bool,
}

impl Broadcast {
    /// An empty log whose members may each owe `limit` bytes.
    pub(crate) fn new(limit: usize) -> Broadcast {
        Broadcast {
            log: Mutex::default(),
            stamps: Arc::default(),
            changes: AtomicU64::new(0),
            limit,
        }
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        // Every critical section leaves the log whole; a panic elsewhere cannot tear it.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new connection: the peer the outbox reaches it by (its mailbox, holding at most
    /// `mailbox_limit` bytes, and this log), and what its writer takes from.
    pub(crate) fn join(self: &Arc<Self>, mailbox_limit: usize) -> (Arc<dyn Peer>, Inbox) {
        let (mailbox, mail) = Mailbox::stamped_by(mailbox_limit, self.stamps.clone());
        let (index, generation) = {
            let mut log = self.log();
            let index = match log.free.pop() {
                Some(index) => index as usize,
                None => {
                    log.slots.push(Slot::default());
                    log.slots.len() - 1
                }
            };
            let slot = &mut log.slots[index];
            slot.in_use = true;
            // Under the lock: every frame appended from now on has a later stamp.
            slot.cursor = self.stamps.load(Ordering::Acquire);
            (index, slot.generation)
        };
        let member = Member {
            cast: self.clone(),
            index,
            seen: 0,
            registered: None,
        };
        let peer = CastPeer {
            mailbox,
            cast: self.clone(),
            id: (u64::from(generation) << 32) | index as u64,
        };
        let inbox = Inbox {
            mail,
            member,
            cast: VecDeque::new(),
            frontier: 0,
        };
        (Arc::new(peer), inbox)
    }
}

impl Fanout for Broadcast {
    fn deliver_shared_to(
        &self,
        members: Vec<u64>,
        frame: &SharedFrame,
        config: &Arc<HubConfig>,
    ) -> bool {
        let len = frame.encoded_len();
        let mut wake = Vec::new();
        {
            let mut log = self.log();
            let log = &mut *log;
            let stamp = self.stamps.fetch_add(1, Ordering::AcqRel);
            let mut waiting = Recipients::for_members(members.len(), log.slots.len());
            for id in members {
                let (index, generation) = ((id & 0xFFFF_FFFF) as usize, (id >> 32) as u32);
                let Some(slot) = log.slots.get_mut(index) else {
                    continue;
                };
                if !slot.in_use || slot.generation != generation || slot.closed {
                    continue; // gone, or being closed
                }
                if slot.owed.saturating_add(len) > self.limit {
                    slow_consumer(slot, config, &self.stamps, &mut wake);
                    continue;
                }
                slot.owed += len;
                waiting.add(index);
                if let Some(waker) = slot.waker.take() {
                    wake.push(waker);
                }
            }
            if waiting.len() > 0 {
                log.entries.push_back(Entry {
                    stamp,
                    frame: Some((frame.clone(), config.clone())),
                    remaining: waiting.len(),
                    waiting,
                });
            }
            if log.entries.len() > MAX_ENTRIES {
                log.evict_front(&self.stamps, &mut wake);
            }
            log.pop_finished();
            self.changes.fetch_add(1, Ordering::AcqRel);
        }
        // Woken outside the lock: a writer's first act is to take it.
        for waker in wake {
            waker.wake();
        }
        true
    }
}

/// Applies `config`'s slow-consumer policy to a member that cannot take a frame: it is
/// skipped (drop), or closed after what it already owes (close).
fn slow_consumer(slot: &mut Slot, config: &HubConfig, stamps: &AtomicU64, wake: &mut Vec<Waker>) {
    let Some(frame) = config.slow_consumer.close_frame() else {
        return;
    };
    slot.closed = true;
    slot.close = Some(Box::new((stamps.fetch_add(1, Ordering::AcqRel), frame)));
    if let Some(waker) = slot.waker.take() {
        wake.push(waker);
    }
}

impl Log {
    /// The oldest frame leaves although some members have not taken it: each of them gets
    /// the frame's slow-consumer policy.
    fn evict_front(&mut self, stamps: &AtomicU64, wake: &mut Vec<Waker>) {
        let Some(entry) = self.entries.pop_front() else {
            return;
        };
        let Some((frame, config)) = entry.frame else {
            return;
        };
        for index in entry.waiting.iter() {
            let Some(slot) = self.slots.get_mut(index) else {
                continue;
            };
            slot.owed = slot.owed.saturating_sub(frame.encoded_len());
            if !slot.closed {
                slow_consumer(slot, &config, stamps, wake);
            }
        }
    }

    /// Frees the frames at the front that every recipient has taken.
    fn pop_finished(&mut self) {
        while self
            .entries
            .front()
            .is_some_and(|entry| entry.remaining == 0)
        {
            self.entries.pop_front();
        }
    }
}

impl Entry {
    /// Takes `index`'s mark off and hands the frame to `deliver` by reference: its encoded
    /// length, if it was marked for `index`.
    fn give(&mut self, index: usize, deliver: &mut DeliverFrame<'_>) -> Option<usize> {
        let last = self.unmark(index)?;
        let len = self.frame.as_ref().map(|(frame, config)| {
            deliver(frame, config);
            frame.encoded_len()
        });
        if last {
            self.frame = None;
        }
        len
    }

    /// Takes `index`'s mark off: the frame, if it was marked for `index`. The last
    /// recipient takes the frame itself, not a clone.
    fn take(&mut self, index: usize) -> Option<(SharedFrame, Arc<HubConfig>)> {
        if self.unmark(index)? {
            return self.frame.take();
        }
        self.frame.clone()
    }

    /// Takes `index`'s mark off, if it has one: whether it was the last.
    fn unmark(&mut self, index: usize) -> Option<bool> {
        if !self.waiting.remove(index) {
            return None;
        }
        self.remaining -= 1;
        if self.remaining > 0 {
            return Some(false);
        }
        self.waiting = Recipients::None;
        Some(true)
    }
}

/// Where a writer's hub frames go when they may go out at once: its connection's
/// [`sockwright::hub::deliver`], with the frame's config.
pub(crate) type DeliverFrame<'d> = dyn FnMut(&SharedFrame, &Arc<HubConfig>) + 'd;

/// Frames a look may hand over in place rather than queue: those stamped below `below`
/// (nothing given before them can still turn up, and no mail comes first).
struct InPlace<'a, 'd> {
    below: u64,
    deliver: &'a mut DeliverFrame<'d>,
}

/// A connection's place in a [`Broadcast`], held by its writer; leaving frees it.
pub(crate) struct Member {
    cast: Arc<Broadcast>,
    index: usize,
    /// [`Broadcast::changes`] at its last look.
    seen: u64,
    /// The waker it left in its slot at its last look, if it found nothing then.
    registered: Option<Waker>,
}

impl Member {
    /// Moves the frames marked for this member into `out` (with their stamps, in order),
    /// then the policy's close if it was closed; with nothing to take, leaves `cx`'s waker
    /// for the next frame. Whether anything was taken.
    ///
    /// With `in_place` and `out` empty, the frames before any that must wait are handed to
    /// its `deliver` under the lock instead: no clone of the frame and its config per
    /// recipient, which a publish to thousands pays in reference counts.
    fn take(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut VecDeque<(u64, Outgoing)>,
        mut in_place: Option<InPlace<'_, '_>>,
    ) -> bool {
        // Nothing published since a look that left this waker: it is still in the slot (a
        // publish takes it and bumps the count under the lock, then wakes it).
        let unchanged = self.cast.changes.load(Ordering::Acquire) == self.seen;
        let same_waker = |waker: &Waker| waker.will_wake(cx.waker());
        if unchanged && self.registered.as_ref().is_some_and(same_waker) {
            return false;
        }
        let mut log = self.cast.log();
        self.seen = self.cast.changes.load(Ordering::Acquire);
        let Log { entries, slots, .. } = &mut *log;
        let Some(slot) = slots.get_mut(self.index) else {
            return false; // unreachable: a member's slot outlives it
        };
        let start = entries.partition_point(|entry| entry.stamp < slot.cursor);
        let mut taken = false;
        for entry in entries.range_mut(start..) {
            let now = in_place
                .as_mut()
                .filter(|in_place| entry.stamp < in_place.below && out.is_empty());
            if let Some(in_place) = now {
                if let Some(len) = entry.give(self.index, in_place.deliver) {
                    slot.owed = slot.owed.saturating_sub(len);
                    taken = true;
                }
            } else if let Some((frame, config)) = entry.take(self.index) {
                slot.owed = slot.owed.saturating_sub(frame.encoded_len());
                out.push_back((entry.stamp, Outgoing::Shared(frame, config)));
                taken = true;
            }
        }
        if let Some(last) = entries.back() {
            slot.cursor = slot.cursor.max(last.stamp + 1);
        }
        if let Some(close) = slot.close.take() {
            let (stamp, frame) = *close;
            out.push_back((stamp, Outgoing::Message(Message::Close(Some(frame)))));
            taken = true;
        }
        if taken {
            self.registered = None;
        } else {
            if !slot.waker.as_ref().is_some_and(same_waker) {
                slot.waker = Some(cx.waker().clone());
            }
            if !self.registered.as_ref().is_some_and(same_waker) {
                self.registered = slot.waker.clone();
            }
        }
        log.pop_finished();
        taken
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let mut log = self.cast.log();
        let log = &mut *log;
        for entry in log.entries.iter_mut() {
            // Its marks come off without a clone of the frame; the last one frees it.
            if entry.unmark(self.index) == Some(true) {
                entry.frame = None;
            }
        }
        log.pop_finished();
        if let Some(slot) = log.slots.get_mut(self.index) {
            let generation = slot.generation.wrapping_add(1);
            *slot = Slot {
                generation,
                ..Slot::default()
            };
            log.free.push(self.index as u32);
        }
    }
}

/// How the outbox reaches a connection of a task runtime: messages through its mailbox,
/// a hub's frames through the runtime's [`Broadcast`] when many take them at once.
struct CastPeer {
    mailbox: Mailbox,
    cast: Arc<Broadcast>,
    /// Index and generation of its slot.
    id: u64,
}

impl Peer for CastPeer {
    fn deliver(&self, message: Message) -> Result<(), Undelivered> {
        self.mailbox.deliver(message)
    }

    fn deliver_shared(&self, frame: &SharedFrame, config: &Arc<HubConfig>) -> Delivery {
        self.mailbox.deliver_shared(frame, config)
    }

    fn fanout(&self) -> Option<(Arc<dyn Fanout>, u64)> {
        Some((self.cast.clone(), self.id))
    }
}

/// What a connection's writer takes: its mailbox and its frames in the [`Broadcast`], put
/// back in the order they were given (by their stamps).
pub(crate) struct Inbox {
    mail: MailboxRx,
    member: Member,
    /// Frames (and a policy's close) taken from the broadcast, in stamp order.
    cast: VecDeque<(u64, Outgoing)>,
    /// Everything stamped below this had been queued when both were last looked at: an item
    /// below it may go out, as nothing given before it can still turn up.
    frontier: u64,
}

impl Inbox {
    /// The next item, or `None` once the mailbox is dropped (the connection left the
    /// outbox) and everything it queued has been taken.
    #[cfg(test)] // the connection loop takes its frames in place
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Outgoing>> {
        self.poll(cx, None)
    }

    /// [`Inbox::poll_recv`], except that hub frames whose turn it is go to `deliver` in
    /// place, by reference, rather than being returned: what comes back is what is left
    /// (mail, a policy's close, frames behind mail). The order is the same.
    pub(crate) fn poll_recv_delivering(
        &mut self,
        cx: &mut Context<'_>,
        deliver: &mut DeliverFrame<'_>,
    ) -> Poll<Option<Outgoing>> {
        self.poll(cx, Some(deliver))
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        mut deliver: Option<&mut DeliverFrame<'_>>,
    ) -> Poll<Option<Outgoing>> {
        loop {
            if let Some(item) = self.pop_in_order() {
                return Poll::Ready(Some(item));
            }
            // Read before looking: whatever was stamped below it is in one queue or the
            // other by the time its lock is ours.
            let frontier = self.member.cast.stamps.load(Ordering::Acquire);
            let mail = self.mail.refill(cx);
            // In place only ahead of the first mail item in its turn.
            let below = self.mail.next_stamp().map_or(frontier, |s| s.min(frontier));
            let in_place = deliver
                .as_deref_mut()
                .map(|deliver| InPlace { below, deliver });
            let cast = self.member.take(cx, &mut self.cast, in_place);
            self.frontier = frontier;
            if let Some(item) = self.pop_in_order() {
                return Poll::Ready(Some(item));
            }
            // What this look took was stamped after `frontier`: look again, with a later
            // one. Otherwise nothing waits above the frontier either.
            if mail == Refill::Taken || cast {
                continue;
            }
            if mail == Refill::Ended {
                return Poll::Ready(None);
            }
            return Poll::Pending;
        }
    }

    /// The item with the lowest stamp, if it is below the frontier.
    fn pop_in_order(&mut self) -> Option<Outgoing> {
        let mail = self.mail.next_stamp().filter(|&s| s < self.frontier);
        let cast = self
            .cast
            .front()
            .map(|(s, _)| *s)
            .filter(|&s| s < self.frontier);
        match (mail, cast) {
            (Some(m), Some(c)) if c < m => self.cast.pop_front().map(|(_, item)| item),
            (Some(_), _) => self.mail.pop(),
            (None, Some(_)) => self.cast.pop_front().map(|(_, item)| item),
            (None, None) => None,
        }
    }
}

/// The members an entry waits for: a bit per slot when most slots are members, a sorted
/// list when few are (a topic's few among many connections).
enum Recipients {
    None,
    Bits { words: Vec<u64>, count: usize },
    List(Vec<u32>),
}

impl Recipients {
    /// Room for `members` of `slots` slots, in the smaller form.
    fn for_members(members: usize, slots: usize) -> Recipients {
        let words = slots.div_ceil(64);
        if members.saturating_mul(2) < words {
            Recipients::List(Vec::with_capacity(members))
        } else {
            Recipients::Bits {
                words: vec![0; words],
                count: 0,
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Recipients::None => 0,
            Recipients::Bits { count, .. } => *count,
            Recipients::List(list) => list.len(),
        }
    }

    /// Adds `index` (each at most once: the hub's recipients are distinct).
    fn add(&mut self, index: usize) {
        match self {
            Recipients::None => {}
            Recipients::Bits { words, count } => {
                if let Some(word) = words.get_mut(index / 64) {
                    let bit = 1u64 << (index % 64);
                    if *word & bit == 0 {
                        *word |= bit;
                        *count += 1;
                    }
                }
            }
            Recipients::List(list) => {
                if let Err(at) = list.binary_search(&(index as u32)) {
                    list.insert(at, index as u32);
                }
            }
        }
    }

    /// Removes `index`: whether it was there.
    fn remove(&mut self, index: usize) -> bool {
        match self {
            Recipients::None => false,
            Recipients::Bits { words, count } => {
                let bit = 1u64 << (index % 64);
                match words.get_mut(index / 64) {
                    Some(word) if *word & bit != 0 => {
                        *word &= !bit;
                        *count -= 1;
                        true
                    }
                    _ => false,
                }
            }
            Recipients::List(list) => match list.binary_search(&(index as u32)) {
                Ok(at) => {
                    list.remove(at);
                    true
                }
                Err(_) => false,
            },
        }
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let bits = match self {
            Recipients::Bits { words, .. } => &words[..],
            _ => &[],
        };
        let list = match self {
            Recipients::List(list) => &list[..],
            _ => &[],
        };
        let from_bits = bits.iter().enumerate().flat_map(|(w, &word)| {
            (0..64)
                .filter(move |bit| word & (1 << bit) != 0)
                .map(move |bit| w * 64 + bit)
        });
        from_bits.chain(list.iter().map(|&index| index as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockwright::frame::CloseCode;
    use sockwright::hub::SlowConsumerPolicy;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A writer: its inbox, the outbox's peer for it, and a waker that counts.
    struct Writer {
        peer: Arc<dyn Peer>,
        inbox: Inbox,
        woken: Arc<CountingWaker>,
        /// Takes its frames in place, as the connection loop does (a clone of each is kept
        /// in `given`, in the order given), or as returned items.
        in_place: bool,
        given: Vec<Outgoing>,
    }

    impl Writer {
        fn join(cast: &Arc<Broadcast>) -> Writer {
            Writer::join_taking(cast, true)
        }

        fn join_taking(cast: &Arc<Broadcast>, in_place: bool) -> Writer {
            let (peer, inbox) = cast.join(1 << 20);
            Writer {
                peer,
                inbox,
                woken: Arc::new(CountingWaker(AtomicUsize::new(0))),
                in_place,
                given: Vec::new(),
            }
        }

        fn id(&self) -> u64 {
            self.peer.fanout().map(|(_, id)| id).unwrap()
        }

        /// The next item returned; frames taken in place go to `given` first.
        fn poll(&mut self) -> Poll<Option<Outgoing>> {
            let waker = Waker::from(self.woken.clone());
            let mut cx = Context::from_waker(&waker);
            if !self.in_place {
                return self.inbox.poll_recv(&mut cx);
            }
            let given = &mut self.given;
            let mut deliver = |frame: &SharedFrame, config: &Arc<HubConfig>| {
                given.push(Outgoing::Shared(frame.clone(), config.clone()));
            };
            self.inbox.poll_recv_delivering(&mut cx, &mut deliver)
        }

        /// Everything there is to take now, in order, however it was taken.
        fn drain(&mut self) -> Vec<Outgoing> {
            let mut items = Vec::new();
            loop {
                let next = self.poll();
                items.append(&mut self.given);
                let Poll::Ready(Some(item)) = next else {
                    return items;
                };
                items.push(item);
            }
        }

        fn woken(&self) -> usize {
            self.woken.0.load(Ordering::SeqCst)
        }
    }

    fn publish(cast: &Broadcast, to: &[&Writer], frame: &SharedFrame, config: &Arc<HubConfig>) {
        let ids = to.iter().map(|writer| writer.id()).collect();
        assert!(cast.deliver_shared_to(ids, frame, config));
    }

    fn shared_bytes(item: &Outgoing) -> &[u8] {
        match item {
            Outgoing::Shared(frame, _) => frame.bytes(),
            other => panic!("not a hub frame: {other:?}"),
        }
    }

    #[test]
    fn a_frame_is_logged_once_and_each_recipient_takes_it_in_order_with_its_mail() {
        for in_place in [true, false] {
            logged_once_and_taken_in_order(in_place);
        }
    }

    fn logged_once_and_taken_in_order(in_place: bool) {
        let cast = Arc::new(Broadcast::new(1 << 20));
        let config = Arc::new(HubConfig::default());
        let (mut a, mut b, mut c) = (
            Writer::join_taking(&cast, in_place),
            Writer::join_taking(&cast, in_place),
            Writer::join_taking(&cast, in_place),
        );
        for writer in [&mut a, &mut b, &mut c] {
            assert!(writer.poll().is_pending());
        }
        let first = SharedFrame::text("first");
        let second = SharedFrame::text("second");
        publish(&cast, &[&a, &b], &first, &config);
        a.peer.deliver(Message::Text("direct".into())).unwrap();
        publish(&cast, &[&a, &c], &second, &config);
        assert_eq!(cast.log().entries.len(), 2, "one entry per publish");
        // A sleeping writer is woken once by each queue, however much comes before it
        // looks: a by the log and by its mailbox, not again by the second publish.
        assert_eq!((a.woken(), b.woken(), c.woken()), (2, 1, 1));

        let got = a.drain();
        assert_eq!(got.len(), 3);
        assert_eq!(shared_bytes(&got[0]), first.bytes());
        assert_eq!(
            shared_bytes(&got[0]).as_ptr(),
            first.bytes().as_ptr(),
            "shared"
        );
        assert_eq!(got[1], Outgoing::Message(Message::Text("direct".into())));
        assert_eq!(shared_bytes(&got[2]), second.bytes());
        let got = b.drain();
        assert_eq!(got.len(), 1);
        assert_eq!(shared_bytes(&got[0]), first.bytes());
        // Every recipient of the first has it: it is freed; the second waits for c.
        assert_eq!(cast.log().entries.len(), 1);
        let got = c.drain();
        assert_eq!(got.len(), 1);
        assert_eq!(shared_bytes(&got[0]), second.bytes());
        assert!(cast.log().entries.is_empty());
        assert!(cast.log().slots.iter().all(|slot| slot.owed == 0));
    }

    #[test]
    fn a_writer_that_looks_again_with_nothing_new_is_still_woken_by_the_next_frame() {
        let cast = Arc::new(Broadcast::new(1 << 20));
        let config = Arc::new(HubConfig::default());
        let (mut a, b) = (Writer::join(&cast), Writer::join(&cast));
        for round in 1..=3 {
            // Looks that find nothing new (the second and third skip the log's lock).
            for _ in 0..3 {
                assert!(a.poll().is_pending());
            }
            // A publish to someone else changes the log but not what a may take.
            publish(&cast, &[&b], &SharedFrame::text("other"), &config);
            assert!(a.poll().is_pending());
            assert_eq!(a.woken(), round - 1);
            publish(&cast, &[&a], &SharedFrame::text("mine"), &config);
            assert_eq!(a.woken(), round, "woken in round {round}");
            assert_eq!(a.drain().len(), 1);
        }
        // Another task (another waker) looking is registered, not skipped.
        let other = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(other.clone());
        assert!(a
            .inbox
            .poll_recv(&mut Context::from_waker(&waker))
            .is_pending());
        publish(&cast, &[&a], &SharedFrame::text("mine"), &config);
        assert_eq!(other.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn mail_given_before_a_frame_goes_first_even_when_the_frame_is_seen_first() {
        for in_place in [true, false] {
            let cast = Arc::new(Broadcast::new(1 << 20));
            let config = Arc::new(HubConfig::default());
            let mut a = Writer::join_taking(&cast, in_place);
            // The writer looks at both queues; between its looks, mail then a frame come.
            a.peer.deliver(Message::Text("1".into())).unwrap();
            publish(&cast, &[&a], &SharedFrame::text("2"), &config);
            a.peer.deliver(Message::Text("3".into())).unwrap();
            publish(&cast, &[&a], &SharedFrame::text("4"), &config);
            publish(&cast, &[&a], &SharedFrame::text("5"), &config);
            a.peer.deliver(Message::Text("6".into())).unwrap();
            assert_eq!(order(&a.drain()), ["1", "2", "3", "4", "5", "6"]);
            // What comes after a look that found nothing is taken in order too.
            publish(&cast, &[&a], &SharedFrame::text("7"), &config);
            a.peer.deliver(Message::Text("8".into())).unwrap();
            publish(&cast, &[&a], &SharedFrame::text("9"), &config);
            assert_eq!(order(&a.drain()), ["7", "8", "9"], "in place: {in_place}");
        }
    }

    /// The payloads of text items, in order.
    fn order(items: &[Outgoing]) -> Vec<&str> {
        items
            .iter()
            .map(|item| match item {
                Outgoing::Message(message) => message.as_bytes(),
                Outgoing::Shared(frame, _) => &frame.bytes()[2..],
                Outgoing::Flush => b"flush",
            })
            .map(|bytes| std::str::from_utf8(bytes).unwrap())
            .collect()
    }

    #[test]
    fn past_its_limit_a_member_gets_the_policy_after_what_it_owes() {
        let frame = SharedFrame::binary(&[7; 100]);
        let cast = Arc::new(Broadcast::new(2 * frame.encoded_len()));
        let close = Arc::new(HubConfig::default());
        let mut dropping = HubConfig::default();
        dropping.slow_consumer = SlowConsumerPolicy::DropMessage;
        let dropping = Arc::new(dropping);
        let (mut slow, mut skipping) = (Writer::join(&cast), Writer::join(&cast));

        for _ in 0..3 {
            publish(&cast, &[&skipping], &frame, &dropping);
        }
        // Two fit; the third was skipped for it.
        assert_eq!(skipping.drain().len(), 2);
        publish(&cast, &[&skipping], &frame, &dropping);
        assert_eq!(skipping.drain().len(), 1, "room again once taken");

        for _ in 0..4 {
            publish(&cast, &[&slow], &frame, &close);
        }
        let got = slow.drain();
        assert_eq!(got.len(), 3);
        match &got[2] {
            Outgoing::Message(Message::Close(Some(frame))) => {
                assert_eq!(frame.code, CloseCode::TRY_AGAIN_LATER);
                assert_eq!(frame.reason, "slow consumer: outbound queue full");
            }
            other => panic!("{other:?}"),
        }
        // Closed: nothing more is marked for it.
        publish(&cast, &[&slow], &frame, &close);
        assert!(slow.drain().is_empty());
        assert!(cast.log().entries.is_empty());
    }

    #[test]
    fn a_member_that_never_takes_is_let_go_when_the_log_is_full() {
        let cast = Arc::new(Broadcast::new(1 << 30));
        let config = Arc::new(HubConfig::default());
        let (mut reader, mut stuck) = (Writer::join(&cast), Writer::join(&cast));
        let frame = SharedFrame::text("tick");
        for _ in 0..MAX_ENTRIES + 10 {
            publish(&cast, &[&reader, &stuck], &frame, &config);
            assert_eq!(reader.drain().len(), 1);
            assert!(cast.log().entries.len() <= MAX_ENTRIES);
        }
        let got = stuck.drain();
        // The publish past the bound let go of the oldest frame and closed the stuck
        // member; each of the 9 after it let go of one more of its frames. It has the rest,
        // then the policy's close.
        assert_eq!(got.len(), MAX_ENTRIES + 1 - 10 + 1);
        assert!(matches!(
            got.last(),
            Some(Outgoing::Message(Message::Close(Some(close)))) if close.code == CloseCode::TRY_AGAIN_LATER
        ));
        assert!(cast.log().entries.is_empty());
    }

    #[test]
    fn a_member_that_leaves_frees_its_marks_and_its_old_id_reaches_no_one() {
        let cast = Arc::new(Broadcast::new(1 << 20));
        let config = Arc::new(HubConfig::default());
        let (a, mut b) = (Writer::join(&cast), Writer::join(&cast));
        let old = a.id();
        publish(&cast, &[&a, &b], &SharedFrame::text("x"), &config);
        drop(a);
        assert_eq!(b.drain().len(), 1);
        assert!(
            cast.log().entries.is_empty(),
            "the leaver's mark went with it"
        );
        // The slot is reused; a publish to the old id is not for the newcomer.
        let mut c = Writer::join(&cast);
        assert_eq!(c.id() & 0xFFFF_FFFF, old & 0xFFFF_FFFF);
        assert_ne!(c.id(), old);
        assert!(cast.deliver_shared_to(vec![old], &SharedFrame::text("y"), &config));
        assert!(c.drain().is_empty());
        assert!(cast.log().entries.is_empty());
        // The mailbox's end ends the inbox.
        let Writer {
            peer,
            mut inbox,
            woken,
            ..
        } = c;
        drop(peer);
        let waker = Waker::from(woken);
        let mut cx = Context::from_waker(&waker);
        assert_eq!(inbox.poll_recv(&mut cx), Poll::Ready(None));
    }

    #[test]
    fn few_recipients_among_many_slots_are_kept_as_a_list() {
        let cast = Arc::new(Broadcast::new(1 << 20));
        let config = Arc::new(HubConfig::default());
        let mut writers: Vec<Writer> = (0..1000).map(|_| Writer::join(&cast)).collect();
        let few = [&writers[3], &writers[700], &writers[42]];
        publish(&cast, &few, &SharedFrame::text("few"), &config);
        assert!(matches!(
            cast.log().entries[0].waiting,
            Recipients::List(ref list) if list == &[3, 42, 700]
        ));
        for (i, writer) in writers.iter_mut().enumerate() {
            let expected = usize::from([3, 42, 700].contains(&i));
            assert_eq!(writer.drain().len(), expected, "writer {i}");
        }
        assert!(cast.log().entries.is_empty());
    }
}
