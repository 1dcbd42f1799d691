//! `#[pooled]` on a sync function that returns a future (`impl Future`,
//! `Pin<Box<dyn Future>>`, `BoxFuture`, `LocalBoxFuture`) holds the slot until
//! the returned future completes, not only while the body builds it.
//!
//! Concurrency is counted from outside the library: the returned future's own
//! work enters and leaves a counter that records the most calls at once.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, LocalBoxFuture};
use pooled::Rejected;

const BOUND: Duration = Duration::from_secs(20);

/// Counts calls inside the returned futures and remembers the most at once,
/// and the order in which calls entered and left.
struct Concurrency {
    now: AtomicUsize,
    peak: AtomicUsize,
    events: Mutex<Vec<(usize, &'static str)>>,
}

impl Concurrency {
    const fn new() -> Concurrency {
        Concurrency {
            now: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            events: Mutex::new(Vec::new()),
        }
    }

    fn enter(&self, id: usize) {
        self.events.lock().unwrap().push((id, "enter"));
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }

    fn exit(&self, id: usize) {
        self.now.fetch_sub(1, Ordering::SeqCst);
        self.events.lock().unwrap().push((id, "exit"));
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// The work of one call: enter, yield to the runtime a few times (so other
    /// calls would run now if they were admitted), leave.
    async fn work(&self, id: usize) -> usize {
        self.enter(id);
        tokio::time::sleep(Duration::from_millis(2)).await;
        tokio::task::yield_now().await;
        self.exit(id);
        id
    }

    /// Asserts that the calls ran one at a time, in the given order: each
    /// entered only after the previous one left.
    fn assert_serialised(&self, order: &[usize]) {
        let events = self.events.lock().unwrap().clone();
        let expected: Vec<(usize, &str)> = order
            .iter()
            .flat_map(|&id| [(id, "enter"), (id, "exit")])
            .collect();
        assert_eq!(
            events, expected,
            "one call at a time, first come first served"
        );
        assert_eq!(self.peak(), 1);
    }
}

/// Four calls, polled in order by one task, through a pool of one slot.
async fn four_calls<F: Future<Output = usize>>(call: impl Fn(usize) -> F) -> Vec<usize> {
    let calls = futures::future::join_all((0..4).map(call));
    tokio::time::timeout(BOUND, calls)
        .await
        .expect("calls finish")
}

static IMPL: Concurrency = Concurrency::new();

#[pooled::pooled(size = 1)]
fn impl_future(id: usize) -> impl Future<Output = usize> {
    IMPL.work(id)
}

#[tokio::test]
async fn impl_future_holds_the_slot_until_the_future_completes() {
    assert_eq!(four_calls(impl_future).await, [0, 1, 2, 3]);
    IMPL.assert_serialised(&[0, 1, 2, 3]);
    assert_eq!(IMPL_FUTURE_POOL.stats().completed, 4);
}

static IMPL_SEND: Concurrency = Concurrency::new();

#[pooled::pooled(size = 1)]
fn impl_future_send(id: usize) -> impl Future<Output = io::Result<usize>> + Send + 'static {
    async move { Ok(IMPL_SEND.work(id).await) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_send_impl_future_stays_send_and_is_serialised() {
    // `tokio::spawn` needs `Send`: the wrapping future kept it.
    let calls: Vec<_> = (0..4)
        .map(|id| tokio::spawn(impl_future_send(id)))
        .collect();
    let all = futures::future::join_all(calls);
    let ids = tokio::time::timeout(BOUND, all)
        .await
        .expect("calls finish");
    let ids: Vec<usize> = ids.into_iter().map(|id| id.unwrap().unwrap()).collect();
    assert_eq!(ids, [0, 1, 2, 3]);
    assert_eq!(IMPL_SEND.peak(), 1, "one call at a time");
    assert_eq!(IMPL_FUTURE_SEND_POOL.stats().completed, 4);
}

static UNPIN: Concurrency = Concurrency::new();

#[pooled::pooled(size = 1)]
fn impl_future_unpin(id: usize) -> impl Future<Output = usize> + Unpin {
    Box::pin(UNPIN.work(id))
}

#[tokio::test]
async fn an_unpin_impl_future_is_boxed_and_serialised() {
    assert_eq!(four_calls(impl_future_unpin).await, [0, 1, 2, 3]);
    UNPIN.assert_serialised(&[0, 1, 2, 3]);
}

static PINNED: Concurrency = Concurrency::new();

struct Client {
    base: usize,
}

impl Client {
    #[pooled::pooled(size = 1)]
    fn pinned(&self, id: usize) -> Pin<Box<dyn Future<Output = usize> + Send + '_>> {
        Box::pin(async move { PINNED.work(self.base + id).await })
    }
}

#[tokio::test]
async fn a_boxed_dyn_future_holds_the_slot_until_it_completes() {
    let client = Client { base: 10 };
    assert_eq!(four_calls(|id| client.pinned(id)).await, [10, 11, 12, 13]);
    PINNED.assert_serialised(&[10, 11, 12, 13]);
    assert_eq!(Client::PINNED_POOL.stats().completed, 4);
}

static BOXED: Concurrency = Concurrency::new();

#[pooled::pooled(size = 1)]
fn box_future(id: usize) -> BoxFuture<'static, usize> {
    Box::pin(BOXED.work(id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn box_future_stays_send_and_is_serialised() {
    assert_eq!(four_calls(box_future).await, [0, 1, 2, 3]);
    BOXED.assert_serialised(&[0, 1, 2, 3]);
    tokio::spawn(box_future(4)).await.unwrap();
}

static LOCAL: Concurrency = Concurrency::new();

#[pooled::pooled(size = 1)]
fn local_box_future(id: usize) -> LocalBoxFuture<'static, usize> {
    let not_send = Rc::new(id);
    Box::pin(async move { LOCAL.work(*not_send).await })
}

#[tokio::test]
async fn local_box_future_is_serialised() {
    assert_eq!(four_calls(local_box_future).await, [0, 1, 2, 3]);
    LOCAL.assert_serialised(&[0, 1, 2, 3]);
}

/// 32 calls of one function through a pool of 3, from many tasks: the limit
/// holds, every call completes.
static MANY: Concurrency = Concurrency::new();

#[pooled::pooled(size = 3)]
fn many(id: usize) -> BoxFuture<'static, usize> {
    Box::pin(MANY.work(id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_calls_from_many_tasks_never_exceed_the_pool_size() {
    let calls: Vec<_> = (0..32).map(|id| tokio::spawn(many(id))).collect();
    let ids = tokio::time::timeout(BOUND, futures::future::join_all(calls))
        .await
        .expect("calls finish");
    let ids: Vec<usize> = ids.into_iter().map(Result::unwrap).collect();
    assert_eq!(ids, (0..32).collect::<Vec<_>>());
    assert!(MANY.peak() <= 3, "peak {} over 3 slots", MANY.peak());
    assert_eq!(MANY_POOL.stats().completed, 32);
}

#[derive(Debug, PartialEq)]
enum CallError {
    Busy(Rejected),
}

impl From<Rejected> for CallError {
    fn from(rejected: Rejected) -> Self {
        CallError::Busy(rejected)
    }
}

static BUILT: AtomicUsize = AtomicUsize::new(0);
static RAN: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(size = 1)]
fn rejecting(id: usize) -> BoxFuture<'static, Result<usize, CallError>> {
    BUILT.fetch_add(1, Ordering::SeqCst);
    Box::pin(async move {
        RAN.fetch_add(1, Ordering::SeqCst);
        Ok(id)
    })
}

/// Runs `f` on a thread of its own, failing (instead of hanging) when it does
/// not return in time.
fn within_bound<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (sent, received) = mpsc::channel();
    std::thread::spawn(move || sent.send(f()).unwrap());
    received
        .recv_timeout(BOUND)
        .expect("the call returned instead of parking its thread")
}

#[test]
fn a_paused_pool_rejects_through_the_futures_output() {
    REJECTING_POOL.pause();
    // The body runs at once and builds the future without waiting for a slot;
    // awaiting it is what is rejected, into the output's error type.
    let out = within_bound(|| {
        let future = rejecting(1);
        assert_eq!(BUILT.load(Ordering::SeqCst), 1, "built at the call");
        futures::executor::block_on(future)
    });
    assert_eq!(out, Err(CallError::Busy(Rejected::Paused)));
    assert_eq!(RAN.load(Ordering::SeqCst), 0, "the rejected work never ran");
    REJECTING_POOL.resume();
    assert_eq!(futures::executor::block_on(rejecting(2)), Ok(2));
    assert_eq!(RAN.load(Ordering::SeqCst), 1);
    let stats = REJECTING_POOL.stats();
    assert_eq!(
        (stats.completed, stats.rejected_for(Rejected::Paused)),
        (1, 1)
    );
}

static WAITED: AtomicUsize = AtomicUsize::new(0);

#[pooled::pooled(size = 1)]
fn waiting(id: usize) -> impl Future<Output = usize> + Send {
    async move {
        WAITED.fetch_add(1, Ordering::SeqCst);
        id
    }
}

#[test]
fn an_output_without_an_error_waits_through_a_pause() {
    WAITING_POOL.pause();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    // On a current-thread runtime: building the future must not park the thread.
    let call = within_bound(|| waiting(7));
    runtime.block_on(async {
        let call = tokio::spawn(call);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(WAITED.load(Ordering::SeqCst), 0, "waits while paused");
        assert!(!call.is_finished());
        WAITING_POOL.resume();
        let id = tokio::time::timeout(BOUND, call)
            .await
            .expect("runs after resume");
        assert_eq!(id.unwrap(), 7);
    });
    assert_eq!(WAITED.load(Ordering::SeqCst), 1);
}
