//! `--vary PATH=SPEC`: parsing and expanding parameter specs into values.

/// One varied parameter and its values, in order.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Axis {
    /// Dotted path in the model, as `--set` takes it.
    pub path: String,
    /// The values, as TOML text (`"100"`, `"0.5"`, `"random"`).
    pub values: Vec<String>,
}

/// Parses `PATH=SPEC`.
pub fn parse_vary(arg: &str) -> Result<Axis, String> {
    let (path, spec) = arg.split_once('=').ok_or_else(|| {
        format!("`{arg}` is not PATH=SPEC (e.g. workload.rate_per_s=100:900:100)")
    })?;
    let path = path.trim();
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(format!(
            "`{path}` is not a dotted path (e.g. workload.rate_per_s)"
        ));
    }
    Ok(Axis {
        path: path.to_string(),
        values: expand(spec.trim()).map_err(|e| format!("--vary {path}: {e}"))?,
    })
}

/// Expands a SPEC: `start:stop:step`, `log:start:stop:count`, or a list `a,b,c`.
pub fn expand(spec: &str) -> Result<Vec<String>, String> {
    if spec.is_empty() {
        return Err(
            "the SPEC is empty; give start:stop:step, log:start:stop:count or a list a,b,c".into(),
        );
    }
    if let Some(rest) = spec.strip_prefix("log:") {
        return log_range(rest);
    }
    if spec.contains(':') {
        return linear_range(spec);
    }
    let items: Vec<String> = spec.split(',').map(|s| s.trim().to_string()).collect();
    if items.iter().any(String::is_empty) {
        return Err(format!("the list `{spec}` has an empty item"));
    }
    Ok(items)
}

fn numbers<const N: usize>(spec: &str, form: &str) -> Result<[f64; N], String> {
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.len() != N {
        return Err(format!("`{spec}` is not {form}"));
    }
    let mut out = [0.0; N];
    for (o, p) in out.iter_mut().zip(&parts) {
        *o = p
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("`{p}` in `{spec}` is not a number"))?;
    }
    Ok(out)
}

fn linear_range(spec: &str) -> Result<Vec<String>, String> {
    let [start, stop, step] = numbers::<3>(spec, "start:stop:step")?;
    if step <= 0.0 {
        return Err(format!("the step of `{spec}` must be > 0"));
    }
    if stop < start {
        return Err(format!(
            "`{spec}` is an empty range: stop {stop} is below start {start} (the form is start:stop:step)"
        ));
    }
    let n = (stop - start) / step;
    let k = n.round();
    if (n - k).abs() > 1e-9 * n.max(1.0) {
        let last = start + n.floor() * step;
        return Err(format!(
            "the step of `{spec}` does not reach the stop: it ends at {}; use a stop of {} or a list",
            format_value(last),
            format_value(last + step)
        ));
    }
    if k > 1e7 {
        return Err(format!("`{spec}` has more than 10 million values"));
    }
    Ok((0..=k as u64)
        .map(|i| format_value(start + i as f64 * step))
        .collect())
}

fn log_range(rest: &str) -> Result<Vec<String>, String> {
    let spec = format!("log:{rest}");
    let [start, stop, count] = numbers::<3>(rest, "log:start:stop:count")?;
    if start <= 0.0 || stop <= 0.0 {
        return Err(format!("`{spec}`: a log range needs start and stop > 0"));
    }
    if stop < start {
        return Err(format!(
            "`{spec}` is an empty range: stop {stop} is below start {start} (the form is log:start:stop:count)"
        ));
    }
    if count < 2.0 || count.fract() != 0.0 || count > 1e7 {
        return Err(format!("`{spec}`: count must be a whole number ≥ 2"));
    }
    let n = count as u64;
    let ratio = stop / start;
    Ok((0..n)
        .map(|i| {
            format_value(significant(
                start * ratio.powf(i as f64 / (n - 1) as f64),
                6,
            ))
        })
        .collect())
}

/// `x` rounded to `digits` significant digits (log ranges read better as 31.6228 than as
/// 31.6227766017).
fn significant(x: f64, digits: usize) -> f64 {
    format!("{x:.*e}", digits - 1).parse().unwrap_or(x)
}

/// A number as short as it can be written: integers without a decimal point, others rounded to
/// 10 significant digits (so 0.1 + 0.2 prints as 0.3).
pub fn format_value(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let rounded: f64 = format!("{x:.9e}").parse().unwrap_or(x);
    rounded.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_ranges_lists_and_log_ranges() {
        assert_eq!(
            expand("100:500:100").unwrap(),
            ["100", "200", "300", "400", "500"]
        );
        assert_eq!(expand("0.1:0.5:0.2").unwrap(), ["0.1", "0.3", "0.5"]);
        assert_eq!(expand("0.5, 5,50").unwrap(), ["0.5", "5", "50"]);
        assert_eq!(
            expand("round_robin,random").unwrap(),
            ["round_robin", "random"]
        );
        assert_eq!(expand("log:10:1000:3").unwrap(), ["10", "100", "1000"]);
        assert_eq!(expand("log:10:1000:12").unwrap().len(), 12);
        assert_eq!(expand("7:7:1").unwrap(), ["7"]);
    }

    #[test]
    fn refuses_bad_specs_saying_why() {
        assert!(expand("").is_err());
        assert!(expand("5:1:1").unwrap_err().contains("empty range"));
        assert!(expand("1:5:0").unwrap_err().contains("must be > 0"));
        assert!(expand("1:5:-1").unwrap_err().contains("must be > 0"));
        let e = expand("100:950:100").unwrap_err();
        assert!(
            e.contains("does not reach the stop") && e.contains("900") && e.contains("1000"),
            "{e}"
        );
        assert!(expand("log:0:10:3").is_err());
        assert!(expand("log:1:10:1").is_err());
        assert!(expand("a,,b").is_err());
        assert!(expand("1:x:1").unwrap_err().contains("`x`"));
        assert!(parse_vary("no_equals").is_err());
    }
}
