//! Hostile tests, round 27 (runtime crate): a lent slot handed from one
//! nested call to the next while the receiving waiter is cancelled, its
//! waker panics, or its lender is gone; chains of lends; the ordered stream
//! adapter's panicked places under limits 1, 2 and unbounded, driven by
//! hand with a counting waker and on tokio; fleet calls nested across two
//! fleets with panics in the nested work, nested calls under a lost lease,
//! sync calls on the fleet's own thread; reload reports racing and
//! switching the policy. Each counts bodies from outside the library and
//! is bounded in time.

mod common;
#[cfg(feature = "redis")]
mod redis_server;

use common::{assert_accounted, gate, within, Meter};
use pool_runtime::Pool;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

const WATCHDOG: Duration = Duration::from_secs(20);

type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Counts the wakes it gets.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting() -> (Arc<Counting>, Waker) {
    let c = Arc::new(Counting::default());
    (c.clone(), Waker::from(c))
}

fn poll_with<T>(fut: &mut Boxed<T>, waker: &Waker) -> Poll<T> {
    fut.as_mut().poll(&mut Context::from_waker(waker))
}

/// Runs `body` as the work of one call of `pool`, polled by hand on this
/// thread (nested calls made in it see it as their parent), and returns
/// its output.
fn in_call<T: Send + 'static>(pool: &Pool, body: impl FnOnce() -> T + Send) -> T {
    let mut body = Some(body);
    let work = std::future::poll_fn(move |_| Poll::Ready((body.take().unwrap())()));
    let mut call = Box::pin(pool.submit(work));
    let (_c, waker) = counting();
    match call.as_mut().poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(out) => out.expect("the parent call ran"),
        Poll::Pending => panic!("the parent call did not start at once"),
    }
}

/// Promise (README, "Nested calls"; `Stats`): a call nested in a call of
/// the same pool runs under its slot, nested calls of one parent take the
/// lent slot in turn, and `submitted == completed + rejected + cancelled +
/// running + nested + waiting` at every step. Attack: three nested calls
/// wait for one lent slot; the first ends, handing the lend to the second,
/// which is cancelled before it is ever polled again (the moment the slot
/// is its). The third must be woken and run; nested is 0 at the end.
#[test]
fn a_nested_waiter_cancelled_as_the_lend_reaches_it_hands_it_on() {
    within(WATCHDOG, || {
        let pool = leaked(1);
        let meter = Meter::default();
        let p = pool;
        let m = meter.clone();
        in_call(pool, move || {
            let (g, open) = gate();
            let ma = m.clone();
            let mut a: Boxed<_> = Box::pin(p.submit(async move {
                let _in = ma.enter();
                g.await
            }));
            let mb = m.clone();
            let mut b: Boxed<_> = Box::pin(p.submit(async move {
                let _in = mb.enter();
            }));
            let mc = m.clone();
            let mut c: Boxed<_> = Box::pin(p.submit(async move {
                let _in = mc.enter();
            }));
            let (_wa, wa) = counting();
            let (wb_count, wb) = counting();
            let (wc_count, wc) = counting();
            assert!(poll_with(&mut a, &wa).is_pending());
            assert!(poll_with(&mut b, &wb).is_pending());
            assert!(poll_with(&mut c, &wc).is_pending());
            assert_accounted(&p.stats());
            open.store(true, Ordering::SeqCst);
            assert!(matches!(poll_with(&mut a, &wa), Poll::Ready(Ok(()))));
            assert_eq!(
                wb_count.0.load(Ordering::SeqCst),
                1,
                "b was handed the lend"
            );
            assert_accounted(&p.stats());
            drop(b);
            assert_accounted(&p.stats());
            assert!(
                wc_count.0.load(Ordering::SeqCst) >= 1,
                "the cancelled receiver handed the lend on: {:?}",
                p.stats()
            );
            assert!(matches!(poll_with(&mut c, &wc), Poll::Ready(Ok(()))));
            assert_eq!(m.max(), 1);
            let s = p.stats();
            assert_eq!(s.nested, 0, "{s:?}");
            assert_eq!(s.waiting, 0, "{s:?}");
            assert_accounted(&s);
        });
        let s = pool.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
        assert_eq!(s.cancelled, 1, "{s:?}");
        assert_accounted(&s);
        assert_eq!(meter.done(), 2);
    });
}

