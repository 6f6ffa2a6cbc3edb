//! The structure both analyses share: visit rates, the order in which endpoints can be solved
//! (callees before callers), the messages each link direction carries, and the recursion that
//! turns per-station waits into endpoint response times.

use super::queueing::{RandomBranch, expected_max_shifted_exponentials, expected_stage_time};
use super::visits_per_request;
use crate::model::pairs::PairTable;
use crate::model::{Downstream, EndpointId, Model, ServiceId};

/// One direction of a link, as the analysis sees it.
pub struct Direction {
    pub link: usize,
    pub from: ServiceId,
    pub to: ServiceId,
    /// Serialisation time per byte, in ms (0 for unlimited bandwidth).
    pub ms_per_byte: f64,
    pub latency_mean_ms: f64,
    pub latency_constant: bool,
    pub loss: f64,
    /// Messages carried: (visits per request, serialisation time in ms).
    pub messages: Vec<(f64, f64)>,
}

impl Direction {
    /// Messages per request.
    pub fn visits(&self) -> f64 {
        self.messages.iter().map(|m| m.0).sum()
    }

    /// Mean and second moment of the serialisation time of a message, in ms and ms².
    pub fn tx_moments(&self) -> (f64, f64) {
        let v = self.visits();
        if v == 0.0 {
            return (0.0, 0.0);
        }
        let mean = self.messages.iter().map(|(w, t)| w * t).sum::<f64>() / v;
        let second = self.messages.iter().map(|(w, t)| w * t * t).sum::<f64>() / v;
        (mean, second)
    }

    /// Whether all messages have the same size (M/D/1 rather than M/G/1).
    pub fn one_size(&self) -> bool {
        self.messages
            .windows(2)
            .all(|w| (w[0].1 - w[1].1).abs() < 1e-15)
    }
}

/// Held time of a station's workers per call, aggregated over its endpoints.
pub struct Held {
    /// Calls per request.
    pub visits: f64,
    /// Mean time a worker is held per call, in ms.
    pub mean_ms: f64,
    /// Second moment of the held time, in ms².
    pub second_ms2: f64,
    /// Whether every endpoint's service time is exponential with the same mean.
    pub exponential: bool,
}

impl Held {
    /// Squared coefficient of variation of the held time.
    pub fn cv2(&self) -> f64 {
        if self.mean_ms == 0.0 {
            0.0
        } else {
            self.second_ms2 / (self.mean_ms * self.mean_ms) - 1.0
        }
    }
}

/// Response times of every endpoint, given the waits.
pub struct Times {
    /// Mean time from a call's arrival at its service to its response leaving, in ms.
    pub response_ms: Vec<f64>,
    /// Deterministic part of `response_ms` (for the fork-join approximation).
    pub shift_ms: Vec<f64>,
}

/// A model prepared for analysis.
pub struct Network<'m> {
    pub model: &'m Model,
    pub visits: Vec<f64>,
    /// Services with every callee before its callers.
    pub order: Vec<ServiceId>,
    pub directions: Vec<Direction>,
    direction_of: PairTable,
    /// Whether some stage makes parallel calls.
    pub has_fork_join: bool,
    /// Per service: mean time computing per ms of its CPU work (`cpu_ms`), from the sharing
    /// of its hosts' cores; 1 (full speed, the cores to itself) unless set.
    pub cpu_stretch: Vec<f64>,
}

impl<'m> Network<'m> {
    pub fn new(model: &'m Model) -> Self {
        let visits = visits_per_request(model);
        let mut pairs = Vec::new();
        let mut directions = Vec::new();
        for (l, link) in model.links.iter().enumerate() {
            for dir in 0..2 {
                let (from, to) = (link.ends[dir], link.ends[1 - dir]);
                pairs.push((from, to, directions.len() as u32));
                directions.push(Direction {
                    link: l,
                    from,
                    to,
                    ms_per_byte: link.bandwidth_bps.map_or(0.0, |bps| 8e3 / bps),
                    latency_mean_ms: link.latency.mean_ms(),
                    latency_constant: link.latency.is_constant(),
                    loss: link.loss,
                    messages: Vec::new(),
                });
            }
        }
        let mut net = Network {
            model,
            cpu_stretch: vec![1.0; model.services.len()],
            visits,
            order: callee_first_order(model),
            directions,
            direction_of: PairTable::from_pairs(model.services.len(), pairs),
            has_fork_join: model.endpoints.iter().any(|e| {
                e.stages
                    .iter()
                    .any(|s| s.len() > 1 || s.iter().any(|d| !d.is_once()))
            }),
        };
        for (c, caller) in model.endpoints.iter().enumerate() {
            for call in caller.stages.iter().flatten() {
                let callee = &model.endpoints[call.target];
                let v = net.visits[c] * call.mean_calls();
                if let Some(d) = net.direction(caller.service, callee.service) {
                    let tx = callee.request_bytes as f64 * net.directions[d].ms_per_byte;
                    net.directions[d].messages.push((v, tx));
                }
                // A fire-and-forget call has no response.
                if let Some(d) = net
                    .direction(callee.service, caller.service)
                    .filter(|_| call.is_awaited())
                {
                    let tx = callee.response_bytes as f64 * net.directions[d].ms_per_byte;
                    net.directions[d].messages.push((v, tx));
                }
            }
        }
        net
    }

