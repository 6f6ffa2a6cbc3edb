//! `meshsim predict`: a model held against a real system's measurements. Measurements of a
//! system the model describes agree with its prediction within their uncertainty; routes match
//! by name or by the traces' endpoint name; bad files are refused with file and line; the
//! saturation rate counts blocking workers held for their calls. And `import` of traces whose
//! clients are traced (a load generator's spans) models the client hop as a link.

mod common;
use common::*;
use std::fmt::Write as _;

/// A small deterministic generator (xorshift*), so the synthetic measurements need no crate.
struct Rng(u64);
impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.uniform().ln()
    }
}

/// What a load generator would record from a real M/M/1 server (Lindley's recursion): Poisson
/// arrivals at `rate` for `seconds`, exponential service of mean `service_ms`.
fn mm1_measurements(out: &mut String, rate: f64, seconds: f64, service_ms: f64, seed: u64) {
    let mut rng = Rng(seed);
    let (mut t, mut free_at) = (0.0f64, 0.0f64);
    loop {
        t += rng.exponential(1.0 / rate);
        if t > seconds {
            break;
        }
        let start = free_at.max(t);
        free_at = start + rng.exponential(service_ms / 1e3);
        let latency_ms = (free_at - t) * 1e3;
        writeln!(out, "{rate},GET /items,{t:.6},{latency_ms:.4},200").unwrap();
    }
}

const MM1: &str = r#"
[simulation]
duration_s = 200
warmup_s = 10
[workload]
type = "open"
rate_per_s = 10
[[workload.mix]]
route = "api.GET__items"
[gateway]
[services.api]
[services.api.endpoints.GET__items]
service_ms = { dist = "exponential", mean_ms = 10 }
"#;

fn rows(csv: &str) -> Vec<Vec<String>> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// Runs `meshsim predict` of the M/M/1 model against `measured` (the CSV's rows) in a fresh
/// folder, with `args` after the measured file and its output in `cmp/`; the folder and what
/// it printed.
fn predict_mm1(measured: &str, args: &[&str]) -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("model.toml"), MM1).unwrap();
    let csv = format!("rate_rps,route,scheduled_s,latency_ms,status\n{measured}");
    std::fs::write(dir.join("measured.csv"), csv).unwrap();
    let mut all = vec![
        "predict",
        "model.toml",
        "--measured",
        "measured.csv",
        "--out",
        "cmp",
    ];
    all.extend_from_slice(args);
    let out = ok(&meshsim(&all, dir));
    (tmp, out)
}

/// Measurements of an M/M/1 server at 50% and 75% load agree with the M/M/1 model's prediction:
/// for every metric of both loads, the difference is within four standard errors of the two
/// uncertainties together (measured by batch means, predicted over replications).
#[test]
fn measurements_of_the_system_a_model_describes_agree_with_its_prediction() {
    let mut csv = String::new();
    mm1_measurements(&mut csv, 50.0, 300.0, 10.0, 7);
    mm1_measurements(&mut csv, 75.0, 300.0, 10.0, 8);
    let (tmp, _) = predict_mm1(
        &csv,
        &["--warmup-s", "10", "--reps", "8", "--no-charts", "-q"],
    );
    let dir = tmp.path();
    let text = std::fs::read_to_string(dir.join("cmp/reality.csv")).unwrap();
    assert!(text.starts_with(
        "rate_rps,route,metric,measured,predicted,predicted_ci95,error,measured_ci95,measured_requests\n"
    ));
    let rows = rows(&text);
    // Two loads × (the route and all) × five metrics.
    assert_eq!(rows.len(), 2 * 2 * 5, "{text}");
    let t4 = 2.776; // t(0.975, 4): the measured interval rests on 5 batches
    let t7 = 2.365; // t(0.975, 7): 8 replications
    for r in &rows {
        let v = |i: usize| r[i].parse::<f64>().unwrap();
        let (measured, predicted, pci, mci) = (v(3), v(4), v(5), v(7));
        let se = ((mci / t4).powi(2) + (pci / t7).powi(2)).sqrt();
        assert!(
            (predicted - measured).abs() < 4.0 * se,
            "{r:?}: predicted {predicted} vs measured {measured} (se {se})"
        );
        let error = v(6);
        assert!((error - (predicted - measured) / measured).abs() < 1e-5);
    }
    // And the M/M/1 mean itself, 1/(μ − λ): 20 ms at 50 req/s, 40 ms at 75.
    for (rate, theory) in [("50", 20.0), ("75", 40.0)] {
        let r = rows
            .iter()
            .find(|r| r[0] == rate && r[1] == "all" && r[2] == "mean_ms")
            .unwrap();
        let predicted: f64 = r[4].parse().unwrap();
        assert!((predicted / theory - 1.0).abs() < 0.06, "{r:?}");
    }
}

