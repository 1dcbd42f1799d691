//! Acceptance round 33: the integrations' documented promises — the tower
//! layer's weighted and reject modes, error passing and body holding; the
//! stream adapters' bound on held items (with held-back outcomes), `limit`
//! and panics; the metrics' counters and gauges by their documented names and
//! labels, seen by a capturing recorder installed in this test binary.

#![allow(clippy::type_complexity)]

#[cfg(all(feature = "redis", feature = "metrics"))]
mod redis_server;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts live work from outside: current and the most seen at once.
#[derive(Default)]
#[allow(dead_code)]
struct Meter {
    now: AtomicUsize,
    max: AtomicUsize,
    entered: AtomicUsize,
}

#[allow(dead_code)]
impl Meter {
    fn enter(&self) {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

#[allow(dead_code)]
fn meter() -> Arc<Meter> {
    Arc::new(Meter::default())
}

#[cfg(feature = "tower")]
mod tower_layer {
    use super::*;
    use futures::executor::block_on;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::{Group, GroupSpec, Pool, Rejected};
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll};
    use std::time::Duration;
    use tower::{service_fn, Layer, Service, ServiceExt};

    fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        let waker = futures::task::noop_waker();
        fut.poll(&mut Context::from_waker(&waker))
    }

    fn rejection(error: &BoxError) -> Option<Rejected> {
        error.downcast_ref::<Rejected>().copied()
    }

    /// layer.rs: "In reject mode nothing waits: `poll_ready` is the inner
    /// service's and `call` takes a slot or fails" — with a weight function.
    #[test]
    fn a_weighted_layer_in_reject_mode_fails_a_call_at_once_when_full_and_serves_after() {
        let pool = Pool::builder().size(1).build().unwrap();
        let called = Arc::new(AtomicUsize::new(0));
        let c = called.clone();
        let mut service = PooledLayer::pool(pool.clone())
            .weight(|n: &u32| i64::from(*n))
            .reject()
            .layer(service_fn(move |n: u32| {
                c.fetch_add(1, Ordering::SeqCst);
                async move { Ok::<_, BoxError>(n + 1) }
            }));
        let held = pool.try_acquire().unwrap();
        block_on(async {
            service.ready().await.unwrap();
            assert_eq!(pool.stats().running, 1, "poll_ready reserved nothing");
            let mut fut = pin!(service.call(5));
            match poll_once(fut.as_mut()) {
                Poll::Ready(Err(e)) => assert_eq!(rejection(&e), Some(Rejected::Full)),
                Poll::Ready(Ok(v)) => panic!("served {v} though the pool was full"),
                Poll::Pending => panic!("a reject-mode call waited"),
            }
        });
        assert_eq!(called.load(Ordering::SeqCst), 0, "inner never called");
        assert_eq!(pool.stats().waiting, 0, "nothing queued");
        drop(held);
        let got = block_on(async {
            service.ready().await.unwrap();
            service.call(1).await
        });
        assert_eq!(got.unwrap(), 2, "the service stays usable");
        assert_eq!(called.load(Ordering::SeqCst), 1);
        assert_eq!(pool.stats().running, 0);
    }

    /// layer.rs: with a weight function "the call waits for its slot in the
    /// response future ... and only then drives a clone of the inner
    /// service to readiness and calls it".
    #[test]
    fn a_weighted_call_does_not_call_the_inner_service_before_its_slot() {
        let pool = Pool::builder().size(1).build().unwrap();
        let called = Arc::new(AtomicUsize::new(0));
        let c = called.clone();
        let mut service = PooledLayer::pool(pool.clone())
            .weight(|_: &u32| 0)
            .layer(service_fn(move |n: u32| {
                c.fetch_add(1, Ordering::SeqCst);
                async move { Ok::<_, BoxError>(n) }
            }));
        let held = pool.try_acquire().unwrap();
        block_on(async {
            service.ready().await.unwrap();
        });
        let mut fut = pin!(service.call(7));
        assert!(poll_once(fut.as_mut()).is_pending());
        assert_eq!(pool.stats().waiting, 1, "waits in the pool's queue");
        assert_eq!(
            called.load(Ordering::SeqCst),
            0,
            "inner called before the slot"
        );
        drop(held);
        assert_eq!(block_on(fut).unwrap(), 7);
        assert_eq!(called.load(Ordering::SeqCst), 1);
        assert_eq!(pool.stats().running, 0);
    }

    /// The limit holds for weighted calls driven at once, counted from
    /// inside the inner service's response futures.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn weighted_calls_at_once_never_exceed_the_pool() {
        let pool = Pool::builder().size(3).build().unwrap();
        let m = meter();
        let mm = m.clone();
        let service = PooledLayer::pool(pool.clone())
            .weight(|n: &u32| i64::from(*n % 3))
            .layer(service_fn(move |n: u32| {
                let m = mm.clone();
                async move {
                    m.enter();
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    m.leave();
                    Ok::<_, BoxError>(n)
                }
            }));
        let mut handles = Vec::new();
        for n in 0..60u32 {
            handles.push(tokio::spawn(service.clone().oneshot(n)));
        }
        for (n, h) in handles.into_iter().enumerate() {
            let got = tokio::time::timeout(Duration::from_secs(60), h)
                .await
                .expect("finished")
                .unwrap();
            assert_eq!(got.unwrap(), n as u32);
        }
        assert!(m.max() <= 3, "{} at once on a pool of 3", m.max());
        assert!(m.max() >= 1);
        assert_eq!(pool.stats().running, 0);
    }

    #[derive(Debug)]
    struct Teapot;
    impl std::fmt::Display for Teapot {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("teapot")
        }
    }
    impl std::error::Error for Teapot {}

    /// tower.rs:24: "the inner service's errors are boxed as they are"; and
    /// with hold_until_body_ends an error response has no body to hold the
    /// slot, so the slot comes back with the error.
    #[test]
    fn an_inner_error_is_boxed_as_is_and_frees_the_slot_with_a_body_layer() {
        let pool = Pool::builder().size(1).build().unwrap();
        let service = PooledLayer::pool(pool.clone())
            .hold_until_body_ends()
            .layer(service_fn(|fail: bool| async move {
                if fail {
                    Err(Teapot)
                } else {
                    Ok(http::Response::new(String::from("x")))
                }
            }));
        let error = block_on(service.clone().oneshot(true)).unwrap_err();
        assert!(error.downcast_ref::<Teapot>().is_some(), "got {error:?}");
        assert_eq!(rejection(&error), None);
        assert_eq!(pool.stats().running, 0, "the error released the slot");
        let response = block_on(service.oneshot(false)).unwrap();
        assert_eq!(pool.stats().running, 1, "the body holds the slot");
        drop(response);
        assert_eq!(pool.stats().running, 0);
    }

    /// service.rs: "`poll_ready` fails only when the inner service's does"
    /// — and then with the inner service's error.
    #[test]
    fn poll_ready_fails_with_the_inner_services_error() {
        struct NotReady;
        impl Service<u32> for NotReady {
            type Response = u32;
            type Error = Teapot;
            type Future = std::future::Ready<Result<u32, Teapot>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Teapot>> {
                Poll::Ready(Err(Teapot))
            }
            fn call(&mut self, n: u32) -> Self::Future {
                std::future::ready(Ok(n))
            }
        }
        let pool = Pool::builder().size(1).build().unwrap();
        let mut service = PooledLayer::pool(pool.clone()).layer(NotReady);
        let error = block_on(service.ready()).map(|_| ()).unwrap_err();
        assert!(error.downcast_ref::<Teapot>().is_some(), "got {error:?}");
        drop(service);
        assert_eq!(pool.stats().running, 0);
    }

    /// future.rs:188-192: "A slot whose inner service fails to get ready is
    /// released the same way [as a cancelled call]: the service was never
    /// called"; layer.rs:189: with a weight function "`poll_ready` is ready
    /// at once".
    #[test]
    fn a_weighted_call_whose_inner_service_fails_readiness_releases_its_slot_as_cancelled() {
        #[derive(Clone)]
        struct NotReady(Arc<AtomicUsize>);
        impl Service<u32> for NotReady {
            type Response = u32;
            type Error = Teapot;
            type Future = std::future::Ready<Result<u32, Teapot>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Teapot>> {
                Poll::Ready(Err(Teapot))
            }
            fn call(&mut self, n: u32) -> Self::Future {
                self.0.fetch_add(1, Ordering::SeqCst);
                std::future::ready(Ok(n))
            }
        }
        let called = Arc::new(AtomicUsize::new(0));
        let pool = Pool::builder().size(1).build().unwrap();
        let mut service = PooledLayer::pool(pool.clone())
            .weight(|_: &u32| 0)
            .layer(NotReady(called.clone()));
        block_on(service.ready())
            .map(|_| ())
            .expect("ready at once");
        let error = block_on(service.call(1)).unwrap_err();
        assert!(error.downcast_ref::<Teapot>().is_some(), "got {error:?}");
        assert_eq!(called.load(Ordering::SeqCst), 0);
        let stats = pool.stats();
        assert_eq!(stats.running, 0, "{stats:?}");
        assert_eq!(
            stats.cancelled, 1,
            "released as a cancelled call: {stats:?}"
        );
    }

    /// tower.rs:30-39: for a weighted layer, "which takes the slot before
    /// readying the inner service, its `poll_ready`" is polled as the work
    /// of the call holding the slot: a call of the same pool made there is
    /// nested and runs under that slot instead of waiting for a second one.
    #[test]
    fn a_weighted_layers_inner_poll_ready_calling_the_pool_is_nested() {
        #[derive(Clone)]
        struct CallsPoolWhenReadied(Pool, Arc<AtomicUsize>);
        impl Service<u32> for CallsPoolWhenReadied {
            type Response = u32;
            type Error = BoxError;
            type Future = std::future::Ready<Result<u32, BoxError>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
                let n = self.0.run(|| 10)?;
                self.1.fetch_add(n, Ordering::SeqCst);
                Poll::Ready(Ok(()))
            }
            fn call(&mut self, n: u32) -> Self::Future {
                std::future::ready(Ok(n))
            }
        }
        let pool = Pool::builder().size(1).build().unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        let service = PooledLayer::pool(pool.clone())
            .weight(|_: &u32| 0)
            .layer(CallsPoolWhenReadied(pool.clone(), seen.clone()));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(block_on(service.oneshot(5)).map_err(|e| e.to_string()));
        });
        let got = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the nested call in poll_ready deadlocked the pool of one");
        assert_eq!(got, Ok(5));
        assert!(seen.load(Ordering::SeqCst) >= 10);
        assert_eq!(pool.stats().running, 0);
    }

    static SHARED: Group = Group::new(GroupSpec::new("acceptance_round33::tower_shared").size(2));

    /// layer.rs:77: a group layer's calls are "shared with every other user
    /// of the group": a reject layer sheds while the group's slots are held
    /// by the group's own calls, and a body held by a group layer's
    /// response counts against the group.
    #[test]
    fn a_group_layer_shares_the_group_with_its_direct_callers() {
        let service = PooledLayer::group(&SHARED)
            .reject()
            .hold_until_body_ends()
            .layer(service_fn(|()| async {
                Ok::<_, BoxError>(http::Response::new(String::from("body")))
            }));
        let a = SHARED.try_acquire(0).unwrap();
        let body = block_on(service.clone().oneshot(())).unwrap();
        assert_eq!(SHARED.stats().running, 2);
        let error = block_on(service.clone().oneshot(())).unwrap_err();
        assert_eq!(rejection(&error), Some(Rejected::Full));
        assert!(
            SHARED.try_acquire(0).is_err(),
            "the body holds a group slot"
        );
        drop(body);
        drop(a);
        assert_eq!(SHARED.stats().running, 0);
        let _ = block_on(service.oneshot(())).unwrap();
    }
}

