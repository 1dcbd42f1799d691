//! Hostile acceptance tests, round 8: every callback a user plugs into a
//! pool panicking at each point the pool calls it (a clock, a tracing
//! subscriber, a metrics recorder, a blocking executor, the `Drop` of the
//! submitted work), extreme values on every setter, and control operations
//! racing many callers. Whatever the user's code does, the pool loses no
//! slot, counts every call once, and answers the next call.
#![cfg(all(feature = "tokio", feature = "tracing", feature = "metrics"))]

mod common;

use common::{assert_accounted, gate, in_child_process, quiet_planned_panics, within, Meter, Task};
use pool_runtime::{
    AdaptiveSettings, BlockingExecutor, BlockingJob, Clock, Kind, Order, Pool, ScalePolicy, Stats,
};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Panics once, at the `at`-th time it is hit (counting from 0), when armed.
#[derive(Default)]
struct OneShot {
    armed: AtomicBool,
    hits: AtomicUsize,
    at: AtomicUsize,
    fired: AtomicBool,
}

impl OneShot {
    fn arm(&self, at: usize) {
        self.hits.store(0, Ordering::SeqCst);
        self.at.store(at, Ordering::SeqCst);
        self.fired.store(false, Ordering::SeqCst);
        self.armed.store(true, Ordering::SeqCst);
    }

    fn disarm(&self) -> bool {
        self.armed.store(false, Ordering::SeqCst);
        self.fired.load(Ordering::SeqCst)
    }

    #[track_caller]
    fn hit(&self, what: &str) {
        if !self.armed.load(Ordering::SeqCst) {
            return;
        }
        if self.hits.fetch_add(1, Ordering::SeqCst) == self.at.load(Ordering::SeqCst)
            && !std::thread::panicking()
        {
            self.fired.store(true, Ordering::SeqCst);
            panic!("planned: {what} panics");
        }
    }
}

/// Runs `f`, swallowing a planned panic.
fn quietly<T>(f: impl FnOnce() -> T) -> Option<T> {
    catch_unwind(AssertUnwindSafe(f)).ok()
}

/// Every kind of call once, on a pool of one slot, with a wait, a
/// rejection, a cancellation, a panic and limit changes among them; each
/// step on its own, so that a panic in one leaves the others to run. After
/// each step nothing may be left running or waiting (a leaked slot would
/// make the next step wait for good).
fn every_step(pool: &Pool, shot: &OneShot, what: &str) {
    let settled = |step: &str| {
        let s = pool.stats();
        assert!(
            s.running == 0 && s.waiting == 0,
            "{what} panicking at its hit {}: left after {step}: {s:?}",
            shot.at.load(Ordering::SeqCst)
        );
    };
    let (hold, open) = gate();
    let mut holder = quietly(|| {
        let mut t = Task::new(pool.submit(hold));
        t.assert_pending();
        t
    });
    let mut waiter = quietly(|| {
        let mut t = Task::new(pool.submit(async { 1 }));
        let _ = t.poll();
        t
    });
    quietly(|| drop(pool.try_acquire()));
    open.store(true, Ordering::SeqCst);
    if let Some(t) = holder.as_mut() {
        quietly(|| t.poll());
    }
    if let Some(t) = waiter.as_mut() {
        quietly(|| t.poll());
    }
    quietly(|| drop(holder.take()));
    quietly(|| drop(waiter.take()));
    settled("a call that waited");
    quietly(|| pool.run(|| ()));
    settled("run");
    quietly(|| pool.run(|| panic!("planned: the work panics")));
    settled("a run that panicked");
    quietly(|| drop(futures::executor::block_on(pool.acquire())));
    settled("acquire");
    quietly(|| {
        futures::executor::block_on(
            pool.submit_judged(0, async { 2 }, |_| pool_runtime::Verdict::Overload),
        )
    });
    settled("submit_judged");
    quietly(|| {
        let mut t = Task::new(pool.submit(std::future::pending::<()>()));
        let _ = t.poll();
        drop(t);
    });
    settled("a call cancelled while running");
    quietly(|| pool.resize(2));
    quietly(|| pool.resize(1));
    settled("resize");
    quietly(|| futures::executor::block_on(pool.submit_blocking(|| 3)));
    settled("submit_blocking");
}

/// After the hostile code is disarmed: nothing running or waiting, every
/// call counted once, and the pool's slots all free again.
#[track_caller]
fn assert_clean(pool: &Pool, context: &str) -> Stats {
    let s = pool.stats();
    assert_eq!(
        (s.running, s.waiting, s.nested),
        (0, 0, 0),
        "{context}: {s:?}"
    );
    assert_accounted(&s);
    let size = pool.resize(1);
    assert_eq!(size, 1, "{context}");
    let permit = pool.try_acquire();
    assert!(permit.is_ok(), "{context}: the slot came back: {s:?}");
    drop(permit);
    assert_eq!(pool.run(|| 7), Ok(7), "{context}");
    s
}

