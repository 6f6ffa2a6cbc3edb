//! Time series of a run: throughput, errors, latency and queue lengths per interval, warm-up
//! included (that is where transients, retry storms and recoveries show).

use crate::engine::SimTime;
use crate::stats::{LatencyStats, TimeWeighted};

/// The time series of one run.
#[derive(Clone, Debug)]
pub struct TimeSeries {
    pub interval_s: f64,
    /// Service names (the gateway first), naming the queue-length columns.
    pub services: Vec<String>,
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
    series: TimeSeries,
}

impl Recorder {
    pub fn new(interval: SimTime, services: Vec<String>) -> Recorder {
        let n = services.len();
        Recorder {
            interval,
            start: SimTime::ZERO,
            arrivals: 0,
            completed: 0,
            errors: 0,
            latency: LatencyStats::new(),
            queue_integral: vec![0.0; n],
            series: TimeSeries {
                interval_s: interval.as_secs_f64(),
                services,
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

    /// Closes the interval ending at `now`; `queued` are the services' waiting-call counters.
    pub fn close(&mut self, now: SimTime, queued: &[&TimeWeighted]) {
        let span = (now - self.start).0 as f64;
        if span <= 0.0 {
            return;
        }
        let queue_length = queued
            .iter()
            .zip(&mut self.queue_integral)
            .map(|(tw, last)| {
                let total = tw.integral_to(now);
                let avg = (total - *last) / span;
                *last = total;
                avg
            })
            .collect();
        self.series.rows.push(Interval {
            start_s: self.start.as_secs_f64(),
            end_s: now.as_secs_f64(),
            arrivals: self.arrivals,
            completed: self.completed,
            errors: self.errors,
            p50_ms: self.latency.quantile_ms(0.5),
            p99_ms: self.latency.quantile_ms(0.99),
            queue_length,
        });
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
