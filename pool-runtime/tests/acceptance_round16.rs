//! Acceptance tests, round 16: the queue-depth autoscaler at its edges
//! (`size(0)`, `min = 0`, the builder's defaults, a never-passing
//! interval), the tower layer's weighted modes (weights at `i64::MIN` and
//! `MAX`, reject mode with a weight function, a reserved slot handed from a
//! dropped clone to a waiting one), and sync callers with `sync_barging`
//! on OS threads racing `resize`, `pause`/`resume`, `close` and a
//! configuration reload. Concurrency is counted from outside the library;
//! waits are bounded only to turn a hang into a failure.
#![cfg(feature = "tokio")]
#![cfg_attr(
    not(all(feature = "tower", feature = "config")),
    allow(dead_code, unused_imports)
)]

use pool_runtime::{Kind, ManualClock, Order, Pool, Rejected};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;
use common::{assert_accounted, runtime, within, Meter, Task};

/// Waits (bounded) on this thread until `cond` holds; fails if it never does.
#[track_caller]
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ---- the queue-depth autoscaler at its edges --------------------------------

fn autoscaled(clock: &ManualClock, min: usize, max: usize, size: Option<usize>) -> Pool {
    let mut builder = Pool::builder()
        .kind(Kind::Autoscale)
        .min(min)
        .max(max)
        .clock(Arc::new(clock.clone()));
    if let Some(size) = size {
        builder = builder.size(size);
    }
    builder.build().unwrap()
}

/// `GroupSettings::size` (pool-runtime/src/group/settings.rs): "An
/// autoscaled pool given `size(0)` holds its calls until it is resized, or
/// an intake event finds an evaluation due." A call waiting in such a pool
/// must be admitted by the growth an intake event's evaluation brings once
/// an interval has passed (demand 1 or more over the window, limit 0: the
/// rule's "`D > L`: grow to `ceil(D)`, at least `L + 1`").
#[test]
fn an_autoscaled_pool_of_size_zero_grows_at_an_intake_event_that_finds_an_evaluation_due() {
    let clock = ManualClock::new();
    let pool = autoscaled(&clock, 0, 4, Some(0));
    assert_eq!(pool.size(), 0, "built at the size it was given");
    let mut first = Task::new(pool.submit(async { 1 }));
    first.assert_pending();
    assert_eq!(pool.stats().waiting, 1);
    // Before an interval has passed no evaluation is due: it holds the call.
    let mut early = Task::new(pool.submit(async { 2 }));
    early.assert_pending();
    assert_eq!(pool.size(), 0);
    clock.advance(Duration::from_secs(10));
    // This intake event finds the evaluation due: demand 2 > limit 0.
    let mut second = Task::new(pool.submit(async { 3 }));
    let _ = second.poll();
    assert!(
        pool.size() >= 1,
        "an intake event after an interval with calls waiting grows the pool from 0: {:?}",
        pool.stats()
    );
    assert!(first.is_woken(), "the growth admits the first waiter");
    assert_eq!(first.assert_ready(), Ok(1));
}

/// README ("Autoscale"): "never below one slot by itself: with `min = 0` a
/// pool starts at 1 and only `resize` takes it to 0". An idle pool with
/// `min = 0` shrinks interval after interval, and stays at 1; `resize(0)`
/// and `scale(-n)` take it to 0 (its bounds are `[0, max]`).
#[test]
fn min_zero_starts_at_one_never_shrinks_below_one_by_itself_and_resize_reaches_zero() {
    let clock = ManualClock::new();
    let pool = autoscaled(&clock, 0, 8, None);
    assert_eq!(pool.size(), 1, "min = 0 starts at 1");
    assert_eq!(pool.resize(8), 8);
    for round in 0..8 {
        clock.advance(Duration::from_secs(10));
        // Events with (almost) no demand over the window.
        futures::executor::block_on(pool.submit(async {})).unwrap();
        assert!(pool.size() >= 1, "round {round}: shrank to 0 by itself");
    }
    assert_eq!(pool.size(), 1, "an idle pool shrinks down to 1");
    assert_eq!(pool.resize(0), 0, "resize takes it to 0");
    assert_eq!(pool.scale(3), 3);
    assert_eq!(pool.scale(-5), 0, "scale is clamped to [min, max] = [0, 8]");
    assert_accounted(&pool.stats());
}

/// README ("In code"): "`.kind(Kind::Autoscale).min(a).max(b)` (default
/// 3..=8, every 10 s over 20 samples)"; `PoolBuilder`: "an autoscaled pool
/// between `min = 3` and `max = min + 5`, starting at `min`, re-evaluated
/// every 10 s". A backed-up default autoscaled pool does not move at an
/// event 1 ms before 10 s, and grows at the first event after.
#[test]
fn the_default_autoscaled_pool_is_three_to_eight_and_evaluates_every_ten_seconds() {
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    assert_eq!((pool.size(), pool.bounds()), (3, (3, 8)));
    let mut held: Vec<_> = (0..12)
        .map(|_| Task::new(pool.submit(std::future::pending::<()>())))
        .collect();
    for call in &mut held {
        call.assert_pending();
    }
    clock.advance(Duration::from_millis(9_999));
    let mut probe = Task::new(pool.submit(async {}));
    probe.assert_pending();
    assert_eq!(pool.size(), 3, "no evaluation before 10 s");
    clock.advance(Duration::from_millis(1));
    let mut probe2 = Task::new(pool.submit(async {}));
    probe2.assert_pending();
    assert_eq!(
        pool.size(),
        6,
        "demand 12+ over the window: doubled at 10 s"
    );
    clock.advance(Duration::from_secs(10));
    let mut probe3 = Task::new(pool.submit(async {}));
    probe3.assert_pending();
    assert_eq!(
        pool.size(),
        8,
        "grows toward the demand, clamped to max = 8"
    );
}

/// `Pool::set_autoscale_timing`: "An interval too long to pass is accepted
/// and means 'never'." A backed-up pool whose interval is `Duration::MAX`
/// never grows, however far the clock goes.
#[test]
fn an_autoscale_interval_of_duration_max_never_moves_the_limit() {
    let clock = ManualClock::new();
    let pool = autoscaled(&clock, 1, 8, None);
    pool.set_autoscale_timing(pool_runtime::AutoscaleTiming {
        interval: Duration::MAX,
        window: 20,
    })
    .unwrap();
    let mut held: Vec<_> = (0..6)
        .map(|_| Task::new(pool.submit(std::future::pending::<()>())))
        .collect();
    for call in &mut held {
        call.assert_pending();
    }
    for _ in 0..5 {
        clock.advance(Duration::from_secs(100 * 365 * 24 * 3600));
        let mut probe = Task::new(pool.submit(async {}));
        probe.assert_pending();
        assert_eq!(pool.size(), 1);
    }
    clock.advance(Duration::MAX);
    drop(held.pop());
    let mut probe = Task::new(pool.submit(async {}));
    let _ = probe.poll();
    assert_eq!(pool.size(), 1, "never evaluates");
}

// ---- tower: weighted modes -----------------------------------------------------

