//! Acceptance tests of the facade, round 24: the attribute's handles with the
//! runtime's integrations (a `#[pooled::group]`'s `POOL` as a stream's pool,
//! its permits, its sync callers), and the README's "In code" promises about
//! sync `#[pooled]` functions: callers park in order, a paused group turns
//! calls away through the function's own `Result`, a function that cannot
//! return an error waits through the pause. Concurrency is counted from
//! outside; waits are bounded only to turn a hang into a failure.
#![cfg(not(miri))]

mod common;

use common::{within, Meter};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(20);

#[track_caller]
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < BOUND, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A declared group of 2 slots.
#[pooled::group(size = 2)]
pub struct Jobs;

/// README, stream: "a stream of futures run through a pool or group,
/// sharing its limit with every other caller": a declared group's `POOL`
/// handle is a stream's pool, and with its annotated functions called
/// meanwhile, no more than its size run (counted from outside).
#[cfg(feature = "stream")]
#[test]
fn a_declared_groups_handle_bounds_a_stream_with_its_functions() {
    use futures::StreamExt;
    use pooled::PooledStreamExt;
    static METER: Meter = Meter::new();

    #[pooled::pooled(group = Jobs)]
    fn job(n: usize) -> usize {
        let _in = METER.enter();
        std::thread::sleep(Duration::from_micros(300));
        n
    }

    within(BOUND, || {
        let other = std::thread::spawn(|| (0..40).map(job).sum::<usize>());
        let items = futures::stream::iter(0..40usize).map(|i| async move {
            let _in = METER.enter();
            std::thread::sleep(Duration::from_micros(300));
            i
        });
        let out: Vec<_> = futures::executor::block_on(items.pooled_ordered(Jobs::POOL).collect());
        assert_eq!(other.join().unwrap(), (0..40).sum::<usize>());
        assert_eq!(out, (0..40).map(Ok).collect::<Vec<_>>());
        assert!(METER.peak() <= 2, "peak {}", METER.peak());
        let s = Jobs::POOL.stats();
        assert_eq!(s.completed, 80);
        assert_eq!((s.running, s.waiting), (0, 0));
    });
}

/// The functions' own error.
#[derive(Debug, PartialEq)]
pub enum AppError {
    /// Turned away by the pool.
    Busy(pooled::Rejected),
}

impl From<pooled::Rejected> for AppError {
    fn from(r: pooled::Rejected) -> Self {
        AppError::Busy(r)
    }
}

static ORDER: Mutex<Vec<usize>> = Mutex::new(Vec::new());

#[pooled::pooled(size = 1)]
fn sync_step(i: usize) -> Result<usize, AppError> {
    ORDER.lock().unwrap().push(i);
    Ok(i)
}

/// README: "A sync function parks its caller's thread while it waits for a
/// slot", in the pool's order; "Rejections (paused, ...) return through the
/// function's own `Result` via `From<Rejected>`": the body never runs.
#[test]
fn sync_functions_park_in_order_and_a_pause_comes_back_through_their_result() {
    within(BOUND, || {
        let holder = SYNC_STEP_POOL.try_acquire_owned(0).unwrap();
        let mut threads = Vec::new();
        for i in 0..4usize {
            threads.push(std::thread::spawn(move || sync_step(i)));
            wait_until("parked", || SYNC_STEP_POOL.stats().waiting == i + 1);
        }
        SYNC_STEP_POOL.pause();
        assert_eq!(sync_step(99), Err(AppError::Busy(pooled::Rejected::Paused)));
        drop(holder);
        for (i, t) in threads.into_iter().enumerate() {
            assert_eq!(t.join().unwrap(), Ok(i));
        }
        assert_eq!(*ORDER.lock().unwrap(), [0, 1, 2, 3]);
        SYNC_STEP_POOL.resume();
        assert_eq!(sync_step(5), Ok(5));
    });
}

