//! Hostile acceptance tests, round 7: a group's own rejections under the
//! application-wide ceiling, and order, lifecycle, spawn and timeout
//! promises probed under stress. Each is written from a promise of the
//! README or the rustdoc (quoted above it) and bounded in time.

mod common;

use common::*;
use pool_runtime::{config, Group, GroupSpec, Order, Pool, Rejected};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs `f` on a thread of its own; fails (instead of hanging) if it takes
/// longer than `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(out)) => out,
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        Err(_) => panic!("hung: no answer within {limit:?}"),
    }
}

static HOLDER: Group = Group::new(GroupSpec::new("r7::ceiling_holder").size(4));
static GATED: Group = Group::new(GroupSpec::new("r7::ceiling_gated").size(4));

/// Every rejecting call path of `GATED`, each polled once (a sync call on a
/// thread of its own, bounded): what it answered, `None` if it waits.
fn each_path_once() -> Vec<(&'static str, Option<Rejected>)> {
    fn once<T>(fut: impl std::future::Future<Output = Result<T, Rejected>>) -> Option<Rejected> {
        let mut task = Task::new(fut);
        match task.poll() {
            std::task::Poll::Ready(out) => Some(out.err().expect("a rejection")),
            std::task::Poll::Pending => None,
        }
    }
    let run = within(Duration::from_secs(30), || {
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _ = tx.send(GATED.run(|| ()).err());
        });
        // Its answer, or `None` once it waits: seen waiting in the stats
        // (of the ceiling or of its group), or still without an answer
        // after 10 s (a wait the stats miss). Not a 300 ms wait for the
        // answer as before: on a loaded machine starting the thread alone
        // can take that long, and a call that waits never answers here
        // (the ceiling stays held), so the bound only ends the test.
        let waits = || {
            pool_runtime::ceiling::stats().is_some_and(|c| c.waiting > 0)
                || GATED.stats().waiting > 0
        };
        let asked = Instant::now();
        let out = loop {
            match rx.recv_timeout(Duration::from_millis(1)) {
                Ok(answer) => break Some(answer),
                Err(mpsc::RecvTimeoutError::Timeout)
                    if waits() || asked.elapsed() > Duration::from_secs(10) =>
                {
                    break None
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(e) => panic!("{e}"),
            }
        };
        drop(waiter); // (a waiting one is left parked: the test fails on it)
        out.flatten()
    });
    vec![
        ("submit", once(GATED.submit(0, async {}))),
        (
            "submit_judged",
            once(GATED.submit_judged(0, async {}, |_| pool_runtime::Verdict::Success)),
        ),
        ("run", run),
        ("submit_blocking", once(GATED.submit_blocking(0, || ()))),
        ("acquire", once(GATED.acquire(0))),
        ("acquire_owned", once(GATED.acquire_owned(0))),
        ("try_acquire", GATED.try_acquire(0).err()),
        ("try_acquire_owned", GATED.try_acquire_owned(0).err()),
    ]
}

/// Promise (`Pool::pause`, which `Group::pause` is): "Stops admitting new
/// calls: they are rejected with `Rejected::Paused`"; (`Pool::close`): "new
/// calls are rejected with `Rejected::Closed`"; README: "`pool.pause(); //
/// new calls: Err(Rejected::Paused)`", and "The ceiling is taken before a
/// group's slot" — an order that must not change what the group answers.
/// Catches: under an application-wide ceiling whose slots are all taken (by
/// another group), a call of a paused or closed group waited for a ceiling
/// slot — for as long as the other group's calls ran, a sync caller's
/// thread parked — before its group could turn it away; and it was not
/// counted by its group meanwhile. Every rejecting path must answer at
/// once, counted in the group's stats, without taking or waiting for a
/// ceiling slot.
#[test]
fn a_paused_or_closed_group_turns_calls_away_at_once_under_a_full_ceiling() {
    let _turn = config_turn();
    config::load_str("app.toml", "ceiling = 1\n").unwrap();
    let holder = HOLDER.try_acquire(0).unwrap();
    let ceiling = || pool_runtime::ceiling::stats().unwrap();
    assert_eq!(ceiling().running, 1, "the ceiling is full");
    let before = ceiling().submitted();

    GATED.pause();
    let paused = each_path_once();
    let n = paused.len() as u64;
    for (path, answer) in &paused {
        assert_eq!(*answer, Some(Rejected::Paused), "{path}, paused group");
    }
    let s = GATED.stats();
    assert_eq!(s.rejected_for(Rejected::Paused), n, "{s:?}");
    assert_accounted(&s);

    GATED.resume();
    GATED.pool().close();
    for (path, answer) in each_path_once() {
        assert_eq!(answer, Some(Rejected::Closed), "{path}, closed group");
    }
    let s = GATED.stats();
    assert_eq!(s.rejected_for(Rejected::Closed), n, "{s:?}");
    assert_eq!(s.submitted(), 2 * n, "{s:?}");
    assert_accounted(&s);
    let c = ceiling();
    assert_eq!(
        (c.running, c.waiting, c.submitted() - before),
        (1, 0, 0),
        "no ceiling slot taken or waited for: {c:?}"
    );

    drop(holder);
    config::clear();
}

