//! Command-line interface: clap definitions (here) and the commands they run (`commands`,
//! `sweeps`).

mod commands;
mod interrupt;
mod planning;
mod sweeps;

use commands::{analyze, check, draw_charts, graph, init, plot, run, validate};
use sweeps::{main_job, merge, sweep};

use crate::error::Error;
use crate::model::{self, Model, Override, Workload};
use crate::{analysis, report, sim};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};

/// The folder a command writes to: `--out` as given, or `default`. A path that names an
/// existing file is refused before anything is simulated, so no run's work is lost to it.
fn output_dir(
    given: Option<&PathBuf>,
    default: impl FnOnce() -> PathBuf,
) -> Result<PathBuf, Error> {
    let out = given.cloned().unwrap_or_else(default);
    if out.exists() && !out.is_dir() {
        return Err(Error::Usage(format!(
            "--out `{}` is a file, not a folder: give a folder (it is created if it does not exist)",
            out.display()
        )));
    }
    Ok(out)
}

/// meshsim: a discrete-event simulator of microservice networks.
#[derive(Debug, Parser)]
#[command(name = "meshsim", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate a model, print a summary, and write CSV files and run.json.
    Run(RunArgs),
    /// Validate a model and print its offered load and utilisation per service, without simulating.
    Check(ModelArgs),
    /// Draw the model's topology: topology.svg and .png (boxes coloured by the utilisation
    /// queueing theory predicts, arrows labelled with calls/s) and topology.dot for Graphviz.
    Graph(GraphArgs),
    /// Write a large layered model for scale benchmarks and profiling (hidden: a tool for
    /// developers).
    #[command(hide = true)]
    Generate(GenerateArgs),
    /// Print the JSON Schema of the model file (for editors: completion and checking as you type).
    Schema,
    /// Write the built-in model to a file, to start editing.
    Init(InitArgs),
    /// What queueing theory says about a model: response times, utilisation, queues and waits
    /// per route, service and link, exact or with the approximation named.
    Analyze(AnalyzeArgs),
    /// Run the built-in suite of reference cases against queueing theory and print the table.
    Validate(ValidateArgs),
    /// Simulate a grid of parameter values × replications in parallel; write runs.csv,
    /// points.csv (means with 95% CIs) and sweep.json.
    Sweep(SweepArgs),
    /// Combine the outputs of sweep shards into one result.
    Merge(MergeArgs),
    /// Redraw every chart (and report.html) of an output folder from its CSV files, or draw a
    /// custom chart of a sweep with --x/--y/--series.
    Plot(PlotArgs),
    /// The highest arrival rate at which every SLO holds (with 95% confidence), and the
    /// bottleneck there; writes capacity.csv.
    Capacity(CapacityArgs),
    /// The cheapest instance count per service that meets the SLOs at a given load; writes the
    /// right-sized model file.
    Rightsize(RightsizeArgs),
    /// The same workload through several architectures: capacity, right-sized cost, latency
    /// and the network's share, and over a range of loads p99 and cost with the crossover.
    Compare(CompareArgs),
    /// Build a model from distributed traces (OTLP/JSON, Jaeger JSON, Zipkin v2 JSON): services,
    /// endpoints, calls in stages, processing times, link latency and the workload.
    Import(ImportArgs),
    /// Hold a model against measurements of the real system: simulate it at each measured load
    /// and write reality.csv (measured beside predicted, per load, route and metric), a chart
    /// and a table.
    Predict(PredictArgs),
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The model (e.g. written by `meshsim import` from the system's traces).
    pub model: PathBuf,
    /// A load generator's requests: CSV with the columns rate_rps, route, scheduled_s,
    /// latency_ms, status (one row per request; routes named as the model's, or as the traces
    /// name the endpoint).
    #[arg(long, value_name = "FILE.csv", required_unless_present = "saturation")]
    pub measured: Option<PathBuf>,
    /// Leave out the measured requests scheduled in each load's first SECONDS (the system
    /// warming up, as the model's warmup_s does).
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0, value_parser = parse_seconds)]
    pub warmup_s: f64,
    /// Replications per load.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..=10_000))]
    pub reps: u32,
    /// Print the model's saturation rate and stop: the rate from which its backlog grows,
    /// found by simulating it (bisection to 1%), beside the analytic bound.
    #[arg(long, conflicts_with = "measured")]
    pub saturation: bool,
    /// With --saturation: print the analytic bound alone (where the busiest station, blocking
    /// workers held for their calls' response times at the model's own rate, reaches
    /// utilisation 1) without simulating: instant, but it can be well above the true rate.
    #[arg(long, requires = "saturation")]
    pub analytic: bool,
    /// Override a value of the model, e.g. --set simulation.duration_s=30 (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<Override>,
    /// Where to write [default: output/<model>-predict/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub charts: ChartArgs,
    #[command(flatten)]
    pub runner: Runner,
}

