//! Adversarial tests of sync barging, second round: the semantics that
//! make a caller in the room a *waiting call* (a pause or a close leaves it
//! waiting, an abort turns it away, it keeps a closed pool from draining
//! until the queue's lock takes it, the waiting bound and admission timeout
//! in force when it started judge it, `run_wait` never barges). Each test
//! checks the invariants from outside the pool: the limit (`Meter`), the
//! counts (`assert_accounted`), no body after `drained()` resolved (a flag
//! the bodies read), the room's count back to 0 when quiet, and every
//! caller's return (`within`).

mod common;

use common::barging::{barging, hold, outcome, serial, spawn_caller, wait_until, FOREVER};
use common::{assert_accounted, quiet_planned_panics, within, Meter, Task};
use pool_runtime::{Group, GroupSpec, Kind, Order, Pool, Rejected};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Whether nothing came back on `rx` for `wait` (the caller still waits).
#[track_caller]
fn still_waiting<T: std::fmt::Debug>(rx: &mpsc::Receiver<Result<T, String>>, wait: Duration) {
    match rx.recv_timeout(wait) {
        Err(mpsc::RecvTimeoutError::Timeout) => {}
        Ok(out) => panic!("returned while it should wait: {out:?}"),
        Err(e) => panic!("{e}"),
    }
}

/// Watches `drained()` on a thread: the flag is set the moment it
/// resolves (bodies read it to tell whether they run after it), and the
/// receiver says when.
struct DrainWatch {
    resolved: Arc<AtomicBool>,
    rx: mpsc::Receiver<()>,
}

impl DrainWatch {
    fn start(pool: &Pool) -> DrainWatch {
        let resolved = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let (pool, flag) = (pool.clone(), resolved.clone());
        thread::spawn(move || {
            futures::executor::block_on(pool.drained());
            flag.store(true, Ordering::SeqCst);
            let _ = tx.send(());
        });
        DrainWatch { resolved, rx }
    }

    fn flag(&self) -> Arc<AtomicBool> {
        self.resolved.clone()
    }

    #[track_caller]
    fn assert_pending_for(&self, wait: Duration) {
        match self.rx.recv_timeout(wait) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            other => panic!("drained() resolved early: {other:?}"),
        }
    }

    #[track_caller]
    fn assert_resolves(&self, limit: Duration) {
        self.rx
            .recv_timeout(limit)
            .unwrap_or_else(|_| panic!("drained() did not resolve within {limit:?}"));
    }
}

