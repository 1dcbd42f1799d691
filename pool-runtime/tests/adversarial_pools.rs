//! Hostile tests, round 4: what the README ("In code", "How it works, and the
//! rules it keeps") and the docs of `Pool`, `PoolBuilder`, `Stats`,
//! `ScalePolicy`, `AdaptiveSettings` and `AutoscaleTiming` promise about
//! admission order under concurrency (every call form in one queue),
//! scaling (extreme deltas, bounds, the two autoscalers), accounting under
//! random concurrent mixes, the lifecycle (close, abort, drained, shutdown,
//! scoped) and bad input. Admission order and concurrency are recorded from
//! outside the library (a log pushed to at the start of each body, a meter
//! around each body); every wait is bounded, so a hang fails.
#![cfg(feature = "tokio")]

mod common;

use common::{assert_accounted, quiet_planned_panics, runtime, Meter, Task};
use pool_runtime::{
    AdaptiveSettings, AutoscaleTiming, BuildError, Kind, ManualClock, Order, Pool, Rejected,
    ScalePolicy, Verdict, MAX_SLOTS,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Log = Arc<Mutex<Vec<usize>>>;

/// Waits (bounded) until `done` holds.
#[track_caller]
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Every way of making a call that can wait in the queue.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    Submit,
    Judged,
    Run,
    Blocking,
    Spawn,
    Permit,
    OwnedPermit,
}

const FORMS: [Form; 7] = [
    Form::Submit,
    Form::Judged,
    Form::Run,
    Form::Blocking,
    Form::Spawn,
    Form::Permit,
    Form::OwnedPermit,
];

/// A caller waiting somewhere: a tokio task or a parked thread.
enum Caller {
    Task(tokio::task::JoinHandle<Result<(), Rejected>>),
    Thread(std::thread::JoinHandle<Result<(), Rejected>>),
}

impl Caller {
    /// Its outcome, or a failure if it does not end within 5 s.
    fn join(self, rt: &tokio::runtime::Runtime) -> Result<(), Rejected> {
        match self {
            Caller::Task(handle) => rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(5), handle).await })
                .expect("a caller did not finish within 5 s")
                .expect("a caller panicked"),
            Caller::Thread(handle) => {
                let deadline = Instant::now() + Duration::from_secs(5);
                while !handle.is_finished() {
                    assert!(
                        Instant::now() < deadline,
                        "a sync caller did not finish within 5 s"
                    );
                    std::thread::sleep(Duration::from_millis(1));
                }
                handle.join().expect("a sync caller panicked")
            }
        }
    }
}

/// Starts a call of `form` with `weight` whose body pushes `id` to `log`.
fn start(
    rt: &tokio::runtime::Runtime,
    pool: &Pool,
    form: Form,
    weight: i64,
    id: usize,
    log: &Log,
) -> Caller {
    let (pool, log) = (pool.clone(), log.clone());
    let push = move |log: &Log| log.lock().unwrap().push(id);
    match form {
        Form::Submit => Caller::Task(
            rt.spawn(async move { pool.submit_weighted(weight, async { push(&log) }).await }),
        ),
        Form::Judged => Caller::Task(rt.spawn(async move {
            pool.submit_judged(weight, async { push(&log) }, |_| Verdict::Success)
                .await
        })),
        Form::Run => Caller::Thread(std::thread::spawn(move || {
            pool.run_weighted(weight, || push(&log))
        })),
        Form::Blocking => Caller::Task(rt.spawn(async move {
            pool.submit_blocking_weighted(weight, move || push(&log))
                .await
        })),
        Form::Spawn => {
            let _in = rt.enter();
            let handle = pool.spawn_weighted(weight, async move { push(&log) });
            Caller::Task(rt.spawn(async move { handle?.await }))
        }
        Form::Permit => Caller::Task(rt.spawn(async move {
            let permit = pool.acquire_weighted(weight).await?;
            push(&log);
            drop(permit);
            Ok(())
        })),
        Form::OwnedPermit => Caller::Task(rt.spawn(async move {
            let permit = pool.acquire_owned(weight).await?;
            push(&log);
            drop(permit);
            Ok(())
        })),
    }
}

/// Queues `calls` (form, weight) one at a time behind a held slot of a pool
/// of one, then frees the slot, and returns the order their bodies started.
fn admission_order(order: Order, calls: &[(Form, i64)]) -> Vec<usize> {
    let rt = runtime();
    let pool = Pool::builder().order(order).size(1).build().unwrap();
    let log = Log::default();
    let holder = pool.try_acquire_owned(0).unwrap();
    let mut callers = Vec::new();
    for (id, &(form, weight)) in calls.iter().enumerate() {
        callers.push(start(&rt, &pool, form, weight, id, &log));
        wait_until(&format!("call {id} ({form:?}) waits"), || {
            pool.stats().waiting == id + 1
        });
    }
    drop(holder);
    for caller in callers {
        assert_eq!(caller.join(&rt), Ok(()));
    }
    let stats = pool.stats();
    assert_accounted(&stats);
    assert_eq!(stats.completed, calls.len() as u64 + 1);
    let order = log.lock().unwrap().clone();
    order
}

/// Every form twice, interleaved, with weights that include both extremes.
fn mixed_calls() -> Vec<(Form, i64)> {
    let weights = [i64::MAX, 0, i64::MIN, 7, i64::MIN, -1, i64::MAX];
    FORMS
        .iter()
        .chain(FORMS.iter().rev())
        .zip(weights.iter().cycle())
        .map(|(&form, &weight)| (form, weight))
        .collect()
}

/// Promise: FIFO admits in arrival order, whatever the form of the call —
/// sync callers and blocking calls share the queue with async ones.
#[test]
fn fifo_admits_every_call_form_in_arrival_order() {
    let calls = mixed_calls();
    let expected: Vec<usize> = (0..calls.len()).collect();
    assert_eq!(admission_order(Order::Fifo, &calls), expected);
}

/// Promise: LIFO admits the newest waiter first, whatever the form.
#[test]
fn lifo_admits_every_call_form_newest_first() {
    let calls = mixed_calls();
    let expected: Vec<usize> = (0..calls.len()).rev().collect();
    assert_eq!(admission_order(Order::Lifo, &calls), expected);
}

/// Promise: priority admits the smallest weight first, FIFO among equals,
/// with weights at `i64::MIN` and `i64::MAX`, whatever the form.
#[test]
fn priority_admits_smallest_weight_first_and_fifo_among_equals_for_every_form() {
    let calls = mixed_calls();
    let mut expected: Vec<usize> = (0..calls.len()).collect();
    expected.sort_by_key(|&i| calls[i].1); // stable: arrival order among equals
    assert_eq!(admission_order(Order::Priority, &calls), expected);
}