#[cfg(feature = "tower")]
mod tower_layer {
    use super::*;
    use http_body::Body as _;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use std::task::{Context, Poll};
    use tower::{service_fn, Layer, Service, ServiceExt};

    /// `PooledLayer::weight`: "Each call's weight in a priority pool is
    /// `weight(&request)` (smaller first ...)"; README: "`submit_weighted(w,
    /// fut)`: smaller first, FIFO among equals". Weights at the edges of
    /// `i64` rank as numbers: `i64::MIN` first, `i64::MAX` last, ties in
    /// arrival order; the inner service sees the calls in that order, one at
    /// a time on a pool of 1.
    #[test]
    fn a_weight_function_ranks_i64_min_first_and_i64_max_last_fifo_among_equals() {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let meter = Meter::default();
        let inner = {
            let (seen, meter) = (seen.clone(), meter.clone());
            service_fn(move |(_, id): (i64, u32)| {
                seen.lock().unwrap().push(id);
                let inside = meter.enter();
                async move {
                    drop(inside);
                    Ok::<_, BoxError>(id)
                }
            })
        };
        let service = PooledLayer::pool(pool.clone())
            .weight(|request: &(i64, u32)| request.0)
            .layer(inner);
        let held = pool.try_acquire_owned(0).unwrap();
        let requests = [
            (i64::MAX, 0),
            (0, 1),
            (i64::MIN, 2),
            (i64::MAX, 3),
            (i64::MIN, 4),
            (-1, 5),
            (1, 6),
        ];
        let mut calls: Vec<_> = requests
            .iter()
            .map(|&request| Task::new(service.clone().oneshot(request)))
            .collect();
        for call in &mut calls {
            call.assert_pending();
        }
        assert_eq!(pool.stats().waiting, requests.len());
        drop(held);
        let mut done = vec![false; calls.len()];
        for _ in 0..100 {
            for (i, call) in calls.iter_mut().enumerate() {
                if !done[i] {
                    if let Poll::Ready(out) = call.poll() {
                        assert_eq!(out.unwrap(), requests[i].1);
                        done[i] = true;
                    }
                }
            }
        }
        assert!(done.iter().all(|d| *d), "every call finished");
        assert_eq!(*seen.lock().unwrap(), vec![2, 4, 5, 1, 6, 0, 3]);
        assert_eq!(meter.max(), 1);
        let s = pool.stats();
        assert_accounted(&s);
        // The slot held at the start was a call too.
        assert_eq!((s.completed, s.in_flight()), (requests.len() as u64 + 1, 0));
    }

    /// An inner service that is ready only while `ready` is set, and counts
    /// its `call`s.
    #[derive(Clone)]
    struct Gated {
        ready: Arc<AtomicBool>,
        calls: Arc<AtomicUsize>,
    }

    impl Service<u32> for Gated {
        type Response = u32;
        type Error = BoxError;
        type Future = std::future::Ready<Result<u32, BoxError>>;
        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            if self.ready.load(SeqCst) {
                Poll::Ready(Ok(()))
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
        fn call(&mut self, n: u32) -> Self::Future {
            self.calls.fetch_add(1, SeqCst);
            std::future::ready(Ok(n))
        }
    }

    /// `PooledLayer::weight`: "In `reject` mode nothing waits: `poll_ready`
    /// is the inner service's and `call` takes a slot or fails." A weighted
    /// shedding service is not ready while its inner service is not, and
    /// holds no slot meanwhile; once ready, a call with a free slot runs and
    /// one without fails at once with `Full`, without reaching the inner
    /// service.
    #[test]
    fn a_weighted_reject_layer_is_ready_as_its_inner_service_and_takes_its_slot_in_call() {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        let inner = Gated {
            ready: Arc::new(AtomicBool::new(false)),
            calls: Arc::new(AtomicUsize::new(0)),
        };
        let (ready, calls) = (inner.ready.clone(), inner.calls.clone());
        let mut service = PooledLayer::pool(pool.clone())
            .weight(|n: &u32| i64::from(*n))
            .reject()
            .layer(inner);
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(
            service.poll_ready(&mut cx).is_pending(),
            "poll_ready is the inner service's"
        );
        assert_eq!(pool.stats().running, 0, "no slot held while not ready");
        ready.store(true, SeqCst);
        assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        assert_eq!(
            pool.stats().running,
            0,
            "with a weight function the slot is taken in call, not poll_ready"
        );
        let held = pool.try_acquire_owned(0).unwrap();
        let mut refused = Task::new(service.call(7));
        let error = match refused.poll() {
            Poll::Ready(Err(error)) => error,
            other => panic!("a call finding no free slot fails at once: {other:?}"),
        };
        assert_eq!(error.downcast_ref::<Rejected>(), Some(&Rejected::Full));
        assert_eq!(calls.load(SeqCst), 0, "the inner service was not called");
        assert_eq!(pool.stats().waiting, 0, "nothing queued");
        drop(held);
        assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        let mut served = Task::new(service.call(8));
        assert_eq!(served.assert_ready().unwrap(), 8);
        assert_eq!(calls.load(SeqCst), 1);
        let s = pool.stats();
        assert_accounted(&s);
        assert_eq!(s.rejected_for(Rejected::Full), 1, "{s:?}");
        assert_eq!(s.in_flight(), 0);
    }

    /// The same mode under load: many concurrent weighted shedding calls on
    /// a pool of 3 never run more than 3 at once (counted in the inner
    /// service), and every call is either served or `Full`, as the stats say.
    #[test]
    fn weighted_shedding_calls_under_load_keep_the_limit_and_are_all_accounted() {
        within(Duration::from_secs(60), || {
            runtime().block_on(async {
                let pool = Pool::builder()
                    .order(Order::Priority)
                    .size(3)
                    .build()
                    .unwrap();
                let meter = Meter::default();
                let inner = {
                    let meter = meter.clone();
                    service_fn(move |n: u32| {
                        let inside = meter.enter();
                        async move {
                            let _inside = inside;
                            tokio::time::sleep(Duration::from_millis(2)).await;
                            Ok::<_, BoxError>(n)
                        }
                    })
                };
                let service = PooledLayer::pool(pool.clone())
                    .weight(|n: &u32| i64::from(*n % 3))
                    .reject()
                    .layer(inner);
                let served = Arc::new(AtomicUsize::new(0));
                let shed = Arc::new(AtomicUsize::new(0));
                // Eight lanes driven at once in this task (an `async move`
                // block awaiting the call cannot be spawned: the module
                // docs' known limitation).
                let lanes = (0..8u32).map(|t| {
                    let (service, served, shed) = (service.clone(), served.clone(), shed.clone());
                    async move {
                        for i in 0..50u32 {
                            match service.clone().oneshot(t * 100 + i).await {
                                Ok(_) => served.fetch_add(1, SeqCst),
                                Err(e) => {
                                    assert_eq!(e.downcast_ref::<Rejected>(), Some(&Rejected::Full));
                                    shed.fetch_add(1, SeqCst)
                                }
                            };
                        }
                    }
                });
                futures::future::join_all(lanes).await;
                let s = pool.stats();
                assert!(meter.max() <= 3, "{} ran at once on 3 slots", meter.max());
                assert_eq!(served.load(SeqCst) + shed.load(SeqCst), 400);
                assert_eq!(s.completed, served.load(SeqCst) as u64, "{s:?}");
                assert_eq!(s.rejected_for(Rejected::Full), shed.load(SeqCst) as u64);
                assert_eq!(s.submitted(), 400, "{s:?}");
                assert_accounted(&s);
                assert_eq!(s.in_flight(), 0);
            })
        });
    }