#[cfg(feature = "stream")]
mod streams {
    use super::*;
    use futures::channel::oneshot;
    use futures::executor::block_on;
    use futures::{FutureExt, StreamExt};
    use pool_runtime::{Pool, PooledStreamExt};
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;

    fn poll_next<S: futures::Stream + Unpin>(s: &mut S) -> Poll<Option<S::Item>> {
        let waker = futures::task::noop_waker();
        Pin::new(s).poll_next(&mut Context::from_waker(&waker))
    }

    /// stream.rs:40: "The adapters of `pooled_ordered` count the finished
    /// outputs held back for an earlier item too ... so a slow first item
    /// holds at most that many outputs" (2 x size).
    #[test]
    fn a_slow_first_item_holds_back_at_most_twice_the_size_in_ordered_mode() {
        let pool = Pool::fixed(2);
        let pulled = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = oneshot::channel::<()>();
        let mut rx = Some(rx);
        let p = pulled.clone();
        let items = futures::stream::iter(0..100usize).map(move |i| {
            p.fetch_add(1, Ordering::SeqCst);
            let first = if i == 0 { rx.take() } else { None };
            async move {
                if let Some(rx) = first {
                    let _ = rx.await;
                }
                i
            }
            .boxed()
        });
        let mut out = Box::pin(items.pooled_ordered(&pool));
        for _ in 0..50 {
            assert!(poll_next(&mut out).is_pending());
        }
        let held = pulled.load(Ordering::SeqCst);
        assert!(
            held <= 4,
            "pulled {held} items while the first was stuck (2 x 2 = 4)"
        );
        assert!(held >= 2, "pulled only {held}");
        tx.send(()).unwrap();
        let got: Vec<usize> = block_on(out.map(Result::unwrap).collect());
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert_eq!(pool.stats().running, 0);
    }

    /// stream.rs:589: "Holds at most `limit` of the stream's items at once
    /// (a `limit` of 0 counts as 1)".
    #[test]
    fn a_limit_of_zero_counts_as_one() {
        let pool = Pool::fixed(8);
        let m = meter();
        let pulled_unyielded = Arc::new(AtomicUsize::new(0));
        let max_unyielded = Arc::new(AtomicUsize::new(0));
        let (pu, mu, mm) = (pulled_unyielded.clone(), max_unyielded.clone(), m.clone());
        let items = futures::stream::iter(0..20usize).map(move |i| {
            let now = pu.fetch_add(1, Ordering::SeqCst) + 1;
            mu.fetch_max(now, Ordering::SeqCst);
            let m = mm.clone();
            async move {
                m.enter();
                futures::future::ready(()).await;
                m.leave();
                i
            }
        });
        let out = items.pooled_unordered(&pool).limit(0);
        let got: Vec<usize> = block_on(
            out.map(|r| {
                pulled_unyielded.fetch_sub(1, Ordering::SeqCst);
                r.unwrap()
            })
            .collect(),
        );
        assert_eq!(got.len(), 20);
        assert!(m.max() <= 1, "{} ran at once", m.max());
        let most = max_unyielded.load(Ordering::SeqCst);
        assert_eq!(most, 1, "held {most} items at once with limit(0)");
    }

