//! Model tests of the admission core's interleavings, under `loom`.
//!
//! Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p pool-runtime --release --test loom
//! ```
//!
//! (add `CARGO_TARGET_DIR=target/loom` to keep the loom build from
//! invalidating the normal release build; `LOOM_MAX_PREEMPTIONS=<n>` overrides
//! the preemption bound of 3 set by [`model`]). The models take about 40 s on
//! two cores, plus the build.
//!
//! Under `cfg(loom)` the core's atomics, its mutex, the queue nodes' cells,
//! the reentrancy thread-local and the parking of sync callers are loom's
//! (`src/sync.rs`), so loom explores the interleavings of their operations
//! (all of them up to the preemption bound), fails a model on a queue node
//! touched by two threads with nothing ordering the accesses, and on a
//! deadlock — which is how a lost wakeup or a lost slot shows up: a
//! `block_on` (or a parked `Pool::run`) that is never woken. Wake batches
//! hold 2 wakers under loom, so a few waiters reach the unlock-wake-relock
//! path of `admit_waiting` and `close`.
//!
//! Every model is small (at most three threads) and asserts a property:
//! bodies running at once never exceed the limit ([`Probe`]), no wakeup is
//! lost, and the counters are exact at the end ([`assert_counts`]).
//!
//! Not modelled, and why:
//! * admission timeouts: the deadline is a std timer thread (or tokio's
//!   timer) firing in wall-clock time, outside loom. A timeout ends in
//!   `Core::cancel`, the path of a dropped waiter, which the models race
//!   against hand-off and close; the timeout's own bookkeeping after it
//!   (`give_up` keeping a slot handed to it at the last moment) is not.
//! * the application-wide ceiling's own code (`ceiling.rs`): its pool is a
//!   process-wide `static`, whose loom objects would outlive the model's
//!   first execution. Its two-level admission is modelled with the same
//!   pieces composed by hand (a never-rejecting call of a one-slot pool whose
//!   work is a group's call).
//! * `Pool::spawn`: it needs a tokio runtime, whose threads loom does not run.
//! * autoscaling: it reads the system clock.
//!
//! The slot holder in most models is the main thread polling a call by hand:
//! its work is pending on the first poll and done on the second, so "release"
//! is that second poll.

#![cfg(loom)]

mod common;

use common::PendingOnce;
use loom::future::block_on;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;
use pool_runtime::{BlockingExecutor, BlockingJob, Group, GroupSpec, Order, Pool, Rejected};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// Runs `f` under loom, with a preemption bound unless `LOOM_MAX_PREEMPTIONS`
/// sets one.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// A call of `pool` that holds a slot until [`release`] polls it again.
fn hold(pool: &Pool) -> Pin<Box<impl Future<Output = Result<(), Rejected>> + '_>> {
    let mut held = Box::pin(pool.submit(PendingOnce::default()));
    assert!(poll_once(held.as_mut()).is_pending(), "holder admitted");
    held
}

fn release<F: Future<Output = Result<(), Rejected>> + ?Sized>(held: Pin<&mut F>) {
    assert_eq!(poll_once(held), Poll::Ready(Ok(())), "holder finished");
}

/// Work that checks that at most `max` calls run it at once.
async fn exclusive(inside: &AtomicUsize, max: usize) {
    let before = inside.fetch_add(1, SeqCst);
    assert!(
        before < max,
        "{} calls running at once, limit {max}",
        before + 1
    );
    inside.fetch_sub(1, SeqCst);
}

fn spin_until(flag: &AtomicBool) {
    while !flag.load(SeqCst) {
        thread::yield_now();
    }
}

fn assert_quiet(pool: &Pool) {
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting), (0, 0), "quiet: {stats:?}");
}

/// On a quiet pool, exactly `n` calls are admitted at once and the next
/// one waits: no slot was lost, none appeared.
fn assert_exactly_n_slots(pool: &Pool, n: usize) {
    assert_eq!(pool.size(), n);
    let mut calls: Vec<_> = (0..=n)
        .map(|_| Box::pin(pool.submit(PendingOnce::default())))
        .collect();
    for call in &mut calls {
        assert!(poll_once(call.as_mut()).is_pending());
    }
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting), (n, 1), "{n} slots");
    drop(calls);
    assert_quiet(pool);
}

