//! Releases (`[[deployments]]`): a new version of a service, the strategy that rolls it out
//! (rolling update, canary, blue-green) and the analysis that rolls it back.

use super::check::{non_negative, positive, probability, whole, word};
use super::diagnostic::{Invalid, did_you_mean};
use super::dist::{Dist, duration_value};
use super::{Endpoint, Service, ServiceId, raw};
use crate::engine::SimTime;
use crate::model::files::DataFiles;

/// A release of a new version of `service` at `at`.
#[derive(Clone, Debug)]
pub struct Deployment {
    pub service: ServiceId,
    pub at: SimTime,
    pub strategy: Strategy,
    pub version: Version,
    /// Seconds a new instance takes to start, before its readiness check.
    pub startup: SimTime,
    pub rollback: Option<RollbackRule>,
}

/// How the new version replaces the old one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Strategy {
    /// `batch` new instances start beside the old ones (Kubernetes' maxSurge, with no instance
    /// unavailable); each one serving lets one old instance drain.
    Rolling { batch: u32 },
    /// Instances for `share` of the traffic start beside the old ones and get that share for
    /// `duration` once they serve; then the rest are replaced as a rolling update of one batch
    /// of all of them.
    Canary { share: f64, duration: SimTime },
    /// A full second set starts; once all of it serves, all the traffic switches to it, and the
    /// old set stands by (for a rollback) for one analysis window before it drains.
    BlueGreen,
}

impl Strategy {
    /// The name used in model files and outputs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Strategy::Rolling { .. } => "rolling",
            Strategy::Canary { .. } => "canary",
            Strategy::BlueGreen => "blue_green",
        }
    }
}

/// What a version of a service does differently from the model's endpoints.
#[derive(Clone, Debug, Default)]
pub struct Version {
    /// Replaces every endpoint's `error_probability`.
    pub error_probability: Option<f64>,
    /// Service times (before the calls) are multiplied by this.
    pub slowdown: f64,
    /// Per endpoint of the model (by endpoint id; only the service's own may be set): its own
    /// service time.
    pub service_time: Vec<Option<Dist>>,
}

/// Roll back when, over a window of `window`, the new version's calls fail more often than
/// `max_error_rate` or their p99 exceeds `max_p99`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RollbackRule {
    pub window: SimTime,
    pub max_error_rate: Option<f64>,
    pub max_p99: Option<SimTime>,
}

/// Resolves `[[deployments]]` against the model's services.
pub fn deployments(
    raw: &[raw::RawDeployment],
    services: &[Service],
    endpoints: &[Endpoint],
    files: DataFiles<'_>,
) -> Result<Vec<Deployment>, Invalid> {
    let mut out: Vec<Deployment> = Vec::new();
    for (i, d) in raw.iter().enumerate() {
        let path = format!("deployments.{i}");
        let names: Vec<&str> = services.iter().skip(1).map(|s| s.name.as_str()).collect();
        let service = services
            .iter()
            .position(|s| s.name == d.service)
            .filter(|&s| s > 0)
            .ok_or_else(|| {
                let hint = did_you_mean(&d.service, names.iter().copied())
                    .map(|b| format!("did you mean `{b}`? "))
                    .unwrap_or_default();
                Invalid::at(
                    &format!("{path}.service"),
                    format!("unknown service `{}`", d.service),
                )
                .help(format!("{hint}services: {}", names.join(", ")))
            })?;
        let at = SimTime::from_secs_f64(non_negative(
            &format!("{path}.at_s"),
            d.at_s,
            "seconds ≥ 0",
        )?);
        if let Some(other) = out.iter().find(|o| o.service == service) {
            return Err(Invalid::at(
                &format!("{path}.service"),
                format!(
                    "`{}` is already released at {} s: one deployment per service",
                    d.service,
                    other.at.as_secs_f64()
                ),
            ));
        }
        let strategy = strategy(d, &path)?;
        let version = version(d, &path, &services[service], endpoints, files)?;
        let startup = SimTime::from_secs_f64(non_negative(
            &format!("{path}.startup_s"),
            d.startup_s.unwrap_or(0.0),
            "seconds ≥ 0",
        )?);
        let rollback = d
            .rollback
            .as_ref()
            .map(|r| rollback(r, &format!("{path}.rollback")))
            .transpose()?;
        out.push(Deployment {
            service,
            at,
            strategy,
            version,
            startup,
            rollback,
        });
    }
    Ok(out)
}

