//! Hostile tests, round 21: drop and cancellation ordering. A call dropped
//! (or turned away) while it waits, or once it was handed a slot it never
//! used, must give back what it holds (its queue position, a slot handed to
//! it, a ceiling slot, a lend) before the user's code in its work's `Drop`
//! runs: that code may call the same pool, another group, or the pool's
//! handle, and must neither wait for a slot held idle on its behalf nor find
//! the pool full because of it. Each test names the promise it attacks (the
//! limit, nothing hangs, nothing is lost, no lock held while user code runs).
//! Concurrency is counted from outside the library; every wait is bounded
//! only to turn a hang into a failure.
#![cfg(all(
    feature = "tokio",
    feature = "config",
    feature = "stream",
    feature = "tower"
))]

mod common;
#[cfg(feature = "redis")]
mod redis_server;

use common::*;
use pool_runtime::{Order, Pool, Rejected};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(10);

/// User code run by a `Drop`: the work (or closure, or request) of a call
/// carries one, so that what the library does when it drops it is seen.
struct OnDrop(Option<Box<dyn FnOnce() + Send>>);

impl OnDrop {
    fn new(f: impl FnOnce() + Send + 'static) -> OnDrop {
        OnDrop(Some(Box::new(f)))
    }
}

impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// What a `Drop` saw, written once it ran.
type Seen<T> = Arc<Mutex<Option<T>>>;

fn seen<T>() -> Seen<T> {
    Arc::new(Mutex::new(None))
}

#[track_caller]
fn take<T>(seen: &Seen<T>) -> T {
    seen.lock()
        .unwrap()
        .take()
        .expect("the work's Drop never ran")
}

/// A `Drop` that asks `pool` for a slot now (`try_acquire`) and records
/// whether it got one.
fn tries(pool: &Pool, seen: &Seen<Result<(), Rejected>>) -> OnDrop {
    let (pool, seen) = (pool.clone(), seen.clone());
    OnDrop::new(move || {
        let got = pool.try_acquire().map(drop);
        *seen.lock().unwrap() = Some(got);
    })
}

/// Nothing runs or waits, and every call is accounted for.
#[track_caller]
fn settled(pool: &Pool) -> pool_runtime::Stats {
    let s = pool.stats();
    assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
    assert_accounted(&s);
    s
}

fn pool_of(size: usize, order: Order) -> Pool {
    Pool::builder().size(size).order(order).build().unwrap()
}

const ORDERS: [Order; 3] = [Order::Fifo, Order::Lifo, Order::Priority];

// ---- the application-wide ceiling -------------------------------------------

mod ceiling_drops {
    use super::*;
    use pool_runtime::{ceiling, config, register_group, Group, GroupSpec};

    static WAITED: Group = Group::new(GroupSpec::new("adv21::waited").size(1));
    register_group!(WAITED);
    static NO_WAIT: Group = Group::new(GroupSpec::new("adv21::no_wait").size(1).max_waiting(0));
    register_group!(NO_WAIT);
    static OTHER: Group = Group::new(GroupSpec::new("adv21::other").size(4));
    register_group!(OTHER);

    /// A `Drop` that runs a sync call of another group (`OTHER.run`) and
    /// records its answer: under a ceiling it needs a ceiling slot.
    fn runs_other(seen: &Seen<Result<(), Rejected>>) -> OnDrop {
        let seen = seen.clone();
        OnDrop::new(move || {
            let out = OTHER.run(|| ());
            *seen.lock().unwrap() = Some(out);
        })
    }

    /// The ceiling holds no slot and every call it saw is accounted for.
    #[track_caller]
    fn ceiling_settled() {
        let c = ceiling::stats().unwrap();
        assert_eq!((c.running, c.nested, c.waiting), (0, 0, 0), "{c:?}");
        assert_accounted(&c);
    }

    /// Promise: nothing hangs; no slot is held idle while the user's code
    /// runs (the bug round 20 fixed for async calls). Attack: under a
    /// ceiling of 1, a group's `submit_blocking` takes the ceiling slot and
    /// waits for its group's slot (held through `Group::pool`, which takes
    /// no ceiling slot); the caller drops it. The closure's `Drop` runs a
    /// sync call of another group, which needs the ceiling slot the dropped
    /// call still holds: it must get it (the dropped call is gone) instead
    /// of waiting for good.
    #[test]
    fn a_group_blocking_call_dropped_waiting_for_its_group_frees_the_ceiling_before_its_closure() {
        crate::common::in_own_process("ceiling_drops::a_group_blocking_call_dropped_waiting_for_its_group_frees_the_ceiling_before_its_closure", &[], || {
            let _turn = config_turn();
            config::load_str("adv21.toml", "ceiling = 1\n").unwrap();
            let out = within(BOUND, || {
                let holder = WAITED.pool().try_acquire().unwrap();
                let seen = seen();
                let guard = runs_other(&seen);
                let mut call = Task::new(WAITED.submit_blocking(0, move || drop(guard)));
                call.assert_pending();
                assert_eq!(
                    ceiling::stats().unwrap().running,
                    1,
                    "the ceiling slot taken"
                );
                assert_eq!(WAITED.stats().waiting, 1, "waiting for its group");
                drop(call);
                drop(holder);
                take(&seen)
            });
            let after = within(BOUND, || {
                ceiling_settled();
                WAITED.stats()
            });
            config::clear();
            assert_eq!(out, Ok(()), "the Drop's call to another group");
            assert_accounted(&after);
            assert_eq!((after.running, after.waiting), (0, 0), "{after:?}");
        });
    }

