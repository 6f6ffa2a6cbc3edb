//! Meaning checks: raw model → typed [`Model`]. Names are resolved to ids, ranges and units are
//! checked, and every error says what is allowed. Each kind of table is checked beside its type
//! (`services`, `workload`, `links`, `prices`, `policy`, `admission`, `autoscale`, `faults`,
//! `pattern`, `hosts`; distributions in `dist::parse`); this module runs them in order and
//! assembles the model.

use super::check::{count, optional_count, positive};
use super::diagnostic::Invalid;
use super::dist::{Dist, duration_value};
use super::links::links;
use super::prices::cost;
use super::raw::RawModel;
use super::services::{check_cycles, cpu_time, resolve_calls, services_and_endpoints};
use super::workload::{routes, workload};
use super::{
    LoadBalancer, Model, Service, Source, SweepTable, admission, deployments, faults, operations,
    policy, raw,
};
use crate::engine::SimTime;
use crate::model::files::DataFiles;

/// Validates `raw` into a [`Model`].
pub fn validate(
    raw: RawModel,
    default_name: String,
    source: Source,
    files: DataFiles<'_>,
) -> Result<Model, Invalid> {
    let name = validate_name(raw.name.unwrap_or(default_name))?;
    let sim = &raw.simulation;
    let duration_s = positive(
        "simulation.duration_s",
        sim.duration_s,
        "a number of seconds > 0",
    )?;
    let warmup_s = sim.warmup_s;
    if !warmup_s.is_finite() || warmup_s < 0.0 {
        return Err(Invalid::at(
            "simulation.warmup_s",
            format!("must be ≥ 0, got {warmup_s}"),
        ));
    }
    if warmup_s >= duration_s {
        return Err(Invalid::at(
            "simulation.warmup_s",
            format!("warm-up ({warmup_s} s) must be shorter than duration_s ({duration_s} s)"),
        )
        .help("statistics are collected between warmup_s and duration_s"));
    }
    let duration = SimTime::from_secs_f64(duration_s);
    if duration >= SimTime(u64::MAX / 2) {
        return Err(Invalid::at(
            "simulation.duration_s",
            "is too long: simulated time is limited to about 290 years",
        ));
    }

    let hosts = super::hosts::hosts(&raw.hosts)?;
    let gateway_host = super::hosts::place("gateway.host", raw.gateway.host.as_deref(), &hosts)?;
    let gateway_cpu = cpu_time(
        raw.gateway.cpu_ms.as_ref(),
        "gateway",
        gateway_host.is_some(),
        files,
    )?;
    let mut services = vec![Service {
        name: "gateway".into(),
        instances: 1,
        workers: count("gateway.workers", raw.gateway.workers, 1)?,
        queue_capacity: optional_count("gateway.queue_capacity", raw.gateway.queue_capacity)?,
        load_balancer: LoadBalancer::RoundRobin,
        blocking: false,
        max_concurrency: raw
            .gateway
            .max_concurrency
            .map(|v| count("gateway.max_concurrency", v, 1))
            .transpose()?,
        rate_limit: raw
            .gateway
            .rate_limit
            .as_ref()
            .map(|r| admission::rate_limit(r, "gateway.rate_limit"))
            .transpose()?,
        autoscale: None,
        hosts: gateway_host.into_iter().collect(),
        endpoints: Vec::new(),
        health_check: None,
        discovery_refresh: None,
        outlier_detection: None,
        store: None,
        cpu_after_idle: super::hosts::cpu_after_idle(
            raw.gateway.cpu_after_idle.as_ref(),
            "gateway",
            gateway_host.is_some(),
            gateway_cpu.is_some(),
        )?,
    }];
    let gateway_time = match &raw.gateway.service_ms {
        Some(v) => duration_value(v, "gateway.service_ms", files)?,
        None => Dist::Constant { ns: 0 },
    };

    let endpoints = services_and_endpoints(&raw.services, &mut services, &hosts, files)?;
    let mut endpoints = resolve_calls(&raw.services, endpoints)?;
    check_cycles(&services, &endpoints)?;

    let workload = workload(&raw.workload, files)?;
    let routes = routes(
        &raw.workload.mix,
        &mut services,
        &mut endpoints,
        &gateway_time,
        &gateway_cpu,
    )?;
    let links = links(&raw.links, &services, files)?;
    let clients: Vec<(String, Option<raw::RawClient>)> =
        std::iter::once(("gateway.client".to_string(), raw.gateway.client.clone()))
            .chain(
                raw.services
                    .iter()
                    .map(|(n, s)| (format!("services.{n}.client"), s.client.clone())),
            )
            .collect();
    let edges = policy::edges(&services, &endpoints, &clients)?;
    let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    for (service, detection) in services
        .iter_mut()
        .zip(operations::outlier_detection(&edges, &names, &clients)?)
    {
        service.outlier_detection = detection;
    }
    let faults = faults::faults(&raw.faults, &services, &links)?;
    let deployments = deployments::deployments(&raw.deployments, &services, &endpoints, files)?;
    let deadline = raw
        .workload
        .deadline_ms
        .map(|ms| positive("workload.deadline_ms", ms, "milliseconds > 0"))
        .transpose()?
        .map(SimTime::from_millis_f64);
    if raw.workload.propagate_deadline && deadline.is_none() {
        return Err(Invalid::at(
            "workload.propagate_deadline",
            "there is no deadline to propagate",
        )
        .help("set workload.deadline_ms, e.g. deadline_ms = 500"));
    }
    let sweep = raw.sweep.as_ref().map(sweep_table).transpose()?;
    // A link's cost_per_gb alone is enough to price a run.
    let priced = raw.cost.is_some() || raw.links.values().any(|l| l.cost_per_gb.is_some());
    let cost = priced
        .then(|| {
            cost(
                raw.cost.as_ref().unwrap_or(&Default::default()),
                &raw.links,
                &services,
            )
        })
        .transpose()?;

    Ok(Model {
        name,
        source,
        duration,
        warmup: SimTime::from_secs_f64(warmup_s),
        seed: sim.seed,
        workload,
        routes,
        services,
        hosts,
        endpoints,
        links,
        edges,
        deadline,
        propagate_deadline: raw.workload.propagate_deadline,
        faults,
        deployments,
        cost,
        sweep,
    })
}

