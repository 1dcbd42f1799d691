//! Blocking work on an executor, sync callers parking in the same queue, and
//! non-blocking submission with a handle.

mod common;

use common::{gate, Task};
use pool_runtime::{BlockingExecutor, BlockingJob, Order, Pool, Rejected};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_closures_run_on_the_executor_and_never_exceed_the_limit() {
    let pool = Pool::fixed(3);
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let calls = (0..24).map(|i| {
        let (running, peak) = (running.clone(), peak.clone());
        pool.submit_blocking(move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
            running.fetch_sub(1, Ordering::SeqCst);
            i
        })
    });
    let results = futures::future::join_all(calls).await;
    assert_eq!(results, (0..24).map(Ok).collect::<Vec<_>>());
    assert!(peak.load(Ordering::SeqCst) <= 3);
    assert_eq!(pool.stats().completed, 24);
}

#[tokio::test]
async fn a_panic_in_a_blocking_closure_reaches_the_caller_and_frees_the_slot() {
    let pool = Pool::fixed(1);
    let caught = tokio::spawn({
        let pool = pool.clone();
        async move { pool.submit_blocking(|| panic!("blocking boom")).await }
    })
    .await
    .expect_err("the panic propagates");
    assert!(caught.is_panic());
    assert_eq!(pool.submit_blocking(|| 1).await, Ok(1));
    let stats = pool.stats();
    assert_eq!((stats.panicked, stats.running), (1, 0));
}

#[test]
fn blocking_work_runs_without_a_runtime_on_a_thread_of_its_own() {
    let pool = Pool::fixed(1);
    let name = futures::executor::block_on(
        pool.submit_blocking(|| std::thread::current().name().map(str::to_owned)),
    );
    assert_eq!(name, Ok(Some("pooled-blocking".to_owned())));
}

#[derive(Clone)]
struct Recording(Arc<Mutex<Vec<BlockingJob>>>);

impl BlockingExecutor for Recording {
    fn execute(&self, job: BlockingJob) {
        self.0.lock().unwrap().push(job);
    }
}

/// A pool of one slot whose blocking jobs wait in `Recording` until the
/// test runs (or drops) them.
fn recording_pool() -> (Pool, Recording) {
    let executor = Recording(Arc::new(Mutex::new(Vec::new())));
    let pool = Pool::builder()
        .size(1)
        .blocking_executor(Arc::new(executor.clone()))
        .build()
        .unwrap();
    (pool, executor)
}

#[test]
fn a_custom_executor_runs_the_jobs_and_a_dropped_job_is_rejected_as_closed() {
    let (pool, executor) = recording_pool();
    let mut first = Task::new(pool.submit_blocking(|| "ran"));
    first.assert_pending();
    let mut second = Task::new(pool.submit_blocking(|| "dropped"));
    second.assert_pending();
    assert_eq!(pool.stats().waiting, 1, "the job holds the only slot");
    let job = executor.0.lock().unwrap().pop().unwrap();
    job();
    assert_eq!(first.assert_ready(), Ok("ran"));
    second.assert_pending(); // admitted now: its job is handed to the executor
    drop(executor.0.lock().unwrap().pop().unwrap());
    assert_eq!(second.assert_ready(), Err(Rejected::Closed));
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.cancelled, stats.running), (1, 1, 0));
}

/// A blocking call whose caller stopped waiting after admission is counted
/// by how its closure ended (the `submit_blocking` docs), not as cancelled:
/// the closure ran.
#[test]
fn a_blocking_call_dropped_after_admission_is_counted_by_how_its_closure_ended() {
    let (pool, executor) = recording_pool();
    let ran = Arc::new(AtomicUsize::new(0));
    let mut ends = Vec::new();
    for panics in [false, true] {
        let ran = ran.clone();
        let mut call = Task::new(pool.submit_blocking(move || {
            ran.fetch_add(1, Ordering::SeqCst);
            assert!(!panics, "blocking boom after the caller left");
        }));
        call.assert_pending();
        assert_eq!(pool.stats().running, 1, "admitted: the job holds the slot");
        drop(call);
        assert_eq!(pool.stats().running, 1, "the slot travels with the job");
        let job = executor.0.lock().unwrap().pop().unwrap();
        ends.push(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_ok());
        assert_eq!(pool.stats().running, 0, "released when the closure ended");
    }
    assert_eq!(
        ends,
        [true, true],
        "a closure's panic is caught with the job"
    );
    assert_eq!(ran.load(Ordering::SeqCst), 2);
    let stats = pool.stats();
    assert_eq!(
        (stats.completed, stats.panicked, stats.cancelled),
        (2, 1, 0),
        "{stats:?}"
    );
}

