//! A 4-ary min-heap of events ordered by (time, sequence number): the queue while few events
//! are pending.
//!
//! Why not `std::collections::BinaryHeap`: a 4-ary heap is half as deep, its four children's keys
//! sit in one or two cache lines, and sifting moves a *hole* (each displaced entry is written
//! once, the moving entry only at its final place) instead of swapping at every level. Key and
//! event live in one entry so a push is one write and a move one copy. Its comparisons compile to
//! conditional moves, which is what makes it the faster of the two queues for small sizes.

use crate::engine::{Grow, SimTime};

/// Children per node.
const ARITY: usize = 4;

/// One pending event and its order.
#[derive(Clone, Copy)]
struct Entry<E> {
    /// `(time << 64) | sequence`: one integer comparison orders two events, ties FIFO.
    key: u128,
    event: E,
}

/// Events in (time, insertion) order.
pub struct Heap<E> {
    heap: Vec<Entry<E>>,
    next_seq: u64,
}

impl<E: Copy> Heap<E> {
    pub fn new() -> Self {
        Heap {
            heap: Vec::new(),
            next_seq: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether the next push must grow the storage.
    #[inline(always)]
    pub fn is_full(&self) -> bool {
        self.heap.len() == self.heap.capacity()
    }

    /// Makes room for one more event, growing by a quarter (see [`Grow`]).
    pub fn make_room(&mut self) {
        self.heap.make_room();
    }

    /// Adds `event` at `time`, after every event already scheduled at `time`. O(log n).
    #[inline(always)]
    pub fn push(&mut self, time: u64, event: E) {
        let key = (u128::from(time) << 64) | u128::from(self.next_seq);
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

    /// Removes the earliest event if its time is before `end`. O(log n).
    #[inline(always)]
    pub fn pop_before(&mut self, end: SimTime) -> Option<(SimTime, E)> {
        let first = self.heap.first()?.key;
        let time = SimTime((first >> 64) as u64);
        if time >= end {
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
        Some((time, event))
    }

    /// Every event, in the order they would be popped.
    pub fn into_sorted(self) -> impl Iterator<Item = (u64, E)> {
        let mut entries = self.heap;
        entries.sort_unstable_by_key(|e| e.key);
        entries.into_iter().map(|e| ((e.key >> 64) as u64, e.event))
    }

    /// Fills the hole the root left with `entry` (the former last entry): smaller children move
    /// up into the hole until `entry` fits.
    #[inline(always)]
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
