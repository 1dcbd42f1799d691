//! A global pool is not tied to any runtime (DESIGN §3): one `static Group`
//! serves tokio runtimes created one after another, several runtimes on
//! different threads at once, `futures::executor::block_on`, and plain
//! threads — and blocking calls and admission timeouts work from whatever
//! context a call is made in, long after the runtime that first used the pool
//! is gone.
//!
//! Every scenario submits more calls than the pool has slots, each holding
//! its slot across a real wait (a yield and a sleep), and checks each call's
//! result, that no more than the pool's size ran at once (the tests share the
//! pool and run in parallel, so the bound holds across all of them), that
//! calls really queued, and that everything finished within a bounded time.

use futures::future::join_all;
use pool_runtime::{Group, GroupSpec, Pool, Rejected};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

const SLOTS: usize = 3;
/// Calls per scenario and runtime: more than `SLOTS`, so calls queue.
const CALLS: u64 = 10;
/// A scenario that has not finished by then has hung.
const WITHIN: Duration = Duration::from_secs(20);

static POOL: Group = Group::new(GroupSpec::new("runtime-independence").size(SLOTS));

/// Calls of `POOL` holding a slot right now, across every test.
static INSIDE: AtomicUsize = AtomicUsize::new(0);

/// Counts a call in `INSIDE` for as long as it lives, and checks the bound.
struct Inside<'a>(&'a AtomicUsize);

