//! The `meshsim` binary as a user drives it: exit codes, error messages, files written.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::meshsim;

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A short version of the built-in model with `edit` applied to its text (a line replaced).
fn model_with(dir: &Path, replace: &str, with: &str) -> PathBuf {
    let base = meshsim::model::BUILTIN_MODEL
        .replace("duration_s = 60     # simulated seconds", "duration_s = 3")
        .replace(
            "warmup_s = 5        # the first 5 s are left out of the statistics",
            "warmup_s = 1",
        );
    assert!(
        base.contains(replace),
        "test edit `{replace}` matches nothing"
    );
    let path = dir.join("model.toml");
    std::fs::write(&path, base.replacen(replace, with, 1)).unwrap();
    path
}

/// Runs `check` on the edited model, expects exit code 2 and every `needles` in stderr.
fn assert_rejected(replace: &str, with: &str, needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = model_with(dir.path(), replace, with);
    let out = meshsim(&["check", path.to_str().unwrap()], dir.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "`{with}`: expected exit 2\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    for n in needles {
        assert!(
            stderr.contains(n),
            "`{with}`: stderr lacks `{n}`:\n{stderr}"
        );
    }
}

#[test]
fn run_without_arguments_simulates_the_builtin_model_and_writes_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = meshsim(
        &[
            "run",
            "--set",
            "simulation.duration_s=5",
            "--set",
            "simulation.warmup_s=1",
        ],
        dir.path(),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("user.get_user") && stdout.contains("utilisation"),
        "{stdout}"
    );
    let base = dir.path().join("output/gateway-user-order");
    for f in [
        "summary.csv",
        "services.csv",
        "links.csv",
        "edges.csv",
        "run.json",
    ] {
        assert!(base.join(f).is_file(), "{f} missing");
    }
    let summary = std::fs::read_to_string(base.join("summary.csv")).unwrap();
    let header = summary.lines().next().unwrap();
    assert_eq!(
        header,
        "route,requests,completed,errors,in_flight_at_end,backlog_share,saturated,throughput_rps,error_rate,mean_ms,p50_ms,p90_ms,p99_ms,p99_with_backlog_ms,p999_ms,max_ms,errors_rejected,errors_timeout,errors_circuit_open,errors_rate_limited,errors_crashed,errors_bulkhead,errors_network,errors_failed"
    );
    assert_eq!(
        summary.lines().count(),
        4,
        "two routes and `all`:\n{summary}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(base.join("run.json")).unwrap()).unwrap();
    assert_eq!(json["model"], "gateway-user-order");
    assert!(json["events_processed"].as_u64().unwrap() > 0);
    assert_eq!(json["model_sha256"].as_str().unwrap().len(), 64);
}

/// Identical runs write identical files, whether or not the binary restarted itself with its
/// heap in huge pages (`engine::restart_with_huge_heap`, turned off in the second run): the
/// restart keeps every argument and the working directory, and changes nothing computed.
#[test]
fn same_model_and_seed_give_byte_identical_csv() {
    let dir = tempfile::tempdir().unwrap();
    let model = repo().join("models/seed.toml");
    let m = model.to_str().unwrap();
    for (out, restart) in [("a", true), ("b", false)] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_meshsim"));
        command.current_dir(dir.path()).args([
            "run",
            m,
            "--seed",
            "7",
            "--set",
            "simulation.duration_s=10",
            "--out",
            out,
            "-q",
        ]);
        command.env_remove(meshsim::engine::HUGE_HEAP_VAR);
        if !restart {
            command.env(meshsim::engine::HUGE_HEAP_VAR, "0");
        }
        let o = command.output().expect("meshsim runs");
        assert!(o.status.success(), "{:?}", text(&o));
    }
    for f in ["summary.csv", "services.csv", "links.csv"] {
        let a = std::fs::read(dir.path().join("a").join(f)).unwrap();
        let b = std::fs::read(dir.path().join("b").join(f)).unwrap();
        assert_eq!(a, b, "{f} differs between identical runs");
    }
}

