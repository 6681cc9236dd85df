//! [`IdMap`]: a hash map for the ids this process makes itself (connection ids, hub handles,
//! loop slots), hashed by a multiply-and-rotate instead of SipHash.
//!
//! SipHash resists keys an attacker picks to collide; these keys are counters and slab
//! slots the server assigns, never bytes from the network, so that cost buys nothing. A hub
//! looks one up per recipient per message, where SipHash was a measurable share of the
//! fan-out's time (`bench/findings.md`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` keyed by ids the server assigns (see the module).
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Folds each integer written into one word: rotate, xor, multiply by an odd constant with
/// well-mixed bits (the one rustc's FxHasher uses), so sequential ids spread over buckets.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl IdHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::{BuildHasher, Hash};

    fn hash_of(value: impl Hash) -> u64 {
        BuildHasherDefault::<IdHasher>::default().hash_one(value)
    }

    #[test]
    fn sequential_ids_spread_over_the_bits_a_table_uses() {
        // hashbrown (std's map) picks the bucket by the low bits and tags entries with the
        // top 7: 1,000 sequential ids must fill 1,024 buckets evenly and use every tag.
        let low: HashSet<u64> = (0..1000u64).map(|id| hash_of(id) & 1023).collect();
        let tags: HashSet<u64> = (0..1000u64).map(|id| hash_of(id) >> 57).collect();
        assert!(low.len() > 900, "{} distinct low-bit buckets", low.len());
        assert_eq!(tags.len(), 128, "{} distinct tags", tags.len());
    }

    #[test]
    fn a_map_keyed_by_ids_finds_what_it_holds() {
        let mut map: IdMap<(u32, u32), usize> = IdMap::default();
        for i in 0..10_000u32 {
            map.insert((i, i / 7), i as usize);
        }
        assert_eq!(map.len(), 10_000);
        assert!((0..10_000u32).all(|i| map.get(&(i, i / 7)) == Some(&(i as usize))));
        assert_eq!(map.get(&(3, 3)), None);
    }
}
