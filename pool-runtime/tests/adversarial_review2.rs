//! Review of round 8's catches: a caught panic must stop where it is
//! caught, whatever its payload is.
#![cfg(all(feature = "tokio", feature = "tracing", feature = "metrics"))]

mod common;

use common::{assert_accounted, in_child_process, quiet_planned_panics, within};
use pool_runtime::{AdaptiveSettings, Clock, Kind, Pool, ScalePolicy};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A panic payload whose own `Drop` panics (once, when it is not already
/// unwinding): dropping the caught payload is a second panic.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("planned: the payload's drop panics");
        }
    }
}

/// A clock that, armed, panics with a [`Bomb`] as its payload.
#[derive(Clone, Default)]
struct BombClock {
    nanos: Arc<AtomicU64>,
    armed: Arc<AtomicBool>,
}

impl Clock for BombClock {
    fn now(&self) -> Duration {
        if self.armed.load(Ordering::SeqCst) {
            std::panic::panic_any(Bomb);
        }
        Duration::from_nanos(self.nanos.fetch_add(1_000_000, Ordering::SeqCst))
    }
}

/// Promise (PoolBuilder::clock): a `now` that panics is caught and costs no
/// slot and no call. Catches: the caught payload dropped inside the catch,
/// so that a payload whose `Drop` panics unwinds through the pool's
/// bookkeeping all the same (the slot of the call whose clock read it was
/// stays taken, and the next call waits for good).
#[test]
fn a_clock_panic_whose_payload_panics_on_drop_loses_no_slot() {
    quiet_planned_panics();
    within(Duration::from_millis(1500), || {
        let clock = BombClock::default();
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .min(1)
            .max(1)
            .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings {
                window_samples: 1,
                window_time: Duration::from_nanos(1),
                ..AdaptiveSettings::DEFAULT
            }))
            .clock(clock.clone())
            .build()
            .unwrap();
        clock.armed.store(true, Ordering::SeqCst);
        let out = catch_unwind(AssertUnwindSafe(|| pool.run(|| 1)));
        clock.armed.store(false, Ordering::SeqCst);
        let s = pool.stats();
        assert!(out.is_ok(), "the clock's panic reached the caller: {s:?}");
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_accounted(&s);
        assert!(pool.try_acquire().is_ok(), "the slot came back: {s:?}");
    });
}

/// A counter that, armed, panics with a [`Bomb`] as its payload.
struct BombCounter(Arc<AtomicBool>);

impl metrics::CounterFn for BombCounter {
    fn increment(&self, _: u64) {
        if self.0.load(Ordering::SeqCst) {
            std::panic::panic_any(Bomb);
        }
    }
    fn absolute(&self, _: u64) {}
}

impl metrics::GaugeFn for BombCounter {
    fn increment(&self, _: f64) {
        if self.0.load(Ordering::SeqCst) {
            std::panic::panic_any(Bomb);
        }
    }
    fn decrement(&self, _: f64) {}
    fn set(&self, _: f64) {}
}

struct BombRecorder(Arc<AtomicBool>);

