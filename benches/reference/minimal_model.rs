//! A minimal hand-written simulation of any plain model — the floor a simulator of that model
//! can reach on this machine — kept beside the real engine so that meshsim's speed on a large
//! model can be read against what the model's size alone costs (`cargo bench --bench scale`).
//!
//! It does only what every simulator of the model must: a `BinaryHeap` of events; each
//! endpoint's calls in stages, each stage's calls in parallel; each instance one FIFO queue in
//! front of its workers (held through the calls when the service is blocking), picked by the
//! service's balancer — round robin, random, or the less loaded of two random instances for
//! `power_of_two` and `least_outstanding` (an exact least-outstanding pick needs an index every
//! simulator would have to keep; two probes are the least it can cost) — with no draw at all
//! for a service of one instance; each call's way there and back a FIFO transmitter per link
//! direction (a message waits for the messages before it, occupies the direction for its
//! serialisation time, then takes the link's mean latency; none, and no event, between services
//! without a link), which counts its messages, busy time and queueing as a link's utilisation
//! needs; a latency sum. No histograms, no breakdown, no statistics beyond those. Every record
//! is a flat vector indexed by number, laid out once: as compact as a hand-written simulation
//! gets.
//!
//! Why the link queues: a model's links have bandwidths, so every simulator of it must keep
//! when each direction is free, a record read and written at random for every message —
//! without it the floor skipped the largest records meshsim's events read (on the generated
//! 10,000-service model, 3.4 MB of link directions beside 1.9 MB of stations and 2 MB of plans,
//! in session 42's layout).
//!
//! Models with features beyond these (timeouts, retries, probabilistic calls, faults…) are
//! simulated as if those were absent; the scale bench uses it on generated models only, which
//! have none.

use meshsim::model::{Dist, LoadBalancer, Model};
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Exp1};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

const ROOT: u32 = u32::MAX;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A call reaches its service.
    Arrive,
    /// A server finished a call's processing.
    Done,
    /// A call's response reached its caller.
    Back,
    /// A request arrives from outside.
    Request,
}

/// (time in ns, sequence, kind, call).
type Scheduled = (u64, u64, Kind, u32);

/// No link direction: the two ends talk in-process.
const NO_LINK: u32 = u32::MAX;

/// One way of a call: its link direction (or [`NO_LINK`]), the message's serialisation time
/// on it, and the link's latency (in 32 bits: 12 bytes a way, the generated models' delays
/// are far below 4 s).
#[derive(Clone, Copy, Default)]
struct Way {
    direction: u32,
    serialise_ns: u32,
    latency_ns: u32,
}

/// One downstream call of a stage: its endpoint and its ways there and back.
#[derive(Clone, Copy)]
struct Target {
    endpoint: u32,
    there: Way,
    back: Way,
}

/// One direction of a link: when it is free, and what a link's statistics need.
#[derive(Clone, Copy, Default)]
struct Wire {
    free_ns: u64,
    messages: u64,
    busy_ns: u64,
    queued_ns: u64,
}

/// A call in flight.
#[derive(Clone, Copy, Default)]
struct Call {
    endpoint: u32,
    parent: u32,
    /// The instance serving it.
    instance: u32,
    stage: u16,
    pending: u16,
    /// Its way back (for a root call: none).
    back: Way,
    /// For a root call: the request's start time.
    start_ns: u64,
}

/// The model flattened: endpoints, their stages and calls, stations.
pub struct Plan {
    service: Vec<u32>,
    /// Mean processing time in ns, and whether it is exponential (else constant).
    mean_ns: Vec<(f64, bool)>,
    /// Endpoint `e`'s stages are `stage_start[e]..stage_start[e + 1]`.
    stage_start: Vec<u32>,
    /// Stage `s`'s calls are `targets[call_start[s]..call_start[s + 1]]`.
    call_start: Vec<u32>,
    targets: Vec<Target>,
    /// Per service: its first instance, instance count and balancer.
    instances: Vec<(u32, u32, LoadBalancer)>,
    /// Per instance: its workers.
    workers: Vec<u32>,
    blocking: Vec<bool>,
    /// Link directions: `2i` is link `i`'s `ends[0] → ends[1]`, `2i + 1` the other.
    directions: usize,
    /// Cumulative shares of the routes and their gateway endpoints.
    routes: Vec<(f64, u32)>,
    rate_per_ns: f64,
    end_ns: u64,
}

