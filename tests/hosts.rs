//! Hosts and CPU sharing: the CPU work of calls on one host shares its cores by processor
//! sharing. Checked against closed forms: two classes on one core (mean response E[S]/(1 − ρ)
//! per class), insensitivity (deterministic work has the same mean as exponential), several
//! cores (the number computing is M/M/c's); and against the model file's rules.

mod common;
use common::*;

/// Two services on a host of `cores`, each with ample workers and CPU-only work.
fn two_services(cores: u32, rate: f64, a_weight: f64, a_cpu: &str, b_cpu: &str) -> String {
    format!(
        r#"
[simulation]
duration_s = 120
warmup_s = 10
[workload]
type = "open"
rate_per_s = {rate}
[[workload.mix]]
route = "a.work"
weight = {a_weight}
[[workload.mix]]
route = "b.work"
weight = {}
[gateway]
workers = 100000
[hosts.node]
cores = {cores}
[services.a]
host = "node"
workers = 100000
[services.a.endpoints.work]
service_ms = 0
cpu_ms = {a_cpu}
[services.b]
host = "node"
workers = 100000
[services.b.endpoints.work]
service_ms = 0
cpu_ms = {b_cpu}
"#,
        1.0 - a_weight
    )
}

fn mean_ms(runs: &[meshsim::sim::RunResult], route: usize) -> MeanCi {
    ci(runs, |r| r.routes[route].latency.mean_ms())
}
use meshsim::stats::MeanCi;

/// The issue's case: one core, A at 300 req/s × 1 ms and B at 250 req/s × 2 ms (ρ = 0.8).
/// Under processor sharing each class's mean response is its mean work over 1 − ρ: 5 ms and
/// 10 ms (first-come first-served would give both the same wait).
#[test]
fn two_services_on_one_core_share_it_by_processor_sharing() {
    let text = two_services(
        1,
        550.0,
        300.0 / 550.0,
        "{ dist = \"exponential\", mean_ms = 1 }",
        "{ dist = \"exponential\", mean_ms = 2 }",
    );
    let runs = replicate(&model_from(&text, &[]), 10);
    assert_agrees("A mean response ms", 5.0, mean_ms(&runs, 0), 0.05);
    assert_agrees("B mean response ms", 10.0, mean_ms(&runs, 1), 0.05);
    assert_agrees(
        "host utilisation",
        0.8,
        ci(&runs, |r| r.hosts[0].cpu_utilisation),
        0.01,
    );
    // The mean number computing: ρ / (1 − ρ) = 4.
    assert_agrees(
        "mean computing",
        4.0,
        ci(&runs, |r| r.hosts[0].mean_computing),
        0.05,
    );
}

/// M/G/1-PS is insensitive: constant work of 1 ms at ρ = 0.8 has the mean response of
/// exponential work, 1 / (1 − 0.8) = 5 ms (first-come first-served would give M/D/1's 3 ms).
#[test]
fn processor_sharing_is_insensitive_to_the_work_distribution() {
    let constant = "{ dist = \"constant\", value_ms = 1 }";
    let text = two_services(1, 800.0, 0.5, constant, constant);
    let runs = replicate(&model_from(&text, &[]), 10);
    assert_agrees(
        "mean response ms",
        5.0,
        ci(&runs, |r| r.all.latency.mean_ms()),
        0.05,
    );
}

/// With c cores each call gets min(1, c / n) of one: the number computing is M/M/c's, so the
/// mean response is Erlang C's (2 cores at ρ = 0.8).
#[test]
fn several_cores_give_the_multi_server_mean() {
    let exp = "{ dist = \"exponential\", mean_ms = 1 }";
    let text = two_services(2, 1600.0, 0.5, exp, exp);
    let runs = replicate(&model_from(&text, &[]), 10);
    let theory = mmc_response_time(1600.0, 1000.0, 2) * 1e3;
    assert_agrees(
        "mean response ms",
        theory,
        ci(&runs, |r| r.all.latency.mean_ms()),
        0.05,
    );
}

/// A background load of b cores is b threads always runnable: alone with one call on a
/// 1-core host it halves the call's speed (b = 1 is refused; b = 0.5 gives 1 / 1.5). At a low
/// rate (calls seldom overlap) the response is the work times (1 + b).
#[test]
fn a_background_load_slows_the_calls_on_its_host() {
    let exp = "{ dist = \"constant\", value_ms = 1 }";
    let text = two_services(1, 2.0, 0.5, exp, exp);
    let runs = replicate(&model_from(&text, &["hosts.node.background_cores=0.5"]), 3);
    let mean = ci(&runs, |r| r.all.latency.mean_ms());
    assert!((mean.mean - 1.5).abs() < 0.02, "{mean:?}");
    // Background and calls together: 0.5 of the core, plus 2/s × 1.5 ms.
    let u = ci(&runs, |r| r.hosts[0].cpu_utilisation);
    assert!((u.mean - 0.503).abs() < 0.002, "{u:?}");
}

