//! Where a request's time goes: each call accumulates the time spent on its critical path, per
//! hop (a service or a link direction) and component; a stage of parallel calls contributes the
//! path of the call that returned last (the one the stage waited for). The components of a
//! successful request add up to its latency exactly.

use crate::engine::{Grow, Handle, SimTime};
use crate::model::Model;
use crate::stats::{Amount, add_up_by_key, merged_by_key};
use std::sync::Arc;

/// What the time was spent on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// Waiting for a worker.
    Queueing,
    /// Being processed.
    Service,
    /// Waiting for the link and being serialised onto it.
    Transmission,
    /// Propagation along the link.
    Propagation,
    /// Lost transmissions and their retransmission timeouts.
    Retransmission,
    /// Failed or timed-out attempts and back-off before the attempt that succeeded.
    Retries,
}

impl Component {
    pub const ALL: [Component; 6] = [
        Component::Queueing,
        Component::Service,
        Component::Transmission,
        Component::Propagation,
        Component::Retransmission,
        Component::Retries,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Component::Queueing => "queueing",
            Component::Service => "service",
            Component::Transmission => "transmission",
            Component::Propagation => "propagation",
            Component::Retransmission => "retransmission",
            Component::Retries => "retries",
        }
    }
}

const COMPONENTS: usize = Component::ALL.len();

/// How many of its slowest requests a route keeps with their paths: about the slowest 2.5%,
/// at least [`MIN_TAIL`] and at most `most`.
///
/// `most` is [`MAX_TAIL`] in a model of up to [`TAIL_ROUTES`] routes; a model of more shares
/// what that many routes keep at most, so that the tails' memory is bounded by the model
/// however long it runs. Why: once its 1,024th request sets a cut, a route keeps the requests
/// at or above its p98 — 2% of them — and prunes to 2.5% only when it holds twice that, which
/// it never reaches: its tail grew with the run until `MAX_TAIL`, twice over. Each of the
/// generated 10,000-service model's 3,000 routes (paths of about 37 entries) held some 500
/// paths after 2,500 simulated seconds, and on. Shared, each keeps at most 106 (212 between
/// prunings): about 280 MB over that model, however long the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TailSize {
    most: usize,
}

/// The least tail requests a route keeps (all its requests until it has twice as many).
const MIN_TAIL: usize = 100;
/// The most a route keeps in a model of up to [`TAIL_ROUTES`] routes.
const MAX_TAIL: usize = 20_000;
/// Routes beyond which they share the tails of this many (the models of `models/` have at most
/// ten, and keep what they kept).
const TAIL_ROUTES: usize = 16;

impl TailSize {
    fn for_routes(routes: usize) -> TailSize {
        let share = MAX_TAIL.saturating_mul(TAIL_ROUTES) / routes.max(1);
        TailSize {
            most: share.clamp(MIN_TAIL, MAX_TAIL),
        }
    }

    /// The slowest requests a route of `count` requests keeps.
    fn keep(self, count: u64) -> usize {
        ((count / 40) as usize).clamp(MIN_TAIL, self.most)
    }
}

/// A hop and component packed into one key: `hop * COMPONENTS + component`, where hops are the
/// services (gateway first) and then the link directions.
pub fn key(hop: usize, c: Component) -> u32 {
    (hop * COMPONENTS + c as usize) as u32
}

// The pairs a segment holds (see [`Segment`]) are components next to each other.
const _: () = assert!(
    Component::Service as usize == Component::Queueing as usize + 1
        && Component::Propagation as usize == Component::Transmission as usize + 1
);

/// A finished request's critical path summed per key, in key order (so that adding it to its
/// route's sparse totals is one pass over both). While calls are in flight, paths are lists of
/// segments instead (see [`Paths`]).
type Path = Vec<(u32, u64)>;

/// Most keys × routes kept as dense tables (16 MB); larger models keep each route's totals
/// sparse, since a route touches only the hops on its own call graph.
const DENSE_ENTRIES: usize = 1 << 21;

/// Total nanoseconds per key of one route.
enum Totals {
    /// Indexed by key: the fastest to add to, for models of a few hundred hops.
    Dense(Vec<u64>),
    /// (key, total) sorted by key, holding only the keys the route's requests crossed: memory
    /// grows with the route's own call graph, not with the model.
    Sparse(Vec<(u32, u64)>),
}

impl Totals {
    /// Adds every (key, ns) of `path` (in key order, as paths are kept). Sparse totals take
    /// one forward pass over both, not a binary search per key: the route's totals are cold by
    /// the time its next request finishes, and a pass reads them in order.
    fn add_path(&mut self, path: &[(u32, u64)]) {
        match self {
            Totals::Dense(v) => {
                for &(key, ns) in path {
                    v[key as usize] += ns;
                }
            }
            Totals::Sparse(v) => {
                let mut j = 0;
                let mut missing = false;
                for &(key, ns) in path {
                    while j < v.len() && v[j].0 < key {
                        j += 1;
                    }
                    if j < v.len() && v[j].0 == key {
                        v[j].1 += ns;
                    } else {
                        missing = true;
                    }
                }
                if missing {
                    // Keys this route's requests had not crossed yet: rare once it has run.
                    for &(key, ns) in path {
                        if let Err(i) = v.binary_search_by_key(&key, |e| e.0) {
                            v.insert(i, (key, ns));
                        }
                    }
                }
            }
        }
    }

