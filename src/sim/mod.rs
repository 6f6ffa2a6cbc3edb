//! Microservice semantics on the domain-free engine: the life-cycle of a request through the
//! gateway, services, instances and links.
//!
//! A request is a tree of [`call::Call`]s. The root call is the gateway's handling of it; each
//! endpoint, after its processing, makes its downstream calls stage by stage (the calls of a stage
//! in parallel) and responds when the last stage has returned. Calls cross links as messages.

mod attempts;
mod breakdown;
mod call;
mod deploy;
mod detached;
mod faults;
mod hosts;
mod least;
mod messages;
mod network;
mod operations;
mod plan;
mod policy;
mod requests;
mod result;
mod series;
mod serving;
mod station;
mod stores;
mod traces;

pub use breakdown::{Component, RouteBreakdown, hop_parts, link_hop};
pub use call::ErrorKind;
pub use deploy::{DeployStep, VersionResult};
pub use hosts::HostResult;
pub use network::{MAX_RETRANSMISSIONS, MAX_RTO};
pub use policy::EdgeStats;
pub use result::{
    EdgeResult, LinkResult, RouteResult, RunResult, ScaleEvent, ServiceResult, saturated,
};
pub use series::{Interval, TimeSeries};
pub use stores::{SessionViolations, StoreResult};
pub use traces::{Span, SpanKind, Trace, TraceSampling, mix as trace_mix};

use crate::engine::{self, Arena, EventQueue, Grow, Handle, Process, SimRng, SimTime};
use crate::model::{ArrivalPattern, FaultKind, Model, Workload};
use crate::stats::LatencyRecorder;
use call::{Call, CallSide, Event};
use network::Network;
use plan::Plan;
use policy::{EdgeState, Exchange};
use rand_distr::{Distribution, Exp};
use station::Station;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What to record beyond the summary statistics, and when to give up.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Record a time series with this interval.
    pub timeseries: Option<SimTime>,
    /// Record where each request's time goes (per hop and component).
    pub breakdown: bool,
    /// Record the spans of these requests (see [`Trace`]).
    pub traces: Option<TraceSampling>,
    pub limits: Limits,
    /// Asks the run to stop early (checked every few thousand events); what was measured so
    /// far is returned, marked [`Stop::Interrupted`].
    pub cancel: Cancel,
}

/// A request to stop, shared with whoever may raise it (the command line's Ctrl-C handler).
/// The default never fires. Passed in, not read from a global, so that the simulation layer
/// depends on nothing above it and a test can stop a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cancel(Option<&'static AtomicBool>);

impl Cancel {
    /// Stops when `flag` is set.
    pub fn on(flag: &'static AtomicBool) -> Cancel {
        Cancel(Some(flag))
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.0.is_some_and(|f| f.load(Ordering::Relaxed))
    }
}

/// How many independent runs of a model to make, and what may stop them.
#[derive(Clone, Copy, Debug)]
pub struct Replications {
    pub count: u32,
    pub cancel: Cancel,
}

