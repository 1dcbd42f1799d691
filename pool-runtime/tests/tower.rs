//! The tower layer: slots reserved in `poll_ready` and carried by the
//! response (or its body), counted from outside the library by a meter in
//! the inner service.
#![cfg(feature = "tower")]

mod common;

use common::{assert_accounted, Meter, Task};
use futures::FutureExt;
use http_body::{Body, Frame};
use pool_runtime::tower::{BoxError, PermitBody, PooledLayer, PooledService};
use pool_runtime::{AdaptiveSettings, Group, GroupSpec, Kind, Order, Pool, Rejected, ScalePolicy};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{service_fn, Layer, Service, ServiceExt};

fn fixed(size: usize) -> Pool {
    Pool::builder().size(size).build().unwrap()
}

fn rejection(error: &BoxError) -> Option<Rejected> {
    error.downcast_ref::<Rejected>().copied()
}

/// The requests `n` with `n % 5 == PANICS` panic in the inner service.
const PANICS: u32 = 4;

/// An inner service whose calls are metered from `call` until their future
/// completes or is dropped, and which counts its calls.
fn metered(
    meter: &Meter,
    calls: &Arc<AtomicUsize>,
) -> impl Service<u32, Response = u32, Error = BoxError, Future: Send> + Clone + Send + Sync {
    quiet_planned_panics();
    let (meter, calls) = (meter.clone(), calls.clone());
    service_fn(move |n: u32| {
        calls.fetch_add(1, Ordering::SeqCst);
        let inside = meter.enter();
        async move {
            let _inside = inside;
            if n % 5 == PANICS {
                panic!("{PLANNED_PANIC} on {n}");
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
            Ok(n)
        }
    })
}

/// The planned panics print nothing; any other panic prints as usual.
fn quiet_planned_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let planned = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|message| message.starts_with(PLANNED_PANIC));
            if !planned {
                report(info);
            }
        }));
    });
}

const PLANNED_PANIC: &str = "the inner service fails";

/// One step of a client: ready, then call (or abandon at some point).
async fn client_step<S>(service: &mut S, n: u32)
where
    S: Service<u32, Response = u32, Error = BoxError> + Clone,
{
    match n % 5 {
        // Reserve a slot, then drop the service instead of calling it.
        0 => {
            let mut idle = service.clone();
            idle.ready().await.unwrap();
        }
        // Cancel the call while it waits or runs.
        1 => {
            let call = async {
                service.ready().await.unwrap();
                service.call(n).await
            };
            let _ = tokio::time::timeout(Duration::from_micros(100), call).await;
        }
        // The inner future panics.
        PANICS => {
            service.ready().await.unwrap();
            let out = AssertUnwindSafe(service.call(n)).catch_unwind().await;
            assert!(out.is_err(), "the panic reaches the caller");
        }
        // The call runs to the end.
        _ => {
            service.ready().await.unwrap();
            assert_eq!(service.call(n).await.unwrap(), n);
        }
    }
}