/// What a load generator would record from a real M/M/1/K server: as [`mm1_measurements`],
/// but a request that finds `k` requests in the system is refused at once (HTTP 503).
fn mm1k_measurements(out: &mut String, rate: f64, seconds: f64, service_ms: f64, k: usize) {
    let mut rng = Rng(11);
    let mut t = 0.0f64;
    // Departure times of the admitted requests still in the system, in order.
    let mut inside = std::collections::VecDeque::<f64>::new();
    loop {
        t += rng.exponential(1.0 / rate);
        if t > seconds {
            break;
        }
        while inside.front().is_some_and(|&d| d <= t) {
            inside.pop_front();
        }
        if inside.len() >= k {
            writeln!(out, "{rate},GET /items,{t:.6},0.1,503").unwrap();
            continue;
        }
        let start = inside.back().copied().unwrap_or(t).max(t);
        let done = start + rng.exponential(service_ms / 1e3);
        inside.push_back(done);
        writeln!(out, "{rate},GET /items,{t:.6},{:.4},200", (done - t) * 1e3).unwrap();
    }
}

/// Past saturation, with a bounded queue: measurements of an M/M/1/5 server at ρ = 1.5 and
/// its model (`queue_capacity = 4`: four waiting, one served) agree on the successful
/// throughput and the share refused, which only then appears (`error_rate`, a column of the
/// table); the predicted loss is the M/M/1/K blocking probability (1 − ρ)ρᴷ/(1 − ρᴷ⁺¹).
#[test]
fn past_saturation_the_share_that_failed_is_compared_too() {
    let mut csv = String::new();
    mm1k_measurements(&mut csv, 150.0, 300.0, 10.0, 5);
    let (tmp, out) = predict_mm1(
        &csv,
        &[
            "--warmup-s",
            "10",
            "--reps",
            "8",
            "--set",
            "services.api.queue_capacity=4",
        ],
    );
    let dir = tmp.path();
    assert!(out.contains("| failed meas. | pred. |"), "{out}");
    let text = std::fs::read_to_string(dir.join("cmp/reality.csv")).unwrap();
    let rows = rows(&text);
    // The route and all × six metrics.
    assert_eq!(rows.len(), 2 * 6, "{text}");
    let (t4, t7) = (2.776, 2.365);
    for r in rows
        .iter()
        .filter(|r| r[2] == "throughput_rps" || r[2] == "error_rate")
    {
        let v = |i: usize| r[i].parse::<f64>().unwrap();
        let se = ((v(7) / t4).powi(2) + (v(5) / t7).powi(2)).sqrt();
        assert!((v(4) - v(3)).abs() < 4.0 * se, "{r:?} (se {se})");
    }
    // The failed share rests on every request, the throughput on the successful ones.
    let n = |metric: &str| -> usize {
        rows.iter()
            .find(|r| r[1] == "all" && r[2] == metric)
            .unwrap()[8]
            .parse()
            .unwrap()
    };
    assert!(n("error_rate") as f64 > 1.4 * n("throughput_rps") as f64);
    let rho: f64 = 1.5;
    let loss = (1.0 - rho) * rho.powi(5) / (1.0 - rho.powi(6));
    let r = rows
        .iter()
        .find(|r| r[1] == "all" && r[2] == "error_rate")
        .unwrap();
    let (predicted, ci): (f64, f64) = (r[4].parse().unwrap(), r[5].parse().unwrap());
    eprintln!(
        "M/M/1/5 at ρ = 1.5: refused {} measured, {predicted} ± {ci} predicted, {loss:.5} theory",
        r[3]
    );
    assert!(
        (predicted - loss).abs() < ci.max(0.005),
        "predicted loss {predicted} ± {ci}, M/M/1/K {loss}"
    );
    // The chart gains the panel of what got through and what failed.
    let svg = std::fs::read_to_string(dir.join("cmp/reality.svg")).unwrap();
    assert!(svg.contains("successful requests / s") && svg.contains("failed, measured"));
}

