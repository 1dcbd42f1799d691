//! Hostile tests, round 23: the thread's spare lends (nested calls whose
//! borrower outlives its lender, lends recycled on one thread and reused on
//! another, nesting deeper than the spare list, nesting across pools, panics,
//! thread exit), calls whose first poll unwound on the way into the queue
//! (every call form, dropped or polled again after a pause, a close or an
//! abort), and completed works dropped in the frame of their last poll (a
//! `Drop` calling the same full pool, a `Drop` that panics before a judge).
//! Concurrency is counted from outside the library; every wait is bounded
//! only to turn a hang into a failure.

mod common;

use common::{
    assert_accounted, gate, quiet_planned_panics, waker_whose_clone_panics_once, within, Meter,
    Task,
};
use pool_runtime::{Pool, Rejected};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

/// Long enough that only a hang reaches it on a loaded 2-core machine.
const WATCHDOG: Duration = Duration::from_secs(30);

/// How many slots of `pool` can be taken right now (all given back after).
fn free_slots(pool: &Pool) -> usize {
    let mut held = Vec::new();
    while let Ok(p) = pool.try_acquire_owned(0) {
        held.push(p);
        if held.len() > 64 {
            break;
        }
    }
    held.len()
}

/// Quiet: nothing running, nested or waiting, the identity holds, and every
/// slot can be taken.
#[track_caller]
fn assert_quiet(pool: &Pool, size: usize) {
    let stats = pool.stats();
    assert_eq!(
        (stats.running, stats.nested, stats.waiting),
        (0, 0, 0),
        "{stats:?}"
    );
    assert_accounted(&stats);
    assert_eq!(free_slots(pool), size, "slots lost or made: {stats:?}");
}

/// Polls `fut` on this thread until ready (a no-op waker, a short sleep
/// between polls), failing after the watchdog.
fn block_on_here<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let start = std::time::Instant::now();
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            return out;
        }
        assert!(start.elapsed() < WATCHDOG, "hung polling by hand");
        thread::sleep(Duration::from_millis(1));
    }
}

// ---- spare lends --------------------------------------------------------------

/// A nested call polled once inside its parent's work (so it borrows the
/// parent's slot), then returned out of it: it outlives its lender. Its body
/// is metered while it runs.
type Orphan = Task<Pin<Box<dyn Future<Output = Result<(), Rejected>> + Send>>>;

fn orphan_inside(pool: &Pool, meter: &Meter) -> (Orphan, Arc<AtomicBool>) {
    let (g, open) = gate();
    let meter = meter.clone();
    let fut: Pin<Box<dyn Future<Output = Result<(), Rejected>> + Send>> = {
        let pool = pool.clone();
        Box::pin(async move {
            pool.submit(async move {
                let _inside = meter.enter();
                g.await
            })
            .await
        })
    };
    let mut task = Task::new(fut);
    assert!(task.poll().is_pending(), "the orphan holds its gate");
    (task, open)
}

/// Promise (README, reentrancy rule): "only while the parent holds it: a
/// nested call that outlives its parent (a future returned out of the work,
/// ...) keeps the slot busy until it ends, and releases it then"; (lend.rs
/// module docs) a lend is reused only when "a call ... ended with its lend
/// borrowed by nobody". Attack: on a pool of 2, each round a sync call's
/// work lends its slot to a nested call returned out of it (the lend must
/// not go to the spares), then warm nested calls on the same thread reuse
/// spares; while the orphan lives exactly one slot is free, after it ends
/// both are. Leaf bodies are metered: never more than 2.
#[test]
fn a_borrower_outliving_its_lender_keeps_the_slot_while_spares_are_reused() {
    within(WATCHDOG, || {
        let pool = Pool::fixed(2);
        let meter = Meter::default();
        for round in 0..150 {
            let (mut orphan, open) = pool.run(|| orphan_inside(&pool, &meter)).unwrap();
            // Warm nested calls under the other slot, reusing spare lends.
            for _ in 0..3 {
                pool.run(|| {
                    pool.run(|| {
                        // (Leaf bodies only: a parent's body waits on its nested call.)
                        pool.run(|| drop(meter.enter())).unwrap();
                    })
                    .unwrap();
                    pool.run(|| drop(meter.enter())).unwrap();
                })
                .unwrap();
            }
            assert_eq!(free_slots(&pool), 1, "round {round}: {:?}", pool.stats());
            assert_eq!(meter.now(), 1, "round {round}: the orphan's body runs");
            open.store(true, SeqCst);
            assert_eq!(orphan.assert_ready(), Ok(()));
            drop(orphan);
            assert_quiet(&pool, 2);
        }
        assert!(meter.max() <= 2, "max {}", meter.max());
        assert_eq!(meter.now(), 0);
    });
}

/// Same promise as above. Attack: the orphan is completed (and its lends
/// end) on another thread, which then makes nested calls of its own (so a
/// lend recycled there is reused there), while this thread keeps nesting;
/// a pool of 1 must never run two leaf bodies at once, and once quiet every
/// slot is back and every call accounted.
#[test]
fn lends_recycled_on_one_thread_and_reused_on_another_share_no_slot() {
    within(WATCHDOG, || {
        let pool = Pool::fixed(1);
        let meter = Meter::default();
        let (tx, rx) = mpsc::channel::<(Orphan, Arc<AtomicBool>)>();
        // (Each round waits for the other thread, which must not be waiting
        // for the slot of an orphan still in the channel.)
        let (ack_tx, ack_rx) = mpsc::channel::<()>();
        let other = {
            let (pool, meter) = (pool.clone(), meter.clone());
            thread::spawn(move || {
                for (mut orphan, open) in rx {
                    open.store(true, SeqCst);
                    assert_eq!(orphan.assert_ready(), Ok(()));
                    drop(orphan);
                    for _ in 0..3 {
                        pool.run(|| {
                            pool.run(|| pool.run(|| drop(meter.enter())).unwrap())
                                .unwrap()
                        })
                        .unwrap();
                    }
                    ack_tx.send(()).unwrap();
                }
            })
        };
        for _ in 0..200 {
            let orphan = pool.run(|| orphan_inside(&pool, &meter)).unwrap();
            tx.send(orphan).unwrap();
            pool.run(|| {
                let _inside = meter.enter();
                // (Nested under this call's own slot: not a second body.)
            })
            .unwrap();
            pool.run(|| pool.run(|| drop(meter.enter())).unwrap())
                .unwrap();
            ack_rx
                .recv_timeout(WATCHDOG)
                .expect("the other thread hung");
        }
        drop(tx);
        other.join().unwrap();
        assert_eq!(meter.max(), 1, "two bodies at once on a pool of 1");
        assert_quiet(&pool, 1);
    });
}

