//! Charts of a sweep, from `points.csv`: latency against the swept parameter, throughput against
//! offered load, and custom charts of any metric.

use super::{Dash, Figure, Panel, Series, Style, Table, model_name};
use std::path::Path;

/// A latency chart whose values span more decades than this gets a log axis by itself.
const LOG_SPAN_DECADES: f64 = 1.5;

/// The path of the arrival rate, the parameter that makes a throughput chart.
const RATE: &str = "workload.rate_per_s";

/// A sweep's points.csv, with the varied parameters identified.
pub struct Points {
    pub table: Table,
    /// The sweep's folder.
    pub dir: std::path::PathBuf,
    /// Columns of the varied parameters, in axis order.
    pub params: Vec<usize>,
    pub route: usize,
    pub replications: usize,
    pub model: String,
}

/// The title of a sweep's charts and report: `MODEL: sweep of A × B`.
pub fn title<'a>(model: &str, parameters: impl IntoIterator<Item = &'a str>) -> String {
    let parameters: Vec<&str> = parameters.into_iter().collect();
    format!("{model}: sweep of {}", parameters.join(" × "))
}

impl Points {
    /// The names of the varied parameters, in axis order.
    pub fn parameter_names(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|&c| self.table.header[c].as_str())
    }

    /// Reads `DIR/points.csv`; the parameters are the columns between `point_id` and `route`.
    pub fn read(dir: &Path) -> Result<Points, String> {
        let table = Table::read(&dir.join("points.csv"))?;
        let route = table.col("route")?;
        let first = table.col("point_id")? + 1;
        let replications = table.col("replications")?;
        Ok(Points {
            params: (first..route).collect(),
            route,
            replications,
            model: model_name(dir),
            dir: dir.to_path_buf(),
            table,
        })
    }

    /// Rows of `route`, with every parameter beyond the first two at its first value.
    fn rows(&self, route: &str) -> Vec<usize> {
        let fixed: Vec<(usize, String)> = self
            .params
            .iter()
            .skip(2)
            .map(|&c| (c, self.first_value(c)))
            .collect();
        (0..self.table.rows.len())
            .filter(|&i| self.table.rows[i][self.route] == route)
            .filter(|&i| fixed.iter().all(|(c, v)| &self.table.rows[i][*c] == v))
            .collect()
    }

    fn first_value(&self, col: usize) -> String {
        self.table
            .rows
            .first()
            .map(|r| r[col].clone())
            .unwrap_or_default()
    }

    /// Distinct values of a column in order of appearance.
    fn values(&self, col: usize, rows: &[usize]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for &i in rows {
            let v = &self.table.rows[i][col];
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
        out
    }

    /// Those of `rows` whose column `col` holds `value`.
    fn rows_where(&self, rows: &[usize], col: usize, value: &str) -> Vec<usize> {
        rows.iter()
            .copied()
            .filter(|&i| self.table.rows[i][col] == value)
            .collect()
    }

    /// x coordinates for a parameter column: its numbers, or category indices with labels.
    fn x_axis(&self, col: usize, rows: &[usize]) -> (Vec<String>, bool) {
        let values = self.values(col, rows);
        let numeric = values.iter().all(|v| v.parse::<f64>().is_ok());
        (values, numeric)
    }

    fn x_of(&self, i: usize, col: usize, categories: &[String], numeric: bool) -> f64 {
        let v = &self.table.rows[i][col];
        if numeric {
            v.parse().unwrap_or(f64::NAN)
        } else {
            categories
                .iter()
                .position(|c| c == v)
                .map_or(f64::NAN, |p| p as f64)
        }
    }

    /// A series of metric `y` over the x column, for the rows given; with its CI band if the
    /// `<y>_ci95` column exists and there are replications to make one.
    fn series(
        &self,
        name: String,
        rows: &[usize],
        x: usize,
        y: &str,
        cats: &[String],
        numeric: bool,
    ) -> Result<Series, String> {
        let yc = self.table.col(y)?;
        let ci = self.table.col(&format!("{y}_ci95")).ok();
        let mut s = Series::line(name, 0, Vec::new());
        for &i in rows {
            let (xv, yv) = (self.x_of(i, x, cats, numeric), self.table.num(i, yc));
            if !(xv.is_finite() && yv.is_finite()) {
                continue;
            }
            s.points.push((xv, yv));
            if let Some(c) = ci {
                let h = self.table.num(i, c);
                if h.is_finite() && self.table.num(i, self.replications) > 1.0 {
                    s.band.push((xv, (yv - h).max(0.0), yv + h));
                }
            }
        }
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
        s.band.sort_by(|a, b| a.0.total_cmp(&b.0));
        s.markers = s.points.len() <= 40;
        Ok(s)
    }

    /// Rings around the points of metric `y` whose runs were saturated (the backlog grew), so
    /// that a latency that only looks finite because the run ended is never read as a result.
    /// `None` when no point was saturated (or the sweep predates the column).
    fn saturated(
        &self,
        rows: &[usize],
        x: usize,
        y: &str,
        cats: &[String],
        numeric: bool,
    ) -> Option<Series> {
        let col = self.table.col("saturated").ok()?;
        let yc = self.table.col(y).ok()?;
        let points: Vec<(f64, f64)> = rows
            .iter()
            .filter(|&&i| self.table.num(i, col) > 0.0)
            .map(|&i| (self.x_of(i, x, cats, numeric), self.table.num(i, yc)))
            .filter(|(a, b)| a.is_finite() && b.is_finite())
            .collect();
        if points.is_empty() {
            return None;
        }
        let mut s = Series::line("saturated (backlog grew)", 7, points);
        s.dash = Dash::Rings;
        Some(s)
    }
}

