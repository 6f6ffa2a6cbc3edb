//! Where a request's time goes: each call accumulates the time spent on its critical path, per
//! hop (a service or a link direction) and component; a stage of parallel calls contributes the
//! path of the call that returned last (the one the stage waited for). The components of a
//! successful request add up to its latency exactly.

use crate::engine::{Handle, SimTime};
use std::collections::BTreeMap;

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

/// Most tail requests kept per route.
const MAX_TAIL: usize = 20_000;

/// A hop and component packed into one key: `hop * COMPONENTS + component`, where hops are the
/// services (gateway first) and then the link directions.
pub fn key(hop: usize, c: Component) -> u32 {
    (hop * COMPONENTS + c as usize) as u32
}

/// Time per key along one call's critical path so far, in key order (so that adding a child's
/// path is one pass over both, not a search of the parent's for each of the child's keys: deep
/// call graphs have paths of dozens of keys).
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

/// The bookkeeping, kept only when a breakdown is asked for.
pub struct Paths {
    /// Per arena slot of `calls`: the path of the call living there.
    slots: Vec<Path>,
    /// Per route: total nanoseconds per key over measured successful requests, and their count.
    totals: Vec<Totals>,
    pub counts: Vec<u64>,
    /// Per route: the slowest requests so far (latency, path), pruned to about the slowest 2%.
    pub tail: Vec<Vec<(u64, Path)>>,
    /// Scratch for merging two paths.
    merged: Path,
}

impl Paths {
    pub fn new(routes: usize, hops: usize) -> Paths {
        let keys = hops * COMPONENTS;
        let dense = keys.saturating_mul(routes) <= DENSE_ENTRIES;
        Paths {
            slots: Vec::new(),
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
            tail: vec![Vec::new(); routes],
            merged: Vec::new(),
        }
    }

