//! Call cycles in a [`Draft`], which meshsim refuses, broken the way the traces allow.
//!
//! Real systems call back: `orders.place` → `stock.check` → `orders.price`, or one endpoint of a
//! service calls another endpoint of the same service. Such services form a cycle although no
//! call waits on itself, so the cycle is broken by splitting services, not by dropping calls: an
//! endpoint's *height* is the longest chain of calls below it, and along any chain of calls the
//! height falls. The endpoints of a service on a cycle join, from the greatest height down, the
//! first group of their service that neither reaches them nor is reached by them through calls,
//! else start a group of their own (see [`groups`]); each group after the first becomes a service
//! of its own, with the instances, workers and links of the service it came from. Only calls that
//! do wait on themselves (an endpoint reached again from its own calls: recursion through other
//! services) are left out, each named.

use super::infer::{Draft, DraftLink, DraftService, unique};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// An endpoint's place in the draft: (service index, endpoint index).
type At = (usize, usize);

/// Breaks every call cycle between services in `draft` (see the module's comment); says on
/// `draft.notes` what was split or left out. `self_links`: the one-way network time measured on
/// calls from a service to itself (sum of ns, calls), by service name: the link between the
/// parts of a split service.
pub(super) fn break_cycles(draft: &mut Draft, self_links: &BTreeMap<String, (f64, u64)>) {
    let left_out = drop_recursive_calls(draft);
    if !left_out.is_empty() {
        draft.notes.push(format!(
            "calls back to an endpoint already waiting higher up the same chain of calls (recursion through other services) were left out, as meshsim's calls do not recurse: {}",
            left_out.join(", ")
        ));
    }
    let graph = Graph::of(draft);
    let cyclic = services_on_cycles(draft.services.len(), &graph);
    if cyclic.iter().all(|c| !c) {
        return;
    }
    let height = graph.heights();
    let groups = groups(draft, &graph, &height, &cyclic);
    split(draft, &graph, &groups, self_links);
}

/// The endpoints of a draft and their calls, by index.
struct Graph {
    at: Vec<At>,
    /// Per endpoint: the endpoints it calls (each once).
    calls: Vec<Vec<usize>>,
    /// Per endpoint: the services whose endpoints call it (`None`: the gateway, as a route).
    callers: Vec<BTreeSet<Option<usize>>>,
}

impl Graph {
    fn of(draft: &Draft) -> Graph {
        let mut at = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (s, service) in draft.services.iter().enumerate() {
            for (e, endpoint) in service.endpoints.iter().enumerate() {
                index.insert(format!("{}.{}", service.name, endpoint.name), at.len());
                at.push((s, e));
            }
        }
        let mut calls = vec![Vec::new(); at.len()];
        let mut callers = vec![BTreeSet::new(); at.len()];
        for (i, &(s, e)) in at.iter().enumerate() {
            for c in draft.services[s].endpoints[e].stages.iter().flatten() {
                if let Some(&t) = index.get(&c.target)
                    && !calls[i].contains(&t)
                {
                    calls[i].push(t);
                    callers[t].insert(Some(s));
                }
            }
        }
        for (route, _) in &draft.gateway.routes {
            if let Some(&t) = index.get(route) {
                callers[t].insert(None);
            }
        }
        Graph { at, calls, callers }
    }

    /// Per endpoint, the longest chain of calls below it (0: it calls nothing). The calls must
    /// have no cycle.
    fn heights(&self) -> Vec<u32> {
        let n = self.at.len();
        let mut height = vec![u32::MAX; n];
        for root in 0..n {
            if height[root] != u32::MAX {
                continue;
            }
            // Post-order without recursion: chains of calls can be thousands deep.
            let mut stack = vec![(root, 0usize)];
            while let Some(&mut (v, ref mut next)) = stack.last_mut() {
                if let Some(&t) = self.calls[v].get(*next) {
                    *next += 1;
                    if height[t] == u32::MAX {
                        stack.push((t, 0));
                    }
                } else {
                    height[v] = self.calls[v]
                        .iter()
                        .map(|&t| height[t] + 1)
                        .max()
                        .unwrap_or(0);
                    stack.pop();
                }
            }
        }
        height
    }
}

