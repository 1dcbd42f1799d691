//! Pause/resume, bound on waiting calls, admission timeouts, close, abort,
//! shutdown, scoped, and the accounting of each.

mod common;

use common::{gate, Task};
use pool_runtime::{Pool, Rejected};
use std::sync::atomic::Ordering;
use std::time::Duration;

#[test]
fn a_paused_pool_rejects_new_calls_but_keeps_admitting_queued_ones() {
    let pool = Pool::fixed(1);
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    let mut queued = Task::new(pool.submit(async { "queued" }));
    queued.assert_pending();
    pool.pause();
    assert!(pool.is_paused());
    assert_eq!(
        Task::new(pool.submit(async {})).assert_ready(),
        Err(Rejected::Paused)
    );
    assert_eq!(pool.run(|| ()), Err(Rejected::Paused));
    open.store(true, Ordering::SeqCst);
    holder.assert_ready().unwrap();
    assert_eq!(
        queued.assert_ready(),
        Ok("queued"),
        "queued calls are not lost"
    );
    pool.resume();
    assert_eq!(Task::new(pool.submit(async { 1 })).assert_ready(), Ok(1));
    let stats = pool.stats();
    assert_eq!(stats.rejected_for(Rejected::Paused), 2);
    assert_eq!((stats.completed, stats.submitted()), (3, 5));
}

#[test]
fn past_the_waiting_bound_calls_are_rejected_as_full() {
    let pool = Pool::builder().size(1).max_waiting(2).build().unwrap();
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    let mut waiting: Vec<_> = (0..2)
        .map(|i| Task::new(pool.submit(async move { i })))
        .collect();
    for w in &mut waiting {
        w.assert_pending();
    }
    assert_eq!(
        Task::new(pool.submit(async { 9 })).assert_ready(),
        Err(Rejected::Full)
    );
    drop(waiting.pop());
    let mut third = Task::new(pool.submit(async { 2 }));
    third.assert_pending();
    open.store(true, Ordering::SeqCst);
    holder.assert_ready().unwrap();
    assert_eq!(waiting[0].assert_ready(), Ok(0));
    assert_eq!(third.assert_ready(), Ok(2));
    let stats = pool.stats();
    assert_eq!(
        (
            stats.rejected_for(Rejected::Full),
            stats.cancelled,
            stats.completed
        ),
        (1, 1, 3)
    );
}

#[test]
fn max_waiting_zero_means_run_now_or_be_turned_away() {
    let pool = Pool::builder().size(1).max_waiting(0).build().unwrap();
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    assert_eq!(pool.run(|| ()), Err(Rejected::Full));
    open.store(true, Ordering::SeqCst);
    holder.assert_ready().unwrap();
    assert_eq!(pool.run(|| 5), Ok(5));
}

/// A pool on tokio's clock follows its paused time: needs the `tokio` feature.
#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn admission_timeout_rejects_a_call_that_waited_too_long_on_tokio_time() {
    let pool = Pool::builder()
        .size(1)
        .clock(std::sync::Arc::new(pool_runtime::TokioClock::new()))
        .admission_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    let started = tokio::time::Instant::now();
    assert_eq!(pool.submit(async {}).await, Err(Rejected::TimedOut));
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(pool.stats().waiting, 0, "the timed-out call left the queue");
    open.store(true, Ordering::SeqCst);
    holder.assert_ready().unwrap();
    assert_eq!(
        pool.submit(async { 3 }).await,
        Ok(3),
        "a free slot does not time out"
    );
    assert_eq!(pool.stats().rejected_for(Rejected::TimedOut), 1);
}

#[test]
fn admission_timeout_works_without_a_runtime_for_async_and_sync_callers() {
    let pool = Pool::builder()
        .size(1)
        .admission_timeout(Duration::from_millis(20))
        .build()
        .unwrap();
    let (held, _open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    assert_eq!(
        futures::executor::block_on(pool.submit(async {})),
        Err(Rejected::TimedOut)
    );
    assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut));
    let stats = pool.stats();
    assert_eq!(
        (stats.rejected_for(Rejected::TimedOut), stats.waiting),
        (2, 0)
    );
}

#[test]
fn close_rejects_new_calls_and_lets_queued_and_running_ones_finish() {
    let pool = Pool::fixed(1);
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    let mut queued = Task::new(pool.submit(async { "queued" }));
    queued.assert_pending();
    let mut drained = Task::new(pool.drained());
    drained.assert_pending();
    pool.close();
    assert!(pool.is_closed());
    assert_eq!(
        Task::new(pool.submit(async {})).assert_ready(),
        Err(Rejected::Closed)
    );
    drained.assert_pending();
    open.store(true, Ordering::SeqCst);
    holder.assert_ready().unwrap();
    drained.assert_pending();
    assert_eq!(queued.assert_ready(), Ok("queued"));
    assert!(drained.is_woken());
    drained.assert_ready();
    let stats = pool.stats();
    assert_eq!(
        (stats.completed, stats.rejected_for(Rejected::Closed)),
        (2, 1)
    );
}

