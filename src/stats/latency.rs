//! Latency distribution of completed requests: an HDR histogram for percentiles, plus exact
//! count, sum and maximum (the histogram rounds values to 3 significant digits).

use super::buckets::{highest_of, index_of, lowest_of, saturated};
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

/// Most non-empty buckets kept as a sorted list before the counts move into a histogram: 16 KB
/// of entries, where a histogram of latencies up to 20 ms holds 28 KB. Small in unit tests, so
/// that moving is exercised.
const SPARSE_MOST: usize = if cfg!(test) { 40 } else { 1_024 };

/// The latencies of one route (or of all routes), in nanoseconds.
///
/// Memory is bounded whatever the number of requests (at most 104 KB, growing with the largest
/// latency: about 36 KB for latencies up to 100 ms), and two of these merge exactly, so
/// replications and shards combine without averaging percentiles.
///
/// Counts are kept per bucket of an HDR histogram, in one of two forms that give the same
/// counts and so every percentile the same (see [`Counts`]). A run records into a
/// [`super::LatencyRecorder`], whose one-byte counters keep the cache footprint of recording
/// small, and gets one of these at its end.
#[derive(Clone, Debug)]
pub struct LatencyStats {
    counts: Counts,
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

/// The count of each histogram bucket.
#[derive(Clone, Debug)]
enum Counts {
    /// (bucket index, count) of every non-empty bucket, in index order, while there are at
    /// most [`SPARSE_MOST`]: how a finished run's routes start.
    ///
    /// Why: a route of a model of thousands of routes finishes a few dozen requests, and a
    /// histogram spanning their latencies is tens of kilobytes — the allocation and zeroing
    /// of 3,000 of them were half of collecting a 10,000-service run's results.
    Sparse(Vec<(u32, u64)>),
    /// A histogram: latencies recorded one by one, or more distinct ones than a list holds.
    Dense(Dense),
}

/// A histogram with 32-bit counts, and the 64-bit one they spill into.
///
/// Counts are kept in 32 bits: half the memory of 64-bit counters. Before the total could reach
/// 2^32 — so before any counter could overflow — the counts spill into a 64-bit histogram (only
/// runs of billions of requests get one).
#[derive(Clone, Debug)]
struct Dense {
    histogram: Histogram<u32>,
    /// Counts moved out of `histogram` before its total reached [`SPILL_AT`].
    spilled: Option<Box<Histogram<u64>>>,
}

/// An empty histogram with meshsim's resolution and precision, holding only its first bucket:
/// it grows to the largest latency recorded (never past
/// [`BEYOND_NS`](super::buckets::BEYOND_NS): see [`put`]), so a route whose latencies stay
/// below 100 ms keeps a third of the counters one spanning 1 µs to 2.8 h would allocate. The
/// buckets are the same whatever the size, so every count and percentile is too.
fn empty<T: hdrhistogram::Counter>() -> Histogram<T> {
    let mut h = Histogram::new_with_bounds(LOWEST_NS, 2 * LOWEST_NS, SIGFIG)
        .expect("constant histogram bounds are valid");
    h.auto(true);
    h
}

/// Counts `count` latencies of `ns` into `h`, growing it as needed, exactly as a histogram
/// spanning 1 µs to [`HIGHEST_NS`] from the start would count them: from
/// [`BEYOND_NS`](super::buckets::BEYOND_NS) on, in the bucket of `HIGHEST_NS` (hdrhistogram's
/// saturation).
fn put<T: hdrhistogram::Counter>(h: &mut Histogram<T>, ns: u64, count: T) {
    h.record_n(saturated(ns), count)
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

impl Dense {
    fn new() -> Dense {
        Dense {
            histogram: empty(),
            spilled: None,
        }
    }

    #[inline]
    fn record(&mut self, ns: u64) {
        if self.histogram.len() >= SPILL_AT {
            self.spill();
        }
        put(&mut self.histogram, ns, 1);
    }

    /// Moves the 32-bit counts into the 64-bit histogram.
    #[cold]
    fn spill(&mut self) {
        add_counts(spilled(&mut self.spilled), &self.histogram);
        self.histogram.reset();
    }

    /// Adds `count` latencies of `value` ns.
    fn record_bucket(&mut self, value: u64, count: u64) {
        match u32::try_from(count) {
            Ok(small) if self.histogram.len() + count < SPILL_AT => {
                put(&mut self.histogram, value, small)
            }
            _ => put(spilled(&mut self.spilled), value, count),
        }
    }

    /// Adds (bucket index, count) pairs given in index order: from the top down, so that the
    /// histogram grows once, to the largest, not bucket by bucket.
    fn add_buckets(&mut self, buckets: &[(u32, u64)]) {
        for &(i, count) in buckets.iter().rev() {
            self.record_bucket(lowest_of(i as usize), count);
        }
    }

    fn merge(&mut self, other: &Dense) {
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
    }

    /// All the counts, with the spilled ones added in (a copy only when something has spilled).
    fn view(&self) -> View<'_> {
        match &self.spilled {
            None => View::Unspilled(&self.histogram),
            Some(spilled) => {
                let mut all = (**spilled).clone();
                add_counts(&mut all, &self.histogram);
                View::Combined(all)
            }
        }
    }
}

impl Counts {
    /// The counts as a histogram, moving them into one if they are a list.
    fn dense(&mut self) -> &mut Dense {
        if let Counts::Sparse(buckets) = self {
            let mut dense = Dense::new();
            dense.add_buckets(buckets);
            *self = Counts::Dense(dense);
        }
        match self {
            Counts::Dense(dense) => dense,
            Counts::Sparse(_) => unreachable!("moved into a histogram above"),
        }
    }