/// Runs `every_step` once per point where `shot` can fire, with the pool
/// `build` makes, until a run hits it no more.
fn at_every_point(shot: &OneShot, what: &str, build: impl Fn() -> Pool) {
    quiet_planned_panics();
    for at in 0.. {
        let pool = build();
        shot.arm(at);
        every_step(&pool, shot, what);
        let fired = shot.disarm();
        assert_clean(&pool, &format!("{what} panicking at its hit {at}"));
        if !fired {
            assert!(at > 0, "{what} was never called");
            return;
        }
    }
}

// ---- a clock that panics, goes backwards or jumps ---------------------------

#[derive(Clone, Default)]
struct HostileClock {
    nanos: Arc<AtomicU64>,
    shot: Arc<OneShot>,
}

impl Clock for HostileClock {
    fn now(&self) -> Duration {
        self.shot.hit("the clock");
        // Moves a little on each read, so that the autoscaler has samples due.
        let n = self.nanos.fetch_add(1_000_000, Ordering::SeqCst);
        Duration::from_nanos(n)
    }
}

fn queue_depth(clock: &HostileClock) -> Pool {
    Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(4)
        .autoscale_interval(Duration::from_millis(2))
        .autoscale_window(2)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn adaptive(clock: &HostileClock) -> Pool {
    let settings = AdaptiveSettings {
        window_samples: 1,
        window_time: Duration::from_nanos(1),
        ..AdaptiveSettings::DEFAULT
    };
    Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(4)
        .scale_policy(ScalePolicy::Adaptive(settings))
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Promise: nothing is lost, whatever a user's `Clock` does. Catches: a
/// clock read that unwinds between taking a slot and handing it to the
/// call (or between the call's end and the slot's release, under the pool's
/// lock), leaking the slot forever.
#[test]
fn a_clock_that_panics_at_any_read_loses_no_slot() {
    let clock = HostileClock::default();
    at_every_point(&clock.shot, "a queue-depth pool's clock", || {
        queue_depth(&clock)
    });
    at_every_point(&clock.shot, "an adaptive pool's clock", || adaptive(&clock));
}

/// A clock the test sets.
#[derive(Clone, Default)]
struct SetClock(Arc<AtomicU64>);

impl Clock for SetClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::SeqCst))
    }
}

/// Promise: no panic on bad input, the limit within its bounds. A clock
/// that goes backwards (a user's wall clock) or jumps to the end of its
/// range must not overflow the autoscaler's arithmetic (debug builds panic
/// on overflow) nor take the limit out of `[min, max]`.
#[test]
fn a_clock_that_goes_backwards_or_jumps_to_its_end_keeps_the_limit_in_bounds() {
    for policy in [
        ScalePolicy::QueueDepth,
        ScalePolicy::Adaptive(AdaptiveSettings {
            window_samples: 1,
            window_time: Duration::from_nanos(1),
            ..AdaptiveSettings::DEFAULT
        }),
    ] {
        let clock = SetClock::default();
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .min(1)
            .max(3)
            .autoscale_interval(Duration::from_millis(1))
            .autoscale_window(2)
            .scale_policy(policy)
            .clock(clock.clone())
            .build()
            .unwrap();
        let times = [
            5_000_000_000,
            1,
            u64::MAX,
            0,
            u64::MAX - 1,
            u64::MAX / 2,
            3,
            u64::MAX,
            u64::MAX,
            7,
        ];
        for (i, &t) in times.iter().cycle().take(60).enumerate() {
            clock.0.store(t, Ordering::SeqCst);
            let (hold, open) = gate();
            let mut holder = Task::new(pool.submit(hold));
            let held = holder.poll().is_pending();
            let mut waiter = Task::new(pool.submit_judged(0, async { i }, |_| {
                if i % 3 == 0 {
                    pool_runtime::Verdict::Overload
                } else {
                    pool_runtime::Verdict::Success
                }
            }));
            let waits = waiter.poll().is_pending();
            clock
                .0
                .store(times[(i + 3) % times.len()], Ordering::SeqCst);
            open.store(true, Ordering::SeqCst);
            if held {
                let _ = holder.poll();
            }
            if waits {
                let _ = waiter.poll();
            }
            drop((holder, waiter));
            let size = pool.size();
            assert!((1..=3).contains(&size), "{policy:?} at {t}: {size}");
        }
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_accounted(&s);
    }
}

// ---- a tracing subscriber that panics ----------------------------------------

struct HostileSubscriber {
    shot: Arc<OneShot>,
    /// Which method panics: "new_span", "record", "event", "enter", "exit",
    /// "try_close".
    method: &'static str,
    next: AtomicU64,
}

impl HostileSubscriber {
    fn maybe(&self, method: &str) {
        if method == self.method {
            self.shot.hit(self.method);
        }
    }
}

