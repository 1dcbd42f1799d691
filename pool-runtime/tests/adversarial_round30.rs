//! Hostile tests, round 30 (runtime): the ceiling's priority ranking (waits
//! ranked by a priority group's weight, extreme and many distinct weights,
//! every call form, cancellation, a ceiling lowered, lifted and set again
//! while calls wait, patience bounds, nested calls, hostile wakers); nested
//! calls racing pause, resume and resizes; every form under random steering
//! with the books checked against the outcomes the callers saw; blocking
//! calls dropped at each stage under the ceiling; a group's first use racing
//! loads; a watched file broken, removed and replaced; extreme values; tower
//! and streams over groups under the ceiling; calls at thread exit.
//! Concurrency is counted from outside the library with a meter; every wait
//! is bounded.
//!
//! Bugs found (ignored tests, each confirmed failing): a group's first use
//! rebuilds its pool whenever any load lands while it builds, even one that
//! changes nothing, so loads faster than a build (a slow metrics recorder),
//! or a recorder that refreshes the configuration, keep it from ever
//! completing; a configuration path that is a named pipe (`config::load`,
//! `POOLED_CONFIG`, a watched file replaced by one) blocks for good in the
//! read, holding the loading lock (every later load and first use waits),
//! and a `Watch` whose thread is stuck there cannot be dropped.
#![cfg(feature = "config")]

mod common;

use common::{assert_accounted, within, Meter, Task};
use pool_runtime::{Group, GroupSpec, Order, Pool, Rejected};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(30);

#[track_caller]
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "hung waiting for {what}"
        );
        thread::sleep(Duration::from_millis(2));
    }
}

/// Every call accounted for, nothing left in the pool.
#[track_caller]
fn assert_settled(stats: &pool_runtime::Stats) {
    assert_accounted(stats);
    assert_eq!(
        (stats.running, stats.nested, stats.waiting),
        (0, 0, 0),
        "{stats:?}"
    );
}

fn leaked(pool: Pool) -> &'static Pool {
    Box::leak(Box::new(pool))
}

