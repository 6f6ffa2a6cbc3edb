//! Traces: simulated requests out as OpenTelemetry, Jaeger and Perfetto traces ([`export`]),
//! and real traces in as a model ([`import`]).

pub mod export;
pub mod import;
