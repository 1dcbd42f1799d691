//! Acceptance tests, round 14: the adaptive policy's documented settings and
//! behaviour (`AdaptiveSettings`, `scale/adaptive.rs`: defaults, ranges and
//! messages, where it starts, its bounds, which verdicts count — and that
//! admission timeouts are never overload), `submit_judged` and tower's
//! `overload`, permits and `Stats`' identity after every kind of ending,
//! `BlockingExecutor` and `RayonExecutor` docs, and what `observe` promises
//! to a capturing recorder and subscriber (names, labels, units, span fields
//! and events). Latency is driven by a `ManualClock`; concurrency counted
//! from outside; waits are bounded only to turn a hang into a failure.
#![cfg(all(feature = "tokio", feature = "metrics", feature = "tracing"))]

use futures::executor::block_on;
use pool_runtime::{
    AdaptiveSettings, BlockingExecutor, BlockingJob, BuildError, Kind, ManualClock, Order, Pool,
    Rejected, ScalePolicy, Verdict,
};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

mod common;
use common::{assert_accounted, quiet_planned_panics, within, Capture, Meter, Task};

/// Waits (bounded) on this thread until `cond` holds.
fn until_sync(mut cond: impl FnMut() -> bool) {
    for _ in 0..20_000 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("never happened");
}

/// Polls `fut` once with a no-op waker.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

fn adaptive(min: usize, max: usize, size: Option<usize>, clock: &ManualClock) -> Pool {
    let mut builder = Pool::builder()
        .kind(Kind::Autoscale)
        .min(min)
        .max(max)
        .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT))
        .clock(Arc::new(clock.clone()));
    if let Some(size) = size {
        builder = builder.size(size);
    }
    builder.build().unwrap()
}

// ---- AdaptiveSettings: defaults, ranges, messages ---------------------------

/// `AdaptiveSettings` docs: "Defaults: windows of at least 10 calls and 100
/// ms (and one round trip), tolerance 1.2, smoothing 0.35, an
/// unloaded-latency floor with a time constant of 30 s, and a cut of at most
/// half past a 2% drop rate"; `Default` is `DEFAULT`; the README's ranges
/// (`WINDOW_SAMPLES` = 1..=10000, `TOLERANCE` at least 1, the fractions
/// within 0..=1).
#[test]
fn adaptive_defaults_and_ranges_are_the_documented_ones() {
    let d = AdaptiveSettings::DEFAULT;
    assert_eq!(d.window_samples, 10);
    assert_eq!(d.window_time, Duration::from_millis(100));
    assert_eq!(d.tolerance, 1.2);
    assert_eq!(d.smoothing, 0.35);
    assert_eq!(d.baseline_interval, Duration::from_secs(30));
    assert_eq!(d.backoff, 0.5);
    assert_eq!(d.drop_tolerance, 0.02);
    assert_eq!(AdaptiveSettings::default(), d);
    assert_eq!(AdaptiveSettings::WINDOW_SAMPLES, 1..=10_000);
    assert_eq!(*AdaptiveSettings::TOLERANCE.start(), 1.0);
    assert_eq!(AdaptiveSettings::SMOOTHING, 0.0..=1.0);
    assert_eq!(AdaptiveSettings::BACKOFF, 0.0..=1.0);
    assert_eq!(AdaptiveSettings::DROP_TOLERANCE, 0.0..=1.0);
    assert_eq!(d.validate(), Ok(()));
}

/// `validate`: "[`BuildError::OutOfRange`] naming the first field out of its
/// range", NaN included, message as in its example; the builder "rejects
/// values outside it"; the range ends themselves are accepted; a tolerance
/// must be finite ("a finite number of at least 1").
#[test]
fn validate_names_each_field_out_of_range_and_the_builder_refuses_it() {
    let d = AdaptiveSettings::DEFAULT;
    let cases: Vec<(AdaptiveSettings, &str)> = vec![
        (
            AdaptiveSettings {
                window_samples: 0,
                ..d
            },
            "`AdaptiveSettings::window_samples` = 0 is out of range: expected 1 to 10000 calls",
        ),
        (
            AdaptiveSettings {
                window_samples: 10_001,
                ..d
            },
            "`AdaptiveSettings::window_samples` = 10001 is out of range: expected 1 to 10000 calls",
        ),
        (
            AdaptiveSettings {
                tolerance: 0.99,
                ..d
            },
            "`AdaptiveSettings::tolerance` = 0.99 is out of range: expected a finite number of at least 1",
        ),
        (
            AdaptiveSettings {
                tolerance: f64::INFINITY,
                ..d
            },
            "`AdaptiveSettings::tolerance` = inf is out of range: expected a finite number of at least 1",
        ),
        (
            AdaptiveSettings {
                smoothing: -0.1,
                ..d
            },
            "`AdaptiveSettings::smoothing` = -0.1 is out of range: expected a number from 0 to 1",
        ),
        (
            AdaptiveSettings {
                backoff: 1.5,
                ..d
            },
            "`AdaptiveSettings::backoff` = 1.5 is out of range: expected a number from 0 to 1",
        ),
        (
            AdaptiveSettings {
                drop_tolerance: f64::NAN,
                ..d
            },
            "`AdaptiveSettings::drop_tolerance` = NaN is out of range: expected a number from 0 to 1",
        ),
    ];
    for (settings, message) in cases {
        let err = settings.validate().unwrap_err();
        assert!(matches!(err, BuildError::OutOfRange { .. }), "{err:?}");
        assert_eq!(err.to_string(), message);
        let built = Pool::builder()
            .kind(Kind::Autoscale)
            .scale_policy(ScalePolicy::Adaptive(settings))
            .build();
        assert_eq!(built.err().map(|e| e.to_string()).as_deref(), Some(message));
    }
    // The ends of each range are in it.
    let ends = AdaptiveSettings {
        window_samples: 10_000,
        tolerance: 1.0,
        smoothing: 0.0,
        backoff: 1.0,
        drop_tolerance: 0.0,
        window_time: Duration::MAX,
        baseline_interval: Duration::ZERO,
    };
    assert_eq!(ends.validate(), Ok(()));
    let ends = AdaptiveSettings {
        window_samples: 1,
        smoothing: 1.0,
        backoff: 0.0,
        drop_tolerance: 1.0,
        ..d
    };
    assert_eq!(ends.validate(), Ok(()));
    // Two fields out of range: the first is named.
    let two = AdaptiveSettings {
        tolerance: 0.0,
        backoff: 2.0,
        ..d
    };
    assert!(two
        .validate()
        .unwrap_err()
        .to_string()
        .starts_with("`AdaptiveSettings::tolerance`"));
}

/// "The pool starts where the user says (`size`, else `min`, or 1 if `min`
/// is 0)".
#[test]
fn an_adaptive_pool_starts_at_size_else_min_else_one() {
    let clock = ManualClock::new();
    assert_eq!(adaptive(2, 10, Some(5), &clock).size(), 5);
    assert_eq!(adaptive(2, 10, None, &clock).size(), 2);
    assert_eq!(adaptive(0, 10, None, &clock).size(), 1);
    assert_eq!(adaptive(4, 4, None, &clock).size(), 4);
}

/// One round of calls through permits: `held` permits live for `latency`
/// on the pool's clock, then end with `verdict`; if `waiter`, a call waits
/// for a slot while they run. Returns the limit after the round.
fn permit_round(
    pool: &Pool,
    clock: &ManualClock,
    held: usize,
    latency: Duration,
    verdict: Verdict,
    waiter: bool,
) -> usize {
    let mut permits: Vec<_> = (0..held)
        .map_while(|_| pool.try_acquire_owned(0).ok())
        .collect();
    // The waiting call is judged as the permits are, and lasts as long.
    let mut queued = Box::pin(pool.submit_judged(0, async { clock.advance(latency) }, |_| verdict));
    let mut done = false;
    if waiter {
        done = poll_once(queued.as_mut()).is_ready();
    }
    if !done {
        clock.advance(latency);
    }
    for permit in &mut permits {
        permit.set_verdict(verdict);
    }
    drop(permits);
    if waiter && !done {
        // Admitted once a slot freed.
        assert_eq!(poll_once(queued.as_mut()), Poll::Ready(Ok(())));
    }
    drop(queued);
    pool.size()
}

/// `Verdict::Ignore`: "Says nothing about the server ... not sampled";
/// `Verdict::Success`: "its latency is a sample". With calls waiting,
/// successes at a steady latency make the start double the limit; the same
/// calls all ignored leave it where it started.
#[test]
fn ignored_verdicts_are_no_samples_and_successes_are() {
    let clock = ManualClock::new();
    let ignored = adaptive(1, 64, Some(2), &clock);
    for _ in 0..40 {
        let size = ignored.size();
        permit_round(
            &ignored,
            &clock,
            size,
            Duration::from_millis(20),
            Verdict::Ignore,
            true,
        );
    }
    assert_eq!(ignored.size(), 2, "no sample, no move");
    let clock2 = ManualClock::new();
    let sampled = adaptive(1, 64, Some(2), &clock2);
    for _ in 0..40 {
        let size = sampled.size();
        permit_round(
            &sampled,
            &clock2,
            size,
            Duration::from_millis(20),
            Verdict::Success,
            true,
        );
    }
    assert!(
        sampled.size() > ignored.size(),
        "successes grew the limit to {}, ignored calls to {}",
        sampled.size(),
        ignored.size()
    );
}

/// "once more than 2% of the calls (and at least two) were overloaded,
/// cuts it ... at most to 50%"; and the limit "stays within `[min, max]`"
/// whatever the verdicts.
#[test]
fn overload_verdicts_cut_the_limit_at_most_by_half_and_never_below_min() {
    let clock = ManualClock::new();
    let pool = adaptive(3, 40, Some(32), &clock);
    let mut sizes = vec![pool.size()];
    for _ in 0..30 {
        let size = pool.size();
        sizes.push(permit_round(
            &pool,
            &clock,
            size,
            Duration::from_millis(20),
            Verdict::Overload,
            false,
        ));
    }
    assert!(*sizes.last().unwrap() < 32, "never cut: {sizes:?}");
    for pair in sizes.windows(2) {
        assert!(pair[1] * 2 >= pair[0], "cut by more than half: {sizes:?}");
    }
    assert!(sizes.iter().all(|&s| (3..=40).contains(&s)), "{sizes:?}");
    assert_eq!(*sizes.last().unwrap(), 3, "cut down to min: {sizes:?}");
}

