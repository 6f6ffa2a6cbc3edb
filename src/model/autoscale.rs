//! Horizontal autoscaling of a service on a metric, as Kubernetes' HPA does.

use super::check::{non_negative, positive, whole, word};
use super::diagnostic::Invalid;
use super::raw;
use crate::engine::SimTime;

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
