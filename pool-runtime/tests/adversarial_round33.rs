//! Hostile tests, round 33 (integrations): the tower layer (reservations
//! dropped, cloned and skipped; inner services, overload judges, weight
//! functions and bodies that panic or fail; clones on many threads in both
//! modes), the stream adapters (dropped mid-stream, panicking sources and
//! weight functions, degenerate limits), owned permits across threads,
//! pauses, closes, aborts and resizes, and observers (a tracing subscriber
//! and a metrics recorder that panic in every method) on those paths.
//! Also: rayon jobs whose callers go away, metrics against `Stats` after
//! every integration fault path, reentrant calls through the integrations
//! on a group of one, extreme weights, abort and admission timeouts
//! against integration waits, hostile wakers on them.
//! Concurrency is counted from outside the library with a meter; every wait
//! is bounded by a watchdog.
//!
//! No broken promise found (no ignored tests). Documented behaviour the
//! tests rely on: a permit dropped while its thread unwinds is a panicked
//! call; a future whose `Drop` panics as an adapter drops it is that
//! call's panic (the adapter's drop re-raises it after releasing every
//! slot); a response dropped before its held body ends is a cancelled
//! call; a waiter's waker whose `wake` panics re-raises in the caller
//! whose release woke it (README, "Faults lose nothing").
#![allow(clippy::type_complexity)]

mod common;

#[allow(unused_imports)]
use common::{assert_accounted, quiet_planned_panics, within, Meter, Task};
#[allow(unused_imports)]
use pool_runtime::{Order, Pool, Rejected};
#[allow(unused_imports)]
use std::panic::{catch_unwind, AssertUnwindSafe};
#[allow(unused_imports)]
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
#[allow(unused_imports)]
use std::sync::Arc;
#[allow(unused_imports)]
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(20);

fn fixed(size: usize) -> Pool {
    Pool::builder().size(size).build().unwrap()
}

#[track_caller]
fn assert_idle(pool: &Pool) {
    let s = pool.stats();
    assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
    assert_accounted(&s);
}

// ---- permits ------------------------------------------------------------------

/// Owned permits moved to other threads and dropped while those threads
/// panic release their slots, each counted once.
#[test]
fn owned_permits_dropped_by_panicking_threads_release_their_slots() {
    quiet_planned_panics();
    within(BOUND, || {
        let pool = fixed(3);
        for round in 0..20 {
            let permits: Vec<_> = (0..3).map(|_| pool.try_acquire_owned(0).unwrap()).collect();
            assert_eq!(pool.try_acquire().unwrap_err(), Rejected::Full);
            let threads: Vec<_> = permits
                .into_iter()
                .enumerate()
                .map(|(i, permit)| {
                    std::thread::spawn(move || {
                        let _held = permit;
                        if (i + round) % 2 == 0 {
                            panic!("planned: a thread holding a permit panics");
                        }
                    })
                })
                .collect();
            for t in threads {
                let _ = t.join();
            }
            assert_idle(&pool);
        }
        let s = pool.stats();
        // 60 permits and this test's 20 refused probes.
        assert_eq!(s.submitted(), 80, "{s:?}");
        assert_eq!(s.completed + s.cancelled, 60, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Full), 20, "{s:?}");
        // A permit dropped by a panicking thread is a panicked call.
        assert_eq!(s.panicked, 30, "{s:?}");
    });
}

/// try_acquire on a paused or a closed pool is an error value; permits
/// held across pause, resize to 0, close and abort release cleanly and no
/// new permit is granted beyond the limit meanwhile.
#[test]
fn permits_held_across_pause_resize_to_zero_close_and_abort() {
    within(BOUND, || {
        let pool = fixed(2);
        let a = pool.try_acquire_owned(0).unwrap();
        pool.pause();
        assert_eq!(pool.try_acquire().unwrap_err(), Rejected::Paused);
        assert_eq!(pool.try_acquire_owned(3).unwrap_err(), Rejected::Paused);
        pool.resume();
        pool.resize(0);
        let size = pool.size();
        let running = pool.stats().running;
        // Whatever the floor, no permit beyond it while one is held.
        if size <= running {
            assert!(
                pool.try_acquire().is_err(),
                "size {size}, running {running}"
            );
        }
        pool.resize(1);
        assert_eq!(pool.try_acquire().unwrap_err(), Rejected::Full);
        drop(a);
        let b = pool.try_acquire_owned(0).unwrap();
        pool.close();
        assert_eq!(pool.try_acquire().unwrap_err(), Rejected::Closed);
        pool.abort();
        assert_eq!(pool.try_acquire_owned(0).unwrap_err(), Rejected::Closed);
        drop(b);
        assert_idle(&pool);
        let s = pool.stats();
        assert_eq!(s.completed + s.cancelled, 2, "{s:?}");
    });
}

/// Many threads racing try_acquire_owned and acquire_owned (on a runtime)
/// never hold more than the limit, counted from outside.
#[test]
fn owned_permits_raced_from_many_threads_keep_the_limit() {
    within(BOUND, || {
        let pool = fixed(3);
        let meter = Meter::default();
        let rt = common::runtime();
        let mut handles = Vec::new();
        for t in 0..4 {
            let pool = pool.clone();
            let meter = meter.clone();
            handles.push(rt.spawn(async move {
                let mut got = 0;
                for i in 0..50 {
                    let permit = if (i + t) % 2 == 0 {
                        pool.acquire_owned(i as i64).await.ok()
                    } else {
                        pool.try_acquire_owned(0).ok()
                    };
                    if let Some(permit) = permit {
                        got += 1;
                        let inside = meter.enter();
                        tokio::task::yield_now().await;
                        drop(inside);
                        drop(permit);
                    }
                }
                got
            }));
        }
        let got: usize = rt.block_on(async {
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        });
        assert!(meter.max() <= 3, "max {}", meter.max());
        assert_idle(&pool);
        let s = pool.stats();
        assert_eq!(s.completed as usize, got, "{s:?}");
        assert_eq!(s.submitted() as usize, got + s.rejected_total() as usize);
    });
}

// ---- tower ----------------------------------------------------------------------

#[cfg(feature = "tower")]
mod tower_layer {
    use super::*;
    use http_body::{Body, Frame};
    use pool_runtime::tower::{BoxError, PooledLayer};
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tower::{service_fn, Layer, Service, ServiceExt};

    fn rejection(error: &BoxError) -> Option<Rejected> {
        error.downcast_ref::<Rejected>().copied()
    }

    fn echo() -> impl Service<u32, Response = u32, Error = BoxError, Future: Send> + Clone + Send {
        service_fn(|n: u32| async move { Ok::<_, BoxError>(n) })
    }

    /// Ready then dropped without a call: the reserved slot goes back, as a
    /// cancelled call; a clone of a ready service reserves nothing of its
    /// own (its reject-mode poll_ready sees the pool full).
    #[test]
    fn a_ready_service_dropped_or_cloned_leaks_no_reservation() {
        within(BOUND, || {
            futures::executor::block_on(async {
                let pool = fixed(1);
                let mut service = PooledLayer::pool(pool.clone()).reject().layer(echo());
                service.ready().await.unwrap();
                assert_eq!(pool.stats().running, 1);
                let mut clone = service.clone();
                assert_eq!(pool.stats().running, 1, "the clone holds nothing");
                clone.ready().await.unwrap();
                let error = clone.call(7).await.unwrap_err();
                assert_eq!(rejection(&error), Some(Rejected::Full));
                drop(service);
                assert_idle(&pool);
                assert_eq!(clone.ready().await.unwrap().call(8).await.unwrap(), 8);
                // into_inner of a ready service releases too.
                let mut again = clone.clone();
                again.ready().await.unwrap();
                let _inner = again.into_inner();
                assert_idle(&pool);
                let s = pool.stats();
                assert_eq!((s.completed, s.cancelled), (1, 2), "{s:?}");
            });
        });
    }

    /// `call` without `poll_ready` panics (documented), and leaves the
    /// pool untouched and the service usable.
    #[test]
    fn call_without_poll_ready_panics_without_touching_the_pool() {
        quiet_planned_panics();
        within(BOUND, || {
            let pool = fixed(1);
            let mut service = PooledLayer::pool(pool.clone()).layer(echo());
            let out = catch_unwind(AssertUnwindSafe(|| {
                drop(service.call(1));
            }));
            assert!(out.is_err(), "documented panic");
            assert_eq!(pool.stats().submitted(), 0);
            futures::executor::block_on(async {
                assert_eq!(service.ready().await.unwrap().call(2).await.unwrap(), 2);
            });
            assert_idle(&pool);
        });
    }

    /// An inner service that panics in `call`, in its future, or returns an
    /// error: each releases its slot and is accounted for.
    #[test]
    fn inner_service_panics_and_errors_release_their_slots() {
        quiet_planned_panics();
        within(BOUND, || {
            let pool = fixed(1);
            let calls = Arc::new(AtomicUsize::new(0));
            let c = calls.clone();
            let inner = tower::service_fn(move |n: u32| {
                c.fetch_add(1, SeqCst);
                if n % 3 == 0 {
                    panic!("planned: an inner call panics");
                }
                async move {
                    match n % 3 {
                        1 => panic!("planned: an inner future panics"),
                        _ => Err::<u32, BoxError>("inner error".into()),
                    }
                }
            });
            let mut service = PooledLayer::pool(pool.clone()).layer(inner);
            for n in 0..30u32 {
                let out = catch_unwind(AssertUnwindSafe(|| {
                    futures::executor::block_on(async {
                        service.ready().await.unwrap().call(n).await
                    })
                }));
                match n % 3 {
                    2 => assert!(matches!(out, Ok(Err(_)))),
                    _ => assert!(out.is_err(), "{n}: a planned panic"),
                }
                assert_idle(&pool);
            }
            let s = pool.stats();
            assert_eq!(calls.load(SeqCst), 30);
            assert_eq!(s.submitted(), 30, "{s:?}");
            assert_eq!(s.completed + s.cancelled, 30, "{s:?}");
            assert!(s.panicked >= 10, "{s:?}");
        });
    }

