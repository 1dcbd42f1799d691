//! Acceptance tests, round 28 (runtime): the task-pool API's lifecycle and
//! accounting on all six pools (a call never polled, `try_acquire` on a
//! full pool, `abort`, `close` and `pause` with a queue, `drained`,
//! `shutdown`'s report, `scoped`'s early ends, a permit dropped while
//! unwinding, a lowered waiting bound), sync, permit and async callers in
//! one queue, and the integrations (tower's reservation and clones, a
//! stream's pull bound). Concurrency is counted from outside the library
//! (a meter guard entered at a body's start and dropped before the body's
//! slot is released); waits are bounded only to turn a hang into a failure.
#![cfg(not(miri))]

mod common;

use common::{assert_accounted, gate, within, Meter, Task};
use pool_runtime::{Kind, ManualClock, Order, Pool, Rejected};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(20);

/// The six pools, each with `size` slots; the autoscaled ones between 1 and
/// 8 on a manual clock that never moves (so nothing rescales them).
fn six(size: usize) -> Vec<(String, Pool)> {
    let mut pools = Vec::new();
    for kind in [Kind::Fixed, Kind::Autoscale] {
        for order in [Order::Fifo, Order::Lifo, Order::Priority] {
            let builder = Pool::builder()
                .kind(kind)
                .order(order)
                .clock(ManualClock::new());
            let builder = if kind == Kind::Fixed {
                builder.size(size)
            } else {
                builder.min(1).max(8).size(size)
            };
            pools.push((format!("{kind:?}/{order:?}"), builder.build().unwrap()));
        }
    }
    pools
}

/// The order the weights 5, 1, 3 (queued in that order) are admitted in.
fn expected(order: Order) -> Vec<i64> {
    match order {
        Order::Fifo => vec![5, 1, 3],
        Order::Lifo => vec![3, 1, 5],
        Order::Priority => vec![1, 3, 5],
    }
}

fn poll_all<F: std::future::Future>(tasks: &mut [Task<F>]) {
    for task in tasks.iter_mut() {
        let _ = task.poll();
    }
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < BOUND, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ---- a call is submitted when it is first polled ---------------------------

/// README, "Accounting": "A call is submitted when it is first polled." A
/// call built and dropped unpolled is no call: not submitted, not cancelled,
/// on every form that returns a future.
#[test]
fn a_call_never_polled_is_neither_submitted_nor_cancelled() {
    for (name, pool) in six(2) {
        drop(pool.submit(async {}));
        drop(pool.submit_weighted(3, async {}));
        drop(pool.acquire());
        drop(pool.acquire_weighted(1));
        drop(pool.acquire_owned(1));
        drop(pool.submit_blocking(|| ()));
        let stats = pool.stats();
        assert_eq!(stats.submitted(), 0, "{name}: {stats:?}");
        assert_eq!(stats.cancelled, 0, "{name}: {stats:?}");
        assert_eq!(stats.completed, 0, "{name}: {stats:?}");
        assert_accounted(&stats);
        // And the pool is untouched: both slots are still free.
        let a = pool.try_acquire().unwrap();
        let b = pool.try_acquire().unwrap();
        drop((a, b));
        assert_eq!(pool.stats().completed, 2, "{name}");
    }
}

// ---- try_acquire ------------------------------------------------------------

/// `Pool::try_acquire`: "[`Rejected::Full`] if no slot is free (as if no
/// call could wait), otherwise as `submit` (paused, closed)", and the
/// permit module: "same order, same rejections, same accounting". A refused
/// try is one submitted call, rejected `Full`, and never takes the slot a
/// queued call is owed.
#[test]
fn try_acquire_on_a_full_pool_is_one_full_rejection_and_never_takes_a_queued_calls_slot() {
    for (name, pool) in six(1) {
        let held = pool.try_acquire().unwrap();
        let mut queued = Task::new(pool.submit(async { 7 }));
        queued.assert_pending();
        assert!(
            matches!(pool.try_acquire(), Err(Rejected::Full)),
            "{name}: a full pool refuses a try"
        );
        let stats = pool.stats();
        assert_eq!(stats.rejected_for(Rejected::Full), 1, "{name}: {stats:?}");
        assert_eq!(stats.submitted(), 3, "{name}: {stats:?}");
        assert_accounted(&stats);
        drop(held);
        // The freed slot went to the queued call: a try now finds none.
        assert!(queued.is_woken(), "{name}: the waiter is woken");
        assert!(
            matches!(pool.try_acquire_owned(0), Err(Rejected::Full)),
            "{name}: a try overtook the queued call"
        );
        assert_eq!(queued.assert_ready(), Ok(7), "{name}");
        pool.pause();
        assert!(
            matches!(pool.try_acquire(), Err(Rejected::Paused)),
            "{name}"
        );
        pool.resume();
        pool.close();
        assert!(
            matches!(pool.try_acquire(), Err(Rejected::Closed)),
            "{name}"
        );
        let stats = pool.stats();
        assert_eq!(stats.rejected_for(Rejected::Full), 2, "{name}: {stats:?}");
        assert_eq!(stats.rejected_for(Rejected::Paused), 1, "{name}: {stats:?}");
        assert_eq!(stats.rejected_for(Rejected::Closed), 1, "{name}: {stats:?}");
        assert_eq!(stats.completed, 2, "{name}: {stats:?}");
        assert_eq!(stats.submitted(), 6, "{name}: {stats:?}");
        assert_accounted(&stats);
    }
}

// ---- abort, close, pause with a queue -------------------------------------

/// `Pool::abort`: "Closes the pool and rejects every waiting call at once
/// with `Rejected::Closed` ...; running calls finish." Each refusal is
/// counted as a rejection for `Closed`; the running calls complete.
#[test]
fn abort_turns_every_waiter_away_as_closed_and_lets_the_running_ones_finish() {
    for (name, pool) in six(2) {
        let (g1, open1) = gate();
        let (g2, open2) = gate();
        let mut running = [Task::new(pool.submit(g1)), Task::new(pool.submit(g2))];
        for task in &mut running {
            task.assert_pending();
        }
        let mut waiting: Vec<_> = (0..3)
            .map(|w| Task::new(pool.submit_weighted(w, async {})))
            .collect();
        for task in &mut waiting {
            task.assert_pending();
        }
        assert_eq!(pool.stats().waiting, 3, "{name}");
        pool.abort();
        assert!(pool.is_closed(), "{name}");
        for task in &mut waiting {
            assert!(task.is_woken(), "{name}: a turned-away waiter is woken");
            assert_eq!(task.assert_ready(), Err(Rejected::Closed), "{name}");
        }
        let stats = pool.stats();
        assert_eq!(stats.rejected_for(Rejected::Closed), 3, "{name}: {stats:?}");
        assert_eq!((stats.running, stats.waiting), (2, 0), "{name}: {stats:?}");
        assert_accounted(&stats);
        open1.store(true, Ordering::SeqCst);
        open2.store(true, Ordering::SeqCst);
        for task in &mut running {
            assert_eq!(task.assert_ready(), Ok(()), "{name}");
        }
        let mut drained = Task::new(pool.drained());
        assert_eq!(drained.assert_ready(), (), "{name}");
        let stats = pool.stats();
        assert_eq!(stats.completed, 2, "{name}: {stats:?}");
        assert_eq!(stats.cancelled, 0, "{name}: {stats:?}");
        assert_eq!(stats.submitted(), 5, "{name}: {stats:?}");
        assert_accounted(&stats);
    }
}

/// `Pool::close`: "new calls are rejected with `Rejected::Closed`; waiting
/// and running calls finish", and `Pool::pause`: "Calls already waiting or
/// running are not affected and keep being admitted." Both, on the six
/// pools: the queue is admitted in the pool's order, one at a time (a pool
/// of one, counted from outside), while new calls are turned away.
#[test]
fn close_and_pause_admit_the_queue_in_the_pools_order_and_turn_new_calls_away() {
    for stop in ["close", "pause"] {
        for (name, pool) in six(1) {
            let meter = Meter::default();
            let order = Arc::new(Mutex::new(Vec::new()));
            let (g, open) = gate();
            let m = meter.clone();
            let mut holder = Task::new(pool.submit(async move {
                let _inside = m.enter();
                g.await;
            }));
            holder.assert_pending();
            let mut waiting: Vec<_> = [5i64, 1, 3]
                .into_iter()
                .map(|w| {
                    let (m, order) = (meter.clone(), order.clone());
                    Task::new(pool.submit_weighted(w, async move {
                        let _inside = m.enter();
                        order.lock().unwrap().push(w);
                        common::yield_now().await;
                    }))
                })
                .collect();
            for task in &mut waiting {
                task.assert_pending();
            }
            let expected_reason = if stop == "close" {
                pool.close();
                Rejected::Closed
            } else {
                pool.pause();
                Rejected::Paused
            };
            let mut late = Task::new(pool.submit(async {}));
            assert_eq!(late.assert_ready(), Err(expected_reason), "{name} {stop}");
            open.store(true, Ordering::SeqCst);
            assert_eq!(holder.assert_ready(), Ok(()), "{name} {stop}");
            // Drive the queue: poll whichever task is woken until all end.
            let mut done = [false; 3];
            for _ in 0..100 {
                for (i, task) in waiting.iter_mut().enumerate() {
                    if !done[i] && task.poll().is_ready() {
                        done[i] = true;
                    }
                }
                if done.iter().all(|d| *d) {
                    break;
                }
            }
            assert!(done.iter().all(|d| *d), "{name} {stop}: the queue stalled");
            assert_eq!(
                *order.lock().unwrap(),
                expected(order_of(&name)),
                "{name} {stop}"
            );
            assert_eq!(meter.max(), 1, "{name} {stop}: the limit of 1 was exceeded");
            let stats = pool.stats();
            assert_eq!(stats.completed, 4, "{name} {stop}: {stats:?}");
            assert_eq!(stats.rejected_for(expected_reason), 1, "{name} {stop}");
            assert_accounted(&stats);
        }
    }
}

/// `Pool::drained`: "Resolves once the pool is closed and nothing is
/// waiting or running. (On an open pool it waits for `close` first.)"
#[test]
fn drained_on_an_idle_open_pool_waits_for_close_and_then_for_the_last_call() {
    for (name, pool) in six(1) {
        let mut drained = Task::new(pool.drained());
        drained.assert_pending();
        let (g, open) = gate();
        let mut running = Task::new(pool.submit(g));
        running.assert_pending();
        let mut waiting = Task::new(pool.submit(async {}));
        waiting.assert_pending();
        pool.close();
        assert!(
            drained.poll().is_pending(),
            "{name}: drained with calls still in the pool"
        );
        open.store(true, Ordering::SeqCst);
        assert_eq!(running.assert_ready(), Ok(()), "{name}");
        assert!(
            drained.poll().is_pending(),
            "{name}: drained with a call still waiting"
        );
        assert_eq!(waiting.assert_ready(), Ok(()), "{name}");
        assert!(drained.is_woken(), "{name}: the drained wait is woken");
        assert_eq!(drained.assert_ready(), (), "{name}");
    }
}

/// `Pool::shutdown(Some(timeout))` returns by its deadline: "the calls
/// still waiting are turned away ..., the ones still running are left to
/// finish ..., and the error says how many of each there were."
#[tokio::test(start_paused = true)]
async fn shutdown_past_its_deadline_says_how_many_ran_and_how_many_were_turned_away() {
    let pool = Pool::builder()
        .size(2)
        .clock(pool_runtime::TokioClock::new())
        .build()
        .unwrap();
    let meter = Meter::default();
    let (release, released) = tokio::sync::watch::channel(false);
    let mut handles = Vec::new();
    for _ in 0..5 {
        let (pool, meter, mut released) = (pool.clone(), meter.clone(), released.clone());
        handles.push(tokio::spawn(async move {
            pool.submit(async move {
                let _inside = meter.enter();
                let _ = released.wait_for(|r| *r).await;
            })
            .await
        }));
    }
    while pool.stats().waiting != 3 {
        tokio::task::yield_now().await;
    }
    let started = tokio::time::Instant::now();
    let err = pool
        .shutdown(Some(Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(1),
        "returns by its deadline"
    );
    assert_eq!(
        (err.running, err.nested, err.turned_away, err.waiting),
        (2, 0, 3, 0),
        "{err:?}"
    );
    assert_eq!(meter.now(), 2, "running calls are never interrupted");
    release.send(true).unwrap();
    let mut outcomes = Vec::new();
    for handle in handles {
        outcomes.push(handle.await.unwrap());
    }
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        2,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Err(Rejected::Closed))
            .count(),
        3,
        "{outcomes:?}"
    );
    pool.drained().await;
    assert_eq!(meter.max(), 2);
    let stats = pool.stats();
    assert_eq!(stats.rejected_for(Rejected::Closed), 3, "{stats:?}");
    assert_accounted(&stats);
}

