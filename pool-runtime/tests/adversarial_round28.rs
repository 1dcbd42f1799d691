//! Hostile tests, round 28 (runtime crate): combinations of steering with
//! waiters of every kind (pause, scale to 0 and abort while async, sync,
//! blocking, spawned, permit, judged and never-rejecting group calls wait);
//! draining and shutting down with nested calls outstanding (an orphaned
//! nested call holding its parent's slot, nested waiters for a lend); the
//! admission order among equal weights across every call form on FIFO,
//! LIFO and priority pools, and LIFO under cancellation of the newest
//! waiters; a configuration load racing a group's first use; tower
//! services and their clones dropped between `poll_ready` and `call`;
//! blocking executors that run jobs inline. Each counts bodies from
//! outside the library (a meter entered at the body's start, left before
//! its slot is released), checks the accounting identity at the end, and
//! is bounded in time.
//!
//! Bugs found, fixed since (each test failed before its fix): a nested
//! call that arrived while its pool was paused and found a slot free was
//! queued (with `QUEUED` set over the free slot) instead of taking it, and
//! `resume` admitted nothing (it only moved held calls): the slot stayed
//! idle until some other release or resize, new calls queued behind it, a
//! parent awaiting another call hung, and a sync nested call beside an
//! async one panicked; a load that landed while a group's first use built
//! its pool reported a new kind "at first use", but the pool started with
//! the old kind and counts, so the loaded limit never held.

mod common;

use common::{assert_accounted, gate, within, Meter, Task};
use pool_runtime::{Group, GroupSpec, Order, Pool, Rejected, Verdict};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

const WATCHDOG: Duration = Duration::from_secs(20);

#[track_caller]
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < WATCHDOG, "hung waiting for {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

fn leaked(pool: Pool) -> &'static Pool {
    Box::leak(Box::new(pool))
}

/// Every call accounted for, nothing left in the pool.
#[track_caller]
fn assert_settled(stats: &pool_runtime::Stats) {
    assert_accounted(stats);
    assert_eq!(stats.in_flight(), 0, "{stats:?}");
}

// ---- pause + scale to 0 + abort with waiters of every kind ------------------------

static STEERED: Group = Group::new(GroupSpec::new("adv28::steered").size(1));

/// Promises (`Pool::pause`, `Pool::abort`, `Pool::close`, `Group::submit_wait`):
/// a pause turns away new calls but "calls already waiting or running are
/// not affected and keep being admitted"; an abort "rejects every waiting
/// call at once with `Closed` (never-rejecting ones excepted)"; a fixed
/// pool scaled to 0 "holds its queue until scaled up again"; a
/// never-rejecting call that arrives while paused waits for `resume`.
/// Attack: one slot held; waiting calls of every form (async submit, judged,
/// permit, blocking, spawned, a sync thread, group submit and blocking, and
/// never-rejecting group calls async, sync and blocking), then a pause, two
/// more never-rejecting calls held by it, a resize to 0 and an abort. Every
/// rejecting waiter must end `Closed` (the abort counts them), nothing may
/// run at size 0, a resize to 2 admits the queued never-rejecting calls two
/// at a time while the held ones wait for `resume`, and the pool drains with
/// every call accounted for.
#[test]
fn pause_scale_to_zero_and_abort_with_waiters_of_every_kind() {
    within(WATCHDOG * 2, || {
        let rt = common::runtime();
        let meter = Meter::default();
        let p: &'static Pool = STEERED.pool();
        let holder = p.try_acquire_owned(0).expect("the one slot is free");
        let mut waiting = 0;
        let mut next = |what: &str| {
            waiting += 1;
            let n = waiting;
            wait_until(what, || p.stats().waiting == n);
        };
        type Joined = tokio::task::JoinHandle<Result<(), Rejected>>;
        let mut rejecting: Vec<(&str, Joined)> = Vec::new();
        let mut rejecting_threads = Vec::new();

        let m = meter.clone();
        rejecting.push((
            "submit",
            rt.spawn(async move {
                p.submit(async move {
                    let _in = m.enter();
                })
                .await
            }),
        ));
        next("submit");
        let m = meter.clone();
        rejecting.push((
            "judged",
            rt.spawn(async move {
                p.submit_judged(
                    3,
                    async move {
                        let _in = m.enter();
                    },
                    |_| Verdict::Success,
                )
                .await
            }),
        ));
        next("judged");
        let m = meter.clone();
        rejecting.push((
            "permit",
            rt.spawn(async move {
                let permit = p.acquire_owned(1).await?;
                let inside = m.enter();
                drop(inside);
                drop(permit);
                Ok(())
            }),
        ));
        next("permit");
        let m = meter.clone();
        rejecting.push((
            "blocking",
            rt.spawn(async move {
                p.submit_blocking(move || {
                    let _in = m.enter();
                })
                .await
            }),
        ));
        next("blocking");
        let m = meter.clone();
        let handle = {
            let _rt = rt.enter();
            p.spawn(async move {
                let _in = m.enter();
            })
            .expect("queued, not turned away")
        };
        rejecting.push(("spawn", rt.spawn(handle)));
        next("spawn");
        let m = meter.clone();
        rejecting_threads.push(thread::spawn(move || {
            p.run(|| {
                let _in = m.enter();
            })
        }));
        next("run");
        let m = meter.clone();
        rejecting.push((
            "group submit",
            rt.spawn(async move {
                STEERED
                    .submit(0, async move {
                        let _in = m.enter();
                    })
                    .await
            }),
        ));
        next("group submit");
        let m = meter.clone();
        rejecting.push((
            "group blocking",
            rt.spawn(async move {
                STEERED
                    .submit_blocking(0, move || {
                        let _in = m.enter();
                    })
                    .await
            }),
        ));
        next("group blocking");

        // Never-rejecting, queued before the pause.
        let done = Arc::new(AtomicUsize::new(0));
        let mut patient = Vec::new();
        let (m, d) = (meter.clone(), done.clone());
        patient.push(rt.spawn(async move {
            STEERED
                .submit_wait(0, async move {
                    let _in = m.enter();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    d.fetch_add(1, SeqCst);
                })
                .await
        }));
        next("submit_wait");
        let (m, d) = (meter.clone(), done.clone());
        let patient_thread = thread::spawn(move || {
            STEERED.run_wait(0, || {
                let _in = m.enter();
                thread::sleep(Duration::from_millis(5));
                d.fetch_add(1, SeqCst);
            })
        });
        next("run_wait");
        let (m, d) = (meter.clone(), done.clone());
        patient.push(rt.spawn(async move {
            STEERED
                .submit_blocking_wait(0, move || {
                    let _in = m.enter();
                    thread::sleep(Duration::from_millis(5));
                    d.fetch_add(1, SeqCst);
                })
                .await
        }));
        next("submit_blocking_wait");

        p.pause();
        assert_eq!(
            rt.block_on(p.submit(async {})),
            Err(Rejected::Paused),
            "a new call on a paused pool"
        );
        // Never-rejecting, held by the pause.
        let late = Arc::new(AtomicUsize::new(0));
        let (m, l) = (meter.clone(), late.clone());
        let held_task = rt.spawn(async move {
            STEERED
                .submit_wait(0, async move {
                    let _in = m.enter();
                    l.fetch_add(1, SeqCst);
                })
                .await
        });
        next("a held submit_wait");
        let (m, l) = (meter.clone(), late.clone());
        let held_thread = thread::spawn(move || {
            STEERED.run_wait(0, || {
                let _in = m.enter();
                l.fetch_add(1, SeqCst);
            })
        });
        next("a held run_wait");

        assert_eq!(p.resize(0), 0);
        let turned_away = p.core_abort_count();
        assert_eq!(
            turned_away, 8,
            "the abort turns away the 8 rejecting waiters"
        );
        for (what, task) in rejecting {
            assert_eq!(
                rt.block_on(task).expect("no panic"),
                Err(Rejected::Closed),
                "{what}"
            );
        }
        for t in rejecting_threads {
            assert_eq!(t.join().expect("no panic"), Err(Rejected::Closed), "run");
        }
        drop(holder);
        thread::sleep(Duration::from_millis(50));
        assert_eq!(meter.done(), 0, "nothing runs at size 0");
        let s = p.stats();
        assert_eq!((s.running, s.waiting), (0, 5), "{s:?}");
        assert_accounted(&s);

        p.resize(2);
        wait_until("the three queued never-rejecting calls", || {
            done.load(SeqCst) == 3
        });
        for t in patient {
            rt.block_on(t).expect("no panic");
        }
        patient_thread.join().expect("no panic");
        thread::sleep(Duration::from_millis(20));
        assert_eq!(late.load(SeqCst), 0, "held by the pause until resume");
        p.resume();
        rt.block_on(held_task).expect("no panic");
        held_thread.join().expect("no panic");
        assert_eq!(late.load(SeqCst), 2);
        rt.block_on(async {
            tokio::time::timeout(WATCHDOG, p.drained())
                .await
                .expect("drains")
        });
        assert!(meter.max() <= 2, "{} at once, limit 2", meter.max());
        assert_eq!(meter.done(), 5);
        let s = p.stats();
        assert_settled(&s);
        assert_eq!(s.rejected_for(Rejected::Closed), 8, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Paused), 1, "{s:?}");
        assert_eq!(s.completed, 6, "the holder and five never-rejecting: {s:?}");
        assert_eq!(s.cancelled, 0, "{s:?}");
    });
}