impl From<u32> for Replications {
    fn from(count: u32) -> Replications {
        Replications {
            count,
            cancel: Cancel::default(),
        }
    }
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
    /// Too many requests (or fire-and-forget calls, `detached`) in flight; `service` is where
    /// most calls were waiting.
    InFlight {
        limit: u64,
        service: String,
        queued: u64,
        detached: bool,
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
                detached,
            } => write!(
                f,
                "more than {limit} {} in flight: `{service}` is saturated ({queued} calls waiting); give it a queue_capacity, more capacity, or raise --max-in-flight",
                if *detached {
                    "fire-and-forget calls"
                } else {
                    "requests"
                }
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

/// The stream of [`engine::derive_seed`] the operations' randomness is drawn from.
const OPS_STREAM: u64 = 0x6f70_7300;
/// The random stream that picks each request's client in an open workload (for stores keyed
/// by client), apart from the others so that adding it changes nothing else.
const CLIENT_STREAM: u64 = 0x636c_6900;

/// Events between checks of the wall clock and of interruptions.
const CHECK_EVERY: u64 = 1 << 14;

/// Simulates `model` with its own seed and returns what was measured.
pub fn simulate(model: &Model) -> RunResult {
    simulate_with(model, &Options::default())
}

/// Simulates `model`, recording what `options` ask for.
pub fn simulate_with(model: &Model, options: &Options) -> RunResult {
    simulate_seeded(model, model.seed, options)
}

/// [`simulate_with`] under `seed` instead of the model's own: a replication's run, without a
/// copy of the model to carry its seed (tens of MB for a model of 10,000 services).
pub fn simulate_seeded(model: &Model, seed: u64, options: &Options) -> RunResult {
    match (is_plain(model, options), options.breakdown) {
        (true, false) => run::<false, false>(model, seed, options),
        (true, true) => run::<false, true>(model, seed, options),
        (false, _) => run::<true, true>(model, seed, options),
    }
}

/// Whether a run needs none of the mechanisms beyond requests, queues, stages and links: no
/// call policies, faults, autoscaling, rate limits, error responses, message loss, propagated
/// deadlines or time series. Such a run takes the handlers compiled with `FULL = false`, where
/// every test for those mechanisms is the constant it always evaluates to in that run (10% of
/// the built-in model's instructions were such tests). A mechanism whose tests are written
/// `FULL && …` must be named here, or plain runs would skip it.
///
/// The latency breakdown is not among them: `meshsim run` keeps it by default, and as one of
/// them it sent every `run` of a plain model through the full handlers. Its tests are
/// compiled in or out on their own (`PATHS`, see [`run`]).
fn is_plain(model: &Model, options: &Options) -> bool {
    model.faults.is_empty()
        && model.deployments.is_empty()
        && model.services.iter().all(|s| s.store.is_none())
        && model.services.iter().all(|s| {
            s.health_check.is_none()
                && s.discovery_refresh.is_none()
                && s.outlier_detection.is_none()
        })
        && !model.propagate_deadline
        && model.edges.iter().all(|e| e.policy.is_plain())
        && model
            .endpoints
            .iter()
            .all(|e| e.stages.iter().flatten().all(|d| d.is_awaited()))
        && model
            .services
            .iter()
            .all(|s| s.autoscale.is_none() && s.rate_limit.is_none() && s.max_concurrency.is_none())
        && model
            .endpoints
            .iter()
            .all(|e| e.error_probability == 0.0 && e.after_time.is_none() && e.cpu_time.is_none())
        && model.links.iter().all(|l| l.loss == 0.0)
        && options.timeseries.is_none()
        && options.traces.is_none()
}

/// The bytes of records a call reads where its model puts them (its service's station, its
/// endpoint's plan and calls, its link's transmitters) past which most events wait for memory,
/// and loading the next events' records ahead (see `Simulator::hint_records`) pays for what it
/// costs every event. Measured on generated models (`meshsim generate`, events per second with
/// the hints ÷ without, medians of 10 interleaved runs): 2.1 MB of records (1,000 services)
/// 0.87, 6.4 MB (3,000) 0.92, 12.8 MB (6,000) 1.21, 21.4 MB (10,000) 1.42.
///
/// Instances are not counted: which one takes a call is drawn when the call arrives (unless
/// its service has one), too late to load it ahead, so a model of many instances and few
/// services (`benches/models/wide.toml`, 100,000 instances: 19 MB of records then) gained
/// nothing from the hints and paid for them (0.91). A call now reads only its instance's load
/// ([`station::Load`], 1.2 MB for those 100,000).
///
/// Those figures counted a link direction as 128 bytes. Session 43 put a direction's hot part
/// in 32 (its [`network::Transmitter`]), so the same models' records count 0.72 of what they
/// did, and the threshold went from 10 to 7 MB with them: the same models take the hints. At
/// 6,000 services (7.7 MB now) the hints gain ×1.09 (median of 20 interleaved runs; with the
/// threshold left at 10 MB that model lost them and ran 10% slower).
const CACHED_RECORDS: usize = 7 << 20;

/// Whether `model`'s records outgrow [`CACHED_RECORDS`].
fn records_outgrow_cache(model: &Model) -> bool {
    use std::mem::size_of;
    let calls: usize = (model.endpoints.iter())
        .map(|e| e.stages.iter().map(Vec::len).sum::<usize>())
        .sum();
    let bytes = model.services.len() * size_of::<Station>()
        + model.endpoints.len() * 64
        + calls * size_of::<plan::Hop>()
        + model.links.len() * 2 * size_of::<network::Transmitter>();
    bytes > CACHED_RECORDS
}

/// [`simulate_with`], with the mechanisms of [`is_plain`] compiled in (`FULL`) or out, and the
/// latency breakdown's tests compiled in (`PATHS`: whether paths are kept is then asked at
/// run time) or out (the run keeps none).
fn run<const FULL: bool, const PATHS: bool>(
    model: &Model,
    seed: u64,
    options: &Options,
) -> RunResult {
    run_hinted::<FULL, PATHS>(model, seed, options, records_outgrow_cache(model))
}

/// [`run`], loading records ahead (`Simulator::hint_records`) or not, whatever the model's size.
fn run_hinted<const FULL: bool, const PATHS: bool>(
    model: &Model,
    seed: u64,
    options: &Options,
    hints: bool,
) -> RunResult {
    debug_assert!(PATHS || !options.breakdown, "a breakdown needs PATHS");
    let started = Instant::now();
    let plan = Plan::new(model);
    let mut sim = Simulator::<FULL, PATHS>::new(model, &plan, seed);
    sim.hint_records = hints;
    let mut queue = EventQueue::new();
    if let Some(interval) = options.timeseries.filter(|i| i.0 > 0) {
        sim.series = Some(series::Recorder::new(interval, model));
        queue.schedule(interval, Event::Tick);
    }
    sim.max_in_flight = options.limits.max_in_flight;
    if options.breakdown {
        let hops = model.services.len() + 2 * model.links.len();
        sim.paths = Some(breakdown::Paths::new(model.routes.len(), hops));
        sim.tail_cut = vec![0; model.routes.len()];
    }
    if let Some(sampling) = options.traces {
        sim.tracer = Some(Box::new(traces::Tracer::new(sampling, seed, model.warmup)));
    }
    queue.hint_next(sim.hint_records);
    sim.start(&mut queue);
    let limits = options.limits;
    let mut stop = None;
    let mut events = 0;
    // The run is cut in two at the middle of the measured window, to count the requests in
    // flight there: a backlog that grew from there to the end is saturation (see
    // `result::saturated`). Events at the cut stay queued, so the run is the same as one piece.
    let middle = SimTime((model.warmup.as_nanos() / 2) + (model.duration.as_nanos() / 2));
    for (part, until) in [middle, model.duration].into_iter().enumerate() {
        if part == 1 {
            sim.in_flight_at_middle = Some(sim.in_flight);
        }
        let before = events;
        events += engine::run_until_checked(&mut sim, &mut queue, until, CHECK_EVERY, |n| {
            stop = if let Some(m) = limits.max_events.filter(|&m| before + n >= m) {
                Some(Stop::Events(m))
            } else if limits
                .max_wall_s
                .is_some_and(|w| started.elapsed().as_secs_f64() >= w)
            {
                Some(Stop::WallTime(limits.max_wall_s.unwrap_or_default()))
            } else if options.cancel.requested() {
                Some(Stop::Interrupted)
            } else {
                None
            };
            stop.is_none()
        });
        if stop.is_some() || sim.stop.is_some() {
            break;
        }
    }
    if sim.stop.is_none() {
        sim.stop = stop;
    }
    let stopped_at = sim.stop.is_some().then(|| queue.now());
    let end = stopped_at.map_or(model.duration, |at| at.max(model.warmup));
    let mut result = sim.into_result(events, started.elapsed().as_secs_f64(), end);
    result.stopped_at_s = stopped_at.map(SimTime::as_secs_f64);
    result
}

/// Runs `reps` independent replications of `model` in parallel (rayon), replication `i` with the
/// seed derived from the model's seed and `i`. Results come back in replication order, so the
/// output does not depend on the number of threads.
pub fn replicate(model: &Model, reps: u32, options: &Options) -> Vec<RunResult> {
    replicate_seeded(model, model.seed, 0, 0..reps, options)
}

/// The one way meshsim replicates a run: replications `reps` of `model` in parallel, replication
/// `i` seeded with `derive_seed(seed, stream, i)` (a sweep gives each point its own stream), in
/// replication order whatever the number of threads.
pub fn replicate_seeded(
    model: &Model,
    seed: u64,
    stream: u64,
    reps: Range<u32>,
    options: &Options,
) -> Vec<RunResult> {
    replicate_reduced(model, seed, stream, reps, options, |_, result| result)
}

/// [`replicate_seeded`], each run's result handed to `reduce` (with its replication) as soon as
/// the run ends. A caller that keeps a few numbers per run then holds one whole result per
/// thread instead of one per replication: a 10,000-service model's result carries about 110 MB
/// of latency histograms, and a capacity search runs ten replications per rate.
pub fn replicate_reduced<T: Send>(
    model: &Model,
    seed: u64,
    stream: u64,
    reps: Range<u32>,
    options: &Options,
    reduce: impl Fn(u32, RunResult) -> T + Sync + Send,
) -> Vec<T> {
    use rayon::prelude::*;
    reps.into_par_iter()
        .map(|i| {
            let seed = engine::derive_seed(seed, stream, u64::from(i));
            reduce(i, simulate_seeded(model, seed, options))
        })
        .collect()
}

/// The state of one run. `FULL`: whether the run may use the mechanisms a plain run has none of
/// (see [`is_plain`]); with `FULL = false` the tests for them compile to nothing. `PATHS`:
/// whether it may keep the latency breakdown; with `PATHS = false` it keeps none, and the
/// tests for it compile to nothing.
struct Simulator<'m, const FULL: bool, const PATHS: bool> {
    model: &'m Model,
    /// The model's call graph, resolved for the stages' loops.
    plan: &'m Plan,
    /// The run's seed: the model's own, or a replication's derived from it.
    seed: u64,
    rng: SimRng,
    calls: Arena<Call>,
    exchanges: Arena<Exchange>,
    stations: Vec<Station>,
    network: Network,
    /// One per edge of the call graph, in `model.edges` order.
    edges: Vec<EdgeState>,
    /// Per edge: calls sent on it in the measured window without an exchange (one attempt
    /// each), added to its `calls` and `attempts` at the end. A dense vector because the
    /// edge's record is 640 bytes, and counting there cost a cache miss per call in models
    /// with thousands of edges.
    plain_calls: Vec<u64>,
    /// Cumulative route probabilities, for picking a route per request.
    route_cdf: Vec<f64>,
    /// Inter-arrival times of an open workload, in nanoseconds (at the peak rate when the rate
    /// varies: candidates are then thinned).
    interarrival: Option<Exp<f64>>,
    /// A time-varying rate: the pattern, its base rate and its peak.
    pattern: Option<(ArrivalPattern, f64, f64)>,
    warmup: SimTime,
    end: SimTime,
    /// Whether calls can lose their caller (cancellation, crashes): they are then checked before
    /// work is spent on them.
    orphans_possible: bool,
    /// Whether instances keep a list of their active calls (only when they can crash).
    track_active: bool,
    /// Per arena slot of `calls`: what only policies and crashes need, when the model has them.
    side: Vec<CallSide>,
    side_on: bool,
    requests: Vec<u64>,
    errors: Vec<[u64; ErrorKind::ALL.len()]>,
    latency: Vec<LatencyRecorder>,
    /// The time series being recorded, if asked for.
    series: Option<series::Recorder>,
    /// Autoscaling decisions, in time order.
    scaling: Vec<ScaleEvent>,
    /// Critical paths of calls, when a breakdown is asked for.
    paths: Option<breakdown::Paths>,
    /// Per route: the latency (ns) above which a request is kept as a tail candidate.
    tail_cut: Vec<u64>,
    /// Spans of the sampled requests, when traces are asked for.
    tracer: Option<Box<traces::Tracer>>,
    /// Scratch: per call of the stage being started, the copies drawn (stages that vary).
    copies: Vec<u32>,
    /// Some endpoint works after its calls (`after_ms`): one test in the hot path for models
    /// without, instead of a look at the endpoint.
    after_work: bool,
    /// `[hosts]`, whose cores the endpoints' CPU work (`cpu_ms`) shares.
    hosts: Vec<hosts::HostState>,
    /// Some endpoint does CPU work: one test in the hot path for models without. Validation
    /// refuses `cpu_after_idle` without `cpu_ms`, so it is also the test before a station's
    /// idle-worker bookkeeping.
    cpu_work: bool,
    /// Scratch: the calls a host has just finished computing.
    cpu_scratch: Vec<hosts::Job>,
    /// Randomness of the operations (health-check and refresh phases, release traffic
    /// splits), apart from the workload's so that adding them leaves the arrivals as they were.
    ops_rng: SimRng,
    /// Some service has a registry between it and its callers (health checks, discovery,
    /// outlier detection).
    managed: bool,
    /// Some fault hangs instances.
    hangs: bool,
    /// Some fault or release slows instances down: the test before a call's processing reads
    /// its instance's slowdown, which is not on the instance's load.
    slowed: bool,
    /// Some release or scale-down drains instances: the test before a call leaving an instance
    /// reads whether it was the last a draining instance held.
    drains: bool,
    /// Some link loses messages, or some fault degrades or partitions links: the test before a
    /// transmission reads its loss and added latency, which are not on its first cache line.
    link_trouble: bool,
    /// Some service is released during the run.
    versioned: bool,
    /// Some service has a rate limit or a concurrency limit (the test before consulting a
    /// station's, which live far from the fields every call touches).
    limited: bool,
    /// The controllers of `model.deployments`, in order.
    rollouts: Vec<deploy::Rollout>,
    /// The releases' steps, in time order.
    deploy_steps: Vec<DeployStep>,
    /// Outlier ejections in the measured window.
    ejections: u64,
    /// Per service, its replicated store's state (empty when no service is a store).
    stores: Vec<Option<stores::StoreState>>,
    /// Some service is a replicated store.
    has_stores: bool,
    /// The client of the stage being started (`Call::user`, passed down to its calls when
    /// stores key by client; `u32::MAX` otherwise).
    client: u32,
    /// An open workload's requests draw their client (stores keyed by client).
    clients: Option<SimRng>,
    /// Requests sent and not yet completed, and the cap on them.
    in_flight: u64,
    /// Fire-and-forget calls sent and not yet ended (capped like requests).
    detached_in_flight: u64,
    /// The edges of fire-and-forget calls, when the model has any.
    detached_edges: Option<detached::DetachedEdges>,
    /// `in_flight` at the middle of the measured window (once the run got there).
    in_flight_at_middle: Option<u64>,
    max_in_flight: u64,
    /// Why the run stopped early, if it did.
    stop: Option<Stop>,
    /// The model's records outgrow the cache: each event starts loading what the next two will
    /// read (see [`Process::prefetch`]).
    hint_records: bool,
}

impl<const FULL: bool, const PATHS: bool> Process for Simulator<'_, FULL, PATHS> {
    type Event = Event;

