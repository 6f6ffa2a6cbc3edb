//! Traces out of `run` and into `import`: export is deterministic, samples what it says and
//! changes no result; each format is read, messy input included; a model exported and imported
//! back is the same system with the same latency.

mod common;
use common::*;
use meshsim::model::{self, Model};
use meshsim::sim::{Options, RunResult, TraceSampling, simulate_with};
use meshsim::traces::{export, import};
use std::path::{Path, PathBuf};

fn traced(model: &Model, fraction: f64, slowest: u32) -> RunResult {
    simulate_with(
        model,
        &Options {
            traces: Some(TraceSampling { fraction, slowest }),
            ..Options::default()
        },
    )
}

/// Head sampling keeps the share asked for (within four binomial standard deviations), the
/// files are the same byte for byte on a second run, and the run's results do not change.
#[test]
fn export_samples_the_fraction_deterministically_and_changes_no_result() {
    let model = model::load_builtin(&[]).unwrap();
    let a = traced(&model, 0.1, 0);
    let b = traced(&model, 0.1, 0);
    let n = a.all.requests as f64;
    let kept = a.traces.len() as f64;
    let sd = (n * 0.1 * 0.9).sqrt();
    assert!((kept - 0.1 * n).abs() < 4.0 * sd, "{kept} of {n}");
    for (x, y) in [
        (
            export::otlp_json(&model, 1, &a.traces),
            export::otlp_json(&model, 1, &b.traces),
        ),
        (
            export::jaeger_json(&model, 1, &a.traces),
            export::jaeger_json(&model, 1, &b.traces),
        ),
        (
            export::perfetto_json(&model, 1, &a.traces),
            export::perfetto_json(&model, 1, &b.traces),
        ),
    ] {
        assert_eq!(x, y);
        let v: serde_json::Value = serde_json::from_slice(&x).expect("valid JSON");
        assert!(v.is_object());
    }
    let plain = simulate_with(
        &model,
        &Options {
            breakdown: true,
            ..Options::default()
        },
    );
    let with = simulate_with(
        &model,
        &Options {
            breakdown: true,
            traces: Some(TraceSampling {
                fraction: 1.0,
                slowest: 0,
            }),
            ..Options::default()
        },
    );
    assert_eq!(format!("{:?}", plain.routes), format!("{:?}", with.routes));
    assert_eq!(
        format!("{:?}", plain.services),
        format!("{:?}", with.services)
    );
    // Every request of the measured window, each a gateway span, a client span and a server span.
    assert_eq!(with.traces.len() as u64, with.all.requests);
    assert!(with.traces.iter().all(|t| t.spans.len() == 3));
}

/// `--traces-slowest N` keeps the N slowest requests: none faster than the run's p99.
#[test]
fn the_slowest_traces_are_the_slowest_requests() {
    let model = model::load_builtin(&[]).unwrap();
    let r = traced(&model, 0.0, 20);
    assert_eq!(r.traces.len(), 20);
    let p99 = r.all.latency.quantile_ms(0.99);
    for t in &r.traces {
        let ms = t.latency().unwrap().as_secs_f64() * 1e3;
        assert!(ms >= p99, "{ms} ms is not among the slowest (p99 {p99} ms)");
    }
}

