//! Acceptance round 43: the README section "How it works, and the rules it
//! keeps", sentence by sentence (reentrancy, cancellation, faults, sync
//! barging, shutdown, autoscale starting sizes, timeouts, bad input).
//!
//! Broken promises found: none (28 tests, all pass; each area below was
//! checked at exact values, concurrency counted from outside, hangs
//! watchdogged).

mod common;

use common::{gate, Task};
use pool_runtime::{
    AdaptiveSettings, AutoscaleTiming, BuildError, Clock, Kind, Pool, Rejected, ScalePolicy,
    MAX_SLOTS,
};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::{Duration, Instant};

/// Runs `f` on its own thread and fails the test if it takes longer than
/// `secs` (instead of hanging the suite).
fn watchdog<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let out = catch_unwind(AssertUnwindSafe(f));
        let _ = tx.send(out);
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(v)) => v,
        Ok(Err(p)) => std::panic::resume_unwind(p),
        Err(_) => panic!("watchdog: hung for more than {secs} s"),
    }
}

fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

fn identity(pool: &Pool) {
    let s = pool.stats();
    assert_eq!(
        s.submitted(),
        s.completed
            + s.rejected_total()
            + s.cancelled
            + s.running as u64
            + s.nested as u64
            + s.waiting as u64,
        "accounting identity: {s:?}"
    );
}

// ---------------------------------------------------------------- wakers

/// A waker whose `clone` panics while `armed`.
static CLONE_PANICS: AtomicBool = AtomicBool::new(false);

unsafe fn pc_clone(_: *const ()) -> RawWaker {
    if CLONE_PANICS.load(Ordering::SeqCst) {
        panic!("test waker: clone panics");
    }
    RawWaker::new(std::ptr::null(), &PC_VTABLE)
}
unsafe fn pc_noop(_: *const ()) {}
static PC_VTABLE: RawWakerVTable = RawWakerVTable::new(pc_clone, pc_noop, pc_noop, pc_noop);

fn clone_panicking_waker() -> Waker {
    // SAFETY: the vtable's functions ignore the data pointer.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &PC_VTABLE)) }
}

/// A waker counting wakes; `wake` panics if `panics`.
struct WakeCount {
    woken: AtomicUsize,
    panics: bool,
}
impl std::task::Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.fetch_add(1, Ordering::SeqCst);
        if self.panics {
            panic!("test waker: wake panics");
        }
    }
}
fn counting(panics: bool) -> (Waker, Arc<WakeCount>) {
    let c = Arc::new(WakeCount {
        woken: AtomicUsize::new(0),
        panics,
    });
    (Waker::from(c.clone()), c)
}

// ------------------------------------------------------------- bad input

