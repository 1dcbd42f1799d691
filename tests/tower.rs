//! `pooled::tower` in a real application: an axum server with the layer as a
//! bulkhead, driven by a reqwest client over loopback; concurrency counted
//! by the server itself, inside its handlers and response bodies.
#![cfg(feature = "tower")]

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use pooled::tower::{BoxError, PooledLayer};
use pooled::{Pool, Rejected};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The bulkhead's size.
const LIMIT: usize = 4;
/// Requests sent at once.
const CLIENTS: usize = 64;
/// How long a handler works.
const WORK: Duration = Duration::from_millis(20);
/// Every test is over by then, or fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// Requests inside the server, counted by the server; the most at once.
#[derive(Default)]
struct Inside {
    now: AtomicUsize,
    peak: AtomicUsize,
}

/// One request inside the server, until dropped.
struct Visit(Arc<Inside>);

impl Inside {
    fn enter(self: &Arc<Self>) -> Visit {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Visit(self.clone())
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

impl Drop for Visit {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn work(State(inside): State<Arc<Inside>>) -> &'static str {
    let _visit = inside.enter();
    tokio::time::sleep(WORK).await;
    "done"
}

/// A response whose body is still being produced after the handler
/// returned: the request is inside the server until the body's last chunk.
async fn stream(State(inside): State<Arc<Inside>>) -> Body {
    let visit = inside.enter();
    let chunks = futures::stream::unfold((0, visit), |(sent, visit)| async move {
        if sent == 3 {
            return None; // `visit` ends with the body
        }
        tokio::time::sleep(WORK / 4).await;
        Some((
            Ok::<_, BoxError>(format!("chunk {sent};")),
            (sent + 1, visit),
        ))
    });
    Body::from_stream(chunks)
}

/// A pool's refusal as an HTTP answer: 503 for "no slot", 500 otherwise.
async fn refusal(error: BoxError) -> StatusCode {
    match error.downcast_ref::<Rejected>() {
        Some(_) => StatusCode::SERVICE_UNAVAILABLE,
        None => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Serves `app` on a loopback port and sends it `CLIENTS` requests at once,
/// each read to its body's end; their statuses, by `DEADLINE`.
async fn burst(app: Router) -> Vec<StatusCode> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let requests: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let response = client.get(url).send().await.unwrap();
                let status = response.status();
                response.bytes().await.unwrap();
                status
            })
        })
        .collect();
    let statuses = async {
        let mut statuses = Vec::new();
        for request in requests {
            statuses.push(request.await.unwrap());
        }
        statuses
    };
    tokio::time::timeout(DEADLINE, statuses)
        .await
        .expect("the burst ends")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bulkhead_keeps_an_axum_server_within_its_limit() {
    let inside = Arc::new(Inside::default());
    let pool = Pool::builder().size(LIMIT).build().unwrap();
    let app = Router::new()
        .route("/", get(work))
        .layer((
            HandleErrorLayer::new(refusal),
            PooledLayer::pool(pool.clone()),
        ))
        .with_state(inside.clone());
    let statuses = burst(app).await;
    assert!(
        statuses.iter().all(|status| *status == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(inside.peak(), LIMIT, "the limit was reached, never passed");
    let stats = pool.stats();
    assert_eq!(
        (stats.completed, stats.running),
        (CLIENTS as u64, 0),
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shedding_bulkhead_answers_503_at_once_instead_of_queueing() {
    let inside = Arc::new(Inside::default());
    let pool = Pool::builder().size(LIMIT).build().unwrap();
    let app = Router::new()
        .route("/", get(work))
        .layer((
            HandleErrorLayer::new(refusal),
            PooledLayer::pool(pool.clone()).reject(),
        ))
        .with_state(inside.clone());
    let statuses = burst(app).await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let shed = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert_eq!(ok + shed, CLIENTS, "{statuses:?}");
    assert!(ok >= 1 && shed >= 1, "{ok} served, {shed} shed");
    assert!(inside.peak() <= LIMIT, "peak {}", inside.peak());
    let stats = pool.stats();
    assert_eq!(stats.rejected_for(Rejected::Full), shed as u64, "{stats:?}");
    assert_eq!(stats.waiting, 0, "nothing queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streamed_bodies_hold_their_slots_until_they_end() {
    let inside = Arc::new(Inside::default());
    let pool = Pool::builder().size(LIMIT).build().unwrap();
    let app = Router::new()
        .route("/", get(stream))
        .layer((
            HandleErrorLayer::new(refusal),
            PooledLayer::pool(pool.clone()).hold_until_body_ends(),
        ))
        .with_state(inside.clone());
    let statuses = burst(app).await;
    assert!(
        statuses.iter().all(|status| *status == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(
        inside.peak(),
        LIMIT,
        "bodies in flight never passed the limit"
    );
    let stats = tokio::time::timeout(DEADLINE, async {
        // The server drops a finished body just after its last chunk is sent.
        while pool.stats().running > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        pool.stats()
    })
    .await
    .expect("every body released its slot");
    assert_eq!(stats.completed, CLIENTS as u64, "{stats:?}");
}
