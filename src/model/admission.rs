//! Admission control in front of a service or the gateway: the token bucket of `rate_limit`.

use super::check::positive;
use super::diagnostic::Invalid;
use super::raw;

/// A token bucket: `rate_per_s` tokens a second, at most `burst` saved; each call takes one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub rate_per_s: f64,
    pub burst: f64,
}

/// A `rate_limit = { rate_per_s, burst }` table.
pub fn rate_limit(r: &raw::RawRateLimit, path: &str) -> Result<RateLimit, Invalid> {
    let rate_per_s = positive(
        &format!("{path}.rate_per_s"),
        r.rate_per_s,
        "tokens per second > 0",
    )?;
    let burst = r.burst;
    if !burst.is_finite() || burst < 1.0 {
        return Err(Invalid::at(
            &format!("{path}.burst"),
            format!("must be at least 1 token, got {burst}"),
        ));
    }
    Ok(RateLimit { rate_per_s, burst })
}
