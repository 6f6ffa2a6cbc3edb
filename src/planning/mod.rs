//! Is the architecture worth it? Capacity at an SLO, right-sizing, and side-by-side comparison
//! of architectures, all by replicated simulation judged with confidence intervals.

pub mod capacity;
pub mod compare;
pub mod rightsize;
pub mod slo;

pub use capacity::{Capacity, capacity, idle_check};
pub use compare::{Comparison, compare};
pub use rightsize::{Rightsized, rightsize};
pub use slo::{Slo, SloMetric, Verdict};

/// Why a planning question has no answer.
#[derive(Debug, thiserror::Error)]
pub enum PlanningError {
    /// The model cannot meet the question whatever the search does (an SLO below what an idle
    /// system achieves, a bottleneck more instances do not relieve, an unknown route): a model
    /// problem, exit 2.
    #[error("{0}")]
    Model(String),
    /// The search gave up (too many tries, interrupted): exit 1.
    #[error("{0}")]
    Search(String),
}

impl From<PlanningError> for crate::error::Error {
    fn from(e: PlanningError) -> Self {
        match e {
            PlanningError::Model(m) => crate::error::Error::Usage(m),
            PlanningError::Search(m) => crate::error::Error::Failed(m),
        }
    }
}