    /// (key, total) of every key with a total, in key order.
    fn entries(&self) -> Box<dyn Iterator<Item = (u32, u64)> + '_> {
        match self {
            Totals::Dense(v) => Box::new(
                v.iter()
                    .enumerate()
                    .filter(|e| *e.1 > 0)
                    .map(|(k, &ns)| (k as u32, ns)),
            ),
            Totals::Sparse(v) => Box::new(v.iter().copied()),
        }
    }
}

/// No segment: the end of a list.
const NIL: u32 = u32::MAX;

/// One piece of time on a call's path: `ns[0]` on `key` and `ns[1]` on `key + 1` (the next
/// component of the same hop), and the next piece of the same list. Two components, because
/// they come in pairs — a wait and the processing after it, a transmission and the
/// propagation after it — and each segment taken from the pool is a cache miss in a large
/// model: pairs halve them.
#[derive(Clone, Copy)]
struct Segment {
    key: u32,
    next: u32,
    ns: [u64; 2],
}

/// A call's path as a list of segments in [`Paths::segments`], in no key order and with keys
/// repeated: adding time is a push and adding a child's path a splice, each O(1), whatever the
/// path's length. The list is summed per key once, when its request finishes.
#[derive(Clone, Copy)]
struct SlotPath {
    head: u32,
    tail: u32,
    /// Σ ns over the list (and over lists spliced away from it), saturating.
    total: u64,
    /// Segments in the list.
    len: u32,
}

impl SlotPath {
    const EMPTY: SlotPath = SlotPath {
        head: NIL,
        tail: NIL,
        total: 0,
        len: 0,
    };
}

/// The bookkeeping, kept only when a breakdown is asked for.
///
/// Why lists: a path used to be a vector per call, kept in key order, and adding a child's
/// path to its caller's merged the two — in a model of deep call graphs, every return copied a
/// path of dozens of keys, and each vector's growth was an allocation: a fifth of the
/// instructions of a 10,000-service run. Segments come from one pool with a free list, so a
/// finished call's list goes back in one step and a run allocates only while its peak grows.
pub struct Paths {
    /// Per arena slot of `calls`: the path of the call living there.
    slots: Vec<SlotPath>,
    /// Every segment; free ones are chained from `free`.
    segments: Vec<Segment>,
    free: u32,
    /// Per route: total nanoseconds per key over measured successful requests, and their count.
    totals: Vec<Totals>,
    pub counts: Vec<u64>,
    /// Per route: the slowest requests so far, pruned to about the slowest 2.5%.
    tail: Vec<Slowest>,
    /// How many slow requests a route keeps.
    tail_size: TailSize,
    /// Scratch: a finished request's path summed per key.
    summed: Path,
    /// Scratch: its segments in key order, as `key << 32 | place in the pool`.
    order: Vec<u64>,
}

impl Paths {
    pub fn new(routes: usize, hops: usize) -> Paths {
        let keys = hops * COMPONENTS;
        let dense = keys.saturating_mul(routes) <= DENSE_ENTRIES;
        Paths {
            slots: Vec::new(),
            segments: Vec::new(),
            free: NIL,
            totals: (0..routes)
                .map(|_| {
                    if dense {
                        Totals::Dense(vec![0; keys])
                    } else {
                        Totals::Sparse(Vec::new())
                    }
                })
                .collect(),
            counts: vec![0; routes],
            tail: (0..routes).map(|_| Slowest::default()).collect(),
            tail_size: TailSize::for_routes(routes),
            summed: Vec::new(),
            order: Vec::new(),
        }
    }

    /// A new call took slot `h`: its path starts empty (what the slot's last call left that no
    /// caller took goes back to the pool).
    #[inline(always)]
    pub fn started(&mut self, h: Handle) {
        let i = h.index() as usize;
        if self.slots.len() <= i {
            self.slots.resize(i + 1, SlotPath::EMPTY);
        }
        let old = std::mem::replace(&mut self.slots[i], SlotPath::EMPTY);
        self.release(old);
    }

    /// Puts a list's segments back on the free list: one splice.
    #[inline(always)]
    fn release(&mut self, list: SlotPath) {
        if list.head != NIL {
            self.segments[list.tail as usize].next = self.free;
            self.free = list.head;
        }
    }

    /// Adds `t` to `key` on the path of the call in slot `h`.
    #[inline(always)]
    pub fn add(&mut self, h: Handle, key: u32, t: SimTime) {
        self.add_pair(h, key, [t, SimTime::ZERO]);
    }

    /// Adds `t[0]` to `key` and `t[1]` to `key + 1` on the path of the call in slot `h`.
    #[inline(always)]
    pub fn add_pair(&mut self, h: Handle, key: u32, t: [SimTime; 2]) {
        if t[0].0 == 0 && t[1].0 == 0 {
            return;
        }
        let segment = Segment {
            key,
            next: NIL,
            ns: [t[0].0, t[1].0],
        };
        let at = if self.free == NIL {
            self.segments.push(segment);
            (self.segments.len() - 1) as u32
        } else {
            let at = self.free;
            self.free = self.segments[at as usize].next;
            self.segments[at as usize] = segment;
            at
        };
        let path = &mut self.slots[h.index() as usize];
        if path.head == NIL {
            path.head = at;
        } else {
            self.segments[path.tail as usize].next = at;
        }
        path.tail = at;
        path.total = path.total.saturating_add(t[0].0).saturating_add(t[1].0);
        path.len += 1;
    }

