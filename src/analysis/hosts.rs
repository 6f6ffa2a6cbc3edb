//! The cores of a host shared by processor sharing: what `analyze` can say exactly.
//!
//! With n calls computing and b background cores on c cores of speed s, each call's work
//! advances at s·min(1, c / (n + b)): the host serves work at φ(n) = n·s·min(1, c / (n + b)),
//! a rate that depends only on how many compute — Cohen's generalised processor sharing. Such a
//! queue is insensitive: with Poisson arrivals offering a units of full-speed work per unit of
//! time, the number computing has π(n) ∝ ∏ₖ₌₁ⁿ a / φ(k) whatever the work's distribution, and a
//! call of work x stays x·E[N] / a on average (linear in its work). So every class on a host is
//! stretched by one factor, E[N] / a. For one core and no background that is 1 / (1 − ρ); for
//! c cores, Erlang C's; beside b background threads on one core, (1 + b) / (1 − ρ).

use super::Quality;
use crate::model::{HostId, Model};

/// What processor sharing gives one host.
#[derive(Clone, Debug)]
pub struct HostAnalysis {
    pub name: String,
    /// Busy cores (calls and background) over cores.
    pub utilisation: f64,
    /// Mean number of calls computing, running or waiting for a core.
    pub mean_computing: f64,
    /// Mean time computing per ms of full-speed CPU work (E[N] / a).
    pub stretch: f64,
    pub quality: Quality,
}

/// The approximation when the calls' arrivals at a host are not known to be Poisson.
pub const NOT_POISSON: &str = "host CPU: arrivals at the host treated as Poisson";
/// The approximation when the workers on a host can all be computing at once.
pub const WORKERS_BOUND: &str = "host CPU: the workers' cap on calls computing at once ignored";
/// The approximation when a host's background changes over time.
pub const CHANGING_BACKGROUND: &str = "host CPU: background load over time taken at its start";

/// Most terms of the stationary distribution summed before giving up (ρ within 10⁻⁵ of 1).
const MAX_TERMS: usize = 5_000_000;

/// The stationary figures of one host offered `a` ms of full-speed CPU work per ms: (mean
/// computing, busy cores over cores), or `None` when the work exceeds what the cores can do.
#[cfg(test)]
fn processor_sharing(cores: u32, speed: f64, background: f64, a: f64) -> Option<(f64, f64)> {
    processor_sharing_bounded(cores, speed, background, a, f64::INFINITY).map(|(n, u, _)| (n, u))
}

/// [`processor_sharing`], and the probability that `bound` or more calls compute at once: the
/// product form counts calls without limit, and workers cap them, so where this is not
/// negligible the figures are an approximation.
fn processor_sharing_bounded(
    cores: u32,
    speed: f64,
    background: f64,
    a: f64,
    bound: f64,
) -> Option<(f64, f64, f64)> {
    let c = f64::from(cores);
    if a <= 0.0 {
        return Some((0.0, background.min(c) / c, 0.0));
    }
    // φ(k) tends to c·s from below (from k = c on, with no background, it is c·s).
    if a >= c * speed {
        return None;
    }
    let phi = |k: f64| k * speed * (c / (k + background)).min(1.0);
    // `below`: the mass of fewer than `bound` computing (k = 0 counts when bound > 0).
    let (mut term, mut total, mut computing, mut busy, mut below) = (
        1.0f64,
        1.0f64,
        0.0f64,
        background.min(c),
        if bound > 0.0 { 1.0f64 } else { 0.0 },
    );
    for k in 1..=MAX_TERMS {
        let n = k as f64;
        term *= a / phi(n);
        // Many cores under heavy load: the terms grow like aⁿ/n! before they fall; rescale
        // them all (the ratios are what matter) before they overflow.
        if term > 1e250 {
            for x in [&mut term, &mut total, &mut computing, &mut busy, &mut below] {
                *x *= 1e-250;
            }
        }
        total += term;
        computing += n * term;
        busy += (n + background).min(c) * term;
        if n < bound {
            below += term;
        }
        // Past the cores the terms fall geometrically: stop when the tail is negligible.
        if n > c + background && term < 1e-17 * total {
            return Some((computing / total, busy / total / c, 1.0 - below / total));
        }
    }
    None
}

/// Calls a host's workers can have computing at once: every worker of every instance on it.
fn worker_bound(model: &Model, h: HostId) -> f64 {
    model
        .services
        .iter()
        .map(|s| s.host_share(h) * f64::from(s.instances) * f64::from(s.workers))
        .sum()
}

/// Probability of the workers' bound being reached above which the figures are labelled an
/// approximation rather than exact.
const BOUND_REACHED: f64 = 1e-6;