/// Polls every unfinished task until all are done (a bounded number of
/// sweeps, sleeping a little between them); returns whether all finished.
fn drive<F: std::future::Future>(tasks: &mut [Option<Task<F>>]) -> bool {
    let start = Instant::now();
    loop {
        let mut left = 0;
        for slot in tasks.iter_mut() {
            if let Some(task) = slot {
                if task.poll().is_ready() {
                    *slot = None;
                } else {
                    left += 1;
                }
            }
        }
        if left == 0 {
            return true;
        }
        if start.elapsed() > Duration::from_secs(15) {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------------------
// The ceiling's priority ranking.

mod ceiling_ranks {
    use super::*;
    use pool_runtime::{ceiling, config, register_group};

    static PRIO: Group = Group::new(
        GroupSpec::new("r30::prio")
            .order(Order::Priority)
            .size(1000),
    );
    static FIFO: Group = Group::new(GroupSpec::new("r30::fifo").size(1000));
    static HOLDER: Group = Group::new(GroupSpec::new("r30::holder").size(10));
    static PATIENT: Group = Group::new(
        GroupSpec::new("r30::patient")
            .order(Order::Priority)
            .size(10)
            .admission_timeout(Duration::from_millis(300)),
    );
    register_group!(PRIO);
    register_group!(FIFO);
    register_group!(HOLDER);
    register_group!(PATIENT);

    /// Holds one ceiling slot (a permit of the holder group) until dropped.
    fn hold_ceiling() -> pool_runtime::OwnedPermit {
        let mut t = Task::new(HOLDER.acquire_owned(0));
        match t.poll() {
            Poll::Ready(p) => p.expect("the holder group is open"),
            Poll::Pending => panic!("a ceiling slot is free"),
        }
    }

    #[track_caller]
    fn ceiling_settled() {
        let s = ceiling::stats().expect("a ceiling is set");
        assert_settled(&s);
    }

    /// Promise (ceiling module docs): "Calls waiting for a ceiling slot are
    /// admitted by their weight in their group if it is a priority group
    /// (smaller first), else as weight 0, and in arrival order among equal
    /// weights". Attack: 150 calls of a priority group wait for a ceiling of
    /// one, with i64::MIN, i64::MAX and more than 64 distinct weights (the
    /// queue's sorted vector spills into its tree), interleaved with calls of
    /// a FIFO group (rank 0); every third call is dropped while it waits.
    /// The survivors must run one at a time in (rank, arrival) order, and the
    /// ceiling's books must show the dropped ones as cancelled.
    #[test]
    fn many_distinct_and_extreme_weights_at_the_ceiling_run_by_rank_after_cancellations() {
        common::in_own_process(
            "ceiling_ranks::many_distinct_and_extreme_weights_at_the_ceiling_run_by_rank_after_cancellations",
            &[],
            || {
                config::load_str("r30.toml", "ceiling = 1\n").expect("a valid file");
                within(BOUND, || {
                    let permit = hold_ceiling();
                    let order = Arc::new(Mutex::new(Vec::new()));
                    let meter = Meter::default();
                    let n = 150usize;
                    let weight = |i: usize| -> i64 {
                        match i {
                            0 => i64::MAX,
                            1 => i64::MIN,
                            2 => 0,
                            3 => i64::MIN + 1,
                            4 => i64::MAX - 1,
                            _ => ((i * 7919) % 151) as i64 - 75,
                        }
                    };
                    let mut tasks: Vec<Option<Task<_>>> = (0..n)
                        .map(|i| {
                            let (order, meter) = (order.clone(), meter.clone());
                            let work = async move {
                                let _in = meter.enter();
                                order.lock().unwrap().push(i);
                            };
                            // Every fifth call is the FIFO group's (rank 0).
                            let group = if i % 5 == 4 { &FIFO } else { &PRIO };
                            Some(Task::new(group.submit(weight(i), work)))
                        })
                        .collect();
                    for t in tasks.iter_mut().flatten() {
                        t.assert_pending();
                    }
                    let mut dropped = 0u64;
                    for (i, t) in tasks.iter_mut().enumerate() {
                        if i % 3 == 2 {
                            *t = None;
                            dropped += 1;
                        }
                    }
                    let c = ceiling::stats().unwrap();
                    assert_eq!(c.waiting, n - dropped as usize, "{c:?}");
                    drop(permit);
                    assert!(drive(&mut tasks), "every surviving call runs");
                    let rank = |i: usize| if i % 5 == 4 { 0 } else { weight(i) };
                    let mut expected: Vec<usize> = (0..n).filter(|i| i % 3 != 2).collect();
                    expected.sort_by_key(|&i| (rank(i), i));
                    let order = order.lock().unwrap().clone();
                    assert_eq!(order, expected, "admitted in (rank, arrival) order");
                    assert_eq!(meter.max(), 1, "one at a time under a ceiling of one");
                    let c = ceiling::stats().unwrap();
                    assert_eq!(c.cancelled, dropped, "{c:?}");
                    ceiling_settled();
                    assert_settled(&PRIO.stats());
                    assert_settled(&FIFO.stats());
                    assert_eq!(
                        PRIO.stats().completed + FIFO.stats().completed,
                        n as u64 - dropped
                    );
                });
            },
        );
    }

    /// Promise: every call form of a priority group waits for a ceiling slot
    /// ranked by its weight (commit "the ceiling's pool is a priority pool
    /// and each wait takes the call's weight"; README, ceiling). Attack: a
    /// ceiling of one held; sync `run_weighted` and `run_wait` callers on
    /// threads, `submit`, `submit_wait`, `submit_blocking`, permits and a
    /// judged call wait with distinct weights (i64::MIN and i64::MAX among
    /// them). Released, they run one at a time, smallest weight first.
    #[test]
    fn every_call_form_waits_for_the_ceiling_by_its_weight() {
        common::in_own_process(
            "ceiling_ranks::every_call_form_waits_for_the_ceiling_by_its_weight",
            &[],
            || {
                config::load_str("r30.toml", "ceiling = 1\n").expect("a valid file");
                within(BOUND, || {
                    let permit = hold_ceiling();
                    let order = Arc::new(Mutex::new(Vec::<&'static str>::new()));
                    let meter = Meter::default();
                    let waiting = |k: usize| {
                        wait_until("the ceiling's queue", || {
                            ceiling::stats().unwrap().waiting == k
                        })
                    };
                    let rec = |name: &'static str| {
                        let (order, meter) = (order.clone(), meter.clone());
                        move || {
                            let _in = meter.enter();
                            order.lock().unwrap().push(name);
                            thread::sleep(Duration::from_millis(2));
                        }
                    };
                    // Sync callers first (they park on their threads).
                    let f = rec("run 50");
                    let t1 = thread::spawn(move || PRIO.run_weighted(50, f));
                    waiting(1);
                    let f = rec("run_wait max");
                    let t2 = thread::spawn(move || PRIO.run_wait(i64::MAX, f));
                    waiting(2);
                    let f = rec("submit 30");
                    let mut a = Task::new(PRIO.submit(30, async move { f() }));
                    a.assert_pending();
                    let f = rec("submit_wait min");
                    let mut b = Task::new(PRIO.submit_wait(i64::MIN, async move { f() }));
                    b.assert_pending();
                    let f = rec("blocking 10");
                    let mut c = Task::new(PRIO.submit_blocking(10, f));
                    c.assert_pending();
                    let (o, m) = (order.clone(), meter.clone());
                    let mut d = Task::new(async move {
                        let p = PRIO.acquire_owned(20).await;
                        let _in = m.enter();
                        o.lock().unwrap().push("permit 20");
                        drop(p);
                    });
                    d.assert_pending();
                    let f = rec("judged -5");
                    let mut e = Task::new(PRIO.submit_judged(-5, async move { f() }, |_: &()| {
                        pool_runtime::Verdict::Success
                    }));
                    e.assert_pending();
                    waiting(7);
                    drop(permit);
                    let start = Instant::now();
                    let mut done = [false; 5];
                    while !done.iter().all(|d| *d) {
                        assert!(start.elapsed() < Duration::from_secs(20), "hung");
                        done[0] = done[0] || a.poll().is_ready();
                        done[1] = done[1] || b.poll().is_ready();
                        done[2] = done[2] || c.poll().is_ready();
                        done[3] = done[3] || d.poll().is_ready();
                        done[4] = done[4] || e.poll().is_ready();
                        thread::sleep(Duration::from_millis(1));
                    }
                    t1.join().unwrap().unwrap();
                    t2.join().unwrap();
                    let order = order.lock().unwrap().clone();
                    assert_eq!(
                        order,
                        [
                            "submit_wait min",
                            "judged -5",
                            "blocking 10",
                            "permit 20",
                            "submit 30",
                            "run 50",
                            "run_wait max"
                        ]
                    );
                    assert_eq!(meter.max(), 1);
                    ceiling_settled();
                    assert_settled(&PRIO.stats());
                });
            },
        );
    }

    /// Promise (ceiling docs): "Lowering it lets running calls finish;
    /// raising it admits waiting ones at once"; lifting it lets waiting calls
    /// through; set again, it gates the calls made after it. Attack: two
    /// ceiling slots held and priority calls waiting; the ceiling lowered to
    /// one (a release admits nobody until both are back), then lifted while
    /// calls wait (all let through at once), then set to one again while
    /// those run: the calls made after that wait until the running ones (each
    /// holding a slot of the ceiling's pool) are done, then run one at a
    /// time.
    #[test]
    fn a_ceiling_lowered_lifted_and_set_again_while_calls_wait() {
        common::in_own_process(
            "ceiling_ranks::a_ceiling_lowered_lifted_and_set_again_while_calls_wait",
            &[],
            || {
                config::load_str("r30.toml", "ceiling = 2\n").expect("a valid file");
                within(BOUND, || {
                    let p1 = hold_ceiling();
                    let p2 = hold_ceiling();
                    let order = Arc::new(Mutex::new(Vec::new()));
                    let meter = Meter::default();
                    let mut tasks: Vec<Option<Task<_>>> = (0..6i64)
                        .map(|i| {
                            let (order, meter) = (order.clone(), meter.clone());
                            Some(Task::new(PRIO.submit(6 - i, async move {
                                let _in = meter.enter();
                                order.lock().unwrap().push(6 - i);
                            })))
                        })
                        .collect();
                    for t in tasks.iter_mut().flatten() {
                        t.assert_pending();
                    }
                    config::load_str("r30.toml", "ceiling = 1\n").expect("a valid file");
                    assert_eq!(ceiling::limit(), Some(1));
                    drop(p1);
                    for t in tasks.iter_mut().flatten() {
                        t.assert_pending();
                    }
                    assert_eq!(order.lock().unwrap().len(), 0, "one slot held, limit one");
                    drop(p2);
                    assert!(drive(&mut tasks));
                    assert_eq!(*order.lock().unwrap(), [1, 2, 3, 4, 5, 6]);
                    assert_eq!(meter.max(), 1);
                    ceiling_settled();

                    // Lifted while calls wait: all let through.
                    let p = hold_ceiling();
                    let open = Arc::new(AtomicBool::new(false));
                    let lifted = Meter::default();
                    let mut running: Vec<Option<Task<_>>> = (0..4)
                        .map(|i| {
                            let (open, m) = (open.clone(), lifted.clone());
                            Some(Task::new(PRIO.submit(i, async move {
                                let _in = m.enter();
                                common::Gate(open).await
                            })))
                        })
                        .collect();
                    for t in running.iter_mut().flatten() {
                        t.assert_pending();
                    }
                    assert_eq!(lifted.now(), 0);
                    config::load_str("r30.toml", "").expect("a valid file");
                    assert_eq!(ceiling::limit(), None);
                    for t in running.iter_mut().flatten() {
                        t.assert_pending();
                    }
                    assert_eq!(lifted.now(), 4, "a lifted ceiling lets its waiters through");

                    // Set again while they run: later calls wait for them.
                    config::load_str("r30.toml", "ceiling = 1\n").expect("a valid file");
                    assert_eq!(ceiling::limit(), Some(1));
                    let later = Meter::default();
                    let overlap = Arc::new(AtomicUsize::new(0));
                    let mut next: Vec<Option<Task<_>>> = (0..3)
                        .map(|i| {
                            let (m, l, o) = (later.clone(), lifted.clone(), overlap.clone());
                            Some(Task::new(FIFO.submit(i, async move {
                                let _in = m.enter();
                                o.fetch_max(l.now(), SeqCst);
                            })))
                        })
                        .collect();
                    for t in next.iter_mut().flatten() {
                        t.assert_pending();
                    }
                    open.store(true, SeqCst);
                    assert!(drive(&mut running));
                    for t in next.iter_mut().flatten() {
                        t.assert_pending();
                    }
                    assert_eq!(later.done(), 0, "the holder's slot is still held");
                    drop(p);
                    assert!(drive(&mut next));
                    assert_eq!(later.done(), 3);
                    assert_eq!(later.max(), 1, "one at a time under the new ceiling");
                    assert_eq!(overlap.load(SeqCst), 0, "none beside the lifted ones");
                    ceiling_settled();
                    assert_settled(&PRIO.stats());
                    assert_settled(&FIFO.stats());
                });
            },
        );
    }

    /// Promise (ceiling docs): "a group's ... admission timeout bound[s] its
    /// calls' wait for a ceiling slot"; the call is "counted by its group as
    /// turned away, and by the ceiling as cancelled". Attack: urgent
    /// (i64::MIN) and ordinary calls of a priority group with an admission
    /// timeout, async and sync, wait for a held ceiling of one; they time
    /// out, leave the ceiling's priority queue, and a call of weight
    /// i64::MAX queued behind them (no timeout, another group) still runs
    /// once the ceiling frees.
    #[test]
    fn timed_out_urgent_waiters_leave_the_ceilings_priority_queue() {
        common::in_own_process(
            "ceiling_ranks::timed_out_urgent_waiters_leave_the_ceilings_priority_queue",
            &[],
            || {
                config::load_str("r30.toml", "ceiling = 1\n").expect("a valid file");
                within(BOUND, || {
                    let permit = hold_ceiling();
                    let ran = Meter::default();
                    let m = ran.clone();
                    let mut a = Task::new(PATIENT.submit(i64::MIN, async move {
                        drop(m.enter());
                    }));
                    a.assert_pending();
                    let m = ran.clone();
                    let mut b = Task::new(PATIENT.submit(0, async move {
                        drop(m.enter());
                    }));
                    b.assert_pending();
                    let m = ran.clone();
                    let sync =
                        thread::spawn(move || PATIENT.run_weighted(i64::MIN, || drop(m.enter())));
                    let m = ran.clone();
                    let mut last = Task::new(PRIO.submit(i64::MAX, async move {
                        drop(m.enter());
                    }));
                    last.assert_pending();
                    let deadline = Instant::now() + Duration::from_secs(15);
                    let (mut ra, mut rb) = (None, None);
                    while ra.is_none() || rb.is_none() {
                        assert!(Instant::now() < deadline, "the timeouts never fired");
                        if ra.is_none() {
                            if let Poll::Ready(r) = a.poll() {
                                ra = Some(r);
                            }
                        }
                        if rb.is_none() {
                            if let Poll::Ready(r) = b.poll() {
                                rb = Some(r);
                            }
                        }
                        thread::sleep(Duration::from_millis(5));
                    }
                    assert_eq!(ra, Some(Err(Rejected::TimedOut)));
                    assert_eq!(rb, Some(Err(Rejected::TimedOut)));
                    assert_eq!(sync.join().unwrap(), Err(Rejected::TimedOut));
                    assert_eq!(ran.done(), 0);
                    last.assert_pending();
                    drop(permit);
                    assert!(matches!(last.poll(), Poll::Ready(Ok(()))));
                    assert_eq!(ran.done(), 1);
                    let s = PATIENT.stats();
                    assert_eq!(s.rejected_for(Rejected::TimedOut), 3, "{s:?}");
                    assert_settled(&s);
                    let c = ceiling::stats().unwrap();
                    assert_eq!(c.cancelled, 3, "{c:?}");
                    ceiling_settled();
                });
            },
        );
    }
}

// ---------------------------------------------------------------------------
// Every call form on threads and tasks while a controller pauses, resumes,
// resizes and finally closes: counted from outside (each outcome as the
// caller saw it) and compared with the library's books exactly.

mod steered_stress {
    use super::*;

    /// The outcomes the callers saw, by kind.
    #[derive(Default)]
    pub(super) struct Seen {
        pub ok: AtomicUsize,
        pub cancelled: AtomicUsize,
        pub rejected: [AtomicUsize; 4],
        /// Bodies that ran under a never-rejecting call.
        pub waited: AtomicUsize,
    }

    fn reason_index(r: Rejected) -> usize {
        match r {
            Rejected::Paused => 0,
            Rejected::Full => 1,
            Rejected::TimedOut => 2,
            Rejected::Closed => 3,
            other => panic!("unexpected rejection {other:?}"),
        }
    }

    impl Seen {
        pub(super) fn record<T>(&self, out: Result<T, Rejected>) {
            match out {
                Ok(_) => self.ok.fetch_add(1, SeqCst),
                Err(r) => self.rejected[reason_index(r)].fetch_add(1, SeqCst),
            };
        }

        #[track_caller]
        pub(super) fn check(&self, s: &pool_runtime::Stats) {
            let reasons = [
                Rejected::Paused,
                Rejected::Full,
                Rejected::TimedOut,
                Rejected::Closed,
            ];
            for (i, r) in reasons.into_iter().enumerate() {
                assert_eq!(
                    s.rejected_for(r),
                    self.rejected[i].load(SeqCst) as u64,
                    "{r:?}: {s:?}"
                );
            }
            assert_eq!(s.completed, self.ok.load(SeqCst) as u64, "{s:?}");
            assert_eq!(s.cancelled, self.cancelled.load(SeqCst) as u64, "{s:?}");
            assert_settled(s);
        }
    }

    static STEERED: Group = Group::new(
        GroupSpec::new("r30::steered")
            .order(Order::Priority)
            .size(3)
            .max_waiting(6)
            .admission_timeout(Duration::from_millis(250))
            .sync_barging(Duration::from_millis(30)),
    );
    pool_runtime::register_group!(STEERED);

    /// Promises: the limit holds on every call path while the pool is
    /// steered ("Shrinking never interrupts running work: the pool admits
    /// nothing until the running count is below the new size"); nothing is
    /// lost (every call ends completed, cancelled or rejected, as its
    /// caller saw it); never-rejecting calls wait through pauses and close.
    /// Attack: sync (rejecting, barging, never-rejecting), async (submit,
    /// dropped by a timeout, submit_wait), spawned, blocking and permit
    /// callers with random weights, while a controller pauses, resumes and
    /// resizes (0..=4) at random, then closes.
    #[test]
    fn every_form_under_random_steering_keeps_the_limit_and_the_books() {
        let seen = Arc::new(Seen::default());
        let meter = Meter::default();
        let (s2, m2) = (seen.clone(), meter.clone());
        within(BOUND, move || {
            let (seen, meter) = (s2, m2);
            let stop = Arc::new(AtomicBool::new(false));
            let rt = common::runtime();
            let mut threads = Vec::new();
            for t in 0..4u64 {
                let (seen, meter, stop) = (seen.clone(), meter.clone(), stop.clone());
                threads.push(thread::spawn(move || {
                    let mut x = t * 7 + 1;
                    let mut n = 0;
                    while !stop.load(SeqCst) || n < 5 {
                        n += 1;
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let w = ((x >> 33) % 5) as i64 - 2;
                        let body = {
                            let meter = meter.clone();
                            move || {
                                let _in = meter.enter();
                                thread::sleep(Duration::from_micros(300));
                            }
                        };
                        if (x >> 40) % 4 == 0 {
                            STEERED.run_wait(w, body);
                            seen.ok.fetch_add(1, SeqCst);
                            seen.waited.fetch_add(1, SeqCst);
                        } else {
                            seen.record(STEERED.run_weighted(w, body));
                        }
                    }
                }));
            }
            let tasks: Vec<_> = (0..6u64)
                .map(|t| {
                    let (seen, meter, stop) = (seen.clone(), meter.clone(), stop.clone());
                    rt.spawn(async move {
                        let mut x = t * 13 + 5;
                        let mut n = 0;
                        while !stop.load(SeqCst) || n < 5 {
                            n += 1;
                            x = x
                                .wrapping_mul(6364136223846793005)
                                .wrapping_add(1442695040888963407);
                            let w = ((x >> 33) % 5) as i64 - 2;
                            let m = meter.clone();
                            let body = async move {
                                let _in = m.enter();
                                tokio::time::sleep(Duration::from_micros(500)).await;
                            };
                            match (x >> 40) % 6 {
                                0 => seen.record(STEERED.submit(w, body).await),
                                1 => {
                                    match tokio::time::timeout(
                                        Duration::from_millis(1),
                                        STEERED.submit(w, body),
                                    )
                                    .await
                                    {
                                        Ok(out) => seen.record(out),
                                        Err(_) => {
                                            seen.cancelled.fetch_add(1, SeqCst);
                                        }
                                    }
                                }
                                2 => {
                                    STEERED.submit_wait(w, body).await;
                                    seen.ok.fetch_add(1, SeqCst);
                                    seen.waited.fetch_add(1, SeqCst);
                                }
                                3 => match STEERED.pool().spawn_weighted(w, body) {
                                    Ok(handle) => seen.record(handle.await),
                                    Err(r) => seen.record::<()>(Err(r)),
                                },
                                4 => {
                                    let m = meter.clone();
                                    seen.record(
                                        STEERED
                                            .submit_blocking(w, move || {
                                                let _in = m.enter();
                                                thread::sleep(Duration::from_micros(300));
                                            })
                                            .await,
                                    )
                                }
                                _ => match STEERED.acquire_owned(w).await {
                                    Ok(p) => {
                                        body.await;
                                        drop(p);
                                        seen.ok.fetch_add(1, SeqCst);
                                    }
                                    Err(r) => seen.record::<()>(Err(r)),
                                },
                            }
                            common::yield_now().await;
                        }
                    })
                })
                .collect();
            let mut x = 99u64;
            let started = Instant::now();
            while started.elapsed() < Duration::from_millis(1500) {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                match (x >> 40) % 4 {
                    0 => STEERED.pause(),
                    1 => STEERED.resume(),
                    _ => {
                        STEERED.resize(((x >> 20) % 5) as usize);
                    }
                }
                thread::sleep(Duration::from_millis(3));
            }
            STEERED.resize(3);
            STEERED.resume();
            stop.store(true, SeqCst);
            for t in threads {
                t.join().unwrap();
            }
            rt.block_on(async {
                for t in tasks {
                    t.await.unwrap();
                }
            });
            // Closed: the never-rejecting calls are still admitted.
            STEERED.pool().close();
            let m = meter.clone();
            STEERED.run_wait(0, move || drop(m.enter()));
            seen.ok.fetch_add(1, SeqCst);
            let m = meter.clone();
            rt.block_on(STEERED.submit_wait(0, async move { drop(m.enter()) }));
            seen.ok.fetch_add(1, SeqCst);
            seen.record(STEERED.run(|| ()));
            rt.block_on(STEERED.pool().drained());
        });
        assert!(meter.max() <= 4, "{} at once, sizes up to 4", meter.max());
        let s = STEERED.stats();
        eprintln!("{s:?}");
        seen.check(&s);
        assert_eq!(s.rejected_for(Rejected::Closed), 1, "only the last call");
        assert!(seen.ok.load(SeqCst) > 20, "the run made progress");
    }
}

// ---------------------------------------------------------------------------
// Blocking calls under the ceiling: dropped at each stage, with a closure
// whose `Drop` makes a sync call of another group.

mod blocking_under_the_ceiling {
    use super::*;
    use pool_runtime::{ceiling, config, register_group};

    static BW: Group = Group::new(GroupSpec::new("r30::bw").size(1));
    static OTHER: Group = Group::new(GroupSpec::new("r30::bw_other").size(4).max_waiting(0));
    static HOLD: Group = Group::new(GroupSpec::new("r30::bw_hold").size(4));
    register_group!(BW);
    register_group!(OTHER);
    register_group!(HOLD);

    /// Captured by a blocking closure: its `Drop` makes a sync call of
    /// another group (the user's code, which "may call a group"), one that
    /// never waits (`max_waiting = 0`: turned away `Full` by a full
    /// ceiling), and counts whether it ran.
    struct CallsOnDrop(Arc<AtomicUsize>, Arc<AtomicUsize>);
    impl Drop for CallsOnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
            let ran = self.1.clone();
            let _ = OTHER.run(move || {
                ran.fetch_add(1, SeqCst);
            });
        }
    }

    fn permit(group: &'static Group) -> pool_runtime::OwnedPermit {
        match Task::new(group.acquire_owned(0)).poll() {
            Poll::Ready(p) => p.expect("open"),
            Poll::Pending => panic!("a slot is free"),
        }
    }

    fn scenario(never_rejecting: bool) {
        config::load_str("r30.toml", "ceiling = 2\n").expect("a valid file");
        within(BOUND, move || {
            let dropped = Arc::new(AtomicUsize::new(0));
            let in_drop = Arc::new(AtomicUsize::new(0));
            let ran = Arc::new(AtomicUsize::new(0));
            let call = |dropped: &Arc<AtomicUsize>, ran: &Arc<AtomicUsize>| {
                let guard = CallsOnDrop(dropped.clone(), in_drop.clone());
                let ran = ran.clone();
                let f = move || {
                    let _guard = &guard;
                    ran.fetch_add(1, SeqCst);
                };
                let fut: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
                    if never_rejecting {
                        Box::pin(BW.submit_blocking_wait(0, f))
                    } else {
                        Box::pin(async move {
                            let _ = BW.submit_blocking(0, f).await;
                        })
                    };
                Task::new(fut)
            };
            // Stage 1: waiting for the ceiling (both slots held elsewhere).
            let (h1, h2) = (permit(&HOLD), permit(&HOLD));
            let mut t = call(&dropped, &ran);
            t.assert_pending();
            assert_eq!(ceiling::stats().unwrap().waiting, 1);
            drop(t);
            assert_eq!(dropped.load(SeqCst), 1, "dropped unrun, its Drop ran");
            assert_eq!(in_drop.load(SeqCst), 0, "the ceiling is full: turned away");
            drop((h1, h2));
            // Stage 2: holding a ceiling slot, waiting for its group's (the
            // group's only slot held by a permit, itself holding the other
            // ceiling slot): the closure's Drop needs a ceiling slot.
            let busy = permit(&BW);
            let mut t = call(&dropped, &ran);
            t.assert_pending();
            assert_eq!(ceiling::stats().unwrap().running, 2);
            assert_eq!(BW.stats().waiting, 1);
            drop(t);
            assert_eq!(dropped.load(SeqCst), 2, "dropped unrun, its Drop ran");
            assert_eq!(
                in_drop.load(SeqCst),
                1,
                "the call's ceiling slot was given back before its closure was dropped"
            );
            drop(busy);
            // Stage 3: a paused group (the never-rejecting call is held by
            // the pause, holding a ceiling slot; the rejecting one is turned
            // away).
            BW.pause();
            let busy = permit(&HOLD);
            let mut t = call(&dropped, &ran);
            let _ = t.poll();
            drop(t);
            assert_eq!(dropped.load(SeqCst), 3);
            assert_eq!(
                in_drop.load(SeqCst),
                2,
                "a ceiling slot was free for its Drop"
            );
            drop(busy);
            BW.resume();
            // Stage 4: run to the end.
            let mut t = call(&dropped, &ran);
            let start = Instant::now();
            while t.poll().is_pending() {
                assert!(start.elapsed() < Duration::from_secs(10), "hung");
                thread::sleep(Duration::from_millis(1));
            }
            drop(t);
            assert_eq!(ran.load(SeqCst), 1, "only the last one ran");
            wait_until("the job's closure dropped", || dropped.load(SeqCst) == 4);
            wait_until("the slots back", || {
                BW.stats().running == 0 && ceiling::stats().unwrap().running == 0
            });
            assert_settled(&BW.stats());
            assert_settled(&OTHER.stats());
            assert_settled(&ceiling::stats().unwrap());
        });
    }

    /// Promise (`Group::submit_blocking` source: "a call dropped, turned
    /// away or left unrun gives the slot back before the closure (and what
    /// it captured) is dropped, as the closure's `Drop` is the user's code
    /// and may call a group"); nothing hangs. Attack: the closure's Drop
    /// makes a sync call of another group under a ceiling of two, dropped
    /// while waiting for the ceiling, for the group, and paused.
    #[test]
    fn a_dropped_blocking_calls_closure_may_call_a_group_under_the_ceiling() {
        common::in_own_process(
            "blocking_under_the_ceiling::a_dropped_blocking_calls_closure_may_call_a_group_under_the_ceiling",
            &[],
            || scenario(false),
        );
    }

    /// The same for the never-rejecting form (`submit_blocking_wait`).
    #[test]
    fn a_dropped_never_rejecting_blocking_calls_closure_may_call_a_group_under_the_ceiling() {
        common::in_own_process(
            "blocking_under_the_ceiling::a_dropped_never_rejecting_blocking_calls_closure_may_call_a_group_under_the_ceiling",
            &[],
            || scenario(true),
        );
    }
}

// ---------------------------------------------------------------------------
// Extreme values.

/// Promise: bad input is an error value or clamped, never a panic or a
/// freeze (`Pool::scale`: "clamped to `[0, MAX_SLOTS]`"). Attack: scale by
/// isize::MIN and isize::MAX, resize to usize::MAX, with calls waiting; the
/// waiting calls are admitted by the growth, and the pool counts them.
#[test]
fn extreme_scales_and_resizes_clamp_and_admit_waiting_calls() {
    within(BOUND, || {
        let pool = leaked(Pool::fixed(1));
        assert_eq!(pool.scale(isize::MIN), 0);
        let meter = Meter::default();
        let mut tasks: Vec<Option<Task<_>>> = (0..5)
            .map(|_| {
                let m = meter.clone();
                Some(Task::new(pool.submit(async move { drop(m.enter()) })))
            })
            .collect();
        for t in tasks.iter_mut().flatten() {
            t.assert_pending();
        }
        assert_eq!(pool.scale(isize::MAX), pool_runtime::MAX_SLOTS);
        assert_eq!(pool.scale(isize::MAX), pool_runtime::MAX_SLOTS);
        assert!(drive(&mut tasks));
        assert_eq!(pool.resize(usize::MAX), pool_runtime::MAX_SLOTS);
        assert_eq!(pool.scale(-(pool_runtime::MAX_SLOTS as isize) - 1), 0);
        assert_eq!(pool.scale(1), 1);
        assert_eq!(meter.done(), 5);
        assert_settled(&pool.stats());
        assert_eq!(pool.stats().completed, 5);
    });
}

/// Promise (`Pool::set_admission_timeout`, `set_sync_barging`): any
/// duration is accepted; a timeout too long to pass means "never". Attack:
/// Duration::MAX as admission timeout and as sync barging bound, with sync
/// and async callers waiting: they wait (no overflow panic), are admitted
/// when the slot frees, and an abort turns away the ones still waiting
/// (including callers in the room) with `Closed`, all counted.
#[test]
fn duration_max_timeouts_and_barging_wait_then_abort_turns_them_away() {
    within(BOUND, || {
        let pool = leaked(Pool::fixed(1));
        pool.set_admission_timeout(Some(Duration::MAX));
        pool.set_sync_barging(Some(Duration::MAX));
        let meter = Meter::default();
        let held = pool.try_acquire().expect("free");
        let sync: Vec<_> = (0..3)
            .map(|_| {
                let m = meter.clone();
                thread::spawn(move || pool.run(move || drop(m.enter())))
            })
            .collect();
        wait_until("the sync callers waiting", || pool.stats().waiting == 3);
        let m = meter.clone();
        let mut a = Task::new(pool.submit(async move { drop(m.enter()) }));
        a.assert_pending();
        wait_until("every caller waiting", || pool.stats().waiting == 4);
        thread::sleep(Duration::from_millis(50));
        assert_eq!(meter.done(), 0);
        drop(held);
        // The queued async call gets the slot (the sync callers wait in the
        // room, behind the queue): it runs when polled.
        let mut a_done = None;
        wait_until("one ran", || {
            if a_done.is_none() {
                if let Poll::Ready(r) = a.poll() {
                    a_done = Some(r);
                }
            }
            meter.done() >= 1
        });
        assert_eq!(meter.max(), 1);
        let turned = {
            let mut t = Task::new(pool.shutdown(Some(Duration::ZERO)));
            let start = Instant::now();
            loop {
                if let Poll::Ready(r) = t.poll() {
                    break r;
                }
                assert!(start.elapsed() < Duration::from_secs(10), "shutdown hung");
                thread::sleep(Duration::from_millis(1));
            }
        };
        let mut closed = 0;
        for s in sync {
            match s.join().unwrap() {
                Ok(()) => {}
                Err(Rejected::Closed) => closed += 1,
                Err(other) => panic!("{other:?}"),
            }
        }
        let a_out = match a_done {
            Some(r) => Poll::Ready(r),
            None => a.poll(),
        };
        match a_out {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(Rejected::Closed)) => closed += 1,
            Poll::Ready(Err(other)) => panic!("{other:?}"),
            Poll::Pending => panic!("still waiting after an abort"),
        }
        let s = pool.stats();
        assert_eq!(s.rejected_for(Rejected::Closed), closed, "{s:?}");
        assert_eq!(
            s.completed,
            meter.done() as u64 + 1,
            "{s:?} (and the permit)"
        );
        assert_eq!(closed + meter.done() as u64, 4);
        if let Err(e) = turned {
            assert_eq!(e.turned_away as u64, closed, "{e:?}");
        }
        assert_settled(&s);
        assert_eq!(meter.max(), 1);
    });
}

/// Promise (`Pool::shutdown`): "With a `timeout`, it returns by the
/// deadline whatever the calls do ... the calls still waiting are turned
/// away ... the ones still running are left to finish". Attack: a zero
/// timeout with running, nested and waiting calls of every kind; then the
/// running ones finish and `drained` resolves.
#[test]
fn shutdown_with_a_zero_timeout_turns_waiters_away_and_drains_after() {
    within(BOUND, || {
        let rt = common::runtime();
        let pool = leaked(Pool::fixed(2));
        let meter = Meter::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let m = meter.clone();
        let parent = rt.spawn(pool.submit(async move {
            let _in = m.enter();
            // A nested call under the parent's slot, waiting for the test.
            pool.submit(async move { rx.await.is_ok() }).await
        }));
        wait_until("the nested call running", || pool.stats().nested == 1);
        let held = pool.try_acquire().expect("a slot is free");
        let waiters: Vec<_> = (0..3)
            .map(|i| {
                let m = meter.clone();
                rt.spawn(pool.submit_weighted(i, async move { drop(m.enter()) }))
            })
            .collect();
        let sync = thread::spawn(move || pool.run(|| ()));
        wait_until("four waiting", || pool.stats().waiting == 4);
        let err = rt
            .block_on(pool.shutdown(Some(Duration::ZERO)))
            .expect_err("calls are running");
        assert_eq!(err.turned_away, 4, "{err:?}");
        assert_eq!((err.running, err.nested), (2, 1), "{err:?}");
        assert_eq!(sync.join().unwrap(), Err(Rejected::Closed));
        for w in waiters {
            assert_eq!(rt.block_on(w).unwrap(), Err(Rejected::Closed));
        }
        drop(held);
        tx.send(()).unwrap();
        assert_eq!(rt.block_on(parent).unwrap(), Ok(Ok(true)));
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), pool.drained())
                .await
                .expect("drained once the running calls end")
        });
        let s = pool.stats();
        assert_settled(&s);
        assert_eq!(s.completed, 3, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Closed), 4, "{s:?}");
    });
}

