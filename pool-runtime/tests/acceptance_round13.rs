//! Acceptance tests, round 13: promises of the README and the rustdoc checked
//! in combination — live setters (`set_bounds`, `set_max_waiting`,
//! `set_admission_timeout`) against calls already waiting, permits and
//! queued calls through a pause and a close, the stream adapters through a
//! close, an abort and a pause, `shutdown`'s report with a nested call,
//! `spawn`'s place in the queue, a tower service after a refusal, and
//! configuration reloads against closed and busy groups. Concurrency is
//! counted from outside the library; waits are bounded only to turn a hang
//! into a failure.
#![cfg(all(
    feature = "tokio",
    feature = "config",
    feature = "stream",
    feature = "tower"
))]

use futures::StreamExt;
use pool_runtime::{
    config, register_group, Group, GroupSpec, Kind, ManualClock, Pool, PooledStreamExt, Rejected,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;
use common::{assert_accounted, config_turn, runtime, within, Meter, Task};

/// Waits (bounded, to turn a hang into a failure) until `cond` holds.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("never happened: {what}");
}

/// The same, for a thread outside any runtime.
fn until_sync(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("never happened: {what}");
}

/// A bounded await: a hang is a failure.
async fn bounded<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .unwrap_or_else(|_| panic!("hung: {what}"))
}

// ---- live setters against calls already waiting -----------------------------

/// `Pool::set_bounds`: "Changes the bounds of an autoscaled pool (the size is
/// clamped into them)"; `Pool::scale`: "Growing admits waiting calls at
/// once". A `min` raised above the size grows the pool, and the waiting calls
/// must be admitted by that growth, without any slot being released.
#[test]
fn raising_min_with_set_bounds_admits_waiting_calls_at_once() {
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(4)
        .size(1)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let held = pool.try_acquire().unwrap();
    let mut a = Task::new(pool.acquire());
    let mut b = Task::new(pool.acquire());
    a.assert_pending();
    b.assert_pending();
    assert_eq!(pool.stats().waiting, 2);

    assert_eq!(pool.set_bounds(3, 4), Ok(3));
    assert_eq!(pool.size(), 3);
    assert!(a.is_woken() && b.is_woken(), "growth wakes the waiters");
    let pa = a.assert_ready().expect("admitted by the growth");
    let pb = b.assert_ready().expect("admitted by the growth");
    let s = pool.stats();
    assert_eq!((s.running, s.waiting), (3, 0), "{s:?}");
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));

    // Lowering `max` below the running count interrupts nothing and admits
    // nothing until the running count is below the new size.
    assert_eq!(pool.set_bounds(1, 1), Ok(1));
    let mut c = Task::new(pool.acquire());
    c.assert_pending();
    drop(pa);
    c.assert_pending();
    drop(pb);
    c.assert_pending();
    drop(held);
    let pc = c.assert_ready().expect("admitted once running < 1");
    assert_eq!(pool.stats().running, 1);
    drop(pc);
    let s = pool.stats();
    assert_accounted(&s);
    assert_eq!(s.completed, 4, "{s:?}");
}

/// `Pool::set_max_waiting`: "Changes the bound on waiting calls for calls
/// that arrive from now on (calls already waiting keep their place)".
#[test]
fn lowering_max_waiting_keeps_calls_already_waiting_in_their_place() {
    let pool = Pool::fixed(1);
    let held = pool.try_acquire().unwrap();
    let mut calls: Vec<_> = (0..3)
        .map(|i| Task::new(pool.submit(async move { i })))
        .collect();
    for call in &mut calls {
        call.assert_pending();
    }
    pool.set_max_waiting(Some(1)).unwrap();
    assert_eq!(
        futures::executor::block_on(pool.submit(async { 99 })),
        Err(Rejected::Full),
        "a call arriving past the new bound is turned away"
    );
    pool.set_max_waiting(Some(0)).unwrap();
    assert_eq!(
        futures::executor::block_on(pool.submit(async { 99 })),
        Err(Rejected::Full)
    );
    assert_eq!(
        pool.stats().waiting,
        3,
        "the waiting calls kept their place"
    );
    drop(held);
    for (i, call) in calls.iter_mut().enumerate() {
        assert_eq!(call.assert_ready(), Ok(i), "in FIFO order");
    }
    let s = pool.stats();
    assert_accounted(&s);
    assert_eq!(s.completed, 4, "{s:?}");
    assert_eq!(s.rejected_for(Rejected::Full), 2, "{s:?}");
}

/// `Pool::set_admission_timeout`: "Changes the admission timeout for calls
/// that start waiting from now on." A call that was already waiting when a
/// short timeout was set must not be timed out by it, even after calls that
/// started waiting later (with it) timed out.
#[test]
fn an_admission_timeout_set_later_spares_calls_already_waiting() {
    runtime().block_on(async {
        let pool = Pool::fixed(1);
        let held = pool.try_acquire().unwrap();
        let mut early = Task::new(pool.submit(async { "early" }));
        early.assert_pending();

        pool.set_admission_timeout(Some(Duration::from_millis(1)));
        for _ in 0..2 {
            let late = bounded("a late call", pool.submit(async { "late" })).await;
            assert_eq!(late, Err(Rejected::TimedOut));
            // Polled again after a later call's whole timeout passed.
            assert!(
                early.poll().is_pending(),
                "the early call was timed out by a timeout set after it queued"
            );
        }
        drop(held);
        assert_eq!(early.assert_ready(), Ok("early"));
        let s = pool.stats();
        assert_accounted(&s);
        assert_eq!(s.rejected_for(Rejected::TimedOut), 2, "{s:?}");
        assert_eq!(s.completed, 2, "{s:?}");
    });
}

// ---- pause, close and drained together ----------------------------------------

/// `Pool::pause`: "Calls already waiting or running are not affected and keep
/// being admitted"; `Pool::close`: "waiting and running calls finish";
/// `Pool::shutdown`: only never-rejecting calls that *arrived* while paused
/// wait for `resume`. So a permit, an async call and a parked sync caller
/// queued before a pause and a close are all admitted in order, and the pool
/// drains without being resumed; the limit of one holds throughout.
#[test]
fn calls_queued_before_pause_and_close_are_admitted_and_the_pool_drains_unresumed() {
    let pool = Pool::fixed(1);
    let meter = Meter::default();
    let order = Arc::new(Mutex::new(Vec::new()));
    let held = pool.try_acquire().unwrap();
    let inside_held = meter.enter();

    let mut permit_waiter = Task::new(pool.acquire());
    permit_waiter.assert_pending();
    let (m, o) = (meter.clone(), order.clone());
    let mut async_waiter = Task::new(pool.submit(async move {
        let _in = m.enter();
        o.lock().unwrap().push("async");
    }));
    async_waiter.assert_pending();
    let sync_waiter = {
        let (pool, m, o) = (pool.clone(), meter.clone(), order.clone());
        std::thread::spawn(move || {
            pool.run(|| {
                let _in = m.enter();
                o.lock().unwrap().push("sync");
            })
        })
    };
    until_sync("the sync caller queues", || pool.stats().waiting == 3);

    pool.pause();
    pool.close();
    assert!(matches!(
        pool.try_acquire().err(),
        Some(Rejected::Closed | Rejected::Paused)
    ));
    assert!(matches!(
        futures::executor::block_on(pool.submit(async {})),
        Err(Rejected::Closed | Rejected::Paused)
    ));
    let mut drained = Task::new(pool.drained());
    drained.assert_pending();

    drop(inside_held);
    drop(held);
    let permit = permit_waiter
        .assert_ready()
        .expect("queued before the pause: admitted");
    let inside = meter.enter();
    order.lock().unwrap().push("permit");
    drained.assert_pending();
    async_waiter.assert_pending();
    drop(inside);
    drop(permit);
    assert_eq!(async_waiter.assert_ready(), Ok(()));
    let sync = within(Duration::from_secs(20), move || sync_waiter.join());
    assert_eq!(sync.expect("no panic"), Ok(()));
    assert!(drained.is_woken(), "the last call's end wakes drained()");
    assert!(drained.poll().is_ready(), "drained without resume");

    assert_eq!(*order.lock().unwrap(), ["permit", "async", "sync"]);
    assert!(meter.max() <= 1, "{} at once in a pool of 1", meter.max());
    let s = pool.stats();
    assert_accounted(&s);
    assert!(s.paused && s.closed, "{s:?}");
    assert_eq!(s.completed, 4, "{s:?}");
    assert_eq!(s.rejected_total(), 2, "{s:?}");
}

// ---- stream adapters through a close, an abort, a pause ---------------------------

