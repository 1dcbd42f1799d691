//! `#[pooled]` limits how many calls run at once: async, sync (threads),
//! blocking, and several functions sharing one declared group.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Counts calls inside a function and remembers the most at once.
struct Concurrency {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Concurrency {
    const fn new() -> Concurrency {
        Concurrency {
            now: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }

    fn exit(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

const BOUND: Duration = Duration::from_secs(20);

static ASYNC: Concurrency = Concurrency::new();

#[pooled::pooled(size = 2)]
async fn async_call(id: usize) -> usize {
    ASYNC.enter();
    tokio::time::sleep(Duration::from_millis(15)).await;
    ASYNC.exit();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn async_calls_never_exceed_the_pool_size() {
    let calls: Vec<_> = (0..12).map(|id| tokio::spawn(async_call(id))).collect();
    let ids = tokio::time::timeout(BOUND, futures::future::join_all(calls))
        .await
        .expect("calls finish");
    let ids: Vec<usize> = ids.into_iter().map(Result::unwrap).collect();
    assert_eq!(ids, (0..12).collect::<Vec<_>>());
    assert_eq!(
        ASYNC.peak(),
        2,
        "the pool of 2 was saturated but never exceeded"
    );
    assert_eq!(ASYNC_CALL_POOL.stats().completed, 12);
}

static SYNC: Concurrency = Concurrency::new();

#[pooled::pooled(size = 3)]
fn sync_call(id: usize) -> usize {
    SYNC.enter();
    std::thread::sleep(Duration::from_millis(15));
    SYNC.exit();
    id
}

#[test]
fn sync_calls_from_many_threads_never_exceed_the_pool_size() {
    let threads: Vec<_> = (0..10)
        .map(|id| std::thread::spawn(move || sync_call(id)))
        .collect();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ids: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        done.send(ids).unwrap();
    });
    let ids = finished.recv_timeout(BOUND).expect("calls finish");
    assert_eq!(ids, (0..10).collect::<Vec<_>>());
    assert_eq!(SYNC.peak(), 3);
}

static BLOCKING: Concurrency = Concurrency::new();

#[pooled::pooled(blocking, size = 2)]
fn blocking_call(id: usize) -> usize {
    BLOCKING.enter();
    std::thread::sleep(Duration::from_millis(15));
    BLOCKING.exit();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_calls_never_exceed_the_pool_size() {
    let calls = futures::future::join_all((0..8).map(blocking_call));
    let ids = tokio::time::timeout(BOUND, calls)
        .await
        .expect("calls finish");
    assert_eq!(ids, (0..8).collect::<Vec<_>>());
    assert_eq!(BLOCKING.peak(), 2);
}

#[pooled::group(size = 2)]
struct Shared;

static SHARED: Concurrency = Concurrency::new();

#[pooled::pooled(group = Shared)]
async fn shared_read() {
    SHARED.enter();
    tokio::time::sleep(Duration::from_millis(10)).await;
    SHARED.exit();
}

#[pooled::pooled(group = Shared)]
fn shared_write() {
    SHARED.enter();
    std::thread::sleep(Duration::from_millis(10));
    SHARED.exit();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn functions_of_one_group_share_its_limit() {
    let reads: Vec<_> = (0..6).map(|_| tokio::spawn(shared_read())).collect();
    let writes: Vec<_> = (0..6)
        .map(|_| tokio::task::spawn_blocking(shared_write))
        .collect();
    let all = async {
        for read in reads {
            read.await.unwrap();
        }
        for write in writes {
            write.await.unwrap();
        }
    };
    tokio::time::timeout(BOUND, all)
        .await
        .expect("calls finish");
    assert_eq!(
        SHARED.peak(),
        2,
        "async and sync calls together stay within the group's 2 slots"
    );
    assert_eq!(Shared::POOL.stats().completed, 12);
}
