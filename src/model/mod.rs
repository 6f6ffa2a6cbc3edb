//! The model of a microservice system: loaded from TOML, overridden from the command line,
//! validated once into the typed [`Model`] that everything downstream trusts.
//!
//! Pipeline: text → TOML document (syntax errors) → `--set` overrides → [`raw::RawModel`] (shape
//! errors: unknown fields, wrong types) → [`validate`] (meaning: ranges, names, cycles) → [`Model`].
//! Every error becomes a [`Diagnostic`] pointing at file, line and column.

mod admission;
mod autoscale;
mod check;
mod deployments;
mod diagnostic;
mod dist;
mod downstream;
mod faults;
mod files;
pub mod generate;
mod hosts;
mod links;
mod operations;
mod overrides;
pub mod pairs;
mod pattern;
mod policy;
mod prices;
pub mod raw;
pub mod schema;
mod services;
mod stores;
mod validate;
mod workload;

pub use admission::RateLimit;
pub use autoscale::{Autoscale, ScaleMetric};
pub use deployments::{Deployment, RollbackRule, Strategy, Version};
pub use diagnostic::{Diagnostic, ModelError, did_you_mean};
pub use dist::{Dist, Inline, erfc, gamma_fn};
pub use downstream::{CallCount, Downstream};
pub use faults::{Fault, FaultKind};
use files::DataFiles;
pub use files::Unwritten;
pub use hosts::{CpuAfterIdle, Host, HostId};
pub use operations::{HealthCheck, OutlierDetection};
pub use overrides::Override;
pub use pattern::ArrivalPattern;
pub use policy::{Backoff, BreakerPolicy, CallPolicy, Edge, Jitter, RetryBudget, RetryPolicy};
pub use stores::{KeyScope, Keys, Replication, Store, StoreOp};

use crate::engine::SimTime;
use std::path::{Path, PathBuf};

/// The built-in model, identical to `models/seed.toml`.
pub const BUILTIN_MODEL: &str = include_str!("../../models/seed.toml");

/// Index of a service in [`Model::services`]; the gateway is service 0.
pub type ServiceId = usize;
/// Index of an endpoint in [`Model::endpoints`].
pub type EndpointId = usize;
/// The gateway's service id.
pub const GATEWAY: ServiceId = 0;

/// A validated model, ready to simulate.
#[derive(Clone, Debug)]
pub struct Model {
    /// Name used for the output folder (`output/<name>/`).
    pub name: String,
    /// Where the model came from, for reports.
    pub source: Source,
    /// Simulated time at which the run stops.
    pub duration: SimTime,
    /// Statistics ignore requests that arrive before this time.
    pub warmup: SimTime,
    /// Seed of the run's random-number generator.
    pub seed: u64,
    pub workload: Workload,
    /// Which endpoints clients call, and how often.
    pub routes: Vec<Route>,
    /// The gateway (index 0) followed by the services in file order.
    pub services: Vec<Service>,
    /// `[hosts]`, in file order (empty: no service shares CPU).
    pub hosts: Vec<Host>,
    /// Every endpoint of every service, the gateway's included.
    pub endpoints: Vec<Endpoint>,
    pub links: Vec<Link>,
    /// Every caller → callee pair of the call graph with its call policy, sorted by (from, to).
    pub edges: Vec<Edge>,
    /// The client gives up on a request after this long (counted as a timeout).
    pub deadline: Option<SimTime>,
    /// Whether each call carries the request's remaining time: callers shorten their timeouts
    /// to it and callees drop calls whose deadline has passed instead of working on them.
    pub propagate_deadline: bool,
    /// `[[faults]]`, in file order.
    pub faults: Vec<Fault>,
    /// `[[deployments]]`, in file order (at most one per service).
    pub deployments: Vec<Deployment>,
    /// Prices, if the model has a `[cost]` table.
    pub cost: Option<Cost>,
    /// The `[sweep]` table, if the file has one: a sweep versioned with the model.
    pub sweep: Option<SweepTable>,
}

impl Model {
    /// Services (the gateway excepted) that no route targets and no endpoint calls: they do no
    /// work, which is seldom what the author meant.
    pub fn uncalled_services(&self) -> Vec<&str> {
        let mut called = vec![false; self.services.len()];
        called[0] = true;
        for r in &self.routes {
            called[self.endpoints[r.target].service] = true;
        }
        for e in &self.endpoints {
            for call in e.stages.iter().flatten() {
                called[self.endpoints[call.target].service] = true;
            }
        }
        self.services
            .iter()
            .zip(called)
            .filter(|(_, c)| !c)
            .map(|(s, _)| s.name.as_str())
            .collect()
    }
}

