//! How far an analytic number can be trusted: exact, approximate (and by which method), or not
//! analysable at all.

use std::collections::BTreeSet;
use std::fmt;

/// The standing of one analytic number.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Quality {
    /// The approximations the number rests on; empty means exact.
    pub approximations: BTreeSet<String>,
    /// Set when the number cannot be computed at all, with the reason.
    pub cannot: Option<String>,
}

/// The approximation behind every number of a service on a host in a closed workload: its CPU
/// work taken at full speed, as if it had the cores to itself (open workloads solve the sharing
/// by processor sharing, see `hosts.rs`).
pub const CPU_SHARING: &str = "CPU work at full speed: sharing of the host's cores not analysed";

/// The approximation behind every number of a service whose workers wait for downstream calls.
pub const BLOCKING: &str = "blocking workers: held time as service time";

impl Quality {
    /// The approximations both analyses make about a service's structure: blocking workers, and
    /// a balancer other than `random` treated as a random split (`split` says how).
    pub fn add_structure(&mut self, service: &crate::model::Service, split: &str) {
        if service.blocking {
            self.approx(BLOCKING);
        }
        if service.instances > 1 && service.load_balancer != crate::model::LoadBalancer::Random {
            self.approx(format!("{} split {split}", service.load_balancer.as_str()));
        }
    }

    /// An exact result.
    pub fn exact() -> Quality {
        Quality::default()
    }

    /// Adds an approximation by name (e.g. "M/G/c Allen–Cunneen").
    pub fn approx(&mut self, name: impl Into<String>) {
        self.approximations.insert(name.into());
    }

    /// Marks the number as not analysable (the first reason is kept).
    pub fn cannot(&mut self, reason: impl Into<String>) {
        if self.cannot.is_none() {
            self.cannot = Some(reason.into());
        }
    }

    /// Combines what two numbers rest on, for a number computed from both.
    pub fn merge(&mut self, other: &Quality) {
        self.approximations
            .extend(other.approximations.iter().cloned());
        if let Some(r) = &other.cannot {
            self.cannot(r.clone());
        }
    }

    /// Whether the number is exact.
    pub fn is_exact(&self) -> bool {
        self.cannot.is_none() && self.approximations.is_empty()
    }

    /// Whether there is a number at all.
    pub fn is_available(&self) -> bool {
        self.cannot.is_none()
    }
}

impl fmt::Display for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.cannot {
            return write!(f, "cannot analyse: {r}");
        }
        if self.approximations.is_empty() {
            return write!(f, "exact");
        }
        let names: Vec<&str> = self.approximations.iter().map(String::as_str).collect();
        write!(f, "approx: {}", names.join("; "))
    }
}
