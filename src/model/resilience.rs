//! What makes a system survive, or melt down: call policies (timeouts, retries, circuit
//! breakers, bulkheads, hedging), admission control (rate limits, concurrency limits),
//! autoscaling, injected faults and time-varying arrival rates. Types and their validation.

use super::diagnostic::{Invalid, did_you_mean};
use super::raw;
use super::{Link, Service, ServiceId};
use crate::engine::SimTime;
use indexmap::IndexMap;
use std::path::Path;

/// How a caller calls one callee (an edge of the call graph). The default does nothing: one
/// attempt, no timeout.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallPolicy {
    /// The caller gives up on an attempt after this long.
    pub timeout: Option<SimTime>,
    /// Whether a timed-out attempt is cancelled at the callee (otherwise it finishes its work,
    /// which is then wasted).
    pub cancel_on_timeout: bool,
    pub retry: Option<RetryPolicy>,
    pub breaker: Option<BreakerPolicy>,
    /// At most this many attempts in flight from the caller to the callee; more fail at once.
    pub bulkhead: Option<u32>,
    /// Sends another attempt when none has answered after this long (needs `retry` for the
    /// number of attempts allowed).
    pub hedge_after: Option<SimTime>,
}

impl CallPolicy {
    /// Whether calls on this edge need no bookkeeping beyond a plain call.
    pub fn is_plain(&self) -> bool {
        *self == CallPolicy::default()
    }

    /// Attempts allowed per call, first attempt included.
    pub fn max_attempts(&self) -> u32 {
        self.retry.as_ref().map_or(1, |r| r.max_attempts)
    }
}

/// When and how often a failed attempt is tried again.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included (so 3 means up to 2 retries).
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// Delay before the first retry.
    pub base: SimTime,
    /// Longest delay between attempts.
    pub max: SimTime,
    pub jitter: Jitter,
    pub budget: Option<RetryBudget>,
    /// Retry attempts that failed with an error response.
    pub on_error: bool,
    /// Retry attempts that timed out.
    pub on_timeout: bool,
}

/// Delay growth between retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    Constant,
    Exponential,
}

/// Randomisation of the retry delay `d` (as in the AWS architecture blog's "Exponential backoff
/// and jitter"): none, uniform in [0, d] (full), or d/2 + uniform in [0, d/2] (equal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    None,
    Full,
    Equal,
}

/// Retries limited to a share of calls (as Envoy's and Finagle's retry budgets): over the last
/// second, retries may be at most `ratio` × first attempts + `min_per_s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryBudget {
    pub ratio: f64,
    pub min_per_s: f64,
}

/// A circuit breaker on an edge: after too many failures, calls fail fast for `open`, then
/// `probe_calls` trial calls decide whether it closes again.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerPolicy {
    /// Opens after this many failures in a row.
    pub consecutive_failures: Option<u32>,
    /// Opens when the failed share of the last `window` calls reaches this (once at least
    /// `min_calls` have been seen).
    pub failure_rate: Option<f64>,
    pub window: u32,
    pub min_calls: u32,
    pub open: SimTime,
    pub probe_calls: u32,
}

/// A token bucket: `rate_per_s` tokens a second, at most `burst` saved; each call takes one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub rate_per_s: f64,
    pub burst: f64,
}

/// One caller → callee edge of the call graph and its policy.
#[derive(Clone, Debug)]
pub struct Edge {
    pub from: ServiceId,
    pub to: ServiceId,
    pub policy: CallPolicy,
}

/// What an autoscaler watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleMetric {
    /// Busy workers over available workers in the last interval.
    Utilisation,
    /// Mean calls waiting per ready instance in the last interval.
    QueueLength,
}

/// Horizontal autoscaling of a service, like Kubernetes' HPA: every `interval`, the desired
/// count is ⌈current × metric / target⌉ (no change within ±10%), moved by at most `step_up` or
/// `step_down`, within [`min`, `max`]. New instances serve after `cold_start`.
#[derive(Clone, Debug, PartialEq)]
pub struct Autoscale {
    pub metric: ScaleMetric,
    pub target: f64,
    pub interval: SimTime,
    pub step_up: u32,
    pub step_down: u32,
    pub min: u32,
    pub max: u32,
    pub cold_start: SimTime,
}

