//! The pending-event set: a 4-ary min-heap ordered by (time, sequence number).
//!
//! Why not `std::collections::BinaryHeap`: profiling showed the heap as the largest single cost.
//! A 4-ary heap is half as deep, its four children's keys sit in one or two cache lines, and
//! sifting moves a *hole* (each displaced entry is written once, the moving entry only at its
//! final place) instead of swapping at every level. Key and event live in one entry so a push is
//! one write and a move one copy.

use super::SimTime;

/// Children per node.
const ARITY: usize = 4;

/// One pending event and its order.
#[derive(Clone, Copy)]
struct Entry<E> {
    /// `(time << 64) | sequence`: one integer comparison orders two events, ties FIFO.
    key: u128,
    event: E,
}

/// Future events, popped in (time, insertion) order.
///
/// Cancellation is not done here: an event that became irrelevant (its request timed out, say) is
/// left in the heap and recognised as stale by its receiver when popped, which keeps every
/// operation O(log n) instead of paying O(n) to search for it.
pub struct EventQueue<E> {
    heap: Vec<Entry<E>>,
    next_seq: u64,
    now: SimTime,
    halted: bool,
}

impl<E: Copy> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

/// Events are `Copy` (small handles and indices): the heap moves them by value.
impl<E: Copy> EventQueue<E> {
    /// An empty queue at time zero.
    pub fn new() -> Self {
        EventQueue {
            heap: Vec::new(),
            next_seq: 0,
            now: SimTime::ZERO,
            halted: false,
        }
    }

    /// The time of the last event popped (the simulation clock).
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedules `event` at `time`. O(log n).
    ///
    /// Scheduling in the past is a logic error; such an event is delivered at the current time so
    /// the clock never runs backwards.
    #[inline(always)]
    pub fn schedule(&mut self, time: SimTime, event: E) {
        debug_assert!(time >= self.now, "event scheduled in the past");
        let time = time.max(self.now);
        let key = (u128::from(time.0) << 64) | u128::from(self.next_seq);
        self.next_seq += 1;
        // Sift up from a hole at the end: parents larger than the key move down into it.
        let entry = Entry { key, event };
        let mut i = self.heap.len();
        self.heap.push(entry);
        let heap = self.heap.as_mut_slice();
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if heap[parent].key <= key {
                break;
            }
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = entry;
    }

    /// Schedules `event` after `delay` from now. O(log n).
    pub fn schedule_in(&mut self, delay: SimTime, event: E) {
        self.schedule(self.now + delay, event);
    }

    /// Stops the run: no event is popped after this. For a process that finds it cannot go on
    /// (a limit reached, an interruption).
    pub fn halt(&mut self) {
        self.halted = true;
    }

    /// Whether [`EventQueue::halt`] was called.
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// Pops the earliest event if it lies strictly before `end`, advancing the clock. O(log n).
    #[inline]
    pub fn pop_before(&mut self, end: SimTime) -> Option<(SimTime, E)> {
        let first = self.heap.first()?.key;
        let time = SimTime((first >> 64) as u64);
        if self.halted || time >= end {
            return None;
        }
        let last = self.heap.pop()?;
        let event = if self.heap.is_empty() {
            last.event
        } else {
            let top = self.heap[0].event;
            self.sift_down(last);
            top
        };
        self.now = time;
        Some((time, event))
    }

    /// Number of pending events. O(1).
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no event is pending. O(1).
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Fills the hole the root left with `entry` (the former last entry): smaller children move
    /// up into the hole until `entry` fits.
    #[inline]
    fn sift_down(&mut self, entry: Entry<E>) {
        let heap = self.heap.as_mut_slice();
        let n = heap.len();
        let key = entry.key;
        let mut i = 0;
        loop {
            let first = i * ARITY + 1;
            if first >= n {
                break;
            }
            let (best, best_key) = if first + ARITY <= n {
                // A full node (the common case): the smaller of two pairs, without a loop.
                let left = min_entry(heap, (first, heap[first].key), first + 1);
                let right = min_entry(heap, (first + 2, heap[first + 2].key), first + 3);
                if right.1 < left.1 { right } else { left }
            } else {
                // The last, partial node: one to three children, unrolled.
                let mut best = (first, heap[first].key);
                if first + 1 < n {
                    best = min_entry(heap, best, first + 1);
                    if first + 2 < n {
                        best = min_entry(heap, best, first + 2);
                    }
                }
                best
            };
            if best_key >= key {
                break;
            }
            heap[i] = heap[best];
            i = best;
        }
        heap[i] = entry;
    }
}

/// `best` or entry `c`, whichever has the smaller key (`best` on a tie).
#[inline(always)]
fn min_entry<E>(heap: &[Entry<E>], best: (usize, u128), c: usize) -> (usize, u128) {
    let key = heap[c].key;
    if key < best.1 { (c, key) } else { best }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn pops_in_time_order_and_fifo_among_ties() {
        let mut q = EventQueue::new();
        q.schedule(SimTime(5), "b1");
        q.schedule(SimTime(1), "a");
        q.schedule(SimTime(5), "b2");
        q.schedule(SimTime(9), "c");
        q.schedule(SimTime(5), "b3");
        let mut out = Vec::new();
        while let Some((t, e)) = q.pop_before(SimTime::MAX) {
            out.push((t.0, e));
        }
        assert_eq!(
            out,
            vec![(1, "a"), (5, "b1"), (5, "b2"), (5, "b3"), (9, "c")]
        );
    }

    #[test]
    fn pop_before_leaves_later_events_and_advances_the_clock() {
        let mut q = EventQueue::new();
        q.schedule(SimTime(10), 1);
        q.schedule(SimTime(20), 2);
        assert_eq!(q.pop_before(SimTime(20)), Some((SimTime(10), 1)));
        assert_eq!(q.now(), SimTime(10));
        assert_eq!(q.pop_before(SimTime(20)), None);
        assert_eq!(q.len(), 1);
        q.schedule_in(SimTime(3), 3);
        assert_eq!(q.pop_before(SimTime::MAX), Some((SimTime(13), 3)));
    }

    /// Against a sorted reference, with interleaved pushes and pops and many ties.
    #[test]
    fn matches_a_sorted_reference_under_random_use() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let mut q = EventQueue::new();
        let mut reference: Vec<(u64, u64)> = Vec::new(); // (time, insertion order)
        let mut inserted = 0u64;
        for _ in 0..20_000 {
            if rng.random::<f64>() < 0.55 {
                let t = q.now().0 + rng.random_range(0..50u64);
                q.schedule(SimTime(t), inserted);
                reference.push((t, inserted));
                inserted += 1;
            } else if let Some((t, id)) = q.pop_before(SimTime::MAX) {
                reference.sort();
                let expected = reference.remove(0);
                assert_eq!((t.0, id), expected);
            }
        }
    }
}
