//! Hostile tests of the README's and the docs' promises, on the paths the
//! other suites leave alone: panicking wakers where the library cannot
//! re-raise their panic (the timer thread, a release during unwinding),
//! extreme timeouts, cancellation between admission and the first poll,
//! wakers that change between polls, reentrancy through permits, and races
//! of close/abort/pause/resize with parked sync callers. Each test says which
//! broken promise it would catch. Concurrency is counted from outside the
//! library; every wait is bounded, so a hang fails instead of freezing CI.
//!
//! Scenarios that could kill the process (an abort) or a process-wide
//! resource (the timer thread) run in a child process: this test binary
//! re-executes itself with one test selected.
#![cfg(feature = "tokio")]

mod common;

use common::{
    assert_accounted, gate, in_child_process, panicking_waker, quiet_planned_panics, within, Meter,
    Task,
};
use pool_runtime::{BlockingExecutor, BlockingJob, Kind, Pool, Rejected};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

fn fixed(size: usize) -> Pool {
    Pool::builder().size(size).build().unwrap()
}

fn noop_cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

// ---- panicking wakers where nobody can take the panic ----------------------

/// Promise: "a waker whose `wake` panics does not stop the rest of its
/// batch", and admission timeouts "work under any executor or none".
/// Catches: the timer thread dying on the first panicking waker it wakes,
/// after which no admission timeout in the process ever fires (a hang).
#[test]
fn a_panicking_waker_on_the_timer_thread_does_not_stop_later_timeouts() {
    in_child_process(
        "a_panicking_waker_on_the_timer_thread_does_not_stop_later_timeouts",
        &[],
        || {
            quiet_planned_panics();
            let pool = Pool::builder()
                .size(1)
                .admission_timeout(Duration::from_millis(20))
                .build()
                .unwrap();
            let held = pool.try_acquire().unwrap();
            let waker = panicking_waker();
            let mut bad = Box::pin(pool.submit(async {}));
            assert!(bad
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            // The timer fires for it, and its waker panics on the timer thread.
            std::thread::sleep(Duration::from_millis(200));
            assert_eq!(
                bad.as_mut().poll(&mut noop_cx()),
                Poll::Ready(Err(Rejected::TimedOut))
            );
            drop(bad);
            // A later async call that must wait still times out.
            let pool2 = pool.clone();
            let later = within(Duration::from_secs(5), move || {
                futures::executor::block_on(pool2.submit(async {}))
            });
            assert_eq!(later, Err(Rejected::TimedOut));
            drop(held);
            let s = pool.stats();
            assert_eq!(s.rejected_for(Rejected::TimedOut), 2, "{s:?}");
            assert_accounted(&s);
        },
    );
}

/// Promise: "a waker whose `wake` panics does not stop the rest of its
/// batch (the first panic is re-raised once all are woken)", and a
/// panicking call "frees its slot and the panic reaches the caller".
/// Catches: a slot released while its holder unwinds (a permit dropped by a
/// panic), handed to a waiter whose waker panics, re-raising that panic
/// inside a destructor during unwinding: the process aborts.
#[test]
fn a_permit_released_by_a_panic_to_a_panicking_waker_does_not_abort() {
    in_child_process(
        "a_permit_released_by_a_panic_to_a_panicking_waker_does_not_abort",
        &[],
        || {
            quiet_planned_panics();
            let pool = fixed(1);
            let held = pool.try_acquire().unwrap();
            let waker = panicking_waker();
            let mut bad = Box::pin(pool.acquire());
            assert!(bad
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            let out = catch_unwind(AssertUnwindSafe(move || {
                let _held = held;
                panic!("planned: the permit's holder panics");
            }));
            assert!(out.is_err());
            match bad.as_mut().poll(&mut noop_cx()) {
                Poll::Ready(Ok(permit)) => drop(permit),
                other => panic!("the slot was not handed on: {:?}", other.is_ready()),
            }
            drop(bad);
            let s = pool.stats();
            assert_eq!((s.completed, s.running, s.waiting), (2, 0, 0), "{s:?}");
            assert_accounted(&s);
        },
    );
}

/// As above, for a sync `run` whose closure panics and an async `submit`
/// whose work panics inside `block_on`: both release their slot while
/// unwinding.
#[test]
fn a_call_whose_work_panics_handing_its_slot_to_a_panicking_waker_does_not_abort() {
    in_child_process(
        "a_call_whose_work_panics_handing_its_slot_to_a_panicking_waker_does_not_abort",
        &[],
        || {
            quiet_planned_panics();
            let pool = fixed(1);
            // A waiter queued from another thread, with a panicking waker,
            // while this thread's call holds the slot.
            let queue_bad_waiter = |pool: &Pool| {
                let (queued_tx, queued_rx) = mpsc::channel();
                let (go_tx, go_rx) = mpsc::channel::<()>();
                let pool = pool.clone();
                let waiter = std::thread::spawn(move || {
                    let waker = panicking_waker();
                    let mut bad = Box::pin(pool.submit(async { 7 }));
                    assert!(bad
                        .as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_pending());
                    queued_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    bad.as_mut().poll(&mut noop_cx())
                });
                queued_rx.recv().unwrap();
                (waiter, go_tx)
            };

            let queued = Mutex::new(None);
            let check = |queued: &Mutex<Option<(std::thread::JoinHandle<_>, mpsc::Sender<()>)>>| {
                let (waiter, go) = queued.lock().unwrap().take().unwrap();
                go.send(()).unwrap();
                assert_eq!(
                    waiter.join().unwrap(),
                    Poll::Ready(Ok(7)),
                    "the slot was handed on"
                );
            };
            let sync = catch_unwind(AssertUnwindSafe(|| {
                pool.run(|| {
                    *queued.lock().unwrap() = Some(queue_bad_waiter(&pool));
                    panic!("planned: the sync work panics");
                })
            }));
            assert!(sync.is_err());
            check(&queued);

            let asynchronous = catch_unwind(AssertUnwindSafe(|| {
                futures::executor::block_on(pool.submit(async {
                    *queued.lock().unwrap() = Some(queue_bad_waiter(&pool));
                    panic!("planned: the async work panics");
                }))
            }));
            assert!(asynchronous.is_err());
            check(&queued);
            let s = pool.stats();
            assert_eq!(
                (s.completed, s.panicked, s.running, s.waiting),
                (4, 2, 0, 0),
                "{s:?}"
            );
            assert_accounted(&s);
        },
    );
}

// ---- wakers that change between polls ---------------------------------------

/// Counts its wakeups.
#[derive(Default)]
struct Counting(AtomicUsize);
impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Counting {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Promise: a freed slot goes to the next waiter, which is woken (the
/// future's contract: the waker of its latest poll). Catches: a waiter that
/// moved to another task (polled again with a new waker) being handed the
/// slot while the stale waker is woken: the new task never polls, a hang
/// holding the slot. For each form of waiting call.
#[test]
fn a_waiter_repolled_with_a_new_waker_is_woken_through_the_new_one() {
    let pool = fixed(1);
    let (hold, open) = gate();
    let mut holder = Task::new(pool.submit(hold));
    holder.assert_pending();

    let old = Arc::new(Counting::default());
    let new = Arc::new(Counting::default());
    let old_waker = Waker::from(old.clone());
    let new_waker = Waker::from(new.clone());
    let mut submit: Pin<Box<dyn Future<Output = bool>>> =
        Box::pin(async { pool.submit(async {}).await.is_ok() });
    let mut acquire: Pin<Box<dyn Future<Output = bool>>> =
        Box::pin(async { pool.acquire().await.is_ok() });
    let mut owned: Pin<Box<dyn Future<Output = bool>>> =
        Box::pin(async { pool.acquire_owned(0).await.is_ok() });
    for waiter in [&mut submit, &mut acquire, &mut owned] {
        assert!(waiter
            .as_mut()
            .poll(&mut Context::from_waker(&old_waker))
            .is_pending());
        assert!(waiter
            .as_mut()
            .poll(&mut Context::from_waker(&new_waker))
            .is_pending());
    }
    open.store(true, Ordering::SeqCst);
    assert_eq!(holder.assert_ready(), Ok(()));
    for (i, waiter) in [&mut submit, &mut acquire, &mut owned]
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            new.count(),
            i + 1,
            "the latest waker is woken for waiter {i}"
        );
        assert_eq!(old.count(), 0, "the stale waker is not");
        assert_eq!(
            waiter.as_mut().poll(&mut Context::from_waker(&new_waker)),
            Poll::Ready(true)
        );
    }
    let s = pool.stats();
    assert_eq!((s.completed, s.running, s.waiting), (4, 0, 0), "{s:?}");
    assert_accounted(&s);
}

/// Promise: an admission timeout fires for a call that waits too long.
/// Catches: the timer waking the waker of the deadline's first poll after
/// the call moved to another task: the call never learns it timed out.
#[test]
fn a_timed_waiter_repolled_with_a_new_waker_is_timed_out_through_the_new_one() {
    let pool = Pool::builder()
        .size(1)
        .admission_timeout(Duration::from_millis(30))
        .build()
        .unwrap();
    let _held = pool.try_acquire().unwrap();
    let old = Arc::new(Counting::default());
    let new = Arc::new(Counting::default());
    let new_waker = Waker::from(new.clone());
    let mut waiter = Box::pin(pool.submit(async {}));
    assert!(waiter
        .as_mut()
        .poll(&mut Context::from_waker(&Waker::from(old.clone())))
        .is_pending());
    assert!(waiter
        .as_mut()
        .poll(&mut Context::from_waker(&new_waker))
        .is_pending());
    let started = Instant::now();
    while new.count() == 0 && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(new.count(), 1, "the timer woke the latest waker");
    assert_eq!(
        waiter.as_mut().poll(&mut Context::from_waker(&new_waker)),
        Poll::Ready(Err(Rejected::TimedOut))
    );
}

// ---- zero and huge durations ------------------------------------------------

/// Promise: a timeout is a value; "a duration too long to pass
/// (`Duration::MAX`) means never". Catches: a zero admission timeout that
/// never fires or fires for calls that need not wait, and `Duration::MAX`
/// overflowing the deadline arithmetic (a panic) of sync or async waits.
#[test]
fn zero_and_max_admission_timeouts_time_out_at_once_or_never_for_every_caller() {
    quiet_planned_panics();
    for (timeout, expect_timeout) in [(Duration::ZERO, true), (Duration::MAX, false)] {
        let pool = Pool::builder()
            .size(1)
            .admission_timeout(timeout)
            .build()
            .unwrap();
        // A free slot: runs, whatever the timeout.
        assert_eq!(pool.run(|| 1), Ok(1));
        assert_eq!(futures::executor::block_on(pool.submit(async { 2 })), Ok(2));
        let held = pool.try_acquire().unwrap();
        let (p1, p2) = (pool.clone(), pool.clone());
        let sync = std::thread::spawn(move || p1.run(|| 3));
        let asynchronous =
            std::thread::spawn(move || futures::executor::block_on(p2.submit(async { 4 })));
        if expect_timeout {
            let sync = within(Duration::from_secs(5), move || sync.join().unwrap());
            let asynchronous = within(Duration::from_secs(5), move || asynchronous.join().unwrap());
            assert_eq!(
                (sync, asynchronous),
                (Err(Rejected::TimedOut), Err(Rejected::TimedOut))
            );
            drop(held);
        } else {
            let started = Instant::now();
            while pool.stats().waiting < 2 && started.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(2));
            }
            assert_eq!(pool.stats().waiting, 2, "both wait (and neither panicked)");
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(pool.stats().waiting, 2, "and keep waiting");
            drop(held);
            let sync = within(Duration::from_secs(5), move || sync.join().unwrap());
            let asynchronous = within(Duration::from_secs(5), move || asynchronous.join().unwrap());
            assert_eq!((sync, asynchronous), (Ok(3), Ok(4)));
        }
        let s = pool.stats();
        assert_eq!(s.running + s.waiting, 0, "{s:?}");
        assert_accounted(&s);
    }
}

