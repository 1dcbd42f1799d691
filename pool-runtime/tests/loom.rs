//! Model tests of the admission core's interleavings, under `loom`.
//!
//! Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p pool-runtime --release --test loom
//! ```
//!
//! (add `CARGO_TARGET_DIR=target/loom` to keep the loom build from
//! invalidating the normal release build; `LOOM_MAX_PREEMPTIONS=<n>` overrides
//! the preemption bound of 3 set by [`model`]). The models take about 30 s on
//! two cores, plus the build.
//!
//! Under `cfg(loom)` the core's atomics, its mutex and the reentrancy
//! thread-local are loom's (`src/sync.rs`), so loom explores the interleavings
//! of their operations (all of them up to the preemption bound) and fails a
//! model on a deadlock — which is how a lost wakeup or a lost slot shows up:
//! a `block_on` that is never woken.
//! Every model is small (at most three threads) and avoids the std-only parts:
//! admission timeouts (timer thread), autoscaling (system clock), `Pool::run`
//! (parks with std).
//!
//! The slot holder in most models is the main thread polling a call by hand:
//! its work is pending on the first poll and done on the second, so "release"
//! is that second poll.

#![cfg(loom)]

use loom::future::block_on;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;
use pool_runtime::{Group, GroupSpec, Order, Pool, Rejected};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Runs `f` under loom, with a preemption bound unless `LOOM_MAX_PREEMPTIONS`
/// sets one.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// Work that is pending on its first poll (without asking to be woken) and
/// done on the second: it holds its slot until polled again.
#[derive(Default)]
struct PendingOnce(bool);

impl Future for PendingOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// A call of `pool` that holds a slot until [`release`] polls it again.
fn hold(pool: &Pool) -> Pin<Box<impl Future<Output = Result<(), Rejected>> + '_>> {
    let mut held = Box::pin(pool.submit(PendingOnce::default()));
    assert!(poll_once(held.as_mut()).is_pending(), "holder admitted");
    held
}

fn release<F: Future<Output = Result<(), Rejected>> + ?Sized>(held: Pin<&mut F>) {
    assert_eq!(poll_once(held), Poll::Ready(Ok(())), "holder finished");
}

/// Work that checks that at most `max` calls run it at once.
async fn exclusive(inside: &AtomicUsize, max: usize) {
    let before = inside.fetch_add(1, SeqCst);
    assert!(
        before < max,
        "{} calls running at once, limit {max}",
        before + 1
    );
    inside.fetch_sub(1, SeqCst);
}

fn spin_until(flag: &AtomicBool) {
    while !flag.load(SeqCst) {
        thread::yield_now();
    }
}

fn assert_quiet(pool: &Pool) {
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting), (0, 0), "quiet: {stats:?}");
}

/// On a quiet pool, exactly `n` calls are admitted at once and the next
/// one waits: no slot was lost, none appeared.
fn assert_exactly_n_slots(pool: &Pool, n: usize) {
    assert_eq!(pool.size(), n);
    let mut calls: Vec<_> = (0..=n)
        .map(|_| Box::pin(pool.submit(PendingOnce::default())))
        .collect();
    for call in &mut calls {
        assert!(poll_once(call.as_mut()).is_pending());
    }
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting), (n, 1), "{n} slots");
    drop(calls);
    assert_quiet(pool);
}

#[test]
fn a_freed_slot_goes_to_the_queued_waiter_not_to_a_newcomer() {
    model(|| {
        let pool = Pool::fixed(1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut held = hold(&pool);

        let queued = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (pool, order, queued) = (pool.clone(), order.clone(), queued.clone());
            thread::spawn(move || {
                let mut call =
                    Box::pin(pool.submit(async { order.lock().unwrap().push("waiter") }));
                assert!(poll_once(call.as_mut()).is_pending(), "the slot is held");
                queued.store(true, SeqCst);
                block_on(call)
            })
        };
        spin_until(&queued);
        // A newcomer arrives while the slot is being released.
        let newcomer = {
            let (pool, order) = (pool.clone(), order.clone());
            thread::spawn(move || {
                block_on(pool.submit(async { order.lock().unwrap().push("newcomer") }))
            })
        };
        release(held.as_mut());

        assert_eq!(waiter.join().unwrap(), Ok(()));
        assert_eq!(newcomer.join().unwrap(), Ok(()));
        assert_eq!(*order.lock().unwrap(), ["waiter", "newcomer"]);
        assert_quiet(&pool);
        assert_eq!(pool.stats().completed, 3);
    });
}