/// Promise: the order holds across `pause`/`resume` (queued calls keep their
/// place and keep being admitted; a new call while paused is turned away),
/// `resize(0)` (the queue is held, not lost or reordered), and `scale` back
/// up; a call that arrives while the queue is held goes behind it (FIFO),
/// ahead of it (LIFO), or by weight (priority) — never by barging.
#[test]
fn the_order_survives_pause_resume_resize_zero_and_scale_up() {
    for order in [Order::Fifo, Order::Lifo, Order::Priority] {
        let rt = runtime();
        let pool = Pool::builder().order(order).size(1).build().unwrap();
        let log = Log::default();
        let holder = pool.try_acquire_owned(0).unwrap();
        // (form, weight) queued in this order, interrupted by the steps below.
        let calls = [
            (Form::Submit, 5),
            (Form::Run, i64::MIN),
            (Form::Blocking, 5),
            (Form::Spawn, 0),
            (Form::Permit, i64::MAX),
            (Form::Judged, 0),
        ];
        let mut callers = Vec::new();
        let queue = |callers: &mut Vec<Caller>, id: usize| {
            let (form, weight) = calls[id];
            callers.push(start(&rt, &pool, form, weight, id, &log));
            wait_until(&format!("{order:?}: call {id} waits"), || {
                pool.stats().waiting == id + 1
            });
        };
        queue(&mut callers, 0);
        queue(&mut callers, 1);
        pool.pause();
        let turned_away = rt.block_on(pool.submit(async { unreachable!() }));
        assert_eq!(turned_away, Err(Rejected::Paused));
        assert_eq!(pool.try_acquire().err(), Some(Rejected::Paused));
        pool.resume();
        queue(&mut callers, 2);
        assert_eq!(pool.resize(0), 0);
        drop(holder);
        queue(&mut callers, 3);
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            log.lock().unwrap().is_empty(),
            "{order:?}: a pool resized to 0 admitted a call"
        );
        assert_eq!(pool.stats().running, 0);
        assert_eq!(
            pool.try_acquire().err(),
            Some(Rejected::Full),
            "{order:?}: a newcomer took a slot of a held queue"
        );
        queue(&mut callers, 4);
        queue(&mut callers, 5);
        assert_eq!(pool.scale(1), 1);
        for caller in callers {
            assert_eq!(caller.join(&rt), Ok(()));
        }
        let mut expected: Vec<usize> = (0..calls.len()).collect();
        match order {
            Order::Fifo => {}
            Order::Lifo => expected.reverse(),
            _ => expected.sort_by_key(|&i| calls[i].1),
        }
        assert_eq!(*log.lock().unwrap(), expected, "{order:?}");
        let stats = pool.stats();
        assert_accounted(&stats);
        assert_eq!(stats.rejected_for(Rejected::Paused), 2);
        assert_eq!(stats.rejected_for(Rejected::Full), 1);
    }
}

/// Promise: hand-off, no barging, under real concurrency. Eight threads
/// queue sync calls on a FIFO pool of one while eight others hammer
/// `try_acquire`; a queued call is admitted before any call that arrived
/// after it, so once a waiter is known to be queued, no `try_acquire` may
/// succeed until that waiter has run.
#[test]
fn no_newcomer_overtakes_a_queued_call_under_contention() {
    let pool = Pool::builder().size(1).build().unwrap();
    let log = Log::default();
    let stop = Arc::new(AtomicBool::new(false));
    // The id of the waiter known to be queued, and whether it has run.
    let queued_waiter = Arc::new(Mutex::new(None::<usize>));
    let barged = Arc::new(AtomicUsize::new(0));
    // A `try_acquire` that finds no free slot is in the queue for a moment
    // (it counts in `waiting`): the main thread takes this lock to know that
    // the waiter it counts is its caller, then lets the hammers race the
    // release and the hand-off.
    let attempts = Arc::new(std::sync::RwLock::new(()));
    let hammers: Vec<_> = (0..4)
        .map(|_| {
            let (pool, stop, log, queued, barged) = (
                pool.clone(),
                stop.clone(),
                log.clone(),
                queued_waiter.clone(),
                barged.clone(),
            );
            let attempts = attempts.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let _attempt = attempts.read().unwrap();
                    let known = *queued.lock().unwrap();
                    if let Ok(permit) = pool.try_acquire() {
                        // A waiter known queued before this attempt must have run.
                        if let Some(id) = known {
                            if !log.lock().unwrap().contains(&id) {
                                barged.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        drop(permit);
                    }
                    std::thread::yield_now();
                }
            })
        })
        .collect();
    for id in 0..200 {
        let (pool2, log2) = (pool.clone(), log.clone());
        // Hold the slot so that the next caller must queue.
        let holder = loop {
            if let Ok(permit) = pool.try_acquire_owned(0) {
                break permit;
            }
            std::thread::yield_now();
        };
        let quiet = attempts.write().unwrap();
        let caller = std::thread::spawn(move || {
            pool2.run(|| {
                log2.lock().unwrap().push(id);
                std::thread::sleep(Duration::from_micros(50));
            })
        });
        wait_until("the caller waits", || pool.stats().waiting == 1);
        *queued_waiter.lock().unwrap() = Some(id);
        drop(quiet);
        drop(holder);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !caller.is_finished() {
            assert!(Instant::now() < deadline, "a queued call never ran");
            std::thread::yield_now();
        }
        assert_eq!(caller.join().unwrap(), Ok(()));
    }
    stop.store(true, Ordering::SeqCst);
    for hammer in hammers {
        hammer.join().unwrap();
    }
    assert_eq!(
        barged.load(Ordering::SeqCst),
        0,
        "a try_acquire took a slot while an older call was queued"
    );
    assert_accounted(&pool.stats());
}

// ---- scaling -------------------------------------------------------------

