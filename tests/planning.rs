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
fn a_capacity_search_reports_each_batch_of_replications_as_it_finishes() {
    let m = model_from(&mm1(10.0, ""), &["simulation.duration_s=110"]);
    let slos: Vec<Slo> = vec!["mean<=50ms".parse().unwrap()];
    let lines = std::sync::Mutex::new(Vec::new());
    let report = |line: &str| lines.lock().unwrap().push(line.to_string());
    let (_, probed) =
        meshsim::planning::capacity::capacity_reported(&m, &slos, 4, Some(&report)).unwrap();
    let lines = lines.into_inner().unwrap();
    println!("{}", lines.join("\n"));
    // A line per batch of 4 replications; the last at each rate says what the search kept.
    let batches: usize = probed.iter().map(|p| p.replications / 4).sum();
    assert_eq!(lines.len(), batches);
    for p in &probed {
        let head = format!("{:.1} req/s, {} replications: ", p.rate_rps, p.replications);
        let tail = format!(" — {} mean<=50ms", p.verdict.as_str());
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&head) && l.ends_with(&tail)),
            "no line `{head}… {tail}`"
        );
    }
}

/// `models/shop.toml`, loaded with `--set`-style overrides.
fn shop(sets: &[&str]) -> meshsim::model::Model {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/models/shop.toml")).unwrap();
    model_from(&text, sets)
}

#[test]
fn capacity_near_the_idle_p99_agrees_with_a_fine_sweep() {
    // At 1% of the saturation rate a 25 s run holds ~150 requests: too few for a p99, whose
    // interval then straddles the limit. That must not count as a violation (it used to give
    // a capacity of 0). The truth: the rate where the mean p99 of 30 s runs crosses 32 ms,
    // found by a sweep of 40 replications per rate, interpolated.
    let m = shop(&[]);
    let slos: Vec<Slo> = vec!["p99<=32ms".parse().unwrap()];
    let c = &capacity(&m, &slos, 10).unwrap()[0];
    let rates: Vec<f64> = (0..10).map(|i| 380.0 + 10.0 * f64::from(i)).collect();
    let p99: Vec<f64> = rates
        .iter()
        .map(|&r| {
            let mut at = m.clone();
            if let meshsim::model::Workload::Open { rate_per_s, .. } = &mut at.workload {
                *rate_per_s = r;
            }
            let runs = common::replicate(&at, 40);
            common::ci(&runs, |r| r.all.latency.quantile_ms(0.99)).mean
        })
        .collect();
    let truth = rates
        .windows(2)
        .zip(p99.windows(2))
        .find(|(_, p)| p[0] <= 32.0 && p[1] > 32.0)
        .map(|(r, p)| r[0] + (r[1] - r[0]) * (32.0 - p[0]) / (p[1] - p[0]))
        .expect("the sweep crosses 32 ms");
    println!(
        "capacity {:.1} [{:.1}, {:.1}] ({}), fine sweep {truth:.1}; p99 by rate {p99:.2?}",
        c.capacity_rps,
        c.ci95_low_rps,
        c.ci95_high_rps,
        c.status.as_str()
    );
    assert_eq!(c.status.as_str(), "ok");
    assert!(
        (c.capacity_rps - truth).abs() <= 0.05 * truth,
        "capacity {:.1} vs fine sweep {truth:.1}",
        c.capacity_rps
    );
    assert_eq!(c.bottleneck, "link api_catalog (catalog→api)");
    assert!(c.bottleneck_utilisation > 0.6 && c.bottleneck_utilisation < 0.85);
}

