//! The reality check's open-loop load generator: Poisson arrivals at a set rate, whatever the
//! system answers.
//!
//! Each request's latency runs from its *scheduled* send time, so a generator that falls behind
//! (or a system that stalls) shows up in the latencies instead of silently sending fewer
//! requests (no coordinated omission). Requests are bounded in number and time, and go to
//! 127.0.0.1 only.
//!
//! Why Rust and the standard library: the generator shares the machine's two cores with the
//! system it measures. The first generator (Python, asyncio + aiohttp) spent about 1.1 ms of CPU
//! per request, a third of a core at 300 req/s, and less per request the busier it was (an event
//! loop that finds several events per wake-up) — a load-dependent cost in the measurement
//! itself. This one sends each request from a pooled thread that blocks on its socket: a few
//! tens of µs of CPU per request.
//!
//! Output: CSV with columns route (named as the gateway's server spans name it, e.g.
//! `GET /user/<int:uid>`), scheduled_s, latency_ms, status, lag_ms (the delay from the
//! scheduled time to the moment the request started; part of latency_ms). Status 0: the request
//! timed out at the client or its connection failed. With `--trace-dir`, a Zipkin v2 client
//! span per request (the hop from the client to the gateway, which no server span covers).

mod http;
mod pool;

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The gateway's routes: the name the `--mix` uses, the method, the route's rule as the
/// gateway's server spans name it.
const ROUTES: [(&str, &str, &str); 2] = [
    ("user", "GET", "/user/<int:uid>"),
    ("order", "POST", "/order"),
];

const USAGE: &str =
    "usage: loadgen --rate R --duration S --out FILE [--url http://127.0.0.1:8000] \
[--max-requests N] [--mix user=1,order=1] [--seed N] [--timeout S] [--trace-dir DIR] \
[--cpu-out FILE] [--machine-cpu-out FILE]";

struct Args {
    host: String,
    addr: SocketAddr,
    rate: f64,
    duration: f64,
    max_requests: u64,
    /// (index into ROUTES, weight)
    mix: Vec<(usize, f64)>,
    seed: u64,
    timeout: Duration,
    trace_dir: Option<String>,
    out: String,
    cpu_out: Option<String>,
    machine_cpu_out: Option<String>,
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut url = "http://127.0.0.1:8000".to_string();
    let (mut rate, mut duration, mut out) = (None, None, None);
    let (mut max_requests, mut mix, mut seed, mut timeout) =
        (1_000_000u64, "user=1,order=1".to_string(), 1u64, 10.0f64);
    let (mut trace_dir, mut cpu_out, mut machine_cpu_out) = (None, None, None);
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => url = value()?,
            "--rate" => rate = Some(number(flag, &value()?)?),
            "--duration" => duration = Some(number(flag, &value()?)?),
            "--max-requests" => max_requests = number(flag, &value()?)? as u64,
            "--mix" => mix = value()?,
            "--seed" => seed = number(flag, &value()?)? as u64,
            "--timeout" => timeout = number(flag, &value()?)?,
            "--trace-dir" => trace_dir = Some(value()?),
            "--out" => out = Some(value()?),
            "--cpu-out" => cpu_out = Some(value()?),
            "--machine-cpu-out" => machine_cpu_out = Some(value()?),
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    let rate = rate.ok_or("--rate is required")?;
    let duration = duration.ok_or("--duration is required")?;
    if !(rate > 0.0 && duration > 0.0 && timeout > 0.0) {
        return Err("--rate, --duration and --timeout must be > 0".into());
    }
    let host = url
        .strip_prefix("http://")
        .ok_or(format!("--url must start with http://, not {url}"))?
        .trim_end_matches('/')
        .to_string();
    let name = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
    if name != "127.0.0.1" && name != "localhost" {
        return Err(format!("--url must be on 127.0.0.1, not {name}"));
    }
    let with_port = if host.contains(':') {
        host.clone()
    } else {
        format!("{host}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("--url {url}: {e}"))?
        .find(|a| a.ip().is_loopback())
        .ok_or(format!("--url {url} is not a loopback address"))?;
    Ok(Args {
        host,
        addr,
        rate,
        duration,
        max_requests,
        mix: parse_mix(&mix)?,
        seed,
        timeout: Duration::from_secs_f64(timeout),
        trace_dir,
        out: out.ok_or("--out is required")?,
        cpu_out,
        machine_cpu_out,
    })
}

fn number(flag: &str, text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or(format!("{flag} takes a number ≥ 0, not {text:?}"))
}

/// `user=1,order=2` → the routes' indices with their weights.
fn parse_mix(text: &str) -> Result<Vec<(usize, f64)>, String> {
    let names: Vec<&str> = ROUTES.iter().map(|r| r.0).collect();
    let mut mix = Vec::new();
    for part in text.split(',') {
        let (name, weight) = part.split_once('=').unwrap_or((part, "1"));
        let route = names.iter().position(|n| *n == name).ok_or(format!(
            "unknown route {name:?} in --mix; routes: {}",
            names.join(", ")
        ))?;
        mix.push((route, number("--mix", weight)?));
    }
    if mix.iter().map(|m| m.1).sum::<f64>() <= 0.0 {
        return Err("--mix: the weights must not all be 0".into());
    }
    Ok(mix)
}

/// SplitMix64: a small, well-mixed generator; the schedule depends on the seed alone.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn exponential(&mut self, rate: f64) -> f64 {
        -(1.0 - self.uniform()).ln() / rate
    }

