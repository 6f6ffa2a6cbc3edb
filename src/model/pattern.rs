//! Time-varying arrival rates of an open workload (`[workload.pattern]`).

use super::check::{arrival_rate, non_negative, positive, word};
use super::diagnostic::Invalid;
use super::raw;
use crate::engine::SimTime;
use crate::model::files::DataFiles;

/// A time-varying arrival rate for an open workload; `rate_per_s` of the workload is the base.
#[derive(Clone, Debug, PartialEq)]
pub enum ArrivalPattern {
    /// The rate becomes `rate` at `at`.
    Step { at: SimTime, rate: f64 },
    /// The rate moves linearly from the base at `from` to `rate` at `to`, then stays.
    Ramp {
        from: SimTime,
        to: SimTime,
        rate: f64,
    },
    /// The rate is `rate` during [`at`, `until`).
    Spike {
        at: SimTime,
        until: SimTime,
        rate: f64,
    },
    /// base + amplitude × sin(2π t / period): a diurnal cycle.
    Sine { period_s: f64, amplitude: f64 },
    /// `rates[k]` during the k-th interval; the last rate holds after the table.
    Table { interval: SimTime, rates: Vec<f64> },
}

impl ArrivalPattern {
    /// The arrival rate at `t`, per second, given the workload's base rate.
    pub fn rate_at(&self, base: f64, t: SimTime) -> f64 {
        match self {
            ArrivalPattern::Step { at, rate } => {
                if t >= *at {
                    *rate
                } else {
                    base
                }
            }
            ArrivalPattern::Ramp { from, to, rate } => {
                if t <= *from {
                    base
                } else if t >= *to {
                    *rate
                } else {
                    let f = (t - *from).0 as f64 / (*to - *from).0 as f64;
                    base + (rate - base) * f
                }
            }
            ArrivalPattern::Spike { at, until, rate } => {
                if t >= *at && t < *until {
                    *rate
                } else {
                    base
                }
            }
            ArrivalPattern::Sine {
                period_s,
                amplitude,
            } => {
                let phase = std::f64::consts::TAU * t.as_secs_f64() / period_s;
                (base + amplitude * phase.sin()).max(0.0)
            }
            ArrivalPattern::Table { interval, rates } => {
                let k = (t.0 / interval.0.max(1)) as usize;
                rates[k.min(rates.len() - 1)]
            }
        }
    }

    /// An upper bound of the rate over all time, for thinning.
    pub fn max_rate(&self, base: f64) -> f64 {
        match self {
            ArrivalPattern::Step { rate, .. }
            | ArrivalPattern::Ramp { rate, .. }
            | ArrivalPattern::Spike { rate, .. } => base.max(*rate),
            ArrivalPattern::Sine { amplitude, .. } => base + amplitude.abs(),
            ArrivalPattern::Table { rates, .. } => rates.iter().copied().fold(0.0, f64::max),
        }
    }
}

/// `[workload.pattern]` of an open workload with base rate `base`.
pub fn pattern(p: &raw::RawPattern, files: DataFiles<'_>) -> Result<ArrivalPattern, Invalid> {
    const SHAPES: &[&str] = raw::words::PATTERN_SHAPES;
    let path = "workload.pattern";
    let shape = word(&format!("{path}.shape"), &p.shape, SHAPES)?;
    let allowed: &[&str] = match shape {
        "step" => &["at_s", "rate_per_s"],
        "ramp" => &["from_s", "to_s", "rate_per_s"],
        "spike" => &["at_s", "duration_s", "rate_per_s"],
        "sine" => &["period_s", "amplitude_per_s"],
        _ => &["interval_s", "rates_per_s", "file"],
    };
    let given = [
        ("at_s", p.at_s.is_some()),
        ("duration_s", p.duration_s.is_some()),
        ("from_s", p.from_s.is_some()),
        ("to_s", p.to_s.is_some()),
        ("rate_per_s", p.rate_per_s.is_some()),
        ("period_s", p.period_s.is_some()),
        ("amplitude_per_s", p.amplitude_per_s.is_some()),
        ("interval_s", p.interval_s.is_some()),
        ("rates_per_s", p.rates_per_s.is_some()),
        ("file", p.file.is_some()),
    ];
    for (field, set) in given {
        if set && !allowed.contains(&field) {
            return Err(Invalid::at(
                &format!("{path}.{field}"),
                format!("`{field}` does not apply to shape = \"{shape}\""),
            )
            .help(format!("{shape} takes: {}", allowed.join(", "))));
        }
    }
    let need = |field: &str, v: Option<f64>| -> Result<f64, Invalid> {
        v.ok_or_else(|| {
            Invalid::at(path, format!("shape = \"{shape}\" needs `{field}`"))
                .help(format!("{shape} takes: {}", allowed.join(", ")))
        })
    };
    let secs = |field: &str, v: Option<f64>| -> Result<SimTime, Invalid> {
        Ok(SimTime::from_secs_f64(non_negative(
            &format!("{path}.{field}"),
            need(field, v)?,
            "seconds ≥ 0",
        )?))
    };
    let rate = |v: Option<f64>| -> Result<f64, Invalid> {
        let field = format!("{path}.rate_per_s");
        let rate = non_negative(&field, need("rate_per_s", v)?, "requests per second ≥ 0")?;
        arrival_rate(&field, rate)
    };
    Ok(match shape {
        "step" => ArrivalPattern::Step {
            at: secs("at_s", p.at_s)?,
            rate: rate(p.rate_per_s)?,
        },
        "ramp" => {
            let (from, to) = (secs("from_s", p.from_s)?, secs("to_s", p.to_s)?);
            if to <= from {
                return Err(Invalid::at(
                    &format!("{path}.to_s"),
                    "to_s must be later than from_s",
                ));
            }
            ArrivalPattern::Ramp {
                from,
                to,
                rate: rate(p.rate_per_s)?,
            }
        }
        "spike" => {
            let at = secs("at_s", p.at_s)?;
            let duration = positive(
                &format!("{path}.duration_s"),
                need("duration_s", p.duration_s)?,
                "seconds > 0",
            )?;
            ArrivalPattern::Spike {
                at,
                until: at + SimTime::from_secs_f64(duration),
                rate: rate(p.rate_per_s)?,
            }
        }
        "sine" => {
            let period_s = positive(
                &format!("{path}.period_s"),
                need("period_s", p.period_s)?,
                "seconds > 0",
            )?;
            let field = format!("{path}.amplitude_per_s");
            let amplitude = need("amplitude_per_s", p.amplitude_per_s)?;
            let amplitude = non_negative(&field, amplitude, "requests per second ≥ 0")?;
            ArrivalPattern::Sine {
                period_s,
                amplitude: arrival_rate(&field, amplitude)?,
            }
        }
        _ => table(p, path, files)?,
    })
}