/// Items that hold their slot until `gate` gets permits, counted by `meter`.
fn gated_items(
    n: usize,
    meter: &Meter,
    gate: &Arc<tokio::sync::Semaphore>,
) -> impl futures::Stream<Item = impl std::future::Future<Output = usize>> {
    let (meter, gate) = (meter.clone(), gate.clone());
    futures::stream::iter(0..n).map(move |i| {
        let (meter, gate) = (meter.clone(), gate.clone());
        async move {
            let _in = meter.enter();
            drop(gate.acquire().await.unwrap());
            i
        }
    })
}

/// Stream module docs: every item runs as a call of the pool, "paused ... as
/// the pool is", at most `2 x size` items pulled at once; `Pool::close`:
/// waiting calls finish, new ones are `Closed`. Closed mid-way, the
/// unordered adapter yields every item: the ones admitted or queued before
/// the close run (`Ok`), the ones pulled after are `Err(Closed)`, the stream
/// ends, and the pool's counters agree with what was yielded.
#[test]
fn unordered_stream_through_a_close_yields_every_item_and_ends() {
    runtime().block_on(async {
        let pool = Pool::fixed(2);
        let meter = Meter::default();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let items = gated_items(8, &meter, &gate);
        let p = pool.clone();
        let collector =
            tokio::spawn(async move { items.pooled_unordered(&p).collect::<Vec<_>>().await });
        until("two items run", || meter.now() == 2).await;
        pool.close();
        gate.add_permits(1_000);
        let out = bounded("the stream ends", collector).await.unwrap();

        assert_eq!(out.len(), 8, "{out:?}");
        let ok: Vec<usize> = out.iter().filter_map(|r| r.ok()).collect();
        let closed = out.iter().filter(|r| **r == Err(Rejected::Closed)).count();
        assert_eq!(ok.len() + closed, 8, "{out:?}");
        assert!(ok.contains(&0) && ok.contains(&1), "{out:?}");
        assert!(
            ok.iter().all(|&i| i < 4),
            "at most 2 x size items pulled before the close: {out:?}"
        );
        assert_eq!(ok.len(), meter.done(), "every Ok item ran, no other did");
        assert!(meter.max() <= 2, "{} at once in a pool of 2", meter.max());
        let s = pool.stats();
        assert_accounted(&s);
        assert_eq!(s.completed, ok.len() as u64, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Closed), closed as u64, "{s:?}");
        assert_eq!(s.cancelled, 0, "{s:?}");
        bounded("drained", pool.drained()).await;
    });
}

/// `Pool::abort`: "rejects every waiting call at once with Rejected::Closed
/// ...; running calls finish". Through the ordered adapter: the two running
/// items (the first two, FIFO) finish in input order, every other item is
/// `Closed`, and the stream ends.
#[test]
fn ordered_stream_through_an_abort_keeps_input_order_and_ends() {
    runtime().block_on(async {
        let pool = Pool::fixed(2);
        let meter = Meter::default();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let items = gated_items(8, &meter, &gate);
        let p = pool.clone();
        let collector =
            tokio::spawn(async move { items.pooled_ordered(&p).collect::<Vec<_>>().await });
        until("two items run", || meter.now() == 2).await;
        pool.abort();
        gate.add_permits(1_000);
        let out = bounded("the stream ends", collector).await.unwrap();
        let mut want = vec![Ok(0), Ok(1)];
        want.extend(std::iter::repeat_n(Err(Rejected::Closed), 6));
        assert_eq!(out, want);
        assert_eq!(meter.done(), 2);
        let s = pool.stats();
        assert_accounted(&s);
        assert_eq!(s.completed, 2, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Closed), 6, "{s:?}");
        assert_eq!(s.cancelled, 0, "{s:?}");
    });
}

/// Paused mid-way, the adapter yields `Err(Paused)` for the items it pulls
/// from then on and goes on to the end (a rejection ends one item, not the
/// stream); after `resume` the same pool serves a new stream fully.
#[test]
fn unordered_stream_through_a_pause_goes_on_to_the_end() {
    runtime().block_on(async {
        let pool = Pool::fixed(2);
        let meter = Meter::default();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let items = gated_items(10, &meter, &gate);
        let p = pool.clone();
        let collector =
            tokio::spawn(async move { items.pooled_unordered(&p).collect::<Vec<_>>().await });
        until("two items run", || meter.now() == 2).await;
        pool.pause();
        gate.add_permits(1_000);
        let out = bounded("the stream ends", collector).await.unwrap();
        assert_eq!(out.len(), 10, "{out:?}");
        let ok: Vec<usize> = out.iter().filter_map(|r| r.ok()).collect();
        let paused = out.iter().filter(|r| **r == Err(Rejected::Paused)).count();
        assert_eq!(ok.len() + paused, 10, "{out:?}");
        assert!(ok.contains(&0) && ok.contains(&1), "{out:?}");
        assert!(ok.iter().all(|&i| i < 4), "{out:?}");
        assert_eq!(ok.len(), meter.done());
        let s = pool.stats();
        assert_accounted(&s);
        assert_eq!(s.rejected_for(Rejected::Paused), paused as u64, "{s:?}");

        pool.resume();
        let again: Vec<_> = gated_items(6, &meter, &gate)
            .pooled_unordered(&pool)
            .collect()
            .await;
        assert!(again.iter().all(|r| r.is_ok()), "{again:?}");
        assert!(meter.max() <= 2, "{} at once in a pool of 2", meter.max());
    });
}

// ---- shutdown's report ---------------------------------------------------------

/// `Pool::shutdown(Some(t))`: past the deadline "the calls still waiting are
/// turned away ..., the ones still running are left to finish ..., and the
/// error says how many of each there were"; `ShutdownTimedOut::nested`:
/// "Calls running under another call's slot at the deadline". A parent
/// running a nested call, and two waiting calls.
#[test]
fn shutdown_past_its_deadline_reports_a_running_nested_call_and_the_turned_away() {
    runtime().block_on(async {
        let pool = Pool::fixed(1);
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let parent = {
            let (pool, gate) = (pool.clone(), gate.clone());
            tokio::spawn(async move {
                pool.submit(async {
                    pool.submit(async {
                        drop(gate.acquire().await.unwrap());
                        "nested"
                    })
                    .await
                })
                .await
            })
        };
        until("the nested call runs", || {
            let s = pool.stats();
            s.running == 1 && s.nested == 1
        })
        .await;
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.submit(async {}).await })
            })
            .collect();
        until("two calls wait", || pool.stats().waiting == 2).await;

        let report = bounded(
            "shutdown returns by its deadline",
            pool.shutdown(Some(Duration::from_millis(20))),
        )
        .await
        .expect_err("a gated call cannot drain in time");
        assert_eq!(
            (
                report.running,
                report.nested,
                report.turned_away,
                report.waiting
            ),
            (1, 1, 2, 0),
            "{report:?}"
        );
        for waiter in waiters {
            assert_eq!(
                bounded("a turned-away call", waiter).await.unwrap(),
                Err(Rejected::Closed)
            );
        }
        gate.add_permits(1);
        assert_eq!(
            bounded("the parent", parent).await.unwrap(),
            Ok(Ok("nested"))
        );
        bounded("drained", pool.drained()).await;
        let s = pool.stats();
        assert_accounted(&s);
        assert_eq!(s.completed, 2, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Closed), 2, "{s:?}");
        assert_eq!(s.in_flight(), 0, "{s:?}");
    });
}

// ---- spawn's place in the queue -------------------------------------------------

/// `Pool::spawn`: "the call takes its place in the queue now, in call order,
/// and runs on a tokio task". On a current-thread runtime the spawned task
/// is not polled before the test yields: a call queued after the `spawn`
/// but polled before the task must still come after it.
#[test]
fn a_spawned_call_takes_its_queue_place_at_the_spawn_not_at_its_first_poll() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = Pool::fixed(1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = pool.try_acquire().unwrap();
        let o = order.clone();
        let handle = pool
            .spawn(async move { o.lock().unwrap().push("spawned") })
            .unwrap();
        let o = order.clone();
        let mut later = Task::new(pool.submit(async move { o.lock().unwrap().push("later") }));
        later.assert_pending();
        assert_eq!(pool.stats().waiting, 2);
        drop(held);
        // The freed slot is the spawned call's: the later call stays queued.
        later.assert_pending();
        bounded("the spawned call", handle).await.unwrap();
        assert_eq!(later.assert_ready(), Ok(()));
        assert_eq!(*order.lock().unwrap(), ["spawned", "later"]);
        assert_accounted(&pool.stats());
    });
}

// ---- tower: a refusal is one call's error -----------------------------------------