/// Something that goes wrong during `[at, at + duration)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub at: SimTime,
    pub duration: SimTime,
    pub kind: FaultKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    /// The instance (or every instance) dies: its queued and in-progress calls fail, and it
    /// restarts empty when the fault ends.
    Crash {
        service: ServiceId,
        instance: Option<u32>,
    },
    /// Service times are multiplied by `factor`.
    Slowdown {
        service: ServiceId,
        instance: Option<u32>,
        factor: f64,
    },
    /// The link's propagation gains `extra_latency` and its loss becomes `loss`.
    LinkDegradation {
        link: usize,
        extra_latency: SimTime,
        loss: f64,
    },
    /// The link drops every message (both directions).
    Partition { link: usize },
}

impl FaultKind {
    /// The name used in model files.
    pub fn as_str(&self) -> &'static str {
        match self {
            FaultKind::Crash { .. } => "crash",
            FaultKind::Slowdown { .. } => "slowdown",
            FaultKind::LinkDegradation { .. } => "link_degradation",
            FaultKind::Partition { .. } => "partition",
        }
    }
}

/// A time-varying arrival rate for an open workload; `rate_per_s` of the workload is the base.
#[derive(Clone, Debug, PartialEq)]
pub enum ArrivalPattern {
    /// The rate becomes `rate` at `at`.
    Step { at: SimTime, rate: f64 },
    /// The rate moves linearly from the base at `from` to `rate` at `to`, then stays.
    Ramp {
        from: SimTime,
        to: SimTime,
        rate: f64,
    },
    /// The rate is `rate` during [`at`, `until`).
    Spike {
        at: SimTime,
        until: SimTime,
        rate: f64,
    },
    /// base + amplitude × sin(2π t / period): a diurnal cycle.
    Sine { period_s: f64, amplitude: f64 },
    /// `rates[k]` during the k-th interval; the last rate holds after the table.
    Table { interval: SimTime, rates: Vec<f64> },
}

impl ArrivalPattern {
    /// The arrival rate at `t`, per second, given the workload's base rate.
    pub fn rate_at(&self, base: f64, t: SimTime) -> f64 {
        match self {
            ArrivalPattern::Step { at, rate } => {
                if t >= *at {
                    *rate
                } else {
                    base
                }
            }
            ArrivalPattern::Ramp { from, to, rate } => {
                if t <= *from {
                    base
                } else if t >= *to {
                    *rate
                } else {
                    let f = (t - *from).0 as f64 / (*to - *from).0 as f64;
                    base + (rate - base) * f
                }
            }
            ArrivalPattern::Spike { at, until, rate } => {
                if t >= *at && t < *until {
                    *rate
                } else {
                    base
                }
            }
            ArrivalPattern::Sine {
                period_s,
                amplitude,
            } => {
                let phase = std::f64::consts::TAU * t.as_secs_f64() / period_s;
                (base + amplitude * phase.sin()).max(0.0)
            }
            ArrivalPattern::Table { interval, rates } => {
                let k = (t.0 / interval.0.max(1)) as usize;
                rates[k.min(rates.len() - 1)]
            }
        }
    }

    /// An upper bound of the rate over all time, for thinning.
    pub fn max_rate(&self, base: f64) -> f64 {
        match self {
            ArrivalPattern::Step { rate, .. }
            | ArrivalPattern::Ramp { rate, .. }
            | ArrivalPattern::Spike { rate, .. } => base.max(*rate),
            ArrivalPattern::Sine { amplitude, .. } => base + amplitude.abs(),
            ArrivalPattern::Table { rates, .. } => rates.iter().copied().fold(0.0, f64::max),
        }
    }
}

/// Whether `value` is a finite number > 0.
fn positive(path: &str, value: f64, allowed: &str) -> Result<f64, Invalid> {
    if !value.is_finite() || value <= 0.0 {
        return Err(Invalid::at(path, format!("must be {allowed}, got {value}")));
    }
    Ok(value)
}

