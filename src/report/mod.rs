//! Outputs of a run: the summary table on stdout, CSV files for spreadsheets, and `run.json`.
//! Every file is written atomically, so a crash never leaves a half-written result.

mod analysis_table;
mod csv_files;
mod html;
mod metrics;
mod run_json;
mod table;
mod validation;

use crate::output::{OutputError, write_atomic};
pub use analysis_table::{Observed, Simulated, analysis_csv, analysis_table};
pub use csv_files::{
    BREAKDOWN_COLUMNS, EDGES_COLUMNS, LINKS_COLUMNS, SCALING_COLUMNS, SERVICES_COLUMNS,
    SUMMARY_COLUMNS, breakdown_csv, cost_csv, edges_csv, latency_cdf_csv, links_csv, route_row,
    scaling_csv, services_csv, summary_csv, timeseries_csv, to_bytes as csv_bytes,
};
pub use html::{busiest_rows, command_line, escape, write_report};
pub use metrics::openmetrics;
pub use run_json::RunInfo;
pub use table::{load_table, summary_table};
pub use validation::{VALIDATION_COLUMNS, validation_csv, validation_table};

use crate::model::Model;
use crate::sim::RunResult;
use std::path::{Path, PathBuf};

/// Writes `summary.csv`, `services.csv`, `links.csv`, `edges.csv`, `latency_cdf.csv`,
/// `scaling.csv` (with autoscaling), `timeseries.csv` (when recorded) and `run.json` into `dir`, creating it.
/// Returns the paths written.
pub fn write_run(
    dir: &Path,
    model: &Model,
    result: &RunResult,
) -> Result<Vec<PathBuf>, OutputError> {
    std::fs::create_dir_all(dir).map_err(|source| OutputError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("summary.csv", summary_csv(result)),
        ("services.csv", services_csv(result)),
        ("links.csv", links_csv(result)),
        ("edges.csv", edges_csv(result)),
        ("latency_cdf.csv", latency_cdf_csv(result)),
        ("run.json", RunInfo::new(model, result).to_json()),
    ];
    if let Some(cost) = crate::cost::of_run(model, result) {
        files.push(("cost.csv", cost_csv(&cost)));
    }
    if !result.breakdown.is_empty() {
        files.push(("breakdown.csv", breakdown_csv(result)));
    }
    if !result.scaling.is_empty() {
        files.push(("scaling.csv", scaling_csv(result)));
    }
    if !result.hosts.is_empty() {
        files.push(("hosts.csv", csv_files::hosts_csv(result)));
    }
    if !model.deployments.is_empty() {
        files.push(("deployments.csv", csv_files::deployments_csv(result)));
        files.push(("versions.csv", csv_files::versions_csv(result)));
    }
    if let Some(ts) = &result.timeseries {
        files.push(("timeseries.csv", timeseries_csv(ts)));
        files.push(("metrics.om", metrics::openmetrics(&model.name, ts)));
    }
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(name);
        write_atomic(&path, &bytes)?;
        written.push(path);
    }
    if !result.traces.is_empty() {
        // One file at a time: at a million spans each is hundreds of megabytes.
        use crate::traces::export;
        type Writer = fn(&Model, u64, &[crate::sim::Trace]) -> Vec<u8>;
        let formats: [(&str, Writer); 3] = [
            ("traces.json", export::otlp_json),
            ("traces.jaeger.json", export::jaeger_json),
            ("traces.perfetto.json", export::perfetto_json),
        ];
        for (name, write) in formats {
            let path = dir.join(name);
            write_atomic(&path, &write(model, result.seed, &result.traces))?;
            written.push(path);
        }
    }
    Ok(written)
}

/// `n` and a noun, plural unless `n` is 1: `1 link`, `2 links` (the plural adds an `s`).
pub fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Three significant figures, but never fewer than the integer part (3,126 stays 3126): the
/// precision of numbers a reader glances at (headlines, chart labels).
pub fn significant3(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let digits = (2 - x.abs().log10().floor() as i32).max(0);
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// Formats a number for CSV: rounded to 6 decimals (nanoseconds when in ms), NaN as an empty
/// cell, so spreadsheets see plain numbers and missing values.
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return String::new();
    }
    let rounded = (x * 1e6).round() / 1e6;
    // -0 would print as "-0".
    if rounded == 0.0 {
        "0".into()
    } else {
        rounded.to_string()
    }
}