/// The other side of the same promise: a call of an open group under a
/// full ceiling still waits for a ceiling slot (README: "The ceiling is
/// taken before a group's slot"), and runs once one frees.
#[test]
fn an_open_group_still_waits_for_a_full_ceiling() {
    static OPEN: Group = Group::new(GroupSpec::new("r7::ceiling_open").size(4));
    let _turn = config_turn();
    config::load_str("app.toml", "ceiling = 1\n").unwrap();
    let holder = HOLDER.try_acquire(0).unwrap();
    let mut call = Task::new(OPEN.submit(0, async { 5 }));
    call.assert_pending();
    assert_eq!(pool_runtime::ceiling::stats().unwrap().waiting, 1);
    let started = Instant::now();
    drop(holder);
    assert!(call.is_woken());
    assert_eq!(call.assert_ready(), Ok(5));
    assert!(started.elapsed() < Duration::from_secs(1));
    config::clear();
}

/// Promise (README, Timeouts): "a pool built with `.clock(TokioClock::new())`
/// uses tokio's timer instead, so its timeouts and autoscaler follow tokio's
/// paused test time". Catches: the builder took only an `Arc<dyn Clock>`,
/// so the README's own spelling did not compile. Both spellings build; the
/// timeout fires at tokio's (paused) time, never early, and a call admitted
/// at its deadline is counted once.
#[tokio::test(start_paused = true)]
async fn a_pool_built_with_a_tokio_clock_as_the_readme_spells_it_times_out_in_tokio_time() {
    use pool_runtime::{ManualClock, Pool, TokioClock};
    let _shared = Pool::builder()
        .clock(std::sync::Arc::new(ManualClock::new()))
        .build()
        .unwrap();
    let pool = Pool::builder()
        .size(1)
        .clock(TokioClock::new())
        .admission_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let permit = pool.try_acquire_owned(0).unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(pool.submit(async {}).await, Err(Rejected::TimedOut));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_millis(10_050),
        "{waited:?}"
    );
    // Admitted exactly at the deadline: counted once, either way.
    let late = tokio::spawn({
        let pool = pool.clone();
        async move { pool.submit(async {}).await }
    });
    tokio::time::sleep(Duration::from_secs(10)).await;
    drop(permit);
    let _ = late.await.unwrap();
    let s = pool.stats();
    assert_eq!(s.completed + s.rejected_for(Rejected::TimedOut), 3, "{s:?}");
    assert_accounted(&s);
}

/// Promise (`Pool::close`, `abort`, `resume`, `shutdown`): closing is for
/// good ("Stops intake for good"), so closing twice, aborting after close,
/// resuming or pausing a closed pool and shutting it down twice change
/// nothing: new calls stay `Closed`, every shutdown of the drained pool is
/// `Ok`, and the counters add up.
#[test]
fn closing_is_for_good_and_idempotent_whatever_follows_it() {
    let pool = Pool::fixed(1);
    pool.close();
    pool.close();
    pool.abort();
    pool.resume();
    assert!(pool.is_closed());
    assert_eq!(
        futures::executor::block_on(pool.submit(async { 1 })),
        Err(Rejected::Closed)
    );
    pool.pause();
    assert_eq!(
        futures::executor::block_on(pool.submit(async { 1 })),
        Err(Rejected::Closed),
        "closed wins over paused?"
    );
    assert!(futures::executor::block_on(pool.shutdown(Some(Duration::from_millis(10)))).is_ok());
    assert!(futures::executor::block_on(pool.shutdown(None)).is_ok());
    let s = pool.stats();
    assert_accounted(&s);
}