    /// An inner `poll_ready` that panics while the slot is reserved, or
    /// fails: the slot is not lost (released on failure; on a panic kept
    /// for the next poll_ready or released with the service).
    #[test]
    fn inner_poll_ready_panics_and_failures_lose_no_slot() {
        quiet_planned_panics();
        #[derive(Clone)]
        struct Moody(Arc<AtomicUsize>);
        impl Service<u32> for Moody {
            type Response = u32;
            type Error = BoxError;
            type Future = std::future::Ready<Result<u32, BoxError>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
                match self.0.fetch_add(1, SeqCst) % 3 {
                    0 => panic!("planned: poll_ready panics"),
                    1 => Poll::Ready(Err("not ready".into())),
                    _ => Poll::Ready(Ok(())),
                }
            }
            fn call(&mut self, n: u32) -> Self::Future {
                std::future::ready(Ok(n))
            }
        }
        within(BOUND, || {
            let pool = fixed(1);
            let mut service = PooledLayer::pool(pool.clone()).layer(Moody(Arc::default()));
            let waker = futures::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            for _ in 0..10 {
                let out = catch_unwind(AssertUnwindSafe(|| service.poll_ready(&mut cx)));
                assert!(out.is_err());
                assert!(pool.stats().running <= 1);
                let out = service.poll_ready(&mut cx);
                assert!(matches!(out, Poll::Ready(Err(_))));
                assert_idle(&pool);
                assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
                let r = futures::executor::block_on(service.call(5)).unwrap();
                assert_eq!(r, 5);
                assert_idle(&pool);
            }
            // A panic then the service dropped.
            let out = catch_unwind(AssertUnwindSafe(|| service.poll_ready(&mut cx)));
            assert!(out.is_err());
            drop(service);
            assert_idle(&pool);
            assert_eq!(pool.stats().completed, 10);
        });
    }

    /// An overload judge that panics: the caller sees the panic, the slot
    /// goes back and the call is counted.
    #[test]
    fn an_overload_judge_that_panics_loses_no_slot() {
        quiet_planned_panics();
        within(BOUND, || {
            let pool = fixed(1);
            let mut service = PooledLayer::pool(pool.clone())
                .overload(|result: &Result<u32, BoxError>| {
                    if matches!(result, Ok(n) if n % 2 == 0) {
                        panic!("planned: the judge panics");
                    }
                    false
                })
                .layer(echo());
            for n in 0..10u32 {
                let out = catch_unwind(AssertUnwindSafe(|| {
                    futures::executor::block_on(async {
                        service.ready().await.unwrap().call(n).await.unwrap()
                    })
                }));
                assert_eq!(out.is_err(), n % 2 == 0);
                assert_idle(&pool);
            }
            let s = pool.stats();
            assert_eq!(s.submitted(), 10, "{s:?}");
        });
    }

    /// A weight function that panics takes no slot and leaves the service
    /// usable, in wait and reject modes.
    #[test]
    fn a_weight_function_that_panics_takes_no_slot() {
        quiet_planned_panics();
        within(BOUND, || {
            let pool = Pool::builder()
                .order(Order::Priority)
                .size(1)
                .build()
                .unwrap();
            let weight = |n: &u32| -> i64 {
                if n % 2 == 1 {
                    panic!("planned: the weight function panics");
                }
                *n as i64
            };
            let mut waits = PooledLayer::pool(pool.clone()).weight(weight).layer(echo());
            let mut sheds = PooledLayer::pool(pool.clone())
                .reject()
                .weight(weight)
                .layer(echo());
            for n in 0..10u32 {
                let out = catch_unwind(AssertUnwindSafe(|| {
                    futures::executor::block_on(async {
                        waits.ready().await.unwrap().call(n).await
                    })
                }));
                assert_eq!(out.is_err(), n % 2 == 1);
                let out = catch_unwind(AssertUnwindSafe(|| {
                    futures::executor::block_on(async {
                        sheds.ready().await.unwrap().call(n).await
                    })
                }));
                assert_eq!(out.is_err(), n % 2 == 1);
                assert_idle(&pool);
            }
            let s = pool.stats();
            assert_eq!(s.completed, 10, "{s:?}");
            assert_eq!(s.submitted(), 10, "{s:?}");
        });
    }

    /// A weighted call whose inner clone fails or panics in `poll_ready`
    /// once its slot is held releases the slot; the pool stays exact.
    #[test]
    fn a_weighted_call_whose_clone_fails_to_get_ready_releases_its_slot() {
        quiet_planned_panics();
        #[derive(Clone)]
        struct Flaky(Arc<AtomicUsize>);
        impl Service<u32> for Flaky {
            type Response = u32;
            type Error = BoxError;
            type Future = std::future::Ready<Result<u32, BoxError>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
                match self.0.fetch_add(1, SeqCst) % 3 {
                    0 => panic!("planned: a clone's poll_ready panics"),
                    1 => Poll::Ready(Err("broken".into())),
                    _ => Poll::Ready(Ok(())),
                }
            }
            fn call(&mut self, n: u32) -> Self::Future {
                std::future::ready(Ok(n))
            }
        }
        within(BOUND, || {
            let pool = Pool::builder()
                .order(Order::Priority)
                .size(1)
                .build()
                .unwrap();
            let mut service = PooledLayer::pool(pool.clone())
                .weight(|n: &u32| *n as i64)
                .layer(Flaky(Arc::default()));
            let mut outcomes = [0usize; 3];
            for n in 0..30u32 {
                let out = catch_unwind(AssertUnwindSafe(|| {
                    futures::executor::block_on(async {
                        service.ready().await.unwrap().call(n).await
                    })
                }));
                match out {
                    Err(_) => outcomes[0] += 1,
                    Ok(Err(_)) => outcomes[1] += 1,
                    Ok(Ok(m)) => {
                        assert_eq!(m, n);
                        outcomes[2] += 1
                    }
                }
                assert_idle(&pool);
            }
            assert_eq!(outcomes, [10, 10, 10]);
            let s = pool.stats();
            assert_eq!(s.submitted(), 30, "{s:?}");
            assert_eq!(s.completed, 20, "{s:?}");
            assert_eq!(s.cancelled, 10, "{s:?}");
        });
    }

    /// A response body of several frames.
    struct Frames {
        left: usize,
        /// Panic in poll_frame when `left` reaches this.
        panic_at: Option<usize>,
        /// Panic in is_end_stream.
        end_panics: bool,
        /// Panic on drop (when not already unwinding).
        drop_panics: bool,
    }

    impl Body for Frames {
        type Data = &'static [u8];
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, BoxError>>> {
            if self.panic_at == Some(self.left) {
                panic!("planned: a body's poll_frame panics");
            }
            if self.left == 0 {
                return Poll::Ready(None);
            }
            self.left -= 1;
            Poll::Ready(Some(Ok(Frame::data(b"x"))))
        }
        fn is_end_stream(&self) -> bool {
            if self.end_panics {
                panic!("planned: a body's is_end_stream panics");
            }
            self.left == 0
        }
    }

    impl Drop for Frames {
        fn drop(&mut self) {
            if self.drop_panics && !std::thread::panicking() {
                panic!("planned: a body's drop panics");
            }
        }
    }

    fn frames(left: usize) -> Frames {
        Frames {
            left,
            panic_at: None,
            end_panics: false,
            drop_panics: false,
        }
    }

    async fn next_frame<B: Body + Unpin>(body: &mut B) -> Option<Result<Frame<B::Data>, B::Error>> {
        std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
    }

    /// A held body that panics in `poll_frame`, in `is_end_stream` (as the
    /// response is wrapped, or after a frame), or in its `Drop` (dropped
    /// before its end): the slot goes back each time, every call counted.
    #[test]
    fn bodies_that_panic_anywhere_release_the_slot() {
        quiet_planned_panics();
        within(BOUND, || {
            let pool = fixed(1);
            let mut service = PooledLayer::pool(pool.clone())
                .hold_until_body_ends()
                .layer(service_fn(|body: Frames| async move {
                    Ok::<_, BoxError>(http::Response::new(body))
                }));
            let mut respond = |body: Frames| {
                futures::executor::block_on(async {
                    service.ready().await.unwrap().call(body).await
                })
            };
            // poll_frame panics at the third frame.
            let mut body = respond(Frames {
                panic_at: Some(1),
                ..frames(3)
            })
            .unwrap()
            .into_body();
            assert!(body.holds_slot());
            for _ in 0..2 {
                assert!(futures::executor::block_on(next_frame(&mut body)).is_some());
            }
            let out = catch_unwind(AssertUnwindSafe(|| {
                futures::executor::block_on(next_frame(&mut body))
            }));
            assert!(out.is_err());
            drop(body);
            assert_idle(&pool);

            // is_end_stream panics when the response is wrapped.
            let out = catch_unwind(AssertUnwindSafe(|| {
                respond(Frames {
                    end_panics: true,
                    ..frames(2)
                })
            }));
            assert!(out.is_err());
            assert_idle(&pool);

            // Drop panics, dropped before its end.
            let response = respond(Frames {
                drop_panics: true,
                ..frames(2)
            })
            .unwrap();
            assert_eq!(pool.stats().running, 1);
            let out = catch_unwind(AssertUnwindSafe(move || drop(response)));
            assert!(out.is_err());
            assert_idle(&pool);

            // A body polled again after its end: nothing is released twice.
            let mut body = respond(frames(1)).unwrap().into_body();
            futures::executor::block_on(async {
                assert!(next_frame(&mut body).await.is_some());
                assert!(!body.holds_slot());
                assert!(next_frame(&mut body).await.is_none());
                assert!(next_frame(&mut body).await.is_none());
            });
            drop(body);
            assert_idle(&pool);
            let s = pool.stats();
            assert_eq!(s.submitted(), 4, "{s:?}");
            assert!(s.panicked >= 1, "{s:?}");
        });
    }

    /// Clones of one service on many tasks of a two-worker runtime, in wait
    /// and reject modes, with bodies held to their end: never more than the
    /// limit inside the inner service or its body, counted from outside;
    /// every call served or shed, and the pool's books agree.
    #[test]
    fn clones_on_many_tasks_keep_the_limit_in_both_modes() {
        within(BOUND, || {
            let rt = common::runtime();
            for reject in [false, true] {
                let pool = fixed(2);
                let meter = Meter::default();
                let m = meter.clone();
                let inner = service_fn(move |n: u32| {
                    let inside = m.enter();
                    async move {
                        tokio::time::sleep(Duration::from_micros(200)).await;
                        drop(inside);
                        Ok::<_, BoxError>(n)
                    }
                });
                let layer = PooledLayer::pool(pool.clone());
                let layer = if reject { layer.reject() } else { layer };
                let service = layer.layer(inner);
                let served = Arc::new(AtomicUsize::new(0));
                let shed = Arc::new(AtomicUsize::new(0));
                rt.block_on(async {
                    let mut tasks = Vec::new();
                    for t in 0..6u32 {
                        let mut service = service.clone();
                        let (served, shed) = (served.clone(), shed.clone());
                        tasks.push(tokio::spawn(async move {
                            for i in 0..25u32 {
                                let n = t * 100 + i;
                                match service.ready().await.unwrap().call(n).await {
                                    Ok(m) => {
                                        assert_eq!(m, n);
                                        served.fetch_add(1, SeqCst);
                                    }
                                    Err(e) => {
                                        assert_eq!(rejection(&e), Some(Rejected::Full));
                                        shed.fetch_add(1, SeqCst);
                                    }
                                }
                            }
                        }));
                    }
                    for t in tasks {
                        t.await.unwrap();
                    }
                });
                drop(service);
                assert!(meter.max() <= 2, "max {}", meter.max());
                let (served, shed) = (served.load(SeqCst), shed.load(SeqCst));
                assert_eq!(served + shed, 150);
                if !reject {
                    assert_eq!(shed, 0);
                }
                assert_idle(&pool);
                let s = pool.stats();
                assert_eq!(s.completed as usize, served, "{s:?}");
                assert_eq!(s.rejected_for(Rejected::Full) as usize, shed, "{s:?}");
                assert_eq!(meter.done(), served);
            }
        });
    }
}

