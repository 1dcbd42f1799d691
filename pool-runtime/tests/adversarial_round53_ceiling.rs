//! Adversarial round 53, the group permit futures (`GroupAcquiring`,
//! `GroupAcquiringOwned`) under an application-wide ceiling: set, raised,
//! lowered and lifted around them (before the call, between the call and
//! its first poll, while it waits, while it holds). The ceiling is
//! process-wide: the tests of this binary take turns.

#![cfg(all(feature = "tokio", feature = "config"))]

mod common;

use common::{
    assert_accounted, in_own_process, on_one_thread, quiet_planned_panics, retry,
    waker_whose_clone_panics_once, within, Meter, Task,
};
use pool_runtime::Order;
use pool_runtime::{Group, GroupSettings, GroupSpec, Rejected};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(20);

/// This test's turn, with the ceiling set to `limit`.
fn ceiling(limit: usize) -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    let turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    set_ceiling(Some(limit));
    turn
}

fn set_ceiling(limit: Option<usize>) {
    match limit {
        Some(limit) => {
            pool_runtime::config::load_str("round53.toml", &format!("ceiling = {limit}")).unwrap();
        }
        None => {
            pool_runtime::config::clear();
        }
    }
    assert_eq!(pool_runtime::ceiling::limit(), limit);
}

fn ceiling_stats() -> pool_runtime::Stats {
    pool_runtime::ceiling::stats().expect("a ceiling is set")
}

const fn group(name: &'static str, settings: GroupSettings) -> Group {
    Group::new(GroupSpec::new(name).with_settings(settings))
}

/// README: "a group call built before the load and first polled after it
/// is not gated". A `Group::acquire` future built without a ceiling, first
/// polled once a ceiling of 1 is full, is let in, holding no ceiling slot;
/// the ceiling never counts it.
#[test]
fn a_group_permit_future_built_before_the_ceiling_is_not_gated_by_it() {
    static BEFORE: Group = group("round53c-before", GroupSettings::DEFAULT.size(2));
    static FULL: Group = group("round53c-before-holder", GroupSettings::DEFAULT.size(2));
    let turn = ceiling(1);
    set_ceiling(None);
    let mut built = Task::new(BEFORE.acquire(0));
    let mut built_owned = Task::new(BEFORE.acquire_owned(0));
    set_ceiling(Some(1));
    let holder = FULL.try_acquire(0).expect("the ceiling's slot");
    let before = ceiling_stats();
    let a = built.assert_ready().expect("not gated");
    let b = built_owned.assert_ready().expect("not gated");
    let after = ceiling_stats();
    assert_eq!(after.submitted(), before.submitted(), "{after:?}");
    assert_eq!(after.running, 1, "only the holder: {after:?}");
    // Built now, gated: turned away or waiting, not let in past the holder.
    let mut gated = Task::new(BEFORE.acquire(0));
    gated.assert_pending();
    drop((a, b, holder));
    assert!(gated.is_woken());
    drop(gated.assert_ready().expect("the ceiling's slot"));
    let c = ceiling_stats();
    assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
    assert_accounted(&c);
    assert_accounted(&BEFORE.stats());
    drop(turn);
}

/// A `Group::acquire` future built under a full ceiling (the gated path),
/// the ceiling lifted before its first poll: it is let in (the gated path
/// re-checks the ceiling at first poll). Set again, the ceiling has no slot
/// taken by it: a new group permit gets in at once.
#[test]
fn a_gated_group_permit_future_whose_ceiling_is_lifted_before_its_first_poll_is_let_in() {
    static LIFTED: Group = group("round53c-lifted", GroupSettings::DEFAULT.size(4));
    let turn = ceiling(1);
    let holder = LIFTED.try_acquire_owned(0).expect("the ceiling's slot");
    let mut gated = Task::new(LIFTED.acquire(0));
    let mut gated_owned = Task::new(LIFTED.acquire_owned(0));
    set_ceiling(None);
    let a = gated.assert_ready().expect("no ceiling any more");
    let b = gated_owned.assert_ready().expect("no ceiling any more");
    assert_eq!(LIFTED.stats().running, 3);
    drop((a, b, holder));
    set_ceiling(Some(1));
    let c = ceiling_stats();
    assert_eq!(
        (c.running, c.waiting),
        (0, 0),
        "no ceiling slot leaked: {c:?}"
    );
    assert_accounted(&c);
    let again = LIFTED.try_acquire(0).expect("the ceiling's slot is free");
    drop(again);
    let g = LIFTED.stats();
    assert_eq!((g.completed, g.running, g.waiting), (4, 0, 0), "{g:?}");
    assert_accounted(&g);
    drop(turn);
}

