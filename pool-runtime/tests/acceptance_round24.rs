//! Acceptance tests, round 24 (runtime): module by module through the
//! rustdoc of permits (`acquire`, `acquire_weighted`, `acquire_owned`,
//! `try_acquire`: their errors and ordering), the stream adapters (bounded by
//! the pool, pause/close/drop mid-stream), the rayon executor, sync callers
//! (`run`, `run_weighted`, `Group::run_wait`: ordering, timeouts, close and
//! pause while parked), every `Stats` field against an outside count,
//! drain/close/shutdown, pause/resume, and the `# Errors` sections.
//! Concurrency is counted from outside the library; every wait is bounded by
//! a generous watchdog only to turn a hang into a failure.
#![cfg(all(not(miri), feature = "stream", feature = "tower", feature = "rayon"))]

mod common;

use common::{assert_accounted, within, Meter, Task};
use futures::channel::oneshot;
use futures::StreamExt;
use pool_runtime::{
    BlockingExecutor, BlockingJob, BuildError, Kind, Order, Pool, PooledStreamExt, Rejected,
    MAX_SLOTS,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

const WATCHDOG: Duration = Duration::from_secs(20);

fn fixed(size: usize) -> Pool {
    Pool::builder().size(size).build().unwrap()
}

fn priority(size: usize) -> Pool {
    Pool::builder()
        .order(Order::Priority)
        .size(size)
        .build()
        .unwrap()
}

fn lifo(size: usize) -> Pool {
    Pool::builder()
        .order(Order::Lifo)
        .size(size)
        .build()
        .unwrap()
}

/// Spins (with short sleeps) until `cond` holds, failing after the watchdog.
#[track_caller]
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < WATCHDOG, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Polls a hand-driven task until it is ready (sleeping a little between
/// polls), failing after the watchdog.
#[track_caller]
fn drive<F: std::future::Future>(task: &mut Task<F>) -> F::Output {
    let start = Instant::now();
    loop {
        if let Poll::Ready(out) = task.poll() {
            return out;
        }
        assert!(start.elapsed() < WATCHDOG, "hung: the task never finished");
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ---- permits -----------------------------------------------------------------

/// `acquire_weighted`: "on a priority pool smaller weights are admitted
/// first, equal weights first-come first-served"; permits and submits share
/// one queue.
#[test]
fn weighted_permits_and_submits_share_one_priority_queue() {
    let pool = priority(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let holder = pool.try_acquire().expect("free slot");
    // Waiting: permits and submits, weights 5, 1, 5, 1, 0 (arrival order).
    let mut a = Task::new(pool.acquire_weighted(5));
    a.assert_pending();
    let o = order.clone();
    let mut b = Task::new(pool.submit_weighted(1, async move { o.lock().unwrap().push("b") }));
    b.assert_pending();
    let mut c = Task::new(pool.acquire_owned(5));
    c.assert_pending();
    let o = order.clone();
    let mut d = Task::new(pool.submit_weighted(1, async move { o.lock().unwrap().push("d") }));
    d.assert_pending();
    let mut e = Task::new(pool.acquire_weighted(0));
    e.assert_pending();
    assert_eq!(pool.stats().waiting, 5);
    drop(holder);
    // e (0) first.
    assert!(e.is_woken());
    let pe = e.assert_ready().expect("admitted");
    assert!(!b.is_woken() && !a.is_woken() && !c.is_woken() && !d.is_woken());
    order.lock().unwrap().push("e");
    drop(pe);
    // Then b (1, first), then d (1, second).
    assert!(b.is_woken());
    b.assert_ready().unwrap();
    assert!(d.is_woken());
    d.assert_ready().unwrap();
    // Then a (5, first), c (5, second).
    assert!(a.is_woken());
    let pa = a.assert_ready().unwrap();
    order.lock().unwrap().push("a");
    assert!(!c.is_woken());
    assert!(matches!(c.poll(), Poll::Pending));
    drop(pa);
    assert!(c.is_woken());
    let pc = c.assert_ready().unwrap();
    order.lock().unwrap().push("c");
    drop(pc);
    assert_eq!(*order.lock().unwrap(), ["e", "b", "d", "a", "c"]);
    let s = pool.stats();
    assert_eq!(s.completed, 6);
    assert_eq!((s.running, s.waiting), (0, 0));
    assert_accounted(&s);
}

/// `acquire` on a LIFO pool: the last waiter goes first.
#[test]
fn permits_follow_lifo_order() {
    let pool = lifo(1);
    let holder = pool.try_acquire().unwrap();
    let mut first = Task::new(pool.acquire());
    first.assert_pending();
    let mut second = Task::new(pool.acquire());
    second.assert_pending();
    drop(holder);
    assert!(second.is_woken());
    assert!(!first.is_woken());
    let p = second.assert_ready().unwrap();
    drop(p);
    assert!(first.is_woken());
    drop(first.assert_ready().unwrap());
    assert_eq!(pool.stats().completed, 3);
}

/// `try_acquire`: "never waits"; Full if no slot free; Paused, Closed as
/// `submit`. Each counted in `rejected_for` by reason, and `submitted`.
#[test]
fn try_acquire_says_why_and_each_reason_is_counted() {
    let pool = fixed(1);
    let held = pool.try_acquire_owned(0).unwrap();
    assert_eq!(pool.try_acquire().unwrap_err(), Rejected::Full);
    assert_eq!(pool.try_acquire_owned(3).unwrap_err(), Rejected::Full);
    drop(held);
    pool.pause();
    assert_eq!(pool.try_acquire().unwrap_err(), Rejected::Paused);
    assert_eq!(pool.try_acquire_owned(0).unwrap_err(), Rejected::Paused);
    pool.resume();
    pool.close();
    assert_eq!(pool.try_acquire().unwrap_err(), Rejected::Closed);
    let s = pool.stats();
    assert_eq!(s.rejected_for(Rejected::Full), 2);
    assert_eq!(s.rejected_for(Rejected::Paused), 2);
    assert_eq!(s.rejected_for(Rejected::Closed), 1);
    assert_eq!(s.rejected_for(Rejected::TimedOut), 0);
    assert_eq!(s.submitted(), 6);
    assert_eq!(s.completed, 1);
    assert_eq!(s.waiting, 0, "a try_acquire never stays in the queue");
    assert_accounted(&s);
}

/// Hand-off, no barging: a slot released to a queued permit is never taken
/// by a `try_acquire` that comes between the release and the waiter's poll.
#[test]
fn try_acquire_never_takes_a_slot_owed_to_a_queued_permit() {
    let pool = fixed(1);
    let holder = pool.try_acquire().unwrap();
    let mut waiter = Task::new(pool.acquire());
    waiter.assert_pending();
    drop(holder);
    assert!(waiter.is_woken());
    assert_eq!(
        pool.try_acquire().unwrap_err(),
        Rejected::Full,
        "the freed slot is the waiter's"
    );
    let p = waiter.assert_ready().unwrap();
    assert_eq!(pool.stats().running, 1);
    drop(p);
    drop(pool.try_acquire().expect("now free"));
}

/// `acquire`'s errors "as `submit`": the waiting bound (Full) and the
/// admission timeout (TimedOut), each counted.
#[test]
fn acquire_turned_away_by_the_waiting_bound_and_the_timeout() {
    let pool = Pool::builder()
        .size(1)
        .max_waiting(1)
        // Long enough not to expire before the bound is checked.
        .admission_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    within(WATCHDOG, move || {
        let holder = pool.try_acquire_owned(0).unwrap();
        let mut waiting = Task::new(pool.acquire_owned(0));
        waiting.assert_pending();
        // The bound is reached: the next waits no more.
        let full = futures::executor::block_on(pool.acquire());
        assert_eq!(full.unwrap_err(), Rejected::Full);
        // The one waiting times out.
        let start = Instant::now();
        let out = drive(&mut waiting);
        assert_eq!(out.unwrap_err(), Rejected::TimedOut);
        assert!(start.elapsed() < Duration::from_secs(10));
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::Full), 1);
        assert_eq!(s.rejected_for(Rejected::TimedOut), 1);
        assert_eq!(s.waiting, 0);
        assert_eq!(s.running, 1);
        assert_accounted(&s);
        drop(holder);
        assert_eq!(pool.stats().completed, 1);
    });
}

/// A permit waiting when the pool is paused, or closed, is still admitted
/// ("Calls already waiting or running are not affected"; close: "waiting and
/// running calls finish"); `abort` turns it away with Closed.
#[test]
fn a_waiting_permit_survives_pause_and_close_but_not_abort() {
    let pool = fixed(1);
    let holder = pool.try_acquire().unwrap();
    let mut w1 = Task::new(pool.acquire());
    w1.assert_pending();
    pool.pause();
    drop(holder);
    assert!(w1.is_woken());
    let p1 = w1
        .assert_ready()
        .expect("queued before the pause: admitted");
    pool.resume();
    let mut w2 = Task::new(pool.acquire_owned(0));
    w2.assert_pending();
    pool.close();
    drop(p1);
    let p2 = w2
        .assert_ready()
        .expect("queued before the close: admitted");
    assert!(!pool.is_paused());
    // abort: a waiter is turned away.
    let pool = fixed(1);
    let holder = pool.try_acquire().unwrap();
    let mut w = Task::new(pool.acquire());
    w.assert_pending();
    pool.abort();
    assert!(w.is_woken());
    assert_eq!(w.assert_ready().unwrap_err(), Rejected::Closed);
    let s = pool.stats();
    assert_eq!(s.rejected_for(Rejected::Closed), 1);
    assert_eq!(s.running, 1);
    drop(holder);
    drop(p2);
    assert_accounted(&pool.stats());
}

/// An owned permit moved to another thread holds the slot there; its drop
/// there hands the slot to the next waiter (counted from outside: the
/// waiter's body starts only after the permit is dropped).
#[test]
fn an_owned_permit_released_on_another_thread_hands_off() {
    let pool = fixed(1);
    within(WATCHDOG, move || {
        let permit = pool.try_acquire_owned(0).unwrap();
        let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let r = released.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            r.store(true, Ordering::SeqCst);
            drop(permit);
        });
        let saw = pool
            .run(|| released.load(Ordering::SeqCst))
            .expect("admitted");
        assert!(saw, "the sync call ran before the permit was released");
        t.join().unwrap();
        let s = pool.stats();
        assert_eq!(s.completed, 2);
        assert_accounted(&s);
    });
}

/// Permits + async calls + sync calls, counted from outside, never exceed the
/// limit.
#[test]
fn permits_sync_and_async_callers_never_exceed_the_limit() {
    let pool = fixed(2);
    within(WATCHDOG, move || {
        let meter = Meter::default();
        let mut threads = Vec::new();
        for i in 0..6 {
            let pool = pool.clone();
            let meter = meter.clone();
            threads.push(std::thread::spawn(move || {
                for _ in 0..20 {
                    match i % 3 {
                        0 => {
                            let _p = futures::executor::block_on(pool.acquire()).unwrap();
                            let _in = meter.enter();
                            std::thread::sleep(Duration::from_micros(200));
                        }
                        1 => pool
                            .run(|| {
                                let _in = meter.enter();
                                std::thread::sleep(Duration::from_micros(200));
                            })
                            .unwrap(),
                        _ => futures::executor::block_on(pool.submit(async {
                            let _in = meter.enter();
                            std::thread::sleep(Duration::from_micros(200));
                        }))
                        .unwrap(),
                    }
                }
            }));
        }
        for t in threads {
            t.join().unwrap();
        }
        assert!(meter.max() <= 2, "max {}", meter.max());
        assert_eq!(meter.done(), 120);
        let s = pool.stats();
        assert_eq!(s.completed, 120);
        assert_accounted(&s);
    });
}

// ---- sync callers ------------------------------------------------------------

/// `run`: "the thread parks until the call is admitted, in the same queue
/// and order as async calls". Sync callers queued one after the other (each
/// seen waiting before the next starts) are admitted FIFO, interleaved with
/// async waiters.
#[test]
fn parked_sync_callers_keep_fifo_order_with_async_waiters() {
    let pool = fixed(1);
    within(WATCHDOG, move || {
        let order = Arc::new(Mutex::new(Vec::new()));
        let holder = pool.try_acquire_owned(0).unwrap();
        let mut threads = Vec::new();
        let mut asyncs = Vec::new();
        for i in 0..6usize {
            if i % 2 == 0 {
                let pool2 = pool.clone();
                let o = order.clone();
                threads.push(std::thread::spawn(move || {
                    pool2.run(|| o.lock().unwrap().push(i)).unwrap();
                }));
            } else {
                let o = order.clone();
                let pool2 = pool.clone();
                let mut t = Task::new(async move {
                    pool2.submit(async move { o.lock().unwrap().push(i) }).await
                });
                t.assert_pending();
                asyncs.push(Some(t));
            }
            let want = i + 1;
            wait_until("the caller queued", || pool.stats().waiting == want);
        }
        drop(holder);
        // Drive the async ones whenever they are woken.
        let start = Instant::now();
        while order.lock().unwrap().len() < 6 {
            for slot in asyncs.iter_mut() {
                if let Some(t) = slot {
                    if t.poll().is_ready() {
                        *slot = None;
                    }
                }
            }
            assert!(start.elapsed() < WATCHDOG);
            std::thread::sleep(Duration::from_millis(1));
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4, 5]);
    });
}

/// `run_weighted` on a priority pool: parked threads are admitted by weight.
#[test]
fn parked_sync_callers_are_admitted_by_weight() {
    let pool = priority(1);
    within(WATCHDOG, move || {
        let order = Arc::new(Mutex::new(Vec::new()));
        let holder = pool.try_acquire_owned(0).unwrap();
        let mut threads = Vec::new();
        for (i, w) in [(0usize, 9i64), (1, 3), (2, -4), (3, 3), (4, 9)] {
            let pool2 = pool.clone();
            let o = order.clone();
            threads.push(std::thread::spawn(move || {
                pool2.run_weighted(w, || o.lock().unwrap().push(i)).unwrap();
            }));
            wait_until("queued", || pool.stats().waiting == i + 1);
        }
        drop(holder);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [2, 1, 3, 0, 4]);
    });
}

/// `run`'s admission timeout "is measured on this thread": a parked caller
/// gives up with TimedOut, its closure never runs, counted.
#[test]
fn a_parked_sync_call_times_out_and_never_runs_its_closure() {
    let pool = Pool::builder()
        .size(1)
        .admission_timeout(Duration::from_millis(80))
        .build()
        .unwrap();
    within(WATCHDOG, move || {
        let holder = pool.try_acquire().unwrap();
        let ran = AtomicUsize::new(0);
        let start = Instant::now();
        let out = pool.run(|| ran.fetch_add(1, Ordering::SeqCst));
        assert_eq!(out.unwrap_err(), Rejected::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(80));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::TimedOut), 1);
        assert_eq!(s.waiting, 0);
        assert_accounted(&s);
        drop(holder);
    });
}

/// A parked sync caller when the pool is closed goes on waiting and is
/// admitted ("waiting and running calls finish"); a parked one when the
/// pool is aborted returns Closed at once, without running.
#[test]
fn close_while_a_sync_caller_is_parked_admits_it_and_abort_turns_it_away() {
    let pool = fixed(1);
    within(WATCHDOG, move || {
        let holder = pool.try_acquire_owned(0).unwrap();
        let p = pool.clone();
        let t = std::thread::spawn(move || p.run(|| 7));
        wait_until("parked", || pool.stats().waiting == 1);
        pool.close();
        assert_eq!(pool.run(|| 0).unwrap_err(), Rejected::Closed);
        std::thread::sleep(Duration::from_millis(20));
        assert!(!t.is_finished(), "close does not turn a waiting call away");
        drop(holder);
        assert_eq!(t.join().unwrap(), Ok(7));

        let pool = fixed(1);
        let holder = pool.try_acquire_owned(0).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let (p, r) = (pool.clone(), ran.clone());
        let t = std::thread::spawn(move || p.run(|| r.fetch_add(1, Ordering::SeqCst)));
        wait_until("parked", || pool.stats().waiting == 1);
        pool.abort();
        assert_eq!(t.join().unwrap().unwrap_err(), Rejected::Closed);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::Closed), 1);
        drop(holder);
        assert_accounted(&pool.stats());
    });
}

/// A parked sync caller goes on waiting through a pause and is admitted;
/// a new sync call on the paused pool is Paused at once and its closure
/// never runs.
#[test]
fn pause_while_a_sync_caller_is_parked_still_admits_it() {
    let pool = fixed(1);
    within(WATCHDOG, move || {
        let holder = pool.try_acquire_owned(0).unwrap();
        let p = pool.clone();
        let t = std::thread::spawn(move || p.run(|| 1));
        wait_until("parked", || pool.stats().waiting == 1);
        pool.pause();
        let ran = AtomicUsize::new(0);
        assert_eq!(
            pool.run(|| ran.fetch_add(1, Ordering::SeqCst)).unwrap_err(),
            Rejected::Paused
        );
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        drop(holder);
        assert_eq!(t.join().unwrap(), Ok(1));
        assert!(pool.is_paused());
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::Paused), 1);
        assert_eq!(s.completed, 2);
        assert_accounted(&s);
    });
}

/// A panic in `run`'s closure "frees the slot and propagates", counted in
/// completed and panicked.
#[test]
fn a_panicking_sync_closure_frees_its_slot_and_is_counted() {
    common::quiet_planned_panics();
    let pool = fixed(1);
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.run(|| panic!("planned: sync closure"))
    }));
    assert!(out.is_err());
    let s = pool.stats();
    assert_eq!((s.running, s.completed, s.panicked), (0, 1, 1));
    assert_eq!(pool.run(|| 5), Ok(5));
    assert_accounted(&pool.stats());
}

// ---- Stats against outside counts ---------------------------------------------

