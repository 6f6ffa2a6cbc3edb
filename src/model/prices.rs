//! `[cost]`: prices per instance-hour and per GB, resolved to services and links.

use super::diagnostic::{Invalid, did_you_mean};
use super::{Service, raw};
use indexmap::IndexMap;

/// `[cost]`: a price per instance-hour per service, a price per GB per link.
pub(super) fn cost(
    raw: &raw::RawCost,
    links: &IndexMap<String, raw::RawLink>,
    services: &[Service],
) -> Result<super::Cost, Invalid> {
    let price = |path: &str, p: f64| {
        if !p.is_finite() || p < 0.0 {
            Err(Invalid::at(path, format!("must be a price ≥ 0, got {p}")))
        } else {
            Ok(p)
        }
    };
    let default = price("cost.default_instance_hour", raw.default_instance_hour)?;
    let mut instance_hour = vec![default; services.len()];
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    for (name, p) in &raw.instance_hour {
        let path = format!("cost.instance_hour.{name}");
        let Some(i) = names.iter().position(|n| n == name) else {
            let hint = did_you_mean(name, names.iter().copied())
                .map(|b| format!("did you mean `{b}`? "))
                .unwrap_or_default();
            return Err(Invalid::at(&path, format!("unknown service `{name}`"))
                .help(format!("{hint}services: {}", names.join(", "))));
        };
        instance_hour[i] = price(&path, *p)?;
    }
    let per_gb_default = price("cost.per_gb", raw.per_gb)?;
    let per_gb = links
        .iter()
        .map(|(name, l)| match l.cost_per_gb {
            Some(p) => price(&format!("links.{name}.cost_per_gb"), p),
            None => Ok(per_gb_default),
        })
        .collect::<Result<_, _>>()?;
    Ok(super::Cost {
        instance_hour,
        per_gb,
    })
}
