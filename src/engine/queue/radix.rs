//! A radix heap of events over integer nanosecond times: the queue while many events are
//! pending.
//!
//! Simulated time never runs backwards, so the queue's keys are monotone: every event scheduled
//! is at or after the last one popped. A radix heap (Ahuja, Mehlhorn, Orlin & Tarjan) exploits
//! that: an event goes into the bucket of the highest digit in which its time differs from the
//! last popped time, and a pop takes the lowest non-empty bucket, finds its minimum and
//! redistributes its events into lower buckets. Every operation is a sequential walk over small
//! vectors, where a 4-ary heap follows a path of random accesses through the whole array: with a
//! million events pending, the heap spent two thirds of a run waiting for cache misses on its
//! children's keys.
//!
//! The digits are hexadecimal (a bucket per digit position and value, 16 × 16), not binary: an
//! event moves at most once per digit between its scheduling and its pop, where binary digits
//! moved it up to once per bit — some twenty times over the spans of times a run with a million
//! events pending has, when the radix heap's pops were a fifth of such a run (0.90× the time per
//! event with hexadecimal digits).
//!
//! Ties need no sequence number: events of equal time are always in one bucket, in the order
//! they were scheduled (a bucket receives redistributed events only while it is empty, and
//! redistribution keeps their order), and the bucket of the current time is consumed from the
//! front.

/// Bits per digit: a bucket per position and value of a hexadecimal digit.
const DIGIT_BITS: u32 = 4;
/// Values of a digit.
const RADIX: usize = 1 << DIGIT_BITS;
/// Digit positions in a 64-bit time.
const LEVELS: usize = 64 / DIGIT_BITS as usize;
/// Buckets: one per (position, digit value), in the order their events come (lower positions
/// first, then smaller digits).
const BUCKETS: usize = LEVELS * RADIX;
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
    /// `buckets[p * RADIX + d]`: events whose time differs from `last` first in digit `p`,
    /// where their digit is `d`. Every event of a bucket comes before every event of a later one.
    buckets: Vec<Vec<Entry<E>>>,
    /// Bit `b % 64` of word `b / 64` set when `buckets[b]` is not empty.
    occupied: [u64; BUCKETS / 64],
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
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            occupied: [0; BUCKETS / 64],
            last,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Adds `event` at `time` (not before the last time popped), after every event already
    /// scheduled at `time`. Amortised O(digits of the span of pending times).
    ///
    /// Out of line (as is `pop_before`): inlined at every place the simulator schedules an
    /// event, it made the common, small-queue path slower.
    #[inline(never)]
    pub fn push(&mut self, time: u64, event: E) {
        // `last` is never after the time popped last (see `advance`), so the entry fits.
        debug_assert!(time >= self.last);
        place(
            Entry { time, event },
            self.last,
            &mut self.current,
            &mut self.buckets,
            &mut self.occupied,
        );
        self.len += 1;
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

    /// The first non-empty bucket.
    #[inline(always)]
    fn lowest(&self) -> Option<usize> {
        let (word, bits) = self
            .occupied
            .iter()
            .enumerate()
            .find(|(_, bits)| **bits != 0)?;
        Some(word * 64 + bits.trailing_zeros() as usize)
    }

    /// Passes `each` up to four events among the next to be popped: the next of the current
    /// time's, or else the first of the lowest bucket (every event there comes before any event
    /// of a later bucket, but a bucket is in no order, so one of four is the next far more
    /// often than the first alone).
    #[inline(always)]
    pub fn soon(&self, mut each: impl FnMut(u64, E, usize)) {
        let entries = if self.head < self.current.len() {
            &self.current[self.head..]
        } else if let Some(b) = self.lowest() {
            &self.buckets[b][..]
        } else {
            return;
        };
        for (i, e) in entries.iter().take(4).enumerate() {
            each(e.time, e.event, i + 1);
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
        let b = self.lowest()?;
        let bucket = &mut self.buckets[b];
        if b < RADIX {
            // Digit 0 is the last: the bucket's events all have one time, in the order they
            // were scheduled. They become the current time's events as they are.
            let time = bucket[0].time;
            if time >= end {
                return None;
            }
            self.last = time;
            std::mem::swap(&mut self.current, bucket);
        } else if let [only] = bucket.as_slice() {
            // The common case with few events pending: the bucket is the next event alone, and
            // it is taken from there (`current` stays empty).
            let only = *only;
            if only.time >= end {
                return None;
            }
            self.last = only.time;
            bucket.clear();
            unmark(&mut self.occupied, b);
            return Some(only);
        } else {
            let last = bucket.iter().map(|e| e.time).min()?;
            if last >= end {
                return None;
            }
            self.last = last;
            // Every event of bucket `b` now differs from `last` only in lower digits, so it
            // goes to a bucket before `b` (which are all empty) or to `current`.
            let mut moving = std::mem::take(bucket);
            for &entry in &moving {
                place(
                    entry,
                    last,
                    &mut self.current,
                    &mut self.buckets,
                    &mut self.occupied,
                );
            }
            if moving.capacity() <= KEEP_CAPACITY {
                // Its buffer is kept for the bucket; a large one is freed, as its events now
                // sit in lower buckets and a buffer kept here would double the memory of a
                // queue of millions of events.
                moving.clear();
                self.buckets[b] = moving;
            }
        }
        unmark(&mut self.occupied, b);
        self.head = 1;
        Some(self.current[0])
    }
}

/// Marks bucket `b` empty.
#[inline(always)]
fn unmark(occupied: &mut [u64], b: usize) {
    occupied[b / 64] &= !(1 << (b % 64));
}

/// Puts `entry` into `current` if its time is `last`, else into the bucket of the highest digit
/// in which the two differ and of that digit's value in `entry`, marking the bucket occupied.
#[inline(always)]
fn place<E>(
    entry: Entry<E>,
    last: u64,
    current: &mut Vec<Entry<E>>,
    buckets: &mut [Vec<Entry<E>>],
    occupied: &mut [u64],
) {
    let diff = entry.time ^ last;
    if diff == 0 {
        current.push(entry);
    } else {
        let position = (63 - diff.leading_zeros()) / DIGIT_BITS;
        let digit = (entry.time >> (position * DIGIT_BITS)) as usize & (RADIX - 1);
        let b = position as usize * RADIX + digit;
        buckets[b].push(entry);
        occupied[b / 64] |= 1 << (b % 64);
    }
}
