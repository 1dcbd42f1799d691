//! Hostile tests, round 36: hostile user callbacks. Every place the library
//! calls user code — a custom `Clock`, a custom `BlockingExecutor`, a
//! `submit_judged` judge, tower's overload predicate and weight function,
//! a stream's item futures, wakers (`std::task::Wake`) whose `wake` blocks,
//! aborts the pool or takes slots, a `tracing` subscriber, a watched
//! file's callback, the `Drop` of a rejected call's closure — made to
//! panic, block, or call back into the very pool that called it (`stats`,
//! `try_acquire`, `run`, `pause`/`resume`, `close`/`abort`, `resize`),
//! while other callers race and futures are dropped mid-flight. The limit
//! is counted from outside (a meter around the work bodies, permits probed
//! from inside the callbacks); every scenario runs under a watchdog; the
//! books are checked against the outcomes the callers saw.
//!
//! Broken promises found (ignored tests, each confirmed failing with
//! `--ignored`):
//! * `a_tower_overload_predicate_calling_its_full_pool_does_not_deadlock`
//!   — tower's `overload` predicate runs while the response still holds its
//!   slot but outside the call's reentrancy frame (`tower/future.rs`:
//!   `permit.set_verdict(overload.verdict(&result))` after `poll_work`), so
//!   a predicate that calls the same full pool waits for the slot its own
//!   response holds: a deadlock, where the same code in a `submit_judged`
//!   judge (or a group's `overload =`) runs as a nested call.
//! * `a_held_bodys_is_end_stream_calling_the_same_pool_of_one_runs_nested`
//!   — the same family, milder: `PermitBody` asks the body's
//!   `is_end_stream` (the body's own code, as `poll_frame` is, which runs
//!   in the frame) outside the call's frame while the body holds the slot
//!   (`PermitBody::new`, and after each frame): a body whose
//!   `is_end_stream` calls the same pool of one deadlocks.
//! * `a_subscriber_exporting_on_span_close_through_its_pool_of_one_does_not_deadlock`,
//!   `a_recorder_exporting_on_call_counters_through_its_pool_of_one_does_not_deadlock`
//!   — a call's end is reported (its span closed, its `pooled.calls`
//!   counter incremented: `Acquire::end` calls `obs.ended` before
//!   `held::end_call`) while it still holds its slot, outside its frame: an
//!   observer exporting through the pool it observes (round 16's promise)
//!   deadlocks a pool of one with no admission timeout. (The `running`
//!   gauge's decrement, made once the slot is free, does not: a control.)
//! * `a_waker_woken_on_the_timer_thread_making_a_sync_call_does_not_stop_every_timeout`
//!   — the process's one timer thread wakes wakers inline: a waker that
//!   makes a sync call there (allowed by round 16; round 26 holds the
//!   fleet's thread to it) parks the timer thread, every admission timeout
//!   in the process stops firing, and a wait that needs one hangs for good.
//! * `a_waker_clone_that_starts_a_timed_call_while_its_deadline_fires_does_not_deadlock`
//!   — the timer thread's `Sleep::poll` clones the caller's waker while it
//!   holds its entry's waker lock (`time/timer.rs`), and the timer thread
//!   takes that entry lock while it holds the heap lock: a waker whose
//!   `clone` arms a timed wait (needs the heap lock) while its own deadline
//!   fires deadlocks with the timer thread (lock-order inversion; gdb shows
//!   the timer in `TimerThread::run` at the entry lock and the caller in
//!   `TimerThread::schedule` at the heap lock) — and every admission
//!   timeout in the process stops.
#![cfg(all(
    feature = "tokio",
    feature = "config",
    feature = "stream",
    feature = "tower",
    feature = "tracing"
))]

mod common;

use common::{assert_accounted, quiet_planned_panics, within, Meter};
use pool_runtime::{
    AdaptiveSettings, BlockingExecutor, BlockingJob, Clock, Kind, Pool, Rejected, ScalePolicy,
    Verdict,
};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// Long enough that only a hang reaches it on a loaded 2-core machine.
const BOUND: Duration = Duration::from_secs(60);

/// Waits (bounded) until `done`, failing with `what` otherwise.
#[track_caller]
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Nothing running, waiting or nested, and the books balance.
#[track_caller]
fn settled(pool: &Pool) -> pool_runtime::Stats {
    wait_until("the pool settles", || pool.stats().in_flight() == 0);
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
    assert_accounted(&s);
    s
}

/// An adaptive pool whose limit cannot move (`min == max == size`): the
/// clock is read at every admission and release, and the meter's bound is
/// the size.
fn adaptive_fixed(size: usize, clock: impl Clock) -> Pool {
    Pool::builder()
        .kind(Kind::Autoscale)
        .min(size)
        .max(size)
        .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT))
        .clock(clock)
        .build()
        .unwrap()
}

/// Outcomes as the callers saw them.
#[derive(Default)]
struct Seen {
    ok: AtomicU64,
    paused: AtomicU64,
    closed: AtomicU64,
    other: AtomicU64,
}

impl Seen {
    fn note<T>(&self, r: &Result<T, Rejected>) {
        match r {
            Ok(_) => self.ok.fetch_add(1, SeqCst),
            Err(Rejected::Paused) => self.paused.fetch_add(1, SeqCst),
            Err(Rejected::Closed) => self.closed.fetch_add(1, SeqCst),
            Err(_) => self.other.fetch_add(1, SeqCst),
        };
    }
    fn rejected(&self) -> u64 {
        self.paused.load(SeqCst) + self.closed.load(SeqCst) + self.other.load(SeqCst)
    }
}

/// Drives `fut` to the end on this thread with a waker that runs `hook`
/// (on whatever thread wakes it) before unparking this one.
fn block_on_with<F: Future>(fut: F, hook: Arc<dyn Fn() + Send + Sync>) -> F::Output {
    struct HookWaker {
        thread: std::thread::Thread,
        hook: Arc<dyn Fn() + Send + Sync>,
    }
    impl Wake for HookWaker {
        fn wake(self: Arc<Self>) {
            (self.hook)();
            self.thread.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            (self.hook)();
            self.thread.unpark();
        }
    }
    let waker = Waker::from(Arc::new(HookWaker {
        thread: std::thread::current(),
        hook,
    }));
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

// ---- tower's overload predicate and weight function -------------------------------

/// README, "Fitting the stack": the inner service runs as the call's work,
/// so a handler calling the same pool makes a nested call; and
/// `Pool::submit_judged` (and a group's `overload =`) runs its judge as the
/// call's work too (a judge calling the same full pool is nested:
/// `a_judge_that_calls_the_same_full_pool_does_not_deadlock`, round 16).
/// Tower's `overload` predicate is the same judge: a predicate that calls
/// the same full pool (a pool of one, whose only slot the response holds
/// while it is judged) must not wait for that slot forever.
#[test]
fn a_tower_overload_predicate_calling_its_full_pool_does_not_deadlock() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, ServiceExt};
    // The control: the same code as a `submit_judged` judge completes.
    let pool = Pool::fixed(1);
    let p = pool.clone();
    let judged = within(Duration::from_secs(10), move || {
        futures::executor::block_on(p.submit_judged(0, async { 5 }, {
            let p = p.clone();
            move |_| {
                assert_eq!(p.run(|| 1), Ok(1), "nested in the judged call");
                Verdict::Success
            }
        }))
    });
    assert_eq!(judged, Ok(5));
    settled(&pool);
    // Tower: the predicate makes the same call.
    let judged_inside = Arc::new(AtomicUsize::new(0));
    let p = pool.clone();
    let j = judged_inside.clone();
    let out = within(Duration::from_secs(10), move || {
        let service = PooledLayer::pool(p.clone())
            .overload(move |_: &Result<u32, BoxError>| {
                let r = p.run(|| 1);
                j.fetch_add(1, SeqCst);
                r.is_err()
            })
            .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
        futures::executor::block_on(service.oneshot(7)).unwrap()
    });
    assert_eq!(out, 7);
    assert_eq!(judged_inside.load(SeqCst), 1);
    let s = settled(&pool);
    assert_eq!(s.panicked, 0, "{s:?}");
}

