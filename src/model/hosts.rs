//! `[hosts.NAME]`: the machines services run on, whose cores the calls' CPU work shares.
//!
//! Validated here, once: a host's cores, speed and background load, and a service's placement
//! (`host = "NAME"`), resolved to a [`HostId`].

use super::diagnostic::{Invalid, did_you_mean};
use super::raw::RawHost;
use crate::engine::SimTime;
use indexmap::IndexMap;

/// Index of a host in [`super::Model::hosts`].
pub type HostId = usize;

/// A machine: cores shared by processor sharing among the CPU work of the calls placed on it.
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    pub name: String,
    pub cores: u32,
    /// CPU work runs `speed` times as fast as on the machine it was measured on.
    pub speed: f64,
    /// Threads of other work always runnable on the host (a noisy neighbour), in cores: they take
    /// their processor-sharing share like any call's work. The load at the start of the run.
    pub background_cores: f64,
    /// Changes of the background load over time, in time order: from `.0` on it is `.1`.
    pub background_changes: Vec<(SimTime, f64)>,
}

/// Most cores a host may have.
pub const MAX_CORES: i64 = 1 << 16;

/// Validates the `[hosts]` tables, in file order.
pub fn hosts(raw: &IndexMap<String, RawHost>) -> Result<Vec<Host>, Invalid> {
    let mut out = Vec::new();
    for (name, h) in raw {
        let path = format!("hosts.{name}");
        if name.is_empty() || name.contains(['.', ' ']) {
            return Err(Invalid::at(&path, format!("`{name}` cannot name a host"))
                .help("use letters, digits, '-' and '_'"));
        }
        if !(1..=MAX_CORES).contains(&h.cores) {
            return Err(Invalid::at(
                &format!("{path}.cores"),
                format!(
                    "must be a whole number from 1 to {MAX_CORES}, got {}",
                    h.cores
                ),
            ));
        }
        let speed = h.speed.unwrap_or(1.0);
        if !speed.is_finite() || speed <= 0.0 {
            return Err(Invalid::at(
                &format!("{path}.speed"),
                format!("must be a number > 0 (1 = as measured), got {speed}"),
            ));
        }
        let background = background_load(
            &format!("{path}.background_cores"),
            h.background_cores,
            h.cores,
        )?;
        let mut changes: Vec<(SimTime, f64)> = Vec::new();
        for (i, c) in h.background.iter().flatten().enumerate() {
            let at_path = format!("{path}.background.{i}");
            if !c.at_s.is_finite() || c.at_s < 0.0 {
                return Err(Invalid::at(
                    &format!("{at_path}.at_s"),
                    format!("must be a time ≥ 0 in seconds, got {}", c.at_s),
                ));
            }
            let at = SimTime::from_secs_f64(c.at_s);
            if changes.last().is_some_and(|&(last, _)| at <= last) {
                return Err(Invalid::at(
                    &format!("{at_path}.at_s"),
                    format!("{} s is not after the change before it", c.at_s),
                )
                .help("list the changes in time order, each at its own time"));
            }
            let cores = background_load(&format!("{at_path}.cores"), Some(c.cores), h.cores)?;
            changes.push((at, cores));
        }
        out.push(Host {
            name: name.clone(),
            cores: h.cores as u32,
            speed,
            background_cores: background,
            background_changes: changes,
        });
    }
    Ok(out)
}

/// A background load in cores at `path`: ≥ 0 and below the host's cores.
fn background_load(path: &str, value: Option<f64>, cores: i64) -> Result<f64, Invalid> {
    let b = value.unwrap_or(0.0);
    if !b.is_finite() || b < 0.0 || b >= cores as f64 {
        return Err(Invalid::at(
            path,
            format!("must be a number ≥ 0 and below the host's {cores} cores, got {b}"),
        )
        .help("the cores other work keeps busy; at the host's cores nothing else would run"));
    }
    Ok(b)
}

