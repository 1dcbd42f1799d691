//! Adversarial checks of the admission hot path as the perf pass left it
//! (7ec0124): the short locked hand-off of pools without a scaler
//! (`release_to_waiter`, chosen from the word the release loaded), the
//! unnested start that skips the admission dispatch (`start_unnested`), the
//! status tests in frequency order, the queue length kept as a field, the
//! first waker written without a drop, and the enqueue's one-mask test of
//! the usual word.

mod common;

use common::{assert_accounted, gate, panicking_waker, quiet_planned_panics, within, Task};
use pool_runtime::{Group, GroupSpec, Kind, Order, Pool, Rejected};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

fn quiet(pool: &Pool) {
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
    assert_accounted(&s);
}

/// For every order, a waiter handed a slot on the short path and dropped
/// before it is polled again passes the slot to the next waiter in order,
/// whichever way the holder let go of it (completion, cancellation, panic,
/// a dropped permit).
#[test]
fn a_handed_slot_dropped_unpolled_goes_to_the_next_waiter_for_every_order_and_release() {
    quiet_planned_panics();
    for order in [Order::Fifo, Order::Lifo, Order::Priority] {
        for release in 0..4 {
            let pool = Pool::builder().order(order).size(1).build().unwrap();
            let (held, open) = gate();
            let panics = Arc::new(AtomicBool::new(false));
            let p = panics.clone();
            let mut permit = None;
            let mut holder = None;
            if release == 3 {
                permit = Some(pool.try_acquire().unwrap());
            } else {
                let mut h = Task::new(pool.submit(async move {
                    held.await;
                    if p.load(SeqCst) {
                        panic!("planned: the holder's work panics");
                    }
                }));
                h.assert_pending();
                holder = Some(h);
            }
            // Weights 3, 2, 1: priority admits 1 first, LIFO the last (1),
            // FIFO the first (3); the one after is 2 for all of them.
            let mut calls: Vec<_> = [3i64, 2, 1]
                .into_iter()
                .map(|w| Task::new(pool.submit_weighted(w, async move { w })))
                .collect();
            for c in &mut calls {
                c.assert_pending();
            }
            assert_eq!(pool.stats().waiting, 3);
            match release {
                0 => {
                    open.store(true, SeqCst);
                    holder.as_mut().unwrap().assert_ready().unwrap();
                }
                1 => drop(holder.take()),
                2 => {
                    panics.store(true, SeqCst);
                    open.store(true, SeqCst);
                    let mut h = holder.take().unwrap();
                    assert!(catch_unwind(AssertUnwindSafe(|| h.poll())).is_err());
                }
                _ => drop(permit.take()),
            }
            let (chosen, next, last) = match order {
                Order::Fifo => (0, 1, 2),
                _ => (2, 1, 0),
            };
            assert!(calls[chosen].is_woken(), "{order} {release}");
            assert!(!calls[next].is_woken() && !calls[last].is_woken());
            assert_eq!(pool.stats().running, 1);
            assert_eq!(pool.stats().waiting, 2);
            // Handed, then dropped before its next poll.
            let dropped = calls.remove(chosen);
            drop(dropped);
            let (next, last) = if chosen == 0 { (0, 1) } else { (1, 0) };
            assert!(calls[next].is_woken(), "{order} {release}: slot lost");
            assert!(!calls[last].is_woken());
            assert_eq!(calls[next].assert_ready(), Ok(2));
            assert!(calls[last].is_woken());
            assert!(calls[last].assert_ready().is_ok());
            drop(holder);
            quiet(&pool);
            let s = pool.stats();
            assert_eq!(
                s.cancelled,
                1 + u64::from(release == 1),
                "{order} {release}"
            );
            assert_eq!(s.panicked, u64::from(release == 2));
        }
    }
}