#[test]
fn an_slo_below_the_idle_latency_is_never_met_and_one_on_it_is_inconclusive() {
    let m = shop(&[]);
    // Idle p99 ≈ 30 ms: 25 ms can never be met.
    let slos: Vec<Slo> = vec!["p99<=25ms".parse().unwrap()];
    let c = &capacity(&m, &slos, 10).unwrap()[0];
    assert_eq!(c.status.as_str(), "never_met");
    assert_eq!(c.capacity_rps, 0.0);
    assert!(
        c.note.contains("less than an idle system achieves"),
        "{}",
        c.note
    );
    // A limit the idle p99 meets only by noise stays undecided: no number is made up.
    let slos: Vec<Slo> = vec!["p99<=29.75ms".parse().unwrap()];
    let c = &capacity(&m, &slos, 10).unwrap()[0];
    println!("{} {}", c.status.as_str(), c.note);
    assert_eq!(c.status.as_str(), "inconclusive");
    assert!(c.capacity_rps.is_nan());
    assert!(c.note.contains("--reps"), "{}", c.note);
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
    // The crossing is given as the compared loads either side of where the costs swap order
    // (costs step with whole instances: nothing is known between them).
    let rates = ["300", "800", "1300", "1800"];
    let swap = rates
        .windows(2)
        .rfind(|w| {
            (cost("monolith", w[0]) < cost("microservices", w[0]))
                != (cost("monolith", w[1]) < cost("microservices", w[1]))
        })
        .unwrap();
    assert!(
        stdout.contains(&format!(
            "Crossover between {} and {} req/s, the loads compared either side",
            swap[0], swap[1]
        )) && stdout.contains("above it, `microservices` is the cheaper way to meet the SLOs"),
        "{stdout}"
    );
    let row = table.lines().nth(1).unwrap();
    assert!(row.ends_with(&format!(",{},{}", swap[0], swap[1])), "{row}");
    for f in ["cost_vs_load.png", "p99_vs_load.svg", "report.html"] {
        assert!(dir.path().join("cmp").join(f).is_file(), "{f}");
    }
}

#[test]
fn a_saturated_link_is_named_with_the_field_and_the_bandwidth_it_needs() {
    // At 1,500 req/s the catalogue's 100 Mbit/s link is offered 2.4 × its capacity
    // (1,500 × 20,000 B × 8 / 10^8 b/s): 70% utilisation needs 100 × 2.4 / 0.7 ≈ 343 Mbit/s.
    let m = shop(&[]);
    let slos: Vec<Slo> = vec!["p99<=50ms".parse().unwrap()];
    let e = meshsim::planning::rightsize(&m, Some(1500.0), &slos, 5, None).unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, meshsim::planning::PlanningError::Model(_)),
        "a model problem: {text}"
    );
    assert!(
        text.contains("raise links.api_catalog.bandwidth_mbps from 100 to at least 343"),
        "{text}"
    );
    assert!(!text.contains("workers"), "links have no workers: {text}");
}

#[test]
fn an_slo_an_idle_system_misses_is_refused_before_any_search_with_exit_2() {
    // One service whose lognormal service time (mean 12 ms, cv 1.2) alone has a p99 near
    // 70 ms: no number of instances brings p99 under 50 ms.
    let text = r#"
[simulation]
duration_s = 30
warmup_s = 5
[workload]
type = "open"
rate_per_s = 200
[[workload.mix]]
route = "app.page"
[gateway]
workers = 8
[services.app]
instances = 2
workers = 8
[services.app.endpoints.page]
service_ms = { dist = "lognormal", mean_ms = 12, cv = 1.2 }
"#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mono.toml"), text).unwrap();
    for args in [
        vec![
            "rightsize",
            "mono.toml",
            "--slo",
            "p99<=50ms",
            "--rate",
            "400",
        ],
        vec!["compare", "mono.toml", "mono.toml", "--slo", "p99<=50ms"],
    ] {
        let out = common::meshsim(&args, dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("cannot be met by any number of instances: even idle (p99 = "),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
}

#[test]
fn compare_works_without_prices_and_without_a_rate() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = tempfile::tempdir().unwrap();
    let out = common::meshsim(
        &[
            "compare",
            &format!("{root}/models/shop.toml"),
            &format!("{root}/models/seed.toml"),
            "--slo",
            "p99<=80ms",
            "--reps",
            "3",
            "--out",
            "c",
            "--no-charts",
        ],
        dir.path(),
    );
    let stdout = common::ok(&out);
    assert!(stdout.contains("no prices"), "{stdout}");
    assert!(stdout.contains("No cost compared"), "{stdout}");
    assert!(stdout.contains("over 12 loads"), "{stdout}");
    // The default range reaches past the highest capacity: its top is 1.2 × the highest
    // saturation rate (the seed model's gateway: 1,000 req/s).
    let load = std::fs::read_to_string(dir.path().join("c/compare_load.csv")).unwrap();
    let top = load
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1)?.parse::<f64>().ok())
        .fold(0.0, f64::max);
    assert!((top - 1200.0).abs() < 1.0, "top of the range {top}");
}

