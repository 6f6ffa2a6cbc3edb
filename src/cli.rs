//! Command-line interface: clap definitions, and the commands they run.

use crate::error::Error;
use crate::model::{self, Model, Override, Workload};
use crate::{analysis, report, sim};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};

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

/// Parses a time-series interval: `1s`, `500ms`, `2m`, or seconds.
fn parse_interval(s: &str) -> Result<crate::engine::SimTime, String> {
    let t = s.trim();
    let (num, scale) = if let Some(v) = t.strip_suffix("ms") {
        (v, 1e-3)
    } else if let Some(v) = t.strip_suffix('s') {
        (v, 1.0)
    } else if let Some(v) = t.strip_suffix('m') {
        (v, 60.0)
    } else {
        (t, 1.0)
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
    /// Record a time series with this interval (e.g. 1s, 500ms): timeseries.csv and its chart.
    #[arg(long, value_name = "INTERVAL", value_parser = parse_interval)]
    pub timeseries: Option<crate::engine::SimTime>,
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
}

#[derive(Debug, Args, Default)]
pub struct SweepArgs {
    #[command(flatten)]
    pub model: ModelArgs,
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
    /// Run only shard K of N (K/N, K from 1), or N alone with the index from
    /// JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID.
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
    #[command(flatten)]
    pub charts: ChartArgs,
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

/// Runs the parsed command line.
pub fn execute(cli: Cli) -> Result<(), Error> {
    crate::interrupt::install_handler();
    match cli.command {
        None => main_job(),
        Some(Command::Run(args)) => run(args),
        Some(Command::Check(args)) => check(args),
        Some(Command::Init(args)) => init(args),
        Some(Command::Analyze(args)) => analyze(args),
        Some(Command::Validate(args)) => validate(args),
        Some(Command::Sweep(args)) => sweep(args),
        Some(Command::Merge(args)) => merge(args),
        Some(Command::Plot(args)) => plot(args),
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

/// Prints a warning for every saturated station.
fn warn_saturation(load: &analysis::OfferedLoad, model: &Model) {
    for s in load.saturated() {
        let limit = model
            .services
            .iter()
            .find(|x| x.name == s.name)
            .and_then(|x| x.queue_capacity)
            .map_or(
                "without bound (queue_capacity is unlimited)".to_string(),
                |c| format!("until it holds {c} calls per instance, then reject"),
            );
        eprintln!(
            "warning: `{}` is saturated: utilisation {:.2} ≥ 1 ({:.1} calls/s on {} workers at {:.3} ms each); its queue will grow {limit}",
            s.name, s.utilisation, s.arrival_rate_per_s, s.servers, s.mean_service_ms
        );
    }
}

fn run(args: RunArgs) -> Result<(), Error> {
    let text = args.model.text()?;
    let sets = args.model.overrides();
    let model = text.load(&sets)?;
    warn_saturation(&analysis::offered_load(&model), &model);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("output").join(&model.name));
    if !args.quiet {
        println!(
            "meshsim {}: simulating `{}` ({}), seed {}, {} s ({} s warm-up)",
            env!("CARGO_PKG_VERSION"),
            model.name,
            model.source.file,
            model.seed,
            model.duration.as_secs_f64(),
            model.warmup.as_secs_f64()
        );
    }
    let options = sim::Options {
        timeseries: args.timeseries,
        limits: args.limits.limits()?,
    };
    let result = sim::simulate_with(&model, &options);
    let mut written = report::write_run(&out, &model, &result)?;
    let model_toml = out.join("model.toml");
    report::write_atomic(&model_toml, text.effective_text(&sets)?.as_bytes())?;
    written.push(model_toml);
    if !args.charts.no_charts {
        written.extend(draw_charts(
            &out,
            &args.charts.style(),
            "all",
            &format!("{}: one run", model.name),
        )?);
    }
    if !args.quiet {
        println!(
            "{} events in {:.2} s of wall time ({:.1} M events/s)\n",
            result.events,
            result.wall_s,
            result.events as f64 / result.wall_s.max(1e-9) / 1e6
        );
        print!("{}", report::summary_table(&result));
        let names: Vec<String> = written
            .iter()
            .filter_map(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
            .collect();
        println!("\nwrote {}/{{{}}}", out.display(), names.join(", "));
    }
    match &result.stopped {
        None => Ok(()),
        Some(sim::Stop::Interrupted) => Err(Error::Interrupted(format!(
            "stopped at t = {:.3} s; the partial results in {} cover the simulated time up to then",
            result.end_s,
            out.display()
        ))),
        Some(stop) => Err(Error::Failed(format!(
            "the run stopped early at t = {:.3} s: {stop}. The partial results in {} cover the simulated time up to then",
            result.end_s,
            out.display()
        ))),
    }
}

fn check(args: ModelArgs) -> Result<(), Error> {
    let model = args.load()?;
    let load = analysis::offered_load(&model);
    println!("{}: valid model `{}`", model.source.file, model.name);
    println!(
        "{} routes, {} services, {} links; {} s simulated ({} s warm-up), seed {}\n",
        model.routes.len(),
        model.services.len() - 1,
        model.links.len(),
        model.duration.as_secs_f64(),
        model.warmup.as_secs_f64(),
        model.seed
    );
    print!("{}", report::load_table(&load));
    warn_saturation(&load, &model);
    Ok(())
}

fn init(args: InitArgs) -> Result<(), Error> {
    if args.path.exists() && !args.force {
        return Err(Error::Usage(format!(
            "`{}` already exists; choose another name or pass --force to overwrite it",
            args.path.display()
        )));
    }
    report::write_atomic(&args.path, model::BUILTIN_MODEL.as_bytes())?;
    println!(
        "wrote the built-in model to {}; edit it, then: meshsim run {}",
        args.path.display(),
        args.path.display()
    );
    Ok(())
}

fn analyze(args: AnalyzeArgs) -> Result<(), Error> {
    let model = args.model.load()?;
    let analysis = analysis::analyze(&model);
    println!("{}: `{}`", model.source.file, model.name);
    if args.simulate {
        let runs = sim::replicate(&model, args.reps);
        let simulated = report::Simulated {
            model: &model,
            runs: &runs,
        };
        print!("{}", report::analysis_table(&analysis, Some(&simulated)));
    } else {
        print!("{}", report::analysis_table(&analysis, None));
    }
    Ok(())
}

fn validate(args: ValidateArgs) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let cases = crate::validation::suite();
    eprintln!(
        "running {} reference cases ({} simulations) on {} threads…",
        cases.len(),
        cases.iter().map(|c| c.reps).sum::<u32>(),
        rayon::current_num_threads()
    );
    let rows = crate::validation::run(&cases);
    print!("{}", report::validation_table(&rows));
    let failed = rows.iter().filter(|r| !r.pass).count();
    let path = args.out.join("validation.csv");
    std::fs::create_dir_all(&args.out).map_err(|source| report::OutputError::Io {
        path: args.out.clone(),
        source,
    })?;
    report::write_atomic(&path, &report::validation_csv(&rows))?;
    println!(
        "\n{} of {} checks passed in {:.1} s; wrote {}",
        rows.len() - failed,
        rows.len(),
        started.elapsed().as_secs_f64(),
        path.display()
    );
    if failed > 0 {
        return Err(Error::Failed(format!("{failed} validation checks failed")));
    }
    Ok(())
}

/// `meshsim` with no arguments: sweep the built-in model's arrival rate from 10% to 95% of its
/// capacity (the bottleneck's), 3 replications per point.
fn main_job() -> Result<(), Error> {
    let base = model::load_builtin(&[])?;
    let Workload::Open { rate_per_s } = base.workload else {
        unreachable!("the built-in workload is open");
    };
    let load = analysis::offered_load(&base);
    let bottleneck = load
        .stations
        .iter()
        .map(|s| s.utilisation)
        .fold(0.0, f64::max);
    let capacity = rate_per_s / bottleneck;
    let fractions = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
    let values = fractions
        .iter()
        .map(|f| crate::sweep::format_value((f * capacity * 1000.0).round() / 1000.0))
        .collect();
    println!(
        "meshsim {}: sweeping the built-in model `{}` over workload.rate_per_s from 10% to 95% of its capacity ({capacity:.0} req/s), 3 replications per point",
        env!("CARGO_PKG_VERSION"),
        base.name
    );
    println!(
        "(for a single run: meshsim run; for your own model: meshsim sweep MODEL --vary PATH=SPEC; see --help)\n"
    );
    sweep(SweepArgs {
        vary: vec![crate::sweep::Axis {
            path: "workload.rate_per_s".into(),
            values,
        }],
        reps: Some(3),
        ..SweepArgs::default()
    })
}

fn sweep(args: SweepArgs) -> Result<(), Error> {
    let text = args.model.text()?;
    let sets = args.model.overrides();
    let base = text.load(&sets)?;
    let table = base.sweep.clone().unwrap_or_default();
    let axes = if args.vary.is_empty() {
        table
            .vary
            .iter()
            .map(|(path, spec)| {
                crate::sweep::expand(spec)
                    .map(|values| crate::sweep::Axis {
                        path: path.clone(),
                        values,
                    })
                    .map_err(|e| Error::Usage(format!("{}: [sweep] vary {path}: {e}", text.file)))
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        args.vary.clone()
    };
    let grid = crate::sweep::Grid::new(axes, args.force)?;
    let shard = args
        .shard
        .as_deref()
        .map(|s| crate::sweep::Shard::parse(s, |k| std::env::var(k).ok()))
        .transpose()
        .map_err(Error::Usage)?;
    let plan = crate::sweep::Plan {
        options: sim::Options {
            timeseries: None,
            limits: args.limits.limits()?,
        },
        text,
        sets,
        base,
        grid,
        reps: args.reps.or(table.reps).unwrap_or(3),
        shard,
    };
    plan.check()?;
    if args.list {
        print!("{}", list_points(&plan));
        return Ok(());
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("output").join(&plan.base.name).join("sweep"));
    let threads = args
        .jobs
        .map_or_else(rayon::current_num_threads, |j| j as usize);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Usage(format!("cannot start {threads} threads: {e}")))?;
    let ids = plan.ids().len();
    if !args.quiet {
        println!(
            "sweep {}: {} points × {} replications{} on {threads} threads → {}",
            plan.sweep_id(),
            ids,
            plan.reps,
            plan.shard
                .map(|s| format!(
                    " (shard {}/{} of {} points)",
                    s.index + 1,
                    s.count,
                    plan.grid.len()
                ))
                .unwrap_or_default(),
            out.display()
        );
    }
    let mut outcome = pool.install(|| crate::sweep::run(&plan, &out, args.resume, args.quiet))?;
    let model_toml = out.join("model.toml");
    report::write_atomic(
        &model_toml,
        plan.text.effective_text(&plan.sets)?.as_bytes(),
    )?;
    if !args.charts.no_charts {
        let title = format!(
            "{}: sweep of {}",
            plan.base.name,
            plan.grid
                .axes
                .iter()
                .map(|a| a.path.as_str())
                .collect::<Vec<_>>()
                .join(" × ")
        );
        outcome
            .files
            .extend(pool.install(|| draw_charts(&out, &args.charts.style(), "all", &title))?);
    }
    if !args.quiet {
        if outcome.resumed > 0 {
            println!(
                "resumed: {} points were already done, ran {}",
                outcome.resumed, outcome.ran
            );
        }
        print!(
            "{}",
            sweep_table(&out.join("points.csv")).unwrap_or_default()
        );
        let names: Vec<String> = outcome
            .files
            .iter()
            .filter_map(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
            .collect();
        println!(
            "\n{} runs in {:.1} s; wrote {}/{{{}}} and points/ (one file per point)",
            outcome.ran * plan.reps as usize,
            outcome.wall_time_s,
            out.display(),
            names.join(", ")
        );
    }
    Ok(())
}

/// The points of a sweep, one line each (for --list).
fn list_points(plan: &crate::sweep::Plan) -> String {
    let mut s = String::new();
    let axes = &plan.grid.axes;
    let widths: Vec<usize> = axes
        .iter()
        .map(|a| {
            a.values
                .iter()
                .map(String::len)
                .max()
                .unwrap_or(0)
                .max(a.path.len())
        })
        .collect();
    s.push_str(&format!("{:>8}", "point"));
    for (a, w) in axes.iter().zip(&widths) {
        s.push_str(&format!("  {:>w$}", a.path));
    }
    s.push('\n');
    for id in plan.ids() {
        s.push_str(&format!("{id:>8}"));
        for (v, w) in plan.grid.values(id).iter().zip(&widths) {
            s.push_str(&format!("  {v:>w$}"));
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "{} points × {} replications = {} runs{}\n",
        plan.ids().len(),
        plan.reps,
        plan.ids().len() * plan.reps as usize,
        plan.shard
            .map(|sh| format!(" (shard {}/{})", sh.index + 1, sh.count))
            .unwrap_or_default()
    ));
    s
}

/// The `all` rows of points.csv: parameters, throughput, error rate, mean and p99 with their CIs.
fn sweep_table(points_csv: &Path) -> Option<String> {
    let mut r = csv::Reader::from_path(points_csv).ok()?;
    let header = r.headers().ok()?.clone();
    let col = |name: &str| header.iter().position(|h| h == name);
    let route = col("route")?;
    let params: Vec<usize> = (1..route).collect();
    let shown = ["throughput_rps", "error_rate", "mean_ms", "p99_ms"];
    let mut s = String::new();
    let names: Vec<&str> = params.iter().map(|&i| &header[i]).collect();
    let widths: Vec<usize> = names.iter().map(|n| n.len().max(8)).collect();
    for (n, w) in names.iter().zip(&widths) {
        s.push_str(&format!("{n:>w$}  "));
    }
    for m in shown {
        s.push_str(&format!("{:>22}", format!("{m} (±95%)")));
    }
    s.push('\n');
    for rec in r.records().flatten() {
        if &rec[route] != "all" {
            continue;
        }
        for (&i, w) in params.iter().zip(&widths) {
            s.push_str(&format!("{:>w$}  ", &rec[i]));
        }
        for m in shown {
            let v: f64 = rec[col(m)?].parse().unwrap_or(f64::NAN);
            let ci: f64 = rec[col(&format!("{m}_ci95"))?].parse().unwrap_or(f64::NAN);
            s.push_str(&format!("{:>22}", format!("{v:.3} ±{ci:.3}")));
        }
        s.push('\n');
    }
    Some(s)
}

fn merge(args: MergeArgs) -> Result<(), Error> {
    let (outcome, missing) = crate::sweep::merge(&args.shards, &args.out)?;
    if let Ok(model) = std::fs::read(args.shards[0].join("model.toml")) {
        report::write_atomic(&args.out.join("model.toml"), &model)?;
    }
    if !args.charts.no_charts {
        draw_charts(&args.out, &args.charts.style(), "all", "merged sweep")?;
    }
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(20).map(|m| m.to_string()).collect();
        eprintln!(
            "warning: {} points are missing (not in any shard): {}{}",
            missing.len(),
            shown.join(", "),
            if missing.len() > 20 { ", …" } else { "" }
        );
    }
    print!(
        "{}",
        sweep_table(&args.out.join("points.csv")).unwrap_or_default()
    );
    println!(
        "\nmerged {} points from {} folders into {}",
        outcome.resumed,
        args.shards.len(),
        args.out.display()
    );
    Ok(())
}

/// Draws every chart the files in `dir` allow (sweep or run) and writes report.html.
fn draw_charts(
    dir: &Path,
    style: &crate::chart::Style,
    route: &str,
    title: &str,
) -> Result<Vec<PathBuf>, Error> {
    let figures = if dir.join("points.csv").is_file() {
        crate::chart::sweep::figures(dir, route, style)
    } else {
        crate::chart::run::figures(dir, style)
    }
    .map_err(Error::Usage)?;
    let written: Vec<Vec<PathBuf>> = {
        use rayon::prelude::*;
        figures
            .par_iter()
            .map(|f| crate::chart::write_figure(dir, f, style))
            .collect::<Result<_, _>>()?
    };
    let mut files: Vec<PathBuf> = written.into_iter().flatten().collect();
    let svgs: Vec<PathBuf> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .cloned()
        .collect();
    files.push(report::write_report(
        dir,
        title,
        &report::command_line(),
        &svgs,
    )?);
    Ok(files)
}

fn plot(args: PlotArgs) -> Result<(), Error> {
    if !args.dir.is_dir() {
        return Err(Error::Usage(format!(
            "`{}` is not a folder",
            args.dir.display()
        )));
    }
    let style = args.charts.style();
    let files = match &args.x {
        Some(x) => {
            let y = args.y.as_deref().unwrap_or("p99_ms");
            let figure = crate::chart::sweep::custom(
                &args.dir,
                x,
                y,
                args.series.as_deref(),
                &args.route,
                &style,
            )
            .map_err(Error::Usage)?;
            crate::chart::write_figure(&args.dir, &figure, &style)?
        }
        None => {
            if args.y.is_some() || args.series.is_some() {
                return Err(Error::Usage("--y and --series go with --x".into()));
            }
            let title = format!(
                "{}: {}",
                crate::chart::model_name(&args.dir),
                if args.dir.join("points.csv").is_file() {
                    "sweep"
                } else {
                    "one run"
                }
            );
            draw_charts(&args.dir, &style, &args.route, &title)?
        }
    };
    for f in &files {
        println!("wrote {}", f.display());
    }
    Ok(())
}