/// A measured route named as the traces name the endpoint (`GET /items`) is the model route
/// whose endpoint `import` made of it (`api.GET__items`); the table says so per route.
#[test]
fn routes_match_by_the_traces_endpoint_name_and_the_outputs_are_written() {
    let mut csv = String::new();
    mm1_measurements(&mut csv, 40.0, 30.0, 10.0, 3);
    let (tmp, out) = predict_mm1(&csv, &["--reps", "2", "--set", "simulation.duration_s=20"]);
    let dir = tmp.path();
    assert!(out.contains("| 40.0 | GET /items |"), "{out}");
    for f in [
        "reality.csv",
        "reality.md",
        "reality.png",
        "reality.svg",
        "report.html",
    ] {
        assert!(dir.join("cmp").join(f).is_file(), "{f} missing");
    }
    let report = std::fs::read_to_string(dir.join("cmp/report.html")).unwrap();
    assert!(
        report.contains("<h2>Measured and predicted, per load") && report.contains("GET /items"),
        "report.html shows the comparison's table"
    );
    // `plot` redraws the comparison from its CSV, under the same title.
    std::fs::remove_file(dir.join("cmp/reality.png")).unwrap();
    std::fs::remove_file(dir.join("cmp/report.html")).unwrap();
    ok(&meshsim(&["plot", "cmp"], dir));
    assert!(dir.join("cmp/reality.png").is_file());
    let report = std::fs::read_to_string(dir.join("cmp/report.html")).unwrap();
    assert!(
        report.contains(": measured and predicted</title>"),
        "a redrawn comparison is titled as one, not as a run"
    );
}

/// Bad measurement files are refused with the file, the line and what is allowed (exit 2).
#[test]
fn bad_measurement_files_are_refused_with_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("model.toml"), MM1).unwrap();
    let cases = [
        (
            "rate_rps,route,scheduled_s,latency_ms\n10,GET /items,1,5\n",
            "bad.csv:1: no column `status`",
        ),
        (
            "rate_rps,route,scheduled_s,latency_ms,status\n10,GET /items,1,5,200\n10,GET /items,2,abc,200\n",
            "bad.csv:3: column `latency_ms`: `abc` is not a latency",
        ),
        (
            "rate_rps,route,scheduled_s,latency_ms,status\n10,GET /other,1,5,200\n",
            "bad.csv:2: the route `GET /other` matches no route of the model `model`; its routes: api.GET__items",
        ),
        (
            "rate_rps,route,scheduled_s,latency_ms,status\n",
            "bad.csv: no requests",
        ),
    ];
    for (text, message) in cases {
        std::fs::write(dir.join("bad.csv"), text).unwrap();
        let out = meshsim(
            &[
                "predict",
                "model.toml",
                "--measured",
                "bad.csv",
                "--out",
                "x",
            ],
            dir,
        );
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{err}");
        assert!(!dir.join("x/reality.csv").exists());
    }
}

/// The saturation rate counts a blocking service's workers as held for its calls: one worker
/// doing 2 ms itself and waiting on an 8 ms call saturates at 100 req/s, not 500.
#[test]
fn saturation_counts_blocking_workers_held_for_their_calls() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let model = r#"
[simulation]
duration_s = 10
[workload]
type = "open"
rate_per_s = 5
[[workload.mix]]
route = "front.get"
[gateway]
[services.front]
blocking = true
[services.front.endpoints.get]
service_ms = 2
calls = [["back.get"]]
[services.back]
workers = 50
[services.back.endpoints.get]
service_ms = 8
"#;
    std::fs::write(dir.join("model.toml"), model).unwrap();
    let analytic = ["predict", "model.toml", "--saturation", "--analytic"];
    let out = ok(&meshsim(&analytic, dir));
    let rate: f64 = out.trim().parse().unwrap();
    assert!((rate - 100.0).abs() < 1.0, "{rate}");
    let non_blocking = model.replace("blocking = true\n", "");
    std::fs::write(dir.join("model.toml"), non_blocking).unwrap();
    let out = ok(&meshsim(&analytic, dir));
    let rate: f64 = out.trim().parse().unwrap();
    assert!((rate - 500.0).abs() < 5.0, "{rate}");
}

/// `--saturation` simulates: the rate from which the backlog grows. For an M/M/1 server of
/// 10 ms that is 100 req/s (the search stops within 1%, and a backlog growing by 1% of the
/// arrivals takes a long run to tell from chance: 97–103). Where blocking workers wait for a
/// queue, the analytic bound (their holding time at the model's own, low rate) is too high:
/// two blocking workers that each compute 4 ms (exponential) and then wait for one server of
/// 4 ms form, once saturated, a closed network of two requests, whose throughput by Mean
/// Value Analysis is 2 / (4 + 4 · 1.5) ms = 200 req/s, where the bound says 247.5.
#[test]
fn saturation_by_simulation_finds_where_the_backlog_grows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rate = |model: &str, analytic: bool| -> f64 {
        std::fs::write(dir.join("model.toml"), model).unwrap();
        let mut args = vec!["predict", "model.toml", "--saturation"];
        if analytic {
            args.push("--analytic");
        }
        ok(&meshsim(&args, dir)).trim().parse().unwrap()
    };
    let mm1 = rate(MM1, false);
    assert!((97.0..=103.0).contains(&mm1), "{mm1}");
    let waiting = r#"