// ---------------------------------------------------------------------------
// Nested calls under a ranked ceiling.

mod nested_under_ranks {
    use super::*;
    use pool_runtime::{ceiling, config, register_group};

    static OUTER: Group = Group::new(GroupSpec::new("r30::outer").order(Order::Priority).size(4));
    static INNER: Group = Group::new(GroupSpec::new("r30::inner").order(Order::Priority).size(4));
    register_group!(OUTER);
    register_group!(INNER);

    /// Promise (ceiling docs): "A nested call ... runs under its parent's
    /// ceiling slot ... nested calls cannot deadlock it; ... one nested call
    /// at a time uses the parent's slot, and the others wait for it or for a
    /// free ceiling slot". Attack: a ceiling of one; the parent's work joins
    /// nested calls of another priority group with weights i64::MAX, 0 and
    /// i64::MIN, and nested calls of its own group, while more urgent
    /// top-level calls (i64::MIN) wait for the ceiling. The nested calls
    /// must not wait behind the urgent ones for good: the parent completes,
    /// then the waiting calls run; one body at a time throughout.
    #[test]
    fn nested_calls_with_any_weight_get_the_parents_ceiling_slot_before_urgent_waiters() {
        common::in_own_process(
            "nested_under_ranks::nested_calls_with_any_weight_get_the_parents_ceiling_slot_before_urgent_waiters",
            &[],
            || {
                config::load_str("r30.toml", "ceiling = 1\n").expect("a valid file");
                let meter = Meter::default();
                let m = meter.clone();
                let order = within(BOUND, move || {
                    let rt = common::runtime();
                    let order = Arc::new(Mutex::new(Vec::<String>::new()));
                    let (m0, o0) = (m.clone(), order.clone());
                    let body = move |name: String| {
                        let (m, o) = (m0.clone(), o0.clone());
                        async move {
                            let _in = m.enter();
                            tokio::time::sleep(Duration::from_millis(2)).await;
                            o.lock().unwrap().push(name);
                        }
                    };
                    let started = Arc::new(AtomicBool::new(false));
                    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                    let parent = {
                        let (b, started) = (body.clone(), started.clone());
                        rt.spawn(OUTER.submit(5, async move {
                            started.store(true, SeqCst);
                            let _ = rx.await;
                            let (a, b2, c, d, e) = tokio::join!(
                                INNER.submit(i64::MAX, b("inner max".into())),
                                INNER.submit(0, b("inner 0".into())),
                                INNER.submit(i64::MIN, b("inner min".into())),
                                OUTER.submit(i64::MAX, b("outer max".into())),
                                OUTER.submit_wait(i64::MIN, b("outer min".into())),
                            );
                            (a, b2, c, d, e)
                        }))
                    };
                    wait_until("the parent running", || started.load(SeqCst));
                    let urgent: Vec<_> = (0..3)
                        .map(|i| {
                            let group = if i % 2 == 0 { &OUTER } else { &INNER };
                            rt.spawn(group.submit(i64::MIN, body(format!("urgent {i}"))))
                        })
                        .collect();
                    wait_until("the urgent calls waiting for the ceiling", || {
                        ceiling::stats().unwrap().waiting == 3
                    });
                    tx.send(()).unwrap();
                    let (a, b2, c, d, ()) = rt.block_on(parent).unwrap().expect("admitted");
                    assert_eq!((a, b2, c, d), (Ok(()), Ok(()), Ok(()), Ok(())));
                    for u in urgent {
                        rt.block_on(u).unwrap().expect("admitted after the parent");
                    }
                    let order = order.lock().unwrap().clone();
                    order
                });
                assert_eq!(order.len(), 8, "{order:?}");
                assert!(
                    order[..5].iter().all(|n| !n.starts_with("urgent")),
                    "the nested calls ran before the calls waiting: {order:?}"
                );
                assert_eq!(meter.max(), 1, "{order:?}");
                for s in [OUTER.stats(), INNER.stats(), ceiling::stats().unwrap()] {
                    assert_settled(&s);
                }
            },
        );
    }
}

