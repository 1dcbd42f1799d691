//! Acceptance tests of the attribute, round 14: what `#[pooled]` and
//! `#[pooled::group]` promise in their docs (`pool-macros/src/lib.rs`) and
//! in the README's attribute section — every documented key and its default
//! at run time, the generated handles, rejections through the function's own
//! error type and the functions that wait instead, order keys, weights
//! evaluated before the wait, functions returning futures, nested calls
//! between functions of one group, sync functions on multi-thread tokio
//! workers, method and generic shapes, `blocking` and `executor`. Bodies are
//! counted from outside the library; waits are bounded only to turn a hang
//! into a failure.
// Some of its groups run on rayon (`executor = "rayon"` needs the feature
// to compile): the file runs with both features, as `.ci/test` builds it.
#![cfg(all(feature = "tokio", feature = "rayon"))]

mod common;
use common::{multi_thread as runtime, within, Meter};
use pooled::{ExecutorKind, Kind, Order, Rejected, ScalePolicy};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Waits (bounded) until `cond` holds.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..20_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("never happened: {what}");
}

/// The error type of the functions below: rejections arrive through `From`.
#[derive(Debug, PartialEq)]
enum AppError {
    Busy(Rejected),
}

impl From<Rejected> for AppError {
    fn from(rejected: Rejected) -> Self {
        AppError::Busy(rejected)
    }
}

// ---- defaults and keys ------------------------------------------------------

static PLAIN_METER: Meter = Meter::new();

#[pooled::pooled]
async fn plain() {
    let _inside = PLAIN_METER.enter();
    tokio::time::sleep(Duration::from_millis(5)).await;
}

/// Keys table: `kind` default `"fixed"`, `order` default `"fifo"`, `size`
/// default 3, `max_waiting` unbounded, `admission_timeout` none,
/// `sync_barging` off, `autoscale_interval` `"10s"`, `autoscale_window` 20,
/// `policy` `"queue_depth"`, `executor` `"default"`, `name`
/// `"<module path>::<fn name>"`.
#[test]
fn an_attribute_without_keys_is_a_fixed_fifo_pool_of_three_with_the_documented_defaults() {
    let s = PLAIN_POOL.spec().settings();
    assert_eq!(s.kind, Kind::Fixed);
    assert_eq!(s.order, Order::Fifo);
    assert_eq!(s.max_waiting, None);
    assert_eq!(s.admission_timeout, None);
    assert_eq!(s.sync_barging, None);
    assert_eq!(s.autoscale.interval, Duration::from_secs(10));
    assert_eq!(s.autoscale.window, 20);
    assert!(matches!(s.policy, ScalePolicy::QueueDepth));
    assert_eq!(s.executor, ExecutorKind::Default);
    assert_eq!(PLAIN_POOL.name(), "acceptance_round14::plain");
    assert_eq!(PLAIN_POOL.size(), 3);
    runtime().block_on(async {
        let calls: Vec<_> = (0..12).map(|_| tokio::spawn(plain())).collect();
        for call in calls {
            call.await.unwrap();
        }
    });
    assert_eq!(PLAIN_METER.done(), 12);
    assert!(PLAIN_METER.peak() <= 3, "peak {}", PLAIN_METER.peak());
    let stats = PLAIN_POOL.stats();
    assert_eq!((stats.completed, stats.running, stats.waiting), (12, 0, 0));
}

#[pooled::pooled(kind = "autoscale")]
async fn auto_default() {}

#[pooled::pooled(kind = "autoscale", max = 2)]
async fn auto_small_max() {}

#[pooled::pooled(kind = "autoscale", min = 0, max = 4)]
async fn auto_min_zero() {}

#[pooled::pooled(kind = "autoscale", min = 4)]
async fn auto_min_four() {}

#[pooled::pooled(kind = "autoscale", min = 2, max = 10, size = 5)]
async fn auto_sized() {}

/// Keys table: `min` default "3, or `max` if smaller"; `max` default
/// "`min + 5`"; `size` "where an autoscale pool starts (within
/// `min..=max`; default `min`, or 1 if `min` is 0)".
#[test]
fn autoscale_defaults_bounds_and_starting_size_follow_the_keys_table() {
    let cases: [(&pooled::Group, (usize, usize), usize); 5] = [
        (AUTO_DEFAULT_POOL, (3, 8), 3),
        (AUTO_SMALL_MAX_POOL, (2, 2), 2),
        (AUTO_MIN_ZERO_POOL, (0, 4), 1),
        (AUTO_MIN_FOUR_POOL, (4, 9), 4),
        (AUTO_SIZED_POOL, (2, 10), 5),
    ];
    for (group, bounds, start) in cases {
        assert_eq!(group.settings().bounds(), bounds, "{}", group.name());
        assert_eq!(group.pool().bounds(), bounds, "{}", group.name());
        assert_eq!(group.size(), start, "{}", group.name());
        assert_eq!(group.settings().starting_size(), start, "{}", group.name());
    }
    futures::executor::block_on(async {
        auto_default().await;
        auto_small_max().await;
        auto_min_zero().await;
        auto_min_four().await;
        auto_sized().await;
    });
    assert_eq!(AUTO_DEFAULT_POOL.stats().completed, 1);
}

/// One group declaring every pool key the docs list for `#[pooled::group]`.
#[pooled::group(
    kind = "autoscale",
    order = "priority",
    min = 2,
    max = 6,
    size = 4,
    max_waiting = 7,
    admission_timeout = "1m30s",
    sync_barging = "250us",
    autoscale_interval = "5s",
    autoscale_window = 7,
    policy = "adaptive",
    adaptive_window_samples = 20,
    adaptive_window_time = "50ms",
    adaptive_tolerance = 1.5,
    adaptive_smoothing = 0.5,
    adaptive_baseline_interval = "1m",
    adaptive_backoff = 0.7,
    adaptive_drop_tolerance = 0.1,
    executor = "rayon",
    name = "acceptance14::every_key"
)]
struct EveryKey;

/// `#[pooled::group]` "takes the pool keys of `#[pooled]`": each one reaches
/// the group's settings and its running pool, durations parsed as
/// documented (`"1m30s"`, `"250us"`).
#[cfg(feature = "rayon")]
#[test]
fn every_documented_group_key_reaches_the_settings_and_the_running_pool() {
    let expected = |s: pooled::GroupSettings| {
        assert_eq!(s.kind, Kind::Autoscale);
        assert_eq!(s.order, Order::Priority);
        assert_eq!((s.min, s.max, s.size), (Some(2), Some(6), Some(4)));
        assert_eq!(s.max_waiting, Some(7));
        assert_eq!(s.admission_timeout, Some(Duration::from_secs(90)));
        assert_eq!(s.sync_barging, Some(Duration::from_micros(250)));
        assert_eq!(s.autoscale.interval, Duration::from_secs(5));
        assert_eq!(s.autoscale.window, 7);
        let ScalePolicy::Adaptive(a) = s.policy else {
            panic!("not adaptive: {:?}", s.policy)
        };
        assert_eq!(a.window_samples, 20);
        assert_eq!(a.window_time, Duration::from_millis(50));
        assert_eq!(a.tolerance, 1.5);
        assert_eq!(a.smoothing, 0.5);
        assert_eq!(a.baseline_interval, Duration::from_secs(60));
        assert_eq!(a.backoff, 0.7);
        assert_eq!(a.drop_tolerance, 0.1);
        assert_eq!(s.executor, ExecutorKind::Rayon);
    };
    expected(*EveryKey::POOL.spec().settings());
    expected(EveryKey::POOL.settings());
    assert_eq!(EveryKey::POOL.name(), "acceptance14::every_key");
    let pool = EveryKey::POOL.pool();
    assert_eq!(pool.name(), Some("acceptance14::every_key"));
    assert_eq!(pool.kind(), Kind::Autoscale);
    assert_eq!(pool.order(), Order::Priority);
    assert_eq!(pool.bounds(), (2, 6));
    assert_eq!(pool.size(), 4);
    assert_eq!(pool.max_waiting(), Some(7));
    assert_eq!(pool.admission_timeout(), Some(Duration::from_secs(90)));
    assert_eq!(pool.sync_barging(), Some(Duration::from_micros(250)));
    expected(EveryKey::POOL.settings());
}

#[pooled::pooled(order = "simple", size = 1)]
async fn simple_order() {}

static LIFO_ORDER: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[pooled::pooled(order = "lifo", size = 1)]
async fn lifo_call(label: u32) {
    LIFO_ORDER.lock().unwrap().push(label);
}