impl tracing::Subscriber for HostileSubscriber {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        self.maybe("new_span");
        tracing::span::Id::from_u64(self.next.fetch_add(1, Ordering::SeqCst) + 1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {
        self.maybe("record");
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {
        self.maybe("event");
    }
    fn enter(&self, _: &tracing::span::Id) {
        self.maybe("enter");
    }
    fn exit(&self, _: &tracing::span::Id) {
        self.maybe("exit");
    }
    fn try_close(&self, _: tracing::span::Id) -> bool {
        self.maybe("try_close");
        true
    }
}

/// Promise: a subscriber is user code; one that panics is the user's
/// panic, but the pool loses nothing. Catches: a report made between a
/// call's end and its slot's release (the slot leaking when the report
/// unwinds), or a report under the pool's lock. In a process of its own:
/// `tracing` caches a callsite's interest process-wide, and a test thread
/// without a subscriber registering it first would hide it from this one.
#[test]
fn a_tracing_subscriber_that_panics_anywhere_loses_no_slot() {
    in_child_process(
        "a_tracing_subscriber_that_panics_anywhere_loses_no_slot",
        &[],
        every_subscriber_method_panicking,
    );
}

fn every_subscriber_method_panicking() {
    for method in ["new_span", "record", "event", "enter", "exit", "try_close"] {
        let shot = Arc::new(OneShot::default());
        let subscriber = HostileSubscriber {
            shot: shot.clone(),
            method,
            next: AtomicU64::new(0),
        };
        tracing::subscriber::with_default(subscriber, || {
            at_every_point(&shot, &format!("the subscriber's {method}"), || {
                Pool::builder()
                    .name("round8-traced")
                    .size(1)
                    .build()
                    .unwrap()
            });
        });
    }
}

// ---- a metrics recorder whose handles panic ------------------------------------

struct HostileHandle(Arc<OneShot>, &'static str);

impl metrics::CounterFn for HostileHandle {
    fn increment(&self, _: u64) {
        self.0.hit(self.1);
    }
    fn absolute(&self, _: u64) {
        self.0.hit(self.1);
    }
}

impl metrics::GaugeFn for HostileHandle {
    fn increment(&self, _: f64) {
        self.0.hit(self.1);
    }
    fn decrement(&self, _: f64) {
        self.0.hit(self.1);
    }
    fn set(&self, _: f64) {
        self.0.hit(self.1);
    }
}

impl metrics::HistogramFn for HostileHandle {
    fn record(&self, _: f64) {
        self.0.hit(self.1);
    }
}

struct HostileRecorder {
    shot: Arc<OneShot>,
    /// Which handles panic: "counter", "gauge" or "histogram".
    kind: &'static str,
}

impl HostileRecorder {
    fn handle(&self, kind: &'static str) -> Arc<HostileHandle> {
        let shot = if kind == self.kind {
            self.shot.clone()
        } else {
            Arc::new(OneShot::default())
        };
        Arc::new(HostileHandle(shot, kind))
    }
}

impl metrics::Recorder for HostileRecorder {
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
    fn register_counter(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::from_arc(self.handle("counter"))
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::from_arc(self.handle("gauge"))
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::from_arc(self.handle("histogram"))
    }
}

/// Promise: as for a subscriber. Catches: a metric updated between a
/// call's end and its slot's release, or between taking a slot and handing
/// it to the call.
#[test]
fn a_metrics_recorder_whose_handles_panic_loses_no_slot() {
    pool_runtime::observe::time_calls(true);
    for kind in ["counter", "gauge", "histogram"] {
        let shot = Arc::new(OneShot::default());
        let recorder = HostileRecorder {
            shot: shot.clone(),
            kind,
        };
        at_every_point(&shot, &format!("the recorder's {kind}"), || {
            metrics::with_local_recorder(&recorder, || {
                Pool::builder()
                    .name("round8-metered")
                    .size(1)
                    .build()
                    .unwrap()
            })
        });
    }
}

// ---- blocking executors that misbehave ------------------------------------------

/// Runs each job at once, on the caller's own thread, inside `execute`.
struct Inline;
impl BlockingExecutor for Inline {
    fn execute(&self, job: BlockingJob) {
        job();
    }
}

/// Promise: a blocking call holds its slot until its closure ends, the
/// limit holds and nothing is lost, whatever thread the executor runs the
/// job on — even the caller's own, inside the caller's poll (where a nested
/// call from the closure finds the caller's frame).
#[test]
fn an_executor_that_runs_jobs_inline_on_the_callers_thread() {
    quiet_planned_panics();
    within(Duration::from_secs(10), || {
        let pool = Pool::builder()
            .size(1)
            .blocking_executor(Arc::new(Inline))
            .build()
            .unwrap();
        let meter = Meter::default();
        let out = futures::executor::block_on(async {
            let m = meter.clone();
            let p = pool.clone();
            pool.submit_blocking(move || {
                let _inside = m.enter();
                // A nested call from the closure borrows its slot.
                p.run(|| {
                    let _inside = m.enter();
                    5
                })
            })
            .await
        });
        assert_eq!(out, Ok(Ok(5)));
        assert_eq!(
            meter.max(),
            2,
            "the nested call ran under its parent's slot"
        );
        // From inside an async call of the same pool: a nested blocking call.
        let out =
            futures::executor::block_on(pool.submit(async { pool.submit_blocking(|| 6).await }));
        assert_eq!(out, Ok(Ok(6)));
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            futures::executor::block_on(pool.submit_blocking(|| panic!("planned: inline job")))
        }));
        assert!(panicked.is_err());
        let s = assert_clean(&pool, "inline executor");
        assert_eq!(s.panicked, 1, "{s:?}");
    });
}

