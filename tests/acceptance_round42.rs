//! Acceptance round 42: README "## In code" (the first example and the table
//! after it), "## The attribute" and "## Fitting the stack" (tower, stream,
//! rayon), tested from outside: concurrency counted with a `Meter` around
//! each body, exact admission orders (FIFO, LIFO, priority; submits, permits
//! and spawns), exact stats and rejection variants, handles of attribute
//! pools and groups, `pooled::groups()`, the tower layer's `poll_ready`
//! reservation, reject mode, held bodies and nested calls, the stream
//! adapters' bound of `max(1, 2 x size)` pulled items, and anything that
//! could hang under a watchdog.
//!
//! Broken promises found: none. Every test here passes (53 with all
//! features, 39 with the default ones); none is ignored.

mod common;

use common::{multi_thread, within, Meter};
use pooled::{Kind, Order, Pool, Rejected};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WATCHDOG: Duration = Duration::from_secs(20);

/// Yields on the current task until `cond` holds (bounded).
async fn until(mut cond: impl FnMut() -> bool) {
    for _ in 0..2_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("condition never held");
}

/// Queues one recorded call per `(id, weight)` behind a held slot of a size-1
/// pool and returns the ids in the order they were admitted.
fn admission_order(order: Order, calls: &[(usize, i64)]) -> Vec<usize> {
    let calls = calls.to_vec();
    within(WATCHDOG, move || {
        let rt = multi_thread();
        rt.block_on(async move {
            let pool = Pool::builder().order(order).size(1).build().unwrap();
            let held = pool.acquire_owned(0).await.unwrap();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let mut tasks = Vec::new();
            for (n, &(id, weight)) in calls.iter().enumerate() {
                let (p, s) = (pool.clone(), seen.clone());
                tasks.push(tokio::spawn(async move {
                    p.submit_weighted(weight, async move { s.lock().unwrap().push(id) })
                        .await
                        .unwrap()
                }));
                let p = pool.clone();
                until(|| p.stats().waiting == n + 1).await;
            }
            drop(held);
            for t in tasks {
                t.await.unwrap();
            }
            let out = seen.lock().unwrap().clone();
            out
        })
    })
}

// ---------------------------------------------------------------- In code

#[test]
fn readme_builder_autoscale_priority_limits_running_calls_to_its_size() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let pool = Pool::builder()
                .kind(Kind::Autoscale)
                .order(Order::Priority)
                .min(2)
                .max(8)
                .max_waiting(10_000)
                .admission_timeout(Duration::from_secs(2))
                .build()
                .unwrap();
            assert_eq!(
                (pool.kind(), pool.order()),
                (Kind::Autoscale, Order::Priority)
            );
            assert_eq!(pool.bounds(), (2, 8));
            let size = pool.size();
            assert!((2..=8).contains(&size), "size {size}");
            let meter = Arc::new(Meter::new());
            let mut tasks = Vec::new();
            for i in 0..20 {
                let (p, m) = (pool.clone(), meter.clone());
                tasks.push(tokio::spawn(async move {
                    p.submit_weighted(i % 3, async move {
                        let _in = m.enter();
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    })
                    .await
                }));
            }
            for t in tasks {
                assert_eq!(t.await.unwrap(), Ok(()));
            }
            assert!(meter.peak() <= size, "peak {} > size {size}", meter.peak());
            assert_eq!(meter.done(), 20);
            assert_eq!(pool.stats().completed, 20);
        })
    });
}

#[test]
fn priority_admits_smaller_weights_first_and_fifo_among_equals() {
    let order = admission_order(
        Order::Priority,
        &[(0, 5), (1, 1), (2, 5), (3, 0), (4, 1), (5, -3)],
    );
    assert_eq!(order, [5, 3, 1, 4, 0, 2]);
}

#[test]
fn lifo_admits_the_newest_waiting_call_first() {
    let order = admission_order(Order::Lifo, &[(0, 0), (1, 0), (2, 0), (3, 0)]);
    assert_eq!(order, [3, 2, 1, 0]);
}

#[test]
fn fifo_ignores_weights_and_admits_in_arrival_order() {
    let order = admission_order(Order::Fifo, &[(0, 9), (1, 0), (2, 5), (3, -1)]);
    assert_eq!(order, [0, 1, 2, 3]);
}

#[test]
fn max_waiting_turns_away_with_full_past_the_bound_and_counts_it() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let pool = Pool::builder().size(1).max_waiting(2).build().unwrap();
            let held = pool.acquire_owned(0).await.unwrap();
            let mut tasks = Vec::new();
            for n in 0..2 {
                let p = pool.clone();
                tasks.push(tokio::spawn(async move { p.submit(async { 7 }).await }));
                let p = pool.clone();
                until(|| p.stats().waiting == n + 1).await;
            }
            let started = Instant::now();
            assert_eq!(pool.submit(async { 0 }).await, Err(Rejected::Full));
            assert!(started.elapsed() < Duration::from_secs(1), "not at once");
            assert_eq!(pool.stats().rejected_for(Rejected::Full), 1);
            drop(held);
            for t in tasks {
                assert_eq!(t.await.unwrap(), Ok(7));
            }
            let s = pool.stats();
            assert_eq!((s.completed, s.rejected_total(), s.waiting), (3, 1, 0));
        })
    });
}

#[test]
fn admission_timeout_turns_away_with_timed_out_and_counts_it() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let pool = Pool::builder()
                .size(1)
                .admission_timeout(Duration::from_millis(100))
                .build()
                .unwrap();
            let _held = pool.acquire_owned(0).await.unwrap();
            let started = Instant::now();
            assert_eq!(pool.submit(async { 1 }).await, Err(Rejected::TimedOut));
            let waited = started.elapsed();
            assert!(waited >= Duration::from_millis(90), "{waited:?}");
            assert!(waited < Duration::from_secs(2), "{waited:?}");
            let s = pool.stats();
            assert_eq!((s.rejected_for(Rejected::TimedOut), s.waiting), (1, 0));
        })
    });
}

#[test]
fn run_parks_a_sync_caller_until_a_slot_frees() {
    within(WATCHDOG, || {
        let pool = Pool::builder().size(1).build().unwrap();
        let held = pool.try_acquire_owned(0).unwrap();
        let p = pool.clone();
        let caller = std::thread::spawn(move || p.run(|| 41 + 1));
        let t0 = Instant::now();
        while pool.stats().waiting != 1 {
            assert!(t0.elapsed() < Duration::from_secs(5), "never waited");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(30));
        assert!(!caller.is_finished(), "ran without a slot");
        drop(held);
        assert_eq!(caller.join().unwrap(), Ok(42));
        assert_eq!(pool.stats().completed, 2);
    });
}

