//! Closed workloads: exact Mean Value Analysis with think time as a delay station.
//!
//! Single-server stations use the classic recursion; multi-server stations the exact
//! load-dependent recursion over the marginal queue-length distribution (Reiser & Lavenberg),
//! or Seidmann's approximation beyond [`EXACT_MULTISERVER_USERS`] users. Every departure from
//! product form is named on the numbers it affects.

use super::network::{Network, exponential_service};
use super::open::route_quality;
use super::{Analysis, LinkAnalysis, Quality, RouteAnalysis, StationAnalysis};
use crate::model::Model;

/// Largest population solved with the exact (O(N²)) multi-server recursion.
pub const EXACT_MULTISERVER_USERS: u32 = 2_000;

/// Queue-length state of one instance of a station during the recursion.
struct StationState {
    servers: u32,
    /// Marginal distribution of calls at the instance, P(j | n), for exact multi-server MVA.
    marginal: Vec<f64>,
    /// Mean calls at the instance (single-server and Seidmann).
    mean: f64,
    exact: bool,
}

impl StationState {
    fn new(servers: u32, users: u32) -> Self {
        let exact = servers == 1 || users <= EXACT_MULTISERVER_USERS;
        let marginal = if servers > 1 && exact {
            vec![1.0]
        } else {
            Vec::new()
        };
        StationState {
            servers,
            marginal,
            mean: 0.0,
            exact,
        }
    }

    /// Mean wait of an arriving call (arrival theorem: it sees the state with one call fewer),
    /// given the mean held time `h`.
    fn wait(&self, h: f64) -> f64 {
        let c = f64::from(self.servers);
        if self.servers == 1 {
            return h * self.mean;
        }
        if !self.exact {
            // Seidmann: one server c times faster (plus a delay, inside the held time).
            return h / c * self.mean;
        }
        // Residence = h Σ_j (j / min(j, c)) P(j−1): waits only when j > c.
        let residence: f64 = self
            .marginal
            .iter()
            .enumerate()
            .map(|(j_minus_1, p)| {
                let j = j_minus_1 as f64 + 1.0;
                j / j.min(c) * p
            })
            .sum::<f64>()
            * h;
        residence - h
    }

    /// Advances the state from n−1 to n calls in the network, with `arrivals` calls per ms at
    /// the instance, each holding a worker `h` ms on average.
    fn update(&mut self, arrivals: f64, h: f64) {
        let c = f64::from(self.servers);
        if self.servers == 1 {
            self.mean = arrivals * h * (1.0 + self.mean);
        } else if !self.exact {
            self.mean = arrivals * h / c * (1.0 + self.mean);
        } else {
            let mut next = vec![0.0; self.marginal.len() + 1];
            for (i, (p, below)) in next[1..].iter_mut().zip(&self.marginal).enumerate() {
                let j = i + 1;
                *p = arrivals * h / (j as f64).min(c) * below;
            }
            next[0] = (1.0 - next[1..].iter().sum::<f64>()).max(0.0);
            self.mean = next.iter().enumerate().map(|(j, p)| j as f64 * p).sum();
            self.marginal = next;
        }
    }

    /// Mean number of calls waiting (not in service) at the instance.
    fn waiting(&self, arrivals: f64, h: f64) -> f64 {
        let c = f64::from(self.servers);
        if self.servers > 1 && self.exact {
            self.marginal
                .iter()
                .enumerate()
                .map(|(j, p)| (j as f64 - c).max(0.0) * p)
                .sum()
        } else {
            let in_service = arrivals * h / if self.exact { 1.0 } else { c };
            (self.mean - in_service).max(0.0)
        }
    }
}

pub fn analyze_closed(model: &Model, users: u32, think_ms: f64) -> Analysis {
    let net = Network::new(model);
    let n_dir = net.directions.len();
    let mut states: Vec<StationState> = model
        .services
        .iter()
        .map(|s| StationState::new(s.workers, users))
        .collect();
    let mut q_link = vec![0.0; n_dir];
    let tx: Vec<(f64, f64)> = net.directions.iter().map(|d| d.tx_moments()).collect();
    let mut held = vec![(0.0, 0.0); model.services.len()]; // (visits, mean held ms)
    let mut x = 0.0; // requests per ms
    let mut times = None;
    for n in 1..=users {
        let link_wait: Vec<f64> = (0..n_dir).map(|d| q_link[d] * tx[d].0).collect();
        let t = net.evaluate(&link_wait, |s, h| {
            held[s] = (h.visits, h.mean_ms);
            states[s].wait(h.mean_ms)
        });
        let response: f64 = model
            .routes
            .iter()
            .map(|r| r.probability * t.response_ms[r.gateway_endpoint])
            .sum();
        x = f64::from(n) / (think_ms + response);
        for (s, state) in states.iter_mut().enumerate() {
            let (v, h) = held[s];
            state.update(x * v / f64::from(model.services[s].instances), h);
        }
        for d in 0..n_dir {
            q_link[d] = x * net.directions[d].visits() * tx[d].0 * (1.0 + q_link[d]);
        }
        times = Some(t);
    }
    let times = times.expect("users ≥ 1");
    let links = links(&net, x, &q_link, &tx);
    let mut stations: Vec<StationAnalysis> = (0..model.services.len())
        .map(|s| station(&net, s, x, held[s], &states[s], users))
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
    // Utilisation is throughput × demand: as good as the throughput.
    for s in &mut stations {
        s.utilisation_quality.merge(&throughput_quality);
    }
    let routes = model
        .routes
        .iter()
        .map(|r| {
            let quality = route_quality(&net, r.gateway_endpoint, &stations, &links, &[]);
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
        hosts: Vec::new(),
        throughput_per_s: x * 1000.0,
        throughput_quality,
        method: format!("closed network, Mean Value Analysis with {users} users"),
        routes,
        stations,
        links,
    }
}

fn links(net: &Network, x: f64, q_link: &[f64], tx: &[(f64, f64)]) -> Vec<LinkAnalysis> {
    net.directions
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
                link: net.model.links[dir.link].name.clone(),
                from: net.model.services[dir.from].name.clone(),
                to: net.model.services[dir.to].name.clone(),
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
        .collect()
}

fn station(
    net: &Network,
    s: usize,
    x: f64,
    (visits, h): (f64, f64),
    state: &StationState,
    users: u32,
) -> StationAnalysis {
    let service = &net.model.services[s];
    let instances = f64::from(service.instances);
    let mut quality = Quality::exact();
    if !state.exact {
        quality.approx(format!("multi-server station by Seidmann's approximate MVA (over {EXACT_MULTISERVER_USERS} users)"));
    }
    if !exponential_service(net.model, s) {
        quality.approx("non-exponential or class-dependent service in MVA");
    }
    quality.add_structure(service, "as random routing");
    if !service.hosts.is_empty() {
        quality.approx(super::quality::CPU_SHARING);
    }
    if let Some(k) = service.queue_capacity
        && u64::from(k) + u64::from(service.workers) < u64::from(users)
    {
        quality.cannot(format!("queue_capacity {k} may reject with {users} users"));
    }
    let arrivals = x * visits / instances; // per instance, per ms
    let waiting = state.waiting(arrivals, h);
    let mut utilisation_quality = Quality::exact();
    if service.blocking {
        utilisation_quality.approx(super::quality::BLOCKING);
    }
    StationAnalysis {
        name: service.name.clone(),
        arrival_rate_per_s: x * visits * 1000.0,
        utilisation: arrivals * h / f64::from(service.workers),
        utilisation_quality,
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
