//! Acceptance tests, round 18: the public rustdoc item by item — every
//! `# Errors`, `# Panics` and `# Cancel safety` section and every sentence
//! stating a behaviour, checked with hostile arguments (0, `MAX`, empty
//! strings, `Duration::MAX`, closed and paused pools, calls made from inside
//! calls). Each test quotes the promise it checks (file and wording).
//! Concurrency is counted from outside the library; waits are bounded only
//! to turn a hang into a failure.
#![cfg(all(
    feature = "tokio",
    feature = "config",
    feature = "stream",
    feature = "tower"
))]

use futures::executor::block_on;
use pool_runtime::{
    AutoscaleTiming, BuildError, ExecutorKind, Kind, ManualClock, Order, Pool, Rejected, MAX_SLOTS,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

mod common;
use common::{assert_accounted, gate, quiet_planned_panics, within, Meter, Task};

/// Every bounded wait is over by then, or the test fails.
const BOUND: Duration = Duration::from_secs(20);

/// Waits (bounded) on this thread until `cond` holds; fails if it never does.
#[track_caller]
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + BOUND;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ---- Pool: building and sizes ------------------------------------------------

/// `pool/mod.rs`, `Pool::fixed`: "A `size` of zero is raised to one, and one
/// above [`MAX_SLOTS`] lowered to it (use the builder to get an error
/// instead)"; `Default for Pool`: "The default pool: fixed, FIFO, 3 slots".
#[test]
fn fixed_raises_zero_lowers_above_max_and_the_builder_refuses_both() {
    assert_eq!(Pool::fixed(0).size(), 1);
    assert_eq!(Pool::fixed(MAX_SLOTS + 1).size(), MAX_SLOTS);
    assert_eq!(Pool::fixed(usize::MAX).size(), MAX_SLOTS);
    assert_eq!(
        Pool::builder().size(0).build().unwrap_err(),
        BuildError::ZeroSize
    );
    assert_eq!(
        Pool::builder().size(usize::MAX).build().unwrap_err(),
        BuildError::TooLarge { value: usize::MAX }
    );
    let pool = Pool::default();
    assert_eq!(
        (pool.kind(), pool.order(), pool.size()),
        (Kind::Fixed, Order::Fifo, 3)
    );
    assert_eq!(pool.name(), None);
    assert_eq!(
        Pool::builder().name("").build().unwrap().name(),
        Some(""),
        "an empty name is a name"
    );
}

/// `pool/mod.rs`, `Pool::set_bounds`: "a refused change changes nothing:
/// `BoundsOnFixedPool` (a fixed pool has no bounds ...), `ZeroMax`,
/// `MinAboveMax`, `TooLarge`"; "Changes the bounds of an autoscaled pool
/// (the size is clamped into them); returns the new size"; `scale`:
/// "Growing admits waiting calls at once".
#[test]
fn set_bounds_refusals_change_nothing_and_a_raised_min_admits_waiters() {
    let fixed = Pool::fixed(2);
    assert_eq!(fixed.set_bounds(1, 4), Err(BuildError::BoundsOnFixedPool));
    assert_eq!((fixed.size(), fixed.bounds()), (2, (0, MAX_SLOTS)));

    let clock = ManualClock::new();
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(4)
        .clock(clock)
        .build()
        .unwrap();
    assert_eq!(pool.size(), 1);
    for (min, max, error) in [
        (0, 0, BuildError::ZeroMax),
        (5, 4, BuildError::MinAboveMax { min: 5, max: 4 }),
        (
            usize::MAX,
            usize::MAX,
            BuildError::TooLarge { value: usize::MAX },
        ),
        (
            0,
            MAX_SLOTS + 1,
            BuildError::TooLarge {
                value: MAX_SLOTS + 1,
            },
        ),
    ] {
        assert_eq!(pool.set_bounds(min, max), Err(error), "({min}, {max})");
        assert_eq!((pool.size(), pool.bounds()), (1, (1, 4)), "({min}, {max})");
    }
    let held = pool.try_acquire().unwrap();
    let mut waiters: Vec<_> = (0..3).map(|_| Task::new(pool.submit(async {}))).collect();
    for waiter in &mut waiters {
        waiter.assert_pending();
    }
    assert_eq!(pool.set_bounds(4, 6), Ok(4), "the size clamped up to min");
    for waiter in &mut waiters {
        assert!(waiter.is_woken(), "growing admits waiting calls at once");
        assert_eq!(waiter.assert_ready(), Ok(()));
    }
    drop(held);
    assert_eq!(pool.set_bounds(0, 2), Ok(2), "the size clamped down to max");
    assert_accounted(&pool.stats());
}

/// `pool/mod.rs`, `Pool::set_autoscale_timing`: "Restarts an autoscaled
/// pool's queue-depth rule with new timing (fixed pools ignore it). #
/// Errors ... a zero interval or window, or a window above `MAX_WINDOW`,
/// is an error and changes nothing"; `AutoscaleTiming::validate`: "#
/// Errors [`BuildError::ZeroWindow`], [`BuildError::OutOfRange`] (the
/// window), [`BuildError::ZeroInterval`]".
#[test]
fn set_autoscale_timing_refuses_bad_timing_on_fixed_pools_too() {
    let fixed = Pool::fixed(2);
    let zero_window = AutoscaleTiming {
        interval: Duration::from_secs(1),
        window: 0,
    };
    assert_eq!(
        fixed.set_autoscale_timing(zero_window),
        Err(BuildError::ZeroWindow)
    );
    let zero_interval = AutoscaleTiming {
        interval: Duration::ZERO,
        window: 1,
    };
    assert_eq!(
        fixed.set_autoscale_timing(zero_interval),
        Err(BuildError::ZeroInterval)
    );
    let huge_window = AutoscaleTiming {
        interval: Duration::from_secs(1),
        window: usize::MAX,
    };
    assert!(matches!(
        fixed.set_autoscale_timing(huge_window),
        Err(BuildError::OutOfRange {
            setting: "autoscale_window",
            ..
        })
    ));
    assert_eq!(
        fixed.set_autoscale_timing(AutoscaleTiming {
            interval: Duration::MAX,
            window: AutoscaleTiming::MAX_WINDOW,
        }),
        Ok(())
    );
    assert_eq!(fixed.size(), 2, "fixed pools ignore it");
}

/// `pool/mod.rs`, `Pool::set_max_waiting`: "above [`MAX_SLOTS`] it is
/// [`OutOfRange`] and changes nothing"; "for calls that arrive from now
/// on". A bound of 0 means no call waits: a call finding a free slot still
/// runs, one that would wait is `Full`.
#[test]
fn a_waiting_bound_of_zero_admits_calls_with_a_free_slot_and_refuses_the_rest() {
    let pool = Pool::fixed(1);
    assert!(matches!(
        pool.set_max_waiting(Some(usize::MAX)),
        Err(BuildError::OutOfRange { .. })
    ));
    assert_eq!(pool.max_waiting(), None, "a refused bound changes nothing");
    pool.set_max_waiting(Some(MAX_SLOTS)).unwrap();
    pool.set_max_waiting(Some(0)).unwrap();
    assert_eq!(block_on(pool.submit(async { 1 })), Ok(1));
    assert_eq!(pool.run(|| 2), Ok(2));
    let held = pool.try_acquire().unwrap();
    assert_eq!(block_on(pool.submit(async {})), Err(Rejected::Full));
    assert_eq!(pool.run(|| ()), Err(Rejected::Full));
    assert_eq!(block_on(pool.submit_blocking(|| ())), Err(Rejected::Full));
    drop(held);
    let stats = pool.stats();
    assert_eq!(stats.rejected_for(Rejected::Full), 3, "{stats:?}");
    assert_accounted(&stats);
}

// ---- Pool: timeouts ------------------------------------------------------------

/// `pool/mod.rs`, `Pool::submit`: "# Errors [`Rejected`]: ... the admission
/// timeout passed" — a timeout is for calls that wait: a call that finds a
/// free slot runs even with a zero timeout, on every call form.
#[test]
fn a_zero_admission_timeout_turns_away_only_calls_that_would_wait() {
    let pool = Pool::fixed(1);
    pool.set_admission_timeout(Some(Duration::ZERO));
    assert_eq!(pool.admission_timeout(), Some(Duration::ZERO));
    assert_eq!(block_on(pool.submit(async { 1 })), Ok(1));
    assert_eq!(pool.run(|| 2), Ok(2));
    assert_eq!(block_on(pool.submit_blocking(|| 3)), Ok(3));
    assert!(block_on(pool.acquire()).is_ok());
    let held = pool.try_acquire().unwrap();
    assert_eq!(block_on(pool.submit(async {})), Err(Rejected::TimedOut));
    assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut));
    assert_eq!(
        block_on(pool.submit_blocking(|| ())).unwrap_err(),
        Rejected::TimedOut
    );
    drop(held);
    assert_accounted(&pool.stats());
}

