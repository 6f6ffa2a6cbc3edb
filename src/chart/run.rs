//! Charts of a single run: the latency distribution per route, and the time series.

use super::{Dash, Figure, Panel, Series, Style, Table, model_name};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Most routes drawn as bars in the breakdown, and as lines in the latency CDF: beyond them a
/// chart is unreadable, so a model of thousands of routes shows its busiest (the CSV files keep
/// every route).
const BARS: usize = 20;
const LINES: usize = 8;

/// The `limit` routes with the most requests (`summary.csv`), or `None` when there are no more
/// than `limit` routes and all are drawn.
fn busiest_routes(dir: &Path, limit: usize) -> Option<HashSet<String>> {
    crate::report::busiest_rows(&dir.join("summary.csv"), "route", "requests", limit)
        .map(|routes| routes.into_iter().collect())
}

/// The subtitle's note when only the busiest `limit` of `total` routes are drawn.
fn shown_of(total: usize, limit: usize) -> String {
    if total > limit {
        format!(" (the {limit} busiest of {total} routes, and all)")
    } else {
        String::new()
    }
}

/// Every chart the files in a run folder allow.
pub fn figures(dir: &Path, style: &Style) -> Result<Vec<Figure>, String> {
    let mut out = Vec::new();
    if dir.join("latency_cdf.csv").is_file() {
        out.push(cdf(dir, style.log_x)?);
    }
    if dir.join("timeseries.csv").is_file() {
        out.push(timeseries(dir, style.log_y)?);
    }
    if dir.join("breakdown.csv").is_file() {
        out.push(breakdown(dir)?);
    }
    Ok(out)
}

/// Where the time goes: per route, stacked bars of the mean latency by component (summed over
/// hops), for all requests and for the requests at or above p99.
pub fn breakdown(dir: &Path) -> Result<Figure, String> {
    let t = Table::read(&dir.join("breakdown.csv"))?;
    let (route, component) = (t.col("route")?, t.col("component")?);
    let mut routes: Vec<String> = Vec::new();
    let mut components: Vec<String> = crate::sim::Component::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .collect();
    let mut seen_routes = HashSet::new();
    let mut seen_components = HashSet::new();
    for row in &t.rows {
        if seen_routes.insert(row[route].as_str()) {
            routes.push(row[route].clone());
        }
        seen_components.insert(row[component].as_str());
        if !components.contains(&row[component]) {
            components.push(row[component].clone());
        }
    }
    components.retain(|c| seen_components.contains(c.as_str()));
    // With one route, `all` is the same bar again.
    if routes.len() == 2 && routes[1] == "all" {
        routes.pop();
    }
    let total_routes = routes.iter().filter(|r| *r != "all").count();
    if let Some(busiest) = busiest_routes(dir, BARS) {
        routes.retain(|r| r == "all" || busiest.contains(r));
    }
    let index: HashMap<&str, usize> = routes
        .iter()
        .enumerate()
        .map(|(i, r)| (r.as_str(), i))
        .collect();
    let panel = |value: &str, label: &str| -> Result<Panel, String> {
        let v = t.col(value)?;
        // ms per (route, component), summed over hops in one pass over the rows.
        let mut sums = vec![vec![0.0; components.len()]; routes.len()];
        for (i, row) in t.rows.iter().enumerate() {
            let (Some(&x), Some(k)) = (
                index.get(row[route].as_str()),
                components.iter().position(|c| *c == row[component]),
            ) else {
                continue;
            };
            let ms = t.num(i, v);
            if ms.is_finite() {
                sums[x][k] += ms;
            }
        }
        let mut bottoms = vec![0.0; routes.len()];
        let mut series = Vec::new();
        for (k, c) in components.iter().enumerate() {
            let mut bars = Vec::new();
            for x in 0..routes.len() {
                let ms = sums[x][k];
                if ms > 0.0 {
                    bars.push((x as f64, bottoms[x], bottoms[x] + ms));
                    bottoms[x] += ms;
                }
            }
            if !bars.is_empty() {
                series.push(Series::bars(c.as_str(), k, bars));
            }
        }
        Ok(Panel {
            x_label: String::new(),
            y_label: label.into(),
            y_from_zero: true,
            x_categories: routes.clone(),
            series,
            ..Panel::default()
        })
    };
    let mut panels = vec![
        panel("mean_ms", "mean latency (ms)")?,
        panel("p99_requests_mean_ms", "p99 requests (ms)")?,
    ];
    if let Some(last) = panels.last_mut() {
        last.x_label = "route".into();
    }
    Ok(Figure {
        name: "breakdown".into(),
        title: format!("{}: where the time goes", model_name(dir)),
        subtitle: format!(
            "critical path of successful requests, summed over hops; bottom: the requests at or above p99{}",
            shown_of(total_routes, BARS)
        ),
        panels,
    })
}

