//! Releases during a run: each deployment's controller starts new-version instances, shifts
//! traffic, drains old ones, and — when its analysis finds the new version's calls failing or
//! slow — rolls back the same way.

use super::Simulator;
use super::call::Event;
use super::station::InstanceState;
use crate::engine::{EventQueue, SimTime};
use crate::model::{Deployment, ServiceId, Strategy};
use crate::stats::LatencyStats;

/// How often a controller reconciles (Kubernetes' controllers react to watch events within
/// about this).
const RECONCILE: SimTime = SimTime(100_000_000);

/// One step of a release, for `deployments.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct DeployStep {
    pub time_s: f64,
    pub service: String,
    pub strategy: &'static str,
    /// `start`, `started`, `drained`, `canary_serving`, `promote`, `switch`, `rollback`, `done`.
    pub step: &'static str,
    /// The version being rolled out at that step (1: the release, 0: back to the model's).
    pub version: u8,
    /// Instances started or drained by the step (0 for the others).
    pub instances: u32,
    pub detail: String,
}

/// The calls one version of a service finished in the measured window.
#[derive(Clone, Debug)]
pub struct VersionResult {
    pub service: String,
    pub version: u8,
    pub calls: u64,
    pub errors: u64,
    /// From admission at the instance to its response.
    pub latency: LatencyStats,
}

/// Where a release is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stage {
    Pending,
    /// Canary instances starting (`until` unknown) or serving their share until `until`.
    Canary {
        until: Option<SimTime>,
    },
    /// The second set starting.
    BlueGreen,
    /// Switched; the old set stands by until `until`.
    Standby {
        until: SimTime,
    },
    /// Replacing instances toward the target version.
    Rolling,
    Done,
}

/// Calls one version finished: over the measured window, and over the analysis window.
#[derive(Default)]
pub struct Tally {
    calls: u64,
    errors: u64,
    latency: crate::stats::LatencyRecorder,
    window_calls: u64,
    window_errors: u64,
    window_ns: Vec<u64>,
    /// Calls finished since the last time-series interval closed.
    interval_calls: u64,
}

/// A deployment's controller.
pub struct Rollout {
    service: ServiceId,
    /// Instances the service had when the release started: the count it keeps.
    n: u32,
    target: u8,
    batch: u32,
    stage: Stage,
    /// The analysis runs until then (`SimTime::MAX` while the release goes on).
    analysis_until: SimTime,
    window_end: SimTime,
    /// Whether the analysis still needs the latencies of each window (only with a rollback
    /// rule, until its last verdict).
    analysing: bool,
    pub tallies: [Tally; 2],
}

impl Rollout {
    pub fn new(d: &Deployment) -> Rollout {
        Rollout {
            service: d.service,
            n: 0,
            target: 1,
            batch: 1,
            stage: Stage::Pending,
            analysis_until: SimTime::MAX,
            window_end: SimTime::MAX,
            analysing: d.rollback.is_some(),
            tallies: [Tally::default(), Tally::default()],
        }
    }

    /// Counts a call that instance version `version` finished at `now`, after `ns`.
    pub fn record(&mut self, version: u8, failed: bool, ns: u64, measured: bool) {
        let t = &mut self.tallies[usize::from(version.min(1))];
        if measured {
            t.calls += 1;
            t.errors += u64::from(failed);
            if !failed {
                t.latency.record(ns);
            }
        }
        t.interval_calls += 1;
        if self.analysing {
            t.window_calls += 1;
            t.window_errors += u64::from(failed);
            if !failed {
                t.window_ns.push(ns);
            }
        }
    }

    /// The new version's share of the calls finished since the last call (NaN if none).
    pub fn interval_share(&mut self) -> f64 {
        let [old, new] = &mut self.tallies;
        let total = old.interval_calls + new.interval_calls;
        let share = new.interval_calls as f64 / total as f64;
        (old.interval_calls, new.interval_calls) = (0, 0);
        if total == 0 { f64::NAN } else { share }
    }