#[test]
fn bad_input_exact_bounds() {
    assert_eq!(MAX_SLOTS, 1_073_741_823);
    assert_eq!(MAX_SLOTS, (1 << 30) - 1);
    assert_eq!(AutoscaleTiming::MAX_WINDOW, 4096);
    assert_eq!(AdaptiveSettings::WINDOW_SAMPLES, 1..=10_000);
    assert_eq!(*AdaptiveSettings::TOLERANCE.start(), 1.0);
    assert_eq!(AdaptiveSettings::SMOOTHING, 0.0..=1.0);
    assert_eq!(AdaptiveSettings::BACKOFF, 0.0..=1.0);
    assert_eq!(AdaptiveSettings::DROP_TOLERANCE, 0.0..=1.0);

    let fixed = || Pool::builder().kind(Kind::Fixed);
    let auto = || Pool::builder().kind(Kind::Autoscale);
    assert!(matches!(fixed().size(0).build(), Err(BuildError::ZeroSize)));
    assert!(matches!(
        fixed().size(MAX_SLOTS + 1).build(),
        Err(BuildError::TooLarge { value }) if value == MAX_SLOTS + 1
    ));
    assert!(fixed().size(4).max_waiting(MAX_SLOTS + 1).build().is_err());
    assert!(fixed().size(4).max_waiting(MAX_SLOTS).build().is_ok());
    assert!(matches!(
        auto().min(5).max(4).build(),
        Err(BuildError::MinAboveMax { min: 5, max: 4 })
    ));
    assert!(auto().min(1).max(MAX_SLOTS + 1).build().is_err());
    assert!(matches!(
        fixed().size(2).min(1).build(),
        Err(BuildError::BoundsOnFixedPool)
    ));
    assert!(matches!(
        fixed().size(2).max(3).build(),
        Err(BuildError::BoundsOnFixedPool)
    ));
    assert!(auto()
        .max(4)
        .autoscale_interval(Duration::ZERO)
        .build()
        .is_err());
    assert!(auto().max(4).autoscale_window(4097).build().is_err());
    assert!(auto().max(4).autoscale_window(4096).build().is_ok());
    assert!(auto().max(4).autoscale_window(0).build().is_err());

    let adaptive = |s: AdaptiveSettings| {
        auto()
            .min(1)
            .max(8)
            .scale_policy(ScalePolicy::Adaptive(s))
            .build()
    };
    let d = AdaptiveSettings::DEFAULT;
    assert!(adaptive(d).is_ok());
    for bad in [
        AdaptiveSettings {
            window_samples: 0,
            ..d
        },
        AdaptiveSettings {
            window_samples: 10_001,
            ..d
        },
        AdaptiveSettings {
            tolerance: 0.999,
            ..d
        },
        AdaptiveSettings {
            tolerance: f64::NAN,
            ..d
        },
        AdaptiveSettings {
            smoothing: 1.0001,
            ..d
        },
        AdaptiveSettings {
            smoothing: -0.0001,
            ..d
        },
        AdaptiveSettings {
            smoothing: f64::NAN,
            ..d
        },
        AdaptiveSettings { backoff: 1.5, ..d },
        AdaptiveSettings {
            backoff: f64::NAN,
            ..d
        },
        AdaptiveSettings {
            drop_tolerance: -0.1,
            ..d
        },
        AdaptiveSettings {
            drop_tolerance: f64::NAN,
            ..d
        },
    ] {
        assert!(adaptive(bad).is_err(), "accepted {bad:?}");
    }
    for good in [
        AdaptiveSettings {
            window_samples: 1,
            ..d
        },
        AdaptiveSettings {
            window_samples: 10_000,
            ..d
        },
        AdaptiveSettings {
            tolerance: 1.0,
            ..d
        },
        AdaptiveSettings {
            smoothing: 0.0,
            backoff: 1.0,
            drop_tolerance: 1.0,
            ..d
        },
        AdaptiveSettings {
            smoothing: 1.0,
            backoff: 0.0,
            drop_tolerance: 0.0,
            ..d
        },
    ] {
        assert!(adaptive(good).is_ok(), "refused {good:?}");
    }
}

/// "A duration too long to pass (`Duration::MAX`) means "never"."
#[test]
fn duration_max_admission_timeout_never_fires() {
    watchdog(20, || {
        let pool = Pool::builder()
            .size(1)
            .admission_timeout(Duration::MAX)
            .build()
            .unwrap();
        let held = pool.try_acquire().unwrap();
        let mut waiting = Task::new(pool.submit(async { 7 }));
        waiting.assert_pending();
        std::thread::sleep(Duration::from_millis(100));
        waiting.assert_pending();
        drop(held);
        assert!(waiting.is_woken());
        assert_eq!(waiting.assert_ready(), Ok(7));
        // And a sync call with that timeout just waits too.
        assert_eq!(pool.run(|| 3), Ok(3));
    });
}

// ------------------------------------------------------------ autoscale

/// "with `min = 0` a pool starts at 1"; "It starts at `size` (default
/// `min`)"; "`min`, which defaults to 3 (or `max` if smaller)".
#[test]
fn autoscale_starting_sizes() {
    let p = Pool::builder()
        .kind(Kind::Autoscale)
        .min(0)
        .max(10)
        .build()
        .unwrap();
    assert_eq!(p.size(), 1);
    assert_eq!(p.bounds(), (0, 10));

    let p = Pool::builder()
        .kind(Kind::Autoscale)
        .max(10)
        .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT))
        .build()
        .unwrap();
    assert_eq!(p.bounds(), (3, 10));
    assert_eq!(p.size(), 3);

    let p = Pool::builder()
        .kind(Kind::Autoscale)
        .max(2)
        .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT))
        .build()
        .unwrap();
    assert_eq!(p.bounds(), (2, 2));
    assert_eq!(p.size(), 2);

    let p = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(64)
        .size(5)
        .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT))
        .build()
        .unwrap();
    assert_eq!(p.size(), 5);
}

/// "only `resize` takes it to 0": a pool at min 0 resized to 0 stays at 0
/// and holds its queue until resized up.
#[test]
fn autoscale_min_zero_resize_to_zero_holds_queue() {
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(0)
        .max(4)
        .build()
        .unwrap();
    assert_eq!(pool.resize(0), 0);
    let mut t = Task::new(pool.submit(async { 1 }));
    t.assert_pending();
    assert_eq!(pool.stats().waiting, 1);
    assert_eq!(pool.size(), 0);
    pool.resize(1);
    assert!(t.is_woken());
    assert_eq!(t.assert_ready(), Ok(1));
    identity(&pool);
}

