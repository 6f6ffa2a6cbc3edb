//! The commands that run one model: run, check, init, analyze, validate, plot.

use super::*;
/// Warns about services no route or call reaches (they do no work, seldom what was meant) and
/// releases that start after the run ends.
pub(super) fn warn_uncalled(model: &Model) {
    for d in model.deployments.iter().filter(|d| d.at >= model.duration) {
        eprintln!(
            "warning: the release of `{}` starts at {} s, when the run has ended ({} s): it does not happen",
            model.services[d.service].name,
            d.at.as_secs_f64(),
            model.duration.as_secs_f64()
        );
    }
    let uncalled = model.uncalled_services();
    // One line each while they can be read; a model of thousands gets one line for them all.
    const NAMED: usize = 5;
    if uncalled.len() <= NAMED {
        for name in uncalled {
            eprintln!(
                "warning: service `{name}` is never called (no route of [[workload.mix]] and no endpoint's calls reach it): it does no work in this model"
            );
        }
    } else {
        eprintln!(
            "warning: {} services are never called (no route of [[workload.mix]] and no endpoint's calls reach them): they do no work in this model: {}, … and {} more",
            uncalled.len(),
            uncalled[..NAMED].join(", "),
            uncalled.len() - NAMED
        );
    }
}

/// Prints a warning for every saturated station (and those of [`warn_uncalled`]).
pub(super) fn warn_saturation(load: &analysis::OfferedLoad, model: &Model) {
    warn_uncalled(model);
    let saturated: Vec<_> = load.saturated().collect();
    if saturated.len() > 5 {
        eprintln!(
            "warning: {} services are saturated (utilisation ≥ 1); the 5 below are the first, `check` lists the busiest",
            saturated.len()
        );
    }
    for s in saturated.into_iter().take(5) {
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
            "warning: `{}` is saturated: utilisation {:.2} ≥ 1 ({:.1} calls/s on {} at {:.3} ms each); its queue will grow {limit}",
            s.name,
            s.utilisation,
            s.arrival_rate_per_s,
            report::counted(s.servers as usize, "worker"),
            s.mean_service_ms
        );
    }
}

