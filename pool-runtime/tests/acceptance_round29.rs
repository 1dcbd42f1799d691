//! Acceptance tests, round 29 (runtime): the application-wide ceiling's
//! wait order (a priority group's calls wait for a ceiling slot by their
//! weight, every other group's as weight 0, arrival order among equal
//! weights) on every call form (submit, submit_wait, permits, sync `run`
//! and `run_wait`, blocking calls, a stream, a tower layer), the ceiling's
//! reloads (raised, lowered, lifted, refused, from the environment, watched
//! files), its group-side bounds (waiting bound 0, admission timeout) and
//! its accounting; paused and closed pools with nested calls; live resizes,
//! bounds and the autoscaler's growth; zero and never timeouts; every key's
//! meaning in a file and the environment; a waker whose `clone` panics on
//! each call form; and the ceiling's metrics and events. Concurrency is counted from
//! outside the library (a meter guard entered at a body's start and dropped
//! at its end); waits are bounded only to turn a hang into a failure.
#![cfg(not(miri))]

mod common;

use common::{assert_accounted, gate, within, Meter, Task};
use pool_runtime::{Kind, ManualClock, Order, Pool, Rejected};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(30);

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < BOUND, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Who ran, in the order they started, each body counted by a meter.
#[derive(Clone, Default)]
struct Log {
    order: Arc<Mutex<Vec<&'static str>>>,
    meter: Meter,
}

impl Log {
    /// A body: inside the meter for a couple of milliseconds.
    fn mark(&self, label: &'static str) {
        let _inside = self.meter.enter();
        self.order.lock().unwrap().push(label);
        std::thread::sleep(Duration::from_millis(2));
    }

    fn order(&self) -> Vec<&'static str> {
        self.order.lock().unwrap().clone()
    }
}

// ---- pools: pause, close, nested calls, live resizes ----------------------

/// README, "Reentrancy rule": "only one nested call at a time uses a
/// parent's slot; the others wait, in the queue, for a free slot or for
/// that slot to come back ... (a paused or closed pool or a full waiting
/// bound does not turn them away: they belong to admitted work". Two
/// nested calls joined in the work of a call of a pool of 2 that is then
/// paused (or closed): both run, one under the parent's slot and one on the
/// free slot, never more than 2 bodies at once, while a call from outside
/// is turned away.
#[test]
fn joined_nested_calls_of_a_paused_or_closed_pool_run_within_its_limit() {
    for stop in ["pause", "close"] {
        within(BOUND, move || {
            let pool = Pool::builder().size(2).max_waiting(0).build().unwrap();
            let meter = Meter::default();
            let p = pool.clone();
            let m = meter.clone();
            let out = futures::executor::block_on(pool.submit(async move {
                let _parent = m.enter();
                if stop == "pause" {
                    p.pause();
                } else {
                    p.close();
                }
                let outside = std::thread::scope(|s| {
                    s.spawn(|| futures::executor::block_on(p.submit(async {})))
                        .join()
                        .unwrap()
                });
                let body = |m: Meter| async move {
                    let _inside = m.enter();
                    common::yield_now().await;
                    common::yield_now().await;
                };
                let (a, b) = futures::join!(p.submit(body(m.clone())), p.submit(body(m.clone())));
                (outside, a, b)
            }))
            .unwrap();
            let expected = if stop == "pause" {
                Rejected::Paused
            } else {
                Rejected::Closed
            };
            assert_eq!(out.0, Err(expected), "{stop}: a call from outside");
            assert_eq!((out.1, out.2), (Ok(()), Ok(())), "{stop}: nested calls");
            // The parent's own body counts too: the parent and a nested call
            // share its slot, so at most 3 bodies are inside at once and never
            // more than 2 slots are taken.
            assert!(meter.max() <= 3, "{stop}: {}", meter.max());
            let stats = pool.stats();
            assert_eq!(stats.completed, 3, "{stop}: {stats:?}");
            assert_eq!((stats.running, stats.nested), (0, 0), "{stop}: {stats:?}");
            assert_accounted(&stats);
        });
    }
}

/// `Pool::scale`: "Growing admits waiting calls at once", and README: "A
/// fixed pool scaled to 0 holds its queue until scaled up." Sync callers
/// parked on a pool at 0 slots: none runs; `resize(2)` admits two of them
/// with no release at all (their bodies are still inside when checked),
/// never a third, counted from outside.
#[test]
fn resizing_up_from_zero_admits_parked_sync_callers_at_once_within_the_new_size() {
    within(BOUND, || {
        let pool = Pool::fixed(1);
        assert_eq!(pool.resize(0), 0);
        let meter = Meter::default();
        let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (pool, meter, open) = (pool.clone(), meter.clone(), open.clone());
                std::thread::spawn(move || {
                    pool.run(|| {
                        let _inside = meter.enter();
                        while !open.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    })
                })
            })
            .collect();
        wait_until("four callers parked", || pool.stats().waiting == 4);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(meter.now(), 0, "nothing runs on 0 slots");
        assert_eq!(pool.resize(2), 2);
        wait_until("two admitted by the resize alone", || meter.now() == 2);
        std::thread::sleep(Duration::from_millis(20));
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (2, 2), "{stats:?}");
        assert_eq!(meter.max(), 2);
        open.store(true, Ordering::SeqCst);
        for t in threads {
            assert_eq!(t.join().unwrap(), Ok(()));
        }
        assert!(meter.max() <= 2, "{} at once on 2 slots", meter.max());
        let stats = pool.stats();
        assert_eq!(stats.completed, 4, "{stats:?}");
        assert_accounted(&stats);
    });
}

/// `Pool::set_bounds`: "Changes the bounds of an autoscaled pool (the size
/// is clamped into them)", with `scale`'s rule for a lower size:
/// "Shrinking never interrupts running work: the pool admits nothing until
/// the running count is below the new size." Four calls run on an
/// autoscaled pool of 4, two wait; bounds lowered to `1..=2`: the size is
/// 2, the running calls go on, and the waiters start only as the running
/// count drops below 2, one at a time.
#[test]
fn lowering_an_autoscaled_pools_bounds_under_load_clamps_its_size_and_lets_running_calls_end() {
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(8)
        .size(4)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let meter = Meter::default();
    let mut opens = Vec::new();
    let mut running = Vec::new();
    for _ in 0..4 {
        let (g, open) = gate();
        opens.push(open);
        let m = meter.clone();
        let mut t = Task::new(pool.submit(async move {
            let _inside = m.enter();
            g.await;
        }));
        t.assert_pending();
        running.push(t);
    }
    let mut waiting: Vec<_> = (0..2)
        .map(|_| {
            let m = meter.clone();
            Task::new(pool.submit(async move {
                let _inside = m.enter();
            }))
        })
        .collect();
    for t in &mut waiting {
        t.assert_pending();
    }
    assert_eq!(pool.set_bounds(1, 2), Ok(2));
    assert_eq!(pool.bounds(), (1, 2));
    assert_eq!(pool.size(), 2);
    assert_eq!(pool.stats().running, 4, "running work is not interrupted");
    for (i, open) in opens.iter().enumerate() {
        open.store(true, Ordering::SeqCst);
        assert_eq!(running[i].assert_ready(), Ok(()));
        let running_now = 3 - i;
        if running_now >= 2 {
            assert!(
                !waiting[0].is_woken() && waiting[0].poll().is_pending(),
                "admitted with {running_now} running on 2 slots"
            );
        }
    }
    for t in &mut waiting {
        assert_eq!(t.assert_ready(), Ok(()));
    }
    assert_eq!(meter.max(), 4, "the four that ran before the change");
    let stats = pool.stats();
    assert_eq!(stats.completed, 6, "{stats:?}");
    assert_accounted(&stats);
    // A refused change changes nothing.
    assert!(pool.set_bounds(3, 2).is_err());
    assert!(pool.set_bounds(0, 0).is_err());
    assert_eq!(pool.bounds(), (1, 2));
    assert_eq!(pool.size(), 2);
    assert_eq!(pool.scale(100), 2, "scale clamps to the new max");
    assert_eq!(pool.scale(-100), 1, "and to the new min");
}

/// `Pool::pause`: "Calls already waiting or running are not affected and
/// keep being admitted", `Pool::close`: "waiting and running calls
/// finish", and `Pool::drained`: "Resolves once the pool is closed and
/// nothing is waiting or running." A pool paused and then closed with a
/// queue: new calls are turned away, the queue is admitted in order one at
/// a time, and `drained` resolves only after the last call.
#[test]
fn a_paused_then_closed_pool_still_admits_its_queue_and_drains() {
    let pool = Pool::builder().order(Order::Fifo).size(1).build().unwrap();
    let log = Log::default();
    let (g, open) = gate();
    let mut holder = Task::new(pool.submit(g));
    holder.assert_pending();
    let mut queue: Vec<_> = ["q1", "q2", "q3"]
        .into_iter()
        .map(|label| {
            let log = log.clone();
            Task::new(pool.submit(async move { log.mark(label) }))
        })
        .collect();
    for t in &mut queue {
        t.assert_pending();
    }
    pool.pause();
    pool.close();
    let mut newcomer = Task::new(pool.submit(async {}));
    assert!(
        newcomer.assert_ready().is_err(),
        "a new call is turned away"
    );
    assert!(pool.try_acquire().is_err());
    let mut drained = Task::new(pool.drained());
    drained.assert_pending();
    open.store(true, Ordering::SeqCst);
    assert_eq!(holder.assert_ready(), Ok(()));
    for t in &mut queue {
        assert!(t.is_woken(), "the next in line is woken");
        drained.assert_pending();
        assert_eq!(t.assert_ready(), Ok(()));
    }
    assert_eq!(log.order(), ["q1", "q2", "q3"]);
    assert_eq!(log.meter.max(), 1);
    assert!(drained.is_woken());
    drained.assert_ready();
    let stats = pool.stats();
    assert_eq!(stats.completed, 4, "{stats:?}");
    assert_eq!(stats.rejected_total(), 2, "{stats:?}");
    assert_accounted(&stats);
}

/// `GroupSettings::max_waiting`: "`0` means: never wait, run now or be
/// turned away", on every rejecting call form of a full pool, sync and
/// async: each is one `Full` rejection, and the holder's slot is untouched.
#[test]
fn a_zero_waiting_bound_turns_every_call_form_away_at_once_on_a_full_pool() {
    within(BOUND, || {
        let pool = Pool::builder().size(1).max_waiting(0).build().unwrap();
        let held = pool.try_acquire_owned(0).unwrap();
        assert_eq!(
            futures::executor::block_on(pool.submit(async {})),
            Err(Rejected::Full)
        );
        assert_eq!(pool.run(|| ()), Err(Rejected::Full));
        assert_eq!(pool.run_weighted(-5, || ()), Err(Rejected::Full));
        assert_eq!(
            futures::executor::block_on(pool.submit_blocking(|| ())),
            Err(Rejected::Full)
        );
        assert!(matches!(
            futures::executor::block_on(pool.acquire()),
            Err(Rejected::Full)
        ));
        assert!(matches!(
            futures::executor::block_on(pool.acquire_owned(3)),
            Err(Rejected::Full)
        ));
        assert!(matches!(pool.try_acquire(), Err(Rejected::Full)));
        let stats = pool.stats();
        assert_eq!(stats.rejected_for(Rejected::Full), 7, "{stats:?}");
        assert_eq!((stats.running, stats.waiting), (1, 0), "{stats:?}");
        assert_accounted(&stats);
        drop(held);
        assert_eq!(pool.run(|| 5), Ok(5), "a free slot is taken");
    });
}

/// `GroupSettings::admission_timeout`: "Turns a call away with
/// `Rejected::TimedOut` once it has waited this long for a slot. Time
/// spent running is not limited." A body that runs past the timeout is
/// not cut, and a call that waits past it is turned away (sync and async),
/// leaving the queue: the next call gets the freed slot.
#[test]
fn an_admission_timeout_bounds_the_wait_and_never_the_run() {
    within(BOUND, || {
        let pool = Pool::builder()
            .size(1)
            .admission_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let meter = Meter::default();
        let (p, m) = (pool.clone(), meter.clone());
        let long = std::thread::spawn(move || {
            p.run(|| {
                let _inside = m.enter();
                std::thread::sleep(Duration::from_millis(2500));
            })
        });
        wait_until("the long call runs", || meter.now() == 1);
        assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut), "sync waiter");
        assert_eq!(
            futures::executor::block_on(pool.submit(async {})),
            Err(Rejected::TimedOut),
            "async waiter"
        );
        assert_eq!(long.join().unwrap(), Ok(()), "the run was never cut");
        let stats = pool.stats();
        assert_eq!(stats.rejected_for(Rejected::TimedOut), 2, "{stats:?}");
        assert_eq!(stats.waiting, 0, "{stats:?}");
        assert_eq!(pool.run(|| 1), Ok(1));
        assert_accounted(&pool.stats());
    });
}