#[test]
fn submit_blocking_runs_off_the_callers_thread_and_holds_its_slot() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let pool = Pool::builder().size(2).build().unwrap();
            let meter = Arc::new(Meter::new());
            let mut tasks = Vec::new();
            for _ in 0..6 {
                let (p, m) = (pool.clone(), meter.clone());
                tasks.push(tokio::spawn(async move {
                    let caller = std::thread::current().id();
                    p.submit_blocking(move || {
                        let _in = m.enter();
                        std::thread::sleep(Duration::from_millis(30));
                        std::thread::current().id() != caller
                    })
                    .await
                }));
            }
            for t in tasks {
                assert_eq!(t.await.unwrap(), Ok(true));
            }
            assert_eq!(meter.peak(), 2);
            assert_eq!(pool.stats().completed, 6);
        })
    });
}

#[test]
fn spawn_takes_its_queue_place_at_once() {
    within(WATCHDOG, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let pool = Pool::builder().size(1).build().unwrap();
                let held = pool.acquire_owned(0).await.unwrap();
                let seen = Arc::new(Mutex::new(Vec::new()));
                let s = seen.clone();
                let handle = pool
                    .spawn(async move { s.lock().unwrap().push("spawned") })
                    .unwrap();
                // No yield yet: the spawned task has not run, its place is taken.
                assert_eq!(pool.stats().waiting, 1);
                let s = seen.clone();
                let later = pool.submit(async move { s.lock().unwrap().push("submitted") });
                drop(held);
                assert_eq!(later.await, Ok(()));
                assert_eq!(handle.await, Ok(()));
                assert_eq!(*seen.lock().unwrap(), ["spawned", "submitted"]);
            })
    });
}

#[test]
fn an_owned_permit_moves_into_a_spawned_task_and_frees_its_slot_on_drop() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let pool = Pool::builder().size(1).build().unwrap();
            let permit = pool.acquire_owned(0).await.unwrap();
            assert_eq!(pool.stats().running, 1);
            let task = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                drop(permit);
            });
            assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
            task.await.unwrap();
            assert_eq!(pool.stats().running, 0);
            let again = pool.try_acquire().unwrap();
            drop(again);
            let s = pool.stats();
            assert_eq!((s.running, s.completed), (0, 2));
            assert_eq!(s.rejected_for(Rejected::Full), 1);
        })
    });
}

#[test]
fn scale_is_a_delta_and_resize_sets_both_clamped() {
    let auto = Pool::builder()
        .kind(Kind::Autoscale)
        .min(2)
        .max(8)
        .build()
        .unwrap();
    auto.resize(2);
    assert_eq!(auto.scale(4), 6);
    assert_eq!(auto.scale(4), 8);
    assert_eq!(auto.scale(-100), 2);
    assert_eq!(auto.resize(5), 5);
    assert_eq!(auto.resize(0), 2);
    assert_eq!(auto.resize(99), 8);
    let fixed = Pool::builder().size(3).build().unwrap();
    assert_eq!(fixed.scale(4), 7);
    assert_eq!(fixed.scale(-100), 0);
    assert_eq!(fixed.resize(usize::MAX), pooled::MAX_SLOTS);
    assert_eq!(fixed.stats().size, pooled::MAX_SLOTS);
}

#[test]
fn pause_rejects_new_calls_while_queued_and_running_ones_go_on() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let pool = Pool::builder().size(1).build().unwrap();
            let (p, running) = (pool.clone(), Arc::new(AtomicUsize::new(0)));
            let r = running.clone();
            let first = tokio::spawn(async move {
                p.submit(async move {
                    r.store(1, SeqCst);
                    tokio::time::sleep(Duration::from_millis(60)).await;
                    "first"
                })
                .await
            });
            until(|| running.load(SeqCst) == 1).await;
            let p = pool.clone();
            let queued = tokio::spawn(async move { p.submit(async { "queued" }).await });
            until(|| pool.stats().waiting == 1).await;
            pool.pause();
            assert!(pool.is_paused() && pool.stats().paused);
            assert_eq!(pool.submit(async { "new" }).await, Err(Rejected::Paused));
            assert_eq!(pool.run(|| "sync").err(), Some(Rejected::Paused));
            assert_eq!(first.await.unwrap(), Ok("first"));
            assert_eq!(queued.await.unwrap(), Ok("queued"));
            let s = pool.stats();
            assert_eq!((s.completed, s.rejected_for(Rejected::Paused)), (2, 2));
            pool.resume();
            assert_eq!(pool.submit(async { "after" }).await, Ok("after"));
        })
    });
}

#[test]
fn stats_count_completed_panicked_cancelled_and_add_up() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let pool = Pool::builder().size(1).build().unwrap();
            assert_eq!(pool.run(|| 1), Ok(1));
            let p = pool.clone();
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                p.run(|| panic!("boom"))
            }));
            assert!(panicked.is_err());
            // The panicking call gave its slot back.
            let held = pool.acquire_owned(0).await.unwrap();
            let p = pool.clone();
            let waiter = tokio::spawn(async move { p.submit(async {}).await });
            until(|| pool.stats().waiting == 1).await;
            waiter.abort();
            let _ = waiter.await;
            drop(held);
            let s = pool.stats();
            assert_eq!(
                (s.completed, s.panicked, s.cancelled, s.waiting, s.running),
                (3, 1, 1, 0, 0)
            );
            assert_eq!(
                s.submitted(),
                s.completed + s.rejected_total() + s.cancelled + s.in_flight()
            );
        })
    });
}

#[test]
fn shutdown_closes_drains_then_turns_away_the_waiting_ones() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let pool = Pool::builder().size(1).build().unwrap();
            let p = pool.clone();
            let running = tokio::spawn(async move {
                p.submit(tokio::time::sleep(Duration::from_millis(400)))
                    .await
            });
            until(|| pool.stats().running == 1).await;
            let p = pool.clone();
            let waiting = tokio::spawn(async move { p.submit(async { 1 }).await });
            until(|| pool.stats().waiting == 1).await;
            let started = Instant::now();
            assert!(pool
                .shutdown(Some(Duration::from_millis(100)))
                .await
                .is_err());
            assert!(started.elapsed() < Duration::from_millis(380));
            assert!(pool.is_closed());
            assert_eq!(waiting.await.unwrap(), Err(Rejected::Closed));
            assert_eq!(pool.submit(async { 2 }).await, Err(Rejected::Closed));
            // The running call is never interrupted.
            assert_eq!(running.await.unwrap(), Ok(()));
            pool.drained().await;

            let quick = Pool::builder().size(2).build().unwrap();
            let q = quick.clone();
            let job = tokio::spawn(async move {
                q.submit(tokio::time::sleep(Duration::from_millis(30)))
                    .await
            });
            until(|| quick.stats().running == 1).await;
            assert_eq!(quick.shutdown(Some(Duration::from_secs(5))).await, Ok(()));
            assert_eq!(job.await.unwrap(), Ok(()));
            assert_eq!(quick.stats().completed, 1);
        })
    });
}

