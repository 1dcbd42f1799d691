//! Adversarial tests for the newest call paths: permits, the tower layer,
//! pooled streams and test isolation. Each test says what broken promise it
//! would catch: more than the limit at once, a hang, a lost call (the
//! accounting identity), or bad input turned into a panic or a freeze.
#![cfg(all(feature = "tower", feature = "stream", feature = "test-util"))]

mod common;

use common::{assert_accounted, gate, panicking_waker, quiet_planned_panics, Meter, Task};
use futures::stream::Stream;
use futures::StreamExt;
use pool_runtime::tower::{BoxError, PooledLayer};
use pool_runtime::{Group, GroupSpec, Order, Pool, PooledStreamExt, Rejected};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tower::{service_fn, Layer, Service};

fn fixed(size: usize) -> Pool {
    Pool::builder().size(size).build().unwrap()
}

fn priority(size: usize) -> Pool {
    Pool::builder()
        .size(size)
        .order(Order::Priority)
        .build()
        .unwrap()
}

fn noop_cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

// ---- permits ---------------------------------------------------------------

/// Catches: a dropped acquire future that stays in the queue, or that was
/// handed the slot (woken, not yet polled again) and takes it to its grave.
#[test]
fn an_acquire_dropped_after_0_1_2_polls_and_after_being_handed_the_slot_loses_nothing() {
    for polls in 0..3 {
        let pool = fixed(1);
        let held = pool.try_acquire().unwrap();
        let mut waiting = Task::new(pool.acquire());
        for _ in 0..polls {
            waiting.assert_pending();
        }
        assert_eq!(pool.stats().waiting, usize::from(polls > 0));
        drop(waiting);
        assert_eq!(pool.stats().waiting, 0, "after {polls} polls");
        drop(held);
        drop(pool.try_acquire().expect("the slot is free"));
        let s = pool.stats();
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
        assert_accounted(&s);
    }
    // Handed the slot by a release, then dropped before its next poll.
    let pool = fixed(1);
    let held = pool.try_acquire().unwrap();
    let mut handed = Task::new(pool.acquire());
    handed.assert_pending();
    let mut next = Task::new(pool.acquire());
    next.assert_pending();
    drop(held);
    assert!(handed.is_woken());
    drop(handed);
    let permit = next.assert_ready().expect("the slot passed on to the next");
    drop(permit);
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.completed), (0, 0, 2), "{s:?}");
    assert_accounted(&s);
}

/// Catches: `try_acquire` leaving a node in the queue (a phantom waiter that
/// would later swallow a slot) on a paused, closed or busy pool, whatever
/// the order and weight.
#[test]
fn try_acquire_never_leaves_a_waiting_node() {
    for order in [Order::Fifo, Order::Lifo, Order::Priority] {
        let pool = Pool::builder().size(1).order(order).build().unwrap();
        let held = pool.try_acquire_owned(0).unwrap();
        let mut queued = Task::new(pool.acquire_weighted(5));
        queued.assert_pending();
        for weight in [i64::MIN, -1, 0, 5, i64::MAX] {
            assert_eq!(pool.try_acquire_owned(weight).err(), Some(Rejected::Full));
            assert_eq!(pool.stats().waiting, 1, "{order:?} {weight}");
        }
        pool.pause();
        assert_eq!(pool.try_acquire().err(), Some(Rejected::Paused));
        pool.resume();
        drop(held);
        drop(queued.assert_ready().unwrap());
        pool.close();
        assert_eq!(
            pool.try_acquire_owned(i64::MIN).err(),
            Some(Rejected::Closed)
        );
        let s = pool.stats();
        assert_eq!((s.waiting, s.running, s.completed), (0, 0, 2), "{s:?}");
        assert_eq!(s.rejected_total(), 7);
        assert_accounted(&s);
    }
}