    /// The handlers of events that only some models have (timeouts, retries, faults, scaling,
    /// ticks, retransmissions) are `#[inline(never)]`: inlined here they made this dispatcher's
    /// stack frame and register saves larger for every event (5% of a plain run's instructions).
    /// Inlined into the run loop, this match and [`Event::unpack`]'s fold into one jump table.
    #[inline(always)]
    fn handle(&mut self, now: SimTime, event: Event, queue: &mut EventQueue<Event>) {
        match event {
            Event::Arrival => self.arrival(now, queue),
            Event::UserReady { user } => self.new_request(now, queue, user),
            Event::ServiceDone { call } => self.service_done(now, queue, call),
            Event::Delivered { call } => self.admit(now, queue, call),
            Event::Responded { call } => self.response_arrived(now, queue, call),
            Event::Retransmit { call } => self.retransmit(now, queue, call),
            Event::AttemptTimeout { call } => self.attempt_timeout(now, queue, call),
            Event::ClientDeadline { call } => self.client_deadline(now, queue, call),
            Event::Retry { exchange } => self.retry_due(now, queue, exchange),
            Event::Hedge { exchange } => self.hedge_due(now, queue, exchange),
            Event::Fault { index, start } => self.fault(now, queue, index as usize, start),
            Event::Scale { service } => self.autoscale(now, queue, service as usize),
            Event::InstanceReady { service, instance } => {
                self.instance_ready(now, service as usize, instance as usize)
            }
            Event::Tick => self.tick(now, queue),
            Event::CpuDone { host, generation } => {
                self.cpu_done(now, queue, host as usize, generation)
            }
            Event::HealthCheck { service, instance } => {
                self.health_check(now, queue, service as usize, instance as usize)
            }
            Event::CheckTimedOut { service, instance } => {
                self.check_timed_out(now, service as usize, instance as usize)
            }
            Event::Refresh { service } => self.refresh(now, queue, service as usize),
            Event::Unejected { service, instance } => {
                self.unejected(now, service as usize, instance as usize)
            }
            Event::Deploy { index } => self.deploy(now, queue, index as usize),
            Event::Background { host, change } => {
                self.background_changed(now, queue, host as usize, change as usize)
            }
        }
    }