    /// Promise: nothing hangs; bad input (a full group that may not queue)
    /// is an error value. Attack: under a ceiling of 1, a group of 1 with
    /// `max_waiting = 0` whose slot is held through `Group::pool`; its
    /// `submit_blocking` takes the ceiling slot (free), then its group turns
    /// it away (`Full`). The closure, never run, is dropped: its `Drop` runs
    /// a sync call of another group, which needs the ceiling slot. The call
    /// must answer `Full` and the `Drop`'s call must run, in one poll.
    #[test]
    fn a_group_blocking_call_turned_away_by_its_group_frees_the_ceiling_before_its_closure() {
        crate::common::in_own_process("ceiling_drops::a_group_blocking_call_turned_away_by_its_group_frees_the_ceiling_before_its_closure", &[], || {
            let _turn = config_turn();
            config::load_str("adv21.toml", "ceiling = 1\n").unwrap();
            let (answer, out) = within(BOUND, || {
                let holder = NO_WAIT.pool().try_acquire().unwrap();
                let seen = seen();
                let guard = runs_other(&seen);
                let mut call = Task::new(NO_WAIT.submit_blocking(0, move || drop(guard)));
                let answer = call.assert_ready();
                drop(holder);
                (answer, take(&seen))
            });
            let after = within(BOUND, || {
                ceiling_settled();
                NO_WAIT.stats()
            });
            config::clear();
            assert_eq!(answer, Err(Rejected::Full));
            assert_eq!(out, Ok(()), "the Drop's call to another group");
            assert_accounted(&after);
        });
    }

    /// Promise: nothing hangs; no slot held idle while user code runs.
    /// Attack: the async counterpart of the test above it: a group's
    /// `submit` (a `Ceilinged` call) holds the only ceiling slot and waits
    /// for its group's; dropped, its work's `Drop` runs a sync call of
    /// another group. Catches: the work dropped outside the ceiling slot's
    /// frame (the `Drop`'s call would wait for that slot for good) or
    /// before the group's queue was left.
    #[test]
    fn a_group_async_call_dropped_waiting_for_its_group_drops_its_work_under_its_ceiling_slot() {
        crate::common::in_own_process("ceiling_drops::a_group_async_call_dropped_waiting_for_its_group_drops_its_work_under_its_ceiling_slot", &[], || {
            let _turn = config_turn();
            config::load_str("adv21.toml", "ceiling = 1\n").unwrap();
            let out = within(BOUND, || {
                let holder = WAITED.pool().try_acquire().unwrap();
                let seen = seen();
                let guard = runs_other(&seen);
                let mut call = Task::new(WAITED.submit(0, async move { drop(guard) }));
                call.assert_pending();
                assert_eq!(ceiling::stats().unwrap().running, 1);
                assert_eq!(WAITED.stats().waiting, 1);
                drop(call);
                assert_eq!(WAITED.stats().waiting, 0);
                drop(holder);
                take(&seen)
            });
            let after = within(BOUND, || {
                ceiling_settled();
                WAITED.stats()
            });
            config::clear();
            assert_eq!(out, Ok(()));
            assert_accounted(&after);
            assert_eq!((after.running, after.waiting), (0, 0), "{after:?}");
        });
    }

    /// Promise: nothing hangs; no slot held idle (the ceiling's) while
    /// user code runs. Attack: under a ceiling of 1, a group's `submit` waits
    /// for the ceiling slot, which another group's permit holds; the permit
    /// is dropped (the ceiling slot is handed to the waiting call), then the
    /// call is dropped before it is polled again. Its work's `Drop` runs a
    /// sync call of another group, which needs that ceiling slot.
    #[test]
    fn a_group_call_handed_the_ceiling_slot_and_dropped_frees_it_before_its_work() {
        crate::common::in_own_process("ceiling_drops::a_group_call_handed_the_ceiling_slot_and_dropped_frees_it_before_its_work", &[], || {
            let _turn = config_turn();
            config::load_str("adv21.toml", "ceiling = 1\n").unwrap();
            let out = within(BOUND, || {
                let holder = OTHER.try_acquire(0).unwrap();
                let seen = seen();
                let guard = runs_other(&seen);
                let mut call = Task::new(WAITED.submit(0, async move { drop(guard) }));
                call.assert_pending();
                assert_eq!(ceiling::stats().unwrap().waiting, 1);
                drop(holder);
                assert!(call.is_woken(), "handed the ceiling slot");
                drop(call);
                take(&seen)
            });
            let after = within(BOUND, || {
                ceiling_settled();
                (WAITED.stats(), OTHER.stats())
            });
            config::clear();
            assert_eq!(out, Ok(()));
            assert_accounted(&after.0);
            assert_accounted(&after.1);
        });
    }

