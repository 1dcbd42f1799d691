//! Hostile tests of `#[pooled]`, round 20: user code that runs at the
//! library's edges (the `Drop` of arguments of calls the pool turns away or
//! whose caller walks away, the `overload` predicate, guards dropped while a
//! body unwinds), weights at the ends of `i64`, the generated handles racing
//! calls, and configuration reloads racing calls. Every limit is counted from
//! outside the library; every hang is a bounded wait that fails.
#![cfg(all(feature = "tokio", feature = "config"))]

mod common;
use common::{within, Meter};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pooled::{Group, Rejected};

const BOUND: Duration = Duration::from_secs(10);

/// Every call the pool saw is accounted for, and none is still in it.
#[track_caller]
fn accounted(group: &Group) {
    let s = group.stats();
    assert_eq!(s.in_flight(), 0, "{s:?}");
    assert_eq!(
        s.submitted(),
        s.completed + s.cancelled + s.rejected_total(),
        "{s:?}"
    );
}

/// An argument whose `Drop` is user code that talks to a pool's handle
/// (and may panic): the library must not hold a lock of its own while it
/// drops the work of a call it turns away or that was cancelled.
struct Probe {
    group: &'static Group,
    panic: bool,
    dropped: Arc<AtomicUsize>,
}

impl Probe {
    fn new(group: &'static Group, dropped: &Arc<AtomicUsize>) -> Probe {
        Probe {
            group,
            panic: false,
            dropped: dropped.clone(),
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        // Reads and writes through the handle, as a logging or metrics
        // `Drop` would.
        let _ = self.group.stats();
        let size = self.group.size();
        self.group.resize(size);
        let _ = self.group.is_paused();
        self.dropped.fetch_add(1, SeqCst);
        if self.panic && !std::thread::panicking() {
            panic!("a probe's drop panics");
        }
    }
}

// ---- Drop of the work of a call turned away -------------------------------

#[pooled::pooled(size = 1)]
fn paused_sync(probe: Probe) -> Result<usize, Rejected> {
    Ok(probe.group.size())
}

#[pooled::pooled(size = 1, max_waiting = 0)]
async fn full_async(
    probe: Probe,
    hold: Option<tokio::sync::oneshot::Receiver<()>>,
) -> Result<(), Rejected> {
    let _probe = probe;
    if let Some(hold) = hold {
        let _ = hold.await;
    }
    Ok(())
}

#[pooled::pooled(size = 1, admission_timeout = "30ms")]
fn timed_sync(probe: Probe, hold: Duration) -> Result<(), Rejected> {
    let _probe = probe;
    std::thread::sleep(hold);
    Ok(())
}

#[pooled::pooled(blocking, size = 1)]
fn paused_blocking(probe: Probe) -> Result<(), Rejected> {
    let _probe = probe;
    Ok(())
}

#[pooled::pooled(size = 1)]
fn paused_returned(probe: Probe) -> impl std::future::Future<Output = Result<(), Rejected>> + Send {
    async move {
        let _probe = probe;
        Ok(())
    }
}

/// Attacks "no library lock is held while user code runs" and "nothing
/// hangs": the arguments of a call the pool turns away (paused sync fn, full
/// async fn, timed-out sync fn, paused blocking fn, paused fn returning a
/// future) are dropped by the library; their `Drop` reads and resizes the
/// same pool's handle. Each call must come back with its rejection, each
/// argument dropped once, and every pool account for every call.
#[test]
fn dropping_a_turned_away_calls_arguments_may_use_the_pools_handle() {
    within(BOUND, || {
        let dropped = Arc::new(AtomicUsize::new(0));
        // Paused, sync.
        PAUSED_SYNC_POOL.pause();
        assert_eq!(
            paused_sync(Probe::new(PAUSED_SYNC_POOL, &dropped)),
            Err(Rejected::Paused)
        );
        PAUSED_SYNC_POOL.resume();
        assert_eq!(paused_sync(Probe::new(PAUSED_SYNC_POOL, &dropped)), Ok(1));
        assert_eq!(dropped.load(SeqCst), 2);
        accounted(PAUSED_SYNC_POOL);

        // Timed out, sync: one thread holds the slot past the timeout.
        let holder = {
            let dropped = dropped.clone();
            std::thread::spawn(move || {
                timed_sync(
                    Probe::new(TIMED_SYNC_POOL, &dropped),
                    Duration::from_millis(300),
                )
            })
        };
        while TIMED_SYNC_POOL.stats().running == 0 {
            std::thread::yield_now();
        }
        assert_eq!(
            timed_sync(Probe::new(TIMED_SYNC_POOL, &dropped), Duration::ZERO),
            Err(Rejected::TimedOut)
        );
        assert_eq!(holder.join().unwrap(), Ok(()));
        assert_eq!(dropped.load(SeqCst), 4);
        accounted(TIMED_SYNC_POOL);

        let runtime = common::multi_thread();
        runtime.block_on(async {
            // Full, async.
            let (tx, rx) = tokio::sync::oneshot::channel();
            let holder = tokio::spawn(full_async(Probe::new(FULL_ASYNC_POOL, &dropped), Some(rx)));
            while FULL_ASYNC_POOL.stats().running == 0 {
                tokio::task::yield_now().await;
            }
            assert_eq!(
                full_async(Probe::new(FULL_ASYNC_POOL, &dropped), None).await,
                Err(Rejected::Full)
            );
            tx.send(()).unwrap();
            assert_eq!(holder.await.unwrap(), Ok(()));
            accounted(FULL_ASYNC_POOL);

            // Paused, blocking.
            PAUSED_BLOCKING_POOL.pause();
            assert_eq!(
                paused_blocking(Probe::new(PAUSED_BLOCKING_POOL, &dropped)).await,
                Err(Rejected::Paused)
            );
            PAUSED_BLOCKING_POOL.resume();
            accounted(PAUSED_BLOCKING_POOL);

            // Paused, returning a future.
            PAUSED_RETURNED_POOL.pause();
            assert_eq!(
                paused_returned(Probe::new(PAUSED_RETURNED_POOL, &dropped)).await,
                Err(Rejected::Paused)
            );
            PAUSED_RETURNED_POOL.resume();
            accounted(PAUSED_RETURNED_POOL);
        });
        assert_eq!(dropped.load(SeqCst), 8);
    });
}

#[pooled::pooled(size = 1)]
async fn cancelled_async(probe: Probe, hold: Option<tokio::sync::oneshot::Receiver<()>>) {
    let _probe = probe;
    if let Some(hold) = hold {
        let _ = hold.await;
    }
}

#[pooled::pooled(blocking, size = 1)]
fn cancelled_blocking(probe: Probe, hold: Duration) {
    let _probe = probe;
    std::thread::sleep(hold);
}

/// Attacks "no library lock is held while user code runs" on the
/// cancellation path: callers that walk away from an async call and a
/// blocking call while they wait for a slot (a `select!` whose other branch
/// wins) drop arguments whose `Drop` uses the handle. No hang, each argument
/// dropped once, and the walked-away calls counted as cancelled.
#[test]
fn dropping_a_cancelled_calls_arguments_may_use_the_pools_handle() {
    within(BOUND, || {
        let dropped = Arc::new(AtomicUsize::new(0));
        let runtime = common::multi_thread();
        runtime.block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let holder = tokio::spawn(cancelled_async(
                Probe::new(CANCELLED_ASYNC_POOL, &dropped),
                Some(rx),
            ));
            while CANCELLED_ASYNC_POOL.stats().running == 0 {
                tokio::task::yield_now().await;
            }
            for _ in 0..5 {
                tokio::select! {
                    () = cancelled_async(Probe::new(CANCELLED_ASYNC_POOL, &dropped), None) => {
                        panic!("admitted while the slot is held")
                    }
                    () = tokio::time::sleep(Duration::from_millis(5)) => {}
                }
            }
            tx.send(()).unwrap();
            holder.await.unwrap();
            let s = CANCELLED_ASYNC_POOL.stats();
            assert_eq!((s.cancelled, s.completed), (5, 1), "{s:?}");
            accounted(CANCELLED_ASYNC_POOL);

            let holder = tokio::spawn(cancelled_blocking(
                Probe::new(CANCELLED_BLOCKING_POOL, &dropped),
                Duration::from_millis(200),
            ));
            while CANCELLED_BLOCKING_POOL.stats().running == 0 {
                tokio::task::yield_now().await;
            }
            for _ in 0..5 {
                tokio::select! {
                    () = cancelled_blocking(Probe::new(CANCELLED_BLOCKING_POOL, &dropped), Duration::ZERO) => {
                        panic!("admitted while the slot is held")
                    }
                    () = tokio::time::sleep(Duration::from_millis(5)) => {}
                }
            }
            holder.await.unwrap();
            accounted(CANCELLED_BLOCKING_POOL);
        });
        assert_eq!(dropped.load(SeqCst), 12);
    });
}

#[pooled::pooled(size = 1)]
fn panicky_paused(probe: Probe) -> Result<(), Rejected> {
    let _probe = probe;
    Ok(())
}

#[pooled::pooled(size = 1, max_waiting = 0)]
async fn panicky_full(
    probe: Probe,
    hold: Option<tokio::sync::oneshot::Receiver<()>>,
) -> Result<(), Rejected> {
    let _probe = probe;
    if let Some(hold) = hold {
        let _ = hold.await;
    }
    Ok(())
}

