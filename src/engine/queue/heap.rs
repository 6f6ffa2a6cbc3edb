//! A 4-ary min-heap of events ordered by (time, sequence number): the queue while few events
//! are pending — and, while no more than eight are, eight fixed slots in no order, scanned
//! without a branch (see [`Few`]).
//!
//! Why not `std::collections::BinaryHeap`: a 4-ary heap is half as deep, its four children's keys
//! sit in one or two cache lines, and sifting moves a *hole* (each displaced entry is written
//! once, the moving entry only at its final place) instead of swapping at every level. Key and
//! event live in one entry so a push is one write and a move one copy. Its comparisons compile to
//! conditional moves, which is what makes it the faster of the two queues for small sizes.

use crate::engine::{Grow, SimTime};

/// Slots for the few-events case: up to this many pending events are kept in no order.
const FEW: usize = 8;
/// Pending events below which a heap goes back to the slots.
const FEW_AGAIN: usize = FEW / 2;
const _: () = assert!(FEW == 8, "Few::earliest compares exactly eight slots");

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
    /// The events in heap order, while more than [`FEW`] are pending (empty while `few` holds
    /// them).
    heap: Vec<Entry<E>>,
    /// The events while at most [`FEW`] are pending.
    few: Few<E>,
    /// Whether `few` holds the events.
    in_few: bool,
    next_seq: u64,
}

/// Up to [`FEW`] events in no order, in fixed slots: the first `len` hold events, the rest an
/// unreachable key.
///
/// Why: a handful of events is the common case (the built-in model averages four), and there a
/// heap's sifting branches on how many children a node has and on each comparison's outcome —
/// mispredictions as the count moves between two and eight. Finding the earliest of eight fixed
/// slots is a tournament of seven comparisons with no branch at all, and a push is one write.
#[derive(Clone, Copy)]
struct Few<E> {
    keys: [u128; FEW],
    events: [E; FEW],
    len: usize,
}

impl<E: Copy + Default> Few<E> {
    fn new() -> Self {
        Few {
            keys: [u128::MAX; FEW],
            events: [E::default(); FEW],
            len: 0,
        }
    }

    /// The slot of the earliest event (any slot when empty).
    #[inline(always)]
    fn earliest(&self) -> (usize, u128) {
        let k = &self.keys;
        let pick = |a: (usize, u128), b: (usize, u128)| if b.1 < a.1 { b } else { a };
        let left = pick(pick((0, k[0]), (1, k[1])), pick((2, k[2]), (3, k[3])));
        let right = pick(pick((4, k[4]), (5, k[5])), pick((6, k[6]), (7, k[7])));
        pick(left, right)
    }

    /// Puts an event in the first empty slot (there must be one).
    #[inline(always)]
    fn push(&mut self, key: u128, event: E) {
        let i = self.len;
        self.keys[i] = key;
        self.events[i] = event;
        self.len = i + 1;
    }

    /// The events held, in slot order.
    fn entries(&self) -> impl Iterator<Item = Entry<E>> + '_ {
        (0..self.len).map(|i| Entry {
            key: self.keys[i],
            event: self.events[i],
        })
    }

    /// Empties slot `i`, moving the last event into it.
    #[inline(always)]
    fn remove(&mut self, i: usize) -> E {
        let event = self.events[i];
        let last = self.len - 1;
        self.keys[i] = self.keys[last];
        self.events[i] = self.events[last];
        self.keys[last] = u128::MAX;
        self.len = last;
        event
    }
}

impl<E: Copy + Default> Heap<E> {
    pub fn new() -> Self {
        Heap {
            heap: Vec::new(),
            few: Few::new(),
            in_few: true,
            next_seq: 0,
        }
    }

    /// An empty heap that takes no event without [`Heap::make_room`] first: the heap's state
    /// while the wheel or the radix heap holds the events.
    pub fn retired() -> Self {
        Heap {
            in_few: false,
            ..Heap::new()
        }
    }