    /// Promise: nothing hangs; the ceiling is a limit on every path.
    /// Attack: as above for `submit_blocking` (its ceiling wait is an
    /// `OwnedSlot::acquire`, not a `Ceilinged`): handed the ceiling slot,
    /// dropped unpolled, its closure's `Drop` runs another group's call.
    #[test]
    fn a_group_blocking_call_handed_the_ceiling_slot_and_dropped_frees_it_before_its_closure() {
        crate::common::in_own_process("ceiling_drops::a_group_blocking_call_handed_the_ceiling_slot_and_dropped_frees_it_before_its_closure", &[], || {
            let _turn = config_turn();
            config::load_str("adv21.toml", "ceiling = 1\n").unwrap();
            let out = within(BOUND, || {
                let holder = OTHER.try_acquire(0).unwrap();
                let seen = seen();
                let guard = runs_other(&seen);
                let mut call = Task::new(WAITED.submit_blocking(0, move || drop(guard)));
                call.assert_pending();
                assert_eq!(ceiling::stats().unwrap().waiting, 1);
                drop(holder);
                assert!(call.is_woken(), "handed the ceiling slot");
                drop(call);
                take(&seen)
            });
            let after = within(BOUND, || {
                ceiling_settled();
                WAITED.stats()
            });
            config::clear();
            assert_eq!(out, Ok(()));
            assert_accounted(&after);
        });
    }

    /// Promise: nothing hangs; bad input (an executor that drops the job)
    /// is an error value (`Closed`). Attack: under a ceiling of 1, a group's
    /// `submit_blocking` is admitted (ceiling and group slots), then its
    /// executor refuses the job: tokio's blocking pool of a runtime shut
    /// down, whose handle is current. The job is dropped unrun: the closure's
    /// `Drop` runs a sync call of another group, which needs the ceiling
    /// slot the dropped job carries. Catches: the job's pieces dropped in an
    /// order that drops the closure before the ceiling slot it carries.
    #[test]
    fn a_group_blocking_job_dropped_unrun_frees_the_ceiling_before_its_closure() {
        crate::common::in_own_process("ceiling_drops::a_group_blocking_job_dropped_unrun_frees_the_ceiling_before_its_closure", &[], || {
            let _turn = config_turn();
            config::load_str("adv21.toml", "ceiling = 1\n").unwrap();
            let (answer, out) = within(BOUND, || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .build()
                    .unwrap();
                let handle = rt.handle().clone();
                rt.shutdown_background();
                let _entered = handle.enter();
                let seen = seen();
                let guard = runs_other(&seen);
                let answer =
                    futures::executor::block_on(WAITED.submit_blocking(0, move || drop(guard)));
                (answer, take(&seen))
            });
            let after = within(BOUND, || {
                ceiling_settled();
                WAITED.stats()
            });
            config::clear();
            assert_eq!(answer, Err(Rejected::Closed));
            assert_eq!(out, Ok(()), "the Drop's call to another group");
            assert_accounted(&after);
        });
    }

    /// Promise: nothing hangs. Attack: under a ceiling of 1, a group's
    /// never-rejecting `submit_blocking_wait` holds the ceiling slot (its
    /// closure carries it) and waits for its group's slot, held through
    /// `Group::pool`; dropped, the closure's `Drop` runs a sync call of
    /// another group, which needs that ceiling slot.
    #[test]
    fn a_group_blocking_wait_call_dropped_waiting_for_its_group_frees_the_ceiling_before_its_closure(
    ) {
        crate::common::in_own_process("ceiling_drops::a_group_blocking_wait_call_dropped_waiting_for_its_group_frees_the_ceiling_before_its_closure", &[], || {
            let _turn = config_turn();
            config::load_str("adv21.toml", "ceiling = 1\n").unwrap();
            let out = within(BOUND, || {
                let holder = WAITED.pool().try_acquire().unwrap();
                let seen = seen();
                let guard = runs_other(&seen);
                let mut call = Task::new(WAITED.submit_blocking_wait(0, move || drop(guard)));
                call.assert_pending();
                assert_eq!(
                    ceiling::stats().unwrap().running,
                    1,
                    "the ceiling slot taken"
                );
                assert_eq!(WAITED.stats().waiting, 1, "waiting for its group");
                drop(call);
                drop(holder);
                take(&seen)
            });
            let after = within(BOUND, || {
                ceiling_settled();
                WAITED.stats()
            });
            config::clear();
            assert_eq!(out, Ok(()), "the Drop's call to another group");
            assert_accounted(&after);
        });
    }
}

// ---- a handed slot, freed before the work goes -------------------------------