#[test]
fn builder_defaults_fixed_fifo_of_three_and_autoscale_three_to_eight() {
    let pool = Pool::builder().build().unwrap();
    assert_eq!(
        (pool.kind(), pool.order(), pool.size()),
        (Kind::Fixed, Order::Fifo, 3)
    );
    let auto = Pool::builder().kind(Kind::Autoscale).build().unwrap();
    assert_eq!(auto.bounds(), (3, 8));
    let timing = pooled::AutoscaleTiming::default();
    assert_eq!(
        (timing.interval, timing.window),
        (Duration::from_secs(10), 20)
    );
}

#[test]
fn scoped_closes_and_drains_at_the_end() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let pool = Pool::builder().size(2).build().unwrap();
            let outside = pool.clone();
            let meter = Arc::new(Meter::new());
            let m = meter.clone();
            let out = pool
                .scoped(|p| async move {
                    for _ in 0..4 {
                        let m = m.clone();
                        p.spawn(async move {
                            let _in = m.enter();
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        })
                        .unwrap();
                    }
                    "body"
                })
                .await;
            assert_eq!(out, "body");
            assert_eq!(meter.done(), 4, "not drained");
            assert!(meter.peak() <= 2);
            assert!(outside.is_closed());
            assert_eq!(outside.submit(async {}).await, Err(Rejected::Closed));
        })
    });
}

// ---------------------------------------------------------- The attribute

/// A function's own error, made from a rejection.
#[derive(Debug, PartialEq)]
pub struct AccErr(Rejected);
impl From<Rejected> for AccErr {
    fn from(r: Rejected) -> Self {
        AccErr(r)
    }
}

/// A shared priority group.
#[pooled::group(order = "priority", size = 1)]
pub struct Acc42Upstream;

static UPSTREAM_SEEN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
static UPSTREAM_METER: Meter = Meter::new();

#[pooled::pooled(group = Acc42Upstream, weight = 0)]
async fn acc42_charge(id: &'static str) -> Result<(), AccErr> {
    let _in = UPSTREAM_METER.enter();
    UPSTREAM_SEEN.lock().unwrap().push(id);
    tokio::time::sleep(Duration::from_millis(2)).await;
    Ok(())
}

#[pooled::pooled(group = Acc42Upstream, weight = 10)]
async fn acc42_sync_ledger(id: &'static str) -> Result<(), AccErr> {
    let _in = UPSTREAM_METER.enter();
    UPSTREAM_SEEN.lock().unwrap().push(id);
    tokio::time::sleep(Duration::from_millis(2)).await;
    Ok(())
}

#[test]
fn a_shared_group_ranks_urgent_calls_first_and_shares_one_limit() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let pool = Acc42Upstream::POOL.pool();
            let held = pool.acquire_owned(0).await.unwrap();
            let calls: [(&'static str, bool); 5] = [
                ("b0", false),
                ("b1", false),
                ("u2", true),
                ("b3", false),
                ("u4", true),
            ];
            let mut tasks = Vec::new();
            for (n, (id, urgent)) in calls.into_iter().enumerate() {
                tasks.push(tokio::spawn(async move {
                    if urgent {
                        acc42_charge(id).await
                    } else {
                        acc42_sync_ledger(id).await
                    }
                }));
                until(|| pool.stats().waiting == n + 1).await;
            }
            drop(held);
            for t in tasks {
                assert_eq!(t.await.unwrap(), Ok(()));
            }
            assert_eq!(
                *UPSTREAM_SEEN.lock().unwrap(),
                ["u2", "u4", "b0", "b1", "b3"]
            );
            assert_eq!(UPSTREAM_METER.peak(), 1);
            // The handle reaches both functions' pool.
            Acc42Upstream::POOL.pause();
            assert_eq!(acc42_charge("p").await, Err(AccErr(Rejected::Paused)));
            assert_eq!(acc42_sync_ledger("p").await, Err(AccErr(Rejected::Paused)));
            Acc42Upstream::POOL.resume();
            let s = Acc42Upstream::POOL.stats();
            assert_eq!((s.completed, s.rejected_for(Rejected::Paused)), (6, 2));
        })
    });
}

static CHECKSUM_METER: Meter = Meter::new();

#[pooled::pooled(size = 4)]
fn acc42_checksum(data: &[u8]) -> u64 {
    let _in = CHECKSUM_METER.enter();
    std::thread::sleep(Duration::from_millis(40));
    data.iter().map(|&b| u64::from(b)).sum()
}

#[test]
fn a_sync_function_stays_sync_and_its_callers_park_within_its_size() {
    within(WATCHDOG, || {
        let threads: Vec<_> = (0..10u8)
            .map(|i| std::thread::spawn(move || acc42_checksum(&[i, 1])))
            .collect();
        let sums: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(sums, (0..10u64).map(|i| i + 1).collect::<Vec<_>>());
        assert_eq!(CHECKSUM_METER.peak(), 4);
        assert_eq!(ACC42_CHECKSUM_POOL.size(), 4);
        assert_eq!(ACC42_CHECKSUM_POOL.stats().completed, 10);
    });
}

#[pooled::pooled(size = 1)]
fn acc42_io() -> std::io::Result<u8> {
    Ok(3)
}

#[pooled::pooled(size = 1)]
async fn acc42_boxed() -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
    Ok(4)
}

#[pooled::pooled(size = 1)]
async fn acc42_own_error() -> Result<u8, AccErr> {
    Ok(5)
}

#[test]
fn rejections_return_through_the_functions_own_result() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            ACC42_IO_POOL.pause();
            ACC42_BOXED_POOL.pause();
            ACC42_OWN_ERROR_POOL.pause();
            assert!(acc42_io().is_err());
            assert!(acc42_boxed().await.is_err());
            assert_eq!(acc42_own_error().await, Err(AccErr(Rejected::Paused)));
            ACC42_IO_POOL.resume();
            ACC42_BOXED_POOL.resume();
            ACC42_OWN_ERROR_POOL.resume();
            assert_eq!(acc42_io().unwrap(), 3);
            assert_eq!(acc42_boxed().await.unwrap(), 4);
            assert_eq!(acc42_own_error().await, Ok(5));
        })
    });
}

#[pooled::pooled(size = 1)]
async fn acc42_infallible(n: u32) -> u32 {
    n * 2
}

#[test]
fn a_function_that_cannot_return_an_error_waits_out_a_pause() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            ACC42_INFALLIBLE_POOL.pause();
            let call = tokio::spawn(acc42_infallible(21));
            tokio::time::sleep(Duration::from_millis(80)).await;
            assert!(!call.is_finished(), "ran while paused");
            ACC42_INFALLIBLE_POOL.resume();
            assert_eq!(call.await.unwrap(), 42);
            assert_eq!(ACC42_INFALLIBLE_POOL.stats().rejected_total(), 0);
        })
    });
}