/// Promise: `shutdown(Some(timeout))` "returns by its deadline whatever the
/// calls do". Catches: `Duration::ZERO` or `Duration::MAX` panicking or
/// hanging, or the zero deadline not turning away the waiting calls.
#[test]
fn shutdown_with_zero_and_max_deadlines() {
    let pool = fixed(1);
    let (hold, open) = gate();
    let mut running = Task::new(pool.submit(hold));
    running.assert_pending();
    let mut waiting = Task::new(pool.submit(async {}));
    waiting.assert_pending();
    let timed_out = futures::executor::block_on(pool.shutdown(Some(Duration::ZERO)))
        .expect_err("one call still runs at the deadline");
    assert_eq!(
        (timed_out.running, timed_out.turned_away),
        (1, 1),
        "{timed_out:?}"
    );
    assert_eq!(waiting.assert_ready(), Err(Rejected::Closed));
    open.store(true, Ordering::SeqCst);
    assert_eq!(running.assert_ready(), Ok(()));
    let s = pool.stats();
    assert_eq!(s.in_flight(), 0, "{s:?}");
    assert_accounted(&s);

    let pool = fixed(1);
    let (hold, open) = gate();
    let mut running = Task::new(pool.submit(hold));
    running.assert_pending();
    let mut shutdown = Task::new(pool.shutdown(Some(Duration::MAX)));
    shutdown.assert_pending();
    open.store(true, Ordering::SeqCst);
    assert_eq!(running.assert_ready(), Ok(()));
    assert!(shutdown.is_woken(), "the drain woke the shutdown");
    assert_eq!(shutdown.assert_ready(), Ok(()));
}

