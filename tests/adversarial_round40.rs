//! Hostile tests, round 40 (facade): attribute call paths under stress,
//! counted from outside. Annotated functions of declared groups (fixed and
//! autoscaled; FIFO, LIFO and priority; constant and per-call weights;
//! async, sync, `blocking`, rayon-executor `blocking` and future-returning
//! functions) chained across groups in every combination: X async → Y
//! blocking → X sync; X blocking → X blocking (recursion through the
//! blocking executor); Y blocking → a task spawned onto a runtime → X; a
//! future of X built in Y's blocking job and awaited in X's work; `join!`,
//! `select!` and `FuturesUnordered` of X calls inside X work on a pool of
//! one; nested calls waiting for the lent slot ranked by weight; the
//! generated handles (`pause`/`resume`/`scale`/`resize`) racing the chains
//! from another thread; a group's first use from 16 threads at once (on
//! every call form, and nested inside another group's blocking job);
//! cancellation at every poll of a chain; a panic at every hop. Each group's
//! bodies are metered from outside (a meter around the bodies' own work,
//! never around a wait for a nested call), every scenario runs under a
//! watchdog, and the stats identity is checked at rest. Also: nested calls
//! counted in `Stats::nested`; nested calls not turned away by a pause, a
//! close or a waiting bound of 0, but by `abort`; a nested call waiting for
//! its lend taking a slot freed by a resize or another call's end (and not
//! one a scale-down took back, nor one a lighter top-level waiter is owed);
//! a Y job admitted after its X parent ended; caught nested panics leaving
//! no frame behind; a random storm of linear chains over three groups and
//! four forms; sync calls that find their slot on a current-thread runtime.
//!
//! Two hangs seen while writing these were the tests' own, not the
//! library's, and the tests avoid them: a lock-order cycle between calls
//! (a parent holding X waits for Y while Y's holder, an orphaned job or a
//! Y → X call, waits for X: an orphaned job's X call is no longer nested,
//! as `adversarial_round34.rs` pins), and sync bodies blocking tokio
//! workers for a whole chain without `block_in_place` (README: functions
//! called from async code should be `async`, or `blocking`).
//!
//! Broken promises found: none. Every test passes.

mod common;

use common::{wait_for, within, Meter};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex, Once};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(20);

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Work inside a body, counted by `meter` while it lasts.
fn work(meter: &Meter, micros: u64) {
    let _in = meter.enter();
    std::thread::sleep(Duration::from_micros(micros));
}

/// Panics this file plans carry "planned" in their message: kept off stderr.
fn quiet_planned_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let planned = info
                .payload()
                .downcast_ref::<String>()
                .map(|s| s.contains("planned"))
                .or_else(|| {
                    info.payload()
                        .downcast_ref::<&str>()
                        .map(|s| s.contains("planned"))
                })
                .unwrap_or(false);
            if !planned {
                previous(info);
            }
        }));
    });
}

/// Waits (bounded) until the group holds nothing, then checks its
/// accounting: `submitted == completed + rejected + cancelled` at rest.
#[track_caller]
fn at_rest(group: &'static pooled::Group) -> pooled::Stats {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = group.stats();
        if s.in_flight() == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}: never came to rest: {s:?}",
            group.name()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let s = group.stats();
    assert_eq!(
        s.submitted(),
        s.completed + s.cancelled + s.rejected_total(),
        "{}: accounting at rest: {s:?}",
        group.name()
    );
    assert!(s.panicked <= s.completed, "{s:?}");
    s
}

/// Resolves to `None` once its future has been polled `polls` times
/// without finishing (and is then dropped with it): a cancellation at a
/// chosen poll.
struct DropAfter<F: Future> {
    fut: Pin<Box<F>>,
    left: u32,
}

impl<F: Future> Future for DropAfter<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        match self.fut.as_mut().poll(cx) {
            Poll::Ready(out) => Poll::Ready(Some(out)),
            Poll::Pending if self.left == 0 => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn drop_after<F: Future>(fut: F, polls: u32) -> DropAfter<F> {
    DropAfter {
        fut: Box::pin(fut),
        left: polls,
    }
}

// ---------------------------------------------------------------------------
// 1. A group's first use from 16 threads at once, on every call form, with
//    handles scaling it in the same instant.

#[pooled::group(order = "lifo", size = 2)]
/// First used by 16 threads at once.
pub struct A40First;

static FIRST_M: Meter = Meter::new();

#[pooled::pooled(group = A40First)]
fn first_sync(v: u32) -> u32 {
    work(&FIRST_M, 200);
    v
}

#[pooled::pooled(group = A40First)]
async fn first_async(v: u32) -> u32 {
    work(&FIRST_M, 200);
    v
}

#[pooled::pooled(blocking, group = A40First)]
fn first_blocking(v: u32) -> u32 {
    work(&FIRST_M, 200);
    v
}

#[pooled::pooled(group = A40First)]
fn first_future(v: u32) -> impl Future<Output = u32> + Send {
    async move {
        work(&FIRST_M, 200);
        v
    }
}

#[test]
fn first_use_from_sixteen_threads_on_every_form_starts_one_pool() {
    within(BOUND, || {
        assert!(!A40First::POOL.is_started());
        let rt = Arc::new(common::multi_thread());
        let barrier = Arc::new(Barrier::new(16));
        let threads: Vec<_> = (0..16u32)
            .map(|i| {
                let (rt, barrier) = (rt.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut calls = 0u64;
                    if i % 5 == 3 {
                        A40First::POOL.scale(1);
                    }
                    for k in 0..10 {
                        let got = match (i + k) % 4 {
                            0 => first_sync(k),
                            1 => rt.block_on(first_async(k)),
                            2 => rt.block_on(first_blocking(k)),
                            _ => rt.block_on(first_future(k)),
                        };
                        assert_eq!(got, k);
                        calls += 1;
                    }
                    calls
                })
            })
            .collect();
        let calls: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        // Three threads (3, 8, 13) scaled by one each: all on the one pool.
        assert_eq!(
            A40First::POOL.size(),
            5,
            "a scale was lost to a second pool"
        );
        let s = at_rest(A40First::POOL);
        assert_eq!((s.submitted(), s.completed), (calls, calls), "{s:?}");
        assert!(FIRST_M.peak() <= 5, "peak {}", FIRST_M.peak());
        let listed: Vec<_> = pooled::groups()
            .into_iter()
            .filter(|g| g.name == A40First::POOL.name())
            .collect();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].stats.map(|s| s.submitted()), Some(calls));
    });
}

// ---------------------------------------------------------------------------
// 2. A group's first use nested inside another group's blocking job, from
//    16 threads at once: the first calls of X are all nested calls.

#[pooled::group(size = 1)]
/// Outer group of the nested first use.
pub struct A40NestFirstX;

#[pooled::group(order = "priority", size = 2)]
/// Its blocking hop.
pub struct A40NestFirstY;

static NF_X: Meter = Meter::new();
static NF_Y: Meter = Meter::new();

#[pooled::pooled(group = A40NestFirstX)]
fn nf_x_leaf(v: u32) -> u32 {
    work(&NF_X, 100);
    v
}

#[pooled::pooled(blocking, group = A40NestFirstY, weight = 3)]
fn nf_y(v: u32) -> u32 {
    work(&NF_Y, 100);
    nf_x_leaf(v) + 1
}

#[pooled::pooled(group = A40NestFirstX)]
async fn nf_x_outer(v: u32) -> u32 {
    nf_y(v).await
}