/// As above, but the receiving waiter's waker panics on `wake`: the
/// panic reaches the nested call that ended (documented: counts are right
/// before a waker is woken), and the receiver, polled, runs.
#[test]
fn a_nested_receiver_whose_waker_panics_still_gets_the_lend() {
    common::quiet_planned_panics();
    within(WATCHDOG, || {
        let pool = leaked(1);
        let p = pool;
        in_call(pool, move || {
            let (g, open) = gate();
            let mut a: Boxed<_> = Box::pin(p.submit(g));
            let mut b: Boxed<_> = Box::pin(p.submit(async { 7 }));
            let mut c: Boxed<_> = Box::pin(p.submit(async { 8 }));
            let (_wa, wa) = counting();
            let (wc_count, wc) = counting();
            assert!(poll_with(&mut a, &wa).is_pending());
            assert!(poll_with(&mut b, &common::panicking_waker()).is_pending());
            assert!(poll_with(&mut c, &wc).is_pending());
            open.store(true, Ordering::SeqCst);
            let ended =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_with(&mut a, &wa)));
            // Either the panic went on, or it was caught: a is done.
            if let Ok(polled) = ended {
                assert!(matches!(polled, Poll::Ready(Ok(()))));
            }
            assert_accounted(&p.stats());
            let (_wb, wb) = counting();
            assert!(matches!(poll_with(&mut b, &wb), Poll::Ready(Ok(7))));
            assert!(wc_count.0.load(Ordering::SeqCst) >= 1, "{:?}", p.stats());
            assert!(matches!(poll_with(&mut c, &wc), Poll::Ready(Ok(8))));
            let s = p.stats();
            assert_eq!((s.nested, s.waiting), (0, 0), "{s:?}");
            assert_accounted(&s);
        });
        let s = pool.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

/// Promise (README, "Nested calls": a nested call that outlives its parent
/// keeps its slot busy until it ends; nothing is lost). Attack: nested
/// calls polled once in the parent's work (one on the lend, two waiting
/// for it) are moved out and the parent ends (the lender is gone); then the
/// running one ends. The waiters must run one at a time, the pool's one
/// slot never doubled (an outside call waits meanwhile), and all counts go
/// back to 0.
#[test]
fn nested_waiters_whose_lender_is_gone_run_one_at_a_time_and_free_the_slot() {
    within(WATCHDOG, || {
        let pool = leaked(1);
        let meter = Meter::default();
        let p = pool;
        let m = meter.clone();
        let (g, open) = gate();
        let gates: Vec<_> = (0..2).map(|_| gate()).collect();
        let opens: Vec<_> = gates.iter().map(|(_, o)| o.clone()).collect();
        let mut gates: Vec<_> = gates.into_iter().map(|(g, _)| Some(g)).collect();
        let (wa_count, wa) = counting();
        let wakers: Vec<_> = (0..2).map(|_| counting()).collect();
        let ws: Vec<Waker> = wakers.iter().map(|(_, w)| w.clone()).collect();
        let (mut a, mut rest) = in_call(pool, move || {
            let ma = m.clone();
            let mut a: Boxed<Result<(), _>> = Box::pin(p.submit(async move {
                let _in = ma.enter();
                g.await
            }));
            assert!(poll_with(&mut a, &wa).is_pending());
            let mut rest: Vec<Boxed<Result<(), _>>> = Vec::new();
            for (i, w) in ws.iter().enumerate() {
                let mi = m.clone();
                let gi = gates[i].take().unwrap();
                let mut f: Boxed<Result<(), _>> = Box::pin(p.submit(async move {
                    let _in = mi.enter();
                    gi.await
                }));
                assert!(poll_with(&mut f, w).is_pending());
                rest.push(f);
            }
            (a, rest)
        });
        assert_accounted(&pool.stats());
        // An outside call must wait: the slot is still busy.
        let (wo_count, wo) = counting();
        let mo = meter.clone();
        let mut outside: Boxed<Result<(), _>> = Box::pin(pool.submit(async move {
            let _in = mo.enter();
        }));
        assert!(poll_with(&mut outside, &wo).is_pending());
        open.store(true, Ordering::SeqCst);
        let _ = wa_count;
        assert!(matches!(
            poll_with(&mut a, &counting().1),
            Poll::Ready(Ok(()))
        ));
        assert_accounted(&pool.stats());
        // Drive everything by hand until done, opening each gate in turn.
        let mut done = [false, false];
        let mut outside_done = false;
        for round in 0..50 {
            for i in 0..2 {
                if !done[i] {
                    if round > 2 {
                        opens[i].store(true, Ordering::SeqCst);
                    }
                    if let Poll::Ready(r) = poll_with(&mut rest[i], &ws_clone(&wakers[i].1)) {
                        r.unwrap();
                        done[i] = true;
                    }
                }
            }
            if !outside_done {
                if let Poll::Ready(r) = poll_with(&mut outside, &wo) {
                    r.unwrap();
                    outside_done = true;
                }
            }
            assert!(
                meter.max() <= 1,
                "two bodies at once in a pool of 1: {:?}",
                pool.stats()
            );
            assert_accounted(&pool.stats());
            if done == [true, true] && outside_done {
                break;
            }
        }
        let _ = wo_count;
        assert_eq!(done, [true, true], "{:?}", pool.stats());
        assert!(outside_done, "{:?}", pool.stats());
        let s = pool.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
        assert_accounted(&s);
        assert_eq!(meter.done(), 4);
    });
}

/// A leaf call's body: counted by `meter`, marks `entered`, then waits
/// for its gate.
fn leaf(
    pool: &'static Pool,
    meter: &Meter,
) -> (
    Boxed<Result<(), pool_runtime::Rejected>>,
    Arc<std::sync::atomic::AtomicBool>,
    Arc<std::sync::atomic::AtomicBool>,
) {
    let (g, open) = gate();
    let entered = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (m, e) = (meter.clone(), entered.clone());
    let fut: Boxed<_> = Box::pin(pool.submit(async move {
        let _in = m.enter();
        e.store(true, Ordering::SeqCst);
        g.await
    }));
    (fut, open, entered)
}

/// Promise (README, "Reentrancy rule"): "the server behind a pool of N
/// never sees more than N calls from it: only one nested call at a time
/// uses a parent's slot ... a nested call that outlives its parent keeps
/// the slot busy until it ends". Attack: a chain of lends in a pool of 1:
/// P's work makes nested A and B; A's work makes nested A1 (on A's lend)
/// and A2 (waiting for it), polled once and returned out of A; A ends
/// (its lender gone while A1 still runs under it), then P ends, B still
/// waiting, all moved out; an outside call O comes. Counted from outside,
/// the leaves A1, A2, B and O must run one at a time, all must end, and
/// the pool's counts go back to 0.
#[test]
fn a_chain_of_lends_outliving_its_lenders_runs_its_leaves_one_at_a_time() {
    within(WATCHDOG, || {
        let pool = leaked(1);
        let meter = Meter::default();
        let m = meter.clone();
        let mut leaves = in_call(pool, move || {
            let m2 = m.clone();
            let mut a: Boxed<Result<Vec<_>, _>> = Box::pin(pool.submit(async move {
                let (mut a1, o1, e1) = leaf(pool, &m2);
                let (mut a2, o2, e2) = leaf(pool, &m2);
                std::future::poll_fn(|cx| {
                    assert!(a1.as_mut().poll(cx).is_pending());
                    assert!(a2.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
                vec![(a1, o1, e1), (a2, o2, e2)]
            }));
            let (mut b, ob, eb) = leaf(pool, &m);
            let (_wa, wa) = counting();
            let Poll::Ready(Ok(mut out)) = poll_with(&mut a, &wa) else {
                panic!("A did not end at once")
            };
            let (_wb, wb) = counting();
            assert!(poll_with(&mut b, &wb).is_pending());
            assert_accounted(&pool.stats());
            out.push((b, ob, eb));
            out
        });
        leaves.push(leaf(pool, &meter));
        let waker = counting().1;
        let mut done = vec![false; leaves.len()];
        for round in 0..100 {
            for (i, (f, open, entered)) in leaves.iter_mut().enumerate() {
                if done[i] {
                    continue;
                }
                if round >= 4 && entered.load(Ordering::SeqCst) {
                    open.store(true, Ordering::SeqCst);
                }
                if let Poll::Ready(r) = poll_with(f, &waker) {
                    r.unwrap();
                    done[i] = true;
                }
            }
            assert!(
                meter.max() <= 1,
                "{} leaf bodies at once in a pool of 1 (round {round}): {:?}",
                meter.max(),
                pool.stats()
            );
            assert_accounted(&pool.stats());
            if done.iter().all(|d| *d) {
                break;
            }
        }
        assert!(done.iter().all(|d| *d), "{done:?} {:?}", pool.stats());
        let s = pool.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
        assert_accounted(&s);
        assert_eq!(meter.done(), 4);
    });
}

/// Promise (README, "Reentrancy rule" and `Stats`; `admission/core.rs`
/// `return_lend`: "every count is taken before a waiter is woken"). Attack,
/// across threads: nested A runs on the lent slot, B and C wait for it; A
/// ends on one thread at the moment B is cancelled on another (a barrier
/// lines them up), 500 times. Each time C must get the slot (woken, then
/// ready when polled), `nested` and `waiting` go back to 0, the identity
/// holds, and after the parent the pool's slot is free.
#[test]
fn a_lend_returned_while_its_receiver_is_cancelled_on_another_thread() {
    within(Duration::from_secs(30), || {
        let pool = leaked(1);
        for _ in 0..500 {
            in_call(pool, move || {
                let (g, open) = gate();
                let mut a: Boxed<Result<(), _>> = Box::pin(pool.submit(g));
                let mut b: Boxed<Result<(), _>> = Box::pin(pool.submit(async {}));
                let mut c: Boxed<Result<(), _>> = Box::pin(pool.submit(async {}));
                let (_wa, wa) = counting();
                let (_wb, wb) = counting();
                let (wc_count, wc) = counting();
                assert!(poll_with(&mut a, &wa).is_pending());
                assert!(poll_with(&mut b, &wb).is_pending());
                assert!(poll_with(&mut c, &wc).is_pending());
                let barrier = Arc::new(std::sync::Barrier::new(2));
                let b2 = barrier.clone();
                let ender = std::thread::spawn(move || {
                    open.store(true, Ordering::SeqCst);
                    b2.wait();
                    assert!(matches!(poll_with(&mut a, &wa), Poll::Ready(Ok(()))));
                });
                let b3 = barrier.clone();
                let canceller = std::thread::spawn(move || {
                    b3.wait();
                    // Polled again (maybe admitted by now) or not: dropped.
                    if std::hint::black_box(true) {
                        drop(b);
                    }
                });
                ender.join().unwrap();
                canceller.join().unwrap();
                assert!(
                    wc_count.0.load(Ordering::SeqCst) >= 1 || poll_with(&mut c, &wc).is_ready(),
                    "C was never handed the lend: {:?}",
                    pool.stats()
                );
                let mut polls = 0;
                while poll_with(&mut c, &wc).is_pending() {
                    polls += 1;
                    assert!(polls < 3, "C woken but not admitted: {:?}", pool.stats());
                }
                let s = pool.stats();
                assert_eq!((s.nested, s.waiting), (0, 0), "{s:?}");
                assert_accounted(&s);
            });
            let s = pool.stats();
            assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
            assert_accounted(&s);
        }
        assert!(pool.try_acquire().is_ok(), "{:?}", pool.stats());
    });
}

/// Promise (README: a waker is user code the pools run with no lock held,
/// its panic caught or passed on after the counts are right; "nothing is
/// lost"). Attack: nested B waits for the lent slot with a waker whose
/// clone panics (B's poll panics as it registers), then is polled again
/// with a waker whose drop panics, and is cancelled (its waker dropped by
/// the pool: the drop panics); nested C waits behind it. When A, on the
/// lend, ends, C must get the slot; `nested`/`waiting` back to 0 and the
/// identity holding after every step.
#[test]
fn nested_waiters_with_wakers_that_panic_on_clone_and_drop_leave_the_lend_whole() {
    common::quiet_planned_panics();
    static CLONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    static DROP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    within(WATCHDOG, || {
        let pool = leaked(1);
        in_call(pool, move || {
            let (g, open) = gate();
            let mut a: Boxed<Result<(), _>> = Box::pin(pool.submit(g));
            let mut b: Boxed<Result<u32, _>> = Box::pin(pool.submit(async { 7 }));
            let mut c: Boxed<Result<u32, _>> = Box::pin(pool.submit(async { 8 }));
            let (_wa, wa) = counting();
            let (wc_count, wc) = counting();
            assert!(poll_with(&mut a, &wa).is_pending());
            CLONE.store(true, Ordering::SeqCst);
            let clone_panics = common::waker_whose_clone_panics_once(&CLONE);
            let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                poll_with(&mut b, &clone_panics)
            }));
            CLONE.store(false, Ordering::SeqCst);
            if let Ok(p) = polled {
                assert!(p.is_pending());
            }
            eprintln!("AFTER CLONE PANIC {:?}", pool.stats());
            let drop_panics = common::waker_whose_drop_panics(&DROP);
            assert!(poll_with(&mut b, &drop_panics).is_pending());
            assert!(poll_with(&mut c, &wc).is_pending());
            eprintln!("AFTER REPOLL {:?}", pool.stats());
            assert_accounted(&pool.stats());
            DROP.store(true, Ordering::SeqCst);
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(b)));
            DROP.store(false, Ordering::SeqCst);
            let _ = dropped;
            drop(drop_panics);
            let s = pool.stats();
            assert_accounted(&s);
            assert_eq!(s.waiting, 1, "C alone waits: {s:?}");
            open.store(true, Ordering::SeqCst);
            assert!(matches!(poll_with(&mut a, &wa), Poll::Ready(Ok(()))));
            assert!(wc_count.0.load(Ordering::SeqCst) >= 1, "{:?}", pool.stats());
            assert!(matches!(poll_with(&mut c, &wc), Poll::Ready(Ok(8))));
            let s = pool.stats();
            assert_eq!((s.nested, s.waiting), (0, 0), "{s:?}");
            assert_accounted(&s);
        });
        let s = pool.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
        assert_accounted(&s);
        assert!(pool.try_acquire().is_ok());
    });
}