// ---- blocking executors that misbehave ----------------------------------------

/// An executor whose `execute` panics.
struct PanickingExecutor;
impl BlockingExecutor for PanickingExecutor {
    fn execute(&self, _job: BlockingJob) {
        panic!("planned: the executor refuses the job by panicking");
    }
}

/// Promise: "bad input is an error value, never a panic"... for the pool;
/// a user's executor that panics is the user's panic, but the pool must
/// lose nothing. Catches: the slot taken for the job leaking when
/// `execute` unwinds (the pool stuck at its limit forever), or the call
/// left uncounted.
#[test]
fn an_executor_that_panics_in_execute_frees_the_slot_and_the_call_is_counted() {
    quiet_planned_panics();
    let pool = Pool::builder()
        .size(1)
        .blocking_executor(Arc::new(PanickingExecutor))
        .build()
        .unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let out = catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(
            pool.submit_blocking(move || flag.store(true, Ordering::SeqCst)),
        )
    }));
    assert!(out.is_err(), "the executor's panic reaches the caller");
    assert!(!ran.load(Ordering::SeqCst));
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.cancelled), (0, 0, 1), "{s:?}");
    assert_accounted(&s);
    assert_eq!(pool.run(|| 5), Ok(5), "the slot came back");
}

/// Runs jobs only when the test says so.
#[derive(Clone, Default)]
struct DeferredExecutor(Arc<Mutex<Vec<BlockingJob>>>);
impl BlockingExecutor for DeferredExecutor {
    fn execute(&self, job: BlockingJob) {
        self.0.lock().unwrap().push(job);
    }
}
impl DeferredExecutor {
    fn run_all_on_threads(&self) -> Vec<std::thread::JoinHandle<()>> {
        let jobs: Vec<_> = self.0.lock().unwrap().drain(..).collect();
        jobs.into_iter().map(std::thread::spawn).collect()
    }
}

/// Promise: "blocking closures carry their slot to the executor thread and
/// release it there, so abandoning the wait never lets more closures run
/// than the limit"; dropped after admission, "the closure still runs to the
/// end". Catches: a caller dropped between admission and the job's start
/// (the job queued on a busy executor) releasing the slot early, so that
/// more closures run at once than the limit, or the job's slot leaking.
#[test]
fn a_blocking_caller_dropped_before_its_job_starts_keeps_the_slot_with_the_job() {
    let executor = DeferredExecutor::default();
    let pool = Pool::builder()
        .size(2)
        .blocking_executor(Arc::new(executor.clone()))
        .build()
        .unwrap();
    let meter = Meter::default();
    let ran = Arc::new(AtomicUsize::new(0));
    let job = |meter: &Meter, ran: &Arc<AtomicUsize>| {
        let (meter, ran) = (meter.clone(), ran.clone());
        move || {
            let _inside = meter.enter();
            std::thread::sleep(Duration::from_millis(30));
            ran.fetch_add(1, Ordering::SeqCst);
        }
    };
    // Two callers admitted, their jobs queued on the executor, then dropped.
    for _ in 0..2 {
        let mut call = Task::new(pool.submit_blocking(job(&meter, &ran)));
        call.assert_pending();
        drop(call);
    }
    assert_eq!(pool.stats().running, 2, "the queued jobs hold their slots");
    assert!(
        pool.try_acquire().is_err(),
        "no third call while two jobs hold the slots"
    );
    // More callers queue behind them; their jobs can only be submitted once
    // a slot frees.
    let waiting: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            let job = job(&meter, &ran);
            std::thread::spawn(move || futures::executor::block_on(pool.submit_blocking(job)))
        })
        .collect();
    let started = Instant::now();
    while pool.stats().waiting < 4 && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut threads = executor.run_all_on_threads();
    let started = Instant::now();
    while ran.load(Ordering::SeqCst) < 6 && started.elapsed() < Duration::from_secs(10) {
        threads.extend(executor.run_all_on_threads());
        std::thread::sleep(Duration::from_millis(2));
    }
    for t in threads {
        t.join().unwrap();
    }
    for w in waiting {
        assert_eq!(w.join().unwrap(), Ok(()));
    }
    assert_eq!(ran.load(Ordering::SeqCst), 6, "every closure ran");
    assert!(meter.max() <= 2, "{} closures ran at once", meter.max());
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.completed), (0, 0, 6), "{s:?}");
    assert_accounted(&s);
}

