//! What a model asks of each station without simulating it: visit rates, offered load and
//! utilisation (used by `meshsim check` and to warn before a run that a station is saturated).

use crate::model::{EndpointId, Model, ServiceId, Workload};
use std::collections::HashMap;

/// Offered load of a whole model.
#[derive(Clone, Debug)]
pub struct OfferedLoad {
    /// Requests per second entering the gateway. For a closed workload, the asymptotic upper
    /// bound min(N / (Z + D), c / D_max) on throughput.
    pub throughput_per_s: f64,
    /// Whether `throughput_per_s` is the closed-workload bound rather than a given rate.
    pub throughput_is_bound: bool,
    /// The gateway first, then services in file order.
    pub stations: Vec<StationLoad>,
    /// Two per link, one per direction.
    pub links: Vec<LinkLoad>,
}

/// Load offered to one service (or the gateway).
#[derive(Clone, Debug)]
pub struct StationLoad {
    pub name: String,
    /// Calls per second arriving at the service.
    pub arrival_rate_per_s: f64,
    /// Mean processing time per call, weighted over endpoints, in ms.
    pub mean_service_ms: f64,
    /// Workers in total (instances × workers).
    pub servers: u32,
    /// Offered work per worker; ≥ 1 means the service cannot keep up. For blocking services this
    /// is a lower bound: workers are also held while waiting for downstream calls.
    pub utilisation: f64,
    pub blocking: bool,
}

/// Load offered to one direction of a link.
#[derive(Clone, Debug)]
pub struct LinkLoad {
    pub link: String,
    pub from: String,
    pub to: String,
    /// Messages per second.
    pub messages_per_s: f64,
    /// Fraction of time spent serialising messages.
    pub utilisation: f64,
}

impl OfferedLoad {
    /// Stations whose utilisation is at least 1.
    pub fn saturated(&self) -> impl Iterator<Item = &StationLoad> {
        self.stations.iter().filter(|s| s.utilisation >= 1.0)
    }

    /// The utilisation of the busiest station or link direction (0 when nothing does work).
    pub fn busiest(&self) -> f64 {
        self.stations
            .iter()
            .map(|s| s.utilisation)
            .chain(self.links.iter().map(|l| l.utilisation))
            .fold(0.0, f64::max)
    }
}

/// The arrival rate at which the busiest station or link direction of an open workload would
/// reach utilisation 1; `None` for a closed workload or a model that does no work.
pub fn saturation_rate(model: &Model) -> Option<f64> {
    let crate::model::Workload::Open { rate_per_s, .. } = model.workload else {
        return None;
    };
    let busiest = offered_load(model).busiest();
    (busiest > 0.0).then(|| rate_per_s / busiest)
}

/// Mean number of calls each endpoint receives per request entering the gateway.
pub fn visits_per_request(model: &Model) -> Vec<f64> {
    let n = model.endpoints.len();
    // Kahn's algorithm over the (acyclic, validated) call graph: visit counts flow from callers
    // to callees in topological order, so shared callees are counted once per path without
    // enumerating paths.
    let mut indegree = vec![0usize; n];
    for e in &model.endpoints {
        for d in e.stages.iter().flatten() {
            indegree[d.target] += 1;
        }
    }
    let mut visits = vec![0.0; n];
    for r in &model.routes {
        visits[r.gateway_endpoint] += r.probability;
    }
    let mut ready: Vec<EndpointId> = (0..n).filter(|&e| indegree[e] == 0).collect();
    while let Some(e) = ready.pop() {
        // A call made with probability p, n times on average, adds p·n visits per visit.
        for d in model.endpoints[e].stages.iter().flatten() {
            let t = d.target;
            visits[t] += visits[e] * d.mean_calls();
            indegree[t] -= 1;
            if indegree[t] == 0 {
                ready.push(t);
            }
        }
    }
    visits
}