/// The ceiling lifted while group permit futures wait for it: they are let
/// through (README), answered without another release. Once everything is
/// dropped and the ceiling set again, nothing of theirs is counted running
/// by the ceiling and the ceiling admits up to its limit, no more.
#[test]
fn group_permit_futures_waiting_for_a_lifted_ceiling_are_let_through_and_leak_nothing() {
    static WAITERS: Group = group("round53c-waiters", GroupSettings::DEFAULT.size(8));
    let turn = ceiling(1);
    let holder = WAITERS.try_acquire(0).expect("the ceiling's slot");
    let mut a = Task::new(WAITERS.acquire(0));
    let mut b = Task::new(WAITERS.acquire_owned(0));
    a.assert_pending();
    b.assert_pending();
    assert_eq!(ceiling_stats().waiting, 2);
    set_ceiling(None);
    assert!(a.is_woken() && b.is_woken(), "waiters woken by the lift");
    let pa = a.assert_ready().expect("let through");
    let pb = b.assert_ready().expect("let through");
    drop((pa, pb, holder));
    set_ceiling(Some(2));
    let c = ceiling_stats();
    assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
    assert_accounted(&c);
    let x = WAITERS.try_acquire(0).unwrap();
    let y = WAITERS.try_acquire(0).unwrap();
    assert_eq!(
        WAITERS.try_acquire(0).err(),
        Some(Rejected::Full),
        "the ceiling is 2"
    );
    drop((x, y));
    assert_accounted(&WAITERS.stats());
    drop(turn);
}

/// The ceiling raised while group permit futures wait: exactly as many are
/// let in as the new limit leaves room for; lowered while they hold, none
/// is let in until the running ones are below the new limit.
#[test]
fn a_ceiling_raised_and_lowered_around_waiting_group_permits_keeps_the_limit() {
    static LEFT: Group = group("round53c-left", GroupSettings::DEFAULT.size(8));
    static RIGHT: Group = group("round53c-right", GroupSettings::DEFAULT.size(8));
    let turn = ceiling(1);
    let holder = LEFT.try_acquire_owned(0).unwrap();
    let mut waiters: Vec<Task<pool_runtime::GroupAcquiringOwned<'static>>> = (0..4)
        .map(|i| Task::new(if i % 2 == 0 { &LEFT } else { &RIGHT }.acquire_owned(0)))
        .collect();
    for w in &mut waiters {
        w.assert_pending();
    }
    set_ceiling(Some(3));
    let mut held = vec![holder];
    let mut still = Vec::new();
    for mut w in waiters {
        match w.poll() {
            std::task::Poll::Ready(p) => held.push(p.expect("let in by the raise")),
            std::task::Poll::Pending => still.push(w),
        }
    }
    assert_eq!(held.len(), 3, "a ceiling of 3 lets 2 more in");
    assert_eq!(still.len(), 2);
    assert_eq!(ceiling_stats().running, 3);
    // Lowered to 1 with 3 running: the waiters stay out until 0 run.
    set_ceiling(Some(1));
    while held.len() > 1 {
        drop(held.pop());
        for w in &mut still {
            w.assert_pending();
        }
        assert!(ceiling_stats().running >= 1);
    }
    drop(held.pop());
    // The freed ceiling slot goes to the first waiter, then (dropped) on to
    // the second: one at a time.
    let mut first = still.remove(0);
    let mut second = still.remove(0);
    assert!(first.is_woken() && !second.is_woken());
    second.assert_pending();
    let p = first
        .assert_ready()
        .expect("a freed ceiling lets a waiter in");
    assert_eq!(ceiling_stats().running, 1);
    drop(p);
    assert!(second.is_woken());
    drop(second.assert_ready().expect("the slot passed on"));
    let c = ceiling_stats();
    assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
    assert_accounted(&c);
    assert_accounted(&LEFT.stats());
    assert_accounted(&RIGHT.stats());
    drop(turn);
}

