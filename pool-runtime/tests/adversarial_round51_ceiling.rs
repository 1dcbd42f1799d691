//! Adversarial round 51, the group path under an application-wide ceiling
//! (`ceiling = 4`, set by every test of this binary: it is process-wide).
//! A group call turned away at once must be answered within its tokio
//! task's cooperative budget, whichever form, whether the group or the
//! ceiling turns it away. The tests take turns (they share the ceiling).

#![cfg(all(feature = "tokio", feature = "config"))]

mod common;

use common::{assert_accounted, on_one_thread, retry};
use pool_runtime::{Group, GroupSpec, Rejected, Verdict};
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};

/// The ceiling, set for this binary, and this test's turn.
fn ceiling() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    let turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    pool_runtime::config::load_str("round51.toml", "ceiling = 4").unwrap();
    assert_eq!(pool_runtime::ceiling::limit(), Some(4));
    turn
}

async fn spend_budget() {
    while tokio::task::coop::has_budget_remaining() {
        let mut unit = pin!(tokio::task::coop::consume_budget());
        assert!(futures::poll!(unit.as_mut()).is_ready());
    }
}

static JUDGED: Group = Group::new(GroupSpec::new("round51-ceiling-judged").size(1));
static PERMITS: Group = Group::new(GroupSpec::new("round51-ceiling-permits").size(1));
static OWNED: Group = Group::new(GroupSpec::new("round51-ceiling-owned").size(1));
static BLOCKING: Group = Group::new(GroupSpec::new("round51-ceiling-blocking").size(1));
static UNDECIDED: Group = Group::new(GroupSpec::new("round51-ceiling-undecided").size(1));
static HOLDERS: Group = Group::new(GroupSpec::new("round51-ceiling-holders").size(8));
static IMPATIENT: Group = Group::new(GroupSpec::new("round51-ceiling-impatient").size(8));

/// `submit_judged` of a paused group under the ceiling, retried in a loop
/// that never waits. Would catch: its turn-away before the ceiling
/// answered outside the budget (the watchdog fails the test).
#[test]
fn a_judged_retry_loop_of_a_paused_group_under_a_ceiling_lets_the_resumer_run() {
    let _turn = ceiling();
    let judged = on_one_thread(async {
        JUDGED.pause();
        let resumer = tokio::spawn(async { JUDGED.resume() });
        let judged = retry(Rejected::Paused, || {
            JUDGED.submit_judged(0, async { 1 }, |_| Verdict::Success)
        })
        .await;
        resumer.await.unwrap();
        judged
    });
    assert!(judged > 0);
    assert_eq!(
        JUDGED.stats().rejected_total(),
        judged,
        "{:?}",
        JUDGED.stats()
    );
    assert_accounted(&JUDGED.stats());
}

/// `Group::acquire` of a paused group under the ceiling, retried in a
/// loop that never waits. Would catch: the permit's turn-away under the
/// ceiling answered outside the budget (the loop spins for good).
#[test]
fn a_permit_retry_loop_of_a_paused_group_under_a_ceiling_lets_the_resumer_run() {
    let _turn = ceiling();
    let permits = on_one_thread(async {
        PERMITS.pause();
        let resumer = tokio::spawn(async { PERMITS.resume() });
        let permits = retry(Rejected::Paused, || PERMITS.acquire(0)).await;
        resumer.await.unwrap();
        permits
    });
    assert!(permits > 0);
    assert_eq!(
        PERMITS.stats().rejected_total(),
        permits,
        "{:?}",
        PERMITS.stats()
    );
}

/// The same with `Group::acquire_owned`.
#[test]
fn an_owned_permit_retry_loop_of_a_paused_group_under_a_ceiling_lets_the_resumer_run() {
    let _turn = ceiling();
    let permits = on_one_thread(async {
        OWNED.pause();
        let resumer = tokio::spawn(async { OWNED.resume() });
        let permits = retry(Rejected::Paused, || OWNED.acquire_owned(0)).await;
        resumer.await.unwrap();
        permits
    });
    assert!(permits > 0);
    assert_eq!(
        OWNED.stats().rejected_total(),
        permits,
        "{:?}",
        OWNED.stats()
    );
}

