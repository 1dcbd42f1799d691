//! Hostile tests, round 41: the session's new code. The timer's waking
//! threads (`Waking`: wakers that block, block forever, panic, re-enter
//! pools with timed waits of their own, wakers whose clone panics or whose
//! `Drop` blocks; lateness of every other deadline measured against its
//! deadline; waking threads counted in `/proc/self/task/*/comm` under
//! repeated bursts and after a second idle); a call's end reported after
//! its slot is released (a `metrics` recorder and a `tracing` subscriber
//! that export through the pool of one they observe, on every call path,
//! and that panic: counts exact, each end once); the sync room's
//! compare-and-swap under its lock (barging storms under `max_waiting`,
//! shutdown reports against what callers saw, on an autoscaled pool with a
//! slow clock); the per-layer config checks (valid configurations that
//! must load, invalid ones that must not); and a nested call's stamp in an
//! adaptive priority pool (its weight must still order it).
//!
//! Every scenario runs under a watchdog (`within`, or its own process for
//! the process-wide timer) and is counted from outside (meters, callers'
//! results, wake instants, thread names).
//!
//! Broken promise found (ignored test, confirmed failing with `--ignored`
//! in three runs: 41, 42, 48 threads):
//! * `repeated_bursts_of_slow_wakers_keep_waking_threads_few` — `Waking`
//!   (timer.rs) "a burst of deadlines firing at once is woken by the
//!   threads there are, not by a thread each"; commit 04d050f "a new
//!   waking thread only when the busy ones stall ..., not for every waker
//!   that finds none idle". Bursts of 150 deadlines whose wakers take 3 ms
//!   (slower than `STALL`, never blocked), back to back: the waking
//!   threads grow by one or two every burst (after each of 30 bursts:
//!   4, 7, 8, 9, 13, ..., 46, 47, 48), still climbing, towards a thread per
//!   waker of a burst. The idle threads a burst wakes all take a waker at
//!   once and finish together, so no progress is seen for 3 ms every round
//!   and `unstall` adds a thread though every busy thread is progressing.
//!   (They do end after a second idle: `idle_waking_threads_end_after_a_second`.)
//!
//! Checked and holding: deadlines woken within a few ms of their deadline
//! while two wakers block for good (600 deadlines over 20 pools); wakers
//! that wait on timed calls of their own, or make sync calls into pools
//! whose slot another deadline frees, across many pools; panicking wakers,
//! a clone that panics, wakers whose `Drop` blocks 50 ms (each call still
//! times out, counted once, later deadlines on time); a `metrics` recorder
//! exporting through its pool of one from `pooled.calls` and the run-time
//! histogram on every path (async, panic, dropped running and waiting
//! calls, sync, blocking, permit, nested, rejected): no hang, the limit
//! holds, the counters' sum is exactly the calls made; a recorder that
//! panics there loses no slot on any path; a `tracing` layer exporting on
//! span close: no hang, no span closed twice (see that test's note on a
//! tracing-subscriber limit, reproduced without any pool); barging storms
//! under `max_waiting` (never `Full` with room to spare, never more
//! waiting than the bound, sampled from outside), aborts and shutdown
//! reports during storms (books and `turned_away` against what callers
//! saw), pause/resume and scale to 0 under storms, all on a slow clock;
//! valid layered configurations loading (size with one bound, defaults
//! size beside defaults bounds, kind changes across defaults, table and
//! variables, `size = 0` on an autoscaled group with min 0) and invalid
//! values refused where a stronger layer replaces them; nested calls that
//! waited for a lend cutting once for a burst of refusals (ManualClock),
//! and ordering by weight in adaptive and fixed priority pools.
#![cfg(all(feature = "tokio", feature = "config"))]

mod common;

use common::{assert_accounted, config_turn, quiet_planned_panics, vars, within, Meter};
use pool_runtime::config;
use pool_runtime::{register_group, Clock, Group, GroupSpec, Kind, Pool, Rejected};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(30);

/// This process's threads whose name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .filter(|task| {
                    std::fs::read_to_string(task.path().join("comm"))
                        .is_ok_and(|name| name.starts_with(prefix))
                })
                .count()
        })
        .unwrap_or(0)
}

/// Records the instant of its first wake.
struct Stamp(Mutex<Option<Instant>>);

impl Wake for Stamp {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let mut at = self.0.lock().unwrap();
        if at.is_none() {
            *at = Some(Instant::now());
        }
    }
}

/// Blocks in its wake until `release` is set (bounded at 20 s).
struct Blocks {
    entered: AtomicBool,
    release: AtomicBool,
}

impl Wake for Blocks {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.entered.store(true, SeqCst);
        let t = Instant::now();
        while !self.release.load(SeqCst) && t.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Sleeps `0` in each wake, counts wakes.
struct Slow(Duration, AtomicUsize);

impl Wake for Slow {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        std::thread::sleep(self.0);
        self.1.fetch_add(1, SeqCst);
    }
}

fn timed_pool(ms: u64) -> Pool {
    Pool::builder()
        .size(1)
        .admission_timeout(Duration::from_millis(ms))
        .build()
        .unwrap()
}

type Call<'a> = std::pin::Pin<Box<dyn Future<Output = Result<(), Rejected>> + Send + 'a>>;

/// A call waiting in a full pool (its slot held by the returned permit),
/// polled once with `waker`.
fn waiting_call<'a>(pool: &'a Pool, waker: &Waker) -> Call<'a> {
    let mut call: Call = Box::pin(pool.submit(async {}));
    assert!(call
        .as_mut()
        .poll(&mut Context::from_waker(waker))
        .is_pending());
    call
}

