//! Acceptance tests, round 26: the rules of "How it works, and the rules it
//! keeps" counted from outside on all six pools (hand-off to exactly one
//! waiter, scale-down under load, cancellation, pause), the queue-depth
//! rule's documented formula to the slot (the demand before an event, the
//! quarter of headroom over a fractional mean, the band where it keeps the
//! limit, its interplay with `set_bounds`), and the reentrancy rule's
//! waiting bound. Hand-polled futures with counting wakers, a manual clock
//! for anything timed; waits bounded only to turn a hang into a failure.
#![cfg(not(miri))]

mod common;

use common::{gate, Task};
use pool_runtime::{Kind, ManualClock, Order, Pool, Rejected};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);

/// The six pools, each of `size` slots (autoscaled ones within 1..=10, on a
/// manual clock that is never advanced: their limit moves only by hand).
fn six_pools(size: usize) -> Vec<(String, Pool)> {
    let mut out = Vec::new();
    for kind in [Kind::Fixed, Kind::Autoscale] {
        for order in [Order::Fifo, Order::Lifo, Order::Priority] {
            let mut b = Pool::builder().kind(kind).order(order).size(size);
            if kind == Kind::Autoscale {
                b = b.min(1).max(10).clock(ManualClock::new());
            }
            out.push((format!("{kind:?}/{order:?}"), b.build().unwrap()));
        }
    }
    out
}

/// Which of the waiters submitted with `weights` (in that order) the order
/// admits first, second, ...
fn expected_order(pool: &Pool, weights: &[i64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..weights.len()).collect();
    match pool.order() {
        Order::Fifo => {}
        Order::Lifo => idx.reverse(),
        Order::Priority => idx.sort_by_key(|&i| (weights[i], i)),
    }
    idx
}

fn woken<F: std::future::Future>(tasks: &[Option<Task<F>>]) -> Vec<usize> {
    tasks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.as_ref().is_some_and(|t| t.is_woken()))
        .map(|(i, _)| i)
        .collect()
}

type Waiting<'a> = Task<pool_runtime::Submit<'a, std::future::Ready<usize>>>;

fn queue_waiters<'a>(pool: &'a Pool, weights: &[i64]) -> Vec<Option<Waiting<'a>>> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let mut t = Task::new(pool.submit_weighted(w, std::future::ready(i)));
            t.assert_pending();
            Some(t)
        })
        .collect()
}

/// Rules, Limits: "scaling down never interrupts running work, the pool
/// just admits nothing until `running < limit`", and Hand-off: "only that
/// one waiter is woken". On each of the six pools: three calls run, three
/// wait; scaled down to one slot, the first two releases wake nobody, the
/// third wakes exactly the waiter the order names, and each admitted call
/// that ends wakes exactly the next one.
#[test]
fn scaling_down_under_load_wakes_nobody_until_running_is_below_the_limit_on_all_six_pools() {
    let weights = [5, 1, 3];
    for (name, pool) in six_pools(3) {
        let mut holders: Vec<_> = (0..3)
            .map(|_| {
                let (g, open) = gate();
                let mut t = Task::new(pool.submit(g));
                t.assert_pending();
                (t, open)
            })
            .collect();
        assert_eq!(pool.stats().running, 3, "{name}");
        let mut waiters = queue_waiters(&pool, &weights);
        assert_eq!(pool.stats().waiting, 3, "{name}");
        assert_eq!(pool.scale(-2), 1, "{name}");
        assert_eq!(
            pool.stats().running,
            3,
            "{name}: running work is not interrupted"
        );
        for left in [2, 1] {
            let (mut t, open) = holders.remove(0);
            open.store(true, Ordering::SeqCst);
            t.assert_ready().unwrap();
            assert_eq!(pool.stats().running, left, "{name}");
            assert_eq!(
                woken(&waiters),
                Vec::<usize>::new(),
                "{name}: a release while running >= limit woke a waiter"
            );
            assert_eq!(pool.stats().waiting, 3, "{name}");
        }
        let (mut t, open) = holders.remove(0);
        open.store(true, Ordering::SeqCst);
        t.assert_ready().unwrap();
        let order = expected_order(&pool, &weights);
        for (step, &next) in order.iter().enumerate() {
            assert_eq!(
                woken(&waiters),
                vec![next],
                "{name}: step {step}: exactly the waiter the order names is woken"
            );
            let mut t = waiters[next].take().unwrap();
            assert_eq!(t.assert_ready(), Ok(next), "{name}");
            assert!(pool.stats().running <= 1, "{name}");
        }
        let s = pool.stats();
        assert_eq!(
            (s.running, s.waiting, s.completed, s.size),
            (0, 0, 6, 1),
            "{name}"
        );
    }
}

/// Cancellation: "Dropping a waiting call removes it from the queue at
/// once", waking nobody; the next release skips it and wakes exactly the
/// next waiter by the order.
#[test]
fn a_cancelled_waiter_wakes_nobody_and_the_next_release_skips_it_on_all_six_pools() {
    let weights = [5, 1, 3];
    for (name, pool) in six_pools(1) {
        let (g, open) = gate();
        let mut holder = Task::new(pool.submit(g));
        holder.assert_pending();
        let mut waiters = queue_waiters(&pool, &weights);
        let order = expected_order(&pool, &weights);
        drop(waiters[order[0]].take());
        let s = pool.stats();
        assert_eq!((s.waiting, s.cancelled), (2, 1), "{name}");
        assert_eq!(woken(&waiters), Vec::<usize>::new(), "{name}");
        open.store(true, Ordering::SeqCst);
        holder.assert_ready().unwrap();
        assert_eq!(woken(&waiters), vec![order[1]], "{name}");
        let mut t = waiters[order[1]].take().unwrap();
        assert_eq!(t.assert_ready(), Ok(order[1]), "{name}");
        assert_eq!(woken(&waiters), vec![order[2]], "{name}");
        let mut t = waiters[order[2]].take().unwrap();
        assert_eq!(t.assert_ready(), Ok(order[2]), "{name}");
        let s = pool.stats();
        assert_eq!(
            (s.running, s.waiting, s.completed, s.cancelled),
            (0, 0, 3, 1),
            "{name}"
        );
    }
}