    /// Adds (bucket index, count) pairs given in index order, each index once.
    fn add_buckets(&mut self, buckets: &[(u32, u64)]) {
        match self {
            Counts::Sparse(mine) => {
                match buckets {
                    [] => return,
                    // One bucket (a recorder's counter that wrapped): found or inserted in place.
                    &[(i, count)] => match mine.binary_search_by_key(&i, |b| b.0) {
                        Ok(at) => mine[at].1 += count,
                        Err(at) => mine.insert(at, (i, count)),
                    },
                    _ if mine.is_empty() => mine.extend_from_slice(buckets),
                    _ => *mine = super::merged_by_key(mine, buckets),
                }
                if mine.len() > SPARSE_MOST {
                    self.dense();
                }
            }
            Counts::Dense(dense) => dense.add_buckets(buckets),
        }
    }

    fn view(&self) -> View<'_> {
        match self {
            Counts::Sparse(buckets) => View::Sparse(buckets),
            Counts::Dense(dense) => dense.view(),
        }
    }
}

/// All the counts of a [`LatencyStats`], for queries.
enum View<'a> {
    /// A list of the non-empty buckets.
    Sparse(&'a [(u32, u64)]),
    /// Nothing has spilled: the 32-bit histogram is all there is.
    Unspilled(&'a Histogram<u32>),
    /// Spilled and unspilled counts, added up.
    Combined(Histogram<u64>),
}

impl View<'_> {
    /// What `hdrhistogram`'s `value_at_quantile` gives for these counts, a list's included.
    fn value_at_quantile(&self, q: f64) -> u64 {
        match self {
            View::Sparse(buckets) => sparse_value_at_quantile(buckets, q),
            View::Unspilled(h) => h.value_at_quantile(q),
            View::Combined(h) => h.value_at_quantile(q),
        }
    }

    /// (highest value of the bucket in ns, count) of every non-empty bucket, in value order.
    fn buckets(&self) -> Vec<(u64, u64)> {
        match self {
            View::Sparse(buckets) => buckets
                .iter()
                .map(|&(i, count)| (highest_of(i as usize), count))
                .collect(),
            View::Unspilled(h) => h
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), u64::from(v.count_at_value())))
                .collect(),
            View::Combined(h) => h
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        }
    }
}

