//! meshsim against the minimal hand-written simulation of the same model, interleaved.
//!
//! On a shared machine whose speed drifts from minute to minute, two criterion groups measured
//! one after the other can land in different "weather"; here each meshsim run is paired with a
//! minimal run right after it, and the ratio is taken per pair. `cargo bench --bench ratio`
//! prints the median and quartiles of the per-pair ratio, and each side's median rate.

#[path = "reference/minimal.rs"]
mod minimal;

use meshsim::engine::SimTime;
use meshsim::sim::simulate;
use std::hint::black_box;
use std::time::Instant;

/// Simulated seconds per run: about 100,000 requests at 400 req/s, as in `builtin_model`.
const DURATION_S: f64 = 250.0;
const PAIRS: usize = 60;

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    // As the `meshsim` binary runs: its heap in huge pages where the system allows.
    meshsim::engine::restart_with_huge_heap();
    let mut model = meshsim::model::load_builtin(&[]).expect("the built-in model is valid");
    model.duration = SimTime::from_secs_f64(DURATION_S);
    model.warmup = SimTime::ZERO;
    let (mut ratios, mut ours, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    for pair in 0..=PAIRS {
        let t = Instant::now();
        let run = black_box(simulate(black_box(&model)));
        let meshsim_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let (done, _, _) = black_box(minimal::run(black_box(DURATION_S), 1));
        let minimal_s = t.elapsed().as_secs_f64();
        if pair == 0 {
            continue; // warm-up pair
        }
        let meshsim_rate = run.all.requests as f64 / meshsim_s;
        let minimal_rate = done as f64 / minimal_s;
        ours.push(meshsim_rate / 1e6);
        theirs.push(minimal_rate / 1e6);
        ratios.push(100.0 * meshsim_rate / minimal_rate);
    }
    for v in [&mut ratios, &mut ours, &mut theirs] {
        v.sort_by(f64::total_cmp);
    }
    println!("built-in model, {PAIRS} interleaved pairs of runs of {DURATION_S} simulated s");
    println!(
        "meshsim  median {:.2} M requests/s (quartiles {:.2}–{:.2})",
        quantile(&ours, 0.5),
        quantile(&ours, 0.25),
        quantile(&ours, 0.75)
    );
    println!(
        "minimal  median {:.2} M requests/s (quartiles {:.2}–{:.2})",
        quantile(&theirs, 0.5),
        quantile(&theirs, 0.25),
        quantile(&theirs, 0.75)
    );
    println!(
        "meshsim / minimal: median {:.1}% (quartiles {:.1}–{:.1}%)",
        quantile(&ratios, 0.5),
        quantile(&ratios, 0.25),
        quantile(&ratios, 0.75)
    );
}
