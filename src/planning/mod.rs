//! Is the architecture worth it? Capacity at an SLO, right-sizing, and side-by-side comparison
//! of architectures, all by replicated simulation judged with confidence intervals.

pub mod capacity;
pub mod compare;
pub mod rightsize;
pub mod slo;

pub use capacity::{Capacity, capacity};
pub use compare::{Comparison, compare};
pub use rightsize::{Rightsized, rightsize};
pub use slo::{Slo, SloMetric, Verdict};