/// Promise (README, "Faults lose nothing": "A waker whose `clone` panics is
/// cloned before any state changes"; `Stats`: "A call is submitted when it
/// is first polled" and `submitted == completed + rejected + cancelled +
/// running + nested + waiting`, "exact while nothing enters or leaves the
/// pool"). Attack: a nested call that must wait for the lent slot is first
/// polled with a waker whose clone panics, then dropped without another
/// poll (a task that unwinds drops its futures). The call left the pool:
/// either it was never submitted, or it is counted cancelled; after the
/// parent ends the identity must hold.
#[test]
fn a_nested_waiter_whose_first_clone_panics_then_dropped_is_accounted() {
    common::quiet_planned_panics();
    static CLONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    within(WATCHDOG, || {
        let pool = leaked(1);
        let after_drop = in_call(pool, move || {
            let (g, open) = gate();
            let mut a: Boxed<Result<(), _>> = Box::pin(pool.submit(g));
            let mut b: Boxed<Result<u32, _>> = Box::pin(pool.submit(async { 7 }));
            let (_wa, wa) = counting();
            assert!(poll_with(&mut a, &wa).is_pending());
            CLONE.store(true, Ordering::SeqCst);
            let clone_panics = common::waker_whose_clone_panics_once(&CLONE);
            let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                poll_with(&mut b, &clone_panics)
            }));
            CLONE.store(false, Ordering::SeqCst);
            assert!(polled.is_err(), "the clone's panic reaches the poller");
            let during = pool.stats();
            drop(b);
            let after_drop = pool.stats();
            open.store(true, Ordering::SeqCst);
            assert!(matches!(poll_with(&mut a, &wa), Poll::Ready(Ok(()))));
            (during, after_drop)
        });
        let s = pool.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
        assert_accounted(&after_drop.1);
        assert_accounted(&s);
    });
}

/// Promise (README, "Faults lose nothing": "A waker whose `clone` panics is
/// cloned before any state changes"; `Stats`: "A call is submitted when it
/// is first polled" and `submitted == completed + rejected + cancelled +
/// running + nested + waiting`, "exact while nothing enters or leaves the
/// pool"). Attack: a nested call that must wait for the lent slot is first
/// polled with a waker whose clone panics, then dropped without another
/// poll (a task that unwinds drops its futures). The call left the pool:
/// either it was never submitted, or it is counted cancelled; after the
/// parent ends the identity must hold. This one checks the moment
/// between the panicked poll and the drop (the call alive, not polled
/// again): the identity is off by one there.
#[test]
#[ignore = "documented (README, Accounting: the identity is exact while nothing enters or leaves the pool): a call whose first poll unwound on its way into the queue is still entering until it is polled again or dropped"]
fn a_nested_waiter_whose_first_clone_panicked_is_accounted_while_it_lives() {
    common::quiet_planned_panics();
    static CLONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    within(WATCHDOG, || {
        let pool = leaked(1);
        let after_drop = in_call(pool, move || {
            let (g, open) = gate();
            let mut a: Boxed<Result<(), _>> = Box::pin(pool.submit(g));
            let mut b: Boxed<Result<u32, _>> = Box::pin(pool.submit(async { 7 }));
            let (_wa, wa) = counting();
            assert!(poll_with(&mut a, &wa).is_pending());
            CLONE.store(true, Ordering::SeqCst);
            let clone_panics = common::waker_whose_clone_panics_once(&CLONE);
            let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                poll_with(&mut b, &clone_panics)
            }));
            CLONE.store(false, Ordering::SeqCst);
            assert!(polled.is_err(), "the clone's panic reaches the poller");
            let during = pool.stats();
            drop(b);
            let after_drop = pool.stats();
            open.store(true, Ordering::SeqCst);
            assert!(matches!(poll_with(&mut a, &wa), Poll::Ready(Ok(()))));
            (during, after_drop)
        });
        let s = pool.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
        assert_accounted(&after_drop.0);
        assert_accounted(&after_drop.1);
        assert_accounted(&s);
    });
}

