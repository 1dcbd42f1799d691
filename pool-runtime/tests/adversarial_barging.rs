//! Adversarial tests of sync barging (`GroupSettings::sync_barging`): the
//! room's every way in and out under hostile settings (zero and huge
//! bounds, admission timeouts shorter and longer than the bound, waiting
//! bounds of 0 and 1, reloads while callers wait), never-rejecting sync
//! calls (`Group::run_wait`) in the room, pause/resume and close storms
//! while threads barge, an autoscaled pool whose demand is in the room, and
//! the reporting of a room wait. Concurrency is counted from outside the
//! pool (`Meter`), every test is bounded in time (`within`).

mod common;

use common::barging::{barging, hold, outcome, serial, spawn_caller, wait_until, FOREVER};
use common::{assert_accounted, quiet_planned_panics, within, Meter, PendingOnce, Task};
use pool_runtime::{Group, GroupSpec, Kind, ManualClock, Pool, Rejected};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

// ---- never-rejecting sync calls (`Group::run_wait`) in the room ----------

static WAIT_PAUSED: Group = Group::new(
    GroupSpec::new("adv_barging::wait_paused")
        .size(1)
        .sync_barging(FOREVER),
);

/// `Group::run_wait` is never turned away: it waits through a pause. On a
/// barging group it waits in the room first; a pause sends it to the
/// queue's path, which must hold it (as it holds any never-rejecting call)
/// until `resume`, not turn it away as `Paused`.
#[test]
fn run_wait_in_the_room_waits_through_a_pause() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let group = &WAIT_PAUSED;
        let mut held = hold(group.pool());
        let rx = spawn_caller(|| WAIT_PAUSED.run_wait(0, || 7));
        wait_until(|| group.pool().stats().waiting == 1);
        group.pause();
        // Held through the pause: no answer yet (a panic or a value now is
        // the bug).
        match rx.recv_timeout(Duration::from_millis(200)) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(out) => panic!("run_wait returned during a pause: {out:?}"),
            Err(e) => panic!("{e}"),
        }
        assert_eq!(group.pool().stats().waiting, 1);
        group.resume();
        assert_eq!(held.assert_ready(), Ok(()));
        assert_eq!(outcome(&rx, Duration::from_secs(10)), 7);
        let s = group.pool().stats();
        assert_eq!(
            (s.completed, s.rejected_total(), s.waiting),
            (2, 0, 0),
            "{s:?}"
        );
    });
}

static WAIT_CLOSED: Group = Group::new(
    GroupSpec::new("adv_barging::wait_closed")
        .size(1)
        .sync_barging(FOREVER),
);

/// A never-rejecting call is admitted in order even through a close of the
/// group's pool (`Group::submit_wait`'s promise, which `run_wait` shares):
/// one in the room must not be turned away `Closed` by it.
#[test]
fn run_wait_in_the_room_survives_a_close_of_the_groups_pool() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let group = &WAIT_CLOSED;
        let mut held = hold(group.pool());
        let rx = spawn_caller(|| WAIT_CLOSED.run_wait(0, || 8));
        wait_until(|| group.pool().stats().waiting == 1);
        group.pool().close();
        thread::sleep(Duration::from_millis(100));
        assert_eq!(held.assert_ready(), Ok(()));
        assert_eq!(outcome(&rx, Duration::from_secs(10)), 8);
    });
}

static WAIT_FULL: Group = Group::new(
    GroupSpec::new("adv_barging::wait_full")
        .size(1)
        .max_waiting(1)
        .sync_barging(Duration::from_millis(30)),
);

/// A never-rejecting call waits past the waiting bound. One in the room
/// whose bound passes while the queue is at `max_waiting` must queue, not
/// be turned away `Full`.
#[test]
fn run_wait_leaving_the_room_is_not_turned_away_by_the_waiting_bound() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let group = &WAIT_FULL;
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut held = hold(group.pool());
        let rx = spawn_caller({
            let log = log.clone();
            move || WAIT_FULL.run_wait(0, move || log.lock().unwrap().push("room"))
        });
        wait_until(|| group.pool().stats().waiting == 1);
        // A never-rejecting async call queues past the bound (waiting 2).
        let mut queued = Task::new(WAIT_FULL.submit_wait(0, {
            let log = log.clone();
            async move { log.lock().unwrap().push("queued") }
        }));
        queued.assert_pending();
        assert_eq!(group.pool().stats().waiting, 2);
        // The room caller's bound (30 ms) passes: it must join the queue.
        thread::sleep(Duration::from_millis(200));
        assert!(
            rx.try_recv().is_err(),
            "the room caller returned without a slot"
        );
        assert_eq!(held.assert_ready(), Ok(()));
        // Both run, in the queue's order (whichever that is).
        let (mut queued_done, mut room_done) = (false, false);
        while !(queued_done && room_done) {
            queued_done = queued_done || queued.poll().is_ready();
            if room_done {
                thread::sleep(Duration::from_millis(1));
                continue;
            }
            match rx.try_recv() {
                Ok(out) => {
                    assert_eq!(out, Ok(()));
                    room_done = true;
                }
                Err(mpsc::TryRecvError::Empty) => thread::sleep(Duration::from_millis(1)),
                Err(e) => panic!("{e}"),
            }
        }
        let mut log = log.lock().unwrap().clone();
        log.sort_unstable();
        assert_eq!(log, ["queued", "room"]);
    });
}

static WAIT_TIMED: Group = Group::new(
    GroupSpec::new("adv_barging::wait_timed")
        .size(1)
        .admission_timeout(Duration::from_millis(60))
        .sync_barging(Duration::from_millis(20)),
);

/// A never-rejecting call waits past the admission timeout. One that
/// leaves the room after its bound must not be given the timeout there.
#[test]
fn run_wait_leaving_the_room_is_not_timed_out() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let group = &WAIT_TIMED;
        let mut held = hold(group.pool());
        let rx = spawn_caller(|| WAIT_TIMED.run_wait(0, || 9));
        wait_until(|| group.pool().stats().waiting == 1);
        // Well past the bound and the timeout.
        match rx.recv_timeout(Duration::from_millis(400)) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(out) => panic!("run_wait returned without a slot: {out:?}"),
            Err(e) => panic!("{e}"),
        }
        assert_eq!(held.assert_ready(), Ok(()));
        assert_eq!(outcome(&rx, Duration::from_secs(10)), 9);
        let s = group.pool().stats();
        assert_eq!(s.rejected_total(), 0, "{s:?}");
    });
}

