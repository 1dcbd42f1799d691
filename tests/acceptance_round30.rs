//! Acceptance tests of the facade, round 30: every call form `#[pooled]`
//! supports (async, sync, sync returning a future in each spelling,
//! methods, `#[async_trait]` impls, a trait's default method, generic
//! functions, `Result`s and `From<Rejected>`, `wait`, `blocking`,
//! `overload =`, weights in a priority group, declared groups), each with
//! its limit counted from outside the library (a `Meter` around the body)
//! under many concurrent callers; the generated handles; lazy start and
//! link-time registration; configuration of attribute groups from the
//! environment, a file and `config::load_str` (environment cases in a child
//! process of their own). Each test's doc comment quotes the promise it
//! checks. Waits that must succeed are bounded only to turn a hang into a
//! failure.
#![cfg(not(miri))]

mod common;

use common::{within, Meter};
use futures::future::BoxFuture;
use pooled::{Group, Rejected};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A bound that only turns a hang into a failure.
const BOUND: Duration = Duration::from_secs(60);

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < BOUND, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A tokio runtime with one worker (for `block_in_place` hand-offs).
fn one_worker() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The error type of the `Result` functions below.
#[derive(Debug, PartialEq)]
enum AppErr {
    Busy(Rejected),
    Bad,
    Overloaded,
    Other,
}

impl From<Rejected> for AppErr {
    fn from(rejected: Rejected) -> Self {
        AppErr::Busy(rejected)
    }
}

fn is_overloaded(error: &AppErr) -> bool {
    matches!(error, AppErr::Overloaded)
}

fn never_overloaded(_: &AppErr) -> bool {
    false
}

// ---------------------------------------------------------------------------
// Limits counted from outside, one call form at a time.

static ASYNC_BODIES: Meter = Meter::new();

#[pooled::pooled(size = 3)]
async fn r30_async_limited(i: u32) -> u32 {
    let _inside = ASYNC_BODIES.enter();
    tokio::time::sleep(Duration::from_millis(15)).await;
    i
}

/// README, "The attribute": "Every call of an annotated function waits for a
/// slot of a lazily started global pool and runs while holding it;
/// signatures and callers do not change." 24 tasks on two workers call an
/// `async fn` of `size = 3`: never more than 3 bodies at once, and all 3
/// slots are used.
#[test]
fn an_async_fn_runs_at_most_size_bodies_at_once() {
    within(BOUND, || {
        let rt = common::multi_thread();
        let outputs: Vec<u32> = rt.block_on(async {
            let tasks: Vec<_> = (0..24)
                .map(|i| tokio::spawn(r30_async_limited(i)))
                .collect();
            let mut outs = Vec::new();
            for t in tasks {
                outs.push(t.await.unwrap());
            }
            outs
        });
        assert_eq!(outputs, (0..24).collect::<Vec<_>>());
        assert_eq!(ASYNC_BODIES.peak(), 3);
        assert_eq!(ASYNC_BODIES.done(), 24);
        let s = R30_ASYNC_LIMITED_POOL.stats();
        assert_eq!((s.completed, s.running, s.waiting), (24, 0, 0), "{s:?}");
    });
}

static SYNC_BODIES: Meter = Meter::new();

#[pooled::pooled(size = 2)]
fn r30_sync_limited(i: u32) -> u32 {
    let _inside = SYNC_BODIES.enter();
    std::thread::sleep(Duration::from_millis(4));
    i * 2
}

/// Attribute docs, "Sync, async and blocking functions": "A sync function
/// stays sync: the calling thread parks until admitted, then runs the body
/// inline." 8 plain threads, 5 calls each, on a pool of 2.
#[test]
fn a_sync_fn_parks_its_callers_and_runs_at_most_size_bodies() {
    within(BOUND, || {
        let threads: Vec<_> = (0..8)
            .map(|t| {
                std::thread::spawn(move || {
                    (0..5)
                        .map(|i| r30_sync_limited(t * 10 + i))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for (t, th) in threads.into_iter().enumerate() {
            let t = t as u32;
            assert_eq!(
                th.join().unwrap(),
                (0..5).map(|i| (t * 10 + i) * 2).collect::<Vec<_>>()
            );
        }
        assert_eq!(SYNC_BODIES.peak(), 2);
        assert_eq!(R30_SYNC_LIMITED_POOL.stats().completed, 40);
    });
}

static IMPL_BUILT: AtomicUsize = AtomicUsize::new(0);
static IMPL_BODIES: Meter = Meter::new();

#[pooled::pooled(size = 2)]
fn r30_impl_future(i: u32) -> impl Future<Output = u32> + Send {
    IMPL_BUILT.fetch_add(1, SeqCst);
    async move {
        let _inside = IMPL_BODIES.enter();
        tokio::time::sleep(Duration::from_millis(10)).await;
        i + 1
    }
}

/// Attribute docs, "Functions that return a future": "runs the body at once,
/// without a slot, to build the future; the function then returns a future
/// of its own ... that waits for admission and polls the built future while
/// holding the slot, so the slot is held until the built future completes."
/// 16 tasks, a pool of 2: the built futures' work is counted from outside.
#[test]
fn a_returned_impl_future_holds_the_slot_until_it_completes() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(async {
            let tasks: Vec<_> = (0..16).map(|i| tokio::spawn(r30_impl_future(i))).collect();
            for (i, t) in tasks.into_iter().enumerate() {
                assert_eq!(t.await.unwrap(), i as u32 + 1);
            }
        });
        assert_eq!(IMPL_BUILT.load(SeqCst), 16);
        assert_eq!(IMPL_BODIES.peak(), 2);
        assert_eq!(IMPL_BODIES.done(), 16);
    });
}

static LATER_BUILT: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(size = 1)]
fn r30_later(n: u32) -> impl Future<Output = u32> + Send {
    LATER_BUILT.fetch_add(1, SeqCst);
    async move { n * 3 }
}

/// Attribute docs: a sync function returning a future "runs the body at
/// once, without a slot, to build the future"; "Rejections follow `T`, as
/// for an `async fn`: ... any other `Output` waits" (and "waits until
/// `resume()`" when paused). On a paused pool the body runs at the call;
/// the returned future waits, then completes after `resume`.
#[test]
fn a_returned_future_is_built_at_once_and_waits_while_paused() {
    within(BOUND, || {
        let rt = common::multi_thread();
        R30_LATER_POOL.pause();
        let fut = r30_later(5);
        assert_eq!(
            LATER_BUILT.load(SeqCst),
            1,
            "built at the call, without a slot"
        );
        let task = rt.spawn(fut);
        wait_until("the call waits", || R30_LATER_POOL.stats().waiting == 1);
        std::thread::sleep(Duration::from_millis(100));
        assert!(!task.is_finished(), "a paused pool holds it");
        R30_LATER_POOL.resume();
        assert_eq!(rt.block_on(task).unwrap(), 15);
    });
}

#[pooled::group(size = 2)]
/// The group of the boxed-future functions.
pub struct R30Boxed;

static BOXED_BODIES: Meter = Meter::new();

#[pooled::pooled(group = R30Boxed)]
fn r30_pinned(i: u32) -> Pin<Box<dyn Future<Output = std::io::Result<u32>> + Send>> {
    Box::pin(async move {
        let _inside = BOXED_BODIES.enter();
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(i)
    })
}

#[pooled::pooled(group = R30Boxed)]
fn r30_boxfuture(i: u32) -> BoxFuture<'static, u32> {
    Box::pin(async move {
        let _inside = BOXED_BODIES.enter();
        tokio::time::sleep(Duration::from_millis(10)).await;
        i
    })
}

/// Attribute docs: `Pin<Box<dyn Future<Output = T> + ..>>` and
/// "`BoxFuture<'a, T>` and `LocalBoxFuture<'a, T>` of the `futures` crate"
/// are recognised; "the slot is held until the built future completes".
/// Both spellings in one declared group of 2, 20 callers: at most 2 bodies.
#[test]
fn pinned_boxed_and_box_futures_share_a_groups_limit() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(async {
            let mut a = Vec::new();
            let mut b = Vec::new();
            for i in 0..10 {
                a.push(tokio::spawn(r30_pinned(i)));
                b.push(tokio::spawn(r30_boxfuture(i)));
            }
            for (i, (x, y)) in a.into_iter().zip(b).enumerate() {
                assert_eq!(x.await.unwrap().unwrap(), i as u32);
                assert_eq!(y.await.unwrap(), i as u32);
            }
        });
        assert_eq!(BOXED_BODIES.peak(), 2);
        assert_eq!(R30Boxed::POOL.stats().completed, 20);
    });
}

/// Attribute docs: "an `Output` spelt `…Result<..>` gets
/// `Err(From::from(rejected))`"; README: "`io::Error` ... work as they
/// are". A paused group: the `io::Result` future resolves to an error that
/// carries `Rejected::Paused`.
#[test]
fn a_returned_io_result_future_is_rejected_through_io_error() {
    #[pooled::group(size = 1)]
    struct R30PausedBoxed;

    #[pooled::pooled(group = R30PausedBoxed)]
    fn fetch(i: u32) -> Pin<Box<dyn Future<Output = std::io::Result<u32>> + Send>> {
        Box::pin(async move { Ok(i) })
    }

    R30PausedBoxed::POOL.pause();
    let err = futures::executor::block_on(fetch(1)).unwrap_err();
    assert_eq!(
        err.get_ref().and_then(|e| e.downcast_ref::<Rejected>()),
        Some(&Rejected::Paused),
        "{err:?}"
    );
    R30PausedBoxed::POOL.resume();
    assert_eq!(futures::executor::block_on(fetch(2)).unwrap(), 2);
}

// ---------------------------------------------------------------------------
// Methods, trait impls, default methods, generics.

struct Svc {
    calls: AtomicUsize,
}

static METHOD_BODIES: Meter = Meter::new();

impl Svc {
    #[pooled::pooled(size = 2)]
    async fn get(&self, i: u32) -> u32 {
        let _inside = METHOD_BODIES.enter();
        self.calls.fetch_add(1, SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
        i
    }

    #[pooled::pooled(size = 1)]
    fn bump(&mut self) -> usize {
        *self.calls.get_mut() += 100;
        *self.calls.get_mut()
    }

    #[pooled::pooled(size = 2)]
    async fn owned(self: Arc<Self>) -> usize {
        Self::OWNED_POOL.stats().running
    }
}

/// Attribute docs, "The handle": "next to a method, an associated `const`
/// of the `impl`: `Client::FETCH_POOL`, or `Self::FETCH_POOL` inside it";
/// "every receiver (`self`, `&self`, `&mut self`, `self: Arc<Self>`)".
/// 12 concurrent `&self` calls on a pool of 2, then `&mut self` and
/// `self: Arc<Self>` calls, each through its own handle.
#[test]
fn methods_of_every_receiver_are_limited_through_their_associated_handles() {
    within(BOUND, || {
        let rt = common::multi_thread();
        let svc = Arc::new(Svc {
            calls: AtomicUsize::new(0),
        });
        let s2 = svc.clone();
        rt.block_on(async move {
            let futs = (0..12).map(|i| s2.get(i));
            let outs = futures::future::join_all(futs).await;
            assert_eq!(outs, (0..12).collect::<Vec<_>>());
        });
        assert_eq!(METHOD_BODIES.peak(), 2);
        assert_eq!(Svc::GET_POOL.stats().completed, 12);
        assert_eq!(Svc::GET_POOL.size(), 2);
        let mut own = Svc {
            calls: AtomicUsize::new(0),
        };
        assert_eq!(own.bump(), 100);
        assert_eq!(Svc::BUMP_POOL.stats().completed, 1);
        assert_eq!(
            rt.block_on(svc.clone().owned()),
            1,
            "its own call holds a slot"
        );
        assert!(Svc::OWNED_POOL.name().ends_with("::owned"));
    });
}

#[pooled::group(size = 2)]
/// The group of the trait methods.
pub struct R30Store;

static TRAIT_BODIES: Meter = Meter::new();

#[async_trait::async_trait]
trait Store {
    async fn load(&self, key: u32) -> Result<u32, AppErr>;
}

struct Db;

#[async_trait::async_trait]
impl Store for Db {
    #[pooled::pooled(group = R30Store)]
    async fn load(&self, key: u32) -> Result<u32, AppErr> {
        let _inside = TRAIT_BODIES.enter();
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(key)
    }
}

/// README: "`#[async_trait] impl Store for Db { #[pooled::pooled(group =
/// Upstream)] async fn load(..) }` — held until the boxed future
/// completes". 12 calls through `dyn Store` on a group of 2: at most 2
/// bodies (each awaiting a sleep), and a paused group rejects through the
/// method's `Result`.
#[test]
fn async_trait_methods_hold_the_groups_slot_until_the_boxed_future_completes() {
    within(BOUND, || {
        let rt = common::multi_thread();
        let db: Arc<dyn Store + Send + Sync> = Arc::new(Db);
        let d2 = db.clone();
        rt.block_on(async move {
            let outs = futures::future::join_all((0..12).map(|k| d2.load(k))).await;
            assert_eq!(outs, (0..12).map(Ok).collect::<Vec<_>>());
        });
        assert_eq!(TRAIT_BODIES.peak(), 2);
        assert_eq!(TRAIT_BODIES.done(), 12);
        R30Store::POOL.pause();
        assert_eq!(rt.block_on(db.load(1)), Err(AppErr::Busy(Rejected::Paused)));
        R30Store::POOL.resume();
    });
}

#[pooled::group(size = 2)]
/// The group of the trait's default method.
pub struct R30Defaults;

static DEFAULT_BODIES: Meter = Meter::new();

trait Pinger {
    fn id(&self) -> u32;

    #[pooled::pooled(group = R30Defaults)]
    async fn ping(&self) -> u32 {
        let _inside = DEFAULT_BODIES.enter();
        tokio::time::sleep(Duration::from_millis(10)).await;
        self.id()
    }
}

struct PingA;
struct PingB;

impl Pinger for PingA {
    fn id(&self) -> u32 {
        1
    }
}

impl Pinger for PingB {
    fn id(&self) -> u32 {
        2
    }
}

/// Attribute docs, "Groups, trait methods and associated functions": a
/// trait's default method "without `group`" is refused, so with `group` it
/// is admitted to the declared group: two implementors' calls share its
/// limit of 2.
#[test]
fn a_traits_default_method_with_a_group_is_limited_across_implementors() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(async {
            let a = futures::future::join_all((0..8).map(|_| PingA.ping()));
            let b = futures::future::join_all((0..8).map(|_| PingB.ping()));
            let (a, b) = tokio::join!(a, b);
            assert_eq!(a, vec![1; 8]);
            assert_eq!(b, vec![2; 8]);
        });
        assert_eq!(DEFAULT_BODIES.peak(), 2);
        assert_eq!(R30Defaults::POOL.stats().completed, 16);
    });
}

