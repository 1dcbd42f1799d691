//! A waiting call polled again with another waker replaces the one it
//! stored; a replaced waker whose `Drop` panics must not unwind out of the
//! pool's locks nor out of the poll (README, "Faults lose nothing": a
//! waker whose `Drop` panics has its panic caught), and the call goes on
//! waiting, is woken through its new waker and is accounted for.
#![cfg(feature = "tokio")]

mod common;
#[cfg(feature = "redis")]
mod redis_server;

use common::{assert_accounted, in_child_process, quiet_planned_panics, waker_whose_drop_panics};
use pool_runtime::{Group, GroupSpec, Pool};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

#[derive(Default)]
struct Wakes(AtomicUsize);

impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `call` with `bad` (it waits), then, with `bad`'s drop armed,
/// again with a counting waker: the second poll must neither panic nor
/// finish. Returns the call and the counting waker's count.
fn repoll_with_another_waker<'a, F: Future>(
    call: Pin<&'a mut F>,
    armed: &'static AtomicBool,
) -> (Pin<&'a mut F>, Arc<Wakes>) {
    let mut call = call;
    let bad = waker_whose_drop_panics(armed);
    assert!(call
        .as_mut()
        .poll(&mut Context::from_waker(&bad))
        .is_pending());
    let wakes = Arc::new(Wakes::default());
    let good = Waker::from(wakes.clone());
    armed.store(true, Ordering::SeqCst);
    let second = catch_unwind(AssertUnwindSafe(|| {
        call.as_mut()
            .poll(&mut Context::from_waker(&good))
            .is_pending()
    }));
    armed.store(false, Ordering::SeqCst);
    drop(bad);
    assert!(
        matches!(second, Ok(true)),
        "the replaced waker's panic came out of the poll"
    );
    (call, wakes)
}

fn finish<F: Future>(call: Pin<&mut F>, wakes: &Wakes) -> F::Output {
    assert!(
        wakes.0.load(Ordering::SeqCst) > 0,
        "the new waker was not woken"
    );
    match call.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the woken call was not admitted"),
    }
}

#[test]
fn a_waiting_submit_repolled_with_a_new_waker_catches_the_old_wakers_drop_panic() {
    quiet_planned_panics();
    static ARMED: AtomicBool = AtomicBool::new(false);
    let pool = Pool::builder().size(1).build().unwrap();
    let held = pool.try_acquire().unwrap();
    let mut call = std::pin::pin!(pool.submit(async { 7 }));
    let (call, wakes) = repoll_with_another_waker(call.as_mut(), &ARMED);
    assert_eq!(pool.stats().waiting, 1);
    drop(held);
    assert_eq!(finish(call, &wakes), Ok(7));
    let s = pool.stats();
    assert_eq!((s.completed, s.waiting, s.running), (2, 0, 0), "{s:?}");
    assert_accounted(&s);
    assert_eq!(pool.run(|| 1), Ok(1), "the pool still admits");
}

#[test]
fn a_waiting_submit_with_an_admission_timeout_repolled_with_a_new_waker_catches_the_old_wakers_drop_panic(
) {
    quiet_planned_panics();
    // The deadline's timer stores the call's waker too: the crate's timer
    // thread, and tokio's timer (a tokio clock inside a runtime with time).
    static ARMED: AtomicBool = AtomicBool::new(false);
    timed_call_repolled(Pool::builder(), &ARMED);
    static ARMED_TOKIO: AtomicBool = AtomicBool::new(false);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _inside = runtime.enter();
    timed_call_repolled(
        Pool::builder().clock(pool_runtime::TokioClock::new()),
        &ARMED_TOKIO,
    );
}

fn timed_call_repolled(builder: pool_runtime::PoolBuilder, armed: &'static AtomicBool) {
    let pool = builder
        .size(1)
        .admission_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let held = pool.try_acquire().unwrap();
    let mut call = std::pin::pin!(pool.submit(async { 7 }));
    let (call, wakes) = repoll_with_another_waker(call.as_mut(), armed);
    drop(held);
    assert_eq!(finish(call, &wakes), Ok(7));
    let s = pool.stats();
    assert_eq!((s.completed, s.waiting, s.running), (2, 0, 0), "{s:?}");
    assert_accounted(&s);
}

