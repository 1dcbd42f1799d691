//! Adversarial round 47: real HTTP over loopback (axum 0.8 servers on
//! HTTP/1, reqwest 0.13 clients).
//!
//! * `bulkhead` (feature `tower`): `pooled::tower::PooledLayer` as a bulkhead
//!   on an axum server, waiting and reject-at-once modes, the slot held until
//!   the streamed body ends; clients that read slowly, disconnect mid-body,
//!   never read the body, time out; handlers and bodies that panic; handlers
//!   and bodies that call the bulkhead's own group (nested calls). Concurrency
//!   is counted inside the handler and its body from outside the library (a
//!   `Meter`), and the group's `stats()` is checked against what the clients
//!   saw once they are done.
//! * `client`: a reqwest client whose calls go through `#[pooled::pooled]`
//!   functions and `#[pooled::group]` groups (priority order and weights, an
//!   adaptive group judging 503s through `overload`, admission timeouts)
//!   against a server that counts its own concurrency; calls cancelled at
//!   random points (`tokio::time::timeout` dropping them), servers that answer
//!   503, slowly, or never.
//! * `races`: many clients racing `resize`/`scale`/`pause`/`resume`/`close`
//!   of the attribute's generated handles (and of a bulkhead's group).
//!
//! Every wait is bounded: a test runs on a thread of its own under a watchdog
//! (`common::within`) and every await that could hang is under
//! `tokio::time::timeout`. Each test declares its own groups.
//!
//! What was found, and what became of it (each ignored test below is a
//! documented limit now, kept to measure it; reproduce with
//! `cargo test --features tower,metrics,test-util --test adversarial_round47 -- --ignored`).
//! 1, 2 and 4 were limits of the design the docs did not state: the README's
//! Reentrancy rule and the `Pool` docs now say them (a parent's own work
//! beside its nested call shares the slot; the count is the client's). 3 is
//! fixed for the statuses without content (1xx, 204, 304: the call ends with
//! the head); a `HEAD` answer is documented (`UntilBodyEnds`), its test
//! split out as `head_answers_count_as_completed_calls`:
//!
//! 1. `client::a_nested_call_joined_beside_the_parents_own_request_passes_the_limit`.
//!    Docs say (`Pool` docs, Reentrancy): a nested call is one "polled within
//!    the parent's own poll (an awaited or joined future ...)", and "The limit
//!    still holds for every call graph"; README: "the server behind a pool of
//!    N never sees more than N calls from it". What happens: a `#[pooled]`
//!    function of a group of 1 that `tokio::join!`s its own HTTP request with
//!    a call of the same group: the joined call is admitted as nested, under
//!    the parent's slot, while the parent's own request is in flight: the
//!    server gets 2 requests at once from a group of 1.
//! 2. `bulkhead::a_handler_joining_its_own_request_with_a_nested_call_passes_the_bulkhead`:
//!    the same through the tower bulkhead (README, Fitting the stack: "a
//!    handler ... calling the same pool or group makes a nested call"): a
//!    handler behind a bulkhead of 1 joining its own upstream request with a
//!    `#[pooled]` call of the bulkhead's group sends the upstream 2 at once.
//! 3. `bulkhead::bodiless_answers_count_as_completed_calls`. Docs say
//!    (`PermitBody`): the call is "completed at its last frame", "cancelled
//!    if the body is dropped ... before" it. What happens: with
//!    `hold_until_body_ends`, a response hyper sends without a body (a HEAD,
//!    a 204, a 304) is served in full, but hyper drops the body unpolled, so
//!    every such call is counted `cancelled`, never `completed` (and gives an
//!    adaptive pool no latency sample): the stats disagree with what the
//!    clients saw (6 served, `completed: 0, cancelled: 6`). A HEAD of a
//!    plain `&str` handler is counted cancelled too (checked by hand), so
//!    every HEAD (health checks) is; empty bodies are fine
//!    (`empty_bodies_complete_with_their_response`).
//! 4. `client::a_cancelled_call_frees_its_slot_while_the_server_still_serves_it`
//!    (a documentation gap rather than a fixable defect). Docs say: "the
//!    server behind a pool of N never sees more than N calls from it" and
//!    "dropping a running call frees its slot". What happens: a call that
//!    times out on the client frees its slot at once while the server still
//!    works on the request (a handler that does not notice the hang-up); the
//!    next call is admitted and the server serves 2 from a pool of 1. Nowhere
//!    documented; it also makes server-side counts around client timeouts
//!    flaky (seen once in four runs with a plainly hung handler), so the
//!    other tests count the pooled functions' own bodies instead.
//!
//! Run: `cargo test --features tower,metrics,test-util --test adversarial_round47`
//! (and with default features: the `client` and `races` modules run there too).

mod common;

use common::{multi_thread, within, Meter};
use std::future::Future;
use std::time::Duration;

/// The watchdog of a whole test.
const WATCHDOG: Duration = Duration::from_secs(40);
/// The bound on any single await that must not hang.
const BOUND: Duration = Duration::from_secs(10);

/// Runs the async test body on a runtime of its own, under the watchdog.
fn run<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    within(WATCHDOG, move || multi_thread().block_on(f()));
}

/// `fut`, or a failure naming `what` if it does not finish within [`BOUND`].
async fn bounded<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(BOUND, fut).await {
        Ok(out) => out,
        Err(_) => panic!("hung: {what}"),
    }
}

/// Waits (bounded) until `cond` holds.
async fn settle(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..3_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("never settled: {what}");
}

/// Serves `app` on a loopback port; returns its base URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A plain-HTTP client (no proxy lookup).
fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A small deterministic generator (xorshift), for "random" cancel points.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The accounting identity of a quiet pool.
fn assert_identity(s: &pooled::Stats) {
    assert_eq!(
        s.submitted(),
        s.completed
            + s.rejected_total()
            + s.cancelled
            + s.running as u64
            + s.nested as u64
            + s.waiting as u64,
        "accounting identity broken: {s:?}"
    );
}

#[cfg(feature = "tower")]
mod bulkhead {
    use super::*;
    use axum::body::{Body, Bytes};
    use axum::error_handling::HandleErrorLayer;
    use axum::http::StatusCode;
    use axum::response::Response;
    use axum::routing::get;
    use axum::Router;
    use common::Inside;
    use pooled::tower::{BoxError, PooledLayer};
    use pooled::Rejected;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

    async fn refusal(error: BoxError) -> (StatusCode, String) {
        match error.downcast_ref::<Rejected>() {
            Some(rejected) => (StatusCode::SERVICE_UNAVAILABLE, format!("{rejected}")),
            None => (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}")),
        }
    }

    /// A body of `chunks` chunks, one every `every`, that holds `inside`
    /// until it ends or is dropped (`usize::MAX`: endless).
    fn slow_body(inside: Inside<'static>, chunks: usize, every: Duration, size: usize) -> Body {
        let chunk = Bytes::from(vec![b'x'; size]);
        Body::from_stream(futures::stream::unfold(
            (inside, 0usize),
            move |(inside, i)| {
                let chunk = chunk.clone();
                async move {
                    if i == chunks {
                        drop(inside);
                        return None;
                    }
                    tokio::time::sleep(every).await;
                    Some((Ok::<_, std::io::Error>(chunk), (inside, i + 1)))
                }
            },
        ))
    }

    /// Reads a response to its end; returns its status and length.
    async fn read_all(response: reqwest::Response) -> (u16, usize) {
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        (status, body.len())
    }

    #[pooled::group(size = 3)]
    pub struct StreamWait;

    static STREAM_WAIT: Meter = Meter::new();

