//! Scale: a model of the size real traced systems have (10,000 services, 3,000 routes, generated
//! by `meshsim::model::generate`, the same generator as `meshsim generate`), against the built-in
//! model. Prints, for each: loading and validating, `analyze`, one run with everything `meshsim
//! run` records by default (the latency breakdown included) as events per second, writing the
//! CSV outputs, and the peak heap of each step; then the ratio of events per second.
//!
//! Then the models of `benches/models/`: a route of 100 calls in 20 stages (`deep`), a stage of
//! 50 parallel calls (`fan`), and 100,000 instances behind every kind of balancer (`wide`).
//!
//! `cargo bench --bench scale` (about a minute); `SCALE_SERVICES=N` and `SCALE_ROUTES=R` change
//! the size.

#[path = "common/counting.rs"]
mod counting;

use counting::{CURRENT, PEAK};
use meshsim::model::{Model, generate};
use meshsim::sim;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Runs `f`, returning its result, the seconds it took and the peak heap above what was in use
/// before it, in MB.
fn measured<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let started = Instant::now();
    let out = f();
    let secs = started.elapsed().as_secs_f64();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before) as f64 / 1e6;
    (out, secs, peak)
}

/// Events per second of the best of `reps` runs, and the run's peak heap in MB.
fn run(model: &Model, reps: usize) -> (f64, f64, sim::RunResult) {
    let options = sim::Options {
        breakdown: true,
        ..sim::Options::default()
    };
    let mut best = 0.0f64;
    let mut peak = 0.0f64;
    let mut last = None;
    for _ in 0..reps {
        let (result, secs, heap) = measured(|| sim::simulate_with(model, &options));
        best = best.max(result.events as f64 / secs);
        peak = peak.max(heap);
        last = Some(result);
    }
    (best, peak, last.expect("at least one run"))
}

fn report(name: &str, text: &str, reps: usize) -> f64 {
    let (model, load_s, load_mb) = measured(|| {
        meshsim::model::load_str(text, name, std::path::Path::new("."), &[]).expect("valid model")
    });
    let (_, analyze_s, _) = measured(|| meshsim::analysis::analyze(&model));
    let (events_per_s, run_mb, result) = run(&model, reps);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (_, write_s, _) = measured(|| meshsim::report::write_run(dir.path(), &model, &result));
    println!(
        "{name}: {} services, {} routes, {} links, {:.1} MB of TOML",
        model.services.len() - 1,
        model.routes.len(),
        model.links.len(),
        text.len() as f64 / 1e6
    );
    println!(
        "  load and validate {load_s:.2} s ({load_mb:.0} MB peak heap); analyze {analyze_s:.2} s; \
         run {:.2} M events/s ({} events, {run_mb:.0} MB peak heap); write outputs {write_s:.2} s",
        events_per_s / 1e6,
        result.events
    );
    events_per_s
}

fn main() {
    let services = std::env::var("SCALE_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let routes = std::env::var("SCALE_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000);
    let builtin = meshsim::model::BUILTIN_MODEL.replace("duration_s = 60", "duration_s = 300");
    let small = report("built-in", &builtin, 5);
    let text = generate::layered(&generate::Spec {
        services,
        routes,
        rate_per_s: 20_000.0,
        duration_s: 10.0,
        seed: 1,
    });
    let large = report("generated", &text, 2);
    println!(
        "events/s of the generated model ÷ the built-in model's: {:.1}%",
        100.0 * large / small
    );
    // Deep and wide call graphs, and many instances: benches/models/.
    for name in ["deep", "fan", "wide"] {
        let path = format!("{}/benches/models/{name}.toml", env!("CARGO_MANIFEST_DIR"));
        let text =
            std::fs::read_to_string(&path).expect("the bench's models are in the repository");
        let events = report(name, &text, 2);
        println!(
            "  ÷ the built-in model's events/s: {:.1}%",
            100.0 * events / small
        );
    }
}