/// Waits for every client; a hang fails the test.
async fn join_within_a_minute(clients: Vec<tokio::task::JoinHandle<()>>) {
    let all = async {
        for client in clients {
            client.await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("the clients finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clones_driven_at_once_never_exceed_the_limit_with_cancellation_and_panics() {
    let pool = fixed(3);
    let (meter, calls) = (Meter::default(), Arc::new(AtomicUsize::new(0)));
    let service = PooledLayer::pool(pool.clone()).layer(metered(&meter, &calls));
    let mut clients = Vec::new();
    for client in 0..64 {
        let mut service = service.clone();
        clients.push(tokio::spawn(async move {
            for step in 0..20 {
                client_step(&mut service, client * 20 + step).await;
            }
        }));
    }
    join_within_a_minute(clients).await;
    assert_eq!(meter.max(), 3, "the limit was reached, never passed");
    assert_eq!(meter.now(), 0);
    assert_eq!(meter.done(), calls.load(Ordering::SeqCst));
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
    assert_accounted(&stats);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_is_one_limit_across_layers_and_clones() {
    static BULKHEAD: Group = Group::new(GroupSpec::new("tests::tower::bulkhead").size(2));
    let (meter, calls) = (Meter::default(), Arc::new(AtomicUsize::new(0)));
    let waits = PooledLayer::group(&BULKHEAD).layer(metered(&meter, &calls));
    let also_waits = PooledLayer::group(&BULKHEAD)
        .weight(|n: &u32| i64::from(*n % 3))
        .layer(metered(&meter, &calls));
    let mut clients = Vec::new();
    for client in 0..32u32 {
        let (mut a, mut b) = (waits.clone(), also_waits.clone());
        clients.push(tokio::spawn(async move {
            for step in 0..10 {
                let n = client * 10 + step;
                if client % 2 == 0 {
                    client_step(&mut a, n).await;
                } else {
                    client_step(&mut b, n).await;
                }
            }
        }));
    }
    join_within_a_minute(clients).await;
    assert_eq!(meter.max(), 2);
    assert_eq!(BULKHEAD.stats().running, 0);
}

#[test]
fn a_clone_that_never_calls_holds_nothing_and_a_ready_service_dropped_releases() {
    let pool = fixed(1);
    let (meter, calls) = (Meter::default(), Arc::new(AtomicUsize::new(0)));
    let mut ready = PooledLayer::pool(pool.clone()).layer(metered(&meter, &calls));
    let idle = ready.clone();
    futures::executor::block_on(ready.ready()).unwrap();
    assert_eq!(
        pool.stats().running,
        1,
        "the slot is reserved in poll_ready"
    );
    let fresh = ready.clone();
    drop((idle, fresh));
    assert_eq!(
        pool.stats().running,
        1,
        "clones took nothing, dropping them freed nothing"
    );

    let mut waiting = ready.clone();
    let mut waits = Task::new(poll_fn(move |cx| waiting.poll_ready(cx)));
    waits.assert_pending();
    assert_eq!(pool.stats().waiting, 1);
    drop(ready);
    assert!(
        waits.is_woken(),
        "the ready service's slot went to the waiter"
    );
    waits.assert_ready().unwrap();
    drop(waits);
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing was called");
    assert_accounted(&stats);
}

#[test]
fn a_poll_ready_abandoned_while_waiting_leaves_the_queue() {
    let pool = fixed(1);
    let held = pool.try_acquire().unwrap();
    let mut service =
        PooledLayer::pool(pool.clone()).layer(service_fn(|()| async { Ok::<_, BoxError>(()) }));
    {
        let mut ready = Task::new(service.ready());
        ready.assert_pending();
        assert_eq!(pool.stats().waiting, 1);
    }
    drop(service);
    let stats = pool.stats();
    assert_eq!((stats.waiting, stats.cancelled), (0, 1), "{stats:?}");
    drop(held);
    assert_accounted(&pool.stats());
}

#[test]
fn a_response_future_dropped_before_completion_releases_its_slot() {
    let pool = fixed(1);
    let mut service = PooledLayer::pool(pool.clone()).layer(service_fn(|()| {
        std::future::pending::<Result<(), BoxError>>()
    }));
    futures::executor::block_on(service.ready()).unwrap();
    let mut response = Task::new(service.call(()));
    response.assert_pending();
    assert_eq!(pool.stats().running, 1);
    drop(response);
    assert_eq!(pool.stats().running, 0);
    assert!(pool.try_acquire().is_ok());
}

#[tokio::test]
async fn reject_mode_fails_at_once_without_calling_the_inner_service() {
    let pool = fixed(1);
    let (meter, calls) = (Meter::default(), Arc::new(AtomicUsize::new(0)));
    let layer = PooledLayer::pool(pool.clone()).reject();
    let mut service = layer.clone().layer(metered(&meter, &calls));
    let mut weighted = layer.weight(|_: &u32| 0).layer(metered(&meter, &calls));
    let held = pool.try_acquire().unwrap();

    assert_refused_at_once(&mut service);
    assert_refused_at_once(&mut weighted);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let stats = pool.stats();
    assert_eq!((stats.waiting, stats.rejected_for(Rejected::Full)), (0, 2));

    drop(held);
    let served = (
        service.ready().await.unwrap().call(2).await.unwrap(),
        weighted.ready().await.unwrap().call(3).await.unwrap(),
    );
    assert_eq!(served, (2, 3), "a refusal did not fail the services");
    assert_accounted(&pool.stats());
}

/// `poll_ready` is ready on its first poll, and the call fails on its first
/// poll with `Rejected::Full`.
fn assert_refused_at_once<S>(service: &mut S)
where
    S: Service<u32, Response = u32, Error = BoxError>,
{
    let mut ready = Task::new(poll_fn(|cx| service.poll_ready(cx)));
    assert!(matches!(ready.poll(), Poll::Ready(Ok(()))), "ready at once");
    drop(ready);
    let mut response = Task::new(service.call(1));
    match response.poll() {
        Poll::Ready(Err(error)) => assert_eq!(rejection(&error), Some(Rejected::Full)),
        Poll::Ready(Ok(n)) => panic!("expected Rejected::Full at once, got Ok({n})"),
        Poll::Pending => panic!("expected Rejected::Full at once, the call waits"),
    }
}

#[test]
fn a_paused_pool_fails_the_call_not_the_service() {
    let pool = fixed(2);
    let mut service = PooledLayer::pool(pool.clone())
        .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
    pool.pause();
    futures::executor::block_on(async {
        let error = service.ready().await.unwrap().call(1).await.unwrap_err();
        assert_eq!(rejection(&error), Some(Rejected::Paused));
        pool.resume();
        assert_eq!(service.ready().await.unwrap().call(2).await.unwrap(), 2);
    });
}

#[test]
fn weights_order_admission_in_a_priority_pool() {
    let pool = Pool::builder()
        .order(Order::Priority)
        .size(1)
        .build()
        .unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let log = order.clone();
    let mut service = PooledLayer::pool(pool.clone())
        .weight(|&(_, weight): &(char, i64)| weight)
        .layer(service_fn(move |(name, _): (char, i64)| {
            log.lock().unwrap().push(name);
            async { Ok::<_, BoxError>(()) }
        }));
    futures::executor::block_on(async {
        let held = pool.try_acquire().unwrap();
        let mut calls = Vec::new();
        for request in [('e', 5), ('c', 3), ('i', 9), ('a', 1), ('d', 3)] {
            service.ready().await.unwrap();
            let mut call = Box::pin(service.call(request));
            assert!(futures::poll!(call.as_mut()).is_pending());
            calls.push(call);
        }
        assert_eq!(pool.stats().waiting, 5);
        drop(held);
        for out in futures::future::join_all(calls).await {
            out.unwrap();
        }
    });
    assert_eq!(*order.lock().unwrap(), ['a', 'c', 'd', 'e', 'i']);
    assert_accounted(&pool.stats());
}

#[test]
fn constant_weights_rank_two_layers_on_one_priority_pool() {
    let pool = Pool::builder()
        .order(Order::Priority)
        .size(1)
        .build()
        .unwrap();
    let inner = service_fn(|()| async { Ok::<_, BoxError>(()) });
    let mut batch = PooledLayer::pool(pool.clone())
        .constant_weight(10)
        .layer(inner);
    let mut urgent = PooledLayer::pool(pool.clone())
        .constant_weight(0)
        .layer(inner);
    let held = pool.try_acquire().unwrap();
    let mut batch_ready = Task::new(poll_fn(|cx| batch.poll_ready(cx)));
    let mut urgent_ready = Task::new(poll_fn(|cx| urgent.poll_ready(cx)));
    batch_ready.assert_pending();
    urgent_ready.assert_pending();
    drop(held);
    assert!(urgent_ready.is_woken() && !batch_ready.is_woken());
    urgent_ready.assert_ready().unwrap();
    batch_ready.assert_pending();
    drop((urgent_ready, batch_ready));
    drop(urgent);
    assert!(futures::executor::block_on(batch.ready()).is_ok());
}

#[test]
fn a_weighted_call_dropped_while_waiting_leaves_the_queue() {
    let pool = Pool::builder()
        .order(Order::Priority)
        .size(1)
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let mut service = PooledLayer::pool(pool.clone())
        .weight(|_: &()| 0)
        .layer(service_fn(move |()| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, BoxError>(()) }
        }));
    let held = pool.try_acquire().unwrap();
    let mut call = Task::new(service.call(()));
    call.assert_pending();
    assert_eq!(pool.stats().waiting, 1);
    drop(call);
    let stats = pool.stats();
    assert_eq!((stats.waiting, stats.cancelled), (0, 1), "{stats:?}");
    drop(held);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// A body of the given frames, then its end, or an error where a frame is
/// `None`.
struct Frames(VecDeque<Option<&'static str>>);

impl Body for Frames {
    type Data = &'static [u8];
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<&'static [u8]>, BoxError>>> {
        Poll::Ready(self.0.pop_front().map(|frame| match frame {
            Some(data) => Ok(Frame::data(data.as_bytes())),
            None => Err("the body broke".into()),
        }))
    }
}

async fn next_frame<B: Body + Unpin>(body: &mut B) -> Option<Result<Frame<B::Data>, B::Error>> {
    poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
}

#[test]
fn a_body_holds_the_slot_until_it_ends_errs_or_is_dropped() {
    let pool = fixed(1);
    let mut service = PooledLayer::pool(pool.clone())
        .hold_until_body_ends()
        .layer(service_fn(|frames: Vec<Option<&'static str>>| async move {
            Ok::<_, BoxError>(http::Response::new(Frames(frames.into())))
        }));
    let mut respond = |frames: Vec<Option<&'static str>>| {
        futures::executor::block_on(async {
            service.ready().await.unwrap().call(frames).await.unwrap()
        })
    };
    let busy = |pool: &Pool| pool.stats().running == 1;

    // Ends: held through every frame, released after the last one.
    let mut body = respond(vec![Some("a"), Some("b")]).into_body();
    futures::executor::block_on(async {
        assert!(next_frame(&mut body).await.unwrap().is_ok());
        assert!(busy(&pool) && body.holds_slot(), "held between frames");
        assert!(next_frame(&mut body).await.unwrap().is_ok());
        assert!(busy(&pool), "a body that cannot tell it ended holds on");
        assert!(next_frame(&mut body).await.is_none());
    });
    assert!(!busy(&pool) && !body.holds_slot(), "released at the end");
    drop(body);

    // Errs: released with the error.
    let mut body = respond(vec![Some("a"), None]).into_body();
    futures::executor::block_on(async {
        assert!(next_frame(&mut body).await.unwrap().is_ok());
        assert!(busy(&pool));
        assert!(next_frame(&mut body).await.unwrap().is_err());
    });
    assert!(!busy(&pool), "released with the error");
    drop(body);

    // Dropped half read: released with the body.
    let mut body = respond(vec![Some("a"), Some("b")]).into_body();
    futures::executor::block_on(next_frame(&mut body));
    assert!(busy(&pool));
    drop(body);
    assert!(!busy(&pool), "released with the body");

    // Ended and errored bodies end completed calls; one dropped before its
    // end is a cancelled call, as a dropped running submit is.
    let stats = pool.stats();
    assert_eq!(
        (stats.running, stats.completed, stats.cancelled),
        (0, 2, 1),
        "{stats:?}"
    );
    assert_accounted(&stats);
}

#[test]
fn a_body_that_knows_its_end_releases_with_its_last_frame_or_at_once() {
    let pool = fixed(1);
    let full = PermitBody::new(String::from("all"), pool.try_acquire_owned(0).unwrap());
    assert!(pool.try_acquire().is_err());
    let mut full = full;
    let frame = futures::executor::block_on(next_frame(&mut full));
    assert!(frame.unwrap().is_ok());
    assert!(
        pool.try_acquire().is_ok(),
        "String says it ended with its frame"
    );
    let empty = PermitBody::new(String::new(), pool.try_acquire_owned(0).unwrap());
    assert!(!empty.holds_slot() && pool.try_acquire().is_ok());
}

#[test]
fn the_next_call_waits_while_a_body_holds_the_only_slot() {
    let pool = fixed(1);
    let layer = PooledLayer::pool(pool.clone()).hold_until_body_ends();
    let mut streaming = layer.layer(service_fn(|()| async {
        Ok::<_, BoxError>(http::Response::new(Frames([Some("a")].into())))
    }));
    let mut next = streaming.clone();
    let response = futures::executor::block_on(async {
        streaming.ready().await.unwrap().call(()).await.unwrap()
    });
    let mut waits = Task::new(poll_fn(|cx| next.poll_ready(cx)));
    waits.assert_pending();
    let mut body = response.into_body();
    futures::executor::block_on(async {
        next_frame(&mut body).await.unwrap().unwrap();
        assert!(next_frame(&mut body).await.is_none());
    });
    assert!(waits.is_woken());
    waits.assert_ready().unwrap();
}

/// `UntilBodyEnds`: a response with no content by its status (1xx, 204,
/// 304) ends with its head, completed — hyper never polls such a body and
/// drops it unread, which counted every one as a cancelled call (adversarial
/// round 47, over HTTP). A 200 whose body is dropped unread still counts as
/// cancelled (the client went away).
#[test]
fn a_response_without_content_by_its_status_completes_with_its_head() {
    for (status, completed) in [
        (http::StatusCode::NO_CONTENT, true),
        (http::StatusCode::NOT_MODIFIED, true),
        (http::StatusCode::CONTINUE, true),
        (http::StatusCode::OK, false),
    ] {
        let pool = fixed(1);
        let layer = PooledLayer::pool(pool.clone()).hold_until_body_ends();
        let mut service = layer.layer(service_fn(move |()| async move {
            let mut response = http::Response::new(Frames([Some("not sent")].into()));
            *response.status_mut() = status;
            Ok::<_, BoxError>(response)
        }));
        let response = futures::executor::block_on(async {
            service.ready().await.unwrap().call(()).await.unwrap()
        });
        assert_eq!(
            response.body().holds_slot(),
            !completed,
            "{status}: the slot held by the body"
        );
        drop(response);
        let stats = pool.stats();
        assert_eq!(stats.running, 0, "{status}");
        assert_eq!(
            (stats.completed, stats.cancelled),
            if completed { (1, 0) } else { (0, 1) },
            "{status}: {stats:?}"
        );
        assert_accounted(&stats);
    }
}

#[test]
fn an_overload_classifier_cuts_an_adaptive_pool_and_its_absence_does_not() {
    let adaptive = || {
        Pool::builder()
            .kind(Kind::Autoscale)
            .min(1)
            .max(64)
            .size(32)
            .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::default()))
            .build()
            .unwrap()
    };
    let answers_503 = service_fn(|()| async { Ok::<u16, BoxError>(503) });
    let judged = adaptive();
    let mut service = PooledLayer::pool(judged.clone())
        .overload(|result: &Result<u16, BoxError>| matches!(result, Ok(503)))
        .layer(answers_503);
    eight_calls_at_once(&mut service);
    assert!(
        judged.size() < 32,
        "refusals cut the limit: {}",
        judged.size()
    );

    let unjudged = adaptive();
    let mut service = PooledLayer::pool(unjudged.clone()).layer(answers_503);
    eight_calls_at_once(&mut service);
    assert!(
        unjudged.size() >= 32,
        "successes do not: {}",
        unjudged.size()
    );
}