pub(super) fn table(
    p: &raw::RawPattern,
    path: &str,
    files: DataFiles<'_>,
) -> Result<ArrivalPattern, Invalid> {
    let interval = positive(
        &format!("{path}.interval_s"),
        p.interval_s.ok_or_else(|| {
            Invalid::at(path, "shape = \"table\" needs `interval_s`")
                .help("the length of each rate's interval, e.g. interval_s = 3600")
        })?,
        "seconds > 0",
    )?;
    let rates = match (&p.rates_per_s, &p.file) {
        (Some(r), None) => r.clone(),
        (None, Some(f)) => {
            read_rates(files, f).map_err(|m| Invalid::at(&format!("{path}.file"), m))?
        }
        _ => {
            return Err(Invalid::at(
                path,
                "shape = \"table\" needs exactly one of `rates_per_s` or `file`",
            )
            .help("rates_per_s = [100, 400, 900] or file = \"rates.csv\" (one rate per line)"));
        }
    };
    if rates.is_empty() {
        return Err(Invalid::at(path, "the table holds no rates"));
    }
    for (i, r) in rates.iter().enumerate() {
        let field = format!("{path}.rates_per_s.{i}");
        arrival_rate(&field, non_negative(&field, *r, "requests per second ≥ 0")?)?;
    }
    if rates.iter().all(|r| *r == 0.0) {
        return Err(Invalid::at(path, "every rate in the table is 0"));
    }
    Ok(ArrivalPattern::Table {
        interval: SimTime::from_secs_f64(interval),
        rates,
    })
}

/// Reads one rate per line (first field; a header line is allowed).
fn read_rates(files: DataFiles<'_>, relative: &str) -> Result<Vec<f64>, String> {
    let (text, file) = files.read_to_string(relative)?;
    let mut rates = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let field = line.split(',').next().unwrap_or("").trim();
        if field.is_empty() {
            continue;
        }
        match field.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => rates.push(x),
            Ok(x) => {
                return Err(format!(
                    "{}:{}: {x} is not a rate ≥ 0",
                    file.display(),
                    i + 1
                ));
            }
            Err(_) if i == 0 => {}
            Err(_) => {
                return Err(format!(
                    "{}:{}: `{field}` is not a number of requests per second",
                    file.display(),
                    i + 1
                ));
            }
        }
    }
    Ok(rates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_give_the_rate_of_their_shape() {
        let s = SimTime::from_secs_f64;
        let step = ArrivalPattern::Step {
            at: s(10.0),
            rate: 50.0,
        };
        assert_eq!(step.rate_at(10.0, s(9.99)), 10.0);
        assert_eq!(step.rate_at(10.0, s(10.0)), 50.0);
        let ramp = ArrivalPattern::Ramp {
            from: s(0.0),
            to: s(10.0),
            rate: 110.0,
        };
        assert!((ramp.rate_at(10.0, s(5.0)) - 60.0).abs() < 1e-9);
        assert_eq!(ramp.max_rate(10.0), 110.0);
        let sine = ArrivalPattern::Sine {
            period_s: 4.0,
            amplitude: 5.0,
        };
        assert!((sine.rate_at(10.0, s(1.0)) - 15.0).abs() < 1e-9);
        let table = ArrivalPattern::Table {
            interval: s(1.0),
            rates: vec![1.0, 2.0],
        };
        assert_eq!(table.rate_at(0.0, s(1.5)), 2.0);
        assert_eq!(table.rate_at(0.0, s(99.0)), 2.0);
    }
}
