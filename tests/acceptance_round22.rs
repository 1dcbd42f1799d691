//! Acceptance tests of the facade, round 22: what a call of an annotated
//! function costs in allocations (README, "Proof"), for every shape the
//! attribute rewrites, uncontended and queued. Each test quotes its promise
//! with its line. Waits are bounded only to turn a hang into a failure.
#![cfg(not(miri))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Every bounded wait is over by then, or the test fails.
const BOUND: Duration = Duration::from_secs(20);

struct Counting;

thread_local! {
    /// Whether this thread's allocations are counted now, and how many.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

// Safety: forwards to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The allocations this thread makes while running `f`.
fn allocations_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    COUNTED.with(|c| c.set(true));
    let out = f();
    COUNTED.with(|c| c.set(false));
    (out, ALLOCATIONS.with(Cell::get) - before)
}

/// Polls `fut` once with a no-op waker.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[pooled::pooled(size = 2, name = "acc22::fetch")]
async fn fetch(n: u64) -> u64 {
    n + 1
}

#[pooled::pooled(size = 2, name = "acc22::fetch_or_busy")]
async fn fetch_or_busy(n: u64) -> Result<u64, pooled::Rejected> {
    Ok(n + 1)
}

#[pooled::pooled(size = 2, name = "acc22::checksum")]
fn checksum(data: &[u8]) -> u64 {
    data.iter().map(|&b| u64::from(b)).sum()
}

#[pooled::pooled(size = 2, name = "acc22::checksum_or_busy")]
fn checksum_or_busy(data: &[u8]) -> std::io::Result<u64> {
    Ok(data.iter().map(|&b| u64::from(b)).sum())
}

#[pooled::pooled(size = 2, name = "acc22::later")]
fn later(n: u64) -> impl Future<Output = u64> + Send {
    async move { n * 2 }
}

#[pooled::group(order = "priority", size = 1, name = "acc22::ranked")]
struct Ranked;

#[pooled::pooled(group = Ranked, weight = 5)]
async fn ranked(n: u64) -> Result<u64, pooled::Rejected> {
    Ok(n)
}

#[pooled::pooled(group = Ranked)]
fn ranked_sync(n: u64) -> u64 {
    n
}

/// README, "Proof": "A `submit`, a permit or a sync call allocates nothing,
/// uncontended, queued or parked (...); what does allocate per call is
/// `Pool::spawn` (a tokio task), a group call under an application-wide
/// ceiling (its ceiling slot is boxed), an async call that waits on a pool
/// with an admission timeout (...) and a call of the tower layer's waiting
/// mode that has to wait"; README, "The attribute": "Every call of an
/// annotated function waits for a slot of a lazily started global pool".
///
/// A call of an annotated function is a group call (no ceiling here): an
/// `async fn` (rejecting or not), a sync `fn` (rejecting or not) and a sync
/// fn returning `impl Future`, uncontended, allocate nothing once their
/// group has started.
#[test]
fn uncontended_calls_of_annotated_functions_allocate_nothing_once_warm() {
    let round = || {
        let mut sum = 0;
        for n in 0..50u64 {
            let mut call = std::pin::pin!(fetch(n));
            let Poll::Ready(out) = poll_once(call.as_mut()) else {
                panic!("uncontended")
            };
            sum += out;
            let mut call = std::pin::pin!(fetch_or_busy(n));
            let Poll::Ready(out) = poll_once(call.as_mut()) else {
                panic!("uncontended")
            };
            sum += out.unwrap();
            sum += checksum(&[1, 2, 3]);
            sum += checksum_or_busy(&[1, 2, 3]).unwrap();
            let mut call = std::pin::pin!(later(n));
            let Poll::Ready(out) = poll_once(call.as_mut()) else {
                panic!("uncontended")
            };
            sum += out;
        }
        sum
    };
    let warm = round();
    let (sum, allocations) = allocations_of(round);
    assert_eq!(sum, warm);
    assert_eq!(
        allocations, 0,
        "250 uncontended calls of annotated functions"
    );
    for group in [
        FETCH_POOL,
        FETCH_OR_BUSY_POOL,
        CHECKSUM_POOL,
        CHECKSUM_OR_BUSY_POOL,
        LATER_POOL,
    ] {
        let stats = group.stats();
        assert_eq!(
            (stats.completed, stats.running, stats.waiting),
            (100, 0, 0),
            "{}",
            group.name()
        );
    }
}

/// As above (README, "Proof": "allocates nothing, uncontended, queued or
/// parked"), queued: the only slot of a priority group held by another
/// thread, calls of a weighted `async fn` of the group queue (polled once,
/// then dropped) and allocate nothing once warm.
#[test]
fn queued_calls_of_an_annotated_function_allocate_nothing_once_warm() {
    let (release, held) = mpsc::channel::<()>();
    let (entered, is_held) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        ranked_sync(7);
        let permit = Ranked::POOL.try_acquire(0).expect("the only slot is free");
        entered.send(()).unwrap();
        let _ = held.recv_timeout(BOUND);
        drop(permit);
    });
    is_held
        .recv_timeout(BOUND)
        .expect("the holder took the slot");
    let round = || {
        for n in 0..50u64 {
            let mut call = std::pin::pin!(ranked(n));
            assert!(
                poll_once(call.as_mut()).is_pending(),
                "queued behind the holder"
            );
        }
    };
    round();
    let ((), allocations) = allocations_of(round);
    release.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(allocations, 0, "50 queued calls of an annotated async fn");
    let stats = Ranked::POOL.stats();
    assert_eq!((stats.running, stats.waiting), (0, 0));
    assert_eq!(stats.cancelled, 100);
}

#[pooled::pooled(size = 1, name = "acc22::depth")]
fn depth(n: u32) -> u32 {
    if n == 0 {
        0
    } else {
        depth(n - 1) + 1
    }
}

/// README, "Proof": "A `submit`, a permit or a sync call allocates nothing,
/// uncontended, queued or parked"; `#[pooled]` docs
/// (pool-macros/src/lib.rs, "Sync, async and blocking functions"): "A call
/// made while the caller already holds a slot of the same pool (a nested
/// or recursive call, in the same task or, for sync calls, on the same
/// thread) may run under that slot, so nested calls never deadlock a full
/// pool".
///
/// A recursive sync function on its own pool of one slot: each call of
/// depth 4 is five sync calls, four of them nested; once warm, 50 such
/// calls must allocate nothing.
#[test]
fn recursive_calls_of_an_annotated_sync_function_allocate_nothing_once_warm() {
    assert_eq!(depth(4), 4);
    let (sum, allocations) = allocations_of(|| (0..50).map(|_| depth(4)).sum::<u32>());
    assert_eq!(sum, 200);
    assert_eq!(allocations, 0, "50 calls of depth 4 (200 nested calls)");
    let stats = DEPTH_POOL.stats();
    assert_eq!((stats.running, stats.nested, stats.waiting), (0, 0, 0));
}
