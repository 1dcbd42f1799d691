//! The permit futures (`Acquiring`, `AcquiringOwned`, `GroupAcquiring`,
//! `GroupAcquiringOwned`): named futures with the admission inline, instead
//! of `async fn`s layered over it. What they must keep from the `async fn`s
//! they replaced — auto traits, one answer per call, cancel safety at every
//! poll, the limit — checked from outside the library.

mod common;

use common::{assert_accounted, Meter, Task};
use pool_runtime::{
    Acquiring, AcquiringOwned, Group, GroupAcquiring, GroupAcquiringOwned, GroupSpec, Order, Pool,
    Rejected,
};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn fixed(size: usize) -> Pool {
    Pool::builder().size(size).build().unwrap()
}

#[test]
fn the_futures_are_send_sync_and_debug_as_the_async_fns_were() {
    fn check<T: Send + Sync + std::fmt::Debug>() {}
    check::<Acquiring<'static>>();
    check::<AcquiringOwned>();
    check::<GroupAcquiring>();
    check::<GroupAcquiringOwned<'static>>();
    let pool = fixed(1);
    let future = pool.acquire();
    assert!(format!("{future:?}").starts_with("Acquiring"));
}

#[test]
fn a_permit_future_polled_again_after_its_answer_panics_and_counts_nothing_twice() {
    common::quiet_planned_panics();
    let pool = fixed(1);
    let mut admitted = Task::new(pool.acquire());
    let permit = admitted.assert_ready().expect("a free slot");
    let again = catch_unwind(AssertUnwindSafe(|| admitted.poll().is_ready()));
    assert!(again.is_err(), "a second answer from one call");
    let stats = pool.stats();
    assert_eq!((stats.submitted(), stats.running), (1, 1), "{stats:?}");
    drop(permit);
    drop(admitted);

    pool.pause();
    let mut turned_away = Task::new(pool.acquire_owned(0));
    assert_eq!(turned_away.assert_ready().err(), Some(Rejected::Paused));
    let again = catch_unwind(AssertUnwindSafe(|| turned_away.poll().is_ready()));
    assert!(again.is_err(), "a second answer from one call");
    drop(turned_away);
    let stats = pool.stats();
    assert_eq!(
        (stats.submitted(), stats.completed, stats.rejected_total()),
        (2, 1, 1),
        "{stats:?}"
    );
    assert_accounted(&stats);
}

#[test]
fn a_waiting_permit_future_dropped_after_any_number_of_polls_loses_nothing() {
    let pool = Pool::builder()
        .size(1)
        .order(Order::Priority)
        .build()
        .unwrap();
    for polls in 0..4 {
        let holder = pool.try_acquire().unwrap();
        // Three waiters; the middle one (weight 1) is dropped after `polls`
        // polls, the others must still get the slot, in weight order.
        let mut first = Task::new(pool.acquire_weighted(0));
        let mut dropped = Task::new(pool.acquire_weighted(1));
        let mut last = Task::new(pool.acquire_weighted(2));
        first.assert_pending();
        for _ in 0..polls {
            dropped.assert_pending();
        }
        last.assert_pending();
        drop(dropped);
        drop(holder);
        assert!(first.is_woken(), "the freed slot goes to the first waiter");
        let permit = first.assert_ready().expect("handed the slot");
        assert!(!last.is_woken(), "one slot, one waiter woken");
        drop(permit);
        assert!(last.is_woken(), "the dropped waiter's turn is not lost");
        drop(last.assert_ready().expect("handed the slot"));
    }
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
    // Each round: the holder and two waiters completed; the dropped waiter
    // was cancelled only if it got to the queue (polled at least once).
    assert_eq!(stats.completed, 4 * 3, "{stats:?}");
    assert_eq!(stats.cancelled, 3, "{stats:?}");
    assert_accounted(&stats);
}

#[test]
fn a_slot_handed_to_a_permit_future_dropped_before_its_next_poll_goes_to_the_next_waiter() {
    let pool = fixed(1);
    let holder = pool.try_acquire_owned(0).unwrap();
    let mut handed = Task::new(pool.acquire_owned(0));
    let mut next = Task::new(pool.acquire());
    handed.assert_pending();
    next.assert_pending();
    drop(holder);
    assert!(handed.is_woken());
    drop(handed); // handed the slot, never polled again
    assert!(next.is_woken(), "the slot passed on");
    drop(next.assert_ready().expect("the slot"));
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.cancelled), (2, 1), "{stats:?}");
    assert_eq!(pool.try_acquire().map(drop), Ok(()), "no slot leaked");
    assert_accounted(&pool.stats());
}

static CONTENDED: Group = Group::new(GroupSpec::new("permit_futures::contended").size(3));

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_permit_future_under_contention_keeps_the_limit_and_accounts_every_call() {
    let pool = fixed(3);
    let (pool_meter, group_meter) = (Meter::default(), Meter::default());
    let mut tasks = Vec::new();
    for i in 0..48 {
        let (pool, pool_meter, group_meter) =
            (pool.clone(), pool_meter.clone(), group_meter.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..25 {
                // Every fourth call is abandoned while it may be waiting.
                let abandon = (i + round) % 4 == 3;
                let (meter, outcome) = match i % 4 {
                    0 => (
                        &pool_meter,
                        hold(pool.acquire(), &pool_meter, abandon).await,
                    ),
                    1 => (
                        &pool_meter,
                        hold(pool.acquire_owned(i), &pool_meter, abandon).await,
                    ),
                    2 => (
                        &group_meter,
                        hold(CONTENDED.acquire(0), &group_meter, abandon).await,
                    ),
                    _ => (
                        &group_meter,
                        hold(CONTENDED.acquire_owned(0), &group_meter, abandon).await,
                    ),
                };
                let _ = (meter, outcome);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(pool_meter.max() <= 3, "pool: {} at once", pool_meter.max());
    assert!(
        group_meter.max() <= 3,
        "group: {} at once",
        group_meter.max()
    );
    for stats in [pool.stats(), CONTENDED.stats()] {
        assert_eq!(stats.submitted(), 24 * 25, "{stats:?}");
        assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
        assert_eq!(stats.rejected_total(), 0, "{stats:?}");
        assert_accounted(&stats);
    }
    assert_eq!(
        pool_meter.done() as u64,
        pool.stats().completed,
        "every permit handed out was counted completed"
    );
    assert_eq!(group_meter.done() as u64, CONTENDED.stats().completed);
}

/// Waits for a permit and holds it across a yield; or, if `abandon`, races
/// the wait against one yield and drops it if it lost.
async fn hold<P, F: std::future::Future<Output = Result<P, Rejected>>>(
    acquiring: F,
    meter: &Meter,
    abandon: bool,
) -> bool {
    let permit = if abandon {
        tokio::select! {
            biased;
            permit = acquiring => permit,
            () = tokio::task::yield_now() => return false,
        }
    } else {
        acquiring.await
    };
    let permit = permit.expect("an open pool without bounds");
    let inside = meter.enter();
    tokio::task::yield_now().await;
    drop(inside);
    drop(permit);
    true
}
