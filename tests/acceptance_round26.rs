//! Acceptance tests of the facade, round 26: the attribute's call paths of
//! one declared group (async, sync, methods, `#[async_trait]`, functions
//! returning `impl Future`, `Pin<Box<dyn Future>>` and `BoxFuture`,
//! `blocking`, generic functions) all counted from outside against the
//! group's one limit, the group's handle (scale, pause, resume, stats)
//! reaching every one of them, functions returning a future built without a
//! slot, and nested calls through the attribute. Waits are bounded only to
//! turn a hang into a failure.
#![cfg(not(miri))]

mod common;

use async_trait::async_trait;
use common::{within, Meter};
use futures::future::BoxFuture;
use futures::FutureExt;
use pooled::Rejected;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(20);

fn busy() {
    std::thread::sleep(Duration::from_micros(200));
}

// ---- every call path of one group ------------------------------------------

#[pooled::group(order = "priority", size = 2)]
/// Every call path of one group.
pub struct Shapes;

static SHAPES: Meter = Meter::new();

#[pooled::pooled(group = Shapes)]
async fn s_async(n: usize, #[weight] _w: i64) -> usize {
    let _in = SHAPES.enter();
    busy();
    tokio::task::yield_now().await;
    n
}

#[pooled::pooled(group = Shapes, weight = 3)]
fn s_sync(n: usize) -> usize {
    let _in = SHAPES.enter();
    busy();
    n
}

#[pooled::pooled(group = Shapes)]
async fn s_generic<T: Into<u64> + Send>(t: T) -> u64 {
    let _in = SHAPES.enter();
    busy();
    tokio::task::yield_now().await;
    t.into()
}

#[pooled::pooled(group = Shapes)]
fn s_impl(n: usize) -> impl Future<Output = usize> + Send {
    async move {
        let _in = SHAPES.enter();
        busy();
        tokio::task::yield_now().await;
        n
    }
}

#[pooled::pooled(group = Shapes)]
fn s_pinned(n: usize) -> Pin<Box<dyn Future<Output = usize> + Send>> {
    Box::pin(async move {
        let _in = SHAPES.enter();
        busy();
        tokio::task::yield_now().await;
        n
    })
}

#[pooled::pooled(group = Shapes)]
fn s_boxed(n: usize) -> BoxFuture<'static, usize> {
    async move {
        let _in = SHAPES.enter();
        busy();
        tokio::task::yield_now().await;
        n
    }
    .boxed()
}

#[pooled::pooled(group = Shapes, blocking)]
fn s_blocking(n: usize) -> usize {
    let _in = SHAPES.enter();
    busy();
    n
}

struct Svc(usize);

impl Svc {
    #[pooled::pooled(group = Shapes)]
    async fn method(&self, n: usize) -> usize {
        let _in = SHAPES.enter();
        busy();
        tokio::task::yield_now().await;
        n + self.0
    }

    #[pooled::pooled(group = Shapes)]
    fn sync_mut(&mut self, n: usize) -> usize {
        let _in = SHAPES.enter();
        busy();
        self.0 += 1;
        n
    }
}

#[async_trait]
trait Store {
    async fn load(&self, n: usize) -> usize;
}

#[async_trait]
impl Store for Svc {
    #[pooled::pooled(group = Shapes)]
    async fn load(&self, n: usize) -> usize {
        let _in = SHAPES.enter();
        busy();
        tokio::task::yield_now().await;
        n + self.0
    }
}

