//! `meshsim sweep` and `meshsim merge` as a user drives them.

use std::path::Path;
use std::process::Command;

mod common;
use common::{meshsim, ok};

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

const SHORT: [&str; 4] = [
    "--set",
    "simulation.duration_s=4",
    "--set",
    "simulation.warmup_s=1",
];

fn sweep(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "sweep",
        "--vary",
        "workload.rate_per_s=200:600:200",
        "--vary",
        "links.gateway_user.latency_ms=0.5,5",
        "--reps",
        "3",
        "-q",
    ];
    args.extend(SHORT);
    args.extend(extra);
    ok(&meshsim(&args, dir))
}

#[test]
fn output_is_identical_whatever_the_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path(), &["--jobs", "1", "--out", "one"]);
    sweep(dir.path(), &["--jobs", "2", "--out", "two"]);
    for f in ["points.csv", "runs.csv"] {
        assert_eq!(
            read(&dir.path().join("one"), f),
            read(&dir.path().join("two"), f),
            "{f} differs"
        );
    }
    let points = String::from_utf8(read(&dir.path().join("one"), "points.csv")).unwrap();
    // 3 rates × 2 latencies = 6 points, each with 2 routes + all.
    assert_eq!(points.lines().count(), 1 + 6 * 3);
    assert!(points.starts_with("point_id,workload.rate_per_s,links.gateway_user.latency_ms,route,replications,requests,requests_ci95,"));
    let runs = String::from_utf8(read(&dir.path().join("one"), "runs.csv")).unwrap();
    assert_eq!(runs.lines().count(), 1 + 6 * 3 * 3);
    assert!(runs.starts_with("point_id,replication,seed,workload.rate_per_s,links.gateway_user.latency_ms,route,requests,"));
}

#[test]
fn shards_merge_into_the_unsharded_result() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path(), &["--out", "whole"]);
    for k in 1..=3 {
        let k = format!("{k}/3");
        sweep(
            dir.path(),
            &["--shard", &k, "--out", &format!("shard-{}", &k[..1])],
        );
    }
    let out = ok(&meshsim(
        &["merge", "shard-1", "shard-2", "shard-3", "--out", "merged"],
        dir.path(),
    ));
    assert!(out.contains("merged 6 points"), "{out}");
    for f in ["points.csv", "runs.csv"] {
        assert_eq!(
            read(&dir.path().join("whole"), f),
            read(&dir.path().join("merged"), f),
            "{f} differs"
        );
    }
    // The merged report is titled as the whole sweep's.
    let h1 = |folder: &str| {
        let html = String::from_utf8(read(&dir.path().join(folder), "report.html")).unwrap();
        let start = html.find("<h1>").expect("a title");
        html[start..start + html[start..].find("</h1>").unwrap()].to_string()
    };
    assert_eq!(h1("merged"), h1("whole"));
    assert!(
        h1("whole").ends_with("sweep of workload.rate_per_s × links.gateway_user.latency_ms"),
        "{}",
        h1("whole")
    );
    // The index can come from the environment, as in a Kubernetes Indexed Job.
    let mut args = vec![
        "sweep",
        "--vary",
        "workload.rate_per_s=200:600:200",
        "--vary",
        "links.gateway_user.latency_ms=0.5,5",
        "--reps",
        "3",
        "-q",
        "--shard",
        "3",
        "--out",
        "env-shard",
    ];
    args.extend(SHORT);
    let out = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(&args)
        .current_dir(dir.path())
        .env("JOB_COMPLETION_INDEX", "1")
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(
        read(&dir.path().join("env-shard"), "points.csv"),
        read(&dir.path().join("shard-2"), "points.csv")
    );
    // A missing shard fails the merge (exit 1) and writes nothing.
    let out = meshsim(
        &["merge", "shard-1", "shard-2", "--out", "partial"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("2 of 6 points are missing") && err.contains("shard 3/3"),
        "{err}"
    );
    assert!(!dir.path().join("partial/points.csv").exists());
}

