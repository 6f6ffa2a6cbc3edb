//! Memory per in-flight request and peak memory of a long run, measured with a counting
//! allocator (criterion measures time, not bytes). `cargo bench --bench memory` prints a table.

use meshsim::engine::SimTime;
use std::path::Path;
use std::sync::atomic::Ordering;

#[path = "common/counting.rs"]
mod counting;
use counting::{CURRENT, PEAK};

/// Peak heap bytes while simulating `model`.
fn peak_bytes(model: &meshsim::model::Model) -> usize {
    PEAK.store(CURRENT.load(Ordering::Relaxed), Ordering::Relaxed);
    let before = CURRENT.load(Ordering::Relaxed);
    let r = meshsim::sim::simulate(model);
    std::hint::black_box(&r);
    PEAK.load(Ordering::Relaxed) - before
}

fn closed(users: u32) -> meshsim::model::Model {
    let text = format!(
        "[simulation]\nduration_s = 1\n[workload]\ntype = \"closed\"\nusers = {users}\nthink_ms = {{ dist = \"exponential\", mean_ms = 1 }}\n[[workload.mix]]\nroute = \"s.work\"\n[gateway]\nservice_ms = 0\nworkers = {users}\n[services.s]\nworkers = 1\n[services.s.endpoints.work]\nservice_ms = {{ dist = \"exponential\", mean_ms = 1000 }}\n"
    );
    meshsim::model::load_str(&text, "mem.toml", Path::new("."), &[]).expect("valid")
}

fn main() {
    // A single slow worker: every user's request soon waits in its queue, so in flight ≈ users.
    println!(
        "{:>12} {:>16} {:>22}",
        "in flight", "peak heap (MB)", "bytes per request"
    );
    let base = peak_bytes(&closed(1_000));
    for users in [10_000u32, 100_000, 1_000_000] {
        let peak = peak_bytes(&closed(users));
        let per = (peak - base) as f64 / f64::from(users - 1_000);
        println!("{users:>12} {:>16.1} {per:>22.0}", peak as f64 / 1e6);
    }
    println!();
    println!("{:>14} {:>16}", "requests", "peak heap (MB)");
    for requests in [100_000u64, 1_000_000, 10_000_000] {
        let mut m = meshsim::model::load_builtin(&[]).expect("valid");
        m.duration = SimTime::from_secs_f64(requests as f64 / 400.0);
        println!("{requests:>14} {:>16.1}", peak_bytes(&m) as f64 / 1e6);
    }
}