/// `hdrhistogram`'s `value_at_quantile` (7.6) over a list of non-empty buckets: the bucket where
/// the running count first reaches ⌈q × total⌉ (at least 1), reported as its highest value, or
/// its lowest for q = 0.
fn sparse_value_at_quantile(buckets: &[(u32, u64)], q: f64) -> u64 {
    let q = if q > 1.0 { 1.0 } else { q };
    let total: u64 = buckets.iter().map(|b| b.1).sum();
    let target = ((q * total as f64).ceil() as u64).max(1);
    let mut seen = 0u64;
    for &(i, count) in buckets {
        seen += count;
        if seen >= target {
            return if q == 0.0 {
                lowest_of(i as usize)
            } else {
                highest_of(i as usize)
            };
        }
    }
    0
}

impl LatencyStats {
    /// An empty distribution (it allocates nothing until its first latency).
    pub fn new() -> Self {
        LatencyStats {
            counts: Counts::Sparse(Vec::new()),
            count: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }

    /// Records one latency (into a histogram: recording one by one is what they are fast at).
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.counts.dense().record(ns);
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

    /// Adds (bucket index, count) pairs, in index order and each index once, to the histogram
    /// only (restoring a snapshot, adding up recorders, settling a recorder's counters or one
    /// that wrapped).
    pub(super) fn add_buckets(&mut self, buckets: &[(u32, u64)]) {
        self.counts.add_buckets(buckets);
    }

    /// Forgets every latency recorded (keeping a histogram's allocation).
    pub fn clear(&mut self) {
        match &mut self.counts {
            Counts::Sparse(buckets) => buckets.clear(),
            Counts::Dense(dense) => {
                dense.histogram.reset();
                dense.spilled = None;
            }
        }
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
        self.counts
            .view()
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
        match &other.counts {
            Counts::Sparse(theirs) => self.counts.add_buckets(theirs),
            Counts::Dense(theirs) => self.counts.dense().merge(theirs),
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
            .counts
            .view()
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
            .counts
            .view()
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
            buckets: self.counts.view().buckets(),
        }
    }

    /// Restores from the stored form; `None` if it is inconsistent.
    pub fn from_snapshot(s: &LatencySnapshot) -> Option<LatencyStats> {
        let total = s
            .buckets
            .iter()
            .try_fold(0u64, |sum, b| sum.checked_add(b.1))?;
        let mut buckets: Vec<(u32, u64)> = s
            .buckets
            .iter()
            .filter(|b| b.1 > 0)
            .map(|&(value, count)| (index_of(saturated(value)) as u32, count))
            .collect();
        // Stored in value order; a file edited by hand may not be, or may name a bucket twice
        // (its counts add up, as a histogram's would).
        super::add_up_by_key(&mut buckets);
        let mut stats = LatencyStats::new();
        stats.add_buckets(&buckets);
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

    /// The histogram of latencies recorded one by one.
    fn dense(s: &LatencyStats) -> &Dense {
        match &s.counts {
            Counts::Dense(dense) => dense,
            Counts::Sparse(_) => panic!("latencies recorded one by one go into a histogram"),
        }
    }

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
        let held = dense(&s).histogram.distinct_values();
        assert!(
            held * 2 < full.distinct_values(),
            "{held} of {}",
            full.distinct_values()
        );
        s.record(HIGHEST_NS * 10);
        assert!(dense(&s).histogram.distinct_values() <= full.distinct_values());
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
        assert!(dense(&all).spilled.is_some() && dense(&all).histogram.len() <= SPILL_AT);
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

    /// `latencies` as a list of buckets, as a run's routes finish (recorded through
    /// `add_buckets`, whatever their number).
    fn listed(latencies: &[u64]) -> LatencyStats {
        let mut counts = std::collections::BTreeMap::new();
        let mut s = LatencyStats::new();
        for &ns in latencies {
            *counts.entry(index_of(saturated(ns)) as u32).or_insert(0u64) += 1;
            s.record_summary(ns);
        }
        s.add_buckets(&counts.into_iter().collect::<Vec<_>>());
        s
    }

    fn is_list(s: &LatencyStats) -> bool {
        matches!(s.counts, Counts::Sparse(_))
    }

    /// Every statistic a report reads (floats as their bits): snapshot, quantiles, CDF and
    /// fractions below a few latencies.
    type Everything = (LatencySnapshot, Vec<u64>, Vec<(u64, u64)>, Vec<u64>);

    /// [`Everything`] of `s`, for comparing two distributions exactly.
    fn everything(s: &LatencyStats) -> Everything {
        let bits = |v: f64| v.to_bits();
        let quantiles = [0.0, 1e-9, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0, 1.5];
        let fractions = [0.0005, 0.001, 0.7, 3.0, 1e3, 1e9];
        (
            s.snapshot(),
            quantiles.iter().map(|&q| bits(s.quantile_ms(q))).collect(),
            s.cdf().iter().map(|&(x, y)| (bits(x), bits(y))).collect(),
            fractions
                .iter()
                .map(|&ms| bits(s.fraction_at_or_below_ms(ms)))
                .collect(),
        )
    }

    /// A run's routes finish as lists of their non-empty buckets: every statistic is the one a
    /// histogram of the same latencies gives — `hdrhistogram`'s own percentiles — alone and
    /// merged either way; a list that grows past [`SPARSE_MOST`] buckets moves into a histogram.
    #[test]
    fn a_list_of_buckets_gives_what_a_histogram_of_the_same_latencies_gives() {
        let awkward = crate::stats::buckets::tests::awkward_latencies();
        for n in [1, 2, 7, 30, SPARSE_MOST, SPARSE_MOST + 1, 600] {
            // Repeated latencies too: some buckets count several.
            let latencies: Vec<u64> = (0..n).map(|k| awkward[(k * k) % (n / 2 + 1)]).collect();
            let list = listed(&latencies);
            let mut histogram = LatencyStats::new();
            let mut reference: Histogram<u64> = empty();
            for &ns in &latencies {
                histogram.record(ns);
                put(&mut reference, ns, 1);
            }
            let distinct = reference.iter_recorded().count();
            assert_eq!(is_list(&list), distinct <= SPARSE_MOST, "{n} latencies");
            assert_eq!(everything(&list), everything(&histogram), "{n} latencies");
            for q in [0.0, 0.001, 0.5, 0.99, 1.0] {
                let expected = reference
                    .value_at_quantile(q)
                    .clamp(list.min_ns, list.max_ns);
                assert_eq!(list.quantile_ms(q), expected as f64 / 1e6, "q = {q}");
            }
            // Merged with more latencies, of either form, in either order.
            let more: Vec<u64> = awkward.iter().rev().take(n).copied().collect();
            let mut all = histogram.clone();
            for &ns in &more {
                all.record(ns);
            }
            for (mut a, b) in [
                (list.clone(), listed(&more)),
                (listed(&more), list.clone()),
                (listed(&more), histogram.clone()),
                (histogram.clone(), listed(&more)),
                (LatencyStats::new(), all.clone()),
            ] {
                a.merge(&b);
                assert_eq!(everything(&a), everything(&all), "{n} latencies");
            }
        }
    }

    /// A stored distribution comes back in the form it would have had: a list when its buckets
    /// are few, even if the file names them out of order or twice.
    #[test]
    fn a_snapshot_of_few_buckets_restores_as_a_list() {
        let s = listed(&[2_000_000, 2_000_001, 9_000_000, 40_000]);
        let mut snapshot = s.snapshot();
        let back = LatencyStats::from_snapshot(&snapshot).unwrap();
        assert!(is_list(&back));
        assert_eq!(everything(&back), everything(&s));
        // Out of order, with the first bucket split in two entries.
        let (value, count) = snapshot.buckets.remove(0);
        snapshot.buckets.push((value, count - 1));
        snapshot.buckets.push((value, 1));
        let back = LatencyStats::from_snapshot(&snapshot).unwrap();
        assert_eq!(everything(&back), everything(&s));
        snapshot.count += 1;
        assert!(LatencyStats::from_snapshot(&snapshot).is_none());
    }

    #[test]
    fn empty_stats_are_nan_not_zero() {
        let s = LatencyStats::new();
        assert!(s.mean_ms().is_nan() && s.quantile_ms(0.5).is_nan());
    }
}