/// Removes every call that closes a cycle of endpoints (found by depth-first search), and the
/// stages left empty; returns the calls removed, as `caller → callee`.
fn drop_recursive_calls(draft: &mut Draft) -> Vec<String> {
    let graph = Graph::of(draft);
    let n = graph.at.len();
    // 0 unvisited, 1 on the stack, 2 done.
    let mut colour = vec![0u8; n];
    let mut closing: BTreeSet<(usize, usize)> = BTreeSet::new();
    for root in 0..n {
        if colour[root] != 0 {
            continue;
        }
        colour[root] = 1;
        let mut stack = vec![(root, 0usize)];
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            if let Some(&t) = graph.calls[v].get(*next) {
                *next += 1;
                match colour[t] {
                    0 => {
                        colour[t] = 1;
                        stack.push((t, 0));
                    }
                    1 => {
                        closing.insert((v, t));
                    }
                    _ => {}
                }
            } else {
                colour[v] = 2;
                stack.pop();
            }
        }
    }
    let mut removed = Vec::new();
    for &(v, t) in &closing {
        let (ts, te) = graph.at[t];
        let target = format!(
            "{}.{}",
            draft.services[ts].name, draft.services[ts].endpoints[te].name
        );
        let (s, e) = graph.at[v];
        let caller = format!(
            "{}.{}",
            draft.services[s].name, draft.services[s].endpoints[e].name
        );
        let endpoint = &mut draft.services[s].endpoints[e];
        for stage in &mut endpoint.stages {
            stage.retain(|c| c.target != target);
        }
        endpoint.stages.retain(|stage| !stage.is_empty());
        removed.push(format!("{caller} → {target}"));
    }
    removed
}

/// Per service: whether it lies on a cycle of calls between services (itself included).
fn services_on_cycles(services: usize, graph: &Graph) -> Vec<bool> {
    let mut edges: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); services];
    let mut cyclic = vec![false; services];
    for (i, &(s, _)) in graph.at.iter().enumerate() {
        for &t in &graph.calls[i] {
            let callee = graph.at[t].0;
            if callee == s {
                cyclic[s] = true;
            }
            edges[s].insert(callee);
        }
    }
    let edges: Vec<Vec<usize>> = edges.into_iter().map(|e| e.into_iter().collect()).collect();
    let component = components(&edges);
    let mut size: HashMap<usize, usize> = HashMap::new();
    for &c in &component {
        *size.entry(c).or_default() += 1;
    }
    for s in 0..services {
        cyclic[s] |= size[&component[s]] > 1;
    }
    cyclic
}

/// Strongly connected components (Kosaraju, without recursion): a component number per node.
fn components(edges: &[Vec<usize>]) -> Vec<usize> {
    let n = edges.len();
    let mut finished = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    for root in 0..n {
        if seen[root] {
            continue;
        }
        seen[root] = true;
        let mut stack = vec![(root, 0usize)];
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            if let Some(&t) = edges[v].get(*next) {
                *next += 1;
                if !seen[t] {
                    seen[t] = true;
                    stack.push((t, 0));
                }
            } else {
                finished.push(v);
                stack.pop();
            }
        }
    }
    let mut reverse = vec![Vec::new(); n];
    for (v, out) in edges.iter().enumerate() {
        for &t in out {
            reverse[t].push(v);
        }
    }
    let mut component = vec![usize::MAX; n];
    for (c, &root) in finished.iter().rev().enumerate() {
        if component[root] != usize::MAX {
            continue;
        }
        component[root] = c;
        let mut stack = vec![root];
        while let Some(v) = stack.pop() {
            for &t in &reverse[v] {
                if component[t] == usize::MAX {
                    component[t] = c;
                    stack.push(t);
                }
            }
        }
    }
    component
}