/// The latency CDF per route (and all), with guide lines at p50, p90 and p99.
pub fn cdf(dir: &Path, log_x: bool) -> Result<Figure, String> {
    let busiest = busiest_routes(dir, LINES);
    // Only the rows of the routes drawn are kept; every route is counted.
    let mut names: HashSet<String> = HashSet::new();
    let t = Table::read_keeping(&dir.join("latency_cdf.csv"), Some("route"), |name| {
        if !names.contains(name) {
            names.insert(name.to_string());
        }
        busiest
            .as_ref()
            .is_none_or(|b| name == "all" || b.contains(name))
    })?;
    let (route, ms, frac) = (
        t.col("route")?,
        t.col("latency_ms")?,
        t.col("cumulative_fraction")?,
    );
    let total_routes = names.len() - usize::from(names.contains("all"));
    let mut series: Vec<Series> = Vec::new();
    for i in 0..t.rows.len() {
        let name = &t.rows[i][route];
        if series.last().is_none_or(|s| &s.name != name) {
            let colour = series.len();
            series.push(Series::line(name.clone(), colour, Vec::new()));
        }
        if let Some(s) = series.last_mut() {
            s.points.push((t.num(i, ms), t.num(i, frac)));
        }
    }
    for s in &mut series {
        if s.name == "all" {
            s.colour = Some(7); // black
            s.dash = Dash::Dashed;
        }
    }
    Ok(Figure {
        name: "latency_cdf".into(),
        title: format!("{}: latency distribution", model_name(dir)),
        subtitle: format!(
            "cumulative fraction of successful requests completed within a latency, per route{}",
            shown_of(total_routes, LINES)
        ),
        panels: vec![Panel {
            x_label: if log_x {
                "latency (ms, log scale)".into()
            } else {
                "latency (ms)".into()
            },
            y_label: "fraction of requests".into(),
            log_x,
            y_range: Some((0.0, 1.02)),
            guides: vec![
                (0.5, "p50".into()),
                (0.9, "p90".into()),
                (0.99, "p99".into()),
            ],
            series,
            ..Panel::default()
        }],
    })
}

