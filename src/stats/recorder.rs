//! Recording latencies during a run: one-byte counters in front of the HDR histogram.
//!
//! Why: recording a latency is one read-modify-write of a counter picked by the latency, and the
//! counters a run touches (1–30 ms at 3 significant digits: ~5,000 per route) are spread over
//! tens of kilobytes — more than the first-level cache holds next to everything else the run
//! loop touches, and much more when a busy neighbour on the same core shares that cache. The
//! misses on them made meshsim lose more speed than the minimal simulation when this machine
//! slows down. Here each counter is one byte, indexed exactly as `hdrhistogram` indexes its own
//! (so a counter is one of its buckets): a quarter of the 32-bit counters' footprint. A counter
//! that wraps around after 255 carries 256 into the histogram, and [`LatencyRecorder::settle`]
//! moves the rest there, so the histogram ends up with exactly the counts recording every
//! latency into it would have given (a unit test checks this against `hdrhistogram` itself).

use super::LatencyStats;
use super::buckets::{SUB_BUCKET_HALF, SUB_BUCKET_HALF_MAGNITUDE, UNIT_MAGNITUDE, index_of};
use super::latency::HIGHEST_NS;

/// Buckets the byte counters cover; each doubles the range of the one before.
const BUCKETS: u32 = 21;
/// Latencies from this one on (2^40 ns, about 18 minutes) go straight into the histogram.
const LIMIT_NS: u64 = 1 << (UNIT_MAGNITUDE + SUB_BUCKET_HALF_MAGNITUDE + BUCKETS);
/// Number of byte counters: the histogram's first `BUCKETS` buckets.
const COUNTERS: usize = (BUCKETS as usize + 1) * SUB_BUCKET_HALF;

const _: () = assert!(
    LIMIT_NS <= HIGHEST_NS,
    "the counters stay inside the histogram"
);