static PREFETCH_BUILT: AtomicUsize = AtomicUsize::new(0);
static PREFETCH_RUNNING_SEEN: AtomicUsize = AtomicUsize::new(usize::MAX);

#[pooled::pooled(size = 1)]
fn acc42_prefetch(id: u64) -> impl std::future::Future<Output = u64> + Send {
    PREFETCH_BUILT.fetch_add(1, SeqCst);
    async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        PREFETCH_RUNNING_SEEN.store(ACC42_PREFETCH_POOL.stats().running, SeqCst);
        id + 1
    }
}

#[test]
fn a_sync_fn_returning_a_future_builds_it_without_a_slot_and_holds_one_until_done() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let held = ACC42_PREFETCH_POOL.pool().acquire_owned(0).await.unwrap();
            let fut = acc42_prefetch(7);
            assert_eq!(PREFETCH_BUILT.load(SeqCst), 1, "built without a slot");
            let task = tokio::spawn(fut);
            until(|| ACC42_PREFETCH_POOL.stats().waiting == 1).await;
            drop(held);
            assert_eq!(task.await.unwrap(), 8);
            // Still holding its slot after the built future's await point.
            assert_eq!(PREFETCH_RUNNING_SEEN.load(SeqCst), 1);
            assert_eq!(ACC42_PREFETCH_POOL.stats().running, 0);
        })
    });
}

#[async_trait::async_trait]
trait Acc42Store {
    async fn load(&self, key: u32) -> u32;
}

struct Acc42Db;

/// The store's group.
#[pooled::group(size = 1)]
pub struct Acc42StoreGroup;

static STORE_METER: Meter = Meter::new();

#[async_trait::async_trait]
impl Acc42Store for Acc42Db {
    #[pooled::pooled(group = Acc42StoreGroup)]
    async fn load(&self, key: u32) -> u32 {
        let _in = STORE_METER.enter();
        tokio::time::sleep(Duration::from_millis(15)).await;
        key
    }
}

#[test]
fn an_async_trait_method_holds_its_slot_until_the_boxed_future_completes() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let db = Arc::new(Acc42Db);
            let tasks: Vec<_> = (0..4)
                .map(|k| {
                    let db = db.clone();
                    tokio::spawn(async move { db.load(k).await })
                })
                .collect();
            for (k, t) in tasks.into_iter().enumerate() {
                assert_eq!(t.await.unwrap(), k as u32);
            }
            assert_eq!(STORE_METER.peak(), 1);
            assert_eq!(Acc42StoreGroup::POOL.stats().completed, 4);
        })
    });
}

#[pooled::pooled(size = 1)]
fn acc42_ct_sync() -> u8 {
    1
}

#[test]
fn a_sync_call_that_must_wait_on_a_current_thread_runtime_panics_naming_the_fix() {
    let outcome = within(WATCHDOG, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let _held = ACC42_CT_SYNC_POOL.pool().acquire_owned(0).await.unwrap();
            std::panic::catch_unwind(acc42_ct_sync)
        })
    });
    let payload = outcome.expect_err("must panic instead of hanging");
    let text = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        text.contains("async") || text.contains("blocking"),
        "panic does not name the fix: {text:?}"
    );
}

static PARKED_METER: Meter = Meter::new();

#[pooled::pooled(size = 1)]
fn acc42_parked() -> u8 {
    let _in = PARKED_METER.enter();
    2
}

#[test]
fn sync_calls_parking_every_worker_hand_their_tasks_off() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let held = ACC42_PARKED_POOL.pool().acquire_owned(0).await.unwrap();
            // The holder releases from a task that needs a worker to run.
            let release = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                drop(held);
            });
            let callers: Vec<_> = (0..3)
                .map(|_| tokio::spawn(async { acc42_parked() }))
                .collect();
            for c in callers {
                assert_eq!(c.await.unwrap(), 2);
            }
            release.await.unwrap();
            assert_eq!(PARKED_METER.peak(), 1);
        })
    });
}

#[pooled::pooled(size = 2)]
async fn acc42_listed() {}

/// Never called: its group must not start.
#[allow(dead_code)]
#[pooled::pooled(size = 2)]
async fn acc42_never_called() {}

#[test]
fn an_attribute_pool_starts_lazily() {
    let info = pooled::groups()
        .into_iter()
        .find(|g| g.name.ends_with("acc42_never_called"))
        .expect("listed before its first call");
    assert_eq!(info.stats, None, "started without a call");
}

#[test]
fn groups_lists_an_attribute_group_with_its_settings_and_stats() {
    let find = || {
        pooled::groups()
            .into_iter()
            .find(|g| g.name.ends_with("acc42_listed"))
            .expect("listed")
    };
    let before = find();
    assert_eq!(before.settings.size, Some(2));
    futures::executor::block_on(acc42_listed());
    let after = find();
    assert_eq!(after.stats.map(|s| (s.size, s.completed)), Some((2, 1)));
    let names: Vec<_> = pooled::groups().into_iter().map(|g| g.name).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sorted by name");
}

#[test]
fn permits_queue_in_the_same_priority_order_as_submits() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let pool = Pool::builder()
                .order(Order::Priority)
                .size(1)
                .build()
                .unwrap();
            let held = pool.acquire_owned(0).await.unwrap();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let mut tasks = Vec::new();
            for (n, (id, weight, permit)) in
                [(0, 5, true), (1, 2, false), (2, 1, true), (3, 2, true)]
                    .into_iter()
                    .enumerate()
            {
                let (p, s) = (pool.clone(), seen.clone());
                tasks.push(tokio::spawn(async move {
                    if permit {
                        let guard = p.acquire_owned(weight).await.unwrap();
                        s.lock().unwrap().push(id);
                        drop(guard);
                    } else {
                        p.submit_weighted(weight, async { s.lock().unwrap().push(id) })
                            .await
                            .unwrap();
                    }
                }));
                until(|| pool.stats().waiting == n + 1).await;
            }
            drop(held);
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(*seen.lock().unwrap(), [2, 1, 3, 0]);
            let s = pool.stats();
            assert_eq!((s.completed, s.running, s.waiting), (5, 0, 0));
            pool.pause();
            assert_eq!(pool.acquire().await.err(), Some(Rejected::Paused));
            assert_eq!(pool.try_acquire().err(), Some(Rejected::Paused));
            assert_eq!(pool.stats().rejected_for(Rejected::Paused), 2);
        })
    });
}

