//! `capacity`, `rightsize` and `compare`: the planning commands.

use super::{CapacityArgs, CompareArgs, RightsizeArgs};
use crate::error::Error;
use crate::output::write_atomic;
use crate::planning;
use crate::report::{csv_bytes, number};
use std::path::{Path, PathBuf};

/// `println!` unless `-q`.
macro_rules! say {
    ($quiet:expr, $($arg:tt)*) => {
        if !$quiet {
            println!($($arg)*);
        }
    };
}

pub(super) fn capacity(args: CapacityArgs) -> Result<(), Error> {
    let q = args.runner.quiet;
    let pool = args.runner.pool()?;
    let model = args.model.load()?;
    let out = super::output_dir(args.out.as_ref(), || {
        Path::new("output").join(&model.name).join("capacity")
    })?;
    say!(
        q,
        "meshsim {}: capacity of `{}` ({}) at {}, {} replications per rate",
        env!("CARGO_PKG_VERSION"),
        model.name,
        model.source.file,
        args.slo
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        args.reps
    );
    let report = |line: &str| eprintln!("  {line}");
    let (results, probed) = pool
        .install(|| {
            planning::capacity::capacity_reported(
                &model,
                &args.slo,
                replications(args.reps),
                (!q).then_some(&report as &(dyn Fn(&str) + Sync)),
            )
        })
        .map_err(Error::Usage)?;
    if super::interrupt::requested() {
        return Err(Error::Interrupted(
            "the capacity search was interrupted".into(),
        ));
    }
    say!(q, "{}", capacity_table(&results).trim_end());
    std::fs::create_dir_all(&out).map_err(|source| crate::output::OutputError::Io {
        path: out.clone(),
        source,
    })?;
    let path = out.join("capacity.csv");
    write_atomic(&path, &capacity_csv(&results))?;
    write_atomic(&out.join("capacity_search.csv"), &search_csv(&probed))?;
    let text = args.model.text()?;
    write_atomic(
        &out.join("model.toml"),
        text.effective_text(&args.model.overrides())?.as_bytes(),
    )?;
    let mut files = vec![
        "capacity.csv".to_string(),
        "capacity_search.csv".to_string(),
    ];
    if !args.charts.no_charts {
        let title = format!("{}: capacity", model.name);
        for f in super::draw_charts(&out, &args.charts.style(), "all", &title, None)? {
            files.extend(f.file_name().map(|n| n.to_string_lossy().into_owned()));
        }
    }
    say!(q, "\nwrote {}/{{{}}}", out.display(), files.join(", "));
    // Scripts trust exit codes: an SLO no rate meets is a model problem (2), an undecided
    // search a failure to answer (1); the table and capacity.csv are written either way.
    use planning::capacity::Status;
    let failing = |status: Status| -> Vec<&str> {
        results
            .iter()
            .filter(|c| c.status == status && c.slo != "all")
            .map(|c| c.slo.as_str())
            .collect()
    };
    let never = failing(Status::NeverMet);
    if !never.is_empty() {
        return Err(Error::Usage(format!(
            "no arrival rate meets {}: it asks for less than the idle system achieves (see above)",
            never.join(", ")
        )));
    }
    let undecided = failing(Status::Inconclusive);
    if !undecided.is_empty() {
        return Err(Error::Failed(format!(
            "the capacity for {} is inconclusive (see above): run longer or with more --reps",
            undecided.join(", ")
        )));
    }
    Ok(())
}