// ---- work whose `Drop` panics --------------------------------------------------

/// Ready on its first poll (or never, with `ready: false`); its `Drop`
/// panics.
struct PanicsOnDrop {
    ready: bool,
}

impl Future for PanicsOnDrop {
    type Output = u8;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u8> {
        if self.ready {
            Poll::Ready(9)
        } else {
            Poll::Pending
        }
    }
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("planned: the work's drop panics");
        }
    }
}

/// An output whose `Drop` panics.
struct PanickyOutput;
impl Drop for PanickyOutput {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("planned: the output's drop panics");
        }
    }
}

/// Promise: every call counted once, its slot freed, whatever its work's
/// `Drop` does: dropped waiting, dropped running, dropped after it
/// completed (in place, before the slot is handed on).
#[test]
fn work_whose_drop_panics_waiting_running_or_done_loses_nothing() {
    quiet_planned_panics();
    for order in [Order::Fifo, Order::Lifo, Order::Priority] {
        let pool = Pool::builder().size(1).order(order).build().unwrap();
        // Running, then cancelled.
        let mut running = Task::new(pool.submit(PanicsOnDrop { ready: false }));
        running.assert_pending();
        // Waiting, then cancelled.
        let mut waiting = Task::new(pool.submit(PanicsOnDrop { ready: true }));
        waiting.assert_pending();
        assert!(
            quietly(|| drop(waiting)).is_none(),
            "the drop's panic goes on"
        );
        assert!(quietly(|| drop(running)).is_none());
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_eq!((s.cancelled, s.panicked), (1, 1), "{s:?}");
        // Done: the output is ready, then the work is dropped in place.
        let done =
            quietly(|| futures::executor::block_on(pool.submit(PanicsOnDrop { ready: true })));
        assert!(done.is_none(), "the drop's panic reaches the caller");
        // An output whose drop panics is the caller's to drop.
        let out = futures::executor::block_on(pool.submit(async { PanickyOutput }));
        assert!(quietly(|| drop(out)).is_none());
        let out = pool.run(|| PanickyOutput);
        assert!(quietly(|| drop(out)).is_none());
        let s = assert_clean(&pool, &format!("{order:?}"));
        // The running call dropped (its drop panicking) and the done one
        // (its drop panicking after its output was ready) panicked; the
        // waiting one was cancelled; two outputs were returned.
        assert_eq!((s.completed, s.panicked, s.cancelled), (4, 2, 1), "{s:?}");
    }
}