#[test]
fn seed_toml_is_exactly_the_builtin_model_and_init_writes_it() {
    let file = std::fs::read_to_string(repo().join("models/seed.toml")).unwrap();
    assert_eq!(file, meshsim::model::BUILTIN_MODEL);
    let dir = tempfile::tempdir().unwrap();
    let out = meshsim(&["init", "mine.toml"], dir.path());
    assert!(out.status.success());
    // The built-in model, named after the file so that its results do not land in the
    // built-in model's output folder, under the line that points editors at its schema.
    let written = std::fs::read_to_string(dir.path().join("mine.toml")).unwrap();
    assert_eq!(
        written,
        format!(
            "#:schema ./meshsim.schema.json\n{}",
            file.replacen("name = \"gateway-user-order\"", "name = \"mine\"", 1)
        )
    );
    assert_ne!(written, file);
    // A second init refuses to overwrite.
    let out = meshsim(&["init", "mine.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("--force"));
}

#[test]
fn check_prints_utilisation_and_warns_about_saturation() {
    let dir = tempfile::tempdir().unwrap();
    let out = meshsim(&["check"], dir.path());
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(
        stdout.contains("40.0%") && stdout.contains("30.0%"),
        "gateway 40%, services 30%:\n{stdout}"
    );
    let out = meshsim(&["check", "--set", "workload.rate_per_s=1600"], dir.path());
    let (_, stderr) = text(&out);
    assert!(
        out.status.success(),
        "saturation is a warning, not an error"
    );
    assert!(
        stderr.contains("warning: `user` is saturated") && stderr.contains("1.20"),
        "{stderr}"
    );
}

#[test]
fn saturated_models_still_run_and_reject_at_queue_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let out = meshsim(
        &[
            "run",
            "--set",
            "workload.rate_per_s=1400",
            "--set",
            "gateway.workers=2",
            "--set",
            "services.user.queue_capacity=20",
            "--set",
            "simulation.duration_s=10",
            "--out",
            "o",
        ],
        dir.path(),
    );
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("`user` is saturated") && stderr.contains("20 calls per instance"),
        "{stderr}"
    );
    let services = std::fs::read_to_string(dir.path().join("o/services.csv")).unwrap();
    let user: Vec<&str> = services
        .lines()
        .find(|l| l.starts_with("user,"))
        .unwrap()
        .split(',')
        .collect();
    assert!(
        user[7].parse::<u64>().unwrap() > 0,
        "user rejects calls: {services}"
    );
    assert!(
        user[6].parse::<u64>().unwrap() <= 20,
        "queue never exceeds its capacity: {services}"
    );
}

#[test]
fn every_example_model_is_valid_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("models")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        seen += 1;
        let p = path.to_str().unwrap();
        let check = meshsim(&["check", p], dir.path());
        assert!(check.status.success(), "{p}: {:?}", text(&check));
        let run = meshsim(
            &[
                "run",
                p,
                "--set",
                "simulation.duration_s=12",
                "--out",
                "o",
                "-q",
            ],
            dir.path(),
        );
        assert!(run.status.success(), "{p}: {:?}", text(&run));
        let summary = std::fs::read_to_string(dir.path().join("o/summary.csv")).unwrap();
        let all: Vec<&str> = summary.lines().last().unwrap().split(',').collect();
        assert!(all[2].parse::<u64>().unwrap() > 0, "{p} completes requests");
    }
    assert!(seen >= 3, "models/ holds the example models");
}

#[test]
fn unknown_fields_are_located_and_the_nearest_name_suggested() {
    assert_rejected(
        "workers = 2",
        "wrokers = 2",
        &[
            "unknown field `wrokers`",
            "model.toml:",
            "did you mean `workers`?",
        ],
    );
    assert_rejected(
        "[gateway]",
        "[gatewya]",
        &["unknown field `gatewya`", "did you mean `gateway`?"],
    );
}

