//! The commands over many runs: the default job, sweep and merge.

use super::*;
/// `meshsim` with no arguments: sweep the built-in model's arrival rate from 10% to 95% of its
/// capacity (the bottleneck's), 3 replications per point.
pub(super) fn main_job() -> Result<(), Error> {
    let base = model::load_builtin(&[])?;
    let Workload::Open { rate_per_s, .. } = base.workload else {
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

pub(super) fn sweep(args: SweepArgs) -> Result<(), Error> {
    let text = args.model.text()?;
    let sets = [args.model.overrides(), args.shortcuts.overrides()].concat();
    let base = text.load(&sets)?;
    super::commands::warn_uncalled(&base);
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
            breakdown: false,
            timeseries: None,
            limits: args.limits.limits()?,
            cancel: super::interrupt::cancel(),
            traces: None,
        },
        text,
        sets,
        base,
        grid,
        reps: args.reps.or(table.reps).unwrap_or(3),
        shard,
        command: report::command_line(),
    };
    plan.check()?;
    for s in &args.slo {
        s.check(&plan.base).map_err(Error::Usage)?;
    }
    if args.list {
        print!("{}", list_points(&plan));
        return Ok(());
    }
    let out = super::output_dir(args.out.as_ref(), || {
        Path::new("output").join(&plan.base.name).join("sweep")
    })?;
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
    if !args.slo.is_empty() {
        outcome
            .files
            .push(crate::sweep::write_slo_csv(&out, &args.slo)?);
    } else {
        // A verdict left in the folder by an earlier sweep with --slo is not this sweep's.
        let _ = std::fs::remove_file(out.join("slo.csv"));
    }
    let model_toml = out.join("model.toml");
    crate::output::write_atomic(
        &model_toml,
        plan.text.effective_text(&plan.sets)?.as_bytes(),
    )?;
    if !args.charts.no_charts {
        let title = crate::chart::sweep::title(
            &plan.base.name,
            plan.grid.axes.iter().map(|a| a.path.as_str()),
        );
        outcome
            .files
            .extend(pool.install(|| draw_charts(&out, &args.charts.style(), "all", &title, None))?);
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
        print!(
            "{}",
            stores_table(&out.join("stores.csv")).unwrap_or_default()
        );
        print!("{}", slo_summary(&out.join("slo.csv")).unwrap_or_default());
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
pub(super) fn list_points(plan: &crate::sweep::Plan) -> String {
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

/// The points of a terminal message, at most [`LISTED`] of them and a count of the rest (every
/// one is in `file`): a sweep of hundreds of points printed every one, a wall of text.
fn listed(points: &[String], file: &str) -> String {
    let mut s = points
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if points.len() > LISTED {
        s.push_str(&format!(
            "; and {} more ({file} has every one)",
            points.len() - LISTED
        ));
    }
    s
}

/// Points a terminal message names before it counts the rest.
const LISTED: usize = 5;

/// Per SLO of `slo.csv`: the points that violate it or leave it undecided.
fn slo_summary(slo_csv: &Path) -> Option<String> {
    let mut r = csv::Reader::from_path(slo_csv).ok()?;
    let header = r.headers().ok()?.clone();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (slo, verdict) = (col("slo")?, col("verdict")?);
    let params: Vec<usize> = (1..slo).collect();
    let mut by_slo: Vec<(String, usize, Vec<String>, Vec<String>)> = Vec::new();
    for rec in r.records().flatten() {
        let name = rec[slo].to_string();
        let i = match by_slo.iter().position(|s| s.0 == name) {
            Some(i) => i,
            None => {
                by_slo.push((name, 0, Vec::new(), Vec::new()));
                by_slo.len() - 1
            }
        };
        let at: Vec<String> = params
            .iter()
            .map(|&p| format!("{}={}", &header[p], &rec[p]))
            .collect();
        by_slo[i].1 += 1;
        match &rec[verdict] {
            "violates" => by_slo[i].2.push(at.join(" ")),
            "undecided" => by_slo[i].3.push(at.join(" ")),
            _ => {}
        }
    }
    let mut s = String::new();
    for (name, n, bad, unsure) in by_slo {
        s.push_str(&format!(
            "SLO {name}: met at {} of {n} points",
            n - bad.len() - unsure.len()
        ));
        if !bad.is_empty() {
            s.push_str(&format!("; violated at {}", listed(&bad, "slo.csv")));
        }
        if !unsure.is_empty() {
            s.push_str(&format!("; undecided at {}", listed(&unsure, "slo.csv")));
        }
        s.push('\n');
    }
    Some(s)
}

/// The rows of stores.csv (models with a replicated store): parameters, store, stale share and
/// mean read and write latency with their CIs.
fn stores_table(stores_csv: &Path) -> Option<String> {
    let mut r = csv::Reader::from_path(stores_csv).ok()?;
    let header = r.headers().ok()?.clone();
    let col = |name: &str| header.iter().position(|h| h == name);
    let store = col("store")?;
    let params: Vec<usize> = (1..store).collect();
    let widths: Vec<usize> = params.iter().map(|&i| header[i].len().max(8)).collect();
    let mut s = String::from("\n");
    for (&i, w) in params.iter().zip(&widths) {
        s.push_str(&format!("{:>w$}  ", &header[i]));
    }
    s.push_str(&format!(
        "{:<8}{:>22}{:>24}{:>24}\n",
        "store", "stale reads (±95%)", "read mean ms (±95%)", "write mean ms (±95%)"
    ));
    for rec in r.records().flatten() {
        for (&i, w) in params.iter().zip(&widths) {
            s.push_str(&format!("{:>w$}  ", &rec[i]));
        }
        let cell = |m: &str, scale: f64, unit: &str| -> Option<String> {
            let v: f64 = rec[col(m)?].parse().unwrap_or(f64::NAN) * scale;
            let ci: f64 = rec[col(&format!("{m}_ci95"))?].parse().unwrap_or(f64::NAN) * scale;
            Some(if ci.is_finite() {
                format!("{v:.3}{unit} ±{ci:.3}{unit}")
            } else {
                format!("{v:.3}{unit}")
            })
        };
        s.push_str(&format!(
            "{:<8}{:>22}{:>24}{:>24}\n",
            &rec[store],
            cell("stale_share", 100.0, "%")?,
            cell("read_mean_ms", 1.0, "")?,
            cell("write_mean_ms", 1.0, "")?
        ));
    }
    Some(s)
}

/// The `all` rows of points.csv: parameters, throughput, error rate, mean and p99 with their CIs.
pub(super) fn sweep_table(points_csv: &Path) -> Option<String> {
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
    s.push_str("  saturated\n");
    let mut saturated = Vec::new();
    let mut no_interval = false;
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
            // One replication has no interval: print none rather than "±NaN".
            let cell = if ci.is_finite() {
                format!("{v:.3} ±{ci:.3}")
            } else {
                no_interval = true;
                format!("{v:.3}")
            };
            s.push_str(&format!("{cell:>22}"));
        }
        // Older sweeps' files have no saturation columns.
        let share: f64 = col("saturated")
            .and_then(|c| rec[c].parse().ok())
            .unwrap_or(0.0);
        let reps: f64 = rec[col("replications")?].parse().unwrap_or(0.0);
        if share > 0.0 {
            let backlog: f64 = col("backlog_share")
                .and_then(|c| rec[c].parse().ok())
                .unwrap_or(f64::NAN);
            s.push_str(&format!(
                "  YES ({:.0}/{reps:.0} runs, {:.1}% in flight)",
                share * reps,
                100.0 * backlog
            ));
            saturated.push(
                params
                    .iter()
                    .map(|&i| format!("{}={}", &header[i], &rec[i]))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        }
        s.push('\n');
    }
    if no_interval {
        s.push_str(
            "(one replication per point: no confidence interval; --reps 2 or more gives one)\n",
        );
    }
    if !saturated.is_empty() {
        s.push_str(&format!(
            "warning: {} point{} saturated (the backlog grew through the run): {}. {} latencies count completed requests only and understate the truth; see p99_with_backlog_ms and backlog_share in points.csv.\n",
            saturated.len(),
            if saturated.len() == 1 { " is" } else { "s are" },
            listed(&saturated, "points.csv"),
            if saturated.len() == 1 { "Its" } else { "Their" }
        ));
    }
    Some(s)
}

pub(super) fn merge(args: MergeArgs) -> Result<(), Error> {
    super::output_dir(Some(&args.out), PathBuf::new)?;
    let merged = crate::sweep::merge(&args.shards, &args.out, args.allow_missing)?;
    if let Ok(model) = std::fs::read(args.shards[0].join("model.toml")) {
        crate::output::write_atomic(&args.out.join("model.toml"), &model)?;
    }
    if !args.charts.no_charts {
        let title = super::commands::folder_title(&args.out);
        draw_charts(&args.out, &args.charts.style(), "all", &title, None)?;
    }
    let missing = &merged.missing;
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(20).map(|m| m.to_string()).collect();
        eprintln!(
            "warning: partial merge (--allow-missing): {} points are missing (not in any shard), listed in sweep.json as points_missing: {}{}",
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
        merged.outcome.resumed,
        args.shards.len(),
        args.out.display()
    );
    Ok(())
}
