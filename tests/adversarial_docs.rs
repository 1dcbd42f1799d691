//! Promises of the README and of the attribute's docs, checked as a user
//! would: through the facade, on running pools, with concurrency counted
//! from outside the library.

mod common;
use common::{multi_thread, Meter};
use pooled::{ExecutorKind, Kind, Order, Rejected};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::Duration;

// ---------------------------------------------------------------------------
// The keys table's defaults, observed on the running pools.

#[pooled::pooled]
fn all_defaults() -> u8 {
    1
}

#[pooled::pooled(kind = "autoscale")]
fn auto_defaults() -> u8 {
    1
}

#[pooled::pooled(kind = "autoscale", max = 2)]
fn auto_small_max() -> u8 {
    1
}

#[pooled::pooled(kind = "autoscale", min = 10)]
fn auto_big_min() -> u8 {
    1
}

#[pooled::pooled(kind = "autoscale", min = 0)]
fn auto_min_zero() -> u8 {
    1
}

#[pooled::pooled(kind = "autoscale", min = 2, max = 6, size = 4)]
fn auto_sized() -> u8 {
    1
}

#[test]
fn the_keys_tables_defaults_hold_on_the_running_pools() {
    assert_eq!(all_defaults(), 1);
    let pool = ALL_DEFAULTS_POOL.pool();
    assert_eq!(
        (pool.kind(), pool.order(), pool.size()),
        (Kind::Fixed, Order::Fifo, 3)
    );
    assert_eq!(pool.max_waiting(), None);
    assert_eq!(pool.admission_timeout(), None);
    assert_eq!(pool.sync_barging(), None, "sync barging: off");
    assert_eq!(ALL_DEFAULTS_POOL.settings().sync_barging, None);
    assert_eq!(ALL_DEFAULTS_POOL.settings().executor, ExecutorKind::Default);

    // `min`: 3, `max`: min + 5, `size`: min.
    assert_eq!(auto_defaults(), 1);
    let pool = AUTO_DEFAULTS_POOL.pool();
    assert_eq!((pool.size(), pool.bounds()), (3, (3, 8)));
    let timing = AUTO_DEFAULTS_POOL.settings().autoscale;
    assert_eq!(
        (timing.interval, timing.window),
        (Duration::from_secs(10), 20),
        "every 10 s over 20 samples"
    );

    // `min`: "3, or `max` if smaller".
    assert_eq!(auto_small_max(), 1);
    let pool = AUTO_SMALL_MAX_POOL.pool();
    assert_eq!((pool.size(), pool.bounds()), (2, (2, 2)));

    // `max`: "min + 5".
    assert_eq!(auto_big_min(), 1);
    let pool = AUTO_BIG_MIN_POOL.pool();
    assert_eq!((pool.size(), pool.bounds()), (10, (10, 15)));

    // `size`: "default `min`, or 1 if `min` is 0"; scale clamps to [min, max].
    assert_eq!(auto_min_zero(), 1);
    let pool = AUTO_MIN_ZERO_POOL.pool();
    assert_eq!((pool.size(), pool.bounds()), (1, (0, 5)));
    assert_eq!(AUTO_MIN_ZERO_POOL.scale(100), 5);
    assert_eq!(AUTO_MIN_ZERO_POOL.scale(-100), 0);
    AUTO_MIN_ZERO_POOL.resize(1);

    assert_eq!(auto_sized(), 1);
    let pool = AUTO_SIZED_POOL.pool();
    assert_eq!((pool.size(), pool.bounds()), (4, (2, 6)));
}

// ---------------------------------------------------------------------------
// Values: `"simple"` is `"fifo"`; duration literals with several units.

#[pooled::pooled(order = "simple", admission_timeout = "1m30s", max_waiting = 0)]
fn simple_order() -> Result<u8, Rejected> {
    Ok(1)
}

#[pooled::pooled(
    kind = "autoscale",
    autoscale_interval = "1h2m3s4ms5us6ns",
    autoscale_window = 4096,
    admission_timeout = "250us",
    sync_barging = "1ms500us"
)]
fn odd_durations() -> Result<u8, Rejected> {
    Ok(1)
}

#[test]
fn simple_is_fifo_and_duration_literals_add_up_their_units() {
    assert_eq!(simple_order(), Ok(1));
    let pool = SIMPLE_ORDER_POOL.pool();
    assert_eq!(pool.order(), Order::Fifo);
    assert_eq!(pool.admission_timeout(), Some(Duration::from_secs(90)));
    assert_eq!(pool.max_waiting(), Some(0));

    assert_eq!(odd_durations(), Ok(1));
    let settings = ODD_DURATIONS_POOL.settings();
    let want = Duration::from_secs(3600 + 120 + 3)
        + Duration::from_millis(4)
        + Duration::from_micros(5)
        + Duration::from_nanos(6);
    assert_eq!(settings.autoscale.interval, want);
    assert_eq!(settings.autoscale.window, 4096);
    assert_eq!(
        ODD_DURATIONS_POOL.pool().admission_timeout(),
        Some(Duration::from_micros(250))
    );
    assert_eq!(settings.sync_barging, Some(Duration::from_micros(1500)));
    assert_eq!(
        ODD_DURATIONS_POOL.pool().sync_barging(),
        Some(Duration::from_micros(1500))
    );
}

