//! Services, their endpoints and the calls between them: names resolved to ids, CPU work
//! placed on hosts, call cycles refused.

use super::check::{bytes, check_identifier, count, optional_count, probability};
use super::diagnostic::{Invalid, did_you_mean};
use super::dist::{Dist, duration_value};
use super::{Endpoint, EndpointId, LoadBalancer, Service, admission, autoscale, raw};
use crate::model::files::DataFiles;
use indexmap::IndexMap;
use std::collections::HashMap;

/// Most parallel calls in one stage (a call tracks its pending calls in 16 bits).
pub const MAX_CALLS_PER_STAGE: usize = 10_000;

/// Endpoint definitions before their calls are resolved.
pub(super) struct PendingEndpoint {
    endpoint: Endpoint,
    calls: Vec<Vec<toml::Value>>,
    path: String,
}

pub(super) fn services_and_endpoints(
    raw: &IndexMap<String, raw::RawService>,
    services: &mut Vec<Service>,
    hosts: &[super::Host],
    files: DataFiles<'_>,
) -> Result<Vec<PendingEndpoint>, Invalid> {
    if raw.is_empty() {
        return Err(Invalid::at("services", "the model has no services")
            .help("add at least one [services.NAME] table with endpoints"));
    }
    let mut endpoints = Vec::new();
    for (name, svc) in raw {
        let path = format!("services.{name}");
        check_identifier(&path, name, "service")?;
        if name == "gateway" {
            return Err(
                Invalid::at(&path, "`gateway` is reserved for the [gateway] table")
                    .help("rename the service"),
            );
        }
        let id = services.len();
        let mut service = Service {
            name: name.clone(),
            instances: count(&format!("{path}.instances"), svc.instances, 1)?,
            workers: count(&format!("{path}.workers"), svc.workers, 1)?,
            queue_capacity: optional_count(&format!("{path}.queue_capacity"), svc.queue_capacity)?,
            load_balancer: match svc.load_balancer {
                raw::RawLoadBalancer::RoundRobin => LoadBalancer::RoundRobin,
                raw::RawLoadBalancer::Random => LoadBalancer::Random,
                raw::RawLoadBalancer::LeastOutstanding => LoadBalancer::LeastOutstanding,
                raw::RawLoadBalancer::PowerOfTwo => LoadBalancer::PowerOfTwo,
            },
            blocking: svc.blocking,
            max_concurrency: svc
                .max_concurrency
                .map(|v| count(&format!("{path}.max_concurrency"), v, 1))
                .transpose()?,
            rate_limit: svc
                .rate_limit
                .as_ref()
                .map(|r| admission::rate_limit(r, &format!("{path}.rate_limit")))
                .transpose()?,
            autoscale: None,
            hosts: super::hosts::placement(&format!("{path}.host"), svc.host.as_ref(), hosts)?,
            endpoints: Vec::new(),
            health_check: svc
                .health_check
                .as_ref()
                .map(|h| super::operations::health_check(h, &format!("{path}.health_check")))
                .transpose()?,
            discovery_refresh: match &svc.discovery {
                Some(d) => super::operations::discovery(d, &format!("{path}.discovery"))?,
                None => None,
            },
            outlier_detection: None,
            cpu_after_idle: None,
            store: svc
                .store
                .as_ref()
                .map(|s| super::stores::store(s, &format!("{path}.store"), files))
                .transpose()?,
        };
        if let Some(a) = &svc.autoscale {
            service.autoscale = Some(autoscale::autoscale(
                a,
                &format!("{path}.autoscale"),
                service.instances,
            )?);
        }
        if svc.endpoints.is_empty() {
            return Err(
                Invalid::at(&path, format!("service `{name}` has no endpoints")).help(format!(
                    "add a [services.{name}.endpoints.NAME] table with service_ms"
                )),
            );
        }
        for (ep_name, ep) in &svc.endpoints {
            let ep_path = format!("{path}.endpoints.{ep_name}");
            check_identifier(&ep_path, ep_name, "endpoint")?;
            let op = super::stores::op(
                ep.op.as_deref(),
                &ep_path,
                service.store.as_ref(),
                !ep.calls.is_empty(),
            )?;
            if let (Some(op), Some(store)) = (op, service.store.as_mut()) {
                store.ops.push((endpoints.len(), op));
            }
            service.endpoints.push(endpoints.len());
            endpoints.push(PendingEndpoint {
                endpoint: Endpoint {
                    service: id,
                    name: format!("{name}.{ep_name}"),
                    service_time: duration_value(
                        &ep.service_ms,
                        &format!("{ep_path}.service_ms"),
                        files,
                    )?,
                    request_bytes: bytes(&format!("{ep_path}.request_bytes"), ep.request_bytes)?,
                    response_bytes: bytes(&format!("{ep_path}.response_bytes"), ep.response_bytes)?,
                    stages: Vec::new(),
                    cpu_time: cpu_time(
                        ep.cpu_ms.as_ref(),
                        &ep_path,
                        !service.hosts.is_empty(),
                        files,
                    )?,
                    after_time: ep
                        .after_ms
                        .as_ref()
                        .map(|v| duration_value(v, &format!("{ep_path}.after_ms"), files))
                        .transpose()?
                        .filter(|d| !d.is_zero()),
                    error_probability: probability(
                        &format!("{ep_path}.error_probability"),
                        ep.error_probability,
                    )?,
                },
                calls: ep.calls.clone(),
                path: ep_path,
            });
        }
        let has_cpu = service
            .endpoints
            .iter()
            .any(|&e| endpoints[e].endpoint.cpu_time.is_some());
        service.cpu_after_idle = super::hosts::cpu_after_idle(
            svc.cpu_after_idle.as_ref(),
            &path,
            !service.hosts.is_empty(),
            has_cpu,
        )?;
        services.push(service);
    }
    Ok(endpoints)
}