fn poll_ready(call: &mut Call<'_>) -> Result<(), Rejected> {
    let waker = Waker::noop();
    let t = Instant::now();
    loop {
        if let Poll::Ready(out) = call.as_mut().poll(&mut Context::from_waker(waker)) {
            return out;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "never ready");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Lateness of each stamped waker against its deadline (`polled + timeout`).
fn lateness(stamps: &[(Instant, Arc<Stamp>)], bound: Duration) -> Vec<Duration> {
    let t = Instant::now();
    loop {
        let done: Vec<Option<Instant>> = stamps.iter().map(|(_, s)| *s.0.lock().unwrap()).collect();
        if done.iter().all(Option::is_some) {
            return stamps
                .iter()
                .zip(done)
                .map(|((deadline, _), at)| at.unwrap().saturating_duration_since(*deadline))
                .collect();
        }
        assert!(
            t.elapsed() < bound,
            "{} of {} deadlines never woken",
            done.iter().filter(|d| d.is_none()).count(),
            stamps.len()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ---- 1. the timer's waking threads -------------------------------------------------

/// Commit 04d050f: "a blocked waker still holds up no other deadline";
/// `Waking`: "a blocked waker holds up only itself". Two wakers that block
/// for good fire first; then bursts of 200 deadlines over 20 pools while
/// they block: every one is woken within a few ms of its deadline.
#[test]
#[cfg(target_os = "linux")]
fn deadlines_fire_on_time_while_two_wakers_block_for_good() {
    common::in_own_process(
        "deadlines_fire_on_time_while_two_wakers_block_for_good",
        &[],
        || {
            let blockers: Vec<Arc<Blocks>> = (0..2)
                .map(|_| {
                    Arc::new(Blocks {
                        entered: AtomicBool::new(false),
                        release: AtomicBool::new(false),
                    })
                })
                .collect();
            let pools: Vec<Pool> = (0..20).map(|i| timed_pool(10 + i)).collect();
            let held: Vec<_> = pools
                .iter()
                .map(|p| p.try_acquire_owned(0).unwrap())
                .collect();
            let mut keep = Vec::new();
            for b in &blockers {
                keep.push(waiting_call(&pools[0], &Waker::from(b.clone())));
            }
            let t = Instant::now();
            while !blockers.iter().all(|b| b.entered.load(SeqCst)) {
                assert!(t.elapsed() < Duration::from_secs(5), "blockers never woken");
                std::thread::sleep(Duration::from_millis(1));
            }
            let mut worst = Duration::ZERO;
            for _burst in 0..3 {
                let mut stamps = Vec::new();
                for i in 0..200 {
                    let pool = &pools[i % pools.len()];
                    let stamp = Arc::new(Stamp(Mutex::new(None)));
                    let deadline = Instant::now() + Duration::from_millis(10 + (i % 20) as u64);
                    keep.push(waiting_call(pool, &Waker::from(stamp.clone())));
                    stamps.push((deadline, stamp));
                }
                let late = lateness(&stamps, Duration::from_secs(10));
                worst = worst.max(*late.iter().max().unwrap());
            }
            assert!(
                worst < Duration::from_millis(60),
                "a deadline was woken {worst:?} late while two wakers blocked"
            );
            let threads = threads_named("pooled-timer-wa");
            assert!(threads <= 8, "{threads} waking threads");
            blockers.iter().for_each(|b| b.release.store(true, SeqCst));
            for call in &mut keep {
                assert_eq!(poll_ready(call), Err(Rejected::TimedOut));
            }
            drop(held);
            for p in &pools {
                let s = p.stats();
                assert_accounted(&s);
                assert_eq!(s.rejected_for(Rejected::TimedOut), s.submitted() - 1);
            }
        },
    );
}

/// `bursts` bursts, back to back, of 150 deadlines firing together in a
/// pool with a 20 ms admission timeout, whose wakers take 3 ms each
/// (slower than the 2 ms stall period, never blocked). Returns the most
/// waking threads seen after each burst.
fn slow_bursts(pool: &Pool, bursts: usize) -> Vec<usize> {
    let mut most = 0;
    let mut trace = Vec::new();
    for _ in 0..bursts {
        let slow = Arc::new(Slow(Duration::from_millis(3), AtomicUsize::new(0)));
        let waker = Waker::from(slow.clone());
        let mut calls: Vec<Call> = (0..150).map(|_| waiting_call(pool, &waker)).collect();
        let t = Instant::now();
        while slow.1.load(SeqCst) < 150 {
            most = most.max(threads_named("pooled-timer-wa"));
            assert!(t.elapsed() < Duration::from_secs(10), "burst not woken");
            std::thread::sleep(Duration::from_millis(1));
        }
        for call in &mut calls {
            assert_eq!(poll_ready(call), Err(Rejected::TimedOut));
        }
        trace.push(most);
    }
    trace
}

/// `Waking` (timer.rs): "a burst of deadlines firing at once is woken by
/// the threads there are, not by a thread each"; commit 04d050f: "a new
/// waking thread only when the busy ones stall ..., not for every waker
/// that finds none idle"; README: "woken on threads of their own, added
/// while one is busy". Thirty bursts of 150 deadlines whose wakers take
/// 3 ms each, back to back (about 2 s in all): the waking threads grow
/// by one or two every burst — 41, 42 after 30 bursts in two runs, still
/// climbing — heading for a thread per waker of a burst. The threads the
/// idle ones wake at a burst's start all take a waker at once and finish
/// together, so the queue sees no progress for 3 ms every round and
/// `unstall` adds a thread per round though every busy thread is making
/// progress.
#[test]
#[cfg(target_os = "linux")]
fn repeated_bursts_of_slow_wakers_keep_waking_threads_few() {
    common::in_own_process(
        "repeated_bursts_of_slow_wakers_keep_waking_threads_few",
        &[],
        || {
            let pool = timed_pool(20);
            let _held = pool.try_acquire_owned(0).unwrap();
            let trace = slow_bursts(&pool, 30);
            let most = *trace.last().unwrap();
            assert!(
            most <= 16,
            "{most} waking threads for bursts of 150 wakers of 3 ms; after each burst: {trace:?}"
        );
        },
    );
}

/// `Waking`: "A thread idle for a second ends, but the last one." After
/// five bursts of slow wakers, 2.5 s idle leaves at most one waking
/// thread.
#[test]
#[cfg(target_os = "linux")]
fn idle_waking_threads_end_after_a_second() {
    common::in_own_process("idle_waking_threads_end_after_a_second", &[], || {
        let pool = timed_pool(20);
        let _held = pool.try_acquire_owned(0).unwrap();
        let trace = slow_bursts(&pool, 5);
        assert!(trace[0] >= 1, "the wakers ran on waking threads");
        std::thread::sleep(Duration::from_millis(2500));
        let left = threads_named("pooled-timer-wa");
        assert!(
            left <= 1,
            "{left} waking threads left after 2.5 s idle ({trace:?})"
        );
        // And they come back for the next burst.
        let again = slow_bursts(&pool, 1);
        assert!(again[0] >= 1);
    });
}

/// Wakers that, woken on a waking thread, make a timed async call of their
/// own into a full pool and wait for it there (its deadline needs another
/// waking thread to wake it): ten such chained at once all end, each
/// inner call timing out, within a bound far below the watchdog.
#[test]
#[cfg(target_os = "linux")]
fn wakers_that_wait_on_timed_calls_of_their_own_all_end() {
    common::in_own_process(
        "wakers_that_wait_on_timed_calls_of_their_own_all_end",
        &[],
        || {
            struct Reenters {
                inner: Pool,
                out: Mutex<Vec<Result<(), Rejected>>>,
                once: AtomicBool,
            }
            impl Wake for Reenters {
                fn wake(self: Arc<Self>) {
                    self.wake_by_ref();
                }
                fn wake_by_ref(self: &Arc<Self>) {
                    if !self.once.swap(true, SeqCst) {
                        let r = futures::executor::block_on(self.inner.submit(async {}));
                        self.out.lock().unwrap().push(r);
                    }
                }
            }
            let outer = timed_pool(10);
            let inner = timed_pool(30);
            let _h1 = outer.try_acquire_owned(0).unwrap();
            let _h2 = inner.try_acquire_owned(0).unwrap();
            let wakers: Vec<Arc<Reenters>> = (0..10)
                .map(|_| {
                    Arc::new(Reenters {
                        inner: inner.clone(),
                        out: Mutex::new(Vec::new()),
                        once: AtomicBool::new(false),
                    })
                })
                .collect();
            let start = Instant::now();
            let mut calls: Vec<Call> = wakers
                .iter()
                .map(|w| waiting_call(&outer, &Waker::from(w.clone())))
                .collect();
            while wakers.iter().any(|w| w.out.lock().unwrap().is_empty()) {
                assert!(
                    start.elapsed() < Duration::from_secs(3),
                    "{} of 10 re-entering wakers ended",
                    wakers
                        .iter()
                        .filter(|w| !w.out.lock().unwrap().is_empty())
                        .count()
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            for w in &wakers {
                assert_eq!(*w.out.lock().unwrap(), vec![Err(Rejected::TimedOut)]);
            }
            for call in &mut calls {
                assert_eq!(poll_ready(call), Err(Rejected::TimedOut));
            }
        },
    );
}

/// Wakers that panic in `wake`, a waker whose clone panics (once), and
/// wakers whose `Drop` blocks for 50 ms when replaced by a re-poll: every
/// call still times out, the books balance, and deadlines stamped after
/// them are woken on time.
#[test]
#[cfg(target_os = "linux")]
fn panicking_and_slow_dropping_wakers_hold_up_no_deadline() {
    common::in_own_process(
        "panicking_and_slow_dropping_wakers_hold_up_no_deadline",
        &[],
        || {
            quiet_planned_panics();
            struct SlowDrop;
            impl Wake for SlowDrop {
                fn wake(self: Arc<Self>) {}
            }
            impl Drop for SlowDrop {
                fn drop(&mut self) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            static CLONE_ARMED: AtomicBool = AtomicBool::new(false);
            let pool = timed_pool(15);
            let held = pool.try_acquire_owned(0).unwrap();
            let mut calls: Vec<Call> = Vec::new();
            for _ in 0..20 {
                calls.push(waiting_call(&pool, &common::panicking_waker()));
            }
            // A clone that panics once: the poll may panic; the call is
            // then polled again with an ordinary waker.
            CLONE_ARMED.store(true, SeqCst);
            let clone_panics = common::waker_whose_clone_panics_once(&CLONE_ARMED);
            let mut cp: Call = Box::pin(pool.submit(async {}));
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = cp.as_mut().poll(&mut Context::from_waker(&clone_panics));
            }));
            calls.push(cp);
            // Wakers whose Drop blocks, replaced by a re-poll on another
            // thread each.
            let slow_drops: Vec<_> = (0..4)
                .map(|_| {
                    let pool = pool.clone();
                    std::thread::spawn(move || {
                        let mut call: Call = Box::pin(pool.submit(async {}));
                        for _ in 0..3 {
                            let w = Waker::from(Arc::new(SlowDrop));
                            if let Poll::Ready(out) =
                                call.as_mut().poll(&mut Context::from_waker(&w))
                            {
                                return out;
                            }
                        }
                        poll_ready(&mut call)
                    })
                })
                .collect();
            let mut stamps = Vec::new();
            for i in 0..40 {
                let stamp = Arc::new(Stamp(Mutex::new(None)));
                let deadline = Instant::now() + Duration::from_millis(15);
                calls.push(waiting_call(&pool, &Waker::from(stamp.clone())));
                stamps.push((deadline, stamp));
                if i % 10 == 0 {
                    std::thread::sleep(Duration::from_millis(3));
                }
            }
            let late = lateness(&stamps, Duration::from_secs(10));
            let worst = *late.iter().max().unwrap();
            assert!(worst < Duration::from_millis(60), "woken {worst:?} late");
            let outs: Vec<_> = calls.iter_mut().map(poll_ready).collect();
            let odd: Vec<_> = outs
                .iter()
                .enumerate()
                .filter(|(_, o)| **o != Err(Rejected::TimedOut))
                .collect();
            assert!(
                odd.is_empty(),
                "calls (20 panicking wakers, 1 clone panic, 40 stamped): {odd:?}; {:?}",
                pool.stats()
            );
            for t in slow_drops {
                assert_eq!(t.join().unwrap(), Err(Rejected::TimedOut));
            }
            drop(held);
            let s = pool.stats();
            assert_accounted(&s);
            assert_eq!(s.rejected_for(Rejected::TimedOut), 20 + 1 + 4 + 40, "{s:?}");
        },
    );
}

/// A waker that, woken, makes a sync call into a pool of one whose slot
/// is given back only once another call's deadline fires, repeated from
/// many pools at once, with wakers woken by `wake` (owned) and by
/// `wake_by_ref`: nothing hangs.
#[test]
#[cfg(target_os = "linux")]
fn sync_calls_from_wakers_across_many_pools_all_end() {
    common::in_own_process(
        "sync_calls_from_wakers_across_many_pools_all_end",
        &[],
        || {
            struct SyncOnWake {
                pool: Pool,
                done: AtomicBool,
                returned: AtomicBool,
            }
            impl Wake for SyncOnWake {
                fn wake(self: Arc<Self>) {
                    self.wake_by_ref()
                }
                fn wake_by_ref(self: &Arc<Self>) {
                    if !self.done.swap(true, SeqCst) {
                        let _ = self.pool.run(|| ());
                        self.returned.store(true, SeqCst);
                    }
                }
            }
            within(Duration::from_secs(20), || {
                let mut all = Vec::new();
                let mut holders = Vec::new();
                let ps: Vec<Pool> = (0..8u64).map(|i| timed_pool(10 + i)).collect();
                let mut calls = Vec::new();
                for (i, p) in ps.iter().enumerate() {
                    let i = i as u64;
                    let q = timed_pool(30 + 2 * i);
                    let r = Pool::fixed(1);
                    let p_held = p.try_acquire_owned(0).unwrap();
                    let q_held = q.try_acquire_owned(0).unwrap();
                    let r_held = r.try_acquire_owned(0).unwrap();
                    let qq = q.clone();
                    holders.push(std::thread::spawn(move || {
                        let out = futures::executor::block_on(qq.submit(async {}));
                        drop(r_held);
                        out
                    }));
                    let w = Arc::new(SyncOnWake {
                        pool: r,
                        done: AtomicBool::new(false),
                        returned: AtomicBool::new(false),
                    });
                    calls.push(waiting_call(p, &Waker::from(w.clone())));
                    all.push((w, p_held, q_held));
                }
                for h in holders {
                    assert_eq!(h.join().unwrap(), Err(Rejected::TimedOut));
                }
                for call in &mut calls {
                    assert_eq!(poll_ready(call), Err(Rejected::TimedOut));
                }
                let t = Instant::now();
                while !all.iter().all(|(w, ..)| w.returned.load(SeqCst)) {
                    assert!(
                        t.elapsed() < Duration::from_secs(5),
                        "a waker's sync call hung"
                    );
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
        },
    );
}

#[cfg(all(feature = "metrics", feature = "tracing"))]
mod reports {
    use super::*;
    use std::future::pending;

    // ---- 2. a call's end reported after its slot is released ------------------------------

    thread_local! {
        static EXPORTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Exports through `pool` (a sync call), once per thread at a time.
    struct Exporter {
        pool: std::sync::OnceLock<Pool>,
        meter: Meter,
        exports: AtomicUsize,
        panic_next: AtomicBool,
    }

    impl Exporter {
        fn new() -> Arc<Exporter> {
            Arc::new(Exporter {
                pool: std::sync::OnceLock::new(),
                meter: Meter::default(),
                exports: AtomicUsize::new(0),
                panic_next: AtomicBool::new(false),
            })
        }
        fn export(&self) {
            if self.panic_next.swap(false, SeqCst) {
                panic!("planned: an observer that panics");
            }
            let Some(pool) = self.pool.get() else { return };
            if EXPORTING.with(|e| e.replace(true)) {
                return;
            }
            self.exports.fetch_add(1, SeqCst);
            let meter = self.meter.clone();
            let _ = pool.run(move || {
                let _inside = meter.enter();
            });
            EXPORTING.with(|e| e.set(false));
        }
    }

    /// Every call path once on `pool` (a pool of one, no timeout): async ok,
    /// async panic, a running call dropped, a waiting call dropped, sync ok,
    /// sync panic, a blocking job, a permit, a nested call, a turned-away
    /// call. Returns how many calls it made.
    fn every_path(pool: &Pool, meter: &Meter) -> u64 {
        use futures::executor::block_on;
        let mut made = 0;
        let m = meter.clone();
        assert_eq!(
            block_on(pool.submit(async move {
                m.enter();
                1
            })),
            Ok(1)
        );
        made += 1;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            block_on(pool.submit(async { panic!("planned: a body that panics") }))
        }));
        assert!(r.is_err());
        made += 1;
        // A running call dropped mid-body.
        {
            let mut call = Box::pin(pool.submit(pending::<()>()));
            assert!(call
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending());
            assert_eq!(pool.stats().running, 1);
        }
        made += 1;
        // A waiting call dropped (the slot held by a permit on another
        // thread, given back a little later: the dropped call's report may
        // export, which waits for it).
        {
            let permit = pool.try_acquire_owned(0).unwrap();
            made += 1;
            let mut call = Box::pin(pool.submit(async {}));
            assert!(call
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending());
            let giver = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                drop(permit);
            });
            drop(call);
            made += 1;
            giver.join().unwrap();
        }
        let m = meter.clone();
        assert_eq!(
            pool.run(move || {
                m.enter();
                2
            }),
            Ok(2)
        );
        made += 1;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(|| panic!("planned: a sync body that panics"))
        }));
        assert!(r.is_err());
        made += 1;
        let m = meter.clone();
        assert_eq!(
            block_on(pool.submit_blocking(move || {
                m.enter();
                3
            })),
            Ok(3)
        );
        made += 1;
        let p = pool.clone();
        let m = meter.clone();
        assert_eq!(
            block_on(pool.submit(async move {
                let _inside = m.enter();
                p.submit(async { 4 }).await
            })),
            Ok(Ok(4))
        );
        made += 2;
        pool.pause();
        assert_eq!(pool.run(|| 5), Err(Rejected::Paused));
        made += 1;
        pool.resume();
        made
    }

    /// A recorder whose `pooled.calls` counters export through the pool they
    /// count, and count every increment.
    struct CallsRecorder(
        Arc<Exporter>,
        Arc<Mutex<std::collections::BTreeMap<String, u64>>>,
    );

    struct CallsCounter(
        Arc<Exporter>,
        Arc<Mutex<std::collections::BTreeMap<String, u64>>>,
        String,
    );

    impl metrics::CounterFn for CallsCounter {
        fn increment(&self, by: u64) {
            *self.1.lock().unwrap().entry(self.2.clone()).or_default() += by;
            self.0.export();
        }
        fn absolute(&self, _: u64) {}
    }

    impl metrics::Recorder for CallsRecorder {
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
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            let name = common::render(key);
            if key.name() == "pooled.calls" {
                metrics::Counter::from_arc(Arc::new(CallsCounter(
                    self.0.clone(),
                    self.1.clone(),
                    name,
                )))
            } else {
                metrics::Counter::noop()
            }
        }
        fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::noop()
        }
        fn register_histogram(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            metrics::Histogram::from_arc(Arc::new(CallsCounter(
                self.0.clone(),
                self.1.clone(),
                common::render(key),
            )))
        }
    }

    impl metrics::HistogramFn for CallsCounter {
        fn record(&self, _: f64) {
            *self.1.lock().unwrap().entry(self.2.clone()).or_default() += 1;
            self.0.export();
        }
    }

    /// Round 36's promise (fixed by 8f1f6c3: "a call's end is reported after
    /// its slot is released ... on every path out"): a recorder exporting
    /// through the pool of one it counts, from `pooled.calls` on every path,
    /// hangs nothing; the limit holds; and each call's end is counted exactly
    /// once (the counters' sum is every call made, exports included).
    #[test]
    fn a_recorder_exporting_from_call_counters_on_every_path_counts_each_end_once() {
        quiet_planned_panics();
        within(BOUND, || {
            let exporter = Exporter::new();
            let counts = Arc::new(Mutex::new(std::collections::BTreeMap::new()));
            let rec = CallsRecorder(exporter.clone(), counts.clone());
            let pool = metrics::with_local_recorder(&rec, || {
                Pool::builder().name("adv41-rec").size(1).build().unwrap()
            });
            exporter.pool.set(pool.clone()).ok().unwrap();
            let meter = Meter::default();
            let mut made = 0;
            for _ in 0..3 {
                made += every_path(&pool, &meter);
            }
            let exports = exporter.exports.load(SeqCst) as u64;
            assert!(exports > 0);
            assert!(meter.max() <= 1 && exporter.meter.max() <= 1);
            let s = pool.stats();
            assert_accounted(&s);
            assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
            assert_eq!(s.submitted(), made + exports, "{s:?}");
            let sum: u64 = counts
                .lock()
                .unwrap()
                .iter()
                .filter(|(k, _)| k.starts_with("pooled.calls{"))
                .map(|(_, v)| v)
                .sum();
            assert_eq!(
                sum,
                made + exports,
                "pooled.calls counted {:?}",
                counts.lock().unwrap()
            );
            // The run-time histogram (exporting too): one sample per call that
            // ran, never more than the calls made.
            let samples: u64 = counts
                .lock()
                .unwrap()
                .iter()
                .filter(|(k, _)| !k.starts_with("pooled.calls{"))
                .map(|(_, v)| v)
                .sum();
            assert!(samples <= made + exports, "{:?}", counts.lock().unwrap());
        });
    }

    /// A call form run on a pool.
    type Form = Box<dyn Fn(&Pool)>;

    /// A recorder whose `pooled.calls` increment panics (once, on each path in
    /// turn): the slot is already released, so the next call is admitted at
    /// once, and the books stay balanced.
    #[test]
    fn a_recorder_panicking_on_call_counters_loses_no_slot() {
        quiet_planned_panics();
        within(BOUND, || {
            let exporter = Exporter::new();
            let counts = Arc::new(Mutex::new(std::collections::BTreeMap::new()));
            let rec = CallsRecorder(exporter.clone(), counts.clone());
            let pool = metrics::with_local_recorder(&rec, || {
                Pool::builder()
                    .name("adv41-rec-panic")
                    .size(1)
                    .build()
                    .unwrap()
            });
            use futures::executor::block_on;
            let forms: Vec<Form> = vec![
                Box::new(|p: &Pool| {
                    let _ = block_on(p.submit(async { 1 }));
                }),
                Box::new(|p: &Pool| {
                    let _ = p.run(|| 1);
                }),
                Box::new(|p: &Pool| {
                    let _ = block_on(p.submit_blocking(|| 1));
                }),
                Box::new(|p: &Pool| drop(p.try_acquire())),
                Box::new(|p: &Pool| {
                    let q = p.clone();
                    let _ = block_on(p.submit(async move { q.submit(async { 1 }).await }));
                }),
                Box::new(|p: &Pool| {
                    let mut call = Box::pin(p.submit(pending::<()>()));
                    let _ = call.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                }),
            ];
            for (i, form) in forms.iter().enumerate() {
                exporter.panic_next.store(true, SeqCst);
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| form(&pool)));
                exporter.panic_next.store(false, SeqCst);
                let s = pool.stats();
                assert_eq!(
                    (s.running, s.nested, s.waiting),
                    (0, 0, 0),
                    "form {i}: {s:?}"
                );
                assert!(pool.try_acquire().is_ok(), "form {i}: the slot was lost");
                assert_accounted(&pool.stats());
            }
        });
    }

    /// A layer (over tracing-subscriber's registry, the standard stack) whose
    /// span close exports through the pool of one it observes; counts spans
    /// opened and closed.
    struct ClosingLayer {
        exporter: Arc<Exporter>,
        opened: Arc<AtomicUsize>,
        closed: Arc<AtomicUsize>,
        /// Ids open now; a close of an id not open is a second report.
        open: Arc<Mutex<std::collections::BTreeSet<u64>>>,
        twice: Arc<AtomicUsize>,
    }

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ClosingLayer {
        fn on_new_span(
            &self,
            _: &tracing::span::Attributes<'_>,
            id: &tracing::span::Id,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            self.opened.fetch_add(1, SeqCst);
            self.open.lock().unwrap().insert(id.into_u64());
        }
        fn on_close(&self, id: tracing::span::Id, _: tracing_subscriber::layer::Context<'_, S>) {
            self.closed.fetch_add(1, SeqCst);
            if !self.open.lock().unwrap().remove(&id.into_u64()) {
                self.twice.fetch_add(1, SeqCst);
            }
            self.exporter.export();
        }
    }

    /// The same with a `tracing` subscriber exporting on span close: every
    /// path ends, the limit holds, and no span is closed twice. (Not checked:
    /// that every span closes. A layer that opens a span in `on_close` while
    /// the closing span's parent is current makes tracing-subscriber's
    /// registry lose that parent's close — its reentrant `get_default` falls
    /// back to no subscriber; reproduced with no pool at all, two plain spans.
    /// Here that is the parent of each nested call, one per pass: at most 3
    /// spans left open, all of them tracing-subscriber's.)
    #[test]
    fn a_subscriber_exporting_on_span_close_on_every_path_never_closes_a_span_twice() {
        use tracing_subscriber::layer::SubscriberExt;
        quiet_planned_panics();
        let exporter = Exporter::new();
        let pool = Pool::builder().name("adv41-sub").size(1).build().unwrap();
        exporter.pool.set(pool.clone()).ok().unwrap();
        let (opened, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let twice = Arc::new(AtomicUsize::new(0));
        let layer = ClosingLayer {
            exporter: exporter.clone(),
            opened: opened.clone(),
            closed: closed.clone(),
            open: Default::default(),
            twice: twice.clone(),
        };
        let p = pool.clone();
        let made = within(BOUND, move || {
            let sub = tracing_subscriber::registry().with(layer);
            tracing::subscriber::with_default(sub, || {
                let meter = Meter::default();
                let mut made = 0;
                for _ in 0..3 {
                    made += every_path(&p, &meter);
                }
                assert!(meter.max() <= 1);
                made
            })
        });
        // A blocking job's span closes on the executor's thread once its slot
        // is released, which may be just after its caller has the result: let
        // those closes land before counting.
        let start = std::time::Instant::now();
        while opened.load(SeqCst).saturating_sub(closed.load(SeqCst)) > 3 && start.elapsed() < BOUND
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        let s = pool.stats();
        assert_eq!(twice.load(SeqCst), 0, "spans closed twice");
        let (opened, closed) = (opened.load(SeqCst), closed.load(SeqCst));
        assert!(
            closed <= opened && opened - closed <= 3,
            "{opened} spans opened, {closed} closed"
        );
        assert!(exporter.exports.load(SeqCst) > 0);
        assert!(exporter.meter.max() <= 1);
        assert_accounted(&s);
        assert_eq!(s.submitted(), made + exporter.exports.load(SeqCst) as u64);
    }
}

