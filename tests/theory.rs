//! Simulator behaviour beyond the reference cases of `tests/validation.rs`: blocking workers and
//! determinism. Confidence intervals come from independent replications (Student-t).

mod common;
use common::*;

#[test]
fn blocking_workers_are_held_while_waiting_downstream() {
    // Front calls back; back takes 2 ms. Non-blocking front workers are busy 1 ms per call;
    // blocking ones 1 + 2 ms. With λ = 200/s and 1 worker, utilisation is 0.2 vs 0.6.
    let text = r#"
[simulation]
duration_s = 200
warmup_s = 5
[workload]
type = "open"
rate_per_s = 200
[[workload.mix]]
route = "front.get"
[gateway]
service_ms = 0
[services.front]
workers = 1
blocking = false
[services.front.endpoints.get]
service_ms = 1
calls = [["back.get"]]
[services.back]
workers = 8
[services.back.endpoints.get]
service_ms = 2
"#;
    let non_blocking = replicate(&model_from(text, &[]), 5);
    assert_agrees(
        "non-blocking utilisation",
        0.2,
        ci(&non_blocking, |r| r.services[1].utilisation),
        0.02,
    );
    let blocking = replicate(&model_from(text, &["services.front.blocking=true"]), 5);
    assert_agrees(
        "blocking utilisation",
        0.6,
        ci(&blocking, |r| r.services[1].utilisation),
        0.02,
    );
}

#[test]
fn same_seed_gives_identical_results() {
    let model = with_duration(meshsim::model::load_builtin(&[]).unwrap(), 10.0, 1.0);
    let a = meshsim::sim::simulate(&model);
    let b = meshsim::sim::simulate(&model);
    assert_eq!(
        meshsim::report::summary_csv(&a),
        meshsim::report::summary_csv(&b)
    );
    assert_eq!(
        meshsim::report::services_csv(&a),
        meshsim::report::services_csv(&b)
    );
    assert_eq!(a.events, b.events);
    let mut other = model.clone();
    other.seed = 2;
    assert_ne!(
        meshsim::report::summary_csv(&a),
        meshsim::report::summary_csv(&meshsim::sim::simulate(&other))
    );
}