/// Promise (lend.rs docs, README): "a borrower lends the slot on in turn, so
/// nesting has no depth limit"; a thread keeps "up to 32" spares. Attack:
/// sync and async nesting 80 deep (past the spare list), repeated, on a
/// pool of 1, then an orphan at the bottom of a deep chain: never two
/// bodies at once, the slot busy exactly while the orphan lives, nothing
/// lost.
#[test]
fn nesting_deeper_than_the_spare_list_over_and_over_loses_no_slot() {
    fn deep(pool: &Pool, meter: &Meter, depth: usize) -> usize {
        if depth == 0 {
            let _inside = meter.enter();
            return 0;
        }
        pool.run(|| deep(pool, meter, depth - 1)).unwrap() + 1
    }
    fn deep_async(
        pool: Pool,
        meter: Meter,
        depth: usize,
    ) -> Pin<Box<dyn Future<Output = usize> + Send>> {
        Box::pin(async move {
            if depth == 0 {
                let _inside = meter.enter();
                common::yield_now().await;
                return 0;
            }
            let p = pool.clone();
            p.submit(deep_async(pool, meter, depth - 1)).await.unwrap() + 1
        })
    }
    within(WATCHDOG, || {
        let pool = Pool::fixed(1);
        let meter = Meter::default();
        for _ in 0..5 {
            assert_eq!(deep(&pool, &meter, 80), 80);
            assert_quiet(&pool, 1);
            assert_eq!(
                block_on_here(deep_async(pool.clone(), meter.clone(), 80)),
                80
            );
            assert_quiet(&pool, 1);
        }
        // An orphan at the bottom of a 40-deep chain.
        fn deep_orphan(pool: &Pool, meter: &Meter, depth: usize) -> (Orphan, Arc<AtomicBool>) {
            if depth == 0 {
                return orphan_inside(pool, meter);
            }
            pool.run(|| deep_orphan(pool, meter, depth - 1)).unwrap()
        }
        for _ in 0..3 {
            let (mut orphan, open) = deep_orphan(&pool, &meter, 40);
            assert_eq!(free_slots(&pool), 0, "{:?}", pool.stats());
            open.store(true, SeqCst);
            assert_eq!(orphan.assert_ready(), Ok(()));
            drop(orphan);
            assert_quiet(&pool, 1);
            assert_eq!(deep(&pool, &meter, 40), 40);
        }
        assert_eq!(meter.max(), 1);
    });
}

/// Promise (README, reentrancy rule, "Limits"). Attack: two pools of 1
/// nesting into each other (A in B in A in B), so one thread's spare lends
/// serve both pools in turn, with an orphan of A left out of a B call's
/// work now and then: each pool's leaf bodies never exceed 1, and both end
/// quiet.
#[test]
fn spare_lends_shared_by_two_pools_keep_each_pools_limit() {
    within(WATCHDOG, || {
        let a = Pool::fixed(1);
        let b = Pool::fixed(1);
        let (ma, mb) = (Meter::default(), Meter::default());
        for round in 0..100 {
            a.run(|| {
                b.run(|| {
                    a.run(|| {
                        b.run(|| drop(mb.enter())).unwrap();
                        drop(ma.enter());
                    })
                    .unwrap()
                })
                .unwrap();
                a.run(|| drop(ma.enter())).unwrap();
            })
            .unwrap();
            if round % 7 == 0 {
                let (mut orphan, open) =
                    a.run(|| b.run(|| orphan_inside(&b, &mb)).unwrap()).unwrap();
                assert_eq!(free_slots(&b), 0);
                assert_eq!(free_slots(&a), 1);
                // A keeps nesting while B's slot is held by the orphan.
                a.run(|| a.run(|| drop(ma.enter())).unwrap()).unwrap();
                open.store(true, SeqCst);
                assert_eq!(orphan.assert_ready(), Ok(()));
            }
        }
        assert_eq!((ma.max(), mb.max()), (1, 1));
        assert_quiet(&a, 1);
        assert_quiet(&b, 1);
    });
}

/// Promise (README, "Cancellation"): "a panicking call frees its slot and
/// the panic reaches the caller"; reentrancy rule as above. Attack: nested
/// works that panic (caught inside the parent), and parents that panic
/// after lending their slot to a nested call they leave behind (the lend is
/// borrowed: it must not become a spare), mixed with warm nesting: the
/// orphan keeps the slot until it ends, nothing is lost.
#[test]
fn panics_in_nested_work_and_in_lenders_neither_recycle_a_borrowed_lend_nor_lose_a_slot() {
    quiet_planned_panics();
    within(WATCHDOG, || {
        let pool = Pool::fixed(1);
        let meter = Meter::default();
        for round in 0..100 {
            pool.run(|| {
                let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    pool.run(|| -> () { panic!("planned: nested work panics") })
                }));
                assert!(caught.is_err());
                pool.run(|| drop(meter.enter())).unwrap();
            })
            .unwrap();
            let left = Arc::new(std::sync::Mutex::new(None));
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                pool.run(|| {
                    *left.lock().unwrap() = Some(orphan_inside(&pool, &meter));
                    panic!("planned: a lender panics")
                })
            }));
            assert!(caught.is_err());
            let (mut orphan, open) = left.lock().unwrap().take().unwrap();
            assert_eq!(free_slots(&pool), 0, "round {round}: {:?}", pool.stats());
            open.store(true, SeqCst);
            assert_eq!(orphan.assert_ready(), Ok(()));
            drop(orphan);
            assert_quiet(&pool, 1);
        }
        assert_eq!(meter.max(), 1);
    });
}

