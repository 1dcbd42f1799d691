//! Faults lose nothing (issue 9, §5): panicking wakers, panicking judges,
//! abandoned waits, and counters that check each other.

mod common;

use common::{gate, Task};
use pool_runtime::{Kind, Pool, Rejected, ScalePolicy, Verdict};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// A waker whose `clone` panics while `armed` is set.
fn waker_with_panicking_clone(armed: &'static AtomicBool) -> Waker {
    fn vtable() -> &'static RawWakerVTable {
        &RawWakerVTable::new(clone, noop, noop, noop)
    }
    unsafe fn clone(data: *const ()) -> RawWaker {
        let armed = unsafe { &*(data as *const AtomicBool) };
        if armed.load(Ordering::SeqCst) {
            panic!("a waker whose clone panics");
        }
        RawWaker::new(data, vtable())
    }
    unsafe fn noop(_: *const ()) {}
    unsafe {
        Waker::from_raw(RawWaker::new(
            armed as *const AtomicBool as *const (),
            vtable(),
        ))
    }
}

#[test]
fn a_panicking_waker_clone_while_queueing_leaks_no_slot() {
    static ARMED: AtomicBool = AtomicBool::new(true);
    let pool = Pool::fixed(1);
    let (hold, open) = gate();
    let mut holder = Task::new(pool.submit(hold));
    holder.assert_pending();

    let waker = waker_with_panicking_clone(&ARMED);
    let mut call = Box::pin(pool.submit(async {}));
    let polled = catch_unwind(AssertUnwindSafe(|| {
        call.as_mut().poll(&mut Context::from_waker(&waker))
    }));
    assert!(polled.is_err(), "the clone's panic reaches the poller");
    drop(call);
    assert_eq!(pool.stats().waiting, 0);

    open.store(true, Ordering::SeqCst);
    assert_eq!(holder.assert_ready(), Ok(()));
    assert_eq!(pool.stats().running, 0, "the slot came back");
    let mut next = Task::new(pool.submit(async { 7 }));
    assert_eq!(next.assert_ready(), Ok(7), "and is free for the next call");
}

struct PanickingWake;
impl std::task::Wake for PanickingWake {
    fn wake(self: Arc<Self>) {
        panic!("a waker whose wake panics");
    }
}

#[test]
fn a_panicking_wake_does_not_lose_the_other_waiters_of_its_batch() {
    let pool = Pool::fixed(1);
    assert_eq!(pool.resize(0), 0);
    let mut first = Task::new(pool.submit(async { 1 }));
    first.assert_pending();
    let bad_waker = Waker::from(Arc::new(PanickingWake));
    let mut bad = Box::pin(pool.submit(async { 2 }));
    assert!(bad
        .as_mut()
        .poll(&mut Context::from_waker(&bad_waker))
        .is_pending());
    let mut last = Task::new(pool.submit(async { 3 }));
    last.assert_pending();

    let resized = catch_unwind(AssertUnwindSafe(|| pool.resize(3)));
    assert!(resized.is_err(), "the waker's panic reaches the caller");
    assert!(
        first.is_woken() && last.is_woken(),
        "the whole batch was woken"
    );
    assert_eq!(pool.size(), 3, "and the resize itself completed");
    assert_eq!(first.assert_ready(), Ok(1));
    assert_eq!(last.assert_ready(), Ok(3));
    assert_eq!(
        bad.as_mut().poll(&mut Context::from_waker(Waker::noop())),
        Poll::Ready(Ok(2))
    );
    assert_eq!(pool.stats().running, 0);
}

#[test]
fn a_panicking_judge_is_a_call_that_panicked_not_a_cancelled_one() {
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .scale_policy(ScalePolicy::Adaptive(Default::default()))
        .min(1)
        .max(4)
        .build()
        .unwrap();
    let judged = catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(pool.submit_judged(0, async { 5 }, |_| -> Verdict {
            panic!("the judge panics")
        }))
    }));
    assert!(judged.is_err());
    let s = pool.stats();
    assert_eq!(
        (s.completed, s.panicked, s.cancelled, s.running),
        (1, 1, 0, 0),
        "{s:?}"
    );
}