// ---- 3. the sync room --------------------------------------------------------------------

/// A clock that takes 30 µs a read: widens the room's windows (an
/// autoscaled pool reads it on admission).
struct SlowClock(Instant);

impl Clock for SlowClock {
    fn now(&self) -> Duration {
        std::thread::sleep(Duration::from_micros(30));
        self.0.elapsed()
    }
}

fn barging_pool(max_waiting: Option<usize>) -> Pool {
    let mut b = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(1)
        .sync_barging(Duration::from_secs(5))
        .clock(Arc::new(SlowClock(Instant::now())));
    if let Some(m) = max_waiting {
        b = b.max_waiting(m);
    }
    b.build().unwrap()
}

/// `max_waiting`: calls are turned away `Full` only when the bound on
/// waiting calls was reached. Six threads calling a barging pool of one in
/// a loop can have at most five waiting while one runs: with
/// `max_waiting(5)` no call may ever be `Full`; sampled from outside,
/// `waiting` never passes 5 and `running` never passes 1.
#[test]
fn a_barging_storm_never_turns_a_call_away_full_with_room_to_spare() {
    within(BOUND, || {
        let pool = barging_pool(Some(5));
        let meter = Meter::default();
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (pool, stop) = (pool.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut worst = (0, 0);
                while !stop.load(SeqCst) {
                    let s = pool.stats();
                    worst = (worst.0.max(s.running), worst.1.max(s.waiting));
                    std::thread::yield_now();
                }
                worst
            })
        };
        let callers: Vec<_> = (0..6)
            .map(|_| {
                let (pool, meter) = (pool.clone(), meter.clone());
                std::thread::spawn(move || {
                    let mut full = 0;
                    for _ in 0..300 {
                        let m = meter.clone();
                        match pool.run(move || {
                            let _i = m.enter();
                            std::hint::spin_loop();
                        }) {
                            Ok(()) => {}
                            Err(Rejected::Full) => full += 1,
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                    full
                })
            })
            .collect();
        let full: usize = callers.into_iter().map(|c| c.join().unwrap()).sum();
        stop.store(true, SeqCst);
        let worst = sampler.join().unwrap();
        assert_eq!(full, 0, "calls turned away Full with at most 5 waiting");
        assert!(meter.max() <= 1, "{} at once", meter.max());
        assert!(worst.0 <= 1 && worst.1 <= 5, "sampled {worst:?}");
        let s = pool.stats();
        assert_accounted(&s);
        assert_eq!(s.completed, 1800);
    });
}