/// Promise (README, "Nothing hangs"; reentrancy rule). Attack: a thread
/// warms its spare lends, then exits; a thread-local destructor of its own
/// makes nested calls (which need a lend while the spare list may already
/// be gone) and leaves an orphan to another thread. Repeated on many
/// threads: no hang, no panic, no slot lost.
#[test]
fn a_thread_local_destructor_nesting_calls_at_thread_exit_loses_nothing() {
    struct AtExit(Pool, Meter, mpsc::Sender<Result<usize, Rejected>>);
    impl Drop for AtExit {
        fn drop(&mut self) {
            let (pool, meter) = (&self.0, &self.1);
            let out = pool.run(|| {
                pool.run(|| pool.run(|| drop(meter.enter())).map(|()| 2))
                    .and_then(|x| x)
            });
            let _ = self.2.send(out.and_then(|x| x));
        }
    }
    thread_local! {
        static AT_EXIT: std::cell::RefCell<Option<AtExit>> = const { std::cell::RefCell::new(None) };
    }
    within(WATCHDOG, || {
        let pool = Pool::fixed(1);
        let meter = Meter::default();
        let (tx, rx) = mpsc::channel();
        for _ in 0..20 {
            let (pool, meter, tx) = (pool.clone(), meter.clone(), tx.clone());
            thread::spawn(move || {
                // Registered before and after the spare list is first used.
                AT_EXIT.with(|slot| {
                    *slot.borrow_mut() = Some(AtExit(pool.clone(), meter.clone(), tx.clone()))
                });
                for _ in 0..40 {
                    pool.run(|| {
                        pool.run(|| pool.run(|| drop(meter.enter())).unwrap())
                            .unwrap()
                    })
                    .unwrap();
                }
            })
            .join()
            .unwrap();
        }
        drop(tx);
        let outs: Vec<_> = rx.iter().collect();
        assert_eq!(outs.len(), 20);
        assert!(outs.iter().all(|o| *o == Ok(2)), "{outs:?}");
        assert_eq!(meter.max(), 1);
        assert_quiet(&pool, 1);
    });
}

/// Promise (README, reentrancy rule): "a nested call that outlives its
/// parent (... a blocking job whose caller went away) keeps the slot busy
/// until it ends, and releases it then". Attack: a blocking job nested in a
/// call's work, polled once there (it borrows the slot, off-thread), its
/// caller dropped after the parent ends; then warm nested calls on this
/// thread reuse spare lends. The slot stays busy until the job ends; never
/// two bodies on a pool of 1.
#[cfg(feature = "tokio")]
#[test]
fn a_nested_blocking_job_outliving_its_lender_and_caller_keeps_the_slot() {
    within(WATCHDOG, || {
        let rt = common::runtime();
        let _enter = rt.enter();
        let pool = Pool::fixed(1);
        let meter = Meter::default();
        for round in 0..20 {
            let (release_tx, release_rx) = mpsc::channel::<()>();
            let started = Arc::new(AtomicBool::new(false));
            let ended = Arc::new(AtomicBool::new(false));
            let job = {
                let (pool2, meter, started, ended) =
                    (pool.clone(), meter.clone(), started.clone(), ended.clone());
                pool.run(move || {
                    let mut job = Task::new(async move {
                        pool2
                            .submit_blocking(move || {
                                let _inside = meter.enter();
                                started.store(true, SeqCst);
                                let _ = release_rx.recv_timeout(WATCHDOG);
                                ended.store(true, SeqCst);
                            })
                            .await
                    });
                    assert!(job.poll().is_pending());
                    job
                })
                .unwrap()
            };
            drop(job); // the caller goes away
            let start = std::time::Instant::now();
            while !started.load(SeqCst) {
                assert!(start.elapsed() < WATCHDOG, "the job never started");
                thread::sleep(Duration::from_millis(2));
            }
            for _ in 0..3 {
                // A full pool: a sync call here would wait; only nesting under
                // a permit-free path is checked: the slot stays busy.
                assert_eq!(free_slots(&pool), 0, "round {round}: {:?}", pool.stats());
            }
            release_tx.send(()).unwrap();
            let start = std::time::Instant::now();
            while free_slots(&pool) != 1 {
                assert!(start.elapsed() < WATCHDOG, "the job's slot never came back");
                thread::sleep(Duration::from_millis(2));
            }
            assert!(ended.load(SeqCst));
            pool.run(|| pool.run(|| drop(meter.enter())).unwrap())
                .unwrap();
            assert_quiet(&pool, 1);
        }
        assert_eq!(meter.max(), 1);
    });
}