/// "shrinks toward it with 25% headroom (at most halving, and never below
/// one slot by itself: with `min = 0` a pool starts at 1 ...)".
#[test]
fn queue_depth_never_below_one_slot_by_itself() {
    let clock = Arc::new(pool_runtime::ManualClock::new());
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(0)
        .max(8)
        .size(8)
        .autoscale_interval(Duration::from_secs(1))
        .autoscale_window(4)
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(pool.size(), 8);
    let mut sizes = vec![8];
    for _ in 0..20 {
        clock.advance(Duration::from_secs(1));
        assert_eq!(pool.run(|| ()), Ok(()));
        let now = pool.size();
        let last = *sizes.last().unwrap();
        assert!(
            now * 2 >= last,
            "shrank more than halving: {sizes:?} -> {now}"
        );
        sizes.push(now);
    }
    assert_eq!(
        *sizes.last().unwrap(),
        1,
        "idle pool settles at one slot: {sizes:?}"
    );
    assert!(sizes.iter().all(|&n| n >= 1), "{sizes:?}");
    identity(&pool);
}

// ------------------------------------------------------------ limits

/// "scaling down never interrupts running work, the pool just admits nothing
/// until `running < limit`".
#[test]
fn scale_down_under_load_admits_nothing_until_below() {
    let pool = Pool::fixed(3);
    let a = pool.try_acquire().unwrap();
    let b = pool.try_acquire().unwrap();
    let c = pool.try_acquire().unwrap();
    assert_eq!(pool.resize(1), 1);
    let mut w = Task::new(pool.submit(async {}));
    w.assert_pending();
    assert_eq!(pool.stats().running, 3);
    drop(a);
    w.assert_pending();
    drop(b);
    w.assert_pending();
    assert_eq!(pool.stats().running, 1);
    drop(c);
    assert!(w.is_woken());
    assert_eq!(w.assert_ready(), Ok(()));
    identity(&pool);
}

// ------------------------------------------------------------ cancellation

/// "Dropping a waiting call removes it from the queue at once; dropping a
/// running call frees its slot; a panicking call frees its slot and the panic
/// reaches the caller."
#[test]
fn cancellation_rules() {
    let pool = Pool::fixed(1);
    let held = pool.try_acquire().unwrap();
    let mut w = Task::new(pool.submit(async {}));
    w.assert_pending();
    assert_eq!(pool.stats().waiting, 1);
    drop(w);
    let s = pool.stats();
    assert_eq!((s.waiting, s.cancelled), (0, 1));
    drop(held);

    let (g, _open) = gate();
    let mut r = Task::new(pool.submit(g));
    r.assert_pending();
    assert_eq!(pool.stats().running, 1);
    drop(r);
    let s = pool.stats();
    assert_eq!((s.running, s.cancelled), (0, 2));
    assert!(pool.try_acquire().is_ok());

    let completed = pool.stats().completed;
    let out = catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(pool.submit(async { panic!("boom") }))
    }));
    assert!(out.is_err());
    let s = pool.stats();
    assert_eq!((s.running, s.panicked, s.completed), (0, 1, completed + 1));
    assert!(pool.try_acquire().is_ok());
    identity(&pool);
}

/// "A call whose first poll unwound on its way into the queue (its waker's
/// `clone` panicked) is still entering: counted submitted, in no other term
/// until it is polled again (it queues) or dropped (cancelled)."
#[test]
fn submit_first_poll_unwinding_is_entering_then_queues() {
    let pool = Pool::fixed(1);
    let held = pool.try_acquire().unwrap();
    let base = pool.stats().submitted();
    let mut f = Box::pin(pool.submit(async { 5 }));
    CLONE_PANICS.store(true, Ordering::SeqCst);
    let w = clone_panicking_waker();
    let r = catch_unwind(AssertUnwindSafe(|| {
        f.as_mut().poll(&mut Context::from_waker(&w))
    }));
    CLONE_PANICS.store(false, Ordering::SeqCst);
    assert!(r.is_err(), "the clone's panic reaches the poller");
    let s = pool.stats();
    assert_eq!(s.submitted(), base + 1);
    assert_eq!((s.waiting, s.cancelled, s.running), (0, 0, 1));
    // Polled again, it queues.
    let (wk, woke) = counting(false);
    assert!(f.as_mut().poll(&mut Context::from_waker(&wk)).is_pending());
    assert_eq!(pool.stats().waiting, 1);
    drop(held);
    assert!(woke.woken.load(Ordering::SeqCst) >= 1);
    assert_eq!(
        f.as_mut().poll(&mut Context::from_waker(&wk)),
        Poll::Ready(Ok(5))
    );
    identity(&pool);

    // Dropped instead: cancelled.
    let held = pool.try_acquire().unwrap();
    let mut g = Box::pin(pool.submit(async { 6 }));
    CLONE_PANICS.store(true, Ordering::SeqCst);
    let r = catch_unwind(AssertUnwindSafe(|| {
        g.as_mut().poll(&mut Context::from_waker(&w))
    }));
    CLONE_PANICS.store(false, Ordering::SeqCst);
    assert!(r.is_err());
    let before = pool.stats().cancelled;
    drop(g);
    assert_eq!(pool.stats().cancelled, before + 1);
    drop(held);
    identity(&pool);
}