/// `Pool::scoped`: "The pool is closed however the scope ends: if `body`
/// panics, or the returned future is dropped before it completes, the pool
/// is closed then (new calls through any clone of the handle are
/// `Rejected::Closed`)".
#[test]
fn a_scope_that_panics_or_is_dropped_closes_its_pool() {
    common::quiet_planned_panics();
    let pool = Pool::fixed(2);
    let handle = pool.clone();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures::executor::block_on(pool.scoped(|p| async move {
            p.submit(async {}).await.unwrap();
            panic!("planned: the scope's body panics");
        }))
    }));
    assert!(outcome.is_err());
    assert!(handle.is_closed(), "a panicking scope left its pool open");
    assert_eq!(
        futures::executor::block_on(handle.submit(async {})),
        Err(Rejected::Closed)
    );

    let pool = Pool::fixed(2);
    let handle = pool.clone();
    let (g, _open) = gate();
    let mut scope = Task::new(pool.scoped(|p| async move {
        p.submit(g).await.unwrap();
    }));
    scope.assert_pending();
    assert_eq!(handle.stats().running, 1);
    drop(scope);
    assert!(handle.is_closed(), "a dropped scope left its pool open");
    let stats = handle.stats();
    assert_eq!((stats.running, stats.cancelled), (0, 1), "{stats:?}");
    assert_accounted(&stats);
}

/// README's table: "`pool.scoped(|p| async move { .. }).await` closes and
/// drains at the end": a call spawned in the scope and still running when
/// the body returns is waited for.
#[tokio::test(start_paused = true)]
async fn a_scope_waits_for_a_call_spawned_in_it_that_outlives_its_body() {
    let meter = Meter::default();
    let m = meter.clone();
    let handle = Pool::fixed(2)
        .scoped(|p| async move {
            let h = p.spawn(m.body(500)).unwrap();
            tokio::task::yield_now().await;
            (p, h)
        })
        .await;
    let (pool, h) = handle;
    assert_eq!(
        meter.done(),
        1,
        "the scope returned before its spawned call ended"
    );
    assert!(pool.is_closed());
    assert_eq!(h.await, Ok(()));
    assert_accounted(&pool.stats());
}

// ---- permits ----------------------------------------------------------------

/// `Permit`: "Dropping it ends that call: counted as completed (as panicked
/// if dropped while its thread unwinds)". Both kinds of permit.
#[test]
fn a_permit_dropped_while_its_thread_unwinds_ends_as_a_panicked_call() {
    common::quiet_planned_panics();
    for (name, pool) in six(1) {
        let p = pool.clone();
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _permit = p.try_acquire().unwrap();
            panic!("planned: unwinding with a permit");
        }));
        assert!(out.is_err());
        let p = pool.clone();
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _permit = futures::executor::block_on(p.acquire_owned(0)).unwrap();
            panic!("planned: unwinding with an owned permit");
        }));
        assert!(out.is_err());
        let normal = pool.try_acquire().unwrap();
        drop(normal);
        let stats = pool.stats();
        assert_eq!(stats.completed, 3, "{name}: {stats:?}");
        assert_eq!(stats.panicked, 2, "{name}: {stats:?}");
        assert_eq!(stats.running, 0, "{name}: the slot was freed: {stats:?}");
        assert_accounted(&stats);
    }
}

/// The permit module: "A permit is admitted by the same pipeline as every
/// call: same order, same rejections, same accounting". README: "sync and
/// blocking callers in the same queue". Sync callers (`run_weighted`),
/// permits (`acquire_weighted`, `acquire_owned`) and async calls
/// (`submit_weighted`), each on a thread of its own and queued in turn,
/// are admitted in the pool's order, one at a time.
#[test]
fn sync_calls_permits_and_async_calls_share_one_queue_and_its_order() {
    for (name, pool) in six(1) {
        let pool_order = order_of(&name);
        let name2 = name.clone();
        within(BOUND, move || {
            let name = name2;
            let meter = Meter::default();
            let order = Arc::new(Mutex::new(Vec::new()));
            let held = pool.try_acquire_owned(0).unwrap();
            // weights in queueing order, and the form each one uses
            let forms: [(i64, &str); 4] = [(5, "run"), (1, "permit"), (3, "owned"), (2, "submit")];
            let mut threads = Vec::new();
            for (i, (w, form)) in forms.into_iter().enumerate() {
                let (caller, meter, order) = (pool.clone(), meter.clone(), order.clone());
                threads.push(std::thread::spawn(move || {
                    let pool = caller;
                    let body = || {
                        let inside = meter.enter();
                        order.lock().unwrap().push(w);
                        std::thread::sleep(Duration::from_millis(2));
                        drop(inside);
                    };
                    match form {
                        "run" => pool.run_weighted(w, body).unwrap(),
                        "permit" => {
                            let permit =
                                futures::executor::block_on(pool.acquire_weighted(w)).unwrap();
                            body();
                            drop(permit);
                        }
                        "owned" => {
                            let permit =
                                futures::executor::block_on(pool.acquire_owned(w)).unwrap();
                            body();
                            drop(permit);
                        }
                        _ => futures::executor::block_on(pool.submit_weighted(w, async {
                            body();
                        }))
                        .unwrap(),
                    }
                }));
                wait_until(&format!("{name}: caller {i} queued"), || {
                    pool.stats().waiting == i + 1
                });
            }
            drop(held);
            for t in threads {
                t.join().unwrap();
            }
            let want = match pool_order {
                Order::Fifo => vec![5, 1, 3, 2],
                Order::Lifo => vec![2, 3, 1, 5],
                Order::Priority => vec![1, 2, 3, 5],
            };
            assert_eq!(*order.lock().unwrap(), want, "{name}");
            assert_eq!(meter.max(), 1, "{name}: the limit of 1 was exceeded");
            let stats = pool.stats();
            assert_eq!(stats.completed, 5, "{name}: {stats:?}");
            assert_accounted(&stats);
        });
    }
}

// ---- waiting bound ------------------------------------------------------------

/// `Pool::set_max_waiting`: "Changes the bound on waiting calls for calls
/// that arrive from now on (calls already waiting keep their place)."
#[test]
fn a_waiting_bound_lowered_below_the_queue_keeps_the_queue_and_refuses_newcomers() {
    for (name, pool) in six(1) {
        let meter = Meter::default();
        let (g, open) = gate();
        let m = meter.clone();
        let mut holder = Task::new(pool.submit(async move {
            let _inside = m.enter();
            g.await
        }));
        holder.assert_pending();
        let mut waiting: Vec<_> = (0..3)
            .map(|w| {
                let m = meter.clone();
                Task::new(pool.submit_weighted(w, async move {
                    let _inside = m.enter();
                }))
            })
            .collect();
        for task in &mut waiting {
            task.assert_pending();
        }
        pool.set_max_waiting(Some(1)).unwrap();
        let mut late = Task::new(pool.submit(async {}));
        assert_eq!(late.assert_ready(), Err(Rejected::Full), "{name}");
        let mut none_late = Task::new(pool.acquire());
        assert!(
            matches!(none_late.assert_ready(), Err(Rejected::Full)),
            "{name}: a permit is refused as a submit is"
        );
        open.store(true, Ordering::SeqCst);
        assert_eq!(holder.assert_ready(), Ok(()), "{name}");
        for _ in 0..3 {
            for task in &mut waiting {
                let _ = task.poll();
            }
        }
        for task in &mut waiting {
            assert!(task.poll().is_ready(), "{name}: a waiting call was lost");
        }
        let stats = pool.stats();
        assert_eq!(stats.completed, 4, "{name}: {stats:?}");
        assert_eq!(stats.rejected_for(Rejected::Full), 2, "{name}: {stats:?}");
        assert_eq!(meter.max(), 1, "{name}");
        assert_accounted(&stats);
        // At the bound again: one waiter fits, the second is refused.
        let mut holder = Task::new(pool.submit(gate().0));
        holder.assert_pending();
        let mut one = Task::new(pool.submit(async {}));
        one.assert_pending();
        let mut two = Task::new(pool.submit(async {}));
        assert_eq!(two.assert_ready(), Err(Rejected::Full), "{name}");
        drop(holder);
        assert_eq!(one.assert_ready(), Ok(()), "{name}");
        assert_accounted(&pool.stats());
    }
}

// ---- scaling ----------------------------------------------------------------

/// README "Limits": "At every admission `running <= limit`, including while
/// scaling down under load: ... the pool just admits nothing until
/// `running < limit`." `Pool::scale`: "Growing admits waiting calls at
/// once." Counted from outside on the six pools: 4 running, scaled to 1,
/// then the queue of 4 drains one at a time; scaled up to 3, three at once.
#[test]
fn a_scale_down_under_load_admits_nothing_until_running_is_below_the_new_limit() {
    for (name, pool) in six(4) {
        let meter = Meter::default();
        let opens: Vec<_> = (0..8).map(|_| gate()).collect();
        let mut tasks: Vec<_> = opens
            .iter()
            .map(|(g, _)| {
                let g = common::Gate(g.0.clone());
                let m = meter.clone();
                Task::new(pool.submit(async move {
                    let _inside = m.enter();
                    g.await
                }))
            })
            .collect();
        for task in &mut tasks {
            task.assert_pending();
        }
        assert_eq!(meter.now(), 4, "{name}");
        assert_eq!(pool.resize(1), 1, "{name}");
        // End the 4 running ones one by one: no waiter may start before the
        // last of them ends.
        for (n, (_, open)) in opens.iter().take(4).enumerate() {
            open.store(true, Ordering::SeqCst);
            poll_all(&mut tasks);
            let want = if n < 3 { 3 - n } else { 1 };
            assert_eq!(
                meter.now(),
                want,
                "{name}: after {} of 4 ended, a waiter started while running >= limit",
                n + 1
            );
        }
        assert_eq!(meter.now(), 1, "{name}: one waiter runs at the new limit");
        assert_eq!(pool.stats().waiting, 3, "{name}");
        assert_eq!(pool.resize(3), 3, "{name}");
        poll_all(&mut tasks);
        assert_eq!(meter.now(), 3, "{name}: growing admits waiters at once");
        assert_eq!(pool.stats().waiting, 1, "{name}");
        for (_, open) in &opens {
            open.store(true, Ordering::SeqCst);
        }
        for _ in 0..4 {
            poll_all(&mut tasks);
        }
        assert_eq!(meter.done(), 8, "{name}");
        assert!(meter.max() <= 4, "{name}: {}", meter.max());
        assert_accounted(&pool.stats());
    }
}

/// `Pool::scale`: "returns the new size, clamped to `[0, MAX_SLOTS]` for
/// fixed pools and `[min, max]` for autoscaled ones"; bad input is never a
/// panic or an overflow (README "Bad input").
#[test]
fn scale_and_resize_clamp_at_both_ends_without_overflow() {
    for (name, pool) in six(2) {
        let (lo, hi) = if name.starts_with("Fixed") {
            (0, pool_runtime::MAX_SLOTS)
        } else {
            (1, 8)
        };
        assert_eq!(pool.scale(isize::MAX), hi, "{name}");
        assert_eq!(pool.scale(isize::MAX), hi, "{name}");
        assert_eq!(pool.scale(isize::MIN), lo, "{name}");
        assert_eq!(pool.scale(isize::MIN), lo, "{name}");
        assert_eq!(pool.resize(usize::MAX), hi, "{name}");
        assert_eq!(pool.resize(0), lo, "{name}");
        assert_eq!(pool.size(), lo, "{name}");
        assert_eq!(pool.stats().size, lo, "{name}");
    }
}

// ---- statistics with an outside count -------------------------------------

/// README "Accounting": "Every term ... is counted on its own", "Panicked
/// calls are counted in `completed` and again in `panicked`". A mixed load
/// on each pool, every outcome counted from outside and compared with the
/// pool's counters one by one.
#[test]
fn every_outcome_of_a_mixed_load_is_counted_once_in_its_own_counter() {
    common::quiet_planned_panics();
    for (name, pool) in six(2) {
        let (mut ok, mut panicked, mut cancelled, mut paused, mut full) = (0u64, 0, 0, 0, 0);
        pool.set_max_waiting(Some(2)).unwrap();
        for round in 0..4i64 {
            // Two running (one will panic), two waiting, one refused Full.
            let (g, open) = gate();
            let mut a = Task::new(pool.submit(g));
            let mut b = Task::new(pool.submit(async move {
                common::yield_now().await;
                if round % 2 == 0 {
                    panic!("planned: a call panics");
                }
            }));
            a.assert_pending();
            b.assert_pending();
            let mut w1 = Task::new(pool.submit_weighted(round, async {}));
            let mut w2 = Task::new(pool.submit_weighted(-round, async {}));
            w1.assert_pending();
            w2.assert_pending();
            let mut refused = Task::new(pool.submit(async {}));
            assert_eq!(refused.assert_ready(), Err(Rejected::Full), "{name}");
            full += 1;
            // b ends (panics or returns)
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.poll()));
            if round % 2 == 0 {
                assert!(out.is_err(), "{name}");
                panicked += 1;
            } else {
                assert!(matches!(out, Ok(std::task::Poll::Ready(Ok(())))), "{name}");
                ok += 1;
            }
            // (A caller that catches the panic holds the call's slot until
            // it drops the call, as unwinding would have.)
            drop(b);
            // one waiter admitted in b's slot; drop both waiters (one running,
            // one waiting): two cancellations
            drop(w1);
            drop(w2);
            cancelled += 2;
            pool.pause();
            let mut p = Task::new(pool.submit(async {}));
            assert_eq!(p.assert_ready(), Err(Rejected::Paused), "{name}");
            paused += 1;
            pool.resume();
            open.store(true, Ordering::SeqCst);
            assert_eq!(a.assert_ready(), Ok(()), "{name}");
            ok += 1;
            let stats = pool.stats();
            assert_eq!(stats.completed, ok + panicked, "{name}: {stats:?}");
            assert_eq!(stats.panicked, panicked, "{name}: {stats:?}");
            assert_eq!(stats.cancelled, cancelled, "{name}: {stats:?}");
            assert_eq!(
                stats.rejected_for(Rejected::Full),
                full,
                "{name}: {stats:?}"
            );
            assert_eq!(
                stats.rejected_for(Rejected::Paused),
                paused,
                "{name}: {stats:?}"
            );
            assert_eq!(
                stats.submitted(),
                ok + panicked + cancelled + full + paused,
                "{name}: {stats:?}"
            );
            assert_eq!(stats.in_flight(), 0, "{name}: {stats:?}");
            assert_accounted(&stats);
        }
    }
}