impl<'a> Inside<'a> {
    fn enter(count: &'a AtomicUsize, limit: usize) -> Self {
        let now = count.fetch_add(1, SeqCst) + 1;
        assert!(now <= limit, "{now} calls hold a slot of a pool of {limit}");
        Inside(count)
    }
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

/// Pending once (waking itself), then ready: a yield any executor honours.
#[derive(Default)]
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Per-scenario evidence that calls had to wait for a slot.
#[derive(Default)]
struct Queued(AtomicUsize);

impl Queued {
    fn assert_some(&self, scenario: &str) {
        assert!(
            self.0.load(SeqCst) > 0,
            "{scenario}: no call ever waited for a slot"
        );
    }
}

/// One call of `POOL`: it waits for a slot, then holds it across `pause`,
/// and returns `i * 2`. Notes in `queued` if its first poll left it waiting,
/// and counts its first poll in `polled`.
async fn call<P: Future<Output = ()>>(
    i: u64,
    queued: &Queued,
    polled: &AtomicUsize,
    pause: P,
) -> u64 {
    let started = AtomicBool::new(false);
    let mut submit = Box::pin(POOL.submit(0, async {
        started.store(true, SeqCst);
        let _inside = Inside::enter(&INSIDE, SLOTS);
        YieldNow::default().await;
        pause.await;
        i * 2
    }));
    let mut first = true;
    let result = std::future::poll_fn(|cx| {
        let poll = submit.as_mut().poll(cx);
        if std::mem::take(&mut first) {
            polled.fetch_add(1, SeqCst);
            if poll.is_pending() && !started.load(SeqCst) {
                queued.0.fetch_add(1, SeqCst);
            }
        }
        poll
    })
    .await;
    result.expect("an open, unpaused pool without bounds admits every call")
}

/// Holds the slot until every call of the batch has been polled once (the
/// first poll needs no slot, so this cannot deadlock), then for a
/// millisecond: on a loaded machine spawning ten tasks can take longer than
/// a call, and the calls must still queue.
async fn tokio_pause(polled: &AtomicUsize) {
    while polled.load(SeqCst) < CALLS as usize {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
}

async fn thread_pause() {
    // No timer outside a runtime: hold the slot while blocking briefly.
    thread::sleep(Duration::from_micros(300));
}

/// `CALLS` concurrent calls as tasks of the current tokio runtime.
async fn tokio_calls(queued: &'static Queued) {
    let polled: &'static AtomicUsize = leak(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..CALLS)
        .map(|i| {
            tokio::spawn(async move { (i, call(i, queued, polled, tokio_pause(polled)).await) })
        })
        .collect();
    for task in tasks {
        let (i, result) = task.await.expect("task");
        assert_eq!(result, i * 2);
    }
}

fn runtime(multi_thread: bool) -> tokio::runtime::Runtime {
    let mut builder = if multi_thread {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().unwrap()
}

/// Runs `body` on its own thread and fails if it has not finished `WITHIN`
/// (instead of hanging the test run).
fn within(scenario: &'static str, pool: &'static Group, body: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let runner = thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    match finished.recv_timeout(WITHIN) {
        Ok(()) => runner.join().unwrap(),
        // The body panicked: re-raise its panic.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(payload) = runner.join() {
                std::panic::resume_unwind(payload);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "{scenario}: not finished after {WITHIN:?}; stats: {:?}",
            pool.stats()
        ),
    }
}

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

#[test]
fn one_global_pool_serves_twenty_runtimes_one_after_another() {
    within("twenty runtimes", &POOL, || {
        for k in 0..20 {
            let queued = leak(Queued::default());
            let rt = runtime(k % 2 == 1);
            rt.block_on(tokio_calls(queued));
            drop(rt);
            queued.assert_some(&format!("runtime {k}"));
        }
    });
}

#[test]
fn one_global_pool_serves_four_runtimes_on_four_threads_at_once() {
    within("four runtimes at once", &POOL, || {
        let start = Arc::new(Barrier::new(4));
        let queued = leak(Queued::default());
        let threads: Vec<_> = (0..4)
            .map(|k| {
                let start = start.clone();
                thread::spawn(move || {
                    let rt = runtime(k % 2 == 1);
                    start.wait();
                    for _ in 0..3 {
                        rt.block_on(tokio_calls(queued));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        queued.assert_some("four runtimes at once");
    });
}

#[test]
fn one_global_pool_serves_futures_block_on() {
    within("block_on", &POOL, || {
        let queued = leak(Queued::default());
        let threads: Vec<_> = (0..2)
            .map(|_| {
                thread::spawn(move || {
                    let polled = AtomicUsize::new(0);
                    let calls = (0..CALLS).map(|i| call(i, queued, &polled, thread_pause()));
                    let results = futures::executor::block_on(join_all(calls));
                    assert_eq!(results, (0..CALLS).map(|i| i * 2).collect::<Vec<_>>());
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        queued.assert_some("block_on");
    });
}

#[test]
fn one_global_pool_serves_plain_threads_through_run() {
    within("plain threads", &POOL, || {
        let start = Arc::new(Barrier::new(6));
        let threads: Vec<_> = (0..6u64)
            .map(|t| {
                let start = start.clone();
                thread::spawn(move || {
                    start.wait();
                    for i in 0..5 {
                        let result = POOL.run(|| {
                            let _inside = Inside::enter(&INSIDE, SLOTS);
                            thread::sleep(Duration::from_millis(1));
                            t * 100 + i
                        });
                        assert_eq!(result, Ok(t * 100 + i));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    });
}

#[test]
fn one_global_pool_serves_every_kind_of_caller_at_once() {
    within("every caller at once", &POOL, || {
        let queued = leak(Queued::default());
        let tokio_side = thread::spawn(move || runtime(true).block_on(tokio_calls(queued)));
        let block_on_side = thread::spawn(move || {
            let polled = AtomicUsize::new(0);
            let calls = (0..CALLS).map(|i| call(i, queued, &polled, thread_pause()));
            futures::executor::block_on(join_all(calls))
        });
        for i in 0..CALLS {
            assert_eq!(POOL.run(|| i + 1), Ok(i + 1));
        }
        tokio_side.join().unwrap();
        let results = block_on_side.join().unwrap();
        assert_eq!(results, (0..CALLS).map(|i| i * 2).collect::<Vec<_>>());
        queued.assert_some("every caller at once");
    });
}

static LATE: Group = Group::new(GroupSpec::new("runtime-independence-blocking").size(2));
static LATE_INSIDE: AtomicUsize = AtomicUsize::new(0);

fn blocking_job(i: u64) -> impl FnOnce() -> u64 + Send + 'static {
    move || {
        let _inside = Inside::enter(&LATE_INSIDE, 2);
        thread::sleep(Duration::from_millis(2));
        i * 3
    }
}

#[test]
fn submit_blocking_works_from_a_runtime_after_the_first_runtime_was_dropped() {
    within("blocking after the first runtime", &LATE, || {
        assert!(!LATE.is_started(), "only this test uses LATE");
        let first = runtime(true);
        first.block_on(async {
            assert_eq!(LATE.pool().submit_blocking(blocking_job(1)).await, Ok(3));
            assert_eq!(LATE.submit(0, async { 4 }).await, Ok(4));
        });
        assert!(LATE.is_started());
        drop(first);

        let second = runtime(false);
        second.block_on(async {
            let pool: &'static Pool = LATE.pool();
            let calls = (0..8).map(|i| pool.submit_blocking(blocking_job(i)));
            let results = join_all(calls).await;
            assert_eq!(results, (0..8).map(|i| Ok(i * 3)).collect::<Vec<_>>());
            assert_eq!(LATE.submit_blocking(5, blocking_job(9)).await, Ok(27));
        });
        drop(second);

        // And outside any runtime, on the default executor's own threads.
        let pool = LATE.pool();
        let results = futures::executor::block_on(join_all(
            (0..4).map(|i| pool.submit_blocking(blocking_job(i))),
        ));
        assert_eq!(results, (0..4).map(|i| Ok(i * 3)).collect::<Vec<_>>());
        let stats = LATE.stats();
        assert_eq!((stats.running, stats.waiting, stats.completed), (0, 0, 15));
    });
}

static TIMED: Group = Group::new(
    GroupSpec::new("runtime-independence-timeout")
        .size(1)
        .admission_timeout(Duration::from_millis(20)),
);

/// Holds `TIMED`'s only slot until dropped.
fn hold_timed() -> Pin<Box<dyn Future<Output = Result<(), Rejected>>>> {
    let mut held: Pin<Box<dyn Future<Output = Result<(), Rejected>>>> =
        Box::pin(TIMED.submit(0, std::future::pending::<()>()));
    let poll = held.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    assert!(poll.is_pending(), "holder admitted");
    held
}

fn assert_times_out_promptly(context: &str, wait: impl FnOnce() -> Result<u64, Rejected>) {
    let started = Instant::now();
    assert_eq!(wait(), Err(Rejected::TimedOut), "{context}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(20) && waited < Duration::from_secs(5),
        "{context}: timed out after {waited:?}"
    );
}

#[test]
fn admission_timeouts_fire_in_every_context_after_the_first_runtime_was_dropped() {
    within("admission timeouts", &TIMED, || {
        let first = runtime(false);
        let held = hold_timed();
        assert_times_out_promptly("first runtime", || {
            first.block_on(TIMED.submit(0, async { 1 }))
        });
        drop(first);
        for multi_thread in [false, true] {
            let rt = runtime(multi_thread);
            assert_times_out_promptly("a later runtime", || {
                rt.block_on(TIMED.submit(0, async { 1 }))
            });
        }
        assert_times_out_promptly("block_on", || {
            futures::executor::block_on(TIMED.submit(0, async { 1 }))
        });
        assert_times_out_promptly("run", || TIMED.run(|| 1));
        drop(held);
        // With the slot free, every context is admitted at once.
        assert_eq!(runtime(false).block_on(TIMED.submit(0, async { 2 })), Ok(2));
        assert_eq!(
            futures::executor::block_on(TIMED.submit(0, async { 3 })),
            Ok(3)
        );
        assert_eq!(TIMED.run(|| 4), Ok(4));
        let stats = TIMED.stats();
        assert_eq!(stats.rejected_for(Rejected::TimedOut), 5);
        assert_eq!((stats.running, stats.waiting), (0, 0));
    });
}

static UNTIMED_RUNTIME: Group = Group::new(
    GroupSpec::new("runtime-independence-no-time-driver")
        .size(1)
        .admission_timeout(Duration::from_millis(20)),
);

/// A runtime built without `enable_time` (or `enable_all`) is still a runtime
/// the pool must serve: an admission timeout cannot rely on its timer.
#[test]
fn admission_timeout_works_in_a_runtime_without_the_time_driver() {
    within("runtime without timers", &UNTIMED_RUNTIME, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let pool = UNTIMED_RUNTIME.pool();
        let mut held = Box::pin(pool.submit(std::future::pending::<()>()));
        let poll = held.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(poll.is_pending(), "holder admitted");
        let waited = rt.block_on(pool.submit(async { 1 }));
        assert_eq!(waited, Err(Rejected::TimedOut));
        drop(held);
        assert_eq!(rt.block_on(pool.submit(async { 1 })), Ok(1));
    });
}