// `max_waiting = 0`: "never wait, run now or be turned away".
#[pooled::pooled(size = 1, max_waiting = 0)]
fn no_waiting(hold: bool) -> Result<u8, Rejected> {
    if hold {
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(1)
}

#[test]
fn max_waiting_zero_turns_a_call_that_would_wait_away_as_full() {
    let holder = std::thread::spawn(|| no_waiting(true));
    while NO_WAITING_POOL.stats().running == 0 {
        std::thread::yield_now();
    }
    assert_eq!(no_waiting(false), Err(Rejected::Full));
    assert_eq!(holder.join().unwrap(), Ok(1));
    assert_eq!(no_waiting(false), Ok(1));
}

// ---------------------------------------------------------------------------
// `name`.

#[pooled::pooled(name = "docs::renamed")]
fn renamed() -> u8 {
    1
}

#[test]
fn name_names_the_group_in_the_registry_and_the_handle() {
    assert_eq!(RENAMED_POOL.name(), "docs::renamed");
    assert!(
        pooled::registered_groups().any(|g| g.name() == "docs::renamed"),
        "registered under its name before its first call"
    );
    assert_eq!(renamed(), 1);
    assert!(pooled::groups().iter().any(|g| g.name == "docs::renamed"));
}

// ---------------------------------------------------------------------------
// The handle keeps the function's `#[cfg]`s and visibility.

#[pooled::pooled]
#[cfg(any())]
fn configured_out() -> u8 {
    1
}

/// Would clash with the handle, were the handle not configured out with the
/// function.
#[allow(dead_code)]
const CONFIGURED_OUT_POOL: u8 = 7;

mod inner {
    #[pooled::pooled(size = 2)]
    pub fn visible() -> u8 {
        2
    }

    pub struct Client;

    impl Client {
        #[pooled::pooled(size = 2)]
        pub fn get(&self) -> u8 {
            3
        }
    }
}

#[test]
fn handles_keep_the_functions_cfg_and_visibility() {
    assert_eq!(CONFIGURED_OUT_POOL, 7);
    assert_eq!(inner::visible(), 2);
    assert_eq!(inner::VISIBLE_POOL.size(), 2);
    assert_eq!(inner::Client.get(), 3);
    assert_eq!(inner::Client::GET_POOL.stats().completed, 1);
}

// ---------------------------------------------------------------------------
// Rejections table: a never-rejecting function runs on a closed pool,
// within its limit; one returning a `Result` gets `Closed`.

static CLOSED_METER: Meter = Meter::new();

#[pooled::group(size = 2)]
struct Closing;

#[pooled::pooled(group = Closing)]
fn closing_plain() -> u8 {
    let _in = CLOSED_METER.enter();
    std::thread::sleep(Duration::from_millis(20));
    1
}

#[pooled::pooled(group = Closing)]
fn closing_result() -> Result<u8, Rejected> {
    Ok(1)
}

#[pooled::pooled(group = Closing)]
async fn closing_async() -> u8 {
    let _in = CLOSED_METER.enter();
    tokio::time::sleep(Duration::from_millis(20)).await;
    1
}

#[test]
fn a_closed_pool_still_admits_never_rejecting_calls_within_its_limit() {
    Closing::POOL.pool().close();
    assert_eq!(closing_result(), Err(Rejected::Closed));
    let threads: Vec<_> = (0..6).map(|_| std::thread::spawn(closing_plain)).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let asyncs: Vec<u8> = rt.block_on(async {
        let tasks: Vec<_> = (0..6).map(|_| tokio::spawn(closing_async())).collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    for t in threads {
        assert_eq!(t.join().unwrap(), 1);
    }
    assert_eq!(asyncs, vec![1; 6]);
    assert!(CLOSED_METER.peak() <= 2, "saw {}", CLOSED_METER.peak());
    assert_eq!(CLOSED_METER.peak(), 2, "the limit was used");
}

// ---------------------------------------------------------------------------
// Reentrancy through the attribute: "A call made while the caller already
// holds a slot of the same pool (a nested or recursive call, in the same task
// or, for sync calls, on the same thread) may run under that slot, so nested
// calls never deadlock a full pool; only one nested call at a time uses it".

/// Runs `f` on a thread of its own; `None` if it has not returned in 5 s
/// (a deadlock).
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(5)).ok()
}

#[pooled::group(size = 1)]
struct Single;

static SINGLE_METER: Meter = Meter::new();

#[pooled::pooled(group = Single)]
fn single_sync(n: u32) -> u32 {
    let _in = SINGLE_METER.enter();
    std::thread::sleep(Duration::from_millis(5));
    n + 1
}

#[pooled::pooled(group = Single, blocking)]
fn single_blocking_calls_sync(n: u32) -> u32 {
    // On the blocking executor's thread, holding the group's one slot.
    single_sync(n) * 10
}

#[pooled::pooled(group = Single)]
async fn single_async_calls_blocking(n: u32) -> u32 {
    single_blocking_calls_sync(n).await + 1
}

#[pooled::pooled(group = Single)]
async fn single_async(n: u32) -> u32 {
    let _in = SINGLE_METER.enter();
    tokio::time::sleep(Duration::from_millis(5)).await;
    n * 2
}

#[pooled::pooled(group = Single)]
fn single_sync_drives_async(n: u32) -> u32 {
    // A runtime driven inside a sync call: its tasks are nested calls.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let a = tokio::spawn(single_async(n));
        let b = tokio::spawn(single_async(n + 1));
        a.await.unwrap() + b.await.unwrap()
    })
}

#[pooled::pooled(group = Single)]
fn single_recursive(n: u32) -> u32 {
    if n == 0 {
        0
    } else {
        1 + single_recursive(n - 1)
    }
}

#[pooled::pooled(group = Single)]
fn single_returns_future(n: u32) -> impl std::future::Future<Output = u32> + Send {
    async move { single_async(n).await + 1 }
}

#[pooled::pooled(group = Single)]
async fn single_joins(n: u32) -> (u32, u32, u32) {
    // A sync call on this task's thread (polled first, so the slot is not
    // lent yet) and two joined async calls: nested calls, one at a time
    // under this call's slot.
    let (c, a, b) = tokio::join!(
        async { single_sync(n) },
        single_async(n),
        single_async(n + 1)
    );
    (a, b, c)
}

#[test]
fn nested_calls_of_a_full_single_slot_group_complete_one_at_a_time() {
    // A blocking function that calls a sync one of its group.
    let rt = Arc::new(multi_thread());
    let r = rt.clone();
    assert_eq!(
        within(move || r.block_on(single_async_calls_blocking(1))),
        Some(21)
    );
    // A sync function driving a runtime whose tasks call the group.
    assert_eq!(within(|| single_sync_drives_async(1)), Some(2 + 4));
    // Recursion of a sync function.
    assert_eq!(within(|| single_recursive(20)), Some(20));
    // A sync function returning a future whose work calls the group.
    let r = rt.clone();
    assert_eq!(
        within(move || r.block_on(single_returns_future(3))),
        Some(7)
    );
    // Joined nested calls.
    let r = rt.clone();
    assert_eq!(within(move || r.block_on(single_joins(1))), Some((2, 4, 2)));
    assert_eq!(SINGLE_METER.peak(), 1, "one call at a time in a group of 1");
    let stats = Single::POOL.stats();
    assert_eq!((stats.running, stats.waiting, stats.nested), (0, 0, 0));
}

// "a paused or closed pool or a full waiting bound does not turn them away:
// they belong to admitted work".
#[pooled::group(size = 1, max_waiting = 0)]
struct Admitted;

#[pooled::pooled(group = Admitted)]
async fn admitted_inner(n: u32) -> Result<u32, Rejected> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    Ok(n)
}

#[pooled::pooled(group = Admitted)]
async fn admitted_outer() -> Result<Vec<Result<u32, Rejected>>, Rejected> {
    let mut out = Vec::new();
    // The slot is taken (by this call): a top-level call would be `Full`;
    // two joined nested calls: one waits for the lent slot.
    let (a, b) = tokio::join!(admitted_inner(1), admitted_inner(2));
    out.extend([a, b]);
    Admitted::POOL.pause();
    out.push(admitted_inner(3).await);
    Admitted::POOL.pool().close();
    out.push(admitted_inner(4).await);
    Ok(out)
}

#[tokio::test]
async fn nested_calls_are_not_turned_away_by_pause_close_or_the_waiting_bound() {
    assert_eq!(admitted_outer().await, Ok(vec![Ok(1), Ok(2), Ok(3), Ok(4)]));
    assert_eq!(admitted_inner(5).await, Err(Rejected::Closed));
}

// "A *sync* nested call that would have to wait while the slot is lent to
// another nested call of the same task ... panics naming the fix".
#[pooled::group(size = 1)]
struct Lent;

#[pooled::pooled(group = Lent)]
async fn lent_async() -> u8 {
    tokio::time::sleep(Duration::from_millis(20)).await;
    1
}

#[pooled::pooled(group = Lent)]
fn lent_sync() -> u8 {
    2
}

#[pooled::pooled(group = Lent)]
async fn lent_outer() -> (u8, u8) {
    tokio::join!(lent_async(), async { lent_sync() })
}

#[test]
fn a_sync_nested_call_waiting_for_a_slot_lent_in_its_own_task_panics_naming_the_fix() {
    let rt = multi_thread();
    let panic = rt
        .block_on(rt.spawn(lent_outer()))
        .expect_err("must panic, not deadlock");
    let panic = panic.into_panic();
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap();
    assert!(message.contains("Await the other call first"), "{message}");
    assert!(message.contains("make this one async"), "{message}");
    let stats = Lent::POOL.stats();
    assert_eq!((stats.running, stats.waiting, stats.nested), (0, 0, 0));
    assert_eq!(rt.block_on(lent_outer_ok()), 3);
}

async fn lent_outer_ok() -> u8 {
    lent_async().await + lent_sync()
}

// ---------------------------------------------------------------------------
// "How it works, and the rules it keeps", on `Pool`.

use pooled::{Pool, Stats};
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

fn identity(s: &Stats) -> bool {
    s.submitted()
        == s.completed
            + s.rejected_total()
            + s.cancelled
            + (s.running + s.nested + s.waiting) as u64
}