// ---- spawn --------------------------------------------------------------------

/// Promise: dropping a `SpawnHandle` "detaches the call (it still runs)";
/// later rejections (timed out) come "through the handle". Catches: a
/// detached call that never runs or is never counted; a spawned call
/// waiting past its admission timeout that hangs instead of returning
/// `TimedOut`; a paused pool spawning anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_calls_detach_time_out_and_are_turned_away_as_documented() {
    let pool = Pool::builder()
        .size(1)
        .admission_timeout(Duration::from_millis(30))
        .build()
        .unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let held = pool.try_acquire().unwrap();
    let timed = pool.spawn(async { 1 }).unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), timed).await,
        Ok(Err(Rejected::TimedOut))
    );
    drop(held);
    drop(
        pool.spawn(async move { flag.store(true, Ordering::SeqCst) })
            .unwrap(),
    );
    let started = Instant::now();
    while pool.stats().completed < 2 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(ran.load(Ordering::SeqCst), "the detached call ran");
    pool.pause();
    assert_eq!(pool.spawn(async {}).err(), Some(Rejected::Paused));
    pool.resume();
    pool.close();
    assert_eq!(pool.spawn(async {}).err(), Some(Rejected::Closed));
    let s = pool.stats();
    assert_eq!(
        (
            s.completed,
            s.rejected_for(Rejected::TimedOut),
            s.rejected_for(Rejected::Paused),
            s.rejected_for(Rejected::Closed)
        ),
        (2, 1, 1, 1),
        "{s:?}"
    );
    assert_accounted(&s);
}

// ---- reentrancy through permits and cancelled borrowers --------------------------

/// Polls `fut` once with a no-op waker and expects it to be ready.
#[track_caller]
fn ready_now<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut noop_cx()) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("expected the future to be ready at once"),
    }
}

/// Promise: "a nested call that outlives its parent keeps the slot busy
/// until it ends", and permits follow "the same reentrancy rule as
/// `submit`". Catches: a permit taken inside a call's work (borrowing the
/// call's slot) and carried out of it letting a second call run beside it
/// once the parent ended: two holders in a pool of one.
#[test]
fn a_permit_borrowed_inside_a_call_and_carried_out_keeps_the_slot_busy() {
    // (Leaked, so the borrowed permits can be returned out of the closures.)
    let pool: &'static Pool = Box::leak(Box::new(fixed(1)));
    // `acquire` and `acquire_owned`, taken in the work of an async call and
    // of a sync one, returned out of it.
    type Release<'a> = Box<dyn FnOnce() + 'a>;
    let carried_out: [&dyn Fn() -> Release<'static>; 4] = [
        &|| {
            let permit = ready_now(pool.submit(async { pool.acquire().await.unwrap() })).unwrap();
            Box::new(move || drop(permit))
        },
        &|| {
            let permit =
                ready_now(pool.submit(async { pool.acquire_owned(0).await.unwrap() })).unwrap();
            Box::new(move || drop(permit))
        },
        &|| {
            let permit = pool.run(|| ready_now(pool.acquire()).unwrap()).unwrap();
            Box::new(move || drop(permit))
        },
        &|| {
            let permit = pool.run(|| pool.try_acquire_owned(0).unwrap()).unwrap();
            Box::new(move || drop(permit))
        },
    ];
    for (i, take) in carried_out.into_iter().enumerate() {
        let permit = take();
        let s = pool.stats();
        assert_eq!(s.running, 1, "permit {i} keeps the slot: {s:?}");
        assert_eq!(pool.try_acquire().err(), Some(Rejected::Full), "permit {i}");
        let mut next = Task::new(pool.submit(async {}));
        next.assert_pending();
        permit();
        assert!(next.is_woken(), "permit {i}'s release hands the slot on");
        assert_eq!(next.assert_ready(), Ok(()));
        let s = pool.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
        assert_accounted(&s);
    }
}

/// Promise: one nested call at a time uses its parent's slot; the others
/// wait "for a free slot or for that slot to come back". Catches: a
/// nested borrower cancelled (dropped mid-run) not giving the slot back to
/// the nested call waiting for it (a hang), the slot given to two nested
/// calls at once, or `try_acquire` inside the work borrowing a slot that is
/// already lent.
#[test]
fn a_cancelled_nested_borrower_gives_the_lent_slot_to_the_next_nested_call() {
    let pool = fixed(1);
    let meter = Meter::default();
    let out = pool.run(|| {
        let mut first = Task::new(pool.submit(async {
            let _inside = meter.enter();
            std::future::pending::<()>().await
        }));
        first.assert_pending();
        assert_eq!(
            pool.try_acquire().err(),
            Some(Rejected::Full),
            "the parent's slot is lent to `first`"
        );
        let mut second = Task::new(pool.submit(async {
            let _inside = meter.enter();
        }));
        second.assert_pending();
        let mut third = Task::new(pool.acquire());
        third.assert_pending();
        assert_eq!(meter.now(), 1);
        drop(first);
        assert!(
            second.is_woken(),
            "the slot came back for the next nested call"
        );
        assert!(!third.is_woken(), "one at a time");
        assert_eq!(second.assert_ready(), Ok(()));
        assert!(third.is_woken());
        let permit = third.assert_ready().expect("borrowed in turn");
        assert_eq!(pool.stats().nested, 1);
        drop(permit);
        let s = pool.stats();
        (s.running, s.nested, s.waiting)
    });
    assert_eq!(out, Ok((1, 0, 0)));
    assert_eq!(meter.max(), 1, "never two bodies at once in a pool of one");
    let s = pool.stats();
    assert_eq!((s.running, s.cancelled, s.completed), (0, 1, 3), "{s:?}");
    assert_accounted(&s);
}

