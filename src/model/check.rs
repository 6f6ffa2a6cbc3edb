//! The number, word and name checks every table's validation shares: each returns the value
//! or an error at the field's path that says what is allowed.

use super::diagnostic::{Invalid, did_you_mean};

/// The most requests a second an arrival rate may be: the simulated clock counts whole
/// nanoseconds, so above one arrival a nanosecond arrivals could no longer be told apart.
pub(super) const MAX_RATE_PER_S: f64 = 1e9;

/// Whether `value` is a finite number > 0.
pub(super) fn positive(path: &str, value: f64, allowed: &str) -> Result<f64, Invalid> {
    if !value.is_finite() || value <= 0.0 {
        return Err(Invalid::at(
            path,
            format!("must be {allowed}, got {}", shown(value)),
        ));
    }
    Ok(value)
}

/// Whether an arrival rate (already checked to be a number ≥ 0) is at most [`MAX_RATE_PER_S`].
pub(super) fn arrival_rate(path: &str, value: f64) -> Result<f64, Invalid> {
    if value > MAX_RATE_PER_S {
        return Err(Invalid::at(
            path,
            format!(
                "must be at most {MAX_RATE_PER_S:e} requests per second (one a nanosecond, the \
                 simulated clock's tick), got {}",
                shown(value)
            ),
        ));
    }
    Ok(value)
}

/// A number as a message shows it: in exponent form when plain digits would run long (Rust
/// prints `1e308` as 309 digits).
pub(super) fn shown(value: f64) -> String {
    let size = value.abs();
    if size >= 1e15 || (size > 0.0 && size < 1e-6) {
        format!("{value:e}")
    } else {
        format!("{value}")
    }
}

/// Whether `value` is a finite number ≥ 0; `allowed` says what the field takes.
pub(super) fn non_negative(path: &str, value: f64, allowed: &str) -> Result<f64, Invalid> {
    if !value.is_finite() || value < 0.0 {
        return Err(Invalid::at(
            path,
            format!("must be {allowed}, got {}", shown(value)),
        ));
    }
    Ok(value)
}

/// A whole number in [`min`, `max`] (the bounds are part of the message).
pub(super) fn whole(path: &str, value: i64, min: i64, max: i64) -> Result<u32, Invalid> {
    if value < min || value > max {
        return Err(Invalid::at(
            path,
            format!("must be a whole number in [{min}, {max}], got {value}"),
        ));
    }
    Ok(value as u32)
}

/// One of `allowed`, with a suggestion otherwise.
pub(super) fn word<'a>(path: &str, value: &str, allowed: &[&'a str]) -> Result<&'a str, Invalid> {
    allowed
        .iter()
        .find(|a| **a == value)
        .copied()
        .ok_or_else(|| {
            let hint = did_you_mean(value, allowed.iter().copied())
                .map(|b| format!("did you mean `{b}`? "))
                .unwrap_or_default();
            Invalid::at(path, format!("unknown value `{value}`"))
                .help(format!("{hint}one of: {}", allowed.join(", ")))
        })
}

/// A probability in [0, 1].
pub(super) fn probability(path: &str, p: f64) -> Result<f64, Invalid> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Invalid::at(
            path,
            format!("must be a probability in [0, 1], got {}", shown(p)),
        ));
    }
    Ok(p)
}

/// A name that can be part of a dotted path (`service.endpoint`, `--set` paths).
pub(super) fn check_identifier(path: &str, name: &str, what: &str) -> Result<(), Invalid> {
    if name.is_empty() || name.contains('.') || name.chars().any(char::is_whitespace) {
        return Err(Invalid::at(path, format!("`{name}` cannot name a {what}"))
            .help("names may not be empty or contain dots or spaces"));
    }
    Ok(())
}

/// A whole number ≥ `min` that fits a `u32`.
pub(super) fn count(path: &str, value: i64, min: i64) -> Result<u32, Invalid> {
    if value < min || value > u32::MAX as i64 {
        return Err(Invalid::at(
            path,
            format!("must be a whole number ≥ {min}, got {value}"),
        ));
    }
    Ok(value as u32)
}

/// An optional count ≥ 0 (a capacity or a limit left out means none).
pub(super) fn optional_count(path: &str, value: Option<i64>) -> Result<Option<u32>, Invalid> {
    value.map(|v| count(path, v, 0)).transpose()
}

/// A message size in bytes ≥ 0.
pub(super) fn bytes(path: &str, value: i64) -> Result<u64, Invalid> {
    if value < 0 {
        return Err(Invalid::at(
            path,
            format!("must be a number of bytes ≥ 0, got {value}"),
        ));
    }
    Ok(value as u64)
}

/// Whether `value` is a finite number ≥ 0 (saying so when it is not).
pub(super) fn non_negative_number(path: &str, value: f64) -> Result<f64, Invalid> {
    if !value.is_finite() || value < 0.0 {
        return Err(Invalid::at(
            path,
            format!("must be a finite number ≥ 0, got {}", shown(value)),
        ));
    }
    Ok(value)
}