/// Promise: `scale(delta)` and `resize(n)` clamp to `[0, MAX_SLOTS]` on a
/// fixed pool and `[min, max]` on an autoscaled one, whatever the delta
/// (`isize::MIN`/`MAX` included) — no overflow, no panic — and scaling up
/// admits the waiting calls at once.
#[test]
fn extreme_deltas_and_sizes_clamp_and_scaling_up_admits_every_waiter_at_once() {
    let fixed = Pool::fixed(3);
    assert_eq!(fixed.scale(isize::MAX), MAX_SLOTS);
    assert_eq!(fixed.scale(isize::MAX), MAX_SLOTS, "at the top already");
    assert_eq!(fixed.scale(isize::MIN), 0);
    assert_eq!(fixed.scale(isize::MIN), 0, "at the bottom already");
    assert_eq!(fixed.resize(usize::MAX), MAX_SLOTS);
    assert_eq!(fixed.resize(MAX_SLOTS + 1), MAX_SLOTS);
    assert_eq!(fixed.scale(-(MAX_SLOTS as isize)), 0);
    assert_eq!(fixed.scale(1), 1);
    assert_eq!(fixed.bounds(), (0, MAX_SLOTS));

    let auto = Pool::builder()
        .kind(Kind::Autoscale)
        .min(2)
        .max(5)
        .build()
        .unwrap();
    assert_eq!(auto.scale(isize::MAX), 5);
    assert_eq!(auto.scale(isize::MIN), 2);
    assert_eq!(auto.resize(usize::MAX), 5);
    assert_eq!(auto.resize(0), 2);
    assert_eq!(auto.resize(4), 4);

    // Waiters of every form on a pool scaled to 0, admitted at once by one
    // scale to the top.
    let rt = runtime();
    let meter = Meter::default();
    let release = Arc::new(AtomicBool::new(false));
    fixed.resize(0);
    let callers: Vec<_> = (0..12)
        .map(|i| {
            let (pool, meter, release) = (fixed.clone(), meter.clone(), release.clone());
            let hold = move || {
                let _inside = meter.enter();
                while !release.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            };
            match i % 3 {
                0 => Caller::Thread(std::thread::spawn(move || pool.run(hold))),
                1 => Caller::Task(rt.spawn(async move { pool.submit_blocking(hold).await })),
                _ => Caller::Thread(std::thread::spawn(move || {
                    futures::executor::block_on(pool.submit(async move { hold() }))
                })),
            }
        })
        .collect();
    wait_until("all twelve wait", || fixed.stats().waiting == 12);
    assert_eq!(meter.now(), 0, "a pool of size 0 admitted a call");
    assert_eq!(fixed.scale(isize::MAX), MAX_SLOTS);
    wait_until("all twelve run at once after one scale-up", || {
        meter.now() == 12
    });
    release.store(true, Ordering::SeqCst);
    for caller in callers {
        assert_eq!(caller.join(&rt), Ok(()));
    }
    assert_eq!(meter.done(), 12);
    assert_accounted(&fixed.stats());
}

/// Promise: `set_bounds` on a fixed pool is `BoundsOnFixedPool` and changes
/// nothing; on an autoscaled pool bad bounds are the builder's errors and
/// change nothing, good ones clamp the size into them (admitting waiters
/// when that grows it).
#[test]
fn set_bounds_refuses_fixed_pools_and_bad_bounds_and_changing_nothing() {
    let fixed = Pool::fixed(4);
    for (min, max) in [(1, 2), (0, 0), (5, 1), (0, usize::MAX)] {
        assert_eq!(
            fixed.set_bounds(min, max),
            Err(BuildError::BoundsOnFixedPool)
        );
        assert_eq!((fixed.size(), fixed.bounds()), (4, (0, MAX_SLOTS)));
    }
    let auto = Pool::builder()
        .kind(Kind::Autoscale)
        .min(2)
        .max(6)
        .size(3)
        .build()
        .unwrap();
    let refused = [
        ((0, 0), BuildError::ZeroMax),
        ((5, 4), BuildError::MinAboveMax { min: 5, max: 4 }),
        (
            (usize::MAX, usize::MAX),
            BuildError::TooLarge { value: usize::MAX },
        ),
        (
            (1, MAX_SLOTS + 1),
            BuildError::TooLarge {
                value: MAX_SLOTS + 1,
            },
        ),
        (
            (usize::MAX, 1),
            BuildError::MinAboveMax {
                min: usize::MAX,
                max: 1,
            },
        ),
    ];
    for ((min, max), error) in refused {
        assert_eq!(auto.set_bounds(min, max), Err(error.clone()));
        assert!(!error.to_string().is_empty());
        assert_eq!((auto.size(), auto.bounds()), (3, (2, 6)), "{min}..={max}");
    }
    // Good bounds: the size is clamped into them.
    let holders: Vec<_> = (0..3).map(|_| auto.try_acquire_owned(0).unwrap()).collect();
    let mut waiters: Vec<_> = (0..4).map(|_| Task::new(auto.acquire_owned(0))).collect();
    for waiter in &mut waiters {
        waiter.assert_pending();
    }
    assert_eq!(auto.set_bounds(5, MAX_SLOTS), Ok(5));
    assert_eq!(auto.bounds(), (5, MAX_SLOTS));
    assert_eq!(
        auto.stats().running,
        5,
        "growing into the new min admitted two"
    );
    assert_eq!(auto.set_bounds(0, 1), Ok(1));
    assert_eq!(auto.stats().running, 5, "shrinking interrupted nothing");
    assert_eq!(auto.scale(isize::MIN), 0, "min 0 lets it scale to 0");
    drop(holders);
    assert_eq!(auto.stats().running, 2, "nothing admitted above the limit");
    drop(waiters);
    assert_accounted(&auto.stats());
}

/// Promise: scaling down under load never lets more bodies run than the new
/// limit once the work admitted before it has drained below it, and never
/// interrupts running work; scaling back up resumes admission. Counted from
/// outside: a meter around each body.
#[test]
fn scaling_down_under_load_holds_the_new_limit_and_interrupts_nothing() {
    let rt = runtime();
    for kind in [Kind::Fixed, Kind::Autoscale] {
        let pool = match kind {
            Kind::Fixed => Pool::fixed(8),
            _ => Pool::builder()
                .kind(kind)
                .min(0)
                .max(8)
                .size(8)
                .autoscale_interval(Duration::MAX)
                .build()
                .unwrap(),
        };
        let meter = Meter::default();
        // The most bodies at once since it was last reset.
        let peak = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..16)
            .map(|i| {
                let (pool, meter, started, stop) =
                    (pool.clone(), meter.clone(), started.clone(), stop.clone());
                let peak = peak.clone();
                let body = move |meter: Meter, started: Arc<AtomicUsize>| {
                    started.fetch_add(1, Ordering::SeqCst);
                    let _inside = meter.enter();
                    peak.fetch_max(meter.now(), Ordering::SeqCst);
                    std::thread::sleep(Duration::from_micros(300));
                };
                if i % 4 == 0 {
                    Caller::Thread(std::thread::spawn(move || {
                        while !stop.load(Ordering::SeqCst) {
                            let (m, s, b) = (meter.clone(), started.clone(), body.clone());
                            pool.run(move || b(m, s))?;
                        }
                        Ok(())
                    }))
                } else {
                    Caller::Task(rt.spawn(async move {
                        while !stop.load(Ordering::SeqCst) {
                            let (m, s, b) = (meter.clone(), started.clone(), body.clone());
                            pool.submit(async move {
                                b(m, s);
                                tokio::task::yield_now().await;
                            })
                            .await?;
                        }
                        Ok(())
                    }))
                }
            })
            .collect();
        for limit in [8, 2, 5, 1, 0, 3, 8, 1] {
            assert_eq!(pool.resize(limit), limit);
            wait_until("the work admitted before the resize drains", || {
                pool.stats().running <= limit
            });
            peak.store(0, Ordering::SeqCst);
            let before = started.load(Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(40));
            let max = peak.load(Ordering::SeqCst);
            assert!(
                max <= limit,
                "{kind:?}: {max} bodies ran at once under a limit of {limit}"
            );
            let ran = started.load(Ordering::SeqCst) - before;
            if limit == 0 {
                assert_eq!(ran, 0, "{kind:?}: a pool of 0 admitted a call");
            } else {
                assert!(ran > 0, "{kind:?}: nothing ran under a limit of {limit}");
            }
        }
        pool.resize(8);
        stop.store(true, Ordering::SeqCst);
        for worker in workers {
            assert_eq!(worker.join(&rt), Ok(()));
        }
        assert_eq!(
            meter.done(),
            started.load(Ordering::SeqCst),
            "{kind:?}: a body was interrupted"
        );
        let stats = pool.stats();
        assert_accounted(&stats);
        assert_eq!(stats.completed, started.load(Ordering::SeqCst) as u64);
        assert_eq!(stats.cancelled, 0);
    }
}

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The queue-depth rule as `scale/queue_depth.rs` documents it, for a mean
/// demand `d` held over a whole window and a limit `l`.
fn documented_queue_depth_step(d: usize, l: usize, (min, max): (usize, usize)) -> usize {
    let target = if d > l {
        d.clamp(l + 1, (2 * l).max(1))
    } else if 2 * d < l {
        // At most halving (an odd limit keeps the larger half), and never
        // below one slot by itself (a pool at 0 has no release event).
        (d * 5).div_ceil(4).max(l.div_ceil(2)).max(1)
    } else {
        l
    };
    target.clamp(min, max)
}