/// Attacks "bad input is never a freeze" and "nothing is lost": the
/// argument of a call the pool turns away panics in its `Drop` (which the
/// library runs). The panic reaches the caller (it is user code's), but the
/// pool must stay usable (no poisoned lock, no stuck slot) and account for
/// every call.
#[test]
fn a_turned_away_calls_argument_panicking_in_drop_leaves_the_pool_whole() {
    within(BOUND, || {
        let dropped = Arc::new(AtomicUsize::new(0));
        PANICKY_PAUSED_POOL.pause();
        let mut probe = Probe::new(PANICKY_PAUSED_POOL, &dropped);
        probe.panic = true;
        let out = catch_unwind(AssertUnwindSafe(|| panicky_paused(probe)));
        assert!(out.is_err(), "the drop's panic reaches the caller");
        PANICKY_PAUSED_POOL.resume();
        assert_eq!(
            panicky_paused(Probe::new(PANICKY_PAUSED_POOL, &dropped)),
            Ok(())
        );
        accounted(PANICKY_PAUSED_POOL);

        let runtime = common::multi_thread();
        runtime.block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let holder = tokio::spawn(panicky_full(
                Probe::new(PANICKY_FULL_POOL, &dropped),
                Some(rx),
            ));
            while PANICKY_FULL_POOL.stats().running == 0 {
                tokio::task::yield_now().await;
            }
            let mut probe = Probe::new(PANICKY_FULL_POOL, &dropped);
            probe.panic = true;
            let out = tokio::spawn(panicky_full(probe, None)).await;
            assert!(out.is_err(), "the drop's panic reaches the caller");
            tx.send(()).unwrap();
            assert_eq!(holder.await.unwrap(), Ok(()));
            let again = tokio::time::timeout(
                BOUND,
                panicky_full(Probe::new(PANICKY_FULL_POOL, &dropped), None),
            )
            .await;
            assert_eq!(again.expect("the pool still admits"), Ok(()));
            accounted(PANICKY_FULL_POOL);
        });
        assert_eq!(dropped.load(SeqCst), 5);
    });
}

// ---- the overload predicate -------------------------------------------------

#[derive(Debug, PartialEq)]
enum ApiError {
    Overloaded,
    Busy(Rejected),
}

impl From<Rejected> for ApiError {
    fn from(rejected: Rejected) -> Self {
        ApiError::Busy(rejected)
    }
}

static JUDGE_PANICS: AtomicBool = AtomicBool::new(false);

/// A predicate that uses the handle of its own pool, and panics on demand.
fn judge(error: &ApiError) -> bool {
    let _ = JUDGED_POOL.stats();
    let size = JUDGED_POOL.size();
    JUDGED_POOL.resize(size);
    if JUDGE_PANICS.load(SeqCst) {
        panic!("the overload predicate panics");
    }
    matches!(error, ApiError::Overloaded)
}

static JUDGED_METER: Meter = Meter::new();

#[pooled::pooled(kind = "autoscale", policy = "adaptive", min = 1, max = 1, overload = judge)]
async fn judged(fail: bool) -> Result<u32, ApiError> {
    let _inside = JUDGED_METER.enter();
    tokio::time::sleep(Duration::from_millis(1)).await;
    if fail {
        Err(ApiError::Overloaded)
    } else {
        Ok(1)
    }
}

/// Attacks "no library lock is held while user code runs", "a panic frees
/// the slot" and "nothing is lost" at the `overload` predicate: a predicate
/// that reads and resizes its own pool's handle must not freeze the call,
/// and one that panics must hand its panic to the caller while the slot
/// comes back (the next calls run) and the pool accounts for every call.
#[test]
fn the_overload_predicate_may_use_the_handle_and_may_panic() {
    within(BOUND, || {
        let runtime = common::multi_thread();
        runtime.block_on(async {
            for fail in [false, true, false, true] {
                let _ = judged(fail).await;
            }
            JUDGE_PANICS.store(true, SeqCst);
            for _ in 0..2 {
                // Only an `Err` is judged.
                let out = tokio::spawn(judged(true)).await;
                assert!(out.is_err(), "the predicate's panic reaches the caller");
            }
            JUDGE_PANICS.store(false, SeqCst);
            let calls: Vec<_> = (0..8).map(|i| tokio::spawn(judged(i % 2 == 0))).collect();
            for call in calls {
                let _ = tokio::time::timeout(BOUND, call)
                    .await
                    .expect("the slot came back")
                    .unwrap();
            }
        });
        assert!(JUDGED_METER.peak() <= 1, "peak {}", JUDGED_METER.peak());
        accounted(JUDGED_POOL);
        assert_eq!(JUDGED_POOL.stats().completed, 14);
    });
}

// ---- a nested call from a guard dropped while the body unwinds --------------

#[pooled::group(size = 1)]
struct Unwinding;

static UNWIND_METER: Meter = Meter::new();

#[pooled::pooled(group = Unwinding)]
fn cleanup(log: &Mutex<Vec<&'static str>>) {
    let _inside = UNWIND_METER.enter();
    log.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push("cleanup");
}

struct CleanupGuard<'a>(&'a Mutex<Vec<&'static str>>);

impl Drop for CleanupGuard<'_> {
    fn drop(&mut self) {
        cleanup(self.0);
    }
}

#[pooled::pooled(group = Unwinding)]
fn work(log: &Mutex<Vec<&'static str>>, fail: bool) -> u8 {
    let _guard = CleanupGuard(log);
    {
        let _inside = UNWIND_METER.enter();
        log.lock().unwrap_or_else(|e| e.into_inner()).push("work");
        if fail {
            panic!("the body panics");
        }
    }
    7
}

/// Attacks "nothing hangs" and "a panic frees the slot" with reentrancy
/// during unwinding: a sync body of a group of 1 panics, and a guard of the
/// body calls another function of the same group from its `Drop` while the
/// body unwinds. The call is nested (the body still holds the slot), so it
/// must run instead of waiting for the slot its own parent holds; then the
/// slot comes back, other threads' calls run, and the group counts the
/// panic.
#[test]
fn a_guard_dropped_while_a_body_unwinds_may_call_its_group() {
    within(BOUND, || {
        let log = Arc::new(Mutex::new(Vec::new()));
        let out = catch_unwind(AssertUnwindSafe(|| work(&log, true)));
        assert!(out.is_err());
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let log = log.clone();
                std::thread::spawn(move || {
                    catch_unwind(AssertUnwindSafe(|| work(&log, i % 2 == 0))).is_ok()
                })
            })
            .collect();
        let ok = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|&ok| ok)
            .count();
        assert_eq!(ok, 2);
        assert_eq!(
            log.lock().unwrap_or_else(|e| e.into_inner()).len(),
            10,
            "every work and every cleanup ran"
        );
    });
    assert!(UNWIND_METER.peak() <= 1, "peak {}", UNWIND_METER.peak());
    let s = Unwinding::POOL.stats();
    assert_eq!((s.completed, s.panicked), (10, 3), "{s:?}");
    accounted(Unwinding::POOL);
}

// ---- weights at the ends of i64 ----------------------------------------------

#[pooled::group(order = "priority", size = 1)]
struct Ranked;

#[pooled::pooled(group = Ranked, weight = -9223372036854775808)]
async fn lowest(log: Arc<Mutex<Vec<&'static str>>>) {
    log.lock().unwrap().push("min");
}

#[pooled::pooled(group = Ranked, weight = 9223372036854775807)]
async fn highest(log: Arc<Mutex<Vec<&'static str>>>) {
    log.lock().unwrap().push("max");
}

#[pooled::pooled(group = Ranked)]
async fn param(log: Arc<Mutex<Vec<&'static str>>>, #[weight] w: i128, label: &'static str) {
    log.lock().unwrap().push(label);
}

#[pooled::pooled(group = Ranked, weight = i64::MAX - i64::from(nudge))]
async fn expr(log: Arc<Mutex<Vec<&'static str>>>, nudge: u8, label: &'static str) {
    log.lock().unwrap().push(label);
}

#[pooled::pooled(group = Ranked)]
async fn gate(rx: tokio::sync::oneshot::Receiver<()>) {
    let _ = rx.await;
}