/// The standard charts of a sweep: latency against the first parameter, and throughput against
/// offered load when the arrival rate is varied.
pub fn figures(dir: &Path, route: &str, style: &Style) -> Result<Vec<Figure>, String> {
    let p = Points::read(dir)?;
    if p.params.is_empty() {
        return Err(format!(
            "`{}` has no parameter columns",
            dir.join("points.csv").display()
        ));
    }
    let mut out = vec![latency(&p, route, style)?];
    if let Some(rate) = p.params.iter().position(|&c| p.table.header[c] == RATE) {
        out.push(throughput(&p, route, rate)?);
    }
    Ok(out)
}

/// The subtitle: the route, the replications, what the intervals are drawn as (bands along a
/// numeric axis, bars at categories), and the other parameters.
fn describe(p: &Points, route: &str, numeric: bool) -> String {
    let reps = p
        .table
        .rows
        .first()
        .map(|r| r[p.replications].clone())
        .unwrap_or_default();
    let route = if route == "all" {
        "all routes".to_string()
    } else {
        format!("route {route}")
    };
    let drawn = if numeric { "bands" } else { "bars" };
    let mut s =
        format!("{route}; {reps} replications per point; {drawn}: 95% confidence intervals");
    if let Some(&c) = p.params.get(1) {
        s.push_str(&format!("; colours: {}", p.table.header[c]));
    }
    if p.params.len() > 2 {
        let fixed: Vec<String> = p.params[2..]
            .iter()
            .map(|&c| format!("{}={}", p.table.header[c], p.first_value(c)))
            .collect();
        s.push_str(&format!("; {}", fixed.join(", ")));
    }
    s
}