impl metrics::Recorder for BombRecorder {
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
        metrics::Counter::from_arc(Arc::new(BombCounter(self.0.clone())))
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::from_arc(Arc::new(BombCounter(self.0.clone())))
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

/// Promise (observe): a panicking report loses itself, never a slot or a
/// count. Catches: the same payload drop in `obs::caught`, after the
/// `running` gauge or the outcome counter (between taking a slot and
/// handing it over, between a call's end and the slot's release).
#[test]
fn a_recorder_panic_whose_payload_panics_on_drop_loses_no_slot() {
    quiet_planned_panics();
    within(Duration::from_millis(1500), || {
        let armed = Arc::new(AtomicBool::new(false));
        let recorder = BombRecorder(armed.clone());
        let pool = metrics::with_local_recorder(&recorder, || {
            Pool::builder()
                .name("review2-bomb")
                .size(1)
                .build()
                .unwrap()
        });
        armed.store(true, Ordering::SeqCst);
        let out = catch_unwind(AssertUnwindSafe(|| pool.run(|| 1)));
        armed.store(false, Ordering::SeqCst);
        let s = pool.stats();
        assert!(
            out.is_ok(),
            "the recorder's panic reached the caller: {s:?}"
        );
        assert_eq!((s.running, s.waiting, s.completed), (0, 0, 1), "{s:?}");
        assert_accounted(&s);
        assert!(pool.try_acquire().is_ok(), "the slot came back: {s:?}");
    });
}

/// A waker whose `Drop`, armed, panics with a [`Bomb`] as its payload.
fn waker_with_bomb_drop(armed: &'static AtomicBool) -> std::task::Waker {
    use std::task::{RawWaker, RawWakerVTable, Waker};
    fn vtable() -> &'static RawWakerVTable {
        &RawWakerVTable::new(clone, noop, noop, drop)
    }
    unsafe fn clone(data: *const ()) -> RawWaker {
        RawWaker::new(data, vtable())
    }
    unsafe fn noop(_: *const ()) {}
    unsafe fn drop(data: *const ()) {
        let armed = unsafe { &*(data as *const AtomicBool) };
        if armed.load(Ordering::SeqCst) && !std::thread::panicking() {
            std::panic::panic_any(Bomb);
        }
    }
    unsafe {
        Waker::from_raw(RawWaker::new(
            armed as *const AtomicBool as *const (),
            vtable(),
        ))
    }
}

/// Promise (d6c0415): a waiting call dropped loses nothing, whatever its
/// waker's `Drop` does; the waker's panic is caught after the call is
/// counted. Catches: the caught payload dropped inside the catch, its panic
/// reaching the caller (and, while unwinding, aborting).
#[test]
fn a_waker_drop_panic_whose_payload_panics_on_drop_stays_caught() {
    static ARMED: AtomicBool = AtomicBool::new(false);
    quiet_planned_panics();
    let bad = waker_with_bomb_drop(&ARMED);
    let pool = Pool::builder().size(1).build().unwrap();
    let held = pool.try_acquire().unwrap();
    let mut call = Box::pin(pool.submit(async { 1 }));
    assert!(call
        .as_mut()
        .poll(&mut std::task::Context::from_waker(&bad))
        .is_pending());
    ARMED.store(true, Ordering::SeqCst);
    let out = catch_unwind(AssertUnwindSafe(|| drop(call)));
    ARMED.store(false, Ordering::SeqCst);
    let s = pool.stats();
    assert!(out.is_ok(), "the waker's panic reached the caller: {s:?}");
    assert_eq!((s.waiting, s.cancelled), (0, 1), "{s:?}");
    assert_accounted(&s);
    drop(held);
}

/// Work that completes at once and whose `Drop` may panic; it counts the
/// polls it gets after it was dropped (its fields are `'static` references
/// or plain values, so nothing of it is freed by the drop).
struct Finite {
    dropped: &'static AtomicBool,
    polled_after_drop: &'static std::sync::atomic::AtomicUsize,
    drop_panics: bool,
}

impl Future for Finite {
    type Output = u32;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<u32> {
        if self.dropped.load(Ordering::SeqCst) {
            self.polled_after_drop.fetch_add(1, Ordering::SeqCst);
        }
        std::task::Poll::Ready(1)
    }
}

impl Drop for Finite {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
        if self.drop_panics {
            panic!("planned: the work's drop panics");
        }
    }
}