    fn pick(&mut self, mix: &[(usize, f64)]) -> usize {
        let mut x = self.uniform() * mix.iter().map(|m| m.1).sum::<f64>();
        for &(route, weight) in mix {
            if x < weight {
                return route;
            }
            x -= weight;
        }
        mix[mix.len() - 1].0
    }
}

/// One request as scheduled: everything random about it is drawn up front, in order, so that
/// a seed gives the same requests whatever the system does.
#[derive(Clone, Copy)]
pub struct Job {
    route: usize,
    /// Seconds from the start of the arrivals.
    scheduled: f64,
    due: Instant,
    uid: u32,
    trace_id: u128,
    span_id: u64,
}

/// What happened to one request (its [`Job`] says what it was).
pub struct Outcome {
    latency: Duration,
    status: u16,
    lag: Duration,
}

fn perform(args: &Args, job: &Job, traced: bool) -> Outcome {
    let start = Instant::now();
    let (_, method, _) = ROUTES[job.route];
    let path = if method == "GET" {
        format!("/user/{}", job.uid)
    } else {
        "/order".into()
    };
    let headers = if traced {
        format!(
            "X-B3-TraceId: {:032x}\r\nX-B3-SpanId: {:016x}\r\nX-B3-Sampled: 1\r\n",
            job.trace_id, job.span_id
        )
    } else {
        String::new()
    };
    let body = format!(
        r#"{{"user": {}, "items": [{{"sku": 17, "qty": 1}}, {{"sku": 42, "qty": 2}}]}}"#,
        job.uid
    );
    let request = http::Request {
        method,
        path: &path,
        headers: &headers,
        body: (method == "POST").then_some(body.as_str()),
    };
    let status = http::send(args.addr, &args.host, &request, args.timeout);
    Outcome {
        latency: job.due.elapsed(),
        status,
        lag: start.saturating_duration_since(job.due),
    }
}

/// The process's CPU time so far, all threads (`CLOCK_PROCESS_CPUTIME_ID`), in seconds.
fn process_cpu_s() -> f64 {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut t = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec (two longs on 64-bit Linux) to a valid pointer.
    let rc = unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    if rc == 0 {
        t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
    } else {
        f64::NAN
    }
}

/// Busy CPU seconds of the whole machine so far (`/proc/stat`, all cores, idle and iowait left
/// out); 100 ticks per second, as on every Linux this runs on.
fn machine_busy_s() -> f64 {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    if ticks.len() < 5 {
        return f64::NAN;
    }
    (ticks.iter().sum::<f64>() - ticks[3] - ticks[4]) / 100.0
}

/// Writes `text` to `path` through a temporary file and a rename.
fn write_atomically(path: &str, text: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp");
    fs::write(&tmp, text)?;
    fs::rename(&tmp, path)
}

fn requests_csv(jobs: &[Job], outcomes: &[Outcome]) -> String {
    let mut csv = String::from("route,scheduled_s,latency_ms,status,lag_ms\n");
    for (job, o) in jobs.iter().zip(outcomes) {
        let (_, method, rule) = ROUTES[job.route];
        let _ = writeln!(
            csv,
            "{method} {rule},{:.6},{:.3},{},{:.3}",
            job.scheduled,
            o.latency.as_secs_f64() * 1e3,
            o.status,
            o.lag.as_secs_f64() * 1e3
        );
    }
    csv
}

/// Zipkin v2 client spans, 500 to a line (a JSON array per line, as the services write theirs).
/// A span starts at the request's scheduled time: the generator's own delay is part of what the
/// client sees, as it is part of latency_ms.
fn client_spans(jobs: &[Job], outcomes: &[Outcome], wall0_us: u64) -> String {
    let mut text = String::new();
    for (i, (job, o)) in jobs.iter().zip(outcomes).enumerate() {
        text.push(if i % 500 == 0 { '[' } else { ',' });
        let (_, method, rule) = ROUTES[job.route];
        let error = if o.status == 0 || o.status >= 500 {
            r#","error":"true""#
        } else {
            ""
        };
        let _ = write!(
            text,
            r#"{{"traceId":"{:032x}","id":"{:016x}","kind":"CLIENT","name":"{method} {rule}","timestamp":{},"duration":{},"localEndpoint":{{"serviceName":"client","ipv4":"127.0.0.1"}},"remoteEndpoint":{{"serviceName":"gateway"}},"tags":{{"http.status_code":"{}"{error}}}}}"#,
            job.trace_id,
            job.span_id,
            wall0_us + (job.scheduled * 1e6) as u64,
            (o.latency.as_micros() as u64).max(1),
            o.status
        );
        if i % 500 == 499 || i + 1 == jobs.len() {
            text.push_str("]\n");
        }
    }
    text
}