/// Resolves a service's `host` at `path`: one host's name, or a non-empty list of distinct
/// hosts its instances are spread over. Empty when it has none.
pub fn placement(
    path: &str,
    value: Option<&toml::Value>,
    hosts: &[Host],
) -> Result<Vec<HostId>, Invalid> {
    match value {
        None => Ok(Vec::new()),
        Some(toml::Value::String(name)) => {
            Ok(place(path, Some(name), hosts)?.into_iter().collect())
        }
        Some(toml::Value::Array(list)) if !list.is_empty() => {
            let mut out: Vec<HostId> = Vec::with_capacity(list.len());
            for (i, v) in list.iter().enumerate() {
                let at = format!("{path}.{i}");
                let toml::Value::String(name) = v else {
                    return Err(Invalid::at(
                        &at,
                        format!("expected a host's name, got {}", v.type_str()),
                    ));
                };
                let id = place(&at, Some(name), hosts)?.expect("a name was given");
                if out.contains(&id) {
                    return Err(Invalid::at(&at, format!("host `{name}` is listed twice"))
                        .help("list each host once; instances are spread evenly over the list"));
                }
                out.push(id);
            }
            Ok(out)
        }
        Some(other) => Err(Invalid::at(
            path,
            format!(
                "expected a host's name or a non-empty list of them, got {}",
                match other {
                    toml::Value::Array(_) => "an empty list",
                    v => v.type_str(),
                }
            ),
        )
        .help("host = \"node-a\", or host = [\"node-a\", \"node-b\"] to spread the instances")),
    }
}

/// Resolves a `host = "NAME"` field at `path`.
pub fn place(path: &str, name: Option<&str>, hosts: &[Host]) -> Result<Option<HostId>, Invalid> {
    let Some(name) = name else {
        return Ok(None);
    };
    match hosts.iter().position(|h| h.name == name) {
        Some(id) => Ok(Some(id)),
        None => {
            let hint = did_you_mean(name, hosts.iter().map(|h| h.name.as_str()))
                .map(|b| format!("did you mean `{b}`? "))
                .unwrap_or_default();
            Err(
                Invalid::at(path, format!("unknown host `{name}`")).help(if hosts.is_empty() {
                    format!("declare it: [hosts.{name}] with cores = N")
                } else {
                    format!(
                        "{hint}hosts: {}",
                        hosts
                            .iter()
                            .map(|h| h.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }),
            )
        }
    }
}

/// Extra CPU a call costs after the worker that takes it sat idle: caches cooled, a sleeping
/// process had to be woken. `extra · (1 − e^(−idle / tau))` on top of the call's `cpu_ms` (the
/// cost of a warm call): a busy worker handed the next call at once pays nothing, one idle far
/// longer than `tau` pays all of `extra`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CpuAfterIdle {
    /// The extra CPU after a long idle, ns.
    pub extra_ns: f64,
    /// The time constant of cooling, ns.
    pub tau_ns: f64,
}

impl CpuAfterIdle {
    /// The extra CPU of a call whose worker sat idle for `idle`.
    pub fn extra(&self, idle: SimTime) -> SimTime {
        let cold = -(-(idle.0 as f64) / self.tau_ns).exp_m1();
        SimTime::from_nanos_f64(self.extra_ns * cold)
    }
}

/// Validates `cpu_after_idle` of the table at `path` (`gateway` or `services.NAME`): it adds to
/// CPU work, so the table needs a host and CPU work (`has_cpu`) to add to.
pub fn cpu_after_idle(
    raw: Option<&super::raw::RawCpuAfterIdle>,
    path: &str,
    placed: bool,
    has_cpu: bool,
) -> Result<Option<CpuAfterIdle>, Invalid> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let at = format!("{path}.cpu_after_idle");
    if !placed || !has_cpu {
        return Err(
            Invalid::at(&at, "adds to CPU work, and there is none here").help(format!(
                "it needs {path} on a host (host = \"NAME\") and cpu_ms on {}",
                if path == "gateway" {
                    "the gateway"
                } else {
                    "its endpoints"
                }
            )),
        );
    }
    if !raw.extra_ms.is_finite() || raw.extra_ms < 0.0 {
        return Err(Invalid::at(
            &format!("{at}.extra_ms"),
            format!("must be a number of ms ≥ 0, got {}", raw.extra_ms),
        )
        .help("the extra CPU of a call after its worker idled long (cpu_ms is a warm call's)"));
    }
    if !raw.tau_ms.is_finite() || raw.tau_ms <= 0.0 {
        return Err(Invalid::at(
            &format!("{at}.tau_ms"),
            format!("must be a number of ms > 0, got {}", raw.tau_ms),
        )
        .help("how fast an idle worker cools: after tau_ms, 63% of extra_ms"));
    }
    Ok(Some(CpuAfterIdle {
        extra_ns: raw.extra_ms * 1e6,
        tau_ns: raw.tau_ms * 1e6,
    }))
}