/// Under load: with b background threads on one core, n calls computing get n / (n + b) of
/// it, so the number computing is a birth–death chain with π(n) ∝ ρⁿ ∏ₖ (k + b) / k — a
/// negative binomial of order 1 + b — whose mean is (1 + b)ρ / (1 − ρ): by Little's law the
/// mean response is (1 + b)·E[S] / (1 − ρ). Exponential 1 ms at 400/s (ρ = 0.4) beside
/// b = 0.5: 2.5 ms (1.667 without). The core is busy whenever a call computes, and b of it
/// otherwise: 1 − (1 − ρ)^(1+b)·(1 − b) = 0.7676.
///
/// Over time: b = 0 for the first 1000 s, 0.5 from then on (`background = [{ at_s, cores }]`):
/// the run's mean is the two phases' average, 2.083 ms, and hosts.csv reports the mean load,
/// 0.25 cores.
#[test]
fn a_background_load_that_changes_over_time_slows_the_calls_from_then_on() {
    let exp = "{ dist = \"exponential\", mean_ms = 1 }";
    let text = two_services(1, 400.0, 0.5, exp, exp);
    let steady = replicate(
        &model_from(
            &text,
            &[
                "hosts.node.background_cores=0.5",
                "simulation.duration_s=400",
            ],
        ),
        8,
    );
    assert_agrees(
        "mean response beside 0.5 background cores, ρ = 0.4 (ms)",
        2.5,
        ci(&steady, |r| r.all.latency.mean_ms()),
        0.03,
    );
    assert_agrees(
        "host utilisation beside 0.5 background cores",
        1.0 - 0.6f64.powf(1.5) * 0.5,
        ci(&steady, |r| r.hosts[0].cpu_utilisation),
        0.01,
    );
    let changing = replicate(
        &model_from(
            &text,
            &[
                "hosts.node.background=[{ at_s = 1000, cores = 0.5 }]",
                "simulation.duration_s=2000",
                "simulation.warmup_s=0",
            ],
        ),
        8,
    );
    assert_agrees(
        "mean response, background 0 then 0.5 (ms)",
        (1.0 / 0.6 + 2.5) / 2.0,
        ci(&changing, |r| r.all.latency.mean_ms()),
        0.03,
    );
    for r in &changing {
        assert!(
            (r.hosts[0].background_cores - 0.25).abs() < 1e-9,
            "{}",
            r.hosts[0].background_cores
        );
    }
}

