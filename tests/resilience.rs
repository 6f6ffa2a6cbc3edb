//! Resilience mechanisms, faults and time-varying load: each shows its effect with numbers,
//! against the expected value (with confidence intervals where the outcome is random).

mod common;

use common::{assert_agrees, ci, model_from, replicate};
use meshsim::engine::SimTime;
use meshsim::model;
use meshsim::sim::{ErrorKind, Options, RunResult, simulate, simulate_with};

/// A gateway forwarding to one service `api` (endpoint `call`), in-process (no links), with
/// extra TOML appended.
fn api_model(rate: f64, service_ms: &str, workers: u32, extra: &str) -> String {
    format!(
        r#"
[simulation]
duration_s = 205
warmup_s = 5
seed = 1

[workload]
type = "open"
rate_per_s = {rate}

[[workload.mix]]
route = "api.call"

[gateway]
workers = 1000

[services.api]
workers = {workers}

[services.api.endpoints.call]
service_ms = {service_ms}
{extra}
"#
    )
}

fn errors(r: &RunResult, kind: ErrorKind) -> u64 {
    r.all.errors_by_kind[kind as usize]
}

#[test]
fn a_timeout_caps_latency_and_fails_the_share_theory_predicts() {
    // M/M/1 with λ = 50/s, μ = 100/s: sojourn time ~ Exp(μ − λ = 50/s). The callee keeps
    // working on timed-out calls, so the queue is untouched and P(timeout) = e^{-50 × 0.02}.
    let text = api_model(
        50.0,
        r#"{ dist = "exponential", mean_ms = 10 }"#,
        1,
        "[gateway.client]\ntimeout_ms = 20\n",
    );
    let m = model_from(&text, &[]);
    let runs = replicate(&m, 10);
    for r in &runs {
        assert!(
            r.all.latency.max_ms() <= 20.0 + 1e-6,
            "a successful request took {} ms, beyond the 20 ms timeout",
            r.all.latency.max_ms()
        );
        assert_eq!(r.all.errors, errors(r, ErrorKind::Timeout));
    }
    // Every error is a timeout of the gateway's call. (Timeouts count when they happen, errors
    // by when their request arrived: compared over the whole run so no window edge splits them.)
    let whole = simulate(&model_from(&text, &["simulation.warmup_s=0"]));
    assert_eq!(whole.edges[0].stats.timeouts, whole.all.errors);
    assert_eq!(whole.edges[0].stats.failed_calls, whole.all.errors);
    let share = ci(&runs, |r| r.all.error_rate());
    assert_agrees("P(timeout)", (-1.0f64).exp(), share, 0.02);
    // The abandoned calls were still served: their work is counted as wasted.
    assert!(runs[0].edges[0].stats.wasted_attempts > 0);
}