    #[derive(Debug)]
    struct Teapot;
    impl std::fmt::Display for Teapot {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("teapot")
        }
    }
    impl std::error::Error for Teapot {}

    /// Module docs of `pool_runtime::tower`: "The service's error is a
    /// `BoxError` ...: a pool's refusal is a `Rejected` inside it ..., the
    /// inner service's errors are boxed as they are." An inner `io::Error`
    /// and an inner `BoxError` each downcast to what the inner service
    /// returned (not boxed twice); two layers stacked over two pools, the
    /// inner one paused, fail with the inner pool's `Rejected::Paused`,
    /// counted as rejected by the inner pool and as an ordinary finished
    /// call by the outer one.
    #[test]
    fn inner_errors_keep_their_type_and_stacked_layers_report_the_inner_refusal() {
        let pool = Pool::fixed(2);
        let io = PooledLayer::pool(pool.clone()).layer(service_fn(|()| async {
            Err::<(), _>(std::io::Error::other("io"))
        }));
        let error = futures::executor::block_on(io.oneshot(())).unwrap_err();
        assert_eq!(
            error
                .downcast_ref::<std::io::Error>()
                .map(|e| e.to_string()),
            Some("io".to_owned()),
            "{error:?}"
        );
        let boxed = PooledLayer::pool(pool.clone()).layer(service_fn(|()| async {
            Err::<(), BoxError>(Box::new(Teapot))
        }));
        let error = futures::executor::block_on(boxed.oneshot(())).unwrap_err();
        assert!(
            error.downcast_ref::<Teapot>().is_some(),
            "boxed once: {error:?}"
        );
        assert!(error.downcast_ref::<Rejected>().is_none());

        let inner_pool = Pool::fixed(1);
        inner_pool.pause();
        let inner = PooledLayer::pool(inner_pool.clone())
            .layer(service_fn(|()| async { Ok::<_, BoxError>(1) }));
        let outer = PooledLayer::pool(pool.clone()).layer(inner);
        let error = futures::executor::block_on(outer.oneshot(())).unwrap_err();
        assert_eq!(error.downcast_ref::<Rejected>(), Some(&Rejected::Paused));
        let (outer_stats, inner_stats) = (pool.stats(), inner_pool.stats());
        assert_eq!(
            inner_stats.rejected_for(Rejected::Paused),
            1,
            "{inner_stats:?}"
        );
        assert_eq!(outer_stats.rejected_total(), 0, "{outer_stats:?}");
        assert_eq!(outer_stats.completed, 3, "{outer_stats:?}");
        assert_accounted(&outer_stats);
        assert_accounted(&inner_stats);
    }

    type Nested =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, Rejected>> + Send>>;

    /// A body whose one data frame is the output of a call of `pool` made
    /// inside `poll_frame`.
    struct CallingBody {
        pool: Pool,
        call: Option<Nested>,
        done: bool,
        meter: Meter,
    }

    impl http_body::Body for CallingBody {
        type Data = &'static [u8];
        type Error = BoxError;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<&'static [u8]>, BoxError>>> {
            if self.done {
                return Poll::Ready(None);
            }
            if self.call.is_none() {
                let (pool, meter) = (self.pool.clone(), self.meter.clone());
                self.call = Some(Box::pin(async move {
                    pool.submit(async move {
                        let _inside = meter.enter();
                        7
                    })
                    .await
                }));
            }
            let out = std::task::ready!(self.call.as_mut().unwrap().as_mut().poll(cx));
            self.done = true;
            Poll::Ready(Some(match out {
                Ok(_) => Ok(http_body::Frame::data(&b"seven"[..])),
                Err(rejected) => Err(rejected.into()),
            }))
        }
    }

    /// Module docs of `pool_runtime::tower`: "The inner service's response
    /// future is polled as the work of the call holding the slot ... (with
    /// `hold_until_body_ends`, the response body's `poll_frame` while it
    /// holds the slot): a call of the same pool or group made from inside
    /// them ... is a nested call and follows the reentrancy rule ... it runs
    /// under the response's slot instead of waiting for a second one";
    /// README: "and so does a held body's streaming: a handler (or a body)
    /// calling the same pool or group makes a nested call". On a pool of
    /// one slot, a held body whose `poll_frame` calls the pool completes
    /// (no deadlock), the call is counted as nested, the limit holds, and
    /// the body's end releases the slot.
    #[test]
    fn a_held_body_calling_its_pool_in_poll_frame_runs_under_its_slot() {
        let pool = Pool::fixed(1);
        let meter = Meter::default();
        let inner = {
            let (pool, meter) = (pool.clone(), meter.clone());
            service_fn(move |()| {
                let body = CallingBody {
                    pool: pool.clone(),
                    call: None,
                    done: false,
                    meter: meter.clone(),
                };
                async move { Ok::<_, BoxError>(http::Response::new(body)) }
            })
        };
        let service = PooledLayer::pool(pool.clone())
            .hold_until_body_ends()
            .layer(inner);
        let mut response = Task::new(service.oneshot(()));
        let mut body = response.assert_ready().unwrap().into_body();
        assert_eq!(pool.stats().running, 1, "the body holds the slot");
        let mut frame = Task::new(std::future::poll_fn(|cx| {
            std::pin::Pin::new(&mut body).poll_frame(cx)
        }));
        let mut out = None;
        for _ in 0..10 {
            if let Poll::Ready(next) = frame.poll() {
                out = Some(next);
                break;
            }
        }
        let out = out.expect("the nested call ran under the body's slot (no deadlock)");
        let data = out.unwrap().unwrap().into_data().unwrap();
        assert_eq!(data, &b"seven"[..]);
        drop(frame);
        let mut end = Task::new(std::future::poll_fn(|cx| {
            std::pin::Pin::new(&mut body).poll_frame(cx)
        }));
        assert!(end.assert_ready().is_none());
        drop(end);
        assert_eq!(meter.max(), 1);
        let s = pool.stats();
        assert_eq!(s.running, 0, "the body's end released the slot: {s:?}");
        assert_eq!(s.completed, 2, "the response and its nested call: {s:?}");
        assert_accounted(&s);
    }

    /// Module docs: "By default a slot is reserved in `poll_ready` ... and
    /// released when the response future completes or is dropped"; "A clone
    /// starts without a reserved slot"; README: "Hand-off, no barging: a
    /// freed slot goes straight to the next waiter". A clone that reserved
    /// the only slot and is dropped without a call hands it to the clone
    /// waiting in `poll_ready` first (not to the one that came later, nor to
    /// a newcomer's `try_acquire`), and every call ends accounted.
    #[test]
    fn a_slot_reserved_by_a_dropped_clone_goes_to_the_clone_waiting_first() {
        let pool = Pool::fixed(1);
        let meter = Meter::default();
        let inner = {
            let meter = meter.clone();
            service_fn(move |n: u32| {
                let inside = meter.enter();
                async move {
                    drop(inside);
                    Ok::<_, BoxError>(n)
                }
            })
        };
        let service = PooledLayer::pool(pool.clone()).layer(inner);
        let readied = |service: pool_runtime::tower::PooledService<_, _, _, _>| {
            Task::new(async move {
                let mut service = service;
                std::future::poll_fn(|cx| service.poll_ready(cx))
                    .await
                    .unwrap();
                service
            })
        };
        let mut first = readied(service.clone());
        let reserved = match first.poll() {
            Poll::Ready(service) => service,
            Poll::Pending => panic!("a free slot is reserved at once"),
        };
        let mut second = readied(service.clone());
        second.assert_pending();
        let mut third = readied(service.clone());
        third.assert_pending();
        assert_eq!((pool.stats().running, pool.stats().waiting), (1, 2));
        drop(reserved);
        assert!(
            pool.try_acquire().is_err(),
            "a newcomer does not take the slot"
        );
        assert!(second.is_woken(), "the slot went to the first waiter");
        let mut second = match second.poll() {
            Poll::Ready(service) => service,
            Poll::Pending => panic!("the first waiting clone holds the slot"),
        };
        third.assert_pending();
        let mut call = Task::new(second.call(5));
        assert_eq!(call.assert_ready().unwrap(), 5);
        assert!(third.is_woken());
        let mut third = match third.poll() {
            Poll::Ready(service) => service,
            Poll::Pending => panic!("the third clone's turn"),
        };
        let mut call = Task::new(third.call(6));
        assert_eq!(call.assert_ready().unwrap(), 6);
        assert_eq!(meter.max(), 1);
        let s = pool.stats();
        assert_accounted(&s);
        assert_eq!(s.in_flight(), 0, "{s:?}");
        assert_eq!(s.completed, 2, "{s:?}");
    }
}

