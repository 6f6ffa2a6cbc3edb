//! Latency distribution of completed requests: an HDR histogram for percentiles, plus exact
//! count, sum and maximum (the histogram rounds values to 3 significant digits).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Smallest latency the histogram tells apart from zero: 1 µs.
pub(super) const LOWEST_NS: u64 = 1_000;
/// Largest latency the histogram stores exactly (about 2.8 hours); larger ones land in its top
/// bucket, while `max` stays exact.
pub(super) const HIGHEST_NS: u64 = 10_000_000_000_000;
/// Three significant digits: percentiles within 0.1%.
pub(super) const SIGFIG: u8 = 3;

/// Total count at which the 32-bit counters spill into the 64-bit histogram: no counter can
/// overflow below it. Small in unit tests, so that the spilling path is exercised.
const SPILL_AT: u64 = if cfg!(test) { 1_000 } else { u32::MAX as u64 };

/// The latencies of one route (or of all routes), in nanoseconds.
///
/// Memory is bounded whatever the number of requests (8 KB to 104 KB, growing with the largest
/// latency: about 36 KB for latencies up to 100 ms), and two of these merge exactly, so
/// replications and shards combine without averaging percentiles.
///
/// Counts are kept in 32 bits: half the memory of 64-bit counters. Before the total could reach
/// 2^32 — so before any counter could overflow — the counts spill into a 64-bit histogram (only
/// runs of billions of requests get one). A run records into a [`super::LatencyRecorder`],
/// whose one-byte counters keep the cache footprint of recording small, and gets one of these
/// at its end.
#[derive(Clone, Debug)]
pub struct LatencyStats {
    histogram: Histogram<u32>,
    /// Counts moved out of `histogram` before its total reached [`SPILL_AT`].
    spilled: Option<Box<Histogram<u64>>>,
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

/// An empty histogram with meshsim's resolution and precision, holding only its first bucket:
/// it grows to the largest latency recorded (never past [`BEYOND_NS`]: see [`put`]), so a route
/// whose latencies stay below 100 ms keeps a third of the counters one spanning 1 µs to 2.8 h
/// would allocate, and a route never called keeps about 8 KB. The buckets are the same whatever
/// the size, so every count and percentile is too.
fn empty<T: hdrhistogram::Counter>() -> Histogram<T> {
    let mut h = Histogram::new_with_bounds(LOWEST_NS, 2 * LOWEST_NS, SIGFIG)
        .expect("constant histogram bounds are valid");
    h.auto(true);
    h
}

/// The first latency a histogram spanning 1 µs to [`HIGHEST_NS`] has no bucket for: its last
/// bucket ends at the power of two above `HIGHEST_NS` (2^44 ns, about 4.9 hours).
const BEYOND_NS: u64 = 1 << (64 - HIGHEST_NS.leading_zeros());

/// Counts `count` latencies of `ns` into `h`, growing it as needed, exactly as a histogram
/// spanning 1 µs to [`HIGHEST_NS`] from the start would count them: from [`BEYOND_NS`] on, in
/// the bucket of `HIGHEST_NS` (hdrhistogram's saturation).
fn put<T: hdrhistogram::Counter>(h: &mut Histogram<T>, ns: u64, count: T) {
    let ns = if ns < BEYOND_NS { ns } else { HIGHEST_NS };
    h.record_n(ns, count)
        .expect("a growing histogram takes every value below BEYOND_NS");
}

/// The spilled counts, created empty on first use.
fn spilled(slot: &mut Option<Box<Histogram<u64>>>) -> &mut Histogram<u64> {
    slot.get_or_insert_with(|| Box::new(empty()))
}

/// Adds the 32-bit counts `from` into `into`.
fn add_counts(into: &mut Histogram<u64>, from: &Histogram<u32>) {
    for v in from.iter_recorded() {
        put(into, v.value_iterated_to(), u64::from(v.count_at_value()));
    }
}

/// All the counts of a [`LatencyStats`], for queries.
enum Counts<'a> {
    /// Nothing has spilled: the 32-bit histogram is all there is.
    Unspilled(&'a Histogram<u32>),
    /// Spilled and unspilled counts, added up.
    Combined(Histogram<u64>),
}

impl Counts<'_> {
    fn value_at_quantile(&self, q: f64) -> u64 {
        match self {
            Counts::Unspilled(h) => h.value_at_quantile(q),
            Counts::Combined(h) => h.value_at_quantile(q),
        }
    }