#[test]
fn a_waiting_permit_repolled_with_a_new_waker_catches_the_old_wakers_drop_panic() {
    quiet_planned_panics();
    static ARMED: AtomicBool = AtomicBool::new(false);
    let pool = Pool::builder().size(1).build().unwrap();
    let held = pool.try_acquire().unwrap();
    let mut call = std::pin::pin!(pool.acquire());
    let (call, wakes) = repoll_with_another_waker(call.as_mut(), &ARMED);
    assert_eq!(pool.stats().waiting, 1);
    drop(held);
    let permit = finish(call, &wakes).unwrap();
    assert_eq!(pool.stats().running, 1);
    drop(permit);
    let s = pool.stats();
    assert_eq!((s.completed, s.waiting, s.running), (2, 0, 0), "{s:?}");
    assert_accounted(&s);
}

static GROUPED: Group = Group::new(GroupSpec::new("waker_replaced::grouped").size(1));

#[test]
fn a_waiting_group_call_repolled_with_a_new_waker_catches_the_old_wakers_drop_panic() {
    quiet_planned_panics();
    static ARMED: AtomicBool = AtomicBool::new(false);
    let held = GROUPED.try_acquire_owned(0).unwrap();
    let mut call = std::pin::pin!(GROUPED.submit(0, async { 7 }));
    let (call, wakes) = repoll_with_another_waker(call.as_mut(), &ARMED);
    drop(held);
    assert_eq!(finish(call, &wakes), Ok(7));
    let s = GROUPED.stats();
    assert_eq!((s.waiting, s.running), (0, 0), "{s:?}");
    assert_accounted(&s);
}

static UNDER_CEILING: Group = Group::new(GroupSpec::new("waker_replaced::under_ceiling").size(2));

/// A group call waiting for the application's ceiling stores its waker in
/// the ceiling's queue.
#[test]
fn a_group_call_waiting_for_the_ceiling_repolled_with_a_new_waker_catches_the_old_wakers_drop_panic(
) {
    in_child_process(
        "a_group_call_waiting_for_the_ceiling_repolled_with_a_new_waker_catches_the_old_wakers_drop_panic",
        &[(b"POOLED_CEILING", b"1")],
        || {
            quiet_planned_panics();
            static ARMED: AtomicBool = AtomicBool::new(false);
            let held = UNDER_CEILING.try_acquire_owned(0).unwrap();
            let mut call = std::pin::pin!(UNDER_CEILING.submit(0, async { 7 }));
            let (call, wakes) = repoll_with_another_waker(call.as_mut(), &ARMED);
            assert_eq!(pool_runtime::ceiling::stats().unwrap().waiting, 1);
            drop(held);
            assert_eq!(finish(call, &wakes), Ok(7));
            let ceiling = pool_runtime::ceiling::stats().unwrap();
            assert_eq!((ceiling.waiting, ceiling.running), (0, 0), "{ceiling:?}");
            assert_accounted(&ceiling);
            assert_accounted(&UNDER_CEILING.stats());
        },
    );
}

#[test]
fn a_drained_wait_repolled_with_a_new_waker_catches_the_old_wakers_drop_panic() {
    quiet_planned_panics();
    static ARMED: AtomicBool = AtomicBool::new(false);
    let pool = Pool::builder().size(1).build().unwrap();
    let held = pool.try_acquire().unwrap();
    pool.close();
    let mut wait = std::pin::pin!(pool.drained());
    let (wait, wakes) = repoll_with_another_waker(wait.as_mut(), &ARMED);
    drop(held);
    finish(wait, &wakes);
}

/// A fleet group's call running under its lease (feature `redis`) keeps
/// the waker to wake when the lease is lost; re-polled with another, the
/// replaced one is dropped outside the lease's lock, its panic caught: the
/// call runs on (it does not end as a panicked call).
#[cfg(feature = "redis")]
mod fleet {
    use super::redis_server;
    use super::*;
    use pool_runtime::fleet::OnUnreachable;