/// Promise: no slot lost or held idle while user code runs; nothing lost.
/// Attack: on FIFO, LIFO and priority pools of 1, a call waits behind a
/// permit; the permit is dropped (the slot is handed to the call), then the
/// call is dropped unpolled. Its work's `Drop` asks for a slot at once
/// (`try_acquire`): the slot must be free. Catches: the work dropped while
/// the handed slot is still the dropped call's, the call counted other than
/// once as cancelled.
#[test]
fn a_submit_handed_a_slot_and_dropped_frees_it_before_its_work_on_every_order() {
    within(BOUND, || {
        for order in ORDERS {
            let pool = pool_of(1, order);
            let holder = pool.try_acquire().unwrap();
            let seen = seen();
            let guard = tries(&pool, &seen);
            let mut call = Task::new(pool.submit_weighted(3, async move { drop(guard) }));
            call.assert_pending();
            drop(holder);
            assert!(call.is_woken(), "{order:?}: handed the slot");
            drop(call);
            assert_eq!(take(&seen), Ok(()), "{order:?}: the slot was held idle");
            let s = settled(&pool);
            assert_eq!((s.cancelled, s.completed), (1, 2), "{order:?}: {s:?}");
        }
    });
}

/// Promise: as above, for `submit_blocking`: its closure is dropped only
/// once the slot handed to it is free again, and the call counts once as
/// cancelled.
#[test]
fn a_blocking_call_handed_a_slot_and_dropped_frees_it_before_its_closure_on_every_order() {
    within(BOUND, || {
        for order in ORDERS {
            let pool = pool_of(1, order);
            let holder = pool.try_acquire().unwrap();
            let seen = seen();
            let guard = tries(&pool, &seen);
            let mut call = Task::new(pool.submit_blocking_weighted(2, move || drop(guard)));
            call.assert_pending();
            drop(holder);
            assert!(call.is_woken(), "{order:?}: handed the slot");
            drop(call);
            assert_eq!(take(&seen), Ok(()), "{order:?}: the slot was held idle");
            let s = settled(&pool);
            assert_eq!((s.cancelled, s.completed), (1, 2), "{order:?}: {s:?}");
        }
    });
}

/// Promise: a spawned call cancelled with `SpawnHandle::abort` frees its
/// slot "like dropping a Submit"; no slot held idle while user code runs.
/// Attack: on a current-thread runtime (nothing runs until the test
/// yields), a call spawned behind a permit is handed the slot when the
/// permit goes, then aborted before its task ever ran; the runtime drops
/// it: its work's `Drop` asks for a slot at once.
#[test]
fn an_aborted_spawn_handed_a_slot_frees_it_before_its_work() {
    within(BOUND, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for order in ORDERS {
            let pool = pool_of(1, order);
            let seen = seen();
            let answer = rt.block_on(async {
                let holder = pool.try_acquire().unwrap();
                let guard = tries(&pool, &seen);
                let handle = pool.spawn(async move { drop(guard) }).unwrap();
                drop(holder);
                handle.abort();
                handle.await
            });
            assert_eq!(answer, Err(Rejected::Closed), "{order:?}");
            assert_eq!(take(&seen), Ok(()), "{order:?}: the slot was held idle");
            let s = settled(&pool);
            assert_eq!((s.cancelled, s.completed), (1, 2), "{order:?}: {s:?}");
        }
    });
}

/// Promise: the reentrancy rule (a nested call uses its parent's slot, one
/// at a time) holds when a nested call is dropped; nothing hangs. Attack:
/// inside a call's work, nested call `a` borrows the parent's slot and
/// nested call `b` waits for it; `a` ends (the lend is handed to `b`), then
/// `b` is dropped unpolled. Its work's `Drop` runs a nested sync call,
/// which must find the lend free (a nested sync call that must wait for a
/// lend held on its own thread panics instead).
#[test]
fn a_nested_call_handed_the_lend_and_dropped_returns_it_before_its_work() {
    quiet_planned_panics();
    within(BOUND, || {
        for order in ORDERS {
            let pool = pool_of(1, order);
            let seen: Seen<bool> = seen();
            let p = pool.clone();
            let s2 = seen.clone();
            let guard = OnDrop::new(move || {
                let ran = catch_unwind(AssertUnwindSafe(|| p.run(|| ()))).is_ok_and(|r| r.is_ok());
                *s2.lock().unwrap() = Some(ran);
            });
            let pool2 = pool.clone();
            let out = futures::executor::block_on(pool.submit(async move {
                let mut a = Box::pin(pool2.submit(PendingOnce::default()));
                let mut b = Box::pin(pool2.submit(async move { drop(guard) }));
                std::future::poll_fn(|cx| {
                    assert!(a.as_mut().poll(cx).is_pending(), "a borrows the lend");
                    assert!(b.as_mut().poll(cx).is_pending(), "b waits for it");
                    assert!(a.as_mut().poll(cx).is_ready(), "a ends, handing it to b");
                    Poll::Ready(())
                })
                .await;
                drop(b);
            }));
            assert_eq!(out, Ok(()), "{order:?}");
            assert!(take(&seen), "{order:?}: the lend was held idle");
            let s = settled(&pool);
            assert_eq!(s.cancelled, 1, "{order:?}: {s:?}");
        }
    });
}

