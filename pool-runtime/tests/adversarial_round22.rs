//! Hostile tests, round 22: user code the pool calls back re-entering it
//! from places earlier rounds did not reach (a panic hook that steers the
//! pool while the panic unwinds out of a waker, a clock, a judge, an
//! executor; a thread-local destructor making a sync call; a waker that drops
//! a pooled stream, or the rest of its wake batch and aborts the pool; a
//! stored waker whose `Drop` waits for a slot); wakers whose `clone` panics
//! at every clone site of every path (queue, deadline, nested lend, ceiling,
//! stream, tower service, metrics), then polled on; sync callers whose thread
//! is unparked by someone else; a nested permit carried to another thread;
//! a shutdown awaited inside one of the pool's own calls; owned permits
//! carried across runtimes while the pool is steered; `Fleet::acquire_blocking`
//! beside dropped async acquires; a watch callback whose panic payload
//! panics again; the autoscaler's timing changed under load; tower services
//! turned back into their inner service mid-wait; a held body whose end check
//! panics. Each test names the promise it attacks (the limit, nothing hangs,
//! nothing is lost, bad input an error value). Concurrency is counted from
//! outside the library; every wait is bounded only to turn a hang into a
//! failure.

mod common;
#[cfg(feature = "redis")]
mod redis_server;

use common::{assert_accounted, quiet_planned_panics, within, Meter};
use pool_runtime::{Kind, Order, Pool, Rejected};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Waker};
use std::thread;
use std::time::{Duration, Instant};

/// Long enough that only a hang reaches it on a loaded 2-core machine.
const WATCHDOG: Duration = Duration::from_secs(20);

/// Polls until `done` or the watchdog fires.
#[track_caller]
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < WATCHDOG, "hung waiting for {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

// ---- sync callers unparked by someone else -----------------------------------

/// Promise (README, "Timeouts"): "Sync callers time out on their own thread
/// (their park's timeout)". Attack: another thread unparks the caller's
/// thread in a tight loop while it waits (spurious wake-ups, as any code
/// sharing the thread's park token may cause). The call must still time out
/// at its deadline (not earlier, not never), as `Rejected::TimedOut`, and
/// leave the queue.
#[test]
fn spurious_unparks_neither_cut_nor_extend_a_sync_callers_timeout() {
    let pool = Pool::builder()
        .size(1)
        .admission_timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let holder = pool.try_acquire_owned(0).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let caller = {
        let pool = pool.clone();
        thread::spawn(move || {
            let start = Instant::now();
            let out = pool.run(|| ());
            (out, start.elapsed())
        })
    };
    let unparker = {
        let stop = stop.clone();
        let target = caller.thread().clone();
        thread::spawn(move || {
            while !stop.load(SeqCst) {
                target.unpark();
                thread::sleep(Duration::from_micros(200));
            }
        })
    };
    wait_until("the caller to finish", || caller.is_finished());
    stop.store(true, SeqCst);
    unparker.join().unwrap();
    let (out, took) = caller.join().unwrap();
    assert_eq!(out, Err(Rejected::TimedOut));
    assert!(
        took >= Duration::from_millis(390),
        "timed out early, after {took:?}"
    );
    drop(holder);
    let stats = pool.stats();
    assert_eq!(stats.waiting, 0, "{stats:?}");
    assert_eq!(stats.rejected_for(Rejected::TimedOut), 1, "{stats:?}");
    assert_accounted(&stats);
}

/// Promise (README, "Limits"): `running <= limit` at every admission.
/// Attack: sync callers without a timeout on a full pool of 2, their
/// threads unparked in a tight loop by another thread; none may run before
/// a slot frees, and when they do, never more than 2 at once (counted from
/// outside); every call completes.
#[test]
fn spurious_unparks_never_admit_a_parked_sync_caller_past_the_limit() {
    let pool = Pool::fixed(2);
    let meter = Meter::default();
    let a = pool.try_acquire_owned(0).unwrap();
    let b = pool.try_acquire_owned(0).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..6)
        .map(|_| {
            let (pool, meter) = (pool.clone(), meter.clone());
            thread::spawn(move || {
                pool.run(|| {
                    let _inside = meter.enter();
                    thread::sleep(Duration::from_millis(5));
                })
            })
        })
        .collect();
    let targets: Vec<_> = callers.iter().map(|c| c.thread().clone()).collect();
    let unparker = {
        let stop = stop.clone();
        thread::spawn(move || {
            while !stop.load(SeqCst) {
                for t in &targets {
                    t.unpark();
                }
                thread::sleep(Duration::from_micros(100));
            }
        })
    };
    wait_until("six parked callers", || pool.stats().waiting == 6);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(meter.done(), 0, "a parked caller ran with no slot free");
    drop(a);
    drop(b);
    for caller in callers {
        let start = Instant::now();
        while !caller.is_finished() {
            assert!(start.elapsed() < WATCHDOG, "a sync caller never ran");
            thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(caller.join().unwrap(), Ok(()));
    }
    stop.store(true, SeqCst);
    unparker.join().unwrap();
    assert_eq!(meter.max(), 2, "limit 2, counted from outside");
    let stats = pool.stats();
    assert_eq!(stats.completed, 8, "six calls and two permits: {stats:?}");
    assert_accounted(&stats);
}

// ---- a sync call from a thread-local destructor -----------------------------

/// Promise (`park.rs`, and "nothing hangs / never a panic"): a sync call on
/// "a thread whose thread-locals are being torn down makes [a waker] for the
/// occasion". Attack: a thread-local registered before the library's own
/// (so destroyed after them) whose `Drop` makes a sync call that must park
/// (the pool is full; the slot frees later). Run in a child process: a
/// panic in a thread-local destructor aborts.
#[test]
fn a_sync_call_from_a_thread_local_destructor_waits_for_its_slot() {
    common::in_child_process(
        "a_sync_call_from_a_thread_local_destructor_waits_for_its_slot",
        &[],
        || {
            struct Late {
                pool: Pool,
                answer: mpsc::Sender<Result<u32, Rejected>>,
            }
            impl Drop for Late {
                fn drop(&mut self) {
                    let out = self.pool.run(|| 7);
                    let _ = self.answer.send(out);
                }
            }
            thread_local! {
                static LATE: std::cell::RefCell<Option<Late>> = const { std::cell::RefCell::new(None) };
            }
            let pool = Pool::fixed(1);
            let warm = Pool::fixed(1);
            let holder = pool.try_acquire_owned(0).unwrap();
            let warm_holder = warm.try_acquire_owned(0).unwrap();
            let (answer, answered) = mpsc::channel();
            let body_done = Arc::new(AtomicBool::new(false));
            let thread = {
                let (pool, warm, body_done) = (pool.clone(), warm.clone(), body_done.clone());
                thread::spawn(move || {
                    // Registered first: destroyed last.
                    LATE.with(|late| *late.borrow_mut() = Some(Late { pool, answer }));
                    // A sync call that parks: the library's thread-locals
                    // (its waker) are registered now, after `LATE`.
                    assert_eq!(warm.run(|| 1), Ok(1));
                    body_done.store(true, SeqCst);
                })
            };
            wait_until("the warm-up caller to park", || warm.stats().waiting == 1);
            drop(warm_holder);
            wait_until("the thread's body", || body_done.load(SeqCst));
            // The destructor's call must wait: the pool is full.
            wait_until("the destructor's call to wait", || {
                pool.stats().waiting == 1 || thread.is_finished()
            });
            thread::sleep(Duration::from_millis(100));
            drop(holder);
            let out = answered
                .recv_timeout(WATCHDOG)
                .expect("the destructor's sync call never returned");
            assert_eq!(out, Ok(7));
            thread.join().unwrap();
            let stats = pool.stats();
            assert_eq!(stats.completed, 2, "{stats:?}");
            assert_accounted(&stats);
        },
    );
}

// ---- a panic hook that steers the pool ----------------------------------------

#[cfg(feature = "tokio")]
mod panic_hook {
    use super::*;
    use pool_runtime::{AdaptiveSettings, BlockingExecutor, BlockingJob, Clock, ScalePolicy};
    use std::future::Future;
    use std::pin::{pin, Pin};
    use std::sync::OnceLock;
    use std::task::Poll;