// ---- streams --------------------------------------------------------------------

#[cfg(feature = "stream")]
mod streams {
    use super::*;
    use futures::StreamExt;
    use pool_runtime::PooledStreamExt;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A future that stays pending until its gate opens, metered while it
    /// runs, and panics on drop if armed (and not already unwinding).
    struct Work {
        inside: Option<common::Inside>,
        meter: Meter,
        open: Arc<AtomicBool>,
        n: u32,
        drop_panics: bool,
    }

    impl Future for Work {
        type Output = u32;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            if self.inside.is_none() {
                let inside = self.meter.enter();
                self.inside = Some(inside);
            }
            if self.open.load(SeqCst) {
                self.inside = None;
                Poll::Ready(self.n)
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    impl Drop for Work {
        fn drop(&mut self) {
            if self.drop_panics && !std::thread::panicking() {
                panic!("planned: a stream item's drop panics");
            }
        }
    }

    fn work(meter: &Meter, open: &Arc<AtomicBool>, n: u32, drop_panics: bool) -> Work {
        Work {
            inside: None,
            meter: meter.clone(),
            open: open.clone(),
            n,
            drop_panics,
        }
    }

    /// Both adapters dropped mid-stream with calls running and waiting,
    /// some of whose futures panic as they drop: every slot goes back,
    /// every call started is counted, and the limit held meanwhile.
    #[test]
    fn adapters_dropped_mid_stream_release_every_slot_even_when_drops_panic() {
        quiet_planned_panics();
        within(BOUND, || {
            for ordered in [false, true] {
                for panicky in [false, true] {
                    let pool = fixed(2);
                    let meter = Meter::default();
                    let open = Arc::new(AtomicBool::new(false));
                    let items: Vec<Work> = (0..10)
                        .map(|n| work(&meter, &open, n, panicky && n % 2 == 0))
                        .collect();
                    let source = futures::stream::iter(items);
                    let mut adapter: Pin<Box<dyn futures::Stream<Item = _> + '_>> = if ordered {
                        Box::pin(source.pooled_ordered(&pool))
                    } else {
                        Box::pin(source.pooled_unordered(&pool))
                    };
                    let waker = futures::task::noop_waker();
                    let mut cx = Context::from_waker(&waker);
                    assert!(adapter.as_mut().poll_next(&mut cx).is_pending());
                    assert!(adapter.as_mut().poll_next(&mut cx).is_pending());
                    let s = pool.stats();
                    assert_eq!(s.running, 2, "{s:?}");
                    assert!(meter.max() <= 2);
                    let out = catch_unwind(AssertUnwindSafe(move || drop(adapter)));
                    assert_eq!(out.is_err(), panicky, "ordered {ordered}");
                    assert_idle(&pool);
                    let s = pool.stats();
                    // A future whose drop panics is that call's panic.
                    assert_eq!(s.cancelled + s.completed, s.submitted(), "{s:?}");
                    assert!(s.panicked <= u64::from(panicky) * 4, "{s:?}");
                    assert!(s.submitted() >= 2, "{s:?}");
                    assert_eq!(meter.now(), 0);
                }
            }
        });
    }

    /// A source whose `map` panics on one item and a weight function that
    /// panics on another: a consumer that catches the panics and polls on
    /// gets every other item (in order, for the ordered adapter), no slot
    /// is lost and the limit holds.
    #[test]
    fn panicking_sources_and_weight_functions_lose_only_their_item() {
        quiet_planned_panics();
        within(BOUND, || {
            for ordered in [false, true] {
                let pool = Pool::builder()
                    .order(Order::Priority)
                    .size(2)
                    .build()
                    .unwrap();
                let meter = Meter::default();
                let m = meter.clone();
                let source = futures::stream::iter(0..20u32).map(move |n| {
                    if n == 5 {
                        panic!("planned: the source panics");
                    }
                    let m = m.clone();
                    async move {
                        let _inside = m.enter();
                        common::yield_now().await;
                        n
                    }
                });
                let seen = AtomicUsize::new(0);
                let weigh = move |_: &_| -> i64 {
                    let k = seen.fetch_add(1, SeqCst);
                    if k == 9 {
                        panic!("planned: the weight function panics");
                    }
                    (k % 3) as i64
                };
                let mut adapter: Pin<Box<dyn futures::Stream<Item = Result<u32, Rejected>>>> =
                    if ordered {
                        Box::pin(source.pooled_ordered_weighted(&pool, weigh))
                    } else {
                        Box::pin(source.pooled_unordered_weighted(&pool, weigh))
                    };
                let mut got = Vec::new();
                let mut panics = 0;
                loop {
                    let out = catch_unwind(AssertUnwindSafe(|| {
                        futures::executor::block_on(adapter.next())
                    }));
                    match out {
                        Ok(Some(outcome)) => got.push(outcome.unwrap()),
                        Ok(None) => break,
                        Err(_) => {
                            panics += 1;
                            assert!(panics <= 2, "panics again and again");
                        }
                    }
                }
                assert_eq!(panics, 2);
                assert_eq!(got.len(), 18, "{got:?}");
                if ordered {
                    assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
                }
                assert!(!got.contains(&5));
                assert!(meter.max() <= 2, "max {}", meter.max());
                drop(adapter);
                assert_idle(&pool);
                let s = pool.stats();
                assert_eq!(s.completed, 18, "{s:?}");
                assert_eq!(s.submitted(), 18, "{s:?}");
            }
        });
    }

