//! The model file as written: serde structs that mirror the TOML tree one to one.
//!
//! Only the shape is checked here (field names and types); meaning is checked in `validate`, which
//! turns these into the typed [`crate::model::Model`]. Counts are read as `i64` so that a negative
//! number gets meshsim's own message ("must be at least 1") rather than a type error. Durations are
//! kept as raw TOML values because they are either a number or a distribution table.
//!
//! The doc comments on the fields are the descriptions of `meshsim schema` (the JSON Schema that
//! editors complete and check models with), so they speak to the person writing a model.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use super::schema;

/// A meshsim model: a workload sent through a gateway to services that call each other over links.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "meshsim model")]
#[schemars(rename = "Model")]
pub struct RawModel {
    /// Names the output folder `output/<name>/` (default: the file's name).
    pub name: Option<String>,
    /// How long to simulate, the warm-up left out of the statistics, and the seed.
    pub simulation: RawSimulation,
    /// Who sends requests: open-loop arrivals or a closed population of users, and the routes.
    pub workload: RawWorkload,
    /// Where every request enters; it processes each request, then forwards it to its route.
    pub gateway: RawGateway,
    /// The services by name (`gateway` is reserved), each with its endpoints.
    pub services: IndexMap<String, RawService>,
    /// Network links by name; two nodes without a link talk in-process, with no delay.
    #[serde(default)]
    pub links: IndexMap<String, RawLink>,
    /// The parameters `meshsim sweep` varies when the command line names none.
    pub sweep: Option<RawSweep>,
    /// Things that go wrong for a while: crashes, slowdowns, degraded or partitioned links.
    #[serde(default)]
    pub faults: Vec<RawFault>,
    /// Prices: with them, runs report the cost per hour and per million requests.
    pub cost: Option<RawCost>,
    /// Machines whose cores the CPU work (`cpu_ms`) of the services placed on them shares.
    #[serde(default)]
    pub hosts: IndexMap<String, RawHost>,
    /// `[[deployments]]`: releases of a new version of a service during the run.
    #[serde(default)]
    pub deployments: Vec<RawDeployment>,
}

/// `[hosts.NAME]`: a machine whose cores the CPU work (`cpu_ms`) of the services on it shares.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Host")]
pub struct RawHost {
    /// Cores of the machine (at least 1).
    #[schemars(range(min = 1))]
    pub cores: i64,
    /// CPU work runs this many times as fast as where `cpu_ms` was measured (default 1).
    pub speed: Option<f64>,
    /// Other work always runnable on the host (a noisy neighbour, the OS), in cores, below `cores`
    /// (default 0).
    pub background_cores: Option<f64>,
    /// The background load over time: from each `at_s` on it is `cores` (until the next change);
    /// `background_cores` holds before the first.
    pub background: Option<Vec<RawBackgroundChange>>,
}

/// One change of a host's background load.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "BackgroundChange")]
pub struct RawBackgroundChange {
    /// When it takes effect, seconds from the start of the run.
    #[schemars(range(min = 0))]
    pub at_s: f64,
    /// The background load from then on, in cores (below the host's `cores`).
    #[schemars(range(min = 0))]
    pub cores: f64,
}

/// `[cost]`: prices, in any currency (the outputs use the same).
#[derive(Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Cost")]
pub struct RawCost {
    /// Price per instance-hour, by service name (`gateway` included): `{ gateway = 0.05 }`.
    #[serde(default)]
    pub instance_hour: IndexMap<String, f64>,
    /// Price per instance-hour of services not listed in `instance_hour`.
    #[serde(default)]
    pub default_instance_hour: f64,
    /// Price per GB (10⁹ bytes) crossing a link, for links without their own `cost_per_gb`.
    #[serde(default)]
    pub per_gb: f64,
}

/// `[sweep]`: parameters to vary, as strings (`"100:900:100"`) or arrays (`[0.5, 5, 50]`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Sweep")]
pub struct RawSweep {
    /// Model paths to vary (`"workload.rate_per_s"`), each a SPEC string (`"100:900:100"`,
    /// `"log:10:1000:12"`) or an array of values.
    #[serde(default)]
    #[schemars(schema_with = "schema::sweep_vary")]
    pub vary: IndexMap<String, toml::Value>,
    /// Replications per point (default 10).
    #[schemars(range(min = 1))]
    pub reps: Option<i64>,
}

