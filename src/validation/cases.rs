//! The reference cases of `meshsim validate`, each with its closed-form answer.

use super::{Case, Check};
use crate::analysis::{self, queueing};
use crate::model::{self, Model};
use std::path::Path;

fn load(name: &str, text: &str) -> Model {
    model::load_str(text, name, Path::new("."), &[])
        .unwrap_or_else(|e| panic!("built-in validation case `{name}` is invalid: {e}"))
}

/// One station behind a gateway that takes no time and no link: the gateway's response time is
/// the station's.
fn single_station(name: &str, rate: f64, workers: u32, service_ms: &str, duration_s: f64) -> Model {
    load(
        name,
        &format!(
            r#"
name = "validation"
[simulation]
duration_s = {duration_s}
warmup_s = 20
seed = 11
[workload]
type = "open"
rate_per_s = {rate}
[[workload.mix]]
route = "station.serve"
[gateway]
workers = 1
service_ms = 0
[services.station]
workers = {workers}
[services.station.endpoints.serve]
service_ms = {service_ms}
"#
        ),
    )
}

fn mm1(rho: f64, duration_s: f64) -> Case {
    let (mu, lambda) = (1000.0, 1000.0 * rho);
    let model = single_station(
        &format!("M/M/1 rho={rho}"),
        lambda,
        1,
        r#"{ dist = "exponential", mean_ms = 1 }"#,
        duration_s,
    );
    let rate = mu - lambda; // response time is exponential with this rate (per s)
    let mut checks = vec![Check::new("mean response ms", 1000.0 / rate, |r| {
        r.all.latency.mean_ms()
    })];
    for (q, label) in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")] {
        checks.push(Check::new(
            format!("{label} response ms"),
            -1000.0 * (1.0f64 - q).ln() / rate,
            move |r| r.all.latency.quantile_ms(q),
        ));
    }
    Case {
        name: format!("M/M/1 ρ={rho}"),
        model,
        reps: 10,
        checks,
        little: true,
    }
}

fn mmc() -> Case {
    let (c, lambda, s) = (4, 3200.0, 0.001);
    let model = single_station(
        "M/M/4",
        lambda,
        c,
        r#"{ dist = "exponential", mean_ms = 1 }"#,
        500.0,
    );
    let wq = queueing::mmc_wait(c, lambda, s);
    let mut lq = Check::new("mean queue length", lambda * wq, |r| {
        r.services[1].mean_queue_length
    });
    lq.max_half_width = 0.03;
    Case {
        name: "M/M/4 ρ=0.8".into(),
        model,
        reps: 10,
        checks: vec![
            Check::new("mean response ms", 1000.0 * (wq + s), |r| {
                r.all.latency.mean_ms()
            }),
            lq,
        ],
        little: true,
    }
}

/// M/G/1 by Pollaczek–Khinchine: Wq = λ E[S²] / (2 (1 − ρ)).
fn mg1(name: &str, service_ms: &str, cv: f64, rho: f64, duration_s: f64) -> Case {
    let s = 1.0; // ms
    let lambda = rho / s; // per ms
    let wq = lambda * s * s * (1.0 + cv * cv) / (2.0 * (1.0 - rho));
    let model = single_station(name, lambda * 1000.0, 1, service_ms, duration_s);
    Case {
        name: format!("{name} ρ={rho}"),
        model,
        reps: 10,
        checks: vec![Check::new("mean wait ms", wq, |r| {
            r.services[1].mean_wait_ms
        })],
        little: true,
    }
}

fn tandem() -> Case {
    let model = load(
        "tandem",
        r#"
[simulation]
duration_s = 400
warmup_s = 20
seed = 5
[workload]
type = "open"
rate_per_s = 500
[[workload.mix]]
route = "a.step"
[gateway]
service_ms = 0
[services.a.endpoints.step]
service_ms = { dist = "exponential", mean_ms = 1 }
calls = [["b.step"]]
[services.b.endpoints.step]
service_ms = { dist = "exponential", mean_ms = 0.8 }
calls = [["c.step"]]
[services.c.endpoints.step]
service_ms = { dist = "exponential", mean_ms = 0.5 }
"#,
    );
    // Jackson: three independent M/M/1 stations, W = Σ 1/(μᵢ − λ).
    let theory: f64 = [1000.0, 1250.0, 2000.0]
        .iter()
        .map(|mu| 1000.0 / (mu - 500.0))
        .sum();
    Case {
        name: "tandem of three M/M/1".into(),
        model,
        reps: 10,
        checks: vec![Check::new("mean response ms", theory, |r| {
            r.all.latency.mean_ms()
        })],
        little: true,
    }
}

