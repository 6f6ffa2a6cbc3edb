//! The chart of `meshsim predict`: measured and predicted latency against load, one panel per
//! route (all routes first), from `reality.csv`; when some requests failed (a system past
//! saturation), a panel of what got through and what failed, over all routes.

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
    // The measured line and the predicted one (dashed, with its band) of one route's metric,
    // its values times `scale`.
    let pair = |r: &str, m: &str, label: &str, colour: usize, scale: f64| -> [Series; 2] {
        let rows: Vec<usize> = (0..t.rows.len())
            .filter(|&i| t.rows[i][route] == r && t.rows[i][metric] == m)
            .collect();
        let mut real = Series::line(
            format!("{label}, measured"),
            colour,
            rows.iter()
                .map(|&i| (t.num(i, rate), scale * t.num(i, measured)))
                .collect(),
        );
        real.markers = true;
        // Legends cut long names: the band says what the interval is where the name cannot.
        let name = format!("{label}, predicted (95% CI)");
        let name = if name.chars().count() > 24 {
            format!("{label}, predicted")
        } else {
            name
        };
        let mut model = Series::line(
            name,
            colour,
            rows.iter()
                .map(|&i| (t.num(i, rate), scale * t.num(i, predicted)))
                .collect(),
        );
        model.dash = Dash::Dashed;
        model.band = rows
            .iter()
            .filter(|&&i| t.num(i, ci).is_finite())
            .map(|&i| {
                let (p, h) = (t.num(i, predicted), t.num(i, ci));
                (t.num(i, rate), scale * (p - h), scale * (p + h))
            })
            .collect();
        [real, model]
    };
    let mut panels: Vec<Panel> = routes
        .iter()
        .map(|r| Panel {
            x_label: format!("arrival rate (req/s) — {r}"),
            y_label: "latency (ms)".into(),
            y_from_zero: true,
            series: [
                pair(r, "mean_ms", "mean", 0, 1.0),
                pair(r, "p99_ms", "p99", 5, 1.0),
            ]
            .into_iter()
            .flatten()
            .collect(),
            ..Panel::default()
        })
        .collect();
    let failures = t.rows.iter().any(|row| row[metric] == "error_rate");
    if failures {
        let mut failed = pair("all", "error_rate", "failed", 3, 100.0);
        for s in &mut failed {
            s.secondary = true;
        }
        panels.insert(
            1,
            Panel {
                x_label: "arrival rate (req/s) — all".into(),
                y_label: "successful requests / s".into(),
                y2_label: Some("failed (% of requests)".into()),
                y_from_zero: true,
                series: pair("all", "throughput_rps", "throughput", 2, 1.0)
                    .into_iter()
                    .chain(failed)
                    .collect(),
                ..Panel::default()
            },
        );
    }
    Ok(vec![Figure {
        name: "reality".into(),
        title: if failures {
            "measured and predicted latency, throughput and failures against load".into()
        } else {
            "measured and predicted latency against load".into()
        },
        subtitle: "solid: the real system, measured from each request's scheduled time; dashed: the model's prediction"
            .into(),
        panels,
    }])
}