    /// The pools the hook steers: every panic reads their stats, tries a
    /// permit and moves their limit.
    static STEERED: OnceLock<Mutex<Vec<Pool>>> = OnceLock::new();
    static HOOK_RUNS: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static IN_HOOK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    fn steered() -> &'static Mutex<Vec<Pool>> {
        STEERED.get_or_init(|| Mutex::new(Vec::new()))
    }

    fn install_hook() {
        std::panic::set_hook(Box::new(|info| {
            HOOK_RUNS.fetch_add(1, SeqCst);
            eprintln!("hook: {info}");
            // The hook's own reads of a panicking clock must not panic (a
            // panic inside a panic hook aborts, by Rust's rules).
            IN_HOOK.set(true);
            struct Out;
            impl Drop for Out {
                fn drop(&mut self) {
                    IN_HOOK.set(false);
                }
            }
            let _out = Out;
            // A copy, so that no lock of the test's is held meanwhile.
            let pools: Vec<Pool> = steered().lock().unwrap().clone();
            for pool in pools {
                let _ = pool.stats();
                if let Ok(permit) = pool.try_acquire() {
                    drop(permit);
                }
                let size = pool.size();
                pool.resize(size);
                pool.set_admission_timeout(pool.admission_timeout());
            }
        }));
    }

    fn steer(pool: &Pool) {
        steered().lock().unwrap().push(pool.clone());
    }

    struct PanickyClock {
        start: Instant,
        armed: AtomicBool,
    }
    impl Clock for PanickyClock {
        fn now(&self) -> Duration {
            if self.armed.load(SeqCst) && !IN_HOOK.get() {
                panic!("planned: clock");
            }
            self.start.elapsed()
        }
    }

    struct PanickyExecutor;
    impl BlockingExecutor for PanickyExecutor {
        fn execute(&self, job: BlockingJob) {
            drop(job);
            panic!("planned: execute");
        }
    }

    fn poll_once<F: Future>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
        fut.poll(&mut Context::from_waker(waker))
    }

    /// Promise (README, lock order): "A pool's own lock is never held while
    /// a waker, a judge or user code runs"; faults lose nothing. Attack: a
    /// panic hook (user code every panic runs, on the panicking thread, at
    /// the point of the panic) that reads the pool's stats, takes and drops
    /// a permit and resizes the pool, installed while the pool's callbacks
    /// panic: a waker's `wake` at a release, a waker's `clone` at a first
    /// poll, a clock on every kind of pool, a judge, a blocking executor.
    /// Nothing may hang (each scenario has a watchdog), and every pool ends
    /// accounted with nothing running or waiting. In a child process: the
    /// hook is process-wide.
    #[test]
    fn a_panic_hook_that_steers_the_pool_while_its_callbacks_panic() {
        common::in_child_process(
            "panic_hook::a_panic_hook_that_steers_the_pool_while_its_callbacks_panic",
            &[],
            || {
                install_hook();
                within(WATCHDOG, wake_at_a_release);
                within(WATCHDOG, clone_at_a_first_poll);
                within(WATCHDOG, clock_on_every_kind);
                within(WATCHDOG, judge_and_executor);
                assert!(HOOK_RUNS.load(SeqCst) >= 5, "{}", HOOK_RUNS.load(SeqCst));
            },
        );
    }

    fn wake_at_a_release() {
        let pool = Pool::fixed(1);
        steer(&pool);
        let holder = pool.try_acquire_owned(0).unwrap();
        let mut waiting = pin!(pool.submit(async { 3 }));
        assert!(poll_once(waiting.as_mut(), &common::panicking_waker()).is_pending());
        // The release wakes the panicking waker; the hook steers the pool
        // meanwhile; the panic reaches the releasing thread.
        let released = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(holder)));
        assert!(released.is_err(), "the waker's panic is re-raised");
        assert_eq!(
            poll_once(waiting.as_mut(), Waker::noop()),
            Poll::Ready(Ok(3))
        );
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
        assert_accounted(&stats);
    }

    fn clone_at_a_first_poll() {
        static ARMED: AtomicBool = AtomicBool::new(false);
        let pool = Pool::fixed(1);
        steer(&pool);
        let holder = pool.try_acquire_owned(0).unwrap();
        let mut waiting = Box::pin(pool.submit(async { 4 }));
        ARMED.store(true, SeqCst);
        let waker = common::waker_whose_clone_panics_once(&ARMED);
        let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            poll_once(waiting.as_mut(), &waker)
        }));
        assert!(first.is_err(), "the clone's panic reaches the poller");
        // Dropped after the panic (see
        // `a_call_polled_again_after_its_wakers_clone_panicked_is_counted_once`
        // for one polled again).
        drop(waiting);
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (1, 0), "{stats:?}");
        drop(holder);
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
        assert_accounted(&stats);
    }

    fn clock_on_every_kind() {
        for policy in [
            None,
            Some(ScalePolicy::QueueDepth),
            Some(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT)),
        ] {
            let clock = Arc::new(PanickyClock {
                start: Instant::now(),
                armed: AtomicBool::new(false),
            });
            let mut builder = Pool::builder().clock(clock.clone());
            builder = match policy {
                None => builder.size(2),
                Some(policy) => builder
                    .kind(Kind::Autoscale)
                    .min(1)
                    .max(3)
                    .autoscale_interval(Duration::from_millis(1))
                    .scale_policy(policy),
            };
            let pool = builder
                .admission_timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            steer(&pool);
            let meter = Meter::default();
            clock.armed.store(true, SeqCst);
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let (pool, meter) = (pool.clone(), meter.clone());
                    thread::spawn(move || {
                        for _ in 0..20 {
                            let _ = pool.run(|| {
                                let _inside = meter.enter();
                                thread::sleep(Duration::from_micros(300));
                            });
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            clock.armed.store(false, SeqCst);
            let (_, max) = pool.bounds();
            assert!(meter.max() <= max.max(2), "{} > {max}", meter.max());
            let stats = pool.stats();
            assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
            assert_accounted(&stats);
        }
    }

    fn judge_and_executor() {
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .order(Order::Priority)
            .min(1)
            .max(2)
            .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT))
            .blocking_executor(Arc::new(PanickyExecutor))
            .build()
            .unwrap();
        steer(&pool);
        let judged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures::executor::block_on(
                pool.submit_judged(0, async { 5 }, |_| panic!("planned: judge")),
            )
        }));
        assert!(judged.is_err(), "the judge's panic reaches the caller");
        let blocking = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures::executor::block_on(pool.submit_blocking(|| 6))
        }));
        let _ = blocking;
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
        assert_accounted(&stats);
        // Still usable.
        assert_eq!(pool.run(|| 8), Ok(8));
    }
}

// ---- wakers that drop calls, or abort, in the middle of a wake batch ---------

/// A waker that runs `on_wake` (once) when woken.
fn waker_running(on_wake: impl FnOnce() + Send + 'static) -> Waker {
    struct OnWake(Mutex<Option<Box<dyn FnOnce() + Send>>>);
    impl std::task::Wake for OnWake {
        fn wake(self: Arc<Self>) {
            let f = self.0.lock().unwrap().take();
            if let Some(f) = f {
                f();
            }
        }
    }
    Waker::from(Arc::new(OnWake(Mutex::new(Some(Box::new(on_wake))))))
}

type Waiting = std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, Rejected>> + Send>>;

/// Promise (README, "Cancellation" and "Faults lose nothing"): a call
/// dropped after it was handed its slot passes the slot on; wakers are woken
/// outside the pool's locks. Attack: a pool of 0 with eight queued calls
/// (every order); a resize to 8 hands all of them a slot in one wake batch,
/// and the first waker woken drops every other call (handed, not yet
/// polled) and aborts the pool, while the batch is still being woken.
/// Nothing hangs; the calls that are left run or are turned away; the pool
/// ends with nothing running or waiting, accounted, and drained.
#[test]
fn a_waker_that_drops_the_rest_of_its_batch_and_aborts_loses_nothing() {
    for order in [Order::Fifo, Order::Lifo, Order::Priority] {
        let pool = Pool::builder().order(order).size(1).build().unwrap();
        pool.resize(0);
        let calls: Arc<Mutex<Vec<Option<Waiting>>>> = Arc::new(Mutex::new(Vec::new()));
        let fired = Arc::new(AtomicUsize::new(0));
        for i in 0..8u32 {
            let pool2 = pool.clone();
            let mut call: Waiting =
                Box::pin(
                    async move { pool2.submit_weighted(i64::from(i), async move { i }).await },
                );
            let waker = {
                let (calls, pool, fired) = (calls.clone(), pool.clone(), fired.clone());
                waker_running(move || {
                    if fired.fetch_add(1, SeqCst) == 0 {
                        // Drop every other call (handed or queued), under
                        // no lock of the test's but the list's.
                        let others: Vec<_> = calls
                            .lock()
                            .unwrap()
                            .iter_mut()
                            .enumerate()
                            .filter(|(j, _)| *j as u32 != i)
                            .filter_map(|(_, c)| c.take())
                            .collect();
                        drop(others);
                        pool.abort();
                    }
                })
            };
            assert!(call
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            calls.lock().unwrap().push(Some(call));
        }
        assert_eq!(pool.stats().waiting, 8);
        within(WATCHDOG, {
            let pool = pool.clone();
            move || pool.resize(8)
        });
        let left: Vec<Waiting> = calls
            .lock()
            .unwrap()
            .iter_mut()
            .filter_map(|c| c.take())
            .collect();
        assert!(fired.load(SeqCst) >= 1, "{order:?}: nobody was woken");
        for mut call in left {
            match call.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                std::task::Poll::Ready(Ok(_)) | std::task::Poll::Ready(Err(Rejected::Closed)) => {}
                other => panic!("{order:?}: after the abort: {other:?}"),
            }
        }
        let stats = pool.stats();
        assert_eq!(
            (stats.running, stats.waiting),
            (0, 0),
            "{order:?}: {stats:?}"
        );
        assert_eq!(stats.submitted(), 8, "{order:?}: {stats:?}");
        assert_accounted(&stats);
        within(WATCHDOG, {
            let pool = pool.clone();
            move || futures::executor::block_on(pool.drained())
        });
    }
}

// ---- the autoscaler's timing changed under load -------------------------------

