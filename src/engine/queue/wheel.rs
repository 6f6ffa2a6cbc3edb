//! A timing wheel: the queue while hundreds to tens of thousands of events are pending.
//!
//! Time is cut into buckets of 2^`shift` ns, and a ring of `slots` buckets holds the events of
//! the next `slots` buckets, each bucket's events in no order. The earliest bucket, once the
//! queue reaches it, is sorted and becomes `current`, popped from the front. Events past the
//! ring's reach wait in `far`, a binary heap, and enter the ring as it turns towards them.
//!
//! Why: a heap of a few thousand events sifts five or six levels at every pop — each level a
//! load that waits on the comparison before it — while here a push is an append to its bucket
//! and a pop the next entry of a sorted run of about sixteen. The bucket width follows the
//! events: the wheel is sized from the spread of the events it is built with, and rebuilt, from
//! the time between pops, when the buckets it passes turn out too full or too empty, or the
//! ring too short to reach the events scheduled. Keys are (time, sequence number), so ties pop in the order they were
//! scheduled whatever bucket or heap an event went through.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Pops a bucket is sized for. Fewer buckets of more events cost less (a turn of the ring costs
/// more than a step of the insertion sort): on the 10,000-service model 16 ran ×1.07 faster
/// than buckets of about 3 (six interleaved runs), and 32 no faster than 16.
const PER_BUCKET: u64 = 16;
/// Slots in the ring per event pending, when it is sized (at least [`MIN_SLOTS`]).
const SLOTS_PER_EVENT: u64 = 1;
/// Events `current` holds after every pop, when as many are pending: the queue names the next
/// two to the process, which loads what they will touch.
const AHEAD: usize = 2;
/// Fewest and most buckets in the ring.
const MIN_SLOTS: usize = 64;
const MAX_SLOTS: usize = 1 << 16;
/// Pops between checks of whether the wheel still suits its events (at least: and at least as
/// many as are pending, so that a rebuild costs O(1) a pop), and the most after rebuilds that
/// changed nothing.
const CHECK_EVERY: u64 = 4_096;
const MAX_INTERVAL: u64 = 1 << 24;

/// One pending event and its order.
#[derive(Clone, Copy)]
struct Entry<E> {
    /// `(time << 64) | sequence`: one integer comparison orders two events, ties FIFO.
    key: u128,
    event: E,
}

impl<E> Entry<E> {
    #[inline(always)]
    fn time(&self) -> u64 {
        (self.key >> 64) as u64
    }
}

/// Ordered by key alone, for `far`.
impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// No node: the end of a bucket's list, or of the free list.
const NIL: u32 = u32::MAX;

/// An event in a bucket of the ring: its entry, unpacked so that a node is 40 bytes where an
/// [`Entry`] (16-byte aligned) and a link would take 48, and the next node of its bucket.
#[derive(Clone, Copy)]
struct Node<E> {
    time: u64,
    seq: u64,
    event: E,
    /// The next node of its bucket, or of the free list.
    next: u32,
}

/// What the wheel met since its last check: whether its sizing still suits the events.
#[derive(Default)]
struct Tally {
    /// The time and the bucket `cur` of the last check (or of the wheel's making).
    since: u64,
    from: u64,
    pops: u64,
    /// Events scheduled, and those of them past the ring's reach.
    pushes: u64,
    far: u64,
}

/// Events in (time, insertion) order; see the module's documentation.
pub struct Wheel<E> {
    /// Each bucket spans 2^`shift` ns.
    shift: u32,
    /// `slots - 1`, the ring's size being a power of two.
    mask: u64,
    /// The events of buckets `cur + 1 ..= cur + mask`: bucket `b`'s first node is
    /// `heads[b & mask]`, and the others follow its links.
    ///
    /// Why lists in one vector, not a vector per bucket: each of thousands of small vectors
    /// would keep room for its busiest moment, several times the events pending, and a model
    /// this size needs its cache.
    heads: Vec<u32>,
    nodes: Vec<Node<E>>,
    /// The first of the nodes not in use.
    free: u32,
    /// One bit per slot: whether it holds events.
    occupied: Vec<u64>,
    /// The last bucket whose events are in `current`.
    cur: u64,
    /// The earliest events (those of buckets up to `cur`, and at least [`AHEAD`] when as many
    /// are pending), sorted by key; those before `head` are popped.
    current: Vec<Entry<E>>,
    head: usize,
    /// Events of buckets past `cur + mask`.
    far: BinaryHeap<Reverse<Entry<E>>>,
    next_seq: u64,
    len: usize,
    tally: Tally,
    /// Pops between checks (see [`Wheel::check`]).
    interval: u64,
}