pub(super) fn run(args: RunArgs) -> Result<(), Error> {
    let text = args.model.text()?;
    let sets = [args.model.overrides(), args.shortcuts.overrides()].concat();
    let model = text.load(&sets)?;
    warn_saturation(&analysis::offered_load(&model), &model);
    let out = super::output_dir(args.out.as_ref(), || Path::new("output").join(&model.name))?;
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
        breakdown: true,
        timeseries: args.timeseries,
        limits: args.limits.limits()?,
        cancel: super::interrupt::cancel(),
        traces: (args.traces.is_some() || args.traces_slowest.is_some()).then(|| {
            sim::TraceSampling {
                fraction: args.traces.unwrap_or(0.0),
                slowest: args.traces_slowest.unwrap_or(0),
            }
        }),
    };
    let result = sim::simulate_with(&model, &options);
    let mut written = report::write_run(&out, &model, &result)?;
    let model_toml = out.join("model.toml");
    crate::output::write_atomic(&model_toml, text.effective_text(&sets)?.as_bytes())?;
    written.push(model_toml);
    if !args.charts.no_charts {
        written.extend(draw_charts(
            &out,
            &args.charts.style(),
            "all",
            &format!("{}: one run", model.name),
            Some(&model),
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
        if let Some(c) = crate::cost::of_run(&model, &result) {
            println!(
                "\ncost at this load: {:.4} per hour, {:.4} per million successful requests (cost.csv)",
                c.per_hour, c.per_million_requests
            );
        }
        let names: Vec<String> = written
            .iter()
            .filter_map(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
            .collect();
        println!("\nwrote {}/{{{}}}", out.display(), names.join(", "));
    }
    let at = result.stopped_at_s.unwrap_or(result.end_s);
    let covered = if at < result.warmup_s {
        format!(
            "it stopped before its {} s warm-up ended, so the results in {} hold no measured request",
            result.warmup_s,
            out.display()
        )
    } else {
        format!(
            "the partial results in {} cover the simulated time up to then",
            out.display()
        )
    };
    match &result.stopped {
        None => Ok(()),
        Some(sim::Stop::Interrupted) => Err(Error::Interrupted(format!(
            "stopped at t = {at:.3} s; {covered}"
        ))),
        Some(stop) => Err(Error::Failed(format!(
            "the run stopped early at t = {at:.3} s: {stop}; {covered}"
        ))),
    }
}

pub(super) fn check(args: ModelArgs) -> Result<(), Error> {
    let model = args.load()?;
    let load = analysis::offered_load(&model);
    println!("{}: valid model `{}`", model.source.file, model.name);
    println!(
        "{}, {}, {}; {} s simulated ({} s warm-up), seed {}\n",
        report::counted(model.routes.len(), "route"),
        report::counted(model.services.len() - 1, "service"),
        report::counted(model.links.len(), "link"),
        model.duration.as_secs_f64(),
        model.warmup.as_secs_f64(),
        model.seed
    );
    print!("{}", report::load_table(&load));
    warn_saturation(&load, &model);
    Ok(())
}

pub(super) fn init(args: InitArgs) -> Result<(), Error> {
    if args.path.exists() && !args.force {
        return Err(Error::Usage(format!(
            "`{}` already exists; choose another name or pass --force to overwrite it",
            args.path.display()
        )));
    }
    // Named after the file, so that its results do not land in the built-in model's folder.
    let name = args
        .path
        .file_stem()
        .map_or("my-model".into(), |s| s.to_string_lossy().into_owned());
    let mut doc: toml_edit::DocumentMut = model::BUILTIN_MODEL
        .parse()
        .expect("the built-in model is valid TOML");
    doc["name"] = toml_edit::value(name);
    // Taplo-based editors (VS Code's Even Better TOML, Helix, Zed) read this line and complete
    // and check the model against the schema written beside it.
    let text = format!("#:schema ./{}\n{}", model::schema::FILE_NAME, doc);
    let schema_path = args
        .path
        .parent()
        .unwrap_or(std::path::Path::new(""))
        .join(model::schema::FILE_NAME);
    crate::output::write_atomic(&args.path, text.as_bytes())?;
    crate::output::write_atomic(&schema_path, model::schema::json().as_bytes())?;
    println!(
        "wrote the built-in model to {} (and its schema, for editors, to {}); edit it, then: meshsim run {}",
        args.path.display(),
        schema_path.display(),
        args.path.display()
    );
    Ok(())
}

pub(super) fn generate(args: GenerateArgs) -> Result<(), Error> {
    let spec = model::generate::Spec {
        services: args.services,
        routes: args.routes,
        rate_per_s: args.rate,
        duration_s: args.duration,
        seed: args.seed,
    };
    spec.check().map_err(Error::Usage)?;
    let text = model::generate::layered(&spec);
    crate::output::write_atomic(&args.out, text.as_bytes())?;
    println!(
        "wrote {}: {} services, {} routes, {} links, {} req/s for {} simulated s ({:.1} MB of TOML); next: meshsim check {}",
        args.out.display(),
        spec.services,
        spec.routes,
        text.matches("\n[links.").count(),
        spec.rate_per_s,
        spec.duration_s,
        text.len() as f64 / 1e6,
        args.out.display()
    );
    Ok(())
}

pub(super) fn graph(args: GraphArgs) -> Result<(), Error> {
    let model = args.model.load()?;
    let out = super::output_dir(args.out.as_ref(), || Path::new("output").join(&model.name))?;
    let topology = crate::chart::topology::Topology::from_analysis(&model);
    let files = crate::chart::topology::write(&out, &topology)?;
    if topology.nodes.len() > crate::chart::topology::MAX_DRAWN_NODES {
        println!(
            "{} boxes are too many to draw legibly: wrote the DOT file only (lay it out with Graphviz, e.g. `sfdp -Tsvg`)",
            topology.nodes.len()
        );
    }
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        .collect();
    println!(
        "{}\nwrote {}/{{{}}}",
        topology.subtitle,
        out.display(),
        names.join(", ")
    );
    Ok(())
}

pub(super) fn analyze(args: AnalyzeArgs) -> Result<(), Error> {
    let model = args.model.load()?;
    let out = super::output_dir(args.out.as_ref(), || Path::new("output").join(&model.name))?;
    let analysis = analysis::analyze(&model);
    println!("{}: `{}`", model.source.file, model.name);
    let simulated = args.simulate.then(|| {
        let options = sim::Options {
            cancel: super::interrupt::cancel(),
            ..sim::Options::default()
        };
        // Each replication's result reduced to what the table compares, as the run ends.
        let runs = sim::replicate_reduced(&model, model.seed, 0, 0..args.reps, &options, |_, r| {
            report::Observed::of(&model, &r)
        });
        report::Simulated { runs }
    });
    print!("{}", report::analysis_table(&analysis, simulated.as_ref()));
    std::fs::create_dir_all(&out).map_err(|source| crate::output::OutputError::Io {
        path: out.clone(),
        source,
    })?;
    let path = out.join("analysis.csv");
    crate::output::write_atomic(&path, &report::analysis_csv(&analysis, simulated.as_ref()))?;
    println!("\nwrote {}", path.display());
    Ok(())
}

pub(super) fn validate(args: ValidateArgs) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let cases = crate::validation::suite();
    eprintln!(
        "running {} reference cases ({} simulations) on {} threads…",
        cases.len(),
        cases.iter().map(|c| c.reps).sum::<u32>(),
        rayon::current_num_threads()
    );
    let options = sim::Options {
        cancel: super::interrupt::cancel(),
        ..sim::Options::default()
    };
    let rows = crate::validation::run(&cases, &options);
    print!("{}", report::validation_table(&rows));
    let failed = rows.iter().filter(|r| !r.pass).count();
    let path = args.out.join("validation.csv");
    std::fs::create_dir_all(&args.out).map_err(|source| crate::output::OutputError::Io {
        path: args.out.clone(),
        source,
    })?;
    crate::output::write_atomic(&path, &report::validation_csv(&rows))?;
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

/// Draws every chart the files in `dir` allow (sweep or run) and writes report.html. For a run,
/// the topology is drawn too, from `model` or else the folder's `model.toml`.
pub(super) fn draw_charts(
    dir: &Path,
    style: &crate::chart::Style,
    route: &str,
    title: &str,
    model: Option<&model::Model>,
) -> Result<Vec<PathBuf>, Error> {
    let is_run = ![
        "reality.csv",
        "compare_load.csv",
        "capacity_search.csv",
        "points.csv",
    ]
    .iter()
    .any(|f| dir.join(f).is_file());
    let mut files = Vec::new();
    if is_run {
        files.extend(run_topology(dir, model)?);
    }
    let figures = if dir.join("reality.csv").is_file() {
        crate::chart::measured::figures(dir)
    } else if dir.join("compare_load.csv").is_file() {
        crate::chart::compare::figures(dir)
    } else if dir.join("capacity_search.csv").is_file() {
        crate::chart::capacity::figures(dir)
    } else if dir.join("points.csv").is_file() {
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
    files.extend(written.into_iter().flatten());
    let svgs: Vec<PathBuf> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .cloned()
        .collect();
    files.push(report::write_report(
        dir,
        title,
        &report_command(dir),
        &svgs,
    )?);
    Ok(files)
}

/// `topology.{dot,svg,png}` of a run in `dir`, coloured by its results. Without `model`, the
/// folder's `model.toml` is loaded; when it cannot be (it names a file relative to where it was
/// first read), the topology is left as it is.
fn run_topology(dir: &Path, model: Option<&model::Model>) -> Result<Vec<PathBuf>, Error> {
    let loaded;
    let model = match model {
        Some(m) => m,
        None => match run_model(dir) {
            Some(m) => {
                loaded = m;
                &loaded
            }
            None => return Ok(Vec::new()),
        },
    };
    match crate::chart::topology::Topology::from_run(model, dir) {
        Ok(t) => Ok(crate::chart::topology::write(dir, &t)?),
        Err(_) => Ok(Vec::new()),
    }
}

/// The model of the run in `dir`: its `model.toml`, with the files it names (empirical
/// distributions) looked up beside the folder, or else beside the model file `run.json` names.
fn run_model(dir: &Path) -> Option<model::Model> {
    let text = std::fs::read_to_string(dir.join("model.toml")).ok()?;
    let file = dir.join("model.toml").display().to_string();
    let original = std::fs::read(dir.join("run.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("model_file")?.as_str().map(PathBuf::from));
    let bases = [
        Some(dir.to_path_buf()),
        original.and_then(|f| f.parent().map(Path::to_path_buf)),
    ];
    bases
        .into_iter()
        .flatten()
        .find_map(|base| model::load_str(&text, &file, &base, &[]).ok())
}

/// The command shown in `report.html`: the one that made the data (from `run.json` or
/// `sweep.json`), and this one too when it only redraws the charts (`meshsim plot`).
fn report_command(dir: &Path) -> String {
    let now = report::command_line();
    let made = ["run.json", "sweep.json"].iter().find_map(|f| {
        let bytes = std::fs::read(dir.join(f)).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        v.get("command")?.as_str().map(str::to_string)
    });
    match made {
        Some(made) if made != now && !made.is_empty() => {
            format!("{made}   (charts redrawn by: {now})")
        }
        _ => now,
    }
}

pub(super) fn plot(args: PlotArgs) -> Result<(), Error> {
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
            draw_charts(
                &args.dir,
                &style,
                &args.route,
                &folder_title(&args.dir),
                None,
            )?
        }
    };
    for f in &files {
        println!("wrote {}", f.display());
    }
    Ok(())
}

/// The title of an output folder's report, told from its files: as `run`, `sweep`, `capacity`,
/// `compare` or `predict` titled it when they wrote it.
pub(super) fn folder_title(dir: &Path) -> String {
    let model = crate::chart::model_name(dir);
    if dir.join("compare.csv").is_file() {
        "architectures compared".into()
    } else if dir.join("capacity.csv").is_file() {
        format!("{model}: capacity")
    } else if dir.join("reality.csv").is_file() {
        format!("{model}: measured and predicted")
    } else if let Ok(points) = crate::chart::sweep::Points::read(dir) {
        crate::chart::sweep::title(&model, points.parameter_names())
    } else {
        format!("{model}: one run")
    }
}

pub(super) fn import(args: super::ImportArgs) -> Result<(), Error> {
    use crate::traces::import;
    let stem = args
        .out
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("imported")
        .to_string();
    let name = import::infer::identifier(&stem).replace('_', "-");
    let data_dir = format!("{stem}-data");
    let imported = import::import(
        &args.traces,
        &name,
        &data_dir,
        import::Settings {
            sampled: args.sampled.unwrap_or(1.0),
            fit: args.fit,
            cpu: args.cpu.clone(),
            cpu_after_idle: args.cpu_after_idle.clone(),
        },
    )
    .map_err(|e| Error::Usage(e.to_string()))?;
    let base = args
        .out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    // Check the model before writing anything: its data files are read from memory.
    let unwritten = crate::model::Unwritten::new(&imported.written.files);
    let file = args.out.display().to_string();
    let text = crate::model::ModelText {
        text: imported.written.text.clone(),
        file: file.clone(),
        base_dir: base.clone(),
    };
    // The model must validate. One shaped by the user's `--set`, `--cpu` or `--cpu-after-idle`
    // may fail by their choice (a value out of range, CPU work without a host): reported as
    // `run --set` reports it. Without them, a failure is meshsim's.
    let shaped = !(args.set.is_empty() && args.cpu.is_empty() && args.cpu_after_idle.is_empty());
    let model = text
        .load_unwritten(&args.set, &unwritten)
        .map_err(|e| {
            if shaped {
                Error::from(e)
            } else {
                Error::Failed(format!(
                    "the imported model does not validate (a bug in meshsim import; please report it with the traces): {e}"
                ))
            }
        })?;
    let final_text = text.effective_text(&args.set)?;
    write_files(&base, &imported.written.files)?;
    crate::output::write_atomic(&args.out, final_text.as_bytes())?;
    for note in &imported.notes {
        eprintln!("note: {note}");
    }
    for fit in &imported.written.fits {
        eprintln!("fit: {fit}");
    }
    let d = &imported.draft;
    println!(
        "imported {} spans of {} traces: {} services, {} endpoints, {} links, {}",
        d.spans_used,
        d.traces,
        model.services.len() - 1,
        model.endpoints.len() - model.routes.len(),
        model.links.len(),
        imported_rate(d.rate_per_s, &model.workload)
    );
    if imported.written.files.is_empty() {
        println!("wrote {}", args.out.display());
    } else {
        println!(
            "wrote {} and {} samples files in {}",
            args.out.display(),
            imported.written.files.len(),
            base.join(&data_dir).display()
        );
    }
    println!(
        "next: meshsim check {0}; meshsim run {0}",
        args.out.display()
    );
    Ok(())
}

/// The traces' request rate, and the model's workload when `--set` made it another.
fn imported_rate(traced_per_s: f64, workload: &crate::model::Workload) -> String {
    use crate::report::significant3;
    let traced = format!("{} requests/s", significant3(traced_per_s));
    match workload {
        crate::model::Workload::Open { rate_per_s, .. }
            if significant3(*rate_per_s) == significant3(traced_per_s) =>
        {
            traced
        }
        crate::model::Workload::Open { rate_per_s, .. } => format!(
            "{traced} in the traces (the model offers {} requests/s, set by --set)",
            significant3(*rate_per_s)
        ),
        crate::model::Workload::Closed { users, .. } => {
            format!("{traced} in the traces (the model: {users} closed-loop users, set by --set)")
        }
    }
}

/// Writes `files` (paths relative to `base`) atomically, creating their folders.
fn write_files(base: &Path, files: &[(String, Vec<u8>)]) -> Result<(), Error> {
    Ok(crate::output::write_atomic_all(&placed(base, files)?)?)
}

/// `files` where they go under `base`, their folders created.
fn placed<'a>(
    base: &Path,
    files: &'a [(String, Vec<u8>)],
) -> Result<Vec<(PathBuf, &'a [u8])>, Error> {
    let mut paths = Vec::with_capacity(files.len());
    for (file, bytes) in files {
        let path = base.join(file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| crate::output::OutputError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        paths.push((path, bytes.as_slice()));
    }
    Ok(paths)
}