/// The same never-rejecting sync call without barging waits through a
/// pause (the control for the tests above: what they expect is what the
/// queue does).
static WAIT_CONTROL: Group = Group::new(GroupSpec::new("adv_barging::wait_control").size(1));

#[test]
fn run_wait_without_barging_waits_through_a_pause() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let group = &WAIT_CONTROL;
        let mut held = hold(group.pool());
        let rx = spawn_caller(|| WAIT_CONTROL.run_wait(0, || 6));
        wait_until(|| group.pool().stats().waiting == 1);
        group.pause();
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        group.resume();
        assert_eq!(held.assert_ready(), Ok(()));
        assert_eq!(outcome(&rx, Duration::from_secs(10)), 6);
    });
}

// ---- reloads while a caller is in the room ---------------------------------

/// `set_max_waiting` applies to calls that arrive from now on; calls
/// already waiting stay. A caller in the room is waiting (it counts in
/// `waiting`): lowering the bound must not turn it away when its own bound
/// passes and it joins the queue.
#[test]
fn a_lowered_waiting_bound_does_not_turn_away_a_caller_already_in_the_room() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = barging(1, Duration::from_millis(30));
        let mut held = hold(&pool);
        let rx = spawn_caller({
            let pool = pool.clone();
            move || pool.run(|| 1)
        });
        wait_until(|| pool.stats().waiting == 1);
        pool.set_max_waiting(Some(0)).unwrap();
        // Past the room's bound: the caller is queued (or was turned away).
        thread::sleep(Duration::from_millis(200));
        assert_eq!(held.assert_ready(), Ok(()));
        assert_eq!(outcome(&rx, Duration::from_secs(10)), Ok(1));
        // New calls are turned away by the new bound.
        let _held = hold(&pool);
        assert_eq!(pool.run(|| 2), Err(Rejected::Full));
    });
}

/// `set_admission_timeout` applies to calls that start waiting from now
/// on. A caller that started waiting in the room without a timeout must
/// not be timed out by one set meanwhile, once it joins the queue.
#[test]
fn a_timeout_set_while_a_caller_is_in_the_room_does_not_apply_to_it() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = barging(1, Duration::from_millis(30));
        let mut held = hold(&pool);
        let rx = spawn_caller({
            let pool = pool.clone();
            move || pool.run(|| 1)
        });
        wait_until(|| pool.stats().waiting == 1);
        pool.set_admission_timeout(Some(Duration::from_millis(20)));
        // Past the bound and the new timeout.
        thread::sleep(Duration::from_millis(300));
        assert_eq!(held.assert_ready(), Ok(()));
        assert_eq!(outcome(&rx, Duration::from_secs(10)), Ok(1));
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::TimedOut), 0, "{s:?}");
    });
}

/// The control: without barging, the same reloads leave a queued call be.
#[test]
fn without_barging_reloads_leave_a_waiting_caller_be() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = Pool::fixed(1);
        let mut held = hold(&pool);
        let rx = spawn_caller({
            let pool = pool.clone();
            move || pool.run(|| 1)
        });
        wait_until(|| pool.stats().waiting == 1);
        pool.set_max_waiting(Some(0)).unwrap();
        pool.set_admission_timeout(Some(Duration::from_millis(20)));
        thread::sleep(Duration::from_millis(200));
        assert_eq!(held.assert_ready(), Ok(()));
        assert_eq!(outcome(&rx, Duration::from_secs(10)), Ok(1));
    });
}

// ---- the admission timeout against the bound -------------------------------

/// A timeout shorter than the bound ends the wait at the timeout, not at
/// the bound (or later): the room's wait is cut to the timeout.
#[test]
fn a_timeout_shorter_than_the_bound_ends_the_wait_at_the_timeout() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = Pool::builder()
            .size(1)
            .sync_barging(FOREVER)
            .admission_timeout(Duration::from_millis(40))
            .build()
            .unwrap();
        let _held = hold(&pool);
        let started = Instant::now();
        assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut));
        let waited = started.elapsed();
        assert!(
            (Duration::from_millis(40)..Duration::from_secs(2)).contains(&waited),
            "{waited:?}"
        );
        let s = pool.stats();
        assert_eq!((s.waiting, s.rejected_for(Rejected::TimedOut)), (0, 1));
        assert_accounted(&s);
    });
}

/// A timeout longer than the bound: the room's time counts against it, so
/// the call is turned away one timeout after it started waiting, not one
/// timeout after it left the room (bound + timeout).
#[test]
fn a_timeout_longer_than_the_bound_counts_the_rooms_time() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let (bound, timeout) = (Duration::from_millis(400), Duration::from_millis(500));
        let pool = Pool::builder()
            .size(1)
            .sync_barging(bound)
            .admission_timeout(timeout)
            .build()
            .unwrap();
        let _held = hold(&pool);
        let started = Instant::now();
        assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut));
        let waited = started.elapsed();
        // Correct: ~500 ms; the room's time not counted: ~900 ms.
        assert!(
            (timeout..bound + timeout - Duration::from_millis(100)).contains(&waited),
            "{waited:?}"
        );
        let s = pool.stats();
        assert_eq!((s.waiting, s.rejected_for(Rejected::TimedOut)), (0, 1));
        assert_accounted(&s);
    });
}

/// A release between the bound and the timeout admits the caller from the
/// queue (it is not turned away at its bound).
#[test]
fn a_caller_past_its_bound_is_admitted_by_a_release_before_the_timeout() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = Pool::builder()
            .size(1)
            .sync_barging(Duration::from_millis(20))
            .admission_timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let mut held = hold(&pool);
        let rx = spawn_caller({
            let pool = pool.clone();
            move || pool.run(|| 3)
        });
        wait_until(|| pool.stats().waiting == 1);
        thread::sleep(Duration::from_millis(150));
        assert!(rx.try_recv().is_err(), "returned without a slot");
        assert_eq!(pool.stats().waiting, 1);
        assert_eq!(held.assert_ready(), Ok(()));
        assert_eq!(outcome(&rx, Duration::from_secs(10)), Ok(3));
        let s = pool.stats();
        assert_eq!((s.completed, s.rejected_total(), s.waiting), (2, 0, 0));
    });
}

// ---- waiting bounds of 0 and 1 ---------------------------------------------

/// `max_waiting(0)`: never wait, not even in the room.
#[test]
fn a_waiting_bound_of_zero_keeps_callers_out_of_the_room() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = Pool::builder()
            .size(1)
            .max_waiting(0)
            .sync_barging(FOREVER)
            .build()
            .unwrap();
        let mut held = hold(&pool);
        let started = Instant::now();
        assert_eq!(pool.run(|| ()), Err(Rejected::Full));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(pool.stats().waiting, 0);
        assert_eq!(held.assert_ready(), Ok(()));
        // A free slot is still taken.
        assert_eq!(pool.run(|| 4), Ok(4));
        let s = pool.stats();
        assert_eq!((s.completed, s.rejected_for(Rejected::Full)), (2, 1));
        assert_accounted(&s);
    });
}