/// `pause`: "new calls: Err(Rejected::Paused); queued and running ones go
/// on". A release on a paused pool still hands the slot to exactly one
/// queued call; resuming wakes nobody who was not held.
#[test]
fn a_paused_pool_hands_off_to_one_queued_call_per_release_on_all_six_pools() {
    let weights = [2, 1];
    for (name, pool) in six_pools(1) {
        let (g, open) = gate();
        let mut holder = Task::new(pool.submit(g));
        holder.assert_pending();
        let mut waiters = queue_waiters(&pool, &weights);
        pool.pause();
        assert!(pool.is_paused(), "{name}");
        let mut late = Task::new(pool.submit(async {}));
        assert_eq!(late.assert_ready(), Err(Rejected::Paused), "{name}");
        assert_eq!(woken(&waiters), Vec::<usize>::new(), "{name}");
        open.store(true, Ordering::SeqCst);
        holder.assert_ready().unwrap();
        let order = expected_order(&pool, &weights);
        assert_eq!(woken(&waiters), vec![order[0]], "{name}");
        let mut t = waiters[order[0]].take().unwrap();
        assert_eq!(t.assert_ready(), Ok(order[0]), "{name}");
        assert_eq!(woken(&waiters), vec![order[1]], "{name}");
        // Poll it again (it is admitted: its slot is owed to it) after a resume.
        pool.resume();
        let mut t = waiters[order[1]].take().unwrap();
        assert_eq!(t.assert_ready(), Ok(order[1]), "{name}");
        let s = pool.stats();
        assert_eq!((s.running, s.waiting, s.completed), (0, 0, 3), "{name}");
        assert_eq!(s.rejected_for(Rejected::Paused), 1, "{name}");
    }
}

/// `scale(delta)`: "Growing admits waiting calls at once", each admitted
/// waiter woken once and nobody else: scaling up by 2 wakes exactly the two
/// waiters the order names first.
#[test]
fn scaling_up_by_two_wakes_exactly_the_two_waiters_the_order_names_on_all_six_pools() {
    let weights = [5, 1, 3, 2];
    for (name, pool) in six_pools(1) {
        let (g, _open) = gate();
        let mut holder = Task::new(pool.submit(g));
        holder.assert_pending();
        let mut waiters = queue_waiters(&pool, &weights);
        assert_eq!(pool.scale(2), 3, "{name}");
        let order = expected_order(&pool, &weights);
        let mut want = vec![order[0], order[1]];
        want.sort_unstable();
        assert_eq!(woken(&waiters), want, "{name}");
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (3, 2), "{name}");
        for i in want {
            let mut t = waiters[i].take().unwrap();
            assert_eq!(t.assert_ready(), Ok(i), "{name}");
        }
        // Each of them, done, handed its slot to exactly one more.
        let mut rest = vec![order[2], order[3]];
        rest.sort_unstable();
        assert_eq!(woken(&waiters), rest, "{name}");
    }
}

// ---- the queue-depth rule --------------------------------------------------

fn autoscaled(
    clock: &ManualClock,
    order: Order,
    min: usize,
    max: usize,
    size: usize,
    window: usize,
) -> Pool {
    Pool::builder()
        .kind(Kind::Autoscale)
        .order(order)
        .min(min)
        .max(max)
        .size(size)
        .autoscale_interval(10 * SEC)
        .autoscale_window(window)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn hold_n(pool: &Pool, n: usize) -> Vec<Task<pool_runtime::Submit<'_, std::future::Pending<()>>>> {
    (0..n)
        .map(|_| {
            let mut t = Task::new(pool.submit(std::future::pending::<()>()));
            t.assert_pending();
            t
        })
        .collect()
}

/// queue_depth.rs: "the demand changes only at intake and release events
/// ... samples are taken at those events, and the periods with no event in
/// between are filled with the (unchanged) demand": a call arriving at the
/// evaluation is not part of the demand of the period before it. Four calls
/// ran a whole interval on 4 slots (`D = L`: keep), so the fifth waits;
/// after a second interval with 5 wanting slots (`D = 5 > 4`), the next
/// intake grows to `ceil(D) = 5` and admits the waiter (not the newcomer).
#[test]
fn a_call_arriving_at_the_evaluation_is_not_in_the_demand_before_it() {
    for order in [Order::Fifo, Order::Lifo, Order::Priority] {
        let clock = ManualClock::new();
        let pool = autoscaled(&clock, order, 1, 10, 4, 10);
        let _held = hold_n(&pool, 4);
        clock.advance(10 * SEC);
        let mut fifth = Task::new(pool.submit(std::future::pending::<()>()));
        fifth.assert_pending();
        assert_eq!(
            pool.size(),
            4,
            "{order:?}: demand 4 on 4 slots for the interval keeps the limit"
        );
        clock.advance(10 * SEC);
        let mut sixth = Task::new(pool.submit(std::future::pending::<()>()));
        sixth.assert_pending();
        assert_eq!(pool.size(), 5, "{order:?}: D = 5 > L = 4: grow to ceil(D)");
        assert!(fifth.is_woken(), "{order:?}: the growth admits the waiter");
        assert!(!sixth.is_woken());
        fifth.assert_pending(); // admitted, its work pending
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (5, 1), "{order:?}");
    }
}

