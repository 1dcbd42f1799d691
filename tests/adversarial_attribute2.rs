//! Hostile acceptance tests of `#[pooled]`, round 2: every shape of function
//! the attribute promises to support (borrowed, `mut` and pattern arguments,
//! generics, `impl Trait`, `where` clauses, lifetimes, every receiver, trait
//! impls, `unsafe fn`, blocking functions, weights, group handles, the
//! adaptive `overload` key), each called unchanged and its limit counted from
//! outside the library: a meter in the body records the most calls at once.

mod common;
use common::Meter;
use std::error::Error;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pooled::Rejected;

const BOUND: Duration = Duration::from_secs(10);

/// Runs `calls` sync calls from as many threads at once, within `BOUND`.
fn threads<T: Send + 'static>(
    calls: usize,
    call: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let call = &call;
        let out: Vec<T> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..calls).map(|i| s.spawn(move || call(i))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let _ = tx.send(out);
    });
    rx.recv_timeout(BOUND).expect("the calls finish in time")
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f).await.expect("no hang")
}

// ---------------------------------------------------------------------------
// Arguments: borrowed, `&mut`, `mut`, patterns.

static PATTERNS: Meter = Meter::new();

struct Point {
    x: u32,
    y: u32,
}

#[pooled::pooled(size = 2)]
fn patterns(
    log: &Mutex<Vec<u32>>,
    out: &mut u32,
    mut n: u32,
    (a, b): (u32, u32),
    Point { x, .. }: Point,
    [first, ..]: [u32; 3],
    _: u8,
) -> u32 {
    let _inside = PATTERNS.enter();
    std::thread::sleep(Duration::from_millis(5));
    n += a + b + x + first;
    *out = n;
    log.lock().unwrap().push(n);
    n
}

#[test]
fn borrowed_mut_and_pattern_arguments_are_throttled_and_callers_unchanged() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let shared = log.clone();
    let sums = threads(8, move |i| {
        let mut out = 0;
        let i = i as u32;
        let got = patterns(
            &shared,
            &mut out,
            i,
            (1, 2),
            Point { x: 3, y: 99 },
            [4, 5, 6],
            0,
        );
        assert_eq!(got, out);
        got
    });
    assert_eq!(sums, (0..8).map(|i| i + 10).collect::<Vec<_>>());
    assert_eq!(log.lock().unwrap().len(), 8);
    assert_eq!(PATTERNS.peak(), 2, "saturated, never exceeded");
    let _ = Point { x: 0, y: 0 }.y;
}

// ---------------------------------------------------------------------------
// Generics, `impl Trait`, `where` clauses, lifetimes.

static GENERIC: Meter = Meter::new();

#[pooled::pooled(size = 2)]
async fn generic<'a, T, const N: usize>(
    label: &'a T,
    extra: impl Into<u64>,
    _arr: [u8; N],
) -> &'a str
where
    T: AsRef<str> + ?Sized + Sync,
{
    let _inside = GENERIC.enter();
    tokio::time::sleep(Duration::from_millis(3)).await;
    let _ = extra.into();
    label.as_ref()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_fn_has_one_pool_and_one_limit_for_all_instantiations() {
    static LABEL: &str = "label";
    static OWNED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| "owned".to_owned());
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            tokio::spawn(async move {
                // Three instantiations, one pool.
                match i % 3 {
                    0 => generic::<str, 1>(LABEL, 1u8, [0]).await.len(),
                    1 => generic(&*OWNED, 2u32, [0, 1]).await.len(),
                    _ => generic::<&str, 0>(&LABEL, 3u64, []).await.len(),
                }
            })
        })
        .collect();
    let lens = bounded(futures::future::join_all(tasks)).await;
    assert!(lens.into_iter().all(|l| matches!(l.unwrap(), 5)));
    assert_eq!(GENERIC.peak(), 2, "one limit for every instantiation");
    assert_eq!(GENERIC_POOL.stats().completed, 12);
}

// ---------------------------------------------------------------------------
// Receivers: `self`, `&self`, `&mut self`, `self: Arc<Self>`; inherent
// methods of a generic impl; a trait-impl method (sync and async).

static RECEIVERS: Meter = Meter::new();

#[pooled::group(size = 2)]
struct Receivers;

#[derive(Clone)]
struct Account<T> {
    id: T,
}