fn parse_cpu(s: &str) -> Result<(String, f64), String> {
    let (name, ms) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not SERVICE=MS (e.g. user=1.2)"))?;
    let ms = ms
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("`{ms}` is not a number of milliseconds ≥ 0"))?;
    Ok((name.trim().to_string(), ms))
}

fn parse_after_idle(s: &str) -> Result<(String, [f64; 3]), String> {
    let (name, values) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not SERVICE=WARM,EXTRA,TAU (e.g. user=0.7,0.25,7)"))?;
    let ms: Vec<f64> = values
        .split(',')
        .map(|v| v.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("`{values}` is not three numbers of ms: WARM,EXTRA,TAU"))?;
    match ms[..] {
        [w, x, t] if [w, x, t].iter().all(|v| v.is_finite() && *v >= 0.0) && t > 0.0 => {
            Ok((name.trim().to_string(), [w, x, t]))
        }
        _ => Err(format!(
            "`{values}` is not WARM,EXTRA,TAU: three numbers of ms, each ≥ 0, TAU > 0"
        )),
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("`{s}` is not a number of seconds ≥ 0"))
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Trace files, or folders of them (.json, .jsonl, .ndjson); the format is read from the content.
    #[arg(required = true)]
    pub traces: Vec<PathBuf>,
    /// The model file to write; its measured samples go to a folder beside it, <name>-data/.
    #[arg(long, value_name = "MODEL.toml")]
    pub out: PathBuf,
    /// The share of requests the traces hold, when they were sampled (e.g. 0.01): the arrival
    /// rate is scaled up by 1/FRACTION.
    #[arg(long, value_name = "FRACTION", value_parser = parse_sampled)]
    pub sampled: Option<f64>,
    /// Fit a distribution to each processing time (maximum likelihood over exponential,
    /// lognormal, gamma and Weibull, chosen by AIC; the choice and its goodness of fit printed)
    /// instead of writing the measured samples.
    #[arg(long)]
    pub fit: bool,
    /// CPU per call of a service, measured outside the traces (its processes' CPU time over
    /// the calls it served), e.g. --cpu user=1.2 (repeatable): written as the endpoints'
    /// cpu_ms and taken out of their processing; `gateway` names the traced clients. Place the
    /// services on a host with --set (hosts.node.cores=2, services.user.host=node).
    #[arg(long, value_name = "SERVICE=MS", value_parser = parse_cpu)]
    pub cpu: Vec<(String, f64)>,
    /// What idling adds to a service's CPU, fitted outside the traces: a warm call's CPU, the
    /// extra after a long idle, and the cooling time, e.g. --cpu-after-idle user=0.7,0.25,7
    /// (ms; repeatable; with --cpu for the same service, whose mean comes off the processing).
    /// Written as cpu_ms (the warm cost) and cpu_after_idle.
    #[arg(long, value_name = "SERVICE=WARM,EXTRA,TAU", value_parser = parse_after_idle)]
    pub cpu_after_idle: Vec<(String, [f64; 3])>,
    /// Set what traces cannot tell, e.g. --set services.user.workers=8 (repeatable; applied to
    /// the written model and checked with it).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<Override>,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Two or more model files (open workloads; with a [cost] table, costs are compared too).
    #[arg(required = true, num_args = 2..)]
    pub models: Vec<PathBuf>,
    /// A service-level objective, as for `capacity` (repeatable).
    #[arg(long, value_name = "SLO", required = true, value_parser = parse_slo)]
    pub slo: Vec<crate::planning::Slo>,
    /// The loads to compare at: start:stop:step, log:start:stop:count, or a list a,b,c
    /// [default: 12 loads from 10% to 120% of the highest saturation rate of the models].
    #[arg(long, value_name = "SPEC")]
    pub rate: Option<String>,
    /// The load of the table's p50, p99, right-sized instances and cost [default: the first
    /// model's rate].
    #[arg(long, value_name = "REQ_PER_S")]
    pub reference: Option<f64>,
    /// Replications per configuration tried.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..=10_000))]
    pub reps: u32,
    /// Override a value in every model, e.g. --set simulation.duration_s=30 (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<Override>,
    /// Where to write [default: output/compare/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub charts: ChartArgs,
    #[command(flatten)]
    pub runner: Runner,
}