fn builtin() -> Case {
    let model = model::load_builtin(&[]).expect("the built-in model is valid");
    let a = analysis::analyze(&model);
    let theory: f64 = model
        .routes
        .iter()
        .zip(&a.routes)
        .map(|(r, ra)| r.probability * ra.mean_response_ms)
        .sum();
    Case {
        name: "built-in model (Jackson network)".into(),
        model,
        reps: 10,
        checks: vec![Check::new("mean response ms", theory, |r| {
            r.all.latency.mean_ms()
        })],
        little: true,
    }
}

/// Exact Mean Value Analysis of single-server stations with demands `d` (ms) and think time `z`:
/// (throughput per s, response time ms).
fn exact_mva(d: &[f64], z: f64, users: u32) -> (f64, f64) {
    let mut q = vec![0.0; d.len()];
    let (mut x, mut r) = (0.0, 0.0);
    for n in 1..=users {
        let res: Vec<f64> = d.iter().zip(&q).map(|(d, q)| d * (1.0 + q)).collect();
        r = res.iter().sum();
        x = f64::from(n) / (z + r);
        q = res.iter().map(|r| x * r).collect();
    }
    (x * 1000.0, r)
}

fn closed(users: u32, duration_s: f64) -> Case {
    let model = load(
        "closed",
        &format!(
            r#"
[simulation]
duration_s = {duration_s}
warmup_s = 20
seed = 9
[workload]
type = "closed"
users = {users}
think_ms = {{ dist = "exponential", mean_ms = 100 }}
[[workload.mix]]
route = "front.get"
[gateway]
service_ms = 0
[services.front.endpoints.get]
service_ms = {{ dist = "exponential", mean_ms = 5 }}
calls = [["back.get"]]
[services.back.endpoints.get]
service_ms = {{ dist = "exponential", mean_ms = 3 }}
"#
        ),
    );
    let (x, r) = exact_mva(&[5.0, 3.0], 100.0, users);
    Case {
        name: format!("closed network, {users} users (exact MVA)"),
        model,
        reps: 10,
        checks: vec![
            Check::new("throughput req/s", x, |r| r.all.throughput_rps()),
            Check::new("mean response ms", r, |r| r.all.latency.mean_ms()),
        ],
        little: true,
    }
}

fn link_one_message() -> Case {
    let model = load(
        "link",
        r#"
[simulation]
duration_s = 60
warmup_s = 1
seed = 2
[workload]
type = "closed"
users = 1
think_ms = 50
[[workload.mix]]
route = "svc.work"
[gateway]
service_ms = 0
[services.svc.endpoints.work]
service_ms = 0.25
request_bytes = 1250
response_bytes = 12500
[links.l]
between = ["gateway", "svc"]
latency_ms = 2
bandwidth_mbps = 10
"#,
    );
    // 8·1250 B / 10 Mbit/s = 1 ms out, 10 ms back, 2 × 2 ms propagation, 0.25 ms service.
    Case {
        name: "one message at a time on a link".into(),
        model,
        reps: 3,
        checks: vec![
            Check::new("min response ms", 15.25, |r| r.all.latency.min_ms()),
            Check::new("max response ms", 15.25, |r| r.all.latency.max_ms()),
        ],
        little: false,
    }
}