/// p50, p90, p99 (and p99.9 with enough samples) against the first parameter; with a second
/// parameter, one colour per value and the percentile by line style.
fn latency(p: &Points, route: &str, style: &Style) -> Result<Figure, String> {
    let rows = p.rows(route);
    let x = p.params[0];
    let (cats, numeric) = p.x_axis(x, &rows);
    let completed = p.table.col("completed")?;
    let samples_everywhere = rows
        .iter()
        .all(|&i| p.table.num(i, completed) * p.table.num(i, p.replications) >= 10_000.0);
    let mut percentiles = vec![
        ("p50", "p50_ms", Dash::Dotted),
        ("p90", "p90_ms", Dash::Dashed),
        ("p99", "p99_ms", Dash::Solid),
    ];
    if samples_everywhere && p.params.len() == 1 {
        percentiles.push(("p99.9", "p999_ms", Dash::Solid));
    }
    let mut series = Vec::new();
    if p.params.len() == 1 {
        for (k, (label, col, _)) in percentiles.iter().enumerate() {
            let mut s = p.series(label.to_string(), &rows, x, col, &cats, numeric)?;
            s.colour = Some(k);
            series.push(s);
        }
    } else {
        let group = p.params[1];
        for (k, value) in p.values(group, &rows).iter().enumerate() {
            let sub = p.rows_where(&rows, group, value);
            for (label, col, dash) in &percentiles {
                let mut s = p.series(format!("{label} · {value}"), &sub, x, col, &cats, numeric)?;
                s.colour = Some(k);
                s.dash = *dash;
                if *label != "p99" {
                    s.band.clear();
                }
                series.push(s);
            }
        }
    }
    if let Some(rings) = p.saturated(&rows, x, "p99_ms", &cats, numeric) {
        series.push(rings);
    }
    let guides = slo_limits(p, route);
    // Latencies that span more than a decade and a half (a knee into saturation) flatten
    // everything below the knee on a linear axis: switch to a log axis, and say so.
    let (lo, hi) = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|y| *y > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(a, b), y| (a.min(y), b.max(y)));
    let span = (hi / lo).log10();
    let log_y = style.log_y || span > LOG_SPAN_DECADES;
    let mut subtitle = describe(p, route, numeric);
    if log_y && !style.log_y {
        subtitle.push_str(&format!("; log scale: latencies span {span:.1} decades"));
    }
    Ok(Figure {
        name: "latency".into(),
        title: format!("{}: latency vs {}", p.model, p.table.header[x]),
        subtitle,
        panels: vec![Panel {
            x_label: p.table.header[x].clone(),
            y_label: if log_y {
                "latency (ms, log scale)".into()
            } else {
                "latency (ms)".into()
            },
            y_from_zero: true,
            guides,
            log_y,
            log_x: style.log_x && numeric,
            x_categories: if numeric { Vec::new() } else { cats },
            series,
            ..Panel::default()
        }],
    })
}

/// The latency SLOs of `slo.csv` (written by `sweep --slo`) for `route`, as guide lines at
/// their limits.
fn slo_limits(p: &Points, route: &str) -> Vec<(f64, String)> {
    let Ok(t) = super::Table::read(&p.dir.join("slo.csv")) else {
        return Vec::new();
    };
    let (Ok(slo), Ok(r), Ok(metric), Ok(limit)) = (
        t.col("slo"),
        t.col("route"),
        t.col("metric"),
        t.col("limit"),
    ) else {
        return Vec::new();
    };
    let mut out: Vec<(f64, String)> = Vec::new();
    for (i, row) in t.rows.iter().enumerate() {
        let latency = !row[metric].ends_with("errors") && !row[metric].ends_with("error_rate");
        let text = format!("SLO {}", row[slo]);
        if row[r] == route && latency && !out.iter().any(|g| g.1 == text) {
            out.push((t.num(i, limit), text));
        }
    }
    out
}

