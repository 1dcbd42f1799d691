//! Rejections through the attribute: a function returning a `Result` gets
//! `Err(From::from(rejected))`; any other function (or one marked `wait`) waits
//! through a pause and past the waiting bound and the timeout instead.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use pooled::Rejected;
use tokio::sync::Notify;

const BOUND: Duration = Duration::from_secs(20);

async fn until(condition: impl Fn() -> bool) {
    while !condition() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[derive(Debug, PartialEq)]
enum FetchError {
    Busy(Rejected),
    NotFound,
}

impl From<Rejected> for FetchError {
    fn from(rejected: Rejected) -> Self {
        FetchError::Busy(rejected)
    }
}

#[pooled::pooled(size = 2)]
async fn fetch(id: u32) -> Result<u32, FetchError> {
    if id == 0 {
        return Err(FetchError::NotFound);
    }
    Ok(id * 10)
}

#[tokio::test]
async fn a_paused_pool_rejects_into_the_functions_own_error_type() {
    assert_eq!(fetch(1).await, Ok(10));
    assert_eq!(
        fetch(0).await,
        Err(FetchError::NotFound),
        "the body's own errors pass through"
    );
    FETCH_POOL.pause();
    assert_eq!(fetch(2).await, Err(FetchError::Busy(Rejected::Paused)));
    FETCH_POOL.resume();
    assert_eq!(fetch(3).await, Ok(30));
    let stats = FETCH_POOL.stats();
    assert_eq!(
        (stats.completed, stats.rejected_for(Rejected::Paused)),
        (3, 1)
    );
}

#[pooled::pooled]
fn parse(text: &str) -> std::io::Result<u32> {
    text.parse().map_err(std::io::Error::other)
}

#[test]
fn a_sync_function_returning_io_result_gets_an_io_error() {
    assert_eq!(parse("7").unwrap(), 7);
    PARSE_POOL.pause();
    let error = parse("7").unwrap_err();
    PARSE_POOL.resume();
    assert_eq!(error.to_string(), Rejected::Paused.to_string());
    let inner = error.into_inner().expect("the rejection is the source");
    assert_eq!(*inner.downcast::<Rejected>().unwrap(), Rejected::Paused);
}

#[pooled::pooled(size = 1, admission_timeout = "40ms")]
async fn timed(gate: Option<Arc<Notify>>) -> Result<(), Rejected> {
    if let Some(gate) = gate {
        gate.notified().await;
    }
    Ok(())
}

#[tokio::test]
async fn the_admission_timeout_rejects_a_call_that_waited_too_long() {
    let test = async {
        let gate = Arc::new(Notify::new());
        let holder = tokio::spawn(timed(Some(gate.clone())));
        until(|| TIMED_POOL.stats().running == 1).await;
        let started = std::time::Instant::now();
        assert_eq!(timed(None).await, Err(Rejected::TimedOut));
        assert!(started.elapsed() >= Duration::from_millis(40));
        gate.notify_one();
        holder.await.unwrap().unwrap();
    };
    tokio::time::timeout(BOUND, test)
        .await
        .expect("no call is stuck");
    assert_eq!(TIMED_POOL.stats().rejected_for(Rejected::TimedOut), 1);
}

#[pooled::pooled(size = 1, max_waiting = 1)]
async fn bounded(gate: Option<Arc<Notify>>) -> Result<(), Rejected> {
    if let Some(gate) = gate {
        gate.notified().await;
    }
    Ok(())
}

#[tokio::test]
async fn past_the_waiting_bound_a_call_is_rejected_as_full() {
    let test = async {
        let gate = Arc::new(Notify::new());
        let holder = tokio::spawn(bounded(Some(gate.clone())));
        until(|| BOUNDED_POOL.stats().running == 1).await;
        let waiter = tokio::spawn(bounded(None));
        until(|| BOUNDED_POOL.stats().waiting == 1).await;
        assert_eq!(bounded(None).await, Err(Rejected::Full));
        gate.notify_one();
        holder.await.unwrap().unwrap();
        waiter.await.unwrap().unwrap();
    };
    tokio::time::timeout(BOUND, test)
        .await
        .expect("no call is stuck");
}

#[pooled::pooled(size = 2)]
fn square(n: u32) -> u32 {
    n * n
}

#[test]
fn a_sync_function_without_result_waits_through_a_pause() {
    SQUARE_POOL.pause();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || done.send(square(4)).unwrap());
    while SQUARE_POOL.stats().waiting == 0 {
        std::thread::yield_now();
    }
    assert_eq!(
        finished.recv_timeout(Duration::from_millis(50)),
        Err(mpsc::RecvTimeoutError::Timeout)
    );
    SQUARE_POOL.resume();
    assert_eq!(finished.recv_timeout(BOUND), Ok(16));
    assert_eq!(SQUARE_POOL.stats().rejected_total(), 0);
}

#[pooled::pooled]
async fn greet(name: String) -> String {
    format!("hello {name}")
}

#[tokio::test]
async fn an_async_function_without_result_waits_through_a_pause() {
    GREET_POOL.pause();
    let call = tokio::spawn(greet("ada".to_owned()));
    tokio::time::timeout(BOUND, until(|| GREET_POOL.stats().waiting == 1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!call.is_finished(), "a paused pool admits nothing");
    GREET_POOL.resume();
    let greeting = tokio::time::timeout(BOUND, call)
        .await
        .expect("admitted after resume")
        .unwrap();
    assert_eq!(greeting, "hello ada");
}

#[pooled::pooled(wait, size = 1, kind = "fixed")]
fn lookup(key: &str) -> Result<u32, String> {
    key.parse().map_err(|_| format!("bad key {key}"))
}

#[test]
fn wait_makes_a_result_function_wait_instead_of_being_rejected() {
    LOOKUP_POOL.pause();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || done.send(lookup("5")).unwrap());
    while LOOKUP_POOL.stats().waiting == 0 {
        std::thread::yield_now();
    }
    LOOKUP_POOL.resume();
    assert_eq!(finished.recv_timeout(BOUND), Ok(Ok(5)));
    assert_eq!(lookup("x"), Err("bad key x".to_owned()));
}

#[pooled::pooled(blocking)]
fn crunch(n: u64) -> Result<u64, Rejected> {
    Ok((1..=n).product())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_function_returns_rejections_too() {
    assert_eq!(crunch(5).await, Ok(120));
    CRUNCH_POOL.pause();
    assert_eq!(crunch(5).await, Err(Rejected::Paused));
    CRUNCH_POOL.resume();
}

#[pooled::group(order = "priority", size = 1, max_waiting = 0)]
struct NoQueue;

#[pooled::pooled(group = NoQueue, weight = 1)]
async fn no_queue(gate: Option<Arc<Notify>>) -> anyhow_like::Result<()> {
    if let Some(gate) = gate {
        gate.notified().await;
    }
    Ok(())
}

mod anyhow_like {
    pub type Result<T> = core::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}

#[tokio::test]
async fn a_declared_groups_waiting_bound_rejects_through_a_result_alias() {
    let test = async {
        let gate = Arc::new(Notify::new());
        let holder = tokio::spawn(no_queue(Some(gate.clone())));
        until(|| NoQueue::POOL.stats().running == 1).await;
        let error = no_queue(None).await.unwrap_err();
        assert_eq!(*error.downcast::<Rejected>().unwrap(), Rejected::Full);
        gate.notify_one();
        holder.await.unwrap().unwrap();
    };
    tokio::time::timeout(BOUND, test)
        .await
        .expect("no call is stuck");
}