/// Catches: a permit release whose hand-off wakes a panicking waker and so
/// loses the slot (the woken acquire never admitted, or the released call
/// never counted).
#[test]
fn a_panicking_waker_woken_by_a_permit_release_loses_nothing() {
    quiet_planned_panics();
    let pool = fixed(1);
    let held = pool.try_acquire().unwrap();
    let bad_waker = panicking_waker();
    let mut bad = Box::pin(pool.acquire());
    assert!(bad
        .as_mut()
        .poll(&mut Context::from_waker(&bad_waker))
        .is_pending());
    let released = catch_unwind(AssertUnwindSafe(|| drop(held)));
    // Whether or not the waker's panic reaches the releaser, nothing is lost.
    let _ = released;
    let s = pool.stats();
    assert_eq!(s.completed, 1, "the released permit was counted: {s:?}");
    assert_accounted(&s);
    let permit = match bad.as_mut().poll(&mut noop_cx()) {
        Poll::Ready(permit) => permit.expect("the slot was handed over"),
        Poll::Pending => panic!("the slot was lost with the panicking waker"),
    };
    drop(permit);
    drop(bad);
    drop(pool.try_acquire().expect("the slot came back"));
    let s = pool.stats();
    assert_eq!((s.completed, s.running, s.waiting), (3, 0, 0), "{s:?}");
    assert_accounted(&s);
}

/// Catches: waiters stranded by a pool resized to zero (never woken when
/// it grows), or more than one admitted by `resize(1)`.
#[test]
fn resize_zero_with_permits_waiting_then_resize_one_admits_them_one_at_a_time() {
    let pool = fixed(2);
    let held = pool.try_acquire().unwrap();
    assert_eq!(pool.resize(0), 0);
    let mut waiters: Vec<_> = (0..3).map(|_| Task::new(pool.acquire())).collect();
    for w in &mut waiters {
        w.assert_pending();
    }
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
    drop(held);
    assert!(waiters.iter_mut().all(|w| w.poll().is_pending()));
    assert_eq!(pool.stats().running, 0, "size 0 admits nothing");
    pool.resize(1);
    let first = waiters[0].assert_ready().unwrap();
    assert!(waiters[1].poll().is_pending() && waiters[2].poll().is_pending());
    drop(first);
    let second = waiters[1].assert_ready().unwrap();
    assert!(waiters[2].poll().is_pending());
    drop(second);
    drop(waiters[2].assert_ready().unwrap());
    let s = pool.stats();
    assert_eq!((s.completed, s.running, s.waiting), (4, 0, 0), "{s:?}");
    assert_accounted(&s);
}

/// Catches: overflow or misordering at the extremes of the weight range
/// (a panic on `i64::MIN`/`i64::MAX`, or `MAX` admitted before `MIN`).
#[test]
fn extreme_weights_on_a_priority_pool_via_permits() {
    let pool = priority(1);
    let held = pool.try_acquire_owned(i64::MAX).unwrap();
    let mut max = Task::new(pool.acquire_weighted(i64::MAX));
    let mut zero = Task::new(pool.acquire_owned(0));
    let mut min = Task::new(pool.acquire_weighted(i64::MIN));
    max.assert_pending();
    zero.assert_pending();
    min.assert_pending();
    drop(held);
    let first = min.assert_ready().expect("i64::MIN goes first");
    assert!(zero.poll().is_pending() && max.poll().is_pending());
    drop(first);
    let second = zero.assert_ready().unwrap();
    assert!(max.poll().is_pending());
    drop(second);
    drop(max.assert_ready().unwrap());
    let s = pool.stats();
    assert_eq!((s.completed, s.running, s.waiting), (4, 0, 0), "{s:?}");
    assert_accounted(&s);
}

/// Catches: a permit released on a thread other than its own failing to
/// hand the slot to the waiter on the first thread (a lost wakeup: hang).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owned_permit_dropped_on_another_thread_wakes_the_waiter() {
    let pool = fixed(1);
    for _ in 0..200 {
        let permit = pool.acquire_owned(0).await.unwrap();
        let dropper = std::thread::spawn(move || drop(permit));
        let next = tokio::time::timeout(Duration::from_secs(30), pool.acquire())
            .await
            .expect("woken by the other thread's release")
            .unwrap();
        drop(next);
        dropper.join().unwrap();
    }
    let s = pool.stats();
    assert_eq!((s.completed, s.running, s.waiting), (400, 0, 0), "{s:?}");
    assert_accounted(&s);
}