    pub fn len(&self) -> usize {
        if self.in_few {
            self.few.len
        } else {
            self.heap.len()
        }
    }

    /// Whether the next push must first move the events (from the slots into a heap) or grow
    /// the heap's storage.
    #[inline(always)]
    pub fn is_full(&self) -> bool {
        if self.in_few {
            self.few.len == FEW
        } else {
            self.heap.len() == self.heap.capacity()
        }
    }

    /// Makes room for one more event: moves full slots into a heap, or grows the heap by a
    /// quarter (see [`Grow`]).
    #[cold]
    #[inline(never)]
    pub fn make_room(&mut self) {
        if self.in_few {
            if self.few.len < FEW {
                return;
            }
            self.heap.clear();
            self.heap.extend(self.few.entries());
            // In key order, a valid heap.
            self.heap.sort_unstable_by_key(|e| e.key);
            self.few = Few::new();
            self.in_few = false;
        }
        if self.heap.len() == self.heap.capacity() {
            self.heap.make_room();
        }
    }

    /// Moves the heap's events back into the slots.
    #[cold]
    #[inline(never)]
    fn back_to_few(&mut self) {
        debug_assert!(self.heap.len() <= FEW);
        for e in self.heap.drain(..) {
            self.few.push(e.key, e.event);
        }
        self.in_few = true;
    }

    /// Adds `event` at `time`, after every event already scheduled at `time`. O(log n).
    #[inline(always)]
    pub fn push(&mut self, time: u64, event: E) {
        let key = (u128::from(time) << 64) | u128::from(self.next_seq);
        self.next_seq += 1;
        if self.in_few {
            if self.few.len == FEW {
                self.make_room();
            } else {
                self.few.push(key, event);
                return;
            }
        }
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
        if self.in_few {
            if self.few.len == 0 {
                return None;
            }
            let (i, key) = self.few.earliest();
            let time = SimTime((key >> 64) as u64);
            if time >= end {
                return None;
            }
            return Some((time, self.few.remove(i)));
        }
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
        if self.heap.len() < FEW_AGAIN {
            self.back_to_few();
        }
        Some((time, event))
    }

    /// The earliest event and the one after it, while the events are in the heap proper (not
    /// the few slots, whose events' records are in the cache anyway).
    #[inline(always)]
    pub fn peek_two(&self) -> [Option<(u64, E)>; 2] {
        if self.in_few {
            return [None, None];
        }
        let timed = |e: &Entry<E>| ((e.key >> 64) as u64, e.event);
        let first = self.heap.first().map(timed);
        // The second earliest is the earliest of the root's children.
        let children = self
            .heap
            .get(1..self.heap.len().min(ARITY + 1))
            .unwrap_or(&[]);
        let second = children.iter().min_by_key(|e| e.key).map(timed);
        [first, second]
    }

    /// Every event, in the order they would be popped.
    pub fn into_sorted(self) -> impl Iterator<Item = (u64, E)> {
        let mut entries = self.heap;
        entries.extend(self.few.entries());
        entries.sort_unstable_by_key(|e| e.key);
        entries.into_iter().map(|e| ((e.key >> 64) as u64, e.event))
    }

