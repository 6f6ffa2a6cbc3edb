//! The buckets of meshsim's latency histograms by index, computed as `hdrhistogram` computes
//! them for its bounds (1 µs to [`HIGHEST_NS`], [`SIGFIG`] significant digits).
//!
//! Why by hand: a latency's bucket index is what the run's byte counters
//! ([`super::LatencyRecorder`]) and a sparse [`super::LatencyStats`] are keyed by, and neither
//! holds a `Histogram` to ask. A unit test checks every function here against `hdrhistogram`.

use super::latency::{HIGHEST_NS, LOWEST_NS, SIGFIG};

/// log2 of the histogram's unit: values are counted in units of 2^9 = 512 ns, the largest power
/// of two not above [`LOWEST_NS`] (as `hdrhistogram` derives it).
pub(super) const UNIT_MAGNITUDE: u32 = 63 - LOWEST_NS.leading_zeros();
/// log2 of the number of sub-buckets per bucket: enough for [`SIGFIG`] digits (2,048 for 3).
const SUB_BUCKET_MAGNITUDE: u32 = 64 - (2 * 10u64.pow(SIGFIG as u32) - 1).leading_zeros();
pub(super) const SUB_BUCKET_HALF_MAGNITUDE: u32 = SUB_BUCKET_MAGNITUDE - 1;
pub(super) const SUB_BUCKET_HALF: usize = 1 << SUB_BUCKET_HALF_MAGNITUDE;

/// The first latency a histogram spanning 1 µs to [`HIGHEST_NS`] has no bucket for: its last
/// bucket ends at the power of two above `HIGHEST_NS` (2^44 ns, about 4.9 hours).
pub(super) const BEYOND_NS: u64 = 1 << (64 - HIGHEST_NS.leading_zeros());

/// The latency a histogram spanning 1 µs to [`HIGHEST_NS`] counts `ns` as: `ns` itself below
/// [`BEYOND_NS`], and from there on `HIGHEST_NS` (hdrhistogram's saturation).
#[inline(always)]
pub(super) fn saturated(ns: u64) -> u64 {
    if ns < BEYOND_NS { ns } else { HIGHEST_NS }
}

/// The index of the bucket counting a latency of `ns` (below [`BEYOND_NS`]).
#[inline(always)]
pub(super) fn index_of(ns: u64) -> usize {
    // The bucket is how many powers of two `ns` lies above the first bucket's range (the mask
    // maps smaller values to bucket 0); within it, the sub-bucket is `ns` at that resolution.
    let sub_bucket_mask = ((1u64 << SUB_BUCKET_MAGNITUDE) - 1) << UNIT_MAGNITUDE;
    let bucket =
        64 - UNIT_MAGNITUDE - SUB_BUCKET_MAGNITUDE - (ns | sub_bucket_mask).leading_zeros();
    let sub_bucket = (ns >> (bucket + UNIT_MAGNITUDE)) as usize;
    ((bucket as usize + 1) << SUB_BUCKET_HALF_MAGNITUDE) + sub_bucket - SUB_BUCKET_HALF
}

/// The bucket (power of two) and sub-bucket of index `i`.
fn location_of(i: usize) -> (u32, u64) {
    match (i >> SUB_BUCKET_HALF_MAGNITUDE).checked_sub(1) {
        // The lower half of the first bucket.
        None => (0, i as u64),
        Some(bucket) => (
            bucket as u32,
            ((i & (SUB_BUCKET_HALF - 1)) + SUB_BUCKET_HALF) as u64,
        ),
    }
}

/// The lowest latency counted in bucket `i` (the inverse of [`index_of`]).
pub(super) fn lowest_of(i: usize) -> u64 {
    let (bucket, sub_bucket) = location_of(i);
    sub_bucket << (bucket + UNIT_MAGNITUDE)
}

/// The highest latency counted in bucket `i`: what `hdrhistogram` reports for it.
pub(super) fn highest_of(i: usize) -> u64 {
    let (bucket, sub_bucket) = location_of(i);
    ((sub_bucket + 1) << (bucket + UNIT_MAGNITUDE)) - 1
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use hdrhistogram::Histogram;

    pub fn reference() -> Histogram<u64> {
        Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGFIG).unwrap()
    }

    /// Latencies at and around every power of two and every bucket edge, plus a spread.
    pub fn awkward_latencies() -> Vec<u64> {
        let mut v: Vec<u64> = vec![0, 1, 511, 512, 513, 999, 1_000, 1_001];
        for k in 0..64 {
            let p = 1u64 << k;
            v.extend([p - 1, p, p.saturating_add(1)]);
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Log-uniform over 1 ns … 2^50 ns.
            v.push(x >> (14 + x % 50));
        }
        v
    }

    #[test]
    fn every_index_is_the_histogram_bucket_of_its_latencies() {
        let h = reference();
        for ns in awkward_latencies().into_iter().map(saturated) {
            let i = index_of(ns);
            assert_eq!(lowest_of(i), h.lowest_equivalent(ns), "{ns} ns");
            assert_eq!(highest_of(i), h.highest_equivalent(ns), "{ns} ns");
            assert_eq!(index_of(h.highest_equivalent(ns)), i, "{ns} ns");
            assert_eq!(index_of(h.lowest_equivalent(ns)), i, "{ns} ns");
        }
        // The histogram's last bucket ends just below BEYOND_NS.
        assert_eq!(highest_of(index_of(BEYOND_NS - 1)), BEYOND_NS - 1);
        assert_eq!(index_of(BEYOND_NS - 1) + 1, h.distinct_values());
    }
}
