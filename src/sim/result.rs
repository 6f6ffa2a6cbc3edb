//! What a run measured, per route, service and link direction.

use super::Simulator;
use super::call::ErrorKind;
use crate::engine::SimTime;
use crate::stats::{LatencyRecorder, LatencyStats};
use std::sync::Arc;

/// Everything one simulation run measured over its measured window (after warm-up).
#[derive(Clone, Debug)]
pub struct RunResult {
    pub model: String,
    pub seed: u64,
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Length of the measured window: `duration_s - warmup_s`.
    pub measured_s: f64,
    /// One per route of the workload mix, in mix order.
    pub routes: Vec<RouteResult>,
    /// All routes together.
    pub all: RouteResult,
    /// The gateway first, then the services in file order.
    pub services: Vec<ServiceResult>,
    /// Two per link, one per direction.
    pub links: Vec<LinkResult>,
    /// One per `[hosts]` table, in file order.
    pub hosts: Vec<super::HostResult>,
    /// One per caller → callee edge of the call graph.
    pub edges: Vec<EdgeResult>,
    /// Autoscaling decisions, in time order (warm-up included).
    pub scaling: Vec<ScaleEvent>,
    /// The steps of the model's releases, in time order (warm-up included).
    pub deployments: Vec<super::DeployStep>,
    /// Calls finished per version of each released service, in the measured window.
    pub versions: Vec<super::VersionResult>,
    /// Instances ejected by outlier detection in the measured window.
    pub ejections: u64,
    /// Where the time of successful requests went, per route and then `all` (when asked for).
    pub breakdown: Vec<super::RouteBreakdown>,
    /// Events the engine handled.
    pub events: u64,
    /// Wall-clock time of the run.
    pub wall_s: f64,
    /// Most calls alive at once (a proxy for memory in use).
    pub peak_calls_in_flight: usize,
    /// Per-interval measurements, when asked for.
    pub timeseries: Option<super::TimeSeries>,
    /// The sampled requests' spans, by request number (when asked for).
    pub traces: Vec<super::Trace>,
    /// Why the run ended before `duration_s`, if it did; the results then cover
    /// [`warmup_s`, `end_s`].
    pub stopped: Option<super::Stop>,
    /// Simulated time at which the run ended: its duration, or where it stopped but not before
    /// the warm-up's end (where the measured window starts).
    pub end_s: f64,
    /// Simulated time at which a run that stopped early stopped (possibly during the warm-up).
    pub stopped_at_s: Option<f64>,
}

/// Requests of one route (or all) that arrived in the measured window.
#[derive(Clone, Debug)]
pub struct RouteResult {
    /// `service.endpoint`, or `all`.
    pub route: String,
    /// Requests that arrived in the measured window.
    pub requests: u64,
    /// Of those, completed successfully before the end of the run.
    pub completed: u64,
    /// Of those, completed with an error (rejected by a full queue, or a message given up).
    pub errors: u64,
    /// `errors` by kind, in [`ErrorKind::ALL`] order.
    pub errors_by_kind: [u64; ErrorKind::ALL.len()],
    /// Latencies of the successful requests, from scheduled arrival to response.
    pub latency: LatencyStats,
    /// The ages, at the end of the run, of the requests still in flight then (`None` when
    /// there were none): each will take at least that long, so percentiles over `latency` and
    /// these together are lower bounds on the true ones where completed-only percentiles are
    /// survivor-biased.
    pub backlog: Option<LatencyStats>,
    /// Whether the run this route belongs to was saturated (see [`saturated`]): the same for
    /// every route of a run.
    pub saturated: bool,
    pub measured_s: f64,
}

impl RouteResult {
    /// All of `routes` together, as the `all` row.
    pub fn all_of(routes: &[RouteResult], measured_s: f64) -> RouteResult {
        let mut latency = LatencyStats::new();
        for r in routes {
            latency.merge(&r.latency);
        }
        Self::all_with(routes, latency, measured_s)
    }

    /// [`RouteResult::all_of`], given the routes' latencies together (a run adds them up from
    /// its recorders: see [`LatencyRecorder::combined`]).
    fn all_with(routes: &[RouteResult], latency: LatencyStats, measured_s: f64) -> RouteResult {
        let mut all = RouteResult {
            route: "all".into(),
            requests: 0,
            completed: 0,
            errors: 0,
            errors_by_kind: [0; ErrorKind::ALL.len()],
            latency,
            backlog: None,
            saturated: false,
            measured_s,
        };
        for r in routes {
            if let Some(b) = &r.backlog {
                all.backlog.get_or_insert_with(LatencyStats::new).merge(b);
            }
            all.saturated |= r.saturated;
            all.requests += r.requests;
            all.completed += r.completed;
            all.errors += r.errors;
            for (a, b) in all.errors_by_kind.iter_mut().zip(&r.errors_by_kind) {
                *a += b;
            }
        }
        all
    }