    /// What a call's event will read. In a model whose records fit in the cache, only the call
    /// record (the one that misses once calls in flight outnumber what it holds). In a larger
    /// model ([`records_outgrow_cache`]), in two steps, since each record says where the next
    /// is: two events ahead, the service's station and the endpoint's plan and calls; one
    /// ahead, from those, the instance, and the links (and call counts) a stage about to start
    /// or a response about to leave will use. A response is handled by its caller, so it loads
    /// the caller's.
    #[inline(always)]
    fn prefetch(&self, at: SimTime, soon: Event, ahead: usize) {
        let h = match soon {
            Event::ServiceDone { call } | Event::Delivered { call } | Event::Responded { call } => {
                call
            }
            _ => return,
        };
        if !self.hint_records {
            self.calls.prefetch(h);
            return;
        }
        // Calls in flight are few enough to stay in the cache: their records are read here.
        let Some(call) = self.calls.get(h) else {
            return;
        };
        // A response is handled by its caller: what it will touch is the caller's.
        let (h, call, arrived) = match soon {
            Event::Responded { .. } => match self.calls.get(call.parent) {
                Some(parent) => (call.parent, parent, false),
                None => return,
            },
            _ => (h, call, matches!(soon, Event::Delivered { .. })),
        };
        let station = &self.stations[call.service as usize];
        if ahead >= 2 {
            // What the call's record points at.
            engine::prefetch_lines(station, station::STATION_LINES);
            if arrived {
                self.plan.prefetch_work(call.endpoint);
            } else {
                self.plan.prefetch_endpoint(call.endpoint);
                self.plan.prefetch_calls(call.endpoint);
                if call.is_root() && self.may_complete(call, soon) {
                    // Where the request is recorded, should it finish now.
                    self.prefetch_route(call.route(), h);
                }
            }
            return;
        }
        // What those records point at, loading since the hint one event ago. An arriving call's
        // instance is drawn when it arrives, too late to load ahead; a sole instance's load is
        // on the station's first line, loading since the hint two events ahead (reading the
        // line here to find it only waited for it: 12% of this function's samples).
        if arrived {
            return;
        }
        if let Some(load) = station.loads.get(call.instance as usize) {
            engine::prefetch(load);
        }
        // Its processing ended, or a call it waits for answered: it starts a stage (whose
        // calls, links and counts it reads), or it answers (on the link back to its caller).
        let next = match soon {
            Event::ServiceDone { .. } => 0,
            _ if call.pending == 1 => usize::from(call.stage) + 1,
            _ => return,
        };
        if next < self.plan.stages(call.endpoint) {
            self.plan.prefetch_stage(call.endpoint, next);
            // (Every stage's calls: finding the stage's own would wait for its record.)
            for hop in self.plan.calls(call.endpoint).iter().take(4) {
                if let Some(t) = hop
                    .direction
                    .and_then(|d| self.network.transmitters.get(d as usize))
                {
                    engine::prefetch(t);
                }
                if let Some(count) = self.plain_calls.get(hop.edge as usize) {
                    engine::prefetch(count);
                }
            }
        } else if call.is_root() {
            if self.may_complete(call, soon) {
                self.prefetch_recording(call, h, at);
            }
        } else if let Some(t) = call.back().and_then(|d| self.network.transmitters.get(d)) {
            // Where its response will go, should it answer now.
            engine::prefetch(t);
        }
    }
}