/// queue_depth.rs: "`D < L / 2`: shrink to `ceil(D * 1.25)` (a quarter of
/// headroom), at most halving per step": with a mean of 3.5 over the
/// window (samples 3 and 4) on 8 slots, the target is ceil(4.375) = 5.
#[test]
fn shrinking_keeps_a_quarter_of_headroom_over_a_fractional_mean() {
    let clock = ManualClock::new();
    // Window of 2 samples over 10 s: one every 5 s.
    let pool = autoscaled(&clock, Order::Fifo, 1, 10, 8, 2);
    let mut held = hold_n(&pool, 3);
    clock.advance(5 * SEC);
    // An event at 5 s: the sample for 0..5 s is 3.
    held.extend(hold_n(&pool, 1));
    assert_eq!(pool.size(), 8);
    clock.advance(5 * SEC);
    // At 10 s: the sample for 5..10 s is 4; mean 3.5 < 8 / 2.
    held.extend(hold_n(&pool, 1));
    assert_eq!(
        pool.size(),
        5,
        "ceil(3.5 * 1.25) = 5 (halving would allow 4)"
    );
    assert_eq!(pool.stats().running, 5);
}

/// queue_depth.rs: "otherwise keep `L`": a mean of exactly half the slots
/// (`D = L / 2`, not below it) and a mean of exactly `L` keep the limit.
#[test]
fn the_limit_is_kept_at_exactly_half_and_exactly_full() {
    for (held_n, why) in [(4, "D = L / 2"), (8, "D = L")] {
        let clock = ManualClock::new();
        let pool = autoscaled(&clock, Order::Priority, 1, 16, 8, 20);
        let mut held = hold_n(&pool, held_n);
        for _ in 0..3 {
            clock.advance(10 * SEC);
            // A release and an intake: events at which the evaluation is due.
            held.pop();
            held.extend(hold_n(&pool, 1));
            assert_eq!(pool.size(), 8, "{why}");
        }
    }
}

/// "with `min = 0` a pool starts at 1" ... growth "at most doubling": a
/// backlog of 9 on one slot grows 1 -> 2 -> 4 -> 8 -> 9 over four
/// intervals (each step at most doubling, then to ceil(D)), and the limit
/// then stays at 9 while the demand is met.
#[test]
fn growth_from_one_slot_doubles_each_interval_then_meets_the_demand() {
    let clock = ManualClock::new();
    let pool = autoscaled(&clock, Order::Lifo, 0, 12, 1, 20);
    assert_eq!(pool.size(), 1);
    let mut held = hold_n(&pool, 9);
    for want in [2, 4, 8, 9, 9] {
        clock.advance(10 * SEC);
        // A cancelled waiter is an event too; put one back at once.
        let mut extra = Task::new(pool.submit(std::future::pending::<()>()));
        let admitted_before = pool.stats().running;
        extra.assert_pending();
        assert_eq!(pool.size(), want, "running before {admitted_before}");
        drop(extra);
        for t in &mut held {
            let _ = t.poll();
        }
        assert_eq!(pool.stats().running, want.min(9));
    }
}

/// "the limit grows toward the mean demand ... clamped to `[min, max]`"
/// and `set_bounds`: "the size is clamped into them". Raising `min` above
/// the limit admits exactly the difference, in order, waking only those;
/// the rule's next growth stops at the new `max`; lowering `max` below the
/// running count admits nothing (wakes nobody) until running < max.
#[test]
fn set_bounds_moves_the_limit_and_bounds_the_rule_counting_wakeups() {
    type Gated<'a> = (
        Task<pool_runtime::Submit<'a, common::Gate>>,
        Arc<std::sync::atomic::AtomicBool>,
    );
    fn gated(pool: &Pool, weight: i64) -> Gated<'_> {
        let (g, open) = gate();
        let mut t = Task::new(pool.submit_weighted(weight, g));
        t.assert_pending();
        (t, open)
    }
    fn woken_of(ws: &[Option<Gated<'_>>]) -> Vec<usize> {
        ws.iter()
            .enumerate()
            .filter(|(_, w)| w.as_ref().is_some_and(|(t, _)| t.is_woken()))
            .map(|(i, _)| i)
            .collect()
    }
    fn finish(w: Option<Gated<'_>>) {
        let (mut t, open) = w.unwrap();
        open.store(true, Ordering::SeqCst);
        t.assert_ready().unwrap();
    }
    let clock = ManualClock::new();
    let pool = autoscaled(&clock, Order::Priority, 1, 16, 2, 20);
    let mut holders = [Some(gated(&pool, 0)), Some(gated(&pool, 0))];
    let weights = [6, 5, 4, 3, 2, 1];
    let mut ws: Vec<Option<Gated<'_>>> = weights.iter().map(|&w| Some(gated(&pool, w))).collect();
    // Raise min to 4: two more slots, to weights 1 and 2 (indices 5, 4).
    assert_eq!(pool.set_bounds(4, 6).unwrap(), 4);
    assert_eq!(woken_of(&ws), vec![4, 5]);
    for i in [4, 5] {
        ws[i].as_mut().unwrap().0.assert_pending();
    }
    assert_eq!((pool.stats().running, pool.stats().waiting), (4, 4));
    // A whole interval with demand 6 on 4 slots: growing to 6 is also max.
    // (Add two more waiters first so that the demand is 8: doubling would be 8.)
    ws.push(Some(gated(&pool, 7)));
    ws.push(Some(gated(&pool, 8)));
    clock.advance(10 * SEC);
    let mut newcomer = Task::new(pool.submit_weighted(100, std::future::pending::<()>()));
    newcomer.assert_pending();
    assert_eq!(
        pool.size(),
        6,
        "the rule's growth is clamped to the new max"
    );
    assert_eq!(woken_of(&ws), vec![2, 3], "weights 3 and 4 next");
    assert!(!newcomer.is_woken());
    for i in [2, 3] {
        ws[i].as_mut().unwrap().0.assert_pending();
    }
    assert_eq!((pool.stats().running, pool.stats().waiting), (6, 5));
    // Lower max to 3 with 6 running: three releases admit nobody.
    assert_eq!(pool.set_bounds(1, 3).unwrap(), 3);
    finish(holders[0].take());
    finish(holders[1].take());
    finish(ws[5].take());
    assert_eq!(pool.stats().running, 3);
    assert_eq!(
        woken_of(&ws),
        Vec::<usize>::new(),
        "no waiter woken while running >= the new max"
    );
    assert!(!newcomer.is_woken());
    // The next release hands off to exactly weight 5 (index 1).
    finish(ws[4].take());
    assert_eq!(woken_of(&ws), vec![1]);
    assert!(!newcomer.is_woken());
    assert_eq!(pool.stats().running, 3);
}

