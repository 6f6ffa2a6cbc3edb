//! Comparing architectures: the same workload through each, at the same SLOs — capacity,
//! right-sized cost, latency, the network's share of it — and, over a range of loads, the p99
//! of each as shipped and the cost of meeting the SLOs, with the crossover where the cheaper
//! architecture changes.

use super::PlanningError;
use super::capacity::{Capacity, capacity};
use super::rightsize::{configured, replicate, rightsize};
use super::slo::Slo;
use crate::model::{Model, Workload};
use crate::sim::{Component, Options, Replications, simulate_with};

/// One architecture at the reference load.
#[derive(Clone, Debug)]
pub struct Architecture {
    pub name: String,
    /// Capacity with every SLO holding, as-shipped instance counts.
    pub capacity: Capacity,
    /// Right-sized at the reference load: `service=n` for each service.
    pub instances: String,
    pub cost_per_hour: f64,
    pub cost_per_million_requests: f64,
    /// Latency of the right-sized configuration at the reference load.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Share of the mean latency spent on links (transmission, propagation, retransmission).
    pub network_share: f64,
}

/// One architecture at one load of the range.
#[derive(Clone, Debug)]
pub struct LoadPoint {
    pub architecture: String,
    pub rate_rps: f64,
    /// p99 of the as-shipped configuration (NaN when it cannot keep up).
    pub p99_ms: f64,
    /// Cost per hour of the cheapest configuration found that meets the SLOs at this load.
    pub cost_per_hour: f64,
    pub instances: String,
}

/// The whole comparison.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub reference_rps: f64,
    pub architectures: Vec<Architecture>,
    pub load: Vec<LoadPoint>,
    /// Where the architecture cheapest at the top of the range becomes the cheaper one for
    /// good; `None` when one is cheaper over the whole range.
    pub crossover: Option<Crossover>,
}

/// Where two architectures' costs of meeting the SLOs cross. Costs step with whole instances,
/// so between two compared loads the crossing is known only to lie between them.
#[derive(Clone, Debug, PartialEq)]
pub struct Crossover {
    /// The architecture cheaper from the crossing to the top of the range.
    pub cheaper: String,
    /// The compared loads either side of the crossing: the other architecture is cheaper at
    /// `low_rps`, and `cheaper` is from `high_rps` to the top of the range.
    pub low_rps: f64,
    pub high_rps: f64,
    /// Where straight lines between the two loads' costs cross (a point estimate only).
    pub interpolated_rps: f64,
}

/// Compares `models` (open workloads, the same routes expected) at `slos`.
pub fn compare(
    models: &[Model],
    slos: &[Slo],
    rates: &[f64],
    reference_rps: f64,
    reps: Replications,
) -> Result<Comparison, PlanningError> {
    for m in models {
        if !matches!(m.workload, Workload::Open { .. }) {
            return Err(PlanningError::Model(format!(
                "`{}` has a closed workload; compare needs open workloads (arrival rates)",
                m.name
            )));
        }
        // Before any search: an SLO that even an idle architecture misses has no answer.
        super::idle_check(m, slos, reps).map_err(PlanningError::Model)?;
    }
    let mut architectures = Vec::new();
    let mut load = Vec::new();
    for m in models {
        architectures.push(at_reference(m, slos, reference_rps, reps)?);
        load.extend(over_range(m, slos, rates, reps)?);
        if reps.cancel.requested() {
            return Err(PlanningError::Search(
                "the comparison was interrupted".into(),
            ));
        }
    }
    let crossover = crossover(&load, rates);
    Ok(Comparison {
        reference_rps,
        architectures,
        load,
        crossover,
    })
}

fn instances_text(m: &Model, n: &[u32]) -> String {
    m.services
        .iter()
        .zip(n)
        .skip(1)
        .map(|(s, n)| format!("{}={n}", s.name))
        .collect::<Vec<_>>()
        .join(" ")
}