/// A body that counts itself as late if it starts or ends after `drained()`
/// resolved.
fn watched_body(
    drained: &Arc<AtomicBool>,
    late: &Arc<AtomicU64>,
    meter: &Meter,
    pause: Duration,
) -> impl FnOnce() + Send + 'static {
    let (drained, late, meter) = (drained.clone(), late.clone(), meter.clone());
    move || {
        let _inside = meter.enter();
        if drained.load(Ordering::SeqCst) {
            late.fetch_add(1, Ordering::SeqCst);
        }
        if !pause.is_zero() {
            thread::sleep(pause);
        }
        if drained.load(Ordering::SeqCst) {
            late.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The room's count is back to 0 and the waiting bound admits as many
/// callers into the room as it says (a leaked count would admit fewer):
/// with `size` slots held, `bound` callers wait and the next is `Full`.
#[track_caller]
fn assert_room_admits(pool: &Pool, bound: usize) {
    let s = pool.stats();
    assert_eq!((s.waiting, s.running, s.nested), (0, 0, 0), "{s:?}");
    pool.set_max_waiting(Some(bound)).unwrap();
    let size = pool.size();
    let mut holders: Vec<_> = (0..size).map(|_| hold(pool)).collect();
    let callers: Vec<_> = (0..bound)
        .map(|_| {
            let pool = pool.clone();
            spawn_caller(move || pool.run(|| ()))
        })
        .collect();
    wait_until(|| pool.stats().waiting == bound);
    assert_eq!(pool.run(|| ()), Err(Rejected::Full), "{:?}", pool.stats());
    for holder in &mut holders {
        assert_eq!(holder.assert_ready(), Ok(()));
    }
    for caller in &callers {
        assert_eq!(outcome(caller, Duration::from_secs(10)), Ok(()));
    }
    let s = pool.stats();
    assert_eq!((s.waiting, s.running), (0, 0), "{s:?}");
    assert_accounted(&s);
    pool.set_max_waiting(None).unwrap();
}

// ---- drained() and callers leaving the room ----------------------------------

/// Callers wait in the room of a pool that is then closed: `drained()`
/// stays pending while they wait (in the room or on their way to the
/// queue), resolves once all of them ran, and no body starts or ends after
/// it resolved.
#[test]
fn drained_of_a_closed_pool_waits_for_every_room_caller_to_run() {
    let _serial = serial();
    within(Duration::from_secs(60), || {
        for round in 0..6u64 {
            let pool = barging(1, FOREVER);
            let mut held = hold(&pool);
            let meter = Meter::default();
            let watch = DrainWatch::start(&pool);
            let late = Arc::new(AtomicU64::new(0));
            let callers: Vec<_> = (0..6)
                .map(|_| {
                    let pool = pool.clone();
                    let body = watched_body(
                        &watch.flag(),
                        &late,
                        &meter,
                        Duration::from_millis(round % 3),
                    );
                    spawn_caller(move || pool.run(body))
                })
                .collect();
            wait_until(|| pool.stats().waiting == 6);
            pool.close();
            watch.assert_pending_for(Duration::from_millis(150));
            assert_eq!(pool.stats().waiting, 6, "{:?}", pool.stats());
            assert_eq!(held.assert_ready(), Ok(()));
            watch.assert_resolves(Duration::from_secs(10));
            assert_eq!(meter.done(), 6, "drained before every body ran");
            for caller in &callers {
                assert_eq!(outcome(caller, Duration::from_secs(10)), Ok(()));
            }
            assert_eq!(late.load(Ordering::SeqCst), 0, "a body ran after drained()");
            assert!(meter.max() <= 1);
            let s = pool.stats();
            assert_eq!((s.completed, s.running, s.waiting), (7, 0, 0), "{s:?}");
            assert_accounted(&s);
        }
    });
}

/// A close and then an abort racing with threads that barge on a busy
/// pool, a `drained()` watcher registered before either: every caller
/// returns (`Ok` before its first `Closed`, `Closed` after), no body runs
/// after `drained()` resolved, `drained()` resolves, and the room's count
/// ends at 0.
#[test]
fn close_then_abort_racing_barging_threads_runs_nothing_after_drained() {
    let _serial = serial();
    within(Duration::from_secs(120), || {
        for round in 0..24u64 {
            let size = 1 + (round % 2) as usize;
            let pool = barging(size, FOREVER);
            let meter = Meter::default();
            let watch = DrainWatch::start(&pool);
            let late = Arc::new(AtomicU64::new(0));
            let workers: Vec<_> = (0..6)
                .map(|i| {
                    let (pool, meter, late, drained) =
                        (pool.clone(), meter.clone(), late.clone(), watch.flag());
                    thread::spawn(move || {
                        let mut closed = false;
                        for j in 0..300u64 {
                            let pause =
                                Duration::from_micros(if (i + j) % 7 == 0 { 200 } else { 0 });
                            match pool.run(watched_body(&drained, &late, &meter, pause)) {
                                Ok(()) => assert!(!closed, "admitted after Closed"),
                                Err(Rejected::Closed) => closed = true,
                                Err(other) => panic!("{other:?}"),
                            }
                        }
                    })
                })
                .collect();
            thread::sleep(Duration::from_micros(300 * (round % 6 + 1)));
            pool.close();
            // Sometimes at once, sometimes after some room callers queued.
            if round % 3 != 0 {
                thread::sleep(Duration::from_micros(100 * (round % 4)));
            }
            pool.abort();
            for worker in workers {
                worker.join().unwrap();
            }
            watch.assert_resolves(Duration::from_secs(10));
            assert_eq!(late.load(Ordering::SeqCst), 0, "a body ran after drained()");
            assert!(meter.max() <= size, "{}", meter.max());
            let s = pool.stats();
            assert_eq!(s.submitted(), 1800, "{s:?}");
            assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
            assert_accounted(&s);
        }
    });
}

/// A close without an abort racing with barging threads: everything that
/// was waiting runs, `drained()` resolves after the last body, not before.
#[test]
fn close_racing_barging_threads_drains_after_the_last_body() {
    let _serial = serial();
    within(Duration::from_secs(120), || {
        for round in 0..16u64 {
            let pool = barging(1, FOREVER);
            let meter = Meter::default();
            let watch = DrainWatch::start(&pool);
            let late = Arc::new(AtomicU64::new(0));
            let ok = Arc::new(AtomicU64::new(0));
            let workers: Vec<_> = (0..6)
                .map(|_| {
                    let (pool, meter, late, drained, ok) = (
                        pool.clone(),
                        meter.clone(),
                        late.clone(),
                        watch.flag(),
                        ok.clone(),
                    );
                    thread::spawn(move || loop {
                        let body = watched_body(&drained, &late, &meter, Duration::from_micros(50));
                        match pool.run(body) {
                            Ok(()) => ok.fetch_add(1, Ordering::SeqCst),
                            Err(Rejected::Closed) => break,
                            Err(other) => panic!("{other:?}"),
                        };
                    })
                })
                .collect();
            thread::sleep(Duration::from_micros(500 * (round % 4 + 1)));
            pool.close();
            watch.assert_resolves(Duration::from_secs(10));
            for worker in workers {
                worker.join().unwrap();
            }
            assert_eq!(late.load(Ordering::SeqCst), 0, "a body ran after drained()");
            let s = pool.stats();
            assert_eq!(s.completed, ok.load(Ordering::SeqCst), "{s:?}");
            assert_eq!(s.rejected_for(Rejected::Closed), 6, "{s:?}");
            assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
            assert_accounted(&s);
        }
    });
}

/// A close, and later an abort with the slot still held: the callers that
/// moved from the room into the queue are turned away, and `drained()`
/// still waits for the running holder, then resolves.
#[test]
fn an_abort_long_after_a_close_turns_the_moved_callers_away_and_waits_for_the_holder() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = barging(1, FOREVER);
        let mut held = hold(&pool);
        let ran = Arc::new(AtomicU64::new(0));
        let callers: Vec<_> = (0..5)
            .map(|_| {
                let (pool, ran) = (pool.clone(), ran.clone());
                spawn_caller(move || pool.run(move || ran.fetch_add(1, Ordering::SeqCst)))
            })
            .collect();
        wait_until(|| pool.stats().waiting == 5);
        let watch = DrainWatch::start(&pool);
        pool.close();
        for caller in &callers {
            still_waiting(caller, Duration::from_millis(40));
        }
        assert_eq!(pool.stats().waiting, 5);
        pool.abort();
        for caller in &callers {
            assert_eq!(
                outcome(caller, Duration::from_secs(10)),
                Err(Rejected::Closed)
            );
        }
        let s = pool.stats();
        assert_eq!((s.waiting, s.running), (0, 1), "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Closed), 5, "{s:?}");
        watch.assert_pending_for(Duration::from_millis(150));
        assert_eq!(held.assert_ready(), Ok(()));
        watch.assert_resolves(Duration::from_secs(10));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        let s = pool.stats();
        assert_eq!((s.completed, s.running, s.waiting), (1, 0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

/// Pause, close, resume, abort, one after the other, with callers in the
/// room: the pause and the close leave them waiting (no answer), the resume
/// changes nothing for them, the abort turns them all away; the counts and
/// `drained()` follow.
#[test]
fn pause_close_resume_abort_with_callers_in_the_room() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = barging(1, FOREVER);
        let mut held = hold(&pool);
        let callers: Vec<_> = (0..4)
            .map(|_| {
                let pool = pool.clone();
                spawn_caller(move || pool.run(|| ()))
            })
            .collect();
        wait_until(|| pool.stats().waiting == 4);
        pool.pause();
        assert_eq!(pool.run(|| ()), Err(Rejected::Paused));
        pool.close();
        assert_eq!(pool.run(|| ()), Err(Rejected::Closed));
        pool.resume();
        for caller in &callers {
            still_waiting(caller, Duration::from_millis(40));
        }
        assert_eq!(pool.stats().waiting, 4, "{:?}", pool.stats());
        let watch = DrainWatch::start(&pool);
        pool.abort();
        for caller in &callers {
            assert_eq!(
                outcome(caller, Duration::from_secs(10)),
                Err(Rejected::Closed)
            );
        }
        assert_eq!(held.assert_ready(), Ok(()));
        watch.assert_resolves(Duration::from_secs(10));
        let s = pool.stats();
        assert_eq!(
            (
                s.completed,
                s.rejected_for(Rejected::Closed),
                s.rejected_for(Rejected::Paused)
            ),
            (1, 5, 1),
            "{s:?}"
        );
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

/// An abort while paused, callers in the room: they are turned away (an
/// abort turns away waiting calls, paused or not), not held for `resume`.
#[test]
fn an_abort_of_a_paused_pool_turns_room_callers_away() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = barging(1, FOREVER);
        let mut held = hold(&pool);
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let pool = pool.clone();
                spawn_caller(move || pool.run(|| ()))
            })
            .collect();
        wait_until(|| pool.stats().waiting == 3);
        pool.pause();
        pool.abort();
        for caller in &callers {
            assert_eq!(
                outcome(caller, Duration::from_secs(10)),
                Err(Rejected::Closed)
            );
        }
        assert_eq!(held.assert_ready(), Ok(()));
        let watch = DrainWatch::start(&pool);
        watch.assert_resolves(Duration::from_secs(10));
        let s = pool.stats();
        assert_eq!((s.running, s.waiting, s.completed), (0, 0, 1), "{s:?}");
        assert_accounted(&s);
    });
}