/// Eight calls in flight at once, each answered 503.
fn eight_calls_at_once<S>(service: &mut S)
where
    S: Service<(), Response = u16, Error = BoxError>,
{
    futures::executor::block_on(async {
        let mut responses = Vec::new();
        for _ in 0..8 {
            responses.push(service.ready().await.unwrap().call(()));
        }
        for response in futures::future::join_all(responses).await {
            assert_eq!(response.unwrap(), 503);
        }
    })
}

#[test]
fn services_and_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let pool = fixed(1);
    let inner = service_fn(|n: u32| async move { Ok::<_, BoxError>(n) });
    let mut plain: PooledService<_> = PooledLayer::pool(pool.clone()).layer(inner);
    let mut weighted = PooledLayer::pool(pool.clone())
        .weight(|n: &u32| i64::from(*n))
        .overload(|_: &Result<u32, BoxError>| false)
        .layer(inner);
    send_sync(&plain);
    send_sync(&weighted);
    futures::executor::block_on(plain.ready()).unwrap();
    let response = plain.call(1);
    send(&response);
    drop(response);
    send(&weighted.call(1));
    let body = PermitBody::new(String::from("x"), pool.try_acquire_owned(0).unwrap());
    send_sync(&body);
}

/// Promise (`PooledService` docs): dropping a service that holds a reserved
/// slot (ready but not called) releases it, and a call dropped before it
/// finished is no latency sample; both are cancelled calls, as a dropped
/// submit is. They ended as completed calls, with the time since the
/// reservation as a success sample for an adaptive pool.
#[test]
fn a_reserved_slot_never_called_and_a_dropped_call_end_cancelled() {
    let pool = fixed(1);
    let layer = PooledLayer::pool(pool.clone());

    // Reserved in poll_ready, then the service goes away uncalled.
    let mut service = layer.layer(service_fn(|()| async { Ok::<_, BoxError>(()) }));
    futures::executor::block_on(service.ready()).unwrap();
    assert_eq!(pool.stats().running, 1, "reserved");
    drop(service);
    let stats = pool.stats();
    assert_eq!(
        (stats.running, stats.completed, stats.cancelled),
        (0, 0, 1),
        "{stats:?}"
    );

    // Called, then the response future is dropped while the inner one runs.
    let mut service = layer.layer(service_fn(|()| {
        std::future::pending::<Result<(), BoxError>>()
    }));
    let mut response = Task::new({
        futures::executor::block_on(service.ready()).unwrap();
        service.call(())
    });
    response.assert_pending();
    assert_eq!(pool.stats().running, 1, "the call runs");
    drop(response);
    let stats = pool.stats();
    assert_eq!(
        (stats.running, stats.completed, stats.cancelled),
        (0, 0, 2),
        "{stats:?}"
    );

    // A call that finishes is completed.
    let mut service = layer.layer(service_fn(|()| async { Ok::<_, BoxError>(()) }));
    futures::executor::block_on(async { service.ready().await.unwrap().call(()).await }).unwrap();
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.cancelled), (1, 2), "{stats:?}");
    assert_accounted(&stats);
}