    /// The measured calls of each version that served any.
    pub fn results(&mut self, service: &str) -> Vec<VersionResult> {
        let mut out = Vec::new();
        for (v, t) in self.tallies.iter_mut().enumerate() {
            if t.calls > 0 {
                out.push(VersionResult {
                    service: service.to_string(),
                    version: v as u8,
                    calls: t.calls,
                    errors: t.errors,
                    latency: std::mem::take(&mut t.latency).into_stats(),
                });
            }
        }
        out
    }
}

/// Instances of a service by version and readiness, as the controller sees them.
#[derive(Default)]
struct Census {
    new_serving: u32,
    new_starting: u32,
    old_serving: u32,
    old_starting: u32,
}

impl<const FULL: bool, const PATHS: bool> Simulator<'_, FULL, PATHS> {
    /// Schedules each deployment's start.
    pub(super) fn start_deployments(&mut self, queue: &mut EventQueue<Event>) {
        for (index, d) in self.model.deployments.iter().enumerate() {
            self.stations[d.service].deployment = Some(index);
            queue.schedule(
                d.at,
                Event::Deploy {
                    index: index as u32,
                },
            );
        }
    }

    /// The version new instances of `service` run: the one its release is rolling out.
    pub(super) fn current_version(&self, service: ServiceId) -> u8 {
        match self.stations[service].deployment {
            Some(d) if self.rollouts[d].stage != Stage::Pending => self.rollouts[d].target,
            _ => 0,
        }
    }

    /// The service-time multiplier of `service`'s `version`.
    pub(super) fn version_slowdown(&self, service: ServiceId, version: u8) -> f64 {
        match (version, self.stations[service].deployment) {
            (1, Some(d)) => self.model.deployments[d].version.slowdown,
            _ => 1.0,
        }
    }

    /// Counts a call finished by a versioned instance, for the release's analysis and
    /// `versions.csv`.
    pub(super) fn version_record(
        &mut self,
        now: SimTime,
        service: ServiceId,
        i: usize,
        failed: bool,
        admitted: SimTime,
    ) {
        let Some(d) = self.stations[service].deployment else {
            return;
        };
        let version = self.stations[service].instances[i].version;
        let measured = self.measured(now) && admitted >= self.warmup;
        self.rollouts[d].record(version, failed, (now - admitted).0, measured);
    }

    /// Deployment `index`'s controller reconciles.
    #[inline(never)]
    pub(super) fn deploy(&mut self, now: SimTime, queue: &mut EventQueue<Event>, index: usize) {
        let d = &self.model.deployments[index];
        let service = d.service;
        let stage = self.rollouts[index].stage;
        match stage {
            Stage::Pending => self.begin_release(now, queue, index),
            Stage::Canary { until: None } if self.census(index).new_serving > 0 => {
                let Strategy::Canary { duration, .. } = d.strategy else {
                    unreachable!("a canary stage belongs to a canary")
                };
                self.rollouts[index].stage = Stage::Canary {
                    until: Some(now + duration),
                };
                self.step(
                    now,
                    index,
                    "canary_serving",
                    0,
                    "the canary serves its share",
                );
            }
            Stage::Canary { until: Some(t) } if now >= t => {
                self.stations[service].split = None;
                let r = &mut self.rollouts[index];
                (r.batch, r.stage) = (r.n, Stage::Rolling);
                self.step(now, index, "promote", 0, "the rest of the instances follow");
            }
            Stage::BlueGreen if self.census(index).new_serving >= self.rollouts[index].n => {
                self.stations[service].split = Some((1, 1.0));
                let standby = d.rollback.map_or(SimTime::ZERO, |r| r.window);
                self.rollouts[index].stage = Stage::Standby {
                    until: now + standby,
                };
                self.step(now, index, "switch", 0, "all traffic to the new set");
            }
            Stage::Standby { until } if now >= until => {
                let drained = self.drain_version(now, index, 0);
                self.stations[service].split = None;
                self.step(now, index, "drained", drained, "the old set");
                self.finish_release(now, index);
            }
            Stage::Rolling => self.reconcile(now, queue, index),
            _ => {}
        }
        self.analyse(now, queue, index);
        let r = &self.rollouts[index];
        if r.stage != Stage::Done || now < r.analysis_until {
            queue.schedule(
                now + RECONCILE,
                Event::Deploy {
                    index: index as u32,
                },
            );
        }
    }

    fn begin_release(&mut self, now: SimTime, queue: &mut EventQueue<Event>, index: usize) {
        let d = &self.model.deployments[index];
        let n = self.stations[d.service].provisioned().max(1);
        let (strategy, rule) = (d.strategy, d.rollback);
        let r = &mut self.rollouts[index];
        r.n = n;
        if let Some(rule) = rule {
            r.window_end = now + rule.window;
        }
        self.step(now, index, "start", 0, &format!("{n} instances"));
        match strategy {
            Strategy::Rolling { batch } => {
                let r = &mut self.rollouts[index];
                (r.batch, r.stage) = (batch, Stage::Rolling);
                self.reconcile(now, queue, index);
            }
            Strategy::Canary { share, .. } => {
                let k = ((share * f64::from(n)).ceil() as u32).clamp(1, n);
                self.stations[d.service].split = Some((1, share));
                self.start_version(now, queue, index, k);
                self.rollouts[index].stage = Stage::Canary { until: None };
            }
            Strategy::BlueGreen => {
                self.stations[d.service].split = Some((1, 0.0));
                self.start_version(now, queue, index, n);
                self.rollouts[index].stage = Stage::BlueGreen;
            }
        }
    }

    /// Starts `k` instances of the target version.
    fn start_version(&mut self, now: SimTime, queue: &mut EventQueue<Event>, index: usize, k: u32) {
        let d = &self.model.deployments[index];
        let (service, startup, version) = (d.service, d.startup, self.rollouts[index].target);
        for _ in 0..k {
            self.start_instance(now, queue, service, version, startup);
        }
        if k > 0 {
            self.step(now, index, "started", k, "");
        }
    }

    /// The instances of the service, as the controller counts them: serving means ready and
    /// (with health checks) registered.
    fn census(&self, index: usize) -> Census {
        let r = &self.rollouts[index];
        let station = &self.stations[r.service];
        let mut c = Census::default();
        for x in &station.instances {
            let serving = x.state == InstanceState::Ready && (!station.managed || x.registered);
            let starting =
                x.state == InstanceState::Starting || (x.state == InstanceState::Ready && !serving);
            let (s, st) = if x.version == r.target {
                (&mut c.new_serving, &mut c.new_starting)
            } else {
                (&mut c.old_serving, &mut c.old_starting)
            };
            *s += u32::from(serving);
            *st += u32::from(starting);
        }
        c
    }

    /// A rolling update toward the target version with `batch` extra instances at most and
    /// none unavailable (Kubernetes' maxSurge = batch, maxUnavailable = 0).
    fn reconcile(&mut self, now: SimTime, queue: &mut EventQueue<Event>, index: usize) {
        let (n, batch, target, service) = {
            let r = &self.rollouts[index];
            (r.n, r.batch, r.target, r.service)
        };
        let c = self.census(index);
        // Old instances still starting will never be wanted.
        if c.old_starting > 0 {
            let station = &mut self.stations[service];
            for i in 0..station.instances.len() {
                let x = &station.instances[i];
                let starting = x.state == InstanceState::Starting
                    || (x.state == InstanceState::Ready && station.managed && !x.registered);
                if x.version != target && starting {
                    station.drain(now, i);
                }
            }
        }
        let new_total = c.new_serving + c.new_starting;
        if new_total < n {
            let allowed = (n + batch).saturating_sub(c.old_serving + new_total);
            self.start_version(now, queue, index, allowed.min(n - new_total));
        }
        let removable = (c.old_serving + c.new_serving).saturating_sub(n);
        let drained = self.drain_old(now, index, removable.min(c.old_serving));
        if drained > 0 {
            self.step(now, index, "drained", drained, "");
        }
        let c = self.census(index);
        if c.old_serving == 0 && c.new_starting == 0 {
            self.finish_release(now, index);
        }
    }

    /// Drains up to `k` serving instances not of the target version, newest first.
    fn drain_old(&mut self, now: SimTime, index: usize, k: u32) -> u32 {
        let (service, target) = (self.rollouts[index].service, self.rollouts[index].target);
        let station = &mut self.stations[service];
        let mut drained = 0;
        for i in (0..station.instances.len()).rev() {
            if drained == k {
                break;
            }
            let x = &station.instances[i];
            if x.version != target && x.state == InstanceState::Ready {
                station.drain(now, i);
                drained += 1;
            }
        }
        drained
    }

    /// Drains every ready instance of `version`.
    fn drain_version(&mut self, now: SimTime, index: usize, version: u8) -> u32 {
        let service = self.rollouts[index].service;
        let station = &mut self.stations[service];
        let mut drained = 0;
        for i in 0..station.instances.len() {
            if station.instances[i].version == version
                && station.instances[i].state == InstanceState::Ready
            {
                station.drain(now, i);
                drained += 1;
            }
        }
        drained
    }

    fn finish_release(&mut self, now: SimTime, index: usize) {
        let r = &mut self.rollouts[index];
        if r.stage == Stage::Done {
            return;
        }
        r.stage = Stage::Done;
        // The analysis watches one more window after a release completes.
        let window = self.model.deployments[index]
            .rollback
            .map_or(SimTime::ZERO, |w| w.window);
        r.analysis_until = if r.target == 1 { now + window } else { now };
        let detail = if r.target == 1 {
            "the new version serves"
        } else {
            "rolled back"
        };
        self.step(now, index, "done", 0, detail);
    }

    /// At the end of each analysis window: roll back if the new version's calls in it failed
    /// too often or were too slow.
    fn analyse(&mut self, now: SimTime, queue: &mut EventQueue<Event>, index: usize) {
        let Some(rule) = self.model.deployments[index].rollback else {
            return;
        };
        let r = &mut self.rollouts[index];
        if r.target != 1 || now > r.analysis_until {
            r.analysing = false;
            for t in &mut r.tallies {
                t.window_ns = Vec::new();
            }
            return;
        }
        if now < r.window_end {
            return;
        }
        r.window_end = now + rule.window;
        let t = &mut r.tallies[1];
        let (calls, errors) = (t.window_calls, t.window_errors);
        let mut ns = std::mem::take(&mut t.window_ns);
        (t.window_calls, t.window_errors) = (0, 0);
        if calls == 0 {
            return;
        }
        let rate = errors as f64 / calls as f64;
        let p99 = if ns.is_empty() {
            None
        } else {
            let k = ((ns.len() as f64 * 0.99).ceil() as usize).clamp(1, ns.len()) - 1;
            Some(SimTime(*ns.select_nth_unstable(k).1))
        };
        let verdict = if let Some(max) = rule.max_error_rate.filter(|&m| rate > m) {
            Some(format!("error rate {:.3} > {max} over {calls} calls", rate))
        } else {
            match (rule.max_p99, p99) {
                (Some(max), Some(p)) if p > max => Some(format!(
                    "p99 {:.1} ms > {} ms over {calls} calls",
                    p.as_millis_f64(),
                    max.as_millis_f64()
                )),
                _ => None,
            }
        };
        if let Some(reason) = verdict {
            self.roll_back(now, queue, index, &reason);
        }
    }

    /// Aborts the release: all traffic back to the model's version, which replaces the new
    /// instances as the strategy replaced the old ones (a canary's or blue-green's at once).
    fn roll_back(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        index: usize,
        reason: &str,
    ) {
        let d = &self.model.deployments[index];
        let batch = match d.strategy {
            Strategy::Rolling { batch } => batch,
            _ => self.rollouts[index].n,
        };
        self.stations[d.service].split = None;
        let r = &mut self.rollouts[index];
        r.target = 0;
        r.batch = batch;
        r.stage = Stage::Rolling;
        r.analysis_until = now;
        self.step(now, index, "rollback", 0, reason);
        self.reconcile(now, queue, index);
    }

    fn step(
        &mut self,
        now: SimTime,
        index: usize,
        step: &'static str,
        instances: u32,
        detail: &str,
    ) {
        let d = &self.model.deployments[index];
        self.deploy_steps.push(DeployStep {
            time_s: now.as_secs_f64(),
            service: self.model.services[d.service].name.clone(),
            strategy: d.strategy.as_str(),
            step,
            version: self.rollouts[index].target,
            instances,
            detail: detail.to_string(),
        });
    }
}
