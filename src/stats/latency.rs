//! Latency distribution of completed requests: an HDR histogram for percentiles, plus exact
//! count, sum and maximum (the histogram rounds values to 3 significant digits).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Smallest latency the histogram tells apart from zero: 1 µs.
const LOWEST_NS: u64 = 1_000;
/// Largest latency the histogram stores exactly (about 2.8 hours); larger ones land in its top
/// bucket, while `max` stays exact.
const HIGHEST_NS: u64 = 10_000_000_000_000;
/// Three significant digits: percentiles within 0.1%.
const SIGFIG: u8 = 3;

/// The latencies of one route (or of all routes), in nanoseconds.
///
/// Memory is fixed (about 190 KB) whatever the number of requests, and two of these merge
/// exactly, so replications and shards combine without averaging percentiles.
#[derive(Clone, Debug)]
pub struct LatencyStats {
    histogram: Histogram<u64>,
    count: u64,
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
}

impl Default for LatencyStats {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyStats {
    /// An empty distribution.
    pub fn new() -> Self {
        LatencyStats {
            histogram: Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGFIG)
                .expect("constant histogram bounds are valid"),
            count: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }

    /// Records one latency.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.histogram.saturating_record(ns);
        self.count += 1;
        self.sum_ns += ns as u128;
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Forgets every latency recorded (keeping the allocation).
    pub fn clear(&mut self) {
        self.histogram.reset();
        self.count = 0;
        self.sum_ns = 0;
        self.min_ns = u64::MAX;
        self.max_ns = 0;
    }

    /// The cumulative distribution: (latency in ms, fraction of latencies at or below it) at every
    /// non-empty histogram bucket.
    pub fn cdf(&self) -> Vec<(f64, f64)> {
        let total = self.histogram.len() as f64;
        let mut seen = 0u64;
        self.histogram
            .iter_recorded()
            .map(|v| {
                seen += v.count_at_value();
                (
                    v.value_iterated_to().min(self.max_ns) as f64 / 1e6,
                    seen as f64 / total,
                )
            })
            .collect()
    }

    /// Adds every latency recorded in `other`.
    pub fn merge(&mut self, other: &LatencyStats) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms with equal bounds always merge");
        self.count += other.count;
        self.sum_ns += other.sum_ns;
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Number of latencies recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Exact mean in milliseconds (NaN when empty).
    pub fn mean_ms(&self) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        self.sum_ns as f64 / self.count as f64 / 1e6
    }

    /// The `q`-quantile (0 ≤ q ≤ 1) in milliseconds, within 0.1% (NaN when empty).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        // hdrhistogram reports the highest value equivalent to the bucket; keep it within the
        // exact extremes.
        let v = self
            .histogram
            .value_at_quantile(q)
            .clamp(self.min_ns, self.max_ns);
        v as f64 / 1e6
    }

    /// Exact minimum in milliseconds (NaN when empty).
    pub fn min_ms(&self) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        self.min_ns as f64 / 1e6
    }

    /// Exact maximum in milliseconds (NaN when empty).
    pub fn max_ms(&self) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        self.max_ns as f64 / 1e6
    }

    /// Fraction of recorded latencies at or below `ms`.
    pub fn fraction_at_or_below_ms(&self, ms: f64) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        let ns = (ms * 1e6).max(0.0) as u64;
        let below: u64 = self
            .histogram
            .iter_recorded()
            .filter(|v| v.value_iterated_to() <= ns)
            .map(|v| v.count_at_value())
            .sum();
        below as f64 / self.histogram.len() as f64
    }
}

/// A [`LatencyStats`] in a form that can be stored (JSON) and restored exactly: the histogram's
/// recorded buckets, plus the exact count, sum and extremes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LatencySnapshot {
    pub count: u64,
    /// Sum of latencies in ns, as a decimal string (it can exceed 2^64).
    pub sum_ns: String,
    pub min_ns: u64,
    pub max_ns: u64,
    /// (value in ns, count) for every non-empty histogram bucket.
    pub buckets: Vec<(u64, u64)>,
}

impl LatencyStats {
    /// The stored form.
    pub fn snapshot(&self) -> LatencySnapshot {
        LatencySnapshot {
            count: self.count,
            sum_ns: self.sum_ns.to_string(),
            min_ns: self.min_ns,
            max_ns: self.max_ns,
            buckets: self
                .histogram
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        }
    }

    /// Restores from the stored form; `None` if it is inconsistent.
    pub fn from_snapshot(s: &LatencySnapshot) -> Option<LatencyStats> {
        let mut stats = LatencyStats::new();
        for &(value, count) in &s.buckets {
            stats
                .histogram
                .record_n(value.min(HIGHEST_NS), count)
                .ok()?;
        }
        if stats.histogram.len() != s.count {
            return None;
        }
        stats.count = s.count;
        stats.sum_ns = s.sum_ns.parse().ok()?;
        stats.min_ns = s.min_ns;
        stats.max_ns = s.max_ns;
        Some(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_max_are_exact_and_quantiles_within_a_tenth_of_a_percent() {
        let mut s = LatencyStats::new();
        for ms in 1..=1000u64 {
            s.record(ms * 1_000_000);
        }
        assert_eq!(s.count(), 1000);
        assert!((s.mean_ms() - 500.5).abs() < 1e-9);
        assert_eq!(s.max_ms(), 1000.0);
        assert!((s.quantile_ms(0.5) - 500.0).abs() / 500.0 < 1e-3);
        assert!((s.quantile_ms(0.99) - 990.0).abs() / 990.0 < 1e-3);
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (
            LatencyStats::new(),
            LatencyStats::new(),
            LatencyStats::new(),
        );
        for i in 0..500u64 {
            let v = i * 37_000 + 5_000;
            if i % 3 == 0 {
                a.record(v)
            } else {
                b.record(v)
            }
            all.record(v);
        }
        a.merge(&b);
        assert_eq!(a.count(), all.count());
        assert_eq!(a.mean_ms(), all.mean_ms());
        assert_eq!(a.quantile_ms(0.9), all.quantile_ms(0.9));
    }

    #[test]
    fn snapshots_restore_every_statistic() {
        let mut s = LatencyStats::new();
        for i in 0..10_000u64 {
            s.record(i * i * 97 + 1_234);
        }
        let back = LatencyStats::from_snapshot(&s.snapshot()).unwrap();
        assert_eq!(back.snapshot(), s.snapshot());
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(back.quantile_ms(q), s.quantile_ms(q));
        }
        assert_eq!(back.mean_ms(), s.mean_ms());
    }

    #[test]
    fn empty_stats_are_nan_not_zero() {
        let s = LatencyStats::new();
        assert!(s.mean_ms().is_nan() && s.quantile_ms(0.5).is_nan());
    }
}