/// The last component of a dotted path, for legends.
fn short(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// Achieved throughput and error rate against offered load, with the ideal y = x.
fn throughput(p: &Points, route: &str, rate_param: usize) -> Result<Figure, String> {
    let rows = p.rows(route);
    let x = p.params[rate_param];
    let (cats, _) = p.x_axis(x, &rows);
    let other = p.params.iter().copied().find(|&c| c != x);
    let groups: Vec<(String, Vec<usize>)> = match other {
        None => vec![(String::new(), rows.clone())],
        Some(g) => p
            .values(g, &rows)
            .into_iter()
            .map(|v| {
                let sub = p.rows_where(&rows, g, &v);
                (format!(" · {v}"), sub)
            })
            .collect(),
    };
    let mut series = Vec::new();
    let offered: Vec<f64> = rows
        .iter()
        .map(|&i| p.x_of(i, x, &cats, true))
        .filter(|v| v.is_finite())
        .collect();
    let (lo, hi) = offered
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    let mut ideal = Series::line(
        "ideal (y = x)",
        0,
        vec![(lo.min(0.0), lo.min(0.0)), (hi, hi)],
    );
    ideal.colour = None;
    ideal.dash = Dash::Dashed;
    series.push(ideal);
    for (k, (suffix, sub)) in groups.iter().enumerate() {
        let mut t = p.series(
            format!("throughput{suffix}"),
            sub,
            x,
            "throughput_rps",
            &cats,
            true,
        )?;
        t.colour = Some(k);
        series.push(t);
        let mut e = p.series(format!("errors{suffix}"), sub, x, "error_rate", &cats, true)?;
        e.points.iter_mut().for_each(|pt| pt.1 *= 100.0);
        e.band.clear();
        // With one group, errors get a colour of their own; with several, colour is the group.
        e.colour = Some(if groups.len() == 1 { 5 } else { k });
        e.dash = Dash::Dotted;
        e.secondary = true;
        series.push(e);
    }
    if let Some(rings) = p.saturated(&rows, x, "throughput_rps", &cats, true) {
        series.push(rings);
    }
    Ok(Figure {
        name: "throughput".into(),
        title: format!("{}: throughput vs offered load", p.model),
        subtitle: describe(p, route, true),
        panels: vec![Panel {
            x_label: "offered load (req/s)".into(),
            y_label: "throughput (req/s)".into(),
            y2_label: Some("errors (%)".into()),
            y_from_zero: true,
            series,
            ..Panel::default()
        }],
    })
}

/// A chart of metric `y` against parameter `x`, one series per value of parameter `series_by`.
pub fn custom(
    dir: &Path,
    x: &str,
    y: &str,
    series_by: Option<&str>,
    route: &str,
    style: &Style,
) -> Result<Figure, String> {
    let p = Points::read(dir)?;
    let xc = p
        .table
        .col(x)
        .map_err(|_| format!("`{x}` is not a parameter of this sweep"))?;
    let rows: Vec<usize> = (0..p.table.rows.len())
        .filter(|&i| p.table.rows[i][p.route] == route)
        .collect();
    if rows.is_empty() {
        return Err(format!("no rows for route `{route}`"));
    }
    let (cats, numeric) = p.x_axis(xc, &rows);
    let mut series = Vec::new();
    match series_by {
        None => {
            let mut s = p.series(y.to_string(), &rows, xc, y, &cats, numeric)?;
            s.colour = Some(0);
            series.push(s);
        }
        Some(by) => {
            let bc = p
                .table
                .col(by)
                .map_err(|_| format!("`{by}` is not a parameter of this sweep"))?;
            for (k, v) in p.values(bc, &rows).iter().enumerate() {
                let sub = p.rows_where(&rows, bc, v);
                let mut s = p.series(v.clone(), &sub, xc, y, &cats, numeric)?;
                s.colour = Some(k);
                series.push(s);
            }
        }
    }
    Ok(Figure {
        name: format!("{}_vs_{}", y, short(x)),
        title: format!("{}: {y} vs {x}", p.model),
        subtitle: describe(&p, route, numeric),
        panels: vec![Panel {
            x_label: x.to_string(),
            y_label: y.to_string(),
            y_from_zero: true,
            log_y: style.log_y,
            log_x: style.log_x && numeric,
            x_categories: if numeric { Vec::new() } else { cats },
            series,
            ..Panel::default()
        }],
    })
}