/// `[simulation]`: how long, and with which seed.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Simulation")]
pub struct RawSimulation {
    /// Simulated time in seconds (> 0).
    pub duration_s: f64,
    /// Requests arriving before this many seconds are left out of the statistics (< `duration_s`).
    #[serde(default)]
    pub warmup_s: f64,
    /// Seed of the run's random-number generator: the same model and seed give the same output.
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_seed() -> u64 {
    1
}

/// Whether arrivals ignore the system (open) or wait for it (closed).
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "WorkloadKind")]
pub enum RawWorkloadKind {
    /// Poisson arrivals at `rate_per_s`, whatever the system does.
    Open,
    /// A fixed population of `users`, each sending, waiting for the response and thinking.
    Closed,
}

/// `[workload]`: who sends requests, how often, and to which routes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Workload")]
pub struct RawWorkload {
    /// `"open"` (Poisson arrivals) or `"closed"` (a fixed population of users).
    #[serde(rename = "type")]
    pub kind: RawWorkloadKind,
    /// Open only, required there: arrivals per second (> 0, at most 1e9: the clock counts
    /// nanoseconds).
    #[schemars(range(max = 1e9))]
    pub rate_per_s: Option<f64>,
    /// Closed only, required there: the number of users (at least 1).
    #[schemars(range(min = 1))]
    pub users: Option<i64>,
    /// Closed only: think time after each response (ms, a number or a distribution table).
    #[serde(default)]
    #[schemars(schema_with = "schema::duration")]
    pub think_ms: Option<toml::Value>,
    /// The routes clients call and how often: `[[workload.mix]]` tables, at least one.
    #[serde(default)]
    pub mix: Vec<RawMix>,
    /// The client gives up on a request after this many ms (an error of kind `timeout`).
    pub deadline_ms: Option<f64>,
    /// Whether the remaining deadline travels with every call (callers shorten their timeouts,
    /// callees drop calls whose deadline has passed).
    #[serde(default)]
    pub propagate_deadline: bool,
    /// Open only: a time-varying arrival rate.
    pub pattern: Option<RawPattern>,
}

/// `[workload.pattern]`: a time-varying arrival rate; which fields apply depends on `shape`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Pattern")]
pub struct RawPattern {
    /// `step` (at_s, rate_per_s), `ramp` (from_s, to_s, rate_per_s), `spike` (at_s, duration_s,
    /// rate_per_s), `sine` (period_s, amplitude_per_s) or `table` (interval_s and rates_per_s or
    /// file).
    #[schemars(schema_with = "schema::pattern_shape")]
    pub shape: String,
    /// `step`, `spike`: when the rate changes (s).
    pub at_s: Option<f64>,
    /// `spike`: how long the spike lasts (s).
    pub duration_s: Option<f64>,
    /// `ramp`: when the ramp starts (s).
    pub from_s: Option<f64>,
    /// `ramp`: when it reaches `rate_per_s` (s).
    pub to_s: Option<f64>,
    /// `step`, `ramp`, `spike`: the rate reached (req/s, at most 1e9).
    #[schemars(range(min = 0, max = 1e9))]
    pub rate_per_s: Option<f64>,
    /// `sine`: the period (s).
    pub period_s: Option<f64>,
    /// `sine`: the amplitude around the workload's rate (req/s, at most 1e9).
    #[schemars(range(min = 0, max = 1e9))]
    pub amplitude_per_s: Option<f64>,
    /// `table`: seconds each rate of the table lasts.
    pub interval_s: Option<f64>,
    /// `table`: the rates, one per interval (req/s).
    pub rates_per_s: Option<Vec<f64>>,
    /// `table`: a CSV file of rates, one per line, relative to the model file.
    pub file: Option<String>,
}