/// Tower module docs: "A refusal is an error of one call, never of the
/// service: `poll_ready` reports it by returning `Ready(Ok(()))` and leaving
/// `call` to return it, so the service stays usable". The same service
/// value (not a clone) serves again after a `Paused`, a `Full` in reject
/// mode, and the counters add up.
#[test]
fn a_tower_service_stays_usable_after_each_kind_of_refusal() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, Service, ServiceExt};
    futures::executor::block_on(async {
        let pool = Pool::fixed(1);
        let inner = service_fn(|n: u32| async move { Ok::<_, BoxError>(n * 2) });
        let mut waiting = PooledLayer::pool(pool.clone()).layer(inner);
        let mut shedding = PooledLayer::pool(pool.clone()).reject().layer(inner);

        pool.pause();
        let err = waiting.ready().await.unwrap().call(1).await.unwrap_err();
        assert_eq!(err.downcast_ref::<Rejected>(), Some(&Rejected::Paused));
        let err = shedding.ready().await.unwrap().call(1).await.unwrap_err();
        assert_eq!(err.downcast_ref::<Rejected>(), Some(&Rejected::Paused));
        pool.resume();
        assert_eq!(waiting.ready().await.unwrap().call(2).await.unwrap(), 4);

        let held = pool.try_acquire().unwrap();
        let err = shedding.ready().await.unwrap().call(3).await.unwrap_err();
        assert_eq!(err.downcast_ref::<Rejected>(), Some(&Rejected::Full));
        drop(held);
        assert_eq!(shedding.ready().await.unwrap().call(4).await.unwrap(), 8);

        pool.close();
        let err = waiting.ready().await.unwrap().call(5).await.unwrap_err();
        assert_eq!(err.downcast_ref::<Rejected>(), Some(&Rejected::Closed));
        let s = pool.stats();
        assert_accounted(&s);
        assert_eq!(s.in_flight(), 0, "no slot left reserved: {s:?}");
        assert_eq!(s.rejected_for(Rejected::Paused), 2, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Closed), 1, "{s:?}");
    });
}

// ---- configuration reloads against closed and busy groups -------------------------

static CLOSED_GROW: Group = Group::new(GroupSpec::new("r13::closed_grow").size(1));
register_group!(CLOSED_GROW);

/// config docs: "load applies changed limits to running pools at once:
/// growing admits waiting calls". A closed group's pool still has waiting
/// calls to finish: a reload that grows it admits them at once, and the
/// pool stays closed (new calls `Closed`).
#[test]
fn a_reload_grows_a_closed_groups_pool_and_admits_its_waiters_but_it_stays_closed() {
    let _turn = config_turn();
    let held = CLOSED_GROW.try_acquire_owned(0).unwrap();
    let mut waiters: Vec<_> = (0..2)
        .map(|i| Task::new(CLOSED_GROW.submit(0, async move { i })))
        .collect();
    for w in &mut waiters {
        w.assert_pending();
    }
    CLOSED_GROW.pool().close();
    config::load_str("r13.toml", "[groups.\"r13::closed_grow\"]\nsize = 3\n").unwrap();
    assert_eq!(CLOSED_GROW.size(), 3);
    for (i, w) in waiters.iter_mut().enumerate() {
        assert!(w.is_woken(), "growth wakes waiter {i}");
        assert_eq!(w.assert_ready(), Ok(i));
    }
    assert!(CLOSED_GROW.pool().is_closed());
    assert_eq!(
        futures::executor::block_on(CLOSED_GROW.submit(0, async { 9 })),
        Err(Rejected::Closed)
    );
    drop(held);
    let s = CLOSED_GROW.stats();
    assert_accounted(&s);
    assert_eq!(s.in_flight(), 0, "{s:?}");
    config::clear();
}

static BOUND_RELOAD: Group = Group::new(GroupSpec::new("r13::bound_reload").size(1));
register_group!(BOUND_RELOAD);

/// config docs: "the waiting bound, admission timeout ... apply to calls
/// that arrive from then on". A reload lowering `max_waiting` below the
/// number already waiting, and setting a short admission timeout, leaves
/// the waiting calls waiting; a new call is turned away.
#[test]
fn a_reload_lowering_the_waiting_bound_keeps_the_waiting_calls() {
    let _turn = config_turn();
    runtime().block_on(async {
        let held = BOUND_RELOAD.try_acquire_owned(0).unwrap();
        let mut waiters: Vec<_> = (0..3)
            .map(|i| Task::new(BOUND_RELOAD.submit(0, async move { i })))
            .collect();
        for w in &mut waiters {
            w.assert_pending();
        }
        config::load_str(
            "r13.toml",
            "[groups.\"r13::bound_reload\"]\nmax_waiting = 1\nadmission_timeout = \"1ms\"\n",
        )
        .unwrap();
        assert_eq!(BOUND_RELOAD.pool().max_waiting(), Some(1));
        assert_eq!(
            bounded("a new call", BOUND_RELOAD.submit(0, async { 9 })).await,
            Err(Rejected::Full)
        );
        config::load_str(
            "r13.toml",
            "[groups.\"r13::bound_reload\"]\nadmission_timeout = \"1ms\"\n",
        )
        .unwrap();
        assert_eq!(
            bounded("a new call", BOUND_RELOAD.submit(0, async { 9 })).await,
            Err(Rejected::TimedOut)
        );
        for w in &mut waiters {
            assert!(w.poll().is_pending(), "a waiting call was turned away");
        }
        drop(held);
        for (i, w) in waiters.iter_mut().enumerate() {
            assert_eq!(w.assert_ready(), Ok(i));
        }
        let s = BOUND_RELOAD.stats();
        assert_accounted(&s);
        assert_eq!(s.rejected_for(Rejected::Full), 1, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::TimedOut), 1, "{s:?}");
    });
    config::clear();
}

static RACED: Group = Group::new(GroupSpec::new("r13::raced").size(2));
register_group!(RACED);

/// Reloads racing a close and sync callers: the limit never exceeds the
/// largest size any load gave (counted from outside), every call ends `Ok`
/// or `Closed`, every `Ok` ran its body, and the group drains.
#[test]
fn reloads_racing_a_close_keep_the_limit_and_lose_no_call() {
    let _turn = config_turn();
    let meter = Meter::default();
    let oks = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (meter, oks, closed) = (meter.clone(), oks.clone(), closed.clone());
            std::thread::spawn(move || {
                for _ in 0..300 {
                    match RACED.run(|| {
                        let _in = meter.enter();
                        std::thread::yield_now();
                    }) {
                        Ok(()) => oks.fetch_add(1, Ordering::SeqCst),
                        Err(Rejected::Closed) => closed.fetch_add(1, Ordering::SeqCst),
                        Err(other) => panic!("unexpected rejection {other:?}"),
                    };
                }
            })
        })
        .collect();
    let reloader = std::thread::spawn(|| {
        for i in 0..200 {
            let size = 1 + i % 4;
            config::load_str(
                "r13.toml",
                &format!("[groups.\"r13::raced\"]\nsize = {size}\n"),
            )
            .unwrap();
            if i == 100 {
                RACED.pool().close();
            }
        }
    });
    within(Duration::from_secs(60), move || {
        reloader.join().unwrap();
        for c in callers {
            c.join().unwrap();
        }
    });
    assert!(
        meter.max() <= 4,
        "{} at once, no load gave more than 4",
        meter.max()
    );
    assert_eq!(oks.load(Ordering::SeqCst), meter.done());
    assert_eq!(
        oks.load(Ordering::SeqCst) + closed.load(Ordering::SeqCst),
        1200
    );
    let s = RACED.stats();
    assert_accounted(&s);
    assert!(s.closed, "{s:?}");
    assert_eq!(s.in_flight(), 0, "{s:?}");
    assert_eq!(s.completed, oks.load(Ordering::SeqCst) as u64, "{s:?}");
    assert_eq!(
        s.rejected_for(Rejected::Closed),
        closed.load(Ordering::SeqCst) as u64,
        "{s:?}"
    );
    assert_eq!(RACED.size(), 4, "the last load said 4");
    config::clear();
}

// ---- nested calls through every form ----------------------------------------------

