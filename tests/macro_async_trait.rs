//! `#[pooled]` inside `#[async_trait]` impls throttles the calls: 64 calls
//! through a group of 4 never have more than 4 in flight.
//!
//! An attribute on an `impl` expands before the attributes of its methods, so
//! `#[async_trait]` rewrites `#[pooled] async fn` first, into a sync method
//! returning `Pin<Box<dyn Future<Output = T> + Send + 'async_trait>>`, and
//! `#[pooled]` sees that. Each order in which the two meet is covered: that
//! rewrite in a `Send` impl, in a `?Send` impl, and in a trait's default
//! method; `#[pooled]` on a method written by hand in the shape `#[async_trait]`
//! gives it; and `#[pooled]` on an inherent `async fn` that an `#[async_trait]`
//! method awaits (`#[pooled]` first, the trait's boxing after).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pooled::Rejected;

const BOUND: Duration = Duration::from_secs(20);
const CALLS: usize = 64;
const LIMIT: usize = 4;

/// What the server behind the group sees: calls in flight, and the most at once.
struct Server {
    now: AtomicUsize,
    peak: AtomicUsize,
    served: AtomicUsize,
}

impl Server {
    const fn new() -> Server {
        Server {
            now: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            served: AtomicUsize::new(0),
        }
    }

    async fn serve(&self, id: usize) -> usize {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        self.served.fetch_add(1, Ordering::SeqCst);
        id
    }

    fn assert_within_limit(&self) {
        let peak = self.peak.load(Ordering::SeqCst);
        assert!(
            peak <= LIMIT,
            "the server saw {peak} calls at once, over {LIMIT}"
        );
        assert!(peak >= 1);
        assert_eq!(self.served.load(Ordering::SeqCst), CALLS);
    }
}

#[derive(Debug, PartialEq)]
enum ApiError {
    Busy(Rejected),
}

impl From<Rejected> for ApiError {
    fn from(rejected: Rejected) -> Self {
        ApiError::Busy(rejected)
    }
}

#[async_trait]
trait Api: Sync {
    async fn get(&self, id: usize) -> usize;
    async fn try_get(&self, id: usize) -> Result<usize, ApiError>;
}

/// Spawns `CALLS` calls of `call` and waits for all of them.
async fn spawn_all<F>(call: impl Fn(usize) -> F) -> Vec<usize>
where
    F: Future<Output = usize> + Send + 'static,
{
    let calls: Vec<_> = (0..CALLS).map(|id| tokio::spawn(call(id))).collect();
    let ids = tokio::time::timeout(BOUND, futures::future::join_all(calls))
        .await
        .expect("calls finish");
    ids.into_iter().map(Result::unwrap).collect()
}

fn ids() -> Vec<usize> {
    (0..CALLS).collect()
}

// `#[async_trait]` first, `#[pooled]` on its output.

#[pooled::group(size = 4)]
struct Rewritten;

static REWRITTEN: Server = Server::new();

struct RewrittenClient;

#[async_trait]
impl Api for RewrittenClient {
    #[pooled::pooled(group = Rewritten)]
    async fn get(&self, id: usize) -> usize {
        REWRITTEN.serve(id).await
    }

