//! Simulated requests out as traces, in the formats the tools teams already use:
//! OTLP/JSON (any OpenTelemetry backend), Jaeger's JSON (Jaeger UI opens it from a file) and the
//! Chrome trace-event format (Perfetto and chrome://tracing open it offline).
//!
//! Simulated time 0 is [`EPOCH_UNIX_NS`] (2026-01-01 00:00:00 UTC), so every export of the same
//! run is byte-identical.

use crate::model::Model;
use crate::sim::{ErrorKind, Span, SpanKind, Trace};

/// Simulated time 0, in Unix nanoseconds: 2026-01-01T00:00:00Z.
pub const EPOCH_UNIX_NS: u64 = 1_767_225_600_000_000_000;

/// The ids of one trace: 128-bit trace id and a 64-bit id per span, derived from the seed and
/// the request's number.
struct Ids {
    trace: String,
    spans: Vec<String>,
}

fn ids(seed: u64, t: &Trace) -> Ids {
    let hi = crate::sim::trace_mix(seed ^ crate::sim::trace_mix(t.request));
    let lo = crate::sim::trace_mix(hi ^ t.request);
    let spans = t
        .spans
        .iter()
        .map(|s| {
            format!(
                "{:016x}",
                crate::sim::trace_mix(lo ^ u64::from(s.index + 1)) | 1
            )
        })
        .collect();
    Ids {
        trace: format!("{hi:016x}{lo:016x}"),
        spans,
    }
}

/// What a span is called: the callee endpoint's name within its service (a gateway span is
/// named after its route).
fn operation(model: &Model, s: &Span) -> String {
    let e = &model.endpoints[s.endpoint as usize];
    let service = &model.services[e.service].name;
    if e.service == crate::model::GATEWAY {
        e.name.clone()
    } else {
        e.name
            .strip_prefix(&format!("{service}."))
            .unwrap_or(&e.name)
            .to_string()
    }
}

fn error_name(e: ErrorKind) -> &'static str {
    e.as_str()
}

fn unix_ns(t: crate::engine::SimTime) -> u64 {
    EPOCH_UNIX_NS + t.as_nanos()
}

fn end(s: &Span) -> crate::engine::SimTime {
    s.end.unwrap_or(s.start)
}

/// `service-instance` of a span's recording side, as `service.instance.id`.
fn instance_id(model: &Model, s: &Span) -> String {
    format!(
        "{}-{}",
        model.services[s.service as usize].name,
        s.instance.unwrap_or(0)
    )
}

/// An attribute value.
#[derive(Clone, Debug)]
enum Attr {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// JSON writing by hand: traces run to millions of spans, and building `serde_json::Value`s
/// for them cost 50 µs a span.
struct Json(Vec<u8>);

impl Json {
    fn raw(&mut self, s: &str) -> &mut Self {
        self.0.extend_from_slice(s.as_bytes());
        self
    }

