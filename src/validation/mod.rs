//! `meshsim validate`: reference cases with known answers from queueing theory, simulated with
//! independent replications and compared with 95% confidence intervals.
//!
//! A row passes when the theoretical value lies inside the simulation's 95% confidence interval
//! (Student-t over replications) and that interval is narrower than the case's bound (2% of the
//! value unless stated), so a noisy simulation cannot pass by having a wide interval.

mod cases;

pub use cases::suite;

use crate::model::Model;
use crate::sim::{Options, RunResult};
use crate::stats::mean_ci95;
use rayon::prelude::*;

/// How a quantity is read from one replication.
pub type Measure = Box<dyn Fn(&RunResult) -> f64 + Send + Sync>;

/// One reference case: a model, its replications, and what to compare.
pub struct Case {
    pub name: String,
    pub model: Model,
    pub reps: u32,
    pub checks: Vec<Check>,
    /// Check Little's law L = λW at every station.
    pub little: bool,
}

/// A quantity with its theoretical value.
pub struct Check {
    pub quantity: String,
    pub theory: f64,
    pub measure: Measure,
    /// Largest acceptable CI half-width, relative to the theoretical value.
    pub max_half_width: f64,
}

impl Check {
    /// A check with the default 2% bound on the interval.
    pub fn new(
        quantity: impl Into<String>,
        theory: f64,
        measure: impl Fn(&RunResult) -> f64 + Send + Sync + 'static,
    ) -> Check {
        Check {
            quantity: quantity.into(),
            theory,
            measure: Box::new(measure),
            max_half_width: 0.02,
        }
    }
}

/// One line of the validation table.
#[derive(Clone, Debug)]
pub struct Row {
    pub case: String,
    pub quantity: String,
    pub theory: f64,
    pub simulated: f64,
    pub ci95_half_width: f64,
    pub replications: usize,
    pub pass: bool,
}

impl Row {
    /// (simulated − theory) / theory.
    pub fn relative_error(&self) -> f64 {
        (self.simulated - self.theory) / self.theory
    }
}

/// Boundary effect allowed in Little's law checks: residence of calls that straddle the edges of
/// the measured window, relative to L.
const LITTLE_BOUNDARY: f64 = 1e-3;

/// Runs every case (all replications of all cases in parallel) and returns the table rows.
pub fn run(cases: &[Case], options: &Options) -> Vec<Row> {
    let results: Vec<Vec<RunResult>> = cases
        .par_iter()
        .enumerate()
        .map(|(c, case)| {
            let m = &case.model;
            crate::sim::replicate_seeded(m, m.seed, c as u64, 0..case.reps, options)
        })
        .collect();
    cases
        .iter()
        .zip(&results)
        .flat_map(|(case, runs)| case_rows(case, runs))
        .collect()
}

fn case_rows(case: &Case, runs: &[RunResult]) -> Vec<Row> {
    let mut rows = Vec::new();
    for check in &case.checks {
        let ci = mean_ci95(&runs.iter().map(|r| (check.measure)(r)).collect::<Vec<_>>());
        let slack = 1e-9 * check.theory.abs();
        let pass = (ci.mean - check.theory).abs() <= ci.half_width + slack
            && ci.half_width <= check.max_half_width * check.theory.abs() + slack;
        rows.push(Row {
            case: case.name.clone(),
            quantity: check.quantity.clone(),
            theory: check.theory,
            simulated: ci.mean,
            ci95_half_width: ci.half_width,
            replications: ci.n,
            pass,
        });
    }
    if case.little {
        rows.extend(little_rows(case, runs));
    }
    rows
}

/// Little's law at each station that saw calls: the time-average number of calls present (L)
/// against admitted rate × mean residence (λW), paired per replication.
fn little_rows(case: &Case, runs: &[RunResult]) -> Vec<Row> {
    let mut rows = Vec::new();
    for (s, service) in case.model.services.iter().enumerate() {
        let l: Vec<f64> = runs.iter().map(|r| r.services[s].mean_in_station).collect();
        let lw: Vec<f64> = runs
            .iter()
            .map(|r| r.services[s].admitted_rate_per_s * r.services[s].mean_residence_ms / 1000.0)
            .collect();
        let l_mean = l.iter().sum::<f64>() / l.len() as f64;
        if l_mean.is_nan() || l_mean <= 0.0 {
            continue;
        }
        let diff = mean_ci95(&l.iter().zip(&lw).map(|(a, b)| a - b).collect::<Vec<_>>());
        let lw_mean = lw.iter().sum::<f64>() / lw.len() as f64;
        rows.push(Row {
            case: case.name.clone(),
            quantity: format!("Little L = λW at {}", service.name),
            theory: lw_mean,
            simulated: l_mean,
            ci95_half_width: diff.half_width,
            replications: diff.n,
            pass: diff.mean.abs() <= diff.half_width.max(LITTLE_BOUNDARY * l_mean),
        });
    }
    rows
}
