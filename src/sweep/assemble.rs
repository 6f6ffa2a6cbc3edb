//! `runs.csv` and `points.csv` from the point files: one row per point × replication × route,
//! and one row per point × route with means over replications and 95% confidence intervals.

use super::store::{PointFile, SweepInfo};
use crate::report::{SUMMARY_COLUMNS, number, route_row};
use crate::sim::RouteResult;
use crate::stats::mean_ci95;
use rayon::prelude::*;

/// Run-level columns added when the model has prices: the same in every route's row.
const COST_COLUMNS: &[&str] = &["cost_per_hour", "cost_per_million_requests"];

/// Whether the sweep's runs carry a cost.
fn priced(points: &[PointFile]) -> bool {
    points
        .first()
        .and_then(|p| p.runs.first())
        .is_some_and(|r| r.cost_per_hour.is_some())
}

/// Cost per hour, and per million successful requests of the whole system (`routes` ends with
/// `all`).
fn cost_values(per_hour: f64, routes: &[RouteResult]) -> [f64; 2] {
    let all = routes.last().map_or(0.0, |a| a.throughput_rps());
    [per_hour, crate::cost::per_million(per_hour, all)]
}

/// Metrics taken from the pooled histogram of all replications (never averaged).
const POOLED: &[&str] = &[
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p99_with_backlog_ms",
    "p999_ms",
    "max_ms",
];

/// The routes of one replication, then `all`.
fn routes_with_all(run: &super::store::RunRecord) -> Result<Vec<RouteResult>, String> {
    let mut routes = run
        .routes
        .iter()
        .map(|r| {
            r.to_result(run.measured_s)
                .ok_or_else(|| format!("a stored histogram of route `{}` is corrupt", r.route))
        })
        .collect::<Result<Vec<_>, _>>()?;
    routes.push(RouteResult::all_of(&routes, run.measured_s));
    Ok(routes)
}

fn csv_bytes(header: Vec<String>, rows: Vec<Vec<String>>) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&header).expect("in-memory write");
    for row in rows {
        w.write_record(&row).expect("in-memory write");
    }
    w.into_inner().expect("in-memory write")
}

/// `runs.csv`: point_id, replication, seed, the parameters, then the summary columns.
pub fn runs_csv(info: &SweepInfo, points: &[PointFile]) -> Result<Vec<u8>, String> {
    let mut header: Vec<String> = ["point_id", "replication", "seed"]
        .map(String::from)
        .to_vec();
    header.extend(info.axes.iter().map(|a| a.path.clone()));
    header.extend(SUMMARY_COLUMNS.iter().map(|c| c.to_string()));
    if priced(points) {
        header.extend(COST_COLUMNS.iter().map(|c| c.to_string()));
    }
    let per_point: Vec<Vec<Vec<String>>> = points
        .par_iter()
        .map(run_rows)
        .collect::<Result<_, String>>()?;
    Ok(csv_bytes(header, per_point.into_iter().flatten().collect()))
}

/// The runs.csv rows of one point: per replication, one per route, then `all`.
fn run_rows(p: &PointFile) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    for run in &p.runs {
        let routes = routes_with_all(run)?;
        for route in &routes {
            let mut row = vec![
                p.point_id.to_string(),
                run.replication.to_string(),
                run.seed.to_string(),
            ];
            row.extend(p.params.iter().cloned());
            row.extend(route_row(route));
            if let Some(per_hour) = run.cost_per_hour {
                row.extend(cost_values(per_hour, &routes).map(number));
            }
            rows.push(row);
        }
    }
    Ok(rows)
}