/// Every `Stats` field against what the test did: cancel while waiting, cancel
/// while running, panic, reject (paused/closed/full), timeout; a call is
/// submitted "when it is first polled".
#[test]
fn every_stats_field_matches_an_outside_count() {
    common::quiet_planned_panics();
    let pool = Pool::builder().size(2).max_waiting(1).build().unwrap();
    within(WATCHDOG, move || {
        let s = pool.stats();
        assert_eq!(s.size, 2);
        assert_eq!(s.submitted(), 0);
        // Created, never polled: not submitted.
        let never = pool.submit(async {});
        assert_eq!(pool.stats().submitted(), 0);
        drop(never);
        assert_eq!(pool.stats().cancelled, 0, "never polled: nothing to cancel");

        // Two running (gated), one waiting.
        let (tx1, rx1) = oneshot::channel::<()>();
        let (tx2, rx2) = oneshot::channel::<()>();
        let mut r1 = Task::new(pool.submit(rx1));
        r1.assert_pending();
        let mut r2 = Task::new(pool.submit(rx2));
        r2.assert_pending();
        let mut w = Task::new(pool.submit(async {}));
        w.assert_pending();
        let s = pool.stats();
        assert_eq!((s.running, s.waiting, s.submitted()), (2, 1, 3));
        // Full.
        assert_eq!(
            futures::executor::block_on(pool.submit(async {})).unwrap_err(),
            Rejected::Full
        );
        // Cancel the waiting one.
        drop(w);
        let s = pool.stats();
        assert_eq!((s.waiting, s.cancelled), (0, 1));
        // Cancel a running one.
        drop(r2);
        drop(tx2);
        let s = pool.stats();
        assert_eq!((s.running, s.cancelled, s.completed), (1, 2, 0));
        // A timed-out one: waits behind... the pool has a free slot now;
        // fill it with a panicking one first.
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures::executor::block_on(pool.submit(async { panic!("planned: stats") }))
        }));
        assert!(out.is_err());
        let s = pool.stats();
        assert_eq!((s.completed, s.panicked, s.running), (1, 1, 1));
        let (tx3, rx3) = oneshot::channel::<()>();
        let mut r3 = Task::new(pool.submit(rx3));
        r3.assert_pending();
        // A timeout for the calls that start waiting from now on only.
        pool.set_admission_timeout(Some(Duration::from_millis(50)));
        let t = futures::executor::block_on(pool.submit(async {}));
        assert_eq!(t.unwrap_err(), Rejected::TimedOut);
        pool.pause();
        assert_eq!(
            futures::executor::block_on(pool.submit(async {})).unwrap_err(),
            Rejected::Paused
        );
        assert!(pool.stats().paused);
        pool.resume();
        tx1.send(()).unwrap();
        assert!(r1.assert_ready().is_ok());
        tx3.send(()).unwrap();
        assert!(r3.assert_ready().is_ok());
        pool.close();
        assert_eq!(
            futures::executor::block_on(pool.submit(async {})).unwrap_err(),
            Rejected::Closed
        );
        let s = pool.stats();
        assert!(s.closed && !s.paused);
        assert_eq!(s.completed, 3, "r1, r3 and the panicked one");
        assert_eq!(s.panicked, 1);
        assert_eq!(s.cancelled, 2);
        assert_eq!(s.rejected_for(Rejected::Full), 1);
        assert_eq!(s.rejected_for(Rejected::TimedOut), 1);
        assert_eq!(s.rejected_for(Rejected::Paused), 1);
        assert_eq!(s.rejected_for(Rejected::Closed), 1);
        assert_eq!(s.rejected_for(Rejected::FleetUnavailable), 0);
        assert_eq!(s.rejected_for(Rejected::LeaseLost), 0);
        assert_eq!(s.rejected_total(), 4);
        assert_eq!(s.submitted(), 9);
        assert_eq!(s.in_flight(), 0);
        assert_accounted(&s);
    });
}

/// An executor that drops every job unrun (shutting down).
struct Dropping;

impl BlockingExecutor for Dropping {
    fn execute(&self, job: BlockingJob) {
        drop(job);
    }
}

/// `BlockingExecutor`: "If `execute` drops a job without running it, the call
/// is rejected with Closed and its slot is released. [...] Stats counts it in
/// `cancelled`", not in `rejected_for`.
#[test]
fn a_job_the_executor_drops_is_closed_for_the_caller_and_cancelled_in_stats() {
    let pool = Pool::builder()
        .size(1)
        .blocking_executor(Arc::new(Dropping))
        .build()
        .unwrap();
    within(WATCHDOG, move || {
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let out = futures::executor::block_on(pool.submit_blocking(move || {
            r.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(out.unwrap_err(), Rejected::Closed);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        let s = pool.stats();
        assert_eq!(s.rejected_total(), 0);
        assert_eq!(s.cancelled, 1);
        assert_eq!(s.running, 0, "its slot is released");
        assert_accounted(&s);
        drop(pool.try_acquire().expect("the slot is free"));
    });
}

/// A blocking call abandoned after admission: "the closure still runs to the
/// end (holding its slot)": the slot stays busy until the closure ends.
#[test]
fn an_abandoned_blocking_call_keeps_its_slot_until_the_closure_ends() {
    let pool = fixed(1);
    within(WATCHDOG, move || {
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = started.clone();
        let mut call = Task::new(pool.submit_blocking(move || {
            s2.store(true, Ordering::SeqCst);
            go_rx.recv().unwrap();
        }));
        let _ = call.poll();
        wait_until("closure started", || started.load(Ordering::SeqCst));
        drop(call);
        assert_eq!(pool.stats().running, 1, "the closure still holds its slot");
        assert_eq!(pool.try_acquire().unwrap_err(), Rejected::Full);
        go_tx.send(()).unwrap();
        wait_until("slot freed", || pool.stats().running == 0);
        drop(pool.try_acquire().unwrap());
        assert_accounted(&pool.stats());
    });
}

// ---- drain / close / shutdown ---------------------------------------------------

/// `drained`: "Resolves once the pool is closed and nothing is waiting or
/// running. (On an open pool it waits for `close` first.)"
#[test]
fn drained_waits_for_close_then_for_waiting_and_running_calls() {
    let pool = fixed(1);
    let mut drained = Task::new({
        let pool = pool.clone();
        async move { pool.drained().await }
    });
    drained.assert_pending();
    let (tx, rx) = oneshot::channel::<()>();
    let mut running = Task::new(pool.submit(rx));
    running.assert_pending();
    let mut waiting = Task::new(pool.submit(async { 3 }));
    waiting.assert_pending();
    drained.assert_pending();
    pool.close();
    drained.assert_pending();
    tx.send(()).unwrap();
    running.assert_ready().unwrap().unwrap();
    drained.assert_pending();
    assert_eq!(waiting.assert_ready(), Ok(3));
    assert!(drained.is_woken());
    drained.assert_ready();
    // An idle open pool: waits for close.
    let pool = fixed(2);
    let mut d = Task::new({
        let pool = pool.clone();
        async move { pool.drained().await }
    });
    d.assert_pending();
    pool.close();
    assert!(d.is_woken());
    d.assert_ready();
}

/// `shutdown(Some(t))`: past the deadline "the calls still waiting are turned
/// away [...] the ones still running are left to finish [...] and the error
/// says how many of each there were".
#[test]
fn shutdown_past_its_deadline_turns_waiters_away_and_counts_the_running() {
    let pool = fixed(2);
    within(WATCHDOG, move || {
        let (tx1, rx1) = oneshot::channel::<()>();
        let (tx2, rx2) = oneshot::channel::<()>();
        let mut r1 = Task::new(pool.submit(rx1));
        r1.assert_pending();
        let mut r2 = Task::new(pool.submit(rx2));
        r2.assert_pending();
        let mut waiters: Vec<_> = (0..3).map(|_| Task::new(pool.submit(async {}))).collect();
        for w in &mut waiters {
            w.assert_pending();
        }
        let err = futures::executor::block_on(pool.shutdown(Some(Duration::from_millis(50))))
            .unwrap_err();
        assert_eq!(err.running, 2);
        assert_eq!(err.nested, 0);
        assert_eq!(err.turned_away, 3);
        assert_eq!(err.waiting, 0);
        for w in &mut waiters {
            assert_eq!(w.assert_ready().unwrap_err(), Rejected::Closed);
        }
        assert!(pool.is_closed());
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::Closed), 3);
        assert_eq!(s.running, 2, "running calls are never interrupted");
        tx1.send(()).unwrap();
        tx2.send(()).unwrap();
        assert!(r1.assert_ready().is_ok());
        assert!(r2.assert_ready().is_ok());
        futures::executor::block_on(pool.drained());
        assert_accounted(&pool.stats());
    });
}

/// `shutdown(None)` on a pool whose waiting calls arrived before a pause:
/// they are admitted (only never-rejecting calls that arrived while paused
/// wait for resume), so it drains.
#[test]
fn shutdown_of_a_paused_pool_drains_calls_queued_before_the_pause() {
    let pool = fixed(1);
    within(WATCHDOG, move || {
        let (tx, rx) = oneshot::channel::<()>();
        let mut r = Task::new(pool.submit(rx));
        r.assert_pending();
        let mut w = Task::new(pool.submit(async { 9 }));
        w.assert_pending();
        pool.pause();
        let mut shutdown = Task::new({
            let pool = pool.clone();
            async move { pool.shutdown(None).await }
        });
        shutdown.assert_pending();
        tx.send(()).unwrap();
        r.assert_ready().unwrap().unwrap();
        assert_eq!(w.assert_ready(), Ok(9));
        assert_eq!(shutdown.assert_ready(), Ok(()));
        assert!(pool.is_paused(), "closing does not resume a paused pool");
    });
}

/// `scoped`: the pool is closed (new calls through a clone are Closed) when
/// the body panics, and when the scope future is dropped.
#[test]
fn scoped_closes_the_pool_on_panic_and_on_drop() {
    common::quiet_planned_panics();
    let keep = Arc::new(Mutex::new(None::<Pool>));
    let k = keep.clone();
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures::executor::block_on(fixed(2).scoped(|pool| async move {
            *k.lock().unwrap() = Some(pool.clone());
            panic!("planned: scoped body");
        }))
    }));
    assert!(out.is_err());
    let pool = keep.lock().unwrap().take().unwrap();
    assert!(pool.is_closed());
    assert_eq!(
        futures::executor::block_on(pool.submit(async {})).unwrap_err(),
        Rejected::Closed
    );
    let k = keep.clone();
    let mut scope = Task::new(fixed(2).scoped(|pool| async move {
        *k.lock().unwrap() = Some(pool.clone());
        std::future::pending::<()>().await
    }));
    scope.assert_pending();
    let pool = keep.lock().unwrap().take().unwrap();
    assert!(!pool.is_closed());
    drop(scope);
    assert!(pool.is_closed());
}

// ---- pause / resume -----------------------------------------------------------------

/// "pause(): new calls: Err(Rejected::Paused); queued and running ones go
/// on": every call form is turned away at once, the work never runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_form_is_turned_away_by_a_pause() {
    let pool = fixed(2);
    pool.pause();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    assert_eq!(
        pool.submit(async move { r.fetch_add(1, Ordering::SeqCst) })
            .await
            .unwrap_err(),
        Rejected::Paused
    );
    let r = ran.clone();
    assert_eq!(
        pool.submit_weighted(3, async move { r.fetch_add(1, Ordering::SeqCst) })
            .await
            .unwrap_err(),
        Rejected::Paused
    );
    let r = ran.clone();
    assert_eq!(
        pool.submit_blocking(move || r.fetch_add(1, Ordering::SeqCst))
            .await
            .unwrap_err(),
        Rejected::Paused
    );
    let r = ran.clone();
    assert_eq!(
        pool.spawn(async move { r.fetch_add(1, Ordering::SeqCst) })
            .err(),
        Some(Rejected::Paused)
    );
    assert_eq!(pool.acquire().await.unwrap_err(), Rejected::Paused);
    assert_eq!(pool.acquire_owned(0).await.unwrap_err(), Rejected::Paused);
    assert_eq!(
        pool.acquire_weighted(1).await.unwrap_err(),
        Rejected::Paused
    );
    let r = ran.clone();
    let p = pool.clone();
    let sync = tokio::task::spawn_blocking(move || p.run(|| r.fetch_add(1, Ordering::SeqCst)))
        .await
        .unwrap();
    assert_eq!(sync.unwrap_err(), Rejected::Paused);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    let s = pool.stats();
    assert_eq!(s.rejected_for(Rejected::Paused), 8);
    assert_eq!(s.submitted(), 8);
    pool.resume();
    assert!(!pool.is_paused());
    assert_eq!(pool.submit(async { 1 }).await, Ok(1));
}

/// A spawned call queued before a pause is admitted after it ("queued ones
/// go on").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawned_call_queued_before_a_pause_still_runs() {
    let pool = fixed(1);
    let holder = pool.acquire_owned(0).await.unwrap();
    let handle = pool.spawn(async { 4 }).unwrap();
    let start = Instant::now();
    while pool.stats().waiting != 1 {
        assert!(start.elapsed() < WATCHDOG);
        tokio::task::yield_now().await;
    }
    pool.pause();
    drop(holder);
    let out = tokio::time::timeout(WATCHDOG, handle).await.expect("hung");
    assert_eq!(out, Ok(4));
}

// ---- streams --------------------------------------------------------------------------

/// A stream of gated items, counting the items pulled from the stream.
fn gated_items(
    n: usize,
    pulled: Arc<AtomicUsize>,
    meter: Meter,
) -> (
    Vec<oneshot::Sender<()>>,
    impl futures::Stream<Item = impl std::future::Future<Output = usize>>,
) {
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..n {
        let (tx, rx) = oneshot::channel::<()>();
        senders.push(tx);
        receivers.push(rx);
    }
    let stream = futures::stream::iter(receivers.into_iter().enumerate()).map(move |(i, rx)| {
        pulled.fetch_add(1, Ordering::SeqCst);
        let meter = meter.clone();
        async move {
            let _in = meter.enter();
            let _ = rx.await;
            i
        }
    });
    (senders, stream)
}

/// Pausing mid-stream: the stream's calls already queued are admitted; items
/// pulled after the pause are yielded as Err(Paused); the stream still ends.
#[test]
fn pausing_mid_stream_yields_paused_for_later_items_and_runs_the_queued_ones() {
    let pool = fixed(2);
    let pulled = Arc::new(AtomicUsize::new(0));
    let meter = Meter::default();
    let (senders, items) = gated_items(10, pulled.clone(), meter.clone());
    let mut stream = Task::new(Box::pin(items.pooled_unordered(&pool)).into_future_collect());
    stream.assert_pending();
    assert_eq!(pulled.load(Ordering::SeqCst), 4, "2 x size pulled");
    let s = pool.stats();
    assert_eq!((s.running, s.waiting), (2, 2));
    pool.pause();
    for tx in senders {
        let _ = tx.send(());
    }
    let mut out = drive(&mut stream);
    assert_eq!(out.len(), 10);
    assert_eq!(pulled.load(Ordering::SeqCst), 10);
    let paused = out.iter().filter(|o| **o == Err(Rejected::Paused)).count();
    out.retain(|o| o.is_ok());
    let mut ok: Vec<usize> = out.into_iter().map(Result::unwrap).collect();
    ok.sort();
    assert_eq!(ok, [0, 1, 2, 3]);
    assert_eq!(paused, 6);
    assert!(meter.max() <= 2);
    let s = pool.stats();
    assert_eq!(s.rejected_for(Rejected::Paused), 6);
    assert_eq!(s.completed, 4);
    assert_accounted(&s);
}

/// Collects a stream into a Vec, as a future (for `Task`).
trait CollectExt: futures::Stream + Sized {
    fn into_future_collect(self) -> futures::stream::Collect<Self, Vec<Self::Item>> {
        self.collect()
    }
}
impl<S: futures::Stream + Sized> CollectExt for S {}

/// Closing mid-stream (ordered): queued calls run, later items are
/// Err(Closed), and the outcomes stay in input order.
#[test]
fn closing_mid_stream_keeps_input_order_and_yields_closed_for_later_items() {
    let pool = fixed(2);
    let pulled = Arc::new(AtomicUsize::new(0));
    let meter = Meter::default();
    let (mut senders, items) = gated_items(8, pulled.clone(), meter.clone());
    let mut stream = Task::new(Box::pin(items.pooled_ordered(&pool)).into_future_collect());
    stream.assert_pending();
    assert_eq!(pulled.load(Ordering::SeqCst), 4);
    pool.close();
    // Finish them in reverse.
    senders.reverse();
    let mut done = None;
    for tx in senders {
        let _ = tx.send(());
        if let Poll::Ready(out) = stream.poll() {
            done = Some(out);
        }
    }
    let out = match done {
        Some(out) => out,
        None => drive(&mut stream),
    };
    let want: Vec<Result<usize, Rejected>> = (0..8)
        .map(|i| if i < 4 { Ok(i) } else { Err(Rejected::Closed) })
        .collect();
    assert_eq!(out, want);
    assert!(meter.max() <= 2);
    let s = pool.stats();
    assert_eq!(s.rejected_for(Rejected::Closed), 4);
    assert_accounted(&s);
    futures::executor::block_on(pool.drained());
}

/// Dropping the stream mid-way: its calls are cancelled (counted), every slot
/// is free at once, and later items are never pulled; an ordered stream's
/// finished-but-held-back outcomes are dropped without a count change.
#[test]
fn dropping_an_ordered_stream_mid_way_frees_slots_and_pulls_no_more() {
    let pool = fixed(3);
    let pulled = Arc::new(AtomicUsize::new(0));
    let meter = Meter::default();
    let (mut senders, items) = gated_items(20, pulled.clone(), meter.clone());
    let mut stream = Box::pin(items.pooled_ordered(&pool));
    // Poll by hand.
    let mut poll = || {
        futures::executor::block_on(async {
            futures::future::poll_fn(|cx| {
                Poll::Ready(futures::Stream::poll_next(stream.as_mut(), cx))
            })
            .await
        })
    };
    assert!(poll().is_pending());
    assert_eq!(pulled.load(Ordering::SeqCst), 6);
    // Item 1 and 2 finish (held back behind item 0).
    let s2 = senders.remove(2);
    let s1 = senders.remove(1);
    s1.send(()).ok();
    s2.send(()).ok();
    assert!(poll().is_pending());
    let s = pool.stats();
    assert_eq!(s.completed, 2);
    assert_eq!(s.running, 3, "items 0, 3, 4 admitted");
    assert_eq!(s.waiting, 1, "item 5");
    assert_eq!(meter.now(), 3);
    drop(stream);
    let s = pool.stats();
    assert_eq!((s.running, s.waiting), (0, 0));
    assert_eq!(s.cancelled, 4, "items 0, 3, 4 running and 5 waiting");
    assert_eq!(s.completed, 2);
    assert_eq!(meter.now(), 0, "the running bodies were dropped");
    assert_eq!(pulled.load(Ordering::SeqCst), 6, "nothing more pulled");
    assert_accounted(&s);
    for _ in 0..3 {
        std::mem::forget(pool.try_acquire().expect("every slot free"));
    }
    senders.clear();
}

/// Items waiting past the admission timeout are yielded as Err(TimedOut) and
/// the stream goes on with the rest.
#[test]
fn stream_items_that_wait_past_the_admission_timeout_are_timed_out() {
    let pool = Pool::builder()
        .size(1)
        .admission_timeout(Duration::from_millis(40))
        .build()
        .unwrap();
    within(WATCHDOG, move || {
        let (tx, rx) = oneshot::channel::<()>();
        let mut first = Some(rx);
        let items = futures::stream::iter(0..4u64).map(move |i| {
            let gate = first.take();
            async move {
                if let Some(gate) = gate {
                    let _ = gate.await;
                }
                i
            }
        });
        let opener = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let _ = tx.send(());
        });
        let out: Vec<_> = futures::executor::block_on(items.pooled_ordered(&pool).collect());
        opener.join().unwrap();
        assert_eq!(out, [Ok(0), Err(Rejected::TimedOut), Ok(2), Ok(3)]);
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::TimedOut), 1);
        assert_eq!(s.completed, 3);
        assert_accounted(&s);
    });
}

