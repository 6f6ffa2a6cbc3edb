//! Open workloads: each instance an M/M/c (or M/G/c) station fed by its share of the Poisson
//! arrivals, links as M/D/1 or M/G/1 transmitters, propagation as a pure delay. Exact for an open
//! Jackson network; otherwise every number names the approximation it rests on.

use super::hosts::{HostAnalysis, analyze_hosts};
use super::network::{Held, Network, exponential_service};
use super::queueing::{mgc_wait, mmc_prob_queue_at_least};
use super::{Analysis, LinkAnalysis, Quality, RouteAnalysis, StationAnalysis};
use crate::model::{GATEWAY, LoadBalancer, Model, ServiceId};

/// Rejection probability above which a finite queue makes the analysis meaningless.
const REJECTION_TOLERANCE: f64 = 1e-6;

pub fn analyze_open(model: &Model, rate_per_s: f64) -> Analysis {
    let mut net = Network::new(model);
    let (link_wait, links) = links(&net, rate_per_s);
    let poisson_in = poisson_inputs(&net);
    let hosts = analyze_hosts(model, &net.visits, rate_per_s, &poisson_in);
    // Each service's CPU work is stretched by its hosts' sharing, averaged over where its
    // instances are.
    for (s, service) in model.services.iter().enumerate() {
        if !service.hosts.is_empty() {
            net.cpu_stretch[s] = service
                .hosts
                .iter()
                .map(|&h| service.host_share(h) * hosts[h].stretch)
                .sum();
        }
    }
    let mut stations: Vec<Option<StationAnalysis>> = vec![None; model.services.len()];
    let times = net.evaluate(&link_wait, |s, held| {
        let mut st = station(&net, s, held, rate_per_s, poisson_in[s]);
        // The held time, and so the utilisation, rests on the host's stretch.
        for &h in &model.services[s].hosts {
            st.quality.merge(&hosts[h].quality);
            st.utilisation_quality.merge(&hosts[h].quality);
        }
        let wait = st.mean_wait_ms;
        stations[s] = Some(st);
        wait
    });
    let stations: Vec<StationAnalysis> = stations
        .into_iter()
        .map(|s| s.expect("every station is solved"))
        .collect();
    let routes = model
        .routes
        .iter()
        .map(|r| RouteAnalysis {
            route: r.name.clone(),
            mean_response_ms: times.response_ms[r.gateway_endpoint],
            quality: route_quality(&net, r.gateway_endpoint, &stations, &links, &hosts),
        })
        .map(|mut r| {
            if !r.quality.is_available() {
                r.mean_response_ms = f64::NAN;
            }
            r
        })
        .collect();
    Analysis {
        throughput_per_s: rate_per_s,
        throughput_quality: Quality::exact(),
        method: "open network (Jackson, M/M/c stations)".into(),
        routes,
        stations,
        links,
        hosts,
    }
}

/// Queueing delay per link direction, and each direction's analysis.
fn links(net: &Network, rate_per_s: f64) -> (Vec<f64>, Vec<LinkAnalysis>) {
    let lambda = rate_per_s / 1000.0; // requests per ms
    let mut waits = Vec::new();
    let mut out = Vec::new();
    for d in &net.directions {
        let mut quality = Quality::exact();
        let msgs = lambda * d.visits();
        let (tx, tx2) = d.tx_moments();
        let rho = msgs * tx;
        let mut wait = if rho < 1.0 {
            msgs * tx2 / (2.0 * (1.0 - rho))
        } else {
            f64::NAN
        };
        if tx > 0.0 {
            quality.approx(if d.one_size() {
                "link serialisation as M/D/1"
            } else {
                "link serialisation as M/G/1 (message-size mix)"
            });
        }
        if rho >= 1.0 {
            quality.cannot("link saturated (utilisation ≥ 1)");
        }
        if d.loss > 0.0 {
            quality.cannot("message loss and retransmission");
            wait = f64::NAN;
        }
        let link = &net.model.links[d.link];
        out.push(LinkAnalysis {
            link: link.name.clone(),
            from: net.model.services[d.from].name.clone(),
            to: net.model.services[d.to].name.clone(),
            utilisation: rho,
            mean_delay_ms: if msgs > 0.0 {
                wait + tx + d.latency_mean_ms
            } else {
                d.latency_mean_ms
            },
            quality,
        });
        waits.push(if wait.is_nan() { 0.0 } else { wait });
    }
    (waits, out)
}