/// Catches: permits exceeding the limit, hanging, or going uncounted while
/// another thread pauses, resumes, resizes (to 0 too) and scales the pool,
/// then closes it. The gauge is counted from outside; the limit never goes
/// above 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permits_race_pause_resume_resize_scale_and_close() {
    const LIMIT: usize = 3;
    let pool = fixed(LIMIT);
    let gauge = Meter::default();
    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicUsize::new(0));
    let controller = {
        let (pool, stop) = (pool.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) && i < 2_000 {
                match i % 6 {
                    0 => pool.pause(),
                    1 => pool.resume(),
                    2 => drop(pool.resize(0)),
                    3 => drop(pool.resize(i % (LIMIT + 1))),
                    4 if pool.size() < LIMIT => drop(pool.scale(1)),
                    _ => drop(pool.scale(-1)),
                }
                i += 1;
                std::thread::yield_now();
            }
            // Leave it open and full-sized so every waiter can finish.
            pool.resume();
            pool.resize(LIMIT);
        })
    };
    let mut tasks = Vec::new();
    for t in 0..4 {
        let (pool, gauge, attempts) = (pool.clone(), gauge.clone(), attempts.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..500 {
                attempts.fetch_add(1, Ordering::SeqCst);
                let permit = if (t + i) % 3 == 0 {
                    pool.try_acquire_owned(0)
                } else {
                    pool.acquire_owned(i as i64 % 3).await
                };
                if let Ok(permit) = permit {
                    let inside = gauge.enter();
                    tokio::task::yield_now().await;
                    drop(inside);
                    drop(permit);
                }
            }
        }));
    }
    let joined = tokio::time::timeout(Duration::from_secs(120), async {
        for task in tasks {
            task.await.unwrap();
        }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    controller.join().unwrap();
    joined.expect("no permit hangs");
    pool.close();
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Closed));
    assert!(gauge.max() <= LIMIT);
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
    assert_eq!(
        s.submitted(),
        attempts.load(Ordering::SeqCst) as u64 + 1,
        "every attempt (and the last try) was counted once: {s:?}"
    );
    assert_accounted(&s);
}

// ---- tower -----------------------------------------------------------------

/// Catches: a weight function that panics in `call` leaving a queued node,
/// a held slot or a counted-but-unaccounted call behind.
#[test]
fn a_tower_weight_fn_that_panics_leaves_the_pool_clean() {
    quiet_planned_panics();
    let pool = priority(1);
    let mut service = PooledLayer::pool(pool.clone())
        .weight(|n: &i64| {
            if *n < 0 {
                panic!("planned: a weight function panics")
            }
            *n
        })
        .layer(service_fn(|n: i64| async move { Ok::<_, BoxError>(n) }));
    let called = catch_unwind(AssertUnwindSafe(|| service.call(-1)));
    assert!(called.is_err());
    let s = pool.stats();
    assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
    assert_accounted(&s);
    let mut ok = Task::new(service.call(4));
    assert_eq!(ok.assert_ready().unwrap(), 4, "the service is still usable");
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.completed), (0, 0, 1), "{s:?}");
    assert_accounted(&s);
}

/// Catches: an overload classifier that panics losing the slot, or the call
/// counted as neither completed nor panicked.
#[test]
fn a_tower_overload_fn_that_panics_frees_the_slot_and_counts_a_panic() {
    quiet_planned_panics();
    let pool = fixed(1);
    let mut service = PooledLayer::pool(pool.clone())
        .overload(|_: &Result<u32, BoxError>| -> bool {
            panic!("planned: an overload function panics")
        })
        .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
    let mut ready = Task::new(futures::future::poll_fn(|cx| service.poll_ready(cx)));
    ready.assert_ready().unwrap();
    drop(ready);
    let mut response = Box::pin(service.call(1));
    let polled = catch_unwind(AssertUnwindSafe(|| response.as_mut().poll(&mut noop_cx())));
    assert!(polled.is_err());
    drop(response);
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.completed), (0, 0, 1), "{s:?}");
    assert_eq!(s.panicked, 1, "the call panicked while it held its slot");
    assert_accounted(&s);
    assert!(pool.try_acquire().is_ok(), "the slot is free");
}