/// `points.csv`: per point and route, each metric's mean over replications and its 95% CI
/// half-width (`<metric>_ci95`); percentiles and the maximum come from the pooled histogram.
pub fn points_csv(info: &SweepInfo, points: &[PointFile]) -> Result<Vec<u8>, String> {
    let mut header: Vec<String> = vec!["point_id".into()];
    header.extend(info.axes.iter().map(|a| a.path.clone()));
    header.push("route".into());
    header.push("replications".into());
    let cost = if priced(points) { COST_COLUMNS } else { &[] };
    for m in SUMMARY_COLUMNS[1..].iter().chain(cost) {
        header.push(m.to_string());
        header.push(format!("{m}_ci95"));
    }
    let per_point: Vec<Vec<Vec<String>>> = points
        .par_iter()
        .map(point_rows)
        .collect::<Result<_, String>>()?;
    Ok(csv_bytes(header, per_point.into_iter().flatten().collect()))
}

/// The points.csv rows of one point: one per route, then `all`.
fn point_rows(p: &PointFile) -> Result<Vec<Vec<String>>, String> {
    let metrics = &SUMMARY_COLUMNS[1..];
    let reps: Vec<Vec<RouteResult>> = p
        .runs
        .iter()
        .map(routes_with_all)
        .collect::<Result<_, _>>()?;
    let Some(first) = reps.first() else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    for (k, route) in first.iter().enumerate() {
        // Per-replication rows of this route, as the summary columns.
        let per_rep: Vec<Vec<String>> = reps.iter().map(|routes| route_row(&routes[k])).collect();
        let mut pooled = route.clone();
        for routes in &reps[1..] {
            pooled.latency.merge(&routes[k].latency);
            if let Some(b) = &routes[k].backlog {
                pooled
                    .backlog
                    .get_or_insert_with(crate::stats::LatencyStats::new)
                    .merge(b);
            }
        }
        let pooled_row = route_row(&pooled);
        let mut row = vec![p.point_id.to_string()];
        row.extend(p.params.iter().cloned());
        row.push(route.route.clone());
        row.push(reps.len().to_string());
        for (i, m) in metrics.iter().enumerate() {
            let values: Vec<f64> = per_rep
                .iter()
                .map(|r| r[i + 1].parse::<f64>().unwrap_or(f64::NAN))
                .collect();
            let ci = mean_ci95(&values);
            let value = if POOLED.contains(m) {
                pooled_row[i + 1].clone()
            } else {
                number(ci.mean)
            };
            row.push(value);
            row.push(number(ci.half_width));
        }
        for i in 0..COST_COLUMNS.len() {
            let values: Vec<f64> = p
                .runs
                .iter()
                .zip(&reps)
                .filter_map(|(run, routes)| Some(cost_values(run.cost_per_hour?, routes)[i]))
                .collect();
            if values.len() == reps.len() {
                let ci = mean_ci95(&values);
                row.push(number(ci.mean));
                row.push(number(ci.half_width));
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// `stores.csv` (models with a replicated store, else `None`): per point and store, the mean
/// over replications of its reads, writes, stale reads and their share, and read and write
/// latency, each with its 95% CI half-width; the p99s from the pooled histograms; and, for a
/// store keyed by client, its read-your-writes and monotonic-read violations.
pub fn stores_csv(info: &SweepInfo, points: &[PointFile]) -> Result<Option<Vec<u8>>, String> {
    let Some(first) = points.iter().flat_map(|p| p.runs.first()).next() else {
        return Ok(None);
    };
    if first.stores.is_empty() {
        return Ok(None);
    }
    let sessions = first.stores.iter().any(|s| s.sessions.is_some());
    let mut metrics = vec![
        "reads",
        "writes",
        "stale_reads",
        "stale_share",
        "read_mean_ms",
        "write_mean_ms",
    ];
    if sessions {
        metrics.extend(["read_your_writes_violations", "monotonic_read_violations"]);
    }
    let mut header: Vec<String> = vec!["point_id".into()];
    header.extend(info.axes.iter().map(|a| a.path.clone()));
    header.extend(["store", "replications"].map(String::from));
    for m in &metrics {
        header.push(m.to_string());
        header.push(format!("{m}_ci95"));
    }
    header.extend(["read_p99_ms", "write_p99_ms"].map(String::from));
    let mut rows = Vec::new();
    for p in points {
        for (k, name) in p.runs[0].stores.iter().map(|s| &s.store).enumerate() {
            let of: Vec<&super::store::StoreRecord> =
                p.runs.iter().filter_map(|r| r.stores.get(k)).collect();
            let latency =
                |pick: fn(&super::store::StoreRecord) -> &crate::stats::LatencySnapshot| {
                    of.iter()
                        .map(|s| {
                            crate::stats::LatencyStats::from_snapshot(pick(s)).ok_or_else(|| {
                                format!("a stored histogram of store `{name}` is corrupt")
                            })
                        })
                        .collect::<Result<Vec<_>, String>>()
                };
            let (reads, writes) = (
                latency(|s| &s.read_latency)?,
                latency(|s| &s.write_latency)?,
            );
            let mut row = vec![p.point_id.to_string()];
            row.extend(p.params.iter().cloned());
            row.push(name.clone());
            row.push(of.len().to_string());
            for m in &metrics {
                let values: Vec<f64> = of
                    .iter()
                    .zip(reads.iter().zip(&writes))
                    .map(|(s, (r, w))| match *m {
                        "reads" => s.reads as f64,
                        "writes" => s.writes as f64,
                        "stale_reads" => s.stale_reads as f64,
                        "stale_share" => s.stale_reads as f64 / s.reads as f64,
                        "read_mean_ms" => r.mean_ms(),
                        "write_mean_ms" => w.mean_ms(),
                        "read_your_writes_violations" => {
                            s.sessions.map_or(f64::NAN, |v| v.0 as f64)
                        }
                        _ => s.sessions.map_or(f64::NAN, |v| v.1 as f64),
                    })
                    .collect();
                let ci = mean_ci95(&values);
                row.push(number(ci.mean));
                row.push(number(ci.half_width));
            }
            for pooled in [reads, writes] {
                let mut all = crate::stats::LatencyStats::new();
                for l in &pooled {
                    all.merge(l);
                }
                row.push(number(all.quantile_ms(0.99)));
            }
            rows.push(row);
        }
    }
    Ok(Some(csv_bytes(header, rows)))
}

/// `slo.csv`: per point and SLO, the metric's mean over replications with its 95% interval,
/// the limit, and the verdict (`meets`, `violates` or `undecided`, as `capacity` judges: a
/// saturated replication violates).
pub fn slo_csv(
    info: &SweepInfo,
    points: &[PointFile],
    slos: &[crate::planning::Slo],
) -> Result<Vec<u8>, String> {
    let mut header: Vec<String> = vec!["point_id".into()];
    header.extend(info.axes.iter().map(|a| a.path.clone()));
    header.extend(
        [
            "slo",
            "route",
            "metric",
            "value",
            "value_ci95",
            "limit",
            "verdict",
        ]
        .map(String::from),
    );
    let mut rows = Vec::new();
    for p in points {
        let reps: Vec<Vec<RouteResult>> = p
            .runs
            .iter()
            .map(routes_with_all)
            .collect::<Result<_, _>>()?;
        for slo in slos {
            let route = slo.route.as_deref().unwrap_or("all");
            let values: Vec<f64> = reps
                .iter()
                .filter_map(|routes| routes.iter().find(|r| r.route == route))
                .map(|r| slo.value_of(r))
                .collect();
            let (ci, verdict) = slo.judge_values(&values);
            let mut row = vec![p.point_id.to_string()];
            row.extend(p.params.iter().cloned());
            row.extend([
                slo.text.clone(),
                route.to_string(),
                slo.metric_name(),
                number(ci.mean),
                number(ci.half_width),
                number(slo.limit),
                verdict.as_str().to_string(),
            ]);
            rows.push(row);
        }
    }
    Ok(csv_bytes(header, rows))
}