/// "such a call is counted cancelled as the panic leaves it, its slot is not
/// lost, and polling it again panics" (`submit_blocking`, an `async fn`;
/// this test took a permit's `acquire` until the permits got futures of
/// their own, which follow `submit`'s rule: `acceptance_round29`).
#[test]
fn async_fn_form_first_poll_unwinding_is_cancelled_and_repoll_panics() {
    let pool = Pool::fixed(1);
    let held = pool.try_acquire().unwrap();
    let mut f = Box::pin(pool.submit_blocking(|| ()));
    CLONE_PANICS.store(true, Ordering::SeqCst);
    let w = clone_panicking_waker();
    let r = catch_unwind(AssertUnwindSafe(|| {
        f.as_mut().poll(&mut Context::from_waker(&w))
    }));
    CLONE_PANICS.store(false, Ordering::SeqCst);
    assert!(r.is_err());
    let s = pool.stats();
    assert_eq!((s.cancelled, s.waiting), (1, 0));
    identity(&pool);
    let again = catch_unwind(AssertUnwindSafe(|| poll_once(f.as_mut()).is_ready()));
    assert!(again.is_err(), "polling an unwound async fn again panics");
    drop(f);
    drop(held);
    // The slot is not lost.
    assert!(pool.try_acquire().is_ok());
    assert_eq!(pool.stats().running, 0);
    identity(&pool);
}

// ------------------------------------------------------------ reentrancy

/// "A nested call counts in `Stats::nested`, not in `running`", and a
/// nested call in a full pool of one runs under the parent's slot.
#[test]
fn nested_call_runs_under_parents_slot_and_counts_nested() {
    watchdog(20, || {
        let pool = Pool::fixed(1);
        let seen = futures::executor::block_on(pool.submit(async {
            pool.submit(async {
                let s = pool.stats();
                (s.running, s.nested)
            })
            .await
        }));
        assert_eq!(seen, Ok(Ok((1, 1))));
        let s = pool.stats();
        assert_eq!((s.running, s.nested, s.completed), (0, 0, 2));
        identity(&pool);
    });
}

/// "only one nested call at a time uses a parent's slot; the others wait,
/// in the queue" — counted from outside.
#[test]
fn joined_nested_calls_run_one_at_a_time() {
    watchdog(20, || {
        let pool = Pool::fixed(1);
        let now = AtomicUsize::new(0);
        let max = AtomicUsize::new(0);
        let body = || async {
            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(n, Ordering::SeqCst);
            for _ in 0..3 {
                common::yield_now().await;
            }
            now.fetch_sub(1, Ordering::SeqCst);
        };
        let out = futures::executor::block_on(pool.submit(async {
            let (a, b, c) = futures::join!(
                pool.submit(body()),
                pool.submit(body()),
                pool.submit(body())
            );
            (a, b, c)
        }));
        assert_eq!(out, Ok((Ok(()), Ok(()), Ok(()))));
        assert_eq!(max.load(Ordering::SeqCst), 1);
        assert_eq!(pool.stats().completed, 4);
        identity(&pool);
    });
}

/// "a paused or closed pool or a full waiting bound does not turn them away:
/// they belong to admitted work".
#[test]
fn nested_calls_not_turned_away_by_pause_close_or_bound() {
    watchdog(20, || {
        let pool = Pool::builder().size(1).max_waiting(1).build().unwrap();
        let out = futures::executor::block_on(pool.submit(async {
            pool.pause();
            let a = pool.submit(async { 1 }).await;
            pool.resume();
            pool.close();
            let b = pool.submit(async { 2 }).await;
            // Two joined nested calls: one waits for the lent slot even with
            // the waiting bound of one already used by... nobody else; then a
            // third makes two waiters.
            let (c, d, e) = futures::join!(
                pool.submit(async { 3 }),
                pool.submit(async { 4 }),
                pool.submit(async { 5 })
            );
            (a, b, c, d, e)
        }));
        assert_eq!(out, Ok((Ok(1), Ok(2), Ok(3), Ok(4), Ok(5))));
    });
}

