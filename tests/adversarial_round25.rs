//! Hostile tests of `#[pooled]`, round 25: the systematic harness of
//! `pool-runtime/tests/adversarial_round25.rs` through the attribute. An
//! annotated function joining nested annotated calls, its future dropped at
//! every poll while the group is steered between polls (pause, resume,
//! resize to 0 and back, scale to the largest size and back), and the same
//! polled with a waker whose `clone`, `wake` or `drop` panics. Concurrency
//! is counted from outside, with a meter in the bodies.
#![cfg(all(feature = "tokio", feature = "config"))]

mod common;
use common::{within, Meter};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(30);

/// A future that is pending once (waking itself) and then ready.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Nothing running, nested or waiting, and the identity holds.
#[track_caller]
fn assert_quiet(stats: &pooled::Stats, what: &str) {
    assert_eq!(
        (stats.running, stats.nested, stats.waiting),
        (0, 0, 0),
        "{what}: {stats:?}"
    );
    assert_eq!(
        stats.submitted(),
        stats.completed + stats.rejected_total() + stats.cancelled,
        "{what}: accounting {stats:?}"
    );
}

/// Silences the panic hook for panics whose message starts with "planned".
fn quiet_planned_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let planned = info
                .payload()
                .downcast_ref::<&str>()
                .is_some_and(|s| s.starts_with("planned"));
            if !planned {
                default(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------
// An annotated call joining nested annotated calls, dropped at every poll.

#[pooled::group(size = 2, order = "priority", name = "adv25::steered")]
struct Steered;

static STEERED: Meter = Meter::new();

#[pooled::pooled(group = Steered, weight = 1)]
async fn steered_leaf(n: u32) -> u32 {
    let _in = STEERED.enter();
    YieldOnce(false).await;
    n
}

#[pooled::pooled(group = Steered, blocking)]
fn steered_blocking(n: u32) -> u32 {
    let _in = STEERED.enter();
    std::thread::sleep(Duration::from_millis(1));
    n
}

#[pooled::pooled(group = Steered)]
async fn steered_parent(n: u32) -> u32 {
    let a = steered_leaf(n).await;
    let (b, c, d) = futures::join!(steered_leaf(n), steered_leaf(n + 1), steered_blocking(n));
    a + b + c + d
}

#[pooled::pooled(group = Steered)]
fn steered_returned(n: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(async move {
        let (a, b) = futures::join!(steered_leaf(n), steered_leaf(n));
        a + b
    })
}

/// Promise (README "Cancellation": dropping a waiting call removes it from
/// the queue, dropping a running one frees its slot; "Reentrancy rule": the
/// server behind a pool of N never sees more than N calls from it; every
/// rejection-free annotated call waits rather than fails). Attack: an
/// annotated `async fn` that awaits a nested annotated call, then joins two
/// more and a `blocking` one, and a function returning a boxed future
/// joining two; a holder call runs and another waits; each future is
/// polled by hand `k` times (k = 0..10) with the group steered between
/// polls (pause, resume, resize to 0, 1, 3, scale by `isize::MAX` and
/// back), then dropped. The group ends quiet, its two slots takeable, and
/// never more bodies at once than the highest size it was given.
#[test]
fn annotated_nested_calls_dropped_at_every_poll_with_the_group_steered() {
    within(BOUND, || {
        let group = Steered::POOL;
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut highest = 2;
        for returned in [false, true] {
            for polls in 0..10usize {
                for seed in 0..6usize {
                    let mut high = group.size().max(2);
                    let mut holder = Box::pin(steered_leaf(100));
                    let _ = holder.as_mut().poll(&mut cx);
                    let mut fut: Pin<Box<dyn Future<Output = u32> + Send>> = if returned {
                        steered_returned(1)
                    } else {
                        Box::pin(steered_parent(1))
                    };
                    let mut other = Box::pin(steered_leaf(200));
                    let _ = other.as_mut().poll(&mut cx);
                    let mut holder_done = false;
                    let mut other_done = false;
                    let mut fut_done = false;
                    for i in 0..polls {
                        match (i + seed) % 8 {
                            0 => group.pause(),
                            1 => group.resume(),
                            2 => {
                                group.resize(0);
                            }
                            3 => {
                                group.resize(1);
                            }
                            4 => {
                                high = high.max(group.resize(3));
                            }
                            5 => {
                                high = high.max(group.scale(isize::MAX));
                                group.scale(isize::MIN);
                                group.resize(2);
                            }
                            _ => {}
                        }
                        fut_done = fut_done || fut.as_mut().poll(&mut cx).is_ready();
                        holder_done = holder_done || holder.as_mut().poll(&mut cx).is_ready();
                        other_done = other_done || other.as_mut().poll(&mut cx).is_ready();
                        std::thread::sleep(Duration::from_micros(100));
                        // The meter is static (its peak spans iterations):
                        // the bodies in flight now, against this iteration's
                        // highest limit.
                        assert!(
                            STEERED.now() <= high,
                            "{} bodies, limit at most {high}: {:?}",
                            STEERED.now(),
                            group.stats()
                        );
                    }
                    drop(fut);
                    group.resume();
                    group.resize(2);
                    let start = Instant::now();
                    while !(holder_done && other_done) {
                        holder_done = holder_done || holder.as_mut().poll(&mut cx).is_ready();
                        other_done = other_done || other.as_mut().poll(&mut cx).is_ready();
                        assert!(start.elapsed() < BOUND, "{:?}", group.stats());
                    }
                    while STEERED.now() != 0 || group.stats().running != 0 {
                        assert!(start.elapsed() < BOUND, "{:?}", group.stats());
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    let what = format!("returned {returned} polls {polls} seed {seed}");
                    highest = highest.max(high);
                    assert!(
                        STEERED.peak() <= highest,
                        "{what}: {} bodies",
                        STEERED.peak()
                    );
                    assert_quiet(&group.stats(), &what);
                    let held: Vec<_> = (0..3)
                        .filter_map(|_| group.try_acquire_owned(0).ok())
                        .collect();
                    assert_eq!(held.len(), 2, "{what}: {:?}", group.stats());
                }
            }
        }
    });
}

// ---------------------------------------------------------------------------
// The same, with a waker whose wake panics: the nested-count leak reported
// in `pool-runtime/tests/adversarial_round25.rs`, through the attribute.

#[pooled::group(size = 1, name = "adv25::woken")]
struct Woken;

static WOKEN: Meter = Meter::new();

#[pooled::pooled(group = Woken)]
async fn woken_leaf(n: u32) -> u32 {
    let _in = WOKEN.enter();
    YieldOnce(false).await;
    n
}

#[pooled::pooled(group = Woken)]
async fn woken_parent() -> u32 {
    let (a, b) = futures::join!(woken_leaf(1), woken_leaf(2));
    a + b
}

static ARMED: AtomicBool = AtomicBool::new(false);

/// A waker whose `wake` panics while [`ARMED`].
fn waker_whose_wake_panics() -> Waker {
    fn vtable() -> &'static RawWakerVTable {
        &RawWakerVTable::new(clone, wake, wake, drop)
    }
    unsafe fn clone(data: *const ()) -> RawWaker {
        RawWaker::new(data, vtable())
    }
    unsafe fn wake(_: *const ()) {
        if ARMED.load(SeqCst) && !std::thread::panicking() {
            panic!("planned: a waker whose wake panics");
        }
    }
    unsafe fn drop(_: *const ()) {}
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), vtable())) }
}

