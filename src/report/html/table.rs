//! CSV files as HTML tables a reader can scan: numbers rounded to what matters and aligned,
//! units in the headers, columns that are zero everywhere left out (the CSV keeps them), and
//! every column sortable by a click (the script in the page).

use super::escape;
use std::fmt::Write;
use std::path::Path;

/// A CSV file read whole.
pub struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Csv {
    pub fn read(path: &Path) -> Option<Csv> {
        let mut r = csv::Reader::from_path(path).ok()?;
        let header = r.headers().ok()?.iter().map(String::from).collect();
        let rows = r
            .records()
            .flatten()
            .map(|rec| rec.iter().map(String::from).collect())
            .collect();
        Some(Csv { header, rows })
    }

    pub fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The value of column `name` in `row` as a number.
    pub fn num(&self, row: &[String], name: &str) -> Option<f64> {
        row.get(self.col(name)?)?.parse().ok()
    }
}

/// A column header for people: `p99_ms` → `p99 (ms)`, `throughput_rps` → `throughput (req/s)`.
pub fn pretty_header(name: &str) -> String {
    const UNITS: [(&str, &str); 9] = [
        ("_ms_ci95", " ± (ms)"),
        ("_ci95", " ±"),
        ("_ms", " (ms)"),
        ("_rps", " (req/s)"),
        ("_per_s", " (/s)"),
        ("_s", " (s)"),
        ("_mbps", " (Mbit/s)"),
        ("_bytes", " (bytes)"),
        ("_km", " (km)"),
    ];
    for (suffix, unit) in UNITS {
        if let Some(stem) = name.strip_suffix(suffix) {
            return format!("{}{unit}", stem.replace('_', " "));
        }
    }
    name.replace('_', " ")
}

/// A number rounded to what a reader compares: whole numbers as they are (with thousands
/// separators), others to four significant figures.
pub fn rounded(text: &str) -> String {
    let Ok(x) = text.parse::<f64>() else {
        return text.to_string();
    };
    if !x.is_finite() {
        return text.to_string();
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return grouped(x as i64);
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (3 - magnitude).clamp(0, 6) as usize;
    if decimals == 0 {
        return grouped(x.round() as i64);
    }
    let s = format!("{x:.decimals$}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    if digits.len() <= 4 {
        return n.to_string();
    }
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Whether every value of column `i` is a zero (or empty): nothing to read there.
fn all_zero(csv: &Csv, i: usize) -> bool {
    csv.rows.iter().all(|r| {
        let v = r.get(i).map(String::as_str).unwrap_or("");
        v.is_empty() || v.parse::<f64>().is_ok_and(|x| x == 0.0)
    }) && csv
        .rows
        .iter()
        .any(|r| r.get(i).is_some_and(|v| !v.is_empty()))
}

/// Whether a row of a CSV file is shown.
pub type RowFilter = dyn Fn(&Csv, &[String]) -> bool;

/// How a table is cut from its CSV.
#[derive(Default)]
pub struct Shape<'a> {
    /// Only these columns, in this order (others are left out).
    pub columns: Option<&'a [&'a str]>,
    /// Show `NAME_ci95` beside `NAME` as `value ± ci` in one cell.
    pub merge_ci: bool,
    /// Keep a row?
    pub keep: Option<&'a RowFilter>,
    /// With more than [`super::TABLE_ROWS`] rows, show those with the largest value of the
    /// first of these columns, equal ones by the next (and any `all` or `total` row), largest
    /// first. Empty: every row.
    pub rank_by: &'a [&'a str],
}

/// The values of column `name` of the `limit` rows of `path` with the largest `by`, or `None`
/// when the file has no more than `limit` rows (then all are shown).
pub fn busiest_rows(path: &Path, name: &str, by: &str, limit: usize) -> Option<Vec<String>> {
    let csv = Csv::read(path)?;
    let (col, rank) = (csv.col(name)?, csv.col(by)?);
    let mut rows: Vec<&Vec<String>> = csv.rows.iter().filter(|r| r[col] != "all").collect();
    if rows.len() <= limit {
        return None;
    }
    let value = |r: &Vec<String>| r[rank].parse::<f64>().unwrap_or(0.0);
    rows.sort_by(|a, b| value(b).total_cmp(&value(a)));
    Some(rows[..limit].iter().map(|r| r[col].clone()).collect())
}