/// How a caller calls others: `[services.NAME.client]`, with `to.CALLEE` overrides.
#[derive(Debug, Deserialize, Clone, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Client")]
pub struct RawClient {
    /// The caller gives up on an attempt after this many ms (error `timeout`).
    pub timeout_ms: Option<f64>,
    /// `true`: a timed-out callee stops at once; `false` (default): it finishes the work (counted
    /// as wasted work).
    pub cancel_on_timeout: Option<bool>,
    /// At most this many attempts in flight to a callee; more fail at once (`bulkhead`).
    #[schemars(range(min = 1))]
    pub bulkhead: Option<i64>,
    /// When no attempt has answered after this many ms, send another and take the first answer
    /// (shares `retry.max_attempts`).
    pub hedge_after_ms: Option<f64>,
    /// Retries of failed calls.
    pub retry: Option<RawRetry>,
    /// A circuit breaker per callee.
    pub circuit_breaker: Option<RawBreaker>,
    /// Passive outlier ejection (as Envoy's): a callee instance that fails this caller's calls
    /// in a row leaves the balancer for a while.
    pub outlier_detection: Option<RawOutlierDetection>,
    /// Overrides for calls to one callee: `[services.NAME.client.to.CALLEE]`.
    pub to: Option<IndexMap<String, RawClient>>,
}

/// `retry`: how often and when a failed call is tried again.
#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Retry")]
pub struct RawRetry {
    /// Attempts in all, the first included (at least 1).
    #[schemars(range(min = 1))]
    pub max_attempts: i64,
    /// Delay before retry k: `constant` (`base_ms`) or `exponential` (`base_ms · 2^(k−1)`, the
    /// default), at most `max_ms`.
    #[serde(default)]
    #[schemars(schema_with = "schema::backoff")]
    pub backoff: Option<String>,
    /// The base delay (ms, default 25).
    pub base_ms: Option<f64>,
    /// The longest delay (ms, default max(1000, base_ms)).
    pub max_ms: Option<f64>,
    /// `none`: the delay d; `full` (default): uniform in [0, d]; `equal`: d/2 + uniform in [0, d/2].
    #[serde(default)]
    #[schemars(schema_with = "schema::jitter")]
    pub jitter: Option<String>,
    /// A retry budget: over the last second, retries ≤ this % of first attempts +
    /// `min_retries_per_s` (default 20 once either is given).
    pub budget_percent: Option<f64>,
    /// Retries per second always allowed under the budget (default 10 once either is given).
    pub min_retries_per_s: Option<f64>,
    /// Which failures are retried: `error`, `timeout` (default both).
    #[serde(default)]
    #[schemars(schema_with = "schema::retry_on")]
    pub on: Option<Vec<String>>,
}

/// `circuit_breaker`: stops calling a failing callee for a while.
#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Breaker")]
pub struct RawBreaker {
    /// Opens after this many failures in a row.
    #[schemars(range(min = 1))]
    pub consecutive_failures: Option<i64>,
    /// Opens when the failed share of the last `window` calls reaches this, once `min_calls` were
    /// seen.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub failure_rate: Option<f64>,
    /// Calls the failure rate is taken over (default 20).
    #[schemars(range(min = 1))]
    pub window: Option<i64>,
    /// Calls seen before the failure rate counts (default `window`).
    #[schemars(range(min = 1))]
    pub min_calls: Option<i64>,
    /// While open, calls fail at once (`circuit_open`); after this many ms it lets probes through.
    pub open_ms: f64,
    /// Probe calls let through after `open_ms` (default 1): all succeed → closed, one fails → open.
    #[schemars(range(min = 1))]
    pub probe_calls: Option<i64>,
}

/// `rate_limit`: a token bucket (starting full); a call without a token is shed (`rate_limited`).
#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "RateLimit")]
pub struct RawRateLimit {
    /// Tokens added per second.
    pub rate_per_s: f64,
    /// Tokens the bucket holds.
    pub burst: f64,
}

