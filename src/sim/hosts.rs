//! Hosts: the cores a call's CPU work (`cpu_ms`) shares with everything else computing on the
//! same machine, by processor sharing.
//!
//! An exact, event-driven schedule (not time slices): with `n` calls computing and `b`
//! background cores on a host of `c` cores, each call's work advances at `speed · min(1, c /
//! (n + b))`. All calls advance alike, so the host keeps one "virtual work" clock — the work
//! each call present throughout has received — and a call finishes when that clock reaches its
//! start value plus its demand: a heap ordered by that finish value gives the next completion,
//! which is rescheduled whenever `n` changes (older completion events carry an older
//! generation and are ignored).

use super::Simulator;
use super::breakdown::Component;
use super::call::Event;
use crate::engine::{EventQueue, Handle, SimTime};
use crate::model::Host;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// A call computing on a host.
#[derive(Clone, Copy, Debug)]
pub struct Job {
    /// The host's virtual work (ns of CPU at speed 1) at which it is done.
    finish: f64,
    /// Arrival order, to break ties.
    seq: u64,
    call: Handle,
    /// Its wait (`service_ms`) after the CPU work.
    then: SimTime,
    /// Its CPU demand, at full speed.
    demand: SimTime,
    started: SimTime,
}

impl PartialEq for Job {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Job {}
impl PartialOrd for Job {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Job {
    fn cmp(&self, other: &Self) -> Ordering {
        self.finish
            .total_cmp(&other.finish)
            .then(self.seq.cmp(&other.seq))
    }
}

/// The run-time state of a host.
pub struct HostState {
    cores: f64,
    speed: f64,
    background: f64,
    /// Work each call computing since the start has received, ns at speed 1.
    work: f64,
    last: SimTime,
    jobs: BinaryHeap<Reverse<Job>>,
    seq: u64,
    /// Bumped at every reschedule; a completion event of an older generation is stale.
    pub generation: u32,
    warmup: SimTime,
    /// Core-ns busy (calls and background) over the measured window.
    busy_ns: f64,
    /// ∫ calls computing dt over the measured window.
    computing_ns: f64,
    /// Core-ns busy since the start of the run (for the time series).
    all_busy_ns: f64,
    /// ∫ background cores dt over the measured window.
    background_ns: f64,
}

/// What a host did over the measured window.
#[derive(Clone, Debug, PartialEq)]
pub struct HostResult {
    pub name: String,
    pub cores: u32,
    /// Busy cores (calls' work and background) over cores, time-averaged.
    pub cpu_utilisation: f64,
    /// Mean number of calls computing (running or waiting for a core).
    pub mean_computing: f64,
    pub background_cores: f64,
}

impl HostState {
    pub fn new(host: &Host, warmup: SimTime) -> HostState {
        HostState {
            cores: f64::from(host.cores),
            speed: host.speed,
            background: host.background_cores,
            work: 0.0,
            last: SimTime::ZERO,
            jobs: BinaryHeap::new(),
            seq: 0,
            generation: 0,
            warmup,
            busy_ns: 0.0,
            computing_ns: 0.0,
            all_busy_ns: 0.0,
            background_ns: 0.0,
        }
    }

    /// Work per ns each computing call receives now.
    fn rate(&self) -> f64 {
        let n = self.jobs.len() as f64;
        self.speed * (self.cores / (n + self.background)).min(1.0)
    }

    /// Brings the virtual work clock and the statistics up to `now`.
    fn advance(&mut self, now: SimTime) {
        if now <= self.last {
            return;
        }
        let dt = (now - self.last).0 as f64;
        let n = self.jobs.len() as f64;
        if n > 0.0 {
            self.work += dt * self.rate();
        }
        self.all_busy_ns += dt * (n + self.background).min(self.cores);
        let from = self.last.max(self.warmup);
        if now > from {
            let measured = (now - from).0 as f64;
            self.busy_ns += measured * (n + self.background).min(self.cores);
            self.computing_ns += measured * n;
            self.background_ns += measured * self.background;
        }
        self.last = now;
    }

    /// A call starts `demand` of CPU work, then waits `then`; returns when the host's next
    /// completion is due.
    fn submit(
        &mut self,
        now: SimTime,
        call: Handle,
        demand: SimTime,
        then: SimTime,
    ) -> Option<SimTime> {
        self.advance(now);
        self.seq += 1;
        self.jobs.push(Reverse(Job {
            finish: self.work + demand.0 as f64,
            seq: self.seq,
            call,
            then,
            demand,
            started: now,
        }));
        self.next(now)
    }