/// `PoolBuilder` docs / README: "A duration too long to pass
/// (`Duration::MAX`) means 'never'", and a `max_waiting` up to `MAX_SLOTS`
/// is accepted: a pool with both still admits a queued call when the slot
/// frees (nothing overflowed into an instant timeout or a full queue).
#[test]
fn a_never_timeout_and_the_largest_waiting_bound_still_queue_and_admit() {
    within(BOUND, || {
        let pool = Pool::builder()
            .size(1)
            .max_waiting(pool_runtime::MAX_SLOTS)
            .admission_timeout(Duration::MAX)
            .build()
            .unwrap();
        let held = pool.try_acquire_owned(0).unwrap();
        let p = pool.clone();
        let waiter = std::thread::spawn(move || p.run(|| 9));
        wait_until("the sync call queued first", || pool.stats().waiting == 1);
        let mut queued = Task::new(pool.submit(async { 8 }));
        queued.assert_pending();
        wait_until("both queued", || pool.stats().waiting == 2);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(pool.stats().waiting, 2, "nothing timed out");
        drop(held);
        assert_eq!(waiter.join().unwrap(), Ok(9));
        let start = std::time::Instant::now();
        loop {
            if let std::task::Poll::Ready(out) = queued.poll() {
                assert_eq!(out, Ok(8));
                break;
            }
            assert!(start.elapsed() < BOUND);
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_accounted(&pool.stats());
    });
}

/// `GroupSettings::admission_timeout`: "Turns a call away with
/// `Rejected::TimedOut` once it has waited this long for a slot", at its
/// smallest (`Pool::spawn`: "A zero admission timeout on a full pool may be
/// either: returned here ... else through the handle", so a zero timeout is
/// a timeout): on a full pool every waiting form is turned away
/// `TimedOut` promptly, never hangs and never takes the held slot; on a
/// free pool the call runs.
#[test]
fn a_zero_admission_timeout_turns_every_waiting_form_away_as_timed_out() {
    within(BOUND, || {
        let pool = Pool::builder()
            .size(1)
            .admission_timeout(Duration::ZERO)
            .build()
            .unwrap();
        assert_eq!(pool.run(|| 1), Ok(1), "a free slot is taken at once");
        let held = pool.try_acquire_owned(0).unwrap();
        assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut));
        assert_eq!(
            futures::executor::block_on(pool.submit(async {})),
            Err(Rejected::TimedOut)
        );
        assert!(matches!(
            futures::executor::block_on(pool.acquire_owned(0)),
            Err(Rejected::TimedOut)
        ));
        assert_eq!(
            futures::executor::block_on(pool.submit_blocking(|| ())),
            Err(Rejected::TimedOut)
        );
        let stats = pool.stats();
        assert_eq!(stats.rejected_for(Rejected::TimedOut), 4, "{stats:?}");
        assert_eq!((stats.running, stats.waiting), (1, 0), "{stats:?}");
        assert_accounted(&stats);
        drop(held);
        assert_eq!(pool.run(|| 2), Ok(2));
    });
}

/// README, "Proof": "A priority pool keeps up to 64 distinct weights waiting
/// at once without allocating; past that, the lists of the other weights
/// sit in a `BTreeMap`", and `submit_weighted`: "smaller weights are
/// admitted first, equal weights first-come first-served". 150 calls over
/// 100 distinct weights, queued in a scrambled order on a priority pool of
/// one: admitted sorted by weight, arrival order among equals, one at a
/// time.
#[test]
fn more_than_64_distinct_weights_are_admitted_smallest_first_and_fifo_among_equals() {
    let pool = Pool::builder()
        .order(Order::Priority)
        .size(1)
        .build()
        .unwrap();
    let held = pool.try_acquire_owned(0).unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let meter = Meter::default();
    // (weight, arrival) for 150 calls: weights i*37 mod 100, scrambled.
    let calls: Vec<(i64, usize)> = (0..150)
        .map(|i| (((i * 37) % 100) as i64 - 50, i))
        .collect();
    let mut tasks: Vec<_> = calls
        .iter()
        .map(|&(w, i)| {
            let (order, meter) = (order.clone(), meter.clone());
            Task::new(pool.submit_weighted(w, async move {
                let _inside = meter.enter();
                order.lock().unwrap().push((w, i));
            }))
        })
        .collect();
    for t in &mut tasks {
        t.assert_pending();
    }
    assert_eq!(pool.stats().waiting, 150);
    drop(held);
    for _ in 0..150 {
        let woken: Vec<_> = tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.is_woken())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(woken.len(), 1, "exactly one waiter is woken per release");
        assert_eq!(tasks[woken[0]].assert_ready(), Ok(()));
    }
    let mut expected = calls.clone();
    expected.sort();
    assert_eq!(*order.lock().unwrap(), expected);
    assert_eq!(meter.max(), 1);
    let stats = pool.stats();
    assert_eq!(stats.completed, 151, "{stats:?}");
    assert_accounted(&stats);
}

/// `GroupSettings::min`: "The lowest slot count an autoscaled pool goes to
/// (default 3, or `max` if that is smaller)"; `max`: "(default `min + 5`,
/// at most `MAX_SLOTS`)"; `size`: "the one an autoscaled pool starts with
/// (default: `min`, or 1 if `min` is 0 ...)". Each default derived from the
/// other bound, as built.
#[test]
fn an_autoscaled_pools_default_bounds_and_start_follow_the_other_bound() {
    let auto = || {
        Pool::builder()
            .kind(Kind::Autoscale)
            .clock(ManualClock::new())
    };
    let p = auto().max(2).build().unwrap();
    assert_eq!(
        (p.bounds(), p.size()),
        ((2, 2), 2),
        "min defaults to max if smaller"
    );
    let p = auto().max(20).build().unwrap();
    assert_eq!((p.bounds(), p.size()), ((3, 20), 3));
    let p = auto().min(10).build().unwrap();
    assert_eq!(
        (p.bounds(), p.size()),
        ((10, 15), 10),
        "max defaults to min + 5"
    );
    let p = auto().min(0).build().unwrap();
    assert_eq!((p.bounds(), p.size()), ((0, 5), 1), "min 0 starts at 1");
    let max = pool_runtime::MAX_SLOTS;
    let p = auto().min(max).build().unwrap();
    assert_eq!(p.bounds(), (max, max), "max is at most MAX_SLOTS");
    let p = auto().min(1).max(6).size(4).build().unwrap();
    assert_eq!((p.bounds(), p.size()), ((1, 6), 4), "a given start is kept");
}

/// README, "Autoscale": "when more than half the slots idle, shrinks toward
/// it ... (at most halving, and never below one slot by itself: with `min =
/// 0` a pool starts at 1 and only `resize` takes it to 0 ...)". An
/// autoscaled pool with `min = 0`, on a manual clock, kept nearly idle
/// through many intervals, stays at 1 slot and keeps admitting; `resize(0)`
/// then holds a call until `resize(1)`.
#[test]
fn an_idle_autoscaled_pool_with_min_zero_never_scales_itself_to_zero() {
    within(BOUND, || {
        let clock = ManualClock::new();
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .min(0)
            .max(4)
            .clock(clock.clone())
            .build()
            .unwrap();
        assert_eq!(pool.size(), 1);
        for i in 0..30 {
            clock.advance(Duration::from_secs(11));
            assert_eq!(pool.run(|| i), Ok(i), "round {i}");
            assert!(pool.size() >= 1, "round {i}: scaled itself to 0");
        }
        assert_eq!(pool.resize(0), 0, "resize takes it to 0");
        let mut held = Task::new(pool.submit(async { 5 }));
        held.assert_pending();
        assert_eq!(pool.stats().waiting, 1);
        assert_eq!(pool.resize(1), 1);
        assert!(held.is_woken());
        assert_eq!(held.assert_ready(), Ok(5));
        assert_accounted(&pool.stats());
    });
}

/// README, "Accounting": "A call whose first poll unwound on its way into
/// the queue (its waker's `clone` panicked) is still entering: counted
/// submitted, in no other term until it is polled again (it queues) or
/// dropped (cancelled)"; the README's table: permits have the "same order,
/// rejections and accounting as `submit`"; "Faults lose nothing: A waker
/// whose `clone` panics is cloned before any state changes"; "That is the
/// rule of the futures `submit`, `submit_weighted`, `submit_wait`, a pool's
/// `submit_judged` and a pool's permits (`acquire`, `acquire_weighted`,
/// `acquire_owned` ...) return ... and of a group's permits while no
/// ceiling is set and the group has no fleet limit ... The forms that are
/// `async fn`s (`submit_blocking*`, ...) cannot be resumed once a poll
/// unwound ...: such a call is counted cancelled as the panic leaves it,
/// its slot is not lost, and polling it again panics". `submit`,
/// `submit_judged`, `acquire`, `acquire_owned` and a group's `acquire`
/// first polled on a full pool with such a waker stay entering, and queue
/// and run when polled again; `submit_blocking` is counted cancelled at
/// once, and the slot goes on to the next call. (Found as a bug:
/// `submit_judged` was an `async fn` too. The permits were `async fn`s
/// until they got futures of their own, `566a2a8`.)
#[test]
fn a_call_whose_first_poll_panicked_is_still_entering_or_cancelled_as_documented() {
    use std::future::Future;
    use std::sync::atomic::AtomicBool;
    use std::task::{Context, Poll, Waker};
    static ARMED: AtomicBool = AtomicBool::new(false);
    /// A group with no ceiling and no fleet limit: its permits are its pool's.
    static PLAIN: pool_runtime::Group = pool_runtime::Group::new(
        pool_runtime::GroupSpec::new("acceptance_round29::plain_permits").size(1),
    );
    common::quiet_planned_panics();
    /// What the form does, or why it breaks the promise.
    fn check<T, F: Future<Output = Result<T, Rejected>>>(
        form: &str,
        pool: &Pool,
        held: pool_runtime::OwnedPermit,
        fut: F,
    ) -> Result<(), String> {
        let mut fut = Box::pin(fut);
        let s0 = pool.stats();
        ARMED.store(true, Ordering::SeqCst);
        let waker = common::waker_whose_clone_panics_once(&ARMED);
        let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fut.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        }));
        ARMED.store(false, Ordering::SeqCst);
        if first.is_ok() {
            return Err(format!(
                "{form}: the clone's panic did not reach the poller"
            ));
        }
        let s1 = pool.stats();
        if s1.submitted() != s0.submitted() + 1
            || (s1.cancelled, s1.waiting) != (s0.cancelled, s0.waiting)
        {
            return Err(format!(
                "{form}: not still entering after the panic: {s1:?}"
            ));
        }
        let mut task = Task::new(fut);
        let again =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.poll().is_pending()));
        if again.ok() != Some(true) || pool.stats().waiting != 1 {
            return Err(format!("{form}: polled again, it does not queue"));
        }
        drop(held);
        let start = std::time::Instant::now();
        loop {
            if let Poll::Ready(out) = task.poll() {
                if out.is_err() {
                    return Err(format!("{form}: turned away"));
                }
                break;
            }
            if start.elapsed() > BOUND {
                return Err(format!("{form}: never ran"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(task);
        let s = pool.stats();
        if s.submitted() != s0.submitted() + 1 || s.cancelled != s0.cancelled {
            return Err(format!("{form}: not counted once: {s:?}"));
        }
        assert_accounted(&s);
        Ok(())
    }
    /// An `async fn` form: counted cancelled as the clone's panic leaves
    /// it, the counters balance, polling it again panics, and the slot its
    /// holder frees goes to the next call.
    fn check_async_fn<T, F: Future<Output = Result<T, Rejected>>>(
        form: &str,
        pool: &Pool,
        held: pool_runtime::OwnedPermit,
        fut: F,
    ) -> Result<(), String> {
        let mut fut = Box::pin(fut);
        let s0 = pool.stats();
        ARMED.store(true, Ordering::SeqCst);
        let waker = common::waker_whose_clone_panics_once(&ARMED);
        let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fut.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        }));
        ARMED.store(false, Ordering::SeqCst);
        if first.is_ok() {
            return Err(format!(
                "{form}: the clone's panic did not reach the poller"
            ));
        }
        let s1 = pool.stats();
        if s1.submitted() != s0.submitted() + 1
            || s1.cancelled != s0.cancelled + 1
            || s1.waiting != s0.waiting
        {
            return Err(format!("{form}: not counted cancelled: {s1:?}"));
        }
        assert_accounted(&s1);
        let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fut.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        }));
        if again.is_ok() {
            return Err(format!("{form}: polled again, it did not panic"));
        }
        drop(fut);
        drop(held);
        if pool.try_acquire().is_err() {
            return Err(format!("{form}: the slot was lost"));
        }
        let s = pool.stats();
        if s.submitted() != s0.submitted() + 2 || s.cancelled != s0.cancelled + 1 {
            return Err(format!("{form}: not counted once: {s:?}"));
        }
        assert_accounted(&s);
        Ok(())
    }
    let broken = within(BOUND, || {
        let mut broken = Vec::new();
        let fresh = || {
            let pool = Pool::fixed(1);
            let held = pool.try_acquire_owned(0).unwrap();
            (pool, held)
        };
        let (pool, held) = fresh();
        broken.push(check("submit", &pool, held, pool.submit(async {})));
        let (pool, held) = fresh();
        broken.push(check("acquire", &pool, held, pool.acquire()));
        let (pool, held) = fresh();
        broken.push(check("acquire_owned", &pool, held, pool.acquire_owned(0)));
        {
            // No ceiling (the other tests of this binary set one, in turns):
            // the group's permit is its pool's.
            let _turn = common::config_turn();
            let held = PLAIN.pool().try_acquire_owned(0).unwrap();
            broken.push(check(
                "Group::acquire",
                PLAIN.pool(),
                held,
                PLAIN.acquire(0),
            ));
        }
        let (pool, held) = fresh();
        broken.push(check_async_fn(
            "submit_blocking",
            &pool,
            held,
            pool.submit_blocking(|| ()),
        ));
        let (pool, held) = fresh();
        broken.push(check(
            "submit_judged",
            &pool,
            held,
            pool.submit_judged(0, async {}, |_| pool_runtime::Verdict::Success),
        ));
        broken
            .into_iter()
            .filter_map(Result::err)
            .collect::<Vec<_>>()
    });
    assert!(broken.is_empty(), "{broken:#?}");
}