/// "The limit stays within `[min, max]`": a pseudo-random mix of latencies
/// and verdicts, with and without calls waiting, never moves it out.
#[test]
fn random_verdicts_and_latencies_never_take_the_limit_out_of_its_bounds() {
    let clock = ManualClock::new();
    let pool = adaptive(2, 9, None, &clock);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..3000 {
        let r = next();
        let verdict = match r % 10 {
            0 => Verdict::Overload,
            1 => Verdict::Ignore,
            _ => Verdict::Success,
        };
        let latency = Duration::from_micros(1_000 + (r >> 8) % 200_000);
        let held = 1 + (r >> 32) as usize % 12;
        let size = permit_round(&pool, &clock, held, latency, verdict, r & 1 == 0);
        assert!((2..=9).contains(&size), "limit {size} out of [2, 9]");
        seen.insert(size);
    }
    assert!(seen.len() > 1, "the limit never moved: {seen:?}");
}

/// README and `scale/adaptive.rs`: "Admission timeouts and calls turned
/// away by the pool itself are never drops: they measure the pool's own
/// queue" (issue 11). Every round, calls time out waiting for the pool's
/// slots (and some are turned away `Full`) while the server answers at a
/// steady latency: the limit is never cut. (The same rounds with two of the
/// server's answers overloaded do cut it: the test can see a cut.)
#[test]
fn admission_timeouts_and_full_rejections_are_never_counted_as_overload() {
    let run = |overloads: usize| {
        let clock = ManualClock::new();
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .min(1)
            .max(64)
            .size(16)
            .max_waiting(2)
            .admission_timeout(Duration::from_millis(1))
            .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT))
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let mut sizes = vec![pool.size()];
        for _ in 0..30 {
            let size = pool.size();
            let mut permits: Vec<_> = (0..size)
                .map(|_| pool.try_acquire_owned(0).unwrap())
                .collect();
            // Two sync callers time out in the queue (on their own threads,
            // at once; the queue holds two).
            let timed_out = std::thread::scope(|s| {
                let waiting: Vec<_> = (0..2).map(|_| s.spawn(|| pool.run(|| ()))).collect();
                waiting
                    .into_iter()
                    .map(|t| t.join().unwrap())
                    .collect::<Vec<_>>()
            });
            for out in timed_out {
                assert!(
                    matches!(out, Err(Rejected::TimedOut) | Err(Rejected::Full)),
                    "{out:?}"
                );
            }
            // A call judged overloaded that the pool turns away is not judged.
            assert_eq!(
                block_on(pool.submit_judged(0, async {}, |_| Verdict::Overload)),
                Err(Rejected::TimedOut)
            );
            clock.advance(Duration::from_millis(20));
            for permit in permits.iter_mut().take(overloads) {
                permit.set_verdict(Verdict::Overload);
            }
            drop(permits);
            sizes.push(pool.size());
        }
        let stats = pool.stats();
        assert!(stats.rejected_for(Rejected::TimedOut) > 0, "{stats:?}");
        sizes
    };
    let sizes = run(0);
    for pair in sizes.windows(2) {
        assert!(pair[1] >= pair[0], "the limit fell: {sizes:?}");
    }
    let cut = run(2);
    assert!(
        cut.windows(2).any(|p| p[1] < p[0]),
        "overloads never cut the limit: {cut:?}"
    );
}

/// `Pool::submit_judged`: "Other pools ignore the verdict"; "a cancelled
/// call is not judged"; README: "a judge that panics (`submit_judged`) ...
/// is a panicked call" — and its slot is freed.
#[test]
fn submit_judged_judges_only_finished_calls_and_a_panicking_judge_is_a_panicked_call() {
    quiet_planned_panics();
    let pool = Pool::builder().size(1).build().unwrap();
    let judged = AtomicUsize::new(0);
    let out = block_on(pool.submit_judged(0, async { 7 }, |out| {
        judged.fetch_add(1, SeqCst);
        assert_eq!(*out, 7);
        Verdict::Overload
    }));
    assert_eq!(out, Ok(7));
    assert_eq!(judged.load(SeqCst), 1);
    assert_eq!(pool.size(), 1, "a fixed pool ignores the verdict");

    // Cancelled while running, and while waiting: never judged.
    let (gate, _open) = common::gate();
    {
        let mut running = Task::new(pool.submit_judged(0, gate, |_| {
            judged.fetch_add(1, SeqCst);
            Verdict::Success
        }));
        running.assert_pending();
        let mut waiting = Task::new(pool.submit_judged(0, async {}, |_| {
            judged.fetch_add(1, SeqCst);
            Verdict::Success
        }));
        waiting.assert_pending();
    }
    assert_eq!(judged.load(SeqCst), 1);
    let stats = pool.stats();
    assert_eq!(stats.cancelled, 2);

    // A judge that panics.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        block_on(pool.submit_judged(0, async { 1 }, |_| -> Verdict {
            panic!("planned: a judge that panics")
        }))
    }));
    assert!(caught.is_err(), "the judge's panic reaches the caller");
    let stats = pool.stats();
    assert_eq!(stats.panicked, 1, "{stats:?}");
    assert_eq!(stats.completed, 2, "{stats:?}");
    assert_eq!(stats.running, 0);
    assert_accounted(&stats);
    assert!(pool.try_acquire().is_ok(), "the slot was freed");
}

/// tower's `PooledLayer::overload`: "a result `is_overload` accepts (a 503,
/// a timeout) is a `Verdict::Overload`, which cuts the limit; any other
/// success is a latency sample, and any other error is ignored".
#[cfg(feature = "tower")]
#[test]
fn the_tower_layers_overload_cuts_an_adaptive_pool_and_other_errors_are_ignored() {
    use pool_runtime::tower::{Judge, NoOverload, PooledLayer};
    use tower::{Layer, ServiceExt};

    assert_eq!(
        NoOverload.verdict(&Err::<u16, &str>("boom")),
        Verdict::Success
    );
    // Each answer (status, error) through the layer, 20 ms of the pool's clock each.
    let run = |answer: Result<u16, &'static str>| {
        let clock = ManualClock::new();
        let pool = adaptive(2, 64, Some(32), &clock);
        let layer = PooledLayer::pool(pool.clone())
            .overload(|result: &Result<u16, &'static str>| matches!(result, Ok(503)));
        let clock2 = clock.clone();
        let service = layer.layer(tower::service_fn(move |_: ()| {
            let clock = clock2.clone();
            async move {
                clock.advance(Duration::from_millis(20));
                answer
            }
        }));
        block_on(async {
            for _ in 0..200 {
                let _ = service.clone().oneshot(()).await;
            }
        });
        pool.size()
    };
    assert!(run(Ok(503)) < 32, "503s are overload");
    assert_eq!(run(Err("not found")), 32, "other errors are ignored");
    assert!(run(Ok(200)) >= 16, "successes are samples, no cut");
}

// ---- permits and Stats after every kind of ending ---------------------------

/// `Stats`: "taken while nothing enters or leaves the pool they add up:
/// `submitted() == completed + rejected_total() + cancelled + running +
/// nested + waiting`"; each ending counted where the docs say: a permit
/// "counted as completed (as panicked if dropped while its thread
/// unwinds)"; `try_acquire` "[`Rejected::Full`] if no slot is free";
/// dropped calls are `cancelled`; a permit taken in a call's work "borrows
/// that call's slot" (`nested`); README: "A call is submitted when it is
/// first polled".
#[test]
fn every_kind_of_ending_is_counted_where_the_docs_say_and_the_identity_holds() {
    quiet_planned_panics();
    let pool = Pool::builder()
        .order(Order::Priority)
        .size(1)
        .max_waiting(1)
        .build()
        .unwrap();
    let check = |what: &str, expect: (u64, u64, u64, u64, usize, usize, usize)| {
        let s = pool.stats();
        assert_accounted(&s);
        assert_eq!(
            (
                s.completed,
                s.panicked,
                s.cancelled,
                s.rejected_total(),
                s.running,
                s.nested,
                s.waiting
            ),
            expect,
            "{what}: {s:?}"
        );
    };
    // Never polled: nothing counted, not even when dropped.
    drop(pool.submit(async {}));
    assert_eq!(pool.stats().submitted(), 0);
    check("unpolled", (0, 0, 0, 0, 0, 0, 0));

    let permit = block_on(pool.acquire()).unwrap();
    check("held", (0, 0, 0, 0, 1, 0, 0));
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
    assert_eq!(pool.stats().rejected_for(Rejected::Full), 1);
    check("try_acquire full", (0, 0, 0, 1, 1, 0, 0));
    {
        let mut waiting = Task::new(pool.acquire_weighted(5));
        waiting.assert_pending();
        check("waiting", (0, 0, 0, 1, 1, 0, 1));
        // The waiting bound is 1: the next is turned away.
        assert_eq!(block_on(pool.submit(async {})).err(), Some(Rejected::Full));
        check("full", (0, 0, 0, 2, 1, 0, 1));
    }
    check("waiting acquire dropped", (0, 0, 1, 2, 1, 0, 0));
    drop(permit);
    check("permit dropped", (1, 0, 1, 2, 0, 0, 0));

    // A permit dropped while its thread unwinds is a panicked call.
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _permit = pool.try_acquire().unwrap();
        panic!("planned: unwinding with a permit");
    }));
    assert!(unwound.is_err());
    check("permit unwound", (2, 1, 1, 2, 0, 0, 0));

    // A permit taken in a call's work borrows its slot: nested.
    let nested_seen = block_on(pool.submit(async {
        let permit = pool.acquire().await.unwrap();
        let s = pool.stats();
        drop(permit);
        (s.running, s.nested)
    }));
    assert_eq!(nested_seen, Ok((1, 1)));
    check("nested permit", (4, 1, 1, 2, 0, 0, 0));

    // A running call dropped: cancelled.
    {
        let (gate, _open) = common::gate();
        let mut running = Task::new(pool.submit(gate));
        running.assert_pending();
        check("running", (4, 1, 1, 2, 1, 0, 0));
    }
    check("running dropped", (4, 1, 2, 2, 0, 0, 0));

    // Paused, closed.
    pool.pause();
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Paused));
    assert_eq!(pool.run(|| ()).err(), Some(Rejected::Paused));
    pool.resume();
    pool.close();
    assert_eq!(
        block_on(pool.acquire_owned(0)).err(),
        Some(Rejected::Closed)
    );
    check("paused and closed", (4, 1, 2, 5, 0, 0, 0));
    let s = pool.stats();
    assert_eq!(s.rejected_for(Rejected::Paused), 2);
    assert_eq!(s.rejected_for(Rejected::Closed), 1);
    assert_eq!(s.rejected_for(Rejected::Full), 2);
    assert_eq!(s.submitted(), 11);
}