/// Keys table: `order` "`"simple"` is `"fifo"`"; a LIFO pool admits the
/// latest waiting call first.
#[test]
fn order_simple_is_fifo_and_a_lifo_function_admits_its_latest_waiter_first() {
    assert_eq!(SIMPLE_ORDER_POOL.spec().settings().order, Order::Fifo);
    futures::executor::block_on(simple_order());
    assert_eq!(LIFO_CALL_POOL.pool().order(), Order::Lifo);
    runtime().block_on(async {
        let hold = LIFO_CALL_POOL.acquire_owned(0).await.unwrap();
        let mut calls = Vec::new();
        for label in 1..=4u32 {
            calls.push(tokio::spawn(lifo_call(label)));
            let waiting = label as usize;
            until("the call queues", || {
                LIFO_CALL_POOL.stats().waiting == waiting
            })
            .await;
        }
        drop(hold);
        for call in calls {
            call.await.unwrap();
        }
    });
    assert_eq!(*LIFO_ORDER.lock().unwrap(), [4, 3, 2, 1]);
}

// ---- rejections and the functions that wait instead -------------------------

#[pooled::group(size = 1, max_waiting = 0)]
struct NoQueue;

#[pooled::group(size = 1, admission_timeout = "30ms")]
struct Impatient;

#[pooled::group(size = 1)]
struct Closing;

#[pooled::pooled(group = NoQueue)]
async fn no_queue_result() -> Result<u32, AppError> {
    Ok(1)
}

#[pooled::pooled(group = Impatient)]
fn impatient_result() -> Result<u32, AppError> {
    Ok(2)
}

#[pooled::pooled(group = Closing)]
async fn closing_result() -> Result<u32, AppError> {
    Ok(3)
}

static CLOSING_METER: Meter = Meter::new();

#[pooled::pooled(group = Closing)]
async fn closing_plain() -> u32 {
    let _inside = CLOSING_METER.enter();
    tokio::time::sleep(Duration::from_millis(2)).await;
    4
}

#[pooled::pooled(group = Closing)]
fn closing_plain_sync() -> u32 {
    let _inside = CLOSING_METER.enter();
    5
}

/// Rejections table, first row: a function returning `…Result<..>` gets
/// `Err(From::from(Rejected::X))` for `Full`, `TimedOut` and `Closed`
/// (declared on its group); second row: a function returning anything else
/// "runs (a closed pool still admits it, within its limit)".
#[test]
fn full_timed_out_and_closed_reach_the_functions_error_and_plain_functions_run_when_closed() {
    runtime().block_on(async {
        // Full: the only slot held, no call may wait.
        let hold = NoQueue::POOL.acquire_owned(0).await.unwrap();
        assert_eq!(no_queue_result().await, Err(AppError::Busy(Rejected::Full)));
        drop(hold);
        assert_eq!(no_queue_result().await, Ok(1));
        assert_eq!(NoQueue::POOL.stats().rejected_for(Rejected::Full), 1);

        // TimedOut: a sync function waits on its own thread past the bound.
        let hold = Impatient::POOL.acquire_owned(0).await.unwrap();
        let out = tokio::task::spawn_blocking(impatient_result).await.unwrap();
        assert_eq!(out, Err(AppError::Busy(Rejected::TimedOut)));
        drop(hold);
        assert_eq!(impatient_result(), Ok(2));
        assert_eq!(Impatient::POOL.stats().rejected_for(Rejected::TimedOut), 1);

        // Closed: the Result function is told no; the plain ones run.
        assert_eq!(closing_result().await, Ok(3));
        Closing::POOL.pool().close();
        assert_eq!(
            closing_result().await,
            Err(AppError::Busy(Rejected::Closed))
        );
        let plain: Vec<_> = (0..4).map(|_| tokio::spawn(closing_plain())).collect();
        for call in plain {
            assert_eq!(call.await.unwrap(), 4);
        }
        assert_eq!(
            tokio::task::spawn_blocking(closing_plain_sync)
                .await
                .unwrap(),
            5
        );
    });
    assert_eq!(CLOSING_METER.done(), 5);
    assert_eq!(CLOSING_METER.peak(), 1, "within its limit");
    let stats = Closing::POOL.stats();
    assert_eq!(stats.rejected_for(Rejected::Closed), 1);
    assert_eq!(stats.completed, 6);
}

#[pooled::group(size = 1, max_waiting = 0, admission_timeout = "10ms")]
struct Strict;

static STRICT_METER: Meter = Meter::new();

#[pooled::pooled(group = Strict)]
async fn strict_plain(n: u32) -> u32 {
    let _inside = STRICT_METER.enter();
    n
}

#[pooled::pooled(group = Strict)]
fn strict_plain_sync(n: u32) -> u32 {
    let _inside = STRICT_METER.enter();
    n
}

/// "A function whose return type cannot carry an error waits instead":
/// `Full` → "waits (no bound)", `TimedOut` → "waits (no timeout)",
/// `Paused` → "waits until `resume()`" — also when the bound and the
/// timeout are declared on its group. It waits: its body does not run
/// without a slot, and it is never counted as rejected.
#[test]
fn a_function_without_an_error_type_waits_past_its_groups_bound_timeout_and_pause() {
    runtime().block_on(async {
        let hold = Strict::POOL.acquire_owned(0).await.unwrap();
        let a = tokio::spawn(strict_plain(1));
        let b = tokio::task::spawn_blocking(|| strict_plain_sync(2));
        until("both wait", || Strict::POOL.stats().waiting == 2).await;
        // Well past the admission timeout: still waiting, body not run.
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(STRICT_METER.done(), 0, "a body ran without a slot");
        assert_eq!(Strict::POOL.stats().waiting, 2);
        drop(hold);
        assert_eq!(a.await.unwrap(), 1);
        assert_eq!(b.await.unwrap(), 2);
        // Paused (queued calls go on, README): a call arriving now waits
        // until `resume()`, with a free slot, rather than being rejected.
        Strict::POOL.pause();
        let c = tokio::spawn(strict_plain(3));
        until("it waits", || Strict::POOL.stats().waiting == 1).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(STRICT_METER.done(), 2, "admitted while paused");
        assert!(!c.is_finished());
        Strict::POOL.resume();
        assert_eq!(c.await.unwrap(), 3);
    });
    let stats = Strict::POOL.stats();
    assert_eq!(stats.rejected_total(), 0, "{stats:?}");
    assert_eq!(stats.completed, 4, "three calls and the permit");
    assert_eq!(STRICT_METER.peak(), 1);
}

// ---- weights ----------------------------------------------------------------

static WEIGHT_EVALS: AtomicUsize = AtomicUsize::new(0);

fn counted_weight(job: u32) -> i64 {
    WEIGHT_EVALS.fetch_add(1, SeqCst);
    i64::from(job)
}

static WEIGHTED_ORDER: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[pooled::pooled(order = "priority", size = 1, weight = counted_weight(job))]
async fn weighted_by_expression(job: u32) {
    WEIGHTED_ORDER.lock().unwrap().push(job);
}

/// Weights: "`weight = <expression>`: any `i64` expression over the
/// arguments, evaluated before the call waits" — and it orders the queue,
/// smaller first.
#[test]
fn a_weight_expression_is_evaluated_before_the_call_waits_and_orders_it() {
    runtime().block_on(async {
        let hold = WEIGHTED_BY_EXPRESSION_POOL.acquire_owned(0).await.unwrap();
        let mut calls = Vec::new();
        for (i, job) in [30u32, 10, 20].into_iter().enumerate() {
            calls.push(tokio::spawn(weighted_by_expression(job)));
            until("the call queues", || {
                WEIGHTED_BY_EXPRESSION_POOL.stats().waiting == i + 1
            })
            .await;
            assert_eq!(WEIGHT_EVALS.load(SeqCst), i + 1, "evaluated before waiting");
        }
        drop(hold);
        for call in calls {
            call.await.unwrap();
        }
    });
    assert_eq!(*WEIGHTED_ORDER.lock().unwrap(), [10, 20, 30]);
    assert_eq!(WEIGHT_EVALS.load(SeqCst), 3, "once per call");
}

// ---- the generated handles --------------------------------------------------

#[pooled::pooled(kind = "autoscale", min = 1, max = 4)]
fn elastic_sync(n: u32) -> Result<u32, AppError> {
    Ok(n)
}