impl<const FULL: bool, const PATHS: bool> Simulator<'_, FULL, PATHS> {
    /// Whether handling `soon` may finish the root call `call` and record its request (told
    /// from the call's record alone): its work is done, or the last call it waits for answers,
    /// and the request is measured.
    #[inline(always)]
    fn may_complete(&self, call: &Call, soon: Event) -> bool {
        let last = matches!(soon, Event::ServiceDone { .. }) || call.pending == 1;
        last && call.error.is_none() && call.origin >= self.warmup
    }

    /// Loads the records a request of `route`, its root call in slot `h`, is recorded in: the
    /// route's latency recorder and tail cut, and its breakdown's count, totals and slowest
    /// list with the call's path.
    #[inline(always)]
    fn prefetch_route(&self, route: usize, h: Handle) {
        if let Some(recorder) = self.latency.get(route) {
            engine::prefetch(recorder);
        }
        if let Some(cut) = self.tail_cut.get(route) {
            engine::prefetch(cut);
        }
        if let Some(paths) = self.paths.as_ref().filter(|_| PATHS) {
            paths.prefetch_route(route, h);
        }
    }

    /// Loads what those records point at, loaded since, for the root call `call` in slot `h`
    /// should its request finish at `at`: the latency's counter, and the breakdown's first
    /// totals, the path's first segment and, for one of the slowest, where its path is kept.
    #[inline(always)]
    fn prefetch_recording(&self, call: &Call, h: Handle, at: SimTime) {
        let route = call.route();
        let latency = at.saturating_sub(call.origin).as_nanos();
        if let Some(recorder) = self.latency.get(route) {
            recorder.prefetch_counter(latency);
        }
        if let Some(paths) = self.paths.as_ref().filter(|_| PATHS) {
            let slow = self.tail_cut.get(route).is_some_and(|&cut| latency >= cut);
            paths.prefetch_totals(route, h, slow);
        }
    }
}