/// `Pool::acquire_weighted`: same order as `submit`: on a priority pool
/// smaller weights first, equal weights first-come first-served — permits
/// and calls in one queue.
#[test]
fn weighted_permits_and_calls_are_admitted_by_weight_then_arrival() {
    let pool = Pool::builder()
        .order(Order::Priority)
        .size(1)
        .build()
        .unwrap();
    let order = Mutex::new(Vec::new());
    let first = pool.try_acquire().unwrap();
    let mut a = Task::new(pool.acquire_weighted(5));
    let mut b = Task::new(pool.submit_weighted(1, async { order.lock().unwrap().push("b") }));
    let mut c = Task::new(pool.acquire_owned(1));
    let mut d = Task::new(pool.submit_weighted(-1, async { order.lock().unwrap().push("d") }));
    for t in [&mut a as &mut dyn Pend, &mut b, &mut c, &mut d] {
        assert!(t.pend());
    }
    drop(first);
    assert_eq!(d.assert_ready(), Ok(()));
    assert!(a.poll().is_pending());
    assert_eq!(b.assert_ready(), Ok(()));
    assert!(a.poll().is_pending());
    let c = c.assert_ready().unwrap();
    assert!(a.poll().is_pending());
    drop(c);
    let a = a.assert_ready().unwrap();
    drop(a);
    assert_eq!(*order.lock().unwrap(), ["d", "b"]);
    assert_eq!(pool.stats().completed, 5);
}

trait Pend {
    fn pend(&mut self) -> bool;
}

impl<F: Future> Pend for Task<F> {
    fn pend(&mut self) -> bool {
        self.poll().is_pending()
    }
}

/// `acquire_owned`: "a permit that owns a handle on the pool: `'static`, to
/// move into a spawned task" — here plain threads; the limit holds
/// (counted from outside) and every permit ends as a completed call.
#[test]
fn owned_permits_moved_to_threads_hold_the_limit() {
    let pool = Pool::builder().size(3).build().unwrap();
    let meter = Meter::default();
    within(Duration::from_secs(60), {
        let pool = pool.clone();
        let meter = meter.clone();
        move || {
            let threads: Vec<_> = (0..24)
                .map(|_| {
                    let permit = block_on(pool.acquire_owned(0)).unwrap();
                    let meter = meter.clone();
                    std::thread::spawn(move || {
                        let inside = meter.enter();
                        std::thread::sleep(Duration::from_millis(1));
                        drop(inside);
                        drop(permit);
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
        }
    });
    let stats = pool.stats();
    assert_eq!(stats.completed, 24);
    assert_eq!((stats.running, stats.waiting), (0, 0));
    assert!(meter.max() <= 3, "{}", meter.max());
}

// ---- BlockingExecutor and RayonExecutor ---------------------------------------

/// Drops every job unrun, as an executor shutting down does.
struct Dropping(AtomicUsize);

impl BlockingExecutor for Dropping {
    fn execute(&self, job: BlockingJob) {
        self.0.fetch_add(1, SeqCst);
        drop(job);
    }
}

/// `BlockingExecutor`: "If `execute` drops a job without running it (an
/// executor shutting down), the call is rejected with
/// [`Rejected::Closed`] and its slot is released. The call had been
/// admitted, so `Stats` counts it in `cancelled`".
#[test]
fn an_executor_that_drops_jobs_rejects_the_call_as_closed_and_counts_it_cancelled() {
    let executor = Arc::new(Dropping(AtomicUsize::new(0)));
    let pool = Pool::builder()
        .size(1)
        .blocking_executor(executor.clone())
        .build()
        .unwrap();
    let ran = AtomicUsize::new(0);
    for _ in 0..3 {
        let out = block_on(pool.submit_blocking(|| 5));
        assert_eq!(out, Err(Rejected::Closed));
    }
    let _ = &ran;
    assert_eq!(executor.0.load(SeqCst), 3);
    let s = pool.stats();
    assert_eq!(s.cancelled, 3, "{s:?}");
    assert_eq!(s.rejected_for(Rejected::Closed), 0, "{s:?}");
    assert_eq!((s.running, s.waiting), (0, 0));
    assert!(!pool.is_closed(), "the pool itself is not closed");
    assert_accounted(&s);
    assert!(pool.try_acquire().is_ok(), "the slot was released");
}

/// Runs each job on a new thread, counting them.
struct Threads(AtomicUsize);

impl BlockingExecutor for Threads {
    fn execute(&self, job: BlockingJob) {
        self.0.fetch_add(1, SeqCst);
        std::thread::spawn(job);
    }
}

/// `submit_blocking`: "The slot travels with the closure: it is released on
/// the executor's thread when the closure returns, so the number of
/// closures running never exceeds the limit, even if the caller stops
/// waiting".
#[test]
fn abandoned_blocking_calls_keep_their_slots_until_their_closures_end() {
    let executor = Arc::new(Threads(AtomicUsize::new(0)));
    let pool = Pool::builder()
        .size(2)
        .blocking_executor(executor.clone())
        .build()
        .unwrap();
    let meter = Meter::default();
    let release = Arc::new(std::sync::Barrier::new(3));
    for _ in 0..2 {
        let meter = meter.clone();
        let release = release.clone();
        let mut call = Task::new(pool.submit_blocking(move || {
            let _inside = meter.enter();
            release.wait();
        }));
        let _ = call.poll();
        // Abandoned: dropped while the closure runs (or waits to).
    }
    until_sync(|| meter.now() == 2);
    let s = pool.stats();
    assert_eq!(
        s.running, 2,
        "the abandoned closures hold their slots: {s:?}"
    );
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
    release.wait();
    within(Duration::from_secs(20), {
        let pool = pool.clone();
        move || {
            while pool.stats().running != 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    assert!(meter.max() <= 2);
    assert_eq!(executor.0.load(SeqCst), 2);
}

/// `RayonExecutor`: "rayon's global pool ([`RayonExecutor::global`], the
/// default), or one of the application's ([`RayonExecutor::new`])";
/// `thread_pool`: "`None` for rayon's global pool". "A job holds its slot
/// from admission on, including while it waits for a free rayon thread".
#[cfg(feature = "rayon")]
#[test]
fn rayon_executor_runs_on_the_given_thread_pool_and_holds_slots_while_queued_there() {
    use pool_runtime::RayonExecutor;
    assert!(RayonExecutor::default().thread_pool().is_none());
    assert!(RayonExecutor::global().thread_pool().is_none());
    let threads = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap(),
    );
    let executor = RayonExecutor::new(threads.clone());
    assert!(Arc::ptr_eq(executor.thread_pool().unwrap(), &threads));
    let pool = Pool::builder()
        .size(3)
        .blocking_executor(Arc::new(executor))
        .build()
        .unwrap();
    let meter = Meter::default();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = Arc::new(Mutex::new(rx));
    let runtime = common::runtime();
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            let meter = meter.clone();
            let rx = rx.clone();
            let threads = threads.clone();
            runtime.spawn(async move {
                pool.submit_blocking(move || {
                    let _inside = meter.enter();
                    rx.lock().unwrap().recv().unwrap();
                    threads.current_thread_index()
                })
                .await
            })
        })
        .collect();
    // All three admitted (their slots held) while one rayon thread runs one.
    until_sync(|| pool.stats().running == 3 && meter.now() == 1);
    assert_eq!(meter.max(), 1, "one rayon thread runs one job");
    for _ in 0..3 {
        tx.send(()).unwrap();
    }
    for call in calls {
        let out = within(Duration::from_secs(20), {
            let handle = runtime.handle().clone();
            move || handle.block_on(call).unwrap()
        });
        assert_eq!(out, Ok(Some(0)), "ran on the application's thread pool");
    }
    assert_eq!(meter.max(), 1);
    assert_eq!(pool.stats().completed, 3);
}

// ---- observe: metrics ---------------------------------------------------------

/// Builds `build()`'s pools under a capturing recorder of their own.
fn captured<T>(build: impl FnOnce() -> T) -> (Arc<Capture>, T) {
    let capture = Arc::new(Capture::default());
    let out = metrics::with_local_recorder(&*capture, build);
    (capture, out)
}

fn samples(capture: &Capture, name: &str, pool: &str) -> Vec<f64> {
    let key = format!("{name}{{pool={pool}}}");
    let histograms = capture.histograms.lock().unwrap();
    histograms
        .get(&key)
        .map(|h| h.0.lock().unwrap().clone())
        .unwrap_or_default()
}

/// `observe`: "`pooled.wait_time` | histogram | seconds" "from a call's
/// first poll to its admission", "`pooled.run_time` | histogram | seconds"
/// "how long a call held its own slot", after `time_calls(true)`, measured
/// on the pool's clock; a call "admitted while it is off is not timed".
#[test]
fn wait_and_run_time_histograms_are_in_seconds_of_the_pools_clock() {
    let clock = ManualClock::new();
    let (capture, pool) = captured(|| {
        Pool::builder()
            .name("acc14-timed")
            .size(1)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap()
    });
    pool_runtime::observe::time_calls(true);
    let permit = pool.try_acquire().unwrap();
    let mut queued = pin!(pool.submit(async {
        clock.advance(Duration::from_millis(500));
    }));
    assert!(poll_once(queued.as_mut()).is_pending());
    clock.advance(Duration::from_secs(2));
    drop(permit);
    assert_eq!(poll_once(queued.as_mut()), Poll::Ready(Ok(())));
    let wait = samples(&capture, "pooled.wait_time", "acc14-timed");
    let run = samples(&capture, "pooled.run_time", "acc14-timed");
    assert_eq!(wait, [0.0, 2.0], "the permit waited 0 s, the call 2 s");
    assert_eq!(run, [2.0, 0.5], "the permit held 2 s, the call 0.5 s");
    // Nested calls share a slot: they hold none of their own, no run time.
    assert_eq!(
        block_on(pool.submit(async { pool.submit(async {}).await })),
        Ok(Ok(()))
    );
    assert_eq!(samples(&capture, "pooled.run_time", "acc14-timed").len(), 3);
}

/// `observe`: "pools built without [a name report] as `(unnamed)`,
/// together. Pools that share a name add up in its counters and in the
/// `limit`, `running` and `waiting` gauges"; a pool that goes away "takes its
/// limit out of `pooled.limit`"; `pooled.calls` by `outcome` and `reason`
/// (`timed_out` among them).
#[test]
fn unnamed_pools_report_together_and_every_rejection_reason_is_a_label() {
    let (capture, (a, b)) = captured(|| {
        (
            Pool::builder().size(2).build().unwrap(),
            Pool::builder()
                .size(3)
                // (Not 1 ms: the submit below must still be waiting at its
                // first poll's end on a loaded machine.)
                .admission_timeout(Duration::from_millis(200))
                .max_waiting(1)
                .build()
                .unwrap(),
        )
    });
    assert_eq!(capture.gauge("pooled.limit", "(unnamed)"), Some(5.0));
    a.scale(1);
    assert_eq!(capture.gauge("pooled.limit", "(unnamed)"), Some(6.0));
    let held: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    let _a_held = a.try_acquire().unwrap();
    assert_eq!(capture.gauge("pooled.running", "(unnamed)"), Some(4.0));
    std::thread::scope(|s| {
        let t = s.spawn(|| b.run(|| ()));
        assert_eq!(t.join().unwrap(), Err(Rejected::TimedOut));
    });
    b.pause();
    assert_eq!(b.run(|| ()), Err(Rejected::Paused));
    b.resume();
    {
        let mut waiting = Task::new(b.submit(async {}));
        waiting.assert_pending();
        assert_eq!(capture.gauge("pooled.waiting", "(unnamed)"), Some(1.0));
        assert_eq!(block_on(b.submit(async {})), Err(Rejected::Full));
    }
    b.close();
    assert_eq!(b.run(|| ()), Err(Rejected::Closed));
    drop(held);
    for reason in ["timed_out", "paused", "full", "closed"] {
        assert_eq!(
            capture.calls("(unnamed)", "rejected", Some(reason)),
            1,
            "{reason}"
        );
    }
    assert_eq!(capture.calls("(unnamed)", "cancelled", None), 1);
    assert_eq!(capture.calls("(unnamed)", "completed", None), 3);
    assert_eq!(capture.gauge("pooled.waiting", "(unnamed)"), Some(0.0));
    assert_eq!(capture.gauge("pooled.running", "(unnamed)"), Some(1.0));
    drop(b);
    assert_eq!(
        capture.gauge("pooled.limit", "(unnamed)"),
        Some(3.0),
        "the dropped pool took its 3 out"
    );
}

// ---- observe: tracing ---------------------------------------------------------

mod tracing_capture {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Subscriber};
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;
    use tracing_subscriber::Layer;

    pub type Fields = BTreeMap<String, String>;

    #[derive(Clone, Debug)]
    pub struct SpanSeen {
        pub id: u64,
        pub name: &'static str,
        pub level: Level,
        pub target: String,
        pub fields: Fields,
    }

    #[derive(Clone, Debug)]
    pub struct EventSeen {
        pub level: Level,
        pub target: String,
        pub fields: Fields,
        pub span: Option<u64>,
    }

    #[derive(Clone, Default)]
    pub struct Traces(Arc<Mutex<(Vec<SpanSeen>, Vec<EventSeen>)>>);

    struct Text<'a>(&'a mut Fields);

    impl Visit for Text<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Traces {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
            let mut fields = Fields::new();
            attrs.record(&mut Text(&mut fields));
            self.0.lock().unwrap().0.push(SpanSeen {
                id: id.into_u64(),
                name: attrs.metadata().name(),
                level: *attrs.metadata().level(),
                target: attrs.metadata().target().to_owned(),
                fields,
            });
        }
        fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
            let mut seen = self.0.lock().unwrap();
            if let Some(span) = seen.0.iter_mut().rev().find(|s| s.id == id.into_u64()) {
                values.record(&mut Text(&mut span.fields));
            }
        }
        fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
            let mut fields = Fields::new();
            event.record(&mut Text(&mut fields));
            let span = ctx.event_span(event).map(|s| s.id().into_u64());
            self.0.lock().unwrap().1.push(EventSeen {
                level: *event.metadata().level(),
                target: event.metadata().target().to_owned(),
                fields,
                span,
            });
        }
    }

    impl Traces {
        pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
            let subscriber = tracing_subscriber::registry().with(self.clone());
            tracing::subscriber::with_default(subscriber, f)
        }
        pub fn spans(&self) -> Vec<SpanSeen> {
            self.0.lock().unwrap().0.clone()
        }
        pub fn events(&self, message: &str) -> Vec<EventSeen> {
            self.0
                .lock()
                .unwrap()
                .1
                .iter()
                .filter(|e| e.fields.get("message").map(String::as_str) == Some(message))
                .cloned()
                .collect()
        }
    }
}