    #[pooled::pooled(group = Rewritten)]
    async fn try_get(&self, id: usize) -> Result<usize, ApiError> {
        Ok(REWRITTEN.serve(id).await)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn async_trait_rewritten_methods_are_throttled() {
    let client = Arc::new(RewrittenClient);
    let ids = spawn_all(|id| {
        let client = Arc::clone(&client);
        async move {
            // Half through each method: both share the group's 4 slots.
            if id % 2 == 0 {
                client.get(id).await
            } else {
                client.try_get(id).await.unwrap()
            }
        }
    })
    .await;
    assert_eq!(ids, self::ids());
    REWRITTEN.assert_within_limit();
    assert_eq!(Rewritten::POOL.stats().completed, CALLS as u64);
}

#[test]
fn async_trait_rewritten_methods_return_rejections_through_their_error() {
    #[pooled::group(size = 1)]
    struct Paused;

    struct Client;

    #[async_trait]
    impl Api for Client {
        #[pooled::pooled(group = Paused)]
        async fn get(&self, id: usize) -> usize {
            id
        }

        #[pooled::pooled(group = Paused)]
        async fn try_get(&self, id: usize) -> Result<usize, ApiError> {
            Ok(id)
        }
    }

    Paused::POOL.pause();
    // On a thread of its own, so a call that parks its thread fails the test
    // instead of hanging it.
    let (sent, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || sent.send(futures::executor::block_on(Client.try_get(1))));
    let rejected = received
        .recv_timeout(BOUND)
        .expect("the call is rejected instead of parking its thread");
    assert_eq!(rejected, Err(ApiError::Busy(Rejected::Paused)));
    Paused::POOL.resume();
    futures::executor::block_on(async {
        assert_eq!(Client.try_get(2).await, Ok(2));
        assert_eq!(Client.get(3).await, 3);
    });
}

// `#[async_trait(?Send)]`: the boxed future is not `Send`.

#[async_trait(?Send)]
trait LocalApi {
    async fn get(&self, id: usize) -> usize;
}

#[pooled::group(size = 4)]
struct Local;

static LOCAL: Server = Server::new();

struct LocalClient;

#[async_trait(?Send)]
impl LocalApi for LocalClient {
    #[pooled::pooled(group = Local)]
    async fn get(&self, id: usize) -> usize {
        let not_send = std::rc::Rc::new(id);
        LOCAL.serve(*not_send).await
    }
}

#[tokio::test]
async fn async_trait_local_methods_are_throttled() {
    let client = LocalClient;
    let calls = futures::future::join_all((0..CALLS).map(|id| client.get(id)));
    let ids = tokio::time::timeout(BOUND, calls)
        .await
        .expect("calls finish");
    assert_eq!(ids, self::ids());
    LOCAL.assert_within_limit();
}

// A default method of an `#[async_trait]` trait.

#[pooled::group(size = 4)]
struct Defaulted;

static DEFAULTED: Server = Server::new();

#[async_trait]
trait WithDefault: Sync {
    #[pooled::pooled(group = Defaulted)]
    async fn get(&self, id: usize) -> usize {
        DEFAULTED.serve(id).await
    }
}

struct DefaultClient;

impl WithDefault for DefaultClient {}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn async_trait_default_methods_are_throttled() {
    let client = Arc::new(DefaultClient);
    let ids = spawn_all(|id| {
        let client = Arc::clone(&client);
        async move { client.get(id).await }
    })
    .await;
    assert_eq!(ids, self::ids());
    DEFAULTED.assert_within_limit();
}

// `#[pooled]` on a method written by hand the way `#[async_trait]` expands it.

#[pooled::group(size = 4)]
struct ByHand;

static BY_HAND: Server = Server::new();

struct ByHandClient;

impl Api for ByHandClient {
    #[pooled::pooled(group = ByHand)]
    fn get<'life0, 'async_trait>(
        &'life0 self,
        id: usize,
    ) -> Pin<Box<dyn Future<Output = usize> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { BY_HAND.serve(id).await })
    }

    #[pooled::pooled(group = ByHand)]
    fn try_get<'life0, 'async_trait>(
        &'life0 self,
        id: usize,
    ) -> Pin<Box<dyn Future<Output = Result<usize, ApiError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { Ok(BY_HAND.serve(id).await) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hand_expanded_async_trait_methods_are_throttled() {
    let client = Arc::new(ByHandClient);
    let ids = spawn_all(|id| {
        let client = Arc::clone(&client);
        async move {
            if id % 2 == 0 {
                client.get(id).await
            } else {
                client.try_get(id).await.unwrap()
            }
        }
    })
    .await;
    assert_eq!(ids, self::ids());
    BY_HAND.assert_within_limit();
}

// `#[pooled]` first (on an inherent `async fn`), `#[async_trait]`'s boxing after.

#[pooled::group(size = 4)]
struct Inner;

static INNER: Server = Server::new();

struct InnerClient;

impl InnerClient {
    #[pooled::pooled(group = Inner)]
    async fn fetch(&self, id: usize) -> Result<usize, ApiError> {
        Ok(INNER.serve(id).await)
    }
}

#[async_trait]
impl Api for InnerClient {
    async fn get(&self, id: usize) -> usize {
        self.fetch(id).await.unwrap()
    }

    async fn try_get(&self, id: usize) -> Result<usize, ApiError> {
        self.fetch(id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pooled_async_fns_awaited_by_async_trait_methods_are_throttled() {
    let client = Arc::new(InnerClient);
    let ids = spawn_all(|id| {
        let client = Arc::clone(&client);
        async move { client.try_get(id).await.unwrap() }
    })
    .await;
    assert_eq!(ids, self::ids());
    INNER.assert_within_limit();
}
