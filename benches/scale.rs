//! Scale: a model of the size real traced systems have (10,000 services, 3,000 routes, generated
//! by `meshsim::model::generate`, the same generator as `meshsim generate`), against the built-in
//! model. Prints, for each: loading and validating, `analyze`, one run with everything `meshsim
//! run` records by default (the latency breakdown included) as events per second, writing the
//! CSV outputs, and the peak heap of each step; then the ratio of events per second.
//!
//! Beside them, the minimal hand-written simulation of each (`benches/reference/`): what a
//! simulator doing only the model's work gets on this machine, so that what the model's size
//! costs any simulator is told apart from what it costs meshsim.
//!
//! Then the models of `benches/models/`: a route of 100 calls in 20 stages (`deep`), a stage of
//! 50 parallel calls (`fan`), and 100,000 instances behind every kind of balancer (`wide`),
//! against the same capacity in 100 instances (`narrow`).
//!
//! `cargo bench --bench scale` (about a minute); `SCALE_SERVICES=N` and `SCALE_ROUTES=R` change
//! the size, `SCALE_ROUNDS=K` the number of interleaved rounds (5).

#[path = "common/counting.rs"]
mod counting;
#[path = "reference/minimal_model.rs"]
mod minimal_model;

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

/// Interleaved rounds of the headline ratios (`SCALE_ROUNDS` to take more: the machine's
/// speed drifts by ±20% from run to run).
const ROUNDS: usize = 5;