use tracing_capture::Traces;

/// `observe`: "span `call` ... TRACE | `pool`, `call` (`submit`, `spawn`,
/// `run`, `blocking`, `permit`), `weight`; recorded later: `wait_us`
/// (admission), `nested` (`true` if it ran under its parent's slot),
/// `outcome` (`completed`, `panicked`, `cancelled`, `rejected`)", target
/// `pooled`; `call rejected` with reason `timed_out` too.
#[test]
fn every_call_form_nesting_and_outcome_shows_in_its_span() {
    quiet_planned_panics();
    let traces = Traces::default();
    // A current-thread runtime: the spawned call is polled on this thread,
    // whose default subscriber is the capture.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    traces.run(|| {
        let pool = Pool::builder()
            .name("acc14-spans")
            .size(1)
            // Long enough that the submit below is surely still waiting at
            // its first poll on a loaded machine (1 ms was not: its
            // deadline passed between arming and polling it).
            .admission_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        // submit, with a nested submit inside.
        assert_eq!(
            block_on(pool.submit(async { pool.submit(async { 1 }).await })),
            Ok(Ok(1))
        );
        // run, panicking.
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(|| panic!("planned: a run that panics"))
        }));
        assert!(panicked.is_err());
        // blocking.
        assert_eq!(block_on(pool.submit_blocking(|| 2)), Ok(2));
        // spawn (tokio).
        let handle = {
            let _entered = runtime.enter();
            pool.spawn(async { 3 }).unwrap()
        };
        assert_eq!(runtime.block_on(handle).unwrap(), 3);
        // permit; a submit cancelled while waiting; a run timing out.
        let permit = pool.try_acquire().unwrap();
        {
            let mut waiting = Task::new(pool.submit(async {}));
            waiting.assert_pending();
        }
        assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut));
        drop(permit);
    });
    let calls: Vec<_> = traces
        .spans()
        .into_iter()
        .filter(|s| s.name == "call")
        .collect();
    for span in &calls {
        assert_eq!(span.level, tracing::Level::TRACE);
        assert_eq!(span.target, "pooled");
        assert_eq!(
            span.fields.get("pool").map(String::as_str),
            Some("acc14-spans")
        );
    }
    let summary: Vec<_> = calls
        .iter()
        .map(|s| {
            let f = |n: &str| s.fields.get(n).cloned().unwrap_or_else(|| "-".into());
            // `nested`: "`true` if it ran under its parent's slot" (absent
            // or false otherwise).
            let nested = s.fields.get("nested").map(String::as_str) == Some("true");
            (f("call"), nested, f("outcome"))
        })
        .collect();
    let t = |a: &str, b: bool, c: &str| (a.to_owned(), b, c.to_owned());
    assert_eq!(
        summary,
        [
            t("submit", false, "completed"),
            t("submit", true, "completed"),
            t("run", false, "panicked"),
            t("blocking", false, "completed"),
            t("spawn", false, "completed"),
            t("permit", false, "completed"),
            t("submit", false, "cancelled"),
            t("run", false, "rejected"),
        ]
    );
    // `wait_us` is recorded at admission: every admitted call has it.
    for span in calls.iter().take(6) {
        assert!(span.fields.contains_key("wait_us"), "{span:?}");
    }
    let rejected = traces.events("call rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        rejected[0].fields.get("reason").map(String::as_str),
        Some("timed_out")
    );
    assert_eq!(rejected[0].level, tracing::Level::DEBUG);
    assert_eq!(rejected[0].target, "pooled");
    assert_eq!(
        rejected[0].span,
        Some(calls[7].id),
        "inside its call's span"
    );
}

/// "The limit stays within `[min, max]`" with `min = 0`: overloads cut the
/// limit at most to `min`, but a pool at 0 slots has no release event left
/// to grow at (README, autoscale: "only `resize` takes it to 0"), so a cut
/// must leave at least one slot, or every later call waits for good.
#[test]
fn overloads_never_cut_an_adaptive_pool_with_min_zero_to_zero_slots() {
    let clock = ManualClock::new();
    let pool = adaptive(0, 8, Some(8), &clock);
    let mut sizes = vec![pool.size()];
    for _ in 0..40 {
        let size = pool.size();
        sizes.push(permit_round(
            &pool,
            &clock,
            size.max(1),
            Duration::from_millis(20),
            Verdict::Overload,
            false,
        ));
    }
    assert!(sizes.iter().all(|&s| s >= 1), "cut to 0 slots: {sizes:?}");
    assert!(pool.try_acquire().is_ok(), "a call can still be admitted");
}

/// `observe`: "`completed` here excludes the panicked calls, which `Stats`
/// counts in both", and "`running` excludes calls nested under their
/// parent's slot".
#[test]
fn panicked_calls_count_apart_and_nested_calls_stay_out_of_the_running_gauge() {
    quiet_planned_panics();
    let (capture, pool) = captured(|| {
        Pool::builder()
            .name("acc14-outcomes")
            .size(2)
            .build()
            .unwrap()
    });
    let seen = block_on(pool.submit(async {
        pool.submit(async { capture.gauge("pooled.running", "acc14-outcomes") })
            .await
    }));
    assert_eq!(seen, Ok(Ok(Some(1.0))), "the nested call shares its slot");
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.run(|| panic!("planned: a call that panics"))
    }));
    assert!(panicked.is_err());
    assert_eq!(capture.calls("acc14-outcomes", "panicked", None), 1);
    assert_eq!(capture.calls("acc14-outcomes", "completed", None), 2);
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.panicked), (3, 1));
    assert_eq!(capture.gauge("pooled.running", "acc14-outcomes"), Some(0.0));
}

