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
    "backlog_share",
    "saturated",
    "throughput_rps",
    "error_rate",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p99_with_backlog_ms",
    "p999_ms",
    "max_ms",
    "errors_rejected",
    "errors_timeout",
    "errors_circuit_open",
    "errors_rate_limited",
    "errors_crashed",
    "errors_bulkhead",
    "errors_network",
    "errors_failed",
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
    "mean_instances",
    "shed",
    "expired",
];

/// Columns `services.csv` gains when the model has a replicated store (empty for the services
/// that are not stores).
pub const STORE_COLUMNS: &[&str] = &[
    "reads",
    "writes",
    "stale_reads",
    "stale_share",
    "read_mean_ms",
    "read_p99_ms",
    "write_mean_ms",
    "write_p99_ms",
];

/// Columns `services.csv` gains when a store keys by client (`key_per = "client"`): reads
/// that missed the client's own acknowledged write, and reads older than the client's previous
/// read of its key.
pub const SESSION_COLUMNS: &[&str] = &["read_your_writes_violations", "monotonic_read_violations"];

/// Columns of `edges.csv`, in order.
pub const EDGES_COLUMNS: &[&str] = &[
    "from",
    "to",
    "calls",
    "attempts",
    "retries",
    "hedges",
    "timeouts",
    "failed_attempts",
    "circuit_open",
    "bulkhead_rejected",
    "budget_exhausted",
    "failed_calls",
    "wasted_attempts",
    "wasted_work_ms",
    "breaker_opened",
    "breaker_open_share",
];

/// Columns `edges.csv` gains when the model has fire-and-forget calls (empty on the edges
/// without): those sent, those that failed, and the mean time from sending to the end of the
/// callee's work.
pub const ASYNC_COLUMNS: &[&str] = &["async_calls", "async_failed", "async_mean_ms"];

/// Columns of `scaling.csv`, in order.
pub const SCALING_COLUMNS: &[&str] = &[
    "time_s",
    "service",
    "metric",
    "instances_before",
    "instances_after",
    "ready_at_s",
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

/// A CSV file of `header` and `rows`, in memory.
pub fn to_bytes(header: &[&str], rows: Vec<Vec<String>>) -> Vec<u8> {
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
        number(r.backlog_share()),
        u8::from(r.saturated).to_string(),
        number(r.throughput_rps()),
        number(r.error_rate()),
        number(l.mean_ms()),
        number(l.quantile_ms(0.5)),
        number(l.quantile_ms(0.9)),
        number(l.quantile_ms(0.99)),
        number(r.quantile_with_backlog_ms(0.99)),
        number(l.quantile_ms(0.999)),
        number(l.max_ms()),
    ]
    .into_iter()
    .chain(r.errors_by_kind.iter().map(u64::to_string))
    .collect()
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
                number(s.mean_instances),
                s.shed.to_string(),
                s.expired.to_string(),
            ]
        })
        .collect::<Vec<_>>();
    let mut rows = rows;
    let mut header = SERVICES_COLUMNS.to_vec();
    optional_columns(
        &mut header,
        &mut rows,
        STORE_COLUMNS,
        result.services.iter().map(|s| {
            s.store.as_ref().map(|st| {
                vec![
                    st.reads.to_string(),
                    st.writes.to_string(),
                    st.stale_reads.to_string(),
                    number(if st.reads == 0 {
                        f64::NAN
                    } else {
                        st.stale_reads as f64 / st.reads as f64
                    }),
                    number(st.read_latency.mean_ms()),
                    number(st.read_latency.quantile_ms(0.99)),
                    number(st.write_latency.mean_ms()),
                    number(st.write_latency.quantile_ms(0.99)),
                ]
            })
        }),
    );
    // Stores keyed by client: their sessions' violations.
    optional_columns(
        &mut header,
        &mut rows,
        SESSION_COLUMNS,
        result.services.iter().map(|s| {
            let v = s.store.as_ref()?.sessions?;
            Some(vec![
                v.read_your_writes.to_string(),
                v.monotonic_reads.to_string(),
            ])
        }),
    );
    to_bytes(&header, rows)
}

/// Appends the column group `columns` to `header` and to each row (`values`: a row's cells, or
/// `None` for empty ones) — unless no row has any, so that a model without the mechanism keeps
/// the file it always had.
fn optional_columns(
    header: &mut Vec<&'static str>,
    rows: &mut [Vec<String>],
    columns: &'static [&'static str],
    values: impl Iterator<Item = Option<Vec<String>>>,
) {
    let values: Vec<Option<Vec<String>>> = values.collect();
    if values.iter().all(Option::is_none) {
        return;
    }
    header.extend(columns);
    for (row, cells) in rows.iter_mut().zip(values) {
        match cells {
            Some(cells) => row.extend(cells),
            None => row.extend(columns.iter().map(|_| String::new())),
        }
    }
}