/// README, "The attribute": "Every call of an annotated function waits for a
/// slot of a lazily started global pool and runs while holding it", for each
/// form the README lists (async, sync, methods, `#[async_trait]`, a sync fn
/// returning a future in its three spellings, `blocking`): from tasks of a
/// multi-thread runtime and plain threads at once, never more than the
/// group's 2 bodies run (counted from outside), and every call is counted.
#[test]
fn every_call_path_of_one_group_counts_against_its_one_limit() {
    within(BOUND, || {
        const ROUNDS: usize = 12;
        let threads: Vec<_> = (0..2)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut svc = Svc(0);
                    let mut sum = 0;
                    for i in 0..ROUNDS {
                        sum += s_sync(i) + svc.sync_mut(i);
                    }
                    assert_eq!(svc.0, ROUNDS, "thread {t}");
                    sum
                })
            })
            .collect();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let total = rt.block_on(async {
            let mut handles = Vec::new();
            for i in 0..ROUNDS {
                handles.push(tokio::spawn(async move {
                    let svc = Svc(0);
                    let w = (i % 3) as i64;
                    let (a, g, f, p, b, bl, m, l) = tokio::join!(
                        s_async(i, w),
                        s_generic(i as u32),
                        s_impl(i),
                        s_pinned(i),
                        s_boxed(i),
                        s_blocking(i),
                        svc.method(i),
                        svc.load(i),
                    );
                    a + g as usize + f + p + b + bl + m + l
                }));
            }
            let mut total = 0;
            for h in handles {
                total += h.await.unwrap();
            }
            total
        });
        let sync_total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        let per = (0..ROUNDS).sum::<usize>();
        assert_eq!(total, 8 * per);
        assert_eq!(sync_total, 4 * per);
        assert!(
            SHAPES.peak() <= 2,
            "peak {} over a group of 2",
            SHAPES.peak()
        );
        assert_eq!(SHAPES.done(), 12 * ROUNDS);
        let s = Shapes::POOL.stats();
        assert_eq!(s.completed as usize, 12 * ROUNDS, "{s:?}");
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
    });
}

// ---- the handle reaches every function of the group --------------------------

/// The functions' own error.
#[derive(Debug, PartialEq)]
pub enum AppError {
    /// Turned away by the pool.
    Busy(Rejected),
}

impl From<Rejected> for AppError {
    fn from(r: Rejected) -> Self {
        AppError::Busy(r)
    }
}

#[pooled::group(size = 1)]
/// Controlled through its handle.
pub struct Ctl;

static CTL: Meter = Meter::new();

#[pooled::pooled(group = Ctl)]
async fn c_async(n: u32) -> Result<u32, AppError> {
    let _in = CTL.enter();
    tokio::task::yield_now().await;
    busy();
    Ok(n)
}

#[pooled::pooled(group = Ctl)]
fn c_sync(n: u32) -> Result<u32, AppError> {
    let _in = CTL.enter();
    busy();
    Ok(n)
}

#[pooled::pooled(group = Ctl)]
fn c_future(n: u32) -> impl Future<Output = Result<u32, AppError>> + Send {
    async move {
        let _in = CTL.enter();
        tokio::task::yield_now().await;
        busy();
        Ok(n)
    }
}

#[async_trait]
trait Remote {
    async fn fetch(&self, n: u32) -> Result<u32, AppError>;
}

struct Client;

#[async_trait]
impl Remote for Client {
    #[pooled::pooled(group = Ctl)]
    async fn fetch(&self, n: u32) -> Result<u32, AppError> {
        let _in = CTL.enter();
        tokio::task::yield_now().await;
        busy();
        Ok(n)
    }
}

