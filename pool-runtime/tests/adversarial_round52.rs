//! Hostile tests, round 52: the README's "How it works, and the rules it
//! keeps", rule against rule.
//!
//! * Hand-off order under a pause (priority, weights at `i64::MIN`/`MAX`),
//!   LIFO under cancellation (weights ignored), one wakeup per freed slot.
//! * Limits while scaling: a shrink under load admits nothing until
//!   `running < limit`; a fixed pool scaled to 0 holds its queue; a closed
//!   pool scaled up admits its waiters in order, `abort` then turns the
//!   rest away.
//! * Sync and async callers in one queue (FIFO with ignored weights,
//!   priority with extreme weights), a sync-barging caller outside the
//!   queue under pause and close, never taking a slot a queued call is owed.
//! * Cancellation and accounting: submitted at first poll, a dropped
//!   waiter leaves a full waiting bound at once, an abandoned blocking
//!   closure keeps its slot; shutdown by its deadline.
//! * The ceiling's order across a LIFO and a priority group, its waiters
//!   not counted against a group's `max_waiting`; a reload growing a
//!   priority group admits its waiters by weight.
//!
//! Concurrency is counted from outside (a meter, or the permits the test
//! holds); every wait is bounded by a watchdog.
//!
//! Broken promise found (kept, ignored):
//! * `a_sync_caller_moving_from_the_room_to_the_queue_stays_counted_as_waiting`
//!   — a sync-barging caller that a pause, a close or the end of its
//!   barging bound sends from the room into the queue is missing from
//!   `stats().waiting` (and so from the accounting identity) for a few
//!   microseconds, though it waits throughout.
#![cfg(feature = "tokio")]

mod common;

use common::{assert_accounted, wait_for, within, Meter, Task};
use pool_runtime::{Order, Permit, Pool, Rejected};
use std::future::Future;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

/// The one task woken among those still waiting: asserts exactly one was
/// woken, polls it and returns its index and output.
#[track_caller]
fn admit_next<F: Future>(tasks: &mut [Option<Task<F>>]) -> (usize, F::Output) {
    let woken: Vec<usize> = tasks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.as_ref().is_some_and(|t| t.is_woken()))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(woken.len(), 1, "exactly one waiter woken, got {woken:?}");
    let i = woken[0];
    let out = match tasks[i].as_mut().unwrap().poll() {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("waiter {i} was woken but is not admitted"),
    };
    tasks[i] = None;
    (i, out)
}

#[track_caller]
fn none_woken<F: Future>(tasks: &[Option<Task<F>>], when: &str) {
    let woken: Vec<usize> = tasks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.as_ref().is_some_and(|t| t.is_woken()))
        .map(|(i, _)| i)
        .collect();
    assert!(woken.is_empty(), "{when}: woke {woken:?}");
}

fn permit<'a>(out: Result<Permit<'a>, Rejected>) -> Permit<'a> {
    match out {
        Ok(p) => p,
        Err(e) => panic!("expected a permit, got {e:?}"),
    }
}

// ---------------------------------------------------------------------
// Hand-off order
// ---------------------------------------------------------------------

/// "Hand-off, no barging. A freed slot goes straight to the next waiter
/// chosen by the order; ... only that one waiter is woken." with `pause`:
/// "Calls already waiting or running are not affected and keep being
/// admitted", and "Weights order priority pools ... smaller first, FIFO
/// among equals", weights at the extremes.
#[test]
fn a_paused_priority_pool_hands_its_queue_out_by_weight_one_wakeup_each() {
    within(LIMIT, || {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        let held = pool.try_acquire().unwrap();
        let weights = [
            5,
            i64::MAX,
            i64::MIN,
            0,
            5,
            -1,
            i64::MIN + 1,
            i64::MAX,
            i64::MIN,
        ];
        let mut tasks: Vec<_> = weights
            .iter()
            .map(|&w| Some(Task::new(pool.acquire_weighted(w))))
            .collect();
        for t in tasks.iter_mut() {
            t.as_mut().unwrap().assert_pending();
        }
        pool.pause();
        assert!(matches!(pool.try_acquire(), Err(Rejected::Paused)));
        let mut late = Task::new(pool.acquire_weighted(i64::MIN));
        assert!(
            matches!(late.poll(), Poll::Ready(Err(Rejected::Paused))),
            "a newcomer, even at i64::MIN, is turned away while paused"
        );
        drop(late);
        assert_eq!(pool.stats().waiting, weights.len());

        let mut expected: Vec<usize> = (0..weights.len()).collect();
        expected.sort_by_key(|&i| (weights[i], i));
        let mut current = Some(held);
        let mut admitted = vec![];
        let mut live = 1usize;
        for _ in 0..weights.len() {
            drop(current.take());
            live -= 1;
            let (i, out) = admit_next(&mut tasks);
            current = Some(permit(out));
            live += 1;
            assert!(live <= 1);
            admitted.push(i);
            let s = pool.stats();
            assert_eq!((s.running, s.paused), (1, true), "{s:?}");
            assert_accounted(&s);
        }
        assert_eq!(admitted, expected, "weights {weights:?}");
        drop(current);
        let s = pool.stats();
        assert_eq!(s.completed, 1 + weights.len() as u64, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Paused), 2, "{s:?}");
        assert_eq!((s.running, s.waiting, s.cancelled), (0, 0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

/// LIFO under cancellation: "Dropping a waiting call removes it from the
/// queue at once", the freed slot goes to the newest call still waiting
/// (a later arrival included), and "FIFO and LIFO pools accept and ignore"
/// weights.
#[test]
fn lifo_under_cancellation_admits_the_newest_remaining_waiter() {
    within(LIMIT, || {
        let pool = Pool::builder().order(Order::Lifo).size(1).build().unwrap();
        let held = pool.try_acquire().unwrap();
        let weights = [i64::MIN, i64::MAX, 0, -1, i64::MIN, i64::MAX, 7];
        let mut tasks: Vec<_> = weights
            .iter()
            .map(|&w| Some(Task::new(pool.acquire_weighted(w))))
            .collect();
        // The last one arrives later.
        for t in tasks.iter_mut().take(6) {
            t.as_mut().unwrap().assert_pending();
        }
        tasks[5] = None;
        tasks[2] = None;
        let s = pool.stats();
        assert_eq!((s.waiting, s.cancelled), (4, 2), "removed at once: {s:?}");
        assert_accounted(&s);

        drop(held);
        let (i, out) = admit_next(&mut tasks[..6]);
        assert_eq!(i, 4, "the newest remaining waiter");
        let p = permit(out);
        tasks[6].as_mut().unwrap().assert_pending();
        drop(p);
        let mut order = vec![4];
        let mut current: Option<Permit<'_>>;
        let (i, out) = admit_next(&mut tasks);
        order.push(i);
        current = Some(permit(out));
        for _ in 0..3 {
            drop(current.take());
            let (i, out) = admit_next(&mut tasks);
            order.push(i);
            current = Some(permit(out));
            assert_eq!(pool.stats().running, 1);
        }
        drop(current);
        assert_eq!(order, vec![4, 6, 3, 1, 0], "LIFO, weights ignored");
        let s = pool.stats();
        assert_eq!((s.completed, s.cancelled), (6, 2), "{s:?}");
        assert_accounted(&s);
    });
}

// ---------------------------------------------------------------------
// Limits while scaling
// ---------------------------------------------------------------------

/// "At every admission `running <= limit`, including while scaling down
/// under load: scaling down never interrupts running work, the pool just
/// admits nothing until `running < limit`." Counted by the permits the test
/// holds.
#[test]
fn scaling_down_under_load_admits_nothing_until_running_is_below_the_limit() {
    within(LIMIT, || {
        let pool = Pool::fixed(4);
        let mut held: Vec<_> = (0..4).map(|_| pool.try_acquire().unwrap()).collect();
        let mut tasks: Vec<_> = (0..4).map(|_| Some(Task::new(pool.acquire()))).collect();
        for t in tasks.iter_mut() {
            t.as_mut().unwrap().assert_pending();
        }
        assert_eq!(pool.resize(2), 2);
        let s = pool.stats();
        assert_eq!((s.running, s.cancelled, s.size), (4, 0, 2), "{s:?}");
        held.pop();
        none_woken(&tasks, "3 running, limit 2");
        held.pop();
        none_woken(&tasks, "2 running, limit 2");
        assert!(pool.try_acquire().is_err(), "no newcomer either");
        held.pop();
        let (i, out) = admit_next(&mut tasks);
        assert_eq!(i, 0);
        held.push(permit(out));
        assert_eq!(held.len(), 2);
        none_woken(&tasks, "at the limit again");
        drop(held.remove(0));
        let (i, out) = admit_next(&mut tasks);
        assert_eq!(i, 1);
        held.push(permit(out));
        assert_eq!(held.len(), 2, "never above the new limit");
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (2, 2), "{s:?}");
        for _ in 0..2 {
            drop(held.remove(0));
            let (_, out) = admit_next(&mut tasks);
            drop(permit(out));
        }
        drop(held);
        let s = pool.stats();
        assert_eq!(s.completed, 8, "{s:?}");
        assert_accounted(&s);
    });
}

/// "A fixed pool scaled to 0 holds its queue until scaled up", through
/// every release of the running calls, and a scale-up admits exactly as
/// many as it adds, in order.
#[test]
fn a_fixed_pool_scaled_to_zero_holds_its_queue_until_scaled_up() {
    within(LIMIT, || {
        let pool = Pool::fixed(2);
        let held: Vec<_> = (0..2).map(|_| pool.try_acquire().unwrap()).collect();
        let mut tasks: Vec<_> = (0..3).map(|_| Some(Task::new(pool.acquire()))).collect();
        for t in tasks.iter_mut() {
            t.as_mut().unwrap().assert_pending();
        }
        assert_eq!(pool.resize(0), 0);
        drop(held);
        none_woken(&tasks, "scaled to 0");
        for t in tasks.iter_mut() {
            t.as_mut().unwrap().assert_pending();
        }
        let s = pool.stats();
        assert_eq!((s.running, s.waiting, s.size), (0, 3, 0), "{s:?}");
        assert_accounted(&s);
        assert_eq!(pool.scale(1), 1);
        let (i, out) = admit_next(&mut tasks);
        assert_eq!(i, 0);
        let first = permit(out);
        assert_eq!(pool.resize(5), 5);
        let mut rest = vec![];
        for expected in [1, 2] {
            let woken: Vec<_> = (0..3)
                .filter(|&j| tasks[j].as_ref().is_some_and(|t| t.is_woken()))
                .collect();
            assert!(woken.contains(&expected), "{woken:?}");
            let out = match tasks[expected].as_mut().unwrap().poll() {
                Poll::Ready(out) => out,
                Poll::Pending => panic!("waiter {expected} not admitted"),
            };
            tasks[expected] = None;
            rest.push(permit(out));
        }
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (3, 0), "{s:?}");
        drop((first, rest));
        let s = pool.stats();
        assert_eq!(s.completed, 5, "{s:?}");
        assert_accounted(&s);
    });
}

/// Close while scaling: "Stops intake for good ...; waiting and running
/// calls finish", so a closed pool scaled up admits its waiters in order
/// within the new limit; `abort` then "rejects every waiting call at once
/// with `Rejected::Closed` ...; running calls finish".
#[test]
fn a_closed_pool_scaled_up_admits_its_waiters_in_order_and_abort_turns_the_rest_away() {
    within(LIMIT, || {
        let pool = Pool::fixed(1);
        let held = pool.try_acquire().unwrap();
        let mut tasks: Vec<_> = (0..4).map(|_| Some(Task::new(pool.acquire()))).collect();
        for t in tasks.iter_mut() {
            t.as_mut().unwrap().assert_pending();
        }
        pool.close();
        let mut late = Task::new(pool.submit(async {}));
        assert!(matches!(late.poll(), Poll::Ready(Err(Rejected::Closed))));
        assert_eq!(pool.resize(3), 3);
        let woken: Vec<usize> = (0..4)
            .filter(|&j| tasks[j].as_ref().unwrap().is_woken())
            .collect();
        assert_eq!(woken, vec![0, 1], "the two oldest waiters, at once");
        let mut admitted = vec![];
        for j in woken {
            admitted.push(permit(tasks[j].as_mut().unwrap().assert_ready()));
            tasks[j] = None;
        }
        let s = pool.stats();
        assert_eq!((s.running, s.waiting, s.closed), (3, 2, true), "{s:?}");
        pool.abort();
        for j in [2, 3] {
            let t = tasks[j].as_mut().unwrap();
            assert!(t.is_woken(), "waiter {j} woken by abort");
            assert!(matches!(t.poll(), Poll::Ready(Err(Rejected::Closed))));
            tasks[j] = None;
        }
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (3, 0), "running calls finish");
        drop(held);
        drop(admitted);
        let s = pool.stats();
        assert_eq!(s.completed, 3, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Closed), 3, "{s:?}");
        assert_accounted(&s);
    });
}

