//! Latency histogram: log-linear buckets (32 per power of two, so every value is known within
//! about 2%), fixed memory whatever the count, cheap enough to record every message.

use std::time::Duration;

const SUB_BUCKETS: usize = 32;
const SUB_BITS: u32 = SUB_BUCKETS.trailing_zeros();

/// Counts of nanosecond values.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; 64 * SUB_BUCKETS],
            total: 0,
        }
    }
}

impl Histogram {
    /// Records one value.
    pub fn record(&mut self, value: Duration) {
        let nanos = u64::try_from(value.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket_of(nanos)] += 1;
        self.total += 1;
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value below which `q` (0 to 1) of the recorded values lie (a bucket's middle), or
    /// zero when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Duration::from_nanos(middle_of(bucket));
            }
        }
        Duration::from_nanos(middle_of(self.counts.len() - 1))
    }

    /// Adds another histogram's counts to this one.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
    }
}

/// Values below 32 ns get a bucket each; above, a power of two is split in 32.
fn bucket_of(nanos: u64) -> usize {
    if nanos < SUB_BUCKETS as u64 {
        return nanos as usize;
    }
    let power = 63 - nanos.leading_zeros(); // ≥ SUB_BITS
    let sub = (nanos >> (power - SUB_BITS)) as usize & (SUB_BUCKETS - 1);
    (power - SUB_BITS + 1) as usize * SUB_BUCKETS + sub
}

fn middle_of(bucket: usize) -> u64 {
    if bucket < SUB_BUCKETS {
        return bucket as u64;
    }
    let power = (bucket / SUB_BUCKETS) as u32 + SUB_BITS - 1;
    let sub = (bucket % SUB_BUCKETS) as u64;
    let low = (1u64 << power) | (sub << (power - SUB_BITS));
    low + (1u64 << (power - SUB_BITS)) / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_the_bucket_precision() {
        let mut h = Histogram::default();
        for micros in 1..=1000 {
            h.record(Duration::from_micros(micros));
        }
        let within = |got: Duration, want: u64| {
            let got = got.as_nanos() as f64;
            let want = (want * 1000) as f64;
            assert!((got - want).abs() / want < 0.04, "{got} vs {want}");
        };
        within(h.quantile(0.5), 500);
        within(h.quantile(0.99), 990);
        within(h.quantile(1.0), 1000);
        assert_eq!(h.count(), 1000);
        assert_eq!(Histogram::default().quantile(0.5), Duration::ZERO);
    }

    #[test]
    fn buckets_grow_monotonically() {
        let mut last = 0;
        for nanos in (0..1_000_000u64).step_by(7).chain([u64::MAX / 2, u64::MAX]) {
            let bucket = bucket_of(nanos);
            assert!(bucket >= last && bucket < 64 * SUB_BUCKETS, "{nanos}");
            last = bucket;
        }
    }
}