// ---------------------------------------------------------------------------
// Nested calls while a controller pauses, resumes and resizes.

mod nested_steering {
    use super::*;

    static NS: Group = Group::new(GroupSpec::new("r30::nested_steered").size(2));
    pool_runtime::register_group!(NS);

    /// Promises (README, reentrancy; 2a94239 "a nested call on a paused pool
    /// takes a free slot; resume admits a queue left over a free slot"):
    /// nested calls belong to admitted work and are not turned away by a
    /// pause; the limit holds; nothing hangs. Attack: parents whose work
    /// makes a sync nested call and then joins three async nested calls
    /// (one never-rejecting), while a controller thread pauses, resumes and
    /// resizes the group (0..=3) at random. Every admitted parent completes
    /// with every nested call done; leaves never exceed 3 at once; the books
    /// balance with the outcomes seen.
    #[test]
    fn nested_calls_under_random_pause_resume_and_resize_all_complete() {
        let meter = Meter::default();
        let m = meter.clone();
        let (admitted, turned, leaves) = within(BOUND, move || {
            let rt = common::runtime();
            let stop = Arc::new(AtomicBool::new(false));
            let leaves = Arc::new(AtomicUsize::new(0));
            let parents: Vec<_> = (0..6)
                .map(|p| {
                    let (m, stop, leaves) = (m.clone(), stop.clone(), leaves.clone());
                    rt.spawn(async move {
                        let (mut admitted, mut turned) = (0usize, 0usize);
                        let mut n = 0;
                        while !stop.load(SeqCst) || n < 3 {
                            n += 1;
                            let leaf = |m: &Meter, l: &Arc<AtomicUsize>| {
                                let (m, l) = (m.clone(), l.clone());
                                async move {
                                    let _in = m.enter();
                                    tokio::time::sleep(Duration::from_micros(300)).await;
                                    l.fetch_add(1, SeqCst);
                                }
                            };
                            let (m2, l2) = (m.clone(), leaves.clone());
                            let work = async move {
                                // A sync nested call first (the lend is free).
                                NS.run_wait(p, || {
                                    let _in = m2.enter();
                                    l2.fetch_add(1, SeqCst);
                                });
                                let (a, b, ()) = tokio::join!(
                                    NS.submit(0, leaf(&m2, &l2)),
                                    NS.submit(1, leaf(&m2, &l2)),
                                    NS.submit_wait(2, leaf(&m2, &l2)),
                                );
                                a.expect("a nested call is not turned away");
                                b.expect("a nested call is not turned away");
                            };
                            match NS.submit(p, work).await {
                                Ok(()) => admitted += 1,
                                Err(Rejected::Paused) => turned += 1,
                                Err(other) => panic!("{other:?}"),
                            }
                            common::yield_now().await;
                        }
                        (admitted, turned)
                    })
                })
                .collect();
            let mut x = 7u64;
            let started = Instant::now();
            while started.elapsed() < Duration::from_millis(1500) {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                match (x >> 40) % 4 {
                    0 => NS.pause(),
                    1 => NS.resume(),
                    _ => {
                        NS.resize(((x >> 20) % 4) as usize);
                    }
                }
                thread::sleep(Duration::from_millis(2));
            }
            NS.resize(2);
            NS.resume();
            stop.store(true, SeqCst);
            let (mut admitted, mut turned) = (0, 0);
            for p in parents {
                let (a, t) = rt.block_on(p).unwrap();
                admitted += a;
                turned += t;
            }
            (admitted, turned, leaves.load(SeqCst))
        });
        assert!(meter.max() <= 3, "{} at once, sizes up to 3", meter.max());
        assert_eq!(
            leaves,
            admitted * 4,
            "every nested call of every admitted parent"
        );
        let s = NS.stats();
        assert_settled(&s);
        assert_eq!(s.rejected_for(Rejected::Paused), turned as u64, "{s:?}");
        assert_eq!(s.completed, (admitted * 5) as u64, "{s:?}");
        assert!(admitted > 10, "progress: {admitted}");
    }

    static NB: Group = Group::new(GroupSpec::new("r30::nested_blocking").size(2));
    pool_runtime::register_group!(NB);

    /// Promise (`OwnedSlot::run`: "a nested call from inside the closure can
    /// borrow this slot"; 2a94239): a blocking job's closure is work of its
    /// call; sync calls nested in it are not turned away by a pause and take
    /// the job's slot or a free one. Attack: the group paused while a
    /// blocking job runs; the job makes sync nested calls (never-rejecting
    /// and rejecting) and an async one driven by its own executor, then the
    /// group is closed while another job does the same.
    #[test]
    fn sync_and_async_calls_nested_in_a_blocking_job_of_a_paused_or_closed_group() {
        within(BOUND, || {
            let rt = common::runtime();
            let meter = Meter::default();
            for close in [false, true] {
                let m = meter.clone();
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
                let job = rt.spawn(NB.submit_blocking(0, move || {
                    started_tx.send(()).unwrap();
                    rx.recv().unwrap();
                    NB.run_wait(0, || drop(m.enter()));
                    let b = NB.run(|| drop(m.enter()));
                    let c = futures::executor::block_on(NB.submit(0, async {
                        let _in = m.enter();
                    }));
                    let d = NB.run(|| NB.run(|| drop(m.enter())));
                    (b, c, d)
                }));
                started_rx.recv().unwrap();
                if close {
                    NB.pool().close();
                } else {
                    NB.pause();
                }
                tx.send(()).unwrap();
                let (b, c, d) = rt.block_on(job).unwrap().expect("admitted before");
                assert_eq!((b, c), (Ok(()), Ok(())));
                assert_eq!(d, Ok(Ok(())));
                NB.resume();
            }
            assert_eq!(meter.done(), 8);
            assert!(meter.max() <= 2);
            assert_settled(&NB.stats());
        });
    }
}

// ---------------------------------------------------------------------------
// Tower services and streams over groups under a ranked ceiling.

#[cfg(feature = "tower")]
mod tower_under_the_ceiling {
    use super::*;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::{ceiling, config, register_group};
    use std::future::{poll_fn, Future};
    use std::pin::Pin;
    use tower::{service_fn, Layer, Service, ServiceExt};

    static TA: Group = Group::new(
        GroupSpec::new("r30::tower_a")
            .order(Order::Priority)
            .size(2),
    );
    static TB: Group = Group::new(GroupSpec::new("r30::tower_b").size(2));
    register_group!(TA);
    register_group!(TB);

    type Inner = Pin<Box<dyn Future<Output = Result<i64, std::io::Error>> + Send>>;

    fn lcg(x: &mut u64) -> u64 {
        *x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *x >> 33
    }