#[derive(Debug, Args)]
pub struct RightsizeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The arrival rate to size for, in requests per second [default: the model's].
    #[arg(long, value_name = "REQ_PER_S")]
    pub rate: Option<f64>,
    /// A service-level objective, as for `capacity` (repeatable).
    #[arg(long, value_name = "SLO", required = true, value_parser = parse_slo)]
    pub slo: Vec<crate::planning::Slo>,
    /// Replications per configuration tried.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(2..=10_000))]
    pub reps: u32,
    /// Where to write rightsized.toml [default: output/<model name>/rightsize/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub runner: Runner,
}

#[derive(Debug, Args)]
pub struct CapacityArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// A service-level objective: [ROUTE:]METRIC<=LIMIT, METRIC one of mean, p50, p90, p95,
    /// p99, p999, errors; e.g. "p99<=50ms", "errors<=0.1%", "order.create_order:p99<=80ms"
    /// (repeatable).
    #[arg(long, value_name = "SLO", required = true, value_parser = parse_slo)]
    pub slo: Vec<crate::planning::Slo>,
    /// Replications per rate tried.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(2..=10_000))]
    pub reps: u32,
    /// Where to write capacity.csv [default: output/<model name>/capacity/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub runner: Runner,
    #[command(flatten)]
    pub charts: ChartArgs,
}

fn parse_slo(s: &str) -> Result<crate::planning::Slo, String> {
    s.parse()
}

/// Which model, and changes to it.
#[derive(Debug, Args, Default)]
pub struct ModelArgs {
    /// The model file (TOML). Without it, the built-in gateway → user/order model.
    pub model: Option<PathBuf>,
    /// Override a model value by its dotted path, e.g. --set services.user.instances=3 (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<Override>,
    /// The random seed (same as --set simulation.seed=N).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Shortcuts for the two values users change most.
#[derive(Debug, Args, Default, Clone)]
pub struct Shortcuts {
    /// The arrival rate in requests per second (same as --set workload.rate_per_s=R).
    #[arg(long, value_name = "REQ_PER_S")]
    pub rate: Option<f64>,
    /// Simulated seconds (same as --set simulation.duration_s=S).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
}

impl Shortcuts {
    /// The overrides these stand for (validated with the model, like any `--set`).
    pub fn overrides(&self) -> Vec<Override> {
        let set = |path: [&str; 2], v: f64| Override {
            path: path.map(String::from).to_vec(),
            value: crate::report::number(v),
        };
        self.rate
            .map(|r| set(["workload", "rate_per_s"], r))
            .into_iter()
            .chain(self.duration.map(|d| set(["simulation", "duration_s"], d)))
            .collect()
    }
}

/// How a planning command runs: threads and output.
#[derive(Debug, Args, Default, Clone)]
pub struct Runner {
    /// Threads to use [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub jobs: Option<u32>,
    /// Print only warnings and errors.
    #[arg(long, short)]
    pub quiet: bool,
}

impl Runner {
    /// A thread pool of `--jobs` threads (all cores by default).
    pub fn pool(&self) -> Result<rayon::ThreadPool, Error> {
        let threads = self
            .jobs
            .map_or_else(rayon::current_num_threads, |j| j as usize);
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::Usage(format!("cannot start {threads} threads: {e}")))
    }
}

/// Guards against runaway runs.
#[derive(Debug, Args, Default, Clone)]
pub struct LimitArgs {
    /// Stop a run when this many requests are in flight (an overloaded model with unbounded
    /// queues) [default: 1000000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_in_flight: Option<u64>,
    /// Stop a run after this many events.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_events: Option<u64>,
    /// Stop a run after this many seconds of wall-clock time.
    #[arg(long, value_name = "SECONDS")]
    pub max_wall_s: Option<f64>,
}

impl LimitArgs {
    fn limits(&self) -> Result<sim::Limits, Error> {
        if let Some(w) = self.max_wall_s
            && !(w.is_finite() && w > 0.0)
        {
            return Err(Error::Usage(format!(
                "--max-wall-s must be a number of seconds > 0, got {w}"
            )));
        }
        Ok(sim::Limits {
            max_in_flight: self.max_in_flight.unwrap_or(sim::DEFAULT_MAX_IN_FLIGHT),
            max_events: self.max_events,
            max_wall_s: self.max_wall_s,
        })
    }
}