trait AbortCount {
    /// Aborts and returns how many waiting calls the abort turned away, read
    /// from the stats (the count `abort` itself does not return).
    fn core_abort_count(&self) -> u64;
}

impl AbortCount for Pool {
    fn core_abort_count(&self) -> u64 {
        let before = self.stats().rejected_for(Rejected::Closed);
        self.abort();
        self.stats().rejected_for(Rejected::Closed) - before
    }
}

// ---- draining with nested calls outstanding --------------------------------------

/// A parent call of `pool` whose work starts a nested call (`body`, holding
/// the lend) and returns it out, still running: an orphan that keeps the
/// parent's slot.
#[allow(clippy::async_yields_async)] // the orphan is returned out on purpose
fn orphan_of<F: Future<Output = ()> + Send + 'static>(
    pool: &'static Pool,
    body: F,
) -> Pin<Box<dyn Future<Output = Result<(), Rejected>> + Send>> {
    let mut parent = Task::new(pool.submit(async move {
        let mut orphan: Pin<Box<dyn Future<Output = Result<(), Rejected>> + Send>> =
            Box::pin(pool.submit(body));
        let first = poll_fn(|cx| Poll::Ready(orphan.as_mut().poll(cx).is_pending())).await;
        assert!(first, "the orphan runs under the lend, pending on its gate");
        orphan
    }));
    match parent.poll() {
        Poll::Ready(Ok(orphan)) => orphan,
        other => panic!("the parent did not run at once: {:?}", other.is_ready()),
    }
}

/// Promise (`Pool::drained`, `Pool::close`, Reentrancy): `drained` resolves
/// "once the pool is closed and nothing is waiting or running"; "a nested
/// call that outlives its parent ... keeps the slot busy until it ends".
/// Attack: a parent ends, leaving an orphaned nested call running under its
/// slot; a call waits behind it; the pool is closed. `drained` must stay
/// pending until the orphan and the waiter are done, the waiter must run
/// (close does not turn it away) only after the orphan ended, and the
/// identity must hold at every step.
#[test]
fn drained_waits_for_an_orphaned_nested_call_and_the_call_behind_it() {
    within(WATCHDOG, || {
        let pool = leaked(Pool::fixed(1));
        let meter = Meter::default();
        let (g, open) = gate();
        let m = meter.clone();
        let mut orphan = Task::new(orphan_of(pool, async move {
            let _in = m.enter();
            g.await;
        }));
        let s = pool.stats();
        assert_accounted(&s);
        assert_eq!(meter.now(), 1);
        let m = meter.clone();
        let mut behind = Task::new(pool.submit(async move {
            let _in = m.enter();
        }));
        behind.assert_pending();
        let s = pool.stats();
        assert_accounted(&s);
        assert_eq!(s.waiting, 1, "{s:?}");
        pool.close();
        let mut drained = Task::new(pool.drained());
        drained.assert_pending();
        behind.assert_pending();
        assert_accounted(&pool.stats());
        open.store(true, SeqCst);
        assert_eq!(orphan.assert_ready(), Ok(()));
        assert!(behind.is_woken(), "the slot went to the waiter");
        drained.assert_pending();
        assert_eq!(behind.assert_ready(), Ok(()));
        assert!(drained.is_woken());
        drained.assert_ready();
        assert_eq!(meter.max(), 1);
        let s = pool.stats();
        assert_settled(&s);
        assert_eq!(s.completed, 3, "{s:?}");
    });
}

/// Promise (`Pool::shutdown`): past its deadline "the calls still waiting are
/// turned away ..., the ones still running are left to finish, and the error
/// says how many of each there were". Attack: the running one is an orphaned
/// nested call holding its dead parent's slot, with a call waiting behind
/// it. The error must count the waiter as turned away and something still
/// running; the orphan must finish; `drained` must then resolve, and the
/// accounting balance.
#[test]
fn shutdown_past_its_deadline_with_an_orphaned_nested_call_running() {
    within(WATCHDOG, || {
        let pool = leaked(Pool::fixed(1));
        let meter = Meter::default();
        let (g, open) = gate();
        let m = meter.clone();
        let mut orphan = Task::new(orphan_of(pool, async move {
            let _in = m.enter();
            g.await;
        }));
        let m = meter.clone();
        let mut behind = Task::new(pool.submit(async move {
            let _in = m.enter();
        }));
        behind.assert_pending();
        let err = futures::executor::block_on(pool.shutdown(Some(Duration::ZERO)))
            .expect_err("the orphan still runs");
        assert_eq!(err.turned_away, 1, "{err:?}");
        assert_eq!(err.waiting, 0, "{err:?}");
        assert!(err.running + err.nested >= 1, "{err:?}");
        assert_eq!(behind.assert_ready(), Err(Rejected::Closed));
        let mut drained = Task::new(pool.drained());
        drained.assert_pending();
        open.store(true, SeqCst);
        assert_eq!(orphan.assert_ready(), Ok(()));
        assert!(drained.is_woken());
        drained.assert_ready();
        assert_eq!(meter.done(), 1);
        let s = pool.stats();
        assert_settled(&s);
        assert_eq!(s.rejected_for(Rejected::Closed), 1, "{s:?}");
    });
}

/// Promise (Reentrancy rule): nested waiters "wait ... (a paused or closed
/// pool or a full waiting bound does not turn them away ...; `abort` turns
/// them away with `Closed`)". Attack: a parent's work joins a running
/// nested call (gated) with a second one waiting for the lend; the pool is
/// closed (the waiter stays), then paused and aborted (it must end
/// `Closed`), then the first ends; the parent completes, the pool drains,
/// and nothing ran alongside.
#[test]
fn close_then_abort_with_a_nested_waiter_for_the_lend() {
    within(WATCHDOG, || {
        let pool = leaked(Pool::fixed(1));
        let meter = Meter::default();
        let (g, open) = gate();
        let (ma, mb) = (meter.clone(), meter.clone());
        let mut parent = Task::new(pool.submit(async move {
            let a = pool.submit(async move {
                let _in = ma.enter();
                g.await;
            });
            let b = pool.submit(async move {
                let _in = mb.enter();
            });
            futures::join!(a, b)
        }));
        parent.assert_pending();
        let s = pool.stats();
        assert_accounted(&s);
        assert_eq!((s.running, s.nested, s.waiting), (1, 1, 1), "{s:?}");
        pool.close();
        parent.assert_pending();
        assert_eq!(pool.stats().waiting, 1, "close leaves the nested waiter");
        pool.pause();
        pool.abort();
        let s = pool.stats();
        assert_accounted(&s);
        open.store(true, SeqCst);
        let (a, b) = match parent.assert_ready() {
            Ok(both) => both,
            Err(e) => panic!("the parent was running: {e:?}"),
        };
        assert_eq!(a, Ok(()));
        assert_eq!(
            b,
            Err(Rejected::Closed),
            "abort turns the nested waiter away"
        );
        assert_eq!(meter.max(), 1);
        let mut drained = Task::new(pool.drained());
        drained.assert_ready();
        let s = pool.stats();
        assert_settled(&s);
        assert_eq!(s.rejected_for(Rejected::Closed), 1, "{s:?}");
        assert_eq!(s.completed, 2, "{s:?}");
    });
}

// ---- admission order among equal weights, across every form -----------------------

/// The forms a waiting call can take, each logging its id when its body
/// starts.
#[derive(Clone, Copy, Debug)]
enum Form {
    Submit,
    Judged,
    Permit,
    Blocking,
    Spawn,
    Run,
}

const FORMS: [Form; 6] = [
    Form::Submit,
    Form::Judged,
    Form::Permit,
    Form::Blocking,
    Form::Spawn,
    Form::Run,
];

type Log = Arc<Mutex<Vec<usize>>>;

