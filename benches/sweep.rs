//! Sweep speed-up from one core to two, against what the machine itself allows.
//!
//! The README's 32-run sweep (16 points × 2 replications of the built-in model, 400 simulated
//! seconds each) runs with one thread and with two, interleaved so both land in the same
//! "weather" of a shared machine; the speed-up is taken per round. Each round also runs two
//! independent one-thread sweeps at once, in separate thread pools and output directories: they
//! share nothing in meshsim, so `2 × alone / together` is the most two cores of this machine
//! give to any two runs (their caches, memory bandwidth and the VM's scheduling). A sweep whose
//! speed-up falls short of that ceiling would be losing time to meshsim itself (a lock, a shared
//! RNG, a serial tail); one that matches it is losing time only to the machine.
//! `cargo bench --bench sweep` prints the medians and the spread of both.

use meshsim::model::{ModelText, Override};
use meshsim::sweep::{Axis, Grid, Plan, expand};
use std::path::{Path, PathBuf};
use std::time::Instant;

const ROUNDS: usize = 10;

/// The README's sweep: `--vary workload.rate_per_s=100:800:100 --vary
/// services.user.instances=1,2 --reps 2 --set simulation.duration_s=400`.
fn plan() -> Plan {
    let text = ModelText::builtin();
    let sets: Vec<Override> = vec!["simulation.duration_s=400".parse().expect("valid override")];
    let base = text.load(&sets).expect("the built-in model is valid");
    let axes = vec![
        Axis {
            path: "workload.rate_per_s".into(),
            values: expand("100:800:100").expect("valid range"),
        },
        Axis {
            path: "services.user.instances".into(),
            values: expand("1,2").expect("valid list"),
        },
    ];
    Plan {
        options: meshsim::sim::Options::default(),
        text,
        sets,
        base,
        grid: Grid::new(axes, false).expect("valid grid"),
        reps: 2,
        shard: None,
        command: String::new(),
    }
}

/// Wall-clock seconds of the whole sweep (simulation, point files, CSV assembly) on `threads`.
fn sweep_s(plan: &Plan, threads: usize, out: &Path) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    let t = Instant::now();
    pool.install(|| meshsim::sweep::run(plan, out, false, true))
        .expect("the sweep runs");
    t.elapsed().as_secs_f64()
}

/// Wall-clock seconds until two independent one-thread sweeps, started together, both finish.
fn two_at_once_s(plan: &Plan, a: &Path, b: &Path) -> f64 {
    let t = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| sweep_s(plan, 1, a));
        s.spawn(|| sweep_s(plan, 1, b));
    });
    t.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let plan = plan();
    let dir = std::env::temp_dir().join(format!("meshsim-bench-sweep-{}", std::process::id()));
    let out = |name: &str| -> PathBuf { dir.join(name) };
    sweep_s(&plan, 2, &out("warm-up"));
    let (mut speedups, mut ceilings) = (Vec::new(), Vec::new());
    println!(
        "sweep of the built-in model, {} points × {} replications, {ROUNDS} interleaved rounds",
        plan.grid.len(),
        plan.reps
    );
    for round in 1..=ROUNDS {
        let one = sweep_s(&plan, 1, &out("one"));
        let two = sweep_s(&plan, 2, &out("two"));
        let together = two_at_once_s(&plan, &out("a"), &out("b"));
        speedups.push(one / two);
        ceilings.push(2.0 * one / together);
        println!(
            "round {round:2}: 1 thread {one:.2} s, 2 threads {two:.2} s: speed-up {:.2}×; two one-thread sweeps at once {together:.2} s: ceiling {:.2}×",
            one / two,
            2.0 * one / together
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    let of_ceiling: Vec<f64> = speedups.iter().zip(&ceilings).map(|(s, c)| s / c).collect();
    println!("speed-up 1 → 2 threads: {}", summary(speedups));
    println!(
        "machine's ceiling (two independent one-thread sweeps at once): {}",
        summary(ceilings)
    );
    println!(
        "speed-up as a fraction of the ceiling, per round: {}",
        summary(of_ceiling)
    );
}

/// Median and range.
fn summary(v: Vec<f64>) -> String {
    let lo = v.iter().copied().fold(f64::MAX, f64::min);
    let hi = v.iter().copied().fold(f64::MIN, f64::max);
    format!("median {:.2} (range {lo:.2}–{hi:.2})", median(v))
}
