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
    #[serde(default)]
    pub calls: Vec<Vec<String>>,
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
    ];
    pub const SWEEP: &[&str] = &["vary", "reps"];
    pub const SIMULATION: &[&str] = &["duration_s", "warmup_s", "seed"];
    pub const WORKLOAD: &[&str] = &["type", "rate_per_s", "users", "think_ms", "mix"];
    pub const MIX: &[&str] = &["route", "weight"];
    pub const GATEWAY: &[&str] = &["workers", "service_ms", "queue_capacity"];
    pub const SERVICE: &[&str] = &[
        "instances",
        "workers",
        "queue_capacity",
        "load_balancer",
        "blocking",
        "endpoints",
    ];
    pub const ENDPOINT: &[&str] = &["service_ms", "request_bytes", "response_bytes", "calls"];
    pub const LINK: &[&str] = &[
        "between",
        "latency_ms",
        "distance_km",
        "bandwidth_mbps",
        "loss",
        "rto_ms",
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
    }
}