/// "`abort` turns them away with `Closed`, as it does every waiting call".
#[test]
fn abort_turns_away_waiting_nested_call() {
    watchdog(20, || {
        let pool = Pool::fixed(1);
        let out = futures::executor::block_on(pool.submit(async {
            let (g, open) = gate();
            let first = pool.submit(async {
                // Keep the lent slot until the second has queued.
                common::yield_now().await;
                common::yield_now().await;
                g.await;
            });
            let second = pool.submit(async { 2 });
            let aborter = async {
                common::yield_now().await;
                pool.abort();
                open.store(true, Ordering::SeqCst);
            };
            let (a, b, ()) = futures::join!(first, second, aborter);
            (a, b)
        }));
        let (_, b) = out.expect("the parent ran");
        assert_eq!(b, Err(Rejected::Closed));
    });
}

/// "A *sync* nested call that would have to wait while the slot is lent to
/// another nested call of the same task ... panics naming the fix (await the
/// other call first, or make this one async) instead of deadlocking".
#[test]
fn sync_nested_call_waiting_on_own_task_panics_naming_fix() {
    let msg = watchdog(20, || {
        let pool = Pool::fixed(1);
        let r = catch_unwind(AssertUnwindSafe(|| {
            futures::executor::block_on(pool.submit(async {
                let (g, open) = gate();
                let a = pool.submit(g);
                let b = async {
                    let r = pool.run(|| 1);
                    open.store(true, Ordering::SeqCst);
                    r
                };
                futures::join!(a, b)
            }))
        }));
        let p = r.expect_err("a sync nested call waiting on its own task must panic");
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    });
    let lower = msg.to_lowercase();
    assert!(
        lower.contains("await") && lower.contains("async"),
        "message should name the fix: {msg}"
    );
}

/// "a nested call that outlives its parent (a future returned out of the
/// work ...) keeps the slot busy until it ends, and releases it then".
// The nested future is returned out of the work on purpose.
#[allow(clippy::async_yields_async)]
#[test]
fn nested_call_outliving_parent_keeps_slot_busy() {
    watchdog(20, || {
        let pool = Pool::fixed(1);
        let (g, open) = gate();
        let mut nested = futures::executor::block_on(pool.submit(async {
            let mut n = Box::pin(pool.submit(g));
            assert!(poll_once(n.as_mut()).is_pending());
            assert_eq!(pool.stats().nested, 1);
            n
        }))
        .expect("parent ran");
        // The parent ended; the nested call still runs.
        assert!(pool.try_acquire().is_err(), "slot must stay busy");
        let mut other = Task::new(pool.submit(async { 9 }));
        other.assert_pending();
        open.store(true, Ordering::SeqCst);
        assert_eq!(poll_once(nested.as_mut()), Poll::Ready(Ok(())));
        assert!(other.is_woken());
        assert_eq!(other.assert_ready(), Ok(9));
        let s = pool.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0));
        identity(&pool);
    });
}