#[test]
fn an_abandoned_drained_wait_keeps_no_waker() {
    let pool = Pool::fixed(1);
    let wakes = Arc::new(AtomicUsize::new(0));
    struct Count(Arc<AtomicUsize>);
    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let waker_state = Arc::new(Count(wakes.clone()));
    let waker = Waker::from(waker_state.clone());
    for _ in 0..1000 {
        let mut drained = Box::pin(pool.drained());
        assert!(drained
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
    }
    assert_eq!(
        Arc::strong_count(&waker_state),
        2,
        "no clone of the waker is kept by the pool"
    );
    pool.close();
    assert_eq!(wakes.load(Ordering::SeqCst), 0);
}

#[test]
fn submitted_is_counted_on_its_own_and_the_identity_holds() {
    let pool = Pool::fixed(1);
    let (hold, open) = gate();
    let mut running = Task::new(pool.submit(hold));
    running.assert_pending();
    let mut waiting = Task::new(pool.submit(async {}));
    waiting.assert_pending();
    let mut cancelled = Task::new(pool.submit(async {}));
    cancelled.assert_pending();
    drop(cancelled);
    pool.pause();
    assert_eq!(
        Task::new(pool.submit(async {})).assert_ready(),
        Err(Rejected::Paused)
    );
    let never_polled = pool.submit(async {});
    drop(never_polled);

    let s = pool.stats();
    assert_eq!(
        s.submitted(),
        4,
        "a call is counted when it first asks for a slot"
    );
    assert_eq!(
        s.submitted(),
        s.completed + s.rejected_total() + s.cancelled + s.in_flight(),
        "{s:?}"
    );
    open.store(true, Ordering::SeqCst);
    running.assert_ready().unwrap();
    waiting.assert_ready().unwrap();
    let s = pool.stats();
    assert_eq!(
        (s.submitted(), s.completed, s.in_flight()),
        (4, 2, 0),
        "{s:?}"
    );
    // A nested call in flight is submitted and counted (in `nested`, not `running`).
    pool.resume();
    let inner = pool.run(|| {
        let mut nested = Task::new(pool.submit(std::future::pending::<()>()));
        nested.assert_pending();
        let s = pool.stats();
        (s.submitted(), s.running, s.nested, s.in_flight())
    });
    assert_eq!(inner, Ok((6, 1, 1, 2)));
    let s = pool.stats();
    assert_eq!(
        (s.submitted(), s.completed, s.cancelled, s.in_flight()),
        (6, 3, 2, 0),
        "{s:?}"
    );
}

/// A clock that, once armed, queues calls of its pool (with wakers that
/// panic) from inside its first `now` — the one a lock-free admission of an
/// autoscaled pool reads right after it took its slot, to see whether the
/// autoscaler is due.
/// A queued call, kept until the test is done with it.
type Queued = std::pin::Pin<Box<dyn Future<Output = Result<(), Rejected>> + Send>>;

struct Injecting {
    millis: std::sync::atomic::AtomicU64,
    armed: AtomicBool,
    /// Its pool (whose core holds this clock: the test takes it out at the
    /// end, or the two would keep each other alive).
    pool: std::sync::Mutex<Option<Pool>>,
    queued: std::sync::Mutex<Vec<Queued>>,
}

struct InjectingClock(Arc<Injecting>);

impl pool_runtime::Clock for InjectingClock {
    fn now(&self) -> std::time::Duration {
        let this = &self.0;
        if this.armed.swap(false, Ordering::SeqCst) {
            let pool = this
                .pool
                .lock()
                .unwrap()
                .clone()
                .expect("set before arming");
            let waker = common::panicking_waker();
            for _ in 0..3 {
                let pool = pool.clone();
                let mut call: Queued =
                    Box::pin(async move { pool.submit(std::future::pending::<()>()).await });
                let polled = call.as_mut().poll(&mut Context::from_waker(&waker));
                assert!(polled.is_pending(), "queued behind the slot just taken");
                this.queued.lock().unwrap().push(call);
            }
            // The autoscaler is due, and sees three calls waiting.
            this.millis.fetch_add(1_000, Ordering::SeqCst);
        }
        std::time::Duration::from_millis(this.millis.load(Ordering::SeqCst))
    }
}

/// A lock-free admission of an autoscaled pool consults the autoscaler after
/// its compare-and-swap took the slot; an evaluation there that raises the
/// limit wakes the waiters it admits, and a waker that panics must not
/// unwind out of the admission before the call knows it holds a slot (it
/// would be lost for good, and the call counted nowhere).
#[test]
fn a_waker_panicking_in_an_autoscale_set_off_by_a_fast_admission_loses_no_slot() {
    common::quiet_planned_panics();
    let clock = Arc::new(Injecting {
        millis: std::sync::atomic::AtomicU64::new(0),
        armed: AtomicBool::new(false),
        pool: std::sync::Mutex::new(None),
        queued: std::sync::Mutex::new(Vec::new()),
    });
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(4)
        .autoscale_interval(std::time::Duration::from_millis(1))
        .autoscale_window(1)
        .clock(InjectingClock(clock.clone()))
        .build()
        .unwrap();
    *clock.pool.lock().unwrap() = Some(pool.clone());
    clock.millis.fetch_add(1_000, Ordering::SeqCst);
    clock.armed.store(true, Ordering::SeqCst);
    let out = catch_unwind(AssertUnwindSafe(|| pool.try_acquire()));
    let admitted = matches!(out, Ok(Ok(_)));
    // Its release hands the slot on and re-raises that waiter's panicking
    // wake, as a release does once its books are done.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(out)));
    // However the admission ended, its slot is accounted for: once every
    // call is gone, nothing runs and nothing is lost.
    // (Each queued call's drop may hand its slot on and re-raise the next
    // waiter's panicking wake, as a release does once its books are done.)
    let queued: Vec<_> = clock.queued.lock().unwrap().drain(..).collect();
    for call in queued {
        let _ = catch_unwind(AssertUnwindSafe(move || drop(call)));
    }
    let s = pool.stats();
    assert_eq!(
        (s.running, s.waiting),
        (0, 0),
        "admitted: {admitted}, {s:?}"
    );
    common::assert_accounted(&s);
    assert!(admitted, "the admission itself went through");
    clock.pool.lock().unwrap().take();
}

/// A blocking job's slot, released on the executor's thread, is handed to a
/// queued call whose waker panics: the panic is that call's waker's, not
/// the job's, so the job's own result still reaches its caller (on tokio's
/// blocking pool and on the default executor's thread), and the queued call
/// is admitted all the same.
#[test]
fn a_panicking_waker_woken_by_a_blocking_jobs_release_does_not_take_the_jobs_result() {
    common::quiet_planned_panics();
    for in_runtime in [true, false] {
        let pool = Arc::new(Pool::fixed(1));
        let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let job = {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let call = pool.submit_blocking(move || {
                    entered_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    42
                });
                if in_runtime {
                    common::runtime().block_on(call)
                } else {
                    futures::executor::block_on(call)
                }
            })
        };
        entered_rx.recv().unwrap();
        // Queued behind the job, with a waker that panics when woken.
        let mut queued = Box::pin(pool.submit(async { 7 }));
        let waker = common::panicking_waker();
        assert!(queued
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        assert_eq!(pool.stats().waiting, 1);
        go_tx.send(()).unwrap();
        let out = job.join();
        assert!(
            matches!(out, Ok(Ok(42))),
            "in_runtime {in_runtime}: the job's result is lost: {:?}",
            out.map_err(|_| "the caller panicked")
        );
        assert_eq!(
            queued
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop())),
            Poll::Ready(Ok(7)),
            "the queued call was admitted"
        );
        let s = pool.stats();
        assert_eq!((s.running, s.waiting, s.completed), (0, 0, 2), "{s:?}");
    }
}