/// Queues a call of `form` (id `id`, weight `w`) on `pool`, waiting until
/// the pool counts it as waiting; returns what joins it.
fn queue_call(
    rt: &tokio::runtime::Runtime,
    pool: &'static Pool,
    form: Form,
    id: usize,
    w: i64,
    meter: &Meter,
    log: &Log,
) -> Joiner {
    let before = pool.stats().waiting;
    let (m, log) = (meter.clone(), log.clone());
    // The body: logged at its start, the meter left before the slot goes.
    let enter = move || {
        let inside = m.enter();
        log.lock().unwrap().push(id);
        inside
    };
    let joined: Joiner = match form {
        Form::Submit => {
            let t = rt.spawn(async move {
                pool.submit_weighted(w, async move {
                    let _in = enter();
                    tokio::task::yield_now().await;
                })
                .await
            });
            Box::new(move |rt| rt.block_on(t).unwrap())
        }
        Form::Judged => {
            let t = rt.spawn(async move {
                pool.submit_judged(
                    w,
                    async move {
                        let _in = enter();
                        tokio::task::yield_now().await;
                    },
                    |_| Verdict::Success,
                )
                .await
            });
            Box::new(move |rt| rt.block_on(t).unwrap())
        }
        Form::Permit => {
            let t = rt.spawn(async move {
                let permit = pool.acquire_owned(w).await?;
                let inside = enter();
                tokio::task::yield_now().await;
                drop(inside);
                drop(permit);
                Ok(())
            });
            Box::new(move |rt| rt.block_on(t).unwrap())
        }
        Form::Blocking => {
            let t = rt.spawn(async move {
                pool.submit_blocking_weighted(w, move || {
                    let _in = enter();
                    thread::yield_now();
                })
                .await
            });
            Box::new(move |rt| rt.block_on(t).unwrap())
        }
        Form::Spawn => {
            let handle = {
                let _rt = rt.enter();
                pool.spawn_weighted(w, async move {
                    let _in = enter();
                    tokio::task::yield_now().await;
                })
                .expect("queued")
            };
            Box::new(move |rt| rt.block_on(handle))
        }
        Form::Run => {
            let t = thread::spawn(move || {
                pool.run_weighted(w, || {
                    let _in = enter();
                    thread::yield_now();
                })
            });
            Box::new(move |_| t.join().unwrap())
        }
    };
    wait_until("the call to queue", || pool.stats().waiting == before + 1);
    joined
}

type Joiner = Box<dyn FnOnce(&tokio::runtime::Runtime) -> Result<(), Rejected> + Send>;

/// Queues two calls of every form (ids 0..12, in that order, `weight(id)`)
/// behind a held slot of a pool of `order`, releases the slot, and returns
/// the order in which their bodies started.
fn admission_order(order: Order, weight: impl Fn(usize) -> i64) -> Vec<usize> {
    let rt = common::runtime();
    let pool = leaked(Pool::builder().order(order).size(1).build().unwrap());
    let meter = Meter::default();
    let log: Log = Arc::default();
    let holder = pool.try_acquire_owned(0).unwrap();
    let mut joiners = Vec::new();
    for (id, form) in FORMS.iter().chain(FORMS.iter()).enumerate() {
        joiners.push(queue_call(&rt, pool, *form, id, weight(id), &meter, &log));
    }
    drop(holder);
    for j in joiners {
        assert_eq!(j(&rt), Ok(()));
    }
    assert_eq!(meter.max(), 1, "one slot");
    let s = pool.stats();
    assert_settled(&s);
    assert_eq!(s.completed, 13, "{s:?}");
    let order = log.lock().unwrap().clone();
    order
}

/// Promise (`Pool::submit_weighted`, `acquire`, `run`, README table): "smaller
/// weights are admitted first, equal weights first-come first-served", and
/// sync, blocking, spawned and permit calls share "the same queue and order
/// as async calls". Attack: twelve calls of six forms, all of one weight,
/// queued one after another behind a held slot. Priority admits them in
/// arrival order, as FIFO does; LIFO in the reverse.
#[test]
fn equal_weights_across_every_form_keep_arrival_order() {
    within(WATCHDOG * 2, || {
        let arrival: Vec<usize> = (0..12).collect();
        assert_eq!(admission_order(Order::Priority, |_| 7), arrival, "priority");
        assert_eq!(admission_order(Order::Fifo, |_| 7), arrival, "fifo");
        let reversed: Vec<usize> = (0..12).rev().collect();
        assert_eq!(admission_order(Order::Lifo, |_| 7), reversed, "lifo");
    });
}

/// As above with two weights interleaved (odd ids lighter): the light ones
/// first in arrival order, then the heavy ones in arrival order, whatever
/// the form; extreme weights rank too.
#[test]
fn interleaved_weights_across_every_form_rank_then_keep_arrival_order() {
    within(WATCHDOG * 2, || {
        let got = admission_order(Order::Priority, |id| if id % 2 == 1 { -5 } else { 5 });
        let want: Vec<usize> = (0..12)
            .filter(|i| i % 2 == 1)
            .chain((0..12).filter(|i| i % 2 == 0))
            .collect();
        assert_eq!(got, want);
        let got = admission_order(Order::Priority, |id| match id % 3 {
            0 => i64::MAX,
            1 => i64::MIN,
            _ => 0,
        });
        let want: Vec<usize> = (0..12)
            .filter(|i| i % 3 == 1)
            .chain((0..12).filter(|i| i % 3 == 2))
            .chain((0..12).filter(|i| i % 3 == 0))
            .collect();
        assert_eq!(got, want);
    });
}

// ---- a nested call arriving at a paused pool with a free slot ---------------------

/// Promises (Reentrancy rule; `Pool::pause`, `Pool::resume`; README "Limits",
/// "Hand-off"): a nested call that cannot borrow its parent's lent slot
/// waits "for a free slot or for that slot to come back, whichever comes
/// first (pausing ... does not turn [it] away)"; `resume` "admits new calls
/// again"; a freed slot is never left idle while calls wait. Attack: a pool
/// of 2, one parent running, its first nested call holding the lend; the
/// pool is paused, then a second nested call arrives (slot 2 is free). At
/// the latest once the pool is resumed, the second nested call must run on
/// the free slot, and a new independent call must not queue behind a free
/// slot.
#[test]
fn a_nested_call_queued_on_a_paused_pool_with_a_free_slot_runs_after_resume() {
    within(WATCHDOG, || {
        let pool = leaked(Pool::fixed(2));
        let meter = Meter::default();
        let (ga, open_a) = gate();
        let (go_b, start_b) = gate();
        let b_ran = Arc::new(AtomicUsize::new(0));
        let (ma, mb, br) = (meter.clone(), meter.clone(), b_ran.clone());
        let mut parent = Task::new(pool.submit(async move {
            let a = pool.submit(async move {
                let _in = ma.enter();
                ga.await;
            });
            let mut a = std::pin::pin!(a);
            let first = poll_fn(|cx| Poll::Ready(a.as_mut().poll(cx).is_pending())).await;
            assert!(first, "a runs under the lend");
            go_b.await;
            let b = pool.submit(async move {
                let _in = mb.enter();
                br.fetch_add(1, SeqCst);
            });
            futures::join!(a, b)
        }));
        parent.assert_pending();
        assert_eq!(meter.now(), 1);
        pool.pause();
        start_b.store(true, SeqCst);
        let _ = parent.poll();
        let s = pool.stats();
        assert_accounted(&s);
        pool.resume();
        // Whatever a pause did, after `resume` a waiting call and a free
        // slot must meet.
        let _ = parent.poll();
        let s = pool.stats();
        assert_accounted(&s);
        assert_eq!(
            b_ran.load(SeqCst),
            1,
            "after resume the nested call waits with slot 2 free: {s:?}"
        );
        let m = meter.clone();
        let mut independent = Task::new(pool.submit(async move {
            let _in = m.enter();
        }));
        assert!(
            independent.poll().is_ready(),
            "a new call queued behind a free slot: {:?}",
            pool.stats()
        );
        open_a.store(true, SeqCst);
        assert!(parent.poll().is_ready());
        assert!(meter.max() <= 2);
        assert_settled(&pool.stats());
    });
}

/// The same with no parent waiting on the second nested call: after
/// `resume`, an independent call arriving at a pool with a free slot must
/// run at once instead of queueing behind a nested call that waits for
/// the lend (the `QUEUED` flag set while a slot was free).
#[test]
fn after_resume_a_new_call_finds_the_free_slot_a_paused_nested_waiter_left() {
    within(WATCHDOG, || {
        let pool = leaked(Pool::fixed(2));
        let meter = Meter::default();
        let (ga, open_a) = gate();
        let (go_b, start_b) = gate();
        let (ma, mb) = (meter.clone(), meter.clone());
        let mut parent = Task::new(pool.submit(async move {
            let a = pool.submit(async move {
                let _in = ma.enter();
                ga.await;
            });
            let mut a = std::pin::pin!(a);
            let first = poll_fn(|cx| Poll::Ready(a.as_mut().poll(cx).is_pending())).await;
            assert!(first, "a runs under the lend");
            go_b.await;
            let b = pool.submit(async move {
                let _in = mb.enter();
            });
            futures::join!(a, b)
        }));
        parent.assert_pending();
        pool.pause();
        start_b.store(true, SeqCst);
        let _ = parent.poll();
        pool.resume();
        // The parent is not polled again: its nested waiter stays queued
        // (or was handed the free slot, which it takes at its next poll).
        let m = meter.clone();
        let mut independent = Task::new(pool.submit(async move {
            let _in = m.enter();
        }));
        let ready = independent.poll().is_ready();
        let s = pool.stats();
        open_a.store(true, SeqCst);
        let mut polls = 0;
        while parent.poll().is_pending() || independent.poll().is_pending() {
            polls += 1;
            assert!(polls < 100, "stuck: {:?}", pool.stats());
        }
        assert!(meter.max() <= 2, "{}", meter.max());
        assert_settled(&pool.stats());
        // Either the nested waiter was handed slot 2 (then `running` counts
        // it) or the new call had to take it.
        assert!(
            ready || s.running == 2,
            "one slot held of 2, nothing handed slot 2, and a new call waits: {s:?}"
        );
    });
}