/// `ShutdownTimedOut::turned_away`: "calls that were still waiting at the
/// deadline and were turned away". Barging storms on a pool of one with a
/// slow clock, shut down with a short deadline: the report's
/// `turned_away` never counts more than the callers that really got
/// `Closed`, and `rejected_for(Closed)` is exactly what callers saw.
#[test]
fn shutdown_reports_during_barging_storms_match_what_callers_saw() {
    within(BOUND, || {
        for round in 0..15 {
            let pool = barging_pool(None);
            let gate = Arc::new(std::sync::Barrier::new(9));
            let callers: Vec<_> = (0..8)
                .map(|_| {
                    let (pool, gate) = (pool.clone(), gate.clone());
                    std::thread::spawn(move || {
                        gate.wait();
                        let mut seen = (0usize, 0usize);
                        loop {
                            match pool.run(|| std::thread::sleep(Duration::from_micros(300))) {
                                Ok(()) => seen.0 += 1,
                                Err(Rejected::Closed) => {
                                    seen.1 += 1;
                                    return seen;
                                }
                                Err(e) => panic!("{e:?}"),
                            }
                        }
                    })
                })
                .collect();
            gate.wait();
            std::thread::sleep(Duration::from_millis(5 + round));
            let report =
                futures::executor::block_on(pool.shutdown(Some(Duration::from_micros(200))));
            let seen: Vec<(usize, usize)> =
                callers.into_iter().map(|c| c.join().unwrap()).collect();
            let ok: usize = seen.iter().map(|s| s.0).sum();
            let closed: usize = seen.iter().map(|s| s.1).sum();
            futures::executor::block_on(pool.drained());
            let s = pool.stats();
            assert_accounted(&s);
            assert_eq!(s.completed as usize, ok, "round {round}: {s:?}");
            assert_eq!(
                s.rejected_for(Rejected::Closed) as usize,
                closed,
                "round {round}: {s:?}"
            );
            if let Err(report) = report {
                assert!(
                    report.turned_away <= closed,
                    "round {round}: report {report:?}, {closed} callers got Closed"
                );
                assert!(report.running <= 1, "round {round}: {report:?}");
            }
        }
    });
}