/// A `[sweep]` table: `vary = { "workload.rate_per_s" = "100:900:100" }` and `reps`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepTable {
    /// (dotted path, SPEC) in file order; SPEC as `meshsim sweep --vary PATH=SPEC` takes it.
    pub vary: Vec<(String, String)>,
    pub reps: Option<u32>,
}

/// Where a model came from.
#[derive(Clone, Debug)]
pub struct Source {
    /// The file as given on the command line, or `<built-in>`.
    pub file: String,
    /// SHA-256 of the file's bytes, in hex.
    pub sha256: String,
    /// The `--set` overrides applied, as typed.
    pub overrides: Vec<String>,
}

/// How clients generate requests.
#[derive(Clone, Debug)]
pub enum Workload {
    /// Poisson arrivals at a fixed rate, whatever the system's response: an open system.
    Open {
        rate_per_s: f64,
        /// A time-varying rate; `rate_per_s` is its base.
        pattern: Option<ArrivalPattern>,
    },
    /// A fixed population of users, each sending its next request `think` after the last response.
    Closed { users: u32, think: Dist },
}

/// A route clients call: the gateway endpoint that forwards it, and its share of requests.
#[derive(Clone, Debug)]
pub struct Route {
    /// `service.endpoint`, as in the mix.
    pub name: String,
    /// The gateway's endpoint for this route (its processing, then one call to `target`).
    pub gateway_endpoint: EndpointId,
    /// The endpoint the gateway forwards to.
    pub target: EndpointId,
    /// Share of requests, normalised to sum to 1 over all routes.
    pub probability: f64,
}

/// How a service picks the instance for an incoming call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadBalancer {
    RoundRobin,
    Random,
    LeastOutstanding,
    PowerOfTwo,
}

impl LoadBalancer {
    /// The name used in model files.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadBalancer::RoundRobin => "round_robin",
            LoadBalancer::Random => "random",
            LoadBalancer::LeastOutstanding => "least_outstanding",
            LoadBalancer::PowerOfTwo => "power_of_two",
        }
    }
}

/// A service (or the gateway): identical instances behind a load balancer.
#[derive(Clone, Debug)]
pub struct Service {
    pub name: String,
    pub instances: u32,
    /// Concurrent requests each instance serves.
    pub workers: u32,
    /// Waiting requests each instance holds; `None` is unbounded.
    pub queue_capacity: Option<u32>,
    pub load_balancer: LoadBalancer,
    /// Whether a worker stays held while its request waits for downstream calls.
    pub blocking: bool,
    /// Calls admitted at once, over all instances; more are shed (`rate_limited`).
    pub max_concurrency: Option<u32>,
    /// A token bucket in front of the service; calls without a token are shed.
    pub rate_limit: Option<RateLimit>,
    pub autoscale: Option<Autoscale>,
    /// The hosts its instances run on, whose cores its endpoints' CPU work shares: one, or
    /// several its instances are spread over (each new instance on the listed host with the
    /// fewest of them, the first of those). Empty: no host.
    pub hosts: Vec<HostId>,
    pub endpoints: Vec<EndpointId>,
    /// Active health checks feeding the registry (`None`: the registry knows at once).
    pub health_check: Option<HealthCheck>,
    /// Callers see the registry through a cache refreshed this often (`None`: at once).
    pub discovery_refresh: Option<SimTime>,
    /// Passive ejection of instances by their callers.
    pub outlier_detection: Option<OutlierDetection>,
    /// The service is a replicated data store.
    pub store: Option<Store>,
    /// Extra CPU a call costs after its worker sat idle (`None`: every call costs its `cpu_ms`).
    pub cpu_after_idle: Option<CpuAfterIdle>,
}

impl Service {
    /// The share of its configured instances placed on `host`: instance i starts on the i-th
    /// listed host, round and round (the spread rule with every host empty at the start).
    pub fn host_share(&self, host: HostId) -> f64 {
        let Some(j) = self.hosts.iter().position(|&h| h == host) else {
            return 0.0;
        };
        let (n, k) = (self.instances as usize, self.hosts.len());
        let on = n / k + usize::from(j < n % k);
        on as f64 / n.max(1) as f64
    }
}

