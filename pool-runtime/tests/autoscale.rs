//! Autoscaling by the queue-depth rule, driven by a manual clock: no sleeps,
//! no background thread.

mod common;

use common::Task;
use pool_runtime::ManualClock;
use pool_runtime::{Kind, Order, Pool};
use std::sync::Arc;
use std::time::Duration;

fn autoscaled(clock: &ManualClock) -> Pool {
    Pool::builder()
        .kind(Kind::Autoscale)
        .order(Order::Priority)
        .min(2)
        .max(10)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

#[test]
fn a_backed_up_pool_grows_at_the_next_event_after_an_interval_and_admits_waiters() {
    let clock = ManualClock::new();
    let pool = autoscaled(&clock);
    assert_eq!(pool.size(), 2);
    let mut calls: Vec<_> = (0..8)
        .map(|_| Task::new(pool.submit(std::future::pending::<()>())))
        .collect();
    for call in &mut calls {
        call.assert_pending();
    }
    assert_eq!((pool.stats().running, pool.stats().waiting), (2, 6));
    clock.advance(Duration::from_secs(10));
    // The next intake event evaluates: demand 8 over the whole window -> grow
    // toward 8, at most doubling: 4.
    let mut late = Task::new(pool.submit(async {}));
    late.assert_pending();
    assert_eq!(pool.size(), 4);
    assert_eq!(
        pool.stats().running,
        4,
        "growing admitted two waiters at once"
    );
    clock.advance(Duration::from_secs(10));
    let mut later = Task::new(pool.submit(async {}));
    later.assert_pending();
    assert_eq!(pool.size(), 8, "demand 9 for the window: doubled again");
    clock.advance(Duration::from_secs(10));
    drop(calls.pop()); // a release event: demand 10 -> grow to 10, the max
    assert_eq!(pool.size(), 10);
}

#[test]
fn an_idle_pool_shrinks_toward_its_demand_but_not_below_min() {
    let clock = ManualClock::new();
    let pool = autoscaled(&clock);
    pool.resize(10);
    let mut call = Task::new(pool.submit(std::future::pending::<()>()));
    call.assert_pending();
    clock.advance(Duration::from_secs(10));
    drop(call); // release event: demand 1 over the window
    assert_eq!(pool.size(), 5, "at most halving per interval");
    clock.advance(Duration::from_secs(10));
    futures::executor::block_on(pool.submit(async {})).unwrap();
    assert_eq!(pool.size(), 3, "at most halving, from an odd limit too");
    clock.advance(Duration::from_secs(10));
    futures::executor::block_on(pool.submit(async {})).unwrap();
    assert_eq!(pool.size(), 2);
    clock.advance(Duration::from_secs(10));
    futures::executor::block_on(pool.submit(async {})).unwrap();
    assert_eq!(
        pool.size(),
        2,
        "clamped to min (the rule alone would halve to 1)"
    );
}

#[test]
fn a_fixed_pool_never_moves_by_itself() {
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .size(2)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let mut calls: Vec<_> = (0..6)
        .map(|_| Task::new(pool.submit(std::future::pending::<()>())))
        .collect();
    for call in &mut calls {
        call.assert_pending();
    }
    clock.advance(Duration::from_secs(60));
    drop(calls.pop());
    assert_eq!(pool.size(), 2);
}

/// Drives an adaptive pool against a server whose latency is 50 ms up to
/// `capacity` concurrent calls and grows with the excess beyond: each round
/// admits as many calls as the limit allows, advances the clock by the
/// latency the server would show at that concurrency, and completes them.
fn drive_adaptive(pool: &Pool, clock: &ManualClock, capacity: usize, rounds: usize) -> usize {
    for _ in 0..rounds {
        let (gates, mut calls): (Vec<_>, Vec<_>) = (0..pool.size())
            .map(|_| {
                let (gate, open) = common::gate();
                (open, Task::new(pool.submit(gate)))
            })
            .unzip();
        for call in &mut calls {
            call.assert_pending();
        }
        let concurrency = pool.stats().running;
        let excess = concurrency.saturating_sub(capacity) as u32;
        clock.advance(
            Duration::from_millis(50) + Duration::from_millis(50) * excess / capacity as u32,
        );
        for (open, call) in gates.iter().zip(&mut calls) {
            open.store(true, std::sync::atomic::Ordering::SeqCst);
            assert!(call.assert_ready().is_ok());
        }
    }
    pool.size()
}

#[test]
fn the_adaptive_policy_finds_the_knee_and_follows_it_down_and_up() {
    use pool_runtime::{AdaptiveSettings, ScalePolicy};
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(64)
        .size(4)
        .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::default()))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let at_16 = drive_adaptive(&pool, &clock, 16, 400);
    assert!((14..=24).contains(&at_16), "near the knee of 16: {at_16}");
    let at_4 = drive_adaptive(&pool, &clock, 4, 200);
    assert!(
        (3..=7).contains(&at_4),
        "follows the capacity down to 4: {at_4}"
    );
    let back = drive_adaptive(&pool, &clock, 16, 400);
    assert!((14..=24).contains(&back), "and back up: {back}");
    assert_eq!(pool.stats().running, 0);
}

/// An admission timeout is time spent in the pool's own queue: it says
/// nothing about the server, and a lower limit would only make the queue
/// longer. Calls that time out waiting must not move an adaptive limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_timeouts_are_not_overload_for_the_adaptive_policy() {
    use pool_runtime::{AdaptiveSettings, Rejected, ScalePolicy};
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(64)
        .size(2)
        .admission_timeout(Duration::from_millis(5))
        .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::default()))
        .build()
        .unwrap();
    let gate = tokio::sync::Semaphore::new(0);
    let hold = || async {
        let _ = gate.acquire().await;
    };
    let held = futures::future::join(pool.submit(hold()), pool.submit(hold()));
    let driver = async {
        while pool.stats().running < 2 {
            tokio::task::yield_now().await;
        }
        // Well past a window's time and samples, all of them admission timeouts.
        let started = std::time::Instant::now();
        let mut timed_out = 0;
        // (Counted and timed both: Miri runs far slower than real time.)
        while timed_out < 40 || started.elapsed() < Duration::from_millis(400) {
            let calls = (0..8).map(|_| pool.submit(async {}));
            for result in futures::future::join_all(calls).await {
                assert_eq!(result, Err(Rejected::TimedOut));
                timed_out += 1;
            }
        }
        assert_eq!(pool.size(), 2, "the limit did not move");
        gate.add_permits(2);
    };
    let ((a, b), ()) = futures::future::join(held, driver).await;
    assert!(a.is_ok() && b.is_ok());
}