    /// stream.rs:56: "A panic in a call's future frees its slot and
    /// propagates out of `poll_next` ... an adapter polled again after it
    /// goes on with the other items and ends — the ordered adapter skips the
    /// panicked item's place."
    #[test]
    fn the_ordered_adapter_skips_a_panicked_items_place_and_goes_on() {
        let pool = Pool::fixed(2);
        let items = futures::stream::iter(0..6usize).map(|i| async move {
            if i == 2 {
                panic!("planned panic in item 2");
            }
            i
        });
        let mut out = Box::pin(items.pooled_ordered(&pool));
        let mut got = Vec::new();
        let mut panics = 0;
        loop {
            let step =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| block_on(out.next())));
            match step {
                Ok(Some(r)) => got.push(r.unwrap()),
                Ok(None) => break,
                Err(_) => panics += 1,
            }
            assert!(panics <= 1, "panicked more than once");
        }
        assert_eq!(panics, 1);
        assert_eq!(got, [0, 1, 3, 4, 5]);
        let stats = pool.stats();
        assert_eq!(stats.running, 0);
        assert_eq!(stats.panicked, 1);
    }

    /// stream.rs:48: "Dropping an adapter drops every call it started ...
    /// a waiting call leaves the pool's queue at once, a running one drops
    /// its future and frees its slot (each counted as cancelled in Stats).
    /// Items the stream has not yielded yet are never pulled."
    #[test]
    fn dropping_an_ordered_adapter_cancels_waiting_and_running_calls_and_pulls_no_more() {
        let pool = Pool::fixed(1);
        let pulled = Arc::new(AtomicUsize::new(0));
        let p = pulled.clone();
        let items = futures::stream::iter(0..10usize).map(move |_| {
            p.fetch_add(1, Ordering::SeqCst);
            futures::future::pending::<()>()
        });
        let mut out = Box::pin(items.pooled_ordered(&pool));
        assert!(poll_next(&mut out).is_pending());
        assert!(poll_next(&mut out).is_pending());
        let stats = pool.stats();
        assert_eq!(stats.running, 1);
        assert_eq!(stats.waiting, 1);
        let before = pulled.load(Ordering::SeqCst);
        assert_eq!(before, 2);
        drop(out);
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0));
        assert_eq!(stats.cancelled, 2);
        assert_eq!(pulled.load(Ordering::SeqCst), before);
    }

    /// A stream's calls run under the same limit as `submit` calls made
    /// alongside on the same pool (module docs: "shared with every other
    /// caller of the pool").
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_ordered_stream_and_direct_calls_share_one_limit() {
        let pool = Pool::fixed(3);
        let m = meter();
        let work = |m: Arc<Meter>| async move {
            m.enter();
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            m.leave();
        };
        let mm = m.clone();
        let stream_pool = pool.clone();
        let streaming = tokio::spawn(async move {
            let n = futures::stream::iter(0..60)
                .map(move |_| work(mm.clone()))
                .pooled_ordered(&stream_pool)
                .filter(|r| futures::future::ready(r.is_ok()))
                .count()
                .await;
            assert_eq!(n, 60);
        });
        let mut direct = Vec::new();
        for _ in 0..30 {
            let (pool, m) = (pool.clone(), m.clone());
            direct.push(tokio::spawn(async move {
                pool.submit(work(m)).await.unwrap();
            }));
        }
        for d in direct {
            d.await.unwrap();
        }
        streaming.await.unwrap();
        assert!(m.max() <= 3, "{} at once on a pool of 3", m.max());
    }

    /// stream.rs:490-493 with 387-391: the ordered adapter yields each
    /// outcome in input order, a refusal (`Full`, the queue bound) in its
    /// item's place, held back behind an earlier item still running.
    #[test]
    fn an_ordered_stream_yields_a_refusal_in_its_items_place() {
        let pool = pool_runtime::Pool::builder()
            .size(1)
            .max_waiting(0)
            .build()
            .unwrap();
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let mut rx = Some(rx);
        let items = futures::stream::iter(0..6usize).map(move |i| {
            let gate = if i == 0 { rx.take() } else { None };
            async move {
                if let Some(gate) = gate {
                    let _ = gate.await;
                }
                i
            }
        });
        let mut out = Box::pin(items.pooled_ordered(&pool));
        let waker = futures::task::noop_waker();
        for _ in 0..5 {
            assert!(futures::Stream::poll_next(
                out.as_mut(),
                &mut std::task::Context::from_waker(&waker)
            )
            .is_pending());
        }
        tx.send(()).unwrap();
        let got: Vec<Result<usize, pool_runtime::Rejected>> = block_on(out.collect());
        assert_eq!(got.len(), 6, "{got:?}");
        assert_eq!(got[0], Ok(0), "{got:?}");
        assert_eq!(got[1], Err(pool_runtime::Rejected::Full), "{got:?}");
        for (i, outcome) in got.iter().enumerate() {
            assert!(
                *outcome == Ok(i) || *outcome == Err(pool_runtime::Rejected::Full),
                "{got:?}"
            );
        }
    }

    /// stream.rs:34-39: "an autoscaled pool sees the stream's backlog (the
    /// queue-depth rule grows the pool toward `running + waiting`, at most
    /// doubling it ...)"; stream.rs:43: "after a scale-up it pulls more".
    #[test]
    fn an_autoscaled_pool_grows_with_a_streams_backlog_and_the_stream_follows() {
        use pool_runtime::{Kind, ManualClock};
        let clock = ManualClock::new();
        let pool = Pool::builder()
            .kind(Kind::Autoscale)
            .min(1)
            .max(8)
            .size(1)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let mut senders = Vec::new();
        let mut receivers = std::collections::VecDeque::new();
        for _ in 0..40 {
            let (tx, rx) = oneshot::channel::<()>();
            senders.push(Some(tx));
            receivers.push_back(rx);
        }
        let pulled = Arc::new(AtomicUsize::new(0));
        let p = pulled.clone();
        let items = futures::stream::iter(0..40usize).map(move |i| {
            p.fetch_add(1, Ordering::SeqCst);
            let rx = receivers.pop_front().unwrap();
            async move {
                let _ = rx.await;
                i
            }
        });
        let mut out = Box::pin(items.pooled_unordered(&pool));
        assert!(poll_next(&mut out).is_pending());
        assert_eq!(pulled.load(Ordering::SeqCst), 2, "2 x 1");
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (1, 1));
        // One interval with demand 2 on a limit of 1; then a release
        // event evaluates the rule.
        clock.advance(Duration::from_secs(11));
        senders[0].take().unwrap().send(()).unwrap();
        let mut yielded = Vec::new();
        for _ in 0..5 {
            if let Poll::Ready(Some(r)) = poll_next(&mut out) {
                yielded.push(r.unwrap());
            }
        }
        assert_eq!(yielded, [0]);
        assert_eq!(pool.size(), 2, "grew toward running + waiting = 2");
        assert_eq!(
            pulled.load(Ordering::SeqCst),
            5,
            "one yielded, four held (2 x 2): {:?}",
            pool.stats()
        );
        for tx in senders.iter_mut() {
            if let Some(tx) = tx.take() {
                let _ = tx.send(());
            }
        }
        let rest: Vec<usize> = block_on(out.map(Result::unwrap).collect());
        assert_eq!(rest.len(), 39);
    }
}

#[cfg(feature = "metrics")]
mod metered {
    use futures::executor::block_on;
    use metrics::{
        Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata,
        Recorder, SharedString, Unit,
    };
    use pool_runtime::{Pool, Rejected};
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex, OnceLock};

    #[derive(Default)]
    pub(crate) struct Count(AtomicU64);
    impl CounterFn for Count {
        fn increment(&self, v: u64) {
            self.0.fetch_add(v, Ordering::SeqCst);
        }
        fn absolute(&self, v: u64) {
            self.0.store(v, Ordering::SeqCst);
        }
    }
    #[derive(Default)]
    pub(crate) struct Level(Mutex<f64>);
    impl GaugeFn for Level {
        fn increment(&self, v: f64) {
            *self.0.lock().unwrap() += v;
        }
        fn decrement(&self, v: f64) {
            *self.0.lock().unwrap() -= v;
        }
        fn set(&self, v: f64) {
            *self.0.lock().unwrap() = v;
        }
    }
    #[derive(Default)]
    pub(crate) struct Samples(Mutex<Vec<f64>>);
    impl HistogramFn for Samples {
        fn record(&self, v: f64) {
            self.0.lock().unwrap().push(v);
        }
    }

    #[derive(Default)]
    pub(crate) struct Capture {
        pub(crate) counters: Mutex<BTreeMap<String, Arc<Count>>>,
        pub(crate) gauges: Mutex<BTreeMap<String, Arc<Level>>>,
        pub(crate) histograms: Mutex<BTreeMap<String, Arc<Samples>>>,
        units: Mutex<BTreeMap<String, Option<Unit>>>,
    }

    /// `name{k=v,...}` with labels sorted.
    fn render(key: &Key) -> String {
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        format!("{}{{{}}}", key.name(), labels.join(","))
    }

    impl Recorder for Capture {
        fn describe_counter(&self, k: KeyName, u: Option<Unit>, _: SharedString) {
            self.units.lock().unwrap().insert(k.as_str().to_owned(), u);
        }
        fn describe_gauge(&self, k: KeyName, u: Option<Unit>, _: SharedString) {
            self.units.lock().unwrap().insert(k.as_str().to_owned(), u);
        }
        fn describe_histogram(&self, k: KeyName, u: Option<Unit>, _: SharedString) {
            self.units.lock().unwrap().insert(k.as_str().to_owned(), u);
        }
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            let c = self
                .counters
                .lock()
                .unwrap()
                .entry(render(key))
                .or_default()
                .clone();
            Counter::from_arc(c)
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            let g = self
                .gauges
                .lock()
                .unwrap()
                .entry(render(key))
                .or_default()
                .clone();
            Gauge::from_arc(g)
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            let h = self
                .histograms
                .lock()
                .unwrap()
                .entry(render(key))
                .or_default()
                .clone();
            Histogram::from_arc(h)
        }
    }

    pub(crate) fn capture() -> &'static Capture {
        static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
        CAPTURE.get_or_init(|| {
            let c: &'static Capture = Box::leak(Box::default());
            metrics::set_global_recorder(c).expect("the only recorder in this binary");
            c
        })
    }

    pub(crate) fn counter(key: &str) -> u64 {
        capture()
            .counters
            .lock()
            .unwrap()
            .get(key)
            .map_or(0, |c| c.0.load(Ordering::SeqCst))
    }

    pub(crate) fn gauge(key: &str) -> Option<f64> {
        capture()
            .gauges
            .lock()
            .unwrap()
            .get(key)
            .map(|g| *g.0.lock().unwrap())
    }

    /// observe.rs:91: `pooled.calls` with `pool`, `outcome` and, with
    /// `rejected`, `reason`; `completed` excludes the panicked calls.
    #[test]
    fn calls_are_counted_by_outcome_and_reason() {
        capture();
        let name = "acceptance_round33::calls";
        let pool = Pool::builder().name(name).size(1).build().unwrap();
        for _ in 0..3 {
            block_on(pool.submit(async {})).unwrap();
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(|| panic!("planned panic"))
        }));
        assert!(r.is_err());
        {
            let _held = pool.try_acquire().unwrap();
            assert_eq!(pool.try_acquire().err(), Some(Rejected::Full));
            // a waiting call dropped: cancelled
            let mut waiting = Box::pin(pool.submit(async {}));
            let waker = futures::task::noop_waker();
            assert!(std::future::Future::poll(
                waiting.as_mut(),
                &mut std::task::Context::from_waker(&waker)
            )
            .is_pending());
        }
        pool.pause();
        assert_eq!(block_on(pool.submit(async {})), Err(Rejected::Paused));
        let completed = counter(&format!("pooled.calls{{outcome=completed,pool={name}}}"));
        let panicked = counter(&format!("pooled.calls{{outcome=panicked,pool={name}}}"));
        let cancelled = counter(&format!("pooled.calls{{outcome=cancelled,pool={name}}}"));
        let full = counter(&format!(
            "pooled.calls{{outcome=rejected,pool={name},reason=full}}"
        ));
        let paused = counter(&format!(
            "pooled.calls{{outcome=rejected,pool={name},reason=paused}}"
        ));
        let all: Vec<String> = capture()
            .counters
            .lock()
            .unwrap()
            .keys()
            .filter(|k| k.contains(name))
            .cloned()
            .collect();
        let stats = pool.stats();
        // 3 submits and the held permit (a call of kind `permit`); Stats
        // counts the panicked call as completed too, the counter does not.
        assert_eq!(stats.completed, 5, "{stats:?}");
        assert_eq!(
            completed,
            stats.completed - stats.panicked,
            "completed excludes panicked: {all:?} {stats:?}"
        );
        assert_eq!(panicked, 1, "{all:?}");
        assert_eq!(full, 1, "{all:?}");
        assert_eq!(paused, 1, "{all:?}");
        assert_eq!(cancelled, stats.cancelled, "{all:?}");
        assert_eq!(cancelled, 1, "{all:?}");
    }

    /// observe.rs:19: "Pools that share a name add up in its counters and
    /// in the limit, running and waiting gauges"; and a pool that goes
    /// away "takes its limit out of pooled.limit then".
    #[test]
    fn pools_sharing_a_name_add_up_and_a_dropped_pool_takes_its_limit_out() {
        capture();
        let name = "acceptance_round33::shared_name";
        let limit = format!("pooled.limit{{pool={name}}}");
        let running = format!("pooled.running{{pool={name}}}");
        let a = Pool::builder().name(name).size(3).build().unwrap();
        let b = Pool::builder().name(name).size(4).build().unwrap();
        assert_eq!(gauge(&limit), Some(7.0));
        let pa = a.try_acquire().unwrap();
        let pb = b.try_acquire().unwrap();
        assert_eq!(gauge(&running), Some(2.0));
        drop((pa, pb));
        assert_eq!(gauge(&running), Some(0.0));
        b.resize(6);
        assert_eq!(gauge(&limit), Some(9.0), "a resize moves the gauge");
        drop(b);
        assert_eq!(
            gauge(&limit),
            Some(3.0),
            "the dropped pool's limit is taken out"
        );
        drop(a);
        assert_eq!(gauge(&limit), Some(0.0));
    }

    /// observe.rs:16: "pools built without one as `(unnamed)`, together".
    #[test]
    fn unnamed_pools_report_together_as_unnamed() {
        capture();
        let key = "pooled.calls{outcome=completed,pool=(unnamed)}";
        let before = counter(key);
        let a = Pool::fixed(1);
        let b = Pool::fixed(1);
        block_on(a.submit(async {})).unwrap();
        block_on(b.submit(async {})).unwrap();
        assert!(
            counter(key) >= before + 2,
            "{} then {}",
            before,
            counter(key)
        );
    }

    /// observe.rs:95-96: the histograms are in seconds and need
    /// `time_calls(true)`; observe.rs:117: `running` excludes calls nested
    /// under their parent's slot.
    #[test]
    fn histograms_in_seconds_and_running_excludes_nested_calls() {
        capture();
        let name = "acceptance_round33::timed";
        pool_runtime::observe::time_calls(true);
        let pool = Pool::builder().name(name).size(1).build().unwrap();
        let running = format!("pooled.running{{pool={name}}}");
        let seen = block_on(pool.submit(async {
            let inner = pool.submit(async { gauge(&running) }).await.unwrap();
            (gauge(&running), inner)
        }))
        .unwrap();
        assert_eq!(seen, (Some(1.0), Some(1.0)), "(outer, nested) running");
        let units = capture().units.lock().unwrap().clone();
        assert_eq!(units.get("pooled.wait_time"), Some(&Some(Unit::Seconds)));
        assert_eq!(units.get("pooled.run_time"), Some(&Some(Unit::Seconds)));
        let hist = capture()
            .histograms
            .lock()
            .unwrap()
            .get(&format!("pooled.run_time{{pool={name}}}"))
            .cloned()
            .expect("run_time registered");
        let samples = hist.0.lock().unwrap().clone();
        assert!(!samples.is_empty(), "timed calls recorded");
        assert!(
            samples.iter().all(|s| *s >= 0.0 && *s < 60.0),
            "seconds: {samples:?}"
        );
    }
}