/// A limit lowered below the running calls retires released slots on the
/// short path too (no waiter admitted while running >= limit), and raising
/// it admits the waiters at once, in order.
#[test]
fn lowering_and_raising_the_limit_around_the_short_hand_off() {
    for order in [Order::Fifo, Order::Lifo] {
        let pool = Pool::builder().order(order).size(3).build().unwrap();
        let gates: Vec<_> = (0..3).map(|_| gate()).collect();
        let mut running: Vec<_> = gates
            .iter()
            .map(|(g, _)| Task::new(pool.submit(common::Gate(g.0.clone()))))
            .collect();
        for r in &mut running {
            r.assert_pending();
        }
        let mut waiters: Vec<_> = (0..4)
            .map(|i| Task::new(pool.submit(async move { i })))
            .collect();
        for w in &mut waiters {
            w.assert_pending();
        }
        assert_eq!(pool.resize(1), 1);
        for (i, r) in running.iter_mut().enumerate().take(2) {
            gates[i].1.store(true, SeqCst);
            r.assert_ready().unwrap();
            assert!(
                waiters.iter().all(|w| !w.is_woken()),
                "admitted over the limit"
            );
            assert_eq!(pool.stats().running, 2 - i);
        }
        // One running, limit 1: the next release hands on.
        gates[2].1.store(true, SeqCst);
        running[2].assert_ready().unwrap();
        let first = if order == Order::Fifo { 0 } else { 3 };
        assert!(waiters[first].is_woken());
        assert_eq!(pool.stats().running, 1);
        // Raising the limit admits the other three at once, in order.
        assert_eq!(pool.resize(4), 4);
        assert!(waiters.iter().all(|w| w.is_woken()));
        assert_eq!(pool.stats().running, 4);
        for w in &mut waiters {
            w.assert_ready().unwrap();
        }
        quiet(&pool);
    }
}

/// On a pool of one: a holder whose work is let go (its gate opened, not yet
/// polled), a call waiting behind it with a waker whose `wake` panics, and
/// a well-behaved call behind that one.
#[allow(clippy::type_complexity)] // three futures of unnameable types
fn holder_bad_and_after(
    pool: &Pool,
) -> (
    Task<impl Future<Output = Result<(), Rejected>> + '_>,
    std::pin::Pin<Box<impl Future<Output = Result<&'static str, Rejected>> + '_>>,
    Task<impl Future<Output = Result<&'static str, Rejected>> + '_>,
) {
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    let mut bad = Box::pin(pool.submit(async { "bad" }));
    assert!(bad
        .as_mut()
        .poll(&mut Context::from_waker(&panicking_waker()))
        .is_pending());
    let mut after = Task::new(pool.submit(async { "after" }));
    after.assert_pending();
    open.store(true, SeqCst);
    (holder, bad, after)
}

/// A waker that panics when the short hand-off wakes it: the slot was
/// handed all the same (the waiter finds it when polled), the releasing
/// call is counted once, and nothing leaks.
#[test]
fn a_panicking_wake_on_the_short_hand_off_loses_no_slot_and_counts_once() {
    quiet_planned_panics();
    let pool = Pool::fixed(1);
    let (mut holder, mut bad, mut after) = holder_bad_and_after(&pool);
    let polled = catch_unwind(AssertUnwindSafe(|| holder.poll()));
    // The waker's panic reaches the releasing caller (or its output is
    // ready): either way the holder's call ended once.
    drop(polled);
    drop(holder);
    let s = pool.stats();
    assert_eq!(
        (s.completed, s.cancelled, s.running, s.waiting),
        (1, 0, 1, 1),
        "{s:?}"
    );
    assert!(!after.is_woken(), "the slot went to the call first in line");
    assert_eq!(
        bad.as_mut().poll(&mut Context::from_waker(Waker::noop())),
        Poll::Ready(Ok("bad"))
    );
    assert!(after.is_woken());
    assert_eq!(after.assert_ready(), Ok("after"));
    quiet(&pool);

    // The same with the bad waiter dropped after it was handed the slot.
    let (mut holder, bad, mut after) = holder_bad_and_after(&pool);
    drop(catch_unwind(AssertUnwindSafe(|| holder.poll())));
    drop(bad);
    assert!(after.is_woken(), "the dropped call's slot was passed on");
    assert_eq!(after.assert_ready(), Ok("after"));
    drop(holder);
    quiet(&pool);
}