/// Promise (`set_autoscale_timing`, README "Autoscale"): the limit moves
/// within `[min, max]`; bad timing is an error value. Attack: four threads
/// of sync and async callers on an autoscaled priority pool (1..=3) while
/// another thread sets the timing to the extremes (1 ns, `Duration::MAX`,
/// windows of 1 and `MAX_WINDOW`, and refused ones: a zero interval, a
/// window past the maximum) as fast as it can. The bodies running at once
/// (counted from outside) never pass 3, the size stays in bounds, every
/// call completes and the pool ends accounted.
#[test]
fn autoscale_timing_changed_at_random_under_load_keeps_the_bounds() {
    use pool_runtime::AutoscaleTiming;
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .order(Order::Priority)
        .min(1)
        .max(3)
        .build()
        .unwrap();
    let meter = Meter::default();
    let stop = Arc::new(AtomicBool::new(false));
    let steering = {
        let (pool, stop) = (pool.clone(), stop.clone());
        thread::spawn(move || {
            let timings = [
                (Duration::from_nanos(1), 1, true),
                (Duration::MAX, AutoscaleTiming::MAX_WINDOW, true),
                (Duration::from_millis(1), 2, true),
                (Duration::ZERO, 4, false),
                (
                    Duration::from_millis(1),
                    AutoscaleTiming::MAX_WINDOW + 1,
                    false,
                ),
                (Duration::from_micros(10), 0, false),
            ];
            let mut i = 0usize;
            while !stop.load(SeqCst) {
                let (interval, window, ok) = timings[i % timings.len()];
                let set = pool.set_autoscale_timing(AutoscaleTiming { interval, window });
                assert_eq!(set.is_ok(), ok, "{interval:?} {window}: {set:?}");
                let size = pool.size();
                assert!((1..=3).contains(&size), "size {size}");
                i += 1;
                if i % 16 == 0 {
                    thread::sleep(Duration::from_micros(100));
                }
            }
            i
        })
    };
    let callers: Vec<_> = (0..4)
        .map(|t| {
            let (pool, meter) = (pool.clone(), meter.clone());
            thread::spawn(move || {
                for n in 0..150i64 {
                    let out = if t % 2 == 0 {
                        pool.run_weighted(n % 5, || {
                            let _inside = meter.enter();
                            thread::yield_now();
                        })
                    } else {
                        futures::executor::block_on(pool.submit_weighted(-n, async {
                            let _inside = meter.enter();
                            thread::yield_now();
                        }))
                    };
                    assert_eq!(out, Ok(()));
                }
            })
        })
        .collect();
    let start = Instant::now();
    for c in callers {
        while !c.is_finished() {
            assert!(start.elapsed() < WATCHDOG * 2, "callers hung");
            thread::sleep(Duration::from_millis(5));
        }
        c.join().unwrap();
    }
    stop.store(true, SeqCst);
    assert!(steering.join().unwrap() > 0);
    assert!(meter.max() <= 3, "{} bodies at once, max 3", meter.max());
    let stats = pool.stats();
    assert_eq!(stats.completed, 600, "{stats:?}");
    assert!((1..=3).contains(&stats.size), "{stats:?}");
    assert_accounted(&stats);
}

// ---- config::watch: a callback whose panic payload panics again ---------------

#[cfg(feature = "config")]
mod watched {
    use super::*;
    use pool_runtime::{config, register_group, Group, GroupSpec};

    static WATCHED: Group = Group::new(GroupSpec::new("adv22::watched").size(2));
    register_group!(WATCHED);

    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            if !thread::panicking() {
                panic!("planned: a payload whose drop panics");
            }
        }
    }

    /// Promise (`config::watch`): "A panic in [the callback] is caught and
    /// the watch goes on". Attack: the callback panics with a payload whose
    /// own `Drop` panics (the second panic is the library's to contain); the
    /// next change of the file must still be loaded and reported, and the
    /// `Watch` dropped without a hang.
    #[test]
    fn a_watch_callback_whose_panic_payload_panics_again_does_not_end_the_watch() {
        let _turn = common::config_turn();
        quiet_planned_panics();
        let path =
            std::env::temp_dir().join(format!("pooled-adv22-watch-{}.toml", std::process::id()));
        std::fs::write(&path, "[groups.\"adv22::watched\"]\nsize = 3\n").unwrap();
        let (tx, rx) = mpsc::channel();
        let calls = Arc::new(AtomicUsize::new(0));
        let watch = {
            let calls = calls.clone();
            config::watch(&path, Duration::from_millis(5), move |outcome| {
                if calls.fetch_add(1, SeqCst) == 0 {
                    std::panic::panic_any(Bomb);
                }
                let _ = tx.send(outcome.map(|r| r.to_string()).map_err(|e| e.to_string()));
            })
            .unwrap()
        };
        assert_eq!(WATCHED.size(), 3);
        std::fs::write(&path, "[groups.\"adv22::watched\"]\nsize = 4\n").unwrap();
        wait_until("the first reload", || calls.load(SeqCst) >= 1);
        assert_eq!(WATCHED.size(), 4);
        // Give the watch a moment to settle after the panic, then change again.
        thread::sleep(Duration::from_millis(50));
        std::fs::write(&path, "[groups.\"adv22::watched\"]\nsize = 5\n").unwrap();
        let report = rx
            .recv_timeout(WATCHDOG)
            .expect("the watch ended after its callback's panic payload panicked");
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(WATCHED.size(), 5);
        within(WATCHDOG, move || drop(watch));
        let _ = std::fs::remove_file(&path);
        config::clear();
    }
}

// ---- tower: a service turned back into its inner service mid-wait -------------

#[cfg(feature = "tower")]
mod tower_into_inner {
    use super::*;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, Service};

    /// Promise (`PooledService::into_inner`): "a slot reserved for the next
    /// call is released"; cancel safety: dropping the service while
    /// `poll_ready` waits leaves the queue at once. Attack: services of a
    /// full pool of 1, one waiting in `poll_ready` (queued), one ready
    /// (holding a slot after a release), each turned back into its inner
    /// service; a clone made while a slot is reserved is dropped first. The
    /// queued one must leave the queue (counted cancelled, its waker never
    /// admitted a slot), the reserved slot must go to the next waiter, and
    /// the pool ends accounted.
    #[test]
    fn a_service_turned_into_its_inner_service_while_waiting_or_ready_frees_everything() {
        let pool = Pool::fixed(1);
        let make = || {
            PooledLayer::pool(pool.clone())
                .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }))
        };
        let holder = pool.try_acquire_owned(0).unwrap();
        let mut first = make();
        let mut second = make();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(first.poll_ready(&mut cx).is_pending());
        assert!(second.poll_ready(&mut cx).is_pending());
        assert_eq!(pool.stats().waiting, 2);
        drop(holder);
        // The slot went to `first` (FIFO): reserved, ready.
        assert!(matches!(
            first.poll_ready(&mut cx),
            std::task::Poll::Ready(Ok(()))
        ));
        assert_eq!(pool.stats().running, 1);
        let clone = first.clone();
        drop(clone);
        assert_eq!(pool.stats().running, 1, "a clone holds nothing");
        // `second` leaves the queue as it is turned back.
        let _inner = second.into_inner();
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (1, 0), "{stats:?}");
        // `first`'s reserved slot is released by `into_inner`.
        let _inner = first.into_inner();
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
        assert!(pool.try_acquire().is_ok(), "the slot is free again");
        let stats = pool.stats();
        assert_eq!(
            (stats.completed, stats.cancelled),
            (2, 2),
            "the holder and the last permit completed; a reservation and a wait cancelled: {stats:?}"
        );
        assert_accounted(&stats);
    }
}

// ---- a pooled stream dropped from inside a waker --------------------------------

#[cfg(feature = "stream")]
mod stream_in_waker {
    use super::*;
    use futures::Stream;
    use pool_runtime::PooledStreamExt;

    /// Promise (stream adapters, README "Cancellation", lock order): a
    /// dropped adapter frees its calls' slots and leaves the queue; no user
    /// code runs under the pool's lock. Attack: an unordered stream of a
    /// full pool of 2, its items queued; the waker it was polled with, when
    /// a release wakes it, drops the whole stream (its queued calls, and the
    /// one just handed a slot) on the releasing thread. Nothing may hang,
    /// the slot must be free for a newcomer and the pool accounted.
    #[test]
    fn a_stream_dropped_by_its_own_waker_at_a_release_frees_everything() {
        for order in [Order::Fifo, Order::Lifo, Order::Priority] {
            let pool: &'static Pool = Box::leak(Box::new(
                Pool::builder().order(order).size(2).build().unwrap(),
            ));
            let a = pool.try_acquire_owned(0).unwrap();
            let b = pool.try_acquire_owned(0).unwrap();
            let items = futures::stream::iter((0..10u32).map(|i| async move { i }));
            let stream: std::pin::Pin<Box<dyn Stream<Item = Result<u32, Rejected>> + Send>> =
                Box::pin(items.pooled_unordered(pool));
            let slot: Arc<Mutex<Option<_>>> = Arc::new(Mutex::new(Some(stream)));
            let dropped = Arc::new(AtomicBool::new(false));
            let waker = {
                let (slot, dropped) = (slot.clone(), dropped.clone());
                waker_running(move || {
                    let stream = slot.lock().unwrap().take();
                    drop(stream);
                    dropped.store(true, SeqCst);
                })
            };
            {
                let mut guard = slot.lock().unwrap();
                let stream = guard.as_mut().unwrap();
                let polled = stream.as_mut().poll_next(&mut Context::from_waker(&waker));
                assert!(polled.is_pending(), "{order:?}");
            }
            assert!(pool.stats().waiting >= 1, "{order:?}: {:?}", pool.stats());
            let released = thread::spawn(move || drop(a));
            let start = Instant::now();
            while !released.is_finished() {
                assert!(start.elapsed() < WATCHDOG, "{order:?}: the release hung");
                thread::sleep(Duration::from_millis(2));
            }
            released.join().unwrap();
            assert!(
                dropped.load(SeqCst),
                "{order:?}: the stream's waker was not woken"
            );
            let stats = pool.stats();
            assert_eq!(
                (stats.running, stats.waiting),
                (1, 0),
                "{order:?}: {stats:?}"
            );
            assert!(
                pool.try_acquire().is_ok(),
                "{order:?}: the freed slot is lost"
            );
            drop(b);
            let stats = pool.stats();
            assert_eq!(
                (stats.running, stats.waiting),
                (0, 0),
                "{order:?}: {stats:?}"
            );
            assert_accounted(&stats);
        }
    }
}