fn strategy(d: &raw::RawDeployment, path: &str) -> Result<Strategy, Invalid> {
    let name = word(
        &format!("{path}.strategy"),
        &d.strategy,
        raw::words::STRATEGIES,
    )?;
    // Fields of the other strategies are left unused (so that `--set
    // deployments.0.strategy=…` can switch a model's strategy).
    Ok(match name {
        "rolling" => Strategy::Rolling {
            batch: whole(&format!("{path}.batch"), d.batch.unwrap_or(1), 1, 100_000)?,
        },
        "canary" => {
            let share = probability(
                &format!("{path}.canary_share"),
                d.canary_share.unwrap_or(0.1),
            )?;
            if share == 0.0 || share == 1.0 {
                return Err(Invalid::at(
                    &format!("{path}.canary_share"),
                    format!("a canary takes a share strictly between 0 and 1, got {share}"),
                )
                .help("e.g. canary_share = 0.1 sends 10% of the traffic to the new version"));
            }
            Strategy::Canary {
                share,
                duration: SimTime::from_secs_f64(positive(
                    &format!("{path}.canary_s"),
                    d.canary_s.unwrap_or(60.0),
                    "seconds > 0",
                )?),
            }
        }
        _ => Strategy::BlueGreen,
    })
}

fn version(
    d: &raw::RawDeployment,
    path: &str,
    service: &Service,
    endpoints: &[Endpoint],
    files: DataFiles<'_>,
) -> Result<Version, Invalid> {
    let error_probability = d
        .error_probability
        .map(|p| probability(&format!("{path}.error_probability"), p))
        .transpose()?;
    let slowdown = positive(
        &format!("{path}.slowdown"),
        d.slowdown.unwrap_or(1.0),
        "a multiplier > 0",
    )?;
    let own: Vec<&str> = service
        .endpoints
        .iter()
        .map(|&e| {
            let name = &endpoints[e].name;
            name.split_once('.').map_or(name.as_str(), |(_, ep)| ep)
        })
        .collect();
    let mut service_time = vec![None; endpoints.len()];
    for (name, value) in d.service_ms.iter().flatten() {
        let at = format!("{path}.service_ms.{name}");
        let k = own.iter().position(|e| e == name).ok_or_else(|| {
            let hint = did_you_mean(name, own.iter().copied())
                .map(|b| format!("did you mean `{b}`? "))
                .unwrap_or_default();
            Invalid::at(&at, format!("`{}` has no endpoint `{name}`", service.name))
                .help(format!("{hint}endpoints: {}", own.join(", ")))
        })?;
        service_time[service.endpoints[k]] = Some(duration_value(value, &at, files)?);
    }
    Ok(Version {
        error_probability,
        slowdown,
        service_time,
    })
}

fn rollback(r: &raw::RawRollback, path: &str) -> Result<RollbackRule, Invalid> {
    if r.max_error_rate.is_none() && r.max_p99_ms.is_none() {
        return Err(Invalid::at(
            path,
            "a rollback needs max_error_rate or max_p99_ms",
        )
        .help("e.g. max_error_rate = 0.05 rolls back when more than 5% of the new version's calls fail"));
    }
    Ok(RollbackRule {
        window: SimTime::from_secs_f64(positive(
            &format!("{path}.window_s"),
            r.window_s.unwrap_or(10.0),
            "seconds > 0",
        )?),
        max_error_rate: r
            .max_error_rate
            .map(|p| probability(&format!("{path}.max_error_rate"), p))
            .transpose()?,
        max_p99: r
            .max_p99_ms
            .map(|ms| positive(&format!("{path}.max_p99_ms"), ms, "milliseconds > 0"))
            .transpose()?
            .map(SimTime::from_millis_f64),
    })
}
