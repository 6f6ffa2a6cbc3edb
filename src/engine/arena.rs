//! A slab of records addressed by generation-checked handles.

use super::Grow;

/// A reference to a record in an [`Arena`]. It goes stale when the record is freed, even if the
/// slot is reused, so an event that outlives its record (a response to a cancelled call) is
/// recognised and skipped instead of acting on an unrelated record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handle {
    index: u32,
    generation: u32,
}

impl Handle {
    /// A handle that never resolves; for "no parent" and similar.
    pub const NONE: Handle = Handle {
        index: u32::MAX,
        generation: u32::MAX,
    };

    /// The slot index, for use as a compact key.
    pub fn index(self) -> u32 {
        self.index
    }

    /// The handle as one word (index in the low half).
    #[inline(always)]
    pub fn to_bits(self) -> u64 {
        u64::from(self.index) | u64::from(self.generation) << 32
    }

    /// The handle [`Handle::to_bits`] gave `bits`.
    #[inline(always)]
    pub const fn from_bits(bits: u64) -> Handle {
        Handle {
            index: bits as u32,
            generation: (bits >> 32) as u32,
        }
    }
}

/// A record and the generation of the handle that reaches it. A freed slot's generation is
/// bumped at once, so no outstanding handle matches it until it is reused: liveness needs no flag
/// and no `Option` around the record.
struct Slot<T> {
    generation: u32,
    value: T,
}

/// Records reused through a free list: no allocation per record once the arena has grown to the
/// peak number of live records, and memory bounded by that peak rather than by run length.
///
/// Records are `Copy` (plain data: handles, indices, times): removing one copies it out, and a
/// freed slot simply keeps its stale bytes until reused.
pub struct Arena<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    live: usize,
}

impl<T: Copy> Default for Arena<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy> Arena<T> {
    /// An empty arena.
    pub fn new() -> Self {
        Arena {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }

    /// Stores `value` and returns its handle. Amortised O(1).
    #[inline(always)]
    pub fn insert(&mut self, value: T) -> Handle {
        self.live += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.value = value;
            return Handle {
                index,
                generation: slot.generation,
            };
        }
        let index = u32::try_from(self.slots.len()).expect("more than 2^32 live records");
        self.slots.make_room();
        self.slots.push(Slot {
            generation: 0,
            value,
        });
        Handle {
            index,
            generation: 0,
        }
    }

    /// Starts loading the record behind `handle` into the cache, without waiting for it: a hint
    /// for a record that will be used soon, with no effect on what any later access returns.
    #[inline(always)]
    pub fn prefetch(&self, handle: Handle) {
        if let Some(slot) = self.slots.get(handle.index as usize) {
            prefetch(slot);
        }
    }

    /// The record behind `handle`, or `None` if it was freed. O(1).
    #[inline(always)]
    pub fn get(&self, handle: Handle) -> Option<&T> {
        let slot = self.slots.get(handle.index as usize)?;
        (slot.generation == handle.generation).then_some(&slot.value)
    }

    /// The record behind `handle`, mutably, or `None` if it was freed. O(1).
    #[inline(always)]
    pub fn get_mut(&mut self, handle: Handle) -> Option<&mut T> {
        let slot = self.slots.get_mut(handle.index as usize)?;
        (slot.generation == handle.generation).then_some(&mut slot.value)
    }

    /// Frees the record behind `handle`, returning it; later look-ups of `handle` fail. O(1).
    #[inline(always)]
    pub fn remove(&mut self, handle: Handle) -> Option<T> {
        let slot = self.slots.get_mut(handle.index as usize)?;
        if slot.generation != handle.generation {
            return None;
        }
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(handle.index);
        self.live -= 1;
        Some(slot.value)
    }

    /// Number of live records.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no record is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Every live record, in slot order. O(slots ever allocated): for once-a-run questions
    /// such as "what is still in flight at the end", not for the hot path.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        let mut free = vec![false; self.slots.len()];
        for &i in &self.free {
            free[i as usize] = true;
        }
        self.slots
            .iter()
            .zip(free)
            .filter(|(_, free)| !free)
            .map(|(slot, _)| &slot.value)
    }

    /// Number of slots ever allocated: the peak number of live records.
    pub fn capacity_used(&self) -> usize {
        self.slots.len()
    }
}

/// Asks the CPU to bring the cache line holding the start of `value` into the cache (a no-op
/// where there is no prefetch instruction).
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    prefetch_lines(value, 1);
}

/// Asks the CPU to bring the lines `items` spans into the cache, at most `max_lines` of them
/// from its start (nothing for no items).
#[inline(always)]
pub fn prefetch_slice<T>(items: &[T], max_lines: usize) {
    if let Some(first) = items.first() {
        let offset = (first as *const T).addr() % 64;
        let lines = (offset + std::mem::size_of_val(items)).div_ceil(64);
        prefetch_lines(first, lines.min(max_lines));
    }
}

/// Asks the CPU to bring the first `lines` cache lines from the start of `value` into the cache.
#[inline(always)]
pub fn prefetch_lines<T>(value: &T, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = (value as *const T).cast::<i8>();
        for line in 0..lines {
            // SAFETY: a prefetch is a hint: it dereferences nothing, cannot fault (even past
            // the end of `value`), and changes no value any access returns. SSE (which the
            // instruction belongs to) is part of every x86-64 target.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(64 * line)) }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (value, lines);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_handles_do_not_resolve_after_reuse() {
        let mut arena = Arena::new();
        let a = arena.insert("a");
        assert_eq!(arena.remove(a), Some("a"));
        let b = arena.insert("b");
        assert_eq!(a.index(), b.index(), "slot is reused");
        assert_eq!(arena.get(a), None);
        assert_eq!(arena.remove(a), None);
        assert_eq!(arena.get(b), Some(&"b"));
        assert_eq!(arena.len(), 1);
        assert_eq!(arena.get(Handle::NONE), None);
    }

    #[test]
    fn values_are_the_live_records_only() {
        let mut arena = Arena::new();
        let handles: Vec<Handle> = (0..10u32).map(|i| arena.insert(i)).collect();
        for &h in handles.iter().step_by(3) {
            arena.remove(h);
        }
        arena.insert(100);
        let mut live: Vec<u32> = arena.values().copied().collect();
        live.sort();
        assert_eq!(live, [1, 2, 4, 5, 7, 8, 100]);
        assert_eq!(live.len(), arena.len());
    }

    #[test]
    fn prefetching_any_handle_changes_nothing() {
        let mut arena = Arena::new();
        let a = arena.insert(1u64);
        let b = arena.insert(2u64);
        arena.remove(a);
        for h in [a, b, Handle::NONE] {
            arena.prefetch(h);
        }
        assert_eq!(
            (arena.get(a), arena.get(b), arena.len()),
            (None, Some(&2), 1)
        );
    }
}
