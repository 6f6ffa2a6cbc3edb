//! Service instances: workers, FIFO queues, load balancing, admission control, and their
//! time-weighted statistics.

use super::least::LeastIndex;
use crate::engine::{Grow, Handle, SimRng, SimTime};
use crate::model::{
    Autoscale, CpuAfterIdle, HealthCheck, LoadBalancer, OutlierDetection, RateLimit, Service,
};
use crate::stats::TimeWeighted;
use rand::RngExt;
use std::collections::VecDeque;

/// Whether an instance takes calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceState {
    /// Serving, and picked by the balancer.
    Ready,
    /// Added by the autoscaler, not serving until its cold start is over.
    Starting,
    /// Removed by the autoscaler: finishes what it holds, takes nothing new.
    Draining,
    /// Crashed; restarts when the fault ends.
    Down,
    /// Gone for good (drained); its slot may be reused by a later scale-up.
    Retired,
}

/// One replica of a service.
///
/// In declaration order (`repr(C)`), on a cache line of its own: what every call reads (its
/// queue, workers, slowdown, state and host) fits the first line (see [`Station`]).
#[repr(C, align(64))]
pub struct Instance {
    /// Calls waiting for a worker, oldest first (their count is [`Load::queued`]).
    pub queue: VecDeque<Handle>,
    /// Service times are multiplied by this (a slowdown fault).
    pub slowdown: f64,
    pub state: InstanceState,
    /// The process has stopped answering (a `hang` fault); its port is open.
    pub hung: bool,
    /// 0: the model's version; 1: the version its service's deployment releases.
    pub version: u8,
    /// In the registry (healthy by its checks, or known to be up).
    pub registered: bool,
    /// In the callers' cached copy of the registry.
    pub in_view: bool,
    /// Ejected by outlier detection.
    pub ejected: bool,
    /// Health checks of this slot are scheduled.
    pub checking: bool,
    /// The host it runs on ([`NO_HOST`]: none).
    pub host: u32,
    /// When each idle worker that has run went idle, the latest last (kept only when the
    /// service has `cpu_after_idle`; workers that never ran are not listed).
    pub idle_since: Vec<SimTime>,
    /// Calls holding a worker or waiting downstream, kept only when the instance can crash.
    pub active: Vec<Handle>,
    /// When a starting instance finishes its cold start.
    pub ready_at: SimTime,
    /// Calls whose processing ended while the instance hung: they carry on when it resumes.
    pub frozen: Vec<Handle>,
    /// Health checks failed and passed in a row.
    pub fails: u32,
    pub passes: u32,
    /// Calls from watching callers failed in a row (outlier detection).
    pub errors_in_row: u32,
}

/// What every call reads and writes of an instance, apart from the rest of its record
/// ([`Instance`]) in a dense vector per station ([`Station::loads`]).
///
/// Why apart: a model of many instances picks one at random for each call and finds it again
/// when the call's work ends, each a cache miss on its record. Twelve bytes an instance keep
/// the 100,000 instances of `benches/models/wide.toml` in 1.2 MB where their records' first
/// lines spanned 6.4 MB; the rest of the record is read only when a call waits or with the
/// mechanisms that use it (faults, health checks, releases).
#[derive(Clone, Copy, Debug, Default)]
pub struct Load {
    /// Workers currently held.
    pub busy: u32,
    /// Calls admitted and not yet responded to (queued, in service, or waiting downstream).
    pub outstanding: u32,
    /// Calls waiting for a worker: the length of [`Instance::queue`].
    pub queued: u32,
}

/// The loads of a station's instances (at least one), indexed by instance: the first in the
/// station's own first line, the others in a block of their own.
///
/// Why the first apart: most services of a large model have one instance, and a call to one
/// then reads its load from the station's line it reads anyway, where a vector's block was a
/// line elsewhere (one of 10,000 small blocks strewn over the heap): on the generated
/// 10,000-service model, a tenth of the run's second-level cache misses. A test of the index
/// costs less than a small vector's test of where its items are: `smallvec` cost the built-in
/// model 2.2% more instructions, this 0.8% fewer than the vector (with `up_len`, below).
#[derive(Clone, Debug)]
pub struct Loads {
    first: Load,
    /// Instances 1 and after: a boxed slice, two words where a vector takes three (instances
    /// are added rarely, by an autoscaler).
    rest: Box<[Load]>,
}

impl Loads {
    /// `n` (at least one) instances' loads, all zero.
    fn new(n: usize) -> Loads {
        Loads {
            first: Load::default(),
            rest: vec![Load::default(); n.saturating_sub(1)].into_boxed_slice(),
        }
    }

    pub fn len(&self) -> usize {
        1 + self.rest.len()
    }