/// Per endpoint, (its service, its group in that service): group 0 keeps the service's name,
/// and holds the endpoint with the longest chain of calls below it (the way in).
///
/// Endpoints of services on no cycle stay together. The endpoints of a service on a cycle join,
/// one by one from the greatest height down, the first group of their service that neither
/// reaches them nor is reached by them through calls (counting a group as one node), else start
/// a group of their own. Merging two nodes of a graph without cycles makes one only if a path
/// joined them, so the groups call each other without a cycle, and a service splits only as far
/// as its cycles force: a split costs fidelity (the parts no longer share instances).
fn groups(draft: &Draft, graph: &Graph, height: &[u32], cyclic: &[bool]) -> Vec<(usize, usize)> {
    let n = graph.at.len();
    // Union-find over endpoints: each group is a root and its members.
    let mut root: Vec<usize> = (0..n).collect();
    let mut members: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    let mut first_of_service: Vec<Option<usize>> = vec![None; draft.services.len()];
    for (i, &(s, _)) in graph.at.iter().enumerate() {
        if !cyclic[s] {
            match first_of_service[s] {
                None => first_of_service[s] = Some(i),
                Some(r) => join(&mut root, &mut members, i, r),
            }
        }
    }
    let mut order: Vec<usize> = (0..n).filter(|&i| cyclic[graph.at[i].0]).collect();
    order.sort_by_key(|&i| (graph.at[i].0, std::cmp::Reverse(height[i]), graph.at[i].1));
    // Per service on a cycle, its groups' roots, in order of creation.
    let mut made: Vec<Vec<usize>> = vec![Vec::new(); draft.services.len()];
    for i in order {
        let s = graph.at[i].0;
        let into = made[s].iter().copied().find(|&g| {
            !reaches(graph, &root, &members, g, i) && !reaches(graph, &root, &members, i, g)
        });
        match into {
            Some(g) => join(&mut root, &mut members, i, g),
            None => made[s].push(i),
        }
    }
    graph
        .at
        .iter()
        .enumerate()
        .map(|(i, &(s, _))| {
            let g = made[s].iter().position(|&g| g == root[i]).unwrap_or(0);
            (s, g)
        })
        .collect()
}

/// Puts endpoint `i`'s group into group `g` (both roots or members; `g`'s root stays).
fn join(root: &mut [usize], members: &mut [Vec<usize>], i: usize, g: usize) {
    let (from, to) = (root[i], root[g]);
    if from == to {
        return;
    }
    let moved = std::mem::take(&mut members[from]);
    for &m in &moved {
        root[m] = to;
    }
    members[to].extend(moved);
}

/// Whether a chain of calls leads from the group of endpoint `from` to the group of `to`,
/// moving from a group to every group any of its members calls.
fn reaches(graph: &Graph, root: &[usize], members: &[Vec<usize>], from: usize, to: usize) -> bool {
    let (from, to) = (root[from], root[to]);
    let mut seen = BTreeSet::from([from]);
    let mut stack = vec![from];
    while let Some(g) = stack.pop() {
        for &m in &members[g] {
            for &t in &graph.calls[m] {
                let r = root[t];
                if r == to {
                    return true;
                }
                if seen.insert(r) {
                    stack.push(r);
                }
            }
        }
    }
    false
}