/// Promise: the queue-depth autoscaler (ManualClock, so deterministic)
/// grows toward demand (at most doubling), shrinks with 25% headroom when
/// more than half the slots idle (at most halving), and stays within
/// `[min, max]` — checked step by step against the documented formula for
/// random demands, including bounds with `min = 0` and `min == max`.
#[test]
fn the_queue_depth_autoscaler_follows_its_documented_formula_within_bounds() {
    for (seed, bounds) in [(1u64, (2, 12)), (7, (0, 5)), (99, (3, 40)), (5, (1, 1))] {
        let clock = ManualClock::new();
        let interval = Duration::from_secs(10);
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .order(Order::Lifo)
            .min(bounds.0)
            .max(bounds.1)
            .autoscale_interval(interval)
            .autoscale_window(20)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let mut rng = Rng(seed);
        let mut calls = Vec::new();
        // It starts at `min`, or at 1 when `min` is 0.
        let mut limit = bounds.0.max(1);
        assert_eq!(pool.size(), limit);
        for step in 0..60 {
            // New demand, set without an evaluation being due.
            let demand = rng.below(3 * bounds.1 as u64 + 3) as usize;
            while calls.len() > demand {
                let at = rng.below(calls.len() as u64) as usize;
                drop(calls.swap_remove(at));
            }
            while calls.len() < demand {
                let mut call = Task::new(pool.submit(std::future::pending::<()>()));
                call.assert_pending();
                calls.push(call);
            }
            assert_eq!(pool.size(), limit, "seed {seed} step {step}: moved early");
            let stats = pool.stats();
            assert_eq!(stats.running + stats.waiting, demand);
            assert_eq!(stats.running, demand.min(limit));
            // A whole interval at that demand, then an event to evaluate
            // it: a call that arrives (and, admitted, ends at once).
            clock.advance(interval);
            let mut event = Task::new(pool.submit(async {}));
            let _ = event.poll();
            drop(event);
            let before = limit;
            limit = documented_queue_depth_step(demand, limit, bounds);
            assert_eq!(
                pool.size(),
                limit,
                "seed {seed} step {step}: demand {demand}, bounds {bounds:?}"
            );
            // Growing admitted waiters at once; shrinking interrupted nothing.
            assert_eq!(pool.stats().running, demand.min(before.max(limit)));
        }
        drop(calls);
        assert_accounted(&pool.stats());
    }
}

/// Promise: the adaptive policy keeps the limit within `[min, max]`
/// whatever the verdicts (all overload, all success with huge latencies,
/// zero latencies, a mix), whatever its parameters within their ranges
/// (zero window time and baseline interval, `Duration::MAX`), and across
/// `scale`, `resize` and `set_bounds` made meanwhile.
#[test]
fn the_adaptive_policy_stays_within_its_bounds_whatever_it_is_told() {
    let settings = [
        AdaptiveSettings::DEFAULT,
        AdaptiveSettings {
            window_samples: 1,
            window_time: Duration::ZERO,
            baseline_interval: Duration::ZERO,
            tolerance: 1.0,
            smoothing: 1.0,
            backoff: 0.0,
            drop_tolerance: 0.0,
        },
        AdaptiveSettings {
            window_samples: 10_000,
            window_time: Duration::MAX,
            baseline_interval: Duration::MAX,
            tolerance: f64::MAX,
            smoothing: 0.0,
            backoff: 1.0,
            drop_tolerance: 1.0,
        },
        AdaptiveSettings {
            window_samples: 2,
            window_time: Duration::from_nanos(1),
            baseline_interval: Duration::from_nanos(1),
            ..AdaptiveSettings::DEFAULT
        },
    ];
    let latencies = [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_millis(1),
        Duration::from_millis(50),
        Duration::from_secs(3600),
        Duration::from_nanos(1 << 50),
    ];
    for (which, settings) in settings.into_iter().enumerate() {
        for mode in 0..4 {
            let clock = ManualClock::new();
            let pool = Pool::builder()
                .kind(Kind::Autoscale)
                .min(2)
                .max(9)
                .scale_policy(ScalePolicy::Adaptive(settings))
                .clock(Arc::new(clock.clone()))
                .build()
                .unwrap();
            let mut bounds = (2, 9);
            let mut rng = Rng(17 + which as u64 * 4 + mode);
            for call in 0..600 {
                let (verdict, latency) = match mode {
                    0 => (Verdict::Overload, latencies[call % latencies.len()]),
                    1 => (Verdict::Success, Duration::from_nanos(1 << 50)),
                    2 => (Verdict::Success, Duration::ZERO),
                    _ => (
                        [Verdict::Success, Verdict::Overload, Verdict::Ignore]
                            [rng.below(3) as usize],
                        latencies[rng.below(latencies.len() as u64) as usize],
                    ),
                };
                // As many calls at once as the limit lets in, so the
                // limit counts as used.
                let (gates, mut running): (Vec<_>, Vec<_>) = (0..pool.size())
                    .map(|_| {
                        let (gate, open) = common::gate();
                        (
                            open,
                            Task::new(pool.submit_judged(0, gate, move |_| verdict)),
                        )
                    })
                    .unzip();
                for task in &mut running {
                    task.assert_pending();
                }
                clock.advance(latency);
                for (open, task) in gates.iter().zip(&mut running) {
                    open.store(true, Ordering::SeqCst);
                    assert_eq!(task.assert_ready(), Ok(()));
                    let size = pool.size();
                    assert!(
                        (bounds.0..=bounds.1).contains(&size),
                        "settings {which} mode {mode} call {call}: size {size} outside {bounds:?}"
                    );
                }
                if mode == 3 && call % 50 == 49 {
                    match rng.below(3) {
                        0 => {
                            pool.scale(if rng.below(2) == 0 {
                                isize::MAX
                            } else {
                                isize::MIN
                            });
                        }
                        1 => {
                            pool.resize(rng.below(20) as usize);
                        }
                        _ => {
                            let min = 1 + rng.below(4) as usize;
                            bounds = (min, min + rng.below(8) as usize);
                            pool.set_bounds(bounds.0, bounds.1).unwrap();
                        }
                    }
                    let size = pool.size();
                    assert!((bounds.0..=bounds.1).contains(&size), "{size} {bounds:?}");
                }
            }
            assert_accounted(&pool.stats());
        }
    }
}