    fn string(&mut self, s: &str) -> &mut Self {
        self.0.push(b'"');
        for c in s.chars() {
            match c {
                '"' => self.0.extend_from_slice(b"\\\""),
                '\\' => self.0.extend_from_slice(b"\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.0, "\\u{:04x}", c as u32);
                }
                c => {
                    let mut buf = [0u8; 4];
                    self.0.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        self.0.push(b'"');
        self
    }

    fn num(&mut self, x: impl std::fmt::Display) -> &mut Self {
        let _ = write!(self.0, "{x}");
        self
    }

    /// A float as JSON (finite; NaN and infinities as null).
    fn float(&mut self, x: f64) -> &mut Self {
        if x.is_finite() {
            let _ = write!(self.0, "{x}");
        } else {
            self.0.extend_from_slice(b"null");
        }
        self
    }

    fn attr_value(&mut self, v: &Attr) -> &mut Self {
        match v {
            Attr::Str(s) => self.string(s),
            Attr::Int(i) => self.num(i),
            Attr::Float(x) => self.float(*x),
            Attr::Bool(b) => self.raw(if *b { "true" } else { "false" }),
        }
    }
}

use std::io::Write as _;

/// The attributes of a span, common to every format.
fn attributes(model: &Model, s: &Span) -> Vec<(&'static str, Attr)> {
    let mut out = Vec::new();
    let peer = || Attr::Str(model.services[s.peer as usize].name.clone());
    match s.kind {
        SpanKind::Server | SpanKind::Consumer => {
            out.push((
                "meshsim.instance",
                Attr::Int(i64::from(s.instance.unwrap_or(0))),
            ));
            out.push((
                "meshsim.queue_ms",
                Attr::Float(s.queued.as_secs_f64() * 1e3),
            ));
            if s.parent.is_some() {
                out.push(("meshsim.caller", peer()));
            }
        }
        SpanKind::Client | SpanKind::Producer => {
            out.push(("peer.service", peer()));
            out.push(("meshsim.attempt", Attr::Int(i64::from(s.attempt))));
            if s.attempt > 1 {
                out.push(("meshsim.retry", Attr::Bool(true)));
            }
            if s.abandoned {
                out.push(("meshsim.timed_out", Attr::Bool(true)));
            }
        }
    }
    if let Some(e) = s.error {
        out.push(("error.type", Attr::Str(error_name(e).into())));
    }
    if s.unfinished {
        out.push(("meshsim.unfinished", Attr::Bool(true)));
    }
    out
}

/// `traces.json`: OTLP/JSON, one resource per service instance.
pub fn otlp_json(model: &Model, seed: u64, traces: &[Trace]) -> Vec<u8> {
    // Resource (service, instance) → its spans as (trace, span).
    let mut resources: std::collections::BTreeMap<(u32, u32), Vec<(usize, usize)>> =
        std::collections::BTreeMap::new();
    for (ti, t) in traces.iter().enumerate() {
        for (si, s) in t.spans.iter().enumerate() {
            let key = (s.service, s.instance.unwrap_or(0));
            resources.entry(key).or_default().push((ti, si));
        }
    }
    let all_ids: Vec<Ids> = traces.iter().map(|t| ids(seed, t)).collect();
    let mut j = Json(Vec::with_capacity(traces.len() * 1200));
    j.raw("{\"resourceSpans\":[");
    // At most this many spans per resource entry, as exporters batch them: a reader holds one
    // entry at a time.
    const BATCH: usize = 1000;
    let batches = resources
        .iter()
        .flat_map(|(key, spans)| spans.chunks(BATCH).map(move |c| (key, c)));
    for (r, ((service, instance), spans)) in batches.enumerate() {
        let name = &model.services[*service as usize].name;
        if r > 0 {
            j.raw(",");
        }
        j.raw(
            "{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":",
        )
        .string(name)
        .raw("}},{\"key\":\"service.instance.id\",\"value\":{\"stringValue\":")
        .string(&format!("{name}-{instance}"))
        .raw("}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"meshsim\",\"version\":")
        .string(env!("CARGO_PKG_VERSION"))
        .raw("},\"spans\":[");
        for (k, &(ti, si)) in spans.iter().enumerate() {
            let (t, ids) = (&traces[ti], &all_ids[ti]);
            let s = &t.spans[si];
            if k > 0 {
                j.raw(",");
            }
            j.raw("{\"traceId\":\"")
                .raw(&ids.trace)
                .raw("\",\"spanId\":\"")
                .raw(&ids.spans[s.index as usize])
                .raw("\"");
            if let Some(p) = s.parent {
                j.raw(",\"parentSpanId\":\"")
                    .raw(&ids.spans[p as usize])
                    .raw("\"");
            }
            j.raw(",\"name\":")
                .string(&operation(model, s))
                .raw(",\"kind\":")
                .num(s.kind.otlp())
                .raw(",\"startTimeUnixNano\":\"")
                .num(unix_ns(s.start))
                .raw("\",\"endTimeUnixNano\":\"")
                .num(unix_ns(end(s)))
                .raw("\",\"attributes\":[");
            for (a, (key, v)) in attributes(model, s).iter().enumerate() {
                if a > 0 {
                    j.raw(",");
                }
                j.raw("{\"key\":").string(key).raw(",\"value\":{");
                match v {
                    Attr::Str(_) => j.raw("\"stringValue\":").attr_value(v),
                    Attr::Int(i) => j.raw("\"intValue\":\"").num(i).raw("\""),
                    Attr::Float(_) => j.raw("\"doubleValue\":").attr_value(v),
                    Attr::Bool(_) => j.raw("\"boolValue\":").attr_value(v),
                };
                j.raw("}}");
            }
            j.raw("],\"status\":");
            match s.error {
                Some(e) => j
                    .raw("{\"code\":2,\"message\":")
                    .string(error_name(e))
                    .raw("}"),
                None => j.raw("{\"code\":0}"),
            };
            j.raw("}");
        }
        j.raw("]}]}");
    }
    j.raw("]}\n");
    j.0
}

/// `traces.jaeger.json`: the JSON of Jaeger's query API (`{"data": [trace…]}`), which Jaeger
/// UI's "JSON File" tab opens with no backend.
pub fn jaeger_json(model: &Model, seed: u64, traces: &[Trace]) -> Vec<u8> {
    let mut j = Json(Vec::with_capacity(traces.len() * 2000));
    j.raw("{\"data\":[");
    for (n, t) in traces.iter().enumerate() {
        let ids = ids(seed, t);
        if n > 0 {
            j.raw(",");
        }
        j.raw("{\"traceID\":\"")
            .raw(&ids.trace)
            .raw("\",\"spans\":[");
        let mut processes: Vec<String> = Vec::new();
        for (k, s) in t.spans.iter().enumerate() {
            let instance = instance_id(model, s);
            let p = match processes.iter().position(|x| *x == instance) {
                Some(p) => p,
                None => {
                    processes.push(instance);
                    processes.len() - 1
                }
            };
            if k > 0 {
                j.raw(",");
            }
            j.raw("{\"traceID\":\"")
                .raw(&ids.trace)
                .raw("\",\"spanID\":\"")
                .raw(&ids.spans[s.index as usize])
                .raw("\",\"operationName\":")
                .string(&operation(model, s))
                .raw(",\"references\":[");
            if let Some(p) = s.parent {
                j.raw("{\"refType\":\"CHILD_OF\",\"traceID\":\"")
                    .raw(&ids.trace)
                    .raw("\",\"spanID\":\"")
                    .raw(&ids.spans[p as usize])
                    .raw("\"}");
            }
            j.raw("],\"startTime\":")
                .num(unix_ns(s.start) / 1000)
                .raw(",\"duration\":")
                .num((end(s) - s.start).as_nanos().div_ceil(1000))
                .raw(",\"tags\":[{\"key\":\"span.kind\",\"type\":\"string\",\"value\":")
                .string(s.kind.tag())
                .raw("}");
            let mut tags = attributes(model, s);
            if s.error.is_some() {
                tags.push(("error", Attr::Bool(true)));
            }
            for (key, v) in &tags {
                let kind = match v {
                    Attr::Str(_) => "string",
                    Attr::Int(_) => "int64",
                    Attr::Float(_) => "float64",
                    Attr::Bool(_) => "bool",
                };
                j.raw(",{\"key\":")
                    .string(key)
                    .raw(",\"type\":\"")
                    .raw(kind)
                    .raw("\",\"value\":")
                    .attr_value(v)
                    .raw("}");
            }
            j.raw("],\"logs\":[],\"processID\":\"p")
                .num(p + 1)
                .raw("\",\"warnings\":null,\"flags\":1}");
        }
        j.raw("],\"processes\":{");
        for (i, instance) in processes.iter().enumerate() {
            let service = instance.rsplit_once('-').map_or(instance.as_str(), |x| x.0);
            if i > 0 {
                j.raw(",");
            }
            j.raw("\"p")
                .num(i + 1)
                .raw("\":{\"serviceName\":")
                .string(service)
                .raw(",\"tags\":[{\"key\":\"service.instance.id\",\"type\":\"string\",\"value\":")
                .string(instance)
                .raw("}]}");
        }
        j.raw("},\"warnings\":null}");
    }
    j.raw("],\"total\":0,\"limit\":0,\"offset\":0,\"errors\":null}\n");
    j.0
}

/// Writes a span's attributes (and its request number) as a JSON object of `args`.
fn args(j: &mut Json, model: &Model, request: u64, s: &Span) {
    j.raw("{\"request\":").num(request);
    for (key, v) in attributes(model, s) {
        j.raw(",").string(key).raw(":").attr_value(&v);
    }
    j.raw("}");
}

/// Microseconds with nanosecond precision, as the trace-event format counts.
fn micros(j: &mut Json, ns: u64) -> &mut Json {
    j.num(ns / 1000).raw(".").raw(&format!("{:03}", ns % 1000))
}

/// `traces.perfetto.json`: Chrome trace events. A process per service; on it a track per worker
/// lane of each instance, holding the server spans as complete events (lanes are assigned so
/// that no two overlap), and the client spans as async events (they overlap freely).
pub fn perfetto_json(model: &Model, seed: u64, traces: &[Trace]) -> Vec<u8> {
    let mut j = Json(Vec::with_capacity(traces.len() * 900));
    j.raw("{\"traceEvents\":[");
    let mut first = true;
    let mut sep = |j: &mut Json| {
        if !first {
            j.raw(",\n");
        }
        first = false;
    };
    // Per (service, instance): the end of each lane's last span.
    let mut lanes: std::collections::HashMap<(u32, u32), Vec<u64>> = Default::default();
    let mut servers: Vec<(&Trace, &Span)> = traces
        .iter()
        .flat_map(|t| t.spans.iter().map(move |s| (t, s)))
        .filter(|(_, s)| s.kind.is_callee())
        .collect();
    servers.sort_by_key(|(t, s)| (s.start, t.request, s.index));
    let mut threads: std::collections::BTreeSet<(u32, u32, u32, usize)> = Default::default();
    for (t, s) in servers {
        let key = (s.service, s.instance.unwrap_or(0));
        let ends = lanes.entry(key).or_default();
        let start = s.start.as_nanos();
        let lane = match ends.iter().position(|&e| e <= start) {
            Some(l) => l,
            None => {
                ends.push(0);
                ends.len() - 1
            }
        };
        ends[lane] = end(s).as_nanos();
        let tid = key.1 * 10_000 + lane as u32 + 1;
        threads.insert((s.service, tid, key.1, lane + 1));
        sep(&mut j);
        j.raw("{\"name\":")
            .string(&operation(model, s))
            .raw(",\"cat\":\"server\",\"ph\":\"X\",\"ts\":");
        micros(&mut j, start).raw(",\"dur\":");
        micros(&mut j, (end(s) - s.start).as_nanos())
            .raw(",\"pid\":")
            .num(s.service)
            .raw(",\"tid\":")
            .num(tid)
            .raw(",\"args\":");
        args(&mut j, model, t.request, s);
        j.raw("}");
    }
    for t in traces {
        let ids = ids(seed, t);
        for s in t.spans.iter().filter(|s| !s.kind.is_callee()) {
            let callee = &model.endpoints[s.endpoint as usize].name;
            for (ph, at) in [("b", s.start), ("e", end(s))] {
                sep(&mut j);
                j.raw("{\"name\":")
                    .string(&format!("call {callee}"))
                    .raw(",\"cat\":\"client\",\"ph\":\"")
                    .raw(ph)
                    .raw("\",\"id\":\"0x")
                    .raw(&ids.spans[s.index as usize])
                    .raw("\",\"ts\":");
                micros(&mut j, at.as_nanos())
                    .raw(",\"pid\":")
                    .num(s.service)
                    .raw(",\"tid\":0");
                if ph == "b" {
                    j.raw(",\"args\":");
                    args(&mut j, model, t.request, s);
                }
                j.raw("}");
            }
        }
    }
    for (i, service) in model.services.iter().enumerate() {
        sep(&mut j);
        j.raw("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":")
            .num(i)
            .raw(",\"tid\":0,\"args\":{\"name\":")
            .string(&service.name)
            .raw("}}");
        sep(&mut j);
        j.raw("{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":")
            .num(i)
            .raw(",\"tid\":0,\"args\":{\"sort_index\":")
            .num(i)
            .raw("}}");
    }
    for (pid, tid, instance, lane) in threads {
        sep(&mut j);
        j.raw("{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":")
            .num(pid)
            .raw(",\"tid\":")
            .num(tid)
            .raw(",\"args\":{\"name\":")
            .string(&format!("instance {instance} · lane {lane}"))
            .raw("}}");
    }
    j.raw("],\"displayTimeUnit\":\"ms\",\"otherData\":{\"model\":")
        .string(&model.name)
        .raw(",\"seed\":")
        .num(seed)
        .raw("}}\n");
    j.0
}
