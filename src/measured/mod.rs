//! A model held against measurements of the real system it describes (`meshsim predict`): per
//! load and route, what a load generator measured beside what the model predicts at that load,
//! each with its uncertainty.
//!
//! The measured side: requests scheduled after the warm-up, latency from each request's
//! scheduled time (as an open-loop generator measures it), quantiles of the successful ones;
//! its 95% interval from batch means (the window cut into [`BATCHES`] consecutive batches), so
//! that a comparison says how well the measurement itself is known. The predicted side: the
//! model at the same rate, replicated, with Student's t interval over the replications.

mod read;
mod saturation;

pub use read::{COLUMNS, Measurements, Request, read};
pub use saturation::{SimulatedSaturation, simulated_saturation};

use crate::model::{Model, Workload};
use crate::sim::{Options, Replications, RouteResult, RunResult};
use crate::stats::mean_ci95;

/// The metrics compared, in the order written. The last, `error_rate` (failed requests over
/// all of the window's), is written only when some request failed, measured or predicted: a
/// system past saturation, where what fails matters as much as how fast the rest is.
pub const METRICS: [&str; 6] = [
    "throughput_rps",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "error_rate",
];

/// The index of `error_rate` in [`METRICS`].
const ERROR_RATE: usize = 5;

/// Batches of the measured window, for the measured intervals.
pub const BATCHES: usize = 5;

/// One metric of one route at one load.
#[derive(Clone, Debug)]
pub struct Row {
    pub rate_rps: f64,
    /// The route as the measurements name it, or `all`.
    pub route: String,
    pub metric: &'static str,
    pub measured: f64,
    /// Half-width of the measured value's 95% interval (batch means); NaN when unknown.
    pub measured_ci95: f64,
    pub predicted: f64,
    pub predicted_ci95: f64,
    /// Measured requests the value rests on: the successful ones (all of them for `error_rate`).
    pub measured_n: usize,
}

impl Row {
    /// (predicted − measured) / measured.
    pub fn error(&self) -> f64 {
        (self.predicted - self.measured) / self.measured
    }
}

/// The whole comparison.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub model: String,
    pub file: String,
    pub reps: u32,
    pub warmup_s: f64,
    /// Rates ascending; per rate the measured routes in the model's route order, then `all`;
    /// per route [`Comparison::metrics`] of [`METRICS`], in that order.
    pub rows: Vec<Row>,
}

impl Comparison {
    /// How many of [`METRICS`] each route has: all of them when some request failed.
    pub fn metrics(&self) -> usize {
        if self.rows.iter().any(|r| r.metric == METRICS[ERROR_RATE]) {
            METRICS.len()
        } else {
            ERROR_RATE
        }
    }
}

