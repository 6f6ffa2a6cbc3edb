//! From spans to a model: services and endpoints, each endpoint's calls in stages with their
//! probability and count, its own processing time, the network latency between services, the
//! workload, and estimates of what traces do not record (instances, workers).

use super::read::{Kind, SpanRec, Spans};
use std::collections::{BTreeMap, HashMap};

/// A model inferred from traces, before it is written.
#[derive(Debug, Default)]
pub struct Draft {
    /// Non-gateway services, in the order first seen.
    pub services: Vec<DraftService>,
    pub gateway: DraftGateway,
    pub rate_per_s: f64,
    /// Root requests and the time they spanned.
    pub roots: u64,
    pub window_s: f64,
    pub links: Vec<DraftLink>,
    /// Lines for stderr: what was counted, estimated, corrected or left out.
    pub notes: Vec<String>,
    pub spans_used: u64,
    pub traces: u64,
    /// The share of requests the traces hold (1: all).
    pub sampled: f64,
}

#[derive(Debug, Default)]
pub struct DraftGateway {
    /// The gateway's own processing samples (ms), when the traces have a meshsim-style gateway.
    pub samples_ms: Vec<f64>,
    pub workers: u32,
    /// Route endpoint (`service.endpoint`) and its weight (root requests seen).
    pub routes: Vec<(String, u64)>,
    /// The traced clients meshsim's gateway stands for (their spans are above the roots).
    pub clients: Vec<String>,
    /// The clients' CPU per request, when measured (`--cpu gateway=MS`).
    pub cpu_ms: Option<f64>,
    /// Whether the traces' root service is a gateway forwarding each request to one endpoint.
    pub from_traces: bool,
}

#[derive(Debug)]
pub struct DraftService {
    pub name: String,
    /// The service's name in the traces, when it had to be changed.
    pub original: Option<String>,
    pub instances: u32,
    /// How `instances` was found.
    pub instances_from: &'static str,
    pub workers: u32,
    pub endpoints: Vec<DraftEndpoint>,
    /// What a call's CPU costs more after its worker idled (`--cpu-after-idle`): extra, tau ms.
    pub cpu_after_idle: Option<(f64, f64)>,
}

