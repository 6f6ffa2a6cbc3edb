//! Large models made to measure: layered call graphs of any size, the shape real traced systems
//! have (Alibaba's traces, a company's Jaeger), for the scale benchmarks and profiling
//! (`meshsim generate`, hidden from `--help`). The same arguments always give the same text.
//!
//! Services sit in layers; each has two endpoints, each endpoint 0–3 calls in one or two stages
//! to endpoints of the next two layers (none from the last layer), and every service below the
//! first is called by at least one above it; every caller → callee pair has a link; routes go
//! to endpoints in order, from the first layer on. Each service gets the fewest instances that
//! keep it at or under 50% utilisation at the given rate (from the visits each endpoint
//! receives), and at least one. The load spreads thin: at 10,000 services and 20,000 requests/s
//! every service has one instance, the busiest at 15% and 98% of them under 5%.

use crate::engine::SimRng;
use rand::{RngExt, SeedableRng};
use std::fmt::Write;

/// What to generate.
#[derive(Clone, Debug)]
pub struct Spec {
    pub services: usize,
    pub routes: usize,
    pub rate_per_s: f64,
    pub duration_s: f64,
    pub seed: u64,
}

impl Spec {
    /// What is wrong with it, if anything, in the words of `meshsim generate`'s options: a
    /// spec [`layered`] cannot make (it needs two services, and routes to at most every
    /// endpoint) or whose model the loader would refuse.
    pub fn check(&self) -> Result<(), String> {
        if self.services < 2 {
            return Err(format!(
                "--services: at least 2 (the layers need two services to call one another), got {}",
                self.services
            ));
        }
        if !(1..=2 * self.services).contains(&self.routes) {
            return Err(format!(
                "--routes: from 1 to twice --services ({}: each route goes to an endpoint of its own, two a service), got {}",
                2 * self.services,
                self.routes
            ));
        }
        if !(self.rate_per_s.is_finite() && self.rate_per_s > 0.0) {
            return Err(format!(
                "--rate: requests per second > 0, got {}",
                self.rate_per_s
            ));
        }
        if !(self.duration_s.is_finite() && self.duration_s > 0.0) {
            return Err(format!(
                "--duration: simulated seconds > 0, got {}",
                self.duration_s
            ));
        }
        Ok(())
    }
}

/// Layers of the call graph.
const LAYERS: usize = 6;
/// Workers per instance.
const WORKERS: u32 = 4;
/// Target utilisation per instance.
const TARGET: f64 = 0.5;

struct Endpoint {
    service_ms: f64,
    /// Stages of callee endpoint indices (service × 2 + endpoint).
    stages: Vec<Vec<usize>>,
}