/// "When a running call is cancelled, its work is dropped under its slot, so
/// a `Drop` that calls the same pool runs as a nested call".
#[test]
fn drop_of_cancelled_work_calls_pool_as_nested() {
    struct CallsOnDrop<'a>(&'a Pool, Arc<AtomicUsize>);
    impl Drop for CallsOnDrop<'_> {
        fn drop(&mut self) {
            if self.0.run(|| ()).is_ok() {
                self.1.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let ran = Arc::new(AtomicUsize::new(0));
    let ran2 = ran.clone();
    watchdog(20, move || {
        let pool = Pool::fixed(1);
        let (g, _open) = gate();
        let guard = CallsOnDrop(&pool, ran2);
        let mut t = Task::new(pool.submit(async move {
            let _guard = guard;
            g.await;
        }));
        t.assert_pending();
        drop(t);
        assert_eq!(pool.stats().running, 0);
        identity(&pool);
    });
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

// ------------------------------------------------------------ faults

/// "a `Clock` ... that panics reads as standing still".
#[test]
fn panicking_clock_reads_as_standing_still() {
    struct Bad(AtomicBool);
    impl Clock for Bad {
        fn now(&self) -> Duration {
            if self.0.load(Ordering::SeqCst) {
                panic!("clock broke");
            }
            Duration::from_secs(1)
        }
    }
    let clock = Arc::new(Bad(AtomicBool::new(false)));
    watchdog(20, move || {
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .min(1)
            .max(4)
            .autoscale_interval(Duration::from_millis(1))
            .clock(clock.clone())
            .build()
            .unwrap();
        clock.0.store(true, Ordering::SeqCst);
        for i in 0..20 {
            assert_eq!(pool.run(|| i), Ok(i));
            assert_eq!(futures::executor::block_on(pool.submit(async { i })), Ok(i));
        }
        let held = pool.try_acquire().unwrap();
        let mut t = Task::new(pool.submit(async {}));
        let _ = t.poll();
        drop(held);
        let _ = t.poll();
        drop(t);
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (0, 0));
        identity(&pool);
    });
}

/// "a waker whose `wake` panics does not stop the rest of its batch (the
/// first panic is re-raised once all are woken ...)".
#[test]
fn panicking_wake_does_not_stop_the_batch() {
    let pool = Pool::fixed(1);
    let held = pool.try_acquire().unwrap();
    let mut futs: Vec<_> = (0..4)
        .map(|i| Box::pin(pool.submit(async move { i })))
        .collect();
    let mut counts = Vec::new();
    for (i, f) in futs.iter_mut().enumerate() {
        let (w, c) = counting(i == 0);
        assert!(f.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
        counts.push(c);
    }
    assert_eq!(pool.stats().waiting, 4);
    let r = catch_unwind(AssertUnwindSafe(|| pool.abort()));
    assert!(r.is_err(), "the first wake's panic is re-raised");
    for (i, c) in counts.iter().enumerate() {
        assert_eq!(c.woken.load(Ordering::SeqCst), 1, "waiter {i} woken");
    }
    for f in futs.iter_mut() {
        assert_eq!(poll_once(f.as_mut()), Poll::Ready(Err(Rejected::Closed)));
    }
    drop(held);
    identity(&pool);
}

/// "one replaced by the waker of a later poll is dropped outside the pool's
/// locks (its panic caught: the call waits on, to be woken through the new
/// one)".
#[test]
fn replaced_waker_with_panicking_drop_is_caught() {
    static DROP_PANICS: AtomicBool = AtomicBool::new(true);
    unsafe fn c(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &VT)
    }
    unsafe fn n(_: *const ()) {}
    unsafe fn d(_: *const ()) {
        if DROP_PANICS.load(Ordering::SeqCst) {
            panic!("waker drop panics");
        }
    }
    static VT: RawWakerVTable = RawWakerVTable::new(c, n, n, d);
    let pool = Pool::fixed(1);
    let held = pool.try_acquire().unwrap();
    let mut f = Box::pin(pool.submit(async { 1 }));
    {
        // SAFETY: the vtable ignores the data pointer.
        let w = std::mem::ManuallyDrop::new(unsafe {
            Waker::from_raw(RawWaker::new(std::ptr::null(), &VT))
        });
        assert!(f.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
    }
    let (w2, c2) = counting(false);
    let r = catch_unwind(AssertUnwindSafe(|| {
        f.as_mut().poll(&mut Context::from_waker(&w2)).is_pending()
    }));
    DROP_PANICS.store(false, Ordering::SeqCst);
    assert_eq!(
        r.ok(),
        Some(true),
        "the drop's panic is caught; call waits on"
    );
    assert_eq!(pool.stats().waiting, 1);
    drop(held);
    assert_eq!(c2.woken.load(Ordering::SeqCst), 1);
    assert_eq!(
        f.as_mut().poll(&mut Context::from_waker(&w2)),
        Poll::Ready(Ok(1))
    );
    identity(&pool);
}

// ------------------------------------------------------------ timeouts

/// "Timeouts run on one lazily started timer thread, which works under any
/// executor or none"; "Sync callers time out on their own thread".
#[test]
fn timeouts_without_runtime_async_and_sync() {
    watchdog(20, || {
        let pool = Pool::builder()
            .size(1)
            .admission_timeout(Duration::from_millis(80))
            .build()
            .unwrap();
        let held = pool.try_acquire().unwrap();
        let t0 = Instant::now();
        assert_eq!(
            futures::executor::block_on(pool.submit(async {})),
            Err(Rejected::TimedOut)
        );
        let e = t0.elapsed();
        assert!(
            e >= Duration::from_millis(80) && e < Duration::from_secs(5),
            "{e:?}"
        );
        let t0 = Instant::now();
        assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut));
        let e = t0.elapsed();
        assert!(
            e >= Duration::from_millis(80) && e < Duration::from_secs(5),
            "{e:?}"
        );
        drop(held);
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::TimedOut), 2);
        identity(&pool);
    });
}

// ------------------------------------------------------------ sync barging