/// A pool scaled to zero: the adapter holds one item (`max(1, 2 x size)`);
/// after a scale-up it pulls more "at its next poll, which comes when one of
/// its calls is admitted".
#[test]
fn a_stream_on_a_pool_at_zero_holds_one_item_and_grows_after_a_scale_up() {
    let pool = fixed(1);
    pool.resize(0);
    let pulled = Arc::new(AtomicUsize::new(0));
    let meter = Meter::default();
    let (senders, items) = gated_items(10, pulled.clone(), meter.clone());
    let mut stream = Task::new(Box::pin(items.pooled_unordered(&pool)).into_future_collect());
    stream.assert_pending();
    assert_eq!(pulled.load(Ordering::SeqCst), 1);
    assert_eq!(pool.stats().waiting, 1);
    pool.scale(2);
    assert!(stream.is_woken(), "the admitted call wakes the adapter");
    stream.assert_pending();
    assert_eq!(pulled.load(Ordering::SeqCst), 4);
    assert_eq!(meter.now(), 2);
    for tx in senders {
        let _ = tx.send(());
    }
    let out = drive(&mut stream);
    assert_eq!(out.len(), 10);
    assert!(out.iter().all(|o| o.is_ok()));
    assert!(meter.max() <= 2);
}

/// The stream shares the pool's limit with other callers: counted from
/// outside, a stream and concurrent sync callers never exceed it together.
#[test]
fn a_stream_and_sync_callers_together_stay_within_the_limit() {
    let pool = fixed(3);
    within(WATCHDOG, move || {
        let meter = Meter::default();
        let m = meter.clone();
        let p = pool.clone();
        let other = std::thread::spawn(move || {
            for _ in 0..60 {
                p.run(|| {
                    let _in = m.enter();
                    std::thread::sleep(Duration::from_micros(300));
                })
                .unwrap();
            }
        });
        let m = meter.clone();
        let items = futures::stream::iter(0..60).map(move |i| {
            let m = m.clone();
            async move {
                let _in = m.enter();
                std::thread::sleep(Duration::from_micros(300));
                i
            }
        });
        let out: Vec<_> = futures::executor::block_on(items.pooled_unordered(&pool).collect());
        other.join().unwrap();
        assert_eq!(out.len(), 60);
        assert!(out.iter().all(|o| o.is_ok()));
        assert!(meter.max() <= 3, "max {}", meter.max());
        assert_accounted(&pool.stats());
    });
}

// ---- rayon ---------------------------------------------------------------------------------

/// `RayonExecutor::new(threads)`: closures run on those threads; with more
/// rayon threads than slots the limit holds (counted from outside).
#[test]
fn rayon_executor_of_our_own_runs_closures_there_within_the_limit() {
    let threads = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(6)
            .thread_name(|i| format!("acc24-rayon-{i}"))
            .build()
            .unwrap(),
    );
    let exec = pool_runtime::RayonExecutor::new(threads.clone());
    assert!(exec.thread_pool().is_some());
    assert!(pool_runtime::RayonExecutor::global()
        .thread_pool()
        .is_none());
    let pool = Pool::builder()
        .size(2)
        .blocking_executor(Arc::new(exec))
        .build()
        .unwrap();
    within(WATCHDOG, move || {
        let meter = Meter::default();
        let calls: Vec<_> = (0..12)
            .map(|_| {
                let m = meter.clone();
                pool.submit_blocking(move || {
                    let _in = m.enter();
                    std::thread::sleep(Duration::from_millis(3));
                    std::thread::current().name().map(str::to_owned)
                })
            })
            .collect();
        let names = futures::executor::block_on(futures::future::join_all(calls));
        for n in names {
            assert!(n.unwrap().unwrap().starts_with("acc24-rayon-"));
        }
        assert!(meter.max() <= 2, "max {}", meter.max());
        assert_eq!(meter.done(), 12);
        let s = pool.stats();
        assert_eq!(s.completed, 12);
        assert_accounted(&s);
    });
}

// ---- # Errors sections ------------------------------------------------------------------

/// `Pool::fixed`: "A `size` of zero is raised to one, and one above MAX_SLOTS
/// lowered to it".
#[test]
fn pool_fixed_clamps_its_size() {
    assert_eq!(Pool::fixed(0).size(), 1);
    assert_eq!(Pool::fixed(MAX_SLOTS + 1).size(), MAX_SLOTS);
    assert_eq!(Pool::fixed(usize::MAX).size(), MAX_SLOTS);
    let d = Pool::default();
    assert_eq!(d.size(), 3);
    assert_eq!(d.kind(), Kind::Fixed);
    assert_eq!(d.order(), Order::Fifo);
}

/// `set_bounds`' `# Errors`: each error in its case, and "a refused change
/// changes nothing".
#[test]
fn set_bounds_errors_each_in_its_case_and_change_nothing() {
    let fixed = Pool::fixed(3);
    assert!(matches!(
        fixed.set_bounds(1, 4),
        Err(BuildError::BoundsOnFixedPool)
    ));
    assert_eq!(fixed.bounds(), (0, MAX_SLOTS));
    assert_eq!(fixed.size(), 3);
    let auto = Pool::builder()
        .kind(Kind::Autoscale)
        .min(2)
        .max(6)
        .build()
        .unwrap();
    let size = auto.size();
    assert!(matches!(auto.set_bounds(0, 0), Err(BuildError::ZeroMax)));
    assert!(matches!(
        auto.set_bounds(5, 4),
        Err(BuildError::MinAboveMax { .. })
    ));
    assert!(matches!(
        auto.set_bounds(1, MAX_SLOTS + 1),
        Err(BuildError::TooLarge { .. })
    ));
    assert_eq!(auto.bounds(), (2, 6));
    assert_eq!(auto.size(), size);
    assert_eq!(auto.set_bounds(4, 5).unwrap(), 4.max(size).min(5));
    assert_eq!(auto.bounds(), (4, 5));
}

/// The README's defaults: "default 3..=8" for an autoscaled pool, and
/// `scale` clamps to `[min, max]`.
#[test]
fn autoscale_defaults_and_scale_clamps() {
    let auto = Pool::builder().kind(Kind::Autoscale).build().unwrap();
    assert_eq!(auto.bounds(), (3, 8));
    assert_eq!(auto.size(), 3);
    assert_eq!(auto.scale(100), 8);
    assert_eq!(auto.scale(-100), 3);
    assert_eq!(auto.resize(5), 5);
    assert_eq!(auto.resize(0), 3);
}

/// `Pool::spawn`: "Panics if called outside a tokio runtime".
#[test]
fn spawn_outside_a_runtime_panics_as_documented() {
    common::quiet_planned_panics();
    let pool = fixed(1);
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = pool.spawn(async {});
    }));
    assert!(out.is_err());
    // The pool is left as it was.
    let s = pool.stats();
    assert_eq!((s.running, s.waiting), (0, 0));
    assert_eq!(pool.run(|| 1), Ok(1));
}

// ---- round 24, second batch ------------------------------------------------------

/// `set_admission_timeout`: "for calls that start waiting from now on": a
/// call already waiting without a timeout is not timed out by it; one that
/// starts waiting after it is.
#[test]
fn a_new_admission_timeout_spares_calls_already_waiting() {
    let pool = fixed(1);
    within(WATCHDOG, move || {
        let holder = pool.try_acquire_owned(0).unwrap();
        let mut early = Task::new(pool.submit(async { 1 }));
        early.assert_pending();
        pool.set_admission_timeout(Some(Duration::from_millis(30)));
        assert_eq!(pool.admission_timeout(), Some(Duration::from_millis(30)));
        let late = futures::executor::block_on(pool.submit(async { 2 }));
        assert_eq!(late.unwrap_err(), Rejected::TimedOut);
        std::thread::sleep(Duration::from_millis(250));
        early.assert_pending();
        assert_eq!(pool.stats().waiting, 1);
        drop(holder);
        assert_eq!(early.assert_ready(), Ok(1));
        assert_eq!(pool.stats().rejected_for(Rejected::TimedOut), 1);
    });
}

/// `set_max_waiting`: "for calls that arrive from now on (calls already
/// waiting keep their place)".
#[test]
fn a_lowered_waiting_bound_keeps_calls_already_waiting() {
    let pool = fixed(1);
    let holder = pool.try_acquire().unwrap();
    let mut a = Task::new(pool.submit(async { 'a' }));
    a.assert_pending();
    let mut b = Task::new(pool.acquire_owned(0));
    b.assert_pending();
    pool.set_max_waiting(Some(0)).unwrap();
    assert_eq!(pool.max_waiting(), Some(0));
    assert_eq!(
        futures::executor::block_on(pool.submit(async {})).unwrap_err(),
        Rejected::Full
    );
    assert_eq!(pool.stats().waiting, 2);
    drop(holder);
    assert_eq!(a.assert_ready(), Ok('a'));
    drop(b.assert_ready().unwrap());
    assert!(matches!(
        pool.set_max_waiting(Some(MAX_SLOTS + 1)),
        Err(BuildError::OutOfRange { .. })
    ));
    assert_eq!(pool.max_waiting(), Some(0));
    let s = pool.stats();
    assert_eq!(s.rejected_for(Rejected::Full), 1);
    assert_accounted(&s);
}

/// `Permit`: "A permit is a guard, not a frame: calls made while holding it
/// are calls of their own [...] code that holds the pool's last slot and
/// calls the same pool waits for another one."
#[test]
fn a_permit_is_not_a_frame_calls_under_it_wait() {
    let pool = Pool::builder()
        .size(1)
        .admission_timeout(Duration::from_millis(40))
        .build()
        .unwrap();
    within(WATCHDOG, move || {
        let permit = futures::executor::block_on(pool.acquire()).unwrap();
        assert_eq!(
            futures::executor::block_on(pool.submit(async {})).unwrap_err(),
            Rejected::TimedOut
        );
        assert_eq!(pool.run(|| ()).unwrap_err(), Rejected::TimedOut);
        let s = pool.stats();
        assert_eq!((s.running, s.nested), (1, 0));
        drop(permit);
    });
}

/// Sync barging: "callers outside the queue count as waiting (a pause or a
/// close leaves them waiting, as queued calls)"; "a closed pool is not
/// drained while one waits"; "an abort turns it away".
#[test]
fn a_barging_sync_caller_counts_as_waiting_survives_close_and_is_aborted() {
    let pool = Pool::builder()
        .size(1)
        .sync_barging(Duration::from_secs(5))
        .build()
        .unwrap();
    assert_eq!(pool.sync_barging(), Some(Duration::from_secs(5)));
    within(WATCHDOG, move || {
        let holder = pool.try_acquire_owned(0).unwrap();
        let p = pool.clone();
        let t = std::thread::spawn(move || p.run(|| 11));
        wait_until("waiting outside the queue", || pool.stats().waiting == 1);
        pool.pause();
        pool.close();
        let mut drained = Task::new({
            let p = pool.clone();
            async move { p.drained().await }
        });
        drained.assert_pending();
        std::thread::sleep(Duration::from_millis(30));
        drop(holder);
        assert_eq!(t.join().unwrap(), Ok(11));
        drive(&mut drained);

        let pool = Pool::builder()
            .size(1)
            .sync_barging(Duration::from_secs(5))
            .build()
            .unwrap();
        let holder = pool.try_acquire_owned(0).unwrap();
        let p = pool.clone();
        let t = std::thread::spawn(move || p.run(|| 12));
        wait_until("waiting outside the queue", || pool.stats().waiting == 1);
        pool.abort();
        assert_eq!(t.join().unwrap().unwrap_err(), Rejected::Closed);
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::Closed), 1);
        assert_eq!(s.waiting, 0);
        drop(holder);
        assert_accounted(&pool.stats());
    });
}

/// Sync barging: "its time outside counts against the timeout".
#[test]
fn a_barging_sync_caller_times_out_by_the_admission_timeout() {
    let pool = Pool::builder()
        .size(1)
        .sync_barging(Duration::from_secs(10))
        .admission_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    within(WATCHDOG, move || {
        let holder = pool.try_acquire_owned(0).unwrap();
        let start = Instant::now();
        assert_eq!(pool.run(|| ()).unwrap_err(), Rejected::TimedOut);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "waited {:?}",
            start.elapsed()
        );
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::TimedOut), 1);
        assert_eq!(s.waiting, 0);
        assert_accounted(&s);
        drop(holder);
    });
}

/// `submit_judged`: "a judge that panics is a panicked call" (README,
/// Accounting): the slot is freed, the panic reaches the caller.
#[test]
fn a_panicking_judge_is_a_panicked_call() {
    common::quiet_planned_panics();
    let pool = fixed(1);
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures::executor::block_on(
            pool.submit_judged(0, async { 3 }, |_: &i32| panic!("planned: judge")),
        )
    }));
    assert!(out.is_err());
    let s = pool.stats();
    assert_eq!((s.running, s.completed, s.panicked), (0, 1, 1));
    assert_accounted(&s);
    assert_eq!(pool.run(|| 1), Ok(1));
}

/// A work whose `Drop` panics once its output is ready is a panicked call.
#[test]
fn a_work_whose_drop_panics_after_its_output_is_a_panicked_call() {
    common::quiet_planned_panics();
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("planned: work drop");
            }
        }
    }
    let pool = fixed(1);
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures::executor::block_on(pool.submit(async {
            let _bomb = Bomb;
            std::future::ready(()).await;
            5
        }))
    }));
    // Either the panic reaches the caller, or the output does: both leave the
    // call counted as panicked and its slot free.
    let _ = out;
    let s = pool.stats();
    assert_eq!(s.running, 0);
    assert_eq!(s.panicked, 1, "{s:?}");
    assert_eq!(s.completed, 1);
    assert_accounted(&s);
}

/// `Group::submit_wait`: never turned away; it "waits through a pause
/// (until `resume`)", counted in `waiting` meanwhile ("including, for calls
/// that never reject, those waiting for `resume`").
#[test]
fn a_never_rejecting_group_call_waits_through_a_pause_counted_as_waiting() {
    use pool_runtime::{Group, GroupSpec};
    static G: Group = Group::new(GroupSpec::new("tests::acceptance24::submit_wait").size(2));
    G.pause();
    let mut call = Task::new(G.submit_wait(0, async { 8 }));
    call.assert_pending();
    assert_eq!(G.stats().waiting, 1);
    assert_eq!(G.stats().running, 0);
    assert_eq!(
        futures::executor::block_on(G.submit(0, async { 1 })).unwrap_err(),
        Rejected::Paused
    );
    G.resume();
    assert!(call.is_woken(), "resume admits it");
    assert_eq!(call.assert_ready(), 8);
    let s = G.stats();
    assert_eq!(s.waiting, 0);
    assert_eq!(s.rejected_for(Rejected::Paused), 1);
    assert_accounted(&s);
}

/// `Group::run_wait` parks through a pause and runs after `resume`.
#[test]
fn group_run_wait_parks_through_a_pause() {
    use pool_runtime::{Group, GroupSpec};
    static G: Group = Group::new(GroupSpec::new("tests::acceptance24::run_wait").size(1));
    within(WATCHDOG, || {
        G.pause();
        let t = std::thread::spawn(|| G.run_wait(0, || 21));
        wait_until("parked", || G.stats().waiting == 1);
        std::thread::sleep(Duration::from_millis(30));
        assert!(!t.is_finished());
        assert_eq!(G.run(|| 0).unwrap_err(), Rejected::Paused);
        G.resume();
        assert_eq!(t.join().unwrap(), 21);
        assert_accounted(&G.stats());
    });
}

/// A group's stream (`PoolRef` from a `&'static Group`): bounded by the
/// group's limit, counted from outside, alongside the group's other calls.
#[test]
fn a_group_stream_is_bounded_by_the_group_with_other_callers() {
    use pool_runtime::{Group, GroupSpec};
    static G: Group = Group::new(GroupSpec::new("tests::acceptance24::stream").size(2));
    within(WATCHDOG, || {
        let meter = Meter::default();
        let m = meter.clone();
        let other = std::thread::spawn(move || {
            for _ in 0..40 {
                G.run(|| {
                    let _in = m.enter();
                    std::thread::sleep(Duration::from_micros(300));
                })
                .unwrap();
            }
        });
        let m = meter.clone();
        let items = futures::stream::iter(0..40usize).map(move |i| {
            let m = m.clone();
            async move {
                let _in = m.enter();
                std::thread::sleep(Duration::from_micros(300));
                i
            }
        });
        let out: Vec<_> = futures::executor::block_on(items.pooled_ordered(&G).collect());
        other.join().unwrap();
        assert_eq!(out, (0..40).map(Ok).collect::<Vec<_>>());
        assert!(meter.max() <= 2, "max {}", meter.max());
        assert_accounted(&G.stats());
    });
}

/// The stream's panic rule: "an adapter polled again after it goes on with
/// the other items and ends [...] the ordered adapter skips the panicked
/// item's place".
#[test]
fn an_ordered_stream_skips_a_panicked_items_place_and_goes_on() {
    common::quiet_planned_panics();
    let pool = fixed(2);
    let items = futures::stream::iter(0..6usize).map(|i| async move {
        if i == 2 {
            panic!("planned: stream item");
        }
        i
    });
    let mut stream = Box::pin(items.pooled_ordered(&pool));
    let mut got = Vec::new();
    let mut panics = 0;
    for _ in 0..100 {
        let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures::executor::block_on(stream.next())
        }));
        match next {
            Ok(Some(out)) => got.push(out),
            Ok(None) => break,
            Err(_) => panics += 1,
        }
    }
    assert_eq!(panics, 1);
    assert_eq!(got, [Ok(0), Ok(1), Ok(3), Ok(4), Ok(5)]);
    let s = pool.stats();
    assert_eq!((s.completed, s.panicked, s.running), (6, 1, 0));
    assert_accounted(&s);
}

/// The ordered adapter's bound counts held-back outcomes: behind a slow first
/// item it holds at most `2 x size` items (in flight plus finished).
#[test]
fn an_ordered_stream_behind_a_slow_first_item_holds_at_most_twice_the_size() {
    let pool = fixed(2);
    let pulled = Arc::new(AtomicUsize::new(0));
    let p = pulled.clone();
    let (tx, rx) = oneshot::channel::<()>();
    let mut first = Some(rx);
    let items = futures::stream::iter(0..50usize).map(move |i| {
        p.fetch_add(1, Ordering::SeqCst);
        let gate = first.take();
        async move {
            if let Some(gate) = gate {
                let _ = gate.await;
            }
            i
        }
    });
    let mut stream = Task::new(Box::pin(items.pooled_ordered(&pool)).into_future_collect());
    for _ in 0..20 {
        stream.assert_pending();
    }
    assert_eq!(pulled.load(Ordering::SeqCst), 4);
    let s = pool.stats();
    assert_eq!(s.completed, 3, "items 1..=3 finished, held back");
    assert_eq!(s.running, 1);
    tx.send(()).unwrap();
    let out = drive(&mut stream);
    assert_eq!(out, (0..50).map(Ok).collect::<Vec<_>>());
}

