//! Hostile acceptance tests, round 16: user code the pool calls (a waker's
//! `clone` and `wake`, a `Clock`, a tracing subscriber) that calls back into
//! the same pool; a pooled stream polled again after one of its items
//! panicked; every call form dropped after its n-th poll. Each test names
//! the promise it attacks (the limit, nothing hangs, nothing is lost, bad
//! input an error value). Concurrency is counted from outside the library;
//! every wait is bounded only to turn a hang into a failure.
#![cfg(all(feature = "tokio", feature = "stream", feature = "tracing"))]

mod common;

use common::{assert_accounted, quiet_planned_panics, within, Meter, Task};
use futures::stream::Stream;
use futures::StreamExt;
use pool_runtime::{AdaptiveSettings, Clock, Kind, Order, Pool, PooledStreamExt, ScalePolicy};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(20);

fn noop_cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

// ---- user code calling back into the pool ----------------------------------

/// What a re-entrant waker does when cloned: reads the pool's settings
/// through its getters (a waker that logs the pool's state, say).
struct ReadsPool {
    pool: Pool,
    armed: AtomicBool,
    clones: AtomicUsize,
}

/// A waker whose `clone` reads `hook.pool`'s getters while armed. Waking
/// and dropping do nothing.
fn waker_whose_clone_reads_the_pool(hook: &'static ReadsPool) -> Waker {
    fn vtable() -> &'static RawWakerVTable {
        &RawWakerVTable::new(clone, noop, noop, noop)
    }
    unsafe fn clone(data: *const ()) -> RawWaker {
        let hook = unsafe { &*(data as *const ReadsPool) };
        if hook.armed.load(SeqCst) {
            hook.clones.fetch_add(1, SeqCst);
            // Getters only: `stats` (lock-free) and `max_waiting`.
            let _ = hook.pool.stats();
            let _ = hook.pool.max_waiting();
            let _ = hook.pool.admission_timeout();
        }
        RawWaker::new(data, vtable())
    }
    unsafe fn noop(_: *const ()) {}
    unsafe {
        Waker::from_raw(RawWaker::new(
            hook as *const ReadsPool as *const (),
            vtable(),
        ))
    }
}

/// Promise: nothing hangs, whatever a waker does; the README (Lock order):
/// "A pool's own lock is never held while a waker, a judge or user code
/// runs" (a waker's `clone` is the executor's code). Attack: a waiting call polled again with a new waker (a task
/// moved to another executor, `select!` re-polling) whose `clone` reads
/// the same pool's getters. Catches: the new waker cloned under the pool's
/// lock, so that a getter that takes the lock deadlocks the caller.
#[test]
fn a_waiting_call_repolled_with_a_waker_whose_clone_reads_the_pool_does_not_deadlock() {
    let pool = Pool::fixed(1);
    let hook: &'static ReadsPool = Box::leak(Box::new(ReadsPool {
        pool: pool.clone(),
        armed: AtomicBool::new(false),
        clones: AtomicUsize::new(0),
    }));
    let stats = within(Duration::from_secs(10), move || {
        let held = pool.try_acquire().unwrap();
        let mut call = Box::pin(pool.submit(async { 7 }));
        // First poll with another waker: the call queues.
        assert!(call.as_mut().poll(&mut noop_cx()).is_pending());
        hook.armed.store(true, SeqCst);
        let waker = waker_whose_clone_reads_the_pool(hook);
        // Second poll with a waker that does not `will_wake` the first.
        assert!(call
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        drop(held);
        assert_eq!(call.as_mut().poll(&mut noop_cx()), Poll::Ready(Ok(7)));
        pool.stats()
    });
    assert!(hook.clones.load(SeqCst) > 0, "the waker was cloned");
    assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
    assert_accounted(&stats);
}

/// The same attack on the first poll (the waker cloned by `enqueue`), the
/// path the core's docs say clones "before any state changes": a control
/// that the attack above is not impossible by construction.
#[test]
fn a_waiting_call_first_polled_with_a_waker_whose_clone_reads_the_pool_does_not_deadlock() {
    let pool = Pool::fixed(1);
    let hook: &'static ReadsPool = Box::leak(Box::new(ReadsPool {
        pool: pool.clone(),
        armed: AtomicBool::new(true),
        clones: AtomicUsize::new(0),
    }));
    let stats = within(Duration::from_secs(10), move || {
        let held = pool.try_acquire().unwrap();
        let waker = waker_whose_clone_reads_the_pool(hook);
        let mut call = Box::pin(pool.submit(async { 7 }));
        assert!(call
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        drop(held);
        assert_eq!(
            call.as_mut().poll(&mut Context::from_waker(&waker)),
            Poll::Ready(Ok(7))
        );
        pool.stats()
    });
    assert!(hook.clones.load(SeqCst) > 0, "the waker was cloned");
    assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
    assert_accounted(&stats);
}

/// A clock that, once armed, reads the pool it times (its getters) on
/// every reading: a clock that logs the pool's state, say.
struct ClockReadingPool {
    pool: Arc<OnceLock<Pool>>,
    reads: Arc<AtomicUsize>,
}

impl Clock for ClockReadingPool {
    fn now(&self) -> Duration {
        if let Some(pool) = self.pool.get() {
            self.reads.fetch_add(1, SeqCst);
            let _ = pool.max_waiting();
            let _ = pool.stats();
        }
        common_clock_now()
    }
}

fn common_clock_now() -> Duration {
    pool_runtime::SystemClock.now()
}

/// Promise: nothing hangs, whatever a user's `Clock` does; the README (Lock
/// order): "A pool's own lock is never held while a waker, a judge or user
/// code runs" (a `Clock` given to `PoolBuilder::clock` is user code; the
/// trait's docs forbid nothing). Attack: an
/// adaptive pool (which reads its clock when a call ends) and an
/// autoscaled one whose clock reads the pool's getters. Catches: the clock
/// read under the pool's lock (the adaptive release, the autoscaler's
/// sample), so that a getter taking the lock deadlocks the call's end.
#[test]
fn an_adaptive_pools_clock_that_reads_the_pool_does_not_deadlock_a_release() {
    clock_reading_the_pool(ScalePolicy::Adaptive(AdaptiveSettings {
        window_samples: 1,
        window_time: Duration::from_nanos(1),
        ..AdaptiveSettings::DEFAULT
    }));
}

/// As above, for the queue-depth autoscaler (its samples).
#[test]
fn an_autoscaled_pools_clock_that_reads_the_pool_does_not_deadlock_a_release() {
    clock_reading_the_pool(ScalePolicy::QueueDepth);
}

fn clock_reading_the_pool(policy: ScalePolicy) {
    let cell = Arc::new(OnceLock::new());
    let reads = Arc::new(AtomicUsize::new(0));
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(4)
        .autoscale_interval(Duration::from_millis(1))
        .autoscale_window(1)
        .scale_policy(policy)
        .clock(ClockReadingPool {
            pool: cell.clone(),
            reads: reads.clone(),
        })
        .build()
        .unwrap();
    cell.set(pool.clone()).unwrap();
    let stats = within(Duration::from_secs(10), move || {
        for i in 0..20 {
            // A waiter makes every release take the locked path.
            let held = pool.try_acquire();
            let mut waiting = Task::new(pool.submit(async move { i }));
            let first = waiting.poll();
            // A locked release (a call waits), which samples the clock.
            let size = pool.size();
            drop(held);
            // The waiting call, handed the slot (if it waited), runs now:
            // this thread must not block on the pool while it holds it.
            if first.is_pending() {
                let second = waiting.poll();
                assert!(
                    matches!(second, Poll::Ready(Ok(_))),
                    "{i}: {second:?} size {size} -> {} {:?}",
                    pool.size(),
                    pool.stats()
                );
            }
            assert_eq!(pool.run(|| i), Ok(i));
            std::thread::sleep(Duration::from_millis(2));
        }
        pool.stats()
    });
    assert!(reads.load(SeqCst) > 0, "{policy:?}: the clock was read");
    assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
    assert_accounted(&stats);
}

/// What a re-entrant waker does when woken: signals the thread that polls
/// the woken call, then makes a sync call into the same pool (a waker of an
/// executor that runs ready work inline, say).
struct WakeRunsCall {
    pool: Pool,
    meter: Meter,
    woken: std::sync::Mutex<Option<std::thread::Thread>>,
    inline_runs: AtomicUsize,
}

impl std::task::Wake for WakeRunsCall {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(thread) = self.woken.lock().unwrap().as_ref() {
            thread.unpark();
        }
        let meter = self.meter.clone();
        let _ = self.pool.run(|| {
            let _inside = meter.enter();
            self.inline_runs.fetch_add(1, SeqCst);
            std::thread::sleep(Duration::from_millis(30));
        });
    }
}