#[test]
fn a_freed_slot_goes_to_the_queued_waiter_not_to_a_newcomer() {
    model(|| {
        let pool = Pool::fixed(1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut held = hold(&pool);

        let queued = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (pool, order, queued) = (pool.clone(), order.clone(), queued.clone());
            thread::spawn(move || {
                let mut call =
                    Box::pin(pool.submit(async { order.lock().unwrap().push("waiter") }));
                assert!(poll_once(call.as_mut()).is_pending(), "the slot is held");
                queued.store(true, SeqCst);
                block_on(call)
            })
        };
        spin_until(&queued);
        // A newcomer arrives while the slot is being released.
        let newcomer = {
            let (pool, order) = (pool.clone(), order.clone());
            thread::spawn(move || {
                block_on(pool.submit(async { order.lock().unwrap().push("newcomer") }))
            })
        };
        release(held.as_mut());

        assert_eq!(waiter.join().unwrap(), Ok(()));
        assert_eq!(newcomer.join().unwrap(), Ok(()));
        assert_eq!(*order.lock().unwrap(), ["waiter", "newcomer"]);
        assert_quiet(&pool);
        assert_eq!(pool.stats().completed, 3);
    });
}

#[test]
fn two_acquirers_and_a_release_share_one_slot_and_lose_no_wakeup() {
    model(|| {
        let pool = Pool::fixed(1);
        let inside = Arc::new(AtomicUsize::new(0));
        let mut held = hold(&pool);
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (pool, inside) = (pool.clone(), inside.clone());
                thread::spawn(move || block_on(pool.submit(exclusive(&inside, 1))))
            })
            .collect();
        release(held.as_mut());
        for caller in callers {
            assert_eq!(caller.join().unwrap(), Ok(()));
        }
        assert_quiet(&pool);
        assert_eq!(pool.stats().completed, 3);
        assert_exactly_n_slots(&pool, 1);
    });
}

#[test]
fn a_waiter_dropped_while_its_slot_is_handed_to_it_passes_the_slot_on() {
    model(|| {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        let mut held = hold(&pool);
        // The next waiter after the one that gives up (weight 1 > 0).
        let mut next = Box::pin(pool.submit_weighted(1, async { 7 }));
        assert!(poll_once(next.as_mut()).is_pending());

        let queued = Arc::new(AtomicBool::new(false));
        let quitter = {
            let (pool, queued) = (pool.clone(), queued.clone());
            thread::spawn(move || {
                let mut call = Box::pin(pool.submit_weighted(0, async { 0 }));
                assert!(poll_once(call.as_mut()).is_pending(), "the slot is held");
                queued.store(true, SeqCst);
                // Dropped while the release below hands it the slot, or
                // before, or after.
                drop(call);
            })
        };
        spin_until(&queued);
        release(held.as_mut());
        assert_eq!(block_on(next), Ok(7), "the slot reached the next waiter");
        quitter.join().unwrap();

        assert_quiet(&pool);
        let stats = pool.stats();
        assert_eq!((stats.completed, stats.cancelled), (2, 1));
        assert_exactly_n_slots(&pool, 1);
    });
}

#[test]
fn a_waiter_dropped_while_its_slot_is_handed_to_it_gives_the_slot_back() {
    model(|| {
        let pool = Pool::fixed(1);
        let mut held = hold(&pool);
        let queued = Arc::new(AtomicBool::new(false));
        let quitter = {
            let (pool, queued) = (pool.clone(), queued.clone());
            thread::spawn(move || {
                let mut call = Box::pin(pool.submit(async {}));
                assert!(poll_once(call.as_mut()).is_pending(), "the slot is held");
                queued.store(true, SeqCst);
                drop(call);
            })
        };
        spin_until(&queued);
        release(held.as_mut());
        quitter.join().unwrap();

        assert_quiet(&pool);
        let stats = pool.stats();
        assert_eq!((stats.completed, stats.cancelled), (1, 1));
        assert_exactly_n_slots(&pool, 1);
    });
}

#[test]
fn a_scale_down_racing_a_release_retires_the_slot_instead_of_handing_it_on() {
    model(|| {
        let pool = Pool::fixed(2);
        let mut first = hold(&pool);
        let mut second = hold(&pool);
        // Published by this thread before the releases, read by the waiter
        // once it runs (its admission synchronises with a release).
        let scaled_before_first_release = Arc::new(AtomicBool::new(false));
        let second_released = Arc::new(AtomicBool::new(false));
        let scaled = Arc::new(AtomicBool::new(false));

        let waiter = {
            let pool = pool.clone();
            let (early, second_released) =
                (scaled_before_first_release.clone(), second_released.clone());
            thread::spawn(move || {
                block_on(pool.submit(async {
                    // Once the limit is 1 while two run, only the second
                    // release may admit anyone.
                    if early.load(SeqCst) {
                        assert!(second_released.load(SeqCst), "admitted over the limit");
                    }
                }))
            })
        };
        let scaler = {
            let (pool, scaled) = (pool.clone(), scaled.clone());
            thread::spawn(move || {
                assert_eq!(pool.resize(1), 1);
                scaled.store(true, SeqCst);
            })
        };

        scaled_before_first_release.store(scaled.load(SeqCst), SeqCst);
        release(first.as_mut());
        second_released.store(true, SeqCst);
        release(second.as_mut());

        assert_eq!(waiter.join().unwrap(), Ok(()));
        scaler.join().unwrap();
        assert_quiet(&pool);
        assert_eq!(pool.stats().completed, 3);
        assert_exactly_n_slots(&pool, 1);
    });
}

