//! Right-sizing: the cheapest instance count per service that meets the SLOs at a given load.
//!
//! Start from the utilisation bound (the fewest instances that keep every service below
//! utilisation 1), add an instance to the busiest service until every SLO holds with 95%
//! confidence, then take instances away, most expensive first, while the SLOs still hold. The
//! result is verified: every configuration accepted passed its own replicated check.

use super::PlanningError;
use super::slo::{Slo, Verdict};
use crate::model::{Model, Workload};
use crate::sim::{Limits, Options, Replications, RunResult};

/// A right-sized configuration.
#[derive(Clone, Debug)]
pub struct Rightsized {
    /// Per service (the gateway excluded, it does not scale): name, instances before, after.
    pub services: Vec<(String, u32, u32)>,
    /// At the model's prices (NaN without a `[cost]` table).
    pub cost_per_hour: f64,
    pub cost_per_million_requests: f64,
    /// Per SLO: the metric at the chosen configuration, mean and 95% confidence interval over
    /// the replications.
    pub metrics: Vec<crate::stats::MeanCi>,
    /// Configurations simulated to get there.
    pub tried: usize,
}

/// Most configurations tried before giving up.
const MAX_TRIES: usize = 200;

/// `model` at arrival `rate` with `instances` per service (index 0, the gateway, is ignored).
pub fn configured(model: &Model, rate: Option<f64>, instances: &[u32]) -> Model {
    let mut m = model.clone();
    if let (Some(rate), Workload::Open { rate_per_s, .. }) = (rate, &mut m.workload) {
        *rate_per_s = rate;
    }
    for (s, &n) in m.services.iter_mut().zip(instances).skip(1) {
        s.instances = n;
    }
    m
}

/// Replicated runs of `model` with the same seeds whatever the configuration (common random
/// numbers), and stopped early if they pile up requests.
pub fn replicate(model: &Model, reps: impl Into<Replications>) -> Vec<RunResult> {
    let reps = reps.into();
    let options = planning_options(reps);
    crate::sim::replicate(model, reps.count, &options)
}

/// The options of every planning run: stopped early if it piles up requests (an overloaded
/// configuration says all it has to say long before a million requests wait), and when the
/// replications' stop flag is raised.
pub fn planning_options(reps: Replications) -> Options {
    Options {
        limits: Limits {
            max_in_flight: 100_000,
            ..Limits::default()
        },
        cancel: reps.cancel,
        ..Options::default()
    }
}

/// Whether every SLO holds with 95% confidence in `runs`.
pub fn all_pass(slos: &[Slo], runs: &[RunResult]) -> bool {
    slos.iter().all(|s| s.judge(runs).1 == Verdict::Pass)
}

/// The fewest instances per service that keep utilisation below 1 at the model's load.
pub fn utilisation_bound(model: &Model) -> Vec<u32> {
    let load = crate::analysis::offered_load(model);
    model
        .services
        .iter()
        .zip(&load.stations)
        .map(|(s, l)| {
            let busy_instances = l.utilisation * f64::from(s.instances);
            (busy_instances.floor() as u32 + 1).max(1)
        })
        .collect()
}

/// Price per instance-hour per service (0 without prices).
fn prices(model: &Model) -> Vec<f64> {
    model
        .cost
        .as_ref()
        .map_or(vec![0.0; model.services.len()], |c| c.instance_hour.clone())
}