/// Promise: no more than the limit runs at once on every call path, and
/// nothing hangs. Attack: a waiting call's waker that, woken by the release
/// that hands it the slot (a call ending, a permit dropped, a resize, a
/// scale), makes a sync call into the same pool on the releasing thread
/// while the woken call starts on its own thread. Catches: the waker's call
/// taken for a nested call of the releasing call (running inline, beyond
/// the limit), or woken under the lock (a deadlock). Bodies counted by one
/// `Meter` across both threads.
#[test]
fn a_waker_that_makes_a_sync_call_into_the_pool_when_woken_keeps_the_limit() {
    for release in [
        "call ends",
        "permit dropped",
        "resize",
        "scale",
        "permit in work",
    ] {
        let pool = Pool::fixed(1);
        let meter = Meter::default();
        let hook = Arc::new(WakeRunsCall {
            pool: pool.clone(),
            meter: meter.clone(),
            woken: std::sync::Mutex::new(None),
            inline_runs: AtomicUsize::new(0),
        });
        let p = pool.clone();
        let m = meter.clone();
        let h = hook.clone();
        within(BOUND, move || {
            let (pool, meter, hook) = (p, m, h);
            // What holds the only slot until the release under test.
            let (end_tx, end_rx) = std::sync::mpsc::channel::<()>();
            let mut running = None;
            let held = match release {
                "resize" | "scale" => {
                    pool.resize(0);
                    None
                }
                "call ends" => {
                    let p = pool.clone();
                    let meter = meter.clone();
                    running = Some(std::thread::spawn(move || {
                        p.run(|| {
                            let _inside = meter.enter();
                            end_rx.recv().unwrap();
                        })
                        .unwrap();
                    }));
                    while pool.stats().running == 0 {
                        std::thread::yield_now();
                    }
                    None
                }
                _ => Some(pool.try_acquire_owned(0).unwrap()),
            };
            // The waiting call, polled on a thread of its own with the
            // re-entrant waker.
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let waiter = {
                let pool = pool.clone();
                let meter = meter.clone();
                let hook = hook.clone();
                std::thread::spawn(move || {
                    *hook.woken.lock().unwrap() = Some(std::thread::current());
                    let waker = Waker::from(hook.clone());
                    let meter2 = meter.clone();
                    let mut call = Box::pin(pool.submit(async move {
                        let _inside = meter2.enter();
                        std::thread::sleep(Duration::from_millis(30));
                    }));
                    let mut cx = Context::from_waker(&waker);
                    let mut first = true;
                    loop {
                        if call.as_mut().poll(&mut cx).is_ready() {
                            break;
                        }
                        if std::mem::take(&mut first) {
                            ready_tx.send(()).unwrap();
                        }
                        std::thread::park_timeout(Duration::from_millis(50));
                    }
                })
            };
            ready_rx.recv().unwrap();
            match release {
                "call ends" => {
                    end_tx.send(()).unwrap();
                    running.take().unwrap().join().unwrap();
                }
                "permit dropped" => drop(held),
                "resize" => {
                    pool.resize(1);
                }
                "scale" => {
                    pool.scale(1);
                }
                "permit in work" => {
                    // The permit is dropped from inside another pool's
                    // call's work (a frame of some call on this thread).
                    let other = Pool::fixed(1);
                    let held = held.unwrap();
                    futures::executor::block_on(other.submit(async move { drop(held) })).unwrap();
                }
                _ => unreachable!(),
            }
            waiter.join().unwrap();
        });
        assert!(hook.inline_runs.load(SeqCst) >= 1, "{release}: woken");
        assert_eq!(meter.max(), 1, "{release}: more than the limit at once");
        let s = pool.stats();
        assert_eq!(
            (s.running, s.waiting, s.nested),
            (0, 0, 0),
            "{release}: {s:?}"
        );
        assert_accounted(&s);
    }
}

/// Promise: no more than the limit at once, also for a call made from a
/// waker woken *inside* a call's work of the same pool: the docs' nested
/// rule lets such a call borrow the running call's slot, so the waker's
/// call and the woken call together may not exceed the limit plus the
/// borrowing. Attack: a call of a full pool (size 1) drops, from inside
/// its work, an owned permit of the same pool whose release wakes a
/// waiting call's re-entrant waker; the waker makes a sync call that runs
/// as a nested call of the running call (under its slot), while the woken
/// call starts on its own thread. Counted: the bodies that hold a slot of
/// their own (the running call's and the woken call's); the nested body is
/// the running call's (it runs inside it, on its thread).
#[test]
fn a_waker_woken_inside_a_calls_work_borrows_that_calls_slot_only() {
    let pool = Pool::fixed(2);
    let meter = Meter::default();
    let hook = Arc::new(WakeRunsCall {
        pool: pool.clone(),
        meter: Meter::default(), // the nested body: counted apart
        woken: std::sync::Mutex::new(None),
        inline_runs: AtomicUsize::new(0),
    });
    let (p, m, h) = (pool.clone(), meter.clone(), hook.clone());
    within(BOUND, move || {
        let (pool, meter, hook) = (p, m, h);
        let permit = pool.try_acquire_owned(0).unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        // The running call: holds the other slot, counted.
        let runner = {
            let pool = pool.clone();
            let meter = meter.clone();
            std::thread::spawn(move || {
                futures::executor::block_on(pool.submit(async move {
                    let _inside = meter.enter();
                    go_rx.recv().unwrap();
                    drop(permit);
                    std::thread::sleep(Duration::from_millis(40));
                }))
                .unwrap();
            })
        };
        while pool.stats().running < 2 {
            std::thread::yield_now();
        }
        let waiter = {
            let pool = pool.clone();
            let meter = meter.clone();
            let hook = hook.clone();
            std::thread::spawn(move || {
                *hook.woken.lock().unwrap() = Some(std::thread::current());
                let waker = Waker::from(hook.clone());
                let m = meter.clone();
                let mut call = Box::pin(pool.submit(async move {
                    let _inside = m.enter();
                    std::thread::sleep(Duration::from_millis(40));
                }));
                let mut cx = Context::from_waker(&waker);
                let mut first = true;
                while call.as_mut().poll(&mut cx).is_pending() {
                    if std::mem::take(&mut first) {
                        ready_tx.send(()).unwrap();
                    }
                    std::thread::park_timeout(Duration::from_millis(50));
                }
            })
        };
        ready_rx.recv().unwrap();
        go_tx.send(()).unwrap();
        runner.join().unwrap();
        waiter.join().unwrap();
    });
    assert!(hook.inline_runs.load(SeqCst) >= 1, "the waker's call ran");
    assert!(
        meter.max() <= 2,
        "more than the limit at once: {}",
        meter.max()
    );
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
    assert_accounted(&s);
}

// ---- a tracing subscriber calling back into the pool ----------------------

/// A subscriber that, for every event and every closed span, makes a sync
/// call into `pool` (an exporter that ships telemetry through a pooled
/// client, say), counting its bodies with `meter`.
struct ExportsThroughPool {
    pool: Pool,
    meter: Meter,
    exports: AtomicUsize,
    inner: tracing_subscriber::Registry,
}

impl ExportsThroughPool {
    fn export(&self) {
        thread_local! {
            static EXPORTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }
        if EXPORTING.with(|e| e.replace(true)) {
            return; // the export's own span and events are not exported
        }
        self.exports.fetch_add(1, SeqCst);
        let meter = self.meter.clone();
        let _ = self.pool.run(move || {
            let _inside = meter.enter();
            std::thread::sleep(Duration::from_millis(1));
        });
        EXPORTING.with(|e| e.set(false));
    }
}

impl tracing::Subscriber for ExportsThroughPool {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        self.inner.new_span(span)
    }
    fn record(&self, span: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        self.inner.record(span, values)
    }
    fn record_follows_from(&self, span: &tracing::span::Id, follows: &tracing::span::Id) {
        self.inner.record_follows_from(span, follows)
    }
    fn event(&self, event: &tracing::Event<'_>) {
        self.inner.event(event);
        self.export();
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
        if closed {
            self.export();
        }
        closed
    }
}

/// Promise: the limit holds and nothing hangs on every call path, with
/// feature `tracing` and any subscriber. Attack: a subscriber whose
/// `event` and span close make a sync call into the very pool that is
/// reporting (rejections, limit changes and each call's span end), while
/// threads submit, time out, get rejected and resize. Catches: a report
/// made under the pool's lock (deadlock), or while the ending call's frame
/// still lends its slot, so that the export runs beyond the limit. The
/// export bodies and the callers' bodies share one `Meter`.
#[test]
fn a_subscriber_that_exports_through_the_pool_it_observes_keeps_the_limit() {
    let pool = Pool::builder()
        .size(2)
        .max_waiting(2)
        .admission_timeout(Duration::from_millis(5))
        .build()
        .unwrap();
    let meter = Meter::default();
    let subscriber = Arc::new(ExportsThroughPool {
        pool: pool.clone(),
        meter: meter.clone(),
        exports: AtomicUsize::new(0),
        inner: tracing_subscriber::Registry::default(),
    });
    let (p, m, s) = (pool.clone(), meter.clone(), subscriber.clone());
    within(Duration::from_secs(30), move || {
        let dispatch = tracing::Dispatch::from(s);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (pool, meter, dispatch) = (p.clone(), m.clone(), dispatch.clone());
                std::thread::spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        for i in 0..40 {
                            let meter = meter.clone();
                            match (t + i) % 4 {
                                0 => {
                                    let _ = pool.run(|| {
                                        let _inside = meter.enter();
                                        std::thread::sleep(Duration::from_millis(1));
                                    });
                                }
                                1 => {
                                    let _ = futures::executor::block_on(pool.submit(async move {
                                        let _inside = meter.enter();
                                        std::thread::sleep(Duration::from_millis(2));
                                    }));
                                }
                                2 if t == 0 => {
                                    pool.resize(1 + i % 3);
                                    pool.resize(2);
                                }
                                _ => {
                                    let _ = futures::executor::block_on(pool.submit_blocking(
                                        move || {
                                            let _inside = meter.enter();
                                            std::thread::sleep(Duration::from_millis(1));
                                        },
                                    ));
                                }
                            }
                        }
                    })
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
    assert!(
        subscriber.exports.load(SeqCst) > 0,
        "the subscriber exported"
    );
    // The largest limit in force was 3 (resize(1 + i % 3)).
    assert!(
        meter.max() <= 3,
        "more than the limit at once: {}",
        meter.max()
    );
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
    assert_accounted(&s);
}