static GENERIC_BODIES: Meter = Meter::new();

#[pooled::pooled(size = 2)]
async fn r30_generic<T: std::fmt::Display + Send>(value: T) -> String {
    let _inside = GENERIC_BODIES.enter();
    tokio::time::sleep(Duration::from_millis(10)).await;
    value.to_string()
}

/// Attribute docs, "The handle": "A generic function, or a method of a
/// generic `impl`, has one pool for all its instantiations." Calls with a
/// `u32` and with a `&str` at once share the limit of 2.
#[test]
fn a_generic_fn_has_one_pool_for_every_instantiation() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(async {
            let nums = futures::future::join_all((0..8u32).map(r30_generic));
            let words = futures::future::join_all((0..8).map(|_| r30_generic("w")));
            let (nums, words) = tokio::join!(nums, words);
            assert_eq!(nums[7], "7");
            assert_eq!(words[0], "w");
        });
        assert_eq!(GENERIC_BODIES.peak(), 2);
        assert_eq!(R30_GENERIC_POOL.stats().completed, 16);
    });
}

// ---------------------------------------------------------------------------
// Rejections.

#[pooled::pooled(size = 1, admission_timeout = "300ms")]
fn r30_timed_sync() -> Result<u32, AppErr> {
    Ok(1)
}

#[pooled::pooled(size = 1, admission_timeout = "300ms")]
async fn r30_timed_async() -> Result<u32, AppErr> {
    Ok(2)
}

/// Attribute docs, "Rejections": a function returning `…Result<..>` gets
/// `Err(From::from(Rejected::TimedOut))` when "the call waited past
/// `admission_timeout`". A slot held by a permit: a sync and an async call
/// each wait about 300 ms, then are turned away.
#[test]
fn a_result_fn_past_its_admission_timeout_returns_timed_out() {
    within(BOUND, || {
        let held_sync = R30_TIMED_SYNC_POOL.try_acquire_owned(0).unwrap();
        let held_async = R30_TIMED_ASYNC_POOL.try_acquire_owned(0).unwrap();
        let start = Instant::now();
        assert_eq!(r30_timed_sync(), Err(AppErr::Busy(Rejected::TimedOut)));
        assert!(start.elapsed() >= Duration::from_millis(250));
        let rt = common::multi_thread();
        let start = Instant::now();
        assert_eq!(
            rt.block_on(r30_timed_async()),
            Err(AppErr::Busy(Rejected::TimedOut))
        );
        assert!(start.elapsed() >= Duration::from_millis(250));
        drop((held_sync, held_async));
        assert_eq!(r30_timed_sync(), Ok(1));
        assert_eq!(rt.block_on(r30_timed_async()), Ok(2));
        assert_eq!(
            R30_TIMED_SYNC_POOL.stats().rejected_for(Rejected::TimedOut),
            1
        );
    });
}

#[pooled::pooled(size = 1, max_waiting = 0)]
async fn r30_full() -> Result<u32, AppErr> {
    Ok(3)
}

/// Attribute docs, keys: "`max_waiting` ... past this many waiting calls, a
/// call is rejected (`Full`)". With the only slot held and a bound of 0, a
/// call is turned away at once; `Closed` once the pool is closed.
#[test]
fn a_result_fn_is_rejected_full_and_closed() {
    within(BOUND, || {
        let held = R30_FULL_POOL.try_acquire_owned(0).unwrap();
        assert_eq!(
            futures::executor::block_on(r30_full()),
            Err(AppErr::Busy(Rejected::Full))
        );
        drop(held);
        assert_eq!(futures::executor::block_on(r30_full()), Ok(3));
        R30_FULL_POOL.pool().close();
        assert_eq!(
            futures::executor::block_on(r30_full()),
            Err(AppErr::Busy(Rejected::Closed))
        );
        let s = R30_FULL_POOL.stats();
        assert_eq!(
            (
                s.rejected_for(Rejected::Full),
                s.rejected_for(Rejected::Closed)
            ),
            (1, 1)
        );
    });
}

#[pooled::pooled(size = 1)]
fn r30_boxed_error(n: u32) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    Ok(n)
}

#[pooled::pooled(size = 1)]
async fn r30_rejected_itself(n: u32) -> Result<u32, Rejected> {
    Ok(n)
}

/// Attribute docs: "`io::Error`, `Box<dyn Error + ..>`, `anyhow::Error` and
/// `Rejected` itself do" implement `From<Rejected>`. Paused pools turn calls
/// away through a boxed error (downcast back to `Rejected::Paused`) and
/// through `Rejected` itself.
#[test]
fn boxed_errors_and_rejected_itself_carry_the_rejection() {
    R30_BOXED_ERROR_POOL.pause();
    R30_REJECTED_ITSELF_POOL.pause();
    let err = r30_boxed_error(1).unwrap_err();
    assert_eq!(err.downcast_ref::<Rejected>(), Some(&Rejected::Paused));
    assert_eq!(
        futures::executor::block_on(r30_rejected_itself(2)),
        Err(Rejected::Paused)
    );
    R30_BOXED_ERROR_POOL.resume();
    R30_REJECTED_ITSELF_POOL.resume();
    assert_eq!(r30_boxed_error(1).unwrap(), 1);
    assert_eq!(futures::executor::block_on(r30_rejected_itself(2)), Ok(2));
}

#[pooled::pooled(size = 1)]
async fn r30_waits_when_paused(n: u32) -> u32 {
    n + 10
}

/// Attribute docs, "Rejections", second row: a function that "returns
/// anything else" "waits until `resume()`" when paused.
#[test]
fn a_non_result_async_fn_waits_while_paused_until_resume() {
    within(BOUND, || {
        let rt = common::multi_thread();
        R30_WAITS_WHEN_PAUSED_POOL.pause();
        let task = rt.spawn(r30_waits_when_paused(1));
        wait_until("the call waits", || {
            R30_WAITS_WHEN_PAUSED_POOL.stats().waiting == 1
        });
        std::thread::sleep(Duration::from_millis(100));
        assert!(!task.is_finished());
        assert_eq!(R30_WAITS_WHEN_PAUSED_POOL.stats().rejected_total(), 0);
        R30_WAITS_WHEN_PAUSED_POOL.resume();
        assert_eq!(rt.block_on(task).unwrap(), 11);
    });
}

static CLOSED_BODIES: Meter = Meter::new();

#[pooled::pooled(size = 2)]
fn r30_runs_when_closed() -> u32 {
    let _inside = CLOSED_BODIES.enter();
    std::thread::sleep(Duration::from_millis(5));
    7
}

/// Attribute docs, "Rejections": on `Closed`, a function without an error
/// "runs (a closed pool still admits it, within its limit)". 6 threads call
/// a closed pool of 2: every call runs, at most 2 at once.
#[test]
fn a_non_result_sync_fn_runs_on_a_closed_pool_within_its_limit() {
    within(BOUND, || {
        R30_RUNS_WHEN_CLOSED_POOL.pool().close();
        let threads: Vec<_> = (0..6)
            .map(|_| std::thread::spawn(|| (0..3).map(|_| r30_runs_when_closed()).sum::<u32>()))
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 21);
        }
        assert_eq!(CLOSED_BODIES.done(), 18);
        assert_eq!(CLOSED_BODIES.peak(), 2);
        assert!(R30_RUNS_WHEN_CLOSED_POOL.stats().closed);
    });
}

#[pooled::pooled(size = 1, wait)]
async fn r30_wait_flag() -> Result<u32, AppErr> {
    Ok(4)
}

/// Attribute docs, keys: "`wait` | flag | never reject, even when the
/// function returns a `Result`". Paused: the call waits, then returns `Ok`.
#[test]
fn the_wait_flag_makes_a_result_fn_wait_while_paused() {
    within(BOUND, || {
        let rt = common::multi_thread();
        R30_WAIT_FLAG_POOL.pause();
        let task = rt.spawn(r30_wait_flag());
        wait_until("the call waits", || R30_WAIT_FLAG_POOL.stats().waiting == 1);
        std::thread::sleep(Duration::from_millis(80));
        assert!(!task.is_finished());
        R30_WAIT_FLAG_POOL.resume();
        assert_eq!(rt.block_on(task).unwrap(), Ok(4));
    });
}

#[pooled::group(size = 1, max_waiting = 0, admission_timeout = "200ms")]
/// A bounded group.
pub struct R30Bounded;

#[pooled::pooled(group = R30Bounded)]
fn r30_bounded_plain() -> u32 {
    5
}

#[pooled::pooled(group = R30Bounded)]
fn r30_bounded_result() -> Result<u32, AppErr> {
    Ok(6)
}

/// Attribute docs, "Rejections": for a function without an error, `Full`:
/// "waits (no bound)", `TimedOut`: "waits (no timeout)". In a group declared
/// `max_waiting = 0, admission_timeout = "200ms"`, with its slot held for
/// 500 ms, the plain function waits past the timeout and runs; the
/// `Result` one is turned away `Full`.
#[test]
fn a_non_result_fn_ignores_its_groups_waiting_bound_and_timeout() {
    within(BOUND, || {
        let held = R30Bounded::POOL.try_acquire_owned(0).unwrap();
        assert_eq!(r30_bounded_result(), Err(AppErr::Busy(Rejected::Full)));
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            drop(held);
        });
        let start = Instant::now();
        assert_eq!(r30_bounded_plain(), 5);
        assert!(start.elapsed() >= Duration::from_millis(400));
        release.join().unwrap();
        assert_eq!(r30_bounded_result(), Ok(6));
    });
}

// ---------------------------------------------------------------------------
// Blocking.

static BLOCKING_BODIES: Meter = Meter::new();

#[pooled::pooled(blocking, size = 2)]
fn r30_blocking(n: u64, caller: std::thread::ThreadId) -> bool {
    let _inside = BLOCKING_BODIES.enter();
    std::thread::sleep(Duration::from_millis(10));
    let _ = n;
    std::thread::current().id() != caller
}

/// Attribute docs: "`blocking` (sync functions only) runs the body on the
/// blocking executor (tokio's `spawn_blocking` by default) and makes the
/// function `async`". From a current-thread runtime, 12 calls at once: every
/// body runs off the caller's thread, at most 2 at once.
#[test]
fn a_blocking_fn_runs_off_the_callers_thread_within_its_limit() {
    within(BOUND, || {
        let rt = current_thread();
        let me = std::thread::current().id();
        let outs = rt.block_on(futures::future::join_all(
            (0..12).map(|n| r30_blocking(n, me)),
        ));
        assert!(outs.iter().all(|&off| off), "{outs:?}");
        assert_eq!(BLOCKING_BODIES.peak(), 2);
        assert_eq!(BLOCKING_BODIES.done(), 12);
    });
}

static ABANDONED_BODIES: Meter = Meter::new();

#[pooled::pooled(blocking, size = 2)]
fn r30_blocking_abandoned() {
    let _inside = ABANDONED_BODIES.enter();
    std::thread::sleep(Duration::from_millis(60));
}

/// README, "How it works": "Blocking closures carry their slot to the
/// executor thread and release it there, so abandoning the wait never lets
/// more closures run than the limit." Calls of a `blocking` function whose
/// callers give up after 5 ms, then more calls: never more than 2 bodies.
#[test]
fn abandoned_blocking_calls_keep_their_slots_until_their_bodies_end() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(async {
            for _ in 0..6 {
                let _ =
                    tokio::time::timeout(Duration::from_millis(5), r30_blocking_abandoned()).await;
            }
            futures::future::join_all((0..6).map(|_| r30_blocking_abandoned())).await;
        });
        wait_until("every body ends", || ABANDONED_BODIES.now() == 0);
        assert!(
            ABANDONED_BODIES.peak() <= 2,
            "peak {}",
            ABANDONED_BODIES.peak()
        );
    });
}

#[pooled::pooled(blocking, size = 1)]
fn r30_blocking_result(n: u32) -> std::io::Result<u32> {
    Ok(n)
}

/// Attribute docs, "Rejections": "What the caller sees depends only on the
/// declared return type" — a `blocking` function returning `io::Result` is
/// turned away through it when paused (`io::ErrorKind::Other` holding the
/// rejection).
#[test]
fn a_blocking_result_fn_is_rejected_through_its_result() {
    let rt = current_thread();
    R30_BLOCKING_RESULT_POOL.pause();
    let err = rt.block_on(r30_blocking_result(1)).unwrap_err();
    assert_eq!(
        err.get_ref().and_then(|e| e.downcast_ref::<Rejected>()),
        Some(&Rejected::Paused)
    );
    R30_BLOCKING_RESULT_POOL.resume();
    assert_eq!(rt.block_on(r30_blocking_result(9)).unwrap(), 9);
}

// ---------------------------------------------------------------------------
// Sync functions on async threads.

#[pooled::pooled(size = 1)]
fn r30_sync_on_current_thread() -> u32 {
    8
}

/// Attribute docs: "on a current-thread runtime ... a call that has to wait
/// there panics with a message naming these fixes instead of hanging"
/// (README: "make the function `async`, call it through `spawn_blocking`,
/// or use the multi-thread runtime"); "A call that finds a free slot never
/// waits, so it works anywhere."
#[test]
fn a_sync_fn_that_must_wait_on_a_current_thread_runtime_panics_naming_the_fix() {
    within(BOUND, || {
        let rt = current_thread();
        assert_eq!(rt.block_on(async { r30_sync_on_current_thread() }), 8);
        let held = R30_SYNC_ON_CURRENT_THREAD_POOL
            .try_acquire_owned(0)
            .unwrap();
        let out = rt.block_on(async { std::panic::catch_unwind(r30_sync_on_current_thread) });
        drop(held);
        let payload = out.expect_err("a wait on a current-thread runtime panics");
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        assert!(
            msg.contains("async") && msg.contains("spawn_blocking"),
            "{msg}"
        );
        let s = R30_SYNC_ON_CURRENT_THREAD_POOL.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_eq!(r30_sync_on_current_thread(), 8);
    });
}

#[pooled::pooled(size = 1)]
fn r30_sync_on_worker() -> u32 {
    9
}

/// README: "A sync call ... that must wait on a multi-thread tokio worker
/// hands the worker's other tasks to another thread first
/// (`block_in_place`), so it neither stalls them nor deadlocks on a slot one
/// of them holds." A runtime with ONE worker: a task holds the slot and
/// frees it after a tokio sleep; another task of that runtime makes the sync
/// call, which waits, and completes.
#[test]
fn a_sync_fn_waiting_on_the_only_worker_lets_the_holder_run() {
    within(BOUND, || {
        let rt = one_worker();
        let out = rt.block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let holder = tokio::spawn(async move {
                let permit = R30_SYNC_ON_WORKER_POOL.acquire_owned(0).await.unwrap();
                tx.send(()).unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await;
                drop(permit);
            });
            rx.await.unwrap();
            let caller = tokio::spawn(async { r30_sync_on_worker() });
            let out = caller.await.unwrap();
            holder.await.unwrap();
            out
        });
        assert_eq!(out, 9);
    });
}