/// `observe`: "the gauges lag by a wake-up, and agree whenever the pool is
/// quiet" with `Stats`, whose `waiting` includes "for calls that never
/// reject, those waiting for `resume`" (`Group::submit_wait`,
/// `Group::run_wait`: "it waits through a pause (until `resume`), past the
/// waiting bound and the admission timeout, and even through closing").
#[test]
fn never_rejecting_calls_waiting_through_a_pause_are_in_the_waiting_gauge() {
    use pool_runtime::{Group, GroupSpec};
    static GROUP: Group = Group::new(
        GroupSpec::new("acc14-wait-gauge")
            .size(1)
            .max_waiting(0)
            .admission_timeout(Duration::from_millis(1)),
    );
    // Configuration (and its ceiling, which would gate this group) is
    // process-wide: take turns with the tests that load it.
    let _turn = common::config_turn();
    let (capture, _) = captured(|| GROUP.pool().size());
    let gauge = || capture.gauge("pooled.waiting", "acc14-wait-gauge");
    GROUP.pause();
    {
        let mut waiting = Task::new(GROUP.submit_wait(0, async { 5 }));
        waiting.assert_pending();
        let mut waiting2 = Task::new(GROUP.submit_wait(0, async { 6 }));
        waiting2.assert_pending();
        assert_eq!(GROUP.stats().waiting, 2);
        assert_eq!(gauge(), Some(2.0), "{:?}", GROUP.stats());
        // Past the admission timeout (real time): still waiting.
        std::thread::sleep(Duration::from_millis(20));
        assert!(waiting.poll().is_pending());
        GROUP.resume();
        assert_eq!(waiting.assert_ready(), 5);
        assert_eq!(waiting2.assert_ready(), 6);
    }
    assert_eq!(gauge(), Some(0.0));
    GROUP.pool().close();
    assert_eq!(GROUP.run_wait(0, || 7), 7, "a closed pool still admits it");
    let stats = GROUP.stats();
    assert_eq!((stats.completed, stats.rejected_total()), (3, 0));
    assert_eq!(capture.calls("acc14-wait-gauge", "completed", None), 3);
}

/// `observe`: "event `adaptive window` ... DEBUG | `pool`, `latency_us`,
/// `floor_us`, `successes`, `drops`, `from`, `to`, `decision` (`drop_cut`,
/// ...)", a cut reported as "event `limit changed` | INFO (DEBUG when
/// `adaptive`) | ... `cause` (... `adaptive`)"; with `metrics`, the
/// policy's `pooled.adaptive.latency` and `.floor` gauges in seconds.
#[test]
fn a_drop_cut_is_an_adaptive_window_event_a_debug_limit_change_and_second_gauges() {
    // In a process of its own: tracing caches a callsite's interest
    // process-wide, and another test's capture registering at the same
    // moment once left this one's `adaptive window` events unseen.
    common::in_own_process(
        "a_drop_cut_is_an_adaptive_window_event_a_debug_limit_change_and_second_gauges",
        &[],
        || {
            let traces = Traces::default();
            let clock = ManualClock::new();
            let (capture, pool) = captured(|| {
                Pool::builder()
                    .name("acc14-cut")
                    .kind(Kind::Autoscale)
                    .min(2)
                    .max(32)
                    .size(16)
                    .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT))
                    .clock(Arc::new(clock.clone()))
                    .build()
                    .unwrap()
            });
            traces.run(|| {
                // Successes first (a floor), then a round of overloads.
                for _ in 0..10 {
                    permit_round(
                        &pool,
                        &clock,
                        16,
                        Duration::from_millis(40),
                        Verdict::Success,
                        false,
                    );
                }
                for _ in 0..3 {
                    let size = pool.size();
                    permit_round(
                        &pool,
                        &clock,
                        size,
                        Duration::from_millis(40),
                        Verdict::Overload,
                        false,
                    );
                }
            });
            assert!(pool.size() < 16, "never cut");
            let windows = traces.events("adaptive window");
            let cut = windows
                .iter()
                .find(|w| w.fields.get("decision").map(String::as_str) == Some("drop_cut"))
                .unwrap_or_else(|| panic!("no drop_cut window: {windows:?}"));
            assert_eq!(cut.level, tracing::Level::DEBUG);
            assert_eq!(
                cut.fields.get("pool").map(String::as_str),
                Some("acc14-cut")
            );
            let num = |n: &str| -> f64 { cut.fields[n].parse().unwrap() };
            assert!(num("drops") >= 2.0, "{cut:?}");
            assert!(num("to") < num("from"), "{cut:?}");
            assert!(num("to") * 2.0 >= num("from"), "at most halved: {cut:?}");
            assert!((39_999.0..=40_001.0).contains(&num("floor_us")), "{cut:?}");
            let changes = traces.events("limit changed");
            let adaptive: Vec<_> = changes
                .iter()
                .filter(|c| c.fields.get("cause").map(String::as_str) == Some("adaptive"))
                .collect();
            assert!(!adaptive.is_empty());
            for change in adaptive {
                assert_eq!(change.level, tracing::Level::DEBUG);
            }
            let floor = capture.gauge("pooled.adaptive.floor", "acc14-cut").unwrap();
            assert!((floor - 0.04).abs() < 1e-6, "floor {floor} s");
            let latency = capture
                .gauge("pooled.adaptive.latency", "acc14-cut")
                .unwrap();
            assert!((latency - 0.04).abs() < 1e-6, "latency {latency} s");
            assert_eq!(
                capture.gauge("pooled.limit", "acc14-cut"),
                Some(pool.size() as f64)
            );
        },
    );
}

/// README: "Weights order priority pools; FIFO and LIFO pools accept and
/// ignore them".
#[test]
fn lifo_and_fifo_pools_ignore_weights() {
    for (order, expected) in [(Order::Lifo, [3, 2, 1]), (Order::Fifo, [1, 2, 3])] {
        let pool = Pool::builder().order(order).size(1).build().unwrap();
        let seen = Mutex::new(Vec::new());
        let first = pool.try_acquire().unwrap();
        let mut calls: Vec<_> = [(1, -50), (2, 100), (3, 0)]
            .into_iter()
            .map(|(label, weight)| {
                let seen = &seen;
                let mut t = Task::new(
                    pool.submit_weighted(weight, async move { seen.lock().unwrap().push(label) }),
                );
                t.assert_pending();
                t
            })
            .collect();
        drop(first);
        for _ in 0..3 {
            for call in &mut calls {
                let _ = call.poll();
            }
        }
        assert_eq!(*seen.lock().unwrap(), expected, "{order:?}");
    }
}

/// `BlockingExecutor`: "The default is tokio's blocking pool
/// (`spawn_blocking`) when a tokio runtime is current (feature `tokio`),
/// and a new thread otherwise."
#[test]
fn the_default_executor_uses_tokios_blocking_pool_in_a_runtime_and_a_thread_otherwise() {
    let pool = Pool::builder().size(2).build().unwrap();
    let caller = std::thread::current().id();
    let outside = block_on(pool.submit_blocking(|| {
        (
            std::thread::current().id(),
            tokio::runtime::Handle::try_current().is_ok(),
        )
    }))
    .unwrap();
    assert_ne!(outside.0, caller);
    assert!(!outside.1, "outside a runtime: a plain thread");
    let runtime = common::runtime();
    let inside = runtime
        .block_on(pool.submit_blocking(|| tokio::runtime::Handle::try_current().is_ok()))
        .unwrap();
    assert!(inside, "inside a runtime: its blocking pool");
}

/// `AdaptiveSettings`: "The limit itself stays within the pool's `[min,
/// max]`"; `resize` by hand moves an adaptive pool (clamped), and the
/// policy goes on from there.
#[test]
fn resizing_an_adaptive_pool_by_hand_is_clamped_and_the_policy_goes_on_from_it() {
    let clock = ManualClock::new();
    let pool = adaptive(2, 12, Some(4), &clock);
    assert_eq!(pool.resize(100), 12);
    assert_eq!(pool.resize(0), 2);
    assert_eq!(pool.scale(3), 5);
    for _ in 0..20 {
        let size = pool.size();
        let after = permit_round(
            &pool,
            &clock,
            size,
            Duration::from_millis(10),
            Verdict::Success,
            true,
        );
        assert!((2..=12).contains(&after));
    }
    assert!(
        pool.size() >= 5,
        "steady successes never cut: {}",
        pool.size()
    );
}

/// Reentrancy rule (`Pool` docs): "a nested call that outlives its parent
/// (returned out of the work, or a blocking job whose caller was dropped)
/// keeps the slot busy until it ends" — for a permit taken in the work and
/// returned out of it, and a nested blocking job whose parent was dropped:
/// no other call is admitted meanwhile (counted from outside), and the
/// accounting adds up at every step.
#[test]
fn nested_calls_that_outlive_their_parent_keep_its_slot_busy() {
    let pool = Pool::builder().size(1).build().unwrap();
    // A permit returned out of its parent's work.
    let permit = block_on(pool.submit(async { pool.acquire_owned(0).await.unwrap() })).unwrap();
    let s = pool.stats();
    assert_accounted(&s);
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Full), "{s:?}");
    drop(permit);
    assert_accounted(&pool.stats());
    assert!(pool.try_acquire().is_ok(), "released when it ended");

    // A nested blocking job whose parent was dropped.
    let meter = Meter::default();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    {
        let job_meter = meter.clone();
        let pool2 = pool.clone();
        let mut parent = Task::new(pool.submit(async move {
            pool2
                .submit_blocking(move || {
                    let _inside = job_meter.enter();
                    rx.recv().unwrap();
                })
                .await
        }));
        assert!(parent.poll().is_pending());
        until_sync(|| meter.now() == 1);
    }
    // The parent is gone; its job still runs under its slot.
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
    let other = std::thread::spawn({
        let pool = pool.clone();
        let meter = meter.clone();
        move || pool.run(|| drop(meter.enter()))
    });
    until_sync(|| pool.stats().waiting == 1);
    assert_eq!(meter.done(), 0, "admitted beside the orphaned job");
    tx.send(()).unwrap();
    assert_eq!(other.join().unwrap(), Ok(()));
    assert_eq!(meter.max(), 1);
    let s = pool.stats();
    assert_accounted(&s);
    assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
}

/// `#[pooled]` docs and `scale/adaptive.rs`: "It times every call from
/// admission to completion (never the wait in the pool)". Each round one
/// call holds the slot for 100 ms while another waits, then runs for 10 ms:
/// the windows' latency (the `pooled.adaptive.latency` gauge, a geometric
/// mean) is that of 100 ms and 10 ms, not of 100 ms and 110 ms.
#[test]
fn the_adaptive_policy_times_calls_from_admission_not_from_their_wait() {
    let clock = ManualClock::new();
    let (capture, pool) = captured(|| {
        Pool::builder()
            .name("acc14-no-wait")
            .kind(Kind::Autoscale)
            .min(1)
            .max(1)
            .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT))
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap()
    });
    for _ in 0..40 {
        let permit = pool.try_acquire().unwrap();
        let mut queued = pin!(pool.submit(async { clock.advance(Duration::from_millis(10)) }));
        assert!(poll_once(queued.as_mut()).is_pending());
        clock.advance(Duration::from_millis(100));
        drop(permit);
        assert_eq!(poll_once(queued.as_mut()), Poll::Ready(Ok(())));
    }
    let latency = capture
        .gauge("pooled.adaptive.latency", "acc14-no-wait")
        .expect("a window closed");
    let without_wait = (0.1f64 * 0.01).sqrt();
    assert!(
        (latency - without_wait).abs() < 1e-3,
        "window latency {latency} s (without the wait {without_wait} s, with it {} s)",
        (0.1f64 * 0.11).sqrt()
    );
}

