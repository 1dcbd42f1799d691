//! Hostile acceptance tests, round 5: permits, streams, sync and blocking
//! callers, lifecycle races and edge values, each written from a promise of
//! the README or the rustdoc (quoted above each test) and counted from
//! outside the library where it can be.

mod common;

use common::*;
use pool_runtime::{Kind, ManualClock, Pool, Rejected};
use std::sync::Arc;
use std::time::Duration;

// ---- shutdown ----------------------------------------------------------------

/// Promise (`Pool::shutdown`): "if the pool has not drained by then, the
/// calls still waiting are turned away (like `abort`) ... and the error says
/// how many of each there were"; "Errors: `ShutdownTimedOut`: the deadline
/// passed before the pool drained". Catches: a pool with nothing running
/// but calls waiting (scaled to 0) reported as drained in time (`Ok`) while
/// its waiting calls were turned away.
#[test]
fn shutdown_that_turns_waiting_calls_away_reports_it_even_with_nothing_running() {
    let pool = Pool::fixed(1);
    assert_eq!(pool.resize(0), 0);
    let mut a = Task::new(pool.submit(async { 1 }));
    let mut b = Task::new(pool.acquire());
    a.assert_pending();
    assert!(b.poll().is_pending());
    assert_eq!(pool.stats().waiting, 2);
    let out = within(Duration::from_secs(5), {
        let pool = pool.clone();
        move || futures::executor::block_on(pool.shutdown(Some(Duration::from_millis(20))))
    });
    assert_eq!(a.assert_ready(), Err(Rejected::Closed));
    assert!(matches!(b.assert_ready(), Err(Rejected::Closed)));
    let report = out.expect_err("two waiting calls were turned away: the pool did not drain");
    assert_eq!(
        (report.running, report.nested, report.turned_away),
        (0, 0, 2)
    );
    assert!(report.to_string().contains("2 waiting call(s) turned away"));
    let s = pool.stats();
    assert_eq!(s.rejected_for(Rejected::Closed), 2, "{s:?}");
    assert_accounted(&s);

    // Drained in time, nothing turned away: `Ok`.
    let pool = Pool::fixed(1);
    let permit = pool.try_acquire().unwrap();
    let mut shutdown = Task::new(pool.shutdown(Some(Duration::from_secs(30))));
    shutdown.assert_pending();
    drop(permit);
    assert_eq!(shutdown.assert_ready(), Ok(()));
}

// ---- reentrancy under close --------------------------------------------------

/// Promise (README, *Reentrancy rule*): "only one nested call at a time uses
/// a parent's slot; the others wait, in the queue, for a free slot or for
/// that slot to come back (a paused or closed pool or a full waiting bound
/// does not turn them away: they belong to admitted work; `abort` turns
/// them away with `Closed`)". Catches: a nested call (or permit) that finds
/// its parent's slot lent to a sibling on a closed pool turned away with
/// `Closed` instead of waiting for the slot to come back.
#[test]
fn a_closed_pool_lets_nested_calls_wait_for_their_parents_slot() {
    let pool = Pool::fixed(1);
    let meter = Meter::default();
    let (p, m) = (pool.clone(), meter.clone());
    let out = within(Duration::from_secs(10), move || {
        futures::executor::block_on(p.submit(async {
            let first = p.submit(async {
                let _inside = m.enter();
                yield_now().await;
                yield_now().await;
                1
            });
            let second = async {
                p.close();
                let out = p.submit(async {
                    let _inside = m.enter();
                    2
                });
                out.await
            };
            let third = async {
                let permit = p.acquire().await;
                let _inside = m.enter();
                permit.map(drop)
            };
            futures::join!(first, second, third)
        }))
    });
    assert_eq!(out, Ok((Ok(1), Ok(2), Ok(()))));
    assert_eq!(meter.max(), 1, "one body at a time in a pool of one");
    let s = pool.stats();
    assert_eq!((s.completed, s.rejected_total()), (4, 0), "{s:?}");
    assert_accounted(&s);
    // Top-level calls are still turned away.
    assert_eq!(
        futures::executor::block_on(pool.submit(async {})),
        Err(Rejected::Closed)
    );

    // `abort` does turn a waiting nested call away.
    let pool = Pool::fixed(1);
    let p = pool.clone();
    let out = within(Duration::from_secs(10), move || {
        futures::executor::block_on(p.submit(async {
            let first = p.submit(async {
                yield_now().await;
                yield_now().await;
                1
            });
            let second = async {
                let mut waiting = Box::pin(p.submit(async { 2 }));
                assert!(futures::poll!(waiting.as_mut()).is_pending());
                p.abort();
                waiting.await
            };
            futures::join!(first, second)
        }))
    });
    assert_eq!(out, Ok((Ok(1), Err(Rejected::Closed))));
    assert_accounted(&pool.stats());
}

// ---- zero values: an autoscaled pool with `min = 0` -----------------------------

/// Promise (README): "Bad input is an error value, never a panic, an overflow
/// or a freeze"; the autoscaler needs no background thread because "demand
/// ... is sampled at intake and release events" and "every interval the limit
/// grows toward the mean demand". `min = 0` is accepted (`0..=max`). Catches:
/// an autoscaled pool with `min = 0` starting at 0 slots, or shrinking itself
/// to 0 when idle: with nothing running there is no release event, so a lone
/// call waits for good, however much time passes.
#[test]
fn an_autoscaled_pool_with_min_zero_never_leaves_a_lone_call_waiting_for_good() {
    let clock = ManualClock::new();
    let interval = Duration::from_secs(10);
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(0)
        .max(4)
        .autoscale_interval(interval)
        .autoscale_window(4)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    assert_eq!(pool.bounds(), (0, 4));
    // A lone call on the new pool runs.
    let mut first = Task::new(pool.submit(async { 1 }));
    assert_eq!(
        first.poll(),
        std::task::Poll::Ready(Ok(1)),
        "{:?}",
        pool.stats()
    );
    // Idle for many intervals, with events to evaluate at: it shrinks, but
    // not to 0.
    for _ in 0..10 {
        clock.advance(interval);
        let mut event = Task::new(pool.submit(async {}));
        assert!(event.poll().is_ready(), "{:?}", pool.stats());
    }
    assert!(pool.size() >= 1, "{:?}", pool.stats());
    // A lone call after the idle spell runs too.
    clock.advance(interval * 3);
    let mut lone = Task::new(pool.submit(async { 2 }));
    assert_eq!(
        lone.poll(),
        std::task::Poll::Ready(Ok(2)),
        "{:?}",
        pool.stats()
    );
    assert_accounted(&pool.stats());

    // Resized to 0 by hand it holds its queue (as a fixed pool does), and a
    // resize lets the call in.
    assert_eq!(pool.resize(0), 0);
    let mut held = Task::new(pool.submit(async { 3 }));
    held.assert_pending();
    assert_eq!(pool.resize(1), 1);
    assert!(held.is_woken());
    assert_eq!(held.assert_ready(), Ok(3));
    assert_accounted(&pool.stats());
}