// ---- a pause leaves them waiting -------------------------------------------------

/// A pause sends the room's callers into the queue, where the slot the
/// holder frees is handed to the first of them although the pool is paused
/// (as a queued call is handed one), while a new caller is turned away
/// `Paused`; the rest run one by one, still paused.
#[test]
fn a_paused_pool_hands_a_freed_slot_to_the_callers_that_were_in_the_room() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = barging(1, FOREVER);
        let mut held = hold(&pool);
        let meter = Meter::default();
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let (pool, meter) = (pool.clone(), meter.clone());
                spawn_caller(move || {
                    pool.run(move || {
                        let _inside = meter.enter();
                        thread::sleep(Duration::from_millis(5));
                    })
                })
            })
            .collect();
        wait_until(|| pool.stats().waiting == 3);
        pool.pause();
        for caller in &callers {
            still_waiting(caller, Duration::from_millis(40));
        }
        assert_eq!(held.assert_ready(), Ok(()));
        for caller in &callers {
            assert_eq!(outcome(caller, Duration::from_secs(10)), Ok(()));
        }
        assert!(pool.is_paused());
        assert_eq!(pool.run(|| ()), Err(Rejected::Paused));
        assert!(meter.max() <= 1);
        let s = pool.stats();
        assert_eq!((s.completed, s.running, s.waiting), (4, 0, 0), "{s:?}");
        assert_accounted(&s);
        pool.resume();
        assert_room_admits(&pool, 2);
    });
}

// ---- the room's count never leaks ----------------------------------------------

/// A storm of pauses, resumes, barging toggles, waiting-bound and
/// timeout reloads while threads barge: every call ends with an expected
/// outcome, the limit holds, and once quiet the room is empty and the
/// waiting bound admits exactly as many callers as it says.
#[test]
fn reload_and_pause_storms_while_threads_barge_leak_no_room_count() {
    let _serial = serial();
    within(Duration::from_secs(120), || {
        let pool = barging(2, Duration::from_millis(30));
        let meter = Meter::default();
        let stop = Arc::new(AtomicBool::new(false));
        let stormer = {
            let (pool, stop) = (pool.clone(), stop.clone());
            thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    match i % 6 {
                        0 => pool.pause(),
                        1 => pool.resume(),
                        2 => pool
                            .set_max_waiting(if i % 12 == 2 { Some(1) } else { None })
                            .unwrap(),
                        3 => pool.set_admission_timeout(if i % 12 == 3 {
                            Some(Duration::from_millis(1))
                        } else {
                            None
                        }),
                        4 => pool.set_sync_barging(if i % 12 == 4 {
                            None
                        } else {
                            Some(Duration::from_millis(30))
                        }),
                        _ => pool.set_sync_barging(Some(FOREVER)),
                    }
                    i += 1;
                    thread::sleep(Duration::from_micros(300));
                }
                pool.resume();
                pool.set_max_waiting(None).unwrap();
                pool.set_admission_timeout(None);
                pool.set_sync_barging(Some(FOREVER));
                i
            })
        };
        let counts = Arc::new(Mutex::new([0u64; 4]));
        let workers: Vec<_> = (0..6)
            .map(|w| {
                let (pool, meter, counts) = (pool.clone(), meter.clone(), counts.clone());
                thread::spawn(move || {
                    let mut local = [0u64; 4];
                    for i in 0..300u64 {
                        let out = pool.run(|| {
                            let _inside = meter.enter();
                            if (i + w) % 25 == 0 {
                                thread::sleep(Duration::from_micros(500));
                            }
                        });
                        match out {
                            Ok(()) => local[0] += 1,
                            Err(Rejected::Paused) => local[1] += 1,
                            Err(Rejected::Full) => local[2] += 1,
                            Err(Rejected::TimedOut) => local[3] += 1,
                            Err(other) => panic!("{other:?}"),
                        }
                    }
                    let mut counts = counts.lock().unwrap();
                    for (total, n) in counts.iter_mut().zip(local) {
                        *total += n;
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        assert!(stormer.join().unwrap() > 0);
        assert!(meter.max() <= 2, "{}", meter.max());
        let [ok, paused, full, timed_out] = *counts.lock().unwrap();
        assert_eq!(ok + paused + full + timed_out, 1800);
        let s = pool.stats();
        assert_eq!(
            (
                s.completed,
                s.rejected_for(Rejected::Paused),
                s.rejected_for(Rejected::Full),
                s.rejected_for(Rejected::TimedOut)
            ),
            (ok, paused, full, timed_out),
            "{s:?}"
        );
        assert_accounted(&s);
        assert_room_admits(&pool, 3);
    });
}

/// Bodies that panic while an abort turns the room's callers away: the
/// panics reach their callers, the others end `Ok` or `Closed`, the limit
/// holds, the counts add up (panicked among completed), and the room ends
/// empty.
#[test]
fn panicking_bodies_during_an_abort_are_accounted() {
    let _serial = serial();
    quiet_planned_panics();
    within(Duration::from_secs(90), || {
        for round in 0..8u64 {
            let pool = barging(2, FOREVER);
            let meter = Meter::default();
            let counts = Arc::new(Mutex::new([0u64; 3]));
            let workers: Vec<_> = (0..6)
                .map(|w| {
                    let (pool, meter, counts) = (pool.clone(), meter.clone(), counts.clone());
                    thread::spawn(move || {
                        let mut local = [0u64; 3];
                        for i in 0..200u64 {
                            let meter = meter.clone();
                            let out =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    pool.run(move || {
                                        let _inside = meter.enter();
                                        if (i + w) % 5 == 0 {
                                            panic!("planned: a body panics");
                                        }
                                    })
                                }));
                            match out {
                                Ok(Ok(())) => local[0] += 1,
                                Ok(Err(Rejected::Closed)) => local[1] += 1,
                                Ok(Err(other)) => panic!("{other:?}"),
                                Err(_) => local[2] += 1,
                            }
                        }
                        let mut counts = counts.lock().unwrap();
                        for (total, n) in counts.iter_mut().zip(local) {
                            *total += n;
                        }
                    })
                })
                .collect();
            thread::sleep(Duration::from_micros(400 * (round % 4 + 1)));
            let watch = DrainWatch::start(&pool);
            pool.abort();
            for worker in workers {
                worker.join().unwrap();
            }
            watch.assert_resolves(Duration::from_secs(10));
            assert!(meter.max() <= 2);
            let [ok, closed, panicked] = *counts.lock().unwrap();
            assert_eq!(ok + closed + panicked, 1200);
            let s = pool.stats();
            assert_eq!(
                (s.completed, s.panicked, s.rejected_for(Rejected::Closed)),
                (ok + panicked, panicked, closed),
                "{s:?}"
            );
            assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
            assert_accounted(&s);
        }
    });
}