/// Promise (README, "Reentrancy rule"): "A *sync* nested call that would
/// have to wait while the slot is lent to another nested call of the same
/// task ... panics naming the fix ... instead of deadlocking; waiting for a
/// slot lent to a blocking job, which runs on another thread, is fine";
/// "nothing hangs". Attack: in a pool of 1, the parent's work starts a
/// nested blocking job J (the lend goes to it, on the executor's thread),
/// then an async nested call C of the same task (it waits for the lend),
/// then makes a sync nested call S, which waits for the slot lent to the
/// blocking job: documented as fine. When J ends, its `return_lend` hands
/// the lend to the first nested waiter, C, which only this task can poll,
/// and this task's thread is parked in S.
#[test]
#[ignore = "a documented limit (README, Reentrancy rule): a sync nested call waiting for a slot lent to a blocking job, behind an async nested call of the same task queued first, deadlocks; not yet detected"]
fn a_sync_nested_call_waiting_for_a_blocking_jobs_lend_behind_an_async_sibling() {
    sync_behind_blocking(true);
}

/// The control of the test above: without the async sibling C, the sync
/// nested call waits for the blocking job's lend and gets it.
#[test]
fn a_sync_nested_call_waiting_for_a_blocking_jobs_lend_alone() {
    sync_behind_blocking(false);
}

fn sync_behind_blocking(sibling: bool) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let pool = leaked(1);
        let rt = common::runtime();
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(pool.submit(async move {
                let (open_j, gate_j) = {
                    let g = Arc::new(std::sync::atomic::AtomicBool::new(false));
                    (g.clone(), g)
                };
                let mut j: Boxed<Result<u32, _>> = Box::pin(pool.submit_blocking(move || {
                    let t0 = std::time::Instant::now();
                    while !gate_j.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(20) {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    1
                }));
                let mut c: Boxed<Result<u32, _>> = Box::pin(pool.submit(async { 8 }));
                std::future::poll_fn(|cx| {
                    assert!(j.as_mut().poll(cx).is_pending());
                    if sibling {
                        assert!(c.as_mut().poll(cx).is_pending());
                    }
                    Poll::Ready(())
                })
                .await;
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(200));
                    open_j.store(true, Ordering::SeqCst);
                });
                let s = pool.run(|| 5);
                (s, j.await, c.await)
            }))
        }));
        let _ = tx.send(out.map_err(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        }));
        std::mem::forget(rt);
    });
    let out = rx
        .recv_timeout(Duration::from_secs(6))
        .expect("hung: the sync nested call, the blocking job's lend and the async sibling");
    assert_eq!(out, Ok(Ok((Ok(5), Ok(1), Ok(8)))));
}

/// A pool that lives as long as the test binary (its calls are boxed as
/// `'static`).
fn leaked(size: usize) -> &'static Pool {
    Box::leak(Box::new(Pool::fixed(size)))
}

fn ws_clone(w: &Waker) -> Waker {
    w.clone()
}

#[cfg(feature = "stream")]
mod ordered {
    use super::*;
    use futures::Stream;
    use pool_runtime::PooledStreamExt;

    /// What an item of the source does.
    #[derive(Clone, Copy, Debug)]
    enum Step {
        /// A future that is ready at once with its place.
        Now,
        /// A future that yields once (waking itself) first.
        Later,
        /// A future that panics on its first poll.
        Panic,
        /// A future that yields once, then panics.
        PanicLater,
        /// The source is pending once (waking itself) before its next item.
        SourcePending,
        /// The source panics once before its next item.
        SourcePanic,
    }

    struct Source {
        steps: Vec<Step>,
        at: usize,
        place: usize,
        meter: Meter,
    }

