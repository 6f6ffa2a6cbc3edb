//! Command-line interface: clap definitions, and the commands they run.

use crate::error::Error;
use crate::model::{self, Model, Override};
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

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub model: ModelArgs,
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
    match cli.command {
        None => run(RunArgs::default()),
        Some(Command::Run(args)) => run(args),
        Some(Command::Check(args)) => check(args),
        Some(Command::Init(args)) => init(args),
        Some(Command::Analyze(args)) => analyze(args),
        Some(Command::Validate(args)) => validate(args),
    }
}

impl ModelArgs {
    /// Loads and validates the model with its overrides.
    pub fn load(&self) -> Result<Model, Error> {
        let mut overrides = self.set.clone();
        if let Some(seed) = self.seed {
            overrides.push(Override {
                path: vec!["simulation".into(), "seed".into()],
                value: seed.to_string(),
            });
        }
        Ok(match &self.model {
            Some(path) => model::load_file(path, &overrides)?,
            None => model::load_builtin(&overrides)?,
        })
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
    let model = args.model.load()?;
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
    let result = sim::simulate(&model);
    let written = report::write_run(&out, &model, &result)?;
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
    Ok(())
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