/// The last `Pool` handle outside is dropped while callers wait in the
/// room (each holds a clone): they still run once the slot frees, and a
/// clone kept by the drain watcher sees the pool drain after a close made
/// through another clone.
#[test]
fn callers_in_the_room_outlive_the_last_outside_handle() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = barging(1, FOREVER);
        let mut held = hold(&pool);
        let closer = pool.clone();
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let pool = pool.clone();
                spawn_caller(move || pool.run(|| 5))
            })
            .collect();
        wait_until(|| pool.stats().waiting == 3);
        let watch = DrainWatch::start(&pool);
        drop(pool);
        closer.close();
        drop(closer);
        watch.assert_pending_for(Duration::from_millis(150));
        assert_eq!(held.assert_ready(), Ok(()));
        for caller in &callers {
            assert_eq!(outcome(caller, Duration::from_secs(10)), Ok(5));
        }
        watch.assert_resolves(Duration::from_secs(10));
    });
}

// ---- the bound and the timeout in force when it started -------------------------------

/// A caller that started waiting under a 400 ms admission timeout keeps it
/// through a close (which moves it into the queue) and a reload to no
/// timeout: it is turned away `TimedOut` after about 400 ms, not held for
/// good; one that started with no timeout is not timed out by a 150 ms
/// timeout set later, through the close.
#[test]
fn the_timeout_a_room_caller_started_with_judges_it_after_a_close() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        // Started under a timeout, reloaded to none, closed.
        let pool = barging(1, FOREVER);
        pool.set_admission_timeout(Some(Duration::from_millis(400)));
        let mut held = hold(&pool);
        let started = Instant::now();
        let rx = spawn_caller({
            let pool = pool.clone();
            move || (pool.run(|| ()), Instant::now())
        });
        wait_until(|| pool.stats().waiting == 1);
        pool.set_admission_timeout(None);
        pool.close();
        let (out, at) = outcome(&rx, Duration::from_secs(10));
        assert_eq!(out, Err(Rejected::TimedOut));
        assert!(
            at - started >= Duration::from_millis(400),
            "{:?}",
            at - started
        );
        assert_eq!(held.assert_ready(), Ok(()));
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_accounted(&s);

        // Started with none, a timeout set later, closed.
        let pool = barging(1, FOREVER);
        let mut held = hold(&pool);
        let rx = spawn_caller({
            let pool = pool.clone();
            move || pool.run(|| 3)
        });
        wait_until(|| pool.stats().waiting == 1);
        pool.set_admission_timeout(Some(Duration::from_millis(150)));
        pool.close();
        still_waiting(&rx, Duration::from_millis(450));
        assert_eq!(held.assert_ready(), Ok(()));
        assert_eq!(outcome(&rx, Duration::from_secs(10)), Ok(3));
        let s = pool.stats();
        assert_eq!((s.completed, s.running, s.waiting), (2, 0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

/// Callers admitted into the room under a waiting bound of 3, then a bound
/// of 0 and a pause: moving into the queue, none is turned away `Full`;
/// after a resume they all run.
#[test]
fn a_waiting_bound_lowered_to_zero_then_a_pause_turns_no_room_caller_away() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = barging(1, FOREVER);
        pool.set_max_waiting(Some(3)).unwrap();
        let mut held = hold(&pool);
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let pool = pool.clone();
                spawn_caller(move || pool.run(|| ()))
            })
            .collect();
        wait_until(|| pool.stats().waiting == 3);
        pool.set_max_waiting(Some(0)).unwrap();
        pool.pause();
        for caller in &callers {
            still_waiting(caller, Duration::from_millis(40));
        }
        pool.resume();
        assert_eq!(pool.run(|| ()), Err(Rejected::Full));
        assert_eq!(held.assert_ready(), Ok(()));
        for caller in &callers {
            assert_eq!(outcome(caller, Duration::from_secs(10)), Ok(()));
        }
        let s = pool.stats();
        assert_eq!(
            (s.completed, s.rejected_for(Rejected::Full), s.waiting),
            (4, 1, 0),
            "{s:?}"
        );
        assert_accounted(&s);
        pool.set_max_waiting(None).unwrap();
        assert_room_admits(&pool, 2);
    });
}