/// Whether each service's arrivals are Poisson: the gateway's are; a service's are when every
/// call to it is made right after an exact M/M/c station's processing (Burke's theorem) with
/// independent routing.
fn poisson_inputs(net: &Network) -> Vec<bool> {
    let model = net.model;
    let n = model.services.len();
    let mut poisson = vec![true; n];
    // The stages that call each service: (caller endpoint, stage index), found in one pass.
    let mut stages_into: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (e, caller) in model.endpoints.iter().enumerate() {
        for (i, stage) in caller.stages.iter().enumerate() {
            for d in stage {
                let into = &mut stages_into[model.endpoints[d.target].service];
                if into.last() != Some(&(e, i)) {
                    into.push((e, i));
                }
            }
        }
    }
    // Callers before callees.
    for &s in net.order.iter().rev() {
        if s == GATEWAY {
            continue;
        }
        poisson[s] = stages_into[s].iter().all(|&(e, i)| {
            let caller = &model.endpoints[e];
            // A Poisson stream thinned by a probability stays Poisson; copies sent together
            // arrive in batches, which it is not.
            i == 0
                && poisson[caller.service]
                && exact_mmc(net, caller.service)
                && caller.stages[i].iter().all(|d| d.max_calls() == 1)
        });
    }
    poisson
}

/// Whether service `s` is an M/M/c station whose departures are Poisson given Poisson arrivals.
fn exact_mmc(net: &Network, s: ServiceId) -> bool {
    let service = &net.model.services[s];
    !service.blocking
        && service.queue_capacity.is_none_or(|k| k > 0)
        && (service.instances == 1 || service.load_balancer == LoadBalancer::Random)
        && exponential_service(net.model, s)
}

fn station(
    net: &Network,
    s: ServiceId,
    held: &Held,
    rate_per_s: f64,
    poisson_in: bool,
) -> StationAnalysis {
    let service = &net.model.services[s];
    let instances = f64::from(service.instances);
    let c = service.workers;
    let lambda = rate_per_s / 1000.0 * held.visits / instances; // per instance, per ms
    let h = held.mean_ms;
    let cv2 = held.cv2();
    let rho = lambda * h / f64::from(c);
    let mut quality = Quality::exact();
    let mut wait = if c == 1 {
        // Pollaczek–Khinchine, exact for M/G/1.
        lambda * held.second_ms2 / (2.0 * (1.0 - rho))
    } else {
        mgc_wait(c, lambda, h, cv2)
    };
    // (When calls almost never wait, as with ample workers, the approximation changes no digit.)
    if c > 1 && !held.exponential && wait > 1e-9 * held.mean_ms {
        quality.approx("M/G/c by Allen–Cunneen");
    }
    quality.add_structure(service, "treated as Poisson");
    if !poisson_in {
        quality.approx("non-Poisson arrivals treated as Poisson");
    }
    if rho >= 1.0 {
        quality.cannot("saturated (utilisation ≥ 1)");
        wait = f64::NAN;
    } else if let Some(k) = service.queue_capacity {
        let p = mmc_prob_queue_at_least(c, lambda * h, k);
        if p > REJECTION_TOLERANCE {
            quality.cannot(format!(
                "queue_capacity {k} rejects about {:.2}% of calls",
                100.0 * p
            ));
        }
    }
    let mut utilisation_quality = Quality::exact();
    if service.blocking {
        utilisation_quality.approx(super::quality::BLOCKING);
    }
    StationAnalysis {
        name: service.name.clone(),
        arrival_rate_per_s: rate_per_s * held.visits,
        utilisation: rho,
        utilisation_quality,
        mean_queue_length: lambda * wait * instances,
        mean_wait_ms: wait,
        quality,
    }
}

/// A route's response time rests on every station and link direction its calls touch.
pub fn route_quality(
    net: &Network,
    gateway_endpoint: usize,
    stations: &[StationAnalysis],
    links: &[LinkAnalysis],
    hosts: &[HostAnalysis],
) -> Quality {
    let mut q = Quality::exact();
    let reach = net.reachable(gateway_endpoint);
    for &e in &reach {
        let endpoint = &net.model.endpoints[e];
        q.merge(&stations[endpoint.service].quality);
        for call in endpoint.stages.iter().flatten() {
            let callee = net.model.endpoints[call.target].service;
            for d in [
                net.direction(endpoint.service, callee),
                net.direction(callee, endpoint.service),
            ]
            .into_iter()
            .flatten()
            {
                q.merge(&links[d].quality);
            }
        }
        if endpoint.stages.iter().any(|s| s.len() > 1) {
            q.approx("fork-join: max of branches as shifted exponentials");
        }
        if endpoint.after_time.is_some() {
            q.approx("work after calls: one more wait and service at the same station");
        }
        if endpoint.cpu_time.is_some() {
            // (Closed workloads have no host analysis: their stations carry the label.)
            for h in net.model.services[endpoint.service].hosts.iter() {
                if let Some(host) = hosts.get(*h) {
                    q.merge(&host.quality);
                }
            }
        }
        if endpoint.stages.iter().flatten().any(|d| !d.is_once()) {
            q.approx("calls made sometimes or repeatedly: each copy as a shifted exponential");
        }
    }
    q
}