// ---- more of the rule's events ------------------------------------------------

/// README, Autoscale: demand is sampled at "a waiting call that leaves:
/// cancelled or timed out". A lone waiter behind one slot for a whole
/// interval, which then times out (on real time: the timer thread, or the
/// sync caller's own park), is an event: demand 2 over the window on 1 slot
/// grows the pool to 2, with nobody left to admit.
#[test]
fn a_waiter_timing_out_is_an_event_that_grows_the_pool() {
    for sync in [false, true] {
        let clock = ManualClock::new();
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .min(1)
            .max(4)
            .size(1)
            .autoscale_interval(10 * SEC)
            .admission_timeout(Duration::from_millis(300))
            .clock(clock.clone())
            .build()
            .unwrap();
        let _held = hold_n(&pool, 1);
        if sync {
            let p = pool.clone();
            let c = clock.clone();
            let caller = std::thread::spawn(move || {
                // The manual clock moves while this caller waits.
                p.run(|| ())
            });
            let start = std::time::Instant::now();
            while pool.stats().waiting == 0 {
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "caller never queued"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            c.advance(10 * SEC);
            assert_eq!(caller.join().unwrap(), Err(Rejected::TimedOut));
        } else {
            let mut waiter = Task::new(pool.submit(async {}));
            waiter.assert_pending();
            clock.advance(10 * SEC);
            let start = std::time::Instant::now();
            let out = loop {
                if let std::task::Poll::Ready(out) = waiter.poll() {
                    break out;
                }
                assert!(start.elapsed() < Duration::from_secs(20), "never timed out");
                std::thread::sleep(Duration::from_millis(5));
            };
            assert_eq!(out, Err(Rejected::TimedOut));
        }
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::TimedOut), 1, "sync {sync}");
        assert_eq!(
            pool.size(),
            2,
            "sync {sync}: the timed-out waiter's leaving is an event with demand 2 on 1 slot"
        );
    }
}

/// `set_autoscale_timing`: "Restarts an autoscaled pool's queue-depth rule
/// with new timing": the interval counts from the restart, so an event at
/// the old evaluation time moves nothing, and the first evaluation comes a
/// whole new interval after the restart, on the demand since it.
#[test]
fn set_autoscale_timing_restarts_the_interval_from_the_change() {
    let clock = ManualClock::new();
    let pool = autoscaled(&clock, Order::Fifo, 1, 10, 2, 20);
    let mut held = hold_n(&pool, 6);
    clock.advance(5 * SEC);
    pool.set_autoscale_timing(pool_runtime::AutoscaleTiming {
        interval: 20 * SEC,
        window: 4,
    })
    .unwrap();
    clock.advance(5 * SEC);
    held.extend(hold_n(&pool, 1));
    assert_eq!(
        pool.size(),
        2,
        "10 s after the start, 5 s after the restart: no evaluation"
    );
    clock.advance(10 * SEC);
    held.extend(hold_n(&pool, 1));
    assert_eq!(pool.size(), 2, "15 s after the restart: still none");
    clock.advance(5 * SEC);
    held.extend(hold_n(&pool, 1));
    // Demand since the restart: 6 (5 s), 7 (10 s), 8 (5 s): mean of the four
    // 5 s samples = (6 + 7 + 7 + 8) / 4 = 7 > 2: at most doubling, to 4.
    assert_eq!(pool.size(), 4, "20 s after the restart: evaluated");
}

/// README, Accounting: "`submitted == completed + rejected + cancelled +
/// running + nested + waiting`", "A nested call counts in `Stats::nested`,
/// not in `running`". Step by step through a parent on a full pool of one
/// slot joining two nested calls (one under the lent slot, one waiting for
/// it), the identity holds and each term is what the rule says.
#[test]
fn the_accounting_identity_holds_at_every_step_of_nested_calls() {
    fn check(pool: &Pool, want: (usize, usize, usize, u64), step: &str) {
        let s = pool.stats();
        let rejected: u64 = [
            Rejected::Paused,
            Rejected::Closed,
            Rejected::Full,
            Rejected::TimedOut,
        ]
        .into_iter()
        .map(|r| s.rejected_for(r))
        .sum();
        assert_eq!(
            s.submitted(),
            s.completed + rejected + s.cancelled + (s.running + s.nested + s.waiting) as u64,
            "{step}: {s:?}"
        );
        assert_eq!(
            (s.running, s.nested, s.waiting, s.completed),
            want,
            "{step}: {s:?}"
        );
    }
    let pool = Pool::fixed(1);
    let (g_a, open_a) = gate();
    let (g_b, open_b) = gate();
    let inner = pool.clone();
    let mut parent = Task::new(pool.submit(async move {
        let (a, b) = futures::join!(inner.submit(g_a), inner.submit(g_b));
        a.unwrap();
        b.unwrap();
    }));
    parent.assert_pending();
    check(&pool, (1, 1, 1, 0), "a lent, b waiting for the lent slot");
    let mut outsider = Task::new(pool.submit(async {}));
    outsider.assert_pending();
    check(&pool, (1, 1, 2, 0), "an outsider queued");
    open_a.store(true, std::sync::atomic::Ordering::SeqCst);
    parent.assert_pending();
    check(
        &pool,
        (1, 1, 1, 1),
        "a done, b under the slot that came back",
    );
    assert!(!outsider.is_woken(), "the parent still holds its slot");
    open_b.store(true, std::sync::atomic::Ordering::SeqCst);
    parent.assert_ready().unwrap();
    check(
        &pool,
        (1, 0, 0, 3),
        "parent done: the outsider is handed the slot",
    );
    assert!(outsider.is_woken());
    outsider.assert_ready().unwrap();
    check(&pool, (0, 0, 0, 4), "all done");
}