// ---------------------------------------------------------------------
// Sync and async callers in one queue
// ---------------------------------------------------------------------

/// One queue for every form: a FIFO pool admits async and sync (parked
/// thread) callers in arrival order, weights ignored ("FIFO and LIFO pools
/// accept and ignore them"), one at a time counted from outside.
#[test]
fn sync_and_async_callers_share_one_fifo_queue_in_arrival_order() {
    within(LIMIT, || {
        let pool = Pool::fixed(1);
        let meter = Meter::default();
        let log = Mutex::new(Vec::new());
        let held = pool.try_acquire().unwrap();
        let body = |name: &'static str| {
            let _inside = meter.enter();
            log.lock().unwrap().push(name);
        };
        std::thread::scope(|scope| {
            let (pool, body) = (&pool, &body);
            let mut a = Task::new(pool.submit_weighted(i64::MAX, async { body("A") }));
            a.assert_pending();
            let b = scope.spawn(move || pool.run_weighted(i64::MIN, move || body("B")));
            wait_for("B queued", || pool.stats().waiting == 2);
            let mut c = Task::new(pool.submit_weighted(i64::MAX, async { body("C") }));
            c.assert_pending();
            let d = scope.spawn(move || pool.run_weighted(i64::MIN, move || body("D")));
            wait_for("D queued", || pool.stats().waiting == 4);
            drop(held);
            assert!(a.is_woken(), "A waited longest");
            assert!(!c.is_woken(), "only that one waiter is woken");
            assert_eq!(a.assert_ready(), Ok(()));
            // C may be woken only once B (a parked thread, next in line)
            // has run: read the wakeup first, then B's trace.
            let c_woken = c.is_woken();
            assert!(
                !c_woken || log.lock().unwrap().contains(&"B"),
                "A's slot went to C before B"
            );
            b.join().unwrap().unwrap();
            wait_for("C woken after B", || c.is_woken());
            assert_eq!(c.assert_ready(), Ok(()));
            d.join().unwrap().unwrap();
        });
        assert_eq!(*log.lock().unwrap(), vec!["A", "B", "C", "D"]);
        assert_eq!((meter.max(), meter.done()), (1, 4));
        let s = pool.stats();
        assert_eq!(s.completed, 5, "{s:?}");
        assert_accounted(&s);
    });
}

/// The same in a priority pool with weights at the extremes: a sync caller
/// at `i64::MIN` goes before async callers queued earlier; equal weights
/// (`i64::MAX`, one async, one sync) go first come, first served.
#[test]
fn sync_and_async_callers_of_a_priority_pool_are_admitted_by_weight_then_arrival() {
    within(LIMIT, || {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        let meter = Meter::default();
        let log = Mutex::new(Vec::new());
        let held = pool.try_acquire().unwrap();
        let body = |name: &'static str| {
            let _inside = meter.enter();
            log.lock().unwrap().push(name);
        };
        std::thread::scope(|scope| {
            let (pool, body) = (&pool, &body);
            let mut a = Task::new(pool.submit_weighted(0, async { body("A0") }));
            a.assert_pending();
            let mut c = Task::new(pool.submit_weighted(i64::MAX, async { body("Cmax") }));
            c.assert_pending();
            let d = scope.spawn(move || pool.run_weighted(i64::MAX, move || body("Dmax")));
            wait_for("D queued", || pool.stats().waiting == 3);
            let b = scope.spawn(move || pool.run_weighted(i64::MIN, move || body("Bmin")));
            wait_for("B queued", || pool.stats().waiting == 4);
            drop(held);
            b.join().unwrap().unwrap();
            wait_for("A woken after B", || a.is_woken());
            assert!(!c.is_woken(), "only the next waiter is woken");
            assert_eq!(a.assert_ready(), Ok(()));
            assert!(c.is_woken(), "C (i64::MAX, before D) next");
            assert_eq!(c.assert_ready(), Ok(()));
            d.join().unwrap().unwrap();
        });
        assert_eq!(*log.lock().unwrap(), vec!["Bmin", "A0", "Cmax", "Dmax"]);
        assert_eq!((meter.max(), meter.done()), (1, 4));
        let s = pool.stats();
        assert_eq!(s.completed, 5, "{s:?}");
        assert_accounted(&s);
    });
}

/// `sync_barging`: "queued calls keep their order and are never overtaken,
/// callers outside the queue count as waiting (a pause or a close leaves
/// them waiting, as queued calls)", and "it never takes a slot a queued
/// call is owed". A sync caller waits outside the queue (a bound far past
/// the test), an async call queues after it; the freed slot goes to the
/// queued call; under a pause (then a close) the outside caller is still
/// waiting, and gets the slot once nobody is queued.
#[test]
fn a_sync_barging_caller_never_takes_a_queued_calls_slot_and_outlasts_pause_and_close() {
    for close in [false, true] {
        within(LIMIT, move || {
            let pool = Pool::fixed(1);
            pool.set_sync_barging(Some(Duration::from_secs(3600)));
            let meter = Meter::default();
            let log = Mutex::new(Vec::new());
            let held = pool.try_acquire().unwrap();
            std::thread::scope(|scope| {
                let t = scope.spawn(|| {
                    pool.run(|| {
                        let _inside = meter.enter();
                        log.lock().unwrap().push("T");
                    })
                });
                wait_for("T counted as waiting", || pool.stats().waiting == 1);
                let mut q = Task::new(pool.acquire());
                q.assert_pending();
                assert_eq!(pool.stats().waiting, 2);
                if close {
                    pool.close();
                } else {
                    pool.pause();
                }
                assert!(pool.try_acquire().is_err(), "newcomers turned away");
                drop(held);
                assert!(q.is_woken(), "the queued call is owed the slot");
                let q_permit = permit(q.assert_ready());
                let inside_q = meter.enter();
                log.lock().unwrap().push("Q");
                // (A snapshot taken while the pause or close moves T from
                // the room into the queue may miss it: see
                // `a_sync_caller_moving_from_the_room_to_the_queue_stays_counted_as_waiting`.)
                wait_for("T still waits", || {
                    let s = pool.stats();
                    (s.running, s.waiting) == (1, 1)
                });
                assert!(!t.is_finished(), "T did not run beside Q");
                drop(inside_q);
                drop(q_permit);
                assert_eq!(t.join().unwrap(), Ok(()), "close {close}");
            });
            assert_eq!(*log.lock().unwrap(), vec!["Q", "T"]);
            assert_eq!(meter.max(), 1);
            let s = pool.stats();
            assert_eq!(s.completed, 3, "{s:?}");
            assert_accounted(&s);
        });
    }
}

// ---------------------------------------------------------------------
// Cancellation and accounting
// ---------------------------------------------------------------------

/// "A call is submitted when it is first polled", and "Dropping a waiting
/// call removes it from the queue at once": a dropped waiter frees its
/// place in a full waiting bound for the next newcomer at once.
#[test]
fn submitted_at_first_poll_and_a_dropped_waiter_frees_its_place_in_a_full_bound() {
    within(LIMIT, || {
        let pool = Pool::builder().size(1).max_waiting(2).build().unwrap();
        let never_polled = pool.submit(async {});
        let never_polled_blocking = pool.submit_weighted(i64::MIN, async {});
        assert_eq!(pool.stats().submitted(), 0);
        drop((never_polled, never_polled_blocking));
        let s = pool.stats();
        assert_eq!((s.submitted(), s.cancelled), (0, 0), "{s:?}");

        let held = pool.try_acquire().unwrap();
        let mut w1 = Task::new(pool.acquire());
        let mut w2 = Task::new(pool.acquire());
        w1.assert_pending();
        w2.assert_pending();
        let mut full = Task::new(pool.acquire());
        assert!(matches!(full.poll(), Poll::Ready(Err(Rejected::Full))));
        drop(w1);
        let s = pool.stats();
        assert_eq!((s.waiting, s.cancelled), (1, 1), "{s:?}");
        let mut w3 = Task::new(pool.acquire());
        w3.assert_pending();
        assert_eq!(pool.stats().waiting, 2);
        drop(held);
        assert!(w2.is_woken() && !w3.is_woken());
        drop(permit(w2.assert_ready()));
        assert!(w3.is_woken());
        drop(permit(w3.assert_ready()));
        let s = pool.stats();
        assert_eq!(s.submitted(), 5, "{s:?}");
        assert_eq!(
            (s.completed, s.cancelled, s.rejected_for(Rejected::Full)),
            (3, 1, 1)
        );
        assert_accounted(&s);
    });
}