/// `pool/mod.rs`, `Pool::run`: "# Errors As [`submit`]. The admission
/// timeout is measured on this thread"; README: "A duration too long to
/// pass (`Duration::MAX`) means "never"". A sync caller parked with a
/// timeout of `Duration::MAX` neither panics (an `Instant` overflow) nor
/// times out: it is admitted when the slot frees.
#[test]
fn a_sync_caller_waiting_with_a_timeout_of_duration_max_is_admitted_when_a_slot_frees() {
    within(BOUND, || {
        let pool = Pool::fixed(1);
        pool.set_admission_timeout(Some(Duration::MAX));
        let held = pool.try_acquire_owned(0).unwrap();
        let caller = {
            let pool = pool.clone();
            std::thread::spawn(move || pool.run(|| 7))
        };
        until("the sync caller waits", || pool.stats().waiting == 1);
        drop(held);
        assert_eq!(caller.join().expect("no panic"), Ok(7));
        assert_accounted(&pool.stats());
    });
}

/// The same with sync barging on (`GroupSettings::sync_barging`): the
/// room's wait and the queue's share a timeout of `Duration::MAX`.
#[test]
fn a_barging_sync_caller_with_a_timeout_of_duration_max_is_admitted_when_a_slot_frees() {
    within(BOUND, || {
        let pool = Pool::builder()
            .size(1)
            .sync_barging(Duration::from_millis(5))
            .admission_timeout(Duration::MAX)
            .build()
            .unwrap();
        let held = pool.try_acquire_owned(0).unwrap();
        let caller = {
            let pool = pool.clone();
            std::thread::spawn(move || pool.run(|| 7))
        };
        until("the sync caller waits", || pool.stats().waiting == 1);
        std::thread::sleep(Duration::from_millis(20));
        drop(held);
        assert_eq!(caller.join().expect("no panic"), Ok(7));
        assert_accounted(&pool.stats());
    });
}