/// The model's route each measured route stands for: the same name, or the model route whose
/// endpoint is the measured name as `meshsim import` makes it an identifier (`GET /user/<id>`
/// → `…GET__user__id_`), so that a load generator can name routes as the traces do.
pub fn match_routes(model: &Model, m: &Measurements) -> Result<Vec<usize>, String> {
    m.routes
        .iter()
        .zip(&m.route_lines)
        .map(|(name, line)| {
            let id = crate::traces::import::infer::identifier(name);
            let found = model
                .routes
                .iter()
                .position(|r| r.name == *name)
                .or_else(|| {
                    let mut hits = model
                        .routes
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.name.rsplit('.').next() == Some(id.as_str()));
                    match (hits.next(), hits.next()) {
                        (Some((i, _)), None) => Some(i),
                        _ => None,
                    }
                });
            found.ok_or_else(|| {
                format!(
                    "{}:{line}: the route `{name}` matches no route of the model `{}`; its routes: {} (name them so, or by the endpoint's name in the traces)",
                    m.file,
                    model.name,
                    model
                        .routes
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        })
        .collect()
}

/// The model at `rate` requests per second (open workloads only; checked by the caller).
pub fn at_rate(model: &Model, rate: f64) -> Model {
    let mut m = model.clone();
    if let Workload::Open { rate_per_s, .. } = &mut m.workload {
        *rate_per_s = rate;
    }
    m
}

/// Compares `m` with `model`'s predictions at each measured rate, `reps` replications each.
pub fn compare(
    model: &Model,
    m: &Measurements,
    warmup_s: f64,
    reps: Replications,
) -> Result<Comparison, String> {
    if !matches!(model.workload, Workload::Open { .. }) {
        return Err(format!(
            "the model `{}` has a closed workload; measurements at a rate need an open one (type = \"open\")",
            model.name
        ));
    }
    let routes = match_routes(model, m)?;
    // Measured routes in the model's route order.
    let mut order: Vec<usize> = (0..m.routes.len()).collect();
    order.sort_by_key(|&i| routes[i]);
    let count = reps.count;
    let mut rows = Vec::new();
    for &rate in &m.rates {
        let requests: Vec<&Request> = m
            .requests
            .iter()
            .filter(|r| r.rate_rps == rate && r.scheduled_s >= warmup_s)
            .collect();
        let end = requests.iter().map(|r| r.scheduled_s).fold(0.0, f64::max);
        if requests.is_empty() || end <= warmup_s {
            return Err(format!(
                "{}: at {rate} req/s no request was scheduled after the warm-up of {warmup_s} s",
                m.file
            ));
        }
        let options = Options {
            cancel: reps.cancel,
            ..Options::default()
        };
        let runs = crate::sim::replicate(&at_rate(model, rate), count, &options);
        if reps.cancel.requested() {
            return Err("interrupted".into());
        }
        if let Some(stop) = runs.iter().find_map(|r| r.stopped.as_ref()) {
            return Err(format!(
                "the model at {rate} req/s did not run to its end: {stop}"
            ));
        }
        let window = (warmup_s, end);
        for &i in &order {
            let measured: Vec<&Request> =
                requests.iter().copied().filter(|r| r.route == i).collect();
            let predicted: Vec<&RouteResult> =
                runs.iter().map(|run| &run.routes[routes[i]]).collect();
            rows.extend(rows_for(rate, &m.routes[i], &measured, window, &predicted));
        }
        let all: Vec<&RouteResult> = runs.iter().map(|run: &RunResult| &run.all).collect();
        rows.extend(rows_for(rate, "all", &requests, window, &all));
    }
    let failures = rows
        .iter()
        .any(|r| r.metric == METRICS[ERROR_RATE] && (r.measured > 0.0 || r.predicted > 0.0));
    if !failures {
        rows.retain(|r| r.metric != METRICS[ERROR_RATE]);
    }
    Ok(Comparison {
        model: model.name.clone(),
        file: m.file.clone(),
        reps: count,
        warmup_s,
        rows,
    })
}

/// The successful requests of a window, summarised once for every metric.
struct Sample {
    /// Successful requests per second of the window.
    throughput: f64,
    /// Failed requests over all of the window's (NaN when it had none).
    error_rate: f64,
    /// Mean latency of the successful requests (in their order, before sorting).
    mean: f64,
    /// Their latencies, ascending.
    sorted: Vec<f64>,
}

impl Sample {
    fn new(requests: &[&Request], window: (f64, f64)) -> Sample {
        let mut sorted: Vec<f64> = requests
            .iter()
            .filter(|r| r.ok)
            .map(|r| r.latency_ms)
            .collect();
        let n = sorted.len();
        let mean = if n > 0 {
            sorted.iter().sum::<f64>() / n as f64
        } else {
            f64::NAN
        };
        sorted.sort_by(f64::total_cmp);
        let all = requests.len();
        Sample {
            throughput: n as f64 / (window.1 - window.0),
            error_rate: if all > 0 {
                (all - n) as f64 / all as f64
            } else {
                f64::NAN
            },
            mean,
            sorted,
        }
    }

    /// The metric `k` of [`METRICS`].
    fn metric(&self, k: usize) -> f64 {
        let n = self.sorted.len();
        match k {
            0 => self.throughput,
            1 => self.mean,
            2..=4 if n > 0 => {
                let q = [0.5, 0.9, 0.99][k - 2];
                // Nearest rank: the smallest value with at least q of the values at or below it.
                self.sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1]
            }
            ERROR_RATE => self.error_rate,
            _ => f64::NAN,
        }
    }
}

/// The metric `k` of one replication's route.
fn predict(k: usize, r: &RouteResult) -> f64 {
    match k {
        0 => r.throughput_rps(),
        1 => r.latency.mean_ms(),
        ERROR_RATE => r.error_rate(),
        _ => r.latency.quantile_ms([0.5, 0.9, 0.99][k - 2]),
    }
}

fn rows_for(
    rate: f64,
    route: &str,
    measured: &[&Request],
    window: (f64, f64),
    predicted: &[&RouteResult],
) -> Vec<Row> {
    let width = (window.1 - window.0) / BATCHES as f64;
    let batches: Vec<Sample> = (0..BATCHES)
        .map(|b| {
            let (from, to) = (
                window.0 + b as f64 * width,
                window.0 + (b + 1) as f64 * width,
            );
            let last = b + 1 == BATCHES;
            let inside: Vec<&Request> = measured
                .iter()
                .copied()
                .filter(|r| r.scheduled_s >= from && (r.scheduled_s < to || last))
                .collect();
            Sample::new(&inside, (from, to))
        })
        .collect();
    let whole = Sample::new(measured, window);
    METRICS
        .iter()
        .enumerate()
        .map(|(k, &metric)| {
            let per_batch: Vec<f64> = batches
                .iter()
                .map(|b| b.metric(k))
                .filter(|v| v.is_finite())
                .collect();
            let spread = if per_batch.len() == BATCHES {
                mean_ci95(&per_batch).half_width
            } else {
                f64::NAN
            };
            let values: Vec<f64> = predicted.iter().map(|r| predict(k, r)).collect();
            let ci = mean_ci95(&values);
            Row {
                rate_rps: rate,
                route: route.to_string(),
                metric,
                measured: whole.metric(k),
                measured_ci95: spread,
                predicted: ci.mean,
                predicted_ci95: ci.half_width,
                // The failed share rests on every request; the other metrics on the successful.
                measured_n: if k == ERROR_RATE {
                    measured.len()
                } else {
                    whole.sorted.len()
                },
            }
        })
        .collect()
}

/// The saturation rate of an open model: the rate at which its busiest station or host would
/// reach utilisation 1, counting a blocking station's workers as held for its calls' response
/// times (at the model's own rate) and a host's background load as fixed; with the name of the
/// busiest. `None` for a closed workload or a
/// model that does no work.
pub fn saturation(model: &Model) -> Option<(f64, String)> {
    let Workload::Open { rate_per_s, .. } = model.workload else {
        return None;
    };
    let analysis = crate::analysis::analyze(model);
    // Each station saturates at the rate where its utilisation (linear in the rate) reaches 1.
    let stations = analysis
        .stations
        .iter()
        .filter(|s| s.utilisation > 0.0)
        .map(|s| (rate_per_s / s.utilisation, s.name.clone()));
    // A host, where the calls' CPU work per second fills the cores the background leaves.
    let visits = crate::analysis::visits_per_request(model);
    let hosts = model.hosts.iter().enumerate().filter_map(|(id, h)| {
        let cpu_ms: f64 = model
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let share = model.services[e.service].host_share(id);
                share * visits[i] * e.cpu_time.as_ref().map_or(0.0, |c| c.mean_ms())
            })
            .sum();
        let free = (f64::from(h.cores) - h.background_cores) * h.speed;
        (cpu_ms > 0.0).then(|| (free * 1e3 / cpu_ms, format!("host {}", h.name)))
    });
    stations
        .chain(hosts)
        .filter(|(r, _)| r.is_finite())
        .min_by(|a, b| a.0.total_cmp(&b.0))
}