/// README: "handles: scale, resize, pause, resume, is_paused, size, stats"
/// and "Rejections (paused, full, timed out) return through the function's
/// own `Result` via `From<Rejected>`": the group's one handle pauses every
/// function of the group, whatever its form; resumed and scaled up by 2, the
/// group runs at most 3 bodies at once and counts every call.
#[test]
fn the_group_handle_pauses_resumes_and_scales_every_function_of_the_group() {
    within(BOUND, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Ctl::POOL.pause();
        assert!(Ctl::POOL.is_paused());
        let paused = Err(AppError::Busy(Rejected::Paused));
        assert_eq!(c_sync(1), paused);
        rt.block_on(async {
            assert_eq!(c_async(1).await, paused);
            assert_eq!(c_future(1).await, paused);
            assert_eq!(Client.fetch(1).await, paused);
        });
        let s = Ctl::POOL.stats();
        assert_eq!(s.rejected_for(Rejected::Paused), 4, "{s:?}");
        assert_eq!(CTL.done(), 0, "no rejected body ran");
        Ctl::POOL.resume();
        assert!(!Ctl::POOL.is_paused());
        assert_eq!(Ctl::POOL.scale(2), 3);
        assert_eq!(Ctl::POOL.size(), 3);
        let threads: Vec<_> = (0..2)
            .map(|_| std::thread::spawn(|| (0..10).map(|i| c_sync(i).unwrap()).sum::<u32>()))
            .collect();
        let total = rt.block_on(async {
            let handles: Vec<_> = (0..10)
                .map(|i| {
                    tokio::spawn(async move {
                        let (a, f, t) = tokio::join!(c_async(i), c_future(i), Client.fetch(i));
                        a.unwrap() + f.unwrap() + t.unwrap()
                    })
                })
                .collect();
            let mut total = 0;
            for h in handles {
                total += h.await.unwrap();
            }
            total
        });
        let sync_total: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(total, 3 * 45);
        assert_eq!(sync_total, 2 * 45);
        assert!(CTL.peak() <= 3, "peak {} over 3 slots", CTL.peak());
        let s = Ctl::POOL.stats();
        assert_eq!(s.completed, 50, "{s:?}");
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_eq!(s.submitted(), 54, "{s:?}");
    });
}

// ---- functions returning a future: built without a slot ---------------------

#[pooled::group(size = 1)]
/// Functions returning futures.
pub struct Builds;

static BUILT: AtomicUsize = AtomicUsize::new(0);
static RAN: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(group = Builds)]
fn b_impl(n: usize) -> impl Future<Output = usize> + Send {
    BUILT.fetch_add(1, Ordering::SeqCst);
    async move {
        RAN.fetch_add(1, Ordering::SeqCst);
        n
    }
}

#[pooled::pooled(group = Builds)]
fn b_pinned(n: usize) -> Pin<Box<dyn Future<Output = usize> + Send>> {
    BUILT.fetch_add(1, Ordering::SeqCst);
    Box::pin(async move {
        RAN.fetch_add(1, Ordering::SeqCst);
        n
    })
}

#[pooled::pooled(group = Builds)]
fn b_boxed(n: usize) -> BoxFuture<'static, usize> {
    BUILT.fetch_add(1, Ordering::SeqCst);
    async move {
        RAN.fetch_add(1, Ordering::SeqCst);
        n
    }
    .boxed()
}

/// README: "A sync function returning a future ... builds the future without
/// a slot and returns one that holds the slot until the built future
/// completes": with the group's only slot held, each of the three
/// spellings builds at once (its body runs) but its future waits, in the
/// queue, and runs only once the slot is free; a future that holds the slot
/// keeps the next one waiting.
#[test]
fn functions_returning_a_future_build_without_a_slot_and_run_holding_one() {
    within(BOUND, || {
        futures::executor::block_on(async {
            let permit = Builds::POOL.acquire_owned(0).await.unwrap();
            let mut a = Box::pin(b_impl(1));
            let mut p = b_pinned(2);
            let mut b = b_boxed(3);
            assert_eq!(BUILT.load(Ordering::SeqCst), 3, "built without a slot");
            assert!(a.as_mut().now_or_never().is_none());
            assert!(p.as_mut().now_or_never().is_none());
            assert!(b.as_mut().now_or_never().is_none());
            assert_eq!(
                RAN.load(Ordering::SeqCst),
                0,
                "no built future ran without a slot"
            );
            let s = Builds::POOL.stats();
            assert_eq!((s.running, s.waiting), (1, 3), "{s:?}");
            drop(permit);
            assert_eq!(a.await + p.await + b.await, 6);
            assert_eq!(RAN.load(Ordering::SeqCst), 3);
            let s = Builds::POOL.stats();
            assert_eq!((s.running, s.waiting, s.completed), (0, 0, 4), "{s:?}");
        });
    });
}