    /// The time of the next completion at the current rate (a new generation).
    fn next(&mut self, now: SimTime) -> Option<SimTime> {
        self.generation = self.generation.wrapping_add(1);
        let Reverse(first) = self.jobs.peek()?;
        let left = (first.finish - self.work).max(0.0);
        Some(now + SimTime((left / self.rate()).ceil() as u64))
    }

    /// The calls whose work is done by `now`.
    fn complete(&mut self, now: SimTime, done: &mut Vec<Job>) {
        self.advance(now);
        // Half a nanosecond of work: rounding of the completion time up to whole ns.
        while let Some(Reverse(j)) = self.jobs.peek()
            && j.finish <= self.work + 0.5
        {
            done.push(self.jobs.pop().expect("peeked").0);
        }
    }

    /// Core-ns busy from the start of the run to `now`, read without advancing the host's
    /// clock (so that recording a time series changes no completion time by a rounding).
    pub fn busy_core_ns(&self, now: SimTime) -> f64 {
        let dt = now.saturating_sub(self.last).0 as f64;
        let n = self.jobs.len() as f64;
        self.all_busy_ns + dt * (n + self.background).min(self.cores)
    }

    /// The background load becomes `cores` at `now`: the computing calls' rate changes, so the
    /// next completion is due at another time (returned, a new generation).
    fn set_background(&mut self, now: SimTime, cores: f64) -> Option<SimTime> {
        self.advance(now);
        self.background = cores;
        self.next(now)
    }

    /// Cores of the host.
    pub fn cores(&self) -> f64 {
        self.cores
    }

    /// The measured window's figures, up to `end`.
    pub fn result(&mut self, host: &Host, end: SimTime) -> HostResult {
        self.advance(end);
        let window = end.saturating_sub(self.warmup).0 as f64;
        let per = |x: f64| if window > 0.0 { x / window } else { f64::NAN };
        HostResult {
            name: host.name.clone(),
            cores: host.cores,
            cpu_utilisation: per(self.busy_ns) / self.cores,
            mean_computing: per(self.computing_ns),
            // A load that changes is reported as its mean over the window.
            background_cores: if host.background_changes.is_empty() {
                host.background_cores
            } else {
                per(self.background_ns)
            },
        }
    }
}

impl<const FULL: bool, const PATHS: bool> Simulator<'_, FULL, PATHS> {
    /// Call `h` computes `demand` on `host`, then waits `then` before its processing is done.
    pub(super) fn compute(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        host: usize,
        h: Handle,
        demand: SimTime,
        then: SimTime,
    ) {
        let next = self.hosts[host].submit(now, h, demand, then);
        self.schedule_cpu(queue, host, next);
    }

    /// Change `change` of `host`'s background load takes effect.
    pub(super) fn background_changed(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        host: usize,
        change: usize,
    ) {
        let cores = self.model.hosts[host].background_changes[change].1;
        let next = self.hosts[host].set_background(now, cores);
        self.schedule_cpu(queue, host, next);
    }

    /// Schedules the changes of every host's background load.
    pub(super) fn schedule_background(&self, queue: &mut EventQueue<Event>) {
        for (h, host) in self.model.hosts.iter().enumerate() {
            for (c, &(at, _)) in host.background_changes.iter().enumerate() {
                queue.schedule(
                    at,
                    Event::Background {
                        host: h as u32,
                        change: c as u32,
                    },
                );
            }
        }
    }

    fn schedule_cpu(&mut self, queue: &mut EventQueue<Event>, host: usize, at: Option<SimTime>) {
        if let Some(at) = at {
            queue.schedule(
                at,
                Event::CpuDone {
                    host: host as u32,
                    generation: self.hosts[host].generation,
                },
            );
        }
    }

    /// A host's next completion is due (unless the schedule changed since): the calls done
    /// computing go on to their wait, and the next completion is scheduled.
    #[inline(never)]
    pub(super) fn cpu_done(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        host: usize,
        generation: u32,
    ) {
        if self.hosts[host].generation != generation {
            return;
        }
        let mut done = std::mem::take(&mut self.cpu_scratch);
        self.hosts[host].complete(now, &mut done);
        for job in done.drain(..) {
            queue.schedule(now + job.then, Event::ServiceDone { call: job.call });
            // Time spent waiting for a core: the work took longer than its demand.
            let stretch = (now - job.started).saturating_sub(job.demand);
            if stretch > SimTime::ZERO && self.paths.is_some() {
                let service = self.calls.get(job.call).map(|c| c.service as usize);
                if let Some(service) = service {
                    self.on_path(job.call, service, Component::Queueing, stretch);
                }
            }
        }
        self.cpu_scratch = done;
        let next = self.hosts[host].next(now);
        self.schedule_cpu(queue, host, next);
    }
}