pub(super) fn resolve_calls(
    raw: &IndexMap<String, raw::RawService>,
    pending: Vec<PendingEndpoint>,
) -> Result<Vec<Endpoint>, Invalid> {
    let names: Vec<String> = pending.iter().map(|p| p.endpoint.name.clone()).collect();
    let ids: HashMap<&str, EndpointId> = names
        .iter()
        .enumerate()
        .rev()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut out = Vec::with_capacity(pending.len());
    for p in pending {
        let mut endpoint = p.endpoint;
        for (s, stage) in p.calls.iter().enumerate() {
            let path = format!("{}.calls.{s}", p.path);
            if stage.is_empty() {
                return Err(Invalid::at(&path, "a stage of calls is empty").help(
                    "remove the empty [] or list the calls it makes, e.g. [\"user.get_user\"]",
                ));
            }
            let resolve = |name: &str, at: &str| match ids.get(name) {
                Some(&id) => Ok(id),
                None => resolve_endpoint(name, &names, raw, at),
            };
            let mut targets = Vec::with_capacity(stage.len());
            for (c, call) in stage.iter().enumerate() {
                targets.push(super::downstream::parse(
                    call,
                    &format!("{path}.{c}"),
                    &resolve,
                )?);
            }
            let most: u64 = targets.iter().map(|t| u64::from(t.max_calls())).sum();
            if most > MAX_CALLS_PER_STAGE as u64 {
                return Err(Invalid::at(
                    &path,
                    format!(
                        "this stage can make {most} calls at once; at most {MAX_CALLS_PER_STAGE} are allowed"
                    ),
                )
                .help("lower the counts, or split the calls over several stages"));
            }
            endpoint.stages.push(targets);
        }
        out.push(endpoint);
    }
    Ok(out)
}