/// Attacks the priority order at the ends of `i64` (an overflow in a
/// comparison or an aging term would misplace them): with the one slot
/// held, calls of weights `i64::MAX`, `i64::MIN` (a constant), `i128`
/// parameters past both ends (saturated), `i64::MAX - 1` (an expression),
/// and 0 queue; once the slot frees they run smallest weight first, equal
/// weights in arrival order.
#[test]
fn weights_at_the_ends_of_i64_run_smallest_first() {
    within(BOUND, || {
        let runtime = common::multi_thread();
        runtime.block_on(async {
            let log = Arc::new(Mutex::new(Vec::new()));
            let (tx, rx) = tokio::sync::oneshot::channel();
            let held = tokio::spawn(gate(rx));
            while Ranked::POOL.stats().running == 0 {
                tokio::task::yield_now().await;
            }
            let mut calls = Vec::new();
            let waiting = |n| async move {
                while Ranked::POOL.stats().waiting < n {
                    tokio::task::yield_now().await;
                }
            };
            calls.push(tokio::spawn(highest(log.clone())));
            waiting(1).await;
            calls.push(tokio::spawn(param(log.clone(), i128::MAX, "i128max")));
            waiting(2).await;
            calls.push(tokio::spawn(expr(log.clone(), 1, "max-1")));
            waiting(3).await;
            calls.push(tokio::spawn(param(log.clone(), 0, "zero")));
            waiting(4).await;
            calls.push(tokio::spawn(param(log.clone(), i128::MIN, "i128min")));
            waiting(5).await;
            calls.push(tokio::spawn(lowest(log.clone())));
            waiting(6).await;
            calls.push(tokio::spawn(param(
                log.clone(),
                i128::from(i64::MIN) + 1,
                "min+1",
            )));
            waiting(7).await;
            tx.send(()).unwrap();
            held.await.unwrap();
            for call in calls {
                call.await.unwrap();
            }
            assert_eq!(
                *log.lock().unwrap(),
                ["i128min", "min", "min+1", "zero", "max-1", "max", "i128max"]
            );
        });
        accounted(Ranked::POOL);
    });
}

// ---- handles racing calls ----------------------------------------------------

static RACED_METER: Meter = Meter::new();

#[pooled::group(size = 2)]
struct Raced;

#[pooled::pooled(group = Raced)]
fn raced_sync(n: u64) -> u64 {
    let _inside = RACED_METER.enter();
    std::thread::sleep(Duration::from_micros(100));
    n
}

#[pooled::pooled(group = Raced)]
fn raced_fallible(n: u64) -> Result<u64, Rejected> {
    let _inside = RACED_METER.enter();
    std::thread::sleep(Duration::from_micros(100));
    Ok(n)
}

#[pooled::pooled(group = Raced)]
async fn raced_async(n: u64) -> Result<u64, Rejected> {
    let _inside = RACED_METER.enter();
    tokio::task::yield_now().await;
    Ok(n)
}

#[pooled::pooled(group = Raced, wait)]
async fn raced_wait(n: u64) -> Result<u64, Rejected> {
    let _inside = RACED_METER.enter();
    tokio::task::yield_now().await;
    Ok(n)
}

/// Attacks "never more than the limit" and "nothing is lost" while the
/// group's handle is driven from other threads: `resize` between 0 and 3,
/// `scale`, `pause` and `resume` race sync calls (waiting and rejecting
/// kinds) from threads and async calls (rejecting and `wait`) from tasks.
/// Never more than 3 bodies at once (the most the handle ever allowed);
/// never-rejecting calls all complete once the handle settles; rejecting
/// ones end `Ok` or `Paused`; the group accounts for every call.
#[test]
fn the_handle_racing_calls_keeps_the_limit_and_loses_nothing() {
    within(Duration::from_secs(30), || {
        let stop = Arc::new(AtomicBool::new(false));
        let driver = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut i = 0usize;
                while !stop.load(SeqCst) {
                    match i % 6 {
                        0 => {
                            Raced::POOL.resize(i % 4);
                        }
                        1 => {
                            Raced::POOL.scale(1);
                        }
                        2 => Raced::POOL.pause(),
                        3 => Raced::POOL.resume(),
                        4 => {
                            Raced::POOL.scale(-2);
                        }
                        _ => {
                            Raced::POOL.resize(3);
                        }
                    }
                    if Raced::POOL.size() > 3 {
                        Raced::POOL.resize(3);
                    }
                    i += 1;
                    std::thread::sleep(Duration::from_micros(200));
                }
                Raced::POOL.resume();
                Raced::POOL.resize(2);
            })
        };
        let sync_threads: Vec<_> = (0..6)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut rejected = 0;
                    for n in 0..100 {
                        assert_eq!(raced_sync(n), n);
                        match raced_fallible(n) {
                            Ok(v) => assert_eq!(v, n),
                            Err(Rejected::Paused) => rejected += 1,
                            Err(other) => panic!("thread {t}: {other:?}"),
                        }
                    }
                    rejected
                })
            })
            .collect();
        let runtime = common::multi_thread();
        runtime.block_on(async {
            let tasks: Vec<_> = (0..200)
                .map(|n| {
                    tokio::spawn(async move {
                        match raced_async(n).await {
                            Ok(v) => assert_eq!(v, n),
                            Err(Rejected::Paused) => {}
                            Err(other) => panic!("{other:?}"),
                        }
                        assert_eq!(raced_wait(n).await, Ok(n));
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
        for t in sync_threads {
            t.join().unwrap();
        }
        stop.store(true, SeqCst);
        driver.join().unwrap();
    });
    assert!(RACED_METER.peak() <= 3, "peak {}", RACED_METER.peak());
    accounted(Raced::POOL);
}

// ---- configuration racing calls ----------------------------------------------

static RELOADED_METER: Meter = Meter::new();

#[pooled::pooled(kind = "autoscale", order = "priority", min = 1, max = 3)]
async fn reloaded(#[weight] w: u8) -> Result<u8, Rejected> {
    let _inside = RELOADED_METER.enter();
    tokio::time::sleep(Duration::from_micros(200)).await;
    Ok(w)
}

static RELOADED_SYNC_METER: Meter = Meter::new();

#[pooled::pooled(size = 2)]
fn reloaded_sync(n: u32) -> u32 {
    let _inside = RELOADED_SYNC_METER.enter();
    std::thread::sleep(Duration::from_micros(100));
    n
}

/// Attacks "never more than the limit" and "nothing is lost" across live
/// reloads: files that move an autoscale priority group's bounds, order and
/// waiting bound, and a fixed group's size (within 1..=3), land while
/// calls of both run from tasks and threads. No body count ever passes 3
/// (the most any file allowed), no never-rejecting call is lost, and each
/// group accounts for every call.
#[test]
fn reloads_racing_calls_keep_the_limit_and_lose_nothing() {
    within(Duration::from_secs(30), || {
        let files = [
            "[groups.\"adversarial_round20::reloaded\"]\nmin = 1\nmax = 1\norder = \"fifo\"\n\
             [groups.\"adversarial_round20::reloaded_sync\"]\nsize = 1\n",
            "[groups.\"adversarial_round20::reloaded\"]\nmin = 2\nmax = 3\nsize = 3\norder = \"lifo\"\nmax_waiting = 2\n\
             [groups.\"adversarial_round20::reloaded_sync\"]\nsize = 3\n",
            "[groups.\"adversarial_round20::reloaded\"]\nmin = 1\nmax = 2\norder = \"priority\"\nadmission_timeout = \"1ms\"\n\
             [groups.\"adversarial_round20::reloaded_sync\"]\nsize = 2\n",
            "",
        ];
        let stop = Arc::new(AtomicBool::new(false));
        let loader = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(SeqCst) {
                    pooled::config::load_str("r.toml", files[i % files.len()]).unwrap();
                    i += 1;
                    std::thread::sleep(Duration::from_micros(500));
                }
                pooled::config::clear();
                i
            })
        };
        let threads: Vec<_> = (0..6)
            .map(|t| {
                std::thread::spawn(move || {
                    for n in 0..150 {
                        assert_eq!(reloaded_sync(n), n, "thread {t}");
                    }
                })
            })
            .collect();
        let runtime = common::multi_thread();
        runtime.block_on(async {
            let tasks: Vec<_> = (0..300u32)
                .map(|n| tokio::spawn(reloaded((n % 7) as u8)))
                .collect();
            for task in tasks {
                match task.await.unwrap() {
                    Ok(_) | Err(Rejected::Full | Rejected::TimedOut) => {}
                    Err(other) => panic!("{other:?}"),
                }
            }
        });
        for t in threads {
            t.join().unwrap();
        }
        stop.store(true, SeqCst);
        assert!(loader.join().unwrap() > 0);
    });
    assert!(RELOADED_METER.peak() <= 3, "peak {}", RELOADED_METER.peak());
    assert!(
        RELOADED_SYNC_METER.peak() <= 3,
        "peak {}",
        RELOADED_SYNC_METER.peak()
    );
    assert_eq!(RELOADED_SYNC_POOL.stats().completed, 900);
    accounted(RELOADED_POOL);
    accounted(RELOADED_SYNC_POOL);
}

// ---- abort against calls that cannot be told no ------------------------------

#[pooled::group(size = 1)]
struct Aborted;

static ABORTED_METER: Meter = Meter::new();

#[pooled::pooled(group = Aborted)]
async fn aborted_leaf(hold: Option<tokio::sync::oneshot::Receiver<()>>) -> u8 {
    let _inside = ABORTED_METER.enter();
    if let Some(hold) = hold {
        let _ = hold.await;
    }
    1
}

#[pooled::pooled(group = Aborted, wait)]
async fn aborted_wait_leaf() -> Result<u8, Rejected> {
    let _inside = ABORTED_METER.enter();
    Ok(2)
}

#[pooled::pooled(group = Aborted)]
fn aborted_sync_leaf() -> u8 {
    let _inside = ABORTED_METER.enter();
    3
}