/// Promise (a894d34, and `Future`'s own contract that safe code cannot
/// cause undefined behaviour): a call whose completed work's `Drop`
/// panicked counts as panicked, once. Catches: the call polled
/// again after that panic (by a caller that caught it, as
/// `FutureExt::catch_unwind` or a task harness does) found its slot still
/// held and polled the work it had already dropped in place — a use after
/// drop.
#[test]
fn a_call_polled_again_after_a_panic_past_its_work_does_not_poll_the_dropped_work() {
    static DROPPED: AtomicBool = AtomicBool::new(false);
    static AFTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    quiet_planned_panics();
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    for (what, drop_panics) in [("the work's drop panicked", true), ("it completed", false)] {
        DROPPED.store(false, Ordering::SeqCst);
        let pool = Pool::builder().size(1).build().unwrap();
        let work = Finite {
            dropped: &DROPPED,
            polled_after_drop: &AFTER,
            drop_panics,
        };
        // `submit`'s future is the pool's own (`submit_judged` is an `async
        // fn` around it, which refuses a poll after a panic itself).
        let mut call = Box::pin(pool.submit(work));
        let first = catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(&mut cx)));
        assert_eq!(first.is_err(), drop_panics, "{what}");
        let _ = catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(&mut cx)));
        assert_eq!(
            AFTER.load(Ordering::SeqCst),
            0,
            "{what}: the dropped work was polled"
        );
        drop(call);
        let s = pool.stats();
        let panicked = u64::from(drop_panics);
        assert_eq!(
            (s.running, s.completed, s.panicked, s.cancelled),
            (0, 1, panicked, 0),
            "{what}: {s:?}"
        );
        assert_accounted(&s);
        assert!(
            pool.try_acquire().is_ok(),
            "{what}: the slot came back: {s:?}"
        );
    }
}

/// A clock that never moves (what `Caught` reads a clock that panics at
/// every read as).
#[derive(Clone)]
struct Frozen(Duration);

impl Clock for Frozen {
    fn now(&self) -> Duration {
        self.0
    }
}

/// Promise (PoolBuilder::clock): a clock that stands still costs no slot
/// and no call, and the limit stays within its bounds. Catches: the
/// adaptive policy dividing by a window of no time or a latency of zero
/// (a NaN limit read as 0 slots).
#[test]
fn a_clock_standing_still_keeps_an_adaptive_pool_answering_within_its_bounds() {
    within(Duration::from_millis(1500), || {
        for at in [Duration::ZERO, Duration::from_secs(5)] {
            let pool = Pool::builder()
                .kind(Kind::Autoscale)
                .min(2)
                .max(8)
                .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings {
                    window_samples: 1,
                    window_time: Duration::from_nanos(1),
                    ..AdaptiveSettings::DEFAULT
                }))
                .clock(Frozen(at))
                .build()
                .unwrap();
            for i in 0..300u32 {
                let verdict = if i % 4 == 0 {
                    pool_runtime::Verdict::Overload
                } else {
                    pool_runtime::Verdict::Success
                };
                let out =
                    futures::executor::block_on(pool.submit_judged(0, async { i }, |_| verdict));
                assert_eq!(out, Ok(i), "{at:?}: call {i}: {:?}", pool.stats());
                let size = pool.size();
                assert!((2..=8).contains(&size), "{at:?}: call {i}: size {size}");
            }
            assert_accounted(&pool.stats());
        }
    });
}