#[test]
fn resume_completes_an_interrupted_sweep_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path(), &["--out", "full"]);
    sweep(dir.path(), &["--out", "cut"]);
    // An interruption leaves some points written and others not.
    for id in [1, 4, 5] {
        std::fs::remove_file(dir.path().join(format!("cut/points/point-{id:07}.json"))).unwrap();
    }
    std::fs::remove_file(dir.path().join("cut/points.csv")).unwrap();
    let mut args = vec![
        "sweep",
        "--vary",
        "workload.rate_per_s=200:600:200",
        "--vary",
        "links.gateway_user.latency_ms=0.5,5",
        "--reps",
        "3",
        "--resume",
        "--out",
        "cut",
    ];
    args.extend(SHORT);
    let out = ok(&meshsim(&args, dir.path()));
    assert!(
        out.contains("resumed: 3 points were already done, ran 3"),
        "{out}"
    );
    for f in ["points.csv", "runs.csv"] {
        assert_eq!(
            read(&dir.path().join("full"), f),
            read(&dir.path().join("cut"), f),
            "{f} differs"
        );
    }
}

/// Student-t 95% half-width for 3 values: t(0.975, 2) = 4.303.
fn ci3(xs: &[f64]) -> (f64, f64) {
    let m = xs.iter().sum::<f64>() / 3.0;
    let sd = (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 2.0).sqrt();
    (m, 4.303 * sd / 3f64.sqrt())
}

#[test]
fn confidence_intervals_are_student_t_over_replications_and_percentiles_are_pooled() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path(), &["--out", "s"]);
    let mut runs = csv::Reader::from_path(dir.path().join("s/runs.csv")).unwrap();
    let h = runs.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (mean, p99, route, point) = (col("mean_ms"), col("p99_ms"), col("route"), col("point_id"));
    let rows: Vec<csv::StringRecord> = runs
        .records()
        .map(Result::unwrap)
        .filter(|r| &r[point] == "2" && &r[route] == "all")
        .collect();
    assert_eq!(rows.len(), 3);
    let means: Vec<f64> = rows.iter().map(|r| r[mean].parse().unwrap()).collect();
    let p99s: Vec<f64> = rows.iter().map(|r| r[p99].parse().unwrap()).collect();
    let (m, hw) = ci3(&means);

    let mut points = csv::Reader::from_path(dir.path().join("s/points.csv")).unwrap();
    let ph = points.headers().unwrap().clone();
    let pcol = |n: &str| ph.iter().position(|x| x == n).unwrap();
    let row = points
        .records()
        .map(Result::unwrap)
        .find(|r| &r[pcol("point_id")] == "2" && &r[pcol("route")] == "all")
        .unwrap();
    let got_mean: f64 = row[pcol("mean_ms")].parse().unwrap();
    let got_hw: f64 = row[pcol("mean_ms_ci95")].parse().unwrap();
    assert!((got_mean - m).abs() < 1e-5, "{got_mean} vs {m}");
    assert!((got_hw - hw).abs() < 1e-4, "{got_hw} vs {hw}");
    // p99 comes from the pooled histogram: within the replications' range, not their average.
    let pooled: f64 = row[pcol("p99_ms")].parse().unwrap();
    let lo = p99s.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = p99s.iter().cloned().fold(0.0, f64::max);
    assert!(
        pooled >= lo * 0.999 && pooled <= hi * 1.001,
        "{pooled} outside [{lo}, {hi}]"
    );
    let avg = p99s.iter().sum::<f64>() / 3.0;
    assert_ne!(
        format!("{pooled:.6}"),
        format!("{avg:.6}"),
        "p99 must not be an average of percentiles"
    );
}

#[test]
fn list_shows_points_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&meshsim(
        &[
            "sweep",
            "--vary",
            "workload.rate_per_s=log:10:1000:12",
            "--list",
        ],
        dir.path(),
    ));
    assert!(
        out.contains("12 points × 3 replications = 36 runs"),
        "{out}"
    );
    assert!(out.contains("1000") && out.contains("   10"), "{out}");
    assert!(!dir.path().join("output").exists(), "--list writes nothing");
}

#[test]
fn a_sweep_can_live_in_the_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}\n[sweep]\nvary = {{ \"services.user.instances\" = [1, 2], \"workload.rate_per_s\" = \"300:500:200\" }}\nreps = 2\n",
        meshsim::model::BUILTIN_MODEL
    );
    std::fs::write(dir.path().join("m.toml"), text).unwrap();
    let out = ok(&meshsim(&["sweep", "m.toml", "--list"], dir.path()));
    assert!(out.contains("4 points × 2 replications"), "{out}");
    let mut args = vec!["sweep", "m.toml", "-q", "--out", "o"];
    args.extend(SHORT);
    ok(&meshsim(&args, dir.path()));
    let points = String::from_utf8(read(&dir.path().join("o"), "points.csv")).unwrap();
    assert!(
        points
            .starts_with("point_id,services.user.instances,workload.rate_per_s,route,replications"),
        "{points}"
    );
}