/// Promise: nothing lost, no slot lost. Attack: a chain of drops: call
/// `b`'s work owns call `c` (a `Submit` of the same pool, queued before it
/// was moved into `b`'s work). On LIFO and priority pools the queue is `b`,
/// then `c`, then `d`. `b` is handed the slot and dropped: leaving, it
/// hands the slot to `c`; then its work drops `c`, which must hand the slot
/// on to `d`. Both must count once as cancelled, and `d` be admitted.
#[test]
fn a_dropped_calls_work_that_owns_the_next_waiter_passes_the_slot_down_the_chain() {
    within(BOUND, || {
        for order in [Order::Lifo, Order::Priority] {
            let pool = pool_of(1, order);
            let holder = pool.try_acquire().unwrap();
            let mut d = Task::new(pool.submit_weighted(3, async {}));
            d.assert_pending();
            let mut c = Box::pin(pool.submit_weighted(2, async {}));
            let waker = futures::task::noop_waker();
            assert!(c
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            let mut b = Task::new(pool.submit_weighted(1, async move {
                let _c = c;
            }));
            b.assert_pending();
            assert_eq!(pool.stats().waiting, 3);
            drop(holder);
            assert!(b.is_woken(), "{order:?}: b handed the slot");
            drop(b);
            assert_eq!(d.assert_ready(), Ok(()), "{order:?}");
            drop(d);
            let s = settled(&pool);
            assert_eq!((s.cancelled, s.completed), (2, 2), "{order:?}: {s:?}");
        }
    });
}

/// Promise: nothing hangs; the reentrancy rule on a cancelled call. Attack:
/// on a current-thread runtime (where a sync call that must wait panics
/// instead of parking the thread), a spawned call runs holding the only
/// slot and is aborted; the runtime drops its work, whose `Drop` runs a
/// sync call of the pool: dropped in the call's frame, it is nested and
/// runs under the slot.
#[test]
fn an_aborted_running_spawn_drops_its_work_under_its_slot() {
    quiet_planned_panics();
    within(BOUND, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for order in ORDERS {
            let pool = pool_of(1, order);
            let seen: Seen<bool> = seen();
            let (p, s2) = (pool.clone(), seen.clone());
            let guard = OnDrop::new(move || {
                let ran = catch_unwind(AssertUnwindSafe(|| p.run(|| ()))).is_ok_and(|r| r.is_ok());
                *s2.lock().unwrap() = Some(ran);
            });
            let answer = rt.block_on(async {
                let (started, running) = tokio::sync::oneshot::channel::<()>();
                let handle = pool
                    .spawn(async move {
                        let _guard = guard;
                        let _ = started.send(());
                        std::future::pending::<()>().await;
                    })
                    .unwrap();
                running.await.unwrap();
                handle.abort();
                handle.await
            });
            assert_eq!(answer, Err(Rejected::Closed), "{order:?}");
            assert!(take(&seen), "{order:?}: the Drop's call did not run");
            let s = settled(&pool);
            assert_eq!(s.cancelled, 1, "{order:?}: {s:?}");
        }
    });
}

/// Promise: nothing lost; no slot lost ("panics if called outside a tokio
/// runtime, like `tokio::spawn`"). Attack: `Pool::spawn` outside any
/// runtime takes its queue position (or a free slot) before it hands the
/// call to tokio, which panics: the call, already counted, must be dropped
/// as cancelled, leaving the queue or freeing the slot, its work dropped
/// once.
#[test]
fn a_spawn_outside_a_runtime_panics_without_losing_its_slot_or_its_count() {
    quiet_planned_panics();
    within(BOUND, || {
        for order in ORDERS {
            for full in [false, true] {
                let pool = pool_of(1, order);
                let holder = full.then(|| pool.try_acquire().unwrap());
                let seen = seen();
                let guard = tries(&pool, &seen);
                let spawned = catch_unwind(AssertUnwindSafe(|| {
                    pool.spawn(async move { drop(guard) }).map(drop)
                }));
                assert!(spawned.is_err(), "{order:?}: no runtime, a panic");
                // The work's Drop ran once; it found the slot free unless
                // the permit holds it.
                let got = take(&seen);
                assert_eq!(got.is_ok(), !full, "{order:?}, full {full}: {got:?}");
                drop(holder);
                let s = settled(&pool);
                assert_eq!(s.cancelled, 1, "{order:?}, full {full}: {s:?}");
            }
        }
    });
}

/// Promise: nothing hangs; no slot held while user code runs that needs
/// it ("dropped while running ... inside the call's frame, so a `Drop` in
/// it that calls the same pool runs under this slot"). Attack: a running
/// `submit_judged` call on a pool of 1 is cancelled; its judge (never run)
/// captures a value whose `Drop` runs a sync call of the same pool. The
/// work is dropped inside the call's frame; the judge must be too (or
/// after the slot is freed), not outside the frame while the dying call
/// still holds the only slot.
#[test]
fn a_cancelled_judged_calls_judge_drop_may_call_its_pool() {
    within(BOUND, || {
        for order in ORDERS {
            let pool = pool_of(1, order);
            let seen = seen();
            let guard = runs(&pool, &seen);
            let mut call =
                Task::new(
                    pool.submit_judged(0, std::future::pending::<()>(), move |_: &()| {
                        let _guard = &guard;
                        pool_runtime::Verdict::Success
                    }),
                );
            call.assert_pending();
            assert_eq!(pool.stats().running, 1, "{order:?}: running");
            drop(call);
            assert_eq!(take(&seen), Ok(()), "{order:?}: the judge's Drop");
            let s = settled(&pool);
            assert_eq!(s.cancelled, 1, "{order:?}: {s:?}");
        }
    });
}

