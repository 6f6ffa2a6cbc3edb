//! `meshsim analyze`: the analytic answers and the honesty of their labels.

mod common;
use common::*;
use meshsim::analysis::analyze;

#[test]
fn builtin_model_is_the_jackson_network_plus_serialisation() {
    let model = meshsim::model::load_builtin(&[]).unwrap();
    let a = analyze(&model);
    let jackson = 1000.0 * (1.0 / 600.0 + mmc_response_time(200.0, 1000.0 / 3.0, 2)) + 1.0;
    assert!((jackson - 5.963).abs() < 5e-4);
    let serialisation = (512.0 + 2048.0) * 8.0 / 1e6;
    for r in &a.routes {
        // Link queueing at 0.08–0.33% utilisation adds well under a nanosecond... of a µs.
        assert!(
            (r.mean_response_ms - (jackson + serialisation)).abs() < 1e-4,
            "{}: {}",
            r.route,
            r.mean_response_ms
        );
        assert_eq!(r.quality.to_string(), "approx: link serialisation as M/D/1");
    }
    let gw = &a.stations[0];
    assert!(gw.quality.is_exact());
    assert!((gw.utilisation - 0.4).abs() < 1e-12);
    assert!(
        (gw.mean_wait_ms - 0.4 / 0.6).abs() < 1e-9,
        "M/M/1 Wq = ρ/(μ−λ)"
    );
    assert!((a.stations[1].utilisation - 0.3).abs() < 1e-12);
}

const CLOSED: &str = r#"
[simulation]
duration_s = 10
[workload]
type = "closed"
users = 10
think_ms = { dist = "exponential", mean_ms = 100 }
[[workload.mix]]
route = "front.get"
[gateway]
service_ms = 0
[services.front.endpoints.get]
service_ms = { dist = "exponential", mean_ms = 5 }
calls = [["back.get"]]
[services.back.endpoints.get]
service_ms = { dist = "exponential", mean_ms = 3 }
"#;

#[test]
fn closed_workloads_are_solved_by_exact_mva() {
    // Hand-computed exact MVA for demands 5 and 3 ms, think 100 ms.
    let mva = |users: u32| {
        let (mut q1, mut q2, mut x, mut r) = (0.0, 0.0, 0.0, 0.0);
        for n in 1..=users {
            let (r1, r2) = (5.0 * (1.0 + q1), 3.0 * (1.0 + q2));
            r = r1 + r2;
            x = n as f64 / (100.0 + r);
            (q1, q2) = (x * r1, x * r2);
        }
        (x * 1000.0, r)
    };
    for users in [1, 10, 50] {
        let a = analyze(&model_from(CLOSED, &[&format!("workload.users={users}")]));
        let (x, r) = mva(users);
        assert!(
            (a.throughput_per_s - x).abs() < 1e-9,
            "{users} users: {} vs {x}",
            a.throughput_per_s
        );
        assert!((a.routes[0].mean_response_ms - r).abs() < 1e-9);
        assert!(a.throughput_quality.is_exact(), "{}", a.throughput_quality);
    }
    // Two workers at front: with two users nobody ever waits there, so exactly
    // R(2) = 5 + 3 (1 + Q_back(1)) with Q_back(1) = 3/108 (exact load-dependent MVA).
    let a = analyze(&model_from(
        CLOSED,
        &["services.front.workers=2", "workload.users=2"],
    ));
    let r2 = 5.0 + 3.0 * (1.0 + 3.0 / 108.0);
    assert!(
        (a.routes[0].mean_response_ms - r2).abs() < 1e-9,
        "{} vs {r2}",
        a.routes[0].mean_response_ms
    );
    assert!((a.throughput_per_s - 2000.0 / (100.0 + r2)).abs() < 1e-9);
    assert!(a.throughput_quality.is_exact(), "{}", a.throughput_quality);
    // Beyond the exact recursion's reach, Seidmann's approximation, named.
    let a = analyze(&model_from(
        CLOSED,
        &["services.front.workers=2", "workload.users=3000"],
    ));
    assert!(
        a.throughput_quality.to_string().contains("Seidmann"),
        "{}",
        a.throughput_quality
    );
}

