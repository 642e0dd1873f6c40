//! The latency of each checkpoint (the batch's sink append, its record and its ack,
//! all durable), in a histogram that many tenants' pipelines share: what
//! `run --tenants` reports as p50 and p99.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets per doubling: a quantile is reported as its bucket's upper bound, at most
/// 2^(1/8) − 1 ≈ 9% above the true value.
const PER_OCTAVE: u32 = 8;
/// From 1 µs to 2^32 µs (over an hour); longer latencies land in the last bucket.
const BUCKETS: usize = 32 * PER_OCTAVE as usize + 1;

/// Counts of latencies in logarithmic buckets; lock-free, so that recording costs no
/// tenant a wait on another.
#[derive(Debug)]
pub struct Latencies {
    counts: Box<[AtomicU64]>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Latencies {
    /// Counts one latency.
    pub fn record(&self, latency: Duration) {
        let micros = latency.as_secs_f64() * 1e6;
        let bucket = if micros <= 1.0 {
            0
        } else {
            ((micros.log2() * f64::from(PER_OCTAVE)).ceil() as usize).min(BUCKETS - 1)
        };
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// How many latencies were counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The `q`-quantile (0 < q ≤ 1) as its bucket's upper bound; `None` if nothing
    /// was counted.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count.load(Ordering::Relaxed);
            if seen >= rank {
                let micros = 2f64.powf(bucket as f64 / f64::from(PER_OCTAVE));
                return Some(Duration::from_secs_f64(micros / 1e6));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quantiles come back within a bucket (9%) above the latencies counted.
    #[test]
    fn quantiles_are_within_a_bucket_of_the_latencies_counted() {
        let latencies = Latencies::default();
        assert_eq!(latencies.quantile(0.5), None);
        for ms in 1..=100u64 {
            latencies.record(Duration::from_millis(ms));
        }
        latencies.record(Duration::from_secs(100_000));
        latencies.record(Duration::ZERO);
        assert_eq!(latencies.count(), 102);
        for (q, ms) in [(0.5, 50.0), (0.99, 100.0)] {
            let got = latencies.quantile(q).unwrap().as_secs_f64() * 1e3;
            assert!(
                (ms..ms * 1.0906).contains(&got),
                "q {q}: {got} ms, not {ms}"
            );
        }
        assert!(latencies.quantile(1.0).unwrap() > Duration::from_secs(3600));
    }
}