    #[inline(always)]
    pub fn get(&self, i: usize) -> Option<&Load> {
        match i {
            0 => Some(&self.first),
            _ => self.rest.get(i - 1),
        }
    }

    /// A new instance's, after the others.
    fn push(&mut self, load: Load) {
        let mut rest = std::mem::take(&mut self.rest).into_vec();
        rest.push(load);
        self.rest = rest.into_boxed_slice();
    }

    pub fn iter(&self) -> impl Iterator<Item = &Load> {
        std::iter::once(&self.first).chain(self.rest.iter())
    }
}

impl std::ops::Index<usize> for Loads {
    type Output = Load;

    #[inline(always)]
    fn index(&self, i: usize) -> &Load {
        match i {
            0 => &self.first,
            _ => &self.rest[i - 1],
        }
    }
}

impl std::ops::IndexMut<usize> for Loads {
    #[inline(always)]
    fn index_mut(&mut self, i: usize) -> &mut Load {
        match i {
            0 => &mut self.first,
            _ => &mut self.rest[i - 1],
        }
    }
}

/// `Instance::host` of a service placed on no host.
pub const NO_HOST: u32 = u32::MAX;

impl Instance {
    fn new(state: InstanceState) -> Instance {
        Instance {
            state,
            queue: VecDeque::new(),
            active: Vec::new(),
            slowdown: 1.0,
            ready_at: SimTime::ZERO,
            hung: false,
            frozen: Vec::new(),
            version: 0,
            registered: state == InstanceState::Ready,
            in_view: state == InstanceState::Ready,
            ejected: false,
            fails: 0,
            passes: 0,
            errors_in_row: 0,
            checking: false,
            host: NO_HOST,
            idle_since: Vec::new(),
        }
    }

    /// One of its idle workers takes a call at `now`: the one idle the shortest, as the kernel
    /// most often wakes the worker that slept last (measured on gunicorn's sync workers: 79%
    /// of the calls with two idle). Returns how long it sat idle; a worker that never ran has
    /// been idle since the start.
    #[inline]
    pub fn wake_worker(&mut self, now: SimTime) -> SimTime {
        now - self.idle_since.pop().unwrap_or(SimTime::ZERO)
    }

    /// A worker goes idle at `now`.
    #[inline]
    pub fn rest_worker(&mut self, now: SimTime, workers: u32) {
        if self.idle_since.len() < workers as usize {
            self.idle_since.push(now);
        }
    }
}

/// A token bucket that starts full.
pub struct TokenBucket {
    tokens_per_ns: f64,
    burst: f64,
    tokens: f64,
    last: SimTime,
}

impl TokenBucket {
    pub fn new(limit: RateLimit) -> TokenBucket {
        TokenBucket {
            tokens_per_ns: limit.rate_per_s / 1e9,
            burst: limit.burst,
            tokens: limit.burst,
            last: SimTime::ZERO,
        }
    }