#[test]
fn scoped_closes_without_waiting_when_its_body_panics_or_it_is_dropped() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let pool = Pool::builder().size(1).build().unwrap();
            let outside = pool.clone();
            let scope = tokio::spawn(pool.scoped(|p| async move {
                p.spawn(tokio::time::sleep(Duration::from_secs(30)))
                    .unwrap();
                tokio::task::yield_now().await;
                panic!("body panics");
            }));
            let started = Instant::now();
            assert!(scope.await.unwrap_err().is_panic());
            assert!(started.elapsed() < Duration::from_secs(10), "waited");
            assert!(outside.is_closed());

            let pool = Pool::builder().size(1).build().unwrap();
            let outside = pool.clone();
            let scope = pool.scoped(|_p| std::future::pending::<()>());
            let scope = tokio::time::timeout(Duration::from_millis(20), scope).await;
            assert!(scope.is_err());
            assert!(outside.is_closed(), "a dropped scope closes the pool");
        })
    });
}

#[test]
fn sync_callers_meet_the_same_bound_timeout_and_pause_as_submits() {
    within(WATCHDOG, || {
        let pool = Pool::builder()
            .size(1)
            .max_waiting(1)
            .admission_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let held = pool.try_acquire_owned(0).unwrap();
        let p = pool.clone();
        let queued = std::thread::spawn(move || p.run(|| "queued"));
        let t0 = Instant::now();
        while pool.stats().waiting != 1 {
            assert!(t0.elapsed() < Duration::from_secs(5), "never waited");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(pool.run(|| "over").err(), Some(Rejected::Full));
        pool.pause();
        assert_eq!(pool.run(|| "paused").err(), Some(Rejected::Paused));
        // The queued sync caller goes on through the pause.
        drop(held);
        assert_eq!(queued.join().unwrap(), Ok("queued"));
        pool.resume();
        let held = pool.try_acquire_owned(0).unwrap();
        let started = Instant::now();
        assert_eq!(pool.run(|| "late").err(), Some(Rejected::TimedOut));
        assert!(started.elapsed() >= Duration::from_millis(250));
        drop(held);
        let s = pool.stats();
        assert_eq!(
            (
                s.rejected_for(Rejected::Full),
                s.rejected_for(Rejected::Paused),
                s.rejected_for(Rejected::TimedOut),
                s.completed
            ),
            (1, 1, 1, 3)
        );
    });
}

#[test]
fn growing_the_pool_admits_waiting_calls_at_once() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let pool = Pool::builder().size(1).build().unwrap();
            let held = pool.acquire_owned(0).await.unwrap();
            let meter = Arc::new(Meter::new());
            let gate = Arc::new(tokio::sync::Notify::new());
            let mut tasks = Vec::new();
            for n in 0..3 {
                let (p, m, g) = (pool.clone(), meter.clone(), gate.clone());
                tasks.push(tokio::spawn(async move {
                    p.submit(async move {
                        let _in = m.enter();
                        g.notified().await;
                    })
                    .await
                }));
                until(|| pool.stats().waiting == n + 1).await;
            }
            assert_eq!(pool.scale(2), 3);
            until(|| meter.now() == 2).await;
            let s = pool.stats();
            assert_eq!((s.size, s.running, s.waiting), (3, 3, 1));
            drop(held);
            until(|| meter.now() == 3).await;
            gate.notify_waiters();
            for t in tasks {
                assert_eq!(t.await.unwrap(), Ok(()));
            }
            assert_eq!(meter.peak(), 3);
        })
    });
}

#[test]
fn shutdown_counts_its_turned_away_calls_as_closed() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let pool = Pool::builder().size(1).build().unwrap();
            let held = pool.acquire_owned(0).await.unwrap();
            let p = pool.clone();
            let waiting = tokio::spawn(async move { p.submit(async {}).await });
            until(|| pool.stats().waiting == 1).await;
            assert!(pool
                .shutdown(Some(Duration::from_millis(50)))
                .await
                .is_err());
            assert_eq!(waiting.await.unwrap(), Err(Rejected::Closed));
            assert_eq!(pool.try_acquire().err(), Some(Rejected::Closed));
            drop(held);
            pool.drained().await;
            let s = pool.stats();
            assert_eq!(s.rejected_for(Rejected::Closed), 2);
            assert_eq!(
                s.submitted(),
                s.completed + s.rejected_total() + s.cancelled + s.in_flight()
            );
        })
    });
}

/// The README's own group shape: autoscale, priority, 2..=16.
#[pooled::group(kind = "autoscale", order = "priority", min = 2, max = 16)]
pub struct Acc42ReadmeUpstream;

#[pooled::pooled(group = Acc42ReadmeUpstream, weight = 0)]
async fn acc42_readme_charge() -> Result<u8, AccErr> {
    Ok(1)
}

#[test]
fn the_readme_groups_handle_scales_within_its_bounds_and_pauses() {
    let before = Acc42ReadmeUpstream::POOL.size();
    assert!((2..=16).contains(&before));
    assert_eq!(Acc42ReadmeUpstream::POOL.scale(2), (before + 2).min(16));
    assert_eq!(Acc42ReadmeUpstream::POOL.scale(100), 16);
    assert_eq!(Acc42ReadmeUpstream::POOL.resize(1), 2);
    assert_eq!(Acc42ReadmeUpstream::POOL.stats().size, 2);
    Acc42ReadmeUpstream::POOL.pause();
    assert!(Acc42ReadmeUpstream::POOL.is_paused());
    assert_eq!(
        futures::executor::block_on(acc42_readme_charge()),
        Err(AccErr(Rejected::Paused))
    );
    Acc42ReadmeUpstream::POOL.resume();
    assert_eq!(futures::executor::block_on(acc42_readme_charge()), Ok(1));
}

static BLOCKING_METER: Meter = Meter::new();

#[pooled::pooled(blocking, size = 2)]
fn acc42_blocking(caller: std::thread::ThreadId) -> bool {
    let _in = BLOCKING_METER.enter();
    std::thread::sleep(Duration::from_millis(30));
    std::thread::current().id() != caller
}

#[test]
fn a_blocking_function_becomes_async_and_runs_off_its_callers_thread_within_its_size() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let tasks: Vec<_> = (0..6)
                .map(|_| tokio::spawn(async { acc42_blocking(std::thread::current().id()).await }))
                .collect();
            for t in tasks {
                assert!(t.await.unwrap());
            }
            assert_eq!(BLOCKING_METER.peak(), 2);
            assert_eq!(ACC42_BLOCKING_POOL.stats().completed, 6);
        })
    });
}

#[pooled::pooled(size = 1)]
fn acc42_ct_free() -> u8 {
    9
}

#[test]
fn a_sync_call_that_need_not_wait_runs_on_a_current_thread_runtime() {
    let out = within(WATCHDOG, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async { (acc42_ct_free(), acc42_ct_free()) })
    });
    assert_eq!(out, (9, 9));
}