/// `OwnedPermit`: "Taken inside a call's work, a permit is a nested call
/// of that work (it may hold the parent's slot) ... a *sync* call the same
/// work then makes while the permit holds the parent's slot panics naming
/// the fix"; `try_acquire` "(or this call may borrow its parent's)".
#[test]
fn a_sync_call_behind_a_nested_permit_of_the_same_work_panics_instead_of_deadlocking() {
    quiet_planned_panics();
    let pool = Pool::builder().size(1).build().unwrap();
    let message = within(Duration::from_secs(20), {
        let pool = pool.clone();
        move || {
            let borrowed = block_on(pool.submit(async {
                let p = pool.try_acquire_owned(0);
                (p.is_ok(), pool.stats().nested)
            }));
            assert_eq!(
                borrowed,
                Ok((true, 1)),
                "try_acquire borrowed the parent's slot"
            );
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                block_on(pool.submit(async {
                    let permit = pool.acquire_owned(0).await.unwrap();
                    let moved = std::thread::spawn(move || permit);
                    let permit = moved.join().unwrap();
                    let out = pool.run(|| 1);
                    drop(permit);
                    out
                }))
            }));
            let payload = out.expect_err("the sync call must panic, not run or hang");
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default()
        }
    });
    assert!(
        message.contains("async") || message.contains("await"),
        "the panic names the fix: {message:?}"
    );
    let s = pool.stats();
    assert_accounted(&s);
    assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
    assert!(pool.try_acquire().is_ok(), "nothing leaked");
}

/// A future whose output is ready and whose `Drop` then panics.
struct PanicsOnDrop;

impl Future for PanicsOnDrop {
    type Output = u8;
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u8> {
        Poll::Ready(9)
    }
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("planned: a work whose drop panics");
        }
    }
}

/// README, accounting: "a work whose `Drop` panics once its output is
/// ready, is a panicked call" (counted in `completed` and `panicked`); "a
/// panicking call frees its slot and the panic reaches the caller".
#[test]
fn a_work_whose_drop_panics_after_its_output_is_a_panicked_call_that_frees_its_slot() {
    quiet_planned_panics();
    let pool = Pool::builder().size(1).build().unwrap();
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        block_on(pool.submit(PanicsOnDrop))
    }));
    assert!(out.is_err(), "the panic reaches the caller");
    let s = pool.stats();
    assert_eq!((s.completed, s.panicked, s.running), (1, 1, 0), "{s:?}");
    assert_accounted(&s);
    assert!(pool.try_acquire().is_ok());
}

/// `AdaptiveSettings`: "Durations may be anything: one too long to pass
/// (`Duration::MAX`) means \"never\""; every number at the ends of its
/// range is valid; README: "NaN nowhere". With zero durations, calls of
/// zero latency (the clock standing still) and the extreme ranges' ends,
/// the limit stays within `[min, max]` and calls keep being admitted.
#[test]
fn extreme_but_valid_adaptive_settings_keep_the_limit_in_bounds_and_the_pool_admitting() {
    let extremes = [
        AdaptiveSettings {
            window_samples: 1,
            window_time: Duration::ZERO,
            tolerance: 1.0,
            smoothing: 1.0,
            baseline_interval: Duration::ZERO,
            backoff: 0.0,
            drop_tolerance: 0.0,
        },
        AdaptiveSettings {
            window_samples: 1,
            window_time: Duration::ZERO,
            tolerance: f64::MAX,
            smoothing: 0.0,
            baseline_interval: Duration::MAX,
            backoff: 1.0,
            drop_tolerance: 1.0,
        },
        AdaptiveSettings {
            window_time: Duration::MAX,
            ..AdaptiveSettings::DEFAULT
        },
    ];
    for (i, settings) in extremes.into_iter().enumerate() {
        for min in [1, 2] {
            let clock = ManualClock::new();
            let pool = Pool::builder()
                .kind(Kind::Autoscale)
                .min(min)
                .max(6)
                .scale_policy(ScalePolicy::Adaptive(settings))
                .clock(Arc::new(clock.clone()))
                .build()
                .unwrap();
            let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
            for round in 0..600 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let latency = match seed % 4 {
                    0 => Duration::ZERO,
                    1 => Duration::from_nanos(1),
                    2 => Duration::from_millis(5),
                    _ => Duration::from_secs(3),
                };
                let verdict = match (seed >> 8) % 5 {
                    0 => Verdict::Overload,
                    1 => Verdict::Ignore,
                    _ => Verdict::Success,
                };
                let held = 1 + (seed >> 16) as usize % 8;
                let size = permit_round(&pool, &clock, held, latency, verdict, seed & 1 == 0);
                assert!(
                    (min..=6).contains(&size),
                    "settings {i}, min {min}, round {round}: limit {size}"
                );
            }
            assert!(
                pool.try_acquire().is_ok(),
                "settings {i}, min {min}: nothing admitted"
            );
        }
    }
}

/// The same with `min = 0`: overloads with `backoff = 0` ("the limit is cut
/// to no less than `limit × backoff`") must not strand the pool at 0 slots,
/// where no release event is left to grow at (README: "only `resize`
/// takes it to 0").
#[test]
fn a_backoff_of_zero_never_strands_an_adaptive_pool_with_min_zero_at_zero_slots() {
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(0)
        .max(8)
        .size(8)
        .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings {
            backoff: 0.0,
            ..AdaptiveSettings::DEFAULT
        }))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let mut sizes = vec![pool.size()];
    for _ in 0..40 {
        let size = pool.size();
        sizes.push(permit_round(
            &pool,
            &clock,
            size.max(1),
            Duration::from_millis(20),
            Verdict::Overload,
            false,
        ));
    }
    assert!(sizes.iter().all(|&s| s >= 1), "stranded at 0: {sizes:?}");
}

/// `observe`: "event `limit changed` | INFO ... | `pool`, `from`, `to`,
/// `cause` (..., `reload`, ...)": a configuration load that resizes a
/// running group reports it under the group's name.
#[cfg(feature = "config")]
#[test]
fn a_reload_that_resizes_a_running_group_is_a_limit_change_caused_by_reload() {
    use pool_runtime::{config, Group, GroupSpec};
    static GROUP: Group = Group::new(GroupSpec::new("acc14_reload").size(2));
    pool_runtime::register_group!(GROUP);
    let _turn = common::config_turn();
    let traces = Traces::default();
    traces.run(|| {
        assert_eq!(GROUP.pool().size(), 2);
        config::load_str("acc14.toml", "[groups.acc14_reload]\nsize = 5\n").unwrap();
        assert_eq!(GROUP.size(), 5);
    });
    config::clear();
    let changes: Vec<_> = traces
        .events("limit changed")
        .into_iter()
        .filter(|e| e.fields.get("pool").map(String::as_str) == Some("acc14_reload"))
        .collect();
    assert_eq!(changes.len(), 1, "{changes:?}");
    let f = |n: &str| changes[0].fields.get(n).cloned().unwrap_or_default();
    assert_eq!(
        (f("from"), f("to"), f("cause")),
        ("2".into(), "5".into(), "reload".into())
    );
    assert_eq!(changes[0].level, tracing::Level::INFO);
}

/// README: the adaptive start "doubles per round trip (from one or two
/// slots, to three at once) while calls wait for a slot"; module docs:
/// "the step is two slots at least (1 → 3)". The first window of the start,
/// with a call waiting, takes 1 → 3, 2 → 3 or 4, 3 → 6, 4 → 8.
#[test]
fn the_start_doubles_with_a_step_of_two_at_least() {
    for (start, allowed) in [
        (1, &[3][..]),
        (2, &[3, 4][..]),
        (3, &[6][..]),
        (4, &[8][..]),
    ] {
        let clock = ManualClock::new();
        let pool = adaptive(1, 64, Some(start), &clock);
        let mut sizes = vec![pool.size()];
        while pool.size() == start && sizes.len() < 100 {
            sizes.push(permit_round(
                &pool,
                &clock,
                start,
                Duration::from_millis(20),
                Verdict::Success,
                true,
            ));
        }
        assert!(
            allowed.contains(&pool.size()),
            "from {start}: {sizes:?}, expected one of {allowed:?}"
        );
    }
}

/// `observe`: "A pool that goes away (its last handle dropped ...) takes
/// its limit out of `pooled.limit` then" — an owned permit being one of
/// its handles; pools sharing a name "add up" in `limit` and `running`.
#[test]
fn a_pool_leaves_the_limit_gauge_with_its_last_handle_owned_permits_included() {
    let (capture, (a, b)) = captured(|| {
        (
            Pool::builder().name("acc14-gone").size(2).build().unwrap(),
            Pool::builder().name("acc14-gone").size(4).build().unwrap(),
        )
    });
    let gauge = |name| capture.gauge(name, "acc14-gone");
    assert_eq!(gauge("pooled.limit"), Some(6.0));
    let p1 = a.try_acquire_owned(0).unwrap();
    let p2 = a.try_acquire_owned(0).unwrap();
    let q = b.try_acquire_owned(0).unwrap();
    assert_eq!(gauge("pooled.running"), Some(3.0));
    let a2 = a.clone();
    drop(a);
    drop(a2);
    // An owned permit "owns a handle on the pool" (`acquire_owned`): the
    // pool goes away with the last of them.
    assert_eq!(gauge("pooled.limit"), Some(6.0), "permits are handles");
    drop(p1);
    assert_eq!(gauge("pooled.running"), Some(2.0));
    assert_eq!(gauge("pooled.limit"), Some(6.0));
    drop(p2);
    assert_eq!(gauge("pooled.limit"), Some(4.0), "the last handle is gone");
    assert_eq!(gauge("pooled.running"), Some(1.0));
    drop(q);
    assert_eq!(gauge("pooled.running"), Some(0.0));
    assert_eq!(capture.calls("acc14-gone", "completed", None), 3);
    assert_eq!(b.stats().completed, 1);
}

