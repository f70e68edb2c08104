//! Measuring how much memory one analysis allocates at its peak, for the
//! fuzz targets, the corpus replay and the memory-bound tests.
//!
//! [`Counting`] is a global allocator that forwards to the system allocator
//! and keeps a live and a peak byte count; a binary opts in with
//! `#[global_allocator] static A: Counting = Counting;`. The Bash and
//! JavaScript parse trees are allocated by tree-sitter's C code, so
//! [`route_tree_sitter`] points tree-sitter's allocator at Rust's global
//! allocator, where they are counted too. [`measured`] runs one closure at a
//! time (a process-wide lock) and reports its peak above what was live
//! before, or `None` when the binary did not install [`Counting`].
//!
//! This module is test harness: it must never be installed in the gateway
//! (the counters cost an atomic operation per allocation).

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// A counting global allocator over [`System`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Counting;

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed).saturating_add(by);
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(by: usize) {
    // Saturating: memory allocated before the counter saw it can be freed later.
    let _ = LIVE.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_sub(by))
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator, which
// upholds the `GlobalAlloc` contract; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded; `ptr` came from this allocator with `layout`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

// tree-sitter's C allocations go through these hooks; each block starts
// with a header holding the requested size, so `free` and `realloc` can give
// Rust's allocator the layout back.
const HEADER: usize = 16;

fn c_layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(HEADER)?, HEADER).ok()
}

/// Writes the header of a fresh block and returns the caller's pointer.
///
/// # Safety
/// `base` is null or valid for at least `HEADER` bytes, aligned to 16.
unsafe fn finish(base: *mut u8, size: usize) -> *mut c_void {
    if base.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: `base` is valid and aligned for a `usize` header (contract above).
    unsafe {
        base.cast::<usize>().write(size);
        base.add(HEADER).cast()
    }
}

unsafe extern "C" fn ts_malloc(size: usize) -> *mut c_void {
    match c_layout(size) {
        // SAFETY: the layout is non-zero (it includes the header).
        Some(layout) => unsafe { finish(std::alloc::alloc(layout), size) },
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn ts_calloc(count: usize, size: usize) -> *mut c_void {
    match count
        .checked_mul(size)
        .and_then(|t| Some((t, c_layout(t)?)))
    {
        // SAFETY: the layout is non-zero (it includes the header).
        Some((total, layout)) => unsafe { finish(std::alloc::alloc_zeroed(layout), total) },
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn ts_free(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: `ptr` came from one of these hooks, so a header written by
    // `finish` precedes it and records the layout it was allocated with.
    unsafe {
        let base = ptr.cast::<u8>().sub(HEADER);
        if let Some(layout) = c_layout(base.cast::<usize>().read()) {
            std::alloc::dealloc(base, layout);
        }
    }
}

unsafe extern "C" fn ts_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    if ptr.is_null() {
        // SAFETY: a plain allocation.
        return unsafe { ts_malloc(size) };
    }
    let Some(new_layout) = c_layout(size) else {
        return std::ptr::null_mut();
    };
    // SAFETY: as in `ts_free`: the header holds the old layout's size.
    unsafe {
        let base = ptr.cast::<u8>().sub(HEADER);
        let Some(old_layout) = c_layout(base.cast::<usize>().read()) else {
            return std::ptr::null_mut();
        };
        finish(
            std::alloc::realloc(base, old_layout, new_layout.size()),
            size,
        )
    }
}

static ROUTED: Once = Once::new();

/// Points tree-sitter's C allocator at Rust's global allocator, once per
/// process. Must run before the process makes any tree-sitter object: every
/// harness entry point in [`crate::fuzzing`] calls it first.
pub fn route_tree_sitter() {
    ROUTED.call_once(|| {
        // SAFETY: runs once (under the `Once`), before any tree-sitter object
        // of this process exists (callers guarantee it, see above); the four
        // hooks form one allocator family over the global allocator and
        // return 16-byte aligned blocks, as libc `malloc` does.
        unsafe {
            tree_sitter::set_allocator(Some(tree_sitter::Allocator {
                malloc: ts_malloc,
                calloc: ts_calloc,
                realloc: ts_realloc,
                free: ts_free,
            }));
        }
    });
}

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `f` alone (no other `measured` call runs meanwhile) and returns its
/// result with the allocation peak it reached above what was live before, or
/// `None` when [`Counting`] is not this binary's global allocator.
/// Allocations of threads that are not measured still count, so callers keep
/// other work out of the way while measuring.
pub fn measured<T>(f: impl FnOnce() -> T) -> (T, Option<usize>) {
    route_tree_sitter();
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let installed = INSTALLED.load(Ordering::Relaxed);
    (out, installed.then_some(peak))
}
