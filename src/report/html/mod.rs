//! `report.html`: one self-contained page per run or sweep — the headline numbers, the topology
//! and the charts inline as SVG, the tables, the model and the command that produced it — that
//! opens offline anywhere.

mod headline;
mod table;

pub use table::busiest_rows;

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

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:2rem auto;max-width:1250px;color:#222;padding:0 1rem}\
h1{margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}\
.meta,.note{color:#555}.note{font-size:.8rem;margin:.2rem 0 1rem}code,pre{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:.85rem}\
pre{background:#f6f8fa;padding:1rem;overflow:auto;border-radius:4px;white-space:pre-wrap}\
.tw{max-width:100%}table{border-collapse:collapse;font-size:.8rem;margin:.5rem 0;max-width:100%}\
th,td{border:1px solid #ddd;padding:.25rem .45rem}td{white-space:nowrap}th{background:#f0f3f6;text-align:left;vertical-align:bottom;font-weight:600}\
table.sortable th{cursor:pointer}th.asc::after{content:' ▲'}th.desc::after{content:' ▼'}\
td.n{text-align:right;font-variant-numeric:tabular-nums}figure{margin:1rem 0}figure svg{width:100%;height:auto;border:1px solid #eee}\
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}.card{flex:1 1 10rem;border:1px solid #ddd;border-radius:6px;padding:.6rem .8rem;background:#fafbfc}\
.card .k{font-size:.8rem;color:#555;text-transform:uppercase;letter-spacing:.03em}.card .v{font-size:1.5rem;font-weight:600;margin:.2rem 0;overflow-wrap:anywhere}.card .d{font-size:.8rem;color:#555}\
.card.alarm{border-color:#d55e00;background:#fff4ec}.card.alarm .v{color:#b04a00}ul.headline{font-size:1.05rem;line-height:1.6}\
.wide{outline:2px dashed #d55e00}details summary{cursor:pointer;font-weight:600}";

/// Click a header to sort by it (numbers by value, text alphabetically; again to reverse). A
/// table wider than the page is outlined, so that a layout regression shows (and tests see it).
const SCRIPT: &str = "document.querySelectorAll('table.sortable').forEach(function(t){\
var hs=t.tHead.rows[0].cells;Array.prototype.forEach.call(hs,function(h,i){h.addEventListener('click',function(){\
var b=t.tBodies[0],rs=Array.prototype.slice.call(b.rows),asc=!h.classList.contains('asc');\
Array.prototype.forEach.call(hs,function(x){x.classList.remove('asc','desc')});h.classList.add(asc?'asc':'desc');\
rs.sort(function(p,q){var a=p.cells[i],c=q.cells[i],x=a.dataset.v,y=c.dataset.v;\
var r=(x!==undefined&&y!==undefined)?parseFloat(x)-parseFloat(y):a.textContent.localeCompare(c.textContent);return asc?r:-r});\
rs.forEach(function(r){b.appendChild(r)})})})});\
function markWide(){document.querySelectorAll('.tw').forEach(function(w){w.classList.toggle('wide',w.scrollWidth>document.body.clientWidth+1)})}\
markWide();window.addEventListener('resize',markWide);";

/// Rows a table shows before it keeps only the largest by its ranking column.
const TABLE_ROWS: usize = 50;

/// The column each large table is ranked by (the CSV files keep every row).
const RANK_BY: &[(&str, &[&str])] = &[
    ("summary.csv", &["requests"]),
    ("services.csv", &["utilisation", "arrival_rate_per_s"]),
    ("links.csv", &["utilisation", "messages"]),
    ("edges.csv", &["calls"]),
    ("hosts.csv", &["cpu_utilisation"]),
    ("cost.csv", &["cost_per_hour"]),
];

/// Writes `DIR/report.html` from the files in `dir`; `charts` are SVG files to inline.
///
/// The order is the reader's: the headline (the answer), the topology, the charts, the tables,
/// and last how the results were made (command, version, model).
pub fn write_report(
    dir: &Path,
    title: &str,
    command: &str,
    charts: &[PathBuf],
) -> Result<PathBuf, OutputError> {
    let mut body = String::new();
    let _ = write!(body, "<h1>{}</h1>", escape(title));
    let sweep = dir.join("points.csv").is_file();
    let headline = if sweep {
        headline::sweep(dir)
    } else if dir.join("capacity.csv").is_file() {
        headline::capacity(dir)
    } else if dir.join("compare.csv").is_file() {
        headline::compare(dir)
    } else {
        headline::run(dir)
    };
    if let Some(h) = headline {
        body.push_str(&h);
    }
    if let Ok(svg) = std::fs::read_to_string(dir.join("topology.svg")) {
        let start = svg.find("<svg").unwrap_or(0);
        let _ = write!(body, "<h2>Topology</h2><figure>{}</figure>", &svg[start..]);
    }
    if !charts.is_empty() {
        body.push_str("<h2>Charts</h2>");
        for c in charts {
            if c.file_name().is_some_and(|f| f == "topology.svg") {
                continue;
            }
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
        ("hosts.csv", "Hosts: CPU utilisation and calls computing"),
        ("scaling.csv", "Autoscaling decisions"),
        ("deployments.csv", "Release steps"),
        ("versions.csv", "Calls per version of a released service"),
        ("cost.csv", "Cost at the simulated load"),
        ("capacity.csv", "Capacity at each SLO"),
        ("slo.csv", "SLO verdicts per point (sweep --slo)"),
        (
            "capacity_search.csv",
            "Every rate the capacity search simulated",
        ),
        (
            "reality.csv",
            "Measured and predicted, per load, route and metric (error = (predicted − measured) / measured; ± are 95% half-widths)",
        ),
    ];
    for (file, heading) in run_tables {
        let shape = table::Shape {
            merge_ci: file == "reality.csv",
            rank_by: RANK_BY.iter().find(|r| r.0 == file).map_or(&[], |r| r.1),
            ..Default::default()
        };
        if let Some(t) = table::csv_table(&dir.join(file), &shape) {
            let _ = write!(body, "<h2>{}</h2>{t}", escape(heading));
        }
    }
    if let Some(t) = hop_ranking(&dir.join("breakdown.csv")) {
        let _ = write!(
            body,
            "<h2>Which hop is to blame: per route, the hops with the largest share of the mean latency</h2>{t}<p class=\"note\">Every hop and component: <code>breakdown.csv</code>.</p>"
        );
    }
    if let Some(t) = points_table(&dir.join("points.csv")) {
        let _ = write!(
            body,
            "<h2>Sweep points (all routes; ± is the 95% confidence half-width)</h2>{t}"
        );
    }
    let _ = write!(
        body,
        "<h2>How this was made</h2><p class=\"meta\">meshsim {} — <code>{}</code></p>",
        env!("CARGO_PKG_VERSION"),
        escape(command)
    );
    if let Ok(model) = std::fs::read_to_string(dir.join("model.toml")) {
        // A generated or imported model of thousands of services is megabytes: its start, and
        // the file for the rest.
        const MODEL_LINES: usize = 400;
        let lines = model.lines().count();
        let shown: String = model
            .lines()
            .take(MODEL_LINES)
            .collect::<Vec<_>>()
            .join("\n");
        let _ = write!(
            body,
            "<details><summary>Model (model.toml)</summary><pre>{}</pre>{}</details>",
            escape(&shown),
            if lines > MODEL_LINES {
                format!(
                    "<p class=\"note\">The first {MODEL_LINES} of {lines} lines; <code>model.toml</code> has them all.</p>"
                )
            } else {
                String::new()
            }
        );
    }
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>{body}<script>{SCRIPT}</script></body></html>\n",
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
    let mut index: std::collections::HashMap<(String, String), usize> = Default::default();
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
        let key = (rec[route].to_string(), hop);
        let i = match index.get(&key) {
            Some(&i) => i,
            None => {
                index.insert(key.clone(), hops.len());
                hops.push((key.0, key.1, 0.0, (String::new(), 0.0)));
                hops.len() - 1
            }
        };
        hops[i].2 += ms;
        if ms > hops[i].3.1 {
            hops[i].3 = (rec[component].to_string(), ms);
        }
    }
    let mut routes: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for h in &hops {
        if seen.insert(h.0.as_str()) {
            routes.push(h.0.clone());
        }
    }
    if routes.len() == 2 && routes[1] == "all" {
        routes.pop();
    }
    // A model of thousands of routes: the busiest (and all), as the charts show them.
    if let Some(busiest) = table::busiest_rows(
        &path.with_file_name("summary.csv"),
        "route",
        "requests",
        TABLE_ROWS,
    ) {
        routes.retain(|r| r == "all" || busiest.contains(r));
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
                "<tr><td>{}</td><td class=\"n\" data-v=\"{}\">{}</td><td>{}</td><td class=\"n\" data-v=\"{:.6}\">{:.3}</td><td class=\"n\">{:.1}%</td><td>{}</td></tr>",
                escape(route),
                rank + 1,
                rank + 1,
                escape(&h.1),
                h.2,
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
        "<div class=\"tw\"><table class=\"sortable\"><thead><tr><th>route</th><th>rank</th><th>hop</th><th>mean (ms)</th><th>share of the route's mean</th><th>mostly</th></tr></thead><tbody>{rows}</tbody></table></div>"
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
    let keep = |csv: &table::Csv, row: &[String]| csv.col("route").is_some_and(|i| row[i] == "all");
    table::csv_table(
        path,
        &table::Shape {
            columns: Some(&cols),
            merge_ci: true,
            keep: Some(&keep),
            rank_by: &[],
        },
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
