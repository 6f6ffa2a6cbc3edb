//! Traces at scale: `cargo bench --bench traces` prints
//! - the cost of recording every request's spans (a run with `--traces 1` against the same run
//!   without, simulation only, alternating, five pairs);
//! - the time to write the three files at a million spans;
//! - the time and peak heap of importing a million spans, in OTLP/JSON and Jaeger JSON (the
//!   issue's target: under 10 s and 1 GB).
//!
//! Peak heap is counted by a counting allocator, as in `benches/memory.rs`.

use meshsim::sim::{Options, TraceSampling, simulate_with};
use meshsim::traces::{export, import};
use std::sync::atomic::Ordering;
use std::time::Instant;

#[path = "common/counting.rs"]
mod counting;
use counting::{CURRENT, PEAK};

fn main() {
    // The built-in model for 900 s: about 358,000 requests, 1.07 million spans.
    let mut model = meshsim::model::load_builtin(&[]).expect("built-in model");
    model.duration = meshsim::engine::SimTime::from_secs_f64(900.0);
    let traced = Options {
        breakdown: true,
        traces: Some(TraceSampling {
            fraction: 1.0,
            slowest: 0,
        }),
        ..Options::default()
    };
    let plain = Options {
        breakdown: true,
        ..Options::default()
    };
    println!("recording: simulation wall time with --traces 1 against without (same run)");
    let mut ratios = Vec::new();
    let mut result = None;
    for round in 0..5 {
        let t0 = Instant::now();
        let a = simulate_with(&model, &plain);
        let without = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let b = simulate_with(&model, &traced);
        let with = t0.elapsed().as_secs_f64();
        std::hint::black_box(&a);
        ratios.push(with / without);
        println!(
            "  round {round}: {without:.3} s without, {with:.3} s with ({:.2}×), {} spans",
            with / without,
            b.traces.iter().map(|t| t.spans.len()).sum::<usize>()
        );
        result = Some(b);
    }
    ratios.sort_by(f64::total_cmp);
    println!("  median {:.2}×", ratios[2]);
    let result = result.expect("five rounds");
    let spans: usize = result.traces.iter().map(|t| t.spans.len()).sum();
    let dir = tempfile::tempdir().expect("temporary folder");
    println!("writing {spans} spans:");
    type Writer = fn(&meshsim::model::Model, u64, &[meshsim::sim::Trace]) -> Vec<u8>;
    let writers: [(&str, Writer); 3] = [
        ("traces.json", export::otlp_json),
        ("traces.jaeger.json", export::jaeger_json),
        ("traces.perfetto.json", export::perfetto_json),
    ];
    for (name, write) in writers {
        let t0 = Instant::now();
        let bytes = write(&model, result.seed, &result.traces);
        std::fs::write(dir.path().join(name), &bytes).expect("written");
        println!(
            "  {name}: {:.2} s, {:.0} MB",
            t0.elapsed().as_secs_f64(),
            bytes.len() as f64 / 1e6
        );
    }
    drop(result);
    println!("importing {spans} spans (target: under 10 s and 1 GB):");
    for name in ["traces.json", "traces.jaeger.json"] {
        PEAK.store(CURRENT.load(Ordering::Relaxed), Ordering::Relaxed);
        let before = CURRENT.load(Ordering::Relaxed);
        let t0 = Instant::now();
        let imported = import::import(
            &[dir.path().join(name)],
            "bench",
            "bench-data",
            Default::default(),
        )
        .expect("import");
        let took = t0.elapsed().as_secs_f64();
        let peak = PEAK.load(Ordering::Relaxed) - before;
        println!(
            "  {name}: {took:.2} s, peak heap {:.0} MB ({} services)",
            peak as f64 / 1e6,
            imported.draft.services.len()
        );
    }
}
