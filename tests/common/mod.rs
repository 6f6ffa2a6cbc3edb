//! Helpers shared by the integration tests.
#![allow(dead_code)]

use meshsim::engine::SimTime;
use meshsim::model::{self, Model, Override};
use meshsim::sim::{RunResult, simulate};
use meshsim::stats::{MeanCi, mean_ci95};

/// Loads a model from text with `--set`-style overrides.
pub fn model_from(text: &str, sets: &[&str]) -> Model {
    let overrides: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    model::load_str(text, "test.toml", std::path::Path::new("."), &overrides)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `reps` independent replications (seeds 1..=reps) and returns them.
pub fn replicate(model: &Model, reps: u64) -> Vec<RunResult> {
    (1..=reps)
        .map(|seed| {
            let mut m = model.clone();
            m.seed = seed;
            simulate(&m)
        })
        .collect()
}

/// The 95% confidence interval of a per-replication quantity.
pub fn ci(runs: &[RunResult], f: impl Fn(&RunResult) -> f64) -> MeanCi {
    mean_ci95(&runs.iter().map(f).collect::<Vec<_>>())
}

/// Asserts that `theory` lies in the interval and that the interval is tight enough to mean
/// something (half-width under `max_rel` of the value).
pub fn assert_agrees(what: &str, theory: f64, ci: MeanCi, max_rel: f64) {
    let row = format!(
        "{what}: theory {theory:.5}, simulation {:.5} ± {:.5} (95% CI, n = {}), error {:+.3}%",
        ci.mean,
        ci.half_width,
        ci.n,
        100.0 * (ci.mean - theory) / theory
    );
    println!("{row}");
    assert!(ci.contains(theory), "theory outside the 95% CI: {row}");
    assert!(
        ci.half_width < max_rel * theory,
        "CI too wide to be a real check: {row}"
    );
}

/// Sets duration and warm-up in seconds.
pub fn with_duration(mut m: Model, duration_s: f64, warmup_s: f64) -> Model {
    m.duration = SimTime::from_secs_f64(duration_s);
    m.warmup = SimTime::from_secs_f64(warmup_s);
    m
}

/// Mean response time of an M/M/c queue (Erlang C), in the units of 1/mu.
pub fn mmc_response_time(lambda: f64, mu: f64, c: u32) -> f64 {
    let a = lambda / mu;
    let rho = a / c as f64;
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..c {
        term *= a / k as f64;
        sum += term;
    }
    let last = term * a / c as f64 / (1.0 - rho);
    let erlang_c = last / (sum + last);
    1.0 / mu + erlang_c / (c as f64 * mu - lambda)
}

/// Runs the meshsim binary in `dir`.
pub fn meshsim(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("meshsim runs")
}

/// Asserts that a meshsim run succeeded; returns its stdout.
pub fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