/// A layer (over the registry, which keeps the spans) that, armed, panics
/// when a span closes.
struct CloseBomb(Arc<AtomicBool>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CloseBomb {
    fn on_close(&self, _: tracing::span::Id, _: tracing_subscriber::layer::Context<'_, S>) {
        if self.0.load(Ordering::SeqCst) && !std::thread::panicking() {
            panic!("planned: the subscriber's close panics");
        }
    }
}

/// Keeps the jobs it is given, for the test to run.
#[derive(Default)]
struct Deferred(std::sync::Mutex<Vec<pool_runtime::BlockingJob>>);

impl pool_runtime::BlockingExecutor for Deferred {
    fn execute(&self, job: pool_runtime::BlockingJob) {
        self.0.lock().unwrap().push(job);
    }
}

/// Promise (observe): a subscriber that panics while the pool closes a
/// span loses that report and nothing else. Catches: a blocking call made
/// inside a span carries a handle of that span to the executor's thread
/// and closes it there after the job, outside every catch: when that
/// handle is the span's last (the caller moved on), the job's output was
/// lost and the caller got the subscriber's panic instead.
#[test]
fn a_blocking_call_inside_a_span_whose_close_panics_still_returns_its_output() {
    in_child_process(
        "a_blocking_call_inside_a_span_whose_close_panics_still_returns_its_output",
        &[],
        || {
            use tracing_subscriber::layer::SubscriberExt;
            quiet_planned_panics();
            let armed = Arc::new(AtomicBool::new(false));
            let subscriber = tracing_subscriber::registry().with(CloseBomb(armed.clone()));
            tracing::subscriber::with_default(subscriber, || {
                let executor = Arc::new(Deferred::default());
                let pool = Pool::builder()
                    .size(1)
                    .blocking_executor(executor.clone())
                    .build()
                    .unwrap();
                let waker = futures::task::noop_waker();
                let mut cx = std::task::Context::from_waker(&waker);
                let mut call = {
                    let outer = tracing::info_span!("outer");
                    let _entered = outer.enter();
                    let mut call = Box::pin(pool.submit_blocking(|| 3));
                    assert!(call.as_mut().poll(&mut cx).is_pending());
                    call
                };
                let job = executor.0.lock().unwrap().pop().expect("the job");
                armed.store(true, Ordering::SeqCst);
                job();
                armed.store(false, Ordering::SeqCst);
                let out = catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(&mut cx)));
                let s = pool.stats();
                assert!(
                    matches!(out, Ok(std::task::Poll::Ready(Ok(3)))),
                    "the output was lost to the subscriber's panic: {s:?}"
                );
                assert_eq!((s.running, s.completed, s.panicked), (0, 1, 0), "{s:?}");
                assert_accounted(&s);
            });
        },
    );
}

/// Promise (d6c0415, README): a call dropped while it waits leaves the
/// queue at once and is counted cancelled, whatever its waker's `Drop`
/// does. Catches: a call waiting under an admission timeout keeps a clone
/// of its waker in its deadline's timer entry, which the call's `Drop`
/// released first, outside any catch: a panic there left `Acquire::drop`
/// before the call left the queue, so its node stayed linked in memory
/// that was then freed (waiting: 1 for good; the next release would hand
/// the slot to freed memory).
#[test]
fn a_timed_waiting_call_dropped_with_a_waker_whose_drop_panics_leaves_the_queue() {
    quiet_planned_panics();
    // The crate's timer thread.
    timed_waiting_call_dropped(Pool::builder());
    // Tokio's timer (a tokio clock inside a runtime with time).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _inside = runtime.enter();
    timed_waiting_call_dropped(Pool::builder().clock(pool_runtime::TokioClock::new()));
}

fn timed_waiting_call_dropped(builder: pool_runtime::PoolBuilder) {
    static ARMED: AtomicBool = AtomicBool::new(false);
    let bad = common::waker_whose_drop_panics(&ARMED);
    let pool = builder
        .size(1)
        .admission_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let held = pool.try_acquire().unwrap();
    let mut call = Box::pin(pool.submit(async { 1 }));
    assert!(call
        .as_mut()
        .poll(&mut std::task::Context::from_waker(&bad))
        .is_pending());
    ARMED.store(true, Ordering::SeqCst);
    let _ = catch_unwind(AssertUnwindSafe(|| drop(call)));
    ARMED.store(false, Ordering::SeqCst);
    let s = pool.stats();
    if (s.waiting, s.cancelled) != (0, 1) {
        // The queue may point into freed memory: touch nothing more.
        std::mem::forget(held);
        std::mem::forget(pool);
        panic!("the dropped call is still in the queue: {s:?}");
    }
    assert_accounted(&s);
    drop(held);
    assert_eq!(pool.run(|| 2), Ok(2));
}

/// Pending at its first poll; its `Drop` panics while `armed`.
struct PendingThenDropPanics(&'static AtomicBool);

impl Future for PendingThenDropPanics {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Pending
    }
}

impl Drop for PendingThenDropPanics {
    fn drop(&mut self) {
        if self.0.load(Ordering::SeqCst) && !std::thread::panicking() {
            panic!("planned: the cancelled work's drop panics");
        }
    }
}