pub(super) fn rightsize(args: RightsizeArgs) -> Result<(), Error> {
    let q = args.runner.quiet;
    let pool = args.runner.pool()?;
    let text = args.model.text()?;
    let sets = args.model.overrides();
    let model = text.load(&sets)?;
    if let Some(r) = args.rate
        && !(r.is_finite() && r > 0.0)
    {
        return Err(Error::Usage(format!("--rate must be a rate > 0, got {r}")));
    }
    let out = super::output_dir(args.out.as_ref(), || {
        Path::new("output").join(&model.name).join("rightsize")
    })?;
    let slos: Vec<&str> = args.slo.iter().map(|s| s.text.as_str()).collect();
    say!(
        q,
        "meshsim {}: right-sizing `{}` ({}) for {} at {}, {} replications per configuration",
        env!("CARGO_PKG_VERSION"),
        model.name,
        model.source.file,
        slos.join(", "),
        args.rate
            .map_or("its own rate".to_string(), |r| format!("{r} req/s")),
        args.reps
    );
    let r = pool.install(|| {
        planning::rightsize(&model, args.rate, &args.slo, replications(args.reps), None)
    })?;
    say!(q, "\n{:<16} {:>9} {:>12}", "service", "instances", "(was)");
    for (name, was, now) in &r.services {
        say!(q, "{name:<16} {now:>9} {was:>12}");
    }
    for (s, m) in args.slo.iter().zip(&r.metrics) {
        let (scale, unit) = match s.metric {
            planning::SloMetric::ErrorRate => (100.0, "%"),
            _ => (1.0, " ms"),
        };
        say!(
            q,
            "{}: {} = {:.3} ± {:.3}{unit} (mean and 95% interval over {} replications; limit {}{unit})",
            s.text,
            s.metric_name(),
            scale * m.mean,
            scale * m.half_width,
            m.n,
            crate::report::number(scale * s.limit)
        );
    }
    if r.cost_per_hour.is_finite() {
        say!(
            q,
            "cost: {:.4} per hour, {:.4} per million successful requests",
            r.cost_per_hour,
            r.cost_per_million_requests
        );
    }
    say!(
        q,
        "({} configuration{} simulated)",
        r.tried,
        if r.tried == 1 { "" } else { "s" }
    );
    let mut all = sets.clone();
    all.extend(r.overrides(args.rate));
    // Its own name, so that running it writes beside, not over, the original's results.
    all.push(crate::model::Override {
        path: vec!["name".into()],
        value: format!("{}-rightsized", model.name),
    });
    std::fs::create_dir_all(&out).map_err(|source| crate::output::OutputError::Io {
        path: out.clone(),
        source,
    })?;
    let path = out.join("rightsized.toml");
    write_atomic(&path, text.effective_text(&all)?.as_bytes())?;
    say!(
        q,
        "\nwrote {} (run it: meshsim run {})",
        path.display(),
        path.display()
    );
    Ok(())
}

/// Without `--rate`: twelve loads from 10% to 120% of the highest saturation rate among the
/// models (from their offered load), so the range reaches beyond every capacity.
fn default_rates(models: &[crate::model::Model]) -> String {
    let saturation = models
        .iter()
        .filter_map(crate::analysis::saturation_rate)
        .fold(0.0, f64::max);
    let step = crate::sweep::format_value(
        format!("{:.2e}", saturation / 10.0)
            .parse::<f64>()
            .unwrap_or(1.0),
    );
    let step: f64 = step.parse().unwrap_or(1.0);
    (1..=12)
        .map(|i| crate::sweep::format_value(step * f64::from(i)))
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn compare(args: CompareArgs) -> Result<(), Error> {
    let q = args.runner.quiet;
    let pool = args.runner.pool()?;
    let models = args
        .models
        .iter()
        .map(|p| crate::model::load_file(p, &args.set))
        .collect::<Result<Vec<_>, _>>()?;
    let spec = match &args.rate {
        Some(spec) => spec.clone(),
        None => default_rates(&models),
    };
    let rates: Vec<f64> = crate::sweep::expand(&spec)
        .map_err(|e| Error::Usage(format!("--rate {spec}: {e}")))?
        .iter()
        .map(|v| {
            v.parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0)
                .ok_or_else(|| Error::Usage(format!("--rate: `{v}` is not a rate > 0")))
        })
        .collect::<Result<_, _>>()?;
    let reference = match args.reference {
        Some(r) => r,
        None => match models[0].workload {
            crate::model::Workload::Open { rate_per_s, .. } => rate_per_s,
            _ => 1.0,
        },
    };
    let out = super::output_dir(args.out.as_ref(), || Path::new("output").join("compare"))?;
    say!(
        q,
        "meshsim {}: comparing {} at {} over {} loads, {} replications per configuration",
        env!("CARGO_PKG_VERSION"),
        models
            .iter()
            .map(|m| format!("`{}`", m.name))
            .collect::<Vec<_>>()
            .join(" and "),
        args.slo
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        rates.len(),
        args.reps
    );
    let c = pool.install(|| {
        planning::compare(
            &models,
            &args.slo,
            &rates,
            reference,
            replications(args.reps),
        )
    })?;
    let table = compare_markdown(&c);
    say!(q, "\n{}", table.trim_end());
    std::fs::create_dir_all(&out).map_err(|source| crate::output::OutputError::Io {
        path: out.clone(),
        source,
    })?;
    let mut written = vec![out.join("compare.csv"), out.join("compare_load.csv")];
    write_atomic(&written[0], &compare_csv(&c))?;
    write_atomic(&written[1], &compare_load_csv(&c))?;
    let md = out.join("compare.md");
    write_atomic(&md, table.as_bytes())?;
    written.push(md);
    chart_and_list(&out, written, &args.charts, "architectures compared", q)
}