/// The same predicate with a non-waiting probe: while a response is judged
/// its slot is still held, so `try_acquire` on a pool of one from inside
/// the predicate either borrows the call's slot (nested) or is refused
/// `Full` — never a second slot; and a predicate that pauses, closes or
/// resizes the pool changes nothing for its own call's result.
#[test]
fn a_tower_overload_predicate_probing_and_steering_its_pool_keeps_the_limit() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, Service, ServiceExt};
    within(BOUND, || {
        let pool = Pool::fixed(1);
        let meter = Meter::default();
        let probes = Arc::new(Mutex::new(Vec::new()));
        let p = pool.clone();
        let pr = probes.clone();
        let m = meter.clone();
        let calls = Arc::new(AtomicU64::new(0));
        let c = calls.clone();
        let mut service = PooledLayer::pool(pool.clone())
            .overload(move |r: &Result<u32, BoxError>| {
                let n = c.fetch_add(1, SeqCst);
                let s = p.stats();
                assert!(s.running <= 1, "{s:?}");
                match p.try_acquire() {
                    Ok(permit) => {
                        // Only as the call's own nested slot.
                        let s = p.stats();
                        pr.lock().unwrap().push((s.running, s.nested));
                        let _inside = m.enter();
                        drop(permit);
                    }
                    Err(e) => {
                        assert_eq!(e, Rejected::Full);
                        pr.lock().unwrap().push((usize::MAX, 0));
                    }
                }
                match n % 4 {
                    1 => p.pause(),
                    2 => p.resume(),
                    3 => {
                        p.resize(0);
                        p.resize(1);
                    }
                    _ => {}
                }
                matches!(r, Ok(n) if n % 2 == 0)
            })
            .layer(service_fn({
                let m = meter.clone();
                move |n: u32| {
                    let m = m.clone();
                    async move {
                        let _inside = m.enter();
                        Ok::<_, BoxError>(n)
                    }
                }
            }));
        futures::executor::block_on(async {
            for n in 0..40u32 {
                match service.ready().await {
                    Ok(ready) => match ready.call(n).await {
                        Ok(v) => assert_eq!(v, n),
                        Err(e) => assert_eq!(
                            e.downcast_ref::<Rejected>().copied(),
                            Some(Rejected::Paused)
                        ),
                    },
                    Err(e) => assert_eq!(
                        e.downcast_ref::<Rejected>().copied(),
                        Some(Rejected::Paused)
                    ),
                }
                pool.resume();
            }
        });
        // The probe plus the body: a body and a borrowed probe of its own
        // call never run at once (the body ended before the judge).
        assert!(meter.max() <= 1, "{} at once", meter.max());
        for (running, nested) in probes.lock().unwrap().iter() {
            if *running != usize::MAX {
                assert!(
                    running + nested <= 2 && *running <= 1,
                    "a probe from the predicate took a second slot: running {running}, nested {nested}"
                );
            }
        }
        drop(service);
        settled(&pool);
    });
}

/// A weight function is user code run in `call`, before the call waits:
/// one that pauses, resumes and closes the pool (and reads its stats) as
/// requests pass makes exactly the calls made while it was paused or
/// closed fail with that reason, and the books match.
#[test]
fn a_tower_weight_function_that_steers_its_pool_rejects_exactly_the_calls_it_should() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, Service, ServiceExt};
    within(BOUND, || {
        let pool = Pool::builder()
            .order(pool_runtime::Order::Priority)
            .size(2)
            .build()
            .unwrap();
        let p = pool.clone();
        let mut service = PooledLayer::pool(pool.clone())
            .weight(move |n: &u32| {
                let _ = p.stats();
                match *n {
                    3 => p.pause(),
                    6 => p.resume(),
                    9 => p.close(),
                    _ => {}
                }
                i64::from(*n)
            })
            .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
        let seen = Seen::default();
        futures::executor::block_on(async {
            for n in 0..12u32 {
                let r = service.ready().await.unwrap().call(n).await;
                let r = r.map_err(|e| *e.downcast_ref::<Rejected>().expect("a rejection"));
                let want = match n {
                    3..=5 => Err(Rejected::Paused),
                    9.. => Err(Rejected::Closed),
                    _ => Ok(n),
                };
                assert_eq!(r, want, "request {n}");
                seen.note(&r);
            }
        });
        let s = settled(&pool);
        assert_eq!(s.completed, seen.ok.load(SeqCst), "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Paused), 3, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Closed), 3, "{s:?}");
        drop(service);
    });
}

// ---- judges ----------------------------------------------------------------------