#[pooled::pooled(group = Aborted)]
async fn aborted_parent(
    hold: tokio::sync::oneshot::Receiver<()>,
    nested_waiting: Arc<AtomicBool>,
) -> u8 {
    // The first nested call borrows the slot and holds it; the second and
    // third wait for it (nested, never-rejecting).
    let second = async {
        nested_waiting.store(true, SeqCst);
        aborted_leaf(None).await + aborted_wait_leaf().await.unwrap()
    };
    let (a, b) = futures::join!(aborted_leaf(Some(hold)), second);
    a + b
}

/// Attacks "nothing hangs" and "bad input is never a panic" at `abort`
/// (reached through the handle's `pool()`): the docs say abort rejects every
/// waiting call "never-rejecting ones excepted", which a closed pool still
/// admits within its limit. Never-rejecting calls (a plain async fn, a
/// `wait` fn, a sync fn from a thread) wait at the top level and nested
/// behind a borrowed slot when the group is aborted; all must run (no
/// `unreachable!`, no hang), never two bodies at once, and the group
/// accounts for every call.
#[test]
fn abort_runs_the_waiting_calls_that_cannot_be_told_no() {
    within(BOUND, || {
        let runtime = common::multi_thread();
        runtime.block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let nested_waiting = Arc::new(AtomicBool::new(false));
            let parent = tokio::spawn(aborted_parent(rx, nested_waiting.clone()));
            while !nested_waiting.load(SeqCst) || Aborted::POOL.stats().nested == 0 {
                tokio::task::yield_now().await;
            }
            let top: Vec<_> = (0..3).map(|_| tokio::spawn(aborted_leaf(None))).collect();
            let waits: Vec<_> = (0..3).map(|_| tokio::spawn(aborted_wait_leaf())).collect();
            let threads: Vec<_> = (0..3)
                .map(|_| std::thread::spawn(aborted_sync_leaf))
                .collect();
            while Aborted::POOL.stats().waiting < 10 {
                tokio::task::yield_now().await;
            }
            Aborted::POOL.pool().abort();
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.send(()).unwrap();
            assert_eq!(parent.await.unwrap(), 4);
            for call in top {
                assert_eq!(call.await.unwrap(), 1);
            }
            for call in waits {
                assert_eq!(call.await.unwrap(), Ok(2));
            }
            for t in threads {
                assert_eq!(t.join().unwrap(), 3);
            }
        });
    });
    assert!(ABORTED_METER.peak() <= 1, "peak {}", ABORTED_METER.peak());
    accounted(Aborted::POOL);
}

// ---- nested calls that outlive their parent ---------------------------------

#[pooled::group(size = 1)]
struct Outlived;

static OUTLIVED_METER: Meter = Meter::new();

#[pooled::pooled(group = Outlived, blocking)]
fn outlived_job(hold: Duration) -> u8 {
    let _inside = OUTLIVED_METER.enter();
    std::thread::sleep(hold);
    1
}

#[pooled::pooled(group = Outlived)]
async fn outlived_parent(hold: Duration) -> u8 {
    outlived_job(hold).await
}

#[pooled::pooled(group = Outlived)]
async fn outlived_leaf() -> u8 {
    let _inside = OUTLIVED_METER.enter();
    tokio::task::yield_now().await;
    2
}

#[pooled::pooled(group = Outlived)]
async fn escaping_parent(
    out: tokio::sync::oneshot::Sender<
        std::pin::Pin<Box<dyn std::future::Future<Output = u8> + Send>>,
    >,
) {
    // Start a nested call under this call's slot (its first poll admits
    // it), then hand it, still running, to another task and end.
    let mut child: std::pin::Pin<Box<dyn std::future::Future<Output = u8> + Send>> =
        Box::pin(escaping_child());
    assert!(futures::poll!(child.as_mut()).is_pending());
    let _ = out.send(child);
}

#[pooled::pooled(group = Outlived)]
async fn escaping_child() -> u8 {
    let _inside = OUTLIVED_METER.enter();
    tokio::time::sleep(Duration::from_millis(100)).await;
    3
}

/// Attacks "never more than the limit" on the documented rule "a nested
/// call that outlives its caller keeps the slot until it ends": a blocking
/// nested job whose async caller is cancelled keeps running on its thread,
/// and a nested async call handed out of its parent's body keeps running in
/// another task after its parent returned. In both cases a new call of the
/// group of 1 must wait until the outliving call ends.
#[test]
fn a_nested_call_that_outlives_its_caller_keeps_the_slot() {
    within(BOUND, || {
        let runtime = common::multi_thread();
        runtime.block_on(async {
            let cancelled = tokio::time::timeout(
                Duration::from_millis(30),
                outlived_parent(Duration::from_millis(200)),
            )
            .await;
            assert!(cancelled.is_err(), "the parent is cancelled mid-job");
            assert_eq!(outlived_leaf().await, 2);
            assert!(OUTLIVED_METER.peak() <= 1, "peak {}", OUTLIVED_METER.peak());

            let (tx, rx) = tokio::sync::oneshot::channel();
            escaping_parent(tx).await;
            let child = tokio::spawn(rx.await.unwrap());
            assert_eq!(outlived_leaf().await, 2);
            assert_eq!(child.await.unwrap(), 3);
        });
    });
    assert!(OUTLIVED_METER.peak() <= 1, "peak {}", OUTLIVED_METER.peak());
    // The blocking job may still be finishing its sleep when the leaf ran.
    std::thread::sleep(Duration::from_millis(250));
    accounted(Outlived::POOL);
}

// ---- an overload predicate that calls its own group --------------------------

#[pooled::group(kind = "autoscale", policy = "adaptive", min = 1, max = 1)]
struct Judging;

static JUDGING_METER: Meter = Meter::new();
static RECORDED: AtomicUsize = AtomicUsize::new(0);

/// Records an overload through a function of the same group (as a
/// predicate that logs or counts through a pooled client would).
#[pooled::pooled(group = Judging)]
fn record_overload() {
    let _inside = JUDGING_METER.enter();
    RECORDED.fetch_add(1, SeqCst);
}

fn judged_by_the_group(error: &ApiError) -> bool {
    let overloaded = matches!(error, ApiError::Overloaded);
    if overloaded {
        record_overload();
    }
    overloaded
}

#[pooled::pooled(group = Judging, overload = judged_by_the_group)]
async fn judging(fail: bool) -> Result<u32, ApiError> {
    {
        let _inside = JUDGING_METER.enter();
        tokio::task::yield_now().await;
    }
    if fail {
        Err(ApiError::Overloaded)
    } else {
        Ok(1)
    }
}

/// Attacks "nothing hangs" and "never more than the limit" where the
/// library runs user code inside a call: the `overload` predicate of an
/// async fn in a group of 1 calls a sync function of the same group. The
/// predicate runs as part of the call (the slot is still the call's), so
/// the inner call must not wait for the slot its own call holds (the
/// reentrancy rule), on a multi-thread runtime where a sync call may wait.
/// Calls from several tasks all end, never two bodies at once.
#[test]
fn an_overload_predicate_calling_its_own_group_does_not_hang() {
    within(BOUND, || {
        let runtime = common::multi_thread();
        runtime.block_on(async {
            let calls: Vec<_> = (0..6).map(|i| tokio::spawn(judging(i % 2 == 0))).collect();
            for call in calls {
                let _ = call.await.unwrap();
            }
        });
    });
    assert_eq!(RECORDED.load(SeqCst), 3);
    assert!(JUDGING_METER.peak() <= 1, "peak {}", JUDGING_METER.peak());
    accounted(Judging::POOL);
}

// ---- sync barging against the handle, nesting and weights ---------------------

#[pooled::group(
    size = 2,
    order = "priority",
    sync_barging = "2ms",
    admission_timeout = "50ms"
)]
struct Barging;

static BARGING_METER: Meter = Meter::new();

#[pooled::pooled(group = Barging, weight = i64::from(n % 5))]
fn barging_leaf(n: u32) -> u32 {
    let _inside = BARGING_METER.enter();
    std::thread::sleep(Duration::from_micros(100));
    n
}

#[pooled::pooled(group = Barging, weight = -1)]
fn barging_fallible(n: u32) -> Result<u32, Rejected> {
    let _inside = BARGING_METER.enter();
    std::thread::sleep(Duration::from_micros(100));
    Ok(n)
}

#[pooled::pooled(group = Barging, weight = 3)]
fn barging_parent(n: u32) -> u32 {
    // Two nested calls, one after the other, under this call's slot.
    barging_leaf(n) + barging_fallible(n).unwrap_or(n)
}

#[pooled::pooled(group = Barging, weight = i64::MIN)]
async fn barging_async(n: u32) -> Result<u32, Rejected> {
    let _inside = BARGING_METER.enter();
    tokio::time::sleep(Duration::from_micros(100)).await;
    Ok(n)
}