    /// Adds the path of the call in slot `child` to that of `parent`: the child's segments move
    /// to the end of the parent's list (the child keeps its total).
    #[inline(always)]
    pub fn merge(&mut self, parent: Handle, child: Handle) {
        let (p, c) = (parent.index() as usize, child.index() as usize);
        if p == c {
            return;
        }
        let from = self.slots[c];
        if from.head == NIL {
            return;
        }
        self.slots[c].head = NIL;
        self.slots[c].tail = NIL;
        self.slots[c].len = 0;
        let into = &mut self.slots[p];
        if into.head == NIL {
            into.head = from.head;
        } else {
            self.segments[into.tail as usize].next = from.head;
        }
        into.tail = from.tail;
        into.total = into.total.saturating_add(from.total);
        into.len += from.len;
    }

    /// The time on the path of the call in slot `h`.
    pub fn total(&self, h: Handle) -> u64 {
        self.slots[h.index() as usize].total
    }

    /// Asks the CPU to load what [`Paths::record`] of `route` for the call in slot `h` reads
    /// first: the route's count and the records of its totals and slowest list, and the slot's
    /// path (what they point at, [`Paths::prefetch_totals`] loads once they are in).
    #[inline(always)]
    pub fn prefetch_route(&self, route: usize, h: Handle) {
        if let (Some(totals), Some(count), Some(tail)) = (
            self.totals.get(route),
            self.counts.get(route),
            self.tail.get(route),
        ) {
            crate::engine::prefetch(totals);
            crate::engine::prefetch(count);
            crate::engine::prefetch(tail);
        }
        if let Some(slot) = self.slots.get(h.index() as usize) {
            crate::engine::prefetch(slot);
        }
    }

    /// Asks the CPU to load what those records point at: the first lines of `route`'s sparse
    /// totals, which [`Paths::record`] walks in order (the hardware follows on from there),
    /// the first segment of the path of the call in slot `h`, and, for a request among the
    /// slowest (`slow`), the place its path will be kept.
    #[inline(always)]
    pub fn prefetch_totals(&self, route: usize, h: Handle, slow: bool) {
        if let Some(Totals::Sparse(v)) = self.totals.get(route) {
            crate::engine::prefetch_slice(v, 4);
        }
        if let Some(first) = self
            .slots
            .get(h.index() as usize)
            .and_then(|slot| self.segments.get(slot.head as usize))
        {
            crate::engine::prefetch(first);
        }
        if slow && let Some(tail) = self.tail.get(route) {
            // The new entry and its path go right after the last ones.
            tail.prefetch_end();
        }
    }

    /// A measured request of `route` succeeded with `latency`: add its path to the totals and
    /// keep it if it is among the slowest; `p98` is the route's current 98th percentile.
    pub fn record(&mut self, route: usize, h: Handle, latency: u64, p98: u64) {
        let mut summed = std::mem::take(&mut self.summed);
        self.sum_by_key(h, &mut summed);
        self.totals[route].add_path(&summed);
        self.counts[route] += 1;
        if latency >= p98 {
            let tail = &mut self.tail[route];
            tail.push(latency, &summed);
            // About the slowest 2.5%, but at most `tail_size.most`, so memory stays bounded in
            // long runs (beyond 40 times that many requests of a route, the p99 column covers
            // the slowest that many).
            let keep = self.tail_size.keep(self.counts[route]);
            if tail.len() > 2 * keep {
                tail.keep_slowest(keep);
            }
        }
        self.summed = summed;
    }

    /// The path of the call in slot `h` as (key, time) in key order, each key once.
    ///
    /// A short path's (key, time) entries are sorted by key and added up. A long one's
    /// segments are sorted instead (see [`Paths::sum_long_path`]): the paths of a large model's
    /// deep call graphs hold dozens of entries, and sorting them was 40% of recording a
    /// request's path; the built-in model's hold about five, for which the segments' way costs
    /// more than it saves.
    fn sum_by_key(&mut self, h: Handle, out: &mut Path) {
        out.clear();
        let path = self.slots[h.index() as usize];
        if path.len as usize > SHORT_PATH {
            self.sum_long_path(path.head, out);
            return;
        }
        let mut at = path.head;
        while at != NIL {
            let s = self.segments[at as usize];
            for (k, ns) in [s.key, s.key + 1].into_iter().zip(s.ns) {
                if ns > 0 {
                    out.push((k, ns));
                }
            }
            at = s.next;
        }
        add_up_by_key(out);
    }