// ---- nested calls through the attribute ---------------------------------------

#[pooled::group(size = 1)]
/// Nested calls.
pub struct Nest;

static LEAF: Meter = Meter::new();

#[pooled::pooled(group = Nest)]
async fn leaf(n: usize) -> usize {
    let _in = LEAF.enter();
    tokio::task::yield_now().await;
    busy();
    n
}

#[pooled::pooled(group = Nest)]
async fn parent(n: usize) -> usize {
    let (a, b, c) = tokio::join!(leaf(n), leaf(n + 1), leaf(n + 2));
    a + b + c
}

#[pooled::pooled(group = Nest)]
fn sync_leaf(n: usize) -> usize {
    let _in = LEAF.enter();
    busy();
    n
}

#[pooled::pooled(group = Nest)]
fn sync_parent(n: usize) -> usize {
    sync_leaf(n) + sync_leaf(n + 1)
}

/// README, Reentrancy rule: a call into a pool from inside work that holds
/// one of its slots "may run under its parent's slot ... so nested calls
/// never deadlock a full pool", "only one nested call at a time uses a
/// parent's slot": through the attribute, a group of one slot runs joined
/// async leaves of an async parent and sync leaves of a sync parent (on its
/// thread), one leaf at a time, from several callers at once.
#[test]
fn nested_calls_through_the_attribute_run_one_at_a_time_under_the_parents_slot() {
    within(BOUND, || {
        let threads: Vec<_> = (0..2)
            .map(|_| std::thread::spawn(|| (0..5).map(sync_parent).sum::<usize>()))
            .collect();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let total = rt.block_on(async {
            let hs: Vec<_> = (0..6).map(|i| tokio::spawn(parent(i))).collect();
            let mut t = 0;
            for h in hs {
                t += h.await.unwrap();
            }
            t
        });
        let sync_total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(total, (0..6).map(|i| 3 * i + 3).sum::<usize>());
        assert_eq!(sync_total, 2 * (0..5).map(|i| 2 * i + 1).sum::<usize>());
        assert_eq!(LEAF.peak(), 1, "one leaf at a time over one slot");
        let s = Nest::POOL.stats();
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
        assert_eq!(s.completed, 6 + 6 * 3 + 10 + 10 * 2, "{s:?}");
    });
}

// ---- generic functions and methods: one pool for every instantiation -----------

static GENERIC: Meter = Meter::new();

#[pooled::pooled(size = 1)]
fn generic_sync<T: Copy + Into<u64>>(t: T) -> u64 {
    let _in = GENERIC.enter();
    busy();
    t.into()
}

static GET: Meter = Meter::new();
static BUMP: Meter = Meter::new();
static SHARED: Meter = Meter::new();

struct Wrapper<T>(T);

impl<T: Copy + Into<u64> + Send + Sync> Wrapper<T> {
    #[pooled::pooled(size = 1)]
    async fn get(&self) -> u64 {
        let _in = GET.enter();
        tokio::task::yield_now().await;
        busy();
        self.0.into()
    }

    #[pooled::pooled(size = 1)]
    async fn bump(&mut self, by: T) -> u64 {
        let _in = BUMP.enter();
        tokio::task::yield_now().await;
        busy();
        self.0 = by;
        self.0.into()
    }

    #[pooled::pooled(size = 1)]
    async fn shared(self: std::sync::Arc<Self>) -> u64 {
        let _in = SHARED.enter();
        tokio::task::yield_now().await;
        busy();
        self.0.into()
    }
}

