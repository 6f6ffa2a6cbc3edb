//! The call graph resolved once for a run: what a stage's loop needs about each call it makes,
//! without following the model from endpoint to service to edge to link at every call.

use super::network::direction_table;
use crate::model::{EndpointId, Model};

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
}

/// Per endpoint, per stage: its calls, in the model's order.
pub struct Plan {
    stages: Vec<Vec<Box<[Hop]>>>,
}

impl Plan {
    /// Resolves every stage of every endpoint of `model`.
    pub fn new(model: &Model) -> Plan {
        let n = model.services.len();
        let directions = direction_table(model);
        let mut edge_of = vec![u32::MAX; n * n];
        for (i, e) in model.edges.iter().enumerate() {
            edge_of[e.from * n + e.to] = i as u32;
        }
        let hop = |caller: usize, target: EndpointId| {
            let callee = &model.endpoints[target];
            Hop {
                endpoint: target as u32,
                service: callee.service as u32,
                edge: edge_of[caller * n + callee.service],
                direction: Some(directions[caller * n + callee.service]).filter(|&d| d != u32::MAX),
                request_bytes: callee.request_bytes,
            }
        };
        let stages = model
            .endpoints
            .iter()
            .map(|e| {
                e.stages
                    .iter()
                    .map(|targets| targets.iter().map(|&t| hop(e.service, t)).collect())
                    .collect()
            })
            .collect();
        Plan { stages }
    }

    /// The calls of stage `stage` of `endpoint`.
    #[inline(always)]
    pub fn stage(&self, endpoint: u32, stage: usize) -> &[Hop] {
        &self.stages[endpoint as usize][stage]
    }

    /// How many stages `endpoint` has.
    #[inline(always)]
    pub fn stages(&self, endpoint: u32) -> usize {
        self.stages[endpoint as usize].len()
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
                for (hop, &t) in resolved.iter().zip(targets) {
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
