//! Human-readable tables for the terminal.

use crate::analysis::OfferedLoad;
use crate::sim::{ErrorKind, RunResult};
use std::fmt::Write;

fn ms(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else if x < 10.0 {
        format!("{x:.3}")
    } else if x < 1000.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.0}")
    }
}

/// Rows a terminal table shows before it keeps only the busiest: a model of thousands of
/// services prints the ones that matter, not pages of them (the CSV files keep every row).
pub const TERMINAL_ROWS: usize = 20;

/// The rows of a table to print: all of them, in order, when there are at most
/// [`TERMINAL_ROWS`]; else the [`TERMINAL_ROWS`] with the largest `key`, largest first.
pub fn shown_rows<T>(items: &[T], key: impl Fn(&T) -> f64) -> Vec<usize> {
    shown_rows_by(items, |x| (key(x), 0.0))
}

/// [`shown_rows`] ranked by a first key and, among equal ones, a second: links without a
/// bandwidth all have utilisation 0, and then the busiest by messages are the ones to show.
pub fn shown_rows_by<T>(items: &[T], key: impl Fn(&T) -> (f64, f64)) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..items.len()).collect();
    if items.len() > TERMINAL_ROWS {
        rows.sort_by(|&a, &b| {
            let (a, b) = (key(&items[a]), key(&items[b]));
            b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1))
        });
        rows.truncate(TERMINAL_ROWS);
    }
    rows
}

/// The line under a table that left rows out, naming what it kept and where the rest are.
pub(super) fn more_line(s: &mut String, total: usize, what: &str, by: &str, file: &str) {
    if total > TERMINAL_ROWS {
        let _ = writeln!(
            s,
            "… and {} more {what} (the {TERMINAL_ROWS} with the most {by} shown; {file} has all {total})",
            total - TERMINAL_ROWS
        );
    }
}

/// The summary of a run: routes, services, link directions.
pub fn summary_table(r: &RunResult) -> String {
    let mut s = String::new();
    let w = r
        .routes
        .iter()
        .map(|x| x.route.len())
        .max()
        .unwrap_or(3)
        .max(5);
    let _ = writeln!(
        s,
        "{:<w$} {:>9} {:>11} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "route",
        "requests",
        "throughput",
        "errors",
        "mean ms",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "in flight"
    );
    let rows = shown_rows(&r.routes, |x| x.requests as f64);
    for route in rows.iter().map(|&i| &r.routes[i]).chain([&r.all]) {
        let l = &route.latency;
        let _ = writeln!(
            s,
            "{:<w$} {:>9} {:>9.1}/s {:>7.2}% {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
            route.route,
            route.requests,
            route.throughput_rps(),
            100.0 * route.error_rate(),
            ms(l.mean_ms()),
            ms(l.quantile_ms(0.5)),
            ms(l.quantile_ms(0.9)),
            ms(l.quantile_ms(0.99)),
            ms(l.quantile_ms(0.999)),
            ms(l.max_ms()),
            route.in_flight_at_end()
        );
    }
    more_line(&mut s, r.routes.len(), "routes", "requests", "summary.csv");
    if let Some(at) = r.stopped_at_s.filter(|&at| at < r.warmup_s) {
        let _ = writeln!(
            s,
            "warning: the run stopped at t = {at:.3} s, before its {} s warm-up ended: no request was measured.",
            r.warmup_s
        );
    } else if r.all.saturated {
        let _ = writeln!(s, "{}", saturation_warning(&r.all));
    }
    if r.all.errors > 0 {
        let kinds: Vec<String> = ErrorKind::ALL
            .iter()
            .zip(&r.all.errors_by_kind)
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{} {n}", k.as_str()))
            .collect();
        let _ = writeln!(s, "errors by kind: {}", kinds.join(", "));
    }
    if r.ejections > 0 {
        let _ = writeln!(
            s,
            "outlier detection ejected an instance {} time{}",
            r.ejections,
            if r.ejections == 1 { "" } else { "s" }
        );
    }
    releases(&mut s, r);
    let w = r
        .services
        .iter()
        .map(|x| x.service.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<w$} {:>13} {:>11} {:>11} {:>10} {:>9} {:>9}",
        "service",
        "instances×wkr",
        "arrivals/s",
        "utilisation",
        "mean queue",
        "max queue",
        "rejected"
    );
    for x in shown_rows_by(&r.services, |x| (x.utilisation, x.arrival_rate_per_s))
        .into_iter()
        .map(|i| &r.services[i])
    {
        let _ = writeln!(
            s,
            "{:<w$} {:>13} {:>11.1} {:>10.1}% {:>10.3} {:>9} {:>9}",
            x.service,
            format!("{}×{}", x.instances, x.workers),
            x.arrival_rate_per_s,
            100.0 * x.utilisation,
            x.mean_queue_length,
            x.max_queue_length,
            x.rejected
        );
    }
    more_line(
        &mut s,
        r.services.len(),
        "services",
        "utilisation (then arrivals)",
        "services.csv",
    );
    if !r.links.is_empty() {
        let links: Vec<_> = shown_rows_by(&r.links, |l| (l.utilisation, l.messages as f64))
            .into_iter()
            .map(|i| &r.links[i])
            .collect();
        let names: Vec<String> = links
            .iter()
            .map(|l| format!("{} ({}→{})", l.link, l.from, l.to))
            .collect();
        let w = width(&names, 14);
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:<w$} {:>10} {:>11} {:>15} {:>8}",
            "link direction", "messages", "utilisation", "mean queue ms", "retrans"
        );
        for (l, name) in links.iter().zip(&names) {
            let pad = w - name.chars().count();
            let _ = writeln!(
                s,
                "{name}{:pad$} {:>10} {:>10.2}% {:>15.4} {:>8}",
                "",
                l.messages,
                100.0 * l.utilisation,
                l.mean_queueing_ms,
                l.retransmissions
            );
        }
        more_line(
            &mut s,
            r.links.len(),
            "link directions",
            "utilisation (then messages)",
            "links.csv",
        );
    }
    edges_block(&mut s, r);
    fire_and_forget_block(&mut s, r);
    stores_block(&mut s, r);
    s
}