/// The consequence on a runtime: "nothing hangs". A parent running in a
/// pool of 2 waits for a second, independent call (made by another task)
/// after a nested call of its own was queued during a short pause. The
/// pool has a free slot throughout, yet the independent call is never
/// admitted and the parent never ends: a hang in a pool with room to spare.
#[test]
fn a_short_pause_with_a_nested_waiter_hangs_a_parent_awaiting_another_call() {
    within(WATCHDOG, || {
        let rt = common::runtime();
        let pool = leaked(Pool::fixed(2));
        let meter = Meter::default();
        let (paused_tx, paused_rx) = tokio::sync::oneshot::channel::<()>();
        let (queued_tx, queued_rx) = tokio::sync::oneshot::channel::<()>();
        let (resumed_tx, resumed_rx) = tokio::sync::oneshot::channel::<()>();
        let (ma, mb) = (meter.clone(), meter.clone());
        let parent = rt.spawn(async move {
            pool.submit(async move {
                let (release_a, a_may_end) = tokio::sync::oneshot::channel::<()>();
                let a = pool.submit(async move {
                    let _in = ma.enter();
                    let _ = a_may_end.await;
                });
                let mut a = std::pin::pin!(a);
                let first = poll_fn(|cx| Poll::Ready(a.as_mut().poll(cx).is_pending())).await;
                assert!(first, "a runs under the lend");
                paused_rx.await.unwrap();
                // A nested call while the pool is paused, a slot free: it
                // belongs to admitted work, so it takes the free slot (it
                // used to queue over it, for a release `resume` never made).
                let mut b = std::pin::pin!(pool.submit(async move {
                    let _in = mb.enter();
                }));
                let b_now = poll_fn(|cx| Poll::Ready(b.as_mut().poll(cx))).await;
                let Poll::Ready(b) = b_now else {
                    panic!("b queued over a free slot");
                };
                queued_tx.send(()).unwrap();
                resumed_rx.await.unwrap();
                // The parent now needs another task's call of the same pool,
                // with one of the two slots free.
                let other = tokio::spawn(pool.submit(async { 42 }));
                let got = other.await.unwrap();
                release_a.send(()).unwrap();
                let a = a.await;
                (got, a, b)
            })
            .await
        });
        rt.block_on(async {
            // The parent runs; pause, let it queue its nested call, resume.
            while pool.stats().nested == 0 {
                tokio::task::yield_now().await;
            }
            pool.pause();
            paused_tx.send(()).unwrap();
            queued_rx.await.unwrap();
            pool.resume();
            resumed_tx.send(()).unwrap();
        });
        let out = rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), parent).await });
        let s = pool.stats();
        let out = out.unwrap_or_else(|_| panic!("hung with a free slot: {s:?}"));
        assert_eq!(out.unwrap(), Ok((Ok(42), Ok(()), Ok(()))));
        assert!(meter.max() <= 2);
        assert_settled(&pool.stats());
    });
}

// ---- a configuration load racing a group's first use ------------------------------

#[cfg(feature = "config")]
mod first_use {
    use super::*;
    use pool_runtime::{config, register_group};

    static RACED_0: Group = Group::new(GroupSpec::new("adv28::raced_0").size(6));
    static RACED_1: Group = Group::new(GroupSpec::new("adv28::raced_1").size(6));
    static RACED_2: Group = Group::new(GroupSpec::new("adv28::raced_2").size(6));
    static RACED_3: Group = Group::new(GroupSpec::new("adv28::raced_3").size(6));
    static RACED_4: Group = Group::new(GroupSpec::new("adv28::raced_4").size(6));
    static RACED_5: Group = Group::new(GroupSpec::new("adv28::raced_5").size(6));
    register_group!(RACED_0);
    register_group!(RACED_1);
    register_group!(RACED_2);
    register_group!(RACED_3);
    register_group!(RACED_4);
    register_group!(RACED_5);
    static RACED: [&Group; 6] = [&RACED_0, &RACED_1, &RACED_2, &RACED_3, &RACED_4, &RACED_5];

    /// Promise (README, Configuration, lock order): "a group's first use
    /// builds its pool ... holding no lock, and a load stored meanwhile is
    /// applied to the new pool once published"; reload "applies changed
    /// limits to running pools at once". Attack: six groups declared with 6
    /// slots, each first used by two threads at the moment a third loads a
    /// file giving it 2 slots and a waiting bound of 1. Whatever wins, once
    /// all are done the group has 2 slots and the bound (the calls made
    /// during the race ran within 6, counted from outside), and then never
    /// runs more than 2 at once.
    #[test]
    fn a_load_racing_a_groups_first_use_is_applied_to_the_new_pool() {
        let _turn = common::config_turn();
        let text: String = (0..6)
            .map(|i| format!("[groups.\"adv28::raced_{i}\"]\nsize = 2\nmax_waiting = 1\n"))
            .collect();
        within(WATCHDOG * 2, move || {
            for (i, group) in RACED.iter().copied().enumerate() {
                let meter = Meter::default();
                let barrier = Arc::new(std::sync::Barrier::new(3));
                let callers: Vec<_> = (0..2)
                    .map(|_| {
                        let (b, m) = (barrier.clone(), meter.clone());
                        thread::spawn(move || {
                            b.wait();
                            for _ in 0..20 {
                                group
                                    .run(|| {
                                        let _in = m.enter();
                                        thread::yield_now();
                                    })
                                    .expect("no bound is reached by two callers");
                            }
                        })
                    })
                    .collect();
                let loader = {
                    let (b, text) = (barrier.clone(), text.clone());
                    thread::spawn(move || {
                        b.wait();
                        config::load_str("adv28.toml", &text).expect("a valid file")
                    })
                };
                loader.join().unwrap();
                for c in callers {
                    c.join().unwrap();
                }
                assert!(meter.max() <= 6, "group {i}: {} at once", meter.max());
                assert_eq!(group.size(), 2, "group {i}: the load's size");
                assert_eq!(group.pool().max_waiting(), Some(1), "group {i}");
                // Then: at most 2 at once, and the bound of one waiter.
                let meter = Meter::default();
                let callers: Vec<_> = (0..4)
                    .map(|_| {
                        let m = meter.clone();
                        thread::spawn(move || {
                            let mut full = 0;
                            for _ in 0..30 {
                                match group.run(|| {
                                    let _in = m.enter();
                                    thread::sleep(Duration::from_micros(200));
                                }) {
                                    Ok(()) => {}
                                    Err(Rejected::Full) => full += 1,
                                    Err(other) => panic!("{other:?}"),
                                }
                            }
                            full
                        })
                    })
                    .collect();
                let full: u64 = callers.into_iter().map(|c| c.join().unwrap()).sum();
                assert!(meter.max() <= 2, "group {i}: {} at once", meter.max());
                let s = group.stats();
                assert_settled(&s);
                assert_eq!(s.rejected_for(Rejected::Full), full, "{s:?}");
            }
        });
        config::clear();
    }
}

// ---- tower services and clones dropped between poll_ready and call ----------------