/// "callers outside the queue count as waiting (a pause or a close leaves
/// them waiting, as queued calls)"; "it never takes a slot a queued call is
/// owed".
#[test]
fn sync_barging_callers_count_as_waiting_and_close_leaves_them() {
    watchdog(20, || {
        let pool = Arc::new(
            Pool::builder()
                .size(1)
                .sync_barging(Duration::from_millis(400))
                .build()
                .unwrap(),
        );
        let held = pool.try_acquire_owned(0).unwrap();
        let p2 = pool.clone();
        let h = std::thread::spawn(move || p2.run(|| 11));
        let t0 = Instant::now();
        while pool.stats().waiting == 0 {
            assert!(t0.elapsed() < Duration::from_secs(5));
            std::thread::yield_now();
        }
        assert_eq!(pool.stats().waiting, 1);
        pool.close();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(pool.stats().waiting, 1, "close leaves it waiting");
        drop(held);
        assert_eq!(h.join().unwrap(), Ok(11));
        identity(&pool);
    });
}

/// "it never takes a slot a queued call is owed": a slot freed while a call
/// is queued goes to the queued call, not to the sync caller waiting outside
/// the queue.
#[test]
fn sync_barging_never_takes_a_slot_owed_to_queued_call() {
    watchdog(20, || {
        let pool = Arc::new(
            Pool::builder()
                .size(1)
                .sync_barging(Duration::from_millis(300))
                .build()
                .unwrap(),
        );
        let held = pool.try_acquire_owned(0).unwrap();
        let mut queued = Task::new(pool.submit(async { 1 }));
        queued.assert_pending();
        let p2 = pool.clone();
        let order = Arc::new(AtomicUsize::new(0));
        let o2 = order.clone();
        let h = std::thread::spawn(move || p2.run(|| o2.fetch_add(1, Ordering::SeqCst)));
        let t0 = Instant::now();
        while pool.stats().waiting < 2 {
            assert!(t0.elapsed() < Duration::from_secs(5));
            std::thread::yield_now();
        }
        drop(held);
        assert!(queued.is_woken());
        // The barging thread must not have taken the owed slot.
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            order.load(Ordering::SeqCst),
            0,
            "barger overtook a queued call"
        );
        assert_eq!(queued.assert_ready(), Ok(1));
        assert_eq!(h.join().unwrap(), Ok(0));
        identity(&pool);
    });
}

// ------------------------------------------------------------ tokio

#[cfg(feature = "tokio")]
mod with_tokio {
    use super::*;