// ---- sync barging racing resize, pause, close and a reload ---------------------

/// Counts bodies from outside, and checks the ones that started wholly
/// inside a "strict" phase (limit 1, running at most 1 when it began)
/// against that limit.
#[derive(Default)]
struct PhasedMeter {
    now: AtomicUsize,
    max: AtomicUsize,
    /// Odd: a strict phase is open.
    epoch: AtomicU64,
    strict_max: AtomicUsize,
    strict_seen: AtomicUsize,
}

impl PhasedMeter {
    fn body(&self, spin: u32) {
        let before = self.epoch.load(SeqCst);
        let n = self.now.fetch_add(1, SeqCst) + 1;
        let after = self.epoch.load(SeqCst);
        self.max.fetch_max(n, SeqCst);
        if before == after && before % 2 == 1 {
            self.strict_max.fetch_max(n, SeqCst);
            self.strict_seen.fetch_add(1, SeqCst);
        }
        for _ in 0..spin {
            std::hint::spin_loop();
        }
        if spin % 3 == 0 {
            std::thread::yield_now();
        }
        self.now.fetch_sub(1, SeqCst);
    }
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    paused: AtomicU64,
    closed: AtomicU64,
    other: AtomicU64,
}

impl Tally {
    fn note<T>(&self, out: Result<T, Rejected>) {
        match out {
            Ok(_) => &self.ok,
            Err(Rejected::Paused) => &self.paused,
            Err(Rejected::Closed) => &self.closed,
            Err(_) => &self.other,
        }
        .fetch_add(1, SeqCst);
    }
}