#[test]
fn wrong_types_and_syntax_errors_are_located() {
    assert_rejected(
        "workers = 2",
        "workers = \"two\"",
        &[
            "model.toml:",
            "`workers` is a whole number, e.g. `workers = 4`; found string \"two\"",
        ],
    );
    assert_rejected("rate_per_s = 400", "rate_per_s = = 400", &["model.toml:"]);
    assert_rejected(
        "load_balancer = \"round_robin\"",
        "load_balancer = \"fastest\"",
        &["unknown variant", "round_robin"],
    );
}

#[test]
fn out_of_range_numbers_are_refused_with_what_is_allowed() {
    assert_rejected(
        "rate_per_s = 400",
        "rate_per_s = -5",
        &["workload.rate_per_s", "> 0", "model.toml:22:14"],
    );
    assert_rejected(
        "rate_per_s = 400",
        "rate_per_s = 0",
        &["workload.rate_per_s"],
    );
    assert_rejected(
        "duration_s = 3",
        "duration_s = 0",
        &["simulation.duration_s"],
    );
    assert_rejected(
        "workers = 2",
        "workers = 0",
        &["services.user.workers", "≥ 1"],
    );
    assert_rejected(
        "instances = 1",
        "instances = -1",
        &["services.user.instances"],
    );
    assert_rejected(
        "bandwidth_mbps = 1000",
        "bandwidth_mbps = 1000\nloss = 1.5",
        &["loss", "[0, 1]"],
    );
    assert_rejected(
        "warmup_s = 1",
        "warmup_s = 3",
        &["warmup_s", "shorter than duration_s"],
    );
    assert_rejected(
        "mean_ms = 3 }",
        "mean_ms = -3 }",
        &["service_ms", "mean_ms"],
    );
    assert_rejected("mean_ms = 3 }", "mean_ms = nan }", &["mean_ms"]);
    assert_rejected(
        "{ dist = \"exponential\", mean_ms = 1 }",
        "{ dist = \"expo\", mean_ms = 1 }",
        &["unknown distribution", "exponential"],
    );
}

#[test]
fn unknown_names_are_refused_with_the_known_ones() {
    assert_rejected(
        "route = \"user.get_user\"",
        "route = \"user.get_usr\"",
        &[
            "unknown endpoint `user.get_usr`",
            "did you mean `user.get_user`?",
        ],
    );
    assert_rejected(
        "route = \"user.get_user\"",
        "route = \"usr.get_user\"",
        &["unknown endpoint"],
    );
    assert_rejected(
        "between = [\"gateway\", \"user\"]",
        "between = [\"gateway\", \"users\"]",
        &["unknown node `users`", "did you mean `user`?"],
    );
    assert_rejected(
        "response_bytes = 2048",
        "response_bytes = 2048\ncalls = [[\"payment.charge\"]]",
        &["unknown service `payment`"],
    );
}

#[test]
fn call_cycles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = model_with(
        dir.path(),
        "response_bytes = 2048",
        "response_bytes = 2048\ncalls = [[\"order.create_order\"]]",
    );
    let text_ = std::fs::read_to_string(&path).unwrap();
    // Now user calls order; make order call user too.
    let idx = text_.rfind("response_bytes = 2048").unwrap();
    let cyclic = format!(
        "{}response_bytes = 2048\ncalls = [[\"user.get_user\"]]{}",
        &text_[..idx],
        &text_[idx + "response_bytes = 2048".len()..]
    );
    std::fs::write(&path, cyclic).unwrap();
    let out = meshsim(&["check", path.to_str().unwrap()], dir.path());
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("call cycle: user → order → user"),
        "{stderr}"
    );
    // The error points at the `calls` line that closes the cycle, not at a table header.
    assert!(
        stderr.contains("services.order.endpoints.create_order.calls")
            && stderr.contains("| calls = [[\"user.get_user\"]]"),
        "{stderr}"
    );
}