fn link_md1() -> Case {
    let model = load(
        "link-md1",
        r#"
[simulation]
duration_s = 400
warmup_s = 20
seed = 4
[workload]
type = "open"
rate_per_s = 700
[[workload.mix]]
route = "svc.work"
[gateway]
service_ms = 0
[services.svc]
workers = 100
[services.svc.endpoints.work]
service_ms = 0
request_bytes = 1250
[links.l]
between = ["gateway", "svc"]
bandwidth_mbps = 10
"#,
    );
    // Each request occupies the link for 1 ms; Poisson arrivals at 700/s: M/D/1 with ρ = 0.7.
    let wq = 0.7 * 1.0 / (2.0 * 0.3);
    Case {
        name: "saturated link (M/D/1 ρ=0.7)".into(),
        model,
        reps: 10,
        checks: vec![Check::new("mean queueing ms", wq, |r| {
            r.links[0].mean_queueing_ms
        })],
        little: false,
    }
}

fn fork_join() -> Case {
    let model = load(
        "fork-join",
        r#"
[simulation]
duration_s = 2000
warmup_s = 1
seed = 8
[workload]
type = "open"
rate_per_s = 2
[[workload.mix]]
route = "front.get"
[gateway]
service_ms = 0
[services.front.endpoints.get]
service_ms = 0
calls = [["a.get", "b.get"]]
[services.a]
workers = 64
[services.a.endpoints.get]
service_ms = { dist = "exponential", mean_ms = 4 }
[services.b]
workers = 64
[services.b.endpoints.get]
service_ms = { dist = "exponential", mean_ms = 4 }
"#,
    );
    let mut check = Check::new("mean response ms (max of two)", 6.0, |r| {
        r.all.latency.mean_ms()
    });
    check.max_half_width = 0.02;
    Case {
        name: "two parallel exponential calls, low load".into(),
        model,
        reps: 10,
        checks: vec![check],
        little: true,
    }
}

/// A call made on a cache miss: the database sees the Poisson stream thinned to 30%, so it is an
/// M/M/1 queue at 0.3λ, and the request's mean is the cache's plus 30% of the database's.
fn probable_call() -> Case {
    let model = load(
        "cache-miss",
        r#"
[simulation]
duration_s = 1000
warmup_s = 20
seed = 21
[workload]
type = "open"
rate_per_s = 1000
[[workload.mix]]
route = "front.get"
[gateway]
service_ms = 0
[services.front.endpoints.get]
service_ms = 0
calls = [["cache.get"], [{ call = "db.query", probability = 0.3 }]]
[services.cache]
workers = 64
[services.cache.endpoints.get]
service_ms = { dist = "exponential", mean_ms = 1 }
[services.db.endpoints.query]
service_ms = { dist = "exponential", mean_ms = 2 }
"#,
    );
    // db: λ = 300/s, S = 2 ms, ρ = 0.6, response 2 / (1 − 0.6) = 5 ms.
    Case {
        name: "call on a 30% cache miss (M/M/1 at 0.3λ)".into(),
        model,
        reps: 10,
        checks: vec![
            Check::new("db arrivals per s", 300.0, |r| {
                r.services[3].arrival_rate_per_s
            }),
            Check::new("db mean response ms", 5.0, |r| {
                r.services[3].mean_residence_ms
            }),
            Check::new("mean response ms", 1.0 + 0.3 * 5.0, |r| {
                r.all.latency.mean_ms()
            }),
        ],
        little: true,
    }
}

/// A call repeated once or three times (even odds), the copies in parallel at an idle station:
/// E[max of n exponentials] = mean · Hₙ, so 4 · (1 + 11/6) / 2 ms.
fn repeated_call() -> Case {
    let model = load(
        "repeated-calls",
        r#"
[simulation]
duration_s = 500
warmup_s = 1
seed = 22
[workload]
type = "open"
rate_per_s = 20
[[workload.mix]]
route = "front.get"
[gateway]
service_ms = 0
[services.front.endpoints.get]
service_ms = 0
calls = [[{ call = "a.get", count = { values = [1, 3], weights = [1, 1] } }]]
[services.a]
workers = 64
[services.a.endpoints.get]
service_ms = { dist = "exponential", mean_ms = 4 }
"#,
    );
    Case {
        name: "a call repeated 1 or 3 times in parallel, low load".into(),
        model,
        reps: 10,
        checks: vec![
            Check::new("calls per request", 2.0, |r| {
                r.services[2].arrival_rate_per_s / r.services[1].arrival_rate_per_s
            }),
            Check::new(
                "mean response ms (max of copies)",
                4.0 * (1.0 + 11.0 / 6.0) / 2.0,
                |r| r.all.latency.mean_ms(),
            ),
        ],
        little: true,
    }
}