#[test]
fn two_acquirers_and_a_release_share_one_slot_and_lose_no_wakeup() {
    model(|| {
        let pool = Pool::fixed(1);
        let inside = Arc::new(AtomicUsize::new(0));
        let mut held = hold(&pool);
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (pool, inside) = (pool.clone(), inside.clone());
                thread::spawn(move || block_on(pool.submit(exclusive(&inside, 1))))
            })
            .collect();
        release(held.as_mut());
        for caller in callers {
            assert_eq!(caller.join().unwrap(), Ok(()));
        }
        assert_quiet(&pool);
        assert_eq!(pool.stats().completed, 3);
        assert_exactly_n_slots(&pool, 1);
    });
}

#[test]
fn a_waiter_dropped_while_its_slot_is_handed_to_it_passes_the_slot_on() {
    model(|| {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        let mut held = hold(&pool);
        // The next waiter after the one that gives up (weight 1 > 0).
        let mut next = Box::pin(pool.submit_weighted(1, async { 7 }));
        assert!(poll_once(next.as_mut()).is_pending());

        let queued = Arc::new(AtomicBool::new(false));
        let quitter = {
            let (pool, queued) = (pool.clone(), queued.clone());
            thread::spawn(move || {
                let mut call = Box::pin(pool.submit_weighted(0, async { 0 }));
                assert!(poll_once(call.as_mut()).is_pending(), "the slot is held");
                queued.store(true, SeqCst);
                // Dropped while the release below hands it the slot, or
                // before, or after.
                drop(call);
            })
        };
        spin_until(&queued);
        release(held.as_mut());
        assert_eq!(block_on(next), Ok(7), "the slot reached the next waiter");
        quitter.join().unwrap();

        assert_quiet(&pool);
        let stats = pool.stats();
        assert_eq!((stats.completed, stats.cancelled), (2, 1));
        assert_exactly_n_slots(&pool, 1);
    });
}

#[test]
fn a_waiter_dropped_while_its_slot_is_handed_to_it_gives_the_slot_back() {
    model(|| {
        let pool = Pool::fixed(1);
        let mut held = hold(&pool);
        let queued = Arc::new(AtomicBool::new(false));
        let quitter = {
            let (pool, queued) = (pool.clone(), queued.clone());
            thread::spawn(move || {
                let mut call = Box::pin(pool.submit(async {}));
                assert!(poll_once(call.as_mut()).is_pending(), "the slot is held");
                queued.store(true, SeqCst);
                drop(call);
            })
        };
        spin_until(&queued);
        release(held.as_mut());
        quitter.join().unwrap();

        assert_quiet(&pool);
        let stats = pool.stats();
        assert_eq!((stats.completed, stats.cancelled), (1, 1));
        assert_exactly_n_slots(&pool, 1);
    });
}

