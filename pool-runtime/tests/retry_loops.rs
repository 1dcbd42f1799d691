//! A task that retries a pool that turns it away, in a loop that never
//! waits, must not starve the task that would let it in: a rejection is
//! charged to the tokio task's cooperative budget, as tokio's own resources
//! charge each operation, so the looping task yields to the runtime every so
//! often. On a current-thread runtime the task that resumes the pool (or
//! frees the slot) would otherwise never run: the loop spins for good.
//!
//! Each scenario runs on its own thread under a watchdog; the loop counts its
//! rejections from outside the pool, and the pool's own counters must agree.

#![cfg(feature = "tokio")]

mod common;

use common::{on_one_thread, retry};
use pool_runtime::{Group, GroupSpec, Pool, Rejected};

/// Pauses `pool`, and spawns the task that resumes it: it runs only once
/// the scenario's task yields.
fn paused_until_another_task_runs(pool: &Pool) -> tokio::task::JoinHandle<()> {
    pool.pause();
    let pool = pool.clone();
    tokio::spawn(async move { pool.resume() })
}

#[test]
fn a_loop_retrying_a_paused_pool_lets_the_task_that_resumes_it_run() {
    let (rejected, stats) = on_one_thread(async {
        let pool = Pool::fixed(2);
        let resumer = paused_until_another_task_runs(&pool);
        let rejected = retry(Rejected::Paused, || pool.submit(async { 7 })).await;
        resumer.await.unwrap();
        (rejected, pool.stats())
    });
    assert!(rejected > 0, "the loop started while the pool was paused");
    assert_eq!(stats.rejected_total(), rejected, "{stats:?}");
    assert_eq!(stats.completed, 1, "{stats:?}");
}

#[test]
fn a_loop_retrying_a_full_pool_that_may_not_wait_lets_the_holder_release() {
    let (rejected, stats) = on_one_thread(async {
        let pool = Pool::fixed(1);
        pool.set_max_waiting(Some(0)).unwrap();
        let permit = pool.acquire_owned(0).await.unwrap();
        let holder = tokio::spawn(async move { drop(permit) });
        let rejected = retry(Rejected::Full, || pool.acquire()).await;
        holder.await.unwrap();
        (rejected, pool.stats())
    });
    assert!(rejected > 0);
    assert_eq!(stats.rejected_total(), rejected, "{stats:?}");
}

#[test]
fn a_loop_retrying_blocking_calls_of_a_paused_pool_lets_the_resumer_run() {
    let (rejected, stats) = on_one_thread(async {
        let pool = Pool::fixed(1);
        let resumer = paused_until_another_task_runs(&pool);
        let rejected = retry(Rejected::Paused, || pool.submit_blocking(|| 3)).await;
        resumer.await.unwrap();
        (rejected, pool.stats())
    });
    assert!(rejected > 0);
    assert_eq!(stats.rejected_total(), rejected, "{stats:?}");
    assert_eq!(stats.completed, 1, "{stats:?}");
}

/// Under an application-wide ceiling (the only test of this binary with
/// groups, so the ceiling it sets gates no other): a paused group turns its
/// calls away before they wait for a ceiling slot, within the budget too.
#[test]
fn a_loop_retrying_a_paused_group_under_a_ceiling_lets_the_resumer_run() {
    static GROUP: Group = Group::new(GroupSpec::new("retry-loops-paused").size(1));
    pool_runtime::config::load_str("retry-loops.toml", "ceiling = 4").unwrap();
    assert_eq!(pool_runtime::ceiling::limit(), Some(4));
    let (rejected, stats) = on_one_thread(async {
        GROUP.pool().pause();
        let resumer = tokio::spawn(async { GROUP.pool().resume() });
        let rejected = retry(Rejected::Paused, || GROUP.submit(0, async { 1 })).await;
        resumer.await.unwrap();
        (rejected, GROUP.stats())
    });
    assert!(rejected > 0);
    assert_eq!(stats.rejected_total(), rejected, "{stats:?}");
}

/// The budget only delays a rejection: every call still gets its answer,
/// none is counted twice, and a call that is let in is never delayed.
#[test]
fn rejections_past_the_budget_are_answered_once_each_after_a_yield() {
    let stats = on_one_thread(async {
        let pool = Pool::fixed(1);
        pool.pause();
        for _ in 0..1000 {
            assert_eq!(pool.submit(async {}).await, Err(Rejected::Paused));
        }
        pool.resume();
        for _ in 0..1000 {
            assert_eq!(pool.submit(async { 1 }).await, Ok(1));
        }
        pool.stats()
    });
    assert_eq!(
        (stats.submitted(), stats.rejected_total()),
        (2000, 1000),
        "{stats:?}"
    );
    assert_eq!(stats.completed, 1000, "{stats:?}");
}

/// A client retrying a tower service that refuses at once (`reject()`) in a
/// loop: the refusal is answered within the budget too, so the task holding
/// the only slot gets to release it.
#[cfg(feature = "tower")]
#[test]
fn a_loop_retrying_a_refusing_tower_service_lets_the_holder_release() {
    use tower::{service_fn, Layer, Service, ServiceExt};
    let (refused, stats) = on_one_thread(async {
        let pool = Pool::fixed(1);
        let permit = pool.acquire_owned(0).await.unwrap();
        let holder = tokio::spawn(async move { drop(permit) });
        let inner = service_fn(|()| async { Ok::<_, pool_runtime::tower::BoxError>(1) });
        let mut service = pool_runtime::tower::PooledLayer::pool(pool.clone())
            .reject()
            .layer(inner);
        let mut refused = 0u64;
        loop {
            let ready = service
                .ready()
                .await
                .expect("a refusal comes with the call");
            match ready.call(()).await {
                Ok(answer) => {
                    assert_eq!(answer, 1);
                    break;
                }
                Err(error) => {
                    assert_eq!(error.downcast_ref::<Rejected>(), Some(&Rejected::Full));
                    refused += 1;
                }
            }
        }
        holder.await.unwrap();
        (refused, pool.stats())
    });
    assert!(refused > 0);
    assert_eq!(stats.rejected_total(), refused, "{stats:?}");
}
