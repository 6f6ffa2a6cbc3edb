//! meshsim: a discrete-event simulator of microservice networks.
//!
//! A model (TOML) describes a workload, a gateway, services with instances and workers, the calls
//! between them and the links that carry those calls. [`model::load_file`] validates it into a
//! [`model::Model`]; [`sim::simulate`] runs it on the domain-free [`engine`] and returns a
//! [`sim::RunResult`]; [`report`] writes tables and CSV files.
//!
//! ```
//! let model = meshsim::model::load_builtin(&[]).unwrap();
//! let mut short = model.clone();
//! short.duration = meshsim::engine::SimTime::from_secs_f64(2.0);
//! short.warmup = meshsim::engine::SimTime::from_secs_f64(0.5);
//! let result = meshsim::sim::simulate(&short);
//! assert!(result.all.completed > 0);
//! ```
//!
//! # Layers
//!
//! Each module uses only the modules above it in this list (bottom layer first); the test
//! `tests/layers.rs` fails, naming the file and line, when one reaches upwards
//! (`cargo test --test layers`). So there is no cycle, and a newcomer can read bottom-up.
//!
//! | layer | what it is |
//! | --- | --- |
//! | [`output`] | atomic file writes and their error |
//! | [`engine`] | the domain-free discrete-event engine: time, event queue, arena, RNG, huge pages |
//! | [`stats`] | latency histograms, time-weighted averages, confidence intervals |
//! | [`model`] | the TOML model, validated once into typed structs |
//! | [`error`] | the program's errors and exit codes |
//! | [`sim`] | microservice semantics on the engine: one run, and [`sim::replicate`] |
//! | [`analysis`], [`cost`] | queueing theory without simulating; the bill of a run |
//! | [`traces`] | simulated requests out as OTLP, Jaeger and Perfetto traces; real traces in as a model |
//! | [`validation`] | the reference cases against theory |
//! | [`report`] | tables, CSV files, `run.json`, `report.html` |
//! | [`planning`], [`sweep`] | capacity, right-sizing, comparison; sweeps, shards, merge |
//! | [`measured`] | a model held against measurements of the real system (`meshsim predict`) |
//! | [`chart`] | charts drawn from the CSV files |
//! | [`cli`] | the command line; the only place that reads the terminal or Ctrl-C |

pub mod analysis;
pub mod chart;
pub mod cli;
pub mod cost;
pub mod engine;
pub mod error;
pub mod measured;
pub mod model;
pub mod output;
pub mod planning;
pub mod report;
pub mod sim;
pub mod stats;
pub mod sweep;
pub mod traces;
pub mod validation;
