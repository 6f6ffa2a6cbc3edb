//! The pending-event set: eight unordered slots while up to eight events are pending, a 4-ary
//! heap while more are, a timing wheel from a few hundred, a radix heap while very many are.
//!
//! The wheel (see [`wheel`]) beats the heap from a few hundred events: a push is an append to a
//! bucket and a pop the next of a sorted handful, where the heap sifts through levels of
//! entries that no longer sit in the first-level cache (a hold of 2,500 events, session 36 in
//! docs/performance.md: 27–40 ns an event against the heap's 90–110).
//!
//! The heap and the radix heap suit different sizes too. The heap's comparisons compile to
//! conditional moves and its few
//! entries stay in cache: on the built-in model (a handful of events pending) it is 13% faster
//! than the radix heap. With 10^5 events and more the heap's sifting is a chain of cache misses,
//! while the radix heap walks small vectors in order: at a million pending events it is 3× faster.
//! The queue moves its events from one to the other when their number crosses a threshold (with
//! a gap between the two directions, so a size near it does not make the queue switch back and
//! forth); a switch costs O(n log n), paid at most once per growth by a factor of 16.

mod heap;
mod radix;
mod wheel;

use super::SimTime;
use heap::Heap;
use radix::Radix;
use wheel::Wheel;

/// Pending events at which the heap, when it next has to grow, becomes a radix heap instead
/// (small in unit tests, so that switching is exercised).
const TO_RADIX: usize = if cfg!(test) { 64 } else { 1 << 16 };
/// Pending events below which it becomes a 4-ary heap again.
const TO_HEAP: usize = TO_RADIX / 16;
/// Pending events at which the heap, when it next has to grow, becomes a timing wheel (below
/// [`TO_RADIX`]), and below which the wheel becomes a heap again.
const TO_WHEEL: usize = if cfg!(test) { 24 } else { 256 };
const WHEEL_TO_HEAP: usize = TO_WHEEL / 4;

/// Future events, popped in (time, insertion) order.
///
/// Cancellation is not done here: an event that became irrelevant (its request timed out, say) is
/// left in the queue and recognised as stale by its receiver when popped, which keeps every
/// operation cheap instead of paying O(n) to search for it.
pub struct EventQueue<E> {
    /// The events while there are few (empty while `wheel` or `radix` holds them).
    heap: Heap<Words>,
    /// The events while there are hundreds to tens of thousands.
    wheel: Option<Box<Wheel<Words>>>,
    /// The events while there are many.
    radix: Option<Box<Radix<Words>>>,
    /// Halted, the wheel or radix heap in use, or hinting: the one test on the common path of
    /// a pop.
    unusual: bool,
    halted: bool,
    /// Pops from the heap pass the next events to `soon` too (see [`EventQueue::hint_next`]).
    hinting: bool,
    /// Hinting, not halted, and the heap in use: pops take [`EventQueue::pop_hinting`].
    heap_hints: bool,
    /// Hinting, not halted, and the wheel in use: pops take [`EventQueue::pop_wheel_hinting`].
    wheel_hints: bool,
    now: SimTime,
    /// The type events are packed from and unpacked to.
    _events: std::marker::PhantomData<E>,
}

/// An event as the queue stores it: two machine words.
///
/// Why not the process's own event type: an enum whose variants carry different fields is an
/// aggregate to the compiler, built field by field in a stack slot and then copied into the
/// queue as one 16-byte move. A wide load of several narrow stores just made cannot be
/// forwarded from the store buffer, and the run loop stalled on it at every push and pop. Two
/// plain integers stay in registers from the handler that schedules the event to the heap entry
/// and back to the dispatcher (+3 to 4 points of the ratio to the minimal simulator).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Words {
    /// Which event (the process's numbering).
    pub kind: u64,
    /// Its data (handles, indices).
    pub payload: u64,
}

/// An event that converts to and from the queue's [`Words`]. `unpack(pack(e))` must give `e`
/// back; both should be `#[inline(always)]`, so that packing a freshly built event folds into
/// two register moves.
pub trait Packed: Copy {
    fn pack(self) -> Words;
    fn unpack(words: Words) -> Self;
}