/// Promise (README, reentrancy rule, "Limits"). Attack: many tasks on a
/// two-worker runtime, each a call whose work awaits nested calls (which
/// borrow and return its lend, and are recycled on whichever worker the
/// task ended on), some leaving an orphan to a later task; leaf bodies
/// never exceed the limit of 2, and the pool ends quiet.
#[cfg(feature = "tokio")]
#[test]
fn async_nesting_across_runtime_workers_never_exceeds_the_limit() {
    within(WATCHDOG, || {
        let rt = common::runtime();
        let pool = Pool::fixed(2);
        let meter = Meter::default();
        rt.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..200 {
                let (pool, meter) = (pool.clone(), meter.clone());
                tasks.push(tokio::spawn(async move {
                    let p = pool.clone();
                    let m = meter.clone();
                    pool.submit(async move {
                        p.submit(async {
                            let _inside = m.enter();
                            common::yield_now().await;
                        })
                        .await
                        .unwrap();
                        if i % 3 == 0 {
                            tokio::task::yield_now().await;
                        }
                        p.submit(p.submit(async {
                            let _inside = m.enter();
                            common::yield_now().await;
                        }))
                        .await
                        .unwrap()
                        .unwrap();
                    })
                    .await
                    .unwrap();
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        assert!(meter.max() <= 2, "max {}", meter.max());
        assert_eq!(meter.done(), 400);
        assert_quiet(&pool, 2);
    });
}

// ---- a first poll that unwound on its way into the queue ------------------------

#[derive(Clone, Copy, Debug)]
enum Then {
    Drop,
    Poll,
    PauseThenPoll,
    CloseThenPoll,
    AbortThenPoll,
}

type Call<'a> = Pin<Box<dyn Future<Output = Result<(), Rejected>> + Send + 'a>>;

/// Promise (README, "Faults lose nothing"; "Accounting": `submitted =
/// completed + rejected + cancelled` once quiet; "Cancellation": dropping a
/// waiting call removes it at once). Attack: every call form on a full pool
/// of 1, its first poll unwound by a panicking waker clone (caught), then
/// dropped, or polled again (after a pause, a close or an abort between):
/// the call ends once (run once freed, or turned away `Paused`/`Closed` no
/// earlier than the state allows), never hangs, and once quiet every call
/// is counted once and the slot is back.
#[cfg(feature = "tokio")]
#[test]
fn every_call_form_whose_first_poll_unwound_ends_once_whatever_follows() {
    static ARMED: AtomicBool = AtomicBool::new(false);
    quiet_planned_panics();
    within(Duration::from_secs(120), || {
        let rt = common::runtime();
        let _enter = rt.enter();
        // (The `async fn` forms cannot be polled again once a poll unwound
        // through them, as every `async fn`: those are only dropped.)
        type Form = for<'a> fn(&'a Pool, &Meter) -> Call<'a>;
        let forms: Vec<(&str, bool, Form)> = vec![
            ("submit", true, |p, m| {
                let m = m.clone();
                Box::pin(p.submit(async move { drop(m.enter()) }))
            }),
            ("submit_weighted", true, |p, m| {
                let m = m.clone();
                Box::pin(p.submit_weighted(5, async move { drop(m.enter()) }))
            }),
            ("acquire", false, |p, m| {
                let m = m.clone();
                Box::pin(async move {
                    let permit = p.acquire().await?;
                    drop(m.enter());
                    drop(permit);
                    Ok(())
                })
            }),
            ("acquire_owned", false, |p, m| {
                let m = m.clone();
                Box::pin(async move {
                    let permit = p.acquire_owned(2).await?;
                    drop(m.enter());
                    drop(permit);
                    Ok(())
                })
            }),
            ("submit_blocking", false, |p, m| {
                let m = m.clone();
                Box::pin(p.submit_blocking(move || drop(m.enter())))
            }),
            ("submit_judged", false, |p, m| {
                let m = m.clone();
                Box::pin(p.submit_judged(1, async move { drop(m.enter()) }, |_| {
                    pool_runtime::Verdict::Success
                }))
            }),
        ];
        let thens = [
            Then::Drop,
            Then::Poll,
            Then::PauseThenPoll,
            Then::CloseThenPoll,
            Then::AbortThenPoll,
        ];
        let bad = waker_whose_clone_panics_once(&ARMED);
        let mut failures = Vec::new();
        for (name, repollable, form) in &forms {
            for then in thens {
                if !repollable && !matches!(then, Then::Drop) {
                    continue;
                }
                for order in [
                    pool_runtime::Order::Fifo,
                    pool_runtime::Order::Lifo,
                    pool_runtime::Order::Priority,
                ] {
                    let case = format!("{name} {then:?} {order:?}");
                    let pool = Pool::builder().order(order).size(1).build().unwrap();
                    let meter = Meter::default();
                    let holder = pool.try_acquire_owned(0).unwrap();
                    let mut call = form(&pool, &meter);
                    ARMED.store(true, SeqCst);
                    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        call.as_mut().poll(&mut Context::from_waker(&bad))
                    }));
                    ARMED.store(false, SeqCst);
                    if first.is_ok() {
                        failures.push(format!("{case}: the clone never ran at the first poll"));
                    }
                    match then {
                        Then::Drop => {
                            drop(call);
                            drop(holder);
                        }
                        _ => {
                            match then {
                                Then::PauseThenPoll => pool.pause(),
                                Then::CloseThenPoll => pool.close(),
                                Then::AbortThenPoll => pool.abort(),
                                _ => {}
                            }
                            let mid = call.as_mut().poll(&mut Context::from_waker(&bad));
                            drop(holder);
                            if matches!(then, Then::PauseThenPoll) {
                                pool.resume();
                            }
                            let out = match mid {
                                Poll::Ready(out) => out,
                                Poll::Pending => {
                                    let start = std::time::Instant::now();
                                    loop {
                                        if let Poll::Ready(out) =
                                            call.as_mut().poll(&mut Context::from_waker(&bad))
                                        {
                                            break out;
                                        }
                                        if start.elapsed() > Duration::from_secs(10) {
                                            failures.push(format!("{case}: hung"));
                                            break Err(Rejected::TimedOut);
                                        }
                                        thread::sleep(Duration::from_millis(2));
                                    }
                                }
                            };
                            let allowed: &[Result<(), Rejected>] = match then {
                                Then::Poll => &[Ok(())],
                                Then::PauseThenPoll => &[Ok(()), Err(Rejected::Paused)],
                                _ => &[Ok(()), Err(Rejected::Closed)],
                            };
                            if !allowed.contains(&out) {
                                failures.push(format!("{case}: ended {out:?}"));
                            }
                            if out.is_ok() != (meter.done() == 1) {
                                failures.push(format!(
                                    "{case}: ended {out:?} but its body ran {} times",
                                    meter.done()
                                ));
                            }
                            drop(call);
                        }
                    }
                    // Quiet: the blocking job's slot comes back on its thread.
                    let start = std::time::Instant::now();
                    loop {
                        let s = pool.stats();
                        if s.running + s.nested + s.waiting == 0 {
                            break;
                        }
                        if start.elapsed() > Duration::from_secs(10) {
                            break;
                        }
                        thread::sleep(Duration::from_millis(2));
                    }
                    let stats = pool.stats();
                    let ended = stats.completed + stats.cancelled + stats.rejected_total();
                    if stats.running + stats.nested + stats.waiting != 0
                        || stats.submitted() != ended
                    {
                        failures.push(format!("{case}: not accounted: {stats:?}"));
                    }
                    if meter.done() > 1 {
                        failures.push(format!("{case}: body ran {} times", meter.done()));
                    }
                    if !pool.is_closed() && free_slots(&pool) != 1 {
                        failures.push(format!("{case}: slot lost: {stats:?}"));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    });
}

/// Same promises. Attack: the clone panics at the first poll, then again at
/// a later poll (the call re-polled while still waiting, with a waker that
/// differs so it must be cloned), then it runs once freed or is dropped:
/// counted once, slot back.
#[test]
fn a_call_whose_clone_panics_at_the_first_and_a_later_poll_is_counted_once() {
    static ARMED: AtomicBool = AtomicBool::new(false);
    quiet_planned_panics();
    within(WATCHDOG, || {
        let mut failures = Vec::new();
        for drop_it in [false, true] {
            let pool = Pool::fixed(1);
            let holder = pool.try_acquire_owned(0).unwrap();
            let mut call = Box::pin(pool.submit(async { 7 }));
            let bad = waker_whose_clone_panics_once(&ARMED);
            for _ in 0..2 {
                ARMED.store(true, SeqCst);
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    call.as_mut().poll(&mut Context::from_waker(&bad))
                }));
                ARMED.store(false, SeqCst);
                if let Ok(Poll::Ready(out)) = r {
                    failures.push(format!("drop {drop_it}: ready early: {out:?}"));
                }
                // A waker the call has not seen: the next poll must clone it.
                let _ = call.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            }
            drop(holder);
            if drop_it {
                drop(call);
            } else {
                let out = block_on_here(call.as_mut());
                if out != Ok(7) {
                    failures.push(format!("ended {out:?}"));
                }
                drop(call);
            }
            let stats = pool.stats();
            let ended = stats.completed + stats.cancelled + stats.rejected_total();
            if stats.running + stats.waiting != 0 || stats.submitted() != ended {
                failures.push(format!("drop {drop_it}: not accounted: {stats:?}"));
            }
            if free_slots(&pool) != 1 {
                failures.push(format!("drop {drop_it}: slot lost: {stats:?}"));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    });
}

// ---- a completed work dropped in its last poll's frame ---------------------------

/// A hand-written future: ready at its second poll, keeping its state; its
/// `Drop` runs `on_drop`.
struct ReadyThenDrop<D: FnMut()> {
    polled: bool,
    on_drop: D,
}

impl<D: FnMut() + Unpin> Future for ReadyThenDrop<D> {
    type Output = u8;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u8> {
        if std::mem::replace(&mut self.polled, true) {
            Poll::Ready(1)
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl<D: FnMut()> Drop for ReadyThenDrop<D> {
    fn drop(&mut self) {
        (self.on_drop)();
    }
}

/// Promise (README, reentrancy rule): a call "made on the thread of sync or
/// ... work" that holds a slot runs under its parent's slot; (commit
/// 64293ee) a completed work is dropped in the frame of its last poll.
/// Attack: a hand-written future whose `Drop` makes a sync call and an
/// async call (polled by hand) on the same full pool of 1, for every call
/// form that takes a future (submit, weighted, judged, nested in another
/// call's work): the drop runs as a nested call (no hang), and then the
/// pool is quiet.
#[test]
fn a_completed_works_drop_calling_its_full_pool_runs_nested() {
    within(WATCHDOG, || {
        let pool = Pool::fixed(1);
        let meter = Meter::default();
        let ran = Arc::new(AtomicUsize::new(0));
        let work = || {
            let (pool, meter, ran) = (pool.clone(), meter.clone(), ran.clone());
            ReadyThenDrop {
                polled: false,
                on_drop: move || {
                    pool.run(|| drop(meter.enter())).unwrap();
                    let mut t = Task::new(pool.submit(async { drop(meter.enter()) }));
                    let start = std::time::Instant::now();
                    while t.poll().is_pending() {
                        assert!(start.elapsed() < WATCHDOG, "nested call in a Drop hung");
                    }
                    ran.fetch_add(1, SeqCst);
                },
            }
        };
        assert_eq!(block_on_here(pool.submit(work())), Ok(1));
        assert_eq!(block_on_here(pool.submit_weighted(3, work())), Ok(1));
        assert_eq!(
            block_on_here(pool.submit_judged(1, work(), |_| pool_runtime::Verdict::Success)),
            Ok(1)
        );
        let nested = pool.clone();
        let w = work();
        assert_eq!(
            block_on_here(pool.submit(async move { nested.submit(w).await })),
            Ok(Ok(1))
        );
        assert_eq!(pool.run(|| block_on_here(pool.submit(work()))), Ok(Ok(1)));
        assert_eq!(ran.load(SeqCst), 5);
        assert_eq!(meter.max(), 1);
        assert_quiet(&pool, 1);
    });
}

/// Promise (README, "Cancellation"): "a panicking call frees its slot and
/// the panic reaches the caller"; (submit.rs) "A `Drop` of the work that
/// panics makes it a call that panicked, not a cancelled one". Attack: a
/// completed hand-written work whose `Drop` panics, under a judge that
/// would panic too (it must then not run: the work's drop comes first) and
/// under a plain submit, nested and not: the panic reaches the caller, the
/// slot is back, the call is counted once (completed, not cancelled).
#[test]
fn a_completed_works_drop_that_panics_is_a_panicked_call_counted_once() {
    quiet_planned_panics();
    within(WATCHDOG, || {
        let pool = Pool::fixed(1);
        let judged = Arc::new(AtomicUsize::new(0));
        let work = || ReadyThenDrop {
            polled: false,
            on_drop: || panic!("planned: a completed work's drop panics"),
        };
        for nested in [false, true] {
            for judge in [false, true] {
                let pool2 = pool.clone();
                let judged = judged.clone();
                let fut: Pin<Box<dyn Future<Output = Result<u8, Rejected>>>> = if judge {
                    Box::pin(async move {
                        pool2
                            .submit_judged(0, work(), move |_| {
                                judged.fetch_add(1, SeqCst);
                                panic!("planned: a judge panics")
                            })
                            .await
                    })
                } else {
                    Box::pin(async move { pool2.submit(work()).await })
                };
                let before = pool.stats();
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    if nested {
                        pool.run(|| block_on_here(fut)).unwrap()
                    } else {
                        block_on_here(fut)
                    }
                }));
                let calls = 1 + u64::from(nested);
                assert!(out.is_err(), "nested {nested} judge {judge}: no panic");
                let stats = pool.stats();
                let case = format!("nested {nested} judge {judge}: {before:?} -> {stats:?}");
                assert_eq!(stats.cancelled, before.cancelled, "{case}");
                assert_eq!(stats.completed - before.completed, calls, "{case}");
                assert_eq!(stats.panicked - before.panicked, calls, "{case}");
                assert_eq!(stats.submitted() - before.submitted(), calls, "{case}");
                assert_quiet(&pool, 1);
            }
        }
        let _ = judged.load(SeqCst);
    });
}

// ---- tower: drops under the slot that panic -------------------------------------

#[cfg(feature = "tower")]
mod tower_drops {
    use super::*;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{Layer, Service};

    /// An inner service whose response future is `ReadyThenDrop` (its
    /// `Drop` runs `on_drop`), and whose own `Drop` (every clone's) runs
    /// `on_service_drop` when armed.
    #[derive(Clone)]
    struct Inner {
        panic_in_future_drop: bool,
        panic_in_clone_drop: Arc<AtomicBool>,
        is_clone: bool,
    }

    impl Drop for Inner {
        fn drop(&mut self) {
            if self.is_clone && self.panic_in_clone_drop.load(SeqCst) && !thread::panicking() {
                panic!("planned: a per-call clone's drop panics");
            }
        }
    }

    type Respond = ReadyThenDrop<Box<dyn FnMut() + Send + Unpin>>;

    struct Output(Respond);

    impl Future for Output {
        type Output = Result<u8, BoxError>;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            Pin::new(&mut self.0).poll(cx).map(Ok)
        }
    }

    impl Service<u8> for Inner {
        type Response = u8;
        type Error = BoxError;
        type Future = Output;
        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _req: u8) -> Output {
            let panics = self.panic_in_future_drop;
            Output(ReadyThenDrop {
                polled: false,
                on_drop: Box::new(move || {
                    if panics && !thread::panicking() {
                        panic!("planned: a spent response future's drop panics")
                    }
                }),
            })
        }
    }

    /// Drives a service's `poll_ready` and `call` and the response future by
    /// hand, catching a panic anywhere: `Err(())` if one was caught.
    fn call_once<S: Service<u8, Response = u8, Error = BoxError>>(
        service: &mut S,
    ) -> Result<Result<u8, String>, ()> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut cx = Context::from_waker(Waker::noop());
            let start = std::time::Instant::now();
            while service.poll_ready(&mut cx).is_pending() {
                assert!(start.elapsed() < WATCHDOG, "poll_ready hung");
                thread::sleep(Duration::from_millis(1));
            }
            let fut = service.call(1);
            block_on_here(fut).map_err(|e| e.to_string())
        }))
        .map_err(drop)
    }

    /// Promise (README, "Cancellation"): "a panicking call frees its slot
    /// and the panic reaches the caller"; "Accounting" once quiet; (commit
    /// e4de55f) the spent inner future and the weighted layer's per-call
    /// clone are dropped under the slot. Attack: that drop panics (a spent
    /// response future's, a per-call clone's), through the constant and the
    /// weighted layer, on a pool of 1: the panic reaches the caller, the
    /// slot is back, every call counted once, and the next call through the
    /// same service runs.
    #[test]
    fn a_drop_under_the_slot_that_panics_frees_it_and_is_counted_once() {
        quiet_planned_panics();
        within(WATCHDOG, || {
            let mut failures = Vec::new();
            for weighted in [false, true] {
                for what in ["future", "clone"] {
                    let case = format!("weighted {weighted}, {what}'s drop");
                    if !weighted && what == "clone" {
                        continue; // the constant layer makes no per-call clone
                    }
                    let pool = Pool::fixed(1);
                    let armed = Arc::new(AtomicBool::new(what == "clone"));
                    let inner = Inner {
                        panic_in_future_drop: what == "future",
                        panic_in_clone_drop: armed.clone(),
                        is_clone: false,
                    };
                    // Per-call clones are marked (the service itself is not).
                    struct Marked(Inner);
                    impl Clone for Marked {
                        fn clone(&self) -> Self {
                            let mut c = self.0.clone();
                            c.is_clone = true;
                            Marked(c)
                        }
                    }
                    impl Service<u8> for Marked {
                        type Response = u8;
                        type Error = BoxError;
                        type Future = Output;
                        fn poll_ready(
                            &mut self,
                            cx: &mut Context<'_>,
                        ) -> Poll<Result<(), BoxError>> {
                            self.0.poll_ready(cx)
                        }
                        fn call(&mut self, req: u8) -> Output {
                            self.0.call(req)
                        }
                    }
                    let out = if weighted {
                        let mut s = PooledLayer::pool(pool.clone())
                            .weight(|_: &u8| 1)
                            .layer(Marked(inner));
                        let first = call_once(&mut s);
                        armed.store(false, SeqCst);
                        let inner_future_panics = what == "future";
                        let second = (!inner_future_panics).then(|| call_once(&mut s));
                        (first, second)
                    } else {
                        let mut s = PooledLayer::pool(pool.clone()).layer(Marked(inner));
                        (call_once(&mut s), None)
                    };
                    if out.0.is_ok() {
                        failures.push(format!("{case}: the panic did not reach the caller"));
                    }
                    if let Some(second) = out.1 {
                        if second != Ok(Ok(1)) {
                            failures.push(format!("{case}: the next call ended {second:?}"));
                        }
                    }
                    let stats = pool.stats();
                    let ended = stats.completed + stats.cancelled + stats.rejected_total();
                    if stats.running + stats.nested + stats.waiting != 0
                        || stats.submitted() != ended
                    {
                        failures.push(format!("{case}: not accounted: {stats:?}"));
                    }
                    if free_slots(&pool) != 1 {
                        failures.push(format!("{case}: slot lost: {stats:?}"));
                    }
                }
            }
            assert!(failures.is_empty(), "{failures:#?}");
        });
    }

    /// Promise (`PooledService` field order, commit e4de55f: "a reserved slot
    /// is given back before the inner service is dropped"; README
    /// "Cancellation"). Attack: a service holding a reserved slot of a full
    /// pool of 1 dropped, its inner service's `Drop` panicking: the slot
    /// is back even so, and a caller queued for it is handed it.
    #[test]
    fn a_service_with_a_reserved_slot_whose_inner_drop_panics_gives_the_slot_back() {
        struct Bad;
        impl Drop for Bad {
            fn drop(&mut self) {
                panic!("planned: an inner service's drop panics");
            }
        }
        quiet_planned_panics();
        within(WATCHDOG, || {
            let pool = Pool::fixed(1);
            let mut service = PooledLayer::pool(pool.clone()).layer(tower::service_fn({
                let bad = Bad;
                move |n: u8| {
                    let _ = &bad;
                    async move { Ok::<_, BoxError>(n) }
                }
            }));
            let mut cx = Context::from_waker(Waker::noop());
            assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
            assert_eq!(pool.stats().running, 1);
            let mut waiter = Task::new(pool.submit(async { 5 }));
            waiter.assert_pending();
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(service)));
            assert!(dropped.is_err(), "the inner drop's panic goes on");
            let start = std::time::Instant::now();
            let out = loop {
                if let Poll::Ready(out) = waiter.poll() {
                    break out;
                }
                assert!(
                    start.elapsed() < WATCHDOG,
                    "the reserved slot was lost: {:?}",
                    pool.stats()
                );
                thread::sleep(Duration::from_millis(1));
            };
            assert_eq!(out, Ok(5));
            drop(waiter);
            assert_quiet(&pool, 1);
        });
    }
}

