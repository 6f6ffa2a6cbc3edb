//! Reading trace files into one span type, whatever their format: OTLP/JSON (also one object per
//! line, as the collector's file exporter writes), Jaeger's JSON and Zipkin v2 JSON. The format
//! is recognised from the content; files are read as a stream of JSON values, not whole.

use super::ImportError;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The side of a call a span records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Server,
    Client,
    Internal,
    Producer,
    Consumer,
    Unspecified,
}

/// One span, normalised. Strings are interned in [`Spans::names`].
#[derive(Clone, Debug)]
pub struct SpanRec {
    pub trace: u128,
    pub id: u64,
    pub parent: Option<u64>,
    pub service: u32,
    pub name: u32,
    pub kind: Kind,
    pub start_ns: i64,
    pub end_ns: i64,
    /// The instance that recorded it (interned; `None` when the format does not say).
    pub instance: Option<u32>,
    /// The host it ran on (interned address or host name; `None` when the format does not
    /// say): spans of one host share its clock, so they are never corrected for skew.
    pub host: Option<u32>,
    pub error: bool,
    /// meshsim's own attribute: time the call waited for a worker.
    pub queue_ns: Option<i64>,
    /// The service a client span calls, when the span says (`peer.service`, a remote endpoint).
    pub peer: Option<u32>,
    /// A Zipkin server half that shares its client's span id.
    pub shared: bool,
}

/// Every span read, and what could not be used.
#[derive(Default)]
pub struct Spans {
    pub spans: Vec<SpanRec>,
    pub names: Vec<String>,
    index: HashMap<String, u32>,
    /// Spans left out, by reason.
    pub dropped: Vec<(String, u64)>,
    /// Spans read in a way worth saying, by what was done.
    pub noted: Vec<(String, u64)>,
    /// Formats met, per file.
    pub formats: Vec<(String, &'static str)>,
}

impl Spans {
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }

    pub fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }

    fn drop(&mut self, why: &str) {
        count(&mut self.dropped, why);
    }

    fn note(&mut self, what: &str) {
        count(&mut self.noted, what);
    }
}

fn count(list: &mut Vec<(String, u64)>, what: &str) {
    match list.iter_mut().find(|(w, _)| w == what) {
        Some((_, n)) => *n += 1,
        None => list.push((what.to_string(), 1)),
    }
}

/// A trace format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Otlp,
    Jaeger,
    Zipkin,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Otlp => "OTLP/JSON",
            Format::Jaeger => "Jaeger JSON",
            Format::Zipkin => "Zipkin v2 JSON",
        }
    }
}

/// Recognises the format from the first bytes of a file.
fn sniff(head: &[u8]) -> Option<Format> {
    let text = String::from_utf8_lossy(head);
    let first = text.trim_start().chars().next()?;
    if first != '{' && first != '[' {
        return None;
    }
    if text.contains("\"resourceSpans\"") {
        Some(Format::Otlp)
    } else if text.contains("\"traceID\"") || text.contains("\"operationName\"") {
        Some(Format::Jaeger)
    } else if text.contains("\"traceId\"")
        && (text.contains("\"localEndpoint\"") || text.contains("\"id\""))
    {
        Some(Format::Zipkin)
    } else {
        None
    }
}

/// Reads one file into `spans`.
pub fn read_file(path: &Path, spans: &mut Spans) -> Result<(), ImportError> {
    let file = std::fs::File::open(path).map_err(|source| ImportError::Io {
        path: path.display().to_string(),
        source,
    })?;
    read_from(path, BufReader::with_capacity(1 << 20, file), spans)
}

