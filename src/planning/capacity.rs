//! Capacity at an SLO: the highest arrival rate at which the SLO holds, found by bracketing and
//! bisection on replicated runs.
//!
//! A rate *passes* when the SLO holds with 95% confidence (the metric's confidence interval lies
//! at or below the limit) and *fails* when it is violated with 95% confidence. The search
//! reports the highest rate found to pass (`ci95_low_rps`), the lowest found to fail
//! (`ci95_high_rps`), and between them the rate where the mean metric crosses the limit
//! (`capacity_rps`, interpolated). Every rate is simulated with the same seeds (common random
//! numbers), so neighbouring rates differ by their load, not by their luck.

use super::slo::{Slo, Verdict};
use crate::engine::derive_seed;
use crate::model::{Model, Workload};
use crate::sim::{Limits, Options, RunResult, simulate_with};
use rayon::prelude::*;

/// The capacity for one SLO (or for all together).
#[derive(Clone, Debug)]
pub struct Capacity {
    /// The SLO as typed, or `all` for every SLO at once.
    pub slo: String,
    pub capacity_rps: f64,
    pub ci95_low_rps: f64,
    pub ci95_high_rps: f64,
    /// The service or link direction busiest at that rate, with its utilisation.
    pub bottleneck: String,
}

/// What one rate gave.
struct Probe {
    rate: f64,
    /// Per SLO: mean metric and verdict.
    results: Vec<(f64, Verdict)>,
    /// The busiest service or link direction and its mean utilisation.
    busiest: (String, f64),
}

/// A capacity search over one model.
pub struct Search<'a> {
    model: &'a Model,
    slos: &'a [Slo],
    reps: u32,
    probes: Vec<Probe>,
    /// The rate at which the busiest station would saturate (utilisation 1), from the offered
    /// load: the scale of the search.
    saturation_rps: f64,
}

/// Search resolution, relative to the saturation rate.
const RESOLUTION: f64 = 0.004;

impl<'a> Search<'a> {
    /// Prepares a search; refuses closed workloads and SLOs naming unknown routes.
    pub fn new(model: &'a Model, slos: &'a [Slo], reps: u32) -> Result<Search<'a>, String> {
        let Workload::Open { rate_per_s, .. } = model.workload else {
            return Err(format!(
                "`{}` has a closed workload: capacity is a question about arrival rates (open workloads); sweep workload.users instead",
                model.name
            ));
        };
        for s in slos {
            s.check(model)?;
        }
        if reps < 2 {
            return Err("--reps must be at least 2 for a confidence interval".into());
        }
        let load = crate::analysis::offered_load(model);
        let busiest = load
            .stations
            .iter()
            .map(|s| s.utilisation)
            .chain(load.links.iter().map(|l| l.utilisation))
            .fold(0.0, f64::max);
        if busiest <= 0.0 {
            return Err(format!(
                "`{}` does no work (every service time and message is zero): its capacity is unbounded",
                model.name
            ));
        }
        Ok(Search {
            model,
            slos,
            reps,
            probes: Vec::new(),
            saturation_rps: rate_per_s / busiest,
        })
    }

    /// The model at arrival rate `rate` (a time-varying pattern keeps its shape, scaled).
    fn at_rate(&self, rate: f64) -> Model {
        let mut m = self.model.clone();
        if let Workload::Open { rate_per_s, .. } = &mut m.workload {
            *rate_per_s = rate;
        }
        m
    }

    /// Simulates `rate` (once; later asks are answered from the cache).
    fn probe(&mut self, rate: f64) -> usize {
        if let Some(i) = self.probes.iter().position(|p| p.rate == rate) {
            return i;
        }
        let model = self.at_rate(rate);
        let options = Options {
            limits: Limits {
                max_in_flight: 100_000,
                ..Limits::default()
            },
            ..Options::default()
        };
        let runs: Vec<RunResult> = (0..self.reps)
            .into_par_iter()
            .map(|i| {
                let mut m = model.clone();
                m.seed = derive_seed(model.seed, 0, u64::from(i));
                simulate_with(&m, &options)
            })
            .collect();
        let results = self
            .slos
            .iter()
            .map(|s| {
                let (ci, v) = s.judge(&runs);
                (ci.mean, v)
            })
            .collect();
        self.probes.push(Probe {
            rate,
            results,
            busiest: busiest(&runs),
        });
        self.probes.len() - 1
    }

    /// The verdict at `rate` for SLO `k`, or for all SLOs when `k` is `None`.
    fn verdict(&mut self, rate: f64, k: Option<usize>) -> Verdict {
        let i = self.probe(rate);
        let p = &self.probes[i];
        match k {
            Some(k) => p.results[k].1,
            None => {
                let vs: Vec<Verdict> = p.results.iter().map(|r| r.1).collect();
                if vs.contains(&Verdict::Fail) {
                    Verdict::Fail
                } else if vs.iter().all(|v| *v == Verdict::Pass) {
                    Verdict::Pass
                } else {
                    Verdict::Unsure
                }
            }
        }
    }

    /// The capacity for SLO `k` (or all SLOs).
    fn capacity(&mut self, k: Option<usize>) -> Capacity {
        let step = RESOLUTION * self.saturation_rps;
        let name = k.map_or("all".to_string(), |k| self.slos[k].text.clone());
        // Bracket: a rate that fails (bounded queues may hold a latency SLO past saturation).
        let mut hi = self.saturation_rps;
        for _ in 0..12 {
            if self.verdict(hi, k) == Verdict::Fail {
                break;
            }
            hi *= 1.5;
        }
        let lo = 0.01 * self.saturation_rps;
        if self.verdict(lo, k) != Verdict::Pass {
            return Capacity {
                slo: name,
                capacity_rps: 0.0,
                ci95_low_rps: 0.0,
                ci95_high_rps: lo,
                bottleneck: "the SLO does not hold even at 1% of the saturation rate".into(),
            };
        }
        // The highest passing rate, then the lowest failing one.
        let (low, _) = bisect(lo, hi, step, |m| self.verdict(m, k) == Verdict::Pass);
        let (_, high) = bisect(low, hi, step, |m| self.verdict(m, k) != Verdict::Fail);
        let capacity = self.crossing(k, low, high);
        let near = self
            .probes
            .iter()
            .filter(|p| p.rate <= high)
            .max_by(|x, y| x.rate.total_cmp(&y.rate))
            .map(|p| format!("{} (utilisation {:.2})", p.busiest.0, p.busiest.1))
            .unwrap_or_default();
        Capacity {
            slo: name,
            capacity_rps: capacity,
            ci95_low_rps: low,
            ci95_high_rps: high,
            bottleneck: near,
        }
    }

    /// Where the mean metric crosses the limit between `low` and `high`, interpolated between
    /// the probes on either side; the middle of the interval for `all`.
    fn crossing(&self, k: Option<usize>, low: f64, high: f64) -> f64 {
        let Some(k) = k else {
            return (low + high) / 2.0;
        };
        let limit = self.slos[k].limit;
        let mut seen: Vec<(f64, f64)> = self
            .probes
            .iter()
            .filter(|p| p.rate >= low && p.rate <= high)
            .map(|p| (p.rate, p.results[k].0))
            .collect();
        seen.sort_by(|x, y| x.0.total_cmp(&y.0));
        for w in seen.windows(2) {
            let ((r0, m0), (r1, m1)) = (w[0], w[1]);
            if m0 <= limit && m1 > limit {
                if !m1.is_finite() {
                    return r0;
                }
                return r0 + (r1 - r0) * (limit - m0) / (m1 - m0);
            }
        }
        (low + high) / 2.0
    }
}

