//! Permits: a slot held by a guard. The same admission as `submit` — order,
//! rejections, accounting, reentrancy — counted from outside the library.

mod common;

use common::{assert_accounted, Meter, Task};
use pool_runtime::{
    AdaptiveSettings, Group, GroupSpec, Kind, Order, Pool, Rejected, ScalePolicy, Verdict,
};
use std::sync::Mutex;
use std::time::Duration;

fn fixed(size: usize) -> Pool {
    Pool::builder().size(size).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn permits_and_calls_together_never_exceed_the_limit() {
    let pool = fixed(3);
    let gauge = Meter::default();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (pool, gauge) = (pool.clone(), gauge.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                if i % 2 == 0 {
                    let permit = pool.acquire_owned(0).await.unwrap();
                    let inside = gauge.enter();
                    tokio::task::yield_now().await;
                    drop(inside);
                    drop(permit);
                } else {
                    pool.submit(async {
                        let inside = gauge.enter();
                        tokio::task::yield_now().await;
                        drop(inside);
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
    assert_eq!(gauge.max(), 3);
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.running), (64 * 20, 0));
    assert_accounted(&stats);
}

#[test]
fn a_permit_is_a_running_call_until_dropped_and_a_panicking_holder_is_counted() {
    let pool = fixed(2);
    let permit = futures::executor::block_on(pool.acquire()).unwrap();
    let stats = pool.stats();
    assert_eq!((stats.running, stats.submitted()), (1, 1));
    drop(permit);
    assert_eq!((pool.stats().running, pool.stats().completed), (0, 1));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _permit = pool.try_acquire().unwrap();
        panic!("holder fails");
    }));
    assert!(caught.is_err());
    let stats = pool.stats();
    assert_eq!((stats.running, stats.panicked), (0, 1), "{stats:?}");
    assert_accounted(&stats);
}

#[test]
fn try_acquire_never_waits_and_says_why() {
    let pool = fixed(1);
    let held = pool.try_acquire().unwrap();
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
    assert_eq!(pool.stats().waiting, 0, "it did not stay in the queue");
    drop(held);
    pool.pause();
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Paused));
    pool.resume();
    pool.close();
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Closed));
    let stats = pool.stats();
    assert_eq!(stats.rejected_total(), 3);
    assert_accounted(&stats);
}

#[test]
fn a_waiting_acquire_is_cancel_safe_and_admitted_in_order() {
    let pool = Pool::builder()
        .size(1)
        .order(Order::Priority)
        .build()
        .unwrap();
    let held = pool.try_acquire().unwrap();
    let mut late = Task::new(pool.acquire_weighted(5));
    let mut cancelled = Task::new(pool.acquire_weighted(0));
    let mut urgent = Task::new(pool.acquire_weighted(1));
    late.assert_pending();
    cancelled.assert_pending();
    urgent.assert_pending();
    assert_eq!(pool.stats().waiting, 3);
    drop(cancelled);
    assert_eq!(
        pool.stats().waiting,
        2,
        "the dropped acquire left the queue"
    );
    drop(held);
    let urgent = urgent
        .assert_ready()
        .expect("the smaller weight goes first");
    late.assert_pending();
    drop(urgent);
    drop(late.assert_ready().unwrap());
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.cancelled, stats.running), (3, 1, 0));
    assert_accounted(&stats);
}

#[test]
fn a_permit_taken_in_a_calls_work_borrows_its_slot_instead_of_deadlocking() {
    let pool = fixed(1);
    let out = futures::executor::block_on(pool.submit(async {
        let permit = pool.acquire().await.expect("borrows the parent's slot");
        assert_eq!(pool.stats().nested, 1);
        drop(permit);
        7
    }));
    assert_eq!(out, Ok(7));
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.running, stats.nested), (2, 0, 0));
    assert_accounted(&stats);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owned_permit_moves_into_a_spawned_task_and_holds_the_slot_there() {
    let pool = fixed(1);
    let permit = pool.acquire_owned(0).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let holder = tokio::spawn(async move {
        let _permit = permit;
        let _ = rx.await;
    });
    tokio::task::yield_now().await;
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
    tx.send(()).unwrap();
    holder.await.unwrap();
    assert!(pool.try_acquire().is_ok(), "released where the task ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_permits_share_the_groups_limit_and_outlive_nothing() {
    static PERMITS: Group = Group::new(GroupSpec::new("tests::permits").size(2));
    let gauge = Meter::default();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let gauge = gauge.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                let _permit = PERMITS.acquire(0).await.unwrap();
                let inside = gauge.enter();
                tokio::time::sleep(Duration::from_micros(50)).await;
                drop(inside);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(gauge.max(), 2);
    assert_eq!(PERMITS.stats().completed, 160);
    let owned = PERMITS.acquire_owned(0).await.unwrap();
    assert!(PERMITS.try_acquire(0).is_ok());
    let second = PERMITS.try_acquire_owned(0).unwrap();
    assert_eq!(PERMITS.try_acquire_owned(0).err(), Some(Rejected::Full));
    drop((owned, second));
    assert_eq!(PERMITS.stats().running, 0);
}

#[test]
fn an_adaptive_pool_takes_a_permits_verdict() {
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(64)
        .size(32)
        .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::default()))
        .build()
        .unwrap();
    let permits = Mutex::new(Vec::new());
    for _ in 0..8 {
        let mut permit = pool.try_acquire().unwrap();
        permit.set_verdict(Verdict::Overload);
        permits.lock().unwrap().push(permit);
    }
    drop(permits);
    assert!(pool.size() < 32, "refusals cut the limit: {}", pool.size());
}