/// Reentrancy rule (`Pool` docs): a call made inside work holding a slot is
/// nested and "only one nested call at a time uses its parent's slot; the
/// others wait in the queue for a free slot or for that slot to come back".
/// A stream adapter run inside the work of a call of a full pool of one:
/// its items are nested calls, they run one at a time (counted from
/// outside), and the stream does not deadlock.
#[test]
fn a_stream_run_inside_a_full_pools_work_runs_its_items_one_at_a_time() {
    let pool = Pool::fixed(1);
    let meter = Meter::default();
    let (p, m) = (pool.clone(), meter.clone());
    let out = within(Duration::from_secs(20), move || {
        futures::executor::block_on(p.submit(async {
            let items = futures::stream::iter(0..6).map(|i| {
                let m = m.clone();
                async move {
                    let _in = m.enter();
                    common::yield_now().await;
                    common::yield_now().await;
                    i
                }
            });
            let mut got: Vec<_> = items.pooled_unordered(&p).collect().await;
            got.sort_by_key(|r| r.map_or(usize::MAX, |i| i));
            got
        }))
    });
    assert_eq!(out, Ok((0..6).map(Ok).collect::<Vec<_>>()));
    assert_eq!(
        meter.max(),
        1,
        "nested items share the one slot, one at a time"
    );
    let s = pool.stats();
    assert_accounted(&s);
    assert_eq!(s.completed, 7, "{s:?}");
    assert_eq!(s.in_flight(), 0, "{s:?}");
}

/// `Pool::acquire`: "a permit taken inside the work of a call of this pool
/// borrows that call's slot"; reentrancy rule: "a nested call that outlives
/// its parent (returned out of the work ...) keeps the slot busy until it
/// ends". An owned permit taken in a full pool's work and returned out of it
/// keeps the slot: nothing else is admitted until it is dropped.
#[test]
fn an_owned_permit_returned_out_of_its_parents_work_keeps_the_slot_until_dropped() {
    let pool = Pool::fixed(1);
    let permit = futures::executor::block_on(pool.submit(async {
        pool.try_acquire_owned(0)
            .expect("try_acquire in a full pool's work borrows the parent's slot")
    }))
    .unwrap();
    assert_eq!(pool.stats().in_flight(), 1, "{:?}", pool.stats());
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
    let mut waiter = Task::new(pool.submit(async { "after" }));
    waiter.assert_pending();
    drop(permit);
    assert!(waiter.is_woken());
    assert_eq!(waiter.assert_ready(), Ok("after"));

    let permit = futures::executor::block_on(pool.submit(pool.acquire_owned(0)))
        .unwrap()
        .expect("acquire in a full pool's work borrows the parent's slot");
    assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
    drop(permit);
    assert!(pool.try_acquire().is_ok());
    let s = pool.stats();
    assert_accounted(&s);
    assert_eq!(s.in_flight(), 0, "{s:?}");
}

/// Reentrancy rule: nested calls waiting for their parent's lent slot are
/// not turned away by a pause, a close or the waiting bound ("they belong to
/// admitted work"), but `abort` "turns them away with `Closed`, as it does
/// every waiting call"; the nested call running under the slot finishes.
#[test]
fn a_nested_call_waiting_for_the_lent_slot_outlasts_pause_and_close_but_not_abort() {
    let pool = Pool::fixed(1);
    let (gate, open) = common::gate();
    let mut parent = Task::new(pool.submit(async {
        futures::join!(
            pool.submit(async {
                gate.await;
                "a"
            }),
            pool.submit(async { "b" })
        )
    }));
    parent.assert_pending();
    let s = pool.stats();
    assert_eq!((s.running, s.nested, s.waiting), (1, 1, 1), "{s:?}");
    pool.set_max_waiting(Some(0)).unwrap();
    pool.pause();
    parent.assert_pending();
    pool.close();
    parent.assert_pending();
    assert_eq!(
        pool.stats().waiting,
        1,
        "pause, close, bound: still waiting"
    );
    pool.abort();
    assert!(parent.is_woken(), "abort wakes the turned-away call's task");
    parent.assert_pending();
    open.store(true, Ordering::SeqCst);
    assert_eq!(parent.assert_ready(), Ok((Ok("a"), Err(Rejected::Closed))));
    let s = pool.stats();
    assert_accounted(&s);
    assert_eq!(s.rejected_for(Rejected::Closed), 1, "{s:?}");
    assert_eq!(s.completed, 2, "{s:?}");
}

/// Tower module docs: the layer's slot is a permit; `Pool::acquire`: a
/// permit taken inside the work of a call of the pool borrows its slot. A
/// service over a full pool called from inside that pool's work (a handler
/// calling its own bulkhead) does not deadlock, in either mode.
#[test]
fn a_tower_service_called_inside_its_full_pools_work_borrows_the_slot() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, ServiceExt};
    let pool = Pool::fixed(1);
    let inner = service_fn(|n: u32| async move { Ok::<_, BoxError>(n + 1) });
    let waiting = PooledLayer::pool(pool.clone()).layer(inner);
    let shedding = PooledLayer::pool(pool.clone()).reject().layer(inner);
    let p = pool.clone();
    let out = within(Duration::from_secs(20), move || {
        futures::executor::block_on(p.submit(async {
            let a = waiting.oneshot(1).await.map_err(|e| e.to_string());
            let b = shedding.oneshot(2).await.map_err(|e| e.to_string());
            (a, b)
        }))
    });
    assert_eq!(out, Ok((Ok(2), Ok(3))));
    let s = pool.stats();
    assert_accounted(&s);
    assert_eq!(s.in_flight(), 0, "{s:?}");
}

/// Reentrancy rule: a call "made on the thread of sync ... work" is nested.
/// A blocking call made (through `block_on`) inside `run` on a full pool of
/// one runs under the parent's slot instead of deadlocking.
#[test]
fn a_blocking_call_made_inside_run_on_a_full_pool_runs_under_its_slot() {
    let pool = Pool::fixed(1);
    let meter = Meter::default();
    let (p, m) = (pool.clone(), meter.clone());
    let out = within(Duration::from_secs(20), move || {
        p.run(|| {
            let _in = m.enter();
            let m2 = m.clone();
            futures::executor::block_on(p.submit_blocking(move || {
                let _in = m2.enter();
                5
            }))
        })
    });
    assert_eq!(out, Ok(Ok(5)));
    let s = pool.stats();
    assert_accounted(&s);
    assert_eq!(s.completed, 2, "{s:?}");
    assert_eq!(s.in_flight(), 0, "{s:?}");
}

/// `Pool::scoped`: "runs body with a handle to the pool, then closes the pool
/// and waits for every call to finish" — a call spawned through the handle
/// included: the scope does not end before it does.
#[test]
fn scoped_waits_for_a_call_spawned_in_its_body() {
    runtime().block_on(async {
        let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let go = Arc::new(tokio::sync::Notify::new());
        let pool = Pool::fixed(2);
        let (f, g) = (finished.clone(), go.clone());
        let mut scope = Box::pin(pool.clone().scoped(move |p| async move {
            p.spawn(async move {
                g.notified().await;
                f.store(true, Ordering::SeqCst);
            })
            .unwrap();
            "body"
        }));
        assert!(futures::poll!(scope.as_mut()).is_pending());
        until("the spawned call runs", || pool.stats().running == 1).await;
        assert!(
            futures::poll!(scope.as_mut()).is_pending(),
            "the scope ended before its spawned call"
        );
        go.notify_one();
        assert_eq!(bounded("the scope", scope).await, "body");
        assert!(finished.load(Ordering::SeqCst));
        assert!(pool.is_closed());
        assert_eq!(pool.stats().in_flight(), 0);
    });
}

/// `Pool::submit_blocking`: "the slot travels with the closure ... so the
/// number of closures running never exceeds the limit, even if the caller
/// stops waiting"; `Stats`: the identity holds once the closure ended, and
/// the abandoned call is counted once.
#[test]
fn an_abandoned_blocking_call_still_holds_its_slot_and_is_counted_once() {
    runtime().block_on(async {
        let pool = Pool::fixed(1);
        let meter = Meter::default();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let m = meter.clone();
        let mut first = Box::pin(pool.submit_blocking(move || {
            let _in = m.enter();
            wait.recv().unwrap();
        }));
        assert!(futures::poll!(first.as_mut()).is_pending());
        until("the closure runs", || meter.now() == 1).await;
        drop(first);
        let m = meter.clone();
        let second = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.submit_blocking(move || {
                    let _in = m.enter();
                })
                .await
            }
        });
        until("the second call waits", || pool.stats().waiting == 1).await;
        assert_eq!(meter.now(), 1, "the second closure ran beside the first");
        release.send(()).unwrap();
        assert_eq!(bounded("the second call", second).await.unwrap(), Ok(()));
        assert!(meter.max() <= 1, "{} closures at once", meter.max());
        let s = pool.stats();
        assert_accounted(&s);
        assert_eq!(s.in_flight(), 0, "{s:?}");
        assert_eq!(s.submitted(), 2, "{s:?}");
    });
}

// ---- never-rejecting group calls through pause, shutdown and resume ------------------

static SHUT_WAIT: Group = Group::new(GroupSpec::new("r13::shut_wait").size(1));