// ---- lifecycle -------------------------------------------------------------

/// Makes one call of `form` on `pool` and returns its outcome (for calls
/// that are turned away at once).
fn call_now(rt: &tokio::runtime::Runtime, pool: &Pool, form: Form) -> Result<(), Rejected> {
    let log = Log::default();
    start(rt, pool, form, 0, 0, &log).join(rt)
}

/// Promise: after `close` (and after `abort`), every call form is turned
/// away with `Rejected::Closed` — `try_acquire` and `spawn` included, and
/// whatever else the pool is (paused, full, scaled to 0) — while the calls
/// already waiting (close) still run in order; closing or aborting twice,
/// or in either order, changes nothing more.
#[test]
fn after_close_or_abort_every_call_form_is_closed_and_close_drains_the_queue() {
    let rt = runtime();
    for abort in [false, true] {
        let pool = Pool::builder().size(1).max_waiting(100).build().unwrap();
        let log = Log::default();
        let holder = pool.try_acquire_owned(0).unwrap();
        let callers: Vec<_> = FORMS
            .iter()
            .enumerate()
            .map(|(id, &form)| {
                let caller = start(&rt, &pool, form, 0, id, &log);
                wait_until("queued", || pool.stats().waiting == id + 1);
                caller
            })
            .collect();
        pool.pause();
        if abort {
            pool.abort();
            pool.close();
            pool.abort();
        } else {
            pool.close();
            pool.close();
        }
        assert!(pool.is_closed());
        for form in FORMS {
            assert_eq!(
                call_now(&rt, &pool, form),
                Err(Rejected::Closed),
                "{form:?} after {}",
                if abort { "abort" } else { "close" }
            );
        }
        assert_eq!(pool.try_acquire().err(), Some(Rejected::Closed));
        assert_eq!(pool.try_acquire_owned(0).err(), Some(Rejected::Closed));
        pool.resume();
        pool.resize(0);
        assert_eq!(call_now(&rt, &pool, Form::Submit), Err(Rejected::Closed));
        pool.resize(1);
        drop(holder);
        let outcomes: Vec<_> = callers.into_iter().map(|c| c.join(&rt)).collect();
        if abort {
            assert!(
                outcomes.iter().all(|o| *o == Err(Rejected::Closed)),
                "{outcomes:?}"
            );
            assert!(log.lock().unwrap().is_empty(), "an aborted call ran");
        } else {
            assert!(outcomes.iter().all(|o| o.is_ok()), "{outcomes:?}");
            assert_eq!(*log.lock().unwrap(), (0..FORMS.len()).collect::<Vec<_>>());
        }
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), pool.drained())
                .await
                .expect("drained() resolves once the queue is done")
        });
        let stats = pool.stats();
        assert_accounted(&stats);
        let turned_away = if abort { FORMS.len() as u64 } else { 0 };
        assert_eq!(
            stats.rejected_for(Rejected::Closed),
            turned_away + FORMS.len() as u64 + 3
        );
    }
}

/// Promise: `drained()` waits for permits (held anywhere) and for blocking
/// jobs whose caller went away, not only for calls of the async forms.
#[test]
fn drained_waits_for_owned_permits_and_orphaned_blocking_jobs() {
    let rt = runtime();
    let pool = Pool::fixed(2);
    let permit = pool.try_acquire_owned(0).unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let job = {
        let (release, started) = (release.clone(), started.clone());
        let pool = pool.clone();
        rt.spawn(async move {
            pool.submit_blocking(move || {
                started.store(true, Ordering::SeqCst);
                while !release.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
            .await
        })
    };
    wait_until("the job runs", || started.load(Ordering::SeqCst));
    job.abort(); // its caller goes away; the job holds its slot to the end
    pool.close();
    let drained = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (pool, drained) = (pool.clone(), drained.clone());
        rt.spawn(async move {
            pool.drained().await;
            drained.store(true, Ordering::SeqCst);
        })
    };
    std::thread::sleep(Duration::from_millis(30));
    assert!(
        !drained.load(Ordering::SeqCst),
        "drained with a permit and a job out"
    );
    drop(permit);
    std::thread::sleep(Duration::from_millis(30));
    assert!(
        !drained.load(Ordering::SeqCst),
        "drained with a blocking job running"
    );
    release.store(true, Ordering::SeqCst);
    wait_until("drained() resolves", || drained.load(Ordering::SeqCst));
    rt.block_on(watcher).unwrap();
    assert_accounted(&pool.stats());
}

/// Promise: `shutdown(Some(timeout))` returns by its deadline whatever the
/// calls do — a sync caller that never returns, a blocking job that never
/// returns, an async body that never completes, waiters of every form —
/// turning the waiters away and reporting what still runs.
#[test]
fn shutdown_returns_by_its_deadline_whatever_the_calls_do() {
    let rt = runtime();
    let pool = Pool::fixed(3);
    let release = Arc::new(AtomicBool::new(false));
    let spin = {
        let release = release.clone();
        move || {
            while !release.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    };
    let sync = {
        let (pool, spin) = (pool.clone(), spin.clone());
        std::thread::spawn(move || pool.run(spin))
    };
    let blocking = {
        let (pool, spin) = (pool.clone(), spin.clone());
        rt.spawn(async move { pool.submit_blocking(spin).await })
    };
    let forever = {
        let pool = pool.clone();
        rt.spawn(async move { pool.submit(std::future::pending::<()>()).await })
    };
    wait_until("three run", || pool.stats().running == 3);
    let log = Log::default();
    let waiters: Vec<_> = FORMS
        .iter()
        .enumerate()
        .map(|(id, &form)| {
            let caller = start(&rt, &pool, form, 0, id, &log);
            wait_until("queued", || pool.stats().waiting == id + 1);
            caller
        })
        .collect();
    let began = Instant::now();
    let result = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(5),
            pool.shutdown(Some(Duration::from_millis(100))),
        )
        .await
        .expect("shutdown returned long after its deadline")
    });
    let took = began.elapsed();
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    let timed_out = result.expect_err("it could not drain");
    assert_eq!(timed_out.running, 3);
    assert_eq!(timed_out.turned_away, FORMS.len());
    assert!(timed_out.to_string().contains("3 call(s) still running"));
    for waiter in waiters {
        assert_eq!(waiter.join(&rt), Err(Rejected::Closed));
    }
    assert!(log.lock().unwrap().is_empty());
    forever.abort();
    release.store(true, Ordering::SeqCst);
    assert_eq!(sync.join().unwrap(), Ok(()));
    assert_eq!(rt.block_on(blocking).unwrap(), Ok(()));
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), pool.drained())
            .await
            .unwrap()
    });
    assert_accounted(&pool.stats());
}

