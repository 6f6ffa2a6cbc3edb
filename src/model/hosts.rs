//! `[hosts.NAME]`: the machines services run on, whose cores the calls' CPU work shares.
//!
//! Validated here, once: a host's cores, speed and background load, and a service's placement
//! (`host = "NAME"`), resolved to a [`HostId`].

use super::diagnostic::{Invalid, did_you_mean};
use super::raw::RawHost;
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
    /// their processor-sharing share like any call's work.
    pub background_cores: f64,
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
        let background = h.background_cores.unwrap_or(0.0);
        if !background.is_finite() || background < 0.0 || background >= h.cores as f64 {
            return Err(Invalid::at(
                &format!("{path}.background_cores"),
                format!(
                    "must be a number ≥ 0 and below the host's {} cores, got {background}",
                    h.cores
                ),
            )
            .help("the cores other work keeps busy; at the host's cores nothing else would run"));
        }
        out.push(Host {
            name: name.clone(),
            cores: h.cores as u32,
            speed,
            background_cores: background,
        });
    }
    Ok(out)
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
