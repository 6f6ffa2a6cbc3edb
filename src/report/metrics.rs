//! `metrics.om`: the time series as OpenMetrics text with timestamps, the format
//! `promtool tsdb create-blocks-from openmetrics` loads into Prometheus, so a simulated incident
//! can be looked at in Grafana beside a real one. Simulated time 0 is the traces' epoch
//! (2026-01-01T00:00:00Z), so the metrics and the traces of a run line up.

use crate::sim::TimeSeries;
use std::fmt::Write as _;

/// Label values escaped as OpenMetrics asks (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One metric family: its samples per interval end, skipping values that are not numbers (an
/// interval where nothing completed has no percentile).
struct Family<'a> {
    name: &'a str,
    kind: &'a str,
    help: &'a str,
    unit: Option<&'a str>,
}

pub fn openmetrics(model: &str, ts: &TimeSeries) -> Vec<u8> {
    let epoch_s = crate::traces::export::EPOCH_UNIX_NS as f64 / 1e9;
    let model = label(model);
    let mut out = String::new();
    let stamp = |end_s: f64| format!("{:.3}", epoch_s + end_s);
    let mut family = |f: Family, samples: &mut dyn Iterator<Item = (String, f64, f64)>| {
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        if let Some(u) = f.unit {
            let _ = writeln!(out, "# UNIT {} {u}", f.name);
        }
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let suffix = if f.kind == "counter" { "_total" } else { "" };
        for (labels, value, end_s) in samples {
            if value.is_finite() {
                let _ = writeln!(
                    out,
                    "{}{suffix}{{model=\"{model}\"{labels}}} {value} {}",
                    f.name,
                    stamp(end_s)
                );
            }
        }
    };
    let rows = &ts.rows;
    let cumulative = |get: fn(&crate::sim::Interval) -> u64| {
        let mut sum = 0u64;
        rows.iter()
            .map(move |i| {
                sum += get(i);
                (String::new(), sum as f64, i.end_s)
            })
            .collect::<Vec<_>>()
    };
    for (name, help, get) in [
        (
            "meshsim_requests_arrived",
            "Requests that arrived, since the start of the run.",
            (|i: &crate::sim::Interval| i.arrivals) as fn(&crate::sim::Interval) -> u64,
        ),
        (
            "meshsim_requests_completed",
            "Requests completed successfully, since the start of the run.",
            |i| i.completed,
        ),
        (
            "meshsim_requests_failed",
            "Requests completed with an error, since the start of the run.",
            |i| i.errors,
        ),
        (
            "meshsim_retries",
            "Retries sent, since the start of the run.",
            |i| i.retries,
        ),
        (
            "meshsim_timeouts",
            "Attempts timed out, since the start of the run.",
            |i| i.timeouts,
        ),
    ] {
        family(
            Family {
                name,
                kind: "counter",
                help,
                unit: None,
            },
            &mut cumulative(get).into_iter(),
        );
    }
    for (name, help, get) in [
        (
            "meshsim_throughput_rps",
            "Successful completions per second over the interval.",
            (|i: &crate::sim::Interval| i.throughput_rps()) as fn(&crate::sim::Interval) -> f64,
        ),
        (
            "meshsim_error_ratio",
            "Errors as a share of the requests finished in the interval.",
            |i| i.error_rate(),
        ),
        (
            "meshsim_latency_p50_seconds",
            "Median latency of the requests completed in the interval.",
            |i| i.p50_ms / 1e3,
        ),
        (
            "meshsim_latency_p99_seconds",
            "99th percentile latency of the requests completed in the interval.",
            |i| i.p99_ms / 1e3,
        ),
    ] {
        let unit = name.ends_with("_seconds").then_some("seconds");
        family(
            Family {
                name,
                kind: "gauge",
                help,
                unit,
            },
            &mut rows.iter().map(|i| (String::new(), get(i), i.end_s)),
        );
    }
    type PerService = fn(&crate::sim::Interval, usize) -> f64;
    for (name, help, get) in [
        (
            "meshsim_queue_length",
            "Time-average number of calls waiting for a worker, per service.",
            (|i: &crate::sim::Interval, s: usize| i.queue_length[s]) as PerService,
        ),
        (
            "meshsim_instances",
            "Time-average number of ready instances, per service.",
            |i, s| i.instances[s],
        ),
    ] {
        let mut samples = ts.services.iter().enumerate().flat_map(|(s, service)| {
            let l = format!(",service=\"{}\"", label(service));
            rows.iter().map(move |i| (l.clone(), get(i, s), i.end_s))
        });
        family(
            Family {
                name,
                kind: "gauge",
                help,
                unit: None,
            },
            &mut samples,
        );
    }
    if !ts.breakers.is_empty() {
        let mut samples = ts.breakers.iter().enumerate().flat_map(|(b, edge)| {
            let (from, to) = edge.split_once("->").unwrap_or((edge, ""));
            let l = format!(",from=\"{}\",to=\"{}\"", label(from), label(to));
            rows.iter()
                .map(move |i| (l.clone(), i.breaker_open[b], i.end_s))
        });
        family(
            Family {
                name: "meshsim_breaker_open_ratio",
                kind: "gauge",
                help: "Share of the interval the circuit breaker was open or half-open.",
                unit: None,
            },
            &mut samples,
        );
    }
    out.push_str("# EOF\n");
    out.into_bytes()
}