#[cfg(feature = "metrics")]
mod metered_quiet {
    use super::metered::{capture, gauge};
    use pool_runtime::Pool;
    use std::future::Future;
    use std::task::{Context, Poll};

    fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        let waker = futures::task::noop_waker();
        std::pin::Pin::new(f).poll(&mut Context::from_waker(&waker))
    }

    /// observe.rs:117-120: the gauges "lag by a wake-up, and agree whenever
    /// the pool is quiet" — also when a waiter handed a slot is dropped
    /// before it saw so, and when a waiter is cancelled.
    #[test]
    fn the_gauges_agree_with_stats_once_quiet_after_handed_and_cancelled_waiters() {
        capture();
        let name = "acceptance_round33::quiet";
        let running = format!("pooled.running{{pool={name}}}");
        let waiting = format!("pooled.waiting{{pool={name}}}");
        let pool = Pool::builder().name(name).size(1).build().unwrap();
        let held = pool.try_acquire().unwrap();
        let mut a = Box::pin(pool.submit(async { 1 }));
        let mut b = Box::pin(pool.submit(async { 2 }));
        let mut c = Box::pin(pool.submit(async { 3 }));
        assert!(poll_once(&mut a).is_pending());
        assert!(poll_once(&mut b).is_pending());
        assert!(poll_once(&mut c).is_pending());
        assert_eq!(gauge(&waiting), Some(3.0));
        assert_eq!(gauge(&running), Some(1.0));
        drop(held); // the slot goes to `a`, which never sees it
        drop(a);
        drop(c); // a waiter cancelled
        assert_eq!(poll_once(&mut b), Poll::Ready(Ok(2)));
        drop(b);
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
        assert_eq!(gauge(&running), Some(0.0), "running gauge once quiet");
        assert_eq!(gauge(&waiting), Some(0.0), "waiting gauge once quiet");
    }

    /// observe.rs:21-24: "A pool that goes away (its last handle dropped —
    /// an owned permit is one ...) takes its limit out of pooled.limit
    /// then, and its calls out of running/waiting as they end".
    #[test]
    fn an_owned_permit_keeps_the_pools_limit_until_it_is_dropped() {
        capture();
        let name = "acceptance_round33::owned";
        let limit = format!("pooled.limit{{pool={name}}}");
        let running = format!("pooled.running{{pool={name}}}");
        let pool = Pool::builder().name(name).size(4).build().unwrap();
        let permit = pool.try_acquire_owned(0).unwrap();
        drop(pool);
        assert_eq!(gauge(&limit), Some(4.0), "the permit keeps the pool");
        assert_eq!(gauge(&running), Some(1.0));
        drop(permit);
        assert_eq!(gauge(&limit), Some(0.0));
        assert_eq!(gauge(&running), Some(0.0));
    }

    /// observe.rs:115: "a call counts once it is first polled": a call
    /// dropped before its first poll is in no counter.
    #[test]
    fn a_call_dropped_before_its_first_poll_is_not_counted() {
        capture();
        let name = "acceptance_round33::unpolled";
        let pool = Pool::builder().name(name).size(1).build().unwrap();
        drop(pool.submit(async {}));
        for outcome in ["completed", "cancelled", "panicked"] {
            let key = format!("pooled.calls{{outcome={outcome},pool={name}}}");
            assert_eq!(super::metered::counter(&key), 0, "{key}");
        }
        assert_eq!(pool.stats().cancelled, 0);
    }

    static METERED_GROUP: pool_runtime::Group = pool_runtime::Group::new(
        pool_runtime::GroupSpec::new("acceptance_round33::metered_group").size(3),
    );

    /// observe.rs:16-17: "a group's pool under the group's name".
    #[test]
    fn a_groups_pool_reports_under_the_groups_name() {
        capture();
        assert_eq!(METERED_GROUP.run(|| 1), Ok(1));
        let name = "acceptance_round33::metered_group";
        assert_eq!(gauge(&format!("pooled.limit{{pool={name}}}")), Some(3.0));
        let key = format!("pooled.calls{{outcome=completed,pool={name}}}");
        assert_eq!(super::metered::counter(&key), 1);
    }

    /// The tower layer's waits and reservations are in the gauges: a
    /// service waiting in `poll_ready` is `waiting`, a reserved slot is
    /// `running`, and dropping the services brings both back to 0.
    #[cfg(feature = "tower")]
    #[test]
    fn a_tower_services_wait_and_reservation_are_in_the_gauges() {
        use pool_runtime::tower::{BoxError, PooledLayer};
        use tower::{service_fn, Layer, ServiceExt};
        capture();
        let name = "acceptance_round33::tower_gauges";
        let running = format!("pooled.running{{pool={name}}}");
        let waiting = format!("pooled.waiting{{pool={name}}}");
        let pool = Pool::builder().name(name).size(1).build().unwrap();
        let service =
            PooledLayer::pool(pool.clone()).layer(service_fn(|()| async { Ok::<_, BoxError>(()) }));
        let mut first = service.clone();
        let mut second = service.clone();
        {
            let mut ready = first.ready();
            assert!(poll_once(&mut ready).is_ready());
        }
        {
            let mut ready = second.ready();
            assert!(poll_once(&mut ready).is_pending());
        }
        assert_eq!((gauge(&running), gauge(&waiting)), (Some(1.0), Some(1.0)));
        drop(second);
        drop(first);
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0));
        assert_eq!((gauge(&running), gauge(&waiting)), (Some(0.0), Some(0.0)));
        let cancelled =
            super::metered::counter(&format!("pooled.calls{{outcome=cancelled,pool={name}}}"));
        assert_eq!(cancelled, stats.cancelled, "{stats:?}");
        assert_eq!(cancelled, 2, "a reservation and a wait dropped: {stats:?}");
    }

    /// observe.rs:91-105: the table's names are the `metric` constants', and
    /// every pool registers its series under them (the README lists them).
    #[test]
    fn the_documented_names_are_the_constants_and_the_series_registered() {
        use pool_runtime::observe::metric;
        let table = [
            (metric::CALLS, "pooled.calls"),
            (metric::LIMIT, "pooled.limit"),
            (metric::RUNNING, "pooled.running"),
            (metric::WAITING, "pooled.waiting"),
            (metric::WAIT_TIME, "pooled.wait_time"),
            (metric::RUN_TIME, "pooled.run_time"),
            (metric::ADAPTIVE_FLOOR, "pooled.adaptive.floor"),
            (metric::ADAPTIVE_LATENCY, "pooled.adaptive.latency"),
            (metric::FLEET_HELD, "pooled.fleet.held"),
            (metric::FLEET_WAITING, "pooled.fleet.waiting"),
            (metric::FLEET_LIMIT, "pooled.fleet.limit"),
            (metric::FLEET_LOST, "pooled.fleet.lost"),
            (metric::FLEET_RECLAIMED, "pooled.fleet.reclaimed"),
            (metric::FLEET_REDIS_ERRORS, "pooled.fleet.redis_errors"),
            (
                metric::FLEET_LOCAL_FALLBACKS,
                "pooled.fleet.local_fallbacks",
            ),
        ];
        for (constant, documented) in table {
            assert_eq!(constant, documented);
        }
        capture();
        let name = "acceptance_round33::registered";
        let _pool = Pool::builder().name(name).size(2).build().unwrap();
        let registered = |map: &str| -> Vec<String> {
            let c = capture();
            let keys: Vec<String> = match map {
                "gauges" => c.gauges.lock().unwrap().keys().cloned().collect(),
                "counters" => c.counters.lock().unwrap().keys().cloned().collect(),
                _ => c.histograms.lock().unwrap().keys().cloned().collect(),
            };
            keys.into_iter().filter(|k| k.contains(name)).collect()
        };
        let gauges = registered("gauges");
        for g in ["pooled.limit", "pooled.running", "pooled.waiting"] {
            assert!(
                gauges.contains(&format!("{g}{{pool={name}}}")),
                "{g} not registered: {gauges:?}"
            );
        }
        let histograms = registered("histograms");
        for h in ["pooled.wait_time", "pooled.run_time"] {
            assert!(
                histograms.contains(&format!("{h}{{pool={name}}}")),
                "{h}: {histograms:?}"
            );
        }
        let counters = registered("counters");
        for outcome in ["completed", "panicked", "cancelled"] {
            assert!(
                counters.contains(&format!("pooled.calls{{outcome={outcome},pool={name}}}")),
                "{outcome}: {counters:?}"
            );
        }
    }
}