// ---------------------------------------------------------------------------
// Overload and the adaptive policy.

static ADAPTIVE_BODIES: Meter = Meter::new();

#[pooled::pooled(
    kind = "autoscale",
    policy = "adaptive",
    min = 1,
    max = 64,
    size = 32,
    overload = is_overloaded
)]
async fn r30_overloaded() -> Result<u32, AppErr> {
    let _inside = ADAPTIVE_BODIES.enter();
    tokio::time::sleep(Duration::from_millis(3)).await;
    Err(AppErr::Overloaded)
}

/// Attribute docs, "Autoscale policies and overload": "an `Err` the function
/// accepts is an overload"; the adaptive policy, "once more than 2% of the
/// calls (and at least two) were overloaded, cuts it to the concurrency the
/// server has lately served, at most to 50%". Every call of a pool that
/// starts at 32 is overloaded: its limit falls below 32 and stays within
/// `[min, max]`, and bodies never exceed the limit it started with.
#[test]
fn overload_verdicts_cut_an_adaptive_pools_limit() {
    within(BOUND, || {
        let rt = common::multi_thread();
        assert_eq!(R30_OVERLOADED_POOL.size(), 32);
        rt.block_on(async {
            let start = Instant::now();
            while R30_OVERLOADED_POOL.size() >= 32 && start.elapsed() < Duration::from_secs(20) {
                let outs = futures::future::join_all((0..64).map(|_| r30_overloaded())).await;
                assert!(outs.iter().all(|o| *o == Err(AppErr::Overloaded)));
            }
        });
        let size = R30_OVERLOADED_POOL.size();
        assert!((1..32).contains(&size), "limit not cut: {size}");
        assert!(ADAPTIVE_BODIES.peak() <= 64, "{}", ADAPTIVE_BODIES.peak());
    });
}

#[pooled::pooled(
    kind = "autoscale",
    policy = "adaptive",
    min = 1,
    max = 64,
    size = 32,
    overload = never_overloaded
)]
async fn r30_failing_unrelated() -> Result<u32, AppErr> {
    tokio::time::sleep(Duration::from_millis(3)).await;
    Err(AppErr::Other)
}

/// Attribute docs: "any other `Err` is ignored, since an unrelated failure
/// says nothing about the server". The same load as above, every call
/// failing with an error the predicate does not accept: no cut.
#[test]
fn errors_the_predicate_rejects_do_not_cut_the_limit() {
    within(BOUND, || {
        let rt = common::multi_thread();
        assert_eq!(R30_FAILING_UNRELATED_POOL.size(), 32);
        rt.block_on(async {
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(1500) {
                futures::future::join_all((0..64).map(|_| r30_failing_unrelated())).await;
            }
        });
        let size = R30_FAILING_UNRELATED_POOL.size();
        assert!(size >= 32, "cut by ignored errors: {size}");
    });
}

#[pooled::group(size = 4)]
/// A fixed group whose functions judge their calls.
pub struct R30FixedJudged;

static JUDGED_BODIES: Meter = Meter::new();

#[pooled::pooled(group = R30FixedJudged, overload = is_overloaded)]
async fn r30_judged_on_fixed() -> Result<u32, AppErr> {
    let _inside = JUDGED_BODIES.enter();
    tokio::time::sleep(Duration::from_millis(2)).await;
    Err(AppErr::Overloaded)
}

/// Attribute docs: "Next to `group`, the declaration owns the policy ... so
/// `overload` is accepted there and a group that is not adaptive ignores the
/// verdicts." A fixed group of 4 whose every call is an overload keeps its 4
/// slots, and its bodies stay within them.
#[test]
fn a_fixed_group_ignores_overload_verdicts() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(async {
            for _ in 0..10 {
                futures::future::join_all((0..32).map(|_| r30_judged_on_fixed())).await;
            }
        });
        assert_eq!(R30FixedJudged::POOL.size(), 4);
        assert_eq!(JUDGED_BODIES.peak(), 4);
        assert_eq!(R30FixedJudged::POOL.stats().completed, 320);
    });
}

// ---------------------------------------------------------------------------
// Weights in a priority group.

#[pooled::group(order = "priority", size = 1)]
/// The ranked group.
pub struct R30Ranked;

static RANKED: Mutex<Vec<String>> = Mutex::new(Vec::new());
static WEIGHT_EVALS: AtomicUsize = AtomicUsize::new(0);

fn counted(w: i64) -> i64 {
    WEIGHT_EVALS.fetch_add(1, SeqCst);
    w
}

#[pooled::pooled(group = R30Ranked, weight = 0)]
async fn r30_urgent(label: &'static str) {
    RANKED.lock().unwrap().push(label.to_owned());
}

#[pooled::pooled(group = R30Ranked, weight = 10)]
fn r30_batch(label: &'static str) {
    RANKED.lock().unwrap().push(label.to_owned());
}

#[pooled::pooled(group = R30Ranked)]
async fn r30_by_param(#[weight] _w: i64, label: &'static str) {
    RANKED.lock().unwrap().push(label.to_owned());
}

#[pooled::pooled(group = R30Ranked, weight = counted(i64::from(n)))]
async fn r30_by_expr(n: u8, label: &'static str) {
    RANKED.lock().unwrap().push(label.to_owned());
}

#[pooled::pooled(group = R30Ranked)]
async fn r30_wide(#[weight] _w: u128, label: &'static str) {
    RANKED.lock().unwrap().push(label.to_owned());
}

#[pooled::pooled(group = R30Ranked)]
async fn r30_signed_wide(#[weight] _w: i128, label: &'static str) {
    RANKED.lock().unwrap().push(label.to_owned());
}

/// Serialises the two tests of the ranked group.
static RANKED_TURN: Mutex<()> = Mutex::new(());

/// README: "`#[pooled::pooled(group = Upstream, weight = 0)]` // urgent calls
/// rank first ... `weight = 10` // batch work behind them"; attribute docs,
/// "Weights": "smaller first, arrival order among equal weights", from a
/// constant, a `#[weight]` parameter or "`weight = <expression>`: any `i64`
/// expression over the arguments, evaluated before the call waits". Async
/// and sync callers queue behind a held slot; they run by weight.
#[test]
fn calls_of_a_priority_group_run_by_weight_in_every_form() {
    let _turn = RANKED_TURN.lock().unwrap_or_else(|e| e.into_inner());
    within(BOUND, || {
        RANKED.lock().unwrap().clear();
        let rt = common::multi_thread();
        let held = R30Ranked::POOL.try_acquire_owned(0).unwrap();
        let queued =
            |n: usize| wait_until("the call queues", || R30Ranked::POOL.stats().waiting == n);
        let mut tasks = Vec::new();
        let batch = std::thread::spawn(|| r30_batch("batch10"));
        queued(1);
        tasks.push(rt.spawn(r30_by_param(5, "param5")));
        queued(2);
        tasks.push(rt.spawn(r30_by_expr(3, "expr3")));
        queued(3);
        assert_eq!(WEIGHT_EVALS.load(SeqCst), 1, "evaluated before it waits");
        tasks.push(rt.spawn(r30_urgent("urgent0a")));
        queued(4);
        tasks.push(rt.spawn(r30_by_param(-1, "param-1")));
        queued(5);
        tasks.push(rt.spawn(r30_urgent("urgent0b")));
        queued(6);
        drop(held);
        rt.block_on(async {
            for t in tasks {
                t.await.unwrap();
            }
        });
        batch.join().unwrap();
        assert_eq!(
            *RANKED.lock().unwrap(),
            ["param-1", "urgent0a", "urgent0b", "expr3", "param5", "batch10"]
        );
    });
}

/// Attribute docs, "Weights": "`#[weight]` on a parameter of an integer type
/// (`i8` … `i128`, `u8` … `u128`, ...); values beyond `i64` saturate".
/// `u128::MAX` ranks as `i64::MAX` (after 0, before a later `i64::MAX` by
/// arrival), `i128::MIN` as `i64::MIN` (before -1).
#[test]
fn weight_parameters_beyond_i64_saturate() {
    let _turn = RANKED_TURN.lock().unwrap_or_else(|e| e.into_inner());
    within(BOUND, || {
        RANKED.lock().unwrap().clear();
        let rt = common::multi_thread();
        let held = R30Ranked::POOL.try_acquire_owned(0).unwrap();
        let queued =
            |n: usize| wait_until("the call queues", || R30Ranked::POOL.stats().waiting == n);
        let mut tasks = Vec::new();
        tasks.push(rt.spawn(r30_wide(u128::MAX, "umax")));
        queued(1);
        tasks.push(rt.spawn(r30_by_param(0, "zero")));
        queued(2);
        tasks.push(rt.spawn(r30_signed_wide(i128::MIN, "imin")));
        queued(3);
        tasks.push(rt.spawn(r30_by_param(-1, "neg")));
        queued(4);
        tasks.push(rt.spawn(r30_by_param(i64::MAX, "imax")));
        queued(5);
        tasks.push(rt.spawn(r30_signed_wide(i128::MAX, "i128max")));
        queued(6);
        drop(held);
        rt.block_on(async {
            for t in tasks {
                t.await.unwrap();
            }
        });
        assert_eq!(
            *RANKED.lock().unwrap(),
            ["imin", "neg", "zero", "umax", "imax", "i128max"]
        );
    });
}

// ---------------------------------------------------------------------------
// Handles, names, lazy start, registration.

#[pooled::pooled(size = 2)]
fn r30_handles() -> u32 {
    1
}

#[pooled::pooled(kind = "autoscale", min = 2, max = 6)]
async fn r30_autoscale_handles() -> u32 {
    2
}

/// Attribute docs, "The handle": "The handle offers `scale(delta)`,
/// `resize(n)`, `pause()`, `resume()`, `is_paused()`, `size()`, `stats()`,
/// `name()` and `spec()`"; README: "`scale(4)` // 4 more slots (a delta;
/// resize(n) sets it), clamped to [min, max] ([0, MAX] for fixed pools)".
#[test]
fn generated_handles_scale_resize_pause_and_report() {
    let h: &'static Group = R30_HANDLES_POOL;
    assert_eq!(h.size(), 2);
    assert_eq!(h.scale(3), 5);
    assert_eq!(h.resize(4), 4);
    assert_eq!(h.scale(-100), 0, "a fixed pool clamps at 0");
    assert_eq!(h.resize(2), 2);
    h.pause();
    assert!(h.is_paused());
    assert!(h.stats().paused);
    h.resume();
    assert!(!h.is_paused());
    assert_eq!(r30_handles(), 1);
    assert_eq!(h.stats().completed, 1);
    assert_eq!(h.name(), concat!(module_path!(), "::r30_handles"));
    assert_eq!(h.spec().settings().size, Some(2));

    let a = R30_AUTOSCALE_HANDLES_POOL;
    assert_eq!(a.size(), 2, "an autoscale pool starts at min");
    assert_eq!(a.scale(100), 6, "clamped to max");
    assert_eq!(a.scale(-100), 2, "clamped to min");
    assert_eq!(a.resize(100), 6);
    assert_eq!(a.resize(0), 2);
    assert_eq!(futures::executor::block_on(r30_autoscale_handles()), 2);
}

#[pooled::pooled(size = 2, name = "r30.never-called")]
fn r30_never_called() -> u32 {
    0
}

/// README, "Configuration": "Every group in the binary is known, even one
/// never called: `#[pooled]` registers groups at link time (`linkme`), and
/// `pooled::groups()` lists them with settings and stats"; `GroupInfo`:
/// "`stats`: `None` until the group has started"; `groups`: "Listing does
/// not start any group"; attribute docs: "its pool starts on first use".
#[test]
fn a_never_called_group_is_registered_listed_and_not_started() {
    assert!(pooled::registered_groups().any(|g| g.name() == "r30.never-called"));
    let info = pooled::groups()
        .into_iter()
        .find(|g| g.name == "r30.never-called")
        .expect("listed");
    assert!(info.stats.is_none());
    assert_eq!(info.settings.size, Some(2));
    assert!(!R30_NEVER_CALLED_POOL.is_started());
    assert_eq!(R30_NEVER_CALLED_POOL.settings().size, Some(2));
    assert!(
        !R30_NEVER_CALLED_POOL.is_started(),
        "settings() starts nothing"
    );
    let _never: fn() -> u32 = r30_never_called;
}

#[pooled::pooled(size = 2)]
async fn r30_lazy() -> u32 {
    3
}

/// Attribute docs: "The pool is global and starts on first use."
#[test]
fn an_attribute_pool_starts_at_its_first_call() {
    assert!(!R30_LAZY_POOL.is_started());
    assert_eq!(futures::executor::block_on(r30_lazy()), 3);
    assert!(R30_LAZY_POOL.is_started());
    let info = pooled::groups()
        .into_iter()
        .find(|g| g.name == R30_LAZY_POOL.name())
        .unwrap();
    assert_eq!(info.stats.map(|s| s.completed), Some(1));
}

mod inner {
    #[pooled::group(size = 3)]
    /// A public marker in a module.
    pub struct R30Marker;

    #[pooled::pooled(size = 1)]
    /// A public function in a module.
    pub async fn r30_in_module() -> u32 {
        4
    }

    pub struct Typed;

    impl Typed {
        #[pooled::pooled(size = 1)]
        pub fn r30_method_name(&self) -> u32 {
            5
        }
    }
}

/// Attribute docs, "The handle": "next to a free function `fetch`, a `const
/// FETCH_POOL` in the same module, with the function's visibility"; "The
/// group's name is `concat!(module_path!(), "::", "fetch")`; a method's name
/// does not include its type"; `#[pooled::group]`: "gains an associated
/// `POOL: &'static Group` ... with the struct's visibility", name
/// "`concat!(module_path!(), "::", "Payments")`".
#[test]
fn handles_follow_visibility_and_names_follow_module_paths() {
    let m = module_path!();
    assert_eq!(
        inner::R30_IN_MODULE_POOL.name(),
        format!("{m}::inner::r30_in_module")
    );
    assert_eq!(
        inner::R30Marker::POOL.name(),
        format!("{m}::inner::R30Marker")
    );
    assert_eq!(inner::R30Marker::POOL.size(), 3);
    assert_eq!(
        inner::Typed::R30_METHOD_NAME_POOL.name(),
        format!("{m}::inner::r30_method_name")
    );
    assert_eq!(futures::executor::block_on(inner::r30_in_module()), 4);
    assert_eq!(inner::Typed.r30_method_name(), 5);
}