#[derive(Debug)]
pub struct DraftEndpoint {
    pub name: String,
    pub original: Option<String>,
    pub samples_ms: Vec<f64>,
    /// Processing after the calls, when the traces show it (then `samples_ms` is the part
    /// before the calls).
    pub after_ms: Option<Vec<f64>>,
    pub stages: Vec<Vec<DraftCall>>,
    pub invocations: u64,
    pub error_probability: f64,
    /// A leaf made from client spans to an uninstrumented service.
    pub uninstrumented: bool,
    /// CPU per call measured outside the traces (`--cpu`), taken out of the samples.
    pub cpu_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DraftCall {
    /// `service.endpoint`.
    pub target: String,
    pub probability: f64,
    /// Copies per call when made: (copies, times seen).
    pub counts: Vec<(u32, u64)>,
    /// Sent fire-and-forget (a PRODUCER span with the callee's CONSUMER span below it).
    pub fire_and_forget: bool,
}

#[derive(Debug)]
pub struct DraftLink {
    pub a: String,
    pub b: String,
    pub latency_ms: f64,
    pub calls: u64,
}

/// An endpoint key while inferring: (service, operation), interned.
type Key = (u32, u32);

/// One call an invocation made.
struct Made {
    start: i64,
    end: i64,
    callee: Key,
    /// One-way network time seen on this call, when both sides were traced.
    one_way_ns: Option<i64>,
    /// A fire-and-forget call: nobody waited for it.
    detached: bool,
}

#[derive(Default)]
struct EndpointStats {
    samples_ns: Vec<i64>,
    /// Per invocation, the part of its own time after its calls.
    after_ns: Vec<i64>,
    invocations: u64,
    errors_own: u64,
    /// Per invocation: stages of callees.
    patterns: Vec<Vec<Vec<Key>>>,
    /// Callees it called fire-and-forget.
    detached: Vec<Key>,
    uninstrumented: bool,
}

#[derive(Default)]
struct ServiceStats {
    instances: Vec<u32>,
    /// Per instance: processing intervals (start, end).
    busy: HashMap<Option<u32>, Vec<(i64, i64)>>,
}

/// Timestamps closer than this are taken as equal when counting overlaps.
const PRECISION_NS: i64 = 2_000;

/// Most samples kept per endpoint: above it, evenly spaced quantiles of the sorted samples.
const MAX_SAMPLES: usize = 200_000;

pub fn infer(mut spans: Spans) -> Result<Draft, String> {
    let mut draft = Draft {
        sampled: 1.0,
        ..Draft::default()
    };
    let n = spans.spans.len();
    if n == 0 {
        return Err("no usable spans in the input".into());
    }
    // Group by trace.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (spans.spans[i].trace, spans.spans[i].start_ns, i));
    let mut endpoints: BTreeMap<Key, EndpointStats> = BTreeMap::new();
    let mut endpoint_order: Vec<Key> = Vec::new();
    let mut services: HashMap<u32, ServiceStats> = HashMap::new();
    let mut service_order: Vec<u32> = Vec::new();
    let mut links: BTreeMap<(u32, u32), (f64, u64)> = BTreeMap::new();
    let mut roots: Vec<(i64, Key)> = Vec::new();
    // Services whose client spans sent requests in (load generators, browsers, other systems).
    let mut clients: std::collections::BTreeSet<u32> = std::collections::BTreeSet::new();
    let mut counts = Counts::default();
    let mut start = 0;
    while start < n {
        let trace = spans.spans[order[start]].trace;
        let mut end = start;
        while end < n && spans.spans[order[end]].trace == trace {
            end += 1;
        }
        let members: Vec<usize> = order[start..end].to_vec();
        start = end;
        draft.traces += 1;
        one_trace(
            &mut spans.spans,
            &members,
            &mut counts,
            &mut |kind, key| match kind {
                Found::Invocation(inv) => {
                    if !endpoints.contains_key(&key) {
                        endpoint_order.push(key);
                    }
                    let e = endpoints.entry(key).or_default();
                    e.invocations += 1;
                    e.samples_ns.push(inv.own_ns);
                    e.after_ns.push(inv.after_ns);
                    e.errors_own += u64::from(inv.error_own);
                    e.patterns.push(inv.stages);
                    for k in inv.detached {
                        if !e.detached.contains(&k) {
                            e.detached.push(k);
                        }
                    }
                    e.uninstrumented |= inv.uninstrumented;
                    if !services.contains_key(&key.0) {
                        service_order.push(key.0);
                    }
                    let s = services.entry(key.0).or_default();
                    if let Some(i) = inv.instance
                        && !s.instances.contains(&i)
                    {
                        s.instances.push(i);
                    }
                    s.busy.entry(inv.instance).or_default().push(inv.busy);
                    for (callee_service, one_way) in inv.links {
                        let l = links.entry((key.0, callee_service)).or_insert((0.0, 0));
                        l.0 += one_way as f64;
                        l.1 += 1;
                    }
                }
                Found::Root(at, client) => {
                    roots.push((at, key));
                    if let Some((client, one_way)) = client {
                        clients.insert(client);
                        let l = links.entry((client, key.0)).or_insert((0.0, 0));
                        l.0 += one_way as f64;
                        l.1 += 1;
                    }
                }
            },
        );
    }
    draft.spans_used = n as u64;
    if endpoints.is_empty() {
        return Err(
            "the traces have no server spans (a service handling a call): meshsim needs them to know the services and endpoints"
                .into(),
        );
    }
    counts.notes(&mut draft.notes);
    // A client that also serves calls is a service like the others.
    clients.retain(|c| !services.contains_key(c));
    // Names: services and endpoints as meshsim identifiers.
    let mut service_names: HashMap<u32, String> = HashMap::new();
    let mut taken: Vec<String> = vec!["gateway".into()];
    // A root service called `gateway` that forwards each request to one endpoint is meshsim's
    // gateway; unless the clients are traced: then meshsim's gateway stands for them, and their
    // hop to the root service is a link.
    let gateway_service = roots
        .first()
        .filter(|_| clients.is_empty())
        .map(|r| r.1.0)
        .filter(|&s| spans.name(s) == "gateway")
        .filter(|&s| roots.iter().all(|r| r.1.0 == s))
        .filter(|&s| {
            // One call per request (a request still in the gateway when tracing stopped may
            // have none yet).
            endpoints.iter().filter(|(k, _)| k.0 == s).all(|(_, e)| {
                e.patterns.iter().any(|p| p.len() == 1)
                    && e.patterns
                        .iter()
                        .all(|p| p.is_empty() || (p.len() == 1 && p[0].len() == 1))
            })
        });
    for &s in &service_order {
        if Some(s) == gateway_service {
            continue;
        }
        let mut name = identifier(spans.name(s));
        if name == "gateway" {
            name = "gateway_service".into();
            draft.notes.push(if clients.is_empty() {
                // meshsim's gateway forwards each request to one endpoint; this one does more.
                "the root service `gateway` does not forward each request to exactly one call (it fans out, retries or hedges): it is modelled as the service `gateway_service` behind a gateway that takes no time".into()
            } else {
                "the clients' spans are in the traces, so meshsim's gateway stands for the clients: the service `gateway` is modelled as `gateway_service`, behind it".into()
            });
        }
        let name = unique(name, &mut taken);
        service_names.insert(s, name);
    }
    let mut endpoint_names: HashMap<Key, String> = HashMap::new();
    for &key in &endpoint_order {
        if Some(key.0) == gateway_service {
            continue;
        }
        let mut local: Vec<String> = endpoint_names
            .iter()
            .filter(|(k, _)| k.0 == key.0)
            .map(|(_, v)| v.rsplit('.').next().unwrap_or("").to_string())
            .collect();
        let name = unique(identifier(spans.name(key.1)), &mut local);
        endpoint_names.insert(key, format!("{}.{name}", service_names[&key.0]));
    }
    // Services.
    for &s in &service_order {
        if Some(s) == gateway_service {
            continue;
        }
        let stats = &services[&s];
        let mut service = DraftService {
            name: service_names[&s].clone(),
            original: (service_names[&s] != spans.name(s)).then(|| spans.name(s).to_string()),
            instances: stats.instances.len().max(1) as u32,
            instances_from: if stats.instances.is_empty() {
                "assumed: the traces do not name instances"
            } else {
                "distinct instances seen in the traces"
            },
            workers: concurrency(stats),
            endpoints: Vec::new(),
            cpu_after_idle: None,
        };
        for key in endpoint_order.iter().filter(|k| k.0 == s) {
            let e = &endpoints[key];
            let full = &endpoint_names[key];
            let local = full.rsplit('.').next().unwrap_or(full).to_string();
            service.endpoints.push(DraftEndpoint {
                original: (local != spans.name(key.1)).then(|| spans.name(key.1).to_string()),
                name: local,
                samples_ms: samples_ms(&before(e)),
                after_ms: after(e).map(|a| samples_ms(&a)),
                stages: stages(&e.patterns, &e.detached, &endpoint_names),
                invocations: e.invocations,
                error_probability: e.errors_own as f64 / e.invocations.max(1) as f64,
                uninstrumented: e.uninstrumented,
                cpu_ms: None,
            });
        }
        draft.services.push(service);
    }
    // Workload and gateway.
    roots.sort_by_key(|r| r.0);
    draft.roots = roots.len() as u64;
    if roots.is_empty() {
        return Err("no trace has a root server span (every server span has a parent that is missing or not a call): meshsim cannot tell where requests enter".into());
    }
    let window_ns = roots.last().map_or(0, |r| r.0) - roots[0].0;
    draft.window_s = window_ns as f64 / 1e9;
    draft.rate_per_s = if roots.len() >= 2 && window_ns > 0 {
        (roots.len() - 1) as f64 / draft.window_s
    } else {
        draft
            .notes
            .push("one root request (or all at one instant): the arrival rate is assumed to be 1 per second".into());
        1.0
    };
    let mut weights: Vec<(String, u64)> = Vec::new();
    match gateway_service {
        Some(g) => {
            let mut samples = Vec::new();
            for (key, e) in endpoints.iter().filter(|(k, _)| k.0 == g) {
                samples.extend(&e.samples_ns);
                let target = &e
                    .patterns
                    .iter()
                    .find(|p| !p.is_empty())
                    .expect("checked above")[0][0];
                let route = endpoint_names[target].clone();
                let seen = roots.iter().filter(|r| r.1 == *key).count() as u64;
                match weights.iter_mut().find(|w| w.0 == route) {
                    Some(w) => w.1 += seen,
                    None => weights.push((route, seen)),
                }
            }
            draft.gateway = DraftGateway {
                samples_ms: samples_ms(&samples),
                workers: concurrency(&services[&g]),
                routes: weights,
                clients: Vec::new(),
                cpu_ms: None,
                from_traces: true,
            };
        }
        None => {
            for r in &roots {
                let route = endpoint_names[&r.1].clone();
                match weights.iter_mut().find(|w| w.0 == route) {
                    Some(w) => w.1 += 1,
                    None => weights.push((route, 1)),
                }
            }
            draft.gateway = DraftGateway {
                samples_ms: Vec::new(),
                workers: 1,
                routes: weights,
                clients: clients.iter().map(|&c| spans.name(c).to_string()).collect(),
                cpu_ms: None,
                from_traces: false,
            };
        }
    }
    // Links: one-way time per pair of services, both directions pooled.
    if !clients.is_empty() {
        let names: Vec<&str> = clients.iter().map(|&c| spans.name(c)).collect();
        draft.notes.push(format!(
            "requests came from clients whose spans are in the traces ({}): the model's gateway stands for them and takes no time; the hop from a client to the service it called (its client span minus that server span, halved: connecting, sending, the client's own delays) is the link from the gateway",
            names.join(", ")
        ));
    }
    let name_of = |s: u32| -> String {
        if Some(s) == gateway_service || clients.contains(&s) {
            "gateway".into()
        } else {
            service_names[&s].clone()
        }
    };
    let mut pairs: BTreeMap<(String, String), (f64, u64)> = BTreeMap::new();
    // Calls within a service: no link (meshsim's services do not call themselves), but the
    // time becomes the link between its parts if a cycle splits it.
    let mut self_links: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    for ((a, b), (sum, calls)) in links {
        let (a, b) = (name_of(a), name_of(b));
        if a == b {
            let p = self_links.entry(a).or_insert((0.0, 0));
            p.0 += sum;
            p.1 += calls;
            continue;
        }
        let key = if a <= b { (a, b) } else { (b, a) };
        let p = pairs.entry(key).or_insert((0.0, 0));
        p.0 += sum;
        p.1 += calls;
    }
    for ((a, b), (sum, calls)) in pairs {
        let latency_ms = sum / calls as f64 / 1e6;
        if latency_ms >= 0.001 {
            draft.links.push(DraftLink {
                a,
                b,
                latency_ms,
                calls,
            });
        }
    }
    super::cycles::break_cycles(&mut draft, &self_links);
    Ok(draft)
}

/// The work an endpoint does after its calls, per invocation, when it is worth a field of its
/// own: at least 10 µs and 2% of its processing on average (less is timestamp noise).
fn after(e: &EndpointStats) -> Option<Vec<i64>> {
    let n = e.after_ns.len().max(1) as f64;
    let after = e.after_ns.iter().sum::<i64>() as f64 / n;
    let own = e.samples_ns.iter().sum::<i64>() as f64 / n;
    (after >= 10_000.0 && after >= 0.02 * own).then(|| e.after_ns.clone())
}

/// The processing before the calls (all of it when [`after`] is not worth a field).
fn before(e: &EndpointStats) -> Vec<i64> {
    match after(e) {
        Some(a) => e.samples_ns.iter().zip(&a).map(|(o, a)| o - a).collect(),
        None => e.samples_ns.clone(),
    }
}

/// Processing samples in ms, at most [`MAX_SAMPLES`] (evenly spaced quantiles beyond).
fn samples_ms(ns: &[i64]) -> Vec<f64> {
    let mut v: Vec<f64> = ns.iter().map(|&x| x.max(0) as f64 / 1e6).collect();
    if v.len() > MAX_SAMPLES {
        v.sort_by(f64::total_cmp);
        let step = v.len() as f64 / MAX_SAMPLES as f64;
        v = (0..MAX_SAMPLES)
            .map(|i| v[((i as f64 + 0.5) * step) as usize])
            .collect();
    }
    v
}

/// The most calls processed at once on one instance of a service: the estimate of its workers.
fn concurrency(stats: &ServiceStats) -> u32 {
    let mut most = 1;
    for intervals in stats.busy.values() {
        // Ends count 2 µs early: Jaeger and Zipkin round times to microseconds, which would
        // make a call that took a worker as the last one left it look like an overlap.
        let mut edges: Vec<(i64, i32)> = intervals
            .iter()
            .filter(|(s, e)| e > s)
            .flat_map(|&(s, e)| [(s, 1), ((e - PRECISION_NS).max(s), -1)])
            .collect();
        edges.sort();
        let mut now = 0;
        for (_, d) in edges {
            now += d;
            most = most.max(now);
        }
    }
    most.max(1) as u32
}

/// The stages of an endpoint's calls over all its invocations: each callee's probability and
/// count, callees ordered by which came first when both were called, and grouped into one stage
/// when neither usually follows the other.
fn stages(
    patterns: &[Vec<Vec<Key>>],
    detached: &[Key],
    names: &HashMap<Key, String>,
) -> Vec<Vec<DraftCall>> {
    let invocations = patterns.len() as f64;
    // Per callee: invocations calling it, copies per such invocation, sum of stage indices.
    let mut seen: Vec<(Key, u64, BTreeMap<u32, u64>, f64)> = Vec::new();
    // before[(x, y)]: invocations in which x's first stage came before y's.
    let mut before: HashMap<(Key, Key), u64> = HashMap::new();
    for p in patterns {
        let mut first: Vec<(Key, usize, u32)> = Vec::new();
        for (i, stage) in p.iter().enumerate() {
            for &k in stage {
                match first.iter_mut().find(|f| f.0 == k) {
                    Some(f) => f.2 += 1,
                    None => first.push((k, i, 1)),
                }
            }
        }
        for &(k, i, copies) in &first {
            let entry = match seen.iter().position(|s| s.0 == k) {
                Some(e) => e,
                None => {
                    seen.push((k, 0, BTreeMap::new(), 0.0));
                    seen.len() - 1
                }
            };
            let s = &mut seen[entry];
            s.1 += 1;
            *s.2.entry(copies).or_default() += 1;
            s.3 += i as f64;
        }
        for a in &first {
            for b in &first {
                if a.1 < b.1 {
                    *before.entry((a.0, b.0)).or_default() += 1;
                }
            }
        }
    }
    // Order by mean stage index, then group.
    seen.sort_by(|a, b| (a.3 / a.1 as f64).total_cmp(&(b.3 / b.1 as f64)));
    let mut out: Vec<Vec<DraftCall>> = Vec::new();
    let mut current: Vec<Key> = Vec::new();
    for (k, times, copies, _) in seen {
        let follows = current.iter().any(|&c| {
            before.get(&(c, k)).copied().unwrap_or(0) > before.get(&(k, c)).copied().unwrap_or(0)
        });
        if follows {
            out.push(Vec::new());
            current.clear();
        }
        if out.is_empty() {
            out.push(Vec::new());
        }
        current.push(k);
        out.last_mut().expect("pushed above").push(DraftCall {
            target: names[&k].clone(),
            probability: times as f64 / invocations,
            counts: copies.into_iter().collect(),
            fire_and_forget: detached.contains(&k),
        });
    }
    out
}

/// A name usable as a meshsim service or endpoint: no dots or spaces.
pub fn identifier(name: &str) -> String {
    let s: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_matches('_').to_string();
    if s.is_empty() { "unnamed".into() } else { s }
}

pub(super) fn unique(name: String, taken: &mut Vec<String>) -> String {
    let mut candidate = name.clone();
    let mut k = 2;
    while taken.contains(&candidate) {
        candidate = format!("{name}_{k}");
        k += 1;
    }
    taken.push(candidate.clone());
    candidate
}

/// What reading one trace found.
enum Found {
    /// A server span: one invocation of an endpoint.
    Invocation(Invocation),
    /// A request entering the system, at this time; with the client's service and its one-way
    /// hop to the entry service, when the client's span is in the trace.
    Root(i64, Option<(u32, i64)>),
}

struct Invocation {
    own_ns: i64,
    /// Of `own_ns`, the part after the last call returned.
    after_ns: i64,
    error_own: bool,
    stages: Vec<Vec<Key>>,
    /// Callees of `stages` called fire-and-forget.
    detached: Vec<Key>,
    instance: Option<u32>,
    /// Processing interval (for the concurrency estimate).
    busy: (i64, i64),
    /// (callee service, one-way ns) per call traced on both sides.
    links: Vec<(u32, i64)>,
    uninstrumented: bool,
}

/// Problems met, counted for the report.
#[derive(Default)]
struct Counts {
    orphans: u64,
    skewed: u64,
    skew_max_ns: i64,
    unfixable_skew: u64,
    asynchronous: u64,
    /// PRODUCER spans with the callee's CONSUMER span below them: fire-and-forget calls.
    fire_and_forget: u64,
    unknown_kind: u64,
    uninstrumented_calls: u64,
    repeated_across_stages: u64,
    recursion: u64,
}

impl Counts {
    fn notes(&self, out: &mut Vec<String>) {
        if self.orphans > 0 {
            out.push(format!("{} spans whose parent never arrived (orphans): used for their own endpoint's statistics, not as requests entering the system", self.orphans));
        }
        if self.skewed > 0 {
            out.push(format!("{} server spans lay outside their caller's client span (clock skew, up to {:.3} ms): shifted, with their children, to the middle of the client span", self.skewed, self.skew_max_ns as f64 / 1e6));
        }
        if self.unfixable_skew > 0 {
            out.push(format!("{} server spans were longer than their caller's client span (clock rate or missing data): left as they are", self.unfixable_skew));
        }
        if self.fire_and_forget > 0 {
            out.push(format!("{} PRODUCER spans with the callee's CONSUMER span below them: modelled as fire-and-forget calls (async = true), the producer-to-consumer delay as the link's latency", self.fire_and_forget));
        }
        if self.asynchronous > 0 {
            out.push(format!("{} PRODUCER or CONSUMER spans without the other side below or above them (messages from or to outside the traces): not modelled", self.asynchronous));
        }
        if self.unknown_kind > 0 {
            out.push(format!("{} spans of no known kind (neither server nor client): read as work inside their parent", self.unknown_kind));
        }
        if self.uninstrumented_calls > 0 {
            out.push(format!("{} client spans had no server span below them (an uninstrumented service, such as a database): each callee is modelled as a service whose processing is the client span's duration, with no network time", self.uninstrumented_calls));
        }
        if self.repeated_across_stages > 0 {
            out.push(format!("{} invocations called the same endpoint in several stages: modelled as parallel copies in the first of those stages", self.repeated_across_stages));
        }
        if self.recursion > 0 {
            out.push(format!(
                "{} calls of an endpoint to itself (recursion) were left out",
                self.recursion
            ));
        }
    }
}

/// Reads one trace: for every server span, its invocation; for every root, the request.
fn one_trace(
    spans: &mut [SpanRec],
    members: &[usize],
    counts: &mut Counts,
    found: &mut dyn FnMut(Found, Key),
) {
    // Span id → members with it (a Zipkin shared server half reuses its client's id).
    let mut by_id: HashMap<u64, Vec<usize>> = HashMap::new();
    for &m in members {
        by_id.entry(spans[m].id).or_default().push(m);
    }
    // Parent of each member, as a member index; orphans and roots have none.
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut orphan: std::collections::HashSet<usize> = std::collections::HashSet::new();
    for &m in members {
        let s = &spans[m];
        if s.shared
            && s.kind == Kind::Server
            && let Some(&c) = by_id[&s.id]
                .iter()
                .find(|&&c| c != m && spans[c].kind == Kind::Client)
        {
            parent.insert(m, c);
            continue;
        }
        let Some(p) = s.parent else { continue };
        let Some(candidates) = by_id.get(&p) else {
            orphan.insert(m);
            continue;
        };
        let pick = if candidates.len() > 1 {
            let want_server = s.kind != Kind::Server;
            candidates
                .iter()
                .copied()
                .find(|&c| (spans[c].kind == Kind::Server) == want_server)
                .unwrap_or(candidates[0])
        } else {
            candidates[0]
        };
        if pick != m {
            parent.insert(m, pick);
        }
    }
    counts.orphans += orphan.len() as u64;
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    for (&c, &p) in &parent {
        children.entry(p).or_default().push(c);
    }
    for v in children.values_mut() {
        v.sort_by_key(|&c| (spans[c].start_ns, c));
    }
    // Clock skew: a server span outside its client span moves, with its subtree, to the middle.
    let tops: Vec<usize> = members
        .iter()
        .copied()
        .filter(|m| !parent.contains_key(m))
        .collect();
    let mut stack: Vec<(usize, i64)> = tops.iter().map(|&t| (t, 0)).collect();
    let mut visited = 0usize;
    while let Some((m, shift)) = stack.pop() {
        visited += 1;
        if visited > members.len() * 2 {
            break; // a parent loop in corrupt data
        }
        spans[m].start_ns = spans[m].start_ns.saturating_add(shift);
        spans[m].end_ns = spans[m].end_ns.saturating_add(shift);
        let mut own = 0;
        if spans[m].kind == Kind::Server
            && let Some(&p) = parent.get(&m)
            && spans[p].kind == Kind::Client
        {
            let (c, s) = (&spans[p], &spans[m]);
            // On one host there is one clock: a server span ending after its client span is
            // the server finishing its response after the client has read it, not skew.
            let one_host = c.host.is_some() && c.host == s.host;
            if !one_host && (s.start_ns < c.start_ns || s.end_ns > c.end_ns) {
                if s.end_ns - s.start_ns <= c.end_ns - c.start_ns {
                    let middle = |a: i64, b: i64| (i128::from(a) + i128::from(b)) / 2;
                    own = (middle(c.start_ns, c.end_ns) - middle(s.start_ns, s.end_ns)) as i64;
                    counts.skewed += 1;
                    counts.skew_max_ns = counts.skew_max_ns.max(own.saturating_abs());
                    spans[m].start_ns = spans[m].start_ns.saturating_add(own);
                    spans[m].end_ns = spans[m].end_ns.saturating_add(own);
                } else {
                    counts.unfixable_skew += 1;
                }
            }
        }
        for &c in children.get(&m).map_or(&[][..], |v| v) {
            stack.push((c, shift.saturating_add(own)));
        }
    }
    // Roots: server spans with no server span above them (and not below an orphan).
    let server_above = |m: usize| -> (bool, bool) {
        let mut x = m;
        let mut depth = 0;
        while let Some(&p) = parent.get(&x) {
            if spans[p].kind == Kind::Server {
                return (true, false);
            }
            x = p;
            depth += 1;
            if depth > members.len() {
                break;
            }
        }
        (false, orphan.contains(&x))
    };
    for &m in members {
        match spans[m].kind {
            Kind::Producer if consumer_below(spans, m, &children).is_some() => {
                counts.fire_and_forget += 1
            }
            Kind::Producer => counts.asynchronous += 1,
            Kind::Consumer if !server_above(m).0 => counts.asynchronous += 1,
            Kind::Unspecified => counts.unknown_kind += 1,
            _ => {}
        }
    }
    for &m in members {
        // A consumer span below a producer is the work of a fire-and-forget call; one with no
        // request above it (a message from outside the trace) is not modelled.
        let kind = spans[m].kind;
        if kind != Kind::Server && !(kind == Kind::Consumer && server_above(m).0) {
            continue;
        }
        let (above, under_orphan) = server_above(m);
        let key = (spans[m].service, spans[m].name);
        if !above && !under_orphan && !orphan.contains(&m) {
            // A client span above the root (a load generator's, a browser's): the hop from the
            // client to the entry service, one way.
            let client = parent
                .get(&m)
                .filter(|&&p| spans[p].kind == Kind::Client)
                .map(|&p| {
                    let (c, s) = (&spans[p], &spans[m]);
                    let gap = (s.start_ns - c.start_ns) + (c.end_ns - s.end_ns);
                    (c.service, (gap / 2).max(0))
                });
            found(Found::Root(spans[m].start_ns, client), key);
        }
        let (inv, leaves) = invocation(spans, m, &children, counts);
        found(Found::Invocation(inv), key);
        for (leaf, inv) in leaves {
            found(Found::Invocation(inv), leaf);
        }
    }
}

/// The CONSUMER span directly below PRODUCER span `producer`: the callee's side of a
/// fire-and-forget call.
fn consumer_below(
    spans: &[SpanRec],
    producer: usize,
    children: &HashMap<usize, Vec<usize>>,
) -> Option<usize> {
    children
        .get(&producer)?
        .iter()
        .copied()
        .find(|&x| spans[x].kind == Kind::Consumer)
}

/// The calls one server span made, in stages, and its own processing time; and the invocations
/// of uninstrumented callees its client spans stand for.
fn invocation(
    spans: &[SpanRec],
    server: usize,
    children: &HashMap<usize, Vec<usize>>,
    counts: &mut Counts,
) -> (Invocation, Vec<(Key, Invocation)>) {
    let s = &spans[server];
    let mut made: Vec<Made> = Vec::new();
    let mut leaves: Vec<(Key, Invocation)> = Vec::new();
    let mut error_child = false;
    // Walk down through work inside the service (internal or unknown spans) to its calls.
    let mut stack: Vec<usize> = children.get(&server).cloned().unwrap_or_default();
    while let Some(c) = stack.pop() {
        let span = &spans[c];
        match span.kind {
            Kind::Client => {
                let callee_server = children
                    .get(&c)
                    .and_then(|v| v.iter().copied().find(|&x| spans[x].kind == Kind::Server));
                error_child |= span.error;
                match callee_server {
                    Some(x) => {
                        let t = &spans[x];
                        let one_way = ((t.start_ns - span.start_ns) + (span.end_ns - t.end_ns)) / 2;
                        made.push(Made {
                            start: span.start_ns,
                            end: span.end_ns,
                            callee: (t.service, t.name),
                            one_way_ns: Some(one_way.max(0)),
                            detached: false,
                        });
                    }
                    None => {
                        // An uninstrumented callee (a database, a cache): a service named
                        // after the span's peer, whose processing is the client span.
                        counts.uninstrumented_calls += 1;
                        let callee = (span.peer.unwrap_or(span.name), span.name);
                        leaves.push((
                            callee,
                            Invocation {
                                own_ns: span.end_ns - span.start_ns,
                                after_ns: 0,
                                error_own: span.error,
                                stages: Vec::new(),
                                detached: Vec::new(),
                                instance: None,
                                busy: (span.start_ns, span.end_ns),
                                links: Vec::new(),
                                uninstrumented: true,
                            },
                        ));
                        made.push(Made {
                            start: span.start_ns,
                            end: span.end_ns,
                            callee,
                            one_way_ns: None,
                            detached: false,
                        });
                    }
                }
            }
            Kind::Server => {
                // A server span directly below another: a call with no client span.
                error_child |= span.error;
                made.push(Made {
                    start: span.start_ns,
                    end: span.end_ns,
                    callee: (span.service, span.name),
                    one_way_ns: Some(0),
                    detached: false,
                });
            }
            Kind::Producer => {
                // Sent and not waited for: it takes no time of the caller's and opens no stage.
                if let Some(x) = consumer_below(spans, c, children) {
                    let t = &spans[x];
                    made.push(Made {
                        start: span.start_ns,
                        end: span.start_ns,
                        callee: (t.service, t.name),
                        one_way_ns: Some((t.start_ns - span.start_ns).max(0)),
                        detached: true,
                    });
                }
            }
            Kind::Consumer => {}
            Kind::Internal | Kind::Unspecified => {
                stack.extend(children.get(&c).cloned().unwrap_or_default());
            }
        }
    }
    made.retain(|m| {
        let recursive = m.callee == (s.service, s.name);
        counts.recursion += u64::from(recursive);
        !recursive
    });
    made.sort_by_key(|m| (m.start, m.end));
    // Stages: a call that starts after every call of the current stage has ended opens the next.
    let mut stages: Vec<Vec<Key>> = Vec::new();
    let mut stage_end = i64::MIN;
    for m in &made {
        if stages.is_empty() || m.start >= stage_end {
            stages.push(Vec::new());
            stage_end = m.end;
        } else {
            stage_end = stage_end.max(m.end);
        }
        stages.last_mut().expect("pushed above").push(m.callee);
    }
    let mut repeated = false;
    for (i, st) in stages.iter().enumerate() {
        for k in st {
            if stages[i + 1..].iter().any(|later| later.contains(k)) {
                repeated = true;
            }
        }
    }
    counts.repeated_across_stages += u64::from(repeated);
    // Own time: the span minus the time covered by its calls, minus its wait for a worker.
    let mut covered = 0;
    let (mut from, mut to) = (i64::MIN, i64::MIN);
    for m in &made {
        let (a, b) = (m.start.max(s.start_ns), m.end.min(s.end_ns));
        if b <= a {
            continue;
        }
        if a > to {
            covered += to - from;
            from = a;
            to = b;
        } else {
            to = to.max(b);
        }
    }
    if to > from {
        covered += to - from;
    }
    let queue = s
        .queue_ns
        .unwrap_or(0)
        .clamp(0, (s.end_ns - s.start_ns).max(0));
    let own = (s.end_ns - s.start_ns - covered - queue).max(0);
    // Work after the calls: from the end of the last call to the response.
    let after = made
        .iter()
        .map(|m| m.end)
        .max()
        .map_or(0, |last| (s.end_ns - last).clamp(0, own));
    let busy_start = s.start_ns + queue;
    let busy_end = made
        .iter()
        .find(|m| !m.detached)
        .map_or(s.end_ns, |m| m.start.min(s.end_ns));
    let inv = Invocation {
        own_ns: own,
        after_ns: after,
        error_own: s.error && !error_child,
        stages,
        detached: made
            .iter()
            .filter(|m| m.detached)
            .map(|m| m.callee)
            .collect(),
        instance: s.instance,
        busy: (busy_start, busy_end.max(busy_start)),
        links: made
            .iter()
            .filter_map(|m| m.one_way_ns.map(|w| (m.callee.0, w)))
            .collect(),
        uninstrumented: false,
    };
    (inv, leaves)
}