/// README, Limits: "At every admission `running <= limit`, including while
/// scaling down under load". On each of the six pools of 4 slots, 4 bodies
/// hold their slots (on threads) while 6 threads queue sync and async calls;
/// scaled down to 1 and let go, every later body runs alone (counted from
/// outside: no body entered while another was in flight).
#[test]
fn after_scaling_down_under_load_each_later_body_runs_alone_on_all_six_pools() {
    use std::sync::atomic::AtomicBool;
    for (name, pool) in six_pools(4) {
        let open = Arc::new(AtomicBool::new(false));
        let now = Arc::new(AtomicUsize::new(0));
        let worst = Arc::new(AtomicUsize::new(0));
        let start = std::time::Instant::now();
        let holders: Vec<_> = (0..4)
            .map(|_| {
                let (pool, open, now) = (pool.clone(), open.clone(), now.clone());
                std::thread::spawn(move || {
                    pool.run(|| {
                        now.fetch_add(1, Ordering::SeqCst);
                        while !open.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        now.fetch_sub(1, Ordering::SeqCst);
                    })
                    .unwrap();
                })
            })
            .collect();
        while now.load(Ordering::SeqCst) < 4 {
            assert!(start.elapsed() < Duration::from_secs(20), "{name}: holders");
            std::thread::sleep(Duration::from_millis(1));
        }
        let workers: Vec<_> = (0..6)
            .map(|t| {
                let (pool, now, worst) = (pool.clone(), now.clone(), worst.clone());
                std::thread::spawn(move || {
                    let body = || {
                        let seen = now.fetch_add(1, Ordering::SeqCst) + 1;
                        worst.fetch_max(seen, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_micros(100));
                        now.fetch_sub(1, Ordering::SeqCst);
                    };
                    for i in 0..10 {
                        if (i + t) % 2 == 0 {
                            pool.run_weighted(i as i64, body).unwrap();
                        } else {
                            futures::executor::block_on(
                                pool.submit_weighted(i as i64, async { body() }),
                            )
                            .unwrap();
                        }
                    }
                })
            })
            .collect();
        while pool.stats().waiting < 6 {
            assert!(start.elapsed() < Duration::from_secs(20), "{name}: workers");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(pool.scale(-3), 1, "{name}");
        open.store(true, Ordering::SeqCst);
        for h in holders.into_iter().chain(workers) {
            h.join().unwrap();
        }
        assert_eq!(
            worst.load(Ordering::SeqCst),
            1,
            "{name}: a body ran beside another after scaling to 1"
        );
        let s = pool.stats();
        assert_eq!((s.running, s.waiting, s.completed), (0, 0, 64), "{name}");
    }
}

/// Cancellation and Hand-off: a waiter handed a slot but dropped before it
/// runs passes the slot on to exactly the next waiter the order names, and
/// its work never runs.
#[test]
fn a_waiter_dropped_after_its_hand_off_passes_the_slot_to_exactly_the_next_on_all_six_pools() {
    let weights = [5, 1, 3];
    for (name, pool) in six_pools(1) {
        let ran = AtomicUsize::new(0);
        let (g, open) = gate();
        let mut holder = Task::new(pool.submit(g));
        holder.assert_pending();
        let mut waiters: Vec<Option<Task<_>>> = weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let ran = &ran;
                let mut t = Task::new(pool.submit_weighted(w, async move {
                    ran.fetch_add(1, Ordering::SeqCst);
                    i
                }));
                t.assert_pending();
                Some(t)
            })
            .collect();
        let order = expected_order(&pool, &weights);
        open.store(true, Ordering::SeqCst);
        holder.assert_ready().unwrap();
        assert_eq!(woken(&waiters), vec![order[0]], "{name}");
        drop(waiters[order[0]].take());
        assert_eq!(
            woken(&waiters),
            vec![order[1]],
            "{name}: passed on to exactly one"
        );
        assert_eq!(ran.load(Ordering::SeqCst), 0, "{name}");
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (1, 1), "{name}: {s:?}");
        let mut t = waiters[order[1]].take().unwrap();
        assert_eq!(t.assert_ready(), Ok(order[1]), "{name}");
        let mut t = waiters[order[2]].take().unwrap();
        assert_eq!(t.assert_ready(), Ok(order[2]), "{name}");
        assert_eq!(ran.load(Ordering::SeqCst), 2, "{name}");
        let s = pool.stats();
        assert_eq!(
            s.submitted(),
            s.completed + s.cancelled + s.rejected_total(),
            "{name}: {s:?}"
        );
        assert_eq!((s.completed, s.cancelled), (3, 1), "{name}: {s:?}");
    }
}

// ---- nested marks do not outlive their work ------------------------------------