fn non_negative(path: &str, value: f64, allowed: &str) -> Result<f64, Invalid> {
    if !value.is_finite() || value < 0.0 {
        return Err(Invalid::at(path, format!("must be {allowed}, got {value}")));
    }
    Ok(value)
}

fn whole(path: &str, value: i64, min: i64, max: i64) -> Result<u32, Invalid> {
    if value < min || value > max {
        return Err(Invalid::at(
            path,
            format!("must be a whole number in [{min}, {max}], got {value}"),
        ));
    }
    Ok(value as u32)
}

/// One of `allowed`, with a suggestion otherwise.
fn word<'a>(path: &str, value: &str, allowed: &[&'a str]) -> Result<&'a str, Invalid> {
    allowed
        .iter()
        .find(|a| **a == value)
        .copied()
        .ok_or_else(|| {
            let hint = did_you_mean(value, allowed.iter().copied())
                .map(|b| format!("did you mean `{b}`? "))
                .unwrap_or_default();
            Invalid::at(path, format!("unknown value `{value}`"))
                .help(format!("{hint}one of: {}", allowed.join(", ")))
        })
}

/// Most attempts per call (a call counts its attempts in 8 bits).
pub const MAX_ATTEMPTS: i64 = 100;

/// The edges of the call graph, each with the policy its caller's `client` table gives it.
pub fn edges(
    services: &[Service],
    endpoints: &[super::Endpoint],
    clients: &[(String, Option<raw::RawClient>)],
) -> Result<Vec<Edge>, Invalid> {
    let mut edges: Vec<Edge> = Vec::new();
    for e in endpoints {
        for call in e.stages.iter().flatten() {
            let to = endpoints[call.target].service;
            if !edges.iter().any(|x| x.from == e.service && x.to == to) {
                edges.push(Edge {
                    from: e.service,
                    to,
                    policy: CallPolicy::default(),
                });
            }
        }
    }
    edges.sort_by_key(|e| (e.from, e.to));
    for (from, (path, client)) in clients.iter().enumerate() {
        let Some(client) = client else { continue };
        let callees: Vec<&str> = edges
            .iter()
            .filter(|e| e.from == from)
            .map(|e| services[e.to].name.as_str())
            .collect();
        let base = call_policy(client, path, &CallPolicy::default())?;
        let overrides = client.to.clone().unwrap_or_default();
        check_callees(&overrides, &callees, &services[from].name, path)?;
        for edge in edges.iter_mut().filter(|e| e.from == from) {
            edge.policy = match overrides.get(&services[edge.to].name) {
                Some(o) => {
                    let at = format!("{path}.to.{}", services[edge.to].name);
                    if o.to.is_some() {
                        return Err(Invalid::at(&format!("{at}.to"), "`to` cannot be nested")
                            .help("give per-callee settings one level deep: client.to.CALLEE"));
                    }
                    call_policy(o, &at, &base)?
                }
                None => base.clone(),
            };
        }
    }
    Ok(edges)
}

fn check_callees(
    overrides: &IndexMap<String, raw::RawClient>,
    callees: &[&str],
    caller: &str,
    path: &str,
) -> Result<(), Invalid> {
    for name in overrides.keys() {
        if !callees.contains(&name.as_str()) {
            let hint = did_you_mean(name, callees.iter().copied())
                .map(|b| format!("did you mean `{b}`? "))
                .unwrap_or_default();
            return Err(Invalid::at(
                &format!("{path}.to.{name}"),
                format!("`{caller}` never calls `{name}`"),
            )
            .help(format!("{hint}`{caller}` calls: {}", callees.join(", "))));
        }
    }
    Ok(())
}