/// `ShutdownTimedOut::waiting`: "Calls still waiting after the deadline: a
/// group's never-rejecting calls ..., which cannot be turned away";
/// `turned_away`: the rejecting ones; `Pool::shutdown`: "a never-rejecting
/// call that arrived while it was paused waits for resume". One
/// never-rejecting call queued before a pause, one that arrived during it, a
/// rejecting one queued: the report counts 2 waiting and 1 turned away, the
/// first runs once the slot frees, the second only after `resume`, and the
/// pool drains.
#[test]
fn shutdown_reports_never_rejecting_calls_as_waiting_and_they_run_after() {
    runtime().block_on(async {
        let order = Arc::new(Mutex::new(Vec::new()));
        let holder = SHUT_WAIT.try_acquire_owned(0).unwrap();
        let o = order.clone();
        let mut queued_wait = Task::new(SHUT_WAIT.submit_wait(0, async move {
            o.lock().unwrap().push("queued before the pause");
        }));
        queued_wait.assert_pending();
        let mut queued_rejecting = Task::new(SHUT_WAIT.submit(0, async { "rejecting" }));
        queued_rejecting.assert_pending();
        SHUT_WAIT.pause();
        let o = order.clone();
        let mut paused_wait = Task::new(SHUT_WAIT.submit_wait(0, async move {
            o.lock().unwrap().push("arrived while paused");
        }));
        paused_wait.assert_pending();
        assert_eq!(
            bounded("a rejecting call", SHUT_WAIT.submit(0, async {})).await,
            Err(Rejected::Paused)
        );
        assert_eq!(SHUT_WAIT.stats().waiting, 3, "{:?}", SHUT_WAIT.stats());

        let pool = SHUT_WAIT.pool();
        let report = bounded(
            "shutdown returns by its deadline",
            pool.shutdown(Some(Duration::from_millis(20))),
        )
        .await
        .expect_err("a permit is held");
        assert_eq!(
            (report.running, report.turned_away, report.waiting),
            (1, 1, 2),
            "{report:?}"
        );
        assert!(
            report.to_string().contains("2 call(s) still waiting"),
            "{report}"
        );
        assert_eq!(queued_rejecting.assert_ready(), Err(Rejected::Closed));

        drop(holder);
        assert!(queued_wait.is_woken());
        assert_eq!(queued_wait.assert_ready(), ());
        paused_wait.assert_pending();
        let mut drained = Task::new(pool.drained());
        drained.assert_pending();
        SHUT_WAIT.resume();
        assert_eq!(paused_wait.assert_ready(), ());
        assert!(drained.poll().is_ready());
        assert_eq!(
            *order.lock().unwrap(),
            ["queued before the pause", "arrived while paused"]
        );
        let s = SHUT_WAIT.stats();
        assert_accounted(&s);
        assert_eq!(s.completed, 3, "{s:?}");
    });
}

static HELD_PRIORITY: Group = Group::new(
    GroupSpec::new("r13::held_priority")
        .size(1)
        .order(pool_runtime::Order::Priority),
);

/// `Pool::close`/`Group::submit_wait`: never-rejecting calls are admitted
/// "in order and within its limit"; a priority pool admits smaller weights
/// first. Never-rejecting calls that arrived while the group was paused are
/// admitted by weight once it resumes, one at a time (counted from outside).
#[test]
fn never_rejecting_calls_held_by_a_pause_are_admitted_by_weight_after_resume() {
    let meter = Meter::default();
    let order = Arc::new(Mutex::new(Vec::new()));
    let holder = HELD_PRIORITY.try_acquire_owned(0).unwrap();
    HELD_PRIORITY.pause();
    let mut calls: Vec<_> = [5i64, 1, 3, -2, 4]
        .into_iter()
        .map(|w| {
            let (m, o) = (meter.clone(), order.clone());
            Task::new(HELD_PRIORITY.submit_wait(w, async move {
                let _in = m.enter();
                o.lock().unwrap().push(w);
            }))
        })
        .collect();
    for c in &mut calls {
        c.assert_pending();
    }
    HELD_PRIORITY.resume();
    drop(holder);
    // Poll each call until it is done (never again after), a round at a time.
    let mut done = vec![false; calls.len()];
    for _ in 0..calls.len() {
        for (c, done) in calls.iter_mut().zip(&mut done) {
            if !*done {
                *done = c.poll().is_ready();
            }
        }
    }
    assert!(done.iter().all(|d| *d), "every call ran: {done:?}");
    assert_eq!(*order.lock().unwrap(), [-2, 1, 3, 4, 5]);
    assert_eq!(meter.max(), 1);
    assert_accounted(&HELD_PRIORITY.stats());
}

// ---- reloads that wake a panicking waker -------------------------------------------

static WAKE_A: Group = Group::new(GroupSpec::new("r13::wake_a").size(1));
register_group!(WAKE_A);
static WAKE_B: Group = Group::new(GroupSpec::new("r13::wake_b").size(1));
register_group!(WAKE_B);

/// README: "Loads are all or nothing", and "Faults lose nothing: ... a
/// waker whose `wake` panics does not stop the rest of its batch". A load
/// that grows two running groups, each with a waiting call whose waker
/// panics: whether or not the waker's panic reaches the caller of the load,
/// both groups must end up with the load's size (or neither), their
/// `settings()` must say what their pools run with, and the configuration
/// in force must be the one their pools run with (the same load again
/// changes nothing).
#[test]
fn a_reload_that_wakes_a_panicking_waker_is_still_all_or_nothing() {
    use std::future::Future;
    use std::task::Context;
    let _turn = config_turn();
    common::quiet_planned_panics();
    let holders = (
        WAKE_A.try_acquire_owned(0).unwrap(),
        WAKE_B.try_acquire_owned(0).unwrap(),
    );
    let mut a = Box::pin(WAKE_A.submit(0, async { 1 }));
    let mut b = Box::pin(WAKE_B.submit(0, async { 2 }));
    let waker = common::panicking_waker();
    assert!(a
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    assert!(b
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());

    let text = "[groups.\"r13::wake_a\"]\nsize = 2\n[groups.\"r13::wake_b\"]\nsize = 2\n";
    let first = std::panic::catch_unwind(|| config::load_str("r13.toml", text));
    let sizes = (WAKE_A.size(), WAKE_B.size());
    let said = (
        WAKE_A.settings().starting_size(),
        WAKE_B.settings().starting_size(),
    );
    assert!(
        sizes == (2, 2) || sizes == (1, 1),
        "half a load applied: sizes {sizes:?} (the load {})",
        if first.is_ok() {
            "returned"
        } else {
            "panicked"
        }
    );
    assert_eq!(said, sizes, "settings() vs the running pools");
    if sizes == (2, 2) {
        let again = config::load_str("r13.toml", text).expect("the same load");
        assert!(
            again.changes.is_empty(),
            "the load in force is not what the pools run with: {again}"
        );
    }
    drop(holders);
    let noop = std::task::Waker::noop();
    assert_eq!(
        a.as_mut().poll(&mut Context::from_waker(noop)),
        std::task::Poll::Ready(Ok(1))
    );
    assert_eq!(
        b.as_mut().poll(&mut Context::from_waker(noop)),
        std::task::Poll::Ready(Ok(2))
    );
    config::clear();
}

static WAKE_W: Group = Group::new(GroupSpec::new("r13::wake_watched").size(1));
register_group!(WAKE_W);

/// `config::watch`: "reloads it whenever its content changes, looking every
/// `every` on a thread of its own, until the returned `Watch` is dropped";
/// "A panic in [on_reload] is caught and the watch goes on (nobody could
/// receive the panic on that thread)"; README, faults: a panicking waker
/// does not stop "the timer thread ..., nor the thread a blocking job ran
/// on". A watched reload that grows a group whose waiting call has a
/// panicking waker must not end the watch: a later change of the file is
/// still loaded and reported.
#[test]
fn a_watched_reload_that_wakes_a_panicking_waker_does_not_end_the_watch() {
    use std::future::Future;
    use std::task::Context;
    let _turn = config_turn();
    common::quiet_planned_panics();
    let path = std::env::temp_dir().join(format!(
        "pooled-r13-watch-waker-{}.toml",
        std::process::id()
    ));
    let table = |size: usize| format!("[groups.\"r13::wake_watched\"]\nsize = {size}\n");
    std::fs::write(&path, table(1)).unwrap();
    let holder = WAKE_W.try_acquire_owned(0).unwrap();
    let mut waiting = Box::pin(WAKE_W.submit(0, async { 1 }));
    let waker = common::panicking_waker();
    assert!(waiting
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());

    let (tx, rx) = std::sync::mpsc::channel();
    let watch = config::watch(&path, Duration::from_millis(5), move |outcome| {
        let _ = tx.send(outcome.map(|r| r.to_string()).map_err(|e| e.to_string()));
    })
    .unwrap();
    std::fs::write(&path, table(2)).unwrap();
    until_sync("the watched reload grows the group", || WAKE_W.size() == 2);
    std::fs::write(&path, table(3)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(outcome) => {
                let done = matches!(&outcome, Ok(r) if r.contains("-> 3"));
                seen.push(outcome);
                if done {
                    break;
                }
            }
            Err(_) => panic!("the watch stopped: no reload of `size = 3` (saw {seen:?})"),
        }
    }
    assert_eq!(WAKE_W.size(), 3);
    drop(watch);
    drop(holder);
    let noop = std::task::Waker::noop();
    assert_eq!(
        waiting.as_mut().poll(&mut Context::from_waker(noop)),
        std::task::Poll::Ready(Ok(1))
    );
    std::fs::remove_file(&path).ok();
    config::clear();
}

