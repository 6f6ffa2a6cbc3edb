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

/// Sorts (key, amount) pairs by key and adds up the amounts of each key: each key once, in key
/// order.
pub(crate) fn add_up_by_key(pairs: &mut Vec<(u32, u64)>) {
    pairs.sort_unstable_by_key(|e| e.0);
    pairs.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            kept.1 += later.1;
        }
        same
    });
}
