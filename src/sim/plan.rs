//! The call graph resolved once for a run: what a stage's loop needs about each call it makes,
//! without following the model from endpoint to service to edge to link at every call.

use super::network::direction_table;
use crate::model::pairs::PairTable;
use crate::model::{CallCount, Downstream, Model};

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

/// Per endpoint, per stage: its calls, in the model's order.
///
/// Flat: every endpoint's stages in one vector and every stage's calls in another, so that
/// finding a stage's calls is three loads from dense arrays rather than a chain through an
/// allocation per endpoint and per stage (models of thousands of endpoints miss the cache on
/// each link of such a chain).
pub struct Plan {
    /// Per endpoint, the index of its first stage in `stages`; one more entry ends the last.
    first_stage: Vec<u32>,
    stages: Vec<Stage>,
    hops: Vec<Hop>,
    /// Per hop: the drawn count, for hops with [`RANDOM_COUNT`] copies.
    counts: Vec<Option<CallCount>>,
}

impl Plan {
    /// Resolves every stage of every endpoint of `model`.
    pub fn new(model: &Model) -> Plan {
        let directions = direction_table(model);
        let mut edge_of = PairTable::new(model.services.len());
        for (i, e) in model.edges.iter().enumerate() {
            edge_of.insert(e.from, e.to, i as u32);
        }
        let hop = |caller: usize, call: &Downstream| {
            let callee = &model.endpoints[call.target];
            Hop {
                endpoint: call.target as u32,
                service: callee.service as u32,
                edge: edge_of.get(caller, callee.service).unwrap_or(u32::MAX),
                direction: directions.get(caller, callee.service),
                request_bytes: callee.request_bytes,
                probability: call.probability,
                copies: match call.count {
                    CallCount::Fixed(k) => k,
                    _ => RANDOM_COUNT,
                },
                awaited: call.is_awaited(),
            }
        };
        let mut plan = Plan {
            first_stage: Vec::with_capacity(model.endpoints.len() + 1),
            stages: Vec::new(),
            hops: Vec::new(),
            counts: Vec::new(),
        };
        for e in &model.endpoints {
            plan.first_stage.push(plan.stages.len() as u32);
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
        plan.first_stage.push(plan.stages.len() as u32);
        plan
    }

    /// Stage `stage` of `endpoint`.
    #[inline(always)]
    fn at(&self, endpoint: u32, stage: usize) -> Stage {
        self.stages[self.first_stage[endpoint as usize] as usize + stage]
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
        let e = endpoint as usize;
        (self.first_stage[e + 1] - self.first_stage[e]) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::load_builtin;
    use crate::sim::network::Network;

    /// Each resolved call names its endpoint's service, the edge from caller to callee, and the
    /// transmitter the network would pick.
    #[test]
    fn hops_agree_with_the_model_and_the_network() {
        let model = load_builtin(&[]).unwrap();
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
                    assert_eq!(hop.request_bytes, callee.request_bytes);
                    hops += usize::from(hop.direction.is_some());
                }
            }
        }
        assert!(
            hops >= 2,
            "the built-in gateway calls two services over links"
        );
    }
}