/// The gateway or a link direction when it is nearly saturated: more instances will not help.
/// Says which field to change and to what, from the offered load at `model`'s rate (which,
/// unlike a measured utilisation, is not capped at 1).
fn saturated_fixed(model: &Model, runs: &[RunResult]) -> Option<String> {
    let first = runs.first()?;
    let n = runs.len() as f64;
    let mean = |f: &dyn Fn(&RunResult) -> f64| runs.iter().map(f).sum::<f64>() / n;
    let load = crate::analysis::offered_load(model);
    // Enough capacity to bring the offered load to this utilisation.
    const TARGET: f64 = 0.7;
    if mean(&|r| r.services[0].utilisation) > 0.97 {
        let workers = model.services[0].workers;
        let offered = load.stations[0].utilisation.max(1.0);
        let needed = (f64::from(workers) * offered / TARGET).ceil();
        return Some(format!(
            "the gateway is saturated (offered utilisation {offered:.2}), and instances of the services do not relieve it: raise gateway.workers from {workers} to at least {needed} (for {:.0}% utilisation), or shorten gateway.service_ms",
            100.0 * TARGET
        ));
    }
    first.links.iter().enumerate().find_map(|(i, l)| {
        if mean(&|r| r.links[i].utilisation) <= 0.97 {
            return None;
        }
        let link = model.links.iter().find(|x| *x.name == *l.link)?;
        let bandwidth = link.bandwidth_bps? / 1e6;
        let offered = load
            .links
            .iter()
            .find(|x| *x.link == *l.link && *x.from == *l.from)
            .map_or(1.0, |x| x.utilisation.max(1.0));
        Some(format!(
            "link {} ({}→{}) is saturated (offered utilisation {offered:.2}), and instances do not relieve it: raise links.{}.bandwidth_mbps from {} to at least {:.0} (for {:.0}% utilisation), or make the messages smaller",
            l.link,
            l.from,
            l.to,
            l.link,
            crate::report::number(bandwidth),
            (bandwidth * offered / TARGET).ceil(),
            100.0 * TARGET
        ))
    })
}

/// The busiest scalable service (not the gateway) in `runs`, by mean utilisation.
fn busiest_service(runs: &[RunResult]) -> Option<usize> {
    let n = runs.first()?.services.len();
    (1..n).max_by(|&a, &b| {
        let u = |i: usize| runs.iter().map(|r| r.services[i].utilisation).sum::<f64>();
        u(a).total_cmp(&u(b))
    })
}

/// Right-sizes `model` at `rate` (or its own rate) for `slos`, starting from `start` instances
/// when given (else from the utilisation bound).
pub fn rightsize(
    model: &Model,
    rate: Option<f64>,
    slos: &[Slo],
    reps: impl Into<Replications>,
    start: Option<Vec<u32>>,
) -> Result<Rightsized, PlanningError> {
    let reps = reps.into();
    for s in slos {
        s.check(model).map_err(PlanningError::Model)?;
    }
    if model.services.len() < 2 {
        return Err(PlanningError::Model(
            "the model has no services to scale".into(),
        ));
    }
    super::idle_check(&configured(model, rate, &[]), slos, reps).map_err(PlanningError::Model)?;
    let original: Vec<u32> = model.services.iter().map(|s| s.instances).collect();
    let (mut n, mut runs, mut tried) = grow_runs(model, rate, slos, reps, start)?;
    let judge = |n: &[u32], tried: &mut usize| {
        *tried += 1;
        let runs = replicate(&configured(model, rate, n), reps);
        (all_pass(slos, &runs), runs)
    };
    // Shrink, most expensive instances first, while the SLOs still hold.
    let price = prices(model);
    let mut order: Vec<usize> = (1..n.len()).collect();
    order.sort_by(|&a, &b| price[b].total_cmp(&price[a]).then(a.cmp(&b)));
    let mut shrunk = true;
    while shrunk && tried < MAX_TRIES {
        shrunk = false;
        for &i in &order {
            if n[i] <= 1 {
                continue;
            }
            n[i] -= 1;
            let (ok, r) = judge(&n, &mut tried);
            if ok {
                runs = r;
                shrunk = true;
            } else {
                n[i] += 1;
            }
        }
    }
    let cost_per_hour = mean_cost(model, &runs);
    let throughput = runs.iter().map(|r| r.all.throughput_rps()).sum::<f64>() / runs.len() as f64;
    Ok(Rightsized {
        services: model
            .services
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, s)| (s.name.clone(), original[i], n[i]))
            .collect(),
        cost_per_hour,
        cost_per_million_requests: crate::cost::per_million(cost_per_hour, throughput),
        metrics: slos.iter().map(|s| s.judge(&runs).0).collect(),
        tried,
    })
}