/// `max_waiting(1)` with many barging threads: every call ends Ok or Full,
/// the limit holds, every call is counted; with one slot held the whole
/// time, exactly one caller waits and every other is turned away.
#[test]
fn a_waiting_bound_of_one_admits_one_waiter_among_many_threads() {
    let _serial = serial();
    within(Duration::from_secs(60), || {
        let pool = Pool::builder()
            .size(1)
            .max_waiting(1)
            .sync_barging(FOREVER)
            .build()
            .unwrap();
        let mut held = hold(&pool);
        let first = spawn_caller({
            let pool = pool.clone();
            move || pool.run(|| "first")
        });
        wait_until(|| pool.stats().waiting == 1);
        let others: Vec<_> = (0..6)
            .map(|_| {
                let pool = pool.clone();
                thread::spawn(move || pool.run(|| "other"))
            })
            .collect();
        for other in others {
            assert_eq!(other.join().unwrap(), Err(Rejected::Full));
        }
        assert_eq!(held.assert_ready(), Ok(()));
        assert_eq!(outcome(&first, Duration::from_secs(10)), Ok("first"));

        // Then a storm: the limit and the counts hold.
        let meter = Meter::default();
        let (ok, full) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (pool, meter, ok, full) =
                    (pool.clone(), meter.clone(), ok.clone(), full.clone());
                thread::spawn(move || {
                    for i in 0..300 {
                        match pool.run(|| {
                            let _inside = meter.enter();
                            if i % 10 == 0 {
                                thread::sleep(Duration::from_micros(100));
                            }
                        }) {
                            Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                            Err(Rejected::Full) => full.fetch_add(1, Ordering::Relaxed),
                            Err(other) => panic!("{other:?}"),
                        };
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert!(meter.max() <= 1, "{}", meter.max());
        let s = pool.stats();
        let (ok, full) = (ok.load(Ordering::Relaxed), full.load(Ordering::Relaxed));
        assert_eq!(ok + full, 2400);
        assert_eq!(s.completed, 2 + ok, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Full), 6 + full, "{s:?}");
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

// ---- bounds: tiny and huge ------------------------------------------------

/// A bound of one nanosecond is on (not off) and leaves the room at once:
/// the caller queues, in order behind a call queued before it.
#[test]
fn a_one_nanosecond_bound_sends_a_caller_to_the_queue_at_once() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = barging(1, Duration::from_nanos(1));
        assert_eq!(pool.sync_barging(), Some(Duration::from_nanos(1)));
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut held = hold(&pool);
        let rx = spawn_caller({
            let (pool, log) = (pool.clone(), log.clone());
            move || pool.run(move || log.lock().unwrap().push("sync"))
        });
        wait_until(|| pool.stats().waiting == 1);
        // Give the caller time to move to the queue (it is there long before).
        thread::sleep(Duration::from_millis(100));
        let mut later = Task::new({
            let (pool, log) = (pool.clone(), log.clone());
            async move {
                pool.submit(async move { log.lock().unwrap().push("later") })
                    .await
            }
        });
        later.assert_pending();
        assert_eq!(held.assert_ready(), Ok(()));
        assert_eq!(outcome(&rx, Duration::from_secs(10)), Ok(()));
        assert_eq!(later.assert_ready(), Ok(()));
        assert_eq!(*log.lock().unwrap(), ["sync", "later"]);
    });
}

/// Many threads on one slot with the tiniest and the largest bounds: the
/// limit holds and nothing is lost; nobody waits out a huge bound (the
/// releases wake the room).
#[test]
fn extreme_bounds_keep_the_limit_and_the_counts_under_load() {
    let _serial = serial();
    within(Duration::from_secs(120), || {
        for bound in [Duration::from_nanos(1), Duration::MAX] {
            let pool = barging(1, bound);
            let meter = Meter::default();
            let started = Instant::now();
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    let (pool, meter) = (pool.clone(), meter.clone());
                    thread::spawn(move || {
                        for i in 0..300 {
                            pool.run(|| {
                                let _inside = meter.enter();
                                if i % 60 == 0 {
                                    thread::sleep(Duration::from_micros(200));
                                }
                            })
                            .unwrap();
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
            assert!(meter.max() <= 1, "{bound:?}: {}", meter.max());
            let s = pool.stats();
            assert_eq!((s.submitted(), s.completed), (2400, 2400), "{s:?}");
            assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
            assert!(started.elapsed() < Duration::from_secs(60));
        }
    });
}

// ---- pause, resume and close storms ---------------------------------------

/// Pause and resume over and over while threads barge: every call ends
/// admitted or `Paused`, the limit holds, the counts add up, and the
/// threads finish (no caller sleeps through a resume for its bound).
#[test]
fn pause_resume_cycles_while_threads_barge_keep_the_limit_and_the_counts() {
    let _serial = serial();
    within(Duration::from_secs(90), || {
        let pool = barging(2, FOREVER);
        let meter = Meter::default();
        let stop = Arc::new(AtomicBool::new(false));
        let toggler = {
            let (pool, stop) = (pool.clone(), stop.clone());
            thread::spawn(move || {
                let mut cycles = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    pool.pause();
                    thread::sleep(Duration::from_micros(200));
                    pool.resume();
                    thread::sleep(Duration::from_micros(500));
                    cycles += 1;
                }
                cycles
            })
        };
        let (ok, paused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let started = Instant::now();
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (pool, meter, ok, paused) =
                    (pool.clone(), meter.clone(), ok.clone(), paused.clone());
                thread::spawn(move || {
                    for i in 0..400 {
                        match pool.run(|| {
                            let _inside = meter.enter();
                            if i % 40 == 0 {
                                thread::sleep(Duration::from_micros(300));
                            }
                        }) {
                            Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                            Err(Rejected::Paused) => paused.fetch_add(1, Ordering::Relaxed),
                            Err(other) => panic!("{other:?}"),
                        };
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        let cycles = toggler.join().unwrap();
        assert!(cycles > 0);
        assert!(meter.max() <= 2, "{}", meter.max());
        let (ok, paused) = (ok.load(Ordering::Relaxed), paused.load(Ordering::Relaxed));
        let s = pool.stats();
        assert_eq!(ok + paused, 3200);
        assert_eq!(
            (s.completed, s.rejected_for(Rejected::Paused)),
            (ok, paused),
            "{s:?}"
        );
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_accounted(&s);
        // Not one caller waited out its (hour-long) bound.
        assert!(started.elapsed() < Duration::from_secs(60));
    });
}

/// A close while many threads wait in the room leaves them waiting, as it
/// leaves queued calls ("waiting and running calls finish"): each takes its
/// place in the queue and runs once a slot frees; an abort then turns away
/// the ones still waiting. The counts add up.
#[test]
fn close_with_many_callers_in_the_room_lets_them_finish_and_abort_turns_them_away() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = barging(1, FOREVER);
        let mut held = hold(&pool);
        let meter = Meter::default();
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let (pool, meter) = (pool.clone(), meter.clone());
                spawn_caller(move || {
                    pool.run(|| {
                        let _inside = meter.enter();
                        thread::sleep(Duration::from_millis(20));
                    })
                })
            })
            .collect();
        wait_until(|| pool.stats().waiting == 8);
        let s = pool.stats();
        assert_eq!((s.submitted(), s.running, s.waiting), (9, 1, 8), "{s:?}");
        assert_accounted(&s);
        pool.close();
        // After the close, a new caller never enters the room.
        assert_eq!(pool.run(|| ()), Err(Rejected::Closed));
        // The eight are still waiting (in the queue now), none turned away.
        thread::sleep(Duration::from_millis(100));
        let s = pool.stats();
        assert_eq!(
            (s.waiting, s.rejected_for(Rejected::Closed)),
            (8, 1),
            "{s:?}"
        );
        assert_eq!(held.assert_ready(), Ok(()));
        // Let a few run, then abort: the rest are turned away.
        wait_until(|| meter.done() >= 3);
        pool.abort();
        let mut ok = 0;
        for caller in &callers {
            match outcome(caller, Duration::from_secs(10)) {
                Ok(()) => ok += 1,
                Err(Rejected::Closed) => {}
                other => panic!("{other:?}"),
            }
        }
        assert!(ok >= 3, "{ok}");
        assert!(meter.max() <= 1);
        let s = pool.stats();
        assert_eq!(s.completed, 1 + ok as u64, "{s:?}");
        assert_eq!(
            s.rejected_for(Rejected::Closed),
            1 + (8 - ok as u64),
            "{s:?}"
        );
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

/// A close racing with callers entering the room and with releases: every
/// caller returns (admitted before the close, or `Closed`), none hangs for
/// its bound, and the counts add up.
#[test]
fn close_racing_with_barging_threads_leaves_nobody_behind() {
    let _serial = serial();
    within(Duration::from_secs(90), || {
        for round in 0..20 {
            let pool = barging(1, FOREVER);
            let meter = Meter::default();
            let workers: Vec<_> = (0..6)
                .map(|_| {
                    let (pool, meter) = (pool.clone(), meter.clone());
                    thread::spawn(move || {
                        let mut closed = false;
                        for _ in 0..200 {
                            match pool.run(|| drop(meter.enter())) {
                                Ok(()) => assert!(!closed, "admitted after Closed"),
                                Err(Rejected::Closed) => closed = true,
                                Err(other) => panic!("{other:?}"),
                            }
                        }
                    })
                })
                .collect();
            thread::sleep(Duration::from_micros(200 * (round % 5 + 1)));
            pool.close();
            for worker in workers {
                worker.join().unwrap();
            }
            assert!(meter.max() <= 1);
            let s = pool.stats();
            assert_eq!(s.submitted(), 1200, "{s:?}");
            assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
            assert_accounted(&s);
        }
    });
}

// ---- the autoscaler's demand -----------------------------------------------

/// Callers in the room count in the autoscaler's demand: one slot held, three
/// callers in the room, an interval passes, and the next intake event (an
/// async call) finds a mean demand of 4 on a limit of 1 and grows the pool
/// (to 2: at most doubling per step). Were the room not counted, the demand
/// would be 1 (the holder) and the limit would stay.
#[test]
fn callers_in_the_room_count_in_the_autoscalers_demand() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let clock = ManualClock::new();
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .size(1)
            .min(1)
            .max(8)
            .autoscale_interval(Duration::from_millis(10))
            .autoscale_window(1)
            .clock(Arc::new(clock.clone()))
            .sync_barging(FOREVER)
            .build()
            .unwrap();
        assert_eq!(pool.size(), 1);
        let mut held = hold(&pool);
        let meter = Meter::default();
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let (pool, meter) = (pool.clone(), meter.clone());
                spawn_caller(move || pool.run(|| drop(meter.enter())))
            })
            .collect();
        wait_until(|| pool.stats().waiting == 3);
        assert_eq!(pool.size(), 1);
        clock.advance(Duration::from_secs(1));
        let mut trigger = Task::new({
            let pool = pool.clone();
            async move { pool.submit(async {}).await }
        });
        // The trigger is admitted in the new slot, or queued behind a room
        // caller that took it: either way the limit grew.
        let first = trigger.poll();
        assert_eq!(pool.size(), 2, "{:?}", pool.stats());
        if first.is_pending() {
            while trigger.poll().is_pending() {
                thread::sleep(Duration::from_millis(1));
            }
        }
        // A room caller runs in the new slot too, while the holder still
        // holds its own (the holder ends only when polled again, below):
        // the trigger and a room caller completed. (Not `running == 1`
        // then: the next room caller may already hold the freed slot — a
        // loaded run saw 2.)
        wait_until(|| pool.stats().completed >= 2);
        let running = pool.stats().running;
        assert!((1..=2).contains(&running), "{:?}", pool.stats());
        assert_eq!(held.assert_ready(), Ok(()));
        for caller in &callers {
            assert_eq!(outcome(caller, Duration::from_secs(10)), Ok(()));
        }
        assert!(meter.max() <= 2);
        let s = pool.stats();
        assert_eq!((s.completed, s.running, s.waiting), (5, 0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

/// An autoscaled pool under load with barging: the limit (as the pool
/// reports it when a body starts, with the pool's max as a hard cap) holds
/// and the counts add up.
#[test]
fn an_autoscaled_barging_pool_under_load_keeps_its_max_and_the_counts() {
    let _serial = serial();
    within(Duration::from_secs(90), || {
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .size(1)
            .min(1)
            .max(3)
            .autoscale_interval(Duration::from_millis(2))
            .autoscale_window(2)
            .sync_barging(Duration::from_millis(1))
            .build()
            .unwrap();
        let meter = Meter::default();
        let workers: Vec<_> = (0..8)
            .map(|t| {
                let (pool, meter) = (pool.clone(), meter.clone());
                thread::spawn(move || {
                    for i in 0..300 {
                        pool.run(|| {
                            let _inside = meter.enter();
                            if (t + i) % 30 == 0 {
                                thread::sleep(Duration::from_micros(500));
                            }
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert!(meter.max() <= 3, "{}", meter.max());
        let s = pool.stats();
        assert_eq!((s.submitted(), s.completed), (2400, 2400), "{s:?}");
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

// ---- panics and the room ---------------------------------------------------

/// Panicking bodies among barging threads on a pool with a waiting bound
/// and a short admission timeout: every outcome is one of the expected
/// ones, the limit holds, the counts add up, nothing is left running.
#[test]
fn panics_timeouts_and_full_mixed_in_the_room_are_all_accounted() {
    let _serial = serial();
    quiet_planned_panics();
    within(Duration::from_secs(90), || {
        let pool = Pool::builder()
            .size(2)
            .max_waiting(3)
            .admission_timeout(Duration::from_millis(2))
            .sync_barging(Duration::from_millis(1))
            .build()
            .unwrap();
        let meter = Meter::default();
        let workers: Vec<_> = (0..8)
            .map(|t| {
                let (pool, meter) = (pool.clone(), meter.clone());
                thread::spawn(move || {
                    let (mut ok, mut panicked, mut rejected) = (0u64, 0u64, 0u64);
                    for i in 0..300 {
                        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            pool.run(|| {
                                let _inside = meter.enter();
                                if (t + i) % 11 == 0 {
                                    panic!("planned: a body panics");
                                }
                                if i % 20 == 0 {
                                    thread::sleep(Duration::from_millis(1));
                                }
                            })
                        }));
                        match out {
                            Ok(Ok(())) => ok += 1,
                            Ok(Err(Rejected::Full | Rejected::TimedOut)) => rejected += 1,
                            Ok(Err(other)) => panic!("{other:?}"),
                            Err(_) => panicked += 1,
                        }
                    }
                    (ok, panicked, rejected)
                })
            })
            .collect();
        let (mut ok, mut panicked, mut rejected) = (0, 0, 0);
        for worker in workers {
            let (o, p, r) = worker.join().unwrap();
            (ok, panicked, rejected) = (ok + o, panicked + p, rejected + r);
        }
        assert!(meter.max() <= 2, "{}", meter.max());
        let s = pool.stats();
        assert_eq!(s.completed, ok + panicked, "{s:?}");
        assert_eq!(s.panicked, panicked, "{s:?}");
        assert_eq!(s.rejected_total(), rejected, "{s:?}");
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

/// A caller counted in `waiting` is never turned away `Full` after it
/// started waiting (the waiting bound decides at arrival). With a bound of
/// one, a caller whose room bound passes moves from the room to the queue
/// while other threads hammer the pool: had it stopped counting as waiting
/// in between (the first version uncounted itself as it left the room), a
/// hammering caller would take its place and the one that waited would be
/// turned away `Full` as it queued. It is admitted, every hammering call is
/// turned away `Full` at once, and the counts add up. (No timing threshold:
/// the outcome alone decides.)
#[test]
fn a_caller_that_waited_in_the_room_is_never_turned_away_full() {
    let _serial = serial();
    within(Duration::from_secs(60), || {
        for _ in 0..10 {
            let pool = Pool::builder()
                .size(1)
                .max_waiting(1)
                .sync_barging(Duration::from_millis(20))
                .build()
                .unwrap();
            let mut held = hold(&pool);
            let waiter = {
                let pool = pool.clone();
                thread::spawn(move || pool.run(|| ()))
            };
            wait_until(|| pool.stats().waiting == 1);
            let stop = Arc::new(AtomicBool::new(false));
            let hammers: Vec<_> = (0..3)
                .map(|_| {
                    let (pool, stop) = (pool.clone(), stop.clone());
                    thread::spawn(move || {
                        let mut full = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            assert_eq!(pool.run(|| ()), Err(Rejected::Full));
                            full += 1;
                        }
                        full
                    })
                })
                .collect();
            // Well past the waiter's bound: it has moved to the queue.
            thread::sleep(Duration::from_millis(150));
            stop.store(true, Ordering::Relaxed);
            let full: u64 = hammers.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(held.assert_ready(), Ok(()));
            assert_eq!(waiter.join().unwrap(), Ok(()));
            let s = pool.stats();
            assert_eq!(s.rejected_for(Rejected::Full), full, "{s:?}");
            assert_eq!((s.completed, s.running, s.waiting), (2, 0, 0), "{s:?}");
            assert_accounted(&s);
        }
    });
}

// ---- runtimes --------------------------------------------------------------

/// On the thread driving a current-thread runtime a sync call that must
/// wait panics (parking would stop the slot's holder), barging or not: it
/// must not park in the room instead (a hang until the bound).
#[test]
fn on_a_current_thread_runtimes_thread_a_barging_call_does_not_park_in_the_room() {
    let _serial = serial();
    quiet_planned_panics();
    within(Duration::from_secs(30), || {
        let pool = barging(1, FOREVER);
        let mut held = hold(&pool);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let out = rt.block_on(async {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.run(|| ())))
        });
        let payload = out.expect_err("the call must refuse to park");
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        assert!(message.contains("current-thread"), "{message}");
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (1, 0), "{s:?}");
        assert_eq!(held.assert_ready(), Ok(()));
        let s = pool.stats();
        assert_eq!(s.cancelled, 1, "{s:?}");
        assert_accounted(&s);
    });
}

/// In a current-thread runtime's context off its driving thread
/// (`spawn_blocking`), a sync call waits, but in the queue (barging is
/// skipped there): a call queued after it comes after it.
#[test]
fn in_a_current_thread_runtimes_blocking_thread_a_sync_call_queues() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = barging(1, FOREVER);
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut held = hold(&pool);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let caller = rt.spawn_blocking({
            let (pool, log) = (pool.clone(), log.clone());
            move || pool.run(move || log.lock().unwrap().push("blocking"))
        });
        wait_until(|| pool.stats().waiting == 1);
        let mut later = Task::new({
            let (pool, log) = (pool.clone(), log.clone());
            async move {
                pool.submit(async move { log.lock().unwrap().push("later") })
                    .await
            }
        });
        later.assert_pending();
        assert_eq!(held.assert_ready(), Ok(()));
        // Queued first, the blocking caller gets the slot (were it in the
        // room, the slot would be the later call's, not polled until the
        // caller is done: a hang).
        assert_eq!(rt.block_on(caller).unwrap(), Ok(()));
        assert_eq!(later.assert_ready(), Ok(()));
        assert_eq!(*log.lock().unwrap(), ["blocking", "later"]);
    });
}

/// A sync call made right in a multi-thread runtime's `block_on` (not on a
/// worker) waits in the room while a task of the runtime holds the slot,
/// and is woken by its release.
#[test]
fn a_sync_call_in_a_multi_thread_block_on_waits_in_the_room() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let rt = common::runtime();
        let pool = barging(1, FOREVER);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let holder = rt.spawn({
            let pool = pool.clone();
            async move {
                pool.submit(async move {
                    let _ = rx.await;
                })
                .await
            }
        });
        wait_until(|| pool.stats().running == 1);
        let releaser = thread::spawn({
            let pool = pool.clone();
            move || {
                wait_until(|| pool.stats().waiting == 1);
                tx.send(()).unwrap();
            }
        });
        let out = rt.block_on(async { pool.run(|| 5) });
        assert_eq!(out, Ok(5));
        releaser.join().unwrap();
        assert_eq!(rt.block_on(holder).unwrap(), Ok(()));
        let s = pool.stats();
        assert_eq!((s.completed, s.waiting, s.running), (2, 0, 0), "{s:?}");
    });
}

// ---- orders ----------------------------------------------------------------

/// Priority order: a caller in the room does not take the slot owed to a
/// queued call, whatever its weight; past its bound it queues by weight,
/// ahead of a less urgent call queued before it.
#[test]
fn priority_order_a_room_caller_queues_by_weight_after_its_bound() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = Pool::builder()
            .order(pool_runtime::Order::Priority)
            .size(1)
            .sync_barging(Duration::from_millis(20))
            .build()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut held = hold(&pool);
        let mut batch = Task::new({
            let (pool, log) = (pool.clone(), log.clone());
            async move {
                pool.submit_weighted(10, async move { log.lock().unwrap().push("batch") })
                    .await
            }
        });
        batch.assert_pending();
        let rx = spawn_caller({
            let (pool, log) = (pool.clone(), log.clone());
            move || pool.run_weighted(0, move || log.lock().unwrap().push("urgent"))
        });
        wait_until(|| pool.stats().waiting == 2);
        // Past the bound: the urgent caller is queued, ahead of the batch.
        thread::sleep(Duration::from_millis(200));
        assert_eq!(held.assert_ready(), Ok(()));
        assert_eq!(outcome(&rx, Duration::from_secs(10)), Ok(()));
        assert_eq!(batch.assert_ready(), Ok(()));
        assert_eq!(*log.lock().unwrap(), ["urgent", "batch"]);
    });
}

/// LIFO order: a slot freed while a call is queued goes to the queue (the
/// newest queued call), never to a caller in the room.
#[test]
fn lifo_order_a_freed_slot_goes_to_the_queue_not_the_room() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = Pool::builder()
            .order(pool_runtime::Order::Lifo)
            .size(1)
            .sync_barging(FOREVER)
            .build()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut held = hold(&pool);
        let rx = spawn_caller({
            let (pool, log) = (pool.clone(), log.clone());
            move || pool.run(move || log.lock().unwrap().push("room"))
        });
        wait_until(|| pool.stats().waiting == 1);
        let mut queued: Vec<_> = (0..2)
            .map(|i| {
                let (pool, log) = (pool.clone(), log.clone());
                Task::new(async move {
                    pool.submit(async move { log.lock().unwrap().push(["q0", "q1"][i]) })
                        .await
                })
            })
            .collect();
        for q in &mut queued {
            q.assert_pending();
        }
        assert_eq!(held.assert_ready(), Ok(()));
        thread::sleep(Duration::from_millis(100));
        assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
        assert_eq!(queued[1].assert_ready(), Ok(()));
        thread::sleep(Duration::from_millis(100));
        assert_eq!(*log.lock().unwrap(), ["q1"]);
        assert_eq!(queued[0].assert_ready(), Ok(()));
        assert_eq!(outcome(&rx, Duration::from_secs(10)), Ok(()));
        assert_eq!(*log.lock().unwrap(), ["q1", "q0", "room"]);
    });
}