/// Replicated stores: reads, writes, the share of reads that came back stale, and the session
/// violations of stores keyed by client.
fn stores_block(s: &mut String, r: &RunResult) {
    let stores: Vec<_> = r
        .services
        .iter()
        .filter_map(|x| x.store.as_ref().map(|st| (x.service.as_str(), st)))
        .collect();
    if stores.is_empty() {
        return;
    }
    let sessions = stores.iter().any(|(_, st)| st.sessions.is_some());
    let w = width(
        &stores
            .iter()
            .map(|(n, _)| n.to_string())
            .collect::<Vec<_>>(),
        5,
    );
    let _ = writeln!(s);
    let _ = write!(
        s,
        "{:<w$} {:>9} {:>9} {:>7} {:>12} {:>12} {:>13} {:>13}",
        "store",
        "reads",
        "writes",
        "stale",
        "read mean ms",
        "read p99 ms",
        "write mean ms",
        "write p99 ms"
    );
    if sessions {
        let _ = write!(s, " {:>16} {:>17}", "read-your-writes", "monotonic reads");
    }
    let _ = writeln!(s);
    for (name, st) in &stores {
        let stale = if st.reads == 0 {
            "n/a".to_string()
        } else {
            format!("{:.2}%", 100.0 * st.stale_reads as f64 / st.reads as f64)
        };
        let _ = write!(
            s,
            "{name:<w$} {:>9} {:>9} {:>7} {:>12.3} {:>12.3} {:>13.3} {:>13.3}",
            st.reads,
            st.writes,
            stale,
            st.read_latency.mean_ms(),
            st.read_latency.quantile_ms(0.99),
            st.write_latency.mean_ms(),
            st.write_latency.quantile_ms(0.99)
        );
        match st.sessions {
            Some(v) => {
                let _ = write!(s, " {:>16} {:>17}", v.read_your_writes, v.monotonic_reads);
            }
            None if sessions => {
                let _ = write!(s, " {:>16} {:>17}", "", "");
            }
            None => {}
        }
        let _ = writeln!(s);
    }
}