#[cfg(feature = "tower")]
mod tower_clones {
    use super::*;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, Service, ServiceExt};

    /// Polls `fut` once with the task's own waker; `Some` if it finished.
    async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Option<F::Output> {
        poll_fn(|cx| {
            Poll::Ready(match Pin::new(&mut *fut).poll(cx) {
                Poll::Ready(out) => Some(out),
                Poll::Pending => None,
            })
        })
        .await
    }

    /// What one round of a task does with its clone of the service.
    async fn round<S>(base: &S, i: u32, choice: u32)
    where
        S: Service<u32, Response = u32, Error = BoxError> + Clone,
        S::Future: Unpin,
    {
        let mut svc = base.clone();
        match choice % 7 {
            // The usual: ready, call, await.
            0 => {
                svc.ready().await.unwrap();
                let _ = svc.call(i).await;
            }
            // A reserved slot dropped with its service.
            1 => {
                svc.ready().await.unwrap();
                drop(svc);
            }
            // Reserved, cloned (the clone holds nothing), the original
            // dropped: the clone waits for a slot of its own, then calls.
            2 => {
                svc.ready().await.unwrap();
                let mut clone = svc.clone();
                drop(svc);
                clone.ready().await.unwrap();
                let _ = clone.call(i).await;
            }
            // A wait abandoned after one poll (the service leaves the queue).
            3 => {
                {
                    let mut ready = svc.ready();
                    let _ = poll_once(&mut ready).await;
                }
                drop(svc);
            }
            // Called, the service dropped, the response polled once and
            // dropped mid-flight.
            4 => {
                svc.ready().await.unwrap();
                let mut response = svc.call(i);
                drop(svc);
                let _ = poll_once(&mut response).await;
                drop(response);
            }
            // A `ready()` future dropped, then the wait resumed by the next
            // `poll_ready`: the reservation belongs to the service.
            5 => {
                {
                    let mut ready = svc.ready();
                    let _ = poll_once(&mut ready).await;
                }
                svc.ready().await.unwrap();
                let _ = svc.call(i).await;
            }
            // Ready twice in a row (no call in between), then a call.
            _ => {
                svc.ready().await.unwrap();
                svc.ready().await.unwrap();
                let _ = svc.call(i).await;
            }
        }
    }

    fn lcg(x: &mut u64) -> u32 {
        *x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*x >> 33) as u32
    }

    /// Promises (`PooledService`): "a clone starts without a slot";
    /// "dropping a service that holds a reserved slot (ready but not called)
    /// releases the slot, as a cancelled call; so does dropping a response
    /// future before it finishes"; "dropping the service while `poll_ready`
    /// waits leaves the pool's queue at once". Attack: 12 tasks on a
    /// multi-thread runtime, each 60 rounds of clones readied, dropped
    /// reserved, cloned while reserved, abandoned mid-wait, called and
    /// dropped mid-response, readied twice, over FIFO, LIFO and priority
    /// pools of 2, in wait and reject mode. The inner service's bodies,
    /// counted from outside, never exceed 2; every call is accounted for and
    /// nothing stays running or waiting.
    #[test]
    fn clones_dropped_between_poll_ready_and_call_keep_the_limit_and_the_books() {
        within(WATCHDOG * 3, || {
            let rt = common::runtime();
            for order in [Order::Fifo, Order::Lifo, Order::Priority] {
                for reject in [false, true] {
                    let pool = Pool::builder().order(order).size(2).build().unwrap();
                    let meter = Meter::default();
                    let m = meter.clone();
                    let inner = service_fn(move |n: u32| {
                        let m = m.clone();
                        Box::pin(async move {
                            let _in = m.enter();
                            tokio::task::yield_now().await;
                            Ok::<_, std::io::Error>(n)
                        })
                            as Pin<Box<dyn Future<Output = Result<u32, std::io::Error>> + Send>>
                    });
                    let layer = PooledLayer::pool(pool.clone());
                    let layer = if reject { layer.reject() } else { layer };
                    let base = layer.layer(inner);
                    let tasks: Vec<_> = (0..12u64)
                        .map(|t| {
                            let base = base.clone();
                            rt.spawn(async move {
                                let mut seed = t + 1;
                                for i in 0..60 {
                                    round(&base, i, lcg(&mut seed)).await;
                                }
                            })
                        })
                        .collect();
                    rt.block_on(async {
                        for t in tasks {
                            tokio::time::timeout(WATCHDOG, t)
                                .await
                                .expect("no hang")
                                .expect("no panic");
                        }
                    });
                    drop(base);
                    assert!(
                        meter.max() <= 2,
                        "{order:?} reject={reject}: {} at once",
                        meter.max()
                    );
                    let s = pool.stats();
                    assert_settled(&s);
                    assert!(s.cancelled > 0, "{s:?}");
                    assert!(s.submitted() > 500, "the rounds ran: {s:?}");
                    assert!(meter.done() > 20, "bodies ran: {}", meter.done());
                }
            }
        });
    }

    /// The weighted service: the call waits in its response future. Weights
    /// at the ends of `i64`, futures dropped after 0, 1, 2, .. polls, with
    /// other calls running; the limit and the accounting hold.
    #[test]
    fn weighted_response_futures_dropped_after_every_number_of_polls() {
        within(WATCHDOG * 2, || {
            let rt = common::runtime();
            let pool = Pool::builder()
                .order(Order::Priority)
                .size(2)
                .build()
                .unwrap();
            let meter = Meter::default();
            let m = meter.clone();
            let inner = service_fn(move |n: u32| {
                let m = m.clone();
                Box::pin(async move {
                    let _in = m.enter();
                    tokio::task::yield_now().await;
                    tokio::task::yield_now().await;
                    Ok::<_, std::io::Error>(n)
                })
                    as Pin<Box<dyn Future<Output = Result<u32, std::io::Error>> + Send>>
            });
            let base = PooledLayer::pool(pool.clone())
                .weight(|n: &u32| match n % 3 {
                    0 => i64::MIN,
                    1 => i64::MAX,
                    _ => 0,
                })
                .layer(inner);
            let tasks: Vec<_> = (0..8u32)
                .map(|t| {
                    let base = base.clone();
                    rt.spawn(async move {
                        for i in 0..40u32 {
                            let mut svc = base.clone();
                            svc.ready().await.unwrap();
                            let mut response = svc.call(t * 100 + i);
                            let polls = (t + i) % 6;
                            let mut finished = false;
                            for _ in 0..polls {
                                if poll_once(&mut response).await.is_some() {
                                    finished = true;
                                    break;
                                }
                                tokio::task::yield_now().await;
                            }
                            if !finished && i % 2 == 0 {
                                let _ = response.await;
                            }
                        }
                    })
                })
                .collect();
            rt.block_on(async {
                for t in tasks {
                    tokio::time::timeout(WATCHDOG, t)
                        .await
                        .expect("no hang")
                        .expect("no panic");
                }
            });
            assert!(meter.max() <= 2, "{} at once", meter.max());
            assert_settled(&pool.stats());
        });
    }
}

// ---- blocking executors that run jobs inline, or drop every other one ------------

/// Runs each job on the calling thread, inside `execute` (so inside the
/// caller's poll, in whatever call frame that poll is in).
struct Inline;

impl pool_runtime::BlockingExecutor for Inline {
    fn execute(&self, job: pool_runtime::BlockingJob) {
        job();
    }
}

/// Runs each job on a new thread and waits for it inside `execute` (the
/// caller's thread blocked in its poll while the job runs elsewhere).
struct ElsewhereAndWait;

impl pool_runtime::BlockingExecutor for ElsewhereAndWait {
    fn execute(&self, job: pool_runtime::BlockingJob) {
        thread::spawn(job).join().unwrap();
    }
}

/// Drops every other job unrun.
#[derive(Default)]
struct Flaky(AtomicUsize);

impl pool_runtime::BlockingExecutor for Flaky {
    fn execute(&self, job: pool_runtime::BlockingJob) {
        if self.0.fetch_add(1, SeqCst) % 2 == 0 {
            thread::spawn(job);
        }
    }
}

/// Promise (`BlockingExecutor`, `submit_blocking`, Reentrancy): the slot
/// "travels with the closure: it is released on the executor's thread when
/// the closure returns"; a call made on the thread of blocking work is
/// nested in it; a job the executor drops unrun is `Rejected::Closed`,
/// counted cancelled. Attack: executors that run the job inside `execute`
/// (on the caller's thread, inside its poll and its parent's frame), that
/// block `execute` until another thread ran it, and that drop every other
/// job; blocking calls made at top level, from inside a call's work
/// (nested), and sync and async calls made inside the closures, from 6
/// tasks on a multi-thread runtime, on pools of 2. The bodies never exceed
/// 2, nothing hangs, and the books balance.
#[test]
fn blocking_calls_through_inline_waiting_and_flaky_executors() {
    within(WATCHDOG * 2, || {
        let rt = common::runtime();
        let executors: [(&str, Arc<dyn pool_runtime::BlockingExecutor>); 3] = [
            ("inline", Arc::new(Inline)),
            ("elsewhere", Arc::new(ElsewhereAndWait)),
            ("flaky", Arc::new(Flaky::default())),
        ];
        for (name, executor) in executors {
            let pool = leaked(
                Pool::builder()
                    .size(2)
                    .blocking_executor(executor)
                    .build()
                    .unwrap(),
            );
            let meter = Meter::default();
            let closed = Arc::new(AtomicUsize::new(0));
            let tasks: Vec<_> = (0..6u32)
                .map(|t| {
                    let (m, closed) = (meter.clone(), closed.clone());
                    rt.spawn(async move {
                        for i in 0..30u32 {
                            let mm = m.clone();
                            let job = move || {
                                // The closure's own body, left before it
                                // calls (a nested call shares its slot).
                                drop(mm.enter());
                                // A sync call inside the closure: nested in it.
                                let m2 = mm.clone();
                                pool.run(move || {
                                    let _in = m2.enter();
                                })
                            };
                            let out = match (t + i) % 3 {
                                0 => pool.submit_blocking(job).await,
                                // From inside a call's work: nested.
                                1 => {
                                    let m3 = m.clone();
                                    pool.submit(async move {
                                        let outer = m3.enter();
                                        drop(outer);
                                        pool.submit_blocking(job).await
                                    })
                                    .await
                                    .and_then(|inner| inner)
                                }
                                // Weighted, then an async call after it.
                                _ => {
                                    let out = pool.submit_blocking_weighted(-1, job).await;
                                    let m4 = m.clone();
                                    pool.submit(async move {
                                        let _in = m4.enter();
                                        tokio::task::yield_now().await;
                                    })
                                    .await
                                    .expect("an async call");
                                    out
                                }
                            };
                            match out {
                                Ok(Ok(())) => {}
                                Err(Rejected::Closed) | Ok(Err(Rejected::Closed)) => {
                                    closed.fetch_add(1, SeqCst);
                                }
                                other => panic!("{other:?}"),
                            }
                        }
                    })
                })
                .collect();
            rt.block_on(async {
                for t in tasks {
                    tokio::time::timeout(WATCHDOG, t)
                        .await
                        .unwrap_or_else(|_| panic!("{name}: hung"))
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                }
            });
            assert!(meter.max() <= 2, "{name}: {} at once", meter.max());
            let s = pool.stats();
            assert_settled(&s);
            if name == "flaky" {
                assert!(closed.load(SeqCst) > 0);
                assert!(s.cancelled > 0, "{s:?}");
            } else {
                assert_eq!(closed.load(SeqCst), 0, "{name}");
            }
        }
    });
}