/// Attacks "never more than the limit", "nothing hangs" and "nothing is
/// lost" in a priority group with sync barging and an admission timeout:
/// threads calling waiting, rejecting and nesting sync fns (with weights
/// at both ends), tasks calling an async fn, and a driver that resizes
/// between 1 and 3, pauses, resumes and scales. Never more than 3 bodies
/// at once; every never-rejecting call returns; rejecting ones end `Ok`,
/// `Paused` or `TimedOut`; the group accounts for every call.
#[test]
fn sync_barging_racing_the_handle_keeps_the_limit_and_loses_nothing() {
    within(Duration::from_secs(30), || {
        let stop = Arc::new(AtomicBool::new(false));
        let driver = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut i = 0usize;
                while !stop.load(SeqCst) {
                    match i % 5 {
                        0 => {
                            Barging::POOL.resize(1 + i % 3);
                        }
                        1 => Barging::POOL.pause(),
                        2 => Barging::POOL.resume(),
                        3 => {
                            Barging::POOL.scale(-1);
                        }
                        _ => {
                            Barging::POOL.scale(1);
                        }
                    }
                    if Barging::POOL.size() > 3 {
                        Barging::POOL.resize(3);
                    }
                    if Barging::POOL.size() == 0 {
                        Barging::POOL.resize(1);
                    }
                    i += 1;
                    std::thread::sleep(Duration::from_micros(300));
                }
                Barging::POOL.resume();
                Barging::POOL.resize(2);
            })
        };
        let threads: Vec<_> = (0..6)
            .map(|t| {
                std::thread::spawn(move || {
                    for n in 0..80 {
                        match t % 3 {
                            0 => assert_eq!(barging_leaf(n), n),
                            1 => assert_eq!(barging_parent(n), 2 * n),
                            _ => match barging_fallible(n) {
                                Ok(v) => assert_eq!(v, n),
                                Err(Rejected::Paused | Rejected::TimedOut) => {}
                                Err(other) => panic!("{other:?}"),
                            },
                        }
                    }
                })
            })
            .collect();
        let runtime = common::multi_thread();
        runtime.block_on(async {
            let tasks: Vec<_> = (0..150).map(|n| tokio::spawn(barging_async(n))).collect();
            for task in tasks {
                match task.await.unwrap() {
                    Ok(_) | Err(Rejected::Paused | Rejected::TimedOut) => {}
                    Err(other) => panic!("{other:?}"),
                }
            }
        });
        for t in threads {
            t.join().unwrap();
        }
        stop.store(true, SeqCst);
        driver.join().unwrap();
    });
    assert!(BARGING_METER.peak() <= 3, "peak {}", BARGING_METER.peak());
    accounted(Barging::POOL);
}

// ---- nested calls against the group's bounds -------------------------------------

#[pooled::group(size = 1, max_waiting = 0)]
struct Unqueued;

static UNQUEUED_METER: Meter = Meter::new();

#[pooled::pooled(group = Unqueued)]
async fn unqueued_leaf(hold: Duration) -> Result<u8, Rejected> {
    let _inside = UNQUEUED_METER.enter();
    tokio::time::sleep(hold).await;
    Ok(1)
}

#[pooled::pooled(group = Unqueued)]
async fn unqueued_parent(pause_midway: bool) -> Result<u8, Rejected> {
    let second = async {
        tokio::task::yield_now().await;
        if pause_midway {
            Unqueued::POOL.pause();
        }
        unqueued_leaf(Duration::ZERO).await
    };
    let (a, b) = futures::join!(unqueued_leaf(Duration::from_millis(50)), second);
    Unqueued::POOL.resume();
    Ok(a? + b?)
}

/// Attacks the reentrancy rule's promise that "pausing or closing the pool
/// and the waiting bound do not turn [nested calls waiting for the lent
/// slot] away": in a group of 1 with `max_waiting = 0`, a call joins two
/// nested calls of its group, so the second waits for the first to give
/// the slot back (once with the group paused meanwhile). Both nested calls
/// must run (`Ok`), never two bodies at once.
#[test]
fn a_nested_call_waiting_for_the_lent_slot_is_not_turned_away() {
    within(BOUND, || {
        let runtime = common::multi_thread();
        runtime.block_on(async {
            assert_eq!(unqueued_parent(false).await, Ok(2));
            assert_eq!(unqueued_parent(true).await, Ok(2));
        });
    });
    assert!(UNQUEUED_METER.peak() <= 1, "peak {}", UNQUEUED_METER.peak());
    accounted(Unqueued::POOL);
}

#[pooled::group(size = 1, admission_timeout = "20ms")]
struct Impatient;

static IMPATIENT_METER: Meter = Meter::new();

#[pooled::pooled(group = Impatient)]
async fn impatient_leaf(hold: Duration) -> Result<u8, Rejected> {
    let _inside = IMPATIENT_METER.enter();
    tokio::time::sleep(hold).await;
    Ok(1)
}

#[pooled::pooled(group = Impatient)]
async fn impatient_parent() -> Result<u8, Rejected> {
    let (a, b) = futures::join!(
        impatient_leaf(Duration::from_millis(100)),
        impatient_leaf(Duration::ZERO)
    );
    Ok(a? + b?)
}

/// Attacks the same rule with an admission timeout, whose outcome the
/// README states ("an admission timeout [turns them away] with `TimedOut`,
/// as it does every call that waits past it"): the second nested call waits
/// on the slot its sibling borrowed for longer than the group's 20 ms
/// timeout. It must come back `TimedOut` (not hang, not run beside its
/// sibling), the first `Ok`, and the group account for all three calls.
#[test]
fn a_nested_call_waiting_past_the_admission_timeout_is_timed_out() {
    within(BOUND, || {
        let runtime = common::multi_thread();
        runtime.block_on(async {
            assert_eq!(impatient_parent().await, Err(Rejected::TimedOut));
        });
    });
    assert!(
        IMPATIENT_METER.peak() <= 1,
        "peak {}",
        IMPATIENT_METER.peak()
    );
    let s = Impatient::POOL.stats();
    assert_eq!(
        (s.completed, s.rejected_for(Rejected::TimedOut)),
        (2, 1),
        "{s:?}"
    );
    accounted(Impatient::POOL);
}

// ---- a Drop that calls the group, on every cancellation path -----------------

#[pooled::group(size = 1)]
struct Dropping;

static DROPPING_METER: Meter = Meter::new();
static DROP_CALLS: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(group = Dropping)]
fn dropping_sync() {
    let _inside = DROPPING_METER.enter();
    DROP_CALLS.fetch_add(1, SeqCst);
}

/// Calls a sync function of `Dropping` when dropped.
struct CallsOnDrop;

impl Drop for CallsOnDrop {
    fn drop(&mut self) {
        dropping_sync();
    }
}

#[pooled::pooled(group = Dropping)]
async fn dropping_async(guard: CallsOnDrop, hold: Duration) {
    let _guard = guard;
    {
        let _inside = DROPPING_METER.enter();
        tokio::time::sleep(hold).await;
    }
}

/// Attacks "a dropped waiting call leaves the queue at once" and "nothing
/// hangs": in a group of 1 whose slot another call holds for 60 ms, an
/// async call is dropped while it waits (a 10 ms `timeout`), and its
/// argument's `Drop` calls a sync function of the same group. That call
/// is an ordinary one (not nested: its caller never held a slot) and must
/// run once the holder ends. Instead the dropped call is still in the
/// queue while its work is dropped (its stats still count it waiting), so
/// the holder's slot goes to it, and it cannot leave until the call in its
/// `Drop` returns: both wait for good.
#[test]
fn a_waiting_async_calls_drop_may_call_its_group() {
    within(BOUND, || {
        let runtime = common::multi_thread();
        runtime.block_on(async {
            let holder = tokio::spawn(dropping_async(CallsOnDrop, Duration::from_millis(60)));
            while Dropping::POOL.stats().running == 0 {
                tokio::task::yield_now().await;
            }
            let waiting = dropping_async(CallsOnDrop, Duration::ZERO);
            assert!(tokio::time::timeout(Duration::from_millis(10), waiting)
                .await
                .is_err());
            holder.await.unwrap();
        });
    });
    assert_eq!(DROP_CALLS.load(SeqCst), 2);
    assert!(DROPPING_METER.peak() <= 1, "peak {}", DROPPING_METER.peak());
    accounted(Dropping::POOL);
}

#[pooled::group(size = 1)]
struct DroppingReturned;

static DROPPING_RETURNED_METER: Meter = Meter::new();
static DROP_RETURNED_CALLS: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(group = DroppingReturned)]
fn dropping_returned_sync() {
    let _inside = DROPPING_RETURNED_METER.enter();
    DROP_RETURNED_CALLS.fetch_add(1, SeqCst);
}

/// Calls a sync function of `DroppingReturned` when dropped.
struct CallsReturnedOnDrop;

impl Drop for CallsReturnedOnDrop {
    fn drop(&mut self) {
        dropping_returned_sync();
    }
}

#[pooled::pooled(group = DroppingReturned)]
fn returned_with_guard(
    guard: CallsReturnedOnDrop,
    hold: Duration,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        let _guard = guard;
        let _inside = DROPPING_RETURNED_METER.enter();
        tokio::time::sleep(hold).await;
    })
}