/// How charts are drawn.
#[derive(Debug, Args, Default, Clone)]
pub struct ChartArgs {
    /// Chart size in pixels [default: 1200x800].
    #[arg(long, value_name = "WxH", value_parser = crate::chart::parse_size)]
    pub size: Option<(u32, u32)>,
    /// Logarithmic latency (y) axis, for latencies that span decades.
    #[arg(long)]
    pub log_y: bool,
    /// Logarithmic x axis (e.g. the latency axis of the CDF).
    #[arg(long)]
    pub log_x: bool,
    /// Write no charts and no report.html.
    #[arg(long)]
    pub no_charts: bool,
}

impl ChartArgs {
    fn style(&self) -> crate::chart::Style {
        let (width, height) = self.size.unwrap_or((1200, 800));
        crate::chart::Style {
            width,
            height,
            log_y: self.log_y,
            log_x: self.log_x,
        }
    }
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// An output folder of `meshsim run`, `sweep` or `merge`.
    pub dir: PathBuf,
    /// Custom chart: the parameter on the x axis (a varied path).
    #[arg(long, value_name = "PATH")]
    pub x: Option<String>,
    /// Custom chart: the metric on the y axis (a points.csv column) [default: p99_ms].
    #[arg(long, value_name = "METRIC")]
    pub y: Option<String>,
    /// Custom chart: one series per value of this parameter.
    #[arg(long, value_name = "PATH")]
    pub series: Option<String>,
    /// The route whose rows are drawn.
    #[arg(long, default_value = "all")]
    pub route: String,
    #[command(flatten)]
    pub charts: ChartArgs,
}

/// Parses a time-series interval: `1s`, `500ms` or `2m` (a bare number is refused: seconds or
/// milliseconds would be a guess).
fn parse_sampled(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 1.0 => Ok(x),
        _ => Err(format!(
            "`{s}` is not a sampling fraction: give a number above 0 and at most 1, e.g. 0.01 when one request in a hundred was traced"
        )),
    }
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!(
            "`{s}` is not a fraction: give a number from 0 to 1, e.g. 0.01 for 1% of the requests, 1 for all"
        )),
    }
}

fn parse_interval(s: &str) -> Result<crate::engine::SimTime, String> {
    let t = s.trim();
    let (num, scale) = if let Some(v) = t.strip_suffix("ms") {
        (v, 1e-3)
    } else if let Some(v) = t.strip_suffix('s') {
        (v, 1.0)
    } else if let Some(v) = t.strip_suffix('m') {
        (v, 60.0)
    } else {
        return Err(format!(
            "`{s}` has no unit: write it with one, such as {s}s, {s}ms or {s}m"
        ));
    };
    match num.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x * scale >= 1e-6 => {
            Ok(crate::engine::SimTime::from_secs_f64(x * scale))
        }
        _ => Err(format!("`{s}` is not an interval such as 1s, 500ms or 2m")),
    }
}

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub shortcuts: Shortcuts,
    /// Record a time series with this interval (e.g. 1s, 500ms): timeseries.csv and its chart.
    #[arg(long, value_name = "INTERVAL", value_parser = parse_interval)]
    pub timeseries: Option<crate::engine::SimTime>,
    /// Trace this share of the measured requests (0 to 1, chosen from the seed): every server
    /// and client span, written as traces.json (OTLP/JSON), traces.jaeger.json (Jaeger UI) and
    /// traces.perfetto.json (Perfetto, chrome://tracing).
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction)]
    pub traces: Option<f64>,
    /// Also trace the N slowest measured requests (written with --traces' files).
    #[arg(long, value_name = "N")]
    pub traces_slowest: Option<u32>,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub charts: ChartArgs,
    /// Where to write the results [default: output/<model name>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print only errors and warnings.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Also simulate the model and print each number beside its simulated mean and 95% CI.
    #[arg(long)]
    pub simulate: bool,
    /// Replications for --simulate (seeds derived from the model's seed).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(2..=10_000))]
    pub reps: u32,
    /// Where to write analysis.csv (every number, however many the terminal leaves out)
    /// [default: output/<model name>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args, Default)]