impl<E: Copy> Wheel<E> {
    /// A wheel holding `events` (in the order they are to pop: their order among equal times is
    /// kept), sized for them; `now` is the current time, no later than the first.
    pub fn with_events(now: u64, events: Vec<(u64, E)>) -> Self {
        Wheel::sized(now, events, None)
    }

    /// [`Wheel::with_events`], with buckets of [`PER_BUCKET`] times `gap` ns when given (the
    /// time between pops lately), else sized from the spread of the events.
    fn sized(now: u64, events: Vec<(u64, E)>, gap: Option<u64>) -> Self {
        let (shift, slots) = sizing(now, &events, gap);
        let mut wheel = Wheel {
            shift,
            mask: slots as u64 - 1,
            heads: vec![NIL; slots],
            nodes: Vec::new(),
            free: NIL,
            occupied: vec![0; slots.div_ceil(64)],
            cur: now >> shift,
            current: Vec::new(),
            head: 0,
            far: BinaryHeap::new(),
            next_seq: 0,
            len: 0,
            tally: Tally::default(),
            interval: CHECK_EVERY,
        };
        for (time, event) in events {
            wheel.push(time, event);
        }
        wheel.tally = Tally {
            since: now,
            from: wheel.cur,
            ..Tally::default()
        };
        wheel
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Adds `event` at `time` (not before the last pop), after every event already at `time`.
    #[inline(always)]
    pub fn push(&mut self, time: u64, event: E) {
        let key = (u128::from(time) << 64) | u128::from(self.next_seq);
        self.next_seq += 1;
        self.len += 1;
        self.tally.pushes += 1;
        let entry = Entry { key, event };
        let b = time >> self.shift;
        if b <= self.cur {
            self.insert_current(entry);
        } else if b - self.cur <= self.mask {
            self.place(b, entry);
        } else {
            self.tally.far += 1;
            self.far.push(Reverse(entry));
        }
        if self.current.len() - self.head < AHEAD {
            self.top_up();
        }
    }

    /// Puts `entry` in its place among the current bucket's events (usually the end: it is the
    /// latest scheduled).
    #[inline(always)]
    fn insert_current(&mut self, entry: Entry<E>) {
        self.current.push(entry);
        settle_last(&mut self.current[self.head..]);
    }

    /// Removes the earliest event if its time is before `end`.
    #[inline(always)]
    pub fn pop_before(&mut self, end: u64) -> Option<(u64, E)> {
        let (time, event) = self.take(end)?;
        self.tally.pops += 1;
        if self.tally.pops >= self.interval.max(self.len as u64) {
            self.check(time);
        }
        Some((time, event))
    }

    /// [`Wheel::pop_before`] without the check of the wheel's sizing.
    #[inline(always)]
    fn take(&mut self, end: u64) -> Option<(u64, E)> {
        // `current` holds the next event whenever one is pending (pushes and pops top it up).
        let entry = *self.current.get(self.head)?;
        let time = entry.time();
        if time >= end {
            return None;
        }
        self.head += 1;
        self.len -= 1;
        if self.current.len() - self.head < AHEAD {
            self.top_up();
        }
        Some((time, entry.event))
    }

    /// Turns the ring until `current` holds the next [`AHEAD`] events, or all there are.
    #[inline(never)]
    fn top_up(&mut self) {
        // What is left (fewer than AHEAD events) moves to the front.
        let left = self.current.len() - self.head;
        for i in 0..left {
            self.current[i] = self.current[self.head + i];
        }
        self.current.truncate(left);
        self.head = 0;
        while self.current.len() < AHEAD && self.turn() {}
    }

    /// Up to `n` of the next events in the order they pop: at least [`AHEAD`] (or all there
    /// are), more where the current buckets hold more.
    #[inline(always)]
    pub fn peek(&self, n: usize) -> impl Iterator<Item = (u64, E)> + '_ {
        self.current[self.head..]
            .iter()
            .take(n)
            .map(|e| (e.time(), e.event))
    }