// ---- streams polled again after a panic -------------------------------------

/// An item that is pending on its first poll (waking itself) and then
/// ready, or panics when `n == boom`.
fn item(n: usize, boom: usize) -> impl Future<Output = usize> {
    let mut first = true;
    std::future::poll_fn(move |cx| {
        if std::mem::take(&mut first) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if n == boom {
            panic!("planned: an item of a pooled stream panics");
        }
        Poll::Ready(n)
    })
}

/// Polls `stream` with a noop waker until it ends, catching the panics of
/// its `poll_next`; gives up after `polls` polls. Returns the items, the
/// panics caught, and whether the stream ended.
fn drain_catching<S: Stream + ?Sized>(
    mut stream: Pin<&mut S>,
    polls: usize,
) -> (Vec<S::Item>, usize, bool) {
    let (mut items, mut panics) = (Vec::new(), 0);
    for _ in 0..polls {
        match catch_unwind(AssertUnwindSafe(|| {
            stream.as_mut().poll_next(&mut noop_cx())
        })) {
            Ok(Poll::Ready(Some(item))) => items.push(item),
            Ok(Poll::Ready(None)) => return (items, panics, true),
            Ok(Poll::Pending) => {}
            Err(_) => panics += 1,
        }
    }
    (items, panics, false)
}

/// Promise: nothing hangs and nothing is lost; the adapters are "like
/// `buffer_unordered`" / "as `buffered` does", whose `FuturesUnordered`
/// drops a future that panicked and goes on. Attack: one item of a pooled
/// stream panics; the consumer catches the panic (`catch_unwind` around the
/// poll, as a server catching per-request panics does) and polls the
/// stream again. Catches: the panicked call left in the adapter's set,
/// counted as in flight forever, so that the stream never ends (a consumer
/// awaiting its end hangs) — and an ordered stream that waits forever for
/// the panicked item's place.
#[test]
fn a_pooled_stream_polled_again_after_an_items_panic_ends() {
    quiet_planned_panics();
    let mut broken = Vec::new();
    for ordered in [false, true] {
        let pool = Pool::fixed(2);
        let items = futures::stream::iter(0..6).map(|n| item(n, 2));
        let (outs, panics, ended) = if ordered {
            let mut s = Box::pin(items.pooled_ordered(&pool));
            drain_catching(s.as_mut(), 200)
        } else {
            let mut s = Box::pin(items.pooled_unordered(&pool));
            drain_catching(s.as_mut(), 200)
        };
        let s = pool.stats();
        assert_eq!(
            panics, 1,
            "ordered {ordered}: the panic reached the poller once"
        );
        assert_eq!((s.running, s.waiting), (0, 0), "ordered {ordered}: {s:?}");
        assert_accounted(&s);
        assert_eq!(s.panicked, 1, "ordered {ordered}: {s:?}");
        if !ended || outs.len() != 5 {
            broken.push(format!(
                "ordered {ordered}: ended {ended}, {} of the 5 other items: {outs:?}",
                outs.len()
            ));
        }
    }
    assert!(
        broken.is_empty(),
        "the stream never ended after the panic: {broken:#?}"
    );
}

/// The panicked stream, dropped instead of polled again: a control that
/// the adapter's slots and counts are right after the panic (so that the
/// hang above is the set's bookkeeping only).
#[test]
fn a_pooled_stream_dropped_after_an_items_panic_frees_everything() {
    quiet_planned_panics();
    for ordered in [false, true] {
        let pool = Pool::fixed(2);
        let items = futures::stream::iter(0..6).map(|n| item(n, 1));
        let panicked = if ordered {
            let mut s = Box::pin(items.pooled_ordered(&pool));
            let (_, panics, _) = drain_catching(s.as_mut(), 3);
            panics
        } else {
            let mut s = Box::pin(items.pooled_unordered(&pool));
            let (_, panics, _) = drain_catching(s.as_mut(), 3);
            panics
        };
        assert_eq!(panicked, 1, "ordered {ordered}");
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "ordered {ordered}: {s:?}");
        assert_accounted(&s);
        assert!(pool.try_acquire().is_ok());
    }
}

// ---- every call form dropped after its n-th poll -----------------------------