/// `autoscale`: instances added and removed on a metric, as a horizontal pod autoscaler does.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Autoscale")]
pub struct RawAutoscale {
    /// `utilisation` (busy workers over workers) or `queue_length` (waiting calls per instance).
    #[schemars(schema_with = "schema::scale_metric")]
    pub metric: String,
    /// The value of the metric the scaler aims at (a utilisation in (0, 1]).
    pub target: f64,
    /// Seconds between decisions.
    pub interval_s: f64,
    /// Most instances added at one decision.
    #[schemars(range(min = 1))]
    pub step_up: Option<i64>,
    /// Most instances removed at one decision.
    #[schemars(range(min = 1))]
    pub step_down: Option<i64>,
    /// Fewest instances.
    #[schemars(range(min = 1))]
    pub min: i64,
    /// Most instances.
    #[schemars(range(min = 1))]
    pub max: i64,
    /// Seconds a new instance takes before it serves.
    pub cold_start_s: Option<f64>,
}

/// `[[faults]]`: something that goes wrong for `duration_s` from `at_s`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Fault")]
pub struct RawFault {
    /// `crash` (service, instance), `hang` (service, instance: the process stops answering, its
    /// port stays open), `slowdown` (service, instance, factor), `link_degradation`
    /// (link, extra_latency_ms, loss) or `partition` (link).
    #[schemars(schema_with = "schema::fault_kind")]
    pub kind: String,
    /// When it starts (s).
    pub at_s: f64,
    /// How long it lasts (s).
    pub duration_s: f64,
    /// `crash`, `hang`, `slowdown`: the service.
    pub service: Option<String>,
    /// `crash`, `hang`, `slowdown`: one instance (from 0); all of them if left out.
    #[schemars(range(min = 0))]
    pub instance: Option<i64>,
    /// `link_degradation`, `partition`: the link's name.
    pub link: Option<String>,
    /// `slowdown`: service times are multiplied by this.
    pub factor: Option<f64>,
    /// `link_degradation`: latency added to each message (ms).
    pub extra_latency_ms: Option<f64>,
    /// `link_degradation`: chance a transmission is lost, in [0, 1].
    #[schemars(range(min = 0.0, max = 1.0))]
    pub loss: Option<f64>,
}

/// `[services.NAME.health_check]`: a checker probes each instance every `interval_ms`.
#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "HealthCheck")]
pub struct RawHealthCheck {
    /// Time between two checks of an instance (ms).
    pub interval_ms: f64,
    /// A check of a hung instance fails after this long (ms; default 1000, as Kubernetes').
    pub timeout_ms: Option<f64>,
    /// Consecutive failed checks before an instance leaves the registry (default 3).
    #[schemars(range(min = 1))]
    pub unhealthy_after: Option<i64>,
    /// Consecutive passed checks before an instance (new, or back from a failure) enters the
    /// registry (default 1).
    #[schemars(range(min = 1))]
    pub healthy_after: Option<i64>,
}

/// `[services.NAME.store]`: a replicated data store. Its endpoints with `op = "read"` or
/// `"write"` reach the replicas after their processing.
#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Store")]
pub struct RawStore {
    /// Copies of the data (N).
    #[schemars(range(min = 1))]
    pub replicas: i64,
    /// Acknowledgements a synchronous write waits for (W of N; default a majority).
    #[schemars(range(min = 1))]
    pub write_quorum: Option<i64>,
    /// Replicas a read asks; it returns the freshest answer (R of N; default 1).
    #[schemars(range(min = 1))]
    pub read_quorum: Option<i64>,
    /// `sync` (a write waits for W replicas) or `async` (the primary acknowledges; the others
    /// apply the write `replication_lag_ms` later). Default `sync`.
    #[schemars(schema_with = "schema::replication")]
    pub replication: Option<String>,
    /// Each replica's time to apply a write or answer a read (ms, a number or a distribution
    /// table; default 0).
    #[serde(default)]
    #[schemars(schema_with = "schema::duration")]
    pub replica_ms: Option<toml::Value>,
    /// `async`: how long after the primary a replica applies a write (ms, a number or a
    /// distribution table).
    #[serde(default)]
    #[schemars(schema_with = "schema::duration")]
    pub replication_lag_ms: Option<toml::Value>,
    /// Keys the operations are spread over (default 1000).
    #[schemars(range(min = 1))]
    pub keys: Option<i64>,
    /// `uniform` (default) or `zipf`.
    #[schemars(schema_with = "schema::key_distribution")]
    pub key_distribution: Option<String>,
    /// `zipf`: the exponent s (default 1).
    pub zipf_exponent: Option<f64>,
    /// One-way network latency from the store to each replica (ms, one number per replica,
    /// the primary first): a replica in another zone or region. Default 0 for every replica.
    pub replica_latency_ms: Option<Vec<f64>>,
    /// `op` (default): each read or write draws its key. `client`: each client (a closed
    /// workload's user; in an open workload, one drawn per request) reads and writes its own
    /// key, so that read-your-writes and monotonic-read violations can be counted.
    #[serde(default)]
    #[schemars(schema_with = "schema::key_per")]
    pub key_per: Option<String>,
}