/// A `client` table over `base`: fields given replace the base's.
fn call_policy(raw: &raw::RawClient, path: &str, base: &CallPolicy) -> Result<CallPolicy, Invalid> {
    let mut p = base.clone();
    if let Some(ms) = raw.timeout_ms {
        p.timeout = Some(SimTime::from_millis_f64(positive(
            &format!("{path}.timeout_ms"),
            ms,
            "milliseconds > 0",
        )?));
    }
    if let Some(c) = raw.cancel_on_timeout {
        p.cancel_on_timeout = c;
    }
    if let Some(b) = raw.bulkhead {
        p.bulkhead = Some(whole(&format!("{path}.bulkhead"), b, 1, u32::MAX as i64)?);
    }
    if let Some(ms) = raw.hedge_after_ms {
        p.hedge_after = Some(SimTime::from_millis_f64(positive(
            &format!("{path}.hedge_after_ms"),
            ms,
            "milliseconds > 0",
        )?));
    }
    if let Some(r) = &raw.retry {
        p.retry = Some(retry(r, &format!("{path}.retry"))?);
    }
    if let Some(b) = &raw.circuit_breaker {
        p.breaker = Some(breaker(b, &format!("{path}.circuit_breaker"))?);
    }
    if p.hedge_after.is_some() && p.max_attempts() < 2 {
        return Err(Invalid::at(
            &format!("{path}.hedge_after_ms"),
            "hedging needs a second attempt, but max_attempts is 1",
        )
        .help("add retry = { max_attempts = 2 } (hedges and retries share max_attempts)"));
    }
    if p.cancel_on_timeout && p.timeout.is_none() {
        return Err(Invalid::at(
            &format!("{path}.cancel_on_timeout"),
            "cancel_on_timeout needs a timeout_ms",
        ));
    }
    Ok(p)
}

fn retry(r: &raw::RawRetry, path: &str) -> Result<RetryPolicy, Invalid> {
    let max_attempts = whole(
        &format!("{path}.max_attempts"),
        r.max_attempts,
        1,
        MAX_ATTEMPTS,
    )?;
    let backoff = match r.backoff.as_deref() {
        None => Backoff::Exponential,
        Some(b) => match word(&format!("{path}.backoff"), b, raw::words::BACKOFFS)? {
            "constant" => Backoff::Constant,
            _ => Backoff::Exponential,
        },
    };
    let jitter = match r.jitter.as_deref() {
        None => Jitter::Full,
        Some(j) => match word(&format!("{path}.jitter"), j, raw::words::JITTERS)? {
            "none" => Jitter::None,
            "equal" => Jitter::Equal,
            _ => Jitter::Full,
        },
    };
    let base_ms = non_negative(
        &format!("{path}.base_ms"),
        r.base_ms.unwrap_or(25.0),
        "milliseconds ≥ 0",
    )?;
    let max_ms = non_negative(
        &format!("{path}.max_ms"),
        r.max_ms.unwrap_or(base_ms.max(1000.0)),
        "milliseconds ≥ 0",
    )?;
    if max_ms < base_ms {
        return Err(Invalid::at(
            &format!("{path}.max_ms"),
            format!("max_ms ({max_ms}) is below base_ms ({base_ms})"),
        ));
    }
    let budget = match (r.budget_percent, r.min_retries_per_s) {
        (None, None) => None,
        (pct, min) => Some(RetryBudget {
            ratio: non_negative(
                &format!("{path}.budget_percent"),
                pct.unwrap_or(20.0),
                "a percentage ≥ 0",
            )? / 100.0,
            min_per_s: non_negative(
                &format!("{path}.min_retries_per_s"),
                min.unwrap_or(10.0),
                "retries per second ≥ 0",
            )?,
        }),
    };
    let (mut on_error, mut on_timeout) = (true, true);
    if let Some(on) = &r.on {
        (on_error, on_timeout) = (false, false);
        for (i, o) in on.iter().enumerate() {
            match word(&format!("{path}.on.{i}"), o, raw::words::RETRY_ON)? {
                "error" => on_error = true,
                _ => on_timeout = true,
            }
        }
    }
    Ok(RetryPolicy {
        max_attempts,
        backoff,
        base: SimTime::from_millis_f64(base_ms),
        max: SimTime::from_millis_f64(max_ms),
        jitter,
        budget,
        on_error,
        on_timeout,
    })
}