// ---- Drops that panic, wakers that panic -------------------------------------

/// Promise: nothing lost, no slot lost, a panic is not a freeze. Attack: a
/// call handed the slot is dropped unpolled; leaving the queue hands the
/// slot to the next waiter, whose waker panics (caught by the library);
/// then the dropped call's work `Drop` panics too (out of the `drop`,
/// caught by the test). The next waiter must be admitted, the dropped call
/// counted once as cancelled (not panicked: its work never ran), and the
/// pool settle.
#[test]
fn a_handed_call_whose_work_drop_panics_while_the_next_waker_panics_loses_nothing() {
    quiet_planned_panics();
    within(BOUND, || {
        for order in ORDERS {
            let pool = pool_of(1, order);
            let holder = pool.try_acquire().unwrap();
            let boom = OnDrop::new(|| panic!("planned: the work's drop panics"));
            let mut b = Task::new(pool.submit_weighted(1, async move { drop(boom) }));
            b.assert_pending();
            let meter = Meter::default();
            let m = meter.clone();
            let mut c = Box::pin(pool.submit_weighted(1, async move {
                let _inside = m.enter();
            }));
            let bad = panicking_waker();
            assert!(c.as_mut().poll(&mut Context::from_waker(&bad)).is_pending());
            // (On a LIFO pool the slot goes to the panicking waker's call
            // at once: that wake's panic may come out of the permit's drop.)
            let _ = catch_unwind(AssertUnwindSafe(move || drop(holder)));
            let dropped = catch_unwind(AssertUnwindSafe(move || drop(b)));
            assert!(dropped.is_err(), "{order:?}: the work's drop panic goes on");
            let waker = futures::task::noop_waker();
            let out = c.as_mut().poll(&mut Context::from_waker(&waker));
            assert!(matches!(out, Poll::Ready(Ok(()))), "{order:?}: {out:?}");
            drop(c);
            assert_eq!(meter.done(), 1);
            let s = settled(&pool);
            assert_eq!(
                (s.cancelled, s.panicked, s.completed),
                (1, 0, 2),
                "{order:?}: {s:?}"
            );
            assert!(pool.try_acquire().is_ok(), "{order:?}: a slot was lost");
        }
    });
}

/// Promise: nothing lost; bad input (a pool aborted under a waiting call)
/// is an error value. Attack: a waiting call's work `Drop` aborts the
/// pool (`Pool::abort`: closes it and turns every waiting call away) while
/// another call waits behind it and a permit runs. The other
/// waiter must be turned away (`Closed`), the permit end normally, and
/// every call be counted once.
#[test]
fn a_waiting_calls_work_drop_that_aborts_the_pool_loses_nothing() {
    within(BOUND, || {
        for order in ORDERS {
            let pool = pool_of(1, order);
            let holder = pool.try_acquire().unwrap();
            let p = pool.clone();
            let closer = OnDrop::new(move || p.abort());
            let mut b = Task::new(pool.submit(async move { drop(closer) }));
            b.assert_pending();
            let mut c = Task::new(pool.submit(async {}));
            c.assert_pending();
            drop(b);
            assert_eq!(c.assert_ready(), Err(Rejected::Closed), "{order:?}");
            drop(c);
            drop(holder);
            let s = settled(&pool);
            assert_eq!(
                (s.cancelled, s.completed, s.rejected_total()),
                (1, 1, 1),
                "{order:?}: {s:?}"
            );
        }
    });
}

/// Promise: the limit holds on every path; nothing lost. Attack: a waiting
/// call's work `Drop` resizes its pool (to 2, then back to 1) while it
/// holds a slot handed to it and two other calls wait: the bodies counted
/// from outside must never pass the largest size in force (2: lowering a
/// size lets the calls admitted under it run), and every call settle.
#[test]
fn a_handed_calls_work_drop_that_resizes_keeps_the_limit() {
    within(BOUND, || {
        for order in ORDERS {
            let pool = pool_of(1, order);
            let meter = Meter::default();
            let holder = pool.try_acquire().unwrap();
            let p = pool.clone();
            let resizer = OnDrop::new(move || {
                p.resize(2);
                p.resize(1);
            });
            let mut b = Task::new(pool.submit(async move { drop(resizer) }));
            b.assert_pending();
            let m = meter.clone();
            let mut c = Task::new(pool.submit(async move {
                let _inside = m.enter();
                PendingOnce::default().await;
            }));
            c.assert_pending();
            let m = meter.clone();
            let mut d = Task::new(pool.submit(async move {
                let _inside = m.enter();
                PendingOnce::default().await;
            }));
            d.assert_pending();
            drop(holder);
            drop(b);
            for _ in 0..3 {
                let _ = c.poll();
                let _ = d.poll();
            }
            drop(c);
            drop(d);
            assert!(
                meter.max() <= 2,
                "{order:?}: {} bodies at once",
                meter.max()
            );
            assert_eq!(meter.done(), 2, "{order:?}: both admitted in the end");
            let s = settled(&pool);
            assert_eq!(s.cancelled, 1, "{order:?}: {s:?}");
        }
    });
}

