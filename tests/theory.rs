//! The simulator against closed-form queueing results, with confidence intervals from
//! independent replications (Student-t). Seeds are fixed, so these tests are deterministic.

mod common;
use common::*;

/// A single station: the gateway forwards in no time to one service over no link.
const SINGLE_STATION: &str = r#"
name = "single-station"
[simulation]
duration_s = 100
warmup_s = 10
[workload]
type = "open"
rate_per_s = 500
[[workload.mix]]
route = "svc.work"
[gateway]
service_ms = 0
[services.svc]
workers = 1
[services.svc.endpoints.work]
service_ms = { dist = "exponential", mean_ms = 1 }
"#;

#[test]
fn builtin_model_mean_response_time_matches_the_jackson_network() {
    let model = meshsim::model::load_builtin(&[]).unwrap();
    let runs = replicate(&model, 10);
    // Gateway M/M/1 (λ = 400, μ = 1000) + user or order M/M/2 (λ = 200, μ = 1000/3) + 2 × 0.5 ms
    // propagation = 5.963 ms (the issue's 5.96), plus serialising 512 B and 2048 B at 1 Gbit/s.
    let queueing_ms =
        1000.0 * (1.0 / (1000.0 - 400.0) + mmc_response_time(200.0, 1000.0 / 3.0, 2)) + 1.0;
    assert!((queueing_ms - 5.963).abs() < 5e-4, "{queueing_ms}");
    let serialisation_ms = (512.0 + 2048.0) * 8.0 / 1e9 * 1000.0;
    let theory = queueing_ms + serialisation_ms;
    assert_agrees(
        "built-in mean response ms",
        theory,
        ci(&runs, |r| r.all.latency.mean_ms()),
        0.02,
    );
    // Every request is accounted for: none lost, none rejected.
    for r in &runs {
        assert_eq!(r.all.errors, 0);
        assert_eq!(r.all.requests, r.all.completed + r.all.in_flight_at_end());
    }
}

#[test]
fn mm1_mean_response_time_is_one_over_mu_minus_lambda() {
    let model = model_from(SINGLE_STATION, &[]);
    let runs = replicate(&model, 10);
    let (lambda, mu) = (500.0, 1000.0);
    let theory_ms = 1000.0 / (mu - lambda);
    assert_agrees(
        "M/M/1 mean response ms",
        theory_ms,
        ci(&runs, |r| r.all.latency.mean_ms()),
        0.02,
    );
    // Utilisation ρ = λ/μ and throughput λ.
    assert_agrees(
        "M/M/1 utilisation",
        0.5,
        ci(&runs, |r| r.services[1].utilisation),
        0.02,
    );
    assert_agrees(
        "M/M/1 throughput",
        500.0,
        ci(&runs, |r| r.all.throughput_rps()),
        0.02,
    );
}

#[test]
fn mm1_response_time_percentiles_follow_the_exponential() {
    // The M/M/1 response time is exponential with rate μ − λ: its q-quantile is −ln(1−q)/(μ−λ).
    let model = model_from(SINGLE_STATION, &["simulation.duration_s=1000"]);
    let runs = replicate(&model, 10);
    for q in [0.5, 0.9, 0.99] {
        let theory_ms = -(1.0f64 - q).ln() / 500.0 * 1000.0;
        assert_agrees(
            &format!("M/M/1 p{}", q * 100.0),
            theory_ms,
            ci(&runs, |r| r.all.latency.quantile_ms(q)),
            0.02,
        );
    }
}

#[test]
fn mmc_with_four_workers_matches_erlang_c() {
    let model = model_from(
        SINGLE_STATION,
        &["services.svc.workers=4", "workload.rate_per_s=3200"],
    );
    let runs = replicate(&model, 10);
    let theory_ms = 1000.0 * mmc_response_time(3200.0, 1000.0, 4);
    assert_agrees(
        "M/M/4 mean response ms",
        theory_ms,
        ci(&runs, |r| r.all.latency.mean_ms()),
        0.02,
    );
    // Mean queue length by Little's law on the waiting line: Lq = λ Wq.
    let lq = 3200.0 * (theory_ms - 1.0) / 1000.0;
    assert_agrees(
        "M/M/4 mean queue length",
        lq,
        ci(&runs, |r| r.services[1].mean_queue_length),
        0.03,
    );
}

#[test]
fn md1_waiting_time_matches_pollaczek_khinchine() {
    // M/D/1: Wq = ρ S / (2 (1 − ρ)); with S = 1 ms and ρ = 0.7, W = 1 + 1.1667 ms.
    let model = model_from(
        SINGLE_STATION,
        &[
            "services.svc.endpoints.work.service_ms=1",
            "workload.rate_per_s=700",
        ],
    );
    let runs = replicate(&model, 10);
    let theory_ms = 1.0 + 0.7 * 1.0 / (2.0 * 0.3);
    assert_agrees(
        "M/D/1 mean response ms",
        theory_ms,
        ci(&runs, |r| r.all.latency.mean_ms()),
        0.02,
    );
}

#[test]
fn a_lone_message_takes_serialisation_plus_propagation() {
    // One request at a time (a closed workload of one user with long think time) over a
    // 10 Mbit/s link with 2 ms latency: each way takes exactly 8·B/bandwidth + latency.
    let text = r#"
[simulation]
duration_s = 100
warmup_s = 1
[workload]
type = "closed"
users = 1
think_ms = 50
[[workload.mix]]
route = "svc.work"
[gateway]
service_ms = 0
[services.svc.endpoints.work]
service_ms = 0.25
request_bytes = 1250
response_bytes = 12500
[links.l]
between = ["gateway", "svc"]
latency_ms = 2
bandwidth_mbps = 10
"#;
    let r = meshsim::sim::simulate(&model_from(text, &[]));
    // 1250 B at 10 Mbit/s = 1 ms, 12500 B = 10 ms; + 2 × 2 ms + 0.25 ms of service.
    let expected = 1.0 + 10.0 + 4.0 + 0.25;
    assert!(r.all.completed > 1000);
    assert!(
        (r.all.latency.max_ms() - expected).abs() < 1e-6,
        "{}",
        r.all.latency.max_ms()
    );
    assert!((r.all.latency.mean_ms() - expected).abs() < 1e-6);
}

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
fn parallel_calls_wait_for_the_slowest_branch() {
    // Two exponential branches in one stage at very low load: the mean of the max of two
    // independent exponentials with mean 1/μ is 1.5/μ.
    let text = r#"
[simulation]
duration_s = 1000
warmup_s = 1
[workload]
type = "open"
rate_per_s = 2
[[workload.mix]]
route = "front.get"
[gateway]
service_ms = 0
[services.front.endpoints.get]
service_ms = 0
calls = [["a.get", "b.get"]]
[services.a]
workers = 64
[services.a.endpoints.get]
service_ms = { dist = "exponential", mean_ms = 4 }
[services.b]
workers = 64
[services.b.endpoints.get]
service_ms = { dist = "exponential", mean_ms = 4 }
"#;
    let runs = replicate(&model_from(text, &[]), 10);
    assert_agrees(
        "fork-join mean ms",
        6.0,
        ci(&runs, |r| r.all.latency.mean_ms()),
        0.03,
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