/// Work that stays pending for `steps` polls (waking itself each time),
/// counted by `meter` while polled at least once.
fn steps(meter: Meter, steps: usize) -> impl Future<Output = usize> {
    let mut left = steps;
    let mut inside = None;
    std::future::poll_fn(move |cx| {
        inside.get_or_insert_with(|| meter.enter());
        if left == 0 {
            inside = None;
            return Poll::Ready(steps);
        }
        left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

type Call<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

/// Every async call form of `pool`, as a future saying whether it was
/// admitted (its work ran to its end).
fn call_forms<'a>(
    pool: &'a Pool,
    meter: &Meter,
    work_steps: usize,
) -> Vec<(&'static str, Call<'a>)> {
    let m = || meter.clone();
    vec![
        (
            "submit",
            Box::pin({
                let w = steps(m(), work_steps);
                async move { pool.submit(w).await.is_ok() }
            }) as Call<'a>,
        ),
        (
            "submit_weighted",
            Box::pin({
                let w = steps(m(), work_steps);
                async move { pool.submit_weighted(-3, w).await.is_ok() }
            }),
        ),
        (
            "submit_judged",
            Box::pin({
                let w = steps(m(), work_steps);
                async move {
                    pool.submit_judged(2, w, |_| pool_runtime::Verdict::Success)
                        .await
                        .is_ok()
                }
            }),
        ),
        (
            "acquire",
            Box::pin({
                let w = steps(m(), work_steps);
                async move {
                    match pool.acquire().await {
                        Ok(permit) => {
                            w.await;
                            drop(permit);
                            true
                        }
                        Err(_) => false,
                    }
                }
            }),
        ),
        (
            "acquire_owned",
            Box::pin({
                let w = steps(m(), work_steps);
                async move {
                    match pool.acquire_owned(5).await {
                        Ok(permit) => {
                            w.await;
                            drop(permit);
                            true
                        }
                        Err(_) => false,
                    }
                }
            }),
        ),
        (
            "submit_blocking",
            Box::pin({
                let meter = m();
                async move {
                    pool.submit_blocking(move || {
                        let _inside = meter.enter();
                        std::thread::sleep(Duration::from_millis(2));
                    })
                    .await
                    .is_ok()
                }
            }),
        ),
    ]
}

/// Promise: nothing is lost and no slot leaks, whatever poll a call is
/// dropped after (`Pool`'s cancel safety); the limit holds meanwhile.
/// Attack: on pools of each order, two slots, one slot held by a permit;
/// every async call form, with work that takes several polls, dropped
/// after its 0th, 1st, ... 6th poll while two other calls compete, and
/// the permit dropped at a varying point. Catches: a drop at one particular
/// await (between admission and the first poll of the work, mid-work, just
/// after the work ended) that keeps a slot, leaves a node queued, or
/// counts the call twice or never.
#[test]
fn every_call_form_dropped_after_each_poll_loses_nothing() {
    let orders = [Order::Fifo, Order::Lifo, Order::Priority];
    for order in orders {
        for form in 0..6 {
            for drop_after in 0..7 {
                for release_at in 0..3 {
                    let pool = Pool::builder().order(order).size(2).build().unwrap();
                    let meter = Meter::default();
                    let label = {
                        let forms = call_forms(&pool, &meter, 0);
                        forms[form].0
                    };
                    let ctx = format!("{order:?} {label} dropped after {drop_after} polls, permit released at {release_at}");
                    let mut held = Some(pool.try_acquire().unwrap());
                    let mut forms = call_forms(&pool, &meter, 3);
                    let (_, victim) = forms.remove(form);
                    let mut others: Vec<_> = forms
                        .into_iter()
                        .take(2)
                        .map(|(_, f)| Task::new(f))
                        .collect();
                    let mut victim = Task::new(victim);
                    let mut outs: Vec<Option<bool>> = vec![None; others.len()];
                    let mut victim_done = false;
                    for poll in 0..drop_after {
                        if poll == release_at {
                            held = None;
                        }
                        if !victim_done {
                            victim_done = victim.poll().is_ready();
                        }
                        for (o, out) in others.iter_mut().zip(outs.iter_mut()) {
                            if out.is_none() {
                                if let Poll::Ready(v) = o.poll() {
                                    *out = Some(v);
                                }
                            }
                        }
                        assert!(meter.now() + usize::from(held.is_some()) <= 2, "{ctx}");
                    }
                    drop(victim);
                    drop(held);
                    // The others finish on their own (blocking jobs on threads).
                    let started = std::time::Instant::now();
                    while outs.iter().any(Option::is_none) {
                        for (o, out) in others.iter_mut().zip(outs.iter_mut()) {
                            if out.is_none() {
                                if let Poll::Ready(v) = o.poll() {
                                    *out = Some(v);
                                }
                            }
                        }
                        assert!(meter.now() <= 2, "{ctx}");
                        assert!(
                            started.elapsed() < BOUND,
                            "{ctx}: the others hang: {:?}",
                            pool.stats()
                        );
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    assert!(outs.iter().all(|o| *o == Some(true)), "{ctx}: {outs:?}");
                    // Blocking jobs of a dropped call release on their thread.
                    while pool.stats().running > 0 && started.elapsed() < BOUND {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    let s = pool.stats();
                    assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{ctx}: {s:?}");
                    assert_accounted(&s);
                    assert!(meter.max() <= 2, "{ctx}");
                    assert_eq!(meter.now(), 0, "{ctx}");
                    assert_eq!(
                        pool.try_acquire().map(drop).map_err(|e| e.to_string()),
                        Ok(()),
                        "{ctx}"
                    );
                }
            }
        }
    }
}

// ---- a logger that ships through a pooled group -------------------------------

#[cfg(feature = "config")]
static APP: pool_runtime::Group =
    pool_runtime::Group::new(pool_runtime::GroupSpec::new("adv16::app").size(2));
#[cfg(feature = "config")]
static SHIPPER: pool_runtime::Group =
    pool_runtime::Group::new(pool_runtime::GroupSpec::new("adv16::log_shipper").size(1));
#[cfg(feature = "config")]
pool_runtime::register_group!(APP);
#[cfg(feature = "config")]
pool_runtime::register_group!(SHIPPER);

/// A logger that ships each record through the `SHIPPER` group (a log
/// shipper over a `#[pooled]` HTTP client), counting what it shipped; or,
/// with `READS_SETTINGS` set, one that only reads the groups' settings
/// (`pool_runtime::groups()`, to tag the record), which the README says
/// may race a group's first use.
#[cfg(feature = "config")]
struct ShippingLogger(AtomicUsize);

#[cfg(feature = "config")]
static READS_SETTINGS: AtomicBool = AtomicBool::new(false);

#[cfg(feature = "config")]
impl log::Log for ShippingLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, _record: &log::Record<'_>) {
        thread_local! {
            static SHIPPING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }
        if SHIPPING.with(|s| s.replace(true)) {
            return;
        }
        if READS_SETTINGS.load(SeqCst) {
            if !pool_runtime::groups().is_empty() {
                self.0.fetch_add(1, SeqCst);
            }
        } else if SHIPPER.run(|| ()).is_ok() {
            self.0.fetch_add(1, SeqCst);
        }
        SHIPPING.with(|s| s.set(false));
    }
    fn flush(&self) {}
}

/// Promise: nothing hangs. The README: "A `POOLED_*` variable that does not
/// end in a setting's name (`POOLED_DB_URL`) is ignored with a warning
/// through the `log` facade". Attack: a process whose environment has
/// `POOLED_DB_URL` (an application's own variable, as the README's example
/// says) and whose logger ships records through a pooled group; the first
/// call of any group reads the environment and warns. Catches: the warning
/// logged while the configuration lock is held (`config::current`, inside
/// `with_effective` at a group's first use), so that the logger's call of
/// a group not started yet takes that lock again on the same thread and
/// the process's first pooled call never returns.
#[cfg(feature = "config")]
#[test]
fn a_logger_shipping_through_a_group_does_not_deadlock_the_first_pooled_call() {
    crate::common::in_own_process(
        "a_logger_shipping_through_a_group_does_not_deadlock_the_first_pooled_call",
        &[("POOLED_DB_URL", "postgres://db")],
        || {
            let logger: &'static ShippingLogger =
                Box::leak(Box::new(ShippingLogger(AtomicUsize::new(0))));
            log::set_logger(logger).unwrap();
            log::set_max_level(log::LevelFilter::Warn);
            let out = within(Duration::from_secs(10), || APP.run(|| 1));
            assert_eq!(out, Ok(1));
            assert!(logger.0.load(SeqCst) >= 1, "the warning was shipped");
            let s = APP.pool().stats();
            assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
            assert_accounted(&s);
        },
    );
}

/// Promise: the README's "Lock order, so that reading settings
/// (`Group::settings()`, `pooled::groups()`) can race a reload or a group's
/// first use without deadlock ... A pool's own lock is never held while a
/// waker, a judge or user code runs, nor is the configuration lock".
/// Attack: as above, with a logger that only reads `groups()` when the
/// first use warns about `POOLED_DB_URL`. Catches: the same warning logged
/// under the configuration lock, which `groups()` (the settings of a group
/// not started yet) takes again.
#[cfg(feature = "config")]
#[test]
fn a_logger_reading_settings_does_not_deadlock_the_first_pooled_call() {
    crate::common::in_own_process(
        "a_logger_reading_settings_does_not_deadlock_the_first_pooled_call",
        &[("POOLED_DB_URL", "postgres://db")],
        || {
            READS_SETTINGS.store(true, SeqCst);
            let logger: &'static ShippingLogger =
                Box::leak(Box::new(ShippingLogger(AtomicUsize::new(0))));
            log::set_logger(logger).unwrap();
            log::set_max_level(log::LevelFilter::Warn);
            let out = within(Duration::from_secs(10), || APP.run(|| 1));
            assert_eq!(out, Ok(1));
            assert!(logger.0.load(SeqCst) >= 1, "the logger read the settings");
        },
    );
}

/// The control: the same logger and first call without the stray variable
/// (no warning at first use) ship nothing and return at once — the hang
/// above is the warning's, under the lock.
#[cfg(feature = "config")]
#[test]
fn a_logger_shipping_through_a_group_with_nothing_to_warn_about_returns() {
    crate::common::in_own_process(
        "a_logger_shipping_through_a_group_with_nothing_to_warn_about_returns",
        &[],
        || {
            let logger: &'static ShippingLogger =
                Box::leak(Box::new(ShippingLogger(AtomicUsize::new(0))));
            log::set_logger(logger).unwrap();
            log::set_max_level(log::LevelFilter::Warn);
            let out = within(Duration::from_secs(10), || APP.run(|| 1));
            assert_eq!(out, Ok(1));
            // A warning logged *after* the first use ships fine.
            log::warn!("after the first use");
            assert!(logger.0.load(SeqCst) >= 1, "shipped after the first use");
        },
    );
}

/// Promise: nothing hangs; a load's bad input is an error value. Attack:
/// `config::load_env_from` given `POOLED_DB_URL` (warned about, not an
/// error) while the logger ships through a group that has not started yet
/// (its first use happens inside the warning). Catches: the load's warning
/// logged under the configuration lock, as at a group's first use above.
#[cfg(feature = "config")]
#[test]
fn a_load_warning_shipped_through_a_group_not_started_does_not_deadlock() {
    crate::common::in_own_process(
        "a_load_warning_shipped_through_a_group_not_started_does_not_deadlock",
        &[],
        || {
            let logger: &'static ShippingLogger =
                Box::leak(Box::new(ShippingLogger(AtomicUsize::new(0))));
            log::set_logger(logger).unwrap();
            log::set_max_level(log::LevelFilter::Warn);
            let loaded = within(Duration::from_secs(10), || {
                pool_runtime::config::load_env_from(common::vars(&[
                    ("POOLED_DB_URL", "postgres://db"),
                    ("POOLED_ADV16__APP_SIZE", "3"),
                ]))
                .map(|_| ())
                .map_err(|e| e.to_string())
            });
            assert_eq!(loaded, Ok(()));
            assert!(logger.0.load(SeqCst) >= 1, "the warning was shipped");
            assert_eq!(APP.settings().size, Some(3));
            assert_eq!(within(Duration::from_secs(10), || APP.run(|| 1)), Ok(1));
        },
    );
}

/// A subscriber that ships each event through the `SHIPPER` group (an
/// exporter over a `#[pooled]` client), counting what it shipped.
#[cfg(feature = "config")]
struct ShippingSubscriber {
    shipped: Arc<AtomicUsize>,
    inner: tracing_subscriber::Registry,
}

#[cfg(feature = "config")]
impl tracing::Subscriber for ShippingSubscriber {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        self.inner.new_span(span)
    }
    fn record(&self, span: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        self.inner.record(span, values)
    }
    fn record_follows_from(&self, span: &tracing::span::Id, follows: &tracing::span::Id) {
        self.inner.record_follows_from(span, follows)
    }
    fn event(&self, _event: &tracing::Event<'_>) {
        thread_local! {
            static SHIPPING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }
        if SHIPPING.with(|s| s.replace(true)) {
            return;
        }
        if READS_SETTINGS.load(SeqCst) {
            if !pool_runtime::groups().is_empty() {
                self.shipped.fetch_add(1, SeqCst);
            }
        } else if SHIPPER.run(|| ()).is_ok() {
            self.shipped.fetch_add(1, SeqCst);
        }
        SHIPPING.with(|s| s.set(false));
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
        self.inner.try_close(id)
    }
}

/// Promise: nothing hangs, with feature `tracing` and any subscriber (the
/// README: "limit changes (old → new, and why: ... reload ...)" are events).
/// Attack: a process started with `POOLED_CEILING` set and a subscriber that
/// ships events through a pooled group; the first call of any group reads
/// the environment and sets the ceiling. Catches: the ceiling's limit
/// change reported while the configuration lock is held (`config::current`
/// calls `ceiling::set` under it), so that the subscriber's call of a group
/// not started yet takes that lock again and the process's first pooled
/// call never returns.
#[cfg(feature = "config")]
#[test]
fn a_subscriber_shipping_through_a_group_does_not_deadlock_the_first_pooled_call() {
    crate::common::in_own_process(
        "a_subscriber_shipping_through_a_group_does_not_deadlock_the_first_pooled_call",
        &[("POOLED_CEILING", "8")],
        || {
            let shipped = Arc::new(AtomicUsize::new(0));
            tracing::subscriber::set_global_default(ShippingSubscriber {
                shipped: shipped.clone(),
                inner: tracing_subscriber::Registry::default(),
            })
            .unwrap();
            let out = within(Duration::from_secs(10), || APP.run(|| 1));
            assert_eq!(out, Ok(1));
            let s = APP.pool().stats();
            assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
            assert_accounted(&s);
        },
    );
}

/// Promise: the README's "its reports to `tracing` and `metrics` may read
/// settings" and "reading settings (`Group::settings()`,
/// `pooled::groups()`) can race ... a group's first use without deadlock".
/// Attack: as above, with a subscriber that only reads `groups()` for each
/// event. Catches: the ceiling's limit change reported under the
/// configuration lock at a group's first use.
#[cfg(feature = "config")]
#[test]
fn a_subscriber_reading_settings_does_not_deadlock_the_first_pooled_call() {
    crate::common::in_own_process(
        "a_subscriber_reading_settings_does_not_deadlock_the_first_pooled_call",
        &[("POOLED_CEILING", "8")],
        || {
            READS_SETTINGS.store(true, SeqCst);
            let shipped = Arc::new(AtomicUsize::new(0));
            tracing::subscriber::set_global_default(ShippingSubscriber {
                shipped: shipped.clone(),
                inner: tracing_subscriber::Registry::default(),
            })
            .unwrap();
            let out = within(Duration::from_secs(10), || APP.run(|| 1));
            assert_eq!(out, Ok(1));
            assert!(
                shipped.load(SeqCst) >= 1,
                "the subscriber read the settings"
            );
        },
    );
}

/// The control: the same subscriber without `POOLED_CEILING` (no limit
/// change at first use) lets the first call return, and ships events the
/// pool reports afterwards (a resize).
#[cfg(feature = "config")]
#[test]
fn a_subscriber_shipping_through_a_group_without_a_ceiling_returns() {
    crate::common::in_own_process(
        "a_subscriber_shipping_through_a_group_without_a_ceiling_returns",
        &[],
        || {
            let shipped = Arc::new(AtomicUsize::new(0));
            tracing::subscriber::set_global_default(ShippingSubscriber {
                shipped: shipped.clone(),
                inner: tracing_subscriber::Registry::default(),
            })
            .unwrap();
            let out = within(Duration::from_secs(10), || {
                let out = APP.run(|| 1);
                APP.resize(3);
                out
            });
            assert_eq!(out, Ok(1));
            assert!(shipped.load(SeqCst) >= 1, "the resize was shipped");
        },
    );
}

// ---- wakers that steer the pool when woken ------------------------------------

/// A waker that, when woken, first runs a control operation on the pool
/// (chosen by a shared counter), then unparks the thread polling its call.
struct SteeringWaker {
    pool: Pool,
    thread: std::thread::Thread,
    turn: Arc<AtomicUsize>,
}

std::thread_local! {
    /// This thread is the keeper of `wakers_that_resize_pause_and_call_the_pool_when_woken_lose_nothing`.
    static KEEPER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl std::task::Wake for SteeringWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let turn = self.turn.fetch_add(1, SeqCst);
        match turn % 9 {
            0 => {
                self.pool.resize(turn % 4);
            }
            1 => {
                // Paused while it wakes the others of a batch.
                self.pool.pause();
                std::thread::yield_now();
                self.pool.resume();
            }
            2 => {
                self.pool.scale(-1);
            }
            3 => {
                let _ = self.pool.set_max_waiting(Some(3 + turn % 4));
            }
            4 => {
                let _ = self.pool.set_max_waiting(None);
            }
            5 => self
                .pool
                .set_admission_timeout(Some(Duration::from_millis(1 + (turn % 3) as u64))),
            6 => self.pool.set_admission_timeout(None),
            // A sync call from the waker, on the releasing thread — not on
            // the keeper's: a `run` that waits there (the pool resized to 0
            // by another wake, no admission timeout) would wait for the
            // very thread that sizes the pool back up (the test's own
            // deadlock, ~1 run in 15, not the pool's).
            7 if !KEEPER.get() => {
                let _ = self.pool.run(|| ());
            }
            _ => {
                let _ = self.pool.try_acquire();
            }
        }
        self.thread.unpark();
    }
}