fn run(args: &Args) -> std::io::Result<()> {
    let mut rng = Rng(args.seed);
    let mut rng_id = Rng(args.seed.wrapping_add(1_000_003));
    let traced = args.trace_dir.is_some();
    let t0 = Instant::now() + Duration::from_millis(50);
    let wall0_us = (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        + Duration::from_millis(50))
    .as_micros() as u64;
    let busy0 = machine_busy_s();
    let cpu0 = process_cpu_s();
    let work = |job: &Job| perform(args, job, traced);
    let shared = pool::Shared::new();
    let (jobs, outcomes) = std::thread::scope(|scope| {
        let mut pool = pool::Pool::new(scope, &shared, &work);
        let mut jobs = Vec::new();
        let mut t = 0.0;
        while (jobs.len() as u64) < args.max_requests {
            t += rng.exponential(args.rate);
            if t > args.duration {
                break;
            }
            let job = Job {
                route: rng.pick(&args.mix),
                scheduled: t,
                due: t0 + Duration::from_secs_f64(t),
                uid: 1 + (rng_id.next_u64() % 99_999) as u32,
                trace_id: (u128::from(rng_id.next_u64()) << 64) | u128::from(rng_id.next_u64()),
                span_id: rng_id.next_u64(),
            };
            let wait = job.due.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            pool.submit(jobs.len(), job);
            jobs.push(job);
        }
        (jobs, pool.finish())
    });
    let machine_busy = machine_busy_s() - busy0;
    let cpu = process_cpu_s() - cpu0;
    if let Some(path) = &args.machine_cpu_out {
        write_atomically(path, &format!("{machine_busy}\n"))?;
    }
    if let Some(path) = &args.cpu_out {
        write_atomically(path, &format!("{cpu}\n"))?;
    }
    write_atomically(&args.out, &requests_csv(&jobs, &outcomes))?;
    if let Some(dir) = &args.trace_dir {
        let path = format!("{dir}/client-{}.jsonl", std::process::id());
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?
            .write_all(client_spans(&jobs, &outcomes, wall0_us).as_bytes())?;
    }
    let mut ok: Vec<f64> = outcomes
        .iter()
        .filter(|o| (200..400).contains(&o.status))
        .map(|o| o.latency.as_secs_f64() * 1e3)
        .collect();
    ok.sort_by(f64::total_cmp);
    if !ok.is_empty() {
        let p99 = ok[((0.99 * ok.len() as f64) as usize).min(ok.len() - 1)];
        eprintln!(
            "{} requests, {} ok; mean {:.2} ms, p99 {p99:.2} ms; the generator's CPU {:.3} ms per request",
            outcomes.len(),
            ok.len(),
            ok.iter().sum::<f64>() / ok.len() as f64,
            cpu * 1e3 / outcomes.len() as f64
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&argv) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("loadgen: {message}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_are_poisson_at_the_rate() {
        let mut rng = Rng(7);
        let n = 200_000;
        let total: f64 = (0..n).map(|_| rng.exponential(250.0)).sum();
        // mean 4 ms, standard error 4 ms / sqrt(n) ≈ 0.009 ms: 5 standard errors
        assert!(
            (total / n as f64 * 1e3 - 4.0).abs() < 0.045,
            "{}",
            total / n as f64
        );
    }

    #[test]
    fn mix_follows_its_weights() {
        let mix = parse_mix("user=1,order=3").unwrap();
        let mut rng = Rng(3);
        let orders = (0..100_000).filter(|_| rng.pick(&mix) == 1).count();
        // 75%, standard error 0.14 points
        assert!((orders as f64 / 1e3 - 75.0).abs() < 0.7, "{orders}");
        assert!(parse_mix("users=1").is_err());
        assert!(parse_mix("user=0").is_err());
    }

    #[test]
    fn refuses_other_hosts() {
        let args = |url: &str| {
            let argv: Vec<String> = ["--rate", "1", "--duration", "1", "--out", "x", "--url", url]
                .iter()
                .map(|s| s.to_string())
                .collect();
            parse_args(&argv).map(|a| a.addr)
        };
        assert!(args("http://10.0.0.1:8000").is_err());
        assert!(args("http://example.com").is_err());
        assert_eq!(args("http://127.0.0.1:8000").unwrap().port(), 8000);
    }
}