#[cfg(all(feature = "redis", feature = "metrics"))]
mod fleet {
    use super::metered::{capture, gauge};
    use super::redis_server::*;
    use super::{meter, Meter};
    use pool_runtime::fleet::OnUnreachable;
    use pool_runtime::Rejected;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    fn holders(server: &RedisServer, group: &str) -> i64 {
        zcard(server, &format!("{{pooled:{group}}}:holders"))
    }

    /// observe.rs:99-101: `pooled.fleet.held` (leases this process holds),
    /// `pooled.fleet.waiting` (calls waiting for a lease, holding their
    /// local slot) and `pooled.fleet.limit` (the limit in force), labelled
    /// by `pool`.
    #[test]
    fn the_fleet_gauges_follow_leases_held_waiting_and_the_limit() {
        capture();
        let server = RedisServer::start();
        let name = "r33_fleet_gauges";
        let group = fleet_group(name, &server, 2, OnUnreachable::Wait);
        let rt = runtime();
        let held = format!("pooled.fleet.held{{pool={name}}}");
        let waiting = format!("pooled.fleet.waiting{{pool={name}}}");
        let limit = format!("pooled.fleet.limit{{pool={name}}}");
        let a = rt.block_on(group.acquire_owned(0)).unwrap();
        let b = rt.block_on(group.acquire_owned(0)).unwrap();
        assert_eq!(holders(&server, name), 2);
        assert!(
            wait_until(Duration::from_secs(5), || gauge(&held) == Some(2.0)),
            "held {:?}",
            gauge(&held)
        );
        assert!(
            wait_until(Duration::from_secs(5), || gauge(&limit) == Some(2.0)),
            "limit {:?}",
            gauge(&limit)
        );
        let waiter = rt.spawn(async move { group.acquire_owned(0).await.map(drop) });
        assert!(
            wait_until(Duration::from_secs(5), || gauge(&waiting) == Some(1.0)),
            "waiting {:?} (fleet stats {:?})",
            gauge(&waiting),
            group.fleet_stats()
        );
        assert_eq!(group.stats().running, 3, "the waiter holds its local slot");
        drop(a);
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), waiter).await })
            .expect("the waiter got the freed lease")
            .unwrap()
            .unwrap();
        drop(b);
        assert!(
            wait_until(Duration::from_secs(5), || gauge(&held) == Some(0.0)
                && gauge(&waiting) == Some(0.0)),
            "held {:?} waiting {:?}",
            gauge(&held),
            gauge(&waiting)
        );
        assert_no_fleet_keys(&server, name);
    }

    /// fleet/mod.rs:195-198 and 210-211: `try_acquire` never waits for a
    /// lease (Full if none is free now), and calls on the group's pool
    /// directly take no lease.
    #[test]
    fn direct_pool_calls_take_no_lease_and_try_acquire_never_waits_for_one() {
        let server = RedisServer::start();
        let name = "r33_fleet_direct";
        let group = fleet_group(name, &server, 1, OnUnreachable::Wait);
        let other = other_client(group);
        let lease = other.acquire_blocking().unwrap();
        assert_eq!(holders(&server, name), 1);
        let rt = runtime();
        let out = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), group.pool().submit(async { 7 })).await
        });
        assert_eq!(out, Ok(Ok(7)), "a direct pool call waited for a lease");
        assert_eq!(holders(&server, name), 1);
        let started = Instant::now();
        let refused = group.try_acquire_owned(0).map(drop);
        assert_eq!(refused, Err(Rejected::Full));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(group.stats().running, 0, "the local slot came back");
        drop(lease);
        assert!(
            wait_until(Duration::from_secs(5), || holders(&server, name) == 0),
            "the other client's lease was not released on drop"
        );
        let permit = group.try_acquire_owned(0).expect("a free lease is granted");
        assert!(permit.lease().is_some_and(|l| l.token().is_some()));
        drop(permit);
        assert_no_fleet_keys(&server, name);
    }

    /// observe.rs:104-105: `pooled.fleet.redis_errors` counts fleet
    /// commands that failed, `pooled.fleet.local_fallbacks` calls run under
    /// the local limit alone while Redis was unreachable (policy `local`).
    #[test]
    fn local_fallbacks_and_redis_errors_are_counted_while_redis_is_away() {
        capture();
        let mut server = RedisServer::start();
        let name = "r33_fleet_fallbacks";
        let group = fleet_group(name, &server, 1, OnUnreachable::Local);
        assert_eq!(group.run(|| 1), Ok(1));
        assert_no_fleet_keys(&server, name);
        server.stop();
        let started = Instant::now();
        for n in 0..3 {
            assert_eq!(group.run(|| n), Ok(n));
        }
        assert!(started.elapsed() < Duration::from_secs(30));
        let fallbacks = counter_of(&format!("pooled.fleet.local_fallbacks{{pool={name}}}"));
        let errors = counter_of(&format!("pooled.fleet.redis_errors{{pool={name}}}"));
        assert!(fallbacks >= 3, "local_fallbacks {fallbacks}");
        assert!(errors >= 1, "redis_errors {errors}");
    }

    /// fleet/mod.rs:233-236: "two `Group` statics that name one fleet (the
    /// same group name and Redis) share its leases and limit" — two
    /// "processes", counted from outside.
    #[test]
    fn two_groups_naming_one_fleet_never_run_more_than_its_limit_together() {
        let server = RedisServer::start();
        let name = "r33_fleet_two";
        let a = fleet_group(name, &server, 2, OnUnreachable::Wait);
        let b = fleet_group(name, &server, 2, OnUnreachable::Wait);
        let m: Arc<Meter> = meter();
        let mut threads = Vec::new();
        for i in 0..8 {
            let group = if i % 2 == 0 { a } else { b };
            let m = m.clone();
            threads.push(std::thread::spawn(move || {
                for _ in 0..4 {
                    let r = group.run(|| {
                        m.enter();
                        std::thread::sleep(Duration::from_millis(5));
                        m.leave();
                    });
                    assert_eq!(r, Ok(()));
                }
            }));
        }
        for t in threads {
            t.join().unwrap();
        }
        assert!(m.max() <= 2, "{} at once under a fleet limit of 2", m.max());
        assert!(m.max() >= 1);
        assert_eq!(m.entered.load(std::sync::atomic::Ordering::SeqCst), 32);
        assert_no_fleet_keys(&server, name);
    }

    /// observe.rs:114: "The counters count what Stats counts, by the same
    /// rules" — also for calls the fleet turns away (stats.rs:59-65: counted
    /// by how their slot ended, never as rejected by the pool).
    #[test]
    fn fleet_refusals_are_counted_in_metrics_as_stats_counts_them() {
        capture();
        let mut server = RedisServer::start();
        let name = "r33_fleet_refused";
        let group = fleet_group(name, &server, 1, OnUnreachable::Reject);
        assert_eq!(group.run(|| 1), Ok(1));
        assert_no_fleet_keys(&server, name);
        server.stop();
        assert_eq!(group.run(|| 2), Err(Rejected::FleetUnavailable));
        let rt = runtime();
        let r = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(30), group.submit(0, async { 3 })).await
        });
        assert_eq!(r, Ok(Err(Rejected::FleetUnavailable)));
        let r = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(30), group.submit_blocking(0, || 4)).await
        });
        assert_eq!(r, Ok(Err(Rejected::FleetUnavailable)));
        let stats = group.stats();
        let count = |outcome: &str| {
            super::metered::counter(&format!("pooled.calls{{outcome={outcome},pool={name}}}"))
        };
        let rejected: u64 = ["paused", "closed", "full", "timed_out", "fleet_unavailable"]
            .iter()
            .map(|r| {
                super::metered::counter(&format!(
                    "pooled.calls{{outcome=rejected,pool={name},reason={r}}}"
                ))
            })
            .sum();
        assert_eq!(stats.rejected_total(), 0, "{stats:?}");
        assert_eq!(rejected, 0, "the pool rejected nothing: {stats:?}");
        assert_eq!(
            (count("completed"), count("cancelled"), count("panicked")),
            (
                stats.completed - stats.panicked,
                stats.cancelled,
                stats.panicked
            ),
            "{stats:?}"
        );
        assert_eq!(stats.completed + stats.cancelled, 4, "{stats:?}");
    }

    fn counter_of(key: &str) -> u64 {
        super::metered::counter(key)
    }
}

