//! Capacity at an SLO: the highest arrival rate at which the SLO holds, found by bracketing and
//! bisection on replicated runs.
//!
//! A rate *passes* when the SLO holds with 95% confidence (the metric's confidence interval lies
//! at or below the limit) and *fails* when it is violated with 95% confidence. A rate whose
//! interval straddles the limit is *undecided*, and an undecided rate is never taken for a
//! failure: it gets more replications (up to [`MAX_REPS_FACTOR`] × `--reps`) until it decides,
//! and every run is long enough to hold the samples the metric needs (a p99 from 30 requests is
//! noise; see [`samples_needed`]). The search reports the highest rate found to pass
//! (`ci95_low_rps`), the lowest found to fail (`ci95_high_rps`), and between them the rate where
//! the mean metric crosses the limit (`capacity_rps`, interpolated), with a [`Status`] saying
//! whether that answer exists. Every rate is simulated with the same seeds (common random
//! numbers), so neighbouring rates differ by their load, not by their luck.

use super::slo::{Slo, SloMetric, Verdict};
use crate::engine::SimTime;
use crate::model::{Model, Workload};
use crate::sim::{Cancel, Replications};
use crate::stats::MeanCi;

/// Whether a capacity search found an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The SLO passes below the interval and fails above it.
    Ok,
    /// The SLO fails with confidence even at 1% of the saturation rate: it asks for less than
    /// an idle system achieves. The capacity is 0.
    NeverMet,
    /// At the lowest rate tried the SLO could be decided neither way within the replication
    /// budget: the metric sits on the limit. No capacity is reported.
    Inconclusive,
    /// The SLO still held at the highest rate tried (bounded queues can keep latency low past
    /// saturation by rejecting); the capacity is above `ci95_low_rps`.
    Unbounded,
}

impl Status {
    /// As written in `capacity.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NeverMet => "never_met",
            Status::Inconclusive => "inconclusive",
            Status::Unbounded => "unbounded",
        }
    }
}

/// The capacity for one SLO (or for all together).
#[derive(Clone, Debug)]
pub struct Capacity {
    /// The SLO as typed, or `all` for every SLO at once.
    pub slo: String,
    pub status: Status,
    /// NaN when inconclusive; 0 when never met.
    pub capacity_rps: f64,
    pub ci95_low_rps: f64,
    /// Infinite when unbounded.
    pub ci95_high_rps: f64,
    /// The service or link direction busiest at the highest rate that did not fail (empty when
    /// none was found).
    pub bottleneck: String,
    /// Its mean utilisation there.
    pub bottleneck_utilisation: f64,
    /// For people: what the status means here, and what to change when there is no answer.
    pub note: String,
}

/// What one rate gave, over every replication run so far.
struct Probe {
    rate: f64,
    /// Per SLO, the metric in each replication.
    values: Vec<Vec<f64>>,
    /// Per service or link direction: its name and the sum of its utilisation over replications.
    utilisation: Vec<(String, f64)>,
}

impl Probe {
    fn reps(&self) -> usize {
        self.values.first().map_or(0, Vec::len)
    }

    /// The busiest service or link direction and its mean utilisation.
    fn busiest(&self) -> (String, f64) {
        let n = self.reps().max(1) as f64;
        self.utilisation
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(name, u)| (name.clone(), u / n))
            .unwrap_or_default()
    }
}

/// A capacity search over one model.
pub struct Search<'a> {
    model: &'a Model,
    slos: &'a [Slo],
    reps: u32,
    cancel: Cancel,
    probes: Vec<Probe>,
    /// The rate at which the busiest station would saturate (utilisation 1), from the offered
    /// load: the scale of the search.
    saturation_rps: f64,
    /// Told of each batch of replications as it finishes (a line saying what was measured):
    /// a search of a large model runs for minutes.
    report: Option<&'a (dyn Fn(&str) + Sync)>,
}

/// Search resolution, relative to the saturation rate.
const RESOLUTION: f64 = 0.004;

