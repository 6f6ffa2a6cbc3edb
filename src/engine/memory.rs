//! Large blocks of memory in 2 MB pages, where the operating system offers them.
//!
//! A large model's records (tens of MB of stations, instances, links, plans and calls in flight)
//! are read at random, a line or two per event. With 4 KB pages nearly every such read also
//! misses the processor's address-translation cache and walks the page tables; with 2 MB pages
//! the whole working set is a few dozen translations. Linux gives a process transparent huge
//! pages only where it asks for them in its default `madvise` mode, and only in memory not yet
//! touched, so [`HugePages`] maps every block of [`LARGE`] bytes or more itself, aligned to 2 MB,
//! and asks before anything is written there. Smaller blocks, and every block on systems other
//! than Linux, come from the system allocator as before.
//!
//! Which addresses blocks get changes nothing a run computes: no output depends on an address.

use std::alloc::{GlobalAlloc, Layout, System};

/// The smallest block mapped on its own in huge pages. Blocks this large are the vectors of
/// per-record state a large model has (10,000 stations, 50,000 link directions, the arena of
/// calls in flight); below it a block is rounded up to 2 MB at too great a cost.
pub const LARGE: usize = 1 << 20;

/// The size of a huge page on x86-64 and on most 64-bit ARM systems.
const HUGE_PAGE: usize = 2 << 20;

/// The system allocator, with blocks of [`LARGE`] bytes or more mapped in transparent huge pages.
///
/// The `meshsim` binary and the benches declare it as the global allocator.
pub struct HugePages;

/// Whether a block of this layout is mapped by [`HugePages`] itself: decided from the layout
/// alone, so `dealloc` and `realloc` (which receive the layout `alloc` did) always agree with it.
#[inline]
fn mapped_here(size: usize, align: usize) -> bool {
    cfg!(target_os = "linux") && size >= LARGE && align <= HUGE_PAGE
}