/// The counter of calls still alive at once, for a stream: items pulled
/// but not yet handed to the consumer.
#[allow(dead_code)]
#[derive(Default)]
struct Alive {
    pulled: AtomicUsize,
    yielded: AtomicUsize,
    max: AtomicUsize,
}

fn order_of(name: &str) -> Order {
    if name.ends_with("Fifo") {
        Order::Fifo
    } else if name.ends_with("Lifo") {
        Order::Lifo
    } else {
        Order::Priority
    }
}

// ---- tower --------------------------------------------------------------------

#[cfg(feature = "tower")]
mod tower_layer {
    use super::*;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use std::future::poll_fn;
    use tower::{service_fn, Layer, Service};

    /// `PooledLayer::weight`: "with a weight function the call waits for its
    /// slot in the response future, in the pool's order ... `poll_ready` is
    /// ready at once". Three requests weighing 5, 1, 3 called while the
    /// only slot is held run in the pool's order, one at a time (counted in
    /// the inner service).
    #[test]
    fn a_weighted_layers_calls_wait_in_their_response_futures_in_the_pools_order() {
        for (name, pool) in six(1) {
            let meter = Meter::default();
            let order = Arc::new(Mutex::new(Vec::new()));
            let (m, o) = (meter.clone(), order.clone());
            let inner = service_fn(move |w: i64| {
                let (m, o) = (m.clone(), o.clone());
                async move {
                    let inside = m.enter();
                    o.lock().unwrap().push(w);
                    common::yield_now().await;
                    drop(inside);
                    Ok::<_, BoxError>(w)
                }
            });
            let mut service = PooledLayer::pool(pool.clone())
                .weight(|w: &i64| *w)
                .layer(inner);
            let held = pool.try_acquire().unwrap();
            let mut responses = Vec::new();
            for w in [5i64, 1, 3] {
                let mut ready = Task::new(poll_fn(|cx| service.poll_ready(cx)));
                assert!(
                    matches!(ready.poll(), std::task::Poll::Ready(Ok(()))),
                    "{name}: poll_ready is ready at once with a weight function"
                );
                drop(ready);
                let mut response = Task::new(service.call(w));
                response.assert_pending();
                responses.push(response);
            }
            assert_eq!(pool.stats().waiting, 3, "{name}: {:?}", pool.stats());
            drop(held);
            let mut outs = vec![None; 3];
            for _ in 0..20 {
                for (i, r) in responses.iter_mut().enumerate() {
                    if outs[i].is_none() {
                        if let std::task::Poll::Ready(out) = r.poll() {
                            outs[i] = Some(out.unwrap());
                        }
                    }
                }
            }
            assert_eq!(outs, [Some(5), Some(1), Some(3)], "{name}");
            assert_eq!(*order.lock().unwrap(), expected(order_of(&name)), "{name}");
            assert_eq!(meter.max(), 1, "{name}: the limit of 1 was exceeded");
            let stats = pool.stats();
            assert_eq!(stats.completed, 4, "{name}: {stats:?}");
            assert_accounted(&stats);
        }
    }

    /// `PooledLayer::weight`: "In `reject` mode nothing waits: `poll_ready`
    /// is the inner service's and `call` takes a slot or fails", and
    /// `reject`: "a call finding no free slot fails at once with
    /// `Rejected::Full`". The refusal is counted once, as `Full`.
    #[test]
    fn a_weighted_layer_in_reject_mode_sheds_in_call_and_counts_it_full() {
        for (name, pool) in six(1) {
            let mut service = PooledLayer::pool(pool.clone())
                .weight(|w: &i64| *w)
                .reject()
                .layer(service_fn(|w: i64| async move { Ok::<_, BoxError>(w) }));
            let held = pool.try_acquire().unwrap();
            let mut ready = Task::new(poll_fn(|cx| service.poll_ready(cx)));
            assert!(
                matches!(ready.poll(), std::task::Poll::Ready(Ok(()))),
                "{name}"
            );
            drop(ready);
            let mut response = Task::new(service.call(4));
            let err = match response.poll() {
                std::task::Poll::Ready(Err(err)) => err,
                other => panic!(
                    "{name}: expected a refusal at once, got {:?}",
                    other.is_ready()
                ),
            };
            assert_eq!(
                err.downcast_ref::<Rejected>(),
                Some(&Rejected::Full),
                "{name}"
            );
            let stats = pool.stats();
            assert_eq!(stats.rejected_for(Rejected::Full), 1, "{name}: {stats:?}");
            assert_eq!(stats.waiting, 0, "{name}: nothing waits: {stats:?}");
            drop(held);
            let mut ready = Task::new(poll_fn(|cx| service.poll_ready(cx)));
            assert!(
                matches!(ready.poll(), std::task::Poll::Ready(Ok(()))),
                "{name}"
            );
            drop(ready);
            let mut response = Task::new(service.call(9));
            assert_eq!(response.assert_ready().unwrap(), 9, "{name}");
            let stats = pool.stats();
            assert_eq!(stats.completed, 2, "{name}: {stats:?}");
            assert_accounted(&stats);
        }
    }

    /// `PooledLayer::constant_weight`: "the slot is reserved in
    /// `poll_ready`. Two layers on one group with different weights rank
    /// urgent traffic before batch traffic." On a priority pool, the urgent
    /// layer's `poll_ready`, queued after the batch one's, is ready first.
    #[test]
    fn constant_weights_rank_reservations_made_in_poll_ready() {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        let ok = || service_fn(|()| async { Ok::<_, BoxError>(()) });
        let mut batch = PooledLayer::pool(pool.clone())
            .constant_weight(10)
            .layer(ok());
        let mut urgent = PooledLayer::pool(pool.clone())
            .constant_weight(0)
            .layer(ok());
        let held = pool.try_acquire().unwrap();
        let mut batch_ready = Task::new(poll_fn(move |cx| {
            let r = batch.poll_ready(cx);
            r.map(|r| r.map(|()| batch.clone()))
        }));
        batch_ready.assert_pending();
        let mut urgent_ready = Task::new(poll_fn(|cx| urgent.poll_ready(cx)));
        urgent_ready.assert_pending();
        drop(held);
        assert!(
            urgent_ready.is_woken(),
            "the urgent reservation is served first"
        );
        assert!(!batch_ready.is_woken(), "the batch reservation waits on");
        assert!(urgent_ready.poll().is_ready());
        drop(urgent_ready);
        let mut response = Task::new(urgent.call(()));
        response.assert_ready().unwrap();
        assert!(
            batch_ready.is_woken(),
            "the slot went to the batch reservation"
        );
        assert!(batch_ready.poll().is_ready());
        assert_accounted(&pool.stats());
    }
}

// ---- stream ---------------------------------------------------------------------

#[cfg(feature = "stream")]
mod stream_adapters {
    use super::*;
    use futures::StreamExt;
    use pool_runtime::PooledStreamExt;

    /// Module docs: "An adapter pulls a future from its stream only while it
    /// holds fewer than `max(1, 2 × size)` of the stream's items" and "The
    /// adapters of `pooled_ordered` count the finished outputs held back for
    /// an earlier item too ... so a slow first item holds at most that many
    /// outputs." Counted from outside: items pulled minus items yielded.
    #[test]
    fn an_ordered_stream_behind_a_slow_first_item_holds_at_most_twice_the_size() {
        for (name, pool) in six(2) {
            let meter = Meter::default();
            let pulled = Arc::new(AtomicUsize::new(0));
            // A gate that wakes its waiter (the adapter repolls woken calls only).
            let (open, g) = futures::channel::oneshot::channel::<()>();
            let first = Arc::new(Mutex::new(Some(g)));
            let (m, p, f) = (meter.clone(), pulled.clone(), first.clone());
            let jobs = futures::stream::iter(0..40usize).map(move |i| {
                p.fetch_add(1, Ordering::SeqCst);
                let (m, gate) = (m.clone(), f.lock().unwrap().take());
                async move {
                    let inside = m.enter();
                    if let Some(gate) = gate {
                        let _ = gate.await;
                    }
                    common::yield_now().await;
                    drop(inside);
                    i
                }
            });
            let mut adapter = Box::pin(jobs.pooled_ordered(&pool));
            let mut yielded = 0usize;
            let mut next = Task::new(poll_fn_next(&mut adapter));
            for _ in 0..20 {
                assert!(next.poll().is_pending(), "{name}: the first item is held");
                let alive = pulled.load(Ordering::SeqCst) - yielded;
                assert!(alive <= 4, "{name}: {alive} items held at once, past 2 x 2");
            }
            assert_eq!(
                pulled.load(Ordering::SeqCst),
                4,
                "{name}: it fills its bound"
            );
            drop(next);
            open.send(()).unwrap();
            let mut outs = Vec::new();
            futures::executor::block_on(async {
                while let Some(out) = adapter.next().await {
                    yielded += 1;
                    let alive = pulled.load(Ordering::SeqCst) - yielded;
                    assert!(alive <= 4, "{name}: {alive} items held at once");
                    outs.push(out.unwrap());
                }
            });
            assert_eq!(outs, (0..40).collect::<Vec<_>>(), "{name}: input order");
            assert!(
                meter.max() <= 2,
                "{name}: {} bodies at once on 2 slots",
                meter.max()
            );
            assert_accounted(&pool.stats());
        }
    }

    /// Module docs: "The bound follows the pool: after a scale-down the
    /// adapter pulls nothing until it is below the new bound". A pool of 4
    /// with 8 items held (4 running, 4 waiting) is resized to 1: the adapter
    /// pulls nothing more until it holds fewer than 2, and never runs more
    /// than the limit in force (counted from outside).
    #[test]
    fn after_a_scale_down_a_stream_pulls_nothing_until_it_is_below_the_new_bound() {
        let pool = Pool::fixed(4);
        let meter = Meter::default();
        let pulled = Arc::new(AtomicUsize::new(0));
        let gates: Arc<Mutex<Vec<futures::channel::oneshot::Sender<()>>>> = Arc::default();
        let (m, p, gs) = (meter.clone(), pulled.clone(), gates.clone());
        let jobs = futures::stream::iter(0..12usize).map(move |i| {
            p.fetch_add(1, Ordering::SeqCst);
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            gs.lock().unwrap().push(tx);
            let m = m.clone();
            async move {
                let inside = m.enter();
                let _ = rx.await;
                drop(inside);
                i
            }
        });
        let mut adapter = Box::pin(jobs.pooled_unordered(&pool));
        let mut yielded = 0usize;
        {
            let mut next = Task::new(poll_fn_next(&mut adapter));
            next.assert_pending();
            assert_eq!(pulled.load(Ordering::SeqCst), 8, "2 x 4 items held");
            assert_eq!(meter.now(), 4);
        }
        assert_eq!(pool.resize(1), 1);
        // End the running calls one at a time; after each, drive the adapter.
        let mut ends = 0;
        let mut rounds = 0;
        while yielded < 12 {
            rounds += 1;
            assert!(rounds < 100, "stalled after {yielded} outcomes");
            // Open the gate of a running body (the first still closed whose
            // body entered): open them in pull order; a body not started yet
            // simply finds its gate open.
            {
                let mut gates = gates.lock().unwrap();
                if ends < gates.len() {
                    let tx =
                        std::mem::replace(&mut gates[ends], futures::channel::oneshot::channel().0);
                    let _ = tx.send(());
                    ends += 1;
                }
            }
            let mut progressed = true;
            while progressed {
                progressed = false;
                let mut next = Task::new(poll_fn_next(&mut adapter));
                if let std::task::Poll::Ready(Some(out)) = next.poll() {
                    out.unwrap();
                    yielded += 1;
                    progressed = true;
                }
                drop(next);
                let held = pulled.load(Ordering::SeqCst) - yielded;
                let bound = 2 * pool.size();
                // Items pulled past the bound must be none once the
                // adapter has come below it: held <= max(old held, bound).
                assert!(
                    held <= 8 && (pulled.load(Ordering::SeqCst) == 8 || held <= bound),
                    "{held} held with a bound of {bound} after pulling {}",
                    pulled.load(Ordering::SeqCst)
                );
                assert!(
                    meter.now() <= 4 && (meter.now() <= 1 || yielded < 4),
                    "{} bodies running at a limit of 1 after {yielded} ended",
                    meter.now()
                );
            }
        }
        assert_accounted(&pool.stats());
    }