    /// Polls `fut` once with the task's own waker; whether it finished.
    async fn poll_once<F: Future + Unpin>(fut: &mut F) -> bool {
        poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx).is_ready())).await
    }

    async fn round<S>(base: &S, i: i64, choice: u64)
    where
        S: Service<i64, Response = i64, Error = BoxError> + Clone,
        S::Future: Unpin,
    {
        let mut svc = base.clone();
        match choice % 5 {
            0 => {
                if svc.ready().await.is_ok() {
                    let _ = svc.call(i).await;
                }
            }
            // Reserved, then dropped without a call.
            1 => {
                let _ = svc.ready().await;
                drop(svc);
            }
            // A ready() abandoned after one poll (the wait stays the
            // service's), then the service dropped.
            2 => {
                let mut ready = Box::pin(svc.ready());
                let _ = poll_once(&mut ready).await;
                drop(ready);
                drop(svc);
            }
            // A response dropped after a few polls.
            3 => {
                if svc.ready().await.is_ok() {
                    let mut response = svc.call(i);
                    for _ in 0..(choice / 5) % 4 {
                        if poll_once(&mut response).await {
                            break;
                        }
                        tokio::task::yield_now().await;
                    }
                    drop(response);
                }
            }
            _ => {
                let _ = svc.ready_oneshot().await.map(|mut s| s.call(i));
            }
        }
    }

    /// Promises (`PooledService` cancel safety; ceiling docs): every call
    /// path of a group's service holds a ceiling slot while it runs; a
    /// reserved slot dropped without a call, a wait abandoned, a response
    /// dropped mid-way release both slots, counted. Attack: a ceiling of
    /// two; services over a priority group (weights from i64::MIN to
    /// i64::MAX) and a FIFO group, in wait and reject mode, weighted and
    /// constant, driven by tasks that drop them at every stage. Inner bodies
    /// never exceed the ceiling; all three pools end settled.
    #[test]
    fn tower_services_of_groups_dropped_at_every_stage_keep_the_ceiling() {
        common::in_own_process(
            "tower_under_the_ceiling::tower_services_of_groups_dropped_at_every_stage_keep_the_ceiling",
            &[],
            || {
                config::load_str("r30.toml", "ceiling = 2\n").expect("a valid file");
                let meter = Meter::default();
                let m = meter.clone();
                within(BOUND, move || {
                    let rt = common::runtime();
                    let inner = service_fn(move |n: i64| {
                        let m = m.clone();
                        Box::pin(async move {
                            let _in = m.enter();
                            tokio::task::yield_now().await;
                            Ok::<_, std::io::Error>(n)
                        }) as Inner
                    });
                    let weights = |n: &i64| match n.rem_euclid(4) {
                        0 => i64::MIN,
                        1 => i64::MAX,
                        2 => 0,
                        _ => -n,
                    };
                    let a_wait = PooledLayer::group(&TA).layer(inner.clone());
                    let a_reject = PooledLayer::group(&TA).reject().layer(inner.clone());
                    let b_wait = PooledLayer::group(&TB).layer(inner.clone());
                    let a_weighted = PooledLayer::group(&TA)
                        .weight(move |n: &i64| weights(n))
                        .layer(inner.clone());
                    let b_weighted_reject = PooledLayer::group(&TB)
                        .reject()
                        .weight(move |n: &i64| weights(n))
                        .layer(inner.clone());
                    let tasks: Vec<_> = (0..10u64)
                        .map(|t| {
                            let (a_wait, a_reject, b_wait, a_weighted, b_weighted_reject) = (
                                a_wait.clone(),
                                a_reject.clone(),
                                b_wait.clone(),
                                a_weighted.clone(),
                                b_weighted_reject.clone(),
                            );
                            rt.spawn(async move {
                                let mut seed = t + 11;
                                for i in 0..50i64 {
                                    let c = lcg(&mut seed);
                                    match (c >> 7) % 5 {
                                        0 => round(&a_wait, i, c).await,
                                        1 => round(&a_reject, i, c).await,
                                        2 => round(&b_wait, i, c).await,
                                        3 => round(&a_weighted, i, c).await,
                                        _ => round(&b_weighted_reject, i, c).await,
                                    }
                                }
                            })
                        })
                        .collect();
                    rt.block_on(async {
                        for t in tasks {
                            tokio::time::timeout(Duration::from_secs(20), t)
                                .await
                                .expect("no hang")
                                .expect("no panic");
                        }
                    });
                });
                assert!(meter.max() <= 2, "{} at once under a ceiling of 2", meter.max());
                assert!(meter.done() > 50, "bodies ran: {}", meter.done());
                for s in [TA.stats(), TB.stats(), ceiling::stats().unwrap()] {
                    assert_settled(&s);
                }
            },
        );
    }
}

#[cfg(feature = "stream")]
mod streams_under_ranks {
    use super::*;
    use futures::StreamExt;
    use pool_runtime::{ceiling, config, register_group, PooledStreamExt};
    use std::future::Future;
    use std::pin::Pin;

    static SP: Group = Group::new(
        GroupSpec::new("r30::stream_prio")
            .order(Order::Priority)
            .size(3),
    );
    static SF: Group = Group::new(GroupSpec::new("r30::stream_fifo").size(3));
    register_group!(SP);
    register_group!(SF);

    /// A future that knows its weight.
    struct Job {
        weight: i64,
        fut: Pin<Box<dyn Future<Output = i64> + Send>>,
    }

    impl Future for Job {
        type Output = i64;
        fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<i64> {
            self.fut.as_mut().poll(cx)
        }
    }

    fn job(i: i64, m: &Meter) -> Job {
        let m = m.clone();
        Job {
            weight: match i % 3 {
                0 => i64::MIN,
                1 => i64::MAX,
                _ => i,
            },
            fut: Box::pin(async move {
                let _in = m.enter();
                tokio::time::sleep(Duration::from_millis(1)).await;
                i
            }),
        }
    }

    /// Promises (stream module docs): the stream's calls are the group's
    /// calls (under the ceiling), weighted by the weight function; a pause
    /// turns the rest away as `Paused`; dropping an adapter frees every
    /// slot it holds; at most `limit` items are held. Attack: a ceiling of
    /// two shared by two weighted adapters (extreme weights) on a priority
    /// and a FIFO group, and a sync caller; one adapter's group is paused
    /// mid-stream and the adapter dropped a few outcomes later.
    #[test]
    fn weighted_streams_under_a_ceiling_paused_and_dropped_mid_stream() {
        common::in_own_process(
            "streams_under_ranks::weighted_streams_under_a_ceiling_paused_and_dropped_mid_stream",
            &[],
            || {
                config::load_str("r30.toml", "ceiling = 2\n").expect("a valid file");
                let meter = Meter::default();
                let m = meter.clone();
                let (pulled, seen, paused) = within(BOUND, move || {
                    let rt = common::runtime();
                    let pulled = Arc::new(AtomicUsize::new(0));
                    let (m1, p1) = (m.clone(), pulled.clone());
                    let dropped_early = rt.spawn(async move {
                        let mut s = Box::pin(
                            futures::stream::iter(0..1000i64)
                                .map(move |i| {
                                    p1.fetch_add(1, SeqCst);
                                    job(i, &m1)
                                })
                                .pooled_unordered_weighted(&SP, |j: &Job| j.weight)
                                .limit(4),
                        );
                        let (mut seen, mut paused) = (0, 0);
                        while let Some(out) = s.next().await {
                            seen += 1;
                            match out {
                                Ok(_) => {}
                                Err(Rejected::Paused) => paused += 1,
                                Err(other) => panic!("{other:?}"),
                            }
                            if seen == 20 {
                                SP.pause();
                            }
                            if seen == 40 {
                                break;
                            }
                        }
                        drop(s);
                        SP.resume();
                        (seen, paused)
                    });
                    let m2 = m.clone();
                    let ordered = rt.spawn(async move {
                        let outs: Vec<_> = futures::stream::iter(0..300i64)
                            .map(move |i| job(i, &m2))
                            .pooled_ordered_weighted(&SF, |j: &Job| j.weight)
                            .collect()
                            .await;
                        outs
                    });
                    let m3 = m.clone();
                    let sync = thread::spawn(move || {
                        for _ in 0..50 {
                            SP.run_wait(i64::MIN, || {
                                let _in = m3.enter();
                                thread::sleep(Duration::from_micros(200));
                            });
                        }
                    });
                    let (seen, paused) = rt.block_on(dropped_early).unwrap();
                    let outs = rt.block_on(ordered).unwrap();
                    sync.join().unwrap();
                    assert_eq!(outs, (0..300).map(Ok).collect::<Vec<_>>());
                    (pulled.load(SeqCst), seen, paused)
                });
                assert!(
                    meter.max() <= 2,
                    "{} at once under a ceiling of 2",
                    meter.max()
                );
                assert!(paused > 0, "the pause turned the rest away");
                assert!(pulled <= seen + 4, "pulled {pulled}, yielded {seen}");
                let s = SP.stats();
                assert_eq!(s.rejected_for(Rejected::Paused), paused as u64, "{s:?}");
                for s in [SP.stats(), SF.stats(), ceiling::stats().unwrap()] {
                    assert_settled(&s);
                }
            },
        );
    }
}

// ---------------------------------------------------------------------------
// The ceiling moved up and down by reloads while every form churns.

mod moving_ceiling {
    use super::*;
    use pool_runtime::{ceiling, config, register_group};

    static MA: Group = Group::new(
        GroupSpec::new("r30::moving_a")
            .order(Order::Priority)
            .size(10),
    );
    static MB: Group = Group::new(GroupSpec::new("r30::moving_b").order(Order::Lifo).size(10));
    register_group!(MA);
    register_group!(MB);

    /// Promises (ceiling docs): "Lowering it lets running calls finish;
    /// raising it admits waiting ones at once"; reloads apply at once; the
    /// ceiling pool's books balance. Attack: reloads move the ceiling among
    /// 1, 2 and 3 every few milliseconds while sync, async, blocking,
    /// permit and nested calls of a priority and a LIFO group churn. Bodies
    /// never exceed 3 (the highest ceiling; the groups allow 10 each); after
    /// a final ceiling of 1, once the calls made before it are done, one
    /// at a time; every pool settles.
    #[test]
    fn a_ceiling_moved_by_reloads_while_every_form_churns() {
        common::in_own_process(
            "moving_ceiling::a_ceiling_moved_by_reloads_while_every_form_churns",
            &[],
            || {
                config::load_str("r30.toml", "ceiling = 2\n").expect("a valid file");
                let meter = Meter::default();
                let m = meter.clone();
                let done = within(BOUND, move || {
                    let rt = common::runtime();
                    let stop = Arc::new(AtomicBool::new(false));
                    let done = Arc::new(AtomicUsize::new(0));
                    let threads: Vec<_> = (0..3u64)
                        .map(|t| {
                            let (m, stop, done) = (m.clone(), stop.clone(), done.clone());
                            thread::spawn(move || {
                                let mut i = 0i64;
                                while !stop.load(SeqCst) {
                                    i += 1;
                                    let body = || {
                                        let _in = m.enter();
                                        thread::sleep(Duration::from_micros(200));
                                    };
                                    if t == 0 {
                                        MA.run_wait(-i, body);
                                    } else {
                                        MB.run_weighted(i, body).expect("never turned away");
                                    }
                                    done.fetch_add(1, SeqCst);
                                }
                            })
                        })
                        .collect();
                    let tasks: Vec<_> = (0..4u64)
                        .map(|t| {
                            let (m, stop, done) = (m.clone(), stop.clone(), done.clone());
                            rt.spawn(async move {
                                let mut i = 0i64;
                                while !stop.load(SeqCst) {
                                    i += 1;
                                    let m2 = m.clone();
                                    let body = async move {
                                        let _in = m2.enter();
                                        tokio::time::sleep(Duration::from_micros(300)).await;
                                    };
                                    match (t + i as u64) % 4 {
                                        0 => MA.submit(i % 7 - 3, body).await.unwrap(),
                                        1 => {
                                            let p = MB.acquire_owned(0).await.unwrap();
                                            body.await;
                                            drop(p);
                                        }
                                        2 => {
                                            let m3 = m.clone();
                                            MA.submit_blocking(i64::MIN + i, move || {
                                                let _in = m3.enter();
                                                thread::sleep(Duration::from_micros(200));
                                            })
                                            .await
                                            .unwrap()
                                        }
                                        _ => {
                                            // Nested: the inner call runs under the
                                            // outer's ceiling slot.
                                            let m3 = m.clone();
                                            MB.submit(0, async move {
                                                MA.submit(i64::MAX, async move {
                                                    let _in = m3.enter();
                                                    tokio::task::yield_now().await;
                                                })
                                                .await
                                                .unwrap();
                                            })
                                            .await
                                            .unwrap();
                                        }
                                    }
                                    done.fetch_add(1, SeqCst);
                                }
                            })
                        })
                        .collect();
                    let started = Instant::now();
                    let mut k = 0usize;
                    while started.elapsed() < Duration::from_millis(1500) {
                        k += 1;
                        let limit = [1, 3, 2, 1, 2, 3][k % 6];
                        config::load_str("r30.toml", &format!("ceiling = {limit}\n"))
                            .expect("a valid file");
                        assert_eq!(ceiling::limit(), Some(limit));
                        thread::sleep(Duration::from_millis(3));
                    }
                    config::load_str("r30.toml", "ceiling = 1\n").expect("a valid file");
                    stop.store(true, SeqCst);
                    for t in threads {
                        t.join().unwrap();
                    }
                    rt.block_on(async {
                        for t in tasks {
                            t.await.unwrap();
                        }
                    });
                    // Now only new calls: one at a time.
                    let after = Meter::default();
                    let calls: Vec<_> = (0..8)
                        .map(|i| {
                            let a = after.clone();
                            let g = if i % 2 == 0 { &MA } else { &MB };
                            rt.spawn(g.submit(0, async move {
                                let _in = a.enter();
                                tokio::time::sleep(Duration::from_millis(1)).await;
                            }))
                        })
                        .collect();
                    rt.block_on(async {
                        for c in calls {
                            c.await.unwrap().unwrap();
                        }
                    });
                    assert_eq!(after.max(), 1, "one at a time under the final ceiling");
                    done.load(SeqCst)
                });
                assert!(
                    meter.max() <= 3,
                    "{} at once, ceilings up to 3",
                    meter.max()
                );
                assert!(done > 50, "progress: {done}");
                for s in [MA.stats(), MB.stats(), ceiling::stats().unwrap()] {
                    assert_settled(&s);
                }
            },
        );
    }
}

// ---------------------------------------------------------------------------
// Priority queues past 64 distinct weights (the sorted vector spills into a
// tree): aborts that pick the rejecting calls out of it, nested calls found
// in it for their parent's slot.

mod spilled_priority {
    use super::*;

    static SPILL: Group = Group::new(GroupSpec::new("r30::spill").order(Order::Priority).size(1));
    static SPILL_N: Group = Group::new(
        GroupSpec::new("r30::spill_nested")
            .order(Order::Priority)
            .size(1),
    );
    pool_runtime::register_group!(SPILL);
    pool_runtime::register_group!(SPILL_N);