    /// Fills the hole the root left with `entry` (the former last entry), bottom-up (Floyd): the
    /// hole first moves down to a leaf, the smaller child moving up into it at each level, and
    /// `entry` then rises from there to its place.
    ///
    /// Why not stop on the way down where `entry` fits: `entry` came from the end of the array,
    /// a leaf, and almost always belongs near the bottom again, so the comparison with it at
    /// every level (a branch that goes one way until it goes the other: a misprediction per
    /// pop) buys nothing; rising from the leaf is one or two comparisons. Keys are unique
    /// (sequence numbers break ties), so the pops are the same whichever way the heap settles.
    #[inline(always)]
    fn sift_down(&mut self, entry: Entry<E>) {
        let heap = self.heap.as_mut_slice();
        let n = heap.len();
        let mut i = 0;
        loop {
            let first = i * ARITY + 1;
            if first + ARITY > n {
                break;
            }
            // A full node (the common case): the smaller of two pairs, without a loop.
            let left = min_entry(heap, (first, heap[first].key), first + 1);
            let right = min_entry(heap, (first + 2, heap[first + 2].key), first + 3);
            let best = if right.1 < left.1 { right.0 } else { left.0 };
            heap[i] = heap[best];
            i = best;
        }
        // The last, partial node: one to three children.
        let first = i * ARITY + 1;
        if first < n {
            let mut best = (first, heap[first].key);
            if first + 1 < n {
                best = min_entry(heap, best, first + 1);
                if first + 2 < n {
                    best = min_entry(heap, best, first + 2);
                }
            }
            heap[i] = heap[best.0];
            i = best.0;
        }
        // `entry` rises from the leaf the hole reached.
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if heap[parent].key <= entry.key {
                break;
            }
            heap[i] = heap[parent];
            i = parent;
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
    use std::collections::BTreeSet;

    /// Sizes that keep crossing between the slots and the heap (0 … 20 pending), with many equal
    /// times: pops come out in (time, insertion) order in both forms and across every move.
    /// Pushes the next event (numbered by insertion) at `t` into `heap` and into `reference`.
    fn push_both(
        heap: &mut Heap<u64>,
        reference: &mut BTreeSet<(u64, u64)>,
        t: u64,
        inserted: &mut u64,
    ) {
        if heap.is_full() {
            heap.make_room();
        }
        heap.push(t, *inserted);
        reference.insert((t, *inserted));
        *inserted += 1;
    }

    #[test]
    fn few_slots_and_heap_pop_in_order_across_moves() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        let mut heap: Heap<u64> = Heap::new();
        let mut reference = BTreeSet::new(); // (time, insertion order)
        let (mut now, mut inserted, mut moves, mut was_few) = (0u64, 0u64, 0, true);
        for step in 0..100_000 {
            // Drift up for a while, then down, so the size sweeps the range again and again.
            let up = if (step / 300) % 2 == 0 { 0.6 } else { 0.4 };
            if reference.len() < 20 && rng.random::<f64>() < up {
                let t = now + rng.random_range(0..4u64);
                push_both(&mut heap, &mut reference, t, &mut inserted);
            } else {
                let end = now + rng.random_range(0..6u64);
                let expected = reference.first().copied().filter(|&(t, _)| t < end);
                let got = heap.pop_before(SimTime(end)).map(|(t, e)| (t.0, e));
                assert_eq!(got, expected);
                if let Some(first) = expected {
                    reference.remove(&first);
                    now = first.0;
                }
            }
            assert_eq!(heap.len(), reference.len());
            moves += usize::from(heap.in_few != was_few);
            was_few = heap.in_few;
        }
        assert!(moves > 100, "{moves} moves between the slots and the heap");
    }

    /// Thousands pending (heaps five and six levels deep, every shape of last node), growing
    /// and shrinking, with many equal times: pops come out in (time, insertion) order.
    #[test]
    fn a_deep_heap_pops_in_order() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(13);
        let mut heap: Heap<u64> = Heap::new();
        let mut reference = BTreeSet::new(); // (time, insertion order)
        let (mut now, mut inserted, mut largest) = (0u64, 0u64, 0);
        for step in 0..400_000 {
            let up = if (step / 20_000) % 2 == 0 { 0.6 } else { 0.4 };
            if rng.random::<f64>() < up {
                let t = now + rng.random_range(0..1_000u64);
                push_both(&mut heap, &mut reference, t, &mut inserted);
            } else {
                let expected = reference.pop_first();
                let got = heap.pop_before(SimTime::MAX).map(|(t, e)| (t.0, e));
                assert_eq!(got, expected);
                if let Some((t, _)) = expected {
                    now = t;
                }
            }
            largest = largest.max(reference.len());
        }
        assert!(largest > 3_000, "{largest} pending at most");
    }
}
