//! The chart of `meshsim capacity`: its search made visible. Per SLO, the metric at every rate
//! the search simulated, with its 95% interval, the limit, and the capacity marked.

use super::{Dash, Figure, Panel, Series, Table};
use std::path::Path;

/// One panel per SLO, from `capacity_search.csv` (and the capacities from `capacity.csv`).
pub fn figures(dir: &Path) -> Result<Vec<Figure>, String> {
    let t = Table::read(&dir.join("capacity_search.csv"))?;
    let (slo, rate, value, ci, limit, verdict) = (
        t.col("slo")?,
        t.col("rate_rps")?,
        t.col("value")?,
        t.col("value_ci95")?,
        t.col("limit")?,
        t.col("verdict")?,
    );
    let found = Table::read(&dir.join("capacity.csv")).ok();
    let mut names: Vec<String> = Vec::new();
    for row in &t.rows {
        if !names.contains(&row[slo]) {
            names.push(row[slo].clone());
        }
    }
    let mut panels = Vec::new();
    for name in &names {
        let rows: Vec<usize> = (0..t.rows.len())
            .filter(|&i| t.rows[i][slo] == *name)
            .collect();
        let mut metric = Series::line(name.as_str(), 0, Vec::new());
        metric.markers = true;
        let mut failing = Series::line("violated", 5, Vec::new());
        failing.dash = Dash::Rings;
        let mut top = 0.0f64;
        for &i in &rows {
            let (x, y, h) = (t.num(i, rate), t.num(i, value), t.num(i, ci));
            if y.is_finite() {
                metric.points.push((x, y));
                if h.is_finite() {
                    metric.band.push((x, (y - h).max(0.0), y + h));
                }
                top = top.max(y);
            }
            if t.rows[i][verdict] == "violates" && y.is_finite() {
                failing.points.push((x, y));
            }
        }
        let lim = rows.first().map_or(f64::NAN, |&i| t.num(i, limit));
        let mut series = vec![metric];
        if !failing.points.is_empty() {
            series.push(failing);
        }
        if let Some(c) = found.as_ref().and_then(|f| capacity_of(f, name))
            && c > 0.0
        {
            let mut mark = Series::line(format!("capacity {c:.0} req/s"), 7, vec![(c, lim)]);
            mark.dash = Dash::Rings;
            series.push(mark);
        }
        panels.push(Panel {
            x_label: String::new(),
            y_label: {
                let metric = name.split("<=").next().unwrap_or(name);
                if metric.ends_with("errors") || metric.ends_with("error_rate") {
                    format!("{metric} (fraction)")
                } else {
                    format!("{metric} (ms)")
                }
            },
            y_from_zero: true,
            guides: vec![(lim, format!("limit {name}"))],
            series,
            ..Panel::default()
        });
    }
    if let Some(last) = panels.last_mut() {
        last.x_label = "arrival rate (req/s)".into();
    }
    Ok(vec![Figure {
        name: "capacity".into(),
        title: format!("{}: capacity search", super::model_name(dir)),
        subtitle:
            "every rate simulated, with 95% intervals; values of saturated rates are off the chart"
                .into(),
        panels,
    }])
}

/// The capacity `capacity.csv` reports for `slo`.
fn capacity_of(t: &Table, slo: &str) -> Option<f64> {
    let (s, c) = (t.col("slo").ok()?, t.col("capacity_rps").ok()?);
    (0..t.rows.len())
        .find(|&i| t.rows[i][s] == slo)
        .map(|i| t.num(i, c))
        .filter(|c| c.is_finite())
}