// ---- order -----------------------------------------------------------------------

/// A priority pool, closed with callers of several weights in the room and
/// an async call already queued: they all end up in the queue and run by
/// weight (smaller first), the async one among them.
#[test]
fn priority_order_holds_for_room_callers_moved_into_the_queue_by_a_close() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .sync_barging(FOREVER)
            .build()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut held = hold(&pool);
        let mut queued = Task::new({
            let (pool, log) = (pool.clone(), log.clone());
            async move {
                pool.submit_weighted(25, async move { log.lock().unwrap().push(25) })
                    .await
            }
        });
        queued.assert_pending();
        let callers: Vec<_> = [40i64, 10, 30, 20]
            .into_iter()
            .map(|weight| {
                let (pool, log) = (pool.clone(), log.clone());
                let rx = spawn_caller(move || {
                    pool.run_weighted(weight, move || log.lock().unwrap().push(weight))
                });
                rx
            })
            .collect();
        // (The async call queued first: the callers all wait in the room,
        // none may take the queue's slot.)
        wait_until(|| pool.stats().waiting == 5);
        pool.close();
        // Time for the woken callers to take their places in the queue (no
        // outside sign tells the room from the queue).
        thread::sleep(Duration::from_millis(300));
        assert_eq!(held.assert_ready(), Ok(()));
        // 10 and 20 run, then the slot is handed to the async call, which
        // runs when polled (the 30 and 40 wait for it meanwhile).
        wait_until(|| queued.is_woken());
        assert_eq!(*log.lock().unwrap(), [10, 20]);
        assert_eq!(pool.stats().waiting, 2, "{:?}", pool.stats());
        assert_eq!(queued.assert_ready(), Ok(()));
        for caller in &callers {
            assert_eq!(outcome(caller, Duration::from_secs(10)), Ok(()));
        }
        assert_eq!(*log.lock().unwrap(), [10, 20, 25, 30, 40]);
        let s = pool.stats();
        assert_eq!((s.completed, s.running, s.waiting), (6, 0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

static WAIT_FIRST: Group = Group::new(
    GroupSpec::new("adv_barging2::wait_first")
        .size(1)
        .sync_barging(FOREVER),
);

/// `run_wait` barges as `run` does (it waits in the room, which its
/// waiting bound does not keep it out of), and an abort, which turns the
/// room's rejecting callers away, leaves it waiting, as it leaves queued
/// never-rejecting calls: it takes its place in the queue and runs once the
/// held slot frees, in the closed pool.
#[test]
fn run_wait_waits_in_the_room_and_an_abort_leaves_it_waiting_to_run() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let group = &WAIT_FIRST;
        let pool = group.pool();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut held = hold(pool);
        let barger = spawn_caller({
            let log = log.clone();
            move || WAIT_FIRST.run(move || log.lock().unwrap().push("barger"))
        });
        wait_until(|| pool.stats().waiting == 1);
        let waiter = spawn_caller({
            let log = log.clone();
            move || WAIT_FIRST.run_wait(0, move || log.lock().unwrap().push("run_wait"))
        });
        wait_until(|| pool.stats().waiting == 2);
        pool.abort();
        assert_eq!(
            outcome(&barger, Duration::from_secs(10)),
            Err(Rejected::Closed),
            "the abort turns the rejecting caller away"
        );
        wait_until(|| pool.stats().waiting == 1);
        assert!(log.lock().unwrap().is_empty(), "nothing ran yet");
        assert_eq!(held.assert_ready(), Ok(()));
        outcome(&waiter, Duration::from_secs(10));
        assert_eq!(*log.lock().unwrap(), ["run_wait"]);
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

static GROUP_CLOSE: Group = Group::new(
    GroupSpec::new("adv_barging2::group_close")
        .size(2)
        .sync_barging(FOREVER),
);

/// A barging group: `Group::pause` leaves its room callers waiting, a
/// close of its pool too; they all run once the slots free, new calls are
/// turned away, and the group's pool drains.
#[test]
fn a_barging_groups_pause_and_close_leave_room_callers_waiting() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let group = &GROUP_CLOSE;
        let pool = group.pool();
        let meter = Meter::default();
        let mut holders = [hold(pool), hold(pool)];
        let callers: Vec<_> = (0..4)
            .map(|_| {
                let meter = meter.clone();
                spawn_caller(move || GROUP_CLOSE.run(move || drop(meter.enter())))
            })
            .collect();
        wait_until(|| group.stats().waiting == 4);
        group.pause();
        assert_eq!(group.run(|| ()), Err(Rejected::Paused));
        pool.close();
        group.resume();
        assert_eq!(group.run(|| ()), Err(Rejected::Closed));
        for caller in &callers {
            still_waiting(caller, Duration::from_millis(40));
        }
        let watch = DrainWatch::start(pool);
        watch.assert_pending_for(Duration::from_millis(150));
        for holder in &mut holders {
            assert_eq!(holder.assert_ready(), Ok(()));
        }
        for caller in &callers {
            assert_eq!(outcome(caller, Duration::from_secs(10)), Ok(()));
        }
        watch.assert_resolves(Duration::from_secs(10));
        assert!(meter.max() <= 2);
        let s = group.stats();
        assert_eq!((s.completed, s.running, s.waiting), (6, 0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

// ---- autoscale ---------------------------------------------------------------------

/// An autoscaled barging pool under load, closed, then drained: the max
/// holds, nothing runs after `drained()`, the counts add up.
#[test]
fn an_autoscaled_barging_pool_closed_under_load_drains_cleanly() {
    let _serial = serial();
    within(Duration::from_secs(120), || {
        for round in 0..6u64 {
            let pool = Pool::builder()
                .kind(Kind::Autoscale)
                .size(1)
                .min(1)
                .max(3)
                .autoscale_interval(Duration::from_millis(1))
                .autoscale_window(1)
                .sync_barging(FOREVER)
                .build()
                .unwrap();
            let meter = Meter::default();
            let watch = DrainWatch::start(&pool);
            let late = Arc::new(AtomicU64::new(0));
            let workers: Vec<_> = (0..6)
                .map(|_| {
                    let (pool, meter, late, drained) =
                        (pool.clone(), meter.clone(), late.clone(), watch.flag());
                    thread::spawn(move || loop {
                        let body =
                            watched_body(&drained, &late, &meter, Duration::from_micros(100));
                        match pool.run(body) {
                            Ok(()) => {}
                            Err(Rejected::Closed) => break,
                            Err(other) => panic!("{other:?}"),
                        }
                    })
                })
                .collect();
            thread::sleep(Duration::from_millis(5 + 5 * round));
            if round % 2 == 0 {
                pool.close();
            } else {
                pool.abort();
            }
            for worker in workers {
                worker.join().unwrap();
            }
            watch.assert_resolves(Duration::from_secs(10));
            assert_eq!(late.load(Ordering::SeqCst), 0, "a body ran after drained()");
            assert!(meter.max() <= 3, "{}", meter.max());
            let s = pool.stats();
            assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
            assert_accounted(&s);
        }
    });
}

// ---- shutdown with a deadline ------------------------------------------------------

/// `shutdown` with a zero timeout while callers wait in the room: it closes
/// (they move toward the queue), finds the pool not drained, aborts. Its
/// report must not count them as never-rejecting calls left `waiting`:
/// they are all turned away, so `turned_away` is 3 and `waiting` 0.
#[test]
fn shutdown_past_its_deadline_reports_room_callers_as_turned_away() {
    let _serial = serial();
    within(Duration::from_secs(60), || {
        for _ in 0..20 {
            let pool = barging(1, FOREVER);
            let mut held = hold(&pool);
            let callers: Vec<_> = (0..3)
                .map(|_| {
                    let pool = pool.clone();
                    spawn_caller(move || pool.run(|| ()))
                })
                .collect();
            wait_until(|| pool.stats().waiting == 3);
            let err = futures::executor::block_on(pool.shutdown(Some(Duration::ZERO)))
                .expect_err("a slot is held");
            for caller in &callers {
                assert_eq!(
                    outcome(caller, Duration::from_secs(10)),
                    Err(Rejected::Closed)
                );
            }
            assert_eq!(held.assert_ready(), Ok(()));
            assert_eq!(
                (err.running, err.turned_away, err.waiting),
                (1, 3, 0),
                "{err:?}"
            );
            let s = pool.stats();
            assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
            assert_accounted(&s);
        }
    });
}

// ---- more pause and abort races ---------------------------------------------------

/// A resize up of a paused pool admits the caller that a pause moved from
/// the room into the queue (as it admits any queued call), while a new
/// caller is still turned away `Paused`.
#[test]
fn a_resize_up_of_a_paused_pool_admits_the_caller_moved_from_the_room() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = barging(1, FOREVER);
        let mut held = hold(&pool);
        let rx = spawn_caller({
            let pool = pool.clone();
            move || pool.run(|| 9)
        });
        wait_until(|| pool.stats().waiting == 1);
        pool.pause();
        still_waiting(&rx, Duration::from_millis(40));
        pool.resize(2);
        assert_eq!(outcome(&rx, Duration::from_secs(10)), Ok(9));
        assert_eq!(pool.run(|| ()), Err(Rejected::Paused));
        assert_eq!(held.assert_ready(), Ok(()));
        let s = pool.stats();
        assert_eq!((s.completed, s.running, s.waiting), (2, 0, 0), "{s:?}");
        assert_accounted(&s);
    });
}

/// A pause and, at once, the holder's release: the room's caller, on its
/// way to the queue or still in the room, ends with the slot (handed to it
/// in the queue, or taken as a queued call would be handed it), never
/// `Paused`; a new caller is `Paused`.
#[test]
fn a_pause_with_the_slot_freed_at_once_still_admits_the_room_caller() {
    let _serial = serial();
    within(Duration::from_secs(60), || {
        for _ in 0..40 {
            let pool = barging(1, FOREVER);
            let mut held = hold(&pool);
            let callers: Vec<_> = (0..2)
                .map(|_| {
                    let pool = pool.clone();
                    spawn_caller(move || pool.run(|| ()))
                })
                .collect();
            wait_until(|| pool.stats().waiting == 2);
            pool.pause();
            assert_eq!(held.assert_ready(), Ok(()));
            for caller in &callers {
                assert_eq!(outcome(caller, Duration::from_secs(10)), Ok(()));
            }
            assert_eq!(pool.run(|| ()), Err(Rejected::Paused));
            let s = pool.stats();
            assert_eq!((s.completed, s.running, s.waiting), (3, 0, 0), "{s:?}");
            assert_accounted(&s);
        }
    });
}

/// An abort racing with the holder's release, callers in the room: each
/// caller runs (handed the slot before the abort) or is turned away
/// `Closed`; `drained()` resolves, no body after it, the counts add up.
#[test]
fn an_abort_racing_the_holders_release_leaves_nothing_behind() {
    let _serial = serial();
    within(Duration::from_secs(60), || {
        for round in 0..40u64 {
            let pool = barging(1, FOREVER);
            let mut held = hold(&pool);
            let meter = Meter::default();
            let watch = DrainWatch::start(&pool);
            let late = Arc::new(AtomicU64::new(0));
            let callers: Vec<_> = (0..3)
                .map(|_| {
                    let pool = pool.clone();
                    let body = watched_body(&watch.flag(), &late, &meter, Duration::ZERO);
                    spawn_caller(move || pool.run(body))
                })
                .collect();
            wait_until(|| pool.stats().waiting == 3);
            if round % 2 == 0 {
                pool.close();
            }
            let aborter = {
                let pool = pool.clone();
                thread::spawn(move || pool.abort())
            };
            if round % 4 < 2 {
                thread::yield_now();
            }
            assert_eq!(held.assert_ready(), Ok(()));
            aborter.join().unwrap();
            let mut ok = 0;
            for caller in &callers {
                match outcome(caller, Duration::from_secs(10)) {
                    Ok(()) => ok += 1,
                    Err(Rejected::Closed) => {}
                    Err(other) => panic!("{other:?}"),
                }
            }
            watch.assert_resolves(Duration::from_secs(10));
            assert_eq!(late.load(Ordering::SeqCst), 0, "a body ran after drained()");
            assert!(meter.max() <= 1);
            let s = pool.stats();
            assert_eq!(
                (s.completed, s.rejected_for(Rejected::Closed)),
                (1 + ok, 3 - ok),
                "{s:?}"
            );
            assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
            assert_accounted(&s);
        }
    });
}

/// A caller that started under a 300 ms admission timeout times out in
/// the queue of a closed pool (it moved there from the room): counted
/// `TimedOut`, and `drained()` then resolves with the holder's release.
#[test]
fn a_room_caller_timing_out_in_a_closed_pools_queue_lets_it_drain() {
    let _serial = serial();
    within(Duration::from_secs(30), || {
        let pool = barging(1, FOREVER);
        pool.set_admission_timeout(Some(Duration::from_millis(300)));
        let mut held = hold(&pool);
        let rx = spawn_caller({
            let pool = pool.clone();
            move || pool.run(|| ())
        });
        wait_until(|| pool.stats().waiting == 1);
        let watch = DrainWatch::start(&pool);
        pool.close();
        assert_eq!(
            outcome(&rx, Duration::from_secs(10)),
            Err(Rejected::TimedOut)
        );
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (1, 0), "{s:?}");
        watch.assert_pending_for(Duration::from_millis(150));
        assert_eq!(held.assert_ready(), Ok(()));
        watch.assert_resolves(Duration::from_secs(10));
        let s = pool.stats();
        assert_eq!(
            (s.completed, s.rejected_for(Rejected::TimedOut)),
            (1, 1),
            "{s:?}"
        );
        assert_accounted(&s);
    });
}