impl<T: Clone + Send + Sync + 'static> Account<T> {
    #[pooled::pooled(group = Receivers)]
    fn by_ref(&self) -> T {
        let _inside = RECEIVERS.enter();
        std::thread::sleep(Duration::from_millis(3));
        self.id.clone()
    }

    #[pooled::pooled(group = Receivers)]
    async fn by_mut(&mut self, id: T) -> T {
        let _inside = RECEIVERS.enter();
        tokio::time::sleep(Duration::from_millis(3)).await;
        std::mem::replace(&mut self.id, id)
    }

    #[pooled::pooled(group = Receivers)]
    async fn by_arc(self: Arc<Self>) -> T {
        let _inside = RECEIVERS.enter();
        tokio::time::sleep(Duration::from_millis(3)).await;
        self.id.clone()
    }

    #[pooled::pooled(group = Receivers)]
    fn by_value(self) -> T {
        let _inside = RECEIVERS.enter();
        std::thread::sleep(Duration::from_millis(3));
        self.id
    }

    #[pooled::pooled(group = Receivers, blocking)]
    fn blocking_arc(self: Arc<Self>) -> T {
        let _inside = RECEIVERS.enter();
        std::thread::sleep(Duration::from_millis(3));
        self.id.clone()
    }
}

trait Ledger {
    fn balance(&self) -> u64;
    async fn post(&self, cents: u64) -> Result<u64, io::Error>;
}

impl Ledger for Account<u64> {
    #[pooled::pooled(group = Receivers)]
    fn balance(&self) -> u64 {
        let _inside = RECEIVERS.enter();
        std::thread::sleep(Duration::from_millis(3));
        self.id
    }