// ---- configuration: reloads under calls in flight ------------------------------

#[cfg(feature = "config")]
mod reload {
    use super::*;
    use common::config_turn;
    use pool_runtime::{config, register_group, Group, GroupSpec, Kind};

    static SHRUNK_START: Group = Group::new(
        GroupSpec::new("r23rt::shrunk_start")
            .kind(Kind::Autoscale)
            .min(1)
            .max(8)
            .size(3),
    );
    register_group!(SHRUNK_START);

    /// Promises (README): "Reload applies changed limits to running pools at
    /// once (growing admits waiters, shrinking lets running calls finish)";
    /// "At every admission `running <= limit`"; (config, "Bounds") an
    /// autoscaled group's declared start is brought into the bounds a load
    /// gives; `Group::isolate`: "a fresh pool with the group's effective
    /// settings". Attack: an autoscaled group declared to start at 3 runs 3
    /// calls; a load gives `max = 2` while they run; 4 more callers queue;
    /// the 3 finish one by one. Every later body must start with at most 2
    /// bodies running (counted from outside), the pool's bounds say (1, 2),
    /// an instance isolated now starts at 2 within (1, 2), and all ends
    /// accounted.
    #[test]
    fn a_reload_shrinking_bounds_under_running_calls_admits_no_more_than_the_new_max() {
        let _turn = config_turn();
        within(WATCHDOG, || {
            let meter = Meter::default();
            let started = Arc::new(AtomicUsize::new(0));
            let mut holders = Vec::new();
            let mut releases = Vec::new();
            for _ in 0..3 {
                let (tx, rx) = mpsc::channel::<()>();
                releases.push(tx);
                let (meter, started) = (meter.clone(), started.clone());
                holders.push(thread::spawn(move || {
                    SHRUNK_START.run(|| {
                        let _inside = meter.enter();
                        started.fetch_add(1, SeqCst);
                        let _ = rx.recv_timeout(WATCHDOG);
                    })
                }));
            }
            let start = std::time::Instant::now();
            while started.load(SeqCst) < 3 {
                assert!(
                    start.elapsed() < WATCHDOG,
                    "3 calls never ran at once on 3 slots"
                );
                thread::sleep(Duration::from_millis(2));
            }
            let report =
                config::load_str("r23.toml", "[groups.\"r23rt::shrunk_start\"]\nmax = 2\n");
            let report = match report {
                Ok(r) => r.to_string(),
                Err(e) => {
                    config::clear();
                    panic!("the load failed: {e}");
                }
            };
            let bounds = SHRUNK_START.pool().bounds();
            #[cfg(feature = "test-util")]
            let isolated = {
                let mine = SHRUNK_START.isolate();
                let seen = (mine.pool().size(), mine.pool().bounds());
                drop(mine);
                Some(seen)
            };
            #[cfg(not(feature = "test-util"))]
            let isolated: Option<(usize, (usize, usize))> = None;
            let worst = Arc::new(AtomicUsize::new(0));
            let later: Vec<_> = (0..4)
                .map(|_| {
                    let (meter, worst) = (meter.clone(), worst.clone());
                    thread::spawn(move || {
                        SHRUNK_START.run(|| {
                            let inside = meter.enter();
                            worst.fetch_max(meter.now(), SeqCst);
                            thread::sleep(Duration::from_millis(5));
                            drop(inside);
                        })
                    })
                })
                .collect();
            for tx in releases {
                thread::sleep(Duration::from_millis(20));
                tx.send(()).unwrap();
            }
            let outs: Vec<_> = holders
                .into_iter()
                .chain(later)
                .map(|h| h.join().unwrap())
                .collect();
            let stats = SHRUNK_START.stats();
            config::clear();
            assert!(outs.iter().all(Result::is_ok), "{outs:?}");
            assert_eq!(bounds, (1, 2), "{report}");
            if let Some(isolated) = isolated {
                assert_eq!(isolated, (2, (1, 2)), "{report}");
            }
            assert!(
                worst.load(SeqCst) <= 2,
                "a call admitted after the reload ran beside {} bodies (max = 2): {report}",
                worst.load(SeqCst)
            );
            assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
            assert_accounted(&stats);
        });
    }