/// Promise (`Pool::drained`): "Resolves once the pool is closed and nothing
/// is waiting or running. (On an open pool it waits for `close` first.)"
/// and "Cancel-safe: it only observes". Many waits, made before and after
/// `close`, one dropped midway: all are woken and resolve when the last
/// call ends, and the counters are exact.
#[test]
fn many_drained_waits_before_and_after_close_all_resolve_once_drained() {
    let pool = Pool::fixed(1);
    let permit = pool.try_acquire_owned(0).unwrap();
    let mut before: Vec<_> = (0..5)
        .map(|_| {
            Task::new({
                let p = pool.clone();
                Box::pin(async move { p.drained().await })
                    as std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>
            })
        })
        .collect();
    for t in &mut before {
        t.assert_pending();
    }
    pool.close();
    for t in &mut before {
        t.assert_pending();
    }
    let mut after: Vec<_> = (0..5)
        .map(|_| {
            Task::new({
                let p = pool.clone();
                Box::pin(async move { p.drained().await })
                    as std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>
            })
        })
        .collect();
    for t in &mut after {
        t.assert_pending();
    }
    // drop one mid wait
    drop(before.pop());
    drop(permit);
    for t in before.iter_mut().chain(after.iter_mut()) {
        assert!(t.is_woken());
        t.assert_ready();
    }
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.completed), (0, 0, 1));
}

/// Promise (README): "sync and blocking callers in the same queue"; (`Pool::run`)
/// "in the same queue and order as async calls". Sync callers (parked
/// threads) and async callers queued alternately are admitted in the
/// pool's order: FIFO, LIFO, or by weight (all equal here: first come first
/// served).
#[test]
fn sync_and_async_callers_share_one_queue_in_every_order() {
    for order in [Order::Fifo, Order::Lifo, Order::Priority] {
        let pool = Pool::builder().order(order).size(1).build().unwrap();
        let permit = pool.try_acquire_owned(0).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..6usize {
            if i % 2 == 0 {
                let (p, l) = (pool.clone(), log.clone());
                threads.push(std::thread::spawn(move || {
                    p.run_weighted(0, || l.lock().unwrap().push(i)).unwrap()
                }));
                let t0 = Instant::now();
                while pool.stats().waiting < i + 1 {
                    assert!(t0.elapsed() < Duration::from_secs(5));
                    std::thread::yield_now();
                }
            } else {
                let (p, l) = (pool.clone(), log.clone());
                let mut t = Task::new(async move {
                    p.submit_weighted(0, async { l.lock().unwrap().push(i) })
                        .await
                        .unwrap()
                });
                t.assert_pending();
                tasks.push(t);
            }
        }
        assert_eq!(pool.stats().waiting, 6);
        drop(permit);
        // drive
        let t0 = Instant::now();
        while log.lock().unwrap().len() < 6 {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "{:?}",
                log.lock().unwrap()
            );
            tasks.retain_mut(|t| t.poll().is_pending());
            std::thread::sleep(Duration::from_millis(1));
        }
        for t in threads {
            t.join().unwrap();
        }
        let got = log.lock().unwrap().clone();
        let want: Vec<usize> = match order {
            Order::Lifo => (0..6).rev().collect(),
            _ => (0..6).collect(),
        };
        assert_eq!(got, want, "{order:?}");
    }
}

/// Promise (`Pool::scale`): "Growing admits waiting calls at once", in the
/// pool's order, with weights at `i64::MIN`/`i64::MAX`, a queued call
/// cancelled in between, and the pool paused (a pause does not touch calls
/// already waiting).
#[test]
fn scaling_up_admits_the_right_waiters_in_every_order() {
    for order in [Order::Fifo, Order::Lifo, Order::Priority] {
        let pool = Pool::builder().order(order).size(1).build().unwrap();
        pool.resize(0);
        let log = Arc::new(Mutex::new(Vec::new()));
        let weights = [i64::MAX, 0, i64::MIN, 5, i64::MIN, i64::MAX, -1];
        let mut tasks: Vec<_> = weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let (p, l) = (pool.clone(), log.clone());
                Some(Task::new(async move {
                    p.submit_weighted(w, async {
                        l.lock().unwrap().push(i);
                        std::future::pending::<()>().await
                    })
                    .await
                }))
            })
            .collect();
        for t in tasks.iter_mut().flatten() {
            t.assert_pending();
        }
        // cancel one in the middle
        tasks[3] = None;
        pool.pause();
        pool.scale(3);
        for t in tasks.iter_mut().flatten() {
            let _ = t.poll();
        }
        let got = log.lock().unwrap().clone();
        let want: Vec<usize> = match order {
            Order::Fifo => vec![0, 1, 2],
            Order::Lifo => vec![6, 5, 4],
            Order::Priority => vec![2, 4, 6],
        };
        let mut sorted = got.clone();
        sorted.sort();
        let mut w2 = want.clone();
        w2.sort();
        assert_eq!(sorted, w2, "{order:?}");
    }
}

static NEVER_WAITS: Group = Group::new(
    GroupSpec::new("r7::ceiling_never_waits")
        .size(4)
        .max_waiting(0),
);
static TIMED: Group = Group::new(
    GroupSpec::new("r7::ceiling_timed")
        .size(4)
        .admission_timeout(Duration::from_millis(150)),
);