#[test]
fn missing_tables_say_what_is_missing_and_show_the_smallest_fix() {
    let dir = tempfile::tempdir().unwrap();
    // No [simulation]: the message names the table, shows the fix, and does not point at line
    // 1 (a comment).
    let path = dir.path().join("m.toml");
    let no_simulation = "# my model\n[workload]\ntype = \"open\"\nrate_per_s = 5\n[[workload.mix]]\nroute = \"a.b\"\n[gateway]\n[services.a.endpoints.b]\nservice_ms = 1\n";
    std::fs::write(&path, no_simulation).unwrap();
    let (_, stderr) = text(&meshsim(&["check", "m.toml"], dir.path()));
    assert!(
        stderr.contains("the model has no `[simulation]` table, which every model needs"),
        "{stderr}"
    );
    assert!(stderr.contains("[simulation]\nduration_s = 60"), "{stderr}");
    assert!(!stderr.contains("m.toml:1:1"), "{stderr}");
    // A service without endpoints: the fix names the service.
    let no_endpoints = "[simulation]\nduration_s = 10\n[workload]\ntype = \"open\"\nrate_per_s = 5\n[[workload.mix]]\nroute = \"a.b\"\n[gateway]\n[services.a]\nworkers = 2\n";
    std::fs::write(&path, no_endpoints).unwrap();
    let out = meshsim(&["check", "m.toml"], dir.path());
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("`[services.a]` has no `endpoints`, which it needs"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[services.a.endpoints.ENDPOINT]\nservice_ms = 5"),
        "{stderr}"
    );
}

#[test]
fn did_you_mean_prefers_the_field_the_name_begins() {
    assert_rejected(
        "rate_per_s = 400",
        "rate = 400",
        &["did you mean `rate_per_s`?"],
    );
}

#[test]
fn a_service_nothing_calls_gets_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = model_with(
        dir.path(),
        "[links.gateway_user]",
        "[services.lonely.endpoints.x]\nservice_ms = 1\n\n[links.gateway_user]",
    );
    let out = meshsim(&["check", path.to_str().unwrap()], dir.path());
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: service `lonely` is never called"),
        "{stderr}"
    );
    assert!(!stderr.contains("`user` is never called"), "{stderr}");
}

#[test]
fn an_output_folder_that_is_a_file_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("taken"), "mine").unwrap();
    let seed = repo().join("models/seed.toml");
    let seed = seed.to_str().unwrap();
    for args in [
        vec!["run"],
        vec!["sweep", "--vary", "workload.rate_per_s=100,200"],
        vec!["capacity", "--slo", "p99<=50ms"],
        vec!["rightsize", "--slo", "p99<=50ms"],
        vec!["compare", seed, seed, "--slo", "p99<=50ms"],
    ] {
        let mut args = args.clone();
        args.extend(["--out", "taken"]);
        let started = std::time::Instant::now();
        let out = meshsim(&args, dir.path());
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("--out `taken` is a file, not a folder"),
            "{args:?}: {stderr}"
        );
        assert!(
            started.elapsed().as_secs_f64() < 2.0,
            "{args:?} simulated first"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("taken")).unwrap(),
            "mine"
        );
    }
}

#[test]
fn a_time_series_interval_needs_a_unit() {
    let dir = tempfile::tempdir().unwrap();
    let out = meshsim(&["run", "--timeseries", "1"], dir.path());
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("`1` has no unit"), "{stderr}");
}