fn at_reference(
    m: &Model,
    slos: &[Slo],
    rate: f64,
    reps: Replications,
) -> Result<Architecture, PlanningError> {
    let cap = capacity(m, slos, reps).map_err(PlanningError::Model)?;
    let cap = cap.last().cloned().expect("one capacity per SLO at least");
    let sized = rightsize(m, Some(rate), slos, reps, None).map_err(|e| match e {
        PlanningError::Model(e) => {
            PlanningError::Model(format!("`{}` at {rate} req/s: {e}", m.name))
        }
        PlanningError::Search(e) => {
            PlanningError::Search(format!("`{}` at {rate} req/s: {e}", m.name))
        }
    })?;
    let n = sized.instances();
    let model = configured(m, Some(rate), &n);
    let runs = replicate(&model, reps);
    let mean = |f: &dyn Fn(&crate::sim::RunResult) -> f64| {
        runs.iter().map(f).sum::<f64>() / runs.len() as f64
    };
    let breakdown = simulate_with(
        &model,
        &Options {
            breakdown: true,
            ..Options::default()
        },
    );
    let all = breakdown.breakdown.last();
    let network: f64 = all.map_or(0.0, |b| {
        b.parts
            .iter()
            .filter(|p| {
                matches!(
                    p.1,
                    Component::Transmission | Component::Propagation | Component::Retransmission
                )
            })
            .map(|p| p.2)
            .sum()
    });
    let total: f64 = all.map_or(0.0, |b| b.parts.iter().map(|p| p.2).sum());
    Ok(Architecture {
        name: m.name.clone(),
        capacity: cap,
        instances: instances_text(m, &n),
        cost_per_hour: sized.cost_per_hour,
        cost_per_million_requests: sized.cost_per_million_requests,
        p50_ms: mean(&|r| r.all.latency.quantile_ms(0.5)),
        p99_ms: mean(&|r| r.all.latency.quantile_ms(0.99)),
        network_share: if total > 0.0 {
            network / total
        } else {
            f64::NAN
        },
    })
}

/// Over the range: p99 as shipped, and the cost of meeting the SLOs, growing the configuration
/// from one load to the next (more load never needs fewer instances).
fn over_range(
    m: &Model,
    slos: &[Slo],
    rates: &[f64],
    reps: Replications,
) -> Result<Vec<LoadPoint>, PlanningError> {
    let mut out = Vec::new();
    let mut start: Option<Vec<u32>> = None;
    let mut reachable = true;
    for &rate in rates {
        let shipped = replicate(&configured(m, Some(rate), &[]), reps);
        let p99s: Vec<f64> = shipped
            .iter()
            .map(|r| {
                if super::slo::kept_up(r) {
                    r.all.latency.quantile_ms(0.99)
                } else {
                    f64::NAN
                }
            })
            .collect();
        let p99_ms = if p99s.iter().any(|x| !x.is_finite()) {
            f64::NAN
        } else {
            p99s.iter().sum::<f64>() / p99s.len() as f64
        };
        // Once no configuration meets the SLOs, higher loads will not either.
        let grown = if reachable {
            super::rightsize::grow(m, rate, slos, reps, start.clone()).ok()
        } else {
            None
        };
        reachable = grown.is_some();
        let (cost, instances) = match grown {
            Some((n, cost)) => {
                let text = instances_text(m, &n);
                start = Some(n);
                (cost, text)
            }
            None => (f64::NAN, String::new()),
        };
        out.push(LoadPoint {
            architecture: m.name.clone(),
            rate_rps: rate,
            p99_ms,
            cost_per_hour: cost,
            instances,
        });
    }
    Ok(out)
}

/// Where the cost curves of the first two architectures last cross: between which compared
/// loads, and where straight lines between those loads' costs would.
fn crossover(load: &[LoadPoint], rates: &[f64]) -> Option<Crossover> {
    let names: Vec<&str> = {
        let mut v: Vec<&str> = Vec::new();
        for p in load {
            if !v.contains(&p.architecture.as_str()) {
                v.push(&p.architecture);
            }
        }
        v
    };
    let [a, b] = names[..] else {
        return None;
    };
    let cost = |name: &str, rate: f64| {
        load.iter()
            .find(|p| p.architecture == name && p.rate_rps == rate)
            .map_or(f64::NAN, |p| p.cost_per_hour)
    };
    let diffs: Vec<(f64, f64)> = rates
        .iter()
        .map(|&r| (r, cost(a, r) - cost(b, r)))
        .filter(|(_, d)| d.is_finite())
        .collect();
    let (&(_, last), _) = diffs.split_last()?;
    let cheaper = if last > 0.0 { b } else { a };
    for w in diffs.windows(2).rev() {
        let ((r0, d0), (r1, d1)) = (w[0], w[1]);
        if d0.signum() != d1.signum() && d0 != 0.0 {
            return Some(Crossover {
                cheaper: cheaper.to_string(),
                low_rps: r0,
                high_rps: r1,
                interpolated_rps: r0 + (r1 - r0) * d0 / (d0 - d1),
            });
        }
    }
    None
}
