//! Engine speed, one core: simulated requests and events per second.
//!
//! - `builtin_model`: the built-in model (open Poisson 400 req/s, gateway M/M/1, user and order
//!   M/M/2, 0.5 ms links at 1 Gbit/s) with links, HDR histograms and all statistics on, beside a
//!   minimal hand-written simulation of the same model (`benches/reference/minimal.rs`). The two
//!   are measured one after the other; `cargo bench --bench ratio` interleaves them, which is
//!   the figure to trust on a machine whose speed drifts.
//! - `run_length`: time per request from 10^4 to 10^7 requests (it should stay flat).
//! - `pending_events`: time per event with 10^2 … 10^6 requests in flight (a closed workload
//!   with that many users); it should grow at most logarithmically.
//! - `large_model`: 200 services with 2,000 instances.
//!
//! `cargo bench --bench engine`; criterion prints "thrpt" in elements (requests or events) per s.

#[path = "reference/minimal.rs"]
mod minimal;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use meshsim::engine::SimTime;
use meshsim::sim::simulate;
use std::hint::black_box;
use std::path::Path;

fn builtin(duration_s: f64) -> meshsim::model::Model {
    let mut m = meshsim::model::load_builtin(&[]).expect("the built-in model is valid");
    m.duration = SimTime::from_secs_f64(duration_s);
    m.warmup = SimTime::ZERO;
    m
}

fn builtin_model(c: &mut Criterion) {
    let model = builtin(250.0); // about 100,000 requests
    let probe = simulate(&model);
    let mut group = c.benchmark_group("builtin_model");
    group.sample_size(20);
    group.throughput(Throughput::Elements(probe.all.requests));
    group.bench_function("meshsim", |b| {
        b.iter(|| black_box(simulate(black_box(&model))))
    });
    let (done, _, mean) = minimal::run(250.0, 1);
    assert!(
        (mean - 5.98).abs() < 0.3,
        "the minimal simulation is of the same model: {mean} ms"
    );
    group.throughput(Throughput::Elements(done));
    group.bench_function("minimal_hand_written", |b| {
        b.iter(|| black_box(minimal::run(black_box(250.0), 1)))
    });
    group.throughput(Throughput::Elements(probe.events));
    group.bench_function("meshsim_events", |b| {
        b.iter(|| black_box(simulate(black_box(&model))))
    });
    group.finish();
}

fn run_length(c: &mut Criterion) {
    let mut group = c.benchmark_group("run_length");
    group.sample_size(10);
    for requests in [10_000u64, 100_000, 1_000_000, 10_000_000] {
        let model = builtin(requests as f64 / 400.0);
        group.throughput(Throughput::Elements(requests));
        group.bench_with_input(BenchmarkId::from_parameter(requests), &model, |b, m| {
            b.iter(|| black_box(simulate(m)))
        });
    }
    group.finish();
}

/// A closed workload whose `users` requests are all in flight at once: each holds a worker of a
/// service with as many workers as users, so nothing queues and the pending events ≈ users.
pub fn many_in_flight(users: u32, duration_s: f64) -> meshsim::model::Model {
    let text = format!(
        r#"
[simulation]
duration_s = {duration_s}
[workload]
type = "closed"
users = {users}
think_ms = {{ dist = "exponential", mean_ms = 10 }}
[[workload.mix]]
route = "s.work"
[gateway]
workers = {users}
service_ms = 0
[services.s]
workers = {users}
[services.s.endpoints.work]
service_ms = {{ dist = "exponential", mean_ms = 10 }}
"#
    );
    meshsim::model::load_str(&text, "bench.toml", Path::new("."), &[]).expect("valid bench model")
}

fn pending_events(c: &mut Criterion) {
    let mut group = c.benchmark_group("pending_events");
    group.sample_size(10);
    for users in [100u32, 1_000, 10_000, 100_000, 1_000_000] {
        // About 2 million events whatever the population (each cycle of 20 ms is ~4 events).
        let duration = (2e6 / 4.0 / f64::from(users) * 0.02).max(0.06);
        let model = many_in_flight(users, duration);
        let events = simulate(&model).events;
        group.throughput(Throughput::Elements(events));
        group.bench_with_input(BenchmarkId::from_parameter(users), &model, |b, m| {
            b.iter(|| black_box(simulate(m)))
        });
    }
    group.finish();
}

/// 200 services in 20 chains of 10, 10 instances × 4 workers each (2,000 instances), a link
/// between each caller and callee.
pub fn large_model() -> meshsim::model::Model {
    let mut t = String::from(
        "[simulation]\nduration_s = 20\n[workload]\ntype = \"open\"\nrate_per_s = 2000\n",
    );
    for chain in 0..20 {
        t.push_str(&format!(
            "[[workload.mix]]\nroute = \"s{}.op\"\n",
            chain * 10
        ));
    }
    t.push_str("[gateway]\nworkers = 8\nservice_ms = { dist = \"exponential\", mean_ms = 0.2 }\n");
    for s in 0..200 {
        t.push_str(&format!(
            "[services.s{s}]\ninstances = 10\nworkers = 4\nload_balancer = \"power_of_two\"\n[services.s{s}.endpoints.op]\nservice_ms = {{ dist = \"exponential\", mean_ms = 1 }}\nrequest_bytes = 500\nresponse_bytes = 2000\n"
        ));
        if s % 10 != 9 {
            t.push_str(&format!("calls = [[\"s{}.op\"]]\n", s + 1));
            t.push_str(&format!("[links.l{s}]\nbetween = [\"s{s}\", \"s{}\"]\nlatency_ms = 0.2\nbandwidth_mbps = 10000\n", s + 1));
        }
    }
    meshsim::model::load_str(&t, "large.toml", Path::new("."), &[]).expect("valid large model")
}

fn large(c: &mut Criterion) {
    let model = large_model();
    assert_eq!(
        model.services.iter().map(|s| s.instances).sum::<u32>(),
        2_001
    );
    let events = simulate(&model).events;
    let mut group = c.benchmark_group("large_model");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events));
    group.bench_function("200_services_2000_instances_events", |b| {
        b.iter(|| black_box(simulate(&model)))
    });
    group.finish();
}

criterion_group!(benches, builtin_model, run_length, pending_events, large);
criterion_main!(benches);