/// An inner service whose readiness is controlled by the test.
#[derive(Clone)]
struct Switch(Arc<AtomicBool>);

impl Service<u32> for Switch {
    type Response = u32;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<u32, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.0.load(Ordering::SeqCst) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn call(&mut self, n: u32) -> Self::Future {
        let (hold, _open) = gate();
        Box::pin(async move {
            if n == 0 {
                hold.await; // never opened: a response that never comes
            }
            Ok(n)
        })
    }
}

/// Catches: a weighted response future dropped while admitting, while its
/// inner service is not ready (holding the slot), or while responding, that
/// keeps a node or a slot.
#[test]
fn a_weighted_response_future_dropped_at_each_stage_releases_everything() {
    let pool = priority(1);
    let ready = Arc::new(AtomicBool::new(false));
    let mut service = PooledLayer::pool(pool.clone())
        .weight(|n: &u32| i64::from(*n))
        .layer(Switch(ready.clone()));
    // Admitting: the pool is full.
    let held = pool.try_acquire().unwrap();
    let mut admitting = Task::new(service.call(1));
    admitting.assert_pending();
    assert_eq!(pool.stats().waiting, 1);
    drop(admitting);
    assert_eq!(pool.stats().waiting, 0, "admitting: left the queue");
    drop(held);
    // Readying: slot held, inner not ready.
    let mut readying = Task::new(service.call(1));
    readying.assert_pending();
    assert_eq!(pool.stats().running, 1, "holds its slot while readying");
    drop(readying);
    assert_eq!(pool.stats().running, 0, "readying: released");
    // Responding: the inner future never completes.
    ready.store(true, Ordering::SeqCst);
    let mut responding = Task::new(service.call(0));
    responding.assert_pending();
    assert_eq!(pool.stats().running, 1);
    drop(responding);
    let s = pool.stats();
    assert_eq!((s.running, s.waiting), (0, 0), "responding: released {s:?}");
    assert_accounted(&s);
    let mut ok = Task::new(service.call(7));
    assert_eq!(ok.assert_ready().unwrap(), 7);
}

/// Catches: a constant-weight service (or its `poll_ready`) dropped while
/// acquiring, holding a reservation, or after `call`, that keeps a slot.
#[test]
fn a_pooled_service_dropped_at_each_stage_releases_everything() {
    let pool = fixed(1);
    let ready = Arc::new(AtomicBool::new(true));
    let layer = PooledLayer::pool(pool.clone());
    // Acquiring.
    let held = pool.try_acquire().unwrap();
    let mut acquiring = layer.layer(Switch(ready.clone()));
    assert!(acquiring.poll_ready(&mut noop_cx()).is_pending());
    assert_eq!(pool.stats().waiting, 1);
    drop(acquiring);
    assert_eq!(pool.stats().waiting, 0, "acquiring: left the queue");
    drop(held);
    // Holding a reservation, inner not ready.
    ready.store(false, Ordering::SeqCst);
    let mut reserved = layer.layer(Switch(ready.clone()));
    assert!(reserved.poll_ready(&mut noop_cx()).is_pending());
    assert_eq!(pool.stats().running, 1);
    drop(reserved);
    assert_eq!(pool.stats().running, 0, "reserved: released");
    // Called, response pending; then the service and the future dropped.
    ready.store(true, Ordering::SeqCst);
    let mut called = layer.layer(Switch(ready.clone()));
    assert!(matches!(
        called.poll_ready(&mut noop_cx()),
        Poll::Ready(Ok(()))
    ));
    let mut response = Task::new(called.call(0));
    drop(called);
    response.assert_pending();
    assert_eq!(pool.stats().running, 1, "the response holds the slot");
    drop(response);
    let s = pool.stats();
    assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
    assert_accounted(&s);
}