/// A waker whose `clone` panics on the unnested start (the call counted as
/// submitted before its enqueue clones the waker): the call is still
/// accounted for exactly once, and nothing leaks.
#[test]
fn a_panicking_waker_clone_on_the_unnested_start_keeps_the_identity() {
    static ARMED: AtomicBool = AtomicBool::new(true);
    fn vtable() -> &'static std::task::RawWakerVTable {
        &std::task::RawWakerVTable::new(clone, noop, noop, noop)
    }
    unsafe fn clone(data: *const ()) -> std::task::RawWaker {
        if ARMED.load(SeqCst) {
            panic!("planned: a waker whose clone panics");
        }
        std::task::RawWaker::new(data, vtable())
    }
    unsafe fn noop(_: *const ()) {}
    quiet_planned_panics();
    let waker = unsafe { Waker::from_raw(std::task::RawWaker::new(std::ptr::null(), vtable())) };
    let pool = Pool::fixed(1);
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    let mut call = Box::pin(pool.submit(async {}));
    let polled = catch_unwind(AssertUnwindSafe(|| {
        call.as_mut().poll(&mut Context::from_waker(&waker))
    }));
    assert!(polled.is_err());
    drop(call);
    quiet_but_holder(&pool);
    // The same from inside another pool's work (the start through the
    // admission dispatch).
    let outer = Pool::fixed(1);
    let polled = outer.run(|| {
        let mut call = Box::pin(pool.submit(async {}));
        catch_unwind(AssertUnwindSafe(|| {
            call.as_mut().poll(&mut Context::from_waker(&waker))
        }))
        .is_err()
    });
    assert_eq!(polled, Ok(true));
    quiet_but_holder(&pool);
    assert_eq!(pool.stats().cancelled, 2);
    open.store(true, SeqCst);
    holder.assert_ready().unwrap();
    quiet(&pool);
    quiet(&outer);

    fn quiet_but_holder(pool: &Pool) {
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (1, 0), "{s:?}");
        assert_accounted(&s);
    }
}

/// The queue length is a field now: every way out of a spilled priority
/// queue (more distinct weights than the sorted vector keeps) keeps it in
/// step, which the waiting bound and the gauge read.
#[test]
fn the_queue_length_follows_every_removal_of_a_spilled_priority_queue() {
    let pool = Pool::builder()
        .order(Order::Priority)
        .size(1)
        .max_waiting(100)
        .build()
        .unwrap();
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    // 100 distinct weights (spills past 64), in a scrambled order.
    let mut calls: Vec<Option<Task<_>>> = (0..100i64)
        .map(|i| {
            let w = (i * 37) % 100;
            let mut t = Task::new(pool.submit_weighted(w, async move { w }));
            t.assert_pending();
            Some(t)
        })
        .collect();
    assert_eq!(pool.stats().waiting, 100);
    assert_eq!(
        Task::new(pool.submit(async { -1 })).assert_ready(),
        Err(Rejected::Full)
    );
    // Cancel every third.
    let mut cancelled = 0;
    for (i, c) in calls.iter_mut().enumerate() {
        if i % 3 == 0 {
            *c = None;
            cancelled += 1;
        }
    }
    assert_eq!(pool.stats().waiting, 100 - cancelled);
    // Exactly `cancelled` places came free: that many join, the next is full.
    let mut extra: Vec<_> = (0..cancelled)
        .map(|i| {
            let mut t = Task::new(pool.submit_weighted(1000 + i as i64, async move { -2 }));
            t.assert_pending();
            t
        })
        .collect();
    assert_eq!(
        Task::new(pool.submit(async { -1 })).assert_ready(),
        Err(Rejected::Full)
    );
    open.store(true, SeqCst);
    holder.assert_ready().unwrap();
    // The holder's slot went to the lightest waiter still queued.
    let mut left: Vec<i64> = (0..100i64)
        .filter(|i| i % 3 != 0)
        .map(|i| (i * 37) % 100)
        .collect();
    left.sort();
    let (lightest, second) = (left[0], left[1]);
    let mut admitted = None;
    for c in calls.iter_mut() {
        if c.as_ref().is_some_and(|c| c.is_woken()) {
            assert!(admitted.is_none(), "one waiter woken");
            admitted = Some(c.take().unwrap().assert_ready().unwrap());
        }
    }
    assert_eq!(admitted, Some(lightest));
    // Its end handed the slot to the next lightest; an abort turns every
    // other one away.
    pool.abort();
    assert_eq!(pool.stats().waiting, 0);
    for c in calls.iter_mut().flatten() {
        match c.assert_ready() {
            Ok(w) => assert_eq!(w, second),
            Err(e) => assert_eq!(e, Rejected::Closed),
        }
    }
    for e in &mut extra {
        assert_eq!(e.assert_ready(), Err(Rejected::Closed));
    }
    drop(calls);
    quiet(&pool);
}

