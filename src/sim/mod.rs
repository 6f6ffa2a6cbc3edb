//! Microservice semantics on the domain-free engine: the life-cycle of a request through the
//! gateway, services, instances and links.
//!
//! A request is a tree of [`call::Call`]s. The root call is the gateway's handling of it; each
//! endpoint, after its processing, makes its downstream calls stage by stage (the calls of a stage
//! in parallel) and responds when the last stage has returned. Calls cross links as messages.

mod call;
mod network;
mod result;
mod series;
mod station;

pub use network::{MAX_RETRANSMISSIONS, MAX_RTO};
pub use result::{LinkResult, RouteResult, RunResult, ServiceResult};
pub use series::{Interval, TimeSeries};

use crate::engine::{self, Arena, EventQueue, Handle, Process, SimRng, SimTime};
use crate::model::{Model, ServiceId, Workload};
use crate::stats::LatencyStats;
use call::{Call, Event};
use network::Network;
use rand::RngExt;
use rand_distr::{Distribution, Exp};
use station::Station;
use std::time::Instant;

/// What to record beyond the summary statistics, and when to give up.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Record a time series with this interval.
    pub timeseries: Option<SimTime>,
    pub limits: Limits,
}

/// Guards against runs that would exhaust memory or patience.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Requests in flight at which the run stops: an overloaded model with unbounded queues
    /// would otherwise grow without bound.
    pub max_in_flight: u64,
    /// Events after which the run stops.
    pub max_events: Option<u64>,
    /// Wall-clock seconds after which the run stops.
    pub max_wall_s: Option<f64>,
}

/// The default cap on requests in flight (about 100 MB of calls and events).
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 1_000_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_events: None,
            max_wall_s: None,
        }
    }
}

/// Why a run ended before its duration.
#[derive(Clone, Debug, PartialEq)]
pub enum Stop {
    /// Too many requests in flight; `service` is where most calls were waiting.
    InFlight {
        limit: u64,
        service: String,
        queued: u64,
    },
    Events(u64),
    WallTime(f64),
    Interrupted,
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::InFlight {
                limit,
                service,
                queued,
            } => write!(
                f,
                "more than {limit} requests in flight: `{service}` is saturated ({queued} calls waiting); give it a queue_capacity, more capacity, or raise --max-in-flight"
            ),
            Stop::Events(n) => write!(
                f,
                "--max-events {n} reached (checked every {CHECK_EVERY} events)"
            ),
            Stop::WallTime(s) => write!(f, "--max-wall-s {s} reached"),
            Stop::Interrupted => write!(f, "interrupted"),
        }
    }
}

/// Events between checks of the wall clock and of interruptions.
const CHECK_EVERY: u64 = 1 << 14;

/// Simulates `model` with its own seed and returns what was measured.
pub fn simulate(model: &Model) -> RunResult {
    simulate_with(model, &Options::default())
}

/// Simulates `model`, recording what `options` ask for.
pub fn simulate_with(model: &Model, options: &Options) -> RunResult {
    let started = Instant::now();
    let mut sim = Simulator::new(model);
    let mut queue = EventQueue::new();
    if let Some(interval) = options.timeseries.filter(|i| i.0 > 0) {
        let names = model.services.iter().map(|s| s.name.clone()).collect();
        sim.series = Some(series::Recorder::new(interval, names));
        queue.schedule(interval, Event::Tick);
    }
    sim.max_in_flight = options.limits.max_in_flight;
    sim.start(&mut queue);
    let limits = options.limits;
    let mut stop = None;
    let events = engine::run_until_checked(
        &mut sim,
        &mut queue,
        model.duration,
        CHECK_EVERY,
        |events| {
            stop = if let Some(m) = limits.max_events.filter(|&m| events >= m) {
                Some(Stop::Events(m))
            } else if limits
                .max_wall_s
                .is_some_and(|w| started.elapsed().as_secs_f64() >= w)
            {
                Some(Stop::WallTime(limits.max_wall_s.unwrap_or_default()))
            } else if crate::interrupt::requested() {
                Some(Stop::Interrupted)
            } else {
                None
            };
            stop.is_none()
        },
    );
    if sim.stop.is_none() {
        sim.stop = stop;
    }
    let end = if sim.stop.is_some() {
        queue.now().max(model.warmup)
    } else {
        model.duration
    };
    sim.into_result(events, started.elapsed().as_secs_f64(), end)
}

