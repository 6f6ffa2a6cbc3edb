//! Duration fields: a number of milliseconds or a distribution table, read into a [`Dist`].

use crate::model::Dist;
use crate::model::diagnostic::{Invalid, did_you_mean};
use crate::model::files::DataFiles;
use crate::model::raw::words::DISTRIBUTIONS;

/// A duration field: a number of milliseconds, or a distribution table.
pub(in crate::model) fn duration_value(
    value: &toml::Value,
    path: &str,
    files: DataFiles<'_>,
) -> Result<Dist, Invalid> {
    match value {
        toml::Value::Integer(i) => Dist::constant_ms(*i as f64).map_err(|m| Invalid::at(path, m)),
        toml::Value::Float(x) => Dist::constant_ms(*x).map_err(|m| Invalid::at(path, m)),
        toml::Value::Table(t) => distribution(t, path, files),
        other => Err(Invalid::at(
            path,
            format!(
                "expected milliseconds or a distribution table, got {}",
                other.type_str()
            ),
        )
        .help("e.g. 3, or { dist = \"exponential\", mean_ms = 3 }")),
    }
}

fn distribution(t: &toml::Table, path: &str, files: DataFiles<'_>) -> Result<Dist, Invalid> {
    let kinds: Vec<&str> = DISTRIBUTIONS.iter().map(|d| d.0).collect();
    let kind = match t.get("dist") {
        Some(toml::Value::String(s)) => s.as_str(),
        Some(_) => {
            return Err(Invalid::at(&format!("{path}.dist"), "must be a string")
                .help(format!("one of: {}", kinds.join(", "))));
        }
        None => {
            return Err(Invalid::at(path, "a distribution table needs `dist`")
                .help(format!("one of: {}", kinds.join(", "))));
        }
    };
    let Some((_, required, optional)) = DISTRIBUTIONS.iter().find(|d| d.0 == kind) else {
        let hint = did_you_mean(kind, kinds.iter().copied())
            .map(|b| format!("did you mean `{b}`? "))
            .unwrap_or_default();
        return Err(Invalid::at(
            &format!("{path}.dist"),
            format!("unknown distribution `{kind}`"),
        )
        .help(format!("{hint}one of: {}", kinds.join(", "))));
    };
    let allowed: Vec<&str> = required.iter().chain(optional.iter()).copied().collect();
    for key in t.keys() {
        if key != "dist" && !allowed.contains(&key.as_str()) {
            let hint = did_you_mean(key, allowed.iter().copied())
                .map(|b| format!("did you mean `{b}`? "))
                .unwrap_or_default();
            return Err(Invalid::at(
                &format!("{path}.{key}"),
                format!("`{key}` is not a parameter of {kind}"),
            )
            .help(format!("{hint}{kind} takes: {}", allowed.join(", "))));
        }
    }
    let num = |key: &str| -> Result<f64, Invalid> {
        match t.get(key) {
            Some(toml::Value::Integer(i)) => Ok(*i as f64),
            Some(toml::Value::Float(x)) => Ok(*x),
            Some(other) => Err(Invalid::at(
                &format!("{path}.{key}"),
                format!("must be a number, got {}", other.type_str()),
            )),
            None => Err(Invalid::at(path, format!("{kind} needs `{key}`"))
                .help(format!("{kind} takes: {}", allowed.join(", ")))),
        }
    };
    let at = |r: Result<Dist, String>| r.map_err(|m| Invalid::at(path, format!("{kind}: {m}")));
    match kind {
        "constant" => at(Dist::constant_ms(num("value_ms")?)),
        "exponential" => at(Dist::exponential_ms(num("mean_ms")?)),
        "uniform" => at(Dist::uniform_ms(num("min_ms")?, num("max_ms")?)),
        "normal" => at(Dist::normal_ms(num("mean_ms")?, num("sd_ms")?)),
        "lognormal" => at(Dist::lognormal_ms(num("mean_ms")?, num("cv")?)),
        "gamma" => at(Dist::gamma_ms(num("mean_ms")?, num("cv")?)),
        "weibull" => at(Dist::weibull_ms(num("shape")?, num("scale_ms")?)),
        "pareto" => at(Dist::pareto_ms(num("shape")?, num("scale_ms")?)),
        _ => empirical(t, path, files),
    }
}

fn empirical(t: &toml::Table, path: &str, files: DataFiles<'_>) -> Result<Dist, Invalid> {
    let samples = match (t.get("samples_ms"), t.get("file")) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(Invalid::at(path, "empirical needs exactly one of `samples_ms` or `file`")
                .help("samples_ms = [1.2, 3.4, …] or file = \"latencies.csv\" (one column of milliseconds)"));
        }
        (Some(toml::Value::Array(a)), None) => {
            let mut xs = Vec::with_capacity(a.len());
            for (i, v) in a.iter().enumerate() {
                match v {
                    toml::Value::Integer(n) => xs.push(*n as f64),
                    toml::Value::Float(x) => xs.push(*x),
                    other => {
                        return Err(Invalid::at(
                            &format!("{path}.samples_ms.{i}"),
                            format!("must be a number, got {}", other.type_str()),
                        ));
                    }
                }
            }
            xs
        }
        (Some(_), None) => {
            return Err(Invalid::at(
                &format!("{path}.samples_ms"),
                "must be an array of milliseconds",
            ));
        }
        (None, Some(toml::Value::String(f))) => {
            read_samples(files, f).map_err(|m| Invalid::at(&format!("{path}.file"), m))?
        }
        (None, Some(_)) => {
            return Err(Invalid::at(
                &format!("{path}.file"),
                "must be a file name (a string)",
            ));
        }
    };
    Dist::empirical_ms(&samples).map_err(|m| Invalid::at(path, format!("empirical: {m}")))
}

/// Reads a column of measured milliseconds: the first field of each line; a header line is allowed.
fn read_samples(files: DataFiles<'_>, relative: &str) -> Result<Vec<f64>, String> {
    let (text, file) = files.read_to_string(relative)?;
    let mut xs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let field = line.split(',').next().unwrap_or("").trim();
        if field.is_empty() {
            continue;
        }
        match field.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => xs.push(x),
            Ok(x) => {
                return Err(format!(
                    "{}:{}: {x} is not a duration ≥ 0",
                    file.display(),
                    i + 1
                ));
            }
            Err(_) if i == 0 => {} // a header
            Err(_) => {
                return Err(format!(
                    "{}:{}: `{field}` is not a number of milliseconds",
                    file.display(),
                    i + 1
                ));
            }
        }
    }
    if xs.is_empty() {
        return Err(format!("`{}` holds no samples", file.display()));
    }
    Ok(xs)
}