    /// Requests still in flight when the run ended.
    pub fn in_flight_at_end(&self) -> u64 {
        self.requests - self.completed - self.errors
    }

    /// Requests in flight at the end as a share of the requests that arrived (0 when none did).
    pub fn backlog_share(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.in_flight_at_end() as f64 / self.requests as f64
        }
    }

    /// The latency quantile `q` counting each request still in flight at its age at the end:
    /// a lower bound on the true quantile. Equal to the completed-only one without a backlog.
    pub fn quantile_with_backlog_ms(&self, q: f64) -> f64 {
        match &self.backlog {
            None => self.latency.quantile_ms(q),
            Some(b) => {
                let mut both = self.latency.clone();
                both.merge(b);
                both.quantile_ms(q)
            }
        }
    }

    /// Successful completions per second of measured time.
    pub fn throughput_rps(&self) -> f64 {
        self.completed as f64 / self.measured_s
    }

    /// Errors as a fraction of finished requests (0 when none finished).
    pub fn error_rate(&self) -> f64 {
        let finished = self.completed + self.errors;
        if finished == 0 {
            0.0
        } else {
            self.errors as f64 / finished as f64
        }
    }
}

/// Time-averaged behaviour of a service (or the gateway) over the measured window.
#[derive(Clone, Debug)]
pub struct ServiceResult {
    pub service: String,
    pub instances: u32,
    pub workers: u32,
    /// Calls that arrived per second.
    pub arrival_rate_per_s: f64,
    /// Mean fraction of workers held (busy, or blocked on downstream calls when blocking).
    pub utilisation: f64,
    /// Mean number of calls waiting for a worker, summed over instances.
    pub mean_queue_length: f64,
    /// Most calls waiting at once, summed over instances.
    pub max_queue_length: u64,
    /// Calls refused by a full queue.
    pub rejected: u64,
    /// Mean wait for a worker, in ms.
    pub mean_wait_ms: f64,
    /// Mean residence (wait plus time holding a worker), in ms.
    pub mean_residence_ms: f64,
    /// Mean number of calls waiting or holding a worker: by Little's law, the rate of admitted
    /// calls times `mean_residence_ms`.
    pub mean_in_station: f64,
    /// Calls admitted (not rejected) per second.
    pub admitted_rate_per_s: f64,
    /// Time-average number of ready instances (differs from `instances` with autoscaling
    /// or crashes).
    pub mean_instances: f64,
    /// Calls shed by the rate limit or concurrency limit.
    pub shed: u64,
    /// Calls dropped unserved because their propagated deadline had passed.
    pub expired: u64,
    /// Reads, writes and stale reads of a replicated store.
    pub store: Option<super::StoreResult>,
}

/// What happened on one caller → callee edge in the measured window.
#[derive(Clone, Debug)]
pub struct EdgeResult {
    pub from: Arc<str>,
    pub to: Arc<str>,
    pub stats: super::policy::EdgeStats,
    /// Some call on the edge is fire-and-forget (`async = true`).
    pub fire_and_forget: bool,
    /// Times the edge's circuit breaker opened, and the share of time it was not closed.
    pub breaker_opened: u64,
    pub breaker_open_share: f64,
}

/// One autoscaling decision.
#[derive(Clone, Debug)]
pub struct ScaleEvent {
    pub time_s: f64,
    pub service: String,
    /// The metric seen over the last interval.
    pub metric: f64,
    /// Instances ready or starting before and after.
    pub from: u32,
    pub to: u32,
    /// When added instances start serving (after their cold start).
    pub ready_at_s: f64,
}

/// One direction of a link over the measured window.
#[derive(Clone, Debug)]
pub struct LinkResult {
    pub link: Arc<str>,
    pub from: Arc<str>,
    pub to: Arc<str>,
    /// Transmissions, retransmissions included.
    pub messages: u64,
    pub bytes: u64,
    pub retransmissions: u64,
    /// Messages given up after too many retransmissions.
    pub failed: u64,
    /// Fraction of time the transmitter was busy.
    pub utilisation: f64,
    /// Mean wait before a transmission started, in milliseconds.
    pub mean_queueing_ms: f64,
}