/// A `Drop` that runs a sync call of `pool` (it parks its thread until
/// a slot is free) and records its answer.
fn runs(pool: &Pool, seen: &Seen<Result<(), Rejected>>) -> OnDrop {
    let (pool, seen) = (pool.clone(), seen.clone());
    OnDrop::new(move || {
        let out = pool.run(|| ());
        *seen.lock().unwrap() = Some(out);
    })
}

/// The stream adapters of a pool of 1, with `n` items that stay pending
/// forever once started, each carrying a `Drop` made by `on_drop`: polled
/// once (one item runs, one waits), then dropped. What each `Drop` saw, and
/// the calls the adapter had started.
fn drop_a_stream_of(
    ordered: bool,
    order: Order,
    n: usize,
    on_drop: fn(&Pool, &Seen<Result<(), Rejected>>) -> OnDrop,
) -> (Vec<Result<(), Rejected>>, u64, Pool) {
    use futures::{Stream, StreamExt};
    use pool_runtime::PooledStreamExt;
    let pool = pool_of(1, order);
    let seen: Vec<Seen<Result<(), Rejected>>> = (0..n).map(|_| seen()).collect();
    let guards: Vec<OnDrop> = seen.iter().map(|s| on_drop(&pool, s)).collect();
    let items = futures::stream::iter(guards).map(|guard| async move {
        std::future::pending::<()>().await;
        drop(guard);
    });
    let mut stream: Pin<Box<dyn Stream<Item = Result<(), Rejected>> + Send + '_>> = if ordered {
        Box::pin(items.pooled_ordered(&pool))
    } else {
        Box::pin(items.pooled_unordered(&pool))
    };
    let waker = futures::task::noop_waker();
    assert!(stream
        .as_mut()
        .poll_next(&mut Context::from_waker(&waker))
        .is_pending());
    let s = pool.stats();
    assert_eq!((s.running, s.waiting), (1, 1), "{order:?}: {s:?}");
    let started = s.submitted();
    drop(stream);
    let got = seen.iter().map(take).collect();
    (got, started, pool.clone())
}

/// Promise: nothing hangs; nothing lost. Attack: a pool stream (ordered
/// and unordered, pool of 1) with one item running and one waiting is
/// dropped; each item's future carries a `Drop` that runs a sync call of
/// the pool (parking until a slot is free). The running item's work is
/// dropped in its slot's frame (a nested call), the waiting one's after it
/// left the queue — but only if the running call is not still holding the
/// slot meanwhile. Every `Drop`'s call must run, and every call settle as
/// cancelled.
#[test]
fn a_dropped_pool_stream_frees_its_calls_slots_before_their_work_drops_call_the_pool() {
    within(BOUND, || {
        for ordered in [false, true] {
            for order in ORDERS {
                let (got, started, pool) = drop_a_stream_of(ordered, order, 2, runs);
                assert_eq!(got, [Ok(()), Ok(())], "ordered {ordered}, {order:?}");
                let s = settled(&pool);
                assert_eq!(s.cancelled, started, "{order:?}: {s:?}");
            }
        }
    });
}

/// Promise: nothing hangs (no slot held while user code runs that may
/// need it). Attack: as above with a third item the adapter never pulled
/// (still in the source stream): dropped with the adapter, its `Drop`
/// runs a sync call of the pool. The adapter's source stream is its first
/// field, dropped before its calls: that `Drop` runs while the adapter's
/// running call still holds the pool's only slot, which it gives back only
/// once the source is gone.
#[test]
fn a_dropped_pool_streams_unpulled_items_drop_after_its_calls_free_their_slots() {
    within(BOUND, || {
        for ordered in [false, true] {
            for order in ORDERS {
                let (got, started, pool) = drop_a_stream_of(ordered, order, 3, runs);
                assert_eq!(
                    got,
                    [Ok(()), Ok(()), Ok(())],
                    "ordered {ordered}, {order:?}"
                );
                let s = settled(&pool);
                assert_eq!(s.cancelled, started, "{order:?}: {s:?}");
            }
        }
    });
}

// ---- tower -------------------------------------------------------------------

