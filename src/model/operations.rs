//! How callers find a service's instances and stop sending to broken ones: active health
//! checks feeding a registry, a discovery cache between the registry and the balancer, and
//! passive outlier ejection by the callers.

use super::check::{non_negative, positive, whole};
use super::diagnostic::Invalid;
use super::{Edge, ServiceId, raw};
use crate::engine::SimTime;

/// `[services.NAME.health_check]`: every `interval`, a checker probes each instance. A dead
/// instance fails its check at once (connection refused), a hung one after `timeout`; an
/// instance leaves the registry after `unhealthy_after` failures in a row and enters it (new,
/// restarted, or recovered) after `healthy_after` passes in a row.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthCheck {
    pub interval: SimTime,
    pub timeout: SimTime,
    pub unhealthy_after: u32,
    pub healthy_after: u32,
}

/// Passive outlier ejection, as Envoy's `outlier_detection`: an instance whose calls from the
/// detecting callers fail `consecutive_errors` times in a row leaves the balancer for
/// `ejection`, unless `max_ejection_percent` of the instances are out already (one may always
/// be).
#[derive(Clone, Debug, PartialEq)]
pub struct OutlierDetection {
    pub consecutive_errors: u32,
    pub ejection: SimTime,
    pub max_ejection_percent: f64,
    /// The callers whose calls are watched (those whose `client` has the table).
    pub callers: Vec<ServiceId>,
}

/// A `health_check` table.
pub fn health_check(h: &raw::RawHealthCheck, path: &str) -> Result<HealthCheck, Invalid> {
    let interval = positive(
        &format!("{path}.interval_ms"),
        h.interval_ms,
        "milliseconds > 0",
    )?;
    let timeout = positive(
        &format!("{path}.timeout_ms"),
        h.timeout_ms.unwrap_or(1000.0),
        "milliseconds > 0",
    )?;
    Ok(HealthCheck {
        interval: SimTime::from_millis_f64(interval),
        timeout: SimTime::from_millis_f64(timeout),
        unhealthy_after: whole(
            &format!("{path}.unhealthy_after"),
            h.unhealthy_after.unwrap_or(3),
            1,
            1_000,
        )?,
        healthy_after: whole(
            &format!("{path}.healthy_after"),
            h.healthy_after.unwrap_or(1),
            1,
            1_000,
        )?,
    })
}

/// A `discovery` table: the callers' cache refresh interval (`None`: they see the registry).
pub fn discovery(d: &raw::RawDiscovery, path: &str) -> Result<Option<SimTime>, Invalid> {
    let ms = non_negative(
        &format!("{path}.refresh_ms"),
        d.refresh_ms,
        "milliseconds ≥ 0",
    )?;
    Ok((ms > 0.0).then(|| SimTime::from_millis_f64(ms)))
}

/// The outlier detection of each service, from the `outlier_detection` tables of its callers'
/// clients (`client.to.CALLEE` over `client`). meshsim has one balancer per service, shared by
/// its callers: an instance one caller ejects is out for all of them. Callers of one service
/// that configure it differently are refused, since only one setting can apply.
pub fn outlier_detection(
    edges: &[Edge],
    names: &[String],
    clients: &[(String, Option<raw::RawClient>)],
) -> Result<Vec<Option<OutlierDetection>>, Invalid> {
    let mut out: Vec<Option<(OutlierDetection, String)>> = vec![None; names.len()];
    for edge in edges {
        let (path, client) = &clients[edge.from];
        let Some(client) = client else { continue };
        let callee = &names[edge.to];
        let specific = client
            .to
            .as_ref()
            .and_then(|to| to.get(callee))
            .and_then(|c| c.outlier_detection.as_ref())
            .map(|o| (o, format!("{path}.to.{callee}.outlier_detection")));
        let Some((raw, at)) = specific.or_else(|| {
            client
                .outlier_detection
                .as_ref()
                .map(|o| (o, format!("{path}.outlier_detection")))
        }) else {
            continue;
        };
        let detection = outlier(raw, &at)?;
        match &mut out[edge.to] {
            slot @ None => {
                *slot = Some((
                    OutlierDetection {
                        callers: vec![edge.from],
                        ..detection
                    },
                    at,
                ))
            }
            Some((existing, first)) => {
                let same = OutlierDetection {
                    callers: existing.callers.clone(),
                    ..detection
                } == *existing;
                if !same {
                    return Err(Invalid::at(
                        &at,
                        format!("differs from {first}: callers of `{callee}` share one balancer"),
                    )
                    .help("give every caller of the service the same outlier_detection"));
                }
                existing.callers.push(edge.from);
            }
        }
    }
    Ok(out.into_iter().map(|o| o.map(|(d, _)| d)).collect())
}

fn outlier(o: &raw::RawOutlierDetection, path: &str) -> Result<OutlierDetection, Invalid> {
    let percent = o.max_ejection_percent.unwrap_or(10.0);
    if !(0.0..=100.0).contains(&percent) {
        return Err(Invalid::at(
            &format!("{path}.max_ejection_percent"),
            format!("must be a percentage in [0, 100], got {percent}"),
        ));
    }
    Ok(OutlierDetection {
        consecutive_errors: whole(
            &format!("{path}.consecutive_errors"),
            o.consecutive_errors.unwrap_or(5),
            1,
            1_000_000,
        )?,
        ejection: SimTime::from_millis_f64(positive(
            &format!("{path}.ejection_ms"),
            o.ejection_ms.unwrap_or(30_000.0),
            "milliseconds > 0",
        )?),
        max_ejection_percent: percent,
        callers: Vec::new(),
    })
}