/// Runs `reps` independent replications of `model` in parallel (rayon), replication `i` with the
/// seed derived from the model's seed and `i`. Results come back in replication order, so the
/// output does not depend on the number of threads.
pub fn replicate(model: &Model, reps: u32) -> Vec<RunResult> {
    use rayon::prelude::*;
    (0..reps)
        .into_par_iter()
        .map(|i| {
            let mut m = model.clone();
            m.seed = engine::derive_seed(model.seed, 0, u64::from(i));
            simulate(&m)
        })
        .collect()
}

/// The state of one run.
struct Simulator<'m> {
    model: &'m Model,
    rng: SimRng,
    calls: Arena<Call>,
    stations: Vec<Station>,
    network: Network,
    /// Cumulative route probabilities, for picking a route per request.
    route_cdf: Vec<f64>,
    /// Inter-arrival times of an open workload, in nanoseconds.
    interarrival: Option<Exp<f64>>,
    warmup: SimTime,
    end: SimTime,
    requests: Vec<u64>,
    errors: Vec<u64>,
    latency: Vec<LatencyStats>,
    /// The time series being recorded, if asked for.
    series: Option<series::Recorder>,
    /// Requests sent and not yet completed, and the cap on them.
    in_flight: u64,
    max_in_flight: u64,
    /// Why the run stopped early, if it did.
    stop: Option<Stop>,
}

impl Process for Simulator<'_> {
    type Event = Event;

    fn handle(&mut self, now: SimTime, event: Event, queue: &mut EventQueue<Event>) {
        match event {
            Event::Arrival => {
                self.new_request(now, queue, u32::MAX);
                if let Some(exp) = &self.interarrival {
                    let gap = SimTime::from_nanos_f64(exp.sample(&mut self.rng));
                    queue.schedule(now + gap, Event::Arrival);
                }
            }
            Event::UserReady { user } => self.new_request(now, queue, user),
            Event::ServiceDone { call } => self.service_done(now, queue, call),
            Event::Delivered { call } => self.deliver(now, queue, call),
            Event::Retransmit { call } => self.retransmit(now, queue, call),
            Event::Tick => self.tick(now, queue),
        }
    }
}

impl<'m> Simulator<'m> {
    fn new(model: &'m Model) -> Self {
        let mut acc = 0.0;
        let route_cdf = model
            .routes
            .iter()
            .map(|r| {
                acc += r.probability;
                acc
            })
            .collect();
        let interarrival = match model.workload {
            Workload::Open { rate_per_s } => {
                Some(Exp::new(rate_per_s / 1e9).expect("validated rate > 0"))
            }
            Workload::Closed { .. } => None,
        };
        let n = model.routes.len();
        Simulator {
            model,
            rng: engine::seeded_rng(model.seed),
            calls: Arena::new(),
            stations: model
                .services
                .iter()
                .map(|s| Station::new(s, model.warmup))
                .collect(),
            network: Network::new(model),
            route_cdf,
            interarrival,
            warmup: model.warmup,
            end: model.duration,
            requests: vec![0; n],
            errors: vec![0; n],
            latency: (0..n).map(|_| LatencyStats::new()).collect(),
            series: None,
            in_flight: 0,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            stop: None,
        }
    }

    /// Schedules the workload's first requests.
    fn start(&mut self, queue: &mut EventQueue<Event>) {
        match &self.model.workload {
            Workload::Open { .. } => {
                let exp = self
                    .interarrival
                    .as_ref()
                    .expect("open workloads have a rate");
                let gap = SimTime::from_nanos_f64(exp.sample(&mut self.rng));
                queue.schedule(gap, Event::Arrival);
            }
            Workload::Closed { users, think } => {
                // Each user starts after one think time, so they do not all fire at t = 0.
                for user in 0..*users {
                    let at = think.sample(&mut self.rng);
                    queue.schedule(at, Event::UserReady { user });
                }
            }
        }
    }