#[test]
fn a_scale_down_racing_a_release_retires_the_slot_instead_of_handing_it_on() {
    model(|| {
        let pool = Pool::fixed(2);
        let mut first = hold(&pool);
        let mut second = hold(&pool);
        // Published by this thread before the releases, read by the waiter
        // once it runs (its admission synchronises with a release).
        let scaled_before_first_release = Arc::new(AtomicBool::new(false));
        let second_released = Arc::new(AtomicBool::new(false));
        let scaled = Arc::new(AtomicBool::new(false));

        let waiter = {
            let pool = pool.clone();
            let (early, second_released) =
                (scaled_before_first_release.clone(), second_released.clone());
            thread::spawn(move || {
                block_on(pool.submit(async {
                    // Once the limit is 1 while two run, only the second
                    // release may admit anyone.
                    if early.load(SeqCst) {
                        assert!(second_released.load(SeqCst), "admitted over the limit");
                    }
                }))
            })
        };
        let scaler = {
            let (pool, scaled) = (pool.clone(), scaled.clone());
            thread::spawn(move || {
                assert_eq!(pool.resize(1), 1);
                scaled.store(true, SeqCst);
            })
        };

        scaled_before_first_release.store(scaled.load(SeqCst), SeqCst);
        release(first.as_mut());
        second_released.store(true, SeqCst);
        release(second.as_mut());

        assert_eq!(waiter.join().unwrap(), Ok(()));
        scaler.join().unwrap();
        assert_quiet(&pool);
        assert_eq!(pool.stats().completed, 3);
        assert_exactly_n_slots(&pool, 1);
    });
}

/// Work that counts itself in `inside` while it runs, and checks that neither
/// it nor the pool ever has more than `max` calls running.
async fn counted(pool: &Pool, inside: &AtomicUsize, max: usize, hold: bool) {
    let now = inside.fetch_add(1, SeqCst) + 1;
    assert!(now <= max, "{now} calls running at once, limit {max}");
    let running = pool.stats().running;
    assert!(
        running <= max,
        "the pool counts {running} running, limit {max}"
    );
    if hold {
        PendingOnce::default().await;
    }
    inside.fetch_sub(1, SeqCst);
}

#[test]
fn a_scale_up_racing_a_release_admits_both_waiters_within_the_new_limit() {
    model(|| {
        let pool = Pool::fixed(1);
        let inside = AtomicUsize::new(0);
        let mut held = Box::pin(pool.submit(counted(&pool, &inside, 2, true)));
        assert!(poll_once(held.as_mut()).is_pending(), "holder admitted");
        let mut waiters: Vec<_> = (0..2)
            .map(|_| Box::pin(pool.submit(counted(&pool, &inside, 2, false))))
            .collect();
        for waiter in &mut waiters {
            assert!(poll_once(waiter.as_mut()).is_pending());
        }
        let scaler = {
            let pool = pool.clone();
            thread::spawn(move || {
                assert_eq!(pool.scale(1), 2);
                // The limit was never above 2, so neither was `running`.
                let running = pool.stats().running;
                assert!(running <= 2, "{running} running after scaling to 2");
            })
        };
        release(held.as_mut());
        scaler.join().unwrap();
        for waiter in waiters {
            assert_eq!(block_on(waiter), Ok(()));
        }
        assert_quiet(&pool);
        assert_eq!(pool.stats().completed, 3);
        assert_exactly_n_slots(&pool, 2);
    });
}

#[test]
fn a_scale_up_admits_a_waiter_while_the_slot_is_still_held() {
    model(|| {
        let pool = Pool::fixed(1);
        let mut held = hold(&pool);
        let waiter = {
            let pool = pool.clone();
            thread::spawn(move || block_on(pool.submit(async { 3 })))
        };
        assert_eq!(pool.scale(1), 2);
        // Only the scale-up can admit the waiter: the slot is still held.
        assert_eq!(waiter.join().unwrap(), Ok(3));
        release(held.as_mut());
        assert_quiet(&pool);
        assert_exactly_n_slots(&pool, 2);
    });
}

fn one_slot_group() -> Arc<Group> {
    Arc::new(Group::new(GroupSpec {
        name: "loom",
        size: 1,
        ..GroupSpec::DEFAULT
    }))
}

