//! Distributed traces of simulated requests: for each sampled request, a server span per call
//! an endpoint served and a client span per call (attempt) a caller made, as a tracing library
//! inside each service would record them.
//!
//! Sampling is decided per request from the seed and the request's number, with its own hash
//! (not the run's random stream), so tracing leaves every other result unchanged.

use super::call::{Call, ErrorKind};
use crate::engine::{Handle, SimTime};
use std::collections::BinaryHeap;

/// Which requests to trace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TraceSampling {
    /// Share of the measured requests traced (head sampling), in [0, 1].
    pub fraction: f64,
    /// Also keep the traces of this many slowest measured requests.
    pub slowest: u32,
}

/// Server or client side of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    /// An endpoint serving a call: from the call's arrival at the service to its response.
    Server,
    /// A caller making a call: from sending the request to receiving the response (or giving
    /// up on it).
    Client,
    /// A caller sending a fire-and-forget call: it ends when the message is sent.
    Producer,
    /// An endpoint serving a fire-and-forget call, a child of its producer span.
    Consumer,
}

impl SpanKind {
    /// Whether the span is recorded by the service that does the work (server or consumer).
    pub fn is_callee(self) -> bool {
        matches!(self, SpanKind::Server | SpanKind::Consumer)
    }

    /// OpenTelemetry's `SpanKind` number.
    pub fn otlp(self) -> u8 {
        match self {
            SpanKind::Server => 2,
            SpanKind::Client => 3,
            SpanKind::Producer => 4,
            SpanKind::Consumer => 5,
        }
    }

    /// The `span.kind` tag of Jaeger and OpenTracing.
    pub fn tag(self) -> &'static str {
        match self {
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// One span.
#[derive(Clone, Debug)]
pub struct Span {
    /// Index of this span in its trace; its parent's index, if any.
    pub index: u32,
    pub parent: Option<u32>,
    pub kind: SpanKind,
    /// The endpoint called (both sides name the callee's operation).
    pub endpoint: u32,
    /// The service recording the span: the callee for a server span, the caller for a client.
    pub service: u32,
    /// The other side: the caller for a server span, the callee for a client span.
    pub peer: u32,
    /// The instance of `service` (for a client span: the caller's instance).
    pub instance: Option<u32>,
    pub start: SimTime,
    /// `None` while open; spans still open when the run ends are closed there, `unfinished`.
    pub end: Option<SimTime>,
    /// Server spans: time waiting for a worker; and the processing time drawn.
    pub queued: SimTime,
    pub work: SimTime,
    /// Client spans: 1 for the first attempt, 2 for the first retry or hedge, …
    pub attempt: u16,
    pub error: Option<ErrorKind>,
    /// The caller stopped waiting (timeout, or another attempt won).
    pub abandoned: bool,
    pub unfinished: bool,
}

/// The spans of one request.
#[derive(Clone, Debug)]
pub struct Trace {
    /// The request's number in the run (from 0, warm-up included).
    pub request: u64,
    pub route: u16,
    pub start: SimTime,
    /// When the client got its answer (or gave up); `None` if the run ended first.
    pub end: Option<SimTime>,
    pub error: Option<ErrorKind>,
    pub spans: Vec<Span>,
}

impl Trace {
    /// The request's latency, if it finished.
    pub fn latency(&self) -> Option<SimTime> {
        self.end.map(|e| e - self.start)
    }
}

/// Where a traced call's spans are.
#[derive(Clone, Copy)]
struct Open {
    request: u64,
    /// The trace's slot in [`Store`].
    slot: u32,
    server: u32,
    client: Option<u32>,
}

/// Traced calls by their handle's arena slot: a lookup per event of a traced call, without
/// hashing (a hash map here made a fully traced run 4× slower). The handle's generation tells a
/// reused slot apart.
#[derive(Default)]
struct OpenCalls(Vec<Option<(Handle, Open)>>);

impl OpenCalls {
    fn get(&self, h: Handle) -> Option<Open> {
        match self.0.get(h.index() as usize) {
            Some(Some((k, o))) if *k == h => Some(*o),
            _ => None,
        }
    }

    fn insert(&mut self, h: Handle, o: Open) {
        let i = h.index() as usize;
        if self.0.len() <= i {
            self.0.resize(i + 1, None);
        }
        self.0[i] = Some((h, o));
    }

    fn remove(&mut self, h: Handle) {
        if let Some(slot) = self.0.get_mut(h.index() as usize)
            && slot.is_some_and(|(k, _)| k == h)
        {
            *slot = None;
        }
    }
}

/// Traces being recorded and kept, in reusable slots; a slot is checked against the request it
/// holds, so a call of a dropped trace cannot write into the trace that took its slot.
#[derive(Default)]
struct Store {
    slots: Vec<Option<Trace>>,
    free: Vec<u32>,
}

impl Store {
    fn insert(&mut self, t: Trace) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(t);
                i
            }
            None => {
                self.slots.push(Some(t));
                (self.slots.len() - 1) as u32
            }
        }
    }

    fn get_mut(&mut self, slot: u32, request: u64) -> Option<&mut Trace> {
        self.slots[slot as usize]
            .as_mut()
            .filter(|t| t.request == request)
    }

    fn remove(&mut self, slot: u32, request: u64) {
        if self.get_mut(slot, request).is_some() {
            self.slots[slot as usize] = None;
            self.free.push(slot);
        }
    }
}