pub struct SweepArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub shortcuts: Shortcuts,
    /// Judge every point against a service-level objective, as `capacity` does (repeatable):
    /// slo.csv, a summary under the table, and the limit drawn on the latency chart.
    #[arg(long, value_name = "SLO", value_parser = parse_slo)]
    pub slo: Vec<crate::planning::Slo>,
    /// A parameter to vary: PATH=start:stop:step, PATH=log:start:stop:count or PATH=a,b,c
    /// (repeatable: the points are the cartesian product). Without it, the model's [sweep] table.
    #[arg(long, value_name = "PATH=SPEC", value_parser = crate::sweep::parse_vary)]
    pub vary: Vec<crate::sweep::Axis>,
    /// Independent replications per point [default: the [sweep] table's reps, or 3].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub reps: Option<u32>,
    /// Threads to use [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub jobs: Option<u32>,
    /// Where to write [default: output/<model name>/sweep/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the points and run nothing.
    #[arg(long)]
    pub list: bool,
    /// Run only shard K of N (K/N, K from 1), or N alone with the 0-based index from
    /// JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID (never offset by SLURM_ARRAY_TASK_MIN).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Keep the points already written to --out by the same sweep; run only the rest.
    #[arg(long)]
    pub resume: bool,
    /// Allow more than 100,000 points.
    #[arg(long)]
    pub force: bool,
    /// Print only warnings and errors.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub charts: ChartArgs,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Output folders of the shards of one sweep.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Where to write the combined result.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Merge even if some points are in no folder (they are listed in the warning and in
    /// sweep.json's points_missing); without it, a missing point fails the merge with exit 1.
    #[arg(long)]
    pub allow_missing: bool,
    #[command(flatten)]
    pub charts: ChartArgs,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Services in the model.
    #[arg(long, default_value_t = 10_000)]
    pub services: usize,
    /// Routes in the workload's mix.
    #[arg(long, default_value_t = 3_000)]
    pub routes: usize,
    /// Arrival rate, requests per second.
    #[arg(long, default_value_t = 20_000.0)]
    pub rate: f64,
    /// Simulated seconds.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Seed of the generator (and of the model's runs).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The file to write.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Output folder [default: output/<model name>].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Where to write validation.csv.
    #[arg(long, value_name = "DIR", default_value = "output/validation")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The file to create.
    pub path: PathBuf,
    /// Overwrite the file if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Prints the model's JSON Schema; a reader that stops early (`| head`) is not an error.
fn print_schema() -> Result<(), Error> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(crate::model::schema::json().as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Failed(format!("cannot print the schema: {e}")))
        }
        _ => Ok(()),
    }
}

/// Runs the parsed command line.
pub fn execute(cli: Cli) -> Result<(), Error> {
    interrupt::install_handler();
    match cli.command {
        None => main_job(),
        Some(Command::Run(args)) => run(args),
        Some(Command::Check(args)) => check(args),
        Some(Command::Init(args)) => init(args),
        Some(Command::Schema) => print_schema(),
        Some(Command::Graph(args)) => graph(args),
        Some(Command::Generate(args)) => commands::generate(args),
        Some(Command::Analyze(args)) => analyze(args),
        Some(Command::Validate(args)) => validate(args),
        Some(Command::Sweep(args)) => sweep(args),
        Some(Command::Merge(args)) => merge(args),
        Some(Command::Plot(args)) => plot(args),
        Some(Command::Capacity(args)) => planning::capacity(args),
        Some(Command::Rightsize(args)) => planning::rightsize(args),
        Some(Command::Compare(args)) => planning::compare(args),
        Some(Command::Import(args)) => commands::import(args),
        Some(Command::Predict(args)) => planning::predict(args),
    }
}

impl ModelArgs {
    /// The `--set` overrides, with `--seed` as one more.
    pub fn overrides(&self) -> Vec<Override> {
        let mut overrides = self.set.clone();
        if let Some(seed) = self.seed {
            overrides.push(Override {
                path: vec!["simulation".into(), "seed".into()],
                value: seed.to_string(),
            });
        }
        overrides
    }

    /// The model file's text (or the built-in model's).
    pub fn text(&self) -> Result<model::ModelText, Error> {
        Ok(match &self.model {
            Some(path) => model::ModelText::read(path)?,
            None => model::ModelText::builtin(),
        })
    }

    /// Loads and validates the model with its overrides.
    pub fn load(&self) -> Result<Model, Error> {
        Ok(self.text()?.load(&self.overrides())?)
    }
}
