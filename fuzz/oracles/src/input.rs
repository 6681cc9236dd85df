//! Decoding fuzz input: small helpers over [`arbitrary::Unstructured`] whose byte layout is
//! simple enough to write seeds by hand (see [`crate::seeds`]).
//!
//! Every helper reads from the front: a choice in `0..=max` is one byte when `max < 256` (two,
//! big-endian, when `max < 65536`), taken modulo `max + 1`; a byte string is its length (one
//! such choice) followed by that many bytes. When the input runs out, choices are 0 and byte
//! strings are cut short: every input decodes to something.

use arbitrary::Unstructured;

/// A choice in `0..=max`.
pub fn choice(u: &mut Unstructured<'_>, max: usize) -> usize {
    u.int_in_range(0..=max).unwrap_or(0)
}

/// One byte, 0 once the input is exhausted.
pub fn byte(u: &mut Unstructured<'_>) -> u8 {
    u.arbitrary().unwrap_or(0)
}

/// A flag: the low bit of one byte.
pub fn flag(u: &mut Unstructured<'_>) -> bool {
    byte(u) & 1 == 1
}

/// A byte string of at most `max_len` bytes: its length, then its bytes.
pub fn bytes(u: &mut Unstructured<'_>, max_len: usize) -> Vec<u8> {
    let len = choice(u, max_len).min(u.len());
    u.bytes(len).map(<[u8]>::to_vec).unwrap_or_default()
}

/// Text of at most `max_len` bytes (a byte string, invalid UTF-8 replaced).
pub fn text(u: &mut Unstructured<'_>, max_len: usize) -> String {
    String::from_utf8_lossy(&bytes(u, max_len)).into_owned()
}

/// Splits `data` into pieces for a parser that is fed incrementally: the cut points come from
/// a small generator seeded with `seed`, so one seed byte picks one of 256 chunkings, from
/// one-byte pieces to a few large ones.
pub fn chunks(data: &[u8], seed: u8) -> Vec<&[u8]> {
    if seed == 0 {
        return vec![data];
    }
    let mut state = u32::from(seed).wrapping_mul(0x9E37_79B9) | 1;
    let max_piece = 1 + usize::from(seed % 17) * usize::from(seed % 5 + 1);
    let mut pieces = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        // xorshift32: cheap, deterministic, different for every seed.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let len = (state as usize % max_piece + 1).min(rest.len());
        let (piece, after) = rest.split_at(len);
        pieces.push(piece);
        rest = after;
    }
    pieces
}

/// Every way a test of chunk invariance feeds `data`: whole, one byte at a time, and the
/// chunking `seed` picks.
pub fn chunkings(data: &[u8], seed: u8) -> [Vec<&[u8]>; 3] {
    [
        vec![data],
        data.chunks(1).collect(),
        chunks(data, seed.max(1)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_what_seeds_assume() {
        let data = [3, b'a', b'b', b'c', 7, 0x01, 0x02];
        let mut u = Unstructured::new(&data);
        assert_eq!(bytes(&mut u, 255), b"abc");
        assert_eq!(choice(&mut u, 9), 7);
        assert_eq!(choice(&mut u, 1000), 0x0102);
        assert_eq!(choice(&mut u, 9), 0, "exhausted input gives 0");
        assert!(bytes(&mut u, 9).is_empty());
    }

    #[test]
    fn chunks_cover_the_input_in_order() {
        let data: Vec<u8> = (0..=255).collect();
        for seed in 0..=255 {
            let pieces = chunks(&data, seed);
            assert_eq!(pieces.concat(), data, "seed {seed}");
            assert!(pieces.iter().all(|p| !p.is_empty()));
        }
        assert_eq!(chunks(&data, 0).len(), 1);
    }
}
