//! The call graph resolved once for a run: what a stage's loop needs about each call it makes,
//! without following the model from endpoint to service to edge to link at every call.

use super::network::direction_table;
use crate::engine::{SimRng, SimTime};
use crate::model::pairs::PairTable;
use crate::model::{CallCount, Dist, Downstream, Inline, Model};

/// One downstream call an endpoint makes, resolved.
#[derive(Clone, Copy, Debug)]
pub struct Hop {
    /// The endpoint called.
    pub endpoint: u32,
    /// Its service.
    pub service: u32,
    /// The edge of the call graph the call travels (index into `model.edges`).
    pub edge: u32,
    /// The transmitter carrying the request, or `None` when caller and callee talk in-process.
    pub direction: Option<u32>,
    /// Size of the request message.
    pub request_bytes: u64,
    /// The chance the call is made (1 for a plain call).
    pub probability: f64,
    /// Copies made when it is made: always this many, or drawn from `Plan::count(hop)` when
    /// [`RANDOM_COUNT`].
    pub copies: u32,
    /// The caller waits for it (false: fire-and-forget).
    pub awaited: bool,
    /// The edge has no timeout, retry, hedge, circuit breaker or bulkhead (its policy is
    /// plain), copied here so that sending a call branches on the hop already loaded rather
    /// than on the edge's record, a cache miss in large models.
    pub plain: bool,
}

/// The edge of the call graph from `from` to `to` (its index in `model.edges`), for each pair
/// of services that call each other.
pub fn edge_table(model: &Model) -> PairTable {
    let pairs = (model.edges.iter().enumerate()).map(|(i, e)| (e.from, e.to, i as u32));
    PairTable::from_pairs(model.services.len(), pairs)
}

/// `Hop::copies` of a call whose count is drawn.
pub const RANDOM_COUNT: u32 = u32::MAX;

/// One stage's calls (a range of [`Plan::hops`]), and whether any of them needs a random draw.
#[derive(Clone, Copy)]
struct Stage {
    /// Its calls: `hops[first..first + len]`.
    first: u32,
    len: u32,
    /// Calls the caller waits for, when the stage does not vary.
    awaited: u32,
    /// Some call is made only sometimes, or a drawn number of times.
    varies: bool,
}

/// What a call of one endpoint needs from it after its processing, in one 24-byte record: its
/// stages, whether it fails, how large its response is. In large models the model's own
/// `Endpoint` records are spread over several cache lines each, and reading these three from
/// them cost a cache miss per call at the end of its processing.
#[derive(Clone, Copy)]
struct EndpointPlan {
    /// Its first stage in `Plan::stages`.
    first_stage: u32,
    stages: u32,
    error_probability: f64,
    response_bytes: u64,
}

/// Where a call's processing time is drawn from: a distribution of the model (`Inline`: the
/// plan's copy of it, when it is one of the common families), or the work after the calls, or
/// a released version's time.
#[derive(Clone, Copy)]
pub struct Work<'m> {
    pub inline: Inline,
    pub dist: &'m Dist,
}

impl Work<'_> {
    /// Drawn from the model's `dist` itself.
    pub fn of(dist: &Dist) -> Work<'_> {
        Work {
            inline: Inline::Elsewhere,
            dist,
        }
    }

    /// A draw (the same as `dist.sample`).
    #[inline(always)]
    pub fn sample(self, rng: &mut SimRng) -> SimTime {
        self.inline.sample_or(self.dist, rng)
    }
}

/// Per endpoint, per stage: its calls, in the model's order.
///
/// Flat: every endpoint's stages in one vector and every stage's calls in another, so that
/// finding a stage's calls is three loads from dense arrays rather than a chain through an
/// allocation per endpoint and per stage (models of thousands of endpoints miss the cache on
/// each link of such a chain).
pub struct Plan {
    /// Per endpoint: where its stages are, and what answering a call needs.
    endpoints: Vec<EndpointPlan>,
    /// Per endpoint: its processing time, when inline (a dense vector where the model's
    /// `Endpoint` records hold their distributions a cache line or more in, in records a large
    /// model has thousands of).
    work: Vec<Inline>,
    stages: Vec<Stage>,
    hops: Vec<Hop>,
    /// Endpoint `e`'s calls (all its stages') are `hops[first_hop[e]..first_hop[e + 1]]`: a
    /// dense index (4 bytes an endpoint, which stays in the cache) that finds them without
    /// loading the endpoint's record first, so that both can be prefetched at once.
    first_hop: Vec<u32>,
    /// Per hop: the drawn count, for hops with [`RANDOM_COUNT`] copies.
    counts: Vec<Option<CallCount>>,
    /// The transmitter from one service to another, which the hops were resolved with and
    /// each run's [`super::network::Network`] is given (built once: a large model's table is
    /// a sort of 53,000 directions).
    pub directions: PairTable,
}