/// `spawn`: "the call takes its place in the queue now, in call order"; the
/// README: "takes its queue place at once". A spawned call queued before a
/// `submit` is admitted before it.
#[tokio::test(flavor = "current_thread")]
async fn a_spawned_call_takes_its_queue_place_at_once() {
    let pool = fixed(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let holder = pool.try_acquire_owned(0).unwrap();
    let o = order.clone();
    let handle = pool
        .spawn(async move { o.lock().unwrap().push("spawned") })
        .unwrap();
    assert_eq!(pool.stats().waiting, 1, "queued before its task ever ran");
    let o = order.clone();
    let p = pool.clone();
    let submitted = tokio::spawn(async move {
        p.submit(async move { o.lock().unwrap().push("submitted") })
            .await
    });
    tokio::task::yield_now().await;
    assert_eq!(pool.stats().waiting, 2);
    drop(holder);
    handle.await.unwrap();
    submitted.await.unwrap().unwrap();
    assert_eq!(*order.lock().unwrap(), ["spawned", "submitted"]);
}

/// `spawn`: later rejections (closed while waiting, timed out) come
/// "through the handle"; `SpawnHandle::abort` cancels a waiting call
/// (counted cancelled) and the handle yields Closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_calls_report_later_rejections_through_the_handle() {
    let pool = fixed(1);
    let holder = pool.acquire_owned(0).await.unwrap();
    let aborted = pool.spawn(async { 1 }).unwrap();
    let closed = pool.spawn(async { 2 }).unwrap();
    aborted.abort();
    let out = tokio::time::timeout(WATCHDOG, aborted).await.expect("hung");
    assert_eq!(out, Err(Rejected::Closed));
    assert_eq!(pool.stats().cancelled, 1);
    pool.abort();
    let out = tokio::time::timeout(WATCHDOG, closed).await.expect("hung");
    assert_eq!(out, Err(Rejected::Closed));
    let s = pool.stats();
    assert_eq!(s.rejected_for(Rejected::Closed), 1);
    drop(holder);
    assert_accounted(&pool.stats());

    let pool = Pool::builder()
        .size(1)
        .admission_timeout(Duration::from_millis(30))
        .build()
        .unwrap();
    let holder = pool.acquire_owned(0).await.unwrap();
    let timed = pool.spawn(async { 3 }).unwrap();
    let out = tokio::time::timeout(WATCHDOG, timed).await.expect("hung");
    assert_eq!(out, Err(Rejected::TimedOut));
    drop(holder);
    assert_eq!(pool.stats().rejected_for(Rejected::TimedOut), 1);
}

/// `run` on a current-thread runtime's thread: "A call that finds a free slot
/// never waits, so it works anywhere"; one that must wait panics (documented)
/// naming the fixes, and leaves the pool's accounting whole.
#[test]
fn run_on_a_current_thread_runtime_works_when_free_and_panics_when_it_must_wait() {
    common::quiet_planned_panics();
    let pool = fixed(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(async { pool.run(|| 4) }), Ok(4));
    let holder = pool.try_acquire_owned(0).unwrap();
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { pool.run(|| 5) })
    }));
    let payload = out.expect_err("must panic instead of deadlocking");
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        msg.contains("async") || msg.contains("spawn_blocking"),
        "{msg}"
    );
    let s = pool.stats();
    assert_eq!((s.running, s.waiting), (1, 0));
    drop(holder);
    assert_accounted(&pool.stats());
}

/// `ShutdownTimedOut`'s Display counts the calls still running and the ones
/// turned away.
#[test]
fn shutdown_timed_out_says_how_many() {
    let pool = fixed(1);
    within(WATCHDOG, move || {
        let holder = pool.try_acquire_owned(0).unwrap();
        let mut w = Task::new(pool.submit(async {}));
        w.assert_pending();
        let err = futures::executor::block_on(pool.shutdown(Some(Duration::from_millis(20))))
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("1 call(s) still running"), "{text}");
        assert!(text.contains("1 waiting call(s) turned away"), "{text}");
        drop(holder);
        assert_eq!(w.assert_ready().unwrap_err(), Rejected::Closed);
    });
}

// ---- round 24, third batch ---------------------------------------------------------

/// A guard whose `Drop` tries the pool and records whether a slot was free.
struct TriesOnDrop {
    pool: Pool,
    free: Arc<Mutex<Vec<bool>>>,
}

impl Drop for TriesOnDrop {
    fn drop(&mut self) {
        let free = self.pool.try_acquire().is_ok();
        self.free.lock().unwrap().push(free);
    }
}

/// README: "A call dropped or turned away gives its slots [...] back before
/// its work, closure or arguments are dropped, so their `Drop` may call a
/// group." A blocking job the executor drops unrun: its slot is free when
/// the closure's captures are dropped.
#[test]
fn a_dropped_blocking_jobs_slot_is_free_before_its_closure_is_dropped() {
    let pool = Pool::builder()
        .size(1)
        .blocking_executor(Arc::new(Dropping))
        .build()
        .unwrap();
    let free = Arc::new(Mutex::new(Vec::new()));
    let guard = TriesOnDrop {
        pool: pool.clone(),
        free: free.clone(),
    };
    let out = futures::executor::block_on(pool.submit_blocking(move || {
        let _keep = &guard;
    }));
    assert_eq!(out.unwrap_err(), Rejected::Closed);
    assert_eq!(*free.lock().unwrap(), [true]);
}

/// Stream: "the calls started free their slots before the items not yet
/// pulled are dropped with the stream (their `Drop` is the user's code and
/// may call the pool)".
#[test]
fn dropping_a_stream_frees_its_slots_before_its_unpulled_items_drop() {
    let pool = fixed(1);
    let free = Arc::new(Mutex::new(Vec::new()));
    let items: Vec<_> = (0..4)
        .map(|_| {
            let guard = TriesOnDrop {
                pool: pool.clone(),
                free: free.clone(),
            };
            async move {
                let _keep = &guard;
                std::future::pending::<()>().await
            }
        })
        .collect();
    let mut stream = Box::pin(futures::stream::iter(items).pooled_unordered(&pool));
    let polled = futures::executor::block_on(futures::future::poll_fn(|cx| {
        Poll::Ready(futures::Stream::poll_next(stream.as_mut(), cx).is_pending())
    }));
    assert!(polled);
    assert_eq!((pool.stats().running, pool.stats().waiting), (1, 1));
    drop(stream);
    // The two pulled items' futures are dropped with their calls (the
    // running one's under its slot), then the two unpulled items: those must
    // find the slot free.
    let free = free.lock().unwrap().clone();
    assert_eq!(free.len(), 4);
    assert_eq!(&free[2..], [true, true], "{free:?}");
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.cancelled), (0, 0, 2));
}

/// "When a running call is cancelled, its work is dropped under its slot, so
/// a `Drop` that calls the same pool runs as a nested call instead of
/// waiting for a slot it holds itself."
#[test]
fn a_cancelled_calls_work_drop_calls_the_pool_as_a_nested_call() {
    struct CallsOnDrop(Pool, Arc<Mutex<Option<Result<u8, Rejected>>>>);
    impl Drop for CallsOnDrop {
        fn drop(&mut self) {
            *self.1.lock().unwrap() = Some(self.0.run(|| 1));
        }
    }
    let pool = fixed(1);
    within(WATCHDOG, move || {
        let seen = Arc::new(Mutex::new(None));
        let guard = CallsOnDrop(pool.clone(), seen.clone());
        let mut call = Task::new(pool.submit(async move {
            let _keep = &guard;
            std::future::pending::<()>().await
        }));
        call.assert_pending();
        assert_eq!(pool.stats().running, 1);
        drop(call);
        assert_eq!(*seen.lock().unwrap(), Some(Ok(1)));
        let s = pool.stats();
        assert_eq!(
            (s.running, s.nested, s.cancelled, s.completed),
            (0, 0, 1, 1)
        );
        assert_accounted(&s);
    });
}

/// `abort`: "rejects every waiting call at once with Closed (never-rejecting
/// ones excepted)"; `shutdown` past its deadline reports those in
/// `waiting`; the never-rejecting one is admitted once the slot frees, and
/// a never-rejecting call that arrives after the close is admitted too, in
/// order and within the limit.
#[test]
fn abort_spares_never_rejecting_group_calls_which_run_in_order_after_close() {
    use pool_runtime::{Group, GroupSpec};
    static G: Group = Group::new(GroupSpec::new("tests::acceptance24::abort").size(1));
    within(WATCHDOG, || {
        let order = Arc::new(Mutex::new(Vec::new()));
        let holder = G.try_acquire_owned(0).unwrap();
        let o = order.clone();
        let mut patient = Task::new(G.submit_wait(0, async move { o.lock().unwrap().push(1) }));
        patient.assert_pending();
        let mut plain = Task::new(G.submit(0, async {}));
        plain.assert_pending();
        let err = futures::executor::block_on(G.pool().shutdown(Some(Duration::from_millis(30))))
            .unwrap_err();
        assert_eq!(err.turned_away, 1);
        assert_eq!(err.waiting, 1);
        assert_eq!(err.running, 1);
        assert_eq!(plain.assert_ready().unwrap_err(), Rejected::Closed);
        patient.assert_pending();
        let o = order.clone();
        let mut late = Task::new(G.submit_wait(0, async move { o.lock().unwrap().push(2) }));
        late.assert_pending();
        assert_eq!(G.stats().waiting, 2);
        drop(holder);
        patient.assert_ready();
        late.assert_ready();
        assert_eq!(*order.lock().unwrap(), [1, 2]);
        assert_accounted(&G.stats());
        futures::executor::block_on(G.pool().drained());
    });
}

/// `scoped` "closes and drains at the end": work spawned through the pool
/// inside the body has finished when the scope resolves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_waits_for_work_spawned_inside_it() {
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    let pool = fixed(2);
    let outside = pool.clone();
    tokio::time::timeout(
        WATCHDOG,
        pool.scoped(|pool| async move {
            for _ in 0..4 {
                let f = f.clone();
                drop(pool.spawn(async move {
                    tokio::time::sleep(Duration::from_millis(40)).await;
                    f.fetch_add(1, Ordering::SeqCst);
                }));
            }
        }),
    )
    .await
    .expect("hung");
    assert_eq!(finished.load(Ordering::SeqCst), 4);
    assert!(outside.is_closed());
    assert_eq!(outside.stats().in_flight(), 0);
}

/// The builder's `# Errors`: each `BuildError` in its case.
#[test]
fn the_builder_refuses_each_bad_setting_with_its_error() {
    use pool_runtime::AutoscaleTiming;
    assert_eq!(
        Pool::builder().size(0).build().unwrap_err(),
        BuildError::ZeroSize
    );
    assert_eq!(
        Pool::builder().min(1).build().unwrap_err(),
        BuildError::BoundsOnFixedPool
    );
    assert_eq!(
        Pool::builder().max(4).build().unwrap_err(),
        BuildError::BoundsOnFixedPool
    );
    assert_eq!(
        Pool::builder().size(MAX_SLOTS + 1).build().unwrap_err(),
        BuildError::TooLarge {
            value: MAX_SLOTS + 1
        }
    );
    assert_eq!(
        Pool::builder()
            .kind(Kind::Autoscale)
            .min(4)
            .max(2)
            .build()
            .unwrap_err(),
        BuildError::MinAboveMax { min: 4, max: 2 }
    );
    assert_eq!(
        Pool::builder()
            .kind(Kind::Autoscale)
            .min(2)
            .max(4)
            .size(5)
            .build()
            .unwrap_err(),
        BuildError::SizeOutsideBounds {
            size: 5,
            min: 2,
            max: 4
        }
    );
    assert_eq!(
        Pool::builder()
            .kind(Kind::Autoscale)
            .max(0)
            .min(0)
            .build()
            .unwrap_err(),
        BuildError::ZeroMax
    );
    assert_eq!(
        Pool::builder()
            .kind(Kind::Autoscale)
            .autoscale_interval(Duration::ZERO)
            .build()
            .unwrap_err(),
        BuildError::ZeroInterval
    );
    assert_eq!(
        Pool::builder()
            .kind(Kind::Autoscale)
            .autoscale_window(0)
            .build()
            .unwrap_err(),
        BuildError::ZeroWindow
    );
    assert!(matches!(
        Pool::builder()
            .kind(Kind::Autoscale)
            .autoscale_window(AutoscaleTiming::MAX_WINDOW + 1)
            .build(),
        Err(BuildError::OutOfRange { .. })
    ));
    assert!(matches!(
        Pool::builder().max_waiting(MAX_SLOTS + 1).build(),
        Err(BuildError::OutOfRange { .. })
    ));
    assert_eq!(
        Pool::builder()
            .scale_policy(pool_runtime::ScalePolicy::Adaptive(Default::default()))
            .build()
            .unwrap_err(),
        BuildError::PolicyOnFixedPool
    );
    // Edge values that pass.
    assert_eq!(
        Pool::builder().size(MAX_SLOTS).build().unwrap().size(),
        MAX_SLOTS
    );
    let p = Pool::builder()
        .kind(Kind::Autoscale)
        .min(0)
        .max(1)
        .build()
        .unwrap();
    assert_eq!(p.bounds(), (0, 1));
    assert!(Pool::builder()
        .admission_timeout(Duration::MAX)
        .build()
        .is_ok());
}

/// A "never" admission timeout (`Duration::MAX`) on every call form: no
/// panic, no overflow; a waiting call simply waits.
#[test]
fn an_admission_timeout_of_duration_max_means_never_on_every_call_form() {
    let pool = Pool::builder()
        .size(1)
        .admission_timeout(Duration::MAX)
        .sync_barging(Duration::MAX)
        .build()
        .unwrap();
    within(WATCHDOG, move || {
        let holder = pool.try_acquire_owned(0).unwrap();
        let p = pool.clone();
        let sync = std::thread::spawn(move || p.run(|| 1));
        wait_until("sync caller waiting", || pool.stats().waiting == 1);
        let mut a = Task::new(pool.submit(async { 2 }));
        a.assert_pending();
        let mut permit = Task::new(pool.acquire_owned(0));
        permit.assert_pending();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(pool.stats().waiting, 3);
        drop(holder);
        // The queued calls go first: the sync caller waits outside the
        // queue (sync barging), where calls that arrive after it may
        // overtake it.
        assert_eq!(drive(&mut a), Ok(2));
        drop(drive(&mut permit).unwrap());
        assert_eq!(sync.join().unwrap(), Ok(1));
        let s = pool.stats();
        assert_eq!(s.rejected_total(), 0);
        assert_accounted(&s);
    });
}

/// `set_autoscale_timing`'s `# Errors`: refused timing changes nothing.
#[test]
fn set_autoscale_timing_refuses_bad_timing() {
    use pool_runtime::AutoscaleTiming;
    let pool = Pool::builder().kind(Kind::Autoscale).build().unwrap();
    let bad = [
        AutoscaleTiming {
            interval: Duration::ZERO,
            window: 20,
        },
        AutoscaleTiming {
            interval: Duration::from_secs(1),
            window: 0,
        },
        AutoscaleTiming {
            interval: Duration::from_secs(1),
            window: AutoscaleTiming::MAX_WINDOW + 1,
        },
    ];
    for timing in bad {
        assert!(pool.set_autoscale_timing(timing).is_err(), "{timing:?}");
    }
    assert!(pool
        .set_autoscale_timing(AutoscaleTiming {
            interval: Duration::MAX,
            window: 1,
        })
        .is_ok());
}

/// A "never" admission timeout on a parked sync caller (no barging): its
/// park's deadline must not overflow.
#[test]
fn a_parked_sync_caller_with_a_never_timeout_waits_without_overflow() {
    let pool = Pool::builder()
        .size(1)
        .admission_timeout(Duration::MAX)
        .build()
        .unwrap();
    within(WATCHDOG, move || {
        let holder = pool.try_acquire_owned(0).unwrap();
        let p = pool.clone();
        let sync = std::thread::spawn(move || p.run(|| 1));
        wait_until("parked", || pool.stats().waiting == 1);
        std::thread::sleep(Duration::from_millis(30));
        drop(holder);
        assert_eq!(sync.join().unwrap(), Ok(1));
        let p = pool.clone();
        let group_like = std::thread::spawn(move || p.run_weighted(-1, || 2));
        assert_eq!(group_like.join().unwrap(), Ok(2));
    });
}

/// `Pool`'s `# Panics`: "No pool operation panics on bad input: settings
/// are checked [...] or clamped (`scale`, `resize`)". Extreme values on
/// every setter and weight.
#[test]
fn no_pool_operation_panics_on_extreme_input() {
    let pool = priority(2);
    assert_eq!(pool.scale(isize::MAX), MAX_SLOTS);
    assert_eq!(pool.scale(isize::MIN), 0);
    assert_eq!(pool.resize(usize::MAX), MAX_SLOTS);
    assert_eq!(pool.resize(2), 2);
    assert!(pool.set_max_waiting(Some(usize::MAX)).is_err());
    assert!(pool.set_max_waiting(Some(MAX_SLOTS)).is_ok());
    pool.set_sync_barging(Some(Duration::MAX));
    pool.set_sync_barging(Some(Duration::ZERO));
    assert_eq!(pool.sync_barging(), None, "a zero bound is off");
    pool.set_admission_timeout(Some(Duration::MAX));
    assert!(pool.set_bounds(usize::MAX, usize::MAX).is_err());
    let auto = Pool::builder()
        .kind(Kind::Autoscale)
        .order(Order::Priority)
        .min(0)
        .max(4)
        .build()
        .unwrap();
    assert_eq!(auto.size(), 1, "with min = 0 a pool starts at 1");
    assert!(matches!(
        auto.set_bounds(usize::MAX, usize::MAX),
        Err(BuildError::TooLarge { .. })
    ));
    assert_eq!(auto.bounds(), (0, 4));
    within(WATCHDOG, move || {
        for w in [i64::MIN, i64::MAX, 0, -1] {
            assert_eq!(pool.run_weighted(w, || w), Ok(w));
            assert_eq!(
                futures::executor::block_on(pool.submit_weighted(w, async move { w })),
                Ok(w)
            );
            drop(pool.try_acquire_owned(w).unwrap());
        }
        // Extreme weights queue in order: MIN first, MAX last.
        let holder = pool.try_acquire_owned(0).unwrap();
        let holder2 = pool.try_acquire_owned(0).unwrap();
        let mut max = Task::new(pool.acquire_owned(i64::MAX));
        max.assert_pending();
        let mut min = Task::new(pool.acquire_owned(i64::MIN));
        min.assert_pending();
        drop(holder);
        assert!(min.is_woken() && !max.is_woken());
        let m = min.assert_ready().unwrap();
        drop(holder2);
        drop(max.assert_ready().unwrap());
        drop(m);
        assert_accounted(&pool.stats());
    });
}

/// A zero admission timeout: a call that must wait is turned away
/// (TimedOut), async or sync; one that finds a free slot runs.
#[test]
fn a_zero_admission_timeout_turns_away_every_call_that_must_wait() {
    let pool = Pool::builder()
        .size(1)
        .admission_timeout(Duration::ZERO)
        .build()
        .unwrap();
    within(WATCHDOG, move || {
        assert_eq!(pool.run(|| 1), Ok(1));
        assert_eq!(futures::executor::block_on(pool.submit(async { 2 })), Ok(2));
        let holder = pool.try_acquire_owned(0).unwrap();
        assert_eq!(pool.run(|| 1).unwrap_err(), Rejected::TimedOut);
        assert_eq!(
            futures::executor::block_on(pool.submit(async { 2 })).unwrap_err(),
            Rejected::TimedOut
        );
        assert_eq!(
            futures::executor::block_on(pool.acquire()).unwrap_err(),
            Rejected::TimedOut
        );
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::TimedOut), 3);
        assert_eq!(s.waiting, 0);
        assert_accounted(&s);
        drop(holder);
    });
}

