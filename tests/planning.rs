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