    fn poll_fn_next<'s, S: futures::Stream + Unpin>(
        stream: &'s mut S,
    ) -> impl std::future::Future<Output = Option<S::Item>> + 's {
        std::future::poll_fn(move |cx| stream.poll_next_unpin(cx))
    }

    /// Module docs: "at least one, so a pool scaled to zero still has a
    /// waiter to wake the adapter when it grows again", and "after a
    /// scale-up it pulls more at its next poll, which comes when one of its
    /// calls is admitted".
    #[test]
    fn a_stream_on_a_fixed_pool_scaled_to_zero_pulls_one_item_and_goes_on_when_grown() {
        let pool = Pool::fixed(2);
        pool.resize(0);
        let meter = Meter::default();
        let pulled = Arc::new(AtomicUsize::new(0));
        let (m, p) = (meter.clone(), pulled.clone());
        let jobs = futures::stream::iter(0..10usize).map(move |i| {
            p.fetch_add(1, Ordering::SeqCst);
            let m = m.clone();
            async move {
                let inside = m.enter();
                common::yield_now().await;
                drop(inside);
                i
            }
        });
        let mut adapter = Box::pin(jobs.pooled_unordered(&pool));
        let mut next = Task::new(poll_fn_next(&mut adapter));
        for _ in 0..5 {
            next.assert_pending();
        }
        assert_eq!(pulled.load(Ordering::SeqCst), 1, "max(1, 2 x 0) = 1 item");
        assert_eq!(meter.done(), 0, "nothing runs on 0 slots");
        pool.resize(2);
        assert!(
            next.is_woken(),
            "growing wakes the adapter through its waiter"
        );
        drop(next);
        let mut outs: Vec<usize> =
            futures::executor::block_on(adapter.by_ref().map(|o| o.unwrap()).collect());
        outs.sort_unstable();
        assert_eq!(outs, (0..10).collect::<Vec<_>>());
        assert!(meter.max() <= 2, "{} at once on 2 slots", meter.max());
        assert_accounted(&pool.stats());
    }
}

// ---- groups: the ceiling, never-rejecting calls ---------------------------

#[cfg(feature = "config")]
mod groups {
    use super::*;
    use pool_runtime::{ceiling, config, register_group, Group, GroupSpec};

    static CEIL_A: Group = Group::new(GroupSpec::new("acc28::ceil_a").size(2));
    register_group!(CEIL_A);
    static CEIL_B: Group = Group::new(GroupSpec::new("acc28::ceil_b").size(2));
    register_group!(CEIL_B);

    /// `ceiling` module: "a call its group turns away at once (paused or
    /// closed) is turned away before it would wait for the ceiling", "A
    /// call waiting for a ceiling slot is not yet its group's: it is in the
    /// ceiling's `stats().waiting`, not in the group's `submitted` or
    /// `waiting`"; `Group::try_acquire`: the ceiling's "slot must be free
    /// now too", and a full ceiling turns a permit away as `Full`, "counted
    /// by the group". Every body counted from outside against the ceiling.
    #[test]
    fn the_ceiling_is_taken_before_the_groups_slot_and_each_side_counts_its_own() {
        let _turn = common::config_turn();
        config::load_str("acc28.toml", "ceiling = 2\n").unwrap();
        let meter = Meter::default();
        let a1 = futures::executor::block_on(CEIL_A.acquire_owned(0)).unwrap();
        let inside_a1 = meter.enter();
        let a2 = futures::executor::block_on(CEIL_A.acquire_owned(0)).unwrap();
        let inside_a2 = meter.enter();
        let c = ceiling::stats().unwrap();
        assert_eq!(c.running, 2, "{c:?}");
        let b_before = CEIL_B.stats();

        assert!(
            matches!(CEIL_B.try_acquire_owned(0), Err(Rejected::Full)),
            "a full ceiling refuses a try"
        );
        let b = CEIL_B.stats();
        assert_eq!(
            b.rejected_for(Rejected::Full),
            b_before.rejected_for(Rejected::Full) + 1,
            "{b:?}"
        );
        assert_eq!(
            ceiling::stats().unwrap().rejected_total(),
            c.rejected_total()
        );

        CEIL_B.pause();
        let mut paused = Task::new(CEIL_B.submit(0, async {}));
        assert_eq!(
            paused.assert_ready(),
            Err(Rejected::Paused),
            "a paused group turns away before the ceiling"
        );
        assert_eq!(
            ceiling::stats().unwrap().waiting,
            0,
            "the paused call never waited for the ceiling"
        );
        CEIL_B.resume();

        let m = meter.clone();
        let mut waiting = Task::new(CEIL_B.submit(0, async move {
            let _inside = m.enter();
        }));
        waiting.assert_pending();
        let (b_mid, c_mid) = (CEIL_B.stats(), ceiling::stats().unwrap());
        assert_eq!(c_mid.waiting, 1, "{c_mid:?}");
        assert_eq!(b_mid.waiting, 0, "not yet the group's: {b_mid:?}");
        assert_eq!(
            b_mid.submitted(),
            b.submitted() + 1,
            "only the paused call: {b_mid:?}"
        );

        drop(inside_a1);
        drop(a1);
        assert!(
            waiting.is_woken(),
            "the freed ceiling slot went to the waiter"
        );
        assert_eq!(waiting.assert_ready(), Ok(()));
        drop(inside_a2);
        drop(a2);
        assert!(
            meter.max() <= 2,
            "{} at once under a ceiling of 2",
            meter.max()
        );
        assert_eq!(meter.done(), 3);
        let c = ceiling::stats().unwrap();
        assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
        assert_accounted(&c);
        assert_accounted(&CEIL_A.stats());
        assert_accounted(&CEIL_B.stats());
        config::clear();
        assert_eq!(ceiling::limit(), None, "clear lifts the ceiling");
    }

    static PAUSED_DRAIN: Group = Group::new(GroupSpec::new("acc28::paused_drain").size(1));
    register_group!(PAUSED_DRAIN);

    /// `Pool::shutdown`: "Closing does not resume a paused pool: a
    /// never-rejecting call that arrived while it was paused waits for
    /// `resume`, so resume a paused pool before waiting for it to drain
    /// (without a `timeout`, this waits until then)."
    #[test]
    fn shutdown_without_a_timeout_waits_for_resume_for_a_never_rejecting_call() {
        let _turn = common::config_turn();
        PAUSED_DRAIN.pause();
        let meter = Meter::default();
        let m = meter.clone();
        let mut call = Task::new(PAUSED_DRAIN.submit_wait(0, async move {
            let _inside = m.enter();
            7
        }));
        call.assert_pending();
        let mut rejecting = Task::new(PAUSED_DRAIN.submit(0, async {}));
        assert_eq!(rejecting.assert_ready(), Err(Rejected::Paused));
        let mut shutdown = Task::new(PAUSED_DRAIN.pool().shutdown(None));
        shutdown.assert_pending();
        call.assert_pending();
        assert!(PAUSED_DRAIN.pool().is_closed() && PAUSED_DRAIN.is_paused());
        assert_eq!(meter.done(), 0, "nothing ran while paused");
        PAUSED_DRAIN.resume();
        assert!(call.is_woken(), "resume wakes the waiting call");
        assert_eq!(call.assert_ready(), 7);
        assert!(
            shutdown.is_woken(),
            "the last call's end wakes the shutdown"
        );
        assert_eq!(shutdown.assert_ready(), Ok(()));
        assert_accounted(&PAUSED_DRAIN.stats());
    }

    static PATIENT: Group = Group::new(
        GroupSpec::new("acc28::patient")
            .size(1)
            .max_waiting(0)
            .admission_timeout(Duration::from_millis(20)),
    );
    register_group!(PATIENT);

    /// `Group::submit_wait` / `run_wait` / `submit_blocking_wait`: "A call
    /// that is never turned away: it waits through a pause (until
    /// `resume`), past the waiting bound and the admission timeout". On a
    /// group of one slot with `max_waiting = 0` and a 20 ms admission
    /// timeout, held for 100 ms: the rejecting forms are turned away, the
    /// never-rejecting ones wait and run in order, one at a time.
    #[test]
    fn never_rejecting_calls_wait_past_a_zero_waiting_bound_and_the_admission_timeout() {
        let _turn = common::config_turn();
        within(BOUND, || {
            let meter = Meter::default();
            let held = PATIENT.try_acquire_owned(0).unwrap();
            assert_eq!(PATIENT.run(|| ()), Err(Rejected::Full));
            let m = meter.clone();
            let sync = std::thread::spawn(move || {
                PATIENT.run_wait(0, || {
                    let _inside = m.enter();
                    "sync"
                })
            });
            wait_until("the sync call waits", || PATIENT.stats().waiting == 1);
            let m = meter.clone();
            let blocking = std::thread::spawn(move || {
                futures::executor::block_on(PATIENT.submit_blocking_wait(0, move || {
                    let _inside = m.enter();
                    "blocking"
                }))
            });
            wait_until("the blocking call waits", || PATIENT.stats().waiting == 2);
            let m = meter.clone();
            let mut asynchronous = Task::new(PATIENT.submit_wait(0, async move {
                let _inside = m.enter();
                "async"
            }));
            asynchronous.assert_pending();
            PATIENT.pause();
            std::thread::sleep(Duration::from_millis(100));
            assert_eq!(PATIENT.stats().waiting, 3, "none timed out or was refused");
            PATIENT.resume();
            drop(held);
            assert_eq!(sync.join().unwrap(), "sync");
            assert_eq!(blocking.join().unwrap(), "blocking");
            let mut out = None;
            for _ in 0..1000 {
                if let std::task::Poll::Ready(o) = asynchronous.poll() {
                    out = Some(o);
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(out, Some("async"));
            assert_eq!(meter.max(), 1);
            let stats = PATIENT.stats();
            assert_eq!(
                stats.rejected_total(),
                1,
                "only the rejecting call: {stats:?}"
            );
            assert_accounted(&stats);
        });
    }

    static NEVER: Group = Group::new(GroupSpec::new("acc28::never").size(1));
    register_group!(NEVER);

    /// `Pool::shutdown`: past the deadline "the calls still waiting are
    /// turned away (like `abort`: a group's never-rejecting calls excepted,
    /// which wait on)", and `ShutdownTimedOut::waiting`: "Calls still waiting
    /// after the deadline: a group's never-rejecting calls ..., which cannot
    /// be turned away; they run, in order, once slots free." On a group's
    /// pool: one running, two rejecting calls and two never-rejecting ones
    /// waiting.
    #[test]
    fn shutdown_turns_away_rejecting_waiters_and_leaves_never_rejecting_ones_to_run_in_order() {
        let _turn = common::config_turn();
        within(BOUND, || {
            let meter = Meter::default();
            let order = Arc::new(Mutex::new(Vec::new()));
            let (g, open) = gate();
            let m = meter.clone();
            let mut running = Task::new(NEVER.submit(0, async move {
                let _inside = m.enter();
                g.await
            }));
            running.assert_pending();
            let body = |tag: &'static str| {
                let (m, o) = (meter.clone(), order.clone());
                async move {
                    let _inside = m.enter();
                    o.lock().unwrap().push(tag);
                }
            };
            let mut r1 = Task::new(NEVER.submit(0, body("r1")));
            let mut w1 = Task::new(NEVER.submit_wait(0, body("w1")));
            let mut r2 = Task::new(NEVER.submit(0, body("r2")));
            let mut w2 = Task::new(NEVER.submit_wait(0, body("w2")));
            r1.assert_pending();
            w1.assert_pending();
            r2.assert_pending();
            w2.assert_pending();
            assert_eq!(NEVER.stats().waiting, 4);
            let err =
                futures::executor::block_on(NEVER.pool().shutdown(Some(Duration::from_millis(50))))
                    .unwrap_err();
            assert_eq!(
                (err.running, err.turned_away, err.waiting),
                (1, 2, 2),
                "{err:?}"
            );
            assert_eq!(r1.assert_ready(), Err(Rejected::Closed));
            assert_eq!(r2.assert_ready(), Err(Rejected::Closed));
            w1.assert_pending();
            w2.assert_pending();
            open.store(true, Ordering::SeqCst);
            assert_eq!(running.assert_ready(), Ok(()));
            let (mut done1, mut done2) = (false, false);
            for _ in 0..4 {
                done1 = done1 || w1.poll().is_ready();
                done2 = done2 || w2.poll().is_ready();
            }
            assert!(done1 && done2, "they ran");
            assert_eq!(*order.lock().unwrap(), ["w1", "w2"], "in order");
            assert_eq!(meter.max(), 1, "within the limit of 1");
            let stats = NEVER.stats();
            assert_eq!(stats.rejected_for(Rejected::Closed), 2, "{stats:?}");
            assert_eq!(stats.completed, 3, "{stats:?}");
            assert_accounted(&stats);
            let mut drained = Task::new(NEVER.pool().drained());
            assert_eq!(drained.assert_ready(), ());
        });
    }
}

// ---- defaults ------------------------------------------------------------------

/// README's table: "`Pool::builder().order(..).size(n)` (default: fixed
/// FIFO of 3)", "`.kind(Kind::Autoscale).min(a).max(b)` (default 3..=8,
/// every 10 s over 20 samples)"; `Pool::default`: "fixed, FIFO, 3 slots".
#[test]
fn the_documented_defaults_of_the_builder_and_of_default() {
    for pool in [Pool::default(), Pool::builder().build().unwrap()] {
        assert_eq!(
            (pool.kind(), pool.order(), pool.size()),
            (Kind::Fixed, Order::Fifo, 3)
        );
        assert_eq!(pool.max_waiting(), None);
        assert_eq!(pool.admission_timeout(), None);
        assert_eq!(pool.sync_barging(), None, "sync barging is off by default");
        assert!(!pool.is_paused() && !pool.is_closed());
    }
    let auto = Pool::builder().kind(Kind::Autoscale).build().unwrap();
    assert_eq!(auto.bounds(), (3, 8));
    assert_eq!(auto.size(), 3, "an autoscaled pool starts at min");
    let timing = pool_runtime::AutoscaleTiming::default();
    assert_eq!(timing, pool_runtime::AutoscaleTiming::DEFAULT);
    assert_eq!(
        (timing.interval, timing.window),
        (Duration::from_secs(10), 20)
    );
}

// ---- permits and the reentrancy rule -------------------------------------

/// `Permit`: "A permit is a guard, not a frame: calls made while holding it
/// are calls of their own ..., so code that holds the pool's last slot and
/// calls the same pool waits for another one"; the permit module: "a
/// permit taken inside the work of a call of the same pool borrows that
/// call's slot rather than waiting for a second one"; README: "A nested
/// call counts in `Stats::nested`, not in `running`".
#[test]
fn a_permit_is_no_frame_but_a_permit_taken_inside_a_calls_work_borrows_its_slot() {
    for (name, pool) in six(1) {
        // A guard: a call made while holding it waits.
        let held = pool.try_acquire().unwrap();
        let mut call = Task::new(pool.submit(async {}));
        call.assert_pending();
        assert_eq!(pool.stats().nested, 0, "{name}");
        drop(held);
        assert_eq!(call.assert_ready(), Ok(()), "{name}");

        // Inside a call's work: the permit borrows the call's slot.
        let p = pool.clone();
        let name2 = name.clone();
        let mut outer = Task::new(pool.submit(async move {
            let inner = p.acquire().await.expect("nested permit");
            let stats = p.stats();
            assert_eq!((stats.running, stats.nested), (1, 1), "{name2}: {stats:?}");
            // A second nested call at once waits for the slot to come back.
            let mut second = Box::pin(p.submit(async {}));
            assert!(
                futures::poll!(second.as_mut()).is_pending(),
                "{name2}: one nested call at a time uses a parent's slot"
            );
            drop(inner);
            second.await
        }));
        assert_eq!(outer.assert_ready(), Ok(Ok(())), "{name}");
        let stats = pool.stats();
        assert_eq!((stats.running, stats.nested), (0, 0), "{name}: {stats:?}");
        assert_eq!(stats.completed, 5, "{name}: {stats:?}");
        assert_accounted(&stats);
    }
}

// ---- bounds ----------------------------------------------------------------

/// `Pool::set_bounds`: "Changes the bounds of an autoscaled pool (the size
/// is clamped into them); returns the new size", and growth "admits
/// waiting calls at once"; "a refused change changes nothing".
#[test]
fn raising_an_autoscaled_pools_min_above_its_size_admits_waiters_at_once() {
    for (name, pool) in six(1) {
        if name.starts_with("Fixed") {
            assert_eq!(
                pool.set_bounds(1, 4),
                Err(pool_runtime::BuildError::BoundsOnFixedPool),
                "{name}"
            );
            continue;
        }
        let meter = Meter::default();
        let held = pool.try_acquire().unwrap();
        let mut waiting: Vec<_> = (0..4)
            .map(|w| {
                let m = meter.clone();
                Task::new(pool.submit_weighted(w, async move {
                    let _inside = m.enter();
                    common::yield_now().await;
                }))
            })
            .collect();
        for task in &mut waiting {
            task.assert_pending();
        }
        assert!(pool.set_bounds(5, 2).is_err(), "{name}");
        assert_eq!(
            pool.bounds(),
            (1, 8),
            "{name}: a refused change changes nothing"
        );
        assert_eq!(pool.set_bounds(3, 8), Ok(3), "{name}");
        poll_all(&mut waiting);
        assert_eq!(
            meter.now(),
            2,
            "{name}: two waiters fill the new slots at once"
        );
        assert_eq!(pool.stats().waiting, 2, "{name}");
        assert_eq!(
            pool.set_bounds(1, 2),
            Ok(2),
            "{name}: the size is clamped down"
        );
        drop(held);
        poll_all(&mut waiting);
        poll_all(&mut waiting);
        assert!(
            meter.now() <= 2,
            "{name}: {} running past a max of 2",
            meter.now()
        );
        for _ in 0..6 {
            poll_all(&mut waiting);
        }
        assert_eq!(meter.done(), 4, "{name}");
        assert!(meter.max() <= 3, "{name}: {}", meter.max());
        assert_accounted(&pool.stats());
    }
}

// ---- configuration reports ---------------------------------------------------

#[cfg(feature = "config")]
mod reports {
    use super::*;
    use pool_runtime::config::{self, Effect};
    use pool_runtime::{register_group, Group, GroupSpec};