/// A group with a bound and a timeout, shared by never-rejecting functions.
#[pooled::group(size = 1, max_waiting = 1, admission_timeout = "50ms")]
pub struct Acc42Patient;

#[pooled::pooled(group = Acc42Patient)]
async fn acc42_patient(n: u8) -> u8 {
    n
}

#[pooled::pooled(group = Acc42Patient)]
fn acc42_patient_sync(n: u8) -> u8 {
    n
}

#[pooled::pooled(group = Acc42Patient)]
async fn acc42_impatient() -> Result<u8, AccErr> {
    Ok(0)
}

#[test]
fn functions_that_cannot_return_an_error_wait_past_the_bound_and_the_timeout() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let pool = Acc42Patient::POOL.pool();
            let held = pool.acquire_owned(0).await.unwrap();
            let calls: Vec<_> = (0..3).map(|n| tokio::spawn(acc42_patient(n))).collect();
            let threads: Vec<_> = (3..5)
                .map(|n| std::thread::spawn(move || acc42_patient_sync(n)))
                .collect();
            until(|| pool.stats().waiting == 5).await;
            // A call that can return an error is turned away meanwhile.
            assert_eq!(acc42_impatient().await, Err(AccErr(Rejected::Full)));
            tokio::time::sleep(Duration::from_millis(150)).await;
            assert!(calls.iter().all(|c| !c.is_finished()));
            assert!(threads.iter().all(|t| !t.is_finished()));
            drop(held);
            for (n, c) in calls.into_iter().enumerate() {
                assert_eq!(c.await.unwrap(), n as u8);
            }
            for (n, t) in threads.into_iter().enumerate() {
                assert_eq!(t.join().unwrap(), n as u8 + 3);
            }
            let s = pool.stats();
            assert_eq!((s.rejected_total(), s.rejected_for(Rejected::Full)), (1, 1));
            assert_eq!(s.completed, 6);
        })
    });
}

#[test]
fn spawn_returns_known_rejections_at_once_and_later_ones_through_its_handle() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let pool = Pool::builder()
                .size(1)
                .max_waiting(1)
                .admission_timeout(Duration::from_millis(100))
                .build()
                .unwrap();
            let held = pool.acquire_owned(0).await.unwrap();
            let late = pool.spawn(async { 1 }).unwrap();
            assert_eq!(pool.spawn(async { 2 }).err(), Some(Rejected::Full));
            assert_eq!(late.await, Err(Rejected::TimedOut));
            pool.pause();
            assert_eq!(pool.spawn(async { 3 }).err(), Some(Rejected::Paused));
            pool.resume();
            drop(held);
            let boom = pool.spawn(async { panic!("spawned panic") }).unwrap();
            let reraised = tokio::spawn(boom).await;
            assert!(reraised.unwrap_err().is_panic(), "re-raised when awaited");
            let s = pool.stats();
            assert_eq!(
                (
                    s.rejected_for(Rejected::Full),
                    s.rejected_for(Rejected::TimedOut),
                    s.rejected_for(Rejected::Paused),
                    s.panicked
                ),
                (1, 1, 1, 1)
            );
        })
    });
}

#[test]
fn a_freed_slot_goes_to_the_waiting_call_not_to_a_try_acquire() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let pool = Pool::builder().size(1).build().unwrap();
            let held = pool.acquire_owned(0).await.unwrap();
            let gate = Arc::new(tokio::sync::Notify::new());
            let (p, g) = (pool.clone(), gate.clone());
            let waiter = tokio::spawn(async move { p.submit(g.notified()).await });
            until(|| pool.stats().waiting == 1).await;
            drop(held);
            // The slot is the waiter's from the release on.
            assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
            assert_eq!(pool.try_acquire_owned(0).err(), Some(Rejected::Full));
            until(|| pool.stats().running == 1 && pool.stats().waiting == 0).await;
            gate.notify_one();
            assert_eq!(waiter.await.unwrap(), Ok(()));
            assert_eq!(pool.stats().rejected_for(Rejected::Full), 2);
        })
    });
}

#[test]
fn a_call_dropped_while_running_counts_as_cancelled_and_frees_its_slot() {
    within(WATCHDOG, || {
        multi_thread().block_on(async {
            let pool = Pool::builder().size(1).build().unwrap();
            let p = pool.clone();
            let running = tokio::spawn(async move { p.submit(std::future::pending::<()>()).await });
            until(|| pool.stats().running == 1).await;
            running.abort();
            let _ = running.await;
            let s = pool.stats();
            assert_eq!((s.running, s.cancelled, s.completed), (0, 1, 0));
            assert_eq!(pool.submit(async { 1 }).await, Ok(1));
        })
    });
}

#[test]
fn spawn_weighted_takes_its_priority_place_at_once() {
    within(WATCHDOG, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let pool = Pool::builder()
                    .order(Order::Priority)
                    .size(1)
                    .build()
                    .unwrap();
                let held = pool.acquire_owned(0).await.unwrap();
                let seen = Arc::new(Mutex::new(Vec::new()));
                let handles: Vec<_> = [(0, 3), (1, 1), (2, 2), (3, 1)]
                    .into_iter()
                    .map(|(id, w)| {
                        let s = seen.clone();
                        pool.spawn_weighted(w, async move { s.lock().unwrap().push(id) })
                            .unwrap()
                    })
                    .collect();
                assert_eq!(pool.stats().waiting, 4);
                drop(held);
                for h in handles {
                    assert_eq!(h.await, Ok(()));
                }
                assert_eq!(*seen.lock().unwrap(), [1, 3, 2, 0]);
            })
    });
}

// -------------------------------------------------------- Fitting the stack

