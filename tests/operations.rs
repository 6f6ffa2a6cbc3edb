//! Operations: health checks, discovery delay, outlier ejection, hung processes, and releases
//! (canary, rolling, rollback). Each test derives what a user would count — failed requests
//! between a crash and its detection, errors a canary lets through — and holds the simulation
//! to it with a confidence interval over independent replications.

mod common;

use common::{assert_agrees, ci, model_from, replicate};
use meshsim::sim::{ErrorKind, RunResult, simulate};

/// The gateway calls `api` in-process (no network), round robin over 4 instances with ample
/// workers, at `rate` req/s; `extra` is appended.
fn four_instances(rate: f64, duration_s: f64, extra: &str) -> String {
    format!(
        r#"
[simulation]
duration_s = {duration_s}
warmup_s = 0
seed = 1

[workload]
type = "open"
rate_per_s = {rate}

[[workload.mix]]
route = "api.call"

[gateway]
workers = 1000

[services.api]
instances = 4
workers = 50
load_balancer = "round_robin"

[services.api.endpoints.call]
service_ms = {{ dist = "constant", value_ms = 1 }}
{extra}
"#
    )
}

fn errors(r: &RunResult, kind: ErrorKind) -> f64 {
    r.all.errors_by_kind[kind as usize] as f64
}

const CRASH: &str = r#"
[[faults]]
kind = "crash"
service = "api"
instance = 0
at_s = 5
duration_s = 14
"#;

/// Round robin sends every 4th call (λ/n = 100 per second) to the crashed instance until the
/// registry drops it. Checks every H = 1 s at a phase U·H (U uniform) after the crash: the
/// k-th failed check comes (k − 1 + U)·H after it, so the calls refused number
/// (λ/n)·(k − ½)·H on average over phases = 100 × 2.5 × 1 = 250 for k = 3, and lie between
/// (λ/n)(k − 1)H and (λ/n)kH for any one phase.
#[test]
fn calls_fail_until_health_checks_detect_a_crash() {
    let text = four_instances(
        400.0,
        20.0,
        &format!("[services.api.health_check]\ninterval_ms = 1000\nunhealthy_after = 3\n{CRASH}"),
    );
    let runs = replicate(&model_from(&text, &[]), 40);
    for r in &runs {
        let n = errors(r, ErrorKind::Crashed);
        assert!((150.0..=330.0).contains(&n), "{n} refused in one run");
        assert_eq!(r.all.errors as f64, n, "only refused calls fail");
    }
    assert_agrees(
        "calls refused before detection",
        250.0,
        ci(&runs, |r| errors(r, ErrorKind::Crashed)),
        0.1,
    );
}

/// With a discovery cache refreshed every R = 2 s, the gateway sees the removal at the next
/// refresh, on average R/2 later: (λ/n)·R/2 = 100 more refused calls, 350 in all.
#[test]
fn a_discovery_cache_adds_half_its_refresh_interval() {
    let text = four_instances(
        400.0,
        20.0,
        &format!(
            "[services.api.health_check]\ninterval_ms = 1000\nunhealthy_after = 3\n\
             [services.api.discovery]\nrefresh_ms = 2000\n{CRASH}"
        ),
    );
    let runs = replicate(&model_from(&text, &[]), 40);
    assert_agrees(
        "calls refused before the callers see it",
        350.0,
        ci(&runs, |r| errors(r, ErrorKind::Crashed)),
        0.1,
    );
}

/// Without health checks meshsim keeps its oracle: the balancer knows of the crash at once and
/// only the calls the instance held fail (1 ms of work at 100/s: a fraction of a call).
#[test]
fn without_health_checks_only_calls_in_flight_fail() {
    let text = four_instances(400.0, 20.0, CRASH);
    let runs = replicate(&model_from(&text, &[]), 10);
    let mean = ci(&runs, |r| errors(r, ErrorKind::Crashed)).mean;
    assert!(mean < 2.0, "{mean} calls failed on average");
}