/// "Blocking closures carry their slot to the executor thread and release
/// it there, so abandoning the wait never lets more closures run than the
/// limit." The abandoned call's closure runs on; three more wait behind
/// it; counted from outside.
#[test]
fn an_abandoned_blocking_closure_keeps_its_slot_until_it_ends() {
    within(LIMIT, || {
        let rt = common::runtime();
        rt.block_on(async {
            let pool = Arc::new(Pool::fixed(1));
            let meter = Meter::default();
            let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
            let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
            let first = {
                let (pool, meter) = (pool.clone(), meter.clone());
                tokio::spawn(async move {
                    pool.submit_blocking(move || {
                        let _inside = meter.enter();
                        started_tx.send(()).unwrap();
                        go_rx.recv().unwrap();
                    })
                    .await
                })
            };
            started_rx.await.unwrap();
            first.abort();
            assert!(first.await.unwrap_err().is_cancelled());
            assert!(pool.try_acquire().is_err(), "the closure still holds it");
            let others: Vec<_> = (0..3)
                .map(|_| {
                    let (pool, meter) = (pool.clone(), meter.clone());
                    tokio::spawn(async move {
                        pool.submit_blocking(move || {
                            let _inside = meter.enter();
                            std::thread::sleep(Duration::from_millis(2));
                        })
                        .await
                    })
                })
                .collect();
            let p = pool.clone();
            tokio::task::spawn_blocking(move || wait_for("3 waiting", || p.stats().waiting == 3))
                .await
                .unwrap();
            assert_eq!(meter.now(), 1, "only the abandoned closure runs");
            go_tx.send(()).unwrap();
            for o in others {
                o.await.unwrap().unwrap();
            }
            assert_eq!((meter.max(), meter.done()), (1, 4));
            let p = pool.clone();
            tokio::task::spawn_blocking(move || {
                wait_for("all released", || p.stats().running == 0)
            })
            .await
            .unwrap();
            let s = pool.stats();
            assert_eq!(s.submitted(), 4 + s.rejected_total(), "{s:?}");
            assert_eq!(s.completed + s.cancelled, 4, "{s:?}");
            assert_accounted(&s);
        });
    });
}

/// "Shutdown (`Pool::shutdown(Some(timeout))`) returns by its deadline
/// whatever the calls do: past it, waiting calls are turned away and
/// `ShutdownTimedOut` says how many calls still run (they are never
/// interrupted ...)".
#[test]
fn shutdown_returns_by_its_deadline_turning_waiters_away_and_counting_the_running() {
    within(LIMIT, || {
        let rt = common::runtime();
        rt.block_on(async {
            let pool = Arc::new(
                Pool::builder()
                    .order(Order::Priority)
                    .size(2)
                    .build()
                    .unwrap(),
            );
            let meter = Meter::default();
            let (release_tx, release_rx) = tokio::sync::watch::channel(false);
            let running: Vec<_> = (0..2)
                .map(|_| {
                    let (pool, meter, mut rx) = (pool.clone(), meter.clone(), release_rx.clone());
                    tokio::spawn(async move {
                        pool.submit(async move {
                            let _inside = meter.enter();
                            let _ = rx.wait_for(|v| *v).await;
                        })
                        .await
                    })
                })
                .collect();
            // (Blocking this thread is fine: it drives no worker.)
            wait_for("2 running", || {
                pool.stats().running == 2 && meter.now() == 2
            });
            let waiters: Vec<_> = [i64::MIN, 0, i64::MAX]
                .into_iter()
                .map(|w| {
                    let (pool, meter) = (pool.clone(), meter.clone());
                    tokio::spawn(async move {
                        pool.submit_weighted(w, async move {
                            let _inside = meter.enter();
                        })
                        .await
                    })
                })
                .collect();
            let p = pool.clone();
            let m = meter.clone();
            tokio::task::spawn_blocking(move || {
                wait_for("2 running, 3 waiting", || {
                    let s = p.stats();
                    s.running == 2 && s.waiting == 3 && m.now() == 2
                })
            })
            .await
            .unwrap();
            let t0 = Instant::now();
            let out = pool.shutdown(Some(Duration::from_millis(100))).await;
            let took = t0.elapsed();
            let err = out.expect_err("the running calls outlast the deadline");
            assert!(took >= Duration::from_millis(100), "{took:?}");
            assert!(took < Duration::from_secs(5), "by its deadline: {took:?}");
            assert_eq!(
                (err.running, err.nested, err.turned_away),
                (2, 0, 3),
                "{err:?}"
            );
            for w in waiters {
                assert_eq!(w.await.unwrap(), Err(Rejected::Closed));
            }
            assert_eq!(meter.now(), 2, "never interrupted");
            release_tx.send(true).unwrap();
            for r in running {
                assert_eq!(r.await.unwrap(), Ok(()));
            }
            tokio::time::timeout(Duration::from_secs(10), pool.drained())
                .await
                .expect("drained");
            assert_eq!((meter.max(), meter.done()), (2, 2));
            let s = pool.stats();
            assert_eq!(
                (s.completed, s.rejected_for(Rejected::Closed)),
                (2, 3),
                "{s:?}"
            );
            assert_accounted(&s);
        });
    });
}

// ---------------------------------------------------------------------
// The queue against a model: every order, > 64 distinct weights,
// cancellations and newcomers interleaved with hand-offs
// ---------------------------------------------------------------------

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }
}

/// "A freed slot goes straight to the next waiter chosen by the order ...
/// only that one waiter is woken", "Dropping a waiting call removes it from
/// the queue at once", "smaller first, FIFO among equals" (priority),
/// "FIFO and LIFO pools accept and ignore" weights: a pool of one checked
/// against a model at every step, 1200 calls over 150 distinct weights
/// (past the 64 the priority queue keeps inline) with the extremes.
#[test]
fn every_order_hands_off_exactly_as_a_model_under_cancellations_and_newcomers() {
    within(LIMIT, || {
        let mut table: Vec<i64> = vec![i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        let mut rng = Lcg(52);
        while table.len() < 150 {
            let w = rng.next() as i64 - (1 << 52);
            if !table.contains(&w) {
                table.push(w);
            }
        }
        for order in [Order::Fifo, Order::Lifo, Order::Priority] {
            let pool = Pool::builder().order(order).size(1).build().unwrap();
            let mut rng = Lcg(order as u64 + 7);
            let mut current = Some(pool.try_acquire().unwrap());
            // (arrival, weight, task)
            let mut waiting = Vec::new();
            let mut seq = 0u64;
            let (mut made, mut cancelled, mut admitted) = (0u64, 0u64, 0u64);
            loop {
                let action = rng.next() % 10;
                if made < 1200 && (action < 4 || waiting.is_empty()) {
                    let w = table[(rng.next() % table.len() as u64) as usize];
                    let mut t = Task::new(pool.acquire_weighted(w));
                    t.assert_pending();
                    waiting.push((seq, w, t));
                    seq += 1;
                    made += 1;
                } else if action < 6 && !waiting.is_empty() {
                    let i = (rng.next() % waiting.len() as u64) as usize;
                    drop(waiting.swap_remove(i));
                    cancelled += 1;
                } else if !waiting.is_empty() {
                    let expected = match order {
                        Order::Fifo => waiting.iter().min_by_key(|(s, _, _)| *s),
                        Order::Lifo => waiting.iter().max_by_key(|(s, _, _)| *s),
                        _ => waiting.iter().min_by_key(|(s, w, _)| (*w, *s)),
                    }
                    .map(|(s, _, _)| *s)
                    .unwrap();
                    drop(current.take());
                    let woken: Vec<u64> = waiting
                        .iter()
                        .filter(|(_, _, t)| t.is_woken())
                        .map(|(s, _, _)| *s)
                        .collect();
                    assert_eq!(woken, vec![expected], "{order:?}, call #{admitted}");
                    let i = waiting.iter().position(|(s, _, _)| *s == expected).unwrap();
                    let (_, _, mut t) = waiting.swap_remove(i);
                    current = Some(permit(t.assert_ready()));
                    admitted += 1;
                } else if made >= 1200 {
                    break;
                }
                let s = pool.stats();
                assert_eq!(
                    (s.waiting, s.running),
                    (waiting.len(), 1),
                    "{order:?}: {s:?}"
                );
                assert_eq!(s.cancelled, cancelled, "{order:?}");
                assert_accounted(&s);
            }
            drop(current);
            let s = pool.stats();
            assert_eq!(s.completed, admitted + 1, "{order:?}: {s:?}");
            assert_eq!(s.submitted(), made + 1, "{order:?}: {s:?}");
            assert_accounted(&s);
            assert!(admitted > 300 && cancelled > 200, "{admitted} {cancelled}");
        }
    });
}

// ---------------------------------------------------------------------
// Cancellation, panics and nested calls against pause, close and bounds
// ---------------------------------------------------------------------

/// Pending forever; its `Drop` calls the pool it runs in, synchronously.
struct CallsOnDrop<'a> {
    pool: &'a Pool,
    meter: Meter,
    log: Arc<Mutex<Vec<&'static str>>>,
    result: Arc<Mutex<Option<Result<(), Rejected>>>>,
}

impl Future for CallsOnDrop<'_> {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Drop for CallsOnDrop<'_> {
    fn drop(&mut self) {
        let (meter, log) = (&self.meter, &self.log);
        let r = self.pool.run(|| {
            let _inside = meter.enter();
            log.lock().unwrap().push("drop");
        });
        *self.result.lock().unwrap() = Some(r);
    }
}

/// "When a running call is cancelled, its work is dropped under its slot,
/// so a `Drop` that calls the same pool runs as a nested call instead of
/// waiting for a slot it holds itself" — in a full pool of one with a
/// waiter queued, paused or closed meanwhile (nested calls "belong to
/// admitted work"): the `Drop`'s call runs, then the waiter.
#[test]
fn a_cancelled_calls_drop_calls_its_full_pool_as_a_nested_call_even_paused_or_closed() {
    for state in ["open", "paused", "closed"] {
        within(LIMIT, move || {
            let pool = Pool::fixed(1);
            let meter = Meter::default();
            let log = Arc::new(Mutex::new(Vec::new()));
            let result = Arc::new(Mutex::new(None));
            let mut running = Task::new(pool.submit(CallsOnDrop {
                pool: &pool,
                meter: meter.clone(),
                log: log.clone(),
                result: result.clone(),
            }));
            running.assert_pending();
            let (m, l) = (meter.clone(), log.clone());
            let mut waiter = Task::new(pool.submit(async move {
                let _inside = m.enter();
                l.lock().unwrap().push("waiter");
            }));
            waiter.assert_pending();
            match state {
                "paused" => pool.pause(),
                "closed" => pool.close(),
                _ => {}
            }
            drop(running);
            assert_eq!(*result.lock().unwrap(), Some(Ok(())), "{state}");
            assert!(waiter.is_woken(), "{state}: the slot went on to the waiter");
            assert_eq!(waiter.assert_ready(), Ok(()));
            assert_eq!(*log.lock().unwrap(), vec!["drop", "waiter"], "{state}");
            assert_eq!(meter.max(), 1, "{state}");
            let s = pool.stats();
            assert_eq!((s.cancelled, s.rejected_total()), (1, 0), "{state}: {s:?}");
            assert_eq!(
                (s.running, s.nested, s.waiting),
                (0, 0, 0),
                "{state}: {s:?}"
            );
            assert_accounted(&s);
        });
    }
}