    impl Stream for Source {
        type Item = Boxed<usize>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Boxed<usize>>> {
            let Some(step) = self.steps.get(self.at).copied() else {
                return Poll::Ready(None);
            };
            match step {
                Step::SourcePending => {
                    self.at += 1;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Step::SourcePanic => {
                    self.at += 1;
                    panic!("planned: the source panics");
                }
                _ => {}
            }
            self.at += 1;
            let place = self.place;
            self.place += 1;
            let meter = self.meter.clone();
            let mut yielded = false;
            Poll::Ready(Some(Box::pin(std::future::poll_fn(move |cx| {
                let _in = meter.enter();
                match step {
                    Step::Now => Poll::Ready(place),
                    Step::Panic => panic!("planned: item {place} panics"),
                    Step::Later | Step::PanicLater if !yielded => {
                        yielded = true;
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                    Step::Later => Poll::Ready(place),
                    _ => panic!("planned: item {place} panics late"),
                }
            }))))
        }
    }

    fn is_item(step: Step) -> bool {
        matches!(
            step,
            Step::Now | Step::Later | Step::Panic | Step::PanicLater
        )
    }

    /// Drives the ordered adapter by hand to its end, catching panics;
    /// every `Pending` must have woken the task (else a real executor would
    /// never poll again). Returns the outputs and the panics seen.
    fn drive(steps: &[Step], size: usize, limit: Option<usize>) -> (Vec<usize>, usize, Meter) {
        let pool = Pool::fixed(size);
        let out = drive_on(&pool, steps, size, limit);
        let s = pool.stats();
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
        assert_accounted(&s);
        out
    }

    fn drive_on(
        pool: &Pool,
        steps: &[Step],
        size: usize,
        limit: Option<usize>,
    ) -> (Vec<usize>, usize, Meter) {
        use futures::stream::FusedStream;
        let outputs = steps
            .iter()
            .filter(|s| matches!(s, Step::Now | Step::Later))
            .count();
        let meter = Meter::default();
        let source = Source {
            steps: steps.to_vec(),
            at: 0,
            place: 0,
            meter: meter.clone(),
        };
        let adapter = source.pooled_ordered(pool);
        let adapter = match limit {
            Some(l) => adapter.limit(l),
            None => adapter,
        };
        let mut adapter = Box::pin(adapter);
        let (count, waker) = counting();
        let mut outs = Vec::new();
        let mut panics = 0;
        let mut polls = 0;
        loop {
            polls += 1;
            assert!(
                polls < 10_000,
                "no end: {steps:?} size {size} limit {limit:?}"
            );
            let before = count.0.load(Ordering::SeqCst);
            let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
                adapter.as_mut().poll_next(&mut Context::from_waker(&waker))
            }));
            match polled {
                Err(_) => panics += 1,
                Ok(Poll::Ready(Some(out))) => outs.push(out.expect("admitted")),
                Ok(Poll::Ready(None)) => break,
                Ok(Poll::Pending) => assert!(
                    count.0.load(Ordering::SeqCst) > before,
                    "Pending without a wake (lost wake-up): {steps:?} size {size} \
                     limit {limit:?}, outputs so far {outs:?}, {:?}",
                    pool.stats()
                ),
            }
            assert!(
                meter.max() <= size,
                "{} bodies in a pool of {size}",
                meter.max()
            );
            let remaining = outputs - outs.len();
            let (_, upper) = adapter.size_hint();
            assert!(
                upper.is_none_or(|u| u >= remaining),
                "size_hint {:?} below the {remaining} outputs still to come: {steps:?} \
                 size {size} limit {limit:?}",
                adapter.size_hint()
            );
            if adapter.is_terminated() {
                assert_eq!(remaining, 0, "terminated with outputs to come: {steps:?}");
            }
        }
        drop(adapter);
        (outs, panics, meter)
    }

    use std::panic::AssertUnwindSafe;

    /// Promise (module docs of `stream`, "Panics"): "an adapter polled again
    /// after it ... goes on with the other items and ends ... the ordered
    /// adapter skips the panicked item's place"; outputs in input order; at
    /// most `size` running. Attack: every pattern of 5 items each ready at
    /// once, ready after a yield, panicking at once or after a yield, under
    /// pools of 1, 2 and 3 and limits 1, 2 and none, driven by hand with a
    /// counting waker.
    #[test]
    fn ordered_adapter_under_every_panic_pattern_keeps_order_and_wakes() {
        common::quiet_planned_panics();
        within(Duration::from_secs(60), || {
            let kinds = [Step::Now, Step::Later, Step::Panic, Step::PanicLater];
            for code in 0..4usize.pow(5) {
                let steps: Vec<Step> = (0..5).map(|i| kinds[(code >> (2 * i)) & 3]).collect();
                let expect: Vec<usize> = steps
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| matches!(s, Step::Now | Step::Later))
                    .map(|(i, _)| i)
                    .collect();
                let expect_panics = 5 - expect.len();
                for size in [1, 2, 3] {
                    for limit in [Some(1), Some(2), None] {
                        let (outs, panics, _) = drive(&steps, size, limit);
                        assert_eq!(outs, expect, "{steps:?} size {size} limit {limit:?}");
                        assert_eq!(
                            panics, expect_panics,
                            "{steps:?} size {size} limit {limit:?}"
                        );
                    }
                }
            }
        });
    }

    /// Promise (README, "Reentrancy rule": nested calls take the parent's
    /// slot one at a time; stream docs: a panic frees its slot, the ordered
    /// adapter skips its place and goes on). Attack: the ordered adapter
    /// driven by hand inside a call of its own pool of 1, so every item is
    /// a nested call waiting for the lent slot, under every pattern of
    /// 4 items panicking at once or after a yield: the lend must pass from
    /// each ended or panicked item to the next, bodies one at a time, no
    /// Pending without a wake, and `nested`/`waiting` back to 0.
    #[test]
    fn ordered_adapter_of_nested_calls_hands_the_lend_on_past_panics() {
        common::quiet_planned_panics();
        within(Duration::from_secs(60), || {
            let kinds = [Step::Now, Step::Later, Step::Panic, Step::PanicLater];
            let pool = leaked(1);
            for code in 0..4usize.pow(4) {
                let steps: Vec<Step> = (0..4).map(|i| kinds[(code >> (2 * i)) & 3]).collect();
                let expect: Vec<usize> = steps
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| matches!(s, Step::Now | Step::Later))
                    .map(|(i, _)| i)
                    .collect();
                for limit in [Some(1), Some(2), None] {
                    let st = steps.clone();
                    let (outs, panics, meter) =
                        in_call(pool, move || drive_on(pool, &st, 1, limit));
                    assert_eq!(outs, expect, "{steps:?} limit {limit:?}");
                    assert_eq!(panics, 4 - expect.len(), "{steps:?} limit {limit:?}");
                    assert!(meter.max() <= 1);
                    let s = pool.stats();
                    assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
                    assert_accounted(&s);
                }
            }
        });
    }

    /// Promise (stream module docs: outputs in input order, a panic frees
    /// its slot and the adapter goes on; "Dropping an adapter drops every
    /// call it started ... a running one drops its future and frees its
    /// slot"). Attack on a real executor: 60 items on a pool of 2, every
    /// ninth panicking after a sleep, the consumer catching panics; run
    /// once to the end, then once dropped after 15 outputs, for limits 1, 2
    /// and none. Outputs in order, at most 2 bodies (counted from outside),
    /// no hang, and nothing left in the pool after each.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ordered_adapter_on_tokio_with_panics_and_an_early_drop() {
        use futures::{FutureExt, StreamExt};
        common::quiet_planned_panics();
        let pool: &'static Pool = leaked(2);
        for limit in [Some(1), Some(2), None] {
            for stop_after in [usize::MAX, 15] {
                let meter = Meter::default();
                let m = meter.clone();
                let items = futures::stream::iter(0..60usize).map(move |i| {
                    let m = m.clone();
                    async move {
                        let _in = m.enter();
                        tokio::time::sleep(Duration::from_millis((i * 7 % 5) as u64)).await;
                        if i % 9 == 4 {
                            panic!("planned: item {i} panics");
                        }
                        i
                    }
                });
                let adapter = items.pooled_ordered(pool);
                let mut adapter = Box::pin(match limit {
                    Some(l) => adapter.limit(l),
                    None => adapter,
                });
                let mut outs = Vec::new();
                let mut panics = 0;
                let run = async {
                    loop {
                        match std::panic::AssertUnwindSafe(adapter.next())
                            .catch_unwind()
                            .await
                        {
                            Err(_) => panics += 1,
                            Ok(Some(out)) => {
                                outs.push(out.unwrap());
                                if outs.len() >= stop_after {
                                    break;
                                }
                            }
                            Ok(None) => break,
                        }
                    }
                };
                tokio::time::timeout(Duration::from_secs(20), run)
                    .await
                    .expect("the ordered adapter hung");
                drop(adapter);
                assert!(
                    outs.windows(2).all(|w| w[0] < w[1]),
                    "out of order: {outs:?}"
                );
                assert!(outs.iter().all(|i| i % 9 != 4));
                if stop_after == usize::MAX {
                    let expect: Vec<usize> = (0..60).filter(|i| i % 9 != 4).collect();
                    assert_eq!(outs, expect, "limit {limit:?}");
                    assert_eq!(panics, 60 - expect.len());
                }
                assert!(
                    meter.max() <= 2,
                    "{} bodies at once in a pool of 2",
                    meter.max()
                );
                assert_eq!(meter.now(), 0, "a body still running after the drop");
                let s = pool.stats();
                assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
                assert_accounted(&s);
            }
        }
    }

    /// As above, with a source that is pending (waking itself) or panics
    /// between items.
    #[test]
    fn ordered_adapter_over_a_source_that_is_pending_or_panics() {
        common::quiet_planned_panics();
        within(Duration::from_secs(60), || {
            let kinds = [
                Step::Now,
                Step::Later,
                Step::Panic,
                Step::SourcePending,
                Step::SourcePanic,
            ];
            for code in 0..5usize.pow(5) {
                let mut c = code;
                let steps: Vec<Step> = (0..5)
                    .map(|_| {
                        let k = kinds[c % 5];
                        c /= 5;
                        k
                    })
                    .collect();
                let items: Vec<Step> = steps.iter().copied().filter(|s| is_item(*s)).collect();
                let expect: Vec<usize> = items
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| matches!(s, Step::Now | Step::Later))
                    .map(|(i, _)| i)
                    .collect();
                let expect_panics = steps
                    .iter()
                    .filter(|s| matches!(s, Step::Panic | Step::SourcePanic))
                    .count();
                for size in [1, 2] {
                    for limit in [Some(1), None] {
                        let (outs, panics, _) = drive(&steps, size, limit);
                        assert_eq!(outs, expect, "{steps:?} size {size} limit {limit:?}");
                        assert_eq!(
                            panics, expect_panics,
                            "{steps:?} size {size} limit {limit:?}"
                        );
                    }
                }
            }
        });
    }
}