#[cfg(feature = "tower")]
mod tower_layer {
    use super::*;
    use pooled::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, Service, ServiceExt};

    fn rejected(error: &BoxError) -> Option<Rejected> {
        error.downcast_ref::<Rejected>().copied()
    }

    #[test]
    fn poll_ready_reserves_the_slot_and_the_response_releases_it() {
        within(WATCHDOG, || {
            multi_thread().block_on(async {
                let pool = Pool::builder().size(1).build().unwrap();
                let inner = service_fn(|x: u32| async move { Ok::<_, BoxError>(x + 1) });
                let mut svc = PooledLayer::pool(pool.clone()).layer(inner);
                let ready = svc.ready().await.unwrap();
                assert_eq!(pool.stats().running, 1, "poll_ready reserved a slot");
                // A reject-mode service over the same pool turns away at once.
                let other = PooledLayer::pool(pool.clone()).reject().layer(inner);
                let started = Instant::now();
                let err = other.oneshot(1).await.unwrap_err();
                assert_eq!(rejected(&err), Some(Rejected::Full));
                assert!(started.elapsed() < Duration::from_secs(1));
                // A waiting-mode one queues behind the reservation.
                let waiting = PooledLayer::pool(pool.clone()).layer(inner);
                let queued = tokio::spawn(waiting.oneshot(10));
                until(|| pool.stats().waiting == 1).await;
                assert_eq!(ready.call(5).await.unwrap(), 6);
                assert_eq!(queued.await.unwrap().unwrap(), 11);
                let s = pool.stats();
                assert_eq!((s.running, s.waiting, s.completed), (0, 0, 2));
                assert_eq!(s.rejected_for(Rejected::Full), 1);
            })
        });
    }

    #[test]
    fn a_ready_service_dropped_before_its_call_gives_its_slot_back() {
        within(WATCHDOG, || {
            multi_thread().block_on(async {
                let pool = Pool::builder().size(1).build().unwrap();
                let inner = service_fn(|x: u32| async move { Ok::<_, BoxError>(x) });
                let mut svc = PooledLayer::pool(pool.clone()).layer(inner);
                svc.ready().await.unwrap();
                assert_eq!(pool.stats().running, 1);
                drop(svc);
                assert_eq!(pool.stats().running, 0);
                assert!(pool.try_acquire().is_ok());
            })
        });
    }

    /// A bulkhead group for the reject test.
    #[pooled::group(size = 2)]
    pub struct Acc42Backend;

    static BACKEND_METER: Meter = Meter::new();

    #[test]
    fn a_group_bulkhead_in_reject_mode_lets_size_through_and_turns_the_rest_away() {
        within(WATCHDOG, || {
            multi_thread().block_on(async {
                let inner = service_fn(|x: u32| async move {
                    let _in = BACKEND_METER.enter();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, BoxError>(x)
                });
                let layer = PooledLayer::group(Acc42Backend::POOL).reject();
                let calls = (0..5).map(|i| layer.layer(inner).oneshot(i));
                let outcomes = futures::future::join_all(calls).await;
                let ok = outcomes.iter().filter(|o| o.is_ok()).count();
                let full = outcomes
                    .iter()
                    .filter(|o| matches!(o, Err(e) if rejected(e) == Some(Rejected::Full)))
                    .count();
                assert_eq!((ok, full), (2, 3));
                assert_eq!(BACKEND_METER.peak(), 2);
                let s = Acc42Backend::POOL.stats();
                assert_eq!((s.completed, s.rejected_for(Rejected::Full)), (2, 3));
            })
        });
    }

    #[test]
    fn a_handler_calling_the_same_pool_makes_a_nested_call_instead_of_waiting() {
        within(WATCHDOG, || {
            multi_thread().block_on(async {
                let pool = Pool::builder().size(1).build().unwrap();
                let p = pool.clone();
                let inner = service_fn(move |x: u32| {
                    let p = p.clone();
                    async move {
                        let nested = p.submit(async move { x * 3 }).await?;
                        Ok::<_, BoxError>(nested)
                    }
                });
                let svc = PooledLayer::pool(pool.clone()).layer(inner);
                assert_eq!(svc.oneshot(4).await.unwrap(), 12);
                let s = pool.stats();
                assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0));
                assert_eq!(s.completed, 2);
            })
        });
    }

    #[test]
    fn a_held_body_keeps_the_slot_and_its_streaming_makes_nested_calls() {
        use axum::body::Body;
        use futures::StreamExt;
        within(WATCHDOG, || {
            multi_thread().block_on(async {
                let pool = Pool::builder().size(1).build().unwrap();
                let p = pool.clone();
                let inner = service_fn(move |_: ()| {
                    let p = p.clone();
                    async move {
                        let chunks = futures::stream::iter(0..3).then(move |i| {
                            let p = p.clone();
                            async move {
                                p.submit(async move { format!("{i}") })
                                    .await
                                    .map_err(BoxError::from)
                            }
                        });
                        Ok::<_, BoxError>(axum::http::Response::new(Body::from_stream(chunks)))
                    }
                });
                let svc = PooledLayer::pool(pool.clone())
                    .hold_until_body_ends()
                    .layer(inner);
                let response = svc.oneshot(()).await.unwrap();
                assert_eq!(pool.stats().running, 1, "the body holds the slot");
                assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
                let bytes = tokio::time::timeout(
                    Duration::from_secs(5),
                    axum::body::to_bytes(Body::new(response.into_body()), usize::MAX),
                )
                .await
                .expect("the body's nested calls hung")
                .unwrap();
                assert_eq!(&bytes[..], b"012");
                until(|| pool.stats().running == 0).await;
                let s = pool.stats();
                assert_eq!((s.running, s.waiting), (0, 0));
            })
        });
    }

    #[test]
    fn a_held_body_dropped_unread_gives_its_slot_back() {
        use axum::body::Body;
        within(WATCHDOG, || {
            multi_thread().block_on(async {
                let pool = Pool::builder().size(1).build().unwrap();
                let inner = service_fn(|_: ()| async {
                    Ok::<_, BoxError>(axum::http::Response::new(Body::from("x")))
                });
                let svc = PooledLayer::pool(pool.clone())
                    .hold_until_body_ends()
                    .layer(inner);
                let response = svc.oneshot(()).await.unwrap();
                assert_eq!(pool.stats().running, 1);
                drop(response);
                assert_eq!(pool.stats().running, 0);
                assert!(pool.try_acquire().is_ok());
            })
        });
    }

    #[test]
    fn without_holding_the_body_the_slot_ends_with_the_response() {
        use axum::body::Body;
        within(WATCHDOG, || {
            multi_thread().block_on(async {
                let pool = Pool::builder().size(1).build().unwrap();
                let inner = service_fn(|_: ()| async {
                    Ok::<_, BoxError>(axum::http::Response::new(Body::from("unread")))
                });
                let response = PooledLayer::pool(pool.clone())
                    .layer(inner)
                    .oneshot(())
                    .await;
                let _unread = response.unwrap();
                assert_eq!(pool.stats().running, 0);
                assert_eq!(pool.stats().completed, 1);
            })
        });
    }

    #[test]
    fn a_waiting_service_meets_the_pools_admission_timeout() {
        within(WATCHDOG, || {
            multi_thread().block_on(async {
                let pool = Pool::builder()
                    .size(1)
                    .admission_timeout(Duration::from_millis(80))
                    .build()
                    .unwrap();
                let _held = pool.acquire_owned(0).await.unwrap();
                let inner = service_fn(|x: u32| async move { Ok::<_, BoxError>(x) });
                let err = PooledLayer::pool(pool.clone())
                    .layer(inner)
                    .oneshot(1)
                    .await
                    .unwrap_err();
                assert_eq!(rejected(&err), Some(Rejected::TimedOut));
                assert_eq!(pool.stats().rejected_for(Rejected::TimedOut), 1);
            })
        });
    }
}

#[cfg(feature = "stream")]
mod stream_adapters {
    use super::*;
    use futures::StreamExt;
    use pooled::PooledStreamExt;