    /// [`Paths::sum_by_key`] of the list of segments from `head`, by sorting the segments —
    /// half as many as the entries, each as one integer (its key above its place in the pool)
    /// — and summing each key's in one pass.
    fn sum_long_path(&mut self, head: u32, out: &mut Path) {
        let order = &mut self.order;
        order.clear();
        let mut at = head;
        while at != NIL {
            order.push(u64::from(self.segments[at as usize].key) << 32 | u64::from(at));
            at = self.segments[at as usize].next;
        }
        order.sort_unstable();
        // Segments of one key are next to each other: summed, they add to `key` and `key + 1`.
        // The previous key's second component, one key higher, may land on this key's first.
        let mut group = (NIL, [0u64; 2]);
        for &o in order.iter() {
            let segment = &self.segments[o as u32 as usize];
            if segment.key == group.0 {
                group.1 = group.1.plus(segment.ns);
            } else {
                push_pair(out, group);
                group = (segment.key, segment.ns);
            }
        }
        push_pair(out, group);
    }

    /// The breakdown of `routes` together (one route, or all), named `name`; `p99` is their
    /// latency's 99th percentile in ns and `hops` names the hops.
    ///
    /// No map of sums: the `all` row of a model of 10,000 services adds up 150,000 route totals
    /// over 80,000 keys, and a tree's lookup per total made the breakdown the largest part of
    /// collecting a run's results. One route's totals are few and already in key order (only its tail
    /// paths are not): they are sorted; many routes' are added into a table of every key.
    pub fn breakdown(
        &self,
        name: &str,
        routes: &[usize],
        p99: u64,
        hops: &mut HopNames<'_>,
    ) -> RouteBreakdown {
        let (mut n, mut tail_n) = (0, 0);
        let mut tail_paths = Vec::new();
        for &r in routes {
            n += self.counts[r];
            for (latency, path) in self.tail[r].iter() {
                if latency >= p99 {
                    tail_n += 1;
                    tail_paths.push(path);
                }
            }
        }
        let crossed = |r: usize| self.totals[r].entries().map(|(key, ns)| (key, [ns, 0]));
        let tails = tail_paths
            .iter()
            .flat_map(|path| path.iter().map(|k| (k.key, [0, k.ns()])));
        // (key, [total, tail total]), in key order, each key once.
        let sums: Vec<(u32, [u64; 2])> = match routes {
            // The route's totals are in key order already: only its tail paths are sorted.
            [r] => {
                let mut tail_sums: Vec<(u32, [u64; 2])> = tails.collect();
                add_up_by_key(&mut tail_sums);
                merged_by_key(&crossed(*r).collect::<Vec<_>>(), &tail_sums)
            }
            _ => {
                let mut dense = vec![[0u64; 2]; hops.count() * COMPONENTS];
                for (key, sums) in routes.iter().flat_map(|&r| crossed(r)).chain(tails) {
                    let at = &mut dense[key as usize];
                    *at = at.plus(sums);
                }
                (dense.into_iter().enumerate())
                    .filter(|(_, sums)| *sums != [0, 0])
                    .map(|(key, sums)| (key as u32, sums))
                    .collect()
            }
        };
        let mean = |total: u64, count: u64| {
            if count == 0 {
                f64::NAN
            } else {
                total as f64 / count as f64 / 1e6
            }
        };
        // (Every sum is of times above zero: paths and totals hold no zero.)
        let parts = sums
            .into_iter()
            .map(|(k, [sum, tail])| {
                let k = k as usize;
                (
                    hops.name(k / COMPONENTS),
                    Component::ALL[k % COMPONENTS],
                    mean(sum, n),
                    mean(tail, tail_n),
                )
            })
            .collect();
        RouteBreakdown {
            route: name.to_string(),
            requests: n,
            tail_requests: tail_n,
            parts,
        }
    }
}

/// Paths a route's tail makes room for when it needs a new chunk, while a quarter of what it
/// holds is fewer.
///
/// Why: every request of a route counts as slow until its 1,024th sets a cut, so a route of a
/// large model, with a few dozen requests, keeps them all; made room for one path at a time,
/// it allocated at nearly every request (24,000 times in 2 simulated seconds of the
/// 10,000-service model, 1.5% of its run).
const PATHS_AT_ONCE: usize = 4;

/// One (key, ns) of a kept path, in 12 bytes where a `(u32, u64)` takes 16: the tails are most
/// of a large model's memory (every request of a route is kept until a cut is set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Kept {
    key: u32,
    /// The nanoseconds' low and high halves (a `u64` would align the record to 8 bytes).
    ns: [u32; 2],
}

impl Kept {
    fn new(&(key, ns): &(u32, u64)) -> Kept {
        Kept {
            key,
            ns: [ns as u32, (ns >> 32) as u32],
        }
    }

    fn ns(self) -> u64 {
        u64::from(self.ns[0]) | (u64::from(self.ns[1]) << 32)
    }
}

