//! Fire-and-forget calls (`async = true`): the caller does not wait, the callee still works.
//! Checked against M/M/1 at the callee and against the latency the caller would have had.

mod common;

use common::{assert_agrees, ci, meshsim, model_from, ok, replicate};
use meshsim::sim::{RunResult, simulate};

/// `front.handle` (exponential 2 ms, enough workers never to queue) sends `audit.log` after its
/// processing, across a 1 ms link; `audit` has one worker and exponential 4 ms of work.
/// `call` is the call as written in the stage.
fn front_and_audit(rate: f64, call: &str, extra: &str) -> String {
    format!(
        r#"
[simulation]
duration_s = 200
warmup_s = 5
seed = 1

[workload]
type = "open"
rate_per_s = {rate}

[[workload.mix]]
route = "front.handle"

[gateway]
workers = 1000

[services.front]
workers = 1000

[services.front.endpoints.handle]
service_ms = {{ dist = "exponential", mean_ms = 2 }}
calls = [[{call}]]

[services.audit]
workers = 1

[services.audit.endpoints.log]
service_ms = {{ dist = "exponential", mean_ms = 4 }}
response_bytes = 100000

[links.front_audit]
between = ["front", "audit"]
latency_ms = 1
{extra}
"#
    )
}

/// Runs `front_and_audit` at `rate` for 20 s twice, with the audit call fired and forgotten
/// (into `fired/`) and awaited (into `awaited/`), with `flags` added.
fn run_fired_and_awaited(rate: f64, flags: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, call) in [
        ("fired", r#"{ call = "audit.log", async = true }"#),
        ("awaited", r#""audit.log""#),
    ] {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, front_and_audit(rate, call, "")).unwrap();
        let path = path.to_str().unwrap();
        let mut args = vec![
            "run",
            path,
            "-q",
            "--set",
            "simulation.duration_s=20",
            "--out",
            name,
        ];
        args.extend(flags);
        ok(&meshsim(&args, dir.path()));
    }
    dir
}

fn edge<'r>(r: &'r RunResult, from: &str, to: &str) -> &'r meshsim::sim::EdgeResult {
    r.edges
        .iter()
        .find(|e| *e.from == *from && *e.to == *to)
        .expect("the edge exists")
}

fn async_mean_ms(r: &RunResult) -> f64 {
    let s = &edge(r, "front", "audit").stats;
    s.detached_ns as f64 / s.detached_done as f64 / 1e6
}