// SAFETY: a block is either the system allocator's (handed to it back unchanged) or a mapping of
// its own of `mapped_length(size)` bytes aligned to 2 MB (hence to any `align` it serves), which
// `mapped_here` tells apart from the layout alone; see `huge` for the mappings.
unsafe impl GlobalAlloc for HugePages {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if mapped_here(layout.size(), layout.align()) {
            huge::map(layout.size())
        } else {
            // SAFETY: forwarded unchanged.
            unsafe { System.alloc(layout) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if mapped_here(layout.size(), layout.align()) {
            // A fresh anonymous mapping reads as zeros.
            huge::map(layout.size())
        } else {
            // SAFETY: forwarded unchanged.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if mapped_here(layout.size(), layout.align()) {
            // SAFETY: `alloc` mapped this block for this layout.
            unsafe { huge::unmap(block, layout.size()) }
        } else {
            // SAFETY: forwarded unchanged.
            unsafe { System.dealloc(block, layout) }
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let was_here = mapped_here(layout.size(), layout.align());
        let is_here = mapped_here(new_size, layout.align());
        match (was_here, is_here) {
            // SAFETY: forwarded unchanged.
            (false, false) => unsafe { System.realloc(block, layout, new_size) },
            // SAFETY: `alloc` mapped this block for this layout.
            (true, true) => unsafe { huge::remap(block, layout.size(), new_size) },
            _ => {
                // Crossing `LARGE`: a new block from the other allocator, the bytes copied.
                // SAFETY: `realloc`'s caller guarantees `new_size` is non-zero and, rounded up to
                // `align` (a power of two, from a valid layout), does not overflow `isize`.
                let new_layout =
                    unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
                // SAFETY: as `alloc`.
                let moved = unsafe { self.alloc(new_layout) };
                if !moved.is_null() {
                    // SAFETY: both blocks are live, distinct, and at least this long.
                    unsafe {
                        std::ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                }
                moved
            }
        }
    }
}

/// The environment variable that marks a process [`restart_with_huge_heap`] restarted, and
/// turns the restart off when set beforehand (to anything, `0` by convention).
pub const HUGE_HEAP_VAR: &str = "MESHSIM_HUGE_HEAP";

/// glibc's tunable that puts its whole heap in transparent huge pages.
const HUGE_HEAP_TUNABLE: &str = "glibc.malloc.hugetlb";

/// Restarts this program, once, with the system allocator told to put its whole heap in huge
/// pages, where that is possible and not yet so; otherwise returns and the program runs as it
/// is. Call it first thing in `main`, before any thread starts.
///
/// [`HugePages`] puts the large blocks in huge pages, but a large model also reads thousands of
/// small ones at random on every event (a route's latency histogram and breakdown, a station's
/// instances), and those come from glibc's heap in 4 KB pages. glibc puts its heap in huge
/// pages only when `GLIBC_TUNABLES` says so at the start of the process (it reads tunables
/// before `main`), hence a restart: the same executable, arguments and open files, with
/// `GLIBC_TUNABLES` extended and [`HUGE_HEAP_VAR`] set, so it happens at most once. On the
/// 10,000-service model that is about 10% more events per second; on the built-in model,
/// whose heap is small, no measurable change. Nothing a run computes depends on it.
///
/// It is done only on Linux with glibc and transparent huge pages in `madvise` mode (in
/// `always` mode the heap is in huge pages already; in `never` it cannot be), and not when
/// `GLIBC_TUNABLES` already sets the tunable or [`HUGE_HEAP_VAR`] is set, nor under Valgrind
/// (whose tools follow an `exec` only when told to: the restarted program would run outside
/// the profiler, which would measure nothing).
pub fn restart_with_huge_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
        let Some(tunables) = huge_heap_tunables(
            std::env::var_os(HUGE_HEAP_VAR).is_some(),
            std::env::var_os("GLIBC_TUNABLES").as_deref(),
            std::env::var_os("LD_PRELOAD").as_deref(),
            thp.as_deref().unwrap_or(""),
        ) else {
            return;
        };
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let mut command = std::process::Command::new(exe);
        if let Some(name) = args.next() {
            command.arg0(name);
        }
        // `exec` returns only if it failed: the program then carries on as it is.
        let _ = command
            .args(args)
            .env("GLIBC_TUNABLES", tunables)
            .env(HUGE_HEAP_VAR, "1")
            .exec();
    }
}

/// The `GLIBC_TUNABLES` a restart into a huge-page heap would set, given whether the process
/// was restarted already (or the restart turned off), the variable's value now, `LD_PRELOAD`
/// (Valgrind preloads its own libraries, `vgpreload_*.so`) and the contents of
/// `/sys/kernel/mm/transparent_hugepage/enabled`; `None`: no restart.
#[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
fn huge_heap_tunables(
    restarted: bool,
    tunables: Option<&std::ffi::OsStr>,
    preload: Option<&std::ffi::OsStr>,
    thp_modes: &str,
) -> Option<std::ffi::OsString> {
    let under_valgrind = preload.is_some_and(|p| p.to_string_lossy().contains("vgpreload"));
    if restarted || under_valgrind || !thp_modes.contains("[madvise]") {
        return None;
    }
    let setting = format!("{HUGE_HEAP_TUNABLE}=1");
    match tunables {
        None => Some(setting.into()),
        Some(t) if t.to_string_lossy().contains(HUGE_HEAP_TUNABLE) => None,
        Some(t) if t.is_empty() => Some(setting.into()),
        Some(t) => {
            let mut joined = t.to_os_string();
            joined.push(":");
            joined.push(setting);
            Some(joined)
        }
    }
}

/// Anonymous mappings aligned to, and a whole number of, huge pages.
#[cfg(target_os = "linux")]
mod huge {
    use super::HUGE_PAGE;
    use std::ptr;

    /// The length of the mapping that holds a block of `size` bytes.
    fn mapped_length(size: usize) -> usize {
        size.next_multiple_of(HUGE_PAGE)
    }