#[test]
fn sync_callers_park_in_the_same_queue_and_order_as_async_ones() {
    let pool = Pool::builder()
        .order(Order::Priority)
        .size(1)
        .build()
        .unwrap();
    let (held, open) = gate();
    let mut holder = Task::new(pool.submit(held));
    holder.assert_pending();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let mut async_call = Task::new(pool.submit_weighted(5, {
        let ran = ran.clone();
        async move { ran.lock().unwrap().push("async w5") }
    }));
    async_call.assert_pending();
    let threads: Vec<_> = [(1, "sync w1"), (9, "sync w9")]
        .into_iter()
        .map(|(w, name)| {
            let (thread_pool, ran) = (pool.clone(), ran.clone());
            let t = std::thread::spawn(move || {
                thread_pool.run_weighted(w, || ran.lock().unwrap().push(name))
            });
            while pool.stats().waiting < if w == 1 { 2 } else { 3 } {
                std::thread::yield_now();
            }
            t
        })
        .collect();
    open.store(true, Ordering::SeqCst);
    holder.assert_ready().unwrap();
    // The weight-1 thread runs first, then hands its slot to the async call
    // (which is woken once that thread has released it).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !async_call.is_woken() {
        assert!(
            std::time::Instant::now() < deadline,
            "the slot was never handed on"
        );
        std::thread::yield_now();
    }
    async_call.assert_ready().unwrap();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    assert_eq!(*ran.lock().unwrap(), ["sync w1", "async w5", "sync w9"]);
}

#[test]
fn many_threads_share_a_pool_without_exceeding_it() {
    let pool = Pool::fixed(2);
    let running = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(6));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let (pool, running, barrier) = (pool.clone(), running.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..50 {
                    pool.run(|| {
                        assert!(running.fetch_add(1, Ordering::SeqCst) < 2);
                        std::thread::yield_now();
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(pool.stats().completed, 300);
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn spawn_takes_its_queue_position_at_call_time_and_returns_a_handle() {
    let pool = Pool::builder().order(Order::Fifo).size(1).build().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let (held, open) = gate();
    let holder = pool.spawn(held).unwrap();
    let handles: Vec<_> = (0..5)
        .map(|i| {
            let order = order.clone();
            pool.spawn(async move {
                order.lock().unwrap().push(i);
                i * 2
            })
            .unwrap()
        })
        .collect();
    assert_eq!(
        pool.stats().waiting,
        5,
        "queued synchronously, before any task ran"
    );
    open.store(true, Ordering::SeqCst);
    holder.await.unwrap();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await, Ok(i * 2));
    }
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
    pool.pause();
    assert_eq!(
        pool.spawn(async {}).err(),
        Some(Rejected::Paused),
        "known rejections are immediate"
    );
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn aborting_a_spawned_call_frees_its_place() {
    let pool = Pool::fixed(1);
    let holder = pool.spawn(std::future::pending::<()>()).unwrap();
    let waiting = pool.spawn(async {}).unwrap();
    assert_eq!(pool.stats().waiting, 1);
    waiting.abort();
    assert_eq!(waiting.await, Err(Rejected::Closed));
    assert_eq!(pool.stats().waiting, 0);
    holder.abort();
    assert_eq!(holder.await, Err(Rejected::Closed));
    assert_eq!(pool.stats().running, 0);
}

// ---- Sync calls made on a tokio runtime's threads (issue 9, §2) -------------

/// Runs `f` on its own thread; fails the test instead of hanging with it.
fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the call never finished: deadlocked")
}

#[test]
fn a_sync_call_on_a_multi_thread_worker_waits_without_stalling_the_slot_holder() {
    within_10s(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .unwrap();
        let pool = Pool::fixed(1);
        rt.block_on(async {
            let holder = tokio::spawn({
                let pool = pool.clone();
                async move {
                    pool.submit(tokio::time::sleep(Duration::from_millis(50)))
                        .await
                }
            });
            while pool.stats().running == 0 {
                tokio::task::yield_now().await;
            }
            // On the runtime's only worker: parking it would stop the holder.
            let sync = tokio::spawn({
                let pool = pool.clone();
                async move { pool.run(|| 42) }
            });
            assert_eq!(sync.await.unwrap(), Ok(42));
            assert_eq!(holder.await.unwrap(), Ok(()));
        });
    });
}

#[test]
fn a_sync_call_that_must_wait_on_a_current_thread_runtime_fails_loudly() {
    let message = within_10s(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let pool = Pool::fixed(1);
        rt.block_on(async {
            // Free slot: no wait, so nothing to refuse.
            assert_eq!(pool.run(|| 1), Ok(1));
            let (open, hold) = tokio::sync::oneshot::channel::<()>();
            let holder = tokio::spawn({
                let pool = pool.clone();
                async move { pool.submit(async { hold.await.unwrap() }).await }
            });
            while pool.stats().running == 0 {
                tokio::task::yield_now().await;
            }
            let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.run(|| 2)));
            let message = match refused {
                Err(payload) => payload
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_default(),
                Ok(out) => panic!("expected a loud failure, got {out:?}"),
            };
            assert_eq!(pool.stats().waiting, 0, "the refused call left the queue");
            open.send(()).unwrap();
            assert_eq!(holder.await.unwrap(), Ok(()));
            // The blocking pool's threads may wait: that is the documented fix.
            let waited = tokio::task::spawn_blocking({
                let pool = pool.clone();
                move || pool.run(|| 3)
            });
            assert_eq!(waited.await.unwrap(), Ok(3));
            message
        })
    });
    assert!(message.contains("current-thread"), "{message}");
    assert!(
        message.contains("spawn_blocking"),
        "names the fix: {message}"
    );
}
