//! How a caller calls its callees: timeouts, retries (back-off, jitter, budgets), circuit
//! breakers, bulkheads and hedging — the call policy of each edge of the call graph, from the
//! `client` tables.

use super::check::{non_negative, positive, whole, word};
use super::diagnostic::{Invalid, did_you_mean};
use super::{Service, ServiceId, raw};
use crate::engine::SimTime;
use indexmap::IndexMap;

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

/// One caller → callee edge of the call graph and its policy.
#[derive(Clone, Debug)]
pub struct Edge {
    pub from: ServiceId,
    pub to: ServiceId,
    pub policy: CallPolicy,
}

/// Most attempts per call (a call counts its attempts in 8 bits).
pub const MAX_ATTEMPTS: i64 = 100;

/// The edges of the call graph, each with the policy its caller's `client` table gives it.
pub fn edges(
    services: &[Service],
    endpoints: &[super::Endpoint],
    clients: &[(String, Option<raw::RawClient>)],
) -> Result<Vec<Edge>, Invalid> {
    let mut seen = std::collections::HashSet::new();
    let mut edges: Vec<Edge> = Vec::new();
    for e in endpoints {
        for call in e.stages.iter().flatten() {
            let to = endpoints[call.target].service;
            if seen.insert((e.service, to)) {
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
        // The edges are sorted by caller: this caller's are one run of them.
        let first = edges.partition_point(|e| e.from < from);
        let end = edges.partition_point(|e| e.from <= from);
        let callees: Vec<&str> = edges[first..end]
            .iter()
            .map(|e| services[e.to].name.as_str())
            .collect();
        let base = call_policy(client, path, &CallPolicy::default())?;
        let overrides = client.to.clone().unwrap_or_default();
        check_callees(&overrides, &callees, &services[from].name, path)?;
        for edge in &mut edges[first..end] {
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
