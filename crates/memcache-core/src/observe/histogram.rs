//! A lock-free latency histogram: fixed log-linear buckets of atomic counters.
//!
//! Recording is one relaxed atomic add (plus a compare-and-swap on the rare new maximum),
//! so every request of a node can record into one histogram shared by all its callers
//! without contention on a lock. Reading copies the buckets, which may miss records made
//! during the copy: fine for monitoring, where the next snapshot sees them.
//!
//! Buckets are log-linear over nanoseconds: below [`SUB`] ns one bucket per nanosecond;
//! above it each power of two is split into [`SUB`] equal buckets, so a bucket is at most
//! 1/32 of its lower bound wide. Reported values are bucket midpoints, within 1/64 (about
//! 1.6%) of the true value from 32 ns to about 68.7 s, and exact below; longer values
//! share the last bucket and are reported as at most the exact maximum.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::observe::events::LatencySummary;

/// log2 of the buckets per power of two.
const SUB_BITS: u32 = 5;
/// Buckets per power of two.
const SUB: usize = 1 << SUB_BITS;
/// Values from 2^`TOP_BITS` ns (about 68.7 s) on land in the last bucket.
const TOP_BITS: u32 = 36;
/// The linear buckets below [`SUB`], then [`SUB`] for each power of two up to the top.
const BUCKETS: usize = SUB + (TOP_BITS - SUB_BITS) as usize * SUB;

/// Durations recorded so far.
pub(crate) struct Histogram {
    buckets: Box<[AtomicU64]>,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("summary", &self.summary())
            .finish()
    }
}

impl Histogram {
    /// Records one duration.
    pub(crate) fn record(&self, duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        if let Some(bucket) = self.buckets.get(index(nanos)) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        // Most records are not a new maximum: a plain load spares them the write.
        if nanos > self.max.load(Ordering::Relaxed) {
            self.max.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    /// Percentiles, maximum and count of what was recorded.
    pub(crate) fn summary(&self) -> LatencySummary {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|bucket| bucket.load(Ordering::Relaxed))
            .collect();
        let count: u64 = counts.iter().sum();
        let max = self.max.load(Ordering::Relaxed);
        let at = |quantile: f64| Duration::from_nanos(value_at(&counts, count, quantile).min(max));
        LatencySummary {
            count,
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: Duration::from_nanos(max),
        }
    }
}

/// The bucket of a value of `nanos`.
fn index(nanos: u64) -> usize {
    if nanos < SUB as u64 {
        // Lossless: below SUB.
        return nanos as usize;
    }
    let bits = u64::BITS - 1 - nanos.leading_zeros();
    if bits >= TOP_BITS {
        return BUCKETS - 1;
    }
    let shift = bits - SUB_BITS;
    // Within SUB..2*SUB: the value's top SUB_BITS + 1 bits.
    let mantissa = (nanos >> shift) as usize - SUB;
    SUB + shift as usize * SUB + mantissa
}

/// The lowest value of bucket `index`, and the lowest of the next.
fn bounds(index: usize) -> (u64, u64) {
    if index < SUB {
        return (index as u64, index as u64 + 1);
    }
    let shift = ((index - SUB) / SUB) as u32;
    let mantissa = ((index - SUB) % SUB) as u64;
    let low = (SUB as u64 + mantissa) << shift;
    (low, low + (1 << shift))
}

/// The value below which `quantile` of the `total` values in `counts` lie: the midpoint
/// of the bucket holding that rank (0 when nothing was recorded).
fn value_at(counts: &[u64], total: u64, quantile: f64) -> u64 {
    if total == 0 {
        return 0;
    }
    // The rank of the value sought, 1-based: ceil(quantile * total), at least the first.
    // Exact for totals up to 2^53, far beyond what one node records.
    let rank = ((quantile * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (index, &count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            let (low, high) = bounds(index);
            return low + (high - low - 1) / 2;
        }
    }
    // Buckets grew while being summed: the top bucket holds the rank.
    bounds(BUCKETS - 1).0
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn buckets_cover_the_range_in_order() {
        let mut last = None;
        for index in 0..BUCKETS {
            let (low, high) = bounds(index);
            assert!(low < high);
            if let Some(previous_high) = last {
                assert_eq!(
                    low, previous_high,
                    "bucket {index} starts where the last ends"
                );
            }
            assert_eq!(super::index(low), index);
            assert_eq!(super::index(high - 1), index);
            // At most 1/32 of the lower bound wide (exact below SUB).
            assert!((high - low) * SUB as u64 <= low.max(SUB as u64), "{index}");
            last = Some(high);
        }
        assert_eq!(last, Some(1 << TOP_BITS));
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_are_within_the_error_bound() {
        let histogram = Histogram::default();
        // 1 µs to 100 ms in 1 µs steps: the q-th percentile is q * 100 ms.
        for micros in 1..=100_000 {
            histogram.record(Duration::from_micros(micros));
        }
        let summary = histogram.summary();
        assert_eq!(summary.count, 100_000);
        assert_eq!(summary.max, Duration::from_millis(100));
        let close = |got: Duration, want: Duration| {
            let error = (got.as_secs_f64() - want.as_secs_f64()).abs() / want.as_secs_f64();
            assert!(error < 0.02, "{got:?} vs {want:?}: {:.2}%", error * 100.0);
        };
        close(summary.p50, Duration::from_millis(50));
        close(summary.p90, Duration::from_millis(90));
        close(summary.p99, Duration::from_millis(99));
        close(summary.p999, Duration::from_micros(99_900));
    }

    #[test]
    fn every_value_reads_back_within_the_error_bound() {
        let mut nanos = 1_000u64;
        while nanos < 60_000_000_000 {
            let histogram = Histogram::default();
            histogram.record(Duration::from_nanos(nanos));
            let got = value_at(
                &histogram
                    .buckets
                    .iter()
                    .map(|bucket| bucket.load(Ordering::Relaxed))
                    .collect::<Vec<_>>(),
                1,
                0.5,
            );
            let error = got.abs_diff(nanos) as f64 / nanos as f64;
            assert!(error <= 0.5 / SUB as f64, "{nanos} ns read as {got} ns");
            nanos = nanos * 21 / 20 + 7;
        }
    }

    #[test]
    fn values_past_the_top_are_capped_at_the_maximum() {
        let histogram = Histogram::default();
        histogram.record(Duration::from_secs(3600));
        let summary = histogram.summary();
        assert_eq!(summary.max, Duration::from_secs(3600));
        assert!(summary.p50 <= summary.max);
        assert!(summary.p50 >= Duration::from_secs(60));
    }

    #[test]
    fn an_empty_histogram_reads_zero() {
        assert_eq!(Histogram::default().summary(), LatencySummary::default());
    }

    #[test]
    fn concurrent_records_are_all_counted() {
        let histogram = Arc::new(Histogram::default());
        let threads: Vec<_> = (0..4u64)
            .map(|thread| {
                let histogram = histogram.clone();
                std::thread::spawn(move || {
                    for i in 0..50_000u64 {
                        histogram.record(Duration::from_nanos(1_000 + (i * 4 + thread) * 10));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let summary = histogram.summary();
        assert_eq!(summary.count, 200_000);
        assert_eq!(summary.max, Duration::from_nanos(1_000 + 199_999 * 10));
        assert!(summary.p50 <= summary.p90 && summary.p90 <= summary.p99);
    }
}