/// Reads traces from `reader` (named `path` in messages) into `spans`.
pub fn read_from(
    path: &Path,
    mut reader: impl BufRead,
    spans: &mut Spans,
) -> Result<(), ImportError> {
    let io = |source| ImportError::Io {
        path: path.display().to_string(),
        source,
    };
    let head = reader.fill_buf().map_err(io)?.to_vec();
    if head.is_empty() {
        return Err(ImportError::Format {
            path: path.display().to_string(),
            message: "the file is empty".into(),
        });
    }
    let Some(format) = sniff(&head) else {
        let binary = head.iter().take(512).any(|&b| b == 0 || (b < 0x09));
        return Err(ImportError::Format {
            path: path.display().to_string(),
            message: if binary {
                "this is not a text file (binary content): give JSON traces".into()
            } else if !matches!(
                String::from_utf8_lossy(&head).trim_start().chars().next(),
                Some('{' | '[')
            ) {
                "this is not JSON: give OTLP/JSON, Jaeger JSON or Zipkin v2 JSON traces".into()
            } else {
                "JSON, but not a trace format meshsim knows: expected OTLP/JSON (`resourceSpans`), Jaeger JSON (`data` of traces with `traceID` and `spans`) or Zipkin v2 JSON (an array of spans with `traceId` and `id`)".into()
            },
        });
    };
    spans
        .formats
        .push((path.display().to_string(), format.as_str()));
    // The documents' visitors convert each batch of spans as it is read, into the sink.
    SINK.with(|sink| std::mem::swap(&mut *sink.borrow_mut(), spans));
    let result = match format {
        Format::Otlp => stream::<OtlpDoc, _>(reader),
        Format::Jaeger => stream::<JaegerDoc, _>(reader),
        Format::Zipkin => stream::<ZipkinDoc, _>(reader),
    };
    SINK.with(|sink| std::mem::swap(&mut *sink.borrow_mut(), spans));
    result.map_err(|e| ImportError::Format {
        path: path.display().to_string(),
        message: format!(
            "{} could not be read: {e}{}",
            format.as_str(),
            if e.is_eof() {
                " (the file is cut short: was it truncated?)"
            } else {
                ""
            }
        ),
    })?;
    Ok(())
}

thread_local! {
    /// Where the streaming visitors put the spans they convert: serde's `Deserialize` takes no
    /// context, and a million spans must not be held in their JSON form at once.
    static SINK: std::cell::RefCell<Spans> = std::cell::RefCell::new(Spans::default());
}

fn sink(f: impl FnOnce(&mut Spans)) {
    SINK.with(|s| f(&mut s.borrow_mut()));
}

/// Reads every JSON value of `reader` in turn (one document, or one per line); the documents'
/// visitors convert their spans as they go.
fn stream<T: for<'de> Deserialize<'de>, R: Read>(reader: R) -> Result<(), serde_json::Error> {
    for doc in serde_json::Deserializer::from_reader(reader).into_iter::<T>() {
        doc?;
    }
    Ok(())
}

/// A sequence whose elements are converted one at a time.
struct Each<T>(fn(T, &mut Spans));

impl<'de, T: Deserialize<'de>> de::DeserializeSeed<'de> for Each<T> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Each<T> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(x) = seq.next_element::<T>()? {
            sink(|s| (self.0)(x, s));
        }
        Ok(())
    }
}

/// Latest time a span may have, in Unix ns: half of i64's range (the year 2116), so that the sum
/// of two times, as skew correction takes, cannot overflow.
const MAX_NS: u64 = (i64::MAX / 2) as u64;

fn micros_to_ns(us: u64) -> i64 {
    us.saturating_mul(1000).min(MAX_NS) as i64
}

/// Hex id of at most 32 digits.
fn hex(s: &str) -> Option<u128> {
    if s.is_empty() || s.len() > 32 {
        return None;
    }
    u128::from_str_radix(s, 16).ok()
}

/// A 64-bit integer written as a number or as a string of digits (OTLP/JSON allows both).
fn u64_any<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an integer or a string of digits")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(u64::try_from(v).ok())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok((v >= 0.0 && v.is_finite()).then_some(v as u64))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.trim().parse().ok())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// An enum written as its integer or its name (`2` or `"SPAN_KIND_SERVER"`).
fn enum_any<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an integer or a name")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

// ---------------------------------------------------------------- OTLP/JSON

/// An OTLP/JSON document, its `resourceSpans` converted one resource at a time.
struct OtlpDoc;

impl<'de> Deserialize<'de> for OtlpDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OtlpDoc, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OtlpDoc;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an OTLP/JSON object with `resourceSpans`")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<OtlpDoc, A::Error> {
                while let Some(key) = map.next_key::<String>()? {
                    if key == "resourceSpans" {
                        map.next_value_seed(Each::<OtlpResourceSpans>(otlp_resource))?;
                    } else {
                        map.next_value::<de::IgnoredAny>()?;
                    }
                }
                Ok(OtlpDoc)
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OtlpResourceSpans {
    #[serde(default)]
    resource: Option<OtlpResource>,
    #[serde(default)]
    scope_spans: Vec<OtlpScopeSpans>,
    /// The name before OTLP 0.15.
    #[serde(default)]
    instrumentation_library_spans: Vec<OtlpScopeSpans>,
}