/// A paused group under a full ceiling: its permit futures are turned away
/// `Paused` on their first poll, before the ceiling (README), counted by the
/// group, not by the ceiling; the same for a closed group pool (`Closed`).
#[test]
fn a_paused_or_closed_group_turns_permits_away_before_a_full_ceiling() {
    static PAUSED: Group = group("round53c-paused", GroupSettings::DEFAULT.size(1));
    static CLOSED: Group = group("round53c-closed", GroupSettings::DEFAULT.size(1));
    static HOLDER: Group = group("round53c-paused-holder", GroupSettings::DEFAULT.size(1));
    let turn = ceiling(1);
    let holder = HOLDER.try_acquire(0).unwrap();
    PAUSED.pause();
    CLOSED.pool().close();
    let before = ceiling_stats();
    for (group, reason) in [(&PAUSED, Rejected::Paused), (&CLOSED, Rejected::Closed)] {
        let mut a = Task::new(group.acquire(0));
        let mut b = Task::new(group.acquire_owned(0));
        assert_eq!(a.assert_ready().err(), Some(reason));
        assert_eq!(b.assert_ready().err(), Some(reason));
        let g = group.stats();
        assert_eq!(g.rejected_for(reason), 2, "{g:?}");
        assert_accounted(&g);
    }
    let after = ceiling_stats();
    assert_eq!(after.submitted(), before.submitted(), "{after:?}");
    PAUSED.resume();
    drop(holder);
    drop(turn);
}

/// A group that may not queue (`max_waiting = 0`) met by a full ceiling:
/// its permit futures are turned away `Full`, counted by the group; with an
/// admission timeout, a group's permit future waiting for the ceiling is
/// turned away `TimedOut` in bounded time.
#[test]
fn a_full_ceiling_bounds_group_permit_futures_by_their_group_patience() {
    static IMPATIENT: Group = group(
        "round53c-impatient",
        GroupSettings::DEFAULT.size(2).max_waiting(0),
    );
    static TIMED: Group = group(
        "round53c-timed",
        GroupSettings::DEFAULT
            .size(2)
            .admission_timeout(Duration::from_millis(30)),
    );
    static HOLDER: Group = group("round53c-patience-holder", GroupSettings::DEFAULT.size(1));
    let turn = ceiling(1);
    let holder = HOLDER.try_acquire(0).unwrap();
    let mut a = Task::new(IMPATIENT.acquire(0));
    let mut b = Task::new(IMPATIENT.acquire_owned(0));
    assert_eq!(a.assert_ready().err(), Some(Rejected::Full));
    assert_eq!(b.assert_ready().err(), Some(Rejected::Full));
    let g = IMPATIENT.stats();
    assert_eq!(g.rejected_for(Rejected::Full), 2, "{g:?}");
    assert_accounted(&g);
    let answers = within(BOUND, || {
        common::runtime().block_on(async {
            (
                TIMED.acquire(0).await.map(drop),
                TIMED.acquire_owned(0).await.map(drop),
            )
        })
    });
    assert_eq!(answers, (Err(Rejected::TimedOut), Err(Rejected::TimedOut)));
    let g = TIMED.stats();
    assert_eq!(g.rejected_for(Rejected::TimedOut), 2, "{g:?}");
    assert_accounted(&g);
    drop(holder);
    let c = ceiling_stats();
    assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
    assert_accounted(&c);
    drop(turn);
}