/// Work that counts itself in `inside` while it runs, and checks that neither
/// it nor the pool ever has more than `max` calls running.
async fn counted(pool: &Pool, inside: &AtomicUsize, max: usize, hold: bool) {
    let now = inside.fetch_add(1, SeqCst) + 1;
    assert!(now <= max, "{now} calls running at once, limit {max}");
    let running = pool.stats().running;
    assert!(
        running <= max,
        "the pool counts {running} running, limit {max}"
    );
    if hold {
        PendingOnce::default().await;
    }
    inside.fetch_sub(1, SeqCst);
}

#[test]
fn a_scale_up_racing_a_release_admits_both_waiters_within_the_new_limit() {
    model(|| {
        let pool = Pool::fixed(1);
        let inside = AtomicUsize::new(0);
        let mut held = Box::pin(pool.submit(counted(&pool, &inside, 2, true)));
        assert!(poll_once(held.as_mut()).is_pending(), "holder admitted");
        let mut waiters: Vec<_> = (0..2)
            .map(|_| Box::pin(pool.submit(counted(&pool, &inside, 2, false))))
            .collect();
        for waiter in &mut waiters {
            assert!(poll_once(waiter.as_mut()).is_pending());
        }
        let scaler = {
            let pool = pool.clone();
            thread::spawn(move || {
                assert_eq!(pool.scale(1), 2);
                // The limit was never above 2, so neither was `running`.
                let running = pool.stats().running;
                assert!(running <= 2, "{running} running after scaling to 2");
            })
        };
        release(held.as_mut());
        scaler.join().unwrap();
        for waiter in waiters {
            assert_eq!(block_on(waiter), Ok(()));
        }
        assert_quiet(&pool);
        assert_eq!(pool.stats().completed, 3);
        assert_exactly_n_slots(&pool, 2);
    });
}

#[test]
fn a_scale_up_admits_a_waiter_while_the_slot_is_still_held() {
    model(|| {
        let pool = Pool::fixed(1);
        let mut held = hold(&pool);
        let waiter = {
            let pool = pool.clone();
            thread::spawn(move || block_on(pool.submit(async { 3 })))
        };
        assert_eq!(pool.scale(1), 2);
        // Only the scale-up can admit the waiter: the slot is still held.
        assert_eq!(waiter.join().unwrap(), Ok(3));
        release(held.as_mut());
        assert_quiet(&pool);
        assert_exactly_n_slots(&pool, 2);
    });
}

fn one_slot_group() -> Arc<Group> {
    Arc::new(Group::new(GroupSpec::new("loom").size(1)))
}

#[test]
fn a_never_rejecting_call_racing_pause_release_resume_is_held_then_admitted() {
    model(|| {
        let group = one_slot_group();
        let pool = group.pool().clone();
        let mut held = hold(&pool);
        let patient = {
            let group = group.clone();
            thread::spawn(move || block_on(group.submit_wait(0, async { 5 })))
        };
        pool.pause();
        release(held.as_mut());
        pool.resume();

        assert_eq!(
            patient.join().unwrap(),
            5,
            "a never-rejecting call finishes"
        );
        assert_quiet(&pool);
        let stats = pool.stats();
        assert!(!stats.paused);
        assert_eq!((stats.completed, stats.rejected_total()), (2, 0));
        assert_exactly_n_slots(&pool, 1);
    });
}

#[test]
fn a_call_racing_pause_release_resume_is_admitted_or_rejected_as_paused() {
    model(|| {
        let pool = Pool::fixed(1);
        let mut held = hold(&pool);
        let caller = {
            let pool = pool.clone();
            thread::spawn(move || block_on(pool.submit(async { 6 })))
        };
        pool.pause();
        release(held.as_mut());
        pool.resume();

        let result = caller.join().unwrap();
        assert!(
            matches!(result, Ok(6) | Err(Rejected::Paused)),
            "{result:?}"
        );
        assert_quiet(&pool);
        let stats = pool.stats();
        assert_eq!(
            (stats.completed, stats.rejected_for(Rejected::Paused)),
            if result.is_ok() { (2, 0) } else { (1, 1) }
        );
        assert_exactly_n_slots(&pool, 1);
    });
}

