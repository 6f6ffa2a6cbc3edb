//! Time series of a run: throughput, errors, latency and queue lengths per interval, warm-up
//! included (that is where transients, retry storms and recoveries show).

use super::policy::EdgeState;
use super::station::Station;
use crate::engine::SimTime;
use crate::model::Model;
use crate::stats::{LatencyStats, TimeWeighted};

/// The time series of one run.
#[derive(Clone, Debug)]
pub struct TimeSeries {
    pub interval_s: f64,
    /// Service names (the gateway first), naming the queue-length and instance columns.
    pub services: Vec<String>,
    /// Edges with a circuit breaker, as `from->to`, naming the breaker columns.
    pub breakers: Vec<String>,
    /// Services released during the run, naming the version-share columns.
    pub released: Vec<String>,
    /// `[hosts]`, naming the CPU-utilisation columns.
    pub hosts: Vec<String>,
    /// Services whose callers choose through a registry (health checks, discovery, outlier
    /// detection), naming the routable-instance columns.
    pub managed: Vec<String>,
    pub rows: Vec<Interval>,
}

/// One interval of the time series.
#[derive(Clone, Debug)]
pub struct Interval {
    pub start_s: f64,
    pub end_s: f64,
    /// Requests that arrived.
    pub arrivals: u64,
    /// Requests completed successfully.
    pub completed: u64,
    /// Requests completed with an error.
    pub errors: u64,
    /// Latency percentiles of the requests completed in the interval (NaN when none).
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Time-average number of calls waiting for a worker, per service.
    pub queue_length: Vec<f64>,
    /// Time-average number of ready instances, per service.
    pub instances: Vec<f64>,
    /// Time-average number of instances the balancer chooses among, per managed service.
    pub routable: Vec<f64>,
    /// Busy cores (calls' CPU work and background) over cores, per host.
    pub host_utilisation: Vec<f64>,
    /// Retries sent and attempts timed out, over all edges.
    pub retries: u64,
    pub timeouts: u64,
    /// Share of the interval each breaker was open or half-open, per breaker.
    pub breaker_open: Vec<f64>,
    /// Per released service: the share of its calls finished in the interval that the new
    /// version's instances served (NaN when it finished none).
    pub version_share: Vec<f64>,
}

impl Interval {
    /// Successful completions per second.
    pub fn throughput_rps(&self) -> f64 {
        self.completed as f64 / (self.end_s - self.start_s)
    }

    /// Errors as a fraction of finished requests.
    pub fn error_rate(&self) -> f64 {
        let n = self.completed + self.errors;
        if n == 0 {
            0.0
        } else {
            self.errors as f64 / n as f64
        }
    }
}

/// Accumulates the current interval.
pub struct Recorder {
    pub interval: SimTime,
    start: SimTime,
    arrivals: u64,
    completed: u64,
    errors: u64,
    latency: LatencyStats,
    queue_integral: Vec<f64>,
    ready_integral: Vec<f64>,
    routable_integral: Vec<f64>,
    host_busy: Vec<f64>,
    breaker_integral: Vec<f64>,
    retries: u64,
    timeouts: u64,
    series: TimeSeries,
}

impl Recorder {
    pub fn new(interval: SimTime, model: &Model) -> Recorder {
        let services: Vec<String> = model.services.iter().map(|s| s.name.clone()).collect();
        let breakers: Vec<String> = model
            .edges
            .iter()
            .filter(|e| e.policy.breaker.is_some())
            .map(|e| {
                format!(
                    "{}->{}",
                    model.services[e.from].name, model.services[e.to].name
                )
            })
            .collect();
        let n = services.len();
        let managed: Vec<String> = model
            .services
            .iter()
            .filter(|s| {
                s.health_check.is_some()
                    || s.discovery_refresh.is_some()
                    || s.outlier_detection.is_some()
            })
            .map(|s| s.name.clone())
            .collect();
        Recorder {
            interval,
            start: SimTime::ZERO,
            arrivals: 0,
            completed: 0,
            errors: 0,
            latency: LatencyStats::new(),
            queue_integral: vec![0.0; n],
            ready_integral: vec![0.0; n],
            routable_integral: vec![0.0; managed.len()],
            host_busy: vec![0.0; model.hosts.len()],
            breaker_integral: vec![0.0; breakers.len()],
            retries: 0,
            timeouts: 0,
            series: TimeSeries {
                interval_s: interval.as_secs_f64(),
                services,
                breakers,
                released: model
                    .deployments
                    .iter()
                    .map(|d| model.services[d.service].name.clone())
                    .collect(),
                managed,
                hosts: model.hosts.iter().map(|h| h.name.clone()).collect(),
                rows: Vec::new(),
            },
        }
    }

    #[inline]
    pub fn arrival(&mut self) {
        self.arrivals += 1;
    }

    #[inline]
    pub fn completion(&mut self, latency_ns: u64, failed: bool) {
        if failed {
            self.errors += 1;
        } else {
            self.completed += 1;
            self.latency.record(latency_ns);
        }
    }

    /// Closes the interval ending at `now`.
    pub fn close(
        &mut self,
        now: SimTime,
        stations: &[Station],
        edges: &[EdgeState],
        hosts: &[super::hosts::HostState],
        version_share: Vec<f64>,
    ) {
        let span = (now - self.start).0 as f64;
        if span <= 0.0 {
            return;
        }
        let queue_length = averages(
            stations.iter().map(|s| &s.queued),
            &mut self.queue_integral,
            now,
            span,
        );
        let instances = averages(
            stations.iter().map(|s| &s.ready),
            &mut self.ready_integral,
            now,
            span,
        );
        let routable = averages(
            stations.iter().filter(|s| s.managed).map(|s| &s.routable),
            &mut self.routable_integral,
            now,
            span,
        );
        let host_utilisation = hosts
            .iter()
            .zip(&mut self.host_busy)
            .map(|(h, last)| {
                let busy = h.busy_core_ns(now);
                let share = (busy - *last) / span / h.cores();
                *last = busy;
                share
            })
            .collect();
        let breaker_open = averages(
            edges
                .iter()
                .filter_map(|e| e.breaker.as_ref().map(|b| &b.open)),
            &mut self.breaker_integral,
            now,
            span,
        );
        let retries: u64 = edges.iter().map(|e| e.all_retries).sum();
        let timeouts: u64 = edges.iter().map(|e| e.all_timeouts).sum();
        self.series.rows.push(Interval {
            start_s: self.start.as_secs_f64(),
            end_s: now.as_secs_f64(),
            arrivals: self.arrivals,
            completed: self.completed,
            errors: self.errors,
            p50_ms: self.latency.quantile_ms(0.5),
            p99_ms: self.latency.quantile_ms(0.99),
            queue_length,
            instances,
            routable,
            host_utilisation,
            retries: retries - self.retries,
            timeouts: timeouts - self.timeouts,
            breaker_open,
            version_share,
        });
        self.retries = retries;
        self.timeouts = timeouts;
        self.start = now;
        self.arrivals = 0;
        self.completed = 0;
        self.errors = 0;
        self.latency.clear();
    }

    pub fn finish(self) -> TimeSeries {
        self.series
    }
}

/// Each counter's time average since the last call, given its integral then in `last`.
fn averages<'a>(
    counters: impl Iterator<Item = &'a TimeWeighted>,
    last: &mut [f64],
    now: SimTime,
    span: f64,
) -> Vec<f64> {
    counters
        .zip(last)
        .map(|(tw, last)| {
            let total = tw.integral_to(now);
            let avg = (total - *last) / span;
            *last = total;
            avg
        })
        .collect()
}