    #[test]
    fn a_fleet_call_repolled_with_a_new_waker_catches_the_old_wakers_drop_panic() {
        quiet_planned_panics();
        static ARMED: AtomicBool = AtomicBool::new(false);
        let server = redis_server::RedisServer::start();
        let group =
            redis_server::fleet_group("waker_replaced_fleet", &server, 1, OnUnreachable::Wait);
        let bad = waker_whose_drop_panics(&ARMED);
        let mut call = Box::pin(group.submit(0, std::future::pending::<()>()));
        // Polled with `bad` until the call runs under its lease.
        let started = std::time::Instant::now();
        loop {
            assert!(call
                .as_mut()
                .poll(&mut Context::from_waker(&bad))
                .is_pending());
            if group.fleet_stats().unwrap().held == 1 && group.stats().running == 1 {
                // Once more: now running, it registers `bad` with its lease.
                assert!(call
                    .as_mut()
                    .poll(&mut Context::from_waker(&bad))
                    .is_pending());
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "no lease");
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = repoll_with_another_waker(call.as_mut(), &ARMED);
        let s = group.stats();
        assert_eq!((s.panicked, s.running), (0, 1), "still running: {s:?}");
        drop(call);
        let s = group.stats();
        assert_eq!((s.cancelled, s.panicked, s.running), (1, 0, 0), "{s:?}");
        assert_accounted(&s);
    }
}

/// A stream run through a pool (feature `stream`) keeps its task's waker
/// for its calls to wake; re-polled with another, the replaced one's panic
/// is caught and the stream goes on.
#[cfg(feature = "stream")]
#[test]
fn a_pooled_stream_repolled_with_a_new_waker_catches_the_old_wakers_drop_panic() {
    use futures::Stream;
    use pool_runtime::PooledStreamExt;
    quiet_planned_panics();
    static ARMED: AtomicBool = AtomicBool::new(false);
    let pool = Pool::builder().size(1).build().unwrap();
    let held = pool.try_acquire().unwrap();
    let jobs = futures::stream::iter((0..2).map(|i| async move { i }));
    let mut stream = std::pin::pin!(jobs.pooled_ordered(&pool));
    let mut next = std::pin::pin!(std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)));
    let (next, wakes) = repoll_with_another_waker(next.as_mut(), &ARMED);
    drop(held);
    assert_eq!(finish(next, &wakes), Some(Ok(0)));
}

/// A blocking call's caller waits for its closure's result, keeping its
/// waker for the executor's thread to wake; re-polled with another, the
/// replaced one's panic is caught and the result still arrives.
#[test]
fn a_blocking_calls_caller_repolled_with_a_new_waker_catches_the_old_wakers_drop_panic() {
    quiet_planned_panics();
    static ARMED: AtomicBool = AtomicBool::new(false);
    let pool = Pool::builder().size(1).build().unwrap();
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let mut call = std::pin::pin!(pool.submit_blocking(move || {
        wait.recv().unwrap();
        7
    }));
    let (call, wakes) = repoll_with_another_waker(call.as_mut(), &ARMED);
    release.send(()).unwrap();
    let started = std::time::Instant::now();
    while wakes.0.load(Ordering::SeqCst) == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "never woken");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(finish(call, &wakes), Ok(7));
    let s = pool.stats();
    assert_eq!((s.completed, s.running), (1, 0), "{s:?}");
    assert_accounted(&s);
}

/// A [`BlockingExecutor`](pool_runtime::BlockingExecutor) that runs each job
/// on a thread of its own and keeps the threads, so a test can see whether
/// a job's thread panicked.
#[derive(Default)]
struct Threads(std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>);

impl pool_runtime::BlockingExecutor for Threads {
    fn execute(&self, job: pool_runtime::BlockingJob) {
        self.0.lock().unwrap().push(std::thread::spawn(job));
    }
}

/// A blocking call's closure returns on the executor's thread, which wakes
/// the caller: a waker whose `wake` panics has its panic caught there (the
/// README's "faults lose nothing"; an executor need not catch panics of its
/// jobs), and the result waits for the caller's next poll.
#[test]
fn a_blocking_calls_wake_that_panics_does_not_unwind_on_the_executors_thread() {
    quiet_planned_panics();
    let threads = Arc::new(Threads::default());
    let pool = Pool::builder()
        .size(1)
        .blocking_executor(threads.clone())
        .build()
        .unwrap();
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let mut call = std::pin::pin!(pool.submit_blocking(move || {
        wait.recv().unwrap();
        7
    }));
    let bad = common::panicking_waker();
    assert!(call
        .as_mut()
        .poll(&mut Context::from_waker(&bad))
        .is_pending());
    release.send(()).unwrap();
    let job = threads.0.lock().unwrap().pop().expect("one job");
    assert!(
        job.join().is_ok(),
        "the wake's panic unwound on the executor's thread"
    );
    let wakes = Arc::new(Wakes::default());
    let waker = Waker::from(wakes.clone());
    assert_eq!(
        call.as_mut().poll(&mut Context::from_waker(&waker)),
        Poll::Ready(Ok(7))
    );
    let s = pool.stats();
    assert_eq!((s.completed, s.running), (1, 0), "{s:?}");
    assert_accounted(&s);
}
