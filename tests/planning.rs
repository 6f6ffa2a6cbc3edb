//! Capacity at an SLO, cost, right-sizing and comparison against what theory or a check run
//! says.

mod common;

use common::model_from;
use meshsim::planning::{Slo, capacity};

/// An M/M/1 service behind an instant gateway, with `extra` appended.
fn mm1(mean_ms: f64, extra: &str) -> String {
    format!(
        r#"
[simulation]
duration_s = 410
warmup_s = 10
seed = 1

[workload]
type = "open"
rate_per_s = 50

[[workload.mix]]
route = "api.call"

[gateway]
workers = 1000

[services.api]
workers = 1

[services.api.endpoints.call]
service_ms = {{ dist = "exponential", mean_ms = {mean_ms} }}
{extra}
"#
    )
}

#[test]
fn capacity_of_an_mm1_at_a_mean_response_slo_is_mu_minus_one_over_w() {
    // μ = 100/s, W = 50 ms: the mean response time 1/(μ − λ) reaches W at λ = μ − 1/W = 80/s.
    let m = model_from(&mm1(10.0, ""), &[]);
    let slos: Vec<Slo> = vec!["mean<=50ms".parse().unwrap()];
    let c = &capacity(&m, &slos, 10).unwrap()[0];
    println!(
        "capacity {:.2} req/s, interval [{:.2}, {:.2}], bottleneck {}",
        c.capacity_rps, c.ci95_low_rps, c.ci95_high_rps, c.bottleneck
    );
    assert!(c.ci95_low_rps <= 80.0 && 80.0 <= c.ci95_high_rps);
    assert!(c.ci95_high_rps - c.ci95_low_rps < 4.0, "a tight interval");
    assert!((c.capacity_rps - 80.0).abs() < 2.0);
    assert!(c.bottleneck.starts_with("api"));
}

#[test]
fn capacity_of_an_mm1_at_a_p99_slo_matches_the_exponential_sojourn_time() {
    // The M/M/1 sojourn time is Exp(μ − λ): p99 = ln(100) / (μ − λ) ≤ 100 ms ⇔ λ ≤ μ − 46.05.
    let m = model_from(&mm1(10.0, ""), &[]);
    let slos: Vec<Slo> = vec!["api.call:p99<=100ms".parse().unwrap()];
    let c = &capacity(&m, &slos, 10).unwrap()[0];
    let theory = 100.0 - 100f64.ln() / 0.1;
    println!(
        "capacity {:.2} [{:.2}, {:.2}], theory {theory:.2}",
        c.capacity_rps, c.ci95_low_rps, c.ci95_high_rps
    );
    assert!(c.ci95_low_rps <= theory && theory <= c.ci95_high_rps);
}

#[test]
fn capacity_refuses_closed_workloads_and_unknown_routes() {
    let closed = model_from(
        &mm1(10.0, "").replace(
            "type = \"open\"\nrate_per_s = 50",
            "type = \"closed\"\nusers = 5",
        ),
        &[],
    );
    let slos: Vec<Slo> = vec!["p99<=50ms".parse().unwrap()];
    assert!(
        capacity(&closed, &slos, 5)
            .unwrap_err()
            .contains("closed workload")
    );
    let m = model_from(&mm1(10.0, ""), &[]);
    let bad: Vec<Slo> = vec!["user.get:p99<=50ms".parse().unwrap()];
    assert!(
        capacity(&m, &bad, 5)
            .unwrap_err()
            .contains("routes: api.call")
    );
}

#[test]
fn rightsizing_meets_its_slo_in_a_check_run_and_no_instance_can_go() {
    use meshsim::planning::rightsize::{all_pass, configured, replicate};
    let m = model_from(
        meshsim::model::BUILTIN_MODEL,
        &["gateway.workers=4", "simulation.duration_s=40"],
    );
    let slos: Vec<Slo> = vec!["p99<=40ms".parse().unwrap()];
    let r = meshsim::planning::rightsize(&m, Some(1500.0), &slos, 5, None).unwrap();
    let n = r.instances();
    println!("{:?} after {} configurations", r.services, r.tried);
    // A check run with other seeds meets the SLO.
    let mut check = configured(&m, Some(1500.0), &n);
    check.seed = 987_654;
    let runs = replicate(&check, 5);
    let p99 = runs
        .iter()
        .map(|x| x.all.latency.quantile_ms(0.99))
        .sum::<f64>()
        / 5.0;
    assert!(p99 <= 40.0, "check run p99 {p99}");
    // One instance fewer anywhere no longer meets it (with the same seeds as the search).
    for i in 1..n.len() {
        if n[i] > 1 {
            let mut fewer = n.clone();
            fewer[i] -= 1;
            let runs = replicate(&configured(&m, Some(1500.0), &fewer), 5);
            assert!(
                !all_pass(&slos, &runs),
                "service {i} could lose an instance: {fewer:?}"
            );
        }
    }
    // 1,500 req/s split evenly: 750 calls/s of 3 ms each need more than 2 workers per service.
    assert!(n[1] >= 2 && n[2] >= 2, "{n:?}");
}

#[test]
fn compare_writes_the_table_the_load_curves_and_the_crossover() {
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let out = common::meshsim(
        &[
            "compare",
            &format!("{root}/models/monolith.toml"),
            &format!("{root}/models/microservices.toml"),
            "--slo",
            "p99<=100ms",
            "--rate",
            "300,800,1300,1800",
            "--reps",
            "3",
            "--set",
            "simulation.duration_s=12",
            "--out",
            "cmp",
        ],
        dir.path(),
    );
    let stdout = common::ok(&out);
    assert!(
        stdout.contains("| monolith |") && stdout.contains("| microservices |"),
        "{stdout}"
    );
    let table = std::fs::read_to_string(dir.path().join("cmp/compare.csv")).unwrap();
    assert!(table.starts_with("architecture,capacity_rps,ci95_low_rps,ci95_high_rps,bottleneck,reference_rps,rightsized_instances,cost_per_hour,cost_per_million_requests,p50_ms,p99_ms,network_share,crossover_rps"));
    let load = std::fs::read_to_string(dir.path().join("cmp/compare_load.csv")).unwrap();
    assert_eq!(load.lines().count(), 1 + 2 * 4);
    // The monolith is cheaper at 300 req/s, the microservices at 1,800 (see the models' prices).
    let cost = |arch: &str, rate: &str| -> f64 {
        load.lines()
            .find(|l| l.starts_with(&format!("{arch},{rate},")))
            .unwrap()
            .split(',')
            .nth(3)
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(cost("monolith", "300") < cost("microservices", "300"));
    assert!(cost("monolith", "1800") > cost("microservices", "1800"));
    assert!(stdout.contains("`microservices` is the cheaper way to meet the SLOs above"));
    for f in ["cost_vs_load.png", "p99_vs_load.svg", "report.html"] {
        assert!(dir.path().join("cmp").join(f).is_file(), "{f}");
    }
}