/// Promise: nested calls "belong to admitted work": a paused pool does not
/// turn them away; and nothing hangs. Catches: `pause`, `close` or `abort`
/// made while a nested call waits for its parent's lent slot stranding it
/// (never admitted nor turned away once the borrower ends), or the
/// accounting losing it.
#[test]
fn pause_close_and_abort_while_a_nested_call_waits_for_the_lent_slot() {
    for (what, act) in [
        ("pause", Pool::pause as fn(&Pool)),
        ("close", Pool::close),
        ("abort", Pool::abort),
    ] {
        let pool = fixed(1);
        let out = pool.run(|| {
            let (hold, open) = gate();
            let mut borrower = Task::new(pool.submit(hold));
            borrower.assert_pending();
            let mut waiting = Task::new(pool.submit(async { 9 }));
            waiting.assert_pending();
            act(&pool);
            let early = waiting.poll();
            open.store(true, Ordering::SeqCst);
            assert_eq!(borrower.assert_ready(), Ok(()));
            match early {
                Poll::Ready(out) => out,
                Poll::Pending => waiting.assert_ready(),
            }
        });
        let nested = out.unwrap_or_else(|e| panic!("{what}: the parent was turned away: {e}"));
        // README, reentrancy rule: a paused or closed pool still runs the
        // nested calls of admitted work; an abort turns away every waiting
        // call, nested ones too.
        let expected = if what == "abort" {
            Err(Rejected::Closed)
        } else {
            Ok(9)
        };
        assert_eq!(nested, expected, "{what}");
        let s = pool.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{what}: {s:?}");
        assert_accounted(&s);
    }
}

// ---- parked sync callers racing the pool's controls ------------------------------

/// `n` threads calling `pool.run` with a body metered from outside; each
/// returns its call's outcome.
fn parked_callers(
    pool: &Pool,
    meter: &Meter,
    n: usize,
) -> Vec<std::thread::JoinHandle<Result<(), Rejected>>> {
    (0..n)
        .map(|_| {
            let (pool, meter) = (pool.clone(), meter.clone());
            std::thread::spawn(move || {
                pool.run(|| {
                    let _inside = meter.enter();
                    std::thread::sleep(Duration::from_millis(2));
                })
            })
        })
        .collect()
}

#[track_caller]
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Promise: `abort` "rejects every waiting call at once", `close` lets
/// "waiting and running calls finish", `pause` keeps admitting queued
/// calls, `shutdown` returns by its deadline and turns the waiting away;
/// the limit holds meanwhile. Catches: a parked thread (not a polled task)
/// missed by any of them: never unparked (a hang), admitted past the
/// limit, or left uncounted.
#[test]
fn parked_sync_callers_follow_abort_close_pause_resize_and_shutdown() {
    type Act = fn(&Pool);
    let acts: [(&str, Act, bool); 5] = [
        ("abort", Pool::abort, false),
        ("close", Pool::close, true),
        ("pause", Pool::pause, true),
        ("resize to 3", |p: &Pool| assert_eq!(p.resize(3), 3), true),
        (
            "shutdown(0)",
            |p: &Pool| {
                let out = futures::executor::block_on(p.shutdown(Some(Duration::ZERO)));
                assert_eq!(out.map_err(|e| e.turned_away), Err(8), "all 8 turned away");
            },
            false,
        ),
    ];
    for (what, act, runs) in acts {
        let pool = fixed(2);
        let meter = Meter::default();
        let (a, b) = (pool.try_acquire().unwrap(), pool.try_acquire().unwrap());
        let callers = parked_callers(&pool, &meter, 8);
        wait_until("8 callers park", || pool.stats().waiting == 8);
        act(&pool);
        drop((a, b));
        let outcomes: Vec<_> = within(Duration::from_secs(10), move || {
            callers.into_iter().map(|c| c.join().unwrap()).collect()
        });
        let expected = if runs { Ok(()) } else { Err(Rejected::Closed) };
        assert!(
            outcomes.iter().all(|o| *o == expected),
            "{what}: {outcomes:?}"
        );
        let limit = if what == "resize to 3" { 3 } else { 2 };
        assert!(meter.max() <= limit, "{what}: {} at once", meter.max());
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{what}: {s:?}");
        assert_accounted(&s);
    }
}

/// Promise: "Scaling down never interrupts running work: the pool admits
/// nothing until `running < limit`", for autoscaled pools through
/// `set_bounds` too. Catches: new bounds below the running count admitting
/// waiters as soon as any call ends (more than the new max at once), or
/// `set_bounds` with bad values changing anything.
#[test]
fn set_bounds_below_the_running_count_admits_nothing_until_below_the_new_max() {
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(8)
        .size(6)
        .build()
        .unwrap();
    let meter = Meter::default();
    let gates: Vec<_> = (0..6).map(|_| gate()).collect();
    let mut running: Vec<_> = gates
        .iter()
        .map(|(g, _)| {
            let g = common::Gate(g.0.clone());
            let meter = meter.clone();
            Task::new(pool.submit(async move {
                let _inside = meter.enter();
                g.await
            }))
        })
        .collect();
    for r in &mut running {
        r.assert_pending();
    }
    let mut waiting: Vec<_> = (0..4)
        .map(|_| {
            let meter = meter.clone();
            Task::new(pool.submit(async move {
                let _inside = meter.enter();
            }))
        })
        .collect();
    for w in &mut waiting {
        w.assert_pending();
    }
    for (min, max) in [(3, 2), (0, 0), (usize::MAX, usize::MAX), (1, usize::MAX)] {
        assert!(pool.set_bounds(min, max).is_err(), "({min}, {max})");
    }
    assert_eq!(
        (pool.bounds(), pool.size()),
        ((1, 8), 6),
        "refused: unchanged"
    );
    assert_eq!(pool.set_bounds(1, 2), Ok(2));
    for (i, (_, open)) in gates.iter().enumerate().take(4) {
        open.store(true, Ordering::SeqCst);
        assert_eq!(running[i].assert_ready(), Ok(()));
        assert!(
            waiting.iter().all(|w| !w.is_woken()),
            "admitted with {} running and a max of 2",
            6 - i - 1
        );
    }
    // Two still run: at the limit, nothing admitted yet.
    for w in &mut waiting {
        w.assert_pending();
    }
    gates[4].1.store(true, Ordering::SeqCst);
    assert_eq!(running[4].assert_ready(), Ok(()));
    assert!(
        waiting[0].is_woken(),
        "one below the limit: the first waiter"
    );
    assert!(!waiting[1].is_woken());
    gates[5].1.store(true, Ordering::SeqCst);
    assert_eq!(running[5].assert_ready(), Ok(()));
    for w in &mut waiting {
        assert_eq!(w.assert_ready(), Ok(()));
    }
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.completed), (0, 0, 10), "{s:?}");
    assert_accounted(&s);
}