impl Plan {
    /// Resolves every stage of every endpoint of `model`.
    pub fn new(model: &Model) -> Plan {
        let mut plan = Plan {
            endpoints: Vec::with_capacity(model.endpoints.len()),
            work: model
                .endpoints
                .iter()
                .map(|e| e.service_time.inline())
                .collect(),
            stages: Vec::new(),
            hops: Vec::new(),
            first_hop: Vec::with_capacity(model.endpoints.len() + 1),
            counts: Vec::new(),
            directions: direction_table(model),
        };
        let edge_of = edge_table(model);
        let hop = |caller: usize, call: &Downstream| {
            let callee = &model.endpoints[call.target];
            let edge = edge_of.get(caller, callee.service);
            Hop {
                endpoint: call.target as u32,
                service: callee.service as u32,
                edge: edge.unwrap_or(u32::MAX),
                plain: edge.is_none_or(|e| model.edges[e as usize].policy.is_plain()),
                direction: plan.directions.get(caller, callee.service),
                request_bytes: callee.request_bytes,
                probability: call.probability,
                copies: match call.count {
                    CallCount::Fixed(k) => k,
                    _ => RANDOM_COUNT,
                },
                awaited: call.is_awaited(),
            }
        };
        for e in &model.endpoints {
            plan.first_hop.push(plan.hops.len() as u32);
            plan.endpoints.push(EndpointPlan {
                first_stage: plan.stages.len() as u32,
                stages: e.stages.len() as u32,
                error_probability: e.error_probability,
                response_bytes: e.response_bytes,
            });
            for calls in &e.stages {
                plan.stages.push(Stage {
                    first: plan.hops.len() as u32,
                    len: calls.len() as u32,
                    awaited: calls.iter().filter(|c| c.is_awaited()).count() as u32,
                    varies: calls.iter().any(|c| !c.is_once()),
                });
                plan.hops.extend(calls.iter().map(|c| hop(e.service, c)));
                plan.counts.extend(
                    calls
                        .iter()
                        .map(|c| c.count.is_random().then(|| c.count.clone())),
                );
            }
        }
        plan.first_hop.push(plan.hops.len() as u32);
        plan
    }

    /// Stage `stage` of `endpoint`.
    #[inline(always)]
    fn at(&self, endpoint: u32, stage: usize) -> Stage {
        self.stages[self.endpoints[endpoint as usize].first_stage as usize + stage]
    }

    /// The calls of stage `stage` of `endpoint`.
    #[inline(always)]
    pub fn stage(&self, endpoint: u32, stage: usize) -> &[Hop] {
        let s = self.at(endpoint, stage);
        &self.hops[s.first as usize..(s.first + s.len) as usize]
    }

    /// How many calls of stage `stage` of `endpoint` the caller waits for (a stage that does
    /// not vary: fire-and-forget calls are not waited for).
    #[inline(always)]
    pub fn awaited(&self, endpoint: u32, stage: usize) -> usize {
        self.at(endpoint, stage).awaited as usize
    }

    /// Whether stage `stage` of `endpoint` has calls made sometimes or several times.
    #[inline(always)]
    pub fn varies(&self, endpoint: u32, stage: usize) -> bool {
        self.at(endpoint, stage).varies
    }

    /// The drawn count of call `k` of a stage, for a hop with [`RANDOM_COUNT`] copies.
    pub fn count(&self, endpoint: u32, stage: usize, k: usize) -> &CallCount {
        self.counts[self.at(endpoint, stage).first as usize + k]
            .as_ref()
            .expect("only hops with RANDOM_COUNT copies ask for their count")
    }

    /// How many stages `endpoint` has.
    #[inline(always)]
    pub fn stages(&self, endpoint: u32) -> usize {
        self.endpoints[endpoint as usize].stages as usize
    }

    /// The probability that a call of `endpoint` answers with an error after its processing.
    #[inline(always)]
    pub fn error_probability(&self, endpoint: u32) -> f64 {
        self.endpoints[endpoint as usize].error_probability
    }