fn breaker(b: &raw::RawBreaker, path: &str) -> Result<BreakerPolicy, Invalid> {
    if b.consecutive_failures.is_none() && b.failure_rate.is_none() {
        return Err(
            Invalid::at(path, "a circuit breaker needs a condition to open").help(
                "give consecutive_failures = N, or failure_rate = 0.5 (with window and min_calls)",
            ),
        );
    }
    let consecutive_failures = b
        .consecutive_failures
        .map(|n| whole(&format!("{path}.consecutive_failures"), n, 1, 1_000_000))
        .transpose()?;
    let failure_rate = match b.failure_rate {
        None => None,
        Some(r) if r > 0.0 && r <= 1.0 => Some(r),
        Some(r) => {
            return Err(Invalid::at(
                &format!("{path}.failure_rate"),
                format!("must be a share in (0, 1], got {r}"),
            ));
        }
    };
    let window = whole(
        &format!("{path}.window"),
        b.window.unwrap_or(20),
        1,
        100_000,
    )?;
    let min_calls = whole(
        &format!("{path}.min_calls"),
        b.min_calls.unwrap_or(i64::from(window)),
        1,
        i64::from(window),
    )?;
    Ok(BreakerPolicy {
        consecutive_failures,
        failure_rate,
        window,
        min_calls,
        open: SimTime::from_millis_f64(positive(
            &format!("{path}.open_ms"),
            b.open_ms,
            "milliseconds > 0",
        )?),
        probe_calls: whole(
            &format!("{path}.probe_calls"),
            b.probe_calls.unwrap_or(1),
            1,
            1_000_000,
        )?,
    })
}

/// A `rate_limit = { rate_per_s, burst }` table.
pub fn rate_limit(r: &raw::RawRateLimit, path: &str) -> Result<RateLimit, Invalid> {
    let rate_per_s = positive(
        &format!("{path}.rate_per_s"),
        r.rate_per_s,
        "tokens per second > 0",
    )?;
    let burst = r.burst;
    if !burst.is_finite() || burst < 1.0 {
        return Err(Invalid::at(
            &format!("{path}.burst"),
            format!("must be at least 1 token, got {burst}"),
        ));
    }
    Ok(RateLimit { rate_per_s, burst })
}

/// An `autoscale` table of service `name`, which starts with `instances`.
pub fn autoscale(a: &raw::RawAutoscale, path: &str, instances: u32) -> Result<Autoscale, Invalid> {
    let metric = match word(
        &format!("{path}.metric"),
        &a.metric,
        raw::words::SCALE_METRICS,
    )? {
        "utilisation" => ScaleMetric::Utilisation,
        _ => ScaleMetric::QueueLength,
    };
    let target = positive(&format!("{path}.target"), a.target, "a number > 0")?;
    if metric == ScaleMetric::Utilisation && target > 1.0 {
        return Err(Invalid::at(
            &format!("{path}.target"),
            format!("a utilisation target is a share in (0, 1], got {target}"),
        ));
    }
    let min = whole(&format!("{path}.min"), a.min, 1, 100_000)?;
    let max = whole(&format!("{path}.max"), a.max, 1, 100_000)?;
    if max < min {
        return Err(Invalid::at(
            &format!("{path}.max"),
            format!("max ({max}) is below min ({min})"),
        ));
    }
    if !(min..=max).contains(&instances) {
        return Err(Invalid::at(
            &format!("{path}.min"),
            format!(
                "the service starts with {instances} instances, outside [min, max] = [{min}, {max}]"
            ),
        ));
    }
    Ok(Autoscale {
        metric,
        target,
        interval: SimTime::from_secs_f64(positive(
            &format!("{path}.interval_s"),
            a.interval_s,
            "seconds > 0",
        )?),
        step_up: whole(
            &format!("{path}.step_up"),
            a.step_up.unwrap_or(1),
            1,
            100_000,
        )?,
        step_down: whole(
            &format!("{path}.step_down"),
            a.step_down.unwrap_or(1),
            1,
            100_000,
        )?,
        min,
        max,
        cold_start: SimTime::from_secs_f64(non_negative(
            &format!("{path}.cold_start_s"),
            a.cold_start_s.unwrap_or(0.0),
            "seconds ≥ 0",
        )?),
    })
}