impl<'m, const FULL: bool, const PATHS: bool> Simulator<'m, FULL, PATHS> {
    fn new(model: &'m Model, plan: &'m Plan, seed: u64) -> Self {
        let mut acc = 0.0;
        let route_cdf = model
            .routes
            .iter()
            .map(|r| {
                acc += r.probability;
                acc
            })
            .collect();
        let (interarrival, pattern) = match &model.workload {
            Workload::Open {
                rate_per_s,
                pattern,
            } => {
                let peak = pattern
                    .as_ref()
                    .map_or(*rate_per_s, |p| p.max_rate(*rate_per_s));
                (
                    Some(Exp::new(peak / 1e9).expect("validated rate > 0")),
                    pattern.clone().map(|p| (p, *rate_per_s, peak)),
                )
            }
            Workload::Closed { .. } => (None, None),
        };
        let crashes = model
            .faults
            .iter()
            .any(|f| matches!(f.kind, FaultKind::Crash { .. }));
        let hangs = model
            .faults
            .iter()
            .any(|f| matches!(f.kind, FaultKind::Hang { .. }));
        let link_trouble = model.links.iter().any(|l| l.loss > 0.0)
            || model.faults.iter().any(|f| {
                matches!(
                    f.kind,
                    FaultKind::LinkDegradation { .. } | FaultKind::Partition { .. }
                )
            });
        let cancels = model.edges.iter().any(|e| e.policy.cancel_on_timeout);
        let routes = model.routes.len();
        Simulator {
            model,
            plan,
            seed,
            rng: engine::seeded_rng(seed),
            calls: Arena::new(),
            exchanges: Arena::new(),
            stations: model
                .services
                .iter()
                .map(|s| Station::new(s, model.warmup))
                .collect(),
            network: Network::with_directions(model, plan.directions.clone()),
            plain_calls: vec![0; model.edges.len()],
            edges: model
                .edges
                .iter()
                .map(|e| EdgeState::new(e.policy.clone(), model.warmup))
                .collect(),
            route_cdf,
            interarrival,
            pattern,
            warmup: model.warmup,
            end: model.duration,
            orphans_possible: crashes || cancels,
            track_active: crashes,
            side: Vec::new(),
            side_on: crashes
                || model.propagate_deadline
                || model.edges.iter().any(|e| !e.policy.is_plain()),
            requests: vec![0; routes],
            errors: vec![[0; ErrorKind::ALL.len()]; routes],
            latency: (0..routes).map(|_| LatencyRecorder::new()).collect(),
            series: None,
            scaling: Vec::new(),
            paths: None,
            tail_cut: Vec::new(),
            tracer: None,
            copies: Vec::new(),
            after_work: model.endpoints.iter().any(|e| e.after_time.is_some()),
            hosts: model
                .hosts
                .iter()
                .map(|h| hosts::HostState::new(h, model.warmup))
                .collect(),
            cpu_work: model.endpoints.iter().any(|e| e.cpu_time.is_some()),
            cpu_scratch: Vec::new(),
            ops_rng: engine::seeded_rng(engine::derive_seed(seed, OPS_STREAM, 0)),
            managed: model.services.iter().any(|s| {
                s.health_check.is_some()
                    || s.discovery_refresh.is_some()
                    || s.outlier_detection.is_some()
            }),
            hangs,
            link_trouble,
            versioned: !model.deployments.is_empty(),
            slowed: !model.deployments.is_empty()
                || (model.faults.iter()).any(|f| matches!(f.kind, FaultKind::Slowdown { .. })),
            drains: !model.deployments.is_empty()
                || model.services.iter().any(|s| s.autoscale.is_some()),
            limited: model
                .services
                .iter()
                .any(|s| s.rate_limit.is_some() || s.max_concurrency.is_some()),
            rollouts: model.deployments.iter().map(deploy::Rollout::new).collect(),
            deploy_steps: Vec::new(),
            ejections: 0,
            stores: if model.services.iter().any(|s| s.store.is_some()) {
                model
                    .services
                    .iter()
                    .map(|s| s.store.as_ref().map(stores::StoreState::new))
                    .collect()
            } else {
                Vec::new()
            },
            has_stores: model.services.iter().any(|s| s.store.is_some()),
            client: u32::MAX,
            clients: (matches!(model.workload, Workload::Open { .. })
                && model.services.iter().any(|s| {
                    s.store
                        .as_ref()
                        .is_some_and(|st| st.key_per == crate::model::KeyScope::Client)
                }))
            .then(|| engine::seeded_rng(engine::derive_seed(seed, CLIENT_STREAM, 0))),
            in_flight: 0,
            detached_in_flight: 0,
            detached_edges: detached::DetachedEdges::new(model),
            in_flight_at_middle: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            stop: None,
            hint_records: false,
        }
    }