/// The latencies of one route while a run records them; [`LatencyRecorder::settle`] or
/// [`LatencyRecorder::into_stats`] gives them as a [`LatencyStats`].
#[derive(Clone, Debug)]
pub struct LatencyRecorder {
    /// Counts modulo 256 of the latencies below [`LIMIT_NS`], by histogram bucket: as many
    /// whole buckets as the largest latency recorded needs (none before the first), so that
    /// thousands of routes do not each hold counters up to 18 minutes.
    counters: Vec<u8>,
    /// Everything else: count, sum and extremes of every latency, and the histogram's counts of
    /// wrapped counters, settled counters, and latencies from [`LIMIT_NS`] on.
    stats: LatencyStats,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyRecorder {
    /// Nothing recorded yet.
    pub fn new() -> Self {
        LatencyRecorder {
            counters: Vec::new(),
            stats: LatencyStats::new(),
        }
    }

    /// Records one latency.
    #[inline(always)]
    pub fn record(&mut self, ns: u64) {
        if ns < LIMIT_NS {
            let i = index_of(ns);
            match self.counters.get_mut(i) {
                Some(counter) => {
                    *counter = counter.wrapping_add(1);
                    if *counter == 0 {
                        self.carry(i);
                    }
                }
                None => self.grow_to(i),
            }
            self.stats.record_summary(ns);
        } else {
            self.stats.record(ns);
        }
    }

    /// Asks the CPU to load the counter a latency of `ns` would be recorded in (nothing if it
    /// has none yet): a run about to finish a request of a route whose counters are cold.
    #[inline(always)]
    pub fn prefetch_counter(&self, ns: u64) {
        if ns < LIMIT_NS
            && let Some(counter) = self.counters.get(index_of(ns))
        {
            crate::engine::prefetch(counter);
        }
    }

    /// The first latency of counter `i` past the counters held: they grow to the end of its
    /// bucket.
    #[cold]
    #[inline(never)]
    fn grow_to(&mut self, i: usize) {
        let end = ((i >> SUB_BUCKET_HALF_MAGNITUDE) + 1) << SUB_BUCKET_HALF_MAGNITUDE;
        self.counters.resize(end.min(COUNTERS), 0);
        self.counters[i] = 1;
    }

    /// A counter wrapped around: 256 latencies move into the histogram.
    #[cold]
    #[inline(never)]
    fn carry(&mut self, i: usize) {
        self.stats.add_buckets(&[(i as u32, 256)]);
    }

    /// Every latency recorded so far, with the counters moved into the histogram.
    pub fn settle(&mut self) -> &LatencyStats {
        if let Some((low, high)) = self.held() {
            let mut held = Vec::new();
            held_counters(low, &self.counters[low..=high], &mut held);
            self.stats.add_buckets(&held);
            self.counters[low..=high].fill(0);
        }
        &self.stats
    }

    /// The first and last counter that can be non-zero: those of the extremes (none before a
    /// latency below [`LIMIT_NS`]). The counters reach the smallest latency's whenever any are
    /// held (they grow to the largest below `LIMIT_NS`), so the first is never past the last.
    fn held(&self) -> Option<(usize, usize)> {
        if self.stats.count() == 0 || self.counters.is_empty() {
            return None;
        }
        let low = index_of(self.stats.min_ns().min(LIMIT_NS - 1));
        let high = index_of(self.stats.max_ns().min(LIMIT_NS - 1)).min(self.counters.len() - 1);
        Some((low, high))
    }

    /// Every latency of `recorders` together: what merging their [`LatencyRecorder::into_stats`]
    /// gives, every count and percentile the same.
    ///
    /// Why not merge those: adding one histogram to another walks every bucket of the one
    /// added (about 10,000 for latencies up to 100 ms), whatever it holds, and the `all` row of
    /// a model of 3,000 routes merged 3,000 of them — a fifth of collecting such a run's
    /// results. Here the byte counters between each recorder's extremes are added up, eight
    /// zeros skipped at a time, and moved into one histogram once; only what the recorders had
    /// already moved into theirs is merged, which costs nothing for the many routes that moved
    /// nothing.
    pub fn combined(recorders: &[LatencyRecorder]) -> LatencyStats {
        let longest = recorders
            .iter()
            .map(|r| r.counters.len())
            .max()
            .unwrap_or(0);
        let mut counts = vec![0u64; longest];
        let mut held = Vec::new();
        let mut stats = LatencyStats::new();
        for r in recorders {
            stats.merge(&r.stats);
            let Some((low, high)) = r.held() else {
                continue;
            };
            held.clear();
            held_counters(low, &r.counters[low..=high], &mut held);
            for &(i, count) in &held {
                counts[i as usize] += count;
            }
        }
        let buckets: Vec<(u32, u64)> = (counts.iter().enumerate())
            .filter(|&(_, &count)| count != 0)
            .map(|(i, &count)| (i as u32, count))
            .collect();
        stats.add_buckets(&buckets);
        stats
    }

    /// Every latency recorded.
    pub fn into_stats(mut self) -> LatencyStats {
        self.settle();
        self.stats
    }
}

/// Appends (index, count) of the counters of `counters` that are not zero, in index order, the
/// first counter's index being `first`. A word of eight counters at a time: eight zeros are
/// skipped with one test, and each counter held is found by its word's lowest set bit — a
/// route of a large model holds a few dozen latencies over thousands of counters, and a route
/// of the built-in model settles its counters every 1,024 requests.
fn held_counters(first: usize, counters: &[u8], out: &mut Vec<(u32, u64)>) {
    let (words, rest) = counters.as_chunks::<8>();
    for (w, eight) in words.iter().enumerate() {
        let mut word = u64::from_le_bytes(*eight);
        while word != 0 {
            let byte = word.trailing_zeros() / 8;
            let at = first + 8 * w + byte as usize;
            out.push((at as u32, (word >> (8 * byte)) & 0xff));
            word &= !(0xff << (8 * byte));
        }
    }
    let rest_first = first + 8 * words.len();
    for (i, &count) in rest.iter().enumerate() {
        if count != 0 {
            out.push(((rest_first + i) as u32, u64::from(count)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::buckets::lowest_of;
    use crate::stats::buckets::tests::{awkward_latencies, reference};

    /// The counters are the histogram's first buckets (`buckets.rs` checks the indexing
    /// against `hdrhistogram`), all of them below [`LIMIT_NS`].
    #[test]
    fn the_counters_are_the_first_buckets_below_the_limit() {
        assert_eq!(index_of(LIMIT_NS - 1), COUNTERS - 1);
        assert_eq!(lowest_of(COUNTERS), LIMIT_NS);
    }

    /// A recorder holds no counters before its first latency, and only the buckets its largest
    /// latency needs after: a route of 1–100 ms latencies about a third of them.
    #[test]
    fn counters_grow_with_the_largest_latency_only() {
        let mut r = LatencyRecorder::new();
        assert!(r.counters.is_empty());
        assert_eq!(r.settle().count(), 0);
        for ms in 1..=100u64 {
            r.record(ms * 1_000_000);
        }
        let held = r.counters.len();
        assert!(held > 0 && held <= COUNTERS / 2, "{held} of {COUNTERS}");
        // Smaller latencies need no more.
        r.record(5_000);
        assert_eq!(r.counters.len(), held);
        assert_eq!(r.into_stats().count(), 101);
    }

    /// Counters that wrap many times, latencies past the counters' range, settling in the middle
    /// of a run: the result is what recording everything into one histogram gives.
    #[test]
    fn recording_gives_the_counts_of_one_histogram_of_everything() {
        let mut h = reference();
        let mut direct = LatencyStats::new();
        let mut recorder = LatencyRecorder::new();
        let mut latencies = awkward_latencies();
        // One bucket far past 256 counts, another at exactly 256 and 512.
        latencies.extend(std::iter::repeat_n(3_000_000, 1_000));
        latencies.extend(std::iter::repeat_n(7_777_777, 512));
        for (k, &ns) in latencies.iter().enumerate() {
            h.saturating_record(ns);
            direct.record(ns);
            recorder.record(ns);
            if k == 2_500 {
                assert_eq!(recorder.settle().count(), 2_501);
            }
        }
        let stats = recorder.into_stats();
        assert_eq!(stats.snapshot(), direct.snapshot());
        let buckets: Vec<(u64, u64)> = h
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        assert_eq!(stats.snapshot().buckets, buckets);
        for q in [0.0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.9999, 1.0] {
            assert_eq!(stats.quantile_ms(q), direct.quantile_ms(q), "q = {q}");
        }
    }

    /// The `all` row of a run: the recorders' latencies added up give what merging each one's
    /// histogram gives — with counters of different lengths, counters that wrapped, latencies
    /// past the counters, a recorder settled in the middle and one that recorded nothing.
    #[test]
    fn recorders_combined_are_their_histograms_merged() {
        let latencies = awkward_latencies();
        let mut recorders: Vec<LatencyRecorder> = (0..4).map(|_| LatencyRecorder::new()).collect();
        for (k, &ns) in latencies.iter().enumerate() {
            // Recorder 0 gets the smallest latencies only (the shortest counters); 3 nothing.
            let r = if ns < 5_000_000 { k % 3 } else { 1 + k % 2 };
            recorders[r].record(ns);
        }
        for _ in 0..700 {
            recorders[2].record(3_000_000);
        }
        recorders[1].settle();
        recorders[1].record(42_000);
        let combined = LatencyRecorder::combined(&recorders);
        let mut merged = LatencyStats::new();
        for r in recorders {
            merged.merge(&r.into_stats());
        }
        assert_eq!(combined.count(), latencies.len() as u64 + 701);
        assert_eq!(combined.snapshot(), merged.snapshot());
        for q in [0.0, 0.01, 0.5, 0.9, 0.99, 1.0] {
            assert_eq!(combined.quantile_ms(q), merged.quantile_ms(q), "q = {q}");
        }
        assert_eq!(LatencyRecorder::combined(&[]).count(), 0);
    }

    /// Every length (words and a remainder), sparse and dense counters, every byte value.
    #[test]
    fn the_counters_held_are_every_counter_not_zero_in_order() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        for len in (0..40).chain([1_000, 4_099]) {
            for zeros in [0.0, 0.5, 0.97, 1.0] {
                let counters: Vec<u8> = (0..len)
                    .map(|_| {
                        if rng.random::<f64>() < zeros {
                            0
                        } else {
                            rng.random_range(1..=255)
                        }
                    })
                    .collect();
                let first = rng.random_range(0..100);
                let expected: Vec<(u32, u64)> = (counters.iter().enumerate())
                    .filter(|&(_, &c)| c != 0)
                    .map(|(i, &c)| ((first + i) as u32, u64::from(c)))
                    .collect();
                let mut held = vec![(9, 9)];
                held_counters(first, &counters, &mut held);
                assert_eq!(held[0], (9, 9), "appended, not replaced");
                assert_eq!(held[1..], expected[..], "{len} counters, {zeros} zeros");
            }
        }
    }

    #[test]
    fn settling_twice_counts_nothing_twice() {
        let mut recorder = LatencyRecorder::new();
        for ns in [1_500_000, 1_500_000, 9_000_000] {
            recorder.record(ns);
        }
        let once = recorder.settle().snapshot();
        let twice = recorder.settle().snapshot();
        assert_eq!(once, twice);
        assert_eq!(once.buckets.iter().map(|b| b.1).sum::<u64>(), 3);
    }
}