#[test]
fn a_call_is_submitted_when_first_polled_and_every_term_is_counted() {
    let pool = Pool::builder().size(1).build().unwrap();
    let held = pool.try_acquire().unwrap();
    let call = pool.submit(async { 1 });
    assert_eq!(pool.stats().submitted(), 1, "the permit only");
    let mut call = pin!(call);
    assert!(poll_once(call.as_mut()).is_pending());
    let s = pool.stats();
    assert_eq!((s.submitted(), s.waiting, s.running), (2, 1, 1));
    assert!(identity(&s), "{s:?}");
    drop(held);
    assert_eq!(poll_once(call.as_mut()), Poll::Ready(Ok(1)));
    let s = pool.stats();
    assert_eq!(
        (s.submitted(), s.completed, s.running, s.waiting),
        (2, 2, 0, 0)
    );
    assert!(identity(&s), "{s:?}");

    // Panicked calls are counted in `completed` and again in `panicked`; a
    // judge that panics is a panicked call.
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures::executor::block_on(pool.submit(async { panic!("work") }))
    }));
    assert!(out.is_err());
    let judged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures::executor::block_on(pool.submit_judged(
            0,
            async { 5 },
            |_: &i32| -> pooled::Verdict { panic!("judge") },
        ))
    }));
    assert!(judged.is_err());
    let s = pool.stats();
    assert_eq!((s.completed, s.panicked, s.running), (4, 2, 0), "{s:?}");
    assert!(identity(&s), "{s:?}");

    // Dropping a waiting call removes it from the queue at once.
    let held = pool.try_acquire().unwrap();
    {
        let mut waiting = pin!(pool.submit(async { 2 }));
        assert!(poll_once(waiting.as_mut()).is_pending());
        assert_eq!(pool.stats().waiting, 1);
    }
    let s = pool.stats();
    assert_eq!((s.waiting, s.cancelled), (0, 1));
    drop(held);
    assert!(identity(&pool.stats()));
}

#[test]
fn fifo_and_lifo_pools_accept_and_ignore_weights() {
    for (order, want) in [(Order::Fifo, [0, 1, 2, 3]), (Order::Lifo, [3, 2, 1, 0])] {
        let pool = Pool::builder().order(order).size(1).build().unwrap();
        let held = pool.try_acquire().unwrap();
        let done = std::sync::Mutex::new(Vec::new());
        let weights = [5, -5, i64::MAX, i64::MIN];
        let mut calls: Vec<_> = (0..4)
            .map(|i| {
                let done = &done;
                Box::pin(pool.submit_weighted(weights[i], async move {
                    done.lock().unwrap().push(i);
                }))
            })
            .collect();
        for c in &mut calls {
            assert!(poll_once(c.as_mut()).is_pending());
        }
        drop(held);
        futures::executor::block_on(futures::future::join_all(calls));
        assert_eq!(*done.lock().unwrap(), want, "{order:?}");
    }
}

#[test]
fn hand_off_a_freed_slot_goes_to_the_queued_call_not_a_newcomer() {
    let pool = Pool::builder().size(1).build().unwrap();
    let held = pool.try_acquire().unwrap();
    let mut queued = pin!(pool.submit(async { 1 }));
    assert!(poll_once(queued.as_mut()).is_pending());
    drop(held);
    // The slot is the queued call's, though it has not been polled again.
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
    let mut newcomer = pin!(pool.submit(async { 2 }));
    assert!(poll_once(newcomer.as_mut()).is_pending());
    assert_eq!(poll_once(queued.as_mut()), Poll::Ready(Ok(1)));
    assert_eq!(poll_once(newcomer.as_mut()), Poll::Ready(Ok(2)));
}

#[test]
fn a_fixed_pool_scaled_to_zero_holds_its_queue_until_scaled_up() {
    let pool = Pool::builder().size(2).build().unwrap();
    assert_eq!(pool.resize(0), 0);
    let mut a = pin!(pool.submit(async { 1 }));
    let mut b = pin!(pool.submit(async { 2 }));
    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_once(b.as_mut()).is_pending());
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
    assert_eq!(pool.stats().waiting, 2);
    assert_eq!(pool.scale(1), 1);
    assert_eq!(poll_once(a.as_mut()), Poll::Ready(Ok(1)));
    assert_eq!(poll_once(b.as_mut()), Poll::Ready(Ok(2)));
}

#[test]
fn scoped_closes_and_drains_and_closes_without_waiting_on_a_panic_or_a_drop() {
    let ran = Arc::new(AtomicUsize::new(0));
    let pool = Pool::builder().size(2).build().unwrap();
    let handle = pool.clone();
    let r = ran.clone();
    futures::executor::block_on(pool.scoped(|p| async move {
        for _ in 0..4 {
            let r = r.clone();
            let p2 = p.clone();
            std::thread::spawn(move || {
                p2.run(|| {
                    std::thread::sleep(Duration::from_millis(20));
                    r.fetch_add(1, SeqCst);
                })
            });
        }
        // All four in the pool (running or queued) before the body ends: a
        // call counted as submitted may still be on its way to the queue,
        // and one that gets there after the close is turned away (Closed).
        while {
            let s = p.stats();
            s.running + s.waiting < 4
        } {
            std::thread::yield_now();
        }
    }));
    assert_eq!(ran.load(SeqCst), 4, "drained at the end");
    assert!(handle.is_closed());

    // The body panics: closed, not waited for.
    let pool = Pool::builder().size(1).build().unwrap();
    let handle = pool.clone();
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures::executor::block_on(pool.scoped(|_p| async move { panic!("body") }))
    }));
    assert!(out.is_err());
    assert!(handle.is_closed());
    assert_eq!(handle.try_acquire().err(), Some(Rejected::Closed));

    // The scope dropped mid-way.
    let pool = Pool::builder().size(1).build().unwrap();
    let handle = pool.clone();
    {
        let mut scope = pin!(pool.scoped(|_p| std::future::pending::<()>()));
        assert!(poll_once(scope.as_mut()).is_pending());
        assert!(!handle.is_closed());
    }
    assert!(handle.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_takes_its_queue_place_at_once() {
    let pool = Pool::builder().size(1).build().unwrap();
    let held = pool.acquire().await.unwrap();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let o = order.clone();
    let spawned = pool
        .spawn(async move { o.lock().unwrap().push("spawned") })
        .unwrap();
    assert_eq!(pool.stats().waiting, 1, "queued before the task runs");
    let o = order.clone();
    let mut later = Box::pin(pool.submit(async move { o.lock().unwrap().push("later") }));
    assert!(poll_once(later.as_mut()).is_pending());
    drop(held);
    later.await.unwrap();
    spawned.await.unwrap();
    assert_eq!(*order.lock().unwrap(), ["spawned", "later"]);
}

#[test]
fn permits_share_submits_order_rejections_and_accounting() {
    let pool = Pool::builder()
        .order(Order::Priority)
        .size(1)
        .max_waiting(2)
        .build()
        .unwrap();
    let held = pool.try_acquire().unwrap();
    let mut low = Box::pin(pool.acquire_owned(10));
    let mut high = Box::pin(pool.submit_weighted(1, async { "high" }));
    assert!(poll_once(low.as_mut()).is_pending());
    assert!(poll_once(high.as_mut()).is_pending());
    let mut third = Box::pin(pool.acquire_weighted(0));
    assert_eq!(
        poll_once(third.as_mut()).map(|r| r.err()),
        Poll::Ready(Some(Rejected::Full)),
        "past max_waiting"
    );
    drop(held);
    assert!(
        poll_once(low.as_mut()).is_pending(),
        "weight 10 waits for weight 1"
    );
    assert_eq!(poll_once(high.as_mut()), Poll::Ready(Ok("high")));
    let permit = match poll_once(low.as_mut()) {
        Poll::Ready(Ok(p)) => p,
        other => panic!("{:?}", other.map(|r| r.err())),
    };
    pool.pause();
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Paused));
    drop(permit);
    let s = pool.stats();
    assert_eq!(
        (s.completed, s.rejected_total(), s.running),
        (3, 2, 0),
        "{s:?}"
    );
    assert_eq!(
        (
            s.rejected_for(Rejected::Full),
            s.rejected_for(Rejected::Paused)
        ),
        (1, 1)
    );
    assert!(identity(&s), "{s:?}");
}