/// Draws an output folder's charts and `report.html` (unless `--no-charts`) and says what was
/// written there.
fn chart_and_list(
    out: &Path,
    mut written: Vec<PathBuf>,
    charts: &super::ChartArgs,
    title: &str,
    q: bool,
) -> Result<(), Error> {
    if !charts.no_charts {
        written.extend(super::commands::draw_charts(
            out,
            &charts.style(),
            "all",
            title,
            None,
        )?);
    }
    let names: Vec<String> = written
        .iter()
        .filter_map(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        .collect();
    say!(q, "\nwrote {}/{{{}}}", out.display(), names.join(", "));
    Ok(())
}

/// The comparison as a Markdown table, with the crossover below it.
/// A cost, or "no prices" for a model without a `[cost]` table.
fn price(x: f64) -> String {
    if x.is_nan() {
        "no prices".into()
    } else {
        format!("{x:.3}")
    }
}

fn compare_markdown(c: &planning::Comparison) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| architecture | capacity at SLO (req/s) | 95% interval | right-sized at {} req/s | cost per hour | cost per million requests | p50 ms | p99 ms | network share of latency |",
        number(c.reference_rps)
    );
    let _ = writeln!(
        s,
        "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |"
    );
    for a in &c.architectures {
        let _ = writeln!(
            s,
            "| {} | {:.0} | [{:.0}, {:.0}] | {} | {} | {} | {:.2} | {:.2} | {:.1}% |",
            a.name,
            a.capacity.capacity_rps,
            a.capacity.ci95_low_rps,
            a.capacity.ci95_high_rps,
            a.instances,
            price(a.cost_per_hour),
            price(a.cost_per_million_requests),
            a.p50_ms,
            a.p99_ms,
            (100.0 * a.network_share).max(0.0)
        );
    }
    let _ = writeln!(s);
    match &c.crossover {
        Some(x) => {
            // About ten loads over the bracket, on round numbers that cover it.
            let step = round_step((x.high_rps - x.low_rps) / 10.0);
            let (from, to) = (
                (x.low_rps / step).floor() * step,
                (x.high_rps / step).ceil() * step,
            );
            let _ = writeln!(
                s,
                "Crossover between {} and {} req/s, the loads compared either side (--rate {}:{}:{} narrows it): above it, `{}` is the cheaper way to meet the SLOs.",
                number(x.low_rps),
                number(x.high_rps),
                number(from),
                number(to),
                number(step),
                x.cheaper
            );
        }
        None if c.architectures.iter().any(|a| a.cost_per_hour.is_nan()) => {
            let _ = writeln!(
                s,
                "No cost compared: a model has no [cost] table (no prices were given); capacity and latency are compared."
            );
        }
        None => {
            let _ = writeln!(
                s,
                "No crossover in the range: the cost curves do not cross (see cost_vs_load)."
            );
        }
    }
    s
}

/// The largest step of 1, 2 or 5 times a power of ten not above `at_most` (positive): a round
/// `--rate` step to suggest.
fn round_step(at_most: f64) -> f64 {
    let at_most = at_most.max(1e-9);
    let power = 10f64.powf(at_most.log10().floor());
    [5.0, 2.0, 1.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&s| s <= at_most * (1.0 + 1e-12))
        .unwrap_or(power)
}