/// Promise: no more than the limit at once (a shrink lets running calls
/// finish, so never more than the largest limit set: 3 here), nothing hangs,
/// nothing is lost. Attack: every waiting call's waker steers the pool when
/// woken — resizes (0 to 3) and scales down, pauses and resumes, moves the waiting bound and
/// the admission timeout, makes a sync call or takes a permit — so that the
/// pool's own release, hand-off, timeout and resize paths run user code
/// that changes the very state they are walking, from eight threads at
/// once. A keeper thread resizes to 2 and resumes now and then, so that
/// every call can end. Catches: a batch of wakes handing slots by a limit
/// the first wake changed, a waiter woken for a slot a pause or a shrink
/// took back and never woken again, a count lost on a path re-entered.
#[test]
fn wakers_that_resize_pause_and_call_the_pool_when_woken_lose_nothing() {
    let pool = Pool::builder().size(2).build().unwrap();
    let meter = Meter::default();
    let turn = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let (p, m, t, d) = (pool.clone(), meter.clone(), turn.clone(), done.clone());
    let outcomes = within(Duration::from_secs(60), move || {
        let keeper = {
            let (pool, done) = (p.clone(), d.clone());
            std::thread::spawn(move || {
                KEEPER.set(true);
                while !done.load(SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                    pool.resize(2);
                    pool.resume();
                }
            })
        };
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (pool, meter, turn) = (p.clone(), m.clone(), t.clone());
                std::thread::spawn(move || {
                    let waker = Waker::from(Arc::new(SteeringWaker {
                        pool: pool.clone(),
                        thread: std::thread::current(),
                        turn,
                    }));
                    let mut cx = Context::from_waker(&waker);
                    let (mut ok, mut rejected) = (0, 0);
                    while ok < 40 && ok + rejected < 4000 {
                        let m = meter.clone();
                        let mut call = Box::pin(pool.submit(async move {
                            let _inside = m.enter();
                            std::thread::sleep(Duration::from_micros(300));
                        }));
                        loop {
                            match call.as_mut().poll(&mut cx) {
                                Poll::Ready(Ok(())) => ok += 1,
                                Poll::Ready(Err(_)) => {
                                    rejected += 1;
                                    std::thread::sleep(Duration::from_micros(500));
                                }
                                Poll::Pending => {
                                    std::thread::park_timeout(Duration::from_millis(20));
                                    continue;
                                }
                            }
                            break;
                        }
                    }
                    (ok, rejected)
                })
            })
            .collect();
        let outcomes: Vec<(u32, u32)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        d.store(true, SeqCst);
        keeper.join().unwrap();
        outcomes
    });
    let ok: u32 = outcomes.iter().map(|o| o.0).sum();
    assert!(outcomes.iter().all(|o| o.0 == 40), "{outcomes:?}");
    assert!(turn.load(SeqCst) > 0, "the wakers were woken");
    assert!(
        meter.max() <= 3,
        "more than the largest limit at once: {}",
        meter.max()
    );
    assert_eq!(meter.now(), 0);
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
    assert_accounted(&s);
    assert!(s.completed >= u64::from(ok), "{s:?}");
    eprintln!(
        "{outcomes:?} turns {} max {} {s:?}",
        turn.load(SeqCst),
        meter.max()
    );
}

// ---- work whose Drop steers its own pool ---------------------------------------

/// Work that is pending until `open`, then ready; its `Drop` reads and
/// steers the pool it was submitted to (a guard inside the work that
/// records the pool's state, or gives back capacity, when it goes).
struct SteersOnDrop {
    pool: Pool,
    open: Arc<AtomicBool>,
    dropped: Arc<AtomicUsize>,
}