/// An operation of a service.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub service: ServiceId,
    /// `service.endpoint`.
    pub name: String,
    /// Processing time of one call, before its downstream calls.
    pub service_time: Dist,
    /// Size of the request message sent to this endpoint.
    pub request_bytes: u64,
    /// Size of the response message it sends back.
    pub response_bytes: u64,
    /// Downstream calls: stages in sequence, calls within a stage in parallel.
    pub stages: Vec<Vec<Downstream>>,
    /// Processing after the calls have returned, before responding (on a worker of the same
    /// instance: held throughout by a blocking service, taken again by a non-blocking one).
    pub after_time: Option<Dist>,
    /// Probability that a call answers with an error after its processing (and makes no
    /// downstream calls): a bug, a failing dependency outside the model.
    pub error_probability: f64,
    /// CPU work per call (on its service's host, shared by processor sharing), done before
    /// `service_time`; `None` when the endpoint's processing needs no modelled CPU.
    pub cpu_time: Option<Dist>,
}

impl Endpoint {
    /// Mean processing per call (CPU work at full speed, then before its calls and after them).
    pub fn work_mean_ms(&self) -> f64 {
        self.cpu_time.as_ref().map_or(0.0, Dist::mean_ms)
            + self.service_time.mean_ms()
            + self.after_time.as_ref().map_or(0.0, Dist::mean_ms)
    }
}

/// Prices of what a run uses, from `[cost]` and the links' `cost_per_gb`.
#[derive(Clone, Debug, PartialEq)]
pub struct Cost {
    /// Per service (gateway first): price per instance-hour.
    pub instance_hour: Vec<f64>,
    /// Per link: price per GB (10^9 bytes) crossing it, both directions.
    pub per_gb: Vec<f64>,
}

/// A network link between two nodes; each direction is an independent FIFO transmitter.
#[derive(Clone, Debug)]
pub struct Link {
    pub name: String,
    /// The two nodes; direction 0 carries `ends[0] → ends[1]`.
    pub ends: [ServiceId; 2],
    /// One-way propagation delay.
    pub latency: Dist,
    /// Bits per second; `None` means serialisation takes no time.
    pub bandwidth_bps: Option<f64>,
    /// Probability that a transmission is lost and must be retransmitted.
    pub loss: f64,
    /// Initial retransmission timeout (doubles per retry).
    pub rto: SimTime,
}

impl Model {
    /// The measured window: from the end of warm-up to the end of the run.
    pub fn measured(&self) -> SimTime {
        self.duration - self.warmup
    }

    /// A rough count of the requests a run sends, for dealing the longest runs of a sweep out
    /// first: the base rate over the run (an open workload), or each user once per think time
    /// (a closed one, whose response times are unknown before running).
    pub fn expected_requests(&self) -> f64 {
        let secs = self.duration.as_secs_f64();
        match &self.workload {
            Workload::Open { rate_per_s, .. } => rate_per_s * secs,
            Workload::Closed { users, think } => {
                f64::from(*users) * secs / (think.mean_ms() / 1e3).max(1e-3)
            }
        }
    }

    /// The edge from `from` to `to`, if `from` calls `to`.
    pub fn edge(&self, from: ServiceId, to: ServiceId) -> Option<&Edge> {
        self.edges.iter().find(|e| e.from == from && e.to == to)
    }

    /// What in the model steady-state queueing theory leaves out (resilience mechanisms,
    /// faults, a time-varying rate), named for the analysis' approximation note.
    pub fn ignored_by_theory(&self) -> Option<String> {
        let mut ignored = Vec::new();
        let policies = || self.edges.iter().map(|e| &e.policy);
        if policies().any(|p| p.timeout.is_some()) {
            ignored.push("timeouts");
        }
        if policies().any(|p| p.retry.is_some()) {
            ignored.push("retries");
        }
        if policies().any(|p| p.breaker.is_some()) {
            ignored.push("circuit breakers");
        }
        if policies().any(|p| p.bulkhead.is_some()) {
            ignored.push("bulkheads");
        }
        if policies().any(|p| p.hedge_after.is_some()) {
            ignored.push("hedging");
        }
        if self
            .services
            .iter()
            .any(|s| s.max_concurrency.is_some() || s.rate_limit.is_some())
        {
            ignored.push("rate limits");
        }
        if self.services.iter().any(|s| s.autoscale.is_some()) {
            ignored.push("autoscaling");
        }
        if self.deadline.is_some() {
            ignored.push("deadlines");
        }
        if self.endpoints.iter().any(|e| e.error_probability > 0.0) {
            ignored.push("error responses");
        }
        if !self.faults.is_empty() {
            ignored.push("faults");
        }
        if self.services.iter().any(|s| {
            s.health_check.is_some()
                || s.discovery_refresh.is_some()
                || s.outlier_detection.is_some()
        }) {
            ignored.push("health checks and discovery");
        }
        if !self.deployments.is_empty() {
            ignored.push("deployments");
        }
        if matches!(
            self.workload,
            Workload::Open {
                pattern: Some(_),
                ..
            }
        ) {
            ignored.push("the time-varying rate (analysed at the base rate)");
        }
        (!ignored.is_empty()).then(|| format!("ignores {}", ignored.join(", ")))
    }