/// The handle: "`scale(delta)`, `resize(n)`, `pause()`, `resume()`,
/// `is_paused()`, `size()`, `stats()`, `name()` and `spec()`", scale clamped
/// to `[min, max]` for an autoscale pool (README), a paused pool rejecting
/// into the function's error type and counting it.
#[test]
fn an_autoscale_handle_clamps_scale_and_resize_and_pause_rejects_through_from() {
    assert_eq!(ELASTIC_SYNC_POOL.size(), 1);
    assert_eq!(ELASTIC_SYNC_POOL.scale(10), 4, "clamped to max");
    assert_eq!(ELASTIC_SYNC_POOL.scale(-10), 1, "clamped to min");
    assert_eq!(ELASTIC_SYNC_POOL.resize(3), 3);
    assert_eq!(ELASTIC_SYNC_POOL.resize(0), 1, "resize is clamped too");
    assert_eq!(ELASTIC_SYNC_POOL.resize(99), 4);
    assert_eq!(ELASTIC_SYNC_POOL.size(), 4);
    assert!(!ELASTIC_SYNC_POOL.is_paused());
    ELASTIC_SYNC_POOL.pause();
    assert!(ELASTIC_SYNC_POOL.is_paused());
    assert_eq!(elastic_sync(1), Err(AppError::Busy(Rejected::Paused)));
    ELASTIC_SYNC_POOL.resume();
    assert!(!ELASTIC_SYNC_POOL.is_paused());
    assert_eq!(elastic_sync(2), Ok(2));
    let stats = ELASTIC_SYNC_POOL.stats();
    assert_eq!(stats.rejected_for(Rejected::Paused), 1);
    assert_eq!(stats.completed, 1);
    assert_eq!(stats.size, 4);
    assert_eq!(stats.submitted(), 2);
    assert!(ELASTIC_SYNC_POOL.name().ends_with("::elastic_sync"));
    assert_eq!(ELASTIC_SYNC_POOL.spec().settings().max, Some(4));
}

// ---- nested calls between functions of one group -----------------------------

#[pooled::group(size = 1)]
struct Nest;

static NEST_LEAVES: Meter = Meter::new();

#[pooled::pooled(group = Nest)]
async fn nest_outer(n: u32) -> u32 {
    let (a, b) = futures::join!(nest_inner(n), nest_inner(n + 1));
    a + b + nest_leaf_sync(n)
}

#[pooled::pooled(group = Nest)]
async fn nest_inner(n: u32) -> u32 {
    let _inside = NEST_LEAVES.enter();
    tokio::time::sleep(Duration::from_millis(2)).await;
    n
}

#[pooled::pooled(group = Nest)]
fn nest_leaf_sync(n: u32) -> u32 {
    let _inside = NEST_LEAVES.enter();
    n
}

/// Reentrancy (README, "nested calls never deadlock a full pool" and "only
/// one nested call at a time uses a parent's slot"): functions of one group
/// of one slot calling each other — two joined async calls and a sync one —
/// complete, and never more than one of their bodies runs at once, also
/// with several top-level callers.
#[test]
fn nested_calls_between_functions_of_a_full_group_complete_one_at_a_time() {
    within(Duration::from_secs(30), || {
        runtime().block_on(async {
            let calls: Vec<_> = (0..4u32).map(|n| tokio::spawn(nest_outer(n))).collect();
            for (n, call) in calls.into_iter().enumerate() {
                let n = n as u32;
                assert_eq!(call.await.unwrap(), 3 * n + 1);
            }
        })
    });
    assert_eq!(NEST_LEAVES.done(), 12);
    assert_eq!(
        NEST_LEAVES.peak(),
        1,
        "two leaves ran at once in a group of 1"
    );
    let stats = Nest::POOL.stats();
    assert_eq!(stats.completed, 16, "{stats:?}");
    assert_eq!((stats.running, stats.nested, stats.waiting), (0, 0, 0));
    assert_eq!(stats.submitted(), 16);
}

// ---- sync functions on multi-thread tokio workers -----------------------------

#[pooled::group(size = 1)]
struct Worker;

static WORKER_METER: Meter = Meter::new();

#[pooled::pooled(group = Worker)]
async fn worker_holder(release: tokio::sync::oneshot::Receiver<()>) -> u32 {
    let _inside = WORKER_METER.enter();
    release.await.unwrap();
    0
}

#[pooled::pooled(group = Worker)]
fn worker_sync(n: u32) -> u32 {
    let _inside = WORKER_METER.enter();
    n
}

/// README: "A sync function parks its caller's thread while it waits for a
/// slot: on a multi-thread tokio worker it first hands the worker's tasks to
/// another thread (`block_in_place`)", so it "neither stalls them nor
/// deadlocks on a slot one of them holds": more sync callers than workers
/// wait for a slot held by a task that a later task releases.
#[test]
fn sync_calls_on_every_worker_wait_for_a_slot_held_by_another_task_without_deadlock() {
    within(Duration::from_secs(30), || {
        runtime().block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let holder = tokio::spawn(worker_holder(rx));
            until("the holder runs", || Worker::POOL.stats().running == 1).await;
            let callers: Vec<_> = (1..=4u32)
                .map(|n| tokio::spawn(async move { worker_sync(n) }))
                .collect();
            until("every sync caller waits", || {
                Worker::POOL.stats().waiting == 4
            })
            .await;
            // Both workers are parked in sync calls now; this task must
            // still run somewhere.
            let releaser = tokio::spawn(async move { tx.send(()).unwrap() });
            releaser.await.unwrap();
            assert_eq!(holder.await.unwrap(), 0);
            let mut sum = 0;
            for caller in callers {
                sum += caller.await.unwrap();
            }
            assert_eq!(sum, 10);
        })
    });
    assert_eq!(WORKER_METER.peak(), 1);
    assert_eq!(WORKER_METER.done(), 5);
}

// ---- functions that return a future ----------------------------------------

static BUILT: AtomicUsize = AtomicUsize::new(0);
static FUT_METER: Meter = Meter::new();

#[pooled::pooled(size = 1)]
fn build_result(id: u32) -> impl Future<Output = Result<u32, AppError>> + Send {
    BUILT.fetch_add(1, SeqCst);
    async move {
        let _inside = FUT_METER.enter();
        tokio::time::sleep(Duration::from_millis(2)).await;
        Ok(id)
    }
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

/// "A sync function returning a future ... builds the future without a
/// slot and returns one that holds the slot until the built future
/// completes"; "Rejections follow `T`, as for an `async fn`"; "the returned
/// future is `Send` when the built one is".
#[test]
fn a_returned_future_is_built_without_a_slot_and_runs_holding_one() {
    runtime().block_on(async {
        // Built at once, even while paused; the rejection is its output.
        BUILD_RESULT_POOL.pause();
        let fut = build_result(1);
        assert_eq!(BUILT.load(SeqCst), 1, "the body ran when called");
        assert_eq!(fut.await, Err(AppError::Busy(Rejected::Paused)));
        assert_eq!(FUT_METER.done(), 0, "the built future never ran");
        BUILD_RESULT_POOL.resume();

        // Built while the slot is held; its async part waits for the slot.
        let hold = BUILD_RESULT_POOL.acquire_owned(0).await.unwrap();
        let futs: Vec<_> = (0..4).map(|i| assert_send(build_result(i))).collect();
        assert_eq!(BUILT.load(SeqCst), 5);
        let calls: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
        until("the calls queue", || BUILD_RESULT_POOL.stats().waiting == 4).await;
        assert_eq!(FUT_METER.done(), 0);
        drop(hold);
        for (i, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap(), Ok(i as u32));
        }
    });
    assert_eq!(
        FUT_METER.peak(),
        1,
        "the slot is held until the future completes"
    );
    assert_eq!(FUT_METER.done(), 4);
}

// ---- shapes: methods of generic impls, impl Trait, lifetimes, Arc<Self> ------

struct Wrapper<T>(T);

static WRAPPER_METER: Meter = Meter::new();

impl<T: std::fmt::Display + Send + Sync> Wrapper<T> {
    #[pooled::pooled(size = 1)]
    async fn show(&self, suffix: impl AsRef<str>) -> String {
        let _inside = WRAPPER_METER.enter();
        tokio::time::sleep(Duration::from_millis(2)).await;
        format!("{}{}", self.0, suffix.as_ref())
    }
}

