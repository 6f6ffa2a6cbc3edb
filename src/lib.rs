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

pub mod analysis;
pub mod chart;
pub mod cli;
pub mod cost;
pub mod engine;
pub mod error;
pub mod interrupt;
pub mod model;
pub mod planning;
pub mod report;
pub mod sim;
pub mod stats;
pub mod sweep;
pub mod validation;