/// `pool/mod.rs`, `Pool::set_sync_barging`: "Turns sync barging on with a
/// bound (off with `None` or a zero bound)"; `sync_barging`: "if sync
/// barging is on".
#[test]
fn a_zero_sync_barging_bound_turns_barging_off() {
    let pool = Pool::fixed(1);
    assert_eq!(pool.sync_barging(), None);
    pool.set_sync_barging(Some(Duration::from_millis(1)));
    assert_eq!(pool.sync_barging(), Some(Duration::from_millis(1)));
    pool.set_sync_barging(Some(Duration::ZERO));
    assert_eq!(pool.sync_barging(), None, "a zero bound is off");
    pool.set_sync_barging(Some(Duration::MAX));
    assert!(pool.sync_barging().is_some());
    pool.set_sync_barging(None);
    assert_eq!(pool.sync_barging(), None);
    let built = Pool::builder()
        .sync_barging(Duration::ZERO)
        .build()
        .unwrap();
    assert_eq!(built.sync_barging(), None, "the builder's zero is off too");
}

// ---- Pool: try_acquire, permits --------------------------------------------------

/// `pool/mod.rs`, `Pool::try_acquire`: "# Errors [`Rejected::Full`] if no
/// slot is free (as if no call could wait), otherwise as [`submit`]
/// (paused, closed)". A paused or closed pool with free slots says why.
#[test]
fn try_acquire_on_a_paused_or_closed_pool_with_free_slots_says_paused_or_closed() {
    let pool = Pool::fixed(2);
    pool.pause();
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Paused));
    assert_eq!(pool.try_acquire_owned(5).err(), Some(Rejected::Paused));
    pool.resume();
    let held = pool.try_acquire().unwrap();
    let held2 = pool.try_acquire_owned(i64::MIN).unwrap();
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
    assert_eq!(pool.try_acquire_owned(i64::MAX).err(), Some(Rejected::Full));
    drop((held, held2));
    pool.close();
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Closed));
    let stats = pool.stats();
    assert_eq!(
        (
            stats.rejected_for(Rejected::Paused),
            stats.rejected_for(Rejected::Full),
            stats.rejected_for(Rejected::Closed),
            stats.completed,
        ),
        (2, 2, 1, 2),
        "{stats:?}"
    );
    assert_accounted(&stats);
}

/// `call/permit.rs`, `Permit`: "A permit is a guard, not a frame: calls
/// made while holding it are calls of their own (as with a
/// `tokio::sync::Semaphore` permit), so code that holds the pool's last
/// slot and calls the same pool waits for another one."
#[test]
fn calls_made_while_holding_a_top_level_permit_wait_for_a_slot_of_their_own() {
    let pool = Pool::fixed(1);
    let permit = block_on(pool.acquire()).unwrap();
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
    let mut call = Task::new(pool.submit(async { 1 }));
    call.assert_pending();
    pool.set_admission_timeout(Some(Duration::from_millis(10)));
    assert_eq!(
        within(BOUND, {
            let pool = pool.clone();
            move || pool.run(|| ())
        }),
        Err(Rejected::TimedOut),
        "a sync call waits (and times out) instead of borrowing the permit's slot"
    );
    assert_eq!(pool.stats().nested, 0);
    drop(permit);
    assert_eq!(call.assert_ready(), Ok(1));
    assert_accounted(&pool.stats());
}

/// `call/permit.rs`, `Permit`: "Dropping it ends that call: counted as
/// completed (as panicked if dropped while its thread unwinds)".
#[test]
fn a_permit_dropped_while_its_thread_unwinds_is_a_panicked_call() {
    quiet_planned_panics();
    let pool = Pool::fixed(1);
    let out = catch_unwind(AssertUnwindSafe(|| {
        let _permit = pool.try_acquire().unwrap();
        panic!("planned: unwinding with a permit");
    }));
    assert!(out.is_err());
    let owned = pool.try_acquire_owned(0).unwrap();
    let out = std::thread::spawn(move || {
        let _owned = owned;
        panic!("planned: unwinding with an owned permit");
    })
    .join();
    assert!(out.is_err());
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.panicked), (2, 2), "{stats:?}");
    assert_eq!(stats.running, 0);
    assert_accounted(&stats);
}

// ---- Pool: pause, close, abort, shutdown, scoped -----------------------------------

/// `pool/mod.rs`, `Pool::close`: "Stops intake for good"; `resume`: "Admits
/// new calls again"; `pause`. Pausing and resuming a closed pool does not
/// reopen it; every call form is `Closed`, never run.
#[test]
fn a_closed_pool_stays_closed_through_pause_and_resume_and_runs_nothing() {
    let pool = Pool::fixed(2);
    pool.close();
    pool.pause();
    pool.resume();
    assert!(pool.is_closed());
    assert!(!pool.is_paused());
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    assert_eq!(
        block_on(pool.submit(async move {
            r.fetch_add(1, SeqCst);
        })),
        Err(Rejected::Closed)
    );
    let r = ran.clone();
    assert_eq!(
        pool.run(move || {
            r.fetch_add(1, SeqCst);
        }),
        Err(Rejected::Closed)
    );
    let r = ran.clone();
    assert_eq!(
        block_on(pool.submit_blocking(move || {
            r.fetch_add(1, SeqCst);
        })),
        Err(Rejected::Closed)
    );
    assert_eq!(block_on(pool.acquire()).err(), Some(Rejected::Closed));
    assert_eq!(ran.load(SeqCst), 0, "a rejected call never ran");
    assert_accounted(&pool.stats());
    block_on(pool.drained());
}