/// Promise: no slot held idle while user code runs; nothing lost. Attack:
/// a weighted tower service (its calls wait for a slot in the pool's
/// order) on FIFO, LIFO and priority pools of 1; a call waits behind a
/// permit, is handed the slot when the permit goes, and is dropped before
/// it is polled again. The request it carries (never sent to the inner
/// service) has a `Drop` that asks for a slot at once: the slot must be
/// free.
#[test]
fn a_weighted_tower_call_handed_a_slot_and_dropped_frees_it_before_its_request() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, Service, ServiceExt};
    within(BOUND, || {
        for order in ORDERS {
            let pool = pool_of(1, order);
            let mut service = PooledLayer::pool(pool.clone())
                .weight(|_: &OnDrop| 1)
                .layer(service_fn(|request: OnDrop| async move {
                    drop(request);
                    Ok::<_, BoxError>(())
                }));
            let seen = seen();
            futures::executor::block_on(async {
                let holder = pool.try_acquire().unwrap();
                service.ready().await.unwrap();
                let mut call = Task::new(service.call(tries(&pool, &seen)));
                call.assert_pending();
                drop(holder);
                assert!(call.is_woken(), "{order:?}: handed the slot");
                drop(call);
            });
            assert_eq!(take(&seen), Ok(()), "{order:?}: the slot was held idle");
            let s = settled(&pool);
            assert_eq!(s.cancelled, 1, "{order:?}: {s:?}");
        }
    });
}

// ---- a fleet's lease ---------------------------------------------------------

#[cfg(feature = "redis")]
mod fleet_drops {
    use super::*;
    use crate::redis_server::{fleet_group, RedisServer};
    use pool_runtime::fleet::OnUnreachable;

    /// Promise: nothing hangs ("nested calls share their parent's lease
    /// ... so a call that calls its own group cannot deadlock the fleet").
    /// Attack: a fleet group (8 local slots, fleet limit 1, a real
    /// `redis-server`); a call runs holding the fleet's only lease and is
    /// dropped (cancelled). Its work's `Drop` runs a sync call of its own
    /// group: nested in the call's local slot (the work is dropped in its
    /// frame), it must run under the call's lease too, or at least not wait
    /// for the lease the dropped call gives back only once that `Drop`
    /// returns.
    #[test]
    fn a_running_fleet_calls_work_drop_may_call_its_own_group() {
        let server = RedisServer::start();
        let group = fleet_group("adv21_fleet_drop", &server, 1, OnUnreachable::Wait);
        let out = within(Duration::from_secs(20), move || {
            let rt = runtime();
            let seen: Seen<Result<(), Rejected>> = seen();
            let s2 = seen.clone();
            let guard = OnDrop::new(move || {
                let out = group.run(|| ());
                *s2.lock().unwrap() = Some(out);
            });
            let (started, running) = tokio::sync::oneshot::channel::<()>();
            let mut call = Box::pin(group.submit(0, async move {
                let _guard = guard;
                let _ = started.send(());
                std::future::pending::<()>().await;
            }));
            rt.block_on(async {
                tokio::select! {
                    _ = &mut call => unreachable!("the work never ends"),
                    _ = running => {}
                }
            });
            let fleet = group.fleet_stats().unwrap();
            assert_eq!(fleet.acquired, 1, "{fleet:?}");
            drop(call);
            let out = take(&seen);
            drop(rt);
            out
        });
        assert_eq!(out, Ok(()), "the Drop's call to its own group");
    }

    /// Promise: nothing hangs (the fleet counterpart of round 20's fix: a
    /// dropped call waiting for its turn leaves the queue before its work
    /// is dropped). Attack: a fleet group (fleet limit 1) whose only lease
    /// another client holds; a call takes its local slot and waits for a
    /// lease; it is dropped. Its work's `Drop` runs a sync call of its own
    /// group, which waits for a lease too; the other client lets its lease
    /// go 300 ms later, from another thread. That lease must reach the
    /// `Drop`'s call, not the dropped call still queued behind its work.
    #[test]
    fn a_fleet_call_dropped_waiting_for_its_lease_leaves_the_queue_before_its_work() {
        let server = RedisServer::start();
        let group = fleet_group("adv21_fleet_wait", &server, 1, OnUnreachable::Wait);
        let other = crate::redis_server::other_client(group);
        let out = within(Duration::from_secs(20), move || {
            let rt = Arc::new(runtime());
            let lease = rt.block_on(other.acquire()).unwrap();
            let seen: Seen<Result<(), Rejected>> = seen();
            let s2 = seen.clone();
            let guard = OnDrop::new(move || {
                let out = group.run(|| ());
                *s2.lock().unwrap() = Some(out);
            });
            let mut call = Box::pin(group.submit(0, async move {
                let _guard = guard;
            }));
            rt.block_on(async {
                let waiting = async {
                    while group.fleet_stats().unwrap().waiting == 0 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                };
                tokio::select! {
                    _ = &mut call => unreachable!("the only lease is held"),
                    _ = waiting => {}
                }
            });
            assert_eq!(group.stats().running, 1, "its local slot taken");
            let r2 = rt.clone();
            let releaser = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                let _entered = r2.enter();
                drop(lease);
            });
            drop(call);
            releaser.join().unwrap();
            take(&seen)
        });
        assert_eq!(out, Ok(()), "the Drop's call to its own group");
    }
}