/// `#[pooled]` docs, The handle: "A generic function, or a method of a
/// generic `impl`, has one pool for all its instantiations", and "every
/// receiver (`self`, `&self`, `&mut self`, `self: Arc<Self>`)" keeps working:
/// calls of several instantiations share one limit (counted from outside:
/// each of these pools has one slot) and one handle's stats.
#[test]
fn generic_functions_and_methods_have_one_pool_for_all_instantiations() {
    within(BOUND, || {
        let threads: Vec<_> = (0..3)
            .map(|t| {
                std::thread::spawn(move || {
                    (0..10u32)
                        .map(|i| {
                            if (i + t) % 2 == 0 {
                                generic_sync(i as u8)
                            } else {
                                generic_sync(i)
                            }
                        })
                        .sum::<u64>()
                })
            })
            .collect();
        let sync_total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(sync_total, 3 * 45);
        assert_eq!(
            GENERIC.peak(),
            1,
            "one slot across u8 and u32 instantiations"
        );
        assert_eq!(GENERIC_SYNC_POOL.stats().completed, 30);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let total = rt.block_on(async {
            let hs: Vec<_> = (0..8u32)
                .map(|i| {
                    tokio::spawn(async move {
                        let a = Wrapper(i as u8);
                        let mut b = Wrapper(i);
                        let c = std::sync::Arc::new(Wrapper(i as u16));
                        let a2 = Wrapper(i);
                        let (x, y) = tokio::join!(a.get(), a2.get());
                        let z = b.bump(i + 1).await;
                        let w = c.shared().await;
                        x + y + z + w
                    })
                })
                .collect();
            let mut t = 0;
            for h in hs {
                t += h.await.unwrap();
            }
            t
        });
        assert_eq!(total, (0..8u64).map(|i| 4 * i + 1).sum::<u64>());
        for (name, m) in [("get", &GET), ("bump", &BUMP), ("shared", &SHARED)] {
            assert_eq!(m.peak(), 1, "{name}: one pool serves u8, u16 and u32 alike");
        }
        assert_eq!(Wrapper::<u8>::GET_POOL.stats().completed, 16);
        assert_eq!(Wrapper::<u32>::GET_POOL.stats().completed, 16);
        assert_eq!(Wrapper::<u32>::BUMP_POOL.stats().completed, 8);
        assert_eq!(Wrapper::<u16>::SHARED_POOL.stats().completed, 8);
    });
}

// ---- never-rejecting forms through a pause and a close --------------------------

#[pooled::group(size = 1)]
/// Never-rejecting functions.
pub struct Patient;

static PATIENT: Meter = Meter::new();

#[pooled::pooled(group = Patient)]
fn p_future(n: u32) -> impl Future<Output = u32> + Send {
    async move {
        let _in = PATIENT.enter();
        tokio::task::yield_now().await;
        busy();
        n
    }
}

#[pooled::pooled(group = Patient)]
async fn p_async(n: u32) -> u32 {
    let _in = PATIENT.enter();
    tokio::task::yield_now().await;
    busy();
    n
}

#[pooled::pooled(group = Patient)]
fn p_sync(n: u32) -> u32 {
    let _in = PATIENT.enter();
    busy();
    n
}

/// `#[pooled]` docs, Rejections: a function whose return type carries no
/// error "waits until `resume()`" when paused, and "runs (a closed pool
/// still admits it, within its limit)" when closed; for a sync function
/// returning a future, "Rejections follow `T`, as for an `async fn`". Each
/// form waits through a pause (counted as waiting, its body not run), runs
/// once resumed, and runs on a closed pool, one at a time.
#[test]
fn never_rejecting_forms_wait_through_a_pause_and_run_on_a_closed_pool() {
    within(BOUND, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Patient::POOL.pause();
        let sync_caller = std::thread::spawn(|| p_sync(1));
        let a = rt.spawn(p_future(2));
        let b = rt.spawn(p_async(3));
        let start = std::time::Instant::now();
        while Patient::POOL.stats().waiting < 3 {
            assert!(start.elapsed() < BOUND, "{:?}", Patient::POOL.stats());
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(PATIENT.done(), 0, "no body ran while paused");
        assert_eq!(Patient::POOL.stats().waiting, 3);
        Patient::POOL.resume();
        assert_eq!(sync_caller.join().unwrap(), 1);
        assert_eq!(rt.block_on(a).unwrap(), 2);
        assert_eq!(rt.block_on(b).unwrap(), 3);
        Patient::POOL.pool().close();
        let sync_caller = std::thread::spawn(|| (0..5).map(p_sync).sum::<u32>());
        let total = rt.block_on(async {
            let (x, y) = tokio::join!(
                async {
                    let mut t = 0;
                    for i in 0..5 {
                        t += p_future(i).await;
                    }
                    t
                },
                async {
                    let mut t = 0;
                    for i in 0..5 {
                        t += p_async(i).await;
                    }
                    t
                }
            );
            x + y
        });
        assert_eq!(total, 20);
        assert_eq!(sync_caller.join().unwrap(), 10);
        assert_eq!(PATIENT.peak(), 1);
        let s = Patient::POOL.stats();
        assert_eq!(
            (s.completed, s.running, s.waiting, s.rejected_total()),
            (18, 0, 0, 0),
            "{s:?}"
        );
    });
}