/// `pool/mod.rs`, `Pool::submit_blocking`: "# Errors As [`submit`]" and "#
/// Panics A panic in `f` is re-raised in the caller"; `Rejected`: "A
/// rejected call never ran". A paused pool never runs the closure; a
/// panicking closure frees its slot and is counted as panicked.
#[test]
fn submit_blocking_on_a_paused_pool_never_runs_and_a_panic_reaches_the_caller() {
    quiet_planned_panics();
    let pool = Pool::fixed(1);
    pool.pause();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    assert_eq!(
        block_on(pool.submit_blocking(move || r.store(true, SeqCst))),
        Err(Rejected::Paused)
    );
    std::thread::sleep(Duration::from_millis(20));
    assert!(!ran.load(SeqCst));
    pool.resume();
    let out = catch_unwind(AssertUnwindSafe(|| {
        block_on(pool.submit_blocking(|| -> u8 { panic!("planned: a blocking panic") }))
    }));
    let payload = out.expect_err("the panic is re-raised in the caller");
    assert_eq!(
        payload.downcast_ref::<&str>().copied(),
        Some("planned: a blocking panic")
    );
    let stats = pool.stats();
    assert_eq!((stats.panicked, stats.running), (1, 0), "{stats:?}");
    assert_eq!(
        block_on(pool.submit_blocking(|| 5)),
        Ok(5),
        "the slot is free"
    );
    assert_accounted(&pool.stats());
}

/// `pool/mod.rs`, `Pool::shutdown`: "With a `timeout`, it returns by the
/// deadline whatever the calls do ... the ones still running are left to
/// finish ... and the error says how many of each there were". Called from
/// inside a running call of the same pool (which cannot drain while it
/// waits), with a zero and a short timeout, it returns with the calling
/// call counted as running and the waiting one turned away.
#[test]
fn shutdown_called_inside_a_running_call_returns_by_its_deadline() {
    within(BOUND, || {
        let pool = Pool::fixed(1);
        let (first, open) = gate();
        let mut outer = Box::pin(pool.submit(async {
            first.await;
            let zero = pool.shutdown(Some(Duration::ZERO)).await;
            let short = pool.shutdown(Some(Duration::from_millis(5))).await;
            (zero, short)
        }));
        assert!(block_on(futures::future::poll_immediate(&mut outer)).is_none());
        // Queued from outside the work: not a nested call.
        let mut waiting = Task::new(pool.submit(async {}));
        waiting.assert_pending();
        open.store(true, SeqCst);
        let (zero, short) = block_on(outer).unwrap();
        let zero = zero.unwrap_err();
        assert_eq!((zero.running, zero.turned_away), (1, 1), "{zero:?}");
        let short = short.unwrap_err();
        assert_eq!((short.running, short.turned_away), (1, 0), "{short:?}");
        assert_eq!(waiting.assert_ready(), Err(Rejected::Closed));
        assert!(pool.is_closed());
        block_on(pool.drained());
        assert_accounted(&pool.stats());
    });
}

/// `pool/mod.rs`, `Pool::drained`: "Resolves once the pool is closed and
/// nothing is waiting or running"; "# Cancel safety Cancel-safe: it only
/// observes". A `drained` future dropped while pending changes nothing;
/// one polled again after the pool closes resolves.
#[test]
fn drained_resolves_after_close_and_abandoned_waits_change_nothing() {
    let pool = Pool::fixed(1);
    for _ in 0..100 {
        let mut abandoned = Task::new(pool.drained());
        abandoned.assert_pending();
    }
    let (work, open) = gate();
    let mut running = Task::new(pool.submit(work));
    running.assert_pending();
    let mut drained = Task::new(pool.drained());
    drained.assert_pending();
    pool.close();
    drained.assert_pending();
    assert!(!pool.is_paused());
    open.store(true, SeqCst);
    assert_eq!(running.assert_ready(), Ok(()));
    assert!(
        drained.is_woken(),
        "the last call's end wakes the drained wait"
    );
    drained.assert_ready();
    block_on(pool.drained());
}

/// `pool/mod.rs`, `Pool::scoped`: "runs `body` with a handle to the pool,
/// then closes the pool and waits for every call to finish"; the body's
/// output is returned.
#[test]
fn scoped_returns_the_bodys_output_after_every_call_finished_and_closes_the_pool() {
    let meter = Meter::default();
    let pool = Pool::fixed(2);
    let handle = pool.clone();
    let rt = common::runtime();
    let out = rt.block_on(async {
        let m = meter.clone();
        within_async(pool.scoped(|pool| async move {
            let p = pool.clone();
            let m2 = m.clone();
            let handle = tokio::spawn(async move {
                let _ = p.submit(m2.body(30)).await;
            });
            tokio::time::sleep(Duration::from_millis(5)).await;
            drop(handle); // detached: the scope still waits for its call
            "body"
        }))
        .await
    });
    assert_eq!(out, "body");
    assert_eq!(meter.done(), 1, "the scope waited for the call");
    assert!(handle.is_closed());
    assert_eq!(block_on(handle.submit(async {})), Err(Rejected::Closed));
}

async fn within_async<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(BOUND, fut)
        .await
        .expect("hung: no answer in time")
}

// ---- spawn ----------------------------------------------------------------------

/// `pool/mod.rs`, `Pool::spawn`: "# Panics Panics if called outside a tokio
/// runtime, like `tokio::spawn`"; `Pool`: "Every call is accounted for".
/// The panicking spawn leaves nothing behind: no queue place on a full
/// pool, no slot on a free one.
#[test]
fn spawn_outside_a_runtime_panics_and_leaves_no_slot_nor_queue_place() {
    quiet_planned_panics();
    let pool = Pool::fixed(1);
    let out = catch_unwind(AssertUnwindSafe(|| pool.spawn(async {})));
    assert!(out.is_err(), "panics outside a runtime");
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
    assert_accounted(&stats);

    let held = pool.try_acquire().unwrap();
    let out = catch_unwind(AssertUnwindSafe(|| pool.spawn(async {})));
    assert!(out.is_err());
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting), (1, 0), "{stats:?}");
    let mut next = Task::new(pool.submit(async { 9 }));
    next.assert_pending();
    drop(held);
    assert_eq!(next.assert_ready(), Ok(9), "the slot went to a live waiter");
    assert_accounted(&pool.stats());
}