/// `Stats::running` "May exceed `size` right after a scale-down: running
/// work is never interrupted, the pool just admits nothing until
/// `running < size`" — counted from outside.
#[test]
fn after_a_scale_down_nothing_is_admitted_until_running_is_below_the_new_size() {
    let pool = fixed(3);
    let permits: Vec<_> = (0..3).map(|_| pool.try_acquire_owned(0).unwrap()).collect();
    assert_eq!(pool.resize(1), 1);
    let s = pool.stats();
    assert_eq!((s.size, s.running), (1, 3));
    let mut w = Task::new(pool.submit(async { 1 }));
    w.assert_pending();
    let mut permits = permits.into_iter();
    drop(permits.next());
    assert!(!w.is_woken());
    w.assert_pending();
    drop(permits.next());
    assert!(!w.is_woken(), "running 1 is not below size 1");
    w.assert_pending();
    drop(permits.next());
    assert!(w.is_woken());
    assert_eq!(w.assert_ready(), Ok(1));
    assert_accounted(&pool.stats());
}

/// What a consumer that catches panics gets from a stream: each outcome,
/// and how many polls panicked (`on_panic` runs after each). One poll at a
/// time, with a waker that records whether it was woken: a `Pending` that
/// nothing wakes within 2 s is reported as a hang (outside `catch_unwind`).
fn consume_catching<S, T>(
    mut stream: std::pin::Pin<&mut S>,
    mut on_panic: impl FnMut(),
) -> Result<(Vec<T>, usize), &'static str>
where
    S: futures::Stream<Item = T>,
{
    let mut got = Vec::new();
    let mut panics = 0;
    for _ in 0..50 {
        let mut next = Task::new(stream.next());
        let outcome = loop {
            let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| next.poll()));
            match polled {
                Err(_) => break None,
                Ok(Poll::Ready(out)) => break Some(out),
                Ok(Poll::Pending) => {
                    let start = Instant::now();
                    while !next.is_woken() {
                        if start.elapsed() > Duration::from_secs(2) {
                            return Err("hung: the adapter returned Pending and nothing wakes it");
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
        };
        drop(next);
        match outcome {
            Some(Some(out)) => got.push(out),
            Some(None) => return Ok((got, panics)),
            None => {
                panics += 1;
                on_panic();
            }
        }
    }
    Err("the stream never ended")
}

/// The ordered adapter's panic rule ("an adapter polled again after it (a
/// consumer that catches panics) goes on with the other items and ends [...]
/// the ordered adapter skips the panicked item's place") on an adapter that
/// holds one item at a time (`limit(1)`): after the first item panics, the
/// next poll must go on with the rest.
#[test]
fn an_ordered_stream_holding_one_item_goes_on_after_it_panics() {
    common::quiet_planned_panics();
    let got = within(Duration::from_secs(10), || {
        let pool = fixed(2);
        let items = futures::stream::iter(0..4usize).map(|i| async move {
            if i == 0 {
                panic!("planned: the only item held");
            }
            i
        });
        let mut stream = Box::pin(items.pooled_ordered(&pool).limit(1));
        let got = consume_catching(stream.as_mut(), || {});
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (0, 0));
        got
    });
    let (got, panics) = got.unwrap();
    assert_eq!(panics, 1);
    assert_eq!(got, [Ok(1), Ok(2), Ok(3)]);
}

/// The same rule when every item the adapter holds panicked, the later one
/// first (two held at once, both running).
#[test]
fn an_ordered_stream_goes_on_after_all_its_held_items_panicked_out_of_order() {
    common::quiet_planned_panics();
    let got = within(Duration::from_secs(10), || {
        let pool = fixed(2);
        let (tx, rx) = oneshot::channel::<()>();
        let mut gate = Some(rx);
        let items = futures::stream::iter(0..5usize).map(move |i| {
            let gate = if i == 0 { gate.take() } else { None };
            async move {
                if let Some(gate) = gate {
                    let _ = gate.await;
                    panic!("planned: first item, after the second");
                }
                if i == 1 {
                    panic!("planned: second item, at once");
                }
                i
            }
        });
        let mut stream = Box::pin(items.pooled_ordered(&pool).limit(2));
        let mut tx = Some(tx);
        // After the second item's panic, let the first panic.
        consume_catching(stream.as_mut(), || {
            if let Some(tx) = tx.take() {
                tx.send(()).unwrap();
            }
        })
    });
    let (got, panics) = got.unwrap();
    assert_eq!(panics, 2);
    assert_eq!(got, [Ok(2), Ok(3), Ok(4)]);
}

/// The unordered adapter under the same panics goes on (its bound counts
/// calls in flight only).
#[test]
fn an_unordered_stream_holding_one_item_goes_on_after_it_panics() {
    common::quiet_planned_panics();
    let got = within(Duration::from_secs(10), || {
        let pool = fixed(2);
        let items = futures::stream::iter(0..4usize).map(|i| async move {
            if i == 0 {
                panic!("planned: the only item held");
            }
            i
        });
        let mut stream = Box::pin(items.pooled_unordered(&pool).limit(1));
        consume_catching(stream.as_mut(), || {})
    });
    let (got, panics) = got.unwrap();
    assert_eq!(panics, 1);
    assert_eq!(got, [Ok(1), Ok(2), Ok(3)]);
}

/// `OwnedPermit`: "Taken inside a call's work, a permit is a nested call of
/// that work (it may hold the parent's slot), and it stays the work's
/// wherever it is moved: a *sync* call the same work then makes while the
/// permit holds the parent's slot panics naming the fix [...] even if the
/// permit went to another thread".
#[test]
fn a_sync_call_while_an_owned_permit_moved_away_holds_the_parents_slot_panics() {
    common::quiet_planned_panics();
    let pool = fixed(1);
    let out = within(WATCHDOG, move || {
        let p = pool.clone();
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures::executor::block_on(pool.submit(async move {
                let permit = p.acquire_owned(0).await.expect("nested: borrows the slot");
                assert_eq!(p.stats().nested, 1);
                let holder = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(200));
                    drop(permit);
                });
                let out = p.run(|| 1);
                holder.join().unwrap();
                out
            }))
        }));
        // The permit outlived its parent: it keeps the slot busy until it
        // is dropped, on its thread.
        wait_until("the moved permit released", || pool.stats().running == 0);
        let s = pool.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
        assert_accounted(&s);
        out.map_err(|payload| {
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        })
    });
    let msg = out.expect_err("documented to panic naming the fix");
    assert!(msg.contains("async") || msg.contains("Await"), "{msg}");
}

/// `SpawnHandle`: "A runtime that shuts down before the call ends drops it
/// the same way (waiting or running, it is counted in `Stats::cancelled`);
/// awaiting its handle then yields `Err(Rejected::Closed)`, from any
/// executor."
#[test]
fn spawned_calls_of_a_runtime_that_shuts_down_are_cancelled_and_closed() {
    let pool = fixed(1);
    within(WATCHDOG, move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let meter = Meter::default();
        let (running, waiting) = rt.block_on(async {
            let m = meter.clone();
            let running = pool
                .spawn(async move {
                    let _in = m.enter();
                    std::future::pending::<()>().await
                })
                .unwrap();
            let waiting = pool.spawn(async { 1 }).unwrap();
            let start = Instant::now();
            while meter.now() != 1 || pool.stats().waiting != 1 {
                assert!(start.elapsed() < WATCHDOG);
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            (running, waiting)
        });
        drop(rt);
        assert_eq!(meter.now(), 0, "the running work was dropped");
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_eq!(s.cancelled, 2);
        assert_eq!(futures::executor::block_on(running), Err(Rejected::Closed));
        assert_eq!(futures::executor::block_on(waiting), Err(Rejected::Closed));
        assert_accounted(&pool.stats());
    });
}

/// `SpawnHandle`: "Awaiting the handle re-raises a panic of the call's
/// work"; the slot is freed and the call counted as panicked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawned_calls_panic_is_re_raised_by_its_handle() {
    common::quiet_planned_panics();
    let pool = fixed(1);
    let handle = pool
        .spawn(async {
            panic!("planned: spawned work");
        })
        .unwrap();
    let out = tokio::spawn(async move {
        let _: Result<(), Rejected> = handle.await;
    })
    .await;
    assert!(out.unwrap_err().is_panic());
    let s = pool.stats();
    assert_eq!((s.running, s.completed, s.panicked), (0, 1, 1));
    assert_accounted(&s);
    let handle = pool.spawn(async { 1 }).unwrap();
    assert_eq!(handle.await, Ok(1));
}

/// `drained` waits for a nested call that outlived its parent ("keeps the
/// slot busy until it ends"), and the limit holds meanwhile: no other call
/// is admitted while it runs.
#[test]
fn a_nested_call_returned_out_of_its_parent_keeps_the_slot_and_drained_waits_for_it() {
    let pool: &'static Pool = Box::leak(Box::new(fixed(1)));
    let (tx, rx) = oneshot::channel::<()>();
    let mut parent = Task::new(pool.submit(async move {
        let mut nested = Box::pin(pool.submit(async move {
            let _ = rx.await;
            7
        }));
        assert!(futures::poll!(nested.as_mut()).is_pending());
        assert_eq!(pool.stats().nested, 1);
        // Returned out of the work, unfinished (wrapped: not awaited here).
        Some(nested)
    }));
    let mut nested = parent.assert_ready().expect("parent admitted").unwrap();
    let s = pool.stats();
    assert_eq!(s.running + s.nested, 1, "{s:?}");
    let mut other = Task::new(pool.submit(async { 1 }));
    other.assert_pending();
    pool.close();
    let mut drained = Task::new(pool.drained());
    drained.assert_pending();
    tx.send(()).unwrap();
    assert_eq!(Task::new(nested.as_mut()).assert_ready(), Ok(7));
    assert!(other.is_woken());
    drained.assert_pending();
    assert_eq!(other.assert_ready(), Ok(1));
    drained.assert_ready();
    assert_accounted(&pool.stats());
}

/// A stream over a priority group with weights: of the items the adapter
/// holds, the lighter is admitted first; `Group::try_acquire` and
/// `Group::acquire` say Paused and Closed as `submit`.
#[test]
fn a_weighted_stream_over_a_priority_group_and_group_permit_rejections() {
    use pool_runtime::{Group, GroupSpec};
    static G: Group = Group::new(
        GroupSpec::new("tests::acceptance24::weighted")
            .order(Order::Priority)
            .size(1),
    );
    let holder = G.try_acquire_owned(0).unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    let items = futures::stream::iter([(0usize, 7i64), (1, -2)]).map(move |(i, w)| {
        let o = o.clone();
        (w, async move { o.lock().unwrap().push(i) })
    });
    struct Weighted<F>(i64, F);
    impl<F: std::future::Future + Unpin> std::future::Future for Weighted<F> {
        type Output = F::Output;
        fn poll(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> Poll<F::Output> {
            std::pin::Pin::new(&mut self.get_mut().1).poll(cx)
        }
    }
    let items = items.map(|(w, f)| Weighted(w, Box::pin(f)));
    let mut stream = Task::new(
        Box::pin(items.pooled_ordered_weighted(&G, |w: &Weighted<_>| w.0)).into_future_collect(),
    );
    stream.assert_pending();
    assert_eq!(G.stats().waiting, 2);
    drop(holder);
    let out = drive(&mut stream);
    assert_eq!(out, [Ok(()), Ok(())]);
    assert_eq!(*order.lock().unwrap(), [1, 0], "the lighter item first");
    G.pause();
    assert_eq!(G.try_acquire(0).unwrap_err(), Rejected::Paused);
    assert_eq!(
        futures::executor::block_on(G.acquire_owned(0)).unwrap_err(),
        Rejected::Paused
    );
    G.resume();
    G.pool().close();
    assert_eq!(G.try_acquire_owned(0).unwrap_err(), Rejected::Closed);
    assert_eq!(
        futures::executor::block_on(G.acquire(0)).unwrap_err(),
        Rejected::Closed
    );
    let s = G.stats();
    assert_eq!(s.rejected_for(Rejected::Paused), 2);
    assert_eq!(s.rejected_for(Rejected::Closed), 2);
    assert_accounted(&s);
}

/// `GroupSettings::sync_barging`: "A sync call that is never turned away
/// (`Group::run_wait` [...]) waits outside the queue too, as a queued one of
/// its kind waits: past the waiting bound, and through an abort, which sends
/// it on to the queue instead of turning it away."
#[test]
fn a_barging_run_wait_waits_past_the_bound_and_through_an_abort() {
    use pool_runtime::{Group, GroupSpec};
    static G: Group = Group::new(
        GroupSpec::new("tests::acceptance24::barging_wait")
            .size(1)
            .max_waiting(0)
            .sync_barging(Duration::from_secs(5)),
    );
    within(WATCHDOG, || {
        let holder = G.try_acquire_owned(0).unwrap();
        // max_waiting = 0: a rejecting call that must wait is Full.
        assert_eq!(G.run(|| 0).unwrap_err(), Rejected::Full);
        let t = std::thread::spawn(|| G.run_wait(0, || 31));
        wait_until("waiting outside the queue", || G.stats().waiting == 1);
        G.pool().abort();
        std::thread::sleep(Duration::from_millis(50));
        assert!(!t.is_finished(), "an abort does not turn it away");
        assert_eq!(G.stats().waiting, 1);
        drop(holder);
        assert_eq!(t.join().unwrap(), 31);
        let s = G.stats();
        assert_eq!(s.rejected_for(Rejected::Full), 1);
        assert_eq!(s.rejected_for(Rejected::Closed), 0);
        assert_accounted(&s);
    });
}

/// The ceiling module's promises, in a process of its own with
/// `POOLED_CEILING=1`: a group's permit holds a ceiling slot; a call waiting
/// for the ceiling is "in the ceiling's `stats().waiting`, not in the
/// group's `submitted` or `waiting`"; a paused group turns its call away
/// "before it would wait for the ceiling"; `max_waiting = 0` and the
/// admission timeout bound the wait for the ceiling; a `try_acquire` that
/// meets a full ceiling is `Full`, counted by the group; and a stream over
/// one group with calls of another never runs more bodies than the ceiling.
#[test]
fn the_ceiling_gates_permits_streams_and_counts_its_waiters() {
    use pool_runtime::{ceiling, Group, GroupSpec};
    static A: Group = Group::new(GroupSpec::new("tests::acceptance24::ceil_a").size(2));
    static B: Group = Group::new(GroupSpec::new("tests::acceptance24::ceil_b").size(2));
    static C: Group = Group::new(
        GroupSpec::new("tests::acceptance24::ceil_c")
            .size(2)
            .max_waiting(0),
    );
    static D: Group = Group::new(
        GroupSpec::new("tests::acceptance24::ceil_d")
            .size(2)
            .admission_timeout(Duration::from_millis(40)),
    );
    common::in_own_process(
        "the_ceiling_gates_permits_streams_and_counts_its_waiters",
        &[("POOLED_CEILING", "1")],
        || {
            within(WATCHDOG, || {
                let permit = A.try_acquire_owned(0).expect("the ceiling is free");
                assert_eq!(ceiling::limit(), Some(1));
                assert_eq!(ceiling::stats().unwrap().running, 1);
                assert_eq!(B.try_acquire(0).unwrap_err(), Rejected::Full);
                assert_eq!(B.stats().rejected_for(Rejected::Full), 1);
                let before = B.stats().submitted();
                let mut waiting = Task::new(B.submit(0, async { 5 }));
                waiting.assert_pending();
                assert_eq!(ceiling::stats().unwrap().waiting, 1);
                let s = B.stats();
                assert_eq!((s.waiting, s.submitted()), (0, before), "{s:?}");
                assert_eq!(C.run(|| 0).unwrap_err(), Rejected::Full);
                assert_eq!(
                    futures::executor::block_on(D.submit(0, async {})).unwrap_err(),
                    Rejected::TimedOut
                );
                B.pause();
                assert_eq!(
                    futures::executor::block_on(B.submit(0, async {})).unwrap_err(),
                    Rejected::Paused
                );
                assert_eq!(ceiling::stats().unwrap().waiting, 1);
                B.resume();
                drop(permit);
                assert_eq!(drive(&mut waiting), Ok(5));
                // A stream over B and sync calls of A: one body at a time.
                let meter = Meter::default();
                let m = meter.clone();
                let other = std::thread::spawn(move || {
                    for _ in 0..30 {
                        A.run(|| {
                            let _in = m.enter();
                            std::thread::sleep(Duration::from_micros(300));
                        })
                        .unwrap();
                    }
                });
                let m = meter.clone();
                let items = futures::stream::iter(0..30usize).map(move |i| {
                    let m = m.clone();
                    async move {
                        let _in = m.enter();
                        std::thread::sleep(Duration::from_micros(300));
                        i
                    }
                });
                let out: Vec<_> = futures::executor::block_on(items.pooled_unordered(&B).collect());
                other.join().unwrap();
                assert_eq!(out.len(), 30);
                assert!(out.iter().all(Result::is_ok));
                assert_eq!(meter.max(), 1);
                for g in [&A, &B, &C, &D] {
                    assert_accounted(&g.stats());
                }
                let cs = ceiling::stats().unwrap();
                assert_eq!((cs.running, cs.waiting), (0, 0));
                assert_accounted(&cs);
            });
        },
    );
}

/// Records, when dropped, whether another group's slot (and so a ceiling
/// slot) could be taken at that moment.
struct TriesGroupOnDrop {
    group: &'static pool_runtime::Group,
    free: Arc<Mutex<Vec<bool>>>,
}

impl Drop for TriesGroupOnDrop {
    fn drop(&mut self) {
        let free = self.group.try_acquire(0).is_ok();
        self.free.lock().unwrap().push(free);
    }
}

/// README: "A call dropped or turned away gives its slots (its group's, the
/// ceiling's, a fleet lease) back before its work, closure or arguments are
/// dropped, so their `Drop` may call a group." Under a ceiling of 2, with one
/// ceiling slot held elsewhere: a group call that took the other ceiling slot
/// and then timed out waiting for its group's slot must have given the
/// ceiling slot back when its work (async), closure (blocking) or closure
/// (sync) is dropped.
#[test]
fn a_timed_out_group_call_gives_its_ceiling_slot_back_before_dropping_its_work() {
    use pool_runtime::{Group, GroupSpec};
    static G: Group = Group::new(
        GroupSpec::new("tests::acceptance24::drop_order_g")
            .size(1)
            .admission_timeout(Duration::from_millis(40)),
    );
    static H: Group = Group::new(GroupSpec::new("tests::acceptance24::drop_order_h").size(4));
    common::in_own_process(
        "a_timed_out_group_call_gives_its_ceiling_slot_back_before_dropping_its_work",
        &[("POOLED_CEILING", "2")],
        || {
            within(WATCHDOG, || {
                let rt = common::runtime();
                // Holds G's slot and one of the two ceiling slots.
                let holder = G.try_acquire_owned(0).unwrap();
                let free = Arc::new(Mutex::new(Vec::new()));
                let guard = || TriesGroupOnDrop {
                    group: &H,
                    free: free.clone(),
                };
                let g = guard();
                let out = rt.block_on(G.submit(0, async move {
                    let _keep = &g;
                }));
                assert_eq!(out.unwrap_err(), Rejected::TimedOut);
                let g = guard();
                let out = rt.block_on(G.submit_blocking(0, move || {
                    let _keep = &g;
                }));
                assert_eq!(out.unwrap_err(), Rejected::TimedOut);
                let g = guard();
                let out = G.run(move || {
                    let _keep = &g;
                });
                assert_eq!(out.unwrap_err(), Rejected::TimedOut);
                assert_eq!(
                    *free.lock().unwrap(),
                    [true, true, true],
                    "async work, blocking closure, sync closure"
                );
                drop(holder);
            });
        },
    );
}

/// Stream module docs: "an autoscaled pool sees the stream's backlog (the
/// queue-depth rule grows the pool toward `running + waiting`, at most
/// doubling it, so a stream that never queued would never make it grow)" and
/// "after a scale-up it pulls more at its next poll". A long stream on an
/// autoscaled pool (manual clock) grows it, and the stream's bodies counted
/// from outside never exceed the size in force.
#[test]
fn a_long_stream_grows_an_autoscaled_pool_and_follows_it() {
    use pool_runtime::ManualClock;
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(8)
        .autoscale_interval(Duration::from_secs(1))
        .autoscale_window(4)
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(pool.size(), 1);
    let meter = Meter::default();
    let max_size = Arc::new(AtomicUsize::new(1));
    let m = meter.clone();
    let p = pool.clone();
    let ms = max_size.clone();
    let items = futures::stream::iter(0..400usize).map(move |i| {
        let m = m.clone();
        let p = p.clone();
        let ms = ms.clone();
        async move {
            let _in = m.enter();
            ms.fetch_max(p.size(), Ordering::SeqCst);
            // Holds its slot over one poll of the adapter.
            common::yield_now().await;
            i
        }
    });
    let mut stream = Box::pin(items.pooled_unordered(&pool));
    let mut seen = 0;
    let mut grown = 0;
    for _ in 0..4000 {
        clock.advance(Duration::from_millis(100));
        let mut next = Task::new(stream.next());
        match next.poll() {
            Poll::Ready(Some(out)) => {
                assert!(out.is_ok());
                seen += 1;
            }
            Poll::Ready(None) => break,
            Poll::Pending => {}
        }
        grown = grown.max(pool.size());
    }
    assert_eq!(seen, 400);
    assert!(grown > 1, "the stream's backlog never grew the pool");
    assert!(meter.max() <= 8);
    assert!(meter.max() <= max_size.load(Ordering::SeqCst));
    assert_accounted(&pool.stats());
}

/// `scale`: "Growing admits waiting calls at once" (paused or not: a pause
/// spares queued calls), exactly as many as the new slots, in order; a
/// permit admitted by the hand-off but dropped before it was polled passes
/// the slot on to the next waiter.
#[test]
fn growing_admits_exactly_as_many_waiters_and_an_unpolled_admitted_permit_passes_on() {
    let pool = fixed(1);
    let holder = pool.try_acquire().unwrap();
    let mut a = Task::new(pool.acquire());
    a.assert_pending();
    let mut b = Task::new(pool.acquire_owned(0));
    b.assert_pending();
    let mut c = Task::new(pool.acquire());
    c.assert_pending();
    let mut d = Task::new(pool.acquire());
    d.assert_pending();
    pool.pause();
    assert_eq!(pool.scale(2), 3);
    assert!(a.is_woken() && b.is_woken());
    assert!(!c.is_woken() && !d.is_woken());
    assert_eq!(pool.stats().running, 3);
    assert_eq!(pool.stats().waiting, 2);
    // `a` was handed a slot; dropped before it is polled, the slot goes to c.
    drop(a);
    assert!(c.is_woken());
    assert!(!d.is_woken());
    let pc = c.assert_ready().unwrap();
    let pb = b.assert_ready().unwrap();
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.cancelled), (3, 1, 1));
    drop((holder, pb, pc));
    let pd = d.assert_ready().unwrap();
    drop(pd);
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.completed), (0, 0, 4));
    assert_accounted(&s);
}

