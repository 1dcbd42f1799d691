//! Sync barging (`GroupSettings::sync_barging`): sync callers that find no
//! free slot wait outside the queue, for a bounded time, and take a slot
//! that frees without a thread switch. What must still hold, checked from
//! outside the pool: the limit, the queue's order (no caller outside the
//! queue takes a slot a queued call is owed), the bound (a caller still
//! waiting after it queues), the accounting, and every way out of the wait
//! (a release, a pause, a close, the admission timeout, the waiting bound,
//! a resize, a panic).

mod common;

use common::barging::{barging, hold, wait_until, FOREVER};
use common::{assert_accounted, quiet_planned_panics, within, Meter, Task};
use pool_runtime::{GroupSettings, Kind, Order, Pool, Rejected};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Many threads on few slots, in every order and kind: never more bodies at
/// once than the limit (counted by the bodies), every call counted once.
#[test]
fn many_threads_on_few_slots_never_exceed_the_limit_and_every_call_is_counted() {
    within(Duration::from_secs(120), || {
        let configs = [
            (Kind::Fixed, Order::Fifo, 1),
            (Kind::Fixed, Order::Lifo, 2),
            (Kind::Fixed, Order::Priority, 1),
            (Kind::Autoscale, Order::Fifo, 2),
        ];
        for (kind, order, size) in configs {
            let mut builder = Pool::builder()
                .kind(kind)
                .order(order)
                .size(size)
                .sync_barging(Duration::from_micros(200));
            if kind == Kind::Autoscale {
                builder = builder
                    .min(size)
                    .max(size)
                    .autoscale_interval(Duration::from_millis(1));
            }
            let pool = builder.build().unwrap();
            let meter = Meter::default();
            let (threads, calls) = (12, 400);
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let (pool, meter) = (pool.clone(), meter.clone());
                    thread::spawn(move || {
                        for i in 0..calls {
                            let out = pool.run_weighted((t + i) % 5, || {
                                let _inside = meter.enter();
                                if i % 50 == 0 {
                                    thread::sleep(Duration::from_micros(300));
                                } else {
                                    std::hint::black_box((0..100).sum::<i64>());
                                }
                            });
                            assert_eq!(out, Ok(()));
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
            let s = pool.stats();
            assert!(
                meter.max() <= size,
                "{kind:?} {order:?}: {} > {size}",
                meter.max()
            );
            let total = (threads * calls) as u64;
            assert_eq!((s.submitted(), s.completed), (total, total), "{s:?}");
            assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
            assert_accounted(&s);
        }
    });
}

/// Async callers and barging sync callers share the limit.
#[test]
fn async_and_barging_sync_callers_share_the_limit() {
    within(Duration::from_secs(60), || {
        let pool = barging(2, Duration::from_millis(1));
        let meter = Meter::default();
        let rt = common::runtime();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (pool, meter) = (pool.clone(), meter.clone());
                rt.spawn(async move {
                    for _ in 0..100 {
                        pool.submit(meter.clone().body(0)).await.unwrap();
                    }
                })
            })
            .collect();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (pool, meter) = (pool.clone(), meter.clone());
                thread::spawn(move || {
                    for _ in 0..300 {
                        pool.run(|| drop(meter.enter())).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        rt.block_on(async {
            for task in tasks {
                task.await.unwrap();
            }
        });
        assert!(meter.max() <= 2, "{} > 2", meter.max());
        let s = pool.stats();
        assert_eq!(s.completed, 8 * 100 + 8 * 300, "{s:?}");
        assert_accounted(&s);
    });
}

/// The room is not the queue: a slot that frees while a call is queued is
/// handed to that call, even though a sync caller waited (in the room)
/// before it arrived.
#[test]
fn a_slot_freed_while_a_call_is_queued_goes_to_it_not_to_the_room() {
    within(Duration::from_secs(30), || {
        let pool = barging(1, FOREVER);
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut held = hold(&pool);
        let in_room = {
            let (pool, log) = (pool.clone(), log.clone());
            thread::spawn(move || pool.run(|| log.lock().unwrap().push("room")))
        };
        wait_until(|| pool.stats().waiting == 1);
        let mut queued = Task::new({
            let (pool, log) = (pool.clone(), log.clone());
            async move {
                pool.submit(async move { log.lock().unwrap().push("queued") })
                    .await
            }
        });
        queued.assert_pending();
        assert_eq!(pool.stats().waiting, 2);
        assert_eq!(held.assert_ready(), Ok(()));
        // The slot is the queued call's now, though it has not been polled:
        // the caller in the room must not take it.
        thread::sleep(Duration::from_millis(100));
        assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
        assert_eq!(queued.assert_ready(), Ok(()));
        assert_eq!(in_room.join().unwrap(), Ok(()));
        assert_eq!(*log.lock().unwrap(), ["queued", "room"]);
        let s = pool.stats();
        assert_eq!((s.submitted(), s.completed, s.waiting), (3, 3, 0), "{s:?}");
    });
}

/// A caller still waiting once its bound has passed takes its place in the
/// queue: a call queued after that comes after it.
#[test]
fn a_caller_still_waiting_after_the_bound_is_queued_ahead_of_later_calls() {
    within(Duration::from_secs(30), || {
        let pool = barging(1, Duration::from_millis(20));
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut held = hold(&pool);
        let early = {
            let (pool, log) = (pool.clone(), log.clone());
            thread::spawn(move || pool.run(|| log.lock().unwrap().push("early")))
        };
        wait_until(|| pool.stats().waiting == 1);
        // Well past the bound: the early caller is in the queue now.
        thread::sleep(Duration::from_millis(300));
        let mut later = Task::new({
            let (pool, log) = (pool.clone(), log.clone());
            async move {
                pool.submit(async move { log.lock().unwrap().push("later") })
                    .await
            }
        });
        later.assert_pending();
        assert_eq!(held.assert_ready(), Ok(()));
        // Had the early caller stayed outside the queue, the slot would be
        // the later call's, which is not polled until the early one is done:
        // this join would hang.
        assert_eq!(early.join().unwrap(), Ok(()));
        assert_eq!(later.assert_ready(), Ok(()));
        assert_eq!(*log.lock().unwrap(), ["early", "later"]);
    });
}

/// A release wakes a caller in the room at once, not at its bound.
#[test]
fn a_release_wakes_a_caller_in_the_room() {
    within(Duration::from_secs(30), || {
        let pool = barging(1, FOREVER);
        let mut held = hold(&pool);
        let caller = {
            let pool = pool.clone();
            thread::spawn(move || pool.run(|| 7))
        };
        wait_until(|| pool.stats().waiting == 1);
        let s = pool.stats();
        assert_eq!((s.submitted(), s.running, s.waiting), (2, 1, 1), "{s:?}");
        assert_accounted(&s);
        assert_eq!(held.assert_ready(), Ok(()));
        assert_eq!(caller.join().unwrap(), Ok(7));
        let s = pool.stats();
        assert_eq!((s.submitted(), s.completed, s.waiting), (2, 2, 0), "{s:?}");
    });
}

/// A bound too long to add to the clock (`Duration::MAX`) is no deadline.
#[test]
fn a_bound_of_duration_max_waits_for_a_release() {
    within(Duration::from_secs(30), || {
        let pool = barging(1, Duration::MAX);
        // (Stored in nanoseconds, as the admission timeout: saturated, and
        // read back as it was set.)
        assert_eq!(pool.sync_barging(), Some(Duration::MAX));
        let mut held = hold(&pool);
        let caller = {
            let pool = pool.clone();
            thread::spawn(move || pool.run(|| 1))
        };
        wait_until(|| pool.stats().waiting == 1);
        assert_eq!(held.assert_ready(), Ok(()));
        assert_eq!(caller.join().unwrap(), Ok(1));
    });
}

/// A pause and a close reach a caller in the room: it takes its place in
/// the queue, as a waiting call, and is admitted when a slot frees (a pause
/// or a close leaves waiting calls waiting); an abort turns it away, as it
/// turns away queued calls. None of it waits for the caller's bound.
#[test]
fn pause_and_close_queue_a_caller_in_the_room_and_abort_turns_it_away() {
    type Stop = fn(&Pool);
    let stops: [(Stop, Result<(), Rejected>); 3] = [
        (|pool| pool.pause(), Ok(())),
        (|pool| pool.close(), Ok(())),
        (
            |pool| {
                pool.abort();
            },
            Err(Rejected::Closed),
        ),
    ];
    for (stop, expected) in stops {
        within(Duration::from_secs(30), move || {
            let pool = barging(1, FOREVER);
            let log = Arc::new(Mutex::new(Vec::new()));
            let mut held = hold(&pool);
            let caller = {
                let (pool, log) = (pool.clone(), log.clone());
                thread::spawn(move || pool.run(move || log.lock().unwrap().push("room")))
            };
            wait_until(|| pool.stats().waiting == 1);
            stop(&pool);
            // A new caller is turned away (paused or closed)...
            assert!(pool.run(|| ()).is_err());
            // ...while the one in the room waits on, in the queue.
            thread::sleep(Duration::from_millis(100));
            assert_eq!(pool.stats().waiting, u64::from(expected.is_ok()) as usize);
            assert_eq!(held.assert_ready(), Ok(()));
            assert_eq!(caller.join().unwrap(), expected);
            let s = pool.stats();
            assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
            assert_eq!(s.completed, 1 + u64::from(expected.is_ok()), "{s:?}");
            assert_accounted(&s);
        });
    }
}

/// The room's time counts against the admission timeout.
#[test]
fn the_admission_timeout_ends_a_wait_in_the_room() {
    within(Duration::from_secs(30), || {
        let pool = Pool::builder()
            .size(1)
            .sync_barging(FOREVER)
            .admission_timeout(Duration::from_millis(50))
            .build()
            .unwrap();
        let _held = hold(&pool);
        let started = Instant::now();
        assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(50), "{waited:?}");
        let s = pool.stats();
        assert_eq!(
            (s.waiting, s.rejected_for(Rejected::TimedOut)),
            (0, 1),
            "{s:?}"
        );
        assert_accounted(&s);
    });
}

/// Callers in the room count against `max_waiting`, for sync and async
/// callers alike.
#[test]
fn callers_in_the_room_count_against_the_waiting_bound() {
    within(Duration::from_secs(30), || {
        let pool = Pool::builder()
            .size(1)
            .sync_barging(FOREVER)
            .max_waiting(1)
            .build()
            .unwrap();
        let mut held = hold(&pool);
        let caller = {
            let pool = pool.clone();
            thread::spawn(move || pool.run(|| ()))
        };
        wait_until(|| pool.stats().waiting == 1);
        assert_eq!(pool.run(|| ()), Err(Rejected::Full));
        let mut queued = Task::new({
            let pool = pool.clone();
            async move { pool.submit(async {}).await }
        });
        assert_eq!(queued.assert_ready(), Err(Rejected::Full));
        assert_eq!(held.assert_ready(), Ok(()));
        assert_eq!(caller.join().unwrap(), Ok(()));
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::Full), 2, "{s:?}");
        assert_accounted(&s);
    });
}

/// A limit raised while a caller is in the room admits it.
#[test]
fn a_resize_up_admits_a_caller_in_the_room() {
    within(Duration::from_secs(30), || {
        let pool = barging(1, FOREVER);
        let _held = hold(&pool);
        let caller = {
            let pool = pool.clone();
            thread::spawn(move || pool.run(|| ()))
        };
        wait_until(|| pool.stats().waiting == 1);
        assert_eq!(pool.resize(2), 2);
        assert_eq!(caller.join().unwrap(), Ok(()));
    });
}

/// A sync call nested in work of the pool runs under its parent's slot, as
/// without barging (it never waits in the room).
#[test]
fn a_nested_sync_call_runs_under_its_parents_slot() {
    within(Duration::from_secs(30), || {
        let pool = barging(1, FOREVER);
        let inner = pool.clone();
        assert_eq!(pool.run(move || inner.run(|| 5)), Ok(Ok(5)));
        let s = pool.stats();
        assert_eq!((s.submitted(), s.completed, s.running), (2, 2, 0), "{s:?}");
    });
}

/// A body that panics frees its slot for the callers in the room.
#[test]
fn a_panicking_body_frees_its_slot_for_the_room() {
    quiet_planned_panics();
    within(Duration::from_secs(60), || {
        let pool = barging(1, FOREVER);
        let meter = Meter::default();
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let (pool, meter) = (pool.clone(), meter.clone());
                thread::spawn(move || {
                    for i in 0..200 {
                        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            pool.run(|| {
                                let _inside = meter.enter();
                                if (t + i) % 7 == 0 {
                                    panic!("planned: a body panics");
                                }
                            })
                        }));
                        assert_eq!(out.is_err(), (t + i) % 7 == 0);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(meter.max() <= 1);
        let s = pool.stats();
        let panicked = (0..6)
            .flat_map(|t| (0..200).map(move |i| (t + i) % 7 == 0))
            .filter(|p| *p)
            .count() as u64;
        assert_eq!((s.completed, s.panicked), (1200, panicked), "{s:?}");
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

/// Sync barging is off by default and with a zero bound, and can be turned
/// on and off on a running pool.
#[test]
fn sync_barging_is_off_by_default_and_with_a_zero_bound() {
    assert_eq!(GroupSettings::DEFAULT.sync_barging, None);
    assert_eq!(Pool::fixed(1).sync_barging(), None);
    assert_eq!(barging(1, Duration::ZERO).sync_barging(), None);
    let pool = barging(1, Duration::from_millis(5));
    assert_eq!(pool.sync_barging(), Some(Duration::from_millis(5)));
    pool.set_sync_barging(None);
    assert_eq!(pool.sync_barging(), None);
    pool.set_sync_barging(Some(Duration::from_secs(1)));
    assert_eq!(pool.sync_barging(), Some(Duration::from_secs(1)));
}

/// A sync call from a multi-thread runtime's worker waits in the room
/// without stalling the worker's other tasks (one of which holds the slot).
#[test]
fn a_sync_call_on_a_runtime_worker_waits_without_stalling_the_slots_holder() {
    within(Duration::from_secs(30), || {
        let rt = common::runtime();
        let pool = barging(1, FOREVER);
        rt.block_on(async {
            let holder = {
                let pool = pool.clone();
                tokio::spawn(async move {
                    pool.submit(tokio::time::sleep(Duration::from_millis(50)))
                        .await
                })
            };
            wait_until(|| pool.stats().running == 1);
            let caller = {
                let pool = pool.clone();
                tokio::spawn(async move { pool.run(|| 3) })
            };
            assert_eq!(caller.await.unwrap(), Ok(3));
            assert_eq!(holder.await.unwrap(), Ok(()));
        });
    });
}

/// Turned off while a caller waits in the room, barging sends it to the
/// queue: a call queued after that comes after it. (Had it stayed in the
/// room, the release would hand the slot to the later call, which is not
/// polled until the caller is done: the join would hang.)
#[test]
fn turning_barging_off_sends_a_caller_in_the_room_to_the_queue() {
    within(Duration::from_secs(30), || {
        let pool = Pool::fixed(1);
        pool.set_sync_barging(Some(FOREVER));
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut held = hold(&pool);
        let early = {
            let (pool, log) = (pool.clone(), log.clone());
            thread::spawn(move || pool.run(|| log.lock().unwrap().push("early")))
        };
        wait_until(|| pool.stats().waiting == 1);
        pool.set_sync_barging(None);
        // Time to move from the room to the queue.
        thread::sleep(Duration::from_millis(200));
        let mut later = Task::new({
            let (pool, log) = (pool.clone(), log.clone());
            async move {
                pool.submit(async move { log.lock().unwrap().push("later") })
                    .await
            }
        });
        later.assert_pending();
        assert_eq!(held.assert_ready(), Ok(()));
        assert_eq!(early.join().unwrap(), Ok(()));
        assert_eq!(later.assert_ready(), Ok(()));
        assert_eq!(*log.lock().unwrap(), ["early", "later"]);
    });
}

/// Barging turned on and off over and over while threads call: the limit
/// holds, every call ends and is counted, nothing waits out a bound.
#[test]
fn barging_toggled_while_threads_call_keeps_the_limit_and_the_counts() {
    within(Duration::from_secs(60), || {
        let pool = Pool::fixed(2);
        let meter = Meter::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let toggler = {
            let (pool, stop) = (pool.clone(), stop.clone());
            thread::spawn(move || {
                let mut on = false;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    on = !on;
                    pool.set_sync_barging(on.then_some(FOREVER));
                    thread::sleep(Duration::from_micros(300));
                }
            })
        };
        let started = Instant::now();
        let workers: Vec<_> = (0..10)
            .map(|_| {
                let (pool, meter) = (pool.clone(), meter.clone());
                thread::spawn(move || {
                    for _ in 0..500 {
                        pool.run(|| drop(meter.enter())).unwrap();
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        toggler.join().unwrap();
        assert!(meter.max() <= 2, "{} > 2", meter.max());
        let s = pool.stats();
        assert_eq!((s.submitted(), s.completed), (5000, 5000), "{s:?}");
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        // Not one caller waited out its (hour-long) bound.
        assert!(started.elapsed() < Duration::from_secs(30));
    });
}

/// A sync call made in work of *another* pool is not nested in this one: it
/// waits in this pool's room like any other (shown by a slot going to a
/// call queued after it), and holds the other pool's slot meanwhile.
#[test]
fn a_sync_call_in_work_of_another_pool_waits_in_the_room() {
    within(Duration::from_secs(30), || {
        let outer = Pool::fixed(1);
        let pool = barging(1, FOREVER);
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut held = hold(&pool);
        let caller = {
            let (outer, pool, log) = (outer.clone(), pool.clone(), log.clone());
            thread::spawn(move || {
                outer.run(move || pool.run(move || log.lock().unwrap().push("inner")))
            })
        };
        wait_until(|| pool.stats().waiting == 1);
        assert_eq!(outer.stats().running, 1);
        let mut queued = Task::new({
            let (pool, log) = (pool.clone(), log.clone());
            async move {
                pool.submit(async move { log.lock().unwrap().push("queued") })
                    .await
            }
        });
        queued.assert_pending();
        assert_eq!(held.assert_ready(), Ok(()));
        // In the room, not the queue: the slot is the later, queued call's.
        thread::sleep(Duration::from_millis(100));
        assert!(log.lock().unwrap().is_empty());
        assert_eq!(queued.assert_ready(), Ok(()));
        assert_eq!(caller.join().unwrap(), Ok(Ok(())));
        assert_eq!(*log.lock().unwrap(), ["queued", "inner"]);
        assert_eq!(outer.stats().running, 0);
    });
}

static MIXED_WAIT: pool_runtime::Group = pool_runtime::Group::new(
    pool_runtime::GroupSpec::new("sync_barging::mixed_wait")
        .size(2)
        .max_waiting(1)
        .sync_barging(Duration::from_micros(200)),
);

/// Never-rejecting callers (`run_wait`) barge with rejecting ones (`run`)
/// on few slots, with a waiting bound they pass and bodies that panic: never
/// more bodies at once than the limit (counted by the bodies), every
/// `run_wait` runs, every call is counted once, and no slot is left taken.
#[test]
fn never_rejecting_and_rejecting_barging_callers_with_panics_keep_the_limit() {
    quiet_planned_panics();
    within(Duration::from_secs(120), || {
        let meter = Meter::default();
        // Bodies of `run_wait` calls that ran (a panic out of the library
        // instead of the body would leave one uncounted).
        let waited = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (threads, calls) = (8, 200);
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (meter, waited) = (meter.clone(), waited.clone());
                thread::spawn(move || {
                    for i in 0..calls {
                        let body = || {
                            let _inside = meter.enter();
                            if t % 2 == 0 {
                                waited.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            }
                            if i % 7 == 3 {
                                panic!("planned panic");
                            }
                            std::hint::black_box((0..100).sum::<i64>());
                        };
                        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            if t % 2 == 0 {
                                MIXED_WAIT.run_wait(0, body);
                                Ok(())
                            } else {
                                MIXED_WAIT.run(body)
                            }
                        }));
                        if let Ok(Err(rejected)) = out {
                            assert_eq!(rejected, Rejected::Full, "only the waiting bound refuses");
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        let waited = waited.load(std::sync::atomic::Ordering::SeqCst);
        assert!(meter.max() <= 2, "{} > 2", meter.max());
        assert_eq!(
            waited,
            threads / 2 * calls,
            "every run_wait ran (or panicked in its body)"
        );
        let s = MIXED_WAIT.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert!(s.panicked > 0, "{s:?}");
        assert_eq!(s.submitted(), (threads * calls) as u64, "{s:?}");
        assert_accounted(&s);
    });
}