/// `compare.csv`: one row per architecture.
fn compare_csv(c: &planning::Comparison) -> Vec<u8> {
    // The same on every row: where the costs cross, and the compared loads either side.
    let crossover = c.crossover.as_ref().map_or_else(Default::default, |x| {
        [x.interpolated_rps, x.low_rps, x.high_rps].map(number)
    });
    let rows = c
        .architectures
        .iter()
        .map(|a| {
            let mut row = vec![
                a.name.clone(),
                number(a.capacity.capacity_rps),
                number(a.capacity.ci95_low_rps),
                number(a.capacity.ci95_high_rps),
                a.capacity.bottleneck.clone(),
                number(c.reference_rps),
                a.instances.clone(),
                number(a.cost_per_hour),
                number(a.cost_per_million_requests),
                number(a.p50_ms),
                number(a.p99_ms),
                number(a.network_share),
            ];
            row.extend(crossover.iter().cloned());
            row
        })
        .collect();
    csv_bytes(
        &[
            "architecture",
            "capacity_rps",
            "ci95_low_rps",
            "ci95_high_rps",
            "bottleneck",
            "reference_rps",
            "rightsized_instances",
            "cost_per_hour",
            "cost_per_million_requests",
            "p50_ms",
            "p99_ms",
            "network_share",
            "crossover_rps",
            "crossover_low_rps",
            "crossover_high_rps",
        ],
        rows,
    )
}

/// `compare_load.csv`: one row per architecture and load.
fn compare_load_csv(c: &planning::Comparison) -> Vec<u8> {
    let rows = c
        .load
        .iter()
        .map(|p| {
            vec![
                p.architecture.clone(),
                number(p.rate_rps),
                number(p.p99_ms),
                number(p.cost_per_hour),
                p.instances.clone(),
            ]
        })
        .collect();
    csv_bytes(
        &[
            "architecture",
            "rate_rps",
            "p99_ms",
            "cost_per_hour",
            "rightsized_instances",
        ],
        rows,
    )
}

fn capacity_table(results: &[planning::Capacity]) -> String {
    use std::fmt::Write;
    let w = results
        .iter()
        .map(|c| c.slo.len())
        .max()
        .unwrap_or(3)
        .max(3);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n{:<w$} {:>13} {:>14} {:>25}  bottleneck (utilisation)",
        "SLO", "status", "capacity req/s", "95% interval req/s"
    );
    for c in results {
        let capacity = if c.capacity_rps.is_nan() {
            "—".to_string()
        } else {
            format!("{:.1}", c.capacity_rps)
        };
        let bottleneck = if c.bottleneck.is_empty() {
            "—".to_string()
        } else {
            format!("{} ({:.2})", c.bottleneck, c.bottleneck_utilisation)
        };
        let _ = writeln!(
            s,
            "{:<w$} {:>13} {:>14} {:>25}  {bottleneck}",
            c.slo,
            c.status.as_str(),
            capacity,
            format!("[{:.1}, {:.1}]", c.ci95_low_rps, c.ci95_high_rps),
        );
    }
    let _ = writeln!(s);
    if results
        .iter()
        .any(|c| c.status == planning::capacity::Status::Ok)
    {
        let _ = writeln!(
            s,
            "ok: the SLO holds with 95% confidence up to the interval's low end and fails with 95% confidence from its high end."
        );
    }
    for c in results
        .iter()
        .filter(|c| c.status != planning::capacity::Status::Ok)
    {
        let _ = writeln!(s, "{}: {}", c.slo, c.note);
    }
    s
}

/// `capacity_search.csv`: every rate the search simulated, per SLO: the metric with its 95%
/// interval, the limit and the verdict.
fn search_csv(probed: &[planning::capacity::Probed]) -> Vec<u8> {
    let rows = probed
        .iter()
        .map(|p| {
            vec![
                p.slo.clone(),
                number(p.rate_rps),
                number(p.mean),
                number(p.half_width),
                number(p.limit),
                p.verdict.as_str().to_string(),
                p.replications.to_string(),
            ]
        })
        .collect();
    csv_bytes(
        &[
            "slo",
            "rate_rps",
            "value",
            "value_ci95",
            "limit",
            "verdict",
            "replications",
        ],
        rows,
    )
}