/// `submit_blocking_weighted` on a priority pool: blocking calls queue by
/// weight with the others; run on the executor, within the limit (counted
/// from outside).
#[test]
fn weighted_blocking_calls_follow_the_priority_order() {
    let pool = priority(1);
    within(WATCHDOG, move || {
        let order = Arc::new(Mutex::new(Vec::new()));
        let holder = pool.try_acquire_owned(0).unwrap();
        let meter = Meter::default();
        let mut calls = Vec::new();
        for (i, w) in [(0usize, 5i64), (1, -5), (2, 0), (3, -5)] {
            let o = order.clone();
            let m = meter.clone();
            let mut t = Task::new(pool.submit_blocking_weighted(w, move || {
                let _in = m.enter();
                o.lock().unwrap().push(i);
            }));
            t.assert_pending();
            calls.push(t);
        }
        assert_eq!(pool.stats().waiting, 4);
        drop(holder);
        // Poll them all in turn (an admitted call hands its job to the
        // executor when it is polled).
        let mut calls: Vec<_> = calls.into_iter().map(Some).collect();
        let start = Instant::now();
        while calls.iter().any(Option::is_some) {
            for slot in calls.iter_mut() {
                if let Some(t) = slot {
                    if let Poll::Ready(out) = t.poll() {
                        out.unwrap();
                        *slot = None;
                    }
                }
            }
            assert!(start.elapsed() < WATCHDOG);
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(*order.lock().unwrap(), [1, 3, 2, 0]);
        assert_eq!(meter.max(), 1);
        assert_accounted(&pool.stats());
    });
}

/// Whether this process has a thread named `name` (Linux: `/proc`).
fn has_thread_named(name: &str) -> bool {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(Result::ok)
        .any(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
}

/// README: "Sync callers time out on their own thread (their park's
/// timeout: the timer thread is not started for them)"; an async call that
/// waits with a timeout starts it ("one lazily started timer thread").
#[test]
fn sync_timeouts_start_no_timer_thread_and_async_ones_do() {
    common::in_own_process(
        "sync_timeouts_start_no_timer_thread_and_async_ones_do",
        &[],
        || {
            within(WATCHDOG, || {
                let pool = Pool::builder()
                    .size(1)
                    .admission_timeout(Duration::from_millis(30))
                    .build()
                    .unwrap();
                let holder = pool.try_acquire_owned(0).unwrap();
                for _ in 0..3 {
                    assert_eq!(pool.run(|| ()).unwrap_err(), Rejected::TimedOut);
                }
                let p = pool.clone();
                let t = std::thread::spawn(move || p.run_weighted(3, || ()));
                assert_eq!(t.join().unwrap().unwrap_err(), Rejected::TimedOut);
                assert!(
                    !has_thread_named("pooled-timer"),
                    "sync timeouts started it"
                );
                assert_eq!(
                    futures::executor::block_on(pool.submit(async {})).unwrap_err(),
                    Rejected::TimedOut
                );
                assert!(has_thread_named("pooled-timer"));
                drop(holder);
            });
        },
    );
}

/// README, sync barging: "queued calls keep their order and are never
/// overtaken" — a freed slot goes to the queued async call, not to a sync
/// caller waiting outside the queue; the limit holds (counted from outside).
#[test]
fn a_barging_sync_caller_never_overtakes_a_queued_call() {
    let pool = Pool::builder()
        .size(1)
        .sync_barging(Duration::from_secs(5))
        .build()
        .unwrap();
    within(WATCHDOG, move || {
        let order = Arc::new(Mutex::new(Vec::new()));
        let meter = Meter::default();
        let holder = pool.try_acquire_owned(0).unwrap();
        let (o, m) = (order.clone(), meter.clone());
        let mut queued = Task::new(pool.submit(async move {
            let _in = m.enter();
            o.lock().unwrap().push("queued");
        }));
        queued.assert_pending();
        let (p, o, m) = (pool.clone(), order.clone(), meter.clone());
        let sync = std::thread::spawn(move || {
            p.run(|| {
                let _in = m.enter();
                o.lock().unwrap().push("sync");
            })
        });
        wait_until("both waiting", || pool.stats().waiting == 2);
        drop(holder);
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            order.lock().unwrap().is_empty(),
            "the slot is the queued call's"
        );
        assert_eq!(drive(&mut queued), Ok(()));
        assert_eq!(sync.join().unwrap(), Ok(()));
        assert_eq!(*order.lock().unwrap(), ["queued", "sync"]);
        assert_eq!(meter.max(), 1);
        assert_accounted(&pool.stats());
    });
}

struct Noop;
impl std::task::Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// Polls `fut` once with a waker backed by `arc`.
fn poll_with<F: std::future::Future>(
    fut: std::pin::Pin<&mut F>,
    arc: &Arc<Noop>,
) -> Poll<F::Output> {
    let waker = std::task::Waker::from(arc.clone());
    fut.poll(&mut std::task::Context::from_waker(&waker))
}

/// README: "an abandoned `drained()` wait keeps no waker"; a waiting call,
/// a waiting permit and a stream adapter dropped while they wait keep none
/// either ("Dropping a waiting call removes it from the queue at once").
#[test]
fn abandoned_waits_keep_no_waker() {
    let pool = fixed(1);
    let holder = pool.try_acquire().unwrap();
    let arc = Arc::new(Noop);

    let mut drained = Box::pin(pool.drained());
    assert!(poll_with(drained.as_mut(), &arc).is_pending());
    assert!(Arc::strong_count(&arc) > 1, "registered while it waits");
    drop(drained);
    assert_eq!(Arc::strong_count(&arc), 1, "drained()");

    let mut call = Box::pin(pool.submit(async {}));
    assert!(poll_with(call.as_mut(), &arc).is_pending());
    drop(call);
    assert_eq!(Arc::strong_count(&arc), 1, "submit");

    let mut permit = Box::pin(pool.acquire_owned(0));
    assert!(poll_with(permit.as_mut(), &arc).is_pending());
    drop(permit);
    assert_eq!(Arc::strong_count(&arc), 1, "acquire_owned");

    let mut stream = Box::pin(
        futures::stream::iter(0..10)
            .map(|i| async move { i })
            .pooled_ordered(&pool),
    );
    assert!(poll_with(std::pin::pin!(stream.next()), &arc).is_pending());
    drop(stream);
    assert_eq!(Arc::strong_count(&arc), 1, "stream");

    let s = pool.stats();
    assert_eq!((s.waiting, s.cancelled), (0, 4));
    drop(holder);
    assert_accounted(&pool.stats());
}

/// Reentrancy rule: nested calls "wait, in the queue, for a free slot or for
/// that slot to come back [...] (a paused or closed pool or a full waiting
/// bound does not turn them away: they belong to admitted work)". Every
/// nested form in a pool of 1 that is paused, closed and has `max_waiting =
/// 0`: all run, one at a time (counted from outside), and are counted in
/// `completed`.
#[test]
fn nested_calls_are_not_turned_away_by_pause_close_or_the_waiting_bound() {
    let pool = Pool::builder().size(1).max_waiting(0).build().unwrap();
    within(WATCHDOG, move || {
        let meter = Meter::default();
        let p = pool.clone();
        let m = meter.clone();
        let out = futures::executor::block_on(pool.submit(async move {
            p.pause();
            p.close();
            let body = |n: usize| {
                let m = m.clone();
                async move {
                    let _in = m.enter();
                    common::yield_now().await;
                    n
                }
            };
            let (a, b, c) =
                futures::join!(p.submit(body(1)), p.submit_weighted(4, body(2)), async {
                    let permit = p.acquire_owned(0).await;
                    let _in = m.enter();
                    common::yield_now().await;
                    permit.map(|_| 3)
                });
            let d = p.run(|| 4);
            (a, b, c, d)
        }));
        assert_eq!(out, Ok((Ok(1), Ok(2), Ok(3), Ok(4))));
        assert_eq!(meter.max(), 1, "one nested call at a time");
        let s = pool.stats();
        assert_eq!(s.rejected_total(), 0);
        assert_eq!(s.completed, 5);
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0));
        assert_accounted(&s);
    });
}

/// `spawn`: "Rejections that are known at once (paused, closed, full) are
/// returned here"; `spawn_weighted` takes its place by weight at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_returns_immediate_rejections_and_weighted_spawns_queue_by_weight() {
    let pool = Pool::builder()
        .order(Order::Priority)
        .size(1)
        .max_waiting(2)
        .build()
        .unwrap();
    let holder = pool.acquire_owned(0).await.unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    let heavy = pool
        .spawn_weighted(9, async move { o.lock().unwrap().push(9) })
        .unwrap();
    let o = order.clone();
    let light = pool
        .spawn_weighted(-9, async move { o.lock().unwrap().push(-9) })
        .unwrap();
    assert_eq!(pool.stats().waiting, 2);
    assert_eq!(pool.spawn(async {}).err(), Some(Rejected::Full));
    pool.pause();
    assert_eq!(pool.spawn(async {}).err(), Some(Rejected::Paused));
    pool.resume();
    drop(holder);
    tokio::time::timeout(WATCHDOG, heavy)
        .await
        .expect("hung")
        .unwrap();
    tokio::time::timeout(WATCHDOG, light)
        .await
        .expect("hung")
        .unwrap();
    assert_eq!(*order.lock().unwrap(), [-9, 9]);
    pool.close();
    assert_eq!(pool.spawn(async {}).err(), Some(Rejected::Closed));
    let s = pool.stats();
    assert_eq!(s.rejected_for(Rejected::Full), 1);
    assert_eq!(s.rejected_for(Rejected::Paused), 1);
    assert_eq!(s.rejected_for(Rejected::Closed), 1);
    assert_accounted(&s);
}

/// `shutdown`: "Closing does not resume a paused pool: a never-rejecting
/// call that arrived while it was paused waits for `resume` [...] (without a
/// `timeout`, this waits until then)".
#[test]
fn shutdown_without_a_timeout_waits_for_resume_when_a_never_rejecting_call_waits() {
    use pool_runtime::{Group, GroupSpec};
    static G: Group = Group::new(GroupSpec::new("tests::acceptance24::shutdown_paused").size(2));
    G.pause();
    let mut call = Task::new(G.submit_wait(0, async { 6 }));
    call.assert_pending();
    let mut shutdown = Task::new(G.pool().shutdown(None));
    shutdown.assert_pending();
    assert!(G.pool().is_closed());
    shutdown.assert_pending();
    G.resume();
    assert!(call.is_woken());
    assert_eq!(call.assert_ready(), 6);
    assert!(shutdown.is_woken());
    assert_eq!(shutdown.assert_ready(), Ok(()));
}

/// `Pool::run`: "On a multi-thread tokio runtime's worker, a call that must
/// wait first hands the worker's other tasks to another thread
/// (`block_in_place`), so it neither stalls them nor deadlocks on a slot one
/// of them holds" — on a runtime of ONE worker, the holder is a task of that
/// very worker.
#[test]
fn a_sync_call_on_the_only_worker_does_not_deadlock_on_a_slot_its_tasks_hold() {
    let pool = fixed(1);
    within(WATCHDOG, move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let out = rt.block_on(async {
            let (held_tx, held_rx) = tokio::sync::oneshot::channel();
            let p = pool.clone();
            let holder = tokio::spawn(async move {
                let permit = p.acquire_owned(0).await.unwrap();
                held_tx.send(()).unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
                drop(permit);
            });
            held_rx.await.unwrap();
            let p = pool.clone();
            let sync = tokio::spawn(async move { p.run(|| 42) });
            let out = sync.await.unwrap();
            holder.await.unwrap();
            out
        });
        assert_eq!(out, Ok(42));
        assert_accounted(&pool.stats());
    });
}

/// `sync_barging`: a caller outside the queue is "counted in
/// `Stats::waiting`, the autoscaler's demand and `max_waiting`", and "it is
/// not turned away `Full` as it moves into the queue".
#[test]
fn a_barging_caller_counts_against_the_waiting_bound_and_keeps_its_place() {
    let pool = Pool::builder()
        .size(1)
        .max_waiting(1)
        .sync_barging(Duration::from_millis(150))
        .build()
        .unwrap();
    within(WATCHDOG, move || {
        let holder = pool.try_acquire_owned(0).unwrap();
        let p = pool.clone();
        let t = std::thread::spawn(move || p.run(|| 3));
        wait_until("waiting outside the queue", || pool.stats().waiting == 1);
        assert_eq!(
            futures::executor::block_on(pool.submit(async {})).unwrap_err(),
            Rejected::Full,
            "the barging caller fills the bound"
        );
        // Past its bound it moves into the queue, still within the bound.
        std::thread::sleep(Duration::from_millis(400));
        assert!(!t.is_finished());
        assert_eq!(pool.stats().waiting, 1);
        drop(holder);
        assert_eq!(t.join().unwrap(), Ok(3));
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::Full), 1);
        assert_accounted(&s);
    });
}

/// `Group::isolate`: "a fresh pool with the group's effective settings"
/// (the executor among them): an isolated rayon group still runs its
/// blocking calls on rayon, within the instance's own limit (counted from
/// outside), and a stream over the group goes through the instance; the
/// shared pool sees none of it.
#[test]
fn an_isolated_rayon_group_keeps_its_executor_and_serves_streams() {
    use pool_runtime::{ExecutorKind, Group, GroupSpec};
    static G: Group = Group::new(
        GroupSpec::new("tests::acceptance24::isolated_rayon")
            .size(2)
            .executor(ExecutorKind::Rayon),
    );
    let shared_before = G.stats();
    let mine = G.isolate();
    let meter = Meter::default();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let m = meter.clone();
            G.submit_blocking(0, move || {
                let _in = m.enter();
                std::thread::sleep(Duration::from_millis(2));
                rayon::current_thread_index().is_some()
            })
        })
        .collect();
    let on_rayon = futures::executor::block_on(futures::future::join_all(calls));
    assert!(on_rayon.iter().all(|r| *r == Ok(true)), "{on_rayon:?}");
    assert!(meter.max() <= 2);
    let items = futures::stream::iter(0..10usize).map(|i| async move { i });
    let out: Vec<_> = futures::executor::block_on(items.pooled_ordered(&G).collect());
    assert_eq!(out, (0..10).map(Ok).collect::<Vec<_>>());
    assert_eq!(G.stats().completed, 18);
    drop(mine);
    let shared = G.stats();
    assert_eq!(shared.completed, shared_before.completed);
    assert_eq!(shared.submitted(), shared_before.submitted());
}