/// Resolves `[[faults]]` against the model's services and links.
pub fn faults(
    raw: &[raw::RawFault],
    services: &[Service],
    links: &[Link],
) -> Result<Vec<Fault>, Invalid> {
    const KINDS: &[&str] = raw::words::FAULT_KINDS;
    let mut out = Vec::new();
    for (i, f) in raw.iter().enumerate() {
        let path = format!("faults.{i}");
        let kind = word(&format!("{path}.kind"), &f.kind, KINDS)?;
        let at = non_negative(&format!("{path}.at_s"), f.at_s, "seconds ≥ 0")?;
        let duration = positive(&format!("{path}.duration_s"), f.duration_s, "seconds > 0")?;
        let allowed: &[&str] = match kind {
            "crash" => &["service", "instance"],
            "slowdown" => &["service", "instance", "factor"],
            "link_degradation" => &["link", "extra_latency_ms", "loss"],
            _ => &["link"],
        };
        let given = [
            ("service", f.service.is_some()),
            ("instance", f.instance.is_some()),
            ("link", f.link.is_some()),
            ("factor", f.factor.is_some()),
            ("extra_latency_ms", f.extra_latency_ms.is_some()),
            ("loss", f.loss.is_some()),
        ];
        for (field, set) in given {
            if set && !allowed.contains(&field) {
                return Err(Invalid::at(
                    &format!("{path}.{field}"),
                    format!("`{field}` does not apply to a {kind} fault"),
                )
                .help(format!("a {kind} fault takes: {}", allowed.join(", "))));
            }
        }
        let kind = match kind {
            "crash" | "slowdown" => {
                let (service, instance) = fault_target(f, &path, services)?;
                if kind == "crash" {
                    FaultKind::Crash { service, instance }
                } else {
                    let factor = positive(
                        &format!("{path}.factor"),
                        f.factor.ok_or_else(|| {
                            Invalid::at(&path, "a slowdown needs `factor`")
                                .help("e.g. factor = 5 makes service times 5× longer")
                        })?,
                        "a multiplier > 0",
                    )?;
                    FaultKind::Slowdown {
                        service,
                        instance,
                        factor,
                    }
                }
            }
            _ => {
                let link = fault_link(f, &path, links)?;
                if kind == "partition" {
                    FaultKind::Partition { link }
                } else {
                    if f.extra_latency_ms.is_none() && f.loss.is_none() {
                        return Err(Invalid::at(
                            &path,
                            "a link_degradation needs extra_latency_ms or loss",
                        ));
                    }
                    let loss = f.loss.unwrap_or(links[link].loss);
                    if !(0.0..=1.0).contains(&loss) {
                        return Err(Invalid::at(
                            &format!("{path}.loss"),
                            format!("must be a probability in [0, 1], got {loss}"),
                        ));
                    }
                    FaultKind::LinkDegradation {
                        link,
                        extra_latency: SimTime::from_millis_f64(non_negative(
                            &format!("{path}.extra_latency_ms"),
                            f.extra_latency_ms.unwrap_or(0.0),
                            "milliseconds ≥ 0",
                        )?),
                        loss,
                    }
                }
            }
        };
        out.push(Fault {
            at: SimTime::from_secs_f64(at),
            duration: SimTime::from_secs_f64(duration),
            kind,
        });
    }
    Ok(out)
}

fn fault_target(
    f: &raw::RawFault,
    path: &str,
    services: &[Service],
) -> Result<(ServiceId, Option<u32>), Invalid> {
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    let name = f.service.as_deref().ok_or_else(|| {
        Invalid::at(path, format!("a {} fault needs `service`", f.kind))
            .help(format!("services: {}", names.join(", ")))
    })?;
    let service = names.iter().position(|n| *n == name).ok_or_else(|| {
        let hint = did_you_mean(name, names.iter().copied())
            .map(|b| format!("did you mean `{b}`? "))
            .unwrap_or_default();
        Invalid::at(
            &format!("{path}.service"),
            format!("unknown service `{name}`"),
        )
        .help(format!("{hint}services: {}", names.join(", ")))
    })?;
    let instance = match f.instance {
        None => None,
        Some(i) => {
            let n = services[service].instances;
            if i < 0 || i >= i64::from(n) {
                return Err(Invalid::at(
                    &format!("{path}.instance"),
                    format!("`{name}` has instances 0 to {}, got {i}", n - 1),
                )
                .help("omit instance to affect every instance"));
            }
            Some(i as u32)
        }
    };
    Ok((service, instance))
}

