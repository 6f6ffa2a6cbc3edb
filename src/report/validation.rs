//! The validation table: on the terminal and as `validation.csv`.

use super::number;
use crate::validation::Row;
use std::fmt::Write;

/// Columns of `validation.csv`.
pub const VALIDATION_COLUMNS: &[&str] = &[
    "case",
    "quantity",
    "theory",
    "simulated",
    "ci95_half_width",
    "relative_error",
    "replications",
    "pass",
];

/// The table a user reads in ten seconds.
pub fn validation_table(rows: &[Row]) -> String {
    let wc = rows
        .iter()
        .map(|r| r.case.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let wq = rows
        .iter()
        .map(|r| r.quantity.chars().count())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<wc$}  {:<wq$} {:>11} {:>11} {:>10} {:>8}  result",
        "case", "quantity", "theory", "simulated", "95% CI ±", "error"
    );
    for r in rows {
        let pad_c = wc - r.case.chars().count();
        let pad_q = wq - r.quantity.chars().count();
        let _ = writeln!(
            s,
            "{}{:pad_c$}  {}{:pad_q$} {:>11.5} {:>11.5} {:>10.5} {:>+7.2}%  {}",
            r.case,
            "",
            r.quantity,
            "",
            r.theory,
            r.simulated,
            r.ci95_half_width,
            100.0 * r.relative_error(),
            if r.pass { "pass" } else { "FAIL" }
        );
    }
    s
}

/// `validation.csv`: one row per check.
pub fn validation_csv(rows: &[Row]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(VALIDATION_COLUMNS).expect("in-memory write");
    for r in rows {
        w.write_record([
            r.case.clone(),
            r.quantity.clone(),
            number(r.theory),
            number(r.simulated),
            number(r.ci95_half_width),
            number(r.relative_error()),
            r.replications.to_string(),
            r.pass.to_string(),
        ])
        .expect("in-memory write");
    }
    w.into_inner().expect("in-memory write")
}