/// The slowest requests of one route, each with its path: one vector of requests and the
/// paths' entries one after the other in a few chunks, not a vector per request — a route
/// whose requests all counted as slow (until its first 1,024 set a cut) kept one allocation
/// per request, 190,000 of them in a model of 3,000 routes, and freeing them took longer than
/// summing them.
///
/// Why chunks: a route's paths grew one vector by a quarter at a time, and every growth copied
/// all the paths held so far (the run's largest `memmove`, 1.6% of a 10,000-service model's
/// run). A full chunk is left as it is and a new one, a quarter of what the route holds, takes
/// the next paths; a path never spans two.
#[derive(Clone, Default)]
struct Slowest {
    /// (latency, where its path starts in the chunks' entries counted one after the other, its
    /// length), in the order recorded until pruned.
    requests: Vec<(u64, u32, u32)>,
    chunks: Vec<Vec<Kept>>,
    /// Where each chunk's first entry is counted: the entries of the chunks before it (a chunk
    /// only grows while it is the last).
    bases: Vec<u32>,
}

impl Slowest {
    fn len(&self) -> usize {
        self.requests.len()
    }

    /// Keeps `path` as that of a request of `latency` (a new chunk when the last has no room
    /// for it: a quarter of the entries held, but at least [`PATHS_AT_ONCE`] such paths).
    fn push(&mut self, latency: u64, path: &[(u32, u64)]) {
        let room = self.chunks.last().map_or(0, |c| c.capacity() - c.len());
        if room < path.len() {
            let held = self.held();
            let size = (held / 4).max(PATHS_AT_ONCE * path.len());
            self.bases.push(held as u32);
            self.chunks.push(Vec::with_capacity(size));
        }
        let start = self.held() as u32;
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.extend(path.iter().map(Kept::new));
        }
        self.requests.make_room();
        self.requests.push((latency, start, path.len() as u32));
    }

    /// Entries held, over every chunk.
    fn held(&self) -> usize {
        match (self.bases.last(), self.chunks.last()) {
            (Some(&base), Some(last)) => base as usize + last.len(),
            _ => 0,
        }
    }

    /// Keeps the `keep` slowest — of equal latencies, those recorded first — with their paths
    /// laid out afresh in one chunk.
    fn keep_slowest(&mut self, keep: usize) {
        self.requests.sort_by_key(|r| std::cmp::Reverse(r.0));
        self.requests.truncate(keep);
        let mut kept = Vec::with_capacity(self.requests.iter().map(|r| r.2 as usize).sum());
        for r in 0..self.requests.len() {
            let path = self.path(self.requests[r]);
            let start = kept.len() as u32;
            kept.extend_from_slice(path);
            self.requests[r].1 = start;
        }
        self.chunks = vec![kept];
        self.bases = vec![0];
    }

    /// The path of a request kept.
    fn path(&self, (_, start, len): (u64, u32, u32)) -> &[Kept] {
        if len == 0 {
            return &[];
        }
        let chunk = self.bases.partition_point(|&base| base <= start) - 1;
        let at = (start - self.bases[chunk]) as usize;
        &self.chunks[chunk][at..at + len as usize]
    }

    /// (latency, path) of each request kept.
    fn iter(&self) -> impl Iterator<Item = (u64, &[Kept])> {
        (self.requests.iter()).map(|&r| (r.0, self.path(r)))
    }

    /// Loads where the next request and its path will go.
    #[inline(always)]
    fn prefetch_end(&self) {
        if let Some(last) = self.requests.last() {
            crate::engine::prefetch(last);
        }
        if let Some(last) = self.chunks.last().and_then(|c| c.last()) {
            crate::engine::prefetch_lines(last, 2);
        }
    }
}

/// The names of a model's hops (its services, gateway first, then both directions of each
/// link), made when a breakdown first names one and shared by every row that does: a model of
/// 10,000 services has 63,000 hops, and its breakdown has 250,000 rows.
pub struct HopNames<'m> {
    model: &'m Model,
    names: Vec<Option<Arc<str>>>,
}