#[test]
fn sync_callers_time_out_on_their_own_thread_and_duration_max_means_never() {
    let pool = Pool::builder()
        .size(1)
        .admission_timeout(Duration::from_millis(30))
        .build()
        .unwrap();
    let held = pool.try_acquire().unwrap();
    let start = std::time::Instant::now();
    assert_eq!(pool.run(|| 1), Err(Rejected::TimedOut));
    assert!(start.elapsed() >= Duration::from_millis(30));
    pool.set_admission_timeout(Some(Duration::MAX));
    let p = pool.clone();
    let waiter = std::thread::spawn(move || p.run(|| 2));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(pool.stats().waiting, 1, "Duration::MAX never times out");
    drop(held);
    assert_eq!(waiter.join().unwrap(), Ok(2));
    assert!(Pool::builder()
        .admission_timeout(Duration::MAX)
        .autoscale_interval(Duration::MAX)
        .kind(Kind::Autoscale)
        .build()
        .is_ok());
}

#[tokio::test]
async fn shutdown_returns_by_its_deadline_and_says_how_many_still_run() {
    let pool = Pool::builder().size(2).build().unwrap();
    let p = pool.clone();
    // Work that runs until the test lets it go, after the shutdown returned:
    // a shutdown that waited for it would never return.
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let stuck = std::thread::spawn(move || p.run(move || hold.recv().unwrap()));
    while pool.stats().running == 0 {
        tokio::task::yield_now().await;
    }
    let p = pool.clone();
    let waiting_permit = tokio::spawn(async move {
        let _a = p.acquire().await;
        let _b = p.acquire().await;
        let c = p.acquire().await;
        c.err()
    });
    while pool.stats().waiting == 0 {
        tokio::task::yield_now().await;
    }
    let start = std::time::Instant::now();
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        pool.shutdown(Some(Duration::from_millis(50))),
    )
    .await
    .expect("shutdown returns by its deadline, with work still running");
    // It waited for its deadline (the work was running), not much past it
    // (a generous bound: a loaded machine delays timers).
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(50) && took < Duration::from_secs(2),
        "{took:?}"
    );
    let err = out.unwrap_err();
    assert_eq!(err.running, 2, "{err}");
    assert_eq!(waiting_permit.await.unwrap(), Some(Rejected::Closed));
    release.send(()).unwrap();
    stuck.join().unwrap().unwrap();
}

// ---------------------------------------------------------------------------
// "Every shape of function": more receivers, `impl Trait` returns, native
// trait default methods, borrowing returned futures, `Self` only in a macro.

#[pooled::group(size = 1)]
struct Shapes;

static SHAPES_METER: Meter = Meter::new();

struct Thing {
    n: u32,
}

impl Thing {
    const BASE: u32 = 100;

    #[pooled::pooled(group = Shapes)]
    fn boxed(self: Box<Self>) -> u32 {
        let _in = SHAPES_METER.enter();
        self.n
    }

    #[pooled::pooled(group = Shapes)]
    fn rc(self: std::rc::Rc<Self>) -> u32 {
        let _in = SHAPES_METER.enter();
        self.n
    }

    #[pooled::pooled(group = Shapes)]
    async fn pinned(self: Pin<&mut Self>) -> u32 {
        let _in = SHAPES_METER.enter();
        self.n
    }

    #[pooled::pooled(group = Shapes)]
    fn mut_value(mut self) -> u32 {
        let _in = SHAPES_METER.enter();
        self.n += 1;
        self.n
    }

    /// Takes no `self`; mentions `Self` only inside a macro call.
    #[pooled::pooled(size = 2)]
    fn described() -> String {
        format!("{}", Self::BASE)
    }

    /// A borrowing future built by a sync method.
    #[pooled::pooled(group = Shapes)]
    fn later<'a>(&'a self, add: &'a u32) -> impl Future<Output = u32> + Send + 'a {
        async move {
            let _in = SHAPES_METER.enter();
            self.n + *add
        }
    }
}

#[pooled::pooled(group = Shapes)]
async fn displays(n: u32) -> impl std::fmt::Display {
    let _in = SHAPES_METER.enter();
    n
}

#[pooled::pooled(group = Shapes)]
fn iterates(items: impl IntoIterator<Item = u32>) -> impl Iterator<Item = u32> {
    let _in = SHAPES_METER.enter();
    items.into_iter().map(|n| n * 2)
}

trait Greeter {
    #[pooled::pooled(group = Shapes)]
    async fn greet(&self) -> String {
        let _in = SHAPES_METER.enter();
        "hello".to_owned()
    }
}