/// As [`a_waiting_async_calls_drop_may_call_its_group`], for a function
/// returning `Pin<Box<dyn Future>>`: the future it built is dropped while
/// the returned future waits for a slot, and the built future's `Drop`
/// calls a sync function of the same group, which must run once the
/// holder ends.
#[test]
fn a_waiting_returned_futures_drop_may_call_its_group() {
    within(BOUND, || {
        let runtime = common::multi_thread();
        runtime.block_on(async {
            let holder = tokio::spawn(returned_with_guard(
                CallsReturnedOnDrop,
                Duration::from_millis(60),
            ));
            while DroppingReturned::POOL.stats().running == 0 {
                tokio::task::yield_now().await;
            }
            let waiting = returned_with_guard(CallsReturnedOnDrop, Duration::ZERO);
            assert!(tokio::time::timeout(Duration::from_millis(10), waiting)
                .await
                .is_err());
            holder.await.unwrap();
        });
    });
    assert_eq!(DROP_RETURNED_CALLS.load(SeqCst), 2);
    assert!(
        DROPPING_RETURNED_METER.peak() <= 1,
        "peak {}",
        DROPPING_RETURNED_METER.peak()
    );
    accounted(DroppingReturned::POOL);
}

#[pooled::group(size = 1)]
struct DroppingRunning;

static DROPPING_RUNNING_METER: Meter = Meter::new();
static DROP_RUNNING_CALLS: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(group = DroppingRunning)]
fn dropping_running_sync() {
    let _inside = DROPPING_RUNNING_METER.enter();
    DROP_RUNNING_CALLS.fetch_add(1, SeqCst);
}

/// Calls a sync function of `DroppingRunning` when dropped.
struct CallsRunningOnDrop;

impl Drop for CallsRunningOnDrop {
    fn drop(&mut self) {
        dropping_running_sync();
    }
}

#[pooled::pooled(group = DroppingRunning)]
async fn running_with_guard(guard: CallsRunningOnDrop, hold: Duration) {
    let _guard = guard;
    {
        let _inside = DROPPING_RUNNING_METER.enter();
        tokio::time::sleep(hold).await;
    }
}

#[pooled::pooled(group = DroppingRunning)]
fn running_returned_with_guard(
    guard: CallsRunningOnDrop,
    hold: Duration,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        let _guard = guard;
        let _inside = DROPPING_RUNNING_METER.enter();
        tokio::time::sleep(hold).await;
    })
}

/// Attacks "nothing hangs" and "never more than the limit" on the README's
/// promise for running calls: "When a running call is cancelled, its work
/// is dropped under its slot, so a `Drop` that calls the same pool runs as
/// a nested call". An async call and a future-returning call of a group of
/// 1, each with an argument whose `Drop` calls a sync function of the
/// group, are dropped while they run (a `timeout`, and a spawned task
/// aborted): all end, never two bodies at once, and the pool still admits.
#[test]
fn a_running_calls_drop_may_call_its_group() {
    within(BOUND, || {
        let runtime = common::multi_thread();
        runtime.block_on(async {
            let short = Duration::from_millis(10);
            let long = Duration::from_millis(60);
            assert!(
                tokio::time::timeout(short, running_with_guard(CallsRunningOnDrop, long))
                    .await
                    .is_err()
            );
            assert!(tokio::time::timeout(
                short,
                running_returned_with_guard(CallsRunningOnDrop, long)
            )
            .await
            .is_err());
            let a = tokio::spawn(running_with_guard(CallsRunningOnDrop, long));
            tokio::time::sleep(short).await;
            a.abort();
            let _ = a.await;
            let b = tokio::spawn(running_returned_with_guard(CallsRunningOnDrop, long));
            tokio::time::sleep(short).await;
            b.abort();
            let _ = b.await;
            tokio::time::timeout(
                BOUND,
                running_with_guard(CallsRunningOnDrop, Duration::ZERO),
            )
            .await
            .expect("admitted");
        });
    });
    assert_eq!(DROP_RUNNING_CALLS.load(SeqCst), 5);
    assert!(
        DROPPING_RUNNING_METER.peak() <= 1,
        "peak {}",
        DROPPING_RUNNING_METER.peak()
    );
    accounted(DroppingRunning::POOL);
}

#[pooled::group(size = 1, admission_timeout = "10ms")]
struct DroppingOthers;

static DROP_OTHER_CALLS: AtomicUsize = AtomicUsize::new(0);
static DROPPING_OTHERS_METER: Meter = Meter::new();

#[pooled::pooled(group = DroppingOthers, wait)]
fn dropping_other_sync() {
    let _inside = DROPPING_OTHERS_METER.enter();
    DROP_OTHER_CALLS.fetch_add(1, SeqCst);
}

/// Calls a sync function of `DroppingOthers` when dropped.
struct CallsOtherOnDrop;

impl Drop for CallsOtherOnDrop {
    fn drop(&mut self) {
        dropping_other_sync();
    }
}

#[pooled::pooled(group = DroppingOthers)]
fn timed_out_sync(guard: CallsOtherOnDrop, hold: Duration) -> Result<(), Rejected> {
    let _guard = guard;
    let _inside = DROPPING_OTHERS_METER.enter();
    std::thread::sleep(hold);
    Ok(())
}

#[pooled::pooled(group = DroppingOthers, blocking, wait)]
fn walked_away_blocking(guard: CallsOtherOnDrop, hold: Duration) {
    let _guard = guard;
    let _inside = DROPPING_OTHERS_METER.enter();
    std::thread::sleep(hold);
}

/// The sync and blocking forms of the attack of
/// [`a_waiting_async_calls_drop_may_call_its_group`]: a sync call that
/// times out while it waits, and a blocking call whose caller walks away
/// while it waits, each with an argument whose `Drop` calls a sync
/// function of the same group of 1. Each `Drop`'s call must run once the
/// holder ends.
#[test]
fn a_waiting_sync_or_blocking_calls_drop_may_call_its_group() {
    within(BOUND, || {
        let holder =
            std::thread::spawn(|| timed_out_sync(CallsOtherOnDrop, Duration::from_millis(60)));
        while DroppingOthers::POOL.stats().running == 0 {
            std::thread::yield_now();
        }
        assert_eq!(
            timed_out_sync(CallsOtherOnDrop, Duration::ZERO),
            Err(Rejected::TimedOut)
        );
        assert_eq!(holder.join().unwrap(), Ok(()));
        let runtime = common::multi_thread();
        runtime.block_on(async {
            let holder = tokio::spawn(walked_away_blocking(
                CallsOtherOnDrop,
                Duration::from_millis(60),
            ));
            while DroppingOthers::POOL.stats().running == 0 {
                tokio::task::yield_now().await;
            }
            let waiting = walked_away_blocking(CallsOtherOnDrop, Duration::ZERO);
            assert!(tokio::time::timeout(Duration::from_millis(10), waiting)
                .await
                .is_err());
            holder.await.unwrap();
        });
    });
    assert_eq!(DROP_OTHER_CALLS.load(SeqCst), 4);
    assert!(
        DROPPING_OTHERS_METER.peak() <= 1,
        "peak {}",
        DROPPING_OTHERS_METER.peak()
    );
    accounted(DroppingOthers::POOL);
}

// ---- a Drop that panics when a call is cancelled ------------------------------

#[pooled::group(size = 1)]
struct PanickyDrop;

static PANICKY_DROP_METER: Meter = Meter::new();

/// Panics when dropped (unless already unwinding).
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("a cancelled call's argument panics in drop");
        }
    }
}

#[pooled::pooled(group = PanickyDrop)]
async fn panicky_drop(guard: Option<PanicsOnDrop>, hold: Duration) -> u8 {
    let _guard = guard;
    let _inside = PANICKY_DROP_METER.enter();
    tokio::time::sleep(hold).await;
    1
}

/// Attacks "the slot comes back" and "nothing is lost" when a cancelled
/// call's work panics as it is dropped: an async call of a group of 1 is
/// dropped while it runs, and another while it waits, each with an argument
/// whose `Drop` panics. The panics reach the tasks that dropped them; the
/// slot must come back (the next calls run) and the group account for
/// every call.
#[test]
fn a_cancelled_calls_work_panicking_in_drop_frees_the_slot() {
    within(BOUND, || {
        let runtime = common::multi_thread();
        runtime.block_on(async {
            let short = Duration::from_millis(10);
            let long = Duration::from_millis(50);
            let running = tokio::spawn(async move {
                let _ = tokio::time::timeout(short, panicky_drop(Some(PanicsOnDrop), long)).await;
            });
            assert!(running.await.is_err(), "the drop's panic reaches its task");
            let holder = tokio::spawn(panicky_drop(None, long));
            while PanickyDrop::POOL.stats().running == 0 {
                tokio::task::yield_now().await;
            }
            let waiting = tokio::spawn(async move {
                let _ = tokio::time::timeout(short, panicky_drop(Some(PanicsOnDrop), long)).await;
            });
            assert!(waiting.await.is_err(), "the drop's panic reaches its task");
            assert_eq!(holder.await.unwrap(), 1);
            let next = tokio::time::timeout(BOUND, panicky_drop(None, Duration::ZERO)).await;
            assert_eq!(next.expect("the slot came back"), 1);
        });
    });
    assert!(
        PANICKY_DROP_METER.peak() <= 1,
        "peak {}",
        PANICKY_DROP_METER.peak()
    );
    let s = PanickyDrop::POOL.stats();
    // (A running call whose work panics as it is cancelled is counted as
    // panicked, which `completed` includes; a waiting one as cancelled.)
    assert_eq!(s.completed + s.cancelled, 4, "{s:?}");
    accounted(PanickyDrop::POOL);
}

