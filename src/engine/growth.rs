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

#[cold]
#[inline(never)]
fn grow_vec<T>(v: &mut Vec<T>) {
    v.reserve_exact((v.len() / 4).max(MIN_GROWTH));
}

#[cold]
#[inline(never)]
fn grow_deque<T>(v: &mut VecDeque<T>) {
    v.reserve_exact((v.len() / 4).max(MIN_GROWTH));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_stays_under_a_quarter_as_a_vector_grows() {
        let mut v = Vec::new();
        for i in 0..100_000u32 {
            v.make_room();
            let before = v.capacity();
            v.push(i);
            assert_eq!(v.capacity(), before, "make_room left room for the push");
            if v.len() > 4 * MIN_GROWTH {
                assert!(
                    v.capacity() <= v.len() + v.len() / 4 + 1,
                    "{} for {}",
                    v.capacity(),
                    v.len()
                );
            }
        }
        let mut q = VecDeque::new();
        for i in 0..100_000u32 {
            q.make_room();
            q.push_back(i);
            if q.len() > 4 * MIN_GROWTH {
                assert!(
                    q.capacity() <= q.len() + q.len() / 4 + 1,
                    "{} for {}",
                    q.capacity(),
                    q.len()
                );
            }
        }
    }
}