/// README: "#[pooled::group(kind = "autoscale", order = "priority", min = 2,
/// max = 16)] pub struct Upstream; ... `Upstream::POOL.scale(2);`" and the
/// group docs: "one handle for the whole group". The declared settings, the
/// start at `min`, and a scale of 2.
#[test]
fn the_readme_upstream_group_scales_by_its_handle() {
    #[pooled::group(kind = "autoscale", order = "priority", min = 2, max = 16)]
    struct R30Upstream;

    #[pooled::pooled(group = R30Upstream, weight = 0)]
    async fn charge(card: u32) -> Result<u32, AppErr> {
        Ok(card)
    }

    #[pooled::pooled(group = R30Upstream, weight = 10)]
    async fn sync_ledger(day: u32) -> Result<u32, AppErr> {
        Ok(day)
    }

    let s = R30Upstream::POOL.spec().settings();
    assert_eq!((s.min, s.max), (Some(2), Some(16)));
    assert_eq!(s.order, pooled::Order::Priority);
    assert_eq!(R30Upstream::POOL.size(), 2);
    assert_eq!(R30Upstream::POOL.scale(2), 4);
    assert_eq!(futures::executor::block_on(charge(1)), Ok(1));
    assert_eq!(futures::executor::block_on(sync_ledger(2)), Ok(2));
    assert_eq!(R30Upstream::POOL.stats().completed, 2);
}

// ---------------------------------------------------------------------------
// Bodies, arguments, nesting, panics, cancellation, accounting.

/// Records the running count of its pool when it is dropped.
struct Probe(&'static Group, &'static AtomicUsize);

impl Drop for Probe {
    fn drop(&mut self) {
        self.1.store(self.0.stats().running + 100, SeqCst);
    }
}

static ASYNC_ARG_DROP: AtomicUsize = AtomicUsize::new(0);
static SYNC_ARG_DROP: AtomicUsize = AtomicUsize::new(0);
static BLOCKING_ARG_DROP: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(size = 2)]
async fn r30_unused_async(_probe: Probe) -> u32 {
    1
}

#[pooled::pooled(size = 2)]
fn r30_unused_sync(_probe: Probe) -> u32 {
    2
}

#[pooled::pooled(blocking, size = 2)]
fn r30_unused_blocking(_probe: Probe) -> u32 {
    3
}

/// Attribute docs, "What the attribute expands to": "every parameter bound
/// to a name (`self` too) goes into the call whole, used or not, and is
/// dropped there when the body ends, holding the slot". An unused argument's
/// `Drop` sees its call still running, for async, sync and `blocking`.
#[test]
fn unused_arguments_are_dropped_while_the_slot_is_held() {
    within(BOUND, || {
        let rt = common::multi_thread();
        assert_eq!(
            rt.block_on(r30_unused_async(Probe(
                R30_UNUSED_ASYNC_POOL,
                &ASYNC_ARG_DROP
            ))),
            1
        );
        assert_eq!(
            r30_unused_sync(Probe(R30_UNUSED_SYNC_POOL, &SYNC_ARG_DROP)),
            2
        );
        assert_eq!(
            rt.block_on(r30_unused_blocking(Probe(
                R30_UNUSED_BLOCKING_POOL,
                &BLOCKING_ARG_DROP
            ))),
            3
        );
        assert_eq!(
            [
                ASYNC_ARG_DROP.load(SeqCst),
                SYNC_ARG_DROP.load(SeqCst),
                BLOCKING_ARG_DROP.load(SeqCst)
            ],
            [101, 101, 101],
            "each argument dropped while its call held a slot"
        );
    });
}

#[pooled::pooled(size = 1)]
async fn r30_parse(text: &str) -> Result<u32, AppErr> {
    let n: u32 = text.parse().map_err(|_| AppErr::Bad)?;
    if n == 0 {
        return Ok(100);
    }
    Ok(n)
}

/// Attribute docs: "a never-taken `return` of the declared type fixes the
/// return type, so `return`, `?` and type errors behave and are reported as
/// in the function as written." `?` returns the body's own error (not a
/// rejection), and an early `return` its value.
#[test]
fn question_mark_and_return_keep_their_meaning_in_the_body() {
    let run = |s| futures::executor::block_on(r30_parse(s));
    assert_eq!(run("7"), Ok(7));
    assert_eq!(run("0"), Ok(100));
    assert_eq!(run("x"), Err(AppErr::Bad));
    let s = R30_PARSE_POOL.stats();
    assert_eq!((s.completed, s.rejected_total()), (3, 0));
}

#[pooled::group(size = 1)]
/// The group of the nested calls.
pub struct R30Nest;

static NEST_BODIES: Meter = Meter::new();

#[pooled::pooled(group = R30Nest)]
async fn r30_nest_inner(n: u32) -> u32 {
    let _inside = NEST_BODIES.enter();
    n + 1
}

#[pooled::pooled(group = R30Nest)]
async fn r30_nest_outer(n: u32) -> u32 {
    r30_nest_inner(n).await * 2
}

#[pooled::pooled(group = R30Nest)]
fn r30_nest_sync_inner(n: u32) -> u32 {
    n + 2
}

#[pooled::pooled(group = R30Nest)]
fn r30_nest_sync_outer(n: u32) -> u32 {
    r30_nest_sync_inner(n) * 3
}

/// Attribute docs: "A call made while the caller already holds a slot of the
/// same pool (a nested or recursive call, in the same task or, for sync
/// calls, on the same thread) may run under that slot, so nested calls never
/// deadlock a full pool". A group of 1: an async function awaiting another
/// of its group, and a sync one calling another, from several callers at
/// once, finish; the group never admits more than its one top-level call.
#[test]
fn nested_calls_in_a_group_of_one_do_not_deadlock() {
    within(BOUND, || {
        let rt = common::multi_thread();
        let outs = rt.block_on(async {
            let tasks: Vec<_> = (0..6).map(|n| tokio::spawn(r30_nest_outer(n))).collect();
            let mut outs = Vec::new();
            for t in tasks {
                outs.push(t.await.unwrap());
            }
            outs
        });
        assert_eq!(outs, (0..6).map(|n| (n + 1) * 2).collect::<Vec<_>>());
        let threads: Vec<_> = (0..4)
            .map(|n| std::thread::spawn(move || r30_nest_sync_outer(n)))
            .collect();
        for (n, t) in threads.into_iter().enumerate() {
            assert_eq!(t.join().unwrap(), (n as u32 + 2) * 3);
        }
        assert_eq!(NEST_BODIES.peak(), 1);
        let s = R30Nest::POOL.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
    });
}

#[pooled::pooled(size = 1)]
fn r30_panics(boom: bool) -> u32 {
    assert!(!boom, "boom");
    1
}

/// README, "Cancellation": "a panicking call frees its slot and the panic
/// reaches the caller"; "Panicked calls are counted in `completed` and again
/// in `panicked`".
#[test]
fn a_panicking_body_frees_its_slot_and_the_panic_reaches_the_caller() {
    let out = std::panic::catch_unwind(|| r30_panics(true));
    assert!(out.is_err());
    let s = R30_PANICS_POOL.stats();
    assert_eq!((s.running, s.completed, s.panicked), (0, 1, 1), "{s:?}");
    assert_eq!(within(BOUND, || r30_panics(false)), 1);
}

#[pooled::pooled(size = 1)]
async fn r30_cancelled(n: u32) -> Result<u32, AppErr> {
    Ok(n)
}

/// README: "Dropping a waiting call removes it from the queue at once";
/// "Accounting. Every term of `submitted == completed + rejected +
/// cancelled + running + nested + waiting` is counted on its own". An
/// annotated call dropped while it waits, one rejected, two completed.
#[test]
fn a_dropped_waiting_call_leaves_the_queue_and_the_accounting_adds_up() {
    within(BOUND, || {
        let rt = common::multi_thread();
        let pool = R30_CANCELLED_POOL;
        let held = pool.try_acquire_owned(0).unwrap();
        rt.block_on(async {
            let out = tokio::time::timeout(Duration::from_millis(50), r30_cancelled(1)).await;
            assert!(out.is_err(), "still waiting");
        });
        assert_eq!(pool.stats().waiting, 0, "left the queue at once");
        drop(held);
        assert_eq!(rt.block_on(r30_cancelled(2)), Ok(2));
        pool.pause();
        assert_eq!(
            rt.block_on(r30_cancelled(3)),
            Err(AppErr::Busy(Rejected::Paused))
        );
        pool.resume();
        assert_eq!(rt.block_on(r30_cancelled(4)), Ok(4));
        let s = pool.stats();
        assert_eq!(s.cancelled, 1, "{s:?}");
        // The permit counts as a call too.
        assert_eq!(
            s.submitted(),
            s.completed
                + s.rejected_total()
                + s.cancelled
                + s.running as u64
                + s.nested as u64
                + s.waiting as u64,
            "{s:?}"
        );
    });
}

#[pooled::group(size = 1)]
/// Sync and async callers of one queue.
pub struct R30Mixed;

static MIXED_BODIES: Meter = Meter::new();

#[pooled::pooled(group = R30Mixed)]
async fn r30_mixed_async() {
    let _inside = MIXED_BODIES.enter();
    tokio::time::sleep(Duration::from_millis(3)).await;
}

#[pooled::pooled(group = R30Mixed)]
fn r30_mixed_sync() {
    let _inside = MIXED_BODIES.enter();
    std::thread::sleep(Duration::from_millis(3));
}

#[pooled::pooled(group = R30Mixed, blocking)]
fn r30_mixed_blocking() {
    let _inside = MIXED_BODIES.enter();
    std::thread::sleep(Duration::from_millis(3));
}

/// README: "sync and blocking callers in the same queue". Async tasks, plain
/// threads and `blocking` calls of one group of 1: one body at a time.
#[test]
fn async_sync_and_blocking_functions_of_one_group_share_its_limit() {
    within(BOUND, || {
        let rt = common::multi_thread();
        let threads: Vec<_> = (0..3)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..5 {
                        r30_mixed_sync();
                    }
                })
            })
            .collect();
        rt.block_on(async {
            let a = futures::future::join_all((0..10).map(|_| tokio::spawn(r30_mixed_async())));
            let b = futures::future::join_all((0..10).map(|_| r30_mixed_blocking()));
            let (a, _) = tokio::join!(a, b);
            assert!(a.into_iter().all(|r| r.is_ok()));
        });
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(MIXED_BODIES.done(), 35);
        assert_eq!(MIXED_BODIES.peak(), 1);
    });
}

static BARGING_BODIES: Meter = Meter::new();

#[pooled::pooled(size = 2, sync_barging = "1ms")]
fn r30_barging() {
    let _inside = BARGING_BODIES.enter();
    std::thread::sleep(Duration::from_micros(200));
}

/// Attribute docs, keys: `sync_barging` — "how long a call to a plain sync
/// function may wait outside the queue ... at the price of strict order";
/// README: "The limit holds as always". 8 threads × 25 calls on 2 slots.
#[test]
fn sync_barging_keeps_the_limit() {
    within(BOUND, || {
        assert_eq!(
            R30_BARGING_POOL.spec().settings().sync_barging,
            Some(Duration::from_millis(1))
        );
        let threads: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..25 {
                        r30_barging();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(BARGING_BODIES.done(), 200);
        assert_eq!(BARGING_BODIES.peak(), 2);
    });
}

// ---------------------------------------------------------------------------
// Configuration of attribute groups.

static ENV_BODIES: Meter = Meter::new();

#[pooled::pooled(size = 2, name = "r30::env-sized")]
fn r30_env_sized() {
    let _inside = ENV_BODIES.enter();
    std::thread::sleep(Duration::from_millis(20));
}

#[pooled::pooled(size = 2, name = "r30::env-neighbour")]
fn r30_env_neighbour() {}

/// README, "Configuration": "single values from the environment:
/// `POOLED_BILLING__API__CHARGE_MAX=48` (upper-case, `::` becomes `__`,
/// other characters `_`)", read at first use; "Precedence: attribute < ...
/// < environment". A group declared `size = 2` under
/// `POOLED_R30__ENV_SIZED_SIZE=5`: 5 slots, and 12 threads see at most 5
/// bodies.
#[test]
fn an_environment_variable_sizes_an_attribute_group() {
    common::in_own_process(
        "an_environment_variable_sizes_an_attribute_group",
        &[("POOLED_R30__ENV_SIZED_SIZE", "5")],
        || {
            assert_eq!(pooled::config::mangle("r30::env-sized"), "R30__ENV_SIZED");
            within(BOUND, || {
                let threads: Vec<_> = (0..12)
                    .map(|_| {
                        std::thread::spawn(|| {
                            for _ in 0..3 {
                                r30_env_sized();
                            }
                        })
                    })
                    .collect();
                for t in threads {
                    t.join().unwrap();
                }
                assert_eq!(R30_ENV_SIZED_POOL.size(), 5);
                assert_eq!(ENV_BODIES.peak(), 5);
            });
        },
    );
}

/// README, "Configuration": "one for a misspelt group fails the load with a
/// suggestion"; "Loads are all or nothing"; `pooled::config`, "Sources":
/// errors at first use "are reported once — through the `log` facade ...
/// else on stderr — and the attribute values stand". A misspelt variable
/// next to a valid one: neither applies, and stderr names the variable.
#[test]
fn a_misspelt_group_variable_fails_the_first_use_load_all_or_nothing() {
    let stderr = common::in_child_process(
        "a_misspelt_group_variable_fails_the_first_use_load_all_or_nothing",
        &[
            ("POOLED_R30__ENV_SIZZED_SIZE", "4"),
            ("POOLED_R30__ENV_NEIGHBOUR_SIZE", "7"),
        ],
        || {
            r30_env_neighbour();
            assert_eq!(R30_ENV_NEIGHBOUR_POOL.size(), 2, "the attribute stands");
        },
    );
    if let Some(stderr) = stderr {
        assert!(stderr.contains("POOLED_R30__ENV_SIZZED_SIZE"), "{stderr}");
        assert!(
            stderr.contains("did you mean `POOLED_R30__ENV_SIZED_SIZE`"),
            "a suggestion: {stderr}"
        );
    }
}

#[pooled::pooled(size = 1, admission_timeout = "300ms", name = "r30::env-untimed")]
fn r30_env_untimed() -> Result<u32, AppErr> {
    Ok(1)
}

/// `pooled::config`: "The optional bounds, `max_waiting` and
/// `admission_timeout`, are removed by the word `none` (...
/// `POOLED_<GROUP>_MAX_WAITING=none`): a layer can take away a bound the
/// declaration ... gave". The declared 300 ms timeout removed by the
/// environment: a call that waits 600 ms is admitted.
#[test]
fn none_in_the_environment_removes_a_declared_timeout() {
    common::in_own_process(
        "none_in_the_environment_removes_a_declared_timeout",
        &[("POOLED_R30__ENV_UNTIMED_ADMISSION_TIMEOUT", "none")],
        || {
            within(BOUND, || {
                assert_eq!(R30_ENV_UNTIMED_POOL.settings().admission_timeout, None);
                let held = R30_ENV_UNTIMED_POOL.try_acquire_owned(0).unwrap();
                let release = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(600));
                    drop(held);
                });
                assert_eq!(r30_env_untimed(), Ok(1));
                release.join().unwrap();
            });
        },
    );
}