    /// Degenerate shapes: an empty stream ends at once without touching the
    /// pool; `limit(0)` still makes progress with one in flight; a huge
    /// limit stays under twice the pool's size; a pool resized to its
    /// floor mid-stream does not hang the adapter.
    #[test]
    fn empty_streams_zero_and_huge_limits_and_resizes_do_not_hang() {
        within(BOUND, || {
            futures::executor::block_on(async {
                let pool = fixed(3);
                let empty = futures::stream::iter(Vec::<std::future::Ready<u32>>::new());
                assert_eq!(empty.pooled_ordered(&pool).count().await, 0);
                let empty = futures::stream::iter(Vec::<std::future::Ready<u32>>::new());
                assert_eq!(empty.pooled_unordered(&pool).count().await, 0);
                assert_eq!(pool.stats().submitted(), 0);

                for limit in [0usize, 1, usize::MAX] {
                    let meter = Meter::default();
                    let m = meter.clone();
                    let out: Vec<u32> = futures::stream::iter(0..30u32)
                        .map(move |n| {
                            let m = m.clone();
                            async move {
                                let _inside = m.enter();
                                common::yield_now().await;
                                n
                            }
                        })
                        .pooled_ordered(&pool)
                        .limit(limit)
                        .map(Result::unwrap)
                        .collect()
                        .await;
                    assert_eq!(out, (0..30).collect::<Vec<_>>());
                    let cap = limit.clamp(1, 3);
                    assert!(meter.max() <= cap, "limit {limit}: max {}", meter.max());
                }
                assert_idle(&pool);
            });
            // Resized to its floor with calls in flight.
            let pool = fixed(4);
            let p = pool.clone();
            let rt = common::runtime();
            let meter = Meter::default();
            let m = meter.clone();
            let n = rt.block_on(async move {
                let mut adapter = Box::pin(
                    futures::stream::iter(0..60u32)
                        .map(move |_| m.clone().body(1))
                        .pooled_unordered(&p),
                );
                let mut n = 0;
                while let Some(outcome) = adapter.next().await {
                    outcome.unwrap();
                    n += 1;
                    if n == 10 {
                        // Held at 0 (a fixed pool keeps its queue) and
                        // scaled up again from outside.
                        p.resize(0);
                        let p = p.clone();
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_millis(100));
                            p.resize(4);
                        });
                    }
                }
                n
            });
            assert_eq!(n, 60);
            assert_idle(&pool);
            assert_eq!(pool.stats().completed, 60);
        });
    }
}

// ---- observers that panic and call back into the pool ---------------------------

/// The pool a hostile observer calls back into (set once it is built).
#[cfg(all(feature = "tower", feature = "stream"))]
static OBSERVED: std::sync::OnceLock<Pool> = std::sync::OnceLock::new();

/// The observers' probes: slots taken for an instant, and refused.
#[cfg(all(feature = "tower", feature = "stream"))]
static PROBES_TAKEN: AtomicUsize = AtomicUsize::new(0);
#[cfg(all(feature = "tower", feature = "stream"))]
static PROBES_REFUSED: AtomicUsize = AtomicUsize::new(0);

#[cfg(all(feature = "tower", feature = "stream"))]
thread_local! {
    static IN_CALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// What a hostile observer does in each of its callbacks: calls back into
/// the observed pool (a probe that may take a slot for an instant, and its
/// books), guarded against its own recursion, then panics.
#[cfg(all(feature = "tower", feature = "stream"))]
fn hostile_callback() {
    if IN_CALLBACK.with(|c| c.replace(true)) {
        return;
    }
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            IN_CALLBACK.with(|c| c.set(false));
        }
    }
    let _reset = Reset;
    if let Some(pool) = OBSERVED.get() {
        let _ = pool.stats();
        let _ = pool.size();
        match pool.try_acquire() {
            Ok(_) => PROBES_TAKEN.fetch_add(1, SeqCst),
            Err(_) => PROBES_REFUSED.fetch_add(1, SeqCst),
        };
    }
    panic!("planned: an observer's callback panics");
}

/// Every integration path on `pool` (size 2): tower in wait, reject and
/// weighted modes with held bodies, both stream adapters, permits. Checks
/// every outcome and returns (completed, rejected) as the callers saw them.
#[cfg(all(feature = "tower", feature = "stream"))]
fn every_integration_path(pool: &Pool) -> (u64, u64) {
    use futures::StreamExt;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::PooledStreamExt;
    use tower::{service_fn, Layer, Service, ServiceExt};
    let mut completed = 0;
    let mut rejected = 0;
    futures::executor::block_on(async {
        let echo = service_fn(|n: u32| async move { Ok::<_, BoxError>(n) });
        let mut waits = PooledLayer::pool(pool.clone()).layer(echo);
        let mut sheds = PooledLayer::pool(pool.clone()).reject().layer(echo);
        let mut weighted = PooledLayer::pool(pool.clone())
            .weight(|n: &u32| i64::from(*n))
            .layer(echo);
        let mut bodies = PooledLayer::pool(pool.clone())
            .hold_until_body_ends()
            .layer(service_fn(|s: &'static str| async move {
                Ok::<_, BoxError>(http::Response::new(String::from(s)))
            }));
        for n in 0..10u32 {
            assert_eq!(waits.ready().await.unwrap().call(n).await.unwrap(), n);
            assert_eq!(weighted.ready().await.unwrap().call(n).await.unwrap(), n);
            assert_eq!(sheds.ready().await.unwrap().call(n).await.unwrap(), n);
            let response = bodies.ready().await.unwrap().call("body").await.unwrap();
            assert_eq!(pool.stats().running, 1, "the body holds its slot");
            // Dropped before its end: a cancelled call (documented).
            drop(response);
            completed += 3;
        }
        // Shedding at capacity.
        let a = pool.try_acquire_owned(0).unwrap();
        let b = pool.acquire_owned(0).await.unwrap();
        let error = sheds.ready().await.unwrap().call(1).await.unwrap_err();
        assert_eq!(
            error.downcast_ref::<Rejected>().copied(),
            Some(Rejected::Full)
        );
        assert_eq!(pool.try_acquire().unwrap_err(), Rejected::Full);
        rejected += 2;
        drop((a, b));
        completed += 2;
        let out: Vec<u32> = futures::stream::iter(0..20u32)
            .map(|n| async move { n })
            .pooled_ordered(pool)
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(out, (0..20).collect::<Vec<_>>());
        let mut out: Vec<u32> = futures::stream::iter(0..20u32)
            .map(|n| async move { n })
            .pooled_unordered_weighted(pool, |_| 3)
            .map(Result::unwrap)
            .collect()
            .await;
        out.sort_unstable();
        assert_eq!(out, (0..20).collect::<Vec<_>>());
        completed += 40;
    });
    (completed, rejected)
}

/// Checks the observed pool's books against what the callers saw.
#[cfg(all(feature = "tower", feature = "stream"))]
#[track_caller]
fn assert_books(pool: &Pool, completed: u64, rejected: u64) {
    assert_idle(pool);
    let s = pool.stats();
    // The observers' own probes are calls of their own, counted apart.
    let taken = PROBES_TAKEN.load(SeqCst) as u64;
    let refused = PROBES_REFUSED.load(SeqCst) as u64;
    assert_eq!(s.completed, completed + taken, "{s:?} {taken} {refused}");
    assert_eq!(s.rejected_total(), rejected + refused, "{s:?} {refused}");
    assert_eq!(s.panicked, 0, "{s:?}");
    assert_eq!(s.cancelled, 10, "the bodies dropped: {s:?}");
    assert_eq!(s.submitted(), completed + taken + rejected + refused + 10);
}

/// A metrics recorder whose handles (and whose histogram registration)
/// panic, each after calling back into the pool they report on: every
/// integration path still serves every call, no slot is lost, the books
/// are exact, nothing deadlocks. Own process: call timing is global.
#[cfg(all(feature = "tower", feature = "stream", feature = "metrics"))]
#[test]
fn a_recorder_that_calls_back_into_the_pool_and_panics_loses_nothing() {
    struct Handle;
    impl metrics::CounterFn for Handle {
        fn increment(&self, _: u64) {
            hostile_callback();
        }
        fn absolute(&self, _: u64) {
            hostile_callback();
        }
    }
    impl metrics::GaugeFn for Handle {
        fn increment(&self, _: f64) {
            hostile_callback();
        }
        fn decrement(&self, _: f64) {
            hostile_callback();
        }
        fn set(&self, _: f64) {
            hostile_callback();
        }
    }
    impl metrics::HistogramFn for Handle {
        fn record(&self, _: f64) {
            hostile_callback();
        }
    }
    struct Recorder;
    impl metrics::Recorder for Recorder {
        fn describe_counter(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
            hostile_callback();
        }
        fn describe_gauge(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn register_counter(
            &self,
            _: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            metrics::Counter::from_arc(Arc::new(Handle))
        }
        fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::from_arc(Arc::new(Handle))
        }
        fn register_histogram(
            &self,
            _: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            panic!("planned: the recorder refuses a histogram")
        }
    }
    common::in_own_process(
        "a_recorder_that_calls_back_into_the_pool_and_panics_loses_nothing",
        &[],
        || {
            quiet_planned_panics();
            within(BOUND, || {
                pool_runtime::observe::time_calls(true);
                let pool = metrics::with_local_recorder(&Recorder, || {
                    Pool::builder()
                        .name("round33-recorded")
                        .size(2)
                        .build()
                        .unwrap()
                });
                OBSERVED.set(pool.clone()).unwrap();
                let (completed, rejected) = every_integration_path(&pool);
                assert_books(&pool, completed, rejected);
            });
        },
    );
}