/// `call/spawn.rs`, `SpawnHandle::abort`: "Cancels the call: it leaves the
/// queue, or its work is dropped and its slot freed. Awaiting the handle
/// then yields `Err(Rejected::Closed)`"; `is_finished`: "Whether the call
/// has finished (or was turned away)".
#[test]
fn an_aborted_spawned_call_leaves_the_queue_and_its_handle_yields_closed() {
    let rt = common::runtime();
    rt.block_on(async {
        let pool = Pool::fixed(1);
        let held = pool.try_acquire_owned(0).unwrap();
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let handle = pool.spawn(async move { r.store(true, SeqCst) }).unwrap();
        assert_eq!(pool.stats().waiting, 1, "its queue place is taken now");
        handle.abort();
        assert_eq!(within_async(handle).await, Err(Rejected::Closed));
        assert_eq!(pool.stats().waiting, 0);
        drop(held);
        assert!(!ran.load(SeqCst));
        let done = pool.spawn(async { 3 }).unwrap();
        assert_eq!(within_async(done).await, Ok(3));
        let stats = pool.stats();
        assert_eq!(stats.cancelled, 1, "{stats:?}");
        assert_accounted(&stats);
    });
}

// ---- parsing names ------------------------------------------------------------------

/// `pool/order.rs`: "`Kind::CHOICES`: The names `FromStr` accepts"; "`Order`:
/// First come, first served (also accepted as `"simple"`)";
/// `UnknownChoice`: "A kind or order name that is not one of the valid
/// choices" — for the empty string too, never a panic.
#[test]
fn names_parse_and_hostile_ones_are_unknown_choices() {
    for name in Kind::CHOICES {
        assert_eq!(name.parse::<Kind>().unwrap().as_str(), *name);
    }
    for name in Order::CHOICES {
        let order = name.parse::<Order>().unwrap();
        assert!(Order::CHOICES.contains(&order.as_str()));
    }
    assert_eq!("simple".parse::<Order>().unwrap(), Order::Fifo);
    for name in ExecutorKind::CHOICES {
        assert_eq!(name.parse::<ExecutorKind>().unwrap().as_str(), *name);
    }
    for hostile in ["", " ", "fifo ", "\0", "ünïcode", &"x".repeat(10_000)] {
        let error = hostile.parse::<Order>().unwrap_err();
        assert!(error.to_string().contains("fifo"), "{error}");
        assert!(hostile.parse::<Kind>().is_err());
        assert!(hostile.parse::<ExecutorKind>().is_err());
    }
}

/// `pool/rejected.rs`: "`as_str`: A short lower-case name: `paused`,
/// `closed`, `full`, `timed_out`, `fleet_unavailable`, `lease_lost`";
/// `Rejected::ALL`: "Every reason"; `Stats::rejected_for`: "The fleet's
/// reasons ... are always 0 here".
#[test]
fn every_reason_has_its_name_and_a_pool_never_counts_fleet_reasons() {
    let names: Vec<_> = Rejected::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        names,
        [
            "paused",
            "closed",
            "full",
            "timed_out",
            "fleet_unavailable",
            "lease_lost"
        ]
    );
    let pool = Pool::fixed(1);
    pool.pause();
    let _ = pool.run(|| ());
    pool.close();
    let _ = pool.run(|| ());
    let stats = pool.stats();
    assert_eq!(stats.rejected_total(), 2);
    assert_eq!(stats.rejected_for(Rejected::FleetUnavailable), 0);
    assert_eq!(stats.rejected_for(Rejected::LeaseLost), 0);
    for reason in Rejected::ALL {
        let io: std::io::Error = (*reason).into();
        assert_eq!(io.to_string(), reason.to_string());
    }
}

// ---- groups under the ceiling ------------------------------------------------------

mod ceiling_forms {
    use super::*;
    use common::config_turn;
    use pool_runtime::{ceiling, config, register_group, Group, GroupSpec};

    static HOLDER: Group = Group::new(GroupSpec::new("r18::ceiling_holder").size(2));
    register_group!(HOLDER);
    static NO_WAIT: Group = Group::new(GroupSpec::new("r18::no_wait").size(2).max_waiting(0));
    register_group!(NO_WAIT);