/// "A generic function, or a method of a generic `impl`, has one pool for
/// all its instantiations"; `impl Trait` arguments keep working.
#[test]
fn a_method_of_a_generic_impl_has_one_pool_for_every_instantiation() {
    assert!(std::ptr::eq(
        Wrapper::<u8>::SHOW_POOL,
        Wrapper::<String>::SHOW_POOL
    ));
    runtime().block_on(async {
        let a = Arc::new(Wrapper(7u8));
        let b = Arc::new(Wrapper(String::from("x")));
        let mut calls = Vec::new();
        for i in 0..4 {
            let a = a.clone();
            let b = b.clone();
            calls.push(tokio::spawn(async move { a.show(format!("-{i}")).await }));
            calls.push(tokio::spawn(async move { b.show("!").await }));
        }
        let mut outs = Vec::new();
        for call in calls {
            outs.push(call.await.unwrap());
        }
        assert!(outs.contains(&"7-3".to_owned()) && outs.contains(&"x!".to_owned()));
    });
    assert_eq!(WRAPPER_METER.peak(), 1);
    assert_eq!(Wrapper::<u64>::SHOW_POOL.stats().completed, 8);
}

fn first_word(text: &str, _sep: impl Into<char>) -> &str {
    text.split(' ').next().unwrap_or("")
}

#[pooled::pooled(size = 2)]
fn borrowing<'a, 'b>(text: &'a str, other: &'b mut Vec<u8>, sep: impl Into<char>) -> &'a str
where
    'b: 'a,
{
    other.push(1);
    first_word(text, sep)
}

struct Service {
    seen: AtomicUsize,
}

impl Service {
    #[pooled::pooled(blocking, size = 1)]
    fn crunch(self: Arc<Self>, n: u64) -> (u64, std::thread::ThreadId) {
        self.seen.fetch_add(1, SeqCst);
        (n * 2, std::thread::current().id())
    }
}

/// "Every shape of function": lifetimes, `where` clauses, `&mut` arguments
/// and `impl Trait` on a sync fn (callers unchanged, a borrowed return);
/// `self: Arc<Self>` with `blocking`, which "runs the body on the blocking
/// executor and makes the function `async`", its handle an associated const.
#[test]
fn lifetimes_impl_trait_and_an_arc_self_blocking_method_keep_working() {
    let text = String::from("hello world");
    let mut other = Vec::new();
    let word = borrowing(&text, &mut other, ' ').to_owned();
    assert_eq!((word.as_str(), other.len()), ("hello", 1));
    assert_eq!(BORROWING_POOL.stats().completed, 1);

    let service = Arc::new(Service {
        seen: AtomicUsize::new(0),
    });
    let caller = std::thread::current().id();
    let (n, thread) = futures::executor::block_on(service.clone().crunch(21));
    assert_eq!(n, 42);
    assert_ne!(thread, caller, "the body ran on the blocking executor");
    assert_eq!(service.seen.load(SeqCst), 1);
    assert_eq!(Service::CRUNCH_POOL.stats().completed, 1);
}

// ---- blocking and executor ----------------------------------------------------

static RAYON_METER: Meter = Meter::new();

#[pooled::pooled(blocking, size = 2, executor = "rayon")]
fn on_rayon(n: u64) -> Option<String> {
    let _inside = RAYON_METER.enter();
    std::thread::sleep(Duration::from_millis(2));
    let _ = n;
    std::thread::current().name().map(str::to_owned)
}

/// Keys table: `executor = "rayon"`: "where blocking calls run: tokio's
/// blocking pool, or rayon's" — inside a tokio runtime the body still runs
/// off tokio's threads, and the limit holds.
#[cfg(feature = "rayon")]
#[test]
fn a_blocking_function_with_executor_rayon_runs_off_tokios_threads_within_its_limit() {
    assert_eq!(ON_RAYON_POOL.settings().executor, ExecutorKind::Rayon);
    let names = runtime().block_on(async {
        let calls: Vec<_> = (0..8).map(|n| tokio::spawn(on_rayon(n))).collect();
        let mut names = Vec::new();
        for call in calls {
            names.push(call.await.unwrap());
        }
        names
    });
    for name in names {
        assert!(
            !name.as_deref().unwrap_or("").starts_with("tokio"),
            "ran on a tokio thread: {name:?}"
        );
    }
    assert!(RAYON_METER.peak() <= 2);
    assert_eq!(RAYON_METER.done(), 8);
}

// ---- sync barging through the attribute ---------------------------------------

static BARGE_METER: Meter = Meter::new();

// (Returning a `Result`: a sync function that never rejects never barges;
// see `a_barging_sync_function_without_a_result_waits_outside_the_queue_too`.)
#[pooled::pooled(size = 2, sync_barging = "1ms")]
fn barging(n: u64) -> Result<u64, AppError> {
    let _inside = BARGE_METER.enter();
    Ok(n)
}

/// Keys table: `sync_barging` "how long a call to a sync function ... may
/// wait outside the queue"; GroupSettings::sync_barging: "What holds: the
/// limit, always" and such callers "count in `Stats::waiting`".
#[test]
fn sync_barging_from_the_attribute_reaches_the_pool_and_keeps_the_limit() {
    assert_eq!(
        BARGING_POOL.settings().sync_barging,
        Some(Duration::from_millis(1))
    );
    assert_eq!(
        BARGING_POOL.pool().sync_barging(),
        Some(Duration::from_millis(1))
    );
    let total = within(Duration::from_secs(60), || {
        let threads: Vec<_> = (0..8)
            .map(|t| {
                std::thread::spawn(move || {
                    (0..300)
                        .map(|i| barging(t * 1000 + i).unwrap())
                        .sum::<u64>()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).sum::<u64>()
    });
    let expected: u64 = (0..8u64)
        .map(|t| (0..300u64).map(|i| t * 1000 + i).sum::<u64>())
        .sum();
    assert_eq!(total, expected);
    assert!(BARGE_METER.peak() <= 2, "peak {}", BARGE_METER.peak());
    assert_eq!(BARGE_METER.now(), 0);
    let stats = BARGING_POOL.stats();
    assert_eq!(stats.completed, 2400);
    assert_eq!(stats.submitted(), 2400);
    assert_eq!((stats.running, stats.waiting), (0, 0));
}

// ---- the adaptive policy through the attribute --------------------------------

#[pooled::pooled(kind = "autoscale", policy = "adaptive", min = 2, max = 5, size = 3)]
async fn adaptive_sized() -> u32 {
    1
}

#[pooled::pooled(kind = "autoscale", policy = "adaptive", min = 0, max = 5)]
async fn adaptive_from_zero() -> u32 {
    1
}

#[pooled::pooled(kind = "autoscale", policy = "adaptive")]
async fn adaptive_defaults() -> u32 {
    1
}

/// "It starts at `size` (default `min`, or 1 if `min` is 0)", with
/// `AdaptiveSettings::DEFAULT` when no `adaptive_*` key is given.
#[test]
fn an_adaptive_function_starts_at_size_or_min_or_one_with_the_default_parameters() {
    assert_eq!(ADAPTIVE_SIZED_POOL.size(), 3);
    assert_eq!(ADAPTIVE_FROM_ZERO_POOL.size(), 1);
    assert_eq!(ADAPTIVE_DEFAULTS_POOL.size(), 3);
    assert_eq!(ADAPTIVE_DEFAULTS_POOL.pool().bounds(), (3, 8));
    let ScalePolicy::Adaptive(a) = ADAPTIVE_DEFAULTS_POOL.settings().policy else {
        panic!("not adaptive")
    };
    assert_eq!(a, pooled::AdaptiveSettings::DEFAULT);
    futures::executor::block_on(async {
        assert_eq!(
            adaptive_sized().await + adaptive_from_zero().await + adaptive_defaults().await,
            3
        );
    });
}

// ---- nested calls are never turned away ----------------------------------------

#[pooled::group(size = 1, max_waiting = 0)]
struct Admitted;

static ADMITTED_LEAVES: Meter = Meter::new();

#[pooled::pooled(group = Admitted)]
async fn admitted_outer(close: bool) -> Result<(u32, u32), AppError> {
    if close {
        Admitted::POOL.pool().close();
    } else {
        Admitted::POOL.pause();
    }
    let (a, b) = futures::join!(admitted_inner(1), admitted_inner(2));
    Ok((a?, b?))
}

#[pooled::pooled(group = Admitted)]
async fn admitted_inner(n: u32) -> Result<u32, AppError> {
    let _inside = ADMITTED_LEAVES.enter();
    tokio::time::sleep(Duration::from_millis(20)).await;
    Ok(n)
}

/// README, reentrancy rule: nested calls "wait, in the queue, for a free
/// slot or for that slot to come back ... (a paused or closed pool or a
/// full waiting bound does not turn them away: they belong to admitted
/// work)". Two joined nested calls of a one-slot group with
/// `max_waiting = 0`, paused (then closed) by their parent: neither is
/// turned away, and they run one at a time.
#[test]
fn nested_calls_are_not_turned_away_by_a_pause_a_close_or_a_full_bound() {
    within(Duration::from_secs(30), || {
        runtime().block_on(async {
            assert_eq!(admitted_outer(false).await, Ok((1, 2)));
            Admitted::POOL.resume();
            assert_eq!(admitted_outer(true).await, Ok((1, 2)));
        })
    });
    assert_eq!(ADMITTED_LEAVES.peak(), 1);
    let stats = Admitted::POOL.stats();
    assert_eq!(stats.rejected_total(), 0, "{stats:?}");
    assert_eq!(stats.completed, 6);
}

// ---- returned futures: admission timeout and overload --------------------------

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

fn is_overloaded(error: &ApiError) -> bool {
    *error == ApiError::Overloaded
}

#[pooled::pooled(size = 1, admission_timeout = "5ms")]
fn timed_future(id: u32) -> impl Future<Output = Result<u32, ApiError>> + Send {
    async move { Ok(id) }
}

/// Returned futures: "Rejections follow `T`, as for an `async fn`": the
/// admission timeout arrives as the built future's `Err`.
#[test]
fn a_returned_future_times_out_through_its_output() {
    runtime().block_on(async {
        let hold = TIMED_FUTURE_POOL.acquire_owned(0).await.unwrap();
        assert_eq!(
            timed_future(1).await,
            Err(ApiError::Busy(Rejected::TimedOut))
        );
        drop(hold);
        assert_eq!(timed_future(2).await, Ok(2));
    });
}

#[pooled::pooled(
    kind = "autoscale",
    policy = "adaptive",
    min = 2,
    max = 32,
    size = 32,
    overload = is_overloaded
)]
fn overloaded_future() -> impl Future<Output = Result<u32, ApiError>> + Send {
    async { Err(ApiError::Overloaded) }
}

#[pooled::pooled(
    kind = "autoscale",
    policy = "adaptive",
    min = 2,
    max = 32,
    size = 32,
    overload = is_overloaded
)]
fn overloaded_boxed() -> std::pin::Pin<Box<dyn Future<Output = Result<u32, ApiError>> + Send>> {
    Box::pin(async { Err(ApiError::Overloaded) })
}