// ---- blocking work's nested calls -------------------------------------------------

#[pooled::group(size = 1)]
/// Blocking work that calls its own group.
pub struct BNest;

static B_INNER: Meter = Meter::new();

#[pooled::pooled(group = BNest)]
fn b_inner(n: usize) -> usize {
    let _in = B_INNER.enter();
    busy();
    n
}

#[pooled::pooled(group = BNest, blocking)]
fn b_outer(n: usize) -> usize {
    b_inner(n) + b_inner(n + 1)
}

/// README, Reentrancy rule: a call "made on the thread of sync or blocking
/// work" is nested: a `blocking` function of a group of one slot that calls
/// a sync function of the same group runs it under its slot (no deadlock),
/// from several tasks at once, one body at a time (counted from outside).
#[test]
fn a_blocking_functions_calls_into_its_own_group_run_under_its_slot() {
    within(BOUND, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let total = rt.block_on(async {
            let hs: Vec<_> = (0..8).map(|i| tokio::spawn(b_outer(i))).collect();
            let mut t = 0;
            for h in hs {
                t += h.await.unwrap();
            }
            t
        });
        assert_eq!(total, (0..8).map(|i| 2 * i + 1).sum::<usize>());
        assert_eq!(B_INNER.peak(), 1);
        let s = BNest::POOL.stats();
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
        assert_eq!(s.completed, 8 + 16, "{s:?}");
    });
}

// ---- weights from parameters and expressions ---------------------------------------

#[pooled::group(order = "priority", size = 1)]
/// Weighted calls.
pub struct Ranked;

static RANKED: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
static WEIGHED: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(group = Ranked)]
async fn r_u64(#[weight] w: u64, tag: &'static str) {
    let _ = w;
    RANKED.lock().unwrap().push(tag);
}

#[pooled::pooled(group = Ranked)]
async fn r_i128(#[weight] w: i128, tag: &'static str) {
    let _ = w;
    RANKED.lock().unwrap().push(tag);
}

#[pooled::pooled(group = Ranked)]
fn r_u8(#[weight] w: u8, tag: &'static str) -> impl Future<Output = ()> + Send {
    let _ = w;
    async move { RANKED.lock().unwrap().push(tag) }
}

fn weigh(n: i64) -> i64 {
    WEIGHED.fetch_add(1, Ordering::SeqCst);
    n
}

#[pooled::pooled(group = Ranked, weight = weigh(i64::from(n)))]
async fn r_expr(n: i32, tag: &'static str) {
    RANKED.lock().unwrap().push(tag);
}