#[test]
fn a_client_deadline_caps_latency_at_the_deadline() {
    let text = api_model(50.0, r#"{ dist = "exponential", mean_ms = 10 }"#, 1, "")
        .replace("rate_per_s = 50", "rate_per_s = 50\ndeadline_ms = 20");
    let runs = replicate(&model_from(&text, &[]), 10);
    for r in &runs {
        assert!(r.all.latency.max_ms() <= 20.0 + 1e-6);
    }
    assert_agrees(
        "P(deadline passed)",
        (-1.0f64).exp(),
        ci(&runs, |r| r.all.error_rate()),
        0.02,
    );
}

#[test]
fn retries_multiply_the_callee_load_by_the_expected_number_of_attempts() {
    // Each attempt fails independently with p = 0.3; up to 3 attempts, no back-off delay.
    // Expected attempts per call: 1 + p + p² = 1.39; calls failing after all: p³ = 0.027.
    let text = api_model(
        100.0,
        "1",
        100,
        "error_probability = 0.3\n[gateway.client]\nretry = { max_attempts = 3, base_ms = 0, jitter = \"none\" }\n",
    );
    let runs = replicate(&model_from(&text, &[]), 10);
    let p: f64 = 0.3;
    assert_agrees(
        "attempts per call",
        1.0 + p + p * p,
        ci(&runs, |r| {
            r.edges[0].stats.attempts as f64 / r.edges[0].stats.calls as f64
        }),
        0.01,
    );
    assert_agrees(
        "callee arrival rate (calls/s)",
        100.0 * (1.0 + p + p * p),
        ci(&runs, |r| r.services[1].arrival_rate_per_s),
        0.02,
    );
    assert_agrees(
        "requests failing after 3 attempts",
        p.powi(3),
        ci(&runs, |r| r.all.error_rate()),
        0.1,
    );
    for r in &runs {
        assert_eq!(r.all.errors, errors(r, ErrorKind::Failed));
    }
}

#[test]
fn a_retry_budget_caps_retries_at_its_share_of_calls() {
    // Every attempt fails; without a budget each call would make 4 attempts. With 10% of calls
    // (and no minimum), retries are at most 10% of first attempts over each second.
    let text = api_model(
        1000.0,
        "1",
        100,
        "error_probability = 1.0\n[gateway.client]\nretry = { max_attempts = 4, base_ms = 0, jitter = \"none\", budget_percent = 10, min_retries_per_s = 0 }\n",
    );
    let r = simulate(&model_from(&text, &[]));
    let s = &r.edges[0].stats;
    let ratio = s.retries as f64 / s.calls as f64;
    println!("retries per call under a 10% budget: {ratio:.4}");
    assert!(ratio <= 0.1 + 1e-3 && ratio > 0.09, "{ratio}");
    assert!(s.budget_exhausted > 0);
}

#[test]
fn an_open_breaker_fails_fast_and_recovers_through_half_open() {
    // The api instance crashes from t = 20 s to 30 s. After 5 failures the breaker opens for
    // 1 s; each half-open probe during the crash fails and reopens it; the first probe after
    // the restart closes it.
    let text = api_model(
        200.0,
        "1",
        10,
        "[gateway.client]\ncircuit_breaker = { consecutive_failures = 5, open_ms = 1000, probe_calls = 1 }\n\n[[faults]]\nkind = \"crash\"\nservice = \"api\"\nat_s = 20\nduration_s = 10\n",
    );
    let m = model_from(
        &text,
        &["simulation.duration_s=40", "simulation.warmup_s=0"],
    );
    let r = simulate_with(
        &m,
        &Options {
            timeseries: Some(SimTime::from_secs_f64(1.0)),
            ..Options::default()
        },
    );
    let crashed = errors(&r, ErrorKind::Crashed);
    let open = errors(&r, ErrorKind::CircuitOpen);
    println!(
        "crashed {crashed}, failed fast {open}, breaker opened {}",
        r.edges[0].breaker_opened
    );
    // 5 failures to open, then one failed probe per second of the 10 s crash.
    assert!((5..=5 + 11).contains(&crashed), "{crashed}");
    assert!(open > 1500, "most calls during the crash fail fast: {open}");
    assert!((9..=12).contains(&r.edges[0].breaker_opened));
    let ts = r.timeseries.unwrap();
    for row in &ts.rows {
        let open_share = row.breaker_open[0];
        if row.start_s >= 21.0 && row.end_s <= 30.0 {
            assert!(open_share > 0.99, "open during the crash: {row:?}");
        }
        if row.start_s >= 32.0 {
            assert_eq!(open_share, 0.0, "closed after a successful probe: {row:?}");
            assert_eq!(row.errors, 0);
        }
    }
}

#[test]
fn a_token_bucket_admits_rate_times_time_plus_burst() {
    let text = api_model(2000.0, "0", 10, "").replace(
        "[gateway]\n",
        "[gateway]\nrate_limit = { rate_per_s = 100, burst = 50 }\n",
    );
    let m = model_from(
        &text,
        &["simulation.duration_s=10", "simulation.warmup_s=0"],
    );
    let r = simulate(&m);
    let admitted = r.all.completed;
    println!("admitted {admitted} of {} in 10 s", r.all.requests);
    // Tokens: 50 at the start, 100 per second; the last arrival is within a few ms of 10 s.
    assert!((1048..=1050).contains(&admitted), "{admitted}");
    assert_eq!(
        errors(&r, ErrorKind::RateLimited),
        r.all.requests - admitted
    );
    assert_eq!(r.services[0].shed, r.all.requests - admitted);
}

#[test]
fn a_bulkhead_bounds_concurrent_calls_to_the_callee() {
    // 8 workers but a bulkhead of 2: the callee never holds more than 2 calls.
    let text = api_model(
        300.0,
        r#"{ dist = "exponential", mean_ms = 5 }"#,
        8,
        "[gateway.client]\nbulkhead = 2\n",
    );
    let r = simulate(&model_from(&text, &[]));
    assert!(r.services[1].utilisation <= 2.0 / 8.0 + 1e-9);
    assert!(errors(&r, ErrorKind::Bulkhead) > 0);
    // Erlang's loss formula: 2 servers, offered load 1.5 Erlang → B(2, 1.5) = 0.3103.
    let a: f64 = 1.5;
    let b = (a * a / 2.0) / (1.0 + a + a * a / 2.0);
    let runs = replicate(&model_from(&text, &[]), 10);
    assert_agrees(
        "Erlang B blocking",
        b,
        ci(&runs, |r| r.all.error_rate()),
        0.02,
    );
}

#[test]
fn hedging_cuts_the_tail_for_a_few_percent_more_attempts() {
    let root = env!("CARGO_MANIFEST_DIR");
    let path = std::path::Path::new(root).join("models/hedging.toml");
    let hedged = simulate(&model::load_file(&path, &[]).unwrap());
    let plain = simulate(
        &model::load_file(
            &path,
            &["gateway.client.hedge_after_ms=100000".parse().unwrap()],
        )
        .unwrap(),
    );
    let (p99_h, p99_p) = (
        hedged.all.latency.quantile_ms(0.99),
        plain.all.latency.quantile_ms(0.99),
    );
    let extra = hedged.edges[0].stats.hedges as f64 / hedged.edges[0].stats.calls as f64;
    println!(
        "p99 {p99_p:.1} ms → {p99_h:.1} ms with {:.1}% hedged calls",
        100.0 * extra
    );
    assert!(p99_h < 0.4 * p99_p);
    assert!(extra > 0.01 && extra < 0.06, "{extra}");
}

#[test]
fn cold_start_delays_capacity_by_exactly_its_delay() {
    let root = env!("CARGO_MANIFEST_DIR");
    let path = std::path::Path::new(root).join("models/autoscale.toml");
    let opts = Options {
        timeseries: Some(SimTime::from_secs_f64(1.0)),
        ..Options::default()
    };
    let run = |cold: &str| {
        let set: model::Override = format!("services.order.autoscale.cold_start_s={cold}")
            .parse()
            .unwrap();
        simulate_with(&model::load_file(&path, &[set]).unwrap(), &opts)
    };
    let (cold, warm) = (run("30"), run("0"));
    // The same history up to the first decision, so the same decision at the same time.
    let (c, w) = (&cold.scaling[0], &warm.scaling[0]);
    assert_eq!((c.time_s, c.from, c.to), (w.time_s, w.from, w.to));
    assert_eq!(c.ready_at_s, c.time_s + 30.0);
    assert_eq!(w.ready_at_s, w.time_s);
    let ready = |r: &RunResult, t: f64| {
        r.timeseries
            .as_ref()
            .unwrap()
            .rows
            .iter()
            .find(|row| row.start_s == t)
            .unwrap()
            .instances[1]
    };
    // Ready instances over [t, t + 1 s): the new ones count from their ready time on.
    assert_eq!(ready(&warm, w.time_s - 1.0), f64::from(w.from));
    assert_eq!(ready(&warm, w.time_s), f64::from(w.to));
    assert_eq!(ready(&cold, c.ready_at_s - 1.0), f64::from(c.from));
    assert_eq!(
        ready(&cold, c.ready_at_s),
        f64::from(c.to.min(ready(&cold, c.ready_at_s) as u32))
    );
    assert!(ready(&cold, c.ready_at_s) >= f64::from(c.to));
    // The cold start costs requests: the warm run rejects fewer.
    assert!(
        warm.all.errors < cold.all.errors / 2,
        "{} vs {}",
        warm.all.errors,
        cold.all.errors
    );
}

#[test]
fn a_retry_storm_outlasts_its_trigger_unless_a_budget_caps_retries() {
    let root = env!("CARGO_MANIFEST_DIR");
    let path = std::path::Path::new(root).join("models/retry-storm.toml");
    let opts = Options {
        timeseries: Some(SimTime::from_secs_f64(5.0)),
        ..Options::default()
    };
    let late_error_rate = |sets: &[&str]| {
        let overrides: Vec<model::Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
        let r = simulate_with(&model::load_file(&path, &overrides).unwrap(), &opts);
        let rows: Vec<_> = r
            .timeseries
            .unwrap()
            .rows
            .into_iter()
            .filter(|i| i.start_s >= 60.0)
            .collect();
        let errors: u64 = rows.iter().map(|i| i.errors).sum();
        let done: u64 = rows.iter().map(|i| i.errors + i.completed).sum();
        errors as f64 / done as f64
    };
    let storm = late_error_rate(&[]);
    let rescued = late_error_rate(&["gateway.client.retry.budget_percent=10"]);
    println!(
        "error rate 30 s after the slowdown ended: {storm:.3} without a budget, {rescued:.4} with"
    );
    assert!(storm > 0.9, "metastable: {storm}");
    assert!(rescued < 0.01, "recovered: {rescued}");
}

#[test]
fn a_circuit_breaker_keeps_unaffected_endpoints_fast() {
    let root = env!("CARGO_MANIFEST_DIR");
    let path = std::path::Path::new(root).join("models/circuit-breaker.toml");
    let p99_list = |sets: &[&str]| {
        let overrides: Vec<model::Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
        let r = simulate(&model::load_file(&path, &overrides).unwrap());
        r.routes[0].latency.quantile_ms(0.99)
    };
    let with = p99_list(&[]);
    let without = p99_list(&["services.order.client.circuit_breaker.consecutive_failures=1000000"]);
    println!("list_orders p99: {with:.1} ms with the breaker, {without:.1} ms without");
    assert!(with < 100.0 && without > 1000.0);
}

#[test]
fn a_crash_fails_queued_and_running_calls_and_the_instance_restarts() {
    // Two instances; instance 0 crashes from 10 s to 20 s. Its calls fail with `crashed`; the
    // balancer sends everything to instance 1 meanwhile; afterwards both serve again.
    let text = api_model(
        100.0,
        r#"{ dist = "exponential", mean_ms = 8 }"#,
        1,
        "[[faults]]\nkind = \"crash\"\nservice = \"api\"\ninstance = 0\nat_s = 10\nduration_s = 10\n",
    )
    .replace("[services.api]\n", "[services.api]\ninstances = 2\n");
    let m = model_from(
        &text,
        &["simulation.duration_s=30", "simulation.warmup_s=0"],
    );
    let r = simulate(&m);
    let crashed = errors(&r, ErrorKind::Crashed);
    assert!(
        (1..20).contains(&crashed),
        "only what instance 0 held: {crashed}"
    );
    assert_eq!(r.all.errors, crashed);
    assert!((r.services[1].mean_instances - (2.0 * 20.0 + 10.0) / 30.0).abs() < 1e-9);
}

#[test]
fn a_degraded_link_adds_its_latency_both_ways() {
    let text = api_model(
        50.0,
        "1",
        4,
        "[links.g_api]\nbetween = [\"gateway\", \"api\"]\nlatency_ms = 1\n\n[[faults]]\nkind = \"link_degradation\"\nlink = \"g_api\"\nat_s = 0\nduration_s = 1000\nextra_latency_ms = 10\n",
    );
    let r = simulate(&model_from(&text, &[]));
    // 1 ms of work + 2 × (1 + 10) ms of propagation, no queueing (4 workers, 5% load).
    let mean = r.all.latency.mean_ms();
    assert!((mean - 23.0).abs() < 0.05, "{mean}");
}

#[test]
fn propagated_deadlines_stop_work_nobody_waits_for() {
    // An overloaded api (ρ = 1.5) with a 50 ms client deadline: without propagation it works
    // through a queue of calls whose clients left long ago; with it, expired calls are dropped.
    let base = api_model(150.0, r#"{ dist = "exponential", mean_ms = 10 }"#, 1, "")
        .replace("rate_per_s = 150", "rate_per_s = 150\ndeadline_ms = 50")
        .replace("[services.api]\n", "[services.api]\nqueue_capacity = 100\n");
    let without = simulate(&model_from(&base, &["simulation.duration_s=60"]));
    let with = simulate(&model_from(
        &base.replace(
            "deadline_ms = 50",
            "deadline_ms = 50\npropagate_deadline = true",
        ),
        &["simulation.duration_s=60"],
    ));
    println!(
        "goodput {:.1}/s without propagation, {:.1}/s with; {} calls dropped expired",
        without.all.throughput_rps(),
        with.all.throughput_rps(),
        with.services[1].expired
    );
    assert_eq!(without.services[1].expired, 0);
    assert!(with.services[1].expired > 1000);
    assert!(with.all.throughput_rps() > 2.0 * without.all.throughput_rps());
}

#[test]
fn a_step_in_the_arrival_rate_changes_the_arrival_count_accordingly() {
    // 100/s for 50 s, then 300/s for 150 s (the measured window is 5 s … 205 s).
    let text = api_model(100.0, "0", 10, "").replace(
        "rate_per_s = 100",
        "rate_per_s = 100\npattern = { shape = \"step\", at_s = 55, rate_per_s = 300 }",
    );
    let runs = replicate(&model_from(&text, &[]), 200);
    let expected = 100.0 * 50.0 + 300.0 * 150.0;
    assert_agrees(
        "arrivals",
        expected,
        ci(&runs, |r| r.all.requests as f64),
        0.01,
    );
}

#[test]
fn a_sine_pattern_averages_to_its_base_rate_over_whole_periods() {
    let text = api_model(100.0, "0", 10, "").replace(
        "rate_per_s = 100",
        "rate_per_s = 100\npattern = { shape = \"sine\", period_s = 50, amplitude_per_s = 80 }",
    );
    let runs = replicate(
        &model_from(
            &text,
            &["simulation.warmup_s=0", "simulation.duration_s=200"],
        ),
        10,
    );
    assert_agrees(
        "arrivals over 4 periods",
        100.0 * 200.0,
        ci(&runs, |r| r.all.requests as f64),
        0.01,
    );
}

/// Loads `text`, expecting an error; returns its rendering.
fn rejected(text: &str) -> String {
    match model::load_str(text, "bad.toml", std::path::Path::new("."), &[]) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn mistakes_in_resilience_settings_are_located_and_explained() {
    let base = api_model(10.0, "1", 1, "");
    let cases = [
        (
            "[[faults]]\nkind = \"crsh\"\nservice = \"api\"\nat_s = 1\nduration_s = 1\n",
            &["bad.toml:", "unknown value `crsh`", "did you mean `crash`"][..],
        ),
        (
            "[[faults]]\nkind = \"crash\"\nservice = \"apj\"\nat_s = 1\nduration_s = 1\n",
            &["unknown service `apj`", "did you mean `api`"],
        ),
        (
            "[[faults]]\nkind = \"partition\"\nservice = \"api\"\nat_s = 1\nduration_s = 1\n",
            &[
                "`service` does not apply to a partition fault",
                "takes: link",
            ],
        ),
        (
            "[gateway.client]\nhedge_after_ms = 5\n",
            &["hedging needs a second attempt", "max_attempts = 2"],
        ),
        (
            "[gateway.client.to.user]\ntimeout_ms = 5\n",
            &["`gateway` never calls `user`", "calls: api"],
        ),
        (
            "[gateway.client]\nretry = { max_attempts = 3, jitter = \"fulll\" }\n",
            &["unknown value `fulll`", "did you mean `full`"],
        ),
        (
            "[gateway.client]\ncircuit_breaker = { open_ms = 100 }\n",
            &["needs a condition to open", "consecutive_failures"],
        ),
    ];
    for (extra, expected) in cases {
        let message = rejected(&format!("{base}\n{extra}"));
        for e in expected {
            assert!(message.contains(e), "expected `{e}` in:\n{message}");
        }
        // Located at a line of the file.
        assert!(message.contains("bad.toml:"), "{message}");
    }
    let message = rejected(&base.replace(
        "[services.api]\n",
        "[services.api]\nautoscale = { metric = \"cpu\", target = 0.5, interval_s = 5, min = 1, max = 2 }\n",
    ));
    assert!(
        message.contains("one of: utilisation, queue_length"),
        "{message}"
    );
}

#[test]
fn the_same_seed_gives_identical_results_with_every_mechanism_on() {
    let root = env!("CARGO_MANIFEST_DIR");
    for name in [
        "retry-storm",
        "circuit-breaker",
        "autoscale",
        "hedging",
        "partition",
    ] {
        let path = std::path::Path::new(root).join(format!("models/{name}.toml"));
        let m = model::load_file(&path, &["simulation.duration_s=30".parse().unwrap()]).unwrap();
        let (a, b) = (simulate(&m), simulate(&m));
        assert_eq!(a.events, b.events, "{name}");
        assert_eq!(a.all.latency.mean_ms(), b.all.latency.mean_ms(), "{name}");
        assert_eq!(a.all.errors_by_kind, b.all.errors_by_kind, "{name}");
    }
}

/// Runs `path` with a breakdown, with `sets` applied.
fn with_breakdown(path: &str, sets: &[&str]) -> RunResult {
    let root = env!("CARGO_MANIFEST_DIR");
    let overrides: Vec<model::Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    let m = model::load_file(&std::path::Path::new(root).join(path), &overrides).unwrap();
    simulate_with(
        &m,
        &Options {
            breakdown: true,
            ..Options::default()
        },
    )
}

#[test]
fn breakdown_components_add_up_to_the_latency() {
    // Parallel calls, lossy links with retransmission, blocking workers (checkout); timeouts
    // and retries (partition); retries with back-off and queueing (the seed under load).
    for (path, sets) in [
        ("models/checkout.toml", &[][..]),
        ("models/partition.toml", &[][..]),
        ("models/seed.toml", &["workload.rate_per_s=900"][..]),
    ] {
        let r = with_breakdown(path, sets);
        for (b, route) in r.breakdown.iter().zip(r.routes.iter().chain([&r.all])) {
            assert_eq!(b.route, route.route);
            assert_eq!(b.requests, route.completed, "{path} {}", b.route);
            let sum: f64 = b.parts.iter().map(|p| p.2).sum();
            let mean = route.latency.mean_ms();
            assert!(
                (sum - mean).abs() < 1e-6 * mean.max(1.0),
                "{path} {}: components {sum} ms, latency {mean} ms",
                b.route
            );
            // The p99 requests' components add up to their mean latency, which lies between
            // p99 and the maximum.
            let tail: f64 = b.parts.iter().map(|p| p.3).filter(|x| x.is_finite()).sum();
            let (p99, max) = (route.latency.quantile_ms(0.99), route.latency.max_ms());
            assert!(b.tail_requests > 0);
            assert!(
                tail >= p99 * 0.999 && tail <= max * 1.001,
                "{path} {}: {tail} not in [{p99}, {max}]",
                b.route
            );
        }
    }
}

#[test]
fn breakdown_names_the_hop_and_component_where_time_goes() {
    let r = with_breakdown("models/seed.toml", &[]);
    let user = &r.breakdown[0];
    let part = |hop: &str, c: &str| {
        user.parts
            .iter()
            .find(|p| &*p.0 == hop && p.1.as_str() == c)
            .map_or(0.0, |p| p.2)
    };
    // 0.5 ms each way on the gateway–user link, exactly.
    let propagation = part("gateway_user (gateway→user)", "propagation")
        + part("gateway_user (user→gateway)", "propagation");
    assert!((propagation - 1.0).abs() < 1e-9, "{propagation}");
    // 512 B and 2048 B at 1 Gbit/s: 4.096 µs + 16.384 µs of serialisation (plus rare queueing).
    let tx = part("gateway_user (gateway→user)", "transmission")
        + part("gateway_user (user→gateway)", "transmission");
    assert!((0.02048..0.0206).contains(&tx), "{tx}");
    // The user service's mean processing time is 3 ms; its queueing the M/M/2 wait (0.2 ms).
    assert!((part("user", "service") - 3.0).abs() < 0.1);
    assert!((0.1..0.35).contains(&part("user", "queueing")));
    assert_eq!(
        part("order", "service"),
        0.0,
        "the user route never visits order"
    );
}