// ---- the ceiling, a stream over a group, and the group closing ----------------------

static CEIL_HOLD: Group = Group::new(GroupSpec::new("r13::ceil_hold").size(1));
static CEIL_STREAM: Group = Group::new(GroupSpec::new("r13::ceil_stream").size(4));

/// Ceiling docs: "A call waiting for a ceiling slot is not yet its group's"
/// and "a call its group turns away at once (paused or closed) is turned
/// away before it would wait for the ceiling"; stream docs: a group's
/// stream calls "also take the application-wide ceiling". A stream over a
/// group whose items wait for a full ceiling, then the group is closed:
/// every item ends `Err(Closed)` (those already waiting once they reach the
/// group, the rest at once), the stream ends, and neither the ceiling nor
/// the group loses a slot or miscounts a call. (In a child process: the
/// ceiling is process-wide.)
#[test]
fn a_groups_stream_waiting_for_the_ceiling_ends_closed_when_the_group_closes() {
    common::in_child_process(
        "a_groups_stream_waiting_for_the_ceiling_ends_closed_when_the_group_closes",
        &[],
        || {
            config::load_str("r13.toml", "ceiling = 1\n").unwrap();
            let holder = CEIL_HOLD.try_acquire_owned(0).unwrap();
            let ran = Arc::new(AtomicUsize::new(0));
            let r = ran.clone();
            let items = futures::stream::iter(0..6).map(move |i| {
                let r = r.clone();
                async move {
                    r.fetch_add(1, Ordering::SeqCst);
                    i
                }
            });
            let mut stream = Task::new(items.pooled_unordered(&CEIL_STREAM).collect::<Vec<_>>());
            stream.assert_pending();
            let c = pool_runtime::ceiling::stats().unwrap();
            assert!(c.waiting >= 1, "items wait for the ceiling: {c:?}");
            assert_eq!(CEIL_STREAM.stats().submitted(), 0, "not yet the group's");

            CEIL_STREAM.pool().close();
            drop(holder);
            let out = within(Duration::from_secs(20), move || {
                futures::executor::block_on(async move {
                    loop {
                        if let std::task::Poll::Ready(out) = stream.poll() {
                            return out;
                        }
                        common::yield_now().await;
                    }
                })
            });
            assert_eq!(out, vec![Err(Rejected::Closed); 6]);
            assert_eq!(ran.load(Ordering::SeqCst), 0, "no item ran");
            let c = pool_runtime::ceiling::stats().unwrap();
            assert_accounted(&c);
            assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
            let g = CEIL_STREAM.stats();
            assert_accounted(&g);
            assert_eq!(g.rejected_for(Rejected::Closed), 6, "{g:?}");
            assert_eq!(g.completed + g.cancelled, 0, "{g:?}");
            assert!(
                CEIL_HOLD.try_acquire_owned(0).is_ok(),
                "the ceiling's slot is free"
            );
        },
    );
}

static CEIL_WAKE_HOLD: Group = Group::new(GroupSpec::new("r13::ceil_wake_hold").size(1));
static CEIL_WAKE_WAIT: Group = Group::new(GroupSpec::new("r13::ceil_wake_wait").size(1));
static CEIL_WAKE_LATE: Group = Group::new(GroupSpec::new("r13::ceil_wake_late").size(1));
register_group!(CEIL_WAKE_LATE);

/// Ceiling docs: raising the ceiling "admits waiting ones at once"; README:
/// "Loads are all or nothing". A load that raises the ceiling (waking a
/// call waiting for it, whose waker panics) and sizes a group not started
/// yet: the group, started after the load, must start with the load's size
/// (the load is in force), whether or not the waker's panic reached the
/// caller of the load. (In a child process: the ceiling is process-wide.)
#[test]
fn a_load_raising_the_ceiling_past_a_panicking_waker_is_still_in_force() {
    common::in_child_process(
        "a_load_raising_the_ceiling_past_a_panicking_waker_is_still_in_force",
        &[],
        || {
            use std::future::Future;
            use std::task::Context;
            common::quiet_planned_panics();
            config::load_str("r13.toml", "ceiling = 1\n").unwrap();
            let holder = CEIL_WAKE_HOLD.try_acquire_owned(0).unwrap();
            let mut waiting = Box::pin(CEIL_WAKE_WAIT.submit(0, async { 1 }));
            let waker = common::panicking_waker();
            assert!(waiting
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            assert_eq!(pool_runtime::ceiling::stats().unwrap().waiting, 1);
            let text = "ceiling = 2\n[groups.\"r13::ceil_wake_late\"]\nsize = 5\n";
            let loaded = std::panic::catch_unwind(|| config::load_str("r13.toml", text));
            assert_eq!(pool_runtime::ceiling::limit(), Some(2));
            assert_eq!(
                CEIL_WAKE_LATE.size(),
                5,
                "a group started after the load starts without it (the load {})",
                if loaded.is_ok() {
                    "returned"
                } else {
                    "panicked"
                }
            );
            let noop = std::task::Waker::noop();
            assert_eq!(
                waiting.as_mut().poll(&mut Context::from_waker(noop)),
                std::task::Poll::Ready(Ok(1))
            );
            drop(holder);
        },
    );
}

// ---- isolation: a stream and a tower layer over an isolated group --------------------

#[cfg(feature = "test-util")]
static ISO: Group = Group::new(GroupSpec::new("r13::iso").size(2));

/// `Isolation`: "Everything that goes through `Group::pool` is isolated:
/// calls, permits, `stats`, `size`, `scale`, `pause`, `close`"; "Calls from
/// elsewhere — other tests, threads the test starts outside its runtime —
/// keep using the shared pool". A stream and a tower layer over a group the
/// test isolated run in the test's instance: the shared pool, paused from
/// another thread, turns none of them away and counts none of them, and the
/// instance's limit holds (counted from outside).
#[cfg(feature = "test-util")]
#[test]
fn a_stream_and_a_tower_layer_over_an_isolated_group_use_the_tests_instance() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, ServiceExt};
    let guard = ISO.isolate();
    std::thread::spawn(|| ISO.pause()).join().unwrap();
    assert!(!ISO.is_paused(), "the pause reached the test's instance");
    let meter = Meter::default();
    let m = meter.clone();
    let items = futures::stream::iter(0..10).map(move |i| {
        let m = m.clone();
        async move {
            let _in = m.enter();
            common::yield_now().await;
            i
        }
    });
    let out: Vec<_> = futures::executor::block_on(items.pooled_unordered(&ISO).collect());
    assert_eq!(out.len(), 10);
    assert!(out.iter().all(|r| r.is_ok()), "{out:?}");
    assert!(
        meter.max() <= 2,
        "{} at once in an instance of 2",
        meter.max()
    );

    let m = meter.clone();
    let service = PooledLayer::group(&ISO).layer(service_fn(move |n: u32| {
        let _in = m.enter();
        async move { Ok::<_, BoxError>(n) }
    }));
    assert_eq!(
        futures::executor::block_on(service.oneshot(5)).map_err(|e| e.to_string()),
        Ok(5)
    );
    let mine = ISO.stats();
    assert_accounted(&mine);
    assert_eq!(mine.completed, 11, "{mine:?}");
    let shared = std::thread::spawn(|| ISO.stats()).join().unwrap();
    assert_eq!(
        shared.submitted(),
        0,
        "the shared pool saw a call: {shared:?}"
    );
    assert!(shared.paused);

    drop(guard);
    assert_eq!(
        futures::executor::block_on(ISO.submit(0, async {})),
        Err(Rejected::Paused),
        "after the guard, calls go to the shared (paused) pool"
    );
    ISO.resume();
}

// ---- the file's other TOML spellings ------------------------------------------------