/// Throughput and errors, p99 latency, and queue lengths per interval, stacked.
pub fn timeseries(dir: &Path, log_y: bool) -> Result<Figure, String> {
    let t = Table::read(&dir.join("timeseries.csv"))?;
    let start = t.col("start_s")?;
    let end = t.col("end_s")?;
    let mid = |i: usize| (t.num(i, start) + t.num(i, end)) / 2.0;
    let column = |name: &str, scale: f64| -> Result<Vec<(f64, f64)>, String> {
        let c = t.col(name)?;
        Ok((0..t.rows.len())
            .map(|i| (mid(i), t.num(i, c) * scale))
            .filter(|p| p.1.is_finite())
            .collect())
    };
    let mut errors = Series::line("error rate (%)", 5, column("error_rate", 100.0)?);
    errors.secondary = true;
    errors.dash = Dash::Dashed;
    let traffic = Panel {
        x_label: String::new(),
        y_label: "throughput (req/s)".into(),
        y2_label: Some("errors (%)".into()),
        y_from_zero: true,
        series: vec![
            Series::line("throughput", 0, column("throughput_rps", 1.0)?),
            errors,
        ],
        ..Panel::default()
    };
    let latency = Panel {
        x_label: String::new(),
        y_label: "latency (ms)".into(),
        y_from_zero: true,
        log_y,
        series: vec![Series::line("p99", 1, column("p99_ms", 1.0)?), {
            let mut p50 = Series::line("p50", 2, column("p50_ms", 1.0)?);
            p50.dash = Dash::Dashed;
            p50
        }],
        ..Panel::default()
    };
    let queues: Vec<Series> = t
        .header
        .iter()
        .filter_map(|h| h.strip_prefix("queue_length_"))
        .enumerate()
        .map(|(k, service)| {
            Ok(Series::line(
                service,
                k,
                column(&format!("queue_length_{service}"), 1.0)?,
            ))
        })
        .collect::<Result<_, String>>()?;
    let queue = Panel {
        x_label: String::new(),
        y_label: "calls waiting".into(),
        y_from_zero: true,
        series: queues,
        ..Panel::default()
    };
    let mut panels = vec![traffic, latency, queue];
    panels.extend(instances_panel(&t, &column)?);
    panels.extend(share_panel(
        &t,
        &column,
        "new_version_share_",
        "new version (% of calls)",
    )?);
    panels.extend(share_panel(
        &t,
        &column,
        "cpu_utilisation_",
        "host CPU (% of cores)",
    )?);
    panels.extend(resilience_panel(&t, &column, interval_of(&t, start, end))?);
    if let Some(last) = panels.last_mut() {
        last.x_label = "simulated time (s)".into();
    }
    if !t.rows.is_empty() {
        let range = (t.num(0, start), t.num(t.rows.len() - 1, end));
        for p in &mut panels {
            p.x_range = Some(range);
        }
    }
    // Fault windows, from the model the run wrote beside its results: shaded in every panel,
    // named in the first.
    let mut windows = fault_windows(dir);
    if let Some(range) = panels.first().and_then(|p| p.x_range) {
        windows.extend(release_marks(dir, (range.1 - range.0) * 0.004));
    }
    for (k, p) in panels.iter_mut().enumerate() {
        p.spans = windows
            .iter()
            .map(|(a, b, name)| (*a, *b, if k == 0 { name.clone() } else { String::new() }))
            .collect();
    }
    let interval = t
        .rows
        .first()
        .map(|_| t.num(0, end) - t.num(0, start))
        .unwrap_or(f64::NAN);
    Ok(Figure {
        name: "timeseries".into(),
        title: format!("{}: over time", model_name(dir)),
        subtitle: format!(
            "per {} s interval, warm-up included",
            super::tick_label(interval)
        ),
        panels,
    })
}

type Points = Vec<(f64, f64)>;

/// The `[[faults]]` of `DIR/model.toml` as (start s, end s, "kind target").
fn fault_windows(dir: &Path) -> Vec<(f64, f64, String)> {
    let Ok(text) = std::fs::read_to_string(dir.join("model.toml")) else {
        return Vec::new();
    };
    let Ok(model) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let Some(faults) = model.get("faults").and_then(|f| f.as_array()) else {
        return Vec::new();
    };
    let number = |v: Option<&toml::Value>| {
        v.and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
    };
    faults
        .iter()
        .filter_map(|f| {
            let at = number(f.get("at_s"))?;
            let duration = number(f.get("duration_s"))?;
            let kind = f.get("kind")?.as_str()?;
            let target = ["service", "link"]
                .iter()
                .find_map(|k| f.get(*k).and_then(|v| v.as_str()))
                .unwrap_or("");
            Some((
                at,
                at + duration,
                format!("{kind} {target}").trim().to_string(),
            ))
        })
        .collect()
}

/// The steps of the releases in `DIR/deployments.csv` that change where traffic goes (start,
/// canary serving, promotion, switch, rollback, done), as thin marks `width` seconds wide. A
/// mark within 15 widths of the last labelled one goes unlabelled, so labels do not overlap
/// (`done` at the instant of a rollback adds nothing).
fn release_marks(dir: &Path, width: f64) -> Vec<(f64, f64, String)> {
    let Ok(t) = Table::read(&dir.join("deployments.csv")) else {
        return Vec::new();
    };
    let (Ok(time), Ok(step)) = (t.col("time_s"), t.col("step")) else {
        return Vec::new();
    };
    let label = |step: &str| match step {
        "start" => Some("release"),
        "canary_serving" => Some("canary"),
        "promote" => Some("promote"),
        "switch" => Some("switch"),
        "rollback" => Some("rollback"),
        "done" => Some("done"),
        _ => None,
    };
    let mut last = f64::NEG_INFINITY;
    let mut marks = Vec::new();
    for i in 0..t.rows.len() {
        let Some(name) = label(&t.rows[i][step]) else {
            continue;
        };
        let at = t.num(i, time);
        let text = if at - last >= 15.0 * width {
            last = at;
            name.to_string()
        } else {
            String::new()
        };
        marks.push((at, at + width, text));
    }
    marks
}