fn fault_link(f: &raw::RawFault, path: &str, links: &[Link]) -> Result<usize, Invalid> {
    let names: Vec<&str> = links.iter().map(|l| l.name.as_str()).collect();
    let name = f.link.as_deref().ok_or_else(|| {
        Invalid::at(path, format!("a {} fault needs `link`", f.kind))
            .help(format!("links: {}", names.join(", ")))
    })?;
    names.iter().position(|n| *n == name).ok_or_else(|| {
        let hint = did_you_mean(name, names.iter().copied())
            .map(|b| format!("did you mean `{b}`? "))
            .unwrap_or_default();
        Invalid::at(&format!("{path}.link"), format!("unknown link `{name}`"))
            .help(format!("{hint}links: {}", names.join(", ")))
    })
}

/// `[workload.pattern]` of an open workload with base rate `base`.
pub fn pattern(p: &raw::RawPattern, base_dir: &Path) -> Result<ArrivalPattern, Invalid> {
    const SHAPES: &[&str] = raw::words::PATTERN_SHAPES;
    let path = "workload.pattern";
    let shape = word(&format!("{path}.shape"), &p.shape, SHAPES)?;
    let allowed: &[&str] = match shape {
        "step" => &["at_s", "rate_per_s"],
        "ramp" => &["from_s", "to_s", "rate_per_s"],
        "spike" => &["at_s", "duration_s", "rate_per_s"],
        "sine" => &["period_s", "amplitude_per_s"],
        _ => &["interval_s", "rates_per_s", "file"],
    };
    let given = [
        ("at_s", p.at_s.is_some()),
        ("duration_s", p.duration_s.is_some()),
        ("from_s", p.from_s.is_some()),
        ("to_s", p.to_s.is_some()),
        ("rate_per_s", p.rate_per_s.is_some()),
        ("period_s", p.period_s.is_some()),
        ("amplitude_per_s", p.amplitude_per_s.is_some()),
        ("interval_s", p.interval_s.is_some()),
        ("rates_per_s", p.rates_per_s.is_some()),
        ("file", p.file.is_some()),
    ];
    for (field, set) in given {
        if set && !allowed.contains(&field) {
            return Err(Invalid::at(
                &format!("{path}.{field}"),
                format!("`{field}` does not apply to shape = \"{shape}\""),
            )
            .help(format!("{shape} takes: {}", allowed.join(", "))));
        }
    }
    let need = |field: &str, v: Option<f64>| -> Result<f64, Invalid> {
        v.ok_or_else(|| {
            Invalid::at(path, format!("shape = \"{shape}\" needs `{field}`"))
                .help(format!("{shape} takes: {}", allowed.join(", ")))
        })
    };
    let secs = |field: &str, v: Option<f64>| -> Result<SimTime, Invalid> {
        Ok(SimTime::from_secs_f64(non_negative(
            &format!("{path}.{field}"),
            need(field, v)?,
            "seconds ≥ 0",
        )?))
    };
    let rate = |v: Option<f64>| -> Result<f64, Invalid> {
        non_negative(
            &format!("{path}.rate_per_s"),
            need("rate_per_s", v)?,
            "requests per second ≥ 0",
        )
    };
    Ok(match shape {
        "step" => ArrivalPattern::Step {
            at: secs("at_s", p.at_s)?,
            rate: rate(p.rate_per_s)?,
        },
        "ramp" => {
            let (from, to) = (secs("from_s", p.from_s)?, secs("to_s", p.to_s)?);
            if to <= from {
                return Err(Invalid::at(
                    &format!("{path}.to_s"),
                    "to_s must be later than from_s",
                ));
            }
            ArrivalPattern::Ramp {
                from,
                to,
                rate: rate(p.rate_per_s)?,
            }
        }
        "spike" => {
            let at = secs("at_s", p.at_s)?;
            let duration = positive(
                &format!("{path}.duration_s"),
                need("duration_s", p.duration_s)?,
                "seconds > 0",
            )?;
            ArrivalPattern::Spike {
                at,
                until: at + SimTime::from_secs_f64(duration),
                rate: rate(p.rate_per_s)?,
            }
        }
        "sine" => ArrivalPattern::Sine {
            period_s: positive(
                &format!("{path}.period_s"),
                need("period_s", p.period_s)?,
                "seconds > 0",
            )?,
            amplitude: non_negative(
                &format!("{path}.amplitude_per_s"),
                need("amplitude_per_s", p.amplitude_per_s)?,
                "requests per second ≥ 0",
            )?,
        },
        _ => table(p, path, base_dir)?,
    })
}