/// Mean cost per hour over `runs` (NaN without prices).
fn mean_cost(model: &Model, runs: &[RunResult]) -> f64 {
    let cost: Vec<f64> = runs
        .iter()
        .filter_map(|r| crate::cost::of_run(model, r).map(|c| c.per_hour))
        .collect();
    if cost.is_empty() {
        f64::NAN
    } else {
        cost.iter().sum::<f64>() / cost.len() as f64
    }
}

/// Adds instances to the busiest service, from `start` (or the utilisation bound), until the
/// SLOs hold; returns the configuration, its runs and the configurations tried.
fn grow_runs(
    model: &Model,
    rate: Option<f64>,
    slos: &[Slo],
    reps: Replications,
    start: Option<Vec<u32>>,
) -> Result<(Vec<u32>, Vec<RunResult>, usize), PlanningError> {
    let at_rate = configured(model, rate, &[]);
    let bound = utilisation_bound(&at_rate);
    // Never below the utilisation bound, whatever the start.
    let mut n: Vec<u32> = match start {
        Some(s) => s.iter().zip(&bound).map(|(a, b)| *a.max(b)).collect(),
        None => bound,
    };
    let mut tried = 1;
    let mut runs = replicate(&configured(model, rate, &n), reps);
    while !all_pass(slos, &runs) {
        if tried >= MAX_TRIES || reps.cancel.requested() {
            return Err(PlanningError::Search(format!(
                "no configuration met {} after {tried} tries (the last: {})",
                slos.iter()
                    .map(|s| s.text.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                model
                    .services
                    .iter()
                    .zip(&n)
                    .skip(1)
                    .map(|(s, n)| format!("{}={n}", s.name))
                    .collect::<Vec<_>>()
                    .join(" ")
            )));
        }
        if let Some(what) = saturated_fixed(&configured(model, rate, &n), &runs) {
            return Err(PlanningError::Model(what));
        }
        let Some(b) = busiest_service(&runs) else {
            return Err(PlanningError::Model(
                "the model has no services to scale".into(),
            ));
        };
        n[b] += 1;
        tried += 1;
        runs = replicate(&configured(model, rate, &n), reps);
    }
    Ok((n, runs, tried))
}

/// The first configuration, growing from `start`, that meets the SLOs at `rate`, and its cost
/// per hour (without the shrinking pass: for sweeping a range of loads upwards).
pub fn grow(
    model: &Model,
    rate: f64,
    slos: &[Slo],
    reps: Replications,
    start: Option<Vec<u32>>,
) -> Result<(Vec<u32>, f64), PlanningError> {
    let (n, runs, _) = grow_runs(model, Some(rate), slos, reps, start)?;
    Ok((n, mean_cost(model, &runs)))
}

impl Rightsized {
    /// Instances per service, gateway first (1), as `configured` takes them.
    pub fn instances(&self) -> Vec<u32> {
        std::iter::once(1)
            .chain(self.services.iter().map(|s| s.2))
            .collect()
    }

    /// `--set` overrides that turn the model into this configuration.
    pub fn overrides(&self, rate: Option<f64>) -> Vec<crate::model::Override> {
        let mut out: Vec<crate::model::Override> = self
            .services
            .iter()
            .map(|(name, _, n)| crate::model::Override {
                path: vec!["services".into(), name.clone(), "instances".into()],
                value: n.to_string(),
            })
            .collect();
        if let Some(rate) = rate {
            out.push(crate::model::Override {
                path: vec!["workload".into(), "rate_per_s".into()],
                value: crate::report::number(rate),
            });
        }
        out
    }
}