/// A call made from inside another pool's work (a reentrancy frame on the
/// thread, but not of this pool) starts through the admission dispatch:
/// it queues behind the unnested waiters, in order, and is not admitted
/// over the limit.
#[test]
fn a_call_from_inside_another_pools_work_keeps_its_place_in_line() {
    let outer = Pool::fixed(1);
    let pool = Pool::fixed(1);
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    let mut first = Task::new(pool.submit(async { 1 }));
    first.assert_pending();
    let mut from_inside = outer
        .run(|| {
            let mut t = Task::new(pool.submit(async { 2 }));
            t.assert_pending();
            t
        })
        .unwrap();
    let mut last = Task::new(pool.submit(async { 3 }));
    last.assert_pending();
    assert_eq!(pool.stats().waiting, 3);
    open.store(true, SeqCst);
    holder.assert_ready().unwrap();
    assert!(first.is_woken() && !from_inside.is_woken() && !last.is_woken());
    assert_eq!(first.assert_ready(), Ok(1));
    assert!(from_inside.is_woken() && !last.is_woken());
    assert_eq!(from_inside.assert_ready(), Ok(2));
    assert_eq!(last.assert_ready(), Ok(3));
    quiet(&pool);
    quiet(&outer);
}

/// A waiter with an admission deadline that is handed a slot and polled
/// only after its deadline passed is admitted (the slot is its), not timed
/// out with the slot lost.
#[test]
fn a_slot_handed_before_the_deadline_is_kept_when_polled_after_it() {
    let pool = Pool::builder()
        .size(1)
        .admission_timeout(Duration::from_millis(30))
        .build()
        .unwrap();
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    let mut waiter = Task::new(pool.submit(async { 5 }));
    waiter.assert_pending();
    let mut after = Task::new(pool.submit(async { 6 }));
    after.assert_pending();
    open.store(true, SeqCst);
    holder.assert_ready().unwrap();
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(waiter.assert_ready(), Ok(5));
    // `after` was handed the slot `waiter` freed before it was polled
    // past its own deadline: admitted too.
    assert_eq!(after.assert_ready(), Ok(6));
    // A third, with no slot coming, is turned away at its deadline.
    let (held, _never) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    let mut late = Task::new(pool.submit(async { 7 }));
    late.assert_pending();
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(late.assert_ready(), Err(Rejected::TimedOut));
    drop(holder);
    quiet(&pool);
    assert_eq!(pool.stats().rejected_for(Rejected::TimedOut), 1);
}

/// try_acquire on a full pool with a queue: turned away as full, and counted
/// once; the queue and its order are untouched.
#[test]
fn try_acquire_behind_a_queue_is_full_and_leaves_the_queue_alone() {
    let pool = Pool::fixed(1);
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    let mut w = Task::new(pool.submit(async { 1 }));
    w.assert_pending();
    assert!(matches!(pool.try_acquire(), Err(Rejected::Full)));
    assert_eq!(pool.stats().waiting, 1);
    open.store(true, SeqCst);
    holder.assert_ready().unwrap();
    assert!(w.is_woken());
    assert!(matches!(pool.try_acquire(), Err(Rejected::Full)));
    assert_eq!(w.assert_ready(), Ok(1));
    drop(pool.try_acquire().unwrap());
    quiet(&pool);
    assert_eq!(pool.stats().rejected_for(Rejected::Full), 2);
}