static WAITED: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(size = 1)]
fn cannot_fail() -> usize {
    WAITED.fetch_add(1, Ordering::SeqCst) + 1
}

/// README: "a function that cannot return an error waits instead": through
/// a pause, until `resume`.
#[test]
fn a_sync_function_without_an_error_type_waits_through_a_pause() {
    within(BOUND, || {
        CANNOT_FAIL_POOL.pause();
        let t = std::thread::spawn(cannot_fail);
        wait_until("waiting", || CANNOT_FAIL_POOL.stats().waiting == 1);
        std::thread::sleep(Duration::from_millis(30));
        assert!(!t.is_finished());
        assert_eq!(WAITED.load(Ordering::SeqCst), 0);
        CANNOT_FAIL_POOL.resume();
        assert_eq!(t.join().unwrap(), 1);
    });
}

static PERMIT_METER: Meter = Meter::new();

#[pooled::pooled(group = Jobs)]
async fn async_job() {
    let _in = PERMIT_METER.enter();
    tokio::time::sleep(Duration::from_millis(2)).await;
}

/// README table: "a semaphore permit | `acquire()`, `acquire_owned(w)`,
/// `try_acquire()`: same order, rejections and accounting as `submit`" — on
/// a declared group's handle, permits and the group's annotated functions
/// share its limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_permits_and_annotated_calls_share_the_limit() {
    static JOBS2_METER: Meter = Meter::new();
    /// A group of 2.
    #[pooled::group(size = 2)]
    pub struct Jobs2;
    #[pooled::pooled(group = Jobs2)]
    async fn job2() {
        let _in = JOBS2_METER.enter();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut tasks = Vec::new();
    for i in 0..8 {
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                if i % 2 == 0 {
                    let _p = Jobs2::POOL.acquire_owned(0).await.unwrap();
                    let _in = JOBS2_METER.enter();
                    tokio::time::sleep(Duration::from_millis(2)).await;
                } else {
                    job2().await;
                }
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(BOUND, t).await.expect("hung").unwrap();
    }
    assert!(JOBS2_METER.peak() <= 2, "peak {}", JOBS2_METER.peak());
    assert_eq!(JOBS2_METER.done(), 40);
    let s = Jobs2::POOL.stats();
    assert_eq!(s.completed, 40);
    let p = Jobs2::POOL.try_acquire(0).unwrap();
    let q = Jobs2::POOL.try_acquire(0).unwrap();
    assert_eq!(
        Jobs2::POOL.try_acquire(0).unwrap_err(),
        pooled::Rejected::Full
    );
    drop((p, q));
    async_job().await;
    assert_eq!(PERMIT_METER.done(), 1);
}

static CT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(size = 1)]
fn on_current_thread() -> Result<usize, AppError> {
    Ok(CT_RUNS.fetch_add(1, Ordering::SeqCst) + 1)
}

/// README: "on a current-thread runtime, where the slot's holder could never
/// run, a call that must wait panics naming the fix instead of hanging" and
/// "A call that finds a free slot never waits, so it works anywhere"; the
/// pool's accounting stays whole and the body never ran for the refused call.
#[test]
fn a_sync_function_on_a_current_thread_runtime_runs_when_free_and_panics_when_it_must_wait() {
    within(BOUND, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(async { on_current_thread() }), Ok(1));
        let holder = ON_CURRENT_THREAD_POOL.try_acquire_owned(0).unwrap();
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(async { on_current_thread() })
        }));
        let payload = out.expect_err("must panic instead of hanging");
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        assert!(
            msg.contains("spawn_blocking") || msg.contains("async"),
            "{msg}"
        );
        assert_eq!(
            CT_RUNS.load(Ordering::SeqCst),
            1,
            "the refused body never ran"
        );
        let s = ON_CURRENT_THREAD_POOL.stats();
        assert_eq!((s.running, s.waiting), (1, 0));
        drop(holder);
        assert_eq!(on_current_thread(), Ok(2));
    });
}