impl Plan {
    /// Flattens `model`; `None` for a closed workload.
    pub fn new(model: &Model) -> Option<Plan> {
        let rate_per_s = match &model.workload {
            meshsim::model::Workload::Open { rate_per_s, .. } => *rate_per_s,
            _ => return None,
        };
        let mut links: HashMap<(usize, usize), (u32, f64, Option<f64>)> = HashMap::new();
        for (i, link) in model.links.iter().enumerate() {
            let (latency_ns, bps) = (link.latency.mean_ms() * 1e6, link.bandwidth_bps);
            let [a, b] = link.ends;
            links.insert((a, b), (2 * i as u32, latency_ns, bps));
            links.insert((b, a), (2 * i as u32 + 1, latency_ns, bps));
        }
        let way = |from: usize, to: usize, bytes: u64| -> Way {
            match links.get(&(from, to)) {
                None => Way {
                    direction: NO_LINK,
                    ..Way::default()
                },
                Some(&(direction, latency_ns, bps)) => Way {
                    direction,
                    serialise_ns: bps.map_or(0.0, |b| 8.0 * bytes as f64 / b * 1e9) as u32,
                    latency_ns: latency_ns as u32,
                },
            }
        };
        let mut plan = Plan {
            service: Vec::new(),
            mean_ns: Vec::new(),
            stage_start: vec![0],
            call_start: vec![0],
            targets: Vec::new(),
            instances: Vec::new(),
            workers: Vec::new(),
            blocking: model.services.iter().map(|s| s.blocking).collect(),
            directions: 2 * model.links.len(),
            routes: Vec::new(),
            rate_per_ns: rate_per_s / 1e9,
            end_ns: model.duration.as_nanos(),
        };
        for s in &model.services {
            let first = plan.workers.len() as u32;
            plan.instances.push((first, s.instances, s.load_balancer));
            plan.workers
                .extend(std::iter::repeat_n(s.workers, s.instances as usize));
        }
        for e in &model.endpoints {
            plan.service.push(e.service as u32);
            let exponential = matches!(e.service_time, Dist::Exponential { .. });
            plan.mean_ns
                .push((e.service_time.mean_ms() * 1e6, exponential));
            for stage in &e.stages {
                for call in stage {
                    let callee = &model.endpoints[call.target];
                    plan.targets.push(Target {
                        endpoint: call.target as u32,
                        there: way(e.service, callee.service, callee.request_bytes),
                        back: way(callee.service, e.service, callee.response_bytes),
                    });
                }
                plan.call_start.push(plan.targets.len() as u32);
            }
            plan.stage_start.push(plan.call_start.len() as u32 - 1);
        }
        let total: f64 = model.routes.iter().map(|r| r.probability).sum();
        let mut sum = 0.0;
        for r in &model.routes {
            sum += r.probability / total;
            plan.routes.push((sum, r.gateway_endpoint as u32));
        }
        Some(plan)
    }

    fn stages(&self, e: u32) -> u32 {
        self.stage_start[e as usize + 1] - self.stage_start[e as usize]
    }

    fn stage(&self, e: u32, s: u16) -> &[Target] {
        let s = (self.stage_start[e as usize] + u32::from(s)) as usize;
        &self.targets[self.call_start[s] as usize..self.call_start[s + 1] as usize]
    }
}

/// The simulation's state.
struct State<'p> {
    plan: &'p Plan,
    rng: rand_xoshiro::Xoshiro256PlusPlus,
    heap: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    calls: Vec<Call>,
    free: Vec<u32>,
    /// Per instance: workers busy, and the calls waiting.
    busy: Vec<u32>,
    queues: Vec<VecDeque<u32>>,
    wires: Vec<Wire>,
    /// Per service: the round robin's last instance.
    next: Vec<u32>,
    done: u64,
    latency_ns: u128,
}

