//! Limits: never more running than the limit, scaling clamps, scaling down
//! lets running work finish, scaling up admits waiters at once.

mod common;

use common::{gate, Task};
use pool_runtime::{BuildError, Kind, Pool, MAX_SLOTS};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn scale_and_resize_clamp_to_zero_and_max_slots_on_fixed_pools() {
    let pool = Pool::fixed(3);
    assert_eq!(pool.scale(2), 5);
    assert_eq!(pool.scale(-2), 3);
    assert_eq!(pool.scale(-10), 0);
    assert_eq!(pool.scale(isize::MIN), 0);
    assert_eq!(pool.scale(isize::MAX), MAX_SLOTS);
    assert_eq!(pool.resize(usize::MAX), MAX_SLOTS);
    assert_eq!(pool.resize(7), 7);
    assert_eq!(pool.size(), 7);
}

#[test]
fn scale_clamps_to_min_and_max_on_autoscaled_pools() {
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(2)
        .max(6)
        .build()
        .unwrap();
    assert_eq!(pool.size(), 2);
    assert_eq!(pool.scale(10), 6);
    assert_eq!(pool.scale(-10), 2);
    assert_eq!(pool.resize(4), 4);
    assert_eq!(pool.bounds(), (2, 6));
    assert_eq!(
        pool.set_bounds(5, 9),
        Ok(5),
        "size clamped into the new bounds"
    );
    assert_eq!(
        pool.set_bounds(8, 3),
        Err(BuildError::MinAboveMax { min: 8, max: 3 }),
        "checked as the builder checks it"
    );
    assert_eq!(pool.set_bounds(0, 0), Err(BuildError::ZeroMax));
    assert_eq!(
        pool.set_bounds(1, MAX_SLOTS + 1),
        Err(BuildError::TooLarge {
            value: MAX_SLOTS + 1
        })
    );
    assert_eq!(pool.bounds(), (5, 9), "a refused change changes nothing");
    assert_eq!(
        Pool::fixed(1).set_bounds(2, 4),
        Err(BuildError::BoundsOnFixedPool),
        "a fixed pool has no bounds to set"
    );
}

#[test]
fn scaling_up_admits_waiters_at_once_and_down_lets_running_work_finish() {
    let pool = Pool::fixed(2);
    let gates: Vec<_> = (0..5).map(|_| gate()).collect();
    let mut calls: Vec<_> = gates
        .iter()
        .map(|(g, _)| Task::new(pool.submit(common::Gate(g.0.clone()))))
        .collect();
    for call in &mut calls {
        call.assert_pending();
    }
    assert_eq!((pool.stats().running, pool.stats().waiting), (2, 3));
    assert_eq!(pool.scale(2), 4);
    assert!(calls[2].is_woken() && calls[3].is_woken() && !calls[4].is_woken());
    calls[2].assert_pending(); // admitted, running (its gate is closed)
    assert_eq!((pool.stats().running, pool.stats().waiting), (4, 1));
    // Scale down below the running count: nothing is interrupted...
    assert_eq!(pool.resize(1), 1);
    assert_eq!(pool.stats().running, 4);
    // ...and nothing is admitted until running < 1.
    for i in 0..3 {
        gates[i].1.store(true, Ordering::SeqCst);
        assert!(calls[i].assert_ready().is_ok());
        assert!(!calls[4].is_woken(), "no admission while running >= limit");
    }
    assert_eq!(pool.stats().running, 1);
    gates[3].1.store(true, Ordering::SeqCst);
    assert!(calls[3].assert_ready().is_ok());
    assert!(calls[4].is_woken(), "running dropped below the limit");
    calls[4].assert_pending();
    assert_eq!((pool.stats().running, pool.stats().waiting), (1, 0));
}

#[test]
fn a_fixed_pool_scaled_to_zero_holds_its_queue_until_scaled_up() {
    let pool = Pool::fixed(1);
    pool.resize(0);
    let mut calls: Vec<_> = (0..3)
        .map(|i| Task::new(pool.submit(async move { i })))
        .collect();
    for call in &mut calls {
        call.assert_pending();
    }
    assert_eq!(pool.stats().waiting, 3);
    pool.resize(3);
    let results: Vec<_> = calls.iter_mut().map(|c| c.assert_ready()).collect();
    assert_eq!(results, [Ok(0), Ok(1), Ok(2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_never_exceeds_the_limit_while_scaling_under_load() {
    let pool = Pool::fixed(4);
    let running = Arc::new(AtomicUsize::new(0));
    let violations = Arc::new(AtomicUsize::new(0));
    let limit_ceiling = Arc::new(AtomicUsize::new(4));
    let mut tasks = Vec::new();
    for i in 0..400u64 {
        let (pool, running, violations, ceiling) = (
            pool.clone(),
            running.clone(),
            violations.clone(),
            limit_ceiling.clone(),
        );
        tasks.push(tokio::spawn(async move {
            pool.submit(async {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                if now > ceiling.load(Ordering::SeqCst) {
                    violations.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_micros(50 + i % 7 * 30)).await;
                running.fetch_sub(1, Ordering::SeqCst);
            })
            .await
        }));
    }
    // The ceiling only ever drops after the pool has drained below it, so a
    // count above it is an admission beyond the limit.
    for size in [8, 2, 6, 1, 4] {
        if size > limit_ceiling.load(Ordering::SeqCst) {
            limit_ceiling.store(size, Ordering::SeqCst);
            pool.resize(size);
        } else {
            pool.resize(size);
            while pool.stats().running > size {
                tokio::task::yield_now().await;
            }
            limit_ceiling.store(size, Ordering::SeqCst);
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(violations.load(Ordering::SeqCst), 0);
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting, stats.completed), (0, 0, 400));
}