// ---- tower ------------------------------------------------------------------------

/// Promise (README, reentrancy rule): "a call into a pool from inside work
/// that holds one of its slots ... may run under its parent's slot instead
/// of waiting for a second one, so nested calls never deadlock a full
/// pool", and the limit still holds. Catches: a handler behind a
/// `PooledLayer` (whose response holds a slot of the pool) that calls the
/// same pool (a bulkhead layered over the group its handlers' `#[pooled]`
/// functions use) waiting for a second slot: with every slot held by
/// responses, a deadlock. For the constant-weight and the weighted layer.
#[cfg(feature = "tower")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_behind_the_layer_that_calls_the_same_pool_does_not_deadlock_it() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, Service, ServiceExt};

    async fn drive<S>(service: S) -> Vec<Result<u32, String>>
    where
        S: Service<u32, Response = u32, Error = BoxError> + Clone + Send + 'static,
        S::Future: Send,
    {
        let calls: Vec<_> = (0..8)
            .map(|n| tokio::spawn(service.clone().oneshot(n)))
            .collect();
        tokio::time::timeout(Duration::from_secs(5), async {
            let mut out = Vec::new();
            for call in calls {
                out.push(call.await.unwrap().map_err(|e| e.to_string()));
            }
            out
        })
        .await
        .expect("deadlocked: handlers wait for slots their own responses hold")
    }

    for weighted in [false, true] {
        let pool = fixed(2);
        let (handlers, nested) = (Meter::default(), Meter::default());
        let handler = {
            let (pool, handlers, nested) = (pool.clone(), handlers.clone(), nested.clone());
            service_fn(move |n: u32| {
                let (pool, handlers, nested) = (pool.clone(), handlers.clone(), nested.clone());
                async move {
                    let _inside = handlers.enter();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    // The handler's own work calls the pool its response
                    // holds a slot of.
                    let doubled = pool
                        .submit(async {
                            let _inside = nested.enter();
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            n * 2
                        })
                        .await?;
                    Ok::<_, BoxError>(doubled)
                }
            })
        };
        let layer = PooledLayer::pool(pool.clone());
        let outcomes = if weighted {
            drive(layer.weight(|n: &u32| i64::from(*n)).layer(handler)).await
        } else {
            drive(layer.layer(handler)).await
        };
        assert_eq!(outcomes, (0..8).map(|n| Ok(n * 2)).collect::<Vec<_>>());
        assert!(handlers.max() <= 2, "{} handlers at once", handlers.max());
        assert!(nested.max() <= 2, "{} nested calls at once", nested.max());
        let s = pool.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
        assert_eq!(
            s.completed, 16,
            "8 responses and their 8 nested calls: {s:?}"
        );
        assert_accounted(&s);
    }
}

// ---- streams ------------------------------------------------------------------------

/// Promise: "a panicking call frees its slot and the panic reaches the
/// caller", for calls a stream adapter runs; "every call is accounted for".
/// Catches: an item whose work panics (or a source stream that panics in
/// `poll_next`) leaving the adapter's other calls holding slots or queue
/// places once the caller catches the panic and drops the adapter, or the
/// panicked call counted as cancelled or not at all.
#[cfg(feature = "stream")]
#[test]
fn a_panic_in_an_item_or_in_the_source_stream_leaves_the_pool_clean() {
    use futures::stream::{self, Stream, StreamExt};
    use pool_runtime::PooledStreamExt;

    quiet_planned_panics();
    type Item = Pin<Box<dyn Future<Output = u32> + Send>>;
    let item = |n: u32| -> Item {
        Box::pin(async move {
            if n == 3 {
                panic!("planned: an item's work panics");
            }
            if n == 0 || n == 6 {
                std::future::pending::<()>().await; // holds its slot
            }
            n
        })
    };
    // The source itself panics when asked for its sixth item.
    let source = |panicking_source: bool| {
        stream::iter(0..8u32).map(move |n| {
            if panicking_source && n == 5 {
                panic!("planned: the source stream panics");
            }
            item(if panicking_source && n == 3 { 1 } else { n })
        })
    };
    for (ordered, panicking_source) in [(false, false), (true, false), (false, true), (true, true)]
    {
        let pool = fixed(3);
        let (hold, open) = gate();
        let mut outside = Task::new(pool.submit(hold));
        outside.assert_pending();
        let mut adapter: Pin<Box<dyn Stream<Item = Result<u32, Rejected>>>> = if ordered {
            Box::pin(source(panicking_source).pooled_ordered(&pool))
        } else {
            Box::pin(source(panicking_source).pooled_unordered(&pool))
        };
        let caught = catch_unwind(AssertUnwindSafe(|| {
            for _ in 0..16 {
                let _ = adapter.as_mut().poll_next(&mut noop_cx());
            }
        }));
        assert!(
            caught.is_err(),
            "ordered {ordered}, source {panicking_source}: the panic reached the caller"
        );
        drop(adapter);
        let s = pool.stats();
        assert_eq!(
            (s.running, s.nested, s.waiting),
            (1, 0, 0),
            "ordered {ordered}, source {panicking_source}: only the outside call holds a slot: {s:?}"
        );
        if !panicking_source {
            assert_eq!(s.panicked, 1, "{s:?}");
        }
        assert_accounted(&s);
        open.store(true, Ordering::SeqCst);
        assert_eq!(outside.assert_ready(), Ok(()));
        assert_eq!(pool.run(|| 1), Ok(1), "the slots came back");
    }
}