/// `abort` during barging storms: every caller ends, each caller that got
/// `Closed` is counted once in `rejected_for(Closed)`, and no body runs
/// after `drained`.
#[test]
fn aborts_during_barging_storms_turn_each_caller_away_once() {
    within(BOUND, || {
        for round in 0..15u64 {
            let pool = barging_pool(Some(3 + (round as usize % 4)));
            let meter = Meter::default();
            let callers: Vec<_> = (0..8)
                .map(|_| {
                    let (pool, meter) = (pool.clone(), meter.clone());
                    std::thread::spawn(move || {
                        let mut seen = [0u64; 3];
                        loop {
                            let m = meter.clone();
                            match pool.run(move || {
                                let _i = m.enter();
                                std::thread::sleep(Duration::from_micros(100));
                            }) {
                                Ok(()) => seen[0] += 1,
                                Err(Rejected::Full) => seen[1] += 1,
                                Err(Rejected::Closed) => {
                                    seen[2] += 1;
                                    return seen;
                                }
                                Err(e) => panic!("{e:?}"),
                            }
                        }
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(3 + round));
            pool.abort();
            let seen: Vec<[u64; 3]> = callers.into_iter().map(|c| c.join().unwrap()).collect();
            futures::executor::block_on(pool.drained());
            let done = meter.done();
            std::thread::sleep(Duration::from_millis(5));
            assert_eq!(meter.done(), done, "round {round}: a body after drained");
            assert!(meter.max() <= 1);
            let s = pool.stats();
            assert_accounted(&s);
            let sum = |i: usize| seen.iter().map(|x| x[i]).sum::<u64>();
            assert_eq!(s.completed, sum(0), "round {round}: {s:?}");
            assert_eq!(
                s.rejected_for(Rejected::Full),
                sum(1),
                "round {round}: {s:?}"
            );
            assert_eq!(
                s.rejected_for(Rejected::Closed),
                sum(2),
                "round {round}: {s:?}"
            );
        }
    });
}

/// Barging callers under pause/resume and scale to 0 and back from another
/// thread: the books match the callers' outcomes reason by reason, the
/// limit holds, nothing hangs.
#[test]
fn barging_callers_under_pause_and_scale_to_zero_are_counted_exactly() {
    within(BOUND, || {
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .min(0)
            .max(2)
            .size(2)
            .sync_barging(Duration::from_millis(2))
            .max_waiting(4)
            .admission_timeout(Duration::from_millis(20))
            .clock(Arc::new(SlowClock(Instant::now())))
            .build()
            .unwrap();
        let meter = Meter::default();
        let stop = Arc::new(AtomicBool::new(false));
        let steer = {
            let (pool, stop) = (pool.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(SeqCst) {
                    match i % 4 {
                        0 => pool.pause(),
                        1 => pool.resume(),
                        2 => {
                            pool.scale(-2);
                        }
                        _ => {
                            pool.scale(2);
                        }
                    }
                    i += 1;
                    std::thread::sleep(Duration::from_micros(700));
                }
                pool.resume();
                pool.scale(2);
            })
        };
        let callers: Vec<_> = (0..6)
            .map(|_| {
                let (pool, meter) = (pool.clone(), meter.clone());
                std::thread::spawn(move || {
                    let mut seen = std::collections::BTreeMap::<String, u64>::new();
                    for _ in 0..200 {
                        let m = meter.clone();
                        let r = pool.run(move || {
                            let _i = m.enter();
                            std::thread::sleep(Duration::from_micros(50));
                        });
                        *seen.entry(format!("{r:?}")).or_default() += 1;
                    }
                    seen
                })
            })
            .collect();
        let mut seen = std::collections::BTreeMap::<String, u64>::new();
        for c in callers {
            for (k, v) in c.join().unwrap() {
                *seen.entry(k).or_default() += v;
            }
        }
        stop.store(true, SeqCst);
        steer.join().unwrap();
        let s = pool.stats();
        assert_accounted(&s);
        assert!(meter.max() <= 2, "{} at once", meter.max());
        let get = |k: &str| seen.get(k).copied().unwrap_or(0);
        assert_eq!(s.completed, get("Ok(())"), "{seen:?} {s:?}");
        for (reason, key) in [
            (Rejected::Paused, "Err(Paused)"),
            (Rejected::Full, "Err(Full)"),
            (Rejected::TimedOut, "Err(TimedOut)"),
            (Rejected::Closed, "Err(Closed)"),
        ] {
            assert_eq!(s.rejected_for(reason), get(key), "{key}: {seen:?} {s:?}");
        }
        assert_eq!(s.submitted(), 1200);
    });
}

// ---- 4. config: per-layer checks ---------------------------------------------------------

static AUTO: Group = Group::new(
    GroupSpec::new("r41::auto")
        .kind(Kind::Autoscale)
        .min(1)
        .max(8),
);
register_group!(AUTO);
static FIXED: Group = Group::new(GroupSpec::new("r41::fixed").size(3));
register_group!(FIXED);
static AUTO0: Group = Group::new(
    GroupSpec::new("r41::auto0")
        .kind(Kind::Autoscale)
        .min(0)
        .max(4),
);
register_group!(AUTO0);

fn loads(text: &str) -> Result<(), String> {
    config::load_str("r41.toml", text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Valid configurations the per-layer checks must not refuse (config
/// docs: a `size` is checked against "the same table's `min`/`max`"; "a
/// `[defaults]` table's size is not checked against its own bounds"
/// (156348e); `size = 0` is refused only for a *fixed* group).
#[test]
fn valid_layered_configurations_still_load() {
    let _turn = config_turn();
    let cases: &[(&str, &str)] = &[
        (
            "autoscale table with size and only min",
            "[groups.\"r41::auto\"]\nsize = 3\nmin = 2\n",
        ),
        (
            "autoscale table with size and only max",
            "[groups.\"r41::auto\"]\nsize = 3\nmax = 4\n",
        ),
        (
            "defaults size beside defaults bounds it is not inside",
            "[defaults]\nsize = 6\nmin = 1\nmax = 2\n",
        ),
        (
            "defaults kind fixed, table makes it autoscale again",
            "[defaults]\nkind = \"fixed\"\nsize = 2\n[groups.\"r41::auto\"]\nkind = \"autoscale\"\nmin = 1\nmax = 4\n",
        ),
        (
            "defaults kind autoscale, table makes it fixed with a size",
            "[defaults]\nkind = \"autoscale\"\nmin = 2\nmax = 6\n[groups.\"r41::fixed\"]\nkind = \"fixed\"\nsize = 1\n",
        ),
        (
            "size 0 on an autoscaled group with min 0",
            "[groups.\"r41::auto0\"]\nsize = 0\n",
        ),
        (
            "size 0 with min 0 in the same table",
            "[groups.\"r41::auto0\"]\nsize = 0\nmin = 0\nmax = 2\n",
        ),
    ];
    let mut refused = Vec::new();
    for (what, text) in cases {
        config::clear();
        if let Err(e) = loads(text) {
            refused.push(format!("{what}: {e}"));
        }
    }
    config::clear();
    assert!(
        refused.is_empty(),
        "valid configurations refused:\n{}",
        refused.join("\n")
    );
}

/// Kind changes across defaults, table and variables with sizes and bounds
/// each valid for the kind the group ends up with load, and the group's
/// effective settings pass.
#[test]
fn kind_changes_across_defaults_table_and_variables_load() {
    let _turn = config_turn();
    config::load_str(
        "r41.toml",
        "[defaults]\nkind = \"autoscale\"\nmin = 1\nmax = 3\n[groups.\"r41::fixed\"]\nsize = 2\n",
    )
    .unwrap();
    // A variable makes it fixed again over the defaults' kind.
    config::load_env_from(vars(&[("POOLED_R41__FIXED_KIND", "fixed")])).unwrap();
    // The table's size was set while the group was autoscaled (by the
    // defaults' kind): set aside with that kind, so the declaration's 3
    // (the config docs' own example).
    let s = FIXED.settings();
    assert_eq!(s.kind, Kind::Fixed);
    assert_eq!(s.starting_size(), 3);
    config::clear();
    config::load_env_from(vars(&[
        ("POOLED_R41__AUTO_KIND", "fixed"),
        ("POOLED_R41__AUTO_SIZE", "5"),
    ]))
    .unwrap();
    let s = AUTO.settings();
    assert_eq!((s.kind, s.starting_size()), (Kind::Fixed, 5));
    config::clear();
    // A fixed group's table size, then variables making it autoscaled with
    // bounds the size is outside of: the size is set aside, no error.
    config::load_str("r41.toml", "[groups.\"r41::fixed\"]\nsize = 9\n").unwrap();
    config::load_env_from(vars(&[
        ("POOLED_R41__FIXED_KIND", "autoscale"),
        ("POOLED_R41__FIXED_MIN", "1"),
        ("POOLED_R41__FIXED_MAX", "4"),
    ]))
    .unwrap();
    let s = FIXED.settings();
    assert_eq!((s.kind, s.min, s.max), (Kind::Autoscale, Some(1), Some(4)));
    assert!(s.starting_size() <= 4, "{s:?}");
    config::clear();
}

/// What a case is, its file text, and the variables loaded first.
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

static MAX_WAITING_PAST_CELL: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// The per-layer checks' own promises (config docs): "a fixed group's
/// `size = 0` in a table whose size a variable replaces is refused at the
/// table's line; so is a `size` outside the same table's `min`/`max`".
#[test]
fn values_a_stronger_layer_replaces_are_still_checked() {
    let past = format!(
        "[groups.\"r41::auto\"]\nmax_waiting = {}\n",
        pool_runtime::MAX_SLOTS + 1
    );
    let past: &'static str = Box::leak(past.into_boxed_str());
    MAX_WAITING_PAST_CELL.set(past).ok();
    let _turn = config_turn();
    let mut accepted = Vec::new();
    let cases: &[Case] = &[
        (
            "fixed size 0 under a variable",
            "[groups.\"r41::fixed\"]\nsize = 0\n",
            &[("POOLED_R41__FIXED_SIZE", "2")],
        ),
        (
            "size under its own table's min",
            "[groups.\"r41::auto\"]\nsize = 1\nmin = 2\n",
            &[("POOLED_R41__AUTO_SIZE", "3")],
        ),
        (
            "size over its own table's max",
            "[groups.\"r41::auto\"]\nsize = 5\nmax = 4\n",
            &[("POOLED_R41__AUTO_MAX", "8")],
        ),
        (
            "size over the declared max",
            "[groups.\"r41::auto\"]\nsize = 9\n",
            &[],
        ),
        ("defaults fixed size 0", "[defaults]\nsize = 0\n", &[]),
        (
            "min above its own table's max under variables",
            "[groups.\"r41::auto\"]\nmin = 5\nmax = 2\n",
            &[("POOLED_R41__AUTO_MIN", "1"), ("POOLED_R41__AUTO_MAX", "4")],
        ),
        (
            "defaults autoscale_window 0 under a table's",
            "[defaults]\nautoscale_window = 0\n[groups.\"r41::auto\"]\nautoscale_window = 5\n",
            &[],
        ),
        (
            "table max_waiting past MAX_SLOTS under a variable",
            MAX_WAITING_PAST_CELL.get().unwrap(),
            &[("POOLED_R41__AUTO_MAX_WAITING", "3")],
        ),
    ];
    for (what, text, env) in cases {
        config::clear();
        if !env.is_empty() {
            config::load_env_from(vars(env)).unwrap();
        }
        if loads(text).is_ok() {
            accepted.push(*what);
        }
    }
    config::clear();
    assert!(accepted.is_empty(), "invalid values accepted: {accepted:?}");
}

// ---- 5. adaptive: nested calls' stamp ----------------------------------------------------

/// `Waiter::nested` writes the start stamp over the node's weight field.
/// In an adaptive *priority* pool of one, a parent's work starts three
/// nested calls at once (`join`): one borrows the lend, the other two
/// (weights 9 and 1, sent in that order) wait for it. The lower weight
/// goes first (README: "smaller first"), so the nested call of weight 1
/// runs before the one of weight 9 — in an adaptive pool (which stamps
/// started nodes) and a fixed one (which does not).
#[test]
fn nested_calls_waiting_for_a_lend_in_priority_pools_order_by_weight() {
    within(BOUND, || {
        let clock = pool_runtime::ManualClock::new();
        let adaptive = Pool::builder()
            .kind(Kind::Autoscale)
            .order(pool_runtime::Order::Priority)
            .min(1)
            .max(1)
            .size(1)
            .scale_policy(pool_runtime::ScalePolicy::Adaptive(
                pool_runtime::AdaptiveSettings::DEFAULT,
            ))
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let fixed = Pool::builder()
            .order(pool_runtime::Order::Priority)
            .size(1)
            .build()
            .unwrap();
        for pool in [adaptive, fixed] {
            let order = Arc::new(Mutex::new(Vec::new()));
            let p = pool.clone();
            let o = order.clone();
            let out = futures::executor::block_on(pool.submit(async move {
                let first = {
                    let o = o.clone();
                    p.submit_weighted(0, async move {
                        common::yield_now().await;
                        common::yield_now().await;
                        o.lock().unwrap().push(0);
                    })
                };
                let heavy = {
                    let o = o.clone();
                    p.submit_weighted(9, async move { o.lock().unwrap().push(9) })
                };
                let light = {
                    let o = o.clone();
                    p.submit_weighted(1, async move { o.lock().unwrap().push(1) })
                };
                futures::join!(first, heavy, light)
            }));
            assert_eq!(out, Ok((Ok(()), Ok(()), Ok(()))));
            assert_eq!(
                *order.lock().unwrap(),
                vec![0, 1, 9],
                "nested order by weight"
            );
            assert_accounted(&pool.stats());
        }
    });
}

/// `Pool::submit_judged`: a nested call's overload "counts as a drop, as
/// any call's" (sent when the nested call started: da926ad); adaptive.rs
/// "Drops of calls admitted before a cut ... are not counted against it".
/// The path round 39 did not take: nested calls that *waited* for their
/// parent's lend (two nested calls per parent at once, `join`: the second
/// gets the lend when the first ends, stamped then). Twenty parents at
/// 0 ms; at 1 ms every first nested call succeeds and the second takes the
/// lend; at 2 ms every second one is refused: one cut (to 10), no cascade.
#[test]
fn nested_calls_that_waited_for_a_lend_cut_once_for_a_burst_of_refusals() {
    use futures::channel::oneshot;
    use pool_runtime::{AdaptiveSettings, ManualClock, ScalePolicy, Verdict};
    type Fut<'a> = std::pin::Pin<Box<dyn Future<Output = Result<Verdict, Rejected>> + 'a>>;
    within(BOUND, || {
        let clock = ManualClock::new();
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .min(1)
            .max(20)
            .size(20)
            .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings {
                window_samples: 10,
                window_time: Duration::from_secs(60),
                ..AdaptiveSettings::DEFAULT
            }))
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let started: [AtomicUsize; 3] = Default::default();
        let go = Arc::new(AtomicBool::new(false));
        let mut firsts = Vec::new();
        let mut seconds = Vec::new();
        let mut tasks: Vec<common::Task<Fut<'_>>> = Vec::new();
        for _ in 0..20 {
            let (ta, ra) = oneshot::channel::<Verdict>();
            let (tb, rb) = oneshot::channel::<Verdict>();
            firsts.push(ta);
            seconds.push(tb);
            let p = &pool;
            let st = &started;
            let go = common::Gate(go.clone());
            let work = async move {
                // Every parent takes its slot before any nested call is
                // sent: the pool is full, so a second nested call can only
                // wait for its parent's lend.
                go.await;
                st[0].fetch_add(1, SeqCst);
                let a = p.submit_judged(
                    0,
                    async move {
                        st[1].fetch_add(1, SeqCst);
                        ra.await.unwrap_or(Verdict::Ignore)
                    },
                    |v: &Verdict| *v,
                );
                let b = p.submit_judged(
                    0,
                    async move {
                        st[2].fetch_add(1, SeqCst);
                        rb.await.unwrap_or(Verdict::Ignore)
                    },
                    |v: &Verdict| *v,
                );
                let (a, b) = futures::join!(a, b);
                assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
                Verdict::Ignore
            };
            tasks.push(common::Task::new(Box::pin(pool.submit_judged(
                0,
                work,
                |v: &Verdict| *v,
            ))));
        }
        let poll_all = |tasks: &mut Vec<common::Task<Fut<'_>>>| {
            for _ in 0..4 {
                for t in tasks.iter_mut() {
                    let _ = t.poll();
                }
            }
        };
        poll_all(&mut tasks);
        assert_eq!(pool.stats().running, 20);
        go.store(true, SeqCst);
        poll_all(&mut tasks);
        let s = pool.stats();
        let counts: Vec<usize> = started.iter().map(|c| c.load(SeqCst)).collect();
        assert_eq!(counts, [20, 20, 0], "{s:?}");
        assert_eq!((s.running, s.nested, s.waiting), (20, 20, 20), "{s:?}");
        clock.advance(Duration::from_millis(1));
        for ta in firsts {
            let _ = ta.send(Verdict::Success);
        }
        poll_all(&mut tasks);
        let s = pool.stats();
        let counts: Vec<usize> = started.iter().map(|c| c.load(SeqCst)).collect();
        assert_eq!(
            counts,
            [20, 20, 20],
            "the second nested calls took the lends: {s:?}"
        );
        assert_eq!((s.running, s.nested, s.waiting), (20, 20, 0), "{s:?}");
        assert_eq!(pool.size(), 20);
        clock.advance(Duration::from_millis(1));
        let mut trace = vec![pool.size()];
        for tb in seconds {
            let _ = tb.send(Verdict::Overload);
            poll_all(&mut tasks);
            if *trace.last().unwrap() != pool.size() {
                trace.push(pool.size());
            }
        }
        for t in tasks.iter_mut() {
            assert!(t.poll().is_ready());
        }
        assert_eq!(
            trace,
            [20, 10],
            "one burst of refusals under calls started before the cut"
        );
        assert_accounted(&pool.stats());
    });
}