/// Promise (README "Faults lose nothing": "a waker whose `wake` panics does
/// not stop the rest of its batch (the first panic is re-raised once all
/// are woken ...)"; "Accounting": every term counted on its own). Attack:
/// an annotated `async fn` of a group of 1 joining two annotated calls of
/// the same group, polled with a waker whose `wake` panics once the first
/// nested call runs under the lent slot and the second waits for it. The
/// first's end hands the lend to the second and wakes it: the panic is
/// re-raised out of the hand-off before the returning call is counted out
/// of `nested` (`end_call`, pool-runtime/src/call/held.rs:77-79). The slot
/// comes back, but the group's `Stats::nested` stays 1 for good.
#[test]
fn an_annotated_parent_joining_nested_calls_under_a_waker_whose_wake_panics() {
    quiet_planned_panics();
    within(BOUND, || {
        let waker = waker_whose_wake_panics();
        let mut cx = Context::from_waker(&waker);
        let mut fut = Box::pin(woken_parent());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        let s = Woken::POOL.stats();
        assert_eq!((s.running, s.nested, s.waiting), (1, 1, 1), "{s:?}");
        ARMED.store(true, SeqCst);
        let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fut.as_mut().poll(&mut cx).is_ready()
        }));
        ARMED.store(false, SeqCst);
        if first.is_err() {
            drop(fut);
        } else {
            let start = Instant::now();
            while fut.as_mut().poll(&mut cx).is_pending() {
                assert!(start.elapsed() < BOUND);
            }
        }
        assert_eq!(WOKEN.now(), 0);
        assert_quiet(&Woken::POOL.stats(), "after the panicking wake");
    });
}