impl State<'_> {
    fn push(&mut self, t: u64, kind: Kind, call: u32) {
        self.seq += 1;
        self.heap.push(Reverse((t, self.seq, kind, call)));
    }

    /// Sends a message the way `way` at `t`: returns when it arrives.
    fn transmit(&mut self, t: u64, way: Way) -> u64 {
        let wire = &mut self.wires[way.direction as usize];
        let start = t.max(wire.free_ns);
        let end = start + u64::from(way.serialise_ns);
        wire.free_ns = end;
        wire.messages += 1;
        wire.busy_ns += end - start;
        wire.queued_ns += start - t;
        end + u64::from(way.latency_ns)
    }

    fn new_call(&mut self, call: Call) -> u32 {
        match self.free.pop() {
            Some(id) => {
                self.calls[id as usize] = call;
                id
            }
            None => {
                self.calls.push(call);
                (self.calls.len() - 1) as u32
            }
        }
    }

    fn work(&mut self, endpoint: u32) -> u64 {
        let (mean, exponential) = self.plan.mean_ns[endpoint as usize];
        if exponential {
            let x: f64 = Exp1.sample(&mut self.rng);
            (x * mean) as u64
        } else {
            mean as u64
        }
    }

    /// The instance of service `s` a new call goes to.
    fn pick(&mut self, s: usize) -> usize {
        let (first, n, balancer) = self.plan.instances[s];
        let k = if n == 1 {
            0
        } else {
            match balancer {
                LoadBalancer::RoundRobin => {
                    self.next[s] = (self.next[s] + 1) % n;
                    self.next[s]
                }
                LoadBalancer::Random => self.rng.random_range(0..n),
                LoadBalancer::PowerOfTwo | LoadBalancer::LeastOutstanding => {
                    let (a, b) = (self.rng.random_range(0..n), self.rng.random_range(0..n));
                    let load = |i: u32| {
                        let i = (first + i) as usize;
                        self.busy[i] as usize + self.queues[i].len()
                    };
                    if load(b) < load(a) { b } else { a }
                }
            }
        };
        (first + k) as usize
    }

    fn arrive(&mut self, t: u64, c: u32) {
        let s = self.plan.service[self.calls[c as usize].endpoint as usize] as usize;
        let i = self.pick(s);
        self.calls[c as usize].instance = i as u32;
        if self.busy[i] < self.plan.workers[i] {
            self.busy[i] += 1;
            let work = self.work(self.calls[c as usize].endpoint);
            self.push(t + work, Kind::Done, c);
        } else {
            self.queues[i].push_back(c);
        }
    }

    fn release(&mut self, t: u64, c: u32) {
        let i = self.calls[c as usize].instance as usize;
        match self.queues[i].pop_front() {
            Some(next) => {
                let work = self.work(self.calls[next as usize].endpoint);
                self.push(t + work, Kind::Done, next);
            }
            None => self.busy[i] -= 1,
        }
    }

    fn start_stage(&mut self, t: u64, c: u32, stage: u16) {
        let endpoint = self.calls[c as usize].endpoint;
        let plan = self.plan;
        let targets = plan.stage(endpoint, stage);
        self.calls[c as usize].stage = stage;
        self.calls[c as usize].pending = targets.len() as u16;
        for target in targets {
            let child = self.new_call(Call {
                endpoint: target.endpoint,
                parent: c,
                instance: 0,
                stage: 0,
                pending: 0,
                back: target.back,
                start_ns: 0,
            });
            if target.there.direction == NO_LINK {
                // In-process: no message, no event (as in meshsim).
                self.arrive(t, child);
            } else {
                let at = self.transmit(t, target.there);
                self.push(at, Kind::Arrive, child);
            }
        }
    }

    fn done(&mut self, t: u64, c: u32) {
        let endpoint = self.calls[c as usize].endpoint;
        let s = self.plan.service[endpoint as usize] as usize;
        if self.plan.stages(endpoint) == 0 {
            self.release(t, c);
            self.respond(t, c);
        } else {
            if !self.plan.blocking[s] {
                self.release(t, c);
            }
            self.start_stage(t, c, 0);
        }
    }

    fn respond(&mut self, t: u64, c: u32) {
        let call = self.calls[c as usize];
        if call.parent == ROOT {
            self.done += 1;
            self.latency_ns += u128::from(t - call.start_ns);
            self.free.push(c);
        } else if call.back.direction == NO_LINK {
            self.back(t, c);
        } else {
            let at = self.transmit(t, call.back);
            self.push(at, Kind::Back, c);
        }
    }

    fn back(&mut self, t: u64, child: u32) {
        let p = self.calls[child as usize].parent;
        self.free.push(child);
        let call = &mut self.calls[p as usize];
        call.pending -= 1;
        if call.pending > 0 {
            return;
        }
        let (endpoint, next) = (call.endpoint, call.stage + 1);
        if u32::from(next) < self.plan.stages(endpoint) {
            self.start_stage(t, p, next);
        } else {
            let s = self.plan.service[endpoint as usize] as usize;
            if self.plan.blocking[s] {
                self.release(t, p);
            }
            self.respond(t, p);
        }
    }

    fn request(&mut self, t: u64) {
        let u: f64 = self.rng.random();
        let i = self.plan.routes.partition_point(|&(cum, _)| cum < u);
        let endpoint = self.plan.routes[i.min(self.plan.routes.len() - 1)].1;
        let root = self.new_call(Call {
            endpoint,
            parent: ROOT,
            instance: 0,
            stage: 0,
            pending: 0,
            back: Way {
                direction: NO_LINK,
                ..Way::default()
            },
            start_ns: t,
        });
        self.arrive(t, root);
        let gap: f64 = Exp1.sample(&mut self.rng);
        self.push(t + (gap / self.plan.rate_per_ns) as u64, Kind::Request, 0);
    }
}

/// Simulates the plan's duration; returns (requests completed, events, mean latency in ms).
pub fn run(plan: &Plan, seed: u64) -> (u64, u64, f64) {
    let mut state = State {
        plan,
        rng: rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed),
        heap: BinaryHeap::new(),
        seq: 0,
        calls: Vec::new(),
        free: Vec::new(),
        busy: vec![0; plan.workers.len()],
        queues: vec![VecDeque::new(); plan.workers.len()],
        wires: vec![Wire::default(); plan.directions],
        next: vec![0; plan.instances.len()],
        done: 0,
        latency_ns: 0,
    };
    state.push(0, Kind::Request, 0);
    let mut events = 0u64;
    while let Some(Reverse((t, _, kind, c))) = state.heap.pop() {
        if t >= plan.end_ns {
            break;
        }
        events += 1;
        match kind {
            Kind::Request => state.request(t),
            Kind::Arrive => state.arrive(t, c),
            Kind::Done => state.done(t, c),
            Kind::Back => state.back(t, c),
        }
    }
    // The links' statistics are what a run reports: kept, as meshsim's are.
    std::hint::black_box(&state.wires);
    let mean_ms = state.latency_ns as f64 / state.done.max(1) as f64 / 1e6;
    (state.done, events, mean_ms)
}
