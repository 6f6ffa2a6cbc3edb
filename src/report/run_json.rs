//! `run.json`: how a run was made (model, hash, seed, version) and how fast it ran.

use crate::model::Model;
use crate::sim::RunResult;
use serde::Serialize;

/// Provenance and performance of one run.
#[derive(Debug, Serialize)]
pub struct RunInfo {
    /// The model's name.
    pub model: String,
    /// The model file as given, or `<built-in>`.
    pub model_file: String,
    /// SHA-256 of the model file's bytes.
    pub model_sha256: String,
    /// `--set` overrides applied, as typed.
    pub overrides: Vec<String>,
    /// The command line that made the run (kept in report.html when `plot` redraws it).
    pub command: String,
    pub seed: u64,
    pub meshsim_version: &'static str,
    /// Simulated seconds, warm-up included.
    pub simulated_duration_s: f64,
    pub warmup_s: f64,
    pub events_processed: u64,
    /// Wall-clock seconds the simulation took (not byte-reproducible, unlike the CSV files).
    pub wall_time_s: f64,
    pub events_per_s: f64,
    /// Requests simulated per wall-clock second (all requests of the run, warm-up included).
    pub simulated_requests_per_s: f64,
    /// Most calls alive at once.
    pub peak_calls_in_flight: usize,
    /// Why the run stopped before its duration (absent when it ran to the end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    /// Simulated time at which the run ended (not before the warm-up's end, where the measured
    /// window starts).
    pub end_s: f64,
    /// Simulated time at which a run that stopped early stopped (absent when it ran to the end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at_s: Option<f64>,
    /// At the model's `[cost]` prices (absent without them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_per_hour: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_per_million_requests: Option<f64>,
}

impl RunInfo {
    /// Describes `result`, a run of `model`.
    pub fn new(model: &Model, result: &RunResult) -> RunInfo {
        let total_requests = result.all.requests as f64 * result.duration_s / result.measured_s;
        let wall = result.wall_s.max(1e-9);
        RunInfo {
            model: model.name.clone(),
            model_file: model.source.file.clone(),
            command: super::command_line(),
            model_sha256: model.source.sha256.clone(),
            overrides: model.source.overrides.clone(),
            seed: model.seed,
            meshsim_version: env!("CARGO_PKG_VERSION"),
            simulated_duration_s: result.duration_s,
            warmup_s: result.warmup_s,
            events_processed: result.events,
            wall_time_s: result.wall_s,
            events_per_s: result.events as f64 / wall,
            simulated_requests_per_s: total_requests / wall,
            peak_calls_in_flight: result.peak_calls_in_flight,
            stopped_early: result.stopped.as_ref().map(|s| s.to_string()),
            end_s: result.end_s,
            stopped_at_s: result.stopped_at_s,
            cost_per_hour: crate::cost::of_run(model, result).map(|c| c.per_hour),
            cost_per_million_requests: crate::cost::of_run(model, result)
                .map(|c| c.per_million_requests)
                .filter(|x| x.is_finite()),
        }
    }

    /// Pretty-printed JSON with a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("plain data serialises");
        out.push(b'\n');
        out
    }
}