/// README, "Autoscale": "every interval the limit grows toward the mean
/// demand (at most doubling) ... within `[min, max]`", sampled "at the
/// events that change it (intake, release ...)", with no background thread
/// ("the clock is injectable (`ManualClock`) so tests drive it
/// deterministically"); "At every admission `running <= limit`". A pool of
/// 1 (bounds 1..=6) under a backlog of 20 gated calls: each interval, at
/// the next intake, the limit at most doubles and never passes 6; the
/// bodies running never exceed the limit (counted from outside), and it
/// reaches 6.
#[test]
fn under_a_backlog_the_autoscaler_at_most_doubles_per_interval_up_to_max() {
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(6)
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(pool.size(), 1);
    let meter = Meter::default();
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let call = || {
        let (m, open) = (meter.clone(), open.clone());
        Task::new(pool.submit(async move {
            let _inside = m.enter();
            common::Gate(open).await;
        }))
    };
    let mut tasks: Vec<_> = (0..20).map(|_| call()).collect();
    for t in &mut tasks {
        t.assert_pending();
    }
    let mut sizes = vec![pool.size()];
    for _ in 0..8 {
        clock.advance(Duration::from_secs(11));
        let mut intake = call();
        intake.assert_pending();
        tasks.push(intake);
        for t in &mut tasks {
            let _ = t.poll();
        }
        let size = pool.size();
        let prev = *sizes.last().unwrap();
        assert!(
            size <= 2 * prev,
            "grew past doubling: {sizes:?} then {size}"
        );
        assert!(size <= 6, "past max: {size}");
        assert!(
            meter.now() <= size,
            "{} running on {size} slots",
            meter.now()
        );
        assert_eq!(pool.stats().running, meter.now());
        sizes.push(size);
    }
    assert_eq!(
        *sizes.last().unwrap(),
        6,
        "grew to max under the backlog: {sizes:?}"
    );
    open.store(true, Ordering::SeqCst);
    let start = std::time::Instant::now();
    while tasks.iter_mut().any(|t| t.poll().is_pending()) {
        assert!(start.elapsed() < BOUND);
        assert!(meter.max() <= 6);
    }
    assert!(meter.max() <= 6, "{}", meter.max());
    assert_accounted(&pool.stats());
}

// ---- the ceiling --------------------------------------------------------

#[cfg(feature = "config")]
mod ceiling_order {
    use super::*;
    use pool_runtime::{ceiling, config, register_group, Group, GroupSpec};
    use std::future::Future;
    use std::pin::Pin;

    static HOLD: Group = Group::new(GroupSpec::new("acc29::hold").size(1));
    register_group!(HOLD);
    static PRIO: Group = Group::new(GroupSpec::new("acc29::prio").order(Order::Priority).size(8));
    register_group!(PRIO);
    static FIFO: Group = Group::new(GroupSpec::new("acc29::fifo").order(Order::Fifo).size(8));
    register_group!(FIFO);
    static LIFO: Group = Group::new(GroupSpec::new("acc29::lifo").order(Order::Lifo).size(8));
    register_group!(LIFO);

    type Call = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

    /// Calls queued for a ceiling of one held by `HOLD`'s permit, one at a
    /// time (each seen waiting for the ceiling before the next is made), then
    /// let through by dropping the permit.
    struct Queue {
        log: Log,
        held: Option<pool_runtime::OwnedPermit>,
        tasks: Vec<Option<Task<Call>>>,
        threads: Vec<std::thread::JoinHandle<()>>,
        made: usize,
    }

    impl Queue {
        /// Sets a ceiling of 1 and holds it.
        fn new() -> Queue {
            Queue::with("ceiling = 1\n")
        }

        /// Loads `text` (which sets a ceiling of 1) and holds the ceiling.
        fn with(text: &str) -> Queue {
            config::load_str("acc29.toml", text).unwrap();
            let held = HOLD.try_acquire_owned(0).expect("the ceiling is free");
            assert_eq!(ceiling::stats().unwrap().running, 1);
            Queue {
                log: Log::default(),
                held: Some(held),
                tasks: Vec::new(),
                threads: Vec::new(),
                made: 0,
            }
        }

        fn arrived(&mut self) {
            self.made += 1;
            let made = self.made;
            wait_until("the call waits for the ceiling", || {
                ceiling::stats().unwrap().waiting == made
            });
        }

        /// An async call, polled once.
        fn call(&mut self, fut: impl Future<Output = ()> + Send + 'static) {
            self.call_n(fut, 1);
        }

        /// A future making `n` calls, polled once.
        fn call_n(&mut self, fut: impl Future<Output = ()> + Send + 'static, n: usize) {
            let mut task = Task::new(Box::pin(fut) as Call);
            task.assert_pending();
            self.tasks.push(Some(task));
            self.made += n - 1;
            self.arrived();
        }

        /// A sync call on a thread of its own.
        fn thread(&mut self, f: impl FnOnce() + Send + 'static) {
            self.threads.push(std::thread::spawn(f));
            self.arrived();
        }

        /// Lets the calls through and returns who ran, in order.
        fn release(mut self, expected: usize) -> Log {
            // "A call waiting for a ceiling slot is counted by the ceiling
            // ..., not yet by its group".
            for g in [&PRIO, &FIFO, &LIFO] {
                let s = g.stats();
                assert_eq!((s.waiting, s.running), (0, 0), "{}: {s:?}", g.name());
            }
            assert_eq!(ceiling::stats().unwrap().waiting, self.made);
            drop(self.held.take());
            let start = std::time::Instant::now();
            loop {
                for slot in &mut self.tasks {
                    if let Some(task) = slot {
                        if task.poll().is_ready() {
                            *slot = None;
                        }
                    }
                }
                if self.tasks.iter().all(Option::is_none)
                    && self.log.order().len() == expected
                    && self.threads.iter().all(|t| t.is_finished())
                {
                    break;
                }
                assert!(
                    start.elapsed() < BOUND,
                    "stuck after {:?}",
                    self.log.order()
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            for t in self.threads.drain(..) {
                t.join().unwrap();
            }
            let c = ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
            assert_accounted(&c);
            assert_eq!(
                self.log.meter.max(),
                1,
                "one body at a time under a ceiling of 1"
            );
            self.log.clone()
        }
    }

    fn submit(q: &Queue, g: &'static Group, w: i64, label: &'static str) -> Call {
        let log = q.log.clone();
        Box::pin(async move {
            g.submit(w, async move { log.mark(label) })
                .await
                .expect("admitted");
        })
    }

    /// README, Configuration: "Calls waiting for a ceiling slot are admitted
    /// by their weight if their group is a priority group (smaller first, as
    /// in the group: an urgent call goes before batch calls made before it),
    /// else as weight 0, and in arrival order among equal weights."
    /// `Group::submit` on a priority group and a FIFO group: weights 5, 1,
    /// 3, -2 of the priority group and a FIFO call (weight 9, ranked 0)
    /// run -2, the FIFO call, 1, 3, 5.
    #[test]
    fn submits_of_a_priority_group_wait_for_the_ceiling_by_weight_others_as_zero() {
        let _turn = common::config_turn();
        within(BOUND, || {
            let mut q = Queue::new();
            for (w, label) in [(5, "p5"), (1, "p1"), (3, "p3"), (-2, "p-2")] {
                let call = submit(&q, &PRIO, w, label);
                q.call(call);
            }
            let call = submit(&q, &FIFO, 9, "fifo9");
            q.call(call);
            let log = q.release(5);
            assert_eq!(log.order(), ["p-2", "fifo9", "p1", "p3", "p5"]);
        });
        config::clear();
    }

    /// Same sentence, its last part: "in arrival order among equal weights
    /// (a LIFO group's calls wait for the ceiling first come, first
    /// served)". LIFO and FIFO groups' calls, whatever weights they pass,
    /// and a priority group's weight-0 calls between them, run in the order
    /// they arrived.
    #[test]
    fn equal_ranks_across_groups_wait_for_the_ceiling_in_arrival_order() {
        let _turn = common::config_turn();
        within(BOUND, || {
            let mut q = Queue::new();
            let calls = [
                (&LIFO, 3, "lifo-a"),
                (&FIFO, -7, "fifo-a"),
                (&PRIO, 0, "prio-a"),
                (&LIFO, -9, "lifo-b"),
                (&LIFO, 100, "lifo-c"),
                (&PRIO, 0, "prio-b"),
                (&FIFO, i64::MIN, "fifo-b"),
            ];
            for (g, w, label) in calls {
                let call = submit(&q, g, w, label);
                q.call(call);
            }
            let log = q.release(calls.len());
            let arrival: Vec<_> = calls.iter().map(|c| c.2).collect();
            assert_eq!(log.order(), arrival);
        });
        config::clear();
    }

    /// The ranking with extreme weights ("weights up to `i64::MIN`/`MAX`"
    /// in the model test's words; `submit_weighted`: "smaller weights are
    /// admitted first"): a priority group's `i64::MAX` call goes after a
    /// FIFO group's call (ranked 0) and its `i64::MIN` call before it.
    #[test]
    fn extreme_weights_rank_at_both_ends_of_the_ceilings_queue() {
        let _turn = common::config_turn();
        within(BOUND, || {
            let mut q = Queue::new();
            for (g, w, label) in [
                (&PRIO, i64::MAX, "max"),
                (&FIFO, 0, "fifo"),
                (&PRIO, i64::MIN, "min"),
                (&PRIO, i64::MAX, "max2"),
                (&PRIO, i64::MIN, "min2"),
            ] {
                let call = submit(&q, g, w, label);
                q.call(call);
            }
            let log = q.release(5);
            assert_eq!(log.order(), ["min", "min2", "fifo", "max", "max2"]);
        });
        config::clear();
    }

    /// The ranking holds for the never-rejecting form too (`submit_wait`,
    /// what `#[pooled]` functions that cannot return an error use): the
    /// ceiling module, "Calls waiting for a ceiling slot are admitted by
    /// their weight in their group if it is a priority group".
    #[test]
    fn submit_wait_calls_wait_for_the_ceiling_by_weight() {
        let _turn = common::config_turn();
        within(BOUND, || {
            let mut q = Queue::new();
            for (w, label) in [(10, "w10"), (4, "w4"), (7, "w7"), (4, "w4b")] {
                let log = q.log.clone();
                q.call(async move { PRIO.submit_wait(w, async move { log.mark(label) }).await });
            }
            let log = q.release(4);
            assert_eq!(log.order(), ["w4", "w4b", "w7", "w10"]);
        });
        config::clear();
    }

    /// README's table: permits have the "same order, rejections and
    /// accounting as `submit`"; `Group::acquire`: "under an
    /// application-wide ceiling the permit holds a ceiling slot too". Group
    /// permits (`acquire`, `acquire_owned`) of a priority group wait for the
    /// ceiling by their weight, among its submits.
    #[test]
    fn group_permits_wait_for_the_ceiling_by_weight_among_submits() {
        let _turn = common::config_turn();
        within(BOUND, || {
            let mut q = Queue::new();
            let log = q.log.clone();
            q.call(async move {
                let p = PRIO.acquire_owned(6).await.unwrap();
                log.mark("owned6");
                drop(p);
            });
            let call = submit(&q, &PRIO, 4, "submit4");
            q.call(call);
            let log = q.log.clone();
            q.call(async move {
                let p = PRIO.acquire(2).await.unwrap();
                log.mark("permit2");
                drop(p);
            });
            let log = q.log.clone();
            q.call(async move {
                let p = FIFO.acquire(50).await.unwrap();
                log.mark("fifo-permit");
                drop(p);
            });
            let log = q.release(4);
            assert_eq!(log.order(), ["fifo-permit", "permit2", "submit4", "owned6"]);
        });
        config::clear();
    }

    /// `Group::run_weighted` and `Group::run_wait` (sync callers parked on
    /// their threads) wait for the ceiling by their weight in a priority
    /// group, in one queue with async calls: README, "Calls waiting for a
    /// ceiling slot are admitted by their weight if their group is a
    /// priority group".
    #[test]
    fn sync_calls_wait_for_the_ceiling_by_weight_in_one_queue_with_async_calls() {
        let _turn = common::config_turn();
        within(BOUND, || {
            let mut q = Queue::new();
            let log = q.log.clone();
            q.thread(move || {
                PRIO.run_weighted(8, || log.mark("run8")).unwrap();
            });
            let call = submit(&q, &PRIO, 5, "submit5");
            q.call(call);
            let log = q.log.clone();
            q.thread(move || PRIO.run_wait(3, || log.mark("run_wait3")));
            let log = q.log.clone();
            q.thread(move || {
                LIFO.run_weighted(99, || log.mark("lifo-run")).unwrap();
            });
            let log = q.release(4);
            assert_eq!(log.order(), ["lifo-run", "run_wait3", "submit5", "run8"]);
        });
        config::clear();
    }

    /// `Group::submit_blocking` and `submit_blocking_wait`: "the ceiling
    /// slot goes to the job" and blocking calls are group calls like any
    /// other; README: "Calls waiting for a ceiling slot are admitted by
    /// their weight if their group is a priority group". Blocking calls of a
    /// priority group wait for the ceiling by weight, among its submits.
    #[test]
    fn blocking_calls_wait_for_the_ceiling_by_weight() {
        let _turn = common::config_turn();
        within(BOUND, || {
            let mut q = Queue::new();
            let log = q.log.clone();
            q.call(async move {
                PRIO.submit_blocking(9, move || log.mark("blocking9"))
                    .await
                    .unwrap();
            });
            let call = submit(&q, &PRIO, 6, "submit6");
            q.call(call);
            let log = q.log.clone();
            q.call(async move {
                PRIO.submit_blocking_wait(1, move || log.mark("blocking_wait1"))
                    .await;
            });
            let log = q.log.clone();
            q.call(async move {
                FIFO.submit_blocking(20, move || log.mark("fifo-blocking"))
                    .await
                    .unwrap();
            });
            let log = q.release(4);
            assert_eq!(
                log.order(),
                ["fifo-blocking", "blocking_wait1", "submit6", "blocking9"]
            );
        });
        config::clear();
    }

    /// `Group::submit_judged`, a group call like `submit` ("See
    /// `Pool::submit_judged`"), waits for the ceiling by its weight too.
    #[test]
    fn judged_calls_wait_for_the_ceiling_by_weight() {
        let _turn = common::config_turn();
        within(BOUND, || {
            let mut q = Queue::new();
            for (w, label) in [(3, "judged3"), (-1, "judged-1")] {
                let log = q.log.clone();
                q.call(async move {
                    PRIO.submit_judged(w, async move { log.mark(label) }, |_| {
                        pool_runtime::Verdict::Success
                    })
                    .await
                    .unwrap();
                });
            }
            let call = submit(&q, &PRIO, 1, "submit1");
            q.call(call);
            let log = q.release(3);
            assert_eq!(log.order(), ["judged-1", "submit1", "judged3"]);
        });
        config::clear();
    }

    /// A call waiting for the ceiling that its caller drops leaves the
    /// ceiling's queue at once (README, "Cancellation": "Dropping a waiting
    /// call removes it from the queue at once"): counted cancelled by the
    /// ceiling, never submitted to its group, and the rest keep their rank
    /// order.
    #[test]
    fn a_call_dropped_while_it_waits_for_the_ceiling_leaves_the_rank_order_intact() {
        let _turn = common::config_turn();
        within(BOUND, || {
            let mut q = Queue::new();
            let before = PRIO.stats();
            for (w, label) in [(3, "p3"), (1, "p1"), (2, "p2")] {
                let call = submit(&q, &PRIO, w, label);
                q.call(call);
            }
            let c_before = ceiling::stats().unwrap();
            // Drop the weight-1 call (the second made).
            q.tasks[1] = None;
            q.made -= 1;
            let c = ceiling::stats().unwrap();
            assert_eq!(c.waiting, 2, "{c:?}");
            assert_eq!(c.cancelled, c_before.cancelled + 1, "{c:?}");
            assert_eq!(
                PRIO.stats().submitted(),
                before.submitted(),
                "not yet the group's"
            );
            let log = q.release(2);
            assert_eq!(log.order(), ["p2", "p3"]);
            let after = PRIO.stats();
            assert_eq!(after.submitted(), before.submitted() + 2, "{after:?}");
            assert_eq!(after.cancelled, before.cancelled, "{after:?}");
            assert_accounted(&after);
        });
        config::clear();
    }

    /// `ceiling` module (`set`, applied by a load): "raising it admits
    /// waiting ones at once". A reload that raises a held ceiling of 1 to 3
    /// admits two waiters with no release, the two best ranked, and never a
    /// third while they run (counted from outside).
    #[test]
    fn raising_the_ceiling_admits_the_best_ranked_waiters_at_once() {
        let _turn = common::config_turn();
        within(BOUND, || {
            config::load_str("acc29.toml", "ceiling = 1\n").unwrap();
            let held = HOLD.try_acquire_owned(0).unwrap();
            let meter = Meter::default();
            let order = Arc::new(Mutex::new(Vec::new()));
            let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let gate_open = open.clone();
            let mut tasks: Vec<_> = [(7, "p7"), (2, "p2"), (9, "p9"), (1, "p1")]
                .into_iter()
                .map(|(w, label)| {
                    let (m, order, open) = (meter.clone(), order.clone(), gate_open.clone());
                    Task::new(PRIO.submit(w, async move {
                        let _inside = m.enter();
                        order.lock().unwrap().push(label);
                        common::Gate(open).await;
                    }))
                })
                .collect();
            for (i, t) in tasks.iter_mut().enumerate() {
                t.assert_pending();
                assert_eq!(ceiling::stats().unwrap().waiting, i + 1);
            }
            config::load_str("acc29.toml", "ceiling = 3\n").unwrap();
            assert_eq!(ceiling::limit(), Some(3));
            for t in &mut tasks {
                let _ = t.poll();
            }
            let mut first: Vec<_> = order.lock().unwrap().clone();
            first.sort_unstable();
            assert_eq!(first, ["p1", "p2"], "the two best ranked, at once");
            assert_eq!(meter.now(), 2);
            let c = ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (3, 2), "{c:?}");
            drop(held);
            for t in &mut tasks {
                let _ = t.poll();
            }
            assert_eq!(order.lock().unwrap().len(), 3);
            assert_eq!(order.lock().unwrap()[2], "p7");
            open.store(true, Ordering::SeqCst);
            let start = std::time::Instant::now();
            while tasks.iter_mut().any(|t| t.poll().is_pending()) {
                assert!(start.elapsed() < BOUND);
            }
            assert_eq!(order.lock().unwrap().len(), 4);
            assert!(meter.max() <= 3, "{} at once under 3", meter.max());
            tasks.clear();
            let c = ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
            assert_accounted(&c);
        });
        config::clear();
    }