/// Promise (Reentrancy rule: one nested call at a time uses the parent's
/// slot; a blocking job nested in a call runs under it). Attack: an inline
/// executor, a pool of 1, a parent whose work joins a nested async call
/// (running, gated) and a nested blocking call (waiting for the lend); the
/// blocking job then runs inside the parent's poll, on the parent's thread,
/// once the first nested call ends, and makes a sync call of the pool
/// itself. Nothing runs alongside, nothing deadlocks, the books balance.
#[test]
fn an_inline_blocking_job_waiting_for_the_lend_then_nesting_a_sync_call() {
    within(WATCHDOG, || {
        let pool = leaked(
            Pool::builder()
                .size(1)
                .blocking_executor(Arc::new(Inline))
                .build()
                .unwrap(),
        );
        let meter = Meter::default();
        let (g, open) = gate();
        let (ma, mb) = (meter.clone(), meter.clone());
        let mut parent = Task::new(pool.submit(async move {
            let a = pool.submit(async move {
                let _in = ma.enter();
                g.await;
            });
            let b = pool.submit_blocking(move || {
                let inside = mb.enter();
                let m2 = mb.clone();
                drop(inside);
                pool.run(move || {
                    let _in = m2.enter();
                    7
                })
            });
            futures::join!(a, b)
        }));
        parent.assert_pending();
        let s = pool.stats();
        assert_accounted(&s);
        assert_eq!(s.waiting, 1, "the blocking call waits for the lend: {s:?}");
        open.store(true, SeqCst);
        let mut polls = 0;
        let out = loop {
            if let Poll::Ready(out) = parent.poll() {
                break out;
            }
            polls += 1;
            assert!(polls < 50, "stuck: {:?}", pool.stats());
        };
        let (a, b) = out.expect("the parent ran");
        assert_eq!(a, Ok(()));
        assert_eq!(b, Ok(Ok(7)));
        assert_eq!(meter.max(), 1);
        let s = pool.stats();
        assert_settled(&s);
        assert_eq!(s.completed, 4, "{s:?}");
    });
}

/// The same root on the sync path. Promise (Reentrancy rule): a nested
/// call waits "for a free slot or for that slot to come back, whichever
/// comes first", and a sync nested call panics only when it "would have to
/// wait while the slot is lent to another nested call of the same task".
/// Attack: a pool of 2 with one slot free, paused; a parent's work joins a
/// running async nested call with a sync nested call. Unpaused, the sync
/// call takes the free slot (checked first); paused, it must not panic
/// either: a free slot means it does not have to wait.
#[test]
fn a_sync_nested_call_on_a_paused_pool_with_a_free_slot_does_not_panic() {
    common::quiet_planned_panics();
    within(WATCHDOG, || {
        for paused in [false, true] {
            let pool = leaked(Pool::fixed(2));
            let meter = Meter::default();
            let (g, open) = gate();
            let (ma, mb) = (meter.clone(), meter.clone());
            let mut parent = Task::new(pool.submit(async move {
                let a = pool.submit(async move {
                    let _in = ma.enter();
                    g.await;
                });
                let mut a = std::pin::pin!(a);
                let first = poll_fn(|cx| Poll::Ready(a.as_mut().poll(cx).is_pending())).await;
                assert!(first, "a runs under the lend");
                if paused {
                    pool.pause();
                }
                let b = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    pool.run(|| {
                        let _in = mb.enter();
                    })
                }));
                (a.await, b.is_ok())
            }));
            parent.assert_pending();
            open.store(true, SeqCst);
            let (a, b_ok) = match parent.poll() {
                Poll::Ready(Ok(out)) => out,
                other => panic!("paused={paused}: {:?}", other.is_ready()),
            };
            assert_eq!(a, Ok(()));
            let s = pool.stats();
            assert!(
                b_ok,
                "paused={paused}: the sync nested call panicked: {s:?}"
            );
            assert!(meter.max() <= 2);
            assert_settled(&s);
        }
    });
}

// ---- a load landing while a group's first use builds its pool ----------------------

#[cfg(all(feature = "config", feature = "metrics"))]
mod load_during_build {
    use super::*;
    use pool_runtime::{config, register_group};
    use std::sync::atomic::AtomicBool;

    static KIND_RACE: Group = Group::new(GroupSpec::new("adv28::kind_race").size(4));
    register_group!(KIND_RACE);

    static BUILDING: AtomicBool = AtomicBool::new(false);
    static LOADED: AtomicBool = AtomicBool::new(false);
    /// The group whose first build the recorder holds.
    static STALLED: Mutex<&str> = Mutex::new("adv28::kind_race");

    /// A recorder that holds the first registration of `adv28::kind_race`'s
    /// metrics until the test's load is done: the group's first use is then
    /// caught between reading its settings and publishing its pool.
    struct Stall;