/// `Stats` against an outside count for the other call forms: a blocking
/// call, a permit, a sync call and a spawned call, each rejected (paused),
/// timed out, cancelled while waiting (where it can be) and panicking.
#[test]
fn stats_count_each_outcome_of_every_call_form() {
    common::quiet_planned_panics();
    let pool = Pool::builder()
        .size(1)
        .admission_timeout(Duration::from_millis(30))
        .build()
        .unwrap();
    within(WATCHDOG, move || {
        let rt = common::runtime();
        // Paused: one of each form.
        pool.pause();
        assert_eq!(pool.run(|| ()).unwrap_err(), Rejected::Paused);
        assert_eq!(
            rt.block_on(pool.submit_blocking(|| ())).unwrap_err(),
            Rejected::Paused
        );
        assert_eq!(rt.block_on(pool.acquire()).unwrap_err(), Rejected::Paused);
        assert_eq!(
            rt.block_on(async { pool.spawn(async {}).err() }),
            Some(Rejected::Paused)
        );
        pool.resume();
        // Timed out behind a holder: one of each form.
        let holder = pool.try_acquire_owned(0).unwrap();
        assert_eq!(pool.run(|| ()).unwrap_err(), Rejected::TimedOut);
        assert_eq!(
            rt.block_on(pool.submit_blocking(|| ())).unwrap_err(),
            Rejected::TimedOut
        );
        assert_eq!(rt.block_on(pool.acquire()).unwrap_err(), Rejected::TimedOut);
        let spawned = {
            let _in_rt = rt.enter();
            pool.spawn(async {}).unwrap()
        };
        assert_eq!(rt.block_on(spawned), Err(Rejected::TimedOut));
        // Cancelled while waiting: blocking, permit, spawn (abort); no
        // timeout from here on, so that none of them can time out first.
        pool.set_admission_timeout(None);
        let mut blocking = Task::new(pool.submit_blocking(|| ()));
        assert!(blocking.poll().is_pending());
        drop(blocking);
        let mut permit = Task::new(pool.acquire_owned(0));
        permit.assert_pending();
        drop(permit);
        let spawned = {
            let _in_rt = rt.enter();
            pool.spawn(async {}).unwrap()
        };
        spawned.abort();
        assert_eq!(rt.block_on(spawned), Err(Rejected::Closed));
        let s = pool.stats();
        assert_eq!(s.cancelled, 3, "{s:?}");
        drop(holder);
        // Panics: sync, blocking, spawned, and a permit dropped while its
        // thread unwinds.
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(|| panic!("planned: run"))
        }));
        assert!(out.is_err());
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(pool.submit_blocking(|| panic!("planned: blocking")))
        }));
        assert!(out.is_err());
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(async {
                let h = pool.spawn(async { panic!("planned: spawned") }).unwrap();
                let _: Result<(), Rejected> = h.await;
            })
        }));
        assert!(out.is_err());
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _permit = pool.try_acquire().unwrap();
            panic!("planned: permit holder");
        }));
        assert!(out.is_err());
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::Paused), 4);
        assert_eq!(s.rejected_for(Rejected::TimedOut), 4);
        assert_eq!(s.rejected_total(), 8);
        assert_eq!(s.cancelled, 3);
        assert_eq!(s.panicked, 4);
        assert_eq!(s.completed, 5, "the holder and the four panicked calls");
        assert_eq!(s.submitted(), 4 + 4 + 3 + 1 + 4);
        assert_eq!(s.in_flight(), 0);
        assert_accounted(&s);
    });
}

/// `ShutdownTimedOut::nested`: "Calls running under another call's slot at
/// the deadline", and its message counts them among the running.
#[test]
fn shutdown_past_its_deadline_counts_nested_calls() {
    let pool = fixed(1);
    within(WATCHDOG, move || {
        let (tx, rx) = oneshot::channel::<()>();
        let p = pool.clone();
        let mut parent = Task::new(pool.submit(async move { p.submit(rx).await }));
        parent.assert_pending();
        let s = pool.stats();
        assert_eq!((s.running, s.nested), (1, 1));
        let err = futures::executor::block_on(pool.shutdown(Some(Duration::from_millis(20))))
            .unwrap_err();
        assert_eq!((err.running, err.nested, err.turned_away), (1, 1, 0));
        assert!(
            err.to_string()
                .contains("2 call(s) still running (1 nested)"),
            "{err}"
        );
        tx.send(()).unwrap();
        assert!(matches!(parent.assert_ready(), Ok(Ok(Ok(())))));
        futures::executor::block_on(pool.drained());
        let s = pool.stats();
        assert_eq!(s.completed, 2);
        assert_accounted(&s);
    });
}

/// Reentrancy on a priority pool: a nested call waiting for its parent's
/// lent slot also waits "in the queue, for a free slot [...] whichever comes
/// first" — so a freed slot goes by the pool's order: to a lighter top-level
/// waiter before the heavier nested one, which then runs when its parent's
/// slot comes back.
#[test]
fn a_waiting_nested_call_takes_its_turn_in_the_priority_order() {
    let pool = priority(2);
    let order = Arc::new(Mutex::new(Vec::new()));
    let (tx1, rx1) = oneshot::channel::<()>();
    let (tx_x, rx_x) = oneshot::channel::<()>();
    // X takes one slot first, so the parent's second nested call finds no
    // free one.
    let mut x = Task::new(pool.submit(rx_x));
    x.assert_pending();
    let p = pool.clone();
    let o = order.clone();
    let mut parent = Task::new(pool.submit(async move {
        let o2 = o.clone();
        let (a, b) = futures::join!(
            p.submit_weighted(0, rx1),
            p.submit_weighted(100, async move { o2.lock().unwrap().push("nested") })
        );
        (a.is_ok(), b.is_ok())
    }));
    parent.assert_pending();
    let o = order.clone();
    let mut top = Task::new(pool.submit_weighted(0, async move { o.lock().unwrap().push("top") }));
    top.assert_pending();
    let s = pool.stats();
    assert_eq!((s.running, s.nested, s.waiting), (2, 1, 2), "{s:?}");
    tx_x.send(()).unwrap();
    assert!(x.assert_ready().unwrap().is_ok());
    assert!(top.is_woken(), "the freed slot goes to the lighter waiter");
    top.assert_ready().unwrap();
    tx1.send(()).unwrap();
    assert_eq!(parent.assert_ready(), Ok((true, true)));
    assert_eq!(*order.lock().unwrap(), ["top", "nested"]);
    let s = pool.stats();
    assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0));
    assert_accounted(&s);
}

/// The other half: the parent's lent slot coming back goes to its waiting
/// nested call (it is still the parent's), not to a lighter top-level
/// waiter, which waits for a slot of its own.
#[test]
fn a_lent_slot_that_comes_back_goes_to_the_parents_next_nested_call() {
    let pool = priority(2);
    let order = Arc::new(Mutex::new(Vec::new()));
    let (tx1, rx1) = oneshot::channel::<()>();
    let (tx_x, rx_x) = oneshot::channel::<()>();
    let (tx2, rx2) = oneshot::channel::<()>();
    let mut x = Task::new(pool.submit(rx_x));
    x.assert_pending();
    let p = pool.clone();
    let o = order.clone();
    let mut parent = Task::new(pool.submit(async move {
        let o2 = o.clone();
        let (a, b) = futures::join!(p.submit_weighted(0, rx1), async {
            let r = p
                .submit_weighted(100, async move {
                    o2.lock().unwrap().push("nested");
                    let _ = rx2.await;
                })
                .await;
            r
        });
        (a.is_ok(), b.is_ok())
    }));
    parent.assert_pending();
    let o = order.clone();
    let mut top = Task::new(pool.submit_weighted(0, async move { o.lock().unwrap().push("top") }));
    top.assert_pending();
    tx1.send(()).unwrap();
    parent.assert_pending();
    assert_eq!(
        *order.lock().unwrap(),
        ["nested"],
        "the lent slot came back to the parent"
    );
    assert!(!top.is_woken());
    top.assert_pending();
    let s = pool.stats();
    assert_eq!((s.running, s.nested, s.waiting), (2, 1, 1), "{s:?}");
    tx2.send(()).unwrap();
    assert_eq!(parent.assert_ready(), Ok((true, true)));
    assert!(
        top.is_woken(),
        "the parent's end frees its slot for the top-level call"
    );
    top.assert_ready().unwrap();
    tx_x.send(()).unwrap();
    assert!(x.assert_ready().unwrap().is_ok());
    assert_eq!(*order.lock().unwrap(), ["nested", "top"]);
    assert_accounted(&pool.stats());
}

/// `set_bounds`: "the size is clamped into them" — raising `min` above the
/// size grows the pool, which admits waiting calls at once; lowering `max`
/// below it shrinks it without interrupting running calls.
#[test]
fn set_bounds_that_move_the_size_admit_or_hold_waiters() {
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(2)
        .build()
        .unwrap();
    assert_eq!(pool.size(), 1);
    let a = pool.try_acquire_owned(0).unwrap();
    let mut w1 = Task::new(pool.acquire_owned(0));
    w1.assert_pending();
    let mut w2 = Task::new(pool.acquire_owned(0));
    w2.assert_pending();
    assert_eq!(pool.set_bounds(3, 5).unwrap(), 3);
    assert!(w1.is_woken() && w2.is_woken());
    let b = w1.assert_ready().unwrap();
    let c = w2.assert_ready().unwrap();
    assert_eq!(pool.stats().running, 3);
    assert_eq!(pool.set_bounds(1, 1).unwrap(), 1);
    assert_eq!(pool.stats().running, 3, "running calls are not interrupted");
    let mut w3 = Task::new(pool.acquire_owned(0));
    w3.assert_pending();
    drop(a);
    drop(b);
    assert!(!w3.is_woken());
    drop(c);
    assert!(w3.is_woken());
    drop(w3.assert_ready().unwrap());
    assert_accounted(&pool.stats());
}

/// `size_hint` counts exactly the outcomes still to come (a panicked item's
/// is not one of them), and `is_terminated` says when none is left; checked
/// after every outcome against an outside count, for both adapters.
#[test]
fn size_hints_count_the_outcomes_still_to_come() {
    use futures::stream::FusedStream;
    use futures::Stream;
    common::quiet_planned_panics();
    let pool = fixed(2);
    let make = || {
        futures::stream::iter(0..7usize).map(|i| async move {
            if i == 3 {
                panic!("planned: size hint");
            }
            i
        })
    };
    let mut ordered = Box::pin(make().pooled_ordered(&pool));
    let mut unordered = Box::pin(make().pooled_unordered(&pool));
    assert_eq!(ordered.size_hint(), (7, Some(7)));
    assert_eq!(unordered.size_hint(), (7, Some(7)));
    for which in 0..2 {
        let mut left = 7usize;
        loop {
            let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if which == 0 {
                    futures::executor::block_on(ordered.next())
                } else {
                    futures::executor::block_on(unordered.next())
                }
            }));
            match next {
                Ok(Some(_)) | Err(_) => left -= 1,
                Ok(None) => break,
            }
            let (hint, terminated) = if which == 0 {
                (ordered.size_hint(), ordered.is_terminated())
            } else {
                (unordered.size_hint(), unordered.is_terminated())
            };
            assert_eq!(hint, (left, Some(left)), "adapter {which}, {left} left");
            assert_eq!(terminated, left == 0, "adapter {which}, {left} left");
        }
        assert_eq!(left, 0);
    }
    let s = pool.stats();
    assert_eq!((s.completed, s.panicked), (14, 2));
}

/// `scale`: "Growing admits waiting calls at once" — a sync caller waiting
/// outside the queue (sync barging, which "count[s] as waiting") included:
/// it must not sit out its barging bound while a slot is free.
#[test]
fn growing_the_pool_admits_a_barging_sync_caller_at_once() {
    let pool = Pool::builder()
        .size(1)
        .sync_barging(Duration::from_secs(8))
        .build()
        .unwrap();
    within(WATCHDOG, move || {
        let holder = pool.try_acquire_owned(0).unwrap();
        let p = pool.clone();
        let t = std::thread::spawn(move || {
            let start = Instant::now();
            let out = p.run(|| 1);
            (out, start.elapsed())
        });
        wait_until("waiting outside the queue", || pool.stats().waiting == 1);
        let grown = Instant::now();
        assert_eq!(pool.scale(1), 2);
        let (out, _) = t.join().unwrap();
        assert_eq!(out, Ok(1));
        assert!(
            grown.elapsed() < Duration::from_secs(4),
            "admitted only after {:?}",
            grown.elapsed()
        );
        drop(holder);
        assert_accounted(&pool.stats());
    });
}

/// The same for `resize` and for `set_bounds` on an autoscaled pool, and for
/// `resume` of a never-rejecting barging caller.
#[test]
fn other_growth_and_resume_admit_a_barging_sync_caller_at_once() {
    use pool_runtime::{Group, GroupSpec};
    static G: Group = Group::new(
        GroupSpec::new("tests::acceptance24::barging_resume")
            .size(1)
            .sync_barging(Duration::from_secs(8)),
    );
    within(WATCHDOG, || {
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .min(1)
            .max(1)
            .sync_barging(Duration::from_secs(8))
            .build()
            .unwrap();
        let holder = pool.try_acquire_owned(0).unwrap();
        let p = pool.clone();
        let t = std::thread::spawn(move || p.run(|| 2));
        wait_until("waiting outside the queue", || pool.stats().waiting == 1);
        let grown = Instant::now();
        assert_eq!(pool.set_bounds(2, 2).unwrap(), 2);
        assert_eq!(t.join().unwrap(), Ok(2));
        assert!(
            grown.elapsed() < Duration::from_secs(4),
            "set_bounds: {:?}",
            grown.elapsed()
        );
        drop(holder);

        G.pause();
        let t = std::thread::spawn(|| G.run_wait(0, || 3));
        wait_until("waiting", || G.stats().waiting == 1);
        let resumed = Instant::now();
        G.resume();
        assert_eq!(t.join().unwrap(), 3);
        assert!(
            resumed.elapsed() < Duration::from_secs(4),
            "resume: {:?}",
            resumed.elapsed()
        );
    });
}

/// README, reentrancy: "waiting for a slot lent to a blocking job, which runs
/// on another thread, is fine": a nested sync call parks until the nested
/// blocking job gives the parent's slot back, then runs; one body at a time.
#[test]
fn a_nested_sync_call_waits_for_a_slot_lent_to_a_nested_blocking_job() {
    let pool = fixed(1);
    within(WATCHDOG, move || {
        let meter = Meter::default();
        let p = pool.clone();
        let m = meter.clone();
        let out = futures::executor::block_on(pool.submit(async move {
            let m2 = m.clone();
            let (job, sync) = futures::join!(
                p.submit_blocking(move || {
                    let _in = m2.enter();
                    std::thread::sleep(Duration::from_millis(60));
                    "job"
                }),
                async {
                    p.run(|| {
                        let _in = m.enter();
                        "sync"
                    })
                }
            );
            (job, sync)
        }));
        assert_eq!(out, Ok((Ok("job"), Ok("sync"))));
        assert_eq!(meter.max(), 1);
        let s = pool.stats();
        assert_eq!(s.completed, 3);
        assert_accounted(&s);
    });
}

/// The ordered adapter's panic rule without any `limit`: on a pool of 2
/// (`2 x size` = 4 items held), a slow first item and the three after it
/// all panic; the adapter must go on with items 4.. ("goes on with the other
/// items and ends").
#[test]
fn an_ordered_stream_without_a_limit_goes_on_after_every_held_item_panicked() {
    common::quiet_planned_panics();
    let got = within(Duration::from_secs(10), || {
        let pool = fixed(2);
        let (tx, rx) = oneshot::channel::<()>();
        let mut gate = Some(rx);
        let items = futures::stream::iter(0..7usize).map(move |i| {
            let gate = if i == 0 { gate.take() } else { None };
            async move {
                if let Some(gate) = gate {
                    let _ = gate.await;
                    panic!("planned: the slow first item");
                }
                if i < 4 {
                    panic!("planned: an item held behind the first");
                }
                i
            }
        });
        let mut stream = Box::pin(items.pooled_ordered(&pool));
        let mut tx = Some(tx);
        let mut panics = 0;
        consume_catching(stream.as_mut(), || {
            panics += 1;
            // Once the three behind it panicked, the first one does too.
            if panics == 3 {
                if let Some(tx) = tx.take() {
                    tx.send(()).unwrap();
                }
            }
        })
    });
    let (got, panics) = got.unwrap();
    assert_eq!(panics, 4);
    assert_eq!(got, [Ok(4), Ok(5), Ok(6)]);
}

/// `submit_judged`: "a cancelled call is not judged"; a call turned away has
/// no output to judge; a finished one is judged once.
#[test]
fn a_cancelled_or_rejected_judged_call_is_not_judged() {
    let pool = fixed(1);
    let judged = Arc::new(AtomicUsize::new(0));
    let judge = |j: &Arc<AtomicUsize>| {
        let j = j.clone();
        move |_: &u8| {
            j.fetch_add(1, Ordering::SeqCst);
            pool_runtime::Verdict::Success
        }
    };
    let mut running = Task::new(pool.submit_judged(
        0,
        async {
            std::future::pending::<()>().await;
            1u8
        },
        judge(&judged),
    ));
    running.assert_pending();
    let mut waiting = Task::new(pool.submit_judged(0, async { 2u8 }, judge(&judged)));
    waiting.assert_pending();
    drop(waiting);
    drop(running);
    pool.pause();
    assert_eq!(
        futures::executor::block_on(pool.submit_judged(0, async { 3u8 }, judge(&judged)))
            .unwrap_err(),
        Rejected::Paused
    );
    pool.resume();
    assert_eq!(judged.load(Ordering::SeqCst), 0);
    assert_eq!(
        futures::executor::block_on(pool.submit_judged(0, async { 4u8 }, judge(&judged))),
        Ok(4)
    );
    assert_eq!(judged.load(Ordering::SeqCst), 1);
    let s = pool.stats();
    assert_eq!((s.cancelled, s.completed), (2, 1));
    assert_accounted(&s);
}

/// Group sync callers parked in the queue: `Group::run_weighted` callers
/// are admitted by weight after a close (which spares waiting calls);
/// after an abort a parked `Group::run` is Closed while a parked
/// `Group::run_wait` (never-rejecting) is still admitted.
#[test]
fn group_sync_callers_through_close_and_abort() {
    use pool_runtime::{Group, GroupSpec};
    static G: Group = Group::new(
        GroupSpec::new("tests::acceptance24::group_sync")
            .order(Order::Priority)
            .size(1),
    );
    within(WATCHDOG, || {
        let order = Arc::new(Mutex::new(Vec::new()));
        let holder = G.try_acquire_owned(0).unwrap();
        let mut threads = Vec::new();
        for (i, w) in [(0usize, 3i64), (1, -3), (2, 0)] {
            let o = order.clone();
            threads.push(std::thread::spawn(move || {
                G.run_weighted(w, || o.lock().unwrap().push(i))
            }));
            wait_until("parked", || G.stats().waiting == i + 1);
        }
        let wait_thread = {
            let o = order.clone();
            std::thread::spawn(move || G.run_wait(10, || o.lock().unwrap().push(9)))
        };
        wait_until("parked", || G.stats().waiting == 4);
        G.pool().close();
        assert_eq!(G.run(|| ()).unwrap_err(), Rejected::Closed);
        drop(holder);
        for t in threads {
            assert_eq!(t.join().unwrap(), Ok(()));
        }
        wait_thread.join().unwrap();
        assert_eq!(*order.lock().unwrap(), [1, 2, 0, 9]);
        assert_accounted(&G.stats());
    });
}

/// The same after an abort.
#[test]
fn group_sync_callers_after_an_abort() {
    use pool_runtime::{Group, GroupSpec};
    static G: Group = Group::new(GroupSpec::new("tests::acceptance24::group_sync_abort").size(1));
    within(WATCHDOG, || {
        let holder = G.try_acquire_owned(0).unwrap();
        let plain = std::thread::spawn(|| G.run(|| 1));
        wait_until("parked", || G.stats().waiting == 1);
        let patient = std::thread::spawn(|| G.run_wait(0, || 2));
        wait_until("parked", || G.stats().waiting == 2);
        G.pool().abort();
        assert_eq!(plain.join().unwrap().unwrap_err(), Rejected::Closed);
        std::thread::sleep(Duration::from_millis(20));
        assert!(!patient.is_finished());
        drop(holder);
        assert_eq!(patient.join().unwrap(), 2);
        let s = G.stats();
        assert_eq!(s.rejected_for(Rejected::Closed), 1);
        assert_accounted(&s);
    });
}