/// A hung process keeps its port open: calls sent to it wait until the caller's 100 ms timeout.
/// The checker's probes time out too (after 500 ms), so removal comes U·H + (k − 1)·H + 0.5 s
/// after the hang: (λ/n)·((k − ½)·H + 0.5) = 100 × (1.5 + 0.5) = 200 timeouts for k = 2.
#[test]
fn a_hung_instance_times_calls_out_until_its_checks_time_out() {
    let text = four_instances(
        400.0,
        20.0,
        r#"
[gateway.client]
timeout_ms = 100

[services.api.health_check]
interval_ms = 1000
timeout_ms = 500
unhealthy_after = 2

[[faults]]
kind = "hang"
service = "api"
instance = 0
at_s = 5
duration_s = 14
"#,
    );
    let runs = replicate(&model_from(&text, &[]), 40);
    for r in &runs {
        assert_eq!(r.all.errors as f64, errors(r, ErrorKind::Timeout));
    }
    assert_agrees(
        "calls timed out at the hung instance",
        200.0,
        ci(&runs, |r| errors(r, ErrorKind::Timeout)),
        0.1,
    );
}

/// Outlier ejection without health checks: the k-th call to the hung instance times out
/// T = 500 ms after it was sent, and ejects it. Calls sent to it by then: the k up to that
/// call, plus those in the T after it — for round robin over Poisson arrivals the gaps are
/// Erlang-4 with mean 10 ms, whose renewal function over T is T/10 ms − (1 − ¼)/2. So
/// k + 50 − 0.375 = 54.6 timeouts for k = 5; the ejection (60 s) outlasts the hang.
#[test]
fn outlier_ejection_stops_calls_to_a_hung_instance() {
    let text = four_instances(
        400.0,
        20.0,
        r#"
[gateway.client]
timeout_ms = 500

[gateway.client.outlier_detection]
consecutive_errors = 5
ejection_ms = 60000

[[faults]]
kind = "hang"
service = "api"
instance = 0
at_s = 5
duration_s = 14
"#,
    );
    let runs = replicate(&model_from(&text, &[]), 40);
    assert_agrees(
        "calls timed out before the ejection",
        54.625,
        ci(&runs, |r| errors(r, ErrorKind::Timeout)),
        0.1,
    );
    assert!(runs.iter().all(|r| r.ejections == 1));
}

/// One service released during the run; `extra` completes the `[[deployments]]` entry.
fn released(duration_s: f64, deployment: &str) -> String {
    format!(
        r#"
[simulation]
duration_s = {duration_s}
warmup_s = 0
seed = 1

[workload]
type = "open"
rate_per_s = 200

[[workload.mix]]
route = "api.call"

[gateway]
workers = 1000

[services.api]
instances = 10
workers = 50

[services.api.endpoints.call]
service_ms = {{ dist = "exponential", mean_ms = 4 }}

[[deployments]]
service = "api"
{deployment}
"#
    )
}

/// A canary at share c = 0.1 of a version failing e = 0.2 of its calls, for T = 30 s at
/// λ = 200 req/s (the run ends as the canary would be promoted): λ·c·e·T = 120 failed
/// requests, and the canary serves λ·c·T = 600 calls.
#[test]
fn a_canary_fails_its_share_of_the_new_versions_errors() {
    let text = released(
        35.0,
        "at_s = 5\nstrategy = \"canary\"\ncanary_share = 0.1\ncanary_s = 30\nerror_probability = 0.2",
    );
    let runs = replicate(&model_from(&text, &[]), 30);
    assert_agrees(
        "requests failed by the canary",
        120.0,
        ci(&runs, |r| errors(r, ErrorKind::Failed)),
        0.1,
    );
    let served = |r: &RunResult| {
        r.versions
            .iter()
            .find(|v| v.version == 1)
            .map_or(0.0, |v| v.calls as f64)
    };
    assert_agrees("calls the canary served", 600.0, ci(&runs, served), 0.05);
}