/// `[services.NAME.discovery]`: callers see the registry through a cache (client-side
/// discovery, as Eureka clients do).
#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Discovery")]
pub struct RawDiscovery {
    /// Time between refreshes of the callers' cache (ms); 0: callers see the registry at once.
    pub refresh_ms: f64,
}

/// `outlier_detection`: passive ejection of failing instances, as Envoy's.
#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "OutlierDetection")]
pub struct RawOutlierDetection {
    /// Failed calls in a row that eject an instance (default 5).
    #[schemars(range(min = 1))]
    pub consecutive_errors: Option<i64>,
    /// How long an ejected instance stays out of the balancer (ms; default 30000).
    pub ejection_ms: Option<f64>,
    /// No ejection while this share of the instances (%) is already ejected (default 10; one
    /// instance may always be ejected).
    pub max_ejection_percent: Option<f64>,
}

/// `[[deployments]]`: a release of a new version of a service, and how it is rolled out.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Deployment")]
pub struct RawDeployment {
    /// The service released.
    pub service: String,
    /// When the release starts (s).
    pub at_s: f64,
    /// `rolling` (replace `batch` instances at a time), `canary` (`canary_share` of the traffic
    /// for `canary_s`, then the rest) or `blue_green` (a full second set, then switch).
    #[serde(default = "default_strategy")]
    #[schemars(schema_with = "schema::strategy")]
    pub strategy: String,
    /// The new version: the chance a call answers with an error, for every endpoint (default:
    /// the endpoints' own).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub error_probability: Option<f64>,
    /// The new version: service times are multiplied by this (default 1).
    pub slowdown: Option<f64>,
    /// The new version: service time per endpoint (ms, a number or a distribution table), by
    /// endpoint name.
    #[serde(default)]
    #[schemars(schema_with = "schema::durations_by_name")]
    pub service_ms: Option<IndexMap<String, toml::Value>>,
    /// `rolling`: instances replaced at a time (default 1).
    #[schemars(range(min = 1))]
    pub batch: Option<i64>,
    /// Seconds a new instance takes to start before its readiness check (default 0).
    pub startup_s: Option<f64>,
    /// `canary`: the share of the traffic the new version gets (default 0.1).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub canary_share: Option<f64>,
    /// `canary`: seconds at that share before the rest of the instances are replaced (default
    /// 60).
    pub canary_s: Option<f64>,
    /// Roll back when the new version's calls cross a threshold (as Argo Rollouts' analysis).
    pub rollback: Option<RawRollback>,
}

/// `[deployments.rollback]`: the analysis that aborts a release.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Rollback")]
pub struct RawRollback {
    /// Seconds of the new version's calls each verdict looks at (default 10).
    pub window_s: Option<f64>,
    /// Roll back when more than this share of the new version's calls in a window fail.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_error_rate: Option<f64>,
    /// Roll back when the new version's p99 over a window exceeds this (ms).
    pub max_p99_ms: Option<f64>,
}

/// `[[workload.mix]]`: a route clients call, and how often.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Mix")]
pub struct RawMix {
    /// `"service.endpoint"`; each route at most once.
    #[schemars(schema_with = "schema::route")]
    pub route: String,
    /// Relative share of requests (weights need not add to 100 but must not all be 0).
    #[serde(default = "default_weight")]
    #[schemars(range(min = 0.0))]
    pub weight: f64,
}

fn default_weight() -> f64 {
    1.0
}