impl Future for SteersOnDrop {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.open.load(SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for SteersOnDrop {
    fn drop(&mut self) {
        let _ = self.pool.max_waiting();
        let _ = self.pool.set_max_waiting(Some(8));
        self.pool
            .set_admission_timeout(Some(Duration::from_secs(30)));
        let size = self.pool.size();
        self.pool.resize(size);
        let _ = self.pool.try_acquire();
        self.dropped.fetch_add(1, SeqCst);
    }
}

/// Promise: nothing hangs, nothing is lost. Attack: a call's work whose
/// `Drop` reads the pool's settings and calls its setters and `try_acquire`,
/// dropped on each way a call ends: cancelled while waiting, rejected at
/// once (paused, closed, full), rejected while waiting (admission timeout,
/// abort, shutdown past its deadline), cancelled after admission, and after
/// completing. Catches: work dropped while the pool's lock is held (a
/// rejection or an abort that drops the rejected calls' work in place).
#[test]
fn work_whose_drop_steers_its_own_pool_is_dropped_outside_the_pools_lock() {
    let ends = [
        "cancelled waiting",
        "paused",
        "closed",
        "full",
        "timed out",
        "aborted",
        "shutdown deadline",
        "cancelled running",
        "completed",
    ];
    for end in ends {
        let dropped = Arc::new(AtomicUsize::new(0));
        let d = dropped.clone();
        let stats = within(Duration::from_secs(10), move || {
            let pool = Pool::builder().size(1).max_waiting(1).build().unwrap();
            let open = Arc::new(AtomicBool::new(false));
            let work = || SteersOnDrop {
                pool: pool.clone(),
                open: open.clone(),
                dropped: d.clone(),
            };
            let held = pool.try_acquire_owned(0).unwrap();
            match end {
                "cancelled waiting" => {
                    let mut call = Task::new(pool.submit(work()));
                    call.assert_pending();
                    drop(call);
                }
                "paused" | "closed" => {
                    if end == "paused" {
                        pool.pause();
                    } else {
                        pool.close();
                    }
                    let mut call = Task::new(pool.submit(work()));
                    assert!(call.assert_ready().is_err());
                    pool.resume();
                }
                "full" => {
                    let mut first = Task::new(pool.submit(work()));
                    first.assert_pending();
                    let mut second = Task::new(pool.submit(work()));
                    assert!(second.assert_ready().is_err());
                    drop(first);
                }
                "timed out" => {
                    pool.set_admission_timeout(Some(Duration::from_millis(5)));
                    let out = futures::executor::block_on(pool.submit(work()));
                    assert!(out.is_err());
                }
                "aborted" => {
                    let mut call = Task::new(pool.submit(work()));
                    call.assert_pending();
                    pool.abort();
                    assert!(call.assert_ready().is_err());
                }
                "shutdown deadline" => {
                    let mut call = Task::new(pool.submit(work()));
                    call.assert_pending();
                    let out =
                        futures::executor::block_on(pool.shutdown(Some(Duration::from_millis(5))));
                    assert!(out.is_err());
                    let _ = call.poll();
                }
                "cancelled running" | "completed" => {
                    drop(held);
                    let mut call = Task::new(pool.submit(work()));
                    call.assert_pending();
                    if end == "completed" {
                        open.store(true, SeqCst);
                        assert!(call.assert_ready().is_ok());
                    }
                    drop(call);
                    return pool.stats();
                }
                _ => unreachable!(),
            }
            drop(held);
            pool.stats()
        });
        assert!(dropped.load(SeqCst) >= 1, "{end}: the work was dropped");
        assert_eq!((stats.running, stats.waiting), (0, 0), "{end}: {stats:?}");
        assert_accounted(&stats);
    }
}

// ---- calls made while a call's work unwinds ------------------------------------

/// A guard whose `Drop` — run while its call's work unwinds from a panic —
/// makes a sync call into the same pool (a guard that logs or cleans up
/// through a pooled client), counted by `meter`.
struct CallsOnUnwind {
    pool: Pool,
    meter: Meter,
    ran: Arc<AtomicUsize>,
}

impl Drop for CallsOnUnwind {
    fn drop(&mut self) {
        let meter = self.meter.clone();
        let ran = self.ran.clone();
        let out = self.pool.run(move || {
            let _inside = meter.enter();
            ran.fetch_add(1, SeqCst);
        });
        assert_eq!(out, Ok(()), "the cleanup call was turned away");
    }
}

/// Promise: nested calls never deadlock a full pool; nothing is lost; the
/// limit holds. Attack: in a pool of one slot with a call waiting, a call's
/// work (sync, async and blocking) panics, and a guard in it makes a sync
/// call into the same pool from its `Drop` while the work unwinds. Catches:
/// the reentrancy frame popped before the work's locals are dropped (the
/// guard's call then waits for the slot its own unwinding call holds: a
/// deadlock), or the slot released first (the guard's call then runs beside
/// the waiter the slot went to). The parent's body is not counted (it has
/// panicked); the guard's body and the waiter's share one `Meter`.
#[test]
fn a_guard_calling_the_pool_while_its_calls_work_unwinds_runs_nested() {
    quiet_planned_panics();
    let rt = common::runtime();
    for form in ["run", "submit", "submit_blocking"] {
        let pool = Pool::fixed(1);
        let meter = Meter::default();
        let ran = Arc::new(AtomicUsize::new(0));
        let (p, m, r) = (pool.clone(), meter.clone(), ran.clone());
        let handle = rt.handle().clone();
        within(BOUND, move || {
            let (pool, meter, ran) = (p, m, r);
            let guard = || CallsOnUnwind {
                pool: pool.clone(),
                meter: meter.clone(),
                ran: ran.clone(),
            };
            let (started_tx, started_rx) = std::sync::mpsc::channel();
            let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
            let parent = {
                let pool = pool.clone();
                let g = guard();
                std::thread::spawn(move || {
                    let body = move || {
                        let _g = g;
                        started_tx.send(()).unwrap();
                        go_rx.recv().unwrap();
                        panic!("planned: a call's work panics with a guard in it");
                    };
                    catch_unwind(AssertUnwindSafe(|| match form {
                        "run" => {
                            let _ = pool.run(body);
                        }
                        "submit" => {
                            let _ = futures::executor::block_on(pool.submit(async move { body() }));
                        }
                        _ => {
                            let _ = handle.block_on(pool.submit_blocking(body));
                        }
                    }))
                    .is_err()
                })
            };
            started_rx.recv().unwrap();
            // A waiter, queued behind the panicking call.
            let waiter = {
                let pool = pool.clone();
                let meter = meter.clone();
                std::thread::spawn(move || {
                    pool.run(|| {
                        let _inside = meter.enter();
                        std::thread::sleep(Duration::from_millis(20));
                    })
                })
            };
            while pool.stats().waiting == 0 {
                std::thread::yield_now();
            }
            go_tx.send(()).unwrap();
            assert!(
                parent.join().unwrap(),
                "{form}: the panic reached the caller"
            );
            assert_eq!(waiter.join().unwrap(), Ok(()));
        });
        assert_eq!(ran.load(SeqCst), 1, "{form}: the guard's call ran");
        assert!(
            meter.max() <= 1,
            "{form}: more than the limit at once: {}",
            meter.max()
        );
        let s = pool.stats();
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{form}: {s:?}");
        assert_eq!(s.panicked, 1, "{form}: {s:?}");
        assert_accounted(&s);
    }
}

// ---- a stream's own source panicking; a stream nested in a call --------------

/// Yields `items` futures, panics once, then ends.
struct PanicsOnceThenEnds {
    next: usize,
    items: usize,
    panicked: bool,
}

impl Stream for PanicsOnceThenEnds {
    type Item = std::future::Ready<usize>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.next < self.items {
            self.next += 1;
            return Poll::Ready(Some(std::future::ready(self.next)));
        }
        if !std::mem::replace(&mut self.panicked, true) {
            panic!("planned: the source stream of a pooled stream panics");
        }
        Poll::Ready(None)
    }
}

/// Promise: nothing is lost and nothing hangs. Attack: the source stream of
/// a pooled stream panics (once) while calls it started are in flight; the
/// consumer catches the panic and polls again. Catches: the adapter's
/// calls (started before the panic) never yielded, or the adapter never
/// ending once the source does.
#[test]
fn a_pooled_stream_whose_source_panics_once_yields_its_calls_and_ends() {
    quiet_planned_panics();
    for ordered in [false, true] {
        let pool = Pool::fixed(4);
        let source = PanicsOnceThenEnds {
            next: 0,
            items: 3,
            panicked: false,
        };
        let (outs, panics, ended) = if ordered {
            let mut s = Box::pin(source.pooled_ordered(&pool));
            drain_catching(s.as_mut(), 100)
        } else {
            let mut s = Box::pin(source.pooled_unordered(&pool));
            drain_catching(s.as_mut(), 100)
        };
        assert_eq!(panics, 1, "ordered {ordered}");
        let mut got: Vec<usize> = outs.into_iter().map(|o| o.unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2, 3], "ordered {ordered}");
        assert!(ended, "ordered {ordered}: the stream never ended");
        let s = pool.stats();
        assert_eq!((s.running, s.waiting, s.completed), (0, 0, 3), "{s:?}");
        assert_accounted(&s);
    }
}

