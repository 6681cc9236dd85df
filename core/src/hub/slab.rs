//! Session storage addressed by generation-checked handles.

use alloc::vec::Vec;
use core::fmt;

/// An opaque name for one registered session (one connection). `Copy`, cheap to compare and
/// to keep in the server's own tables.
///
/// A handle is generation-checked: once its session is unregistered, the handle names nothing,
/// even after its slot is reused for a new session. A slot is retired rather than reused once
/// its generation counter is exhausted, so a stale handle never names a newer session.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle {
    index: u32,
    generation: u32,
}

impl Handle {
    /// The handle as one number, for a server that keys its own tables (or a poller token) by
    /// an integer.
    pub fn to_bits(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// The handle [`to_bits`](Self::to_bits) made. Any number is safe: one that no
    /// registration returned names no session.
    pub fn from_bits(bits: u64) -> Self {
        Self {
            index: bits as u32,
            generation: (bits >> 32) as u32,
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({}v{})", self.index, self.generation)
    }
}

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Values in reusable slots. Handles are ordered by slot, so iteration is in handle order.
pub(super) struct Slab<T> {
    slots: Vec<Slot<T>>,
    /// Empty slots that may be reused.
    free: Vec<u32>,
    len: usize,
}

impl<T> Slab<T> {
    pub(super) fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Stores `value`; `None` when every one of the 2^32 slots is taken or retired.
    pub(super) fn insert(&mut self, value: T) -> Option<Handle> {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(Slot {
                    generation: 0,
                    value: None,
                });
                index
            }
        };
        let slot = self.slots.get_mut(index as usize)?;
        slot.value = Some(value);
        self.len += 1;
        Some(Handle {
            index,
            generation: slot.generation,
        })
    }

    pub(super) fn get(&self, handle: Handle) -> Option<&T> {
        self.slots
            .get(handle.index as usize)
            .filter(|slot| slot.generation == handle.generation)?
            .value
            .as_ref()
    }

    pub(super) fn remove(&mut self, handle: Handle) -> Option<T> {
        let slot = self
            .slots
            .get_mut(handle.index as usize)
            .filter(|slot| slot.generation == handle.generation)?;
        let value = slot.value.take()?;
        self.len -= 1;
        if let Some(next) = slot.generation.checked_add(1) {
            slot.generation = next;
            self.free.push(handle.index);
        }
        Some(value)
    }

    /// Every value with its handle, in handle order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (Handle, &T)> {
        self.slots.iter().zip(0u32..).filter_map(|(slot, index)| {
            let value = slot.value.as_ref()?;
            Some((
                Handle {
                    index,
                    generation: slot.generation,
                },
                value,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_handle_never_names_a_new_value() {
        let mut slab = Slab::new();
        let a = slab.insert("a").unwrap();
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert("b").unwrap();
        assert_eq!(a.index, b.index, "the slot is reused");
        assert_ne!(a, b);
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn an_exhausted_slot_is_retired() {
        let mut slab = Slab::new();
        let a = slab.insert(1).unwrap();
        slab.slots[0].generation = u32::MAX;
        let last = Handle {
            index: a.index,
            generation: u32::MAX,
        };
        assert_eq!(slab.remove(last), Some(1));
        let b = slab.insert(2).unwrap();
        assert_ne!(b.index, a.index, "the exhausted slot is not reused");
        assert_eq!(slab.get(last), None);
    }

    #[test]
    fn bits_round_trip_and_garbage_names_nothing() {
        let mut slab = Slab::new();
        let a = slab.insert(()).unwrap();
        assert_eq!(Handle::from_bits(a.to_bits()), a);
        assert_eq!(slab.get(Handle::from_bits(u64::MAX)), None);
        assert_eq!(slab.get(Handle::from_bits(1 << 32)), None);
    }

    #[test]
    fn iteration_is_in_handle_order() {
        let mut slab = Slab::new();
        let handles: Vec<_> = (0..5).map(|i| slab.insert(i).unwrap()).collect();
        slab.remove(handles[1]);
        let seen: Vec<_> = slab.iter().map(|(h, _)| h).collect();
        assert_eq!(seen, [handles[0], handles[2], handles[3], handles[4]]);
    }
}