    /// A new call took slot `h`: its path starts empty.
    pub fn started(&mut self, h: Handle) {
        let i = h.index() as usize;
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, Vec::new);
        }
        self.slots[i].clear();
    }

    /// Adds `t` to `key` on the path of the call in slot `h`.
    pub fn add(&mut self, h: Handle, key: u32, t: SimTime) {
        if t.0 == 0 {
            return;
        }
        add_to(&mut self.slots[h.index() as usize], key, t.0);
    }

    /// Adds the path of the call in slot `child` to that of `parent`.
    pub fn merge(&mut self, parent: Handle, child: Handle) {
        let (p, c) = (parent.index() as usize, child.index() as usize);
        if p == c {
            return;
        }
        let (into, from) = (&self.slots[p], &self.slots[c]);
        if from.is_empty() {
            return;
        }
        if into.is_empty() {
            let taken = std::mem::take(&mut self.slots[c]);
            self.slots[p].extend_from_slice(&taken);
            self.slots[c] = taken;
            return;
        }
        merge_into(&mut self.merged, into, from);
        std::mem::swap(&mut self.slots[p], &mut self.merged);
    }

    /// The time on the path of the call in slot `h`.
    pub fn total(&self, h: Handle) -> u64 {
        self.slots[h.index() as usize]
            .iter()
            .map(|(_, ns)| ns)
            .sum()
    }

    /// A measured request of `route` succeeded with `latency`: add its path to the totals and
    /// keep it if it is among the slowest; `p98` is the route's current 98th percentile.
    pub fn record(&mut self, route: usize, h: Handle, latency: u64, p98: u64) {
        let path = &self.slots[h.index() as usize];
        self.totals[route].add_path(path);
        self.counts[route] += 1;
        if latency >= p98 {
            let tail = &mut self.tail[route];
            tail.push((latency, path.clone()));
            // About the slowest 2.5%, but at most MAX_TAIL, so memory stays bounded in long
            // runs (beyond ~800,000 requests per route the p99 column covers the slowest MAX_TAIL).
            let keep = ((self.counts[route] / 40).max(100) as usize).min(MAX_TAIL);
            if tail.len() > 2 * keep {
                tail.sort_unstable_by_key(|x| std::cmp::Reverse(x.0));
                tail.truncate(keep);
            }
        }
    }

    /// The breakdown of `routes` together (one route, or all), named `name`; `p99` is their
    /// latency's 99th percentile in ns and `hops` names the hops.
    pub fn breakdown(
        &self,
        name: &str,
        routes: &[usize],
        p99: u64,
        hops: &[String],
    ) -> RouteBreakdown {
        // (total, tail total) per key the routes crossed, in key order.
        let mut sums: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        let (mut n, mut tail_n) = (0, 0);
        for &r in routes {
            n += self.counts[r];
            for (key, ns) in self.totals[r].entries() {
                sums.entry(key).or_default().0 += ns;
            }
            for (latency, path) in &self.tail[r] {
                if *latency >= p99 {
                    tail_n += 1;
                    for &(key, ns) in path {
                        sums.entry(key).or_default().1 += ns;
                    }
                }
            }
        }
        let mean = |total: u64, count: u64| {
            if count == 0 {
                f64::NAN
            } else {
                total as f64 / count as f64 / 1e6
            }
        };
        let parts = sums
            .into_iter()
            .filter(|(_, (sum, tail))| *sum > 0 || *tail > 0)
            .map(|(k, (sum, tail))| {
                let k = k as usize;
                (
                    hops[k / COMPONENTS].clone(),
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

/// Adds `ns` to `key` on `path`, keeping it in key order.
fn add_to(path: &mut Path, key: u32, ns: u64) {
    match path.binary_search_by_key(&key, |e| e.0) {
        Ok(i) => path[i].1 += ns,
        Err(i) => path.insert(i, (key, ns)),
    }
}

/// `out` = the sum of two paths in key order, in one pass over both.
fn merge_into(out: &mut Path, a: &[(u32, u64)], b: &[(u32, u64)]) {
    out.clear();
    out.reserve(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (ka, kb) = (a[i].0, b[j].0);
        if ka < kb {
            out.push(a[i]);
            i += 1;
        } else if kb < ka {
            out.push(b[j]);
            j += 1;
        } else {
            out.push((ka, a[i].1 + b[j].1));
            i += 1;
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
}

/// The breakdown of one route, per hop and component.
#[derive(Clone, Debug)]
pub struct RouteBreakdown {
    pub route: String,
    /// Successful measured requests it covers, and those at or above the route's p99.
    pub requests: u64,
    pub tail_requests: u64,
    /// (hop name, component, mean ms over all requests, mean ms over the p99 requests).
    pub parts: Vec<(String, Component, f64, f64)>,
}

/// The name of a link direction as a hop of the breakdown: `link (from→to)`.
pub fn link_hop(link: &str, from: &str, to: &str) -> String {
    format!("{link} ({from}→{to})")
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

    #[test]
    fn a_merged_path_holds_each_key_once_with_both_paths_time() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        let mut paths = Paths::new(1, 40);
        let (parent, child) = (Handle::from_bits(0), Handle::from_bits(1));
        for _ in 0..500 {
            paths.started(parent);
            paths.started(child);
            let mut expected = BTreeMap::new();
            for (h, n) in [
                (parent, rng.random_range(0..30)),
                (child, rng.random_range(0..30)),
            ] {
                for _ in 0..n {
                    let (k, ns) = (rng.random_range(0..60), rng.random_range(1..1000));
                    paths.add(h, k, SimTime(ns));
                    *expected.entry(k).or_insert(0) += ns;
                }
            }
            let child_total = paths.total(child);
            paths.merge(parent, child);
            let merged = &paths.slots[0];
            assert!(merged.windows(2).all(|w| w[0].0 < w[1].0), "{merged:?}");
            assert_eq!(sums(merged), expected);
            assert_eq!(
                paths.total(child),
                child_total,
                "the child's path is left as it was"
            );
        }
    }
}