#[test]
fn approximations_are_named_and_the_unanalysable_is_refused() {
    let root = env!("CARGO_MANIFEST_DIR");
    let model = meshsim::model::load_file(
        &std::path::Path::new(root).join("models/checkout.toml"),
        &[],
    )
    .unwrap();
    let a = analyze(&model);
    let api = a.stations.iter().find(|s| s.name == "api").unwrap();
    let text = api.quality.to_string();
    assert!(
        text.contains("blocking workers: held time as service time")
            && text.contains("Allen–Cunneen"),
        "{text}"
    );
    let checkout = a.routes.iter().find(|r| r.route == "api.checkout").unwrap();
    assert_eq!(
        checkout.quality.cannot.as_deref(),
        Some("message loss and retransmission")
    );
    assert!(
        checkout.mean_response_ms.is_nan(),
        "no number where there is no analysis"
    );
    let browse = a.routes.iter().find(|r| r.route == "api.browse").unwrap();
    assert!(browse.mean_response_ms.is_finite() && browse.quality.cannot.is_none());

    // A queue small enough to reject noticeably is not analysed as if it were infinite.
    let a = analyze(&model_from(
        &meshsim::model::BUILTIN_MODEL.replace("queue_capacity = 10000", "queue_capacity = 2"),
        &[],
    ));
    assert!(
        a.routes[0]
            .quality
            .cannot
            .as_deref()
            .unwrap()
            .contains("queue_capacity 2"),
        "{}",
        a.routes[0].quality
    );
    // A saturated station has no steady state.
    let a = analyze(&model_from(
        meshsim::model::BUILTIN_MODEL,
        &["workload.rate_per_s=1500"],
    ));
    assert!(a.routes[0].quality.to_string().contains("saturated"));
}

#[test]
fn parallel_calls_use_the_expected_maximum() {
    let text = r#"
[simulation]
duration_s = 10
[workload]
type = "open"
rate_per_s = 0.001
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
    let a = analyze(&model_from(text, &[]));
    assert!(
        (a.routes[0].mean_response_ms - 6.0).abs() < 1e-3,
        "{}",
        a.routes[0].mean_response_ms
    );
    assert!(a.routes[0].quality.to_string().contains("fork-join"));
}

const SOMETIMES: &str = r#"
[simulation]
duration_s = 60
[workload]
type = "open"
rate_per_s = 100
[[workload.mix]]
route = "front.get"
[gateway]
service_ms = 0
[services.front.endpoints.get]
service_ms = 1
calls = [[{ call = "cache.get", count = 2 }], [{ call = "db.query", probability = 0.25 }]]
[services.cache.endpoints.get]
service_ms = { dist = "exponential", mean_ms = 0.5 }
calls = [[{ call = "db.query", probability = 0.5, count = { min = 1, max = 3 } }]]
[services.db]
workers = 4
[services.db.endpoints.query]
service_ms = { dist = "exponential", mean_ms = 2 }
"#;

/// Visit ratios multiply by probability × mean count along every path: db is called 0.25 times
/// by front and 2 × 0.5 × 2 = 2 times through cache, per request.
#[test]
fn probable_and_repeated_calls_set_the_visit_ratios() {
    let model = model_from(SOMETIMES, &[]);
    let visits = meshsim::analysis::visits_per_request(&model);
    let by_name = |n: &str| visits[model.endpoints.iter().position(|e| e.name == n).unwrap()];
    assert_eq!(by_name("cache.get"), 2.0);
    assert!((by_name("db.query") - 2.25).abs() < 1e-12);
    let a = analyze(&model);
    let db = a.stations.iter().find(|s| s.name == "db").unwrap();
    assert!((db.utilisation - 100.0 * 2.25 * 0.002 / 4.0).abs() < 1e-12);
    // The simulation agrees with the offered load: db's arrivals per second within their CI.
    let runs = replicate(&model, 10);
    let arrivals = ci(&runs, |r| {
        r.services
            .iter()
            .find(|s| s.service == "db")
            .unwrap()
            .arrival_rate_per_s
    });
    assert_agrees("db arrivals per s", 225.0, arrivals, 0.02);
}

/// A call written as a table with neither probability nor count is the plain string: no random
/// number is drawn, so the run is the same, byte for byte.
#[test]
fn a_call_table_without_probability_or_count_is_the_plain_call() {
    let plain = SOMETIMES.replace(
        r#"[[{ call = "cache.get", count = 2 }], [{ call = "db.query", probability = 0.25 }]]"#,
        r#"[["cache.get"], ["db.query"]]"#,
    );
    let table = SOMETIMES.replace(
        r#"[[{ call = "cache.get", count = 2 }], [{ call = "db.query", probability = 0.25 }]]"#,
        r#"[[{ call = "cache.get" }], [{ call = "db.query", probability = 1, count = 1 }]]"#,
    );
    assert_ne!(plain, SOMETIMES);
    let mut a = meshsim::sim::simulate(&model_from(&plain, &[]));
    let mut b = meshsim::sim::simulate(&model_from(&table, &[]));
    a.wall_s = 0.0;
    b.wall_s = 0.0;
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}