/// Reentrancy rule: a call is nested only "from inside work that holds one
/// of its slots". After sync work on a thread ended, by returning or by a
/// panic caught by its caller, a later call on that thread is an ordinary
/// one: on a full pool it waits (and here times out), it does not run under
/// a slot that is gone.
#[test]
fn a_call_on_a_thread_whose_sync_work_ended_or_panicked_is_not_nested() {
    let pool = Pool::builder()
        .size(1)
        .admission_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    assert_eq!(pool.run(|| pool.run(|| 7).unwrap()), Ok(7));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.run(|| -> () { panic!("boom") })
    }));
    assert!(caught.is_err());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.run(|| {
            let _ = pool.run(|| -> () { panic!("inner boom") });
        })
    }));
    assert!(caught.is_err());
    assert_eq!(pool.stats().running, 0);
    // Hold the only slot from another thread.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let p = pool.clone();
    let holder = std::thread::spawn(move || {
        p.run(|| {
            held_tx.send(()).unwrap();
            let _ = rx.recv_timeout(Duration::from_secs(20));
        })
        .unwrap();
    });
    held_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let ran = AtomicUsize::new(0);
    assert_eq!(
        pool.run(|| ran.fetch_add(1, Ordering::SeqCst)),
        Err(Rejected::TimedOut),
        "this thread's work ended: its call waits for a slot like any other"
    );
    let mut call = Task::new(pool.submit(async { ran.fetch_add(1, Ordering::SeqCst) }));
    call.assert_pending();
    assert_eq!(pool.stats().nested, 0);
    drop(call);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    tx.send(()).unwrap();
    holder.join().unwrap();
}

/// The same for blocking work on the executor's threads (a runtime with one
/// blocking thread, shared by the pool's jobs and `spawn_blocking`): after a
/// job of the pool ended, by returning or by a panic, a call from a later
/// `spawn_blocking` closure on that thread waits for a slot.
#[test]
fn a_call_on_a_blocking_thread_after_a_pool_job_ended_is_not_nested() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = Pool::builder()
            .size(1)
            .admission_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let job_thread = pool
            .submit_blocking(|| std::thread::current().id())
            .await
            .unwrap();
        let p = pool.clone();
        let panicked =
            tokio::spawn(async move { p.submit_blocking(|| -> () { panic!("job boom") }).await })
                .await;
        assert!(panicked.is_err(), "the job's panic reaches its caller");
        let p = pool.clone();
        let nested_in_job = pool.submit_blocking(move || p.run(|| 5)).await.unwrap();
        assert_eq!(nested_in_job, Ok(5), "a call nested in a job runs");
        let permit = pool.acquire().await.unwrap();
        let p = pool.clone();
        let (thread, later) =
            tokio::task::spawn_blocking(move || (std::thread::current().id(), p.run(|| 9)))
                .await
                .unwrap();
        assert_eq!(thread, job_thread, "the same blocking thread");
        assert_eq!(
            later,
            Err(Rejected::TimedOut),
            "not the pool's work: it waits for a slot"
        );
        drop(permit);
        let s = pool.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
    });
}