impl<'m> HopNames<'m> {
    pub fn new(model: &'m Model) -> HopNames<'m> {
        HopNames {
            model,
            names: vec![None; model.services.len() + 2 * model.links.len()],
        }
    }

    /// How many hops the model has.
    pub fn count(&self) -> usize {
        self.names.len()
    }

    /// The name of hop `hop`: a service's, or a link direction's (see [`link_hop`]).
    pub fn name(&mut self, hop: usize) -> Arc<str> {
        let model = self.model;
        let services = &model.services;
        let name = self.names[hop].get_or_insert_with(|| match hop.checked_sub(services.len()) {
            None => services[hop].name.as_str().into(),
            Some(d) => {
                let link = &model.links[d / 2];
                let (from, to) = (link.ends[d % 2], link.ends[1 - d % 2]);
                link_hop(&link.name, &services[from].name, &services[to].name).into()
            }
        });
        Arc::clone(name)
    }
}

/// Most segments a path sorts as (key, time) entries; longer paths sort their segments.
const SHORT_PATH: usize = 12;

/// Appends the summed segments of `key`, `(key, [ns on key, ns on key + 1])`, to a path in key
/// order whose last key is at most `key` (what a segment one key lower left): times of zero
/// are left out, as paths hold none. `NIL` is no segment.
fn push_pair(out: &mut Path, (key, ns): (u32, [u64; 2])) {
    if key == NIL {
        return;
    }
    if ns[0] > 0 {
        match out.last_mut() {
            Some(last) if last.0 == key => last.1 += ns[0],
            _ => out.push((key, ns[0])),
        }
    }
    if ns[1] > 0 {
        out.push((key + 1, ns[1]));
    }
}

/// The breakdown of one route, per hop and component.
#[derive(Clone, Debug)]
pub struct RouteBreakdown {
    pub route: String,
    /// Successful measured requests it covers, and those at or above the route's p99.
    pub requests: u64,
    pub tail_requests: u64,
    /// (hop name, component, mean ms over all requests, mean ms over the p99 requests).
    pub parts: Vec<(Arc<str>, Component, f64, f64)>,
}

/// The name of a link direction as a hop of the breakdown: `link (from→to)`.
///
/// Appended piece by piece: `format!` took 1,500 instructions a name, and collecting 5 simulated
/// s of the 10,000-service model names 34,602 link directions (of its 53,236).
pub fn link_hop(link: &str, from: &str, to: &str) -> String {
    let mut name = String::with_capacity(link.len() + from.len() + to.len() + " (→)".len());
    for part in [link, " (", from, "→", to, ")"] {
        name.push_str(part);
    }
    name
}

/// A hop's name split into (service, link, from, to): a service hop fills the first, a link
/// direction (named by [`link_hop`]) the other three.
pub fn hop_parts(hop: &str) -> [&str; 4] {
    hop.strip_suffix(')')
        .and_then(|h| h.rsplit_once(" ("))
        .and_then(|(link, ends)| ends.split_once('→').map(|(a, b)| ["", link, a, b]))
        .unwrap_or([hop, "", "", ""])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use std::collections::BTreeMap;

    #[test]
    fn a_link_direction_s_hop_name_reads_back_as_its_link_and_ends() {
        let name = link_hop("gw-users", "gateway", "user-service");
        assert_eq!(name, "gw-users (gateway→user-service)");
        assert_eq!(name.len(), name.capacity(), "sized exactly");
        assert_eq!(
            hop_parts(&name),
            ["", "gw-users", "gateway", "user-service"]
        );
        assert_eq!(hop_parts("user-service"), ["user-service", "", "", ""]);
    }

    /// Adds `ns` to `key` on `path`, keeping it in key order.
    fn add_to(path: &mut Path, key: u32, ns: u64) {
        match path.binary_search_by_key(&key, |e| e.0) {
            Ok(i) => path[i].1 += ns,
            Err(i) => path.insert(i, (key, ns)),
        }
    }

    /// The time per key of a path, whatever its order.
    fn sums(path: &[(u32, u64)]) -> BTreeMap<u32, u64> {
        let mut out = BTreeMap::new();
        for &(k, ns) in path {
            *out.entry(k).or_default() += ns;
        }
        out
    }

    #[test]
    fn a_route_s_totals_hold_each_key_s_time_over_every_path_added() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(11);
        let (mut sparse, mut dense) = (Totals::Sparse(Vec::new()), Totals::Dense(vec![0; 80]));
        let mut expected = BTreeMap::new();
        for _ in 0..300 {
            let mut path = Vec::new();
            for _ in 0..rng.random_range(0..20) {
                add_to(
                    &mut path,
                    rng.random_range(0..80),
                    rng.random_range(1..1000),
                );
            }
            sparse.add_path(&path);
            dense.add_path(&path);
            for (k, ns) in sums(&path) {
                *expected.entry(k).or_insert(0) += ns;
            }
            for totals in [&sparse, &dense] {
                assert_eq!(totals.entries().collect::<BTreeMap<_, _>>(), expected);
            }
        }
    }

    /// Starts a call in slot `h` and adds to its path 1 to `most - 1` times of up to 5 ms on
    /// keys drawn among `hops`' components; returns the time per key.
    fn random_path(
        paths: &mut Paths,
        h: Handle,
        rng: &mut rand_xoshiro::Xoshiro256PlusPlus,
        hops: usize,
        most: usize,
    ) -> BTreeMap<u32, u64> {
        paths.started(h);
        let mut path = BTreeMap::new();
        for _ in 0..rng.random_range(1..most) {
            let k = rng.random_range(0..(hops * COMPONENTS) as u32);
            let ns = rng.random_range(1..5_000_000);
            paths.add(h, k, SimTime(ns));
            *path.entry(k).or_insert(0) += ns;
        }
        path
    }