/// Writes `files` (name, bytes) into a new temporary folder.
fn folder(files: &[(&str, Vec<u8>)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    dir
}

/// Imports `paths` into `dir/imported.toml` (with its data files) and loads the model.
fn import_into(paths: &[PathBuf], dir: &Path) -> (Model, import::Imported) {
    let imported = import::import(paths, "imported", "imported-data", Default::default()).unwrap();
    for (file, bytes) in &imported.written.files {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let path = dir.join("imported.toml");
    std::fs::write(&path, &imported.written.text).unwrap();
    let model = model::load_file(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
    (model, imported)
}

/// Endpoint names with their stages of call targets: the system's shape.
fn shape(m: &Model) -> Vec<(String, Vec<Vec<String>>)> {
    let mut out: Vec<(String, Vec<Vec<String>>)> = m
        .endpoints
        .iter()
        .filter(|e| e.service != 0)
        .map(|e| {
            let mut stages: Vec<Vec<String>> = e
                .stages
                .iter()
                .map(|s| {
                    s.iter()
                        .map(|c| m.endpoints[c.target].name.clone())
                        .collect()
                })
                .collect();
            for s in &mut stages {
                s.sort();
            }
            (e.name.clone(), stages)
        })
        .collect();
    out.sort();
    out
}

fn link_pairs(m: &Model) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = m
        .links
        .iter()
        .map(|l| {
            let (a, b) = (&m.services[l.ends[0]].name, &m.services[l.ends[1]].name);
            if a <= b {
                (a.clone(), b.clone())
            } else {
                (b.clone(), a.clone())
            }
        })
        .collect();
    out.sort();
    out
}

/// Means over `reps` replications of each route's mean and p99.
fn latency(m: &Model, reps: u64) -> Vec<(String, f64, f64)> {
    let runs = replicate(m, reps);
    let mut out: Vec<(String, f64, f64)> = runs[0]
        .routes
        .iter()
        .map(|r| (r.route.clone(), 0.0, 0.0))
        .collect();
    for r in &runs {
        for (o, route) in out.iter_mut().zip(&r.routes) {
            o.1 += route.latency.mean_ms() / reps as f64;
            o.2 += route.latency.quantile_ms(0.99) / reps as f64;
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The issue's round trip: the built-in model and checkout.toml exported with every request
/// traced and imported back give the same services, endpoints, stages and links, and mean and
/// p99 per route within 5% of the original's.
#[test]
fn a_model_exported_and_imported_back_is_the_same_system() {
    let checkout = model::load_file(Path::new("models/checkout.toml"), &[]).unwrap();
    for original in [model::load_builtin(&[]).unwrap(), checkout] {
        let r = traced(&original, 1.0, 0);
        let files = folder(&[(
            "traces.json",
            export::otlp_json(&original, original.seed, &r.traces),
        )]);
        let (imported, _) = import_into(&[files.path().join("traces.json")], files.path());
        assert_eq!(shape(&imported), shape(&original), "{}", original.name);
        assert_eq!(
            link_pairs(&imported),
            link_pairs(&original),
            "{}",
            original.name
        );
        let long = |m: &Model| with_duration(m.clone(), 400.0, 10.0);
        let (a, b) = (latency(&long(&original), 4), latency(&long(&imported), 4));
        for ((route, mean_a, p99_a), (_, mean_b, p99_b)) in a.iter().zip(&b) {
            println!("{route}: mean {mean_a:.3} → {mean_b:.3} ms, p99 {p99_a:.3} → {p99_b:.3} ms");
            assert!(
                (mean_b / mean_a - 1.0).abs() < 0.05,
                "{route} mean {mean_a} vs {mean_b}"
            );
            assert!(
                (p99_b / p99_a - 1.0).abs() < 0.05,
                "{route} p99 {p99_a} vs {p99_b}"
            );
        }
    }
}

/// A span of a hand-written trace, in microseconds.
#[derive(Clone)]
struct S {
    trace: u64,
    id: u64,
    parent: Option<u64>,
    service: &'static str,
    name: &'static str,
    kind: &'static str,
    start_us: u64,
    dur_us: Option<u64>,
    instance: &'static str,
}

/// A known system, traced: `frontend` serves `GET /home` in 2 ms before and 0.5 ms after its
/// calls; first `cart.GetCart` (4 ms) and, in half the requests, `ads.GetAds` (2 ms) in
/// parallel; then `recs.List` (1 ms) three times in parallel. One-way network time 1 ms. A
/// request every 10 ms.
fn system(traces: u64) -> Vec<S> {
    let mut out = Vec::new();
    for t in 0..traces {
        let t0 = 1_000_000 + t * 10_000;
        let mut id = t * 100 + 1;
        let root = id;
        let mut push = |out: &mut Vec<S>, parent, service, name, kind, start, dur, instance| {
            id += 1;
            out.push(S {
                trace: t + 1,
                id,
                parent: Some(parent),
                service,
                name,
                kind,
                start_us: start,
                dur_us: Some(dur),
                instance,
            });
            id
        };
        let mut calls = vec![("cart", "GetCart", 4_000u64, 0u64)];
        if t % 2 == 0 {
            calls.push(("ads", "GetAds", 2_000, 0));
        }
        let mut stage2_start = 0;
        for (service, name, dur, _) in &calls {
            let start = t0 + 2_000;
            let c = push(
                &mut out,
                root,
                "frontend",
                name,
                "CLIENT",
                start,
                dur + 2_000,
                "fe-1",
            );
            push(
                &mut out,
                c,
                service,
                name,
                "SERVER",
                start + 1_000,
                *dur,
                "i-1",
            );
            stage2_start = stage2_start.max(start + dur + 2_000);
        }
        for k in 0..3 {
            let c = push(
                &mut out,
                root,
                "frontend",
                "List",
                "CLIENT",
                stage2_start,
                3_000,
                "fe-1",
            );
            push(
                &mut out,
                c,
                "recs",
                "List",
                "SERVER",
                stage2_start + 1_000,
                1_000,
                if k == 0 { "r-1" } else { "r-2" },
            );
        }
        out.push(S {
            trace: t + 1,
            id: root,
            parent: None,
            service: "frontend",
            name: "GET /home",
            kind: "SERVER",
            start_us: t0,
            dur_us: Some(stage2_start + 3_000 + 500 - t0),
            instance: "fe-1",
        });
    }
    out
}

fn otlp(spans: &[S]) -> Vec<u8> {
    let mut resources: Vec<serde_json::Value> = Vec::new();
    for s in spans {
        let kind = if s.kind == "SERVER" { 2 } else { 3 };
        let mut span = serde_json::json!({
            "traceId": format!("{:032x}", s.trace),
            "spanId": format!("{:016x}", s.id),
            "name": s.name,
            // Integers as numbers here, kind as a string name: both allowed.
            "kind": if kind == 2 { "SPAN_KIND_SERVER" } else { "SPAN_KIND_CLIENT" },
            "startTimeUnixNano": s.start_us * 1000,
        });
        if let Some(d) = s.dur_us {
            span["endTimeUnixNano"] = serde_json::json!(((s.start_us + d) * 1000).to_string());
        }
        if let Some(p) = s.parent {
            span["parentSpanId"] = serde_json::json!(format!("{p:016x}"));
        }
        resources.push(serde_json::json!({
            "resource": { "attributes": [
                { "key": "service.name", "value": { "stringValue": s.service } },
                { "key": "service.instance.id", "value": { "stringValue": s.instance } },
            ]},
            // The name before OTLP 0.15, which older exporters write.
            "instrumentationLibrarySpans": [{ "spans": [span] }],
        }));
    }
    // One object per line, as the collector's file exporter writes.
    let mut out = Vec::new();
    for chunk in resources.chunks(50) {
        out.extend(serde_json::to_vec(&serde_json::json!({ "resourceSpans": chunk })).unwrap());
        out.push(b'\n');
    }
    out
}

fn jaeger(spans: &[S]) -> Vec<u8> {
    let mut traces: Vec<serde_json::Value> = Vec::new();
    let mut ids: Vec<u64> = spans.iter().map(|s| s.trace).collect();
    ids.dedup();
    for t in ids {
        let members: Vec<&S> = spans.iter().filter(|s| s.trace == t).collect();
        let mut processes = serde_json::Map::new();
        let js: Vec<serde_json::Value> = members
            .iter()
            .map(|s| {
                let p = format!("{}-{}", s.service, s.instance);
                processes.insert(
                    p.clone(),
                    serde_json::json!({ "serviceName": s.service, "tags": [{ "key": "hostname", "type": "string", "value": s.instance }] }),
                );
                serde_json::json!({
                    "traceID": format!("{:016x}", s.trace),
                    "spanID": format!("{:016x}", s.id),
                    "operationName": s.name,
                    "references": s.parent.map_or(vec![], |p| vec![serde_json::json!({ "refType": "CHILD_OF", "traceID": format!("{:016x}", s.trace), "spanID": format!("{p:016x}") })]),
                    "startTime": s.start_us,
                    "duration": s.dur_us,
                    "tags": [{ "key": "span.kind", "type": "string", "value": s.kind.to_lowercase() }],
                    "processID": p,
                })
            })
            .collect();
        traces.push(serde_json::json!({ "traceID": format!("{t:016x}"), "spans": js, "processes": processes }));
    }
    serde_json::to_vec(&serde_json::json!({ "data": traces })).unwrap()
}

/// Zipkin v2, with `shared` server halves that reuse their client's span id.
fn zipkin(spans: &[S]) -> Vec<u8> {
    let out: Vec<serde_json::Value> = spans
        .iter()
        .map(|s| {
            // A shared server half takes its client's id and parent.
            let client = spans
                .iter()
                .find(|c| s.kind == "SERVER" && Some(c.id) == s.parent && c.trace == s.trace);
            let shared = client.is_some();
            let (id, parent) = match client {
                Some(c) => (c.id, c.parent),
                None => (s.id, s.parent),
            };
            let mut v = serde_json::json!({
                "traceId": format!("{:016x}", s.trace),
                "id": format!("{id:016x}"),
                "name": s.name,
                "kind": s.kind,
                "timestamp": s.start_us,
                "localEndpoint": { "serviceName": s.service, "ipv4": format!("10.0.0.{}", s.instance.len()), "port": 8080 + s.instance.bytes().map(u32::from).sum::<u32>() },
            });
            if let Some(d) = s.dur_us {
                v["duration"] = serde_json::json!(d);
            }
            if let Some(p) = parent {
                v["parentId"] = serde_json::json!(format!("{p:016x}"));
            }
            if shared {
                v["shared"] = serde_json::json!(true);
            }
            v
        })
        .collect();
    serde_json::to_vec(&out).unwrap()
}

/// The known system comes back from every format: its calls in stages with probability and
/// count, its own processing time, its one-way latency, its arrival rate.
#[test]
fn each_format_gives_back_the_system_that_was_traced() {
    let spans = system(200);
    for (name, bytes) in [
        ("otlp.jsonl", otlp(&spans)),
        ("jaeger.json", jaeger(&spans)),
        ("zipkin.json", zipkin(&spans)),
    ] {
        let dir = folder(&[(name, bytes)]);
        let (m, imported) = import_into(&[dir.path().join(name)], dir.path());
        let home = m
            .endpoints
            .iter()
            .find(|e| e.name == "frontend.GET__home")
            .unwrap_or_else(|| panic!("{name}: {:?}", shape(&m)));
        let calls: Vec<Vec<(String, f64, f64)>> = home
            .stages
            .iter()
            .map(|s| {
                let mut calls: Vec<(String, f64, f64)> = s
                    .iter()
                    .map(|c| {
                        (
                            m.endpoints[c.target].name.clone(),
                            c.probability,
                            c.count.mean(),
                        )
                    })
                    .collect();
                calls.sort_by(|a, b| a.0.cmp(&b.0));
                calls
            })
            .collect();
        assert_eq!(
            calls,
            vec![
                vec![
                    ("ads.GetAds".to_string(), 0.5, 1.0),
                    ("cart.GetCart".to_string(), 1.0, 1.0)
                ],
                vec![("recs.List".to_string(), 1.0, 3.0)],
            ],
            "{name}"
        );
        // 2 ms before its calls, 0.5 ms after them.
        assert!(
            (home.service_time.mean_ms() - 2.0).abs() < 1e-9,
            "{name}: {}",
            home.service_time.mean_ms()
        );
        let after = home
            .after_time
            .as_ref()
            .expect("the work after the calls is found");
        assert!(
            (after.mean_ms() - 0.5).abs() < 1e-9,
            "{name}: {}",
            after.mean_ms()
        );
        let cart = m
            .endpoints
            .iter()
            .find(|e| e.name == "cart.GetCart")
            .unwrap();
        assert!((cart.service_time.mean_ms() - 4.0).abs() < 1e-9);
        for l in &m.links {
            assert!(
                (l.latency.mean_ms() - 1.0).abs() < 1e-9,
                "{name}: {}",
                l.latency.mean_ms()
            );
        }
        assert_eq!(m.links.len(), 3);
        let recs = m.services.iter().find(|s| s.name == "recs").unwrap();
        assert_eq!(recs.instances, 2, "{name}: two instances of recs were seen");
        let meshsim::model::Workload::Open { rate_per_s, .. } = m.workload else {
            panic!()
        };
        assert!((rate_per_s - 100.0).abs() < 1e-6, "{name}: {rate_per_s}");
        assert!(imported.notes.is_empty(), "{name}: {:?}", imported.notes);
    }
}

/// Messy traces: a span without a duration, a span whose parent never arrived, a clock that is
/// 10 ms ahead, a thousand spans in one trace. Each is counted and reported; what can be
/// corrected is, and the model still runs.
#[test]
fn messy_traces_are_counted_corrected_and_still_give_a_model() {
    let mut spans = system(100);
    // Trace 3: recs' clock runs 10 ms ahead.
    for s in spans
        .iter_mut()
        .filter(|s| s.trace == 3 && s.service == "recs")
    {
        s.start_us += 10_000;
    }
    // Trace 5: a client span lost its duration.
    let lost = spans
        .iter()
        .position(|s| s.trace == 5 && s.kind == "CLIENT")
        .unwrap();
    spans[lost].dur_us = None;
    // Trace 7: a server span's parent never arrived.
    spans.push(S {
        trace: 7,
        id: 99_999,
        parent: Some(88_888),
        service: "cart",
        name: "GetCart",
        kind: "SERVER",
        start_us: 1_070_000,
        dur_us: Some(4_000),
        instance: "i-1",
    });
    // Trace 1000: one request fanning out to 999 calls.
    let t0 = 2_000_000;
    spans.push(S {
        trace: 1000,
        id: 1,
        parent: None,
        service: "frontend",
        name: "GET /home",
        kind: "SERVER",
        start_us: t0,
        dur_us: Some(10_000),
        instance: "fe-1",
    });
    for k in 0..499u64 {
        spans.push(S {
            trace: 1000,
            id: 10 + 2 * k,
            parent: Some(1),
            service: "frontend",
            name: "List",
            kind: "CLIENT",
            start_us: t0 + 2_000,
            dur_us: Some(3_000),
            instance: "fe-1",
        });
        spans.push(S {
            trace: 1000,
            id: 11 + 2 * k,
            parent: Some(10 + 2 * k),
            service: "recs",
            name: "List",
            kind: "SERVER",
            start_us: t0 + 3_000,
            dur_us: Some(1_000),
            instance: "r-1",
        });
    }
    let dir = folder(&[("zipkin.json", zipkin(&spans))]);
    let (m, imported) = import_into(&[dir.path().join("zipkin.json")], dir.path());
    let notes = imported.notes.join("\n");
    assert!(
        notes.contains("1 spans without a timestamp or duration: left out"),
        "{notes}"
    );
    assert!(notes.contains("orphans"), "{notes}");
    assert!(notes.contains("clock skew"), "{notes}");
    // The skewed spans were moved back: recs' one-way latency is still 1 ms on average.
    let recs_link = m
        .links
        .iter()
        .find(|l| m.services[l.ends[0]].name == "recs" || m.services[l.ends[1]].name == "recs")
        .unwrap();
    assert!(
        (recs_link.latency.mean_ms() - 1.0).abs() < 0.01,
        "{}",
        recs_link.latency.mean_ms()
    );
    // The big trace shows as a count of 499 in one request of 101.
    let home = m
        .endpoints
        .iter()
        .find(|e| e.name == "frontend.GET__home")
        .unwrap();
    let recs = home
        .stages
        .iter()
        .flatten()
        .find(|c| m.endpoints[c.target].name == "recs.List")
        .unwrap();
    assert_eq!(recs.count.max(), 499);
    let r = meshsim::sim::simulate(&with_duration(m, 5.0, 1.0));
    assert!(r.all.completed > 100);
}

/// Service and endpoint names in traces may hold any character. Those TOML forbids in a
/// comment (a newline, DEL) are written escaped where the model recalls the traced name, so the
/// model still loads, keeps its shape, and the comment still says which name it was.
#[test]
fn names_with_control_characters_are_imported_into_a_model_that_loads() {
    let mut spans = system(50);
    for s in spans.iter_mut() {
        if s.service == "cart" {
            s.service = "cart\nname = \"injected\"";
        }
        if s.service == "recs" {
            s.service = "recs\u{7f}";
        }
        if s.name == "GetAds" {
            s.name = "Get\rAds\u{1b}";
        }
    }
    let dir = folder(&[("zipkin.json", zipkin(&spans))]);
    let (m, imported) = import_into(&[dir.path().join("zipkin.json")], dir.path());
    let text = &imported.written.text;
    assert!(
        !text.lines().any(|l| l.starts_with("name = \"injected\"")),
        "{text}"
    );
    assert!(
        text.contains("`cart\\nname = \"injected\"` in the traces"),
        "{text}"
    );
    assert!(text.contains("`recs\\u{7f}` in the traces"), "{text}");
    assert_eq!(m.name, "imported");
    assert_eq!(shape(&m).len(), 4, "{:?}", shape(&m));
}

fn meshsim(args: &[&str], dir: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Bad input: a clear message naming the file, exit 2, and nothing written.
#[test]
fn bad_trace_files_are_refused_with_exit_2_and_nothing_written() {
    let good = otlp(&system(3));
    let mut junk = vec![0u8, 159, 146, 150, 1, 2, 3];
    junk.extend(std::iter::repeat_n(7u8, 100));
    let client_only: Vec<S> = system(3)
        .into_iter()
        .filter(|s| s.kind == "CLIENT")
        .collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated.json",
            good[..good.len() / 2].to_vec(),
            "truncated",
        ),
        (
            "notes.txt",
            b"hello, these are not traces\n".to_vec(),
            "not JSON",
        ),
        (
            "other.json",
            br#"{"hello": [1, 2, 3]}"#.to_vec(),
            "not a trace format meshsim knows",
        ),
        ("clients.json", otlp(&client_only), "no server spans"),
        ("junk.bin", junk, "binary"),
        ("empty.json", Vec::new(), "empty"),
    ];
    for (name, bytes, wanted) in cases {
        let dir = folder(&[(name, bytes)]);
        let out = meshsim(&["import", name, "--out", "model.toml"], dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(wanted), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1, "{name}: wrote {left:?}");
    }
}

/// `import --set` with a value the model refuses is the user's error, reported as `run --set`
/// reports it (not as a bug in meshsim), and nothing is written; a good value lands in the model.
#[test]
fn a_bad_set_on_import_is_the_users_error_and_writes_nothing() {
    let dir = folder(&[("traces.json", otlp(&system(40)))]);
    let import_with = |set: &str| {
        let args = ["import", "traces.json", "--out", "model.toml", "--set", set];
        meshsim(&args, dir.path())
    };
    let out = import_with("workload.rate_per_s=-1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("workload.rate_per_s"), "{stderr}");
    assert!(stderr.contains("--set"), "{stderr}");
    assert!(!stderr.contains("a bug in meshsim"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "wrote {left:?}");

    // `--cpu` without a host for it: the user's choice too, with what to do.
    let args = [
        "import",
        "traces.json",
        "--out",
        "model.toml",
        "--cpu",
        "cart=0.1",
    ];
    let out = meshsim(&args, dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("declare [hosts.NAME]"), "{stderr}");
    assert!(!stderr.contains("a bug in meshsim"), "{stderr}");
    // ... and with one given by `--set`, as the reality check imports, the model is written.
    let mut args = args.to_vec();
    args.extend([
        "--set",
        "hosts.node.cores=2",
        "--set",
        "services.cart.host=node",
    ]);
    let out = meshsim(&args, dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = import_with("workload.rate_per_s=7");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // What it prints says the model's rate is the user's, not the traces'.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("in the traces (the model offers 7 requests/s, set by --set)"),
        "{stdout}"
    );
    let model = meshsim::model::load_file(&dir.path().join("model.toml"), &[]).unwrap();
    let rate = match &model.workload {
        meshsim::model::Workload::Open { rate_per_s, .. } => *rate_per_s,
        other => panic!("an open workload, got {other:?}"),
    };
    assert_eq!(rate, 7.0);
}

/// The command line end to end: `run --traces 1` writes the three files, `import` reads any
/// of them into a model that `check` accepts.
#[test]
fn run_writes_three_trace_files_that_import_reads() {
    let dir = tempfile::tempdir().unwrap();
    let out = meshsim(
        &[
            "run",
            "--traces",
            "1",
            "--duration",
            "10",
            "--no-charts",
            "-q",
            "--out",
            "run",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The model's file name names its samples' folder, so quotes and backslashes in it must be
    // written escaped in the model.
    for (file, model) in [
        ("traces.json", "m.toml"),
        ("traces.jaeger.json", "m.toml"),
        ("traces.json", "my \"new\" model\\v2.toml"),
    ] {
        let imported = meshsim(
            &["import", &format!("run/{file}"), "--out", model],
            dir.path(),
        );
        assert!(
            imported.status.success(),
            "{}",
            String::from_utf8_lossy(&imported.stderr)
        );
        let check = meshsim(&["check", model], dir.path());
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
    let perfetto: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("run/traces.perfetto.json")).unwrap(),
    )
    .unwrap();
    let events = perfetto["traceEvents"].as_array().unwrap();
    // A track per worker: complete events on one track never overlap.
    let mut by_track: std::collections::BTreeMap<(u64, u64), Vec<(f64, f64)>> = Default::default();
    for e in events.iter().filter(|e| e["ph"] == "X") {
        let (pid, tid) = (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
        let ts = e["ts"].as_f64().unwrap();
        by_track
            .entry((pid, tid))
            .or_default()
            .push((ts, ts + e["dur"].as_f64().unwrap()));
    }
    assert!(!by_track.is_empty());
    for spans in by_track.values_mut() {
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        for w in spans.windows(2) {
            assert!(w[1].0 >= w[0].1 - 1e-6, "overlap on a track: {w:?}");
        }
    }
    let bad = meshsim(&["run", "--traces", "2", "--out", "x"], dir.path());
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a fraction"));
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped example cannot drift from the tool: its traces come from the command in
/// docs/traces.md byte for byte, and importing them gives the shipped model and samples.
#[test]
fn the_shipped_social_network_traces_and_import_are_what_the_commands_give() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args([
            "run",
            "models/social-network.toml",
            "--traces",
            "1",
            "--set",
            "simulation.duration_s=5.5",
            "--no-charts",
            "-q",
            "--out",
        ])
        .arg(&out)
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let shipped = std::fs::read(repo().join("models/traces/social-network.otlp.json")).unwrap();
    assert!(
        std::fs::read(out.join("traces.json")).unwrap() == shipped,
        "models/traces/social-network.otlp.json is stale: rerun the command of docs/traces.md"
    );
    let model = dir.path().join("social-network-imported.toml");
    let import = std::process::Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(["import", "models/traces/social-network.otlp.json", "--out"])
        .arg(&model)
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&model).unwrap(),
        std::fs::read_to_string(repo().join("models/social-network-imported.toml")).unwrap(),
        "models/social-network-imported.toml is stale: rerun the import of docs/traces.md"
    );
    for entry in std::fs::read_dir(repo().join("models/social-network-imported-data")).unwrap() {
        let path = entry.unwrap().path();
        let fresh = dir
            .path()
            .join("social-network-imported-data")
            .join(path.file_name().unwrap());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(&fresh).unwrap(),
            "{}",
            path.display()
        );
    }
}

/// `metrics.om` is OpenMetrics: families declared before their samples, counters ending in
/// `_total` and never decreasing, timestamps increasing within a series, `# EOF` last.
#[test]
fn metrics_are_openmetrics_with_timestamps() {
    let model = model::load_file(&repo().join("models/retry-storm.toml"), &[]).unwrap();
    let r = simulate_with(
        &model,
        &Options {
            timeseries: Some(meshsim::engine::SimTime::from_secs_f64(1.0)),
            ..Options::default()
        },
    );
    let text = String::from_utf8(meshsim::report::openmetrics(
        &model.name,
        r.timeseries.as_ref().unwrap(),
    ))
    .unwrap();
    assert!(text.ends_with("# EOF\n"));
    let mut declared: Vec<(String, String)> = Vec::new();
    let mut last: std::collections::HashMap<String, (f64, f64)> = Default::default();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            let (family, kind) = t.split_once(' ').unwrap();
            assert!(
                !declared.iter().any(|d| d.0 == family),
                "{family} declared twice"
            );
            declared.push((family.into(), kind.into()));
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, rest) = line.split_once("} ").unwrap();
        let (value, stamp) = rest.split_once(' ').unwrap();
        let (value, stamp): (f64, f64) = (value.parse().unwrap(), stamp.parse().unwrap());
        let name = series.split('{').next().unwrap();
        let (family, kind) = declared.last().expect("a sample before any # TYPE");
        match kind.as_str() {
            "counter" => assert_eq!(name, format!("{family}_total")),
            _ => assert_eq!(name, family),
        }
        if let Some(&(v, t)) = last.get(series) {
            assert!(stamp > t, "{line}");
            if kind == "counter" {
                assert!(value >= v, "{line}");
            }
        }
        last.insert(series.to_string(), (value, stamp));
    }
    assert!(declared.iter().any(|(f, _)| f == "meshsim_retries"));
    assert!(last.len() > 10, "{} series", last.len());
}

/// Every request of a run of checkout.toml, exported as OTLP/JSON to `traces.json` in a folder.
fn checkout_traces() -> tempfile::TempDir {
    let checkout = model::load_file(&repo().join("models/checkout.toml"), &[]).unwrap();
    let r = traced(&checkout, 1.0, 0);
    folder(&[(
        "traces.json",
        export::otlp_json(&checkout, checkout.seed, &r.traces),
    )])
}

/// `--fit` finds the families checkout.toml was written with (gamma gateway, lognormal api,
/// Weibull catalog, exponential user), and keeps the samples where no family fits (the uniform
/// inventory time, the measured payment time).
#[test]
fn fitting_finds_the_families_the_model_was_written_with() {
    let files = checkout_traces();
    let settings = import::Settings {
        fit: true,
        ..Default::default()
    };
    let imported = import::import(
        &[files.path().join("traces.json")],
        "fitted",
        "fitted-data",
        settings,
    )
    .unwrap();
    let text = &imported.written.text;
    let line = |key: &str| {
        let at = text
            .find(&format!("[{key}]"))
            .unwrap_or_else(|| panic!("{key} in {text}"));
        text[at..]
            .lines()
            .find(|l| l.starts_with("service_ms"))
            .unwrap()
            .to_string()
    };
    assert!(line("gateway").contains("\"gamma\""), "{}", line("gateway"));
    assert!(line("services.api.endpoints.browse").contains("\"lognormal\""));
    assert!(line("services.catalog.endpoints.list").contains("\"weibull\""));
    let user = line("services.user.endpoints.get_user");
    assert!(
        ["\"exponential\"", "\"gamma\"", "\"weibull\""]
            .iter()
            .any(|f| user.contains(f)),
        "{user}"
    );
    assert!(line("services.inventory.endpoints.reserve").contains("\"empirical\""));
    assert!(line("services.payment.endpoints.charge").contains("\"empirical\""));
    assert_eq!(
        imported.written.files.len(),
        2,
        "only the two rejected fits keep samples"
    );
    assert!(
        imported
            .written
            .fits
            .iter()
            .any(|f| f.contains("rejected at the 5% level"))
    );
}

/// `--cpu-after-idle`: the endpoints get the warm CPU and the service `cpu_after_idle`, while
/// the *mean* CPU (`--cpu`) is what comes off the processing — the samples are those of the
/// import with `--cpu` alone (taking off only the warm cost would count the extra twice).
#[test]
fn cpu_after_idle_writes_the_warm_cost_and_takes_the_mean_off_the_processing() {
    let files = checkout_traces();
    let run = |after: Vec<(String, [f64; 3])>| {
        import::import(
            &[files.path().join("traces.json")],
            "m",
            "m-data",
            import::Settings {
                cpu: vec![("user".into(), 0.5)],
                cpu_after_idle: after,
                ..Default::default()
            },
        )
    };
    let mean_only = run(Vec::new()).unwrap().written;
    let with = run(vec![("user".into(), [0.4, 0.2, 5.0])]).unwrap().written;
    assert_eq!(with.files, mean_only.files, "the same processing samples");
    let user = &with.text[with.text.find("[services.user]").unwrap()..];
    assert!(
        user.contains("cpu_after_idle = { extra_ms = 0.2, tau_ms = 5 }"),
        "{user}"
    );
    let cpu_line = user.lines().find(|l| l.starts_with("cpu_ms")).unwrap();
    assert!(cpu_line.starts_with("cpu_ms = 0.4 "), "{cpu_line}");
    // The written model loads, with the table where it was put.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.toml"), &with.text).unwrap();
    for (name, bytes) in &with.files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let loaded = model::load_file(
        &dir.path().join("m.toml"),
        &[
            "hosts.node.cores=2".parse().unwrap(),
            "services.user.host=node".parse().unwrap(),
        ],
    )
    .unwrap();
    let user = loaded.services.iter().find(|s| s.name == "user").unwrap();
    assert_eq!(user.cpu_after_idle.unwrap().tau_ns, 5e6);
    // A warm cost above the mean, or no mean, is refused with what to give.
    let err = run(vec![("user".into(), [0.6, 0.2, 5.0])])
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("cannot exceed the mean call's"), "{err}");
    let err = import::import(
        &[files.path().join("traces.json")],
        "m",
        "m-data",
        import::Settings {
            cpu_after_idle: vec![("user".into(), [0.4, 0.2, 5.0])],
            ..Default::default()
        },
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(err.contains("--cpu user=MS"), "{err}");
}

/// Cycles between services are common in real systems, and meshsim does not simulate them;
/// the import splits the services the traces show on one, only as far as the cycle forces, says
/// so on stderr, and the model runs:
/// - A → B → A: `orders.place` → `stock.check` → `orders.price`; `orders.status` (a route
///   calling nothing) stays with `place`;
/// - a service calling an endpoint of its own: `api.get` → `api.query`;
/// - two services calling each other from different endpoints: `x.a` → `y.b1`, `y.b2` → `x.c`
///   (splitting one of them is enough);
/// - recursion through another service (`r.one` → `s.two` → `r.one`): the call that would wait
///   on itself is left out, and counted.
///
/// Each part keeps its original's links: the latency measured between the originals.
#[test]
fn call_cycles_between_services_are_split_as_far_as_they_force_and_said() {
    let mut spans = Vec::new();
    for t in 0..200u64 {
        let t0 = 1_000_000 + t * 10_000;
        let s = |id, parent, service, name, kind, start, dur| S {
            trace: t + 1,
            id,
            parent,
            service,
            name,
            kind,
            start_us: start,
            dur_us: Some(dur),
            instance: "i",
        };
        match t % 5 {
            0 => {
                spans.push(s(1, None, "orders", "place", "SERVER", t0, 5_000));
                spans.push(s(2, Some(1), "orders", "check", "CLIENT", t0 + 500, 3_000));
                spans.push(s(3, Some(2), "stock", "check", "SERVER", t0 + 900, 2_200));
                spans.push(s(4, Some(3), "stock", "price", "CLIENT", t0 + 1_000, 1_000));
                spans.push(s(5, Some(4), "orders", "price", "SERVER", t0 + 1_100, 800));
            }
            1 => {
                spans.push(s(1, None, "orders", "status", "SERVER", t0, 1_000));
                spans.push(s(2, None, "api", "get", "SERVER", t0 + 10, 3_000));
                spans.push(s(3, Some(2), "api", "query", "CLIENT", t0 + 500, 2_000));
                spans.push(s(4, Some(3), "api", "query", "SERVER", t0 + 1_000, 1_000));
            }
            2 => {
                spans.push(s(1, None, "x", "a", "SERVER", t0, 3_000));
                spans.push(s(2, Some(1), "x", "b1", "CLIENT", t0 + 500, 2_000));
                spans.push(s(3, Some(2), "y", "b1", "SERVER", t0 + 700, 1_600));
            }
            3 => {
                spans.push(s(1, None, "y", "b2", "SERVER", t0, 3_000));
                spans.push(s(2, Some(1), "y", "c", "CLIENT", t0 + 500, 2_000));
                spans.push(s(3, Some(2), "x", "c", "SERVER", t0 + 700, 1_600));
            }
            _ => {
                spans.push(s(1, None, "r", "one", "SERVER", t0, 5_000));
                spans.push(s(2, Some(1), "r", "two", "CLIENT", t0 + 500, 3_000));
                spans.push(s(3, Some(2), "s", "two", "SERVER", t0 + 600, 2_800));
                spans.push(s(4, Some(3), "s", "one", "CLIENT", t0 + 1_000, 1_000));
                spans.push(s(5, Some(4), "r", "one", "SERVER", t0 + 1_100, 800));
            }
        }
    }
    let dir = folder(&[("cycle.json", otlp(&spans))]);
    let (m, imported) = import_into(&[dir.path().join("cycle.json")], dir.path());
    let notes = imported.notes.join("\n");
    let endpoints = |service: &str| -> Vec<String> {
        let s = m
            .services
            .iter()
            .position(|s| s.name == service)
            .unwrap_or_else(|| panic!("no service {service}: {notes}"));
        let mut names: Vec<String> = m
            .endpoints
            .iter()
            .filter(|e| e.service == s)
            .map(|e| e.name.split_once('.').unwrap().1.to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(endpoints("orders"), ["place", "status"], "{notes}");
    assert_eq!(endpoints("orders_from_stock"), ["price"], "{notes}");
    assert_eq!(endpoints("stock"), ["check"], "{notes}");
    assert_eq!(endpoints("api"), ["get"], "{notes}");
    assert_eq!(endpoints("api_internal"), ["query"], "{notes}");
    // One split is enough between x and y: x's endpoints call neither each other nor back.
    assert_eq!(endpoints("x"), ["a", "c"], "{notes}");
    assert_eq!(endpoints("y"), ["b2"], "{notes}");
    assert_eq!(endpoints("y_from_x"), ["b1"], "{notes}");
    assert_eq!(endpoints("r"), ["one"], "{notes}");
    assert_eq!(endpoints("s"), ["two"], "{notes}");
    assert!(
        notes.contains("(recursion through other services) were left out, as meshsim's calls do not recurse: s.two → r.one"),
        "{notes}"
    );
    assert!(
        notes.contains("`orders` is on a cycle of calls between services")
            && notes.contains("`orders_from_stock`"),
        "{notes}"
    );
    // The parts' links: between stock and orders (3,000 − 2,200) / 2 µs = 0.4 ms one way on the
    // calls to stock, (1,000 − 800) / 2 = 0.1 ms on those back, 0.25 ms on average; the call
    // within api (2,000 − 1,000) / 2 = 0.5 ms.
    let text = &imported.written.text;
    for (between, ms) in [
        ("[\"orders_from_stock\", \"stock\"]", "0.25"),
        ("[\"orders\", \"stock\"]", "0.25"),
        ("[\"api\", \"api_internal\"]", "0.5"),
    ] {
        let at = text
            .find(&format!("between = {between}"))
            .unwrap_or_else(|| panic!("no link {between}:\n{text}"));
        assert!(
            text[at..]
                .lines()
                .nth(1)
                .unwrap()
                .starts_with(&format!("latency_ms = {ms} ")),
            "{between}:\n{text}"
        );
    }
    let r = meshsim::sim::simulate(&with_duration(m, 5.0, 1.0));
    assert!(r.all.completed > 100);
}