/// Cancellation at each stage of the gated path: dropped while waiting for
/// the ceiling (the ceiling counts it cancelled, the group nothing), dropped
/// while holding its ceiling slot and waiting for its group's slot (both
/// count it cancelled, the ceiling slot comes back), handed the ceiling
/// slot and dropped before its next poll (the slot passes on).
#[test]
fn a_gated_group_permit_future_dropped_at_each_stage_gives_its_slots_back() {
    static STAGES: Group = group("round53c-stages", GroupSettings::DEFAULT.size(1));
    static OTHER: Group = group("round53c-stages-other", GroupSettings::DEFAULT.size(4));
    let turn = ceiling(2);
    // Stage 1: waiting for the ceiling.
    let h1 = OTHER.try_acquire(0).unwrap();
    let h2 = OTHER.try_acquire(0).unwrap();
    let c0 = ceiling_stats();
    let mut waiting = Task::new(STAGES.acquire(0));
    waiting.assert_pending();
    assert_eq!(ceiling_stats().waiting, 1);
    drop(waiting);
    let c1 = ceiling_stats();
    assert_eq!(c1.cancelled - c0.cancelled, 1, "{c1:?}");
    assert_eq!(c1.waiting, 0, "{c1:?}");
    assert_eq!(STAGES.stats().submitted(), 0, "{:?}", STAGES.stats());
    // Stage 3: handed the ceiling slot, dropped before its next poll.
    let mut handed = Task::new(STAGES.acquire_owned(0));
    let mut next = Task::new(OTHER.acquire(0));
    handed.assert_pending();
    next.assert_pending();
    drop(h1);
    assert!(handed.is_woken());
    drop(handed);
    assert!(next.is_woken(), "the ceiling slot passed on");
    let n = next.assert_ready().expect("the ceiling slot");
    drop(n);
    // Stage 2: ceiling slot held, group slot waited for.
    let group_holder = STAGES.try_acquire(0).unwrap(); // ceiling: h2 + this
    drop(h2);
    let mut queued = Task::new(STAGES.acquire(0));
    queued.assert_pending();
    let c2 = ceiling_stats();
    assert_eq!(
        c2.running, 2,
        "the queued one holds its ceiling slot: {c2:?}"
    );
    assert_eq!(STAGES.stats().waiting, 1);
    drop(queued);
    let c3 = ceiling_stats();
    assert_eq!(c3.running, 1, "its ceiling slot came back: {c3:?}");
    assert_eq!(c3.cancelled - c2.cancelled, 1, "{c3:?}");
    drop(group_holder);
    let (c, g) = (ceiling_stats(), STAGES.stats());
    assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
    assert_eq!((g.running, g.waiting, g.cancelled), (0, 0, 1), "{g:?}");
    assert_accounted(&c);
    assert_accounted(&g);
    assert_accounted(&OTHER.stats());
    drop(turn);
}

/// A permit taken inside the work of a group call under a ceiling of 1:
/// of the same group, it borrows the call's slot; of another group, it runs
/// under the parent's ceiling slot (README: nested calls follow the
/// reentrancy rule for the ceiling too). Either way, no hang.
#[test]
fn group_permits_nested_in_group_work_under_a_ceiling_of_one_do_not_hang() {
    static OUTER: Group = group("round53c-outer", GroupSettings::DEFAULT.size(1));
    static INNER: Group = group("round53c-inner", GroupSettings::DEFAULT.size(1));
    let turn = ceiling(1);
    within(BOUND, || {
        futures::executor::block_on(async {
            OUTER
                .submit(0, async {
                    let same = OUTER.acquire(0).await.expect("the call's slot");
                    // One nested call at a time under the parent's ceiling
                    // slot: another group's permit waits while `same` holds it.
                    let mut other = std::pin::pin!(INNER.acquire_owned(0));
                    assert!(futures::poll!(other.as_mut()).is_pending());
                    assert_eq!(ceiling_stats().running, 1, "{:?}", ceiling_stats());
                    drop(same);
                    let other = other.await.expect("under the ceiling slot");
                    assert_eq!(ceiling_stats().running, 1, "{:?}", ceiling_stats());
                    drop(other);
                    let other = INNER.acquire(0).await.expect("under the ceiling slot");
                    drop(other);
                })
                .await
                .unwrap();
        })
    });
    let c = ceiling_stats();
    assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
    assert_accounted(&c);
    assert_accounted(&OUTER.stats());
    assert_accounted(&INNER.stats());
    drop(turn);
}

/// `Group::acquire` of a group that may not queue, met by a full ceiling
/// (held by permits of another group that a spawned task drops), retried in
/// a loop that never waits on a current-thread runtime: the releaser must
/// get to run. Would catch: the gated path's `Full` answered outside the
/// coop budget.
#[test]
fn a_group_permit_retry_loop_against_a_full_ceiling_lets_the_releaser_run() {
    static IMPATIENT: Group = group(
        "round53c-retry-impatient",
        GroupSettings::DEFAULT.size(4).max_waiting(0),
    );
    static HOLDERS: Group = group("round53c-retry-holders", GroupSettings::DEFAULT.size(4));
    let turn = ceiling(2);
    let (permits, owned) = on_one_thread(async {
        let held = (
            HOLDERS.try_acquire(0).unwrap(),
            HOLDERS.try_acquire(0).unwrap(),
        );
        let releaser = tokio::spawn(async move { drop(held) });
        let permits = retry(Rejected::Full, || IMPATIENT.acquire(0)).await;
        releaser.await.unwrap();
        let held = (
            HOLDERS.try_acquire(0).unwrap(),
            HOLDERS.try_acquire(0).unwrap(),
        );
        let releaser = tokio::spawn(async move { drop(held) });
        let owned = retry(Rejected::Full, || IMPATIENT.acquire_owned(0)).await;
        releaser.await.unwrap();
        (permits, owned)
    });
    assert!(permits > 0 && owned > 0);
    let g = IMPATIENT.stats();
    assert_eq!(g.rejected_for(Rejected::Full), permits + owned, "{g:?}");
    assert_accounted(&g);
    drop(turn);
}

