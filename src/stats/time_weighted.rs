//! Time-weighted averages (utilisation, queue length) over the measured window.

use crate::engine::SimTime;

/// A quantity that changes at events, averaged over time from `from` (the end of warm-up) on.
#[derive(Clone, Debug)]
pub struct TimeWeighted {
    value: i64,
    last: SimTime,
    from: SimTime,
    /// ∫ value dt over [from, last], in value × nanoseconds.
    area: f64,
    /// ∫ value dt over [0, last], warm-up included (for time series).
    lifetime_area: f64,
    max: i64,
}

impl TimeWeighted {
    /// Starts at zero; time before `from` is not counted.
    pub fn new(from: SimTime) -> Self {
        TimeWeighted {
            value: 0,
            last: SimTime::ZERO,
            from,
            area: 0.0,
            lifetime_area: 0.0,
            max: 0,
        }
    }

    /// Changes the value by `delta` at time `now` (not earlier than the previous change).
    #[inline]
    pub fn add(&mut self, now: SimTime, delta: i64) {
        self.lifetime_area += self.value as f64 * (now.0 - self.last.0) as f64;
        let start = self.last.max(self.from);
        if now > start {
            self.area += self.value as f64 * (now.0 - start.0) as f64;
            // The old value was held over part of the window.
            self.max = self.max.max(self.value);
        }
        self.last = now;
        self.value += delta;
        if now >= self.from && self.value > self.max {
            self.max = self.value;
        }
    }

    /// ∫ value dt over [0, now], in value × nanoseconds: the difference of two of these over an
    /// interval, divided by its length, is the interval's time average.
    pub fn integral_to(&self, now: SimTime) -> f64 {
        self.lifetime_area + self.value as f64 * now.0.saturating_sub(self.last.0) as f64
    }

    /// The current value.
    pub fn value(&self) -> i64 {
        self.value
    }

    /// The time average over [from, end].
    pub fn mean(&self, end: SimTime) -> f64 {
        let mut area = self.area;
        let start = self.last.max(self.from);
        if end > start {
            area += self.value as f64 * (end.0 - start.0) as f64;
        }
        let span = end.saturating_sub(self.from).0;
        if span == 0 { 0.0 } else { area / span as f64 }
    }

    /// The largest value held at or after `from` (including the value held when `from` passed).
    pub fn max(&self) -> i64 {
        self.max.max(self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_only_over_the_window() {
        let mut tw = TimeWeighted::new(SimTime(10));
        tw.add(SimTime(0), 5); // 5 from 0..20, only 10..20 counts
        tw.add(SimTime(20), -3); // 2 from 20..30
        assert!((tw.mean(SimTime(30)) - (5.0 * 10.0 + 2.0 * 10.0) / 20.0).abs() < 1e-12);
        assert_eq!(tw.max(), 5);
    }
}