#[test]
fn no_arguments_runs_the_default_load_sweep_of_the_builtin_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&meshsim(&[], dir.path()));
    assert!(
        out.contains("10% to 95%") && out.contains("output/gateway-user-order/sweep"),
        "{out}"
    );
    let points = String::from_utf8(read(
        &dir.path().join("output/gateway-user-order/sweep"),
        "points.csv",
    ))
    .unwrap();
    let rates: Vec<&str> = points
        .lines()
        .skip(1)
        .filter(|l| l.contains(",all,"))
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(
        rates,
        [
            "100", "200", "300", "400", "500", "600", "700", "800", "900", "950"
        ]
    );
}

fn rejected(args: &[&str], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = meshsim(args, dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: stderr lacks `{needle}`:\n{stderr}"
    );
}

#[test]
fn bad_sweeps_are_refused_with_exit_code_2() {
    rejected(
        &["sweep", "--vary", "workload.rate_per_s=500:100:100"],
        "empty range",
    );
    rejected(
        &["sweep", "--vary", "workload.rate_per_s=100:500:0"],
        "must be > 0",
    );
    rejected(
        &["sweep", "--vary", "workload.rate_per_s=100:500:-100"],
        "must be > 0",
    );
    rejected(
        &["sweep", "--vary", "workload.rate_per_s=100:950:100"],
        "does not reach the stop",
    );
    rejected(
        &[
            "sweep",
            "--vary",
            "workload.rate_per_s=1:400000:1",
            "--list",
        ],
        "--force",
    );
    rejected(
        &["sweep", "--vary", "workload.rate_per_sec=1,2", "--list"],
        "did you mean `workload.rate_per_s`?",
    );
    rejected(
        &[
            "sweep",
            "--vary",
            "workload.rate_per_s=1,2",
            "--vary",
            "workload.rate_per_s=3",
            "--list",
        ],
        "varied twice",
    );
    rejected(
        &[
            "sweep",
            "--vary",
            "workload.rate_per_s=1,2",
            "--shard",
            "4/3",
            "--list",
        ],
        "between 1 and 3",
    );
    rejected(
        &["sweep", "--vary", "services.user.workers=0,1", "--list"],
        "services.user.workers",
    );
    rejected(&["sweep"], "nothing to sweep");
    // A bad value is the user's --vary argument: named as typed, not as an invented line.
    rejected(
        &["sweep", "--vary", "workload.rate_per_s=abc", "--list"],
        "--vary workload.rate_per_s=abc: the value `abc` is refused: `rate_per_s` is a number (per second)",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = meshsim(&["sweep", "--vary", "workload.rate_per_s=abc"], dir.path());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("<built-in>:"));
    // A bad value on the second axis is named too.
    rejected(
        &[
            "sweep",
            "--vary",
            "workload.rate_per_s=100,200",
            "--vary",
            "services.user.load_balancer=random,fastest",
            "--list",
        ],
        "--vary services.user.load_balancer=random,fastest: the value `fastest` is refused",
    );
    // A point whose values are refused together (none alone) is named by its values.
    rejected(
        &[
            "sweep",
            "--vary",
            "simulation.duration_s=8,20",
            "--vary",
            "simulation.warmup_s=10",
            "--list",
        ],
        "point 0 (simulation.duration_s=8, simulation.warmup_s=10) is not a valid model",
    );
}

#[test]
fn a_value_that_needs_another_axis_is_checked_beside_it() {
    // Propagating a deadline needs one; the base model has none, the other axis sets it.
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&meshsim(
        &[
            "sweep",
            "--vary",
            "workload.deadline_ms=20,50",
            "--vary",
            "workload.propagate_deadline=true,false",
            "--list",
        ],
        dir.path(),
    ));
    let listed = out;
    assert!(
        listed.contains("true") && listed.contains("false"),
        "{listed}"
    );
}