/// `drained` resolves when the last call ends on another thread: a blocking
/// job whose caller went away, finishing on its executor's thread after the
/// close, wakes the `drained` wait.
#[test]
fn drained_is_woken_by_an_abandoned_blocking_job_finishing_on_its_thread() {
    let pool = fixed(1);
    within(WATCHDOG, move || {
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = started.clone();
        let mut call = Task::new(pool.submit_blocking(move || {
            s2.store(true, Ordering::SeqCst);
            go_rx.recv().unwrap();
        }));
        let _ = call.poll();
        wait_until("job started", || started.load(Ordering::SeqCst));
        drop(call);
        pool.close();
        let mut drained = Task::new(pool.drained());
        drained.assert_pending();
        go_tx.send(()).unwrap();
        wait_until("drained woken", || drained.is_woken());
        drained.assert_ready();
        assert_accounted(&pool.stats());
    });
}

/// `RayonExecutor`: "What could still unwind is the pool's bookkeeping after
/// it, such as a panicking waker of the next waiter; rayon's answer to a
/// panicking spawned job is to abort the process [...] so it is caught
/// here." In a process of its own: a job on rayon releases its slot to a
/// waiter whose waker panics; the process lives on, and the waiter holds
/// the slot (re-polled with a sound waker it is admitted).
#[test]
fn a_panicking_waker_woken_from_a_rayon_job_does_not_abort_the_process() {
    common::in_own_process(
        "a_panicking_waker_woken_from_a_rayon_job_does_not_abort_the_process",
        &[],
        || {
            common::quiet_planned_panics();
            within(WATCHDOG, || {
                let threads = Arc::new(
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(2)
                        .build()
                        .unwrap(),
                );
                let pool = Pool::builder()
                    .size(1)
                    .blocking_executor(Arc::new(pool_runtime::RayonExecutor::new(threads)))
                    .build()
                    .unwrap();
                let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
                let mut job = Task::new(pool.submit_blocking(move || {
                    go_rx.recv().unwrap();
                    5
                }));
                assert!(job.poll().is_pending());
                // The waiter registers a waker whose wake panics.
                let mut waiter = Box::pin(pool.submit(async { 6 }));
                let bad = common::panicking_waker();
                assert!(std::future::Future::poll(
                    waiter.as_mut(),
                    &mut std::task::Context::from_waker(&bad)
                )
                .is_pending());
                go_tx.send(()).unwrap();
                assert_eq!(drive(&mut job), Ok(5));
                // The slot went to the waiter despite its waker's panic.
                wait_until("handed over", || pool.stats().running == 1);
                let mut waiter = Task::new(waiter);
                assert_eq!(waiter.assert_ready(), Ok(6));
                let s = pool.stats();
                assert_eq!((s.running, s.waiting, s.completed), (0, 0, 2));
                assert_accounted(&s);
            });
        },
    );
}

/// README, Accounting: "A call is submitted when it is first polled": the
/// futures of every call form, made and dropped unpolled, leave no trace;
/// `spawn` (which takes its queue place at once) and `try_acquire` count at
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_submitted_when_first_polled() {
    let pool = fixed(1);
    drop(pool.submit(async {}));
    drop(pool.submit_weighted(1, async {}));
    drop(pool.acquire());
    drop(pool.acquire_weighted(2));
    drop(pool.acquire_owned(3));
    drop(pool.submit_blocking(|| ()));
    drop(pool.submit_judged(0, async {}, |_| pool_runtime::Verdict::Success));
    let s = pool.stats();
    assert_eq!(s.submitted(), 0, "{s:?}");
    assert_eq!(s.cancelled, 0);
    let handle = pool.spawn(async { 1 }).unwrap();
    assert_eq!(pool.stats().submitted(), 1);
    assert_eq!(handle.await, Ok(1));
    drop(pool.try_acquire().unwrap());
    let s = pool.stats();
    assert_eq!(s.submitted(), 2);
    assert_eq!(s.completed, 2);
    assert_accounted(&s);
}

/// `try_acquire` nested in work of the same pool: "a permit if a slot is
/// free now [...] (or this call may borrow its parent's)" — even on a paused
/// and closed pool (nested calls belong to admitted work); a second one
/// while the first holds the lent slot is Full.
#[test]
fn a_nested_try_acquire_borrows_the_parents_slot_even_when_closed() {
    let pool = fixed(1);
    let p = pool.clone();
    let out = futures::executor::block_on(pool.submit(async move {
        p.pause();
        p.close();
        let first = p.try_acquire();
        let second = p.try_acquire_owned(0);
        let nested = p.stats().nested;
        (first.is_ok(), second.err(), nested)
    }));
    assert_eq!(out, Ok((true, Some(Rejected::Full), 1)));
    let s = pool.stats();
    assert_eq!((s.running, s.nested), (0, 0));
    assert_eq!(s.rejected_for(Rejected::Full), 1);
    assert_accounted(&s);
}

/// tower: "A clone starts without a reserved slot, so clones that are never
/// called hold nothing"; a service dropped with a reserved slot frees it
/// (a cancelled call); "A refusal is an error of one call, never of the
/// service": `poll_ready` is Ready(Ok) and `call` returns the refusal, and
/// the same service works again once the pool does.
#[test]
fn tower_clones_hold_nothing_and_refusals_are_per_call() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, Service};
    let pool = fixed(1);
    let inner = service_fn(|n: u32| async move { Ok::<_, BoxError>(n + 1) });
    let mut svc = PooledLayer::pool(pool.clone()).layer(inner);
    let mut ready = Task::new(std::future::poll_fn(|cx| svc.poll_ready(cx)));
    assert!(matches!(ready.poll(), Poll::Ready(Ok(()))));
    drop(ready);
    assert_eq!(pool.stats().running, 1, "reserved in poll_ready");
    let mut clone = svc.clone();
    assert_eq!(pool.stats().running, 1, "a clone holds nothing");
    drop(svc);
    let s = pool.stats();
    assert_eq!((s.running, s.cancelled), (0, 1), "{s:?}");
    // A refusal: Ready(Ok) from poll_ready, the error from call.
    pool.pause();
    let mut ready = Task::new(std::future::poll_fn(|cx| clone.poll_ready(cx)));
    assert!(matches!(ready.poll(), Poll::Ready(Ok(()))));
    drop(ready);
    let err = futures::executor::block_on(clone.call(1)).unwrap_err();
    assert_eq!(err.downcast_ref::<Rejected>(), Some(&Rejected::Paused));
    pool.resume();
    let mut ready = Task::new(std::future::poll_fn(|cx| clone.poll_ready(cx)));
    assert!(matches!(ready.poll(), Poll::Ready(Ok(()))));
    drop(ready);
    assert_eq!(futures::executor::block_on(clone.call(1)).unwrap(), 2);
    // Reject mode: no free slot fails at once with Full.
    let holder = pool.try_acquire_owned(0).unwrap();
    let mut shed = PooledLayer::pool(pool.clone())
        .reject()
        .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
    let mut ready = Task::new(std::future::poll_fn(|cx| shed.poll_ready(cx)));
    assert!(matches!(ready.poll(), Poll::Ready(Ok(()))));
    drop(ready);
    let err = futures::executor::block_on(shed.call(5)).unwrap_err();
    assert_eq!(err.downcast_ref::<Rejected>(), Some(&Rejected::Full));
    drop(holder);
    let s = pool.stats();
    assert_eq!(s.rejected_for(Rejected::Paused), 1);
    assert_eq!(s.rejected_for(Rejected::Full), 1);
    assert_eq!((s.running, s.waiting), (0, 0));
    assert_accounted(&s);
}

/// tower `weight`: "a weight per request for a priority pool; the call then
/// waits in the response future, where the request is known" — two calls
/// waiting in their response futures are admitted by their requests'
/// weights, and the inner service runs one at a time (counted from outside).
#[test]
fn tower_weighted_calls_wait_in_the_response_future_by_weight() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, Service};
    let pool = priority(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let meter = Meter::default();
    let (o, m) = (order.clone(), meter.clone());
    let inner = service_fn(move |n: i64| {
        let (o, m) = (o.clone(), m.clone());
        async move {
            let _in = m.enter();
            o.lock().unwrap().push(n);
            Ok::<_, BoxError>(n)
        }
    });
    let mut svc = PooledLayer::pool(pool.clone())
        .weight(|n: &i64| *n)
        .layer(inner);
    let holder = pool.try_acquire_owned(0).unwrap();
    let mut calls = Vec::new();
    for n in [7i64, -3, 2] {
        let mut ready = Task::new(std::future::poll_fn(|cx| svc.poll_ready(cx)));
        assert!(matches!(ready.poll(), Poll::Ready(Ok(()))));
        drop(ready);
        let mut call = Task::new(svc.call(n));
        call.assert_pending();
        calls.push(call);
    }
    assert_eq!(pool.stats().waiting, 3);
    drop(holder);
    let mut calls: Vec<_> = calls.into_iter().map(Some).collect();
    for _ in 0..1000 {
        for slot in calls.iter_mut() {
            if let Some(c) = slot {
                if let Poll::Ready(out) = c.poll() {
                    out.unwrap();
                    *slot = None;
                }
            }
        }
        if calls.iter().all(Option::is_none) {
            break;
        }
    }
    assert!(calls.iter().all(Option::is_none));
    assert_eq!(*order.lock().unwrap(), [-3, 2, 7]);
    assert_eq!(meter.max(), 1);
    assert_accounted(&pool.stats());
}

/// An owned permit taken inside a call's work (a nested call, on the
/// parent's slot) and returned out of it: "a nested call that outlives its
/// parent keeps the slot busy until it ends" — nothing else is admitted
/// until the permit is dropped.
#[test]
fn a_nested_owned_permit_returned_out_of_its_parent_keeps_the_slot() {
    let pool = fixed(1);
    let p = pool.clone();
    let permit = futures::executor::block_on(pool.submit(async move {
        let permit = p.acquire_owned(0).await.unwrap();
        assert_eq!(p.stats().nested, 1);
        permit
    }))
    .unwrap();
    let s = pool.stats();
    assert_eq!(s.running + s.nested, 1, "{s:?}");
    assert_eq!(pool.try_acquire().unwrap_err(), Rejected::Full);
    let mut waiter = Task::new(pool.submit(async { 8 }));
    waiter.assert_pending();
    drop(permit);
    assert!(waiter.is_woken());
    assert_eq!(waiter.assert_ready(), Ok(8));
    let s = pool.stats();
    assert_eq!((s.running, s.nested, s.completed), (0, 0, 3));
    assert_accounted(&s);
}

/// README, Cancellation: "Blocking closures carry their slot to the executor
/// thread and release it there, so abandoning the wait never lets more
/// closures run than the limit" — callers that abandon their blocking calls
/// over and over never get more closures running than the pool's size
/// (counted from outside).
#[test]
fn abandoning_blocking_calls_never_lets_more_closures_run_than_the_limit() {
    let pool = fixed(2);
    within(WATCHDOG, move || {
        let meter = Meter::default();
        for round in 0..20 {
            let m = meter.clone();
            let mut call = Task::new(pool.submit_blocking(move || {
                let _in = m.enter();
                std::thread::sleep(Duration::from_millis(5));
            }));
            // Polled once (admitted and handed to the executor, or queued),
            // then abandoned.
            let _ = call.poll();
            drop(call);
            if round % 5 == 4 {
                wait_until("closures done", || pool.stats().running == 0);
            }
        }
        wait_until("closures done", || pool.stats().running == 0);
        assert!(meter.max() <= 2, "max {}", meter.max());
        assert!(meter.done() >= 1);
        let s = pool.stats();
        assert_eq!(s.completed + s.cancelled, 20);
        assert_eq!(s.completed as usize, meter.done());
        assert_accounted(&s);
    });
}

/// Under a ceiling (in a process of its own, `POOLED_CEILING=2`): a group
/// `try_acquire` that finds the ceiling free but the group full is `Full`,
/// counted once by the group, and gives the ceiling slot it took back at
/// once (the ceiling's accounting stays whole); a group permit dropped
/// while its thread unwinds is a panicked call for the group.
#[test]
fn a_group_try_acquire_refused_by_its_group_gives_the_ceiling_slot_back() {
    use pool_runtime::{ceiling, Group, GroupSpec};
    static G: Group = Group::new(GroupSpec::new("tests::acceptance24::ceil_try").size(1));
    common::in_own_process(
        "a_group_try_acquire_refused_by_its_group_gives_the_ceiling_slot_back",
        &[("POOLED_CEILING", "2")],
        || {
            common::quiet_planned_panics();
            let held = G.try_acquire_owned(0).unwrap();
            assert_eq!(ceiling::stats().unwrap().running, 1);
            assert_eq!(G.try_acquire(0).unwrap_err(), Rejected::Full);
            assert_eq!(G.try_acquire_owned(0).unwrap_err(), Rejected::Full);
            let cs = ceiling::stats().unwrap();
            assert_eq!((cs.running, cs.waiting), (1, 0), "{cs:?}");
            assert_accounted(&cs);
            let gs = G.stats();
            assert_eq!(gs.rejected_for(Rejected::Full), 2);
            assert_accounted(&gs);
            drop(held);
            let out = std::panic::catch_unwind(|| {
                let _permit = G.try_acquire(0).unwrap();
                panic!("planned: group permit holder");
            });
            assert!(out.is_err());
            let gs = G.stats();
            assert_eq!((gs.running, gs.panicked), (0, 1));
            assert_eq!(ceiling::stats().unwrap().running, 0);
            assert_accounted(&ceiling::stats().unwrap());
        },
    );
}

/// README, Autoscale: "never below one slot by itself: with `min = 0` a pool
/// starts at 1 and only `resize` takes it to 0" — an idle autoscaled pool
/// with `min = 0`, evaluated interval after interval, keeps a slot; a sync
/// caller keeps being admitted.
#[test]
fn an_idle_autoscaled_pool_with_min_zero_never_shrinks_to_zero_by_itself() {
    use pool_runtime::ManualClock;
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(0)
        .max(4)
        .autoscale_interval(Duration::from_secs(1))
        .autoscale_window(2)
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(pool.size(), 1);
    for _ in 0..50 {
        clock.advance(Duration::from_millis(700));
        assert_eq!(pool.run(|| ()), Ok(()));
        assert!(pool.size() >= 1, "shrunk to {}", pool.size());
    }
    assert_eq!(pool.resize(0), 0);
    assert_eq!(pool.try_acquire().unwrap_err(), Rejected::Full);
    assert_eq!(pool.resize(1), 1);
    assert_accounted(&pool.stats());
}

/// The fix the current-thread panic names: "make the caller async, or run
/// it with `spawn_blocking`" — a sync call from `spawn_blocking` on a
/// current-thread runtime waits for a slot a task of that runtime holds,
/// and runs once the task releases it.
#[test]
fn the_named_fix_spawn_blocking_works_on_a_current_thread_runtime() {
    let pool = fixed(1);
    within(WATCHDOG, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let out = rt.block_on(async {
            let permit = pool.acquire_owned(0).await.unwrap();
            let p = pool.clone();
            let sync = tokio::task::spawn_blocking(move || p.run(|| 9));
            let start = Instant::now();
            while pool.stats().waiting != 1 {
                assert!(start.elapsed() < WATCHDOG);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(permit);
            sync.await.unwrap()
        });
        assert_eq!(out, Ok(9));
        assert_accounted(&pool.stats());
    });
}

/// `Group::submit_blocking_wait`, "the never-rejecting form of
/// `submit_blocking`": through a pause it waits (counted as waiting) and
/// runs after `resume`, while the rejecting form is turned away.
#[test]
fn a_never_rejecting_blocking_group_call_waits_through_a_pause() {
    use pool_runtime::{Group, GroupSpec};
    static G: Group = Group::new(GroupSpec::new("tests::acceptance24::blocking_wait").size(1));
    within(WATCHDOG, || {
        G.pause();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        assert_eq!(
            futures::executor::block_on(
                G.submit_blocking(0, move || r.fetch_add(1, Ordering::SeqCst))
            )
            .unwrap_err(),
            Rejected::Paused
        );
        let r = ran.clone();
        let mut patient = Task::new(G.submit_blocking_wait(0, move || {
            r.fetch_add(1, Ordering::SeqCst);
            7
        }));
        assert!(patient.poll().is_pending());
        assert_eq!(G.stats().waiting, 1);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        G.resume();
        assert_eq!(drive(&mut patient), 7);
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert_accounted(&G.stats());
    });
}

/// A group's pool carries the group's stable name; a pool's name is the
/// builder's; `Group::is_started` looks without starting, every reading
/// method starts it ("Every method that reaches the pool is a use, reading
/// ones included").
#[test]
fn names_and_lazy_start() {
    use pool_runtime::{Group, GroupSpec};
    static G: Group = Group::new(GroupSpec::new("tests::acceptance24::named").size(2));
    assert!(!G.is_started());
    assert_eq!(G.name(), "tests::acceptance24::named");
    let _ = G.settings();
    assert!(!G.is_started(), "settings() only looks");
    assert_eq!(G.size(), 2);
    assert!(G.is_started());
    assert_eq!(G.pool().name(), Some("tests::acceptance24::named"));
    let p = Pool::builder().name("mine").size(1).build().unwrap();
    assert_eq!(p.name(), Some("mine"));
    assert_eq!(Pool::fixed(1).name(), None);
}

/// Reentrancy rule: a nested call waiting for its parent's lent slot is
/// turned away by "an admission timeout with `TimedOut`, as it does every
/// call that waits past it"; `abort` turns such a waiter away with `Closed`.
#[test]
fn a_nested_waiter_times_out_and_is_aborted_like_any_waiting_call() {
    let pool = Pool::builder()
        .size(1)
        .admission_timeout(Duration::from_millis(40))
        .build()
        .unwrap();
    within(WATCHDOG, move || {
        let p = pool.clone();
        let out = futures::executor::block_on(pool.submit(async move {
            let (tx, rx) = oneshot::channel::<()>();
            let first = p.submit(rx);
            let second = async {
                let r = p.submit(async { 2 }).await;
                tx.send(()).unwrap();
                r
            };
            let (a, b) = futures::join!(first, second);
            (a.map(|r| r.is_ok()), b)
        }));
        assert_eq!(out, Ok((Ok(true), Err(Rejected::TimedOut))));
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::TimedOut), 1);
        assert_accounted(&s);

        let pool = fixed(1);
        let p = pool.clone();
        let out = futures::executor::block_on(pool.submit(async move {
            let (tx, rx) = oneshot::channel::<()>();
            let first = p.submit(rx);
            let second = async {
                let mut waiting = std::pin::pin!(p.submit(async { 2 }));
                assert!(futures::poll!(waiting.as_mut()).is_pending());
                p.abort();
                let r = waiting.await;
                tx.send(()).unwrap();
                r
            };
            let (a, b) = futures::join!(first, second);
            (a.map(|r| r.is_ok()), b)
        }));
        assert_eq!(out, Ok((Ok(true), Err(Rejected::Closed))));
        assert_eq!(pool.stats().rejected_for(Rejected::Closed), 1);
        assert_accounted(&pool.stats());
    });
}