#[cfg(all(feature = "test-util", feature = "tower", feature = "stream"))]
mod isolated {
    use futures::executor::block_on;
    use futures::StreamExt;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::{Group, GroupSpec, PooledStreamExt, Rejected};
    use tower::{service_fn, Layer, ServiceExt};

    static ISO: Group = Group::new(GroupSpec::new("acceptance_round33::isolated").size(1));

    fn shared_slot_held_elsewhere() -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let permit = ISO.try_acquire(0).expect("the shared pool's only slot");
            ready_tx.send(()).unwrap();
            let _ = hold_rx.recv();
            drop(permit);
        });
        ready_rx.recv().unwrap();
        (hold_tx, holder)
    }

    /// isolation.rs:106: "Everything that goes through Group::pool is
    /// isolated: calls, permits, stats, ... pause": a tower layer over the
    /// group and a stream over it, called from the isolating test's thread,
    /// use its instance — not the shared pool another thread fills, and
    /// the instance's pause does not reach the shared pool.
    #[test]
    fn a_tower_layer_and_a_stream_over_an_isolated_group_use_the_tests_instance() {
        let (release, holder) = shared_slot_held_elsewhere();
        let service = PooledLayer::group(&ISO)
            .reject()
            .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n + 1) }));
        let weighted = PooledLayer::group(&ISO)
            .weight(|_: &u32| 0)
            .reject()
            .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n + 2) }));
        {
            let guard = ISO.isolate();
            assert_eq!(block_on(service.clone().oneshot(1)).ok(), Some(2));
            assert_eq!(block_on(weighted.clone().oneshot(1)).ok(), Some(3));
            let out: Vec<_> = block_on(
                futures::stream::iter([async { 5 }])
                    .pooled_unordered(&ISO)
                    .collect(),
            );
            assert_eq!(out, [Ok(5)]);
            assert_eq!(
                guard.pool().stats().completed,
                3,
                "{:?}",
                guard.pool().stats()
            );
            ISO.pause();
            let error = block_on(service.clone().oneshot(1)).unwrap_err();
            assert_eq!(error.downcast_ref::<Rejected>(), Some(&Rejected::Paused));
        }
        // Back on the shared pool, whose only slot the other thread holds.
        let error = block_on(service.clone().oneshot(1)).unwrap_err();
        assert_eq!(error.downcast_ref::<Rejected>(), Some(&Rejected::Full));
        release.send(()).unwrap();
        holder.join().unwrap();
        assert_eq!(
            block_on(service.oneshot(1)).ok(),
            Some(2),
            "the shared pool was never paused"
        );
    }

    static ISO_SIZED: Group =
        Group::new(GroupSpec::new("acceptance_round33::isolated_sized").size(1));

    /// A stream over an isolated group takes its bound (2 x size) from the
    /// test's instance, which `resize` changed (isolation.rs:106: size and
    /// scale go through the instance).
    #[test]
    fn a_streams_bound_over_an_isolated_group_follows_the_instances_size() {
        let guard = ISO_SIZED.isolate();
        assert_eq!(ISO_SIZED.resize(3), 3);
        assert_eq!(guard.pool().size(), 3);
        let pulled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let p = pulled.clone();
        let items = futures::stream::iter(0..50usize).map(move |_| {
            p.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            futures::future::pending::<()>()
        });
        let mut out = Box::pin(items.pooled_unordered(&ISO_SIZED));
        let waker = futures::task::noop_waker();
        for _ in 0..10 {
            assert!(futures::Stream::poll_next(
                out.as_mut(),
                &mut std::task::Context::from_waker(&waker)
            )
            .is_pending());
        }
        let stats = guard.pool().stats();
        assert_eq!((stats.running, stats.waiting), (3, 3), "{stats:?}");
        assert_eq!(pulled.load(std::sync::atomic::Ordering::SeqCst), 6);
        drop(out);
        assert_eq!(ISO_SIZED.stats().running, 0);
    }
}