    /// Rebuilds the wheel if what it met since the last check says its sizing no longer suits
    /// its events: the events popped per bucket the ring passed were more than twice
    /// [`PER_BUCKET`] or fewer than half (the buckets are then sized from that rate), or many
    /// events were scheduled past the ring's reach. A rebuild that comes to the same sizing
    /// (the events far ahead are timeouts, say, which a wider ring would not serve better)
    /// doubles the pops until the next check.
    #[cold]
    #[inline(never)]
    fn check(&mut self, now: u64) {
        let t = std::mem::take(&mut self.tally);
        let passed = self.cur.saturating_sub(t.from).max(1);
        let crowded = t.pops > (2 * PER_BUCKET).saturating_mul(passed);
        let sparse = 2 * t.pops < PER_BUCKET.saturating_mul(passed);
        let short = t.far * 8 > t.pushes;
        self.tally = Tally {
            since: now,
            from: self.cur,
            ..Tally::default()
        };
        if !(crowded || sparse || short) {
            return;
        }
        // The time between pops: a bucket of PER_BUCKET of them.
        let gap = now.saturating_sub(t.since) / t.pops.max(1);
        let (shift, slots, interval) = (self.shift, self.mask + 1, self.interval);
        let events = std::mem::replace(self, Wheel::with_events(now, Vec::new())).drain();
        *self = Wheel::sized(now, events, Some(gap));
        if (self.shift, self.mask + 1) == (shift, slots) {
            self.interval = (2 * interval).min(MAX_INTERVAL);
        }
    }

    /// Every event, in the order they would pop.
    pub fn drain(mut self) -> Vec<(u64, E)> {
        let mut out = Vec::with_capacity(self.len);
        while let Some(e) = self.take(u64::MAX) {
            out.push(e);
        }
        out
    }

    /// Moves the next non-empty bucket's events, sorted, to the end of `current` (false when
    /// the ring and `far` are empty).
    fn turn(&mut self) -> bool {
        let b = match self.next_occupied() {
            Some(b) => b,
            None => match self.far.peek() {
                Some(Reverse(e)) => e.time() >> self.shift,
                None => return false,
            },
        };
        self.cur = b;
        // The far events the ring now reaches.
        while let Some(Reverse(e)) = self.far.peek() {
            let eb = e.time() >> self.shift;
            if eb - self.cur > self.mask {
                break;
            }
            let e = *e;
            self.far.pop();
            self.place(eb, e);
        }
        let slot = (b & self.mask) as usize;
        let start = self.current.len();
        let mut i = std::mem::replace(&mut self.heads[slot], NIL);
        while i != NIL {
            let node = self.nodes[i as usize];
            self.current.push(Entry {
                key: (u128::from(node.time) << 64) | u128::from(node.seq),
                event: node.event,
            });
            self.nodes[i as usize].next = self.free;
            self.free = i;
            i = node.next;
        }
        self.occupied[slot / 64] &= !(1 << (slot % 64));
        sort(&mut self.current[start..]);
        true
    }

    /// Adds `entry` to bucket `b` of the ring (after `cur`, within its reach).
    #[inline(always)]
    fn place(&mut self, b: u64, entry: Entry<E>) {
        let slot = (b & self.mask) as usize;
        let node = Node {
            time: entry.time(),
            seq: entry.key as u64,
            event: entry.event,
            next: self.heads[slot],
        };
        let i = if self.free == NIL {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        } else {
            let i = self.free;
            self.free = self.nodes[i as usize].next;
            self.nodes[i as usize] = node;
            i
        };
        self.heads[slot] = i;
        self.occupied[slot / 64] |= 1 << (slot % 64);
    }

    /// The first occupied bucket after `cur` within the ring's reach, if any.
    #[inline(always)]
    fn next_occupied(&self) -> Option<u64> {
        let start = (self.cur + 1) & self.mask;
        let words = self.occupied.len();
        let mut w = (start / 64) as usize;
        let mut bits = self.occupied[w] & (!0u64 << (start % 64));
        // One more word than the ring has: the first is visited twice, its bits before `start`
        // the second time.
        for _ in 0..=words {
            if bits != 0 {
                let slot = w as u64 * 64 + u64::from(bits.trailing_zeros());
                return Some(self.cur + 1 + (slot.wrapping_sub(start) & self.mask));
            }
            w = (w + 1) % words;
            bits = self.occupied[w];
        }
        None
    }
}