// ---- streams ---------------------------------------------------------------

fn poll_stream<S: Stream + ?Sized>(s: Pin<&mut S>) -> Poll<Option<S::Item>> {
    s.poll_next(&mut noop_cx())
}

/// Catches: a stream weight function panicking mid-stream and leaving
/// its running and waiting calls uncounted or holding slots once the
/// adapter is dropped.
#[test]
fn a_stream_weight_fn_that_panics_loses_nothing() {
    quiet_planned_panics();
    let pool = priority(2);
    let mut pulled = 0;
    let work = futures::stream::iter(0..10).map(|_| gate().0);
    let mut stream = Box::pin(work.pooled_unordered_weighted(&pool, move |_: &_| {
        pulled += 1;
        if pulled == 4 {
            panic!("planned: a stream's weight function panics")
        }
        pulled
    }));
    let polled = catch_unwind(AssertUnwindSafe(|| poll_stream(stream.as_mut())));
    assert!(polled.is_err(), "the panic reaches the poller");
    drop(stream);
    let s = pool.stats();
    assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
    assert_accounted(&s);
    assert!(pool.try_acquire().is_ok());
}

/// Catches: an ordered stream dropped with calls running, waiting and
/// an outcome held back (behind a slower first item) keeping a slot or a
/// node, or the held-back call counted twice.
#[test]
fn an_ordered_stream_dropped_with_items_running_waiting_and_held_back() {
    type Work = Pin<Box<dyn Future<Output = ()> + Send>>;
    let pool = fixed(2);
    let items: Vec<Work> = (0..6)
        .map(|i| -> Work {
            if i == 1 {
                Box::pin(async {}) // finishes at once, held back behind item 0
            } else {
                Box::pin(gate().0) // never finishes
            }
        })
        .collect();
    let mut stream = Box::pin(futures::stream::iter(items).pooled_ordered(&pool));
    for _ in 0..4 {
        assert!(poll_stream(stream.as_mut()).is_pending());
    }
    let s = pool.stats();
    assert_eq!(
        (s.running, s.waiting, s.completed),
        (2, 1, 1),
        "items 0 and 2 running, 3 waiting, 1 held back: {s:?}"
    );
    drop(stream);
    let s = pool.stats();
    assert_eq!(
        (s.running, s.waiting, s.completed, s.cancelled),
        (0, 0, 1, 3),
        "{s:?}"
    );
    assert_accounted(&s);
}

/// Catches: a stream on a pool of size 0 that never starts once the pool
/// grows (a hang), or that runs more than the new size at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_on_a_pool_of_size_zero_runs_once_it_grows() {
    let pool = fixed(1);
    pool.resize(0);
    let gauge = Meter::default();
    let items = {
        let gauge = gauge.clone();
        futures::stream::iter(0..40).map(move |i| {
            let gauge = gauge.clone();
            async move {
                let inside = gauge.enter();
                tokio::task::yield_now().await;
                drop(inside);
                i
            }
        })
    };
    let mut stream = Box::pin(items.pooled_unordered(&pool));
    let early = tokio::time::timeout(Duration::from_millis(50), stream.next()).await;
    assert!(early.is_err(), "nothing runs on a pool of size 0");
    let grower = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            pool.resize(2);
        })
    };
    let out: Vec<_> = tokio::time::timeout(Duration::from_secs(60), stream.collect::<Vec<_>>())
        .await
        .expect("the stream starts once the pool grows");
    grower.join().unwrap();
    assert_eq!(out.len(), 40);
    assert!(out.iter().all(Result::is_ok));
    assert!(gauge.max() <= 2);
    let s = pool.stats();
    assert_eq!((s.completed, s.running, s.waiting), (40, 0, 0), "{s:?}");
    assert_accounted(&s);
}