/// An undecided rate gets more replications, `--reps` at a time, up to this many times `--reps`.
pub const MAX_REPS_FACTOR: u32 = 4;

/// The lowest rate tried, as a fraction of the saturation rate.
const LOWEST: f64 = 0.01;

impl<'a> Search<'a> {
    /// Prepares a search; refuses closed workloads and SLOs naming unknown routes.
    pub fn new(
        model: &'a Model,
        slos: &'a [Slo],
        reps: impl Into<Replications>,
    ) -> Result<Search<'a>, String> {
        let Replications {
            count: reps,
            cancel,
        } = reps.into();
        let Workload::Open { .. } = model.workload else {
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
        let Some(saturation_rps) = crate::analysis::saturation_rate(model) else {
            return Err(format!(
                "`{}` does no work (every service time and message is zero): its capacity is unbounded",
                model.name
            ));
        };
        Ok(Search {
            model,
            slos,
            reps,
            cancel,
            probes: Vec::new(),
            saturation_rps,
            report: None,
        })
    }

    /// The model at arrival rate `rate` (a time-varying pattern keeps its shape, scaled), run
    /// long enough that each replication holds the samples every SLO's metric needs. Models
    /// whose behaviour depends on time (a pattern, faults) keep their duration: for them only
    /// replications are added.
    fn at_rate(&self, rate: f64) -> Model {
        let mut m = self.model.clone();
        let mut timed = !m.faults.is_empty();
        if let Workload::Open {
            rate_per_s,
            pattern,
        } = &mut m.workload
        {
            *rate_per_s = rate;
            timed |= pattern.is_some();
        }
        if !timed {
            let needed_s = self
                .slos
                .iter()
                .map(|s| samples_needed(s) / (rate * self.share(s)))
                .fold(0.0, f64::max);
            let measured_s = (m.duration - m.warmup).as_secs_f64();
            if needed_s > measured_s {
                m.duration = m.warmup + SimTime::from_secs_f64(needed_s);
            }
        }
        m
    }

    /// The share of requests an SLO is about.
    fn share(&self, slo: &Slo) -> f64 {
        slo.route
            .as_ref()
            .and_then(|r| self.model.routes.iter().find(|x| &x.name == r))
            .map_or(1.0, |r| r.probability)
            .max(1e-9)
    }

    /// Simulates replications `from..to` at `rate`, adding them to the rate's probe.
    fn run(&mut self, rate: f64, from: u32, to: u32) -> usize {
        let model = self.at_rate(rate);
        let options = super::rightsize::planning_options(Replications {
            count: to - from,
            cancel: self.cancel,
        });
        // Each run kept as its SLO values and utilisations, not as a whole result.
        let slos = &self.slos;
        let runs =
            crate::sim::replicate_reduced(&model, model.seed, 0, from..to, &options, |_, r| {
                let values: Vec<f64> = slos.iter().map(|s| s.value(&r)).collect();
                let stations: Vec<(String, f64)> = r
                    .services
                    .iter()
                    .map(|s| (s.service.clone(), s.utilisation))
                    .chain(r.links.iter().map(|l| {
                        (
                            format!("link {}", crate::sim::link_hop(&l.link, &l.from, &l.to)),
                            l.utilisation,
                        )
                    }))
                    .collect();
                (values, stations)
            });
        let i = match self.probes.iter().position(|p| p.rate == rate) {
            Some(i) => i,
            None => {
                self.probes.push(Probe {
                    rate,
                    values: vec![Vec::new(); self.slos.len()],
                    utilisation: Vec::new(),
                });
                self.probes.len() - 1
            }
        };
        let probe = &mut self.probes[i];
        for (run_values, stations) in runs {
            for (values, v) in probe.values.iter_mut().zip(run_values) {
                values.push(v);
            }
            if probe.utilisation.is_empty() {
                probe.utilisation = stations;
            } else {
                for (acc, (_, u)) in probe.utilisation.iter_mut().zip(stations) {
                    acc.1 += u;
                }
            }
        }
        i
    }