/// Sorts a bucket's events by key: by insertion while they are as few as a bucket usually
/// holds (the standard sort's set-up costs more than sorting a handful).
#[inline(always)]
fn sort<E: Copy>(entries: &mut [Entry<E>]) {
    if entries.len() > 16 {
        entries.sort_unstable_by_key(|e| e.key);
        return;
    }
    for k in 2..=entries.len() {
        settle_last(&mut entries[..k]);
    }
}

/// Moves the last of `entries` back to its place among the others, which are sorted by key.
#[inline(always)]
fn settle_last<E: Copy>(entries: &mut [Entry<E>]) {
    let Some(&entry) = entries.last() else {
        return;
    };
    let mut i = entries.len() - 1;
    while i > 0 && entries[i - 1].key > entry.key {
        entries[i] = entries[i - 1];
        i -= 1;
    }
    entries[i] = entry;
}

/// The bucket width (as a shift) and number of slots for `events` (in pop order) at `now`:
/// [`PER_BUCKET`] times `gap` ns wide, or, without one, [`PER_BUCKET`] events a bucket over the
/// nearer half of them (so that the spread of the latest ones, a timeout far ahead say, does
/// not widen the buckets); and [`SLOTS_PER_EVENT`] slots per event (rounded up to a power of
/// two), which reach about [`PER_BUCKET`] times as far as an event waits on average (Little's
/// law) when the gap is the time between pops.
fn sizing<E>(now: u64, events: &[(u64, E)], gap: Option<u64>) -> (u32, usize) {
    let half = events.len() / 2;
    let gap = match (gap, events.get(half)) {
        (Some(gap), _) => gap,
        (None, Some(&(middle, _))) => middle.saturating_sub(now) / half.max(1) as u64,
        (None, None) => 1 << 8,
    };
    let width = gap.saturating_mul(PER_BUCKET).max(1);
    let shift = 63 - width.leading_zeros();
    let reach = (2 * SLOTS_PER_EVENT * half as u64).max(1);
    let slots = reach
        .next_power_of_two()
        .clamp(MIN_SLOTS as u64, MAX_SLOTS as u64) as usize;
    (shift, slots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use std::collections::BTreeSet;

    /// Delays from nothing to far past the ring's reach, bursts of equal times, pops refused
    /// at an `end` after which earlier events are scheduled, and rebuilds as the mix changes:
    /// the order is (time, insertion) throughout.
    #[test]
    fn pops_in_time_and_insertion_order_as_the_mix_changes() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(17);
        let mut reference = BTreeSet::new(); // (time, insertion order)
        let start: Vec<(u64, u64)> = (0..1_000)
            .map(|i| (rng.random_range(0..10_000), i))
            .collect();
        let mut sorted = start.clone();
        sorted.sort();
        reference.extend(sorted.iter().copied());
        let mut wheel = Wheel::with_events(0, sorted.clone());
        let (mut now, mut inserted, mut rebuilds, mut shift) = (0u64, 1_000u64, 0, wheel.shift);
        for step in 0..300_000u64 {
            // Phases of short, long and mixed delays, so that rebuilds happen.
            let scale = [4u64, 1 << 20, 1 << 8, 1 << 24][(step / 40_000 % 4) as usize];
            if rng.random::<f64>() < 0.5 {
                let delay = match rng.random_range(0..50) {
                    0 => 0,
                    1 => rng.random_range(0..1u64 << 36),
                    _ => rng.random_range(0..scale),
                };
                wheel.push(now + delay, inserted);
                reference.insert((now + delay, inserted));
                inserted += 1;
            } else {
                let end = if rng.random::<f64>() < 0.1 {
                    now + rng.random_range(0..scale)
                } else {
                    u64::MAX
                };
                let expected = reference.first().copied().filter(|&(t, _)| t < end);
                assert_eq!(wheel.pop_before(end), expected);
                if let Some(first) = expected {
                    reference.remove(&first);
                    now = first.0;
                }
            }
            rebuilds += usize::from(wheel.shift != shift);
            shift = wheel.shift;
            assert_eq!(wheel.len(), reference.len());
            let peeked: Vec<_> = wheel.peek(2).collect();
            let next: Vec<_> = reference.iter().take(2).copied().collect();
            assert_eq!(peeked, next, "peek names the next two events");
        }
        assert!(rebuilds >= 3, "{rebuilds} rebuilds");
    }
}