/// Drives a task polled by hand to its end: each poll must have been asked
/// for (the task woken) or the task is stuck.
#[track_caller]
fn drive<F: Future>(task: &mut Task<F>) -> F::Output {
    for _ in 0..10_000 {
        if let Poll::Ready(out) = task.poll() {
            return out;
        }
        assert!(task.is_woken(), "stuck: pending and not woken");
    }
    panic!("not done after 10000 polls");
}

/// Nested calls: "only one nested call at a time uses a parent's slot; the
/// others wait, in the queue, for a free slot or for that slot to come
/// back ... (a paused or closed pool or a full waiting bound does not turn
/// them away: they belong to admitted work; `abort` turns them away with
/// `Closed`, as it does every waiting call ...)". Three joined nested calls
/// in a pool of one with `max_waiting = 0`, paused, closed, or aborted
/// while the first runs; counted from outside.
#[test]
fn joined_nested_calls_are_not_turned_away_by_pause_close_or_a_zero_bound_but_abort_does() {
    for state in ["bound", "paused", "closed", "aborted"] {
        within(LIMIT, move || {
            let pool = Pool::builder().size(1).max_waiting(0).build().unwrap();
            let meter = Meter::default();
            let (gate, open) = common::gate();
            let (inner_gate, inner_open) = common::gate();
            let nested = |gate: Option<common::Gate>| {
                let meter = meter.clone();
                let pool = &pool;
                pool.submit(async move {
                    let _inside = meter.enter();
                    if let Some(gate) = gate {
                        gate.await;
                    }
                    for _ in 0..3 {
                        common::yield_now().await;
                    }
                })
            };
            let mut parent = Task::new(pool.submit(async {
                gate.await;
                futures::join!(nested(Some(inner_gate)), nested(None), nested(None))
            }));
            parent.assert_pending();
            assert_eq!(pool.stats().running, 1);
            match state {
                "paused" => pool.pause(),
                "closed" | "aborted" => pool.close(),
                _ => {}
            }
            open.store(true, SeqCst);
            parent.assert_pending();
            let s = pool.stats();
            assert_eq!(
                (s.running, s.nested, s.waiting),
                (1, 1, 2),
                "{state}: {s:?}"
            );
            assert_eq!(meter.now(), 1);
            if state == "aborted" {
                pool.abort();
            }
            inner_open.store(true, SeqCst);
            let (a, b, c) = drive(&mut parent).expect("the parent was admitted");
            assert_eq!(a, Ok(()), "{state}");
            if state == "aborted" {
                assert_eq!((b, c), (Err(Rejected::Closed), Err(Rejected::Closed)));
                assert_eq!(meter.done(), 1);
            } else {
                assert_eq!((b, c), (Ok(()), Ok(())), "{state}");
                assert_eq!(meter.done(), 3);
            }
            assert_eq!(meter.max(), 1, "{state}: one nested call at a time");
            let s = pool.stats();
            assert_eq!(
                (s.running, s.nested, s.waiting),
                (0, 0, 0),
                "{state}: {s:?}"
            );
            let turned_away = if state == "aborted" { 2 } else { 0 };
            assert_eq!(s.rejected_total(), turned_away, "{state}: {s:?}");
            assert_eq!(s.completed, 4 - turned_away, "{state}: {s:?}");
            assert_accounted(&s);
        });
    }
}

/// "a panicking call frees its slot and the panic reaches the caller", and
/// the freed slot is handed on by the order: the smallest weight, one
/// wakeup; "Panicked calls are counted in `completed` and again in
/// `panicked`".
#[test]
fn a_panicking_call_hands_its_slot_to_the_smallest_weight_and_the_panic_reaches_its_caller() {
    common::quiet_planned_panics();
    within(LIMIT, || {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        let (gate, open) = common::gate();
        let mut doomed = Task::new(pool.submit(async {
            gate.await;
            panic!("planned: a call that panics");
        }));
        doomed.assert_pending();
        let mut tasks: Vec<_> = [7, i64::MAX, i64::MIN, i64::MIN]
            .into_iter()
            .map(|w| Some(Task::new(pool.acquire_weighted(w))))
            .collect();
        for t in tasks.iter_mut() {
            t.as_mut().unwrap().assert_pending();
        }
        open.store(true, SeqCst);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doomed.poll()));
        let payload = caught.expect_err("the panic reaches the caller");
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"planned: a call that panics")
        );
        drop(doomed);
        let (i, out) = admit_next(&mut tasks);
        assert_eq!(i, 2, "the first of the two i64::MIN waiters");
        let p = permit(out);
        let s = pool.stats();
        assert_eq!(
            (s.running, s.waiting, s.panicked, s.completed),
            (1, 3, 1, 1),
            "{s:?}"
        );
        assert_accounted(&s);
        drop(p);
        let (i, out) = admit_next(&mut tasks);
        assert_eq!(i, 3);
        drop(permit(out));
        let (i, out) = admit_next(&mut tasks);
        assert_eq!(i, 0);
        drop(permit(out));
        let (i, out) = admit_next(&mut tasks);
        assert_eq!(i, 1);
        drop(permit(out));
        let s = pool.stats();
        assert_eq!((s.completed, s.panicked, s.cancelled), (5, 1, 0), "{s:?}");
        assert_accounted(&s);
    });
}

// ---------------------------------------------------------------------
// A storm of every form, counted from outside against the counters
// ---------------------------------------------------------------------