static WAITING_GROUP: Group = Group::new(GroupSpec::new("adversarial_hotpath::wait").size(1));

/// Never-rejecting calls held by a pause join the queue on resume behind
/// the ones already queued, and the short hand-off serves them in order;
/// close keeps admitting them.
#[test]
fn held_calls_join_behind_the_queue_and_the_short_hand_off_serves_them_in_order() {
    let g = &WAITING_GROUP;
    let (held, open) = gate();
    let mut holder = Task::new(g.submit(0, held));
    holder.assert_pending();
    let mut queued = Task::new(g.submit(0, async { 1 }));
    queued.assert_pending();
    g.pause();
    let mut waiting = Task::new(g.submit_wait(0, async { 2 }));
    waiting.assert_pending();
    assert_eq!(
        Task::new(g.submit(0, async { 9 })).assert_ready(),
        Err(Rejected::Paused)
    );
    g.resume();
    g.pool().close();
    let mut later = Task::new(g.submit_wait(0, async { 3 }));
    later.assert_pending();
    open.store(true, SeqCst);
    holder.assert_ready().unwrap();
    assert!(queued.is_woken() && !waiting.is_woken() && !later.is_woken());
    assert_eq!(queued.assert_ready(), Ok(1));
    assert!(waiting.is_woken() && !later.is_woken());
    assert_eq!(waiting.assert_ready(), 2);
    assert_eq!(later.assert_ready(), 3);
    quiet(g.pool());
}

/// Counts calls inside their work from outside the pool.
#[derive(Clone)]
struct Meter {
    inside: Arc<AtomicUsize>,
    over: Arc<AtomicUsize>,
    max_limit: Arc<AtomicUsize>,
}

struct Inside(Arc<AtomicUsize>);

