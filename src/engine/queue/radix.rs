//! A radix heap of events over integer nanosecond times: the queue while many events are
//! pending.
//!
//! Simulated time never runs backwards, so the queue's keys are monotone: every event scheduled
//! is at or after the last one popped. A radix heap (Ahuja, Mehlhorn, Orlin & Tarjan) exploits
//! that: an event goes into the bucket of the highest bit in which its time differs from the last
//! popped time, and a pop takes the lowest non-empty bucket, finds its minimum and redistributes
//! its events into lower buckets. Every operation is a sequential walk over small vectors, where
//! a 4-ary heap follows a path of random accesses through the whole array: with a million events
//! pending, the heap spent two thirds of a run waiting for cache misses on its children's keys.
//!
//! Ties need no sequence number: events of equal time are always in one bucket, in the order
//! they were scheduled (a bucket receives redistributed events only while it is empty, and
//! redistribution keeps their order), and the bucket of the current time is consumed from the
//! front.

/// Bits of a time, so buckets besides the current time's.
const BITS: usize = 64;
/// Entries a bucket keeps room for once emptied; larger buffers are freed (few in unit tests, so
/// that freeing is exercised).
const KEEP_CAPACITY: usize = if cfg!(test) { 8 } else { 1 << 12 };

/// One pending event.
#[derive(Clone, Copy)]
struct Entry<E> {
    time: u64,
    event: E,
}

/// Events in (time, insertion) order; times pushed are never before the last time popped.
pub struct Radix<E> {
    /// Events at time `last`, consumed from `head` on (first scheduled, first popped).
    current: Vec<Entry<E>>,
    head: usize,
    /// `buckets[b]`: events whose time differs from `last` first in bit `b`.
    buckets: [Vec<Entry<E>>; BITS],
    /// Bit `b` set when `buckets[b]` is not empty.
    occupied: u64,
    /// The time of `current`: no pending event is earlier.
    last: u64,
    len: usize,
}

impl<E: Copy> Radix<E> {
    /// An empty queue whose events will all be at or after `last`.
    pub fn new(last: u64) -> Self {
        Radix {
            current: Vec::new(),
            head: 0,
            buckets: std::array::from_fn(|_| Vec::new()),
            occupied: 0,
            last,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Adds `event` at `time` (not before the last time popped), after every event already
    /// scheduled at `time`. Amortised O(log of the span of pending times).
    ///
    /// Out of line (as is `pop_before`): inlined at every place the simulator schedules an
    /// event, it made the common, small-queue path slower.
    #[inline(never)]
    pub fn push(&mut self, time: u64, event: E) {
        // `last` is never after the time popped last (see `advance`), so the entry fits.
        debug_assert!(time >= self.last);
        self.insert(Entry { time, event });
        self.len += 1;
    }

    /// Puts `entry` (not earlier than `last`) into its bucket.
    #[inline(always)]
    fn insert(&mut self, entry: Entry<E>) {
        place(
            entry,
            self.last,
            &mut self.current,
            &mut self.buckets,
            &mut self.occupied,
        );
    }

    /// Removes the earliest event if its time is before `end`.
    #[inline(never)]
    pub fn pop_before(&mut self, end: u64) -> Option<(u64, E)> {
        let entry = if self.head < self.current.len() {
            let entry = self.current[self.head];
            if entry.time >= end {
                return None;
            }
            self.head += 1;
            entry
        } else {
            self.advance(end)?
        };
        self.len -= 1;
        Some((entry.time, entry.event))
    }

    /// Passes `each` up to four events among the next to be popped: the next of the current
    /// time's, or else the first of the lowest bucket (every event there comes before any event
    /// of a higher bucket, but a bucket is in no order, so one of four is the next far more
    /// often than the first alone: 90% of pops against half in the queue's test).
    #[inline(always)]
    pub fn soon(&self, mut each: impl FnMut(E)) {
        let entries = if self.head < self.current.len() {
            &self.current[self.head..]
        } else if self.occupied == 0 {
            return;
        } else {
            &self.buckets[self.occupied.trailing_zeros() as usize][..]
        };
        for e in entries.iter().take(4) {
            each(e.event);
        }
    }

    /// The current time's events are all popped: moves on to the earliest pending time, whose
    /// events become `current`, and takes the first of them. `None` when nothing is pending
    /// before `end`; the buckets are then left as they are, so that `last` never passes the
    /// clock and anything scheduled later still fits them.
    #[inline]
    fn advance(&mut self, end: u64) -> Option<Entry<E>> {
        self.current.clear();
        self.head = 0;
        if self.occupied == 0 {
            return None;
        }
        let b = self.occupied.trailing_zeros() as usize;
        let (lower, rest) = self.buckets.split_at_mut(b);
        let bucket = &mut rest[0];
        if let [only] = bucket.as_slice() {
            // The common case with few events pending: the bucket is the next event alone, and
            // it is taken from there (`current` stays empty).
            let only = *only;
            if only.time >= end {
                return None;
            }
            self.last = only.time;
            bucket.clear();
            self.occupied &= !(1 << b);
            return Some(only);
        }
        let last = bucket.iter().map(|e| e.time).min()?;
        if last >= end {
            return None;
        }
        self.last = last;
        // Every event of bucket `b` differs from the new `last` only below bit `b`.
        for &entry in bucket.iter() {
            place(entry, last, &mut self.current, lower, &mut self.occupied);
        }
        if bucket.capacity() > KEEP_CAPACITY {
            // Its events now sit in lower buckets: a large buffer kept here would double the
            // memory of a queue of millions of events.
            *bucket = Vec::new();
        } else {
            bucket.clear();
        }
        self.occupied &= !(1 << b);
        self.head = 1;
        Some(self.current[0])
    }
}

/// Puts `entry` into `current` if its time is `last`, else into the bucket of the highest bit in
/// which the two differ (which `buckets` must reach), marking that bucket occupied.
#[inline(always)]
fn place<E>(
    entry: Entry<E>,
    last: u64,
    current: &mut Vec<Entry<E>>,
    buckets: &mut [Vec<Entry<E>>],
    occupied: &mut u64,
) {
    let diff = entry.time ^ last;
    if diff == 0 {
        current.push(entry);
    } else {
        let b = (BITS - 1) - diff.leading_zeros() as usize;
        buckets[b].push(entry);
        *occupied |= 1 << b;
    }
}