/// The fire-and-forget calls per edge: nobody waits for them, so the route table does not show
/// how long they take or whether they fail.
fn fire_and_forget_block(s: &mut String, r: &RunResult) {
    let all: Vec<_> = r.edges.iter().filter(|e| e.fire_and_forget).collect();
    let shown: Vec<_> = shown_rows(&all, |e| e.stats.detached as f64)
        .into_iter()
        .map(|i| all[i])
        .collect();
    if shown.is_empty() {
        return;
    }
    let names: Vec<String> = shown
        .iter()
        .map(|e| format!("{}→{}", e.from, e.to))
        .collect();
    let w = width(&names, 21);
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<w$} {:>9} {:>8} {:>13}",
        "fire-and-forget edge", "sent", "failed", "sent→done ms"
    );
    for (e, name) in shown.iter().zip(&names) {
        let pad = w - name.chars().count();
        let st = &e.stats;
        let mean = if st.detached_done == 0 {
            "n/a".to_string()
        } else {
            format!(
                "{:.3}",
                st.detached_ns as f64 / st.detached_done as f64 / 1e6
            )
        };
        let _ = writeln!(
            s,
            "{name}{:pad$} {:>9} {:>8} {:>13}",
            "", st.detached, st.detached_failed, mean
        );
    }
    more_line(s, all.len(), "edges", "calls sent", "edges.csv");
}

/// Calls per edge, for the edges where a policy did something (retries, timeouts, refusals).
fn edges_block(s: &mut String, r: &RunResult) {
    let all_busy: Vec<_> = r
        .edges
        .iter()
        .filter(|e| e.stats.attempts != e.stats.calls || e.stats.failed_calls > 0)
        .collect();
    let busy: Vec<_> = shown_rows(&all_busy, |e| e.stats.failed_calls as f64)
        .into_iter()
        .map(|i| all_busy[i])
        .collect();
    if busy.is_empty() {
        return;
    }
    let names: Vec<String> = busy
        .iter()
        .map(|e| format!("{}→{}", e.from, e.to))
        .collect();
    let w = width(&names, 4);
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<w$} {:>9} {:>9} {:>8} {:>7} {:>8} {:>9} {:>8} {:>10}",
        "edge",
        "calls",
        "attempts",
        "retries",
        "hedges",
        "timeouts",
        "fail fast",
        "failed",
        "wasted ms"
    );
    for (e, name) in busy.iter().zip(&names) {
        let pad = w - name.chars().count();
        let st = &e.stats;
        let _ = writeln!(
            s,
            "{name}{:pad$} {:>9} {:>9} {:>8} {:>7} {:>8} {:>9} {:>8} {:>10.1}",
            "",
            st.calls,
            st.attempts,
            st.retries,
            st.hedges,
            st.timeouts,
            st.circuit_open + st.bulkhead_rejected,
            st.failed_calls,
            st.wasted_work_ns as f64 / 1e6
        );
    }
    more_line(s, all_busy.len(), "edges", "failed calls", "edges.csv");
}

/// The warning under a saturated run's table: latencies of completed requests alone are
/// survivor-biased exactly here, so say how many were left and give the bound.
pub fn saturation_warning(all: &crate::sim::RouteResult) -> String {
    format!(
        "warning: SATURATED — the backlog grew through the run: {} of {} requests ({:.1}%) were still in flight at the end. \
         The percentiles above count completed requests only; counting each request in flight at its age, p99 ≥ {} ms. \
         Add capacity, lower the load, or bound the queues (queue_capacity).",
        all.in_flight_at_end(),
        all.requests,
        100.0 * all.backlog_share(),
        ms(all.quantile_with_backlog_ms(0.99))
    )
}