#[test]
fn rightsized_toml_runs_under_its_own_name_and_the_slo_is_printed_with_unit_and_interval() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::meshsim(
        &[
            "rightsize",
            "--slo",
            "p99<=50ms",
            "--set",
            "simulation.duration_s=20",
            "--reps",
            "3",
            "--jobs",
            "1",
        ],
        dir.path(),
    );
    let stdout = common::ok(&out);
    assert!(
        stdout.contains("p99<=50ms: p99 = ")
            && stdout.contains(" ms (mean and 95% interval over 3 replications; limit 50 ms)"),
        "{stdout}"
    );
    let written = "output/gateway-user-order/rightsize/rightsized.toml";
    let text = std::fs::read_to_string(dir.path().join(written)).unwrap();
    assert!(
        text.contains("name = \"gateway-user-order-rightsized\""),
        "{text}"
    );
    common::ok(&common::meshsim(
        &["run", written, "-q", "--no-charts"],
        dir.path(),
    ));
    assert!(
        dir.path()
            .join("output/gateway-user-order-rightsized/summary.csv")
            .is_file()
    );
    // -q prints nothing but warnings and errors.
    let out = common::meshsim(
        &[
            "rightsize",
            "--slo",
            "p99<=50ms",
            "--set",
            "simulation.duration_s=20",
            "--reps",
            "3",
            "-q",
        ],
        dir.path(),
    );
    assert!(common::ok(&out).is_empty());
}

#[test]
fn capacity_draws_its_search() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = tempfile::tempdir().unwrap();
    let out = common::meshsim(
        &[
            "capacity",
            &format!("{root}/models/shop.toml"),
            "--slo",
            "p99<=50ms",
            "--out",
            "c",
        ],
        dir.path(),
    );
    common::ok(&out);
    let c = dir.path().join("c");
    for f in ["capacity.png", "capacity.svg", "report.html", "model.toml"] {
        assert!(c.join(f).is_file(), "{f} missing");
    }
    // Every rate the search simulated, with its verdict: the answer lies between the highest
    // rate that met the SLO and the lowest that violated it.
    let search = std::fs::read_to_string(c.join("capacity_search.csv")).unwrap();
    let rows: Vec<Vec<&str>> = search
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let rate = |r: &Vec<&str>| r[1].parse::<f64>().unwrap();
    let met = rows
        .iter()
        .filter(|r| r[5] == "meets")
        .map(rate)
        .fold(0.0, f64::max);
    let violated = rows
        .iter()
        .filter(|r| r[5] == "violates")
        .map(rate)
        .fold(f64::INFINITY, f64::min);
    let cap = std::fs::read_to_string(c.join("capacity.csv")).unwrap();
    let row: Vec<&str> = cap.lines().nth(1).unwrap().split(',').collect();
    let (low, high): (f64, f64) = (row[3].parse().unwrap(), row[4].parse().unwrap());
    assert_eq!((low, high), (met, violated), "{cap}\n{search}");
    let svg = std::fs::read_to_string(c.join("capacity.svg")).unwrap();
    assert!(svg.contains("limit p99&lt;=50ms") || svg.contains("limit p99<=50ms"));
}

/// A sweep without `--slo` into a folder where an earlier sweep wrote SLO verdicts reports no
/// verdict: `slo.csv` belonged to the other sweep (its points and SLOs), not to this one.
#[test]
fn a_sweep_does_not_report_an_earlier_sweeps_slo_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = |extra: &[&str]| {
        let mut args = vec![
            "sweep",
            "--vary",
            "workload.rate_per_s=100,200",
            "--reps",
            "2",
            "--set",
            "simulation.duration_s=10",
            "--no-charts",
            "--out",
            "sw",
        ];
        args.extend_from_slice(extra);
        common::ok(&common::meshsim(&args, dir.path()))
    };
    let first = sweep(&["--slo", "p99<=50ms"]);
    assert!(first.contains("SLO p99<=50ms: met at"), "{first}");
    assert!(dir.path().join("sw/slo.csv").is_file());
    let second = sweep(&[]);
    assert!(!second.contains("SLO"), "{second}");
    assert!(!dir.path().join("sw/slo.csv").exists());
}
