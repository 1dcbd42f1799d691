//! Acceptance tests of the facade, round 16: `pooled::tower` in an axum
//! server over loopback with a reqwest client — a per-request weight
//! function over a priority group ranking requests by a header, handlers
//! calling a `#[pooled]` function of the group their bulkhead is over, and
//! a streamed body the client walks away from. Concurrency and order are
//! counted by the server itself; waits are bounded only to turn a hang into
//! a failure.
#![cfg(feature = "tower")]

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use pooled::tower::{BoxError, PooledLayer};
use pooled::Rejected;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every wait is over by then, or the test fails.
const DEADLINE: Duration = Duration::from_secs(30);

/// Waits (bounded) until `cond` holds.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    tokio::time::timeout(DEADLINE, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never happened: {what}"));
}

/// A pool's refusal as an HTTP answer: 503 for a refusal, 500 otherwise.
async fn refusal(error: BoxError) -> StatusCode {
    match error.downcast_ref::<Rejected>() {
        Some(_) => StatusCode::SERVICE_UNAVAILABLE,
        None => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Serves `app` on a loopback port; its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

// ---- a weight function over a priority group -------------------------------------

/// A priority group of one slot, behind a weighted bulkhead.
#[pooled::group(order = "priority", size = 1)]
pub struct Ranked;

/// The weight a request asks for in its `x-weight` header (0 without).
fn header_weight(request: &Request<Body>) -> i64 {
    request
        .headers()
        .get("x-weight")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// `PooledLayer::weight` (pool-runtime/src/integrations/tower/layer.rs):
/// "Each call's weight in a priority pool is `weight(&request)` (smaller
/// first ...)"; "the call then waits for its slot in the response future,
/// in the pool's order"; README ("Fitting the stack"): a bulkhead layer
/// over a group. Batch requests (weight 10) wait behind a slot held from
/// outside; urgent ones (weight 0, and one at `i64::MIN`) sent after them
/// reach the handler first, then the batch in arrival order; the handler
/// never sees two at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_header_weight_ranks_http_requests_in_a_priority_group() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let handler = {
        let (seen, inside, peak) = (seen.clone(), inside.clone(), peak.clone());
        move |request: Request<Body>| {
            let (seen, inside, peak) = (seen.clone(), inside.clone(), peak.clone());
            async move {
                let now = inside.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                let id = request.uri().query().unwrap_or_default().to_owned();
                seen.lock().unwrap().push(id);
                tokio::time::sleep(Duration::from_millis(2)).await;
                inside.fetch_sub(1, SeqCst);
                "ok"
            }
        }
    };
    let app = Router::new().route("/", get(handler)).layer((
        HandleErrorLayer::new(refusal),
        PooledLayer::group(Ranked::POOL).weight(header_weight),
    ));
    let url = serve(app).await;
    let client = client();
    let held = Ranked::POOL.try_acquire_owned(0).unwrap();
    let mut requests = Vec::new();
    let sends = [
        ("batch-0", 10i64),
        ("batch-1", 10),
        ("batch-2", 10),
        ("urgent-0", 0),
        ("first", i64::MIN),
        ("urgent-1", 0),
        ("batch-3", 10),
    ];
    for (n, (id, weight)) in sends.iter().enumerate() {
        let request = client
            .get(format!("{url}/?{id}"))
            .header("x-weight", weight.to_string());
        requests.push(tokio::spawn(async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }));
        // One at a time into the queue, so arrival order is known.
        until("the request waits in the group", || {
            Ranked::POOL.stats().waiting == n + 1
        })
        .await;
    }
    drop(held);
    for request in requests {
        let (status, body) = tokio::time::timeout(DEADLINE, request)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    }
    assert_eq!(
        *seen.lock().unwrap(),
        ["first", "urgent-0", "urgent-1", "batch-0", "batch-1", "batch-2", "batch-3"]
    );
    assert_eq!(peak.load(SeqCst), 1);
    let s = Ranked::POOL.stats();
    assert_eq!(
        (s.completed, s.in_flight()),
        (sends.len() as u64 + 1, 0),
        "{s:?}"
    );
}

// ---- handlers calling their own group ------------------------------------------------

/// The bulkhead's group, which its handlers call too.
#[pooled::group(size = 2)]
pub struct Backend;

/// Counts its bodies from inside; the group's work, called by handlers.
#[pooled::pooled(group = Backend)]
async fn lookup(meter: Arc<(AtomicUsize, AtomicUsize)>, n: u32) -> u32 {
    let now = meter.0.fetch_add(1, SeqCst) + 1;
    meter.1.fetch_max(now, SeqCst);
    tokio::time::sleep(Duration::from_millis(3)).await;
    meter.0.fetch_sub(1, SeqCst);
    n * 2
}