/// Promise: a blocking job whose output's `Drop` panics on the executor's
/// thread (its caller gone) still frees the slot.
#[test]
fn a_blocking_output_dropped_unread_whose_drop_panics_frees_the_slot() {
    quiet_planned_panics();
    within(Duration::from_secs(10), || {
        let pool = Pool::builder().size(1).build().unwrap();
        let started = Arc::new(AtomicBool::new(false));
        let go = Arc::new(AtomicBool::new(false));
        let (s2, g2) = (started.clone(), go.clone());
        let mut call = Task::new(pool.submit_blocking(move || {
            s2.store(true, Ordering::SeqCst);
            while !g2.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            PanickyOutput
        }));
        call.assert_pending();
        while !started.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(call);
        go.store(true, Ordering::SeqCst);
        for _ in 0..2000 {
            if pool.stats().running == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_clean(&pool, "blocking output");
    });
}

// ---- races ----------------------------------------------------------------------

/// What every caller saw, to compare with the pool's counters.
#[derive(Default)]
struct Seen {
    ok: AtomicUsize,
    rejected: AtomicUsize,
    panicked: AtomicUsize,
    /// Dropped by their caller (a timeout) before they answered.
    dropped: AtomicUsize,
}

/// Promise: the limit in force is never exceeded, counted from outside,
/// on every call path at once — sync `run` callers parked on plain threads,
/// async callers on a multi-thread runtime (some cancelled mid-wait or
/// mid-run), blocking calls, permits — while another thread pauses,
/// resumes, moves the waiting bound and the admission timeout (to zero, a
/// nanosecond, none) and resizes between 1 and 3; then a shutdown with a
/// zero deadline lands in the middle. Nothing hangs, every caller gets an
/// answer, and the counters add up to what the callers saw.
#[test]
fn every_call_path_racing_control_operations_and_a_shutdown_keeps_the_limit() {
    quiet_planned_panics();
    within(Duration::from_secs(60), || {
        for order in [Order::Fifo, Order::Lifo, Order::Priority] {
            race_once(order);
        }
    });
}

fn race_once(order: Order) {
    let rt = common::runtime();
    let pool = Pool::builder().size(3).order(order).build().unwrap();
    let meter = Meter::default();
    let seen = Arc::new(Seen::default());
    let stop = Arc::new(AtomicBool::new(false));
    let record = |seen: &Seen, out: std::thread::Result<Result<(), pool_runtime::Rejected>>| {
        match out {
            Ok(Ok(())) => &seen.ok,
            Ok(Err(_)) => &seen.rejected,
            Err(_) => &seen.panicked,
        }
        .fetch_add(1, Ordering::SeqCst);
    };
    let controller = {
        let (pool, stop) = (pool.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let pick = (i / 12 % 3) as usize;
                match i % 12 {
                    0 => pool.pause(),
                    1 => pool.resume(),
                    2 => pool
                        .set_max_waiting([Some(0), Some(2), Some(5)][pick])
                        .unwrap(),
                    3 => pool.set_max_waiting(None).unwrap(),
                    4 => pool.set_admission_timeout(
                        [Some(Duration::ZERO), Some(Duration::from_nanos(1)), None][pick],
                    ),
                    5 => pool.set_admission_timeout(None),
                    6 => {
                        pool.resize(1 + pick);
                    }
                    7 => {
                        pool.scale(isize::MIN);
                        pool.resize(3);
                    }
                    _ => {}
                }
                std::thread::sleep(Duration::from_micros(500));
            }
            pool.resume();
        })
    };
    let sync_callers: Vec<_> = (0..3)
        .map(|t| {
            let (pool, meter, seen) = (pool.clone(), meter.clone(), seen.clone());
            std::thread::spawn(move || {
                for i in 0..40i64 {
                    let m = meter.clone();
                    let out = catch_unwind(AssertUnwindSafe(|| {
                        pool.run_weighted([i64::MIN, 0, i64::MAX][(i % 3) as usize], || {
                            let _inside = m.enter();
                            std::thread::sleep(Duration::from_micros(300));
                            if (i + t) % 13 == 0 {
                                panic!("planned: a sync body panics");
                            }
                        })
                    }));
                    record(&seen, out);
                }
            })
        })
        .collect();
    let tasks: Vec<_> = (0..6u64)
        .map(|t| {
            let (pool, meter, seen) = (pool.clone(), meter.clone(), seen.clone());
            rt.spawn(async move {
                use futures::FutureExt;
                for i in 0..40u64 {
                    let m = meter.clone();
                    let weight = [i64::MAX, i64::MIN, -1, 1][((i + t) % 4) as usize];
                    let body = async move {
                        let _inside = m.enter();
                        tokio::time::sleep(Duration::from_micros(200)).await;
                    };
                    let call: Pin<
                        Box<dyn Future<Output = Result<(), pool_runtime::Rejected>> + Send>,
                    > = match (i + t) % 4 {
                        0 => Box::pin(pool.submit_weighted(weight, body)),
                        1 => {
                            let m = meter.clone();
                            Box::pin(pool.submit_blocking_weighted(weight, move || {
                                let _inside = m.enter();
                                std::thread::sleep(Duration::from_micros(200));
                            }))
                        }
                        2 => {
                            let p = pool.clone();
                            Box::pin(async move {
                                let permit = p.acquire_weighted(weight).await?;
                                body.await;
                                drop(permit);
                                Ok(())
                            })
                        }
                        _ => Box::pin(pool.submit_weighted(weight, body)),
                    };
                    let call = AssertUnwindSafe(call).catch_unwind();
                    if i % 5 == 0 && (i + t) % 4 != 1 {
                        // Cancelled while waiting or while running.
                        match tokio::time::timeout(Duration::from_micros(100 * (i % 3)), call).await
                        {
                            Ok(out) => record(&seen, out),
                            Err(_) => {
                                seen.dropped.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    } else {
                        record(&seen, call.await);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(25));
    // A shutdown with a zero deadline in the middle of it all.
    let _ = rt.block_on(pool.shutdown(Some(Duration::ZERO)));
    for caller in sync_callers {
        caller.join().unwrap();
    }
    rt.block_on(async {
        for task in tasks {
            task.await.unwrap();
        }
    });
    stop.store(true, Ordering::SeqCst);
    controller.join().unwrap();
    rt.block_on(pool.drained());
    let s = pool.stats();
    assert_eq!(
        (s.running, s.waiting, s.nested),
        (0, 0, 0),
        "{order:?}: {s:?}"
    );
    assert_accounted(&s);
    assert_eq!(meter.now(), 0);
    assert!(s.closed);
    assert!(
        meter.max() <= 3,
        "{order:?}: {} bodies at once",
        meter.max()
    );
    let n = |n: &AtomicUsize| n.load(Ordering::SeqCst) as u64;
    assert_eq!(s.submitted(), 3 * 40 + 6 * 40, "{order:?}: {s:?}");
    assert_eq!(s.rejected_total(), n(&seen.rejected), "{order:?}: {s:?}");
    assert_eq!(s.panicked, n(&seen.panicked), "{order:?}: {s:?}");
    assert_eq!(
        s.completed + s.cancelled,
        n(&seen.ok) + n(&seen.panicked) + n(&seen.dropped),
        "{order:?}: {s:?}"
    );
}

// ---- wakers whose drop panics ------------------------------------------------

/// Promise: a waiting call dropped (or re-polled with another waker) loses
/// nothing, whatever its old waker's `Drop` does. Catches: the waker the
/// pool kept dropped under its lock, in the middle of leaving the queue,
/// before the call is counted as cancelled and the `waiting` count is
/// published.
#[test]
fn a_waker_whose_drop_panics_loses_no_waiting_call() {
    static ARMED: AtomicBool = AtomicBool::new(false);
    quiet_planned_panics();
    let bad = common::waker_whose_drop_panics(&ARMED);
    for order in [Order::Fifo, Order::Lifo, Order::Priority] {
        let pool = Pool::builder().size(1).order(order).build().unwrap();
        let held = pool.try_acquire().unwrap();
        // Dropped while waiting.
        let mut call = Box::pin(pool.submit(async { 1 }));
        assert!(call
            .as_mut()
            .poll(&mut Context::from_waker(&bad))
            .is_pending());
        ARMED.store(true, Ordering::SeqCst);
        let _ = quietly(|| drop(call));
        ARMED.store(false, Ordering::SeqCst);
        let s = pool.stats();
        assert_eq!((s.waiting, s.cancelled), (0, 1), "{order:?}: {s:?}");
        assert_accounted(&s);
        // Re-polled with another waker while waiting.
        let mut call = Box::pin(pool.submit(async { 2 }));
        assert!(call
            .as_mut()
            .poll(&mut Context::from_waker(&bad))
            .is_pending());
        ARMED.store(true, Ordering::SeqCst);
        let woken = Arc::new(AtomicUsize::new(0));
        let good = std::task::Waker::from(Arc::new(CountWake(woken.clone())));
        let polled = quietly(|| call.as_mut().poll(&mut Context::from_waker(&good)));
        ARMED.store(false, Ordering::SeqCst);
        // (The replaced waker is dropped outside the pool's lock, its panic
        // caught, as tokio's `AtomicWaker` does: the call waits on.)
        assert!(
            matches!(polled, Some(Poll::Pending)),
            "the old waker's panic is caught and the call waits on"
        );
        assert_eq!(pool.stats().waiting, 1, "{order:?}: still waiting");
        drop(held);
        assert_eq!(
            woken.load(Ordering::SeqCst),
            1,
            "{order:?}: woken through the new waker"
        );
        assert_eq!(
            call.as_mut().poll(&mut Context::from_waker(&good)),
            Poll::Ready(Ok(2))
        );
        drop(call);
        // A waiting sync caller and a timed-out call, for the other paths.
        let s = assert_clean(&pool, &format!("{order:?}"));
        assert_eq!(s.cancelled, 1, "{s:?}");
    }
}

struct CountWake(Arc<AtomicUsize>);
impl std::task::Wake for CountWake {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Promise: admission timeouts keep working in the process, whatever a
/// waker's `Drop` does where the timer keeps it (the crate's timer thread).
/// Catches: the timer thread dying on a panicking drop of a waker it held
/// (a deadline disarmed by an admission, or replaced by a new poll), after
/// which no admission timeout ever fires again (a hang).
#[test]
fn a_waker_whose_drop_panics_does_not_stop_the_timer() {
    in_child_process(
        "a_waker_whose_drop_panics_does_not_stop_the_timer",
        &[],
        || {
            static ARMED: AtomicBool = AtomicBool::new(true);
            quiet_planned_panics();
            let bad = common::waker_whose_drop_panics(&ARMED);
            let pool = Pool::builder()
                .size(1)
                .admission_timeout(Duration::from_millis(30))
                .build()
                .unwrap();
            for round in 0..3 {
                let held = pool.try_acquire().unwrap();
                // Admitted before its deadline: the deadline is disarmed.
                let mut admitted = Box::pin(pool.submit(async { 1 }));
                let _ = quietly(|| admitted.as_mut().poll(&mut Context::from_waker(&bad)));
                // Re-polled with the same waker (the timer keeps a clone).
                let _ = quietly(|| admitted.as_mut().poll(&mut Context::from_waker(&bad)));
                drop(held);
                let out = quietly(|| admitted.as_mut().poll(&mut Context::from_waker(&bad)));
                assert!(
                    matches!(out, None | Some(Poll::Ready(Ok(1)))),
                    "round {round}"
                );
                let _ = quietly(|| drop(admitted));
                // Timed out.
                let held = pool.try_acquire().unwrap();
                let mut timed = Box::pin(pool.submit(async { 2 }));
                let _ = quietly(|| timed.as_mut().poll(&mut Context::from_waker(&bad)));
                std::thread::sleep(Duration::from_millis(100));
                let _ = quietly(|| drop(timed));
                drop(held);
            }
            // A later call that must wait still times out.
            let held = pool.try_acquire().unwrap();
            let p = pool.clone();
            let later = within(Duration::from_secs(5), move || {
                futures::executor::block_on(p.submit(async {}))
            });
            assert_eq!(later, Err(pool_runtime::Rejected::TimedOut));
            drop(held);
            ARMED.store(false, Ordering::SeqCst);
            let s = pool.stats();
            assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
            assert_accounted(&s);
        },
    );
}

// ---- configuration reloads racing calls ----------------------------------------

static RELOADED: pool_runtime::Group = pool_runtime::Group::new(
    pool_runtime::GroupSpec::new("round8::reloaded")
        .size(2)
        .order(Order::Priority),
);
pool_runtime::register_group!(RELOADED);

/// Promise: reloading limits into a live group never lets more calls run
/// than the largest limit in force (here 3), on every call path at once,
/// while the group is also scaled, paused and resumed by hand and the
/// application-wide ceiling comes and goes; nothing hangs and the group's
/// counters add up once it is quiet.
#[test]
fn reloads_racing_calls_on_every_path_keep_the_largest_limit() {
    quiet_planned_panics();
    let _turn = common::config_turn();
    within(Duration::from_secs(60), || {
        let rt = common::runtime();
        let meter = Meter::default();
        let stop = Arc::new(AtomicBool::new(false));
        let texts = [
            "[groups.\"round8::reloaded\"]\nsize = 1\n",
            "[groups.\"round8::reloaded\"]\nsize = 3\nmax_waiting = 2\n",
            "ceiling = 2\n[groups.\"round8::reloaded\"]\nsize = 3\n",
            "[groups.\"round8::reloaded\"]\nsize = 3\nadmission_timeout = \"1ms\"\n",
            "[groups.\"round8::reloaded\"]\nkind = \"autoscale\"\nmin = 1\nmax = 3\n",
            "ceiling = 1\n[groups.\"round8::reloaded\"]\nsize = 3\n",
            "[groups.\"round8::reloaded\"]\nsize = 2\n",
        ];
        let reloader = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut i = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    pool_runtime::config::load_str("round8.toml", texts[i % texts.len()]).unwrap();
                    match i % 5 {
                        0 => {
                            RELOADED.scale(isize::MIN);
                        }
                        1 => {
                            RELOADED.pause();
                            std::thread::sleep(Duration::from_micros(50));
                            RELOADED.resume();
                        }
                        _ => {}
                    }
                    i += 1;
                    std::thread::sleep(Duration::from_micros(700));
                }
                pool_runtime::config::load_str("round8.toml", texts[texts.len() - 1]).unwrap();
                RELOADED.resume();
            })
        };
        let sync_callers: Vec<_> = (0..2)
            .map(|_| {
                let meter = meter.clone();
                std::thread::spawn(move || {
                    for i in 0..60i64 {
                        let _ =
                            RELOADED.run_weighted([i64::MIN, i64::MAX][(i % 2) as usize], || {
                                let _inside = meter.enter();
                                std::thread::sleep(Duration::from_micros(300));
                            });
                    }
                })
            })
            .collect();
        let tasks: Vec<_> = (0..4u64)
            .map(|t| {
                let meter = meter.clone();
                rt.spawn(async move {
                    for i in 0..60u64 {
                        let m = meter.clone();
                        let body = async move {
                            let _inside = m.enter();
                            tokio::time::sleep(Duration::from_micros(300)).await;
                        };
                        match (i + t) % 3 {
                            0 => {
                                let call = RELOADED.submit(i as i64 - 30, body);
                                if i % 4 == 0 {
                                    let _ = tokio::time::timeout(Duration::from_micros(200), call)
                                        .await;
                                } else {
                                    let _ = call.await;
                                }
                            }
                            1 => {
                                let m = meter.clone();
                                let _ = RELOADED
                                    .submit_blocking(0, move || {
                                        let _inside = m.enter();
                                        std::thread::sleep(Duration::from_micros(300));
                                    })
                                    .await;
                            }
                            _ => {
                                if let Ok(permit) = RELOADED.acquire_owned(i64::MAX).await {
                                    body.await;
                                    drop(permit);
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for caller in sync_callers {
            caller.join().unwrap();
        }
        rt.block_on(async {
            for task in tasks {
                task.await.unwrap();
            }
        });
        stop.store(true, Ordering::SeqCst);
        reloader.join().unwrap();
        let s = RELOADED.stats();
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
        assert_accounted(&s);
        // (A call cancelled or turned away while it waited for a ceiling
        // slot never became the group's: the ceiling counts it.)
        assert!(s.submitted() <= 2 * 60 + 4 * 60, "{s:?}");
        assert_eq!(meter.now(), 0);
        assert!(meter.max() <= 3, "{} bodies at once", meter.max());
        assert!(s.completed > 0, "{s:?}");
    });
    pool_runtime::config::clear();
}

/// A clock that says its time is tokio's (or panics when asked), though it
/// is not.
struct ClaimsTokioTime {
    panics: bool,
}

impl Clock for ClaimsTokioTime {
    fn now(&self) -> Duration {
        Duration::ZERO
    }
    fn uses_tokio_time(&self) -> bool {
        if self.panics {
            panic!("planned: uses_tokio_time panics");
        }
        true
    }
}

/// Promise: admission timeouts fire under any executor or none. A user's
/// clock that claims tokio's time (or panics when asked) must not stop a
/// call waiting outside any runtime, or on a runtime without a time
/// driver, from timing out.
#[test]
fn a_clock_claiming_tokio_time_outside_tokio_still_times_out() {
    quiet_planned_panics();
    for panics in [false, true] {
        let pool = Pool::builder()
            .size(1)
            .admission_timeout(Duration::from_millis(10))
            .clock(ClaimsTokioTime { panics })
            .build()
            .unwrap();
        let held = pool.try_acquire().unwrap();
        let p = pool.clone();
        let outside = within(Duration::from_secs(5), move || {
            futures::executor::block_on(p.submit(async {}))
        });
        assert_eq!(outside, Err(pool_runtime::Rejected::TimedOut), "{panics}");
        let p = pool.clone();
        let no_timer = within(Duration::from_secs(5), move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(p.submit(async {}))
        });
        assert_eq!(no_timer, Err(pool_runtime::Rejected::TimedOut), "{panics}");
        let p = pool.clone();
        let sync = within(Duration::from_secs(5), move || p.run(|| ()));
        assert_eq!(sync, Err(pool_runtime::Rejected::TimedOut), "{panics}");
        drop(held);
        assert_clean(&pool, "a clock claiming tokio time");
    }
}

// ---- streams whose items' Drop panics -------------------------------------------

/// Promise: a stream run through a pool and dropped with items running and
/// waiting frees every slot and counts every item, even when the items'
/// `Drop`s panic (each one, not only the first: the others are still
/// dropped and counted).
#[test]
fn a_stream_dropped_with_items_whose_drop_panics_frees_every_slot() {
    use futures::StreamExt;
    use pool_runtime::PooledStreamExt;
    quiet_planned_panics();
    for ordered in [false, true] {
        let pool = Pool::builder().size(3).build().unwrap();
        let items = futures::stream::iter((0..6).map(|_| PanicsOnDrop { ready: false }));
        let mut stream: Pin<Box<dyn futures::Stream<Item = _>>> = if ordered {
            Box::pin(items.pooled_ordered(&pool))
        } else {
            Box::pin(items.pooled_unordered(&pool))
        };
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(stream.poll_next_unpin(&mut cx).is_pending());
        let s = pool.stats();
        assert_eq!(s.running, 3, "{s:?}");
        assert!(
            quietly(|| drop(stream)).is_none(),
            "the drops' panic goes on"
        );
        let s = assert_clean(&pool, &format!("ordered: {ordered}"));
        assert_eq!(s.completed + s.cancelled, s.submitted(), "{s:?}");
    }
}

// ---- a tower inner service that panics -------------------------------------------

/// An inner service whose `poll_ready` or `call` panics when told to.
#[derive(Clone)]
struct Hostile {
    ready_panics: Arc<AtomicBool>,
    call_panics: Arc<AtomicBool>,
}

impl tower::Service<u8> for Hostile {
    type Response = u8;
    type Error = pool_runtime::tower::BoxError;
    type Future = std::future::Ready<Result<u8, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.ready_panics.load(Ordering::SeqCst) {
            panic!("planned: the inner poll_ready panics");
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, n: u8) -> Self::Future {
        if self.call_panics.load(Ordering::SeqCst) {
            panic!("planned: the inner call panics");
        }
        std::future::ready(Ok(n))
    }
}

/// Promise: the layer's reservation is released however the inner service
/// fails: its `poll_ready` panicking with the slot reserved (the service
/// then dropped, or asked again), its `call` panicking with the slot taken.
#[test]
fn an_inner_service_that_panics_in_poll_ready_or_call_frees_the_slot() {
    use pool_runtime::tower::PooledLayer;
    use tower::Layer;
    quiet_planned_panics();
    for weighted in [false, true] {
        let pool = Pool::builder().size(1).build().unwrap();
        let inner = Hostile {
            ready_panics: Arc::new(AtomicBool::new(true)),
            call_panics: Arc::new(AtomicBool::new(false)),
        };
        let layer = PooledLayer::pool(pool.clone());
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut call_once = |ready_panics: bool, call_panics: bool, keep: bool| {
            inner.ready_panics.store(ready_panics, Ordering::SeqCst);
            inner.call_panics.store(call_panics, Ordering::SeqCst);
            let mut service: Box<dyn tower::Service<u8, Response = u8, Error = _, Future = _>> =
                if weighted {
                    Box::new(tower::util::BoxService::new(
                        layer
                            .clone()
                            .weight(|n: &u8| i64::from(*n))
                            .layer(inner.clone()),
                    ))
                } else {
                    Box::new(tower::util::BoxService::new(layer.layer(inner.clone())))
                };
            let ready = quietly(|| service.poll_ready(&mut cx));
            if ready.is_some() {
                let out = quietly(|| service.call(1));
                if let Some(mut fut) = out {
                    let _ = quietly(|| fut.as_mut().poll(&mut cx));
                }
            } else if keep {
                inner.ready_panics.store(false, Ordering::SeqCst);
                let again = quietly(|| service.poll_ready(&mut cx));
                assert!(matches!(again, Some(Poll::Ready(Ok(())))));
                let _ = quietly(|| service.call(2));
            }
            drop(service);
            let s = pool.stats();
            assert_eq!((s.running, s.waiting), (0, 0), "weighted {weighted}: {s:?}");
            assert_accounted(&s);
        };
        call_once(true, false, false);
        call_once(true, false, true);
        call_once(false, true, false);
        call_once(false, false, false);
        assert_clean(&pool, &format!("tower, weighted {weighted}"));
    }
}