/// Promise: nested calls never deadlock a full pool, and "one nested call
/// at a time uses its parent's slot". Attack: a pooled stream of the same
/// pool driven inside a call's work (a handler that fans out through the
/// pool it runs in), on full pools of one and two slots, the items taking
/// several polls. Counted: the items' bodies at once. Catches: the stream's
/// calls waiting for a free slot the parent holds (a deadlock), or more
/// than one of them running under the parent's slot at once (beyond the
/// limit).
#[test]
fn a_pooled_stream_driven_inside_a_call_of_the_same_full_pool_completes_within_the_limit() {
    let rt = common::runtime();
    for (size, ordered) in [(1, false), (1, true), (2, false), (2, true)] {
        let pool = Pool::fixed(size);
        let items_meter = Meter::default();
        let (p, m) = (pool.clone(), items_meter.clone());
        let handle = rt.handle().clone();
        let sum = within(BOUND, move || {
            let (pool, meter) = (p, m);
            // Every slot but the parent's is held by others: the parent's
            // is the only one the stream's calls can have.
            let others: Vec<_> = (1..size)
                .map(|_| pool.try_acquire_owned(0).unwrap())
                .collect();
            let out = handle.block_on(pool.submit(async {
                let items = futures::stream::iter(0..12usize).map(|n| {
                    let meter = meter.clone();
                    async move {
                        let _inside = meter.enter();
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        common::yield_now().await;
                        n
                    }
                });
                let outs: Vec<_> = if ordered {
                    items.pooled_ordered(&pool).collect().await
                } else {
                    items.pooled_unordered(&pool).collect().await
                };
                outs.into_iter().map(|o| o.unwrap()).sum::<usize>()
            }));
            drop(others);
            out.unwrap()
        });
        assert_eq!(sum, (0..12).sum::<usize>(), "size {size} ordered {ordered}");
        assert_eq!(
            items_meter.max(),
            1,
            "size {size} ordered {ordered}: nested calls at once"
        );
        let s = pool.stats();
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
        assert_accounted(&s);
    }
}

// ---- a judge that calls the pool it judges for ------------------------------------

/// Promise: nested calls never deadlock a full pool ("a call into a pool
/// made from inside work that holds one of its slots ... may run under its
/// parent's slot"); `submit_judged`'s judge "looks at the output" of the
/// call, whose slot the call still holds. Attack: a judge that makes a sync
/// call into the same full pool (it records the verdict through a pooled
/// client), on a fixed pool and an adaptive one of one slot, with a call
/// waiting behind. Catches: the judge run outside the call's reentrancy
/// frame while the call still holds its slot (its sync call then waits for
/// that slot: a deadlock), or after the slot went to the waiter (beyond the
/// limit).
#[test]
fn a_judge_that_calls_the_same_full_pool_does_not_deadlock() {
    let adaptive = || {
        Pool::builder()
            .kind(Kind::Autoscale)
            .min(1)
            .max(1)
            .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT))
            .build()
            .unwrap()
    };
    for (name, pool) in [("fixed", Pool::fixed(1)), ("adaptive", adaptive())] {
        let meter = Meter::default();
        let (p, m) = (pool.clone(), meter.clone());
        let judged = within(Duration::from_secs(10), move || {
            let (pool, meter) = (p, m);
            let held = pool.try_acquire_owned(0).unwrap();
            let mut waiter = Task::new(pool.submit({
                let meter = meter.clone();
                async move {
                    let _inside = meter.enter();
                }
            }));
            let mut judged = Task::new(pool.submit_judged(0, async { 5 }, |out| {
                let meter = meter.clone();
                let recorded = pool.run(move || {
                    let _inside = meter.enter();
                });
                assert_eq!(recorded, Ok(()));
                if *out == 5 {
                    pool_runtime::Verdict::Success
                } else {
                    pool_runtime::Verdict::Overload
                }
            }));
            judged.assert_pending();
            waiter.assert_pending();
            drop(held);
            // The slot goes to the judged call (first in line)... or the
            // waiter: whichever, both end.
            let mut outs = (None, None);
            for _ in 0..100 {
                if outs.0.is_none() {
                    if let Poll::Ready(v) = judged.poll() {
                        outs.0 = Some(v);
                    }
                }
                if outs.1.is_none() {
                    if let Poll::Ready(v) = waiter.poll() {
                        outs.1 = Some(v);
                    }
                }
            }
            outs
        });
        assert_eq!(judged, (Some(Ok(5)), Some(Ok(()))), "{name}");
        assert_eq!(meter.max(), 1, "{name}: more than the limit at once");
        let s = pool.stats();
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{name}: {s:?}");
        assert_accounted(&s);
    }
}

// ---- bounds moved under an adaptive pool's windows ------------------------------

/// Promise: no more than the limit at once; `set_bounds` "moves" the
/// limit into the new bounds and an adaptive pool's windows keep it
/// within its bounds. Attack: an adaptive pool (one-call windows, smoothing
/// 1, so the limit moves at almost every call's end) judged by six threads
/// with mixed verdicts, while a controller moves its bounds between (1, 2),
/// (1, 8), (4, 6) and (2, 8) and the size by `resize` and `scale`; then the
/// bounds are set to (1, 2) for good. Counted from outside: once the pool
/// reports at most 2 running after the last `set_bounds`, the bodies that
/// start from then on never number more than 2 at once. Catches: a window
/// computed under the old bounds applied after the new ones (the limit
/// left above `max`), or a resize that escapes the bounds.
#[test]
fn an_adaptive_pools_bounds_moved_under_its_windows_hold_from_outside() {
    let settings = AdaptiveSettings {
        window_samples: 1,
        window_time: Duration::from_nanos(1),
        smoothing: 1.0,
        ..AdaptiveSettings::DEFAULT
    };
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(8)
        .scale_policy(ScalePolicy::Adaptive(settings))
        .build()
        .unwrap();
    let after = Meter::default();
    let final_phase = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (p, a, f, st) = (
        pool.clone(),
        after.clone(),
        final_phase.clone(),
        stop.clone(),
    );
    within(Duration::from_secs(60), move || {
        let (pool, after, final_phase, stop) = (p, a, f, st);
        let callers: Vec<_> = (0..6)
            .map(|t| {
                let (pool, after, final_phase, stop) = (
                    pool.clone(),
                    after.clone(),
                    final_phase.clone(),
                    stop.clone(),
                );
                std::thread::spawn(move || {
                    let mut i = 0u64;
                    while !stop.load(SeqCst) {
                        i += 1;
                        let (after, final_phase) = (after.clone(), final_phase.clone());
                        let _ = futures::executor::block_on(pool.submit_judged(
                            0,
                            async move {
                                let _inside = final_phase.load(SeqCst).then(|| after.enter());
                                std::thread::sleep(Duration::from_micros(200 * (i % 3)));
                                i
                            },
                            move |i| match (i + t) % 5 {
                                0 => pool_runtime::Verdict::Overload,
                                4 => pool_runtime::Verdict::Ignore,
                                _ => pool_runtime::Verdict::Success,
                            },
                        ));
                    }
                })
            })
            .collect();
        for round in 0..300 {
            let (min, max) = [(1, 2), (1, 8), (4, 6), (2, 8)][round % 4];
            pool.set_bounds(min, max).unwrap();
            match round % 3 {
                0 => {
                    pool.resize(round % 10);
                }
                1 => {
                    pool.scale(if round % 2 == 0 { 3 } else { -3 });
                }
                _ => {}
            }
            let (lo, hi) = pool.bounds();
            let size = pool.size();
            assert!(
                (lo..=hi).contains(&size),
                "size {size} outside the bounds ({lo}, {hi})"
            );
            std::thread::sleep(Duration::from_micros(300));
        }
        pool.set_bounds(1, 2).unwrap();
        let started = std::time::Instant::now();
        while pool.stats().running > 2 {
            assert!(started.elapsed() < BOUND, "{:?}", pool.stats());
            std::thread::sleep(Duration::from_micros(100));
        }
        final_phase.store(true, SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, SeqCst);
        for c in callers {
            c.join().unwrap();
        }
    });
    assert!(after.done() > 0, "calls ran after the last bounds");
    assert!(
        after.max() <= 2,
        "{} bodies at once after set_bounds(1, 2): {:?}",
        after.max(),
        pool.stats()
    );
    let s = pool.stats();
    assert!(s.size <= 2, "{s:?}");
    assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
    assert_accounted(&s);
}

// ---- a tower layer over a pool, applied twice ---------------------------------

/// Promise: "handlers cannot deadlock a full pool by calling it" (the tower
/// module docs) and nested calls "never deadlock a full pool" (the
/// reentrancy rule); nothing hangs. Attack: the same pool's `PooledLayer`
/// applied twice (a router-wide layer and a route's own over one group, say:
/// `ServiceBuilder::new().layer(l.clone()).layer(l)`), with as many
/// requests as the pool has slots arriving while the pool is saturated
/// (polled by hand, deterministically). Each outer service reserves a slot
/// in `poll_ready`, then readies its inner service, which asks for a second
/// slot of the same pool outside the outer slot's frame. Alone, a request
/// finds the second slot free; in a burst, every slot is handed to an outer
/// service and every inner one waits for a slot: the requests deadlock,
/// though each would succeed alone. Catches: the constant-weight
/// service readying its inner service outside the reserved slot's frame
/// (the weighted service readies it inside).
#[cfg(feature = "tower")]
#[test]
fn a_pooled_layer_applied_twice_over_one_pool_does_not_deadlock_under_load() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, ServiceExt};
    let mut hung = Vec::new();
    for size in [1usize, 2, 4] {
        let pool = Pool::fixed(size);
        let layer = PooledLayer::pool(pool.clone());
        let service = layer
            .clone()
            .layer(layer.layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n + 1) })));
        // A burst arriving at a saturated pool: every request's outer
        // service queues, then the slots free at once.
        let busy: Vec<_> = (0..size)
            .map(|_| pool.try_acquire_owned(0).unwrap())
            .collect();
        let mut requests: Vec<_> = (0..size as u32)
            .map(|n| Task::new(service.clone().oneshot(n)))
            .collect();
        for r in requests.iter_mut() {
            r.assert_pending();
        }
        drop(busy);
        let mut outs: Vec<Option<Result<u32, String>>> = vec![None; size];
        for _ in 0..200 {
            for (r, out) in requests.iter_mut().zip(outs.iter_mut()) {
                if out.is_none() {
                    if let Poll::Ready(o) = r.poll() {
                        *out = Some(o.map_err(|e| e.to_string()));
                    }
                }
            }
        }
        if outs.iter().any(Option::is_none) {
            hung.push(format!("size {size}: {outs:?} {:?}", pool.stats()));
            continue;
        }
        drop(requests);
        let s = pool.stats();
        assert_eq!(
            (s.running, s.waiting, s.nested),
            (0, 0, 0),
            "size {size}: {s:?}"
        );
        assert_accounted(&s);
    }
    assert!(
        hung.is_empty(),
        "a burst of n requests on n slots never ends: {hung:#?}"
    );
}