// ---- reporting -------------------------------------------------------------

/// Feature `metrics`: a caller in the room is in the `pooled.waiting` gauge
/// (once, also after it moves on to the queue), leaves it when admitted or
/// turned away, and the `pooled.calls` counters match the pool's `Stats`.
#[cfg(feature = "metrics")]
#[test]
fn the_waiting_gauge_counts_a_room_wait_once() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let capture: &'static common::Capture = Box::leak(Box::default());
        let name = "adv_barging_metrics";
        let pool = metrics::with_local_recorder(capture, || {
            Pool::builder()
                .name(name)
                .size(1)
                .sync_barging(Duration::from_millis(30))
                .build()
                .unwrap()
        });
        let gauge = |g: &str| capture.gauge(g, name).unwrap_or(f64::NAN);
        let mut held = hold(&pool);
        let rx = spawn_caller({
            let pool = pool.clone();
            move || pool.run(|| ())
        });
        wait_until(|| pool.stats().waiting == 1);
        assert_eq!(gauge("pooled.waiting"), 1.0);
        // Past the bound, in the queue now: still once.
        thread::sleep(Duration::from_millis(150));
        assert_eq!(gauge("pooled.waiting"), 1.0);
        assert_eq!(held.assert_ready(), Ok(()));
        assert_eq!(outcome(&rx, Duration::from_secs(10)), Ok(()));
        assert_eq!(
            (gauge("pooled.waiting"), gauge("pooled.running")),
            (0.0, 0.0)
        );
        // Turned away from the room by an abort.
        let _held = hold(&pool);
        let rx = spawn_caller({
            let pool = pool.clone();
            move || pool.run(|| ())
        });
        wait_until(|| pool.stats().waiting == 1);
        assert_eq!(gauge("pooled.waiting"), 1.0);
        pool.abort();
        assert_eq!(outcome(&rx, Duration::from_secs(10)), Err(Rejected::Closed));
        assert_eq!(gauge("pooled.waiting"), 0.0);
        assert_eq!(capture.calls(name, "rejected", Some("closed")), 1);
        assert_eq!(capture.calls(name, "completed", None), 2);
    });
}