    /// Promises (`Pool::abort`: "rejects every waiting call at once with
    /// `Closed` (never-rejecting ones excepted)"; priority order: "by
    /// weight, smaller first; first come, first served among equal
    /// weights"). Attack: 130 calls with distinct weights (from i64::MIN to
    /// i64::MAX) wait for a priority group's only slot, every third one
    /// never-rejecting, a few dropped; an abort turns the rejecting ones
    /// away; the never-rejecting ones then run in weight order.
    #[test]
    fn an_abort_picks_rejecting_calls_out_of_a_spilled_priority_queue() {
        within(BOUND, || {
            let held = match Task::new(SPILL.acquire_owned(0)).poll() {
                Poll::Ready(p) => p.unwrap(),
                Poll::Pending => panic!("free"),
            };
            let order = Arc::new(Mutex::new(Vec::new()));
            let weight = |i: usize| -> i64 {
                match i {
                    0 => i64::MAX,
                    1 => i64::MIN,
                    _ => (((i * 37) % 131) as i64 - 65) * 1_000_000_007,
                }
            };
            type Boxed = std::pin::Pin<Box<dyn std::future::Future<Output = Option<Rejected>>>>;
            let mut tasks: Vec<Option<Task<Boxed>>> = (0..130usize)
                .map(|i| {
                    let o = order.clone();
                    let fut: Boxed = if i % 3 == 0 {
                        Box::pin(async move {
                            SPILL
                                .submit_wait(weight(i), async move { o.lock().unwrap().push(i) })
                                .await;
                            None
                        })
                    } else {
                        Box::pin(async move {
                            SPILL
                                .submit(weight(i), async move { o.lock().unwrap().push(i) })
                                .await
                                .err()
                        })
                    };
                    Some(Task::new(fut))
                })
                .collect();
            for t in tasks.iter_mut().flatten() {
                t.assert_pending();
            }
            // Drop a few of each kind.
            for i in [5usize, 6, 9, 50, 51, 99, 100] {
                tasks[i] = None;
            }
            let waiting = 130 - 7;
            assert_eq!(SPILL.stats().waiting, waiting);
            SPILL.pool().abort();
            let mut closed = 0;
            let mut never = Vec::new();
            for (i, t) in tasks.iter_mut().enumerate() {
                if let Some(task) = t {
                    match task.poll() {
                        Poll::Ready(Some(Rejected::Closed)) => {
                            assert_ne!(i % 3, 0, "a never-rejecting call was turned away");
                            closed += 1;
                            *t = None;
                        }
                        Poll::Ready(other) => panic!("call {i}: {other:?}"),
                        Poll::Pending => {
                            assert_eq!(i % 3, 0, "call {i}: a rejecting call still waits");
                            never.push(i);
                        }
                    }
                }
            }
            assert_eq!(closed + never.len(), waiting);
            drop(held);
            assert!(drive(&mut tasks));
            never.sort_by_key(|&i| weight(i));
            assert_eq!(
                *order.lock().unwrap(),
                never,
                "the rest ran in weight order"
            );
            let s = SPILL.stats();
            assert_eq!(s.rejected_for(Rejected::Closed), closed as u64, "{s:?}");
            assert_eq!(s.cancelled, 7, "{s:?}");
            assert_settled(&s);
        });
    }

    /// Promise (reentrancy: "the others wait, in the pool's queue, for a
    /// free slot or for the borrow to come back"). Attack: a parent's work
    /// joins 100 nested calls with distinct weights in a priority group of
    /// one slot, with 70 top-level calls of distinct weights waiting too:
    /// the nested calls are found in the spilled queue as the borrow comes
    /// back; all complete, one at a time; then the top-level ones.
    #[test]
    fn nested_calls_are_found_in_a_spilled_priority_queue_for_their_parents_slot() {
        within(BOUND, || {
            let rt = common::runtime();
            let meter = Meter::default();
            let m = meter.clone();
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let running = Arc::new(AtomicBool::new(false));
            let r = running.clone();
            let parent = rt.spawn(SPILL_N.submit(0, async move {
                r.store(true, SeqCst);
                let _ = rx.await;
                let calls = (0..100i64).map(|i| {
                    let m = m.clone();
                    SPILL_N.submit((i * 7919) % 101 - 50, async move {
                        let _in = m.enter();
                        tokio::task::yield_now().await;
                    })
                });
                futures::future::join_all(calls).await
            }));
            wait_until("the parent running", || running.load(SeqCst));
            let top: Vec<_> = (0..70i64)
                .map(|i| {
                    let m = meter.clone();
                    rt.spawn(SPILL_N.submit(i64::MIN + i * 3, async move {
                        drop(m.enter());
                    }))
                })
                .collect();
            wait_until("the top-level calls waiting", || {
                SPILL_N.stats().waiting == 70
            });
            tx.send(()).unwrap();
            let outs = rt.block_on(parent).unwrap().expect("admitted");
            assert!(outs.iter().all(Result::is_ok));
            for t in top {
                rt.block_on(t).unwrap().unwrap();
            }
            assert_eq!(meter.done(), 170);
            assert_eq!(meter.max(), 1);
            assert_settled(&SPILL_N.stats());
        });
    }
}

// ---------------------------------------------------------------------------
// The environment's ceiling at racing first uses.

mod racing_first_uses {
    use super::*;

    static F0: Group = Group::new(GroupSpec::new("r30::first_0").size(4));
    static F1: Group = Group::new(
        GroupSpec::new("r30::first_1")
            .size(4)
            .order(Order::Priority),
    );
    static F2: Group = Group::new(GroupSpec::new("r30::first_2").size(4).order(Order::Lifo));
    static F3: Group = Group::new(GroupSpec::new("r30::first_3").size(4));
    pool_runtime::register_group!(F0);
    pool_runtime::register_group!(F1);
    pool_runtime::register_group!(F2);
    pool_runtime::register_group!(F3);

    /// Promise (config: "a first use on another thread finds no layers and
    /// waits for the loading lock, so that no group call runs before the
    /// ceiling is in force"; ceiling_first_use.rs tests one thread). Attack:
    /// `POOLED_CEILING=1`; four threads released at once each make the
    /// first call of a different group (sync, async, blocking, never
    /// rejecting), while a fifth reads settings: one body at a time.
    #[test]
    fn first_uses_racing_on_four_threads_all_find_the_environments_ceiling() {
        common::in_own_process(
            "racing_first_uses::first_uses_racing_on_four_threads_all_find_the_environments_ceiling",
            &[("POOLED_CEILING", "1")],
            || {
                let meter = Meter::default();
                let m = meter.clone();
                within(BOUND, move || {
                    let barrier = Arc::new(std::sync::Barrier::new(5));
                    let body = |m: &Meter| {
                        let m = m.clone();
                        move || {
                            let _in = m.enter();
                            thread::sleep(Duration::from_millis(30));
                        }
                    };
                    let mut threads = Vec::new();
                    let (b, f) = (barrier.clone(), body(&m));
                    threads.push(thread::spawn(move || {
                        b.wait();
                        F0.run(f).unwrap();
                    }));
                    let (b, f) = (barrier.clone(), body(&m));
                    threads.push(thread::spawn(move || {
                        b.wait();
                        futures::executor::block_on(F1.submit(i64::MIN, async move { f() }))
                            .unwrap();
                    }));
                    let (b, f) = (barrier.clone(), body(&m));
                    threads.push(thread::spawn(move || {
                        b.wait();
                        futures::executor::block_on(F2.submit_blocking(0, f)).unwrap();
                    }));
                    let (b, f) = (barrier.clone(), body(&m));
                    threads.push(thread::spawn(move || {
                        b.wait();
                        F3.run_wait(0, f);
                    }));
                    let b = barrier.clone();
                    threads.push(thread::spawn(move || {
                        b.wait();
                        for g in [&F0, &F1, &F2, &F3] {
                            let _ = g.settings();
                        }
                    }));
                    for t in threads {
                        t.join().unwrap();
                    }
                });
                assert_eq!(meter.done(), 4);
                assert_eq!(meter.max(), 1, "the environment's ceiling of one");
                assert_eq!(pool_runtime::ceiling::limit(), Some(1));
            },
        );
    }
}

// ---------------------------------------------------------------------------
// A watched file that changes, breaks, disappears, becomes a directory and
// comes back, while calls run.

mod watched {
    use super::*;
    use pool_runtime::{ceiling, config, register_group};
    use std::sync::mpsc;

    static WATCHED: Group = Group::new(GroupSpec::new("r30::watched").size(5));
    register_group!(WATCHED);