/// README ("Many sync callers on few slots"): with `sync_barging` "The
/// limit holds as always ... callers outside the queue count as waiting (a
/// pause or a close leaves them waiting, as queued calls)"; "At every
/// admission `running <= limit`, including while scaling down under load";
/// `Pool::pause`: new calls are rejected with `Paused`; `close`: "new calls
/// are rejected with `Closed`; waiting and running calls finish"; Stats:
/// every term counted on its own.
///
/// Six OS threads call `run` on a barging pool while a controller resizes
/// it between 1 and 3, pauses and resumes it, then closes it. Never more
/// than 3 bodies at once; while the limit is 1 (after the running count
/// came down to 1) never more than 1; every call returns `Ok`, `Paused`
/// or `Closed` and the stats count exactly those.
#[test]
fn barging_sync_callers_racing_resize_pause_and_close_keep_the_limit_and_the_counts() {
    within(Duration::from_secs(120), || {
        let pool = Pool::builder()
            .size(3)
            .sync_barging(Duration::from_millis(1))
            .build()
            .unwrap();
        assert_eq!(pool.sync_barging(), Some(Duration::from_millis(1)));
        let meter = Arc::new(PhasedMeter::default());
        let tally = Arc::new(Tally::default());
        let submitted = Arc::new(AtomicU64::new(0));
        let workers: Vec<_> = (0..6u32)
            .map(|t| {
                let (pool, meter, tally) = (pool.clone(), meter.clone(), tally.clone());
                let submitted = submitted.clone();
                std::thread::spawn(move || {
                    // Call until the pool is closed, then three more times.
                    let (mut i, mut after_close) = (0u32, 0);
                    while after_close < 3 {
                        if pool.is_closed() {
                            after_close += 1;
                        }
                        let spin = (t * 7 + i) % 200;
                        i += 1;
                        submitted.fetch_add(1, SeqCst);
                        tally.note(pool.run(|| meter.body(spin)));
                    }
                })
            })
            .collect();
        for _ in 0..30 {
            pool.resize(1);
            until("running comes down to the new limit", || {
                pool.stats().running <= 1
            });
            meter.epoch.fetch_add(1, SeqCst); // a strict phase opens
            std::thread::sleep(Duration::from_millis(3));
            meter.epoch.fetch_add(1, SeqCst); // and closes before growth
            pool.resize(3);
            std::thread::sleep(Duration::from_millis(2));
            pool.pause();
            std::thread::sleep(Duration::from_millis(1));
            pool.resume();
            pool.scale(-1);
            std::thread::sleep(Duration::from_millis(1));
            pool.scale(1);
        }
        // Close under load.
        pool.close();
        for worker in workers {
            worker.join().unwrap();
        }
        let s = pool.stats();
        let total = submitted.load(SeqCst);
        assert!(
            meter.max.load(SeqCst) <= 3,
            "{} at once",
            meter.max.load(SeqCst)
        );
        assert!(
            meter.strict_max.load(SeqCst) <= 1,
            "{} at once while the limit was 1 ({} bodies checked)",
            meter.strict_max.load(SeqCst),
            meter.strict_seen.load(SeqCst)
        );
        assert!(
            meter.strict_seen.load(SeqCst) > 0,
            "bodies ran while the limit was 1"
        );
        assert_eq!(
            tally.other.load(SeqCst),
            0,
            "only Paused and Closed refusals"
        );
        assert!(tally.closed.load(SeqCst) > 0, "the close turned calls away");
        assert_eq!(s.submitted(), total, "{s:?}");
        assert_eq!(s.completed, tally.ok.load(SeqCst), "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Paused), tally.paused.load(SeqCst));
        assert_eq!(s.rejected_for(Rejected::Closed), tally.closed.load(SeqCst));
        assert_eq!((s.cancelled, s.panicked), (0, 0), "{s:?}");
        assert_accounted(&s);
        assert_eq!(s.in_flight(), 0);
        futures::executor::block_on(pool.drained());
    });
}

#[cfg(feature = "config")]
mod reload {
    use super::*;
    use common::config_turn;
    use pool_runtime::{config, register_group, Group, GroupSpec, Kind};

    static KIND_FLIP: Group = Group::new(GroupSpec::new("r16::kind_flip").size(2));
    register_group!(KIND_FLIP);

    /// `pooled::config` ("Precedence"): "calls made at run time (`scale`,
    /// `resize`): a reload changes a running pool's size only when the
    /// configured size itself changed, so it does not undo a manual `scale`
    /// it has nothing new to say about"; "A running pool keeps its kind
    /// until it restarts: a load that changes the kind changes nothing in
    /// it, and one that brings its kind back resizes it only if that kind's
    /// counts changed."
    ///
    /// A running fixed group resized by hand to 5: loads that make it
    /// autoscaled (with bounds, then other bounds and a start) change
    /// nothing in it; a load that brings it back to fixed with the count it
    /// had keeps the hand-set 5; a load with a new fixed size applies it.
    #[test]
    fn loads_that_flip_a_running_groups_kind_keep_its_hand_set_size() {
        let _turn = config_turn();
        assert_eq!(KIND_FLIP.run(|| 1), Ok(1));
        assert_eq!(KIND_FLIP.resize(5), 5);
        let table = |body: &str| format!("[groups.\"r16::kind_flip\"]\n{body}");
        config::load_str(
            "r16.toml",
            &table("kind = \"autoscale\"\nmin = 1\nmax = 3\n"),
        )
        .unwrap();
        assert_eq!(KIND_FLIP.pool().kind(), Kind::Fixed, "keeps its kind");
        assert_eq!(KIND_FLIP.size(), 5, "a kind change changes nothing in it");
        config::load_str(
            "r16.toml",
            &table("kind = \"autoscale\"\nmin = 1\nmax = 4\nsize = 2\n"),
        )
        .unwrap();
        assert_eq!(
            KIND_FLIP.size(),
            5,
            "the autoscaled kind's counts are not the fixed pool's"
        );
        config::load_str("r16.toml", &table("max_waiting = 50\n")).unwrap();
        assert_eq!(KIND_FLIP.pool().kind(), Kind::Fixed);
        assert_eq!(
            KIND_FLIP.size(),
            5,
            "its kind is back with the count it had (2): the hand-set size stays"
        );
        assert_eq!(KIND_FLIP.pool().max_waiting(), Some(50));
        config::load_str("r16.toml", &table("size = 3\n")).unwrap();
        assert_eq!(KIND_FLIP.size(), 3, "a new fixed size is applied");
        config::clear();
        assert_eq!(KIND_FLIP.size(), 2, "cleared: back to the declared size");
        let s = KIND_FLIP.stats();
        assert_accounted(&s);
    }

    static BARGE_RELOAD: Group = Group::new(GroupSpec::new("r16::barge_reload").size(2));
    register_group!(BARGE_RELOAD);

    /// README ("Configuration"): "`sync_barging` (off by default: how long a
    /// sync call may wait outside the queue for a freed slot before it
    /// queues; `"0s"` turns it off)"; "Reload applies changed limits to
    /// running pools at once (growing admits waiters, shrinking lets
    /// running calls finish)" — `sync_barging` is not among the settings
    /// that wait for the next start. Reloads that turn barging on and off
    /// and resize the group while OS threads call it keep the limit in force
    /// (counted from outside) and lose no call.
    #[test]
    fn reloads_turning_barging_on_and_off_while_threads_call_keep_the_limit() {
        let _turn = config_turn();
        within(Duration::from_secs(120), || {
            assert_eq!(BARGE_RELOAD.settings().sync_barging, None, "off by default");
            let meter = Arc::new(PhasedMeter::default());
            let tally = Arc::new(Tally::default());
            let done = Arc::new(AtomicUsize::new(0));
            let workers: Vec<_> = (0..5u32)
                .map(|t| {
                    let (meter, tally, done) = (meter.clone(), tally.clone(), done.clone());
                    std::thread::spawn(move || {
                        for i in 0..1_500u32 {
                            tally.note(BARGE_RELOAD.run(|| meter.body((t + i) % 150)));
                        }
                        done.fetch_add(1, SeqCst);
                    })
                })
                .collect();
            let texts = [
                (
                    "sync_barging = \"1ms\"\nsize = 3\n",
                    Some(Duration::from_millis(1)),
                    3,
                ),
                ("sync_barging = \"0s\"\nsize = 1\n", None, 1),
                (
                    "sync_barging = \"5ms\"\nsize = 2\n",
                    Some(Duration::from_millis(5)),
                    2,
                ),
                ("size = 3\n", None, 3),
            ];
            let mut max_limit = 2;
            let mut round = 0;
            while done.load(SeqCst) < 5 {
                let (body, barging, size) = texts[round % texts.len()];
                round += 1;
                let text = format!("[groups.\"r16::barge_reload\"]\n{body}");
                config::load_str("r16.toml", &text).unwrap();
                max_limit = max_limit.max(size);
                assert_eq!(
                    BARGE_RELOAD.pool().sync_barging(),
                    barging,
                    "the reload's sync_barging is in force at once ({body:?})"
                );
                assert_eq!(BARGE_RELOAD.size(), size);
                std::thread::sleep(Duration::from_millis(2));
            }
            for worker in workers {
                worker.join().unwrap();
            }
            assert!(round >= 2, "the reloads raced the callers");
            assert!(meter.max.load(SeqCst) <= max_limit);
            assert_eq!(tally.ok.load(SeqCst), 5 * 1_500, "every call ran");
            let s = BARGE_RELOAD.stats();
            assert_accounted(&s);
            assert_eq!(s.in_flight(), 0, "{s:?}");
            config::clear();
            assert_eq!(
                BARGE_RELOAD.pool().sync_barging(),
                None,
                "cleared: off again"
            );
        });
    }
}

// ---- order across every call form ------------------------------------------------

/// Queues one call of each form on a pool of one slot (held), in arrival
/// order: a spawned call, a sync `run` on an OS thread, a blocking closure,
/// an owned permit, an async submit, a borrowed permit; weights as given.
/// Releases the slot and returns the order in which their bodies ran
/// (recorded by the bodies), and the pool.
fn admission_order_across_forms(order: Order, weights: [i64; 6]) -> (Vec<&'static str>, Pool) {
    let pool = Pool::builder().order(order).size(1).build().unwrap();
    let seen: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let meter = Meter::default();
    let record = {
        let (seen, meter) = (seen.clone(), meter.clone());
        move |name: &'static str| {
            let _inside = meter.enter();
            seen.lock().unwrap().push(name);
        }
    };
    let rt = runtime();
    let held = pool.try_acquire_owned(0).unwrap();
    let waiting = |n: usize| {
        until(&format!("{n} calls waiting"), || pool.stats().waiting == n);
    };
    let _guard = rt.enter();
    let spawned = {
        let record = record.clone();
        pool.spawn_weighted(weights[0], async move { record("spawn") })
            .unwrap()
    };
    waiting(1);
    let thread = {
        let (pool, record) = (pool.clone(), record.clone());
        std::thread::spawn(move || pool.run_weighted(weights[1], || record("run")))
    };
    waiting(2);
    let blocking = {
        let (pool, record) = (pool.clone(), record.clone());
        rt.spawn(async move {
            pool.submit_blocking_weighted(weights[2], move || record("blocking"))
                .await
        })
    };
    waiting(3);
    let owned = {
        let (pool, record) = (pool.clone(), record.clone());
        rt.spawn(async move {
            let permit = pool.acquire_owned(weights[3]).await?;
            record("acquire_owned");
            drop(permit);
            Ok::<_, Rejected>(())
        })
    };
    waiting(4);
    let submitted = {
        let (pool, record) = (pool.clone(), record.clone());
        rt.spawn(async move {
            pool.submit_weighted(weights[4], async move { record("submit") })
                .await
        })
    };
    waiting(5);
    let borrowed = {
        let (pool, record) = (pool.clone(), record.clone());
        rt.spawn(async move {
            let permit = pool.acquire_weighted(weights[5]).await?;
            record("acquire");
            drop(permit);
            Ok::<_, Rejected>(())
        })
    };
    waiting(6);
    drop(held);
    rt.block_on(async {
        spawned.await.unwrap();
        blocking.await.unwrap().unwrap();
        owned.await.unwrap().unwrap();
        submitted.await.unwrap().unwrap();
        borrowed.await.unwrap().unwrap();
    });
    thread.join().unwrap().unwrap();
    assert_eq!(meter.max(), 1, "one slot: one body at a time");
    let seen = seen.lock().unwrap().clone();
    (seen, pool)
}