#[test]
fn first_use_nested_inside_another_groups_blocking_job_from_sixteen_threads() {
    within(BOUND, || {
        assert!(!A40NestFirstX::POOL.is_started());
        assert!(!A40NestFirstY::POOL.is_started());
        let rt = Arc::new(common::multi_thread());
        let barrier = Arc::new(Barrier::new(16));
        let threads: Vec<_> = (0..16u32)
            .map(|i| {
                let (rt, barrier) = (rt.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    for k in 0..4 {
                        assert_eq!(rt.block_on(nf_x_outer(i + k)), i + k + 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let x = at_rest(A40NestFirstX::POOL);
        let y = at_rest(A40NestFirstY::POOL);
        // 64 outer calls and 64 nested leaves in X; 64 jobs in Y.
        assert_eq!((x.submitted(), x.completed), (128, 128), "{x:?}");
        assert_eq!((y.submitted(), y.completed), (64, 64), "{y:?}");
        assert_eq!(NF_X.peak(), 1, "X leaves at once");
        assert!(
            NF_Y.peak() <= 1,
            "Y bodies at once (X of 1 admits one chain)"
        );
    });
}

// ---------------------------------------------------------------------------
// 3. X async → Y blocking → X sync chains on a priority X and a LIFO Y,
//    many at once, with sync contenders on X from plain threads.

#[pooled::group(order = "priority", size = 2)]
/// X of the chains.
pub struct A40ChainX;

#[pooled::group(order = "lifo", size = 1)]
/// Y of the chains.
pub struct A40ChainY;

static CH_X: Meter = Meter::new();
static CH_Y: Meter = Meter::new();

#[pooled::pooled(group = A40ChainX, weight = 1)]
fn ch_x_sync(v: u32) -> u32 {
    work(&CH_X, 150);
    v + 1
}

#[pooled::pooled(blocking, group = A40ChainY)]
fn ch_y_blocking(v: u32) -> u32 {
    work(&CH_Y, 100);
    ch_x_sync(v) + 1
}

#[pooled::pooled(group = A40ChainX, weight = 5)]
async fn ch_x_async(v: u32) -> u32 {
    ch_y_blocking(v).await + 1
}

#[test]
fn x_async_y_blocking_x_sync_chains_keep_every_limit_under_contention() {
    within(BOUND, || {
        let stop = Arc::new(AtomicBool::new(false));
        let contenders: Vec<_> = (0..2)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(SeqCst) {
                        ch_x_sync(0);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let rt = common::multi_thread();
        rt.block_on(async {
            let tasks: Vec<_> = (0..6u32)
                .map(|t| {
                    tokio::spawn(async move {
                        for k in 0..12 {
                            assert_eq!(ch_x_async(t * 100 + k).await, t * 100 + k + 3);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        stop.store(true, SeqCst);
        let contended: u64 = contenders.into_iter().map(|t| t.join().unwrap()).sum();
        let x = at_rest(A40ChainX::POOL);
        let y = at_rest(A40ChainY::POOL);
        assert_eq!(x.completed, 72 * 2 + contended, "{x:?}");
        assert_eq!(y.completed, 72, "{y:?}");
        assert!(CH_X.peak() <= 2, "X bodies at once: {}", CH_X.peak());
        assert_eq!(CH_Y.peak(), 1, "Y bodies at once");
    });
}

// ---------------------------------------------------------------------------
// 4. X blocking → X blocking: recursion through the blocking executor.

#[pooled::group(size = 1)]
/// Recursion through the blocking executor.
pub struct A40Rec;

static REC_M: Meter = Meter::new();

#[pooled::pooled(blocking, group = A40Rec)]
fn rec_blocking(depth: u32) -> u32 {
    if depth == 0 {
        work(&REC_M, 200);
        0
    } else {
        futures::executor::block_on(rec_blocking(depth - 1)) + 1
    }
}

#[pooled::pooled(group = A40Rec)]
fn rec_leaf() {
    work(&REC_M, 100);
}

#[test]
fn blocking_recursion_through_the_blocking_executor_runs_nested_on_one_slot() {
    within(BOUND, || {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let contender = std::thread::spawn(move || {
            while !s2.load(SeqCst) {
                rec_leaf();
            }
        });
        let rt = common::multi_thread();
        rt.block_on(async {
            let tasks: Vec<_> = (0..3)
                .map(|_| {
                    tokio::spawn(async {
                        for _ in 0..5 {
                            assert_eq!(rec_blocking(6).await, 6);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        // The same from a plain thread (no runtime: a thread per job).
        for _ in 0..3 {
            assert_eq!(futures::executor::block_on(rec_blocking(4)), 4);
        }
        stop.store(true, SeqCst);
        contender.join().unwrap();
        at_rest(A40Rec::POOL);
        assert_eq!(REC_M.peak(), 1, "bodies at once on a pool of 1");
    });
}

// ---------------------------------------------------------------------------
#[cfg(feature = "rayon")]
mod rayon_paths {
    use super::*;

    // 5. Rayon-executor X blocking → default-executor Y blocking → X sync, and
    //    X's rayon job calling X's sync function directly.

    #[pooled::group(size = 1, executor = "rayon")]
    /// X on rayon.
    pub struct A40RayX;

    #[pooled::group(order = "priority", size = 1)]
    /// Y on the default executor.
    pub struct A40RayY;

    static RAY_X: Meter = Meter::new();
    static RAY_Y: Meter = Meter::new();

    #[pooled::pooled(group = A40RayX)]
    fn ray_x_sync(v: u32) -> u32 {
        work(&RAY_X, 100);
        v + 1
    }

    #[pooled::pooled(blocking, group = A40RayY, weight = 2)]
    fn ray_y(v: u32) -> u32 {
        work(&RAY_Y, 100);
        ray_x_sync(v) + 1
    }

    #[pooled::pooled(blocking, group = A40RayX)]
    fn ray_x(v: u32) -> u32 {
        let direct = ray_x_sync(v);
        let through_y = futures::executor::block_on(ray_y(v));
        direct + through_y
    }

    #[test]
    fn rayon_x_job_calls_back_into_x_directly_and_through_ys_blocking_job() {
        within(BOUND, || {
            let stop = Arc::new(AtomicBool::new(false));
            let s2 = stop.clone();
            let contender = std::thread::spawn(move || {
                while !s2.load(SeqCst) {
                    ray_x_sync(0);
                }
            });
            let rt = common::multi_thread();
            rt.block_on(async {
                let tasks: Vec<_> = (0..4u32)
                    .map(|t| {
                        tokio::spawn(async move {
                            for k in 0..8 {
                                let v = t * 10 + k;
                                assert_eq!(ray_x(v).await, 2 * v + 3);
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            });
            stop.store(true, SeqCst);
            contender.join().unwrap();
            at_rest(A40RayX::POOL);
            let y = at_rest(A40RayY::POOL);
            assert_eq!(y.completed, 32);
            assert_eq!(RAY_X.peak(), 1);
            assert_eq!(RAY_Y.peak(), 1);
        });
    }
}

// ---------------------------------------------------------------------------
// 6. Y blocking (inside X's work) → a task spawned onto a runtime → X: the
//    spawned call is independent, with a slot of its own.

#[pooled::group(size = 1)]
/// X of the spawned hop.
pub struct A40SpawnX;

#[pooled::group(size = 2)]
/// Y of the spawned hop.
pub struct A40SpawnY;

static SP_X: Meter = Meter::new();

#[pooled::pooled(group = A40SpawnX)]
async fn sp_x_leaf(v: u32) -> u32 {
    work(&SP_X, 100);
    v
}

/// What a Y job hands back: the spawned X call, and whether it had run
/// while the parent held X's only slot.
pub struct Spawned(tokio::task::JoinHandle<u32>, bool);

#[pooled::pooled(blocking, group = A40SpawnY)]
fn sp_y(handle: tokio::runtime::Handle, v: u32) -> Spawned {
    let before = SP_X.done();
    let spawned = handle.spawn(sp_x_leaf(v));
    std::thread::sleep(Duration::from_millis(30));
    Spawned(spawned, SP_X.done() != before || SP_X.now() != 0)
}

#[pooled::pooled(group = A40SpawnX)]
async fn sp_x_parent(v: u32) -> Spawned {
    sp_y(tokio::runtime::Handle::current(), v).await
}

#[test]
fn a_task_spawned_from_ys_job_inside_x_work_is_an_independent_x_call() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(async {
            for v in 0..5 {
                let Spawned(handle, ran_early) = sp_x_parent(v).await;
                assert!(
                    !ran_early,
                    "a spawned X call ran while its spawner's X parent held X's only slot"
                );
                assert_eq!(handle.await.unwrap(), v);
            }
        });
        let x = at_rest(A40SpawnX::POOL);
        assert_eq!((x.completed, x.nested), (10, 0), "{x:?}");
        assert_eq!(SP_X.peak(), 1);
    });
}

// ---------------------------------------------------------------------------
// 7. `Pool::spawn` and `tokio::spawn` from inside X work: independent calls.

#[pooled::group(size = 1)]
/// Spawning from inside X's work.
pub struct A40PoolSpawn;

static PS_M: Meter = Meter::new();

#[pooled::pooled(group = A40PoolSpawn)]
async fn ps_leaf(v: u32) -> u32 {
    work(&PS_M, 100);
    v
}

type Handles = (pooled::SpawnHandle<u32>, tokio::task::JoinHandle<u32>);

#[pooled::pooled(group = A40PoolSpawn)]
async fn ps_parent(v: u32) -> Handles {
    let through_pool = A40PoolSpawn::POOL
        .pool()
        .spawn(async move {
            work(&PS_M, 100);
            v
        })
        .unwrap();
    let through_tokio = tokio::spawn(ps_leaf(v + 1));
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        PS_M.now(),
        0,
        "spawned work ran beside its parent on a pool of 1"
    );
    (through_pool, through_tokio)
}

#[test]
fn work_spawned_from_x_work_waits_for_a_slot_of_its_own() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(async {
            for v in 0..6 {
                let (a, b) = ps_parent(v * 2).await;
                assert_eq!(a.await.unwrap(), v * 2);
                assert_eq!(b.await.unwrap(), v * 2 + 1);
            }
        });
        let s = at_rest(A40PoolSpawn::POOL);
        assert_eq!(s.completed, 18, "{s:?}");
        assert_eq!(PS_M.peak(), 1);
    });
}

// ---------------------------------------------------------------------------
// 8. join!/FuturesUnordered/select! of X calls of every form inside X work
//    on a pool of one: one at a time, nested.

#[pooled::group(size = 1)]
/// Joined nested calls.
pub struct A40Join;

static JN_M: Meter = Meter::new();

#[pooled::pooled(group = A40Join)]
async fn jn_async(v: u32) -> u32 {
    {
        let _in = JN_M.enter();
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_micros(100));
    }
    v
}

#[pooled::pooled(blocking, group = A40Join)]
fn jn_blocking(v: u32) -> u32 {
    work(&JN_M, 300);
    v
}

#[pooled::pooled(group = A40Join)]
fn jn_future(v: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(async move {
        let _in = JN_M.enter();
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_micros(100));
        v
    })
}

#[pooled::pooled(group = A40Join)]
fn jn_sync(v: u32) -> u32 {
    work(&JN_M, 100);
    v
}

#[pooled::pooled(group = A40Join)]
async fn jn_parent(v: u32) -> u32 {
    let (a, b, c) = tokio::join!(jn_async(v), jn_blocking(v), jn_future(v));
    let mut set: FuturesUnordered<BoxFut<u32>> = FuturesUnordered::new();
    for k in 0..3 {
        set.push(Box::pin(jn_async(k)));
        set.push(Box::pin(jn_blocking(k)));
        set.push(jn_future(k));
    }
    let mut sum = 0;
    while let Some(x) = set.next().await {
        sum += x;
    }
    // A select! whose loser is a queued nested call.
    let won = tokio::select! {
        x = jn_blocking(1) => x,
        x = jn_async(2) => x,
    };
    // And a FuturesUnordered dropped half way.
    let mut half: FuturesUnordered<BoxFut<u32>> = FuturesUnordered::new();
    for k in 0..4 {
        half.push(Box::pin(jn_blocking(k)));
        half.push(Box::pin(jn_async(k)));
    }
    let _ = half.next().await;
    drop(half);
    a + b + c + sum + won.min(1)
}

#[test]
fn joined_nested_calls_of_every_form_on_a_pool_of_one_run_one_at_a_time() {
    within(BOUND, || {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let contender = std::thread::spawn(move || {
            while !s2.load(SeqCst) {
                jn_sync(0);
            }
        });
        let rt = common::multi_thread();
        rt.block_on(async {
            let tasks: Vec<_> = (0..3u32)
                .map(|t| {
                    tokio::spawn(async move {
                        for k in 0..4 {
                            let v = t * 10 + k;
                            assert_eq!(jn_parent(v).await, 3 * v + 9 + 1);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        stop.store(true, SeqCst);
        contender.join().unwrap();
        at_rest(A40Join::POOL);
        assert_eq!(JN_M.peak(), 1, "bodies at once on a pool of 1");
    });
}

// ---------------------------------------------------------------------------
// 9. Nested calls queued for the lent slot of a priority pool of one go by
//    weight.

#[pooled::group(order = "priority", size = 1)]
/// Weights among nested calls.
pub struct A40NestPrio;

static NP_ORDER: Mutex<Vec<i64>> = Mutex::new(Vec::new());

#[pooled::pooled(group = A40NestPrio)]
async fn np_call(#[weight] w: i64) {
    NP_ORDER.lock().unwrap().push(w);
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
}

#[pooled::pooled(group = A40NestPrio, weight = 7)]
fn np_blocking(w: i64) {
    NP_ORDER.lock().unwrap().push(w);
    std::thread::sleep(Duration::from_millis(2));
}

#[pooled::pooled(group = A40NestPrio, weight = 100)]
async fn np_parent() {
    futures::join!(
        np_call(50),
        np_call(1),
        np_call(30),
        np_call(-7),
        np_call(10)
    );
}

#[test]
fn nested_calls_waiting_for_a_lent_slot_go_by_weight() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(np_parent());
        let order = std::mem::take(&mut *NP_ORDER.lock().unwrap());
        assert_eq!(order, vec![50, -7, 1, 10, 30], "nested order");
        // A sync nested call's weight from a blocking hop: the jobs' calls
        // are nested in the parent through their inherited frames.
        rt.block_on(async {
            let _ = np_blocking_parent().await;
        });
        at_rest(A40NestPrio::POOL);
    });
}

#[pooled::pooled(blocking, group = A40NestPrio, weight = 3)]
fn np_job(w: i64) {
    np_blocking(w);
}

#[pooled::pooled(group = A40NestPrio)]
async fn np_blocking_parent() {
    futures::join!(np_job(1), np_job(2));
}

// ---------------------------------------------------------------------------
// 10. The generated handles racing chains from another thread.

#[pooled::group(order = "priority", size = 2)]
/// X steered while chains run.
pub struct A40SteerX;

#[pooled::group(kind = "autoscale", order = "lifo", min = 1, max = 2)]
/// Y steered while chains run.
pub struct A40SteerY;

static ST_X: Meter = Meter::new();
static ST_Y: Meter = Meter::new();

#[pooled::pooled(group = A40SteerX, weight = 2)]
fn st_x_sync(v: u32) -> u32 {
    work(&ST_X, 100);
    v + 1
}

#[pooled::pooled(blocking, group = A40SteerY)]
fn st_y(v: u32) -> u32 {
    work(&ST_Y, 100);
    st_x_sync(v) + futures::executor::block_on(st_x_blocking(v))
}

#[pooled::pooled(blocking, group = A40SteerX, weight = 9)]
fn st_x_blocking(v: u32) -> u32 {
    work(&ST_X, 100);
    v
}

#[pooled::pooled(group = A40SteerX, weight = 4)]
async fn st_x_async(v: u32) -> u32 {
    st_y(v).await
}

#[test]
fn handles_pausing_and_scaling_both_groups_race_the_chains() {
    within(BOUND, || {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let steerer = std::thread::spawn(move || {
            let mut i = 0u32;
            while !s2.load(SeqCst) {
                match i % 8 {
                    0 => A40SteerX::POOL.pause(),
                    1 => A40SteerX::POOL.resume(),
                    2 => {
                        A40SteerX::POOL.scale(1);
                    }
                    3 => {
                        A40SteerX::POOL.resize(1);
                    }
                    4 => A40SteerY::POOL.pause(),
                    5 => {
                        A40SteerY::POOL.scale(-1);
                        A40SteerY::POOL.resume();
                    }
                    6 => {
                        A40SteerX::POOL.resize(2);
                        A40SteerY::POOL.scale(1);
                    }
                    _ => {
                        A40SteerX::POOL.resume();
                        A40SteerY::POOL.resume();
                    }
                }
                i += 1;
                std::thread::sleep(Duration::from_micros(300));
            }
            A40SteerX::POOL.resume();
            A40SteerY::POOL.resume();
            A40SteerX::POOL.resize(2);
        });
        let stop_c = Arc::new(AtomicBool::new(false));
        let s3 = stop_c.clone();
        let contender = std::thread::spawn(move || {
            while !s3.load(SeqCst) {
                st_x_sync(0);
            }
        });
        let rt = common::multi_thread();
        rt.block_on(async {
            let tasks: Vec<_> = (0..5u32)
                .map(|t| {
                    tokio::spawn(async move {
                        for k in 0..10 {
                            let v = t * 100 + k;
                            assert_eq!(st_x_async(v).await, 2 * v + 1);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        stop.store(true, SeqCst);
        steerer.join().unwrap();
        stop_c.store(true, SeqCst);
        contender.join().unwrap();
        at_rest(A40SteerX::POOL);
        at_rest(A40SteerY::POOL);
        assert!(ST_X.peak() <= 3, "X bodies at once: {}", ST_X.peak());
        assert!(ST_Y.peak() <= 2, "Y bodies at once: {}", ST_Y.peak());
    });
}

// ---------------------------------------------------------------------------
// 11. A chain cancelled at every poll.

#[pooled::group(size = 1)]
/// X of the cancelled chains.
pub struct A40CancelX;

#[pooled::group(order = "priority", size = 1)]
/// Y of the cancelled chains.
pub struct A40CancelY;

static CA_X: Meter = Meter::new();
static CA_Y: Meter = Meter::new();

#[pooled::pooled(group = A40CancelX)]
fn ca_x_sync(v: u32) -> u32 {
    work(&CA_X, 200);
    v
}

#[pooled::pooled(group = A40CancelX)]
fn ca_x_future(v: u32) -> impl Future<Output = u32> + Send {
    async move {
        {
            let _in = CA_X.enter();
            tokio::task::yield_now().await;
        }
        v
    }
}

#[pooled::pooled(blocking, group = A40CancelY, weight = 1)]
fn ca_y(v: u32) -> u32 {
    work(&CA_Y, 200);
    ca_x_sync(v)
}

#[pooled::pooled(group = A40CancelX)]
async fn ca_x_async(v: u32) -> u32 {
    let a = ca_y(v).await;
    tokio::task::yield_now().await;
    let b = ca_x_future(v).await;
    let (c, d) = futures::join!(ca_y(v), ca_x_future(v));
    a + b + c + d
}

#[test]
fn a_chain_cancelled_at_every_poll_loses_nothing_and_keeps_the_limits() {
    within(BOUND, || {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let contender = std::thread::spawn(move || {
            while !s2.load(SeqCst) {
                ca_x_sync(0);
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        let rt = common::multi_thread();
        // One chain at a time, and the groups at rest between chains: a
        // parent cut off while its Y job waits leaves the job an orphan
        // whose X call needs a free X slot (the dropped parent's slot is
        // free again); a next parent taking X and waiting for the orphan's
        // Y would be a lock-order cycle of the test's own making.
        let mut finished = 0u32;
        for polls in 1..60u32 {
            let out =
                rt.block_on(async { tokio::spawn(drop_after(ca_x_async(polls), polls)).await });
            if let Some(out) = out.unwrap() {
                assert_eq!(out, 4 * polls);
                finished += 1;
            }
            wait_for("the chain's orphans end", || {
                A40CancelY::POOL.stats().in_flight() == 0 && A40CancelX::POOL.stats().nested == 0
            });
        }
        stop.store(true, SeqCst);
        contender.join().unwrap();
        let x = at_rest(A40CancelX::POOL);
        let y = at_rest(A40CancelY::POOL);
        assert!(
            x.cancelled > 0,
            "nothing was cancelled: {x:?} ({finished} finished)"
        );
        let _ = y;
        assert_eq!(CA_X.peak(), 1, "X bodies at once");
        assert_eq!(CA_Y.peak(), 1, "Y bodies at once");
        // The groups still work.
        assert_eq!(rt.block_on(ca_x_async(1)), 4);
    });
}

// ---------------------------------------------------------------------------
// 12. A panic at every hop of X async → Y blocking → X sync reaches the
//     caller, and frees every slot.

#[pooled::group(size = 1)]
/// X of the panicking chains.
pub struct A40PanicX;

#[pooled::group(order = "lifo", size = 1)]
/// Y of the panicking chains.
pub struct A40PanicY;

#[pooled::pooled(group = A40PanicX)]
fn pa_x_sync(hop: u8) -> u8 {
    if hop == 2 {
        panic!("planned panic at hop 2");
    }
    hop
}

#[pooled::pooled(blocking, group = A40PanicY)]
fn pa_y(hop: u8) -> u8 {
    if hop == 1 {
        panic!("planned panic at hop 1");
    }
    let r = pa_x_sync(hop);
    if hop == 3 {
        panic!("planned panic at hop 3");
    }
    r
}

#[pooled::pooled(group = A40PanicX)]
async fn pa_x_async(hop: u8) -> u8 {
    if hop == 0 {
        panic!("planned panic at hop 0");
    }
    let r = pa_y(hop).await;
    if hop == 4 {
        panic!("planned panic at hop 4");
    }
    r
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[test]
fn a_panic_at_every_hop_reaches_the_caller_and_frees_every_slot() {
    quiet_planned_panics();
    within(BOUND, || {
        let rt = common::multi_thread();
        for round in 0..3u64 {
            for hop in 0..5u8 {
                let out = rt.block_on(AssertUnwindSafe(pa_x_async(hop)).catch_unwind());
                let payload = out.expect_err("the panic did not reach the caller");
                assert_eq!(
                    panic_text(&*payload),
                    format!("planned panic at hop {hop}"),
                    "the caller got another panic"
                );
                // Every slot came back: a full chain runs at once.
                assert_eq!(rt.block_on(pa_x_async(9)), 9);
                // The sync form on a plain thread too.
                let caught =
                    std::panic::catch_unwind(|| futures::executor::block_on(pa_x_async(hop)));
                assert!(caught.is_err());
            }
            let x = at_rest(A40PanicX::POOL);
            let y = at_rest(A40PanicY::POOL);
            // Per round, twice: X parents panic at every hop (5), and the
            // nested X sync at hop 2; Y jobs at hops 1, 2 and 3.
            assert_eq!(x.panicked, (round + 1) * 2 * 6, "{x:?}");
            assert_eq!(y.panicked, (round + 1) * 2 * 3, "{y:?}");
        }
    });
}

// ---------------------------------------------------------------------------
// 13. A future of X built in Y's blocking job, awaited in X's work (nested),
//     in the job itself, and out of every call (independent).

#[pooled::group(size = 1)]
/// X of the carried futures.
pub struct A40CarryX;

#[pooled::group(size = 1)]
/// Y of the carried futures.
pub struct A40CarryY;

static CR_X: Meter = Meter::new();

#[pooled::pooled(group = A40CarryX)]
fn cr_x_future(v: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(async move {
        {
            let _in = CR_X.enter();
            tokio::task::yield_now().await;
            std::thread::sleep(Duration::from_micros(100));
        }
        v
    })
}

/// A future carried out of a job.
pub struct Carried(BoxFut<u32>);

#[pooled::pooled(blocking, group = A40CarryY)]
fn cr_y_build(v: u32) -> Carried {
    Carried(cr_x_future(v))
}

#[pooled::pooled(blocking, group = A40CarryY)]
fn cr_y_build_and_await(v: u32) -> u32 {
    futures::executor::block_on(cr_x_future(v))
}

#[pooled::pooled(group = A40CarryX)]
async fn cr_x_parent(v: u32) -> (u32, Carried) {
    let Carried(built) = cr_y_build(v).await;
    let nested = built.await;
    let in_job = cr_y_build_and_await(v).await;
    let Carried(out) = cr_y_build(v + 1).await;
    (nested + in_job, Carried(out))
}

#[test]
fn a_future_of_x_built_in_ys_job_runs_nested_in_x_work_or_alone_outside_it() {
    within(BOUND, || {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let rt = Arc::new(common::multi_thread());
        let rt2 = rt.clone();
        let contender = std::thread::spawn(move || {
            while !s2.load(SeqCst) {
                rt2.block_on(cr_x_future(0));
            }
        });
        rt.block_on(async {
            let tasks: Vec<_> = (0..3u32)
                .map(|t| {
                    tokio::spawn(async move {
                        for k in 0..6 {
                            let v = t * 10 + k;
                            let (sum, Carried(out)) = cr_x_parent(v).await;
                            assert_eq!(sum, 2 * v);
                            assert_eq!(out.await, v + 1);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        stop.store(true, SeqCst);
        contender.join().unwrap();
        at_rest(A40CarryX::POOL);
        at_rest(A40CarryY::POOL);
        assert_eq!(CR_X.peak(), 1, "X bodies at once");
    });
}

// ---------------------------------------------------------------------------
// 14. Autoscaled groups moving every few milliseconds under X async → Y
//     blocking → X blocking chains.

#[pooled::group(
    kind = "autoscale",
    order = "lifo",
    min = 1,
    max = 2,
    autoscale_interval = "3ms"
)]
/// X autoscaled.
pub struct A40AutoX;

#[pooled::group(
    kind = "autoscale",
    order = "priority",
    min = 1,
    max = 2,
    autoscale_interval = "3ms"
)]
/// Y autoscaled.
pub struct A40AutoY;

static AU_X: Meter = Meter::new();
static AU_Y: Meter = Meter::new();

#[pooled::pooled(blocking, group = A40AutoX)]
fn au_x_blocking(v: u32) -> u32 {
    work(&AU_X, 150);
    v
}

#[pooled::pooled(group = A40AutoX)]
async fn au_x_leaf(v: u32) -> u32 {
    work(&AU_X, 150);
    v
}

#[pooled::pooled(blocking, group = A40AutoY, weight = 4)]
fn au_y(v: u32) -> u32 {
    work(&AU_Y, 100);
    futures::executor::block_on(au_x_blocking(v)) + 1
}

#[pooled::pooled(group = A40AutoX)]
async fn au_x_async(v: u32) -> u32 {
    au_y(v).await
}

#[test]
fn autoscaled_groups_moving_under_the_chains_never_pass_max() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(async {
            let mut tasks: Vec<_> = (0..5u32)
                .map(|t| {
                    tokio::spawn(async move {
                        for k in 0..15 {
                            let v = t * 100 + k;
                            assert_eq!(au_x_async(v).await, v + 1);
                        }
                    })
                })
                .collect();
            tasks.extend((0..3).map(|_| {
                tokio::spawn(async {
                    for k in 0..40 {
                        au_x_leaf(k).await;
                    }
                })
            }));
            for t in tasks {
                t.await.unwrap();
            }
        });
        at_rest(A40AutoX::POOL);
        at_rest(A40AutoY::POOL);
        assert!(AU_X.peak() <= 2, "X bodies at once: {}", AU_X.peak());
        assert!(AU_Y.peak() <= 2, "Y bodies at once: {}", AU_Y.peak());
    });
}

// ---------------------------------------------------------------------------
// 15. A parent cancelled while its blocking job calls back into X: the
//     orphaned nested call keeps X's slot until it ends.

#[pooled::group(size = 1)]
/// X of the orphaned jobs.
pub struct A40OrphanX;

#[pooled::group(size = 2)]
/// Y of the orphaned jobs.
pub struct A40OrphanY;

static OR_X: Meter = Meter::new();
/// Jobs that reached their hold point (the test cancels their parent then).
static OR_HELD: AtomicUsize = AtomicUsize::new(0);
/// Jobs let go on (each once its parent is cancelled).
static OR_RELEASED: AtomicUsize = AtomicUsize::new(0);

/// Job `job` says it is at its hold point and stays there until the test
/// has cancelled its parent: the cancellation lands at that point however
/// slow the machine (a sleep before `abort` let a slow parent finish first).
fn or_hold(job: usize) {
    OR_HELD.fetch_add(1, SeqCst);
    while OR_RELEASED.load(SeqCst) <= job {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// X work: the contender's (`None`) is empty; an orphan's (`Some(job)`)
/// lasts 20 ms after its parent is gone, and odd jobs are cancelled from
/// inside it.
#[pooled::pooled(group = A40OrphanX)]
fn or_x_sync(job: Option<usize>) {
    let _in = OR_X.enter();
    if let Some(job) = job {
        if job % 2 == 1 {
            or_hold(job);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[pooled::pooled(blocking, group = A40OrphanY)]
fn or_y(job: usize) {
    // Even jobs are cancelled before their call back into X.
    if job % 2 == 0 {
        or_hold(job);
    }
    or_x_sync(Some(job));
}

#[pooled::pooled(group = A40OrphanX)]
async fn or_x_parent(job: usize) {
    or_y(job).await;
}

#[test]
fn a_job_orphaned_by_its_cancelled_x_parent_never_runs_beside_another_x_call() {
    within(BOUND, || {
        let rt = common::multi_thread();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let contender = std::thread::spawn(move || {
            while !s2.load(SeqCst) {
                or_x_sync(None);
            }
        });
        rt.block_on(async {
            for round in 0..15usize {
                let parent = tokio::spawn(or_x_parent(round));
                // Cancel once the job is at its hold point: before its call
                // back into X (even rounds) or during it (odd rounds).
                while OR_HELD.load(SeqCst) == round {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                parent.abort();
                let _ = parent.await;
                // The orphan goes on only now, its parent certainly gone.
                OR_RELEASED.store(round + 1, SeqCst);
                // As in the cancelled chains: no next parent while an
                // orphan holds a Y slot (a cycle of the test's making).
                while A40OrphanY::POOL.stats().in_flight() != 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        });
        wait_for("the orphaned jobs end", || {
            A40OrphanY::POOL.stats().in_flight() == 0
        });
        stop.store(true, SeqCst);
        contender.join().unwrap();
        let x = at_rest(A40OrphanX::POOL);
        at_rest(A40OrphanY::POOL);
        // Every parent was cancelled: its job could not end before.
        assert!(x.cancelled >= 15, "{x:?}");
        assert_eq!(OR_X.peak(), 1, "X bodies at once");
    });
}

// ---------------------------------------------------------------------------
// 16. Inside one X call, Y blocking hops (that call back into X) cut off by
//     timeouts at every point: the parent goes on, its orphaned jobs' X
//     calls still share its one lent slot with its later nested calls.

#[pooled::group(size = 1)]
/// X whose parent cuts off its own hops.
pub struct A40InnerX;

#[pooled::group(order = "lifo", size = 2)]
/// Y of those hops.
pub struct A40InnerY;

static IN_X: Meter = Meter::new();

/// Y jobs whose closure started (counted from outside the pool).
static IN_Y_RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[pooled::pooled(group = A40InnerX)]
fn in_x_sync(micros: u64) -> u64 {
    work(&IN_X, micros);
    micros
}

#[pooled::pooled(group = A40InnerX)]
async fn in_x_async(micros: u64) -> u64 {
    work(&IN_X, micros);
    micros
}

#[pooled::pooled(blocking, group = A40InnerY)]
fn in_y(micros: u64) -> u64 {
    IN_Y_RUNS.fetch_add(1, SeqCst);
    std::thread::sleep(Duration::from_micros(micros / 2));
    in_x_sync(micros)
}

#[pooled::pooled(group = A40InnerX)]
async fn in_x_parent(seed: u64) -> u32 {
    let mut finished = 0;
    for k in 0..25u64 {
        let cut = Duration::from_micros((seed * 37 + k * 113) % 900);
        if tokio::time::timeout(cut, in_y(400)).await.is_ok() {
            finished += 1;
        }
        // The lend comes back to the parent whatever the cut hop does.
        assert_eq!(in_x_async(50).await, 50);
    }
    finished
}

#[test]
fn hops_cut_off_inside_one_x_call_share_its_lent_slot_with_its_later_calls() {
    within(BOUND, || {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let contender = std::thread::spawn(move || {
            while !s2.load(SeqCst) {
                in_x_sync(50);
            }
        });
        let rt = common::multi_thread();
        rt.block_on(async {
            let tasks: Vec<_> = (0..3u64).map(|t| tokio::spawn(in_x_parent(t))).collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        stop.store(true, SeqCst);
        contender.join().unwrap();
        at_rest(A40InnerX::POOL);
        let y = at_rest(A40InnerY::POOL);
        // A hop cut off while it waited for a Y slot (an orphan of an
        // earlier cut can hold one) left the queue and never ran: it is
        // cancelled. Every one that was admitted ran to the end, orphaned
        // or not, and is completed.
        assert_eq!(y.completed + y.cancelled, 75, "{y:?}");
        assert_eq!(
            y.completed,
            IN_Y_RUNS.load(SeqCst),
            "every job admitted ran, orphaned or not, and only those: {y:?}"
        );
        assert_eq!(IN_X.peak(), 1, "X bodies at once");
    });
}

// ---------------------------------------------------------------------------
// 17. A nested call counts in `Stats::nested`, not in `running`, on every
//     path that makes one: awaited, joined, from another group's blocking
//     job, from X's own blocking job, and as a returned future.

#[pooled::group(size = 1)]
/// X whose nested calls look at its stats.
pub struct A40Count;

#[pooled::group(size = 1)]
/// Y between them.
pub struct A40CountY;

/// `(running, nested)` of X, seen from inside a nested body.
static SEEN: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

fn look() {
    let s = A40Count::POOL.stats();
    SEEN.lock().unwrap().push((s.running, s.nested));
}

#[pooled::pooled(group = A40Count)]
fn cn_sync() {
    look();
}

#[pooled::pooled(group = A40Count)]
async fn cn_async() {
    look();
}

#[pooled::pooled(blocking, group = A40Count)]
fn cn_blocking() {
    look();
}

#[pooled::pooled(group = A40Count)]
fn cn_future() -> impl Future<Output = ()> + Send {
    async { look() }
}

#[pooled::pooled(blocking, group = A40CountY)]
fn cn_y() {
    cn_sync();
}

#[pooled::pooled(group = A40Count)]
async fn cn_parent() {
    cn_async().await;
    futures::join!(cn_async(), cn_future());
    cn_y().await;
    cn_blocking().await;
    cn_future().await;
}

#[test]
fn a_nested_call_counts_as_nested_not_running_on_every_path() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(cn_parent());
        let seen = std::mem::take(&mut *SEEN.lock().unwrap());
        assert_eq!(
            seen,
            vec![(1, 1); 6],
            "(running, nested) inside nested bodies"
        );
        let s = at_rest(A40Count::POOL);
        assert_eq!(s.completed, 7, "{s:?}");
    });
}

// ---------------------------------------------------------------------------
// 18. Nested calls of rejecting functions through a blocking hop are not
//     turned away by a pause or a waiting bound of 0: they belong to
//     admitted work.

#[pooled::group(size = 1, max_waiting = 0)]
/// X with no room to wait.
pub struct A40NoWait;

#[pooled::group(size = 2)]
/// Y between.
pub struct A40NoWaitY;

static NW_M: Meter = Meter::new();

#[pooled::pooled(group = A40NoWait)]
fn nw_sync(v: u32) -> Result<u32, pooled::Rejected> {
    work(&NW_M, 300);
    Ok(v)
}

#[pooled::pooled(group = A40NoWait)]
async fn nw_async(v: u32) -> Result<u32, pooled::Rejected> {
    work(&NW_M, 300);
    Ok(v)
}

#[pooled::pooled(blocking, group = A40NoWaitY)]
fn nw_y(v: u32) -> Result<u32, pooled::Rejected> {
    nw_sync(v)
}

#[pooled::pooled(group = A40NoWait)]
async fn nw_parent(pause: bool) -> Result<u32, pooled::Rejected> {
    if pause {
        A40NoWait::POOL.pause();
    }
    // Two nested calls at once: one waits for the lent slot.
    let (a, b) = futures::join!(nw_y(1), nw_async(2));
    let (c, d) = futures::join!(nw_async(3), nw_y(4));
    A40NoWait::POOL.resume();
    Ok(a? + b? + c? + d?)
}

#[test]
fn nested_calls_through_a_blocking_hop_are_never_turned_away() {
    within(BOUND, || {
        let rt = common::multi_thread();
        for pause in [false, true, false, true] {
            assert_eq!(rt.block_on(nw_parent(pause)), Ok(10), "pause: {pause}");
        }
        // A top-level call meanwhile is turned away (full, then paused).
        rt.block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let holder = tokio::spawn(nw_holder(rx));
            wait_for_async(|| A40NoWait::POOL.stats().running == 1).await;
            assert_eq!(nw_async(0).await, Err(pooled::Rejected::Full));
            A40NoWait::POOL.pause();
            assert_eq!(nw_async(0).await, Err(pooled::Rejected::Paused));
            // Still paused: the holder's nested calls are not turned away.
            tx.send(()).unwrap();
            assert_eq!(holder.await.unwrap(), Ok(10));
            A40NoWait::POOL.resume();
        });
        let s = at_rest(A40NoWait::POOL);
        assert_eq!(s.rejected_for(pooled::Rejected::Full), 1, "{s:?}");
        assert_eq!(s.rejected_for(pooled::Rejected::Paused), 1, "{s:?}");
        assert_eq!(NW_M.peak(), 1);
    });
}

#[pooled::pooled(group = A40NoWait)]
async fn nw_holder(release: tokio::sync::oneshot::Receiver<()>) -> Result<u32, pooled::Rejected> {
    release.await.unwrap();
    // Its nested calls run though the group is paused by then.
    let (a, b) = futures::join!(nw_y(4), nw_async(6));
    Ok(a? + b?)
}

async fn wait_for_async(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "never");
        tokio::time::sleep(Duration::from_micros(100)).await;
    }
}

// ---------------------------------------------------------------------------
// 19. Admission timeouts across a chain: every call the attribute turned
//     away is in `rejected`, every body that ran in `completed`, counted
//     from outside.

#[pooled::group(order = "priority", size = 1, admission_timeout = "2ms")]
/// X that times its waiters out.
pub struct A40Timeout;

#[pooled::group(size = 1, admission_timeout = "2ms")]
/// Y that times its waiters out.
pub struct A40TimeoutY;

static TO_X_CALLS: AtomicUsize = AtomicUsize::new(0);
static TO_X_BODIES: AtomicUsize = AtomicUsize::new(0);
static TO_Y_CALLS: AtomicUsize = AtomicUsize::new(0);
static TO_Y_BODIES: AtomicUsize = AtomicUsize::new(0);
static TO_X: Meter = Meter::new();

#[pooled::pooled(group = A40Timeout, weight = 1)]
fn to_x_sync(v: u32) -> Result<u32, pooled::Rejected> {
    TO_X_BODIES.fetch_add(1, SeqCst);
    work(&TO_X, 500);
    Ok(v)
}

#[pooled::pooled(blocking, group = A40TimeoutY)]
fn to_y(v: u32) -> Result<u32, pooled::Rejected> {
    TO_Y_BODIES.fetch_add(1, SeqCst);
    TO_X_CALLS.fetch_add(1, SeqCst);
    to_x_sync(v)
}

#[pooled::pooled(group = A40Timeout, weight = 2)]
async fn to_x_async(v: u32) -> Result<u32, pooled::Rejected> {
    TO_X_BODIES.fetch_add(1, SeqCst);
    TO_Y_CALLS.fetch_add(1, SeqCst);
    to_y(v).await
}

#[test]
fn timed_out_calls_on_a_chain_are_each_counted_once_where_they_were_turned_away() {
    within(BOUND, || {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                std::thread::spawn(|| {
                    for k in 0..60 {
                        TO_X_CALLS.fetch_add(1, SeqCst);
                        let _ = to_x_sync(k);
                    }
                })
            })
            .collect();
        let rt = common::multi_thread();
        rt.block_on(async {
            let tasks: Vec<_> = (0..4u32)
                .map(|_| {
                    tokio::spawn(async {
                        for k in 0..30 {
                            TO_X_CALLS.fetch_add(1, SeqCst);
                            let _ = to_x_async(k).await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        for t in threads {
            t.join().unwrap();
        }
        let x = at_rest(A40Timeout::POOL);
        let y = at_rest(A40TimeoutY::POOL);
        let (xc, xb) = (
            TO_X_CALLS.load(SeqCst) as u64,
            TO_X_BODIES.load(SeqCst) as u64,
        );
        let (yc, yb) = (
            TO_Y_CALLS.load(SeqCst) as u64,
            TO_Y_BODIES.load(SeqCst) as u64,
        );
        assert_eq!(
            (x.submitted(), x.completed, x.cancelled),
            (xc, xb, 0),
            "{x:?}"
        );
        assert_eq!(x.rejected_for(pooled::Rejected::TimedOut), xc - xb, "{x:?}");
        assert_eq!(
            (y.submitted(), y.completed, y.cancelled),
            (yc, yb, 0),
            "{y:?}"
        );
        assert_eq!(y.rejected_for(pooled::Rejected::TimedOut), yc - yb, "{y:?}");
        assert!(x.rejected_total() > 0, "nothing timed out: {x:?}");
        assert_eq!(TO_X.peak(), 1);
    });
}

// ---------------------------------------------------------------------------
// 20. A future of X handed to Y's async work as an argument: awaited there,
//     it is nested in X when Y's call is made inside X's work, and an
//     independent X call otherwise.

#[pooled::group(size = 1)]
/// X of the handed futures.
pub struct A40HandX;

#[pooled::group(order = "lifo", size = 1)]
/// Y that awaits them.
pub struct A40HandY;

static HD_X: Meter = Meter::new();

#[pooled::pooled(group = A40HandX)]
fn hd_x(v: u32) -> impl Future<Output = u32> + Send {
    async move {
        {
            let _in = HD_X.enter();
            tokio::task::yield_now().await;
            std::thread::sleep(Duration::from_micros(100));
        }
        v
    }
}

#[pooled::pooled(group = A40HandY)]
async fn hd_y(f: BoxFut<u32>, g: BoxFut<u32>) -> u32 {
    let (a, b) = futures::join!(f, g);
    a + b
}

#[pooled::pooled(group = A40HandX)]
async fn hd_x_parent(v: u32) -> u32 {
    hd_y(Box::pin(hd_x(v)), Box::pin(hd_x(v + 1))).await
}

#[test]
fn futures_of_x_handed_to_y_work_are_nested_inside_x_work_and_alone_outside_it() {
    within(BOUND, || {
        let rt = common::multi_thread();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let contender = std::thread::spawn(move || {
            while !s2.load(SeqCst) {
                futures::executor::block_on(hd_x(0));
            }
        });
        // Two phases: X → Y → X chains, then Y → X calls. Both at once
        // would be a lock-order cycle of the test's own making (a parent
        // holding X waits for Y, whose holder waits for X).
        rt.block_on(async {
            let tasks: Vec<_> = (0..3u32)
                .map(|t| {
                    tokio::spawn(async move {
                        for k in 0..8 {
                            let v = t * 100 + k;
                            assert_eq!(hd_x_parent(v).await, 2 * v + 1);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            let tasks: Vec<_> = (0..3u32)
                .map(|t| {
                    tokio::spawn(async move {
                        for k in 0..8 {
                            let v = t * 100 + k;
                            assert_eq!(hd_y(Box::pin(hd_x(v)), Box::pin(hd_x(v))).await, 2 * v);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        stop.store(true, SeqCst);
        contender.join().unwrap();
        at_rest(A40HandX::POOL);
        at_rest(A40HandY::POOL);
        assert_eq!(HD_X.peak(), 1, "X bodies at once");
    });
}

// ---------------------------------------------------------------------------
// 21. A sync nested call on the parent's own thread waiting for X's lent
//     slot while another group's blocking job holds it ("waiting for a slot
//     lent to a blocking job, which runs on another thread, is fine").

#[pooled::group(size = 1)]
/// X whose lend a Y job borrows.
pub struct A40LendX;

#[pooled::group(size = 1)]
/// Y whose job borrows it.
pub struct A40LendY;

static LD_X: Meter = Meter::new();

#[pooled::pooled(group = A40LendX)]
fn ld_x_sync(micros: u64) -> u64 {
    work(&LD_X, micros);
    micros
}

#[pooled::pooled(blocking, group = A40LendY)]
fn ld_y(micros: u64) -> u64 {
    ld_x_sync(micros)
}

#[pooled::pooled(group = A40LendX)]
async fn ld_parent() -> u64 {
    let (a, b) = futures::join!(ld_y(3000), async {
        // Let the job's X call borrow the lend first.
        tokio::time::sleep(Duration::from_millis(1)).await;
        ld_x_sync(100)
    });
    a + b
}

#[test]
fn a_sync_call_on_the_parents_thread_waits_for_the_lend_a_y_job_holds() {
    within(BOUND, || {
        let rt = common::multi_thread();
        for _ in 0..10 {
            assert_eq!(rt.block_on(ld_parent()), 3100);
        }
        // The same from a sync parent on a plain thread.
        for _ in 0..5 {
            assert_eq!(ld_sync_parent(), 3100);
        }
        at_rest(A40LendX::POOL);
        at_rest(A40LendY::POOL);
        assert_eq!(LD_X.peak(), 1);
    });
}

#[pooled::pooled(group = A40LendX)]
fn ld_sync_parent() -> u64 {
    // The job borrows the lend from its own thread; this thread then waits.
    let fut = ld_y(3000);
    let (a, b) = futures::executor::block_on(async {
        futures::join!(fut, async {
            std::thread::sleep(Duration::from_millis(1));
            ld_x_sync(100)
        })
    });
    a + b
}

// ---------------------------------------------------------------------------
// 22. Nested calls run in a group scaled to 0 or paused by their parent,
//     through a blocking hop of another group; top-level calls wait.

#[pooled::group(size = 2)]
/// X scaled to 0 under its parents.
pub struct A40ZeroX;

#[pooled::group(size = 2)]
/// Y between.
pub struct A40ZeroY;

static ZR_X: Meter = Meter::new();

#[pooled::pooled(group = A40ZeroX)]
fn zr_x_sync(v: u32) -> u32 {
    work(&ZR_X, 200);
    v
}

#[pooled::pooled(blocking, group = A40ZeroY)]
fn zr_y(v: u32) -> u32 {
    zr_x_sync(v) + futures::executor::block_on(zr_x_blocking(v))
}

#[pooled::pooled(blocking, group = A40ZeroX)]
fn zr_x_blocking(v: u32) -> u32 {
    work(&ZR_X, 200);
    v
}

#[pooled::pooled(group = A40ZeroX)]
async fn zr_parent(v: u32, zero: bool) -> u32 {
    if zero {
        A40ZeroX::POOL.resize(0);
    } else {
        A40ZeroX::POOL.pause();
    }
    let r = zr_y(v).await + zr_y(v + 1).await;
    r
}

#[test]
fn nested_calls_through_a_blocking_hop_run_in_a_group_scaled_to_zero_or_paused() {
    within(BOUND, || {
        let rt = common::multi_thread();
        for (v, zero) in [(1, true), (2, false), (3, true), (4, false)] {
            assert_eq!(rt.block_on(zr_parent(v, zero)), 4 * v + 2);
            // A top-level call now waits (never-rejecting: until resumed).
            let waiting = rt.spawn(async { zr_x_sync(0) });
            std::thread::sleep(Duration::from_millis(20));
            assert!(
                !waiting.is_finished(),
                "a top-level call ran at size 0 / paused"
            );
            A40ZeroX::POOL.resize(2);
            A40ZeroX::POOL.resume();
            rt.block_on(waiting).unwrap();
        }
        at_rest(A40ZeroX::POOL);
        at_rest(A40ZeroY::POOL);
        assert_eq!(ZR_X.peak(), 1, "one parent at a time, one nested at a time");
    });
}

// ---------------------------------------------------------------------------
// 23. Nested calls queued for a LIFO pool's lent slot go last in, first out.

#[pooled::group(order = "lifo", size = 1)]
/// LIFO among nested calls.
pub struct A40NestLifo;

static NL_ORDER: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[pooled::pooled(group = A40NestLifo)]
async fn nl_call(v: u32) {
    NL_ORDER.lock().unwrap().push(v);
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
}

#[pooled::pooled(group = A40NestLifo)]
async fn nl_parent() {
    futures::join!(nl_call(1), nl_call(2), nl_call(3), nl_call(4));
}

#[test]
fn nested_calls_waiting_for_a_lifo_pools_lent_slot_go_last_in_first_out() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(nl_parent());
        let order = std::mem::take(&mut *NL_ORDER.lock().unwrap());
        assert_eq!(order, vec![1, 4, 3, 2], "nested order in a LIFO pool");
        at_rest(A40NestLifo::POOL);
    });
}

// ---------------------------------------------------------------------------
// 24. Recursion through the blocking executor cut off at every depth: the
//     orphaned jobs keep the one slot until they end.

#[pooled::group(size = 1)]
/// Recursion cut off by its callers.
pub struct A40RecCut;

static RC_M: Meter = Meter::new();

#[pooled::pooled(blocking, group = A40RecCut)]
fn rc_blocking(depth: u32) -> u32 {
    if depth == 0 {
        work(&RC_M, 300);
        0
    } else {
        std::thread::sleep(Duration::from_micros(100));
        futures::executor::block_on(rc_blocking(depth - 1)) + 1
    }
}

#[pooled::pooled(group = A40RecCut)]
async fn rc_leaf() {
    work(&RC_M, 100);
}

#[test]
fn blocking_recursion_cut_off_at_every_depth_keeps_the_one_slot() {
    within(BOUND, || {
        let rt = common::multi_thread();
        let cut_off = rt.block_on(async {
            let contender = tokio::spawn(async {
                for _ in 0..200 {
                    rc_leaf().await;
                    tokio::task::yield_now().await;
                }
            });
            let mut cut_off = 0;
            for cut in 0..30u64 {
                let d = Duration::from_micros(cut * 70);
                if tokio::time::timeout(d, rc_blocking(4)).await.is_err() {
                    cut_off += 1;
                }
            }
            contender.await.unwrap();
            cut_off
        });
        let s = at_rest(A40RecCut::POOL);
        // A caller cut off while waiting is a cancelled call; one cut off
        // after admission leaves its job to run to its end (completed).
        assert!(cut_off > 0, "no caller was cut off: {s:?}");
        assert_eq!(RC_M.peak(), 1, "bodies at once on a pool of 1");
    });
}

// ---------------------------------------------------------------------------
#[cfg(feature = "rayon")]
mod rayon_from_ys_job {
    use super::*;

    // 25. X async → Y blocking (default executor) → X blocking on rayon → X sync.

    #[pooled::group(size = 1, executor = "rayon")]
    /// X on rayon, reached from Y's job.
    pub struct A40RayNX;

    #[pooled::group(size = 1)]
    /// Y on the default executor.
    pub struct A40RayNY;

    static RN_X: Meter = Meter::new();

    #[pooled::pooled(group = A40RayNX)]
    fn rn_x_sync(v: u32) -> u32 {
        work(&RN_X, 100);
        v
    }

    #[pooled::pooled(blocking, group = A40RayNX)]
    fn rn_x_rayon(v: u32) -> u32 {
        rn_x_sync(v) + 1
    }

    #[pooled::pooled(blocking, group = A40RayNY)]
    fn rn_y(v: u32) -> u32 {
        futures::executor::block_on(rn_x_rayon(v)) + 1
    }

    #[pooled::pooled(group = A40RayNX)]
    async fn rn_parent(v: u32) -> u32 {
        rn_y(v).await + 1
    }

    #[test]
    fn a_rayon_job_made_in_ys_job_inside_x_work_runs_nested_in_x() {
        within(BOUND, || {
            let stop = Arc::new(AtomicBool::new(false));
            let s2 = stop.clone();
            let contender = std::thread::spawn(move || {
                while !s2.load(SeqCst) {
                    rn_x_sync(0);
                }
            });
            let rt = common::multi_thread();
            rt.block_on(async {
                let tasks: Vec<_> = (0..3u32)
                    .map(|t| {
                        tokio::spawn(async move {
                            for k in 0..6 {
                                assert_eq!(rn_parent(t * 10 + k).await, t * 10 + k + 3);
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            });
            stop.store(true, SeqCst);
            contender.join().unwrap();
            at_rest(A40RayNX::POOL);
            at_rest(A40RayNY::POOL);
            assert_eq!(RN_X.peak(), 1);
        });
    }
}

// ---------------------------------------------------------------------------
// 26. A nested call waiting for the lent slot takes a free slot as soon as
//     one appears ("for a free slot or for that slot to come back, whichever
//     comes first"): from a resize, or from another call's end; for an async
//     nested call of the parent's task and for a sync one in a Y job.

#[pooled::group(size = 1)]
/// X grown while a nested call waits for its lend.
pub struct A40Free;

#[pooled::group(size = 2)]
/// Y of the job-made nested call.
pub struct A40FreeY;

static FR_LOG: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

fn fr_log(what: &'static str) {
    FR_LOG.lock().unwrap().push(what);
}

/// Until `log` holds `what`.
async fn logged(log: &Mutex<Vec<&'static str>>, what: &str) {
    while !log.lock().unwrap().contains(&what) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Keeps the lend until the short call ran (on the slot the resize freed:
/// a short call that waited for the lend instead would never run, and the
/// test would fail by its bound). It held the lend 300 ms, and the job's
/// thread had to run within that time.
#[pooled::pooled(group = A40Free)]
async fn fr_long() {
    fr_log("long starts");
    logged(&FR_LOG, "short runs").await;
    fr_log("long ends");
}

#[pooled::pooled(group = A40Free)]
async fn fr_short() {
    fr_log("short runs");
}

#[pooled::pooled(group = A40Free)]
fn fr_short_sync() {
    fr_log("short runs");
}

#[pooled::pooled(blocking, group = A40FreeY)]
fn fr_job() {
    fr_short_sync();
}

#[pooled::pooled(group = A40Free)]
async fn fr_parent(through_job: bool) {
    // The resize once the short call waits for the lend (not 60 ms in,
    // which a slow job's thread may not have reached).
    let grow = async {
        while A40Free::POOL.stats().waiting == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        A40Free::POOL.resize(2);
    };
    if through_job {
        futures::join!(
            fr_long(),
            async {
                logged(&FR_LOG, "long starts").await;
                fr_job().await;
            },
            grow
        );
    } else {
        futures::join!(fr_long(), fr_short(), grow);
    }
}

#[test]
fn a_nested_call_waiting_for_the_lend_takes_a_slot_a_resize_frees() {
    within(BOUND, || {
        let rt = common::multi_thread();
        for through_job in [false, true] {
            A40Free::POOL.resize(1);
            FR_LOG.lock().unwrap().clear();
            rt.block_on(fr_parent(through_job));
            let log = std::mem::take(&mut *FR_LOG.lock().unwrap());
            assert_eq!(
                log,
                vec!["long starts", "short runs", "long ends"],
                "through a Y job: {through_job}"
            );
        }
        at_rest(A40Free::POOL);
    });
}

#[pooled::group(size = 2)]
/// X whose other call ends while a nested call waits for a lend.
pub struct A40FreeEnd;

static FE_LOG: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[pooled::pooled(group = A40FreeEnd)]
async fn fe_other(release: tokio::sync::oneshot::Receiver<()>) {
    release.await.unwrap();
    FE_LOG.lock().unwrap().push("other ends");
}

/// Keeps the lend until the short call ran (as `fr_long`).
#[pooled::pooled(group = A40FreeEnd)]
async fn fe_long() {
    FE_LOG.lock().unwrap().push("long starts");
    logged(&FE_LOG, "short runs").await;
    FE_LOG.lock().unwrap().push("long ends");
}

#[pooled::pooled(group = A40FreeEnd)]
async fn fe_short() {
    FE_LOG.lock().unwrap().push("short runs");
}

#[pooled::pooled(group = A40FreeEnd)]
async fn fe_parent(release: tokio::sync::oneshot::Sender<()>) {
    // The other call ends once the short call waits for the lend.
    futures::join!(fe_long(), fe_short(), async {
        while A40FreeEnd::POOL.stats().waiting == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        release.send(()).unwrap();
    });
}

#[test]
fn a_nested_call_waiting_for_the_lend_takes_the_slot_another_call_frees() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let other = tokio::spawn(fe_other(rx));
            wait_for_async(|| A40FreeEnd::POOL.stats().running == 1).await;
            fe_parent(tx).await;
            other.await.unwrap();
        });
        let log = std::mem::take(&mut *FE_LOG.lock().unwrap());
        assert_eq!(
            log,
            vec!["long starts", "other ends", "short runs", "long ends"],
        );
        at_rest(A40FreeEnd::POOL);
    });
}

// ---------------------------------------------------------------------------
// 27. A future-returning function whose body panics while building the
//     future: the panic reaches the caller, no slot was taken, no call
//     counted.

#[pooled::group(size = 1)]
/// Futures that fail to build.
pub struct A40Build;

#[pooled::pooled(group = A40Build)]
fn bd_future(fail: bool) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    if fail {
        panic!("planned panic while building");
    }
    Box::pin(async { 1 })
}

#[pooled::pooled(group = A40Build)]
async fn bd_parent() -> u32 {
    let caught = std::panic::catch_unwind(|| bd_future(true));
    assert!(caught.is_err());
    bd_future(false).await
}

#[test]
fn a_future_that_panics_while_built_takes_no_slot_and_counts_no_call() {
    quiet_planned_panics();
    within(BOUND, || {
        let rt = common::multi_thread();
        let caught = std::panic::catch_unwind(|| bd_future(true));
        assert!(caught.is_err());
        let before = A40Build::POOL.stats();
        assert_eq!(rt.block_on(bd_parent()), 1);
        let s = at_rest(A40Build::POOL);
        assert_eq!(s.submitted() - before.submitted(), 2, "{s:?}");
        assert_eq!((s.completed, s.panicked), (2, 0), "{s:?}");
    });
}

// ---------------------------------------------------------------------------
// 28. Pauses racing chains of rejecting functions: top-level calls may be
//     turned away, nested ones (through a Y job) never; every rejection is
//     counted once, counted from outside.

#[pooled::group(order = "priority", size = 2)]
/// X paused at random under chains.
pub struct A40PauseX;

#[pooled::group(order = "lifo", size = 2)]
/// Y paused at random under chains.
pub struct A40PauseY;

static PZ_X_CALLS: AtomicUsize = AtomicUsize::new(0);
static PZ_X_BODIES: AtomicUsize = AtomicUsize::new(0);
static PZ_NESTED_REJECTED: AtomicUsize = AtomicUsize::new(0);
static PZ_X: Meter = Meter::new();

#[pooled::pooled(group = A40PauseX, weight = 3)]
fn pz_x_sync(v: u32) -> Result<u32, pooled::Rejected> {
    PZ_X_BODIES.fetch_add(1, SeqCst);
    work(&PZ_X, 100);
    Ok(v)
}

#[pooled::pooled(blocking, group = A40PauseY)]
fn pz_y(v: u32) -> Result<u32, pooled::Rejected> {
    PZ_X_CALLS.fetch_add(1, SeqCst);
    let nested = pz_x_sync(v);
    if nested.is_err() {
        PZ_NESTED_REJECTED.fetch_add(1, SeqCst);
    }
    nested
}

#[pooled::pooled(group = A40PauseX, weight = 1)]
async fn pz_x_async(v: u32) -> Result<u32, pooled::Rejected> {
    PZ_X_BODIES.fetch_add(1, SeqCst);
    match pz_y(v).await {
        Err(pooled::Rejected::Paused) => Ok(v), // Y turned it away: fine
        other => other,
    }
}

#[test]
fn pauses_racing_chains_turn_away_top_level_calls_only_and_count_each_once() {
    within(BOUND, || {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let steerer = std::thread::spawn(move || {
            let mut i = 0u32;
            while !s2.load(SeqCst) {
                match i % 4 {
                    0 => A40PauseX::POOL.pause(),
                    1 => A40PauseY::POOL.pause(),
                    2 => A40PauseX::POOL.resume(),
                    _ => A40PauseY::POOL.resume(),
                }
                i += 1;
                std::thread::sleep(Duration::from_micros(250));
            }
            A40PauseX::POOL.resume();
            A40PauseY::POOL.resume();
        });
        let rt = common::multi_thread();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                std::thread::spawn(|| {
                    for k in 0..100 {
                        PZ_X_CALLS.fetch_add(1, SeqCst);
                        let _ = pz_x_sync(k);
                    }
                })
            })
            .collect();
        rt.block_on(async {
            let tasks: Vec<_> = (0..4u32)
                .map(|t| {
                    tokio::spawn(async move {
                        for k in 0..40 {
                            PZ_X_CALLS.fetch_add(1, SeqCst);
                            if let Ok(v) = pz_x_async(t * 100 + k).await {
                                assert_eq!(v, t * 100 + k);
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        for t in threads {
            t.join().unwrap();
        }
        stop.store(true, SeqCst);
        steerer.join().unwrap();
        let x = at_rest(A40PauseX::POOL);
        at_rest(A40PauseY::POOL);
        let (calls, bodies) = (
            PZ_X_CALLS.load(SeqCst) as u64,
            PZ_X_BODIES.load(SeqCst) as u64,
        );
        assert_eq!(
            PZ_NESTED_REJECTED.load(SeqCst),
            0,
            "a nested call was turned away"
        );
        assert_eq!((x.submitted(), x.completed), (calls, bodies), "{x:?}");
        assert_eq!(
            x.rejected_for(pooled::Rejected::Paused),
            calls - bodies,
            "{x:?}"
        );
        assert!(x.rejected_total() > 0, "no pause was seen: {x:?}");
        assert!(PZ_X.peak() <= 2);
    });
}

// ---------------------------------------------------------------------------
// 29. A group closed, then aborted, while chains run: top-level rejecting
//     calls get `Closed`, never-rejecting ones still run within the limit,
//     nested calls (through a Y job) of running work still run on close.

#[pooled::group(size = 1)]
/// X closed under its chains.
pub struct A40CloseX;

#[pooled::group(size = 2)]
/// Y between.
pub struct A40CloseY;

static CL_X: Meter = Meter::new();

#[pooled::pooled(group = A40CloseX)]
fn cl_x_sync(v: u32) -> Result<u32, pooled::Rejected> {
    work(&CL_X, 200);
    Ok(v)
}

#[pooled::pooled(group = A40CloseX)]
fn cl_x_wait(v: u32) -> u32 {
    work(&CL_X, 200);
    v
}

#[pooled::pooled(blocking, group = A40CloseY)]
fn cl_y(v: u32) -> Result<u32, pooled::Rejected> {
    cl_x_sync(v)
}

#[pooled::pooled(group = A40CloseX)]
async fn cl_parent(release: tokio::sync::oneshot::Receiver<()>) -> Result<u32, pooled::Rejected> {
    let a = cl_y(1).await?;
    release.await.unwrap();
    // Closed by now: nested calls of admitted work still run.
    let (b, c) = futures::join!(cl_y(2), cl_y(3));
    Ok(a + b? + c? + cl_x_wait(4))
}

#[test]
fn a_group_closed_under_its_chains_turns_away_new_calls_only() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let parent = tokio::spawn(cl_parent(rx));
            wait_for_async(|| A40CloseX::POOL.stats().running == 1).await;
            // A never-rejecting call waits behind the parent.
            let waiter = tokio::task::spawn_blocking(|| cl_x_wait(9));
            wait_for_async(|| A40CloseX::POOL.stats().waiting == 1).await;
            A40CloseX::POOL.pool().close();
            assert_eq!(cl_x_sync(0), Err(pooled::Rejected::Closed));
            tx.send(()).unwrap();
            assert_eq!(parent.await.unwrap(), Ok(10));
            assert_eq!(waiter.await.unwrap(), 9, "a never-rejecting call ran");
            // Closed and aborted: never-rejecting calls still run.
            A40CloseX::POOL.pool().abort();
            assert_eq!(
                tokio::task::spawn_blocking(|| cl_x_wait(5)).await.unwrap(),
                5
            );
        });
        let s = at_rest(A40CloseX::POOL);
        assert_eq!(s.rejected_for(pooled::Rejected::Closed), 1, "{s:?}");
        assert_eq!(CL_X.peak(), 1);
    });
}

// ---------------------------------------------------------------------------
// 30. Nested calls queued for a priority pool's lend from the parent's task
//     and from a Y job's thread go by weight across them.

#[pooled::group(order = "priority", size = 1)]
/// Weights across threads among nested calls.
pub struct A40CrossPrio;

#[pooled::group(size = 2)]
/// Y of the job-made nested call.
pub struct A40CrossPrioY;

static XPR_ORDER: Mutex<Vec<i64>> = Mutex::new(Vec::new());

/// Until `n` calls wait for a slot of `A40CrossPrio` (its lend).
async fn xpr_queued(n: usize) {
    while A40CrossPrio::POOL.stats().waiting < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Runs under the lend until `hold_for` calls wait for it.
#[pooled::pooled(group = A40CrossPrio)]
async fn xpr_async(#[weight] w: i64, hold_for: usize) {
    XPR_ORDER.lock().unwrap().push(w);
    xpr_queued(hold_for).await;
}

#[pooled::pooled(group = A40CrossPrio)]
fn xpr_sync(#[weight] w: i64) {
    XPR_ORDER.lock().unwrap().push(w);
}

#[pooled::pooled(blocking, group = A40CrossPrioY)]
fn xpr_job(w: i64) {
    xpr_sync(w);
}

/// 50 holds the lend until the three others queue for it, one after the
/// other: 20 from the task, 5 from a Y job's thread, 10 from the task.
/// (Each used to sleep 10, 20, 30 ms before asking and 50 to hold 80 ms: on
/// a loaded machine the job's thread could start after 50 was done.)
#[pooled::pooled(group = A40CrossPrio)]
async fn xpr_parent() {
    futures::join!(
        xpr_async(50, 3),
        async {
            while XPR_ORDER.lock().unwrap().is_empty() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            xpr_async(20, 0).await;
        },
        async {
            xpr_queued(1).await;
            xpr_job(5).await;
        },
        async {
            xpr_queued(2).await;
            xpr_async(10, 0).await;
        },
    );
}

#[test]
fn nested_calls_from_the_parents_task_and_a_y_job_go_by_weight_together() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(xpr_parent());
        let order = std::mem::take(&mut *XPR_ORDER.lock().unwrap());
        assert_eq!(order, vec![50, 5, 10, 20], "nested order by weight");
        at_rest(A40CrossPrio::POOL);
    });
}

// ---------------------------------------------------------------------------
// 31. A Y call first polled inside X work (queued for Y's slot), carried out
//     of that work and admitted after the X parent ended: its job's X call
//     is no longer nested (the parent's slot is free and taken by another).

#[pooled::group(size = 1)]
/// X whose parent ends before its Y job starts.
pub struct A40LateX;

#[pooled::group(size = 1)]
/// Y, full while the parent runs.
pub struct A40LateY;

static LT_X: Meter = Meter::new();

#[pooled::pooled(group = A40LateX)]
fn lt_x_sync() -> u32 {
    work(&LT_X, 2000);
    1
}

#[pooled::pooled(group = A40LateX)]
async fn lt_x_hold(release: tokio::sync::oneshot::Receiver<()>) {
    let _in = LT_X.enter();
    release.await.unwrap();
}

#[pooled::pooled(blocking, group = A40LateY)]
fn lt_y_job() -> u32 {
    lt_x_sync()
}

#[pooled::pooled(blocking, group = A40LateY)]
fn lt_y_block(release: std::sync::mpsc::Receiver<()>) {
    release.recv().unwrap();
}

#[pooled::pooled(group = A40LateX)]
async fn lt_parent() -> Carried {
    let mut job: BoxFut<u32> = Box::pin(lt_y_job());
    // Polled once here: it queues for Y's slot, inside X's work.
    assert!(futures::poll!(job.as_mut()).is_pending());
    Carried(job)
}

#[test]
fn a_y_job_admitted_after_its_x_parent_ended_needs_a_free_x_slot() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(async {
            let (ytx, yrx) = std::sync::mpsc::channel();
            let y_blocker = tokio::spawn(lt_y_block(yrx));
            wait_for_async(|| A40LateY::POOL.stats().running == 1).await;
            let Carried(job) = lt_parent().await;
            // The parent ended: another call takes X's one slot.
            let (xtx, xrx) = tokio::sync::oneshot::channel();
            let holder = tokio::spawn(lt_x_hold(xrx));
            wait_for_async(|| A40LateX::POOL.stats().running == 1).await;
            let job = tokio::spawn(job);
            ytx.send(()).unwrap();
            y_blocker.await.unwrap();
            // The job now runs and calls X: it must wait for the holder.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let beside = LT_X.peak();
            xtx.send(()).unwrap();
            holder.await.unwrap();
            assert_eq!(job.await.unwrap(), 1);
            assert_eq!(beside, 1, "the late job's X call ran beside X's holder");
        });
        at_rest(A40LateX::POOL);
        at_rest(A40LateY::POOL);
        assert_eq!(LT_X.peak(), 1);
    });
}

// ---------------------------------------------------------------------------
// 32. Panics of nested calls caught inside the parent's work and inside a Y
//     job leave no frame behind on the threads that ran them: later calls on
//     those threads (workers, blocking threads) are not taken for nested.

#[pooled::group(size = 1)]
/// X whose nested calls panic and are caught.
pub struct A40Leak;

#[pooled::group(size = 2)]
/// Y whose jobs catch X's panics.
pub struct A40LeakY;

static LK_X: Meter = Meter::new();

#[pooled::pooled(group = A40Leak)]
fn lk_x_sync(fail: bool) -> u32 {
    if fail {
        panic!("planned nested panic");
    }
    work(&LK_X, 100);
    1
}

#[pooled::pooled(group = A40Leak)]
async fn lk_x_async(fail: bool) -> u32 {
    if fail {
        panic!("planned nested panic");
    }
    work(&LK_X, 100);
    1
}

#[pooled::pooled(blocking, group = A40LeakY)]
fn lk_y(fail: bool) -> u32 {
    std::panic::catch_unwind(|| lk_x_sync(fail)).unwrap_or(0)
}

#[pooled::pooled(group = A40Leak)]
async fn lk_parent() -> u32 {
    let a = AssertUnwindSafe(lk_x_async(true))
        .catch_unwind()
        .await
        .unwrap_or(0);
    let b = std::panic::catch_unwind(|| lk_x_sync(true)).unwrap_or(0);
    let c = lk_y(true).await;
    tokio::task::yield_now().await;
    a + b + c + lk_x_async(false).await
}

#[pooled::pooled(group = A40Leak)]
async fn lk_hold(release: tokio::sync::oneshot::Receiver<()>) {
    release.await.unwrap();
}

#[test]
fn caught_nested_panics_leave_no_frame_behind_on_their_threads() {
    quiet_planned_panics();
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(async {
            let parents: Vec<_> = (0..12).map(|_| tokio::spawn(lk_parent())).collect();
            for p in parents {
                assert_eq!(p.await.unwrap(), 1);
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            let holder = tokio::spawn(lk_hold(rx));
            wait_for_async(|| A40Leak::POOL.stats().running == 1).await;
            let before = LK_X.done();
            let mut calls = Vec::new();
            for _ in 0..8 {
                calls.push(tokio::spawn(lk_x_async(false)));
                calls.push(tokio::spawn(lk_y(false)));
                calls.push(tokio::task::spawn_blocking(|| lk_x_sync(false)));
            }
            tokio::time::sleep(Duration::from_millis(60)).await;
            let ran = LK_X.done() - before;
            let nested = A40Leak::POOL.stats().nested;
            tx.send(()).unwrap();
            holder.await.unwrap();
            for c in calls {
                assert_eq!(c.await.unwrap(), 1);
            }
            assert_eq!((ran, nested), (0, 0), "X calls ran beside X's holder");
        });
        let s = at_rest(A40Leak::POOL);
        assert_eq!(LK_X.peak(), 1, "{s:?}");
    });
}

// ---------------------------------------------------------------------------
// 33. A slot freed after a scale-down is no room for a nested call waiting
//     for its lend; and on a priority pool a freed slot goes by weight
//     between a nested waiter and a top-level one.

#[pooled::group(order = "priority", size = 2)]
/// X shrunk, or contended by weight, under a waiting nested call.
pub struct A40Shrink;

static SH_LOG: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

fn sh_log(what: &'static str) {
    SH_LOG.lock().unwrap().push(what);
}

#[pooled::pooled(group = A40Shrink)]
async fn sh_other(release: tokio::sync::oneshot::Receiver<()>) {
    release.await.unwrap();
    sh_log("other ends");
}

/// Keeps the lend: after a shrink, 50 ms past the other call's end (in
/// which the nested call must not take the slot that call freed); else
/// until the nested call ran (on the slot the lighter call gave back: a
/// nested call that waited for the lend instead would never run, and the
/// test would fail by its bound). It held the lend 250 ms from its start,
/// and a loaded machine could end it before the other call did.
#[pooled::pooled(group = A40Shrink, weight = 5)]
async fn sh_long(shrink: bool) {
    sh_log("long starts");
    if shrink {
        logged(&SH_LOG, "other ends").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    } else {
        logged(&SH_LOG, "nested runs").await;
    }
    sh_log("long ends");
}

#[pooled::pooled(group = A40Shrink, weight = 10)]
async fn sh_nested() {
    sh_log("nested runs");
}

#[pooled::pooled(group = A40Shrink, weight = 0)]
async fn sh_top() {
    sh_log("top runs");
    tokio::time::sleep(Duration::from_millis(20)).await;
}

#[pooled::pooled(group = A40Shrink)]
async fn sh_parent(release: tokio::sync::oneshot::Sender<()>, shrink: bool) {
    let queued = |n: usize| async move {
        while A40Shrink::POOL.stats().waiting < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    futures::join!(sh_long(shrink), sh_nested(), async {
        // Once the nested call waits for the lend.
        queued(1).await;
        if shrink {
            A40Shrink::POOL.resize(1);
        } else {
            // A top-level call of a smaller weight queues behind the nested one.
            tokio::spawn(sh_top());
            queued(2).await;
        }
        release.send(()).unwrap();
    });
}

#[test]
fn a_slot_freed_under_a_scale_down_or_to_a_lighter_waiter_is_not_the_nested_calls() {
    within(BOUND, || {
        let rt = common::multi_thread();
        for shrink in [true, false] {
            A40Shrink::POOL.resize(2);
            SH_LOG.lock().unwrap().clear();
            rt.block_on(async {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let other = tokio::spawn(sh_other(rx));
                wait_for_async(|| A40Shrink::POOL.stats().running == 1).await;
                sh_parent(tx, shrink).await;
                other.await.unwrap();
                wait_for_async(|| A40Shrink::POOL.stats().in_flight() == 0).await;
            });
            let log = std::mem::take(&mut *SH_LOG.lock().unwrap());
            let want: &[&str] = if shrink {
                &["long starts", "other ends", "long ends", "nested runs"]
            } else {
                // The lighter top-level call takes the freed slot; the
                // nested one takes it in turn when that call ends.
                &[
                    "long starts",
                    "other ends",
                    "top runs",
                    "nested runs",
                    "long ends",
                ]
            };
            assert_eq!(log, want, "shrink: {shrink}");
        }
        at_rest(A40Shrink::POOL);
    });
}

// ---------------------------------------------------------------------------
// 34. `abort` turns away the nested calls waiting for their parent's lend
//     (async in the parent's task, sync in a Y job), except never-rejecting
//     ones, which still run.

#[pooled::group(size = 1)]
/// X aborted while nested calls wait for its lend.
pub struct A40Abort;

#[pooled::group(size = 2)]
/// Y of the job-made nested call.
pub struct A40AbortY;

static AB_M: Meter = Meter::new();

#[pooled::pooled(group = A40Abort)]
async fn ab_long() -> Result<u32, pooled::Rejected> {
    let _in = AB_M.enter();
    // Keeps the lend until the abort (it held it 100 ms, which a loaded
    // machine could spend before the abort 40 ms in).
    while !A40Abort::POOL.stats().closed {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(1)
}

#[pooled::pooled(group = A40Abort)]
async fn ab_async() -> Result<u32, pooled::Rejected> {
    work(&AB_M, 100);
    Ok(10)
}

#[pooled::pooled(group = A40Abort)]
fn ab_sync() -> Result<u32, pooled::Rejected> {
    work(&AB_M, 100);
    Ok(100)
}

#[pooled::pooled(group = A40Abort)]
async fn ab_wait() -> u32 {
    work(&AB_M, 100);
    1000
}

#[pooled::pooled(blocking, group = A40AbortY)]
fn ab_job() -> Result<u32, pooled::Rejected> {
    ab_sync()
}

type AbortOutcome = (
    Result<u32, pooled::Rejected>,
    Result<u32, pooled::Rejected>,
    Result<u32, pooled::Rejected>,
    u32,
);

#[pooled::pooled(group = A40Abort)]
async fn ab_parent() -> AbortOutcome {
    let (a, b, c, d, ()) = futures::join!(ab_long(), ab_async(), ab_job(), ab_wait(), async {
        // Once the three nested calls wait for the lend (not 40 ms in, which
        // the Y job's thread may not have reached).
        while A40Abort::POOL.stats().waiting < 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        A40Abort::POOL.pool().abort();
    });
    let _ = a;
    (Ok(1), b, c, d)
}

#[test]
fn abort_turns_away_nested_calls_waiting_for_the_lend_but_not_never_rejecting_ones() {
    within(BOUND, || {
        let rt = common::multi_thread();
        let (_, b, c, d) = rt.block_on(ab_parent());
        assert_eq!(b, Err(pooled::Rejected::Closed), "async nested waiter");
        assert_eq!(c, Err(pooled::Rejected::Closed), "nested waiter in a Y job");
        assert_eq!(d, 1000, "never-rejecting nested waiter");
        let s = at_rest(A40Abort::POOL);
        assert_eq!(s.rejected_for(pooled::Rejected::Closed), 2, "{s:?}");
        assert_eq!(AB_M.peak(), 1);
    });
}

// ---------------------------------------------------------------------------
// 35. A random storm of linear chains over three groups and four forms each
//    (async, sync, blocking, future-returning), re-entering held groups
//    (nested) and entering new ones only in one global order (so no chain
//    waits on another in a cycle of the test's own making).

#[pooled::group(size = 1)]
/// Storm group 0.
pub struct A40S0;

#[pooled::group(order = "priority", size = 2)]
/// Storm group 1.
pub struct A40S1;

#[pooled::group(order = "lifo", size = 1)]
/// Storm group 2.
pub struct A40S2;

static S_M: [Meter; 3] = [Meter::new(), Meter::new(), Meter::new()];
const S_LIMITS: [usize; 3] = [1, 2, 1];

fn s_next(seed: u64) -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 29;
    x.wrapping_mul(0xBF58_476D_1CE4_E5B9) | 1
}

/// One hop's own work, then the rest of the chain.
async fn s_hop(group: usize, held: u8, depth: u32, seed: u64) -> u32 {
    work(&S_M[group], 80);
    if depth == 0 {
        return 1;
    }
    s_dispatch(held | (1 << group), depth - 1, s_next(seed)).await + 1
}

fn s_hop_sync(group: usize, held: u8, depth: u32, seed: u64) -> u32 {
    park_on(s_hop(group, held, depth, seed))
}

/// A `block_on` that may nest (futures' refuses to run inside itself).
fn park_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// A sync hop made from async code blocks its thread for the whole rest of
/// the chain: on a tokio worker, hand the worker's tasks on first (as the
/// README asks of blocking work in async code).
fn in_place<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// The next hop: a held group (nested), or a group after every held one.
fn s_dispatch(held: u8, depth: u32, seed: u64) -> BoxFut<u32> {
    let highest = (0..3).rev().find(|g| held & (1 << g) != 0);
    let choices: Vec<usize> = (0..3)
        .filter(|&g| held & (1 << g) != 0 || highest.is_none_or(|h| g > h))
        .collect();
    if choices.is_empty() {
        return Box::pin(async { 0 });
    }
    let group = choices[(seed % choices.len() as u64) as usize];
    let form = (seed / 7) % 4;
    match (group, form) {
        (0, 0) => Box::pin(s0_async(held, depth, seed)),
        (0, 1) => Box::pin(async move { in_place(|| s0_sync(held, depth, seed)) }),
        (0, 2) => Box::pin(s0_blocking(held, depth, seed)),
        (0, _) => s0_future(held, depth, seed),
        (1, 0) => Box::pin(s1_async(held, depth, seed)),
        (1, 1) => Box::pin(async move { in_place(|| s1_sync(held, depth, seed)) }),
        (1, 2) => Box::pin(s1_blocking(held, depth, seed)),
        (1, _) => s1_future(held, depth, seed),
        (_, 0) => Box::pin(s2_async(held, depth, seed)),
        (_, 1) => Box::pin(async move { in_place(|| s2_sync(held, depth, seed)) }),
        (_, 2) => Box::pin(s2_blocking(held, depth, seed)),
        (_, _) => s2_future(held, depth, seed),
    }
}

#[pooled::pooled(group = A40S0)]
async fn s0_async(held: u8, depth: u32, seed: u64) -> u32 {
    s_hop(0, held, depth, seed).await
}
#[pooled::pooled(group = A40S0)]
fn s0_sync(held: u8, depth: u32, seed: u64) -> u32 {
    s_hop_sync(0, held, depth, seed)
}
#[pooled::pooled(blocking, group = A40S0)]
fn s0_blocking(held: u8, depth: u32, seed: u64) -> u32 {
    s_hop_sync(0, held, depth, seed)
}
#[pooled::pooled(group = A40S0)]
fn s0_future(held: u8, depth: u32, seed: u64) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(s_hop(0, held, depth, seed))
}
#[pooled::pooled(group = A40S1, weight = (seed % 5) as i64)]
async fn s1_async(held: u8, depth: u32, seed: u64) -> u32 {
    s_hop(1, held, depth, seed).await
}
#[pooled::pooled(group = A40S1, weight = 2)]
fn s1_sync(held: u8, depth: u32, seed: u64) -> u32 {
    s_hop_sync(1, held, depth, seed)
}
#[pooled::pooled(blocking, group = A40S1, weight = 1)]
fn s1_blocking(held: u8, depth: u32, seed: u64) -> u32 {
    s_hop_sync(1, held, depth, seed)
}
#[pooled::pooled(group = A40S1)]
fn s1_future(held: u8, depth: u32, seed: u64) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(s_hop(1, held, depth, seed))
}
#[pooled::pooled(group = A40S2)]
async fn s2_async(held: u8, depth: u32, seed: u64) -> u32 {
    s_hop(2, held, depth, seed).await
}
#[pooled::pooled(group = A40S2)]
fn s2_sync(held: u8, depth: u32, seed: u64) -> u32 {
    s_hop_sync(2, held, depth, seed)
}
#[pooled::pooled(blocking, group = A40S2)]
fn s2_blocking(held: u8, depth: u32, seed: u64) -> u32 {
    s_hop_sync(2, held, depth, seed)
}
#[pooled::pooled(group = A40S2)]
fn s2_future(held: u8, depth: u32, seed: u64) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(s_hop(2, held, depth, seed))
}

#[test]
fn a_random_storm_of_chains_over_three_groups_and_four_forms_keeps_every_limit() {
    within(BOUND, || {
        let rt = Arc::new(common::multi_thread());
        let threads: Vec<_> = (0..2u64)
            .map(|t| {
                let rt = rt.clone();
                std::thread::spawn(move || {
                    let mut seed = s_next(1000 + t);
                    for _ in 0..100 {
                        seed = s_next(seed);
                        let depth = (seed % 6) as u32;
                        let _ = rt.block_on(s_dispatch(0, depth, seed));
                    }
                })
            })
            .collect();
        rt.block_on(async {
            let tasks: Vec<_> = (0..6u64)
                .map(|t| {
                    tokio::spawn(async move {
                        let mut seed = s_next(t + 1);
                        for _ in 0..100 {
                            seed = s_next(seed);
                            let depth = (seed % 6) as u32;
                            let _ = s_dispatch(0, depth, seed).await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        for t in threads {
            t.join().unwrap();
        }
        for (g, group) in [A40S0::POOL, A40S1::POOL, A40S2::POOL]
            .into_iter()
            .enumerate()
        {
            let s = at_rest(group);
            assert!(s.completed > 50 && s.nested == 0, "group {g}: {s:?}");
            assert!(
                S_M[g].peak() <= S_LIMITS[g],
                "group {g}: {} bodies at once",
                S_M[g].peak()
            );
        }
    });
}

// ---------------------------------------------------------------------------
// 36. On a current-thread runtime, sync calls that find their slot (a free
//     one, or their parent's free lend, directly or through a Y job) never
//     wait, so they work there ("a call that finds a free slot never waits,
//     so it works anywhere").

#[pooled::group(size = 1)]
/// X driven by a current-thread runtime.
pub struct A40Current;

#[pooled::group(size = 1)]
/// Y between.
pub struct A40CurrentY;

static CT_M: Meter = Meter::new();

#[pooled::pooled(group = A40Current)]
fn ct_sync(v: u32) -> u32 {
    work(&CT_M, 100);
    v
}

#[pooled::pooled(blocking, group = A40CurrentY)]
fn ct_y(v: u32) -> u32 {
    ct_sync(v) + 1
}

#[pooled::pooled(group = A40Current)]
async fn ct_parent(v: u32) -> u32 {
    let a = ct_sync(v);
    let b = ct_y(v).await;
    tokio::task::yield_now().await;
    a + b + ct_sync(v)
}

#[test]
fn sync_calls_that_find_their_slot_work_on_a_current_thread_runtime() {
    within(BOUND, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for v in 0..10 {
            assert_eq!(rt.block_on(async { ct_sync(v) }), v);
            assert_eq!(rt.block_on(ct_parent(v)), 3 * v + 1);
        }
        let s = at_rest(A40Current::POOL);
        assert_eq!((s.completed, s.panicked), (50, 0), "{s:?}");
        assert_eq!(CT_M.peak(), 1);
    });
}