/// Resolves `service.endpoint` to an endpoint id, explaining what is wrong otherwise (the
/// common case, a known name, is looked up in a map first).
fn resolve_endpoint(
    target: &str,
    names: &[String],
    raw: &IndexMap<String, raw::RawService>,
    path: &str,
) -> Result<EndpointId, Invalid> {
    if let Some(id) = names.iter().position(|n| n == target) {
        return Ok(id);
    }
    let Some((svc, ep)) = target.split_once('.') else {
        return Err(Invalid::at(
            path,
            format!("`{target}` is not of the form service.endpoint"),
        )
        .help(format!("known endpoints: {}", names.join(", "))));
    };
    match raw.get(svc) {
        None => {
            let hint = match did_you_mean(svc, raw.keys().map(String::as_str)) {
                Some(best) => format!("did you mean `{best}`? services: "),
                None => "services: ".into(),
            };
            Err(
                Invalid::at(path, format!("`{target}` calls unknown service `{svc}`"))
                    .help(hint + &raw.keys().cloned().collect::<Vec<_>>().join(", ")),
            )
        }
        Some(s) => {
            let eps: Vec<&str> = s.endpoints.keys().map(String::as_str).collect();
            let hint = match did_you_mean(ep, eps.iter().copied()) {
                Some(best) => format!("did you mean `{svc}.{best}`? "),
                None => String::new(),
            };
            Err(
                Invalid::at(path, format!("service `{svc}` has no endpoint `{ep}`"))
                    .help(format!("{hint}endpoints of `{svc}`: {}", eps.join(", "))),
            )
        }
    }
}

/// Refuses call cycles between services (A calls B calls A): they would recurse without end
/// or deadlock blocking workers.
pub(super) fn check_cycles(services: &[Service], endpoints: &[Endpoint]) -> Result<(), Invalid> {
    let n = services.len();
    let mut calls = vec![Vec::new(); n];
    for e in endpoints {
        for call in e.stages.iter().flatten() {
            let to = endpoints[call.target].service;
            if !calls[e.service].contains(&to) {
                calls[e.service].push(to);
            }
        }
    }
    // Depth-first search with colours: 0 unvisited, 1 on the stack, 2 done.
    fn visit(
        s: usize,
        calls: &[Vec<usize>],
        colour: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        colour[s] = 1;
        stack.push(s);
        for &t in &calls[s] {
            if colour[t] == 1 {
                let start = stack.iter().position(|&x| x == t).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(t);
                return Some(cycle);
            }
            if colour[t] == 0
                && let Some(c) = visit(t, calls, colour, stack)
            {
                return Some(c);
            }
        }
        stack.pop();
        colour[s] = 2;
        None
    }
    let mut colour = vec![0u8; n];
    for s in 0..n {
        if colour[s] == 0
            && let Some(cycle) = visit(s, &calls, &mut colour, &mut Vec::new())
        {
            let names: Vec<&str> = cycle.iter().map(|&i| services[i].name.as_str()).collect();
            // Point at the `calls` of the endpoint that closes the cycle (its last step).
            let (from, to) = (cycle[cycle.len() - 2], cycle[cycle.len() - 1]);
            let closing = endpoints
                .iter()
                .find(|e| {
                    e.service == from
                        && e.stages
                            .iter()
                            .flatten()
                            .any(|call| endpoints[call.target].service == to)
                })
                .map_or(format!("services.{}", names[0]), |e| {
                    let endpoint = e.name.rsplit('.').next().unwrap_or(&e.name);
                    format!(
                        "services.{}.endpoints.{endpoint}.calls",
                        services[from].name
                    )
                });
            return Err(
                Invalid::at(&closing, format!("call cycle: {}", names.join(" → "))).help(
                    "services must call each other without cycles (a call graph that is a DAG)",
                ),
            );
        }
    }
    Ok(())
}

/// `cpu_ms` of the table at `path`: CPU work needs a host to run on.
pub(super) fn cpu_time(
    value: Option<&toml::Value>,
    path: &str,
    placed: bool,
    files: DataFiles<'_>,
) -> Result<Option<Dist>, Invalid> {
    let Some(value) = value else {
        return Ok(None);
    };
    let at = format!("{path}.cpu_ms");
    if !placed {
        let service = path.split(".endpoints.").next().unwrap_or(path);
        return Err(Invalid::at(
            &at,
            "CPU work needs a host whose cores it shares",
        )
        .help(format!(
            "declare [hosts.NAME] with cores = N and set {service}.host = \"NAME\"; without hosts, put the time in service_ms"
        )));
    }
    duration_value(value, &at, files).map(Some)
}