    /// Schedules the workload's first requests, the faults and the autoscalers.
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
        for (index, f) in self.model.faults.iter().enumerate() {
            let index = index as u32;
            queue.schedule(f.at, Event::Fault { index, start: true });
            queue.schedule(
                f.at + f.duration,
                Event::Fault {
                    index,
                    start: false,
                },
            );
        }
        if self.managed {
            self.start_operations(queue);
        }
        if self.versioned {
            self.start_deployments(queue);
        }
        for (service, s) in self.stations.iter().enumerate() {
            if let Some(scaler) = &s.scaler {
                queue.schedule(
                    scaler.policy.interval,
                    Event::Scale {
                        service: service as u32,
                    },
                );
            }
        }
        self.schedule_background(queue);
    }

    /// Stores a new call, giving it an empty path when paths are kept.
    #[inline(always)]
    fn new_call(&mut self, call: Call) -> Handle {
        let h = self.calls.insert(call);
        if let Some(p) = self.paths.as_mut().filter(|_| PATHS) {
            p.started(h);
        }
        if FULL && self.side_on {
            let i = h.index() as usize;
            if self.side.len() <= i {
                self.side.make_room();
                self.side.resize(i + 1, CallSide::default());
            }
            self.side[i] = CallSide::default();
        }
        h
    }

    /// The side record of call `h` (models with policies or crashes only).
    #[inline]
    fn side(&self, h: Handle) -> CallSide {
        self.side[h.index() as usize]
    }

    #[inline]
    fn side_mut(&mut self, h: Handle) -> &mut CallSide {
        &mut self.side[h.index() as usize]
    }

    /// Adds `t[0]` spent on `c` and `t[1]` on the component after it, at `hop`, to the critical
    /// path of call `h`.
    #[inline(always)]
    fn on_path_pair(&mut self, h: Handle, hop: usize, c: Component, t: [SimTime; 2]) {
        if let Some(p) = self.paths.as_mut().filter(|_| PATHS) {
            p.add_pair(h, breakdown::key(hop, c), t);
        }
    }

    /// Adds `t` spent on `c` at `hop` to the critical path of call `h`.
    #[inline(always)]
    fn on_path(&mut self, h: Handle, hop: usize, c: Component, t: SimTime) {
        if let Some(p) = self.paths.as_mut().filter(|_| PATHS) {
            p.add(h, breakdown::key(hop, c), t);
        }
    }

    /// Whether something happening at `now` falls in the measured window.
    #[inline]
    fn measured(&self, now: SimTime) -> bool {
        now >= self.warmup && now < self.end
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
            detached: self.detached_in_flight > self.max_in_flight,
            limit: self.max_in_flight,
            service: self.model.services[worst].name.clone(),
            queued: queued.max(0) as u64,
        });
        queue.halt();
    }

    /// Closes a time-series interval and schedules the next.
    #[inline(never)]
    fn tick(&mut self, now: SimTime, queue: &mut EventQueue<Event>) {
        if let Some(mut series) = self.series.take() {
            let shares = self
                .rollouts
                .iter_mut()
                .map(|r| r.interval_share())
                .collect();
            series.close(now, &self.stations, &self.edges, &self.hosts, shares);
            queue.schedule(now + series.interval, Event::Tick);
            self.series = Some(series);
        }
    }

    fn into_result(self, events: u64, wall_s: f64, end: SimTime) -> RunResult {
        result::collect(self, events, wall_s, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{load_builtin, load_str};
    use std::path::Path;

    /// Everything a plain run can meet: a closed workload, stages of parallel calls, blocking
    /// workers, full queues that reject, three balancers, links that queue on their bandwidth.
    const BUSY_PLAIN_MODEL: &str = r#"
name = "busy"
[simulation]
duration_s = 30
warmup_s = 2
[workload]
type = "closed"
users = 40
think_ms = { dist = "exponential", mean_ms = 5 }
[[workload.mix]]
route = "front.page"
weight = 3
[[workload.mix]]
route = "back.item"
[gateway]
workers = 4
service_ms = { dist = "exponential", mean_ms = 0.3 }
[services.front]
instances = 2
workers = 2
blocking = true
load_balancer = "least_outstanding"
[services.front.endpoints.page]
service_ms = { dist = "lognormal", mean_ms = 1, cv = 1.2 }
calls = [["back.item", "side.get"], ["back.item"]]
[services.back]
instances = 3
workers = 1
queue_capacity = 2
load_balancer = "power_of_two"
[services.back.endpoints.item]
service_ms = { dist = "exponential", mean_ms = 6 }
request_bytes = 2000
response_bytes = 10000
[services.side]
instances = 2
workers = 1
load_balancer = "random"
[services.side.endpoints.get]
service_ms = { dist = "constant", value_ms = 0.5 }
[links.front_back]
between = ["front", "back"]
latency_ms = 0.2
bandwidth_mbps = 100
[links.gateway_front]
between = ["gateway", "front"]
latency_ms = 0.1
"#;

    /// The plain path leaves out only tests that are constant in a plain run, so it gives the
    /// full path's results exactly, the latency breakdown included.
    #[test]
    fn plain_runs_give_the_full_paths_results_exactly() {
        let busy = load_str(BUSY_PLAIN_MODEL, "busy.toml", Path::new("."), &[]).unwrap();
        let models = [load_builtin(&[]).unwrap(), busy];
        for (model, breakdown) in models.iter().flat_map(|m| [(m, false), (m, true)]) {
            let options = Options {
                breakdown,
                ..Options::default()
            };
            assert!(is_plain(model, &options));
            let mut plain = if breakdown {
                run::<false, true>(model, model.seed, &options)
            } else {
                run::<false, false>(model, model.seed, &options)
            };
            let mut full = run::<true, true>(model, model.seed, &options);
            assert!(plain.all.completed > 1_000);
            assert_eq!(plain.breakdown.is_empty(), !breakdown);
            assert_eq!(
                model.name == "busy",
                plain.all.errors > 0,
                "the busy model rejects"
            );
            plain.wall_s = 0.0;
            full.wall_s = 0.0;
            assert_eq!(format!("{plain:?}"), format!("{full:?}"));
        }
    }

    /// Loading records ahead changes no result: a model of several instances per service,
    /// stages, links that queue and rejections, run with hints and without, with and without
    /// the breakdown, in plain and full runs alike. (Its 40 users keep the heap, not its few
    /// slots, holding the events, so the hints are given.)
    #[test]
    fn loading_records_ahead_changes_no_result() {
        let model = load_str(BUSY_PLAIN_MODEL, "busy.toml", Path::new("."), &[]).unwrap();
        assert!(!records_outgrow_cache(&model), "hints are forced here");
        for breakdown in [false, true] {
            let options = Options {
                breakdown,
                ..Options::default()
            };
            let mut runs = vec![
                run_hinted::<true, true>(&model, 7, &options, false),
                run_hinted::<true, true>(&model, 7, &options, true),
            ];
            assert!(is_plain(&model, &options));
            runs.push(if breakdown {
                run_hinted::<false, true>(&model, 7, &options, true)
            } else {
                run_hinted::<false, false>(&model, 7, &options, true)
            });
            assert!(runs[0].all.completed > 1_000 && runs[0].all.errors > 0);
            for r in &mut runs {
                r.wall_s = 0.0;
            }
            let without = format!("{:?}", runs[0]);
            for hinted in &runs[1..] {
                assert_eq!(without, format!("{hinted:?}"));
            }
        }
    }

    /// A raised stop flag ends the run early, in plain and full runs alike, and what was
    /// measured until then comes back marked interrupted; a lowered one changes nothing.
    #[test]
    fn a_raised_cancel_flag_stops_the_run() {
        static RAISED: AtomicBool = AtomicBool::new(true);
        static LOWERED: AtomicBool = AtomicBool::new(false);
        let model = load_builtin(&[]).unwrap();
        for breakdown in [false, true] {
            let stopped = simulate_with(
                &model,
                &Options {
                    breakdown,
                    cancel: Cancel::on(&RAISED),
                    ..Options::default()
                },
            );
            assert_eq!(stopped.stopped, Some(Stop::Interrupted));
            let lowered = Options {
                breakdown,
                cancel: Cancel::on(&LOWERED),
                ..Options::default()
            };
            let mut whole = simulate_with(&model, &lowered);
            let mut default = simulate_with(
                &model,
                &Options {
                    breakdown,
                    ..Options::default()
                },
            );
            assert_eq!(whole.stopped, None);
            assert!(stopped.all.completed < whole.all.completed / 10);
            whole.wall_s = 0.0;
            default.wall_s = 0.0;
            assert_eq!(format!("{whole:?}"), format!("{default:?}"));
        }
    }

    /// Thousands of users, each with one event pending: the queue runs as a radix heap (beyond
    /// 64 events in unit tests) with prefetch hints. Every user cycles independently through an
    /// infinite server, so throughput is N / (Z + S) and the response time S, exactly.
    #[test]
    fn many_pending_events_agree_with_an_infinite_server() {
        let text = r#"
[simulation]
duration_s = 2.5
warmup_s = 0.5
[workload]
type = "closed"
users = 2000
think_ms = { dist = "exponential", mean_ms = 10 }
[[workload.mix]]
route = "s.work"
[gateway]
workers = 2000
service_ms = 0
[services.s]
workers = 2000
[services.s.endpoints.work]
service_ms = { dist = "exponential", mean_ms = 10 }
"#;
        let model = load_str(text, "many.toml", Path::new("."), &[]).unwrap();
        let r = simulate(&model);
        // 200,000 requests: the mean's standard error is 0.22% of 10 ms, the throughput's about
        // 0.16%; 1% is more than four of either.
        assert!(r.all.completed > 190_000, "{}", r.all.completed);
        let mean_ms = r.all.latency.mean_ms();
        assert!((mean_ms - 10.0).abs() < 0.1, "mean response {mean_ms} ms");
        let x = r.all.throughput_rps();
        assert!((x / 100_000.0 - 1.0).abs() < 0.01, "throughput {x}/s");
    }
}