static UNDER_CEILING: pool_runtime::Group =
    pool_runtime::Group::new(pool_runtime::GroupSpec::new("review2::under_ceiling").size(2));

/// Promise (a894d34, README: a work whose `Drop` panics loses nothing):
/// a group call cancelled while it runs under the application's ceiling
/// frees its ceiling slot even if its work's `Drop` panics. Catches:
/// `Ceilinged::drop_gated` dropped the work, then the ceiling's gate, in
/// one function body: the work's panic skipped the gate, whose ceiling
/// slot stayed taken for good (the next group call waited forever).
#[test]
fn a_group_call_under_the_ceiling_whose_work_drop_panics_frees_its_ceiling_slot() {
    in_child_process(
        "a_group_call_under_the_ceiling_whose_work_drop_panics_frees_its_ceiling_slot",
        &[(b"POOLED_CEILING", b"1")],
        || {
            static ARMED: AtomicBool = AtomicBool::new(false);
            quiet_planned_panics();
            let waker = futures::task::noop_waker();
            let mut cx = std::task::Context::from_waker(&waker);
            let mut call = Box::pin(UNDER_CEILING.submit(0, PendingThenDropPanics(&ARMED)));
            assert!(call.as_mut().poll(&mut cx).is_pending());
            assert_eq!(pool_runtime::ceiling::limit(), Some(1));
            ARMED.store(true, Ordering::SeqCst);
            let dropped = catch_unwind(AssertUnwindSafe(|| drop(call)));
            ARMED.store(false, Ordering::SeqCst);
            assert!(dropped.is_err(), "the work's panic reaches the dropper");
            let ceiling = pool_runtime::ceiling::stats().unwrap();
            assert_eq!(ceiling.running, 0, "the ceiling slot leaked: {ceiling:?}");
            assert_accounted(&ceiling);
            let group = UNDER_CEILING.stats();
            assert_eq!(group.running, 0, "{group:?}");
            assert_accounted(&group);
            assert_eq!(
                within(Duration::from_secs(1), || UNDER_CEILING.run(|| 7)),
                Ok(7)
            );
        },
    );
}

/// Pending for ever; counts its drops.
struct PendingCountsDrop(&'static std::sync::atomic::AtomicUsize);

impl Future for PendingCountsDrop {
    type Output = u32;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<u32> {
        std::task::Poll::Pending
    }
}

impl Drop for PendingCountsDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A value whose `Drop` panics while `armed` (captured by a judge).
struct PanicsOnDrop(&'static AtomicBool);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if self.0.load(Ordering::SeqCst) && !std::thread::panicking() {
            panic!("planned: the judge's drop panics");
        }
    }
}

/// Promise (Submit's cancel safety, a894d34's "work whose Drop panics loses
/// nothing"): a call dropped while it runs drops its work — whatever it
/// owns (a connection, a buffer) — before its slot is handed on. Catches:
/// `Guarded`'s drop dropped the judge first and the work after it in one
/// body: a judge whose `Drop` panicked skipped the work's drop, which was
/// then never dropped at all (its resources leaked for good).
#[test]
fn a_running_call_whose_judges_drop_panics_still_drops_its_work() {
    static ARMED: AtomicBool = AtomicBool::new(false);
    static DROPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    quiet_planned_panics();
    let pool = Pool::builder().size(1).build().unwrap();
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let bomb = PanicsOnDrop(&ARMED);
    let mut call = Box::pin(pool.submit_judged(0, PendingCountsDrop(&DROPS), move |_| {
        let _keep = &bomb;
        pool_runtime::Verdict::Success
    }));
    assert!(call.as_mut().poll(&mut cx).is_pending());
    ARMED.store(true, Ordering::SeqCst);
    let _ = catch_unwind(AssertUnwindSafe(|| drop(call)));
    ARMED.store(false, Ordering::SeqCst);
    assert_eq!(
        DROPS.load(Ordering::SeqCst),
        1,
        "the work was never dropped"
    );
    let s = pool.stats();
    assert_eq!(s.running, 0, "{s:?}");
    assert_accounted(&s);
}