    /// `group/ceiling.rs` (module docs): "a group's `max_waiting = 0`
    /// ("never wait") and admission timeout bound its calls' wait for a
    /// ceiling slot as they bound their wait for the group's own";
    /// `Pool::try_acquire`: "[`Rejected::Full`] if no slot is free (as if no
    /// call could wait)"; `Stats::rejected_for`: "The calls turned away for
    /// `reason` by this pool". A group call that may not wait, met by a
    /// full ceiling, is the group's `Full` (and the ceiling's cancelled
    /// call) for `submit`, `run`, `acquire` and `submit_blocking` alike;
    /// `try_acquire` and `try_acquire_owned` (what a group's tower layer
    /// in `reject` mode sheds with) should be counted the same way, not as
    /// a rejection by the ceiling that the group never sees.
    #[test]
    fn a_groups_try_acquire_refused_by_a_full_ceiling_is_counted_as_the_other_forms_are() {
        let _turn = config_turn();
        config::load_str("r18.toml", "ceiling = 1\n").unwrap();
        let held = HOLDER.try_acquire(0).unwrap();
        let before = ceiling::stats().unwrap();

        // The other forms: the group's Full, the ceiling's cancelled.
        assert_eq!(
            block_on(NO_WAIT.submit(0, async {})).err(),
            Some(Rejected::Full)
        );
        assert_eq!(NO_WAIT.run(|| ()).err(), Some(Rejected::Full));
        assert_eq!(block_on(NO_WAIT.acquire(0)).err(), Some(Rejected::Full));
        let group = NO_WAIT.stats();
        assert_eq!(group.rejected_for(Rejected::Full), 3, "{group:?}");
        let ceiling_now = ceiling::stats().unwrap();
        assert_eq!(
            ceiling_now.rejected_total(),
            before.rejected_total(),
            "{ceiling_now:?}"
        );

        // The same refusal through try_acquire and try_acquire_owned.
        assert_eq!(NO_WAIT.try_acquire(0).err(), Some(Rejected::Full));
        assert_eq!(NO_WAIT.try_acquire_owned(0).err(), Some(Rejected::Full));
        let group_after = NO_WAIT.stats();
        let ceiling_after = ceiling::stats().unwrap();
        drop(held);
        config::clear();
        assert_eq!(
            ceiling_after.rejected_total(),
            before.rejected_total(),
            "the ceiling counted the group's refusals as its own: {ceiling_after:?}"
        );
        assert_eq!(
            group_after.rejected_for(Rejected::Full),
            5,
            "the group never saw two of its calls turned away: {group_after:?}"
        );
    }
}

// ---- reentrancy: a lent slot through a scale-down ---------------------------------

/// `pool/mod.rs`, *Reentrancy*: "one nested call at a time uses its
/// parent's slot; the others wait in the queue for a free slot or for that
/// slot to come back, whichever comes first"; `scale`: "A fixed pool
/// scaled to 0 holds its queue until scaled up again". A pool scaled to 0
/// while two nested calls share their parent's slot still hands the slot
/// back to the second: it is the parent's, not a free slot of the pool.
#[test]
fn a_nested_call_waiting_for_the_lent_slot_gets_it_back_on_a_pool_scaled_to_zero() {
    let pool = Pool::fixed(1);
    let (first, open_first) = gate();
    let (second, open_second) = gate();
    let (start, open_start) = gate();
    let inner = pool.clone();
    let mut parent = Task::new(pool.submit(async move {
        start.await;
        futures::join!(
            inner.submit(async {
                first.await;
                1
            }),
            inner.submit(async {
                second.await;
                2
            })
        )
    }));
    parent.assert_pending();
    open_start.store(true, SeqCst);
    parent.assert_pending();
    let stats = pool.stats();
    assert_eq!(
        (stats.running, stats.nested, stats.waiting),
        (1, 1, 1),
        "{stats:?}"
    );
    assert_eq!(pool.resize(0), 0);
    open_first.store(true, SeqCst);
    parent.assert_pending();
    let stats = pool.stats();
    assert_eq!(
        (stats.running, stats.nested, stats.waiting),
        (1, 1, 0),
        "the slot came back to the second nested call: {stats:?}"
    );
    open_second.store(true, SeqCst);
    assert_eq!(parent.assert_ready(), Ok((Ok(1), Ok(2))));
    let stats = pool.stats();
    assert_eq!((stats.running, stats.completed), (0, 3), "{stats:?}");
    assert_accounted(&stats);
}

// ---- streams ------------------------------------------------------------------------

/// `integrations/stream.rs`, `PooledUnordered::limit`: "Holds at most
/// `limit` of the stream's items at once (a `limit` of 0 counts as 1)";
/// `in_flight`: "The stream's items pulled and not yet yielded"; module
/// docs: "at most `max(1, 2 × size)`". A `limit` of `usize::MAX` leaves the
/// pool's bound.
#[test]
fn a_stream_limit_of_zero_holds_one_item_and_usize_max_leaves_twice_the_size() {
    use futures::Stream;
    use pool_runtime::PooledStreamExt;
    let pool = Pool::fixed(4);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut one = Box::pin(
        futures::stream::repeat_with(std::future::pending::<()>)
            .pooled_unordered(&pool)
            .limit(0),
    );
    assert!(one.as_mut().poll_next(&mut cx).is_pending());
    assert_eq!((pool.stats().running, one.in_flight()), (1, 1));
    drop(one);
    let mut all = Box::pin(
        futures::stream::repeat_with(std::future::pending::<()>)
            .pooled_ordered(&pool)
            .limit(usize::MAX),
    );
    assert!(all.as_mut().poll_next(&mut cx).is_pending());
    let stats = pool.stats();
    assert_eq!(
        (stats.running, stats.waiting, all.in_flight()),
        (4, 4, 8),
        "{stats:?}"
    );
    drop(all);
    let stats = pool.stats();
    assert_eq!((stats.in_flight(), stats.cancelled), (0, 9), "{stats:?}");
    assert_accounted(&stats);
}

// ---- tower ------------------------------------------------------------------------

mod tower_promises {
    use super::*;
    use ::tower::{service_fn, Layer, Service, ServiceExt};
    use pool_runtime::tower::{BoxError, PermitBody, PooledLayer};
    use std::task::{Context, Poll};

    fn echo() -> impl Service<u32, Response = u32, Error = BoxError, Future: Send> + Clone {
        service_fn(|n: u32| async move { Ok::<_, BoxError>(n) })
    }