    /// (highest value of the bucket in ns, count) of every non-empty bucket, in value order.
    fn buckets(&self) -> Vec<(u64, u64)> {
        match self {
            Counts::Unspilled(h) => h
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), u64::from(v.count_at_value())))
                .collect(),
            Counts::Combined(h) => h
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        }
    }
}

impl LatencyStats {
    /// An empty distribution.
    pub fn new() -> Self {
        LatencyStats {
            histogram: empty(),
            spilled: None,
            count: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }

    /// Records one latency.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        if self.histogram.len() >= SPILL_AT {
            self.spill();
        }
        put(&mut self.histogram, ns, 1);
        self.record_summary(ns);
    }

    /// Counts one latency in the count, sum and extremes only: the caller owes the histogram
    /// its bucket (see [`super::LatencyRecorder`]).
    #[inline(always)]
    pub(super) fn record_summary(&mut self, ns: u64) {
        self.count += 1;
        self.sum_ns += ns as u128;
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Exact minimum in ns (`u64::MAX` when empty).
    pub(super) fn min_ns(&self) -> u64 {
        self.min_ns
    }

    /// Exact maximum in ns (0 when empty).
    pub(super) fn max_ns(&self) -> u64 {
        self.max_ns
    }

    /// Moves the 32-bit counts into the 64-bit histogram.
    #[cold]
    fn spill(&mut self) {
        add_counts(spilled(&mut self.spilled), &self.histogram);
        self.histogram.reset();
    }

    /// Adds `count` latencies of `value` ns to the histogram only (restoring a bucket of a
    /// snapshot, settling a [`super::LatencyRecorder`]'s counters).
    pub(super) fn record_bucket(&mut self, value: u64, count: u64) {
        match u32::try_from(count) {
            Ok(small) if self.histogram.len() + count < SPILL_AT => {
                put(&mut self.histogram, value, small)
            }
            _ => put(spilled(&mut self.spilled), value, count),
        }
    }

    /// The counts, with the spilled ones added in (a copy only when something has spilled).
    fn counts(&self) -> Counts<'_> {
        match &self.spilled {
            None => Counts::Unspilled(&self.histogram),
            Some(spilled) => {
                let mut all = (**spilled).clone();
                add_counts(&mut all, &self.histogram);
                Counts::Combined(all)
            }
        }
    }

    /// Forgets every latency recorded (keeping the allocation).
    pub fn clear(&mut self) {
        self.histogram.reset();
        self.spilled = None;
        self.count = 0;
        self.sum_ns = 0;
        self.min_ns = u64::MAX;
        self.max_ns = 0;
    }

    /// The cumulative distribution: (latency in ms, fraction of latencies at or below it) at every
    /// non-empty histogram bucket.
    pub fn cdf(&self) -> Vec<(f64, f64)> {
        let total = self.count as f64;
        let mut seen = 0u64;
        self.counts()
            .buckets()
            .into_iter()
            .map(|(value, count)| {
                seen += count;
                (value.min(self.max_ns) as f64 / 1e6, seen as f64 / total)
            })
            .collect()
    }

    /// Adds every latency recorded in `other`.
    pub fn merge(&mut self, other: &LatencyStats) {
        if self.histogram.len() + other.histogram.len() >= SPILL_AT {
            self.spill();
        }
        self.histogram
            .add(&other.histogram)
            .expect("histograms with equal bounds always merge");
        if let Some(theirs) = &other.spilled {
            spilled(&mut self.spilled)
                .add(&**theirs)
                .expect("histograms with equal bounds always merge");
        }
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
            .counts()
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
            .counts()
            .buckets()
            .into_iter()
            .filter(|&(value, _)| value <= ns)
            .map(|(_, count)| count)
            .sum();
        below as f64 / self.count as f64
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
            buckets: self.counts().buckets(),
        }
    }

    /// Restores from the stored form; `None` if it is inconsistent.
    pub fn from_snapshot(s: &LatencySnapshot) -> Option<LatencyStats> {
        let mut stats = LatencyStats::new();
        let mut total = 0u64;
        // From the top down: the histogram grows once, to the largest.
        for &(value, count) in s.buckets.iter().rev() {
            stats.record_bucket(value, count);
            total = total.checked_add(count)?;
        }
        if total != s.count {
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

    /// The histogram grows with the latencies it sees: 1–100 ms need a third of the counts a
    /// histogram spanning 1 µs to 2.8 h holds, and a latency past that span lands in its top
    /// bucket as before (the maximum stays exact).
    #[test]
    fn the_histogram_grows_to_the_largest_latency_only() {
        let full = Histogram::<u32>::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGFIG).unwrap();
        let mut s = LatencyStats::new();
        for ms in 1..=100u64 {
            s.record(ms * 1_000_000);
        }
        let held = s.histogram.distinct_values();
        assert!(
            held * 2 < full.distinct_values(),
            "{held} of {}",
            full.distinct_values()
        );
        s.record(HIGHEST_NS * 10);
        assert!(s.histogram.distinct_values() <= full.distinct_values());
        assert_eq!(s.max_ms(), HIGHEST_NS as f64 * 10.0 / 1e6);
        // The largest is counted where a full-range histogram saturates it.
        let top = full.highest_equivalent(HIGHEST_NS);
        assert_eq!(s.quantile_ms(1.0), top as f64 / 1e6);
        // A snapshot restores every bucket where it was, those between `HIGHEST_NS` and
        // `BEYOND_NS` included.
        s.record(15_000_000_000_000);
        let back = LatencyStats::from_snapshot(&s.snapshot()).unwrap();
        assert_eq!(back.snapshot(), s.snapshot());
    }

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

    /// Runs longer than the 32-bit counters allow (here [`SPILL_AT`] is 1,000) report the same
    /// distribution as one 64-bit histogram of everything.
    #[test]
    fn spilled_counts_give_the_same_distribution_as_one_histogram() {
        let mut reference: Histogram<u64> = empty();
        let (mut a, mut b, mut all) = (
            LatencyStats::new(),
            LatencyStats::new(),
            LatencyStats::new(),
        );
        for i in 0..7_000u64 {
            let v = 1_000_000 + (i * 7_919) % 40_000_000;
            reference.record(v).unwrap();
            all.record(v);
            if i % 4 == 0 { a.record(v) } else { b.record(v) }
        }
        assert!(all.spilled.is_some() && all.histogram.len() <= SPILL_AT);
        a.merge(&b);
        for s in [&all, &a] {
            assert_eq!(s.count(), 7_000);
            for q in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0] {
                let expected = reference.value_at_quantile(q).clamp(s.min_ns, s.max_ns);
                assert_eq!(s.quantile_ms(q), expected as f64 / 1e6, "q = {q}");
            }
            assert_eq!(
                s.fraction_at_or_below_ms(20.0),
                all.fraction_at_or_below_ms(20.0)
            );
            let cdf = s.cdf();
            assert_eq!(cdf.len(), reference.iter_recorded().count());
            assert_eq!(cdf.last().map(|p| p.1), Some(1.0));
        }
        assert_eq!(a.snapshot(), all.snapshot());
        let back = LatencyStats::from_snapshot(&all.snapshot()).unwrap();
        assert_eq!(back.snapshot(), all.snapshot());
    }

    #[test]
    fn empty_stats_are_nan_not_zero() {
        let s = LatencyStats::new();
        assert!(s.mean_ms().is_nan() && s.quantile_ms(0.5).is_nan());
    }
}