// ---- sync callers on runtimes, drain ---------------------------------------------------

/// Promise: a sync call that must wait on a current-thread runtime's thread
/// panics "naming the fixes (... call it through `spawn_blocking` ...)".
/// Catches: the named fix not working: a `run` on a `spawn_blocking` thread
/// of a current-thread runtime refusing to wait (a panic) or stalling the
/// runtime's task that holds the slot (a deadlock).
#[test]
fn the_spawn_blocking_fix_for_a_current_thread_runtime_works() {
    let out = within(Duration::from_secs(10), || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let pool = fixed(1);
            let meter = Meter::default();
            let holder = {
                let (pool, meter) = (pool.clone(), meter.clone());
                tokio::spawn(async move { pool.submit(meter.body(30)).await })
            };
            while pool.stats().running == 0 {
                tokio::task::yield_now().await;
            }
            let (p, m) = (pool.clone(), meter.clone());
            let sync = tokio::task::spawn_blocking(move || {
                p.run(|| {
                    let _inside = m.enter();
                    5
                })
            });
            assert_eq!(holder.await.unwrap(), Ok(()));
            let out = sync.await.unwrap();
            assert!(meter.max() <= 1, "{} at once", meter.max());
            out
        })
    });
    assert_eq!(out, Ok(5));
}

/// Promise: `drained` "resolves once the pool is closed and nothing is
/// waiting or running", and a nested call that outlives its parent "keeps
/// the slot busy until it ends"; `shutdown` reports what still runs.
/// Catches: a pool reported drained (or a shutdown reported clean) while a
/// permit or an escaped nested call still holds a slot.
#[test]
fn drained_waits_for_permits_and_escaped_nested_calls() {
    let pool = fixed(1);
    let permit = pool.try_acquire_owned(0).unwrap();
    pool.close();
    let mut drained = Task::new(pool.drained());
    drained.assert_pending();
    drop(permit);
    assert!(drained.is_woken());
    drained.assert_ready();

    let pool = fixed(1);
    let (nested_gate, open) = gate();
    // A nested call returned out of its parent's work, still pending.
    let escaped = pool
        .run(|| {
            let mut nested = Box::pin(pool.submit(nested_gate));
            assert!(nested.as_mut().poll(&mut noop_cx()).is_pending());
            nested
        })
        .unwrap();
    let mut escaped = Task::new(escaped);
    escaped.assert_pending();
    let s = pool.stats();
    assert_eq!(
        s.running + s.nested,
        1,
        "the escaped call keeps the slot: {s:?}"
    );
    let timed_out = futures::executor::block_on(pool.shutdown(Some(Duration::ZERO)))
        .expect_err("the escaped call still runs");
    assert_eq!(timed_out.running + timed_out.nested, 1, "{timed_out:?}");
    let mut drained = Task::new(pool.drained());
    drained.assert_pending();
    open.store(true, Ordering::SeqCst);
    assert_eq!(escaped.assert_ready(), Ok(()));
    drained.assert_ready();
    let s = pool.stats();
    assert_eq!(s.in_flight(), 0, "{s:?}");
    assert_accounted(&s);
}

/// Promise: `abort` turns away waiting calls; a handed-over slot is never
/// lost ("hand-off, no barging"; "nothing leaks, whatever the mix").
/// Catches: `abort` (or a zero-deadline `shutdown`) racing a hand-off: the
/// call handed the slot but not yet polled is turned away while its slot
/// stays counted as running (a leak that keeps `drained` from resolving),
/// or it is both admitted and counted as rejected.
#[test]
fn abort_between_a_hand_off_and_the_first_poll_loses_no_slot() {
    for shutdown in [false, true] {
        let pool = fixed(1);
        let (hold, open) = gate();
        let mut holder = Task::new(pool.submit(hold));
        holder.assert_pending();
        let mut handed = Task::new(pool.submit(async { 1 }));
        handed.assert_pending();
        let mut behind = Task::new(pool.submit(async { 2 }));
        behind.assert_pending();
        open.store(true, Ordering::SeqCst);
        assert_eq!(holder.assert_ready(), Ok(()));
        assert!(handed.is_woken(), "handed the slot");
        if shutdown {
            let out = futures::executor::block_on(pool.shutdown(Some(Duration::ZERO)));
            assert!(out.is_err(), "the handed call holds the slot: {out:?}");
        } else {
            pool.abort();
        }
        let handed = handed.assert_ready();
        assert!(
            handed == Ok(1) || handed == Err(Rejected::Closed),
            "{handed:?}"
        );
        assert_eq!(behind.assert_ready(), Err(Rejected::Closed));
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "shutdown {shutdown}: {s:?}");
        assert_accounted(&s);
        let mut drained = Task::new(pool.drained());
        drained.assert_ready();
    }
}