/// A global tracing subscriber that calls back into the pool from every
/// callback but entering and leaving a span (which are the call's own
/// frame, documented) and then panics: every integration path still
/// serves every call, no slot is lost, the books are exact.
#[cfg(all(feature = "tower", feature = "stream", feature = "tracing"))]
#[test]
fn a_subscriber_that_calls_back_into_the_pool_and_panics_loses_nothing() {
    struct Subscriber(std::sync::atomic::AtomicU64);
    impl tracing::Subscriber for Subscriber {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            let id = tracing::span::Id::from_u64(self.0.fetch_add(1, SeqCst) + 1);
            if self.0.load(SeqCst) % 2 == 0 {
                hostile_callback();
            }
            id
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {
            hostile_callback();
        }
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {
            hostile_callback();
        }
        fn event(&self, _: &tracing::Event<'_>) {
            hostile_callback();
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
        fn try_close(&self, _: tracing::span::Id) -> bool {
            hostile_callback();
            true
        }
    }
    common::in_own_process(
        "a_subscriber_that_calls_back_into_the_pool_and_panics_loses_nothing",
        &[],
        || {
            quiet_planned_panics();
            tracing::subscriber::set_global_default(Subscriber(Default::default())).unwrap();
            within(BOUND, || {
                let pool = Pool::builder()
                    .name("round33-traced")
                    .size(2)
                    .build()
                    .unwrap();
                OBSERVED.set(pool.clone()).unwrap();
                let (completed, rejected) = every_integration_path(&pool);
                assert_books(&pool, completed, rejected);
                // Limit changes report events too.
                pool.resize(3);
                pool.resize(2);
                assert_eq!(pool.size(), 2);
                assert_books(&pool, completed, rejected);
            });
        },
    );
}

// ---- hostile wakers on the integrations' waits ----------------------------------

/// Polls `f` once with `waker`, catching a panic out of the poll.
#[allow(dead_code)]
fn poll_with<T>(
    waker: &std::task::Waker,
    f: impl FnOnce(&mut std::task::Context<'_>) -> T,
) -> Option<T> {
    let mut cx = std::task::Context::from_waker(waker);
    catch_unwind(AssertUnwindSafe(|| f(&mut cx))).ok()
}

/// A tower `poll_ready`, a stream adapter and an owned-permit acquisition,
/// each waiting with a waker whose `wake` panics: the holder's release
/// (which wakes them) does not unwind into the releasing caller, or if it
/// does, no slot and no count is lost; each wait is then served.
#[cfg(all(feature = "tower", feature = "stream"))]
#[test]
fn wakers_that_panic_on_wake_lose_no_slot_on_integration_waits() {
    use futures::{Stream, StreamExt};
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::PooledStreamExt;
    use std::future::Future;
    use std::task::Poll;
    use tower::{service_fn, Layer, Service};
    quiet_planned_panics();
    within(BOUND, || {
        let pool = fixed(1);
        let hostile = common::panicking_waker();
        let noop = futures::task::noop_waker();
        let mut service = PooledLayer::pool(pool.clone())
            .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
        let mut adapter = Box::pin(
            futures::stream::iter(0..3u32)
                .map(|n| async move { n })
                .pooled_ordered(&pool),
        );
        let mut acquiring = Box::pin(pool.acquire_owned(0));
        let mut release_panics = 0;
        for round in 0..3 {
            let holder = pool.try_acquire_owned(0).unwrap();
            let pending = match round {
                0 => poll_with(&hostile, |cx| service.poll_ready(cx).is_pending()),
                1 => poll_with(&hostile, |cx| adapter.as_mut().poll_next(cx).is_pending()),
                _ => poll_with(&hostile, |cx| acquiring.as_mut().poll(cx).is_pending()),
            };
            assert_eq!(pending, Some(true), "round {round}");
            assert!(pool.stats().waiting >= 1, "round {round}");
            if catch_unwind(AssertUnwindSafe(move || drop(holder))).is_err() {
                release_panics += 1;
            }
            let s = pool.stats();
            assert!(s.running <= 1, "{s:?}");
            assert_accounted(&s);
            match round {
                0 => {
                    let ready = poll_with(&noop, |cx| service.poll_ready(cx)).unwrap();
                    assert!(matches!(ready, Poll::Ready(Ok(()))));
                    let out = futures::executor::block_on(service.call(9)).unwrap();
                    assert_eq!(out, 9);
                }
                1 => {
                    let out: Vec<u32> = futures::executor::block_on(
                        adapter.as_mut().map(Result::unwrap).collect::<Vec<_>>(),
                    );
                    assert_eq!(out, vec![0, 1, 2]);
                }
                _ => {
                    let permit = futures::executor::block_on(acquiring.as_mut()).unwrap();
                    drop(permit);
                }
            }
            assert_idle(&pool);
        }
        // Whether the waker's panic reaches the releasing caller is the
        // waker's report; the books must be exact either way.
        let _ = release_panics;
        let s = pool.stats();
        assert_eq!(s.panicked, 0, "{s:?}");
        assert_eq!(s.cancelled, 0, "{s:?}");
    });
}

/// Extreme weights through every weighted integration on a priority pool:
/// no overflow panic, smallest first, every call served.
#[cfg(all(feature = "tower", feature = "stream"))]
#[test]
fn extreme_weights_through_tower_streams_and_permits() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, Service};
    within(BOUND, || {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let o = order.clone();
        let mut service = PooledLayer::pool(pool.clone())
            .weight(|n: &i64| *n)
            .layer(service_fn(move |n: i64| {
                o.lock().unwrap().push(n);
                async move { Ok::<_, BoxError>(n) }
            }));
        let held = pool.try_acquire_owned(i64::MAX).unwrap();
        let weights = [i64::MAX, 0, i64::MIN, -1, i64::MIN + 1, 1, i64::MAX - 1];
        let mut calls: Vec<_> = weights
            .iter()
            .map(|w| Some(Task::new(service.call(*w))))
            .collect();
        for c in calls.iter_mut().flatten() {
            c.assert_pending();
        }
        assert_eq!(pool.stats().waiting, weights.len());
        drop(held);
        let start = std::time::Instant::now();
        while calls.iter().any(Option::is_some) {
            assert!(start.elapsed() < Duration::from_secs(10), "stuck");
            for (c, w) in calls.iter_mut().zip(weights) {
                if let Some(task) = c {
                    if let std::task::Poll::Ready(out) = task.poll() {
                        assert_eq!(out.unwrap(), w);
                        *c = None;
                    }
                }
            }
        }
        let mut sorted = weights.to_vec();
        sorted.sort_unstable();
        assert_eq!(*order.lock().unwrap(), sorted, "smallest weight first");
        // Permits and stream items with the extremes.
        for w in [i64::MIN, i64::MAX] {
            drop(pool.try_acquire_owned(w).unwrap());
            drop(futures::executor::block_on(pool.acquire_owned(w)).unwrap());
        }
        assert_idle(&pool);
        assert_eq!(pool.stats().completed, 1 + weights.len() as u64 + 4);
    });
}

// ---- pool-wide steering against integration waits -------------------------------

/// `abort` with a tower `poll_ready`, a weighted tower call, a stream
/// adapter and an owned-permit acquisition all waiting: each is woken and
/// turned away with `Closed` (nothing hangs), the holder's slot is released
/// after, and the pool drains with every call counted.
#[cfg(all(feature = "tower", feature = "stream"))]
#[test]
fn abort_wakes_and_turns_away_every_integration_wait() {
    use futures::StreamExt;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::PooledStreamExt;
    use std::task::Poll;
    use tower::{service_fn, Layer, Service, ServiceExt};
    fn closed(e: &BoxError) -> bool {
        e.downcast_ref::<Rejected>() == Some(&Rejected::Closed)
    }
    within(BOUND, || {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        let echo = service_fn(|n: u32| async move { Ok::<_, BoxError>(n) });
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let counted = service_fn(move |n: u32| {
            c.fetch_add(1, SeqCst);
            async move { Ok::<_, BoxError>(n) }
        });
        let holder = pool.try_acquire_owned(0).unwrap();
        let waits = PooledLayer::pool(pool.clone()).layer(counted.clone());
        let mut tower_wait = Task::new(async move {
            let mut s = waits;
            s.ready().await.unwrap();
            s.call(1).await
        });
        let mut weighted = PooledLayer::pool(pool.clone())
            .weight(|n: &u32| i64::from(*n))
            .layer(counted);
        let mut tower_weighted = Task::new(weighted.call(2));
        let p = pool.clone();
        let mut stream = Task::new(async move {
            futures::stream::iter(0..5u32)
                .map(|n| async move { n })
                .pooled_ordered(&p)
                .collect::<Vec<_>>()
                .await
        });
        let mut permit = Task::new(pool.acquire_owned(-5));
        tower_wait.assert_pending();
        tower_weighted.assert_pending();
        stream.assert_pending();
        permit.assert_pending();
        let waiting = pool.stats().waiting;
        assert!(waiting >= 4, "{:?}", pool.stats());
        pool.abort();
        for (what, woken) in [
            ("tower poll_ready", tower_wait.is_woken()),
            ("tower weighted", tower_weighted.is_woken()),
            ("stream", stream.is_woken()),
            ("permit", permit.is_woken()),
        ] {
            assert!(woken, "{what}: not woken by abort");
        }
        match tower_wait.poll() {
            Poll::Ready(Err(e)) => assert!(closed(&e), "{e}"),
            other => panic!("tower poll_ready: {:?}", other.map(|r| r.is_ok())),
        }
        match tower_weighted.poll() {
            Poll::Ready(Err(e)) => assert!(closed(&e), "{e}"),
            other => panic!("tower weighted: {:?}", other.map(|r| r.is_ok())),
        }
        match stream.poll() {
            Poll::Ready(out) => {
                assert_eq!(out.len(), 5);
                assert!(out.iter().all(|o| *o == Err(Rejected::Closed)), "{out:?}");
            }
            Poll::Pending => panic!("stream: pending after abort"),
        }
        match permit.poll() {
            Poll::Ready(out) => assert_eq!(out.unwrap_err(), Rejected::Closed),
            Poll::Pending => panic!("permit: pending after abort"),
        }
        assert_eq!(calls.load(SeqCst), 0, "no inner service called");
        assert_eq!(pool.stats().running, 1, "the holder runs on");
        let mut drained = Task::new(pool.drained());
        drained.assert_pending();
        drop(holder);
        assert!(drained.is_woken(), "drained not woken");
        drained.assert_ready();
        // Every later call through the integrations is refused, not hung.
        let error =
            futures::executor::block_on(PooledLayer::pool(pool.clone()).layer(echo).oneshot(3))
                .unwrap_err();
        assert!(closed(&error));
        assert_idle(&pool);
        let s = pool.stats();
        assert_eq!(s.completed, 1, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::Closed), s.submitted() - 1, "{s:?}");
    });
}