/// The columns of `reality.csv`.
pub const CSV_COLUMNS: [&str; 9] = [
    "rate_rps",
    "route",
    "metric",
    "measured",
    "predicted",
    "predicted_ci95",
    "error",
    "measured_ci95",
    "measured_requests",
];

/// `reality.csv`: one row per load, route and metric (tidy).
pub fn csv(c: &Comparison) -> Vec<u8> {
    use crate::report::number;
    let rows = c
        .rows
        .iter()
        .map(|r| {
            vec![
                number(r.rate_rps),
                r.route.clone(),
                r.metric.to_string(),
                number(r.measured),
                number(r.predicted),
                number(r.predicted_ci95),
                number(r.error()),
                number(r.measured_ci95),
                r.measured_n.to_string(),
            ]
        })
        .collect();
    crate::report::csv_bytes(&CSV_COLUMNS, rows)
}

/// The printed (and Markdown) table: per load and route, throughput, mean and p99, measured
/// (± its 95% interval) beside predicted, and the error; the share of requests that failed,
/// measured and predicted, when some did.
pub fn table(c: &Comparison) -> String {
    let n = c.metrics();
    let with_errors = n == METRICS.len();
    let mut out = String::from(
        "| req/s | route | throughput meas. | pred. | mean ms meas. | pred. | error | p99 ms meas. | pred. | error |",
    );
    out.push_str(if with_errors {
        " failed meas. | pred. |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    } else {
        "\n| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    });
    let fmt = |v: f64, ci: f64| {
        if ci.is_finite() {
            format!("{} ± {}", short(v), short(ci))
        } else {
            short(v)
        }
    };
    let share = |v: f64, ci: f64| {
        let v = if v.is_finite() {
            format!("{:.1}%", 100.0 * v)
        } else {
            "–".into()
        };
        if ci.is_finite() {
            format!("{v} ± {:.1}%", 100.0 * ci)
        } else {
            v
        }
    };
    for group in c.rows.chunks(n) {
        let (thr, mean, p99) = (&group[0], &group[1], &group[4]);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            short(thr.rate_rps),
            thr.route,
            short(thr.measured),
            short(thr.predicted),
            fmt(mean.measured, mean.measured_ci95),
            fmt(mean.predicted, mean.predicted_ci95),
            percent(mean.error()),
            fmt(p99.measured, p99.measured_ci95),
            fmt(p99.predicted, p99.predicted_ci95),
            percent(p99.error()),
        ));
        if let Some(failed) = group.get(ERROR_RATE) {
            out.push_str(&format!(
                " {} | {} |",
                share(failed.measured, failed.measured_ci95),
                share(failed.predicted, failed.predicted_ci95)
            ));
        }
        out.push('\n');
    }
    out
}

/// Three significant digits, at least one decimal below 100.
fn short(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn percent(e: f64) -> String {
    if e.is_finite() {
        format!("{:+.1}%", 100.0 * e)
    } else {
        "–".into()
    }
}