/// Catches: overflow or misordering of the weighted stream forms at the
/// extremes of the weight range.
#[test]
fn weighted_streams_take_extreme_weights() {
    let pool = priority(3);
    // Three slots held: the adapter's bound (2 x size) takes all five items.
    let held: Vec<_> = (0..3).map(|_| pool.try_acquire().unwrap()).collect();
    let weights = [i64::MAX, 0, i64::MIN, i64::MAX, i64::MIN];
    let mut next = 0;
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let work = futures::stream::iter(0..5).map(|i| {
        let order = order.clone();
        async move {
            order.lock().unwrap().push(i);
            i
        }
    });
    let mut stream = Box::pin(work.pooled_ordered_weighted(&pool, move |_: &_| {
        next += 1;
        weights[next - 1]
    }));
    assert!(poll_stream(stream.as_mut()).is_pending());
    assert_eq!(pool.stats().waiting, 5);
    drop(held); // three slots: the two MIN items and the 0 item
    let out = futures::executor::block_on(stream.collect::<Vec<_>>());
    assert_eq!(out, [Ok(0), Ok(1), Ok(2), Ok(3), Ok(4)], "input order");
    let order = order.lock().unwrap().clone();
    let mut first = order[..3].to_vec();
    first.sort_unstable();
    assert_eq!(first, [1, 2, 4], "the MIN and 0 weights first: {order:?}");
    assert_eq!(order[3..], [0, 3], "the MAX weights last, FIFO: {order:?}");
    let s = pool.stats();
    assert_eq!((s.completed, s.running, s.waiting), (8, 0, 0), "{s:?}");
    assert_accounted(&s);
}

// ---- isolation -------------------------------------------------------------

/// Catches: dropping the outer of two nested isolations removing the
/// inner's entry, so calls go to the instance whose guard is gone while the
/// live guard's instance is bypassed.
#[test]
fn isolation_guards_dropped_out_of_order_serve_the_live_one() {
    static OUT_OF_ORDER: Group =
        Group::new(GroupSpec::new("tests::adversarial::out_of_order").size(1));
    let outer = OUT_OF_ORDER.isolate();
    let inner = OUT_OF_ORDER.isolate();
    let (outer_pool, inner_pool) = (outer.pool(), inner.pool());
    assert!(std::ptr::eq(OUT_OF_ORDER.pool(), inner_pool));
    drop(outer);
    assert!(
        std::ptr::eq(OUT_OF_ORDER.pool(), inner_pool),
        "the live guard's instance serves (not the dropped outer one: {})",
        std::ptr::eq(OUT_OF_ORDER.pool(), outer_pool)
    );
    drop(inner);
    assert!(!std::ptr::eq(OUT_OF_ORDER.pool(), inner_pool));
    assert!(!std::ptr::eq(OUT_OF_ORDER.pool(), outer_pool));
}

/// Catches: a guard dropped on another thread ending the wrong scope's
/// isolation, or none; and an out-of-order drop leaving an entry behind.
#[test]
fn isolation_guards_dropped_on_another_thread_and_out_of_order_end_cleanly() {
    static ELSEWHERE: Group = Group::new(GroupSpec::new("tests::adversarial::elsewhere").size(1));
    let guard = ELSEWHERE.isolate();
    let mine = guard.pool();
    mine.pause();
    assert_eq!(ELSEWHERE.run(|| 1), Err(Rejected::Paused));
    std::thread::spawn(move || drop(guard)).join().unwrap();
    assert!(!std::ptr::eq(ELSEWHERE.pool(), mine), "isolation ended");
    assert_eq!(ELSEWHERE.run(|| 2), Ok(2), "the shared pool is not paused");
    // Two guards dropped outer first: once both are gone nothing is left.
    let a = ELSEWHERE.isolate();
    let b = ELSEWHERE.isolate();
    let (pa, pb) = (a.pool(), b.pool());
    drop(a);
    drop(b);
    let shared = ELSEWHERE.pool();
    assert!(!std::ptr::eq(shared, pa) && !std::ptr::eq(shared, pb));
    assert_eq!(ELSEWHERE.run(|| 3), Ok(3));
}