impl Meter {
    fn enter(&self) -> Inside {
        let now = self.inside.fetch_add(1, SeqCst) + 1;
        // The controller sets limits between 1 and 4: more than the largest
        // set so far is over the limit, whatever the timing.
        if now > self.max_limit.load(SeqCst) {
            self.over.fetch_add(1, SeqCst);
        }
        Inside(self.inside.clone())
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

/// Many threads, every call form, random cancellation at every state, and a
/// controller that resizes: no more than the limit ever runs, and at the
/// end nothing runs or waits and every call is accounted for.
#[test]
fn stress_every_call_form_on_a_fixed_pool_with_cancellation_and_resizes() {
    within(Duration::from_secs(20), || {
        let pool = Arc::new(Pool::fixed(3));
        let inside = Arc::new(AtomicUsize::new(0));
        let over = Arc::new(AtomicUsize::new(0));
        let max_limit = Arc::new(AtomicUsize::new(3));
        let stop = Arc::new(AtomicBool::new(false));
        let meter = Meter {
            inside: inside.clone(),
            over: over.clone(),
            max_limit: max_limit.clone(),
        };
        let mut threads = Vec::new();
        for t in 0..3u64 {
            let (pool, meter) = (pool.clone(), meter.clone());
            threads.push(std::thread::spawn(move || {
                let mut rng = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                let mut next = move || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                let waker = Waker::noop();
                let mut cx = Context::from_waker(waker);
                for _ in 0..3000 {
                    let r = next();
                    match r % 4 {
                        0 => {
                            let _ = pool.run(|| {
                                let _inside = meter.enter();
                                std::hint::spin_loop();
                            });
                        }
                        1 => {
                            if let Ok(p) = pool.try_acquire() {
                                let inside = meter.enter();
                                drop(inside);
                                drop(p);
                            }
                        }
                        _ => {
                            let m = meter.clone();
                            let mut f = Box::pin(pool.submit(async move {
                                let _inside = m.enter();
                                common::yield_now().await;
                            }));
                            // Poll a few times (spinning), then maybe drop
                            // it in whatever state it is in.
                            let polls = (r >> 8) % 6;
                            let mut done = false;
                            for _ in 0..polls {
                                if f.as_mut().poll(&mut cx).is_ready() {
                                    done = true;
                                    break;
                                }
                                std::thread::yield_now();
                            }
                            if !done && (r >> 16) % 2 == 0 {
                                // Finish it by polling until ready.
                                futures::executor::block_on(f.as_mut()).unwrap();
                            }
                            // Else dropped: not yet polled, queued, handed a
                            // slot, or running (its guard goes with it).
                        }
                    }
                }
            }));
        }
        let controller = {
            let (pool, stop, max_limit) = (pool.clone(), stop.clone(), max_limit.clone());
            std::thread::spawn(move || {
                let mut i = 0usize;
                while !stop.load(SeqCst) {
                    let size = 1 + i % 4;
                    max_limit.fetch_max(size, SeqCst);
                    pool.resize(size);
                    i += 1;
                    std::thread::sleep(Duration::from_micros(200));
                }
                pool.resize(3);
            })
        };
        for t in threads {
            t.join().unwrap();
        }
        stop.store(true, SeqCst);
        controller.join().unwrap();
        assert_eq!(over.load(SeqCst), 0, "ran over the limit");
        quiet(&pool);
        // No slot leaked or appeared: exactly 3 are free.
        let permits: Vec<_> = (0..3).map(|_| pool.try_acquire().unwrap()).collect();
        assert!(matches!(pool.try_acquire(), Err(Rejected::Full)));
        drop(permits);
        quiet(&pool);
    });
}

/// Two threads contend on a pool of one through the short hand-off while
/// a third pauses, resumes, resizes between 0 and 1, and the calls of a
/// fourth give up at random: the count of calls inside never exceeds 1, and
/// no waiter is left behind (every call finishes within the bound).
#[test]
fn stress_the_short_hand_off_against_scale_and_pause_on_a_pool_of_one() {
    within(Duration::from_secs(20), || {
        let pool = Arc::new(Pool::fixed(1));
        let inside = Arc::new(AtomicUsize::new(0));
        let over = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for t in 0..3 {
            let (pool, inside, over) = (pool.clone(), inside.clone(), over.clone());
            threads.push(std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    for i in 0..1500 {
                        let body = async {
                            if inside.fetch_add(1, SeqCst) != 0 {
                                over.fetch_add(1, SeqCst);
                            }
                            // Left when the work ends or is dropped.
                            let _inside = Inside(inside.clone());
                            tokio::task::yield_now().await;
                        };
                        let out = if t == 2 && i % 2 == 0 {
                            tokio::time::timeout(Duration::from_micros(20), pool.submit(body))
                                .await
                                .ok()
                        } else {
                            Some(pool.submit(body).await)
                        };
                        if out == Some(Err(Rejected::Paused)) {
                            // Not spin through the calls while paused.
                            tokio::time::sleep(Duration::from_micros(100)).await;
                        }
                    }
                });
            }));
        }
        let controller = {
            let (pool, stop) = (pool.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(SeqCst) {
                    match i % 16 {
                        0 => pool.pause(),
                        1 => pool.resume(),
                        2 | 6 | 10 => {
                            pool.resize(0);
                        }
                        3 | 7 | 11 => {
                            pool.resize(1);
                        }
                        _ => {}
                    }
                    i += 1;
                    std::thread::sleep(Duration::from_micros(50));
                }
                pool.resume();
                pool.resize(1);
            })
        };
        for t in threads {
            t.join().unwrap();
        }
        stop.store(true, SeqCst);
        controller.join().unwrap();
        assert_eq!(
            over.load(SeqCst),
            0,
            "two calls ran at once on a pool of one"
        );
        quiet(&pool);
        let _one = pool.try_acquire().unwrap();
        assert!(matches!(pool.try_acquire(), Err(Rejected::Full)));
    });
}