/// Permits of three groups under a ceiling of 2, on two workers, every
/// fourth wait abandoned in a `select!`: counted from outside, never more
/// than 2 held at once across the groups; the ceiling and every group
/// account every call.
#[test]
fn permits_of_several_groups_under_one_ceiling_keep_it_counted_from_outside() {
    static A: Group = group("round53c-many-a", GroupSettings::DEFAULT.size(2));
    static B: Group = group("round53c-many-b", GroupSettings::DEFAULT.size(2));
    static C: Group = group("round53c-many-c", GroupSettings::DEFAULT.size(2));
    let turn = ceiling(2);
    let meter = Meter::default();
    let inside = meter.clone();
    let rt = common::runtime();
    let (ok, abandoned) = within(Duration::from_secs(30), move || {
        rt.block_on(async move {
            let mut tasks = Vec::new();
            for i in 0..12usize {
                let meter = inside.clone();
                tasks.push(tokio::spawn(async move {
                    let (mut ok, mut abandoned) = (0u64, 0u64);
                    for round in 0..30usize {
                        let group: &'static Group = [&A, &B, &C][(i + round) % 3];
                        let abandon = (i + round) % 4 == 3;
                        let permit: Option<Result<Box<dyn Send>, Rejected>> = if abandon {
                            tokio::select! {
                                biased;
                                p = group.acquire(0) => Some(p.map(|p| Box::new(p) as Box<dyn Send>)),
                                () = tokio::task::yield_now() => None,
                            }
                        } else if round % 2 == 0 {
                            Some(group.acquire(0).await.map(|p| Box::new(p) as Box<dyn Send>))
                        } else {
                            Some(group.acquire_owned(0).await.map(|p| Box::new(p) as Box<dyn Send>))
                        };
                        match permit {
                            Some(p) => {
                                let p = p.expect("open groups without bounds");
                                let entered = meter.enter();
                                tokio::task::yield_now().await;
                                drop(entered);
                                drop(p);
                                ok += 1;
                            }
                            None => abandoned += 1,
                        }
                    }
                    (ok, abandoned)
                }));
            }
            let mut totals = (0, 0);
            for task in tasks {
                let (ok, abandoned) = task.await.unwrap();
                totals.0 += ok;
                totals.1 += abandoned;
            }
            totals
        })
    });
    assert!(
        meter.max() <= 2,
        "{} permits held at once under a ceiling of 2",
        meter.max()
    );
    assert!(ok > 0, "some permit was let in");
    let _ = abandoned;
    let c = ceiling_stats();
    assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
    assert_accounted(&c);
    for g in [&A, &B, &C] {
        let s = g.stats();
        assert_eq!(
            (s.running, s.waiting, s.rejected_total()),
            (0, 0, 0),
            "{s:?}"
        );
        assert_accounted(&s);
    }
    drop(turn);
}

/// README: "Calls waiting for a ceiling slot are admitted by their weight if
/// their group is a priority group (smaller first) ..., else as weight 0, and
/// in arrival order among equal weights". Group permit futures waiting for
/// a ceiling of 1, with the extreme weights.
#[test]
fn group_permit_futures_wait_for_the_ceiling_in_their_group_order() {
    static URGENT: Group = group(
        "round53c-urgent",
        GroupSettings::DEFAULT.size(4).order(Order::Priority),
    );
    static PLAIN: Group = group("round53c-plain-order", GroupSettings::DEFAULT.size(4));
    let turn = ceiling(1);
    // A priority group: i64::MIN first, then 0, then i64::MAX.
    let holder = PLAIN.try_acquire(0).unwrap();
    let mut max = Task::new(URGENT.acquire(i64::MAX));
    let mut zero = Task::new(URGENT.acquire_owned(0));
    let mut min = Task::new(URGENT.acquire(i64::MIN));
    max.assert_pending();
    zero.assert_pending();
    min.assert_pending();
    drop(holder);
    assert!(min.is_woken() && !zero.is_woken() && !max.is_woken());
    let p = min.assert_ready().expect("the smallest weight first");
    max.assert_pending();
    drop(p);
    assert!(zero.is_woken() && !max.is_woken());
    let p = zero.assert_ready().expect("then weight 0");
    drop(p);
    drop(max.assert_ready().expect("then i64::MAX"));
    // A FIFO group: weights are not the ceiling's order; arrival is.
    let holder = URGENT.try_acquire(0).unwrap();
    let mut early = Task::new(PLAIN.acquire(i64::MAX));
    let mut late = Task::new(PLAIN.acquire(i64::MIN));
    early.assert_pending();
    late.assert_pending();
    drop(holder);
    assert!(
        early.is_woken() && !late.is_woken(),
        "first come, first served"
    );
    drop(early.assert_ready().unwrap());
    drop(late.assert_ready().unwrap());
    let c = ceiling_stats();
    assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
    assert_accounted(&c);
    assert_accounted(&URGENT.stats());
    assert_accounted(&PLAIN.stats());
    drop(turn);
}