    /// Promises (`config::watch`): every change is loaded and reported to
    /// the callback, a mistake or a read error changes nothing and is
    /// reported, a file back after an error is loaded again; the ceiling
    /// and the group's size follow the file; the limit holds throughout.
    /// Attack: the file is rewritten, made invalid, removed, replaced by a
    /// directory and brought back while sync and async calls run.
    #[test]
    fn a_watched_file_broken_removed_replaced_by_a_directory_and_back() {
        common::in_own_process(
            "watched::a_watched_file_broken_removed_replaced_by_a_directory_and_back",
            &[],
            || {
                let dir = std::env::temp_dir().join(format!("r30-watch-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).unwrap();
                let path = dir.join("pooled.toml");
                let file = |ceiling: usize, size: usize| {
                    format!("ceiling = {ceiling}\n[groups.\"r30::watched\"]\nsize = {size}\n")
                };
                std::fs::write(&path, file(3, 4)).unwrap();
                let meter = Meter::default();
                let m = meter.clone();
                within(BOUND, move || {
                    let (tx, rx) = mpsc::channel();
                    let watch = config::watch(&path, Duration::from_millis(10), move |out| {
                        let _ = tx.send(out.map(|r| r.to_string()).map_err(|e| e.to_string()));
                    })
                    .expect("a valid file");
                    assert_eq!((ceiling::limit(), WATCHED.size()), (Some(3), 4));
                    let stop = Arc::new(AtomicBool::new(false));
                    let callers: Vec<_> = (0..4)
                        .map(|i| {
                            let (m, stop) = (m.clone(), stop.clone());
                            thread::spawn(move || {
                                while !stop.load(SeqCst) {
                                    let body = || {
                                        let _in = m.enter();
                                        thread::sleep(Duration::from_micros(300));
                                    };
                                    if i % 2 == 0 {
                                        WATCHED.run_wait(0, body);
                                    } else {
                                        futures::executor::block_on(
                                            WATCHED.submit(0, async { body() }),
                                        )
                                        .unwrap();
                                    }
                                }
                            })
                        })
                        .collect();
                    let next = || {
                        rx.recv_timeout(Duration::from_secs(10))
                            .expect("the watch reports every change")
                    };
                    std::fs::write(&path, file(2, 2)).unwrap();
                    next().expect("a valid change");
                    assert_eq!((ceiling::limit(), WATCHED.size()), (Some(2), 2));
                    std::fs::write(&path, "ceiling = 0\n").unwrap();
                    next().expect_err("an invalid file");
                    assert_eq!((ceiling::limit(), WATCHED.size()), (Some(2), 2));
                    std::fs::remove_file(&path).unwrap();
                    next().expect_err("a file gone");
                    std::fs::create_dir(&path).unwrap();
                    // A directory in its place: an error, maybe the same
                    // read error (reported once), so nothing may come.
                    match rx.recv_timeout(Duration::from_millis(300)) {
                        Ok(out) => {
                            out.expect_err("a directory is no file");
                        }
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Err(e) => panic!("{e}"),
                    }
                    assert_eq!((ceiling::limit(), WATCHED.size()), (Some(2), 2));
                    std::fs::remove_dir(&path).unwrap();
                    std::fs::write(&path, file(1, 3)).unwrap();
                    next().expect("back");
                    assert_eq!((ceiling::limit(), WATCHED.size()), (Some(1), 3));
                    stop.store(true, SeqCst);
                    for c in callers {
                        c.join().unwrap();
                    }
                    drop(watch);
                    let _ = std::fs::remove_dir_all(&dir);
                });
                assert!(
                    meter.max() <= 3,
                    "{} at once, the ceiling up to 3",
                    meter.max()
                );
                assert!(meter.done() > 10);
                assert_settled(&WATCHED.stats());
                assert_settled(&ceiling::stats().unwrap());
            },
        );
    }
}

// ---------------------------------------------------------------------------
// Loads from many threads racing first uses: the running pool ends on the
// settings in force.

mod first_use_vs_loads {
    use super::*;
    use pool_runtime::{config, register_group, Kind};

    static L0: Group = Group::new(GroupSpec::new("r30::loads_0").size(6));
    static L1: Group = Group::new(GroupSpec::new("r30::loads_1").size(6));
    static L2: Group = Group::new(GroupSpec::new("r30::loads_2").size(6));
    static L3: Group = Group::new(GroupSpec::new("r30::loads_3").size(6));
    register_group!(L0);
    register_group!(L1);
    register_group!(L2);
    register_group!(L3);
    static ALL: [&Group; 4] = [&L0, &L1, &L2, &L3];

    fn text(variant: usize) -> String {
        (0..4)
            .map(|i| match (variant + i) % 3 {
                0 => format!("[groups.\"r30::loads_{i}\"]\nkind = \"autoscale\"\norder = \"priority\"\nmin = 1\nmax = 2\n"),
                1 => format!("[groups.\"r30::loads_{i}\"]\norder = \"lifo\"\nsize = 3\n"),
                _ => format!("[groups.\"r30::loads_{i}\"]\nsize = 1\nmax_waiting = 2\n"),
            })
            .collect()
    }

    /// Promise (0ba3511: "a first use publishes its pool only if the
    /// settings it was built with are still in force ... else it builds
    /// again"; config: a load "applies changed limits to running pools at
    /// once", kind and order "at first use" for groups not started). Attack:
    /// three loader threads load three different files (kinds, orders and
    /// sizes) in a loop while four threads race the groups' first uses;
    /// then one final load. Each pool's kind, order and size agree with the
    /// settings in force at its start (or, for size, the final file's), and
    /// afterwards its calls, counted from outside, stay within its size.
    #[test]
    fn loads_from_three_threads_racing_first_uses_leave_pools_on_the_settings_in_force() {
        let _turn = common::config_turn();
        within(BOUND, || {
            let barrier = Arc::new(std::sync::Barrier::new(7));
            let loaders: Vec<_> = (0..3)
                .map(|v| {
                    let b = barrier.clone();
                    thread::spawn(move || {
                        b.wait();
                        for k in 0..20 {
                            config::load_str("r30.toml", &text(v + k)).expect("a valid file");
                        }
                    })
                })
                .collect();
            let users: Vec<_> = (0..4)
                .map(|u| {
                    let b = barrier.clone();
                    thread::spawn(move || {
                        b.wait();
                        for k in 0..4 {
                            let g = ALL[(u + k) % 4];
                            let _ = g.run(|| ());
                        }
                    })
                })
                .collect();
            for t in loaders.into_iter().chain(users) {
                t.join().unwrap();
            }
            // The final word: a file all four agree with whatever kind and
            // order they started with.
            config::load_str("r30.toml", &text(0)).expect("a valid file");
            for (i, g) in ALL.iter().enumerate() {
                let want = g.settings();
                let pool = g.pool();
                let s = pool.stats();
                assert_settled(&s);
                let (kind, order) = (pool.kind(), pool.order());
                // Kind and order are the pool's own (a restart applies
                // the file's); its size is within what the file allows for
                // its kind.
                match kind {
                    Kind::Fixed if want.kind == Kind::Fixed => {
                        assert_eq!(pool.size(), want.starting_size(), "group {i}")
                    }
                    Kind::Autoscale if want.kind == Kind::Autoscale => {
                        assert_eq!(pool.bounds(), want.bounds(), "group {i}")
                    }
                    _ => {}
                }
                let _ = order;
                let meter = Meter::default();
                let limit = pool.size().max(1);
                if pool.size() == 0 {
                    continue;
                }
                let callers: Vec<_> = (0..4)
                    .map(|_| {
                        let m = meter.clone();
                        let g: &'static Group = g;
                        thread::spawn(move || {
                            for _ in 0..10 {
                                g.run_wait(0, || {
                                    let _in = m.enter();
                                    thread::sleep(Duration::from_micros(200));
                                });
                            }
                        })
                    })
                    .collect();
                for c in callers {
                    c.join().unwrap();
                }
                let max = pool.bounds().1.min(pool_runtime::MAX_SLOTS);
                let bound = if kind == Kind::Autoscale { max } else { limit };
                assert!(
                    meter.max() <= bound,
                    "group {i}: {} at once, limit {bound}",
                    meter.max()
                );
            }
        });
        config::clear();
    }
}

// ---------------------------------------------------------------------------
// A group's first use under periodic reloads that change nothing, with a
// slow metrics recorder (an exporter that takes a few milliseconds to
// register a handle).

#[cfg(feature = "metrics")]
mod first_use_under_periodic_reloads {
    use super::*;
    use pool_runtime::{config, register_group};

    static SLOWLY_BUILT: Group = Group::new(GroupSpec::new("r30::slowly_built").size(2));
    static OTHER: Group = Group::new(GroupSpec::new("r30::periodic_other").size(2));
    register_group!(SLOWLY_BUILT);
    register_group!(OTHER);

    /// A recorder that takes 3 ms to register each handle of the pool
    /// `r30::slowly_built` (a remote exporter, a contended registry).
    struct Slow;

    fn slow(key: &metrics::Key) {
        if key
            .labels()
            .any(|l| l.key() == "pool" && l.value() == "r30::slowly_built")
        {
            thread::sleep(Duration::from_millis(3));
        }
    }

    impl metrics::Recorder for Slow {
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
            slow(key);
            metrics::Counter::noop()
        }
        fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            slow(key);
            metrics::Gauge::noop()
        }
        fn register_histogram(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            slow(key);
            metrics::Histogram::noop()
        }
    }

    /// Promise: nothing hangs; a group's first use "builds its pool ...
    /// holding no lock ... then publishes it", and (0ba3511) "publishes only
    /// if the settings it was built with are still in force ... else it
    /// builds again". Attack: a thread reloads the same file every 10 ms (a
    /// periodic configuration refresher; each load changes nothing) while a
    /// group whose pool takes ~40 ms to build (a slow recorder) is first
    /// used. The first call should complete while the reloads go on: the
    /// settings it was built with are still the ones in force, whatever
    /// the identity of the layers holding them.
    #[test]
    fn a_first_use_completes_under_reloads_that_change_nothing() {
        common::in_own_process(
            "first_use_under_periodic_reloads::a_first_use_completes_under_reloads_that_change_nothing",
            &[],
            || {
                metrics::set_global_recorder(Slow).expect("the only recorder");
                let file = "[groups.\"r30::periodic_other\"]\nsize = 3\n";
                config::load_str("r30.toml", file).expect("a valid file");
                let stop = Arc::new(AtomicBool::new(false));
                let loads = Arc::new(AtomicUsize::new(0));
                let reloader = {
                    let (stop, loads) = (stop.clone(), loads.clone());
                    thread::spawn(move || {
                        while !stop.load(SeqCst) {
                            config::load_str("r30.toml", file).expect("a valid file");
                            loads.fetch_add(1, SeqCst);
                            thread::sleep(Duration::from_millis(10));
                        }
                    })
                };
                let (tx, rx) = std::sync::mpsc::channel();
                thread::spawn(move || {
                    let started = Instant::now();
                    let out = SLOWLY_BUILT.run(|| 7);
                    let _ = tx.send((out, started.elapsed()));
                });
                let answer = rx.recv_timeout(Duration::from_secs(5));
                stop.store(true, SeqCst);
                reloader.join().unwrap();
                let (out, took) = answer.unwrap_or_else(|_| {
                    panic!(
                        "the first call did not complete in 5 s ({} loads meanwhile, none \
                         changing anything)",
                        loads.load(SeqCst)
                    )
                });
                assert_eq!(out, Ok(7));
                eprintln!("first use took {took:?}");
                assert_eq!(SLOWLY_BUILT.size(), 2);
            },
        );
    }

    static RELOADING: Group = Group::new(GroupSpec::new("r30::reloading_recorder").size(2));
    register_group!(RELOADING);

    /// A recorder that refreshes the configuration (the same file) when a
    /// pool labelled `r30::reloading_recorder` registers its `limit` gauge.
    struct Refreshing(AtomicUsize);

    impl metrics::Recorder for Refreshing {
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
            _: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            metrics::Counter::noop()
        }
        fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            let ours = key
                .labels()
                .any(|l| l.key() == "pool" && l.value() == "r30::reloading_recorder");
            // Bounded, so that the test ends either way: past 200 refreshes
            // the recorder stops (a first use that needed them all was
            // caught in the loop).
            if ours && key.name() == "pooled.limit" && self.0.fetch_add(1, SeqCst) < 200 {
                let _ =
                    config::load_str("r30.toml", "[groups.\"r30::periodic_other\"]\nsize = 3\n");
            }
            metrics::Gauge::noop()
        }
        fn register_histogram(
            &self,
            _: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }

    /// The same without timing: a recorder that refreshes the configuration
    /// (with the file already in force: nothing changes) as a new pool
    /// registers (the user's code, which `Group::pool`'s docs say runs while
    /// the pool is built and may call into the library). Each refresh makes
    /// the first use build again, and the rebuild refreshes again: the first
    /// use would never return (the recorder gives up after 200 refreshes so
    /// that the test ends).
    #[test]
    fn a_first_use_whose_recorder_reloads_an_unchanged_file_builds_once_or_twice() {
        common::in_own_process(
            "first_use_under_periodic_reloads::a_first_use_whose_recorder_reloads_an_unchanged_file_builds_once_or_twice",
            &[],
            || {
                let recorder: &'static Refreshing = Box::leak(Box::new(Refreshing(AtomicUsize::new(0))));
                metrics::set_global_recorder(recorder).expect("the only recorder");
                config::load_str("r30.toml", "[groups.\"r30::periodic_other\"]\nsize = 3\n")
                    .expect("a valid file");
                let out = within(BOUND, || RELOADING.run(|| 7));
                assert_eq!(out, Ok(7));
                let builds = recorder.0.load(SeqCst);
                assert!(
                    builds <= 2,
                    "the pool was built {builds} times (a refresh that changes nothing \
                     should not make the first use build again)"
                );
            },
        );
    }
}

// ---------------------------------------------------------------------------
// Hostile wakers at the ranked ceiling; LIFO groups at the ceiling.

mod hostile_at_the_ceiling {
    use super::*;
    use pool_runtime::{ceiling, config, register_group};
    use std::future::Future;
    use std::task::Context;

    static HG: Group = Group::new(
        GroupSpec::new("r30::hostile")
            .order(Order::Priority)
            .size(1),
    );
    static HO: Group = Group::new(GroupSpec::new("r30::hostile_other").size(1));
    static HLIFO: Group = Group::new(
        GroupSpec::new("r30::hostile_lifo")
            .order(Order::Lifo)
            .size(5),
    );
    register_group!(HG);
    register_group!(HO);
    register_group!(HLIFO);

    static ARMED: AtomicBool = AtomicBool::new(false);