static CEILING_BODIES: Meter = Meter::new();

#[pooled::pooled(size = 4)]
async fn r30_ceiling_a() {
    let _inside = CEILING_BODIES.enter();
    tokio::time::sleep(Duration::from_millis(5)).await;
}

#[pooled::pooled(size = 4)]
fn r30_ceiling_b() {
    let _inside = CEILING_BODIES.enter();
    std::thread::sleep(Duration::from_millis(5));
}

/// README: "`ceiling = 64` # at most 64 calls running across all groups";
/// "`POOLED_CEILING=64`". Two attribute pools of 4 under
/// `POOLED_CEILING=3`: async tasks and threads together see at most 3
/// bodies.
#[test]
fn the_environment_ceiling_limits_attribute_groups_together() {
    common::in_own_process(
        "the_environment_ceiling_limits_attribute_groups_together",
        &[("POOLED_CEILING", "3")],
        || {
            within(BOUND, || {
                let rt = common::multi_thread();
                let threads: Vec<_> = (0..4)
                    .map(|_| {
                        std::thread::spawn(|| {
                            for _ in 0..5 {
                                r30_ceiling_b();
                            }
                        })
                    })
                    .collect();
                rt.block_on(futures::future::join_all((0..20).map(|_| r30_ceiling_a())));
                for t in threads {
                    t.join().unwrap();
                }
                assert_eq!(pooled::ceiling::limit(), Some(3));
                assert_eq!(CEILING_BODIES.done(), 40);
                assert_eq!(CEILING_BODIES.peak(), 3);
            });
        },
    );
}

#[cfg(feature = "config")]
mod from_configuration {
    use super::*;
    use common::config_turn;

    static RELOAD_BODIES: Meter = Meter::new();

    #[pooled::pooled(size = 2, name = "r30::reload")]
    async fn r30_reload() {
        let _inside = RELOAD_BODIES.enter();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    /// README, "Configuration": "Reload applies changed limits to running
    /// pools at once"; `config::clear`: "groups go back to their attribute
    /// values (running pools are reconfigured like on a load)". A running
    /// attribute pool of 2 given `size = 5` by a load: 5 slots, at most 5
    /// bodies of 20 callers; cleared: 2 again.
    #[test]
    fn a_load_resizes_a_running_attribute_pool_and_clear_restores_it() {
        let _turn = config_turn();
        within(BOUND, || {
            let rt = common::multi_thread();
            rt.block_on(r30_reload());
            assert_eq!(R30_RELOAD_POOL.size(), 2);
            pooled::config::load_str("r30.toml", "[groups.\"r30::reload\"]\nsize = 5\n").unwrap();
            assert_eq!(R30_RELOAD_POOL.size(), 5);
            rt.block_on(futures::future::join_all((0..20).map(|_| r30_reload())));
            assert_eq!(RELOAD_BODIES.peak(), 5);
            pooled::config::clear();
            assert_eq!(R30_RELOAD_POOL.size(), 2);
        });
    }

    /// README, "Configuration": "Errors name the file, line and column ...
    /// a table naming no known group lists the known ones with a "did you
    /// mean"". A misspelt attribute group's table is refused and changes
    /// nothing.
    #[test]
    fn a_misspelt_group_table_is_refused_with_a_suggestion() {
        let _turn = config_turn();
        let err = pooled::config::load_str(
            "r30.toml",
            "[groups.\"r30::relaod\"]\nsize = 3\n\n[groups.\"r30::reload\"]\nsize = 4\n",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("r30::relaod") && msg.contains("r30::reload"),
            "{msg}"
        );
        assert!(msg.contains("r30.toml"), "{msg}");
        assert_eq!(R30_RELOAD_POOL.settings().size, Some(2), "nothing applied");
    }

    #[pooled::pooled(size = 1, name = "r30::file-bounded")]
    fn r30_file_bounded() -> Result<u32, AppErr> {
        Ok(1)
    }

    /// README, "Configuration": "`pooled::config::load(path)` (or
    /// `POOLED_CONFIG=path`, read at first use)"; "`[defaults]` ...
    /// `max_waiting = 10000`". A file named by `POOLED_CONFIG` whose
    /// `[defaults]` bound the waiting calls to 0: the attribute function is
    /// turned away `Full` while its slot is held.
    #[test]
    fn a_file_named_by_pooled_config_configures_attribute_groups_at_first_use() {
        let path = std::env::temp_dir().join(format!("r30-{}.toml", std::process::id()));
        if !common::is_child_process() {
            std::fs::write(
                &path,
                "[defaults]\nmax_waiting = 0\n\n[groups.\"r30::file-bounded\"]\nsize = 2\n",
            )
            .unwrap();
        }
        common::in_own_process(
            "from_configuration::a_file_named_by_pooled_config_configures_attribute_groups_at_first_use",
            &[("POOLED_CONFIG", path.to_str().unwrap())],
            || {
                assert_eq!(R30_FILE_BOUNDED_POOL.size(), 2);
                let a = R30_FILE_BOUNDED_POOL.try_acquire_owned(0).unwrap();
                let b = R30_FILE_BOUNDED_POOL.try_acquire_owned(0).unwrap();
                assert_eq!(r30_file_bounded(), Err(AppErr::Busy(Rejected::Full)));
                drop((a, b));
                assert_eq!(r30_file_bounded(), Ok(1));
            },
        );
        if !common::is_child_process() {
            let _ = std::fs::remove_file(&path);
        }
    }
}

// ---------------------------------------------------------------------------
// Round 30, second part: nesting across call forms, recursion through a
// returned future, scaling a handle under load, re-exporters, isolation,
// layered configuration.

#[pooled::group(size = 1)]
/// Nested calls across call forms.
pub struct R30NestForms;

static NEST_FORMS_BODIES: Meter = Meter::new();

#[pooled::pooled(group = R30NestForms)]
fn r30_nf_sync(n: u32) -> u32 {
    let _inside = NEST_FORMS_BODIES.enter();
    n + 1
}

#[pooled::pooled(group = R30NestForms, blocking)]
fn r30_nf_blocking(n: u32) -> u32 {
    r30_nf_sync(n) * 10
}

#[pooled::pooled(group = R30NestForms)]
async fn r30_nf_async(n: u32) -> u32 {
    r30_nf_blocking(n).await + 1
}

/// README, "Reentrancy rule": "A call into a pool from inside work that
/// holds one of its slots (a *nested* call: polled within the parent's poll
/// ... or made on the thread of sync or blocking work) may run under its
/// parent's slot ... so nested calls never deadlock a full pool". A group
/// of 1: an `async fn` awaits a `blocking` function of its group, whose body
/// calls a sync function of the group; callers from 4 tasks finish.
#[test]
fn an_async_fn_awaiting_a_blocking_fn_calling_a_sync_fn_in_a_group_of_one() {
    within(BOUND, || {
        let rt = common::multi_thread();
        let outs = rt.block_on(async {
            let tasks: Vec<_> = (0..4).map(|n| tokio::spawn(r30_nf_async(n))).collect();
            let mut outs = Vec::new();
            for t in tasks {
                outs.push(t.await.unwrap());
            }
            outs
        });
        assert_eq!(outs, [11, 21, 31, 41]);
        assert_eq!(NEST_FORMS_BODIES.peak(), 1);
        let s = R30NestForms::POOL.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
    });
}

#[pooled::pooled(size = 1)]
fn r30_factorial(n: u64) -> BoxFuture<'static, u64> {
    Box::pin(async move {
        if n == 0 {
            1
        } else {
            n * r30_factorial(n - 1).await
        }
    })
}

/// Attribute docs: "A call made while the caller already holds a slot of the
/// same pool (a nested or recursive call, in the same task ...) may run under
/// that slot". A function returning a `BoxFuture` that awaits itself, on a
/// pool of 1: 6 levels deep, no deadlock.
#[test]
fn a_recursive_boxfuture_fn_of_size_one_does_not_deadlock() {
    within(BOUND, || {
        assert_eq!(futures::executor::block_on(r30_factorial(6)), 720);
        let s = R30_FACTORIAL_POOL.stats();
        assert_eq!((s.running, s.nested, s.completed), (0, 0, 7), "{s:?}");
    });
}

#[pooled::pooled(size = 2)]
fn r30_local(n: u32) -> futures::future::LocalBoxFuture<'static, u32> {
    let shared = std::rc::Rc::new(n);
    Box::pin(async move {
        let _inside = LOCAL_BODIES.enter();
        tokio::time::sleep(Duration::from_millis(5)).await;
        *shared
    })
}

static LOCAL_BODIES: Meter = Meter::new();

/// Attribute docs: "`BoxFuture<'a, T>` and `LocalBoxFuture<'a, T>` of the
/// `futures` crate" are recognised; README: "borrowed, non-`Send` futures".
/// Eight non-`Send` calls joined on one thread: at most 2 at once.
#[test]
fn a_local_box_future_fn_is_limited_on_one_thread() {
    within(BOUND, || {
        let rt = current_thread();
        let outs = rt.block_on(futures::future::join_all((0..8).map(r30_local)));
        assert_eq!(outs, (0..8).collect::<Vec<_>>());
        assert_eq!(LOCAL_BODIES.peak(), 2);
    });
}

static SHRINK_BODIES: Meter = Meter::new();
static SHRINK_AFTER: AtomicUsize = AtomicUsize::new(0);
static SHRINK_SEEN_MORE: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(size = 4)]
async fn r30_shrinking() {
    let inside = SHRINK_BODIES.enter();
    if SHRINK_AFTER.load(SeqCst) == 1 && SHRINK_BODIES.now() > 1 {
        SHRINK_SEEN_MORE.fetch_add(1, SeqCst);
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    drop(inside);
}

/// README, "Limits": "At every admission `running <= limit`, including while
/// scaling down under load: scaling down never interrupts running work, the
/// pool just admits nothing until `running < limit`." A handle's
/// `resize(1)` while 4 bodies run and 20 wait: every body admitted after it
/// finds no other body running; the 4 running ones finish.
#[test]
fn resizing_a_handle_down_under_load_admits_nothing_until_below_the_limit() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(async {
            let tasks: Vec<_> = (0..24).map(|_| tokio::spawn(r30_shrinking())).collect();
            while SHRINK_BODIES.now() < 4 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            // Bodies admitted from here on check that they run alone.
            let running = R30_SHRINKING_POOL.stats().running;
            assert_eq!(running, 4);
            SHRINK_AFTER.store(1, SeqCst);
            assert_eq!(R30_SHRINKING_POOL.resize(1), 1);
            for t in tasks {
                t.await.unwrap();
            }
        });
        assert_eq!(SHRINK_BODIES.done(), 24);
        // The 4 running when the limit fell may still overlap each other;
        // none admitted after it may overlap anything. A body admitted
        // before the resize but entered just after it could count: allow
        // those (at most 4 running at the resize).
        assert!(
            SHRINK_SEEN_MORE.load(SeqCst) <= 3,
            "{} bodies admitted past the lowered limit",
            SHRINK_SEEN_MORE.load(SeqCst)
        );
        assert_eq!(R30_SHRINKING_POOL.stats().running, 0);
    });
}

#[pooled::pooled(size = 2)]
async fn r30_held_at_zero(n: u32) -> u32 {
    n
}