#[test]
fn a_never_rejecting_call_racing_pause_release_resume_is_held_then_admitted() {
    model(|| {
        let group = one_slot_group();
        let pool = group.pool().clone();
        let mut held = hold(&pool);
        let patient = {
            let group = group.clone();
            thread::spawn(move || block_on(group.submit_wait(0, async { 5 })))
        };
        pool.pause();
        release(held.as_mut());
        pool.resume();

        assert_eq!(
            patient.join().unwrap(),
            5,
            "a never-rejecting call finishes"
        );
        assert_quiet(&pool);
        let stats = pool.stats();
        assert!(!stats.paused);
        assert_eq!((stats.completed, stats.rejected_total()), (2, 0));
        assert_exactly_n_slots(&pool, 1);
    });
}

#[test]
fn a_call_racing_pause_release_resume_is_admitted_or_rejected_as_paused() {
    model(|| {
        let pool = Pool::fixed(1);
        let mut held = hold(&pool);
        let caller = {
            let pool = pool.clone();
            thread::spawn(move || block_on(pool.submit(async { 6 })))
        };
        pool.pause();
        release(held.as_mut());
        pool.resume();

        let result = caller.join().unwrap();
        assert!(
            matches!(result, Ok(6) | Err(Rejected::Paused)),
            "{result:?}"
        );
        assert_quiet(&pool);
        let stats = pool.stats();
        assert_eq!(
            (stats.completed, stats.rejected_for(Rejected::Paused)),
            if result.is_ok() { (2, 0) } else { (1, 1) }
        );
        assert_exactly_n_slots(&pool, 1);
    });
}

#[test]
fn abort_turns_away_a_queued_or_arriving_call_and_then_drains() {
    model(|| {
        let pool = Pool::fixed(1);
        let mut held = hold(&pool);
        let caller = {
            let pool = pool.clone();
            thread::spawn(move || block_on(pool.submit(async { 1 })))
        };
        pool.abort();
        release(held.as_mut());
        block_on(pool.drained());

        assert_eq!(caller.join().unwrap(), Err(Rejected::Closed));
        assert_quiet(&pool);
        let stats = pool.stats();
        assert!(stats.closed);
        assert_eq!(
            (stats.completed, stats.rejected_for(Rejected::Closed)),
            (1, 1)
        );
    });
}

#[test]
fn abort_racing_a_waiter_that_gives_up_counts_it_once() {
    model(|| {
        let pool = Pool::fixed(1);
        let mut held = hold(&pool);
        let quitter = {
            let pool = pool.clone();
            thread::spawn(move || {
                let mut call = Box::pin(pool.submit(async {}));
                let first = poll_once(call.as_mut());
                assert!(
                    matches!(first, Poll::Pending | Poll::Ready(Err(Rejected::Closed))),
                    "{first:?}"
                );
                drop(call);
            })
        };
        pool.abort();
        release(held.as_mut());
        quitter.join().unwrap();

        assert_quiet(&pool);
        let stats = pool.stats();
        assert_eq!(stats.completed, 1);
        assert_eq!(stats.cancelled + stats.rejected_for(Rejected::Closed), 1);
        assert_eq!(stats.submitted(), 2);
    });
}

#[test]
fn close_lets_a_queued_call_finish_and_drains_only_after_it() {
    model(|| {
        let pool = Pool::fixed(1);
        let mut held = hold(&pool);
        let (started, finished) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let caller = {
            let (pool, started, finished) = (pool.clone(), started.clone(), finished.clone());
            thread::spawn(move || {
                block_on(pool.submit(async move {
                    started.store(true, SeqCst);
                    thread::yield_now();
                    finished.store(true, SeqCst);
                }))
            })
        };
        pool.close();
        release(held.as_mut());
        block_on(pool.drained());
        // Drained means nothing runs: a call that started has finished.
        if started.load(SeqCst) {
            assert!(finished.load(SeqCst), "drained while a call was running");
        }

        let result = caller.join().unwrap();
        assert!(
            matches!(result, Ok(()) | Err(Rejected::Closed)),
            "{result:?}"
        );
        assert_eq!(result.is_ok(), started.load(SeqCst));
        assert_quiet(&pool);
    });
}
