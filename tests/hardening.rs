//! Hardening: runaway models, limits, interruption, numeric edge cases, and inputs that must
//! never make meshsim panic.

mod common;
use common::{meshsim, ok};
use proptest::prelude::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_runaway_model_stops_at_the_in_flight_cap_naming_the_saturated_service() {
    let dir = tempfile::tempdir().unwrap();
    // ρ = 5 at the gateway, whose queue is unbounded.
    let out = meshsim(
        &[
            "run",
            "--set",
            "workload.rate_per_s=5000",
            "--set",
            "simulation.duration_s=1000",
            "--max-in-flight",
            "20000",
            "--out",
            "o",
            "-q",
            "--no-charts",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("more than 20000 requests in flight") && e.contains("`gateway` is saturated"),
        "{e}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("o/run.json")).unwrap()).unwrap();
    assert!(json["stopped_early"].as_str().unwrap().contains("gateway"));
    assert!(
        json["end_s"].as_f64().unwrap() < 20.0,
        "stopped long before 1000 s"
    );
    let summary = std::fs::read_to_string(dir.path().join("o/summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 4, "partial results are written");
}

/// A load so far past capacity that the cap is hit within the warm-up: the error gives the
/// time it stopped (not the warm-up's end) and says nothing was measured, and so does the table.
#[test]
fn a_run_stopped_during_the_warm_up_says_when_and_that_nothing_was_measured() {
    let dir = tempfile::tempdir().unwrap();
    let out = meshsim(
        &[
            "run",
            "--set",
            "workload.rate_per_s=1e7",
            "--max-in-flight",
            "20000",
            "--out",
            "o",
            "--no-charts",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let e = stderr(&out);
    // 20,000 requests at 10 M/s arrive in 2 ms.
    assert!(
        e.contains("stopped early at t = 0.002 s")
            && e.contains(
                "before its 5 s warm-up ended, so the results in o hold no measured request"
            ),
        "{e}"
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("warning: the run stopped at t = 0.002 s, before its 5 s warm-up ended: no request was measured.")
            && !table.contains("SATURATED"),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("o/run.json")).unwrap()).unwrap();
    let at = json["stopped_at_s"].as_f64().unwrap();
    assert!((0.0019..0.0021).contains(&at), "stopped at {at} s");
    assert_eq!(
        json["end_s"].as_f64(),
        Some(5.0),
        "the measured window is empty"
    );
}

#[test]
fn event_and_wall_clock_limits_stop_long_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = meshsim(
        &[
            "run",
            "--set",
            "workload.rate_per_s=1e9",
            "--max-events",
            "200000",
            "-q",
            "--out",
            "o",
            "--no-charts",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--max-events 200000 reached"),
        "{}",
        stderr(&out)
    );
    let started = Instant::now();
    let out = meshsim(
        &[
            "run",
            "--set",
            "simulation.duration_s=1e7",
            "--max-wall-s",
            "0.5",
            "-q",
            "--out",
            "w",
            "--no-charts",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--max-wall-s 0.5 reached"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

const SWEEP: [&str; 8] = [
    "sweep",
    "--vary",
    "workload.rate_per_s=100:4000:100",
    "--reps",
    "2",
    "--jobs",
    "1",
    "-q",
];

/// Sends `child` the signal `kill` names with `flag` (`-INT`, `-TERM`).
fn signal(child: &std::process::Child, flag: &str) {
    let kill = Command::new("kill")
        .args([flag, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
}

#[test]
fn an_interrupted_sweep_keeps_its_finished_points_and_resumes_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<&str> = SWEEP.to_vec();
    args.extend(["--no-charts", "--set", "simulation.duration_s=30"]);
    let mut whole = args.clone();
    whole.extend(["--out", "whole"]);
    ok(&meshsim(&whole, dir.path()));

    let mut cut = args.clone();
    cut.extend(["--out", "cut"]);
    let child = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(&cut)
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let points = dir.path().join("cut/points");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_dir(&points).map(|d| d.count()).unwrap_or(0) < 3 {
        assert!(Instant::now() < deadline, "no points written");
        std::thread::sleep(Duration::from_millis(5));
    }
    signal(&child, "-INT");
    let out = child.wait_with_output().unwrap();
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{e}");
    assert!(e.contains("--resume"), "{e}");
    let done = std::fs::read_dir(&points).unwrap().count();
    assert!(done < 40, "the sweep stopped early ({done} points)");
    // What is on disk is valid: points.csv covers the finished points.
    let partial = std::fs::read_to_string(dir.path().join("cut/points.csv")).unwrap();
    assert_eq!(partial.lines().count(), 1 + done * 3);

    let mut resume = cut.clone();
    resume.push("--resume");
    ok(&meshsim(&resume, dir.path()));
    for f in ["points.csv", "runs.csv"] {
        assert_eq!(
            std::fs::read(dir.path().join("whole").join(f)).unwrap(),
            std::fs::read(dir.path().join("cut").join(f)).unwrap(),
            "{f}"
        );
    }
}

/// `timeout` signals its command and then the command's process group: the same SIGTERM twice
/// within microseconds. That is one interruption, not a second press: the run stops cleanly
/// and keeps the results of the simulated time so far.
#[test]
fn a_signal_delivered_twice_at_once_still_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args([
            "run",
            "--no-charts",
            "--set",
            "simulation.duration_s=100000",
            "--out",
            "cut",
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Well into the simulation (which would take half a minute or more).
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, "-TERM");
    signal(&child, "-TERM");
    let out = child.wait_with_output().unwrap();
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{e}");
    assert!(!e.contains("exiting now"), "{e}");
    assert!(e.contains("partial results"), "{e}");
    let summary = std::fs::read_to_string(dir.path().join("cut/summary.csv")).unwrap();
    assert!(summary.lines().count() > 1, "{summary}");
}

/// The built-in model with one line replaced.
fn edited(replace: &str, with: &str) -> String {
    assert!(meshsim::model::BUILTIN_MODEL.contains(replace), "{replace}");
    meshsim::model::BUILTIN_MODEL.replacen(replace, with, 1)
}

fn check_file(dir: &Path, text: &str) -> std::process::Output {
    let path = dir.join("m.toml");
    std::fs::write(&path, text).unwrap();
    meshsim(&["check", path.to_str().unwrap()], dir)
}

#[test]
fn numeric_edge_cases_are_refused_or_handled() {
    let dir = tempfile::tempdir().unwrap();
    let refused = [
        (
            "duration_s = 60     # simulated seconds",
            "duration_s = 1e12",
            "too long",
        ),
        (
            "duration_s = 60     # simulated seconds",
            "duration_s = nan",
            "duration_s",
        ),
        (
            "duration_s = 60     # simulated seconds",
            "duration_s = inf",
            "duration_s",
        ),
        ("rate_per_s = 400", "rate_per_s = -inf", "rate_per_s"),
        // More than one arrival per nanosecond, the clock's tick; the number is shown as
        // written, not as 309 digits.
        (
            "rate_per_s = 400",
            "rate_per_s = 1e308",
            "at most 1e9 requests per second (one a nanosecond, the simulated clock's tick), got 1e308",
        ),
        (
            "bandwidth_mbps = 1000",
            "bandwidth_mbps = 0",
            "omit it for unlimited",
        ),
        (
            "bandwidth_mbps = 1000",
            "bandwidth_mbps = inf",
            "bandwidth_mbps",
        ),
        ("latency_ms = 0.5", "latency_ms = nan", "latency_ms"),
        ("weight = 50", "weight = nan", "weight"),
        ("mean_ms = 3 }", "mean_ms = 1e400 }", "mean_ms"),
        (
            "service_ms = { dist = \"exponential\", mean_ms = 3 }",
            "service_ms = { dist = \"empirical\", samples_ms = [] }",
            "at least one sample",
        ),
        ("instances = 1", "instances = 99999999999", "instances"),
        (
            "workers = 2",
            "workers = 1e6",
            "`workers` is a whole number",
        ),
    ];
    for (from, to, needle) in refused {
        let out = check_file(dir.path(), &edited(from, to));
        assert_eq!(
            out.status.code(),
            Some(2),
            "`{to}` should be refused: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains(needle), "`{to}`: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"));
    }
    // Legal extremes run: no arrivals at all, no latency, enormous instance counts.
    for (from, to) in [
        ("rate_per_s = 400", "rate_per_s = 1e-9"),
        ("latency_ms = 0.5", "latency_ms = 0"),
        ("instances = 1", "instances = 1000000"),
        ("mean_ms = 3 }", "mean_ms = 1e300 }"),
    ] {
        let path = dir.path().join("m.toml");
        std::fs::write(&path, edited(from, to)).unwrap();
        let out = meshsim(
            &[
                "run",
                path.to_str().unwrap(),
                "--set",
                "simulation.duration_s=6",
                "-q",
                "--out",
                "o",
                "--no-charts",
            ],
            dir.path(),
        );
        assert!(out.status.success(), "`{to}`: {}", stderr(&out));
    }
}

#[test]
fn regression_corpus_of_tricky_inputs_never_panics() {
    let corpus = [
        "",
        "\u{0}",
        "[",
        "name = \"x\"",
        "[simulation]\nduration_s = 1\n",
        "[simulation]\nduration_s = 1\n[workload]\ntype = \"open\"\nrate_per_s = 1\n[gateway]\n[services]\n",
        "[simulation]\nduration_s = 1\n[workload]\ntype = \"closed\"\nusers = 0\n[[workload.mix]]\nroute = \"a.b\"\n[gateway]\n[services.a.endpoints.b]\nservice_ms = 1\n",
        "[services.a.endpoints.b]\nservice_ms = { dist = \"pareto\", shape = 0, scale_ms = 0 }\n",
        "links = 5",
        "[links.x]\nbetween = []\n",
        "[sweep]\nvary = { \"a\" = {} }\n",
        "simulation = [1, 2]",
        "[[workload.mix]]\n[[workload.mix]]\nroute = 7\n",
    ];
    for text in corpus {
        let r = std::panic::catch_unwind(|| {
            meshsim::model::load_str(text, "corpus.toml", Path::new("."), &[])
        });
        assert!(r.is_ok(), "panicked on {text:?}");
        assert!(r.unwrap().is_err(), "{text:?} is not a valid model");
    }
}

/// Every resilience mechanism and fault at once, on blocking and async services, for the
/// mutation property below.
const EVERYTHING: &str = r#"
[simulation]
duration_s = 3
seed = 3
[workload]
type = "open"
rate_per_s = 3000
deadline_ms = 40
propagate_deadline = true
pattern = { shape = "spike", at_s = 1, duration_s = 0.5, rate_per_s = 9000 }
[[workload.mix]]
route = "order.create"
[gateway]
workers = 8
rate_limit = { rate_per_s = 5000, burst = 100 }
max_concurrency = 400
[gateway.client]
timeout_ms = 30
cancel_on_timeout = true
retry = { max_attempts = 3, base_ms = 1, jitter = "equal", budget_percent = 50 }
hedge_after_ms = 5
circuit_breaker = { failure_rate = 0.5, window = 20, min_calls = 10, open_ms = 100, probe_calls = 2 }
[services.order]
instances = 2
workers = 2
blocking = true
queue_capacity = 50
autoscale = { metric = "queue_length", target = 2, interval_s = 0.2, min = 1, max = 4, cold_start_s = 0.1 }
[services.order.client]
timeout_ms = 10
cancel_on_timeout = true
bulkhead = 20
retry = { max_attempts = 2, base_ms = 0, on = ["timeout"] }
[services.order.client.to.user]
circuit_breaker = { consecutive_failures = 3, open_ms = 50 }
[services.order.endpoints.create]
service_ms = { dist = "exponential", mean_ms = 1 }
calls = [["user.get"], ["stock.take", "user.get"]]
error_probability = 0.05
[services.user]
instances = 3
workers = 2
load_balancer = "least_outstanding"
[services.user.endpoints.get]
service_ms = { dist = "exponential", mean_ms = 2 }
[services.stock]
load_balancer = "power_of_two"
instances = 2
[services.stock.endpoints.take]
service_ms = 0.5
[links.order_user]
between = ["order", "user"]
latency_ms = 0.2
bandwidth_mbps = 100
loss = 0.01
rto_ms = 5
[[faults]]
kind = "crash"
service = "user"
instance = 1
at_s = 0.5
duration_s = 1
[[faults]]
kind = "crash"
service = "order"
at_s = 2
duration_s = 0.2
[[faults]]
kind = "slowdown"
service = "stock"
at_s = 0.2
duration_s = 2
factor = 20
[[faults]]
kind = "partition"
link = "order_user"
at_s = 1.5
duration_s = 0.3
[[faults]]
kind = "link_degradation"
link = "order_user"
at_s = 0.1
duration_s = 2
extra_latency_ms = 3
loss = 0.2
"#;

#[test]
fn every_mechanism_at_once_runs_to_a_consistent_end() {
    let model = meshsim::model::load_str(EVERYTHING, "everything.toml", Path::new("."), &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let r = meshsim::sim::simulate(&model);
    assert!(r.stopped.is_none(), "{:?}", r.stopped);
    let kinds: u64 = r.all.errors_by_kind.iter().sum();
    assert_eq!(kinds, r.all.errors);
    assert_eq!(
        r.all.requests,
        r.all.completed + r.all.errors + r.all.in_flight_at_end()
    );
    // The trouble the model sets up shows in several kinds of error.
    let seen = r.all.errors_by_kind.iter().filter(|&&n| n > 0).count();
    assert!(seen >= 4, "{:?}", r.all.errors_by_kind);
}

/// Replaces the `k`-th value (right of an `=`) in the built-in model with `value`.
fn mutate(k: usize, value: &str) -> String {
    mutate_text(meshsim::model::BUILTIN_MODEL, k, value)
}

/// Replaces the `k`-th value (right of an `=`) in `text` with `value`.
fn mutate_text(text: &str, k: usize, value: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let valued: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains('=') && !lines[i].trim_start().starts_with('#'))
        .collect();
    let target = valued[k % valued.len()];
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == target {
                format!("{} = {value}", l.split('=').next().unwrap().trim())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

proptest! {
    // 256 cases in `cargo test`; a longer fuzzing campaign with PROPTEST_CASES=100000.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    /// Arbitrary text is refused with an error, never a panic.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = meshsim::model::load_str(&text, "fuzz.toml", Path::new("."), &[]);
    }

    /// Any value of the built-in model replaced by a number, string, table or array either loads
    /// (and then simulates without panicking) or is refused.
    #[test]
    fn mutated_models_load_and_run_or_are_refused(
        k in 0usize..64,
        value in prop_oneof![
            any::<f64>().prop_map(|x| format!("{x:e}")),
            any::<i64>().prop_map(|x| x.to_string()),
            prop::sample::select(vec!["0", "-1", "nan", "inf", "1e308", "\"\"", "\"gateway\"", "[]", "{}", "true",
                "{ dist = \"lognormal\", mean_ms = 0.001, cv = 50 }", "{ dist = \"pareto\", shape = 0.5, scale_ms = 1 }",
                "[[\"user.get_user\"]]", "[\"gateway\", \"gateway\"]"]).prop_map(String::from),
        ],
    ) {
        let text = mutate(k, &value);
        if let Ok(mut model) = meshsim::model::load_str(&text, "fuzz.toml", Path::new("."), &[]) {
            model.duration = meshsim::engine::SimTime::from_secs_f64(model.duration.as_secs_f64().min(2.0));
            model.warmup = meshsim::engine::SimTime::ZERO;
            let options = meshsim::sim::Options {
                breakdown: true,
                timeseries: None,
                limits: meshsim::sim::Limits { max_in_flight: 50_000, max_events: Some(2_000_000), max_wall_s: Some(5.0) },
                ..Default::default()
            };
            let _ = meshsim::sim::simulate_with(&model, &options);
            let _ = meshsim::analysis::analyze(&model);
        }
    }

    /// The same for a model using every resilience mechanism and fault: whatever loads runs
    /// without panicking (no counter underflows, no stale handle used).
    #[test]
    fn mutated_resilience_models_load_and_run_or_are_refused(
        k in 0usize..120,
        value in prop_oneof![
            any::<f64>().prop_map(|x| format!("{x:e}")),
            (0i64..6).prop_map(|x| x.to_string()),
            (0u32..2000).prop_map(|x| format!("{}", f64::from(x) / 100.0)),
            prop::sample::select(vec!["0", "-1", "1", "2", "0.5", "true", "false", "nan", "\"\"", "[]", "{}",
                "\"user\"", "\"order_user\"", "\"constant\"", "\"none\"", "\"crash\"", "\"partition\"",
                "{ max_attempts = 4 }", "{ consecutive_failures = 1, open_ms = 1 }"]).prop_map(String::from),
        ],
    ) {
        let text = mutate_text(EVERYTHING, k, &value);
        if let Ok(mut model) = meshsim::model::load_str(&text, "fuzz.toml", Path::new("."), &[]) {
            model.duration = meshsim::engine::SimTime::from_secs_f64(model.duration.as_secs_f64().min(3.0));
            let options = meshsim::sim::Options {
                breakdown: true,
                timeseries: Some(meshsim::engine::SimTime::from_secs_f64(0.5)),
                limits: meshsim::sim::Limits { max_in_flight: 50_000, max_events: Some(2_000_000), max_wall_s: Some(5.0) },
                ..Default::default()
            };
            let r = meshsim::sim::simulate_with(&model, &options);
            prop_assert_eq!(r.all.errors_by_kind.iter().sum::<u64>(), r.all.errors);
            let _ = meshsim::analysis::analyze(&model);
        }
    }

    /// `--set` and `--vary` arguments of any shape are parsed or refused, never a panic.
    #[test]
    fn arbitrary_set_and_vary_specs_never_panic(arg in "\\PC{0,60}") {
        let _ = meshsim::sweep::parse_vary(&arg);
        if let Ok(o) = arg.parse::<meshsim::model::Override>() {
            let _ = meshsim::model::load_builtin(&[o]);
        }
    }
}

/// Unmounts a test file system when dropped.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_leaves_no_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = dir.path().join("tiny");
    std::fs::create_dir(&tiny).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&tiny)
        .output();
    if !mounted.as_ref().is_ok_and(|o| o.status.success()) {
        // Mounting needs root; CI runs as root on machines where this works.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI could not mount a tmpfs: {mounted:?}"
        );
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    let _guard = Mount(tiny.clone());
    let out = meshsim(
        &[
            "run",
            "--set",
            "simulation.duration_s=20",
            "--out",
            "o",
            "-q",
        ],
        &tiny,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("No space left on device") && e.contains("o/"),
        "{e}"
    );
    // Every file there is whole (it was renamed into place complete), and no temporary is left.
    for entry in std::fs::read_dir(tiny.join("o")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.ends_with(".tmp"),
            "temporary file left behind: {name}"
        );
        if name.ends_with(".csv") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.ends_with('\n') && text.lines().count() >= 2,
                "{name} is truncated"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    /// Trace files of the three formats, cut, with bytes changed or inserted anywhere: imported
    /// or refused with an error, never a panic; and an imported model is one meshsim accepts.
    #[test]
    fn mutated_trace_files_are_imported_or_refused(
        which in 0usize..3,
        cut in 0.0f64..1.0,
        edits in prop::collection::vec((0.0f64..1.0, any::<u8>(), any::<bool>()), 0..6),
    ) {
        let corpus = ["fuzz/corpus/trace_import/seed-otlp.json", "fuzz/corpus/trace_import/seed-jaeger.json", "fuzz/corpus/trace_import/seed-zipkin.json"];
        let mut bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(corpus[which])).unwrap();
        for (at, b, insert) in edits {
            let i = ((bytes.len() as f64) * at) as usize;
            if insert || i >= bytes.len() {
                bytes.insert(i.min(bytes.len()), b);
            } else {
                bytes[i] = b;
            }
        }
        if cut < 0.3 {
            bytes.truncate(((bytes.len() as f64) * cut / 0.3) as usize);
        }
        if let Ok(imported) = meshsim::traces::import::import_bytes("fuzz.json", &bytes) {
            let dir = tempfile::tempdir().unwrap();
            for (file, data) in &imported.written.files {
                let path = dir.path().join(file);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, data).unwrap();
            }
            let loaded = meshsim::model::load_str(&imported.written.text, "imported.toml", dir.path(), &[]);
            prop_assert!(loaded.is_ok(), "{}\n{:?}", imported.written.text, loaded.err());
        }
    }
}