impl Greeter for Thing {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_impl_trait_returns_and_native_default_methods_are_throttled() {
    assert_eq!(Thing { n: 1 }.boxed_sync(), 1);
    let handle = tokio::task::spawn_blocking(|| std::rc::Rc::new(Thing { n: 2 }).rc());
    assert_eq!(handle.await.unwrap(), 2);
    let mut thing = Thing { n: 3 };
    assert_eq!(Pin::new(&mut thing).pinned().await, 3);
    assert_eq!(Thing { n: 4 }.mut_value(), 5);
    assert_eq!(Thing::described(), "100");
    assert_eq!(Thing::DESCRIBED_POOL.stats().completed, 1);
    let add = 5;
    let thing = Thing { n: 6 };
    assert_eq!(thing.later(&add).await, 11);
    assert_eq!(displays(7).await.to_string(), "7");
    assert_eq!(iterates([1, 2]).collect::<Vec<_>>(), [2, 4]);
    assert_eq!(thing.greet().await, "hello");
    assert_eq!(Shapes::POOL.stats().completed, 8);
    assert_eq!(SHAPES_METER.peak(), 1);
}

impl Thing {
    fn boxed_sync(self) -> u32 {
        Box::new(self).boxed()
    }
}
// ---------------------------------------------------------------------------
// "Bad input is an error value ...: `BuildError` for ... a zero autoscale
// interval, an autoscale window above `AutoscaleTiming::MAX_WINDOW` = 4096
// samples ... A configuration load fails on the same bounds": whatever the
// pool's kind (`Pool::set_autoscale_timing` refuses them on any pool too).

#[pooled::pooled(size = 2)]
fn fixed_timing() -> u8 {
    1
}

#[test]
fn bad_autoscale_timing_is_refused_on_a_fixed_pool_too() {
    use pooled::{AutoscaleTiming, BuildError};
    assert_eq!(
        Pool::builder()
            .autoscale_interval(Duration::ZERO)
            .build()
            .err(),
        Some(BuildError::ZeroInterval)
    );
    assert_eq!(
        Pool::builder().autoscale_window(0).build().err(),
        Some(BuildError::ZeroWindow)
    );
    assert!(Pool::builder()
        .autoscale_window(AutoscaleTiming::MAX_WINDOW + 1)
        .build()
        .is_err());
    assert!(Pool::builder()
        .autoscale_window(AutoscaleTiming::MAX_WINDOW)
        .autoscale_interval(Duration::MAX)
        .build()
        .is_ok());

    let _config = CONFIG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (text, at) in [
        (
            "[groups.\"adversarial_docs::fixed_timing\"]\nautoscale_window = 0\n",
            "t.toml:2:20: ",
        ),
        (
            "[groups.\"adversarial_docs::fixed_timing\"]\nautoscale_window = 4097\n",
            "t.toml:2:20: ",
        ),
        (
            "[groups.\"adversarial_docs::fixed_timing\"]\nautoscale_interval = \"0s\"\n",
            "t.toml:2:22: ",
        ),
    ] {
        let err = pooled::config::load_str("t.toml", text).expect_err(text);
        assert!(err.to_string().starts_with(at), "{err}");
        assert!(
            err.to_string().contains("adversarial_docs::fixed_timing"),
            "{err}"
        );
    }
    assert_eq!(fixed_timing(), 1);
    assert_eq!(
        FIXED_TIMING_POOL.settings().autoscale,
        AutoscaleTiming::DEFAULT
    );
}

/// Tests that load configuration take turns (async ones hold the guard
/// across their awaits on purpose: the whole test is the turn).
static CONFIG: std::sync::Mutex<()> = std::sync::Mutex::new(());

// ---------------------------------------------------------------------------
// "a never-taken `return` of the declared type fixes the return type, so
// `return`, `?` and type errors behave ... as in the function as written";
// "`weight = <expression>`: any `i64` expression over the arguments,
// evaluated before the call waits".

#[derive(Debug, PartialEq)]
enum ParseError {
    Parse,
    Busy(Rejected),
}

impl From<std::num::ParseIntError> for ParseError {
    fn from(_: std::num::ParseIntError) -> Self {
        ParseError::Parse
    }
}

impl From<Rejected> for ParseError {
    fn from(r: Rejected) -> Self {
        ParseError::Busy(r)
    }
}

#[pooled::pooled(size = 1)]
fn parse_sync(text: &str) -> Result<u8, ParseError> {
    if text.is_empty() {
        return Ok(0);
    }
    let n: u8 = text.parse()?;
    Ok(n)
}

#[pooled::pooled(size = 1)]
async fn parse_async(text: &str) -> Result<u8, ParseError> {
    if text.is_empty() {
        return Ok(0);
    }
    let n: u8 = text.parse()?;
    Ok(n)
}

#[pooled::pooled(size = 1)]
fn next_of(x: Option<u8>) -> Option<u8> {
    let v = x?;
    Some(v + 1)
}

static WEIGHED: AtomicUsize = AtomicUsize::new(0);

fn weigh(n: u8) -> i64 {
    WEIGHED.fetch_add(1, SeqCst);
    i64::from(n)
}

#[pooled::pooled(order = "priority", size = 1, weight = weigh(n))]
async fn weighed(n: u8) -> u8 {
    n
}

#[tokio::test]
async fn return_and_question_mark_behave_as_written_and_weights_are_evaluated_once_first() {
    assert_eq!(parse_sync(""), Ok(0));
    assert_eq!(parse_sync("7"), Ok(7));
    assert_eq!(parse_sync("x"), Err(ParseError::Parse));
    assert_eq!(parse_async("").await, Ok(0));
    assert_eq!(parse_async("300").await, Err(ParseError::Parse));
    PARSE_ASYNC_POOL.pause();
    assert_eq!(
        parse_async("1").await,
        Err(ParseError::Busy(Rejected::Paused))
    );
    assert_eq!(next_of(None), None);
    assert_eq!(next_of(Some(1)), Some(2));

    let held = WEIGHED_POOL.pool().try_acquire().unwrap();
    let mut call = pin!(weighed(3));
    assert_eq!(
        WEIGHED.load(SeqCst),
        0,
        "nothing runs before the first poll"
    );
    assert!(poll_once(call.as_mut()).is_pending());
    assert_eq!(WEIGHED.load(SeqCst), 1, "evaluated before the call waits");
    assert!(poll_once(call.as_mut()).is_pending());
    drop(held);
    assert_eq!(poll_once(call.as_mut()), Poll::Ready(3));
    assert_eq!(WEIGHED.load(SeqCst), 1, "and only once");
}

// ---------------------------------------------------------------------------
// `test-util`: "`let _mine = GROUP.isolate();` routes the test's calls
// through the group to a fresh pool until the guard is dropped, so one
// test's `pause()`, `close()` or `stats()` never reaches another" — through
// an attribute's handle, from a `#[tokio::test]` (its tasks and blocking
// jobs included) and from a plain `#[test]`.

#[cfg(feature = "test-util")]
mod isolation {
    use super::*;

    #[pooled::pooled(size = 2)]
    pub fn shared(n: u32) -> Result<u32, Rejected> {
        Ok(n)
    }

    #[pooled::pooled(size = 2, blocking)]
    pub fn shared_blocking(n: u32) -> Result<u32, Rejected> {
        Ok(n)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_attribute_handle_isolates_in_a_runtime_its_tasks_and_blocking_jobs() {
        let before = SHARED_POOL.stats().completed;
        {
            let _mine = SHARED_POOL.isolate();
            SHARED_POOL.pool().close();
            assert_eq!(shared(1), Err(Rejected::Closed));
            let task = tokio::spawn(async { shared(2) });
            assert_eq!(task.await.unwrap(), Err(Rejected::Closed));
            let job = tokio::task::spawn_blocking(|| shared(3));
            assert_eq!(job.await.unwrap(), Err(Rejected::Closed));
            assert_eq!(SHARED_POOL.stats().rejected_for(Rejected::Closed), 3);
        }
        assert_eq!(shared(4), Ok(4), "the shared pool was never closed");
        assert_eq!(SHARED_POOL.stats().completed, before + 1);
        assert_eq!(SHARED_POOL.stats().rejected_total(), 0);

        let _mine = SHARED_BLOCKING_POOL.isolate();
        SHARED_BLOCKING_POOL.pause();
        assert_eq!(shared_blocking(5).await, Err(Rejected::Paused));
        drop(_mine);
        assert_eq!(shared_blocking(6).await, Ok(6));
    }

    #[pooled::pooled(size = 2)]
    pub fn shared_by_threads(n: u32) -> Result<u32, Rejected> {
        Ok(n)
    }

    #[test]
    fn an_attribute_handle_isolates_a_plain_tests_thread() {
        let _mine = SHARED_BY_THREADS_POOL.isolate();
        SHARED_BY_THREADS_POOL.pause();
        assert_eq!(shared_by_threads(7), Err(Rejected::Paused));
        // Another thread is another test's.
        let other = std::thread::spawn(|| shared_by_threads(8));
        assert_eq!(other.join().unwrap(), Ok(8));
    }
}

// ---------------------------------------------------------------------------
// Functions that return a future: "`overload` applies as on an `async fn`";
// "A call the pool turns away is not judged". A predicate that panics shows
// when it is consulted (a judge that panics is a panicked call).

fn judged_by_panic(error: &ParseError) -> bool {
    panic!("judged {error:?}")
}

#[pooled::pooled(kind = "autoscale", policy = "adaptive", min = 1, max = 4, overload = judged_by_panic)]
fn later_judged(fail: bool) -> impl Future<Output = Result<u8, ParseError>> + Send {
    async move {
        if fail {
            Err(ParseError::Parse)
        } else {
            Ok(1)
        }
    }
}

#[pooled::pooled(kind = "autoscale", policy = "adaptive", min = 1, max = 4, overload = judged_by_panic)]
fn boxed_judged(fail: bool) -> Pin<Box<dyn Future<Output = Result<u8, ParseError>> + Send>> {
    Box::pin(async move {
        if fail {
            Err(ParseError::Parse)
        } else {
            Ok(1)
        }
    })
}

#[test]
fn overload_judges_the_errors_of_returned_futures_and_not_rejections() {
    let block = |f: Pin<Box<dyn Future<Output = Result<u8, ParseError>> + Send>>| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures::executor::block_on(f)
        }))
    };
    assert_eq!(block(Box::pin(later_judged(false))).unwrap(), Ok(1));
    assert!(
        block(Box::pin(later_judged(true))).is_err(),
        "the predicate ran"
    );
    LATER_JUDGED_POOL.pause();
    assert_eq!(
        block(Box::pin(later_judged(true))).unwrap(),
        Err(ParseError::Busy(Rejected::Paused)),
        "a rejection is not judged"
    );
    let s = LATER_JUDGED_POOL.stats();
    assert_eq!((s.completed, s.panicked), (2, 1), "{s:?}");

    assert_eq!(block(boxed_judged(false)).unwrap(), Ok(1));
    assert!(block(boxed_judged(true)).is_err(), "the predicate ran");
    let s = BOXED_JUDGED_POOL.stats();
    assert_eq!((s.completed, s.panicked, s.running), (2, 1, 0), "{s:?}");
}