/// Feature `tracing`: the call span's `wait_us` counts the time in the room
/// (the caller waits ~150 ms there before a release admits it).
#[cfg(feature = "tracing")]
#[test]
fn the_call_spans_wait_counts_the_room() {
    let _serial = serial();
    use tracing_subscriber::layer::SubscriberExt;

    /// Every `wait_us` recorded on a span.
    struct WaitUs(Arc<Mutex<Vec<u64>>>);
    struct Visit<'a>(&'a Mutex<Vec<u64>>);
    impl tracing::field::Visit for Visit<'_> {
        fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
            if field.name() == "wait_us" {
                self.0.lock().unwrap().push(value);
            }
        }
        fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
    }
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for WaitUs {
        fn on_record(
            &self,
            _: &tracing::span::Id,
            values: &tracing::span::Record<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            values.record(&mut Visit(&self.0));
        }
    }

    within(Duration::from_secs(30), || {
        let pool = barging(1, FOREVER);
        let held = hold(&pool);
        let releaser = thread::spawn({
            let pool = pool.clone();
            let mut held = held;
            move || {
                wait_until(|| pool.stats().waiting == 1);
                thread::sleep(Duration::from_millis(150));
                assert_eq!(held.assert_ready(), Ok(()));
            }
        });
        let seen = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(WaitUs(seen.clone()));
        let out = tracing::subscriber::with_default(subscriber, || pool.run(|| 1));
        assert_eq!(out, Ok(1));
        releaser.join().unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(seen[0] >= 150_000, "{seen:?}");
    });
}