#[test]
fn abort_rejects_every_waiting_call_at_once() {
    let pool = Pool::fixed(1);
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    let mut queued: Vec<_> = (0..40)
        .map(|i| Task::new(pool.submit(async move { i })))
        .collect();
    for q in &mut queued {
        q.assert_pending();
    }
    pool.abort();
    for q in &mut queued {
        assert!(q.is_woken());
        assert_eq!(q.assert_ready(), Err(Rejected::Closed));
    }
    assert_eq!(pool.stats().waiting, 0);
    open.store(true, Ordering::SeqCst);
    assert_eq!(holder.assert_ready(), Ok(()), "running work finishes");
    let stats = pool.stats();
    assert_eq!(
        (stats.completed, stats.rejected_total(), stats.submitted()),
        (1, 40, 41)
    );
}

/// Follows tokio's (paused) clock: needs the `tokio` feature.
#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn shutdown_with_timeout_returns_at_the_deadline_and_reports_what_still_runs() {
    let pool = Pool::builder()
        .size(1)
        .clock(std::sync::Arc::new(pool_runtime::TokioClock::new()))
        .build()
        .unwrap();
    let slow = tokio::spawn({
        let pool = pool.clone();
        async move {
            pool.submit(tokio::time::sleep(Duration::from_secs(10)))
                .await
        }
    });
    tokio::task::yield_now().await;
    let queued = tokio::spawn({
        let pool = pool.clone();
        async move { pool.submit(async { 1 }).await }
    });
    tokio::task::yield_now().await;
    assert_eq!(pool.stats().waiting, 1);
    let started = tokio::time::Instant::now();
    let report = pool
        .shutdown(Some(Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert_eq!(
        (report.running, report.nested, report.turned_away),
        (1, 0, 1)
    );
    assert!(
        report.to_string().contains("1 call(s) still running"),
        "{report}"
    );
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(1),
        "returned at the deadline"
    );
    assert_eq!(queued.await.unwrap(), Err(Rejected::Closed));
    pool.drained().await;
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(10),
        "the running call finished"
    );
    assert_eq!(slow.await.unwrap(), Ok(()));
    assert_eq!(
        Pool::fixed(1).shutdown(Some(Duration::from_secs(1))).await,
        Ok(()),
        "idle pool drains at once"
    );
}

#[tokio::test]
async fn shutdown_returns_by_its_deadline_even_if_a_call_never_finishes() {
    let pool = Pool::fixed(1);
    let stuck = tokio::spawn({
        let pool = pool.clone();
        async move { pool.submit(std::future::pending::<()>()).await }
    });
    while pool.stats().running == 0 {
        tokio::task::yield_now().await;
    }
    let returned = tokio::time::timeout(
        Duration::from_secs(10),
        pool.shutdown(Some(Duration::from_millis(50))),
    )
    .await
    .expect("shutdown returned by its deadline");
    assert_eq!(returned.unwrap_err().running, 1);
    stuck.abort();
    pool.drained().await;
    assert_eq!(pool.stats().cancelled, 1);
}

#[tokio::test]
async fn scoped_runs_the_body_then_closes_and_drains() {
    let pool = Pool::fixed(2);
    let handle = pool.clone();
    let sum = pool
        .scoped(|pool| async move {
            let calls = (1..=10).map(|i| pool.submit(async move { i }));
            futures::future::join_all(calls)
                .await
                .into_iter()
                .map(Result::unwrap)
                .sum::<i32>()
        })
        .await;
    assert_eq!(sum, 55);
    assert!(handle.is_closed());
    assert_eq!(handle.submit(async {}).await, Err(Rejected::Closed));
}

#[test]
fn a_closed_group_still_admits_its_never_rejecting_calls_in_order_and_within_its_limit() {
    use pool_runtime::{Group, GroupSpec};
    static CLOSED_GROUP: Group = Group::new(GroupSpec::new("lifecycle::closed_group").size(1));
    let (hold, open) = gate();
    let mut holder = Task::new(CLOSED_GROUP.submit_wait(0, hold));
    holder.assert_pending();
    let mut queued = Task::new(CLOSED_GROUP.submit_wait(0, async { "queued" }));
    queued.assert_pending();
    CLOSED_GROUP.pool().abort();
    // A call that can be turned away is; the never-rejecting ones are not.
    assert_eq!(
        Task::new(CLOSED_GROUP.submit(0, async {})).assert_ready(),
        Err(Rejected::Closed)
    );
    let mut late = Task::new(CLOSED_GROUP.submit_wait(0, async { "late" }));
    late.assert_pending();
    assert_eq!(CLOSED_GROUP.stats().running, 1, "still within the limit");
    open.store(true, std::sync::atomic::Ordering::SeqCst);
    holder.assert_ready();
    assert!(queued.is_woken());
    assert_eq!(queued.assert_ready(), "queued");
    assert_eq!(late.assert_ready(), "late");
    assert_eq!(CLOSED_GROUP.run_wait(0, || "sync"), "sync");
    let s = CLOSED_GROUP.stats();
    assert_eq!(
        (s.completed, s.rejected_total(), s.running, s.waiting),
        (4, 1, 0, 0)
    );
}