    impl Stall {
        fn hold(&self, key: &metrics::Key) {
            let ours = key
                .labels()
                .any(|l| l.key() == "pool" && l.value() == *STALLED.lock().unwrap());
            if ours && !BUILDING.swap(true, SeqCst) {
                let start = Instant::now();
                while !LOADED.load(SeqCst) && start.elapsed() < Duration::from_secs(5) {
                    thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    impl metrics::Recorder for Stall {
        fn describe_counter(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_gauge(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn register_counter(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            self.hold(key);
            metrics::Counter::noop()
        }
        fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            self.hold(key);
            metrics::Gauge::noop()
        }
        fn register_histogram(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            self.hold(key);
            metrics::Histogram::noop()
        }
    }

    /// Promise (README, Configuration): a load "returns a report of what
    /// changed and when it takes effect (kind, order, ... at the group's next
    /// start)", and "a load stored meanwhile [during a group's first use] is
    /// applied to the new pool once published". Attack: a group declared
    /// fixed is first used; while its pool is being built (a metrics
    /// recorder holds the build), a load makes it autoscaled with 1..=2 and
    /// reorders it LIFO. The report must not promise what the group then
    /// does not do: a kind or order reported to take effect "at first use"
    /// must be the started pool's, and the group's settings must describe
    /// the pool that runs; the limit the load gives must hold either way.
    #[test]
    fn a_load_during_a_groups_first_use_reports_what_the_pool_does() {
        common::in_own_process(
            "load_during_build::a_load_during_a_groups_first_use_reports_what_the_pool_does",
            &[],
            || {
                metrics::set_global_recorder(Stall).expect("the only recorder");
                let first_use = thread::spawn(|| KIND_RACE.pool().kind());
                wait_until("the build to start", || BUILDING.load(SeqCst));
                let report = config::load_str(
                    "adv28.toml",
                    "[groups.\"adv28::kind_race\"]\nkind = \"autoscale\"\norder = \"lifo\"\nmin = 1\nmax = 2\n",
                )
                .expect("a valid file");
                LOADED.store(true, SeqCst);
                let kind = first_use.join().unwrap();
                let text = report.to_string();
                eprintln!(
                    "report: {text}\nstarted: {kind:?} {:?} size {}",
                    KIND_RACE.pool().order(),
                    KIND_RACE.size()
                );
                let mut broken = Vec::new();
                let settings = KIND_RACE.settings();
                if settings.kind != KIND_RACE.pool().kind() {
                    broken.push("settings() does not describe the pool's kind".to_owned());
                }
                let promised_now = |what: &str| {
                    text.lines()
                        .any(|l| l.contains(what) && l.contains("at first use"))
                };
                if promised_now("kind") && KIND_RACE.pool().kind() != pool_runtime::Kind::Autoscale
                {
                    broken.push(
                        "the kind reported to apply at first use is not the pool's".to_owned(),
                    );
                }
                if promised_now("order") && KIND_RACE.pool().order() != Order::Lifo {
                    broken.push(
                        "the order reported to apply at first use is not the pool's".to_owned(),
                    );
                }
                // The load's limit, counted from outside: at most 2 at once.
                let meter = Meter::default();
                let barrier = Arc::new(std::sync::Barrier::new(4));
                let callers: Vec<_> = (0..4)
                    .map(|_| {
                        let (m, b) = (meter.clone(), barrier.clone());
                        thread::spawn(move || {
                            b.wait();
                            KIND_RACE
                                .run(|| {
                                    let _in = m.enter();
                                    thread::sleep(Duration::from_millis(30));
                                })
                                .unwrap();
                        })
                    })
                    .collect();
                for c in callers {
                    c.join().unwrap();
                }
                if meter.max() > 2 {
                    broken.push(format!(
                        "the loaded max is 2, yet {} ran at once",
                        meter.max()
                    ));
                }
                assert!(
                    broken.is_empty(),
                    "{broken:#?}\nreport: {text}\npool: {:?} {:?} size {}",
                    KIND_RACE.pool().kind(),
                    KIND_RACE.pool().order(),
                    KIND_RACE.size()
                );
            },
        );
    }

    static SIZE_RACE: Group = Group::new(GroupSpec::new("adv28::size_race").size(4));
    register_group!(SIZE_RACE);

    /// The settings a running pool takes at once, loaded while the group's
    /// first use builds its pool (held there by the recorder): the size,
    /// the waiting bound and the admission timeout must be the load's once
    /// the first use returns, and the load's limit must hold, counted from
    /// outside.
    #[test]
    fn live_settings_loaded_during_a_groups_first_use_reach_its_pool() {
        common::in_own_process(
            "load_during_build::live_settings_loaded_during_a_groups_first_use_reach_its_pool",
            &[],
            || {
                *STALLED.lock().unwrap() = "adv28::size_race";
                metrics::set_global_recorder(Stall).expect("the only recorder");
                let first_use = thread::spawn(|| SIZE_RACE.size());
                wait_until("the build to start", || BUILDING.load(SeqCst));
                let report = config::load_str(
                    "adv28.toml",
                    "[groups.\"adv28::size_race\"]\nsize = 2\nmax_waiting = 1\nadmission_timeout = \"3s\"\n",
                )
                .expect("a valid file");
                LOADED.store(true, SeqCst);
                first_use.join().unwrap();
                let text = report.to_string();
                assert_eq!(SIZE_RACE.size(), 2, "{text}");
                assert_eq!(SIZE_RACE.pool().max_waiting(), Some(1), "{text}");
                assert_eq!(
                    SIZE_RACE.pool().admission_timeout(),
                    Some(Duration::from_secs(3)),
                    "{text}"
                );
                let meter = Meter::default();
                let barrier = Arc::new(std::sync::Barrier::new(3));
                let callers: Vec<_> = (0..3)
                    .map(|_| {
                        let (m, b) = (meter.clone(), barrier.clone());
                        thread::spawn(move || {
                            b.wait();
                            SIZE_RACE
                                .run(|| {
                                    let _in = m.enter();
                                    thread::sleep(Duration::from_millis(20));
                                })
                                .unwrap();
                        })
                    })
                    .collect();
                for c in callers {
                    c.join().unwrap();
                }
                assert!(meter.max() <= 2, "{} at once: {text}", meter.max());
                assert_settled(&SIZE_RACE.stats());
            },
        );
    }
}

// ---- races: close against the last release; LIFO hand-offs against cancellation ----

/// Promise (`Pool::drained`): resolves "once the pool is closed and nothing
/// is waiting or running". Attack: the last running call (a permit, a
/// submit, a blocking job, a sync call) ends on one thread at the moment
/// another closes the pool, while a `drained()` future waits on a runtime;
/// 150 rounds of each. A lost wake-up (the release's lock-free path against
/// the close's drain check) would leave `drained` pending for good.
#[test]
fn close_racing_the_last_release_never_loses_the_drain() {
    within(WATCHDOG * 2, || {
        let rt = common::runtime();
        for round in 0..600u32 {
            let pool = leaked(Pool::fixed(1));
            let meter = Meter::default();
            let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
            let m = meter.clone();
            let last: thread::JoinHandle<()> = match round % 4 {
                0 => {
                    let permit = pool.try_acquire_owned(0).unwrap();
                    thread::spawn(move || {
                        release_rx.recv().unwrap();
                        drop(permit);
                    })
                }
                1 => {
                    let (g, open) = gate();
                    let mut call = Task::new(pool.submit(async move {
                        let _in = m.enter();
                        g.await;
                    }));
                    call.assert_pending();
                    thread::spawn(move || {
                        release_rx.recv().unwrap();
                        open.store(true, SeqCst);
                        assert_eq!(call.assert_ready(), Ok(()));
                    })
                }
                2 => {
                    let (started_tx, started_rx) = std::sync::mpsc::channel();
                    let job = rt.spawn(pool.submit_blocking(move || {
                        let _in = m.enter();
                        started_tx.send(()).unwrap();
                        release_rx.recv().unwrap();
                    }));
                    started_rx.recv().unwrap();
                    let handle = rt.handle().clone();
                    thread::spawn(move || {
                        assert_eq!(handle.block_on(job).unwrap(), Ok(()));
                    })
                }
                _ => {
                    let (started_tx, started_rx) = std::sync::mpsc::channel();
                    let t = thread::spawn(move || {
                        pool.run(|| {
                            let _in = m.enter();
                            started_tx.send(()).unwrap();
                            release_rx.recv().unwrap();
                        })
                        .unwrap();
                    });
                    started_rx.recv().unwrap();
                    t
                }
            };
            let drained = rt.spawn(async move { pool.drained().await });
            let closer = thread::spawn(move || pool.close());
            release_tx.send(()).unwrap();
            closer.join().unwrap();
            last.join().unwrap();
            rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(5), drained)
                    .await
                    .unwrap_or_else(|_| {
                        panic!("round {round}: drained never resolved: {:?}", pool.stats())
                    })
                    .unwrap();
            });
            assert_settled(&pool.stats());
        }
    });
}

/// Promise (`Order::Lifo`, cancel safety, "Hand-off, no barging"): a freed
/// slot goes to the newest waiter; a waiter dropped while the slot is being
/// handed to it gives it on, to the next newest. Attack: a LIFO pool of 1,
/// three waiters queued in order on a runtime; the holder is released on one
/// thread while the newest waiter is aborted on another; 300 rounds. The
/// slot must reach the middle waiter (never the oldest first, never lost),
/// never more than one body at once, and the books balance.
#[test]
fn lifo_hand_off_racing_the_newest_waiters_cancellation() {
    within(WATCHDOG * 2, || {
        let rt = common::runtime();
        for round in 0..300u32 {
            let pool = leaked(Pool::builder().order(Order::Lifo).size(1).build().unwrap());
            let meter = Meter::default();
            let log: Log = Arc::default();
            let holder = pool.try_acquire_owned(0).unwrap();
            let mut waiters = Vec::new();
            for id in 0..3usize {
                let (m, log) = (meter.clone(), log.clone());
                waiters.push(rt.spawn(pool.submit(async move {
                    let _in = m.enter();
                    log.lock().unwrap().push(id);
                    tokio::task::yield_now().await;
                })));
                let n = id + 1;
                wait_until("queued", || pool.stats().waiting == n);
            }
            let newest = waiters.pop().unwrap();
            let aborter = {
                let abort = newest.abort_handle();
                thread::spawn(move || abort.abort())
            };
            drop(holder);
            aborter.join().unwrap();
            // Aborted while waiting, or after its body started (then it
            // is cancelled while running): either way counted cancelled.
            let aborted = match rt.block_on(newest) {
                Ok(out) => {
                    assert_eq!(out, Ok(()));
                    false
                }
                Err(e) => {
                    assert!(e.is_cancelled());
                    true
                }
            };
            for w in waiters {
                let out = rt.block_on(async { tokio::time::timeout(WATCHDOG, w).await });
                assert_eq!(
                    out.unwrap_or_else(|_| panic!("round {round}: hung: {:?}", pool.stats()))
                        .unwrap(),
                    Ok(())
                );
            }
            let order = log.lock().unwrap().clone();
            let want: Vec<usize> = if order.first() == Some(&2) {
                vec![2, 1, 0]
            } else {
                vec![1, 0]
            };
            assert_eq!(order, want, "round {round}");
            assert_eq!(meter.max(), 1);
            let s = pool.stats();
            assert_settled(&s);
            assert_eq!(s.cancelled, u64::from(aborted), "{s:?}");
        }
    });
}

/// Promise (`Pool::spawn`, `Stats`): "rejections that are known at once
/// (paused, closed, full) are returned here; later ones (timed out, closed
/// while waiting) through the handle", every one counted. Attack: spawned
/// calls turned away at once for each reason and later for each reason
/// (an abort, a zero and a short admission timeout), handles dropped
/// unawaited (detached) while waiting and while running, then the books.
#[test]
fn spawned_calls_turned_away_now_or_later_and_detached_are_all_counted() {
    within(WATCHDOG, || {
        let rt = common::runtime();
        let _rt = rt.enter();
        let pool = Pool::builder().size(1).max_waiting(2).build().unwrap();
        let meter = Meter::default();
        let body = |m: &Meter| {
            let m = m.clone();
            async move {
                let _in = m.enter();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        let holder = pool.try_acquire_owned(0).unwrap();
        // Two wait (the bound), the third is turned away at once.
        let a = pool.spawn(body(&meter)).unwrap();
        let b = pool.spawn(body(&meter)).unwrap();
        wait_until("two waiting", || pool.stats().waiting == 2);
        assert!(matches!(pool.spawn(body(&meter)), Err(Rejected::Full)));
        // A detached waiter (its handle dropped) still runs later.
        drop(b);
        pool.pause();
        assert!(matches!(pool.spawn(body(&meter)), Err(Rejected::Paused)));
        pool.resume();
        drop(holder);
        assert_eq!(rt.block_on(a), Ok(()));
        wait_until("the detached call ran", || meter.done() == 2);
        // Timed out later, through the handle.
        pool.set_admission_timeout(Some(Duration::from_millis(30)));
        let holder = pool.try_acquire_owned(0).unwrap();
        let late = pool.spawn(body(&meter)).unwrap();
        assert_eq!(rt.block_on(late), Err(Rejected::TimedOut));
        pool.set_admission_timeout(Some(Duration::ZERO));
        let zero = pool.spawn(body(&meter));
        match zero {
            Err(Rejected::TimedOut) => {}
            Ok(handle) => assert_eq!(rt.block_on(handle), Err(Rejected::TimedOut)),
            Err(other) => panic!("{other:?}"),
        }
        pool.set_admission_timeout(None);
        // Closed later, by an abort, and at once after it.
        let aborted = pool.spawn(body(&meter)).unwrap();
        let detached = pool.spawn(body(&meter)).unwrap();
        wait_until("two waiting", || pool.stats().waiting == 2);
        drop(detached);
        pool.abort();
        assert_eq!(rt.block_on(aborted), Err(Rejected::Closed));
        assert!(matches!(pool.spawn(body(&meter)), Err(Rejected::Closed)));
        drop(holder);
        rt.block_on(async {
            tokio::time::timeout(WATCHDOG, pool.drained())
                .await
                .expect("drains")
        });
        let s = pool.stats();
        assert_settled(&s);
        assert_eq!(s.rejected_for(Rejected::Full), 1, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Paused), 1, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::TimedOut), 2, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Closed), 3, "{s:?}");
        assert_eq!(s.completed, 4, "two holders and two calls: {s:?}");
        assert_eq!(meter.done(), 2);
        assert_eq!(meter.max(), 1);
    });
}

static PAUSED_GROUP: Group = Group::new(GroupSpec::new("adv28::paused_group").size(2));

/// The pause bug through a group's never-rejecting call (what a `#[pooled]`
/// function that cannot return an error makes): a group of 2, one call
/// running with a nested call holding its lend; the group is paused and
/// resumed while a nested `submit_wait` waits for the lend. After `resume`
/// the free slot must go to it (or to someone): a new group call must not
/// wait while only one slot of two is held.
#[test]
fn a_nested_never_rejecting_group_call_across_a_pause_leaves_no_slot_idle() {
    within(WATCHDOG, || {
        let meter = Meter::default();
        let (ga, open_a) = gate();
        let (go_b, start_b) = gate();
        let (ma, mb) = (meter.clone(), meter.clone());
        let mut parent = Task::new(PAUSED_GROUP.submit_wait(0, async move {
            let a = PAUSED_GROUP.submit_wait(0, async move {
                let _in = ma.enter();
                ga.await;
            });
            let mut a = std::pin::pin!(a);
            let first = poll_fn(|cx| Poll::Ready(a.as_mut().poll(cx).is_pending())).await;
            assert!(first, "a runs under the lend");
            go_b.await;
            let b = PAUSED_GROUP.submit_wait(0, async move {
                let _in = mb.enter();
            });
            futures::join!(a, b)
        }));
        parent.assert_pending();
        PAUSED_GROUP.pause();
        start_b.store(true, SeqCst);
        let _ = parent.poll();
        PAUSED_GROUP.resume();
        let _ = parent.poll();
        let m = meter.clone();
        let mut independent = Task::new(PAUSED_GROUP.submit(0, async move {
            let _in = m.enter();
        }));
        let ready = independent.poll().is_ready();
        let s = PAUSED_GROUP.stats();
        open_a.store(true, SeqCst);
        let mut polls = 0;
        while parent.poll().is_pending() || independent.poll().is_pending() {
            polls += 1;
            assert!(polls < 100, "stuck: {:?}", PAUSED_GROUP.stats());
        }
        assert!(meter.max() <= 2);
        assert_settled(&PAUSED_GROUP.stats());
        assert!(
            ready || s.running == 2,
            "one slot of 2 held, a nested call and a new call waiting: {s:?}"
        );
    });
}

// ---- metrics follow the stats through the scenarios above -------------------------

#[cfg(feature = "metrics")]
mod metered {
    use super::*;
    use common::Capture;