    /// Waiting mode, the slot held to the body's end: 24 clients reading
    /// slow streamed bodies never have more than 3 handlers+bodies at once,
    /// every one is served, and the stats count 24 completed calls.
    #[test]
    fn waiting_bulkhead_holds_streamed_bodies_to_the_limit() {
        run(|| async {
            let app = Router::new()
                .route(
                    "/s",
                    get(|| async {
                        let inside = STREAM_WAIT.enter();
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        Response::new(slow_body(inside, 4, Duration::from_millis(3), 16))
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(StreamWait::POOL).hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = client();
            let calls: Vec<_> = (0..24)
                .map(|_| {
                    let request = c.get(format!("{base}/s"));
                    tokio::spawn(async move { read_all(request.send().await.unwrap()).await })
                })
                .collect();
            for call in calls {
                let (status, len) = bounded("a streamed call", call).await.unwrap();
                assert_eq!((status, len), (200, 64));
            }
            assert!(STREAM_WAIT.peak() <= 3, "peak {}", STREAM_WAIT.peak());
            assert_eq!(STREAM_WAIT.done(), 24);
            settle("the bulkhead idles", || {
                let s = StreamWait::POOL.stats();
                s.running == 0 && s.waiting == 0
            })
            .await;
            let s = StreamWait::POOL.stats();
            assert_eq!((s.completed, s.cancelled, s.rejected_total()), (24, 0, 0));
            assert_identity(&s);
        });
    }

    #[pooled::group(size = 2)]
    pub struct StreamReject;

    static STREAM_REJECT: Meter = Meter::new();

    /// Reject mode with held bodies: the 503s the clients see are the
    /// stats' `Full` rejections, the 200s its completed calls, and never
    /// more than 2 bodies stream at once.
    #[test]
    fn reject_bulkhead_counts_match_what_clients_saw() {
        run(|| async {
            let app = Router::new()
                .route(
                    "/s",
                    get(|| async {
                        let inside = STREAM_REJECT.enter();
                        Response::new(slow_body(inside, 5, Duration::from_millis(4), 8))
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(StreamReject::POOL)
                        .reject()
                        .hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = client();
            let calls: Vec<_> = (0..30)
                .map(|i| {
                    let request = c.get(format!("{base}/s"));
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(i % 10)).await;
                        read_all(request.send().await.unwrap()).await
                    })
                })
                .collect();
            let (mut ok, mut shed) = (0u64, 0u64);
            for call in calls {
                match bounded("a call", call).await.unwrap() {
                    (200, 40) => ok += 1,
                    (503, _) => shed += 1,
                    other => panic!("unexpected answer {other:?}"),
                }
            }
            assert!(ok >= 2 && shed >= 1, "ok {ok}, shed {shed}");
            assert!(STREAM_REJECT.peak() <= 2, "peak {}", STREAM_REJECT.peak());
            settle("the bulkhead idles", || {
                let s = StreamReject::POOL.stats();
                s.running == 0 && s.waiting == 0
            })
            .await;
            let s = StreamReject::POOL.stats();
            assert_eq!(s.completed, ok, "{s:?}");
            assert_eq!(s.rejected_for(Rejected::Full), shed, "{s:?}");
            assert_eq!(s.cancelled, 0, "{s:?}");
            assert_identity(&s);
        });
    }

    #[pooled::group(size = 2)]
    pub struct Endless;

    static ENDLESS: Meter = Meter::new();

    /// Endless bodies: clients read a chunk and hang up. Each hang-up ends
    /// the body (cancelled), frees its slot, and the server never streams
    /// more than 2 at once; afterwards the bulkhead is idle and serves again.
    #[test]
    fn clients_disconnecting_mid_body_give_the_slots_back() {
        run(|| async {
            let app = Router::new()
                .route(
                    "/s",
                    get(|| async {
                        let inside = ENDLESS.enter();
                        Response::new(slow_body(inside, usize::MAX, Duration::from_millis(2), 32))
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(Endless::POOL).hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = client();
            let calls: Vec<_> = (0..12)
                .map(|i| {
                    let request = c.get(format!("{base}/s"));
                    tokio::spawn(async move {
                        let mut response = request.send().await.unwrap();
                        assert_eq!(response.status(), 200);
                        for _ in 0..=(i % 3) {
                            assert!(response.chunk().await.unwrap().is_some());
                        }
                        drop(response); // hang up mid-body
                    })
                })
                .collect();
            for call in calls {
                bounded("a client hanging up", call).await.unwrap();
            }
            settle("every endless body ends", || ENDLESS.now() == 0).await;
            settle("the bulkhead idles", || {
                let s = Endless::POOL.stats();
                s.running == 0 && s.waiting == 0
            })
            .await;
            assert!(ENDLESS.peak() <= 2, "peak {}", ENDLESS.peak());
            let s = Endless::POOL.stats();
            assert_eq!((s.completed, s.cancelled), (0, 12), "{s:?}");
            assert_identity(&s);
            // It serves again: a client that reads a little and hangs up.
            let mut response = bounded("a new call", c.get(format!("{base}/s")).send())
                .await
                .unwrap();
            assert!(bounded("a chunk", response.chunk())
                .await
                .unwrap()
                .is_some());
            drop(response);
            settle("the slot comes back", || Endless::POOL.stats().running == 0).await;
        });
    }

    #[pooled::group(size = 2)]
    pub struct Unread;

    static UNREAD: Meter = Meter::new();

    /// Clients that take the response head and never read the body (1 MiB
    /// bodies: the socket fills up) hold their slots: a third caller waits
    /// (waiting mode) instead of running past the limit; once they drop
    /// their responses, the slots come back and the waiter is served.
    #[test]
    fn clients_that_never_read_the_body_hold_slots_without_passing_the_limit() {
        run(|| async {
            let app = Router::new()
                .route(
                    "/big",
                    get(|| async {
                        let inside = UNREAD.enter();
                        // 64 MiB: more than any socket buffer takes unread.
                        Response::new(slow_body(inside, 4096, Duration::ZERO, 16 * 1024))
                    }),
                )
                .route(
                    "/small",
                    get(|| async {
                        let inside = UNREAD.enter();
                        Response::new(slow_body(inside, 1, Duration::ZERO, 4))
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(Unread::POOL).hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = client();
            let mut held = Vec::new();
            for _ in 0..2 {
                let response = bounded("a big response head", c.get(format!("{base}/big")).send())
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                held.push(response);
            }
            // Let the bodies fill the sockets.
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(Unread::POOL.stats().running, 2);
            let small = c.get(format!("{base}/small"));
            let waiter = tokio::spawn(async move { read_all(small.send().await.unwrap()).await });
            settle("the third call waits", || Unread::POOL.stats().waiting == 1).await;
            tokio::time::sleep(Duration::from_millis(30)).await;
            assert!(!waiter.is_finished(), "ran past the limit");
            assert!(UNREAD.peak() <= 2);
            drop(held);
            let (status, len) = bounded("the waiter", waiter).await.unwrap();
            assert_eq!((status, len), (200, 4));
            settle("the bulkhead idles", || {
                let s = Unread::POOL.stats();
                s.running == 0 && s.waiting == 0
            })
            .await;
            assert!(UNREAD.peak() <= 2, "peak {}", UNREAD.peak());
            let s = Unread::POOL.stats();
            assert_eq!((s.completed, s.cancelled), (1, 2), "{s:?}");
            assert_identity(&s);
        });
    }

    #[pooled::group(size = 2)]
    pub struct SlowRead;

    static SLOW_READ: Meter = Meter::new();

    /// reqwest's own timeout cuts slow bodies short: every such client
    /// fails, every body ends as cancelled, and the limit held meanwhile.
    #[test]
    fn client_timeouts_during_slow_bodies_cancel_the_calls() {
        run(|| async {
            let app = Router::new()
                .route(
                    "/s",
                    get(|| async {
                        let inside = SLOW_READ.enter();
                        Response::new(slow_body(inside, 100, Duration::from_millis(10), 8))
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(SlowRead::POOL).hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_millis(60))
                .build()
                .unwrap();
            let calls: Vec<_> = (0..8)
                .map(|_| {
                    let request = c.get(format!("{base}/s"));
                    tokio::spawn(async move {
                        match request.send().await {
                            Ok(response) => response.bytes().await.is_err(),
                            Err(e) => e.is_timeout(),
                        }
                    })
                })
                .collect();
            for call in calls {
                assert!(bounded("a timed-out call", call).await.unwrap());
            }
            settle("the bulkhead idles", || {
                let s = SlowRead::POOL.stats();
                s.running == 0 && s.waiting == 0
            })
            .await;
            settle("the bodies end", || SLOW_READ.now() == 0).await;
            assert!(SLOW_READ.peak() <= 2, "peak {}", SLOW_READ.peak());
            let s = SlowRead::POOL.stats();
            assert_eq!(s.completed, 0, "{s:?}");
            assert_eq!(s.cancelled, s.submitted(), "{s:?}");
            assert_identity(&s);
        });
    }

    #[pooled::group(size = 2)]
    pub struct Panicky;

    static PANICKY: Meter = Meter::new();

    /// A handler that panics (axum has no panic catcher: the connection's
    /// task unwinds) frees its slot and is counted panicked; the server
    /// goes on serving and the limit held.
    #[test]
    fn handler_panics_free_their_slots_and_count_as_panicked() {
        run(|| async {
            let app = Router::new()
                .route(
                    "/p",
                    get(|| async {
                        let _inside = PANICKY.enter();
                        tokio::time::sleep(Duration::from_millis(3)).await;
                        panic!("round 47: a handler panics");
                        #[allow(unreachable_code)]
                        "never"
                    }),
                )
                .route(
                    "/ok",
                    get(|| async {
                        let _inside = PANICKY.enter();
                        tokio::time::sleep(Duration::from_millis(3)).await;
                        "fine"
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(Panicky::POOL).hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = client();
            let calls: Vec<_> = (0..16)
                .map(|i| {
                    let path = if i % 2 == 0 { "p" } else { "ok" };
                    let request = c.get(format!("{base}/{path}"));
                    tokio::spawn(async move {
                        match request.send().await {
                            Ok(response) => Some(read_all(response).await.0),
                            Err(_) => None, // the connection died with the panic
                        }
                    })
                })
                .collect();
            let mut ok = 0;
            for call in calls {
                match bounded("a call", call).await.unwrap() {
                    Some(200) => ok += 1,
                    None => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!(ok, 8);
            settle("the bulkhead idles", || {
                let s = Panicky::POOL.stats();
                s.running == 0 && s.waiting == 0
            })
            .await;
            assert!(PANICKY.peak() <= 2, "peak {}", PANICKY.peak());
            let s = Panicky::POOL.stats();
            assert_eq!((s.completed, s.panicked, s.cancelled), (16, 8, 0), "{s:?}");
            assert_identity(&s);
        });
    }

    #[pooled::group(size = 1)]
    pub struct BodyPanic;

    static BODY_PANIC_AT: AtomicUsize = AtomicUsize::new(0);

    /// A streamed body whose stream panics mid-way: the slot comes back,
    /// the call is counted panicked (PermitBody's docs), and the next client
    /// is served by the pool of one.
    #[test]
    fn a_body_panicking_mid_stream_frees_the_slot_and_counts_as_panicked() {
        run(|| async {
            let app = Router::new()
                .route(
                    "/s",
                    get(|| async {
                        let stream = futures::stream::unfold(0u32, |i| async move {
                            tokio::time::sleep(Duration::from_millis(2)).await;
                            if i == 2 {
                                BODY_PANIC_AT.fetch_add(1, SeqCst);
                                panic!("round 47: a body panics");
                            }
                            Some((Ok::<_, std::io::Error>(Bytes::from_static(b"ab")), i + 1))
                        });
                        Response::new(Body::from_stream(stream))
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(BodyPanic::POOL).hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = client();
            for _ in 0..3 {
                let result = bounded("a panicking body", async {
                    c.get(format!("{base}/s")).send().await?.bytes().await
                })
                .await;
                assert!(result.is_err(), "a body that panicked cannot end cleanly");
            }
            assert_eq!(BODY_PANIC_AT.load(SeqCst), 3);
            settle("the bulkhead idles", || {
                BodyPanic::POOL.stats().running == 0
            })
            .await;
            let s = BodyPanic::POOL.stats();
            assert_eq!((s.completed, s.panicked, s.cancelled), (3, 3, 0), "{s:?}");
            assert_identity(&s);
        });
    }

    #[pooled::group(size = 1)]
    pub struct BodyError;

    /// A streamed body that fails mid-way (its stream yields an error):
    /// the client sees a broken body, the slot comes back, and the call is
    /// counted completed ("completed at its last frame or its error",
    /// `PermitBody`), not panicked or cancelled.
    #[test]
    fn a_body_failing_mid_stream_completes_the_call() {
        use futures::StreamExt;
        run(|| async {
            let app = Router::new()
                .route(
                    "/s",
                    get(|| async {
                        let stream = futures::stream::iter(0..3u32).then(|i| async move {
                            tokio::time::sleep(Duration::from_millis(2)).await;
                            if i == 2 {
                                return Err(std::io::Error::other("round 47: the source broke"));
                            }
                            Ok(Bytes::from_static(b"ok"))
                        });
                        Response::new(Body::from_stream(stream))
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(BodyError::POOL).hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = client();
            for _ in 0..3 {
                let result = bounded("a broken body", async {
                    c.get(format!("{base}/s")).send().await?.bytes().await
                })
                .await;
                assert!(result.is_err(), "a broken body cannot end cleanly");
            }
            settle("idle", || BodyError::POOL.stats().running == 0).await;
            let s = BodyError::POOL.stats();
            assert_eq!((s.completed, s.panicked, s.cancelled), (3, 0, 0), "{s:?}");
            assert_identity(&s);
        });
    }

    #[pooled::group(size = 2)]
    pub struct Nested;

    static NESTED_OUTER: Meter = Meter::new();
    static NESTED_INNER: Meter = Meter::new();

    #[pooled::pooled(group = Nested)]
    async fn nested_lookup(i: u64) -> Result<u64, Rejected> {
        let _inside = NESTED_INNER.enter();
        tokio::time::sleep(Duration::from_millis(2)).await;
        Ok(i * 2)
    }

    /// Handlers and their streamed bodies call the bulkhead's own group
    /// (`#[pooled(group = ..)]`): nested calls, so a full bulkhead does not
    /// deadlock, and the group's function never runs more than 2 at once.
    #[test]
    fn handlers_and_bodies_calling_the_bulkheads_group_neither_hang_nor_pass_it() {
        use futures::StreamExt;
        run(|| async {
            let app = Router::new()
                .route(
                    "/n",
                    get(|| async {
                        let inside = NESTED_OUTER.enter();
                        let first = nested_lookup(1).await.unwrap();
                        let chunks = futures::stream::iter(0..3u64).then(move |i| async move {
                            let v = nested_lookup(i).await.map_err(BoxError::from)?;
                            Ok::<_, BoxError>(Bytes::from(format!("{v},")))
                        });
                        let body = chunks.chain(futures::stream::once(async move {
                            drop(inside);
                            Ok(Bytes::from(format!("{first}")))
                        }));
                        Response::new(Body::from_stream(body))
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(Nested::POOL).hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = client();
            let calls: Vec<_> = (0..12)
                .map(|_| {
                    let request = c.get(format!("{base}/n"));
                    tokio::spawn(async move { request.send().await?.text().await })
                })
                .collect();
            for call in calls {
                let text = bounded("a nested call", call).await.unwrap().unwrap();
                assert_eq!(text, "0,2,4,2");
            }
            assert!(NESTED_OUTER.peak() <= 2, "outer {}", NESTED_OUTER.peak());
            assert!(NESTED_INNER.peak() <= 2, "inner {}", NESTED_INNER.peak());
            settle("the group idles", || {
                let s = Nested::POOL.stats();
                s.running == 0 && s.waiting == 0 && s.nested == 0
            })
            .await;
            let s = Nested::POOL.stats();
            assert_eq!((s.completed, s.cancelled), (12 * 5, 0), "{s:?}");
            assert_identity(&s);
        });
    }

    #[pooled::group(size = 2)]
    pub struct Gate;

    static GATE: Meter = Meter::new();
    static GATE_CLOSED: AtomicBool = AtomicBool::new(false);

    /// Pause, resume and close of the bulkhead's group while 40 clients
    /// stream through it (waiting mode): paused/closed calls are 503s, the
    /// rest 200s, the limit holds, and the 200s and 503s match the stats.
    #[test]
    fn pause_resume_close_of_a_bulkhead_under_traffic() {
        run(|| async {
            let app = Router::new()
                .route(
                    "/s",
                    get(|| async {
                        let inside = GATE.enter();
                        Response::new(slow_body(inside, 3, Duration::from_millis(2), 8))
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(Gate::POOL).hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = client();
            let calls: Vec<_> = (0..40u64)
                .map(|i| {
                    let request = c.get(format!("{base}/s"));
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(i * 2)).await;
                        // The last few go after the close, whatever the timing.
                        while i >= 36 && !GATE_CLOSED.load(SeqCst) {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        read_all(request.send().await.unwrap()).await
                    })
                })
                .collect();
            let control = tokio::spawn(async {
                for round in 0..4 {
                    tokio::time::sleep(Duration::from_millis(7)).await;
                    Gate::POOL.pause();
                    tokio::time::sleep(Duration::from_millis(5 + round)).await;
                    Gate::POOL.resume();
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                Gate::POOL.pool().close();
                GATE_CLOSED.store(true, SeqCst);
            });
            let (mut ok, mut shed) = (0u64, 0u64);
            for call in calls {
                match bounded("a call", call).await.unwrap() {
                    (200, 24) => ok += 1,
                    (503, _) => shed += 1,
                    other => panic!("unexpected {other:?}"),
                }
            }
            bounded("the controller", control).await.unwrap();
            assert_eq!(ok + shed, 40);
            assert!(shed >= 4, "the close turned nobody away");
            assert!(GATE.peak() <= 2, "peak {}", GATE.peak());
            settle("the bulkhead idles", || {
                let s = Gate::POOL.stats();
                s.running == 0 && s.waiting == 0
            })
            .await;
            let s = Gate::POOL.stats();
            assert_eq!(s.completed, ok, "{s:?}");
            assert_eq!(s.rejected_total(), shed, "{s:?}");
            assert_identity(&s);
        });
    }

    #[pooled::group(size = 1)]
    pub struct Queued;

    static QUEUED: Meter = Meter::new();

    /// Clients that give up while queued behind a held body (waiting mode):
    /// whatever hyper does with their requests, the bulkhead ends idle with
    /// every call accounted for and the limit held.
    #[test]
    fn clients_giving_up_while_queued_leave_nothing_behind() {
        run(|| async {
            let app = Router::new()
                .route(
                    "/s",
                    get(|| async {
                        let inside = QUEUED.enter();
                        Response::new(slow_body(inside, 4, Duration::from_millis(10), 8))
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(Queued::POOL).hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = client();
            let calls: Vec<_> = (0..10u64)
                .map(|i| {
                    let request = c.get(format!("{base}/s"));
                    tokio::spawn(async move {
                        let call = async { request.send().await?.bytes().await };
                        tokio::time::timeout(Duration::from_millis(15 + 7 * i), call)
                            .await
                            .is_ok()
                    })
                })
                .collect();
            for call in calls {
                bounded("a client giving up", call).await.unwrap();
            }
            settle("the bulkhead idles", || {
                let s = Queued::POOL.stats();
                s.running == 0 && s.waiting == 0
            })
            .await;
            assert!(QUEUED.peak() <= 1, "peak {}", QUEUED.peak());
            let s = Queued::POOL.stats();
            assert_eq!(s.rejected_total(), 0, "{s:?}");
            assert_identity(&s);
            // and it serves again
            let (status, _) = bounded("a later call", async {
                read_all(c.get(format!("{base}/s")).send().await.unwrap()).await
            })
            .await;
            assert_eq!(status, 200);
        });
    }

    #[pooled::group(size = 2)]
    pub struct Bodiless;

    #[pooled::group(size = 2)]
    pub struct BodilessHead;

    static BODILESS: Meter = Meter::new();

    /// A bulkhead holding slots until bodies end, in front of a handler
    /// whose body is a stream, on `/s` (200), `/204` and `/304`.
    fn bodiless_app(pool: &'static pooled::Group) -> Router {
        Router::new()
            .route(
                "/s",
                get(|| async {
                    let inside = BODILESS.enter();
                    Response::new(slow_body(inside, 2, Duration::from_millis(1), 4))
                }),
            )
            .route(
                "/204",
                get(|| async {
                    let inside = BODILESS.enter();
                    let mut r = Response::new(slow_body(inside, 2, Duration::ZERO, 4));
                    *r.status_mut() = StatusCode::NO_CONTENT;
                    r
                }),
            )
            .route(
                "/304",
                get(|| async {
                    let inside = BODILESS.enter();
                    let mut r = Response::new(slow_body(inside, 2, Duration::ZERO, 4));
                    *r.status_mut() = StatusCode::NOT_MODIFIED;
                    r
                }),
            )
            .layer((
                HandleErrorLayer::new(refusal),
                PooledLayer::group(pool).hold_until_body_ends(),
            ))
    }

    /// Responses hyper sends without a body by their status (a 204, a 304)
    /// from a handler whose body is a stream: the client got its full
    /// answer, so each is a completed call (the clients saw success), and
    /// the slots come back. (Found counted cancelled: hyper drops such a
    /// body unpolled; fixed.)
    #[test]
    fn bodiless_answers_count_as_completed_calls() {
        run(|| async {
            let base = serve(bodiless_app(Bodiless::POOL)).await;
            let c = client();
            let mut statuses = Vec::new();
            for _ in 0..2 {
                for path in ["204", "304"] {
                    let r = bounded("a bodiless GET", c.get(format!("{base}/{path}")).send()).await;
                    statuses.push(read_all(r.unwrap()).await);
                }
            }
            assert_eq!(statuses, [(204, 0), (304, 0), (204, 0), (304, 0)]);
            settle("idle", || Bodiless::POOL.stats().running == 0).await;
            let s = Bodiless::POOL.stats();
            assert_eq!((s.completed, s.cancelled), (4, 0), "served calls: {s:?}");
            assert_identity(&s);
        });
    }

    /// The answer to a `HEAD` request: axum replaces its body and hyper
    /// drops it unpolled, so the call counts as cancelled although it was
    /// served in full. Documented (`UntilBodyEnds`: the policy sees the
    /// response only); kept to measure it.
    #[test]
    #[ignore = "documented limit (UntilBodyEnds): a HEAD answer whose body the server drops unread counts as a cancelled call"]
    fn head_answers_count_as_completed_calls() {
        run(|| async {
            let base = serve(bodiless_app(BodilessHead::POOL)).await;
            let c = client();
            let mut statuses = Vec::new();
            for _ in 0..2 {
                let head = bounded("a HEAD", c.head(format!("{base}/s")).send()).await;
                statuses.push(read_all(head.unwrap()).await);
            }
            assert_eq!(statuses, [(200, 0), (200, 0)]);
            settle("idle", || BodilessHead::POOL.stats().running == 0).await;
            let s = BodilessHead::POOL.stats();
            assert_eq!((s.completed, s.cancelled), (2, 0), "served calls: {s:?}");
            assert_identity(&s);
        });
    }

    #[pooled::group(kind = "autoscale", policy = "adaptive", min = 1, max = 2)]
    pub struct PanicJudge;

    /// An `overload` predicate that panics on some responses runs as the
    /// call's work (README): the call counts as panicked, its slot comes
    /// back, the connection dies with it, and the other calls are served.
    #[test]
    fn a_panicking_overload_predicate_frees_the_slot_and_counts_as_panicked() {
        run(|| async {
            let app = Router::new()
                .route("/ok", get(|| async { StatusCode::OK }))
                .route("/busy", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(PanicJudge::POOL).overload(
                        |result: &Result<Response, std::convert::Infallible>| {
                            if matches!(result, Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE) {
                                panic!("round 47: a judge panics");
                            }
                            false
                        },
                    ),
                ));
            let base = serve(app).await;
            let c = client();
            let (mut ok, mut died) = (0, 0);
            for i in 0..10 {
                let path = if i % 2 == 0 { "ok" } else { "busy" };
                match bounded("a judged call", c.get(format!("{base}/{path}")).send()).await {
                    Ok(r) if r.status() == 200 => ok += 1,
                    Ok(r) => panic!("unexpected {}", r.status()),
                    Err(_) => died += 1,
                }
            }
            assert_eq!((ok, died), (5, 5));
            settle("idle", || PanicJudge::POOL.stats().running == 0).await;
            let s = PanicJudge::POOL.stats();
            assert_eq!((s.completed, s.panicked, s.cancelled), (10, 5, 0), "{s:?}");
            assert_identity(&s);
        });
    }

    #[cfg(feature = "test-util")]
    #[pooled::group(size = 1)]
    pub struct Isolated;

    #[cfg(feature = "test-util")]
    static ISOLATED: Meter = Meter::new();

    /// A bulkhead over an isolated group (`Group::isolate`, feature
    /// `test-util`): the server's connection tasks run on the test's
    /// runtime, so they use the test's instance, whose stats count them;
    /// the shared pool sees nothing.
    #[cfg(feature = "test-util")]
    #[test]
    fn a_bulkhead_over_an_isolated_group_counts_in_the_tests_instance() {
        run(|| async {
            let guard = Isolated::POOL.isolate();
            let app = Router::new()
                .route(
                    "/s",
                    get(|| async {
                        let inside = ISOLATED.enter();
                        Response::new(slow_body(inside, 2, Duration::from_millis(2), 4))
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(Isolated::POOL).hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = client();
            let calls: Vec<_> = (0..6)
                .map(|_| {
                    let request = c.get(format!("{base}/s"));
                    tokio::spawn(async move { read_all(request.send().await.unwrap()).await })
                })
                .collect();
            for call in calls {
                assert_eq!(bounded("an isolated call", call).await.unwrap(), (200, 8));
            }
            assert!(ISOLATED.peak() <= 1, "peak {}", ISOLATED.peak());
            settle("idle", || Isolated::POOL.stats().running == 0).await;
            let s = Isolated::POOL.stats();
            assert_eq!((s.completed, s.waiting), (6, 0), "{s:?}");
            assert_identity(&s);
            drop(guard);
            assert_eq!(
                Isolated::POOL.stats().submitted(),
                0,
                "the shared pool was used"
            );
        });
    }

    #[pooled::group(size = 2)]
    pub struct Abandoned;

    static ABANDONED: Meter = Meter::new();

    /// Clients that give up before the response head while handlers work
    /// (random points; hold_until_body_ends): the server drops their
    /// handlers under their slots, so the handlers themselves never run
    /// more than 2 at once, and every call ends completed or cancelled.
    #[test]
    fn clients_abandoning_running_handlers_never_let_handlers_pass_the_limit() {
        run(|| async {
            let app = Router::new()
                .route(
                    "/s",
                    get(
                        |axum::extract::RawQuery(q): axum::extract::RawQuery| async move {
                            let inside = ABANDONED.enter();
                            let ms = q.and_then(|q| q.parse().ok()).unwrap_or(0);
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                            Response::new(slow_body(inside, 2, Duration::from_millis(ms / 2), 4))
                        },
                    ),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(Abandoned::POOL).hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = client();
            let mut rng = Rng(0x47);
            let calls: Vec<_> = (0..40)
                .map(|_| {
                    let request = c.get(format!("{base}/s?{}", 1 + rng.below(10)));
                    let patience = Duration::from_millis(rng.below(40));
                    tokio::spawn(async move {
                        let call = async { request.send().await?.bytes().await };
                        tokio::time::timeout(patience, call).await.is_ok()
                    })
                })
                .collect();
            let mut finished = 0u64;
            for call in calls {
                finished += u64::from(bounded("a call", call).await.unwrap());
            }
            settle("the handlers end", || ABANDONED.now() == 0).await;
            settle("idle", || {
                let s = Abandoned::POOL.stats();
                s.running == 0 && s.waiting == 0
            })
            .await;
            assert!(ABANDONED.peak() <= 2, "handlers peak {}", ABANDONED.peak());
            let s = Abandoned::POOL.stats();
            assert!(s.completed >= finished, "{s:?} vs {finished} finished");
            assert_eq!(s.rejected_total(), 0, "{s:?}");
            assert_identity(&s);
        });
    }

    #[pooled::group(size = 2)]
    pub struct Uploads;

    /// Raw TCP clients that stall mid-upload (a request body promised by
    /// `Content-Length`, half sent) hold the reject-mode bulkhead's slots
    /// while their connections are open — a third upload is a 503 at once —
    /// and give them back when they hang up; nothing hangs.
    #[test]
    fn uploads_stalled_mid_body_hold_slots_until_the_clients_hang_up() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        run(|| async {
            let app = Router::new()
                .route(
                    "/up",
                    axum::routing::post(|body: Bytes| async move { format!("{}", body.len()) }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(Uploads::POOL)
                        .reject()
                        .hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let addr = base.trim_start_matches("http://").to_owned();
            let head = "POST /up HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n";
            let mut stalled = Vec::new();
            for _ in 0..2 {
                let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
                tcp.write_all(head.as_bytes()).await.unwrap();
                tcp.write_all(&[b'y'; 400]).await.unwrap();
                stalled.push(tcp);
            }
            settle("the uploads hold the slots", || {
                Uploads::POOL.stats().running == 2
            })
            .await;
            let c = client();
            let third = bounded(
                "a third upload",
                c.post(format!("{base}/up")).body(vec![b'z'; 10]).send(),
            )
            .await
            .unwrap();
            assert_eq!(third.status(), 503);
            assert_eq!(third.text().await.unwrap(), "task pool queue is full");
            // One finishes its upload, one hangs up.
            let mut done = stalled.remove(0);
            done.write_all(&[b'y'; 600]).await.unwrap();
            let mut answer = vec![0u8; 512];
            let n = bounded("the finished upload's answer", done.read(&mut answer))
                .await
                .unwrap();
            let answer = String::from_utf8_lossy(&answer[..n]).to_string();
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            assert!(answer.ends_with("1000"), "{answer}");
            drop(stalled);
            settle("idle", || Uploads::POOL.stats().running == 0).await;
            let ok = bounded(
                "an upload after",
                c.post(format!("{base}/up")).body(vec![b'z'; 10]).send(),
            )
            .await
            .unwrap();
            assert_eq!(ok.text().await.unwrap(), "10");
            settle("idle", || Uploads::POOL.stats().running == 0).await;
            let s = Uploads::POOL.stats();
            assert_eq!(s.rejected_for(Rejected::Full), 1, "{s:?}");
            assert!(s.completed >= 2, "{s:?}");
            assert_eq!(s.completed + s.cancelled, 3, "{s:?}");
            assert_identity(&s);
            drop(done);
        });
    }

    #[pooled::group(order = "priority", size = 1)]
    pub struct Extremes;

    static EXTREMES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

    /// Reject mode and pause on a weighted bulkhead, then extreme weights
    /// (`i64::MIN`, `i64::MAX`) from request headers in waiting mode: the
    /// paused refusal reads "paused", the busy one "full", and the queued
    /// requests reach the handler smallest weight first.
    #[test]
    fn weighted_bulkheads_with_extreme_weights_and_refusal_reasons() {
        run(|| async {
            let handler = get(|request: axum::extract::Request| async move {
                let id = request.uri().query().unwrap_or_default().to_owned();
                EXTREMES.lock().unwrap().push(id);
                "ok"
            });
            let waits = Router::new().route("/w", handler.clone()).layer((
                HandleErrorLayer::new(refusal),
                PooledLayer::group(Extremes::POOL).weight(header_weight),
            ));
            let sheds = Router::new().route("/r", handler).layer((
                HandleErrorLayer::new(refusal),
                PooledLayer::group(Extremes::POOL)
                    .weight(header_weight)
                    .reject(),
            ));
            let base = serve(waits.merge(sheds)).await;
            let c = client();
            Extremes::POOL.pause();
            let paused = bounded("a paused call", c.get(format!("{base}/r?p")).send()).await;
            let paused = paused.unwrap();
            assert_eq!(paused.status(), 503);
            assert_eq!(paused.text().await.unwrap(), "task pool is paused");
            Extremes::POOL.resume();
            let hold = bounded("the gate", Extremes::POOL.acquire(0))
                .await
                .unwrap();
            let full = bounded("a shed call", c.get(format!("{base}/r?f")).send()).await;
            let full = full.unwrap();
            assert_eq!(full.status(), 503);
            assert_eq!(full.text().await.unwrap(), "task pool queue is full");
            let mut calls = Vec::new();
            for (n, (id, weight)) in [
                ("max", i64::MAX),
                ("zero", 0),
                ("min", i64::MIN),
                ("max2", i64::MAX),
                ("minus", -1),
                ("min2", i64::MIN),
            ]
            .into_iter()
            .enumerate()
            {
                let request = c
                    .get(format!("{base}/w?{id}"))
                    .header("x-weight", weight.to_string());
                calls.push(tokio::spawn(async move {
                    request.send().await.unwrap().text().await.unwrap()
                }));
                settle("queued", || Extremes::POOL.stats().waiting == n + 1).await;
            }
            drop(hold);
            for call in calls {
                assert_eq!(bounded("a weighted call", call).await.unwrap(), "ok");
            }
            assert_eq!(
                *EXTREMES.lock().unwrap(),
                ["min", "min2", "minus", "zero", "max", "max2"]
            );
            let s = Extremes::POOL.stats();
            assert_eq!(
                (
                    s.completed,
                    s.rejected_for(Rejected::Paused),
                    s.rejected_for(Rejected::Full)
                ),
                (7, 1, 1),
                "{s:?}"
            );
            assert_identity(&s);
        });
    }

    #[cfg(feature = "metrics")]
    #[pooled::group(size = 2, name = "r47_metered")]
    pub struct Metered;

    /// The series `series{labels}` of a Prometheus scrape.
    #[cfg(feature = "metrics")]
    fn series(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        text.lines().find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, rest) = series.split_once('{').unwrap_or((series, "}"));
            let mut found: Vec<&str> = rest.trim_end_matches('}').split(',').collect();
            found.retain(|l| !l.is_empty());
            let mut wanted: Vec<String> =
                labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            found.sort_unstable();
            wanted.sort_unstable();
            (series_name == name && found == wanted).then(|| value.parse().ok())?
        })
    }

    /// With a Prometheus recorder (the only one of this test binary), a
    /// bulkhead's `pooled.calls` by outcome and its gauges agree with its
    /// `stats()` and with what the HTTP clients saw: streamed bodies read
    /// to the end, bodies abandoned mid-way, 503s of reject mode, a handler
    /// panic.
    #[cfg(feature = "metrics")]
    #[test]
    fn a_bulkheads_metrics_match_its_stats_and_the_clients() {
        use metrics_exporter_prometheus::PrometheusBuilder;
        let recorder = PrometheusBuilder::new()
            .with_recommended_naming(true)
            .build_recorder();
        let scrape = recorder.handle();
        metrics::set_global_recorder(recorder).expect("the only recorder of this binary");
        run(move || async move {
            static METERED: Meter = Meter::new();
            let routes = Router::new()
                .route(
                    "/s",
                    get(|| async {
                        let inside = METERED.enter();
                        Response::new(slow_body(inside, 3, Duration::from_millis(2), 4))
                    }),
                )
                .route(
                    "/endless",
                    get(|| async {
                        let inside = METERED.enter();
                        Response::new(slow_body(inside, usize::MAX, Duration::from_millis(2), 4))
                    }),
                )
                .route(
                    "/p",
                    get(|| async {
                        panic!("round 47: a metered handler panics");
                        #[allow(unreachable_code)]
                        ""
                    }),
                );
            let waits = routes.clone().layer((
                HandleErrorLayer::new(refusal),
                PooledLayer::group(Metered::POOL).hold_until_body_ends(),
            ));
            let sheds = Router::new().nest("/r", routes).layer((
                HandleErrorLayer::new(refusal),
                PooledLayer::group(Metered::POOL)
                    .reject()
                    .hold_until_body_ends(),
            ));
            let base = serve(waits.merge(sheds)).await;
            let c = client();
            let calls: Vec<_> = (0..6)
                .map(|_| {
                    let request = c.get(format!("{base}/s"));
                    tokio::spawn(async move { read_all(request.send().await.unwrap()).await })
                })
                .collect();
            for call in calls {
                assert_eq!(bounded("a streamed call", call).await.unwrap(), (200, 12));
            }
            for _ in 0..3 {
                let mut r = bounded("an endless call", c.get(format!("{base}/endless")).send())
                    .await
                    .unwrap();
                assert!(bounded("a chunk", r.chunk()).await.unwrap().is_some());
                drop(r);
                settle("the slot comes back", || Metered::POOL.stats().running == 0).await;
            }
            let permits = [
                Metered::POOL.try_acquire(0).unwrap(),
                Metered::POOL.try_acquire(0).unwrap(),
            ];
            for _ in 0..2 {
                let r = bounded("a shed call", c.get(format!("{base}/r/s")).send()).await;
                assert_eq!(r.unwrap().status(), 503);
            }
            drop(permits);
            assert!(
                bounded("a panicking handler", c.get(format!("{base}/p")).send())
                    .await
                    .is_err()
            );
            settle("idle", || Metered::POOL.stats().running == 0).await;
            assert!(METERED.peak() <= 2, "peak {}", METERED.peak());
            let s = Metered::POOL.stats();
            // 6 streamed + 2 permits + 1 panicked handler; 3 abandoned; 2 shed.
            assert_eq!(
                (
                    s.completed,
                    s.panicked,
                    s.cancelled,
                    s.rejected_for(Rejected::Full)
                ),
                (9, 1, 3, 2),
                "{s:?}"
            );
            assert_identity(&s);
            let pool = ("pool", "r47_metered");
            let calls = |outcome: &str| {
                series(
                    &scrape.render(),
                    "pooled_calls_total",
                    &[pool, ("outcome", outcome)],
                )
            };
            settle("the recorder catches up", || {
                calls("completed") == Some((s.completed - s.panicked) as f64)
            })
            .await;
            assert_eq!(calls("panicked"), Some(s.panicked as f64));
            assert_eq!(calls("cancelled"), Some(s.cancelled as f64));
            let text = scrape.render();
            assert_eq!(
                series(
                    &text,
                    "pooled_calls_total",
                    &[pool, ("outcome", "rejected"), ("reason", "full")]
                ),
                Some(2.0),
                "{text}"
            );
            assert_eq!(
                series(&text, "pooled_running", &[pool]),
                Some(0.0),
                "{text}"
            );
            assert_eq!(
                series(&text, "pooled_waiting", &[pool]),
                Some(0.0),
                "{text}"
            );
            assert_eq!(series(&text, "pooled_limit", &[pool]), Some(2.0), "{text}");
        });
    }

    #[pooled::group(size = 1)]
    pub struct Fanout;

    #[pooled::pooled(group = Fanout)]
    async fn fanout_lookup(c: &reqwest::Client, url: &str) -> Result<(), super::client::CallError> {
        super::client::http_get(c, url).await
    }

    /// Promise (README, Fitting the stack: "a handler (or a body) calling
    /// the same pool or group makes a nested call (see the reentrancy rule
    /// below)"; the rule: "the server behind a pool of N never sees more
    /// than N calls from it"). Attack: a bulkhead of 1 whose handler joins
    /// its own upstream request with a `#[pooled]` call of the bulkhead's
    /// group that makes another: the joined call runs under the handler's
    /// slot while the handler's own request is in flight, so the upstream
    /// server gets 2 requests at once from a bulkhead of 1.
    #[test]
    #[ignore = "documented limit (README, Reentrancy rule; Pool docs): a parent's own work beside its nested call shares its slot — a handler joining its own upstream request with a call of its bulkhead's group sends 2 at once from a bulkhead of 1"]
    fn a_handler_joining_its_own_request_with_a_nested_call_passes_the_bulkhead() {
        run(|| async {
            let (upstream, seen) = super::client::server(0).await;
            let url = format!("{upstream}/work?ms=40");
            let app = Router::new()
                .route(
                    "/f",
                    get(move || {
                        let url = url.clone();
                        async move {
                            let c = client();
                            let (own, nested) = tokio::join!(
                                super::client::http_get(&c, &url),
                                fanout_lookup(&c, &url)
                            );
                            (own.is_ok() && nested.is_ok()).to_string()
                        }
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(Fanout::POOL),
                ));
            let base = serve(app).await;
            let answer = bounded("the fan-out", async {
                client().get(format!("{base}/f")).send().await?.text().await
            })
            .await
            .unwrap();
            assert_eq!(answer, "true");
            assert!(
                seen.meter.peak() <= 1,
                "the upstream got {} requests at once from a bulkhead of 1",
                seen.meter.peak()
            );
        });
    }

    #[pooled::group(size = 1)]
    pub struct Admitted;

    static ADMITTED_BODY: Meter = Meter::new();

    #[pooled::pooled(group = Admitted)]
    async fn admitted_chunk(i: u32) -> Result<String, Rejected> {
        let _inside = ADMITTED_BODY.enter();
        tokio::time::sleep(Duration::from_millis(3)).await;
        Ok(format!("{i},"))
    }

    /// A streamed body whose frames call the bulkhead's own group (nested
    /// calls) while the group is paused and then closed under it: the
    /// nested calls belong to admitted work, so neither turns them away
    /// (README, reentrancy rule); the body ends whole, new requests are
    /// 503s, and the group ends idle.
    #[test]
    fn a_bodys_nested_calls_survive_pause_and_close_of_the_bulkhead() {
        use futures::StreamExt;
        run(|| async {
            let app = Router::new()
                .route(
                    "/s",
                    get(|| async {
                        let chunks = futures::stream::iter(0..8u32).then(|i| async move {
                            let chunk = admitted_chunk(i).await.map_err(BoxError::from)?;
                            Ok::<_, BoxError>(Bytes::from(chunk))
                        });
                        Response::new(Body::from_stream(chunks))
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(Admitted::POOL).hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = client();
            let mut response = bounded("the head", c.get(format!("{base}/s")).send())
                .await
                .unwrap();
            let mut text = String::new();
            let first = bounded("a chunk", response.chunk()).await.unwrap().unwrap();
            text.push_str(std::str::from_utf8(&first).unwrap());
            Admitted::POOL.pause();
            let paused = bounded("a paused call", c.get(format!("{base}/s")).send())
                .await
                .unwrap();
            assert_eq!(paused.status(), 503);
            let second = bounded("a chunk", response.chunk()).await.unwrap().unwrap();
            text.push_str(std::str::from_utf8(&second).unwrap());
            Admitted::POOL.pool().close();
            let closed = bounded("a closed call", c.get(format!("{base}/s")).send())
                .await
                .unwrap();
            assert_eq!(closed.text().await.unwrap(), "task pool is closed");
            while let Some(chunk) = bounded("a chunk", response.chunk()).await.unwrap() {
                text.push_str(std::str::from_utf8(&chunk).unwrap());
            }
            assert_eq!(text, "0,1,2,3,4,5,6,7,");
            assert_eq!(ADMITTED_BODY.peak(), 1);
            settle("idle", || Admitted::POOL.stats().running == 0).await;
            let s = Admitted::POOL.stats();
            assert_eq!(
                (s.completed, s.nested, s.rejected_total(), s.cancelled),
                (9, 0, 2, 0),
                "{s:?}"
            );
            assert_identity(&s);
        });
    }

    #[pooled::group(size = 1)]
    pub struct Empty;

    /// Empty bodies (a `()` handler, a bare 204) hold nothing with
    /// `hold_until_body_ends` (PermitBody: "an empty body holds nothing"):
    /// each call completes with its response, the pool of one serves them
    /// back to back.
    #[test]
    fn empty_bodies_complete_with_their_response() {
        run(|| async {
            let app = Router::new()
                .route("/unit", get(|| async {}))
                .route("/nc", get(|| async { StatusCode::NO_CONTENT }))
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(Empty::POOL).hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = client();
            for path in ["unit", "nc", "unit", "nc"] {
                let r = bounded("an empty answer", c.get(format!("{base}/{path}")).send()).await;
                let (status, len) = read_all(r.unwrap()).await;
                assert!(status == 200 || status == 204);
                assert_eq!(len, 0);
            }
            settle("idle", || Empty::POOL.stats().running == 0).await;
            let s = Empty::POOL.stats();
            assert_eq!((s.completed, s.cancelled), (4, 0), "{s:?}");
            assert_identity(&s);
        });
    }

    #[pooled::group(size = 3)]
    pub struct Shrink;

    static SHRINK: Meter = Meter::new();

    /// Endless body from `base`: the response once its first chunk arrived.
    async fn first_chunk(c: reqwest::Client, url: String) -> reqwest::Response {
        let mut response = c.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.chunk().await.unwrap().is_some());
        response
    }

    /// Scaling a bulkhead down from 3 to 1 while 3 bodies stream: the
    /// bodies go on, new requests wait until fewer than 1 run (not merely
    /// fewer than 3), then are served one at a time.
    #[test]
    fn scaling_a_bulkhead_down_under_streaming_bodies_admits_nothing_until_below_the_limit() {
        run(|| async {
            let app = Router::new()
                .route(
                    "/s",
                    get(|| async {
                        let inside = SHRINK.enter();
                        Response::new(slow_body(inside, usize::MAX, Duration::from_millis(3), 8))
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(Shrink::POOL).hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = client();
            let mut streaming = Vec::new();
            for _ in 0..3 {
                let r = bounded("a body", first_chunk(c.clone(), format!("{base}/s"))).await;
                streaming.push(r);
            }
            assert_eq!(Shrink::POOL.resize(1), 1);
            let late: Vec<_> = (0..2)
                .map(|_| tokio::spawn(first_chunk(c.clone(), format!("{base}/s"))))
                .collect();
            settle("the late calls queue", || Shrink::POOL.stats().waiting == 2).await;
            streaming.truncate(1); // two clients hang up: 1 still runs, the limit is 1
            settle("two bodies end", || SHRINK.now() == 1).await;
            tokio::time::sleep(Duration::from_millis(30)).await;
            assert_eq!(SHRINK.now(), 1, "admitted while running == limit");
            assert_eq!(Shrink::POOL.stats().waiting, 2);
            streaming.clear(); // the last one hangs up: one late call runs
            settle("one late call admitted", || {
                Shrink::POOL.stats().waiting == 1 && SHRINK.now() == 1
            })
            .await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(SHRINK.now(), 1);
            Shrink::POOL.resize(3);
            for call in late {
                drop(bounded("a late call", call).await.unwrap());
            }
            settle("the bulkhead idles", || {
                let s = Shrink::POOL.stats();
                s.running == 0 && s.waiting == 0
            })
            .await;
            assert!(SHRINK.peak() <= 3);
            let s = Shrink::POOL.stats();
            assert_eq!((s.completed, s.cancelled), (0, 5), "{s:?}");
            assert_identity(&s);
        });
    }

    #[pooled::group(size = 3)]
    pub struct ShrinkShed;

    static SHRINK_SHED: Meter = Meter::new();

    /// Reject mode after a scale-down under 3 streaming bodies (3 → 1): a
    /// new request is a 503 while 3, 2 and then 1 bodies still run (running
    /// is not below the limit), and is served once none runs.
    #[test]
    fn a_shedding_bulkhead_scaled_down_sheds_until_running_is_below_the_new_limit() {
        run(|| async {
            let app = Router::new()
                .route(
                    "/s",
                    get(|| async {
                        let inside = SHRINK_SHED.enter();
                        Response::new(slow_body(inside, usize::MAX, Duration::from_millis(3), 8))
                    }),
                )
                .route(
                    "/one",
                    get(|| async {
                        let inside = SHRINK_SHED.enter();
                        Response::new(slow_body(inside, 1, Duration::ZERO, 3))
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(ShrinkShed::POOL)
                        .reject()
                        .hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = client();
            let mut streaming = Vec::new();
            for _ in 0..3 {
                let r = bounded("a body", first_chunk(c.clone(), format!("{base}/s"))).await;
                streaming.push(r);
            }
            assert_eq!(ShrinkShed::POOL.resize(1), 1);
            let mut shed = 0;
            for left in [3usize, 2, 1] {
                settle("bodies end", || SHRINK_SHED.now() == left).await;
                settle("the pool sees it", || {
                    ShrinkShed::POOL.stats().running == left
                })
                .await;
                let r = bounded("a shed call", c.get(format!("{base}/one")).send()).await;
                assert_eq!(r.unwrap().status(), 503, "admitted with {left} running");
                shed += 1;
                streaming.pop();
            }
            settle("all ended", || ShrinkShed::POOL.stats().running == 0).await;
            let r = bounded("a served call", c.get(format!("{base}/one")).send()).await;
            assert_eq!(read_all(r.unwrap()).await, (200, 3));
            assert!(SHRINK_SHED.peak() <= 3);
            settle("idle", || ShrinkShed::POOL.stats().running == 0).await;
            let s = ShrinkShed::POOL.stats();
            assert_eq!(
                (s.completed, s.cancelled, s.rejected_for(Rejected::Full)),
                (1, 3, shed),
                "{s:?}"
            );
            assert_identity(&s);
        });
    }

    #[pooled::group(order = "priority", size = 1)]
    pub struct ByHeader;

    static BY_HEADER: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

    fn header_weight(request: &axum::extract::Request) -> i64 {
        request
            .headers()
            .get("x-weight")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(100)
    }

    /// A weighted bulkhead (`.weight(fn of the request)`) over a priority
    /// group of one, bodies held: requests queued behind a held slot reach
    /// the handler in weight order; one whose client gives up while queued
    /// leaves the queue (never reaches the handler) and is counted cancelled.
    #[test]
    fn a_weighted_bulkhead_serves_by_request_weight_and_drops_leavers() {
        run(|| async {
            let app = Router::new()
                .route(
                    "/s",
                    get(|request: axum::extract::Request| async move {
                        let id = request.uri().query().unwrap_or_default().to_owned();
                        BY_HEADER.lock().unwrap().push(id);
                        "ok"
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(ByHeader::POOL)
                        .weight(header_weight)
                        .hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = client();
            let hold = bounded("the gate", ByHeader::POOL.acquire(0))
                .await
                .unwrap();
            let mut calls = Vec::new();
            for (n, (id, weight, patience)) in [
                ("a", 5, None),
                ("b", 1, None),
                ("c", 5, None),
                ("d", -3, None),
                ("leaver", -100, Some(40u64)),
            ]
            .into_iter()
            .enumerate()
            {
                let request = c
                    .get(format!("{base}/s?{id}"))
                    .header("x-weight", weight.to_string());
                calls.push(tokio::spawn(async move {
                    let call = async { request.send().await?.text().await };
                    match patience {
                        Some(ms) => tokio::time::timeout(Duration::from_millis(ms), call)
                            .await
                            .is_ok(),
                        None => call.await.unwrap() == "ok",
                    }
                }));
                settle("queued", || ByHeader::POOL.stats().waiting == n + 1).await;
            }
            settle("the leaver leaves", || ByHeader::POOL.stats().waiting == 4).await;
            drop(hold);
            let outcomes: Vec<bool> = {
                let mut out = Vec::new();
                for call in calls {
                    out.push(bounded("a weighted call", call).await.unwrap());
                }
                out
            };
            assert_eq!(outcomes, [true, true, true, true, false]);
            assert_eq!(*BY_HEADER.lock().unwrap(), ["d", "b", "a", "c"]);
            settle("idle", || ByHeader::POOL.stats().running == 0).await;
            let s = ByHeader::POOL.stats();
            // The gate, 4 served; the leaver cancelled.
            assert_eq!((s.completed, s.cancelled, s.waiting), (5, 1, 0), "{s:?}");
            assert_identity(&s);
        });
    }

    #[pooled::group(kind = "autoscale", policy = "adaptive", min = 1, max = 4)]
    pub struct Judged;

    static JUDGED: Meter = Meter::new();
    static JUDGED_SIZES: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());

    /// An adaptive bulkhead whose `overload` predicate judges the handler's
    /// 503s (it answers 503 past 1 at once): the handler never runs more
    /// than `max` at once, the limit stays in `[min, max]`, and every 200
    /// and 503 the clients saw is a completed call.
    #[test]
    fn an_adaptive_bulkhead_judging_its_503s_keeps_within_bounds() {
        run(|| async {
            let app = Router::new()
                .route(
                    "/s",
                    get(|| async {
                        let _inside = JUDGED.enter();
                        JUDGED_SIZES.lock().unwrap().push(Judged::POOL.size());
                        if JUDGED.now() > 1 {
                            return StatusCode::SERVICE_UNAVAILABLE;
                        }
                        tokio::time::sleep(Duration::from_millis(3)).await;
                        StatusCode::OK
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(Judged::POOL).overload(
                        |result: &Result<Response, std::convert::Infallible>| {
                            matches!(result, Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE)
                        },
                    ),
                ));
            let base = serve(app).await;
            let c = client();
            let calls: Vec<_> = (0..24)
                .map(|_| {
                    let c = c.clone();
                    let url = format!("{base}/s");
                    tokio::spawn(async move {
                        let mut statuses = Vec::new();
                        for _ in 0..5 {
                            let response = c.get(&url).send().await.unwrap();
                            statuses.push(response.status().as_u16());
                            response.bytes().await.unwrap();
                        }
                        statuses
                    })
                })
                .collect();
            let (mut ok, mut busy) = (0u64, 0u64);
            for call in calls {
                for status in bounded("a client", call).await.unwrap() {
                    match status {
                        200 => ok += 1,
                        503 => busy += 1,
                        other => panic!("unexpected {other}"),
                    }
                }
            }
            assert_eq!(ok + busy, 120);
            assert!(JUDGED.peak() <= 4, "peak {}", JUDGED.peak());
            let sizes = JUDGED_SIZES.lock().unwrap().clone();
            assert!(sizes.iter().all(|&n| (1..=4).contains(&n)), "{sizes:?}");
            settle("idle", || Judged::POOL.stats().running == 0).await;
            let s = Judged::POOL.stats();
            assert_eq!(
                (s.completed, s.rejected_total(), s.waiting),
                (120, 0, 0),
                "{s:?}"
            );
            assert_identity(&s);
        });
    }

    #[pooled::group(size = 1, max_waiting = 2)]
    pub struct Crowded;

    static CROWDED: Meter = Meter::new();

    /// A waiting bulkhead with a waiting bound: past 1 running and 2 queued
    /// a request is a 503 at once (`Full`), the others are served; the
    /// counts match the stats.
    #[test]
    fn a_waiting_bulkhead_with_a_waiting_bound_sheds_the_overflow() {
        run(|| async {
            let app = Router::new()
                .route(
                    "/s",
                    get(|| async {
                        let inside = CROWDED.enter();
                        Response::new(slow_body(inside, 3, Duration::from_millis(5), 4))
                    }),
                )
                .layer((
                    HandleErrorLayer::new(refusal),
                    PooledLayer::group(Crowded::POOL).hold_until_body_ends(),
                ));
            let base = serve(app).await;
            let c = client();
            let calls: Vec<_> = (0..10)
                .map(|_| {
                    let request = c.get(format!("{base}/s"));
                    tokio::spawn(async move { read_all(request.send().await.unwrap()).await })
                })
                .collect();
            let (mut ok, mut shed) = (0u64, 0u64);
            for call in calls {
                match bounded("a call", call).await.unwrap() {
                    (200, 12) => ok += 1,
                    (503, _) => shed += 1,
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert!(shed >= 1 && ok >= 3, "ok {ok}, shed {shed}");
            assert!(CROWDED.peak() <= 1, "peak {}", CROWDED.peak());
            settle("idle", || Crowded::POOL.stats().running == 0).await;
            let s = Crowded::POOL.stats();
            assert_eq!(s.completed, ok, "{s:?}");
            assert_eq!(s.rejected_for(Rejected::Full), shed, "{s:?}");
            assert_identity(&s);
        });
    }
}

/// Calls through `#[pooled]` functions and groups, against a server that
/// counts its own concurrency.
mod client {
    use super::*;
    use axum::extract::{RawQuery, State};
    use axum::http::StatusCode;
    use axum::routing::get;
    use axum::Router;
    use pooled::Rejected;
    use std::sync::{Arc, Mutex};

    /// What the server saw.
    pub struct Seen {
        pub meter: Meter,
        pub order: Mutex<Vec<String>>,
        /// Answer 503 while more than this many are inside (0: never).
        pub knee: usize,
    }

    /// `/work?ms=N&id=X` sleeps N ms; `/hang` never answers; `/busy` is a 503.
    async fn work(State(seen): State<Arc<Seen>>, RawQuery(q): RawQuery) -> (StatusCode, String) {
        let _inside = seen.meter.enter();
        let q = q.unwrap_or_default();
        let param = |key: &str| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_owned)
        };
        if let Some(id) = param("id") {
            seen.order.lock().unwrap().push(id);
        }
        if seen.knee > 0 && seen.meter.now() > seen.knee {
            return (StatusCode::SERVICE_UNAVAILABLE, "busy".into());
        }
        let ms = param("ms").and_then(|m| m.parse().ok()).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        (StatusCode::OK, "done".into())
    }

    async fn hang(State(seen): State<Arc<Seen>>) -> &'static str {
        let _inside = seen.meter.enter();
        std::future::pending::<()>().await;
        "never"
    }

    async fn busy(State(seen): State<Arc<Seen>>) -> StatusCode {
        let _inside = seen.meter.enter();
        tokio::time::sleep(Duration::from_millis(2)).await;
        StatusCode::SERVICE_UNAVAILABLE
    }

    /// The work goes on after the client hangs up (a spawned task, as a
    /// handler that writes to a database does): 80 ms of it.
    async fn detached(State(seen): State<Arc<Seen>>) -> &'static str {
        tokio::spawn(async move {
            let _inside = seen.meter.enter();
            tokio::time::sleep(Duration::from_millis(80)).await;
        })
        .await
        .unwrap();
        "done"
    }

    pub async fn server(knee: usize) -> (String, Arc<Seen>) {
        let seen = Arc::new(Seen {
            meter: Meter::new(),
            order: Mutex::new(Vec::new()),
            knee,
        });
        let app = Router::new()
            .route("/work", get(work))
            .route("/hang", get(hang))
            .route("/busy", get(busy))
            .route("/detached", get(detached))
            .with_state(seen.clone());
        (serve(app).await, seen)
    }

    /// A call's error: the pool's refusal, a status, or the transport's.
    #[derive(Debug)]
    pub enum CallError {
        Rejected(Rejected),
        Status(u16),
        Http(#[allow(dead_code)] reqwest::Error),
    }

    impl From<Rejected> for CallError {
        fn from(r: Rejected) -> Self {
            CallError::Rejected(r)
        }
    }

    impl From<reqwest::Error> for CallError {
        fn from(e: reqwest::Error) -> Self {
            CallError::Http(e)
        }
    }

    impl CallError {
        pub fn is_overloaded(&self) -> bool {
            matches!(self, CallError::Status(503))
        }
    }

    /// One GET to its end: Ok on a 2xx.
    pub async fn http_get(c: &reqwest::Client, url: &str) -> Result<(), CallError> {
        let response = c.get(url).send().await?;
        let status = response.status().as_u16();
        response.bytes().await?;
        if status == 200 {
            Ok(())
        } else {
            Err(CallError::Status(status))
        }
    }

    static FETCH_IN: Meter = Meter::new();

    #[pooled::pooled(size = 3)]
    async fn fetch(c: &reqwest::Client, url: &str) -> Result<(), CallError> {
        let _inside = FETCH_IN.enter();
        http_get(c, url).await
    }

    /// 80 calls of a `size = 3` function, a third of them cancelled at
    /// random points (while queued, mid-request, mid-body): neither the
    /// function's body nor the server ever sees more than 3, and the pool
    /// ends idle with completed + cancelled = 80.
    #[test]
    fn a_pooled_fn_keeps_the_server_under_its_limit_through_random_cancels() {
        run(|| async {
            let (base, seen) = server(0).await;
            let c = client();
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            let calls: Vec<_> = (0..80)
                .map(|i| {
                    let c = c.clone();
                    let url = format!("{base}/work?ms={}", rng.below(8));
                    let cancel_at = if i % 3 == 0 {
                        Some(Duration::from_millis(rng.below(30)))
                    } else {
                        None
                    };
                    tokio::spawn(async move {
                        match cancel_at {
                            Some(at) => tokio::time::timeout(at, fetch(&c, &url)).await.is_ok(),
                            None => {
                                fetch(&c, &url).await.unwrap();
                                true
                            }
                        }
                    })
                })
                .collect();
            let mut finished = 0u64;
            for call in calls {
                finished += u64::from(bounded("a fetch", call).await.unwrap());
            }
            assert!(FETCH_IN.peak() <= 3, "fn body peak {}", FETCH_IN.peak());
            // The server's own count is not asserted here: a cancelled call's
            // handler may outlive its slot (see
            // `a_cancelled_call_frees_its_slot_while_the_server_still_serves_it`).
            settle("the server idles", || seen.meter.now() == 0).await;
            settle("the pool idles", || {
                let s = FETCH_POOL.stats();
                s.running == 0 && s.waiting == 0
            })
            .await;
            let s = FETCH_POOL.stats();
            assert_eq!(s.completed, finished, "{s:?}");
            assert_eq!(s.completed + s.cancelled, 80, "{s:?}");
            assert_identity(&s);
        });
    }

    #[pooled::group(order = "priority", size = 1)]
    pub struct Ranked;

    #[pooled::pooled(group = Ranked, weight = 0)]
    async fn urgent(c: &reqwest::Client, url: &str) -> Result<(), CallError> {
        http_get(c, url).await
    }

    #[pooled::pooled(group = Ranked, weight = 10)]
    async fn batch(c: &reqwest::Client, url: &str) -> Result<(), CallError> {
        http_get(c, url).await
    }

    #[pooled::pooled(group = Ranked, weight = w)]
    async fn weighted(c: &reqwest::Client, url: &str, w: i64) -> Result<(), CallError> {
        http_get(c, url).await
    }

    /// A priority group of one over HTTP: batch calls queue first, then
    /// urgent ones and per-call weights; the server sees them in weight
    /// order (ties first come, first served), one at a time.
    #[test]
    fn a_priority_group_reaches_the_server_in_weight_order() {
        run(|| async {
            let (base, seen) = server(0).await;
            let c = client();
            let hold = bounded("the gate", Ranked::POOL.acquire(0)).await.unwrap();
            let mut calls = Vec::new();
            let mut expect = 0;
            let mut spawn = |id: String, kind: i64| {
                let c = c.clone();
                let url = format!("{base}/work?ms=1&id={id}");
                expect += 1;
                let call = tokio::spawn(async move {
                    match kind {
                        -1 => urgent(&c, &url).await,
                        -2 => batch(&c, &url).await,
                        w => weighted(&c, &url, w).await,
                    }
                });
                calls.push(call);
                expect
            };
            for n in 0..4 {
                let want = spawn(format!("b{n}"), -2);
                settle("queued", || Ranked::POOL.stats().waiting == want).await;
            }
            for n in 0..3 {
                let want = spawn(format!("w5-{n}"), 5);
                settle("queued", || Ranked::POOL.stats().waiting == want).await;
            }
            for n in 0..3 {
                let want = spawn(format!("u{n}"), -1);
                settle("queued", || Ranked::POOL.stats().waiting == want).await;
            }
            let want = spawn("w-7".into(), -7);
            settle("queued", || Ranked::POOL.stats().waiting == want).await;
            drop(hold);
            for call in calls {
                bounded("a ranked call", call).await.unwrap().unwrap();
            }
            let order = seen.order.lock().unwrap().clone();
            assert_eq!(
                order,
                ["w-7", "u0", "u1", "u2", "w5-0", "w5-1", "w5-2", "b0", "b1", "b2", "b3"]
            );
            assert_eq!(seen.meter.peak(), 1);
            let s = Ranked::POOL.stats();
            assert_eq!((s.completed, s.running, s.waiting), (12, 0, 0), "{s:?}");
            assert_identity(&s);
        });
    }

    #[pooled::group(kind = "autoscale", policy = "adaptive", min = 1, max = 6)]
    pub struct Knee;

    static KNEE_SIZES: Mutex<Vec<usize>> = Mutex::new(Vec::new());

    #[pooled::pooled(group = Knee, overload = CallError::is_overloaded)]
    async fn behind_knee(c: &reqwest::Client, url: &str) -> Result<(), CallError> {
        KNEE_SIZES.lock().unwrap().push(Knee::POOL.size());
        http_get(c, url).await
    }

    /// An adaptive group judging 503s through `overload`, in front of a
    /// server that answers 503 past 2 at once: the server never sees more
    /// than the group's `max`, the limit stays within `[min, max]`, the
    /// 503s arrive as error values, and the group ends idle.
    #[test]
    fn an_adaptive_group_judging_503s_never_passes_its_max() {
        run(|| async {
            let (base, seen) = server(2).await;
            let c = client();
            let mut rng = Rng(7);
            let calls: Vec<_> = (0..40)
                .map(|_| {
                    let c = c.clone();
                    let url = format!("{base}/work?ms={}", 2 + rng.below(6));
                    tokio::spawn(async move {
                        let mut busy = 0;
                        for _ in 0..5 {
                            match behind_knee(&c, &url).await {
                                Ok(()) => {}
                                Err(CallError::Status(503)) => busy += 1,
                                Err(other) => panic!("unexpected {other:?}"),
                            }
                        }
                        busy
                    })
                })
                .collect();
            let mut busy = 0u64;
            for call in calls {
                busy += bounded("a client's calls", call).await.unwrap();
            }
            assert!(seen.meter.peak() <= 6, "server peak {}", seen.meter.peak());
            let sizes = KNEE_SIZES.lock().unwrap().clone();
            assert!(sizes.iter().all(|&n| (1..=6).contains(&n)), "{sizes:?}");
            let s = Knee::POOL.stats();
            assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
            assert_eq!((s.completed, s.rejected_total()), (200, 0), "{s:?}");
            assert!((1..=6).contains(&s.size));
            assert_identity(&s);
            let _ = busy;
        });
    }

    static HANG_IN: Meter = Meter::new();

    #[pooled::pooled(size = 2)]
    async fn maybe_hang(c: &reqwest::Client, url: &str) -> Result<(), CallError> {
        let _inside = HANG_IN.enter();
        http_get(c, url).await
    }

    /// A server that never answers some calls: the callers' timeouts drop
    /// the running calls, their slots come back, the calls after them are
    /// served, and the server's hung handlers end with their connections.
    #[test]
    fn calls_to_a_hung_server_cancelled_by_timeouts_give_their_slots_back() {
        run(|| async {
            let (base, seen) = server(0).await;
            let c = client();
            for round in 0..3 {
                let calls: Vec<_> = (0..6)
                    .map(|i| {
                        let c = c.clone();
                        let path = if i % 2 == 0 { "hang" } else { "work?ms=1" };
                        let url = format!("{base}/{path}");
                        tokio::spawn(async move {
                            tokio::time::timeout(Duration::from_millis(40), maybe_hang(&c, &url))
                                .await
                                .map(|r| r.is_ok())
                        })
                    })
                    .collect();
                let mut hung = 0;
                for call in calls {
                    if bounded("a call", call).await.unwrap().is_err() {
                        hung += 1;
                    }
                }
                assert!(hung >= 3, "round {round}: {hung} timed out");
                settle("the pool idles", || {
                    let s = MAYBE_HANG_POOL.stats();
                    s.running == 0 && s.waiting == 0
                })
                .await;
            }
            assert!(HANG_IN.peak() <= 2, "fn peak {}", HANG_IN.peak());
            // The server's hung handlers end with their connections (its
            // peak may pass 2 meanwhile: see
            // `a_cancelled_call_frees_its_slot_while_the_server_still_serves_it`).
            settle("the hung handlers end", || seen.meter.now() == 0).await;
            bounded(
                "a call after the hangs",
                maybe_hang(&c, &format!("{base}/work")),
            )
            .await
            .unwrap();
            let s = MAYBE_HANG_POOL.stats();
            assert!(s.cancelled >= 9, "{s:?}");
            assert_identity(&s);
        });
    }

    #[pooled::pooled(size = 1, admission_timeout = "30ms")]
    async fn impatient(c: &reqwest::Client, url: &str) -> Result<(), CallError> {
        http_get(c, url).await
    }

    /// An admission timeout in front of a slow server: the calls that wait
    /// past it get `Rejected::TimedOut` as a value, counted as such, while
    /// the server sees one call at a time.
    #[test]
    fn admission_timeouts_in_front_of_a_slow_server_are_error_values() {
        run(|| async {
            let (base, seen) = server(0).await;
            let c = client();
            let calls: Vec<_> = (0..6)
                .map(|_| {
                    let c = c.clone();
                    let url = format!("{base}/work?ms=300");
                    tokio::spawn(async move { impatient(&c, &url).await })
                })
                .collect();
            let (mut ok, mut timed_out) = (0u64, 0u64);
            for call in calls {
                match bounded("an impatient call", call).await.unwrap() {
                    Ok(()) => ok += 1,
                    Err(CallError::Rejected(Rejected::TimedOut)) => timed_out += 1,
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!((ok, timed_out), (1, 5));
            assert_eq!(seen.meter.peak(), 1);
            let s = IMPATIENT_POOL.stats();
            assert_eq!(s.rejected_for(Rejected::TimedOut), 5, "{s:?}");
            assert_eq!((s.completed, s.running, s.waiting), (1, 0, 0), "{s:?}");
            assert_identity(&s);
        });
    }

    #[pooled::pooled(size = 2, max_waiting = 2)]
    async fn bounded_queue(c: &reqwest::Client, url: &str) -> Result<(), CallError> {
        http_get(c, url).await
    }

    /// A waiting bound in front of a 503-answering server: the pool's
    /// `Full` refusals and the server's 503s arrive as distinct error
    /// values, and every call is one or the other (or a success).
    #[test]
    fn a_full_queue_and_server_503s_are_told_apart() {
        run(|| async {
            let (base, seen) = server(0).await;
            let c = client();
            let calls: Vec<_> = (0..12)
                .map(|i| {
                    let c = c.clone();
                    let path = if i % 2 == 0 { "busy" } else { "work?ms=20" };
                    let url = format!("{base}/{path}");
                    tokio::spawn(async move { bounded_queue(&c, &url).await })
                })
                .collect();
            let (mut ok, mut full, mut busy) = (0u64, 0u64, 0u64);
            for call in calls {
                match bounded("a call", call).await.unwrap() {
                    Ok(()) => ok += 1,
                    Err(CallError::Rejected(Rejected::Full)) => full += 1,
                    Err(CallError::Status(503)) => busy += 1,
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!(ok + full + busy, 12);
            assert!(full >= 1, "nothing was refused");
            assert!(seen.meter.peak() <= 2);
            let s = BOUNDED_QUEUE_POOL.stats();
            assert_eq!(s.rejected_for(Rejected::Full), full, "{s:?}");
            assert_eq!(s.completed, ok + busy, "{s:?}");
            assert_identity(&s);
        });
    }

    #[pooled::pooled(size = 2, wait)]
    async fn patient(c: &reqwest::Client, url: &str) -> Result<(), CallError> {
        http_get(c, url).await
    }

    /// A `wait` function on a paused pool: its calls wait instead of being
    /// refused, those whose callers give up leave the queue, none reaches
    /// the server until `resume`, and then the rest are served.
    #[test]
    fn a_wait_function_on_a_paused_pool_waits_and_lets_leavers_go() {
        run(|| async {
            let (base, seen) = server(0).await;
            let c = client();
            PATIENT_POOL.pause();
            let calls: Vec<_> = (0..6)
                .map(|i| {
                    let c = c.clone();
                    let url = format!("{base}/work?ms=2");
                    tokio::spawn(async move {
                        if i % 2 == 0 {
                            tokio::time::timeout(Duration::from_millis(30), patient(&c, &url))
                                .await
                                .is_ok()
                        } else {
                            patient(&c, &url).await.unwrap();
                            true
                        }
                    })
                })
                .collect();
            settle("the leavers leave", || {
                let s = PATIENT_POOL.stats();
                s.cancelled == 3 && s.waiting == 3
            })
            .await;
            assert_eq!(seen.meter.done(), 0, "a call passed a pause");
            PATIENT_POOL.resume();
            let mut served = 0;
            for call in calls {
                served += u32::from(bounded("a patient call", call).await.unwrap());
            }
            assert_eq!(served, 3);
            assert!(seen.meter.peak() <= 2);
            let s = PATIENT_POOL.stats();
            assert_eq!(
                (s.completed, s.cancelled, s.rejected_total(), s.waiting),
                (3, 3, 0, 0),
                "{s:?}"
            );
            assert_identity(&s);
        });
    }

    #[pooled::group(size = 2)]
    pub struct Stopping;

    #[pooled::pooled(group = Stopping)]
    async fn stopping(c: &reqwest::Client, url: &str) -> Result<(), CallError> {
        http_get(c, url).await
    }

    /// `shutdown(Some(50ms))` while 2 calls hang on the server and 4 wait:
    /// it returns by its deadline saying 2 still run and 4 were turned away;
    /// the waiters get `Closed` values; once the hung calls are dropped the
    /// pool is empty and the accounting adds up.
    #[test]
    fn shutdown_with_hung_http_calls_returns_by_its_deadline() {
        run(|| async {
            let (base, _seen) = server(0).await;
            let c = client();
            let hung: Vec<_> = (0..2)
                .map(|_| {
                    let c = c.clone();
                    let url = format!("{base}/hang");
                    tokio::spawn(async move { stopping(&c, &url).await })
                })
                .collect();
            settle("the hung calls run", || Stopping::POOL.stats().running == 2).await;
            let waiting: Vec<_> = (0..4)
                .map(|_| {
                    let c = c.clone();
                    let url = format!("{base}/work");
                    tokio::spawn(async move { stopping(&c, &url).await })
                })
                .collect();
            settle("the others wait", || Stopping::POOL.stats().waiting == 4).await;
            let started = std::time::Instant::now();
            let out = bounded(
                "shutdown",
                Stopping::POOL
                    .pool()
                    .shutdown(Some(Duration::from_millis(50))),
            )
            .await;
            assert!(started.elapsed() < Duration::from_secs(2));
            let timed_out = out.expect_err("2 calls still run");
            assert_eq!((timed_out.running, timed_out.turned_away), (2, 4));
            for call in waiting {
                let result = bounded("a turned-away call", call).await.unwrap();
                assert!(matches!(result, Err(CallError::Rejected(Rejected::Closed))));
            }
            for call in &hung {
                call.abort();
            }
            for call in hung {
                assert!(bounded("an aborted call", call).await.is_err());
            }
            settle("empty", || Stopping::POOL.stats().running == 0).await;
            let s = Stopping::POOL.stats();
            assert_eq!(
                (s.cancelled, s.rejected_for(Rejected::Closed), s.waiting),
                (2, 4, 0),
                "{s:?}"
            );
            assert_identity(&s);
            bounded("drained", Stopping::POOL.pool().drained()).await;
        });
    }

    #[pooled::pooled(size = 1)]
    async fn single(c: &reqwest::Client, url: &str) -> Result<(), CallError> {
        http_get(c, url).await
    }

    /// Promise (README, reentrancy rule: "the server behind a pool of N
    /// never sees more than N calls from it"; DESIGN §3: "whatever the call
    /// graph"; Cancellation: "dropping a running call frees its slot").
    /// Attack: a pool of 1; a call times out on the client while the server
    /// still works on it (the work goes on after the hang-up, as it does in
    /// any handler that does not notice the closed connection); the next
    /// call is admitted at once and the server serves two calls from a pool
    /// of one. Inherent to freeing the slot on cancellation, but nowhere
    /// documented: the docs promise the server never sees more than N.
    #[test]
    #[ignore = "documented limit (README, Reentrancy rule; Pool docs, Cancel safety): a cancelled call frees its slot while the server still serves it: the server sees N+1 from a pool of N"]
    fn a_cancelled_call_frees_its_slot_while_the_server_still_serves_it() {
        run(|| async {
            let (base, seen) = server(0).await;
            let c = client();
            let url = format!("{base}/detached");
            let first = tokio::time::timeout(Duration::from_millis(20), single(&c, &url)).await;
            assert!(first.is_err(), "the first call should have timed out");
            assert_eq!(SINGLE_POOL.stats().running, 0, "its slot is free");
            bounded("the second call", single(&c, &url)).await.unwrap();
            assert!(
                seen.meter.peak() <= 1,
                "the server served {} calls at once from a pool of 1",
                seen.meter.peak()
            );
        });
    }

    #[pooled::group(size = 1)]
    pub struct Solo;

    #[pooled::pooled(group = Solo)]
    async fn solo_inner(c: &reqwest::Client, url: &str) -> Result<(), CallError> {
        http_get(c, url).await
    }

    #[pooled::pooled(group = Solo)]
    async fn solo_outer(c: &reqwest::Client, url: &str) -> Result<(), CallError> {
        // The parent's own request, joined with a nested call of its group.
        let (own, nested) = tokio::join!(http_get(c, url), solo_inner(c, url));
        own?;
        nested
    }

    /// Promise (`Pool` docs, Reentrancy: a nested call is "polled within the
    /// parent's own poll (an awaited or joined future ...)"; "The limit still
    /// holds for every call graph"; README: "the server behind a pool of N
    /// never sees more than N calls from it"). Attack: a group of 1 whose
    /// function joins its own HTTP request with a call of the same group:
    /// the joined call is taken for nested and runs under the parent's slot
    /// while the parent's own request is in flight, so the server sees 2
    /// requests at once from a group of 1.
    #[test]
    #[ignore = "documented limit (README, Reentrancy rule; Pool docs): a call joined beside its parent's own request runs as nested: the server sees 2 from a group of 1"]
    fn a_nested_call_joined_beside_the_parents_own_request_passes_the_limit() {
        run(|| async {
            let (base, seen) = server(0).await;
            let c = client();
            let url = format!("{base}/work?ms=40");
            bounded("the joined call", solo_outer(&c, &url))
                .await
                .unwrap();
            let s = Solo::POOL.stats();
            assert_eq!((s.completed, s.running, s.nested), (2, 0, 0), "{s:?}");
            assert!(
                seen.meter.peak() <= 1,
                "the server served {} requests at once from a group of 1",
                seen.meter.peak()
            );
        });
    }
}

/// Clients racing the generated handles.
mod races {
    use super::client::{http_get, server, CallError};
    use super::*;
    use pooled::Rejected;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    static RACED_IN: Meter = Meter::new();

    #[pooled::pooled(size = 3)]
    async fn raced(c: &reqwest::Client, url: &str) -> Result<(), CallError> {
        let _inside = RACED_IN.enter();
        http_get(c, url).await
    }

    /// 24 clients calling in loops (some cancelled by timeouts) while three
    /// controllers race `resize(0..=5)`, `pause` and `resume` on the
    /// function's handle: nobody ever sees more than 5 (the most it was ever
    /// given), paused calls are `Paused` values, and after a final resize
    /// and resume everything drains and the accounting adds up.
    #[test]
    fn resize_pause_resume_racing_http_clients() {
        run(|| async {
            let (base, seen) = server(0).await;
            let c = client();
            let stop = Arc::new(AtomicBool::new(false));
            let max_set = Arc::new(AtomicUsize::new(3));
            let mut controllers = Vec::new();
            for k in 0..3u64 {
                let stop = stop.clone();
                let max_set = max_set.clone();
                controllers.push(tokio::spawn(async move {
                    let mut rng = Rng(0xabc + k);
                    while !stop.load(SeqCst) {
                        match rng.below(4) {
                            0 => {
                                let n = rng.below(6) as usize;
                                max_set.fetch_max(n, SeqCst);
                                let got = RACED_POOL.resize(n);
                                assert_eq!(got, n);
                            }
                            1 => RACED_POOL.pause(),
                            2 => RACED_POOL.resume(),
                            _ => {
                                let size = RACED_POOL.size();
                                assert!(size <= 5, "size {size}");
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(1 + rng.below(3))).await;
                    }
                }));
            }
            let calls: Vec<_> = (0..24u64)
                .map(|i| {
                    let c = c.clone();
                    let url = format!("{base}/work?ms={}", i % 4);
                    tokio::spawn(async move {
                        let mut rng = Rng(i + 1);
                        let (mut ok, mut paused, mut gave_up) = (0u64, 0u64, 0u64);
                        for _ in 0..12 {
                            let limit = Duration::from_millis(5 + rng.below(40));
                            match tokio::time::timeout(limit, raced(&c, &url)).await {
                                Ok(Ok(())) => ok += 1,
                                Ok(Err(CallError::Rejected(Rejected::Paused))) => {
                                    paused += 1;
                                    tokio::time::sleep(Duration::from_millis(1)).await;
                                }
                                Ok(Err(other)) => panic!("unexpected {other:?}"),
                                Err(_) => gave_up += 1,
                            }
                        }
                        (ok, paused, gave_up)
                    })
                })
                .collect();
            let (mut ok, mut paused, mut gave_up) = (0, 0, 0);
            for call in calls {
                let (o, p, g) = bounded("a racing client", call).await.unwrap();
                ok += o;
                paused += p;
                gave_up += g;
            }
            stop.store(true, SeqCst);
            for controller in controllers {
                bounded("a controller", controller).await.unwrap();
            }
            assert_eq!(ok + paused + gave_up, 24 * 12);
            let most = max_set.load(SeqCst);
            assert!(
                RACED_IN.peak() <= most,
                "fn peak {} > {most}",
                RACED_IN.peak()
            );
            // (The server's own count may pass it after a timed-out call:
            // see `a_cancelled_call_frees_its_slot_while_the_server_still_serves_it`.)
            settle("the server idles", || seen.meter.now() == 0).await;
            RACED_POOL.resize(3);
            RACED_POOL.resume();
            settle("the pool idles", || {
                let s = RACED_POOL.stats();
                s.running == 0 && s.waiting == 0
            })
            .await;
            let s = RACED_POOL.stats();
            assert_eq!(s.completed, ok, "{s:?}");
            assert_eq!(s.rejected_for(Rejected::Paused), paused, "{s:?}");
            assert_eq!(s.cancelled, gave_up, "{s:?}");
            assert_identity(&s);
            bounded("a call after the race", raced(&c, &format!("{base}/work")))
                .await
                .unwrap();
        });
    }

    #[pooled::group(kind = "autoscale", min = 1, max = 4)]
    pub struct Elastic;

    static ELASTIC_IN: Meter = Meter::new();

    #[pooled::pooled(group = Elastic)]
    async fn elastic(c: &reqwest::Client, url: &str) -> Result<(), CallError> {
        let _inside = ELASTIC_IN.enter();
        http_get(c, url).await
    }

    /// `scale(±k)` racing from several tasks on an autoscaled group: the
    /// size stays clamped to `[1, 4]` whatever the deltas (even huge ones),
    /// and the server never sees more than 4.
    #[test]
    fn scale_races_on_an_autoscaled_group_stay_clamped() {
        run(|| async {
            let (base, seen) = server(0).await;
            let c = client();
            let stop = Arc::new(AtomicBool::new(false));
            let mut controllers = Vec::new();
            for k in 0..3u64 {
                let stop = stop.clone();
                controllers.push(tokio::spawn(async move {
                    let mut rng = Rng(0x51 + k);
                    while !stop.load(SeqCst) {
                        let delta = match rng.below(5) {
                            0 => isize::MAX,
                            1 => isize::MIN,
                            n => n as isize - 3,
                        };
                        let size = Elastic::POOL.scale(delta);
                        assert!((1..=4).contains(&size), "scale({delta}) -> {size}");
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }));
            }
            let calls: Vec<_> = (0..16u64)
                .map(|i| {
                    let c = c.clone();
                    let url = format!("{base}/work?ms={}", i % 5);
                    tokio::spawn(async move {
                        for _ in 0..10 {
                            elastic(&c, &url).await.unwrap();
                        }
                    })
                })
                .collect();
            for call in calls {
                bounded("an elastic client", call).await.unwrap();
            }
            stop.store(true, SeqCst);
            for controller in controllers {
                bounded("a controller", controller).await.unwrap();
            }
            assert!(ELASTIC_IN.peak() <= 4, "fn peak {}", ELASTIC_IN.peak());
            assert!(seen.meter.peak() <= 4, "server peak {}", seen.meter.peak());
            let s = Elastic::POOL.stats();
            assert_eq!((s.completed, s.running, s.waiting), (160, 0, 0), "{s:?}");
            assert!((1..=4).contains(&s.size));
            assert_identity(&s);
        });
    }

    #[pooled::group(size = 2)]
    pub struct Closing;

    #[pooled::pooled(group = Closing)]
    async fn closing(c: &reqwest::Client, url: &str) -> Result<(), CallError> {
        http_get(c, url).await
    }

    /// Clients looping while the group is closed under them: every call
    /// ends (served, or `Closed` as a value), nothing hangs, calls after the
    /// close are refused at once, and the accounting adds up.
    #[test]
    fn closing_a_group_under_http_clients_loses_nothing() {
        run(|| async {
            let (base, seen) = server(0).await;
            let c = client();
            let calls: Vec<_> = (0..20u64)
                .map(|i| {
                    let c = c.clone();
                    let url = format!("{base}/work?ms={}", 1 + i % 3);
                    tokio::spawn(async move {
                        let (mut ok, mut closed) = (0u64, 0u64);
                        for _ in 0..20 {
                            match closing(&c, &url).await {
                                Ok(()) => ok += 1,
                                Err(CallError::Rejected(Rejected::Closed)) => closed += 1,
                                Err(other) => panic!("unexpected {other:?}"),
                            }
                        }
                        (ok, closed)
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(30)).await;
            Closing::POOL.pool().close();
            let (mut ok, mut closed) = (0, 0);
            for call in calls {
                let (o, x) = bounded("a client of a closing group", call).await.unwrap();
                ok += o;
                closed += x;
            }
            assert_eq!(ok + closed, 400);
            assert!(closed >= 1 && ok >= 1, "ok {ok}, closed {closed}");
            assert!(seen.meter.peak() <= 2);
            let late = bounded("a call after close", closing(&c, &format!("{base}/work"))).await;
            assert!(matches!(late, Err(CallError::Rejected(Rejected::Closed))));
            let s = Closing::POOL.stats();
            assert_eq!((s.completed, s.running, s.waiting), (ok, 0, 0), "{s:?}");
            assert_eq!(s.rejected_for(Rejected::Closed), closed + 1, "{s:?}");
            assert!(s.closed);
            assert_identity(&s);
        });
    }

    #[pooled::group(size = 2)]
    pub struct Zeroed;

    #[pooled::pooled(group = Zeroed)]
    async fn zeroed(c: &reqwest::Client, url: &str) -> Result<(), CallError> {
        http_get(c, url).await
    }

    /// A group resized to 0 while HTTP calls queue: the queued calls wait
    /// (none reaches the server), those whose callers give up leave the
    /// queue at once, and a resize back up serves the rest.
    #[test]
    fn a_group_resized_to_zero_holds_its_queue_and_drops_leavers() {
        run(|| async {
            let (base, seen) = server(0).await;
            let c = client();
            assert_eq!(Zeroed::POOL.resize(0), 0);
            let calls: Vec<_> = (0..10u64)
                .map(|i| {
                    let c = c.clone();
                    let url = format!("{base}/work?ms=1");
                    tokio::spawn(async move {
                        if i % 2 == 0 {
                            tokio::time::timeout(Duration::from_millis(20), zeroed(&c, &url))
                                .await
                                .is_ok()
                        } else {
                            zeroed(&c, &url).await.unwrap();
                            true
                        }
                    })
                })
                .collect();
            settle("the leavers leave", || {
                let s = Zeroed::POOL.stats();
                s.cancelled == 5 && s.waiting == 5
            })
            .await;
            assert_eq!(seen.meter.done(), 0, "a call passed a limit of 0");
            assert_eq!(Zeroed::POOL.resize(2), 2);
            let mut served = 0;
            for call in calls {
                served += u32::from(bounded("a zeroed call", call).await.unwrap());
            }
            assert_eq!(served, 5);
            assert_eq!(seen.meter.done(), 5);
            assert!(seen.meter.peak() <= 2);
            let s = Zeroed::POOL.stats();
            assert_eq!(
                (s.completed, s.cancelled, s.running, s.waiting),
                (5, 5, 0, 0)
            );
            assert_identity(&s);
        });
    }
}
