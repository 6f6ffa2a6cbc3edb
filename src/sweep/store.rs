//! The files of a sweep: one JSON file per finished point (written atomically, as it completes),
//! and `sweep.json` describing the whole sweep. Everything else is assembled from these, so an
//! interrupted sweep resumes and shards merge without re-running anything.

use super::spec::Axis;
use crate::output::{OutputError, write_atomic};
use crate::sim::RouteResult;
use crate::stats::{LatencySnapshot, LatencyStats};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Describes a sweep: what was varied, how often, from which model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepInfo {
    /// Identifies the sweep (model, overrides, axes, replications, seed): shards of one sweep
    /// share it, and `merge` refuses to combine different ones.
    pub sweep_id: String,
    pub model: String,
    pub model_file: String,
    pub model_sha256: String,
    pub overrides: Vec<String>,
    /// The command line that ran the sweep (kept in report.html when `plot` redraws it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub command: String,
    pub axes: Vec<Axis>,
    pub replications: u32,
    pub base_seed: u64,
    /// Points in the whole sweep.
    pub points_total: usize,
    /// `K/N` when this output holds shard K of N, else absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Points whose results are in this output.
    pub points_done: usize,
    /// Points of the sweep left out of a merge made with `--allow-missing`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points_missing: Vec<usize>,
    pub meshsim_version: String,
    /// Wall-clock seconds of this invocation (not reproducible, unlike the CSV files).
    pub wall_time_s: f64,
}

/// The results of one point: every replication's per-route results with their histograms.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PointFile {
    pub sweep_id: String,
    pub point_id: usize,
    /// The varied parameters' values, in axis order.
    pub params: Vec<String>,
    pub runs: Vec<RunRecord>,
}

/// One replication of a point.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRecord {
    pub replication: u32,
    pub seed: u64,
    pub measured_s: f64,
    /// The routes in mix order.
    pub routes: Vec<RouteRecord>,
    /// At the model's `[cost]` prices, if it has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_hour: Option<f64>,
    /// The model's replicated stores, in file order (absent for models without).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stores: Vec<StoreRecord>,
}

/// One replicated store of one replication.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoreRecord {
    pub store: String,
    pub reads: u64,
    pub writes: u64,
    pub stale_reads: u64,
    pub read_latency: LatencySnapshot,
    pub write_latency: LatencySnapshot,
    /// Keyed by client: read-your-writes and monotonic-read violations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<(u64, u64)>,
}

impl StoreRecord {
    /// The stored form of each store of a run.
    pub fn of_run(r: &crate::sim::RunResult) -> Vec<StoreRecord> {
        r.services
            .iter()
            .filter_map(|s| {
                let st = s.store.as_ref()?;
                Some(StoreRecord {
                    store: s.service.clone(),
                    reads: st.reads,
                    writes: st.writes,
                    stale_reads: st.stale_reads,
                    read_latency: st.read_latency.snapshot(),
                    write_latency: st.write_latency.snapshot(),
                    sessions: st.sessions.map(|v| (v.read_your_writes, v.monotonic_reads)),
                })
            })
            .collect()
    }
}

/// One route of one replication.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RouteRecord {
    pub route: String,
    pub requests: u64,
    pub completed: u64,
    pub errors: u64,
    /// `errors` by kind, in `ErrorKind::ALL` order.
    #[serde(default)]
    pub errors_by_kind: Vec<u64>,
    pub latency: LatencySnapshot,
    /// Ages of the requests still in flight at the end (absent when there were none, so the
    /// files of healthy runs are as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backlog: Option<LatencySnapshot>,
    /// Whether the run was saturated (absent when it was not).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub saturated: bool,
}

impl RouteRecord {
    /// The stored form of a route's results.
    pub fn new(r: &RouteResult) -> RouteRecord {
        RouteRecord {
            route: r.route.clone(),
            requests: r.requests,
            completed: r.completed,
            errors: r.errors,
            errors_by_kind: r.errors_by_kind.to_vec(),
            latency: r.latency.snapshot(),
            backlog: r.backlog.as_ref().map(LatencyStats::snapshot),
            saturated: r.saturated,
        }
    }

    /// Back to a route result; `None` if the stored histogram is inconsistent.
    pub fn to_result(&self, measured_s: f64) -> Option<RouteResult> {
        Some(RouteResult {
            route: self.route.clone(),
            requests: self.requests,
            completed: self.completed,
            errors: self.errors,
            errors_by_kind: self.errors_by_kind.clone().try_into().ok()?,
            latency: LatencyStats::from_snapshot(&self.latency)?,
            backlog: match &self.backlog {
                Some(b) => Some(LatencyStats::from_snapshot(b)?),
                None => None,
            },
            saturated: self.saturated,
            measured_s,
        })
    }
}

/// The folder holding a sweep's point files.
pub fn points_dir(out: &Path) -> PathBuf {
    out.join("points")
}

/// The file of point `id`.
pub fn point_path(out: &Path, id: usize) -> PathBuf {
    points_dir(out).join(format!("point-{id:07}.json"))
}

/// Writes a point's file atomically.
pub fn write_point(out: &Path, point: &PointFile) -> Result<(), OutputError> {
    let bytes = serde_json::to_vec(point).expect("plain data serialises");
    write_atomic(&point_path(out, point.point_id), &bytes)
}

/// Reads every point file under `out` (in id order); unreadable or foreign files are reported.
pub fn read_points(out: &Path) -> Result<Vec<PointFile>, String> {
    let dir = points_dir(out);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read `{}`: {e}", dir.display())),
    };
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?
            .path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("point-") && name.ends_with(".json") {
            paths.push(path);
        }
    }
    // Parsing is most of the cost of assembling a large sweep: spread it over the cores.
    use rayon::prelude::*;
    let mut points: Vec<PointFile> = paths
        .par_iter()
        .map(|path| {
            let bytes = std::fs::read(path)
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            serde_json::from_slice(&bytes)
                .map_err(|e| format!("`{}` is not a meshsim point file: {e}", path.display()))
        })
        .collect::<Result<_, String>>()?;
    points.sort_by_key(|p| p.point_id);
    Ok(points)
}

/// Reads `sweep.json` from `dir`.
pub fn read_info(dir: &Path) -> Result<SweepInfo, String> {
    let path = dir.join("sweep.json");
    let bytes =
        std::fs::read(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("`{}` is not a meshsim sweep.json: {e}", path.display()))
}

/// Writes `sweep.json` into `dir`.
pub fn write_info(dir: &Path, info: &SweepInfo) -> Result<(), OutputError> {
    let mut bytes = serde_json::to_vec_pretty(info).expect("plain data serialises");
    bytes.push(b'\n');
    write_atomic(&dir.join("sweep.json"), &bytes)
}