    /// Takes a token at `now` if there is one.
    pub fn take(&mut self, now: SimTime) -> bool {
        let refill = (now - self.last).0 as f64 * self.tokens_per_ns;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The autoscaler's memory between evaluations.
pub struct Scaler {
    pub policy: Autoscale,
    /// Integrals at the last evaluation: busy workers, ready instances, waiting calls.
    pub last_busy: f64,
    pub last_ready: f64,
    pub last_queued: f64,
}

/// The run-time state of a service (or the gateway).
///
/// In declaration order (`repr(C)`): the fields every call reads or writes come first, so that
/// a call touches the first few cache lines of its station instead of lines spread over the
/// whole record, and models of thousands of services take fewer cache misses per call. Aligned
/// to a cache line, so that those fields fall on the same lines in every station: the first
/// line holds the first instance's load (and where the others' are), the number of ready
/// instances, arrivals and waits, the second the other counters, the limits, the flags, the
/// least-loaded index's pointer and the wait sum, the third the residence sum and the fields
/// of `busy` an update touches; `queued`, on the fourth, changes only when calls wait.
#[repr(C, align(64))]
pub struct Station {
    /// Per instance (in the order of `instances`): what every call reads and writes.
    pub loads: Loads,
    /// `up.len()`, which every call reads (`up` itself only while it is not every instance in
    /// order).
    up_len: u32,
    /// Where the round robin and the least-outstanding scan start next.
    next: u32,
    /// `up[0]` while any instance is ready, kept here so that a service with one ready
    /// instance (the common case in large models) is picked from this line of the record,
    /// without a dependent load from `up`'s heap storage.
    first_up: u32,
    /// Calls that arrived in the measured window.
    pub arrivals: u64,
    /// Calls admitted in the measured window that got a worker: their count and total wait.
    pub waits: u64,
    /// Calls admitted in the measured window that released their worker: their count and total
    /// residence (wait plus time holding a worker).
    pub residences: u64,
    pub workers: u32,
    /// Calls admitted and not yet responded to, over all instances (for `max_concurrency`).
    pub outstanding: u32,
    pub queue_capacity: Option<u32>,
    pub blocking: bool,
    /// `up` is every instance in order (`up[k] == k`: none is out, the common case), so that
    /// a balancer's position is the instance itself: a pick at random among many instances
    /// reads the one line of their loads it lands on, not first a line of `up` to find it.
    in_order: bool,
    /// Callers pick among the instances in their view of a registry (health checks, discovery
    /// delay, outlier ejection) instead of among the instances up at this instant.
    pub managed: bool,
    balancer: LoadBalancer,
    /// For `least_outstanding` over many ready instances: the index that finds the least loaded
    /// without scanning them all (`None`: scan). Boxed: every call reads whether there is one,
    /// and a pointer leaves room on the line for the sums beside it.
    pub least: Option<Box<LeastIndex>>,
    pub waited_ns: u128,
    pub resided_ns: u128,
    /// Workers held, summed over instances.
    pub busy: TimeWeighted,
    /// Calls waiting, summed over instances.
    pub queued: TimeWeighted,
    /// During a release: (version, share) — that share of the calls goes to that version's
    /// instances, the rest to the others.
    pub split: Option<(u8, f64)>,
    /// Extra CPU a call costs after its worker sat idle (workers' idle times are kept only
    /// with it).
    pub after_idle: Option<CpuAfterIdle>,
    pub max_concurrency: Option<u32>,
    pub bucket: Option<TokenBucket>,
    /// The hosts its instances are spread over (empty: none), whose cores its endpoints' CPU
    /// work shares.
    placement: Vec<u32>,
    pub scaler: Option<Scaler>,
    pub health: Option<HealthCheck>,
    pub refresh: Option<SimTime>,
    pub outlier: Option<OutlierDetection>,
    /// The deployment releasing a new version of this service, if any.
    pub deployment: Option<usize>,
    /// Indices of the ready instances, in order, which the balancer picks from.
    up: Vec<u32>,
    /// Scratch for picking among one version's instances.
    subset: Vec<u32>,
    subset_next: [usize; 2],
    /// Ready instances.
    pub ready: TimeWeighted,
    /// Instances the balancer chooses among (with a registry: those in the callers' view and
    /// not ejected, dead ones included until they leave it).
    pub routable: TimeWeighted,
    /// Calls refused by a full queue in the measured window.
    pub rejected: u64,
    /// Calls shed by the rate limit or concurrency limit in the measured window.
    pub shed: u64,
    /// Calls dropped unserved because their deadline had passed, in the measured window.
    pub expired: u64,
    /// Per instance: the rest of its record (its queue, state, host…).
    pub instances: Vec<Instance>,
}

/// The cache lines of a [`Station`] a call reads on arriving and leaving (unless it waits):
/// its first lines, through `busy`.
pub const STATION_LINES: usize = std::mem::offset_of!(Station, busy) / 64 + 1;

// The layout the comment on [`Station`] describes: what a call reads in three lines, `busy`'s
// first 40 bytes (`TimeWeighted::add`) on the third.
const _: () = {
    use std::mem::offset_of;
    assert!(offset_of!(Station, arrivals) < 64 && offset_of!(Station, waited_ns) < 128);
    assert!(offset_of!(Station, busy) % 64 + 40 <= 64 && STATION_LINES == 3);
};

impl Station {
    /// Call `h` waits for a worker of instance `i`.
    #[inline(always)]
    pub fn enqueue(&mut self, i: usize, h: Handle) {
        let queue = &mut self.instances[i].queue;
        queue.make_room();
        queue.push_back(h);
        self.loads[i].queued += 1;
    }

    /// The oldest call waiting at instance `i`, taken off its queue: the instance's record is
    /// read only when one waits.
    #[inline(always)]
    pub fn dequeue(&mut self, i: usize) -> Option<Handle> {
        let load = &mut self.loads[i];
        if load.queued == 0 {
            return None;
        }
        load.queued -= 1;
        let queue = &mut self.instances[i].queue;
        debug_assert_eq!(
            queue.len() as u32,
            load.queued + 1,
            "the load counts the queue"
        );
        queue.pop_front()
    }

    /// Every call waiting at instance `i`, oldest first, taken off its queue.
    pub fn drain_queue(&mut self, i: usize) -> Vec<Handle> {
        self.loads[i].queued = 0;
        self.instances[i].queue.drain(..).collect()
    }

    /// Call `h` no longer waits at instance `i`.
    pub fn unqueue(&mut self, i: usize, h: Handle) {
        let queue = &mut self.instances[i].queue;
        queue.retain(|&q| q != h);
        self.loads[i].queued = queue.len() as u32;
    }

    /// The station of `service`; statistics start at `warmup`.
    pub fn new(service: &Service, warmup: SimTime) -> Station {
        let mut ready = TimeWeighted::new(warmup);
        ready.add(SimTime::ZERO, i64::from(service.instances));
        let mut routable = TimeWeighted::new(warmup);
        routable.add(SimTime::ZERO, i64::from(service.instances));
        Station {
            instances: (0..service.instances as usize)
                .map(|i| Instance {
                    host: if service.hosts.is_empty() {
                        NO_HOST
                    } else {
                        service.hosts[i % service.hosts.len()] as u32
                    },
                    ..Instance::new(InstanceState::Ready)
                })
                .collect(),
            loads: Loads::new(service.instances as usize),
            up: (0..service.instances).collect(),
            workers: service.workers,
            queue_capacity: service.queue_capacity,
            blocking: service.blocking,
            after_idle: service.cpu_after_idle,
            placement: service.hosts.iter().map(|&h| h as u32).collect(),
            balancer: service.load_balancer,
            next: 0,
            first_up: 0,
            up_len: service.instances,
            in_order: true,
            least: None,
            outstanding: 0,
            max_concurrency: service.max_concurrency,
            bucket: service.rate_limit.map(TokenBucket::new),
            scaler: service.autoscale.clone().map(|policy| Scaler {
                policy,
                last_busy: 0.0,
                last_ready: 0.0,
                last_queued: 0.0,
            }),
            managed: service.health_check.is_some()
                || service.discovery_refresh.is_some()
                || service.outlier_detection.is_some(),
            health: service.health_check.clone(),
            refresh: service.discovery_refresh,
            outlier: service.outlier_detection.clone(),
            split: None,
            deployment: None,
            subset: Vec::new(),
            subset_next: [0; 2],
            busy: TimeWeighted::new(warmup),
            queued: TimeWeighted::new(warmup),
            ready,
            routable,
            rejected: 0,
            shed: 0,
            expired: 0,
            arrivals: 0,
            waits: 0,
            waited_ns: 0,
            residences: 0,
            resided_ns: 0,
        }
        .indexed()
    }

    /// With the index of the least loaded built when the balancer needs it.
    fn indexed(mut self) -> Station {
        self.reindex();
        self
    }

    /// Rebuilds the least-loaded index after the ready instances changed.
    fn reindex(&mut self) {
        self.first_up = self.up.first().copied().unwrap_or(u32::MAX);
        // `up` is sorted and without repeats: it is 0..n when its last is n - 1.
        debug_assert!(
            self.up.is_sorted_by(|a, b| a < b),
            "ready instances in order"
        );
        self.in_order = self
            .up
            .last()
            .is_none_or(|&i| i as usize + 1 == self.up.len());
        self.up_len = self.up.len() as u32;
        self.least = (self.balancer == LoadBalancer::LeastOutstanding
            && self.up.len() > LeastIndex::SCAN_UP_TO)
            .then(|| {
                let loads = &self.loads;
                Box::new(LeastIndex::new(&self.up, loads.len(), |i| {
                    loads[i].outstanding
                }))
            });
    }

    /// Records that a call admitted at `admitted` got a worker at `now`.
    #[inline]
    pub fn record_wait(&mut self, admitted: SimTime, now: SimTime, warmup: SimTime) {
        if admitted >= warmup {
            self.waits += 1;
            self.waited_ns += u128::from((now - admitted).0);
        }
    }

    /// Adds the residence of a call's work after its calls (from `since` to `now`) to the call
    /// already counted: residence stays per call, so Little's law holds per station.
    #[inline]
    pub fn extend_residence(&mut self, since: SimTime, now: SimTime, warmup: SimTime) {
        if since >= warmup {
            self.resided_ns += u128::from((now - since).0);
        }
    }

    /// Records that a call admitted at `admitted` released its worker at `now`.
    #[inline]
    pub fn record_residence(&mut self, admitted: SimTime, now: SimTime, warmup: SimTime) {
        if admitted >= warmup {
            self.residences += 1;
            self.resided_ns += u128::from((now - admitted).0);
        }
    }

    /// Whether admission control lets a new call in at `now` (taking a token if so).
    #[inline]
    pub fn admits(&mut self, now: SimTime) -> bool {
        if self
            .max_concurrency
            .is_some_and(|limit| self.outstanding >= limit)
        {
            return false;
        }
        self.bucket.as_mut().is_none_or(|b| b.take(now))
    }

    /// Chooses the instance for a new call among the ready ones; `None` when none is ready.
    #[inline(always)]
    pub fn pick_instance(&mut self, rng: &mut SimRng) -> Option<usize> {
        let n = self.up_len as usize;
        if n <= 1 {
            return (n == 1).then_some(self.first_up as usize);
        }
        self.pick_among(rng, n)
    }

    /// [`Station::pick_instance`] during a release, when traffic may be split by version.
    pub fn pick_split(&mut self, rng: &mut SimRng) -> Option<usize> {
        match self.split {
            Some(split) => self.pick_version(rng, split),
            None => self.pick_instance(rng),
        }
    }

    #[inline(always)]
    fn pick_among(&mut self, rng: &mut SimRng, n: usize) -> Option<usize> {
        let k = match self.balancer {
            LoadBalancer::RoundRobin => {
                let k = within(self.next as usize, n);
                self.next = after(k, n) as u32;
                k
            }
            LoadBalancer::Random => rng.random_range(0..n),
            LoadBalancer::LeastOutstanding => {
                // Scan from a rotating start so ties spread evenly instead of favouring the first.
                let start = within(self.next as usize, n);
                self.next = after(start, n) as u32;
                match &self.least {
                    Some(index) => index.first_from(start),
                    None => round_from(start, n)
                        .min_by_key(|&k| self.loads[self.instance_at(k)].outstanding)
                        .unwrap_or(0),
                }
            }
            LoadBalancer::PowerOfTwo => {
                let a = rng.random_range(0..n);
                let b = other_than(a, rng.random_range(0..n - 1), n);
                let load = |k: usize| self.loads[self.instance_at(k)].outstanding;
                if load(b) < load(a) { b } else { a }
            }
        };
        Some(self.instance_at(k))
    }

    /// The ready instance at position `k` of `up`.
    #[inline(always)]
    fn instance_at(&self, k: usize) -> usize {
        if self.in_order {
            k
        } else {
            self.up[k] as usize
        }
    }

    /// During a release, a call goes to `version`'s instances with probability `share`, else
    /// to the others; the balancer then picks among those (round robin and least outstanding
    /// by a scan, the others as usual). Falls back to any instance when that side has none.
    fn pick_version(&mut self, rng: &mut SimRng, (version, share): (u8, f64)) -> Option<usize> {
        let wanted = rng.random::<f64>() < share;
        let mut subset = std::mem::take(&mut self.subset);
        for side in [wanted, !wanted] {
            subset.clear();
            subset.extend(
                self.up
                    .iter()
                    .copied()
                    .filter(|&i| (self.instances[i as usize].version == version) == side),
            );
            if !subset.is_empty() {
                break;
            }
        }
        let n = subset.len();
        let next = &mut self.subset_next[usize::from(wanted)];
        let pick = match n {
            0 => None,
            1 => Some(subset[0] as usize),
            _ => {
                let load = |k: usize| self.loads[subset[k] as usize].outstanding;
                let k = match self.balancer {
                    LoadBalancer::RoundRobin => {
                        *next = after(within(*next, n), n);
                        *next
                    }
                    LoadBalancer::Random => rng.random_range(0..n),
                    LoadBalancer::LeastOutstanding => {
                        let start = within(*next, n);
                        *next = after(start, n);
                        round_from(start, n).min_by_key(|&k| load(k)).unwrap_or(0)
                    }
                    LoadBalancer::PowerOfTwo => {
                        let a = rng.random_range(0..n);
                        let b = other_than(a, rng.random_range(0..n - 1), n);
                        if load(b) < load(a) { b } else { a }
                    }
                };
                Some(subset[k] as usize)
            }
        };
        self.subset = subset;
        pick
    }

    /// Takes instance `i` out of service (crashed or draining). Without a registry the
    /// balancer knows at once; with one, a draining instance deregisters itself (a graceful
    /// shutdown), a crashed one stays registered until its health checks fail.
    pub fn take_out(&mut self, now: SimTime, i: usize, state: InstanceState) {
        if self.instances[i].state == InstanceState::Ready {
            if !self.managed {
                self.up.retain(|&x| x as usize != i);
            }
            self.ready.add(now, -1);
        }
        self.instances[i].state = state;
        if self.managed {
            if state != InstanceState::Down || self.health.is_none() {
                self.instances[i].registered = false;
            }
            self.registry_changed(now);
        } else {
            self.reindex();
        }
    }

    /// Puts instance `i` (restarted, or past its cold start) into service. With health checks
    /// it enters the registry after passing them.
    pub fn bring_up(&mut self, now: SimTime, i: usize) {
        if self.instances[i].state != InstanceState::Ready {
            self.instances[i].state = InstanceState::Ready;
            self.ready.add(now, 1);
            if !self.managed {
                self.up.push(i as u32);
                self.up.sort_unstable();
                self.reindex();
            } else {
                if self.health.is_none() {
                    self.instances[i].registered = true;
                }
                self.instances[i].passes = 0;
                self.registry_changed(now);
            }
        }
    }

    /// The registry changed: without a discovery cache the callers see it at once.
    pub fn registry_changed(&mut self, now: SimTime) {
        if self.refresh.is_none() {
            self.refresh_view(now);
        } else {
            self.rebuild_up(now);
        }
    }

    /// The callers' cache takes the registry's current content.
    pub fn refresh_view(&mut self, now: SimTime) {
        for x in &mut self.instances {
            x.in_view = x.registered && x.state != InstanceState::Retired;
        }
        self.rebuild_up(now);
    }

    /// The balancer's choice: instances in the callers' view and not ejected. Drained instances
    /// no caller can reach any more retire.
    pub fn rebuild_up(&mut self, now: SimTime) {
        let before = self.up.len() as i64;
        self.up.clear();
        for (i, (x, load)) in self.instances.iter_mut().zip(self.loads.iter()).enumerate() {
            if x.state == InstanceState::Draining && load.outstanding == 0 && !x.in_view {
                x.state = InstanceState::Retired;
            }
            if x.in_view && !x.ejected && x.state != InstanceState::Retired {
                self.up.push(i as u32);
            }
        }
        self.routable.add(now, self.up.len() as i64 - before);
        self.reindex();
    }

    /// Instance `i` stops taking calls, finishes those it holds, and retires once it holds
    /// none and no caller can reach it (at once if it holds none already).
    pub fn drain(&mut self, now: SimTime, i: usize) {
        self.take_out(now, i, InstanceState::Draining);
        if self.loads[i].outstanding == 0 && self.can_retire(i) {
            self.instances[i].state = InstanceState::Retired;
        }
    }

    /// Whether a drained instance `i` may retire: no caller can send it anything.
    #[inline]
    pub fn can_retire(&self, i: usize) -> bool {
        !self.managed || !self.instances[i].in_view
    }

    /// A slot for a new instance in `state`: a retired one reused, or a new one, placed on the
    /// listed host with the fewest of the service's instances (the first of those).
    pub fn add_instance(&mut self, state: InstanceState) -> usize {
        let host = self.spread_target();
        let i = if let Some(i) = self
            .instances
            .iter()
            .position(|x| x.state == InstanceState::Retired)
        {
            // A reused slot keeps its running health checks.
            let checking = self.instances[i].checking;
            self.instances[i] = Instance::new(state);
            self.instances[i].checking = checking;
            self.loads[i] = Load::default();
            i
        } else {
            self.instances.push(Instance::new(state));
            self.loads.push(Load::default());
            self.instances.len() - 1
        };
        self.instances[i].host = host;
        i
    }

    /// Where the spread rule puts a new instance: the listed host with the fewest instances
    /// not retired, the first of those.
    fn spread_target(&self) -> u32 {
        match self.placement.as_slice() {
            [] => NO_HOST,
            [one] => *one,
            list => *list
                .iter()
                .min_by_key(|&&h| {
                    self.instances
                        .iter()
                        .filter(|x| x.host == h && x.state != InstanceState::Retired)
                        .count()
                })
                .expect("the list is not empty"),
        }
    }

    /// The host instance `i` runs on, if the service is placed.
    #[inline(always)]
    pub fn host_of(&self, i: usize) -> Option<usize> {
        let h = self.instances[i].host;
        (h != NO_HOST).then_some(h as usize)
    }

    /// Instances ready or starting: what the autoscaler counts as provisioned.
    pub fn provisioned(&self) -> u32 {
        self.instances
            .iter()
            .filter(|x| matches!(x.state, InstanceState::Ready | InstanceState::Starting))
            .count() as u32
    }
}

/// `k` taken into `0..n`. Balancers keep their rotation below the number of ready instances, so
/// this is a comparison on a call's path; the division is left for when instances went down.
#[inline(always)]
fn within(k: usize, n: usize) -> usize {
    if k < n { k } else { k % n }
}

/// The position after `k` (below `n`) in a rotation through `n`: `(k + 1) % n` without dividing.
#[inline(always)]
fn after(k: usize, n: usize) -> usize {
    if k + 1 < n { k + 1 } else { 0 }
}

/// Positions `0..n` from `start` (below `n`) round to the one before it: the order in which a
/// least-loaded scan breaks ties.
#[inline(always)]
fn round_from(start: usize, n: usize) -> impl Iterator<Item = usize> {
    (start..n).chain(0..start)
}

/// The position `1 + offset` after `a` (both below `n`; `offset` below `n - 1`), cyclically: a
/// second pick that is never `a`.
#[inline(always)]
fn other_than(a: usize, offset: usize, n: usize) -> usize {
    let b = a + 1 + offset;
    if b < n { b } else { b - n }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The scan the index stands in for: the first least-loaded position from `start`.
    fn scanned(station: &Station, start: usize) -> usize {
        let n = station.up.len();
        (0..n)
            .map(|k| (start + k) % n)
            .min_by_key(|&k| station.loads[station.up[k] as usize].outstanding)
            .unwrap()
    }

    /// A service of `instances` one-worker instances and nothing else, placed on `hosts`.
    fn plain_service(instances: u32, load_balancer: LoadBalancer, hosts: Vec<usize>) -> Service {
        Service {
            name: "svc".into(),
            instances,
            workers: 1,
            queue_capacity: None,
            load_balancer,
            blocking: false,
            max_concurrency: None,
            rate_limit: None,
            autoscale: None,
            hosts,
            endpoints: Vec::new(),
            health_check: None,
            discovery_refresh: None,
            outlier_detection: None,
            store: None,
            cpu_after_idle: None,
        }
    }

    /// The balancers' rotation without division: the same positions as the modular arithmetic
    /// it replaces, for every size up to 70 and rotations left past it by instances going down.
    #[test]
    fn rotating_without_dividing_gives_the_positions_dividing_gave() {
        for n in 1..70 {
            for k in 0..3 * n {
                assert_eq!(within(k, n), k % n);
            }
            for k in 0..n {
                assert_eq!(after(k, n), (k + 1) % n);
                let scan: Vec<usize> = (0..n).map(|j| (k + j) % n).collect();
                assert_eq!(round_from(k, n).collect::<Vec<_>>(), scan);
                for offset in 0..n.saturating_sub(1) {
                    assert_eq!(other_than(k, offset, n), (k + 1 + offset) % n);
                }
            }
        }
    }

    /// A station's loads read and write as one vector of them does, whether the station has one
    /// instance or many, and as instances are added (the first kept apart is invisible).
    #[test]
    fn loads_index_every_instance_as_a_vector_would() {
        for n in [1, 2, 7] {
            let mut loads = Loads::new(n);
            let mut vector = vec![Load::default(); n];
            for step in 0..40u32 {
                if step % 9 == 8 {
                    loads.push(Load::default());
                    vector.push(Load::default());
                }
                let i = (step as usize * 5) % vector.len();
                loads[i].busy += step;
                loads[i].outstanding += 1;
                vector[i].busy += step;
                vector[i].outstanding += 1;
                assert_eq!(loads.len(), vector.len());
                let read = |l: &Load| (l.busy, l.outstanding, l.queued);
                let all: Vec<_> = loads.iter().map(read).collect();
                assert_eq!(
                    all,
                    vector.iter().map(read).collect::<Vec<_>>(),
                    "n {n}, step {step}"
                );
                for (k, v) in vector.iter().enumerate() {
                    assert_eq!(loads.get(k).map(read), Some(read(v)));
                }
                assert!(loads.get(vector.len()).is_none());
            }
            assert!(loads.len() > n, "instances were added");
        }
    }

    /// Every balancer picks only ready instances, and every ready one in time, while instances
    /// go out and come back: the shortcut taken while `up` is every instance in order
    /// (positions are instances) is dropped as soon as one is out (but the last), and taken
    /// again when all are back. Round robin visits the ready ones in order either way.
    #[test]
    fn balancers_pick_ready_instances_only_as_instances_go_out_and_back() {
        for balancer in [
            LoadBalancer::RoundRobin,
            LoadBalancer::Random,
            LoadBalancer::LeastOutstanding,
            LoadBalancer::PowerOfTwo,
        ] {
            for instances in [5, 100] {
                let service = plain_service(instances, balancer, Vec::new());
                let mut station = Station::new(&service, SimTime::ZERO);
                let mut rng = SimRng::seed_from_u64(3);
                let n = instances as usize;
                for (round, out) in [vec![], vec![n - 1], vec![0, 2], vec![], vec![1]]
                    .into_iter()
                    .enumerate()
                {
                    for i in 0..n {
                        station.bring_up(SimTime::ZERO, i);
                    }
                    for &i in &out {
                        station.take_out(SimTime::ZERO, i, InstanceState::Down);
                    }
                    // In order while no instance is out but the last ones.
                    let suffix = out.iter().all(|&i| i >= n - out.len());
                    assert_eq!(station.in_order, suffix, "{balancer:?}, round {round}");
                    let mut picked = vec![0u32; n];
                    let mut order = Vec::new();
                    for _ in 0..40 * n {
                        let i = station.pick_instance(&mut rng).unwrap();
                        picked[i] += 1;
                        order.push(i);
                        // Picks spread: each call stays outstanding for a while.
                        station.loads[i].outstanding += 1;
                        if let Some(index) = station.least.as_mut() {
                            index.set(i, station.loads[i].outstanding);
                        }
                    }
                    for i in 0..n {
                        station.loads[i].outstanding = 0;
                    }
                    station.reindex();
                    for (i, &count) in picked.iter().enumerate() {
                        let ready = !out.contains(&i);
                        assert_eq!(
                            count > 0,
                            ready,
                            "{balancer:?}, round {round}, instance {i}"
                        );
                    }
                    if balancer == LoadBalancer::RoundRobin {
                        let ready: Vec<usize> = (0..n).filter(|i| !out.contains(i)).collect();
                        let start = ready.iter().position(|&i| i == order[0]).unwrap();
                        for (k, &i) in order.iter().enumerate() {
                            assert_eq!(i, ready[(start + k) % ready.len()], "round {round}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn least_outstanding_index_picks_what_the_scan_picks() {
        let service = plain_service(300, LoadBalancer::LeastOutstanding, Vec::new());
        let mut station = Station::new(&service, SimTime::ZERO);
        assert!(station.least.is_some(), "300 instances use the index");
        let mut rng = SimRng::seed_from_u64(7);
        let mut busy: Vec<usize> = Vec::new();
        for step in 0..20_000 {
            // Admissions, departures in random order, and now and then an instance out and back.
            if step % 2_000 == 1_000 {
                let i = station.up[rng.random_range(0..station.up.len())] as usize;
                station.take_out(SimTime::ZERO, i, InstanceState::Draining);
                busy.retain(|&b| b != i);
                station.loads[i].outstanding = 0;
                station.bring_up(SimTime::ZERO, i);
            }
            if busy.is_empty() || rng.random_bool(0.55) {
                let start = station.next as usize % station.up.len();
                let expected = station.up[scanned(&station, start)] as usize;
                let i = station.pick_instance(&mut rng).unwrap();
                assert_eq!(i, expected, "step {step}");
                station.loads[i].outstanding += 1;
                let o = station.loads[i].outstanding;
                station.least.as_mut().unwrap().set(i, o);
                busy.push(i);
            } else {
                let i = busy.swap_remove(rng.random_range(0..busy.len()));
                station.loads[i].outstanding -= 1;
                let o = station.loads[i].outstanding;
                station.least.as_mut().unwrap().set(i, o);
            }
        }
    }

    /// Instances start on the listed hosts in turn; a later one goes to the host with the fewest
    /// of the service's live instances, the first listed of those.
    #[test]
    fn new_instances_spread_over_the_listed_hosts() {
        let service = plain_service(2, LoadBalancer::RoundRobin, vec![4, 7, 9]);
        let mut station = Station::new(&service, SimTime::ZERO);
        let hosts = |s: &Station| -> Vec<Option<usize>> {
            (0..s.instances.len()).map(|i| s.host_of(i)).collect()
        };
        assert_eq!(hosts(&station), [Some(4), Some(7)]);
        station.add_instance(InstanceState::Starting);
        station.add_instance(InstanceState::Starting);
        assert_eq!(hosts(&station), [Some(4), Some(7), Some(9), Some(4)]);
        // Host 7's instance retires: the next one takes its slot and its host.
        station.instances[1].state = InstanceState::Retired;
        let i = station.add_instance(InstanceState::Starting);
        assert_eq!((i, station.host_of(i)), (1, Some(7)));
        let i = station.add_instance(InstanceState::Starting);
        assert_eq!(
            station.host_of(i),
            Some(7),
            "7 and 9 hold one each; 7 is listed first"
        );
    }

    #[test]
    fn token_bucket_admits_burst_then_rate() {
        let mut b = TokenBucket::new(RateLimit {
            rate_per_s: 10.0,
            burst: 5.0,
        });
        let t0 = SimTime::ZERO;
        let admitted = (0..20).filter(|_| b.take(t0)).count();
        assert_eq!(admitted, 5);
        // One second later: ten more tokens, capped at the burst of 5.
        let t1 = SimTime::from_secs_f64(1.0);
        assert_eq!((0..20).filter(|_| b.take(t1)).count(), 5);
        // 0.25 s later: 2.5 tokens, so 2 calls.
        let t2 = SimTime::from_secs_f64(1.25);
        assert_eq!((0..20).filter(|_| b.take(t2)).count(), 2);
    }
}