#[test]
fn empty_or_zero_weight_mixes_are_refused() {
    assert_rejected(
        "weight = 50\n\n[[workload.mix]]\nroute = \"order.create_order\"\nweight = 50",
        "weight = 0\n\n[[workload.mix]]\nroute = \"order.create_order\"\nweight = 0",
        &["add up to zero"],
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.toml");
    let no_mix = meshsim::model::BUILTIN_MODEL
        .replace(
            "[[workload.mix]]\nroute = \"user.get_user\"\nweight = 50\n",
            "",
        )
        .replace(
            "[[workload.mix]]\nroute = \"order.create_order\"\nweight = 50\n",
            "",
        );
    std::fs::write(&path, no_mix).unwrap();
    let out = meshsim(&["check", path.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("no mix"), "{}", text(&out).1);
}

#[test]
fn unreadable_files_and_bad_arguments_exit_with_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = meshsim(&["run", "no-such-model.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out)
            .1
            .contains("cannot read model file `no-such-model.toml`")
    );
    let out = meshsim(&["run", "--set", "services.user.wrokers=3"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out)
            .1
            .contains("did you mean `services.user.workers`?"),
        "{}",
        text(&out).1
    );
    let out = meshsim(&["run", "--set", "nonsense"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let out = meshsim(&["frobnicate"], dir.path());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn empirical_files_with_junk_rows_are_refused_with_the_row() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lat.csv"), "ms\n1.5\n2.5\nabc\n").unwrap();
    let path = model_with(
        dir.path(),
        "mean_ms = 3 }",
        "mean_ms = 3 }\n# replaced below",
    );
    let t = std::fs::read_to_string(&path).unwrap().replacen(
        "service_ms = { dist = \"exponential\", mean_ms = 3 }",
        "service_ms = { dist = \"empirical\", file = \"lat.csv\" }",
        1,
    );
    std::fs::write(&path, t).unwrap();
    let out = meshsim(&["check", path.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("lat.csv:4: `abc` is not a number"),
        "{}",
        text(&out).1
    );
}

#[test]
fn unwritable_output_is_a_runtime_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blocker"), "a file, not a folder").unwrap();
    let out = meshsim(
        &[
            "run",
            "--set",
            "simulation.duration_s=2",
            "--set",
            "simulation.warmup_s=1",
            "--out",
            "blocker/sub",
            "-q",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("blocker/sub"), "{}", text(&out).1);
}

#[test]
fn analyze_prints_theory_beside_the_simulation() {
    let dir = tempfile::tempdir().unwrap();
    let out = meshsim(
        &[
            "analyze",
            "--simulate",
            "--reps",
            "3",
            "--set",
            "simulation.duration_s=10",
        ],
        dir.path(),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("open network (Jackson"), "{stdout}");
    assert!(
        stdout.contains("mean response ms") && stdout.contains("5.9839"),
        "{stdout}"
    );
    assert!(
        stdout.contains("95% CI") && stdout.contains("approx: link serialisation as M/D/1"),
        "{stdout}"
    );
    let out = meshsim(&["analyze", "--reps", "1"], dir.path());
    assert_eq!(
        out.status.code(),
        Some(2),
        "one replication gives no interval"
    );
}

#[test]
fn outputs_read_cleanly_in_spreadsheets_and_the_report_keeps_its_command() {
    let dir = tempfile::tempdir().unwrap();
    let model = repo().join("models/circuit-breaker.toml");
    let out = meshsim(
        &[
            "run",
            model.to_str().unwrap(),
            "--timeseries",
            "1s",
            "-q",
            "--out",
            "r",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out).1);
    let r = dir.path().join("r");
    // No `->` in any column name: a breaker's column is breaker_open_<from>_to_<to>.
    let ts = std::fs::read_to_string(r.join("timeseries.csv")).unwrap();
    let header = ts.lines().next().unwrap();
    assert!(!header.contains("->"), "{header}");
    assert!(header.contains("breaker_open_order_to_user"), "{header}");
    // Link hops of the breakdown in link/from/to columns, as in links.csv.
    let b = std::fs::read_to_string(r.join("breakdown.csv")).unwrap();
    assert!(
        b.starts_with("route,service,link,from,to,component,mean_ms,p99_requests_mean_ms\n"),
        "{b}"
    );
    assert!(b.contains(",,order_user,order,user,"), "{b}");
    assert!(!b.contains('→'), "{b}");
    // The report ranks the hops, and `plot` keeps the command that made the data.
    let html = std::fs::read_to_string(r.join("report.html")).unwrap();
    assert!(
        html.contains("Which hop is to blame"),
        "report lacks the hop ranking"
    );
    let out = meshsim(&["plot", "r"], dir.path());
    assert!(out.status.success(), "{}", text(&out).1);
    let html = std::fs::read_to_string(r.join("report.html")).unwrap();
    assert!(
        html.contains("circuit-breaker.toml --timeseries 1s -q --out r   (charts redrawn by: "),
        "the report lost the command that made the data"
    );
}

/// A model of hundreds of services prints the busiest few to the terminal, says how many it
/// left out and where they are, and writes every one to its CSV files.
#[test]
fn a_large_model_prints_the_largest_rows_and_writes_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let generated = meshsim(
        &[
            "generate",
            "--services",
            "200",
            "--routes",
            "60",
            "--rate",
            "2000",
            "--duration",
            "2",
            "--out",
            "big.toml",
        ],
        dir.path(),
    );
    assert!(generated.status.success(), "{}", text(&generated).1);

    let out = meshsim(&["analyze", "big.toml", "--out", "a"], dir.path());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(
            "… and 40 more routes (the 20 with the most latency shown; analysis.csv has all 60)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("… and 181 more services (the 20 with the most utilisation (then arrivals) shown; analysis.csv has all 201)"),
        "{stdout}"
    );
    // The CSV has every number; the terminal the 20 routes with the longest mean response.
    let mut csv = csv::Reader::from_path(dir.path().join("a/analysis.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    let of = |kind: &str, quantity: &str| -> Vec<(String, f64)> {
        rows.iter()
            .filter(|r| &r[0] == kind && &r[4] == quantity)
            .map(|r| (r[1].to_string(), r[5].parse().unwrap()))
            .collect()
    };
    let mut routes = of("route", "mean_response_ms");
    assert_eq!(routes.len(), 60);
    assert_eq!(of("service", "mean_wait_ms").len(), 201);
    assert!(of("link", "mean_delay_ms").len() > 40);
    routes.sort_by(|a, b| b.1.total_cmp(&a.1));
    let printed = |name: &str| stdout.lines().any(|l| l.starts_with(&format!("{name} ")));
    for (i, (name, _)) in routes.iter().enumerate() {
        assert_eq!(printed(name), i < 20, "route {name}, {i}th by latency");
    }

    let out = meshsim(
        &["run", "big.toml", "--no-charts", "--out", "r"],
        dir.path(),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(
            "… and 40 more routes (the 20 with the most requests shown; summary.csv has all 60)"
        ),
        "{stdout}"
    );
    let summary = std::fs::read_to_string(dir.path().join("r/summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 1 + 60 + 1, "header, routes, all");
}

/// `import` writes a samples file per endpoint, all flushed together: a system of hundreds of
/// endpoints imports under a limit of 64 open files (a user's is often 1,024), every file in place.
#[test]
fn an_import_of_more_files_than_may_be_open_at_once_writes_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let args = "generate --services 150 --routes 40 --rate 500 --duration 2 --out g.toml";
    let generated = meshsim(&args.split(' ').collect::<Vec<_>>(), dir.path());
    assert!(generated.status.success(), "{}", text(&generated).1);
    let traced = meshsim(
        &[
            "run",
            "g.toml",
            "--traces",
            "1",
            "--no-charts",
            "-q",
            "--out",
            "t",
        ],
        dir.path(),
    );
    assert!(traced.status.success(), "{}", text(&traced).1);
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            &format!(
                "ulimit -n 64 && '{}' import t/traces.json --out i.toml",
                env!("CARGO_BIN_EXE_meshsim")
            ),
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let files = std::fs::read_dir(dir.path().join("i-data"))
        .unwrap()
        .count();
    assert!(files > 100, "{files} samples files");
    assert!(
        stdout.contains(&format!("{files} samples files")),
        "{stdout}"
    );
}
