//! Where a model saturates, found by simulating it. The analytic bound
//! ([`super::saturation`]) holds each blocking worker for its calls' response times at the
//! model's own rate; near capacity those calls queue and a host's cores are shared by more
//! work, so the worker is held longer and the model saturates below the bound — on the real
//! gateway → user/order system by 15% (reality/README.md). Simulation needs no such
//! assumption: the rate sought is the one from which the backlog grows.

use crate::engine::SimTime;
use crate::model::Model;
use crate::sim::{Cancel, Limits, Options};

/// Requests simulated per probe, so that a probe costs the same for any rate (within the
/// bounds on its length below).
const REQUESTS_PER_PROBE: f64 = 200_000.0;

/// The saturation rate found by simulation.
pub struct SimulatedSaturation {
    /// The rate (req/s) halfway between the highest probed without a growing backlog and the
    /// lowest probed with one; they are within 1% of each other.
    pub rate: f64,
    /// Simulated seconds of each probe.
    pub probe_s: f64,
    pub probes: u32,
}

/// Bisection on whether the model's backlog grows over a long run (the `saturated` flag of
/// its results), from its analytic `bound`. `None` when no rate up to 8× the bound makes it
/// grow: bounded queues and deadlines refuse work instead of queueing it, and the bound
/// stands. Deterministic: every probe runs with the model's own seed.
pub fn simulated_saturation(
    model: &Model,
    bound: f64,
    cancel: &Cancel,
) -> Option<SimulatedSaturation> {
    let probe_s = (REQUESTS_PER_PROBE / bound).clamp(60.0, 600.0);
    let mut probes = 0;
    let mut grows = |rate: f64| -> Option<bool> {
        probes += 1;
        let mut m = super::at_rate(model, rate);
        m.duration = SimTime::from_secs_f64(probe_s);
        m.warmup = SimTime::from_secs_f64(probe_s / 10.0);
        let options = Options {
            limits: Limits {
                // Growth shows long before this; a probe far past capacity stops early.
                max_in_flight: (rate * probe_s / 4.0).max(1_000.0) as u64,
                ..Limits::default()
            },
            cancel: *cancel,
            ..Options::default()
        };
        let result = crate::sim::simulate_with(&m, &options);
        (!cancel.requested()).then_some(result.all.saturated)
    };
    let (mut lo, mut hi) = (0.0, bound);
    while !grows(hi)? {
        if hi >= 8.0 * bound {
            return None;
        }
        (lo, hi) = (hi, 2.0 * hi);
    }
    while hi - lo > 0.01 * hi {
        let mid = (lo + hi) / 2.0;
        if grows(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(SimulatedSaturation {
        rate: (lo + hi) / 2.0,
        probe_s,
        probes,
    })
}