/// Two slots freed back to back while two callers wait in the room: both
/// callers should be admitted at once. The second release finds the first
/// one's notification still `pending` and skips its own; the caller the
/// first woke takes one slot and does not pass the news on, so the second
/// caller sleeps until its 50 ms re-check with a slot free. Measured over
/// rounds: the slower caller's admission after the releases.
#[test]
fn two_slots_freed_back_to_back_admit_two_callers_in_the_room_at_once() {
    let _serial = serial();
    within(Duration::from_secs(60), || {
        let mut slow = Vec::new();
        for _ in 0..10 {
            let pool = barging(2, FOREVER);
            let held = [hold(&pool), hold(&pool)];
            let admitted: Vec<_> = (0..2)
                .map(|_| {
                    let pool = pool.clone();
                    // Each keeps its slot a while: the first admitted does
                    // not free the slot it took for the other.
                    spawn_caller(move || {
                        pool.run(|| {
                            let admitted = Instant::now();
                            thread::sleep(Duration::from_millis(100));
                            admitted
                        })
                        .unwrap()
                    })
                })
                .collect();
            wait_until(|| pool.stats().waiting == 2);
            thread::sleep(Duration::from_millis(5));
            // Both releases at once, from two threads: the second comes
            // while the first one's notification is pending.
            let barrier = Arc::new(std::sync::Barrier::new(2));
            let [a, b] = held;
            let releasers: Vec<_> = [a, b]
                .into_iter()
                .map(|mut h| {
                    let barrier = barrier.clone();
                    thread::spawn(move || {
                        barrier.wait();
                        assert_eq!(h.assert_ready(), Ok(()));
                    })
                })
                .collect();
            let released = Instant::now();
            for releaser in releasers {
                releaser.join().unwrap();
            }
            let last = admitted
                .iter()
                .map(|rx| outcome(rx, Duration::from_secs(10)))
                .max()
                .unwrap();
            slow.push(last.saturating_duration_since(released));
        }
        let late = slow
            .iter()
            .filter(|d| **d >= Duration::from_millis(30))
            .count();
        assert!(late <= 2, "{slow:?}");
    });
}