    /// The verdict at `rate` for SLO `k`, or for all SLOs when `k` is `None`. An undecided rate
    /// gets more replications until it decides or the budget is spent.
    fn verdict(&mut self, rate: f64, k: Option<usize>) -> Verdict {
        let budget = self.reps * MAX_REPS_FACTOR;
        let (mut i, mut ran) = match self.probes.iter().position(|p| p.rate == rate) {
            Some(i) => (i, false),
            None => (self.run(rate, 0, self.reps), true),
        };
        loop {
            let v = self.judge(i, k);
            if let Some(report) = self.report.filter(|_| ran) {
                report(&self.progress(i, k, v));
            }
            ran = true;
            let done = self.probes[i].reps() as u32;
            if v != Verdict::Unsure || done >= budget {
                return v;
            }
            if self.cancel.requested() {
                return v;
            }
            i = self.run(rate, done, (done + self.reps).min(budget));
        }
    }

    fn judge(&self, i: usize, k: Option<usize>) -> Verdict {
        let p = &self.probes[i];
        let verdict = |k: usize| self.slos[k].judge_values(&p.values[k]).1;
        match k {
            Some(k) => verdict(k),
            None => {
                let vs: Vec<Verdict> = (0..self.slos.len()).map(verdict).collect();
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

    /// What probe `i` measured for SLO `k` (the first for all), and the verdict: a line of the
    /// search's progress.
    fn progress(&self, i: usize, k: Option<usize>, verdict: Verdict) -> String {
        let p = &self.probes[i];
        let s = &self.slos[k.unwrap_or(0)];
        let (ci, _) = s.judge_values(&p.values[k.unwrap_or(0)]);
        let value = measured(s, &ci);
        let slo = k.map_or("every SLO".to_string(), |k| self.slos[k].text.clone());
        format!(
            "{:.1} req/s, {} replications: {value} — {} {slo}",
            p.rate,
            ci.n,
            verdict.as_str()
        )
    }

    /// The metric's mean and 95% half-width at `rate` for SLO `k` (the first for `all`), as a
    /// phrase for notes.
    fn metric(&self, rate: f64, k: Option<usize>) -> String {
        let Some(p) = self.probes.iter().find(|p| p.rate == rate) else {
            return String::new();
        };
        let k = k.unwrap_or(0);
        let s = &self.slos[k];
        let (ci, _) = s.judge_values(&p.values[k]);
        format!(
            "{} over {} replications at {:.1} req/s",
            measured(s, &ci),
            ci.n,
            rate
        )
    }

    /// The capacity for SLO `k` (or all SLOs).
    fn capacity(&mut self, k: Option<usize>) -> Capacity {
        let step = RESOLUTION * self.saturation_rps;
        let name = k.map_or("all".to_string(), |k| self.slos[k].text.clone());
        let lo = LOWEST * self.saturation_rps;
        match self.verdict(lo, k) {
            Verdict::Pass => {}
            Verdict::Fail => {
                let note = format!(
                    "the SLO fails even at 1% of the saturation rate ({}): it asks for less than an idle system achieves, so no capacity meets it; relax the SLO or make the service times shorter",
                    self.metric(lo, k)
                );
                return self.answer(name, Status::NeverMet, 0.0, 0.0, lo, note);
            }
            Verdict::Unsure => {
                let note = format!(
                    "inconclusive: at 1% of the saturation rate the SLO is within the noise of its limit ({}, the most --reps {} allows); run longer (--set simulation.duration_s=…) or with more --reps, or set a limit further from what an idle system achieves",
                    self.metric(lo, k),
                    self.reps
                );
                return self.answer(name, Status::Inconclusive, f64::NAN, 0.0, lo, note);
            }
        }
        // Bracket: a rate that fails (bounded queues may hold a latency SLO past saturation).
        let mut hi = self.saturation_rps;
        let mut bracketed = false;
        for _ in 0..12 {
            if self.verdict(hi, k) == Verdict::Fail {
                bracketed = true;
                break;
            }
            hi *= 1.5;
        }
        // The highest passing rate, then the lowest failing one.
        bisect(lo, hi, step, |m| self.verdict(m, k) == Verdict::Pass);
        let high = if bracketed {
            let low = self.highest_passing_for(k, hi);
            bisect(low, hi, step, |m| self.verdict(m, k) != Verdict::Fail).1
        } else {
            f64::INFINITY
        };
        // Whatever order the probes were made in, no rate that passed lies above the capacity.
        let low = self.highest_passing_for(k, high);
        if !bracketed {
            let note = format!(
                "the SLO still held at {:.1} req/s, the highest rate tried ({:.0}× the saturation rate)",
                low,
                low / self.saturation_rps
            );
            return self.answer(name, Status::Unbounded, low, low, high, note);
        }
        let capacity = self.crossing(k, low, high).max(low);
        let note = "the SLO holds with 95% confidence up to the interval's low end and fails with 95% confidence from its high end".into();
        self.answer(name, Status::Ok, capacity, low, high, note)
    }

    /// The highest rate below `below` that passed SLO `k` (all for `None`).
    fn highest_passing_for(&self, k: Option<usize>, below: f64) -> f64 {
        self.probes
            .iter()
            .enumerate()
            .filter(|(i, p)| p.rate < below && self.judge(*i, k) == Verdict::Pass)
            .map(|(_, p)| p.rate)
            .fold(LOWEST * self.saturation_rps, f64::max)
    }

    /// A result, with the bottleneck at the highest rate that did not fail.
    fn answer(
        &self,
        slo: String,
        status: Status,
        capacity_rps: f64,
        low: f64,
        high: f64,
        note: String,
    ) -> Capacity {
        let (bottleneck, bottleneck_utilisation) = self
            .probes
            .iter()
            .filter(|p| p.rate <= high && p.rate >= low)
            .max_by(|x, y| x.rate.total_cmp(&y.rate))
            .map(Probe::busiest)
            .unwrap_or((String::new(), f64::NAN));
        Capacity {
            slo,
            status,
            capacity_rps,
            ci95_low_rps: low,
            ci95_high_rps: high,
            bottleneck,
            bottleneck_utilisation,
            note,
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
            .map(|p| (p.rate, self.slos[k].judge_values(&p.values[k]).0.mean))
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

/// Samples (completed requests of the SLO's route) one replication needs for its metric to mean
/// something: about 30 beyond a quantile (3,000 for a p99), 1,000 for a mean or an error rate.
pub fn samples_needed(slo: &Slo) -> f64 {
    match slo.metric {
        SloMetric::Quantile(q) => 30.0 / (1.0 - q).max(1e-6),
        SloMetric::MeanLatency | SloMetric::ErrorRate => 1000.0,
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

/// Refuses SLOs that no configuration can meet: those that fail with confidence even at 1% of
/// the saturation rate, where the system is as good as idle (the service times' own tail, the
/// links' latency). Checked before a search spends its tries on them.
pub fn idle_check(
    model: &Model,
    slos: &[Slo],
    reps: impl Into<Replications>,
) -> Result<(), String> {
    let mut search = Search::new(model, slos, reps)?;
    let lo = LOWEST * search.saturation_rps;
    for (k, slo) in slos.iter().enumerate() {
        if search.verdict(lo, Some(k)) == Verdict::Fail {
            return Err(format!(
                "`{}`: {} cannot be met by any number of instances: even idle ({}) it is above its limit — the service times' own tail and the links' latency, which scaling does not shorten. Relax the SLO, or shorten the service times or links",
                model.name,
                slo.text,
                search.metric(lo, Some(k))
            ));
        }
    }
    Ok(())
}

/// One rate the search simulated, judged against one SLO: the search made visible.
#[derive(Clone, Debug)]
pub struct Probed {
    pub slo: String,
    pub rate_rps: f64,
    /// The metric's mean over the replications and its 95% half-width (infinite mean when a
    /// replication was saturated).
    pub mean: f64,
    pub half_width: f64,
    pub limit: f64,
    pub verdict: Verdict,
    pub replications: usize,
}

impl Search<'_> {
    /// Every rate simulated, per SLO, in rate order.
    fn probed(&self) -> Vec<Probed> {
        let mut out = Vec::new();
        for (k, slo) in self.slos.iter().enumerate() {
            let mut probes: Vec<&Probe> = self.probes.iter().collect();
            probes.sort_by(|a, b| a.rate.total_cmp(&b.rate));
            for p in probes {
                let (ci, verdict) = slo.judge_values(&p.values[k]);
                out.push(Probed {
                    slo: slo.text.clone(),
                    rate_rps: p.rate,
                    mean: ci.mean,
                    half_width: ci.half_width,
                    limit: slo.limit,
                    verdict,
                    replications: ci.n,
                });
            }
        }
        out
    }
}

/// The capacity of `model` for each SLO, then for all together when there are several.
pub fn capacity(
    model: &Model,
    slos: &[Slo],
    reps: impl Into<Replications>,
) -> Result<Vec<Capacity>, String> {
    capacity_searched(model, slos, reps).map(|(c, _)| c)
}

/// [`capacity`], with every rate the search simulated.
pub fn capacity_searched(
    model: &Model,
    slos: &[Slo],
    reps: impl Into<Replications>,
) -> Result<(Vec<Capacity>, Vec<Probed>), String> {
    capacity_reported(model, slos, reps, None)
}

/// [`capacity_searched`], telling `report` what each batch of replications measured as the
/// search goes.
pub fn capacity_reported(
    model: &Model,
    slos: &[Slo],
    reps: impl Into<Replications>,
    report: Option<&(dyn Fn(&str) + Sync)>,
) -> Result<(Vec<Capacity>, Vec<Probed>), String> {
    let mut search = Search::new(model, slos, reps)?;
    search.report = report;
    let mut out: Vec<Capacity> = (0..slos.len()).map(|k| search.capacity(Some(k))).collect();
    if slos.len() > 1 {
        out.push(search.capacity(None));
    }
    Ok((out, search.probed()))
}

/// What SLO `slo` measured, `ci`, as a phrase: "p99 = 44.220 ± 1.292 ms", "errors = 1.000% ±
/// 0.200%", or "a replication saturated" where a replication's value was infinite (its backlog
/// grew without bound), which no mean or interval describes.
fn measured(slo: &Slo, ci: &MeanCi) -> String {
    if ci.mean.is_infinite() {
        "a replication saturated".to_string()
    } else if slo.metric == SloMetric::ErrorRate {
        let (mean, half) = (100.0 * ci.mean, 100.0 * ci.half_width);
        format!("{} = {mean:.3}% ± {half:.3}%", slo.metric_name())
    } else {
        format!(
            "{} = {:.3} ± {:.3} ms",
            slo.metric_name(),
            ci.mean,
            ci.half_width
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phrase(slo: &str, mean: f64, half_width: f64) -> String {
        let slo: Slo = slo.parse().unwrap();
        measured(
            &slo,
            &MeanCi {
                mean,
                half_width,
                n: 10,
            },
        )
    }

    #[test]
    fn a_saturated_replication_is_named_not_printed_as_inf() {
        assert_eq!(
            phrase("p99<=50ms", f64::INFINITY, f64::NAN),
            "a replication saturated"
        );
        assert_eq!(
            phrase("p99<=50ms", 44.2201, 1.2918),
            "p99 = 44.220 ± 1.292 ms"
        );
    }

    #[test]
    fn an_error_rate_reads_in_percent() {
        assert_eq!(
            phrase("errors<=1%", 0.0125, 0.002),
            "errors = 1.250% ± 0.200%"
        );
    }
}
