//! Statistics collected during a run and computed over replications: latency distributions,
//! time-weighted averages, and confidence intervals.

mod ci;
mod latency;
mod recorder;
mod time_weighted;

pub use ci::{MeanCi, mean_ci95, student_t_975};
pub use latency::{LatencySnapshot, LatencyStats};
pub use recorder::LatencyRecorder;
pub use time_weighted::TimeWeighted;