    /// A client sends a request: it enters the gateway as a root call.
    fn new_request(&mut self, now: SimTime, queue: &mut EventQueue<Event>, user: u32) {
        self.in_flight += 1;
        if self.in_flight > self.max_in_flight {
            self.stop_runaway(queue);
            return;
        }
        let route = self.pick_route();
        if now >= self.warmup {
            self.requests[route] += 1;
        }
        if let Some(series) = &mut self.series {
            series.arrival();
        }
        let endpoint = self.model.routes[route].gateway_endpoint as u32;
        let mut call = Call::child(Handle::NONE, endpoint, now);
        call.route = route as u16;
        call.user = user;
        let h = self.calls.insert(call);
        self.admit(now, queue, h);
    }

    fn pick_route(&mut self) -> usize {
        if self.route_cdf.len() == 1 {
            return 0;
        }
        let u: f64 = self.rng.random();
        self.route_cdf
            .iter()
            .position(|&c| u < c)
            .unwrap_or(self.route_cdf.len() - 1)
    }

    /// A call reaches its service: the balancer picks an instance, where it is served at once,
    /// queued, or rejected when the queue is full.
    fn admit(&mut self, now: SimTime, queue: &mut EventQueue<Event>, h: Handle) {
        let Some(call) = self.calls.get_mut(h) else {
            return;
        };
        let endpoint = &self.model.endpoints[call.endpoint as usize];
        let station = &mut self.stations[endpoint.service];
        if now >= self.warmup {
            station.arrivals += 1;
        }
        let i = station.pick_instance(&mut self.rng);
        call.instance = i as u32;
        call.admitted = now;
        let instance = &mut station.instances[i];
        if instance.busy < station.workers {
            instance.busy += 1;
            instance.outstanding += 1;
            station.busy.add(now, 1);
            station.record_wait(now, now, self.warmup);
            let done = now + endpoint.service_time.sample(&mut self.rng);
            queue.schedule(done, Event::ServiceDone { call: h });
        } else if station
            .queue_capacity
            .is_some_and(|cap| instance.queue.len() >= cap as usize)
        {
            if now >= self.warmup {
                station.rejected += 1;
            }
            call.failed = true;
            self.respond(now, queue, h);
        } else {
            instance.queue.push_back(h);
            instance.outstanding += 1;
            station.queued.add(now, 1);
        }
    }

    /// A worker finished processing: make the downstream calls, or respond.
    fn service_done(&mut self, now: SimTime, queue: &mut EventQueue<Event>, h: Handle) {
        let Some(call) = self.calls.get(h) else {
            return;
        };
        let endpoint = &self.model.endpoints[call.endpoint as usize];
        let (service, instance) = (endpoint.service, call.instance as usize);
        if endpoint.stages.is_empty() {
            self.release_worker(now, queue, service, instance, call.admitted);
            self.finish(now, queue, h);
        } else {
            if !self.stations[service].blocking {
                self.release_worker(now, queue, service, instance, call.admitted);
            }
            self.start_stage(now, queue, h, 0);
        }
    }

    /// Frees a worker, which takes the oldest waiting call if there is one.
    fn release_worker(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        service: ServiceId,
        i: usize,
        admitted: SimTime,
    ) {
        let station = &mut self.stations[service];
        station.record_residence(admitted, now, self.warmup);
        let instance = &mut station.instances[i];
        while let Some(next) = instance.queue.pop_front() {
            station.queued.add(now, -1);
            // A queued call may have gone stale (cancelled while waiting); skip it.
            if let Some(call) = self.calls.get(next) {
                station.record_wait(call.admitted, now, self.warmup);
                let time = &self.model.endpoints[call.endpoint as usize].service_time;
                let done = now + time.sample(&mut self.rng);
                queue.schedule(done, Event::ServiceDone { call: next });
                return;
            }
        }
        instance.busy -= 1;
        station.busy.add(now, -1);
    }