pub(super) fn collect<const FULL: bool, const PATHS: bool>(
    mut sim: Simulator<'_, FULL, PATHS>,
    events: u64,
    wall_s: f64,
    end: SimTime,
) -> RunResult {
    let model = sim.model;
    let traces = sim.tracer.take().map_or(Vec::new(), |t| t.finish(end));
    let timeseries = sim.series.take().map(|mut rec| {
        let shares = sim
            .rollouts
            .iter_mut()
            .map(|r| r.interval_share())
            .collect();
        rec.close(end, &sim.stations, &sim.edges, &sim.hosts, shares);
        rec.finish()
    });
    // At least a nanosecond, so that rates stay finite for a run stopped during warm-up.
    let measured_s = (end - model.warmup).as_secs_f64().max(1e-9);
    let mut backlog = sim.backlog(end);
    let saturated = saturated(
        &sim.stop,
        sim.in_flight_at_middle,
        sim.in_flight,
        sim.requests.iter().sum(),
    );
    let all_latency = LatencyRecorder::combined(&sim.latency);
    // The histograms move into the result (a copy would be ~100 KB per route, each run).
    let latencies = std::mem::take(&mut sim.latency)
        .into_iter()
        .map(LatencyRecorder::into_stats);
    let routes: Vec<RouteResult> = model
        .routes
        .iter()
        .zip(latencies)
        .enumerate()
        .map(|(i, (r, latency))| RouteResult {
            route: r.name.clone(),
            requests: sim.requests[i],
            completed: latency.count(),
            errors: sim.errors[i].iter().sum(),
            errors_by_kind: sim.errors[i],
            latency,
            backlog: backlog[i].take(),
            saturated,
            measured_s,
        })
        .collect();
    let all = RouteResult::all_with(&routes, all_latency, measured_s);
    let mut stores = std::mem::take(&mut sim.stores);
    stores.resize_with(model.services.len(), || None);
    let services = model
        .services
        .iter()
        .zip(&sim.stations)
        .zip(stores.iter_mut())
        .map(|((s, st), store)| ServiceResult {
            service: s.name.clone(),
            instances: s.instances,
            workers: s.workers,
            arrival_rate_per_s: st.arrivals as f64 / measured_s,
            utilisation: utilisation(st, end),
            mean_queue_length: st.queued.mean(end),
            max_queue_length: st.queued.max().max(0) as u64,
            rejected: st.rejected,
            mean_wait_ms: ratio_ms(st.waited_ns, st.waits),
            mean_residence_ms: ratio_ms(st.resided_ns, st.residences),
            mean_in_station: st.busy.mean(end) + st.queued.mean(end),
            admitted_rate_per_s: (st.arrivals - st.rejected - st.shed - st.expired) as f64
                / measured_s,
            mean_instances: st.ready.mean(end),
            shed: st.shed,
            expired: st.expired,
            store: store
                .as_mut()
                .zip(s.store.as_ref())
                .map(|(state, model)| state.result(model)),
        })
        .collect();
    // Each name made once and shared by the rows that name it: a model of 10,000 services
    // has 53,000 link directions and 26,000 edges, and a string of its own for every name of
    // every row was a fifth of collecting such a run's results.
    let service_names: Vec<Arc<str>> = model
        .services
        .iter()
        .map(|s| s.name.as_str().into())
        .collect();
    let mut links = Vec::with_capacity(model.links.len() * 2);
    for (l, link) in model.links.iter().enumerate() {
        let name: Arc<str> = link.name.as_str().into();
        for dir in 0..2 {
            let (from, to) = (link.ends[dir], link.ends[1 - dir]);
            let d = 2 * l + dir;
            let (stats, channel) = (sim.network.stats(d), &sim.network.channels[d]);
            links.push(LinkResult {
                link: Arc::clone(&name),
                from: Arc::clone(&service_names[from]),
                to: Arc::clone(&service_names[to]),
                messages: stats.messages,
                bytes: stats.bytes,
                retransmissions: channel.retransmissions,
                failed: channel.failed,
                utilisation: stats.busy_ns as f64 / 1e9 / measured_s,
                mean_queueing_ms: if stats.messages == 0 {
                    0.0
                } else {
                    stats.queueing_ns as f64 / stats.messages as f64 / 1e6
                },
            });
        }
    }
    // The (caller, callee) pairs of fire-and-forget calls, found in one pass over the endpoints
    // (a scan per edge cost seconds at 10,000 services).
    let fired: std::collections::HashSet<(usize, usize)> = model
        .endpoints
        .iter()
        .flat_map(|x| {
            x.stages
                .iter()
                .flatten()
                .filter(|d| !d.is_awaited())
                .map(|d| (x.service, model.endpoints[d.target].service))
        })
        .collect();
    let edges = model
        .edges
        .iter()
        .zip(&sim.edges)
        .zip(&sim.plain_calls)
        .map(|((e, state), &plain)| EdgeResult {
            from: Arc::clone(&service_names[e.from]),
            to: Arc::clone(&service_names[e.to]),
            stats: super::policy::EdgeStats {
                calls: state.stats.calls + plain,
                attempts: state.stats.attempts + plain,
                ..state.stats.clone()
            },
            fire_and_forget: fired.contains(&(e.from, e.to)),
            breaker_opened: state.breaker.as_ref().map_or(0, |b| b.opened),
            breaker_open_share: state.breaker.as_ref().map_or(0.0, |b| b.open.mean(end)),
        })
        .collect();
    let breakdown = sim.paths.as_ref().map_or(Vec::new(), |paths| {
        let mut hops = super::breakdown::HopNames::new(model);
        let p99 = |r: &RouteResult| (r.latency.quantile_ms(0.99) * 1e6) as u64;
        let mut out: Vec<super::RouteBreakdown> = routes
            .iter()
            .enumerate()
            .map(|(i, r)| paths.breakdown(&r.route, &[i], p99(r), &mut hops))
            .collect();
        let every: Vec<usize> = (0..routes.len()).collect();
        out.push(paths.breakdown("all", &every, p99(&all), &mut hops));
        out
    });
    let versions = model
        .deployments
        .iter()
        .zip(sim.rollouts.iter_mut())
        .flat_map(|(d, r)| r.results(&model.services[d.service].name))
        .collect();
    let hosts = model
        .hosts
        .iter()
        .zip(sim.hosts.iter_mut())
        .map(|(h, state)| state.result(h, end))
        .collect();
    RunResult {
        hosts,
        model: model.name.clone(),
        seed: sim.seed,
        duration_s: model.duration.as_secs_f64(),
        warmup_s: model.warmup.as_secs_f64(),
        measured_s,
        routes,
        all,
        services,
        links,
        edges,
        scaling: std::mem::take(&mut sim.scaling),
        deployments: std::mem::take(&mut sim.deploy_steps),
        versions,
        ejections: sim.ejections,
        breakdown,
        events,
        wall_s,
        peak_calls_in_flight: sim.calls.capacity_used(),
        timeseries,
        traces,
        stopped: sim.stop.clone(),
        end_s: end.as_secs_f64(),
        stopped_at_s: None,
    }
}