static SPELLED: Group = Group::new(GroupSpec::new("r13::spelled").size(1));
register_group!(SPELLED);

/// README: "Errors name the file, line and column ... and the valid
/// choices"; a group's settings may be written in any TOML spelling of the
/// same table: dotted keys and inline tables set them as a `[groups."..."]`
/// header does, and a bad value in them is placed at its own line and
/// column.
#[test]
fn dotted_keys_and_inline_tables_configure_a_group_and_place_their_errors() {
    let _turn = config_turn();
    config::load_str("r13.toml", "groups.\"r13::spelled\".size = 4\n").unwrap();
    assert_eq!(SPELLED.settings().starting_size(), 4);
    config::load_str(
        "r13.toml",
        "[groups]\n\"r13::spelled\" = { size = 5, max_waiting = 7 }\n",
    )
    .unwrap();
    let s = SPELLED.settings();
    assert_eq!((s.starting_size(), s.max_waiting), (5, Some(7)));

    let err = config::load_str(
        "r13.toml",
        "[groups]\n\"r13::spelled\" = { size = 2, order = \"lifx\" }\n",
    )
    .unwrap_err();
    assert_eq!(
        err.origin().map(|o| o.to_string()),
        Some("r13.toml:2:38".to_owned()),
        "{err}"
    );
    assert!(
        err.to_string().contains("lifo"),
        "names the valid choices: {err}"
    );
    let err = config::load_str("r13.toml", "\n\ngroups.\"r13::spelled\".sise = 4\n").unwrap_err();
    assert_eq!(
        err.origin().map(|o| o.to_string()),
        Some("r13.toml:3:23".to_owned()),
        "{err}"
    );
    assert!(err.to_string().contains("did you mean `size`"), "{err}");
    assert_eq!(
        SPELLED.settings().starting_size(),
        5,
        "a refused load changes nothing"
    );
    config::clear();
}

// ---- a blocking executor that fails ----------------------------------------------------

/// An executor that refuses every job by panicking (after dropping it).
struct PanickingExecutor;

impl pool_runtime::BlockingExecutor for PanickingExecutor {
    fn execute(&self, job: pool_runtime::BlockingJob) {
        drop(job);
        panic!("planned: an executor that cannot take jobs");
    }
}

/// `Pool` docs, cancel safety: "Nothing leaks, whatever the mix"
/// (DESIGN.md); `BlockingExecutor`: a job dropped unrun "is rejected with
/// `Rejected::Closed` and its slot is released". An executor that panics in
/// `execute` after dropping the job: the panic reaches the caller (or the
/// call is `Closed`), and either way the slot comes back and the call is
/// counted once.
#[test]
fn a_blocking_executor_that_panics_in_execute_loses_no_slot() {
    common::quiet_planned_panics();
    let pool = Pool::builder()
        .size(1)
        .blocking_executor(Arc::new(PanickingExecutor))
        .build()
        .unwrap();
    for _ in 0..3 {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures::executor::block_on(pool.submit_blocking(|| 1))
        }));
        assert!(
            matches!(outcome, Err(_) | Ok(Err(Rejected::Closed))),
            "the job never ran: {outcome:?}"
        );
        let s = pool.stats();
        assert_eq!(s.in_flight(), 0, "{s:?}");
        assert_accounted(&s);
    }
    assert_eq!(pool.stats().submitted(), 3);
    assert!(pool.try_acquire().is_ok(), "the slot came back");
}

static PAUSED_GROWTH: Group = Group::new(GroupSpec::new("r13::paused_growth").size(1));

/// `Pool::pause`: calls already waiting "keep being admitted"; `#[pooled]`
/// and `Group::submit_wait`: a never-rejecting call that arrives while the
/// pool is paused "waits until `resume()`". Growing a paused group admits
/// the call that queued before the pause, but not the never-rejecting call
/// that arrived during it, however many slots are free; `resume` then
/// admits it.
#[test]
fn growing_a_paused_group_admits_earlier_waiters_but_not_calls_held_for_resume() {
    let holder = PAUSED_GROWTH.try_acquire_owned(0).unwrap();
    let mut before = Task::new(PAUSED_GROWTH.submit(0, async { "before" }));
    before.assert_pending();
    PAUSED_GROWTH.pause();
    let mut during = Task::new(PAUSED_GROWTH.submit_wait(0, async { "during" }));
    during.assert_pending();
    assert_eq!(PAUSED_GROWTH.scale(3), 4);
    assert_eq!(before.assert_ready(), Ok("before"));
    assert!(
        during.poll().is_pending(),
        "a call held for resume was admitted by a growth while paused"
    );
    drop(holder);
    assert!(during.poll().is_pending(), "still paused");
    PAUSED_GROWTH.resume();
    assert!(during.is_woken(), "resume wakes the held call");
    assert_eq!(during.assert_ready(), "during");
    let s = PAUSED_GROWTH.stats();
    assert_accounted(&s);
    assert_eq!((s.completed, s.in_flight()), (3, 0), "{s:?}");
}

// ---- tower: a held body through a close; a weighted layer through a pause -------------

/// A body of the given frames, then its end.
#[derive(Debug)]
struct Frames(std::collections::VecDeque<&'static str>);

impl http_body::Body for Frames {
    type Data = &'static [u8];
    type Error = pool_runtime::tower::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<&'static [u8]>, Self::Error>>> {
        std::task::Poll::Ready(
            self.0
                .pop_front()
                .map(|data| Ok(http_body::Frame::data(data.as_bytes()))),
        )
    }
}

/// The next frame of `body`.
async fn next_frame<B: http_body::Body + Unpin>(
    body: &mut B,
) -> Option<Result<http_body::Frame<B::Data>, B::Error>> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx)).await
}

/// Tower docs: with `hold_until_body_ends`, "an `http::Response` holds its
/// slot until its body ends"; `Pool::close`/`drained`: running calls
/// finish, and `drained` resolves once nothing runs; `shutdown`'s report
/// counts what still runs. A body still streaming when the pool is closed
/// keeps the pool from draining (and is reported running by a shutdown
/// past its deadline) until its last frame is read; new calls are `Closed`.
#[test]
fn a_held_body_keeps_a_closed_pool_from_draining_until_it_ends() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, ServiceExt};
    runtime().block_on(async {
        let pool = Pool::fixed(1);
        let service = PooledLayer::pool(pool.clone())
            .hold_until_body_ends()
            .layer(service_fn(|frames: Vec<&'static str>| async move {
                Ok::<_, BoxError>(http::Response::new(Frames(frames.into())))
            }));
        let mut body = service
            .clone()
            .oneshot(vec!["a", "b"])
            .await
            .unwrap()
            .into_body();
        assert_eq!(pool.stats().running, 1);
        let report = bounded(
            "shutdown by its deadline",
            pool.shutdown(Some(Duration::from_millis(10))),
        )
        .await
        .expect_err("a body holds the slot");
        assert_eq!((report.running, report.turned_away), (1, 0), "{report:?}");
        let refused = service.clone().oneshot(vec!["c"]).await.unwrap_err();
        assert_eq!(refused.downcast_ref::<Rejected>(), Some(&Rejected::Closed));

        let mut drained = Box::pin(pool.drained());
        assert!(futures::poll!(drained.as_mut()).is_pending());
        assert!(next_frame(&mut body).await.unwrap().is_ok());
        assert!(
            futures::poll!(drained.as_mut()).is_pending(),
            "drained while a body holds its slot"
        );
        assert!(next_frame(&mut body).await.unwrap().is_ok());
        assert!(next_frame(&mut body).await.is_none(), "the body's end");
        bounded("drained after the body's end", drained).await;
        let s = pool.stats();
        assert_accounted(&s);
        assert_eq!(
            (s.completed, s.rejected_for(Rejected::Closed)),
            (1, 1),
            "{s:?}"
        );
    });
}

/// Tower docs: with a `weight` function "the call then waits in the
/// response future"; a refusal is "an error of one call, never of the
/// service". A weighted layer over a paused priority pool fails the call
/// with `Paused` and serves the next one after `resume`, ranking waiting
/// calls by weight.
#[test]
fn a_weighted_layer_refuses_calls_while_paused_and_ranks_them_after_resume() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, Service, ServiceExt};
    let pool = Pool::builder()
        .order(pool_runtime::Order::Priority)
        .size(1)
        .build()
        .unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    let mut service = PooledLayer::pool(pool.clone())
        .weight(|n: &i64| *n)
        .layer(service_fn(move |n: i64| {
            o.lock().unwrap().push(n);
            async move { Ok::<_, BoxError>(n) }
        }));
    pool.pause();
    let err = futures::executor::block_on(async { service.ready().await.unwrap().call(7).await })
        .unwrap_err();
    assert_eq!(err.downcast_ref::<Rejected>(), Some(&Rejected::Paused));
    pool.resume();

    let held = pool.try_acquire().unwrap();
    let mut calls: Vec<_> = [5i64, -1, 3]
        .into_iter()
        .map(|n| {
            futures::executor::block_on(service.ready()).unwrap();
            Task::new(service.call(n))
        })
        .collect();
    for c in &mut calls {
        c.assert_pending();
    }
    drop(held);
    let mut done = vec![false; 3];
    for _ in 0..3 {
        for (c, d) in calls.iter_mut().zip(&mut done) {
            if !*d {
                *d = c.poll().is_ready();
            }
        }
    }
    assert!(done.iter().all(|d| *d));
    assert_eq!(*order.lock().unwrap(), [-1, 3, 5]);
    assert_accounted(&pool.stats());
}