/// Promise (README table: `async with Pool() as p` ->
/// `pool.scoped(..)` "closes and drains at the end"): the end of the scope
/// closes the pool however the scope ends — its body returning, panicking,
/// or the scoped future being dropped — so clones of the handle that
/// escaped the body (a spawned task, another thread) are turned away
/// afterwards instead of using a pool whose scope is over.
#[test]
fn scoped_closes_the_pool_even_when_its_body_panics_or_it_is_cancelled() {
    quiet_planned_panics();
    let pool = Pool::fixed(2);
    let escaped = Arc::new(Mutex::new(None::<Pool>));
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        let escaped = escaped.clone();
        futures::executor::block_on(pool.clone().scoped(|p| async move {
            *escaped.lock().unwrap() = Some(p.clone());
            p.submit(async {}).await.unwrap();
            panic!("planned: a scope body that panics");
        }))
    }));
    assert!(panicked.is_err());
    let escaped = escaped.lock().unwrap().take().unwrap();
    assert!(
        pool.is_closed(),
        "a scope whose body panicked left its pool open"
    );
    assert_eq!(
        futures::executor::block_on(escaped.submit(async {})),
        Err(Rejected::Closed)
    );

    // Cancelled: dropped while its body waits for a slot.
    let pool = Pool::fixed(1);
    let holder = pool.try_acquire_owned(0).unwrap();
    let mut scope = Task::new(
        pool.clone()
            .scoped(|p| async move { p.submit(async {}).await }),
    );
    scope.assert_pending();
    assert_eq!(pool.stats().waiting, 1);
    drop(scope);
    assert!(pool.is_closed(), "a cancelled scope left its pool open");
    assert_eq!(pool.stats().waiting, 0);
    drop(holder);
    assert_accounted(&pool.stats());
}

/// Promise: close racing calls from many threads and tasks: every call
/// made after `close()` returned is `Closed`, every call is either run or
/// `Closed` (nothing else, nothing lost), and the pool drains.
#[test]
fn close_racing_calls_from_many_threads_and_tasks() {
    let rt = runtime();
    let pool = Pool::fixed(3);
    let meter = Meter::default();
    let closed = Arc::new(AtomicBool::new(false));
    let ran = Arc::new(AtomicUsize::new(0));
    let late = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..8)
        .map(|i| {
            let (pool, meter, closed, ran, late) = (
                pool.clone(),
                meter.clone(),
                closed.clone(),
                ran.clone(),
                late.clone(),
            );
            let body = move |meter: &Meter| {
                let _inside = meter.enter();
                std::hint::spin_loop();
            };
            let check = move |after: bool, outcome: Result<(), Rejected>| match outcome {
                Ok(()) => {
                    ran.fetch_add(1, Ordering::SeqCst);
                    if after {
                        late.fetch_add(1, Ordering::SeqCst);
                    }
                    true
                }
                Err(Rejected::Closed) => false,
                Err(other) => panic!("a call was turned away with {other:?}"),
            };
            if i % 2 == 0 {
                Caller::Thread(std::thread::spawn(move || loop {
                    let after = closed.load(Ordering::SeqCst);
                    let m = meter.clone();
                    let outcome = if i % 4 == 0 {
                        pool.run(|| body(&m))
                    } else {
                        pool.try_acquire().map(|_permit| body(&m)).or_else(|e| {
                            if e == Rejected::Full {
                                Ok(())
                            } else {
                                Err(e)
                            }
                        })
                    };
                    if !check(after, outcome) {
                        return Ok(());
                    }
                }))
            } else {
                Caller::Task(rt.spawn(async move {
                    loop {
                        let after = closed.load(Ordering::SeqCst);
                        let m = meter.clone();
                        let outcome = if i % 4 == 1 {
                            pool.submit(async { body(&m) }).await
                        } else {
                            let m2 = m.clone();
                            pool.submit_blocking(move || body(&m2)).await
                        };
                        if !check(after, outcome) {
                            return Ok(());
                        }
                        tokio::task::yield_now().await;
                    }
                }))
            }
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    pool.close();
    closed.store(true, Ordering::SeqCst);
    for caller in callers {
        assert_eq!(caller.join(&rt), Ok(()));
    }
    assert_eq!(
        late.load(Ordering::SeqCst),
        0,
        "a call made after close() ran"
    );
    assert!(
        meter.max() <= 3,
        "{} bodies at once in a pool of 3",
        meter.max()
    );
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), pool.drained())
            .await
            .unwrap()
    });
    let stats = pool.stats();
    assert_accounted(&stats);
    assert_eq!(stats.running + stats.waiting, 0);
    assert!(stats.rejected_for(Rejected::Closed) >= 8);
    assert!(ran.load(Ordering::SeqCst) > 0);
}

// ---- accounting ------------------------------------------------------------

/// What the callers saw, tallied outside the library.
#[derive(Default)]
struct Tally {
    calls: AtomicUsize,
    completed: AtomicUsize,
    panicked: AtomicUsize,
    cancelled: AtomicUsize,
    rejected: [AtomicUsize; 4],
}

