//! The model file as written: serde structs that mirror the TOML tree one to one.
//!
//! Only the shape is checked here (field names and types); meaning is checked in `validate`, which
//! turns these into the typed [`crate::model::Model`]. Counts are read as `i64` so that a negative
//! number gets meshsim's own message ("must be at least 1") rather than a type error. Durations are
//! kept as raw TOML values because they are either a number or a distribution table.

use indexmap::IndexMap;
use serde::Deserialize;

/// The whole model file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub name: Option<String>,
    pub simulation: RawSimulation,
    pub workload: RawWorkload,
    pub gateway: RawGateway,
    pub services: IndexMap<String, RawService>,
    #[serde(default)]
    pub links: IndexMap<String, RawLink>,
    pub sweep: Option<RawSweep>,
    #[serde(default)]
    pub faults: Vec<RawFault>,
    pub cost: Option<RawCost>,
    #[serde(default)]
    pub hosts: IndexMap<String, RawHost>,
}

/// `[hosts.NAME]`: a machine whose cores the CPU work (`cpu_ms`) of the services on it shares.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    pub cores: i64,
    pub speed: Option<f64>,
    pub background_cores: Option<f64>,
}

/// `[cost]`: prices, in any currency (the outputs use the same).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawCost {
    /// Price per instance-hour, by service name (`gateway` included).
    #[serde(default)]
    pub instance_hour: IndexMap<String, f64>,
    /// Price per instance-hour of services not listed.
    #[serde(default)]
    pub default_instance_hour: f64,
    /// Price per GB crossing a link, for links without their own `cost_per_gb`.
    #[serde(default)]
    pub per_gb: f64,
}