    /// Sends the calls of stage `stage` of `h`'s endpoint, in parallel.
    fn start_stage(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        h: Handle,
        stage: usize,
    ) {
        let Some(call) = self.calls.get_mut(h) else {
            return;
        };
        let endpoint = &self.model.endpoints[call.endpoint as usize];
        let targets = &endpoint.stages[stage];
        call.stage = stage as u16;
        // One extra pending count guards the stage: a call that fails synchronously (rejected
        // in-process) must not complete the stage while the loop is still sending its siblings.
        call.pending = targets.len() as u16 + 1;
        let origin = call.origin;
        for &target in targets {
            let child = self.calls.insert(Call::child(h, target as u32, origin));
            let callee = &self.model.endpoints[target];
            self.send(
                now,
                queue,
                child,
                endpoint.service,
                callee.service,
                callee.request_bytes,
            );
        }
        self.child_returned(now, queue, h, false);
    }

    /// A downstream call of `h` returned; when its stage is complete, go on or respond.
    fn child_returned(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        h: Handle,
        failed: bool,
    ) {
        let Some(call) = self.calls.get_mut(h) else {
            return;
        };
        call.failed |= failed;
        call.pending -= 1;
        if call.pending > 0 {
            return;
        }
        let endpoint = &self.model.endpoints[call.endpoint as usize];
        let next = call.stage as usize + 1;
        if !call.failed && next < endpoint.stages.len() {
            self.start_stage(now, queue, h, next);
        } else {
            if self.stations[endpoint.service].blocking {
                let (instance, admitted) = (call.instance as usize, call.admitted);
                self.release_worker(now, queue, endpoint.service, instance, admitted);
            }
            self.finish(now, queue, h);
        }
    }

    /// The call's work is done: it leaves its instance and responds.
    fn finish(&mut self, now: SimTime, queue: &mut EventQueue<Event>, h: Handle) {
        let Some(call) = self.calls.get(h) else {
            return;
        };
        let service = self.model.endpoints[call.endpoint as usize].service;
        self.stations[service].instances[call.instance as usize].outstanding -= 1;
        self.respond(now, queue, h);
    }

    /// Sends the call's response to its caller, or completes the request for a root call.
    fn respond(&mut self, now: SimTime, queue: &mut EventQueue<Event>, h: Handle) {
        let Some(call) = self.calls.get_mut(h) else {
            return;
        };
        if call.is_root() {
            self.complete_request(now, queue, h);
            return;
        }
        call.responding = true;
        call.tries = 0;
        let endpoint = &self.model.endpoints[call.endpoint as usize];
        let parent = call.parent;
        let Some(caller) = self.calls.get(parent) else {
            self.calls.remove(h);
            return;
        };
        let caller_service = self.model.endpoints[caller.endpoint as usize].service;
        self.send(
            now,
            queue,
            h,
            endpoint.service,
            caller_service,
            endpoint.response_bytes,
        );
    }

    /// A root call responded: record the request's latency and outcome.
    fn complete_request(&mut self, now: SimTime, queue: &mut EventQueue<Event>, h: Handle) {
        let Some(call) = self.calls.remove(h) else {
            return;
        };
        self.in_flight -= 1;
        let route = call.route as usize;
        if let Some(series) = &mut self.series {
            series.completion((now - call.origin).as_nanos(), call.failed);
        }
        if call.origin >= self.warmup {
            if call.failed {
                self.errors[route] += 1;
            } else {
                self.latency[route].record((now - call.origin).as_nanos());
            }
        }
        if let Workload::Closed { think, .. } = &self.model.workload {
            let at = now + think.sample(&mut self.rng);
            queue.schedule(at, Event::UserReady { user: call.user });
        }
    }

    /// Sends the message `h` has to send (its request or response) from `from` to `to`.
    fn send(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        h: Handle,
        from: ServiceId,
        to: ServiceId,
        bytes: u64,
    ) {
        match self.network.direction(from, to) {
            None => self.deliver(now, queue, h),
            Some(d) => self.transmit(now, queue, h, d, bytes),
        }
    }