    static RELOADED: Group = Group::new(GroupSpec::new("r23rt::reloaded").size(2));
    register_group!(RELOADED);

    /// Promises (README): reloads apply changed limits at once; "At every
    /// admission `running <= limit`"; the lock order lets reads and calls
    /// race a reload without deadlock. Attack: 4 threads calling a fixed
    /// group of 2 (sync, nested, and a permit) while another thread reloads
    /// its size between 1 and 2 and clears the configuration, 150 times:
    /// no hang, never more than 2 bodies at once, the group's size is the
    /// declared 2 again once cleared, and every call is accounted.
    #[test]
    fn reloads_racing_calls_in_flight_never_exceed_the_largest_limit() {
        let _turn = config_turn();
        within(WATCHDOG, || {
            let meter = Meter::default();
            let stop = Arc::new(AtomicBool::new(false));
            let callers: Vec<_> = (0..4)
                .map(|i| {
                    let (meter, stop) = (meter.clone(), stop.clone());
                    thread::spawn(move || {
                        let mut n = 0u64;
                        while !stop.load(SeqCst) {
                            let out = match i % 3 {
                                0 => RELOADED.run(|| drop(meter.enter())),
                                1 => RELOADED.run(|| RELOADED.run(|| drop(meter.enter())).unwrap()),
                                _ => RELOADED.pool().try_acquire().map(|permit| {
                                    drop(meter.enter());
                                    drop(permit);
                                }),
                            };
                            assert!(matches!(out, Ok(()) | Err(Rejected::Full)), "{out:?}");
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            for i in 0..150 {
                let text = format!("[groups.\"r23rt::reloaded\"]\nsize = {}\n", 1 + i % 2);
                config::load_str("r23.toml", &text).unwrap();
                if i % 10 == 9 {
                    config::clear();
                }
                thread::sleep(Duration::from_millis(1));
            }
            config::clear();
            stop.store(true, SeqCst);
            let calls: u64 = callers.into_iter().map(|c| c.join().unwrap()).sum();
            assert!(calls > 0);
            let stats = RELOADED.stats();
            assert!(meter.max() <= 2, "{} bodies at once", meter.max());
            assert_eq!(RELOADED.size(), 2, "{stats:?}");
            assert_eq!(
                (stats.running, stats.nested, stats.waiting),
                (0, 0, 0),
                "{stats:?}"
            );
            assert_accounted(&stats);
        });
    }
}

/// Promise (README.md:468, "Faults lose nothing"): "A waker whose `clone`
/// panics is cloned before any state changes"; README.md:422, reentrancy
/// rule: "only one nested call at a time uses a parent's slot";
/// README.md:410 "Limits"; "Accounting" (nothing lost); (commit
/// c528f4d) a call whose first poll unwound on its way into the queue is
/// polled again or dropped, counted once. Attack: on a pool of 2, call G's
/// work lends its slot to nested call A (pending), then nested call B's
/// first poll (waiting for the lend) unwinds in its waker's `clone`; A and
/// B are kept out of G's work, G stays pending (alive, its lend still A's),
/// and a permit that held the pool's other slot meanwhile is dropped.
/// B, polled again outside any frame, is an independent call: it takes the
/// free slot, runs, and must give back *that* slot, not G's lend (which A
/// still borrows). Then a nested call C in G's work must wait for A, and
/// once all end every slot is back.
///
/// Observed: B, admitted to a free slot, keeps the lend it waited for at its
/// first poll (`under`); at its end it "returns" G's lend (clearing A's
/// borrow) instead of its slot: `running` stays 2 after B ends, `nested`
/// drops to 0 while A runs, and once all end one slot is lost for good and
/// `nested` underflows to `u64::MAX`.
#[test]
fn a_nested_call_whose_first_poll_unwound_polled_again_outside_gives_back_its_own_slot() {
    static ARMED: AtomicBool = AtomicBool::new(false);
    quiet_planned_panics();
    within(WATCHDOG, || {
        type Kept = (
            Pin<Box<dyn Future<Output = Result<(), Rejected>> + Send>>,
            Pin<Box<pool_runtime::Submit<'static, std::future::Ready<u8>>>>,
        );
        let pool: &'static Pool = Box::leak(Box::new(Pool::fixed(2)));
        let kept: Arc<std::sync::Mutex<Option<Kept>>> = Arc::default();
        let (ga, open_a) = gate();
        let (gg, open_g) = gate();
        let bad = waker_whose_clone_panics_once(&ARMED);
        // H holds the other slot while B first polls: B must queue.
        let holder = pool.try_acquire_owned(0).unwrap();
        let mut g = Task::new(pool.submit({
            let kept = kept.clone();
            async move {
                let noop = &mut Context::from_waker(Waker::noop());
                let mut a: Pin<Box<dyn Future<Output = Result<(), Rejected>> + Send>> =
                    Box::pin(pool.submit(ga));
                assert!(a.as_mut().poll(noop).is_pending(), "A borrows G's slot");
                let mut b = Box::pin(pool.submit(std::future::ready(2u8)));
                ARMED.store(true, SeqCst);
                let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    b.as_mut().poll(&mut Context::from_waker(&bad))
                }));
                ARMED.store(false, SeqCst);
                assert!(first.is_err(), "B's first poll unwinds in the clone");
                *kept.lock().unwrap() = Some((a, b));
                gg.await
            }
        }));
        g.assert_pending();
        let (mut a, mut b) = kept.lock().unwrap().take().unwrap();
        drop(holder);
        let before = pool.stats();
        let b_out = block_on_here(b.as_mut());
        assert_eq!(b_out, Ok(2));
        drop(b);
        let after_b = pool.stats();
        // G holds a slot, A runs under it: one slot free.
        let free = free_slots(pool);
        open_a.store(true, SeqCst);
        let noop = &mut Context::from_waker(Waker::noop());
        assert_eq!(a.as_mut().poll(noop), Poll::Ready(Ok(())));
        drop(a);
        open_g.store(true, SeqCst);
        assert_eq!(g.assert_ready(), Ok(()));
        drop(g);
        let end = pool.stats();
        assert_eq!(
            free, 1,
            "after B ended: before {before:?}, after {after_b:?}, end {end:?}"
        );
        assert_eq!(
            (after_b.running, after_b.nested),
            (1, 1),
            "G running, A nested: {after_b:?}"
        );
        assert_quiet(pool, 2);
    });
}