    /// "work spawned through the pool (`Pool::spawn`) is an independent call
    /// with a slot of its own".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spawned_work_is_independent() {
        let pool = Arc::new(Pool::fixed(1));
        let p = pool.clone();
        let started = Arc::new(AtomicBool::new(false));
        let s2 = started.clone();
        let out = tokio::time::timeout(
            Duration::from_secs(10),
            pool.submit(async move {
                let h = p
                    .spawn(async move {
                        s2.store(true, Ordering::SeqCst);
                    })
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
                let st = p.stats();
                // The spawned call waits for a slot of its own.
                (started.load(Ordering::SeqCst), st.waiting, st.nested, h)
            }),
        )
        .await
        .expect("no hang")
        .unwrap();
        let (ran_inside, waiting, nested, h) = out;
        assert!(
            !ran_inside,
            "spawned work must not borrow the parent's slot"
        );
        assert_eq!((waiting, nested), (1, 0));
        tokio::time::timeout(Duration::from_secs(10), h)
            .await
            .expect("no hang")
            .unwrap();
        identity(&pool);
    }

    /// "A blocking closure runs inside the calls whose work made it, of every
    /// pool: a call of pool X from a closure of pool Y, made in X's work, is
    /// nested in that X call".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blocking_closure_inherits_frames_of_other_pool() {
        let x = Arc::new(Pool::fixed(1));
        let y = Arc::new(Pool::fixed(1));
        let (x2, y2) = (x.clone(), y.clone());
        let out = tokio::time::timeout(
            Duration::from_secs(10),
            x.submit(async move {
                let x3 = x2.clone();
                y2.submit_blocking(move || {
                    x3.run(|| {
                        let s = x3.stats();
                        (s.running, s.nested)
                    })
                })
                .await
            }),
        )
        .await
        .expect("must not deadlock");
        assert_eq!(out, Ok(Ok(Ok((1, 1)))));
        identity(&x);
        identity(&y);
    }

    /// "Shutdown ... returns by its deadline whatever the calls do: past it,
    /// waiting calls are turned away and `ShutdownTimedOut` says how many
    /// calls still run (they are never interrupted)".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_returns_by_deadline() {
        let pool = Arc::new(Pool::fixed(1));
        let open = Arc::new(AtomicBool::new(false));
        let open2 = open.clone();
        let p = pool.clone();
        let runner = std::thread::spawn(move || {
            futures::executor::block_on(p.submit(async move {
                while !open2.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }))
        });
        let t0 = Instant::now();
        while pool.stats().running == 0 {
            assert!(t0.elapsed() < Duration::from_secs(5));
            tokio::task::yield_now().await;
        }
        let p = pool.clone();
        let waiter = tokio::spawn(async move { p.submit(async {}).await });
        while pool.stats().waiting == 0 {
            assert!(t0.elapsed() < Duration::from_secs(5));
            tokio::task::yield_now().await;
        }
        let t1 = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(5),
            pool.shutdown(Some(Duration::from_millis(100))),
        )
        .await
        .expect("shutdown returns by its deadline");
        let e = t1.elapsed();
        assert!(
            e >= Duration::from_millis(100) && e < Duration::from_secs(2),
            "{e:?}"
        );
        let err = r.expect_err("a call still runs");
        assert_eq!((err.running, err.turned_away), (1, 1));
        assert_eq!(waiter.await.unwrap(), Err(Rejected::Closed));
        assert_eq!(pool.stats().running, 1, "never interrupted");
        open.store(true, Ordering::SeqCst);
        assert_eq!(runner.join().unwrap(), Ok(()));
        identity(&pool);
    }

    /// "Blocking closures carry their slot to the executor thread and release
    /// it there, so abandoning the wait never lets more closures run than the
    /// limit" — counted from outside.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn abandoned_blocking_waits_never_exceed_limit() {
        let pool = Arc::new(Pool::fixed(2));
        let now = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..8 {
            let (n, m, d) = (now.clone(), max.clone(), done.clone());
            let mut f = Box::pin(pool.submit_blocking(move || {
                let c = n.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(c, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(40));
                n.fetch_sub(1, Ordering::SeqCst);
                d.fetch_add(1, Ordering::SeqCst);
            }));
            // Poll once (it starts or queues) and abandon it.
            let _ = poll_once(f.as_mut());
            drop(f);
        }
        // Then more, awaited.
        let mut hs = Vec::new();
        for _ in 0..4 {
            let (p, n, m, d) = (pool.clone(), now.clone(), max.clone(), done.clone());
            hs.push(tokio::spawn(async move {
                p.submit_blocking(move || {
                    let c = n.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(c, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(40));
                    n.fetch_sub(1, Ordering::SeqCst);
                    d.fetch_add(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        for h in hs {
            tokio::time::timeout(Duration::from_secs(10), h)
                .await
                .expect("no hang")
                .unwrap()
                .unwrap();
        }
        let t0 = Instant::now();
        while pool.stats().running > 0 {
            assert!(t0.elapsed() < Duration::from_secs(5));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            max.load(Ordering::SeqCst) <= 2,
            "max {}",
            max.load(Ordering::SeqCst)
        );
        identity(&pool);
    }

    /// "a nested call that outlives its parent (... a blocking job whose
    /// caller went away) keeps the slot busy until it ends".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nested_blocking_job_outliving_parent_keeps_slot() {
        let pool = Arc::new(Pool::fixed(1));
        let release = Arc::new(AtomicBool::new(false));
        let ended = Arc::new(AtomicBool::new(false));
        let (p, r, e) = (pool.clone(), release.clone(), ended.clone());
        let mut parent = Box::pin(pool.submit(async move {
            p.submit_blocking(move || {
                while !r.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(2));
                }
                e.store(true, Ordering::SeqCst);
            })
            .await
        }));
        // Start it: the job is handed to a blocking thread.
        assert!(poll_once(parent.as_mut()).is_pending());
        tokio::time::sleep(Duration::from_millis(30)).await;
        drop(parent);
        assert!(!ended.load(Ordering::SeqCst));
        assert!(pool.try_acquire().is_err(), "slot busy while the job runs");
        release.store(true, Ordering::SeqCst);
        let t0 = Instant::now();
        loop {
            if let Ok(p) = pool.try_acquire() {
                drop(p);
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "slot never came back"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert!(ended.load(Ordering::SeqCst));
        let s = pool.stats();
        assert_eq!((s.running, s.nested), (0, 0));
        identity(&pool);
    }

    /// "waiting for a slot lent to a blocking job, which runs on another
    /// thread, is fine".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sync_nested_waiting_for_slot_lent_to_blocking_job_is_fine() {
        let pool = Arc::new(Pool::fixed(1));
        let p = pool.clone();
        let out = tokio::time::timeout(
            Duration::from_secs(10),
            pool.submit(async move {
                let a = p.submit_blocking(|| {
                    std::thread::sleep(Duration::from_millis(50));
                    1
                });
                let b = async {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    p.run(|| 2)
                };
                futures::join!(a, b)
            }),
        )
        .await
        .expect("no hang");
        assert_eq!(out, Ok((Ok(1), Ok(2))));
        identity(&pool);
    }
}