    /// A breakdown of one route or of several (the `all` row) holds, per hop and component
    /// crossed, in key order, the mean over the routes' requests of their time there and the
    /// mean over those at or above the p99 given, named after the hop: a service, or a link
    /// direction from the end it leaves.
    #[test]
    fn a_breakdown_averages_each_key_over_its_routes_requests_and_their_tail() {
        let model = crate::model::load_builtin(&[]).expect("the built-in model loads");
        let hops = model.services.len() + 2 * model.links.len();
        let mut names = HopNames::new(&model);
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        let mut paths = Paths::new(3, hops);
        let h = Handle::from_bits(0);
        // Per route: every request's (latency, time per key).
        let mut recorded: Vec<Vec<(u64, BTreeMap<u32, u64>)>> = vec![Vec::new(); 3];
        for _ in 0..150 {
            let route = rng.random_range(0..3);
            let path = random_path(&mut paths, h, &mut rng, hops, 12);
            let latency = path.values().sum();
            paths.record(route, h, latency, 0);
            recorded[route].push((latency, path));
        }
        let p99 = 20_000_000;
        for routes in [&[0][..], &[2], &[0, 1, 2]] {
            let b = paths.breakdown("r", routes, p99, &mut names);
            let requests: Vec<_> = routes.iter().flat_map(|&r| &recorded[r]).collect();
            let tail: Vec<_> = requests.iter().filter(|r| r.0 >= p99).collect();
            assert_eq!(
                (b.requests, b.tail_requests),
                (requests.len() as u64, tail.len() as u64)
            );
            assert!(!tail.is_empty() && tail.len() < requests.len());
            let mut expected = BTreeMap::<u32, (u64, u64)>::new();
            for (latency, path) in &requests {
                for (&k, &ns) in path {
                    let e = expected.entry(k).or_default();
                    e.0 += ns;
                    if *latency >= p99 {
                        e.1 += ns;
                    }
                }
            }
            let mean = |total: u64, n: usize| {
                if n == 0 {
                    f64::NAN
                } else {
                    total as f64 / n as f64 / 1e6
                }
            };
            assert_eq!(b.parts.len(), expected.len());
            for (part, (&k, &(sum, tail_sum))) in b.parts.iter().zip(&expected) {
                let hop = k as usize / COMPONENTS;
                assert_eq!(part.1, Component::ALL[k as usize % COMPONENTS]);
                assert_eq!(part.2, mean(sum, requests.len()));
                let tail_mean = mean(tail_sum, tail.len());
                assert!(part.3 == tail_mean || (part.3.is_nan() && tail_mean.is_nan()));
                let name = match hop.checked_sub(model.services.len()) {
                    None => model.services[hop].name.clone(),
                    Some(d) => {
                        let link = &model.links[d / 2];
                        let (a, b) = (link.ends[d % 2], link.ends[1 - d % 2]);
                        let (a, b) = (&model.services[a].name, &model.services[b].name);
                        format!("{} ({a}→{b})", link.name)
                    }
                };
                assert_eq!(&*part.0, name.as_str());
            }
        }
    }

    /// Models of up to `TAIL_ROUTES` routes keep what they always kept; more routes share it,
    /// down to `MIN_TAIL`, so that the tails' memory does not grow with the routes.
    #[test]
    fn routes_share_the_tails_of_a_few_routes_down_to_the_least() {
        for routes in [1, 2, 10, TAIL_ROUTES] {
            assert_eq!(
                TailSize::for_routes(routes).most,
                MAX_TAIL,
                "{routes} routes"
            );
        }
        assert_eq!(TailSize::for_routes(3_000).most, 106);
        assert_eq!(TailSize::for_routes(10_000_000).most, MIN_TAIL);
        let mut last = MAX_TAIL;
        for routes in 1..5_000 {
            let most = TailSize::for_routes(routes).most;
            assert!(most <= last && most >= MIN_TAIL);
            assert!(most * routes <= MAX_TAIL * TAIL_ROUTES || most == MIN_TAIL);
            last = most;
        }
    }

    /// In a model of 3,000 routes, a route whose every request counts as slow (no cut) holds
    /// at most twice what it keeps at any time — 200 paths until it has 4,000 requests, 212
    /// however long it runs — and its p99 column covers exactly the requests at or above the
    /// p99 while 2.5% of them fit.
    #[test]
    fn a_route_of_many_routes_keeps_few_paths_and_the_whole_p99() {
        let model = crate::model::load_builtin(&[]).expect("the built-in model loads");
        let hops = model.services.len() + 2 * model.links.len();
        let mut names = HopNames::new(&model);
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(8);
        let mut paths = Paths::new(3_000, hops);
        let h = Handle::from_bits(0);
        let mut latencies = Vec::new();
        for count in 1..=20_000u64 {
            let latency = random_path(&mut paths, h, &mut rng, hops, 8).values().sum();
            paths.record(7, h, latency, 0);
            latencies.push(latency);
            let keeps = (count as usize / 40).clamp(100, 106);
            assert!(paths.tail[7].len() <= 2 * keeps, "{count} requests");
            if count == 4_000 {
                let mut sorted = latencies.clone();
                sorted.sort_unstable();
                let p99 = sorted[sorted.len() * 99 / 100];
                let b = paths.breakdown("r", &[7], p99, &mut names);
                let at_or_above = sorted.iter().filter(|&&l| l >= p99).count() as u64;
                assert_eq!((b.requests, b.tail_requests), (4_000, at_or_above));
                assert!(at_or_above >= 40);
            }
        }
    }

    /// (latency, path) of every request `slowest` keeps, as they were pushed.
    fn kept_paths(slowest: &Slowest) -> Vec<(u64, Vec<(u32, u64)>)> {
        (slowest.iter())
            .map(|(l, p)| (l, p.iter().map(|k| (k.key, k.ns())).collect()))
            .collect()
    }