/// `capacity.csv`: one row per SLO (then `all`).
pub fn capacity_csv(results: &[planning::Capacity]) -> Vec<u8> {
    let rows = results
        .iter()
        .map(|c| {
            vec![
                c.slo.clone(),
                c.status.as_str().to_string(),
                number(c.capacity_rps),
                number(c.ci95_low_rps),
                number(c.ci95_high_rps),
                c.bottleneck.clone(),
                number(c.bottleneck_utilisation),
                c.note.clone(),
            ]
        })
        .collect();
    csv_bytes(
        &[
            "slo",
            "status",
            "capacity_rps",
            "ci95_low_rps",
            "ci95_high_rps",
            "bottleneck",
            "bottleneck_utilisation",
            "note",
        ],
        rows,
    )
}

/// `--reps` replications that Ctrl-C stops.
fn replications(count: u32) -> crate::sim::Replications {
    crate::sim::Replications {
        count,
        cancel: super::interrupt::cancel(),
    }
}

pub(super) fn predict(args: super::PredictArgs) -> Result<(), Error> {
    use crate::measured;
    let q = args.runner.quiet;
    let model = crate::model::load_file(&args.model, &args.set)?;
    if args.saturation {
        let (rate, busiest) = measured::saturation(&model).ok_or_else(|| {
            Error::Usage(format!(
                "`{}` has no saturation rate: it needs an open workload that does some work",
                model.name
            ))
        })?;
        if args.analytic {
            println!("{rate:.3}");
            eprintln!(
                "{}: the analytic bound is {rate:.1} req/s (busiest: {busiest}; blocking workers held for their calls' response times at the model's own rate)",
                model.name
            );
            return Ok(());
        }
        let cancel = super::interrupt::cancel();
        let found = measured::simulated_saturation(&model, rate, &cancel);
        if cancel.requested() {
            return Err(Error::Interrupted("no saturation rate was found".into()));
        }
        match found {
            Some(s) => {
                println!("{:.3}", s.rate);
                eprintln!(
                    "{}: saturates at {:.1} req/s: its backlog grows from there ({} simulated runs of {:.0} s, bisection to 1%); the analytic bound, with blocking workers held for their calls' response times at the model's own rate, is {rate:.1} req/s (busiest: {busiest})",
                    model.name, s.rate, s.probes, s.probe_s
                );
            }
            None => {
                println!("{rate:.3}");
                eprintln!(
                    "{}: its backlog does not grow at any rate up to 8× the analytic bound (bounded queues or deadlines refuse the excess instead): the bound, {rate:.1} req/s (busiest: {busiest}), stands",
                    model.name
                );
            }
        }
        return Ok(());
    }
    let file = args.measured.as_ref().expect("clap requires --measured");
    let m = measured::read(file).map_err(Error::Usage)?;
    let pool = args.runner.pool()?;
    let out = super::output_dir(args.out.as_ref(), || {
        Path::new("output").join(format!("{}-predict", model.name))
    })?;
    say!(
        q,
        "meshsim {}: `{}` against {} ({} requests at {} loads), {} replications per load",
        env!("CARGO_PKG_VERSION"),
        model.name,
        file.display(),
        m.requests.len(),
        m.rates.len(),
        args.reps
    );
    let c = pool
        .install(|| measured::compare(&model, &m, args.warmup_s, replications(args.reps)))
        .map_err(|e| {
            if super::interrupt::cancel().requested() {
                Error::Interrupted("nothing was written".into())
            } else {
                Error::Usage(e)
            }
        })?;
    let table = measured::table(&c);
    say!(q, "\n{}", table.trim_end());
    std::fs::create_dir_all(&out).map_err(|source| crate::output::OutputError::Io {
        path: out.clone(),
        source,
    })?;
    let written = vec![out.join("reality.csv"), out.join("reality.md")];
    write_atomic(&written[0], &measured::csv(&c))?;
    write_atomic(&written[1], table.as_bytes())?;
    let title = format!("{}: measured and predicted", model.name);
    chart_and_list(&out, written, &args.charts, &title, q)
}
