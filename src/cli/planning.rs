//! `capacity`, `rightsize` and `compare`: the planning commands.

use super::CapacityArgs;
use crate::error::Error;
use crate::planning;
use crate::report::{number, write_atomic};
use std::path::Path;

pub(super) fn capacity(args: CapacityArgs) -> Result<(), Error> {
    let model = args.model.load()?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("output").join(&model.name).join("capacity"));
    println!(
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
    let results = planning::capacity(&model, &args.slo, args.reps).map_err(Error::Usage)?;
    if crate::interrupt::requested() {
        return Err(Error::Interrupted(
            "the capacity search was interrupted".into(),
        ));
    }
    print!("{}", capacity_table(&results));
    std::fs::create_dir_all(&out).map_err(|source| crate::report::OutputError::Io {
        path: out.clone(),
        source,
    })?;
    let path = out.join("capacity.csv");
    write_atomic(&path, &capacity_csv(&results))?;
    println!("\nwrote {}", path.display());
    Ok(())
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
        "\n{:<w$} {:>14} {:>25}  bottleneck",
        "SLO", "capacity req/s", "95% interval req/s"
    );
    for c in results {
        let _ = writeln!(
            s,
            "{:<w$} {:>14.1} {:>25}  {}",
            c.slo,
            c.capacity_rps,
            format!("[{:.1}, {:.1}]", c.ci95_low_rps, c.ci95_high_rps),
            c.bottleneck
        );
    }
    let _ = writeln!(
        s,
        "\nThe SLO holds with 95% confidence up to the interval's low end and fails with 95% confidence from its high end."
    );
    s
}

/// `capacity.csv`: one row per SLO (then `all`).
pub fn capacity_csv(results: &[planning::Capacity]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "slo",
        "capacity_rps",
        "ci95_low_rps",
        "ci95_high_rps",
        "bottleneck",
    ];
    w.write_record(header).expect("in-memory write");
    for c in results {
        w.write_record([
            c.slo.clone(),
            number(c.capacity_rps),
            number(c.ci95_low_rps),
            number(c.ci95_high_rps),
            c.bottleneck.clone(),
        ])
        .expect("in-memory write");
    }
    w.into_inner().expect("in-memory write")
}
