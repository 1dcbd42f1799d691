//! What an isolation keeps once its guard is dropped (feature `test-util`):
//! `Group::isolate` hands out its pool as a `&'static Pool` (through
//! `Group::pool` and `Isolation::pool`), so the pool itself is never freed;
//! this test holds that leak to a small, fixed size per isolation, whatever
//! the test did with its instance. A counting allocator measures the bytes
//! still allocated after many isolations (one test in this binary, so no
//! other test allocates meanwhile).
#![cfg(all(feature = "test-util", not(miri)))]

use pool_runtime::{Group, GroupSpec, Order, Rejected};
use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::task::{Context, Poll, Waker};

struct Counting;

/// Bytes allocated and not yet freed, by every thread.
static LIVE: AtomicIsize = AtomicIsize::new(0);

// Safety: forwards to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::SeqCst);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::SeqCst);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

static PLAIN: Group = Group::new(GroupSpec::new("iso_mem::plain").size(2));
static BUSY: Group = Group::new(
    GroupSpec::new("iso_mem::busy")
        .size(1)
        .order(Order::Priority),
);

/// Bytes each of `n` runs of `f` leaves allocated, on average.
fn kept_per_run(n: usize, mut f: impl FnMut()) -> isize {
    let before = LIVE.load(Ordering::SeqCst);
    for _ in 0..n {
        f();
    }
    (LIVE.load(Ordering::SeqCst) - before) / n as isize
}

/// An isolation used the plain way: a few calls.
fn plain() {
    let _mine = PLAIN.isolate();
    for i in 0..10 {
        assert_eq!(PLAIN.run(|| i), Ok(i));
    }
}

/// An isolation used hard: its only slot held, `n` calls of distinct
/// weights waiting (past the priority queue's small-weights vector), the
/// guard dropped while they wait, then the slot freed and every call run
/// to the end in the instance, which is then scaled, paused and closed
/// through a handle kept past its guard.
fn busy(n: i64) {
    let guard = BUSY.isolate();
    let isolated = guard.pool();
    let permit = BUSY.try_acquire(0).unwrap();
    let mut calls: Vec<_> = (0..n)
        .map(|weight| Box::pin(BUSY.submit(weight, async move { weight })))
        .collect();
    let mut cx = Context::from_waker(Waker::noop());
    for call in &mut calls {
        assert!(call.as_mut().poll(&mut cx).is_pending());
    }
    drop(guard);
    assert_eq!(isolated.stats().waiting, n as usize);
    drop(permit);
    for (weight, call) in calls.iter_mut().enumerate() {
        // Each call admitted in weight order finds the slot its
        // predecessor freed.
        assert_eq!(call.as_mut().poll(&mut cx), Poll::Ready(Ok(weight as i64)));
    }
    drop(calls);
    assert_eq!(isolated.scale(3), 4);
    isolated.pause();
    isolated.close();
    assert_eq!(isolated.run(|| ()), Err(Rejected::Closed));
    let s = isolated.stats();
    // (The permit counts as a completed call.)
    assert_eq!(
        (s.completed, s.running, s.waiting),
        (n as u64 + 1, 0, 0),
        "{s:?}"
    );
}

#[test]
fn an_isolation_keeps_a_small_fixed_size_once_its_guard_is_dropped() {
    // Warm up what the process keeps once (the isolation list's capacity,
    // the shared pools' first use).
    for _ in 0..20 {
        plain();
        busy(200);
    }
    let plain_kept = kept_per_run(1_000, plain);
    let busy_kept = kept_per_run(1_000, || busy(200));
    // The pool's handle and core (~1 KiB on 64-bit targets); a priority
    // pool also keeps its small-weights vector's capacity (64 buckets).
    assert!(
        plain_kept <= 1_536,
        "{plain_kept} bytes per plain isolation"
    );
    assert!(busy_kept <= 4_096, "{busy_kept} bytes per busy isolation");
    // Nothing a call brought (its waker, its queue node, the B-tree past 64
    // weights) stays: ten times the calls keep no more.
    let busier_kept = kept_per_run(100, || busy(2_000));
    assert!(
        busier_kept <= busy_kept + 64,
        "{busier_kept} bytes per isolation with 2000 calls, {busy_kept} with 200"
    );
}
