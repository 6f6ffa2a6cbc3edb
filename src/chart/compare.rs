//! Charts of `meshsim compare`: p99 against load as shipped, and the cost of meeting the SLOs
//! against load, one line per architecture, with the crossover marked.

use super::{Figure, Panel, Series, Table};
use std::path::Path;

/// Both comparison charts, from `compare_load.csv` (and the crossover from `compare.csv`).
pub fn figures(dir: &Path) -> Result<Vec<Figure>, String> {
    let t = Table::read(&dir.join("compare_load.csv"))?;
    let (arch, rate) = (t.col("architecture")?, t.col("rate_rps")?);
    let mut names: Vec<String> = Vec::new();
    for row in &t.rows {
        if !names.contains(&row[arch]) {
            names.push(row[arch].clone());
        }
    }
    let lines = |metric: &str| -> Result<Vec<Series>, String> {
        let c = t.col(metric)?;
        Ok(names
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let points = (0..t.rows.len())
                    .filter(|&i| t.rows[i][arch] == *name)
                    .map(|i| (t.num(i, rate), t.num(i, c)))
                    .filter(|p| p.1.is_finite())
                    .collect();
                let mut s = Series::line(name.as_str(), k, points);
                s.markers = true;
                s
            })
            .collect())
    };
    let p99 = Figure {
        name: "p99_vs_load".into(),
        title: "p99 latency against load, as shipped".into(),
        subtitle:
            "each architecture with its own instance counts; a line ends where it cannot keep up"
                .into(),
        panels: vec![Panel {
            x_label: "arrival rate (req/s)".into(),
            y_label: "p99 latency (ms)".into(),
            y_from_zero: true,
            series: lines("p99_ms")?,
            ..Panel::default()
        }],
    };
    let mut cost_series = lines("cost_per_hour")?;
    if let Some(x) = crossover(dir)? {
        // Mark the crossover on the first architecture's cost curve.
        if let Some(y) = cost_series.first().and_then(|s| interpolate(&s.points, x)) {
            let mut mark = Series::line(format!("crossover {x:.0} req/s"), 7, vec![(x, y)]);
            mark.markers = true;
            cost_series.push(mark);
        }
    }
    let cost = Figure {
        name: "cost_vs_load".into(),
        title: "cost of meeting the SLOs against load".into(),
        subtitle: "the cheapest instance counts found that meet every SLO at each load".into(),
        panels: vec![Panel {
            x_label: "arrival rate (req/s)".into(),
            y_label: "cost per hour".into(),
            y_from_zero: true,
            series: cost_series,
            ..Panel::default()
        }],
    };
    Ok(vec![p99, cost])
}

fn crossover(dir: &Path) -> Result<Option<f64>, String> {
    let path = dir.join("compare.csv");
    if !path.is_file() {
        return Ok(None);
    }
    let t = Table::read(&path)?;
    let c = t.col("crossover_rps")?;
    Ok((!t.rows.is_empty())
        .then(|| t.num(0, c))
        .filter(|x| x.is_finite()))
}

/// The curve's value at `x`, linearly between its points.
fn interpolate(points: &[(f64, f64)], x: f64) -> Option<f64> {
    points.windows(2).find_map(|w| {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        (x0 <= x && x <= x1 && x1 > x0).then(|| y0 + (y1 - y0) * (x - x0) / (x1 - x0))
    })
}
