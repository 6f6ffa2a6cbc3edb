//! The domain-free discrete-event engine: simulated time, the event queue, a generational arena
//! for records that events point at, the run loop, and the allocator that puts large blocks in
//! huge pages (a large model's records are read at random on every event).
//!
//! Nothing here knows about services, links or requests; `crate::sim` builds those on top. The
//! engine's contract is small on purpose: events with equal times are delivered in the order they
//! were scheduled, so a run is a pure function of its model and seed.

mod arena;
mod growth;
mod memory;
mod queue;
mod time;

pub use arena::{Arena, Handle, prefetch, prefetch_lines, prefetch_slice};
pub use growth::Grow;
pub use memory::{HUGE_HEAP_VAR, HugePages, restart_with_huge_heap};
pub use queue::{EventQueue, Packed, Words};
pub use time::SimTime;

use rand::SeedableRng;

/// The one random-number generator of a simulation run.
///
/// Xoshiro256++ from `rand_xoshiro` is used rather than `StdRng`/`SmallRng` because its stream is
/// fixed by its specification: the same seed gives the same run on every platform and every
/// future version of meshsim's dependencies.
pub type SimRng = rand_xoshiro::Xoshiro256PlusPlus;

/// Creates the generator for a run from its seed.
pub fn seeded_rng(seed: u64) -> SimRng {
    SimRng::seed_from_u64(seed)
}

/// The seed of one run of a study: replication `rep` of point `point`, from the study's `base`
/// seed. A SplitMix64 mix of the three, stable across versions and platforms, so a result does
/// not depend on how runs are spread over threads or machines.
pub fn derive_seed(base: u64, point: u64, rep: u64) -> u64 {
    let mut x = splitmix64(base ^ 0x6d65_7368_7369_6d00);
    x = splitmix64(x ^ point);
    splitmix64(x ^ rep.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// One step of the SplitMix64 generator (Steele, Lea & Flood), a strong 64-bit mixer.
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Something that reacts to events: the model of the world being simulated.
pub trait Process {
    /// The events this process schedules and handles.
    type Event: Packed;
    /// Handles one event at simulated time `now`, scheduling follow-up events on `queue`.
    fn handle(&mut self, now: SimTime, event: Self::Event, queue: &mut EventQueue<Self::Event>);

    /// A hint that `soon` will be handled at `at`, about `ahead` events from now (1: next),
    /// given for up to four events after each pop while many events are pending, and for the
    /// next two at every pop once the process asked for it ([`EventQueue::hint_next`]: its
    /// records no longer fit in the cache). A process can start loading those records now (see
    /// [`prefetch`]), so that handling them does not wait for memory: for the event two ahead
    /// what its own record points at, and for the next what those point at, loaded since. Must
    /// not change what the process does.
    #[inline(always)]
    fn prefetch(&self, at: SimTime, soon: Self::Event, ahead: usize) {
        let _ = (at, soon, ahead);
    }
}

/// Like [`run_until`], but calls `keep_going(events so far)` every `every` events (rounded up to a
/// power of two) and halts the
/// queue when it returns false (for wall-clock limits and interruptions, checked cheaply).
pub fn run_until_checked<P: Process>(
    process: &mut P,
    queue: &mut EventQueue<P::Event>,
    end: SimTime,
    every: u64,
    keep_going: impl FnMut(u64) -> bool,
) -> u64 {
    if queue.hints_next() {
        run_loop::<P, true>(process, queue, end, every, keep_going)
    } else {
        run_loop::<P, false>(process, queue, end, every, keep_going)
    }
}

/// [`run_until_checked`]'s loop, popping with [`EventQueue::pop_before_hinting_next`] when
/// `HINT_NEXT` (the queue was asked to hint), else with [`EventQueue::pop_before_hinting`].
#[inline(always)]
fn run_loop<P: Process, const HINT_NEXT: bool>(
    process: &mut P,
    queue: &mut EventQueue<P::Event>,
    end: SimTime,
    every: u64,
    mut keep_going: impl FnMut(u64) -> bool,
) -> u64 {
    // A mask rather than `%`: no division on the hot path (`every` rounds up to a power of two).
    let mask = every.max(1).next_power_of_two() - 1;
    let mut handled = 0;
    loop {
        let soon = |at, soon, ahead| process.prefetch(at, soon, ahead);
        let popped = if HINT_NEXT {
            queue.pop_before_hinting_next(end, soon)
        } else {
            queue.pop_before_hinting(end, soon)
        };
        let Some((now, event)) = popped else {
            break;
        };
        process.handle(now, event, queue);
        handled += 1;
        if handled & mask == 0 && !keep_going(handled) {
            queue.halt();
        }
    }
    handled
}

/// Runs `process` until the queue is empty or the next event lies at or after `end`.
///
/// Returns the number of events handled. Events at or after `end` stay in the queue. The one
/// run loop is [`run_until_checked`]'s, with a check that never comes due.
pub fn run_until<P: Process>(
    process: &mut P,
    queue: &mut EventQueue<P::Event>,
    end: SimTime,
) -> u64 {
    run_until_checked(process, queue, end, 1 << 63, |_| true)
}