/// The columns of `hosts.csv`.
pub const HOSTS_COLUMNS: &[&str] = &[
    "host",
    "cores",
    "cpu_utilisation",
    "mean_computing",
    "background_cores",
];

/// `hosts.csv`: one row per host: its cores' utilisation (calls' CPU work and background) and
/// the mean number of calls computing on it (running or waiting for a core).
pub fn hosts_csv(result: &RunResult) -> Vec<u8> {
    let rows = result
        .hosts
        .iter()
        .map(|h| {
            vec![
                h.name.clone(),
                h.cores.to_string(),
                number(h.cpu_utilisation),
                number(h.mean_computing),
                number(h.background_cores),
            ]
        })
        .collect();
    to_bytes(HOSTS_COLUMNS, rows)
}

/// `links.csv`: one row per link direction.
pub fn links_csv(result: &RunResult) -> Vec<u8> {
    let rows = result
        .links
        .iter()
        .map(|l| {
            vec![
                l.link.to_string(),
                l.from.to_string(),
                l.to.to_string(),
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

/// `edges.csv`: one row per caller → callee edge: attempts, retries, timeouts, breaker and
/// bulkhead refusals, and the work wasted on answers nobody used.
pub fn edges_csv(result: &RunResult) -> Vec<u8> {
    let rows = result
        .edges
        .iter()
        .map(|e| {
            let s = &e.stats;
            vec![
                e.from.to_string(),
                e.to.to_string(),
                s.calls.to_string(),
                s.attempts.to_string(),
                s.retries.to_string(),
                s.hedges.to_string(),
                s.timeouts.to_string(),
                s.failures.to_string(),
                s.circuit_open.to_string(),
                s.bulkhead_rejected.to_string(),
                s.budget_exhausted.to_string(),
                s.failed_calls.to_string(),
                s.wasted_attempts.to_string(),
                number(s.wasted_work_ns as f64 / 1e6),
                e.breaker_opened.to_string(),
                number(e.breaker_open_share),
            ]
        })
        .collect::<Vec<_>>();
    let mut rows = rows;
    let mut header = EDGES_COLUMNS.to_vec();
    optional_columns(
        &mut header,
        &mut rows,
        ASYNC_COLUMNS,
        result.edges.iter().map(|e| {
            let s = &e.stats;
            e.fire_and_forget.then(|| {
                vec![
                    s.detached.to_string(),
                    s.detached_failed.to_string(),
                    number(if s.detached_done == 0 {
                        f64::NAN
                    } else {
                        s.detached_ns as f64 / s.detached_done as f64 / 1e6
                    }),
                ]
            })
        }),
    );
    to_bytes(&header, rows)
}

/// `scaling.csv`: one row per autoscaling decision.
pub fn scaling_csv(result: &RunResult) -> Vec<u8> {
    let rows = result
        .scaling
        .iter()
        .map(|e| {
            vec![
                number(e.time_s),
                e.service.clone(),
                number(e.metric),
                e.from.to_string(),
                e.to.to_string(),
                number(e.ready_at_s),
            ]
        })
        .collect();
    to_bytes(SCALING_COLUMNS, rows)
}

/// `deployments.csv`: one row per step of a release (start, instances started and drained,
/// canary serving, promotion, switch, rollback, done), in time order.
pub fn deployments_csv(result: &RunResult) -> Vec<u8> {
    let rows = result
        .deployments
        .iter()
        .map(|d| {
            vec![
                number(d.time_s),
                d.service.clone(),
                d.strategy.to_string(),
                d.step.to_string(),
                d.version.to_string(),
                d.instances.to_string(),
                d.detail.clone(),
            ]
        })
        .collect();
    to_bytes(
        &[
            "time_s",
            "service",
            "strategy",
            "step",
            "version",
            "instances",
            "detail",
        ],
        rows,
    )
}

/// `versions.csv`: per released service and version, the calls its instances finished in the
/// measured window, their errors, and their latency at the service (admission to response).
pub fn versions_csv(result: &RunResult) -> Vec<u8> {
    let rows = result
        .versions
        .iter()
        .map(|v| {
            let rate = if v.calls == 0 {
                f64::NAN
            } else {
                v.errors as f64 / v.calls as f64
            };
            vec![
                v.service.clone(),
                v.version.to_string(),
                v.calls.to_string(),
                v.errors.to_string(),
                number(rate),
                number(v.latency.mean_ms()),
                number(v.latency.quantile_ms(0.5)),
                number(v.latency.quantile_ms(0.99)),
            ]
        })
        .collect();
    to_bytes(
        &[
            "service",
            "version",
            "calls",
            "errors",
            "error_rate",
            "mean_ms",
            "p50_ms",
            "p99_ms",
        ],
        rows,
    )
}

/// `cost.csv`: one row per service (instance-hours) and link (traffic), then `total`.
pub fn cost_csv(cost: &crate::cost::CostReport) -> Vec<u8> {
    let mut rows: Vec<Vec<String>> = cost
        .items
        .iter()
        .map(|i| {
            vec![
                i.item.clone(),
                i.kind.to_string(),
                number(i.quantity),
                i.unit.to_string(),
                number(i.unit_price),
                number(i.per_hour),
                String::new(),
            ]
        })
        .collect();
    rows.push(vec![
        "total".into(),
        "total".into(),
        String::new(),
        String::new(),
        String::new(),
        number(cost.per_hour),
        number(cost.per_million_requests),
    ]);
    to_bytes(
        &[
            "item",
            "kind",
            "quantity_per_hour",
            "unit",
            "unit_price",
            "cost_per_hour",
            "cost_per_million_requests",
        ],
        rows,
    )
}

/// Columns of `breakdown.csv`, in order.
pub const BREAKDOWN_COLUMNS: &[&str] = &[
    "route",
    "service",
    "link",
    "from",
    "to",
    "component",
    "mean_ms",
    "p99_requests_mean_ms",
];

/// `breakdown.csv`: per route (then `all`), hop and component, the mean time successful requests
/// spent there on their critical path; the rows of a route add up to its mean latency. The
/// last column is the same over the requests at or above the route's p99.
pub fn breakdown_csv(result: &RunResult) -> Vec<u8> {
    // Written row by row from borrowed fields: a large model has hundreds of thousands of
    // rows, and a vector of owned strings for each cost more than the writing.
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(BREAKDOWN_COLUMNS).expect("in-memory write");
    for b in &result.breakdown {
        for (hop, c, mean, tail) in &b.parts {
            let [service, link, from, to] = crate::sim::hop_parts(hop);
            let (mean, tail) = (number(*mean), number(*tail));
            w.write_record([
                b.route.as_str(),
                service,
                link,
                from,
                to,
                c.as_str(),
                &mean,
                &tail,
            ])
            .expect("in-memory write");
        }
    }
    w.into_inner().expect("in-memory write")
}

/// `latency_cdf.csv`: per route (and `all`), the cumulative distribution of latency from the
/// HDR histogram: `route, latency_ms, cumulative_fraction`.
pub fn latency_cdf_csv(result: &RunResult) -> Vec<u8> {
    // Written row by row, as `breakdown.csv` is: a long run of a model of 3,000 routes has
    // millions of rows (a row per bucket of latency a route's requests reached), and a vector
    // of three owned strings for each took 1.1 GB more than the 60 MB written.
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["route", "latency_ms", "cumulative_fraction"])
        .expect("in-memory write");
    for r in result.routes.iter().chain([&result.all]) {
        for (ms, frac) in r.latency.cdf() {
            w.write_record([r.route.as_str(), &number(ms), &format!("{frac:.6}")])
                .expect("in-memory write");
        }
    }
    w.into_inner().expect("in-memory write")
}

/// `timeseries.csv`: one row per interval, warm-up included: arrivals, completions, errors,
/// throughput, error rate, p50 and p99 of the requests completed in the interval, and each
/// service's time-average queue length (`queue_length_<service>`) and ready instances
/// (`instances_<service>`), for services behind a registry the instances their callers choose
/// among (`routable_<service>`: dead ones included until the callers stop seeing them), each
/// host's busy cores over its cores (`cpu_utilisation_<host>`), retries and timeouts over all edges, and the share of the interval
/// each circuit breaker was open (`breaker_open_<from>_to_<to>`), and per released service the
/// new version's share of its calls (`new_version_share_<service>`).
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
    header.extend(ts.services.iter().map(|s| format!("instances_{s}")));
    header.extend(ts.managed.iter().map(|s| format!("routable_{s}")));
    header.extend(ts.hosts.iter().map(|h| format!("cpu_utilisation_{h}")));
    header.extend(["retries".to_string(), "timeouts".to_string()]);
    header.extend(
        ts.breakers
            .iter()
            .map(|b| format!("breaker_open_{}", b.replace("->", "_to_"))),
    );
    header.extend(ts.released.iter().map(|s| format!("new_version_share_{s}")));
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
            row.extend(i.instances.iter().map(|q| number(*q)));
            row.extend(i.routable.iter().map(|q| number(*q)));
            row.extend(i.host_utilisation.iter().map(|q| number(*q)));
            row.extend([i.retries.to_string(), i.timeouts.to_string()]);
            row.extend(i.breaker_open.iter().map(|q| number(*q)));
            row.extend(i.version_share.iter().map(|q| number(*q)));
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    to_bytes(&header, rows)
}
