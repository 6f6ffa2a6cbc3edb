//! How the engine's per-record storage grows: by a quarter, not by doubling.
//!
//! A vector that doubles is, right after growing, half empty: with as many requests in flight as a
//! run's peak, the calls' arena and the event queue could hold twice the memory their records
//! need, and a run's footprint would jump with each power of two it crosses. Growing by a quarter
//! keeps the slack under 25% (a cost of a few more, amortised O(1), reallocations; the large ones
//! are remapped in place by the system allocator, not copied).

use std::collections::VecDeque;

/// Elements added at least, so small collections do not reallocate at every push.
const MIN_GROWTH: usize = 16;

/// Storage that makes room for one more element, growing by a quarter when full.
pub trait Grow {
    /// Ensures the next push does not reallocate.
    fn make_room(&mut self);
}

impl<T> Grow for Vec<T> {
    #[inline(always)]
    fn make_room(&mut self) {
        if self.len() == self.capacity() {
            grow_vec(self);
        }
    }
}

impl<T> Grow for VecDeque<T> {
    #[inline(always)]
    fn make_room(&mut self) {
        if self.len() == self.capacity() {
            grow_deque(self);
        }
    }
}

/// Elements to add to a full collection of `len`: a quarter, at least [`MIN_GROWTH`].
fn growth(len: usize) -> usize {
    (len / 4).max(MIN_GROWTH)
}

#[cold]
#[inline(never)]
fn grow_vec<T>(v: &mut Vec<T>) {
    v.reserve_exact(growth(v.len()));
}

#[cold]
#[inline(never)]
fn grow_deque<T>(v: &mut VecDeque<T>) {
    v.reserve_exact(growth(v.len()));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes 100,000 elements through `make_room`, checking that it leaves room for each push
    /// and that, past a few minimal growths, capacity stays within a quarter of the length.
    fn check<C: Grow>(
        mut c: C,
        push: impl Fn(&mut C, u32),
        len_cap: impl Fn(&C) -> (usize, usize),
    ) {
        for i in 0..100_000u32 {
            c.make_room();
            let before = len_cap(&c).1;
            push(&mut c, i);
            let (len, cap) = len_cap(&c);
            assert_eq!(cap, before, "make_room left room for the push");
            if len > 4 * MIN_GROWTH {
                assert!(cap <= len + len / 4 + 1, "capacity {cap} for {len}");
            }
        }
    }

    #[test]
    fn slack_stays_under_a_quarter_as_storage_grows() {
        check(Vec::new(), |v, i| v.push(i), |v| (v.len(), v.capacity()));
        check(
            VecDeque::new(),
            |q, i| q.push_back(i),
            |q| (q.len(), q.capacity()),
        );
    }
}