/// An admission timeout on tower (both modes of waiting) and stream
/// waits: the calls that time out fail with `TimedOut` and only those; the
/// service and the adapter go on serving afterwards; the limit holds and
/// the books are exact.
#[cfg(all(feature = "tower", feature = "stream"))]
#[test]
fn admission_timeouts_fail_only_the_waits_that_expire() {
    use futures::StreamExt;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::PooledStreamExt;
    use tower::{service_fn, Layer, Service, ServiceExt};
    within(BOUND, || {
        let rt = common::runtime();
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        pool.set_admission_timeout(Some(Duration::from_millis(30)));
        let meter = Meter::default();
        let m = meter.clone();
        let inner = service_fn(move |n: u32| {
            let m = m.clone();
            async move {
                let _inside = m.enter();
                Ok::<_, BoxError>(n)
            }
        });
        let timed_out = |e: &BoxError| e.downcast_ref::<Rejected>() == Some(&Rejected::TimedOut);
        let (served, expired) = rt.block_on(async {
            let mut served = 0u64;
            let mut expired = 0u64;
            let holder = pool.try_acquire_owned(0).unwrap();
            let mut waits = PooledLayer::pool(pool.clone()).layer(inner.clone());
            let mut weighted = PooledLayer::pool(pool.clone())
                .weight(|n: &u32| i64::from(*n))
                .layer(inner.clone());
            // Held past the timeout: each wait expires.
            let e = waits.ready().await.unwrap().call(1).await.unwrap_err();
            assert!(timed_out(&e), "{e}");
            let e = weighted.ready().await.unwrap().call(2).await.unwrap_err();
            assert!(timed_out(&e), "{e}");
            let out: Vec<_> = futures::stream::iter(0..4u32)
                .map(|n| async move { n })
                .pooled_unordered(&pool)
                .collect()
                .await;
            assert!(out.iter().all(|o| *o == Err(Rejected::TimedOut)), "{out:?}");
            expired += 6;
            drop(holder);
            // Free again: the same service and new adapters serve.
            assert_eq!(waits.ready().await.unwrap().call(3).await.unwrap(), 3);
            assert_eq!(weighted.ready().await.unwrap().call(4).await.unwrap(), 4);
            served += 3; // the holder and two calls
            let out: Vec<_> = futures::stream::iter(0..20u32)
                .map(|n| async move { n })
                .pooled_ordered(&pool)
                .collect()
                .await;
            assert_eq!(out, (0..20).map(Ok).collect::<Vec<_>>());
            served += 20;
            (served, expired)
        });
        assert!(meter.max() <= 1);
        assert_idle(&pool);
        let s = pool.stats();
        assert_eq!(s.completed, served, "{s:?}");
        assert_eq!(s.rejected_for(Rejected::TimedOut), expired, "{s:?}");
        assert_eq!(s.submitted(), served + expired, "{s:?}");
    });
}

/// A bounded queue (`max_waiting`) against weighted tower calls and a
/// stream adapter: the overflow is refused with `Full` as an error value,
/// the queued calls are served in weight order once the slot frees.
#[cfg(all(feature = "tower", feature = "stream"))]
#[test]
fn a_bounded_queue_refuses_the_overflow_of_weighted_tower_calls() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use std::task::Poll;
    use tower::{service_fn, Layer, Service};
    within(BOUND, || {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        pool.set_max_waiting(Some(2)).unwrap();
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let o = order.clone();
        let mut service = PooledLayer::pool(pool.clone())
            .weight(|n: &i64| *n)
            .layer(service_fn(move |n: i64| {
                o.lock().unwrap().push(n);
                async move { Ok::<_, BoxError>(n) }
            }));
        let holder = pool.try_acquire_owned(0).unwrap();
        let mut calls: Vec<_> = [5i64, 3, 9, 1]
            .into_iter()
            .map(|w| Some(Task::new(service.call(w))))
            .collect();
        let mut full = 0;
        for c in &mut calls {
            if let Poll::Ready(out) = c.as_mut().unwrap().poll() {
                let e = out.unwrap_err();
                assert_eq!(e.downcast_ref::<Rejected>(), Some(&Rejected::Full), "{e}");
                full += 1;
                *c = None;
            }
        }
        assert_eq!(full, 2);
        drop(holder);
        let start = std::time::Instant::now();
        while calls.iter().any(Option::is_some) {
            assert!(start.elapsed() < Duration::from_secs(10), "stuck");
            for c in &mut calls {
                if let Some(Poll::Ready(out)) = c.as_mut().map(|t| t.poll()) {
                    out.unwrap();
                    *c = None;
                }
            }
        }
        assert_eq!(*order.lock().unwrap(), vec![3, 5], "queued in weight order");
        assert_idle(&pool);
        let s = pool.stats();
        assert_eq!(
            (s.completed, s.rejected_for(Rejected::Full)),
            (3, 2),
            "{s:?}"
        );
    });
}

/// Waits through the integrations polled with a waker whose `clone`
/// panics (once), then one whose `drop` panics when replaced: the
/// panicking poll loses at most its own wait (counted as cancelled or
/// panicked), the slot is never lost, every later wait is served, and the
/// books balance.
#[cfg(all(feature = "tower", feature = "stream"))]
#[test]
fn wakers_whose_clone_or_drop_panic_lose_no_slot_on_integration_waits() {
    use futures::{Stream, StreamExt};
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::PooledStreamExt;
    use std::future::Future;
    use std::task::{Context, Poll};
    use tower::{service_fn, Layer, Service, ServiceExt};
    static CLONE_ARMED: AtomicBool = AtomicBool::new(false);
    static DROP_ARMED: AtomicBool = AtomicBool::new(false);
    quiet_planned_panics();
    within(BOUND, || {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        let echo = service_fn(|n: u32| async move { Ok::<_, BoxError>(n) });
        let clone_panics = common::waker_whose_clone_panics_once(&CLONE_ARMED);
        let drop_panics = common::waker_whose_drop_panics(&DROP_ARMED);
        let noop = futures::task::noop_waker();
        let mut served = 0u64;
        for round in 0..4 {
            let holder = pool.try_acquire_owned(0).unwrap();
            let mut service = PooledLayer::pool(pool.clone()).layer(echo);
            let mut weighted = Box::pin(
                PooledLayer::pool(pool.clone())
                    .weight(|n: &u32| i64::from(*n))
                    .layer(echo)
                    .call(4),
            );
            let mut adapter = Box::pin(
                futures::stream::iter(0..3u32)
                    .map(|n| async move { n })
                    .pooled_unordered(&pool),
            );
            let mut permit = Box::pin(pool.acquire_owned(1));
            // Each wait polled first with the plain waker (it queues).
            let mut cx = Context::from_waker(&noop);
            assert!(service.poll_ready(&mut cx).is_pending());
            assert!(weighted.as_mut().poll(&mut cx).is_pending());
            assert!(adapter.as_mut().poll_next(&mut cx).is_pending());
            assert!(permit.as_mut().poll(&mut cx).is_pending());
            // Then with the hostile one (the wait replaces its waker).
            let hostile = if round % 2 == 0 {
                &clone_panics
            } else {
                &drop_panics
            };
            let mut hostile_poll = |which: usize| {
                CLONE_ARMED.store(round % 2 == 0, SeqCst);
                DROP_ARMED.store(round % 2 == 1, SeqCst);
                let out = poll_with(hostile, |cx| match which {
                    0 => service.poll_ready(cx).is_pending(),
                    1 => weighted.as_mut().poll(cx).is_pending(),
                    2 => adapter.as_mut().poll_next(cx).is_pending(),
                    _ => permit.as_mut().poll(cx).is_pending(),
                });
                // And back to the plain waker (a drop-panicking waker is
                // replaced here).
                let again = poll_with(&noop, |cx| match which {
                    0 => service.poll_ready(cx).is_pending(),
                    1 => weighted.as_mut().poll(cx).is_pending(),
                    2 => adapter.as_mut().poll_next(cx).is_pending(),
                    _ => permit.as_mut().poll(cx).is_pending(),
                });
                CLONE_ARMED.store(false, SeqCst);
                DROP_ARMED.store(false, SeqCst);
                (out, again)
            };
            let which = round; // one wait made hostile per round
                               // Whether the hostile poll itself unwinds is the waker's
                               // business; the plain poll after it never does.
            let (_, again) = hostile_poll(which);
            assert!(again.is_some(), "round {round}: a plain poll panicked");
            let s = pool.stats();
            assert_eq!(s.running, 1, "round {round}: {s:?}");
            assert_accounted(&s);
            drop(holder);
            // Every wait still there is served, or fails with an error
            // value; a poisoned async future (documented) is dropped. All
            // four are driven together (they queue behind each other).
            let mut done = [false; 4];
            let start = std::time::Instant::now();
            while done.iter().any(|d| !d) {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "round {round}: stuck {done:?}"
                );
                if !done[0] {
                    match poll_with(&noop, |cx| service.poll_ready(cx)) {
                        Some(Poll::Ready(Ok(()))) => {
                            let out = futures::executor::block_on(service.call(1)).unwrap();
                            assert_eq!(out, 1);
                            served += 1;
                            done[0] = true;
                        }
                        Some(Poll::Pending) => {}
                        other => panic!("round {round}: service {:?}", other.map(|p| p.is_ready())),
                    }
                }
                if !done[1] {
                    match poll_with(&noop, |cx| weighted.as_mut().poll(cx)) {
                        Some(Poll::Ready(Ok(4))) => {
                            served += 1;
                            done[1] = true;
                        }
                        Some(Poll::Pending) => {}
                        Some(Poll::Ready(other)) => {
                            panic!("round {round}: weighted {:?}", other.err())
                        }
                        None => {
                            assert_eq!(which, 1, "round {round}: only the hostile one panics");
                            done[1] = true;
                        }
                    }
                }
                if !done[2] {
                    match poll_with(&noop, |cx| adapter.as_mut().poll_next(cx)) {
                        Some(Poll::Ready(Some(Ok(_)))) => served += 1,
                        Some(Poll::Ready(None)) => done[2] = true,
                        Some(Poll::Pending) => {}
                        Some(Poll::Ready(Some(Err(e)))) => panic!("round {round}: stream {e:?}"),
                        None => assert_eq!(which, 2, "round {round}: only the hostile one panics"),
                    }
                }
                if !done[3] {
                    match poll_with(&noop, |cx| permit.as_mut().poll(cx)) {
                        Some(Poll::Ready(Ok(p))) => {
                            drop(p);
                            served += 1;
                            done[3] = true;
                        }
                        Some(Poll::Pending) => {}
                        Some(Poll::Ready(Err(e))) => panic!("round {round}: permit {e:?}"),
                        None => {
                            assert_eq!(which, 3, "round {round}: only the hostile one panics");
                            done[3] = true;
                        }
                    }
                }
            }
            drop(weighted);
            drop(adapter);
            drop(permit);
            drop(service);
            assert_idle(&pool);
            served += 1; // the holder
                         // The pool still serves through every path.
            let out =
                futures::executor::block_on(PooledLayer::pool(pool.clone()).layer(echo).oneshot(7));
            assert_eq!(out.unwrap(), 7);
            served += 1;
        }
        let s = pool.stats();
        assert!(s.completed >= served, "{s:?}");
        assert_idle(&pool);
    });
}