/// Computes the offered load of `model`.
pub fn offered_load(model: &Model) -> OfferedLoad {
    let visits = visits_per_request(model);
    // Work (ms per request) each service must do, and its number of workers.
    let demand: Vec<f64> = model
        .services
        .iter()
        .map(|s| {
            s.endpoints
                .iter()
                .map(|&e| visits[e] * model.endpoints[e].work_mean_ms())
                .sum()
        })
        .collect();
    let servers: Vec<u32> = model
        .services
        .iter()
        .map(|s| s.instances * s.workers)
        .collect();
    let (throughput, bound) = match &model.workload {
        Workload::Open { rate_per_s, .. } => (*rate_per_s, false),
        Workload::Closed { users, think } => {
            let total_ms: f64 = demand.iter().sum::<f64>() + think.mean_ms();
            let population = f64::from(*users) * 1000.0 / total_ms;
            let bottleneck = demand
                .iter()
                .zip(&servers)
                .filter(|(d, _)| **d > 0.0)
                .map(|(d, c)| f64::from(*c) * 1000.0 / d)
                .fold(f64::INFINITY, f64::min);
            (population.min(bottleneck), true)
        }
    };
    let stations = model
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let calls: f64 = s.endpoints.iter().map(|&e| visits[e]).sum();
            StationLoad {
                name: s.name.clone(),
                arrival_rate_per_s: throughput * calls,
                mean_service_ms: if calls > 0.0 { demand[i] / calls } else { 0.0 },
                servers: servers[i],
                utilisation: throughput * demand[i] / 1000.0 / f64::from(servers[i]),
                blocking: s.blocking,
            }
        })
        .collect();
    OfferedLoad {
        throughput_per_s: throughput,
        throughput_is_bound: bound,
        stations,
        links: link_loads(model, &visits, throughput),
    }
}

fn link_loads(model: &Model, visits: &[f64], throughput: f64) -> Vec<LinkLoad> {
    // Messages and bits per link direction (2·link + direction), accumulated in one pass over
    // the calls; the directions a (from, to) pair of services crosses are looked up once.
    let mut directions: HashMap<(ServiceId, ServiceId), Vec<usize>> = HashMap::new();
    for (l, link) in model.links.iter().enumerate() {
        for dir in 0..2 {
            let (from, to) = (link.ends[dir], link.ends[1 - dir]);
            directions.entry((from, to)).or_default().push(2 * l + dir);
        }
    }
    let mut messages = vec![0.0; 2 * model.links.len()];
    let mut bits = vec![0.0; 2 * model.links.len()];
    let mut add = |pair: (ServiceId, ServiceId), rate: f64, bytes: u64| {
        for &d in directions.get(&pair).into_iter().flatten() {
            messages[d] += rate;
            bits[d] += rate * 8.0 * bytes as f64;
        }
    };
    for (c, caller) in model.endpoints.iter().enumerate() {
        for d in caller.stages.iter().flatten() {
            let callee = &model.endpoints[d.target];
            // Each visit of the caller makes this call p·n times on average: the request
            // crosses caller → callee, the response crosses back.
            let rate = throughput * visits[c] * d.mean_calls();
            add((caller.service, callee.service), rate, callee.request_bytes);
            if d.is_awaited() {
                add(
                    (callee.service, caller.service),
                    rate,
                    callee.response_bytes,
                );
            }
        }
    }
    let mut out = Vec::with_capacity(2 * model.links.len());
    for (l, link) in model.links.iter().enumerate() {
        for dir in 0..2 {
            let (from, to) = (link.ends[dir], link.ends[1 - dir]);
            out.push(LinkLoad {
                link: link.name.clone(),
                from: model.services[from].name.clone(),
                to: model.services[to].name.clone(),
                messages_per_s: messages[2 * l + dir],
                utilisation: link
                    .bandwidth_bps
                    .map_or(0.0, |bps| bits[2 * l + dir] / bps),
            });
        }
    }
    out
}