/// "Every term of `submitted == completed + rejected + cancelled +
/// running + nested + waiting` is counted on its own", "At every admission
/// `running <= limit`", sync barging's "The limit holds as always": async,
/// sync (barging on), permits, `try_` and blocking calls on a priority
/// pool with extreme weights, dropped by timeouts, while a task pauses,
/// resumes and rescales it; every outcome tallied by the test matches its
/// counter.
#[test]
fn a_storm_of_every_form_is_accounted_outcome_by_outcome() {
    within(Duration::from_secs(60), || {
        let rt = common::runtime();
        rt.block_on(async {
            let pool = Arc::new(
                Pool::builder()
                    .order(Order::Priority)
                    .size(3)
                    .max_waiting(40)
                    .build()
                    .unwrap(),
            );
            pool.set_sync_barging(Some(Duration::from_micros(200)));
            let meter = Meter::default();
            #[derive(Default)]
            struct Tally {
                ok: u64,
                cancelled: u64,
                rejected: std::collections::HashMap<Rejected, u64>,
            }
            let tally = Arc::new(Mutex::new(Tally::default()));
            let record = |tally: &Mutex<Tally>, out: Option<Result<(), Rejected>>| {
                let mut t = tally.lock().unwrap();
                match out {
                    Some(Ok(())) => t.ok += 1,
                    Some(Err(r)) => *t.rejected.entry(r).or_default() += 1,
                    None => t.cancelled += 1,
                }
            };
            let weights = [i64::MIN, -1, 0, 1, i64::MAX];
            let mut handles = vec![];
            for k in 0..400u64 {
                let (pool, meter, tally) = (pool.clone(), meter.clone(), tally.clone());
                let w = weights[(k % 5) as usize];
                let form = k % 6;
                handles.push(tokio::spawn(async move {
                    let body = |meter: &Meter| meter.enter();
                    match form {
                        0 | 1 => {
                            // async, sometimes dropped by a timeout
                            let fut = pool.submit_weighted(w, async {
                                let _inside = body(&meter);
                                tokio::time::sleep(Duration::from_micros(300)).await;
                            });
                            let timeout = if form == 0 { 1 } else { 1000 };
                            let out = tokio::time::timeout(Duration::from_millis(timeout), fut)
                                .await
                                .ok();
                            record(&tally, out);
                        }
                        2 => {
                            let p = pool.clone();
                            let out = tokio::task::spawn_blocking(move || {
                                p.run_weighted(w, || {
                                    let _inside = body(&meter);
                                    std::thread::sleep(Duration::from_micros(200));
                                })
                            })
                            .await
                            .unwrap();
                            record(&tally, Some(out));
                        }
                        3 => {
                            let out = match pool.acquire_weighted(w).await {
                                Ok(p) => {
                                    let inside = body(&meter);
                                    tokio::task::yield_now().await;
                                    drop(inside);
                                    drop(p);
                                    Ok(())
                                }
                                Err(e) => Err(e),
                            };
                            record(&tally, Some(out));
                        }
                        4 => {
                            let out = match pool.try_acquire() {
                                Ok(p) => {
                                    let inside = body(&meter);
                                    drop(inside);
                                    drop(p);
                                    Ok(())
                                }
                                Err(e) => Err(e),
                            };
                            record(&tally, Some(out));
                        }
                        _ => {
                            let out = pool
                                .submit_blocking_weighted(w, move || {
                                    let _inside = body(&meter);
                                    std::thread::sleep(Duration::from_micros(200));
                                })
                                .await;
                            record(&tally, Some(out));
                        }
                    }
                }));
            }
            // Meanwhile: pause / resume and rescale (never above 4).
            let controller = {
                let pool = pool.clone();
                tokio::spawn(async move {
                    for round in 0..40usize {
                        if round % 4 == 1 {
                            pool.pause();
                        } else {
                            pool.resume();
                        }
                        pool.resize(1 + round % 4);
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    pool.resume();
                    pool.resize(3);
                })
            };
            controller.await.unwrap();
            for h in handles {
                h.await.unwrap();
            }
            let p = pool.clone();
            tokio::task::spawn_blocking(move || {
                wait_for("quiet", || {
                    let s = p.stats();
                    s.running == 0 && s.waiting == 0 && s.nested == 0
                })
            })
            .await
            .unwrap();
            assert!(
                meter.max() <= 4,
                "never above the largest limit: {}",
                meter.max()
            );
            let s = pool.stats();
            let t = tally.lock().unwrap();
            assert_eq!(s.completed, t.ok, "{s:?}");
            assert_eq!(s.cancelled, t.cancelled, "{s:?}");
            for r in [
                Rejected::Paused,
                Rejected::Full,
                Rejected::Closed,
                Rejected::TimedOut,
            ] {
                assert_eq!(
                    s.rejected_for(r),
                    t.rejected.get(&r).copied().unwrap_or(0),
                    "{r:?}: {s:?}"
                );
            }
            assert_eq!(s.submitted(), 400, "{s:?}");
            assert!(meter.done() as u64 >= t.ok, "every admitted body ran");
            assert_accounted(&s);
        });
    });
}

// ---------------------------------------------------------------------
// Callers outside the queue, shutdown under pause, spawn's queue place
// ---------------------------------------------------------------------

/// Sync barging: "callers outside the queue count as waiting", and
/// `abort` "rejects every waiting call at once with `Rejected::Closed`";
/// `shutdown`: "past it, waiting calls are turned away and
/// `ShutdownTimedOut` says how many calls still run". A sync caller
/// waiting outside the queue (bound: an hour) is a waiting call: it is
/// turned away promptly, and counted among the turned away.
#[test]
fn abort_and_shutdown_turn_away_a_sync_caller_waiting_outside_the_queue() {
    for how in ["abort", "shutdown"] {
        within(LIMIT, move || {
            let pool = Pool::fixed(1);
            pool.set_sync_barging(Some(Duration::from_secs(3600)));
            let meter = Meter::default();
            let held = pool.try_acquire().unwrap();
            std::thread::scope(|scope| {
                let t = scope.spawn(|| {
                    pool.run(|| {
                        let _inside = meter.enter();
                    })
                });
                wait_for("T counted as waiting", || pool.stats().waiting == 1);
                if how == "abort" {
                    pool.abort();
                } else {
                    let err =
                        futures::executor::block_on(pool.shutdown(Some(Duration::from_millis(50))))
                            .expect_err("the held permit outlasts the deadline");
                    assert_eq!((err.running, err.turned_away), (1, 1), "{err:?}");
                }
                wait_for("T turned away (not after its hour)", || t.is_finished());
                assert_eq!(t.join().unwrap(), Err(Rejected::Closed), "{how}");
            });
            drop(held);
            assert_eq!(meter.done(), 0);
            let s = pool.stats();
            assert_eq!(s.rejected_for(Rejected::Closed), 1, "{how}: {s:?}");
            assert_eq!((s.waiting, s.running), (0, 0), "{how}: {s:?}");
            assert_accounted(&s);
        });
    }
}

/// BUG. Sync barging: "callers outside the queue count as waiting (a
/// pause or a close leaves them waiting, as queued calls)", "a caller
/// still waiting after the bound takes its place in the queue", and
/// Accounting: "the identity, exact while nothing enters or leaves the
/// pool" (`Stats`' docs: "Taken while calls come and go, the fields are
/// each exact but not mutually consistent": here `waiting` alone is
/// wrong, the caller waits throughout). One sync caller waits in the room
/// of a full pool of one; a pause, a close, or the end of its barging
/// bound sends it on into the queue. Nothing enters or leaves the pool
/// meanwhile, yet for a few microseconds `stats()` shows it in no term:
/// `waiting: 0`, `submitted == 2` against `running: 1` (the identity off
/// by one). Seen in nearly every round (`stats()` adds `counters.waiting`
/// and `room.len()` without the lock, and `Core::enqueue` counts the
/// caller out of the room before `publish_waiting` stores the queue's new
/// length).
#[test]
fn a_sync_caller_moving_from_the_room_to_the_queue_stays_counted_as_waiting() {
    let mut missed = vec![];
    for how in ["pause", "close", "bound"] {
        let seen = within(LIMIT, move || {
            let mut bad = None;
            for _round in 0..100 {
                let pool = Pool::fixed(1);
                let bound = if how == "bound" {
                    Duration::from_millis(1)
                } else {
                    Duration::from_secs(3600)
                };
                pool.set_sync_barging(Some(bound));
                let held = pool.try_acquire().unwrap();
                std::thread::scope(|scope| {
                    let t = scope.spawn(|| pool.run(|| ()));
                    wait_for("T in the room", || pool.stats().waiting == 1);
                    match how {
                        "pause" => pool.pause(),
                        "close" => pool.close(),
                        _ => {}
                    }
                    let t0 = Instant::now();
                    while t0.elapsed() < Duration::from_millis(3) && bad.is_none() {
                        let s = pool.stats();
                        if s.waiting != 1 || s.submitted() != 2 {
                            bad = Some(s);
                        }
                    }
                    drop(held);
                    assert_eq!(t.join().unwrap(), Ok(()));
                });
                if bad.is_some() {
                    break;
                }
            }
            bad
        });
        if let Some(s) = seen {
            missed.push(format!("{how}: {s:?}"));
        }
    }
    assert!(
        missed.is_empty(),
        "a waiting caller missing from a snapshot:\n{}",
        missed.join("\n")
    );
}

/// Sync barging and the waiting bound: "callers outside the queue count as
/// waiting", so with `max_waiting = 1` and one caller in the room an
/// async newcomer and a sync one are turned away `Full` at once; and "a
/// pause ... leaves them waiting, as queued calls": the caller the pause
/// sends on into the queue is not turned away by the bound it fills.
#[test]
fn a_caller_outside_the_queue_fills_the_waiting_bound_and_keeps_its_place_through_a_pause() {
    within(LIMIT, || {
        let pool = Pool::builder().size(1).max_waiting(1).build().unwrap();
        pool.set_sync_barging(Some(Duration::from_secs(3600)));
        let meter = Meter::default();
        let held = pool.try_acquire().unwrap();
        std::thread::scope(|scope| {
            let t = scope.spawn(|| {
                pool.run(|| {
                    let _inside = meter.enter();
                })
            });
            wait_for("T in the room", || pool.stats().waiting == 1);
            let mut late = Task::new(pool.submit(async {}));
            assert!(
                matches!(late.poll(), Poll::Ready(Err(Rejected::Full))),
                "the room's caller fills the bound"
            );
            let u = scope.spawn(|| pool.run(|| ()));
            assert_eq!(u.join().unwrap(), Err(Rejected::Full));
            pool.pause();
            wait_for("T still waiting, in the queue now", || {
                let s = pool.stats();
                s.waiting == 1 && s.submitted() == 4
            });
            assert!(!t.is_finished());
            pool.resume();
            drop(held);
            assert_eq!(t.join().unwrap(), Ok(()), "not turned away");
        });
        assert_eq!(meter.done(), 1);
        let s = pool.stats();
        assert_eq!(
            (s.completed, s.rejected_for(Rejected::Full)),
            (2, 2),
            "{s:?}"
        );
        assert_accounted(&s);
    });
}

/// Sync barging under scaling: "it never takes a slot a queued call is
/// owed", and "growing admits waiters": a pool grown by one slot while a
/// sync caller waits outside the queue and an async call waits in it
/// gives that slot to the queued call; grown again, the outside caller
/// takes the next one; counted from outside.
#[test]
fn growing_a_pool_serves_its_queue_before_callers_outside_it() {
    within(LIMIT, || {
        let pool = Pool::fixed(1);
        pool.set_sync_barging(Some(Duration::from_secs(3600)));
        let meter = Meter::default();
        let held = pool.try_acquire().unwrap();
        std::thread::scope(|scope| {
            let t = scope.spawn(|| {
                pool.run(|| {
                    let _inside = meter.enter();
                    1
                })
            });
            wait_for("T in the room", || pool.stats().waiting == 1);
            let mut q = Task::new(pool.acquire());
            q.assert_pending();
            assert_eq!(pool.resize(2), 2);
            assert!(q.is_woken(), "the queued call is owed the new slot");
            let q_permit = permit(q.assert_ready());
            let _q_inside = meter.enter();
            wait_for("T still waits", || {
                let s = pool.stats();
                (s.running, s.waiting) == (2, 1)
            });
            assert!(!t.is_finished());
            assert_eq!(pool.resize(3), 3);
            assert_eq!(t.join().unwrap(), Ok(1), "the next slot is T's");
            drop(q_permit);
        });
        drop(held);
        assert_eq!(meter.max(), 2);
        let s = pool.stats();
        assert_eq!((s.completed, s.running, s.waiting), (3, 0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

/// Admission timeouts as another way out of the queue, in LIFO and
/// priority pools: the calls made under a 60 ms timeout are turned away
/// `TimedOut` (not before it), those made after the timeout was lifted
/// ("calls already waiting stay": the setter applies to later calls) keep
/// waiting, and the freed slot then goes by the order among those left —
/// the newest (LIFO) or the smallest weight (priority), though the timed
/// out ones were newer or lighter.
#[test]
fn timed_out_waiters_leave_lifo_and_priority_queues_and_the_order_holds_among_the_rest() {
    within(LIMIT, || {
        for order in [Order::Lifo, Order::Priority] {
            let pool = Pool::builder()
                .order(order)
                .size(1)
                .admission_timeout(Duration::from_millis(60))
                .build()
                .unwrap();
            let held = pool.try_acquire().unwrap();
            // Stay: weights 5 and 7, made first, without a timeout.
            pool.set_admission_timeout(None);
            let mut tasks: Vec<_> = [5, 7]
                .into_iter()
                .map(|w| Some(Task::new(pool.acquire_weighted(w))))
                .collect();
            for t in tasks.iter_mut() {
                t.as_mut().unwrap().assert_pending();
            }
            pool.set_admission_timeout(Some(Duration::from_millis(60)));
            let t0 = Instant::now();
            // Time out: newer (LIFO would pick them) and lighter (priority).
            tasks.extend(
                [i64::MIN, 0, 1]
                    .into_iter()
                    .map(|w| Some(Task::new(pool.acquire_weighted(w)))),
            );
            for t in tasks.iter_mut().skip(2) {
                t.as_mut().unwrap().assert_pending();
            }
            for (i, slot) in tasks.iter_mut().enumerate().skip(2) {
                let t = slot.as_mut().unwrap();
                wait_for("the timeout fires", || t.is_woken());
                let out = t.assert_ready();
                assert!(matches!(out, Err(Rejected::TimedOut)), "{order:?} {i}");
                *slot = None;
            }
            assert!(
                t0.elapsed() >= Duration::from_millis(60),
                "{:?}",
                t0.elapsed()
            );
            none_woken(&tasks, "no timeout on the first two");
            let s = pool.stats();
            assert_eq!(
                (s.waiting, s.rejected_for(Rejected::TimedOut)),
                (2, 3),
                "{s:?}"
            );
            drop(held);
            let (first, out) = admit_next(&mut tasks);
            drop(permit(out));
            let (second, out) = admit_next(&mut tasks);
            drop(permit(out));
            let expected = if order == Order::Lifo { (1, 0) } else { (0, 1) };
            assert_eq!((first, second), expected, "{order:?}");
            let s = pool.stats();
            assert_eq!(s.completed, 3, "{s:?}");
            assert_accounted(&s);
        }
    });
}

/// "an admission timeout with `TimedOut`, as it does every call that
/// waits past it" — a sync caller waiting outside the queue (sync barging
/// bound an hour, or shorter than the timeout so that it queues first)
/// times out by the pool's admission timeout.
#[test]
fn a_sync_caller_waiting_outside_the_queue_still_times_out() {
    for barging in [Duration::from_secs(3600), Duration::from_millis(10)] {
        within(LIMIT, move || {
            let pool = Pool::builder()
                .size(1)
                .admission_timeout(Duration::from_millis(60))
                .build()
                .unwrap();
            pool.set_sync_barging(Some(barging));
            let held = pool.try_acquire().unwrap();
            let t0 = Instant::now();
            let out = pool.run(|| ());
            let took = t0.elapsed();
            assert_eq!(out, Err(Rejected::TimedOut), "barging {barging:?}");
            assert!(took >= Duration::from_millis(60), "early: {took:?}");
            assert!(took < Duration::from_secs(10), "late: {took:?}");
            drop(held);
            let s = pool.stats();
            assert_eq!(s.rejected_for(Rejected::TimedOut), 1, "{s:?}");
            assert_accounted(&s);
        });
    }
}

/// "A freed slot goes straight to the next waiter chosen by the order":
/// a waiter handed the slot and dropped before it ran gives it on to the
/// next in the order (no slot lost, one wakeup each), in every order.
#[test]
fn a_waiter_dropped_after_its_hand_off_passes_the_slot_on_in_every_order() {
    within(LIMIT, || {
        for order in [Order::Fifo, Order::Lifo, Order::Priority] {
            let pool = Pool::builder().order(order).size(1).build().unwrap();
            let held = pool.try_acquire().unwrap();
            // Weights: reversed arrival for priority, so every order
            // admits a different call first.
            let weights = [3, 1, 2, 0];
            let mut tasks: Vec<_> = weights
                .iter()
                .map(|&w| Some(Task::new(pool.acquire_weighted(w))))
                .collect();
            for t in tasks.iter_mut() {
                t.as_mut().unwrap().assert_pending();
            }
            let expected: Vec<usize> = match order {
                Order::Fifo => vec![0, 1, 2, 3],
                Order::Lifo => vec![3, 2, 1, 0],
                _ => vec![3, 1, 2, 0],
            };
            drop(held);
            for (k, &e) in expected.iter().enumerate() {
                let woken: Vec<usize> = (0..4)
                    .filter(|&i| tasks[i].as_ref().is_some_and(|t| t.is_woken()))
                    .collect();
                assert_eq!(woken, vec![e], "{order:?} step {k}");
                // Every other one is dropped woken, before its poll.
                if k % 2 == 0 {
                    tasks[e] = None;
                } else {
                    drop(permit(tasks[e].as_mut().unwrap().assert_ready()));
                    tasks[e] = None;
                }
                let s = pool.stats();
                assert!(s.running <= 1, "{s:?}");
                assert_accounted(&s);
            }
            let s = pool.stats();
            assert_eq!((s.running, s.waiting), (0, 0), "{order:?}: {s:?}");
            assert_eq!(s.completed + s.cancelled, 5, "{order:?}: {s:?}");
            assert!(
                pool.try_acquire().is_ok(),
                "{order:?}: the slot is not lost"
            );
        }
    });
}

/// Pause, then shutdown: "Calls already waiting or running are not
/// affected and keep being admitted" (pause) and "waiting and running
/// calls finish" (close): a shutdown of a paused pool with a generous
/// deadline admits every waiter and returns `Ok`.
#[test]
fn a_shutdown_of_a_paused_pool_admits_its_waiters_and_drains() {
    within(LIMIT, || {
        let rt = common::runtime();
        rt.block_on(async {
            let pool = Arc::new(Pool::builder().order(Order::Lifo).size(1).build().unwrap());
            let meter = Meter::default();
            let held = pool.try_acquire_owned(0).unwrap();
            let waiters: Vec<_> = (0..4)
                .map(|_| {
                    let (pool, meter) = (pool.clone(), meter.clone());
                    tokio::spawn(async move {
                        pool.submit(async move {
                            let _inside = meter.enter();
                            tokio::task::yield_now().await;
                        })
                        .await
                    })
                })
                .collect();
            wait_for("4 waiting", || pool.stats().waiting == 4);
            pool.pause();
            let sd = {
                let pool = pool.clone();
                tokio::spawn(async move { pool.shutdown(Some(Duration::from_secs(20))).await })
            };
            wait_for("closed", || pool.is_closed());
            assert!(matches!(
                pool.try_acquire(),
                Err(Rejected::Closed | Rejected::Paused)
            ));
            drop(held);
            for w in waiters {
                assert_eq!(w.await.unwrap(), Ok(()));
            }
            assert_eq!(sd.await.unwrap(), Ok(()));
            assert_eq!((meter.max(), meter.done()), (1, 4));
            let s = pool.stats();
            assert_eq!(s.completed, 5, "{s:?}");
            assert_accounted(&s);
        });
    });
}

/// `spawn_weighted`: "takes its queue place at once" — in a priority pool
/// a spawned call at `i64::MIN` is waiting as soon as `spawn` returns and
/// goes before async callers queued earlier, FIFO among its equals.
#[test]
fn a_spawned_call_takes_its_priority_place_at_once() {
    within(LIMIT, || {
        let rt = common::runtime();
        let _enter = rt.enter();
        let pool = Arc::new(
            Pool::builder()
                .order(Order::Priority)
                .size(1)
                .build()
                .unwrap(),
        );
        let meter = Meter::default();
        let log = Arc::new(Mutex::new(Vec::new()));
        let body = |name: &'static str| {
            let (meter, log) = (meter.clone(), log.clone());
            async move {
                let _inside = meter.enter();
                log.lock().unwrap().push(name);
            }
        };
        let held = pool.try_acquire().unwrap();
        let mut a = Task::new(pool.submit_weighted(0, body("A0")));
        a.assert_pending();
        let mut b = Task::new(pool.submit_weighted(i64::MAX, body("Bmax")));
        b.assert_pending();
        let s1 = pool.spawn_weighted(i64::MIN, body("S1")).unwrap();
        assert_eq!(pool.stats().waiting, 3, "queued as spawn returned");
        let s2 = pool.spawn_weighted(i64::MIN, body("S2")).unwrap();
        assert_eq!(pool.stats().waiting, 4);
        drop(held);
        rt.block_on(async {
            s1.await.unwrap();
            s2.await.unwrap();
        });
        wait_for("A woken after the spawned calls", || a.is_woken());
        assert!(!b.is_woken());
        assert_eq!(a.assert_ready(), Ok(()));
        assert!(b.is_woken());
        assert_eq!(b.assert_ready(), Ok(()));
        assert_eq!(*log.lock().unwrap(), vec!["S1", "S2", "A0", "Bmax"]);
        assert_eq!((meter.max(), meter.done()), (1, 4));
        let s = pool.stats();
        assert_eq!(s.completed, 5, "{s:?}");
        assert_accounted(&s);
    });
}

/// Nested calls in a priority pool: the second of two joined nested calls
/// waits "in the queue, for a free slot or for that slot to come back,
/// whichever comes first" — a slot freed elsewhere goes by the order (an
/// outside waiter at weight 0 before the nested call at `i64::MAX`), the
/// parent's slot coming back goes to its nested call. Counted from
/// outside: never more bodies than slots.
#[test]
fn a_waiting_nested_call_takes_its_parents_slot_back_but_a_free_slot_goes_by_weight() {
    within(LIMIT, || {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(2)
            .build()
            .unwrap();
        let meter = Meter::default();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (n1_gate, n1_open) = common::gate();
        let (o_gate, o_open) = common::gate();
        let (w_gate, w_open) = common::gate();
        let call = |weight: i64, name: &'static str, gate: Option<common::Gate>| {
            let (meter, log) = (meter.clone(), log.clone());
            pool.submit_weighted(weight, async move {
                let _inside = meter.enter();
                log.lock().unwrap().push(name);
                if let Some(gate) = gate {
                    gate.await;
                }
            })
        };
        let mut outsider = Task::new(call(0, "O", Some(o_gate)));
        outsider.assert_pending();
        let mut parent = Task::new(pool.submit(async {
            futures::join!(
                call(i64::MAX, "N1", Some(n1_gate)),
                call(i64::MAX, "N2", None)
            )
        }));
        parent.assert_pending();
        let mut waiter = Task::new(call(0, "W", Some(w_gate)));
        waiter.assert_pending();
        let s = pool.stats();
        assert_eq!((s.running, s.nested, s.waiting), (2, 1, 2), "{s:?}");
        // A slot freed elsewhere: to W (weight 0), not N2 (i64::MAX).
        o_open.store(true, SeqCst);
        assert_eq!(outsider.assert_ready(), Ok(()));
        assert!(waiter.is_woken() && !parent.is_woken());
        waiter.assert_pending(); // W runs, holding the freed slot
        assert_eq!(meter.now(), 2);
        // N1 ends: the parent's slot comes back to N2.
        n1_open.store(true, SeqCst);
        let (a, b) = drive(&mut parent).expect("parent admitted");
        assert_eq!((a, b), (Ok(()), Ok(())));
        w_open.store(true, SeqCst);
        assert_eq!(waiter.assert_ready(), Ok(()));
        assert_eq!(*log.lock().unwrap(), vec!["O", "N1", "W", "N2"]);
        assert_eq!((meter.max(), meter.done()), (2, 4));
        let s = pool.stats();
        assert_eq!(
            (s.running, s.nested, s.waiting, s.completed),
            (0, 0, 0, 5),
            "{s:?}"
        );
        assert_accounted(&s);
    });
}

/// `scale(delta)` on an autoscaled pool is "clamped to [min, max]", and
/// "growing admits waiters" exactly up to the clamp; scaling down past
/// `min` stops at `min` and interrupts nothing.
#[test]
fn scale_on_an_autoscaled_pool_clamps_and_admits_exactly_up_to_max() {
    within(LIMIT, || {
        let pool = Pool::builder()
            .kind(pool_runtime::Kind::Autoscale)
            .order(Order::Lifo)
            .min(2)
            .max(4)
            .build()
            .unwrap();
        assert_eq!(pool.size(), 2);
        let held: Vec<_> = (0..2).map(|_| pool.try_acquire().unwrap()).collect();
        let mut tasks: Vec<_> = (0..5).map(|_| Some(Task::new(pool.acquire()))).collect();
        for t in tasks.iter_mut() {
            t.as_mut().unwrap().assert_pending();
        }
        assert_eq!(pool.scale(isize::MAX), 4);
        let woken: Vec<usize> = (0..5)
            .filter(|&i| tasks[i].as_ref().unwrap().is_woken())
            .collect();
        assert_eq!(woken, vec![3, 4], "two more, the newest (LIFO)");
        let mut more = vec![];
        for i in woken {
            more.push(permit(tasks[i].as_mut().unwrap().assert_ready()));
            tasks[i] = None;
        }
        assert_eq!(pool.scale(isize::MIN), 2);
        let s = pool.stats();
        assert_eq!(
            (s.running, s.waiting, s.size, s.cancelled),
            (4, 3, 2, 0),
            "{s:?}"
        );
        drop(held);
        none_woken(&tasks, "2 running, limit 2");
        drop(more.pop());
        let (i, out) = admit_next(&mut tasks);
        assert_eq!(i, 2);
        let p = permit(out);
        assert_eq!(pool.stats().running, 2);
        drop((p, more));
        for expected in [1, 0] {
            // Two slots free now: the rest are admitted, newest first.
            let t = tasks[expected].as_mut().unwrap();
            assert!(t.is_woken());
            drop(permit(t.assert_ready()));
            tasks[expected] = None;
        }
        let s = pool.stats();
        assert_eq!(s.completed, 7, "{s:?}");
        assert_accounted(&s);
    });
}

// ---------------------------------------------------------------------
// The ceiling and reloads (process-wide configuration: tests take turns)
// ---------------------------------------------------------------------

#[cfg(feature = "config")]
mod configured {
    use super::*;
    use common::config_turn;
    use pool_runtime::{config, register_group, Group, GroupSpec};

    static LIFO: Group = Group::new(
        GroupSpec::new("r52::lifo")
            .order(Order::Lifo)
            .size(8)
            .max_waiting(1),
    );
    register_group!(LIFO);
    static PRIO: Group = Group::new(GroupSpec::new("r52::prio").order(Order::Priority).size(8));
    register_group!(PRIO);
    static RELOAD: Group = Group::new(GroupSpec::new("r52::reload").order(Order::Priority).size(1));
    register_group!(RELOAD);

    /// "Calls waiting for a ceiling slot are admitted by their weight if
    /// their group is a priority group (smaller first ...), else as weight
    /// 0, and in arrival order among equal weights (a LIFO group's calls
    /// wait for the ceiling first come, first served)", and "A call waiting
    /// for a ceiling slot is counted by the ceiling, not yet by its group: a
    /// group's `max_waiting` above 0 bounds the calls waiting for its own
    /// slots."
    #[test]
    fn the_ceiling_admits_a_lifo_group_first_come_and_a_priority_group_by_weight() {
        let _turn = config_turn();
        within(LIMIT, || {
            config::load_str("r52.toml", "ceiling = 1\n").unwrap();
            assert_eq!(pool_runtime::ceiling::limit(), Some(1));
            // The ceiling's pool (and its counters) outlives a load.
            let before = pool_runtime::ceiling::stats().unwrap().completed;
            let log = Arc::new(Mutex::new(Vec::new()));
            let meter = Meter::default();
            let (gate, open) = common::gate();
            let m = meter.clone();
            let mut holder = Task::new(LIFO.submit(0, async move {
                let _inside = m.enter();
                gate.await
            }));
            holder.assert_pending();
            assert_eq!(LIFO.stats().running, 1);
            let call = |group: &'static Group, weight: i64, name: &'static str| {
                let (log, meter) = (log.clone(), meter.clone());
                Some(Task::new(group.submit(weight, async move {
                    let _inside = meter.enter();
                    log.lock().unwrap().push(name);
                })))
            };
            // Arrival order: L1, P+7, L2, P-5, L3, P0 (as the LIFO calls).
            let mut tasks = vec![
                call(&LIFO, i64::MIN, "L1"),
                call(&PRIO, 7, "P+7"),
                call(&LIFO, i64::MAX, "L2"),
                call(&PRIO, -5, "P-5"),
                call(&LIFO, -3, "L3"),
                call(&PRIO, 0, "P0"),
            ];
            for t in tasks.iter_mut() {
                t.as_mut().unwrap().assert_pending();
            }
            let c = pool_runtime::ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (1, 6), "{c:?}");
            let l = LIFO.stats();
            assert_eq!((l.waiting, l.rejected_total()), (0, 0), "{l:?}");
            assert_eq!(PRIO.stats().waiting, 0);
            open.store(true, SeqCst);
            assert_eq!(holder.assert_ready(), Ok(()));
            let mut order = vec![];
            for _ in 0..6 {
                let (i, out) = admit_next(&mut tasks);
                assert_eq!(out, Ok(()), "task {i}");
                order.push(i);
            }
            assert_eq!(
                *log.lock().unwrap(),
                vec!["P-5", "L1", "L2", "L3", "P0", "P+7"],
                "{order:?}"
            );
            assert_eq!(meter.max(), 1, "the ceiling of 1 held");
            let c = pool_runtime::ceiling::stats().unwrap();
            assert_eq!(
                (c.running, c.waiting, c.completed - before),
                (0, 0, 7),
                "{c:?}"
            );
            assert_accounted(&c);
            assert_accounted(&LIFO.stats());
            assert_accounted(&PRIO.stats());
        });
        config::clear();
    }

    /// "Reload applies changed limits to running pools at once (growing
    /// admits waiters ...)": a priority group's waiters are admitted by
    /// weight, exactly as many as the growth, at the load's return.
    #[test]
    fn a_reload_growing_a_priority_group_admits_its_waiters_by_weight_at_once() {
        let _turn = config_turn();
        within(LIMIT, || {
            let held = RELOAD.try_acquire(0).unwrap();
            let weights = [3, i64::MAX, 1, i64::MIN, 2];
            let mut tasks: Vec<_> = weights
                .iter()
                .map(|&w| Some(Task::new(RELOAD.acquire(w))))
                .collect();
            for t in tasks.iter_mut() {
                t.as_mut().unwrap().assert_pending();
            }
            let report =
                config::load_str("r52.toml", "[groups.\"r52::reload\"]\nsize = 3\n").unwrap();
            assert_eq!(report.to_string(), "r52::reload: size 1 -> 3 (applied)");
            let woken: Vec<usize> = (0..weights.len())
                .filter(|&i| tasks[i].as_ref().unwrap().is_woken())
                .collect();
            assert_eq!(woken, vec![2, 3], "the two smallest weights, at once");
            let mut permits = vec![held];
            for i in woken {
                permits.push(permit(tasks[i].as_mut().unwrap().assert_ready()));
                tasks[i] = None;
            }
            let s = RELOAD.stats();
            assert_eq!((s.running, s.waiting, s.size), (3, 3, 3), "{s:?}");
            // The rest go by weight: 2, 3, MAX.
            let mut order = vec![];
            for _ in 0..3 {
                drop(permits.remove(0));
                let (i, out) = admit_next(&mut tasks);
                order.push(i);
                permits.push(permit(out));
                assert_eq!(permits.len(), 3);
            }
            assert_eq!(order, vec![4, 0, 1]);
            drop(permits);
            let s = RELOAD.stats();
            assert_eq!(s.completed, 6, "{s:?}");
            assert_accounted(&s);
        });
        config::clear();
    }

    static C_A: Group = Group::new(GroupSpec::new("r52::c_a").size(1));
    register_group!(C_A);
    static C_B: Group = Group::new(GroupSpec::new("r52::c_b").size(8));
    register_group!(C_B);

    /// "nested calls follow the reentrancy rule for the ceiling too (one at
    /// a time under their parent's ceiling slot)": under a ceiling of 1, a
    /// call of group A joins three calls of group B (8 slots): they neither
    /// deadlock nor run beside each other, counted from outside.
    #[test]
    fn nested_calls_of_another_group_run_one_at_a_time_under_the_parents_ceiling_slot() {
        let _turn = config_turn();
        within(LIMIT, || {
            config::load_str("r52.toml", "ceiling = 1\n").unwrap();
            let meter = Meter::default();
            let nested = || {
                let meter = meter.clone();
                C_B.submit(0, async move {
                    let _inside = meter.enter();
                    for _ in 0..5 {
                        common::yield_now().await;
                    }
                })
            };
            let mut parent =
                Task::new(C_A.submit(0, async { futures::join!(nested(), nested(), nested()) }));
            let (a, b, c) = drive(&mut parent).expect("the parent is admitted");
            assert_eq!((a, b, c), (Ok(()), Ok(()), Ok(())));
            assert_eq!((meter.max(), meter.done()), (1, 3));
            let c = pool_runtime::ceiling::stats().unwrap();
            assert_eq!((c.running, c.nested, c.waiting), (0, 0, 0), "{c:?}");
            assert_accounted(&c);
            assert_accounted(&C_B.stats());
        });
        config::clear();
    }

    static C_OTHER: Group = Group::new(GroupSpec::new("r52::c_other").size(4));
    register_group!(C_OTHER);
    static C_PAUSED: Group = Group::new(GroupSpec::new("r52::c_paused").size(4));
    register_group!(C_PAUSED);
    static C_CLOSED: Group = Group::new(GroupSpec::new("r52::c_closed").size(4));
    register_group!(C_CLOSED);
    static C_ZERO: Group = Group::new(GroupSpec::new("r52::c_zero").size(4).max_waiting(0));
    register_group!(C_ZERO);
    static C_TIMED: Group = Group::new(
        GroupSpec::new("r52::c_timed")
            .size(4)
            .admission_timeout(Duration::from_millis(100)),
    );
    register_group!(C_TIMED);
    static C_STALL: Group = Group::new(GroupSpec::new("r52::c_stall").size(2));
    register_group!(C_STALL);

    /// "The ceiling is taken before a group's slot ... (a call its group
    /// turns away at once, paused or closed, is turned away before it would
    /// wait for the ceiling, and a group's `max_waiting = 0` and
    /// `admission_timeout` bound its calls' wait for the ceiling as they
    /// bound their wait for the group's slot)", and "A call waiting for its
    /// group's slot holds its ceiling slot meanwhile ... (a group scaled to
    /// 0 with as many waiters as the ceiling stalls every group)".
    #[test]
    fn a_full_ceiling_turns_away_paused_closed_and_unbounded_calls_at_once_and_a_stalled_group_holds_it(
    ) {
        let _turn = config_turn();
        within(LIMIT, || {
            config::load_str("r52.toml", "ceiling = 2\n").unwrap();
            let meter = Meter::default();
            let (gate, open) = common::gate();
            let gate2 = common::Gate(open.clone());
            let hold = |gate: common::Gate| {
                let meter = meter.clone();
                Task::new(C_OTHER.submit(0, async move {
                    let _inside = meter.enter();
                    gate.await
                }))
            };
            let mut holders = [hold(gate), hold(gate2)];
            for h in holders.iter_mut() {
                h.assert_pending();
            }
            let c = pool_runtime::ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (2, 0), "{c:?}");

            C_PAUSED.pause();
            let mut t = Task::new(C_PAUSED.submit(0, async {}));
            assert!(matches!(t.poll(), Poll::Ready(Err(Rejected::Paused))));
            C_PAUSED.resume();
            C_CLOSED.pool().close();
            let mut t = Task::new(C_CLOSED.submit(0, async {}));
            assert!(matches!(t.poll(), Poll::Ready(Err(Rejected::Closed))));
            let mut t = Task::new(C_ZERO.submit(0, async {}));
            assert!(matches!(t.poll(), Poll::Ready(Err(Rejected::Full))));
            assert_eq!(pool_runtime::ceiling::stats().unwrap().waiting, 0);

            let t0 = Instant::now();
            let mut timed = Task::new(C_TIMED.submit(0, async {}));
            timed.assert_pending();
            assert_eq!(pool_runtime::ceiling::stats().unwrap().waiting, 1);
            wait_for("the admission timeout fires", || timed.is_woken());
            assert!(matches!(timed.poll(), Poll::Ready(Err(Rejected::TimedOut))));
            assert!(
                t0.elapsed() >= Duration::from_millis(100),
                "{:?}",
                t0.elapsed()
            );
            let c = pool_runtime::ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (2, 0), "{c:?}");
            for (g, r) in [
                (&C_PAUSED, Rejected::Paused),
                (&C_CLOSED, Rejected::Closed),
                (&C_ZERO, Rejected::Full),
                (&C_TIMED, Rejected::TimedOut),
            ] {
                let s = g.stats();
                assert_eq!(s.rejected_for(r), 1, "{}: {s:?}", g.name());
                assert_accounted(&s);
            }

            open.store(true, SeqCst);
            for h in holders.iter_mut() {
                assert_eq!(h.assert_ready(), Ok(()));
            }

            // Stall: a group at 0 with as many waiters as the ceiling.
            assert_eq!(C_STALL.resize(0), 0);
            let call = |g: &'static Group| {
                let meter = meter.clone();
                Some(Task::new(g.submit(0, async move {
                    let _inside = meter.enter();
                })))
            };
            let mut stalled = vec![call(&C_STALL), call(&C_STALL)];
            for t in stalled.iter_mut() {
                t.as_mut().unwrap().assert_pending();
            }
            let mut other = call(&C_OTHER);
            other.as_mut().unwrap().assert_pending();
            let c = pool_runtime::ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (2, 1), "{c:?}");
            assert_eq!(C_STALL.stats().waiting, 2);
            assert_eq!(C_STALL.resize(1), 1);
            let (i, out) = admit_next(&mut stalled);
            assert_eq!((i, out), (0, Ok(())));
            // Its group slot goes to the other stalled call, its ceiling
            // slot to the other group's call.
            let (i, out) = admit_next(&mut stalled);
            assert_eq!((i, out), (1, Ok(())));
            let o = other.as_mut().unwrap();
            assert!(o.is_woken());
            assert_eq!(o.assert_ready(), Ok(()));
            assert!(meter.max() <= 2, "{}", meter.max());
            let c = pool_runtime::ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
            assert_accounted(&c);
        });
        config::clear();
    }

    static C_MIX: Group = Group::new(GroupSpec::new("r52::c_mix").order(Order::Priority).size(8));
    register_group!(C_MIX);
    static C_MIX_LIFO: Group =
        Group::new(GroupSpec::new("r52::c_mix_lifo").order(Order::Lifo).size(8));
    register_group!(C_MIX_LIFO);

    /// The ceiling's queue holds sync and async callers alike: "admitted by
    /// their weight if their group is a priority group ..., else as weight
    /// 0, and in arrival order among equal weights", a sync caller at
    /// `i64::MIN` before async ones that came first, a LIFO group's sync
    /// caller as weight 0, equal weights first come.
    #[test]
    fn sync_and_async_callers_share_the_ceilings_queue_by_weight_then_arrival() {
        let _turn = config_turn();
        within(LIMIT, || {
            config::load_str("r52.toml", "ceiling = 1\n").unwrap();
            let before = pool_runtime::ceiling::stats().unwrap().completed;
            let meter = Meter::default();
            let log = Arc::new(Mutex::new(Vec::new()));
            let (gate, open) = common::gate();
            let mut holder = Task::new(C_MIX.submit(i64::MIN, gate));
            holder.assert_pending();
            let ceiling_waiting = || pool_runtime::ceiling::stats().unwrap().waiting;
            let body = |name: &'static str| {
                let (meter, log) = (meter.clone(), log.clone());
                move || {
                    let _inside = meter.enter();
                    log.lock().unwrap().push(name);
                }
            };
            std::thread::scope(|scope| {
                let b = body("A5");
                let mut a = Task::new(C_MIX.submit(5, async move { b() }));
                a.assert_pending();
                let b = body("Smin");
                let s = scope.spawn(move || C_MIX.run_weighted(i64::MIN, b));
                wait_for("S waits for the ceiling", || ceiling_waiting() == 2);
                let b = body("Z5");
                let mut z = Task::new(C_MIX.submit(5, async move { b() }));
                z.assert_pending();
                let b = body("T5");
                let t = scope.spawn(move || C_MIX.run_weighted(5, b));
                wait_for("T waits for the ceiling", || ceiling_waiting() == 4);
                let b = body("L0");
                let l = scope.spawn(move || C_MIX_LIFO.run_weighted(i64::MAX, b));
                wait_for("L waits for the ceiling", || ceiling_waiting() == 5);
                assert_eq!(C_MIX.stats().waiting, 0, "counted by the ceiling only");
                open.store(true, SeqCst);
                assert_eq!(holder.assert_ready(), Ok(()));
                assert_eq!(s.join().unwrap(), Ok(()));
                assert_eq!(l.join().unwrap(), Ok(()));
                wait_for("A woken", || a.is_woken());
                assert!(!z.is_woken());
                assert_eq!(a.assert_ready(), Ok(()));
                assert!(z.is_woken());
                assert_eq!(z.assert_ready(), Ok(()));
                assert_eq!(t.join().unwrap(), Ok(()));
            });
            assert_eq!(*log.lock().unwrap(), vec!["Smin", "L0", "A5", "Z5", "T5"]);
            assert_eq!((meter.max(), meter.done()), (1, 5));
            let c = pool_runtime::ceiling::stats().unwrap();
            assert_eq!(
                (c.running, c.waiting, c.completed - before),
                (0, 0, 6),
                "{c:?}"
            );
            assert_accounted(&c);
        });
        config::clear();
    }

    static L_RELOAD: Group = Group::new(GroupSpec::new("r52::l_reload").order(Order::Lifo).size(1));
    register_group!(L_RELOAD);

    /// A reload on a LIFO group: "growing admits waiters" (the newest, as
    /// the order says, exactly as many as it grew, at once), "shrinking
    /// lets running calls finish" and admits nothing until `running <
    /// limit`.
    #[test]
    fn a_reload_grows_a_lifo_group_newest_first_and_a_shrink_waits_for_running_below_the_limit() {
        let _turn = config_turn();
        within(LIMIT, || {
            let held = L_RELOAD.try_acquire(0).unwrap();
            let mut tasks: Vec<_> = [i64::MIN, 0, i64::MAX, -1, 1]
                .into_iter()
                .map(|w| Some(Task::new(L_RELOAD.acquire(w))))
                .collect();
            for t in tasks.iter_mut() {
                t.as_mut().unwrap().assert_pending();
            }
            let report =
                config::load_str("r52.toml", "[groups.\"r52::l_reload\"]\nsize = 3\n").unwrap();
            assert_eq!(report.to_string(), "r52::l_reload: size 1 -> 3 (applied)");
            let woken: Vec<usize> = (0..5)
                .filter(|&i| tasks[i].as_ref().unwrap().is_woken())
                .collect();
            assert_eq!(woken, vec![3, 4], "the two newest, at once");
            let mut running = vec![held];
            for i in woken {
                running.push(permit(tasks[i].as_mut().unwrap().assert_ready()));
                tasks[i] = None;
            }
            let report =
                config::load_str("r52.toml", "[groups.\"r52::l_reload\"]\nsize = 1\n").unwrap();
            assert_eq!(report.to_string(), "r52::l_reload: size 3 -> 1 (applied)");
            let s = L_RELOAD.stats();
            assert_eq!((s.running, s.cancelled, s.size), (3, 0, 1), "{s:?}");
            drop(running.remove(0));
            none_woken(&tasks, "2 running, limit 1");
            drop(running.remove(0));
            none_woken(&tasks, "1 running, limit 1");
            drop(running.remove(0));
            let (i, out) = admit_next(&mut tasks);
            assert_eq!(i, 2, "the newest remaining");
            drop(permit(out));
            let (i, out) = admit_next(&mut tasks);
            assert_eq!(i, 1);
            drop(permit(out));
            let (i, out) = admit_next(&mut tasks);
            assert_eq!(i, 0);
            drop(permit(out));
            let s = L_RELOAD.stats();
            assert_eq!(s.completed, 6, "{s:?}");
            assert_accounted(&s);
        });
        config::clear();
    }

    static C_DIRECT: Group = Group::new(GroupSpec::new("r52::c_direct").size(2));
    register_group!(C_DIRECT);

    /// "Work submitted to a group's pool directly (`Group::pool().submit`,
    /// not a group call) holds no ceiling slot either, and group calls made
    /// inside it are taken for calls nested in a call from before the
    /// ceiling: they are not gated" — with the ceiling full, a sync group
    /// call (of another group) inside such work runs at once instead of
    /// parking the thread for a ceiling slot it would never get.
    #[test]
    fn group_calls_inside_work_submitted_to_a_groups_pool_directly_are_not_gated() {
        let _turn = config_turn();
        within(LIMIT, || {
            config::load_str("r52.toml", "ceiling = 1\n").unwrap();
            let (gate, open) = common::gate();
            let mut holder = Task::new(C_OTHER.submit(0, gate));
            holder.assert_pending();
            assert_eq!(pool_runtime::ceiling::stats().unwrap().running, 1);
            let meter = Meter::default();
            let m = meter.clone();
            let out = futures::executor::block_on(C_DIRECT.pool().submit(async move {
                let sync = C_B.run(|| {
                    let _inside = m.enter();
                    "sync"
                });
                let asynchronous = C_B
                    .submit(0, async {
                        let _inside = m.enter();
                        "async"
                    })
                    .await;
                (sync, asynchronous)
            }));
            assert_eq!(out, Ok((Ok("sync"), Ok("async"))));
            assert_eq!(meter.done(), 2);
            let c = pool_runtime::ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (1, 0), "{c:?}");
            open.store(true, SeqCst);
            assert_eq!(holder.assert_ready(), Ok(()));
        });
        config::clear();
    }
}