/// An inner response future that completes and then panics as it is
/// dropped (the layer drops it under the slot as soon as it completes):
/// the call is counted once, whatever it is counted as, and the slot goes
/// back once the response future is dropped, in every mode.
#[cfg(feature = "tower")]
#[test]
fn an_inner_future_whose_drop_panics_after_completing_is_counted_once() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tower::{service_fn, Layer, ServiceExt};
    struct DropPanics(u32);
    impl Future for DropPanics {
        type Output = Result<u32, BoxError>;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            Poll::Ready(Ok(self.0))
        }
    }
    impl Drop for DropPanics {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("planned: a completed inner future panics as it drops");
            }
        }
    }
    quiet_planned_panics();
    within(BOUND, || {
        let pool = Pool::builder()
            .order(Order::Priority)
            .size(1)
            .build()
            .unwrap();
        let inner = service_fn(|n: u32| DropPanics(n));
        let bodies = service_fn(|n: u32| {
            let _ = n;
            async move {
                let _guard = DropPanics(n);
                Ok::<_, BoxError>(http::Response::new(String::from("x")))
            }
        });
        for mode in 0..5 {
            let out = catch_unwind(AssertUnwindSafe(|| {
                futures::executor::block_on(async {
                    match mode {
                        0 => PooledLayer::pool(pool.clone())
                            .layer(inner)
                            .oneshot(1)
                            .await
                            .map(drop),
                        1 => PooledLayer::pool(pool.clone())
                            .reject()
                            .layer(inner)
                            .oneshot(1)
                            .await
                            .map(drop),
                        2 => PooledLayer::pool(pool.clone())
                            .weight(|n: &u32| i64::from(*n))
                            .layer(inner)
                            .oneshot(1)
                            .await
                            .map(drop),
                        3 => PooledLayer::pool(pool.clone())
                            .hold_until_body_ends()
                            .layer(inner_http(inner))
                            .oneshot(1)
                            .await
                            .map(drop),
                        _ => PooledLayer::pool(pool.clone())
                            .hold_until_body_ends()
                            .layer(bodies)
                            .oneshot(1)
                            .await
                            .map(drop),
                    }
                })
            }));
            assert!(out.is_err(), "mode {mode}: the drop's panic is the call's");
            let s = pool.stats();
            assert_eq!(s.submitted(), mode as u64 + 1, "mode {mode}: {s:?}");
            assert_idle(&pool);
            assert_eq!(
                s.completed + s.cancelled,
                mode as u64 + 1,
                "mode {mode}: counted once: {s:?}"
            );
        }
    });

    /// The same inner service answering with an `http::Response`.
    fn inner_http<S>(
        inner: S,
    ) -> impl tower::Service<
        u32,
        Response = http::Response<String>,
        Error = BoxError,
        Future: Future<Output = Result<http::Response<String>, BoxError>>,
    > + Clone
    where
        S: tower::Service<u32, Response = u32, Error = BoxError> + Clone,
    {
        tower::ServiceExt::map_response(inner, |n: u32| http::Response::new(n.to_string()))
    }
}

/// The metrics of a pool driven through the integrations' fault paths
/// (inner calls and futures that panic, inner readiness that panics or
/// fails, weighted clones that fail, bodies dropped, broken or panicking,
/// reservations dropped, sheds, timeouts, an abort with waiters, stream
/// items that panic or are dropped mid-stream, permits dropped by panicking
/// threads) equal its `Stats`, and its gauges return to rest.
#[cfg(all(feature = "tower", feature = "stream", feature = "metrics"))]
#[test]
fn metrics_equal_stats_after_every_integration_fault_path() {
    use common::Capture;
    use futures::{Stream, StreamExt};
    use http_body::{Body, Frame};
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::PooledStreamExt;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tower::{service_fn, Layer, Service, ServiceExt};

    struct Broken(usize);
    impl Body for Broken {
        type Data = &'static [u8];
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<&'static [u8]>, BoxError>>> {
            self.0 += 1;
            match self.0 {
                1 => Poll::Ready(Some(Ok(Frame::data(b"a")))),
                2 => Poll::Ready(Some(Err("broken".into()))),
                _ => panic!("planned: a body polled after its error panics"),
            }
        }
    }

    quiet_planned_panics();
    within(BOUND, || {
        let capture: &'static Capture = Box::leak(Box::default());
        let name = "round33-metered";
        let pool = metrics::with_local_recorder(capture, || {
            Pool::builder()
                .name(name)
                .order(Order::Priority)
                .size(2)
                .build()
                .unwrap()
        });
        let rt = common::runtime();
        let echo = service_fn(|n: u32| async move { Ok::<_, BoxError>(n) });
        let panicky = service_fn(|n: u32| {
            if n == 0 {
                panic!("planned: an inner call panics");
            }
            async move {
                if n == 1 {
                    panic!("planned: an inner future panics");
                }
                Err::<u32, BoxError>("inner error".into())
            }
        });
        for n in 0..3u32 {
            let _ = catch_unwind(AssertUnwindSafe(|| {
                futures::executor::block_on(
                    PooledLayer::pool(pool.clone()).layer(panicky).oneshot(n),
                )
            }));
            let _ = catch_unwind(AssertUnwindSafe(|| {
                futures::executor::block_on(
                    PooledLayer::pool(pool.clone())
                        .weight(|n: &u32| i64::from(*n))
                        .layer(panicky)
                        .oneshot(n),
                )
            }));
        }
        // Reservations dropped, a clone's readiness failing.
        futures::executor::block_on(async {
            let mut s = PooledLayer::pool(pool.clone()).layer(echo);
            s.ready().await.unwrap();
            drop(s);
            #[derive(Clone)]
            struct Failing;
            impl Service<u32> for Failing {
                type Response = u32;
                type Error = BoxError;
                type Future = std::future::Ready<Result<u32, BoxError>>;
                fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
                    Poll::Ready(Err("down".into()))
                }
                fn call(&mut self, n: u32) -> Self::Future {
                    std::future::ready(Ok(n))
                }
            }
            let mut w = PooledLayer::pool(pool.clone())
                .weight(|n: &u32| i64::from(*n))
                .layer(Failing);
            assert!(w.ready().await.unwrap().call(1).await.is_err());
            let mut f = PooledLayer::pool(pool.clone()).layer(Failing);
            assert!(f.ready().await.is_err());
        });
        // Bodies: dropped before their end, broken, then polled past it.
        let mut body = futures::executor::block_on(async {
            let mut bodies = PooledLayer::pool(pool.clone())
                .hold_until_body_ends()
                .layer(service_fn(|_: u32| async {
                    Ok::<_, BoxError>(http::Response::new(Broken(0)))
                }));
            drop(bodies.ready().await.unwrap().call(0).await.unwrap());
            bodies
                .ready()
                .await
                .unwrap()
                .call(0)
                .await
                .unwrap()
                .into_body()
        });
        let frame = |b: &mut pool_runtime::tower::PermitBody<Broken>| {
            futures::executor::block_on(std::future::poll_fn(|cx| Pin::new(&mut *b).poll_frame(cx)))
        };
        assert!(frame(&mut body).unwrap().is_ok());
        assert!(frame(&mut body).unwrap().is_err());
        assert!(!body.holds_slot());
        assert!(catch_unwind(AssertUnwindSafe(|| frame(&mut body))).is_err());
        drop(body);
        // Sheds, timeouts and an abort with waiters.
        rt.block_on(async {
            let a = pool.try_acquire_owned(0).unwrap();
            let b = pool.try_acquire_owned(0).unwrap();
            let sheds = PooledLayer::pool(pool.clone()).reject().layer(echo);
            assert!(sheds.oneshot(1).await.is_err());
            pool.set_admission_timeout(Some(Duration::from_millis(20)));
            assert!(PooledLayer::pool(pool.clone())
                .layer(echo)
                .oneshot(1)
                .await
                .is_err());
            let out: Vec<_> = futures::stream::iter(0..3u32)
                .map(|n| async move { n })
                .pooled_ordered(&pool)
                .collect()
                .await;
            assert!(out.iter().all(Result::is_err));
            pool.set_admission_timeout(None);
            drop((a, b));
        });
        // Stream items that panic, and an adapter dropped mid-stream.
        {
            let mut adapter = Box::pin(
                futures::stream::iter(0..6u32)
                    .map(|n| async move {
                        if n == 2 {
                            panic!("planned: a stream item panics");
                        }
                        common::yield_now().await;
                        n
                    })
                    .pooled_unordered(&pool),
            );
            let mut panics = 0;
            loop {
                match catch_unwind(AssertUnwindSafe(|| {
                    futures::executor::block_on(adapter.next())
                })) {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => panics += 1,
                }
            }
            assert_eq!(panics, 1);
            let mut adapter = Box::pin(
                futures::stream::iter(0..6u32)
                    .map(|_| std::future::pending::<()>())
                    .pooled_unordered(&pool),
            );
            let waker = futures::task::noop_waker();
            assert!(adapter
                .as_mut()
                .poll_next(&mut Context::from_waker(&waker))
                .is_pending());
            drop(adapter);
        }
        // Permits dropped by a panicking thread.
        let permit = pool.try_acquire_owned(3).unwrap();
        let _ = std::thread::spawn(move || {
            let _held = permit;
            panic!("planned: a thread holding a permit panics");
        })
        .join();
        // An abort with a tower wait queued.
        let holders: Vec<_> = (0..2).map(|_| pool.try_acquire_owned(0).unwrap()).collect();
        let mut waiting = Task::new(PooledLayer::pool(pool.clone()).layer(echo).oneshot(5));
        waiting.assert_pending();
        pool.abort();
        assert!(waiting.assert_ready().is_err());
        drop(holders);

        assert_idle(&pool);
        let s = pool.stats();
        assert!(s.panicked >= 5 && s.cancelled >= 3, "{s:?}");
        assert!(s.rejected_total() >= 5, "{s:?}");
        let counter = |outcome: &str, reason: Option<&str>| capture.calls(name, outcome, reason);
        assert_eq!(
            counter("completed", None),
            s.completed - s.panicked,
            "{s:?}"
        );
        assert_eq!(counter("panicked", None), s.panicked, "{s:?}");
        assert_eq!(counter("cancelled", None), s.cancelled, "{s:?}");
        for reason in [
            Rejected::Paused,
            Rejected::Closed,
            Rejected::Full,
            Rejected::TimedOut,
        ] {
            assert_eq!(
                counter("rejected", Some(reason.as_str())),
                s.rejected_for(reason),
                "{reason:?}: {s:?}"
            );
        }
        assert_eq!(capture.gauge("pooled.running", name), Some(0.0));
        assert_eq!(capture.gauge("pooled.waiting", name), Some(0.0));
    });
}