/// `[sweep]`: parameters to vary, as strings (`"100:900:100"`) or arrays (`[0.5, 5, 50]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSweep {
    #[serde(default)]
    pub vary: IndexMap<String, toml::Value>,
    pub reps: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSimulation {
    pub duration_s: f64,
    #[serde(default)]
    pub warmup_s: f64,
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_seed() -> u64 {
    1
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawWorkloadKind {
    Open,
    Closed,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    #[serde(rename = "type")]
    pub kind: RawWorkloadKind,
    pub rate_per_s: Option<f64>,
    pub users: Option<i64>,
    pub think_ms: Option<toml::Value>,
    #[serde(default)]
    pub mix: Vec<RawMix>,
    /// The client gives up on a request after this long.
    pub deadline_ms: Option<f64>,
    /// Whether the remaining deadline travels with every call.
    #[serde(default)]
    pub propagate_deadline: bool,
    pub pattern: Option<RawPattern>,
}

/// `[workload.pattern]`: a time-varying arrival rate; which fields apply depends on `shape`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPattern {
    pub shape: String,
    pub at_s: Option<f64>,
    pub duration_s: Option<f64>,
    pub from_s: Option<f64>,
    pub to_s: Option<f64>,
    pub rate_per_s: Option<f64>,
    pub period_s: Option<f64>,
    pub amplitude_per_s: Option<f64>,
    pub interval_s: Option<f64>,
    pub rates_per_s: Option<Vec<f64>>,
    pub file: Option<String>,
}

/// How a caller calls others: `[services.NAME.client]`, with `to.CALLEE` overrides.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub timeout_ms: Option<f64>,
    pub cancel_on_timeout: Option<bool>,
    pub bulkhead: Option<i64>,
    pub hedge_after_ms: Option<f64>,
    pub retry: Option<RawRetry>,
    pub circuit_breaker: Option<RawBreaker>,
    pub to: Option<IndexMap<String, RawClient>>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub max_attempts: i64,
    pub backoff: Option<String>,
    pub base_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub jitter: Option<String>,
    pub budget_percent: Option<f64>,
    pub min_retries_per_s: Option<f64>,
    pub on: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawBreaker {
    pub consecutive_failures: Option<i64>,
    pub failure_rate: Option<f64>,
    pub window: Option<i64>,
    pub min_calls: Option<i64>,
    pub open_ms: f64,
    pub probe_calls: Option<i64>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    pub rate_per_s: f64,
    pub burst: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAutoscale {
    pub metric: String,
    pub target: f64,
    pub interval_s: f64,
    pub step_up: Option<i64>,
    pub step_down: Option<i64>,
    pub min: i64,
    pub max: i64,
    pub cold_start_s: Option<f64>,
}

/// `[[faults]]`: something that goes wrong for `duration_s` from `at_s`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub kind: String,
    pub at_s: f64,
    pub duration_s: f64,
    pub service: Option<String>,
    pub instance: Option<i64>,
    pub link: Option<String>,
    pub factor: Option<f64>,
    pub extra_latency_ms: Option<f64>,
    pub loss: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMix {
    pub route: String,
    #[serde(default = "default_weight")]
    pub weight: f64,
}

fn default_weight() -> f64 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    #[serde(default = "default_one")]
    pub workers: i64,
    pub service_ms: Option<toml::Value>,
    pub queue_capacity: Option<i64>,
    pub max_concurrency: Option<i64>,
    pub rate_limit: Option<RawRateLimit>,
    pub client: Option<RawClient>,
    pub host: Option<String>,
    pub cpu_ms: Option<toml::Value>,
}

fn default_one() -> i64 {
    1
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RawLoadBalancer {
    #[default]
    RoundRobin,
    Random,
    LeastOutstanding,
    PowerOfTwo,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    #[serde(default = "default_one")]
    pub instances: i64,
    #[serde(default = "default_one")]
    pub workers: i64,
    pub queue_capacity: Option<i64>,
    #[serde(default)]
    pub load_balancer: RawLoadBalancer,
    #[serde(default)]
    pub blocking: bool,
    pub max_concurrency: Option<i64>,
    pub rate_limit: Option<RawRateLimit>,
    pub client: Option<RawClient>,
    pub autoscale: Option<RawAutoscale>,
    pub host: Option<String>,
    pub endpoints: IndexMap<String, RawEndpoint>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    pub service_ms: toml::Value,
    #[serde(default)]
    pub request_bytes: i64,
    #[serde(default)]
    pub response_bytes: i64,
    /// Stages of calls; each call a string or a `{ call, probability, count }` table (read by
    /// `downstream::parse`).
    #[serde(default)]
    pub calls: Vec<Vec<toml::Value>>,
    /// Processing after the last stage of calls has returned, before responding.
    pub after_ms: Option<toml::Value>,
    /// Probability that a call ends in an error response after its processing.
    #[serde(default)]
    pub error_probability: f64,
    /// CPU work per call, shared on the service's host (before `service_ms`).
    pub cpu_ms: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    pub between: Vec<String>,
    pub latency_ms: Option<toml::Value>,
    pub distance_km: Option<f64>,
    pub bandwidth_mbps: Option<f64>,
    #[serde(default)]
    pub loss: f64,
    #[serde(default = "default_rto_ms")]
    pub rto_ms: f64,
    pub cost_per_gb: Option<f64>,
}

fn default_rto_ms() -> f64 {
    200.0
}

/// The fields each kind of table accepts: used to check `--set` paths and to suggest the nearest
/// name. A unit test keeps these lists equal to what the structs above accept.
pub mod fields {
    pub const MODEL: &[&str] = &[
        "name",
        "simulation",
        "workload",
        "gateway",
        "services",
        "links",
        "sweep",
        "faults",
        "cost",
        "hosts",
    ];
    pub const HOST: &[&str] = &["cores", "speed", "background_cores"];
    pub const COST: &[&str] = &["instance_hour", "default_instance_hour", "per_gb"];
    pub const SWEEP: &[&str] = &["vary", "reps"];
    pub const SIMULATION: &[&str] = &["duration_s", "warmup_s", "seed"];
    pub const WORKLOAD: &[&str] = &[
        "type",
        "rate_per_s",
        "users",
        "think_ms",
        "mix",
        "deadline_ms",
        "propagate_deadline",
        "pattern",
    ];
    pub const PATTERN: &[&str] = &[
        "shape",
        "at_s",
        "duration_s",
        "from_s",
        "to_s",
        "rate_per_s",
        "period_s",
        "amplitude_per_s",
        "interval_s",
        "rates_per_s",
        "file",
    ];
    pub const CLIENT: &[&str] = &[
        "timeout_ms",
        "cancel_on_timeout",
        "bulkhead",
        "hedge_after_ms",
        "retry",
        "circuit_breaker",
        "to",
    ];
    pub const RETRY: &[&str] = &[
        "max_attempts",
        "backoff",
        "base_ms",
        "max_ms",
        "jitter",
        "budget_percent",
        "min_retries_per_s",
        "on",
    ];
    pub const BREAKER: &[&str] = &[
        "consecutive_failures",
        "failure_rate",
        "window",
        "min_calls",
        "open_ms",
        "probe_calls",
    ];
    pub const RATE_LIMIT: &[&str] = &["rate_per_s", "burst"];
    pub const AUTOSCALE: &[&str] = &[
        "metric",
        "target",
        "interval_s",
        "step_up",
        "step_down",
        "min",
        "max",
        "cold_start_s",
    ];
    pub const FAULT: &[&str] = &[
        "kind",
        "at_s",
        "duration_s",
        "service",
        "instance",
        "link",
        "factor",
        "extra_latency_ms",
        "loss",
    ];
    pub const MIX: &[&str] = &["route", "weight"];
    pub const GATEWAY: &[&str] = &[
        "workers",
        "service_ms",
        "queue_capacity",
        "max_concurrency",
        "rate_limit",
        "client",
        "host",
        "cpu_ms",
    ];
    pub const SERVICE: &[&str] = &[
        "instances",
        "workers",
        "queue_capacity",
        "load_balancer",
        "blocking",
        "max_concurrency",
        "rate_limit",
        "client",
        "autoscale",
        "host",
        "endpoints",
    ];
    pub const ENDPOINT: &[&str] = &[
        "service_ms",
        "request_bytes",
        "response_bytes",
        "calls",
        "after_ms",
        "error_probability",
        "cpu_ms",
    ];
    pub const LINK: &[&str] = &[
        "between",
        "latency_ms",
        "distance_km",
        "bandwidth_mbps",
        "loss",
        "rto_ms",
        "cost_per_gb",
    ];
    /// Fields of a distribution table such as `{ dist = "exponential", mean_ms = 3 }`.
    pub const DIST: &[&str] = &[
        "dist",
        "value_ms",
        "mean_ms",
        "cv",
        "sd_ms",
        "min_ms",
        "max_ms",
        "shape",
        "scale_ms",
        "samples_ms",
        "file",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;

    /// The fields serde names in its "expected one of" message for an unknown field.
    fn accepted_fields<T: DeserializeOwned + std::fmt::Debug>() -> Vec<String> {
        let err = toml::from_str::<T>("zz_unknown = 1").unwrap_err();
        let msg = err.message().to_string();
        let list = msg.split("expected one of").nth(1).unwrap_or_else(|| {
            msg.split("expected")
                .nth(1)
                .expect("serde lists the fields")
        });
        list.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn field_lists_match_the_structs() {
        assert_eq!(accepted_fields::<RawModel>(), fields::MODEL);
        assert_eq!(accepted_fields::<RawSimulation>(), fields::SIMULATION);
        assert_eq!(accepted_fields::<RawWorkload>(), fields::WORKLOAD);
        assert_eq!(accepted_fields::<RawMix>(), fields::MIX);
        assert_eq!(accepted_fields::<RawGateway>(), fields::GATEWAY);
        assert_eq!(accepted_fields::<RawService>(), fields::SERVICE);
        assert_eq!(accepted_fields::<RawEndpoint>(), fields::ENDPOINT);
        assert_eq!(accepted_fields::<RawLink>(), fields::LINK);
        assert_eq!(accepted_fields::<RawSweep>(), fields::SWEEP);
        assert_eq!(accepted_fields::<RawPattern>(), fields::PATTERN);
        assert_eq!(accepted_fields::<RawClient>(), fields::CLIENT);
        assert_eq!(accepted_fields::<RawRetry>(), fields::RETRY);
        assert_eq!(accepted_fields::<RawBreaker>(), fields::BREAKER);
        assert_eq!(accepted_fields::<RawRateLimit>(), fields::RATE_LIMIT);
        assert_eq!(accepted_fields::<RawAutoscale>(), fields::AUTOSCALE);
        assert_eq!(accepted_fields::<RawFault>(), fields::FAULT);
        assert_eq!(accepted_fields::<RawCost>(), fields::COST);
        assert_eq!(accepted_fields::<RawHost>(), fields::HOST);
    }
}