    static REPORTED: Group = Group::new(GroupSpec::new("acc28::reported").size(2));
    register_group!(REPORTED);

    fn effect_of(report: &config::Report, setting: &str) -> Option<(String, String, Effect)> {
        report
            .changes
            .iter()
            .find(|c| c.group == "acc28::reported" && c.setting == setting)
            .map(|c| (c.from.clone(), c.to.clone(), c.effect))
    }

    /// README, "Configuration": "Reload applies changed limits to running
    /// pools at once ... and returns a report of what changed and when it
    /// takes effect (kind, order, `policy` ..., `executor` ... at the
    /// group's next start)"; `Report::changes`: "Every setting whose value
    /// changed". A load that repeats the settings in force reports nothing
    /// and leaves a manual `scale` alone.
    #[test]
    fn a_reload_reports_each_changed_setting_with_when_it_applies_and_nothing_else() {
        let _turn = common::config_turn();
        // Start the group.
        futures::executor::block_on(REPORTED.submit(0, async {})).unwrap();
        let mut text = String::from(
            "[groups.\"acc28::reported\"]\nsize = 4\nmax_waiting = 7\n\
             admission_timeout = \"3s\"\norder = \"lifo\"\n",
        );
        // (`executor = "rayon"` is a load error without the feature.)
        let rayon = cfg!(feature = "rayon");
        if rayon {
            text.push_str("executor = \"rayon\"\n");
        }
        let text = text.as_str();
        let report = config::load_str("acc28.toml", text).unwrap();
        let pool = REPORTED.pool();
        assert_eq!(
            effect_of(&report, "size"),
            Some(("2".into(), "4".into(), Effect::Applied)),
            "{report}"
        );
        assert_eq!(
            effect_of(&report, "max_waiting").map(|e| e.2),
            Some(Effect::Applied),
            "{report}"
        );
        assert_eq!(
            effect_of(&report, "admission_timeout").map(|e| e.2),
            Some(Effect::Applied),
            "{report}"
        );
        assert_eq!(
            effect_of(&report, "order").map(|e| e.2),
            Some(Effect::AtRestart),
            "{report}"
        );
        if rayon {
            assert_eq!(
                effect_of(&report, "executor").map(|e| e.2),
                Some(Effect::AtRestart),
                "{report}"
            );
        }
        assert_eq!(
            report.changes.len(),
            4 + usize::from(rayon),
            "nothing else changed: {report}"
        );
        assert_eq!(pool.size(), 4);
        assert_eq!(pool.max_waiting(), Some(7));
        assert_eq!(pool.admission_timeout(), Some(Duration::from_secs(3)));
        assert_eq!(
            pool.order(),
            Order::Fifo,
            "the running pool keeps its order"
        );

        assert_eq!(REPORTED.scale(2), 6);
        let again = config::load_str("acc28.toml", text).unwrap();
        assert!(again.is_empty(), "the same settings again: {again}");
        assert_eq!(
            pool.size(),
            6,
            "a reload with nothing new keeps a manual scale"
        );

        let report = config::clear();
        assert_eq!(
            effect_of(&report, "size"),
            Some(("4".into(), "2".into(), Effect::Applied)),
            "{report}"
        );
        assert_eq!(pool.size(), 2, "the configured size changed: applied");
        assert_eq!(pool.max_waiting(), None);
        assert_eq!(pool.admission_timeout(), None);
    }
}

// ---- spawn ------------------------------------------------------------------

/// `Pool::spawn`: "the call takes its place in the queue now, in call
/// order, and runs on a tokio task. Rejections that are known at once
/// (paused, closed, full) are returned here"; `SpawnHandle::abort`: "it
/// leaves the queue ... Awaiting the handle then yields
/// `Err(Rejected::Closed)`".
#[tokio::test]
async fn spawn_queues_at_once_refuses_at_once_and_abort_leaves_the_queue() {
    for (name, pool) in six(1) {
        pool.set_max_waiting(Some(1)).unwrap();
        let held = pool.try_acquire_owned(0).unwrap();
        let first = pool.spawn(async { 1 }).unwrap();
        assert_eq!(
            pool.stats().waiting,
            1,
            "{name}: queued before its task ever ran"
        );
        assert!(
            matches!(pool.spawn(async { 2 }), Err(Rejected::Full)),
            "{name}: the waiting bound refuses a spawn at once"
        );
        first.abort();
        assert_eq!(first.await, Err(Rejected::Closed), "{name}");
        let stats = pool.stats();
        assert_eq!(
            (stats.waiting, stats.cancelled),
            (0, 1),
            "{name}: {stats:?}"
        );
        pool.pause();
        assert!(
            matches!(pool.spawn(async {}), Err(Rejected::Paused)),
            "{name}"
        );
        pool.resume();
        let second = pool.spawn(async { 3 }).unwrap();
        drop(held);
        assert_eq!(second.await, Ok(3), "{name}");
        pool.close();
        assert!(
            matches!(pool.spawn(async {}), Err(Rejected::Closed)),
            "{name}"
        );
        let stats = pool.stats();
        assert_eq!(stats.rejected_for(Rejected::Full), 1, "{name}: {stats:?}");
        assert_eq!(stats.rejected_for(Rejected::Paused), 1, "{name}: {stats:?}");
        assert_eq!(stats.rejected_for(Rejected::Closed), 1, "{name}: {stats:?}");
        assert_eq!(stats.completed, 2, "{name}: {stats:?}");
        assert_accounted(&stats);
    }
}

/// `SpawnHandle`: "A runtime that shuts down before the call ends drops it
/// the same way (waiting or running, it is counted in `Stats::cancelled`);
/// awaiting its handle then yields `Err(Rejected::Closed)`, from any
/// executor."
#[test]
fn a_spawned_call_dropped_with_its_runtime_is_cancelled_and_its_handle_says_closed() {
    let pool = Pool::fixed(1);
    let meter = Meter::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (running, waiting) = rt.block_on(async {
        let m = meter.clone();
        let running = pool
            .spawn(async move {
                let _inside = m.enter();
                std::future::pending::<()>().await
            })
            .unwrap();
        let waiting = pool.spawn(async { 5 }).unwrap();
        while meter.now() == 0 {
            tokio::task::yield_now().await;
        }
        (running, waiting)
    });
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting), (1, 1), "{stats:?}");
    drop(rt);
    assert_eq!(meter.now(), 0, "the running call's work was dropped");
    assert_eq!(futures::executor::block_on(running), Err(Rejected::Closed));
    assert_eq!(futures::executor::block_on(waiting), Err(Rejected::Closed));
    let stats = pool.stats();
    assert_eq!(stats.cancelled, 2, "{stats:?}");
    assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
    assert_accounted(&stats);
}

// ---- admission timeouts without a runtime ---------------------------------

/// README, "Timeouts": "Timeouts run on one lazily started timer thread,
/// which works under any executor or none ... Sync callers time out on
/// their own thread". A sync call and an async call (driven by
/// `futures::executor::block_on`) wait past the timeout on a held slot:
/// both are `TimedOut`, counted so, and leave the queue to the call behind
/// them, which then gets the slot in order.
#[test]
fn sync_and_async_calls_time_out_without_any_runtime_and_leave_the_queue() {
    within(BOUND, || {
        for (name, pool) in six(1) {
            pool.set_admission_timeout(Some(Duration::from_millis(30)));
            let held = pool.try_acquire().unwrap();
            let started = std::time::Instant::now();
            assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut), "{name}");
            assert!(started.elapsed() >= Duration::from_millis(30), "{name}");
            let started = std::time::Instant::now();
            assert_eq!(
                futures::executor::block_on(pool.submit(async {})),
                Err(Rejected::TimedOut),
                "{name}"
            );
            assert!(started.elapsed() >= Duration::from_millis(30), "{name}");
            let stats = pool.stats();
            assert_eq!(
                stats.rejected_for(Rejected::TimedOut),
                2,
                "{name}: {stats:?}"
            );
            assert_eq!(stats.waiting, 0, "{name}: {stats:?}");
            // No timeout for the next one: it waits for the slot and gets it.
            pool.set_admission_timeout(None);
            let mut next = Task::new(pool.submit(async { 9 }));
            next.assert_pending();
            drop(held);
            assert_eq!(next.assert_ready(), Ok(9), "{name}");
            assert_accounted(&pool.stats());
        }
    });
}