/// Records the traces of the sampled requests while a run goes on.
pub struct Tracer {
    sampling: TraceSampling,
    seed: u64,
    warmup: SimTime,
    requests: u64,
    /// Traces being recorded, and finished ones kept.
    traces: Store,
    /// Traced calls still alive.
    open: OpenCalls,
    /// The slowest finished requests so far: a min-heap of (latency, request, slot).
    slowest: BinaryHeap<std::cmp::Reverse<(SimTime, u64, u32)>>,
}

/// A 64-bit mix (SplitMix64's finaliser): sampling decisions and ids from numbers.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Tracer {
    pub fn new(sampling: TraceSampling, seed: u64, warmup: SimTime) -> Tracer {
        Tracer {
            sampling,
            seed,
            warmup,
            requests: 0,
            traces: Store::default(),
            open: OpenCalls::default(),
            slowest: BinaryHeap::new(),
        }
    }

    /// Whether request number `n` falls in the head sample.
    fn in_sample(&self, n: u64) -> bool {
        let u = (mix(self.seed ^ mix(n)) >> 11) as f64 / (1u64 << 53) as f64;
        u < self.sampling.fraction
    }

    /// A request entered the gateway as root call `h`, serving `endpoint` of `gateway`.
    pub fn request(&mut self, h: Handle, call: &Call, now: SimTime) {
        let n = self.requests;
        self.requests += 1;
        if now < self.warmup || (self.sampling.slowest == 0 && !self.in_sample(n)) {
            return;
        }
        let root = Span {
            index: 0,
            parent: None,
            kind: SpanKind::Server,
            endpoint: call.endpoint,
            service: call.service,
            peer: call.caller,
            instance: None,
            start: now,
            end: None,
            queued: SimTime::ZERO,
            work: SimTime::ZERO,
            attempt: 0,
            error: None,
            abandoned: false,
            unfinished: false,
        };
        let slot = self.traces.insert(Trace {
            request: n,
            route: call.route() as u16,
            start: now,
            end: None,
            error: None,
            spans: vec![root],
        });
        self.open.insert(
            h,
            Open {
                request: n,
                slot,
                server: 0,
                client: None,
            },
        );
    }

    /// Call `h` was made by its parent (a downstream call, or the `attempt`-th attempt of one):
    /// opens its client span at the caller and its server span, which starts when the call
    /// reaches its service.
    pub fn call_made(&mut self, h: Handle, call: &Call, attempt: u16, now: SimTime) {
        let Some(parent) = self.open.get(call.parent) else {
            return;
        };
        self.call_made_by(h, parent, call, attempt, now, false);
    }

    /// Opens the spans of call `h` under the server span of `parent`.
    fn call_made_by(
        &mut self,
        h: Handle,
        parent: Open,
        call: &Call,
        attempt: u16,
        now: SimTime,
        detached: bool,
    ) {
        let Some(trace) = self.traces.get_mut(parent.slot, parent.request) else {
            return;
        };
        let caller_instance = trace.spans[parent.server as usize].instance;
        let client = trace.spans.len() as u32;
        let span = |index, parent, kind, service, peer, instance| Span {
            index,
            parent,
            kind,
            endpoint: call.endpoint,
            service,
            peer,
            instance,
            start: now,
            end: None,
            queued: SimTime::ZERO,
            work: SimTime::ZERO,
            attempt,
            error: None,
            abandoned: false,
            unfinished: false,
        };
        let (caller_kind, callee_kind) = if detached {
            (SpanKind::Producer, SpanKind::Consumer)
        } else {
            (SpanKind::Client, SpanKind::Server)
        };
        let mut sending = span(
            client,
            Some(parent.server),
            caller_kind,
            call.caller,
            call.service,
            caller_instance,
        );
        if detached {
            sending.end = Some(now);
        }
        trace.spans.push(sending);
        trace.spans.push(span(
            client + 1,
            Some(client),
            callee_kind,
            call.service,
            call.caller,
            None,
        ));
        self.open.insert(
            h,
            Open {
                request: parent.request,
                slot: parent.slot,
                server: client + 1,
                client: Some(client),
            },
        );
    }

    /// Fire-and-forget call `h` was sent by `parent`: a producer span at the caller that ends
    /// at once, and a consumer span that starts when the call reaches its service.
    pub fn message_sent(&mut self, h: Handle, parent: Handle, call: &Call, now: SimTime) {
        let Some(open) = self.open.get(parent) else {
            return;
        };
        self.call_made_by(h, open, call, 1, now, true);
    }

    fn span(&mut self, h: Handle, client: bool) -> Option<&mut Span> {
        let open = self.open.get(h)?;
        let i = if client { open.client? } else { open.server };
        self.traces
            .get_mut(open.slot, open.request)
            .map(|t| &mut t.spans[i as usize])
    }

    /// Call `h` reached its service.
    pub fn arrived(&mut self, h: Handle, now: SimTime) {
        if let Some(s) = self.span(h, false) {
            s.start = now;
        }
    }

    /// Call `h` got a worker at `instance` after waiting `queued`, for `work` of processing.
    pub fn served(&mut self, h: Handle, instance: u32, queued: SimTime, work: SimTime) {
        if let Some(s) = self.span(h, false) {
            // Work after the calls is a second stretch of the same span.
            s.instance = Some(instance);
            s.queued += queued;
            s.work += work;
        }
    }

    /// Call `h` sent its response (or was refused at once).
    pub fn responded(&mut self, h: Handle, now: SimTime, error: Option<ErrorKind>) {
        if let Some(s) = self.span(h, false)
            && s.end.is_none()
        {
            s.end = Some(now);
            s.error = error;
        }
    }

    /// The outcome of call `h` reached its caller; its spans are complete.
    pub fn returned(&mut self, h: Handle, now: SimTime, error: Option<ErrorKind>) {
        if let Some(s) = self.span(h, true)
            && s.end.is_none()
        {
            s.end = Some(now);
            s.error = error;
        }
        self.open.remove(h);
    }

    /// The caller stopped waiting for attempt `h` (its timeout).
    pub fn gave_up(&mut self, h: Handle, now: SimTime) {
        if let Some(s) = self.span(h, true)
            && s.end.is_none()
        {
            s.end = Some(now);
            s.error = Some(ErrorKind::Timeout);
            s.abandoned = true;
        }
    }

    /// The request of root call `h` is answered (or the client gave up on it).
    pub fn request_done(&mut self, h: Handle, now: SimTime, error: Option<ErrorKind>) {
        let Some(open) = self.open.get(h) else {
            return;
        };
        let Some(trace) = self.traces.get_mut(open.slot, open.request) else {
            return;
        };
        if trace.end.is_some() {
            return;
        }
        trace.end = Some(now);
        trace.error = error;
        let root = &mut trace.spans[0];
        if root.end.is_none() {
            root.end = Some(now);
            root.error = error;
        }
        let latency = now - trace.start;
        let n = open.request;
        let head = self.in_sample(n);
        let mut keep = head;
        let wanted = self.sampling.slowest as usize;
        if wanted > 0 {
            self.slowest
                .push(std::cmp::Reverse((latency, n, open.slot)));
            keep = true;
            if self.slowest.len() > wanted {
                let std::cmp::Reverse((_, dropped, slot)) = self.slowest.pop().expect("not empty");
                if dropped == n {
                    keep = head;
                } else if !self.in_sample(dropped) {
                    self.traces.remove(slot, dropped);
                }
            }
        }
        if !keep {
            self.traces.remove(open.slot, n);
        }
        self.open.remove(h);
    }

    /// Every trace kept, by request number: spans still open are closed at `end`, marked
    /// unfinished.
    pub fn finish(mut self, end: SimTime) -> Vec<Trace> {
        let mut out: Vec<Trace> = std::mem::take(&mut self.traces.slots)
            .into_iter()
            .flatten()
            .collect();
        out.sort_by_key(|t| t.request);
        // A request still in flight at the end is kept only if it is in the head sample: the
        // slowest are chosen among finished requests.
        out.retain(|t| t.end.is_some() || self.in_sample(t.request));
        for t in &mut out {
            for s in &mut t.spans {
                if s.end.is_none() {
                    s.end = Some(end.max(s.start));
                    s.unfinished = true;
                }
            }
        }
        out
    }
}