    /// A stream of `n` jobs counting pulls; each job runs under `meter`.
    fn jobs(
        n: u64,
        pulled: Arc<AtomicUsize>,
        meter: Arc<Meter>,
    ) -> impl futures::Stream<Item = impl std::future::Future<Output = u64>> {
        futures::stream::iter(0..n).map(move |i| {
            pulled.fetch_add(1, SeqCst);
            let m = meter.clone();
            async move {
                let _in = m.enter();
                tokio::time::sleep(Duration::from_millis((n - i) % 5)).await;
                i * 2
            }
        })
    }

    #[test]
    fn ordered_keeps_input_order_within_the_pool_and_pulls_at_most_twice_its_size() {
        within(WATCHDOG, || {
            multi_thread().block_on(async {
                let pool = Pool::builder().size(3).build().unwrap();
                let (pulled, meter) = (Arc::new(AtomicUsize::new(0)), Arc::new(Meter::new()));
                let mut out = Vec::new();
                let mut s =
                    std::pin::pin!(jobs(40, pulled.clone(), meter.clone()).pooled_ordered(&pool));
                while let Some(item) = s.next().await {
                    let ahead = pulled.load(SeqCst) - out.len();
                    assert!(ahead <= 6, "{ahead} pulled and not yielded");
                    out.push(item.unwrap());
                }
                assert_eq!(out, (0..40).map(|i| i * 2).collect::<Vec<_>>());
                assert!(meter.peak() <= 3, "peak {}", meter.peak());
                assert_eq!(pool.stats().completed, 40);
            })
        });
    }

    #[test]
    fn unordered_shares_the_pools_limit_with_other_callers() {
        within(WATCHDOG, || {
            multi_thread().block_on(async {
                let pool = Pool::builder().size(2).build().unwrap();
                let held = pool.acquire_owned(0).await.unwrap();
                let (pulled, meter) = (Arc::new(AtomicUsize::new(0)), Arc::new(Meter::new()));
                let mut out: Vec<u64> = Vec::new();
                let mut s =
                    std::pin::pin!(jobs(20, pulled.clone(), meter.clone()).pooled_unordered(&pool));
                while let Some(item) = s.next().await {
                    let ahead = pulled.load(SeqCst) - out.len();
                    assert!(ahead <= 4, "{ahead} pulled and not yielded");
                    out.push(item.unwrap());
                }
                drop(held);
                out.sort_unstable();
                assert_eq!(out, (0..20).map(|i| i * 2).collect::<Vec<_>>());
                assert_eq!(meter.peak(), 1, "one slot was held outside");
            })
        });
    }

    #[test]
    fn a_pool_of_zero_slots_has_the_stream_pull_one_item() {
        within(WATCHDOG, || {
            multi_thread().block_on(async {
                let pool = Pool::builder().size(1).build().unwrap();
                assert_eq!(pool.resize(0), 0, "a fixed pool scales down to 0");
                let (pulled, meter) = (Arc::new(AtomicUsize::new(0)), Arc::new(Meter::new()));
                let p = pool.clone();
                let pl = pulled.clone();
                let task = tokio::spawn(async move {
                    let out: Vec<_> = jobs(5, pl, meter).pooled_ordered(&p).collect().await;
                    out
                });
                tokio::time::sleep(Duration::from_millis(100)).await;
                assert_eq!(pulled.load(SeqCst), 1, "max(1, 2 x 0) items pulled");
                assert_eq!(pool.stats().waiting, 1);
                pool.resize(1);
                let out = task.await.unwrap();
                assert_eq!(out, [Ok(0), Ok(2), Ok(4), Ok(6), Ok(8)]);
            })
        });
    }

    #[test]
    fn ordered_does_not_pull_past_twice_the_size_behind_a_slow_head() {
        within(WATCHDOG, || {
            multi_thread().block_on(async {
                let pool = Pool::builder().size(3).build().unwrap();
                let pulled = Arc::new(AtomicUsize::new(0));
                let pl = pulled.clone();
                let jobs = futures::stream::iter(0..50u64).map(move |i| {
                    pl.fetch_add(1, SeqCst);
                    async move {
                        if i == 0 {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        i
                    }
                });
                let p = pool.clone();
                let task = tokio::spawn(async move {
                    let out: Vec<_> = jobs.pooled_ordered(&p).collect().await;
                    out
                });
                tokio::time::sleep(Duration::from_millis(100)).await;
                let ahead = pulled.load(SeqCst);
                assert!(ahead <= 6, "{ahead} pulled behind a slow head");
                let out = task.await.unwrap();
                assert_eq!(out, (0..50).map(Ok).collect::<Vec<_>>());
            })
        });
    }

    /// A group for a stream.
    #[pooled::group(size = 2)]
    pub struct Acc42StreamGroup;

    #[test]
    fn a_stream_through_a_group_is_bounded_by_it_and_sees_its_pause() {
        within(WATCHDOG, || {
            multi_thread().block_on(async {
                let (pulled, meter) = (Arc::new(AtomicUsize::new(0)), Arc::new(Meter::new()));
                let out: Vec<_> = jobs(12, pulled, meter.clone())
                    .pooled_unordered(Acc42StreamGroup::POOL)
                    .collect()
                    .await;
                assert_eq!(out.len(), 12);
                assert!(out.iter().all(|o| o.is_ok()));
                assert!(meter.peak() <= 2);
                Acc42StreamGroup::POOL.pause();
                let out: Vec<_> = futures::stream::iter(1..=2)
                    .map(|i| async move { i })
                    .pooled_ordered(Acc42StreamGroup::POOL)
                    .collect()
                    .await;
                assert_eq!(out, [Err(Rejected::Paused), Err(Rejected::Paused)]);
                Acc42StreamGroup::POOL.resume();
            })
        });
    }
}

#[cfg(feature = "rayon")]
mod rayon_executor {
    use super::*;
    use pooled::RayonExecutor;

    #[test]
    fn submit_blocking_on_rayon_holds_its_slot() {
        within(WATCHDOG, || {
            let pool = Pool::builder()
                .size(2)
                .blocking_executor(Arc::new(RayonExecutor::default()))
                .build()
                .unwrap();
            let meter = Arc::new(Meter::new());
            let caller = std::thread::current().id();
            let calls = (0..6u32).map(|i| {
                let m = meter.clone();
                pool.submit_blocking(move || {
                    let _in = m.enter();
                    std::thread::sleep(Duration::from_millis(30));
                    (i, std::thread::current().id() != caller)
                })
            });
            let out = futures::executor::block_on(futures::future::join_all(calls));
            for (i, o) in out.into_iter().enumerate() {
                assert_eq!(o, Ok((i as u32, true)));
            }
            assert_eq!(meter.peak(), 2);
            assert_eq!(pool.stats().completed, 6);
        })
    }
}