/// README: "`acquire()`, `acquire_owned(w)`, `try_acquire()`: same order,
/// rejections and accounting as `submit`"; "sync and blocking callers in
/// the same queue"; `Pool::run`: "in the same queue and order as async
/// calls"; `spawn`: "takes its place in the queue now". In a priority
/// pool, one call of each form is admitted by weight whatever its form;
/// in a LIFO pool, newest first; in a FIFO pool (weights ignored), in
/// arrival order. Every call is then accounted as completed.
#[test]
fn every_call_form_shares_one_queue_and_its_order() {
    within(Duration::from_secs(60), || {
        let (seen, pool) = admission_order_across_forms(Order::Priority, [6, 2, 5, 1, 4, 3]);
        assert_eq!(
            seen,
            [
                "acquire_owned",
                "run",
                "acquire",
                "submit",
                "blocking",
                "spawn"
            ],
            "by weight"
        );
        let s = pool.stats();
        assert_accounted(&s);
        assert_eq!((s.completed, s.in_flight()), (7, 0), "{s:?}");

        let (seen, _) = admission_order_across_forms(Order::Lifo, [6, 2, 5, 1, 4, 3]);
        assert_eq!(
            seen,
            [
                "acquire",
                "submit",
                "acquire_owned",
                "blocking",
                "run",
                "spawn"
            ],
            "newest first"
        );

        let (seen, _) = admission_order_across_forms(Order::Fifo, [6, 2, 5, 1, 4, 3]);
        assert_eq!(
            seen,
            [
                "spawn",
                "run",
                "blocking",
                "acquire_owned",
                "submit",
                "acquire"
            ],
            "arrival order, weights ignored"
        );
    });
}

// ---- shutdown with every kind of waiter ----------------------------------------------

static SHUT: pool_runtime::Group = pool_runtime::Group::new(
    pool_runtime::GroupSpec::new("r16::shut")
        .size(1)
        .sync_barging(Duration::MAX),
);

/// `Pool::shutdown`: "if the pool has not drained by then, the calls still
/// waiting are turned away (like `abort`: a group's never-rejecting calls
/// excepted, which wait on), the ones still running are left to finish
/// ... and the error says how many of each there were";
/// `ShutdownTimedOut::turned_away`: "Calls that were still waiting at the
/// deadline and were turned away"; `waiting`: never-rejecting calls still
/// waiting, which "run, in order, once slots free"; README: barging
/// "callers outside the queue count as waiting (a pause or a close leaves
/// them waiting, as queued calls)".
///
/// A group of one slot, barging without bound: one running call with a
/// nested call under it, two queued async calls, a sync caller waiting
/// outside the queue, and a never-rejecting call. Past the deadline: the
/// running and nested calls are reported and go on, the three rejecting
/// waiters (the sync one included) are turned away `Closed`, the
/// never-rejecting one is reported waiting and runs once the slot frees;
/// then the pool drains and every call is accounted.
#[test]
fn a_shutdown_deadline_turns_away_queued_and_barging_callers_and_spares_never_rejecting_ones() {
    within(Duration::from_secs(60), || {
        let rt = runtime();
        let meter = Meter::default();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (nested_in_tx, nested_in_rx) = std::sync::mpsc::channel::<()>();
        // The running call, on a thread, with a nested call under its slot.
        let parent = {
            let meter = meter.clone();
            std::thread::spawn(move || {
                SHUT.run(|| {
                    let _inside = meter.enter();
                    SHUT.run(|| {
                        nested_in_tx.send(()).unwrap();
                        release_rx.recv().unwrap();
                    })
                })
            })
        };
        nested_in_rx.recv_timeout(Duration::from_secs(20)).unwrap();
        let s = SHUT.stats();
        assert_eq!((s.running, s.nested), (1, 1), "{s:?}");
        let queued: Vec<_> = (0..2)
            .map(|i| {
                let meter = meter.clone();
                rt.spawn(async move {
                    SHUT.submit(0, async move {
                        let _inside = meter.enter();
                        i
                    })
                    .await
                })
            })
            .collect();
        until("two queued", || SHUT.stats().waiting == 2);
        let barging = {
            let meter = meter.clone();
            std::thread::spawn(move || {
                SHUT.run(|| {
                    let _inside = meter.enter();
                })
            })
        };
        until("a sync caller waiting outside the queue", || {
            SHUT.stats().waiting == 3
        });
        let patient = {
            let meter = meter.clone();
            rt.spawn(async move {
                SHUT.submit_wait(0, async move {
                    let _inside = meter.enter();
                    "ran"
                })
                .await
            })
        };
        until("the never-rejecting call waiting", || {
            SHUT.stats().waiting == 4
        });
        let outcome = rt.block_on(SHUT.pool().shutdown(Some(Duration::from_millis(20))));
        let timed_out = outcome.expect_err("the running call outlives the deadline");
        assert_eq!(
            (
                timed_out.running,
                timed_out.nested,
                timed_out.turned_away,
                timed_out.waiting
            ),
            (1, 1, 3, 1),
            "{timed_out:?}"
        );
        for call in queued {
            assert_eq!(rt.block_on(call).unwrap(), Err(Rejected::Closed));
        }
        assert_eq!(barging.join().unwrap(), Err(Rejected::Closed));
        release_tx.send(()).unwrap();
        assert_eq!(parent.join().unwrap(), Ok(Ok(())));
        assert_eq!(rt.block_on(patient).unwrap(), "ran");
        rt.block_on(SHUT.pool().drained());
        assert_eq!(meter.max(), 1);
        let s = SHUT.stats();
        assert_accounted(&s);
        assert_eq!(s.rejected_for(Rejected::Closed), 3, "{s:?}");
        assert_eq!(s.completed, 3, "parent, nested and never-rejecting: {s:?}");
        assert_eq!(s.in_flight(), 0);
    });
}