impl Tally {
    fn outcome(&self, outcome: Result<Result<(), Rejected>, ()>, cancelled: bool) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let counter = match outcome {
            _ if cancelled => &self.cancelled,
            Err(()) => {
                self.completed.fetch_add(1, Ordering::SeqCst);
                &self.panicked
            }
            Ok(Ok(())) => &self.completed,
            Ok(Err(reason)) => {
                let at = [
                    Rejected::Paused,
                    Rejected::Closed,
                    Rejected::Full,
                    Rejected::TimedOut,
                ]
                .iter()
                .position(|r| *r == reason)
                .expect("a pool reason");
                &self.rejected[at]
            }
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// Promise ("Accounting"): after random concurrent mixes of every call form
/// — with cancellations, panics in bodies and in judges, admission
/// timeouts, a waiting bound, pauses, scaling and a final close — the
/// identity `submitted == completed + rejected + cancelled + running +
/// nested + waiting` holds at quiescence, and each term equals what the
/// callers saw (tallied outside); while the calls race, `stats()` never
/// shows an absurd count (running above the largest limit, counters going
/// back).
#[test]
fn the_accounting_matches_what_callers_saw_after_random_concurrent_mixes() {
    quiet_planned_panics();
    let rt = runtime();
    for (seed, order, adaptive) in [
        (11u64, Order::Fifo, false),
        (23, Order::Priority, true),
        (37, Order::Lifo, false),
    ] {
        let builder = Pool::builder()
            .kind(Kind::Autoscale)
            .order(order)
            .min(1)
            .max(4)
            .max_waiting(6)
            .admission_timeout(Duration::from_millis(15));
        let pool = if adaptive {
            builder.scale_policy(ScalePolicy::Adaptive(AdaptiveSettings {
                window_samples: 2,
                window_time: Duration::from_millis(1),
                ..AdaptiveSettings::DEFAULT
            }))
        } else {
            builder.autoscale_interval(Duration::from_millis(5))
        }
        .build()
        .unwrap();
        let tally = Arc::new(Tally::default());
        let stop = Arc::new(AtomicBool::new(false));
        let meter = Meter::default();
        // Watches stats() while the calls race.
        let watcher = {
            let (pool, stop) = (pool.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut last = pool.stats();
                while !stop.load(Ordering::SeqCst) {
                    let s = pool.stats();
                    assert!(s.running <= 4, "running {} above max 4: {s:?}", s.running);
                    assert!((1..=4).contains(&s.size), "{s:?}");
                    assert!(s.waiting <= 64 && s.nested == 0, "{s:?}");
                    assert!(s.submitted() >= last.submitted(), "{s:?} after {last:?}");
                    assert!(s.completed >= last.completed, "{s:?} after {last:?}");
                    assert!(s.cancelled >= last.cancelled, "{s:?} after {last:?}");
                    assert!(s.panicked >= last.panicked, "{s:?} after {last:?}");
                    assert!(s.rejected_total() >= last.rejected_total());
                    last = s;
                    std::thread::yield_now();
                }
            })
        };
        let toggler = {
            let (pool, stop) = (pool.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(seed ^ 0x5555);
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(4));
                    match rng.below(12) {
                        0 => pool.pause(),
                        1..=5 => {
                            pool.scale(rng.below(5) as isize - 2);
                        }
                        _ => {
                            pool.resize(rng.below(6) as usize);
                        }
                    }
                    std::thread::sleep(Duration::from_micros(300));
                    pool.resume();
                }
            })
        };
        let workers: Vec<_> = (0..6u64)
            .map(|w| {
                let (pool, tally, meter) = (pool.clone(), tally.clone(), meter.clone());
                rt.spawn(async move {
                    let mut rng = Rng(seed * 100 + w + 1);
                    for _ in 0..60 {
                        let weight = [i64::MIN, -3, 0, 9, i64::MAX][rng.below(5) as usize];
                        let panics = rng.below(8) == 0;
                        let ms = rng.below(3);
                        let m = meter.clone();
                        let body = async move {
                            let _inside = m.enter();
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                            if panics {
                                panic!("planned: a body that panics");
                            }
                        };
                        let kind = rng.below(7);
                        let cancel_after = (rng.below(4) == 0).then(|| rng.below(4));
                        use futures::FutureExt;
                        let call: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>> =
                            match kind {
                                0 => Box::pin(pool.submit_weighted(weight, body)),
                                1 => Box::pin(pool.submit_judged(weight, body, move |_| {
                                    if panics {
                                        panic!("planned: a judge that panics");
                                    }
                                    Verdict::Success
                                })),
                                2 => {
                                    let m = meter.clone();
                                    Box::pin(pool.submit_blocking_weighted(weight, move || {
                                        let _inside = m.enter();
                                        std::thread::sleep(Duration::from_millis(ms));
                                        if panics {
                                            panic!("planned: a closure that panics");
                                        }
                                    }))
                                }
                                3 => match pool.spawn_weighted(weight, body) {
                                    Ok(handle) => Box::pin(handle),
                                    Err(reason) => Box::pin(async move { Err(reason) }),
                                },
                                4 => Box::pin(async {
                                    let permit = pool.acquire_owned(weight).await?;
                                    tokio::time::sleep(Duration::from_millis(ms)).await;
                                    drop(permit);
                                    Ok(())
                                }),
                                5 => Box::pin(async { pool.try_acquire_owned(weight).map(drop) }),
                                _ => Box::pin(pool.submit(body)),
                            };
                        // Blocking and spawned calls detach when dropped, and
                        // a permit dropped while held is a completed call:
                        // only the others are cancelled.
                        let cancellable = !matches!(kind, 2..=5);
                        let call = AssertUnwindSafe(call).catch_unwind();
                        let outcome = match cancel_after.filter(|_| cancellable) {
                            Some(ms) => {
                                match tokio::time::timeout(Duration::from_millis(ms), call).await {
                                    Ok(outcome) => (outcome, false),
                                    Err(_) => (Ok(Ok(())), true),
                                }
                            }
                            None => (call.await, false),
                        };
                        tally.outcome(outcome.0.map_err(drop), outcome.1);
                    }
                })
            })
            .collect();
        rt.block_on(async {
            for worker in workers {
                tokio::time::timeout(Duration::from_secs(10), worker)
                    .await
                    .expect("a worker hung")
                    .expect("a worker panicked");
            }
        });
        stop.store(true, Ordering::SeqCst);
        toggler.join().unwrap();
        watcher.join().unwrap();
        pool.resume();
        pool.close();
        for form in FORMS {
            tally.outcome(Ok(call_now(&rt, &pool, form)), false);
        }
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), pool.drained())
                .await
                .expect("the pool drains")
        });
        let s = pool.stats();
        assert_accounted(&s);
        let get = |c: &AtomicUsize| c.load(Ordering::SeqCst) as u64;
        let seen = format!(
            "outside: calls {} completed {} panicked {} cancelled {} rejected {:?}",
            get(&tally.calls),
            get(&tally.completed),
            get(&tally.panicked),
            get(&tally.cancelled),
            tally.rejected.each_ref().map(get)
        );
        let s_seen = format!("{s:?}\n{seen}");
        let s = &s;
        assert_eq!(s.submitted(), get(&tally.calls), "{s_seen}");
        assert_eq!(s.completed, get(&tally.completed), "{s_seen}");
        assert_eq!(s.panicked, get(&tally.panicked), "{s_seen}");
        assert_eq!(s.cancelled, get(&tally.cancelled), "{s_seen}");
        for (at, reason) in [
            Rejected::Paused,
            Rejected::Closed,
            Rejected::Full,
            Rejected::TimedOut,
        ]
        .into_iter()
        .enumerate()
        {
            assert_eq!(
                s.rejected_for(reason),
                get(&tally.rejected[at]),
                "{reason:?}: {s_seen}"
            );
        }
        assert!(
            s.panicked > 0 && s.cancelled > 0,
            "the mix exercised little: {s:?}"
        );
        assert!(meter.max() <= 4, "{} bodies at once, max 4", meter.max());
    }
}