#[test]
fn abort_turns_away_a_queued_or_arriving_call_and_then_drains() {
    model(|| {
        let pool = Pool::fixed(1);
        let mut held = hold(&pool);
        let caller = {
            let pool = pool.clone();
            thread::spawn(move || block_on(pool.submit(async { 1 })))
        };
        pool.abort();
        release(held.as_mut());
        block_on(pool.drained());

        assert_eq!(caller.join().unwrap(), Err(Rejected::Closed));
        assert_quiet(&pool);
        let stats = pool.stats();
        assert!(stats.closed);
        assert_eq!(
            (stats.completed, stats.rejected_for(Rejected::Closed)),
            (1, 1)
        );
    });
}

#[test]
fn abort_racing_a_waiter_that_gives_up_counts_it_once() {
    model(|| {
        let pool = Pool::fixed(1);
        let mut held = hold(&pool);
        let quitter = {
            let pool = pool.clone();
            thread::spawn(move || {
                let mut call = Box::pin(pool.submit(async {}));
                let first = poll_once(call.as_mut());
                assert!(
                    matches!(first, Poll::Pending | Poll::Ready(Err(Rejected::Closed))),
                    "{first:?}"
                );
                drop(call);
            })
        };
        pool.abort();
        release(held.as_mut());
        quitter.join().unwrap();

        assert_quiet(&pool);
        let stats = pool.stats();
        assert_eq!(stats.completed, 1);
        assert_eq!(stats.cancelled + stats.rejected_for(Rejected::Closed), 1);
        assert_eq!(stats.submitted(), 2);
    });
}

#[test]
fn close_lets_a_queued_call_finish_and_drains_only_after_it() {
    model(|| {
        let pool = Pool::fixed(1);
        let mut held = hold(&pool);
        let (started, finished) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let caller = {
            let (pool, started, finished) = (pool.clone(), started.clone(), finished.clone());
            thread::spawn(move || {
                block_on(pool.submit(async move {
                    started.store(true, SeqCst);
                    thread::yield_now();
                    finished.store(true, SeqCst);
                }))
            })
        };
        pool.close();
        release(held.as_mut());
        block_on(pool.drained());
        // Drained means nothing runs: a call that started has finished.
        if started.load(SeqCst) {
            assert!(finished.load(SeqCst), "drained while a call was running");
        }

        let result = caller.join().unwrap();
        assert!(
            matches!(result, Ok(()) | Err(Rejected::Closed)),
            "{result:?}"
        );
        assert_eq!(result.is_ok(), started.load(SeqCst));
        assert_quiet(&pool);
    });
}

// ---- helpers of the models below ----------------------------------------

/// The calls' bodies check in here: at most `max` of them run at once (the
/// limit, or what a lent slot allows). (It reads no `stats()` on the way:
/// every load is a point where loom may switch threads, and a dozen of them
/// per body multiply the interleavings past this suite's time budget.)
struct Probe {
    inside: AtomicUsize,
    ran: AtomicUsize,
    max: usize,
}

impl Probe {
    fn new(max: usize) -> Arc<Probe> {
        Arc::new(Probe {
            inside: AtomicUsize::new(0),
            ran: AtomicUsize::new(0),
            max,
        })
    }

    fn enter(&self) {
        let now = self.inside.fetch_add(1, SeqCst) + 1;
        assert!(now <= self.max, "{now} bodies at once, limit {}", self.max);
    }

    fn leave(&self) {
        self.inside.fetch_sub(1, SeqCst);
        self.ran.fetch_add(1, SeqCst);
    }

    /// A body that runs straight through.
    fn body(&self) {
        self.enter();
        self.leave();
    }

    /// A body that is pending once (waking itself) before it ends, so that
    /// other calls see it running.
    async fn held(&self) {
        self.enter();
        YieldOnce(false).await;
        self.leave();
    }

    fn ran(&self) -> usize {
        self.ran.load(SeqCst)
    }

    fn inside(&self) -> usize {
        self.inside.load(SeqCst)
    }
}

/// Pending once, asking to be polled again at once.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// The pool is quiet and every counter is exact: `completed`, `cancelled`
/// and `closed` (rejected as closed, the only rejection these models see)
/// add up to the `calls` made, which is what the pool counted as submitted.
fn assert_counts(pool: &Pool, calls: u64, completed: u64, cancelled: u64, closed: u64) {
    let s = pool.stats();
    assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "quiet: {s:?}");
    assert_eq!(
        (s.completed, s.panicked, s.cancelled),
        (completed, 0, cancelled),
        "{s:?}"
    );
    assert_eq!(
        (s.rejected_for(Rejected::Closed), s.rejected_total()),
        (closed, closed),
        "{s:?}"
    );
    assert_eq!(
        completed + cancelled + closed,
        calls,
        "every call ended once"
    );
    assert_eq!(s.submitted(), calls, "{s:?}");
}

/// A blocking executor that runs each job on a loom thread, so that the
/// job's slot is released on another thread of the model.
#[derive(Default)]
struct LoomThreads(std::sync::Mutex<Vec<thread::JoinHandle<()>>>);