#[derive(Deserialize)]
struct OtlpResource {
    #[serde(default)]
    attributes: Vec<OtlpAttr>,
}

#[derive(Deserialize)]
struct OtlpScopeSpans {
    #[serde(default)]
    spans: Vec<OtlpSpan>,
}

#[derive(Deserialize)]
struct OtlpAttr {
    key: String,
    #[serde(default)]
    value: Option<OtlpValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OtlpValue {
    string_value: Option<String>,
    #[serde(default, deserialize_with = "u64_any")]
    int_value: Option<u64>,
    double_value: Option<f64>,
    bool_value: Option<bool>,
}

impl OtlpValue {
    fn text(&self) -> Option<String> {
        self.string_value
            .clone()
            .or_else(|| self.int_value.map(|i| i.to_string()))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OtlpSpan {
    #[serde(default)]
    trace_id: String,
    #[serde(default)]
    span_id: String,
    #[serde(default)]
    parent_span_id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default, deserialize_with = "enum_any")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "u64_any")]
    start_time_unix_nano: Option<u64>,
    #[serde(default, deserialize_with = "u64_any")]
    end_time_unix_nano: Option<u64>,
    #[serde(default)]
    attributes: Vec<OtlpAttr>,
    #[serde(default)]
    status: Option<OtlpStatus>,
}

#[derive(Deserialize)]
struct OtlpStatus {
    #[serde(default, deserialize_with = "enum_any")]
    code: Option<String>,
}

fn otlp_kind(k: Option<&str>) -> Kind {
    match k.unwrap_or("0") {
        "2" | "SPAN_KIND_SERVER" => Kind::Server,
        "3" | "SPAN_KIND_CLIENT" => Kind::Client,
        "1" | "SPAN_KIND_INTERNAL" => Kind::Internal,
        "4" | "SPAN_KIND_PRODUCER" => Kind::Producer,
        "5" | "SPAN_KIND_CONSUMER" => Kind::Consumer,
        _ => Kind::Unspecified,
    }
}

fn otlp_resource(rs: OtlpResourceSpans, spans: &mut Spans) {
    {
        let attrs = rs.resource.map(|r| r.attributes).unwrap_or_default();
        let find = |key: &str| {
            attrs
                .iter()
                .find(|a| a.key == key)
                .and_then(|a| a.value.as_ref())
                .and_then(OtlpValue::text)
        };
        let service = find("service.name").unwrap_or_else(|| "unknown_service".into());
        let instance = find("service.instance.id")
            .or_else(|| find("host.name"))
            .or_else(|| find("k8s.pod.name"));
        let host = find("host.name")
            .or_else(|| find("host.id"))
            .map(|h| spans.intern(&h));
        let service_id = spans.intern(&service);
        let instance_id = instance.map(|i| spans.intern(&format!("{service}\u{1}{i}")));
        for scope in rs
            .scope_spans
            .into_iter()
            .chain(rs.instrumentation_library_spans)
        {
            for s in scope.spans {
                let (Some(trace), Some(id)) = (hex(&s.trace_id), hex(&s.span_id)) else {
                    spans.drop("spans without a valid trace or span id");
                    continue;
                };
                let (Some(start), Some(end)) = (s.start_time_unix_nano, s.end_time_unix_nano)
                else {
                    spans.drop("spans without a start or end time");
                    continue;
                };
                if start == 0 || end < start {
                    spans.drop("spans without a start or end time");
                    continue;
                }
                let attr = |key: &str| s.attributes.iter().find(|a| a.key == key);
                let queue_ns = attr("meshsim.queue_ms")
                    .and_then(|a| a.value.as_ref())
                    .and_then(|v| v.double_value.or(v.int_value.map(|i| i as f64)))
                    .map(|ms| (ms * 1e6).round() as i64);
                let peer = [
                    "peer.service",
                    "server.address",
                    "net.peer.name",
                    "db.system",
                ]
                .iter()
                .find_map(|k| {
                    attr(k)
                        .and_then(|a| a.value.as_ref())
                        .and_then(OtlpValue::text)
                });
                let error = s
                    .status
                    .as_ref()
                    .and_then(|st| st.code.as_deref())
                    .is_some_and(|c| c == "2" || c == "STATUS_CODE_ERROR");
                let name = spans.intern(&s.name);
                let peer = peer.map(|p| spans.intern(&p));
                spans.spans.push(SpanRec {
                    trace,
                    id: id as u64,
                    parent: s
                        .parent_span_id
                        .as_deref()
                        .filter(|p| !p.is_empty())
                        .and_then(hex)
                        .map(|p| p as u64)
                        .filter(|&p| p != 0),
                    service: service_id,
                    name,
                    kind: otlp_kind(s.kind.as_deref()),
                    start_ns: start.min(MAX_NS) as i64,
                    end_ns: end.min(MAX_NS) as i64,
                    instance: instance_id,
                    host,
                    error,
                    queue_ns,
                    peer,
                    shared: false,
                });
                if s.attributes.iter().any(|a| {
                    a.key == "error" && a.value.as_ref().and_then(|v| v.bool_value) == Some(true)
                }) && let Some(last) = spans.spans.last_mut()
                {
                    last.error = true;
                }
            }
        }
    }
}