// ---- nested calls carried out of their parent ----------------------------------

#[pooled::group(size = 1)]
struct Carried;

static CARRIED_METER: Meter = Meter::new();

type Boxed = std::pin::Pin<Box<dyn std::future::Future<Output = u8> + Send>>;

#[pooled::pooled(group = Carried)]
async fn carried_leaf(hold: Option<tokio::sync::oneshot::Receiver<()>>) -> u8 {
    let _inside = CARRIED_METER.enter();
    if let Some(hold) = hold {
        let _ = hold.await;
    }
    1
}

#[pooled::pooled(group = Carried)]
async fn carrying_parent(
    hold: tokio::sync::oneshot::Receiver<()>,
    out: std::sync::mpsc::Sender<Boxed>,
) {
    // The first nested call borrows this call's slot; the second waits for
    // it. Both are first polled here, then carried off, still unfinished,
    // to other tasks, and the parent ends.
    let mut first: Boxed = Box::pin(carried_leaf(Some(hold)));
    let mut second: Boxed = Box::pin(carried_leaf(None));
    assert!(futures::poll!(first.as_mut()).is_pending());
    assert!(futures::poll!(second.as_mut()).is_pending());
    out.send(first).unwrap();
    out.send(second).unwrap();
}

/// Attacks "never more than the limit", "nothing hangs" and "nothing is
/// lost" with nested calls carried out of their parent: in a group of 1, a
/// call starts one nested call (it borrows the slot) and a second (it waits
/// for the borrowed slot), hands both, unfinished, to other tasks and ends.
/// A top-level call then arrives; once the first nested call ends, the
/// waiting one and the top-level one each run, one at a time. Once more
/// with the waiting nested call dropped after its parent ended.
#[test]
fn nested_calls_carried_out_of_their_parent_keep_the_limit() {
    within(BOUND, || {
        let runtime = common::multi_thread();
        runtime.block_on(async {
            for drop_second in [false, true] {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let (out, carried) = std::sync::mpsc::channel();
                carrying_parent(rx, out).await;
                let first = tokio::spawn(carried.recv().unwrap());
                let second = carried.recv().unwrap();
                let second = if drop_second {
                    drop(second);
                    None
                } else {
                    Some(tokio::spawn(second))
                };
                let top = tokio::spawn(carried_leaf(None));
                tokio::time::sleep(Duration::from_millis(10)).await;
                assert_eq!(CARRIED_METER.now(), 1, "only the first nested call runs");
                tx.send(()).unwrap();
                assert_eq!(first.await.unwrap(), 1);
                if let Some(second) = second {
                    assert_eq!(second.await.unwrap(), 1);
                }
                assert_eq!(top.await.unwrap(), 1);
            }
        });
    });
    assert!(CARRIED_METER.peak() <= 1, "peak {}", CARRIED_METER.peak());
    accounted(Carried::POOL);
}

// ---- select! losers cancelled at every await --------------------------------

#[pooled::group(size = 2)]
struct Selected;

static SELECTED_METER: Meter = Meter::new();

#[pooled::pooled(group = Selected)]
async fn selected_leaf(steps: u32) -> Result<u32, Rejected> {
    let _inside = SELECTED_METER.enter();
    for _ in 0..steps {
        tokio::task::yield_now().await;
    }
    Ok(steps)
}

#[pooled::pooled(group = Selected)]
async fn selecting_parent(seed: u32) -> u32 {
    let mut won = 0;
    for round in 0..8 {
        let a = (seed + round) % 4;
        let b = (seed * 7 + round * 3) % 5;
        // Two nested calls race; the loser is dropped wherever it is:
        // waiting for the borrowed slot, or running under it.
        tokio::select! {
            out = selected_leaf(a) => won += out.unwrap_or(0),
            out = selected_leaf(b) => won += out.unwrap_or(0),
        }
        if round % 3 == 0 {
            // And a nested call dropped at a random point by a timer.
            let _ = tokio::time::timeout(
                Duration::from_micros(u64::from(seed % 50)),
                selected_leaf(a + b),
            )
            .await;
        }
    }
    won
}

/// Attacks "never more than the limit", "nothing hangs" and "nothing is
/// lost" under cancellation at every await: 24 tasks each run a call of a
/// group of 2 whose body races pairs of nested calls with `select!` (the
/// loser dropped while it waits for the borrowed slot or while it runs
/// under it) and cuts others short with timers; top-level leaves run
/// beside them. Never more than 2 leaf bodies at once; every call ends;
/// the group accounts for every call, with nothing left in flight.
#[test]
fn select_losers_cancelled_at_every_await_keep_the_limit() {
    within(Duration::from_secs(30), || {
        let runtime = common::multi_thread();
        runtime.block_on(async {
            let parents: Vec<_> = (0..24).map(|i| tokio::spawn(selecting_parent(i))).collect();
            let leaves: Vec<_> = (0..24)
                .map(|i| tokio::spawn(selected_leaf(i % 3)))
                .collect();
            for p in parents {
                p.await.unwrap();
            }
            for l in leaves {
                assert!(l.await.unwrap().is_ok());
            }
        });
    });
    assert!(SELECTED_METER.peak() <= 2, "peak {}", SELECTED_METER.peak());
    accounted(Selected::POOL);
}

// ---- a waker that calls the handle ----------------------------------------------

#[pooled::group(size = 1)]
struct Waking;

static WAKING_METER: Meter = Meter::new();

#[pooled::pooled(group = Waking)]
async fn waking_async() -> u8 {
    let _inside = WAKING_METER.enter();
    1
}

#[pooled::pooled(group = Waking)]
fn waking_sync(hold: Duration) -> u8 {
    let _inside = WAKING_METER.enter();
    std::thread::sleep(hold);
    2
}

/// A waker (user code an executor supplies) that uses the group's handle
/// when woken, then unparks the polling thread.
struct HandleWaker {
    thread: std::thread::Thread,
    woken: AtomicUsize,
}

impl futures::task::ArcWake for HandleWaker {
    fn wake_by_ref(this: &Arc<Self>) {
        let _ = Waking::POOL.stats();
        let size = Waking::POOL.size();
        Waking::POOL.resize(size.max(1));
        this.woken.fetch_add(1, SeqCst);
        this.thread.unpark();
    }
}