/// Events per second of the best of `reps` runs (with the latency breakdown, as `meshsim run`
/// keeps it, or without, as a sweep), and the run's peak heap in MB.
fn run(model: &Model, reps: usize, breakdown: bool) -> (f64, f64, sim::RunResult) {
    let options = sim::Options {
        breakdown,
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

/// Events per second of the best of `reps` runs of the minimal simulation of `model`, with its
/// events and mean latency in ms (to show it does the same work as meshsim).
fn minimal_run(model: &Model, reps: usize) -> (f64, u64, f64) {
    let plan = minimal_model::Plan::new(model).expect("an open workload");
    let mut best = (0.0f64, 0, 0.0);
    for _ in 0..reps {
        let started = Instant::now();
        let (_, events, mean_ms) = std::hint::black_box(minimal_model::run(&plan, 1));
        let rate = events as f64 / started.elapsed().as_secs_f64();
        if rate > best.0 {
            best = (rate, events, mean_ms);
        }
    }
    best
}

/// Loads, analyses, runs and writes a model, printing each step; returns the run's events per
/// second, the model and the run.
fn report(name: &str, text: &str, reps: usize) -> (f64, Model, sim::RunResult) {
    let (model, load_s, load_mb) = measured(|| {
        meshsim::model::load_str(text, name, std::path::Path::new("."), &[]).expect("valid model")
    });
    let (_, analyze_s, _) = measured(|| meshsim::analysis::analyze(&model));
    let (events_per_s, run_mb, result) = run(&model, reps, true);
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
    (events_per_s, model, result)
}

fn main() {
    // As the `meshsim` binary runs: its heap in huge pages where the system allows.
    meshsim::engine::restart_with_huge_heap();
    let services = std::env::var("SCALE_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let routes = std::env::var("SCALE_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000);
    let builtin = meshsim::model::BUILTIN_MODEL.replace("duration_s = 60", "duration_s = 300");
    report("built-in", &builtin, 5);
    let text = generate::layered(&generate::Spec {
        services,
        routes,
        rate_per_s: 20_000.0,
        duration_s: 10.0,
        seed: 1,
    });
    let (_, generated, result) = report("generated", &text, 1);
    let (_, floor_events, floor_mean_ms) = minimal_run(&generated, 1);
    println!(
        "  the same work: meshsim {} events, mean latency {:.3} ms; the minimal simulation {} \
         events, {:.3} ms (its mean includes the warm-up)",
        result.events,
        result.all.latency.mean_ms(),
        floor_events,
        floor_mean_ms
    );
    // The machine's speed drifts from minute to minute: each ratio is taken within one round,
    // its runs one after the other, and the median over rounds is reported.
    let mut long = meshsim::model::load_str(
        &meshsim::model::BUILTIN_MODEL.replace("duration_s = 60", "duration_s = 3000"),
        "built-in",
        std::path::Path::new("."),
        &[],
    )
    .expect("valid model");
    long.warmup = meshsim::engine::SimTime::ZERO;
    let mut rounds: Vec<[f64; 7]> = Vec::new();
    let count = std::env::var("SCALE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ROUNDS);
    for _ in 0..count {
        let small = run(&long, 1, true).0;
        let large = run(&generated, 1, true).0;
        let small_plain = run(&long, 1, false).0;
        let large_plain = run(&generated, 1, false).0;
        let floor_small = minimal_run(&long, 1).0;
        let floor_large = minimal_run(&generated, 1).0;
        rounds.push([
            large / small,
            large_plain / small_plain,
            floor_large / floor_small,
            small / floor_small,
            large / floor_large,
            large / 1e6,
            floor_large / small,
        ]);
    }
    let median = |k: usize| {
        let mut v: Vec<f64> = rounds.iter().map(|r| r[k]).collect();
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    let line = |what: &str, k: usize| {
        let (m, lo, hi) = median(k);
        println!(
            "  {what}: {:.1}% ({:.1}–{:.1}%)",
            100.0 * m,
            100.0 * lo,
            100.0 * hi
        );
    };
    println!("{count} interleaved rounds, median (range):");
    line(
        "events/s of the generated model ÷ the built-in model's, with the breakdown (`run`)",
        0,
    );
    line("the same without the breakdown (a sweep's runs)", 1);
    line(
        "the minimal simulation (benches/reference/) of the generated model ÷ of the built-in",
        2,
    );
    line(
        "meshsim (with the breakdown) ÷ the minimal simulation, built-in",
        3,
    );
    line(
        "meshsim (with the breakdown) ÷ the minimal simulation, generated",
        4,
    );
    // The goal's own measure: what a simulator as compact as the minimal one reaches on the
    // generated model, against meshsim's speed on the built-in one.
    line(
        "the minimal simulation of the generated model ÷ meshsim's of the built-in",
        6,
    );
    let (m, lo, hi) = median(5);
    println!("  the generated model with the breakdown: {m:.2} M events/s ({lo:.2}–{hi:.2})");
    let small = run(&long, 1, true).0;
    let floor_small = minimal_run(&long, 1).0;
    // Deep and wide call graphs, and many instances: benches/models/. `narrow` is `wide` with
    // 10 instances of 1,000 workers a service (the same capacity): what the instances cost.
    let (mut narrow, mut narrow_floor) = (f64::NAN, f64::NAN);
    for name in ["deep", "fan", "narrow", "wide"] {
        let path = format!("{}/benches/models/{name}.toml", env!("CARGO_MANIFEST_DIR"));
        let text =
            std::fs::read_to_string(&path).expect("the bench's models are in the repository");
        let (events, model, result) = report(name, &text, 2);
        let (floor, floor_events, _) = minimal_run(&model, 2);
        println!(
            "  ÷ the built-in model's events/s: {:.1}%; the minimal simulation: {:.2} M events/s \
             ({floor_events} events to meshsim's {}), meshsim ÷ minimal {:.1}%; the minimal \
             simulation of it ÷ of the built-in: {:.1}%",
            100.0 * events / small,
            floor / 1e6,
            result.events,
            100.0 * events / floor,
            100.0 * floor / floor_small
        );
        match name {
            "narrow" => (narrow, narrow_floor) = (events, floor),
            "wide" => println!(
                "  ÷ `narrow`'s events/s (the same capacity in 10 instances a service): {:.1}%; \
                 the minimal simulation of it ÷ of `narrow`: {:.1}%",
                100.0 * events / narrow,
                100.0 * floor / narrow_floor
            ),
            _ => {}
        }
    }
}