    /// Where the processing time of a call of `endpoint` is drawn from (`time` is its
    /// distribution in the model).
    #[inline(always)]
    pub fn work<'m>(&self, endpoint: u32, time: &'m Dist) -> Work<'m> {
        Work {
            inline: self.work[endpoint as usize],
            dist: time,
        }
    }

    /// Starts loading what a call of `endpoint` reads when it is served (its processing time).
    #[inline(always)]
    pub fn prefetch_work(&self, endpoint: u32) {
        if let Some(w) = self.work.get(endpoint as usize) {
            crate::engine::prefetch(w);
        }
    }

    /// Starts loading what a call of `endpoint` reads when its processing ends (its stages,
    /// error probability and response size).
    #[inline(always)]
    pub fn prefetch_endpoint(&self, endpoint: u32) {
        if let Some(e) = self.endpoints.get(endpoint as usize) {
            crate::engine::prefetch(e);
        }
    }

    /// Starts loading the record of stage `stage` of `endpoint` (whose own record should be in
    /// the cache already: see [`Plan::prefetch_endpoint`]).
    #[inline(always)]
    pub fn prefetch_stage(&self, endpoint: u32, stage: usize) {
        if let Some(e) = self.endpoints.get(endpoint as usize)
            && let Some(s) = self.stages.get(e.first_stage as usize + stage)
        {
            crate::engine::prefetch(s);
        }
    }

    /// Every call of `endpoint`, all its stages' in order.
    #[inline(always)]
    pub fn calls(&self, endpoint: u32) -> &[Hop] {
        let e = endpoint as usize;
        match (self.first_hop.get(e), self.first_hop.get(e + 1)) {
            (Some(&first), Some(&end)) => &self.hops[first as usize..end as usize],
            _ => &[],
        }
    }

    /// Starts loading the calls of `endpoint` (at most four lines of them).
    #[inline(always)]
    pub fn prefetch_calls(&self, endpoint: u32) {
        crate::engine::prefetch_slice(self.calls(endpoint), 4);
    }

    /// The size of `endpoint`'s response message.
    #[inline(always)]
    pub fn response_bytes(&self, endpoint: u32) -> u64 {
        self.endpoints[endpoint as usize].response_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::load_builtin;
    use crate::sim::network::{Network, opposite};

    /// Each resolved call names its endpoint's service, the edge from caller to callee, and the
    /// transmitter the network would pick; the opposite of that transmitter is the one the
    /// network picks for the response (what a call keeps as `Call::back`).
    /// In the built-in model (a dense table of directions) and a generated one of 1,100
    /// services (a sparse table).
    #[test]
    fn hops_agree_with_the_model_and_the_network() {
        let generated = crate::model::generate::layered(&crate::model::generate::Spec {
            services: 1_100,
            routes: 50,
            rate_per_s: 1_000.0,
            duration_s: 1.0,
            seed: 1,
        });
        let generated =
            crate::model::load_str(&generated, "generated", std::path::Path::new("."), &[])
                .unwrap();
        for (model, least) in [(load_builtin(&[]).unwrap(), 2), (generated, 1_000)] {
            let plan = Plan::new(&model);
            let network = Network::new(&model);
            let mut hops = 0;
            for (e, endpoint) in model.endpoints.iter().enumerate() {
                assert_eq!(plan.stages(e as u32), endpoint.stages.len());
                for (s, targets) in endpoint.stages.iter().enumerate() {
                    let resolved = plan.stage(e as u32, s);
                    assert_eq!(resolved.len(), targets.len());
                    for (hop, call) in resolved.iter().zip(targets) {
                        let t = call.target;
                        let callee = &model.endpoints[t];
                        assert_eq!(hop.endpoint as usize, t);
                        assert_eq!(hop.service as usize, callee.service);
                        let edge = &model.edges[hop.edge as usize];
                        assert_eq!((edge.from, edge.to), (endpoint.service, callee.service));
                        assert_eq!(
                            hop.direction.map(|d| d as usize),
                            network.direction(endpoint.service, callee.service)
                        );
                        assert_eq!(
                            hop.direction.map(|d| opposite(d) as usize),
                            network.direction(callee.service, endpoint.service)
                        );
                        assert_eq!(hop.request_bytes, callee.request_bytes);
                        hops += usize::from(hop.direction.is_some());
                    }
                }
            }
            assert!(
                hops >= least,
                "{hops} calls over links, where the model has at least {least}"
            );
        }
    }
}