/// A number is its own event (for tests and small processes).
impl Packed for u64 {
    #[inline(always)]
    fn pack(self) -> Words {
        Words {
            kind: self,
            payload: 0,
        }
    }
    #[inline(always)]
    fn unpack(words: Words) -> Self {
        words.kind
    }
}

impl<E: Packed> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

/// Events go in and come out as `E`, and are stored as [`Words`].
impl<E: Packed> EventQueue<E> {
    /// An empty queue at time zero.
    pub fn new() -> Self {
        EventQueue {
            heap: Heap::new(),
            wheel: None,
            radix: None,
            unusual: false,
            halted: false,
            hinting: false,
            heap_hints: false,
            wheel_hints: false,
            now: SimTime::ZERO,
            _events: std::marker::PhantomData,
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
        let time = time.max(self.now).0;
        let event = event.pack();
        // The heap is full only when it must grow, or when the wheel or radix heap is in use
        // (the heap is then empty, with no capacity): one comparison, which `Vec::push` makes
        // anyway.
        if !self.heap.is_full() {
            self.heap.push(time, event);
        } else if let Some(wheel) = self.wheel.as_deref_mut()
            && wheel.len() < TO_RADIX
        {
            wheel.push(time, event);
        } else {
            self.schedule_unusual(time, event);
        }
    }

    /// Schedules into the radix heap, or into a heap that must grow first (or, from
    /// [`TO_WHEEL`] events, be replaced by a wheel, and from [`TO_RADIX`] by a radix heap).
    #[inline(never)]
    fn schedule_unusual(&mut self, time: u64, event: Words) {
        if self.radix.is_none() {
            if self.len() >= TO_RADIX {
                self.switch_to_radix();
            } else if self.wheel.is_none() && self.heap.len() >= TO_WHEEL {
                self.switch_to_wheel();
            }
        }
        if let Some(radix) = &mut self.radix {
            radix.push(time, event);
        } else if let Some(wheel) = &mut self.wheel {
            wheel.push(time, event);
        } else {
            self.heap.make_room();
            self.heap.push(time, event);
        }
    }

    /// Schedules `event` after `delay` from now. O(log n).
    pub fn schedule_in(&mut self, delay: SimTime, event: E) {
        self.schedule(self.now + delay, event);
    }

    /// Makes every pop pass the next two events to its `soon` (see
    /// [`EventQueue::pop_before_hinting`]) while the heap holds the events, not only once the
    /// radix heap does: for a process whose records outgrow the cache even with a few thousand
    /// events pending (a model of thousands of services), so that it can start loading what the
    /// next events will read while it handles this one. Off, the common path of a pop is as it
    /// was.
    pub fn hint_next(&mut self, on: bool) {
        self.hinting = on;
        self.modes_changed();
    }

    /// Sets the flags a pop tests from the queue's state.
    fn modes_changed(&mut self) {
        let heap = self.radix.is_none() && self.wheel.is_none();
        self.unusual = self.halted || self.hinting || !heap;
        self.heap_hints = self.hinting && !self.halted && heap;
        self.wheel_hints = self.hinting && !self.halted && self.wheel.is_some();
    }

    /// Stops the run: no event is popped after this. For a process that finds it cannot go on
    /// (a limit reached, an interruption).
    pub fn halt(&mut self) {
        self.halted = true;
        self.modes_changed();
    }

    /// Whether [`EventQueue::halt`] was called.
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// Pops the earliest event if it lies strictly before `end`, advancing the clock. O(log n).
    #[inline(always)]
    pub fn pop_before(&mut self, end: SimTime) -> Option<(SimTime, E)> {
        self.pop_before_hinting(end, |_, _, _| {})
    }

    /// [`EventQueue::pop_before`], passing `soon` up to four events that will be popped within
    /// the next few pops, while many events are pending (for
    /// [`crate::engine::Process::prefetch`]), or the next two at every pop from the heap once
    /// asked to ([`EventQueue::hint_next`]; [`EventQueue::pop_before_hinting_next`] is the
    /// faster pop then). While few are, their records are in the cache anyway and `soon` is
    /// not called: the common path pays nothing for it.
    #[inline(always)]
    pub fn pop_before_hinting(
        &mut self,
        end: SimTime,
        soon: impl FnMut(SimTime, E, usize),
    ) -> Option<(SimTime, E)> {
        let popped = if self.unusual {
            self.pop_unusual(end, soon)
        } else {
            self.heap.pop_before(end)
        };
        let (time, words) = popped?;
        self.now = time;
        Some((time, E::unpack(words)))
    }

    /// [`EventQueue::pop_before_hinting`] for a run loop of a queue asked to hint
    /// ([`EventQueue::hint_next`]): the hinting pop from the heap is inlined here, where out of
    /// line, the call and the event's return through memory cost a model of a thousand
    /// services a fifth of its speed. (A separate loop, so that the plain pop's loop is as it
    /// was.)
    #[inline(always)]
    pub fn pop_before_hinting_next(
        &mut self,
        end: SimTime,
        soon: impl FnMut(SimTime, E, usize),
    ) -> Option<(SimTime, E)> {
        let (time, words) = if self.wheel_hints {
            self.pop_wheel_hinting(end, soon)?
        } else if self.heap_hints {
            self.pop_hinting(end, soon)?
        } else {
            return self.pop_before_hinting(end, soon);
        };
        self.now = time;
        Some((time, E::unpack(words)))
    }

    /// A pop from the wheel that passes `soon` the next two events, once this one is off it.
    /// The queue must hold a wheel.
    #[inline(always)]
    fn pop_wheel_hinting(
        &mut self,
        end: SimTime,
        mut soon: impl FnMut(SimTime, E, usize),
    ) -> Option<(SimTime, Words)> {
        let wheel = self.wheel.as_deref_mut()?;
        let (time, event) = wheel.pop_before(end.0)?;
        if wheel.len() < WHEEL_TO_HEAP {
            self.switch_to_heap();
        } else {
            for (ahead, (at, next)) in wheel.peek(2).enumerate() {
                soon(SimTime(at), E::unpack(next), ahead + 1);
            }
        }
        Some((SimTime(time), event))
    }

    /// Whether pops pass the next events to `soon` (see [`EventQueue::hint_next`]).
    pub fn hints_next(&self) -> bool {
        self.hinting
    }

    /// A pop from the heap that passes `soon` the next two events, once this one is off it.
    #[inline(always)]
    fn pop_hinting(
        &mut self,
        end: SimTime,
        mut soon: impl FnMut(SimTime, E, usize),
    ) -> Option<(SimTime, Words)> {
        let popped = self.heap.pop_before(end)?;
        for (ahead, next) in self.heap.peek_two().into_iter().enumerate() {
            if let Some((time, next)) = next {
                soon(SimTime(time), E::unpack(next), ahead + 1);
            }
        }
        Some(popped)
    }

    /// A pop from a halted queue (nothing), from the radix heap, from the wheel (naming the
    /// next two events to `soon` if asked to hint, as the heap does), or from a hinting heap.
    #[inline(never)]
    fn pop_unusual(
        &mut self,
        end: SimTime,
        mut soon: impl FnMut(SimTime, E, usize),
    ) -> Option<(SimTime, Words)> {
        if self.halted {
            return None;
        }
        if self.wheel.is_some() {
            return if self.hinting {
                self.pop_wheel_hinting(end, soon)
            } else {
                self.pop_wheel_hinting(end, |_, _, _| {})
            };
        }
        let Some(radix) = self.radix.as_mut() else {
            return self.pop_hinting(end, soon);
        };
        let (time, event) = radix.pop_before(end.0)?;
        if radix.len() < TO_HEAP {
            self.switch_to_heap();
        } else {
            radix.soon(|time, e, ahead| soon(SimTime(time), E::unpack(e), ahead));
        }
        Some((SimTime(time), event))
    }

    /// Number of pending events. O(1).
    pub fn len(&self) -> usize {
        match (&self.radix, &self.wheel) {
            (Some(radix), _) => radix.len(),
            (None, Some(wheel)) => wheel.len(),
            (None, None) => self.heap.len(),
        }
    }

    /// Whether no event is pending. O(1).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the events out of the heap or wheel, in the order they would pop, leaving the
    /// heap retired and no wheel.
    fn take_sorted(&mut self) -> Vec<(u64, Words)> {
        match self.wheel.take() {
            Some(wheel) => wheel.drain(),
            None => std::mem::replace(&mut self.heap, Heap::retired())
                .into_sorted()
                .collect(),
        }
    }

    /// Moves the events into a radix heap, in order (so ties stay first scheduled, first popped).
    #[cold]
    #[inline(never)]
    fn switch_to_radix(&mut self) {
        let mut radix = Radix::new(self.now.0);
        for (time, event) in self.take_sorted() {
            radix.push(time, event);
        }
        self.radix = Some(Box::new(radix));
        self.modes_changed();
    }

    /// Moves the heap's events into a timing wheel, in order.
    #[cold]
    #[inline(never)]
    fn switch_to_wheel(&mut self) {
        let events = self.take_sorted();
        self.wheel = Some(Box::new(Wheel::with_events(self.now.0, events)));
        self.modes_changed();
    }

    /// Moves the events into the 4-ary heap, in order.
    #[cold]
    #[inline(never)]
    fn switch_to_heap(&mut self) {
        if let Some(mut radix) = self.radix.take() {
            while let Some((time, event)) = radix.pop_before(u64::MAX) {
                self.heap.push(time, event);
            }
        }
        if let Some(wheel) = self.wheel.take() {
            for (time, event) in wheel.drain() {
                self.heap.push(time, event);
            }
        }
        self.modes_changed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn pops_in_time_order_and_fifo_among_ties() {
        let mut q = EventQueue::new();
        q.schedule(SimTime(5), 51);
        q.schedule(SimTime(1), 10);
        q.schedule(SimTime(5), 52);
        q.schedule(SimTime(9), 90);
        q.schedule(SimTime(5), 53);
        let mut out = Vec::new();
        while let Some((t, e)) = q.pop_before(SimTime::MAX) {
            out.push((t.0, e));
        }
        assert_eq!(out, vec![(1, 10), (5, 51), (5, 52), (5, 53), (9, 90)]);
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

    /// Delays from zero to hours (every bucket in use), bursts of equal times, and pops that
    /// stop at an `end` after which earlier events are scheduled: the order is (time, insertion)
    /// throughout, and the clock never runs backwards.
    #[test]
    fn keeps_time_and_fifo_order_across_scales_and_refused_pops() {
        use std::collections::BTreeSet;
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(11);
        let mut q = EventQueue::new();
        let mut reference = BTreeSet::new(); // (time, insertion order)
        let mut inserted = 0u64;
        for _ in 0..200_000 {
            let roll = rng.random::<f64>();
            if roll < 0.5 {
                let delay = match rng.random_range(0..4) {
                    0 => 0,
                    1 => rng.random_range(0..4u64),
                    2 => rng.random_range(0..1u64 << 20),
                    _ => {
                        let bits = rng.random_range(1..44);
                        rng.random_range(0..1u64 << bits)
                    }
                };
                let t = q.now().0 + delay;
                q.schedule(SimTime(t), inserted);
                reference.insert((t, inserted));
                inserted += 1;
            } else {
                let end = if roll < 0.6 {
                    q.now().0 + rng.random_range(0..1u64 << 22)
                } else {
                    u64::MAX
                };
                let expected = reference.first().copied().filter(|&(t, _)| t < end);
                let got = q.pop_before(SimTime(end)).map(|(t, id)| (t.0, id));
                assert_eq!(got, expected);
                if let Some(first) = expected {
                    reference.remove(&first);
                    assert_eq!(q.now().0, first.0);
                }
            }
            assert_eq!(q.len(), reference.len());
        }
    }

    /// While many events are pending, each pop names up to four events that are still pending,
    /// mostly including the very next one: what a prefetch needs. While few are, none.
    #[test]
    fn hints_name_events_among_the_next_few_while_many_are_pending() {
        use std::collections::BTreeSet;
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        let mut q = EventQueue::new();
        let mut pending = BTreeSet::new(); // (time, id)
        let mut time_of = std::collections::HashMap::new();
        let (mut hinting, mut next, mut silent) = (0usize, 0, 0);
        let mut nearest = Vec::new(); // per hinting pop: the rank of its nearest hint
        for id in 0..40_000u64 {
            // Grow well past the radix threshold, then drain to empty.
            if id < 20_000 && rng.random::<f64>() < 0.7 {
                let t = q.now().0 + rng.random_range(0..1_000_000u64);
                q.schedule(SimTime(t), id);
                pending.insert((t, id));
                time_of.insert(id, t);
                continue;
            }
            let many = q.len() >= TO_RADIX;
            let mut hinted = Vec::new();
            let Some((t, e)) =
                q.pop_before_hinting(SimTime::MAX, |at, soon, _| hinted.push((at, soon)))
            else {
                continue;
            };
            assert!(pending.remove(&(t.0, e)));
            assert!(hinted.len() <= 4);
            if hinted.is_empty() {
                silent += usize::from(!many);
                continue;
            }
            hinting += 1;
            let rank = |&(at, h): &(SimTime, u64)| {
                let key = (time_of[&h], h);
                assert_eq!(at.0, key.0, "a hint gives its event's time");
                assert!(pending.contains(&key), "a hinted event is pending");
                pending.range(..key).count()
            };
            let best = hinted.iter().map(rank).min().unwrap_or(usize::MAX);
            nearest.push(best);
            next += usize::from(best == 0);
        }
        assert!(hinting > 1_000, "{hinting} pops hinted");
        assert!(silent > 0, "no hints while few events are pending");
        nearest.sort_unstable();
        // Seen: 90% of the pops named the next event, 99% one of the next 13.
        assert!(
            next * 10 >= hinting * 8,
            "{next} of {hinting} pops named the next event"
        );
        assert!(
            nearest[hinting * 99 / 100] < 16,
            "99% of pops named one of the next 16"
        );
    }

    /// Asked to, a queue of 60 events (a wheel, then a heap: below the radix heap's threshold
    /// in tests) names the next two events it will pop, in order, at every pop (ties included) until few are left,
    /// through either pop; not asked, it names none; either way it pops the same events.
    #[test]
    fn a_hinting_heap_names_the_next_two_events() {
        let mut rng = crate::engine::seeded_rng(3);
        let times: Vec<u64> = (0..60).map(|_| rng.random_range(0..20u64)).collect();
        let mut popped = [Vec::new(), Vec::new(), Vec::new()];
        let ways = [(false, false), (true, false), (true, true)];
        for ((hinting, next_pop), popped) in ways.into_iter().zip(&mut popped) {
            let mut q = EventQueue::new();
            q.hint_next(hinting);
            for (id, &t) in times.iter().enumerate() {
                q.schedule(SimTime(t), id as u64);
            }
            let mut hints = Vec::new();
            loop {
                let mut hinted = Vec::new();
                let soon = |at, soon, ahead| hinted.push((at, soon, ahead));
                let pop = if next_pop {
                    q.pop_before_hinting_next(SimTime::MAX, soon)
                } else {
                    q.pop_before_hinting(SimTime::MAX, soon)
                };
                let Some((_, e)) = pop else {
                    break;
                };
                popped.push(e);
                hints.push(hinted);
            }
            if !hinting {
                assert!(hints.iter().all(Vec::is_empty), "no hints unless asked");
                continue;
            }
            let mut named = 0;
            for (k, hinted) in hints.iter().enumerate() {
                for &(at, e, ahead) in hinted {
                    assert_eq!(Some(&e), popped.get(k + ahead), "pop {k}, {ahead} ahead");
                    assert_eq!(SimTime(times[e as usize]), at, "the time of event {e}");
                }
                named += usize::from(hinted.len() == 2);
            }
            // Until fewer than FEW_AGAIN are left, and the heap gives them to its slots.
            assert!(named >= 50, "{named} of 60 pops named two events");
        }
        assert_eq!(popped[0], popped[1], "hints change no pop");
        assert_eq!(popped[0], popped[2], "hints change no pop");
    }

    #[test]
    fn a_halted_queue_pops_nothing_and_keeps_its_events() {
        let mut q = EventQueue::new();
        q.schedule(SimTime(4), 7u64);
        q.halt();
        assert!(q.is_halted());
        assert_eq!(q.pop_before(SimTime::MAX), None);
        assert_eq!(q.len(), 1);
    }
}