#[cfg(feature = "config")]
mod reports {
    use super::*;
    use common::config_turn;
    use pool_runtime::{config, register_group, Group, GroupSpec, Kind};

    static SWITCH: Group = Group::new(
        GroupSpec::new("adv27::switch")
            .kind(Kind::Autoscale)
            .min(1)
            .max(4),
    );
    register_group!(SWITCH);

    fn rows(report: &config::Report, group: &str) -> Vec<(String, String, String)> {
        report
            .changes
            .iter()
            .filter(|c| c.group == group)
            .map(|c| (c.setting.to_owned(), c.from.clone(), c.to.clone()))
            .collect()
    }

    /// Promise (README, Configuration): a reload "returns a report of what
    /// changed and when it takes effect (kind, order, `policy` and its
    /// `adaptive_*` parameters, ...)"; `Change::setting` is "the setting's
    /// name, as in the file"; and bounds a kind does not have read `none`
    /// when a load moves a group to or from that kind
    /// (`group/reconfigure.rs`). Attack: one load that turns the policy to
    /// `adaptive` AND sets `adaptive_tolerance = 1.9`, then one that sets
    /// the policy back: the tolerance the group runs with changed both
    /// times (from none to 1.9, from 1.9 to none), as `min`/`max` change
    /// from and to `none` with a kind. The report names only `policy`.
    #[test]
    fn a_policy_switch_reports_the_adaptive_parameters_it_brings_and_drops() {
        let _turn = config_turn();
        assert_eq!(SWITCH.size(), 1);
        let on = config::load_str(
            "s.toml",
            "[groups.\"adv27::switch\"]\npolicy = \"adaptive\"\nadaptive_tolerance = 1.9\n",
        )
        .unwrap();
        let off = config::load_str("s.toml", "[groups.\"adv27::switch\"]\n").unwrap();
        config::clear();
        let on_rows = rows(&on, "adv27::switch");
        let off_rows = rows(&off, "adv27::switch");
        assert!(
            on_rows
                .iter()
                .any(|(s, _, to)| s == "adaptive_tolerance" && to == "1.9"),
            "the load that set adaptive_tolerance = 1.9 does not report it: {on}"
        );
        assert!(
            off_rows
                .iter()
                .any(|(s, from, _)| s == "adaptive_tolerance" && from == "1.9"),
            "the load that dropped adaptive_tolerance = 1.9 does not report it: {off}"
        );
    }

    static RACED: Group = Group::new(GroupSpec::new("adv27::raced").size(2));
    register_group!(RACED);

    /// Promise (README, Configuration: a reload applies to running pools
    /// and "returns a report of what changed"; "no more than the limit
    /// runs at once"). Attack: two threads reload `size = 2` and
    /// `size = 5` as fast as they can while eight callers run calls; the
    /// bodies counted from outside never exceed 5, the reports form one
    /// chain (as many 2 -> 5 rows as 5 -> 2 rows, give or take the last),
    /// each row's `from` being the size the group had, and the group ends
    /// at the size of the last load, with every call accounted for.
    #[test]
    fn racing_reloads_report_one_chain_and_keep_the_limit() {
        let _turn = config_turn();
        within(WATCHDOG, || {
            config::load_str("r.toml", "[groups.\"adv27::raced\"]\nsize = 2\n").unwrap();
            assert_eq!(RACED.size(), 2);
            let meter = Meter::default();
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let mut callers = Vec::new();
            for _ in 0..8 {
                let (m, stop) = (meter.clone(), stop.clone());
                callers.push(std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        RACED
                            .run(|| {
                                let _in = m.enter();
                                std::thread::yield_now();
                            })
                            .unwrap();
                    }
                }));
            }
            let reloaders: Vec<_> = [2, 5]
                .into_iter()
                .map(|size| {
                    std::thread::spawn(move || {
                        let text = format!("[groups.\"adv27::raced\"]\nsize = {size}\n");
                        let mut rows = Vec::new();
                        for _ in 0..200 {
                            let report = config::load_str("r.toml", &text).unwrap();
                            rows.extend(rows_of(&report));
                        }
                        rows
                    })
                })
                .collect();
            let mut all = Vec::new();
            for r in reloaders {
                all.extend(r.join().unwrap());
            }
            stop.store(true, Ordering::SeqCst);
            for c in callers {
                c.join().unwrap();
            }
            let up = all
                .iter()
                .filter(|r| *r == &("2".into(), "5".into()))
                .count();
            let down = all
                .iter()
                .filter(|r| *r == &("5".into(), "2".into()))
                .count();
            assert_eq!(
                up + down,
                all.len(),
                "rows that are no step of the chain: {all:?}"
            );
            let size = RACED.size();
            let expect = if up == down + 1 { 5 } else { 2 };
            assert!(up == down || up == down + 1, "{up} up, {down} down");
            assert_eq!(size, expect, "{up} up, {down} down");
            assert!(meter.max() <= 5, "{} bodies at once", meter.max());
            let s = RACED.stats();
            assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
            assert_accounted(&s);
            config::clear();
        });
    }

    fn rows_of(report: &config::Report) -> Vec<(String, String)> {
        report
            .changes
            .iter()
            .filter(|c| c.group == "adv27::raced")
            .map(|c| {
                assert_eq!(c.setting, "size", "{report}");
                (c.from.clone(), c.to.clone())
            })
            .collect()
    }
}

#[cfg(feature = "redis")]
mod fleets {
    use super::*;
    use crate::redis_server::*;
    use futures::FutureExt;
    use pool_runtime::fleet::{token, OnUnreachable};
    use pool_runtime::Rejected;
    use std::sync::Mutex;

