//! Hostile tests of `#[pooled]`, round 29: tree recursion (an annotated
//! function that joins two calls of itself at every level), sync annotated
//! functions called inside async ones of the same group and async ones
//! driven by `block_on` inside sync ones, returned futures dropped before
//! their first poll and mid-flight, and a group's permits, sync callers on
//! plain threads and `#[pooled]` calls sharing an application-wide ceiling.
//! Concurrency is counted from outside with a meter around the bodies' own
//! work (never around their waits for nested calls); every wait is bounded.
#![cfg(all(feature = "tokio", feature = "config"))]

mod common;
use common::{within, Meter};
use pooled::{Rejected, Stats};
use std::future::Future;
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(20);

/// Nothing in flight, and every call accounted for.
#[track_caller]
fn assert_quiet(stats: &Stats, what: &str) {
    assert_eq!(
        (stats.running, stats.waiting, stats.nested),
        (0, 0, 0),
        "{what}: {stats:?}"
    );
    assert_eq!(
        stats.submitted(),
        stats.completed + stats.rejected_total() + stats.cancelled,
        "{what}: accounting {stats:?}"
    );
}

// ---------------------------------------------------------------------------
// Tree recursion: every level joins two calls of itself.

static TREE: Meter = Meter::new();

#[pooled::pooled(size = 2)]
async fn tree(depth: u32) -> u32 {
    {
        let _inside = TREE.enter();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    if depth == 0 {
        return 1;
    }
    let (a, b) = tokio::join!(Box::pin(tree(depth - 1)), Box::pin(tree(depth - 1)));
    let _inside = TREE.enter();
    a + b + 1
}

/// Three roots of depth 4 (31 calls each) on a pool of two: every call
/// completes, at most two bodies work at once, nothing is left nested.
#[test]
fn tree_recursion_joined_at_every_level_completes_within_the_limit() {
    let counts = within(BOUND, || {
        common::multi_thread().block_on(async {
            let roots: Vec<_> = (0..3).map(|_| tokio::spawn(tree(4))).collect();
            let mut counts = Vec::new();
            for root in roots {
                counts.push(root.await.unwrap());
            }
            counts
        })
    });
    assert_eq!(counts, vec![31, 31, 31]);
    assert!(TREE.peak() <= 2, "limit 2, saw {}", TREE.peak());
    assert_eq!(TREE_POOL.stats().completed, 93);
    assert_quiet(&TREE_POOL.stats(), "tree");
}

// ---------------------------------------------------------------------------
// A sync annotated fn called inside an async one of the same group, and an
// async one driven by `block_on` inside a sync one.

/// A group of one slot, for every shape at once.
#[pooled::group(size = 1)]
pub struct Mixed;

static MIXED: Meter = Meter::new();

#[pooled::pooled(group = Mixed)]
fn mixed_sync(x: u32) -> u32 {
    let _inside = MIXED.enter();
    std::thread::sleep(Duration::from_millis(1));
    x + 1
}

#[pooled::pooled(group = Mixed)]
async fn mixed_async(x: u32) -> u32 {
    let y = {
        let _inside = MIXED.enter();
        tokio::time::sleep(Duration::from_millis(1)).await;
        x * 2
    };
    // Called on the thread polling this call's work: nested, runs under
    // its slot (the group has one).
    mixed_sync(y)
}

#[pooled::pooled(group = Mixed)]
fn mixed_sync_driving_async(x: u32) -> u32 {
    {
        let _inside = MIXED.enter();
        std::thread::sleep(Duration::from_millis(1));
    }
    // Made on the thread of sync work holding the slot: nested.
    futures::executor::block_on(async { mixed_async_plain(x).await })
}

#[pooled::pooled(group = Mixed)]
async fn mixed_async_plain(x: u32) -> u32 {
    let _inside = MIXED.enter();
    x + 100
}

/// Tasks and plain threads mix the three shapes on a group of one slot:
/// nothing deadlocks or panics, one body at a time.
#[test]
fn sync_in_async_and_async_in_sync_on_a_single_slot_group_never_deadlock() {
    let out = within(BOUND, || {
        let threads: Vec<_> = (0..3)
            .map(|i| std::thread::spawn(move || mixed_sync_driving_async(i)))
            .collect();
        let tasks = common::multi_thread().block_on(async {
            let tasks: Vec<_> = (0..4)
                .map(|i| {
                    tokio::spawn(async move {
                        if i % 2 == 0 {
                            mixed_async(i).await
                        } else {
                            tokio::task::spawn_blocking(move || mixed_sync_driving_async(i))
                                .await
                                .unwrap()
                        }
                    })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        let threads: Vec<u32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        (tasks, threads)
    });
    assert_eq!(out.0, vec![1, 101, 5, 103]);
    assert_eq!(out.1, vec![100, 101, 102]);
    assert_eq!(MIXED.peak(), 1, "one slot");
    assert_quiet(&Mixed::POOL.stats(), "mixed");
}

// ---------------------------------------------------------------------------
// Returned futures dropped before their first poll and mid-flight.

static BUILT: Meter = Meter::new();

#[pooled::pooled(size = 1)]
fn built(gate: tokio::sync::oneshot::Receiver<()>) -> impl Future<Output = u32> + Send {
    async move {
        let _inside = BUILT.enter();
        let _ = gate.await;
        7
    }
}

#[test]
fn returned_futures_dropped_unpolled_or_mid_flight_are_counted_once() {
    within(BOUND, || {
        common::multi_thread().block_on(async {
            // Built and dropped, never polled: not a call at all.
            let (_tx, rx) = tokio::sync::oneshot::channel();
            drop(built(rx));
            let s = BUILT_POOL.stats();
            assert_eq!(s.submitted(), 0, "{s:?}");

            // One holds the slot; one waits; one is built and dropped unpolled.
            let (hold_tx, hold_rx) = tokio::sync::oneshot::channel();
            let holder = tokio::spawn(built(hold_rx));
            while BUILT.now() == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let (_wait_tx, wait_rx) = tokio::sync::oneshot::channel();
            let mut waiter = Box::pin(built(wait_rx));
            assert!(futures::poll!(waiter.as_mut()).is_pending());
            let (_tx3, rx3) = tokio::sync::oneshot::channel();
            let unpolled = built(rx3);
            let s = BUILT_POOL.stats();
            assert_eq!((s.running, s.waiting), (1, 1), "{s:?}");
            drop(unpolled);
            drop(waiter);
            // The holder is aborted mid-flight: its body is dropped under the slot.
            holder.abort();
            let _ = holder.await;
            drop(hold_tx);
            assert_eq!(BUILT.now(), 0);
            // The slot is free again.
            let (tx4, rx4) = tokio::sync::oneshot::channel();
            tx4.send(()).unwrap();
            assert_eq!(tokio::time::timeout(BOUND, built(rx4)).await, Ok(7));
        })
    });
    let s = BUILT_POOL.stats();
    assert_quiet(&s, "built");
    assert_eq!(
        (s.submitted(), s.cancelled, s.completed),
        (3, 2, 1),
        "{s:?}"
    );
    assert_eq!(BUILT.peak(), 1);
}

// ---------------------------------------------------------------------------
// The ceiling across `#[pooled]` calls, sync callers on plain threads and a
// group's permits (own process: the ceiling is process-wide).

/// Waits for the ceiling.
#[pooled::group(size = 2)]
pub struct CeilA;

/// Never waits.
#[pooled::group(size = 2, max_waiting = 0)]
pub struct CeilB;

static CEIL: Meter = Meter::new();

#[pooled::pooled(group = CeilA)]
async fn ceil_async(ms: u64) {
    let _inside = CEIL.enter();
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[pooled::pooled(group = CeilB)]
fn ceil_sync(ms: u64) -> Result<(), Rejected> {
    let _inside = CEIL.enter();
    std::thread::sleep(Duration::from_millis(ms));
    Ok(())
}

#[pooled::pooled(group = CeilA)]
fn ceil_sync_a(ms: u64) {
    let _inside = CEIL.enter();
    std::thread::sleep(Duration::from_millis(ms));
}

/// A ceiling of two: a permit of A held from outside takes a ceiling slot
/// (counted in the meter by hand), B's `max_waiting = 0` calls are turned
/// away (Full) while the ceiling is full instead of waiting, and A's calls
/// from threads and tasks wait and then run, never more than two at once
/// across both groups; everything balances at the end.
#[test]
fn the_ceiling_holds_across_attribute_calls_sync_threads_and_permits() {
    common::in_own_process(
        "the_ceiling_holds_across_attribute_calls_sync_threads_and_permits",
        &[("POOLED_CEILING", "2")],
        || {
            within(BOUND, || {
                let rt = common::multi_thread();
                // Both ceiling slots taken by permits of A.
                let (p1, p2) = rt.block_on(async {
                    (
                        CeilA::POOL.acquire_owned(0).await.unwrap(),
                        CeilA::POOL.acquire_owned(0).await.unwrap(),
                    )
                });
                let in1 = CEIL.enter();
                let in2 = CEIL.enter();
                assert_eq!(pooled::ceiling::limit(), Some(2));
                assert_eq!(pooled::ceiling::stats().unwrap().running, 2);
                // B never waits: turned away at once, from a thread and a task.
                assert_eq!(
                    std::thread::spawn(|| ceil_sync(1)).join().unwrap(),
                    Err(Rejected::Full)
                );
                assert!(CeilB::POOL.try_acquire(0).is_err());
                // A's callers wait for the ceiling.
                let threads: Vec<_> = (0..3)
                    .map(|_| std::thread::spawn(|| ceil_sync_a(2)))
                    .collect();
                let tasks: Vec<_> = (0..3).map(|_| rt.spawn(ceil_async(2))).collect();
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while pooled::ceiling::stats().unwrap().waiting < 6 {
                    assert!(std::time::Instant::now() < deadline, "callers never queued");
                    std::thread::sleep(Duration::from_millis(1));
                }
                assert_eq!(CEIL.now(), 2);
                drop(in1);
                drop(p1);
                drop(in2);
                drop(p2);
                for t in threads {
                    t.join().unwrap();
                }
                rt.block_on(async {
                    for t in tasks {
                        t.await.unwrap();
                    }
                });
                // B works again once the ceiling has room.
                assert_eq!(ceil_sync(1), Ok(()));
            });
            assert!(CEIL.peak() <= 2, "ceiling 2, saw {}", CEIL.peak());
            assert_eq!(CEIL.done(), 9);
            assert_quiet(&CeilA::POOL.stats(), "A");
            assert_quiet(&CeilB::POOL.stats(), "B");
            assert_quiet(&pooled::ceiling::stats().unwrap(), "ceiling");
        },
    );
}

// ---------------------------------------------------------------------------
// A `blocking` annotated function under a ceiling: its caller goes away
// while the body runs on the executor; the body keeps its group slot and its
// ceiling slot until it ends, so another group's call waits for it, and a
// sync annotated function called inside the body runs nested under them.

/// Blocking work, one slot.
#[pooled::group(size = 1)]
pub struct BlockX;

/// Another group, under the same ceiling.
#[pooled::group(size = 2)]
pub struct BlockY;

static BLOCK: Meter = Meter::new();

#[pooled::pooled(group = BlockX, blocking)]
fn block_body(release: std::sync::mpsc::Receiver<()>) -> u32 {
    {
        let _inside = BLOCK.enter();
        let _ = release.recv_timeout(Duration::from_secs(10));
    }
    // On the thread of blocking work holding both slots: nested.
    block_inner(1) + block_other(1)
}

#[pooled::pooled(group = BlockX)]
fn block_inner(x: u32) -> u32 {
    let _inside = BLOCK.enter();
    x
}

#[pooled::pooled(group = BlockY)]
fn block_other(x: u32) -> u32 {
    let _inside = BLOCK.enter();
    x
}

#[pooled::pooled(group = BlockY)]
async fn block_y_async() -> u32 {
    let _inside = BLOCK.enter();
    tokio::time::sleep(Duration::from_millis(1)).await;
    5
}

#[test]
fn an_abandoned_blocking_call_keeps_its_ceiling_slot_until_its_body_ends() {
    common::in_own_process(
        "an_abandoned_blocking_call_keeps_its_ceiling_slot_until_its_body_ends",
        &[("POOLED_CEILING", "1")],
        || {
            within(BOUND, || {
                common::multi_thread().block_on(async {
                    let (tx, rx) = std::sync::mpsc::channel();
                    let mut call = Box::pin(block_body(rx));
                    assert!(futures::poll!(call.as_mut()).is_pending());
                    let deadline = std::time::Instant::now() + Duration::from_secs(10);
                    while BLOCK.now() == 0 {
                        assert!(std::time::Instant::now() < deadline, "never started");
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    drop(call); // the caller goes away; the body runs on
                    let other = tokio::spawn(block_y_async());
                    for _ in 0..20 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        assert_eq!(BLOCK.now(), 1, "the ceiling's one slot is the body's");
                    }
                    tx.send(()).unwrap();
                    assert_eq!(
                        tokio::time::timeout(BOUND, other).await.unwrap().unwrap(),
                        5
                    );
                    // The abandoned body finished (its nested calls ran).
                    let deadline = std::time::Instant::now() + Duration::from_secs(10);
                    while BLOCK.done() < 4 {
                        assert!(std::time::Instant::now() < deadline, "nested calls hung");
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                })
            });
            assert_eq!(BLOCK.peak(), 1, "ceiling of one");
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while BlockX::POOL.stats().running + BlockX::POOL.stats().nested > 0 {
                assert!(std::time::Instant::now() < deadline, "slot never released");
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_quiet(&BlockX::POOL.stats(), "X");
            assert_quiet(&BlockY::POOL.stats(), "Y");
            assert_quiet(&pooled::ceiling::stats().unwrap(), "ceiling");
        },
    );
}

// ---------------------------------------------------------------------------
// Tree recursion alternating between two groups under a ceiling of one:
// every level joins two calls of the other group's function.

/// Even levels.
#[pooled::group(size = 2)]
pub struct TreeEven;

/// Odd levels.
#[pooled::group(size = 3, order = "lifo")]
pub struct TreeOdd;

static CROSS: Meter = Meter::new();

#[pooled::pooled(group = TreeEven)]
async fn tree_even(depth: u32) -> u32 {
    {
        let _inside = CROSS.enter();
        tokio::task::yield_now().await;
    }
    if depth == 0 {
        return 1;
    }
    let (a, b) = tokio::join!(Box::pin(tree_odd(depth - 1)), Box::pin(tree_odd(depth - 1)));
    a + b + 1
}

#[pooled::pooled(group = TreeOdd)]
fn tree_odd(depth: u32) -> std::pin::Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(async move {
        {
            let _inside = CROSS.enter();
            tokio::task::yield_now().await;
        }
        if depth == 0 {
            return 1;
        }
        let (a, b) = tokio::join!(tree_even(depth - 1), tree_even(depth - 1));
        // A sync call of the other group, nested under the ceiling slot.
        a + b + 1 + cross_sync() - 1
    })
}

#[pooled::pooled(group = TreeEven)]
fn cross_sync() -> u32 {
    let _inside = CROSS.enter();
    1
}

#[test]
fn tree_recursion_across_two_groups_under_a_ceiling_of_one_completes_one_at_a_time() {
    common::in_own_process(
        "tree_recursion_across_two_groups_under_a_ceiling_of_one_completes_one_at_a_time",
        &[("POOLED_CEILING", "1")],
        || {
            let counts = within(BOUND, || {
                common::multi_thread().block_on(async {
                    let roots: Vec<_> = (0..3)
                        .map(|i| {
                            tokio::spawn(async move {
                                if i % 2 == 0 {
                                    tree_even(4).await
                                } else {
                                    tree_odd(4).await
                                }
                            })
                        })
                        .collect();
                    let mut counts = Vec::new();
                    for root in roots {
                        counts.push(root.await.unwrap());
                    }
                    counts
                })
            });
            assert_eq!(counts, vec![31, 31, 31]);
            assert_eq!(CROSS.peak(), 1, "ceiling of one");
            assert_quiet(&TreeEven::POOL.stats(), "even");
            assert_quiet(&TreeOdd::POOL.stats(), "odd");
            assert_quiet(&pooled::ceiling::stats().unwrap(), "ceiling");
        },
    );
}

// ---------------------------------------------------------------------------
// Streams whose items are `#[pooled]` calls: of the stream's own group (each
// item's call nested in the stream's call for it), and of a smaller group;
// one item panics and the adapter is dropped mid-flight.

#[cfg(feature = "stream")]
mod stream_of_annotated_calls {
    use super::common::{within, Meter};
    use super::{assert_quiet, BOUND};
    use futures::{FutureExt, StreamExt};
    use pooled::PooledStreamExt;
    use std::time::Duration;

    /// The stream's group.
    #[pooled::group(size = 3, order = "priority")]
    pub struct Outer;

    /// A smaller group the items call.
    #[pooled::group(size = 1)]
    pub struct Inner;

    static OUTER: Meter = Meter::new();
    static INNER: Meter = Meter::new();

    #[pooled::pooled(group = Outer, weight = 0)]
    async fn outer_item(i: u32) -> u32 {
        {
            let _inside = OUTER.enter();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if i == 5 {
            panic!("planned: item 5 panics");
        }
        inner_item(i).await
    }

    #[pooled::pooled(group = Inner)]
    async fn inner_item(i: u32) -> u32 {
        let _inside = INNER.enter();
        tokio::time::sleep(Duration::from_millis(1)).await;
        i
    }

    #[test]
    fn a_stream_of_annotated_calls_keeps_both_limits_through_a_panic_and_a_drop() {
        let _ = std::panic::take_hook(); // quiet planned panics: default hook replaced below
        std::panic::set_hook(Box::new(|info| {
            let planned = info
                .payload()
                .downcast_ref::<&str>()
                .is_some_and(|s| s.starts_with("planned"));
            if !planned {
                eprintln!("{info}");
            }
        }));
        let (got, panics) = within(BOUND, || {
            super::common::multi_thread().block_on(async {
                let mut stream = Box::pin(
                    futures::stream::iter(0..40u32)
                        .map(outer_item)
                        .pooled_ordered_weighted(Outer::POOL, |_| 7),
                );
                let mut got = Vec::new();
                let mut panics = 0;
                while got.len() < 12 {
                    match std::panic::AssertUnwindSafe(stream.next())
                        .catch_unwind()
                        .await
                    {
                        Ok(Some(out)) => got.push(out.expect("admitted")),
                        Ok(None) => break,
                        Err(_) => panics += 1,
                    }
                }
                drop(stream); // mid-flight
                (got, panics)
            })
        });
        assert_eq!(panics, 1);
        let expected: Vec<u32> = (0..13).filter(|i| *i != 5).collect();
        assert_eq!(got, expected, "input order, the panicked place skipped");
        assert!(OUTER.peak() <= 3, "outer limit 3, saw {}", OUTER.peak());
        assert_eq!(INNER.peak(), 1, "inner limit 1");
        assert_eq!((OUTER.now(), INNER.now()), (0, 0));
        assert_quiet(&Outer::POOL.stats(), "outer");
        assert_quiet(&Inner::POOL.stats(), "inner");
        let s = Outer::POOL.stats();
        assert!(s.panicked >= 1 && s.nested == 0, "{s:?}");
    }
}

// ---------------------------------------------------------------------------
// Returned futures under a full ceiling: dropped before their first poll,
// dropped while waiting for the ceiling, and built before the ceiling frees.

/// Its own group, under the ceiling.
#[pooled::group(size = 2)]
pub struct Returned;

static RETURNED: Meter = Meter::new();

#[pooled::pooled(group = Returned)]
fn returned(x: u32) -> impl Future<Output = u32> + Send {
    async move {
        let _inside = RETURNED.enter();
        tokio::task::yield_now().await;
        x
    }
}

#[test]
fn returned_futures_under_a_full_ceiling_are_counted_once_however_they_end() {
    common::in_own_process(
        "returned_futures_under_a_full_ceiling_are_counted_once_however_they_end",
        &[("POOLED_CEILING", "1")],
        || {
            within(BOUND, || {
                common::multi_thread().block_on(async {
                    // The ceiling's one slot, held by a permit of another group.
                    let permit = CeilA::POOL.acquire_owned(0).await.unwrap();
                    drop(returned(1)); // never polled
                    let mut waiting = Box::pin(returned(2));
                    assert!(futures::poll!(waiting.as_mut()).is_pending());
                    let c = pooled::ceiling::stats().unwrap();
                    assert_eq!((c.running, c.waiting), (1, 1), "{c:?}");
                    drop(waiting); // leaves the ceiling's queue
                    let built = returned(3); // built while full, polled after
                    let c = pooled::ceiling::stats().unwrap();
                    assert_eq!(c.waiting, 0, "{c:?}");
                    drop(permit);
                    assert_eq!(tokio::time::timeout(BOUND, built).await, Ok(3));
                    assert_eq!(tokio::time::timeout(BOUND, returned(4)).await, Ok(4));
                })
            });
            assert_eq!(RETURNED.done(), 2);
            let s = Returned::POOL.stats();
            assert_quiet(&s, "returned");
            assert_eq!(
                (s.submitted(), s.completed, s.cancelled),
                (2, 2, 0),
                "{s:?}"
            );
            let c = pooled::ceiling::stats().unwrap();
            assert_quiet(&c, "ceiling");
            assert_eq!(c.cancelled, 1, "the call dropped while waiting: {c:?}");
        },
    );
}

// ---------------------------------------------------------------------------
// An `#[async_trait]` method taking `self: Arc<Self>`, recursive through a
// trait object, on a one-slot group; its boxed futures dropped unpolled.

/// One slot for the walker.
#[pooled::group(size = 1)]
pub struct Walk;

static WALK: Meter = Meter::new();

#[async_trait::async_trait]
trait Walker: Send + Sync {
    async fn walk(self: std::sync::Arc<Self>, depth: u32) -> u32;
}

struct Node;

#[async_trait::async_trait]
impl Walker for Node {
    #[pooled::pooled(group = Walk)]
    async fn walk(self: std::sync::Arc<Self>, depth: u32) -> u32 {
        {
            let _inside = WALK.enter();
            tokio::task::yield_now().await;
        }
        if depth == 0 {
            return 0;
        }
        let next: std::sync::Arc<dyn Walker> = self.clone();
        // Built and dropped unpolled: not a call.
        drop(next.clone().walk(depth));
        1 + next.walk(depth - 1).await
    }
}

#[test]
fn a_recursive_arc_self_async_trait_method_on_one_slot_completes() {
    let out = within(BOUND, || {
        common::multi_thread().block_on(async {
            let node: std::sync::Arc<dyn Walker> = std::sync::Arc::new(Node);
            let tasks: Vec<_> = (0..3)
                .map(|_| {
                    let node = node.clone();
                    tokio::spawn(async move { node.walk(5).await })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        })
    });
    assert_eq!(out, vec![5, 5, 5]);
    assert_eq!(WALK.peak(), 1, "one slot");
    let s = Walk::POOL.stats();
    assert_quiet(&s, "walk");
    assert_eq!(
        s.completed, 18,
        "6 calls per walk, the dropped ones not counted: {s:?}"
    );
}