/// `[gateway]`: where every request enters; it processes each request, then forwards it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Gateway")]
pub struct RawGateway {
    /// Requests processed at once.
    #[serde(default = "default_one")]
    #[schemars(range(min = 1))]
    pub workers: i64,
    /// Processing per request (ms, a number or a distribution table; default 0).
    #[serde(default)]
    #[schemars(schema_with = "schema::duration")]
    pub service_ms: Option<toml::Value>,
    /// Requests that may wait; more are rejected (default unbounded).
    #[schemars(range(min = 0))]
    pub queue_capacity: Option<i64>,
    /// Requests admitted at once; more are shed (`rate_limited`).
    #[schemars(range(min = 1))]
    pub max_concurrency: Option<i64>,
    /// A token bucket in front of the gateway.
    pub rate_limit: Option<RawRateLimit>,
    /// How the gateway calls the services: timeouts, retries, breakers, bulkheads, hedging.
    pub client: Option<RawClient>,
    /// The host it runs on (a `[hosts.NAME]`), whose cores its `cpu_ms` shares.
    pub host: Option<String>,
    /// CPU work per request, shared on its host (ms, a number or a distribution table).
    #[serde(default)]
    #[schemars(schema_with = "schema::duration")]
    pub cpu_ms: Option<toml::Value>,
    /// Extra CPU a request costs after the gateway's worker sat idle (cold caches, a wake-up).
    pub cpu_after_idle: Option<RawCpuAfterIdle>,
}

/// `cpu_after_idle`: a call's CPU work costs `extra_ms × (1 − e^(−idle / tau_ms))` more when
/// the worker that takes it sat idle for `idle` before (its caches cooled, it had to be woken).
#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CpuAfterIdle")]
pub struct RawCpuAfterIdle {
    /// The extra CPU of a call after a long idle (ms ≥ 0): `cpu_ms` is the cost of a warm one.
    pub extra_ms: f64,
    /// How fast a worker cools (ms > 0): after `tau_ms` idle, 63% of `extra_ms`.
    pub tau_ms: f64,
}

fn default_one() -> i64 {
    1
}

/// How a service's calls are spread over its instances.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "LoadBalancer")]
pub enum RawLoadBalancer {
    /// Each instance in turn.
    #[default]
    RoundRobin,
    /// An instance drawn at random.
    Random,
    /// The instance with the fewest calls admitted and not yet answered (ties rotate).
    LeastOutstanding,
    /// Two random instances, the less loaded of them.
    PowerOfTwo,
}

/// `[services.NAME]`: a service, its instances and workers, and its endpoints.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Service")]
pub struct RawService {
    /// Replicas behind the load balancer.
    #[serde(default = "default_one")]
    #[schemars(range(min = 1))]
    pub instances: i64,
    /// Concurrent calls per instance.
    #[serde(default = "default_one")]
    #[schemars(range(min = 1))]
    pub workers: i64,
    /// Calls that may wait per instance; a call arriving at a full queue is rejected (default
    /// unbounded).
    #[schemars(range(min = 0))]
    pub queue_capacity: Option<i64>,
    /// `round_robin`, `random`, `least_outstanding` or `power_of_two`.
    #[serde(default)]
    pub load_balancer: RawLoadBalancer,
    /// `true`: a worker stays held while its call waits for downstream calls (thread per
    /// request); `false`: it is released (async servers).
    #[serde(default)]
    pub blocking: bool,
    /// Calls admitted at once over all instances; more are shed (`rate_limited`).
    #[schemars(range(min = 1))]
    pub max_concurrency: Option<i64>,
    /// A token bucket in front of the service.
    pub rate_limit: Option<RawRateLimit>,
    /// How this service calls others: timeouts, retries, breakers, bulkheads, hedging.
    pub client: Option<RawClient>,
    /// Instances added and removed on a metric.
    pub autoscale: Option<RawAutoscale>,
    /// The host its instances run on (a `[hosts.NAME]`), whose cores its endpoints' `cpu_ms`
    /// shares; or a list of hosts its instances are spread over (each new instance on the
    /// listed host with the fewest of its instances, the first of those).
    #[serde(default)]
    #[schemars(schema_with = "schema::placement")]
    pub host: Option<toml::Value>,
    /// Active health checks: an instance leaves the registry after failed checks and returns
    /// after passed ones (without this table the registry knows of a crash at once).
    pub health_check: Option<RawHealthCheck>,
    /// How callers learn this service's instances: a registry cache refreshed periodically.
    pub discovery: Option<RawDiscovery>,
    /// The service is a replicated data store: quorums, replication and keys.
    pub store: Option<RawStore>,
    /// Extra CPU a call costs after its worker sat idle (cold caches, a wake-up).
    pub cpu_after_idle: Option<RawCpuAfterIdle>,
    /// The service's endpoints by name: `[services.NAME.endpoints.ENDPOINT]`.
    pub endpoints: IndexMap<String, RawEndpoint>,
}

