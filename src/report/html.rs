//! `report.html`: one self-contained page per run or sweep — the charts inline as SVG, the
//! summary tables, the model and the command that produced it — that opens offline anywhere.

use crate::output::{OutputError, write_atomic};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A CSV file as an HTML table; `keep` filters rows (given the header and the row).
fn csv_table(
    path: &Path,
    keep: impl Fn(&[String], &[String]) -> bool,
    columns: Option<&[&str]>,
) -> Option<String> {
    let mut r = csv::Reader::from_path(path).ok()?;
    let header: Vec<String> = r.headers().ok()?.iter().map(String::from).collect();
    let idx: Vec<usize> = match columns {
        Some(cols) => cols
            .iter()
            .filter_map(|c| header.iter().position(|h| h == c))
            .collect(),
        None => (0..header.len()).collect(),
    };
    let mut s = String::from("<table><thead><tr>");
    for &i in &idx {
        let _ = write!(s, "<th>{}</th>", escape(&header[i]));
    }
    s.push_str("</tr></thead><tbody>");
    for rec in r.records().flatten() {
        let row: Vec<String> = rec.iter().map(String::from).collect();
        if !keep(&header, &row) {
            continue;
        }
        s.push_str("<tr>");
        for &i in &idx {
            let v = row.get(i).map(String::as_str).unwrap_or("");
            let class = if v.parse::<f64>().is_ok() {
                " class=\"n\""
            } else {
                ""
            };
            let _ = write!(s, "<td{class}>{}</td>", escape(v));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    Some(s)
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:2rem auto;max-width:1250px;color:#222;padding:0 1rem}\
h1{margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}\
.meta{color:#555}code,pre{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:.85rem}\
pre{background:#f6f8fa;padding:1rem;overflow:auto;border-radius:4px}\
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0;display:block;overflow-x:auto}\
th,td{border:1px solid #ddd;padding:.25rem .5rem;white-space:nowrap}th{background:#f0f3f6;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}figure{margin:1rem 0}figure svg{width:100%;height:auto;border:1px solid #eee}";

/// Writes `DIR/report.html` from the files in `dir`; `charts` are SVG files to inline.
pub fn write_report(
    dir: &Path,
    title: &str,
    command: &str,
    charts: &[PathBuf],
) -> Result<PathBuf, OutputError> {
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>{}</h1><p class=\"meta\">meshsim {} — <code>{}</code></p>",
        escape(title),
        env!("CARGO_PKG_VERSION"),
        escape(command)
    );
    if !charts.is_empty() {
        body.push_str("<h2>Charts</h2>");
        for c in charts {
            if let Ok(svg) = std::fs::read_to_string(c) {
                let start = svg.find("<svg").unwrap_or(0);
                let _ = write!(body, "<figure>{}</figure>", &svg[start..]);
            }
        }
    }
    let run_tables = [
        ("summary.csv", "Latency and throughput per route"),
        ("services.csv", "Services"),
        ("links.csv", "Links (per direction)"),
        ("edges.csv", "Calls per edge (attempts, retries, timeouts)"),
        (
            "breakdown.csv",
            "Where the time goes (mean ms per hop and component)",
        ),
        ("hosts.csv", "Hosts: CPU utilisation and calls computing"),
        ("scaling.csv", "Autoscaling decisions"),
        ("cost.csv", "Cost at the simulated load"),
        ("capacity.csv", "Capacity at each SLO"),
        ("slo.csv", "SLO verdicts per point (sweep --slo)"),
        (
            "capacity_search.csv",
            "Every rate the capacity search simulated",
        ),
        (
            "reality.csv",
            "Measured and predicted, per load, route and metric (error = (predicted − measured) / measured; the ci95 columns are 95% half-widths)",
        ),
    ];
    for (file, heading) in run_tables {
        if let Some(t) = csv_table(&dir.join(file), |_, _| true, None) {
            let _ = write!(body, "<h2>{}</h2>{t}", escape(heading));
        }
    }
    if let Some(t) = hop_ranking(&dir.join("breakdown.csv")) {
        let _ = write!(
            body,
            "<h2>Which hop is to blame: per route, the hops with the largest share of the mean latency</h2>{t}"
        );
    }
    if let Some(t) = points_table(&dir.join("points.csv")) {
        let _ = write!(
            body,
            "<h2>Sweep points (all routes; <code>_ci95</code> is the 95% CI half-width)</h2>{t}"
        );
    }
    if let Ok(model) = std::fs::read_to_string(dir.join("model.toml")) {
        let _ = write!(body, "<h2>Model</h2><pre>{}</pre>", escape(&model));
    }
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>\n",
        escape(title)
    );
    let path = dir.join("report.html");
    write_atomic(&path, html.as_bytes())?;
    Ok(path)
}

/// Per route of `breakdown.csv`: its hops (a service, or a link direction) ranked by their
/// share of the route's mean latency, the top five, with the component that dominates each.
fn hop_ranking(path: &Path) -> Option<String> {
    let mut r = csv::Reader::from_path(path).ok()?;
    let header: Vec<String> = r.headers().ok()?.iter().map(String::from).collect();
    let col = |n: &str| header.iter().position(|h| h == n);
    let (route, service, link, from, to, component, mean) = (
        col("route")?,
        col("service")?,
        col("link")?,
        col("from")?,
        col("to")?,
        col("component")?,
        col("mean_ms")?,
    );
    // (route, hop) → (total ms, (largest component, its ms))
    let mut hops: Vec<(String, String, f64, (String, f64))> = Vec::new();
    for rec in r.records().flatten() {
        let hop = if rec[service].is_empty() {
            format!(
                "link {}",
                crate::sim::link_hop(&rec[link], &rec[from], &rec[to])
            )
        } else {
            rec[service].to_string()
        };
        let ms: f64 = rec[mean].parse().unwrap_or(0.0);
        let i = match hops.iter().position(|h| h.0 == rec[route] && h.1 == hop) {
            Some(i) => i,
            None => {
                hops.push((rec[route].to_string(), hop, 0.0, (String::new(), 0.0)));
                hops.len() - 1
            }
        };
        hops[i].2 += ms;
        if ms > hops[i].3.1 {
            hops[i].3 = (rec[component].to_string(), ms);
        }
    }
    let mut routes: Vec<String> = Vec::new();
    for h in &hops {
        if !routes.contains(&h.0) {
            routes.push(h.0.clone());
        }
    }
    if routes.len() == 2 && routes[1] == "all" {
        routes.pop();
    }
    let mut rows = String::new();
    for route in &routes {
        let mut of: Vec<&(String, String, f64, (String, f64))> =
            hops.iter().filter(|h| &h.0 == route).collect();
        let total: f64 = of.iter().map(|h| h.2).sum();
        of.sort_by(|a, b| b.2.total_cmp(&a.2));
        for (rank, h) in of.iter().take(5).enumerate() {
            let _ = write!(
                rows,
                "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.1}%</td><td>{}</td></tr>",
                escape(route),
                rank + 1,
                escape(&h.1),
                h.2,
                if total > 0.0 {
                    100.0 * h.2 / total
                } else {
                    0.0
                },
                escape(&h.3.0)
            );
        }
    }
    if rows.is_empty() {
        return None;
    }
    Some(format!(
        "<table><tr><th>route</th><th>rank</th><th>hop</th><th>mean ms</th><th>share of the route's mean</th><th>mostly</th></tr>{rows}</table>"
    ))
}

/// The `all` rows of points.csv with the parameters and the main metrics.
fn points_table(path: &Path) -> Option<String> {
    let mut r = csv::Reader::from_path(path).ok()?;
    let header: Vec<String> = r.headers().ok()?.iter().map(String::from).collect();
    let route = header.iter().position(|h| h == "route")?;
    let mut cols: Vec<String> = header[..route].to_vec();
    for m in [
        "throughput_rps",
        "error_rate",
        "mean_ms",
        "p50_ms",
        "p90_ms",
        "p99_ms",
    ] {
        cols.push(m.to_string());
        cols.push(format!("{m}_ci95"));
    }
    // Saturation, when the sweep has the columns: the share of replications saturated and
    // the backlog left at the end.
    for m in ["saturated", "backlog_share"] {
        if header.iter().any(|h| h == m) {
            cols.push(m.to_string());
        }
    }
    let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
    csv_table(
        path,
        |h, row| {
            h.iter()
                .position(|c| c == "route")
                .is_some_and(|i| row[i] == "all")
        },
        Some(&cols),
    )
}

/// The command line that ran this process, quoted where needed.
pub fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if a.is_empty() || a.contains([' ', '"', '\'', '$', '*']) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