    /// `integrations/tower/service.rs`, `PooledService`: "# Panics With a
    /// constant weight, `call` panics if `poll_ready` has not returned
    /// `Ready(Ok(()))` since the last call" — with a constant weight only:
    /// a weighted service's `poll_ready` "is ready at once"
    /// (`PooledLayer::weight`), so calling it unreadied works. The panic
    /// costs the pool nothing.
    #[test]
    fn call_without_poll_ready_panics_only_with_a_constant_weight() {
        quiet_planned_panics();
        let pool = Pool::fixed(1);
        let mut weighted = PooledLayer::pool(pool.clone())
            .weight(|n: &u32| i64::from(*n))
            .layer(echo());
        assert_eq!(block_on(weighted.call(3)).unwrap(), 3);
        let mut constant = PooledLayer::pool(pool.clone()).layer(echo());
        let out = catch_unwind(AssertUnwindSafe(|| drop(constant.call(3))));
        assert!(out.is_err(), "the tower::Service contract, as documented");
        let stats = pool.stats();
        assert_eq!(stats.in_flight(), 0, "{stats:?}");
        assert_accounted(&stats);
        assert_eq!(block_on(constant.ready_oneshot_like(4)), 4);
    }

    /// Helper: readies and calls a constant-weight service (bounded).
    trait ReadyCall {
        async fn ready_oneshot_like(&mut self, n: u32) -> u32;
    }
    impl<S: Service<u32, Response = u32, Error = BoxError>> ReadyCall for S {
        async fn ready_oneshot_like(&mut self, n: u32) -> u32 {
            self.ready().await.unwrap().call(n).await.unwrap()
        }
    }

    /// An inner service whose readiness fails.
    struct Down;
    impl Service<u32> for Down {
        type Response = u32;
        type Error = std::io::Error;
        type Future = std::future::Ready<Result<u32, std::io::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
            Poll::Ready(Err(std::io::Error::other("down")))
        }
        fn call(&mut self, n: u32) -> Self::Future {
            std::future::ready(Ok(n))
        }
    }

    /// `PooledService`: "`poll_ready` fails only when the inner service's
    /// does"; "A refusal by the pool ... `poll_ready` returns
    /// `Ready(Ok(()))`"; `into_inner`: "a slot reserved for the next call is
    /// released"; `Reserved`: released unused, "it ends as a cancelled
    /// call". A failed inner service keeps no slot, in wait and reject
    /// mode; a paused pool is `Paused` in reject mode, not `Full`.
    #[test]
    fn an_inner_failure_or_into_inner_frees_the_reserved_slot_and_reject_mode_says_paused() {
        let pool = Pool::fixed(1);
        for layer in [
            PooledLayer::pool(pool.clone()),
            PooledLayer::pool(pool.clone()).reject(),
        ] {
            let mut service = layer.layer(Down);
            let error = block_on(service.ready()).err().expect("the inner failure");
            assert_eq!(error.to_string(), "down");
            assert_eq!(pool.stats().running, 0, "no slot kept for a failed service");
        }
        let mut service = PooledLayer::pool(pool.clone()).layer(echo());
        block_on(service.ready()).unwrap();
        assert_eq!(pool.stats().running, 1, "reserved in poll_ready");
        let _inner = service.into_inner();
        let stats = pool.stats();
        assert_eq!((stats.running, stats.cancelled), (0, 3), "{stats:?}");

        pool.pause();
        let shed = PooledLayer::pool(pool.clone()).reject().layer(echo());
        let error = block_on(shed.oneshot(1)).unwrap_err();
        assert_eq!(error.downcast_ref::<Rejected>(), Some(&Rejected::Paused));
        pool.resume();
        assert_accounted(&pool.stats());
    }

    /// `integrations/tower/body.rs`, `PermitBody`: "cancelled if the body is
    /// dropped (or turned back into its inner body) before either";
    /// `PermitBody::new`: "at once if it is already at its end: an empty
    /// body holds nothing"; "completed at its last frame".
    #[test]
    fn a_permit_body_ends_its_call_as_documented() {
        let pool = Pool::fixed(1);
        let body = PermitBody::new(String::from("text"), pool.try_acquire_owned(0).unwrap());
        assert!(body.holds_slot());
        assert_eq!(body.into_inner(), "text");
        let stats = pool.stats();
        assert_eq!((stats.running, stats.cancelled), (0, 1), "{stats:?}");

        let empty = PermitBody::new(String::new(), pool.try_acquire_owned(0).unwrap());
        assert!(!empty.holds_slot());
        let stats = pool.stats();
        assert_eq!((stats.running, stats.completed), (0, 1), "{stats:?}");

        let mut streamed =
            PermitBody::new(String::from("frame"), pool.try_acquire_owned(0).unwrap());
        assert!(pool.try_acquire().is_err(), "the body holds the only slot");
        let frame = block_on(std::future::poll_fn(|cx| {
            http_body::Body::poll_frame(std::pin::Pin::new(&mut streamed), cx)
        }));
        assert!(matches!(frame, Some(Ok(_))));
        assert!(!streamed.holds_slot(), "released with the last frame");
        let stats = pool.stats();
        assert_eq!((stats.completed, stats.cancelled), (2, 1), "{stats:?}");
        drop(streamed);
        assert_accounted(&pool.stats());
    }
}

// ---- groups and configuration -------------------------------------------------------

mod group_listing {
    use super::*;
    use common::{config_turn, vars};
    use pool_runtime::{config, groups, register_group, Group, GroupSpec};

    static UNNAMED: Group = Group::new(GroupSpec::new("").size(2));
    register_group!(UNNAMED);
    static LISTED: Group = Group::new(GroupSpec::new("r18::listed").size(2));
    register_group!(LISTED);