/// Cancellation: "Blocking closures carry their slot to the executor thread
/// and release it there, so abandoning the wait never lets more closures run
/// than the limit". On each of the six pools of 2 slots, 40 blocking calls
/// abandoned at staggered moments (waiting, or after their closure started)
/// never run more than 2 closures at once, counted from outside, and the
/// pool ends empty with every call accounted for.
#[test]
fn abandoned_blocking_calls_never_run_more_closures_than_the_limit_on_all_six_pools() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .enable_all()
        .build()
        .unwrap();
    for (name, pool) in six_pools(2) {
        let now = Arc::new(AtomicUsize::new(0));
        let worst = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..40u64 {
                let (pool, now, worst, done) =
                    (pool.clone(), now.clone(), worst.clone(), done.clone());
                tasks.push(tokio::spawn(async move {
                    let call = pool.submit_blocking_weighted(i as i64 % 4, move || {
                        let seen = now.fetch_add(1, Ordering::SeqCst) + 1;
                        worst.fetch_max(seen, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                        now.fetch_sub(1, Ordering::SeqCst);
                        done.fetch_add(1, Ordering::SeqCst);
                    });
                    // Every other call is abandoned after a while.
                    if i % 2 == 0 {
                        let _ =
                            tokio::time::timeout(Duration::from_micros(500 * (i % 7)), call).await;
                    } else {
                        call.await.unwrap();
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        let start = std::time::Instant::now();
        while pool.stats().running > 0 {
            assert!(start.elapsed() < Duration::from_secs(20), "{name}");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            worst.load(Ordering::SeqCst) <= 2,
            "{name}: {} closures at once",
            worst.load(Ordering::SeqCst)
        );
        let s = pool.stats();
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{name}: {s:?}");
        assert_eq!(
            s.submitted(),
            s.completed + s.cancelled + s.rejected_total(),
            "{name}: {s:?}"
        );
        assert!(
            done.load(Ordering::SeqCst) >= 20,
            "{name}: the awaited ones ran"
        );
    }
}

/// Reentrancy rule: nested calls that wait "belong to admitted work": "a
/// paused or closed pool or a full waiting bound does not turn them away".
/// A parent on a pool of one slot whose waiting bound (1) is full, then
/// paused, then closed, joins three nested calls: one runs under its slot,
/// the others wait past the bound, the pause and the close, and each runs in
/// turn (one at a time, counted from outside); the outsider that filled the
/// bound still runs after the parent (closing lets waiting calls finish).
#[test]
fn nested_calls_wait_past_a_full_bound_a_pause_and_a_close() {
    let pool = Pool::builder().size(1).max_waiting(1).build().unwrap();
    let now = AtomicUsize::new(0);
    let worst = AtomicUsize::new(0);
    let leaf = |g: common::Gate| {
        let (now, worst) = (&now, &worst);
        async move {
            let seen = now.fetch_add(1, Ordering::SeqCst) + 1;
            worst.fetch_max(seen, Ordering::SeqCst);
            g.await;
            now.fetch_sub(1, Ordering::SeqCst);
        }
    };
    // The parent: admitted, then (once let go) joins three nested calls.
    let (gates, opens): (Vec<_>, Vec<_>) = (0..3).map(|_| gate()).unzip();
    let mut gates = gates.into_iter();
    let (ga, gb, gc) = (
        gates.next().unwrap(),
        gates.next().unwrap(),
        gates.next().unwrap(),
    );
    let (go, open_go) = gate();
    let inner = &pool;
    let mut parent = Task::new(pool.submit(async move {
        go.await;
        let (a, b, c) = futures::join!(
            inner.submit(leaf(ga)),
            inner.submit(leaf(gb)),
            inner.submit(leaf(gc))
        );
        (a, b, c)
    }));
    parent.assert_pending();
    let mut outsider = Task::new(pool.submit(async {}));
    outsider.assert_pending();
    assert_eq!(pool.stats().waiting, 1);
    let mut full = Task::new(pool.submit(async {}));
    assert_eq!(
        full.assert_ready(),
        Err(Rejected::Full),
        "the bound is full"
    );
    pool.pause();
    pool.close();
    open_go.store(true, Ordering::SeqCst);
    parent.assert_pending();
    let s = pool.stats();
    assert_eq!((s.running, s.nested, s.waiting), (1, 1, 3), "{s:?}");
    assert_eq!(s.rejected_total(), 1, "no nested call turned away: {s:?}");
    let mut out = None;
    for open in &opens {
        assert!(out.is_none(), "the parent finished early");
        open.store(true, Ordering::SeqCst);
        if let std::task::Poll::Ready(o) = parent.poll() {
            out = Some(o);
        }
    }
    let (a, b, c) = out
        .expect("the parent finished")
        .expect("the parent was admitted before the pause");
    assert_eq!((a, b, c), (Ok(()), Ok(()), Ok(())));
    assert_eq!(worst.load(Ordering::SeqCst), 1, "one nested call at a time");
    assert!(outsider.is_woken());
    assert_eq!(outsider.assert_ready(), Ok(()));
    let s = pool.stats();
    assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
    assert_eq!(s.rejected_total(), 1, "{s:?}");
}

/// README, Autoscale: "demand (`running + waiting`) is sampled at the events
/// that change it (intake, release, and a waiting call that leaves:
/// cancelled or timed out) — periods without events are filled in, since
/// nothing changed". A nested call waiting in the queue for its parent's
/// lent slot is waiting (it counts in `Stats::waiting`, so in the demand);
/// when it leaves the queue, the demand of the period before must be what it
/// was. Control: the waiter leaves by being cancelled at 9.5 s (its sibling
/// still running under the lent slot), and the
/// intake at 11 s grows the pool (demand 2 on 1 slot for most of the
/// window). Under test: it leaves by taking the lent slot when its sibling
/// ends, at 9.5 s; the intake at 11 s must see the same demand (2 until
/// 9.5 s) and grow the pool too.
fn nested_waiter_leaves(passed_on: bool) {
    {
        let clock = ManualClock::new();
        let pool = autoscaled(&clock, Order::Fifo, 1, 4, 1, 10);
        let (ga, open_a) = gate();
        let (gb, open_b) = gate();
        let inner = &pool;
        let (abort, registration) = futures::future::AbortHandle::new_pair();
        let mut parent = Task::new(pool.submit(async move {
            let a = inner.submit(ga);
            let b = futures::future::Abortable::new(inner.submit(gb), registration);
            let (a, b) = futures::join!(a, b);
            a.unwrap();
            if let Ok(b) = b {
                b.unwrap();
            }
        }));
        parent.assert_pending();
        let s = pool.stats();
        assert_eq!((s.running, s.nested, s.waiting), (1, 1, 1), "{s:?}");
        clock.advance(Duration::from_millis(9_500));
        if passed_on {
            open_a.store(true, Ordering::SeqCst);
            parent.assert_pending();
            let s = pool.stats();
            assert_eq!(
                (s.running, s.nested, s.waiting),
                (1, 1, 0),
                "b took the lent slot: {s:?}"
            );
        } else {
            abort.abort();
            parent.assert_pending();
            let s = pool.stats();
            assert_eq!(
                (s.running, s.nested, s.waiting, s.cancelled),
                (1, 1, 0, 1),
                "b cancelled while waiting: {s:?}"
            );
        }
        clock.advance(Duration::from_millis(1_500));
        let mut x = Task::new(pool.submit(std::future::pending::<()>()));
        let _ = x.poll();
        assert_eq!(
            pool.size(),
            2,
            "passed_on {passed_on}: demand 2 (1 running + 1 waiting) for 8.5 s of the last 10 s on 1 slot grows the pool"
        );
        open_a.store(true, Ordering::SeqCst);
        open_b.store(true, Ordering::SeqCst);
        drop(x);
        parent.assert_ready().unwrap();
    }
}

/// The control of the test below: a nested waiter cancelled at 9.5 s is an
/// event, and the intake at 11 s grows the pool.
#[test]
fn a_nested_waiter_cancelled_keeps_the_demand_it_had() {
    nested_waiter_leaves(false);
}

#[test]
fn a_nested_waiter_leaving_the_queue_for_the_lent_slot_keeps_the_demand_it_had() {
    nested_waiter_leaves(true);
}

/// The same rule for waiting calls turned away by `abort` ("turns away with
/// `Closed` every waiting call"): three calls wait behind one slot until
/// 9.5 s, when they leave (dropped and the pool closed, the control; or
/// aborted, under test); at
/// 11 s the running call's release evaluates the window, whose demand was 4
/// for 8.5 s of its 10: the pool grows to 2 (at most doubling) either way.
fn waiters_leave_at_9_5_s(abort: bool) {
    let clock = ManualClock::new();
    let pool = autoscaled(&clock, Order::Fifo, 1, 4, 1, 10);
    let (g, open) = gate();
    let mut holder = Task::new(pool.submit(g));
    holder.assert_pending();
    let mut waiters = hold_n(&pool, 3);
    assert_eq!(pool.stats().waiting, 3);
    clock.advance(Duration::from_millis(9_500));
    if abort {
        pool.abort();
        for w in &mut waiters {
            assert_eq!(w.assert_ready(), Err(Rejected::Closed));
        }
    } else {
        waiters.clear();
        pool.close();
    }
    assert!(pool.is_closed());
    assert_eq!(pool.stats().waiting, 0);
    clock.advance(Duration::from_millis(1_500));
    open.store(true, Ordering::SeqCst);
    holder.assert_ready().unwrap();
    assert_eq!(
        pool.size(),
        2,
        "abort {abort}: demand 4 on 1 slot for 8.5 s of the last 10 s"
    );
}

/// The control of the test below: waiters dropped are events.
#[test]
fn waiters_cancelled_before_a_release_keep_the_demand_they_had() {
    waiters_leave_at_9_5_s(false);
}

#[test]
fn waiters_aborted_before_a_release_keep_the_demand_they_had() {
    waiters_leave_at_9_5_s(true);
}

/// README, Many sync callers: callers waiting outside the queue (sync
/// barging) "count as waiting", and so in the autoscaler's demand
/// (`running + waiting`), which "periods without events" keep. One slot is
/// held and a sync caller waits in the room from 0 s to past 10 s (its
/// 2 s bound, on real time, passes after the manual clock reached 10 s): the
/// demand was 2 on 1 slot for the whole interval. Whatever event comes first
/// after the interval (here the caller's own move into the queue) must find
/// that demand, grow the pool to 2 and admit the caller beside the holder
/// (the control, an async intake at 10 s while the caller is in the room,
/// is `callers_in_the_room_count_in_the_autoscalers_demand` in
/// `adversarial_barging.rs`: it grows).
#[test]
fn a_sync_caller_moving_from_the_room_to_the_queue_is_in_the_demand_before() {
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(4)
        .size(1)
        .autoscale_interval(10 * SEC)
        .autoscale_window(10)
        .sync_barging(Duration::from_secs(2))
        .clock(clock.clone())
        .build()
        .unwrap();
    let (g, open) = gate();
    let mut holder = Task::new(pool.submit(g));
    holder.assert_pending();
    let p = pool.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let caller = std::thread::spawn(move || {
        let out = p.run(|| ());
        let _ = tx.send(out);
    });
    let start = std::time::Instant::now();
    while pool.stats().waiting == 0 {
        assert!(start.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(1));
    }
    clock.advance(10 * SEC);
    let out = rx.recv_timeout(Duration::from_secs(6));
    let size = pool.size();
    open.store(true, Ordering::SeqCst);
    holder.assert_ready().unwrap();
    caller.join().unwrap();
    assert_eq!(size, 2, "demand 2 on 1 slot for the whole interval: grow");
    assert_eq!(
        out,
        Ok(Ok(())),
        "admitted beside the holder once the pool grew"
    );
}

/// queue_depth.rs: "every `interval`, with `D` the mean demand over the last
/// `window` samples and `L` the current limit: ... `D < L / 2` ... shrink",
/// evaluated at events (no background thread): the first event at or after
/// the interval evaluates, whether it takes the pool's lock or not. A
/// window of 10 over 10 s: a sample every second, on its schedule. One call
/// runs from 0 s, a second from 6 s (a fast admission, which takes the
/// samples due at 1–6 s: demand 1), on 8 slots.
/// Control: six more fast admissions at 9.5 s (they take the samples of
/// 7–9 s: demand 2), and at 10 s an intake that queues (it takes the lock,
/// and the sample of 10 s: 8) shrinks the pool to 4 (the mean demand, 2,
/// is under half of 8: at most halving). Under test: at 10 s the second
/// call's release (nobody waits: a lock-free event) is the first event
/// after the interval, and must shrink the pool just the same (mean 1.4).
/// (Written first with a window of 2 and the six admissions at 6 s: it
/// passed only because each event then restarted the sample schedule, so
/// that no sample fell at 10 s, where the demand is the full pool's.)
fn first_event_after_the_interval(lock_free: bool) {
    let clock = ManualClock::new();
    let pool = autoscaled(&clock, Order::Fifo, 1, 8, 8, 10);
    let _first = hold_n(&pool, 1);
    clock.advance(6 * SEC);
    let (g, open) = gate();
    let mut second = Task::new(pool.submit(g));
    second.assert_pending();
    assert_eq!(pool.size(), 8);
    clock.advance(3 * SEC + SEC / 2);
    let _more = (!lock_free).then(|| hold_n(&pool, 6));
    assert_eq!(pool.size(), 8);
    clock.advance(SEC / 2);
    if lock_free {
        open.store(true, Ordering::SeqCst);
        second.assert_ready().unwrap();
        assert_eq!(pool.stats().running, 1);
    } else {
        assert_eq!(pool.stats().running, 8);
        let mut queued = Task::new(pool.submit(async {}));
        queued.assert_pending();
    }
    assert_eq!(
        pool.size(),
        4,
        "lock_free {lock_free}: a mean demand of 1 on 8 slots over the interval: halve"
    );
}

/// The control of the test below (a locked event at 10 s).
#[test]
fn a_locked_event_after_the_interval_evaluates() {
    first_event_after_the_interval(false);
}

#[test]
fn a_lock_free_event_after_the_interval_evaluates() {
    first_event_after_the_interval(true);
}