/// `tokio::time::timeout(0 or 200us, group.acquire(..))` under a ceiling of
/// 2, from 12 tasks on two workers: every attempt is polled, so counted once
/// by the ceiling (let in: completed; given up: cancelled), and the group
/// counts exactly the permits let in as completed. Would catch: a gated
/// permit future dropped with its ceiling slot (or group slot) kept, or
/// counted twice.
#[test]
fn zero_timeouts_around_gated_group_permit_futures_account_every_call() {
    static TIMED_A: Group = group("round53c-zero-a", GroupSettings::DEFAULT.size(2));
    static TIMED_B: Group = group("round53c-zero-b", GroupSettings::DEFAULT.size(1));
    let turn = ceiling(2);
    let c0 = ceiling_stats();
    let (a0, b0) = (TIMED_A.stats(), TIMED_B.stats());
    let meter = Meter::default();
    let ok = Arc::new(AtomicU64::new(0));
    let late = Arc::new(AtomicU64::new(0));
    let rt = common::runtime();
    let run = {
        let (meter, ok, late) = (meter.clone(), ok.clone(), late.clone());
        async move {
            let mut tasks = Vec::new();
            for i in 0..12u32 {
                let (meter, ok, late) = (meter.clone(), ok.clone(), late.clone());
                tasks.push(tokio::spawn(async move {
                    for round in 0..40u32 {
                        let group: &'static Group = if (i + round) % 2 == 0 {
                            &TIMED_A
                        } else {
                            &TIMED_B
                        };
                        let wait = if round % 3 == 0 {
                            Duration::ZERO
                        } else {
                            Duration::from_micros(200)
                        };
                        let answer: Result<Result<Box<dyn Send>, Rejected>, _> = if i % 2 == 0 {
                            tokio::time::timeout(wait, group.acquire(0))
                                .await
                                .map(|p| p.map(|p| Box::new(p) as Box<dyn Send>))
                        } else {
                            tokio::time::timeout(wait, group.acquire_owned(0))
                                .await
                                .map(|p| p.map(|p| Box::new(p) as Box<dyn Send>))
                        };
                        match answer {
                            Ok(permit) => {
                                let permit = permit.expect("open groups without bounds");
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
    let (ok, late) = (ok.load(Ordering::SeqCst), late.load(Ordering::SeqCst));
    assert_eq!(ok + late, 12 * 40);
    assert!(
        meter.max() <= 2,
        "{} held at once under a ceiling of 2",
        meter.max()
    );
    let c = ceiling_stats();
    assert_eq!(c.submitted() - c0.submitted(), ok + late, "{c:?}");
    assert_eq!(c.completed - c0.completed, ok, "{c:?}");
    assert_eq!(c.cancelled - c0.cancelled, late, "{c:?}");
    assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
    assert_accounted(&c);
    let (a, b) = (TIMED_A.stats(), TIMED_B.stats());
    assert_eq!(
        (a.completed - a0.completed) + (b.completed - b0.completed),
        ok,
        "{a:?} {b:?}"
    );
    for s in [a, b] {
        assert_eq!(
            (s.running, s.waiting, s.rejected_total()),
            (0, 0, 0),
            "{s:?}"
        );
        assert_accounted(&s);
    }
    drop(turn);
}

/// A gated group permit dropped while its thread unwinds: the group counts
/// it panicked, and its ceiling slot comes back.
#[test]
fn a_gated_group_permit_dropped_while_unwinding_gives_its_ceiling_slot_back() {
    static UNWIND: Group = group("round53c-unwind", GroupSettings::DEFAULT.size(1));
    quiet_planned_panics();
    let turn = ceiling(1);
    let unwound = std::panic::catch_unwind(|| {
        let _p = futures::executor::block_on(UNWIND.acquire(0)).unwrap();
        panic!("planned: the work under a gated permit");
    });
    assert!(unwound.is_err());
    let owned = futures::executor::block_on(UNWIND.acquire_owned(0)).unwrap();
    let worker = std::thread::spawn(move || {
        let _p = owned;
        panic!("planned: an owned gated permit on another thread");
    });
    assert!(worker.join().is_err());
    let g = UNWIND.stats();
    assert_eq!((g.completed, g.panicked, g.running), (2, 2, 0), "{g:?}");
    assert_accounted(&g);
    let c = ceiling_stats();
    assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
    assert_accounted(&c);
    drop(UNWIND.try_acquire(0).expect("both slots came back"));
    drop(turn);
}

/// `POOLED_CEILING` is read at a group's first use, before its first call
/// can run (README): the process's very first group call a
/// `Group::acquire` (whose plain-or-gated choice is made when it is
/// called) must be gated. Run in a process of its own.
#[test]
fn a_first_group_acquire_of_the_process_is_gated_by_pooled_ceiling() {
    static FIRST: Group = group("round53c-first-use", GroupSettings::DEFAULT.size(4));
    static SECOND: Group = group("round53c-first-use-other", GroupSettings::DEFAULT.size(4));
    in_own_process(
        "a_first_group_acquire_of_the_process_is_gated_by_pooled_ceiling",
        &[("POOLED_CEILING", "1")],
        || {
            let mut first = Task::new(FIRST.acquire(0));
            let permit = first.assert_ready().expect("the ceiling's one slot");
            assert_eq!(pool_runtime::ceiling::limit(), Some(1));
            assert_eq!(ceiling_stats().running, 1, "{:?}", ceiling_stats());
            let mut second = Task::new(SECOND.acquire_owned(0));
            second.assert_pending();
            drop(permit);
            assert!(second.is_woken());
            drop(second.assert_ready().unwrap());
            let c = ceiling_stats();
            assert_eq!((c.completed, c.running, c.waiting), (2, 0, 0), "{c:?}");
        },
    );
}

static CLONE_ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn poll_once<F: std::future::Future + Unpin>(
    fut: &mut F,
    waker: &std::task::Waker,
) -> std::task::Poll<F::Output> {
    std::pin::Pin::new(fut).poll(&mut std::task::Context::from_waker(waker))
}

/// A gated group permit future polled with a waker whose `clone` panics, at
/// each place it can wait (for the ceiling; holding its ceiling slot, for
/// its group's slot): the poll unwinds, the future is dropped; every slot
/// comes back and no ghost waiter is left in either queue.
#[test]
fn a_gated_group_permit_future_whose_waker_clone_panics_loses_nothing() {
    static CLONED: Group = group("round53c-clone", GroupSettings::DEFAULT.size(1));
    static OTHER: Group = group("round53c-clone-other", GroupSettings::DEFAULT.size(2));
    quiet_planned_panics();
    let turn = ceiling(2);
    for stage in 0..2 {
        // Stage 0: the ceiling is full. Stage 1: the group's slot is held.
        let holders: Vec<pool_runtime::OwnedPermit> = if stage == 0 {
            vec![
                OTHER.try_acquire_owned(0).unwrap(),
                OTHER.try_acquire_owned(0).unwrap(),
            ]
        } else {
            vec![CLONED.try_acquire_owned(0).unwrap()]
        };
        for owned in [false, true] {
            CLONE_ARMED.store(true, Ordering::SeqCst);
            let waker = waker_whose_clone_panics_once(&CLONE_ARMED);
            let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if owned {
                    poll_once(&mut Box::pin(CLONED.acquire_owned(0)), &waker).is_pending()
                } else {
                    poll_once(&mut Box::pin(CLONED.acquire(0)), &waker).is_pending()
                }
            }));
            CLONE_ARMED.store(false, Ordering::SeqCst);
            let _ = polled;
            let c = ceiling_stats();
            assert_eq!(c.waiting, 0, "stage {stage}: a ghost ceiling waiter: {c:?}");
            assert_eq!(
                c.running,
                holders.len(),
                "stage {stage}: a ceiling slot kept: {c:?}"
            );
            assert_eq!(CLONED.stats().waiting, 0, "{:?}", CLONED.stats());
        }
        drop(holders);
        let p = CLONED.try_acquire(0).expect("the group's slot came back");
        let q = OTHER.try_acquire(0).expect("the ceiling's second slot");
        drop((p, q));
        let c = ceiling_stats();
        assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
        assert_accounted(&c);
        assert_accounted(&CLONED.stats());
    }
    drop(turn);
}

/// README: "Work submitted to a group's pool directly (`Group::pool().submit`)
/// holds no ceiling slot either, and group calls made inside it are taken
/// for calls nested in a call from before the ceiling: they are not gated".
/// A group permit made in such work, with the ceiling full, is let in.
#[test]
fn a_group_permit_in_work_of_its_pool_submitted_directly_is_not_gated() {
    static DIRECT: Group = group("round53c-direct", GroupSettings::DEFAULT.size(1));
    static FULL: Group = group("round53c-direct-holder", GroupSettings::DEFAULT.size(1));
    let turn = ceiling(1);
    let holder = FULL.try_acquire(0).unwrap();
    let answer = within(BOUND, || {
        futures::executor::block_on(async {
            DIRECT
                .pool()
                .submit(async {
                    let a = DIRECT.acquire(0).await.map(drop);
                    let b = DIRECT.acquire_owned(0).await.map(drop);
                    (a, b)
                })
                .await
        })
    });
    assert_eq!(answer, Ok((Ok(()), Ok(()))));
    drop(holder);
    let c = ceiling_stats();
    assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
    assert_accounted(&c);
    assert_accounted(&DIRECT.stats());
    drop(turn);
}

/// Nested calls are not turned away by a pause (the reentrancy rule): a
/// group permit made in the work of a call of its group paused meanwhile,
/// under a ceiling of 1, is let in under the call's slots, not `Paused`.
#[test]
fn a_gated_group_permit_nested_in_work_of_its_group_paused_meanwhile_is_let_in() {
    static NESTED: Group = group("round53c-nested-paused", GroupSettings::DEFAULT.size(1));
    let turn = ceiling(1);
    let answer = within(BOUND, || {
        futures::executor::block_on(async {
            NESTED
                .submit(0, async {
                    NESTED.pause();
                    let a = NESTED.acquire(0).await.map(drop);
                    let b = NESTED.acquire_owned(0).await.map(drop);
                    (a, b)
                })
                .await
        })
    });
    NESTED.resume();
    assert_eq!(answer, Ok((Ok(()), Ok(()))));
    let g = NESTED.stats();
    assert_eq!(g.rejected_total(), 0, "{g:?}");
    assert_accounted(&g);
    let c = ceiling_stats();
    assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
    assert_accounted(&c);
    drop(turn);
}

/// A group paused while its permit future waits for the ceiling: when the
/// ceiling frees, the call is answered (let in, or turned away `Paused`),
/// never left pending with the ceiling slot; the ceiling slot comes back.
#[test]
fn a_group_paused_while_its_permit_waits_for_the_ceiling_gives_the_ceiling_slot_back() {
    static LATE: Group = group("round53c-paused-late", GroupSettings::DEFAULT.size(1));
    static HOLDER: Group = group(
        "round53c-paused-late-holder",
        GroupSettings::DEFAULT.size(1),
    );
    let turn = ceiling(1);
    let holder = HOLDER.try_acquire(0).unwrap();
    let mut waiting = Task::new(LATE.acquire_owned(0));
    waiting.assert_pending();
    LATE.pause();
    drop(holder);
    assert!(waiting.is_woken());
    let answer = match waiting.poll() {
        std::task::Poll::Ready(answer) => answer.map(drop),
        std::task::Poll::Pending => {
            // Waiting in the group's queue (paused), holding its ceiling
            // slot: resuming must let it in.
            assert_eq!(LATE.stats().waiting, 1, "{:?}", LATE.stats());
            LATE.resume();
            assert!(waiting.is_woken(), "resume wakes the queued permit");
            waiting.assert_ready().map(drop)
        }
    };
    LATE.resume();
    assert!(
        matches!(answer, Ok(()) | Err(Rejected::Paused)),
        "{answer:?}"
    );
    let c = ceiling_stats();
    assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
    assert_accounted(&c);
    assert_accounted(&LATE.stats());
    eprintln!("round53: a group paused under a waiting permit answered {answer:?}");
    drop(turn);
}