    /// Promise (`pool_runtime::fleet`, nested calls; commit "a call nested
    /// through another fleet group's call runs under its ancestor's
    /// lease"): a call of fleet `X` nested (through calls of `Y`) in the
    /// work of a call of `X` runs under that call's lease, never waiting
    /// for it. Attack: X -> Y -> X -> Y, four deep, async, each fleet of
    /// limit 1, while outside callers of X and Y on other tasks compete;
    /// the innermost work panics on every other round (caught by the
    /// caller around it). Top-level bodies (counted from outside) never
    /// exceed 1 per fleet, nothing hangs, each inner token is its
    /// ancestor's, and after every round the thread has no fleet parent
    /// left (`token()` is `None`) and no lease is held.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn x_y_x_y_nesting_with_panics_keeps_each_fleet_limit_and_the_thread_clean() {
        common::quiet_planned_panics();
        let server = RedisServer::start();
        let x = fleet_group("r27_x", &server, 1, OnUnreachable::Wait);
        let y = fleet_group("r27_y", &server, 1, OnUnreachable::Wait);
        let (mx, my) = (Meter::default(), Meter::default());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut outside = Vec::new();
        for (g, m) in [(x, mx.clone()), (y, my.clone())] {
            let stop = stop.clone();
            outside.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let m = m.clone();
                    g.submit(0, async move {
                        let _in = m.enter();
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    })
                    .await
                    .unwrap();
                }
            }));
        }
        for round in 0..6 {
            let (mx2, my2) = (mx.clone(), my.clone());
            let out = tokio::time::timeout(
                Duration::from_secs(15),
                tokio::spawn(async move {
                    x.submit(0, async move {
                        let _in = mx2.enter();
                        let tx = token();
                        assert!(tx.is_some());
                        let inner = y
                            .submit(0, async move {
                                let _in = my2.enter();
                                let ty = token();
                                assert!(ty.is_some() && ty != tx);
                                let deep = x
                                    .submit(0, async move {
                                        assert_eq!(token(), tx, "X nested under the outer X");
                                        tokio::task::yield_now().await;
                                        let deepest =
                                            std::panic::AssertUnwindSafe(y.submit(0, async move {
                                                assert_eq!(token(), ty, "Y under the outer Y");
                                                tokio::task::yield_now().await;
                                                if round % 2 == 1 {
                                                    panic!("planned: innermost work panics");
                                                }
                                                round
                                            }))
                                            .catch_unwind()
                                            .await;
                                        assert_eq!(token(), tx);
                                        deepest
                                    })
                                    .await
                                    .unwrap();
                                assert_eq!(token(), ty);
                                deep
                            })
                            .await
                            .unwrap();
                        assert_eq!(token(), tx);
                        inner
                    })
                    .await
                }),
            )
            .await
            .expect("X -> Y -> X -> Y hung under limits of 1")
            .unwrap()
            .unwrap();
            match out {
                Ok(Ok(r)) => assert_eq!(r, round),
                Ok(Err(_)) => panic!("rejected"),
                Err(_) => assert_eq!(round % 2, 1, "only the planned panic"),
            }
            assert_eq!(token(), None);
        }
        stop.store(true, Ordering::SeqCst);
        for o in outside {
            tokio::time::timeout(Duration::from_secs(15), o)
                .await
                .expect("an outside caller hung")
                .unwrap();
        }
        assert!(mx.max() <= 1, "{} top-level X bodies at once", mx.max());
        assert!(
            my.max() <= 2,
            "the outer Y is nested in X: its body and one top-level Y"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while x.fleet_stats().unwrap().held + y.fleet_stats().unwrap().held > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "a lease is still held"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_accounted(&x.stats());
        assert_accounted(&y.stats());
    }

    /// Same promise, sync: a panic in the innermost of X -> Y -> X -> Y
    /// sync calls (caught by the thread) leaves this thread with no fleet
    /// parent: a later top-level X call on it takes a lease of its own
    /// (`acquired` grows) and waits while another client holds X's only
    /// lease, instead of running under a stale parent's.
    #[test]
    fn a_panic_deep_in_sync_fleet_nesting_leaves_no_stale_parent() {
        common::quiet_planned_panics();
        let server = RedisServer::start();
        let x = fleet_group("r27_sx", &server, 1, OnUnreachable::Wait);
        let y = fleet_group("r27_sy", &server, 1, OnUnreachable::Wait);
        within(WATCHDOG, move || {
            for _ in 0..3 {
                let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    x.run(|| {
                        y.run(|| {
                            x.run(|| {
                                y.run(|| -> () { panic!("planned: deep sync panic") })
                                    .unwrap()
                            })
                            .unwrap()
                        })
                        .unwrap()
                    })
                    .unwrap()
                }));
                assert!(caught.is_err());
                assert_eq!(token(), None, "a fleet parent left on the thread");
            }
            let acquired = x.fleet_stats().unwrap().acquired;
            // Another client takes X's only lease; our top-level call must wait.
            let other = other_client(x);
            let held = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let release = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (h, r) = (held.clone(), release.clone());
            let holder = std::thread::spawn(move || {
                futures::executor::block_on(async move {
                    let lease = other.acquire().await.unwrap();
                    h.store(true, Ordering::SeqCst);
                    while !r.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    drop(lease);
                })
            });
            while !held.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            let ran_while_held = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (rw, rel2) = (ran_while_held.clone(), release.clone());
            let releaser = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(400));
                rel2.store(true, Ordering::SeqCst);
            });
            x.run(|| {
                if !release.load(Ordering::SeqCst) {
                    rw.store(true, Ordering::SeqCst);
                }
            })
            .unwrap();
            releaser.join().unwrap();
            holder.join().unwrap();
            assert!(
                !ran_while_held.load(Ordering::SeqCst),
                "a top-level X call ran while another client held X's only lease"
            );
            assert!(x.fleet_stats().unwrap().acquired > acquired);
            assert_accounted(&x.stats());
            assert_accounted(&y.stats());
        });
    }
    fn lose_the_lease(server: &RedisServer, name: &str) {
        let mut c = server.connection().unwrap();
        let _: i64 = redis::cmd("DEL")
            .arg(format!("{{pooled:{name}}}:holders"))
            .query(&mut c)
            .unwrap();
    }

    async fn wait_for_bodies(meter: &Meter, n: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while meter.now() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "only {} bodies started",
                meter.now()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn lose_and_count(server: &RedisServer, x: &pool_runtime::Group) {
        let held = x.fleet_stats().unwrap().held;
        assert!(held <= 1, "{held} leases held under a fleet limit of 1");
        let lost_before = x.fleet_stats().unwrap().lost;
        lose_the_lease(server, x.name());
        let t0 = std::time::Instant::now();
        while x.fleet_stats().unwrap().lost == lost_before {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "the loss was never counted"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn wait_released(x: &pool_runtime::Group) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while x.fleet_stats().unwrap().held > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "a lease is still held"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Promise (commit 71f6588, `fleet/call.rs` `Stage::Nested`: a nested
    /// call "ends, as that call does, if it is lost"; `pool_runtime::fleet`:
    /// "a rejecting async call ends with `Rejected::LeaseLost` (its work is
    /// not polled again)"). Attack: six nested calls orphaned (polled once in the
    /// work, then moved to tasks of their own, the parent gone), then six
    /// waiting in the work of a live parent; each time the shared lease is
    /// lost. Every one must end with `LeaseLost` within a second
    /// of the loss being counted (their bodies, counted from outside, all
    /// dropped), the lease must end up released, and every call accounted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[allow(clippy::async_yields_async)]
    async fn every_nested_call_waiting_under_a_lost_lease_ends_with_lease_lost() {
        let server = RedisServer::start();
        let x = fleet_group("r27_many_lost", &server, 1, OnUnreachable::Wait);
        let meter = Meter::default();
        let m = meter.clone();
        let orphans = x
            .submit(0, async move {
                let mut out = Vec::new();
                for _ in 0..6 {
                    let m = m.clone();
                    let mut nested: Boxed<Result<(), Rejected>> =
                        Box::pin(x.submit(0, async move {
                            let _in = m.enter();
                            tokio::time::sleep(Duration::from_secs(8)).await;
                        }));
                    assert!(futures::poll!(nested.as_mut()).is_pending());
                    out.push(nested);
                }
                out
            })
            .await
            .expect("the parent ran");
        let orphans: Vec<_> = orphans.into_iter().map(tokio::spawn).collect();
        wait_for_bodies(&meter, 6).await;
        lose_and_count(&server, x).await;
        let counted = std::time::Instant::now();
        for o in orphans {
            let out = tokio::time::timeout(Duration::from_secs(10), o)
                .await
                .expect("hung")
                .unwrap();
            assert_eq!(out, Err(Rejected::LeaseLost));
        }
        assert!(
            counted.elapsed() < Duration::from_secs(2),
            "orphans ran on for {:?}",
            counted.elapsed()
        );
        assert_eq!(meter.now(), 0);
        wait_released(x).await;
        // Now six nested calls waiting in the work of a live parent.
        let m = meter.clone();
        let parent = tokio::spawn(x.submit(0, async move {
            let calls = (0..6).map(|_| {
                let m = m.clone();
                x.submit(0, async move {
                    let _in = m.enter();
                    tokio::time::sleep(Duration::from_secs(8)).await;
                })
            });
            futures::future::join_all(calls).await
        }));
        wait_for_bodies(&meter, 6).await;
        lose_and_count(&server, x).await;
        let counted = std::time::Instant::now();
        let out = tokio::time::timeout(Duration::from_secs(10), parent)
            .await
            .expect("hung")
            .unwrap();
        let ended_after = counted.elapsed();
        assert!(
            out.is_err()
                || out
                    .as_ref()
                    .unwrap()
                    .iter()
                    .all(|r| *r == Err(Rejected::LeaseLost)),
            "{out:?}"
        );
        assert!(
            ended_after < Duration::from_secs(2),
            "ran on for {ended_after:?} after the loss"
        );
        assert_eq!(meter.now(), 0);
        wait_released(x).await;
        let s = x.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
        assert_accounted(&s);
    }
    /// A waker that, the first time it is woken on the fleet's own thread,
    /// makes a never-rejecting sync call (`run_wait`) of `group` there and
    /// records what it got: its value, or the panic's message.
    struct RunWaitWaker {
        group: &'static pool_runtime::Group,
        fired: std::sync::atomic::AtomicBool,
        got: Mutex<Option<Result<u32, String>>>,
    }

    impl Wake for RunWaitWaker {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            let on_fleet = std::thread::current().name() == Some("pooled-fleet");
            if on_fleet && !self.fired.swap(true, Ordering::SeqCst) {
                let group = self.group;
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    group.run_wait(0, || 5u32)
                }))
                .map_err(|p| {
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default()
                });
                *self.got.lock().unwrap() = Some(out);
            }
        }
    }

    /// Promise (`Group::submit_wait`/`run_wait`: "A call that is never
    /// turned away ... it has no way to report a rejection";
    /// `pool_runtime::fleet`, "Redis unreachable": "`reject` turns the call
    /// away ... (a never-rejecting call waits instead)"; and a sync call on
    /// the fleet's own thread "cannot wait for a round trip only that
    /// thread makes: there Redis counts as unreachable (the policy
    /// decides ...)"; README: never a panic). Attack: a waker woken on the
    /// fleet's thread (when an async call's lease is granted) makes a
    /// never-rejecting sync call, `run_wait`, of the same fleet group
    /// (policy `wait`, a lease free). It can be neither turned away nor
    /// made to wait there; it must not hit the library's
    /// `unreachable!("a never-rejecting call was turned away")`.
    #[test]
    fn a_never_rejecting_sync_call_on_the_fleet_thread_does_not_panic() {
        common::in_own_process(
            "fleets::a_never_rejecting_sync_call_on_the_fleet_thread_does_not_panic",
            &[],
            run_wait_on_the_fleet_thread_scenario,
        );
    }

    fn run_wait_on_the_fleet_thread_scenario() {
        let server = RedisServer::start();
        let group = fleet_group("r27_run_wait_fleet", &server, 2, OnUnreachable::Wait);
        let waker = Arc::new(RunWaitWaker {
            group,
            fired: std::sync::atomic::AtomicBool::new(false),
            got: Mutex::new(None),
        });
        let probe = waker.clone();
        let out = within(Duration::from_secs(15), move || {
            let waker = Waker::from(waker);
            let mut cx = Context::from_waker(&waker);
            let mut call = Box::pin(group.submit(0, async { 1u32 }));
            let started = std::time::Instant::now();
            loop {
                if let Poll::Ready(out) = call.as_mut().poll(&mut cx) {
                    break out;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "the async call hung"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        assert_eq!(out, Ok(1));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while probe.got.lock().unwrap().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let got = probe.got.lock().unwrap().clone();
        if let Some(got) = got {
            assert_eq!(
                got,
                Ok(5),
                "the never-rejecting sync call on the fleet thread"
            );
        }
        assert_accounted(&group.stats());
    }
    /// A waker that, the first time it is woken on the fleet's own thread,
    /// makes a sync call (`run`) of `group` there and records the outcome.
    struct RunWaker {
        group: &'static pool_runtime::Group,
        fired: std::sync::atomic::AtomicBool,
        got: Mutex<Option<Result<u32, Rejected>>>,
    }

    impl Wake for RunWaker {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            let on_fleet = std::thread::current().name() == Some("pooled-fleet");
            if on_fleet && !self.fired.swap(true, Ordering::SeqCst) {
                let out = self.group.run(|| 5u32);
                *self.got.lock().unwrap() = Some(out);
            }
        }
    }

    /// Promise (`pool_runtime::fleet`, "Sync calls": "A sync call made on
    /// that thread itself (by a waker, a `Drop` or a hook the fleet runs
    /// there) cannot wait for a round trip only that thread makes: there
    /// Redis counts as unreachable (the policy decides ...)"; README:
    /// "nothing hangs"). Attack: the same waker as round 26's, but the
    /// group has ONE local slot, held by the very call whose lease grant
    /// wakes the waker: the waker's sync call waits for that local slot on
    /// the fleet's thread, while the call holding it can only free it once
    /// its lease's release, sent on that same thread, is answered. The
    /// async call must still end, and the sync call get an answer.
    #[test]
    fn a_sync_call_on_the_fleet_thread_waiting_for_a_local_slot_does_not_hang_the_fleet() {
        common::in_own_process(
            "fleets::a_sync_call_on_the_fleet_thread_waiting_for_a_local_slot_does_not_hang_the_fleet",
            &[],
            local_slot_on_the_fleet_thread_scenario,
        );
    }

    fn local_slot_on_the_fleet_thread_scenario() {
        let server = RedisServer::start();
        let url = leak(server.url());
        let group = group_with("r27_fleet_one_slot", |spec| {
            spec.size(1)
                .fleet_limit(2)
                .fleet_url(url)
                .fleet_lease(Duration::from_millis(1000))
                .fleet_unreachable(OnUnreachable::Wait)
        });
        let waker = Arc::new(RunWaker {
            group,
            fired: std::sync::atomic::AtomicBool::new(false),
            got: Mutex::new(None),
        });
        let probe = waker.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let waker = Waker::from(waker);
            let mut cx = Context::from_waker(&waker);
            let mut call = Box::pin(group.submit(0, async { 1u32 }));
            loop {
                if let Poll::Ready(out) = call.as_mut().poll(&mut cx) {
                    let _ = tx.send(out);
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let out = rx.recv_timeout(Duration::from_secs(10));
        let fired = probe.fired.load(Ordering::SeqCst);
        let got = *probe.got.lock().unwrap();
        assert_eq!(
            out,
            Ok(Ok(1)),
            "the async call never ended (woken on the fleet thread: {fired}, \
             the waker's sync call: {got:?}, {:?})",
            group.stats()
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while probe.got.lock().unwrap().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let got = *probe.got.lock().unwrap();
        assert!(got.is_some(), "the sync call never answered");
        // The process's fleet thread must still serve other fleets.
        let other = fleet_group("r27_fleet_after", &server, 1, OnUnreachable::Reject);
        assert_eq!(
            within(Duration::from_secs(10), move || other.run(|| 3)),
            Ok(3)
        );
    }
}
