//! Closed workloads: Mean Value Analysis with think time as a delay station. Exact for
//! single-server FCFS stations with exponential service; multi-server stations use Seidmann's
//! approximation, and every other departure from product form is named.

use super::network::{Network, exponential_service};
use super::open::route_quality;
use super::{Analysis, LinkAnalysis, Quality, RouteAnalysis, StationAnalysis};
use crate::model::{LoadBalancer, Model};

pub fn analyze_closed(model: &Model, users: u32, think_ms: f64) -> Analysis {
    let net = Network::new(model);
    let n_st = model.services.len();
    let n_dir = net.directions.len();
    // Mean number at each instance's queueing part, and at each link transmitter.
    let mut q = vec![0.0; n_st];
    let mut q_link = vec![0.0; n_dir];
    let tx: Vec<(f64, f64)> = net.directions.iter().map(|d| d.tx_moments()).collect();
    let mut held = vec![(0.0, 0.0); n_st]; // (visits, mean held ms)
    let mut x = 0.0; // requests per ms
    let mut times = None;
    for n in 1..=users {
        let link_wait: Vec<f64> = (0..n_dir).map(|d| q_link[d] * tx[d].0).collect();
        let t = net.evaluate(&link_wait, |s, h| {
            held[s] = (h.visits, h.mean_ms);
            let c = f64::from(model.services[s].workers);
            // Seidmann: a c-server station as one server c times faster plus a delay; the
            // arrival theorem puts q[s] calls ahead of an arriving one.
            q[s] * h.mean_ms / c
        });
        let response: f64 = model
            .routes
            .iter()
            .map(|r| r.probability * t.response_ms[r.gateway_endpoint])
            .sum();
        x = f64::from(n) / (think_ms + response);
        for s in 0..n_st {
            let service = &model.services[s];
            let (v, h) = held[s];
            let per_instance = v / f64::from(service.instances);
            q[s] = x * per_instance * h / f64::from(service.workers) * (1.0 + q[s]);
        }
        for d in 0..n_dir {
            q_link[d] = x * net.directions[d].visits() * tx[d].0 * (1.0 + q_link[d]);
        }
        times = Some(t);
    }
    let times = times.expect("users ≥ 1");
    let stations: Vec<StationAnalysis> = (0..n_st)
        .map(|s| station(&net, s, x, held[s], q[s], users))
        .collect();
    let links: Vec<LinkAnalysis> = net
        .directions
        .iter()
        .enumerate()
        .map(|(d, dir)| {
            let mut quality = Quality::exact();
            if tx[d].0 > 0.0 {
                quality.approx("link serialisation as an exponential server in MVA");
            }
            if dir.loss > 0.0 {
                quality.cannot("message loss and retransmission");
            }
            let msgs = x * dir.visits();
            LinkAnalysis {
                link: model.links[dir.link].name.clone(),
                from: model.services[dir.from].name.clone(),
                to: model.services[dir.to].name.clone(),
                utilisation: msgs * tx[d].0,
                // Little's law on the transmitter (wait + serialisation), then propagation.
                mean_delay_ms: if msgs > 0.0 {
                    q_link[d] / msgs
                } else {
                    tx[d].0
                } + dir.latency_mean_ms,
                quality,
            }
        })
        .collect();
    let mut throughput_quality = Quality::exact();
    for s in &stations {
        throughput_quality.merge(&s.quality);
    }
    for l in &links {
        throughput_quality.merge(&l.quality);
    }
    if net.has_fork_join {
        throughput_quality.approx("fork-join: max of branches as shifted exponentials");
    }
    let routes = model
        .routes
        .iter()
        .map(|r| {
            let quality = route_quality(&net, r.gateway_endpoint, &stations, &links);
            RouteAnalysis {
                route: r.name.clone(),
                mean_response_ms: if quality.is_available() {
                    times.response_ms[r.gateway_endpoint]
                } else {
                    f64::NAN
                },
                quality,
            }
        })
        .collect();
    Analysis {
        throughput_per_s: x * 1000.0,
        throughput_quality,
        method: format!("closed network, Mean Value Analysis with {users} users"),
        routes,
        stations,
        links,
    }
}

fn station(
    net: &Network,
    s: usize,
    x: f64,
    (visits, h): (f64, f64),
    q: f64,
    users: u32,
) -> StationAnalysis {
    let service = &net.model.services[s];
    let c = f64::from(service.workers);
    let instances = f64::from(service.instances);
    let mut quality = Quality::exact();
    if service.workers > 1 {
        quality.approx("multi-server station by Seidmann's approximate MVA");
    }
    if !exponential_service(net.model, s) {
        quality.approx("non-exponential or class-dependent service in MVA");
    }
    if service.blocking {
        quality.approx("blocking workers: held time as service time");
    }
    if service.instances > 1 && service.load_balancer != LoadBalancer::Random {
        quality.approx(format!(
            "{} split as random routing",
            service.load_balancer.as_str()
        ));
    }
    if let Some(k) = service.queue_capacity
        && u64::from(k) + u64::from(service.workers) < u64::from(users)
    {
        quality.cannot(format!("queue_capacity {k} may reject with {users} users"));
    }
    // Per instance: q calls in the (Seidmann) queueing part, of which x·v·h/c are in service.
    let arrivals = x * visits / instances;
    let in_service = arrivals * h / c;
    let waiting = (q - in_service).max(0.0);
    StationAnalysis {
        name: service.name.clone(),
        arrival_rate_per_s: x * visits * 1000.0,
        utilisation: in_service,
        mean_queue_length: waiting * instances,
        // Little's law on the waiting line.
        mean_wait_ms: if arrivals > 0.0 {
            waiting / arrivals
        } else {
            0.0
        },
        quality,
    }
}