/// `Stats::waiting`: "In a group's stats, its calls waiting for a slot of
/// the application-wide ceiling are not counted (nor submitted): they are
/// not yet the group's, and the ceiling's own stats count them"; the
/// identity holds in both, at every step.
#[cfg(feature = "config")]
#[test]
fn calls_waiting_for_the_ceiling_are_the_ceilings_not_yet_the_groups() {
    use pool_runtime::{ceiling, config, Group, GroupSpec};
    static HOLDER: Group = Group::new(GroupSpec::new("acc14_ceiling_holder").size(2));
    pool_runtime::register_group!(HOLDER);
    static WAITER: Group = Group::new(GroupSpec::new("acc14_ceiling_waiter").size(2));
    pool_runtime::register_group!(WAITER);
    let _turn = common::config_turn();
    config::load_str("acc14.toml", "ceiling = 1\n").unwrap();
    let held = block_on(HOLDER.acquire_owned(0)).unwrap();
    {
        let mut waiting = Task::new(WAITER.submit(0, async { 3 }));
        waiting.assert_pending();
        let group = WAITER.stats();
        let top = ceiling::stats().expect("a ceiling is set");
        assert_eq!((group.waiting, group.submitted()), (0, 0), "{group:?}");
        assert_eq!(top.waiting, 1, "{top:?}");
        assert_eq!(top.running, 1, "{top:?}");
        assert_accounted(&group);
        assert_accounted(&top);
        drop(held);
        assert!(waiting.is_woken());
        assert_eq!(waiting.assert_ready(), Ok(3));
    }
    let group = WAITER.stats();
    assert_eq!((group.submitted(), group.completed), (1, 1), "{group:?}");
    let top = ceiling::stats().unwrap();
    assert_eq!((top.running, top.waiting), (0, 0), "{top:?}");
    assert_accounted(&top);
    config::clear();
}

/// `Pool::abort`: "rejects every waiting call at once with
/// [`Rejected::Closed`] (never-rejecting ones excepted ...)": a
/// `Group::submit_wait` and a `Group::run_wait` waiting through an abort
/// are admitted in order, within the limit, once the slot frees; a
/// rejecting call waiting beside them is turned away.
#[test]
fn an_abort_turns_away_rejecting_waiters_and_admits_never_rejecting_ones_in_order() {
    use pool_runtime::{Group, GroupSpec};
    static GROUP: Group = Group::new(GroupSpec::new("acc14-abort").size(1));
    let _turn = common::config_turn();
    let order = Arc::new(Mutex::new(Vec::new()));
    let hold = block_on(GROUP.acquire_owned(0)).unwrap();
    let mut first = Task::new(GROUP.submit_wait(0, {
        let order = order.clone();
        async move { order.lock().unwrap().push("submit_wait") }
    }));
    first.assert_pending();
    let mut rejecting = Task::new(GROUP.submit(0, async {}));
    rejecting.assert_pending();
    let second = std::thread::spawn({
        let order = order.clone();
        move || GROUP.run_wait(0, || order.lock().unwrap().push("run_wait"))
    });
    until_sync(|| GROUP.stats().waiting == 3);
    GROUP.pool().abort();
    assert_eq!(rejecting.assert_ready(), Err(Rejected::Closed));
    assert_eq!(GROUP.stats().waiting, 2, "{:?}", GROUP.stats());
    drop(hold);
    assert_eq!(first.assert_ready(), ());
    second.join().unwrap();
    assert_eq!(*order.lock().unwrap(), ["submit_wait", "run_wait"]);
    let s = GROUP.stats();
    assert_eq!(
        (s.completed, s.rejected_for(Rejected::Closed)),
        (3, 1),
        "{s:?}"
    );
    assert_accounted(&s);
}

/// `AdaptiveSettings`: "The limit itself stays within the pool's `[min,
/// max]`" — also bounds changed while it runs (`Pool::set_bounds`: "the
/// size is clamped into them"): the start's doubling then stops at the new
/// `max`.
#[test]
fn live_bounds_hold_the_adaptive_limit() {
    let clock = ManualClock::new();
    let pool = adaptive(2, 64, Some(8), &clock);
    assert_eq!(pool.set_bounds(2, 5), Ok(5));
    for _ in 0..60 {
        let size = pool.size();
        let after = permit_round(
            &pool,
            &clock,
            size + 2,
            Duration::from_millis(10),
            Verdict::Success,
            true,
        );
        assert!((2..=5).contains(&after), "limit {after} outside [2, 5]");
    }
    assert_eq!(pool.set_bounds(6, 7), Ok(6));
    for _ in 0..60 {
        let size = pool.size();
        let after = permit_round(
            &pool,
            &clock,
            size,
            Duration::from_millis(10),
            Verdict::Overload,
            false,
        );
        assert!((6..=7).contains(&after), "limit {after} outside [6, 7]");
    }
}

/// tower's `overload` with each of the layer's modes: `weight` ("the call
/// then waits in the response future"), `reject`, and
/// `hold_until_body_ends` ("a body dropped or broken before its end is no
/// sample" — while "a result `is_overload` accepts ... is a
/// `Verdict::Overload`, which cuts the limit"): 503s cut the adaptive limit
/// in every mode; 200s whose bodies are dropped unread are no samples.
#[cfg(feature = "tower")]
#[test]
fn tower_overload_verdicts_count_in_weighted_reject_and_body_holding_modes() {
    use pool_runtime::tower::PooledLayer;
    use tower::{Layer, ServiceExt};

    let is_503 = |result: &Result<http::Response<String>, std::convert::Infallible>| matches!(result, Ok(r) if r.status() == 503);
    let respond = |clock: ManualClock, status: u16| {
        tower::service_fn(move |_: ()| {
            let clock = clock.clone();
            async move {
                clock.advance(Duration::from_millis(20));
                let mut response = http::Response::new(String::from("body"));
                *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
                Ok::<_, std::convert::Infallible>(response)
            }
        })
    };
    // Weighted.
    let clock = ManualClock::new();
    let pool = adaptive(2, 64, Some(32), &clock);
    let service = PooledLayer::pool(pool.clone())
        .weight(|_: &()| 0)
        .overload(is_503)
        .layer(respond(clock.clone(), 503));
    block_on(async {
        for _ in 0..200 {
            let _ = service.clone().oneshot(()).await;
        }
    });
    assert!(pool.size() < 32, "weighted: 503s never cut");
    // Reject mode.
    let clock = ManualClock::new();
    let pool = adaptive(2, 64, Some(32), &clock);
    let service = PooledLayer::pool(pool.clone())
        .reject()
        .overload(is_503)
        .layer(respond(clock.clone(), 503));
    block_on(async {
        for _ in 0..200 {
            let _ = service.clone().oneshot(()).await;
        }
    });
    assert!(pool.size() < 32, "reject: 503s never cut");
    // Bodies held and read to their end: 503s cut, 200s do not.
    for (status, cut) in [(503u16, true), (200, false)] {
        let clock = ManualClock::new();
        let pool = adaptive(2, 64, Some(32), &clock);
        let service = PooledLayer::pool(pool.clone())
            .overload(is_503)
            .hold_until_body_ends()
            .layer(respond(clock.clone(), status));
        block_on(async {
            for _ in 0..200 {
                let response = service.clone().oneshot(()).await.unwrap();
                assert_eq!(response.status(), status);
                let mut body = pin!(response.into_body());
                while let Some(frame) =
                    std::future::poll_fn(|cx| http_body::Body::poll_frame(body.as_mut(), cx)).await
                {
                    frame.unwrap();
                }
            }
        });
        assert_eq!(pool.stats().running, 0);
        if cut {
            assert!(pool.size() < 32, "held bodies: 503s never cut");
        } else {
            assert!(
                pool.size() >= 16,
                "held bodies: 200s cut to {}",
                pool.size()
            );
        }
    }
    // Bodies held and dropped unread: no latency samples.
    let clock = ManualClock::new();
    let pool = adaptive(2, 64, Some(32), &clock);
    let service = PooledLayer::pool(pool.clone())
        .overload(is_503)
        .hold_until_body_ends()
        .layer(respond(clock.clone(), 200));
    block_on(async {
        for _ in 0..200 {
            drop(service.clone().oneshot(()).await.unwrap());
        }
    });
    assert_eq!(pool.size(), 32, "bodies dropped unread are no samples");
}

/// `PermitBody`: "a body ending in an error or dropped before its end is
/// no latency sample (an overload verdict given with the response head
/// stands)"; `PooledLayer::overload`: a result `is_overload` accepts "is a
/// `Verdict::Overload`, which cuts the limit". A client that gets a 503 and
/// drops its body unread (the usual thing to do with a 503) must still
/// count as an overload.
#[cfg(feature = "tower")]
#[test]
fn an_overload_verdict_stands_when_a_held_body_is_dropped_unread() {
    use pool_runtime::tower::PooledLayer;
    use tower::{Layer, ServiceExt};

    let clock = ManualClock::new();
    let pool = adaptive(2, 64, Some(32), &clock);
    let advance = clock.clone();
    let service = PooledLayer::pool(pool.clone())
        .overload(|result: &Result<http::Response<String>, std::convert::Infallible>| {
            matches!(result, Ok(r) if r.status() == 503)
        })
        .hold_until_body_ends()
        .layer(tower::service_fn(move |_: ()| {
            let clock = advance.clone();
            async move {
                clock.advance(Duration::from_millis(20));
                let mut response = http::Response::new(String::from("overloaded"));
                *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                Ok::<_, std::convert::Infallible>(response)
            }
        }));
    block_on(async {
        for _ in 0..200 {
            let response = service.clone().oneshot(()).await.unwrap();
            assert_eq!(response.status(), 503);
            drop(response); // unread
        }
    });
    assert_eq!(pool.stats().running, 0);
    assert!(
        pool.size() < 32,
        "200 overloaded answers never cut the limit ({})",
        pool.size()
    );
}