// ---------------------------------------------------------------------------
// "When a running call is cancelled, its work is dropped under its slot, so a
// `Drop` that calls the same pool runs as a nested call instead of waiting
// for a slot it holds itself" — through the attribute, sync and async.

#[pooled::group(size = 1)]
struct Dropping;

static DROP_CLEANUPS: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(group = Dropping)]
fn cleanup() -> u8 {
    DROP_CLEANUPS.fetch_add(1, SeqCst);
    1
}

struct CallsCleanupOnDrop;

impl Drop for CallsCleanupOnDrop {
    fn drop(&mut self) {
        cleanup();
    }
}

#[pooled::pooled(group = Dropping)]
async fn cancelled_midway() -> u8 {
    let _guard = CallsCleanupOnDrop;
    std::future::pending::<()>().await;
    0
}

#[test]
fn a_drop_in_cancelled_work_that_calls_its_group_runs_nested() {
    let done = within(|| {
        {
            let mut call = Box::pin(cancelled_midway());
            assert!(poll_once(call.as_mut()).is_pending());
            assert_eq!(Dropping::POOL.stats().running, 1);
        } // cancelled: the guard's `Drop` calls the group while its slot is held
        DROP_CLEANUPS.load(SeqCst)
    });
    assert_eq!(done, Some(1), "no deadlock, and the cleanup ran");
    let s = Dropping::POOL.stats();
    assert_eq!(
        (s.running, s.nested, s.waiting, s.cancelled),
        (0, 0, 0, 1),
        "{s:?}"
    );
    assert_eq!(cleanup(), 1, "the slot came back");
}

#[test]
fn scale_is_a_delta_clamped_to_zero_and_max_slots_on_a_fixed_pool() {
    let pool = Pool::builder().size(3).build().unwrap();
    assert_eq!(pool.scale(4), 7);
    assert_eq!(pool.scale(isize::MAX), pooled::MAX_SLOTS);
    assert_eq!(pool.scale(isize::MIN), 0);
    assert_eq!(pool.resize(usize::MAX), pooled::MAX_SLOTS);
    assert_eq!(pool.resize(2), 2);
    assert_eq!(pool.bounds(), (0, pooled::MAX_SLOTS));
}

// ---------------------------------------------------------------------------
// `#[pooled::group]`: "The struct is kept as written and gains an associated
// `POOL: &'static Group` ... with the struct's visibility".

mod declared {
    /// Kept as written: docs, derives, visibility.
    #[pooled::group(order = "lifo", size = 5, name = "docs::declared")]
    #[derive(Debug, Clone, Copy, PartialEq, Default)]
    pub(crate) struct Api;

    #[pooled::pooled(group = Api)]
    pub(crate) fn call() -> u8 {
        1
    }
}

#[pooled::pooled(group = declared::Api)]
fn call_from_outside() -> u8 {
    2
}

#[test]
fn a_declared_group_keeps_its_struct_and_exposes_its_handle_with_its_visibility() {
    let api = declared::Api;
    assert_eq!(format!("{:?}", api.clone()), "Api");
    fn made<T: Default>() -> T {
        T::default()
    }
    assert_eq!(api, made::<declared::Api>());
    assert_eq!(declared::call() + call_from_outside(), 3);
    let pool: &'static pooled::Group = declared::Api::POOL;
    assert_eq!(pool.name(), "docs::declared");
    assert_eq!((pool.pool().order(), pool.size()), (Order::Lifo, 5));
    assert_eq!(pool.stats().completed, 2);
}

// ---------------------------------------------------------------------------
// Configuration of attribute groups: a reload's report says what changed and
// when it takes effect ("`executor` ... takes effect at a group's next
// start"; kind and order are fixed while a pool runs; limits apply at once).

// (The reload names `executor = "rayon"`, which needs feature `rayon`.)
#[cfg(feature = "rayon")]
#[pooled::pooled(size = 2, blocking)]
fn reloaded() -> u8 {
    1
}

#[cfg(feature = "rayon")]
#[tokio::test]
#[allow(clippy::await_holding_lock)]
async fn a_reload_of_a_running_group_reports_each_change_and_when_it_applies() {
    use pooled::config::{self, Effect};
    let _config = CONFIG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    assert_eq!(reloaded().await, 1);
    let text = "[groups.\"adversarial_docs::reloaded\"]\n\
                executor = \"rayon\"\norder = \"lifo\"\nsize = 4\nmax_waiting = 7\n";
    let report = config::load_str("r.toml", text).unwrap();
    let effect = |setting: &str| {
        report
            .changes
            .iter()
            .find(|c| c.group == "adversarial_docs::reloaded" && c.setting == setting)
            .map(|c| c.effect)
    };
    assert_eq!(effect("executor"), Some(Effect::AtRestart), "{report}");
    assert_eq!(effect("order"), Some(Effect::AtRestart), "{report}");
    assert_eq!(effect("size"), Some(Effect::Applied), "{report}");
    assert_eq!(effect("max_waiting"), Some(Effect::Applied), "{report}");
    assert_eq!(RELOADED_POOL.size(), 4);
    assert_eq!(RELOADED_POOL.pool().max_waiting(), Some(7));
    assert_eq!(RELOADED_POOL.pool().order(), Order::Fifo, "until restart");
    assert!(report
        .to_string()
        .contains("adversarial_docs::reloaded: size 2 -> 4 (applied)"));
    // A reload that does not change the size leaves a manual scale alone.
    assert_eq!(RELOADED_POOL.scale(3), 7);
    let report =
        config::load_str("r.toml", &format!("{text}admission_timeout = \"1s\"\n")).unwrap();
    assert_eq!(RELOADED_POOL.size(), 7, "{report}");
    let cleared = config::clear();
    assert_eq!(RELOADED_POOL.size(), 2, "{cleared}");
    assert_eq!(reloaded().await, 1);
}

// ---------------------------------------------------------------------------
// `executor = "rayon"` (feature `rayon`): "where blocking calls run: tokio's
// blocking pool, or rayon's"; in configuration it "takes effect at a group's
// next start". Told apart by thread name: tokio names its blocking threads,
// rayon's global pool does not.

#[cfg(feature = "rayon")]
mod rayon_executor {
    use super::*;

    fn thread_name() -> String {
        std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_owned()
    }

    #[pooled::pooled(blocking, size = 2, executor = "rayon")]
    fn on_rayon() -> String {
        thread_name()
    }

    #[pooled::pooled(blocking, size = 2)]
    fn on_tokio() -> String {
        thread_name()
    }