/// A judge that aborts its pool while calls wait: the judged call returns
/// its own output (it ran), every waiting call is turned away once with
/// `Closed`, nothing hangs, and the books match what the callers saw.
/// A judge that closes the pool instead lets the queued calls finish.
#[test]
fn a_judge_that_aborts_or_closes_its_pool_turns_waiters_away_once() {
    within(BOUND, || {
        for abort in [true, false] {
            let pool = Pool::fixed(2);
            let meter = Meter::default();
            let seen = Arc::new(Seen::default());
            let rt = common::runtime();
            rt.block_on(async {
                let mut tasks = Vec::new();
                for i in 0..40u32 {
                    let pool = pool.clone();
                    let meter = meter.clone();
                    let seen = seen.clone();
                    tasks.push(tokio::spawn(async move {
                        let p = pool.clone();
                        let r = if i == 5 {
                            pool.submit_judged(0, meter.body(2), move |_| {
                                if abort {
                                    p.abort();
                                } else {
                                    p.close();
                                }
                                Verdict::Overload
                            })
                            .await
                        } else {
                            pool.submit(meter.body(2)).await
                        };
                        if i == 5 {
                            assert_eq!(r, Ok(()), "the judged call ran");
                        }
                        seen.note(&r);
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            });
            within(Duration::from_secs(10), {
                let pool = pool.clone();
                move || futures::executor::block_on(pool.drained())
            });
            assert!(meter.max() <= 2, "{} at once", meter.max());
            let s = settled(&pool);
            assert_eq!(s.completed, seen.ok.load(SeqCst), "{s:?}");
            assert_eq!(s.rejected_total(), seen.rejected(), "{s:?}");
            assert_eq!(s.cancelled, 0, "{s:?}");
            assert_eq!(seen.other.load(SeqCst), 0);
            assert_eq!(meter.done() as u64, seen.ok.load(SeqCst));
        }
    });
}

/// Slow judges (a sleep while the call's slot is held) racing sync,
/// async and blocking callers and judges that resize the pool in place:
/// the bodies never exceed the limit, the pool as a judge sees it never
/// runs more than its size, and every call is accounted for.
#[test]
fn slow_judges_racing_every_caller_keep_the_limit() {
    within(BOUND, || {
        let pool = Pool::fixed(3);
        let meter = Meter::default();
        let over = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let sync_callers: Vec<_> = (0..2)
            .map(|_| {
                let (pool, meter, stop) = (pool.clone(), meter.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(SeqCst) {
                        let m = meter.clone();
                        pool.run(move || {
                            let _inside = m.enter();
                            std::thread::sleep(Duration::from_micros(300));
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        let rt = common::runtime();
        rt.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..120u64 {
                let (pool, meter, over) = (pool.clone(), meter.clone(), over.clone());
                tasks.push(tokio::spawn(async move {
                    let p = pool.clone();
                    let judge = move |_: &()| {
                        let s = p.stats();
                        if s.running > s.size.max(3) {
                            over.fetch_add(1, SeqCst);
                        }
                        std::thread::sleep(Duration::from_micros(500));
                        if i % 7 == 0 {
                            p.resize(3);
                        }
                        Verdict::Success
                    };
                    match i % 3 {
                        0 => pool.submit_judged(0, meter.body(1), judge).await.unwrap(),
                        1 => {
                            let m = meter.clone();
                            pool.submit_blocking(move || {
                                let _inside = m.enter();
                                std::thread::sleep(Duration::from_micros(300));
                            })
                            .await
                            .unwrap()
                        }
                        _ => {
                            // Dropped at random points, a judge mid-flight
                            // included (the judge is sync: it finishes).
                            let _ = tokio::time::timeout(
                                Duration::from_micros(700),
                                pool.submit_judged(0, meter.clone().body(1), judge),
                            )
                            .await;
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        stop.store(true, SeqCst);
        for c in sync_callers {
            c.join().unwrap();
        }
        assert!(meter.max() <= 3, "{} at once", meter.max());
        assert_eq!(
            over.load(SeqCst),
            0,
            "a judge saw more running than the size"
        );
        let s = settled(&pool);
        assert_eq!(s.panicked, 0, "{s:?}");
    });
}

// ---- clocks ----------------------------------------------------------------------

/// A clock that, at its `at`-th read, steers the pool it times.
struct SteeringClock {
    start: Instant,
    pool: OnceLock<Pool>,
    reads: AtomicU64,
    at: u64,
    action: u8,
}

thread_local! {
    static IN_CLOCK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Clock for SteeringClock {
    fn now(&self) -> Duration {
        let n = self.reads.fetch_add(1, SeqCst);
        if !IN_CLOCK.with(|c| c.replace(true)) {
            if let Some(pool) = self.pool.get() {
                let _ = pool.stats();
                if n == self.at {
                    match self.action {
                        0 => pool.abort(),
                        1 => pool.close(),
                        2 => {
                            pool.pause();
                            std::thread::sleep(Duration::from_millis(2));
                            pool.resume();
                        }
                        _ => {
                            pool.resize(0);
                            std::thread::sleep(Duration::from_millis(1));
                            pool.resize(2);
                        }
                    }
                } else if n % 5 == 0 {
                    // Slow now and then, while other threads race.
                    std::thread::sleep(Duration::from_micros(300));
                }
            }
            IN_CLOCK.with(|c| c.set(false));
        }
        self.start.elapsed()
    }
}

/// A clock read at admissions and releases that aborts, closes, pauses or
/// shrinks-and-regrows the pool it times, from inside that read, while
/// sync, async and blocking callers race: nothing deadlocks, the bodies
/// never exceed the size, every caller sees its call run or turned away
/// once, and the books match what they saw.
#[test]
fn a_clock_that_steers_its_pool_from_inside_a_read_loses_nothing() {
    within(BOUND, || {
        for action in 0..4u8 {
            let clock = Arc::new(SteeringClock {
                start: Instant::now(),
                pool: OnceLock::new(),
                reads: AtomicU64::new(0),
                at: 150,
                action,
            });
            let pool = adaptive_fixed(2, clock.clone());
            clock.pool.set(pool.clone()).ok().unwrap();
            let meter = Meter::default();
            let seen = Arc::new(Seen::default());
            let sync_callers: Vec<_> = (0..2)
                .map(|_| {
                    let (pool, meter, seen) = (pool.clone(), meter.clone(), seen.clone());
                    std::thread::spawn(move || {
                        for _ in 0..60 {
                            let m = meter.clone();
                            let r = pool.run(move || {
                                let _inside = m.enter();
                                std::thread::sleep(Duration::from_micros(200));
                            });
                            seen.note(&r);
                        }
                    })
                })
                .collect();
            let rt = common::runtime();
            rt.block_on(async {
                let mut tasks = Vec::new();
                for i in 0..150u32 {
                    let (pool, meter, seen) = (pool.clone(), meter.clone(), seen.clone());
                    tasks.push(tokio::spawn(async move {
                        let r = if i % 3 == 0 {
                            let m = meter.clone();
                            pool.submit_blocking(move || {
                                let _inside = m.enter();
                                std::thread::sleep(Duration::from_micros(200));
                            })
                            .await
                        } else {
                            pool.submit_judged(0, meter.body(1), |_| Verdict::Success)
                                .await
                        };
                        seen.note(&r);
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            });
            for c in sync_callers {
                c.join().unwrap();
            }
            assert!(
                clock.reads.load(SeqCst) > 150,
                "action {action}: the clock fired"
            );
            assert!(meter.max() <= 2, "action {action}: {} at once", meter.max());
            let s = settled(&pool);
            assert_eq!(s.completed, seen.ok.load(SeqCst), "action {action}: {s:?}");
            assert_eq!(
                s.rejected_total(),
                seen.rejected(),
                "action {action}: {s:?}"
            );
            assert_eq!(s.cancelled, 0, "action {action}: {s:?}");
            assert_eq!(seen.other.load(SeqCst), 0, "action {action}");
            assert_eq!(
                seen.ok.load(SeqCst) + seen.rejected(),
                270,
                "action {action}"
            );
            if action < 2 {
                assert!(pool.is_closed());
                assert!(
                    seen.closed.load(SeqCst) > 0,
                    "action {action}: some were turned away"
                );
            }
        }
    });
}

/// A clock that probes the pool it times with `try_acquire` on every read,
/// holding what it gets for a moment: a read made while a slot is in
/// flight (taken and not yet handed on, released and not yet given back)
/// must not let the probe and the callers run more than the size at once.
#[test]
fn a_clock_probing_with_permits_at_every_read_never_exceeds_the_size() {
    struct ProbingClock {
        start: Instant,
        pool: OnceLock<Pool>,
        meter: Meter,
        taken: AtomicU64,
    }
    impl Clock for ProbingClock {
        fn now(&self) -> Duration {
            if !IN_CLOCK.with(|c| c.replace(true)) {
                if let Some(pool) = self.pool.get() {
                    if let Ok(permit) = pool.try_acquire() {
                        let s = pool.stats();
                        // Counted as a body only if it is a slot of its own.
                        let own = s.nested == 0;
                        let _inside = own.then(|| self.meter.enter());
                        self.taken.fetch_add(1, SeqCst);
                        std::thread::sleep(Duration::from_micros(50));
                        drop(permit);
                    }
                }
                IN_CLOCK.with(|c| c.set(false));
            }
            self.start.elapsed()
        }
    }
    within(BOUND, || {
        let meter = Meter::default();
        let clock = Arc::new(ProbingClock {
            start: Instant::now(),
            pool: OnceLock::new(),
            meter: meter.clone(),
            taken: AtomicU64::new(0),
        });
        let pool = adaptive_fixed(2, clock.clone());
        clock.pool.set(pool.clone()).ok().unwrap();
        let callers: Vec<_> = (0..3)
            .map(|t| {
                let (pool, meter) = (pool.clone(), meter.clone());
                std::thread::spawn(move || {
                    for i in 0..150 {
                        let m = meter.clone();
                        if (i + t) % 2 == 0 {
                            pool.run(move || {
                                let _inside = m.enter();
                                std::thread::sleep(Duration::from_micros(100));
                            })
                            .unwrap();
                        } else {
                            futures::executor::block_on(pool.submit(async move {
                                let _inside = m.enter();
                                std::thread::sleep(Duration::from_micros(100));
                            }))
                            .unwrap();
                        }
                    }
                })
            })
            .collect();
        for c in callers {
            c.join().unwrap();
        }
        assert!(meter.max() <= 2, "{} at once", meter.max());
        let s = settled(&pool);
        assert_eq!(s.completed, 450 + clock.taken.load(SeqCst), "{s:?}");
    });
}

/// A clock that panics on some reads and takes a moment on others, on an
/// adaptive pool under racing callers whose futures are dropped mid-wait:
/// read as standing still (README), it costs no slot and no call.
#[test]
fn a_clock_that_panics_and_stalls_under_cancellations_costs_no_slot() {
    struct Flaky {
        start: Instant,
        reads: AtomicU64,
    }
    impl Clock for Flaky {
        fn now(&self) -> Duration {
            let n = self.reads.fetch_add(1, SeqCst);
            if n % 11 == 3 {
                panic!("planned: a clock that panics");
            }
            if n % 13 == 0 {
                std::thread::sleep(Duration::from_micros(400));
            }
            self.start.elapsed()
        }
    }
    quiet_planned_panics();
    within(BOUND, || {
        let pool = adaptive_fixed(
            2,
            Flaky {
                start: Instant::now(),
                reads: AtomicU64::new(0),
            },
        );
        let meter = Meter::default();
        let rt = common::runtime();
        rt.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..300u64 {
                let (pool, meter) = (pool.clone(), meter.clone());
                tasks.push(tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_micros(200 + (i % 5) * 300),
                        pool.submit_judged(0, meter.body(1), |_| Verdict::Success),
                    )
                    .await;
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        assert!(meter.max() <= 2, "{} at once", meter.max());
        let s = settled(&pool);
        assert_eq!(s.panicked, 0, "a clock's panic is no call's: {s:?}");
        assert_eq!(s.completed + s.cancelled, 300, "{s:?}");
        // Every slot is free again.
        let a = pool.try_acquire().unwrap();
        let b = pool.try_acquire().unwrap();
        assert_eq!(pool.try_acquire().unwrap_err(), Rejected::Full);
        drop((a, b));
    });
}

// ---- blocking executors ------------------------------------------------------------

/// An executor that probes the pool from inside `execute`, then runs the
/// job on a thread of its own.
struct Probing {
    pool: OnceLock<Pool>,
    probes: Mutex<Vec<Result<(usize, usize), Rejected>>>,
    action: std::sync::atomic::AtomicU8,
}

impl BlockingExecutor for Probing {
    fn execute(&self, job: BlockingJob) {
        if let Some(pool) = self.pool.get() {
            let probe = pool.try_acquire().map(|permit| {
                let s = pool.stats();
                drop(permit);
                (s.running, s.nested)
            });
            self.probes.lock().unwrap().push(probe);
            match self.action.load(SeqCst) {
                1 => pool.abort(),
                2 => std::thread::sleep(Duration::from_millis(2)),
                _ => {}
            }
        }
        std::thread::spawn(job);
    }
}

/// `execute` runs with the job's slot already taken (the slot travels with
/// the job): a `try_acquire` from inside it on a pool of one is refused —
/// for a top-level call, for a call nested in async work of the pool (the
/// lend is the job's), and for one nested in a sync call — and the job
/// still runs once, its result reaching the caller.
#[test]
fn an_executor_probing_its_pool_in_execute_finds_the_jobs_slot_taken() {
    within(BOUND, || {
        let exec = Arc::new(Probing {
            pool: OnceLock::new(),
            probes: Mutex::new(Vec::new()),
            action: 0.into(),
        });
        let pool = Pool::builder()
            .size(1)
            .blocking_executor(exec.clone())
            .build()
            .unwrap();
        exec.pool.set(pool.clone()).ok().unwrap();
        let meter = Meter::default();
        let job = |m: Meter| {
            move || {
                let _inside = m.enter();
                std::thread::sleep(Duration::from_millis(1));
                7
            }
        };
        // Top level.
        let r = futures::executor::block_on(pool.submit_blocking(job(meter.clone())));
        assert_eq!(r, Ok(7));
        // Nested in async work of the pool.
        let p = pool.clone();
        let m = meter.clone();
        let r = futures::executor::block_on(
            pool.submit(async move { p.submit_blocking(job(m)).await }),
        );
        assert_eq!(r, Ok(Ok(7)));
        // Nested in a sync call.
        let p = pool.clone();
        let m = meter.clone();
        let r = pool.run(move || futures::executor::block_on(p.submit_blocking(job(m))));
        assert_eq!(r, Ok(Ok(7)));
        assert!(meter.max() <= 1, "{} at once", meter.max());
        let probes = exec.probes.lock().unwrap().clone();
        assert_eq!(probes.len(), 3);
        for (i, probe) in probes.iter().enumerate() {
            assert_eq!(
                *probe,
                Err(Rejected::Full),
                "probe {i}: a second slot while the job holds the only one"
            );
        }
        settled(&pool);
    });
}

/// An executor whose `execute` aborts the pool (before it runs the job it
/// was handed) or stalls, under racing callers that drop their futures:
/// the admitted jobs all run (an abort turns away waiting calls, not
/// admitted ones), the closures never exceed the limit, and the books
/// match.
#[test]
fn an_executor_that_aborts_or_stalls_in_execute_runs_every_admitted_job() {
    within(BOUND, || {
        for action in [1u8, 2] {
            let exec = Arc::new(Probing {
                pool: OnceLock::new(),
                probes: Mutex::new(Vec::new()),
                action: 0.into(),
            });
            let pool = Pool::builder()
                .size(2)
                .blocking_executor(exec.clone())
                .build()
                .unwrap();
            exec.pool.set(pool.clone()).ok().unwrap();
            let meter = Meter::default();
            let ran = Arc::new(AtomicU64::new(0));
            let seen = Arc::new(Seen::default());
            let rt = common::runtime();
            rt.block_on(async {
                let mut tasks = Vec::new();
                for i in 0..60u64 {
                    let (pool, meter, ran, seen) =
                        (pool.clone(), meter.clone(), ran.clone(), seen.clone());
                    tasks.push(tokio::spawn(async move {
                        let call = pool.submit_blocking(move || {
                            let _inside = meter.enter();
                            ran.fetch_add(1, SeqCst);
                            std::thread::sleep(Duration::from_micros(500));
                        });
                        if i % 4 == 3 {
                            // Dropped, maybe once its job is on its way.
                            let _ = tokio::time::timeout(Duration::from_micros(300), call).await;
                        } else {
                            let r = call.await;
                            seen.note(&r);
                        }
                    }));
                    if i == 20 {
                        // From here on the executor steers.
                        exec.action.store(action, SeqCst);
                    }
                }
                for t in tasks {
                    t.await.unwrap();
                }
            });
            wait_until("the jobs end", || pool.stats().in_flight() == 0);
            assert!(meter.max() <= 2, "action {action}: {} at once", meter.max());
            let s = settled(&pool);
            // The executor's probes are calls of their own.
            let probes = exec.probes.lock().unwrap().clone();
            let probed_ok = probes.iter().filter(|p| p.is_ok()).count() as u64;
            let probed_full = probes.len() as u64 - probed_ok;
            assert!(probes
                .iter()
                .all(|p| matches!(p, Ok(_) | Err(Rejected::Full) | Err(Rejected::Closed))));
            assert_eq!(
                s.completed,
                ran.load(SeqCst) + probed_ok,
                "action {action}: every admitted job ran and completed: {s:?}"
            );
            assert_eq!(
                s.rejected_total() + s.cancelled + s.completed,
                60 + probes.len() as u64,
                "action {action}: {s:?}"
            );
            assert!(
                seen.rejected() <= s.rejected_total() - probed_full,
                "action {action}: every rejection a caller saw is counted: {s:?}"
            );
            if action == 1 {
                assert!(pool.is_closed());
            }
        }
    });
}

/// An executor that hands the job to a thread and then panics: the panic
/// reaches the caller (the call was admitted; its future unwinds), the
/// job still runs once and releases its slot on its thread, and the next
/// call gets the slot.
#[test]
fn an_executor_that_panics_after_handing_the_job_off_loses_no_slot() {
    struct HandsOffThenPanics;
    impl BlockingExecutor for HandsOffThenPanics {
        fn execute(&self, job: BlockingJob) {
            std::thread::spawn(job);
            panic!("planned: an executor that panics after spawning");
        }
    }
    quiet_planned_panics();
    within(BOUND, || {
        let pool = Pool::builder()
            .size(1)
            .blocking_executor(Arc::new(HandsOffThenPanics))
            .build()
            .unwrap();
        let ran = Arc::new(AtomicU64::new(0));
        let meter = Meter::default();
        for _ in 0..20 {
            let (r2, m) = (ran.clone(), meter.clone());
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                futures::executor::block_on(pool.submit_blocking(move || {
                    let _inside = m.enter();
                    std::thread::sleep(Duration::from_micros(300));
                    r2.fetch_add(1, SeqCst);
                }))
            }));
            assert!(out.is_err(), "the executor's panic reaches the caller");
        }
        wait_until("every job ran", || ran.load(SeqCst) == 20);
        assert!(meter.max() <= 1, "{} at once", meter.max());
        let s = settled(&pool);
        assert_eq!(s.completed + s.cancelled, 20, "{s:?}");
        drop(pool.try_acquire().expect("the slot is free again"));
    });
}

// ---- wakers ------------------------------------------------------------------------

/// Wakers whose `wake` takes a while (a sleep, reading the stats) while
/// other callers race on their own threads, some giving up mid-wait:
/// the woken calls are handed their slots, the bodies never exceed the
/// limit, and nothing is lost.
#[test]
fn slow_wakers_racing_other_callers_keep_the_limit_and_lose_nothing() {
    within(BOUND, || {
        let pool = Pool::fixed(2);
        let meter = Meter::default();
        let over = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..5)
            .map(|t| {
                let (pool, meter, over) = (pool.clone(), meter.clone(), over.clone());
                std::thread::spawn(move || {
                    let p = pool.clone();
                    let hook: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
                        let s = p.stats();
                        if s.running > 2 {
                            over.fetch_add(1, SeqCst);
                        }
                        std::thread::sleep(Duration::from_micros(400));
                    });
                    for i in 0..40 {
                        let m = meter.clone();
                        if (i + t) % 3 == 0 {
                            pool.run(move || {
                                let _inside = m.enter();
                                std::thread::sleep(Duration::from_micros(200));
                            })
                            .unwrap();
                        } else {
                            block_on_with(
                                pool.submit(async move {
                                    let _inside = m.enter();
                                    std::thread::sleep(Duration::from_micros(200));
                                }),
                                hook.clone(),
                            )
                            .unwrap();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(meter.max() <= 2, "{} at once", meter.max());
        assert_eq!(over.load(SeqCst), 0);
        let s = settled(&pool);
        assert_eq!(s.completed, 200, "{s:?}");
    });
}

/// A waiter whose `wake` aborts the pool: the release that hands it a
/// slot wakes it, its waker aborts, and the other waiters are turned away
/// once each; the woken call, admitted before the abort, runs; the holder
/// whose release woke it returns normally.
#[test]
fn a_waker_that_aborts_the_pool_when_handed_a_slot_loses_nothing() {
    within(BOUND, || {
        let pool = Pool::fixed(1);
        let seen = Arc::new(Seen::default());
        let meter = Meter::default();
        let held = pool.try_acquire_owned(0).unwrap();
        let waiters: Vec<_> = (0..5)
            .map(|_| {
                let (pool, seen, meter) = (pool.clone(), seen.clone(), meter.clone());
                std::thread::spawn(move || {
                    let p = pool.clone();
                    let hook: Arc<dyn Fn() + Send + Sync> = Arc::new(move || p.abort());
                    let m = meter.clone();
                    let r = block_on_with(
                        pool.submit(async move {
                            let _inside = m.enter();
                        }),
                        hook,
                    );
                    seen.note(&r);
                })
            })
            .collect();
        wait_until("five wait", || pool.stats().waiting == 5);
        drop(held);
        for w in waiters {
            w.join().unwrap();
        }
        assert!(meter.max() <= 1);
        assert_eq!(seen.ok.load(SeqCst), 1, "the call handed the slot runs");
        assert_eq!(seen.closed.load(SeqCst), 4, "the others are turned away");
        let s = settled(&pool);
        assert_eq!(s.completed, 2, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Closed), 4, "{s:?}");
    });
}

/// Wakers whose `wake` grabs a free slot with `try_acquire_owned` and
/// holds it for a moment on the waking thread (a release's, or a
/// resize's): the permits and the bodies together never exceed the
/// limit, and the woken calls are not starved for good.
#[test]
fn wakers_that_take_slots_when_woken_never_pass_the_limit() {
    within(BOUND, || {
        let pool = Pool::fixed(2);
        let meter = Meter::default();
        let taken = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (pool, meter, taken) = (pool.clone(), meter.clone(), taken.clone());
                std::thread::spawn(move || {
                    let (p, m, tk) = (pool.clone(), meter.clone(), taken.clone());
                    let hook: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
                        if let Ok(permit) = p.try_acquire_owned(0) {
                            let _inside = m.enter();
                            tk.fetch_add(1, SeqCst);
                            std::thread::sleep(Duration::from_micros(100));
                            drop(permit);
                        }
                    });
                    for i in 0..50 {
                        let m = meter.clone();
                        if i % 10 == t {
                            p_resize(&pool);
                        }
                        block_on_with(
                            pool.submit(async move {
                                let _inside = m.enter();
                                std::thread::sleep(Duration::from_micros(150));
                            }),
                            hook.clone(),
                        )
                        .unwrap();
                    }
                })
            })
            .collect();
        fn p_resize(pool: &Pool) {
            pool.resize(1);
            pool.resize(2);
        }
        for t in threads {
            t.join().unwrap();
        }
        assert!(meter.max() <= 2, "{} at once", meter.max());
        let s = settled(&pool);
        assert_eq!(s.completed, 200 + taken.load(SeqCst), "{s:?}");
    });
}

/// The waiter's owner gives up (drops its future) while the release that
/// handed it the slot is still inside the waiter's slow `wake`: the slot
/// goes on to the next waiter, nobody hangs, and the books count the
/// dropped call cancelled.
#[test]
fn a_waiter_dropped_while_its_slow_wake_runs_passes_the_slot_on() {
    within(BOUND, || {
        for round in 0..20 {
            let pool = Pool::fixed(1);
            let held = pool.try_acquire_owned(0).unwrap();
            let in_wake = Arc::new(AtomicBool::new(false));
            let dropped = Arc::new(AtomicBool::new(false));
            let victim = {
                let (pool, in_wake, dropped) = (pool.clone(), in_wake.clone(), dropped.clone());
                std::thread::spawn(move || {
                    struct SlowWake(Arc<AtomicBool>);
                    impl Wake for SlowWake {
                        fn wake(self: Arc<Self>) {
                            self.0.store(true, SeqCst);
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                    let waker = Waker::from(Arc::new(SlowWake(in_wake.clone())));
                    let mut call = Box::pin(pool.submit(async { 1 }));
                    assert!(call
                        .as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_pending());
                    wait_until("the wake runs", || in_wake.load(SeqCst));
                    if round % 2 == 0 {
                        std::thread::sleep(Duration::from_micros(500));
                    }
                    drop(call);
                    dropped.store(true, SeqCst);
                })
            };
            wait_until("the victim waits", || pool.stats().waiting == 1);
            let next = {
                let pool = pool.clone();
                std::thread::spawn(move || futures::executor::block_on(pool.submit(async { 2 })))
            };
            wait_until("the next waits", || pool.stats().waiting == 2);
            drop(held);
            victim.join().unwrap();
            assert_eq!(next.join().unwrap(), Ok(2), "round {round}");
            assert!(dropped.load(SeqCst));
            let s = settled(&pool);
            assert_eq!((s.completed, s.cancelled), (2, 1), "round {round}: {s:?}");
        }
    });
}

// ---- streams -----------------------------------------------------------------------

/// A stream item that closes its pool mid-stream: the items already
/// running or admitted finish, every later item is `Closed`, each item is
/// yielded once, and the books match — in both adapters.
#[test]
fn a_stream_item_that_closes_its_pool_ends_the_stream_cleanly() {
    use futures::StreamExt;
    use pool_runtime::PooledStreamExt;
    within(BOUND, || {
        for ordered in [false, true] {
            let pool = Pool::fixed(2);
            let meter = Meter::default();
            let items = (0..30u32).map(|n| {
                let (pool, meter) = (pool.clone(), meter.clone());
                async move {
                    let _inside = meter.enter();
                    if n == 7 {
                        pool.close();
                        let _ = pool.stats();
                    }
                    if n % 3 == 0 {
                        // A sync call nested in the item: under its slot.
                        assert_eq!(pool.run(|| n), Ok(n));
                    }
                    futures::future::ready(()).await;
                    n
                }
            });
            let outs: Vec<Result<u32, Rejected>> = futures::executor::block_on(async {
                if ordered {
                    futures::stream::iter(items)
                        .pooled_ordered(&pool)
                        .collect()
                        .await
                } else {
                    futures::stream::iter(items)
                        .pooled_unordered(&pool)
                        .collect()
                        .await
                }
            });
            assert_eq!(outs.len(), 30, "ordered {ordered}");
            let ok = outs.iter().filter(|r| r.is_ok()).count() as u64;
            let closed = outs.iter().filter(|r| **r == Err(Rejected::Closed)).count() as u64;
            assert_eq!(ok + closed, 30, "ordered {ordered}: {outs:?}");
            assert!(
                outs[..8].iter().all(Result::is_ok),
                "ordered {ordered}: {outs:?}"
            );
            assert!(closed > 0, "ordered {ordered}");
            assert!(meter.max() <= 2, "{} at once", meter.max());
            let s = settled(&pool);
            let nested_runs = outs
                .iter()
                .filter(|r| matches!(r, Ok(n) if n % 3 == 0))
                .count() as u64;
            assert_eq!(s.completed, ok + nested_runs, "ordered {ordered}: {s:?}");
            assert_eq!(s.rejected_for(Rejected::Closed), closed, "{s:?}");
        }
    });
}

// ---- a tracing subscriber ------------------------------------------------------------

/// A subscriber whose `event` calls back into the pool the event is about
/// (once per thread at a time): on a limit change it makes a sync call,
/// which needs the new slot; on a rejection it resumes the pool and makes
/// a call. The library reports outside its lock and after the change, so
/// neither deadlocks, and the books count the subscriber's calls as calls.
#[test]
fn a_subscriber_calling_the_pool_from_its_events_does_not_deadlock() {
    struct Calling {
        pool: Pool,
        ran: AtomicU64,
        events: AtomicU64,
    }
    thread_local! {
        static IN_EVENT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    impl tracing::Subscriber for Calling {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            if !event.metadata().target().starts_with("pooled") {
                return;
            }
            if IN_EVENT.with(|c| c.replace(true)) {
                return;
            }
            self.events.fetch_add(1, SeqCst);
            let _ = self.pool.stats();
            if self.pool.is_paused() {
                self.pool.resume();
            }
            if self.pool.run(|| ()).is_ok() {
                self.ran.fetch_add(1, SeqCst);
            }
            IN_EVENT.with(|c| c.set(false));
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }
    within(Duration::from_secs(20), || {
        let pool = Pool::builder()
            .name("adv36-traced")
            .size(1)
            .build()
            .unwrap();
        let sub = Arc::new(Calling {
            pool: pool.clone(),
            ran: AtomicU64::new(0),
            events: AtomicU64::new(0),
        });
        let dispatch = tracing::Dispatch::from(sub.clone());
        tracing::dispatcher::with_default(&dispatch, || {
            // A limit change while the only slot is held: the event's
            // call needs the slot the change adds.
            let held = pool.try_acquire().unwrap();
            assert_eq!(pool.resize(2), 2);
            drop(held);
            // A rejection: the subscriber resumes the pool and calls it.
            pool.pause();
            assert_eq!(pool.run(|| ()), Err(Rejected::Paused));
        });
        assert!(sub.events.load(SeqCst) >= 2, "the events were seen");
        let s = settled(&pool);
        assert_eq!(
            s.completed,
            1 + sub.ran.load(SeqCst),
            "the permit and the subscriber's calls: {s:?}"
        );
        assert_eq!(s.rejected_for(Rejected::Paused), 1, "{s:?}");
    });
}

// ---- a watched file's callback ----------------------------------------------------------

static WATCHED: pool_runtime::Group =
    pool_runtime::Group::new(pool_runtime::GroupSpec::new("adv36::watched").size(2));
pool_runtime::register_group!(WATCHED);

/// `config::watch`'s callback is user code on the watching thread: one
/// that loads the file again itself (a load after the reported one, not
/// inside it), calls the group it configures and reads its settings, and
/// is slow — neither deadlocks the watch nor the group, the group ends at
/// the file's last settings, and dropping the `Watch` from another thread
/// while the callback is running waits for it and returns.
#[test]
fn a_watch_callback_that_reloads_and_calls_its_group_does_not_deadlock() {
    let _turn = common::config_turn();
    within(BOUND, || {
        let dir = std::env::temp_dir().join(format!("adv36-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pooled.toml");
        std::fs::write(&path, "[groups.\"adv36::watched\"]\nsize = 3\n").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let in_callback = Arc::new(AtomicBool::new(false));
        let again = path.clone();
        let flag = in_callback.clone();
        let watch = pool_runtime::config::watch(&path, Duration::from_millis(5), move |outcome| {
            flag.store(true, SeqCst);
            let reloaded = pool_runtime::config::load(&again).map(|_| ());
            let called = WATCHED.run(|| WATCHED.size());
            let _ = WATCHED.settings();
            let _ = pool_runtime::groups();
            std::thread::sleep(Duration::from_millis(30));
            let _ = tx.send((outcome.is_ok(), reloaded, called));
            flag.store(false, SeqCst);
        })
        .unwrap();
        assert_eq!(WATCHED.size(), 3);
        std::fs::write(&path, "[groups.\"adv36::watched\"]\nsize = 5\n").unwrap();
        let (ok, reloaded, called) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(ok, "the change loaded");
        assert_eq!(
            reloaded,
            Ok(()),
            "a load from the callback is a load like any other"
        );
        assert_eq!(called, Ok(5), "the callback's call ran at the new size");
        assert_eq!(WATCHED.size(), 5);
        // Another change, and the watch dropped while its callback runs.
        std::fs::write(&path, "[groups.\"adv36::watched\"]\nsize = 4\n").unwrap();
        wait_until("the callback runs", || in_callback.load(SeqCst));
        drop(watch);
        assert!(
            !in_callback.load(SeqCst),
            "the drop waited for the callback"
        );
        assert_eq!(WATCHED.size(), 4);
        let s = WATCHED.stats();
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
        assert_accounted(&s);
        pool_runtime::config::clear();
        let _ = std::fs::remove_dir_all(&dir);
    });
}

// ---- the Drop of a turned-away call's closure -----------------------------------------

/// README: "A call dropped or turned away gives its slots ... back before
/// its work, closure or arguments are dropped, so their `Drop` may call a
/// group." A sync call's closure whose `Drop` calls the same pool: turned
/// away paused (the `Drop` resumes the pool and calls it: the slot the
/// rejected call never took is free), timed out while another holds the
/// only slot (the `Drop`'s own call times out too, nothing hangs), and
/// timed out from sync barging's room.
#[test]
fn a_turned_away_sync_calls_closure_whose_drop_calls_the_pool() {
    struct CallsOnDrop {
        pool: Pool,
        out: Arc<Mutex<Vec<Result<u32, Rejected>>>>,
        resume: bool,
    }
    impl Drop for CallsOnDrop {
        fn drop(&mut self) {
            if self.resume {
                self.pool.resume();
            }
            let r = self.pool.run(|| 9);
            self.out.lock().unwrap().push(r);
        }
    }
    within(BOUND, || {
        for barging in [false, true] {
            let mut builder = Pool::builder()
                .size(1)
                .admission_timeout(Duration::from_millis(20));
            if barging {
                builder = builder.sync_barging(Duration::from_millis(5));
            }
            let pool = builder.build().unwrap();
            let out = Arc::new(Mutex::new(Vec::new()));
            // Paused.
            pool.pause();
            let guard = CallsOnDrop {
                pool: pool.clone(),
                out: out.clone(),
                resume: true,
            };
            assert_eq!(
                pool.run(move || {
                    let _g = &guard;
                    1
                }),
                Err(Rejected::Paused)
            );
            assert_eq!(out.lock().unwrap().pop(), Some(Ok(9)), "barging {barging}");
            // Timed out behind a held slot.
            let held = pool.try_acquire_owned(0).unwrap();
            let guard = CallsOnDrop {
                pool: pool.clone(),
                out: out.clone(),
                resume: false,
            };
            let start = Instant::now();
            assert_eq!(
                pool.run(move || {
                    let _g = &guard;
                    1
                }),
                Err(Rejected::TimedOut)
            );
            assert_eq!(
                out.lock().unwrap().pop(),
                Some(Err(Rejected::TimedOut)),
                "barging {barging}"
            );
            assert!(start.elapsed() < Duration::from_secs(5));
            drop(held);
            let s = settled(&pool);
            assert_eq!(s.completed, 2, "barging {barging}: {s:?}");
            assert_eq!(s.rejected_for(Rejected::Paused), 1, "{s:?}");
            assert_eq!(s.rejected_for(Rejected::TimedOut), 2, "{s:?}");
        }
    });
}

// ---- observers that export through the pool they observe ------------------------------

/// A sync export through `pool` (a telemetry client behind the same
/// bulkhead), once per thread at a time; its body is counted by `meter`.
struct Exporter {
    pool: Pool,
    meter: Meter,
    exports: AtomicUsize,
    /// Which callbacks export: 0 span close, 1 span record, 2 events.
    on: u8,
}

thread_local! {
    static EXPORTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Exporter {
    fn export(&self) {
        if EXPORTING.with(|e| e.replace(true)) {
            return;
        }
        self.exports.fetch_add(1, SeqCst);
        let meter = self.meter.clone();
        let _ = self.pool.run(move || {
            let _inside = meter.enter();
        });
        EXPORTING.with(|e| e.set(false));
    }
}

struct ExportingSubscriber {
    exporter: Exporter,
    inner: tracing_subscriber::Registry,
}

impl tracing::Subscriber for ExportingSubscriber {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        self.inner.new_span(span)
    }
    fn record(&self, span: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        self.inner.record(span, values);
        if self.exporter.on == 1 {
            self.exporter.export();
        }
    }
    fn record_follows_from(&self, span: &tracing::span::Id, follows: &tracing::span::Id) {
        self.inner.record_follows_from(span, follows)
    }
    fn event(&self, event: &tracing::Event<'_>) {
        self.inner.event(event);
        if self.exporter.on == 2 {
            self.exporter.export();
        }
    }
    fn enter(&self, span: &tracing::span::Id) {
        self.inner.enter(span)
    }
    fn exit(&self, span: &tracing::span::Id) {
        self.inner.exit(span)
    }
    fn clone_span(&self, id: &tracing::span::Id) -> tracing::span::Id {
        self.inner.clone_span(id)
    }
    fn try_close(&self, id: tracing::span::Id) -> bool {
        let closed = self.inner.try_close(id);
        if closed && self.exporter.on == 0 {
            self.exporter.export();
        }
        closed
    }
}

/// Every call form on `pool` (of one slot), one after another on this
/// thread, plus a rejection and a limit change.
fn every_form_once(pool: &Pool, meter: &Meter) {
    let m = meter.clone();
    assert_eq!(
        futures::executor::block_on(pool.submit(async move {
            let _inside = m.enter();
            1
        })),
        Ok(1)
    );
    let m = meter.clone();
    assert_eq!(
        pool.run(move || {
            let _inside = m.enter();
            2
        }),
        Ok(2)
    );
    let m = meter.clone();
    assert_eq!(
        futures::executor::block_on(pool.submit_blocking(move || {
            let _inside = m.enter();
            3
        })),
        Ok(3)
    );
    let m = meter.clone();
    assert_eq!(
        futures::executor::block_on(pool.submit_judged(
            0,
            async move {
                let _inside = m.enter();
                4
            },
            |_| Verdict::Success
        )),
        Ok(4)
    );
    let permit = futures::executor::block_on(pool.acquire()).unwrap();
    drop(permit);
    pool.pause();
    assert_eq!(pool.run(|| 5), Err(Rejected::Paused));
    pool.resume();
    pool.resize(2);
    pool.resize(1);
}

/// Runs every call form on a pool of one (no admission timeout) under a
/// subscriber that exports through that pool from `on` (0: span close,
/// 2: events), and checks that nothing hangs and the limit holds.
fn subscriber_exports(on: u8) {
    let pool = Pool::builder()
        .name(format!("adv36-export-{on}"))
        .size(1)
        .build()
        .unwrap();
    let meter = Meter::default();
    let sub = Arc::new(ExportingSubscriber {
        exporter: Exporter {
            pool: pool.clone(),
            meter: meter.clone(),
            exports: AtomicUsize::new(0),
            on,
        },
        inner: tracing_subscriber::Registry::default(),
    });
    let (p, m, s) = (pool.clone(), meter.clone(), sub.clone());
    within(Duration::from_secs(10), move || {
        let dispatch = tracing::Dispatch::from(s);
        tracing::dispatcher::with_default(&dispatch, || every_form_once(&p, &m));
    });
    assert!(sub.exporter.exports.load(SeqCst) > 0, "on {on}: exported");
    assert!(meter.max() <= 1, "on {on}: {} at once", meter.max());
    let s = settled(&pool);
    assert_eq!(s.panicked, 0, "on {on}: {s:?}");
}

/// Promise: round 16's `a_subscriber_that_exports_through_the_pool_it_observes_keeps_the_limit`
/// ("the limit holds and nothing hangs on every call path, with feature
/// `tracing` and any subscriber": a subscriber whose span close makes a
/// sync call into the very pool that reports — an exporter shipping
/// telemetry through a pooled client); README "nothing hangs". Attack: the
/// same exporter on a pool of one with no admission timeout (round 16's
/// pool had two slots and a 5 ms timeout, which ends such a wait). The
/// call's span is closed when the call ends, but before its slot is
/// released (`Acquire::end` reports `obs.ended` before `held::end_call`),
/// outside the call's frame: the export waits for the only slot, which the
/// ending call on the same thread holds — for good.
#[test]
fn a_subscriber_exporting_on_span_close_through_its_pool_of_one_does_not_deadlock() {
    subscriber_exports(0);
}

/// The control: the same exporter on events (rejections, limit changes),
/// which are reported with no slot held, completes.
#[test]
fn a_subscriber_exporting_on_events_through_its_pool_of_one_completes() {
    subscriber_exports(2);
}

/// A recorder whose handles export through the pool they measure; which
/// handles export is chosen by name (`calls`: the outcome counters;
/// `running-`: the running gauge's decrements only, made as a slot is
/// freed; `waiting`, `limit`: those gauges).
fn recorder_exports(which: &'static str) -> usize {
    struct Handle(Arc<OnceLock<Exporter>>, bool);
    impl Handle {
        fn export(&self) {
            if let Some(e) = self.0.get() {
                e.export();
            }
        }
    }
    impl metrics::CounterFn for Handle {
        fn increment(&self, _: u64) {
            self.export();
        }
        fn absolute(&self, _: u64) {
            self.export();
        }
    }
    impl metrics::GaugeFn for Handle {
        fn increment(&self, by: f64) {
            // (The pool moves its gauges by differences: a slot freed is
            // an increment by -1.)
            if !self.1 || by < 0.0 {
                self.export();
            }
        }
        fn decrement(&self, _: f64) {
            self.export();
        }
        fn set(&self, _: f64) {
            if !self.1 {
                self.export();
            }
        }
    }
    impl metrics::HistogramFn for Handle {
        fn record(&self, _: f64) {
            self.export();
        }
    }
    struct Recorder(Arc<OnceLock<Exporter>>, &'static str);
    impl Recorder {
        fn wants(&self, k: &metrics::Key) -> bool {
            k.name().contains(self.1.trim_end_matches('-'))
        }
        fn handle(&self) -> Arc<Handle> {
            Arc::new(Handle(self.0.clone(), self.1.ends_with('-')))
        }
    }
    impl metrics::Recorder for Recorder {
        fn describe_counter(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_gauge(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn register_counter(
            &self,
            k: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            if self.wants(k) {
                metrics::Counter::from_arc(self.handle())
            } else {
                metrics::Counter::noop()
            }
        }
        fn register_gauge(&self, k: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            if self.wants(k) {
                metrics::Gauge::from_arc(self.handle())
            } else {
                metrics::Gauge::noop()
            }
        }
        fn register_histogram(
            &self,
            k: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            if self.wants(k) {
                metrics::Histogram::from_arc(self.handle())
            } else {
                metrics::Histogram::noop()
            }
        }
    }
    let exporter = Arc::new(OnceLock::new());
    let pool = metrics::with_local_recorder(&Recorder(exporter.clone(), which), || {
        Pool::builder()
            .name(format!("adv36-metrics-{which}"))
            .size(1)
            .build()
            .unwrap()
    });
    let meter = Meter::default();
    exporter
        .set(Exporter {
            pool: pool.clone(),
            meter: meter.clone(),
            exports: AtomicUsize::new(0),
            on: 0,
        })
        .ok()
        .unwrap();
    let (p, m) = (pool.clone(), meter.clone());
    within(Duration::from_secs(10), move || every_form_once(&p, &m));
    assert!(meter.max() <= 1, "{which}: {} at once", meter.max());
    settled(&pool);
    exporter.get().unwrap().exports.load(SeqCst)
}

/// The recorder form of the span-close deadlock above: a call's outcome
/// counter (`pooled.calls`) is counted before its slot is released,
/// outside its frame, so a recorder exporting through the pool it measures
/// (a pool of one, no admission timeout) deadlocks the first call.
#[test]
fn a_recorder_exporting_on_call_counters_through_its_pool_of_one_does_not_deadlock() {
    assert!(recorder_exports("calls") > 0);
}

/// Controls: exports on the `limit` and `waiting` gauges complete.
#[test]
fn a_recorder_exporting_on_limit_and_waiting_gauges_through_its_pool_of_one_completes() {
    assert!(
        recorder_exports("limit") > 0,
        "the limit changes are exported"
    );
    recorder_exports("waiting");
}

/// The `running` gauge's decrement reports a slot being freed: an export
/// made from it through the pool of one must find the slot free (or
/// borrow it), not wait for it.
#[test]
fn a_recorder_exporting_as_the_running_gauge_falls_through_its_pool_of_one() {
    assert!(
        recorder_exports("running-") > 0,
        "the decrements are exported"
    );
}

// ---- wakers on the timer thread -----------------------------------------------------

/// A waker that, when woken, makes a sync call into `pool` (no admission
/// timeout) and records that it returned.
struct SyncCallOnWake {
    pool: Pool,
    done: AtomicBool,
    on_timer: AtomicBool,
    returned: AtomicBool,
}

impl Wake for SyncCallOnWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        // Woken by the timer: on its thread, or (since the fix) on one of
        // the threads it hands fired deadlines' wakers to.
        let name = std::thread::current().name().map(str::to_owned);
        if name.is_some_and(|name| name.starts_with("pooled-timer")) {
            self.on_timer.store(true, SeqCst);
        }
        if !self.done.swap(true, SeqCst) {
            let _ = self.pool.run(|| ());
            self.returned.store(true, SeqCst);
        }
    }
}

/// Promise: "Timeouts run on one lazily started timer thread, which works
/// under any executor or none"; "nothing hangs"; a waker is user code the
/// pool runs with no lock held, and may make a sync call into a pool
/// (`a_waker_that_makes_a_sync_call_into_the_pool_when_woken_keeps_the_limit`,
/// round 16; round 26 holds the fleet's thread to the same). Attack: an
/// async call waiting in pool P with an admission timeout, polled with a
/// waker that — woken on the timer thread when the deadline passes —
/// makes a sync call into pool R (no timeout), whose slot is held by a
/// thread that gives it back once its own call, waiting in pool Q, times
/// out. Q's deadline is the timer thread's to fire: the process's one timer
/// thread is parked in the waker, so every admission timeout in the process
/// stops, and the three wait for each other for good. Own process: a hang
/// takes the process's timer thread.
#[test]
fn a_waker_woken_on_the_timer_thread_making_a_sync_call_does_not_stop_every_timeout() {
    common::in_own_process(
        "a_waker_woken_on_the_timer_thread_making_a_sync_call_does_not_stop_every_timeout",
        &[],
        || {
            let p = Pool::builder()
                .size(1)
                .admission_timeout(Duration::from_millis(30))
                .build()
                .unwrap();
            let q = Pool::builder()
                .size(1)
                .admission_timeout(Duration::from_millis(60))
                .build()
                .unwrap();
            let r = Pool::fixed(1);
            let p_held = p.try_acquire_owned(0).unwrap();
            let q_held = q.try_acquire_owned(0).unwrap();
            let waker_state = Arc::new(SyncCallOnWake {
                pool: r.clone(),
                done: AtomicBool::new(false),
                on_timer: AtomicBool::new(false),
                returned: AtomicBool::new(false),
            });
            let probe = waker_state.clone();
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                within(Duration::from_secs(10), move || {
                    // The holder of R's slot: gives it back once its Q call
                    // times out.
                    let r_held = r.try_acquire_owned(0).unwrap();
                    let holder = std::thread::spawn(move || {
                        let out = futures::executor::block_on(q.submit(async {}));
                        drop(r_held);
                        out
                    });
                    let waker = Waker::from(waker_state);
                    let mut call = Box::pin(p.submit(async { 1 }));
                    assert!(call
                        .as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_pending());
                    let q_out = holder.join().unwrap();
                    let start = Instant::now();
                    let p_out = loop {
                        if let Poll::Ready(out) =
                            call.as_mut().poll(&mut Context::from_waker(&waker))
                        {
                            break out;
                        }
                        assert!(start.elapsed() < Duration::from_secs(5));
                        std::thread::sleep(Duration::from_millis(2));
                    };
                    (q_out, p_out)
                })
            }));
            let out = out.unwrap_or_else(|_| {
                panic!(
                    "hung: the waker was woken on the timer thread: {}, its sync call returned: {}",
                    probe.on_timer.load(SeqCst),
                    probe.returned.load(SeqCst)
                )
            });
            assert_eq!(out, (Err(Rejected::TimedOut), Err(Rejected::TimedOut)));
            assert!(
                probe.on_timer.load(SeqCst),
                "the waker was woken on the timer thread"
            );
            drop((p_held, q_held));
        },
    );
}

// ---- a job dropped unrun by its executor ---------------------------------------------

/// README: "A call dropped or turned away gives its slots ... back before
/// its work, closure or arguments are dropped, so their `Drop` may call a
/// group"; `BlockingExecutor`: "If `execute` drops a job without running
/// it ..., the call is rejected with `Rejected::Closed` and its slot is
/// released." A closure whose `Drop` makes a sync call into the same pool
/// of one, dropped unrun by an executor that is shutting down (at once in
/// `execute`, and later on another thread): its call gets the slot the
/// job had, the caller gets `Closed`, and nothing hangs.
#[test]
fn a_closure_dropped_unrun_by_its_executor_may_call_the_same_pool_of_one() {
    struct CallsOnDrop(Pool, Arc<Mutex<Vec<Result<u32, Rejected>>>>);
    impl Drop for CallsOnDrop {
        fn drop(&mut self) {
            let r = self.0.run(|| 9);
            self.1.lock().unwrap().push(r);
        }
    }
    struct Drops(bool);
    impl BlockingExecutor for Drops {
        fn execute(&self, job: BlockingJob) {
            if self.0 {
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(2));
                    drop(job);
                });
            } else {
                drop(job);
            }
        }
    }
    within(BOUND, || {
        for later in [false, true] {
            let pool = Pool::builder()
                .size(1)
                .blocking_executor(Arc::new(Drops(later)))
                .build()
                .unwrap();
            let out = Arc::new(Mutex::new(Vec::new()));
            let guard = CallsOnDrop(pool.clone(), out.clone());
            let r = futures::executor::block_on(pool.submit_blocking(move || {
                let _g = &guard;
                1
            }));
            assert_eq!(r, Err(Rejected::Closed), "later {later}");
            wait_until("the closure is dropped", || !out.lock().unwrap().is_empty());
            assert_eq!(*out.lock().unwrap(), [Ok(9)], "later {later}");
            let s = settled(&pool);
            assert_eq!((s.completed, s.cancelled), (1, 1), "later {later}: {s:?}");
        }
    });
}

// ---- a waker's clone under the timer's entry lock --------------------------------------

/// What the hostile clone below acts on.
struct CloneHook {
    /// A pool whose calls wait with an admission timeout (a timer entry).
    other: OnceLock<Pool>,
    clones: AtomicUsize,
}

static CLONE_HOOK: CloneHook = CloneHook {
    other: OnceLock::new(),
    clones: AtomicUsize::new(0),
};

thread_local! {
    static IN_CLONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A waker whose `clone` takes a while (long enough for a short admission
/// deadline to pass meanwhile) and then starts and abandons a timed wait
/// in another pool: user code that needs the timer (a new entry, and one
/// cancelled).
fn waker_whose_clone_starts_a_timed_call() -> Waker {
    use std::task::{RawWaker, RawWakerVTable};
    fn vtable() -> &'static RawWakerVTable {
        &RawWakerVTable::new(clone, noop, noop, noop)
    }
    unsafe fn clone(data: *const ()) -> RawWaker {
        if !IN_CLONE.with(|c| c.replace(true)) {
            CLONE_HOOK.clones.fetch_add(1, SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            if let Some(other) = CLONE_HOOK.other.get() {
                let mut call = Box::pin(other.submit(async {}));
                let _ = call.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                drop(call);
            }
            IN_CLONE.with(|c| c.set(false));
        }
        RawWaker::new(data, vtable())
    }
    unsafe fn noop(_: *const ()) {}
    // Safety: the vtable's functions ignore the data pointer.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), vtable())) }
}

/// Promise: "A pool's own lock is never held while a waker, a judge or
/// user code runs (a waker's `clone`, a `Clock`)"; "nothing hangs"; a
/// replaced waker is "dropped outside the pool's locks". Attack: a call
/// waiting with an admission timeout, first polled with a waker whose
/// `clone` is slow and then starts (and drops) a timed wait in another
/// pool. The deadline's `Sleep` clones the waker while it holds its timer
/// entry's waker lock; the deadline passes meanwhile, and the timer
/// thread, holding the timer's heap lock, waits for that entry lock; the
/// clone's own timed wait then needs the heap lock: lock-order inversion
/// between the caller and the process's one timer thread. Own process: a
/// hang takes the timer thread.
#[test]
fn a_waker_clone_that_starts_a_timed_call_while_its_deadline_fires_does_not_deadlock() {
    common::in_own_process(
        "a_waker_clone_that_starts_a_timed_call_while_its_deadline_fires_does_not_deadlock",
        &[],
        || {
            let p = Pool::builder()
                .size(1)
                .admission_timeout(Duration::from_millis(30))
                .build()
                .unwrap();
            let z = Pool::builder()
                .size(1)
                .admission_timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let p_held = p.try_acquire_owned(0).unwrap();
            let z_held = z.try_acquire_owned(0).unwrap();
            CLONE_HOOK.other.set(z.clone()).ok().unwrap();
            let (p2, z2) = (p.clone(), z.clone());
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                within(Duration::from_secs(10), move || {
                    let waker = waker_whose_clone_starts_a_timed_call();
                    let mut call = Box::pin(p2.submit(async { 1 }));
                    let start = Instant::now();
                    loop {
                        if let Poll::Ready(out) =
                            call.as_mut().poll(&mut Context::from_waker(&waker))
                        {
                            break out;
                        }
                        assert!(start.elapsed() < Duration::from_secs(5));
                        std::thread::sleep(Duration::from_millis(2));
                    }
                })
            }));
            let out = out.unwrap_or_else(|_| {
                panic!(
                    "hung after {} clones; the other pool: {:?}",
                    CLONE_HOOK.clones.load(SeqCst),
                    z2.stats()
                )
            });
            assert_eq!(out, Err(Rejected::TimedOut));
            drop((p_held, z_held));
            settled(&p);
            settled(&z);
        },
    );
}

// ---- shutdown racing callbacks in flight ------------------------------------------------

/// An executor that stalls in `execute` until told to go on.
struct Stalling {
    go: Arc<AtomicBool>,
    entered: Arc<AtomicBool>,
}

impl BlockingExecutor for Stalling {
    fn execute(&self, job: BlockingJob) {
        self.entered.store(true, SeqCst);
        while !self.go.load(SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::spawn(job);
    }
}

/// README, "Shutdown": `shutdown(Some(timeout))` "returns by its deadline
/// whatever the calls do: past it, waiting calls are turned away and
/// `ShutdownTimedOut` says how many calls still run". Attack: the calls
/// still "run" inside user callbacks when the deadline passes — a judge
/// that takes its time, an executor stalled in `execute` with the job's
/// slot in hand — with a third call waiting behind them. Shutdown must
/// return by its deadline counting both as running and the waiter turned
/// away; once the callbacks let go, both calls complete and `drained`
/// resolves.
#[test]
fn shutdown_racing_a_slow_judge_and_a_stalled_executor_counts_them_running() {
    within(BOUND, || {
        let go = Arc::new(AtomicBool::new(false));
        let entered = Arc::new(AtomicBool::new(false));
        let pool = Pool::builder()
            .size(2)
            .blocking_executor(Arc::new(Stalling {
                go: go.clone(),
                entered: entered.clone(),
            }))
            .build()
            .unwrap();
        let judging = Arc::new(AtomicBool::new(false));
        let release_judge = Arc::new(AtomicBool::new(false));
        let judged = {
            let (pool, judging, release) = (pool.clone(), judging.clone(), release_judge.clone());
            std::thread::spawn(move || {
                futures::executor::block_on(pool.submit_judged(0, async { 1 }, move |_| {
                    judging.store(true, SeqCst);
                    while !release.load(SeqCst) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Verdict::Success
                }))
            })
        };
        let blocking = {
            let pool = pool.clone();
            std::thread::spawn(move || futures::executor::block_on(pool.submit_blocking(|| 2)))
        };
        wait_until("both callbacks hold their slots", || {
            judging.load(SeqCst) && entered.load(SeqCst)
        });
        let waiter = {
            let pool = pool.clone();
            std::thread::spawn(move || futures::executor::block_on(pool.submit(async { 3 })))
        };
        wait_until("the third waits", || pool.stats().waiting == 1);
        let start = Instant::now();
        let shut = futures::executor::block_on(pool.shutdown(Some(Duration::from_millis(30))));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "shutdown returned by its deadline"
        );
        let err = shut.expect_err("two calls still run");
        assert_eq!((err.running, err.turned_away), (2, 1), "{err:?}");
        assert_eq!(waiter.join().unwrap(), Err(Rejected::Closed));
        release_judge.store(true, SeqCst);
        go.store(true, SeqCst);
        assert_eq!(judged.join().unwrap(), Ok(1));
        assert_eq!(blocking.join().unwrap(), Ok(2));
        within(Duration::from_secs(10), {
            let pool = pool.clone();
            move || futures::executor::block_on(pool.drained())
        });
        let s = settled(&pool);
        assert_eq!(s.completed, 2, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Closed), 1, "{s:?}");
    });
}

// ---- a held body's own code -----------------------------------------------------------

/// A response body of one frame whose `is_end_stream` (its own code, as
/// `poll_frame` is) makes a sync call into the pool whose slot it is held
/// by, once per body.
struct CallingBody {
    pool: Pool,
    sent: bool,
    called: Arc<Mutex<Vec<Result<u32, Rejected>>>>,
    probe: bool,
}

impl http_body::Body for CallingBody {
    type Data = &'static [u8];
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<&'static [u8]>, Self::Error>>> {
        // The body's streaming: README, a body calling the same pool makes
        // a nested call.
        let r = self.pool.run(|| 1);
        self.called.lock().unwrap().push(r);
        if std::mem::replace(&mut self.sent, true) {
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(Ok(http_body::Frame::data(&b"frame"[..]))))
        }
    }

    fn is_end_stream(&self) -> bool {
        if self.probe {
            let r = self.pool.run(|| 2);
            self.called.lock().unwrap().push(r);
        }
        false
    }
}

/// README, "Fitting the stack": with `.hold_until_body_ends()` "the inner
/// service runs as the call's work, and so does a held body's streaming: a
/// handler (or a body) calling the same pool or group makes a nested call
/// ... instead of waiting for a second slot". The body's code that the
/// layer calls — `poll_frame`, and `is_end_stream`, which `PermitBody`
/// asks when it takes the permit and after each frame — calling the same
/// pool of one must not wait for the slot its own body holds. The control
/// (`probe` off: only `poll_frame` calls) completes.
#[test]
fn a_held_bodys_code_calling_the_same_pool_of_one_runs_nested() {
    held_body_calls(false);
}

/// The same with `is_end_stream` calling the pool: it is asked outside the
/// call's frame (`PermitBody::new`, and after each frame in
/// `poll_frame`), while the body's permit holds the only slot.
#[test]
fn a_held_bodys_is_end_stream_calling_the_same_pool_of_one_runs_nested() {
    held_body_calls(true);
}

fn held_body_calls(probe: bool) {
    use http_body::Body;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, ServiceExt};
    let pool = Pool::fixed(1);
    let called = Arc::new(Mutex::new(Vec::new()));
    let (p, c) = (pool.clone(), called.clone());
    let frames = within(Duration::from_secs(10), move || {
        let service = PooledLayer::pool(p.clone())
            .hold_until_body_ends()
            .layer(service_fn(move |()| {
                let body = CallingBody {
                    pool: p.clone(),
                    sent: false,
                    called: c.clone(),
                    probe,
                };
                async move { Ok::<_, BoxError>(http::Response::new(body)) }
            }));
        futures::executor::block_on(async {
            let response = service.oneshot(()).await.unwrap();
            let mut body = Box::pin(response.into_body());
            let mut frames = 0;
            while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
                frame.unwrap();
                frames += 1;
            }
            frames
        })
    });
    assert_eq!(frames, 1);
    let called = called.lock().unwrap().clone();
    assert!(!called.is_empty());
    assert!(called.iter().all(Result::is_ok), "{called:?}");
    let s = settled(&pool);
    assert_eq!(s.panicked, 0, "{s:?}");
}
