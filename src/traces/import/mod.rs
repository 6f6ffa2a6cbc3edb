//! `meshsim import`: trace files (OTLP/JSON, Jaeger JSON, Zipkin v2 JSON) in, a model out.
//!
//! [`read`] normalises every format into one span type, [`infer`] turns spans into a model
//! draft, [`write`] writes it as a commented model file with its measured samples beside it.

mod cpu;
mod cycles;
pub mod fit;
pub mod infer;
pub mod read;
pub mod write;

use std::path::{Path, PathBuf};

/// Why traces could not be imported: bad input (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("`{path}`: {message}")]
    Format { path: String, message: String },
    #[error("{0}")]
    Model(String),
}

/// A model imported from traces.
pub struct Imported {
    pub written: write::Written,
    /// What was counted, estimated or left out, for stderr.
    pub notes: Vec<String>,
    pub draft: infer::Draft,
}

/// Every file to read: the files given, and the `.json`/`.jsonl`/`.ndjson` files of the folders
/// given (not recursively), in name order.
pub fn inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ImportError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries = std::fs::read_dir(p).map_err(|source| ImportError::Io {
                path: p.display().to_string(),
                source,
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|f| {
                    f.is_file()
                        && f.extension()
                            .and_then(|e| e.to_str())
                            .is_some_and(|e| ["json", "jsonl", "ndjson"].contains(&e))
                })
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(ImportError::Format {
                    path: p.display().to_string(),
                    message: "the folder holds no .json, .jsonl or .ndjson files".into(),
                });
            }
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// How to import.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The share of requests the traces hold (1 when every request was traced).
    pub sampled: f64,
    /// Fit a distribution to each processing time instead of keeping the samples.
    pub fit: bool,
    /// CPU per call by service, measured outside the traces (`--cpu NAME=MS`).
    pub cpu: Vec<(String, f64)>,
    /// A warm call's CPU, the extra after a long idle and how fast a worker cools (ms), by
    /// service (`--cpu-after-idle NAME=WARM,EXTRA,TAU`).
    pub cpu_after_idle: Vec<(String, [f64; 3])>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            sampled: 1.0,
            fit: false,
            cpu: Vec::new(),
            cpu_after_idle: Vec::new(),
        }
    }
}

/// Imports `paths` as the model `name`, with its samples in `data_dir` (relative to the model).
pub fn import(
    paths: &[PathBuf],
    name: &str,
    data_dir: &str,
    settings: Settings,
) -> Result<Imported, ImportError> {
    let mut spans = read::Spans::default();
    for path in inputs(paths)? {
        read::read_file(Path::new(&path), &mut spans)?;
    }
    model(spans, name, data_dir, settings)
}

/// Imports traces held in memory (for fuzzing and tests): `name` labels them in messages.
pub fn import_bytes(name: &str, bytes: &[u8]) -> Result<Imported, ImportError> {
    let mut spans = read::Spans::default();
    read::read_from(Path::new(name), bytes, &mut spans)?;
    model(spans, "imported", "imported-data", Settings::default())
}

/// The model the spans read describe, and what could not be used.
fn model(
    spans: read::Spans,
    name: &str,
    data_dir: &str,
    settings: Settings,
) -> Result<Imported, ImportError> {
    let mut notes: Vec<String> = spans
        .dropped
        .iter()
        .map(|(why, n)| format!("{n} {why}: left out"))
        .chain(spans.noted.iter().map(|(what, n)| format!("{n} {what}")))
        .collect();
    let sources: Vec<(String, &str)> = spans.formats.clone();
    let mut draft = infer::infer(spans).map_err(ImportError::Model)?;
    let sampled = settings.sampled;
    if sampled < 1.0 {
        draft.rate_per_s /= sampled;
        draft.sampled = sampled;
        draft.notes.push(format!(
            "the traces hold {}% of the requests: the arrival rate is scaled up to {:.4} per second; workers are estimated from the traced calls alone, so they are a lower bound",
            100.0 * sampled,
            draft.rate_per_s
        ));
    }
    if !settings.cpu.is_empty() || !settings.cpu_after_idle.is_empty() {
        let mut done = cpu::apply(&mut draft, &settings.cpu).map_err(ImportError::Model)?;
        done.extend(
            cpu::after_idle(&mut draft, &settings.cpu, &settings.cpu_after_idle)
                .map_err(ImportError::Model)?,
        );
        draft.notes.extend(done);
    }
    notes.extend(draft.notes.iter().cloned());
    let written = write::model(&draft, name, data_dir, &sources, settings.fit);
    Ok(Imported {
        written,
        notes,
        draft,
    })
}