/// Each host's figures for an open workload of `rate_per_s` requests per second, given the
/// visits per request of every endpoint. `poisson_in[s]`: service s's arrivals are Poisson.
pub fn analyze_hosts(
    model: &Model,
    visits: &[f64],
    rate_per_s: f64,
    poisson_in: &[bool],
) -> Vec<HostAnalysis> {
    model
        .hosts
        .iter()
        .enumerate()
        .map(|(h, host)| {
            let a = offered_work(model, visits, rate_per_s, h);
            let mut quality = Quality::exact();
            let on_host = |s: usize| model.services[s].host_share(h) > 0.0;
            if (0..model.services.len()).any(|s| on_host(s) && !poisson_in[s]) {
                quality.approx(NOT_POISSON);
            }
            if !host.background_changes.is_empty() {
                quality.approx(CHANGING_BACKGROUND);
            }
            let bound = worker_bound(model, h);
            let solved =
                processor_sharing_bounded(host.cores, host.speed, host.background_cores, a, bound);
            if solved.is_some_and(|(_, _, reached)| reached > BOUND_REACHED) {
                quality.approx(WORKERS_BOUND);
            }
            let (computing, utilisation, stretch) = match solved.map(|(n, u, _)| (n, u)) {
                Some((n, u)) if a > 0.0 => (n, u, n / a),
                Some((n, u)) => {
                    // No load: one call alone, beside the background.
                    let alone = host.speed
                        * (f64::from(host.cores) / (1.0 + host.background_cores)).min(1.0);
                    (n, u, 1.0 / alone)
                }
                None => {
                    quality.cannot("host CPU saturated (offered work ≥ cores × speed)");
                    (f64::NAN, f64::NAN, f64::NAN)
                }
            };
            HostAnalysis {
                name: host.name.clone(),
                utilisation,
                mean_computing: computing,
                stretch,
                quality,
            }
        })
        .collect()
}

/// Full-speed CPU work offered to host `h`, in ms per ms: every endpoint's calls per ms times
/// its mean `cpu_ms`, times the share of its service's instances placed there.
fn offered_work(model: &Model, visits: &[f64], rate_per_s: f64, h: HostId) -> f64 {
    model
        .endpoints
        .iter()
        .enumerate()
        .filter_map(|(e, endpoint)| {
            let cpu = endpoint.cpu_time.as_ref()?.mean_ms();
            let share = model.services[endpoint.service].host_share(h);
            Some(rate_per_s / 1000.0 * visits[e] * cpu * share)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The closed forms the module comment names.
    #[test]
    fn processor_sharing_gives_the_known_means() {
        // One core, ρ = 0.8: E[N] = ρ / (1 − ρ) = 4, utilisation ρ.
        let (n, u) = processor_sharing(1, 1.0, 0.0, 0.8).unwrap();
        assert!((n - 4.0).abs() < 1e-9 && (u - 0.8).abs() < 1e-9, "{n} {u}");
        // Two cores, a = 1.6: M/M/2's E[N] = 2ρ / (1 − ρ²) with ρ = 0.8.
        let (n, u) = processor_sharing(2, 1.0, 0.0, 1.6).unwrap();
        assert!(
            (n - 1.6 / 0.36).abs() < 1e-9 && (u - 0.8).abs() < 1e-9,
            "{n} {u}"
        );
        // One core beside b = 0.5, ρ = 0.4: negative binomial of order 1.5, E[N] = 1.5ρ/(1 − ρ),
        // busy 1 − (1 − ρ)^1.5 · (1 − b).
        let (n, u) = processor_sharing(1, 1.0, 0.5, 0.4).unwrap();
        assert!((n - 1.0).abs() < 1e-9, "{n}");
        assert!((u - (1.0 - 0.6f64.powf(1.5) * 0.5)).abs() < 1e-9, "{u}");
        // Twice the speed halves the load: one core at speed 2 offered 0.8 is ρ = 0.4.
        let (n, _) = processor_sharing(1, 2.0, 0.0, 0.8).unwrap();
        assert!((n - 0.4 / 0.6).abs() < 1e-9, "{n}");
        assert!(processor_sharing(1, 1.0, 0.0, 1.0).is_none());
        assert!(processor_sharing(2, 1.0, 0.5, 1.99).is_some());
        // A thousand cores at ρ = 0.9 (terms far beyond f64 without rescaling): E[N] ≈ a.
        let (n, u) = processor_sharing(1000, 1.0, 0.0, 900.0).unwrap();
        assert!(
            n.is_finite() && (n - 900.0).abs() < 1.0 && (u - 0.9).abs() < 1e-9,
            "{n} {u}"
        );
    }
}
