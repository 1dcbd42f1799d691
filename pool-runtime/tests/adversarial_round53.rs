//! Adversarial round 53: the permit futures (`Acquiring`, `AcquiringOwned`,
//! `GroupAcquiring`, `GroupAcquiringOwned`) of commit 566a2a8, without an
//! application-wide ceiling (the ceiling has a binary of its own,
//! `adversarial_round53_ceiling.rs`). Counted from outside the library:
//! the limit, one answer per call, nothing lost on cancellation at any
//! poll (wakers that panic included), no hang of a retry loop, accounting.

#![cfg(feature = "tokio")]

mod common;

use common::{
    assert_accounted, on_one_thread, panicking_waker, quiet_planned_panics, retry,
    waker_whose_clone_panics_once, waker_whose_drop_panics, within, Meter, Task,
};
use pool_runtime::{
    AdaptiveSettings, Group, GroupSettings, GroupSpec, Kind, ManualClock, Order, Pool, Rejected,
    ScalePolicy, Verdict,
};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(20);

fn fixed(size: usize) -> Pool {
    Pool::builder().size(size).build().unwrap()
}

fn ordered(size: usize, order: Order) -> Pool {
    Pool::builder().size(size).order(order).build().unwrap()
}

fn poll_with<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    std::pin::Pin::new(fut).poll(&mut Context::from_waker(waker))
}

// ---- the retry-loop hang guard -------------------------------------------

/// `loop { if pool.acquire().await.is_ok() { break } }` on a paused pool,
/// on a current-thread runtime: the resumer must get to run. Would catch:
/// a rejection answered `Ready` on every poll without spending the tokio
/// coop budget (the loop spins for good; the watchdog fails the test).
#[test]
fn a_pool_acquire_retry_loop_on_a_paused_pool_lets_the_resumer_run() {
    let pool = fixed(1);
    pool.pause();
    let inner = pool.clone();
    let rejected = on_one_thread(async move {
        let resumer = {
            let pool = inner.clone();
            tokio::spawn(async move { pool.resume() })
        };
        let rejected = retry(Rejected::Paused, || inner.acquire()).await;
        resumer.await.unwrap();
        rejected
    });
    assert!(rejected > 0);
    let stats = pool.stats();
    assert_eq!(stats.rejected_for(Rejected::Paused), rejected, "{stats:?}");
    assert_eq!(stats.completed, 1, "{stats:?}");
    assert_accounted(&stats);
}

/// The same with `acquire_weighted` (weights MIN and MAX) and
/// `acquire_owned`.
#[test]
fn weighted_and_owned_retry_loops_on_a_paused_pool_let_the_resumer_run() {
    for weight in [i64::MIN, i64::MAX] {
        let pool = ordered(1, Order::Priority);
        pool.pause();
        let inner = pool.clone();
        let (weighted, owned) = on_one_thread(async move {
            let resumer = {
                let pool = inner.clone();
                tokio::spawn(async move { pool.resume() })
            };
            let weighted = retry(Rejected::Paused, || inner.acquire_weighted(weight)).await;
            resumer.await.unwrap();
            inner.pause();
            let resumer = {
                let pool = inner.clone();
                tokio::spawn(async move { pool.resume() })
            };
            let owned = retry(Rejected::Paused, || inner.acquire_owned(weight)).await;
            resumer.await.unwrap();
            (weighted, owned)
        });
        assert!(weighted > 0 && owned > 0);
        let stats = pool.stats();
        assert_eq!(
            stats.rejected_for(Rejected::Paused),
            weighted + owned,
            "{stats:?}"
        );
        assert_eq!(stats.completed, 2, "{stats:?}");
        assert_accounted(&stats);
    }
}

static RETRY_GROUP: Group = Group::new(GroupSpec::new("round53-retry-group").size(1));
static RETRY_OWNED: Group = Group::new(GroupSpec::new("round53-retry-owned").size(1));

/// `Group::acquire` and `Group::acquire_owned` (the plain path: no
/// ceiling) of a paused group, retried in a loop that never waits.
#[test]
fn group_permit_retry_loops_on_a_paused_group_let_the_resumer_run() {
    let (permits, owned) = on_one_thread(async {
        RETRY_GROUP.pause();
        let resumer = tokio::spawn(async { RETRY_GROUP.resume() });
        let permits = retry(Rejected::Paused, || RETRY_GROUP.acquire(0)).await;
        resumer.await.unwrap();
        RETRY_OWNED.pause();
        let resumer = tokio::spawn(async { RETRY_OWNED.resume() });
        let owned = retry(Rejected::Paused, || RETRY_OWNED.acquire_owned(0)).await;
        resumer.await.unwrap();
        (permits, owned)
    });
    assert!(permits > 0 && owned > 0);
    for (group, rejected) in [(&RETRY_GROUP, permits), (&RETRY_OWNED, owned)] {
        let stats = group.stats();
        assert_eq!(stats.rejected_for(Rejected::Paused), rejected, "{stats:?}");
        assert_eq!(stats.completed, 1, "{stats:?}");
        assert_accounted(&stats);
    }
}