    /// `group/registry.rs`, `groups`: "Listing does not start any group";
    /// `GroupInfo::stats`: "`None` until the group's first call";
    /// `Group`: "To look without starting it, use `is_started`, `settings`
    /// or `groups`".
    #[test]
    fn listing_and_reading_settings_start_no_group() {
        let _turn = config_turn();
        let listed = || {
            groups()
                .into_iter()
                .find(|info| info.name == "r18::listed")
                .expect("registered")
        };
        let info = listed();
        assert_eq!((info.settings.starting_size(), info.stats), (2, None));
        assert_eq!(LISTED.settings().starting_size(), 2);
        assert!(!LISTED.is_started(), "listing and settings start nothing");
        assert_eq!(LISTED.run(|| 1), Ok(1));
        assert!(LISTED.is_started());
        assert_eq!(listed().stats.map(|s| s.completed), Some(1));
    }

    /// `config/env.rs`: names are mangled "upper-casing ASCII letters,
    /// turning each `::` into `__` and every other character ... into `_`"
    /// — an empty group name is tuned by `POOLED__SIZE`; README: a variable
    /// "for a misspelt group fails the load with a suggestion" (`POOLED_SIZE`,
    /// no group part); a file names the group `""`. Nothing panics.
    #[test]
    fn a_group_with_an_empty_name_is_configured_by_its_mangled_variable_and_file_table() {
        let _turn = config_turn();
        let error = config::load_env_from(vars(&[("POOLED_SIZE", "4")])).unwrap_err();
        assert!(
            error.message().contains("did you mean `POOLED__SIZE`"),
            "{error}"
        );
        assert_eq!(UNNAMED.settings().starting_size(), 2, "nothing changed");
        config::load_env_from(vars(&[("POOLED__SIZE", "4")])).unwrap();
        assert_eq!(UNNAMED.settings().starting_size(), 4);
        config::clear();
        config::load_str("r18.toml", "[groups.\"\"]\nsize = 5\n").unwrap();
        assert_eq!(UNNAMED.settings().starting_size(), 5);
        config::clear();
    }
}

// ---- every call form gives the same reason ------------------------------------------

mod same_reason {
    use super::*;
    use ::tower::{service_fn, Layer, ServiceExt};
    use futures::StreamExt;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::PooledStreamExt;

    /// Every call form's rejection, in a fixed order.
    fn reasons(pool: &Pool, rt: &tokio::runtime::Runtime) -> Vec<Option<Rejected>> {
        let refusal = |error: Option<BoxError>| {
            error.map(|e| *e.downcast_ref::<Rejected>().expect("a pool refusal"))
        };
        let unit = || service_fn(|()| async { Ok::<_, BoxError>(()) });
        vec![
            block_on(pool.submit(async {})).err(),
            pool.run(|| ()).err(),
            block_on(pool.acquire()).err(),
            block_on(pool.acquire_owned(3)).err(),
            pool.try_acquire().err(),
            pool.try_acquire_owned(3).err(),
            block_on(pool.submit_blocking(|| ())).err(),
            block_on(pool.submit_judged(0, async {}, |_| pool_runtime::Verdict::Success)).err(),
            rt.block_on(async { pool.spawn(async {}).err() }),
            block_on(
                futures::stream::iter([async {}])
                    .pooled_unordered(pool)
                    .collect::<Vec<_>>(),
            )[0]
            .err(),
            refusal(block_on(PooledLayer::pool(pool.clone()).layer(unit()).oneshot(())).err()),
            refusal(
                block_on(
                    PooledLayer::pool(pool.clone())
                        .reject()
                        .layer(unit())
                        .oneshot(()),
                )
                .err(),
            ),
            refusal(
                block_on(
                    PooledLayer::pool(pool.clone())
                        .weight(|_: &()| 0)
                        .layer(unit())
                        .oneshot(()),
                )
                .err(),
            ),
        ]
    }

    /// README: "`acquire()`, `acquire_owned(w)`, `try_acquire()`: same
    /// order, rejections and accounting as `submit`"; `Pool::try_acquire`:
    /// "[`Rejected::Full`] if no slot is free ..., otherwise as [`submit`]
    /// (paused, closed)"; `pool/mod.rs`, `spawn`: "Rejections that are known
    /// at once (paused, closed, full) are returned here"; tower: "The pool's
    /// own refusals (paused, closed, a full queue, an admission timeout)
    /// still fail the call"; stream: "why the pool turned the call away".
    /// A full, paused (or closed) pool with no room to wait gives every form
    /// the same reason, never a panic, and every refusal is counted.
    #[test]
    fn every_call_form_is_refused_for_the_same_reason() {
        let rt = common::runtime();
        for (paused, closed, expected) in [
            (true, false, Rejected::Paused),
            (true, true, Rejected::Closed),
            (false, true, Rejected::Closed),
        ] {
            let pool = Pool::fixed(1);
            let held = pool.try_acquire_owned(0).unwrap();
            pool.set_max_waiting(Some(0)).unwrap();
            if paused {
                pool.pause();
            }
            if closed {
                pool.close();
            }
            let got = reasons(&pool, &rt);
            assert!(
                got.iter().all(|reason| *reason == Some(expected)),
                "paused {paused}, closed {closed}: {got:?}"
            );
            drop(held);
            let stats = pool.stats();
            assert_eq!(stats.rejected_for(expected), got.len() as u64, "{stats:?}");
            assert_accounted(&stats);
        }
        // Full and never waiting: every form is Full.
        let pool = Pool::fixed(1);
        let held = pool.try_acquire_owned(0).unwrap();
        pool.set_max_waiting(Some(0)).unwrap();
        let got = reasons(&pool, &rt);
        assert!(
            got.iter().all(|reason| *reason == Some(Rejected::Full)),
            "{got:?}"
        );
        drop(held);
        assert_accounted(&pool.stats());
    }
}
