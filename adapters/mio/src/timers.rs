//! The loop's timers: one heap of `(deadline, connection)` for all its sessions. The
//! `mio::Poll` timeout is the earliest deadline.
//!
//! Entries are never removed in place. A connection remembers the deadline it armed and only
//! arms an earlier one; when an entry comes due it counts only if it is still the one its
//! connection remembers (same id, generation included, and same deadline). A session whose
//! deadline moved later (keepalive after every read) is woken early once, finds nothing to
//! do and re-arms, so the heap holds a few entries per connection, not one per read.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use crate::handler::ConnId;

/// Deadlines on the sessions' clock ([`sockwright_driver::clock`]).
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Duration, ConnId)>>,
}

impl Timers {
    /// Adds a deadline for `id`.
    pub(crate) fn arm(&mut self, at: Duration, id: ConnId) {
        self.heap.push(Reverse((at, id)));
    }

    /// The earliest deadline, stale or not.
    pub(crate) fn next(&self) -> Option<Duration> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// The earliest entry due at `now`, removed.
    pub(crate) fn pop_due(&mut self, now: Duration) -> Option<(Duration, ConnId)> {
        if self.next()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(entry)| entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(index: u32) -> ConnId {
        ConnId {
            index,
            generation: 0,
        }
    }

    #[test]
    fn entries_come_due_in_deadline_order() {
        let mut timers = Timers::default();
        let ms = Duration::from_millis;
        timers.arm(ms(30), id(1));
        timers.arm(ms(10), id(2));
        timers.arm(ms(20), id(3));
        assert_eq!(timers.next(), Some(ms(10)));
        assert_eq!(timers.pop_due(ms(5)), None);
        assert_eq!(timers.pop_due(ms(20)), Some((ms(10), id(2))));
        assert_eq!(timers.pop_due(ms(20)), Some((ms(20), id(3))));
        assert_eq!(timers.pop_due(ms(20)), None);
        assert_eq!(timers.next(), Some(ms(30)));
    }
}
