//! Meaning checks: raw model → typed [`Model`]. Names are resolved to ids, ranges and units are
//! checked, and every error says what is allowed.

use super::diagnostic::{Invalid, did_you_mean};
use super::dist::Dist;
use super::raw::words::DISTRIBUTIONS;
use super::raw::{self, RawModel, RawWorkloadKind};
use super::resilience;
use super::{
    Endpoint, EndpointId, GATEWAY, Link, LoadBalancer, Model, Route, Service, Source, SweepTable,
    Workload,
};
use crate::engine::SimTime;
use indexmap::IndexMap;
use std::path::Path;

/// Propagation speed of light in optical fibre, km per millisecond (200,000 km/s).
pub const FIBRE_KM_PER_MS: f64 = 200.0;

/// Most parallel calls in one stage (a call tracks its pending calls in 16 bits).
pub const MAX_CALLS_PER_STAGE: usize = 10_000;
/// Most routes in a workload mix (a request records its route in 16 bits).
pub const MAX_ROUTES: usize = 10_000;

/// Validates `raw` into a [`Model`].
pub fn validate(
    raw: RawModel,
    default_name: String,
    source: Source,
    base_dir: &Path,
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
        gateway_host,
        base_dir,
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
            .map(|r| resilience::rate_limit(r, "gateway.rate_limit"))
            .transpose()?,
        autoscale: None,
        host: gateway_host,
        endpoints: Vec::new(),
    }];
    let gateway_time = match &raw.gateway.service_ms {
        Some(v) => duration_value(v, "gateway.service_ms", base_dir)?,
        None => Dist::Constant { ns: 0 },
    };

    let endpoints = services_and_endpoints(&raw.services, &mut services, &hosts, base_dir)?;
    let mut endpoints = resolve_calls(&raw.services, endpoints)?;
    check_cycles(&services, &endpoints)?;

    let workload = workload(&raw.workload, base_dir)?;
    let routes = routes(
        &raw.workload.mix,
        &mut services,
        &mut endpoints,
        &gateway_time,
        &gateway_cpu,
    )?;
    let links = links(&raw.links, &services, base_dir)?;
    let clients: Vec<(String, Option<raw::RawClient>)> =
        std::iter::once(("gateway.client".to_string(), raw.gateway.client.clone()))
            .chain(
                raw.services
                    .iter()
                    .map(|(n, s)| (format!("services.{n}.client"), s.client.clone())),
            )
            .collect();
    let edges = resilience::edges(&services, &endpoints, &clients)?;
    let faults = resilience::faults(&raw.faults, &services, &links)?;
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

/// Endpoint definitions before their calls are resolved.
struct PendingEndpoint {
    endpoint: Endpoint,
    calls: Vec<Vec<toml::Value>>,
    path: String,
}