    #[pooled::pooled(group = Receivers)]
    async fn post(&self, cents: u64) -> Result<u64, io::Error> {
        let _inside = RECEIVERS.enter();
        tokio::time::sleep(Duration::from_millis(3)).await;
        Ok(self.id + cents)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn every_receiver_and_trait_impl_method_shares_the_groups_limit() {
    let tasks: Vec<_> = (0..30u64)
        .map(|i| {
            tokio::spawn(async move {
                let account = Account { id: i };
                match i % 6 {
                    0 => account.by_ref(),
                    1 => account.clone().by_mut(i + 1).await,
                    2 => Arc::new(account).by_arc().await,
                    3 => account.by_value(),
                    4 => Arc::new(account).blocking_arc().await,
                    _ => account.balance() + account.post(0).await.unwrap() - i,
                }
            })
        })
        .collect();
    let ids = bounded(futures::future::join_all(tasks)).await;
    let ids: Vec<u64> = ids.into_iter().map(Result::unwrap).collect();
    assert_eq!(ids, (0..30).collect::<Vec<_>>());
    assert_eq!(
        RECEIVERS.peak(),
        2,
        "every receiver counts against the group"
    );
    // 30 calls, and one more `post` for each sixth.
    assert_eq!(Receivers::POOL.stats().completed, 35);
}

// ---------------------------------------------------------------------------
// `unsafe fn`, attributes and docs.

static UNSAFE: Meter = Meter::new();

/// Reads through a raw pointer.
///
/// # Safety
///
/// `ptr` must be valid for reads.
#[inline]
#[pooled::pooled(size = 1)]
#[must_use]
unsafe fn read_raw(ptr: *const u64) -> u64 {
    let _inside = UNSAFE.enter();
    std::thread::sleep(Duration::from_millis(2));
    // SAFETY: the caller's promise.
    unsafe { *ptr }
}

#[test]
fn unsafe_fns_are_throttled() {
    let got = threads(6, |i| {
        let value = i as u64;
        // SAFETY: `value` lives across the call.
        unsafe { read_raw(&value) }
    });
    assert_eq!(got, (0..6).collect::<Vec<_>>());
    assert_eq!(UNSAFE.peak(), 1);
}

// ---------------------------------------------------------------------------
// Rejections through `io::Error`, `Box<dyn Error>`, `Box<dyn Error + Send +
// Sync>` and `Rejected`; each carries the documented `Rejected`.

#[pooled::pooled(size = 1)]
fn io_result() -> io::Result<u8> {
    Ok(1)
}

#[pooled::pooled(size = 1, max_waiting = 0)]
fn io_full() -> io::Result<u8> {
    Ok(1)
}

#[pooled::pooled(size = 1)]
async fn boxed_error() -> Result<u8, Box<dyn Error>> {
    Ok(2)
}

#[pooled::pooled(size = 1, admission_timeout = "20ms")]
async fn boxed_send_error(
    hold: Option<Arc<tokio::sync::Notify>>,
) -> Result<u8, Box<dyn Error + Send + Sync>> {
    if let Some(hold) = hold {
        hold.notified().await;
    }
    Ok(3)
}

#[pooled::pooled(size = 1, blocking)]
fn blocking_rejected() -> Result<u8, Rejected> {
    Ok(4)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_come_back_as_the_documented_values() {
    // Paused: `io::Error` of kind `Other` wrapping `Rejected::Paused`.
    IO_RESULT_POOL.pause();
    let err = io_result().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Other);
    assert_eq!(
        err.get_ref().and_then(|e| e.downcast_ref::<Rejected>()),
        Some(&Rejected::Paused)
    );
    IO_RESULT_POOL.resume();
    assert_eq!(io_result().unwrap(), 1);

    BOXED_ERROR_POOL.pause();
    let err = boxed_error().await.unwrap_err();
    assert_eq!(err.downcast_ref::<Rejected>(), Some(&Rejected::Paused));
    BOXED_ERROR_POOL.resume();
    assert_eq!(boxed_error().await.unwrap(), 2);

    // Timed out: a call waiting behind a held slot past 20 ms.
    let hold = Arc::new(tokio::sync::Notify::new());
    let holder = tokio::spawn(boxed_send_error(Some(hold.clone())));
    while BOXED_SEND_ERROR_POOL.stats().running == 0 {
        tokio::task::yield_now().await;
    }
    let err = bounded(boxed_send_error(None)).await.unwrap_err();
    assert_eq!(err.downcast_ref::<Rejected>(), Some(&Rejected::TimedOut));
    hold.notify_one();
    assert_eq!(bounded(holder).await.unwrap().unwrap(), 3);

    BLOCKING_REJECTED_POOL.pause();
    assert_eq!(blocking_rejected().await, Err(Rejected::Paused));
    BLOCKING_REJECTED_POOL.resume();
    assert_eq!(blocking_rejected().await, Ok(4));
}

#[test]
fn full_comes_back_as_would_block() {
    // max_waiting = 0: a call that would wait is turned away as `Full`.
    let (entered, release) = (
        Arc::new(std::sync::Barrier::new(2)),
        Arc::new(std::sync::Barrier::new(2)),
    );
    let (e, r) = (entered.clone(), release.clone());
    let holder = std::thread::spawn(move || {
        IO_FULL_POOL
            .run(|| {
                e.wait();
                r.wait();
            })
            .unwrap();
    });
    entered.wait();
    let err = io_full().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    assert_eq!(
        err.get_ref().and_then(|e| e.downcast_ref::<Rejected>()),
        Some(&Rejected::Full)
    );
    release.wait();
    holder.join().unwrap();
}

// ---------------------------------------------------------------------------
// Weights: `#[weight]` of every integer width saturates into i64; a weight
// expression over arguments that the body then moves.

#[pooled::group(order = "priority", size = 1)]
struct Ranked;

static ORDER: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[pooled::pooled(group = Ranked)]
async fn ranked_u128(#[weight] w: u128, label: &'static str) {
    let _ = w;
    ORDER.lock().unwrap().push(label);
}

#[pooled::pooled(group = Ranked)]
async fn ranked_i8(#[weight] w: i8, label: &'static str) {
    let _ = w;
    ORDER.lock().unwrap().push(label);
}

#[pooled::pooled(group = Ranked, weight = job.len() as i64)]
async fn ranked_expr(job: Vec<u8>, label: &'static str) {
    drop(job); // moved by the body after the weight was taken
    ORDER.lock().unwrap().push(label);
}

#[pooled::pooled(group = Ranked, weight = i64::MIN)]
fn ranked_min_sync(label: &'static str) {
    ORDER.lock().unwrap().push(label);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_of_every_width_order_the_queue_and_saturate() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let g = gate.clone();
    let holder = tokio::spawn(Ranked::POOL.submit(0, async move { g.notified().await }));
    while Ranked::POOL.stats().running == 0 {
        tokio::task::yield_now().await;
    }
    let waiting = |n: usize| async move {
        while Ranked::POOL.stats().waiting < n {
            tokio::task::yield_now().await;
        }
    };
    let mut tasks = Vec::new();
    // Queued in this order; admitted by weight, ties by arrival.
    tasks.push(tokio::spawn(ranked_u128(
        u128::MAX,
        "u128::MAX (saturates to i64::MAX)",
    )));
    bounded(waiting(1)).await;
    tasks.push(tokio::spawn(ranked_i8(i8::MIN, "i8::MIN")));
    bounded(waiting(2)).await;
    tasks.push(tokio::spawn(ranked_expr(vec![0; 5], "len 5")));
    bounded(waiting(3)).await;
    tasks.push(tokio::spawn(ranked_u128(
        u128::from(u64::MAX),
        "u64::MAX (saturates too)",
    )));
    bounded(waiting(4)).await;
    tasks.push(tokio::spawn(async { ranked_min_sync("i64::MIN, sync") }));
    bounded(waiting(5)).await;
    tasks.push(tokio::spawn(ranked_expr(Vec::new(), "len 0")));
    bounded(waiting(6)).await;
    gate.notify_one();
    bounded(holder).await.unwrap().unwrap();
    for task in tasks {
        bounded(task).await.unwrap();
    }
    assert_eq!(
        *ORDER.lock().unwrap(),
        [
            "i64::MIN, sync",
            "i8::MIN",
            "len 0",
            "len 5",
            "u128::MAX (saturates to i64::MAX)",
            "u64::MAX (saturates too)",
        ]
    );
}

// ---------------------------------------------------------------------------
// Group handles: `scale`, `pause`, `resume`, `is_paused`, `size`, `stats`,
// with the limit counted from outside after each change.

#[pooled::group(size = 3)]
struct Handled;

static HANDLED: Meter = Meter::new();
static HANDLED_AFTER: Meter = Meter::new();

#[pooled::pooled(group = Handled)]
fn handled(after: bool) -> Result<u8, Rejected> {
    let _inside = if after {
        HANDLED_AFTER.enter()
    } else {
        HANDLED.enter()
    };
    std::thread::sleep(Duration::from_millis(3));
    Ok(1)
}

#[test]
fn a_groups_handle_scales_pauses_and_reports_and_the_limit_follows() {
    assert_eq!(Handled::POOL.size(), 3);
    let ok = threads(9, |_| handled(false))
        .into_iter()
        .filter(Result::is_ok)
        .count();
    assert_eq!(ok, 9);
    assert_eq!(HANDLED.peak(), 3);
    assert_eq!(Handled::POOL.scale(-2), 1);
    assert_eq!(Handled::POOL.size(), 1);
    threads(6, |_| handled(true).unwrap());
    assert_eq!(HANDLED_AFTER.peak(), 1, "the scaled-down limit holds");
    Handled::POOL.pause();
    assert!(Handled::POOL.is_paused());
    assert_eq!(handled(true), Err(Rejected::Paused));
    Handled::POOL.resume();
    assert!(!Handled::POOL.is_paused());
    let stats = Handled::POOL.stats();
    assert_eq!(
        (stats.completed, stats.rejected_for(Rejected::Paused)),
        (15, 1)
    );
    assert_eq!(stats.running + stats.waiting, 0);
}

// ---------------------------------------------------------------------------
// The adaptive policy with `overload`: whatever the policy decides, the
// limit it sets is never exceeded, and `max` bounds it.

#[derive(Debug)]
enum ApiError {
    Overloaded,
    Busy(Rejected),
}

impl From<Rejected> for ApiError {
    fn from(r: Rejected) -> Self {
        ApiError::Busy(r)
    }
}

fn is_overloaded(e: &ApiError) -> bool {
    matches!(e, ApiError::Overloaded)
}

static ADAPTIVE: Meter = Meter::new();
static ADAPTIVE_VIOLATIONS: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(kind = "autoscale", policy = "adaptive", min = 1, max = 4, overload = is_overloaded)]
async fn adaptive(i: u32) -> Result<u32, ApiError> {
    let _inside = ADAPTIVE.enter();
    if ADAPTIVE.now() > 4 {
        ADAPTIVE_VIOLATIONS.fetch_add(1, Ordering::SeqCst);
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    if i % 3 == 0 {
        Err(ApiError::Overloaded)
    } else {
        Ok(i)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adaptive_pool_with_overload_never_exceeds_max() {
    let tasks: Vec<_> = (0..200).map(|i| tokio::spawn(adaptive(i))).collect();
    let results = bounded(futures::future::join_all(tasks)).await;
    let mut overloaded = 0;
    for r in results {
        match r.unwrap() {
            Ok(_) => {}
            Err(ApiError::Overloaded) => overloaded += 1,
            Err(ApiError::Busy(r)) => panic!("rejected: {r}"),
        }
    }
    assert_eq!(overloaded, 67);
    assert!(ADAPTIVE.peak() <= 4, "peak {}", ADAPTIVE.peak());
    assert_eq!(ADAPTIVE_VIOLATIONS.load(Ordering::SeqCst), 0);
    let size = ADAPTIVE_POOL.size();
    assert!((1..=4).contains(&size), "{size}");
    assert_eq!(ADAPTIVE_POOL.stats().completed, 200);
}

// ---------------------------------------------------------------------------
// A free function whose body declares a local type with its own `impl`
// mentioning `Self` is still a free function: its handle is a module const.

static LOCAL_TYPE: Meter = Meter::new();

#[pooled::pooled(size = 1)]
fn with_local_type(n: u32) -> u32 {
    struct Guard(u32);
    impl Guard {
        fn new(n: u32) -> Self {
            Guard(n)
        }
    }
    let _inside = LOCAL_TYPE.enter();
    std::thread::sleep(Duration::from_millis(2));
    Guard::new(n).0
}

#[test]
fn a_free_fn_with_a_local_impl_mentioning_self_keeps_a_module_handle() {
    assert_eq!(threads(4, |i| with_local_type(i as u32)), [0, 1, 2, 3]);
    assert_eq!(LOCAL_TYPE.peak(), 1);
    assert_eq!(WITH_LOCAL_TYPE_POOL.stats().completed, 4);
}