/// Past the budget, the group's call under the ceiling takes its unit
/// before it decides: `Pending` with nothing counted; dropped then, nothing
/// is counted; polled after a yield (the group resumed meanwhile) it is
/// let in and counted once. Would catch: a call counted at the `Pending`
/// and again when let in, or a drop that counts a call never decided.
#[test]
fn an_undecided_group_call_under_a_ceiling_is_counted_once_whatever_follows() {
    let _turn = ceiling();
    let stats = on_one_thread(async {
        UNDECIDED.pause();
        spend_budget().await;
        for _ in 0..500 {
            let mut call = pin!(UNDECIDED.submit(0, async { 1 }));
            assert!(futures::poll!(call.as_mut()).is_pending());
        }
        let mut call = pin!(UNDECIDED.submit(0, async { 2 }));
        assert!(futures::poll!(call.as_mut()).is_pending());
        UNDECIDED.resume();
        tokio::task::yield_now().await;
        assert_eq!(call.await, Ok(2));
        UNDECIDED.stats()
    });
    assert_eq!(stats.completed, 1, "{stats:?}");
    assert_eq!(stats.rejected_total(), 0, "{stats:?}");
    assert_accounted(&stats);
}

/// `Group::submit_blocking` of a paused group under the ceiling, retried
/// in a loop that never waits. Would catch: the blocking form's turn-away
/// before the ceiling (`ceiling::turned_away_first`) answered outside the
/// budget: the loop spins for good and the resumer never runs.
#[test]
fn a_blocking_retry_loop_of_a_paused_group_under_a_ceiling_lets_the_resumer_run() {
    let _turn = ceiling();
    let rejected = on_one_thread(async {
        BLOCKING.pause();
        let resumer = tokio::spawn(async { BLOCKING.resume() });
        let rejected = retry(Rejected::Paused, || BLOCKING.submit_blocking(0, || 1)).await;
        resumer.await.unwrap();
        rejected
    });
    assert!(rejected > 0);
    assert_eq!(BLOCKING.stats().rejected_total(), rejected);
}

/// A group that may not queue (`max_waiting = 0`) met by a full ceiling
/// (4 calls of another group hold it): its calls are turned away `Full`
/// at once; retried in a loop that never waits, the task that frees the
/// ceiling must get to run. Would catch: the ceiling's `Full` turn-away
/// (`Patience::on_wait`) answered outside the budget: the loop spins for
/// good.
#[test]
fn a_full_ceiling_retry_loop_lets_the_holders_finish() {
    let _turn = ceiling();
    IMPATIENT.pool().set_max_waiting(Some(0)).unwrap();
    let rejected = on_one_thread(async {
        let release = Arc::new(tokio::sync::Notify::new());
        let mut holders = Vec::new();
        for _ in 0..4 {
            let release = release.clone();
            holders.push(tokio::spawn(async move {
                HOLDERS
                    .submit(0, async move { release.notified().await })
                    .await
            }));
        }
        while pool_runtime::ceiling::stats().unwrap().running < 4 {
            tokio::task::yield_now().await;
        }
        let releaser = tokio::spawn(async move { release.notify_waiters() });
        let rejected = retry(Rejected::Full, || IMPATIENT.submit(0, async { 1 })).await;
        releaser.await.unwrap();
        for holder in holders {
            holder.await.unwrap().unwrap();
        }
        rejected
    });
    assert!(rejected > 0);
    assert_eq!(IMPATIENT.stats().rejected_for(Rejected::Full), rejected);
    assert_accounted(&IMPATIENT.stats());
}
