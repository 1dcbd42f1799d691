//! A counting global allocator, for case 6 (heap allocations per submit).
//!
//! Counting is off except inside [`count`], so the timed cases pay one relaxed
//! load per allocation and nothing else (the worker-queue anchor allocates on
//! every call; it must not be slowed down by the instrument).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The system allocator, counting allocations while enabled.
#[derive(Debug)]
pub struct CountingAlloc;

static ENABLED: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

/// What was allocated while counting (from any thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Allocations {
    /// Calls of `alloc`, `alloc_zeroed` and `realloc`.
    pub count: u64,
    /// Bytes requested by them.
    pub bytes: u64,
}

#[inline]
fn record(size: usize) {
    if ENABLED.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(size as u64, Ordering::Relaxed);
    }
}

// Safety: every method forwards to `System` unchanged; counting has no effect
// on the memory returned.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
    }
}

/// Runs `f` with counting on, and returns what it (and every other thread
/// meanwhile) allocated. Not reentrant.
pub fn count<T>(f: impl FnOnce() -> T) -> (T, Allocations) {
    let before = (
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    ENABLED.store(true, Ordering::SeqCst);
    let out = f();
    ENABLED.store(false, Ordering::SeqCst);
    let allocations = Allocations {
        count: ALLOCATIONS.load(Ordering::Relaxed) - before.0,
        bytes: BYTES.load(Ordering::Relaxed) - before.1,
    };
    (out, allocations)
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_what_is_allocated_inside() {
        // Other tests run on other threads meanwhile, so only a lower bound holds.
        let (kept, inside) = count(|| Vec::<u64>::with_capacity(4));
        assert!(inside.count >= 1 && inside.bytes >= 32);
        assert_eq!(kept.capacity(), 4);
    }
}