/// `shutdown` with a zero timeout on a pool resized to 0 slots, callers in
/// the room and nothing running: it has to turn them away to get the pool
/// drained, so it must not report `Ok` ("not if waiting calls had to be
/// turned away to get there").
#[test]
fn shutdown_that_turns_room_callers_away_never_reports_ok() {
    let _serial = serial();
    within(Duration::from_secs(60), || {
        for round in 0..40 {
            let pool = barging(1, FOREVER);
            pool.resize(0);
            let callers: Vec<_> = (0..3)
                .map(|_| {
                    let pool = pool.clone();
                    spawn_caller(move || pool.run(|| ()))
                })
                .collect();
            wait_until(|| pool.stats().waiting == 3);
            let out = futures::executor::block_on(pool.shutdown(Some(Duration::ZERO)));
            for caller in &callers {
                assert_eq!(
                    outcome(caller, Duration::from_secs(10)),
                    Err(Rejected::Closed)
                );
            }
            let err = out.expect_err(&format!("round {round}: Ok after turning 3 calls away"));
            assert_eq!((err.running, err.turned_away), (0, 3), "{err:?}");
            let s = pool.stats();
            assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
            assert_eq!(s.rejected_for(Rejected::Closed), 3, "{s:?}");
            assert_accounted(&s);
        }
    });
}

