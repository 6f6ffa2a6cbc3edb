//! The workload: open arrivals or closed users, and the routes of its mix.

use super::check::{arrival_rate, count, positive};
use super::diagnostic::{Invalid, did_you_mean};
use super::dist::{Dist, duration_value};
use super::raw::RawWorkloadKind;
use super::{Endpoint, GATEWAY, Route, Service, Workload, pattern, raw};
use crate::model::files::DataFiles;

/// Most routes in a workload mix (a request records its route in 16 bits).
pub const MAX_ROUTES: usize = 10_000;

pub(super) fn workload(raw: &raw::RawWorkload, files: DataFiles<'_>) -> Result<Workload, Invalid> {
    match raw.kind {
        RawWorkloadKind::Open => {
            if raw.users.is_some() || raw.think_ms.is_some() {
                let field = if raw.users.is_some() {
                    "users"
                } else {
                    "think_ms"
                };
                return Err(Invalid::at(
                    &format!("workload.{field}"),
                    "applies only to type = \"closed\" workloads",
                )
                .help("an open workload is set by rate_per_s alone"));
            }
            let rate = raw.rate_per_s.ok_or_else(|| {
                Invalid::at("workload", "an open workload needs rate_per_s")
                    .help("e.g. rate_per_s = 400")
            })?;
            Ok(Workload::Open {
                rate_per_s: arrival_rate(
                    "workload.rate_per_s",
                    positive(
                        "workload.rate_per_s",
                        rate,
                        "a rate in requests per second > 0",
                    )?,
                )?,
                pattern: raw
                    .pattern
                    .as_ref()
                    .map(|p| pattern::pattern(p, files))
                    .transpose()?,
            })
        }
        RawWorkloadKind::Closed => {
            if raw.pattern.is_some() {
                return Err(Invalid::at(
                    "workload.pattern",
                    "applies only to type = \"open\" workloads",
                )
                .help("a closed workload's rate follows from users, think_ms and response times"));
            }
            if raw.rate_per_s.is_some() {
                return Err(Invalid::at(
                    "workload.rate_per_s",
                    "applies only to type = \"open\" workloads",
                )
                .help("a closed workload is set by users and think_ms"));
            }
            let users = raw.users.ok_or_else(|| {
                Invalid::at("workload", "a closed workload needs users")
                    .help("e.g. users = 50, think_ms = 100")
            })?;
            let think = match &raw.think_ms {
                Some(v) => duration_value(v, "workload.think_ms", files)?,
                None => Dist::Constant { ns: 0 },
            };
            Ok(Workload::Closed {
                users: count("workload.users", users, 1)?,
                think,
            })
        }
    }
}

/// Builds one route per mix entry, each with its own gateway endpoint.
pub(super) fn routes(
    mix: &[raw::RawMix],
    services: &mut [Service],
    endpoints: &mut Vec<Endpoint>,
    gateway_time: &Dist,
    gateway_cpu: &Option<Dist>,
) -> Result<Vec<Route>, Invalid> {
    if mix.len() > MAX_ROUTES {
        return Err(Invalid::at(
            "workload.mix",
            format!("{} routes; at most {MAX_ROUTES} are allowed", mix.len()),
        ));
    }
    if mix.is_empty() {
        return Err(
            Invalid::at("workload", "the workload has no mix: clients call nothing")
                .help("add [[workload.mix]] entries with route = \"service.endpoint\" and weight"),
        );
    }
    let names: Vec<String> = endpoints.iter().map(|e| e.name.clone()).collect();
    let total: f64 = mix.iter().map(|m| m.weight).sum();
    let mut routes: Vec<Route> = Vec::new();
    for (i, m) in mix.iter().enumerate() {
        let path = format!("workload.mix.{i}");
        if !m.weight.is_finite() || m.weight < 0.0 {
            return Err(Invalid::at(
                &format!("{path}.weight"),
                format!("must be a finite number ≥ 0, got {}", m.weight),
            ));
        }
        let target = match names.iter().position(|n| *n == m.route) {
            Some(t) => t,
            None => {
                let hint = did_you_mean(&m.route, names.iter().map(String::as_str))
                    .map(|b| format!("did you mean `{b}`? "))
                    .unwrap_or_default();
                return Err(Invalid::at(
                    &format!("{path}.route"),
                    format!("unknown endpoint `{}`", m.route),
                )
                .help(format!("{hint}endpoints: {}", names.join(", "))));
            }
        };
        if routes.iter().any(|r| r.target == target) {
            return Err(Invalid::at(
                &format!("{path}.route"),
                format!("`{}` is listed twice in the mix", m.route),
            )
            .help("list each route once and add up the weights"));
        }
        let gateway_endpoint = endpoints.len();
        endpoints.push(Endpoint {
            service: GATEWAY,
            name: m.route.clone(),
            service_time: gateway_time.clone(),
            request_bytes: 0,
            response_bytes: 0,
            stages: vec![vec![super::Downstream::once(target)]],
            after_time: None,
            error_probability: 0.0,
            cpu_time: gateway_cpu.clone(),
        });
        services[GATEWAY].endpoints.push(gateway_endpoint);
        routes.push(Route {
            name: m.route.clone(),
            gateway_endpoint,
            target,
            probability: m.weight / total,
        });
    }
    if total.is_nan() || total <= 0.0 {
        return Err(
            Invalid::at("workload.mix", "the mix weights add up to zero")
                .help("give at least one route a weight > 0"),
        );
    }
    Ok(routes)
}
