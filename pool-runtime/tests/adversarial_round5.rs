//! Hostile acceptance tests, round 5: permits, streams, sync and blocking
//! callers, lifecycle races and edge values, each written from a promise of
//! the README or the rustdoc (quoted above each test) and counted from
//! outside the library where it can be.

mod common;

use common::*;
use pool_runtime::{Pool, Rejected};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on a thread of its own and returns its result, failing (instead
/// of hanging the suite) if it takes longer than `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(out)) => out,
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        Err(_) => panic!("hung: no answer within {limit:?}"),
    }
}

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