/// `[services.NAME.endpoints.ENDPOINT]`: what one call of the endpoint does.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Endpoint")]
pub struct RawEndpoint {
    /// Processing time of one call, before its downstream calls (ms, a number or a distribution
    /// table).
    #[schemars(schema_with = "schema::duration")]
    pub service_ms: toml::Value,
    /// Size of the request message sent to this endpoint (bytes).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub request_bytes: i64,
    /// Size of its response (bytes).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub response_bytes: i64,
    /// Downstream calls in stages: stages one after another, the calls of a stage in parallel.
    /// Each call a `"service.endpoint"` string or a `{ call, probability, count }` table (read by
    /// `downstream::parse`).
    #[serde(default)]
    #[schemars(schema_with = "schema::calls")]
    pub calls: Vec<Vec<toml::Value>>,
    /// Processing after the last stage of calls has returned, before responding (ms, a number or
    /// a distribution table).
    #[serde(default)]
    #[schemars(schema_with = "schema::duration")]
    pub after_ms: Option<toml::Value>,
    /// Probability that a call ends in an error response after its processing.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub error_probability: f64,
    /// CPU work per call, shared on the service's host (before `service_ms`; ms, a number or a
    /// distribution table). Needs the service on a host.
    #[serde(default)]
    #[schemars(schema_with = "schema::duration")]
    pub cpu_ms: Option<toml::Value>,
    /// In a service with a `store` table: `read` or `write` (reads and writes reach the
    /// replicas by the store's quorums).
    #[serde(default)]
    #[schemars(schema_with = "schema::store_op")]
    pub op: Option<String>,
}

/// `[links.NAME]`: the network between two nodes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Link")]
pub struct RawLink {
    /// The two nodes: `["gateway", "user"]` or two services.
    #[schemars(length(min = 2, max = 2))]
    pub between: Vec<String>,
    /// One-way propagation delay (ms, a number or a distribution table; default 0).
    #[serde(default)]
    #[schemars(schema_with = "schema::duration")]
    pub latency_ms: Option<toml::Value>,
    /// Instead of `latency_ms`: latency = distance ÷ 200,000 km/s (light in fibre).
    pub distance_km: Option<f64>,
    /// Each direction is a FIFO transmitter: a message of B bytes occupies it for
    /// 8·B/bandwidth (default unlimited).
    pub bandwidth_mbps: Option<f64>,
    /// Chance that a transmission is lost, in [0, 1].
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub loss: f64,
    /// A lost message is sent again after this many ms, doubling each time (as TCP does).
    #[serde(default = "default_rto_ms")]
    pub rto_ms: f64,
    /// Price per GB crossing the link, both directions (default `cost.per_gb`).
    pub cost_per_gb: Option<f64>,
}

fn default_strategy() -> String {
    "rolling".into()
}

fn default_rto_ms() -> f64 {
    200.0
}