/// README, "Limits": "A fixed pool scaled to 0 holds its queue until scaled
/// up." An attribute function's handle resized to 0: its calls wait (none
/// rejected), and `resize(2)` admits them.
#[test]
fn a_handle_resized_to_zero_holds_calls_until_scaled_up() {
    within(BOUND, || {
        let rt = common::multi_thread();
        assert_eq!(R30_HELD_AT_ZERO_POOL.resize(0), 0);
        let tasks: Vec<_> = (0..3).map(|n| rt.spawn(r30_held_at_zero(n))).collect();
        wait_until("3 calls wait", || {
            R30_HELD_AT_ZERO_POOL.stats().waiting == 3
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(tasks.iter().all(|t| !t.is_finished()));
        assert_eq!(R30_HELD_AT_ZERO_POOL.scale(2), 2);
        let outs: Vec<u32> = rt.block_on(async {
            let mut outs = Vec::new();
            for t in tasks {
                outs.push(t.await.unwrap());
            }
            outs
        });
        assert_eq!(outs, [0, 1, 2]);
    });
}

#[pooled::pooled(size = 1, max_waiting = 1)]
fn r30_sync_bounded() -> Result<u32, AppErr> {
    std::thread::sleep(Duration::from_millis(5));
    Ok(1)
}

/// Attribute docs, keys: "`max_waiting` | integer | unbounded | past this
/// many waiting calls, a call is rejected (`Full`)", for a sync function
/// too: with the slot held and one thread parked in the queue, a third
/// caller is turned away at once.
#[test]
fn a_sync_result_fn_past_its_waiting_bound_is_rejected_full() {
    within(BOUND, || {
        let held = R30_SYNC_BOUNDED_POOL.try_acquire_owned(0).unwrap();
        let parked = std::thread::spawn(r30_sync_bounded);
        wait_until("a caller waits", || {
            R30_SYNC_BOUNDED_POOL.stats().waiting == 1
        });
        assert_eq!(r30_sync_bounded(), Err(AppErr::Busy(Rejected::Full)));
        drop(held);
        assert_eq!(parked.join().unwrap(), Ok(1));
    });
}

/// A crate that re-exports `pooled` under another path.
mod reexport {
    pub use ::pooled as inner_pooled;
}

static REEXPORT_BODIES: Meter = Meter::new();

#[pooled::pooled(size = 2, crate = "crate::reexport::inner_pooled")]
async fn r30_reexported(n: u32) -> u32 {
    let _inside = REEXPORT_BODIES.enter();
    tokio::time::sleep(Duration::from_millis(5)).await;
    n
}

/// Attribute docs, keys: "`crate` | string holding a path | `"::pooled"` |
/// where a re-exporting crate put `pooled`"; DESIGN §1: "with a `crate =
/// "…"` override for re-exporters". The expansion through a re-export
/// works and keeps the limit.
#[test]
fn the_crate_override_expands_through_a_reexport() {
    within(BOUND, || {
        let rt = common::multi_thread();
        let outs = rt.block_on(futures::future::join_all((0..8).map(r30_reexported)));
        assert_eq!(outs, (0..8).collect::<Vec<_>>());
        assert_eq!(REEXPORT_BODIES.peak(), 2);
        assert_eq!(R30_REEXPORTED_POOL.stats().completed, 8);
    });
}

/// Attribute docs, "Every shape of function": "Borrowed, `&mut` and `mut`
/// arguments, patterns, generics, `impl Trait` (arguments and return),
/// `where` clauses, lifetimes ... `unsafe fn` ... all keep working".
#[test]
fn every_shape_of_function_keeps_working() {
    #[pooled::pooled(size = 1)]
    fn first<'a, T>(items: &'a [T]) -> &'a T
    where
        T: std::fmt::Debug,
    {
        &items[0]
    }

    #[pooled::pooled(size = 1)]
    async fn longest<'a>(a: &'a str, b: &'a str) -> &'a str {
        if a.len() >= b.len() {
            a
        } else {
            b
        }
    }

    #[pooled::pooled(size = 1)]
    fn show(value: impl std::fmt::Display, mut count: usize) -> impl std::fmt::Display {
        count += 1;
        format!("{value}x{count}")
    }

    #[pooled::pooled(size = 1)]
    fn push_all(out: &mut Vec<u32>, (a, b): (u32, u32)) {
        out.push(a);
        out.push(b);
    }

    #[pooled::pooled(size = 1)]
    unsafe fn read(ptr: *const u32) -> u32 {
        // SAFETY: the caller passes a valid pointer.
        unsafe { *ptr }
    }

    assert_eq!(*first(&[3, 4]), 3);
    assert_eq!(futures::executor::block_on(longest("ab", "abc")), "abc");
    assert_eq!(show(7, 1).to_string(), "7x2");
    let mut out = Vec::new();
    push_all(&mut out, (1, 2));
    assert_eq!(out, [1, 2]);
    let x = 9;
    // SAFETY: a valid pointer to a live local.
    assert_eq!(unsafe { read(&x) }, 9);
    assert_eq!(FIRST_POOL.stats().completed, 1);
    assert_eq!(READ_POOL.stats().completed, 1);
}

#[cfg(feature = "test-util")]
mod isolated {
    use super::*;

    #[pooled::pooled(size = 2)]
    fn r30_isolated() -> Result<u32, Rejected> {
        Ok(1)
    }

    /// README: "`let _mine = GROUP.isolate();` routes the test's calls
    /// through the group to a fresh pool ... until the guard is dropped, so
    /// one test's `pause()`, `close()` or `stats()` never reaches another";
    /// "made outside any runtime (a plain `#[test]`), the calls its thread
    /// makes outside runtimes". An attribute function's handle paused under
    /// the guard: this thread's calls are refused, another thread's are not,
    /// and after the guard the shared pool was never paused.
    #[test]
    fn isolating_an_attribute_group_keeps_its_pause_to_the_test() {
        within(BOUND, || {
            let mine = R30_ISOLATED_POOL.isolate();
            R30_ISOLATED_POOL.pause();
            assert_eq!(r30_isolated(), Err(Rejected::Paused));
            assert_eq!(std::thread::spawn(r30_isolated).join().unwrap(), Ok(1));
            drop(mine);
            assert!(!R30_ISOLATED_POOL.is_paused());
            assert_eq!(r30_isolated(), Ok(1));
            let s = R30_ISOLATED_POOL.stats();
            assert_eq!((s.completed, s.rejected_total()), (2, 0), "{s:?}");
        });
    }

    #[cfg(feature = "rayon")]
    #[pooled::group(size = 1, executor = "rayon")]
    /// A group whose blocking calls run on rayon.
    pub struct R30IsoRayon;

    #[cfg(feature = "rayon")]
    #[pooled::pooled(group = R30IsoRayon)]
    fn r30_iso_inner() -> u32 {
        2
    }

    #[cfg(feature = "rayon")]
    #[pooled::pooled(group = R30IsoRayon, blocking)]
    fn r30_iso_job() -> u32 {
        r30_iso_inner() + 1
    }

    /// README: "wherever it runs, a call nested in the work of a call the
    /// instance admitted (a blocking job on rayon's threads, say) is the
    /// test's too"; attribute keys: "`executor` | `"rayon"` | where blocking
    /// calls run". Under a guard made on a plain test thread, a `blocking`
    /// call of a rayon group whose job calls the group again: both calls
    /// are the instance's, none reaches the shared pool.
    #[cfg(feature = "rayon")]
    #[test]
    fn a_call_nested_in_an_isolated_rayon_job_is_the_tests() {
        within(BOUND, || {
            let mine = R30IsoRayon::POOL.isolate();
            assert_eq!(futures::executor::block_on(r30_iso_job()), 3);
            let s = R30IsoRayon::POOL.stats();
            assert_eq!(s.completed, 2, "both calls in the instance: {s:?}");
            let instance = mine.pool();
            drop(mine);
            assert_eq!(instance.stats().completed, 2);
            assert_eq!(
                R30IsoRayon::POOL.stats().completed,
                0,
                "shared pool untouched"
            );
        });
    }
}

static LAYERED: [&str; 4] = [
    "r30::kinds",
    "r30::start-clamped",
    "r30::defaults-fixed",
    "r30::env-beats-table",
];

#[pooled::pooled(size = 4, name = "r30::kinds")]
fn r30_kinds() {}

#[pooled::pooled(
    kind = "autoscale",
    min = 1,
    max = 8,
    size = 6,
    name = "r30::start-clamped"
)]
async fn r30_start_clamped() {}

#[pooled::pooled(size = 2, name = "r30::defaults-fixed")]
fn r30_defaults_fixed() {}

#[pooled::pooled(size = 2, name = "r30::env-beats-table")]
fn r30_env_beats_table() {}

/// README, "Configuration": "Precedence: attribute < file `[defaults]` <
/// file group table < environment"; "a layer that changes `kind` sets aside
/// the counts set below it for the old kind and brings back those set for
/// the new one, so a group declared `size = 4` that the file makes
/// autoscaled (with bounds, say) and the environment fixed again has 4
/// slots"; "only an autoscaled group's declared start (`size`) is brought
/// into the bounds a load gives"; `pooled::config`: "its `size` applies to
/// fixed groups only". One file and the environment, read at first use.
#[test]
fn layered_configuration_reaches_attribute_groups_at_first_use() {
    let path = std::env::temp_dir().join(format!("r30-layers-{}.toml", std::process::id()));
    if !common::is_child_process() {
        std::fs::write(
            &path,
            "[defaults]\nsize = 5\n\n\
             [groups.\"r30::kinds\"]\nkind = \"autoscale\"\nmin = 1\nmax = 10\n\n\
             [groups.\"r30::start-clamped\"]\nmax = 2\n\n\
             [groups.\"r30::env-beats-table\"]\nsize = 3\n",
        )
        .unwrap();
    }
    common::in_own_process(
        "layered_configuration_reaches_attribute_groups_at_first_use",
        &[
            ("POOLED_CONFIG", path.to_str().unwrap()),
            ("POOLED_R30__KINDS_KIND", "fixed"),
            ("POOLED_R30__ENV_BEATS_TABLE_SIZE", "6"),
        ],
        || {
            r30_kinds();
            futures::executor::block_on(r30_start_clamped());
            r30_defaults_fixed();
            r30_env_beats_table();
            let kinds = R30_KINDS_POOL.settings();
            assert_eq!(kinds.kind, pooled::Kind::Fixed);
            let sizes = [
                R30_KINDS_POOL.size(),
                R30_START_CLAMPED_POOL.size(),
                R30_DEFAULTS_FIXED_POOL.size(),
                R30_ENV_BEATS_TABLE_POOL.size(),
            ];
            // `[defaults] size = 5` beats the declaration's 4 for the group
            // made fixed again (README: "(or the `[defaults]` size, which
            // beats the declaration)" in `pooled::config`).
            assert_eq!(sizes, [5, 2, 5, 6], "{LAYERED:?}");
            assert_eq!(R30_START_CLAMPED_POOL.settings().size, Some(2));
        },
    );
    if !common::is_child_process() {
        let _ = std::fs::remove_file(&path);
    }
}

#[cfg(feature = "config")]
mod reload_bounds {
    use super::*;
    use common::config_turn;

    static BOUNDS_BODIES: Meter = Meter::new();
    static BOUNDS_GO: AtomicUsize = AtomicUsize::new(0);
    static BOUNDS_AFTER_PEAK: AtomicUsize = AtomicUsize::new(0);

    #[pooled::pooled(
        kind = "autoscale",
        min = 2,
        max = 8,
        size = 6,
        name = "r30::reload-bounds"
    )]
    async fn r30_reload_bounds() {
        let _inside = BOUNDS_BODIES.enter();
        if BOUNDS_GO.load(SeqCst) == 2 {
            BOUNDS_AFTER_PEAK.fetch_max(BOUNDS_BODIES.now(), SeqCst);
        }
        while BOUNDS_GO.load(SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    /// README, "Configuration": "Reload applies changed limits to running
    /// pools at once (growing admits waiters, shrinking lets running calls
    /// finish)". An autoscaled attribute pool running 6 calls is given
    /// `max = 3` by a load: its limit is 3 at once, the 6 running calls
    /// finish, and later calls never see more than 3 bodies.
    #[test]
    fn a_reload_lowering_max_shrinks_a_running_attribute_pool() {
        let _turn = config_turn();
        within(BOUND, || {
            let rt = common::multi_thread();
            rt.block_on(async {
                let first: Vec<_> = (0..6).map(|_| tokio::spawn(r30_reload_bounds())).collect();
                while BOUNDS_BODIES.now() < 6 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                pooled::config::load_str("r30.toml", "[groups.\"r30::reload-bounds\"]\nmax = 3\n")
                    .unwrap();
                assert_eq!(R30_RELOAD_BOUNDS_POOL.size(), 3);
                assert_eq!(R30_RELOAD_BOUNDS_POOL.stats().running, 6, "not interrupted");
                BOUNDS_GO.store(1, SeqCst);
                for t in first {
                    t.await.unwrap();
                }
                let before = BOUNDS_BODIES.done();
                assert_eq!(before, 6);
            });
            BOUNDS_GO.store(2, SeqCst);
            rt.block_on(futures::future::join_all(
                (0..12).map(|_| r30_reload_bounds()),
            ));
            assert_eq!(BOUNDS_BODIES.done(), 18);
            assert_eq!(BOUNDS_AFTER_PEAK.load(SeqCst), 3, "bodies after the reload");
            pooled::config::clear();
        });
    }
}

// ---------------------------------------------------------------------------
// Round 30, third part: defaults and clamps of the declared keys, orders,
// never-rejecting calls on an aborted pool, nested calls' admission.

#[pooled::pooled]
fn r30_all_defaults() {}

#[pooled::pooled(kind = "autoscale")]
fn r30_autoscale_defaults() {}

#[pooled::pooled(kind = "autoscale", max = 2)]
fn r30_autoscale_small_max() {}

#[pooled::pooled(kind = "autoscale", min = 10)]
fn r30_autoscale_big_min() {}

#[pooled::pooled(kind = "autoscale", min = 0, max = 4)]
fn r30_autoscale_zero_min() {}

/// Attribute docs, keys: `size` "3"; `min` "3, or `max` if smaller"; `max`
/// "`min + 5`"; an autoscale pool starts at "`min`, or 1 if `min` is 0";
/// README: "(default: fixed FIFO of 3)", "(default 3..=8 ...)". Each started
/// pool's size, and `scale` clamped to the effective bounds.
#[test]
fn attribute_defaults_give_the_documented_sizes_and_bounds() {
    let _used: [fn(); 5] = [
        r30_all_defaults,
        r30_autoscale_defaults,
        r30_autoscale_small_max,
        r30_autoscale_big_min,
        r30_autoscale_zero_min,
    ];
    assert_eq!(R30_ALL_DEFAULTS_POOL.size(), 3);
    assert_eq!(R30_ALL_DEFAULTS_POOL.settings().order, pooled::Order::Fifo);
    let sized = |g: &'static Group| (g.size(), g.scale(-1000), g.scale(1000));
    assert_eq!(sized(R30_AUTOSCALE_DEFAULTS_POOL), (3, 3, 8));
    assert_eq!(sized(R30_AUTOSCALE_SMALL_MAX_POOL), (2, 2, 2));
    assert_eq!(sized(R30_AUTOSCALE_BIG_MIN_POOL), (10, 10, 15));
    assert_eq!(sized(R30_AUTOSCALE_ZERO_MIN_POOL), (1, 0, 4));
}

#[pooled::pooled(size = 2)]
fn r30_clamped_fixed() {}

/// README: "`pool.scale(4)` // 4 more slots (a delta; resize(n) sets it),
/// clamped to [min, max] ([0, MAX] for fixed pools)"; "Bad input is an
/// error value, never a panic, an overflow or a freeze"; `MAX_SLOTS` =
/// 1073741823. A fixed handle scaled by `isize::MAX`, resized to
/// `usize::MAX`, then scaled by `isize::MIN`.
#[test]
fn a_fixed_handle_clamps_extreme_scales_to_max_slots_and_zero() {
    let _used: fn() = r30_clamped_fixed;
    let h = R30_CLAMPED_FIXED_POOL;
    assert_eq!(h.scale(isize::MAX), pooled::MAX_SLOTS);
    assert_eq!(h.resize(usize::MAX), pooled::MAX_SLOTS);
    assert_eq!(h.scale(isize::MIN), 0);
    assert_eq!(h.resize(2), 2);
    r30_clamped_fixed();
    assert_eq!(h.stats().completed, 1);
}

static LIFO_ORDER: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[pooled::pooled(size = 1, order = "lifo")]
async fn r30_lifo(n: u32) {
    LIFO_ORDER.lock().unwrap().push(n);
}

static SIMPLE_ORDER: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[pooled::pooled(size = 1, order = "simple")]
async fn r30_simple(n: u32) {
    SIMPLE_ORDER.lock().unwrap().push(n);
}

/// Attribute docs, keys: "`order` | `"fifo"`, `"lifo"` or `"priority"`
/// (`"simple"` is `"fifo"`) | which waiting call goes next". Four calls
/// queued behind a held slot: a LIFO pool runs the newest first, a
/// "simple" one the oldest.
#[test]
fn lifo_and_simple_orders_admit_queued_calls_newest_and_oldest_first() {
    within(BOUND, || {
        let rt = common::multi_thread();
        for (pool, lifo) in [(R30_LIFO_POOL, true), (R30_SIMPLE_POOL, false)] {
            let held = pool.try_acquire_owned(0).unwrap();
            let mut tasks = Vec::new();
            for n in 0..4 {
                tasks.push(if lifo {
                    rt.spawn(r30_lifo(n))
                } else {
                    rt.spawn(r30_simple(n))
                });
                wait_until("the call queues", || pool.stats().waiting == n as usize + 1);
            }
            drop(held);
            rt.block_on(async {
                for t in tasks {
                    t.await.unwrap();
                }
            });
        }
        assert_eq!(*LIFO_ORDER.lock().unwrap(), [3, 2, 1, 0]);
        assert_eq!(*SIMPLE_ORDER.lock().unwrap(), [0, 1, 2, 3]);
        assert_eq!(R30_SIMPLE_POOL.settings().order, pooled::Order::Fifo);
    });
}

static ABORT_RAN: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(size = 1)]
async fn r30_abort_plain() {
    ABORT_RAN.fetch_add(1, SeqCst);
}