/// A rolling update of the same bad version: without a rollback the route's error rate
/// settles at e = 0.2 once every instance runs it; with a rollback on a 10 s window it is
/// caught in the first window the new version serves in, and far fewer requests fail.
#[test]
fn a_rollback_stops_a_bad_rolling_update() {
    let base =
        "at_s = 10\nstrategy = \"rolling\"\nbatch = 2\nstartup_s = 5\nerror_probability = 0.2";
    let without = simulate(&model_from(&released(120.0, base), &[]));
    let new = without.versions.iter().find(|v| v.version == 1).unwrap();
    let rate = new.errors as f64 / new.calls as f64;
    // A binomial share over thousands of calls: ±0.02 is more than four standard errors.
    assert!((rate - 0.2).abs() < 0.02, "new version error rate {rate}");
    let done = without
        .deployments
        .iter()
        .find(|s| s.step == "done")
        .unwrap();
    assert!(
        done.time_s < 60.0,
        "the rollout finished at {} s",
        done.time_s
    );
    let with = simulate(&model_from(
        &released(
            120.0,
            &format!("{base}\n[deployments.rollback]\nwindow_s = 10\nmax_error_rate = 0.05"),
        ),
        &[],
    ));
    let steps: Vec<&str> = with.deployments.iter().map(|s| s.step).collect();
    assert!(steps.contains(&"rollback"), "{steps:?}");
    assert_eq!(steps.last(), Some(&"done"));
    assert!(
        with.all.errors * 10 < without.all.errors,
        "{} errors with a rollback, {} without",
        with.all.errors,
        without.all.errors
    );
    // Rolled back: the last calls are the old version's again, and none fails.
    let last = with.deployments.last().unwrap().time_s;
    assert!(last < 40.0, "rolled back by {last} s");
}

/// A slow version (service time × 2) rolled out to every instance: with ample workers nothing
/// queues, so each version's latency at the service is its own service time, 4 ms and 8 ms.
#[test]
fn each_versions_latency_is_its_own_service_time() {
    let text = released(
        120.0,
        "at_s = 20\nstrategy = \"rolling\"\nbatch = 5\nslowdown = 2",
    );
    let runs = replicate(&model_from(&text, &[]), 10);
    let mean = |v: u8| {
        move |r: &RunResult| {
            r.versions
                .iter()
                .find(|x| x.version == v)
                .map_or(f64::NAN, |x| x.latency.mean_ms())
        }
    };
    assert_agrees("old version's latency (ms)", 4.0, ci(&runs, mean(0)), 0.02);
    assert_agrees("new version's latency (ms)", 8.0, ci(&runs, mean(1)), 0.02);
}

/// Blue-green: the new set gets no call until all of it serves, then every call; a rollback
/// switches back at once (the old set stood by). So the requests that fail are λ·e times the
/// time between the switch and the rollback, and none after.
#[test]
fn blue_green_fails_only_between_the_switch_and_the_rollback() {
    let text = released(
        60.0,
        "at_s = 5\nstrategy = \"blue_green\"\nstartup_s = 2\nerror_probability = 0.2\n\
         [deployments.rollback]\nwindow_s = 4\nmax_error_rate = 0.05",
    );
    let runs = replicate(&model_from(&text, &[]), 30);
    let ratio = |r: &RunResult| {
        let at = |step: &str| {
            r.deployments
                .iter()
                .find(|s| s.step == step)
                .unwrap()
                .time_s
        };
        let exposed = at("rollback") - at("switch");
        assert!(exposed > 0.0 && exposed <= 4.0, "exposed for {exposed} s");
        errors(r, ErrorKind::Failed) / (200.0 * 0.2 * exposed)
    };
    assert_agrees(
        "failed requests / (λ·e·exposure)",
        1.0,
        ci(&runs, ratio),
        0.1,
    );
}
