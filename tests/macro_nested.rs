//! Nested calls between annotated functions of one group run under the caller's
//! slot, so a full pool never deadlocks them (the runtime's reentrancy rule,
//! exercised through the attribute). Every test is bounded by a timeout: a
//! regression fails instead of hanging.

use std::sync::mpsc;
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(20);

/// Runs `f` on its own thread and fails if it does not finish within [`BOUND`].
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || done.send(f()).unwrap());
    finished
        .recv_timeout(BOUND)
        .expect("deadlocked: the nested call waited for its own slot")
}

#[pooled::group(size = 1)]
struct Tight;

#[pooled::pooled(group = Tight)]
async fn outer(n: u32) -> u32 {
    let (a, b) = futures::join!(inner(n), inner(n + 1));
    a + b + middle(n).await
}

#[pooled::pooled(group = Tight)]
async fn middle(n: u32) -> u32 {
    inner(n).await * 10
}

#[pooled::pooled(group = Tight)]
async fn inner(n: u32) -> u32 {
    tokio::task::yield_now().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_async_calls_of_a_full_group_complete() {
    let calls: Vec<_> = (0..8).map(|n| tokio::spawn(outer(n))).collect();
    let all = async {
        let mut results = Vec::new();
        for call in calls {
            results.push(call.await.unwrap());
        }
        results
    };
    let results = tokio::time::timeout(BOUND, all)
        .await
        .expect("deadlocked: a nested call waited for its own slot");
    assert_eq!(
        results,
        (0..8).map(|n| n + (n + 1) + n * 10).collect::<Vec<_>>()
    );
    let stats = Tight::POOL.stats();
    assert_eq!((stats.size, stats.running, stats.waiting), (1, 0, 0));
}

#[pooled::group(size = 1)]
struct TightSync;

#[pooled::pooled(group = TightSync)]
fn sync_outer(n: u64) -> u64 {
    sync_inner(n) + 1
}

#[pooled::pooled(group = TightSync)]
fn sync_inner(n: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(1));
    n * 2
}

#[test]
fn nested_sync_calls_of_a_full_group_complete() {
    let results = bounded(|| {
        let threads: Vec<_> = (0..4)
            .map(|n| std::thread::spawn(move || sync_outer(n)))
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(results, [1, 3, 5, 7]);
}

#[pooled::pooled(size = 1)]
fn depth(n: u32) -> u32 {
    if n == 0 {
        0
    } else {
        depth(n - 1) + 1
    }
}

#[test]
fn a_recursive_function_with_its_own_single_slot_pool_completes() {
    assert_eq!(bounded(|| depth(16)), 16);
    assert_eq!(
        DEPTH_POOL.stats().completed,
        17,
        "each level counts as a call"
    );
}

#[pooled::group(size = 1)]
struct Mixed;

#[pooled::pooled(group = Mixed)]
async fn async_parent() -> u32 {
    // A sync call into the same group, made while this call holds its only slot.
    sync_child() + 1
}

#[pooled::pooled(group = Mixed)]
fn sync_child() -> u32 {
    41
}

#[test]
fn a_sync_call_from_async_work_of_the_same_group_completes() {
    assert_eq!(bounded(|| futures::executor::block_on(async_parent())), 42);
}