/// Whether a run was saturated: its backlog of requests grew instead of settling. That is a
/// run stopped for having too many requests in flight, or one whose requests in flight at the
/// end are more than 1% of those that arrived in the measured window *and* grew from the middle
/// of that window to its end by more than chance allows (three standard deviations of a
/// Poisson count; a stable system's number in flight wanders about its mean, an overloaded
/// one's climbs by (arrival rate − capacity) × time). The second condition keeps a healthy run
/// whose requests are merely slow compared with its length from being flagged.
pub fn saturated(stop: &Option<super::Stop>, middle: Option<u64>, end: u64, arrivals: u64) -> bool {
    if matches!(stop, Some(super::Stop::InFlight { .. })) {
        return true;
    }
    let Some(middle) = middle else {
        return false;
    };
    let grew = end as f64 > middle as f64 + 3.0 * ((middle + end) as f64).sqrt();
    grew && end as f64 > 0.01 * arrivals as f64
}

/// Busy workers over available workers, time-averaged: with a fixed number of instances the
/// mean busy count over instances × workers; with autoscaling or crashes, over the workers of
/// the instances ready at each moment.
fn utilisation(st: &super::station::Station, end: SimTime) -> f64 {
    let capacity = st.ready.mean(end) * f64::from(st.workers);
    if capacity > 0.0 {
        st.busy.mean(end) / capacity
    } else {
        0.0
    }
}

/// Mean of a nanosecond total over `n`, in ms (NaN when `n` is 0).
fn ratio_ms(total_ns: u128, n: u64) -> f64 {
    if n == 0 {
        f64::NAN
    } else {
        total_ns as f64 / n as f64 / 1e6
    }
}