/// One line per column named `PREFIX<name>` (a share, drawn in %), labelled by the name;
/// none when the time series has no such column. Each host's CPU utilisation
/// (`cpu_utilisation_`), each released service's new-version share (`new_version_share_`).
fn share_panel(
    t: &Table,
    column: &dyn Fn(&str, f64) -> Result<Points, String>,
    prefix: &str,
    y_label: &str,
) -> Result<Option<Panel>, String> {
    let series = t
        .header
        .iter()
        .filter_map(|h| h.strip_prefix(prefix))
        .enumerate()
        .map(|(k, name)| {
            Ok(Series::line(
                name,
                k,
                column(&format!("{prefix}{name}"), 100.0)?,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((!series.is_empty()).then(|| Panel {
        x_label: String::new(),
        y_label: y_label.into(),
        y_range: Some((0.0, 100.0)),
        series,
        ..Panel::default()
    }))
}

fn interval_of(t: &Table, start: usize, end: usize) -> f64 {
    t.rows
        .first()
        .map(|_| t.num(0, end) - t.num(0, start))
        .unwrap_or(f64::NAN)
}

/// Ready instances of the services whose count changes (autoscaling, crashes, releases), and
/// dashed, for services behind a registry, the instances their callers choose among (a crashed
/// one stays there until detected); none if no count changes.
fn instances_panel(
    t: &Table,
    column: &dyn Fn(&str, f64) -> Result<Points, String>,
) -> Result<Option<Panel>, String> {
    let mut series = Vec::new();
    for (k, service) in t
        .header
        .iter()
        .filter_map(|h| h.strip_prefix("instances_"))
        .enumerate()
    {
        let points = column(&format!("instances_{service}"), 1.0)?;
        let routable = if t.col(&format!("routable_{service}")).is_ok() {
            Some(column(&format!("routable_{service}"), 1.0)?)
        } else {
            None
        };
        let varies = |p: &Points| p.windows(2).any(|w| (w[0].1 - w[1].1).abs() > 1e-9);
        if varies(&points) || routable.as_ref().is_some_and(varies) {
            series.push(Series::line(service, k, points));
            if let Some(r) = routable {
                let mut view = Series::line(format!("{service} in callers' view"), k, r);
                view.dash = Dash::Dashed;
                series.push(view);
            }
        }
    }
    let views = series.iter().any(|s| s.name.ends_with("in callers' view"));
    Ok((!series.is_empty()).then(|| Panel {
        x_label: String::new(),
        y_label: if views {
            "instances"
        } else {
            "ready instances"
        }
        .into(),
        y_from_zero: true,
        series,
        ..Panel::default()
    }))
}

/// Retries and timeouts per second, and the share of time each circuit breaker was open; none
/// if the model has no call policies.
fn resilience_panel(
    t: &Table,
    column: &dyn Fn(&str, f64) -> Result<Points, String>,
    interval: f64,
) -> Result<Option<Panel>, String> {
    if t.col("retries").is_err() {
        return Ok(None);
    }
    let retries = column("retries", 1.0 / interval)?;
    let timeouts = column("timeouts", 1.0 / interval)?;
    let breakers: Vec<&str> = t
        .header
        .iter()
        .filter_map(|h| h.strip_prefix("breaker_open_"))
        .collect();
    let busy = |p: &Points| p.iter().any(|x| x.1 > 0.0);
    if !busy(&retries) && !busy(&timeouts) && breakers.is_empty() {
        return Ok(None);
    }
    let mut series = vec![Series::line("retries/s", 5, retries), {
        let mut s = Series::line("timeouts/s", 3, timeouts);
        s.dash = Dash::Dashed;
        s
    }];
    for (k, b) in breakers.iter().enumerate() {
        let mut s = Series::line(
            format!("{} open", b.replace("_to_", "→")),
            (4 + k) % 8,
            column(&format!("breaker_open_{b}"), 100.0)?,
        );
        s.secondary = true;
        s.dash = Dash::Dotted;
        series.push(s);
    }
    Ok(Some(Panel {
        x_label: String::new(),
        y_label: "per second".into(),
        y2_label: (!breakers.is_empty()).then(|| "breaker open (%)".into()),
        y_from_zero: true,
        series,
        ..Panel::default()
    }))
}