/// Narrows `[a, b]` on the grid of `step` until it is one step wide: a midpoint where `below`
/// holds becomes the new `a`, any other the new `b`.
fn bisect(mut a: f64, mut b: f64, step: f64, mut below: impl FnMut(f64) -> bool) -> (f64, f64) {
    while b - a > step {
        let m = snap((a + b) / 2.0, step);
        if m <= a || m >= b {
            break;
        }
        if below(m) {
            a = m;
        } else {
            b = m;
        }
    }
    (a, b)
}

/// Rounds a rate to the search grid, so that searches for several SLOs share their probes.
fn snap(rate: f64, step: f64) -> f64 {
    (rate / step).round() * step
}

/// The busiest service or link direction over `runs`, by mean utilisation.
fn busiest(runs: &[RunResult]) -> (String, f64) {
    let n = runs.len().max(1) as f64;
    let Some(first) = runs.first() else {
        return (String::new(), 0.0);
    };
    let mut best = (String::new(), f64::NEG_INFINITY);
    for (i, s) in first.services.iter().enumerate() {
        let u = runs.iter().map(|r| r.services[i].utilisation).sum::<f64>() / n;
        if u > best.1 {
            best = (s.service.clone(), u);
        }
    }
    for (i, l) in first.links.iter().enumerate() {
        let u = runs.iter().map(|r| r.links[i].utilisation).sum::<f64>() / n;
        if u > best.1 {
            best = (format!("link {} ({}→{})", l.link, l.from, l.to), u);
        }
    }
    best
}

/// The capacity of `model` for each SLO, then for all together when there are several.
pub fn capacity(model: &Model, slos: &[Slo], reps: u32) -> Result<Vec<Capacity>, String> {
    let mut search = Search::new(model, slos, reps)?;
    let mut out: Vec<Capacity> = (0..slos.len()).map(|k| search.capacity(Some(k))).collect();
    if slos.len() > 1 {
        out.push(search.capacity(None));
    }
    Ok(out)
}