/// Polls `fut` on this thread with a [`HandleWaker`] until it is ready.
fn poll_with_handle_waker<F: std::future::Future>(fut: F) -> F::Output {
    let waker = Arc::new(HandleWaker {
        thread: std::thread::current(),
        woken: AtomicUsize::new(0),
    });
    let task_waker = futures::task::waker(waker.clone());
    let mut cx = std::task::Context::from_waker(&task_waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

/// Attacks "no library lock is held while user code runs" at the wakers
/// the library wakes: an async call of a group of 1 waits, polled by an
/// executor whose waker reads and resizes the group's handle when woken.
/// The slot frees three ways (another call ends; the group is resized
/// from 0; the group is resumed), each waking the waiter; none may freeze
/// the thread that wakes it, and the call runs each time.
#[test]
fn a_waker_that_uses_the_handle_does_not_freeze_the_waking_thread() {
    within(BOUND, || {
        // Freed by a call that ends.
        let holder = std::thread::spawn(|| waking_sync(Duration::from_millis(30)));
        while Waking::POOL.stats().running == 0 {
            std::thread::yield_now();
        }
        assert_eq!(poll_with_handle_waker(waking_async()), 1);
        assert_eq!(holder.join().unwrap(), 2);
        // Freed by a resize from 0.
        Waking::POOL.resize(0);
        let resizer = std::thread::spawn(|| {
            while Waking::POOL.stats().waiting == 0 {
                std::thread::yield_now();
            }
            Waking::POOL.resize(1);
        });
        assert_eq!(poll_with_handle_waker(waking_async()), 1);
        resizer.join().unwrap();
        // Freed by a resume.
        Waking::POOL.pause();
        let resumer = std::thread::spawn(|| {
            while Waking::POOL.stats().waiting == 0 {
                std::thread::yield_now();
            }
            Waking::POOL.resume();
        });
        assert_eq!(poll_with_handle_waker(waking_async()), 1);
        resumer.join().unwrap();
    });
    assert!(WAKING_METER.peak() <= 1, "peak {}", WAKING_METER.peak());
    accounted(Waking::POOL);
}

#[pooled::group(size = 1)]
struct PanickyWaking;

static PANICKY_WAKING_METER: Meter = Meter::new();

#[pooled::pooled(group = PanickyWaking)]
async fn panicky_waking_async() -> u8 {
    let _inside = PANICKY_WAKING_METER.enter();
    1
}

#[pooled::pooled(group = PanickyWaking)]
fn panicky_waking_sync(hold: Duration) -> u8 {
    let _inside = PANICKY_WAKING_METER.enter();
    std::thread::sleep(hold);
    2
}

/// A waker that panics the first time it is woken.
struct PanickyWaker {
    thread: std::thread::Thread,
    armed: AtomicBool,
}

impl futures::task::ArcWake for PanickyWaker {
    fn wake_by_ref(this: &Arc<Self>) {
        this.thread.unpark();
        if this.armed.swap(false, SeqCst) {
            panic!("a waker panics");
        }
    }
}

/// Attacks "the slot comes back", "nothing hangs" and "nothing is lost"
/// when user code the library runs on release panics: a waiting async
/// call's waker panics when the holder's sync call ends and hands it the
/// slot. The panic may reach the releasing caller (it is user code), but
/// the waiter must still run, later calls too, and the group account for
/// every call.
#[test]
fn a_waker_panicking_on_release_loses_no_slot() {
    within(BOUND, || {
        let holder = std::thread::spawn(|| {
            catch_unwind(AssertUnwindSafe(|| {
                panicky_waking_sync(Duration::from_millis(30))
            }))
        });
        while PanickyWaking::POOL.stats().running == 0 {
            std::thread::yield_now();
        }
        let waker = Arc::new(PanickyWaker {
            thread: std::thread::current(),
            armed: AtomicBool::new(true),
        });
        let task_waker = futures::task::waker(waker);
        let mut cx = std::task::Context::from_waker(&task_waker);
        let mut fut = std::pin::pin!(panicky_waking_async());
        let out = loop {
            if let std::task::Poll::Ready(out) = std::future::Future::poll(fut.as_mut(), &mut cx) {
                break out;
            }
            std::thread::park_timeout(Duration::from_millis(20));
        };
        assert_eq!(out, 1);
        let _ = holder.join().unwrap();
        for _ in 0..3 {
            assert_eq!(panicky_waking_sync(Duration::ZERO), 2);
            assert_eq!(futures::executor::block_on(panicky_waking_async()), 1);
        }
    });
    assert!(
        PANICKY_WAKING_METER.peak() <= 1,
        "peak {}",
        PANICKY_WAKING_METER.peak()
    );
    accounted(PanickyWaking::POOL);
}

// ---- sync calls on a current-thread runtime that need not wait ---------------

#[pooled::group(size = 1, max_waiting = 0)]
struct NeverWait;

#[pooled::pooled(group = NeverWait)]
fn never_wait_sync() -> Result<u8, Rejected> {
    Ok(1)
}

#[pooled::pooled(group = NeverWait)]
async fn never_wait_holder(hold: tokio::sync::oneshot::Receiver<()>) {
    let _ = hold.await;
}

/// Attacks "bad input is an error value, never a panic": on a
/// current-thread runtime a sync call that would have to wait panics (the
/// documented fix-naming panic), but one that is turned away at once never
/// waits: a paused group's call and a full group's call (`max_waiting = 0`)
/// of a sync `Result` function must come back as `Err(Paused)` and
/// `Err(Full)`, not as that panic.
#[test]
fn a_sync_call_turned_away_at_once_on_a_current_thread_runtime_is_an_error() {
    within(BOUND, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            NeverWait::POOL.pause();
            assert_eq!(never_wait_sync(), Err(Rejected::Paused));
            NeverWait::POOL.resume();
            assert_eq!(never_wait_sync(), Ok(1));
            let (tx, rx) = tokio::sync::oneshot::channel();
            let holder = tokio::spawn(never_wait_holder(rx));
            while NeverWait::POOL.stats().running == 0 {
                tokio::task::yield_now().await;
            }
            assert_eq!(never_wait_sync(), Err(Rejected::Full));
            tx.send(()).unwrap();
            holder.await.unwrap();
        });
    });
    accounted(NeverWait::POOL);
}

// ---- bounds at their extremes ------------------------------------------------------

#[pooled::pooled(size = 1, admission_timeout = "5124095h", max_waiting = 1073741823)]
fn far_bounds_sync(hold: Duration) -> Result<u8, Rejected> {
    std::thread::sleep(hold);
    Ok(1)
}

#[pooled::pooled(size = 1, admission_timeout = "5124095h", max_waiting = 1073741823)]
async fn far_bounds_async(hold: Duration) -> Result<u8, Rejected> {
    tokio::time::sleep(hold).await;
    Ok(1)
}

/// Attacks "bad input is never a panic" at the far ends of the bounds the
/// attribute accepts: an admission timeout of about 584 years (the most
/// nanoseconds a `u64` holds) and the largest waiting bound (`MAX_SLOTS`), on calls
/// that do have to wait (a deadline computed by adding the timeout to
/// `Instant::now()` without care would overflow). Every call runs.
#[test]
fn the_farthest_bounds_are_waited_under_without_a_panic() {
    within(BOUND, || {
        let holder = std::thread::spawn(|| far_bounds_sync(Duration::from_millis(30)));
        while FAR_BOUNDS_SYNC_POOL.stats().running == 0 {
            std::thread::yield_now();
        }
        assert_eq!(far_bounds_sync(Duration::ZERO), Ok(1));
        assert_eq!(holder.join().unwrap(), Ok(1));
        let runtime = common::multi_thread();
        runtime.block_on(async {
            let holder = tokio::spawn(far_bounds_async(Duration::from_millis(30)));
            while FAR_BOUNDS_ASYNC_POOL.stats().running == 0 {
                tokio::task::yield_now().await;
            }
            assert_eq!(far_bounds_async(Duration::ZERO).await, Ok(1));
            assert_eq!(holder.await.unwrap(), Ok(1));
        });
    });
    accounted(FAR_BOUNDS_SYNC_POOL);
    accounted(FAR_BOUNDS_ASYNC_POOL);
}

#[pooled::group(size = 1, admission_timeout = "40ms")]
struct Untokioed;

#[pooled::pooled(group = Untokioed)]
fn untokioed_sync(hold: Duration) -> Result<u8, Rejected> {
    std::thread::sleep(hold);
    Ok(1)
}

#[pooled::pooled(group = Untokioed)]
async fn untokioed_async() -> Result<u8, Rejected> {
    Ok(2)
}

/// Attacks "one pool serves every runtime" (DESIGN: the same global pool
/// works "from `futures::executor::block_on`, and from plain threads")
/// where a timer is needed: an async function of a group with an admission
/// timeout waits for a slot under `futures::executor::block_on` on a plain
/// thread, with no tokio runtime anywhere on it, first for less than the
/// timeout (it runs), then for more (`Err(TimedOut)`), never a "no reactor
/// running" panic.
#[test]
fn an_admission_timeout_works_under_futures_block_on() {
    within(BOUND, || {
        for (hold, expected) in [(10, Ok(2)), (150, Err(Rejected::TimedOut))] {
            let holder = std::thread::spawn(move || untokioed_sync(Duration::from_millis(hold)));
            while Untokioed::POOL.stats().running == 0 {
                std::thread::yield_now();
            }
            assert_eq!(futures::executor::block_on(untokioed_async()), expected);
            assert_eq!(holder.join().unwrap(), Ok(1));
        }
    });
    accounted(Untokioed::POOL);
}

// ---- an autoscaler re-evaluating all the time ------------------------------------

static ELASTIC_METER: Meter = Meter::new();
static ELASTIC_ASYNC_METER: Meter = Meter::new();

#[pooled::pooled(
    kind = "autoscale",
    order = "priority",
    min = 1,
    max = 3,
    autoscale_interval = "1ms",
    autoscale_window = 1
)]
fn elastic_sync(#[weight] w: i64) -> i64 {
    let _inside = ELASTIC_METER.enter();
    std::thread::sleep(Duration::from_micros(300));
    w
}

#[pooled::pooled(
    kind = "autoscale",
    order = "priority",
    min = 1,
    max = 3,
    autoscale_interval = "1ms",
    autoscale_window = 1
)]
async fn elastic_async(#[weight] w: i64) -> i64 {
    let _inside = ELASTIC_ASYNC_METER.enter();
    tokio::time::sleep(Duration::from_micros(300)).await;
    w
}

/// Attacks "never more than the limit" while an autoscaler moves the limit
/// every millisecond (queue-depth rule, window of one sample) between 1 and
/// 3, from bursts of sync calls on threads and async calls on tasks with
/// weights at both ends of `i64`, with idle gaps between bursts (so it
/// shrinks as well as grows): never more than 3 bodies of a pool at once,
/// and every call accounted for.
#[test]
fn an_autoscaler_moving_every_millisecond_keeps_max() {
    within(Duration::from_secs(30), || {
        let runtime = common::multi_thread();
        for burst in 0..4i64 {
            let threads: Vec<_> = (0..6i64)
                .map(|t| {
                    std::thread::spawn(move || {
                        for n in 0..15i64 {
                            let w = if (t + n) % 2 == 0 {
                                i64::MIN + n
                            } else {
                                i64::MAX - n
                            };
                            assert_eq!(elastic_sync(w), w);
                        }
                    })
                })
                .collect();
            runtime.block_on(async {
                let tasks: Vec<_> = (0..60i64)
                    .map(|n| tokio::spawn(elastic_async(n * burst)))
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            });
            for t in threads {
                t.join().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    assert!(ELASTIC_METER.peak() <= 3, "peak {}", ELASTIC_METER.peak());
    assert!(
        ELASTIC_ASYNC_METER.peak() <= 3,
        "peak {}",
        ELASTIC_ASYNC_METER.peak()
    );
    assert!(ELASTIC_SYNC_POOL.size() <= 3 && ELASTIC_ASYNC_POOL.size() <= 3);
    accounted(ELASTIC_SYNC_POOL);
    accounted(ELASTIC_ASYNC_POOL);
}