    /// Pruned, a route's slowest requests keep their own paths: the `keep` slowest, and of
    /// equal latencies (many, here) those recorded first. Paths of every length (none, and
    /// longer than a chunk has room for) and times past 32 bits come back as they were pushed.
    #[test]
    fn the_slowest_requests_kept_are_the_slowest_with_their_own_paths() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let mut slowest = Slowest::default();
        // (latency, order recorded, path) of every request.
        let mut all = Vec::new();
        let mut chunks = 0;
        for i in 0..1_000u32 {
            let latency = rng.random_range(0..50u64);
            let len = if i % 97 == 5 {
                300
            } else {
                rng.random_range(0..6)
            };
            let path: Vec<(u32, u64)> = (0..len)
                .map(|k| (k, (u64::from(i) << 33) | u64::from(k)))
                .collect();
            slowest.push(latency, &path);
            chunks = chunks.max(slowest.chunks.len());
            all.push((latency, i, path));
            if slowest.len() > 120 {
                slowest.keep_slowest(60);
                all.sort_by_key(|r| (std::cmp::Reverse(r.0), r.1));
                all.truncate(60);
                all.sort_by_key(|r| r.1);
            }
        }
        assert!(chunks > 2, "paths were kept in {chunks} chunks at most");
        // (Pruning leaves the kept in latency order: compared as sets.)
        let mut kept = kept_paths(&slowest);
        kept.sort();
        let mut expected: Vec<(u64, Vec<(u32, u64)>)> =
            all.into_iter().map(|(l, _, p)| (l, p)).collect();
        expected.sort();
        assert_eq!(kept, expected);
    }

    /// A prune that keeps only empty paths leaves an empty chunk: the paths pushed after it
    /// go to a new chunk counted from the same place, and each comes back as pushed.
    #[test]
    fn paths_pushed_after_a_prune_that_kept_none_come_back() {
        let mut slowest = Slowest::default();
        slowest.push(1, &[(3, 30)]);
        slowest.push(9, &[]);
        slowest.push(8, &[]);
        slowest.keep_slowest(2);
        slowest.push(7, &[(4, 40), (5, 50)]);
        slowest.push(6, &[]);
        slowest.push(5, &[(6, 60)]);
        let kept = kept_paths(&slowest);
        let expected: Vec<(u64, Vec<(u32, u64)>)> = vec![
            (9, vec![]),
            (8, vec![]),
            (7, vec![(4, 40), (5, 50)]),
            (6, vec![]),
            (5, vec![(6, 60)]),
        ];
        assert_eq!(kept, expected);
    }

    /// Calls in a few slots, reused again and again, add time and splice their paths into
    /// their callers' (or are dropped unmerged, as calls whose stage did not wait for them):
    /// a finished path, summed per key, holds each key once in key order with the time of
    /// every segment added to it and to the paths spliced into it, and segments are reused
    /// rather than grown without bound.
    #[test]
    fn a_finished_path_sums_its_own_and_its_spliced_children_s_time_per_key() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        let mut paths = Paths::new(1, 40);
        let slots: Vec<Handle> = (0..4).map(Handle::from_bits).collect();
        let mut out = Vec::new();
        let mut ways = [0; 2];
        for _ in 0..2_000 {
            let (parent, child, dropped) = (slots[0], slots[1 + rng.random_range(0..2)], slots[3]);
            for h in [parent, child, dropped] {
                paths.started(h);
            }
            let mut expected = BTreeMap::new();
            let mut child_expected = 0;
            for (h, n) in [
                (parent, rng.random_range(0..30)),
                (child, rng.random_range(0..30)),
                (dropped, rng.random_range(0..30)),
            ] {
                for _ in 0..n {
                    // Single components and pairs (the second one key higher), some of them
                    // zero, on overlapping keys.
                    let k = rng.random_range(0..60);
                    let pair = [rng.random_range(0..1000), rng.random_range(0..3) * 300];
                    let added = if rng.random_bool(0.5) {
                        paths.add_pair(h, k, pair.map(SimTime));
                        pair
                    } else {
                        paths.add(h, k, SimTime(pair[0]));
                        [pair[0], 0]
                    };
                    for (k, ns) in [k, k + 1].into_iter().zip(added) {
                        if h != dropped && ns > 0 {
                            *expected.entry(k).or_insert(0) += ns;
                        }
                        if h == child {
                            child_expected += ns;
                        }
                    }
                }
            }
            assert_eq!(paths.total(child), child_expected);
            paths.merge(parent, child);
            // The list knows its length: it picks how the path is summed (both ways run here).
            let slot = paths.slots[parent.index() as usize];
            let mut walked = 0;
            let mut at = slot.head;
            while at != NIL {
                walked += 1;
                at = paths.segments[at as usize].next;
            }
            assert_eq!(slot.len, walked);
            ways[usize::from(walked as usize > SHORT_PATH)] += 1;
            paths.sum_by_key(parent, &mut out);
            assert!(out.windows(2).all(|w| w[0].0 < w[1].0), "{out:?}");
            assert_eq!(out.iter().copied().collect::<BTreeMap<_, _>>(), expected);
            assert_eq!(paths.total(parent), expected.values().sum::<u64>());
            assert_eq!(
                paths.total(child),
                child_expected,
                "the child keeps its total"
            );
        }
        assert!(
            ways[0] > 100 && ways[1] > 100,
            "short and long paths: {ways:?}"
        );
        assert!(
            paths.segments.len() <= 4 * 30,
            "{} segments for at most 90 live at once",
            paths.segments.len()
        );
    }
}