#[pooled::pooled(size = 1, wait)]
async fn r30_abort_wait() -> Result<(), AppErr> {
    ABORT_RAN.fetch_add(10, SeqCst);
    Ok(())
}

/// `Pool::abort`: "Closes the pool and rejects every waiting call at once
/// with `Rejected::Closed` (never-rejecting ones excepted, see `close`)";
/// attribute docs: "A never-rejecting call has no way to report a closed
/// pool, so it is admitted all the same, within the limit". A plain and a
/// `wait` function waiting when their pools are aborted both run.
#[test]
fn never_rejecting_calls_waiting_through_an_abort_still_run() {
    within(BOUND, || {
        let rt = common::multi_thread();
        let held_a = R30_ABORT_PLAIN_POOL.try_acquire_owned(0).unwrap();
        let held_b = R30_ABORT_WAIT_POOL.try_acquire_owned(0).unwrap();
        let a = rt.spawn(r30_abort_plain());
        let b = rt.spawn(r30_abort_wait());
        wait_until("both wait", || {
            R30_ABORT_PLAIN_POOL.stats().waiting == 1 && R30_ABORT_WAIT_POOL.stats().waiting == 1
        });
        R30_ABORT_PLAIN_POOL.pool().abort();
        R30_ABORT_WAIT_POOL.pool().abort();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(
            ABORT_RAN.load(SeqCst),
            0,
            "within the limit: the slots are held"
        );
        drop((held_a, held_b));
        rt.block_on(a).unwrap();
        assert_eq!(rt.block_on(b).unwrap(), Ok(()));
        assert_eq!(ABORT_RAN.load(SeqCst), 11);
    });
}

#[pooled::group(size = 1, max_waiting = 0)]
/// A group whose waiting bound is 0, for nested calls.
pub struct R30NestBound;

#[pooled::pooled(group = R30NestBound)]
async fn r30_nb_inner(n: u32) -> Result<u32, AppErr> {
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(n)
}

#[pooled::pooled(group = R30NestBound)]
async fn r30_nb_outer() -> Result<(u32, u32), AppErr> {
    // Two nested calls at once: one runs under the lent slot, the other
    // waits for it although the group's waiting bound is 0.
    let (a, b) = futures::join!(r30_nb_inner(1), r30_nb_inner(2));
    Ok((a?, b?))
}

/// README, "Reentrancy rule": "only one nested call at a time uses a
/// parent's slot; the others wait, in the queue, for a free slot or for
/// that slot to come back ... (a paused or closed pool or a full waiting
/// bound does not turn them away: they belong to admitted work ...)". Two
/// joined nested calls in a group of 1 with `max_waiting = 0`: both run.
#[test]
fn a_second_nested_call_waits_despite_a_waiting_bound_of_zero() {
    within(BOUND, || {
        let rt = common::multi_thread();
        assert_eq!(rt.block_on(r30_nb_outer()), Ok((1, 2)));
        let s = R30NestBound::POOL.stats();
        assert_eq!(s.rejected_total(), 0, "{s:?}");
    });
}

#[pooled::group(size = 1)]
/// A group paused from inside its own work.
pub struct R30NestPaused;

#[pooled::pooled(group = R30NestPaused)]
async fn r30_np_inner(n: u32) -> Result<u32, AppErr> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    Ok(n)
}

#[pooled::pooled(group = R30NestPaused)]
async fn r30_np_outer() -> Result<(u32, u32), AppErr> {
    R30NestPaused::POOL.pause();
    let (a, b) = futures::join!(r30_np_inner(1), r30_np_inner(2));
    R30NestPaused::POOL.resume();
    Ok((a?, b?))
}

/// README, "Reentrancy rule", as above: "a paused or closed pool ... does
/// not turn them away: they belong to admitted work". A call that pauses
/// its own group of 1 and then makes two nested calls at once: the one that
/// has to wait for the lent slot is not turned away.
#[test]
fn a_nested_call_waiting_for_the_lent_slot_is_not_turned_away_by_a_pause() {
    within(BOUND, || {
        let rt = common::multi_thread();
        let out = rt.block_on(r30_np_outer());
        R30NestPaused::POOL.resume();
        assert_eq!(out, Ok((1, 2)));
    });
}

#[pooled::group(size = 1)]
/// A group whose nested calls report the stats they see.
pub struct R30NestStats;

#[pooled::pooled(group = R30NestStats)]
fn r30_ns_inner() -> (usize, usize) {
    let s = R30NestStats::POOL.stats();
    (s.running, s.nested)
}

#[pooled::pooled(group = R30NestStats)]
fn r30_ns_outer() -> (usize, usize) {
    r30_ns_inner()
}

/// README, "Reentrancy rule": "A nested call counts in `Stats::nested`, not
/// in `running` (it shares a counted slot)." A sync call nested on its
/// parent's thread sees 1 running and 1 nested.
#[test]
fn a_nested_call_counts_in_nested_not_running() {
    assert_eq!(within(BOUND, r30_ns_outer), (1, 1));
    let s = R30NestStats::POOL.stats();
    assert_eq!((s.completed, s.running, s.nested), (2, 0, 0), "{s:?}");
}

#[pooled::group(size = 1)]
/// A group where a sync nested call meets an async one.
pub struct R30NestMixedJoin;

#[pooled::pooled(group = R30NestMixedJoin)]
async fn r30_nmj_async() -> u32 {
    tokio::time::sleep(Duration::from_millis(30)).await;
    1
}

#[pooled::pooled(group = R30NestMixedJoin)]
fn r30_nmj_sync() -> u32 {
    2
}

#[pooled::pooled(group = R30NestMixedJoin)]
async fn r30_nmj_outer() -> u32 {
    let (a, b) = futures::join!(r30_nmj_async(), async { r30_nmj_sync() });
    a + b
}

/// README, "Reentrancy rule": "A *sync* nested call that would have to wait
/// while the slot is lent to another nested call of the same task
/// (`join!(pool.submit(a), async { pool.run(b) })` in a full pool) cannot
/// park the thread that call needs: it panics naming the fix (await the
/// other call first, or make this one async) instead of deadlocking". The
/// same shape with annotated functions; the group is left clean.
#[test]
fn a_sync_nested_call_behind_a_lent_slot_panics_naming_the_fix() {
    within(BOUND, || {
        let rt = common::multi_thread();
        let out = rt.block_on(async { tokio::spawn(r30_nmj_outer()).await });
        let payload = out.expect_err("it panics").into_panic();
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        assert!(
            msg.contains("Await the other call first") && msg.contains("async"),
            "{msg}"
        );
        let s = R30NestMixedJoin::POOL.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
    });
}

#[pooled::group(size = 1)]
/// A group whose cancelled call's `Drop` calls it again.
pub struct R30DropCalls;

static DROP_CALLED: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(group = R30DropCalls)]
fn r30_dc_cleanup() {
    DROP_CALLED.fetch_add(1, SeqCst);
}

struct CallsOnDrop;

impl Drop for CallsOnDrop {
    fn drop(&mut self) {
        r30_dc_cleanup();
    }
}

#[pooled::pooled(group = R30DropCalls)]
async fn r30_dc_work() {
    let _guard = CallsOnDrop;
    std::future::pending::<()>().await;
}

/// README, "Reentrancy rule": "When a running call is cancelled, its work is
/// dropped under its slot, so a `Drop` that calls the same pool runs as a
/// nested call instead of waiting for a slot it holds itself." An annotated
/// call cancelled while it runs in a group of 1; its guard's `Drop` calls a
/// sync function of the group.
#[test]
fn a_cancelled_calls_drop_calling_its_group_runs_nested() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(async {
            let out = tokio::time::timeout(Duration::from_millis(30), r30_dc_work()).await;
            assert!(out.is_err());
        });
        assert_eq!(DROP_CALLED.load(SeqCst), 1);
        let s = R30DropCalls::POOL.stats();
        assert_eq!((s.running, s.nested, s.cancelled), (0, 0, 1), "{s:?}");
    });
}

static ALIAS_BODIES: Meter = Meter::new();

type AliasFut = Pin<Box<dyn Future<Output = u32> + Send>>;

#[pooled::pooled(size = 1)]
fn r30_aliased(n: u32) -> AliasFut {
    Box::pin(async move {
        let _inside = ALIAS_BODIES.enter();
        tokio::time::sleep(Duration::from_millis(20)).await;
        n
    })
}

/// README, "The attribute": "The attribute sees spelling, not types: a
/// future behind a type alias is taken for an ordinary value and runs
/// unthrottled, so spell the type out or use `async fn`." The documented
/// limit, as documented: 4 such futures at once on a pool of 1 all run
/// together.
#[test]
fn a_future_behind_a_type_alias_runs_unthrottled_as_documented() {
    within(BOUND, || {
        let rt = common::multi_thread();
        let outs = rt.block_on(futures::future::join_all((0..4).map(r30_aliased)));
        assert_eq!(outs, [0, 1, 2, 3]);
        assert_eq!(ALIAS_BODIES.peak(), 4);
        assert_eq!(
            R30_ALIASED_POOL.stats().completed,
            4,
            "the builds were calls"
        );
    });
}

