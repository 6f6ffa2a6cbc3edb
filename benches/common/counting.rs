//! A global allocator that counts the bytes in use and their peak, shared by the benchmarks that
//! measure memory (`#[path = "common/counting.rs"] mod counting;`): criterion measures time only.
//! It counts what the `meshsim` binary's allocator (`meshsim::engine::HugePages`) hands out, so
//! the benches measure the memory the program uses, in the pages it uses.

use meshsim::engine::HugePages;
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The bytes allocated and not yet freed.
pub static CURRENT: AtomicUsize = AtomicUsize::new(0);
/// The most `CURRENT` has been since it was last reset (`PEAK.store(CURRENT…)`).
pub static PEAK: AtomicUsize = AtomicUsize::new(0);

pub struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { HugePages.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { HugePages.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    /// Forwarded, not left to the default (allocate, copy, free): the allocator grows a
    /// large block in place (`mremap`), and the default would count the old and the new block
    /// at once at every doubling of a vector, a peak the program never has.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { HugePages.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grown = new_size - layout.size();
                let now = CURRENT.fetch_add(grown, Ordering::Relaxed) + grown;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
pub static ALLOCATOR: Counting = Counting;