    /// The link direction from `from` to `to`, if any.
    pub fn direction(&self, from: ServiceId, to: ServiceId) -> Option<usize> {
        self.direction_of.get(from, to).map(|d| d as usize)
    }

    /// Mean and deterministic part of a message's delay from `from` to `to`.
    fn message_delay(
        &self,
        from: ServiceId,
        to: ServiceId,
        bytes: u64,
        link_wait: &[f64],
    ) -> (f64, f64) {
        match self.direction(from, to) {
            None => (0.0, 0.0),
            Some(d) => {
                let dir = &self.directions[d];
                let tx = bytes as f64 * dir.ms_per_byte;
                let fixed = tx
                    + if dir.latency_constant {
                        dir.latency_mean_ms
                    } else {
                        0.0
                    };
                (link_wait[d] + tx + dir.latency_mean_ms, fixed)
            }
        }
    }

    /// Time from the end of `e`'s processing until its last stage of calls has returned: (mean,
    /// deterministic part). Parallel calls take the expected maximum of their branches, each
    /// modelled as a constant plus an exponential.
    fn downstream(&self, e: EndpointId, times: &Times, link_wait: &[f64]) -> (f64, f64) {
        let endpoint = &self.model.endpoints[e];
        let (mut mean, mut fixed) = (0.0, 0.0);
        for all in &endpoint.stages {
            // A fire-and-forget call is not waited for: it adds load, not time.
            let stage: Vec<&Downstream> = all.iter().filter(|c| c.is_awaited()).collect();
            if stage.is_empty() {
                continue;
            }
            let branches: Vec<(f64, f64)> = stage
                .iter()
                .map(|call| {
                    let t = call.target;
                    let callee = &self.model.endpoints[t];
                    let (req, req_fixed) = self.message_delay(
                        endpoint.service,
                        callee.service,
                        callee.request_bytes,
                        link_wait,
                    );
                    let (resp, resp_fixed) = self.message_delay(
                        callee.service,
                        endpoint.service,
                        callee.response_bytes,
                        link_wait,
                    );
                    let total = req + times.response_ms[t] + resp;
                    let shift = (req_fixed + times.shift_ms[t] + resp_fixed).min(total);
                    (shift, total - shift)
                })
                .collect();
            if stage.iter().all(|c| c.is_once()) {
                mean += expected_max_shifted_exponentials(&branches);
                fixed += branches.iter().map(|b| b.0).fold(0.0, f64::max);
            } else {
                // Calls made sometimes, or several times: the stage's time is a mixture, and
                // only calls always made contribute a deterministic part.
                let random: Vec<RandomBranch> = stage
                    .iter()
                    .zip(&branches)
                    .map(|(call, &(shift, mean))| RandomBranch {
                        shift,
                        mean,
                        probability: call.probability,
                        count: &call.count,
                    })
                    .collect();
                mean += expected_stage_time(&random);
                fixed += stage
                    .iter()
                    .zip(&branches)
                    .filter(|(call, _)| call.probability == 1.0)
                    .map(|(_, b)| b.0)
                    .fold(0.0, f64::max);
            }
        }
        (mean, fixed)
    }

    /// Solves endpoint response times callee-first. `station_wait(s, held)` gives the mean wait
    /// for a worker at service `s` whose workers are held as `held` describes.
    pub fn evaluate(
        &self,
        link_wait: &[f64],
        mut station_wait: impl FnMut(ServiceId, &Held) -> f64,
    ) -> Times {
        let n = self.model.endpoints.len();
        let mut times = Times {
            response_ms: vec![0.0; n],
            shift_ms: vec![0.0; n],
        };
        for &s in &self.order {
            let service = &self.model.services[s];
            let down: Vec<(f64, f64)> = service
                .endpoints
                .iter()
                .map(|&e| self.downstream(e, &times, link_wait))
                .collect();
            let held = self.held(s, &down);
            let wait = station_wait(s, &held);
            for (&e, (d_mean, d_fixed)) in service.endpoints.iter().zip(&down) {
                let st = &self.model.endpoints[e].service_time;
                // Work after the calls: a non-blocking service waits for a worker again.
                let after = self.model.endpoints[e]
                    .after_time
                    .as_ref()
                    .map_or(0.0, |a| {
                        a.mean_ms() + if service.blocking { 0.0 } else { wait }
                    });
                let cpu = self.model.endpoints[e]
                    .cpu_time
                    .as_ref()
                    .map_or(0.0, |c| c.mean_ms() * self.cpu_stretch[s]);
                times.response_ms[e] = wait + cpu + st.mean_ms() + d_mean + after;
                times.shift_ms[e] = if st.is_constant() { st.mean_ms() } else { 0.0 } + d_fixed;
            }
        }
        times
    }

