//! `policy = "adaptive"` and `overload = path` wire through to the runtime: the
//! handle's settings name the adaptive policy, and the errors `overload` accepts
//! reach it as overloads, so the limit backs off; without `overload`, the same
//! errors are plain latency samples and the limit holds.
//!
//! Group pools read the system clock, so these tests run in real time: callers
//! whose calls take `CALL` each keep the pool busy until the policy's windows (10
//! calls and 100 ms) close. The adaptive policy first runs one window at `min`
//! (1 here) to measure the unloaded latency, then goes back to where it was; only
//! a size strictly between `min` and the starting 8 is a back-off. Every test is
//! bounded by a timeout, so a regression fails instead of hanging.

use pooled::{AdaptiveSettings, Group, Kind, Rejected, ScalePolicy};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The outer bound of every test.
const BOUND: Duration = Duration::from_secs(30);
/// How long one call keeps its slot.
const CALL: Duration = Duration::from_millis(20);
/// Callers calling back to back: enough to fill the starting 8 slots.
const CALLERS: usize = 8;
/// The size the driven pools start from (their `max`; they are built at `min`).
const START: usize = 8;

#[derive(Debug)]
enum MyErr {
    /// What the server answers when it is overrun.
    Busy,
    /// The pool turned the call away (never, here: no bound, no timeout).
    Rejected(Rejected),
}

impl From<Rejected> for MyErr {
    fn from(rejected: Rejected) -> Self {
        MyErr::Rejected(rejected)
    }
}

fn is_busy(error: &MyErr) -> bool {
    matches!(error, MyErr::Busy)
}

/// Every call finds the server overloaded, and `is_busy` says so.
#[pooled::pooled(kind = "autoscale", policy = "adaptive", min = 1, max = 8, overload = is_busy)]
async fn judged() -> Result<(), MyErr> {
    tokio::time::sleep(CALL).await;
    Err(MyErr::Busy)
}

/// The same function without `overload`: its errors are only timed.
#[pooled::pooled(kind = "autoscale", policy = "adaptive", min = 1, max = 8)]
async fn timed() -> Result<(), MyErr> {
    tokio::time::sleep(CALL).await;
    Err(MyErr::Busy)
}

#[pooled::group(kind = "autoscale", policy = "adaptive", min = 1, max = 8)]
struct Backend;

/// `overload` on a function of a declared adaptive group.
#[pooled::pooled(group = Backend, overload = is_busy)]
async fn in_group() -> Result<(), MyErr> {
    tokio::time::sleep(CALL).await;
    Err(MyErr::Busy)
}

#[pooled::group(kind = "autoscale", min = 2, max = 4)]
struct QueueDepth;

/// `overload` on a function of a queue-depth group: accepted, and ignored.
#[pooled::pooled(group = QueueDepth, overload = is_busy)]
async fn in_queue_depth_group(fail: bool) -> Result<u8, MyErr> {
    if fail {
        Err(MyErr::Busy)
    } else {
        Ok(1)
    }
}

/// A back-off: below the starting size, but not all the way to `min`.
fn backed_off(sizes: &[usize]) -> bool {
    sizes.iter().any(|size| (2..START).contains(size))
}

/// Runs `CALLERS` tasks calling `call` back to back until `done` holds for the
/// sizes seen so far or `limit` passes; returns the sizes the pool went through,
/// in order, each change once.
async fn drive<F, Fut>(
    pool: &'static Group,
    call: F,
    done: fn(&[usize]) -> bool,
    limit: Duration,
) -> Vec<usize>
where
    F: Fn() -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Result<(), MyErr>> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let out = call().await;
                    assert!(matches!(out, Err(MyErr::Busy)), "{out:?}");
                }
            })
        })
        .collect();
    let mut sizes = vec![pool.size()];
    let started = Instant::now();
    while !done(&sizes) && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let size = pool.size();
        if sizes.last() != Some(&size) {
            sizes.push(size);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.await.expect("a caller failed");
    }
    sizes
}

fn assert_adaptive(pool: &Group) {
    let settings = pool.settings();
    assert_eq!(settings.kind, Kind::Autoscale);
    assert_eq!(
        settings.policy,
        ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT)
    );
    assert_eq!((settings.min, settings.max), (Some(1), Some(START)));
}

/// Drives `call` until its pool backs off below `START` and checks the way there:
/// no probe at `min` first; the first move is one cut by the drop rate (every
/// call is refused: by `backoff`, to half).
async fn assert_backs_off<F, Fut>(pool: &'static Group, call: F)
where
    F: Fn() -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Result<(), MyErr>> + Send,
{
    assert_adaptive(pool);
    assert_eq!(pool.resize(START), START, "the pool starts at `min`");
    let sizes = tokio::time::timeout(
        BOUND,
        drive(pool, call, backed_off, Duration::from_secs(10)),
    )
    .await
    .expect("bounded");
    assert!(
        backed_off(&sizes),
        "overloads back the limit off: {sizes:?}"
    );
    assert_eq!(
        sizes.get(1),
        Some(&(START / 2)),
        "one proportional cut first, no probe: {sizes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overloads_that_overload_accepts_back_the_limit_off() {
    assert_backs_off(JUDGED_POOL, judged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_of_a_declared_adaptive_group_is_judged_too() {
    assert_backs_off(Backend::POOL, in_group).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_overload_errors_are_latency_samples_and_the_limit_holds() {
    assert_adaptive(TIMED_POOL);
    // Half the slots, all used, latency flat: windows close and the limit
    // grows back to `max` (while `judged`, refused, backs off in its first).
    assert_eq!(TIMED_POOL.resize(START / 2), START / 2);
    let sizes = tokio::time::timeout(
        BOUND,
        drive(
            TIMED_POOL,
            timed,
            |sizes| sizes.last() == Some(&START),
            Duration::from_secs(10),
        ),
    )
    .await
    .expect("bounded");
    assert_eq!(
        sizes.last(),
        Some(&START),
        "windows closed and it grew: {sizes:?}"
    );
    assert!(
        sizes.iter().all(|&size| size >= START / 2),
        "no back-off: {sizes:?}"
    );
}

#[tokio::test]
async fn a_queue_depth_group_ignores_the_verdicts() {
    let test = async {
        assert_eq!(QueueDepth::POOL.settings().policy, ScalePolicy::QueueDepth);
        assert!(matches!(in_queue_depth_group(true).await, Err(MyErr::Busy)));
        assert_eq!(in_queue_depth_group(false).await.unwrap(), 1);
        assert_eq!(QueueDepth::POOL.stats().completed, 2);
        QueueDepth::POOL.pause();
        assert!(matches!(
            in_queue_depth_group(false).await,
            Err(MyErr::Rejected(Rejected::Paused))
        ));
    };
    tokio::time::timeout(BOUND, test).await.expect("bounded");
}