#[cfg(feature = "config")]
mod slots_before_drop {
    use super::*;
    use pool_runtime::{ceiling, config, register_group, Group, GroupSpec};

    static STUCK: Group = Group::new(GroupSpec::new("acc28::stuck").size(1));
    register_group!(STUCK);
    static OTHER: Group = Group::new(GroupSpec::new("acc28::other").size(1));
    register_group!(OTHER);

    /// Work whose `Drop` calls another group: it records whether that
    /// group's permit was granted at once.
    struct CallsOnDrop(Arc<Mutex<Vec<Result<(), Rejected>>>>);

    impl std::future::Future for CallsOnDrop {
        type Output = ();
        fn poll(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            std::task::Poll::Ready(())
        }
    }

    impl Drop for CallsOnDrop {
        fn drop(&mut self) {
            let outcome = OTHER.try_acquire_owned(0).map(drop);
            self.0.lock().unwrap().push(outcome);
        }
    }

    /// README (the ceiling): "A call dropped or turned away gives its slots
    /// (its group's, the ceiling's, a fleet lease) back before its work,
    /// closure or arguments are dropped, so their `Drop` may call a group."
    /// Under a ceiling of 1, a call holding the ceiling's only slot while it
    /// waits for its group's: dropped, or turned away by its group's
    /// `abort`, its work's `Drop` finds the ceiling slot free for another
    /// group.
    #[test]
    fn a_call_dropped_or_turned_away_frees_its_ceiling_slot_before_its_work_is_dropped() {
        let _turn = common::config_turn();
        config::load_str("acc28.toml", "ceiling = 1\n").unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let held = STUCK.try_acquire_owned(0).unwrap();
        drop(held);
        // The group's only slot taken outside the ceiling: a pool's own
        // permit (work submitted to a group's pool directly holds no
        // ceiling slot).
        let local = STUCK.pool().try_acquire_owned(0).unwrap();
        let mut waiting = Task::new(STUCK.submit(0, CallsOnDrop(seen.clone())));
        waiting.assert_pending();
        let c = ceiling::stats().unwrap();
        assert_eq!(
            c.running, 1,
            "the waiting call holds the ceiling's slot: {c:?}"
        );
        assert_eq!(STUCK.stats().waiting, 1);
        drop(waiting);
        assert_eq!(
            *seen.lock().unwrap(),
            [Ok(())],
            "dropped: the ceiling slot was not free"
        );

        let mut turned_away = Task::new(STUCK.submit(0, CallsOnDrop(seen.clone())));
        turned_away.assert_pending();
        assert_eq!(ceiling::stats().unwrap().running, 1);
        STUCK.pool().abort();
        assert_eq!(turned_away.assert_ready(), Err(Rejected::Closed));
        drop(turned_away);
        assert_eq!(
            *seen.lock().unwrap(),
            [Ok(()), Ok(())],
            "turned away: the ceiling slot was not free"
        );
        drop(local);
        let c = ceiling::stats().unwrap();
        assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
        assert_accounted(&c);
        config::clear();
    }
}

#[cfg(feature = "config")]
mod kind_counts {
    use super::*;
    use pool_runtime::config;
    use pool_runtime::{register_group, Group, GroupSpec};

    static FLIPPED: Group = Group::new(GroupSpec::new("acc28::flipped").size(4));
    register_group!(FLIPPED);

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        common::vars(list)
    }

    /// README, "Configuration": "a layer that changes `kind` sets aside the
    /// counts set below it for the old kind and brings back those set for
    /// the new one, so a group declared `size = 4` that the file makes
    /// autoscaled (with bounds, say) and the environment fixed again has 4
    /// slots"; `pooled::config`: "(or the `[defaults]` size, which beats
    /// the declaration) ... A running pool keeps its kind until it
    /// restarts: a load that changes the kind changes nothing in it, and
    /// one that brings its kind back resizes it only if that kind's counts
    /// changed."
    #[test]
    fn a_declared_size_comes_back_with_its_kind_and_a_running_pool_keeps_its_own() {
        let _turn = common::config_turn();
        let table = "[groups.\"acc28::flipped\"]\nkind = \"autoscale\"\nmin = 2\nmax = 6\n";
        config::load_str("acc28.toml", table).unwrap();
        let s = FLIPPED.settings();
        assert_eq!(
            (s.kind, s.min, s.max),
            (Kind::Autoscale, Some(2), Some(6)),
            "{s:?}"
        );
        assert_eq!(
            s.starting_size(),
            2,
            "the fixed kind's size is set aside, the autoscaled one starts at min: {s:?}"
        );
        config::load_env_from(vars(&[("POOLED_ACC28__FLIPPED_KIND", "fixed")])).unwrap();
        let s = FLIPPED.settings();
        assert_eq!((s.kind, s.starting_size()), (Kind::Fixed, 4), "{s:?}");
        assert_eq!((s.min, s.max), (None, None), "{s:?}");

        let with_defaults = format!("[defaults]\nsize = 7\nmin = 1\n\n{table}");
        config::load_str("acc28.toml", &with_defaults).unwrap();
        let s = FLIPPED.settings();
        assert_eq!(
            (s.kind, s.starting_size()),
            (Kind::Fixed, 7),
            "the [defaults] size beats the declaration: {s:?}"
        );

        // Started fixed with 7; scaled by hand to 9.
        futures::executor::block_on(FLIPPED.submit(0, async {})).unwrap();
        assert_eq!(FLIPPED.size(), 7);
        assert_eq!(FLIPPED.scale(2), 9);
        // A load that makes it autoscaled changes nothing in the running pool.
        let report = config::load_env_from(vars(&[])).unwrap();
        assert!(
            report
                .changes
                .iter()
                .any(|c| c.setting == "kind" && c.effect == config::Effect::AtRestart),
            "{report}"
        );
        assert_eq!(
            FLIPPED.settings().kind,
            Kind::Fixed,
            "settings() are those applied to the running pool"
        );
        assert_eq!(FLIPPED.pool().kind(), Kind::Fixed);
        assert_eq!(
            FLIPPED.size(),
            9,
            "a kind change changes nothing in a running pool"
        );
        // Fixed again with the same counts: no resize.
        config::load_env_from(vars(&[("POOLED_ACC28__FLIPPED_KIND", "fixed")])).unwrap();
        assert_eq!(FLIPPED.size(), 9, "its kind's counts did not change");
        // Fixed again with a new size: resized.
        config::load_env_from(vars(&[
            ("POOLED_ACC28__FLIPPED_KIND", "fixed"),
            ("POOLED_ACC28__FLIPPED_SIZE", "3"),
        ]))
        .unwrap();
        assert_eq!(FLIPPED.size(), 3, "its kind's size changed: applied");
        config::clear();
        assert_eq!(FLIPPED.size(), 4, "back to the declaration");
    }
}

// ---- autoscale under load, on tokio's paused clock ------------------------