#[pooled::pooled(
    kind = "autoscale",
    min = 1,
    max = 4,
    autoscale_interval = "100ms",
    autoscale_window = 5
)]
async fn r30_queue_depth() {
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// Attribute docs, "Autoscale policies": "`policy = "queue_depth"` (the
/// default): grow while calls queue"; keys: "`autoscale_interval` ... how
/// often an autoscale pool re-evaluates its size". 16 callers in a loop
/// for up to 10 s on a pool starting at 1: its limit grows, within `max`.
#[test]
fn a_queue_depth_pool_grows_while_calls_queue() {
    within(BOUND, || {
        let rt = common::multi_thread();
        assert_eq!(R30_QUEUE_DEPTH_POOL.size(), 1);
        rt.block_on(async {
            let start = Instant::now();
            while R30_QUEUE_DEPTH_POOL.size() < 2 && start.elapsed() < Duration::from_secs(10) {
                futures::future::join_all((0..16).map(|_| r30_queue_depth())).await;
            }
        });
        let size = R30_QUEUE_DEPTH_POOL.size();
        assert!((2..=4).contains(&size), "{size}");
    });
}

// ---------------------------------------------------------------------------
// Round 30, fourth part: the application-wide ceiling and nested calls
// across groups, the ceiling's wait bounded by a group's bounds, and an
// order changed by the environment under the attribute's weights.

#[pooled::group(size = 2)]
/// The outer group under a ceiling of 1.
pub struct R30CeilOuter;

#[pooled::group(size = 2)]
/// The inner group under a ceiling of 1.
pub struct R30CeilInner;

static CEIL_NEST_BODIES: Meter = Meter::new();

#[pooled::pooled(group = R30CeilInner)]
async fn r30_ci_async(n: u32) -> u32 {
    let _inside = CEIL_NEST_BODIES.enter();
    tokio::time::sleep(Duration::from_millis(2)).await;
    n + 1
}

#[pooled::pooled(group = R30CeilInner)]
fn r30_ci_sync(n: u32) -> u32 {
    let _inside = CEIL_NEST_BODIES.enter();
    n + 2
}

#[pooled::pooled(group = R30CeilOuter)]
async fn r30_co_async(n: u32) -> u32 {
    r30_ci_async(n).await * 10
}

#[pooled::pooled(group = R30CeilOuter, blocking)]
fn r30_co_blocking(n: u32) -> u32 {
    r30_ci_sync(n) * 100
}

#[pooled::pooled(group = R30CeilOuter)]
fn r30_co_sync(n: u32) -> u32 {
    r30_ci_sync(n) * 1000
}

/// README, "Configuration": "nested calls follow the reentrancy rule for
/// the ceiling too (one at a time under their parent's ceiling slot)".
/// Under `POOLED_CEILING=1`, calls of one group whose work calls another
/// group (async awaiting async, a `blocking` job calling a sync function, a
/// sync function calling one), from several callers at once: none
/// deadlocks, and the ceiling keeps one top-level call at a time.
#[test]
fn calls_nested_across_groups_run_under_their_parents_ceiling_slot() {
    common::in_own_process(
        "calls_nested_across_groups_run_under_their_parents_ceiling_slot",
        &[("POOLED_CEILING", "1")],
        || {
            within(BOUND, || {
                let rt = common::multi_thread();
                let threads: Vec<_> = (0..3)
                    .map(|n| std::thread::spawn(move || r30_co_sync(n)))
                    .collect();
                let (a, b) = rt.block_on(async {
                    let a =
                        futures::future::join_all((0..4).map(|n| tokio::spawn(r30_co_async(n))));
                    let b = futures::future::join_all((0..4).map(r30_co_blocking));
                    tokio::join!(a, b)
                });
                let a: Vec<u32> = a.into_iter().map(Result::unwrap).collect();
                assert_eq!(a, [10, 20, 30, 40]);
                assert_eq!(b, [200, 300, 400, 500]);
                for (n, t) in threads.into_iter().enumerate() {
                    assert_eq!(t.join().unwrap(), (n as u32 + 2) * 1000);
                }
                assert_eq!(pooled::ceiling::limit(), Some(1));
                assert_eq!(CEIL_NEST_BODIES.peak(), 1);
                let c = pooled::ceiling::stats().unwrap();
                assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
            });
        },
    );
}

#[pooled::group(size = 1)]
/// Holds the ceiling.
pub struct R30CeilHolder;

#[pooled::pooled(size = 4, max_waiting = 0)]
async fn r30_ceil_unbounded_wait() -> Result<u32, AppErr> {
    Ok(1)
}

#[pooled::pooled(size = 4, admission_timeout = "300ms")]
fn r30_ceil_timed() -> Result<u32, AppErr> {
    Ok(2)
}

#[pooled::pooled(size = 4)]
async fn r30_ceil_paused() -> Result<u32, AppErr> {
    Ok(3)
}

/// README, "Configuration": "a call its group turns away at once, paused or
/// closed, is turned away before it would wait for the ceiling, and a
/// group's `max_waiting = 0` and `admission_timeout` bound its calls' wait
/// for the ceiling as they bound their wait for the group's slot". Under
/// `POOLED_CEILING=1`, held by another group's permit: a call of a group
/// with `max_waiting = 0` is `Full` at once, one with a 300 ms timeout is
/// `TimedOut` after about that, a paused group's call is `Paused` at once;
/// all succeed once the ceiling frees.
#[test]
fn a_groups_bounds_bound_its_calls_wait_for_the_ceiling() {
    common::in_own_process(
        "a_groups_bounds_bound_its_calls_wait_for_the_ceiling",
        &[("POOLED_CEILING", "1")],
        || {
            within(BOUND, || {
                let held = R30CeilHolder::POOL.try_acquire_owned(0).unwrap();
                assert_eq!(pooled::ceiling::limit(), Some(1));
                let start = Instant::now();
                assert_eq!(
                    futures::executor::block_on(r30_ceil_unbounded_wait()),
                    Err(AppErr::Busy(Rejected::Full))
                );
                R30_CEIL_PAUSED_POOL.pause();
                assert_eq!(
                    futures::executor::block_on(r30_ceil_paused()),
                    Err(AppErr::Busy(Rejected::Paused))
                );
                assert!(start.elapsed() < Duration::from_secs(5));
                let start = Instant::now();
                assert_eq!(r30_ceil_timed(), Err(AppErr::Busy(Rejected::TimedOut)));
                let waited = start.elapsed();
                assert!(
                    waited >= Duration::from_millis(250) && waited < Duration::from_secs(10),
                    "{waited:?}"
                );
                drop(held);
                R30_CEIL_PAUSED_POOL.resume();
                assert_eq!(
                    futures::executor::block_on(r30_ceil_unbounded_wait()),
                    Ok(1)
                );
                assert_eq!(r30_ceil_timed(), Ok(2));
                assert_eq!(futures::executor::block_on(r30_ceil_paused()), Ok(3));
                let c = pooled::ceiling::stats().unwrap();
                assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
            });
        },
    );
}

#[pooled::group(order = "priority", size = 1, name = "r30::reordered")]
/// A priority group the environment makes FIFO.
pub struct R30Reordered;

static REORDERED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[pooled::pooled(group = R30Reordered, weight = 50)]
async fn r30_reordered_batch(label: &'static str) {
    REORDERED.lock().unwrap().push(label);
}

#[pooled::pooled(group = R30Reordered)]
async fn r30_reordered_param(#[weight] _w: i64, label: &'static str) {
    REORDERED.lock().unwrap().push(label);
}

/// README, "How it works": "**Weights** order priority pools; FIFO and LIFO
/// pools accept and ignore them, so a call site keeps working when
/// configuration changes a group's order." A group declared priority, with
/// constant and parameter weights, made FIFO by `POOLED_R30__REORDERED_ORDER`:
/// its queued calls run in arrival order.
#[test]
fn weights_are_ignored_when_the_environment_makes_a_group_fifo() {
    common::in_own_process(
        "weights_are_ignored_when_the_environment_makes_a_group_fifo",
        &[("POOLED_R30__REORDERED_ORDER", "fifo")],
        || {
            within(BOUND, || {
                let rt = common::multi_thread();
                assert_eq!(R30Reordered::POOL.settings().order, pooled::Order::Fifo);
                let held = R30Reordered::POOL.try_acquire_owned(0).unwrap();
                let mut tasks = Vec::new();
                let calls: [(&'static str, Option<i64>); 4] = [
                    ("batch50", None),
                    ("param9", Some(9)),
                    ("param-9", Some(-9)),
                    ("param0", Some(0)),
                ];
                for (n, (label, weight)) in calls.into_iter().enumerate() {
                    tasks.push(match weight {
                        None => rt.spawn(r30_reordered_batch(label)),
                        Some(w) => rt.spawn(r30_reordered_param(w, label)),
                    });
                    wait_until("the call queues", || {
                        R30Reordered::POOL.stats().waiting == n + 1
                    });
                }
                drop(held);
                rt.block_on(async {
                    for t in tasks {
                        t.await.unwrap();
                    }
                });
                assert_eq!(
                    *REORDERED.lock().unwrap(),
                    ["batch50", "param9", "param-9", "param0"]
                );
            });
        },
    );
}

// ---------------------------------------------------------------------------
// Round 30, fifth part: when a call is counted, what starts a pool, a
// nested call that outlives its parent, and what a dropped call gives back
// before its arguments are dropped.

#[pooled::pooled(size = 1)]
fn r30_counted_at_poll(n: u32) -> impl Future<Output = u32> + Send {
    async move { n }
}

/// README, "Accounting": "A call is submitted when it is first polled";
/// attribute docs: a function returning a future "runs the body at once,
/// without a slot, to build the future". Built but not yet polled, the call
/// is in no counter; awaited, it is submitted and completed.
#[test]
fn a_returned_future_is_submitted_at_its_first_poll() {
    let fut = r30_counted_at_poll(4);
    let s = R30_COUNTED_AT_POLL_POOL.stats();
    assert_eq!((s.submitted(), s.running, s.waiting), (0, 0, 0), "{s:?}");
    assert_eq!(futures::executor::block_on(fut), 4);
    let s = R30_COUNTED_AT_POLL_POOL.stats();
    assert_eq!((s.submitted(), s.completed), (1, 1), "{s:?}");
}

#[pooled::pooled(size = 1)]
fn r30_started_by_a_read() {}

/// `Group` docs: "Every method that reaches the pool is a use, reading ones
/// included (`stats`, `size`, `is_paused`) ... To look without starting it,
/// use `is_started`, `settings` or `groups`"; `groups`: "sorted by name".
#[test]
fn reading_a_handles_stats_starts_its_pool_and_groups_are_sorted() {
    let _used: fn() = r30_started_by_a_read;
    assert!(!R30_STARTED_BY_A_READ_POOL.is_started());
    let names: Vec<&str> = pooled::groups().iter().map(|g| g.name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    assert!(
        !R30_STARTED_BY_A_READ_POOL.is_started(),
        "listing starts nothing"
    );
    assert_eq!(R30_STARTED_BY_A_READ_POOL.stats().size, 1);
    assert!(R30_STARTED_BY_A_READ_POOL.is_started());
}

#[pooled::group(size = 1)]
/// A group whose nested call outlives its parent.
pub struct R30Outlives;

static OUTLIVES_ORDER: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[pooled::pooled(group = R30Outlives)]
async fn r30_ol_child() {
    OUTLIVES_ORDER.lock().unwrap().push("child starts");
    tokio::time::sleep(Duration::from_millis(150)).await;
    OUTLIVES_ORDER.lock().unwrap().push("child ends");
}

#[pooled::pooled(group = R30Outlives)]
async fn r30_ol_other() {
    OUTLIVES_ORDER.lock().unwrap().push("other runs");
}

#[pooled::pooled(group = R30Outlives)]
#[allow(clippy::async_yields_async)] // the point: a call returned out of its parent
async fn r30_ol_parent() -> BoxFuture<'static, ()> {
    let mut child: BoxFuture<'static, ()> = Box::pin(r30_ol_child());
    // Polled once within the parent: a nested call, under the lent slot.
    assert!(futures::poll!(child.as_mut()).is_pending());
    child
}

/// README, "Reentrancy rule": "only **while the parent holds it**: a nested
/// call that outlives its parent (a future returned out of the work ...)
/// keeps the slot busy until it ends, and releases it then". A group of 1:
/// a nested call first polled in its parent and returned out of it; a new
/// call made after the parent ended waits until the child ends.
#[test]
fn a_nested_call_returned_out_of_its_parent_keeps_the_slot_until_it_ends() {
    within(BOUND, || {
        let rt = common::multi_thread();
        rt.block_on(async {
            let child = r30_ol_parent().await;
            let child = tokio::spawn(child);
            let other = tokio::spawn(r30_ol_other());
            tokio::time::sleep(Duration::from_millis(30)).await;
            child.await.unwrap();
            other.await.unwrap();
        });
        assert_eq!(
            *OUTLIVES_ORDER.lock().unwrap(),
            ["child starts", "child ends", "other runs"]
        );
        let s = R30Outlives::POOL.stats();
        assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
    });
}

#[pooled::group(size = 1)]
/// The group a dropped call waits for.
pub struct R30DropWaits;

#[pooled::group(size = 1)]
/// The group a dropped call's argument calls.
pub struct R30DropCallee;

static DROP_ARG_CALLED: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(group = R30DropCallee)]
fn r30_dw_callee() {
    DROP_ARG_CALLED.fetch_add(1, SeqCst);
}

struct CallsAGroupOnDrop;

impl Drop for CallsAGroupOnDrop {
    fn drop(&mut self) {
        r30_dw_callee();
    }
}

#[pooled::pooled(group = R30DropWaits)]
async fn r30_dw_waiting(_arg: CallsAGroupOnDrop) {}

/// README, "Configuration": "A call dropped or turned away gives its slots
/// (its group's, the ceiling's, a fleet lease) back before its work,
/// closure or arguments are dropped, so their `Drop` may call a group."
/// Under `POOLED_CEILING=2`, one ceiling slot held by a permit of its group:
/// a call waiting for that group's slot holds the other ceiling slot; it is
/// dropped, and its argument's `Drop` calls another group, which needs a
/// ceiling slot.
#[test]
fn a_dropped_waiting_call_gives_back_its_ceiling_slot_before_its_arguments_drop() {
    common::in_own_process(
        "a_dropped_waiting_call_gives_back_its_ceiling_slot_before_its_arguments_drop",
        &[("POOLED_CEILING", "2")],
        || {
            within(Duration::from_secs(20), || {
                let rt = common::multi_thread();
                let held = R30DropWaits::POOL.try_acquire_owned(0).unwrap();
                rt.block_on(async {
                    let out = tokio::time::timeout(
                        Duration::from_millis(50),
                        r30_dw_waiting(CallsAGroupOnDrop),
                    )
                    .await;
                    assert!(out.is_err(), "it waited");
                });
                assert_eq!(DROP_ARG_CALLED.load(SeqCst), 1);
                drop(held);
                let c = pooled::ceiling::stats().unwrap();
                assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
            });
        },
    );
}

// ---------------------------------------------------------------------------
// Round 30, sixth part: shutdown of an attribute pool with never-rejecting
// and rejecting calls waiting, and sync barging under a pause.

static SHUTDOWN_RAN: AtomicUsize = AtomicUsize::new(0);

#[pooled::group(size = 1)]
/// A group shut down with calls waiting.
pub struct R30Shutdown;

#[pooled::pooled(group = R30Shutdown)]
async fn r30_sd_plain() {
    SHUTDOWN_RAN.fetch_add(1, SeqCst);
}

#[pooled::pooled(group = R30Shutdown)]
async fn r30_sd_result() -> Result<(), AppErr> {
    SHUTDOWN_RAN.fetch_add(100, SeqCst);
    Ok(())
}

/// `Pool::shutdown`: "With a `timeout`, it returns by the deadline whatever
/// the calls do: ... the calls still waiting are turned away (like `abort`:
/// a group's never-rejecting calls excepted, which wait on), the ones still
/// running are left to finish ..., and the error says how many of each";
/// `ShutdownTimedOut::waiting`: "the `#[pooled]` functions that cannot
/// return an error ... run, in order, once slots free". A group of 1 held
/// by a permit, one plain and one `Result` call waiting: the shutdown
/// returns by its 200 ms deadline, the `Result` call is turned away
/// `Closed`, the plain one runs once the permit is dropped.
#[test]
fn shutting_down_an_attribute_group_turns_away_only_the_calls_that_can_be_told_no() {
    within(BOUND, || {
        let rt = common::multi_thread();
        let held = R30Shutdown::POOL.try_acquire_owned(0).unwrap();
        let plain = rt.spawn(r30_sd_plain());
        wait_until("queued", || R30Shutdown::POOL.stats().waiting == 1);
        let result = rt.spawn(r30_sd_result());
        wait_until("queued", || R30Shutdown::POOL.stats().waiting == 2);
        let start = Instant::now();
        let err = rt
            .block_on(
                R30Shutdown::POOL
                    .pool()
                    .shutdown(Some(Duration::from_millis(200))),
            )
            .unwrap_err();
        let took = start.elapsed();
        assert!(took < Duration::from_secs(10), "{took:?}");
        assert_eq!(
            (err.running, err.turned_away, err.waiting),
            (1, 1, 1),
            "{err}"
        );
        assert_eq!(
            rt.block_on(result).unwrap(),
            Err(AppErr::Busy(Rejected::Closed))
        );
        assert!(!plain.is_finished());
        drop(held);
        rt.block_on(plain).unwrap();
        assert_eq!(SHUTDOWN_RAN.load(SeqCst), 1);
    });
}

#[pooled::pooled(size = 1, sync_barging = "5s")]
fn r30_barging_paused() -> Result<u32, AppErr> {
    Ok(6)
}

/// README, "Many sync callers on few slots": with `sync_barging`, "callers
/// outside the queue count as waiting (a pause or a close leaves them
/// waiting, as queued calls)". A caller waiting outside the queue of a
/// `sync_barging = "5s"` function when its pool is paused is counted as
/// waiting, is not turned away, and runs after `resume` and the slot's
/// release; a new call during the pause is `Paused`.
#[test]
fn a_barging_sync_caller_is_left_waiting_by_a_pause() {
    within(BOUND, || {
        let pool = R30_BARGING_PAUSED_POOL;
        let held = pool.try_acquire_owned(0).unwrap();
        let caller = std::thread::spawn(r30_barging_paused);
        wait_until("the caller waits", || pool.stats().waiting == 1);
        pool.pause();
        assert_eq!(r30_barging_paused(), Err(AppErr::Busy(Rejected::Paused)));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!caller.is_finished());
        assert_eq!(pool.stats().waiting, 1);
        pool.resume();
        drop(held);
        assert_eq!(caller.join().unwrap(), Ok(6));
        assert_eq!(pool.stats().rejected_for(Rejected::Paused), 1);
    });
}

#[pooled::group(kind = "autoscale", policy = "adaptive", min = 1, max = 64, size = 32)]
/// An adaptive group judged through `#[async_trait]` methods.
pub struct R30AdaptiveTrait;

#[async_trait::async_trait]
trait Backend {
    async fn query(&self) -> Result<u32, AppErr>;
}

struct Overrun;

#[async_trait::async_trait]
impl Backend for Overrun {
    #[pooled::pooled(group = R30AdaptiveTrait, overload = is_overloaded)]
    async fn query(&self) -> Result<u32, AppErr> {
        tokio::time::sleep(Duration::from_millis(3)).await;
        Err(AppErr::Overloaded)
    }
}

/// Attribute docs, "Functions that return a future": "`overload` applies as
/// on an `async fn`", and `#[pooled]` "inside an `#[async_trait]` impl sees
/// the method after that rewrite"; "Next to `group`, ... `overload` is
/// accepted there". An adaptive group starting at 32 whose every call,
/// made through an `#[async_trait]` method, is an overload: its limit is
/// cut below 32.
#[test]
fn overload_verdicts_through_async_trait_methods_cut_an_adaptive_group() {
    within(BOUND, || {
        let rt = common::multi_thread();
        assert_eq!(R30AdaptiveTrait::POOL.size(), 32);
        rt.block_on(async {
            let start = Instant::now();
            while R30AdaptiveTrait::POOL.size() >= 32 && start.elapsed() < Duration::from_secs(20) {
                let outs = futures::future::join_all((0..64).map(|_| Overrun.query())).await;
                assert!(outs.iter().all(|o| *o == Err(AppErr::Overloaded)));
            }
        });
        let size = R30AdaptiveTrait::POOL.size();
        assert!((1..32).contains(&size), "limit not cut: {size}");
    });
}