/// Every rejecting path of `group`, each started on a thread of its own
/// (async ones under `block_on`), with what it answered and how long that
/// took; bounded.
fn each_path_answers(group: &'static Group) -> Vec<(&'static str, Result<(), Rejected>, Duration)> {
    use futures::executor::block_on;
    type Path = (&'static str, fn(&'static Group) -> Result<(), Rejected>);
    let paths: [Path; 6] = [
        ("submit", |g| block_on(g.submit(0, async {}))),
        ("submit_judged", |g| {
            block_on(g.submit_judged(0, async {}, |_| pool_runtime::Verdict::Success))
        }),
        ("run", |g| g.run(|| ())),
        ("submit_blocking", |g| block_on(g.submit_blocking(0, || ()))),
        ("acquire", |g| block_on(g.acquire(0)).map(drop)),
        ("acquire_owned", |g| block_on(g.acquire_owned(0)).map(drop)),
    ];
    paths
        .into_iter()
        .map(|(name, path)| {
            let (answer, took) = within(Duration::from_secs(5), move || {
                let started = Instant::now();
                (path(group), started.elapsed())
            });
            (name, answer, took)
        })
        .collect()
}

/// Promise (`GroupSettings::max_waiting`): "`0` means: never wait, run now
/// or be turned away" (`Rejected::Full`); (`admission_timeout`): "Turns a
/// call away with `Rejected::TimedOut` once it has waited this long for a
/// slot". Catches: under an application-wide ceiling whose slots were all
/// taken, a group call waited for a ceiling slot with no bound at all — a
/// group that must never wait waited, a group with a 150 ms timeout waited
/// for as long as the ceiling stayed full (a sync caller's thread parked) —
/// and its group did not count it meanwhile. Every rejecting path must be
/// turned away (`Full` at once, `TimedOut` after the timeout, never early),
/// counted by its group, and leave the ceiling's queue; once the ceiling
/// frees, the same calls run.
#[test]
fn a_groups_waiting_bound_and_timeout_bound_its_wait_for_the_ceiling() {
    let _turn = config_turn();
    config::load_str("app.toml", "ceiling = 1\n").unwrap();
    let holder = HOLDER.try_acquire(0).unwrap();

    for (path, answer, took) in each_path_answers(&NEVER_WAITS) {
        assert_eq!(answer, Err(Rejected::Full), "{path}: may never wait");
        assert!(
            took < Duration::from_secs(1),
            "{path}: at once, not {took:?}"
        );
    }
    let s = NEVER_WAITS.stats();
    assert_eq!(
        (s.rejected_for(Rejected::Full), s.submitted()),
        (6, 6),
        "{s:?}"
    );
    assert_accounted(&s);

    for (path, answer, took) in each_path_answers(&TIMED) {
        assert_eq!(
            answer,
            Err(Rejected::TimedOut),
            "{path}: waited past its timeout"
        );
        assert!(
            took >= Duration::from_millis(150) && took < Duration::from_secs(2),
            "{path}: turned away after {took:?}"
        );
    }
    let s = TIMED.stats();
    assert_eq!(
        (s.rejected_for(Rejected::TimedOut), s.submitted()),
        (6, 6),
        "{s:?}"
    );
    assert_accounted(&s);

    let c = pool_runtime::ceiling::stats().unwrap();
    assert_eq!(
        (c.running, c.waiting),
        (1, 0),
        "left the ceiling's queue: {c:?}"
    );
    assert_accounted(&c);

    drop(holder);
    for group in [&NEVER_WAITS, &TIMED] {
        for (path, answer, _) in each_path_answers(group) {
            assert_eq!(answer, Ok(()), "{path} runs once the ceiling is free");
        }
    }
    config::clear();
}

/// The same bound, the other way round: a call whose ceiling slot frees
/// before its group's timeout runs (it is not turned away for having
/// waited), and its wait for the ceiling counts nothing against it.
#[test]
fn a_call_whose_ceiling_slot_frees_in_time_runs() {
    let _turn = config_turn();
    config::load_str("app.toml", "ceiling = 1\n").unwrap();
    static IN_TIME: Group = Group::new(
        GroupSpec::new("r7::ceiling_in_time")
            .size(4)
            .admission_timeout(Duration::from_secs(2)),
    );
    let holder = HOLDER.try_acquire(0).unwrap();
    let mut call = Task::new(IN_TIME.submit(0, async { 9 }));
    call.assert_pending();
    std::thread::sleep(Duration::from_millis(50));
    drop(holder);
    assert!(call.is_woken());
    assert_eq!(call.assert_ready(), Ok(9));
    let s = IN_TIME.stats();
    assert_eq!((s.completed, s.rejected_total()), (1, 0), "{s:?}");
    config::clear();
}