/// An autoscaler's growth decided at an intake (an async call's enqueue)
/// frees slots: callers in the room should hear of it at once, as they do
/// of a `resize`. The enqueue path changes the limit without telling the
/// room, so a free slot waits for a room caller's 50 ms re-check.
#[test]
fn an_autoscale_growth_at_an_intake_wakes_the_room() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let clock = ManualClock::new();
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .size(2)
            .min(1)
            .max(8)
            .autoscale_interval(Duration::from_millis(10))
            .autoscale_window(1)
            .clock(Arc::new(clock.clone()))
            .sync_barging(FOREVER)
            .build()
            .unwrap();
        let mut held = [hold(&pool), hold(&pool)];
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let pool = pool.clone();
                spawn_caller(move || {
                    pool.run(|| {
                        let admitted = Instant::now();
                        thread::sleep(Duration::from_millis(200));
                        admitted
                    })
                    .unwrap()
                })
            })
            .collect();
        wait_until(|| pool.stats().waiting == 3);
        thread::sleep(Duration::from_millis(5));
        clock.advance(Duration::from_secs(1));
        // Demand 5 on a limit of 2: grows to 4, two free slots, which the
        // room (woken by the growth) and the trigger may take in any order:
        // the trigger is a newcomer to the room's callers.
        let grown = Instant::now();
        let mut trigger = Task::new({
            let pool = pool.clone();
            async move { pool.submit(PendingOnce::default()).await }
        });
        trigger.assert_pending();
        assert_eq!(pool.size(), 4, "{:?}", pool.stats());
        let first = callers
            .iter()
            .map(|rx| outcome(rx, Duration::from_secs(10)))
            .min()
            .unwrap();
        let waited = first.saturating_duration_since(grown);
        assert!(waited < Duration::from_millis(30), "{waited:?}");
        for h in &mut held {
            assert_eq!(h.assert_ready(), Ok(()));
        }
        // Admitted at its first poll (then it holds until polled again) or
        // queued then (then handed a slot, and done two polls later).
        let done = loop {
            if let std::task::Poll::Ready(out) = trigger.poll() {
                break out;
            }
            thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(done, Ok(()));
    });
}

// ---- limit changes ---------------------------------------------------------

/// A resize down while a caller waits in the room: the freed slots above
/// the new limit are retired, not taken by the room caller, which runs only
/// once the running calls are below the new limit.
#[test]
fn a_resize_down_keeps_a_room_caller_out_until_below_the_new_limit() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = barging(3, FOREVER);
        let mut held = [hold(&pool), hold(&pool), hold(&pool)];
        let ran = Arc::new(AtomicBool::new(false));
        let rx = spawn_caller({
            let (pool, ran) = (pool.clone(), ran.clone());
            move || pool.run(move || ran.store(true, Ordering::SeqCst))
        });
        wait_until(|| pool.stats().waiting == 1);
        assert_eq!(pool.resize(1), 1);
        for (i, h) in held.iter_mut().enumerate() {
            // Longer than the room's re-check: the caller looked since.
            thread::sleep(Duration::from_millis(80));
            assert!(!ran.load(Ordering::SeqCst), "ran with {} running", 3 - i);
            assert_eq!(pool.stats().running, 3 - i);
            assert_eq!(h.assert_ready(), Ok(()));
        }
        assert_eq!(outcome(&rx, Duration::from_secs(10)), Ok(()));
        let s = pool.stats();
        assert_eq!((s.completed, s.running, s.waiting), (4, 0, 0), "{s:?}");
    });
}

