//! The chart of `meshsim predict`: measured and predicted latency against load, one panel per
//! route (all routes first), from `reality.csv`.

use super::{Dash, Figure, Panel, Series, Table};
use std::path::Path;

/// The latency-against-load figure.
pub fn figures(dir: &Path) -> Result<Vec<Figure>, String> {
    let t = Table::read(&dir.join("reality.csv"))?;
    let (rate, route, metric) = (t.col("rate_rps")?, t.col("route")?, t.col("metric")?);
    let (measured, predicted, ci) = (
        t.col("measured")?,
        t.col("predicted")?,
        t.col("predicted_ci95")?,
    );
    let mut routes: Vec<String> = vec!["all".into()];
    for row in &t.rows {
        if !routes.contains(&row[route]) {
            routes.push(row[route].clone());
        }
    }
    let pick = |r: &str, m: &str| -> Vec<usize> {
        (0..t.rows.len())
            .filter(|&i| t.rows[i][route] == r && t.rows[i][metric] == m)
            .collect()
    };
    let panels = routes
        .iter()
        .map(|r| {
            let mut series = Vec::new();
            for (m, label, colour) in [("mean_ms", "mean", 0), ("p99_ms", "p99", 5)] {
                let rows = pick(r, m);
                let mut real = Series::line(
                    format!("{label}, measured"),
                    colour,
                    rows.iter()
                        .map(|&i| (t.num(i, rate), t.num(i, measured)))
                        .collect(),
                );
                real.markers = true;
                let mut model = Series::line(
                    format!("{label}, predicted (95% CI)"),
                    colour,
                    rows.iter()
                        .map(|&i| (t.num(i, rate), t.num(i, predicted)))
                        .collect(),
                );
                model.dash = Dash::Dashed;
                model.band = rows
                    .iter()
                    .filter(|&&i| t.num(i, ci).is_finite())
                    .map(|&i| {
                        let (p, h) = (t.num(i, predicted), t.num(i, ci));
                        (t.num(i, rate), p - h, p + h)
                    })
                    .collect();
                series.push(real);
                series.push(model);
            }
            Panel {
                x_label: format!("arrival rate (req/s) — {r}"),
                y_label: "latency (ms)".into(),
                y_from_zero: true,
                series,
                ..Panel::default()
            }
        })
        .collect();
    Ok(vec![Figure {
        name: "reality".into(),
        title: "measured and predicted latency against load".into(),
        subtitle: "solid: the real system, measured from each request's scheduled time; dashed: the model's prediction"
            .into(),
        panels,
    }])
}