// ---------------------------------------------------------------- Jaeger

/// `{"data": [trace…]}`, a bare trace, or an array of traces; converted a trace at a time.
struct JaegerDoc;

impl<'de> Deserialize<'de> for JaegerDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<JaegerDoc, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JaegerDoc;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("Jaeger JSON: {\"data\": [trace…]}, a trace, or an array of traces")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<JaegerDoc, A::Error> {
                Each::<JaegerTrace>(jaeger_trace).visit_seq(seq)?;
                Ok(JaegerDoc)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<JaegerDoc, A::Error> {
                let mut bare = JaegerTrace {
                    spans: Vec::new(),
                    processes: HashMap::new(),
                };
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "data" => map.next_value_seed(Each::<JaegerTrace>(jaeger_trace))?,
                        "spans" => bare.spans = map.next_value()?,
                        "processes" => bare.processes = map.next_value()?,
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                if !bare.spans.is_empty() {
                    sink(|s| jaeger_trace(bare, s));
                }
                Ok(JaegerDoc)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JaegerTrace {
    #[serde(default)]
    spans: Vec<JaegerSpan>,
    #[serde(default)]
    processes: HashMap<String, JaegerProcess>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JaegerProcess {
    #[serde(default)]
    service_name: String,
    #[serde(default)]
    tags: Vec<JaegerTag>,
}

#[derive(Deserialize)]
struct JaegerTag {
    key: String,
    #[serde(default)]
    value: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JaegerRef {
    #[serde(default)]
    ref_type: String,
    #[serde(rename = "spanID", default)]
    span_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JaegerSpan {
    #[serde(rename = "traceID", default)]
    trace_id: String,
    #[serde(rename = "spanID", default)]
    span_id: String,
    #[serde(default)]
    operation_name: String,
    #[serde(default)]
    references: Vec<JaegerRef>,
    /// Older exports put the parent here.
    #[serde(rename = "parentSpanID", default)]
    parent_span_id: Option<String>,
    #[serde(default, deserialize_with = "u64_any")]
    start_time: Option<u64>,
    #[serde(default, deserialize_with = "u64_any")]
    duration: Option<u64>,
    #[serde(default)]
    tags: Vec<JaegerTag>,
    #[serde(rename = "processID", default)]
    process_id: String,
    #[serde(default)]
    process: Option<JaegerProcess>,
}

fn tag_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn jaeger_trace(t: JaegerTrace, spans: &mut Spans) {
    {
        for s in t.spans {
            let process = s
                .process
                .as_ref()
                .or_else(|| t.processes.get(&s.process_id));
            let Some(process) = process else {
                spans.drop("spans whose process (service) is missing");
                continue;
            };
            let (Some(trace), Some(id)) = (hex(&s.trace_id), hex(&s.span_id)) else {
                spans.drop("spans without a valid trace or span id");
                continue;
            };
            let (Some(start_us), Some(duration_us)) = (s.start_time, s.duration) else {
                spans.drop("spans without a start or end time");
                continue;
            };
            if start_us == 0 {
                spans.drop("spans without a start or end time");
                continue;
            }
            let tag = |key: &str| s.tags.iter().find(|t| t.key == key).map(|t| &t.value);
            let kind = match tag("span.kind").map(tag_text).as_deref() {
                Some("server") => Kind::Server,
                Some("client") => Kind::Client,
                Some("producer") => Kind::Producer,
                Some("consumer") => Kind::Consumer,
                Some("internal") => Kind::Internal,
                _ => Kind::Unspecified,
            };
            let parent = s
                .references
                .iter()
                .find(|r| r.ref_type == "CHILD_OF")
                .or_else(|| s.references.iter().find(|r| r.ref_type == "FOLLOWS_FROM"))
                .map(|r| r.span_id.clone())
                .or(s.parent_span_id.clone())
                .filter(|p| !p.is_empty())
                .and_then(|p| hex(&p))
                .map(|p| p as u64)
                .filter(|&p| p != 0);
            let follows = s.references.iter().all(|r| r.ref_type == "FOLLOWS_FROM")
                && !s.references.is_empty();
            let error = tag("error")
                .is_some_and(|v| v == &serde_json::Value::Bool(true) || tag_text(v) == "true");
            let queue_ns = tag("meshsim.queue_ms")
                .and_then(serde_json::Value::as_f64)
                .map(|ms| (ms * 1e6).round() as i64);
            let instance_tag = process
                .tags
                .iter()
                .find(|t| {
                    ["service.instance.id", "hostname", "ip", "host.name"].contains(&t.key.as_str())
                })
                .map(|t| tag_text(&t.value));
            let host = process
                .tags
                .iter()
                .find(|t| ["hostname", "ip", "host.name"].contains(&t.key.as_str()))
                .map(|t| spans.intern(&tag_text(&t.value)));
            let service = spans.intern(&process.service_name);
            let instance =
                instance_tag.map(|i| spans.intern(&format!("{}\u{1}{i}", process.service_name)));
            let peer = tag("peer.service").map(tag_text).map(|p| spans.intern(&p));
            let name = spans.intern(&s.operation_name);
            if follows {
                spans.note("spans that only follow from another (FOLLOWS_FROM: work started by it, perhaps asynchronous): read as its children");
            }
            spans.spans.push(SpanRec {
                trace,
                id: id as u64,
                parent,
                service,
                name,
                kind,
                start_ns: micros_to_ns(start_us),
                end_ns: micros_to_ns(start_us.saturating_add(duration_us)),
                instance,
                host,
                error,
                queue_ns,
                peer,
                shared: false,
            });
        }
    }
}

// ---------------------------------------------------------------- Zipkin v2

/// An array of spans, or an array of traces (arrays of spans), as Zipkin's API returns them;
/// converted a span (or a trace) at a time.
struct ZipkinDoc;

/// One element of the top-level array: a span or a trace.
#[derive(Deserialize)]
#[serde(untagged)]
enum ZipkinItem {
    Trace(Vec<ZipkinSpan>),
    Span(Box<ZipkinSpan>),
}

fn zipkin_item(item: ZipkinItem, spans: &mut Spans) {
    match item {
        ZipkinItem::Trace(t) => t.into_iter().for_each(|s| zipkin_span(s, spans)),
        ZipkinItem::Span(s) => zipkin_span(*s, spans),
    }
}

impl<'de> Deserialize<'de> for ZipkinDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ZipkinDoc, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ZipkinDoc;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("Zipkin v2 JSON: an array of spans or of traces")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<ZipkinDoc, A::Error> {
                Each::<ZipkinItem>(zipkin_item).visit_seq(seq)?;
                Ok(ZipkinDoc)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<ZipkinDoc, A::Error> {
                let span = ZipkinSpan::deserialize(de::value::MapAccessDeserializer::new(map))?;
                sink(|s| zipkin_span(span, s));
                Ok(ZipkinDoc)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ZipkinSpan {
    #[serde(default)]
    trace_id: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default, deserialize_with = "u64_any")]
    timestamp: Option<u64>,
    #[serde(default, deserialize_with = "u64_any")]
    duration: Option<u64>,
    #[serde(default)]
    local_endpoint: Option<ZipkinEndpoint>,
    #[serde(default)]
    remote_endpoint: Option<ZipkinEndpoint>,
    #[serde(default)]
    tags: HashMap<String, String>,
    #[serde(default)]
    shared: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ZipkinEndpoint {
    #[serde(default)]
    service_name: Option<String>,
    #[serde(default)]
    ipv4: Option<String>,
    #[serde(default)]
    ipv6: Option<String>,
    #[serde(default)]
    port: Option<u32>,
}

fn zipkin_span(s: ZipkinSpan, spans: &mut Spans) {
    {
        let (Some(trace), Some(id)) = (hex(&s.trace_id), hex(&s.id)) else {
            spans.drop("spans without a valid trace or span id");
            return;
        };
        let (Some(start_us), Some(duration_us)) = (s.timestamp, s.duration) else {
            spans.drop("spans without a timestamp or duration");
            return;
        };
        let local = s.local_endpoint.as_ref();
        let Some(service) = local.and_then(|l| l.service_name.clone()) else {
            spans.drop("spans without a service name (localEndpoint.serviceName)");
            return;
        };
        let kind = match s.kind.as_deref() {
            Some("SERVER") => Kind::Server,
            Some("CLIENT") => Kind::Client,
            Some("PRODUCER") => Kind::Producer,
            Some("CONSUMER") => Kind::Consumer,
            _ => Kind::Internal,
        };
        let instance = local.and_then(|l| {
            let ip = l.ipv4.clone().or(l.ipv6.clone())?;
            Some(format!("{ip}:{}", l.port.unwrap_or(0)))
        });
        let host = local
            .and_then(|l| l.ipv4.clone().or(l.ipv6.clone()))
            .map(|h| spans.intern(&h));
        let service_id = spans.intern(&service);
        let instance = instance.map(|i| spans.intern(&format!("{service}\u{1}{i}")));
        let peer = s
            .remote_endpoint
            .as_ref()
            .and_then(|r| r.service_name.clone())
            .or_else(|| s.tags.get("peer.service").cloned())
            .map(|p| spans.intern(&p));
        let name = spans.intern(s.name.as_deref().unwrap_or(""));
        let queue_ns = s
            .tags
            .get("meshsim.queue_ms")
            .and_then(|v| v.parse::<f64>().ok())
            .map(|ms| (ms * 1e6).round() as i64);
        spans.spans.push(SpanRec {
            trace,
            id: id as u64,
            parent: s
                .parent_id
                .as_deref()
                .and_then(hex)
                .map(|p| p as u64)
                .filter(|&p| p != 0),
            service: service_id,
            name,
            kind,
            start_ns: micros_to_ns(start_us),
            end_ns: micros_to_ns(start_us.saturating_add(duration_us)),
            instance,
            host,
            error: s.tags.contains_key("error"),
            queue_ns,
            peer,
            shared: s.shared,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_recognised_from_their_content() {
        assert_eq!(sniff(br#"{"resourceSpans":[]}"#), Some(Format::Otlp));
        assert_eq!(
            sniff(br#"{"data":[{"traceID":"1","spans":[]}]}"#),
            Some(Format::Jaeger)
        );
        assert_eq!(
            sniff(br#"[{"traceId":"1","id":"2","localEndpoint":{}}]"#),
            Some(Format::Zipkin)
        );
        assert_eq!(sniff(br#"{"hello": 1}"#), None);
        assert_eq!(sniff(b"\x00\x01binary"), None);
        assert_eq!(sniff(b"name,value\n"), None);
    }

    #[test]
    fn ids_are_hex_and_integers_may_be_strings() {
        assert_eq!(hex("00ff"), Some(255));
        assert_eq!(hex("xyz"), None);
        assert_eq!(hex(""), None);
        let v: OtlpSpan = serde_json::from_str(
            r#"{"traceId":"01","spanId":"02","startTimeUnixNano":"5","endTimeUnixNano":7,"kind":"SPAN_KIND_SERVER"}"#,
        )
        .unwrap();
        assert_eq!(
            (v.start_time_unix_nano, v.end_time_unix_nano),
            (Some(5), Some(7))
        );
        assert_eq!(otlp_kind(v.kind.as_deref()), Kind::Server);
        assert_eq!(otlp_kind(Some("3")), Kind::Client);
    }
}