    /// Looks an endpoint up by `service.endpoint` name.
    pub fn endpoint_by_name(&self, name: &str) -> Option<EndpointId> {
        self.endpoints.iter().position(|e| e.name == name)
    }
}

/// A model file's text, kept so that it can be loaded again with other overrides (a sweep loads
/// it once per point).
#[derive(Clone, Debug)]
pub struct ModelText {
    pub text: String,
    /// The file as given, or `<built-in>`; names it in errors.
    pub file: String,
    /// Relative paths inside the model (empirical distribution files) start here.
    pub base_dir: PathBuf,
}

impl ModelText {
    /// Reads a model file.
    pub fn read(path: &Path) -> Result<ModelText, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Ok(ModelText {
            text,
            file: path.display().to_string(),
            base_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        })
    }

    /// The built-in model.
    pub fn builtin() -> ModelText {
        ModelText {
            text: BUILTIN_MODEL.to_string(),
            file: "<built-in>".into(),
            base_dir: PathBuf::from("."),
        }
    }

    /// The model's text with `overrides` applied (what a run actually simulated).
    pub fn effective_text(&self, overrides: &[Override]) -> Result<String, ModelError> {
        Ok(overrides::edited_text(&self.text, &self.file, overrides)?)
    }

    /// Validates the model with `overrides` applied.
    pub fn load(&self, overrides: &[Override]) -> Result<Model, ModelError> {
        load_str(&self.text, &self.file, &self.base_dir, overrides)
    }

    /// Validates the model with `overrides` applied, its data files read from `unwritten` before
    /// the disk: a model checked before it and its files are written.
    pub fn load_unwritten(
        &self,
        overrides: &[Override],
        unwritten: &Unwritten<'_>,
    ) -> Result<Model, ModelError> {
        load_from(
            &self.text,
            &self.file,
            DataFiles::with_unwritten(&self.base_dir, unwritten),
            overrides,
        )
    }
}

/// Loads and validates a model file, applying `overrides` first.
pub fn load_file(path: &Path, overrides: &[Override]) -> Result<Model, ModelError> {
    ModelText::read(path)?.load(overrides)
}

/// Loads the built-in model, applying `overrides` first.
pub fn load_builtin(overrides: &[Override]) -> Result<Model, ModelError> {
    ModelText::builtin().load(overrides)
}

/// Loads a model from its text. `file` names it in errors; relative paths inside it (empirical
/// distribution files) are resolved against `base_dir`.
pub fn load_str(
    text: &str,
    file: &str,
    base_dir: &Path,
    overrides: &[Override],
) -> Result<Model, ModelError> {
    load_from(text, file, DataFiles::on_disk(base_dir), overrides)
}

/// Loads a model from its text, its data files read from `files`.
fn load_from(
    text: &str,
    file: &str,
    files: DataFiles<'_>,
    overrides: &[Override],
) -> Result<Model, ModelError> {
    let raw: raw::RawModel = match overrides::deserialize_edited(text, overrides) {
        Some(raw) => raw,
        None => {
            let edited = overrides::apply(text, file, overrides)?;
            toml::from_str(&edited).map_err(|e| {
                Diagnostic::from_serde(file, &edited, e.message(), e.span(), !overrides.is_empty())
            })?
        }
    };
    let stem = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.starts_with('<'))
        .unwrap_or("model")
        .to_string();
    let source = Source {
        file: file.to_string(),
        sha256: sha256_hex(text.as_bytes()),
        overrides: overrides.iter().map(|o| o.to_string()).collect(),
    };
    validate::validate(raw, stem, source, files).map_err(|inv| {
        // The edited text places the error in the file: made again here, only for an error.
        match overrides::apply(text, file, overrides) {
            Ok(edited) => {
                Diagnostic::from_invalid(file, &edited, inv, !overrides.is_empty()).into()
            }
            Err(d) => d.into(),
        }
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