#[pooled::pooled(
    kind = "autoscale",
    policy = "adaptive",
    min = 2,
    max = 32,
    size = 32,
    overload = is_overloaded
)]
async fn overloaded_async() -> Result<u32, ApiError> {
    Err(ApiError::Overloaded)
}

/// Returned futures: "`overload` applies as on an `async fn`"; and "once
/// more than 2% of the calls (and at least two) were overloaded, cuts it":
/// calls whose every answer is an overload bring the limit down, whatever
/// the shape of the function.
#[test]
fn overload_on_async_fns_and_returned_futures_cuts_the_adaptive_limit() {
    runtime().block_on(async {
        for _ in 0..200 {
            assert_eq!(overloaded_future().await, Err(ApiError::Overloaded));
            assert_eq!(overloaded_boxed().await, Err(ApiError::Overloaded));
            assert_eq!(overloaded_async().await, Err(ApiError::Overloaded));
        }
    });
    for group in [
        OVERLOADED_FUTURE_POOL,
        OVERLOADED_BOXED_POOL,
        OVERLOADED_ASYNC_POOL,
    ] {
        assert!(group.size() < 32, "{}: never cut", group.name());
        assert!(group.size() >= 2, "{}: below min", group.name());
    }
}

// ---- nested calls from blocking and sync work ----------------------------------

#[pooled::group(size = 1)]
struct Mixed;

static MIXED_LEAVES: Meter = Meter::new();

#[pooled::pooled(group = Mixed, blocking)]
fn mixed_blocking(n: u32) -> u32 {
    // On the executor's thread: sync calls and an async one driven here are
    // nested calls of this work.
    let a = mixed_sync(n);
    let b = futures::executor::block_on(mixed_async(n));
    a + b
}

#[pooled::pooled(group = Mixed)]
fn mixed_sync(n: u32) -> u32 {
    let _inside = MIXED_LEAVES.enter();
    n
}

#[pooled::pooled(group = Mixed)]
async fn mixed_async(n: u32) -> u32 {
    let _inside = MIXED_LEAVES.enter();
    n * 10
}

#[pooled::pooled(group = Mixed)]
fn mixed_sync_parent(n: u32) -> u32 {
    // A sync parent awaiting a blocking child of its group: the child's job
    // runs under the parent's slot on another thread.
    futures::executor::block_on(mixed_blocking(n))
}

/// README, reentrancy: a nested call is one "made on the thread of sync or
/// blocking work" (or "a task of a runtime driven inside a sync call"), and
/// "may run under its parent's slot": blocking and sync functions of a
/// one-slot group calling each other complete, one body at a time.
#[test]
fn blocking_and_sync_functions_of_one_group_call_each_other_without_deadlock() {
    let total = within(Duration::from_secs(30), || {
        let rt = runtime();
        let mut total = rt.block_on(async {
            let calls: Vec<_> = (1..=3u32)
                .map(|n| tokio::spawn(mixed_blocking(n)))
                .collect();
            let mut sum = 0;
            for call in calls {
                sum += call.await.unwrap();
            }
            sum
        });
        let threads: Vec<_> = (1..=3u32)
            .map(|n| std::thread::spawn(move || mixed_sync_parent(n)))
            .collect();
        for t in threads {
            total += t.join().unwrap();
        }
        total
    });
    assert_eq!(total, 2 * 11 * 6);
    assert_eq!(MIXED_LEAVES.peak(), 1);
    assert_eq!(MIXED_LEAVES.done(), 12);
    let stats = Mixed::POOL.stats();
    assert_eq!((stats.running, stats.nested, stats.waiting), (0, 0, 0));
    assert_eq!(stats.completed, 21, "{stats:?}");
}

// ---- early returns and ? in bodies ------------------------------------------------

#[pooled::pooled(size = 1)]
fn early(n: i32) -> Result<i32, AppError> {
    if n < 0 {
        return Err(AppError::Busy(Rejected::Full));
    }
    let parsed: i32 = n
        .to_string()
        .parse()
        .map_err(|_| AppError::Busy(Rejected::Closed))?;
    Ok(parsed * 2)
}

#[pooled::pooled(size = 1)]
async fn early_async(n: i32) -> Result<i32, AppError> {
    if n == 0 {
        return Ok(-1);
    }
    early(n)?;
    Ok(n)
}

/// Module docs: "a never-taken `return` of the declared type fixes the
/// return type, so `return`, `?` and type errors behave ... as in the
/// function as written" — and the slot is freed on every way out.
#[test]
fn early_returns_and_question_marks_leave_the_body_and_free_the_slot() {
    assert_eq!(early(-1), Err(AppError::Busy(Rejected::Full)));
    assert_eq!(early(4), Ok(8));
    futures::executor::block_on(async {
        assert_eq!(early_async(0).await, Ok(-1));
        assert_eq!(early_async(-2).await, Err(AppError::Busy(Rejected::Full)));
        assert_eq!(early_async(3).await, Ok(3));
    });
    for group in [EARLY_POOL, EARLY_ASYNC_POOL] {
        let s = group.stats();
        assert_eq!(
            (s.running, s.nested, s.waiting, s.rejected_total()),
            (0, 0, 0, 0)
        );
    }
    assert_eq!(EARLY_POOL.stats().completed, 4);
    assert_eq!(EARLY_ASYNC_POOL.stats().completed, 3);
}

#[pooled::group(
    kind = "autoscale",
    admission_timeout = "1h",
    sync_barging = "750ns",
    autoscale_interval = "2m"
)]
struct Durations;

/// Keys: "Durations are whole numbers with a unit, possibly several ...
/// (units `h`, `m`, `s`, `ms`, `us`, `ns`)".
#[test]
fn duration_literals_in_every_unit_reach_the_settings() {
    let s = Durations::POOL.spec().settings();
    assert_eq!(s.admission_timeout, Some(Duration::from_secs(3600)));
    assert_eq!(s.sync_barging, Some(Duration::from_nanos(750)));
    assert_eq!(s.autoscale.interval, Duration::from_secs(120));
}