    /// Puts a message on a link; it is delivered after serialisation and propagation, or
    /// retransmitted after a timeout if lost.
    fn transmit(
        &mut self,
        now: SimTime,
        queue: &mut EventQueue<Event>,
        h: Handle,
        d: usize,
        bytes: u64,
    ) {
        let tx = self.network.transmit(d, now, bytes, self.warmup, self.end);
        let loss = self.network.transmitters[d].loss;
        if loss > 0.0 && self.rng.random::<f64>() < loss {
            let Some(call) = self.calls.get_mut(h) else {
                return;
            };
            call.tries = call.tries.saturating_add(1);
            let at = tx.end + self.network.backoff(d, call.tries);
            queue.schedule(at, Event::Retransmit { call: h });
        } else {
            let at = tx.end + self.network.transmitters[d].latency.sample(&mut self.rng);
            queue.schedule(at, Event::Delivered { call: h });
        }
    }

    /// The retransmission timer of a lost message fired: send it again, or give up.
    fn retransmit(&mut self, now: SimTime, queue: &mut EventQueue<Event>, h: Handle) {
        let Some(call) = self.calls.get(h) else {
            return;
        };
        let (from, to, bytes) = self.message_route(call);
        let d = self
            .network
            .direction(from, to)
            .expect("only link messages are retransmitted");
        let measured = now >= self.warmup && now < self.end;
        let stats = &mut self.network.transmitters[d].stats;
        if call.tries > MAX_RETRANSMISSIONS {
            if measured {
                stats.failed += 1;
            }
            self.message_failed(now, queue, h);
        } else {
            if measured {
                stats.retransmissions += 1;
            }
            self.transmit(now, queue, h, d, bytes);
        }
    }

    /// Where the message `call` has in flight goes, and its size.
    fn message_route(&self, call: &Call) -> (ServiceId, ServiceId, u64) {
        let endpoint = &self.model.endpoints[call.endpoint as usize];
        let caller = self
            .calls
            .get(call.parent)
            .map_or(0, |p| self.model.endpoints[p.endpoint as usize].service);
        if call.responding {
            (endpoint.service, caller, endpoint.response_bytes)
        } else {
            (caller, endpoint.service, endpoint.request_bytes)
        }
    }

    /// A message was given up: the caller sees the call fail.
    fn message_failed(&mut self, now: SimTime, queue: &mut EventQueue<Event>, h: Handle) {
        let Some(call) = self.calls.remove(h) else {
            return;
        };
        self.child_returned(now, queue, call.parent, true);
    }

    /// A message arrived: a request at its callee, or a response at its caller.
    fn deliver(&mut self, now: SimTime, queue: &mut EventQueue<Event>, h: Handle) {
        let Some(call) = self.calls.get(h) else {
            return;
        };
        if call.responding {
            let (parent, failed) = (call.parent, call.failed);
            self.calls.remove(h);
            self.child_returned(now, queue, parent, failed);
        } else {
            self.admit(now, queue, h);
        }
    }

    /// Stops a run whose requests pile up, naming the service where they wait.
    fn stop_runaway(&mut self, queue: &mut EventQueue<Event>) {
        let (worst, queued) = self
            .stations
            .iter()
            .enumerate()
            .map(|(i, s)| (i, s.queued.value()))
            .max_by_key(|&(_, q)| q)
            .unwrap_or((0, 0));
        self.stop = Some(Stop::InFlight {
            limit: self.max_in_flight,
            service: self.model.services[worst].name.clone(),
            queued: queued.max(0) as u64,
        });
        queue.halt();
    }

    /// Closes a time-series interval and schedules the next.
    fn tick(&mut self, now: SimTime, queue: &mut EventQueue<Event>) {
        let queued: Vec<&crate::stats::TimeWeighted> =
            self.stations.iter().map(|s| &s.queued).collect();
        if let Some(series) = &mut self.series {
            series.close(now, &queued);
            queue.schedule(now + series.interval, Event::Tick);
        }
    }

    fn into_result(self, events: u64, wall_s: f64, end: SimTime) -> RunResult {
        result::collect(self, events, wall_s, end)
    }
}