/// Promise (README): "When a running call is cancelled, its work is dropped
/// under its slot, so a `Drop` that calls the same pool runs as a nested
/// call instead of waiting for a slot it holds itself" — for the tower
/// layer's calls, whose inner future is the call's work. Catches: a
/// response future dropped mid-flight (a client gone) dropping the inner
/// future outside the slot's frame: a `Drop` in the handler that calls the
/// pool waits for the slot the response itself still holds, a deadlock.
#[cfg(feature = "tower")]
#[test]
fn a_dropped_response_drops_the_handler_under_its_slot() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, Service};

    struct CallsThePoolOnDrop(Pool, Arc<AtomicUsize>);
    impl Drop for CallsThePoolOnDrop {
        fn drop(&mut self) {
            let cleaned = self.0.run(|| 1).expect("the cleanup call runs");
            self.1.fetch_add(cleaned, Ordering::SeqCst);
        }
    }
    let cleaned = Arc::new(AtomicUsize::new(0));
    let pool = fixed(1);
    let out = {
        let (pool, cleaned) = (pool.clone(), cleaned.clone());
        within(Duration::from_secs(5), move || {
            let handler = {
                let (pool, cleaned) = (pool.clone(), cleaned.clone());
                service_fn(move |()| {
                    let guard = CallsThePoolOnDrop(pool.clone(), cleaned.clone());
                    async move {
                        let _guard = guard;
                        std::future::pending::<()>().await;
                        Ok::<_, BoxError>(())
                    }
                })
            };
            let mut service = PooledLayer::pool(pool.clone()).layer(handler);
            assert!(matches!(
                service.poll_ready(&mut noop_cx()),
                Poll::Ready(Ok(()))
            ));
            let mut response = Box::pin(service.call(()));
            assert!(response.as_mut().poll(&mut noop_cx()).is_pending());
            drop(response);
            pool.stats()
        })
    };
    assert_eq!(cleaned.load(Ordering::SeqCst), 1);
    assert_eq!((out.running, out.nested, out.waiting), (0, 0, 0), "{out:?}");
    assert_accounted(&out);
}

// ---- a blocking job's result and a panicking waker --------------------------

/// Runs each job on a thread of its own (not tokio's blocking pool): the
/// path where a job's result comes back through the pool's own channel.
struct OwnThreads;
impl BlockingExecutor for OwnThreads {
    fn execute(&self, job: BlockingJob) {
        std::thread::spawn(job);
    }
}

/// Promise: `Rejected::Closed` from a blocking call means its closure never
/// ran. Catches: a job whose slot release hands the slot to a waiter with a
/// panicking waker; the re-raised panic unwound the executor's thread before
/// the result was sent, and the caller got `Err(Closed)` for a closure that
/// ran to the end (and was counted completed). The caller now sees what a
/// `spawn_blocking` job would give it: the panic raised by its release.
#[test]
fn a_blocking_job_whose_release_meets_a_panicking_waker_is_not_reported_as_never_run() {
    quiet_planned_panics();
    let pool = Pool::builder()
        .size(1)
        .blocking_executor(Arc::new(OwnThreads))
        .build()
        .unwrap();
    let (queued_tx, queued_rx) = mpsc::channel::<()>();
    let (ran_tx, ran_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let waiter = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            // Queue behind the job with a panicking waker, once the job holds
            // the slot, and stay away (a new poll would replace the waker)
            // until the job's call is over.
            ran_rx.recv().unwrap();
            let waker = panicking_waker();
            let mut bad = Box::pin(pool.submit(async { 7 }));
            assert!(bad
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            queued_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            // Handed the slot by the job's release.
            bad.as_mut().poll(&mut noop_cx())
        })
    };
    let outcome = within(Duration::from_secs(10), {
        let pool = pool.clone();
        move || {
            catch_unwind(AssertUnwindSafe(|| {
                futures::executor::block_on(pool.submit_blocking(move || {
                    ran_tx.send(()).unwrap();
                    queued_rx.recv().unwrap();
                    42
                }))
            }))
        }
    });
    go_tx.send(()).unwrap();
    assert_eq!(
        waiter.join().unwrap(),
        Poll::Ready(Ok(7)),
        "the slot was handed on"
    );
    match outcome {
        Ok(Ok(out)) => assert_eq!(out, 42),
        Ok(Err(rejected)) => {
            panic!("the closure ran, yet the call was reported as turned away: {rejected}")
        }
        Err(payload) => assert!(
            payload
                .downcast_ref::<&str>()
                .is_some_and(|s| s.contains("a waker whose wake panics")),
            "the waker's panic reaches the caller"
        ),
    }
    let s = pool.stats();
    assert_eq!((s.completed, s.running, s.waiting), (2, 0, 0), "{s:?}");
    assert_accounted(&s);
}

/// Promise: the layer's response is the call holding the slot, and "nested
/// calls never deadlock a full pool". Catches: an inner service whose
/// `call` (or `poll_ready`) itself calls the pool — a sync `run` while it
/// builds its future — waiting for a second slot while its request holds
/// the only one. For the constant-weight layer, the weighted one (whose
/// inner `poll_ready` and `call` run once the slot is held) and the
/// rejecting one.
#[cfg(feature = "tower")]
#[test]
fn an_inner_service_that_calls_the_pool_in_call_does_not_deadlock_it() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, ServiceExt};

    for mode in ["constant", "weighted", "reject"] {
        let outcome = within(Duration::from_secs(10), move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let pool = fixed(1);
                let inside = Meter::default();
                let handler = {
                    let (pool, inside) = (pool.clone(), inside.clone());
                    service_fn(move |n: u32| {
                        // In `call`, before the response future exists.
                        let doubled = pool.run(|| {
                            let _inside = inside.enter();
                            n * 2
                        });
                        async move { Ok::<_, BoxError>(doubled?) }
                    })
                };
                let layer = PooledLayer::pool(pool.clone());
                let out = match mode {
                    "constant" => layer.layer(handler).oneshot(21).await,
                    "weighted" => layer.weight(|_: &u32| 0).layer(handler).oneshot(21).await,
                    _ => layer.reject().layer(handler).oneshot(21).await,
                };
                let s = pool.stats();
                (out.map_err(|e| e.to_string()), inside.max(), s)
            })
        });
        let (out, max, s) = outcome;
        assert_eq!(out, Ok(42), "{mode}");
        assert_eq!(max, 1, "{mode}");
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{mode}: {s:?}");
        assert_eq!(
            s.completed, 2,
            "{mode}: the response and its nested call: {s:?}"
        );
        assert_accounted(&s);
    }
}
