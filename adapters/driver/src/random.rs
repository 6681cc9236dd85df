//! Randomness for the client side: masking keys and handshake nonces (RFC 6455 §5.3 wants
//! them from a strong entropy source, unpredictable to the application). Keys are read from
//! the OS in batches so that a frame costs no system call.

/// How many bytes one refill reads: 64 masking keys.
const BATCH: usize = 256;

/// Masking keys from the OS entropy source, fetched 256 bytes (64 keys) at a time: what a
/// client connection of the core ([`sockwright::conn::Connection::client`]) needs.
pub struct MaskSource {
    buf: [u8; BATCH],
    next: usize,
}

impl Default for MaskSource {
    fn default() -> Self {
        Self::new()
    }
}

impl MaskSource {
    /// A source whose first key triggers the first read from the OS.
    pub fn new() -> Self {
        MaskSource {
            buf: [0; BATCH],
            next: BATCH,
        }
    }

    /// The next masking key.
    pub fn next_key(&mut self) -> [u8; 4] {
        if self.next + 4 > BATCH {
            fill(&mut self.buf);
            self.next = 0;
        }
        let mut key = [0; 4];
        key.copy_from_slice(&self.buf[self.next..self.next + 4]);
        self.next += 4;
        key
    }
}

impl sockwright::conn::MaskKeys for MaskSource {
    fn next_mask_key(&mut self) -> [u8; 4] {
        self.next_key()
    }
}

impl std::fmt::Debug for MaskSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys themselves stay private.
        f.write_str("MaskSource")
    }
}

/// 16 fresh random bytes: a `Sec-WebSocket-Key` nonce.
pub fn random_key() -> [u8; 16] {
    let mut key = [0; 16];
    fill(&mut key);
    key
}

fn fill(buf: &mut [u8]) {
    // The OS source fails only where no entropy exists at all (early boot on exotic
    // systems); a predictable mask is then still better than no connection, and the time
    // mixed in keeps keys from repeating.
    if getrandom::fill(buf).is_err() {
        let mut x = crate::clock::now().as_nanos() as u64 | 1;
        for b in buf {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_do_not_repeat_across_refills() {
        let mut source = MaskSource::new();
        let keys: Vec<[u8; 4]> = (0..200).map(|_| source.next_key()).collect();
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        // 200 draws from 2^32 values: a repeat has probability under 1e-5.
        assert_eq!(unique.len(), keys.len());
        assert_ne!(random_key(), random_key());
    }
}