    #[pooled::pooled(blocking, size = 2)]
    fn configured_rayon() -> String {
        thread_name()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[allow(clippy::await_holding_lock)]
    async fn blocking_calls_run_on_the_executor_the_attribute_or_configuration_names() {
        let tokio_name = on_tokio().await;
        assert!(tokio_name.starts_with("tokio"), "{tokio_name}");
        assert_eq!(ON_RAYON_POOL.settings().executor, ExecutorKind::Rayon);
        let rayon_name = on_rayon().await;
        assert!(!rayon_name.starts_with("tokio"), "{rayon_name}");

        let _config = CONFIG
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let text = "[groups.\"adversarial_docs::rayon_executor::configured_rayon\"]\n\
                    executor = \"rayon\"\n";
        pooled::config::load_str("e.toml", text).unwrap();
        let name = configured_rayon().await;
        assert!(
            !name.starts_with("tokio"),
            "configured before its start: {name}"
        );
        pooled::config::clear();
    }
}

// `DefaultExecutor`: "tokio's blocking pool in a tokio runtime, a new thread
// otherwise" — a `blocking` function awaited without any runtime.

#[pooled::pooled(blocking, size = 1)]
fn blocking_thread() -> std::thread::ThreadId {
    std::thread::sleep(Duration::from_millis(5));
    std::thread::current().id()
}

#[test]
fn a_blocking_function_awaited_outside_a_runtime_runs_on_a_thread_of_its_own() {
    let here = std::thread::current().id();
    let calls = futures::future::join_all((0..3).map(|_| blocking_thread()));
    let threads = futures::executor::block_on(calls);
    assert!(threads.iter().all(|id| *id != here), "{threads:?}");
    let s = BLOCKING_THREAD_POOL.stats();
    assert_eq!((s.completed, s.running, s.waiting), (3, 0, 0));
}

// `Stats`: "A nested call counts in `Stats::nested`, not in `running`";
// `completed` counts "nested calls included"; `waiting` includes "for calls
// that never reject, those waiting for `resume`"; the identity holds.

#[pooled::group(size = 1)]
struct Counted;

#[pooled::pooled(group = Counted)]
async fn counted_inner(seen: Arc<std::sync::Mutex<Option<Stats>>>) -> u8 {
    *seen.lock().unwrap() = Some(Counted::POOL.stats());
    1
}

#[pooled::pooled(group = Counted)]
async fn counted_outer(seen: Arc<std::sync::Mutex<Option<Stats>>>) -> u8 {
    counted_inner(seen).await + 1
}

#[pooled::pooled(group = Counted)]
fn counted_sync() -> u8 {
    3
}

#[test]
fn nested_calls_and_paused_waiters_are_counted_where_the_docs_say() {
    let seen = Arc::new(std::sync::Mutex::new(None));
    assert_eq!(futures::executor::block_on(counted_outer(seen.clone())), 2);
    let inside = seen.lock().unwrap().unwrap();
    assert_eq!((inside.running, inside.nested), (1, 1), "{inside:?}");
    let s = Counted::POOL.stats();
    assert_eq!((s.completed, s.running, s.nested), (2, 0, 0), "{s:?}");
    assert!(identity(&s), "{s:?}");

    Counted::POOL.pause();
    let waiter = std::thread::spawn(counted_sync);
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while Counted::POOL.stats().waiting == 0 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    let s = Counted::POOL.stats();
    assert_eq!((s.waiting, s.paused, s.running), (1, true, 0), "{s:?}");
    assert!(identity(&s), "{s:?}");
    Counted::POOL.resume();
    assert_eq!(waiter.join().unwrap(), 3);
    let s = Counted::POOL.stats();
    assert_eq!((s.completed, s.waiting, s.paused), (3, 0, false), "{s:?}");
    assert!(identity(&s), "{s:?}");
}

// "A call that finds a free slot never waits, so it works anywhere": a sync
// function on a current-thread runtime's thread, top-level and nested in an
// async call of its full group (the slot it finds is its parent's).

#[pooled::group(size = 1)]
struct Anywhere;

#[pooled::pooled(group = Anywhere)]
fn anywhere_sync(n: u8) -> u8 {
    n + 1
}

#[pooled::pooled(group = Anywhere)]
async fn anywhere_async(n: u8) -> u8 {
    tokio::task::yield_now().await;
    anywhere_sync(n) + anywhere_sync(n)
}

#[tokio::test(flavor = "current_thread")]
async fn a_sync_call_that_finds_its_slot_works_on_a_current_thread_runtime() {
    assert_eq!(anywhere_sync(1), 2);
    assert_eq!(anywhere_async(1).await, 4);
    let s = Anywhere::POOL.stats();
    assert_eq!((s.completed, s.running, s.nested), (4, 0, 0), "{s:?}");
}

// "Timeouts run on one lazily started timer thread, which works under any
// executor or none; a pool built with `.clock(TokioClock::new())` uses
// tokio's timer instead": a pool on the default clock does not follow
// tokio's paused time, one on `TokioClock` does.

#[tokio::test(start_paused = true)]
async fn only_a_pool_on_a_tokio_clock_times_out_in_tokio_time() {
    let system = Pool::builder()
        .size(1)
        .admission_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let tokio_clock = Pool::builder()
        .size(1)
        .admission_timeout(Duration::from_secs(30))
        .clock(pooled::TokioClock::new())
        .build()
        .unwrap();
    let (_a, _b) = (
        system.try_acquire().unwrap(),
        tokio_clock.try_acquire().unwrap(),
    );
    let mut on_system = Box::pin(system.submit(async {}));
    let mut on_tokio = Box::pin(tokio_clock.submit(async {}));
    assert!(poll_once(on_system.as_mut()).is_pending());
    assert!(poll_once(on_tokio.as_mut()).is_pending());
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(on_tokio.await, Err(Rejected::TimedOut));
    assert!(
        poll_once(on_system.as_mut()).is_pending(),
        "30 real seconds"
    );
}

// `Pool::abort`: "rejects every waiting call at once with `Rejected::Closed`
// (never-rejecting ones excepted ...); running calls finish" — through the
// attribute, with a never-rejecting and a rejecting function waiting.

#[pooled::group(size = 1)]
struct Aborted;

#[pooled::pooled(group = Aborted)]
fn aborted_plain(hold: Duration) -> u8 {
    std::thread::sleep(hold);
    1
}

#[pooled::pooled(group = Aborted)]
fn aborted_result() -> Result<u8, Rejected> {
    Ok(2)
}

#[test]
fn abort_turns_away_waiting_calls_that_can_be_told_no_and_keeps_the_others() {
    let holder = std::thread::spawn(|| aborted_plain(Duration::from_millis(150)));
    let wait_for = |running: usize, waiting: usize| {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        loop {
            let s = Aborted::POOL.stats();
            if (s.running, s.waiting) == (running, waiting) || std::time::Instant::now() > deadline
            {
                break;
            }
            std::thread::yield_now();
        }
    };
    wait_for(1, 0);
    let plain = std::thread::spawn(|| aborted_plain(Duration::ZERO));
    wait_for(1, 1);
    let result = std::thread::spawn(aborted_result);
    wait_for(1, 2);
    assert_eq!(Aborted::POOL.stats().waiting, 2);
    Aborted::POOL.pool().abort();
    assert_eq!(result.join().unwrap(), Err(Rejected::Closed));
    assert_eq!(holder.join().unwrap(), 1, "running calls finish");
    assert_eq!(
        plain.join().unwrap(),
        1,
        "a never-rejecting call still runs"
    );
    let s = Aborted::POOL.stats();
    assert_eq!(
        (s.completed, s.rejected_for(Rejected::Closed), s.waiting),
        (2, 1, 0)
    );
}

// A trait-impl method returning `impl Future` (return-position `impl Trait`
// in a trait) and one taking a `#[weight]` parameter, in a declared group.

#[pooled::group(order = "priority", size = 1)]
struct TraitGroup;

trait Fetch {
    fn fetch(&self, id: u8) -> impl Future<Output = u8> + Send;
    async fn ranked(&self, urgency: u8) -> u8;
}

struct Fetcher;

static TRAIT_METER: Meter = Meter::new();

impl Fetch for Fetcher {
    #[pooled::pooled(group = TraitGroup)]
    fn fetch(&self, id: u8) -> impl Future<Output = u8> + Send {
        async move {
            let _in = TRAIT_METER.enter();
            tokio::time::sleep(Duration::from_millis(2)).await;
            id
        }
    }

