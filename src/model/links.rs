//! Network links between nodes: latency (or distance), bandwidth, loss, retransmission.

use super::check::{non_negative_number, positive};
use super::diagnostic::{Invalid, did_you_mean};
use super::dist::{Dist, duration_value};
use super::{Link, Service, raw};
use crate::engine::SimTime;
use crate::model::files::DataFiles;
use indexmap::IndexMap;
use std::collections::HashMap;

/// Propagation speed of light in optical fibre, km per millisecond (200,000 km/s).
pub const FIBRE_KM_PER_MS: f64 = 200.0;

pub(super) fn links(
    raw: &IndexMap<String, raw::RawLink>,
    services: &[Service],
    files: DataFiles<'_>,
) -> Result<Vec<Link>, Invalid> {
    let nodes: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    let ids: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .rev()
        .map(|(i, n)| (*n, i))
        .collect();
    // Each pair of nodes joined so far (smaller id first) and the link that joins it.
    let mut joined: HashMap<[usize; 2], usize> = HashMap::new();
    let mut links: Vec<Link> = Vec::new();
    for (name, l) in raw {
        let path = format!("links.{name}");
        if l.between.len() != 2 {
            return Err(Invalid::at(
                &format!("{path}.between"),
                format!("names {} nodes; a link joins exactly two", l.between.len()),
            )
            .help("e.g. between = [\"gateway\", \"user\"]"));
        }
        let mut ends = [0usize; 2];
        for (i, node) in l.between.iter().enumerate() {
            ends[i] = ids.get(node.as_str()).copied().ok_or_else(|| {
                let hint = did_you_mean(node, nodes.iter().copied())
                    .map(|b| format!("did you mean `{b}`? "))
                    .unwrap_or_default();
                Invalid::at(
                    &format!("{path}.between.{i}"),
                    format!("unknown node `{node}`"),
                )
                .help(format!("{hint}nodes: {}", nodes.join(", ")))
            })?;
        }
        if ends[0] == ends[1] {
            return Err(Invalid::at(
                &format!("{path}.between"),
                "a link must join two different nodes",
            ));
        }
        let pair = [ends[0].min(ends[1]), ends[0].max(ends[1])];
        if let Some(&other) = joined.get(&pair) {
            return Err(Invalid::at(
                &format!("{path}.between"),
                format!("`{}` already joins these nodes", links[other].name),
            ));
        }
        joined.insert(pair, links.len());
        let latency = match (&l.latency_ms, l.distance_km) {
            (Some(_), Some(_)) => {
                return Err(Invalid::at(
                    &format!("{path}.distance_km"),
                    "give latency_ms or distance_km, not both",
                ));
            }
            (Some(v), None) => duration_value(v, &format!("{path}.latency_ms"), files)?,
            (None, Some(km)) => {
                let km = non_negative_number(&format!("{path}.distance_km"), km)?;
                Dist::Constant {
                    ns: SimTime::from_millis_f64(km / FIBRE_KM_PER_MS).as_nanos(),
                }
            }
            (None, None) => Dist::Constant { ns: 0 },
        };
        let bandwidth_bps = match l.bandwidth_mbps {
            None => None,
            Some(b) => Some(
                positive(
                    &format!("{path}.bandwidth_mbps"),
                    b,
                    "megabits per second > 0 (omit it for unlimited)",
                )? * 1e6,
            ),
        };
        if !(0.0..=1.0).contains(&l.loss) {
            return Err(Invalid::at(
                &format!("{path}.loss"),
                format!("must be a probability in [0, 1], got {}", l.loss),
            ));
        }
        let rto_ms = positive(&format!("{path}.rto_ms"), l.rto_ms, "milliseconds > 0")?;
        links.push(Link {
            name: name.clone(),
            ends,
            latency,
            bandwidth_bps,
            loss: l.loss,
            rto: SimTime::from_millis_f64(rto_ms),
        });
    }
    Ok(links)
}
