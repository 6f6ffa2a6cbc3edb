//! The pending-event set: a binary heap ordered by (time, sequence number).

use super::SimTime;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A scheduled event. Ordered so that the `BinaryHeap` (a max-heap) pops the earliest time first,
/// and among equal times the one scheduled first. Time and sequence number are packed into one
/// `u128` key, so each comparison in the heap is a single integer comparison.
struct Entry<E> {
    key: u128,
    event: E,
}

impl<E> Entry<E> {
    #[inline]
    fn new(time: SimTime, seq: u64, event: E) -> Self {
        Entry {
            key: (u128::from(time.0) << 64) | u128::from(seq),
            event,
        }
    }

    #[inline]
    fn time(&self) -> SimTime {
        SimTime((self.key >> 64) as u64)
    }
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: the smallest key is the heap's maximum.
        other.key.cmp(&self.key)
    }
}

/// Future events, popped in (time, insertion) order.
///
/// Cancellation is not done here: an event that became irrelevant (its request timed out, say) is
/// left in the heap and recognised as stale by its receiver when popped, which keeps every
/// operation O(log n) instead of paying O(n) to search for it.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_seq: u64,
    now: SimTime,
    halted: bool,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue at time zero.
    pub fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
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
    pub fn schedule(&mut self, time: SimTime, event: E) {
        debug_assert!(time >= self.now, "event scheduled in the past");
        let time = time.max(self.now);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry::new(time, seq, event));
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
    pub fn pop_before(&mut self, end: SimTime) -> Option<(SimTime, E)> {
        if self.halted || self.heap.peek()?.time() >= end {
            return None;
        }
        let entry = self.heap.pop()?;
        let time = entry.time();
        self.now = time;
        Some((time, entry.event))
    }

    /// Number of pending events. O(1).
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no event is pending. O(1).
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