[simulation]
duration_s = 10
[workload]
type = "open"
rate_per_s = 5
[[workload.mix]]
route = "front.get"
[gateway]
[services.front]
blocking = true
workers = 2
[services.front.endpoints.get]
service_ms = { dist = "exponential", mean_ms = 4 }
calls = [["back.get"]]
[services.back]
[services.back.endpoints.get]
service_ms = { dist = "exponential", mean_ms = 4 }
"#;
    // The bound: each worker held 4 ms + the server's M/M/1 response at 5 req/s.
    let held_ms = 4.0 + 4.0 / (1.0 - 5.0 * 0.004);
    let bound = rate(waiting, true);
    assert!((bound - 2e3 / held_ms).abs() < 0.5, "{bound}");
    let simulated = rate(waiting, false);
    assert!((194.0..=206.0).contains(&simulated), "{simulated}");
}

#[allow(clippy::too_many_arguments)]
fn zipkin(
    trace: u32,
    id: u32,
    parent: Option<u32>,
    kind: &str,
    service: &str,
    port: u32,
    start_us: u64,
    duration_us: u64,
) -> String {
    format!(
        r#"{{"traceId":"{trace:032x}","id":"{id:016x}",{}"kind":"{kind}","name":"GET /user/<id>","timestamp":{start_us},"duration":{duration_us},"localEndpoint":{{"serviceName":"{service}","ipv4":"127.0.0.1","port":{port}}}}}"#,
        parent.map_or(String::new(), |p| format!(r#""parentId":"{p:016x}","#))
    )
}

/// Traces whose clients are traced too (a load generator's client span above each request):
/// meshsim's gateway stands for the clients, the traced `gateway` becomes a service behind it,
/// and the hop from client to it is a link of the measured one-way time. All spans come from
/// one host: a server span ending after its client span is not "corrected" as clock skew.
#[test]
fn import_models_the_traced_clients_hop_as_a_link() {
    let mut lines = String::new();
    for t in 0..200u32 {
        let at = 1_700_000_000_000_000u64 + u64::from(t) * 10_000;
        // The client's span: 10 ms; the gateway's server span starts 1 ms in and ends 0.2 ms
        // after it (the server closing the connection after the client has read the answer).
        let spans = [
            zipkin(t + 1, 4 * t + 1, None, "CLIENT", "client", 0, at, 10_000),
            zipkin(
                t + 1,
                4 * t + 2,
                Some(4 * t + 1),
                "SERVER",
                "gateway",
                8000,
                at + 1_000,
                9_200,
            ),
            zipkin(
                t + 1,
                4 * t + 3,
                Some(4 * t + 2),
                "CLIENT",
                "gateway",
                8000,
                at + 2_000,
                6_000,
            ),
            zipkin(
                t + 1,
                4 * t + 4,
                Some(4 * t + 3),
                "SERVER",
                "user",
                8001,
                at + 2_500,
                5_000,
            ),
        ];
        writeln!(lines, "[{}]", spans.join(",")).unwrap();
    }
    let imported =
        meshsim::traces::import::import_bytes("loadgen.jsonl", lines.as_bytes()).unwrap();
    let text = &imported.written.text;
    assert!(text.contains("[services.gateway_service]"), "{text}");
    assert!(
        text.contains("route = \"gateway_service.GET__user__id\""),
        "{text}"
    );
    // One way: (1 ms before + (−0.2 ms) after) / 2 = 0.4 ms.
    let link = text
        .split("[links.gateway_gateway_service]")
        .nth(1)
        .expect("a link from the clients to the gateway service");
    assert!(link.contains("latency_ms = 0.4 "), "{link}");
    assert!(
        !imported.notes.iter().any(|n| n.contains("clock skew")),
        "{:?}",
        imported.notes
    );
    assert!(
        imported
            .notes
            .iter()
            .any(|n| n.contains("clients whose spans are in the traces (client)")),
        "{:?}",
        imported.notes
    );
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("imported.toml"), text).unwrap();
    for (name, bytes) in &imported.written.files {
        let path = tmp.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    meshsim::model::load_file(&tmp.path().join("imported.toml"), &[]).expect("the model loads");
}