fn services_and_endpoints(
    raw: &IndexMap<String, raw::RawService>,
    services: &mut Vec<Service>,
    hosts: &[super::Host],
    base_dir: &Path,
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
                .map(|r| resilience::rate_limit(r, &format!("{path}.rate_limit")))
                .transpose()?,
            autoscale: None,
            host: super::hosts::place(&format!("{path}.host"), svc.host.as_deref(), hosts)?,
            endpoints: Vec::new(),
        };
        if let Some(a) = &svc.autoscale {
            service.autoscale = Some(resilience::autoscale(
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
            service.endpoints.push(endpoints.len());
            endpoints.push(PendingEndpoint {
                endpoint: Endpoint {
                    service: id,
                    name: format!("{name}.{ep_name}"),
                    service_time: duration_value(
                        &ep.service_ms,
                        &format!("{ep_path}.service_ms"),
                        base_dir,
                    )?,
                    request_bytes: bytes(&format!("{ep_path}.request_bytes"), ep.request_bytes)?,
                    response_bytes: bytes(&format!("{ep_path}.response_bytes"), ep.response_bytes)?,
                    stages: Vec::new(),
                    cpu_time: cpu_time(ep.cpu_ms.as_ref(), &ep_path, service.host, base_dir)?,
                    after_time: ep
                        .after_ms
                        .as_ref()
                        .map(|v| duration_value(v, &format!("{ep_path}.after_ms"), base_dir))
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
        services.push(service);
    }
    Ok(endpoints)
}

fn resolve_calls(
    raw: &IndexMap<String, raw::RawService>,
    pending: Vec<PendingEndpoint>,
) -> Result<Vec<Endpoint>, Invalid> {
    let names: Vec<String> = pending.iter().map(|p| p.endpoint.name.clone()).collect();
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
            let resolve = |name: &str, at: &str| resolve_endpoint(name, &names, raw, at);
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

/// Resolves `service.endpoint` to an endpoint id, explaining what is wrong otherwise.
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
fn check_cycles(services: &[Service], endpoints: &[Endpoint]) -> Result<(), Invalid> {
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

fn workload(raw: &raw::RawWorkload, base_dir: &Path) -> Result<Workload, Invalid> {
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
                rate_per_s: positive(
                    "workload.rate_per_s",
                    rate,
                    "a rate in requests per second > 0",
                )?,
                pattern: raw
                    .pattern
                    .as_ref()
                    .map(|p| resilience::pattern(p, base_dir))
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
                Some(v) => duration_value(v, "workload.think_ms", base_dir)?,
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
fn routes(
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

fn links(
    raw: &IndexMap<String, raw::RawLink>,
    services: &[Service],
    base_dir: &Path,
) -> Result<Vec<Link>, Invalid> {
    let nodes: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
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
            ends[i] = nodes.iter().position(|n| n == node).ok_or_else(|| {
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
        if let Some(other) = links
            .iter()
            .find(|o| o.ends == ends || o.ends == [ends[1], ends[0]])
        {
            return Err(Invalid::at(
                &format!("{path}.between"),
                format!("`{}` already joins these nodes", other.name),
            ));
        }
        let latency = match (&l.latency_ms, l.distance_km) {
            (Some(_), Some(_)) => {
                return Err(Invalid::at(
                    &format!("{path}.distance_km"),
                    "give latency_ms or distance_km, not both",
                ));
            }
            (Some(v), None) => duration_value(v, &format!("{path}.latency_ms"), base_dir)?,
            (None, Some(km)) => {
                let km = non_negative(&format!("{path}.distance_km"), km)?;
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

/// `[cost]`: a price per instance-hour per service, a price per GB per link.
fn cost(
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

fn probability(path: &str, p: f64) -> Result<f64, Invalid> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Invalid::at(
            path,
            format!("must be a probability in [0, 1], got {p}"),
        ));
    }
    Ok(p)
}

fn check_identifier(path: &str, name: &str, what: &str) -> Result<(), Invalid> {
    if name.is_empty() || name.contains('.') || name.chars().any(char::is_whitespace) {
        return Err(Invalid::at(path, format!("`{name}` cannot name a {what}"))
            .help("names may not be empty or contain dots or spaces"));
    }
    Ok(())
}

fn count(path: &str, value: i64, min: i64) -> Result<u32, Invalid> {
    if value < min || value > u32::MAX as i64 {
        return Err(Invalid::at(
            path,
            format!("must be a whole number ≥ {min}, got {value}"),
        ));
    }
    Ok(value as u32)
}

fn optional_count(path: &str, value: Option<i64>) -> Result<Option<u32>, Invalid> {
    value.map(|v| count(path, v, 0)).transpose()
}

fn bytes(path: &str, value: i64) -> Result<u64, Invalid> {
    if value < 0 {
        return Err(Invalid::at(
            path,
            format!("must be a number of bytes ≥ 0, got {value}"),
        ));
    }
    Ok(value as u64)
}

fn positive(path: &str, value: f64, allowed: &str) -> Result<f64, Invalid> {
    if !value.is_finite() || value <= 0.0 {
        return Err(Invalid::at(path, format!("must be {allowed}, got {value}")));
    }
    Ok(value)
}

fn non_negative(path: &str, value: f64) -> Result<f64, Invalid> {
    if !value.is_finite() || value < 0.0 {
        return Err(Invalid::at(
            path,
            format!("must be a finite number ≥ 0, got {value}"),
        ));
    }
    Ok(value)
}

/// `cpu_ms` of the table at `path`: CPU work needs a host to run on.
fn cpu_time(
    value: Option<&toml::Value>,
    path: &str,
    host: Option<super::HostId>,
    base_dir: &Path,
) -> Result<Option<Dist>, Invalid> {
    let Some(value) = value else {
        return Ok(None);
    };
    let at = format!("{path}.cpu_ms");
    if host.is_none() {
        let service = path.split(".endpoints.").next().unwrap_or(path);
        return Err(Invalid::at(
            &at,
            "CPU work needs a host whose cores it shares",
        )
        .help(format!(
            "declare [hosts.NAME] with cores = N and set {service}.host = \"NAME\"; without hosts, put the time in service_ms"
        )));
    }
    duration_value(value, &at, base_dir).map(Some)
}

/// A duration field: a number of milliseconds, or a distribution table.
fn duration_value(value: &toml::Value, path: &str, base_dir: &Path) -> Result<Dist, Invalid> {
    match value {
        toml::Value::Integer(i) => Dist::constant_ms(*i as f64).map_err(|m| Invalid::at(path, m)),
        toml::Value::Float(x) => Dist::constant_ms(*x).map_err(|m| Invalid::at(path, m)),
        toml::Value::Table(t) => distribution(t, path, base_dir),
        other => Err(Invalid::at(
            path,
            format!(
                "expected milliseconds or a distribution table, got {}",
                other.type_str()
            ),
        )
        .help("e.g. 3, or { dist = \"exponential\", mean_ms = 3 }")),
    }
}

fn distribution(t: &toml::Table, path: &str, base_dir: &Path) -> Result<Dist, Invalid> {
    let kinds: Vec<&str> = DISTRIBUTIONS.iter().map(|d| d.0).collect();
    let kind = match t.get("dist") {
        Some(toml::Value::String(s)) => s.as_str(),
        Some(_) => {
            return Err(Invalid::at(&format!("{path}.dist"), "must be a string")
                .help(format!("one of: {}", kinds.join(", "))));
        }
        None => {
            return Err(Invalid::at(path, "a distribution table needs `dist`")
                .help(format!("one of: {}", kinds.join(", "))));
        }
    };
    let Some((_, required, optional)) = DISTRIBUTIONS.iter().find(|d| d.0 == kind) else {
        let hint = did_you_mean(kind, kinds.iter().copied())
            .map(|b| format!("did you mean `{b}`? "))
            .unwrap_or_default();
        return Err(Invalid::at(
            &format!("{path}.dist"),
            format!("unknown distribution `{kind}`"),
        )
        .help(format!("{hint}one of: {}", kinds.join(", "))));
    };
    let allowed: Vec<&str> = required.iter().chain(optional.iter()).copied().collect();
    for key in t.keys() {
        if key != "dist" && !allowed.contains(&key.as_str()) {
            let hint = did_you_mean(key, allowed.iter().copied())
                .map(|b| format!("did you mean `{b}`? "))
                .unwrap_or_default();
            return Err(Invalid::at(
                &format!("{path}.{key}"),
                format!("`{key}` is not a parameter of {kind}"),
            )
            .help(format!("{hint}{kind} takes: {}", allowed.join(", "))));
        }
    }
    let num = |key: &str| -> Result<f64, Invalid> {
        match t.get(key) {
            Some(toml::Value::Integer(i)) => Ok(*i as f64),
            Some(toml::Value::Float(x)) => Ok(*x),
            Some(other) => Err(Invalid::at(
                &format!("{path}.{key}"),
                format!("must be a number, got {}", other.type_str()),
            )),
            None => Err(Invalid::at(path, format!("{kind} needs `{key}`"))
                .help(format!("{kind} takes: {}", allowed.join(", ")))),
        }
    };
    let at = |r: Result<Dist, String>| r.map_err(|m| Invalid::at(path, format!("{kind}: {m}")));
    match kind {
        "constant" => at(Dist::constant_ms(num("value_ms")?)),
        "exponential" => at(Dist::exponential_ms(num("mean_ms")?)),
        "uniform" => at(Dist::uniform_ms(num("min_ms")?, num("max_ms")?)),
        "normal" => at(Dist::normal_ms(num("mean_ms")?, num("sd_ms")?)),
        "lognormal" => at(Dist::lognormal_ms(num("mean_ms")?, num("cv")?)),
        "gamma" => at(Dist::gamma_ms(num("mean_ms")?, num("cv")?)),
        "weibull" => at(Dist::weibull_ms(num("shape")?, num("scale_ms")?)),
        "pareto" => at(Dist::pareto_ms(num("shape")?, num("scale_ms")?)),
        _ => empirical(t, path, base_dir),
    }
}

fn empirical(t: &toml::Table, path: &str, base_dir: &Path) -> Result<Dist, Invalid> {
    let samples = match (t.get("samples_ms"), t.get("file")) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(Invalid::at(path, "empirical needs exactly one of `samples_ms` or `file`")
                .help("samples_ms = [1.2, 3.4, …] or file = \"latencies.csv\" (one column of milliseconds)"));
        }
        (Some(toml::Value::Array(a)), None) => {
            let mut xs = Vec::with_capacity(a.len());
            for (i, v) in a.iter().enumerate() {
                match v {
                    toml::Value::Integer(n) => xs.push(*n as f64),
                    toml::Value::Float(x) => xs.push(*x),
                    other => {
                        return Err(Invalid::at(
                            &format!("{path}.samples_ms.{i}"),
                            format!("must be a number, got {}", other.type_str()),
                        ));
                    }
                }
            }
            xs
        }
        (Some(_), None) => {
            return Err(Invalid::at(
                &format!("{path}.samples_ms"),
                "must be an array of milliseconds",
            ));
        }
        (None, Some(toml::Value::String(f))) => {
            read_samples(&base_dir.join(f)).map_err(|m| Invalid::at(&format!("{path}.file"), m))?
        }
        (None, Some(_)) => {
            return Err(Invalid::at(
                &format!("{path}.file"),
                "must be a file name (a string)",
            ));
        }
    };
    Dist::empirical_ms(&samples).map_err(|m| Invalid::at(path, format!("empirical: {m}")))
}

/// Reads a column of measured milliseconds: the first field of each line; a header line is allowed.
fn read_samples(file: &Path) -> Result<Vec<f64>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read `{}`: {e}", file.display()))?;
    let mut xs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let field = line.split(',').next().unwrap_or("").trim();
        if field.is_empty() {
            continue;
        }
        match field.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => xs.push(x),
            Ok(x) => {
                return Err(format!(
                    "{}:{}: {x} is not a duration ≥ 0",
                    file.display(),
                    i + 1
                ));
            }
            Err(_) if i == 0 => {} // a header
            Err(_) => {
                return Err(format!(
                    "{}:{}: `{field}` is not a number of milliseconds",
                    file.display(),
                    i + 1
                ));
            }
        }
    }
    if xs.is_empty() {
        return Err(format!("`{}` holds no samples", file.display()));
    }
    Ok(xs)
}