/// The model text for `spec`, which [`Spec::check`] accepts.
pub fn layered(spec: &Spec) -> String {
    debug_assert_eq!(spec.check(), Ok(()), "{spec:?}");
    let (n, routes) = (spec.services, spec.routes);
    let mut rng = SimRng::seed_from_u64(spec.seed);
    let mut endpoints: Vec<Endpoint> = Vec::with_capacity(2 * n);
    for layer in 0..LAYERS {
        let deeper = (layer + 1..LAYERS.min(layer + 3))
            .flat_map(|l| layer_range(n, l))
            .collect::<Vec<_>>();
        for _ in layer_range(n, layer) {
            for _ in 0..2 {
                let calls = if deeper.is_empty() {
                    0
                } else {
                    rng.random_range(0..=3usize)
                };
                let targets: Vec<usize> = (0..calls)
                    .map(|_| 2 * deeper[rng.random_range(0..deeper.len())] + rng.random_range(0..2))
                    .collect();
                let split = if calls > 1 && rng.random_bool(0.5) {
                    rng.random_range(1..calls)
                } else {
                    calls
                };
                let mut stages = vec![targets[..split].to_vec()];
                if split < calls {
                    stages.push(targets[split..].to_vec());
                }
                stages.retain(|s| !s.is_empty());
                endpoints.push(Endpoint {
                    service_ms: 0.5 + 2.5 * rng.random::<f64>(),
                    stages,
                });
            }
        }
    }
    // Every service below the first layer gets at least one caller: an endpoint of the layer
    // above calls one of its endpoints in a stage of its own.
    let mut called = vec![false; n];
    for e in &endpoints {
        for &t in e.stages.iter().flatten() {
            called[t / 2] = true;
        }
    }
    for layer in 1..LAYERS {
        let above = layer_range(n, layer - 1);
        for s in layer_range(n, layer) {
            if !called[s] && !above.is_empty() {
                let caller = 2 * rng.random_range(above.clone()) + rng.random_range(0..2);
                let callee = 2 * s + rng.random_range(0..2);
                endpoints[caller].stages.push(vec![callee]);
            }
        }
    }
    // Visits per second to each endpoint: the routes spread the rate evenly, then each call
    // carries its caller's visits down (calls only go to deeper layers, so one pass in order).
    let mut visits = vec![0.0; endpoints.len()];
    for v in visits.iter_mut().take(routes) {
        *v += spec.rate_per_s / routes as f64;
    }
    for e in 0..endpoints.len() {
        let v = visits[e];
        for &t in endpoints[e].stages.iter().flatten() {
            visits[t] += v;
        }
    }
    let mut t = String::with_capacity(500 * n);
    let _ = writeln!(
        t,
        "# Generated by `meshsim generate --services {} --routes {routes} --rate {} --seed {}`: a layered call graph.\nname = \"generated-{}\"\n\n[simulation]\nduration_s = {}\nwarmup_s = {}\nseed = {}\n\n[workload]\ntype = \"open\"\nrate_per_s = {}\n",
        spec.services,
        spec.rate_per_s,
        spec.seed,
        spec.services,
        spec.duration_s,
        spec.duration_s / 10.0,
        spec.seed,
        spec.rate_per_s
    );
    for r in 0..routes {
        let _ = writeln!(t, "[[workload.mix]]\nroute = \"{}\"\n", endpoint_name(r));
    }
    let gateway_workers = ((spec.rate_per_s * 0.1e-3) / TARGET).ceil().max(1.0) as u32;
    let _ = writeln!(
        t,
        "[gateway]\nworkers = {}\nservice_ms = 0.1\n",
        gateway_workers
    );
    let mut linked = std::collections::HashSet::new();
    let mut links = String::new();
    for s in 0..n {
        let work: f64 = (0..2)
            .map(|k| visits[2 * s + k] * endpoints[2 * s + k].service_ms / 1e3)
            .sum();
        let instances = (work / (f64::from(WORKERS) * TARGET)).ceil().max(1.0) as u32;
        let _ = writeln!(
            t,
            "[services.s{s}]\ninstances = {instances}\nworkers = {WORKERS}\n"
        );
        for k in 0..2 {
            let e = &endpoints[2 * s + k];
            let _ = writeln!(
                t,
                "[services.s{s}.endpoints.e{k}]\nservice_ms = {{ dist = \"exponential\", mean_ms = {:.3} }}\nrequest_bytes = 400\nresponse_bytes = 1200",
                e.service_ms
            );
            if !e.stages.is_empty() {
                let stages: Vec<String> = e
                    .stages
                    .iter()
                    .map(|st| {
                        let calls: Vec<String> = st
                            .iter()
                            .map(|&c| format!("\"{}\"", endpoint_name(c)))
                            .collect();
                        format!("[{}]", calls.join(", "))
                    })
                    .collect();
                let _ = writeln!(t, "calls = [{}]", stages.join(", "));
            }
            t.push('\n');
            for &c in e.stages.iter().flatten() {
                let callee = c / 2;
                if callee != s && linked.insert((s, callee)) {
                    let _ = writeln!(
                        links,
                        "[links.s{s}_s{callee}]\nbetween = [\"s{s}\", \"s{callee}\"]\nlatency_ms = {:.3}\nbandwidth_mbps = 1000\n",
                        0.1 + 0.4 * rng.random::<f64>()
                    );
                }
            }
        }
    }
    for r in 0..routes {
        let s = r / 2;
        if linked.insert((usize::MAX, s)) {
            let _ = writeln!(
                links,
                "[links.gateway_s{s}]\nbetween = [\"gateway\", \"s{s}\"]\nlatency_ms = 0.2\nbandwidth_mbps = 1000\n"
            );
        }
    }
    t.push_str(&links);
    t
}