    /// Maps `size` bytes (rounded up to huge pages) at a 2 MB boundary and advises huge pages
    /// there; null when the system has no memory to give.
    pub fn map(size: usize) -> *mut u8 {
        let length = mapped_length(size);
        let Some(region) = reserve(length) else {
            return ptr::null_mut();
        };
        // SAFETY: advice on a mapping this function owns; MADV_HUGEPAGE never changes contents,
        // and its failure (a kernel without transparent huge pages) leaves 4 KB pages, so the
        // result is ignored.
        unsafe { libc::madvise(region.cast(), length, libc::MADV_HUGEPAGE) };
        region
    }

    /// Reserves `length` bytes (a multiple of 2 MB) at a 2 MB boundary: one mapping 2 MB
    /// longer, its unaligned head and tail unmapped.
    fn reserve(length: usize) -> Option<*mut u8> {
        let padded = length.checked_add(HUGE_PAGE)?;
        // SAFETY: a new private anonymous mapping; no existing memory is touched.
        let raw = unsafe {
            libc::mmap(
                ptr::null_mut(),
                padded,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return None;
        }
        let start = raw as usize;
        let aligned = start.next_multiple_of(HUGE_PAGE);
        let head = aligned - start;
        let tail = HUGE_PAGE - head;
        // SAFETY: both ranges lie inside the mapping just made and outside the part returned.
        unsafe {
            if head > 0 {
                libc::munmap(raw, head);
            }
            if tail > 0 {
                libc::munmap((aligned + length) as *mut libc::c_void, tail);
            }
        }
        Some(aligned as *mut u8)
    }

    /// Unmaps a block `map` made for `size` bytes.
    ///
    /// # Safety
    /// `block` came from `map(size)` (or `remap(.., size)`) and is not used again.
    pub unsafe fn unmap(block: *mut u8, size: usize) {
        // SAFETY: the caller's guarantee; the mapping is exactly this long.
        unsafe { libc::munmap(block.cast(), mapped_length(size)) };
    }

    /// Resizes a block `map` made for `old_size` bytes to `new_size` bytes, keeping its contents:
    /// in place when the mapping's length does not change or the pages after it are free,
    /// otherwise its pages are moved (not copied) to a new 2 MB boundary. Null when neither can
    /// be done, the old block then untouched.
    ///
    /// # Safety
    /// As `unmap`; on success the old address is not used again.
    pub unsafe fn remap(block: *mut u8, old_size: usize, new_size: usize) -> *mut u8 {
        let old_length = mapped_length(old_size);
        let new_length = mapped_length(new_size);
        if new_length == old_length {
            return block;
        }
        // SAFETY: the caller's guarantee; without MREMAP_MAYMOVE the kernel resizes in place or
        // fails, leaving the mapping as it was.
        let in_place = unsafe { libc::mremap(block.cast(), old_length, new_length, 0) };
        if in_place != libc::MAP_FAILED {
            return block;
        }
        let Some(target) = reserve(new_length) else {
            return ptr::null_mut();
        };
        // SAFETY: MREMAP_FIXED moves the old mapping's pages onto the reservation (which it
        // replaces) and unmaps the old range; on failure both are left as they were.
        let moved = unsafe {
            libc::mremap(
                block.cast(),
                old_length,
                new_length,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                target.cast::<libc::c_void>(),
            )
        };
        if moved == libc::MAP_FAILED {
            // SAFETY: the reservation is this function's and unused.
            unsafe { libc::munmap(target.cast(), new_length) };
            return ptr::null_mut();
        }
        target
    }
}

/// Elsewhere nothing is mapped here (`mapped_here` is false), so these are never called.
#[cfg(not(target_os = "linux"))]
mod huge {
    pub fn map(_size: usize) -> *mut u8 {
        unreachable!("blocks are mapped only on Linux")
    }
    pub unsafe fn unmap(_block: *mut u8, _size: usize) {
        unreachable!("blocks are mapped only on Linux")
    }
    pub unsafe fn remap(_block: *mut u8, _old_size: usize, _new_size: usize) -> *mut u8 {
        unreachable!("blocks are mapped only on Linux")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors grown across `LARGE` and far beyond it, shrunk back, and freed keep their
    /// contents at every step, whichever allocator holds them.
    #[test]
    fn blocks_keep_their_contents_across_every_size() {
        let alloc = HugePages;
        let layout = Layout::from_size_align(1000, 8).unwrap();
        unsafe {
            let mut block = alloc.alloc(layout);
            assert!(!block.is_null());
            for i in 0..1000 {
                *block.add(i) = (i % 251) as u8;
            }
            let mut size = 1000;
            for new_size in [
                LARGE - 8,
                LARGE,
                3 * HUGE_PAGE + 17,
                40 << 20,
                5 << 20,
                LARGE,
                999,
            ] {
                block = alloc.realloc(block, Layout::from_size_align(size, 8).unwrap(), new_size);
                assert!(!block.is_null(), "realloc to {new_size} failed");
                for i in 0..999 {
                    assert_eq!(
                        *block.add(i),
                        (i % 251) as u8,
                        "byte {i} after {size} → {new_size}"
                    );
                }
                // The new tail is writable up to its last byte.
                *block.add(new_size - 1) = 7;
                size = new_size;
            }
            alloc.dealloc(block, Layout::from_size_align(size, 8).unwrap());
        }
    }

    /// The heap is put in huge pages once, only in `madvise` mode and not under Valgrind,
    /// keeping whatever other tunables the user set and never overriding their own choice of
    /// this one.
    #[test]
    fn a_restart_sets_the_huge_heap_tunable_once_and_keeps_the_users() {
        use std::ffi::OsStr;
        let madvise = "always [madvise] never\n";
        let tunables = |restarted, now: Option<&str>, modes| {
            huge_heap_tunables(restarted, now.map(OsStr::new), None, modes)
                .map(|t| t.into_string().unwrap())
        };
        assert_eq!(
            tunables(false, None, madvise).as_deref(),
            Some("glibc.malloc.hugetlb=1")
        );
        assert_eq!(
            tunables(false, Some(""), madvise).as_deref(),
            Some("glibc.malloc.hugetlb=1")
        );
        assert_eq!(
            tunables(false, Some("glibc.malloc.arena_max=2"), madvise).as_deref(),
            Some("glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1")
        );
        // Already restarted (or turned off), the user's own setting, no huge pages to ask for,
        // or all memory in huge pages already: no restart.
        assert_eq!(tunables(true, None, madvise), None);
        assert_eq!(
            tunables(false, Some("glibc.malloc.hugetlb=0"), madvise),
            None
        );
        assert_eq!(tunables(false, None, "always madvise [never]\n"), None);
        assert_eq!(tunables(false, None, "[always] madvise never\n"), None);
        assert_eq!(tunables(false, None, ""), None);
        // Under Valgrind, which would lose the restarted program; another preload is no reason.
        let preloaded =
            |preload| huge_heap_tunables(false, None, Some(OsStr::new(preload)), madvise);
        assert_eq!(
            preloaded("/usr/libexec/valgrind/vgpreload_core-amd64-linux.so"),
            None
        );
        assert!(preloaded("/usr/lib/libjemalloc.so.2").is_some());
    }

    /// A large block starts on a huge page's boundary (so all of it can be in huge pages) and,
    /// asked for zeroed, reads as zeros.
    #[test]
    fn large_zeroed_blocks_read_as_zeros_and_are_aligned() {
        let alloc = HugePages;
        let layout = Layout::from_size_align(3 * LARGE, 4096).unwrap();
        unsafe {
            let block = alloc.alloc_zeroed(layout);
            assert!(!block.is_null());
            let boundary = if cfg!(target_os = "linux") {
                HUGE_PAGE
            } else {
                4096
            };
            assert_eq!(block as usize % boundary, 0);
            assert!(
                std::slice::from_raw_parts(block, layout.size())
                    .iter()
                    .all(|&b| b == 0)
            );
            alloc.dealloc(block, layout);
        }
    }
}