/// Work after the calls: the endpoint takes a worker again when its call returns, so its
/// station is busy λ·(before + after)/c of the time, whatever the queueing; Little's law holds at
/// both stations with the residence counted once per call.
fn work_after_calls() -> Case {
    let model = load(
        "work-after",
        r#"
[simulation]
duration_s = 600
warmup_s = 10
seed = 23
[workload]
type = "open"
rate_per_s = 300
[[workload.mix]]
route = "front.get"
[gateway]
service_ms = 0
[services.front]
workers = 2
[services.front.endpoints.get]
service_ms = { dist = "exponential", mean_ms = 1 }
after_ms = { dist = "exponential", mean_ms = 3 }
calls = [["back.get"]]
[services.back]
workers = 8
[services.back.endpoints.get]
service_ms = { dist = "exponential", mean_ms = 5 }
"#,
    );
    Case {
        name: "work after calls (a second visit to the worker)".into(),
        model,
        reps: 10,
        checks: vec![Check::new("front utilisation", 300.0 * 0.004 / 2.0, |r| {
            r.services[1].utilisation
        })],
        little: true,
    }
}

/// Processor sharing on a host: two services on one core, CPU-only work, A at 300 req/s × 1 ms
/// and B at 250 req/s × 2 ms (ρ = 0.8). Each class's mean response is its mean work over
/// 1 − ρ: 5 ms and 10 ms. With `dist` = constant work (M/D/1-PS), the means are the same:
/// processor sharing is insensitive to the work's distribution beyond its mean.
fn processor_sharing(dist: &str, label: &str) -> Case {
    let work = |mean: u32| {
        if dist == "exponential" {
            format!("{{ dist = \"exponential\", mean_ms = {mean} }}")
        } else {
            format!("{{ dist = \"constant\", value_ms = {mean} }}")
        }
    };
    let model = load(
        "processor-sharing",
        &format!(
            r#"
[simulation]
duration_s = 900
warmup_s = 10
seed = 29
[workload]
type = "open"
rate_per_s = 550
[[workload.mix]]
route = "a.work"
weight = 300
[[workload.mix]]
route = "b.work"
weight = 250
[gateway]
workers = 100000
[hosts.node]
cores = 1
[services.a]
host = "node"
workers = 100000
[services.a.endpoints.work]
service_ms = 0
cpu_ms = {}
[services.b]
host = "node"
workers = 100000
[services.b.endpoints.work]
service_ms = 0
cpu_ms = {}
"#,
            work(1),
            work(2)
        ),
    );
    Case {
        name: format!("{label}: two services on one core, ρ=0.8"),
        model,
        reps: 10,
        checks: vec![
            Check::new("A mean response ms", 5.0, |r| r.routes[0].latency.mean_ms()),
            Check::new("B mean response ms", 10.0, |r| {
                r.routes[1].latency.mean_ms()
            }),
        ],
        little: true,
    }
}

/// Every reference case, in the order of the table.
pub fn suite() -> Vec<Case> {
    vec![
        mm1(0.5, 400.0),
        mm1(0.8, 1500.0),
        mm1(0.9, 4000.0),
        mmc(),
        mg1("M/D/1", "1", 0.0, 0.7, 400.0),
        mg1(
            "M/G/1 lognormal cv=2",
            r#"{ dist = "lognormal", mean_ms = 1, cv = 2 }"#,
            2.0,
            0.5,
            2000.0,
        ),
        tandem(),
        builtin(),
        closed(1, 1500.0),
        closed(10, 300.0),
        closed(50, 300.0),
        link_one_message(),
        link_md1(),
        fork_join(),
        probable_call(),
        repeated_call(),
        work_after_calls(),
        processor_sharing("exponential", "M/M/1-PS"),
        processor_sharing("constant", "M/D/1-PS"),
    ]
}