fn table(p: &raw::RawPattern, path: &str, base_dir: &Path) -> Result<ArrivalPattern, Invalid> {
    let interval = positive(
        &format!("{path}.interval_s"),
        p.interval_s.ok_or_else(|| {
            Invalid::at(path, "shape = \"table\" needs `interval_s`")
                .help("the length of each rate's interval, e.g. interval_s = 3600")
        })?,
        "seconds > 0",
    )?;
    let rates = match (&p.rates_per_s, &p.file) {
        (Some(r), None) => r.clone(),
        (None, Some(f)) => {
            read_rates(&base_dir.join(f)).map_err(|m| Invalid::at(&format!("{path}.file"), m))?
        }
        _ => {
            return Err(Invalid::at(
                path,
                "shape = \"table\" needs exactly one of `rates_per_s` or `file`",
            )
            .help("rates_per_s = [100, 400, 900] or file = \"rates.csv\" (one rate per line)"));
        }
    };
    if rates.is_empty() {
        return Err(Invalid::at(path, "the table holds no rates"));
    }
    for (i, r) in rates.iter().enumerate() {
        non_negative(
            &format!("{path}.rates_per_s.{i}"),
            *r,
            "requests per second ≥ 0",
        )?;
    }
    if rates.iter().all(|r| *r == 0.0) {
        return Err(Invalid::at(path, "every rate in the table is 0"));
    }
    Ok(ArrivalPattern::Table {
        interval: SimTime::from_secs_f64(interval),
        rates,
    })
}

/// Reads one rate per line (first field; a header line is allowed).
fn read_rates(file: &Path) -> Result<Vec<f64>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read `{}`: {e}", file.display()))?;
    let mut rates = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let field = line.split(',').next().unwrap_or("").trim();
        if field.is_empty() {
            continue;
        }
        match field.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => rates.push(x),
            Ok(x) => {
                return Err(format!(
                    "{}:{}: {x} is not a rate ≥ 0",
                    file.display(),
                    i + 1
                ));
            }
            Err(_) if i == 0 => {}
            Err(_) => {
                return Err(format!(
                    "{}:{}: `{field}` is not a number of requests per second",
                    file.display(),
                    i + 1
                ));
            }
        }
    }
    Ok(rates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_give_the_rate_of_their_shape() {
        let s = SimTime::from_secs_f64;
        let step = ArrivalPattern::Step {
            at: s(10.0),
            rate: 50.0,
        };
        assert_eq!(step.rate_at(10.0, s(9.99)), 10.0);
        assert_eq!(step.rate_at(10.0, s(10.0)), 50.0);
        let ramp = ArrivalPattern::Ramp {
            from: s(0.0),
            to: s(10.0),
            rate: 110.0,
        };
        assert!((ramp.rate_at(10.0, s(5.0)) - 60.0).abs() < 1e-9);
        assert_eq!(ramp.max_rate(10.0), 110.0);
        let sine = ArrivalPattern::Sine {
            period_s: 4.0,
            amplitude: 5.0,
        };
        assert!((sine.rate_at(10.0, s(1.0)) - 15.0).abs() < 1e-9);
        let table = ArrivalPattern::Table {
            interval: s(1.0),
            rates: vec![1.0, 2.0],
        };
        assert_eq!(table.rate_at(0.0, s(1.5)), 2.0);
        assert_eq!(table.rate_at(0.0, s(99.0)), 2.0);
    }
}