#[test]
fn merging_shards_of_different_sweeps_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path(), &["--shard", "1/2", "--out", "a"]);
    let mut args = vec![
        "sweep",
        "--vary",
        "workload.rate_per_s=200:600:200",
        "--vary",
        "links.gateway_user.latency_ms=0.5,5",
        "--reps",
        "2",
        "-q",
        "--shard",
        "2/2",
        "--out",
        "b",
    ];
    args.extend(SHORT);
    ok(&meshsim(&args, dir.path()));
    let out = meshsim(&["merge", "a", "b", "--out", "m"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shards of different sweeps"));
}

#[test]
fn sweep_slo_judges_every_point_and_shortcuts_set_rate_and_duration() {
    let dir = tempfile::tempdir().unwrap();
    // The built-in gateway saturates at 1,000 req/s: p99 <= 50 ms holds at 300, not at 1,100.
    let out = ok(&meshsim(
        &[
            "sweep",
            "--vary",
            "workload.rate_per_s=300,1100",
            "--duration",
            "20",
            "--reps",
            "3",
            "--slo",
            "p99<=50ms",
            "--out",
            "s",
            "--no-charts",
        ],
        dir.path(),
    ));
    assert!(
        out.contains("SLO p99<=50ms: met at 1 of 2 points; violated at workload.rate_per_s=1100"),
        "{out}"
    );
    // Past five points a message counts the rest instead of naming every one.
    let many = ok(&meshsim(
        &[
            "sweep",
            "--vary",
            "workload.rate_per_s=1100:1800:100",
            "--duration",
            "8",
            "--reps",
            "2",
            "--slo",
            "p99<=50ms",
            "--out",
            "many",
            "--no-charts",
        ],
        dir.path(),
    ));
    assert!(
        many.contains("violated at workload.rate_per_s=1100; workload.rate_per_s=1200; workload.rate_per_s=1300; workload.rate_per_s=1400; workload.rate_per_s=1500; and 3 more (slo.csv has every one)"),
        "{many}"
    );
    assert!(
        many.contains("warning: 8 points are saturated (the backlog grew through the run): workload.rate_per_s=1100; workload.rate_per_s=1200; workload.rate_per_s=1300; workload.rate_per_s=1400; workload.rate_per_s=1500; and 3 more (points.csv has every one)."),
        "{many}"
    );
    let slo = String::from_utf8(read(&dir.path().join("s"), "slo.csv")).unwrap();
    let rows: Vec<&str> = slo.lines().collect();
    assert_eq!(
        rows[0],
        "point_id,workload.rate_per_s,slo,route,metric,value,value_ci95,limit,verdict"
    );
    assert!(rows[1].starts_with("0,300,p99<=50ms,all,p99,") && rows[1].ends_with(",50,meets"));
    assert!(rows[2].starts_with("1,1100,p99<=50ms,all,p99,") && rows[2].ends_with(",violates"));
    // --duration is simulation.duration_s: 20 s with the model's 5 s warm-up.
    let runs = String::from_utf8(read(&dir.path().join("s"), "runs.csv")).unwrap();
    let info = String::from_utf8(read(&dir.path().join("s"), "sweep.json")).unwrap();
    assert!(info.contains("simulation.duration_s=20"), "{info}");
    assert!(runs.lines().count() > 1);
    // run --rate sets workload.rate_per_s.
    ok(&meshsim(
        &[
            "run",
            "--rate",
            "123",
            "--duration",
            "11",
            "-q",
            "--no-charts",
            "--out",
            "r",
        ],
        dir.path(),
    ));
    let model = String::from_utf8(read(&dir.path().join("r"), "model.toml")).unwrap();
    assert!(
        model.contains("rate_per_s = 123") && model.contains("duration_s = 11"),
        "{model}"
    );
}

#[test]
fn one_replication_prints_no_interval_rather_than_nan() {
    let dir = tempfile::tempdir().unwrap();
    let out = meshsim(
        &[
            "sweep",
            "--vary",
            "workload.rate_per_s=100,200",
            "--reps",
            "1",
            "--duration",
            "8",
            "--out",
            "s",
        ],
        dir.path(),
    );
    let text = ok(&out);
    assert!(!text.contains("NaN"), "{text}");
    assert!(
        text.contains("one replication per point: no confidence interval"),
        "{text}"
    );
    // With two, every cell has its interval.
    let out = meshsim(
        &[
            "sweep",
            "--vary",
            "workload.rate_per_s=100,200",
            "--reps",
            "2",
            "--duration",
            "8",
            "--out",
            "t",
        ],
        dir.path(),
    );
    let text = ok(&out);
    assert!(
        !text.contains("NaN") && text.matches(" ±").count() >= 8,
        "{text}"
    );
}