// ---- more shapes ----------------------------------------------------------------

#[allow(non_snake_case)]
mod shapes {
    use std::rc::Rc;

    #[pooled::pooled(size = 1)]
    pub fn r#type(n: u32) -> u32 {
        n + 1
    }

    pub struct Counter {
        pub value: u32,
    }

    impl Counter {
        #[pooled::pooled(size = 1)]
        pub fn slot(&mut self) -> &mut u32 {
            &mut self.value
        }
    }

    #[pooled::pooled(size = 1)]
    pub async fn shown(n: u32) -> impl std::fmt::Display {
        n * 3
    }

    #[pooled::pooled(size = 1)]
    pub fn evens(n: u32) -> impl Iterator<Item = u32> {
        (0..n).filter(|x| x % 2 == 0)
    }

    #[pooled::pooled(order = "priority", size = 1, weight = name.len() as i64)]
    pub async fn by_length(name: String) -> String {
        name
    }

    #[pooled::pooled(size = 1)]
    pub async fn local(shared: Rc<u32>) -> u32 {
        let held = shared.clone();
        tokio::task::yield_now().await;
        *held + 1
    }
}

/// "Every shape of function": raw identifiers (the handle is named after
/// the function: `TYPE_POOL`), a `&mut self` method returning a borrow of
/// `self`, `impl Trait` returns of async and sync functions (not futures:
/// an iterator), a weight expression over an argument the body then takes,
/// and a non-`Send` future ("nothing needs to be `'static` or `Send`").
#[test]
fn raw_identifiers_borrowed_returns_impl_trait_returns_and_non_send_futures_keep_working() {
    assert_eq!(shapes::r#type(1), 2);
    assert_eq!(shapes::TYPE_POOL.stats().completed, 1);
    let mut counter = shapes::Counter { value: 1 };
    *counter.slot() += 5;
    assert_eq!(counter.value, 6);
    assert_eq!(shapes::Counter::SLOT_POOL.stats().completed, 1);
    assert_eq!(shapes::evens(7).collect::<Vec<_>>(), [0, 2, 4, 6]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        assert_eq!(shapes::shown(2).await.to_string(), "6");
        assert_eq!(shapes::by_length("abc".into()).await, "abc");
        let shared = std::rc::Rc::new(4);
        let task = tokio::task::spawn_local(shapes::local(shared.clone()));
        assert_eq!(task.await.unwrap(), 5);
    });
    assert_eq!(shapes::LOCAL_POOL.stats().completed, 1);
}

// ---- sync barging on a tokio worker ---------------------------------------------

#[pooled::group(size = 1, sync_barging = "30s")]
struct Barging;

#[pooled::pooled(group = Barging)]
async fn barging_holder(release: tokio::sync::oneshot::Receiver<()>) -> u32 {
    release.await.unwrap();
    1
}

// (A `Result`: a sync function that never rejects never barges.)
#[pooled::pooled(group = Barging)]
fn barging_sync(n: u32) -> Result<u32, AppError> {
    Ok(n)
}

/// README: "A sync call (`Pool::run`, `Group::run`, a sync `#[pooled]` fn)
/// that must wait on a multi-thread tokio worker hands the worker's other
/// tasks to another thread first (`block_in_place`), so it neither stalls
/// them nor deadlocks on a slot one of them holds" — also with
/// `sync_barging`, whose wait outside the queue (30 s here) is a wait too.
/// On a runtime of one worker, the task that frees the slot must run while
/// the sync caller waits outside the queue.
#[test]
fn a_barging_sync_call_on_a_tokio_worker_does_not_stall_the_workers_other_tasks() {
    let out = within(Duration::from_secs(15), || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let holder = tokio::spawn(barging_holder(rx));
            until("the holder runs", || Barging::POOL.stats().running == 1).await;
            let caller = tokio::spawn(async { barging_sync(2).unwrap() });
            until("the sync caller waits", || {
                Barging::POOL.stats().waiting == 1
            })
            .await;
            // The caller parks the only worker; this task must still run.
            let releaser = tokio::spawn(async move { tx.send(()).unwrap() });
            releaser.await.unwrap();
            holder.await.unwrap() + caller.await.unwrap()
        })
    });
    assert_eq!(out, 3);
}

#[pooled::pooled(
    kind = "autoscale",
    policy = "adaptive",
    min = 1,
    max = 4,
    adaptive_window_samples = 10000,
    adaptive_tolerance = 2,
    adaptive_smoothing = 1,
    adaptive_backoff = 0,
    adaptive_drop_tolerance = 1,
    adaptive_window_time = "0s",
    adaptive_baseline_interval = "1h30m"
)]
async fn integer_parameters() -> u8 {
    1
}

/// Keys table: `adaptive_<parameter>` "number, or duration literal ...
/// checked against the runtime's ranges" — integers for the number
/// parameters, and the ends of each range, are accepted and reach the
/// function's own pool.
#[test]
fn adaptive_parameters_take_integers_and_range_ends_on_a_functions_own_pool() {
    let ScalePolicy::Adaptive(a) = INTEGER_PARAMETERS_POOL.settings().policy else {
        panic!("not adaptive")
    };
    assert_eq!(a.window_samples, 10_000);
    assert_eq!(a.tolerance, 2.0);
    assert_eq!(a.smoothing, 1.0);
    assert_eq!(a.backoff, 0.0);
    assert_eq!(a.drop_tolerance, 1.0);
    assert_eq!(a.window_time, Duration::ZERO);
    assert_eq!(a.baseline_interval, Duration::from_secs(5400));
    assert_eq!(a.validate(), Ok(()));
    assert_eq!(futures::executor::block_on(integer_parameters()), 1);
    assert_eq!(INTEGER_PARAMETERS_POOL.size(), 1);
}

// ---- every form of one group under churn ----------------------------------------

#[pooled::group(size = 2, sync_barging = "200us")]
struct Churn;

static CHURN_METER: Meter = Meter::new();

#[pooled::pooled(group = Churn)]
async fn churn_async(n: u64) -> Result<u64, AppError> {
    let _inside = CHURN_METER.enter();
    tokio::time::sleep(Duration::from_micros(50)).await;
    Ok(n)
}

#[pooled::pooled(group = Churn)]
async fn churn_plain(n: u64) -> u64 {
    let _inside = CHURN_METER.enter();
    tokio::time::sleep(Duration::from_micros(50)).await;
    n
}

#[pooled::pooled(group = Churn)]
fn churn_sync(n: u64) -> Result<u64, AppError> {
    let _inside = CHURN_METER.enter();
    Ok(n)
}

#[pooled::pooled(group = Churn, blocking)]
fn churn_blocking(n: u64) -> Result<u64, AppError> {
    let _inside = CHURN_METER.enter();
    std::thread::sleep(Duration::from_micros(50));
    Ok(n)
}

#[pooled::pooled(group = Churn)]
fn churn_future(n: u64) -> impl Future<Output = u64> + Send {
    async move {
        let _inside = CHURN_METER.enter();
        tokio::time::sleep(Duration::from_micros(50)).await;
        n
    }
}