// ---- a call polled again after its waker's clone panicked ----------------------

/// Promise (README, "Accounting" and "Faults lose nothing"): every term of
/// `submitted == completed + rejected + cancelled + running + nested +
/// waiting` is counted on its own, "a call is submitted when it is first
/// polled", and "a waker whose `clone` panics is cloned before any state
/// changes". Attack: a `submit` on a full pool first polled with a waker
/// whose `clone` panics (caught by the caller, as `catch_unwind` users and
/// executors that survive task panics do), then polled again with a good
/// waker: it queues, runs once the slot frees, and completes. Once quiet,
/// the identity must hold. Observed: the call is counted as submitted at
/// each of the two first polls and completed once, so `submitted` stays
/// one above everything else for good (and between the polls the call is
/// in no term at all). Every order, and a group's call.
#[test]
fn a_call_polled_again_after_its_wakers_clone_panicked_is_counted_once() {
    use std::task::Poll;
    static ARMED: AtomicBool = AtomicBool::new(false);
    quiet_planned_panics();
    let bad = common::waker_whose_clone_panics_once(&ARMED);
    let mut failures = Vec::new();
    for order in [Order::Fifo, Order::Lifo, Order::Priority] {
        let pool = Pool::builder().order(order).size(1).build().unwrap();
        let holder = pool.try_acquire_owned(0).unwrap();
        let mut call = Box::pin(pool.submit_weighted(3, async { 4 }));
        ARMED.store(true, SeqCst);
        let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            call.as_mut().poll(&mut Context::from_waker(&bad))
        }));
        assert!(
            first.is_err(),
            "{order:?}: the clone's panic reaches the poller"
        );
        let between = pool.stats();
        assert!(call
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending());
        assert_eq!(pool.stats().waiting, 1, "{order:?}");
        drop(holder);
        assert_eq!(
            call.as_mut().poll(&mut Context::from_waker(Waker::noop())),
            Poll::Ready(Ok(4))
        );
        let stats = pool.stats();
        assert_eq!(
            (stats.running, stats.waiting),
            (0, 0),
            "{order:?}: {stats:?}"
        );
        let ended = stats.completed + stats.cancelled + stats.rejected_total();
        if stats.submitted() != ended {
            failures.push(format!(
                "{order:?}: two calls (the holder, the submit), submitted {} but {} ended; \
                 between the polls: {between:?}",
                stats.submitted(),
                ended
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---- a waker whose n-th clone panics, on every first-poll path -----------------

/// A waker whose `clone` panics at the `n`-th clone counted in `clones`
/// (1-based; 0: never); waking signals `woken`.
fn nth_clone_panics(state: &'static NthClone) -> Waker {
    use std::task::{RawWaker, RawWakerVTable};
    fn vtable() -> &'static RawWakerVTable {
        &RawWakerVTable::new(clone, wake, wake, noop)
    }
    unsafe fn clone(data: *const ()) -> RawWaker {
        let state = unsafe { &*(data as *const NthClone) };
        let n = state.clones.fetch_add(1, SeqCst) + 1;
        if n == state.panic_at.load(SeqCst) {
            panic!("planned: clone number {n}");
        }
        RawWaker::new(data, vtable())
    }
    unsafe fn wake(data: *const ()) {
        let state = unsafe { &*(data as *const NthClone) };
        state.woken.store(true, SeqCst);
    }
    unsafe fn noop(_: *const ()) {}
    unsafe {
        Waker::from_raw(RawWaker::new(
            state as *const NthClone as *const (),
            vtable(),
        ))
    }
}

#[derive(Default)]
struct NthClone {
    clones: AtomicUsize,
    panic_at: AtomicUsize,
    woken: AtomicBool,
}

/// Promise (README, "Faults lose nothing", "Accounting", "Timeouts"): a
/// waker whose `clone` panics loses nothing; a call that waits past its
/// admission timeout is turned away `TimedOut`. Attack: a call on a full
/// pool whose first poll meets a waker that panics at its 1st, 2nd or 3rd
/// clone (the queue's, the admission deadline's, ...), caught, then the
/// call is polled on with a waker that works (the same waker, disarmed): it
/// must still time out (with a timeout) or run once freed (without), be
/// woken for it, and be counted once. Nested and unnested, every order.
/// The case of the first clone is the ignored test above; it is left out
/// here.
#[test]
fn a_waker_whose_nth_clone_panics_at_a_first_poll_still_times_out_or_runs() {
    quiet_planned_panics();
    let mut failures = Vec::new();
    for order in [Order::Fifo, Order::Lifo, Order::Priority] {
        for timeout in [None, Some(Duration::from_millis(300))] {
            for panic_at in 1..=4usize {
                if panic_at == 1 {
                    continue; // the ignored test above
                }
                for release in [false, true] {
                    if timeout.is_none() && !release {
                        continue;
                    }
                    let state: &'static NthClone = Box::leak(Box::default());
                    state.panic_at.store(panic_at, SeqCst);
                    let mut builder = Pool::builder().order(order).size(1);
                    if let Some(t) = timeout {
                        builder = builder.admission_timeout(t);
                    }
                    let pool = builder.build().unwrap();
                    let mut holder = Some(pool.try_acquire_owned(0).unwrap());
                    let mut call = Box::pin(pool.submit_weighted(1, async { 9 }));
                    let waker = nth_clone_panics(state);
                    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        call.as_mut().poll(&mut Context::from_waker(&waker))
                    }));
                    let panicked = first.is_err();
                    state.panic_at.store(0, SeqCst);
                    let case = format!(
                        "{order:?} timeout {timeout:?} clone #{panic_at} (panicked: {panicked}) release {release}"
                    );
                    let start = Instant::now();
                    let out = loop {
                        match call.as_mut().poll(&mut Context::from_waker(&waker)) {
                            std::task::Poll::Ready(out) => break Some(out),
                            std::task::Poll::Pending => {}
                        }
                        if release {
                            state.woken.store(false, SeqCst);
                            pool.resize(1);
                            drop(pool.try_acquire()); // a no-op while full
                            break None;
                        }
                        if start.elapsed() > Duration::from_secs(10) {
                            break None;
                        }
                        thread::sleep(Duration::from_millis(5));
                    };
                    let out = match (out, release) {
                        (Some(out), _) => Some(out),
                        (None, true) => {
                            drop(holder.take());
                            let woke = wait_woken(state);
                            let out = call.as_mut().poll(&mut Context::from_waker(&waker));
                            match out {
                                std::task::Poll::Ready(out) => {
                                    if !woke {
                                        failures.push(format!("{case}: ran, but was never woken"));
                                    }
                                    Some(out)
                                }
                                std::task::Poll::Pending => None,
                            }
                        }
                        (None, false) => None,
                    };
                    let expected = if release {
                        Ok(9)
                    } else {
                        Err(Rejected::TimedOut)
                    };
                    if out != Some(expected) {
                        failures.push(format!("{case}: ended {out:?}, expected {expected:?}"));
                    }
                    drop(call);
                    drop(holder);
                    let stats = pool.stats();
                    let ended = stats.completed + stats.cancelled + stats.rejected_total();
                    if stats.running + stats.waiting != 0 || stats.submitted() != ended {
                        failures.push(format!("{case}: not accounted: {stats:?}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Whether the waker was woken within a few seconds.
fn wait_woken(state: &NthClone) -> bool {
    let start = Instant::now();
    while !state.woken.load(SeqCst) {
        if start.elapsed() > Duration::from_secs(5) {
            return false;
        }
        thread::sleep(Duration::from_millis(2));
    }
    true
}

/// Promise (README, reentrancy rule, "Faults lose nothing"): only one
/// nested call at a time uses its parent's slot, the others wait for it;
/// a waker whose `clone` panics loses nothing. Attack: inside a sync call's
/// work on a pool of 1, nested call A borrows the parent's slot and stays
/// pending; nested call B, which must wait for the lend, meets a waker
/// whose 1st or 2nd clone panics at its first poll (caught), and is then
/// dropped, or polled on with a working waker. B must get the lend once A
/// ends (woken, run, counted once) or, dropped, leave nothing behind: A's
/// end must not hand the lend to a ghost, and a later nested call must
/// borrow it at once.
#[test]
fn a_nested_call_whose_wakers_clone_panics_while_waiting_for_the_lend() {
    use std::task::Poll;
    quiet_planned_panics();
    let mut failures = Vec::new();
    for panic_at in 1..=2usize {
        for repoll in [false, true] {
            if panic_at == 1 && repoll {
                continue; // counted twice: the ignored test above
            }
            let case = format!("clone #{panic_at}, repolled {repoll}");
            let pool = Pool::fixed(1);
            let state: &'static NthClone = Box::leak(Box::default());
            let out = within(WATCHDOG, {
                let pool = pool.clone();
                move || {
                    pool.run(|| {
                        let (gate, open) = common::gate();
                        let mut a = Box::pin(pool.submit(gate));
                        let noop = &mut Context::from_waker(Waker::noop());
                        assert!(a.as_mut().poll(noop).is_pending(), "A borrows the lend");
                        let mut b = Box::pin(pool.submit(async { 2 }));
                        state.panic_at.store(panic_at, SeqCst);
                        let waker = nth_clone_panics(state);
                        let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            b.as_mut().poll(&mut Context::from_waker(&waker))
                        }));
                        state.panic_at.store(0, SeqCst);
                        let panicked = first.is_err();
                        let b_out = if repoll {
                            let pending = b.as_mut().poll(&mut Context::from_waker(&waker));
                            assert!(pending.is_pending(), "B waits for the lend: {pending:?}");
                            state.woken.store(false, SeqCst);
                            open.store(true, SeqCst);
                            assert_eq!(a.as_mut().poll(noop), Poll::Ready(Ok(())));
                            let woken = state.woken.load(SeqCst);
                            let out = b.as_mut().poll(&mut Context::from_waker(&waker));
                            Some((woken, out))
                        } else {
                            drop(b);
                            open.store(true, SeqCst);
                            assert_eq!(a.as_mut().poll(noop), Poll::Ready(Ok(())));
                            None
                        };
                        // The lend is free again: a later nested call borrows it.
                        let mut c = Box::pin(pool.submit(async { 3 }));
                        let c_out = c.as_mut().poll(noop);
                        (panicked, b_out, c_out)
                    })
                }
            });
            match out {
                Ok((panicked, b_out, c_out)) => {
                    // (A nested wait clones the waker once: the 2nd never panics.)
                    if !panicked && panic_at == 1 {
                        failures.push(format!("{case}: the clone never panicked"));
                    }
                    if let Some((woken, b_out)) = b_out {
                        if b_out != Poll::Ready(Ok(2)) || !woken {
                            failures
                                .push(format!("{case}: B after A ended: {b_out:?}, woken {woken}"));
                        }
                    }
                    if c_out != Poll::Ready(Ok(3)) {
                        failures.push(format!("{case}: a later nested call: {c_out:?}"));
                    }
                }
                Err(e) => failures.push(format!("{case}: the parent call: {e:?}")),
            }
            let stats = pool.stats();
            let ended = stats.completed + stats.cancelled + stats.rejected_total();
            if stats.running + stats.waiting + stats.nested != 0 || stats.submitted() != ended {
                failures.push(format!("{case}: not accounted: {stats:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---- Fleet::acquire_blocking among threads, async acquires dropped mid-way ------

#[cfg(feature = "redis")]
mod fleet_blocking {
    use super::redis_server::*;
    use super::*;
    use pool_runtime::fleet::{Fleet, OnUnreachable};
    use pool_runtime::GroupSettings;
    use std::collections::HashSet;

    /// Promise (`pooled::fleet`, `Fleet::acquire_blocking`, `Fleet::acquire`'s
    /// cancel safety, `Fleet::flush`): no more than the fleet limit hold a
    /// lease at once; leases carry fencing tokens; dropping an acquire leaves
    /// the queue and releases a lease granted just before; nothing is lost.
    /// Attack: three clients of one fleet (limit 2, as three processes),
    /// six threads taking leases with `acquire_blocking` (each lease dropped
    /// on another thread half the time) while a runtime's tasks start
    /// `acquire`s and drop them after 0 to 3 polls, or await them and
    /// `release` them on another runtime. Holders are counted from outside:
    /// never more than 2. Every token is distinct; once flushed, each
    /// client's stats balance (nothing held or waiting, acquired = released,
    /// nothing lost) and Redis keeps no key of the fleet.
    #[test]
    fn blocking_and_dropped_async_acquires_keep_the_fleet_limit_and_lose_nothing() {
        let server = RedisServer::start();
        let settings = GroupSettings::DEFAULT
            .fleet_limit(2)
            .fleet_url(leak(server.url()))
            .fleet_lease(Duration::from_secs(2))
            .fleet_unreachable(OnUnreachable::Reject)
            .fleet;
        let clients: Vec<Fleet> = (0..3)
            .map(|_| Fleet::connect("adv22_blocking", &settings).unwrap())
            .collect();
        let meter = Meter::default();
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let (to_dropper, dropper_rx) = mpsc::channel::<pool_runtime::fleet::Lease>();
        let dropper = thread::spawn(move || {
            for lease in dropper_rx {
                drop(lease);
            }
        });
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let fleet = clients[t % 3].clone();
                let (meter, tokens, to_dropper) =
                    (meter.clone(), tokens.clone(), to_dropper.clone());
                thread::spawn(move || {
                    for i in 0..8 {
                        let lease = fleet.acquire_blocking().expect("Redis is up");
                        {
                            let _inside = meter.enter();
                            tokens.lock().unwrap().push(lease.token());
                            thread::sleep(Duration::from_millis(3));
                        }
                        if (t + i) % 2 == 0 {
                            to_dropper.send(lease).unwrap();
                        } else {
                            drop(lease);
                        }
                    }
                })
            })
            .collect();
        drop(to_dropper);
        let other = common::runtime();
        let rt = common::runtime();
        rt.block_on(async {
            let mut tasks = Vec::new();
            for n in 0..24usize {
                let fleet = clients[n % 3].clone();
                let (meter, tokens) = (meter.clone(), tokens.clone());
                let other = other.handle().clone();
                tasks.push(tokio::spawn(async move {
                    let mut acquire = Box::pin(fleet.acquire());
                    let polls = n % 5;
                    if polls < 4 {
                        for _ in 0..polls {
                            if futures::poll!(acquire.as_mut()).is_ready() {
                                break; // (a lease got is released as it drops)
                            }
                            tokio::task::yield_now().await;
                        }
                        drop(acquire); // a lease granted meanwhile is released
                    } else {
                        let lease = tokio::time::timeout(WATCHDOG, acquire)
                            .await
                            .expect("a lease within the watchdog")
                            .expect("Redis is up");
                        {
                            let _inside = meter.enter();
                            tokens.lock().unwrap().push(lease.token());
                            tokio::time::sleep(Duration::from_millis(3)).await;
                        }
                        other
                            .spawn(async move { lease.release().await })
                            .await
                            .unwrap();
                    }
                }));
            }
            for task in tasks {
                tokio::time::timeout(WATCHDOG, task)
                    .await
                    .expect("an async acquirer hung")
                    .unwrap();
            }
        });
        for t in threads {
            let start = Instant::now();
            while !t.is_finished() {
                assert!(start.elapsed() < WATCHDOG * 2, "a blocking acquirer hung");
                thread::sleep(Duration::from_millis(5));
            }
            t.join().unwrap();
        }
        dropper.join().unwrap();
        rt.block_on(async {
            for fleet in &clients {
                tokio::time::timeout(WATCHDOG, fleet.flush())
                    .await
                    .expect("flush hung");
            }
        });
        assert!(
            meter.max() <= 2,
            "{} holders at once, fleet limit 2",
            meter.max()
        );
        let tokens = tokens.lock().unwrap();
        let distinct: HashSet<_> = tokens.iter().collect();
        assert_eq!(
            distinct.len(),
            tokens.len(),
            "a fencing token given twice: {tokens:?}"
        );
        assert!(
            tokens.iter().all(Option::is_some),
            "a lease without a token: {tokens:?}"
        );
        for fleet in &clients {
            let stats = fleet.stats();
            assert_eq!(
                (stats.held, stats.waiting, stats.lost),
                (0, 0, 0),
                "{stats:?}"
            );
            assert_eq!(stats.acquired, stats.released, "{stats:?}");
        }
        assert_no_fleet_keys(&server, "adv22_blocking");
    }
}

// ---- shutdown from inside one of the pool's own calls ----------------------------

/// Promise (README, "Shutdown"): `shutdown(Some(timeout))` "returns by its
/// deadline whatever the calls do: past it, waiting calls are turned away
/// and `ShutdownTimedOut` says how many calls still run". Attack: the
/// shutdown is awaited (with `futures::executor::block_on`) inside the work
/// of one of the pool's own calls (sync, async and blocking ones; the pool
/// cannot drain while its caller runs), with sync callers parked in the
/// queue and an async call queued. It must return by its deadline with an
/// error naming the running call and the turned-away waiters, who get
/// `Closed`; the caller's call then completes, and the pool drains.
#[test]
fn shutdown_awaited_inside_one_of_the_pools_own_calls_returns_by_its_deadline() {
    for form in ["run", "submit", "blocking"] {
        let pool = Pool::fixed(1);
        let (entered_tx, entered) = mpsc::channel();
        let (go_tx, go) = mpsc::channel::<()>();
        let shut = {
            let pool = pool.clone();
            let body = move |pool: &Pool| {
                entered_tx.send(()).unwrap();
                go.recv().unwrap();
                futures::executor::block_on(pool.shutdown(Some(Duration::from_millis(200))))
            };
            thread::spawn(move || match form {
                "run" => pool.run(|| body(&pool)),
                // (futures' `block_on` refuses to nest: the outer one is tokio's.)
                "submit" => tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap()
                    .block_on(pool.submit(async { body(&pool) })),
                _ => {
                    let inner = pool.clone();
                    let rt = common::runtime();
                    rt.block_on(pool.submit_blocking(move || body(&inner)))
                }
            })
        };
        entered.recv_timeout(WATCHDOG).expect("the call started");
        let parked: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                thread::spawn(move || pool.run(|| ()))
            })
            .collect();
        let queued = {
            let pool = pool.clone();
            thread::spawn(move || futures::executor::block_on(pool.submit(async {})))
        };
        wait_until("three waiters", || pool.stats().waiting == 3);
        go_tx.send(()).unwrap();
        let start = Instant::now();
        while !shut.is_finished() {
            assert!(
                start.elapsed() < WATCHDOG,
                "{form}: the shutdown never returned"
            );
            thread::sleep(Duration::from_millis(5));
        }
        let out = shut.join().unwrap();
        match out {
            Ok(Err(timed_out)) => {
                assert_eq!(timed_out.running, 1, "{form}: {timed_out:?}");
                assert_eq!(timed_out.turned_away, 3, "{form}: {timed_out:?}");
                assert_eq!(timed_out.waiting, 0, "{form}: {timed_out:?}");
            }
            other => panic!("{form}: {other:?}"),
        }
        for p in parked {
            assert_eq!(p.join().unwrap(), Err(Rejected::Closed), "{form}");
        }
        assert_eq!(queued.join().unwrap(), Err(Rejected::Closed), "{form}");
        within(WATCHDOG, {
            let pool = pool.clone();
            move || futures::executor::block_on(pool.drained())
        });
        let stats = pool.stats();
        assert_eq!(
            (stats.running, stats.waiting, stats.completed),
            (0, 0, 1),
            "{form}: {stats:?}"
        );
        assert_accounted(&stats);
    }
}

// ---- permits carried across runtimes while the pool is steered ----------------

/// Promise (README, permits, "Limits", "Cancellation", "Accounting"):
/// owned permits are `'static` slots that may be dropped anywhere; at every
/// admission `running <= limit`; dropped waiting calls leave the queue;
/// nothing is lost. Attack: an autoscaled priority pool (1..=3) whose owned
/// permits are taken by tasks of runtime A and dropped by tasks of runtime
/// B (after a few yields) or by a plain thread; acquires on a third runtime
/// time out, are dropped after 0 to 3 polls, or are taken by sync callers
/// through `run`; meanwhile the pool is paused, resumed, resized and
/// re-bounded from another thread; runtime A is shut down with acquires of
/// its own still waiting. Slot holders are counted from outside: never more
/// than the largest bound (3). Once everything has stopped, nothing runs or
/// waits, the identity holds and `drained()` resolves after a close.
#[test]
fn owned_permits_carried_across_runtimes_while_the_pool_is_steered_keep_the_limit() {
    use pool_runtime::OwnedPermit;
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .order(Order::Priority)
        .min(1)
        .max(3)
        .admission_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let meter = Meter::default();
    let rt_a = common::runtime();
    let rt_b = common::runtime();
    let rt_c = common::runtime();
    let (carry, carried) = tokio::sync::mpsc::unbounded_channel::<(OwnedPermit, common::Inside)>();
    let carried = Arc::new(tokio::sync::Mutex::new(carried));
    let (to_thread, thread_rx) = mpsc::channel::<(OwnedPermit, common::Inside)>();
    let dropper = thread::spawn(move || {
        for (permit, inside) in thread_rx {
            thread::sleep(Duration::from_micros(300));
            drop(inside);
            drop(permit);
        }
    });
    // B: drops what A carries over.
    let b_tasks: Vec<_> = (0..2)
        .map(|_| {
            let carried = carried.clone();
            rt_b.spawn(async move {
                loop {
                    let next = carried.lock().await.recv().await;
                    let Some((permit, inside)) = next else { break };
                    for _ in 0..3 {
                        tokio::task::yield_now().await;
                    }
                    drop(inside);
                    drop(permit);
                }
            })
        })
        .collect();
    // A: takes permits and hands them on.
    for n in 0..60i64 {
        let (pool, meter, carry, to_thread) = (
            pool.clone(),
            meter.clone(),
            carry.clone(),
            to_thread.clone(),
        );
        rt_a.spawn(async move {
            if let Ok(permit) = pool.acquire_owned(n % 4 - 2).await {
                let inside = meter.enter();
                if n % 3 == 0 {
                    let _ = to_thread.send((permit, inside));
                } else {
                    let _ = carry.send((permit, inside));
                }
            }
        });
    }
    drop((carry, to_thread));
    // The steering thread.
    let stop = Arc::new(AtomicBool::new(false));
    let steering = {
        let (pool, stop) = (pool.clone(), stop.clone());
        thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(SeqCst) {
                match i % 6 {
                    0 => pool.pause(),
                    1 => pool.resume(),
                    2 => drop(pool.resize(3)),
                    3 => drop(pool.set_bounds(1, 2)),
                    4 => drop(pool.set_bounds(1, 3)),
                    _ => drop(pool.scale(-1)),
                }
                i += 1;
                thread::sleep(Duration::from_millis(1));
            }
            pool.resume();
        })
    };
    // C: acquires dropped after 0..3 polls, or awaited; sync callers.
    let c_done = rt_c.block_on({
        let (pool, meter) = (pool.clone(), meter.clone());
        async move {
            let mut tasks = Vec::new();
            for n in 0..40usize {
                let (pool2, meter2) = (pool.clone(), meter.clone());
                tasks.push(tokio::spawn(async move {
                    let (pool, meter) = (pool2, meter2);
                    let mut acquire = Box::pin(pool.acquire_owned(n as i64 % 3));
                    let polls = n % 5;
                    if polls < 4 {
                        for _ in 0..polls {
                            if futures::poll!(acquire.as_mut()).is_ready() {
                                break; // (a permit got is dropped at once)
                            }
                            tokio::task::yield_now().await;
                        }
                    } else if let Ok(permit) = acquire.await {
                        let _inside = meter.enter();
                        tokio::task::yield_now().await;
                        drop(permit);
                    }
                }));
                if n % 4 == 0 {
                    let (pool, meter) = (pool.clone(), meter.clone());
                    tasks.push(tokio::task::spawn_blocking(move || {
                        let _ = pool.run(|| {
                            let _inside = meter.enter();
                            thread::sleep(Duration::from_micros(200));
                        });
                    }));
                }
            }
            let mut done = 0;
            for task in tasks {
                tokio::time::timeout(WATCHDOG, task)
                    .await
                    .expect("a caller on runtime C hung")
                    .unwrap();
                done += 1;
            }
            done
        }
    });
    assert!(c_done >= 40);
    // A goes away with whatever it still waits for.
    thread::sleep(Duration::from_millis(50));
    rt_a.shutdown_timeout(Duration::from_secs(5));
    stop.store(true, SeqCst);
    steering.join().unwrap();
    for task in b_tasks {
        rt_b.block_on(async {
            tokio::time::timeout(WATCHDOG, task)
                .await
                .expect("a dropper on runtime B hung")
                .unwrap()
        });
    }
    dropper.join().unwrap();
    assert!(
        meter.max() <= 3,
        "{} slot holders at once, max 3",
        meter.max()
    );
    assert_eq!(meter.now(), 0);
    wait_until("nothing running or waiting", || {
        let s = pool.stats();
        s.running + s.waiting + s.nested == 0
    });
    let stats = pool.stats();
    assert_accounted(&stats);
    pool.close();
    within(WATCHDOG, {
        let pool = pool.clone();
        move || futures::executor::block_on(pool.drained())
    });
}

// ---- a stream polled with a waker whose clone panics ------------------------------

/// Promise (stream adapters; "Faults lose nothing"): a stream of futures
/// run through a pool yields every item's outcome; a waker whose `clone`
/// panics loses nothing. Attack: an unordered and an ordered stream of
/// five items over a full pool of 1, first polled with a waker whose 1st
/// (or 2nd) clone panics (caught by the caller), then polled on with
/// working wakers after the slot frees. Every item must come out exactly
/// once (no item lost, none run twice, counted from outside), the stream
/// must end, and the pool must end with nothing running or waiting.
#[cfg(feature = "stream")]
#[test]
fn a_stream_first_polled_with_a_waker_whose_clone_panics_yields_every_item_once() {
    use futures::{Stream, StreamExt};
    use pool_runtime::PooledStreamExt;
    quiet_planned_panics();
    let mut failures = Vec::new();
    for ordered in [false, true] {
        for panic_at in 1..=2usize {
            let case = format!("ordered {ordered}, clone #{panic_at}");
            let pool: &'static Pool = Box::leak(Box::new(Pool::fixed(1)));
            let runs = Arc::new(AtomicUsize::new(0));
            let items = {
                let runs = runs.clone();
                futures::stream::iter((0..5u32).map(move |i| {
                    let runs = runs.clone();
                    async move {
                        runs.fetch_add(1, SeqCst);
                        i
                    }
                }))
            };
            let holder = pool.try_acquire_owned(0).unwrap();
            let mut stream: std::pin::Pin<Box<dyn Stream<Item = Result<u32, Rejected>> + Send>> =
                if ordered {
                    Box::pin(items.pooled_ordered(pool))
                } else {
                    Box::pin(items.pooled_unordered(pool))
                };
            let state: &'static NthClone = Box::leak(Box::default());
            state.panic_at.store(panic_at, SeqCst);
            let waker = nth_clone_panics(state);
            let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                stream.as_mut().poll_next(&mut Context::from_waker(&waker))
            }));
            state.panic_at.store(0, SeqCst);
            if panic_at == 1 && first.is_ok() {
                failures.push(format!("{case}: the first clone did not panic"));
            }
            let mut got = Vec::new();
            if let Ok(std::task::Poll::Ready(Some(item))) = first {
                got.push(item);
            }
            drop(holder);
            let rest = within(WATCHDOG, move || {
                let mut rest = Vec::new();
                let mut stream = stream;
                futures::executor::block_on(async {
                    while let Some(item) = stream.next().await {
                        rest.push(item);
                    }
                });
                rest
            });
            got.extend(rest);
            let mut oks: Vec<u32> = got.iter().filter_map(|r| r.ok()).collect();
            oks.sort_unstable();
            if oks != vec![0, 1, 2, 3, 4] || runs.load(SeqCst) != 5 {
                failures.push(format!(
                    "{case}: yielded {got:?}, bodies run {}",
                    runs.load(SeqCst)
                ));
            }
            let stats = pool.stats();
            let ended = stats.completed + stats.cancelled + stats.rejected_total();
            if stats.running + stats.waiting != 0 || stats.submitted() != ended {
                failures.push(format!("{case}: not accounted: {stats:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Promise (`PooledService`: "The wait belongs to the service ... the
/// next `poll_ready` goes on with that wait"; README "Faults lose
/// nothing": "A waker whose `clone` panics is cloned before any state
/// changes"). Attack: a service of a full pool of 1 whose `poll_ready`
/// meets a waker whose `clone` panics (caught by the caller), at its first
/// `poll_ready` (the queue's clone) or at a later one (the waker replaced
/// while it waits); `poll_ready` is then called again with a working
/// waker, the slot frees, and a request is made. It must be served once,
/// and the pool end with nothing running or waiting. Observed: the
/// service keeps the boxed `async` acquire that unwound, and every later
/// `poll_ready` panics inside the library with "`async fn` resumed after
/// panicking" (`integrations/tower.rs`): the service is unusable for good.
#[cfg(feature = "tower")]
#[test]
fn a_services_poll_ready_with_a_waker_whose_clone_panics_then_ready_again() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use tower::{service_fn, Layer, Service};
    quiet_planned_panics();
    let mut failures = Vec::new();
    for at_first_poll in [true, false] {
        let case = if at_first_poll {
            "at the first poll_ready"
        } else {
            "at a later poll_ready"
        };
        let pool = Pool::fixed(1);
        let served = Arc::new(AtomicUsize::new(0));
        let mut service = PooledLayer::pool(pool.clone()).layer(service_fn({
            let served = served.clone();
            move |n: u32| {
                served.fetch_add(1, SeqCst);
                async move { Ok::<_, BoxError>(n) }
            }
        }));
        let holder = pool.try_acquire_owned(0).unwrap();
        let state: &'static NthClone = Box::leak(Box::default());
        let waker = nth_clone_panics(state);
        if !at_first_poll {
            let first = service.poll_ready(&mut Context::from_waker(&waker));
            assert!(first.is_pending(), "{case}: waits for the held slot");
        }
        // The next clone panics: a waker of another task (not `will_wake`
        // equal), so that a later poll replaces the stored one.
        let other: &'static NthClone = Box::leak(Box::default());
        other.panic_at.store(1, SeqCst);
        let bad = nth_clone_panics(other);
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            service.poll_ready(&mut Context::from_waker(&bad))
        }))
        .is_err();
        if !panicked {
            failures.push(format!("{case}: the clone did not panic"));
        }
        let rest = catch_unwind(AssertUnwindSafe(|| {
            let again = service.poll_ready(&mut Context::from_waker(&waker));
            drop(holder);
            let ready = if again.is_pending() {
                wait_woken(state);
                service.poll_ready(&mut Context::from_waker(&waker))
            } else {
                again
            };
            match ready {
                std::task::Poll::Ready(Ok(())) => {
                    futures::executor::block_on(service.call(7)).map_err(|e| e.to_string())
                }
                other => Err(format!("not ready once freed: {other:?}")),
            }
        }));
        match rest {
            Ok(Ok(7)) if served.load(SeqCst) == 1 => {}
            Ok(out) => failures.push(format!("{case}: {out:?}, served {}", served.load(SeqCst))),
            Err(payload) => failures.push(format!(
                "{case}: poll_ready panicked again: {:?}",
                payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
            )),
        }
        let stats = pool.stats();
        if stats.running + stats.waiting != 0 {
            failures.push(format!("{case}: left behind: {stats:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---- a group call under the ceiling, polled with a waker whose clone panics -----

#[cfg(feature = "config")]
mod ceiling_clone {
    use super::*;
    use pool_runtime::{register_group, Group, GroupSpec};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::task::Poll;

    static CEILINGED: Group = Group::new(GroupSpec::new("adv22::ceilinged").size(2));
    register_group!(CEILINGED);

    /// Promise (README, "Faults lose nothing": "A waker whose `clone` panics
    /// is cloned before any state changes"; the ceiling: a call waiting for a
    /// ceiling slot is counted by the ceiling). Attack: a group call that
    /// waits for the application-wide ceiling (1, held by a permit of the
    /// group) polled with a waker whose `clone` panics — at its first poll,
    /// or at a later poll with a waker of another task — caught by the
    /// caller, then polled on with a working waker. When the ceiling slot
    /// frees, the call must be woken, run and return its output; the group
    /// and the ceiling end with nothing running or waiting; the ceiling's
    /// identity holds when the panic hit a later poll.
    #[test]
    fn a_group_call_waiting_for_the_ceiling_survives_a_panicking_waker_clone() {
        let _turn = common::config_turn();
        quiet_planned_panics();
        pool_runtime::config::load_str("adv22-ceiling.toml", "ceiling = 1\n").unwrap();
        let mut failures = Vec::new();
        for at_first_poll in [true, false] {
            let case = if at_first_poll {
                "first poll"
            } else {
                "later poll"
            };
            let before = pool_runtime::ceiling::stats().unwrap();
            let holder = CEILINGED.try_acquire_owned(0).unwrap();
            let mut call = Box::pin(CEILINGED.submit(0, async { 5 }));
            let good: &'static NthClone = Box::leak(Box::default());
            let waker = nth_clone_panics(good);
            if !at_first_poll {
                assert!(call
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending());
            }
            let bad: &'static NthClone = Box::leak(Box::default());
            bad.panic_at.store(1, SeqCst);
            let bad_waker = nth_clone_panics(bad);
            let panicked = catch_unwind(AssertUnwindSafe(|| {
                call.as_mut().poll(&mut Context::from_waker(&bad_waker))
            }))
            .is_err();
            let rest = catch_unwind(AssertUnwindSafe(|| {
                let again = call.as_mut().poll(&mut Context::from_waker(&waker));
                good.woken.store(false, SeqCst);
                drop(holder);
                if again.is_ready() {
                    return Err(format!("admitted above the ceiling: {again:?}"));
                }
                let woken = wait_woken(good);
                match call.as_mut().poll(&mut Context::from_waker(&waker)) {
                    Poll::Ready(Ok(5)) if woken => Ok(()),
                    other => Err(format!("after the release: {other:?}, woken {woken}")),
                }
            }));
            drop(call);
            match rest {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(format!("{case} (panicked {panicked}): {e}")),
                Err(_) => failures.push(format!(
                    "{case} (panicked {panicked}): a later poll panicked"
                )),
            }
            let ceiling = pool_runtime::ceiling::stats().unwrap();
            let group = CEILINGED.stats();
            if ceiling.running + ceiling.waiting + group.running + group.waiting != 0 {
                failures.push(format!(
                    "{case}: left behind: ceiling {ceiling:?}, group {group:?}"
                ));
            }
            // (At the first poll, the double count of the ignored test above.)
            if !at_first_poll {
                let ended =
                    |s: &pool_runtime::Stats| s.completed + s.cancelled + s.rejected_total();
                if ceiling.submitted() - before.submitted() != ended(&ceiling) - ended(&before) {
                    failures.push(format!(
                        "{case}: the ceiling's identity: {before:?} -> {ceiling:?}"
                    ));
                }
            }
        }
        pool_runtime::config::clear();
        assert!(failures.is_empty(), "{failures:#?}");
    }
}

// ---- a held body whose is_end_stream panics after a frame ------------------------

#[cfg(feature = "tower")]
mod body_end_panics {
    use super::*;
    use http_body::{Body, Frame};
    use pool_runtime::tower::PermitBody;
    use std::pin::Pin;
    use std::task::Poll;

    /// Frames; `is_end_stream` panics at its `panic_at`-th call (on this
    /// thread).
    struct Frames {
        left: Vec<&'static str>,
        panic_at: usize,
    }

    impl Body for Frames {
        type Data = &'static [u8];
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
            if self.left.is_empty() {
                Poll::Ready(None)
            } else {
                let text = self.left.remove(0);
                Poll::Ready(Some(Ok(Frame::data(text.as_bytes()))))
            }
        }
        fn is_end_stream(&self) -> bool {
            // (`&self`: counted through a cell.)
            let asked = ASKED.with(|a| {
                a.set(a.get() + 1);
                a.get()
            });
            if asked == self.panic_at {
                panic!("planned: is_end_stream");
            }
            self.left.is_empty()
        }
    }

    thread_local! {
        static ASKED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Promise (`PermitBody`: holds its slot "until it ends", released when
    /// dropped; "Faults lose nothing"). Attack: a held body whose
    /// `is_end_stream` panics right after its first frame (the adapter asks
    /// it whether that frame was the last), caught by the caller; the body
    /// is then either read on to its end or dropped. The slot must be
    /// released either way (a waiter then gets it), exactly once, and the
    /// pool end accounted.
    #[test]
    fn a_held_body_whose_end_check_panics_after_a_frame_frees_its_slot_once() {
        quiet_planned_panics();
        for read_on in [true, false] {
            ASKED.with(|a| a.set(0));
            let pool = Pool::fixed(1);
            let permit = pool.try_acquire_owned(0).unwrap();
            let mut body = Box::pin(PermitBody::new(
                Frames {
                    left: vec!["a", "b"],
                    panic_at: 2, // the 1st is `new`'s
                },
                permit,
            ));
            assert!(body.holds_slot());
            let mut waiter = Box::pin(pool.submit(async { 1 }));
            let state: &'static NthClone = Box::leak(Box::default());
            let waker = nth_clone_panics(state);
            assert!(waiter
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                body.as_mut()
                    .poll_frame(&mut Context::from_waker(Waker::noop()))
            }));
            assert!(first.is_err(), "the end check's panic reaches the reader");
            if read_on {
                loop {
                    match body
                        .as_mut()
                        .poll_frame(&mut Context::from_waker(Waker::noop()))
                    {
                        Poll::Ready(Some(Ok(_))) => {}
                        Poll::Ready(None) => break,
                        other => panic!("read_on: {:?}", other.map(|f| f.map(|r| r.is_ok()))),
                    }
                }
                assert!(!body.holds_slot(), "released at its end");
            }
            drop(body);
            assert!(
                state.woken.load(SeqCst),
                "read_on {read_on}: the waiter was not woken"
            );
            assert_eq!(
                waiter.as_mut().poll(&mut Context::from_waker(&waker)),
                Poll::Ready(Ok(1))
            );
            let stats = pool.stats();
            assert_eq!(
                (stats.running, stats.waiting),
                (0, 0),
                "read_on {read_on}: {stats:?}"
            );
            assert_eq!(stats.submitted(), 2, "read_on {read_on}: {stats:?}");
            assert_accounted(&stats);
        }
    }
}

// ---- a waker whose Drop makes a sync call that has to wait ---------------------

/// A waker whose `drop` (of whichever clone drops first once armed) makes
/// a sync call of `pool`, recording its outcome.
struct DropCalls {
    pool: Pool,
    armed: AtomicBool,
    calling: AtomicBool,
    outcome: Mutex<Option<Result<(), Rejected>>>,
}

fn waker_whose_drop_calls(state: &'static DropCalls) -> Waker {
    use std::task::{RawWaker, RawWakerVTable};
    fn vtable() -> &'static RawWakerVTable {
        &RawWakerVTable::new(clone, noop, noop, drop)
    }
    unsafe fn clone(data: *const ()) -> RawWaker {
        RawWaker::new(data, vtable())
    }
    unsafe fn noop(_: *const ()) {}
    unsafe fn drop(data: *const ()) {
        let state = unsafe { &*(data as *const DropCalls) };
        if state.armed.swap(false, SeqCst) {
            state.calling.store(true, SeqCst);
            let out = state.pool.run_weighted(-1, || ());
            *state.outcome.lock().unwrap() = Some(out);
        }
    }
    unsafe {
        Waker::from_raw(RawWaker::new(
            state as *const DropCalls as *const (),
            vtable(),
        ))
    }
}

/// Promise (README, lock order): "A pool's own lock is never held while a
/// waker ... runs"; a waker's `Drop` runs after the call leaving the queue
/// is counted. Attack: the library drops a waiting call's stored waker —
/// the call cancelled, the waker replaced by a later poll's, the call timed
/// out, an abandoned `drained()` wait — and that waker's `Drop` makes a
/// sync call of the same full pool, which must park until another thread
/// frees the slot 100 ms later. Nothing may deadlock (the drop must not run
/// under a lock the freeing thread needs), and the sync call must run.
#[test]
fn a_stored_wakers_drop_that_waits_for_a_slot_does_not_deadlock_the_pool() {
    for site in ["cancelled", "replaced", "timed out", "drained"] {
        // Priority: the waker's call (weight -1) goes ahead of the call it
        // is stored in (weight 10), which still waits in the "replaced" case
        // and is polled by the very thread the waker's call parks.
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        let state: &'static DropCalls = Box::leak(Box::new(DropCalls {
            pool: pool.clone(),
            armed: AtomicBool::new(false),
            calling: AtomicBool::new(false),
            outcome: Mutex::new(None),
        }));
        let holder = pool.try_acquire_owned(0).unwrap();
        let freer = {
            let pool = pool.clone();
            thread::spawn(move || {
                wait_until("the waker's sync call to wait", || {
                    state.calling.load(SeqCst)
                        && (state.outcome.lock().unwrap().is_some()
                            || pool.stats().waiting > usize::from(site == "replaced"))
                });
                thread::sleep(Duration::from_millis(100));
                drop(holder);
            })
        };
        within(WATCHDOG, {
            let pool = pool.clone();
            move || {
                let waker = waker_whose_drop_calls(state);
                match site {
                    "drained" => {
                        pool.close();
                        let mut drained = Box::pin(pool.drained());
                        assert!(drained
                            .as_mut()
                            .poll(&mut Context::from_waker(&waker))
                            .is_pending());
                        // The test's own waker goes first: the stored clone
                        // is the one left to drop, armed.
                        drop(waker);
                        state.armed.store(true, SeqCst);
                        drop(drained); // forgets its waker: the armed drop
                    }
                    _ => {
                        if site == "timed out" {
                            pool.set_admission_timeout(Some(Duration::from_millis(100)));
                        }
                        let mut call = Box::pin(pool.submit_weighted(10, async {}));
                        assert!(call
                            .as_mut()
                            .poll(&mut Context::from_waker(&waker))
                            .is_pending());
                        // (Only this call is timed: not the waker's.)
                        pool.set_admission_timeout(None);
                        drop(waker);
                        state.armed.store(true, SeqCst);
                        match site {
                            "cancelled" => drop(call),
                            "replaced" => {
                                let other = Waker::noop();
                                let _ = call.as_mut().poll(&mut Context::from_waker(other));
                                drop(call);
                            }
                            _ => {
                                // The timer fires (100 ms): woken or not, a
                                // poll after it turns the call away.
                                thread::sleep(Duration::from_millis(150));
                                let out =
                                    call.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                                assert!(
                                    matches!(out, std::task::Poll::Ready(Err(Rejected::TimedOut))),
                                    "{out:?}"
                                );
                            }
                        }
                    }
                }
            }
        });
        freer.join().unwrap();
        let outcome = *state.outcome.lock().unwrap();
        // The waker's sync call ran (or, on the closed pool, was turned away).
        let expected = if site == "drained" {
            Err(Rejected::Closed)
        } else {
            Ok(())
        };
        assert_eq!(outcome, Some(expected), "{site}: the waker's sync call");
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0), "{site}: {stats:?}");
        assert_accounted(&stats);
    }
}

// ---- metrics after a waker's clone panicked -------------------------------------

/// Promise (`observe`: the `pooled.calls` counters and the `running` /
/// `waiting` gauges follow the pool's `Stats`; "Faults lose nothing").
/// Attack: calls of full pools whose waker's `clone` panics — at the first
/// poll (then dropped), at a later poll that replaces the waker (then
/// dropped, or run once freed), at the admission deadline's clone (then
/// timed out) — each panic caught by the caller. Once quiet, each pool's
/// gauges are back at 0 and its counters equal its `Stats`.
#[cfg(feature = "metrics")]
#[test]
fn metrics_follow_the_stats_after_wakers_whose_clone_panics() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    quiet_planned_panics();
    let capture: &'static common::Capture = Box::leak(Box::default());
    let mut failures = Vec::new();
    for scenario in [
        "first poll, dropped",
        "later poll, dropped",
        "later poll, run",
        "deadline, timed out",
    ] {
        let name = format!("adv22::metrics::{scenario}");
        let pool = metrics::with_local_recorder(capture, || {
            Pool::builder()
                .name(name.clone())
                .size(1)
                .admission_timeout(Duration::from_millis(if scenario.starts_with("deadline") {
                    100
                } else {
                    60_000
                }))
                .build()
                .unwrap()
        });
        let holder = pool.try_acquire_owned(0).unwrap();
        let mut call = Box::pin(pool.submit(async { 1 }));
        let good: &'static NthClone = Box::leak(Box::default());
        let waker = nth_clone_panics(good);
        let bad: &'static NthClone = Box::leak(Box::default());
        let bad_waker = nth_clone_panics(bad);
        let outcome = catch_unwind(AssertUnwindSafe(|| match scenario {
            "first poll, dropped" => {
                bad.panic_at.store(1, SeqCst);
                let first = catch_unwind(AssertUnwindSafe(|| {
                    call.as_mut().poll(&mut Context::from_waker(&bad_waker))
                }));
                assert!(first.is_err());
                drop(call);
                drop(holder);
            }
            "deadline, timed out" => {
                good.panic_at.store(2, SeqCst);
                let first = catch_unwind(AssertUnwindSafe(|| {
                    call.as_mut().poll(&mut Context::from_waker(&waker))
                }));
                good.panic_at.store(0, SeqCst);
                let _ = first;
                let start = Instant::now();
                loop {
                    match call.as_mut().poll(&mut Context::from_waker(&waker)) {
                        std::task::Poll::Ready(out) => {
                            assert_eq!(out, Err(Rejected::TimedOut));
                            break;
                        }
                        std::task::Poll::Pending => {
                            assert!(start.elapsed() < WATCHDOG, "never timed out");
                            thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
                drop(call);
                drop(holder);
            }
            _ => {
                assert!(call
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending());
                bad.panic_at.store(1, SeqCst);
                let again = catch_unwind(AssertUnwindSafe(|| {
                    call.as_mut().poll(&mut Context::from_waker(&bad_waker))
                }));
                assert!(again.is_err());
                if scenario.ends_with("dropped") {
                    drop(call);
                    drop(holder);
                } else {
                    drop(holder);
                    assert_eq!(
                        call.as_mut().poll(&mut Context::from_waker(&waker)),
                        std::task::Poll::Ready(Ok(1))
                    );
                }
            }
        }));
        if outcome.is_err() {
            failures.push(format!("{scenario}: the scenario itself failed"));
            continue;
        }
        let s = pool.stats();
        let gauge = |g: &str| capture.gauge(g, &name).unwrap_or(f64::NAN);
        let found = (
            gauge("pooled.running"),
            gauge("pooled.waiting"),
            capture.calls(&name, "completed", None),
            capture.calls(&name, "cancelled", None),
            capture.calls(&name, "rejected", Some("timed_out")),
        );
        let expected = (
            0.0,
            0.0,
            s.completed - s.panicked,
            s.cancelled,
            s.rejected_for(Rejected::TimedOut),
        );
        if found != expected || s.running + s.waiting != 0 {
            failures.push(format!(
                "{scenario}: metrics {found:?}, stats say {expected:?}: {s:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
