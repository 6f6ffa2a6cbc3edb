//! The CSV files of a run: tidy, one row per route / service / link direction, units in the
//! column names, plain numbers with `.` as decimal point.

use super::number;
use crate::sim::{RouteResult, RunResult};

/// Columns of `summary.csv`, in order.
pub const SUMMARY_COLUMNS: &[&str] = &[
    "route",
    "requests",
    "completed",
    "errors",
    "in_flight_at_end",
    "throughput_rps",
    "error_rate",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
];

/// Columns of `services.csv`, in order.
pub const SERVICES_COLUMNS: &[&str] = &[
    "service",
    "instances",
    "workers_per_instance",
    "arrival_rate_per_s",
    "utilisation",
    "mean_queue_length",
    "max_queue_length",
    "rejected",
    "mean_wait_ms",
    "mean_residence_ms",
    "mean_in_station",
];

/// Columns of `links.csv`, in order.
pub const LINKS_COLUMNS: &[&str] = &[
    "link",
    "from",
    "to",
    "messages",
    "bytes",
    "retransmissions",
    "failed",
    "utilisation",
    "mean_queueing_ms",
];

fn to_bytes(header: &[&str], rows: Vec<Vec<String>>) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    w.write_record(header).expect("in-memory write");
    for row in rows {
        w.write_record(&row).expect("in-memory write");
    }
    w.into_inner().expect("in-memory write")
}

/// The summary columns of one route.
pub fn route_row(r: &RouteResult) -> Vec<String> {
    let l = &r.latency;
    vec![
        r.route.clone(),
        r.requests.to_string(),
        r.completed.to_string(),
        r.errors.to_string(),
        r.in_flight_at_end().to_string(),
        number(r.throughput_rps()),
        number(r.error_rate()),
        number(l.mean_ms()),
        number(l.quantile_ms(0.5)),
        number(l.quantile_ms(0.9)),
        number(l.quantile_ms(0.99)),
        number(l.quantile_ms(0.999)),
        number(l.max_ms()),
    ]
}

/// `summary.csv`: one row per route, then `all`.
pub fn summary_csv(result: &RunResult) -> Vec<u8> {
    let rows = result
        .routes
        .iter()
        .chain([&result.all])
        .map(route_row)
        .collect();
    to_bytes(SUMMARY_COLUMNS, rows)
}

/// `services.csv`: one row per service, the gateway first.
pub fn services_csv(result: &RunResult) -> Vec<u8> {
    let rows = result
        .services
        .iter()
        .map(|s| {
            vec![
                s.service.clone(),
                s.instances.to_string(),
                s.workers.to_string(),
                number(s.arrival_rate_per_s),
                number(s.utilisation),
                number(s.mean_queue_length),
                s.max_queue_length.to_string(),
                s.rejected.to_string(),
                number(s.mean_wait_ms),
                number(s.mean_residence_ms),
                number(s.mean_in_station),
            ]
        })
        .collect();
    to_bytes(SERVICES_COLUMNS, rows)
}

/// `links.csv`: one row per link direction.
pub fn links_csv(result: &RunResult) -> Vec<u8> {
    let rows = result
        .links
        .iter()
        .map(|l| {
            vec![
                l.link.clone(),
                l.from.clone(),
                l.to.clone(),
                l.messages.to_string(),
                l.bytes.to_string(),
                l.retransmissions.to_string(),
                l.failed.to_string(),
                number(l.utilisation),
                number(l.mean_queueing_ms),
            ]
        })
        .collect();
    to_bytes(LINKS_COLUMNS, rows)
}

/// `latency_cdf.csv`: per route (and `all`), the cumulative distribution of latency from the
/// HDR histogram: `route, latency_ms, cumulative_fraction`.
pub fn latency_cdf_csv(result: &RunResult) -> Vec<u8> {
    let mut rows = Vec::new();
    for r in result.routes.iter().chain([&result.all]) {
        for (ms, frac) in r.latency.cdf() {
            rows.push(vec![r.route.clone(), number(ms), format!("{frac:.6}")]);
        }
    }
    to_bytes(&["route", "latency_ms", "cumulative_fraction"], rows)
}

/// `timeseries.csv`: one row per interval, warm-up included: arrivals, completions, errors,
/// throughput, error rate, p50 and p99 of the requests completed in the interval, and each
/// service's time-average queue length (`queue_length_<service>`).
pub fn timeseries_csv(ts: &crate::sim::TimeSeries) -> Vec<u8> {
    let mut header: Vec<String> = [
        "start_s",
        "end_s",
        "arrivals",
        "completed",
        "errors",
        "throughput_rps",
        "error_rate",
        "p50_ms",
        "p99_ms",
    ]
    .map(String::from)
    .to_vec();
    header.extend(ts.services.iter().map(|s| format!("queue_length_{s}")));
    let rows = ts
        .rows
        .iter()
        .map(|i| {
            let mut row = vec![
                number(i.start_s),
                number(i.end_s),
                i.arrivals.to_string(),
                i.completed.to_string(),
                i.errors.to_string(),
                number(i.throughput_rps()),
                number(i.error_rate()),
                number(i.p50_ms),
                number(i.p99_ms),
            ];
            row.extend(i.queue_length.iter().map(|q| number(*q)));
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    to_bytes(&header, rows)
}