// ---- the autoscaler's demand when waiters leave ------------------------------------

/// README ("Autoscale"): "demand (`running + waiting`) is sampled at intake
/// and release events — periods without events are filled in, since
/// nothing changed — and every interval the limit grows toward the mean
/// demand (at most doubling)"; `scale/queue_depth.rs`: "the state of the
/// pool changes only at intake and release events, so samples are taken at
/// those events, and the periods with no event in between are filled with
/// the (unchanged) demand".
///
/// Six calls wait behind two running ones for 9 of the interval's 10 s,
/// then their callers give up (dropped while waiting, as a timed-out or
/// cancelled request would be). The mean demand over the interval is
/// (8 × 9 + 2 × 1) / 10 = 7.4, above the limit of 2: the evaluation at the
/// next event must grow the pool (toward 7.4, at most doubling: 4). A
/// waiter leaving the queue is neither an intake nor a release, so it takes
/// no sample, and the event at 10 s fills the whole interval with the
/// demand it sees then (2): the pool keeps 2 slots although calls queued
/// for 90% of the interval.
#[test]
fn waiters_that_give_up_still_count_in_the_demand_of_the_interval_they_waited_in() {
    let clock = ManualClock::new();
    let pool = autoscaled(&clock, 1, 8, Some(2));
    let mut running: Vec<_> = (0..2)
        .map(|_| Task::new(pool.submit(std::future::pending::<()>())))
        .collect();
    for call in &mut running {
        call.assert_pending();
    }
    let mut waiting: Vec<_> = (0..6)
        .map(|_| Task::new(pool.submit(std::future::pending::<()>())))
        .collect();
    for call in &mut waiting {
        call.assert_pending();
    }
    assert_eq!((pool.stats().running, pool.stats().waiting), (2, 6));
    clock.advance(Duration::from_secs(9));
    drop(waiting); // the callers give up after 9 s of waiting
    assert_eq!(pool.stats().waiting, 0);
    assert_eq!(pool.stats().cancelled, 6);
    clock.advance(Duration::from_secs(1));
    drop(running.pop()); // a release event at 10 s: the evaluation is due
    assert_eq!(
        pool.size(),
        4,
        "mean demand 7.4 over the interval on a limit of 2: grow, at most doubling"
    );
}

/// The control for the test above: the same demand, with the six calls
/// still waiting at the event, grows the pool to 4 — the rule itself grows
/// on such a mean; what the test above finds is only the lost samples.
#[test]
fn waiters_still_waiting_at_the_event_grow_the_pool() {
    let clock = ManualClock::new();
    let pool = autoscaled(&clock, 1, 8, Some(2));
    let mut calls: Vec<_> = (0..8)
        .map(|_| Task::new(pool.submit(std::future::pending::<()>())))
        .collect();
    for call in &mut calls {
        call.assert_pending();
    }
    clock.advance(Duration::from_secs(10));
    drop(calls.remove(0)); // a release event at 10 s
    assert_eq!(pool.size(), 4);
}

/// The same loss with admission timeouts, the everyday way waiters leave:
/// README ("Timeouts"): "a pool built with `.clock(TokioClock::new())` uses
/// tokio's timer instead, so its timeouts and autoscaler follow tokio's
/// paused test time". Six calls wait 9 s behind two running ones and time
/// out; at the release event at 10 s the interval's mean demand was 7.4 on
/// a limit of 2, yet the pool does not grow.
#[tokio::test(start_paused = true)]
async fn waiters_that_time_out_still_count_in_the_demand_of_the_interval_they_waited_in() {
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(8)
        .size(2)
        .admission_timeout(Duration::from_secs(9))
        .clock(Arc::new(pool_runtime::TokioClock::new()))
        .build()
        .unwrap();
    let running: Vec<_> = (0..2).map(|_| pool.try_acquire_owned(0).unwrap()).collect();
    let waiters: Vec<_> = (0..6)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.submit(async {}).await })
        })
        .collect();
    for _ in 0..100 {
        if pool.stats().waiting == 6 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(pool.stats().waiting, 6);
    for waiter in waiters {
        assert_eq!(waiter.await.unwrap(), Err(Rejected::TimedOut));
    }
    assert_eq!(pool.stats().rejected_for(Rejected::TimedOut), 6);
    tokio::time::sleep_until(tokio::time::Instant::now() + Duration::from_secs(1)).await;
    let mut running = running;
    drop(running.pop()); // a release event at 10 s
    assert_eq!(
        pool.size(),
        4,
        "mean demand 7.4 over the interval on a limit of 2: grow, at most doubling"
    );
}

/// The control for the test above, on tokio's paused clock: six calls
/// still waiting at the release event at 10 s grow the pool to 4.
#[tokio::test(start_paused = true)]
async fn waiters_still_waiting_on_tokio_time_grow_the_pool() {
    let pool = Pool::builder()
        .kind(Kind::Autoscale)
        .min(1)
        .max(8)
        .size(2)
        .clock(Arc::new(pool_runtime::TokioClock::new()))
        .build()
        .unwrap();
    let mut running: Vec<_> = (0..2).map(|_| pool.try_acquire_owned(0).unwrap()).collect();
    let waiters: Vec<_> = (0..6)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.submit(async {}).await })
        })
        .collect();
    for _ in 0..100 {
        if pool.stats().waiting == 6 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(pool.stats().waiting, 6);
    tokio::time::sleep(Duration::from_secs(10)).await;
    drop(running.pop()); // a release event at 10 s
    assert_eq!(pool.size(), 4);
    drop(running);
    for waiter in waiters {
        assert_eq!(waiter.await.unwrap(), Ok(()));
    }
}

// ---- an ordered stream behind a slow first item ----------------------------------------