/// Every call form of one group at once — async (rejecting and waiting),
/// sync on tokio workers (with `sync_barging`), blocking, a returned future
/// — with callers dropping calls at random and the handle pausing, resuming
/// and scaling between 1 and 3 meanwhile: no body runs beyond 3 at once
/// (counted from outside), nothing hangs, only rejecting forms see
/// `Paused`, and the group ends empty with its accounting whole.
#[test]
fn every_call_form_of_one_group_under_pause_scale_and_cancellation_keeps_the_limit() {
    within(Duration::from_secs(120), || {
        let rt = runtime();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churner = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(SeqCst) {
                    match i % 6 {
                        0 => Churn::POOL.pause(),
                        1 => Churn::POOL.resume(),
                        2 => drop(Churn::POOL.resize(1)),
                        3 => drop(Churn::POOL.resize(3)),
                        4 => drop(Churn::POOL.scale(-1)),
                        _ => drop(Churn::POOL.scale(1)),
                    }
                    i += 1;
                    std::thread::sleep(Duration::from_micros(300));
                }
                Churn::POOL.resume();
                Churn::POOL.resize(3);
            })
        };
        rt.block_on(async {
            let mut tasks = Vec::new();
            for t in 0..8u64 {
                tasks.push(tokio::spawn(async move {
                    for i in 0..300u64 {
                        let n = t * 1000 + i;
                        let call = async move {
                            match i % 5 {
                                0 => match churn_async(n).await {
                                    Ok(v) => assert_eq!(v, n),
                                    Err(e) => assert_eq!(e, AppError::Busy(Rejected::Paused)),
                                },
                                1 => assert_eq!(churn_plain(n).await, n),
                                2 => match churn_sync(n) {
                                    Ok(v) => assert_eq!(v, n),
                                    Err(e) => assert_eq!(e, AppError::Busy(Rejected::Paused)),
                                },
                                3 => match churn_blocking(n).await {
                                    Ok(v) => assert_eq!(v, n),
                                    Err(e) => assert_eq!(e, AppError::Busy(Rejected::Paused)),
                                },
                                _ => assert_eq!(churn_future(n).await, n),
                            }
                        };
                        if (n * 7919) % 13 == 0 {
                            // Dropped at its first await (waiting or running).
                            let _ = tokio::time::timeout(Duration::from_micros(1), call).await;
                        } else {
                            call.await;
                        }
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
        });
        stop.store(true, SeqCst);
        churner.join().unwrap();
        // Blocking closures of dropped calls may still be finishing.
        for _ in 0..20_000 {
            let s = Churn::POOL.stats();
            if s.running == 0 && s.nested == 0 && s.waiting == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let s = Churn::POOL.stats();
    assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
    assert_eq!(
        s.submitted(),
        s.completed + s.cancelled + s.rejected_total(),
        "{s:?}"
    );
    assert_eq!(
        s.rejected_total(),
        s.rejected_for(Rejected::Paused),
        "{s:?}"
    );
    assert!(CHURN_METER.peak() <= 3, "peak {}", CHURN_METER.peak());
    assert_eq!(CHURN_METER.now(), 0);
}

// ---- sync_barging on sync functions that never reject ----------------------------

#[pooled::group(size = 1, sync_barging = "10s")]
struct BargeResult;

#[pooled::group(size = 1, sync_barging = "10s")]
struct BargePlain;

static BARGE_ORDER: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[pooled::pooled(group = BargeResult)]
fn barge_result_sync() -> Result<(), AppError> {
    BARGE_ORDER.lock().unwrap().push("result: sync");
    Ok(())
}

#[pooled::pooled(group = BargeResult)]
async fn barge_result_async() -> Result<(), AppError> {
    BARGE_ORDER.lock().unwrap().push("result: async");
    Ok(())
}

#[pooled::pooled(group = BargePlain)]
fn barge_plain_sync() {
    BARGE_ORDER.lock().unwrap().push("plain: sync");
}

#[pooled::pooled(group = BargePlain)]
async fn barge_plain_async() {
    BARGE_ORDER.lock().unwrap().push("plain: async");
}

/// With `sync_barging`, a sync caller that finds no free slot waits
/// *outside* the queue, so a slot freed while an async call is queued goes
/// to the queued call ("no call outside the queue ever takes a slot a
/// queued call is owed"), even though the sync caller came first. Returns
/// the order the bodies ran in.
fn barging_order(
    group: &'static pooled::Group,
    sync: fn(),
    queued: std::pin::Pin<Box<dyn Future<Output = ()>>>,
    prefix: &str,
) -> Vec<&'static str> {
    let hold = futures::executor::block_on(group.acquire_owned(0)).unwrap();
    let caller = std::thread::spawn(sync);
    for _ in 0..20_000 {
        if group.stats().waiting == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(group.stats().waiting, 1, "the sync caller waits");
    let mut queued = queued;
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(queued.as_mut().poll(&mut cx).is_pending());
    assert_eq!(group.stats().waiting, 2);
    drop(hold);
    let mut done = false;
    for _ in 0..20_000 {
        if queued.as_mut().poll(&mut cx).is_ready() {
            done = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(done, "the async call never ran");
    caller.join().unwrap();
    BARGE_ORDER
        .lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|s| s.starts_with(prefix))
        .collect()
}

/// Keys table: `sync_barging`: "how long a call to a sync function (not an
/// `async`, `blocking` or future-returning one) may wait outside the queue
/// for a freed slot before it takes its place in the order" — for a sync
/// function returning a `Result`.
#[test]
fn a_barging_sync_function_waits_outside_the_queue_and_a_queued_call_goes_first() {
    let order = barging_order(
        BargeResult::POOL,
        || barge_result_sync().unwrap(),
        Box::pin(async { barge_result_async().await.unwrap() }),
        "result",
    );
    assert_eq!(order, ["result: async", "result: sync"]);
}

/// The same promise for a sync function whose return type cannot carry an
/// error (the README's `checksum` shape): the keys table excludes only
/// async, blocking and future-returning functions, but such a function
/// expands to `run_wait`, and "calls that never reject (`run_wait`) ...
/// always queue" (GroupSettings::sync_barging), so `sync_barging` does
/// nothing for it: the sync caller is in the queue, and goes first.
#[test]
fn a_barging_sync_function_without_a_result_waits_outside_the_queue_too() {
    let order = barging_order(
        BargePlain::POOL,
        barge_plain_sync,
        Box::pin(barge_plain_async()),
        "plain",
    );
    assert_eq!(order, ["plain: async", "plain: sync"]);
}

// ---- groups named by path from other modules --------------------------------------

mod api {
    pub mod groups {
        #[pooled::group(order = "priority", size = 1)]
        pub struct Ranked;

        #[pooled::group(order = "priority", size = 1)]
        pub(crate) struct CrateRanked;

        #[pooled::group(order = "priority", size = 1)]
        pub(super) struct ParentRanked;

        pub mod inner {
            // A child module names its parent's private group.
            #[pooled::group(order = "priority", size = 1)]
            struct Private;

            pub mod leaf {
                #[pooled::pooled(group = super::Private, weight = -1)]
                pub async fn private_weighted(n: u32) -> u32 {
                    n
                }
            }
        }
    }

    #[pooled::pooled(group = groups::ParentRanked, weight = 2)]
    pub async fn parent_weighted(n: u32) -> u32 {
        n
    }

    pub fn parent_completed() -> u64 {
        groups::ParentRanked::POOL.stats().completed
    }

    pub mod calls {
        #[pooled::pooled(group = crate::api::groups::Ranked, weight = 5)]
        pub async fn weighted(n: u32) -> u32 {
            n
        }

        #[pooled::pooled(group = super::groups::CrateRanked, weight = 7)]
        pub fn weighted_sync(n: u32) -> u32 {
            n
        }
    }
}

/// `#[pooled::group]`: "Functions name the group by path (`group =
/// crate::api::Payments`)", with weights checked against the group "by
/// evaluating a constant" through its hidden item — from other modules,
/// whatever the group's visibility allows.
#[test]
fn weighted_functions_name_groups_declared_in_other_modules() {
    futures::executor::block_on(async {
        assert_eq!(api::calls::weighted(1).await, 1);
        assert_eq!(api::parent_weighted(2).await, 2);
        assert_eq!(api::groups::inner::leaf::private_weighted(3).await, 3);
    });
    assert_eq!(api::calls::weighted_sync(4), 4);
    assert_eq!(api::groups::Ranked::POOL.stats().completed, 1);
    assert_eq!(api::groups::CrateRanked::POOL.stats().completed, 1);
    assert_eq!(api::parent_completed(), 1);
}

// ---- the expansion under clippy ---------------------------------------------------

/// `#[pooled]` docs, Hygiene: the expansion "is clean under
/// `#![deny(warnings, unused_qualifications)]` and `clippy::pedantic`".
/// Given all seven `adaptive_*` parameters, it expands to
/// `AdaptiveSettings { <all seven fields>, ..AdaptiveSettings::DEFAULT }`,
/// which clippy's `needless_update` (a default lint) flags on the user's
/// attribute: `cargo clippy -- -D warnings` fails (default lints only, no
/// pedantic). Checked on a scratch crate (slow the first time: it checks
/// the dependencies).
#[test]
fn an_attribute_with_every_adaptive_parameter_is_clean_under_clippy() {
    let manifest = env!("CARGO_MANIFEST_DIR");
    let dir = std::env::temp_dir().join(format!("acc14-clippy-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"acc14-clippy\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             [dependencies]\npooled = {{ path = {manifest:?} }}\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::copy(
        std::path::Path::new(manifest).join("Cargo.lock"),
        dir.join("Cargo.lock"),
    )
    .unwrap();
    std::fs::write(
        dir.join("src/lib.rs"),
        r#"//! Scratch crate.
#![deny(warnings)]

/// Every adaptive parameter.
#[pooled::pooled(
    kind = "autoscale",
    policy = "adaptive",
    adaptive_window_samples = 20,
    adaptive_window_time = "50ms",
    adaptive_tolerance = 1.5,
    adaptive_smoothing = 0.5,
    adaptive_baseline_interval = "1m",
    adaptive_backoff = 0.7,
    adaptive_drop_tolerance = 0.1
)]
pub async fn tuned() -> u32 {
    1
}
"#,
    )
    .unwrap();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(manifest).join("target"))
        .join("acc14-clippy");
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["clippy", "--offline", "--quiet", "--", "-D", "warnings"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "clippy refused the expansion:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

static NEVER_AWAITED_BUILT: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(size = 1)]
fn never_awaited(n: u32) -> impl Future<Output = u32> + Send {
    NEVER_AWAITED_BUILT.fetch_add(1, SeqCst);
    async move { n }
}

#[pooled::pooled(size = 1)]
fn built_panics() -> impl Future<Output = Result<u32, AppError>> + Send {
    async {
        if NEVER_AWAITED_BUILT.load(SeqCst) < u32::MAX as usize {
            panic!("planned: a built future that panics");
        }
        Ok(0)
    }
}

/// Returned futures: the body "builds the future without a slot" and the
/// returned future "holds the slot until the built future completes"; a
/// returned future dropped unpolled never reached the pool (README: "A
/// call is submitted when it is first polled"); one whose built future
/// panics frees its slot and the panic reaches the caller.
#[test]
fn a_returned_future_dropped_unpolled_is_no_call_and_a_panicking_one_frees_its_slot() {
    drop(never_awaited(1));
    drop(never_awaited(2));
    assert_eq!(NEVER_AWAITED_BUILT.load(SeqCst), 2);
    let s = NEVER_AWAITED_POOL.stats();
    assert_eq!(
        (s.submitted(), s.cancelled, s.completed),
        (0, 0, 0),
        "{s:?}"
    );
    assert_eq!(futures::executor::block_on(never_awaited(3)), 3);
    assert_eq!(NEVER_AWAITED_POOL.stats().submitted(), 1);

    let out = std::panic::catch_unwind(|| futures::executor::block_on(built_panics()));
    assert!(out.is_err());
    let s = BUILT_PANICS_POOL.stats();
    assert_eq!((s.completed, s.panicked, s.running), (1, 1, 0), "{s:?}");
    let again = std::panic::catch_unwind(|| futures::executor::block_on(built_panics()));
    assert!(
        again.is_err(),
        "the slot was freed: the second call ran too"
    );
}

#[pooled::group(size = 1)]
/// A documented marker with derives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Marked;

/// `#[pooled::group]`: "The struct is kept as written and gains an
/// associated `POOL`".
#[test]
fn a_group_marker_keeps_its_derives_and_docs() {
    assert_eq!(Marked, <Marked as Default>::default());
    assert_eq!(format!("{Marked:?}"), "Marked");
    assert_eq!(Marked::POOL.size(), 1);
    assert!(Marked::POOL.name().ends_with("::Marked"));
}

// ---- #[cfg]s reach the handle -----------------------------------------------------

#[pooled::pooled(size = 1)]
#[cfg(unix)]
fn platform() -> u8 {
    1
}

#[pooled::pooled(size = 2)]
#[cfg(not(unix))]
fn platform() -> u8 {
    2
}

#[cfg_attr(all(), pooled::pooled(size = 3))]
fn through_cfg_attr() -> u8 {
    3
}

/// The handle: "next to a free function `fetch`, a `const FETCH_POOL` in
/// the same module, with the function's visibility (and its `#[cfg]`s)":
/// two alternatives of one function under opposite `#[cfg]`s each get their
/// handle, without clashing; the attribute works through `cfg_attr`.
#[test]
fn a_functions_cfgs_reach_its_handle() {
    let expected = if cfg!(unix) { (1, 1) } else { (2, 2) };
    assert_eq!((platform(), PLATFORM_POOL.size() as u8), expected);
    assert_eq!(through_cfg_attr(), 3);
    assert_eq!(THROUGH_CFG_ATTR_POOL.size(), 3);
}

/// "Every shape of function" and "Every group is registered at link
/// time": a function, and a group, declared inside a function body.
#[test]
fn functions_and_groups_declared_inside_a_function_body_work() {
    #[pooled::group(size = 1, name = "acc14::local_group")]
    struct LocalGroup;

    #[pooled::pooled(group = LocalGroup)]
    fn in_local_group(n: u32) -> u32 {
        n
    }

    #[pooled::pooled(size = 2)]
    fn local_fn(n: u32) -> u32 {
        n * 2
    }

    assert_eq!(in_local_group(1) + local_fn(2), 5);
    assert_eq!(LocalGroup::POOL.stats().completed, 1);
    assert_eq!(LOCAL_FN_POOL.size(), 2);
    let names: Vec<_> = pooled::registered_groups().map(|g| g.name()).collect();
    assert!(names.contains(&"acc14::local_group"), "{names:?}");
}

#[pooled::group(size = 1, max_waiting = 1, sync_barging = "10s")]
struct BargeBound;

#[pooled::pooled(group = BargeBound)]
fn barge_bound_sync() -> Result<u8, AppError> {
    Ok(1)
}

#[pooled::pooled(group = BargeBound)]
async fn barge_bound_async() -> Result<u8, AppError> {
    Ok(2)
}

/// `GroupSettings::sync_barging`: "A call waiting outside the queue is a
/// waiting call: it counts in `Stats::waiting`, the autoscaler's demand
/// and `max_waiting`": with a bound of one, a sync caller waiting outside
/// the queue makes the next call `Full`; a slot that frees while nobody is
/// queued then goes to it.
#[test]
fn a_sync_caller_outside_the_queue_counts_against_max_waiting() {
    let hold = futures::executor::block_on(BargeBound::POOL.acquire_owned(0)).unwrap();
    let caller = std::thread::spawn(barge_bound_sync);
    for _ in 0..20_000 {
        if BargeBound::POOL.stats().waiting == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(BargeBound::POOL.stats().waiting, 1);
    assert_eq!(
        futures::executor::block_on(barge_bound_async()),
        Err(AppError::Busy(Rejected::Full))
    );
    drop(hold);
    assert_eq!(
        within(Duration::from_secs(20), move || caller.join().unwrap()),
        Ok(1)
    );
    let s = BargeBound::POOL.stats();
    assert_eq!(
        (s.completed, s.rejected_for(Rejected::Full)),
        (2, 1),
        "{s:?}"
    );
    assert_eq!((s.running, s.waiting), (0, 0));
}

#[pooled::pooled(size = 1, wait)]
fn waited_future(n: u8) -> impl Future<Output = Result<u8, AppError>> + Send {
    async move { Ok(n) }
}

#[pooled::pooled(size = 1, wait)]
async fn waited_async(n: u8) -> Result<u8, AppError> {
    Ok(n)
}

/// Rejections table: a function that "has `wait`" waits until `resume()`
/// instead of returning `Err(From::from(Rejected::Paused))` — an async
/// one, and a sync one returning a future ("Rejections follow `T`, as for
/// an `async fn`"); a closed pool still admits them.
#[test]
fn wait_makes_async_and_future_returning_functions_wait_through_a_pause_and_a_close() {
    runtime().block_on(async {
        WAITED_FUTURE_POOL.pause();
        WAITED_ASYNC_POOL.pause();
        let a = tokio::spawn(waited_future(1));
        let b = tokio::spawn(waited_async(2));
        until("both wait", || {
            WAITED_FUTURE_POOL.stats().waiting == 1 && WAITED_ASYNC_POOL.stats().waiting == 1
        })
        .await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !a.is_finished() && !b.is_finished(),
            "admitted while paused"
        );
        WAITED_FUTURE_POOL.resume();
        WAITED_ASYNC_POOL.resume();
        assert_eq!(a.await.unwrap(), Ok(1));
        assert_eq!(b.await.unwrap(), Ok(2));
        WAITED_FUTURE_POOL.pool().close();
        WAITED_ASYNC_POOL.pool().close();
        assert_eq!(waited_future(3).await, Ok(3));
        assert_eq!(waited_async(4).await, Ok(4));
    });
    for group in [WAITED_FUTURE_POOL, WAITED_ASYNC_POOL] {
        let s = group.stats();
        assert_eq!((s.completed, s.rejected_total()), (2, 0), "{s:?}");
    }
}