/// The offered load per station and link direction, as printed by `meshsim check`.
pub fn load_table(load: &OfferedLoad) -> String {
    let mut s = String::new();
    let what = if load.throughput_is_bound {
        "at most (closed workload, asymptotic bound)"
    } else {
        "offered"
    };
    let _ = writeln!(s, "throughput {what}: {:.1} req/s", load.throughput_per_s);
    let _ = writeln!(s);
    let w = load
        .stations
        .iter()
        .map(|x| x.name.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let _ = writeln!(
        s,
        "{:<w$} {:>8} {:>11} {:>14} {:>12}",
        "service", "workers", "arrivals/s", "mean service", "utilisation"
    );
    for st in shown_rows_by(&load.stations, |x| (x.utilisation, x.arrival_rate_per_s))
        .into_iter()
        .map(|i| &load.stations[i])
    {
        let flag = if st.utilisation >= 1.0 {
            "  SATURATED"
        } else if st.blocking {
            "  (lower bound: blocking)"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "{:<w$} {:>8} {:>11.1} {:>11.3} ms {:>11.1}%{flag}",
            st.name,
            st.servers,
            st.arrival_rate_per_s,
            st.mean_service_ms,
            100.0 * st.utilisation
        );
    }
    more_line(
        &mut s,
        load.stations.len(),
        "services",
        "utilisation (then arrivals)",
        "a run's services.csv",
    );
    if !load.links.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:<32} {:>11} {:>12}",
            "link direction", "messages/s", "utilisation"
        );
        for l in shown_rows_by(&load.links, |x| (x.utilisation, x.messages_per_s))
            .into_iter()
            .map(|i| &load.links[i])
        {
            let name = format!("{} ({}→{})", l.link, l.from, l.to);
            let pad = 32usize.saturating_sub(name.chars().count());
            let _ = writeln!(
                s,
                "{name}{:pad$} {:>11.1} {:>11.2}%",
                "",
                l.messages_per_s,
                100.0 * l.utilisation
            );
        }
        more_line(
            &mut s,
            load.links.len(),
            "link directions",
            "utilisation (then messages)",
            "a run's links.csv",
        );
    }
    s
}

/// The width of a column holding `names`, at least `min` characters.
fn width(names: &[String], min: usize) -> usize {
    names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(min)
}

/// The releases of a run: each version's calls, errors and latency, and the steps that moved
/// traffic (the full list is in `deployments.csv`).
fn releases(s: &mut String, r: &RunResult) {
    if r.deployments.is_empty() {
        return;
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<12} {:>7} {:>9} {:>8} {:>9} {:>8}",
        "release", "version", "calls", "errors", "mean ms", "p99 ms"
    );
    for v in &r.versions {
        let rate = v.errors as f64 / v.calls.max(1) as f64;
        let _ = writeln!(
            s,
            "{:<12} {:>7} {:>9} {:>7.2}% {:>9} {:>8}",
            v.service,
            if v.version == 0 { "old" } else { "new" },
            v.calls,
            100.0 * rate,
            ms(v.latency.mean_ms()),
            ms(v.latency.quantile_ms(0.99))
        );
    }
    let steps: Vec<String> = r
        .deployments
        .iter()
        .filter(|d| !matches!(d.step, "started" | "drained"))
        .map(|d| {
            let detail = if d.detail.is_empty() || d.step != "rollback" {
                String::new()
            } else {
                format!(" ({})", d.detail)
            };
            format!(
                "{} {} at {} s{detail}",
                d.service,
                d.step.replace('_', " "),
                d.time_s
            )
        })
        .collect();
    let _ = writeln!(s, "steps: {}", steps.join(", "));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_table_keeps_the_largest_and_breaks_ties_by_the_second_key() {
        // 30 links without bandwidth (utilisation 0 each) and messages 0..30, one with bandwidth.
        let mut links: Vec<(f64, f64)> = (0..30).map(|m| (0.0, f64::from(m))).collect();
        links[3].0 = 0.2;
        let rows = shown_rows_by(&links, |&x| x);
        assert_eq!(rows.len(), TERMINAL_ROWS);
        assert_eq!(rows[0], 3, "the one with utilisation first");
        let rest: Vec<usize> = (11..30).rev().collect();
        assert_eq!(rows[1..], rest[..], "then the most messages");
        // Short tables keep every row, in order.
        assert_eq!(shown_rows_by(&links[..5], |&x| x), vec![0, 1, 2, 3, 4]);
        assert_eq!(shown_rows(&links[..5], |x| x.0), vec![0, 1, 2, 3, 4]);
    }
}