/// The control: the same double layer, one request at a time on a pool of
/// two slots (the inner service finds the second slot free), and the
/// weighted layer (which readies its inner service inside the slot's
/// frame) with as many requests as slots — both complete.
#[cfg(feature = "tower")]
#[test]
fn a_pooled_layer_applied_twice_completes_one_request_at_a_time_and_weighted() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, ServiceExt};
    let pool = Pool::fixed(2);
    let layer = PooledLayer::pool(pool.clone());
    let service = layer
        .clone()
        .layer(layer.layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n + 1) })));
    let out = within(Duration::from_secs(10), move || {
        futures::executor::block_on(async move {
            let mut outs = Vec::new();
            for n in 0..4u32 {
                outs.push(service.clone().oneshot(n).await.map_err(|e| e.to_string()));
            }
            outs
        })
    });
    assert_eq!(out, [Ok(1), Ok(2), Ok(3), Ok(4)]);
    let weighted = PooledLayer::pool(pool.clone()).weight(|_: &u32| 0);
    let service = weighted
        .clone()
        .layer(weighted.layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n + 1) })));
    let outs = within(Duration::from_secs(10), move || {
        futures::executor::block_on(async move {
            let calls = (0..2u32).map(|n| service.clone().oneshot(n));
            futures::future::join_all(calls).await
        })
    });
    let outs: Vec<_> = outs
        .into_iter()
        .map(|o| o.map_err(|e| e.to_string()))
        .collect();
    assert_eq!(outs, [Ok(1), Ok(2)]);
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
    assert_accounted(&s);
}

// ---- a group's stream nested in its own call, under a ceiling of one -----------

#[cfg(feature = "config")]
static FANOUT: pool_runtime::Group =
    pool_runtime::Group::new(pool_runtime::GroupSpec::new("adv16::fanout").size(3));
#[cfg(feature = "config")]
pool_runtime::register_group!(FANOUT);
#[cfg(feature = "config")]
static OTHER: pool_runtime::Group =
    pool_runtime::Group::new(pool_runtime::GroupSpec::new("adv16::other").size(3));
#[cfg(feature = "config")]
pool_runtime::register_group!(OTHER);

/// Promise: "nested calls follow the reentrancy rule for the ceiling too
/// (one at a time under their parent's ceiling slot)"; nested calls never
/// deadlock; the ceiling holds. Attack: with `POOLED_CEILING=1`, a call of
/// a group whose work fans out through a pooled stream over the same group
/// and over another group (each item's call is nested in the parent's,
/// for the ceiling), while another thread's calls of the other group wait
/// for the ceiling. Counted: the items' bodies at once (≤ 1: the parent's
/// one ceiling slot), and every call's body across both groups outside the
/// parent (≤ 1 besides the parent). Catches: the stream's calls waiting for
/// a ceiling slot their parent holds (a deadlock), or running beside the
/// other thread's calls beyond the ceiling.
#[cfg(feature = "config")]
#[test]
fn a_groups_stream_nested_in_its_own_call_under_a_ceiling_of_one_completes() {
    crate::common::in_own_process(
        "a_groups_stream_nested_in_its_own_call_under_a_ceiling_of_one_completes",
        &[("POOLED_CEILING", "1")],
        || {
            let items = Meter::default();
            let tops = Meter::default();
            let (i, t) = (items.clone(), tops.clone());
            let sums = within(BOUND, move || {
                let rt = common::runtime();
                let outsider = {
                    let tops = t.clone();
                    std::thread::spawn(move || {
                        for _ in 0..20 {
                            let _ = OTHER.run(|| {
                                let _inside = tops.enter();
                                std::thread::sleep(Duration::from_millis(1));
                            });
                        }
                    })
                };
                let sums = rt.block_on(async move {
                    let mut sums = Vec::new();
                    for group in [&FANOUT, &OTHER] {
                        let (items, tops) = (i.clone(), t.clone());
                        let sum = FANOUT
                            .submit(0, async move {
                                let _top = tops.enter();
                                let work = futures::stream::iter(0..8usize).map(|n| {
                                    let items = items.clone();
                                    async move {
                                        let _inside = items.enter();
                                        tokio::time::sleep(Duration::from_millis(1)).await;
                                        n
                                    }
                                });
                                let outs: Vec<_> = work.pooled_unordered(group).collect().await;
                                outs.into_iter().map(|o| o.unwrap()).sum::<usize>()
                            })
                            .await
                            .unwrap();
                        sums.push(sum);
                    }
                    sums
                });
                outsider.join().unwrap();
                sums
            });
            assert_eq!(sums, [28, 28]);
            assert_eq!(
                items.max(),
                1,
                "nested calls at once under one ceiling slot"
            );
            assert_eq!(
                tops.max(),
                1,
                "top-level calls at once under a ceiling of 1"
            );
            let c = pool_runtime::ceiling::stats().expect("the ceiling is set");
            assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
        },
    );
}

/// Promise: nothing hangs; "reading settings (`Group::settings()`,
/// `pooled::groups()`) can race a reload ... without deadlock". Attack: the
/// application's first configuration call is a load (`config::load_str` at
/// start-up), in a process whose environment has `POOLED_DB_URL`, with a
/// logger that reads `groups()`. Catches: the load reading the process's
/// environment for the first time (`config::current`) under the
/// configuration lock, warning about `POOLED_DB_URL` there, so the
/// logger's `groups()` takes the lock again.
#[cfg(feature = "config")]
#[test]
fn a_first_load_with_a_logger_reading_settings_does_not_deadlock() {
    crate::common::in_own_process(
        "a_first_load_with_a_logger_reading_settings_does_not_deadlock",
        &[("POOLED_DB_URL", "postgres://db")],
        || {
            READS_SETTINGS.store(true, SeqCst);
            let logger: &'static ShippingLogger =
                Box::leak(Box::new(ShippingLogger(AtomicUsize::new(0))));
            log::set_logger(logger).unwrap();
            log::set_max_level(log::LevelFilter::Warn);
            let loaded = within(Duration::from_secs(10), || {
                pool_runtime::config::load_str(
                    "startup.toml",
                    "[groups.\"adv16::app\"]\nsize = 3\n",
                )
                .map(|_| ())
                .map_err(|e| e.to_string())
            });
            assert_eq!(loaded, Ok(()));
            assert!(logger.0.load(SeqCst) >= 1, "the logger read the settings");
            assert_eq!(APP.settings().size, Some(3));
        },
    );
}

/// Promise: nothing hangs, nothing is lost. Attack: a weighted pooled
/// stream whose weight function panics on one item, polled again after
/// the consumer catches the panic (the item it weighed is lost with the
/// panic, before it reached the pool). Catches: an entry of the adapter's
/// set taken for the item and never filled or freed, so that the stream
/// never ends, or a call lost or counted twice.
#[test]
fn a_weighted_stream_polled_again_after_its_weight_fn_panics_ends() {
    quiet_planned_panics();
    for ordered in [false, true] {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(2)
            .build()
            .unwrap();
        let items = futures::stream::iter(0..6).map(|n| item(n, usize::MAX));
        let weight = |_: &_| -> i64 {
            static SEEN: AtomicUsize = AtomicUsize::new(0);
            if SEEN.fetch_add(1, SeqCst) % 6 == 2 {
                panic!("planned: a stream's weight function panics");
            }
            0
        };
        let (outs, panics, ended) = if ordered {
            let mut s = Box::pin(items.pooled_ordered_weighted(&pool, weight));
            drain_catching(s.as_mut(), 200)
        } else {
            let mut s = Box::pin(items.pooled_unordered_weighted(&pool, weight));
            drain_catching(s.as_mut(), 200)
        };
        assert_eq!(panics, 1, "ordered {ordered}");
        assert!(ended, "ordered {ordered}: never ended ({outs:?})");
        assert_eq!(outs.len(), 5, "ordered {ordered}: {outs:?}");
        let s = pool.stats();
        assert_eq!((s.running, s.waiting, s.completed), (0, 0, 5), "{s:?}");
        assert_accounted(&s);
    }
}
