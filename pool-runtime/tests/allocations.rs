//! Issue 14: no heap allocation per call, on the async paths (uncontended,
//! contended, permits) and on the sync path (a contended `run` that parks).
//! A counting global allocator counts the allocations of the threads that
//! take part in a window (the test's, and the ones it runs calls on) while
//! it is open; the test harness's own threads are not counted.
#![cfg(not(miri))]

use pool_runtime::Pool;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Waker};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's allocations count while a window is open.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn counted() -> bool {
    COUNTING.load(Ordering::Relaxed) && COUNTED.with(Cell::get)
}

// Safety: forwards to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The tests of this file open windows one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Allocations made while `f` runs, by this thread and by the threads that
/// [`count_this_thread`] while it runs.
fn allocations_in<T>(f: impl FnOnce() -> T) -> (T, usize) {
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTED.with(|c| c.set(true));
    COUNTING.store(true, Ordering::SeqCst);
    let out = f();
    COUNTING.store(false, Ordering::SeqCst);
    COUNTED.with(|c| c.set(false));
    (out, ALLOCATIONS.load(Ordering::SeqCst))
}

/// Counts this thread's allocations in the open window.
fn count_this_thread() {
    COUNTED.with(|c| c.set(true));
}

/// Pending once, then ready: holds a slot across a poll, so other calls wait.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Polls every future in turn until all are done (no executor, no
/// allocation of its own: `done` has a flag per future).
fn drive<F: Future>(futures: &mut [Pin<Box<F>>], done: &mut [bool]) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut left = futures.len();
    while left > 0 {
        for (future, done) in futures.iter_mut().zip(done.iter_mut()) {
            if !*done && future.as_mut().poll(&mut cx).is_ready() {
                *done = true;
                left -= 1;
            }
        }
    }
}

#[test]
fn async_calls_allocate_nothing_uncontended_or_contended() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let pool = Pool::fixed(2);
    // 16 tasks of 100 calls each on 2 slots: most calls wait in the queue.
    let mut tasks: Vec<_> = (0..16)
        .map(|_| {
            let pool = &pool;
            Box::pin(async move {
                for _ in 0..100 {
                    pool.submit(YieldOnce(false)).await.unwrap();
                    let permit = pool.acquire().await.unwrap();
                    YieldOnce(false).await;
                    drop(permit);
                }
            })
        })
        .collect();
    let mut done = vec![false; tasks.len()];
    let ((), allocations) = allocations_in(|| drive(&mut tasks, &mut done));
    let stats = pool.stats();
    assert_eq!(stats.completed, 16 * 100 * 2);
    assert!(stats.running == 0 && stats.waiting == 0);
    assert_eq!(allocations, 0, "3200 calls, most of them queued");
}

#[test]
fn sync_calls_that_park_allocate_nothing_after_each_threads_first_wait() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let pool = Arc::new(Pool::fixed(1));
    let threads = 4;
    let calls = 500;
    // Warm-up: every thread's first call waits (the slot is held here), so
    // each has made its waker before the window opens.
    let held = pool.try_acquire_owned(0).unwrap();
    let warmed = Arc::new(Barrier::new(threads + 1));
    let start = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (pool, warmed, start) = (pool.clone(), warmed.clone(), start.clone());
            std::thread::spawn(move || {
                pool.run(|| ()).unwrap();
                count_this_thread();
                warmed.wait();
                start.wait();
                for _ in 0..calls {
                    pool.run(std::thread::yield_now).unwrap();
                }
            })
        })
        .collect();
    while pool.stats().waiting < threads {
        std::thread::yield_now();
    }
    drop(held);
    warmed.wait();
    let before = pool.stats().completed;
    let ((), allocations) = allocations_in(|| {
        start.wait();
        for handle in handles {
            handle.join().unwrap();
        }
    });
    assert_eq!(pool.stats().completed - before, (threads * calls) as u64);
    // (Joining a thread frees; it does not allocate.)
    assert_eq!(allocations, 0, "{} sync calls on one slot", threads * calls);
}

/// Allocations made by 1000 uncontended calls through a tower layer (after
/// one call outside the window, which starts a group's pool). Every call
/// completes at its first poll: none waits.
#[cfg(feature = "tower")]
fn allocations_of_uncontended_tower_calls(layer: pool_runtime::tower::PooledLayer) -> usize {
    use tower::{service_fn, Layer, Service};
    let mut service = layer.layer(service_fn(|x: u64| async move {
        Ok::<_, std::convert::Infallible>(x + 1)
    }));
    let mut cx = Context::from_waker(Waker::noop());
    let mut call = |x: u64| {
        assert!(service.poll_ready(&mut cx).is_ready());
        let mut response = std::pin::pin!(service.call(x));
        match response.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(y)) => y,
            other => panic!("an uncontended call completes at once: {other:?}"),
        }
    };
    assert_eq!(call(0), 1);
    let (sum, allocations) = allocations_in(|| (1..=1000).map(&mut call).sum::<u64>());
    assert_eq!(sum, (2..=1001).sum::<u64>());
    allocations
}

#[cfg(feature = "tower")]
#[test]
fn a_tower_layer_over_a_pool_allocates_nothing_for_a_call_admitted_at_once() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let pool = Pool::fixed(2);
    let allocations = allocations_of_uncontended_tower_calls(
        pool_runtime::tower::PooledLayer::pool(pool.clone()),
    );
    assert_eq!(pool.stats().completed, 1001);
    assert_eq!(allocations, 0, "1000 calls through the layer, none waiting");
}

#[cfg(feature = "tower")]
#[test]
fn a_tower_layer_over_a_group_allocates_nothing_for_a_call_admitted_at_once() {
    use pool_runtime::{Group, GroupSpec};
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let group: &'static Group = Box::leak(Box::new(Group::new(
        GroupSpec::new("allocations::tower_group").size(2),
    )));
    let allocations =
        allocations_of_uncontended_tower_calls(pool_runtime::tower::PooledLayer::group(group));
    assert_eq!(group.stats().completed, 1001);
    assert_eq!(allocations, 0, "1000 calls through the layer, none waiting");
}