    /// `ceiling` module: "Lowering it lets running calls finish"; README:
    /// "Reload applies changed limits to running pools at once (growing
    /// admits waiters, shrinking lets running calls finish)". Three group
    /// calls run under a ceiling of 3; a reload to 1 interrupts none, and a
    /// waiting call starts only once all three have ended.
    #[test]
    fn lowering_the_ceiling_lets_running_calls_finish_and_admits_nothing_until_below_it() {
        let _turn = common::config_turn();
        within(BOUND, || {
            config::load_str("acc29.toml", "ceiling = 3\n").unwrap();
            let meter = Meter::default();
            let mut opens = Vec::new();
            let mut running = Vec::new();
            for g in [&PRIO, &FIFO, &LIFO] {
                let (gt, open) = gate();
                opens.push(open);
                let m = meter.clone();
                let mut t = Task::new(g.submit(0, async move {
                    let _inside = m.enter();
                    gt.await;
                }));
                t.assert_pending();
                running.push(t);
            }
            assert_eq!(meter.now(), 3);
            config::load_str("acc29.toml", "ceiling = 1\n").unwrap();
            assert_eq!(ceiling::limit(), Some(1));
            let m = meter.clone();
            let mut waiter = Task::new(FIFO.submit(0, async move {
                let _inside = m.enter();
            }));
            waiter.assert_pending();
            for (i, open) in opens.iter().enumerate() {
                open.store(true, Ordering::SeqCst);
                assert_eq!(running[i].assert_ready(), Ok(()));
                if i < 2 {
                    assert!(waiter.poll().is_pending(), "admitted above the ceiling");
                }
            }
            assert!(waiter.is_woken());
            assert_eq!(waiter.assert_ready(), Ok(()));
            assert_eq!(meter.max(), 3);
            assert_accounted(&ceiling::stats().unwrap());
        });
        config::clear();
    }

    /// `config::clear`: "the ceiling is lifted", and the ceiling module:
    /// "lifted by leaving it out". Calls waiting for a held ceiling when a
    /// load leaves it out all go through at once.
    #[test]
    fn a_load_that_leaves_the_ceiling_out_lets_every_waiter_through() {
        let _turn = common::config_turn();
        within(BOUND, || {
            config::load_str("acc29.toml", "ceiling = 1\n").unwrap();
            let held = HOLD.try_acquire_owned(0).unwrap();
            let mut tasks: Vec<_> = (0..3)
                .map(|w| Task::new(PRIO.submit(w, async move { w })))
                .collect();
            for t in &mut tasks {
                t.assert_pending();
            }
            config::load_str("acc29.toml", "[defaults]\nmax_waiting = 100\n").unwrap();
            assert_eq!(ceiling::limit(), None);
            assert_eq!(ceiling::stats(), None);
            for (w, t) in tasks.iter_mut().enumerate() {
                assert_eq!(t.assert_ready(), Ok(w as i64), "let through");
            }
            drop(held);
            assert_eq!(PRIO.stats().waiting, 0);
        });
        config::clear();
    }

    /// README: "a group's `max_waiting = 0` and `admission_timeout` bound its
    /// calls' wait for the ceiling as they bound their wait for the group's
    /// slot". A priority group with an admission timeout: its sync and async
    /// calls that wait for a full ceiling past it are turned away
    /// `TimedOut`, counted by the group, and leave the ceiling's queue
    /// without disturbing the rank order of the calls left.
    #[test]
    fn a_groups_admission_timeout_bounds_its_wait_for_the_ceiling_on_sync_and_async_calls() {
        static TIMED: Group = Group::new(
            GroupSpec::new("acc29::timed")
                .order(Order::Priority)
                .size(4)
                .admission_timeout(Duration::from_millis(300)),
        );
        register_group!(TIMED);
        let _turn = common::config_turn();
        within(BOUND, || {
            config::load_str("acc29.toml", "ceiling = 1\n").unwrap();
            let held = HOLD.try_acquire_owned(0).unwrap();
            let before = TIMED.stats();
            let sync = std::thread::spawn(|| TIMED.run_weighted(-100, || ()));
            assert_eq!(sync.join().unwrap(), Err(Rejected::TimedOut));
            assert_eq!(
                futures::executor::block_on(TIMED.submit(-100, async {})),
                Err(Rejected::TimedOut)
            );
            assert!(matches!(
                futures::executor::block_on(TIMED.acquire_owned(-100)),
                Err(Rejected::TimedOut)
            ));
            assert_eq!(
                futures::executor::block_on(TIMED.submit_blocking(-100, || ())),
                Err(Rejected::TimedOut)
            );
            let after = TIMED.stats();
            assert_eq!(
                after.rejected_for(Rejected::TimedOut),
                before.rejected_for(Rejected::TimedOut) + 4,
                "{after:?}"
            );
            assert_accounted(&after);
            let c = ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (1, 0), "{c:?}");
            // Never-rejecting calls wait past the timeout.
            let mut patient = Task::new(TIMED.submit_wait(0, async { 3 }));
            patient.assert_pending();
            std::thread::sleep(Duration::from_millis(500));
            assert!(patient.poll().is_pending(), "still waiting");
            drop(held);
            assert!(patient.is_woken());
            assert_eq!(patient.assert_ready(), 3);
            assert_accounted(&ceiling::stats().unwrap());
        });
        config::clear();
    }