    #[pooled::pooled(group = TraitGroup)]
    async fn ranked(&self, #[weight] urgency: u8) -> u8 {
        let _in = TRAIT_METER.enter();
        tokio::time::sleep(Duration::from_millis(2)).await;
        urgency
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trait_impl_methods_returning_futures_or_taking_weights_share_their_group() {
    let tasks: Vec<_> = (0..8u8)
        .map(|i| {
            tokio::spawn(async move {
                if i % 2 == 0 {
                    Fetcher.fetch(i).await
                } else {
                    Fetcher.ranked(i).await
                }
            })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), i as u8);
    }
    assert_eq!(TRAIT_METER.peak(), 1);
    assert_eq!(TraitGroup::POOL.stats().completed, 8);
}

// The rejections table: a function that cannot return an error "waits (no
// bound)" past `max_waiting` and "waits (no timeout)" past
// `admission_timeout`, in a group that turns its other functions away.

#[pooled::group(size = 1, max_waiting = 0, admission_timeout = "20ms")]
struct Bounded;

#[pooled::pooled(group = Bounded)]
fn bounded_plain(hold: Duration) -> u8 {
    std::thread::sleep(hold);
    1
}

#[pooled::pooled(group = Bounded, wait)]
fn bounded_wait() -> Result<u8, Rejected> {
    Ok(2)
}

#[pooled::pooled(group = Bounded)]
fn bounded_result() -> Result<u8, Rejected> {
    Ok(3)
}

#[test]
fn never_rejecting_functions_ignore_the_groups_waiting_bound_and_timeout() {
    let holder = std::thread::spawn(|| bounded_plain(Duration::from_millis(120)));
    while Bounded::POOL.stats().running == 0 {
        std::thread::yield_now();
    }
    assert_eq!(bounded_result(), Err(Rejected::Full));
    let plain = std::thread::spawn(|| bounded_plain(Duration::ZERO));
    let waits = std::thread::spawn(bounded_wait);
    assert_eq!(holder.join().unwrap(), 1);
    assert_eq!(
        plain.join().unwrap(),
        1,
        "waited past max_waiting = 0 and 20 ms"
    );
    assert_eq!(waits.join().unwrap(), Ok(2), "`wait`: never rejected");
    let s = Bounded::POOL.stats();
    assert_eq!((s.completed, s.rejected_total()), (3, 1), "{s:?}");
}

// `pooled::groups()`: "Every group in the binary (registered at link time),
// sorted by name, with its current settings and stats. Listing does not
// start any group."

#[pooled::pooled(size = 6)]
fn never_called() -> u8 {
    1
}

#[test]
fn groups_are_listed_sorted_with_settings_and_listing_starts_none() {
    let list = pooled::groups();
    let names: Vec<&str> = list.iter().map(|g| g.name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    let info = list
        .iter()
        .find(|g| g.name == "adversarial_docs::never_called")
        .expect("listed before its first call");
    assert_eq!((info.settings.size, info.stats), (Some(6), None));
    assert!(!NEVER_CALLED_POOL.is_started(), "listing started it");
    assert_eq!(NEVER_CALLED_POOL.settings().starting_size(), 6);
    assert!(
        !NEVER_CALLED_POOL.is_started(),
        "reading settings started it"
    );
    assert_eq!(never_called(), 1);
    assert!(NEVER_CALLED_POOL.is_started());
}

// Autoscale (queue-depth rule): "when more than half the slots idle, shrinks
// toward it with 25% headroom (at most halving, and never below one slot by
// itself)" — an odd limit included: halving 3 or 5 slots leaves 2 or 3.

#[test]
fn an_idle_autoscaled_pool_shrinks_by_at_most_half_per_interval() {
    for (start, want) in [(3, 2), (5, 3), (9, 5), (8, 4), (2, 1)] {
        let clock = pooled::ManualClock::new();
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .min(0)
            .max(16)
            .size(start)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        clock.advance(Duration::from_secs(10));
        // An event after an idle interval: demand 0 throughout.
        drop(pool.try_acquire().unwrap());
        assert_eq!(pool.size(), want, "from {start}");
    }
}

// What a reload applies to a running pool and what waits for its restart:
// limits and timing at once; the policy and its adaptive parameters, like
// kind, order, executor and the fleet settings, at the next start.

#[pooled::pooled(kind = "autoscale", policy = "adaptive", min = 1, max = 8)]
async fn adaptive_reloaded() -> u8 {
    1
}

#[tokio::test]
#[allow(clippy::await_holding_lock)]
async fn a_reload_applies_limits_and_timing_now_and_the_policy_at_restart() {
    use pooled::config::{self, Effect};
    let _config = CONFIG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    assert_eq!(adaptive_reloaded().await, 1);
    let group = "adversarial_docs::adaptive_reloaded";
    let text = format!(
        "[groups.\"{group}\"]\nadaptive_tolerance = 2.0\nautoscale_interval = \"5s\"\nmax = 6\n"
    );
    let report = config::load_str("p.toml", &text).unwrap();
    let effect = |setting: &str| {
        report
            .changes
            .iter()
            .find(|c| c.group == group && c.setting == setting)
            .map(|c| c.effect)
    };
    // Each change by its key, as in the file (`Change::setting`).
    assert_eq!(
        effect("adaptive_tolerance"),
        Some(Effect::AtRestart),
        "{report}"
    );
    assert_eq!(
        effect("autoscale_interval"),
        Some(Effect::Applied),
        "{report}"
    );
    assert_eq!(effect("max"), Some(Effect::Applied), "{report}");
    assert_eq!(ADAPTIVE_RELOADED_POOL.pool().bounds(), (1, 6));
    let text = format!("[groups.\"{group}\"]\npolicy = \"queue_depth\"\n");
    let report = config::load_str("p.toml", &text).unwrap();
    assert!(
        report
            .changes
            .iter()
            .any(|c| c.setting == "policy" && c.effect == Effect::AtRestart),
        "{report}"
    );
    config::clear();
}

// `sync_barging` on a sync function: "a call ... may wait outside the queue
// for a freed slot" — the limit still holds, counted by the bodies, from
// many threads, and every call is counted once.
static BARGING_INSIDE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static BARGING_PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[pooled::pooled(size = 1, sync_barging = "1ms")]
fn barging_body() -> Result<(), Rejected> {
    use std::sync::atomic::Ordering::SeqCst;
    let now = BARGING_INSIDE.fetch_add(1, SeqCst) + 1;
    BARGING_PEAK.fetch_max(now, SeqCst);
    std::hint::black_box((0..50).sum::<u64>());
    BARGING_INSIDE.fetch_sub(1, SeqCst);
    Ok(())
}

#[test]
fn a_barging_sync_function_keeps_its_limit_across_threads() {
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(|| {
                for _ in 0..300 {
                    barging_body().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(BARGING_PEAK.load(std::sync::atomic::Ordering::SeqCst), 1);
    let stats = BARGING_BODY_POOL.stats();
    assert_eq!(
        (stats.submitted(), stats.completed),
        (2400, 2400),
        "{stats:?}"
    );
    assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
    assert_eq!(
        BARGING_BODY_POOL.pool().sync_barging(),
        Some(Duration::from_millis(1))
    );
}