impl BlockingExecutor for LoomThreads {
    fn execute(&self, job: BlockingJob) {
        let handle = thread::spawn(job);
        self.0.lock().unwrap().push(handle);
    }
}

impl LoomThreads {
    /// Waits for every job run so far.
    fn join_all(&self) {
        let handles = std::mem::take(&mut *self.0.lock().unwrap());
        for handle in handles {
            handle.join().unwrap();
        }
    }
}

/// A FIFO pool of `size` whose blocking jobs run on loom threads.
fn blocking_pool(size: usize) -> (Pool, std::sync::Arc<LoomThreads>) {
    let executor = std::sync::Arc::new(LoomThreads::default());
    let pool = Pool::builder()
        .size(size)
        .blocking_executor(executor.clone())
        .build()
        .unwrap();
    (pool, executor)
}

/// Unparks a loom thread.
struct Unparker(thread::Thread);

impl Wake for Unparker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives `fut` on this thread, parking between polls, with a waker whose
/// clone is not a loom operation: a blocking call's result sits behind a std
/// mutex, and a loom context switch while a coroutine holds it (a clone of
/// `loom::future::block_on`'s waker is one) would deadlock the OS thread.
fn park_on<F: Future + ?Sized>(mut fut: Pin<&mut F>) -> F::Output {
    let waker = Waker::from(std::sync::Arc::new(Unparker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

// ---- nested calls and the slot-sharing rule ------------------------------

#[test]
fn two_nested_calls_share_the_parent_slot_one_at_a_time_while_a_waiter_gives_up() {
    model(|| {
        let pool = Pool::fixed(1);
        let probe = Probe::new(1);
        let mut parent = Box::pin(pool.submit(async {
            // The first borrows the parent's slot; the second waits for it
            // in the queue (a full pool, and the slot is lent).
            let first = pool.submit(probe.held());
            let second = pool.submit(async { probe.body() });
            futures::join!(first, second)
        }));
        assert!(poll_once(parent.as_mut()).is_pending());
        let s = pool.stats();
        assert_eq!((s.running, s.nested, s.waiting), (1, 1, 1), "{s:?}");

        // An independent call arrives and gives up, while the borrow passes
        // from the first nested call to the second and the parent finishes.
        let quitter = {
            let (pool, probe) = (pool.clone(), probe.clone());
            thread::spawn(move || {
                let mut call = Box::pin(pool.submit(async { probe.body() }));
                let first = poll_once(call.as_mut());
                drop(call);
                match first {
                    Poll::Ready(result) => result.map(|()| true),
                    Poll::Pending => Ok(false),
                }
            })
        };
        assert_eq!(block_on(parent), Ok((Ok(()), Ok(()))));
        let quitter_ran = quitter.join().unwrap().unwrap() as u64;

        assert_eq!(probe.ran() as u64, 2 + quitter_ran);
        assert_counts(&pool, 4, 3 + quitter_ran, 1 - quitter_ran, 0);
        assert_exactly_n_slots(&pool, 1);
    });
}

#[test]
fn a_nested_blocking_job_that_outlives_its_lender_releases_the_slot_once() {
    model(|| {
        let (pool, executor) = blocking_pool(1);
        let probe = Probe::new(1);
        // An independent call waits for the only slot (or takes it first).
        let waiter = {
            let (pool, probe) = (pool.clone(), probe.clone());
            thread::spawn(move || block_on(pool.submit(async { probe.body() })))
        };
        let parent = pool.submit(async {
            let job_probe = probe.clone();
            let mut job = Box::pin(pool.submit_blocking(move || job_probe.body()));
            // Borrows the parent's slot and goes to the executor; then its
            // caller goes away, and the parent finishes while the job may
            // still run: the job keeps the slot and releases it at its end.
            let _ = poll_once(job.as_mut());
        });
        assert_eq!(block_on(parent), Ok(()));
        assert_eq!(waiter.join().unwrap(), Ok(()));
        executor.join_all();

        assert_eq!(probe.ran(), 2);
        assert_counts(&pool, 3, 3, 0, 0);
        assert_exactly_n_slots(&pool, 1);
    });
}

#[test]
fn a_nested_waiter_racing_a_hand_off_gets_the_lent_slot_or_a_free_one_never_both() {
    model(|| {
        let (pool, executor) = blocking_pool(2);
        // The job, the first nested call and the second one: the second can
        // only overlap the first on a slot of its own.
        let probe = Probe::new(2);
        // An independent blocking call holds one slot and frees it on the
        // executor's thread, racing the parent's nested calls below.
        let mut job = {
            let job_probe = probe.clone();
            Box::pin(pool.submit_blocking(move || job_probe.body()))
        };
        let job_first = poll_once(job.as_mut());

        let parent = pool.submit(async {
            let first = pool.submit(probe.held());
            // Waits for the lent slot and for a free one at once.
            let second = pool.submit(async { probe.body() });
            futures::join!(first, second)
        });
        assert_eq!(block_on(parent), Ok((Ok(()), Ok(()))));
        match job_first {
            Poll::Ready(result) => assert_eq!(result, Ok(())),
            Poll::Pending => assert_eq!(park_on(job.as_mut()), Ok(())),
        }
        executor.join_all();

        assert_eq!(probe.ran(), 3);
        assert_counts(&pool, 4, 4, 0, 0);
        assert_exactly_n_slots(&pool, 2);
    });
}

// ---- admission timeouts, blocking jobs and close ------------------------

/// A timeout ends in `Core::cancel`, like a dropped waiter (the timer itself
/// runs outside loom, see the module docs): here the waiter gives up while
/// the slot is released and the pool closes.
#[test]
fn a_waiter_giving_up_racing_a_hand_off_and_close_is_counted_once_and_drains() {
    model(|| {
        let pool = Pool::fixed(1);
        let mut held = hold(&pool);
        let quitter = {
            let pool = pool.clone();
            thread::spawn(move || {
                let mut call = Box::pin(pool.submit(async {}));
                let first = poll_once(call.as_mut());
                drop(call);
                match first {
                    Poll::Ready(Ok(())) => "ran",
                    Poll::Ready(Err(Rejected::Closed)) => "closed",
                    Poll::Ready(Err(other)) => panic!("{other:?}"),
                    Poll::Pending => "gave up",
                }
            })
        };
        let closer = {
            let pool = pool.clone();
            thread::spawn(move || pool.close())
        };
        release(held.as_mut());
        closer.join().unwrap();
        block_on(pool.drained());

        let (completed, cancelled, closed) = match quitter.join().unwrap() {
            "ran" => (2, 0, 0),
            "closed" => (1, 0, 1),
            _ => (1, 1, 0),
        };
        assert_counts(&pool, 2, completed, cancelled, closed);
    });
}

fn a_blocking_jobs_release_racing_close_and_a_waiter(abort: bool) {
    model(move || {
        let (pool, executor) = blocking_pool(1);
        let probe = Probe::new(1);
        let mut job = {
            let job_probe = probe.clone();
            Box::pin(pool.submit_blocking(move || job_probe.body()))
        };
        // Admitted at once; the slot travels with the job to a loom thread.
        let job_first = poll_once(job.as_mut());
        let waiter = {
            let (pool, probe) = (pool.clone(), probe.clone());
            thread::spawn(move || block_on(pool.submit(async { probe.body() })))
        };
        if abort {
            pool.abort();
        } else {
            pool.close();
        }
        match job_first {
            Poll::Ready(result) => assert_eq!(result, Ok(())),
            Poll::Pending => assert_eq!(park_on(job.as_mut()), Ok(())),
        }
        block_on(pool.drained());
        // Drained: nothing runs, and whatever was admitted has finished.
        assert_eq!(probe.inside(), 0, "drained while a body runs");
        let ran_at_drain = probe.ran();

        let waited = waiter.join().unwrap();
        assert!(
            matches!(waited, Ok(()) | Err(Rejected::Closed)),
            "{waited:?}"
        );
        let admitted = waited.is_ok() as u64;
        assert_eq!(
            ran_at_drain as u64,
            1 + admitted,
            "drained before a call ran"
        );
        executor.join_all();
        assert_counts(&pool, 2, 1 + admitted, 0, 1 - admitted);
    });
}

#[test]
fn a_blocking_jobs_release_on_its_thread_racing_close_and_a_waiter() {
    a_blocking_jobs_release_racing_close_and_a_waiter(false);
}

#[test]
fn a_blocking_jobs_release_on_its_thread_racing_abort_and_a_waiter() {
    a_blocking_jobs_release_racing_close_and_a_waiter(true);
}

// ---- orders, batches, limits ---------------------------------------------

#[test]
fn lifo_hands_a_freed_slot_to_the_newest_waiter() {
    model(|| {
        let pool = Pool::builder().order(Order::Lifo).size(1).build().unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut held = hold(&pool);
        let log = |name: &'static str| {
            let order = order.clone();
            async move { order.lock().unwrap().push(name) }
        };
        let mut older = Box::pin(pool.submit(log("older")));
        let mut newer = Box::pin(pool.submit(log("newer")));
        assert!(poll_once(older.as_mut()).is_pending());
        assert!(poll_once(newer.as_mut()).is_pending());
        // A newcomer arrives while the slot is released: it queues as the
        // newest, or comes after the release and waits behind the others'
        // hand-offs; either way the older waiter goes last of the two.
        let newcomer = {
            let (pool, order) = (pool.clone(), order.clone());
            thread::spawn(move || {
                block_on(pool.submit(async { order.lock().unwrap().push("newcomer") }))
            })
        };
        release(held.as_mut());
        let (a, b) = block_on(futures::future::join(newer, older));
        assert_eq!((a, b), (Ok(()), Ok(())));
        assert_eq!(newcomer.join().unwrap(), Ok(()));

        let order = order.lock().unwrap().clone();
        let at = |name| order.iter().position(|n| *n == name).unwrap();
        assert!(at("newer") < at("older"), "LIFO: {order:?}");
        assert_counts(&pool, 4, 4, 0, 0);
        assert_exactly_n_slots(&pool, 1);
    });
}

/// Counts its wakeups (with a std atomic: no loom operation, so the waiters
/// can wait without being polled while the model runs).
#[derive(Default)]
struct Woken(std::sync::atomic::AtomicUsize);

impl Wake for Woken {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn wake_batches_larger_than_one_batch_racing_a_resize_abort_and_release_lose_nothing() {
    model(|| {
        let pool = Pool::fixed(1);
        let mut held = hold(&pool);
        // Four waiters: more than one batch (2 under loom) both for the
        // resize's admissions (up to 3 of them, within the new limit of 4)
        // and for the abort's rejections; the held slot is released while
        // either may have the lock dropped between two batches.
        let mut waiters: Vec<_> = (0..4)
            .map(|_| {
                let woken = std::sync::Arc::new(Woken::default());
                let waker = Waker::from(woken.clone());
                let mut call = Box::pin(pool.submit(async {}));
                let first = call.as_mut().poll(&mut Context::from_waker(&waker));
                assert!(first.is_pending());
                (call, woken)
            })
            .collect();
        let resizer = {
            let pool = pool.clone();
            thread::spawn(move || assert_eq!(pool.resize(4), 4))
        };
        let aborter = {
            let pool = pool.clone();
            thread::spawn(move || pool.abort())
        };
        release(held.as_mut());
        resizer.join().unwrap();
        aborter.join().unwrap();
        let running = pool.stats().running;
        assert!(running <= 4, "{running} running, limit 4");

        let mut admitted = 0;
        for (call, woken) in &mut waiters {
            // Every waiter was admitted or turned away, and woken for it.
            assert!(
                woken.0.load(std::sync::atomic::Ordering::SeqCst) > 0,
                "a lost wakeup"
            );
            match poll_once(call.as_mut()) {
                Poll::Ready(Ok(())) => admitted += 1,
                Poll::Ready(Err(Rejected::Closed)) => {}
                other => panic!("{other:?}"),
            }
        }
        block_on(pool.drained());
        assert_counts(&pool, 5, 1 + admitted, 0, 4 - admitted);
    });
}

#[test]
fn a_resize_to_zero_racing_a_release_holds_the_queue_until_resized_up() {
    model(|| {
        let pool = Pool::fixed(1);
        let mut held = hold(&pool);
        let zeroed = Arc::new(AtomicBool::new(false));
        let zero_before_release = Arc::new(AtomicBool::new(false));
        let reopened = Arc::new(AtomicBool::new(false));
        let waiter = {
            let pool = pool.clone();
            let (early, reopened) = (zero_before_release.clone(), reopened.clone());
            thread::spawn(move || {
                block_on(pool.submit(async {
                    // Once the limit is 0, only the resize back to 1 admits.
                    if early.load(SeqCst) {
                        assert!(reopened.load(SeqCst), "admitted at a limit of 0");
                    }
                }))
            })
        };
        let resizer = {
            let (pool, zeroed) = (pool.clone(), zeroed.clone());
            thread::spawn(move || {
                assert_eq!(pool.resize(0), 0);
                zeroed.store(true, SeqCst);
            })
        };
        zero_before_release.store(zeroed.load(SeqCst), SeqCst);
        release(held.as_mut());
        resizer.join().unwrap();
        reopened.store(true, SeqCst);
        assert_eq!(pool.resize(1), 1);

        assert_eq!(waiter.join().unwrap(), Ok(()));
        assert_counts(&pool, 2, 2, 0, 0);
        assert_exactly_n_slots(&pool, 1);
    });
}

// ---- the ceiling's two-level admission -------------------------------------

fn group(name: &'static str) -> Arc<Group> {
    Arc::new(Group::new(GroupSpec::new(name).size(1)))
}

/// The ceiling's scheme (`ceiling.rs`), composed by hand: a call takes a slot
/// of the one-slot "ceiling" pool (never rejecting) and, inside its work, its
/// group's slot; a call nested in that work borrows the ceiling slot. With
/// the ceiling taken first, a ceiling holder whose work calls into a second
/// group cannot deadlock with that group's callers.
#[test]
fn two_level_admission_ceiling_first_runs_one_top_level_call_at_a_time() {
    model(|| {
        let (ceiling, a, b) = (group("ceiling"), group("a"), group("b"));
        // Start the pools here: a group starts its pool behind a std
        // `OnceLock`, whose synchronisation loom does not see.
        for group in [&ceiling, &a, &b] {
            group.pool();
        }
        let probe = Probe::new(1);
        let nested = {
            let (ceiling, a, b, probe) = (ceiling.clone(), a.clone(), b.clone(), probe.clone());
            thread::spawn(move || {
                // Group a's work calls group b, under the ceiling slot.
                let inner = ceiling.submit_wait(0, b.submit(0, async { probe.body() }));
                block_on(ceiling.submit_wait(0, a.submit(0, inner)))
            })
        };
        let plain = ceiling.submit_wait(0, b.submit(0, async { probe.body() }));
        assert_eq!(block_on(plain), Ok(()));
        assert_eq!(nested.join().unwrap(), Ok(Ok(())));

        assert_eq!(probe.ran(), 2);
        assert_counts(ceiling.pool(), 3, 3, 0, 0);
        assert_counts(a.pool(), 1, 1, 0, 0);
        assert_counts(b.pool(), 2, 2, 0, 0);
    });
}

// ---- sync callers ---------------------------------------------------------

/// A pool whose sync callers wait in the room (sync barging) for longer than
/// a model runs: under loom the room's wait is untimed, so a notification
/// the room misses is a deadlock here, not a wait until the bound.
fn barging_pool(size: usize) -> Pool {
    Pool::builder()
        .size(size)
        .sync_barging(Duration::from_secs(3600))
        .build()
        .unwrap()
}

#[test]
fn a_sync_barger_is_woken_by_a_release_that_frees_its_slot() {
    model(|| {
        let pool = barging_pool(1);
        let probe = Probe::new(1);
        let mut held = hold(&pool);
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (pool, probe) = (pool.clone(), probe.clone());
                thread::spawn(move || pool.run(|| probe.body()))
            })
            .collect();
        release(held.as_mut());
        for caller in callers {
            assert_eq!(caller.join().unwrap(), Ok(()));
        }
        assert_eq!(probe.ran(), 2);
        assert_counts(&pool, 3, 3, 0, 0);
        assert_exactly_n_slots(&pool, 1);
    });
}

#[test]
fn a_sync_barger_racing_a_pause_and_a_release_is_admitted_or_turned_away() {
    model(|| {
        let pool = barging_pool(1);
        let probe = Probe::new(1);
        let mut held = hold(&pool);
        let caller = {
            let (pool, probe) = (pool.clone(), probe.clone());
            thread::spawn(move || pool.run(|| probe.body()))
        };
        release(held.as_mut());
        pool.pause();
        let out = caller.join().unwrap();
        assert!(matches!(out, Ok(()) | Err(Rejected::Paused)), "{out:?}");
        let paused = u64::from(out.is_err());
        let s = pool.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Paused), paused, "{s:?}");
        assert_eq!(s.completed, 2 - paused, "{s:?}");
        assert_eq!(s.submitted(), 2, "{s:?}");
        pool.resume();
        assert_exactly_n_slots(&pool, 1);
    });
}