/// `#[pooled]` docs, Weights: `#[weight]` on an integer parameter, "values
/// beyond `i64` saturate" (so `u64::MAX` and 2^63 rank last, not wrapped to
/// negative, and `i128::MIN` first); `weight = <expression>` is "evaluated
/// before the call waits"; smaller first, arrival order among equals, and
/// the forms of one priority group rank against each other.
#[test]
fn weights_saturate_rank_across_forms_and_expressions_are_evaluated_before_the_wait() {
    within(BOUND, || {
        futures::executor::block_on(async {
            let permit = Ranked::POOL.acquire_owned(0).await.unwrap();
            let mut calls: Vec<Pin<Box<dyn Future<Output = ()> + Send>>> = vec![
                Box::pin(r_u64(u64::MAX, "u64::MAX")),
                Box::pin(r_u64(1 << 63, "2^63")),
                Box::pin(r_expr(7, "expr 7")),
                Box::pin(r_u8(0, "u8 0")),
                Box::pin(r_i128(i128::MIN, "i128::MIN")),
                Box::pin(r_expr(0, "expr 0")),
                Box::pin(r_u64(0, "u64 0")),
                Box::pin(r_i128(i128::MAX, "i128::MAX")),
            ];
            for c in &mut calls {
                assert!(c.as_mut().now_or_never().is_none());
            }
            assert_eq!(
                WEIGHED.load(Ordering::SeqCst),
                2,
                "evaluated before the wait"
            );
            assert_eq!(Ranked::POOL.stats().waiting, 8);
            drop(permit);
            futures::future::join_all(calls).await;
        });
        assert_eq!(
            *RANKED.lock().unwrap(),
            vec![
                "i128::MIN",
                "u8 0",
                "expr 0",
                "u64 0",
                "expr 7",
                "u64::MAX",
                "2^63",
                "i128::MAX"
            ]
        );
    });
}

// ---- the README's group forms and their handles ------------------------------------

#[pooled::group(kind = "autoscale", order = "priority", min = 2, max = 16)]
/// The README's shared autoscaled group.
pub struct Upstream;

#[pooled::pooled(group = Upstream, weight = 0)]
async fn charge(card: u32) -> Result<u32, AppError> {
    Ok(card)
}

static CHECKSUMS: Meter = Meter::new();

#[pooled::pooled(size = 4)]
fn checksum(data: &[u8]) -> u64 {
    let _in = CHECKSUMS.enter();
    data.iter().map(|&b| u64::from(b)).sum()
}

/// README: `Upstream::POOL.scale(2)` ("handles: scale, resize, pause,
/// resume, is_paused, size, stats"), "clamped to [min, max] ([0, MAX] for
/// fixed pools)": the autoscaled group starts at `min` and its handle clamps
/// to 2..=16; the own pool's handle `CHECKSUM_POOL` scales a fixed pool to 0,
/// which "holds its queue until scaled up": a sync call waits (counted as
/// waiting, its body not run) and runs once the handle scales it up.
#[test]
fn the_readmes_handles_clamp_and_a_fixed_pool_at_zero_holds_its_calls() {
    within(BOUND, || {
        assert_eq!(Upstream::POOL.size(), 2, "starts at min");
        assert_eq!(Upstream::POOL.scale(2), 4);
        assert_eq!(Upstream::POOL.scale(100), 16);
        assert_eq!(Upstream::POOL.scale(-100), 2);
        assert_eq!(Upstream::POOL.resize(7), 7);
        assert_eq!(Upstream::POOL.resize(0), 2);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(charge(5)), Ok(5));
        assert_eq!(Upstream::POOL.stats().completed, 1);

        assert_eq!(checksum(&[1, 2, 3]), 6);
        assert_eq!(CHECKSUM_POOL.size(), 4);
        assert_eq!(CHECKSUM_POOL.scale(-10), 0);
        let caller = std::thread::spawn(|| checksum(&[4, 5]));
        let start = std::time::Instant::now();
        while CHECKSUM_POOL.stats().waiting == 0 {
            assert!(start.elapsed() < BOUND);
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(CHECKSUMS.done(), 1, "held at 0 slots");
        assert_eq!(CHECKSUM_POOL.stats().waiting, 1);
        assert_eq!(CHECKSUM_POOL.scale(1), 1);
        assert_eq!(caller.join().unwrap(), 9);
        let s = CHECKSUM_POOL.stats();
        assert_eq!((s.completed, s.running, s.waiting), (2, 0, 0), "{s:?}");
    });
}