/// Blocking closures on a rayon pool whose callers drop their futures at
/// every stage (waiting, admitted but queued on rayon, running), with more
/// callers arriving and some closures panicking: never more than the
/// limit inside the closures, counted from outside; every closure that
/// started ends; the slots all come back and the books balance.
#[cfg(feature = "rayon")]
#[test]
fn rayon_jobs_whose_callers_go_away_keep_the_limit_and_the_books() {
    use pool_runtime::RayonExecutor;
    quiet_planned_panics();
    within(BOUND, || {
        let threads = Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(3)
                .build()
                .unwrap(),
        );
        let pool = Pool::builder()
            .size(2)
            .blocking_executor(Arc::new(RayonExecutor::new(threads)))
            .build()
            .unwrap();
        let meter = Meter::default();
        let started = Arc::new(AtomicUsize::new(0));
        let mut kept = Vec::new();
        let mut dropped = 0;
        for i in 0..40usize {
            let m = meter.clone();
            let started = started.clone();
            let mut task = Task::new(pool.submit_blocking(move || {
                started.fetch_add(1, SeqCst);
                let _inside = m.enter();
                std::thread::sleep(Duration::from_millis(2));
                if i % 7 == 3 {
                    panic!("planned: a rayon job panics");
                }
                i
            }));
            let _ = task.poll();
            match i % 4 {
                // Dropped at once (waiting or admitted, queued on rayon).
                0 => {
                    drop(task);
                    dropped += 1;
                }
                // Dropped a little later (likely running).
                1 => {
                    std::thread::sleep(Duration::from_millis(1));
                    let _ = task.poll();
                    drop(task);
                    dropped += 1;
                }
                _ => kept.push((i, task)),
            }
            assert!(meter.max() <= 2, "max {}", meter.max());
        }
        let mut served = 0;
        let mut panicked = 0;
        for (i, task) in kept {
            let mut task = task;
            let out = catch_unwind(AssertUnwindSafe(|| {
                let start = std::time::Instant::now();
                loop {
                    if let std::task::Poll::Ready(out) = task.poll() {
                        return out;
                    }
                    assert!(start.elapsed() < Duration::from_secs(10), "job {i} stuck");
                    std::thread::sleep(Duration::from_millis(1));
                }
            }));
            match out {
                Ok(Ok(n)) => {
                    assert_eq!(n, i);
                    served += 1;
                }
                Ok(Err(e)) => panic!("job {i}: {e:?}"),
                Err(_) => {
                    assert_eq!(i % 7, 3);
                    panicked += 1;
                }
            }
        }
        // The dropped callers' closures that started end on their own.
        let start = std::time::Instant::now();
        while meter.now() > 0 || pool.stats().running > 0 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{:?}",
                pool.stats()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(meter.max() <= 2, "max {}", meter.max());
        assert_eq!(served + panicked + dropped, 40);
        assert_eq!(meter.done(), started.load(SeqCst));
        assert_idle(&pool);
        let s = pool.stats();
        assert_eq!(s.submitted(), 40, "{s:?}");
        assert_eq!(s.completed + s.cancelled, 40, "{s:?}");
        assert!(s.completed as usize >= served + panicked, "{s:?}");
    });
}

/// Reentrancy through the integrations on a group of one slot: a layer of
/// the group inside another of it (constant and weighted), a held body
/// whose frames and whose `Drop` call the group, stream items that call
/// it. Each inner call is nested under the outer slot instead of waiting
/// for a second one (nothing deadlocks), and the group is at rest after.
#[cfg(all(feature = "tower", feature = "stream"))]
#[test]
fn reentrant_calls_through_the_integrations_run_nested_on_a_group_of_one() {
    use futures::StreamExt;
    use http_body::{Body, Frame};
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::{Group, GroupSpec, PooledStreamExt};
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tower::{service_fn, Layer, ServiceExt};
    static ONE: Group = Group::new(GroupSpec::new("round33::one").size(1));

    struct Calling(usize);
    impl Body for Calling {
        type Data = &'static [u8];
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<&'static [u8]>, BoxError>>> {
            if self.0 == 0 {
                return Poll::Ready(None);
            }
            self.0 -= 1;
            assert_eq!(ONE.run(|| 1).unwrap(), 1, "a nested call from a frame");
            Poll::Ready(Some(Ok(Frame::data(b"f"))))
        }
        fn is_end_stream(&self) -> bool {
            self.0 == 0
        }
    }
    impl Drop for Calling {
        fn drop(&mut self) {
            if self.0 > 0 {
                assert_eq!(ONE.run(|| 2).unwrap(), 2, "a nested call from a drop");
            }
        }
    }

    within(BOUND, || {
        futures::executor::block_on(async {
            let echo = service_fn(|n: u32| async move { Ok::<_, BoxError>(n) });
            // Router and route on the same group.
            let nested = PooledLayer::group(&ONE).layer(PooledLayer::group(&ONE).layer(echo));
            assert_eq!(nested.oneshot(1).await.unwrap(), 1);
            let nested = PooledLayer::group(&ONE).layer(
                PooledLayer::group(&ONE)
                    .weight(|n: &u32| i64::from(*n))
                    .layer(echo),
            );
            assert_eq!(nested.oneshot(2).await.unwrap(), 2);
            let nested = PooledLayer::group(&ONE)
                .weight(|n: &u32| i64::from(*n))
                .layer(PooledLayer::group(&ONE).reject().layer(echo));
            assert_eq!(nested.oneshot(3).await.unwrap(), 3);
            // A held body calling the group from its frames and its drop.
            let bodies = PooledLayer::group(&ONE)
                .hold_until_body_ends()
                .layer(service_fn(|n: usize| async move {
                    Ok::<_, BoxError>(http::Response::new(Calling(n)))
                }));
            let mut body = bodies.clone().oneshot(2).await.unwrap().into_body();
            while let Some(frame) =
                std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
            {
                frame.unwrap();
            }
            assert!(!body.holds_slot());
            let mut body = bodies.oneshot(3).await.unwrap().into_body();
            std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
                .await
                .unwrap()
                .unwrap();
            drop(body); // its Drop calls the group, nested
                        // Stream items calling the group.
            let out: Vec<u32> = futures::stream::iter(0..5u32)
                .map(|n| async move { ONE.submit(0, async move { n * 2 }).await.unwrap() })
                .pooled_ordered(&ONE)
                .map(Result::unwrap)
                .collect()
                .await;
            assert_eq!(out, vec![0, 2, 4, 6, 8]);
        });
        let s = ONE.stats();
        assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
        assert_accounted(&s);
        assert_eq!(s.cancelled, 1, "the body dropped before its end: {s:?}");
    });
}