/// README, "Autoscale": "every interval the limit grows toward the mean
/// demand (at most doubling) or, when more than half the slots idle,
/// shrinks toward it ... never below one slot by itself", and "a pool
/// built with `.clock(TokioClock::new())` uses tokio's timer instead, so
/// its timeouts and autoscaler follow tokio's paused test time". A
/// backlog of 16 callers grows a pool of 1 (counted from outside, never
/// past `max`, and never more than doubling per interval); a trickle
/// afterwards shrinks it back toward `min`.
#[tokio::test(start_paused = true)]
async fn an_autoscaled_pool_on_tokio_time_grows_under_a_backlog_and_shrinks_after_it() {
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(6)
        .size(1)
        .autoscale_interval(Duration::from_secs(1))
        .autoscale_window(4)
        .clock(pool_runtime::TokioClock::new())
        .build()
        .unwrap();
    let meter = Meter::default();
    let sizes = Arc::new(Mutex::new(vec![pool.size()]));
    let stop = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut callers = Vec::new();
    for _ in 0..16 {
        let (pool, meter, sizes) = (pool.clone(), meter.clone(), sizes.clone());
        callers.push(tokio::spawn(async move {
            while tokio::time::Instant::now() < stop {
                let m = meter.clone();
                pool.submit(m.body(100)).await.unwrap();
                sizes.lock().unwrap().push(pool.size());
            }
        }));
    }
    for c in callers {
        c.await.unwrap();
    }
    let seen = sizes.lock().unwrap().clone();
    let grown = *seen.iter().max().unwrap();
    assert_eq!(
        grown, 6,
        "a backlog of 16 grows the pool to its max: {seen:?}"
    );
    assert!(
        meter.max() <= 6,
        "{} bodies at once past max 6",
        meter.max()
    );
    assert!(meter.max() > 1, "the pool never grew");
    for pair in seen.windows(2) {
        assert!(
            pair[1] <= pair[0] * 2,
            "grew more than double in one step: {seen:?}"
        );
    }
    // A trickle: one call at a time, one per 300 ms, for 10 s.
    for _ in 0..34 {
        pool.submit(meter.clone().body(10)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let after = pool.size();
    assert_eq!(
        after, 1,
        "a demand far below one slot shrinks it to min (halving per interval)"
    );
    let stats = pool.stats();
    assert_eq!(stats.rejected_total(), 0, "{stats:?}");
    assert_accounted(&stats);
}

// ---- durations too long to pass ---------------------------------------------

/// README, "Bad input": "A duration too long to pass (`Duration::MAX`)
/// means 'never'." An admission timeout of `Duration::MAX` on a sync call,
/// an async call on the timer thread, and barging and autoscale bounds of
/// `Duration::MAX`: nothing panics or overflows, and the calls wait for the
/// slot and get it.
#[test]
fn duration_max_bounds_mean_never_on_every_path() {
    within(BOUND, || {
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .min(1)
            .max(4)
            .size(1)
            .admission_timeout(Duration::MAX)
            .sync_barging(Duration::MAX)
            .autoscale_interval(Duration::MAX)
            .build()
            .unwrap();
        let meter = Meter::default();
        let held = pool.try_acquire_owned(0).unwrap();
        let (p, m) = (pool.clone(), meter.clone());
        let sync = std::thread::spawn(move || {
            p.run(|| {
                let _inside = m.enter();
            })
        });
        let (p, m) = (pool.clone(), meter.clone());
        let asynchronous = std::thread::spawn(move || {
            futures::executor::block_on(p.submit(async move {
                let _inside = m.enter();
            }))
        });
        wait_until("both callers wait", || pool.stats().waiting == 2);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(pool.stats().waiting, 2, "nothing timed out");
        drop(held);
        assert_eq!(sync.join().unwrap(), Ok(()));
        assert_eq!(asynchronous.join().unwrap(), Ok(()));
        assert_eq!(meter.max(), 1);
        let stats = pool.stats();
        assert_eq!(stats.rejected_total(), 0, "{stats:?}");
        assert_accounted(&stats);
    });
}

/// `TokioClock`: "timeouts longer than tokio's timer keeps (about 795
/// days: paused test time never reaches them; `Duration::MAX` is never)"
/// run on the timer thread; a timeout within tokio's range follows paused
/// time.
#[tokio::test(start_paused = true)]
async fn tokio_clock_timeouts_follow_paused_time_only_within_tokios_range() {
    const DAY: Duration = Duration::from_secs(86_400);
    for (timeout, times_out) in [(2 * DAY, true), (900 * DAY, false), (Duration::MAX, false)] {
        let pool = Pool::builder()
            .size(1)
            .admission_timeout(timeout)
            .clock(pool_runtime::TokioClock::new())
            .build()
            .unwrap();
        let held = pool.try_acquire_owned(0).unwrap();
        let p = pool.clone();
        let waiter = tokio::spawn(async move { p.submit(async {}).await });
        tokio::time::sleep(1000 * DAY).await;
        if times_out {
            assert_eq!(
                waiter.await.unwrap(),
                Err(Rejected::TimedOut),
                "{timeout:?}"
            );
        } else {
            assert!(!waiter.is_finished(), "{timeout:?}: paused time reached it");
            drop(held);
            assert_eq!(waiter.await.unwrap(), Ok(()), "{timeout:?}");
        }
        assert_accounted(&pool.stats());
    }
}

// ---- blocking closures keep their slot when abandoned ----------------------

/// README, "Cancellation": "Blocking closures carry their slot to the
/// executor thread and release it there, so abandoning the wait never lets
/// more closures run than the limit." On the six pools (default executor,
/// no runtime: a thread per job): a closure whose caller stopped waiting
/// still holds the only slot until it returns; the next closure runs after
/// it, never beside it (counted from outside, the meter left before the
/// closure returns).
#[test]
fn an_abandoned_blocking_call_keeps_its_slot_until_its_closure_returns() {
    within(BOUND, || {
        for (name, pool) in six(1) {
            let meter = Meter::default();
            let (release, released) = std::sync::mpsc::channel::<()>();
            let m = meter.clone();
            let mut first = Task::new(pool.submit_blocking(move || {
                let inside = m.enter();
                let _ = released.recv();
                drop(inside);
            }));
            first.assert_pending();
            wait_until(&format!("{name}: the first closure runs"), || {
                meter.now() == 1
            });
            drop(first);
            let stats = pool.stats();
            assert_eq!(
                stats.running, 1,
                "{name}: the job keeps its slot: {stats:?}"
            );
            let m = meter.clone();
            let second = std::thread::spawn({
                let pool = pool.clone();
                move || {
                    futures::executor::block_on(pool.submit_blocking(move || {
                        let _inside = m.enter();
                    }))
                }
            });
            wait_until(&format!("{name}: the second call waits"), || {
                pool.stats().waiting == 1
            });
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(
                meter.done(),
                0,
                "{name}: the second closure ran beside the first"
            );
            release.send(()).unwrap();
            assert_eq!(second.join().unwrap(), Ok(()), "{name}");
            assert_eq!(meter.max(), 1, "{name}: more closures than the limit ran");
            assert_eq!(meter.done(), 2, "{name}");
            wait_until(&format!("{name}: all slots back"), || {
                pool.stats().running == 0
            });
            assert_accounted(&pool.stats());
        }
    });
}

// ---- integrations over a group under the ceiling ---------------------------

#[cfg(all(feature = "config", any(feature = "stream", feature = "tower")))]
mod integrations_under_the_ceiling {
    #[allow(unused_imports)]
    use super::*;
    #[allow(unused_imports)]
    use pool_runtime::{ceiling, config, register_group, Group, GroupSpec};

    #[cfg(feature = "stream")]
    static STREAMED: Group = Group::new(GroupSpec::new("acc28::streamed").size(8));
    #[cfg(feature = "stream")]
    register_group!(STREAMED);

    /// Stream module: a `&'static Group` as the pool, "whose calls also take
    /// the application-wide ceiling as `Group::submit` does". A stream of
    /// 30 jobs over a group of 8 under a ceiling of 2 runs at most 2 at
    /// once (counted from outside), and fewer while another call holds a
    /// ceiling slot.
    #[cfg(feature = "stream")]
    #[test]
    fn a_stream_over_a_group_is_held_to_the_ceiling() {
        use futures::StreamExt;
        use pool_runtime::PooledStreamExt;
        let _turn = common::config_turn();
        config::load_str("acc28.toml", "ceiling = 2\n").unwrap();
        within(BOUND, || {
            let meter = Meter::default();
            let m = meter.clone();
            let jobs = futures::stream::iter(0..30usize).map(move |i| {
                let m = m.clone();
                async move {
                    let inside = m.enter();
                    common::yield_now().await;
                    drop(inside);
                    i
                }
            });
            let mut outs: Vec<usize> = futures::executor::block_on(
                jobs.pooled_unordered(&STREAMED)
                    .map(|o| o.unwrap())
                    .collect(),
            );
            outs.sort_unstable();
            assert_eq!(outs, (0..30).collect::<Vec<_>>());
            assert!(
                meter.max() <= 2,
                "{} at once under a ceiling of 2",
                meter.max()
            );
            assert_eq!(meter.max(), 2, "the stream used the ceiling's two slots");

            // Another group call holds one ceiling slot: one at a time.
            let other = futures::executor::block_on(STREAMED.acquire_owned(0)).unwrap();
            let meter = Meter::default();
            let m = meter.clone();
            let jobs = futures::stream::iter(0..10usize).map(move |i| {
                let m = m.clone();
                async move {
                    let inside = m.enter();
                    common::yield_now().await;
                    drop(inside);
                    i
                }
            });
            let outs: Vec<_> =
                futures::executor::block_on(jobs.pooled_ordered(&STREAMED).collect());
            assert_eq!(outs.len(), 10);
            assert!(outs.iter().all(|o| o.is_ok()), "{outs:?}");
            assert_eq!(meter.max(), 1, "one ceiling slot was left for the stream");
            drop(other);
            let c = ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
            assert_accounted(&c);
            assert_accounted(&STREAMED.stats());
        });
        config::clear();
    }

    #[cfg(feature = "tower")]
    static LAYERED: Group = Group::new(GroupSpec::new("acc28::layered").size(4));
    #[cfg(feature = "tower")]
    register_group!(LAYERED);

    /// Tower module: a layer over a group "with the pool's order,
    /// rejections, accounting"; README: every group call takes a ceiling
    /// slot before its group's. A reservation made in `poll_ready` over a
    /// group under a ceiling of 1 holds the ceiling's slot: a clone's
    /// `poll_ready` waits (and, in reject mode, a call is refused `Full`)
    /// until the first call's response ends.
    #[cfg(feature = "tower")]
    #[test]
    fn a_layers_reservation_over_a_group_holds_a_ceiling_slot() {
        use pool_runtime::tower::{BoxError, PooledLayer};
        use std::future::poll_fn;
        use tower::{service_fn, Layer, Service};
        let _turn = common::config_turn();
        config::load_str("acc28.toml", "ceiling = 1\n").unwrap();
        let meter = Meter::default();
        let m = meter.clone();
        let inner = service_fn(move |n: u32| {
            let m = m.clone();
            async move {
                let inside = m.enter();
                common::yield_now().await;
                drop(inside);
                Ok::<_, BoxError>(n)
            }
        });
        let mut first = PooledLayer::group(&LAYERED).layer(inner.clone());
        let mut second = first.clone();
        let mut shedding = PooledLayer::group(&LAYERED).reject().layer(inner);
        {
            let mut ready = Task::new(poll_fn(|cx| first.poll_ready(cx)));
            assert!(matches!(ready.poll(), std::task::Poll::Ready(Ok(()))));
        }
        assert_eq!(
            ceiling::stats().unwrap().running,
            1,
            "the reservation holds it"
        );
        let mut second_ready = Task::new(poll_fn(|cx| second.poll_ready(cx)));
        second_ready.assert_pending();
        {
            let mut ready = Task::new(poll_fn(|cx| shedding.poll_ready(cx)));
            let refused = match ready.poll() {
                std::task::Poll::Ready(Ok(())) => {
                    drop(ready);
                    let mut call = Task::new(shedding.call(0));
                    match call.poll() {
                        std::task::Poll::Ready(Err(e)) => e.downcast_ref::<Rejected>().copied(),
                        _ => None,
                    }
                }
                std::task::Poll::Ready(Err(e)) => e.downcast_ref::<Rejected>().copied(),
                std::task::Poll::Pending => None,
            };
            assert_eq!(
                refused,
                Some(Rejected::Full),
                "reject mode sheds at a full ceiling"
            );
        }
        let mut response = Task::new(first.call(1));
        assert!(response.poll().is_pending());
        assert!(!second_ready.is_woken(), "the ceiling slot is still held");
        assert_eq!(
            response.poll().map(|r| r.unwrap()),
            std::task::Poll::Ready(1)
        );
        assert!(
            second_ready.is_woken(),
            "the freed ceiling slot went to the clone"
        );
        assert!(
            matches!(second_ready.poll(), std::task::Poll::Ready(Ok(()))),
            "the clone's poll_ready is not ready"
        );
        drop(second_ready);
        let mut response = Task::new(second.call(2));
        for _ in 0..3 {
            if let std::task::Poll::Ready(out) = response.poll() {
                assert_eq!(out.unwrap(), 2);
                break;
            }
        }
        drop(second);
        assert_eq!(meter.max(), 1, "under a ceiling of 1");
        assert_eq!(meter.done(), 2);
        let c = ceiling::stats().unwrap();
        assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
        assert_accounted(&c);
        config::clear();
    }

    #[cfg(feature = "tower")]
    static BODIES: Group = Group::new(GroupSpec::new("acc28::bodies").size(4));
    #[cfg(feature = "tower")]
    register_group!(BODIES);

    /// `hold_until_body_ends`: "an `http::Response`'s slot is held by its
    /// body until the body's last frame, a body error, or the body's drop";
    /// over a group under a ceiling, the body holds the ceiling's slot too
    /// (every group call holds one), and gives both back with its end.
    #[cfg(feature = "tower")]
    #[test]
    fn a_held_body_over_a_group_holds_the_ceiling_slot_until_it_ends() {
        use http_body::Body;
        use pool_runtime::tower::{BoxError, PooledLayer};
        use tower::{service_fn, Layer, ServiceExt};
        let _turn = common::config_turn();
        config::load_str("acc28.toml", "ceiling = 1\n").unwrap();
        let service = PooledLayer::group(&BODIES)
            .hold_until_body_ends()
            .layer(service_fn(|text: &'static str| async move {
                Ok::<_, BoxError>(http::Response::new(String::from(text)))
            }));
        // Read to its end.
        let mut response =
            futures::executor::block_on(service.clone().oneshot("streamed")).unwrap();
        assert!(response.body().holds_slot());
        let c = ceiling::stats().unwrap();
        assert_eq!(c.running, 1, "the body holds the ceiling slot: {c:?}");
        assert_eq!(BODIES.stats().running, 1);
        let mut other = Task::new(BODIES.submit(0, async {}));
        other.assert_pending();
        let frame = futures::executor::block_on(std::future::poll_fn(|cx| {
            std::pin::Pin::new(response.body_mut()).poll_frame(cx)
        }));
        assert!(frame.is_some());
        assert!(
            !response.body().holds_slot(),
            "released with its last frame"
        );
        assert!(
            other.is_woken(),
            "the ceiling slot went to the waiting call"
        );
        assert_eq!(other.assert_ready(), Ok(()));
        drop(response);
        // Dropped before its end: released, a cancelled call.
        let before = BODIES.stats().cancelled;
        let response = futures::executor::block_on(service.oneshot("dropped")).unwrap();
        assert_eq!(ceiling::stats().unwrap().running, 1);
        drop(response);
        let c = ceiling::stats().unwrap();
        assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
        let stats = BODIES.stats();
        assert_eq!(stats.cancelled, before + 1, "{stats:?}");
        assert_eq!(stats.running, 0, "{stats:?}");
        assert_accounted(&stats);
        assert_accounted(&c);
        config::clear();
    }
}

// ---- rayon ----------------------------------------------------------------------

/// `RayonExecutor`: "the pool decides how many closures run at once and in
/// which order, rayon's threads run them ... the slot travels with the job
/// and is released on the rayon thread when the closure returns or panics;
/// a panic is re-raised in the caller; a nested call made from inside the
/// closure runs under its slot." On the six pools of 2 slots over a rayon
/// pool of 4 threads: 12 closures, each making a nested sync call, never
/// more than 2 at once (counted from outside), then one that panics.
#[cfg(feature = "rayon")]
#[test]
fn rayon_runs_blocking_closures_within_the_limit_with_nested_calls_and_panics() {
    common::quiet_planned_panics();
    let threads = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap(),
    );
    within(BOUND, move || {
        for kind in [Kind::Fixed, Kind::Autoscale] {
            for order in [Order::Fifo, Order::Lifo, Order::Priority] {
                let name = format!("{kind:?}/{order:?}");
                let builder = Pool::builder()
                    .kind(kind)
                    .order(order)
                    .clock(ManualClock::new())
                    .blocking_executor(Arc::new(pool_runtime::RayonExecutor::new(threads.clone())));
                let pool = if kind == Kind::Fixed {
                    builder.size(2)
                } else {
                    builder.min(2).max(2)
                }
                .build()
                .unwrap();
                let meter = Meter::default();
                let calls: Vec<_> = (0..12i64)
                    .map(|w| {
                        let (p, m) = (pool.clone(), meter.clone());
                        pool.submit_blocking_weighted(w, move || {
                            let inside = m.enter();
                            assert!(rayon::current_thread_index().is_some());
                            std::thread::sleep(Duration::from_millis(1));
                            let nested = p.run(|| p.stats().nested).expect("nested call");
                            drop(inside);
                            nested
                        })
                    })
                    .collect();
                let outs = futures::executor::block_on(futures::future::join_all(calls));
                for out in outs {
                    // Itself, and perhaps the other slot's nested call.
                    assert!(
                        matches!(out, Ok(1..=2)),
                        "{name}: the nested call ran under its slot: {out:?}"
                    );
                }
                assert!(meter.max() <= 2, "{name}: {} closures at once", meter.max());
                let p = pool.clone();
                let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    futures::executor::block_on(
                        p.submit_blocking(|| -> () { panic!("planned: a rayon closure panics") }),
                    )
                }));
                assert!(panicked.is_err(), "{name}: the panic reaches the caller");
                wait_until(&format!("{name}: slots back"), || pool.stats().running == 0);
                let stats = pool.stats();
                assert_eq!(stats.panicked, 1, "{name}: {stats:?}");
                assert_eq!(stats.completed, 12 * 2 + 1, "{name}: {stats:?}");
                assert_accounted(&stats);
            }
        }
    });
}

// ---- metrics: pools that share a name ----------------------------------------

