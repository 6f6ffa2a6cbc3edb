//! Simulated time as integer nanoseconds.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A point in simulated time, or a span of it, in integer nanoseconds.
///
/// Integers rather than `f64` make ordering exact and runs reproducible: adding the same delays in
/// the same order always lands on the same instant. `u64` nanoseconds reach about 584 years.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// The largest representable time; used as "never".
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// Converts seconds to simulated time, saturating at the representable range.
    pub fn from_secs_f64(secs: f64) -> SimTime {
        SimTime::from_nanos_f64(secs * 1e9)
    }

    /// Converts milliseconds to simulated time, saturating at the representable range.
    pub fn from_millis_f64(ms: f64) -> SimTime {
        SimTime::from_nanos_f64(ms * 1e6)
    }

    /// Rounds a (possibly fractional) number of nanoseconds; negative and NaN become zero.
    #[inline]
    pub fn from_nanos_f64(ns: f64) -> SimTime {
        // `as` truncates and saturates (NaN and negatives -> 0, +inf -> u64::MAX), so adding
        // one half rounds to nearest without a call to libm's `round` on the hot path. Below
        // 2^63 (any duration a run meets) the signed conversion is a single instruction where
        // the unsigned one needs a two-way split.
        let x = ns + 0.5;
        if x < 9.0e18 {
            SimTime(x.max(0.0) as i64 as u64)
        } else {
            SimTime(x as u64)
        }
    }

    /// Nanoseconds since the start of the run.
    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// This time in seconds.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// This time in milliseconds.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_sub(self, earlier: SimTime) -> SimTime {
        SimTime(self.0.saturating_sub(earlier.0))
    }
}

impl Add for SimTime {
    type Output = SimTime;
    /// Saturating: a delay that would overflow lands at `SimTime::MAX`, which no run reaches.
    fn add(self, rhs: SimTime) -> SimTime {
        SimTime(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for SimTime {
    fn add_assign(&mut self, rhs: SimTime) {
        *self = *self + rhs;
    }
}

impl Sub for SimTime {
    type Output = SimTime;
    /// Saturating at zero.
    fn sub(self, rhs: SimTime) -> SimTime {
        self.saturating_sub(rhs)
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_to_the_nearest_nanosecond() {
        assert_eq!(SimTime::from_millis_f64(1.5), SimTime(1_500_000));
        assert_eq!(SimTime::from_secs_f64(60.0).as_nanos(), 60_000_000_000);
        assert_eq!(SimTime::from_nanos_f64(0.4), SimTime(0));
        assert_eq!(SimTime::from_nanos_f64(-3.0), SimTime(0));
        assert_eq!(SimTime::from_nanos_f64(f64::NAN), SimTime(0));
        assert_eq!(SimTime::from_secs_f64(1e300), SimTime::MAX);
    }

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        assert_eq!(SimTime::MAX + SimTime(1), SimTime::MAX);
        assert_eq!(SimTime(3) - SimTime(5), SimTime::ZERO);
    }
}