/// An autoscaled pool (with a scaler) must not take the short path; its
/// released slots still go to waiters in order while its limit changes.
#[test]
fn an_autoscaled_pool_hands_off_in_order_while_scaled() {
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(4)
        .build()
        .unwrap();
    pool.resize(1);
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    let mut calls: Vec<_> = (0..4)
        .map(|i| Task::new(pool.submit(async move { i })))
        .collect();
    for c in &mut calls {
        c.assert_pending();
    }
    open.store(true, SeqCst);
    holder.assert_ready().unwrap();
    assert!(calls[0].is_woken() && !calls[1].is_woken());
    assert_eq!(pool.resize(3), 3);
    assert!(calls[1].is_woken() && calls[2].is_woken() && !calls[3].is_woken());
    for c in &mut calls {
        assert!(c.assert_ready().is_ok());
    }
    quiet(&pool);
}

/// A future that is never polled before it is dropped is not counted at
/// all; one dropped after its first poll found no slot is cancelled once.
#[test]
fn cancellation_before_and_after_the_unnested_start_counts_once() {
    let pool = Pool::fixed(1);
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    drop(pool.submit(async {}));
    assert_eq!(pool.stats().submitted(), 1);
    let mut t = Task::new(pool.submit(async {}));
    t.assert_pending();
    drop(t);
    let s = pool.stats();
    assert_eq!((s.submitted(), s.cancelled, s.waiting), (2, 1, 0));
    open.store(true, SeqCst);
    holder.assert_ready().unwrap();
    quiet(&pool);
    // Dropped after completion: nothing more counted.
    let mut done = Task::new(pool.submit(async { 1 }));
    assert_eq!(done.assert_ready(), Ok(1));
    drop(done);
    let s = pool.stats();
    assert_eq!((s.submitted(), s.completed, s.cancelled), (3, 2, 1));
    quiet(&pool);
}

/// spawn, submit_blocking, owned permits and submit on one fixed pool of two,
/// on a multi-thread runtime, with some calls dropped at random points: the
/// releases from blocking threads and spawned tasks go through the short
/// hand-off; never more than two inside, and everything accounted at the end.
#[test]
fn stress_spawn_blocking_and_owned_permits_share_two_slots() {
    within(Duration::from_secs(20), || {
        let pool = Arc::new(Pool::fixed(2));
        let meter = Meter {
            inside: Arc::new(AtomicUsize::new(0)),
            over: Arc::new(AtomicUsize::new(0)),
            max_limit: Arc::new(AtomicUsize::new(2)),
        };
        let rt = common::runtime();
        rt.block_on(async {
            let mut handles = Vec::new();
            for i in 0..1200u32 {
                let (pool, meter) = (pool.clone(), meter.clone());
                handles.push(tokio::spawn(async move {
                    match i % 4 {
                        0 => {
                            let m = meter.clone();
                            let h = pool
                                .spawn(async move {
                                    let _inside = m.enter();
                                    tokio::task::yield_now().await;
                                })
                                .unwrap();
                            if i % 8 == 0 {
                                h.abort();
                            }
                            let _ = h.await;
                        }
                        1 => {
                            let m = meter.clone();
                            let call = pool.submit_blocking(move || {
                                let _inside = m.enter();
                                std::thread::yield_now();
                            });
                            if i % 8 == 1 {
                                let _ = tokio::time::timeout(Duration::from_micros(30), call).await;
                            } else {
                                call.await.unwrap();
                            }
                        }
                        2 => {
                            let permit = pool.acquire_owned(0).await.unwrap();
                            let inside = meter.enter();
                            tokio::task::yield_now().await;
                            drop(inside);
                            drop(permit);
                        }
                        _ => {
                            let m = meter.clone();
                            let call = pool.submit(async move {
                                let _inside = m.enter();
                                tokio::task::yield_now().await;
                            });
                            let _ = tokio::time::timeout(Duration::from_micros(50), call).await;
                        }
                    }
                }));
            }
            for h in handles {
                h.await.unwrap();
            }
        });
        // Blocking jobs whose callers went away finish on their own.
        let started = std::time::Instant::now();
        while pool.stats().running > 0 && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(rt);
        assert_eq!(meter.over.load(SeqCst), 0, "more than two ran at once");
        quiet(&pool);
        let permits: Vec<_> = (0..2).map(|_| pool.try_acquire().unwrap()).collect();
        assert!(matches!(pool.try_acquire(), Err(Rejected::Full)));
        drop(permits);
    });
}