#[cfg(all(feature = "tracing", feature = "tower", feature = "tokio"))]
mod traced {
    use futures::executor::block_on;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::{Group, GroupSpec, Pool, Rejected};
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tower::{service_fn, Layer, ServiceExt};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Subscriber};
    use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;
    use tracing_subscriber::Layer as SubscriberLayer;

    /// Field values as text.
    type Fields = BTreeMap<String, String>;

    #[derive(Clone, Debug)]
    struct SpanSeen {
        target: &'static str,
        id: u64,
        name: &'static str,
        parent: Option<u64>,
        fields: Fields,
    }

    #[derive(Clone, Debug)]
    struct EventSeen {
        level: Level,
        target: String,
        fields: Fields,
        /// The span the event happened in (name, id).
        span: Option<(&'static str, u64)>,
    }

    #[derive(Default)]
    struct Seen {
        spans: Vec<SpanSeen>,
        events: Vec<EventSeen>,
    }

    /// Records every span (with its fields, as recorded later too) and event.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Seen>>);

    struct Text<'a>(&'a mut Fields);

    impl Visit for Text<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    impl<S: Subscriber + for<'a> LookupSpan<'a>> SubscriberLayer<S> for Capture {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
            let mut fields = Fields::new();
            attrs.record(&mut Text(&mut fields));
            let parent = ctx
                .span(id)
                .and_then(|s| s.parent())
                .map(|p| p.id().into_u64());
            self.0.lock().unwrap().spans.push(SpanSeen {
                target: attrs.metadata().target(),
                id: id.into_u64(),
                name: attrs.metadata().name(),
                parent,
                fields,
            });
        }

        fn on_record(&self, id: &Id, values: &Record<'_>, _: LayerContext<'_, S>) {
            let mut seen = self.0.lock().unwrap();
            if let Some(span) = seen.spans.iter_mut().rev().find(|s| s.id == id.into_u64()) {
                values.record(&mut Text(&mut span.fields));
            }
        }

        fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
            let mut fields = Fields::new();
            event.record(&mut Text(&mut fields));
            let span = ctx
                .event_span(event)
                .map(|s| (s.metadata().name(), s.id().into_u64()));
            self.0.lock().unwrap().events.push(EventSeen {
                level: *event.metadata().level(),
                target: event.metadata().target().to_owned(),
                fields,
                span,
            });
        }
    }

    impl Capture {
        /// Runs `f` with this capture as the thread's subscriber. (Every test
        /// here captures every level: callsite interest is global, and tests
        /// that filter differently, running in parallel, would race on it. The
        /// test with call spans filtered out has a process of its own,
        /// `tracing_filtered.rs`.)
        fn run<T>(&self, f: impl FnOnce() -> T) -> T {
            let subscriber = tracing_subscriber::registry().with(self.clone());
            tracing::subscriber::with_default(subscriber, f)
        }

        fn spans(&self, name: &str) -> Vec<SpanSeen> {
            let seen = self.0.lock().unwrap();
            seen.spans
                .iter()
                .filter(|s| s.name == name)
                .cloned()
                .collect()
        }

        fn events(&self, message: &str) -> Vec<EventSeen> {
            let seen = self.0.lock().unwrap();
            let message = message.to_owned();
            seen.events
                .iter()
                .filter(|e| e.fields.get("message") == Some(&message))
                .cloned()
                .collect()
        }
    }

    fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
        fields.get(name).map(String::as_str)
    }

    fn current_thread() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// observe.rs:53: the span's `call` is one of `submit`, `spawn`,
    /// `run`, `blocking`, `permit`; observe.rs:16: a pool built without a
    /// name reports as `(unnamed)`.
    #[test]
    fn spawned_and_blocking_calls_of_an_unnamed_pool_have_their_kinds() {
        let capture = Capture::default();
        capture.run(|| {
            let pool = Pool::fixed(2);
            current_thread().block_on(async {
                let handle = pool.spawn(async { 1 }).unwrap();
                assert_eq!(handle.await.ok(), Some(1));
                assert_eq!(pool.submit_blocking(|| 2).await, Ok(2));
            });
        });
        let kinds: Vec<(String, String, String)> = capture
            .spans("call")
            .iter()
            .map(|s| {
                let f = |n| field(&s.fields, n).unwrap_or("-").to_owned();
                assert_eq!(s.target, "pooled", "README: span `call` (target `pooled`)");
                (f("pool"), f("call"), f("outcome"))
            })
            .collect();
        let s = |v: &str| v.to_owned();
        assert_eq!(
            kinds,
            [
                (s("(unnamed)"), s("spawn"), s("completed")),
                (s("(unnamed)"), s("blocking"), s("completed")),
            ]
        );
    }

    /// observe.rs:53-54: a call nested under its parent's slot records
    /// `nested`; observe.rs:63: an async call's work runs in the caller's
    /// task, its events (the nested call's span) are the span's children.
    #[test]
    fn a_nested_call_is_a_child_span_marked_nested() {
        let capture = Capture::default();
        capture.run(|| {
            let pool = Pool::builder().name("r33-nest").size(1).build().unwrap();
            let got = block_on(pool.submit(async { pool.submit(async { 3 }).await }));
            assert_eq!(got, Ok(Ok(3)));
        });
        let spans = capture.spans("call");
        assert_eq!(spans.len(), 2, "{spans:?}");
        let (outer, inner) = (&spans[0], &spans[1]);
        assert_eq!(inner.parent, Some(outer.id), "{spans:?}");
        assert_eq!(field(&inner.fields, "nested"), Some("true"), "{spans:?}");
        assert_ne!(field(&outer.fields, "nested"), Some("true"), "{spans:?}");
    }

    /// observe.rs:54: `call rejected` with reason `timed_out` for an
    /// admission timeout, inside the call's span.
    #[test]
    fn an_admission_timeout_is_a_rejection_event_with_reason_timed_out() {
        let capture = Capture::default();
        capture.run(|| {
            let pool = Pool::builder()
                .name("r33-timeout")
                .size(1)
                .admission_timeout(Duration::from_millis(20))
                .build()
                .unwrap();
            let _held = pool.try_acquire().unwrap();
            let got = current_thread().block_on(async {
                tokio::time::timeout(Duration::from_secs(30), pool.submit(async {})).await
            });
            assert_eq!(got, Ok(Err(Rejected::TimedOut)));
        });
        let events = capture.events("call rejected");
        assert_eq!(events.len(), 1, "{:?}", capture.0.lock().unwrap().events);
        let event = &events[0];
        assert_eq!(field(&event.fields, "reason"), Some("timed_out"));
        assert_eq!(event.target, "pooled");
        assert_eq!(field(&event.fields, "pool"), Some("r33-timeout"));
        assert_eq!(event.level, Level::DEBUG);
        assert_eq!(event.span.map(|s| s.0), Some("call"));
    }

    static TRACED: Group = Group::new(GroupSpec::new("acceptance_round33::traced").size(1));

    /// A tower layer's calls over a group are calls of the group: a span
    /// named after the group, of kind `permit`, and a refusal in reject mode
    /// is a `call rejected` event with reason `full`.
    #[test]
    fn a_tower_layers_calls_are_traced_under_the_groups_name() {
        let capture = Capture::default();
        capture.run(|| {
            let service = PooledLayer::group(&TRACED)
                .reject()
                .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
            assert_eq!(block_on(service.clone().oneshot(4)).ok(), Some(4));
            let held = TRACED.try_acquire(0).unwrap();
            let error = block_on(service.oneshot(4)).unwrap_err();
            assert_eq!(error.downcast_ref::<Rejected>(), Some(&Rejected::Full));
            drop(held);
        });
        let spans = capture.spans("call");
        assert!(!spans.is_empty());
        for span in &spans {
            assert_eq!(
                field(&span.fields, "pool"),
                Some("acceptance_round33::traced")
            );
            assert_eq!(field(&span.fields, "call"), Some("permit"), "{span:?}");
        }
        let events = capture.events("call rejected");
        assert_eq!(events.len(), 1, "{:?}", capture.0.lock().unwrap().events);
        assert_eq!(field(&events[0].fields, "reason"), Some("full"));
        assert_eq!(
            field(&events[0].fields, "pool"),
            Some("acceptance_round33::traced")
        );
    }

    /// Two frames, then the end.
    struct TwoFrames(Vec<&'static str>);
    impl http_body::Body for TwoFrames {
        type Data = std::io::Cursor<Vec<u8>>;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
            std::task::Poll::Ready(if self.0.is_empty() {
                None
            } else {
                let text = self.0.remove(0);
                Some(Ok(http_body::Frame::data(std::io::Cursor::new(
                    text.as_bytes().to_vec(),
                ))))
            })
        }
    }

    /// observe.rs:53 "span `call`: one per call, from its first poll to its
    /// end" with body.rs: "The call ends with the body: completed at its
    /// last frame ..., cancelled if the body is dropped ... before either":
    /// the span of a body-held call gets its outcome when the body ends.
    #[test]
    fn a_body_held_calls_span_ends_with_the_body_and_its_outcome() {
        let capture = Capture::default();
        let pool = Pool::builder().name("r33-body").size(1).build().unwrap();
        capture.run(|| {
            let service = PooledLayer::pool(pool.clone())
                .hold_until_body_ends()
                .layer(service_fn(|()| async {
                    Ok::<_, BoxError>(http::Response::new(TwoFrames(vec!["a", "b"])))
                }));
            let response = block_on(service.clone().oneshot(())).unwrap();
            assert_eq!(pool.stats().running, 1);
            let outcomes: Vec<Option<String>> = capture
                .spans("call")
                .iter()
                .map(|s| s.fields.get("outcome").cloned())
                .collect();
            assert_eq!(outcomes, [None], "no outcome while the body holds the slot");
            drop(response);
            let mut body = block_on(service.oneshot(())).unwrap().into_body();
            block_on(async {
                use http_body::Body as _;
                while let Some(frame) =
                    std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
                {
                    frame.unwrap();
                }
            });
            assert!(!body.holds_slot());
        });
        let outcomes: Vec<String> = capture
            .spans("call")
            .iter()
            .map(|s| field(&s.fields, "outcome").unwrap_or("-").to_owned())
            .collect();
        assert_eq!(outcomes, ["cancelled", "completed"]);
        let stats = pool.stats();
        assert_eq!((stats.cancelled, stats.running), (1, 0), "{stats:?}");
    }

    /// A blocking closure's view of the current span: (name, parent id).
    fn current_span_seen(capture: &Capture) -> Option<(&'static str, Option<u64>)> {
        let id = tracing::Span::current().id()?.into_u64();
        let seen = capture.0.lock().unwrap();
        let span = seen.spans.iter().find(|s| s.id == id)?;
        Some((span.name, span.parent))
    }

    /// A blocking executor of the application's: each job on a thread of
    /// its own.
    struct OwnThreads;
    impl pool_runtime::BlockingExecutor for OwnThreads {
        fn execute(&self, job: pool_runtime::BlockingJob) {
            std::thread::spawn(job);
        }
    }

    /// observe.rs:63-69: a blocking call's closure runs "on the executor's
    /// thread, inside the caller's own span and with the caller's
    /// subscriber as that thread's default" — whatever the executor: rayon's
    /// (feature `rayon`) and one of the application's.
    #[cfg(feature = "rayon")]
    #[test]
    fn a_blocking_closure_sees_its_callers_span_on_rayon_and_custom_executors() {
        use tracing::Instrument;
        let capture = Capture::default();
        let threads = Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap(),
        );
        let (caller, seen) = capture.run(|| {
            let on_rayon = Pool::builder()
                .name("r33-rayon")
                .size(1)
                .blocking_executor(Arc::new(pool_runtime::RayonExecutor::new(threads)))
                .build()
                .unwrap();
            let on_own = Pool::builder()
                .name("r33-own")
                .size(1)
                .blocking_executor(Arc::new(OwnThreads))
                .build()
                .unwrap();
            let request = tracing::info_span!("request");
            let caller = request.id().unwrap().into_u64();
            let (a, b) = (capture.clone(), capture.clone());
            let seen = block_on(
                async {
                    let x = on_rayon
                        .submit_blocking(move || current_span_seen(&a))
                        .await
                        .unwrap();
                    let y = on_own
                        .submit_blocking(move || current_span_seen(&b))
                        .await
                        .unwrap();
                    [x, y]
                }
                .instrument(request.clone()),
            );
            (caller, seen)
        });
        for (seen, pool) in seen.into_iter().zip(["r33-rayon", "r33-own"]) {
            assert_eq!(seen, Some(("call", Some(caller))), "{pool}");
        }
    }

    /// observe.rs:53 and 70-71: a call's `wait_us` is its admission wait on
    /// the pool's Clock — for a tower call, the wait in `poll_ready`.
    #[test]
    fn a_tower_calls_span_records_its_wait_in_poll_ready_on_the_pools_clock() {
        use tower::Service;
        let capture = Capture::default();
        let clock = pool_runtime::ManualClock::new();
        capture.run(|| {
            let pool = Pool::builder()
                .name("r33-tower-wait")
                .size(1)
                .clock(Arc::new(clock.clone()))
                .build()
                .unwrap();
            let mut service = PooledLayer::pool(pool.clone())
                .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
            let held = pool.try_acquire().unwrap();
            let waker = futures::task::noop_waker();
            {
                let mut ready = service.ready();
                assert!(std::future::Future::poll(
                    std::pin::Pin::new(&mut ready),
                    &mut std::task::Context::from_waker(&waker)
                )
                .is_pending());
            }
            clock.advance(Duration::from_millis(5));
            drop(held);
            block_on(service.ready()).map(|_| ()).unwrap();
            assert_eq!(block_on(service.call(9)).ok(), Some(9));
        });
        let waits: Vec<(String, String)> = capture
            .spans("call")
            .iter()
            .map(|s| {
                let f = |n| field(&s.fields, n).unwrap_or("-").to_owned();
                (f("wait_us"), f("outcome"))
            })
            .collect();
        let s = |v: &str| v.to_owned();
        assert_eq!(
            waits,
            [(s("0"), s("completed")), (s("5000"), s("completed"))]
        );
    }

    /// observe.rs:53: the span's `weight` is the call's: a weighted layer's
    /// call carries its request's weight, a constant-weight layer's its
    /// constant.
    #[test]
    fn a_weighted_tower_calls_span_carries_its_requests_weight() {
        let capture = Capture::default();
        capture.run(|| {
            let pool = Pool::builder()
                .name("r33-tower-weight")
                .order(pool_runtime::Order::Priority)
                .size(2)
                .build()
                .unwrap();
            let weighted = PooledLayer::pool(pool.clone())
                .weight(|n: &u32| i64::from(*n))
                .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
            let constant = PooledLayer::pool(pool.clone())
                .constant_weight(-4)
                .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
            assert_eq!(block_on(weighted.oneshot(7)).ok(), Some(7));
            assert_eq!(block_on(constant.oneshot(1)).ok(), Some(1));
        });
        let weights: Vec<String> = capture
            .spans("call")
            .iter()
            .map(|s| field(&s.fields, "weight").unwrap_or("-").to_owned())
            .collect();
        assert_eq!(weights, ["7", "-4"]);
    }
}