/// `pooled::stream` module docs: "An adapter pulls a future from its stream
/// only while it holds fewer than `max(1, 2 × size)` of the stream's items
/// ... The adapters of `pooled_ordered` count the finished outputs held
/// back for an earlier item too, as `buffered` does, so a slow first item
/// holds at most that many outputs." On a pool of 2, a first item that
/// never finishes until released: the stream is pulled 4 items deep and no
/// further, however often it is polled, and yields nothing; released, it
/// yields all items in input order and pulls the rest.
#[cfg(feature = "stream")]
#[test]
fn an_ordered_stream_behind_a_slow_first_item_pulls_at_most_twice_the_pool() {
    use futures::StreamExt;
    use pool_runtime::PooledStreamExt;
    let pool = Pool::fixed(2);
    let pulled = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicBool::new(false));
    let items = {
        let (pulled, open) = (pulled.clone(), open.clone());
        futures::stream::iter(0..50u32).map(move |i| {
            pulled.fetch_add(1, SeqCst);
            let open = open.clone();
            async move {
                if i == 0 {
                    std::future::poll_fn(|cx| {
                        if open.load(SeqCst) {
                            std::task::Poll::Ready(())
                        } else {
                            cx.waker().wake_by_ref();
                            std::task::Poll::Pending
                        }
                    })
                    .await;
                }
                i
            }
        })
    };
    let mut stream = Box::pin(items.pooled_ordered(&pool));
    let mut next = Task::new(stream.next());
    for _ in 0..50 {
        next.assert_pending();
    }
    assert_eq!(
        pulled.load(SeqCst),
        4,
        "pulled 2 × size items, finished outputs held back included"
    );
    open.store(true, SeqCst);
    assert_eq!(next.assert_ready(), Some(Ok(0)));
    drop(next);
    let rest: Vec<_> = futures::executor::block_on(stream.collect::<Vec<_>>());
    assert_eq!(rest, (1..50).map(Ok).collect::<Vec<_>>());
    assert_eq!(pulled.load(SeqCst), 50);
    let s = pool.stats();
    assert_accounted(&s);
    assert_eq!((s.completed, s.in_flight()), (50, 0));
}

/// README ("Autoscale"): "demand (`running + waiting`) is sampled at
/// intake and release events — periods without events are filled in,
/// since nothing changed — and every interval the limit grows toward the
/// mean demand"; `scale/queue_depth.rs`: grow only when "`D > L` (calls
/// queued on average)", otherwise "keep `L`". Two calls run on two slots
/// for a whole interval (demand 2 = the limit, nothing queued); a third
/// call that arrives at 10 s and queues is the first call to queue at all.
/// The interval's mean demand is 2, so the evaluation at that intake must
/// keep 2 slots; and so must the same arrival on an idle pool's fast path.
#[test]
fn a_call_queueing_at_the_evaluation_is_not_counted_for_the_interval_before_it() {
    for queued in [true, false] {
        let clock = ManualClock::new();
        let pool = autoscaled(&clock, 1, 8, Some(2));
        let running = if queued { 2 } else { 1 };
        let mut held: Vec<_> = (0..running)
            .map(|_| Task::new(pool.submit(std::future::pending::<()>())))
            .collect();
        for call in &mut held {
            call.assert_pending();
        }
        clock.advance(Duration::from_secs(10));
        let mut late = Task::new(pool.submit(std::future::pending::<()>()));
        late.assert_pending();
        assert_eq!(
            pool.size(),
            2,
            "queued = {queued}: the mean demand of the interval before the call was {running}: {:?}",
            pool.stats()
        );
    }
}

/// `Pool::shutdown` and `ShutdownTimedOut::turned_away` ("Calls that were
/// still waiting at the deadline and were turned away"); README: barging
/// "callers outside the queue count as waiting". Six rejecting sync callers
/// waiting outside the queue (barging without bound) when a shutdown with
/// a zero timeout closes and aborts the pool at once are turned away
/// `Closed` and reported so, whichever point of their way from the room to
/// the queue the shutdown meets them at (repeated).
#[test]
fn a_barging_caller_met_by_an_immediate_shutdown_is_reported_turned_away() {
    within(Duration::from_secs(120), || {
        for round in 0..40 {
            let pool = Pool::builder()
                .size(1)
                .sync_barging(Duration::MAX)
                .build()
                .unwrap();
            let held = pool.try_acquire_owned(0).unwrap();
            let callers: Vec<_> = (0..6)
                .map(|_| {
                    let pool = pool.clone();
                    std::thread::spawn(move || pool.run(|| 1))
                })
                .collect();
            until("the sync callers wait", || pool.stats().waiting == 6);
            let out = futures::executor::block_on(pool.shutdown(Some(Duration::ZERO)));
            let timed_out = out.expect_err("a call runs and others wait");
            assert_eq!(
                (timed_out.running, timed_out.turned_away, timed_out.waiting),
                (1, 6, 0),
                "round {round}: {timed_out:?}"
            );
            drop(held);
            for caller in callers {
                assert_eq!(caller.join().unwrap(), Err(Rejected::Closed));
            }
            let s = pool.stats();
            assert_accounted(&s);
            assert_eq!(s.in_flight(), 0, "{s:?}");
            assert_eq!(s.rejected_for(Rejected::Closed), 6, "{s:?}");
        }
    });
}

macro_rules! patient_groups {
    ($($name:ident),*) => {
        $(
            static $name: pool_runtime::Group = pool_runtime::Group::new(
                pool_runtime::GroupSpec::new(concat!("r16::", stringify!($name)))
                    .size(1)
                    .sync_barging(Duration::MAX),
            );
        )*
        const PATIENT_GROUPS: &[&pool_runtime::Group] = &[$(&$name),*];
    };
}

patient_groups!(
    P0, P1, P2, P3, P4, P5, P6, P7, P8, P9, P10, P11, P12, P13, P14, P15, P16, P17, P18, P19, P20,
    P21, P22, P23
);

/// The same with a never-rejecting sync call (`Group::run_wait`): a
/// shutdown "turns away the calls still waiting (like `abort`: a group's
/// never-rejecting calls excepted, which wait on)"; `ShutdownTimedOut::waiting`:
/// "Calls still waiting after the deadline: a group's never-rejecting calls
/// ... they run, in order, once slots free". Met in the room by a shutdown
/// with a zero timeout, such a caller is reported waiting (not turned
/// away) and runs once the slot frees; one group per round (a group's pool
/// cannot reopen).
#[test]
fn a_never_rejecting_barging_caller_is_reported_waiting_by_an_immediate_shutdown() {
    /// Never-rejecting callers waiting outside the queue in each round.
    const CALLERS: usize = 6;
    within(Duration::from_secs(120), || {
        let mut misreported = Vec::new();
        for (round, group) in PATIENT_GROUPS.iter().enumerate() {
            let group: &'static pool_runtime::Group = group;
            let held = group.try_acquire_owned(0).unwrap();
            let callers: Vec<_> = (0..CALLERS)
                .map(|_| std::thread::spawn(move || group.run_wait(0, || 1)))
                .collect();
            until("the sync callers wait", || group.stats().waiting == CALLERS);
            let out = futures::executor::block_on(group.pool().shutdown(Some(Duration::ZERO)));
            let timed_out = out.expect_err("a call runs and others wait");
            if (timed_out.running, timed_out.turned_away, timed_out.waiting) != (1, 0, CALLERS) {
                misreported.push((round, timed_out));
            }
            drop(held);
            for caller in callers {
                assert_eq!(caller.join().unwrap(), 1, "each runs once a slot frees");
            }
            futures::executor::block_on(group.pool().drained());
            let s = group.stats();
            assert_accounted(&s);
            assert_eq!(
                (s.completed, s.rejected_total()),
                (CALLERS as u64 + 1, 0),
                "{s:?}"
            );
        }
        assert!(
            misreported.is_empty(),
            "waiting never-rejecting callers went unreported (expected running 1, \
             turned_away 0, waiting {CALLERS}) in rounds {misreported:?}"
        );
    });
}