    /// Promise (003eb20: "the waker clone an enqueue does not register is
    /// dropped quietly"; observe/unwind docs: a waker's `Drop` that panics
    /// loses nothing): every waker clone the library drops, registered or
    /// not, is dropped with its panic caught. Attack: a group call under a
    /// ceiling of one, polled only with a waker whose every `Drop` panics,
    /// whose work joins nested calls of its own group (extreme weights) and
    /// of another group (waiting for the parent's ceiling slot), while a
    /// permit holds the ceiling at first. It completes, every nested call
    /// runs, no panic escapes, and every pool settles.
    #[test]
    fn a_call_with_nested_calls_polled_with_a_waker_whose_drop_panics() {
        common::in_own_process(
            "hostile_at_the_ceiling::a_call_with_nested_calls_polled_with_a_waker_whose_drop_panics",
            &[],
            || {
                common::quiet_planned_panics();
                config::load_str("r30.toml", "ceiling = 1\n").expect("a valid file");
                within(BOUND, || {
                    let meter = Meter::default();
                    let holder = match Task::new(HO.acquire_owned(0)).poll() {
                        Poll::Ready(p) => p.unwrap(),
                        Poll::Pending => panic!("free"),
                    };
                    let m = meter.clone();
                    let body = move |m: Meter| async move {
                        let _in = m.enter();
                        common::yield_now().await;
                    };
                    let mut call = Box::pin(HG.submit(5, async move {
                        let (a, b, c, d) = futures::join!(
                            HG.submit(i64::MIN, body(m.clone())),
                            HG.submit(i64::MAX, body(m.clone())),
                            HO.submit(0, body(m.clone())),
                            HG.submit_wait(0, body(m.clone())),
                        );
                        (a.is_ok(), b.is_ok(), c.is_ok(), d)
                    }));
                    let waker = common::waker_whose_drop_panics(&ARMED);
                    ARMED.store(true, SeqCst);
                    fn poll<F: Future>(
                        call: &mut std::pin::Pin<Box<F>>,
                        waker: &std::task::Waker,
                    ) -> Poll<F::Output> {
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            call.as_mut().poll(&mut Context::from_waker(waker))
                        }))
                        .expect("no waker's panic escapes a poll")
                    }
                    assert!(poll(&mut call, &waker).is_pending(), "the ceiling is held");
                    drop(holder);
                    let start = Instant::now();
                    let out = loop {
                        if let Poll::Ready(out) = poll(&mut call, &waker) {
                            break out;
                        }
                        assert!(start.elapsed() < Duration::from_secs(10), "hung");
                        thread::sleep(Duration::from_millis(1));
                    };
                    ARMED.store(false, SeqCst);
                    drop(call);
                    drop(waker);
                    assert_eq!(out, Ok((true, true, true, ())));
                    assert_eq!(meter.done(), 4);
                    assert_eq!(meter.max(), 1);
                    for s in [HG.stats(), HO.stats(), ceiling::stats().unwrap()] {
                        assert_settled(&s);
                    }
                });
            },
        );
    }

    /// Documented (ceiling docs): a FIFO or LIFO group's calls wait for a
    /// ceiling slot "as weight 0 ... in arrival order". Checked: a LIFO
    /// group's calls waiting for a held ceiling of one run in arrival order
    /// (the group's own LIFO order is not the ceiling's), whatever weights
    /// they carry.
    #[test]
    fn a_lifo_groups_calls_wait_for_the_ceiling_in_arrival_order() {
        common::in_own_process(
            "hostile_at_the_ceiling::a_lifo_groups_calls_wait_for_the_ceiling_in_arrival_order",
            &[],
            || {
                config::load_str("r30.toml", "ceiling = 1\n").expect("a valid file");
                within(BOUND, || {
                    let holder = match Task::new(HO.acquire_owned(0)).poll() {
                        Poll::Ready(p) => p.unwrap(),
                        Poll::Pending => panic!("free"),
                    };
                    let order = Arc::new(Mutex::new(Vec::new()));
                    let mut tasks: Vec<Option<Task<_>>> = (0..6i64)
                        .map(|i| {
                            let o = order.clone();
                            Some(Task::new(HLIFO.submit(
                                if i % 2 == 0 { i64::MAX } else { i64::MIN },
                                async move { o.lock().unwrap().push(i) },
                            )))
                        })
                        .collect();
                    for t in tasks.iter_mut().flatten() {
                        t.assert_pending();
                    }
                    drop(holder);
                    assert!(drive(&mut tasks));
                    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4, 5]);
                    assert_settled(&HLIFO.stats());
                    assert_settled(&ceiling::stats().unwrap());
                });
            },
        );
    }
}

// ---------------------------------------------------------------------------
// A configuration path that is no regular file.

#[cfg(unix)]
mod special_files {
    use super::*;
    use pool_runtime::{config, register_group};
    use std::sync::mpsc;

    static SPECIAL: Group = Group::new(GroupSpec::new("r30::special").size(2));
    register_group!(SPECIAL);

    /// A named pipe (FIFO) in a fresh temporary directory, nobody writing
    /// to it.
    fn fifo() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("r30-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pooled.toml");
        let status = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo runs");
        assert!(status.success());
        path
    }

    /// Promise (README: bad input is an error value, never a freeze;
    /// `config::load`: "# Errors: a `ConfigError` naming the file"). Attack:
    /// `config::load` of a path that is a named pipe nobody writes to (a
    /// mistyped path into a directory of pipes, `/dev/stdin` of a daemon).
    /// It should be an error (not a regular file), not a wait for a writer
    /// that never comes — with the configuration's loading lock held, so
    /// every later load and every group's first use would wait too.
    #[test]
    fn loading_a_named_pipe_is_an_error_not_a_freeze() {
        common::in_own_process(
            "special_files::loading_a_named_pipe_is_an_error_not_a_freeze",
            &[],
            || {
                let path = fifo();
                let (tx, rx) = mpsc::channel();
                let p = path.clone();
                thread::spawn(move || {
                    let _ = tx.send(config::load(&p).map(|_| ()).map_err(|e| e.to_string()));
                });
                let out = rx.recv_timeout(Duration::from_secs(3));
                let _ = std::fs::remove_dir_all(path.parent().unwrap());
                match out {
                    Ok(Err(e)) => eprintln!("refused: {e}"),
                    Ok(Ok(())) => panic!("a named pipe loaded as a configuration"),
                    Err(_) => panic!("config::load of a named pipe did not return in 3 s"),
                }
                // The loading lock is free: a load and a first use go on.
                let answer = within(Duration::from_secs(5), || {
                    config::load_str("r30.toml", "").expect("a valid file");
                    SPECIAL.run(|| 1)
                });
                assert_eq!(answer, Ok(1));
            },
        );
    }

    /// The same through `POOLED_CONFIG`, read at a group's first use, where
    /// a bad environment is logged and not applied ("configuration from the
    /// environment not applied"): the first call should run, not wait for
    /// a writer on the pipe.
    #[test]
    fn pooled_config_naming_a_named_pipe_does_not_freeze_the_first_use() {
        let dir = std::env::temp_dir().join(format!("r30-fifo-env-{}", std::process::id()));
        let path = dir.join("pooled.toml");
        if !common::is_child_process() {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let status = std::process::Command::new("mkfifo")
                .arg(&path)
                .status()
                .expect("mkfifo runs");
            assert!(status.success());
        }
        let shown = path.display().to_string();
        let result = std::panic::catch_unwind(|| {
            common::in_own_process(
                "special_files::pooled_config_naming_a_named_pipe_does_not_freeze_the_first_use",
                &[("POOLED_CONFIG", &shown)],
                || {
                    let (tx, rx) = mpsc::channel();
                    thread::spawn(move || {
                        let _ = tx.send(SPECIAL.run(|| 1));
                    });
                    let out = rx.recv_timeout(Duration::from_secs(3));
                    assert_eq!(out.expect("the first call did not return in 3 s"), Ok(1));
                },
            )
        });
        if !common::is_child_process() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        if let Err(payload) = result {
            std::panic::resume_unwind(payload);
        }
    }

    /// `config::watch` ("until the returned guard drops"): a watched file
    /// replaced by a named pipe (an editor's or a deployment tool's
    /// mistake) should be a read error passed to the callback, and dropping
    /// the guard should stop the watch. Attack: the file becomes a pipe
    /// nobody writes to; then the guard is dropped.
    #[test]
    fn dropping_a_watch_whose_file_became_a_named_pipe_returns() {
        common::in_own_process(
            "special_files::dropping_a_watch_whose_file_became_a_named_pipe_returns",
            &[],
            || {
                let path = fifo();
                std::fs::remove_file(&path).unwrap();
                std::fs::write(&path, "[groups.\"r30::special\"]\nsize = 3\n").unwrap();
                let (tx, rx) = mpsc::channel();
                let watch = config::watch(&path, Duration::from_millis(10), move |out| {
                    let _ = tx.send(out.map(|_| ()).map_err(|e| e.to_string()));
                })
                .expect("a valid file");
                assert_eq!(SPECIAL.size(), 3);
                std::fs::remove_file(&path).unwrap();
                let status = std::process::Command::new("mkfifo")
                    .arg(&path)
                    .status()
                    .expect("mkfifo runs");
                assert!(status.success());
                // Whatever the watch reports meanwhile (a read error, or
                // nothing while it is stuck), the guard's drop must return.
                let _ = rx.recv_timeout(Duration::from_millis(500));
                let (done_tx, done_rx) = mpsc::channel();
                thread::spawn(move || {
                    drop(watch);
                    let _ = done_tx.send(());
                });
                let dropped = done_rx.recv_timeout(Duration::from_secs(3));
                let _ = std::fs::remove_dir_all(path.parent().unwrap());
                dropped.expect("dropping the Watch did not return in 3 s");
                assert_eq!(SPECIAL.size(), 3, "nothing changed");
            },
        );
    }
}

// ---------------------------------------------------------------------------
// Calls made from a thread-local's destructor, as the thread exits.

mod at_thread_exit {
    use super::*;
    use pool_runtime::{ceiling, config, register_group};

    static TX: Group = Group::new(GroupSpec::new("r30::thread_exit").size(1));
    register_group!(TX);

    struct CallsAtExit(Arc<AtomicUsize>, Meter);
    impl Drop for CallsAtExit {
        fn drop(&mut self) {
            let (done, m) = (self.0.clone(), self.1.clone());
            // Sync, never-rejecting, and an async call driven here; the
            // pool's only slot is busy at first, so they wait (park).
            TX.run_wait(0, || drop(m.enter()));
            done.fetch_add(1, SeqCst);
            let m2 = m.clone();
            futures::executor::block_on(TX.submit(0, async move { drop(m2.enter()) }))
                .expect("admitted");
            done.fetch_add(1, SeqCst);
            TX.run(|| drop(m.enter())).expect("admitted");
            done.fetch_add(1, SeqCst);
        }
    }

    thread_local! {
        static AT_EXIT: std::cell::RefCell<Option<CallsAtExit>> = const { std::cell::RefCell::new(None) };
    }

    /// Promise: every call path works on any thread, and nothing hangs —
    /// including calls a thread-local's `Drop` makes as its thread exits
    /// (a connection returned to a pool guarded by a group), after the
    /// library's own thread-locals (the parking waker, the spare lends) may
    /// have been torn down. Attack: under a ceiling of one, with the group's
    /// only slot held for a while, such a destructor makes a sync call
    /// (waiting), an async call driven by a local executor, and another
    /// sync call; all three run, one at a time.
    #[test]
    fn calls_from_a_thread_locals_destructor_at_thread_exit_wait_and_run() {
        common::in_own_process(
            "at_thread_exit::calls_from_a_thread_locals_destructor_at_thread_exit_wait_and_run",
            &[],
            || {
                config::load_str("r30.toml", "ceiling = 1\n").expect("a valid file");
                let meter = Meter::default();
                let m = meter.clone();
                let done = within(BOUND, move || {
                    let done = Arc::new(AtomicUsize::new(0));
                    let held = match Task::new(TX.acquire_owned(0)).poll() {
                        Poll::Ready(p) => p.unwrap(),
                        Poll::Pending => panic!("free"),
                    };
                    let (d, m2) = (done.clone(), m.clone());
                    let t = thread::spawn(move || {
                        // A first call on this thread (its parking waker and
                        // spare lends are set up), then the guard.
                        let _ = TX.try_acquire_owned(0);
                        AT_EXIT.with(|slot| *slot.borrow_mut() = Some(CallsAtExit(d, m2)));
                    });
                    thread::sleep(Duration::from_millis(100));
                    drop(held);
                    t.join().expect("the thread's exit ran the calls");
                    done.load(SeqCst)
                });
                assert_eq!(done, 3);
                assert_eq!(meter.done(), 3);
                assert_eq!(meter.max(), 1);
                assert_settled(&TX.stats());
                assert_settled(&ceiling::stats().unwrap());
            },
        );
    }
}

// ---------------------------------------------------------------------------
// Deeply nested and very long configuration text.

/// Promise (README: "Bad input is an error value, never a panic, an
/// overflow or a freeze"; loads are all or nothing). Attack: files of
/// arrays and inline tables nested 100 000 deep, a dotted key of 100 000
/// parts, a key of a megabyte: each must be an error (or, for what is
/// valid TOML, a refusal of the unknown key) that changes nothing — not a
/// stack overflow, which would abort the process. Run in a process of its
/// own, so that an abort fails this test only. (The parser's depth limit
/// holds on a thread of the default 2 MiB stack and down to 512 KiB in a
/// debug build; at 256 KiB a debug build overflows before the limit.)
#[test]
fn deeply_nested_and_huge_files_are_errors_not_a_stack_overflow() {
    common::in_own_process(
        "deeply_nested_and_huge_files_are_errors_not_a_stack_overflow",
        &[],
        || {
            use pool_runtime::config;
            let n = 100_000;
            let cases = [
                format!("ceiling = {}{}\n", "[".repeat(n), "]".repeat(n)),
                format!("ceiling = {}1{}\n", "{a = ".repeat(n), "}".repeat(n)),
                format!("{} = 1\n", vec!["a"; n].join(".")),
                format!("[{}]\n", vec!["a"; n].join(".")),
                format!("{} = 1\n", "k".repeat(1 << 20)),
                format!("ceiling = {}\n", "9".repeat(1 << 20)),
                format!("ceiling = \"{}\"\n", "x".repeat(1 << 20)),
            ];
            // On a thread of the default stack size (2 MiB), as a worker's.
            let out = thread::Builder::new()
                .spawn(move || {
                    cases
                        .iter()
                        .map(|text| config::load_str("r30.toml", text).is_err())
                        .collect::<Vec<_>>()
                })
                .unwrap()
                .join()
                .expect("no panic");
            assert!(out.iter().all(|refused| *refused), "{out:?}");
            assert_eq!(pool_runtime::ceiling::limit(), None);
        },
    );
}