/// `observe`: the gauges "lag by a wake-up, and agree whenever the pool is
/// quiet" with `Stats`: a waiting call handed a slot and dropped before it
/// sees it, a waiting call timed out, a nested call that waited for its
/// parent's lent slot — each leaves `running`/`waiting` where `Stats` has
/// them, and the counter where `Stats` counts it.
#[test]
fn gauges_agree_with_stats_after_hand_offs_nobody_saw_and_timeouts() {
    let (capture, pool) = captured(|| {
        Pool::builder()
            .name("acc14-quiet")
            .size(1)
            .admission_timeout(Duration::from_millis(2))
            .build()
            .unwrap()
    });
    let agree = |what: &str| {
        let s = pool.stats();
        assert_eq!(
            (
                capture.gauge("pooled.running", "acc14-quiet"),
                capture.gauge("pooled.waiting", "acc14-quiet")
            ),
            (Some(s.running as f64), Some(s.waiting as f64)),
            "{what}: {s:?}"
        );
        assert_eq!(
            capture.calls("acc14-quiet", "cancelled", None),
            s.cancelled,
            "{what}"
        );
        assert_eq!(
            capture.calls("acc14-quiet", "completed", None),
            s.completed - s.panicked,
            "{what}"
        );
        assert_eq!(
            capture.calls("acc14-quiet", "rejected", Some("timed_out")),
            s.rejected_for(Rejected::TimedOut),
            "{what}"
        );
    };
    // Handed a slot, dropped before it saw it.
    let permit = pool.try_acquire().unwrap();
    let mut waiting = Task::new(pool.submit(async {}));
    waiting.assert_pending();
    agree("waiting");
    drop(permit);
    assert!(waiting.is_woken());
    drop(waiting);
    agree("handed off, dropped unseen");
    // Timed out (real time) in the queue.
    let permit = pool.try_acquire().unwrap();
    let timed_out = std::thread::scope(|s| s.spawn(|| pool.run(|| ())).join().unwrap());
    assert_eq!(timed_out, Err(Rejected::TimedOut));
    agree("timed out");
    drop(permit);
    // Nested calls waiting for the lent slot, joined.
    let out = block_on(pool.submit(async {
        let (a, b) = futures::join!(pool.submit(async { 1 }), pool.submit(async { 2 }));
        (a, b)
    }));
    assert_eq!(out, Ok((Ok(1), Ok(2))));
    agree("nested");
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0));
}

/// `RayonExecutor`: "rayon's answer to a panicking spawned job is to abort
/// the process ... so it is caught here" (README: "a waker whose `wake`
/// panics does not stop ... the thread a blocking job ran on"): a job
/// ending on a rayon thread hands its slot to a waiter whose waker panics;
/// the process lives on, the waiter is admitted, nothing leaks. (In a child
/// process: an abort would take the test binary down.)
#[cfg(feature = "rayon")]
#[test]
fn a_panicking_waker_woken_from_a_rayon_job_does_not_abort_the_process() {
    common::in_child_process(
        "a_panicking_waker_woken_from_a_rayon_job_does_not_abort_the_process",
        &[],
        || {
            use pool_runtime::RayonExecutor;
            quiet_planned_panics();
            let pool = Pool::builder()
                .size(1)
                .blocking_executor(Arc::new(RayonExecutor::default()))
                .build()
                .unwrap();
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let mut job = Task::new(pool.submit_blocking(move || rx.recv().unwrap()));
            job.assert_pending();
            until_sync(|| pool.stats().running == 1);
            let mut waiter = pin!(pool.submit(async { 7 }));
            let waker = common::panicking_waker();
            assert!(waiter
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            tx.send(()).unwrap();
            // The waker's panic, caught on the rayon thread, goes to the
            // job's caller, as it would through `spawn_blocking` (pool docs:
            // "a panic out of it is a waker's ... It goes to the caller").
            until_sync(|| {
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.poll())) {
                    Ok(Poll::Pending) => false,
                    Ok(Poll::Ready(out)) => {
                        assert_eq!(out, Ok(()));
                        true
                    }
                    Err(payload) => {
                        let message = payload.downcast_ref::<&str>().copied().unwrap_or("");
                        assert!(message.starts_with("planned"), "{message}");
                        true
                    }
                }
            });
            assert_eq!(poll_once(waiter.as_mut()), Poll::Ready(Ok(7)));
            let s = pool.stats();
            assert_eq!((s.completed, s.running, s.waiting), (2, 0, 0), "{s:?}");
            assert_accounted(&s);
        },
    );
}

/// Runs each job at once, on the thread that hands it over.
struct Inline(AtomicUsize);

impl BlockingExecutor for Inline {
    fn execute(&self, job: BlockingJob) {
        self.0.fetch_add(1, SeqCst);
        job();
    }
}

/// `BlockingExecutor`: "Where blocking closures run: plug in your own
/// thread pool" — "Runs `job` on some thread", the calling one included:
/// the limit, nested calls from inside the closure ("a nested call made
/// from inside the closure runs under its slot") and the accounting hold
/// with an executor that runs jobs inline.
#[test]
fn an_executor_that_runs_jobs_inline_keeps_the_limit_and_the_reentrancy_rule() {
    let executor = Arc::new(Inline(AtomicUsize::new(0)));
    let pool = Pool::builder()
        .size(1)
        .blocking_executor(executor.clone())
        .build()
        .unwrap();
    let out = within(Duration::from_secs(20), {
        let pool = pool.clone();
        move || {
            let plain = block_on(pool.submit_blocking(|| 1));
            let p2 = pool.clone();
            let nested_in_job = block_on(pool.submit_blocking(move || p2.run(|| 2)));
            let p3 = pool.clone();
            let job_in_call = block_on(pool.submit(async {
                p3.submit_blocking({
                    let p4 = p3.clone();
                    move || p4.run(|| 3)
                })
                .await
            }));
            (plain, nested_in_job, job_in_call)
        }
    });
    assert_eq!(out, (Ok(1), Ok(Ok(2)), Ok(Ok(Ok(3)))));
    assert_eq!(executor.0.load(SeqCst), 3);
    let s = pool.stats();
    assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
    assert_eq!(s.completed, 6, "{s:?}");
    assert_accounted(&s);
}

/// `Pool::submit_judged` "tells an adaptive pool ... how the call went"
/// and `#[pooled]`'s `overload`: "Each call's outcome becomes a verdict:
/// ... an `Err` the function accepts is an overload"; README (tower): "a
/// handler (or a body) calling the same pool or group makes a nested call".
/// 300 calls judged overloaded cut the limit when they are top-level calls
/// (the control), but not when each is nested in a call of the same pool
/// that succeeds: a nested call's verdict is dropped.
#[test]
fn overload_verdicts_of_nested_calls_reach_the_adaptive_policy() {
    let run = |nested: bool| {
        let clock = ManualClock::new();
        let pool = adaptive(2, 64, Some(32), &clock);
        for _ in 0..300 {
            let judged = pool.submit_judged(
                0,
                async { clock.advance(Duration::from_millis(20)) },
                |_| Verdict::Overload,
            );
            let out = if nested {
                block_on(pool.submit(judged)).unwrap()
            } else {
                block_on(judged)
            };
            assert_eq!(out, Ok(()));
        }
        pool.size()
    };
    assert!(
        run(false) < 32,
        "control: top-level overloads cut the limit"
    );
    let nested = run(true);
    assert!(
        nested < 32,
        "300 nested calls judged overloaded never cut the limit ({nested})"
    );
}

/// `observe`: "Every pool reports under its name (... a group's pool under
/// the group's name, the application-wide ceiling as `(ceiling)`)". (In a
/// child process: the ceiling is one pool per process, built by the first
/// load that sets it, and it reports to the recorder in force then.)
#[cfg(feature = "config")]
#[test]
fn the_ceiling_and_a_groups_pool_report_under_their_names() {
    use pool_runtime::{config, Group, GroupSpec};
    static GROUP: Group = Group::new(GroupSpec::new("acc14_named_group").size(2));
    pool_runtime::register_group!(GROUP);
    common::in_child_process(
        "the_ceiling_and_a_groups_pool_report_under_their_names",
        &[],
        || {
            let (capture, ()) = captured(|| {
                config::load_str("acc14.toml", "ceiling = 3\n").unwrap();
                let _ = GROUP.pool();
            });
            assert_eq!(block_on(GROUP.submit(0, async { 1 })), Ok(1));
            assert_eq!(GROUP.run(|| 2), Ok(2));
            assert_eq!(capture.calls("acc14_named_group", "completed", None), 2);
            assert_eq!(
                capture.gauge("pooled.limit", "acc14_named_group"),
                Some(2.0)
            );
            assert_eq!(capture.calls("(ceiling)", "completed", None), 2);
            assert_eq!(capture.gauge("pooled.limit", "(ceiling)"), Some(3.0));
            assert_eq!(capture.gauge("pooled.running", "(ceiling)"), Some(0.0));
        },
    );
}

/// Records the descriptions pools give their metrics.
#[derive(Default)]
struct Descriptions(Mutex<Vec<(String, Option<metrics::Unit>, String)>>);

impl Descriptions {
    fn note(
        &self,
        key: metrics::KeyName,
        unit: Option<metrics::Unit>,
        text: metrics::SharedString,
    ) {
        self.0
            .lock()
            .unwrap()
            .push((key.as_str().to_owned(), unit, text.to_string()));
    }
}

impl metrics::Recorder for Descriptions {
    fn describe_counter(
        &self,
        k: metrics::KeyName,
        u: Option<metrics::Unit>,
        d: metrics::SharedString,
    ) {
        self.note(k, u, d)
    }
    fn describe_gauge(
        &self,
        k: metrics::KeyName,
        u: Option<metrics::Unit>,
        d: metrics::SharedString,
    ) {
        self.note(k, u, d)
    }
    fn describe_histogram(
        &self,
        k: metrics::KeyName,
        u: Option<metrics::Unit>,
        d: metrics::SharedString,
    ) {
        self.note(k, u, d)
    }
    fn register_counter(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::noop()
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

/// `observe`: names follow OpenTelemetry's conventions, "units in the
/// metadata, not the name" — the histograms and the adaptive gauges in
/// seconds (the table's unit column), every metric of a pool described.
#[test]
fn every_pool_metric_is_described_with_the_documented_unit() {
    use metrics::Unit;
    let recorder = Descriptions::default();
    let clock = ManualClock::new();
    metrics::with_local_recorder(&recorder, || {
        drop(adaptive(1, 4, None, &clock));
    });
    let seen = recorder.0.lock().unwrap().clone();
    let unit = |name: &str| {
        seen.iter()
            .find(|(k, _, _)| k == name)
            .unwrap_or_else(|| panic!("{name} not described: {seen:?}"))
            .1
    };
    for name in [
        "pooled.wait_time",
        "pooled.run_time",
        "pooled.adaptive.floor",
        "pooled.adaptive.latency",
    ] {
        assert_eq!(unit(name), Some(Unit::Seconds), "{name}");
    }
    for name in [
        "pooled.calls",
        "pooled.limit",
        "pooled.running",
        "pooled.waiting",
    ] {
        assert_ne!(unit(name), Some(Unit::Seconds), "{name}");
    }
    for (name, _, text) in &seen {
        assert!(name.starts_with("pooled."), "{name}");
        assert!(!text.is_empty(), "{name} has no description");
    }
}