/// Pauses, resumes and reloads of the waiting bound, the admission timeout
/// and the barging bound racing with barging threads, then a close and an
/// abort: every caller returns with an expected outcome, nothing runs after
/// `drained()`, the counts add up and the room ends empty.
#[test]
fn reload_storms_ended_by_close_and_abort_drain_cleanly() {
    let _serial = serial();
    within(Duration::from_secs(120), || {
        for round in 0..6u64 {
            let pool = barging(2, Duration::from_millis(20));
            let meter = Meter::default();
            let watch = DrainWatch::start(&pool);
            let late = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let stormer = {
                let (pool, stop) = (pool.clone(), stop.clone());
                thread::spawn(move || {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        match i % 5 {
                            0 => pool.pause(),
                            1 => pool.resume(),
                            2 => pool.set_max_waiting(Some((i % 4) as usize)).unwrap(),
                            3 => pool.set_admission_timeout(
                                (i % 10 == 3).then_some(Duration::from_millis(2)),
                            ),
                            _ => pool.set_sync_barging(
                                (i % 10 != 4).then_some(Duration::from_millis(20)),
                            ),
                        }
                        i += 1;
                        thread::sleep(Duration::from_micros(250));
                    }
                    pool.resume();
                })
            };
            let workers: Vec<_> = (0..6)
                .map(|_| {
                    let (pool, meter, late, drained) =
                        (pool.clone(), meter.clone(), late.clone(), watch.flag());
                    thread::spawn(move || loop {
                        let body = watched_body(&drained, &late, &meter, Duration::from_micros(80));
                        match pool.run(body) {
                            Ok(())
                            | Err(Rejected::Paused)
                            | Err(Rejected::Full)
                            | Err(Rejected::TimedOut) => {}
                            Err(Rejected::Closed) => break,
                            Err(other) => panic!("{other:?}"),
                        }
                    })
                })
                .collect();
            thread::sleep(Duration::from_millis(20 + 5 * round));
            pool.close();
            thread::sleep(Duration::from_millis(round % 3));
            pool.abort();
            for worker in workers {
                worker.join().unwrap();
            }
            stop.store(true, Ordering::Relaxed);
            stormer.join().unwrap();
            watch.assert_resolves(Duration::from_secs(10));
            assert_eq!(late.load(Ordering::SeqCst), 0, "a body ran after drained()");
            assert!(meter.max() <= 2, "{}", meter.max());
            let s = pool.stats();
            assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
            assert_eq!(s.completed, meter.done() as u64, "{s:?}");
            assert_accounted(&s);
        }
    });
}