#[test]
fn a_sync_barger_racing_a_close_finishes_or_is_turned_away_and_the_pool_drains() {
    model(|| {
        let pool = barging_pool(1);
        let probe = Probe::new(1);
        let mut held = hold(&pool);
        let caller = {
            let (pool, probe) = (pool.clone(), probe.clone());
            thread::spawn(move || pool.run(|| probe.body()))
        };
        pool.close();
        release(held.as_mut());
        // Drained only once the caller, if it got in before the close (in
        // the room, then the queue), ran.
        block_on(pool.drained());
        let ran_at_drain = probe.ran();
        let out = caller.join().unwrap();
        assert!(matches!(out, Ok(()) | Err(Rejected::Closed)), "{out:?}");
        assert_eq!(ran_at_drain, usize::from(out.is_ok()));
        let closed = u64::from(out.is_err());
        assert_counts(&pool, 2, 2 - closed, 0, closed);
    });
}

#[test]
fn two_sync_callers_park_and_are_unparked_by_a_release() {
    model(|| {
        let pool = Pool::fixed(1);
        let probe = Probe::new(1);
        let mut held = hold(&pool);
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (pool, probe) = (pool.clone(), probe.clone());
                thread::spawn(move || pool.run(|| probe.body()))
            })
            .collect();
        release(held.as_mut());
        for caller in callers {
            assert_eq!(caller.join().unwrap(), Ok(()));
        }
        assert_eq!(probe.ran(), 2);
        assert_counts(&pool, 3, 3, 0, 0);
        assert_exactly_n_slots(&pool, 1);
    });
}