/// A closed pool never lets a permit in: a loop that retries until another
/// task of the same current-thread runtime has run must end. Would catch:
/// `Closed` answered outside the coop budget.
#[test]
fn a_permit_loop_on_a_closed_pool_lets_other_tasks_run() {
    let pool = fixed(2);
    pool.close();
    let inner = pool.clone();
    let turned_away = on_one_thread(async move {
        let ran = Arc::new(AtomicBool::new(false));
        let other = {
            let ran = ran.clone();
            tokio::spawn(async move { ran.store(true, Ordering::SeqCst) })
        };
        let mut turned_away = 0u64;
        while !ran.load(Ordering::SeqCst) {
            let answer = if turned_away % 2 == 0 {
                inner.acquire().await.map(drop)
            } else {
                inner.acquire_owned(1).await.map(drop)
            };
            assert_eq!(answer, Err(Rejected::Closed));
            turned_away += 1;
        }
        other.await.unwrap();
        turned_away
    });
    let stats = pool.stats();
    assert_eq!(
        stats.rejected_for(Rejected::Closed),
        turned_away,
        "{stats:?}"
    );
    assert_accounted(&stats);
}

// ---- cancellation at every poll ------------------------------------------

/// `tokio::time::timeout(Duration::ZERO, acquire)`: the inner future is
/// polled once, so every attempt is one call, answered either by a permit
/// (a free slot) or by the timeout (then cancelled). Counted from outside:
/// every call accounted, the limit never exceeded, under contention from
/// 16 tasks on two workers.
#[test]
fn zero_timeouts_around_every_permit_future_account_every_call() {
    static GROUP: Group = Group::new(GroupSpec::new("round53-zero-timeouts").size(2));
    let pool = fixed(2);
    let meter = Meter::default();
    let group_meter = Meter::default();
    let admitted = Arc::new(AtomicUsize::new(0));
    let elapsed = Arc::new(AtomicUsize::new(0));
    let group_admitted = Arc::new(AtomicUsize::new(0));
    let group_elapsed = Arc::new(AtomicUsize::new(0));
    let rt = common::runtime();
    let run = {
        let (pool, meter, group_meter) = (pool.clone(), meter.clone(), group_meter.clone());
        let (admitted, elapsed) = (admitted.clone(), elapsed.clone());
        let (group_admitted, group_elapsed) = (group_admitted.clone(), group_elapsed.clone());
        async move {
            let mut tasks = Vec::new();
            for i in 0..16u64 {
                let (pool, meter, group_meter) = (pool.clone(), meter.clone(), group_meter.clone());
                let (admitted, elapsed) = (admitted.clone(), elapsed.clone());
                let (group_admitted, group_elapsed) =
                    (group_admitted.clone(), group_elapsed.clone());
                tasks.push(tokio::spawn(async move {
                    for round in 0..60u64 {
                        let wait = if (i + round) % 3 == 0 {
                            Duration::ZERO
                        } else {
                            Duration::from_micros(200)
                        };
                        let (meter, ok, late) = if i % 2 == 0 {
                            (&meter, &admitted, &elapsed)
                        } else {
                            (&group_meter, &group_admitted, &group_elapsed)
                        };
                        let answer = match i % 4 {
                            0 => tokio::time::timeout(wait, pool.acquire())
                                .await
                                .map(|p| p.map(|p| Box::new(p) as Box<dyn Send + '_>)),
                            1 => tokio::time::timeout(wait, GROUP.acquire(0))
                                .await
                                .map(|p| p.map(|p| Box::new(p) as Box<dyn Send + '_>)),
                            2 => tokio::time::timeout(wait, pool.acquire_owned(0))
                                .await
                                .map(|p| p.map(|p| Box::new(p) as Box<dyn Send + '_>)),
                            _ => tokio::time::timeout(wait, GROUP.acquire_owned(0))
                                .await
                                .map(|p| p.map(|p| Box::new(p) as Box<dyn Send + '_>)),
                        };
                        match answer {
                            Ok(permit) => {
                                let permit = permit.expect("an open pool without bounds");
                                ok.fetch_add(1, Ordering::SeqCst);
                                let inside = meter.enter();
                                tokio::task::yield_now().await;
                                drop(inside);
                                drop(permit);
                            }
                            Err(_) => {
                                late.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
        }
    };
    within(Duration::from_secs(30), move || rt.block_on(run));
    assert!(meter.max() <= 2, "pool: {} at once", meter.max());
    assert!(
        group_meter.max() <= 2,
        "group: {} at once",
        group_meter.max()
    );
    for (stats, ok, late) in [
        (pool.stats(), &admitted, &elapsed),
        (GROUP.stats(), &group_admitted, &group_elapsed),
    ] {
        let (ok, late) = (
            ok.load(Ordering::SeqCst) as u64,
            late.load(Ordering::SeqCst) as u64,
        );
        assert_eq!(stats.submitted(), 8 * 60, "{stats:?}");
        assert_eq!(ok + late, 8 * 60);
        assert_eq!(stats.completed, ok, "{stats:?}");
        assert_eq!(stats.cancelled, late, "{stats:?}");
        assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
        assert_accounted(&stats);
    }
}

/// Inside `tokio::select!` against a branch that is ready at once (biased
/// towards the permit), on a full pool: the permit future is polled once,
/// queued, and dropped; every such call is cancelled, none lingers in the
/// queue, and the slot is then free for the next caller.
#[test]
fn a_permit_future_losing_a_select_leaves_the_queue() {
    static GROUP: Group = Group::new(GroupSpec::new("round53-select").size(1));
    let pool = fixed(1);
    let inner = pool.clone();
    on_one_thread(async move {
        let held = inner.try_acquire_owned(0).unwrap();
        let group_held = GROUP.try_acquire(0).unwrap();
        for round in 0..40 {
            let lost = match round % 4 {
                0 => {
                    tokio::select! { biased; _ = inner.acquire() => false, () = std::future::ready(()) => true }
                }
                1 => {
                    tokio::select! { biased; _ = inner.acquire_owned(3) => false, () = std::future::ready(()) => true }
                }
                2 => {
                    tokio::select! { biased; _ = GROUP.acquire(0) => false, () = std::future::ready(()) => true }
                }
                _ => {
                    tokio::select! { biased; _ = GROUP.acquire_owned(0) => false, () = std::future::ready(()) => true }
                }
            };
            assert!(lost, "round {round}: a full pool handed out a permit");
        }
        drop(held);
        drop(group_held);
        drop(inner.acquire().await.expect("the slot is free"));
        drop(GROUP.acquire(0).await.expect("the slot is free"));
    });
    for stats in [pool.stats(), GROUP.stats()] {
        assert_eq!(stats.cancelled, 20, "{stats:?}");
        assert_eq!(stats.completed, 2, "{stats:?}");
        assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
        assert_accounted(&stats);
    }
}

/// Never polled: a permit future dropped before its first poll is no call
/// at all (nothing counted, no slot taken), for every form.
#[test]
fn permit_futures_dropped_before_their_first_poll_count_nothing() {
    static GROUP: Group = Group::new(GroupSpec::new("round53-unpolled").size(1));
    let pool = fixed(1);
    for _ in 0..10 {
        drop(pool.acquire());
        drop(pool.acquire_weighted(i64::MAX));
        drop(pool.acquire_owned(i64::MIN));
        drop(GROUP.acquire(0));
        drop(GROUP.acquire_owned(0));
    }
    for stats in [pool.stats(), GROUP.stats()] {
        assert_eq!(stats.submitted(), 0, "{stats:?}");
        assert_accounted(&stats);
    }
    drop(pool.try_acquire().expect("no slot taken"));
    drop(GROUP.try_acquire(0).expect("no slot taken"));
}

/// A group permit future (plain path) handed the slot and dropped before
/// its next poll: the slot goes on to the next waiter; the same for the
/// owned form. Would catch: `GroupAcquiring`'s plain arm dropping the
/// `Acquiring` without its slot passing on.
#[test]
fn a_group_permit_future_handed_the_slot_and_dropped_passes_it_on() {
    static GROUP: Group = Group::new(GroupSpec::new("round53-handed").size(1));
    for owned in [false, true] {
        let before = GROUP.stats();
        let holder = GROUP.try_acquire(0).unwrap();
        let mut handed: Task<std::pin::Pin<Box<dyn Future<Output = bool> + Send>>> =
            Task::new(if owned {
                Box::pin(async { GROUP.acquire_owned(0).await.is_ok() })
            } else {
                Box::pin(async { GROUP.acquire(0).await.is_ok() })
            });
        let mut next = Task::new(GROUP.acquire(0));
        handed.assert_pending();
        next.assert_pending();
        drop(holder);
        assert!(handed.is_woken(), "the first waiter is handed the slot");
        assert!(!next.is_woken());
        drop(handed);
        assert!(next.is_woken(), "the slot passed on");
        drop(next.assert_ready().expect("the slot"));
        let stats = GROUP.stats();
        assert_eq!(stats.completed - before.completed, 2, "{stats:?}");
        assert_eq!(stats.cancelled - before.cancelled, 1, "{stats:?}");
        assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
        assert_accounted(&stats);
    }
}

// ---- wakers that panic ---------------------------------------------------

static CLONE_ARMED: AtomicBool = AtomicBool::new(false);
static DROP_ARMED: AtomicBool = AtomicBool::new(false);

/// A waker whose `clone` panics, given to a permit future that must queue:
/// the poll unwinds; dropping the future then must leave no call waiting
/// and no slot taken. Would catch: a call queued before the waker's clone
/// and left in the queue (a ghost waiter that takes the next freed slot).
#[test]
fn a_permit_future_whose_waker_clone_panics_loses_nothing() {
    quiet_planned_panics();
    for form in 0..3 {
        let pool = fixed(1);
        let holder = pool.try_acquire_owned(0).unwrap();
        CLONE_ARMED.store(true, Ordering::SeqCst);
        let waker = waker_whose_clone_panics_once(&CLONE_ARMED);
        let polled = catch_unwind(AssertUnwindSafe(|| match form {
            0 => poll_with(&mut Box::pin(pool.acquire()), &waker).is_pending(),
            1 => poll_with(&mut Box::pin(pool.acquire_weighted(5)), &waker).is_pending(),
            _ => poll_with(&mut Box::pin(pool.acquire_owned(5)), &waker).is_pending(),
        }));
        CLONE_ARMED.store(false, Ordering::SeqCst);
        // Whether the clone's panic reached the caller or was caught, the
        // future was dropped.
        let _ = polled;
        drop(holder);
        let stats = pool.stats();
        assert_eq!(
            (stats.running, stats.waiting),
            (0, 0),
            "form {form}: {stats:?}"
        );
        assert_accounted(&stats);
        drop(
            pool.try_acquire()
                .expect("the freed slot is free, not a ghost's"),
        );
        assert_accounted(&pool.stats());
    }
}

/// A queued permit future whose (stored) waker panics when dropped: the
/// release that wakes it may unwind, but the slot is the future's on its
/// next poll (or, dropped, the pool's).
#[test]
fn a_queued_permit_future_whose_waker_drop_panics_loses_nothing() {
    quiet_planned_panics();
    for repoll in [true, false] {
        let pool = fixed(1);
        let holder = pool.try_acquire().unwrap();
        let waker = waker_whose_drop_panics(&DROP_ARMED);
        let mut waiting = Box::pin(pool.acquire_owned(0));
        assert!(poll_with(&mut waiting, &waker).is_pending());
        DROP_ARMED.store(true, Ordering::SeqCst);
        let _ = catch_unwind(AssertUnwindSafe(|| drop(holder)));
        DROP_ARMED.store(false, Ordering::SeqCst);
        drop(waker);
        let stats = pool.stats();
        assert_eq!(stats.completed, 1, "the holder was counted: {stats:?}");
        if repoll {
            match poll_with(&mut waiting, Waker::noop()) {
                Poll::Ready(permit) => drop(permit.expect("the slot was handed over")),
                Poll::Pending => panic!("the slot was lost with the panicking waker"),
            }
        }
        drop(waiting);
        drop(pool.try_acquire().expect("the slot came back"));
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
        assert_accounted(&stats);
    }
}

/// A panicking `wake` for a group permit future (plain path) woken by the
/// release of a group permit.
#[test]
fn a_group_permit_future_whose_waker_wake_panics_gets_the_slot() {
    static GROUP: Group = Group::new(GroupSpec::new("round53-panicking-wake").size(1));
    quiet_planned_panics();
    let holder = GROUP.try_acquire_owned(0).unwrap();
    let waker = panicking_waker();
    let mut waiting = Box::pin(GROUP.acquire(0));
    assert!(poll_with(&mut waiting, &waker).is_pending());
    let _ = catch_unwind(AssertUnwindSafe(|| drop(holder)));
    match poll_with(&mut waiting, Waker::noop()) {
        Poll::Ready(permit) => drop(permit.expect("the slot was handed over")),
        Poll::Pending => panic!("the slot was lost with the panicking waker"),
    }
    drop(waiting);
    let stats = GROUP.stats();
    assert_eq!(
        (stats.completed, stats.running, stats.waiting),
        (2, 0, 0),
        "{stats:?}"
    );
    assert_accounted(&stats);
}

// ---- the permit's end ----------------------------------------------------

/// A permit dropped while its thread unwinds is counted panicked (Permit
/// docs), for every form, on the thread it was moved to too; its slot
/// comes back.
#[test]
fn permits_dropped_while_unwinding_are_counted_panicked_wherever_they_went() {
    static GROUP: Group = Group::new(GroupSpec::new("round53-unwinding").size(2));
    quiet_planned_panics();
    let pool = fixed(2);
    let body = |f: &dyn Fn()| catch_unwind(AssertUnwindSafe(f)).is_err();
    assert!(body(&|| {
        let _p = futures::executor::block_on(pool.acquire()).unwrap();
        panic!("planned: the work under a permit");
    }));
    assert!(body(&|| {
        let _p = futures::executor::block_on(GROUP.acquire(0)).unwrap();
        panic!("planned: the work under a group permit");
    }));
    let owned = futures::executor::block_on(pool.acquire_owned(0)).unwrap();
    let group_owned = futures::executor::block_on(GROUP.acquire_owned(0)).unwrap();
    let worker = std::thread::spawn(move || {
        let _p = owned;
        let _q = group_owned;
        panic!("planned: the work under owned permits, on another thread");
    });
    assert!(worker.join().is_err());
    for stats in [pool.stats(), GROUP.stats()] {
        assert_eq!((stats.completed, stats.panicked), (2, 2), "{stats:?}");
        assert_eq!(stats.running, 0, "{stats:?}");
        assert_accounted(&stats);
    }
    let both = (pool.try_acquire().unwrap(), pool.try_acquire().unwrap());
    drop(both);
}

/// Permits moved across tasks and threads, dropped there, under contention:
/// the limit holds counted from outside, and every permit handed out is
/// counted completed.
#[test]
fn owned_permits_moved_to_other_threads_keep_the_limit() {
    let pool = fixed(3);
    let meter = Meter::default();
    let rt = common::runtime();
    let run = {
        let (pool, meter) = (pool.clone(), meter.clone());
        async move {
            let mut tasks = Vec::new();
            for i in 0..12 {
                let (pool, meter) = (pool.clone(), meter.clone());
                tasks.push(tokio::spawn(async move {
                    for _ in 0..20 {
                        let permit = pool.acquire_owned(i).await.unwrap();
                        let meter = meter.clone();
                        if i % 2 == 0 {
                            std::thread::spawn(move || {
                                let _inside = meter.enter();
                                std::thread::yield_now();
                                drop(_inside);
                                drop(permit);
                            })
                            .join()
                            .unwrap();
                        } else {
                            tokio::spawn(async move {
                                let inside = meter.enter();
                                tokio::task::yield_now().await;
                                drop(inside);
                                drop(permit);
                            })
                            .await
                            .unwrap();
                        }
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
        }
    };
    within(Duration::from_secs(30), move || rt.block_on(run));
    assert!(meter.max() <= 3, "{} at once", meter.max());
    let stats = pool.stats();
    assert_eq!(stats.completed, 12 * 20, "{stats:?}");
    assert_eq!(meter.done() as u64, stats.completed);
    assert_accounted(&stats);
}

/// `set_verdict(Overload)` on permits admitted by the new futures cuts an
/// adaptive pool's limit; `Success` does not. (The verdict travels with the
/// permit `Acquiring` built.)
#[test]
fn overload_verdicts_on_awaited_permits_cut_an_adaptive_limit() {
    let run = |overload: bool| {
        let clock = ManualClock::new();
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .min(1)
            .max(64)
            .size(16)
            .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT))
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let mut sizes = vec![pool.size()];
        for round in 0..30 {
            let size = pool.size();
            let mut permits: Vec<_> = (0..size)
                .map(|i| {
                    let weight = (i + round) as i64 % 2;
                    futures::executor::block_on(pool.acquire_weighted(weight)).unwrap()
                })
                .collect();
            clock.advance(Duration::from_millis(20));
            for permit in permits.iter_mut().take(if overload { 2 } else { 0 }) {
                permit.set_verdict(Verdict::Overload);
            }
            drop(permits);
            sizes.push(pool.size());
        }
        assert_accounted(&pool.stats());
        sizes
    };
    let calm = run(false);
    assert!(
        calm.windows(2).all(|p| p[1] >= p[0]),
        "success verdicts cut the limit: {calm:?}"
    );
    let cut = run(true);
    assert!(
        cut.windows(2).any(|p| p[1] < p[0]),
        "overload verdicts never cut the limit: {cut:?}"
    );
}

// ---- reentrancy -----------------------------------------------------------

/// A permit taken inside the work of a call of the same pool borrows that
/// call's slot (Pool::acquire docs): on a pool of one, it is admitted at
/// once, for every form; the pool never counts two running.
#[test]
fn a_permit_inside_submit_work_borrows_the_slot() {
    static GROUP: Group = Group::new(GroupSpec::new("round53-nested").size(1));
    let pool = fixed(1);
    let inner = pool.clone();
    let meter = Meter::default();
    let outside = meter.clone();
    within(BOUND, move || {
        futures::executor::block_on(async {
            inner
                .submit(async {
                    let _a = inner.acquire().await.expect("borrowed");
                    let _m = outside.enter();
                    assert_eq!(inner.stats().running, 1, "{:?}", inner.stats());
                })
                .await
                .unwrap();
            inner
                .submit(async {
                    let _a = inner.acquire_owned(0).await.expect("borrowed");
                })
                .await
                .unwrap();
            GROUP
                .submit(0, async {
                    let _a = GROUP.acquire(0).await.expect("borrowed");
                    assert_eq!(GROUP.stats().running, 1, "{:?}", GROUP.stats());
                })
                .await
                .unwrap();
            GROUP
                .submit(0, async {
                    let _a = GROUP.acquire_owned(0).await.expect("borrowed");
                })
                .await
                .unwrap();
        })
    });
    assert_eq!(meter.max(), 1);
    for stats in [pool.stats(), GROUP.stats()] {
        assert_eq!(
            (stats.completed, stats.running, stats.nested),
            (4, 0, 0),
            "{stats:?}"
        );
        assert_accounted(&stats);
    }
}

/// A permit is a guard, not a frame (Permit docs): holding the last slot,
/// a second permit future of the same pool waits, and times out under an
/// admission timeout, counted `TimedOut`.
#[test]
fn a_permit_future_made_while_holding_the_last_permit_waits_and_times_out() {
    let pool = fixed(1);
    pool.set_admission_timeout(Some(Duration::from_millis(20)));
    let inner = pool.clone();
    let rt = common::runtime();
    let answers = within(BOUND, move || {
        rt.block_on(async move {
            let held = inner.acquire().await.unwrap();
            let a = inner.acquire().await.map(drop);
            let b = inner.acquire_owned(0).await.map(drop);
            drop(held);
            (a, b)
        })
    });
    assert_eq!(answers, (Err(Rejected::TimedOut), Err(Rejected::TimedOut)));
    let stats = pool.stats();
    assert_eq!(stats.rejected_for(Rejected::TimedOut), 2, "{stats:?}");
    assert_accounted(&stats);
}

// ---- bounds, order, sizes -------------------------------------------------

/// `max_waiting`: with the queue full the permit future is turned away
/// `Full` on its first poll; with room, it waits.
#[test]
fn max_waiting_bounds_waiting_permit_futures() {
    let pool = fixed(1);
    pool.set_max_waiting(Some(1)).unwrap();
    let holder = pool.try_acquire().unwrap();
    let mut queued = Task::new(pool.acquire_owned(0));
    queued.assert_pending();
    let mut full = Task::new(pool.acquire());
    assert_eq!(full.assert_ready().err(), Some(Rejected::Full));
    let mut full_owned = Task::new(pool.acquire_owned(0));
    assert_eq!(full_owned.assert_ready().err(), Some(Rejected::Full));
    drop(holder);
    assert!(queued.is_woken());
    drop(queued.assert_ready().expect("the queued permit is let in"));
    pool.set_max_waiting(Some(0)).unwrap();
    let holder = pool.try_acquire().unwrap();
    let mut none = Task::new(pool.acquire_weighted(3));
    assert_eq!(none.assert_ready().err(), Some(Rejected::Full));
    drop(holder);
    let stats = pool.stats();
    assert_eq!(stats.rejected_for(Rejected::Full), 3, "{stats:?}");
    assert_eq!(
        (stats.completed, stats.running, stats.waiting),
        (3, 0, 0),
        "{stats:?}"
    );
    assert_accounted(&stats);
}

/// Priority order among waiting permit futures with the extreme weights:
/// `i64::MIN` first, `i64::MAX` last, whatever the arrival order.
#[test]
fn priority_order_of_permit_futures_with_extreme_weights() {
    let pool = ordered(1, Order::Priority);
    let holder = pool.try_acquire().unwrap();
    let mut max = Task::new(pool.acquire_weighted(i64::MAX));
    let mut zero = Task::new(pool.acquire_owned(0));
    let mut min = Task::new(pool.acquire_weighted(i64::MIN));
    max.assert_pending();
    zero.assert_pending();
    min.assert_pending();
    drop(holder);
    assert!(min.is_woken() && !zero.is_woken() && !max.is_woken());
    max.assert_pending();
    zero.assert_pending();
    let p = min.assert_ready().unwrap();
    drop(p);
    assert!(zero.is_woken() && !max.is_woken());
    max.assert_pending();
    let p = zero.assert_ready().unwrap();
    drop(p);
    assert!(max.is_woken());
    drop(max.assert_ready().unwrap());
    let stats = pool.stats();
    assert_eq!(
        (stats.completed, stats.running, stats.waiting),
        (4, 0, 0),
        "{stats:?}"
    );
    assert_accounted(&stats);
}

/// LIFO: the permit future queued last is let in first; a cancelled one in
/// the middle is skipped.
#[test]
fn lifo_order_of_permit_futures_skips_a_cancelled_one() {
    let pool = ordered(1, Order::Lifo);
    let holder = pool.try_acquire().unwrap();
    let mut first = Task::new(pool.acquire());
    let mut middle = Task::new(pool.acquire_owned(0));
    let mut last = Task::new(pool.acquire());
    first.assert_pending();
    middle.assert_pending();
    last.assert_pending();
    drop(holder);
    assert!(last.is_woken() && !first.is_woken());
    let p = last.assert_ready().unwrap();
    drop(middle);
    drop(p);
    assert!(first.is_woken(), "the cancelled middle one is skipped");
    drop(first.assert_ready().unwrap());
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.cancelled), (3, 1), "{stats:?}");
    assert_accounted(&stats);
}

/// A pool resized to 0: permit futures wait (never admitted, none over the
/// limit); resized to 1, exactly one is let in at a time.
#[test]
fn permit_futures_of_a_pool_resized_to_zero_wait_then_go_one_at_a_time() {
    let pool = fixed(1);
    pool.resize(0);
    let mut a = Task::new(pool.acquire());
    let mut b = Task::new(pool.acquire_owned(i64::MAX));
    a.assert_pending();
    b.assert_pending();
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
    pool.resize(1);
    assert!(a.is_woken(), "the first waiter is let in by the resize");
    let p = a.assert_ready().unwrap();
    b.assert_pending();
    assert_eq!(pool.stats().running, 1);
    drop(p);
    drop(b.assert_ready().unwrap());
    let stats = pool.stats();
    assert_eq!(
        (stats.completed, stats.running, stats.waiting),
        (2, 0, 0),
        "{stats:?}"
    );
    assert_accounted(&stats);
}

/// Pausing a pool while permit futures wait: they stay queued (or are
/// turned away as `Paused`), and resuming lets them in; closing turns the
/// waiting ones away `Closed` rather than leaving them pending for good.
#[test]
fn closing_a_pool_answers_its_waiting_permit_futures() {
    let pool = fixed(1);
    let holder = pool.try_acquire().unwrap();
    let mut a = Task::new(pool.acquire());
    let mut b = Task::new(pool.acquire_owned(0));
    a.assert_pending();
    b.assert_pending();
    pool.close();
    let answers = (a.poll().map(|r| r.map(drop)), b.poll().map(|r| r.map(drop)));
    // A waiter either gets an answer now, or is woken and answered when
    // the holder lets go.
    drop(holder);
    let a = match answers.0 {
        Poll::Ready(r) => r,
        Poll::Pending => a.assert_ready().map(drop),
    };
    let b = match answers.1 {
        Poll::Ready(r) => r,
        Poll::Pending => b.assert_ready().map(drop),
    };
    for r in [a, b] {
        assert!(matches!(r, Ok(()) | Err(Rejected::Closed)), "{r:?}");
    }
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
    assert_accounted(&stats);
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Closed));
}

/// `pin!`-ed on the stack and polled through a `&mut`: the answer comes
/// once; polling again panics and leaves the accounting alone (the same as
/// the boxed case in permit_futures.rs, for the group's owned form).
#[test]
fn a_group_owned_permit_future_polled_after_its_answer_panics() {
    static GROUP: Group =
        Group::new(GroupSpec::new("round53-again").with_settings(GroupSettings::DEFAULT.size(1)));
    quiet_planned_panics();
    let mut fut = pin!(GROUP.acquire_owned(0));
    let mut cx = Context::from_waker(Waker::noop());
    let permit = match fut.as_mut().poll(&mut cx) {
        Poll::Ready(p) => p.unwrap(),
        Poll::Pending => panic!("a free slot"),
    };
    let again = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx).is_ready()));
    assert!(again.is_err(), "a second answer from one call");
    drop(permit);
    let stats = GROUP.stats();
    assert_eq!((stats.submitted(), stats.completed), (1, 1), "{stats:?}");
    assert_accounted(&stats);
}

/// `abort` turns waiting permit futures away with `Closed` at once (woken),
/// leaving the running permit alone; the permit's later drop is counted.
#[test]
fn abort_answers_waiting_permit_futures_closed_and_leaves_the_holder() {
    static GROUP: Group = Group::new(GroupSpec::new("round53-abort").size(1));
    let pool = fixed(1);
    let holder = pool.try_acquire().unwrap();
    let mut a = Task::new(pool.acquire());
    let mut b = Task::new(pool.acquire_owned(i64::MIN));
    a.assert_pending();
    b.assert_pending();
    pool.abort();
    assert!(a.is_woken() && b.is_woken(), "waiters woken by the abort");
    assert_eq!(a.assert_ready().err(), Some(Rejected::Closed));
    assert_eq!(b.assert_ready().err(), Some(Rejected::Closed));
    assert_eq!(pool.stats().running, 1);
    drop(holder);
    let stats = pool.stats();
    assert_eq!(stats.rejected_for(Rejected::Closed), 2, "{stats:?}");
    assert_eq!(
        (stats.completed, stats.running, stats.waiting),
        (1, 0, 0),
        "{stats:?}"
    );
    assert_accounted(&stats);

    let holder = GROUP.try_acquire(0).unwrap();
    let mut g = Task::new(GROUP.acquire_owned(0));
    g.assert_pending();
    GROUP.pool().abort();
    assert!(g.is_woken());
    assert_eq!(g.assert_ready().err(), Some(Rejected::Closed));
    drop(holder);
    assert_accounted(&GROUP.stats());
}

/// A waiting `AcquiringOwned` outlives every `Pool` handle: the holder's
/// drop still hands it the slot (the future owns the pool).
#[test]
fn an_owned_permit_future_outliving_every_pool_handle_is_still_let_in() {
    let pool = fixed(1);
    let holder = pool.try_acquire_owned(0).unwrap();
    let mut waiting = Task::new(pool.acquire_owned(0));
    waiting.assert_pending();
    drop(pool);
    drop(holder);
    assert!(waiting.is_woken());
    let permit = waiting.assert_ready().expect("the slot");
    drop(permit);
}

/// An admission timeout on permit futures driven by
/// `futures::executor::block_on` (no tokio runtime around): answered
/// `TimedOut`, not a hang or a panic for want of a timer.
#[test]
fn an_admission_timeout_under_futures_block_on_answers_timed_out() {
    let pool = fixed(1);
    pool.set_admission_timeout(Some(Duration::from_millis(20)));
    let inner = pool.clone();
    let answers = within(BOUND, move || {
        let held = inner.try_acquire().unwrap();
        let a = futures::executor::block_on(inner.acquire()).map(drop);
        let b = futures::executor::block_on(inner.acquire_owned(0)).map(drop);
        drop(held);
        (a, b)
    });
    assert_eq!(answers, (Err(Rejected::TimedOut), Err(Rejected::TimedOut)));
    let stats = pool.stats();
    assert_eq!(stats.rejected_for(Rejected::TimedOut), 2, "{stats:?}");
    assert_accounted(&stats);
}

/// The reentrancy rule: nested calls "belong to admitted work": a paused
/// pool does not turn them away. A permit future made inside the work of a
/// call of a pool (or group) paused meanwhile is let in under the call's
/// slot.
#[test]
fn a_permit_nested_in_work_of_a_pool_paused_meanwhile_is_let_in() {
    static GROUP: Group = Group::new(GroupSpec::new("round53-nested-paused").size(1));
    let pool = fixed(1);
    let inner = pool.clone();
    let answers = within(BOUND, move || {
        futures::executor::block_on(async {
            let a = inner
                .submit(async {
                    inner.pause();
                    inner.acquire().await.map(drop)
                })
                .await;
            let b = GROUP
                .submit(0, async {
                    GROUP.pause();
                    GROUP.acquire_owned(0).await.map(drop)
                })
                .await;
            (a, b)
        })
    });
    assert_eq!(answers, (Ok(Ok(())), Ok(Ok(()))));
    pool.resume();
    GROUP.resume();
    for stats in [pool.stats(), GROUP.stats()] {
        assert_eq!(stats.rejected_total(), 0, "{stats:?}");
        assert_accounted(&stats);
    }
}

/// The reentrancy rule: "a nested call that outlives its parent (a future
/// returned out of the work ...) keeps the slot busy until it ends, and
/// releases it then". An owned permit taken (by `acquire_owned`) inside a
/// call's work and returned out of it keeps the pool of one full until it
/// is dropped; then the slot is free and every call is accounted.
#[test]
fn a_nested_owned_permit_returned_out_of_its_work_keeps_the_slot_until_dropped() {
    static GROUP: Group = Group::new(GroupSpec::new("round53-outlives").size(1));
    let pool = fixed(1);
    let inner = pool.clone();
    let (permit, group_permit) = within(BOUND, move || {
        futures::executor::block_on(async {
            let permit = inner
                .submit(async { inner.acquire_owned(0).await.expect("borrowed") })
                .await
                .unwrap();
            let group_permit = GROUP
                .submit(0, async { GROUP.acquire_owned(0).await.expect("borrowed") })
                .await
                .unwrap();
            (permit, group_permit)
        })
    });
    assert_eq!(
        pool.try_acquire().err(),
        Some(Rejected::Full),
        "{:?}",
        pool.stats()
    );
    assert_eq!(
        GROUP.try_acquire(0).err(),
        Some(Rejected::Full),
        "{:?}",
        GROUP.stats()
    );
    let mut waiting = Task::new(pool.acquire());
    waiting.assert_pending();
    drop(permit);
    assert!(
        waiting.is_woken(),
        "the slot is released when the permit ends"
    );
    drop(waiting.assert_ready().unwrap());
    drop(group_permit);
    drop(GROUP.try_acquire(0).expect("the slot is released"));
    for stats in [pool.stats(), GROUP.stats()] {
        assert_eq!(
            (stats.running, stats.nested, stats.waiting),
            (0, 0, 0),
            "{stats:?}"
        );
        assert_accounted(&stats);
    }
}

/// OwnedPermit docs: "a *sync* call the same work then makes while the
/// permit holds the parent's slot panics naming the fix ... even if the
/// permit went to another thread". The permit comes from `acquire_owned`
/// awaited inside sync work.
#[test]
fn a_sync_call_while_a_nested_owned_permit_holds_the_parents_slot_panics() {
    quiet_planned_panics();
    let pool = fixed(1);
    let inner = pool.clone();
    let outcome = within(BOUND, move || {
        inner
            .run(|| {
                let permit = futures::executor::block_on(inner.acquire_owned(0)).unwrap();
                let keeper = std::thread::spawn(move || permit);
                let permit = keeper.join().unwrap();
                let sync = catch_unwind(AssertUnwindSafe(|| inner.run(|| ())));
                drop(permit);
                let after = inner.run(|| ());
                (sync.is_err(), after)
            })
            .unwrap()
    });
    assert_eq!(
        outcome,
        (true, Ok(())),
        "the sync call panics, and after the drop is let in"
    );
    let stats = pool.stats();
    assert_eq!(
        (stats.running, stats.nested, stats.waiting),
        (0, 0, 0),
        "{stats:?}"
    );
    assert_accounted(&stats);
}

static REPOLL_ARMED: AtomicBool = AtomicBool::new(false);

/// A queued permit future re-polled with another waker whose `clone`
/// panics (the re-registration unwinds): whether the holder lets go before
/// or after the future is dropped, the slot is not lost, and a third
/// waiter gets it. Would catch: a waiter left registered with no live
/// owner, or a hand-off to a future that unwound and was dropped.
#[test]
fn a_queued_permit_future_repolled_with_a_waker_whose_clone_panics_loses_nothing() {
    quiet_planned_panics();
    for (owned, release_first) in [(false, false), (false, true), (true, false), (true, true)] {
        let pool = fixed(1);
        let holder = pool.try_acquire_owned(0).unwrap();
        let mut fut: std::pin::Pin<Box<dyn Future<Output = bool> + Send>> = if owned {
            let pool = pool.clone();
            Box::pin(async move { pool.acquire_owned(0).await.is_ok() })
        } else {
            let pool = pool.clone();
            Box::pin(async move { pool.acquire().await.is_ok() })
        };
        let mut third = Task::new(pool.acquire_owned(0));
        assert!(poll_with(&mut fut, Waker::noop()).is_pending());
        third.assert_pending();
        REPOLL_ARMED.store(true, Ordering::SeqCst);
        let waker = waker_whose_clone_panics_once(&REPOLL_ARMED);
        let repolled = catch_unwind(AssertUnwindSafe(|| poll_with(&mut fut, &waker)));
        REPOLL_ARMED.store(false, Ordering::SeqCst);
        let _ = repolled;
        if release_first {
            drop(holder);
            drop(fut);
        } else {
            drop(fut);
            drop(holder);
        }
        assert!(
            third.is_woken(),
            "owned {owned}, release first {release_first}"
        );
        drop(
            third
                .assert_ready()
                .expect("the slot reached the third waiter"),
        );
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
        assert_accounted(&stats);
        drop(pool.try_acquire().expect("the slot is free"));
    }
}