#[cfg(feature = "tower")]
mod tower_waits {
    use futures::executor::block_on;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::Pool;
    use std::future::Future;
    use std::task::{Context, Poll};
    use tower::{service_fn, Layer, Service, ServiceExt};

    fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        let waker = futures::task::noop_waker();
        std::pin::Pin::new(f).poll(&mut Context::from_waker(&waker))
    }

    /// service.rs:38-42: "dropping a `ready()` future leaves the service in
    /// the queue, and the next `poll_ready` goes on with that wait; a slot
    /// it is handed meanwhile stays reserved for the service's next call";
    /// a clone starts without a slot (and without that wait).
    #[test]
    fn an_abandoned_ready_keeps_its_place_and_the_slot_it_is_handed() {
        let pool = Pool::builder().size(1).build().unwrap();
        let mut service = PooledLayer::pool(pool.clone())
            .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n * 3) }));
        let held = pool.try_acquire().unwrap();
        {
            let mut ready = service.ready();
            assert!(poll_once(&mut ready).is_pending());
        }
        assert_eq!(pool.stats().waiting, 1, "the service stays in the queue");
        let mut clone = service.clone();
        {
            let mut ready = clone.ready();
            assert!(poll_once(&mut ready).is_pending());
        }
        assert_eq!(pool.stats().waiting, 2, "the clone waits on its own");
        drop(held);
        let stats = pool.stats();
        assert_eq!(
            (stats.running, stats.waiting),
            (1, 1),
            "handed to the first waiter"
        );
        {
            let mut ready = service.ready();
            assert!(
                poll_once(&mut ready).is_ready(),
                "the reserved slot is there"
            );
        }
        assert_eq!(block_on(service.call(2)).unwrap(), 6);
        // The clone gets the slot the call freed.
        assert!(block_on(clone.ready()).is_ok());
        assert_eq!(pool.stats().running, 1);
        assert_eq!(block_on(clone.call(1)).unwrap(), 3);
        assert_eq!(pool.stats().running, 0);
    }
}

#[cfg(feature = "stream")]
mod stream_bounds {
    use futures::executor::block_on;
    use futures::StreamExt;
    use pool_runtime::{Pool, PooledStreamExt};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Context;
    use std::time::Duration;

    /// stream.rs:29-31 and 589-592: the bound is `max(1, 2 x size)`, "at
    /// most the limit": a limit above twice the size does not raise it.
    #[test]
    fn a_limit_above_twice_the_size_does_not_raise_the_bound() {
        let pool = Pool::fixed(1);
        let pulled = Arc::new(AtomicUsize::new(0));
        let p = pulled.clone();
        let items = futures::stream::iter(0..50usize).map(move |_| {
            p.fetch_add(1, Ordering::SeqCst);
            futures::future::pending::<()>()
        });
        let mut out = Box::pin(items.pooled_unordered(&pool).limit(10));
        let waker = futures::task::noop_waker();
        for _ in 0..10 {
            assert!(
                futures::Stream::poll_next(out.as_mut(), &mut Context::from_waker(&waker))
                    .is_pending()
            );
        }
        assert_eq!(
            pulled.load(Ordering::SeqCst),
            2,
            "2 x size, not the limit 10"
        );
    }

    /// stream.rs:118-120: "at least one, so a pool scaled to zero still has
    /// a waiter to wake the adapter when it grows again"; stream.rs:43:
    /// "after a scale-up it pulls more at its next poll, which comes when one
    /// of its calls is admitted".
    #[test]
    fn a_stream_on_a_pool_scaled_to_zero_holds_one_item_and_resumes_when_it_grows() {
        let pool = Pool::fixed(2);
        assert_eq!(pool.resize(0), 0);
        let pulled = Arc::new(AtomicUsize::new(0));
        let (first_tx, first_rx) = std::sync::mpsc::channel::<()>();
        let p = pulled.clone();
        let items = futures::stream::iter(0..20usize).map(move |i| {
            if p.fetch_add(1, Ordering::SeqCst) == 0 {
                let _ = first_tx.send(());
            }
            async move { i }
        });
        let consumer_pool = pool.clone();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let consumer = std::thread::spawn(move || {
            let mut got: Vec<usize> = block_on(
                items
                    .pooled_unordered(&consumer_pool)
                    .map(Result::unwrap)
                    .collect(),
            );
            got.sort();
            let _ = done_tx.send(got);
        });
        first_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("first item pulled");
        // Wait until the first call is queued (the consumer keeps polling nothing).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while pool.stats().waiting == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(pool.stats().waiting, 1);
        assert_eq!(
            pulled.load(Ordering::SeqCst),
            1,
            "max(1, 2 x 0) = 1 item held"
        );
        assert_eq!(pool.resize(2), 2);
        let got = done_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the adapter was woken when the pool grew");
        consumer.join().unwrap();
        assert_eq!(got, (0..20).collect::<Vec<_>>());
    }
}