// ---- a waker's panic at an autoscale growth in the queue's intake ------------------

/// Two callers wait in the room of an autoscaled pool (2 slots held, an
/// async call queued whose waker panics when woken). An interval passes
/// and a pause sends both callers to the queue's lock: the first one there
/// finds an evaluation due (demand 4 on a limit of 2) and grows the pool to
/// 4, which admits the queued call (its waker panics as it is woken, after
/// the lock) and then the caller itself, directly. Whatever the panic does
/// to that caller, its slot must not be lost, nor the room's count: once
/// everything ends, nothing runs or waits, the counts add up, and the
/// closed pool drains.
#[test]
fn a_wakers_panic_at_a_growth_in_a_room_callers_intake_loses_no_slot_nor_room_count() {
    let _serial = serial();
    quiet_planned_panics();
    // (In a child process: the bug ends in a panic while unwinding, which
    // aborts the process.)
    let name = "a_wakers_panic_at_a_growth_in_a_room_callers_intake_loses_no_slot_nor_room_count";
    common::in_child_process(name, &[], || {
        within(Duration::from_secs(30), || {
            let clock = pool_runtime::ManualClock::new();
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
            let mut holders = [hold(&pool), hold(&pool)];
            let mut queued = Box::pin({
                let pool = pool.clone();
                async move { pool.submit(async {}).await }
            });
            let panicking = common::panicking_waker();
            let first = queued
                .as_mut()
                .poll(&mut std::task::Context::from_waker(&panicking));
            assert!(first.is_pending());
            let callers: Vec<_> = (0..2)
                .map(|_| {
                    let pool = pool.clone();
                    spawn_caller(move || pool.run(|| ()))
                })
                .collect();
            wait_until(|| pool.stats().waiting == 3);
            clock.advance(Duration::from_secs(1));
            pool.pause();
            // Each caller runs, or has the waker's panic re-raised into it.
            let mut panicked = 0;
            for caller in &callers {
                match caller.recv_timeout(Duration::from_secs(10)) {
                    Ok(Ok(out)) => assert_eq!(out, Ok(())),
                    Ok(Err(panic)) => {
                        assert!(panic.starts_with("planned"), "{panic}");
                        panicked += 1;
                    }
                    Err(e) => {
                        // Still waiting: let the holders go first.
                        for holder in &mut holders {
                            let _ = holder.poll();
                        }
                        panic!("a caller did not return: {e}; {:?}", pool.stats());
                    }
                }
            }
            assert_eq!(pool.size(), 4, "{:?}", pool.stats());
            for holder in &mut holders {
                assert_eq!(holder.assert_ready(), Ok(()));
            }
            match queued
                .as_mut()
                .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
            {
                std::task::Poll::Ready(out) => assert_eq!(out, Ok(())),
                std::task::Poll::Pending => panic!("the queued call was not admitted"),
            }
            pool.resume();
            let s = pool.stats();
            assert_eq!(
                (s.running, s.waiting),
                (0, 0),
                "{panicked} caller(s) panicked; {s:?}"
            );
            assert_accounted(&s);
            let watch = DrainWatch::start(&pool);
            pool.close();
            watch.assert_resolves(Duration::from_secs(5));
        })
    });
}

/// The same re-raise without the room (no barging): an async call whose
/// intake grows the pool (admitting a queued call whose waker panics) and
/// is then turned away `Full` (a waiting bound lowered meanwhile) has the
/// panic re-raised into its poll after it was counted rejected: its drop
/// then counts it cancelled too, and the counts no longer add up.
#[test]
fn a_wakers_panic_at_a_growth_in_an_intake_that_turns_the_call_away_counts_it_once() {
    let _serial = serial();
    quiet_planned_panics();
    within(Duration::from_secs(30), || {
        let clock = pool_runtime::ManualClock::new();
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .size(2)
            .min(1)
            .max(8)
            .autoscale_interval(Duration::from_millis(10))
            .autoscale_window(1)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let mut holders = [hold(&pool), hold(&pool)];
        let mut first = Box::pin({
            let pool = pool.clone();
            async move { pool.submit(async {}).await }
        });
        let panicking = common::panicking_waker();
        let mut cx = std::task::Context::from_waker(&panicking);
        assert!(first.as_mut().poll(&mut cx).is_pending());
        let mut rest: Vec<_> = (0..2)
            .map(|_| {
                let mut task = Task::new({
                    let pool = pool.clone();
                    async move { pool.submit(async {}).await }
                });
                task.assert_pending();
                task
            })
            .collect();
        assert_eq!(pool.stats().waiting, 3);
        pool.set_max_waiting(Some(1)).unwrap();
        clock.advance(Duration::from_secs(1));
        // The intake: demand 5 on 2 slots grows the pool to 4, admitting
        // two queued calls; one stays queued, so the bound of 1 is reached.
        let mut late = Box::pin({
            let pool = pool.clone();
            async move { pool.submit(async {}).await }
        });
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            late.as_mut()
                .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
        }));
        assert_eq!(pool.size(), 4, "{:?}", pool.stats());
        match polled {
            Ok(std::task::Poll::Ready(out)) => assert_eq!(out, Err(Rejected::Full)),
            Ok(std::task::Poll::Pending) => panic!("queued past the bound"),
            Err(_) => {} // the panic re-raised; the counts say the rest
        }
        drop(late);
        for holder in &mut holders {
            assert_eq!(holder.assert_ready(), Ok(()));
        }
        let noop = std::task::Waker::noop();
        match first
            .as_mut()
            .poll(&mut std::task::Context::from_waker(noop))
        {
            std::task::Poll::Ready(out) => assert_eq!(out, Ok(())),
            std::task::Poll::Pending => panic!("the first queued call was not admitted"),
        }
        for task in &mut rest {
            while task.poll().is_pending() {
                thread::sleep(Duration::from_millis(1));
            }
        }
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_eq!(
            (s.rejected_for(Rejected::Full), s.cancelled),
            (1, 0),
            "{s:?}"
        );
        assert_accounted(&s);
    });
}