/// `host = [list]` spreads a service's instances over the hosts in turn. Four instances with
/// a random balancer over two 1-core hosts: each host takes half the work, an M/M/1-PS at
/// ρ = 0.8 (5 ms); on one 2-core host the same work is M/M/2 (2.778 ms).
#[test]
fn instances_spread_over_a_list_of_hosts_share_each_hosts_cores() {
    let text = |placement: &str, hosts: &str| {
        format!(
            r#"
[simulation]
duration_s = 200
warmup_s = 10
[workload]
type = "open"
rate_per_s = 1600
[[workload.mix]]
route = "a.work"
[gateway]
workers = 100000
{hosts}
[services.a]
host = {placement}
instances = 4
load_balancer = "random"
workers = 100000
[services.a.endpoints.work]
service_ms = 0
cpu_ms = {{ dist = "exponential", mean_ms = 1 }}
"#
        )
    };
    let spread = replicate(
        &model_from(
            &text(
                r#"["x", "y"]"#,
                "[hosts.x]\ncores = 1\n[hosts.y]\ncores = 1",
            ),
            &[],
        ),
        8,
    );
    assert_agrees(
        "spread over two 1-core hosts (ms)",
        5.0,
        ci(&spread, |r| r.all.latency.mean_ms()),
        0.04,
    );
    for r in &spread {
        for h in &r.hosts {
            assert!((h.cpu_utilisation - 0.8).abs() < 0.02, "{h:?}");
        }
    }
    // The same cores pooled on one host: M/M/2 (checked against Erlang C above), well below.
    let together = replicate(&model_from(&text(r#""x""#, "[hosts.x]\ncores = 2"), &[]), 8);
    let pooled = ci(&together, |r| r.all.latency.mean_ms());
    assert!(
        (pooled.mean - mmc_response_time(1.6, 1.0, 2)).abs() < 0.1,
        "{pooled:?}"
    );
}

/// The service time after the CPU work needs no core; the worker is held through both.
#[test]
fn cpu_work_then_waiting_adds_up_and_holds_the_worker() {
    let text = r#"
[simulation]
duration_s = 60
warmup_s = 5
[workload]
type = "open"
rate_per_s = 5
[[workload.mix]]
route = "a.work"
[gateway]
[hosts.node]
cores = 4
[services.a]
host = "node"
[services.a.endpoints.work]
cpu_ms = 2
service_ms = 3
"#;
    let r = &replicate(&model_from(text, &[]), 1)[0];
    // No contention at 5 req/s on 4 cores, and the lone worker rarely queues: ≈ 5 ms.
    let mean = r.all.latency.mean_ms();
    assert!((5.0..5.2).contains(&mean), "{mean}");
    let held = r.services[1].utilisation;
    assert!((held - 5.0 * 5.0 / 1000.0).abs() < 0.005, "{held}");
}

/// One worker on a host of ample cores, Poisson arrivals at `rate`, CPU work `cpu` ms plus
/// `cpu_after_idle`'s `extra` after an idle of `tau` ms.
fn one_worker_after_idle(rate: f64, cpu: f64, extra: f64, tau: f64) -> String {
    format!(
        r#"
[simulation]
duration_s = 200
warmup_s = 5
[workload]
type = "open"
rate_per_s = {rate}
[[workload.mix]]
route = "a.work"
[gateway]
workers = 100000
[hosts.node]
cores = 4
[services.a]
host = "node"
cpu_after_idle = {{ extra_ms = {extra}, tau_ms = {tau} }}
[services.a.endpoints.work]
service_ms = 0
cpu_ms = {cpu}
"#
    )
}

/// `cpu_after_idle` against the closed form. A call that finds the lone worker busy is handed
/// it at once (no extra); one that finds it idle (probability 1 − ρ, by PASTA) finds it idle
/// for an exponential time of rate λ (memoryless), so its extra is x·E[1 − e^(−I/τ)] =
/// x / (1 + λτ). The mean work E[S] = w + (1 − λE[S])·x/(1 + λτ) solves to
/// E[S] = (w(1 + λτ) + x) / (1 + λτ + λx), and the worker is busy λE[S] of the time.
#[test]
fn cpu_after_idle_charges_calls_that_find_the_worker_idle_as_theory_says() {
    for (rate, w, x, tau) in [(100.0, 2.0, 3.0, 5.0), (300.0, 1.0, 2.0, 2.0)] {
        let (l, t) = (rate / 1000.0, tau);
        let mean_work = (w * (1.0 + l * t) + x) / (1.0 + l * t + l * x);
        let runs = replicate(&model_from(&one_worker_after_idle(rate, w, x, tau), &[]), 8);
        assert_agrees(
            &format!("worker utilisation at {rate} req/s"),
            l * mean_work,
            ci(&runs, |r| r.services[1].utilisation),
            0.02,
        );
        // The same work is what the host's cores did.
        assert_agrees(
            "host CPU utilisation",
            l * mean_work / 4.0,
            ci(&runs, |r| r.hosts[0].cpu_utilisation),
            0.02,
        );
    }
}

/// Of several idle workers the one idle the shortest takes the call (the kernel wakes the
/// worker that slept last): one user who thinks 9 ms after each response, two workers, so the
/// same worker takes every call after 9 ms idle — not the other, idle since the start, nor
/// the two in turn (each then idle 9 ms + a call + 9 ms).
#[test]
fn cpu_after_idle_wakes_the_worker_that_slept_last() {
    let text = r#"
[simulation]
duration_s = 20
warmup_s = 1
[workload]
type = "closed"
users = 1
think_ms = 9
[[workload.mix]]
route = "a.work"
[gateway]
[hosts.node]
cores = 4
[services.a]
host = "node"
workers = 2
cpu_after_idle = { extra_ms = 4, tau_ms = 20 }
[services.a.endpoints.work]
service_ms = 0
cpu_ms = 1
"#;
    let r = &replicate(&model_from(text, &[]), 1)[0];
    let expected = 1.0 + 4.0 * (1.0 - (-9.0f64 / 20.0).exp());
    let mean = r.all.latency.mean_ms();
    assert!(
        (mean - expected).abs() < 0.01,
        "mean {mean} ms, theory {expected} ms"
    );
}

/// What the model file refuses, with the path and what is allowed.
#[test]
fn bad_hosts_are_refused_with_the_path_and_the_fix() {
    let base = two_services(1, 10.0, 0.5, "1", "1");
    let cases: [(&str, &[&str], &str); 13] = [
        ("cores = 1", &["hosts.node.cores=0"], "hosts.node.cores"),
        ("", &["services.a.host=nodee"], "unknown host `nodee`"),
        (
            "",
            &["services.a.host=[\"node\", \"nod\"]"],
            "services.a.host.1: unknown host `nod`",
        ),
        (
            "",
            &["services.a.host=[\"node\", \"node\"]"],
            "host `node` is listed twice",
        ),
        ("", &["services.a.host=[]"], "got an empty list"),
        (
            "",
            &["hosts.node.background=[{ at_s = 5, cores = 0.5 }, { at_s = 5, cores = 0.2 }]"],
            "hosts.node.background.1.at_s: 5 s is not after the change before it",
        ),
        (
            "",
            &["hosts.node.background=[{ at_s = 5, cores = 2 }]"],
            "hosts.node.background.0.cores: must be a number ≥ 0 and below the host's 1 cores",
        ),
        (
            "",
            &["hosts.node.background_cores=1"],
            "below the host's 1 cores",
        ),
        ("", &["hosts.node.speed=0"], "hosts.node.speed"),
        (
            "",
            &[
                "services.a.cpu_after_idle.extra_ms=-1",
                "services.a.cpu_after_idle.tau_ms=5",
            ],
            "services.a.cpu_after_idle.extra_ms: must be a number of ms ≥ 0, got -1",
        ),
        (
            "",
            &[
                "services.a.cpu_after_idle.extra_ms=1",
                "services.a.cpu_after_idle.tau_ms=0",
            ],
            "services.a.cpu_after_idle.tau_ms: must be a number of ms > 0, got 0",
        ),
        (
            "",
            &[
                "gateway.cpu_after_idle.extra_ms=1",
                "gateway.cpu_after_idle.tau_ms=5",
            ],
            "gateway.cpu_after_idle: adds to CPU work, and there is none here",
        ),
        ("host = \"node\"\nworkers", &[], "CPU work needs a host"),
    ];
    for (find, sets, message) in cases {
        // The last case removes service a's placement.
        let text = if find.starts_with("host") {
            base.replacen("host = \"node\"\nworkers", "workers", 1)
        } else {
            base.clone()
        };
        let overrides: Vec<meshsim::model::Override> =
            sets.iter().map(|s| s.parse().unwrap()).collect();
        let err = meshsim::model::load_str(&text, "m.toml", std::path::Path::new("."), &overrides)
            .expect_err(message)
            .to_string();
        assert!(err.contains(message), "{err}");
    }
}

/// `--set hosts.NAME.cores=N` adds a host the model did not have, and `hosts.csv` reports it.
#[test]
fn a_host_added_from_the_command_line_runs_and_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let text = r#"
[workload]
type = "open"
rate_per_s = 200
[[workload.mix]]
route = "a.work"
[simulation]
duration_s = 20
[gateway]
[services.a]
workers = 8
[services.a.endpoints.work]
service_ms = 1
"#;
    std::fs::write(tmp.path().join("m.toml"), text).unwrap();
    ok(&meshsim(
        &[
            "run",
            "m.toml",
            "--set",
            "hosts.box.cores=2",
            "--set",
            "services.a.host=box",
            "--set",
            "services.a.endpoints.work.cpu_ms=2",
            "--out",
            "o",
            "-q",
        ],
        tmp.path(),
    ));
    let csv = std::fs::read_to_string(tmp.path().join("o/hosts.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("host,cores,cpu_utilisation,mean_computing,background_cores")
    );
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&row[..2], &["box", "2"]);
    // 200/s × 2 ms over 2 cores.
    let u: f64 = row[2].parse().unwrap();
    assert!((u - 0.2).abs() < 0.02, "{u}");
}

/// The time series' CPU utilisation per host integrates the same busy cores as `hosts.csv`:
/// its intervals of the measured window average to the run's utilisation (the warm-up ends on
/// an interval boundary), and recording it changes nothing else in the run.
#[test]
fn the_time_series_tracks_each_hosts_cpu_utilisation() {
    use meshsim::engine::SimTime;
    use meshsim::sim::{Options, simulate, simulate_with};
    let text = two_services(
        2,
        800.0,
        0.5,
        "{ dist = \"exponential\", mean_ms = 1 }",
        "{ dist = \"exponential\", mean_ms = 2 }",
    );
    let model = model_from(&text, &[]);
    let with = simulate_with(
        &model,
        &Options {
            timeseries: Some(SimTime::from_secs_f64(1.0)),
            ..Options::default()
        },
    );
    let series = with.timeseries.as_ref().unwrap();
    assert_eq!(series.hosts, ["node"]);
    let measured: Vec<f64> = series
        .rows
        .iter()
        .filter(|i| i.start_s >= 10.0)
        .map(|i| i.host_utilisation[0])
        .collect();
    let mean = measured.iter().sum::<f64>() / measured.len() as f64;
    let run = with.hosts[0].cpu_utilisation;
    // ρ = 800 × 1.5 ms / 2 cores = 0.6.
    assert!((run - 0.6).abs() < 0.02, "{run}");
    assert!((mean - run).abs() < 1e-9, "series {mean} vs run {run}");
    let without = simulate(&model);
    assert_eq!(
        format!("{:?}", without.routes),
        format!("{:?}", with.routes)
    );
    assert_eq!(without.hosts, with.hosts);
}

/// `analyze` solves the sharing of a host's cores exactly for Poisson arrivals (generalised
/// processor sharing: every class on a host is stretched by E[N] / a): the issue's two classes
/// on one core give 5 and 10 ms, labelled exact; a background load, a faster host and a
/// service spread over two hosts agree with the simulation within its 95% interval.
#[test]
fn analyze_solves_processor_sharing_on_each_host() {
    let exp = |m: f64| format!("{{ dist = \"exponential\", mean_ms = {m} }}");
    let two = model_from(
        &two_services(1, 550.0, 300.0 / 550.0, &exp(1.0), &exp(2.0)),
        &[],
    );
    let a = meshsim::analysis::analyze(&two);
    for (route, expected) in a.routes.iter().zip([5.0, 10.0]) {
        assert!(
            (route.mean_response_ms - expected).abs() < 1e-9,
            "{}: {}",
            route.route,
            route.mean_response_ms
        );
        assert!(
            route.quality.approximations.is_empty(),
            "{:?}",
            route.quality
        );
    }
    assert!((a.hosts[0].utilisation - 0.8).abs() < 1e-12);
    assert!((a.hosts[0].mean_computing - 4.0).abs() < 1e-9);

    // Service a spread over a 1-core host beside 0.3 background cores and a 2-core host at
    // speed 1.5; b on the 2-core host only.
    let spread = model_from(
        &two_services(1, 2000.0, 0.6, &exp(1.0), &exp(2.0)),
        &[
            "hosts.node.background_cores=0.3",
            "hosts.fast.cores=2",
            "hosts.fast.speed=1.5",
            "services.a.instances=2",
            "services.a.load_balancer=random",
            r#"services.a.host=["node", "fast"]"#,
            "services.b.host=fast",
            "simulation.duration_s=300",
        ],
    );
    let a = meshsim::analysis::analyze(&spread);
    let runs = replicate(&spread, 10);
    for (i, route) in a.routes.iter().enumerate() {
        assert_agrees(
            &format!("{} mean response (ms), spread", route.route),
            route.mean_response_ms,
            ci(&runs, |r| r.routes[i].latency.mean_ms()),
            0.03,
        );
    }
    for (i, host) in a.hosts.iter().enumerate() {
        assert_agrees(
            &format!("host {} mean computing", host.name),
            host.mean_computing,
            ci(&runs, |r| r.hosts[i].mean_computing),
            0.05,
        );
    }
}

/// The sharing of a host is solved for calls without number; when the workers on the host can
/// all be computing at once, they cap the calls the host shares its cores among, and the
/// figures are labelled an approximation — rightly: the simulation computes fewer at once.
#[test]
fn a_host_whose_workers_cap_its_calls_is_labelled_approximate() {
    let exp = |m: f64| format!("{{ dist = \"exponential\", mean_ms = {m} }}");
    let text = two_services(1, 550.0, 300.0 / 550.0, &exp(1.0), &exp(2.0));
    let uncapped = meshsim::analysis::analyze(&model_from(&text, &[]));
    assert!(uncapped.hosts[0].quality.approximations.is_empty());

    let capped = model_from(&text, &["services.a.workers=2", "services.b.workers=2"]);
    let a = meshsim::analysis::analyze(&capped);
    let label = a.hosts[0].quality.to_string();
    assert!(label.contains("workers' cap"), "{label}");
    assert!(
        a.stations[1]
            .utilisation_quality
            .to_string()
            .contains("workers' cap"),
        "{:?}",
        a.stations[1].utilisation_quality
    );
    let runs = replicate(&capped, 5);
    let simulated = ci(&runs, |r| r.hosts[0].mean_computing);
    assert!(
        simulated.mean + simulated.half_width < a.hosts[0].mean_computing,
        "simulated {simulated:?}, theory {}",
        a.hosts[0].mean_computing
    );
}