    /// The same sentence with a zero admission timeout on the group: its
    /// calls meeting a full ceiling are turned away `TimedOut` promptly (no
    /// hang), counted by the group, and the ceiling's queue is left empty.
    #[test]
    fn a_groups_zero_admission_timeout_turns_its_calls_away_from_a_full_ceiling() {
        static ZERO: Group = Group::new(
            GroupSpec::new("acc29::zero")
                .order(Order::Priority)
                .size(4)
                .admission_timeout(Duration::ZERO),
        );
        register_group!(ZERO);
        let _turn = common::config_turn();
        within(BOUND, || {
            config::load_str("acc29.toml", "ceiling = 1\n").unwrap();
            let held = HOLD.try_acquire_owned(0).unwrap();
            let before = ZERO.stats();
            assert_eq!(ZERO.run_weighted(-1, || ()), Err(Rejected::TimedOut));
            assert_eq!(
                futures::executor::block_on(ZERO.submit(-1, async {})),
                Err(Rejected::TimedOut)
            );
            assert!(matches!(
                futures::executor::block_on(ZERO.acquire(-1)),
                Err(Rejected::TimedOut)
            ));
            assert_eq!(
                futures::executor::block_on(ZERO.submit_blocking(-1, || ())),
                Err(Rejected::TimedOut)
            );
            let after = ZERO.stats();
            assert_eq!(
                after.rejected_for(Rejected::TimedOut),
                before.rejected_for(Rejected::TimedOut) + 4,
                "{after:?}"
            );
            assert_accounted(&after);
            let c = ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (1, 0), "{c:?}");
            assert_accounted(&c);
            drop(held);
            assert_eq!(ZERO.run(|| 3), Ok(3), "a free ceiling admits it");
        });
        config::clear();
    }

    /// README: "a group's `max_waiting = 0` ... bound[s] its calls' wait for
    /// the ceiling"; `Group::try_acquire`: the ceiling's "slot must be free
    /// now too". A group that never waits meets a full ceiling: every
    /// rejecting form is turned away `Full` at once, counted by the group,
    /// and the ceiling's queue stays empty.
    #[test]
    fn a_group_that_never_waits_is_turned_away_full_by_a_full_ceiling_on_every_form() {
        static NOWAIT: Group = Group::new(
            GroupSpec::new("acc29::nowait")
                .order(Order::Priority)
                .size(4)
                .max_waiting(0),
        );
        register_group!(NOWAIT);
        let _turn = common::config_turn();
        within(BOUND, || {
            config::load_str("acc29.toml", "ceiling = 1\n").unwrap();
            let held = HOLD.try_acquire_owned(0).unwrap();
            let before = NOWAIT.stats();
            assert_eq!(
                futures::executor::block_on(NOWAIT.submit(-1, async {})),
                Err(Rejected::Full)
            );
            assert_eq!(NOWAIT.run_weighted(-1, || ()), Err(Rejected::Full));
            assert_eq!(
                futures::executor::block_on(NOWAIT.submit_blocking(-1, || ())),
                Err(Rejected::Full)
            );
            assert!(matches!(
                futures::executor::block_on(NOWAIT.acquire(-1)),
                Err(Rejected::Full)
            ));
            assert!(matches!(NOWAIT.try_acquire_owned(-1), Err(Rejected::Full)));
            let after = NOWAIT.stats();
            assert_eq!(
                after.rejected_for(Rejected::Full),
                before.rejected_for(Rejected::Full) + 5,
                "{after:?}"
            );
            assert_eq!(after.running, 0);
            assert_accounted(&after);
            assert_eq!(ceiling::stats().unwrap().waiting, 0);
            drop(held);
            assert_eq!(NOWAIT.run(|| 4), Ok(4), "a free ceiling admits it");
        });
        config::clear();
    }

    /// The ceiling module: "a call its group turns away at once (paused or
    /// closed) is turned away before it would wait for the ceiling" — on
    /// the sync, blocking and permit forms of a paused priority group (round
    /// 28 checked `submit`): each is `Paused` at once, even with the
    /// ceiling full, and never counted by the ceiling.
    #[test]
    fn a_paused_groups_sync_blocking_and_permit_calls_are_turned_away_before_a_full_ceiling() {
        static PAUSED: Group = Group::new(
            GroupSpec::new("acc29::paused")
                .order(Order::Priority)
                .size(2),
        );
        register_group!(PAUSED);
        let _turn = common::config_turn();
        within(BOUND, || {
            config::load_str("acc29.toml", "ceiling = 1\n").unwrap();
            let held = HOLD.try_acquire_owned(0).unwrap();
            let c_before = ceiling::stats().unwrap();
            PAUSED.pause();
            assert_eq!(PAUSED.run_weighted(3, || ()), Err(Rejected::Paused));
            assert_eq!(
                futures::executor::block_on(PAUSED.submit_blocking(3, || ())),
                Err(Rejected::Paused)
            );
            assert!(matches!(
                futures::executor::block_on(PAUSED.acquire_owned(3)),
                Err(Rejected::Paused)
            ));
            assert!(matches!(PAUSED.try_acquire(3), Err(Rejected::Paused)));
            let s = PAUSED.stats();
            assert_eq!(s.rejected_for(Rejected::Paused), 4, "{s:?}");
            assert_accounted(&s);
            let c = ceiling::stats().unwrap();
            assert_eq!(c.submitted(), c_before.submitted(), "{c:?}");
            assert_eq!(c.waiting, 0);
            PAUSED.resume();
            drop(held);
            assert_eq!(PAUSED.run(|| 1), Ok(1));
        });
        config::clear();
    }

    /// A stream over a group: its calls "also take the application-wide
    /// ceiling as `Group::submit` does", and `pooled_unordered_weighted`:
    /// "The weight orders the stream's calls among every call waiting for
    /// the pool". Under a held ceiling of 1, a weighted stream over a
    /// priority group and a FIFO group's later call are admitted by rank.
    #[cfg(feature = "stream")]
    #[test]
    fn a_weighted_streams_calls_wait_for_the_ceiling_by_weight() {
        use futures::StreamExt;
        use pool_runtime::PooledStreamExt;
        let _turn = common::config_turn();
        within(BOUND, || {
            let mut q = Queue::new();
            let log = q.log.clone();
            let jobs: Vec<Weighted> = [(8, "s8"), (2, "s2"), (5, "s5")]
                .into_iter()
                .map(|(w, label)| {
                    let log = log.clone();
                    Weighted(w, Box::pin(async move { log.mark(label) }))
                })
                .collect();
            let mut stream =
                Box::pin(futures::stream::iter(jobs).pooled_unordered_weighted(&PRIO, weight_of));
            q.call_n(
                async move {
                    let mut outs = 0;
                    while let Some(out) = stream.next().await {
                        out.unwrap();
                        outs += 1;
                    }
                    assert_eq!(outs, 3);
                },
                3,
            );
            let call = submit(&q, &FIFO, 1, "fifo");
            q.call(call);
            let log = q.release(4);
            assert_eq!(log.order(), ["fifo", "s2", "s5", "s8"]);
        });
        config::clear();
    }

    #[cfg(feature = "stream")]
    fn weight_of(job: &Weighted) -> i64 {
        job.0
    }

    /// README: "Work submitted to a group's pool directly
    /// (`Group::pool().submit`, not a group call) holds no ceiling slot
    /// either, and group calls made inside it are taken for calls nested in
    /// a call from before the ceiling: they are not gated (use the group's
    /// own `submit`)." Under a held ceiling of 1: a direct `submit`, `run`
    /// and permit of a group's pool run at once, and so do group calls made
    /// inside the first two, while the group's own `submit` waits; the
    /// ceiling counts none of them.
    #[test]
    fn work_submitted_to_a_groups_pool_directly_and_group_calls_inside_it_are_not_gated() {
        let _turn = common::config_turn();
        within(BOUND, || {
            config::load_str("acc29.toml", "ceiling = 1\n").unwrap();
            let held = HOLD.try_acquire_owned(0).unwrap();
            let before = ceiling::stats().unwrap();
            let log = Log::default();
            let l = log.clone();
            let mut direct = Task::new(PRIO.pool().submit_weighted(3, async move {
                l.mark("direct");
                FIFO.submit(0, async { l.mark("inside-direct") }).await
            }));
            assert_eq!(direct.assert_ready(), Ok(Ok(())));
            let l = log.clone();
            let out = PRIO.pool().run(|| {
                l.mark("direct-run");
                LIFO.run(|| l.mark("inside-run"))
            });
            assert_eq!(out, Ok(Ok(())));
            let permit = PRIO.pool().try_acquire_owned(0).expect("not gated");
            drop(permit);
            assert_eq!(
                log.order(),
                ["direct", "inside-direct", "direct-run", "inside-run"]
            );
            let c = ceiling::stats().unwrap();
            assert_eq!(c.submitted(), before.submitted(), "{c:?}");
            assert_eq!((c.running, c.waiting), (1, 0), "{c:?}");
            let mut gated = Task::new(PRIO.submit(0, async {}));
            gated.assert_pending();
            assert_eq!(
                ceiling::stats().unwrap().waiting,
                1,
                "the group's own submit waits"
            );
            drop(held);
            assert!(gated.is_woken());
            assert_eq!(gated.assert_ready(), Ok(()));
        });
        config::clear();
    }

    /// README, "Hand-off, no barging": "A freed slot goes straight to the
    /// next waiter chosen by the order; a newcomer never overtakes a queued
    /// call", for the ceiling's slots: a ceiling slot freed while a call
    /// waits for it is that call's, not a later `try_acquire`'s or sync
    /// call's (each turned away or made to wait), even from a group whose
    /// rank (a priority group's weight of -1000) is better.
    #[test]
    fn a_freed_ceiling_slot_goes_to_the_queued_call_not_to_a_newcomer() {
        static NEWCOMER: Group = Group::new(
            GroupSpec::new("acc29::newcomer")
                .order(Order::Priority)
                .size(4)
                .max_waiting(0),
        );
        register_group!(NEWCOMER);
        let _turn = common::config_turn();
        within(BOUND, || {
            config::load_str("acc29.toml", "ceiling = 1\n").unwrap();
            let held = HOLD.try_acquire_owned(0).unwrap();
            let mut queued = Task::new(FIFO.submit(0, async { 1 }));
            queued.assert_pending();
            drop(held);
            assert!(queued.is_woken());
            assert!(
                matches!(NEWCOMER.try_acquire_owned(-1000), Err(Rejected::Full)),
                "a try took the slot owed to the queued call"
            );
            assert_eq!(NEWCOMER.run_weighted(-1000, || ()), Err(Rejected::Full));
            assert_eq!(queued.assert_ready(), Ok(1));
            assert_eq!(NEWCOMER.run_weighted(-1000, || 2), Ok(2));
            let c = ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
            assert_accounted(&c);
        });
        config::clear();
    }

    /// README, "Accounting": "A call whose first poll unwound on its way
    /// into the queue (its waker's `clone` panicked) is still entering:
    /// counted submitted, in no other term until it is polled again (it
    /// queues) or dropped (cancelled)", and "Faults lose nothing: A waker
    /// whose `clone` panics is cloned before any state changes". On the
    /// ceiling's queue, for a priority group's `submit`, `submit_judged` and
    /// never-rejecting `submit_wait` (weights 5, 3, 1), each first polled
    /// with such a waker: the panic leaves the ceiling one call entering and
    /// the group untouched; polled again, each queues by its rank; one
    /// dropped instead is cancelled. At the end both balance.
    #[test]
    fn group_calls_whose_first_poll_panics_entering_the_ceilings_queue_are_counted_once() {
        use std::sync::atomic::AtomicBool;
        use std::task::Context;
        static ARMED: AtomicBool = AtomicBool::new(false);
        common::quiet_planned_panics();
        let _turn = common::config_turn();
        within(BOUND, || {
            let mut q = Queue::new();
            let group_before = PRIO.stats();
            let (l1, l2, l3, l4) = (q.log.clone(), q.log.clone(), q.log.clone(), q.log.clone());
            let mut submit5 = Box::pin(PRIO.submit(5, async move { l1.mark("submit5") }));
            let mut judged3 = Box::pin(PRIO.submit_judged(
                3,
                async move { l2.mark("judged3") },
                |_| pool_runtime::Verdict::Success,
            ));
            let mut dropped = Box::pin(PRIO.submit(0, async move { l3.mark("dropped") }));
            let mut wait1 = Box::pin(PRIO.submit_wait(1, async move { l4.mark("wait1") }));
            let first_poll = |label: &str, poll: &mut dyn FnMut(&mut Context<'_>)| {
                let c0 = ceiling::stats().unwrap();
                ARMED.store(true, Ordering::SeqCst);
                let waker = common::waker_whose_clone_panics_once(&ARMED);
                let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    poll(&mut Context::from_waker(&waker))
                }));
                ARMED.store(false, Ordering::SeqCst);
                assert!(
                    first.is_err(),
                    "{label}: the clone's panic reaches the poller"
                );
                let c1 = ceiling::stats().unwrap();
                assert_eq!(c1.submitted(), c0.submitted() + 1, "{label}: {c1:?}");
                assert_eq!(
                    c1.waiting, c0.waiting,
                    "{label}: entering, not waiting: {c1:?}"
                );
                assert_eq!(c1.cancelled, c0.cancelled, "{label}: {c1:?}");
                let g = PRIO.stats();
                assert_eq!(g.submitted(), group_before.submitted(), "{label}: {g:?}");
            };
            first_poll("submit5", &mut |cx| {
                let _ = submit5.as_mut().poll(cx);
            });
            q.call(async move { submit5.await.unwrap() });
            first_poll("judged3", &mut |cx| {
                let _ = judged3.as_mut().poll(cx);
            });
            q.call(async move { judged3.await.unwrap() });
            first_poll("dropped", &mut |cx| {
                let _ = dropped.as_mut().poll(cx);
            });
            let c0 = ceiling::stats().unwrap();
            drop(dropped);
            let c1 = ceiling::stats().unwrap();
            assert_eq!(c1.cancelled, c0.cancelled + 1, "{c1:?}");
            assert_eq!(c1.submitted(), c0.submitted(), "counted once");
            first_poll("wait1", &mut |cx| {
                let _ = wait1.as_mut().poll(cx);
            });
            q.call(wait1);
            let c = ceiling::stats().unwrap();
            assert_eq!(c.submitted() - c.cancelled - c.completed, 4, "{c:?}");
            let log = q.release(3);
            assert_eq!(log.order(), ["wait1", "judged3", "submit5"]);
            let g = PRIO.stats();
            assert_eq!(g.submitted(), group_before.submitted() + 3, "{g:?}");
            assert_accounted(&g);
        });
        config::clear();
    }

    /// Tries another group when dropped (its `Drop` is the user's code
    /// that may call a group) and records what it got.
    struct TriesOnDrop(Arc<Mutex<Vec<Result<(), Rejected>>>>);

    impl Drop for TriesOnDrop {
        fn drop(&mut self) {
            let outcome = FIFO.try_acquire_owned(0).map(drop);
            self.0.lock().unwrap().push(outcome);
        }
    }

    /// README (the ceiling): "A call dropped or turned away gives its slots
    /// (its group's, the ceiling's, a fleet lease) back before its work,
    /// closure or arguments are dropped, so their `Drop` may call a group."
    /// On the blocking and sync forms (round 28 checked `submit`), under a
    /// ceiling of 1, with the call holding the ceiling's only slot while it
    /// waits for its group's: a blocking call dropped, a blocking call
    /// turned away by its group's `abort`, and a sync call whose group's
    /// admission timeout passes each drop their closure only once the
    /// ceiling slot is free for another group.
    #[test]
    fn a_blocking_or_sync_call_dropped_or_turned_away_frees_its_ceiling_slot_before_its_closure() {
        static BUSY: Group = Group::new(
            GroupSpec::new("acc29::busy")
                .size(1)
                .admission_timeout(Duration::from_millis(300)),
        );
        register_group!(BUSY);
        static BUSY_ABORTED: Group = Group::new(GroupSpec::new("acc29::busy_aborted").size(1));
        register_group!(BUSY_ABORTED);
        let _turn = common::config_turn();
        within(BOUND, || {
            config::load_str("acc29.toml", "ceiling = 1\n").unwrap();
            let seen = Arc::new(Mutex::new(Vec::new()));
            // Each group's only slot taken outside the ceiling (a pool's own
            // permit holds no ceiling slot).
            let local = BUSY.pool().try_acquire_owned(0).unwrap();
            let local_aborted = BUSY_ABORTED.pool().try_acquire_owned(0).unwrap();

            let guard = TriesOnDrop(seen.clone());
            let mut dropped = Task::new(BUSY_ABORTED.submit_blocking(0, move || drop(guard)));
            dropped.assert_pending();
            assert_eq!(ceiling::stats().unwrap().running, 1, "it holds the ceiling");
            drop(dropped);
            assert_eq!(
                *seen.lock().unwrap(),
                [Ok(())],
                "dropped: the ceiling was not free"
            );

            let guard = TriesOnDrop(seen.clone());
            let mut aborted = Task::new(BUSY_ABORTED.submit_blocking(0, move || drop(guard)));
            aborted.assert_pending();
            assert_eq!(ceiling::stats().unwrap().running, 1);
            BUSY_ABORTED.pool().abort();
            assert_eq!(aborted.assert_ready(), Err(Rejected::Closed));
            drop(aborted);
            assert_eq!(
                *seen.lock().unwrap(),
                [Ok(()), Ok(())],
                "turned away: the ceiling was not free"
            );

            let guard = TriesOnDrop(seen.clone());
            assert_eq!(BUSY.run(move || drop(guard)), Err(Rejected::TimedOut));
            assert_eq!(
                *seen.lock().unwrap(),
                [Ok(()), Ok(()), Ok(())],
                "timed out: the ceiling was not free"
            );
            drop((local, local_aborted));
            let c = ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
            assert_accounted(&c);
        });
        config::clear();
    }

    /// The ranking on the paths a group's admission timeout bounds (README:
    /// "a group's ... `admission_timeout` bound[s] its calls' wait for the
    /// ceiling"): a priority group with a long timeout; its sync, async,
    /// permit and blocking calls waiting for the ceiling within it are still
    /// admitted by weight ("Calls waiting for a ceiling slot are admitted by
    /// their weight if their group is a priority group").
    #[test]
    fn calls_of_a_group_with_an_admission_timeout_wait_for_the_ceiling_by_weight() {
        static PATIENT: Group = Group::new(
            GroupSpec::new("acc29::patient")
                .order(Order::Priority)
                .size(8)
                .admission_timeout(Duration::from_secs(120)),
        );
        register_group!(PATIENT);
        let _turn = common::config_turn();
        within(BOUND, || {
            let mut q = Queue::new();
            let log = q.log.clone();
            q.thread(move || {
                PATIENT.run_weighted(40, || log.mark("run40")).unwrap();
            });
            let log = q.log.clone();
            q.call(async move {
                PATIENT
                    .submit_blocking(30, move || log.mark("blocking30"))
                    .await
                    .unwrap();
            });
            let log = q.log.clone();
            q.call(async move {
                let p = PATIENT.acquire_owned(20).await.unwrap();
                log.mark("permit20");
                drop(p);
            });
            let call = submit(&q, &PATIENT, 10, "submit10");
            q.call(call);
            let log = q.log.clone();
            q.thread(move || {
                PATIENT.run_weighted(5, || log.mark("run5")).unwrap();
            });
            let log = q.release(5);
            assert_eq!(
                log.order(),
                ["run5", "submit10", "permit20", "blocking30", "run40"]
            );
            assert_accounted(&PATIENT.stats());
        });
        config::clear();
    }

    /// "if their group is a priority group": the group's order in force, which
    /// configuration may set (a group's `order` key, applied at its first
    /// use). A group declared FIFO that the file makes a priority group ranks
    /// its calls by weight at the ceiling; one declared priority that the
    /// file makes FIFO ranks them as 0, in arrival order.
    #[test]
    fn the_order_configuration_gives_a_group_decides_its_rank_at_the_ceiling() {
        static MADE_PRIO: Group = Group::new(GroupSpec::new("acc29::made_prio").size(8));
        register_group!(MADE_PRIO);
        static MADE_FIFO: Group = Group::new(
            GroupSpec::new("acc29::made_fifo")
                .order(Order::Priority)
                .size(8),
        );
        register_group!(MADE_FIFO);
        let _turn = common::config_turn();
        within(BOUND, || {
            let text = "ceiling = 1\n\n[groups.\"acc29::made_prio\"]\norder = \"priority\"\n\n[groups.\"acc29::made_fifo\"]\norder = \"fifo\"\n";
            let mut q = Queue::with(text);
            assert_eq!(MADE_PRIO.pool().order(), Order::Priority);
            assert_eq!(MADE_FIFO.pool().order(), Order::Fifo);
            for (g, w, label) in [
                (&MADE_PRIO, 5, "prio5"),
                (&MADE_FIFO, -3, "fifo-3"),
                (&MADE_PRIO, 1, "prio1"),
                (&MADE_FIFO, -9, "fifo-9"),
            ] {
                let call = submit(&q, g, w, label);
                q.call(call);
            }
            let log = q.release(4);
            assert_eq!(log.order(), ["fifo-3", "fifo-9", "prio1", "prio5"]);
        });
        config::clear();
    }

    /// README: "nested calls follow the reentrancy rule for the ceiling too
    /// (one at a time under their parent's ceiling slot)", and the rule:
    /// "the others wait, in the queue, for a free slot or for that slot to
    /// come back, whichever comes first". Under a ceiling of 1, a call whose
    /// work joins two nested calls finishes both under its own ceiling slot,
    /// even while an urgent call of a priority group (weight -100, ranked
    /// before the nested call's 0) waits for the ceiling; that one runs only
    /// once the parent has ended. Bodies counted from outside: one at a time.
    #[test]
    fn a_nested_call_takes_its_parents_ceiling_slot_back_before_an_urgent_outsider() {
        let _turn = common::config_turn();
        within(BOUND, || {
            config::load_str("acc29.toml", "ceiling = 1\n").unwrap();
            let log = Log::default();
            let body = |label: &'static str| {
                let log = log.clone();
                async move {
                    log.mark(label);
                    common::yield_now().await;
                }
            };
            let (a, b) = (body("nested-a"), body("nested-b"));
            let mut parent = Task::new(FIFO.submit(0, async move {
                let (a, b) = futures::join!(FIFO.submit(0, a), PRIO.submit(50, b));
                (a, b)
            }));
            parent.assert_pending();
            assert_eq!(ceiling::stats().unwrap().running, 1);
            let urgent_body = body("urgent");
            let mut urgent = Task::new(PRIO.submit(-100, urgent_body));
            urgent.assert_pending();
            let start = std::time::Instant::now();
            let out = loop {
                if let std::task::Poll::Ready(out) = parent.poll() {
                    break out;
                }
                assert!(
                    urgent.poll().is_pending(),
                    "the urgent call ran inside the parent"
                );
                assert!(start.elapsed() < BOUND, "{:?}", log.order());
                std::thread::sleep(Duration::from_millis(1));
            };
            assert_eq!(out, Ok((Ok(()), Ok(()))));
            let mut nested = log.order();
            nested.sort_unstable();
            assert_eq!(nested, ["nested-a", "nested-b"]);
            let start = std::time::Instant::now();
            while urgent.poll().is_pending() {
                assert!(start.elapsed() < BOUND);
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(log.order().len(), 3);
            assert_eq!(
                log.meter.max(),
                1,
                "one body at a time under a ceiling of 1"
            );
            let c = ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
            assert_accounted(&c);
        });
        config::clear();
    }

    /// `GroupSettings::executor`: `ExecutorKind::Rayon` runs the group's
    /// blocking closures on rayon's global pool, and README (rayon): "runs
    /// `submit_blocking` closures on rayon's pool ..., holding their slot";
    /// under the ceiling they are group calls like any other: a priority
    /// group's rayon closures wait for a held ceiling of 1 by weight, one at
    /// a time, each on a rayon thread.
    #[cfg(feature = "rayon")]
    #[test]
    fn a_rayon_groups_blocking_closures_wait_for_the_ceiling_by_weight_on_rayon_threads() {
        static ON_RAYON: Group = Group::new(
            GroupSpec::new("acc29::on_rayon")
                .order(Order::Priority)
                .size(4)
                .executor(pool_runtime::ExecutorKind::Rayon),
        );
        register_group!(ON_RAYON);
        let _turn = common::config_turn();
        within(BOUND, || {
            let mut q = Queue::new();
            let on_rayon = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            for (w, label) in [(30, "r30"), (10, "r10"), (20, "r20")] {
                let (log, on_rayon) = (q.log.clone(), on_rayon.clone());
                q.call(async move {
                    ON_RAYON
                        .submit_blocking(w, move || {
                            if rayon::current_thread_index().is_some() {
                                on_rayon.fetch_add(1, Ordering::SeqCst);
                            }
                            log.mark(label)
                        })
                        .await
                        .unwrap();
                });
            }
            let log = q.release(3);
            assert_eq!(log.order(), ["r10", "r20", "r30"]);
            assert_eq!(on_rayon.load(Ordering::SeqCst), 3, "each on a rayon thread");
        });
        config::clear();
    }

    /// README: "the application-wide ceiling" is "a process-wide cap over all
    /// groups" (`ceiling = 64  # at most 64 calls running across all
    /// groups`), on every call path. Eight threads and a two-worker tokio
    /// runtime make calls of every form (async submit, submit_wait, permits,
    /// sync run and run_wait, blocking calls) on four groups of 8 slots each
    /// under a ceiling of 2, with random weights: never more than 2 bodies
    /// at once, counted from outside, and every call accounted for.
    #[test]
    fn every_call_form_on_four_groups_stays_within_a_ceiling_of_two_under_threads() {
        let _turn = common::config_turn();
        within(Duration::from_secs(120), || {
            config::load_str("acc29.toml", "ceiling = 2\n").unwrap();
            let meter = Meter::default();
            let groups: [&'static Group; 4] = [&HOLD, &PRIO, &FIFO, &LIFO];
            let rt = common::runtime();
            let mut tasks = Vec::new();
            for t in 0..8u64 {
                let meter = meter.clone();
                tasks.push(rt.spawn(async move {
                    let mut seed = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                    for i in 0..40u64 {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        let g = groups[(seed % 4) as usize];
                        let w = (seed >> 8) as i64 % 7 - 3;
                        let m = meter.clone();
                        let body = move || {
                            let _inside = m.enter();
                            std::thread::sleep(Duration::from_micros(300));
                        };
                        match (seed >> 20) % 4 {
                            0 => {
                                g.submit(w, async move { body() }).await.unwrap();
                            }
                            1 => g.submit_wait(w, async move { body() }).await,
                            2 => {
                                let p = g.acquire_owned(w).await.unwrap();
                                body();
                                drop(p);
                            }
                            _ => {
                                g.submit_blocking(w, body).await.unwrap();
                            }
                        }
                        if i % 8 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                }));
            }
            let threads: Vec<_> = (0..4u64)
                .map(|t| {
                    let meter = meter.clone();
                    std::thread::spawn(move || {
                        for i in 0..40u64 {
                            let g = groups[((t + i) % 4) as usize];
                            let m = meter.clone();
                            let body = move || {
                                let _inside = m.enter();
                                std::thread::sleep(Duration::from_micros(300));
                            };
                            if i % 2 == 0 {
                                g.run_weighted((i % 5) as i64 - 2, body).unwrap();
                            } else {
                                g.run_wait((i % 3) as i64, body);
                            }
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            rt.block_on(async {
                for t in tasks {
                    t.await.unwrap();
                }
            });
            assert!(
                meter.max() <= 2,
                "{} bodies at once under a ceiling of 2",
                meter.max()
            );
            assert_eq!(meter.done(), 8 * 40 + 4 * 40);
            let c = ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
            assert_accounted(&c);
            for g in groups {
                let s = g.stats();
                assert_eq!((s.running, s.waiting), (0, 0), "{}: {s:?}", g.name());
                assert_accounted(&s);
            }
        });
        config::clear();
    }

    /// A boxed job that carries its weight.
    #[cfg(feature = "stream")]
    struct Weighted(i64, Pin<Box<dyn Future<Output = ()> + Send>>);

    #[cfg(feature = "stream")]
    impl Future for Weighted {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
            self.1.as_mut().poll(cx)
        }
    }
}

// ---- the ceiling's configuration ------------------------------------------

#[cfg(feature = "config")]
mod ceiling_config {
    use super::*;
    use pool_runtime::config::{self, Effect};
    use pool_runtime::{ceiling, register_group, Group, GroupSpec};

    static CFG: Group = Group::new(GroupSpec::new("acc29::cfg").size(4));
    register_group!(CFG);

    fn ceiling_change(report: &config::Report) -> Option<(String, String, Effect)> {
        report
            .changes
            .iter()
            .find(|c| c.group == "(ceiling)")
            .map(|c| {
                assert_eq!(c.setting, "ceiling", "{c:?}");
                (c.from.clone(), c.to.clone(), c.effect)
            })
    }

    /// `config::Change::group`: "The group's name, or `(ceiling)` for the
    /// application-wide ceiling"; `Report::changes`: "Every setting whose
    /// value changed"; README: reload "applies changed limits to running
    /// pools at once". Setting, raising and lifting the ceiling each report
    /// one applied change with the new value; a load that leaves it as it
    /// was reports none.
    #[test]
    fn reloads_report_each_ceiling_change_as_applied_and_nothing_when_it_stays() {
        let _turn = common::config_turn();
        let r = config::load_str("acc29.toml", "ceiling = 2\n").unwrap();
        let (_, to, effect) = ceiling_change(&r).expect("set: reported");
        assert_eq!((to.as_str(), effect), ("2", Effect::Applied), "{r}");
        assert_eq!(ceiling::limit(), Some(2));
        let r = config::load_str("acc29.toml", "ceiling = 2\n").unwrap();
        assert_eq!(ceiling_change(&r), None, "unchanged: {r}");
        let r = config::load_str("acc29.toml", "ceiling = 5\n").unwrap();
        assert_eq!(
            ceiling_change(&r),
            Some(("2".into(), "5".into(), Effect::Applied)),
            "{r}"
        );
        assert_eq!(ceiling::limit(), Some(5));
        let r = config::clear();
        let (from, _, effect) = ceiling_change(&r).expect("lifted: reported");
        assert_eq!((from.as_str(), effect), ("5", Effect::Applied), "{r}");
        assert_eq!(ceiling::limit(), None);
    }

    /// Config module, "Ceiling": "`N` is from 1 to `MAX_SLOTS`: a ceiling of
    /// 0 ... is a load error"; README: "Loads are all or nothing. Errors name
    /// the file, line and column (or the variable)". A ceiling of 0 or past
    /// `MAX_SLOTS`, in a file or in `POOLED_CEILING`, is refused naming its
    /// place, and the ceiling in force stays as it was; `MAX_SLOTS` itself
    /// is accepted.
    #[test]
    fn a_ceiling_out_of_range_is_refused_at_its_place_and_changes_nothing() {
        let _turn = common::config_turn();
        config::load_str("acc29.toml", "ceiling = 3\n").unwrap();
        let max = pool_runtime::MAX_SLOTS;
        for bad in ["0".to_owned(), (max + 1).to_string(), "-1".to_owned()] {
            let text = format!("[defaults]\nmax_waiting = 10\n\nceiling = {bad}\n");
            // (a top-level key after a table belongs to the table: put it first)
            let text_top = format!("ceiling = {bad}\n[defaults]\nmax_waiting = 10\n");
            let _ = text;
            let err = config::load_str("bad.toml", &text_top).unwrap_err();
            let origin = err.origin().map(|o| o.to_string()).unwrap_or_default();
            assert_eq!(origin, "bad.toml:1:11", "{bad}: {err}");
            assert_eq!(
                ceiling::limit(),
                Some(3),
                "{bad}: a bad load changes nothing"
            );
            let err = config::load_env_from(common::vars(&[("POOLED_CEILING", &bad)])).unwrap_err();
            assert!(err.to_string().contains("POOLED_CEILING"), "{bad}: {err}");
            assert_eq!(
                ceiling::limit(),
                Some(3),
                "{bad}: a bad variable changes nothing"
            );
        }
        config::load_str("acc29.toml", &format!("ceiling = {max}\n")).unwrap();
        assert_eq!(ceiling::limit(), Some(max));
        config::clear();
    }

    /// README: "Errors name the file, line and column"; a byte-order mark
    /// "opening a file is not counted as a column" (config's own fix), and
    /// Windows line ends are line ends: the same mistake is reported at the
    /// same line and column in a file saved with LF, CRLF, or a BOM and
    /// CRLF, from text (`load_str`) and from disk (`load`).
    #[test]
    fn errors_name_the_same_line_and_column_whatever_the_line_ends_and_a_bom() {
        let _turn = common::config_turn();
        let body = ["ceiling = 4", "", "[defaults]", "max_waiting = -1", ""];
        let path =
            std::env::temp_dir().join(format!("pooled-acc29-crlf-{}.toml", std::process::id()));
        for (name, text) in [
            ("lf", body.join("\n")),
            ("crlf", body.join("\r\n")),
            ("bom+crlf", format!("\u{feff}{}", body.join("\r\n"))),
        ] {
            let err = config::load_str("lines.toml", &text).unwrap_err();
            let at = err.origin().map(|o| o.to_string()).unwrap_or_default();
            assert_eq!(at, "lines.toml:4:15", "{name}: {err}");
            std::fs::write(&path, &text).unwrap();
            let err = config::load(&path).unwrap_err();
            let at = err.origin().map(|o| o.to_string()).unwrap_or_default();
            assert_eq!(at, format!("{}:4:15", path.display()), "{name}: {err}");
            assert_eq!(ceiling::limit(), None, "{name}: a bad load changes nothing");
            let ok = text.replace("-1", "7");
            config::load_str("lines.toml", &ok).unwrap();
            assert_eq!(ceiling::limit(), Some(4), "{name}");
            config::clear();
        }
        let _ = std::fs::remove_file(&path);
    }

    static EQUIV: Group = Group::new(GroupSpec::new("acc29::equiv").size(2));
    register_group!(EQUIV);

    /// README, Configuration: "Keys, the same in a file (lower case) and the
    /// environment (upper case): `kind`, `order`, `size`, `min`, `max`,
    /// `max_waiting` and `admission_timeout` ..., `sync_barging` ...,
    /// `autoscale_interval`, `autoscale_window`, `policy`, `executor` ...,
    /// and the adaptive policy's `adaptive_*`" with "single values from the
    /// environment: `POOLED_BILLING__API__CHARGE_MAX=48` (upper-case, `::`
    /// becomes `__`)". Every key given once in a group's file table and once
    /// as variables gives the group the same settings, and each differs from
    /// the declaration's.
    #[test]
    fn every_key_means_the_same_in_a_files_group_table_and_in_the_environment() {
        let _turn = common::config_turn();
        let mut keys: Vec<(&str, &str, &str)> = vec![
            ("kind", "\"autoscale\"", "autoscale"),
            ("order", "\"lifo\"", "lifo"),
            ("min", "2", "2"),
            ("max", "9", "9"),
            ("size", "4", "4"),
            ("max_waiting", "17", "17"),
            ("admission_timeout", "\"1500ms\"", "1500ms"),
            ("sync_barging", "\"2ms\"", "2ms"),
            ("autoscale_interval", "\"3s\"", "3s"),
            ("autoscale_window", "7", "7"),
            ("policy", "\"adaptive\"", "adaptive"),
            ("adaptive_window_samples", "20", "20"),
            ("adaptive_window_time", "\"250ms\"", "250ms"),
            ("adaptive_tolerance", "1.5", "1.5"),
            ("adaptive_smoothing", "0.5", "0.5"),
            ("adaptive_baseline_interval", "\"7s\"", "7s"),
            ("adaptive_backoff", "0.75", "0.75"),
            ("adaptive_drop_tolerance", "0.25", "0.25"),
        ];
        if cfg!(feature = "rayon") {
            keys.push(("executor", "\"rayon\"", "rayon"));
        }
        let declared = EQUIV.settings();
        let mut file = String::from("[groups.\"acc29::equiv\"]\n");
        let mut env = Vec::new();
        for (key, in_file, in_env) in &keys {
            file.push_str(&format!("{key} = {in_file}\n"));
            env.push((
                format!("POOLED_ACC29__EQUIV_{}", key.to_uppercase()),
                (*in_env).to_owned(),
            ));
        }
        config::load_str("equiv.toml", &file).unwrap_or_else(|e| panic!("{e}"));
        let from_file = EQUIV.settings();
        config::clear();
        assert_eq!(
            EQUIV.settings(),
            declared,
            "clear goes back to the declaration"
        );
        config::load_env_from(env).unwrap_or_else(|e| panic!("{e}"));
        let from_env = EQUIV.settings();
        config::clear();
        assert!(!EQUIV.is_started(), "reading settings starts nothing");
        assert_eq!(from_file, from_env);
        assert_ne!(from_file, declared);
        assert_eq!(from_file.kind, Kind::Autoscale);
        assert_eq!(from_file.order, Order::Lifo);
        assert_eq!(from_file.max_waiting, Some(17));
        assert_eq!(
            from_file.admission_timeout,
            Some(Duration::from_millis(1500))
        );
        assert_eq!(from_file.sync_barging, Some(Duration::from_millis(2)));
    }

    static RETIMED: Group = Group::new(
        GroupSpec::new("acc29::retimed")
            .size(1)
            .admission_timeout(Duration::from_secs(60)),
    );
    register_group!(RETIMED);

    /// Config module, "Live reload": "the waiting bound, admission timeout and
    /// sync barging bound ... apply to calls that arrive from then on";
    /// `Pool::set_admission_timeout`: "for calls that start waiting from now
    /// on". A reload that shortens a running group's timeout leaves a call
    /// already waiting with its own (it does not time out), and times out a
    /// call that arrives after it; one that removes the timeout (`"none"`)
    /// leaves a call that waits from then on waiting past the old one.
    #[test]
    fn a_reloaded_admission_timeout_applies_to_calls_that_arrive_after_it() {
        let _turn = common::config_turn();
        within(BOUND, || {
            let held = RETIMED.try_acquire_owned(0).unwrap();
            let early = std::thread::spawn(|| RETIMED.run(|| "early"));
            wait_until("the early call waits", || RETIMED.stats().waiting == 1);
            config::load_str(
                "acc29.toml",
                "[groups.\"acc29::retimed\"]\nadmission_timeout = \"200ms\"\n",
            )
            .unwrap();
            assert_eq!(
                RETIMED.pool().admission_timeout(),
                Some(Duration::from_millis(200))
            );
            assert_eq!(
                RETIMED.run(|| "late"),
                Err(Rejected::TimedOut),
                "arrived after"
            );
            std::thread::sleep(Duration::from_millis(400));
            assert_eq!(
                RETIMED.stats().waiting,
                1,
                "the early call kept its timeout"
            );
            config::load_str(
                "acc29.toml",
                "[groups.\"acc29::retimed\"]\nadmission_timeout = \"none\"\n",
            )
            .unwrap();
            assert_eq!(RETIMED.pool().admission_timeout(), None);
            let later = std::thread::spawn(|| RETIMED.run(|| "later"));
            wait_until("the later call waits", || RETIMED.stats().waiting == 2);
            std::thread::sleep(Duration::from_millis(400));
            assert_eq!(RETIMED.stats().waiting, 2, "no timeout for the later call");
            drop(held);
            assert_eq!(early.join().unwrap(), Ok("early"));
            assert_eq!(later.join().unwrap(), Ok("later"));
            let s = RETIMED.stats();
            assert_eq!(s.rejected_for(Rejected::TimedOut), 1, "{s:?}");
            assert_accounted(&s);
        });
        config::clear();
    }

    /// README, Configuration: "single values from the environment: ...
    /// `POOLED_CEILING=64`", with the precedence "file ... < environment";
    /// `load_env_from` re-reads the variables "keeping the file layer". A
    /// file's ceiling under an environment's: the environment's is in force,
    /// a file reload does not change it (nor reports a change), and removing
    /// the variable brings the file's back.
    #[test]
    fn the_environments_ceiling_beats_the_files_across_reloads() {
        let _turn = common::config_turn();
        config::load_str("acc29.toml", "ceiling = 5\n").unwrap();
        config::load_env_from(common::vars(&[("POOLED_CEILING", "2")])).unwrap();
        assert_eq!(ceiling::limit(), Some(2));
        let r = config::load_str("acc29.toml", "ceiling = 7\n").unwrap();
        assert_eq!(ceiling::limit(), Some(2), "the environment wins");
        assert_eq!(ceiling_change(&r), None, "nothing in force changed: {r}");
        config::load_env_from(Vec::new()).unwrap();
        assert_eq!(ceiling::limit(), Some(7), "the file's comes back");
        config::load_str("acc29.toml", "").unwrap();
        assert_eq!(ceiling::limit(), None);
        config::clear();
    }

    /// `config::watch`: "reloads the file whenever its content changes ...
    /// and hands each reload's report or error to the callback; a wrong file
    /// changes nothing". A watched file's ceiling raised from 1 to 2 admits
    /// a group call waiting for it (no release needed); a wrong ceiling then
    /// comes back as an error naming the file and leaves 2 in force.
    #[test]
    fn a_watched_files_ceiling_is_applied_live_and_a_wrong_one_changes_nothing() {
        let _turn = common::config_turn();
        let path =
            std::env::temp_dir().join(format!("pooled-acc29-watch-{}.toml", std::process::id()));
        std::fs::write(&path, "ceiling = 1\n").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let watch = config::watch(&path, Duration::from_millis(20), move |outcome| {
            let _ = tx.send(outcome.map(|r| r.to_string()).map_err(|e| e.to_string()));
        })
        .unwrap();
        assert_eq!(ceiling::limit(), Some(1));
        let held = CFG.try_acquire_owned(0).unwrap();
        let mut waiter = Task::new(CFG.submit(0, async { 1 }));
        waiter.assert_pending();
        assert_eq!(ceiling::stats().unwrap().waiting, 1);
        // A different length, so the change is seen whatever the clock says.
        std::fs::write(&path, "ceiling = 2   \n").unwrap();
        let report = rx.recv_timeout(BOUND).expect("a reload").expect("valid");
        assert!(report.contains("ceiling"), "{report}");
        assert_eq!(ceiling::limit(), Some(2));
        assert!(waiter.is_woken(), "raising the ceiling admits the waiter");
        assert_eq!(waiter.assert_ready(), Ok(1));
        std::fs::write(&path, "ceiling = 0\n").unwrap();
        let error = rx.recv_timeout(BOUND).expect("a reload").unwrap_err();
        assert!(
            error.starts_with(&format!("{}:1:", path.display())),
            "{error}"
        );
        assert_eq!(ceiling::limit(), Some(2), "a wrong file changes nothing");
        drop(watch);
        drop(held);
        let _ = std::fs::remove_file(&path);
        config::clear();
    }
}

// ---- the tower layer under the ceiling -------------------------------------

#[cfg(all(feature = "config", feature = "tower"))]
mod tower_ceiling {
    use super::*;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::{ceiling, config, register_group, Group, GroupSpec};
    use std::future::poll_fn;
    use std::task::Poll;
    use tower::{service_fn, Layer, Service};

    static HOLDER: Group = Group::new(GroupSpec::new("acc29::tower_holder").size(1));
    register_group!(HOLDER);
    static API: Group = Group::new(
        GroupSpec::new("acc29::tower_api")
            .order(Order::Priority)
            .size(8),
    );
    register_group!(API);

    /// README: the tower layer is "a bulkhead layer over a pool or a group,
    /// reserving its slot in `poll_ready`"; `constant_weight`: "Each call's
    /// weight in a priority pool"; the ceiling: "Calls waiting for a ceiling
    /// slot are admitted by their weight if their group is a priority
    /// group". Two layers over one priority group, weights 7 and 2, whose
    /// reservations wait for a held ceiling of 1 (the 7 first): the 2 gets
    /// the ceiling slot first.
    #[test]
    fn constant_weight_reservations_wait_for_the_ceiling_by_weight() {
        let _turn = common::config_turn();
        within(BOUND, || {
            config::load_str("acc29.toml", "ceiling = 1\n").unwrap();
            let log = Log::default();
            let inner = |label: &'static str| {
                let log = log.clone();
                service_fn(move |()| {
                    log.mark(label);
                    std::future::ready(Ok::<_, BoxError>(()))
                })
            };
            let mut batch = PooledLayer::group(&API)
                .constant_weight(7)
                .layer(inner("batch7"));
            let mut urgent = PooledLayer::group(&API)
                .constant_weight(2)
                .layer(inner("urgent2"));
            let held = HOLDER.try_acquire_owned(0).unwrap();
            let mut batch_ready = Task::new(poll_fn(|cx| batch.poll_ready(cx)));
            batch_ready.assert_pending();
            assert_eq!(ceiling::stats().unwrap().waiting, 1);
            let mut urgent_ready = Task::new(poll_fn(|cx| urgent.poll_ready(cx)));
            urgent_ready.assert_pending();
            assert_eq!(ceiling::stats().unwrap().waiting, 2);
            drop(held);
            assert!(urgent_ready.is_woken(), "the urgent reservation goes first");
            assert!(!batch_ready.is_woken(), "the batch one still waits");
            assert!(matches!(urgent_ready.poll(), Poll::Ready(Ok(()))));
            assert!(batch_ready.poll().is_pending());
            drop(urgent_ready);
            let mut response = Task::new(urgent.call(()));
            assert!(matches!(response.poll(), Poll::Ready(Ok(()))));
            assert!(batch_ready.is_woken());
            assert!(matches!(batch_ready.poll(), Poll::Ready(Ok(()))));
            drop(batch_ready);
            let mut response = Task::new(batch.call(()));
            assert!(matches!(response.poll(), Poll::Ready(Ok(()))));
            assert_eq!(log.order(), ["urgent2", "batch7"]);
            assert_eq!(log.meter.max(), 1);
            let c = ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
            assert_accounted(&c);
        });
        config::clear();
    }

    /// `PooledLayer::weight`: "with a weight function the call waits for its
    /// slot in the response future, in the pool's order"; over a priority
    /// group under a held ceiling of 1, responses wait for the ceiling by
    /// their requests' weights.
    #[test]
    fn weight_fn_responses_wait_for_the_ceiling_by_the_requests_weight() {
        let _turn = common::config_turn();
        within(BOUND, || {
            config::load_str("acc29.toml", "ceiling = 1\n").unwrap();
            let log = Log::default();
            let l = log.clone();
            let inner = service_fn(move |label: &'static str| {
                l.mark(label);
                std::future::ready(Ok::<_, BoxError>(label))
            });
            let mut svc = PooledLayer::group(&API)
                .weight(|label: &&'static str| label[1..].parse::<i64>().unwrap())
                .layer(inner);
            let held = HOLDER.try_acquire_owned(0).unwrap();
            let mut responses = Vec::new();
            for (i, label) in ["w9", "w3", "w6", "w1"].into_iter().enumerate() {
                let mut ready = Task::new(poll_fn(|cx| svc.poll_ready(cx)));
                assert!(matches!(ready.poll(), Poll::Ready(Ok(()))));
                drop(ready);
                let mut response = Task::new(svc.call(label));
                response.assert_pending();
                assert_eq!(ceiling::stats().unwrap().waiting, i + 1);
                responses.push(Some(response));
            }
            drop(held);
            let start = std::time::Instant::now();
            while responses.iter().any(Option::is_some) {
                for slot in &mut responses {
                    if let Some(r) = slot {
                        if let Poll::Ready(out) = r.poll() {
                            out.unwrap();
                            *slot = None;
                        }
                    }
                }
                assert!(start.elapsed() < BOUND, "{:?}", log.order());
            }
            assert_eq!(log.order(), ["w1", "w3", "w6", "w9"]);
            assert_eq!(log.meter.max(), 1);
        });
        config::clear();
    }
}

// ---- the ceiling's metrics ------------------------------------------------

#[cfg(all(feature = "config", feature = "metrics"))]
mod ceiling_metrics {
    use super::*;
    use pool_runtime::{config, register_group, Group, GroupSpec};

    static METERED: Group = Group::new(
        GroupSpec::new("acc29::metered")
            .order(Order::Priority)
            .size(4),
    );
    register_group!(METERED);

    static MP: Group = Group::new(
        GroupSpec::new("acc29::mp")
            .order(Order::Priority)
            .size(4)
            .admission_timeout(Duration::from_millis(250)),
    );
    register_group!(MP);
    static MN: Group = Group::new(GroupSpec::new("acc29::mn").size(4).max_waiting(0));
    register_group!(MN);
    static MQ: Group = Group::new(GroupSpec::new("acc29::mq").order(Order::Lifo).size(4));
    register_group!(MQ);

    /// `observe`, metrics: "The counters count what `Stats` counts, by the
    /// same rules (... `completed` here excludes the panicked calls, which
    /// `Stats` counts in both)", with `pooled.calls{pool, outcome, reason}`;
    /// the ceiling reports as `(ceiling)`. Under a full ceiling, group
    /// calls timed out (sync and async), refused `Full` by a group that
    /// never waits, turned away by a paused group, dropped while they wait
    /// for the ceiling, panicking and completing: for each group and for the
    /// ceiling, every counter equals its `Stats` term, and the gauges are
    /// back to 0 with the limits equal to the sizes.
    #[test]
    fn metrics_count_what_stats_count_for_groups_and_the_ceiling_on_every_outcome() {
        common::in_own_process(
            "ceiling_metrics::metrics_count_what_stats_count_for_groups_and_the_ceiling_on_every_outcome",
            &[],
            || {
                common::quiet_planned_panics();
                let capture: &'static common::Capture = Box::leak(Box::default());
                metrics::set_global_recorder(capture).unwrap();
                config::load_str("acc29.toml", "ceiling = 1\n").unwrap();
                let held = MQ.try_acquire_owned(0).unwrap();
                assert_eq!(
                    futures::executor::block_on(MP.submit(-1, async {})),
                    Err(Rejected::TimedOut)
                );
                assert_eq!(MP.run_weighted(-1, || ()), Err(Rejected::TimedOut));
                assert_eq!(
                    futures::executor::block_on(MN.submit(0, async {})),
                    Err(Rejected::Full)
                );
                assert!(matches!(MN.try_acquire_owned(0), Err(Rejected::Full)));
                MQ.pause();
                assert_eq!(
                    futures::executor::block_on(MQ.submit(0, async {})),
                    Err(Rejected::Paused)
                );
                MQ.resume();
                let mut dropped = Task::new(MQ.submit(0, async {}));
                dropped.assert_pending();
                drop(dropped);
                let mut waiting = Task::new(MP.submit(0, async { 1 }));
                waiting.assert_pending();
                assert_eq!(capture.gauge("pooled.waiting", "(ceiling)"), Some(1.0));
                drop(held);
                assert_eq!(waiting.assert_ready(), Ok(1));
                let panicked = std::panic::catch_unwind(|| {
                    futures::executor::block_on(MP.submit(0, async { panic!("planned: a panicking call") }))
                });
                assert!(panicked.is_err());
                assert_eq!(MN.run(|| 2), Ok(2));
                let pools: [(&str, pool_runtime::Stats); 4] = [
                    ("acc29::mp", MP.stats()),
                    ("acc29::mn", MN.stats()),
                    ("acc29::mq", MQ.stats()),
                    ("(ceiling)", pool_runtime::ceiling::stats().unwrap()),
                ];
                for (name, stats) in pools {
                    assert_accounted(&stats);
                    let got = |outcome, reason| capture.calls(name, outcome, reason);
                    assert_eq!(got("completed", None), stats.completed - stats.panicked, "{name}: {stats:?}");
                    assert_eq!(got("panicked", None), stats.panicked, "{name}: {stats:?}");
                    assert_eq!(got("cancelled", None), stats.cancelled, "{name}: {stats:?}");
                    for (reason, r) in [
                        ("paused", Rejected::Paused),
                        ("closed", Rejected::Closed),
                        ("full", Rejected::Full),
                        ("timed_out", Rejected::TimedOut),
                    ] {
                        assert_eq!(got("rejected", Some(reason)), stats.rejected_for(r), "{name} {reason}: {stats:?}");
                    }
                    assert_eq!(capture.gauge("pooled.running", name), Some(0.0), "{name}");
                    assert_eq!(capture.gauge("pooled.waiting", name), Some(0.0), "{name}");
                    assert_eq!(capture.gauge("pooled.limit", name), Some(stats.size as f64), "{name}");
                }
                let mp = MP.stats();
                assert_eq!((mp.rejected_for(Rejected::TimedOut), mp.panicked), (2, 1), "{mp:?}");
                let ceiling = pool_runtime::ceiling::stats().unwrap();
                assert!(ceiling.cancelled >= 3, "two timed out and one dropped: {ceiling:?}");
            },
        );
    }

    /// `observe`: "Every pool reports under its name (... the
    /// application-wide ceiling as `(ceiling)`)", gauges `pooled.limit` /
    /// `pooled.running` / `pooled.waiting`; "Install the recorder before
    /// pools are built". The ceiling's limit follows its loads, and its
    /// running and waiting gauges count the group calls holding and waiting
    /// for its slots.
    #[test]
    fn the_ceiling_reports_its_limit_running_and_waiting_as_ceiling() {
        common::in_own_process(
            "ceiling_metrics::the_ceiling_reports_its_limit_running_and_waiting_as_ceiling",
            &[],
            || {
                let capture: &'static common::Capture = Box::leak(Box::default());
                metrics::set_global_recorder(capture).unwrap();
                config::load_str("acc29.toml", "ceiling = 1\n").unwrap();
                assert_eq!(capture.gauge("pooled.limit", "(ceiling)"), Some(1.0));
                let held = METERED.try_acquire_owned(0).unwrap();
                let mut waiter = Task::new(METERED.submit(3, async {}));
                waiter.assert_pending();
                assert_eq!(capture.gauge("pooled.running", "(ceiling)"), Some(1.0));
                assert_eq!(capture.gauge("pooled.waiting", "(ceiling)"), Some(1.0));
                config::load_str("acc29.toml", "ceiling = 4\n").unwrap();
                assert_eq!(capture.gauge("pooled.limit", "(ceiling)"), Some(4.0));
                assert_eq!(waiter.assert_ready(), Ok(()));
                drop(held);
                assert_eq!(capture.gauge("pooled.running", "(ceiling)"), Some(0.0));
                assert_eq!(capture.gauge("pooled.waiting", "(ceiling)"), Some(0.0));
            },
        );
    }
}

// ---- the ceiling's tracing events -------------------------------------------

#[cfg(all(feature = "config", feature = "tracing"))]
mod ceiling_tracing {
    use super::*;
    use pool_runtime::{config, register_group, Group, GroupSpec};
    use std::collections::BTreeMap;
    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::Layer;

    type Fields = BTreeMap<String, String>;

    #[derive(Clone, Default)]
    struct Events(Arc<Mutex<Vec<(tracing::Level, Fields)>>>);

    struct Text<'a>(&'a mut Fields);

    impl Visit for Text<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    impl<S: tracing::Subscriber> Layer<S> for Events {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            if event.metadata().target() != "pooled" {
                return;
            }
            let mut fields = Fields::new();
            event.record(&mut Text(&mut fields));
            self.0
                .lock()
                .unwrap()
                .push((*event.metadata().level(), fields));
        }
    }

    static TRACED: Group = Group::new(GroupSpec::new("acc29::traced").size(2).max_waiting(0));
    register_group!(TRACED);

    /// README, tracing: "limit changes (old → new, and why: scale, resize,
    /// bounds, reload, autoscale, adaptive) ... are events"; `observe`:
    /// event `limit changed` at INFO with `pool`, `from`, `to`, `cause`, and
    /// the ceiling reports as `(ceiling)`; event `call rejected` with
    /// `pool` and `reason`. A reload raising the ceiling from 1 to 3 is a
    /// `limit changed` event of `(ceiling)` from 1 to 3 for `reload`, and a
    /// call its never-waiting group turns away at a full ceiling is a `call
    /// rejected` event of the group, reason `full`.
    #[test]
    fn the_ceilings_reloads_and_its_turned_away_calls_are_events() {
        common::in_own_process(
            "ceiling_tracing::the_ceilings_reloads_and_its_turned_away_calls_are_events",
            &[],
            || {
                let events = Events::default();
                let subscriber = tracing_subscriber::registry().with(events.clone());
                tracing::subscriber::set_global_default(subscriber).unwrap();
                config::load_str("acc29.toml", "ceiling = 1\n").unwrap();
                let held = TRACED.try_acquire_owned(0).unwrap();
                assert!(matches!(TRACED.try_acquire_owned(0), Err(Rejected::Full)));
                config::load_str("acc29.toml", "ceiling = 3\n").unwrap();
                drop(held);
                let seen = events.0.lock().unwrap().clone();
                let raised = seen.iter().find(|(_, f)| {
                    f.get("message").map(String::as_str) == Some("limit changed")
                        && f.get("pool").map(String::as_str) == Some("(ceiling)")
                        && f.get("to").map(String::as_str) == Some("3")
                });
                let (level, fields) =
                    raised.unwrap_or_else(|| panic!("no ceiling change: {seen:?}"));
                assert_eq!(*level, tracing::Level::INFO, "{fields:?}");
                assert_eq!(
                    fields.get("from").map(String::as_str),
                    Some("1"),
                    "{fields:?}"
                );
                assert_eq!(
                    fields.get("cause").map(String::as_str),
                    Some("reload"),
                    "{fields:?}"
                );
                let rejected = seen.iter().find(|(_, f)| {
                    f.get("message").map(String::as_str) == Some("call rejected")
                        && f.get("pool").map(String::as_str) == Some("acc29::traced")
                });
                let (level, fields) = rejected.unwrap_or_else(|| panic!("no rejection: {seen:?}"));
                assert_eq!(*level, tracing::Level::DEBUG, "{fields:?}");
                assert_eq!(
                    fields.get("reason").map(String::as_str),
                    Some("full"),
                    "{fields:?}"
                );
            },
        );
    }
}