    fn metered_pool(capture: &Capture, name: &'static str, size: usize) -> &'static Pool {
        leaked(metrics::with_local_recorder(capture, || {
            Pool::builder().name(name).size(size).build().unwrap()
        }))
    }

    #[track_caller]
    fn assert_follows(capture: &Capture, name: &str, pool: &Pool) {
        let s = pool.stats();
        assert_settled(&s);
        assert_eq!(capture.gauge("pooled.running", name), Some(0.0), "{s:?}");
        assert_eq!(capture.gauge("pooled.waiting", name), Some(0.0), "{s:?}");
        assert_eq!(
            capture.gauge("pooled.limit", name),
            Some(s.size as f64),
            "{s:?}"
        );
        for (reason, label) in [
            (Rejected::Paused, "paused"),
            (Rejected::Closed, "closed"),
            (Rejected::Full, "full"),
            (Rejected::TimedOut, "timed_out"),
        ] {
            assert_eq!(
                capture.calls(name, "rejected", Some(label)),
                s.rejected_for(reason),
                "{label}: {s:?}"
            );
        }
        assert_eq!(capture.calls(name, "cancelled", None), s.cancelled, "{s:?}");
        assert_eq!(
            capture.calls(name, "completed", None) + capture.calls(name, "panicked", None),
            s.completed,
            "{s:?}"
        );
    }

    /// Promise (`observe`, README metrics): `pooled.running` and
    /// `pooled.waiting` follow the pool, and `pooled.calls` counts every
    /// outcome. Attack: waiters of every form through a pause, a resize to
    /// 0 and an abort, then the pool regrown and resumed; an orphaned
    /// nested call and a waiter behind it through `shutdown` past its
    /// deadline. At the end the gauges read 0 (and the limit the size) and
    /// the counters equal the stats.
    #[test]
    fn gauges_and_counters_follow_the_stats_through_steering_and_orphans() {
        within(WATCHDOG, || {
            let capture = Capture::default();
            let rt = common::runtime();
            let name = "adv28::metered";
            let p = metered_pool(&capture, name, 1);
            let meter = Meter::default();
            let holder = p.try_acquire_owned(0).unwrap();
            let mut joiners = Vec::new();
            let log: Log = Arc::default();
            for (id, form) in FORMS.iter().enumerate() {
                joiners.push(queue_call(&rt, p, *form, id, 0, &meter, &log));
            }
            p.pause();
            assert_eq!(rt.block_on(p.submit(async {})), Err(Rejected::Paused));
            p.resize(0);
            p.abort();
            for j in joiners {
                assert_eq!(j(&rt), Err(Rejected::Closed));
            }
            drop(holder);
            p.resize(1);
            p.resume();
            assert_follows(&capture, name, p);

            let name = "adv28::metered_nested";
            let pool = metered_pool(&capture, name, 1);
            let (g, open) = gate();
            let m = meter.clone();
            let mut orphan = Task::new(orphan_of(pool, async move {
                let _in = m.enter();
                g.await;
            }));
            let mut behind = Task::new(pool.submit(async {}));
            behind.assert_pending();
            assert!(futures::executor::block_on(pool.shutdown(Some(Duration::ZERO))).is_err());
            assert_eq!(behind.assert_ready(), Err(Rejected::Closed));
            open.store(true, SeqCst);
            assert_eq!(orphan.assert_ready(), Ok(()));
            assert_follows(&capture, name, pool);
        });
    }
}