/// Module docs of `pooled::tower`: "a call of the same pool or group made
/// from inside them (a handler calling a `#[pooled]` function of the group
/// the layer is over) is a nested call and follows the reentrancy rule ...
/// it runs under the response's slot instead of waiting for a second one,
/// so handlers cannot deadlock a full pool by calling it, and the limit
/// still holds"; README: "a handler (or a body) calling the same pool or
/// group makes a nested call ... instead of waiting for a second slot".
/// Thirty-two requests at once through a bulkhead over a group of 2 whose
/// handlers each call two of the group's functions (one after the other,
/// then two joined): all answer 200, no more than 2 handlers and 2 function
/// bodies at once, and the group counts each request once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn handlers_calling_their_bulkheads_group_neither_deadlock_nor_pass_its_limit() {
    let handlers = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let bodies = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let handler = {
        let (handlers, bodies) = (handlers.clone(), bodies.clone());
        move || {
            let (handlers, bodies) = (handlers.clone(), bodies.clone());
            async move {
                let now = handlers.0.fetch_add(1, SeqCst) + 1;
                handlers.1.fetch_max(now, SeqCst);
                let a = lookup(bodies.clone(), 1).await;
                let (b, c) = futures::join!(lookup(bodies.clone(), 2), lookup(bodies.clone(), 3));
                handlers.0.fetch_sub(1, SeqCst);
                (a + b + c).to_string()
            }
        }
    };
    let app = Router::new().route("/", get(handler)).layer((
        HandleErrorLayer::new(refusal),
        PooledLayer::group(Backend::POOL),
    ));
    let url = serve(app).await;
    let client = client();
    let requests: Vec<_> = (0..32)
        .map(|_| {
            let request = client.get(format!("{url}/"));
            tokio::spawn(async move {
                let response = request.send().await.unwrap();
                (response.status(), response.text().await.unwrap())
            })
        })
        .collect();
    for request in requests {
        let (status, body) = tokio::time::timeout(DEADLINE, request)
            .await
            .expect("no deadlock")
            .unwrap();
        assert_eq!((status, body.as_str()), (StatusCode::OK, "12"));
    }
    assert!(
        handlers.1.load(SeqCst) <= 2,
        "{} handlers",
        handlers.1.load(SeqCst)
    );
    assert!(
        bodies.1.load(SeqCst) <= 2,
        "{} bodies",
        bodies.1.load(SeqCst)
    );
    let s = Backend::POOL.stats();
    assert_eq!(s.in_flight(), 0, "{s:?}");
    assert_eq!(
        s.submitted(),
        s.completed + s.cancelled + s.rejected_total(),
        "{s:?}"
    );
    assert_eq!(s.rejected_total(), 0, "{s:?}");
}

// ---- a streamed body the client walks away from ------------------------------------------

/// `PooledLayer::hold_until_body_ends`: "An `http::Response`'s slot is held
/// by its body ... until the body's last frame, a body error, or the body's
/// drop"; README: "released when the response (or, with
/// `.hold_until_body_ends()`, its streamed body) ends". A client that reads
/// the first chunk of an endless body and disconnects: the server drops the
/// body, which frees the only slot, so the next request is served; the
/// server never streams two bodies at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_whose_client_disconnects_frees_its_slot() {
    let pool = pooled::Pool::fixed(1);
    let streaming = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let handler = {
        let streaming = streaming.clone();
        move || {
            let streaming = streaming.clone();
            async move {
                struct Live(Arc<(AtomicUsize, AtomicUsize)>);
                impl Drop for Live {
                    fn drop(&mut self) {
                        self.0 .0.fetch_sub(1, SeqCst);
                    }
                }
                let now = streaming.0.fetch_add(1, SeqCst) + 1;
                streaming.1.fetch_max(now, SeqCst);
                let live = Live(streaming);
                let chunks = futures::stream::unfold((0u64, live), |(n, live)| async move {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    Some((Ok::<_, BoxError>(format!("chunk {n};")), (n + 1, live)))
                });
                Body::from_stream(chunks)
            }
        }
    };
    let app = Router::new().route("/", get(handler)).layer((
        HandleErrorLayer::new(refusal),
        PooledLayer::pool(pool.clone()).hold_until_body_ends(),
    ));
    let url = serve(app).await;
    for round in 0..3 {
        // A fresh client each round: dropping it closes the connection.
        let client = client();
        let mut response = tokio::time::timeout(DEADLINE, client.get(format!("{url}/")).send())
            .await
            .unwrap_or_else(|_| panic!("round {round}: the slot came back"))
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let first = response.chunk().await.unwrap().unwrap();
        assert!(first.starts_with(b"chunk 0;"), "{first:?}");
        assert_eq!(pool.stats().running, 1, "the body holds the slot");
        drop(response);
        drop(client);
        until("the dropped body frees its slot", || {
            pool.stats().running == 0
        })
        .await;
    }
    assert_eq!(streaming.1.load(SeqCst), 1, "never two bodies at once");
    let s = pool.stats();
    assert_eq!(s.in_flight(), 0, "{s:?}");
    assert_eq!(s.submitted(), 3, "{s:?}");
    assert_eq!(
        s.submitted(),
        s.completed + s.cancelled + s.rejected_total(),
        "{s:?}"
    );
}