/// `observe` module: "Pools that share a name add up in its counters and in
/// the `limit`, `running` and `waiting` gauges", and "A pool that goes away
/// (its last handle dropped — an owned permit is one ...) takes its limit
/// out of `pooled.limit` then, and its calls out of `running`/`waiting` as
/// they end."
#[cfg(feature = "metrics")]
#[test]
fn pools_sharing_a_name_add_up_and_one_that_goes_away_takes_its_limit_out() {
    let capture: &'static common::Capture = Box::leak(Box::default());
    let name = "acc28::shared";
    let (a, b) = metrics::with_local_recorder(capture, || {
        (
            Pool::builder().name(name).size(2).build().unwrap(),
            Pool::builder().name(name).size(3).build().unwrap(),
        )
    });
    let gauge = |g: &str| capture.gauge(g, name).unwrap_or(0.0);
    assert_eq!(gauge("pooled.limit"), 5.0);
    assert_eq!(b.scale(1), 4);
    assert_eq!(gauge("pooled.limit"), 6.0, "a limit change adds up");
    let a1 = a.try_acquire_owned(0).unwrap();
    let a2 = a.try_acquire_owned(0).unwrap();
    let b1 = b.try_acquire_owned(0).unwrap();
    assert_eq!(gauge("pooled.running"), 3.0);
    let mut waiting = Task::new(a.submit(async {}));
    waiting.assert_pending();
    assert_eq!(gauge("pooled.waiting"), 1.0);
    drop(waiting);
    assert_eq!(gauge("pooled.waiting"), 0.0);
    assert_eq!(capture.calls(name, "cancelled", None), 1);
    b.pause();
    assert!(matches!(b.try_acquire(), Err(Rejected::Paused)));
    a.pause();
    assert!(matches!(a.try_acquire(), Err(Rejected::Paused)));
    assert_eq!(
        capture.calls(name, "rejected", Some("paused")),
        2,
        "counters add up"
    );

    // B's last handle but its owned permit goes: its limit stays while the
    // permit lives.
    drop(b);
    assert_eq!(gauge("pooled.limit"), 6.0, "an owned permit keeps its pool");
    drop(b1);
    assert_eq!(gauge("pooled.limit"), 2.0, "B went away with its permit");
    assert_eq!(gauge("pooled.running"), 2.0, "A's two calls still run");
    drop((a1, a2));
    assert_eq!(gauge("pooled.running"), 0.0);
    assert_eq!(capture.calls(name, "completed", None), 3);
    drop(a);
    assert_eq!(gauge("pooled.limit"), 0.0, "both pools went away");
}

// ---- weights at their extremes ------------------------------------------------

/// README's table: "`submit_weighted(w, fut)`: smaller first, FIFO among
/// equals"; "Weights order priority pools; FIFO and LIFO pools accept and
/// ignore them". Weights at `i64::MIN` and `i64::MAX`, equal weights
/// queued apart, through every call form that takes a weight.
#[test]
fn extreme_and_equal_weights_rank_smaller_first_and_fifo_among_equals() {
    for (name, pool) in six(1) {
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = pool.try_acquire().unwrap();
        let queued = [
            (i64::MAX, "max-a"),
            (i64::MIN, "min-a"),
            (0, "zero"),
            (i64::MIN, "min-b"),
            (i64::MAX, "max-b"),
            (-1, "minus-one"),
        ];
        let mut tasks: Vec<_> = queued
            .iter()
            .map(|&(w, tag)| {
                let o = order.clone();
                Task::new(pool.submit_weighted(w, async move {
                    o.lock().unwrap().push(tag);
                }))
            })
            .collect();
        for t in &mut tasks {
            t.assert_pending();
        }
        drop(held);
        for _ in 0..queued.len() {
            poll_all(&mut tasks[..]);
        }
        let want: Vec<&str> = match order_of(&name) {
            Order::Fifo => queued.iter().map(|q| q.1).collect(),
            Order::Lifo => queued.iter().rev().map(|q| q.1).collect(),
            Order::Priority => vec!["min-a", "min-b", "minus-one", "zero", "max-a", "max-b"],
        };
        assert_eq!(*order.lock().unwrap(), want, "{name}");
        assert_accounted(&pool.stats());
    }
}

#[cfg(feature = "config")]
mod variable_names {
    use super::*;
    use pool_runtime::config;
    use pool_runtime::{register_group, Group, GroupSpec};

    static ENDS_IN_A_SETTING: Group = Group::new(GroupSpec::new("acc28::max_waiting").size(2));
    register_group!(ENDS_IN_A_SETTING);
    static ENDS_IN_SIZE: Group = Group::new(GroupSpec::new("acc28_size").size(2));
    register_group!(ENDS_IN_SIZE);
    static DOTTED: Group = Group::new(GroupSpec::new("acc28.dotted-name").size(2));
    register_group!(DOTTED);

    /// README: "single values from the environment:
    /// `POOLED_BILLING__API__CHARGE_MAX=48` (upper-case, `::` becomes `__`,
    /// other characters `_`)". Group names that end in a setting's name
    /// (`max_waiting`, `size`) and names with dots and dashes are tuned by
    /// their mangled variables like any other.
    #[test]
    fn groups_whose_names_end_in_a_setting_are_tuned_by_their_variables() {
        let _turn = common::config_turn();
        assert_eq!(config::mangle("acc28::max_waiting"), "ACC28__MAX_WAITING");
        assert_eq!(config::mangle("acc28.dotted-name"), "ACC28_DOTTED_NAME");
        config::load_env_from(common::vars(&[
            ("POOLED_ACC28__MAX_WAITING_SIZE", "5"),
            ("POOLED_ACC28__MAX_WAITING_MAX_WAITING", "3"),
            ("POOLED_ACC28_SIZE_SIZE", "4"),
            ("POOLED_ACC28_SIZE_MAX_WAITING", "none"),
            ("POOLED_ACC28_DOTTED_NAME_SIZE", "6"),
        ]))
        .unwrap();
        let s = ENDS_IN_A_SETTING.settings();
        assert_eq!((s.starting_size(), s.max_waiting), (5, Some(3)), "{s:?}");
        let s = ENDS_IN_SIZE.settings();
        assert_eq!((s.starting_size(), s.max_waiting), (4, None), "{s:?}");
        assert_eq!(DOTTED.settings().starting_size(), 6);
        config::clear();
        assert_eq!(ENDS_IN_A_SETTING.settings().starting_size(), 2);
    }
}

#[cfg(feature = "config")]
mod ceiling_waits {
    use super::*;
    use pool_runtime::{ceiling, config, register_group, Group, GroupSpec};

    static HOLDER: Group = Group::new(GroupSpec::new("acc28::holder").size(1));
    register_group!(HOLDER);
    static BOUNDED: Group = Group::new(GroupSpec::new("acc28::bounded").size(4).max_waiting(1));
    register_group!(BOUNDED);
    static NEVER_WAITS: Group =
        Group::new(GroupSpec::new("acc28::never_waits").size(4).max_waiting(0));
    register_group!(NEVER_WAITS);
    static IMPATIENT: Group = Group::new(
        GroupSpec::new("acc28::impatient")
            .size(4)
            .admission_timeout(Duration::from_millis(30)),
    );
    register_group!(IMPATIENT);

    /// README (the ceiling): "a group's `max_waiting = 0` and
    /// `admission_timeout` bound its calls' wait for the ceiling as they
    /// bound their wait for the group's slot"; "A call waiting for a
    /// ceiling slot is counted by the ceiling (`pooled::ceiling::stats()`),
    /// not yet by its group: a group's `max_waiting` above 0 bounds the
    /// calls waiting for its own slots."
    #[test]
    fn a_groups_waiting_bound_above_zero_does_not_count_calls_waiting_for_the_ceiling() {
        let _turn = common::config_turn();
        config::load_str("acc28.toml", "ceiling = 1\n").unwrap();
        within(BOUND, || {
            let held = HOLDER.try_acquire_owned(0).unwrap();
            let mut waiting: Vec<_> = (0..3)
                .map(|_| Task::new(BOUNDED.submit(0, async {})))
                .collect();
            for t in &mut waiting {
                t.assert_pending();
            }
            assert_eq!(ceiling::stats().unwrap().waiting, 3);
            assert_eq!(BOUNDED.stats().waiting, 0);
            assert_eq!(
                BOUNDED.stats().rejected_total(),
                0,
                "max_waiting = 1 does not bound the ceiling wait"
            );
            let mut never = Task::new(NEVER_WAITS.submit(0, async {}));
            assert_eq!(
                never.assert_ready(),
                Err(Rejected::Full),
                "max_waiting = 0: no wait for the ceiling"
            );
            let started = std::time::Instant::now();
            assert_eq!(
                futures::executor::block_on(IMPATIENT.submit(0, async {})),
                Err(Rejected::TimedOut)
            );
            assert!(started.elapsed() >= Duration::from_millis(30));
            assert_eq!(IMPATIENT.run(|| ()), Err(Rejected::TimedOut), "sync too");
            drop(held);
            let mut done = [false; 3];
            for _ in 0..10 {
                for (i, t) in waiting.iter_mut().enumerate() {
                    if !done[i] {
                        if let std::task::Poll::Ready(out) = t.poll() {
                            assert_eq!(out, Ok(()));
                            done[i] = true;
                        }
                    }
                }
            }
            assert_eq!(
                done, [true; 3],
                "every call that waited for the ceiling ran"
            );
            let c = ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
            assert_accounted(&c);
            for g in [&HOLDER, &BOUNDED, &NEVER_WAITS, &IMPATIENT] {
                assert_accounted(&g.stats());
            }
        });
        config::clear();
    }
}

#[cfg(feature = "config")]
mod listing {
    use super::*;
    use pool_runtime::{config, register_group, Group, GroupSpec};

    static NEVER_CALLED: Group = Group::new(GroupSpec::new("acc28::never_called").size(7));
    register_group!(NEVER_CALLED);

    /// `pooled::groups()`: "Every group in the binary (registered at link
    /// time), sorted by name, with its current settings and stats. Listing
    /// does not start any group." README: "Every group in the binary is
    /// known, even one never called". A load reaches a group never called,
    /// and the listing shows it without starting it.
    #[test]
    fn groups_lists_every_group_sorted_with_loaded_settings_and_starts_none() {
        let _turn = common::config_turn();
        let names: Vec<_> = pool_runtime::groups().iter().map(|g| g.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "sorted by name");
        assert!(names.contains(&"acc28::never_called"), "{names:?}");
        let report =
            config::load_str("acc28.toml", "[groups.\"acc28::never_called\"]\nsize = 9\n").unwrap();
        assert!(
            report
                .changes
                .iter()
                .any(|c| c.group == "acc28::never_called"
                    && c.setting == "size"
                    && c.effect == config::Effect::AtFirstUse),
            "{report}"
        );
        let info = pool_runtime::groups()
            .into_iter()
            .find(|g| g.name == "acc28::never_called")
            .unwrap();
        assert_eq!(info.settings.starting_size(), 9);
        assert_eq!(info.stats, None, "not started");
        assert!(!NEVER_CALLED.is_started(), "listing started it");
        assert_eq!(NEVER_CALLED.settings().starting_size(), 9);
        assert!(!NEVER_CALLED.is_started(), "reading settings started it");
        config::clear();
        assert_eq!(NEVER_CALLED.settings().starting_size(), 7);
        assert!(!NEVER_CALLED.is_started());
    }
}

// ---- scale-down under a threaded load ------------------------------------------

/// README, "Limits": "At every admission `running <= limit`, including
/// while scaling down under load". Six threads (sync `run` and async
/// `submit` under `block_on`, with weights) keep each of the six pools busy
/// at 3 slots; it is resized to 1, and once its running count has come
/// down to 1, every body that starts finds at most one body running,
/// counted from outside (each body leaves the meter before it returns).
/// The same with sync barging on: "The limit holds as always".
#[test]
fn after_a_scale_down_under_threaded_load_no_body_starts_beside_another() {
    use std::sync::atomic::AtomicBool;
    within(BOUND, || {
        // Sync barging ("The limit holds as always") off, then on.
        for (name, pool) in six(3).into_iter().chain(six(3).into_iter().map(|(n, p)| {
            p.set_sync_barging(Some(Duration::from_millis(1)));
            (format!("{n} barging"), p)
        })) {
            let meter = Meter::default();
            let phase_b = Arc::new(AtomicBool::new(false));
            let stop = Arc::new(AtomicBool::new(false));
            let violations = Arc::new(AtomicUsize::new(0));
            let started_b = Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = (0..6i64)
                .map(|t| {
                    let (pool, meter, phase_b, stop, violations, started_b) = (
                        pool.clone(),
                        meter.clone(),
                        phase_b.clone(),
                        stop.clone(),
                        violations.clone(),
                        started_b.clone(),
                    );
                    std::thread::spawn(move || {
                        let body = || {
                            let inside = meter.enter();
                            if phase_b.load(Ordering::SeqCst) {
                                started_b.fetch_add(1, Ordering::SeqCst);
                                if meter.now() > 1 {
                                    violations.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                            std::thread::sleep(Duration::from_micros(300));
                            drop(inside);
                        };
                        while !stop.load(Ordering::SeqCst) {
                            if t % 2 == 0 {
                                pool.run_weighted(t, body).unwrap();
                            } else {
                                futures::executor::block_on(pool.submit_weighted(t, async {
                                    body();
                                }))
                                .unwrap();
                            }
                        }
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(40));
            assert!(
                meter.max() <= 3,
                "{name}: {} at once on 3 slots",
                meter.max()
            );
            assert_eq!(pool.resize(1), 1, "{name}");
            wait_until(&format!("{name}: running comes down"), || {
                pool.stats().running <= 1
            });
            phase_b.store(true, Ordering::SeqCst);
            wait_until(&format!("{name}: bodies start at the new limit"), || {
                started_b.load(Ordering::SeqCst) >= 30
            });
            stop.store(true, Ordering::SeqCst);
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(
                violations.load(Ordering::SeqCst),
                0,
                "{name}: a body started beside another after the scale-down to 1"
            );
            let stats = pool.stats();
            assert_eq!(stats.in_flight(), 0, "{name}: {stats:?}");
            assert_accounted(&stats);
        }
    });
}
