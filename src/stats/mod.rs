//! Statistics collected during a run and computed over replications: latency distributions,
//! time-weighted averages, and confidence intervals.

mod buckets;
mod ci;
mod latency;
mod recorder;
mod time_weighted;

pub use ci::{MeanCi, mean_ci95, student_t_975};
pub use latency::{LatencySnapshot, LatencyStats};
pub use recorder::LatencyRecorder;
pub use time_weighted::TimeWeighted;

/// What is added up per key: a count, or two totals side by side.
pub(crate) trait Amount: Copy {
    fn plus(self, other: Self) -> Self;
}

impl Amount for u64 {
    #[inline(always)]
    fn plus(self, other: u64) -> u64 {
        self + other
    }
}

impl Amount for [u64; 2] {
    #[inline(always)]
    fn plus(self, other: [u64; 2]) -> [u64; 2] {
        [self[0] + other[0], self[1] + other[1]]
    }
}

/// Sorts (key, amount) pairs by key and adds up the amounts of each key: each key once, in key
/// order.
pub(crate) fn add_up_by_key<A: Amount>(pairs: &mut Vec<(u32, A)>) {
    pairs.sort_unstable_by_key(|e| e.0);
    pairs.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            kept.1 = kept.1.plus(later.1);
        }
        same
    });
}

/// Two lists of (key, amount), each in key order with each key once, added into one: a pass
/// over both, where sorting them together would not see that each is in order already.
pub(crate) fn merged_by_key<A: Amount>(a: &[(u32, A)], b: &[(u32, A)]) -> Vec<(u32, A)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        out.push(match x.0.cmp(&y.0) {
            std::cmp::Ordering::Less => {
                i += 1;
                x
            }
            std::cmp::Ordering::Greater => {
                j += 1;
                y
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
                (x.0, x.1.plus(y.1))
            }
        });
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}