/// Shrinking and growing over and over while threads barge: the bodies
/// running at once never exceed the largest limit, every call ends and is
/// counted, nobody waits out a bound.
#[test]
fn resizes_while_threads_barge_keep_the_counts() {
    let _serial = serial();
    within(Duration::from_secs(90), || {
        let pool = barging(2, FOREVER);
        let meter = Meter::default();
        let stop = Arc::new(AtomicBool::new(false));
        let resizer = {
            let (pool, stop) = (pool.clone(), stop.clone());
            thread::spawn(move || {
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    pool.resize([0, 1, 3, 2][i % 4]);
                    thread::sleep(Duration::from_micros(400));
                    i += 1;
                }
                pool.resize(2);
            })
        };
        let started = Instant::now();
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (pool, meter) = (pool.clone(), meter.clone());
                thread::spawn(move || {
                    for _ in 0..300 {
                        pool.run(|| drop(meter.enter())).unwrap();
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        resizer.join().unwrap();
        assert!(meter.max() <= 3, "{}", meter.max());
        let s = pool.stats();
        assert_eq!((s.submitted(), s.completed), (2400, 2400), "{s:?}");
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert!(started.elapsed() < Duration::from_secs(60));
    });
}

/// An adaptive pool (every release locked, fed a sample) with barging,
/// under load: never more than its max at once, every call counted.
#[test]
fn an_adaptive_barging_pool_under_load_keeps_its_max_and_the_counts() {
    let _serial = serial();
    within(Duration::from_secs(90), || {
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .scale_policy(pool_runtime::ScalePolicy::Adaptive(
                pool_runtime::AdaptiveSettings::DEFAULT,
            ))
            .min(1)
            .max(3)
            .sync_barging(Duration::from_millis(2))
            .build()
            .unwrap();
        let meter = Meter::default();
        let workers: Vec<_> = (0..8)
            .map(|t| {
                let (pool, meter) = (pool.clone(), meter.clone());
                thread::spawn(move || {
                    for i in 0..300 {
                        pool.run(|| {
                            let _inside = meter.enter();
                            if (t + i) % 25 == 0 {
                                thread::sleep(Duration::from_micros(300));
                            }
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert!(meter.max() <= 3, "{}", meter.max());
        let s = pool.stats();
        assert_eq!((s.submitted(), s.completed), (2400, 2400), "{s:?}");
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

// ---- under the application-wide ceiling ------------------------------------

static CEILED_A: Group = Group::new(
    GroupSpec::new("adv_barging::ceiled_a")
        .size(1)
        .sync_barging(FOREVER),
);
static CEILED_B: Group = Group::new(
    GroupSpec::new("adv_barging::ceiled_b")
        .size(1)
        .sync_barging(FOREVER),
);
static CEILED_C: Group = Group::new(
    GroupSpec::new("adv_barging::ceiled_c")
        .size(1)
        .sync_barging(FOREVER),
);

/// `Group::run` under a ceiling of 2 (set by the environment, in a child
/// process) over three groups of one slot: a caller waits in its group's
/// room holding its ceiling slot.
/// The ceiling and each group's limit hold, nothing deadlocks (a slot
/// holder never waits for a ceiling slot a room caller holds: it took its
/// own first), every call is counted in the groups and in the ceiling.
#[cfg(feature = "config")]
#[test]
fn group_runs_barging_under_a_ceiling_keep_every_limit() {
    let _serial = serial();
    let name = "group_runs_barging_under_a_ceiling_keep_every_limit";
    common::in_child_process(name, &[(b"POOLED_CEILING", b"2")], || {
        within(Duration::from_secs(15), || {
            let all = Meter::default();
            let groups: [(&'static Group, Meter); 3] = [
                (&CEILED_A, Meter::default()),
                (&CEILED_B, Meter::default()),
                (&CEILED_C, Meter::default()),
            ];
            let groups = Arc::new(groups);
            let workers: Vec<_> = (0..6)
                .map(|t| {
                    let (all, groups) = (all.clone(), groups.clone());
                    thread::spawn(move || {
                        for i in 0..100 {
                            let (group, own) = &groups[(t + i) % 3];
                            group
                                .run(|| {
                                    let (_all, _own) = (all.enter(), own.enter());
                                    if i % 10 == 0 {
                                        thread::sleep(Duration::from_micros(300));
                                    }
                                })
                                .unwrap();
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
            assert_eq!(pool_runtime::ceiling::limit(), Some(2));
            assert!(all.max() <= 2, "ceiling: {}", all.max());
            let mut completed = 0;
            for (group, own) in groups.iter() {
                assert!(own.max() <= 1, "{}", own.max());
                let s = group.pool().stats();
                assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
                assert_accounted(&s);
                completed += s.completed;
            }
            assert_eq!(completed, 600);
            let ceiling = pool_runtime::ceiling::stats().unwrap();
            assert_eq!(ceiling.completed, 600, "{ceiling:?}");
            assert_eq!((ceiling.running, ceiling.waiting), (0, 0), "{ceiling:?}");
        });
    });
}

// ---- pause and close against `Pool::pause` / `Pool::close`'s promise -------

/// `Pool::pause`: "Calls already waiting or running are not affected and
/// keep being admitted"; `Pool::close`: "waiting and running calls
/// finish". A sync caller waiting in the queue (barging off) is admitted
/// through either; the same caller waiting in the room (where it counts as
/// waiting) is turned away `Paused` / `Closed`, as `sync_barging`'s own doc
/// says (and `sync_barging.rs` asserts). The two docs conflict; this test
/// takes `Pool`'s side.
#[test]
fn pause_and_close_leave_a_caller_waiting_in_the_room_as_they_leave_a_queued_one() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        for barge in [None, Some(FOREVER)] {
            for stop in ["pause", "close"] {
                let pool = Pool::fixed(1);
                pool.set_sync_barging(barge);
                let mut held = hold(&pool);
                let rx = spawn_caller({
                    let pool = pool.clone();
                    move || pool.run(|| 1)
                });
                wait_until(|| pool.stats().waiting == 1);
                if stop == "pause" {
                    pool.pause();
                } else {
                    pool.close();
                }
                thread::sleep(Duration::from_millis(100));
                assert_eq!(held.assert_ready(), Ok(()));
                assert_eq!(
                    outcome(&rx, Duration::from_secs(10)),
                    Ok(1),
                    "barging {barge:?}, {stop}"
                );
            }
        }
    });
}