/// The words a string field accepts, where validation and the schema both read them.
pub mod words {
    /// `workload.pattern.shape`.
    pub const PATTERN_SHAPES: &[&str] = &["step", "ramp", "spike", "sine", "table"];
    /// `faults.N.kind`.
    pub const FAULT_KINDS: &[&str] =
        &["crash", "hang", "slowdown", "link_degradation", "partition"];
    /// `store.replication`.
    pub const REPLICATIONS: &[&str] = &["sync", "async"];
    /// `store.key_distribution`.
    pub const KEY_DISTRIBUTIONS: &[&str] = &["uniform", "zipf"];
    pub const KEY_SCOPES: &[&str] = &["op", "client"];
    /// Endpoint `op`.
    pub const STORE_OPS: &[&str] = &["read", "write"];
    /// `deployments.N.strategy`.
    pub const STRATEGIES: &[&str] = &["rolling", "canary", "blue_green"];
    /// `retry.backoff`.
    pub const BACKOFFS: &[&str] = &["constant", "exponential"];
    /// `retry.jitter`.
    pub const JITTERS: &[&str] = &["none", "full", "equal"];
    /// `retry.on`.
    pub const RETRY_ON: &[&str] = &["error", "timeout"];
    /// `autoscale.metric`.
    pub const SCALE_METRICS: &[&str] = &["utilisation", "queue_length"];
    /// The fields each distribution takes (beyond `dist`): (name, required fields, optional
    /// fields).
    pub const DISTRIBUTIONS: &[(&str, &[&str], &[&str])] = &[
        ("constant", &["value_ms"], &[]),
        ("exponential", &["mean_ms"], &[]),
        ("uniform", &["min_ms", "max_ms"], &[]),
        ("normal", &["mean_ms", "sd_ms"], &[]),
        ("lognormal", &["mean_ms", "cv"], &[]),
        ("gamma", &["mean_ms", "cv"], &[]),
        ("weibull", &["shape", "scale_ms"], &[]),
        ("pareto", &["shape", "scale_ms"], &[]),
        ("empirical", &[], &["samples_ms", "file"]),
    ];
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
        "deployments",
    ];
    pub const HOST: &[&str] = &["cores", "speed", "background_cores", "background"];
    pub const BACKGROUND_CHANGE: &[&str] = &["at_s", "cores"];
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
        "outlier_detection",
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
        "cpu_after_idle",
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
        "health_check",
        "discovery",
        "store",
        "cpu_after_idle",
        "endpoints",
    ];
    pub const CPU_AFTER_IDLE: &[&str] = &["extra_ms", "tau_ms"];
    pub const HEALTH_CHECK: &[&str] = &[
        "interval_ms",
        "timeout_ms",
        "unhealthy_after",
        "healthy_after",
    ];
    pub const DISCOVERY: &[&str] = &["refresh_ms"];
    pub const OUTLIER: &[&str] = &["consecutive_errors", "ejection_ms", "max_ejection_percent"];
    pub const DEPLOYMENT: &[&str] = &[
        "service",
        "at_s",
        "strategy",
        "error_probability",
        "slowdown",
        "service_ms",
        "batch",
        "startup_s",
        "canary_share",
        "canary_s",
        "rollback",
    ];
    pub const ROLLBACK: &[&str] = &["window_s", "max_error_rate", "max_p99_ms"];
    pub const ENDPOINT: &[&str] = &[
        "service_ms",
        "request_bytes",
        "response_bytes",
        "calls",
        "after_ms",
        "error_probability",
        "cpu_ms",
        "op",
    ];
    pub const STORE: &[&str] = &[
        "replicas",
        "write_quorum",
        "read_quorum",
        "replication",
        "replica_ms",
        "replication_lag_ms",
        "keys",
        "key_distribution",
        "zipf_exponent",
        "replica_latency_ms",
        "key_per",
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
        assert_eq!(
            accepted_fields::<RawBackgroundChange>(),
            fields::BACKGROUND_CHANGE
        );
        assert_eq!(accepted_fields::<RawHealthCheck>(), fields::HEALTH_CHECK);
        assert_eq!(accepted_fields::<RawDiscovery>(), fields::DISCOVERY);
        assert_eq!(accepted_fields::<RawStore>(), fields::STORE);
        assert_eq!(accepted_fields::<RawOutlierDetection>(), fields::OUTLIER);
        assert_eq!(accepted_fields::<RawDeployment>(), fields::DEPLOYMENT);
        assert_eq!(accepted_fields::<RawRollback>(), fields::ROLLBACK);
        assert_eq!(accepted_fields::<RawCpuAfterIdle>(), fields::CPU_AFTER_IDLE);
    }
}
