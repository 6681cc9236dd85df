//! Masking (RFC 6455 §5.3): XOR of the payload with a repeating 4-byte key.

/// Masks or unmasks `buf` in place with `key`, where `buf[0]` is byte number `offset` of the
/// payload, so a payload that arrives in pieces can be unmasked piece by piece.
///
/// Works 32 bytes at a time on fixed-size arrays, which the compiler turns into vector
/// instructions; `benches/frame.rs` measures it against [`apply_mask_bytewise`].
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate_key(key, offset);
    let mut wide = [0u8; 32];
    for (i, byte) in wide.iter_mut().enumerate() {
        *byte = key[i % 4];
    }
    let (blocks, tail) = buf.as_chunks_mut::<32>();
    for block in blocks {
        for (byte, k) in block.iter_mut().zip(wide) {
            *byte ^= k;
        }
    }
    // A whole number of 32-byte blocks keeps the key's phase, so the tail starts at phase 0.
    for (i, byte) in tail.iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

/// The plain one-byte-at-a-time loop: the reference [`apply_mask`] is tested and measured
/// against.
pub fn apply_mask_bytewise(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[(offset + i) % 4];
    }
}

/// The key as seen from payload byte `offset`.
fn rotate_key(key: [u8; 4], offset: usize) -> [u8; 4] {
    let mut rotated = key;
    rotated.rotate_left(offset % 4);
    rotated
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn word_at_a_time_matches_bytewise_for_every_length_and_offset() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..200 {
            for offset in 0..8 {
                let original: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut fast = original.clone();
                let mut slow = original.clone();
                apply_mask(&mut fast, key, offset);
                apply_mask_bytewise(&mut slow, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn masking_in_pieces_equals_masking_at_once() {
        let key = [1, 2, 3, 4];
        let original: Vec<u8> = (0..=255).collect();
        let mut whole = original.clone();
        apply_mask(&mut whole, key, 0);
        for split in [1, 3, 33, 100, 255] {
            let mut pieces = original.clone();
            let (a, b) = pieces.split_at_mut(split);
            apply_mask(a, key, 0);
            apply_mask(b, key, split);
            assert_eq!(pieces, whole, "split at {split}");
        }
    }

    #[test]
    fn masking_twice_restores_the_payload() {
        let mut data = *b"Hello, masked world! 0123456789abcdefghij";
        apply_mask(&mut data, [9, 8, 7, 6], 0);
        assert_ne!(&data, b"Hello, masked world! 0123456789abcdefghij");
        apply_mask(&mut data, [9, 8, 7, 6], 0);
        assert_eq!(&data, b"Hello, masked world! 0123456789abcdefghij");
    }
}