static LIFT_HOLD: Group = Group::new(GroupSpec::new("r13::lift_hold").size(1));
static LIFT_WAIT: Group = Group::new(GroupSpec::new("r13::lift_wait").size(1));
static LIFT_LATER: Group = Group::new(GroupSpec::new("r13::lift_later").size(1));

/// Ceiling docs: "`ceiling = N` ... limits the calls running across all
/// groups"; README: "Loads are all or nothing". A load that lifts the
/// ceiling (letting through a call waiting for it, whose waker panics),
/// then a load that sets the same ceiling again: the ceiling must be in
/// force afterwards — a second top-level group call may not run while the
/// one ceiling slot is held. (In a child process: the ceiling is
/// process-wide.)
#[test]
fn a_ceiling_lifted_past_a_panicking_waker_is_enforced_again_when_set_again() {
    common::in_child_process(
        "a_ceiling_lifted_past_a_panicking_waker_is_enforced_again_when_set_again",
        &[],
        || {
            use std::future::Future;
            use std::task::Context;
            common::quiet_planned_panics();
            config::load_str("r13.toml", "ceiling = 1\n").unwrap();
            let holder = LIFT_HOLD.try_acquire_owned(0).unwrap();
            let mut waiting = Box::pin(LIFT_WAIT.submit(0, async { 1 }));
            let waker = common::panicking_waker();
            assert!(waiting
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            let lifted = std::panic::catch_unwind(|| config::load_str("r13.toml", ""));
            let noop = std::task::Waker::noop();
            assert_eq!(
                waiting.as_mut().poll(&mut Context::from_waker(noop)),
                std::task::Poll::Ready(Ok(1)),
                "lifting the ceiling lets the waiting call through"
            );
            config::load_str("r13.toml", "ceiling = 1\n").unwrap();
            assert_eq!(
                pool_runtime::ceiling::limit(),
                Some(1),
                "the ceiling set again is not in force (the lift {})",
                if lifted.is_ok() {
                    "returned"
                } else {
                    "panicked"
                }
            );
            let mut later = Task::new(LIFT_LATER.submit(0, async { 2 }));
            assert!(
                later.poll().is_pending(),
                "a second top-level call ran under a ceiling of 1"
            );
            drop(holder);
            assert_eq!(later.assert_ready(), Ok(2));
        },
    );
}

static WK_GROWN: Group = Group::new(GroupSpec::new("r13::wk_grown").size(1));
register_group!(WK_GROWN);
static WK_UNSTARTED: Group = Group::new(GroupSpec::new("r13::wk_unstarted").size(3));
register_group!(WK_UNSTARTED);

/// A waker that reads a group's settings when woken (as a task polled
/// inline by its waker would).
struct SettingsReadingWaker(Arc<AtomicUsize>);

impl std::task::Wake for SettingsReadingWaker {
    fn wake(self: Arc<Self>) {
        let size = WK_UNSTARTED.settings().starting_size();
        self.0.store(size, Ordering::SeqCst);
    }
}

/// README, lock order: "reading settings (`Group::settings()`,
/// `pooled::groups()`) can race a reload or a group's first use without
/// deadlock ... A pool's own lock is never held while a waker, a judge or
/// user code runs." A reload that grows a pool wakes its waiter; a waker
/// that reads a group's settings must not deadlock the reload (the
/// configuration lock is still held while the reload's wakers run).
#[test]
fn a_waker_reading_settings_during_a_reload_does_not_deadlock_it() {
    common::in_child_process(
        "a_waker_reading_settings_during_a_reload_does_not_deadlock_it",
        &[],
        || {
            use std::future::Future;
            use std::task::Context;
            let holder = WK_GROWN.try_acquire_owned(0).unwrap();
            let seen = Arc::new(AtomicUsize::new(0));
            let waker = std::task::Waker::from(Arc::new(SettingsReadingWaker(seen.clone())));
            let mut waiting = Box::pin(WK_GROWN.submit(0, async { 1 }));
            assert!(waiting
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            within(Duration::from_secs(10), || {
                config::load_str("r13.toml", "[groups.\"r13::wk_grown\"]\nsize = 2\n").unwrap()
            });
            assert_eq!(seen.load(Ordering::SeqCst), 3, "the waker ran");
            let noop = std::task::Waker::noop();
            assert_eq!(
                waiting.as_mut().poll(&mut Context::from_waker(noop)),
                std::task::Poll::Ready(Ok(1))
            );
            drop(holder);
        },
    );
}

#[cfg(feature = "tracing")]
static TR_GROWN: Group = Group::new(GroupSpec::new("r13::tr_grown").size(1));
#[cfg(feature = "tracing")]
register_group!(TR_GROWN);

/// A tracing layer that looks up every group's settings on each `pooled`
/// event (as a layer enriching events with configuration might).
#[cfg(feature = "tracing")]
struct SettingsLookup(Arc<AtomicUsize>);

#[cfg(feature = "tracing")]
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SettingsLookup {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target().starts_with("pooled") {
            let groups = pool_runtime::groups().len();
            self.0.store(groups, Ordering::SeqCst);
        }
    }
}

/// README, lock order: "reading settings (`Group::settings()`,
/// `pooled::groups()`) can race a reload ... without deadlock"; tracing
/// feature: "limit changes (old -> new, and why: ... reload)" are events;
/// `observe`: a subscriber's own failures lose that report only. A tracing
/// layer that lists the groups when it sees a `pooled` event must not
/// deadlock the reload whose limit change it is told about.
#[cfg(feature = "tracing")]
#[test]
fn a_tracing_layer_listing_groups_during_a_reload_does_not_deadlock_it() {
    common::in_child_process(
        "a_tracing_layer_listing_groups_during_a_reload_does_not_deadlock_it",
        &[],
        || {
            use tracing_subscriber::layer::SubscriberExt;
            assert_eq!(TR_GROWN.size(), 1, "started");
            let seen = Arc::new(AtomicUsize::new(0));
            let subscriber = tracing_subscriber::registry().with(SettingsLookup(seen.clone()));
            within(Duration::from_secs(10), move || {
                tracing::subscriber::with_default(subscriber, || {
                    config::load_str("r13.toml", "[groups.\"r13::tr_grown\"]\nsize = 2\n").unwrap()
                })
            });
            assert_eq!(TR_GROWN.size(), 2);
            assert!(
                seen.load(Ordering::SeqCst) > 0,
                "the layer saw the limit change"
            );
        },
    );
}

#[cfg(feature = "tracing")]
static TR_FIRST: Group = Group::new(GroupSpec::new("r13::tr_first").size(1));

/// Tracing: "each call is a TRACE span `call` ... rejections ..., limit
/// changes ... are events". A layer that lists the groups on each `pooled`
/// event or span does not deadlock a group's first use, nor its calls.
#[cfg(feature = "tracing")]
#[test]
fn a_tracing_layer_listing_groups_does_not_deadlock_a_first_use() {
    common::in_child_process(
        "a_tracing_layer_listing_groups_does_not_deadlock_a_first_use",
        &[],
        || {
            use tracing_subscriber::layer::SubscriberExt;
            let seen = Arc::new(AtomicUsize::new(0));
            let subscriber = tracing_subscriber::registry().with(SettingsLookup(seen.clone()));
            let out = within(Duration::from_secs(10), move || {
                tracing::subscriber::with_default(subscriber, || {
                    TR_FIRST.pause();
                    let paused = futures::executor::block_on(TR_FIRST.submit(0, async { 1 }));
                    TR_FIRST.resume();
                    TR_FIRST.scale(1);
                    (
                        paused,
                        futures::executor::block_on(TR_FIRST.submit(0, async { 2 })),
                    )
                })
            });
            assert_eq!(out, (Err(Rejected::Paused), Ok(2)));
            assert!(seen.load(Ordering::SeqCst) > 0, "the layer saw events");
        },
    );
}
