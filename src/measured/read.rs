//! Reading a load generator's per-request records.

use std::path::Path;

/// One request a load generator sent.
#[derive(Clone, Debug)]
pub struct Request {
    /// The load (requests per second) of the run it belongs to.
    pub rate_rps: f64,
    /// Index into [`Measurements::routes`].
    pub route: usize,
    /// When the request was scheduled, from the start of its run.
    pub scheduled_s: f64,
    /// From the scheduled time to the response (or the failure).
    pub latency_ms: f64,
    /// Answered with an HTTP status below 400.
    pub ok: bool,
}

/// Every request of a measurement file.
#[derive(Clone, Debug, Default)]
pub struct Measurements {
    /// The file, as given.
    pub file: String,
    /// Route names in order of first appearance.
    pub routes: Vec<String>,
    /// The file line where each route first appears (for messages).
    pub route_lines: Vec<u64>,
    /// The distinct loads, ascending.
    pub rates: Vec<f64>,
    pub requests: Vec<Request>,
}

/// The columns a measurement file must have.
pub const COLUMNS: [&str; 5] = ["rate_rps", "route", "scheduled_s", "latency_ms", "status"];

/// Reads a CSV of requests: `rate_rps, route, scheduled_s, latency_ms, status` (other columns
/// are ignored). `status` is the HTTP status; 0 (or any status of 400 and above) is a failure.
pub fn read(path: &Path) -> Result<Measurements, String> {
    let file = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| format!("{file}: {e}"))?;
    let header = reader
        .headers()
        .map_err(|e| format!("{file}: {e}"))?
        .clone();
    let mut at = [0usize; 5];
    for (i, name) in COLUMNS.iter().enumerate() {
        at[i] = header.iter().position(|h| h == *name).ok_or_else(|| {
            format!(
                "{file}:1: no column `{name}`; a measurement file has the columns {} (one row per request; others are ignored)",
                COLUMNS.join(", ")
            )
        })?;
    }
    let mut m = Measurements {
        file: file.clone(),
        ..Measurements::default()
    };
    for record in reader.records() {
        let record = record.map_err(|e| format!("{file}: {e}"))?;
        let line = record.position().map_or(0, |p| p.line());
        let number = |i: usize, what: &str| -> Result<f64, String> {
            let text = record.get(at[i]).unwrap_or("");
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    format!(
                        "{file}:{line}: column `{}`: `{text}` is not {what}",
                        COLUMNS[i]
                    )
                })
        };
        let rate_rps = number(0, "a rate > 0 (requests per second)")?;
        if rate_rps == 0.0 {
            return Err(format!(
                "{file}:{line}: column `rate_rps`: the rate must be > 0"
            ));
        }
        let scheduled_s = number(2, "a time ≥ 0 in seconds")?;
        let latency_ms = number(3, "a latency ≥ 0 in milliseconds")?;
        let status = number(4, "an HTTP status (0 for a failed request)")?;
        let name = record.get(at[1]).unwrap_or("");
        if name.is_empty() {
            return Err(format!("{file}:{line}: column `route` is empty"));
        }
        let route = match m.routes.iter().position(|r| r == name) {
            Some(r) => r,
            None => {
                m.routes.push(name.to_string());
                m.route_lines.push(line);
                m.routes.len() - 1
            }
        };
        if !m.rates.contains(&rate_rps) {
            m.rates.push(rate_rps);
        }
        m.requests.push(Request {
            rate_rps,
            route,
            scheduled_s,
            latency_ms,
            ok: (1.0..400.0).contains(&status),
        });
    }
    if m.requests.is_empty() {
        return Err(format!("{file}: no requests (the file has a header only)"));
    }
    m.rates.sort_by(f64::total_cmp);
    Ok(m)
}