/// A CSV file as a sortable HTML table, or `None` when it is absent or has no rows.
pub fn csv_table(path: &Path, shape: &Shape) -> Option<String> {
    let csv = Csv::read(path)?;
    let mut rows: Vec<&Vec<String>> = csv
        .rows
        .iter()
        .filter(|r| shape.keep.is_none_or(|k| k(&csv, r)))
        .collect();
    if rows.is_empty() {
        return None;
    }
    let total_rows = rows.len();
    let ranked: Vec<usize> = shape
        .rank_by
        .iter()
        .filter_map(|c| csv.col(c))
        .filter(|_| rows.len() > super::TABLE_ROWS)
        .collect();
    if !ranked.is_empty() {
        let summary = |r: &Vec<String>| r.first().is_some_and(|v| v == "all" || v == "total");
        let value = |r: &Vec<String>, c: usize| r[c].parse::<f64>().unwrap_or(0.0);
        let (kept, mut rest): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| summary(r));
        rest.sort_by(|a, b| {
            ranked
                .iter()
                .map(|&c| value(b, c).total_cmp(&value(a, c)))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        rest.truncate(super::TABLE_ROWS);
        rows = rest;
        rows.extend(kept);
    }
    let mut idx: Vec<usize> = match shape.columns {
        Some(cols) => cols.iter().filter_map(|c| csv.col(c)).collect(),
        None => (0..csv.header.len()).collect(),
    };
    let dropped = idx.iter().filter(|&&i| all_zero(&csv, i)).count();
    idx.retain(|&i| !all_zero(&csv, i));
    let ci_of = |i: usize| -> Option<usize> {
        shape
            .merge_ci
            .then(|| csv.col(&format!("{}_ci95", csv.header[i])))
            .flatten()
    };
    if shape.merge_ci {
        idx.retain(|&i| !csv.header[i].ends_with("_ci95"));
    }
    let mut s = String::from("<div class=\"tw\"><table class=\"sortable\"><thead><tr>");
    for &i in &idx {
        let name = &csv.header[i];
        let shown = if ci_of(i).is_some() {
            pretty_header(name).replace(" (", " ± 95% CI (")
        } else {
            pretty_header(name)
        };
        let _ = write!(s, "<th title=\"{}\">{}</th>", escape(name), escape(&shown));
    }
    s.push_str("</tr></thead><tbody>");
    for row in rows {
        s.push_str("<tr>");
        for &i in &idx {
            let v = row.get(i).map(String::as_str).unwrap_or("");
            let numeric = v.parse::<f64>().is_ok();
            let mut shown = rounded(v);
            if let Some(ci) = ci_of(i).and_then(|c| row.get(c)).filter(|c| !c.is_empty()) {
                let _ = write!(shown, " ± {}", rounded(ci));
            }
            if numeric {
                let _ = write!(
                    s,
                    "<td class=\"n\" data-v=\"{}\">{}</td>",
                    escape(v),
                    escape(&shown)
                );
            } else {
                let _ = write!(s, "<td>{}</td>", escape(&shown));
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table></div>");
    if let Some((&first, then)) = ranked.split_first() {
        let then: String = then
            .iter()
            .map(|&c| format!(" (then <code>{}</code>)", escape(&csv.header[c])))
            .collect();
        let _ = write!(
            s,
            "<p class=\"note\">The {} rows with the largest <code>{}</code>{then} of {total_rows}; <code>{}</code> has them all.</p>",
            super::TABLE_ROWS,
            escape(&csv.header[first]),
            escape(
                &path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            )
        );
    }
    if dropped > 0 {
        let _ = write!(
            s,
            "<p class=\"note\">{dropped} column{} zero in every row left out; <code>{}</code> has them all.</p>",
            if dropped == 1 { "" } else { "s" },
            escape(
                &path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            )
        );
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_rounded_to_what_a_reader_compares() {
        assert_eq!(rounded("300.2"), "300.2");
        assert_eq!(rounded("57.475071"), "57.48");
        assert_eq!(rounded("0.000363"), "0.000363");
        assert_eq!(rounded("16517"), "16,517");
        assert_eq!(rounded("1234"), "1234");
        assert_eq!(rounded("11190309.09"), "11,190,309");
        assert_eq!(rounded("user"), "user");
        assert_eq!(rounded("-12345"), "-12,345");
    }

    #[test]
    fn headers_carry_their_units() {
        assert_eq!(pretty_header("p99_ms"), "p99 (ms)");
        assert_eq!(pretty_header("throughput_rps"), "throughput (req/s)");
        assert_eq!(pretty_header("arrival_rate_per_s"), "arrival rate (/s)");
        assert_eq!(pretty_header("utilisation"), "utilisation");
    }
}