// ---- bad input ---------------------------------------------------------------

/// Promise ("Bad input"): every builder setting out of range is a
/// `BuildError` value whose message names what is wrong — never a panic or
/// a freeze — and every runtime setter refuses the same values changing
/// nothing, or clamps (`scale`, `resize`).
#[test]
fn bad_input_on_every_builder_setting_and_runtime_setter_is_an_error_value() {
    let auto = || Pool::builder().kind(Kind::Autoscale);
    let adaptive = |s: AdaptiveSettings| auto().scale_policy(ScalePolicy::Adaptive(s));
    let cases: Vec<(pool_runtime::PoolBuilder, &str)> = vec![
        (Pool::builder().size(0), "`size` >= 1"),
        (Pool::builder().size(MAX_SLOTS + 1), "above the maximum"),
        (Pool::builder().size(usize::MAX), "above the maximum"),
        (Pool::builder().min(1), "fixed pool takes `size`"),
        (Pool::builder().max(9), "fixed pool takes `size`"),
        (
            Pool::builder().scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT)),
            "make its kind autoscale",
        ),
        (Pool::builder().max_waiting(MAX_SLOTS + 1), "max_waiting"),
        (Pool::builder().max_waiting(usize::MAX), "max_waiting"),
        (auto().max(0), "`max` >= 1"),
        (auto().min(0).max(0), "`max` >= 1"),
        (auto().min(5).max(4), "`min` (5) is greater than `max` (4)"),
        (auto().min(usize::MAX), "above the maximum"),
        (auto().max(usize::MAX), "above the maximum"),
        (auto().min(2).max(4).size(5), "outside `min..=max`"),
        (auto().min(2).max(4).size(1), "outside `min..=max`"),
        (
            auto().autoscale_interval(Duration::ZERO),
            "longer than zero",
        ),
        (auto().autoscale_window(0), "at least 1 sample"),
        (
            auto().autoscale_window(AutoscaleTiming::MAX_WINDOW + 1),
            "autoscale_window",
        ),
        (auto().autoscale_window(usize::MAX), "autoscale_window"),
    ];
    let mut cases = cases;
    type WithField = fn(f64) -> AdaptiveSettings;
    let fields: [(&str, WithField); 4] = [
        ("tolerance", |v| AdaptiveSettings {
            tolerance: v,
            ..AdaptiveSettings::DEFAULT
        }),
        ("smoothing", |v| AdaptiveSettings {
            smoothing: v,
            ..AdaptiveSettings::DEFAULT
        }),
        ("backoff", |v| AdaptiveSettings {
            backoff: v,
            ..AdaptiveSettings::DEFAULT
        }),
        ("drop_tolerance", |v| AdaptiveSettings {
            drop_tolerance: v,
            ..AdaptiveSettings::DEFAULT
        }),
    ];
    for (name, with) in fields {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.5, 1.5] {
            if name == "tolerance" && bad == 1.5 {
                continue; // a valid tolerance
            }
            cases.push((adaptive(with(bad)), name));
        }
    }
    for samples in [0, 10_001, u32::MAX] {
        cases.push((
            adaptive(AdaptiveSettings {
                window_samples: samples,
                ..AdaptiveSettings::DEFAULT
            }),
            "window_samples",
        ));
    }
    for (i, (builder, says)) in cases.into_iter().enumerate() {
        let described = format!("{builder:?}");
        let error = builder
            .build()
            .expect_err(&format!("case {i} built: {described}"));
        let message = error.to_string();
        assert!(
            message.contains(says),
            "case {i}: {message:?} does not say {says:?}"
        );
    }

    // The runtime setters: refused values change nothing.
    let pool = auto().min(2).max(6).build().unwrap();
    assert!(pool.set_max_waiting(Some(usize::MAX)).is_err());
    assert_eq!(pool.max_waiting(), None);
    pool.set_max_waiting(Some(MAX_SLOTS)).unwrap();
    for timing in [
        AutoscaleTiming {
            interval: Duration::ZERO,
            window: 1,
        },
        AutoscaleTiming {
            interval: Duration::from_secs(1),
            window: 0,
        },
        AutoscaleTiming {
            interval: Duration::from_secs(1),
            window: usize::MAX,
        },
    ] {
        let error = pool.set_autoscale_timing(timing).unwrap_err();
        assert!(!error.to_string().is_empty());
    }
    pool.set_autoscale_timing(AutoscaleTiming {
        interval: Duration::MAX,
        window: AutoscaleTiming::MAX_WINDOW,
    })
    .unwrap();
    // Timeouts at both ends: zero turns a waiting call away at once, MAX
    // never does; neither panics.
    pool.set_admission_timeout(Some(Duration::MAX));
    let holders: Vec<_> = (0..2).map(|_| pool.try_acquire_owned(0).unwrap()).collect();
    let mut never = Task::new(pool.submit(async {}));
    never.assert_pending();
    pool.set_admission_timeout(Some(Duration::ZERO));
    assert_eq!(
        futures::executor::block_on(pool.submit(async {})),
        Err(Rejected::TimedOut)
    );
    assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut));
    never.assert_pending();
    drop(holders);
    assert_eq!(never.assert_ready(), Ok(()));
    assert_accounted(&pool.stats());
}

/// Promise (`ManualClock::advance`: "moves the clock forward"): a clock
/// advanced past what its nanoseconds can hold stays at the end of time;
/// it never wraps around to an earlier time, which an autoscaler would
/// read as time going backwards.
#[test]
fn a_manual_clock_advanced_past_its_range_never_goes_backwards() {
    use pool_runtime::Clock;
    let clock = ManualClock::new();
    clock.advance(Duration::from_secs(1));
    let before = clock.now();
    clock.advance(Duration::MAX);
    assert!(clock.now() >= before, "{:?} after {before:?}", clock.now());
    let end = clock.now();
    clock.advance(Duration::from_nanos(u64::MAX));
    clock.advance(Duration::from_secs(1));
    assert!(clock.now() >= end, "{:?} after {end:?}", clock.now());
}