/// `service.endpoint` of endpoint index `e`.
fn endpoint_name(e: usize) -> String {
    format!("s{}.e{}", e / 2, e % 2)
}

/// Relative sizes of the layers: the first holds a seventh of the services (routes go there, so
/// 3,000 routes need 1,500 services of 10,000), deeper ones a little more each.
const WEIGHTS: [usize; LAYERS] = [3, 3, 3, 4, 4, 4];

/// The services of `layer`.
fn layer_range(n: usize, layer: usize) -> std::ops::Range<usize> {
    let total: usize = WEIGHTS.iter().sum();
    let start = |l: usize| n * WEIGHTS[..l].iter().sum::<usize>() / total;
    start(layer)..start(layer + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_model_loads_with_its_services_and_routes() {
        let spec = Spec {
            services: 120,
            routes: 30,
            rate_per_s: 500.0,
            duration_s: 2.0,
            seed: 3,
        };
        let text = layered(&spec);
        assert_eq!(text, layered(&spec), "the same spec gives the same text");
        let model =
            crate::model::load_str(&text, "gen.toml", std::path::Path::new("."), &[]).unwrap();
        assert_eq!(model.services.len(), 121);
        assert_eq!(model.routes.len(), 30);
        let load = crate::analysis::offered_load(&model);
        let busiest = load.busiest();
        assert!(
            busiest < 0.75,
            "instances sized for at most 50%: busiest {busiest}"
        );
    }

    /// What the generator would have bent or the loader refused is refused, naming the option;
    /// the smallest and largest specs it accepts give models that load.
    #[test]
    fn a_spec_out_of_range_is_refused_and_its_bounds_load() {
        let spec = Spec {
            services: 10,
            routes: 20,
            rate_per_s: 100.0,
            duration_s: 1.0,
            seed: 1,
        };
        assert_eq!(spec.check(), Ok(()));
        let bad = [
            (
                Spec {
                    services: 1,
                    ..spec.clone()
                },
                "--services",
            ),
            (
                Spec {
                    routes: 0,
                    ..spec.clone()
                },
                "--routes",
            ),
            (
                Spec {
                    routes: 21,
                    ..spec.clone()
                },
                "--routes",
            ),
            (
                Spec {
                    rate_per_s: 0.0,
                    ..spec.clone()
                },
                "--rate",
            ),
            (
                Spec {
                    rate_per_s: f64::NAN,
                    ..spec.clone()
                },
                "--rate",
            ),
            (
                Spec {
                    duration_s: -1.0,
                    ..spec.clone()
                },
                "--duration",
            ),
        ];
        for (spec, option) in bad {
            let err = spec.check().unwrap_err();
            assert!(err.starts_with(option), "{spec:?}: {err}");
        }
        for spec in [
            Spec {
                services: 2,
                routes: 1,
                ..spec.clone()
            },
            Spec {
                services: 2,
                routes: 4,
                ..spec.clone()
            },
        ] {
            assert_eq!(spec.check(), Ok(()));
            let text = layered(&spec);
            let model = crate::model::load_str(&text, "gen.toml", std::path::Path::new("."), &[])
                .unwrap_or_else(|e| panic!("{spec:?}: {e}"));
            assert_eq!(model.routes.len(), spec.routes, "{spec:?}");
        }
    }
}