    /// Held time of service `s`'s workers: the service time, plus the downstream calls for
    /// blocking services (treated as independent and exponential-like for the second moment).
    fn held(&self, s: ServiceId, down: &[(f64, f64)]) -> Held {
        let service = &self.model.services[s];
        let visits: f64 = service.endpoints.iter().map(|&e| self.visits[e]).sum();
        let (mut mean, mut second) = (0.0, 0.0);
        for (&e, (d, _)) in service.endpoints.iter().zip(down) {
            let w = if visits > 0.0 {
                self.visits[e] / visits
            } else {
                1.0 / service.endpoints.len() as f64
            };
            let st = &self.model.endpoints[e].service_time;
            // Work after the calls counts as more of the same work (its own variability left
            // out of the second moment: an approximation `analyze` labels).
            let after = self.model.endpoints[e]
                .after_time
                .as_ref()
                .map_or(0.0, |a| a.mean_ms());
            // CPU work stretched by the sharing of the host's cores (`cpu_stretch`).
            let cpu = self.model.endpoints[e]
                .cpu_time
                .as_ref()
                .map_or(0.0, |c| c.mean_ms() * self.cpu_stretch[s]);
            let (m, cv) = (cpu + st.mean_ms() + after, st.cv());
            let d = if service.blocking { *d } else { 0.0 };
            mean += w * (m + d);
            second += w * (m * m * (1.0 + cv * cv) + 2.0 * m * d + 2.0 * d * d);
        }
        Held {
            visits,
            mean_ms: mean,
            second_ms2: second,
            exponential: exponential_service(self.model, s),
        }
    }

    /// Endpoints reachable from `e` (itself included).
    pub fn reachable(&self, e: EndpointId) -> Vec<EndpointId> {
        let mut seen = vec![false; self.model.endpoints.len()];
        let mut stack = vec![e];
        let mut out = Vec::new();
        while let Some(x) = stack.pop() {
            if std::mem::replace(&mut seen[x], true) {
                continue;
            }
            out.push(x);
            stack.extend(
                self.model.endpoints[x]
                    .stages
                    .iter()
                    .flatten()
                    .filter(|d| d.is_awaited())
                    .map(|d| d.target),
            );
        }
        out
    }
}

/// Whether service `s` serves every call in an exponential time with one common mean (the
/// product-form case), or in no time at all (a pass-through that changes nothing).
pub fn exponential_service(model: &Model, s: ServiceId) -> bool {
    let service = &model.services[s];
    let times = || {
        service
            .endpoints
            .iter()
            .map(|&e| &model.endpoints[e].service_time)
    };
    if service
        .endpoints
        .iter()
        .any(|&e| model.endpoints[e].after_time.is_some() || model.endpoints[e].cpu_time.is_some())
    {
        return false;
    }
    if times().all(|t| t.is_zero()) {
        return true;
    }
    let first = model.endpoints[service.endpoints[0]].service_time.mean_ms();
    times().all(|t| t.is_exponential() && (t.mean_ms() - first).abs() < 1e-12)
}

/// Services ordered so that every callee comes before its callers (the call graph is acyclic).
fn callee_first_order(model: &Model) -> Vec<ServiceId> {
    let n = model.services.len();
    let mut callees: Vec<Vec<ServiceId>> = vec![Vec::new(); n];
    for e in &model.endpoints {
        for d in e.stages.iter().flatten() {
            callees[e.service].push(model.endpoints[d.target].service);
        }
    }
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    fn visit(s: usize, callees: &[Vec<usize>], done: &mut [bool], order: &mut Vec<usize>) {
        if done[s] {
            return;
        }
        done[s] = true;
        for &t in &callees[s] {
            visit(t, callees, done, order);
        }
        order.push(s);
    }
    for s in 0..n {
        visit(s, &callees, &mut done, &mut order);
    }
    order
}
