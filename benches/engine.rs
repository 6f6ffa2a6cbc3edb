//! Engine speed on the built-in model (open Poisson 400 req/s, gateway M/M/1, user and order
//! M/M/2, 0.5 ms links at 1 Gbit/s), one core: simulated requests per second and events per
//! second, with links, HDR histograms and all statistics on.
//!
//! `cargo bench --bench engine`; criterion prints "thrpt" in requests/s and events/s.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use meshsim::engine::SimTime;
use meshsim::sim::simulate;
use std::hint::black_box;

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
    group.bench_function("requests", |b| {
        b.iter(|| black_box(simulate(black_box(&model))))
    });
    group.throughput(Throughput::Elements(probe.events));
    group.bench_function("events", |b| {
        b.iter(|| black_box(simulate(black_box(&model))))
    });
    group.finish();
}

criterion_group!(benches, builtin_model);
criterion_main!(benches);
