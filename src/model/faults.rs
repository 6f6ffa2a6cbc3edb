//! Things that go wrong for a while (`[[faults]]`): crashes, hangs, slowdowns, degraded and
//! partitioned links.

use super::check::{non_negative, positive, word};
use super::diagnostic::{Invalid, did_you_mean};
use super::{Link, Service, ServiceId, raw};
use crate::engine::SimTime;

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
    /// The process stops answering but its port stays open: calls it holds and calls sent to
    /// it wait (their callers time out), until the fault ends and it carries on.
    Hang {
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
            FaultKind::Hang { .. } => "hang",
            FaultKind::Slowdown { .. } => "slowdown",
            FaultKind::LinkDegradation { .. } => "link_degradation",
            FaultKind::Partition { .. } => "partition",
        }
    }
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
            "crash" | "hang" => &["service", "instance"],
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
            "crash" | "hang" | "slowdown" => {
                let (service, instance) = fault_target(f, &path, services)?;
                if kind == "crash" {
                    FaultKind::Crash { service, instance }
                } else if kind == "hang" {
                    FaultKind::Hang { service, instance }
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
