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
    // The loads either side of the crossing, shaded: costs step with whole instances, so
    // where between them the curves cross is not known.
    let spans = crossover(dir)?
        .map(|(low, high)| {
            (
                low,
                high,
                format!(" crossover between {low:.0} and {high:.0} req/s"),
            )
        })
        .into_iter()
        .collect();
    let cost = Figure {
        name: "cost_vs_load".into(),
        title: "cost of meeting the SLOs against load".into(),
        subtitle: "the cheapest instance counts found that meet every SLO at each load".into(),
        panels: vec![Panel {
            x_label: "arrival rate (req/s)".into(),
            y_label: "cost per hour".into(),
            y_from_zero: true,
            series: lines("cost_per_hour")?,
            spans,
            ..Panel::default()
        }],
    };
    Ok(vec![p99, cost])
}

/// The compared loads either side of the crossover, from `compare.csv` (none without one).
fn crossover(dir: &Path) -> Result<Option<(f64, f64)>, String> {
    let path = dir.join("compare.csv");
    if !path.is_file() {
        return Ok(None);
    }
    let t = Table::read(&path)?;
    let (low, high) = (t.col("crossover_low_rps")?, t.col("crossover_high_rps")?);
    Ok((!t.rows.is_empty())
        .then(|| (t.num(0, low), t.num(0, high)))
        .filter(|(low, high)| low.is_finite() && high.is_finite()))
}
