//! Time-weighted averages (utilisation, queue length) over the measured window.

use crate::engine::SimTime;

/// A quantity that changes at events, averaged over time from `from` (the end of warm-up) on.
///
/// The integral is kept in integer value × nanoseconds, exact. A change of `delta` at `t` adds
/// `delta × (T − t)` to the integral up to any later `T`, so ∫₀ᵀ value dt = value·T − Σ delta·t:
/// a change adds `delta·t` to one sum (an add for `delta = ±1`) and needs neither the time of the
/// previous change nor a multiply. The integral at `from` is snapshotted when the first change at
/// or after `from` happens, so the window's area is a difference and the hot path tests a single
/// comparison.
///
/// The fields `add` touches come first (`repr(C)`), in 40 bytes: a record that starts on a
/// 16-byte boundary has them on one cache line unless it starts in a line's last 16 bytes (a
/// station's busy count was on two lines, and a large model misses the cache on each).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct TimeWeighted {
    /// Σ delta × time over every change so far, warm-up included.
    weighted: i128,
    value: i64,
    /// `from` until the window has started, then `u64::MAX`: the one test `add` makes.
    pending_from: u64,
    /// The largest value held in the window so far (meaningful once it has started).
    max: i64,
    /// Start of the measured window.
    from: u64,
    /// ∫ value dt over [0, from], once the window has started.
    area_at_from: i128,
}

impl TimeWeighted {
    /// Starts at zero; time before `from` is not counted.
    pub fn new(from: SimTime) -> Self {
        TimeWeighted {
            value: 0,
            weighted: 0,
            from: from.0,
            pending_from: from.0,
            area_at_from: 0,
            max: 0,
        }
    }

    /// Changes the value by `delta` at time `now` (not earlier than the previous change).
    #[inline]
    pub fn add(&mut self, now: SimTime, delta: i64) {
        if now.0 >= self.pending_from {
            self.start_window(now.0, delta);
        }
        self.weighted += i128::from(delta) * i128::from(now.0);
        self.value += delta;
        debug_assert!(self.value >= 0, "a time-weighted count is never negative");
        // Only a rise can set a new maximum; with `delta` a constant at most call sites, the
        // test folds away.
        if delta > 0 {
            self.max = self.max.max(self.value);
        }
    }

    /// The first change at or after `from` (by `delta`): snapshot the integral there, and start
    /// the maximum from the value held when `from` passed (if it was held over part of the
    /// window) and the value the change sets (`add` tests only rises).
    #[cold]
    fn start_window(&mut self, now: u64, delta: i64) {
        self.area_at_from = self.integral_exact(self.from);
        let after = self.value + delta;
        self.max = if now > self.from {
            self.value.max(after)
        } else {
            after
        };
        self.pending_from = u64::MAX;
    }

    /// Whether a change has happened at or after `from`.
    fn window_started(&self) -> bool {
        self.pending_from == u64::MAX
    }

    /// ∫ value dt over [0, now], in value × nanoseconds: the difference of two of these over an
    /// interval, divided by its length, is the interval's time average. `now` is not earlier
    /// than the last change.
    pub fn integral_to(&self, now: SimTime) -> f64 {
        self.integral_exact(now.0) as f64
    }

    /// value·now − Σ delta·t: each change's delta, held from its time to `now`.
    fn integral_exact(&self, now: u64) -> i128 {
        i128::from(self.value) * i128::from(now) - self.weighted
    }

    /// The current value.
    pub fn value(&self) -> i64 {
        self.value
    }

    /// The time average over [from, end].
    pub fn mean(&self, end: SimTime) -> f64 {
        let span = end.0.saturating_sub(self.from);
        if span == 0 {
            return 0.0;
        }
        let area = if self.window_started() {
            self.integral_exact(end.0) - self.area_at_from
        } else {
            // Unchanged since before the window: the current value held throughout.
            i128::from(self.value) * i128::from(span)
        };
        area as f64 / span as f64
    }

    /// The largest value held at or after `from` (including the value held when `from` passed).
    pub fn max(&self) -> i64 {
        if self.window_started() {
            self.max.max(self.value)
        } else {
            self.value
        }
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

    #[test]
    fn max_counts_the_value_held_when_the_window_opens_only_if_held_into_it() {
        // 7 is held from 0 to exactly 10 (the window's start): it never counts.
        let mut tw = TimeWeighted::new(SimTime(10));
        tw.add(SimTime(0), 7);
        tw.add(SimTime(10), -6);
        assert_eq!(tw.max(), 1);
        // ... and the 1 it drops to at the window's start is held until the next drop.
        tw.add(SimTime(20), -1);
        assert_eq!(tw.max(), 1);
        // 7 held from 0 to 11: one nanosecond inside the window.
        let mut tw = TimeWeighted::new(SimTime(10));
        tw.add(SimTime(0), 7);
        tw.add(SimTime(11), -6);
        assert_eq!(tw.max(), 7);
        assert!((tw.mean(SimTime(20)) - (7.0 + 9.0) / 10.0).abs() < 1e-12);
        // No change inside the window: its value throughout.
        let mut tw = TimeWeighted::new(SimTime(10));
        tw.add(SimTime(2), 3);
        assert_eq!(tw.max(), 3);
        assert!((tw.mean(SimTime(30)) - 3.0).abs() < 1e-12);
        assert!((tw.integral_to(SimTime(30)) - 84.0).abs() < 1e-12);
    }
}