/// Moves each group after a service's first into a service of its own, points every call and
/// route at the endpoints' new places, gives the new services their original's links, and says
/// so on `draft.notes`.
fn split(
    draft: &mut Draft,
    graph: &Graph,
    groups: &[(usize, usize)],
    self_links: &BTreeMap<String, (f64, u64)>,
) {
    let mut taken: Vec<String> = draft.services.iter().map(|s| s.name.clone()).collect();
    taken.push("gateway".into());
    // (service, group) → name of the service the group becomes.
    let mut names: BTreeMap<(usize, usize), String> = BTreeMap::new();
    for &(s, g) in groups {
        if g == 0 || names.contains_key(&(s, g)) {
            continue;
        }
        let own = &draft.services[s].name;
        let mut callers: BTreeSet<&str> = BTreeSet::new();
        for (j, &(s2, g2)) in groups.iter().enumerate() {
            if (s2, g2) == (s, g) {
                for c in &graph.callers[j] {
                    callers.insert(c.map_or("gateway", |c| draft.services[c].name.as_str()));
                }
            }
        }
        let name = match callers.iter().copied().collect::<Vec<_>>().as_slice() {
            [only] if only == own => format!("{own}_internal"),
            [a] => format!("{own}_from_{a}"),
            _ => format!("{own}_part{}", g + 1),
        };
        names.insert((s, g), unique(name, &mut taken));
    }
    // Where each moved endpoint goes: `service.endpoint` → new service's name.
    let mut moved: HashMap<String, String> = HashMap::new();
    for (i, &(s, g)) in groups.iter().enumerate() {
        if let Some(new) = names.get(&(s, g)) {
            let (_, e) = graph.at[i];
            let service = &draft.services[s];
            moved.insert(
                format!("{}.{}", service.name, service.endpoints[e].name),
                new.clone(),
            );
        }
    }
    let origin: HashMap<String, String> = names
        .iter()
        .map(|(&(s, _), new)| (new.clone(), draft.services[s].name.clone()))
        .collect();
    // Move the endpoints, in their order.
    let mut new_services: BTreeMap<(usize, usize), DraftService> = BTreeMap::new();
    // `graph.at` lists each service's endpoints in order, one service after the other.
    let mut i = 0;
    for s in 0..draft.services.len() {
        let endpoints = std::mem::take(&mut draft.services[s].endpoints);
        let mut stay = Vec::new();
        for endpoint in endpoints {
            let g = groups[i].1;
            i += 1;
            match names.get(&(s, g)) {
                None => stay.push(endpoint),
                Some(name) => {
                    let from = &draft.services[s];
                    new_services
                        .entry((s, g))
                        .or_insert_with(|| DraftService {
                            name: name.clone(),
                            original: None,
                            instances: from.instances,
                            instances_from: "copied from the service it was split from",
                            workers: from.workers,
                            endpoints: Vec::new(),
                            cpu_after_idle: from.cpu_after_idle,
                        })
                        .endpoints
                        .push(endpoint);
                }
            }
        }
        draft.services[s].endpoints = stay;
    }
    let retarget = |target: &mut String| {
        if let Some(new) = moved.get(target.as_str()) {
            let endpoint = target.split_once('.').map_or("", |(_, e)| e).to_string();
            *target = format!("{new}.{endpoint}");
        }
    };
    for ((s, _), service) in &new_services {
        let endpoints: Vec<String> = service.endpoints.iter().map(|e| e.name.clone()).collect();
        draft.notes.push(format!(
            "`{}` is on a cycle of calls between services, which meshsim does not simulate: its endpoints {} moved to a service of their own, `{}`, with its instances, workers and links",
            draft.services[*s].name,
            endpoints.join(", "),
            service.name
        ));
    }
    draft
        .services
        .extend(new_services.into_values().collect::<Vec<_>>());
    for service in &mut draft.services {
        for call in service
            .endpoints
            .iter_mut()
            .flat_map(|e| e.stages.iter_mut().flatten())
        {
            retarget(&mut call.target);
        }
    }
    for (route, _) in &mut draft.gateway.routes {
        retarget(route);
    }
    copy_links(draft, &origin, self_links);
}

/// Gives every pair of services that now call each other, one of them new, the link its
/// originals had (the latency measured between them, or within the service for its own parts).
fn copy_links(
    draft: &mut Draft,
    origin: &HashMap<String, String>,
    self_links: &BTreeMap<String, (f64, u64)>,
) {
    let pair = |a: &str, b: &str| {
        if a <= b {
            (a.to_string(), b.to_string())
        } else {
            (b.to_string(), a.to_string())
        }
    };
    let mut known: BTreeMap<(String, String), (f64, u64)> = draft
        .links
        .iter()
        .map(|l| (pair(&l.a, &l.b), (l.latency_ms, l.calls)))
        .collect();
    for (service, &(sum_ns, calls)) in self_links {
        known.insert(
            (service.clone(), service.clone()),
            (sum_ns / calls.max(1) as f64 / 1e6, calls),
        );
    }
    let original = |s: &str| origin.get(s).map_or(s, String::as_str).to_string();
    let mut talking: BTreeSet<(String, String)> = BTreeSet::new();
    for service in &draft.services {
        for call in service
            .endpoints
            .iter()
            .flat_map(|e| e.stages.iter().flatten())
        {
            let callee = call.target.split('.').next().unwrap_or("");
            talking.insert(pair(&service.name, callee));
        }
    }
    for (route, _) in &draft.gateway.routes {
        talking.insert(pair("gateway", route.split('.').next().unwrap_or("")));
    }
    for (a, b) in talking {
        if a == b || !(origin.contains_key(&a) || origin.contains_key(&b)) {
            continue;
        }
        if let Some(&(latency_ms, calls)) = known.get(&pair(&original(&a), &original(&b)))
            && latency_ms >= 0.001
        {
            draft.links.push(DraftLink {
                a,
                b,
                latency_ms,
                calls,
            });
        }
    }
}