/// `[sweep]`: each `vary` value is a SPEC string or an array of values (kept as a list SPEC).
/// The specs themselves are checked where they are expanded (`crate::sweep`).
fn sweep_table(raw: &raw::RawSweep) -> Result<SweepTable, Invalid> {
    let mut vary = Vec::new();
    for (path, value) in &raw.vary {
        let at = format!("sweep.vary.{path}");
        let spec = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Array(items) => {
                let mut parts = Vec::new();
                for item in items {
                    match item {
                        toml::Value::Integer(i) => parts.push(i.to_string()),
                        toml::Value::Float(x) => parts.push(x.to_string()),
                        toml::Value::String(s) => parts.push(s.clone()),
                        toml::Value::Boolean(b) => parts.push(b.to_string()),
                        other => {
                            return Err(Invalid::at(
                                &at,
                                format!("cannot vary over a {}", other.type_str()),
                            ));
                        }
                    }
                }
                parts.join(",")
            }
            other => {
                return Err(Invalid::at(
                    &at,
                    format!(
                        "expected a SPEC string or an array, got {}",
                        other.type_str()
                    ),
                )
                .help("e.g. \"100:900:100\", \"log:10:1000:12\" or [0.5, 5, 50]"));
            }
        };
        vary.push((path.clone(), spec));
    }
    let reps = match raw.reps {
        None => None,
        Some(r) => Some(count("sweep.reps", r, 1)?),
    };
    Ok(SweepTable { vary, reps })
}

fn validate_name(name: String) -> Result<String, Invalid> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !name.starts_with('.');
    if !ok {
        return Err(
            Invalid::at("name", format!("`{name}` cannot name an output folder"))
                .help("use letters, digits, '-', '_' and '.', e.g. name = \"gateway-user-order\""),
        );
    }
    Ok(name)
}