/// λ = 150/s into audit (Poisson: the departures of front's infinite-server station, shifted by
/// a constant link), μ = 250/s: ρ = 0.6, M/M/1 response 4 / (1 − 0.6) = 10 ms; with the link,
/// 11 ms from sending to the end of audit's work. The request does not wait for any of it:
/// its mean latency is front's 2 ms. Waiting for the same call would add 1 + 10 + 1 ms.
#[test]
fn the_caller_does_not_wait_and_the_callee_queues_as_m_m_1() {
    let fired = replicate(
        &model_from(
            &front_and_audit(150.0, r#"{ call = "audit.log", async = true }"#, ""),
            &["simulation.duration_s=600"],
        ),
        12,
    );
    assert_agrees(
        "request mean latency, fire-and-forget (ms)",
        2.0,
        ci(&fired, |r| r.all.latency.mean_ms()),
        0.02,
    );
    assert_agrees(
        "send to end of audit's work (ms)",
        11.0,
        ci(&fired, async_mean_ms),
        0.04,
    );
    assert_agrees(
        "audit utilisation",
        0.6,
        ci(&fired, |r| r.services[2].utilisation),
        0.02,
    );
    for r in &fired {
        let s = &edge(r, "front", "audit").stats;
        assert_eq!(
            s.detached, s.calls,
            "every call on the edge is fire-and-forget"
        );
        assert_eq!(s.detached_failed, 0);
        assert_eq!(r.all.errors, 0);
    }
    let awaited = replicate(
        &model_from(&front_and_audit(150.0, r#""audit.log""#, ""), &[]),
        8,
    );
    assert_agrees(
        "request mean latency, awaited (ms)",
        14.0,
        ci(&awaited, |r| r.all.latency.mean_ms()),
        0.04,
    );
}

/// No response crosses the link back, however large the endpoint's `response_bytes`; the
/// request crosses as usual.
#[test]
fn a_fire_and_forget_call_sends_no_response() {
    let text = front_and_audit(
        100.0,
        r#"{ call = "audit.log", async = true }"#,
        "bandwidth_mbps = 100",
    );
    let r = simulate(&model_from(&text, &[]));
    let dir = |from: &str| {
        r.links
            .iter()
            .find(|l| *l.from == *from)
            .expect("both directions are reported")
    };
    assert!(dir("front").messages > 15_000, "{}", dir("front").messages);
    assert_eq!(dir("audit").messages, 0);
    assert_eq!(dir("audit").bytes, 0);
}

/// A fire-and-forget callee's own calls still load the system (measured per edge), and its
/// failures are counted on the edge without failing the request.
#[test]
fn the_callees_calls_and_failures_are_counted_on_their_edges() {
    let text = front_and_audit(
        100.0,
        r#"{ call = "audit.log", async = true }"#,
        r#"
[services.store]
workers = 100

[services.store.endpoints.put]
service_ms = 1
error_probability = 0.25
"#,
    )
    .replace(
        "response_bytes = 100000",
        "response_bytes = 100\ncalls = [[\"store.put\"]]",
    );
    let r = simulate(&model_from(&text, &[]));
    let to_audit = &edge(&r, "front", "audit").stats;
    let to_store = &edge(&r, "audit", "store").stats;
    let sent = to_audit.detached as f64;
    assert!(
        (to_store.calls as f64 - sent).abs() < 0.01 * sent,
        "each audit call makes one store call: {} vs {sent}",
        to_store.calls
    );
    // Each failure is a Bernoulli(0.25) draw: 4 standard deviations.
    let failed = to_audit.detached_failed as f64;
    let sd = (sent * 0.25 * 0.75).sqrt();
    assert!(
        (failed - 0.25 * sent).abs() < 4.0 * sd,
        "{failed} failed of {sent}"
    );
    assert_eq!(r.all.errors, 0, "the request never waits for the audit");
}

/// A callee that fire-and-forget calls overload stops the run with a message that says so,
/// instead of filling memory.
#[test]
fn an_overloaded_fire_and_forget_callee_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("overload.toml");
    std::fs::write(
        &path,
        front_and_audit(400.0, r#"{ call = "audit.log", async = true }"#, ""),
    )
    .unwrap();
    let out = meshsim(
        &[
            "run",
            path.to_str().unwrap(),
            "--max-in-flight",
            "2000",
            "--no-charts",
            "-q",
            "--out",
            "out",
        ],
        dir.path(),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("more than 2000 fire-and-forget calls in flight: `audit` is saturated"),
        "{text}"
    );
}

/// `edges.csv` gains the fire-and-forget columns only for a model that has such calls.
#[test]
fn edges_csv_reports_fire_and_forget_calls() {
    let dir = run_fired_and_awaited(100.0, &["--no-charts"]);
    let fired = std::fs::read_to_string(dir.path().join("fired/edges.csv")).unwrap();
    let header = fired.lines().next().unwrap();
    assert!(
        header.ends_with(",async_calls,async_failed,async_mean_ms"),
        "{header}"
    );
    let awaited = std::fs::read_to_string(dir.path().join("awaited/edges.csv")).unwrap();
    assert!(!awaited.contains("async"), "{awaited}");
}

/// Traced, a fire-and-forget call is a PRODUCER span at the caller (ending when sent) with the
/// callee's CONSUMER span below it; imported back, it is an `async = true` call again, and the
/// imported model gives the original's request latency and the callee's load.
#[test]
fn traces_carry_fire_and_forget_calls_out_and_back_in() {
    use meshsim::sim::{Options, SpanKind, TraceSampling, simulate_with};
    use meshsim::traces::{export, import};
    let original = model_from(
        &front_and_audit(100.0, r#"{ call = "audit.log", async = true }"#, ""),
        &["simulation.duration_s=60"],
    );
    let r = simulate_with(
        &original,
        &Options {
            traces: Some(TraceSampling {
                fraction: 1.0,
                slowest: 0,
            }),
            ..Options::default()
        },
    );
    let t = &r.traces[100];
    let kinds: Vec<SpanKind> = t.spans.iter().map(|s| s.kind).collect();
    assert!(kinds.contains(&SpanKind::Producer) && kinds.contains(&SpanKind::Consumer));
    let producer = t
        .spans
        .iter()
        .find(|s| s.kind == SpanKind::Producer)
        .unwrap();
    assert_eq!(
        producer.end,
        Some(producer.start),
        "a producer span ends when sent"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("traces.json");
    std::fs::write(&file, export::otlp_json(&original, 1, &r.traces)).unwrap();
    let imported =
        import::import(&[file], "imported", "imported-data", Default::default()).unwrap();
    for (name, bytes) in &imported.written.files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    assert!(
        imported
            .written
            .text
            .contains(r#"{ call = "audit.log", async = true }"#),
        "{}",
        imported.written.text
    );
    assert!(
        imported.notes.iter().any(|n| n.contains("fire-and-forget")),
        "{:?}",
        imported.notes
    );
    let path = dir.path().join("imported.toml");
    std::fs::write(&path, &imported.written.text).unwrap();
    let model = meshsim::model::load_file(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
    let back = simulate(&model);
    let (a, b) = (r.all.latency.mean_ms(), back.all.latency.mean_ms());
    assert!((b / a - 1.0).abs() < 0.05, "request mean {a} → {b} ms");
    let audit = |x: &RunResult| {
        x.services
            .iter()
            .find(|s| s.service == "audit")
            .map(|s| s.utilisation)
            .unwrap()
    };
    assert!(
        (audit(&back) - audit(&r)).abs() < 0.03,
        "audit utilisation {} → {}",
        audit(&r),
        audit(&back)
    );
}

/// The report's bottleneck card says when the busiest service is reached only by calls nobody
/// waits for: it does not lengthen any request.
#[test]
fn the_report_says_a_fire_and_forget_bottleneck_is_off_the_requests_path() {
    let dir = run_fired_and_awaited(150.0, &[]);
    let report =
        |name: &str| std::fs::read_to_string(dir.path().join(name).join("report.html")).unwrap();
    let off_path = "reached by fire-and-forget calls only: off the requests' path";
    assert!(report("fired").contains(off_path));
    assert!(!report("awaited").contains(off_path));
}
