//! Round 9 of the hostile suite: promises of the README and the rustdoc not
//! checked by earlier rounds, counted from outside the library where a limit
//! is concerned. Every test that could hang is bounded (`within`, or polled by
//! hand a fixed number of times).

mod common;
#[cfg(feature = "redis")]
mod redis_server;

#[allow(unused_imports)]
use common::{assert_accounted, within, Meter, Task};
#[allow(unused_imports)]
use pool_runtime::{Pool, Rejected};
#[allow(unused_imports)]
use std::time::Duration;

#[allow(dead_code)]
fn fixed(size: usize) -> Pool {
    Pool::builder().size(size).build().unwrap()
}

// ---- tower: a response body that holds its slot -----------------------------

#[cfg(feature = "tower")]
mod body {
    use super::*;
    use http_body::{Body, Frame};
    use pool_runtime::tower::{BoxError, PooledLayer};
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tower::{service_fn, Layer, ServiceExt};

    type Nested = Pin<Box<dyn Future<Output = Result<&'static [u8], Rejected>> + Send>>;

    /// A streaming body whose one frame is made by a call of the pool its
    /// response holds a slot of (a handler's stream reading through the same
    /// bulkhead, a row at a time).
    struct CallsThePool {
        pool: &'static Pool,
        meter: Meter,
        call: Option<Nested>,
        done: bool,
    }

    impl Body for CallsThePool {
        type Data = &'static [u8];
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<&'static [u8]>, BoxError>>> {
            if self.done {
                return Poll::Ready(None);
            }
            let (pool, meter) = (self.pool, self.meter.clone());
            let call = self.call.get_or_insert_with(|| {
                Box::pin(pool.submit(async move {
                    let _inside = meter.enter();
                    &b"row"[..]
                }))
            });
            let row = std::task::ready!(call.as_mut().poll(cx));
            self.call = None;
            self.done = true;
            Poll::Ready(Some(row.map(Frame::data).map_err(Into::into)))
        }

        fn is_end_stream(&self) -> bool {
            self.done
        }
    }

    /// The body's frames are the work of the call that holds the slot: a call
    /// of the same pool made while the body makes a frame is a nested call
    /// (the reentrancy rule) and runs under the body's slot, where waiting
    /// for a second slot of a full pool would never end.
    #[test]
    fn a_body_that_calls_its_own_pool_does_not_deadlock_a_full_pool() {
        let pool: &'static Pool = Box::leak(Box::new(fixed(1)));
        let meter = Meter::default();
        let service = PooledLayer::pool(pool.clone())
            .hold_until_body_ends()
            .layer(service_fn({
                let meter = meter.clone();
                move |()| {
                    let body = CallsThePool {
                        pool,
                        meter: meter.clone(),
                        call: None,
                        done: false,
                    };
                    async move { Ok::<_, BoxError>(http::Response::new(body)) }
                }
            }));
        let response = futures::executor::block_on(service.oneshot(())).unwrap();
        let mut body = response.into_body();
        assert!(body.holds_slot());
        assert_eq!(pool.stats().running, 1, "the body holds the only slot");

        let mut frame = Task::new(std::future::poll_fn(|cx| {
            Pin::new(&mut body).poll_frame(cx)
        }));
        let mut got = None;
        for _ in 0..4 {
            if let Poll::Ready(out) = frame.poll() {
                got = Some(out);
                break;
            }
        }
        let got = got.expect("the body's call of its own pool waited for a second slot");
        let data = got.unwrap().unwrap().into_data().ok().unwrap();
        assert_eq!(data, b"row");
        drop(frame);
        assert!(!body.holds_slot(), "released with the last frame");
        assert_eq!(meter.max(), 1);
        let stats = pool.stats();
        assert_eq!(
            (stats.running, stats.nested, stats.waiting),
            (0, 0, 0),
            "{stats:?}"
        );
        assert_eq!(
            stats.completed, 2,
            "the response's call and the nested one: {stats:?}"
        );
        assert_accounted(&stats);
    }
}

#[cfg(feature = "tower")]
mod body_outlived {
    use super::*;
    use http_body::{Body, Frame};
    use pool_runtime::tower::{BoxError, PooledLayer};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll};
    use tower::{service_fn, Layer, ServiceExt};

    type Nested = Pin<Box<dyn Future<Output = Result<(), Rejected>> + Send>>;

    /// Two frames: the first starts a call of the pool that waits on a gate,
    /// the last ends the body while that call still runs inside it.
    struct LeavesACallRunning {
        pool: &'static Pool,
        meter: Meter,
        gate: Arc<AtomicBool>,
        call: Option<Nested>,
        frames: u8,
    }

    impl Body for LeavesACallRunning {
        type Data = &'static [u8];
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<&'static [u8]>, BoxError>>> {
            let (pool, meter, gate) = (self.pool, self.meter.clone(), self.gate.clone());
            let call = self.call.get_or_insert_with(|| {
                Box::pin(pool.submit(async move {
                    let _inside = meter.enter();
                    common::Gate(gate).await
                }))
            });
            if let Poll::Ready(done) = call.as_mut().poll(cx) {
                done.unwrap();
            }
            if self.frames == 2 {
                return Poll::Ready(None);
            }
            self.frames += 1;
            Poll::Ready(Some(Ok(Frame::data(&b"chunk"[..]))))
        }

        fn is_end_stream(&self) -> bool {
            self.frames == 2
        }
    }

    /// A call nested in the body's frames that outlives the body's end keeps
    /// the slot busy until it ends (the reentrancy rule's "only while the
    /// parent holds it"): the pool never runs two calls on one slot.
    #[test]
    fn a_call_the_body_started_keeps_the_slot_after_the_body_ends() {
        let pool: &'static Pool = Box::leak(Box::new(fixed(1)));
        let meter = Meter::default();
        let gate = Arc::new(AtomicBool::new(false));
        let service = PooledLayer::pool(pool.clone())
            .hold_until_body_ends()
            .layer(service_fn({
                let (meter, gate) = (meter.clone(), gate.clone());
                move |()| {
                    let body = LeavesACallRunning {
                        pool,
                        meter: meter.clone(),
                        gate: gate.clone(),
                        call: None,
                        frames: 0,
                    };
                    async move { Ok::<_, BoxError>(http::Response::new(body)) }
                }
            }));
        let mut body = futures::executor::block_on(service.oneshot(()))
            .unwrap()
            .into_body();
        for _ in 0..2 {
            let frame = Task::new(std::future::poll_fn(|cx| {
                Pin::new(&mut body).poll_frame(cx)
            }))
            .assert_ready();
            assert!(frame.unwrap().is_ok());
        }
        assert!(!body.holds_slot(), "the body ended");
        assert_eq!(meter.now(), 1, "the nested call runs on");
        assert_eq!(
            pool.try_acquire().err(),
            Some(Rejected::Full),
            "its slot is still busy"
        );
        let stats = pool.stats();
        assert_eq!(stats.running + stats.nested, 1, "{stats:?}");

        gate.store(true, Ordering::SeqCst);
        let end = Task::new(std::future::poll_fn(|cx| {
            Pin::new(&mut body).poll_frame(cx)
        }))
        .assert_ready();
        assert!(end.is_none());
        drop(body);
        assert_eq!(meter.now(), 0);
        assert_eq!(meter.max(), 1);
        assert!(
            pool.try_acquire().is_ok(),
            "released when the nested call ended"
        );
        let stats = pool.stats();
        assert_eq!(
            (stats.running, stats.nested, stats.waiting),
            (0, 0, 0),
            "{stats:?}"
        );
        assert_accounted(&stats);
    }
}

#[cfg(feature = "tower")]
mod weighted_counts {
    use super::*;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::Order;
    use std::future::Ready;
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll};
    use tower::{Layer, Service};

    const PENDING: u8 = 0;
    const READY: u8 = 1;
    const FAILED: u8 = 2;

    /// An inner service whose readiness the test sets.
    #[derive(Clone)]
    struct Switch(Arc<AtomicU8>);

    impl Service<u32> for Switch {
        type Response = u32;
        type Error = BoxError;
        type Future = Ready<Result<u32, BoxError>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            match self.0.load(Ordering::SeqCst) {
                PENDING => Poll::Pending,
                READY => Poll::Ready(Ok(())),
                _ => Poll::Ready(Err("planned: the inner service failed".into())),
            }
        }

        fn call(&mut self, n: u32) -> Self::Future {
            std::future::ready(Ok(n))
        }
    }

    fn priority(size: usize) -> Pool {
        Pool::builder()
            .order(Order::Priority)
            .size(size)
            .build()
            .unwrap()
    }

    /// A response future dropped before it finishes releases its slot "as a
    /// cancelled call" (`PooledService`'s cancel safety), and a slot whose
    /// inner service failed before a call ends as a cancelled call: the
    /// weighted layer's response future, which holds its slot while it
    /// readies the inner service, counts both as the constant-weight
    /// service does.
    #[test]
    fn a_weighted_call_that_never_called_its_service_is_counted_cancelled() {
        let state = Arc::new(AtomicU8::new(PENDING));

        // The constant-weight service, for reference.
        let pool = priority(1);
        let mut service = PooledLayer::pool(pool.clone()).layer(Switch(state.clone()));
        let mut ready = Task::new(std::future::poll_fn(|cx| service.poll_ready(cx)));
        ready.assert_pending();
        drop(ready);
        drop(service);
        state.store(FAILED, Ordering::SeqCst);
        let mut service = PooledLayer::pool(pool.clone()).layer(Switch(state.clone()));
        let mut ready = Task::new(std::future::poll_fn(|cx| service.poll_ready(cx)));
        assert!(ready.assert_ready().is_err());
        let stats = pool.stats();
        assert_eq!((stats.completed, stats.cancelled), (0, 2), "{stats:?}");
        assert_accounted(&stats);

        // The weighted one: dropped while readying, then failed while readying.
        state.store(PENDING, Ordering::SeqCst);
        let pool = priority(1);
        let mut service = PooledLayer::pool(pool.clone())
            .weight(|n: &u32| i64::from(*n))
            .layer(Switch(state.clone()));
        let mut readying = Task::new(service.call(1));
        readying.assert_pending();
        assert_eq!(pool.stats().running, 1);
        drop(readying);
        state.store(FAILED, Ordering::SeqCst);
        let mut failing = Task::new(service.call(1));
        assert!(failing.assert_ready().is_err());
        let stats = pool.stats();
        assert_eq!(stats.running, 0, "{stats:?}");
        assert_eq!(
            (stats.completed, stats.cancelled),
            (0, 2),
            "neither call reached the inner service: {stats:?}"
        );
        assert_accounted(&stats);

        // A call that did reach it completes.
        state.store(READY, Ordering::SeqCst);
        assert_eq!(Task::new(service.call(3)).assert_ready().unwrap(), 3);
        assert_eq!(pool.stats().completed, 1);
    }
}

#[cfg(feature = "tower")]
mod tower_panics {
    use super::*;
    use futures::FutureExt;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use std::panic::AssertUnwindSafe;
    use tower::{service_fn, Layer, ServiceExt};

    /// "A panicking call frees its slot and the panic reaches the caller",
    /// and panicked calls are counted in `panicked`: a handler behind the
    /// layer that panics, its response future spawned as the tower docs
    /// advise (tokio catches the panic, then drops the future), is a
    /// panicked call, as the same work through `submit` is — not a
    /// cancelled one.
    #[test]
    fn a_handler_that_panics_is_counted_as_a_panicked_call() {
        common::quiet_planned_panics();
        within(Duration::from_secs(10), || {
            let rt = common::runtime();
            let pool = fixed(1);
            // The reference: `submit` on a spawned task.
            let p = pool.clone();
            let out = rt.block_on(rt.spawn(async move {
                p.submit(async { panic!("planned: the work panics") }).await
            }));
            assert!(out.unwrap_err().is_panic());
            let caught = futures::executor::block_on(
                AssertUnwindSafe(pool.submit(async { panic!("planned: the work panics") }))
                    .catch_unwind(),
            );
            assert!(caught.is_err());
            let stats = pool.stats();
            assert_eq!((stats.panicked, stats.cancelled), (2, 0), "{stats:?}");

            for weighted in [false, true] {
                let pool = fixed(1);
                let handler = service_fn(|()| async {
                    if true {
                        panic!("planned: the handler panics");
                    }
                    Ok::<(), BoxError>(())
                });
                let out = if weighted {
                    let service = PooledLayer::pool(pool.clone())
                        .weight(|_: &()| 0)
                        .layer(handler);
                    rt.block_on(rt.spawn(service.oneshot(()))).map(|_| ())
                } else {
                    let service = PooledLayer::pool(pool.clone()).layer(handler);
                    rt.block_on(rt.spawn(service.oneshot(()))).map(|_| ())
                };
                assert!(out.unwrap_err().is_panic(), "the panic reaches the caller");
                // Caught by the future's own `catch_unwind` (as tower-http's
                // `CatchPanic` layer does), which drops the future once the
                // panic is caught, not while it unwinds.
                let caught = if weighted {
                    let service = PooledLayer::pool(pool.clone())
                        .weight(|_: &()| 0)
                        .layer(handler);
                    futures::executor::block_on(
                        AssertUnwindSafe(service.oneshot(())).catch_unwind(),
                    )
                    .map(|_| ())
                } else {
                    let service = PooledLayer::pool(pool.clone()).layer(handler);
                    futures::executor::block_on(
                        AssertUnwindSafe(service.oneshot(())).catch_unwind(),
                    )
                    .map(|_| ())
                };
                assert!(caught.is_err());
                let stats = pool.stats();
                assert_eq!(stats.running, 0, "{stats:?}");
                assert_eq!(
                    (stats.completed, stats.panicked, stats.cancelled),
                    (2, 2, 0),
                    "weighted {weighted}: {stats:?}"
                );
                assert_accounted(&stats);
            }
        });
    }
}

#[cfg(feature = "tower")]
mod body_panics {
    use super::*;
    use http_body::{Body, Frame};
    use pool_runtime::tower::{BoxError, PooledLayer};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tower::{service_fn, Layer, ServiceExt};

    struct Explodes;

    impl Body for Explodes {
        type Data = &'static [u8];
        type Error = BoxError;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<&'static [u8]>, BoxError>>> {
            panic!("planned: the body panics")
        }
    }

    /// A held body whose `poll_frame` panics ends a panicked call, also when
    /// the panic is caught and the body dropped afterwards.
    #[test]
    fn a_held_body_that_panics_is_a_panicked_call() {
        common::quiet_planned_panics();
        let pool = fixed(1);
        let service = PooledLayer::pool(pool.clone())
            .hold_until_body_ends()
            .layer(service_fn(|()| async {
                Ok::<_, BoxError>(http::Response::new(Explodes))
            }));
        let mut body = futures::executor::block_on(service.oneshot(()))
            .unwrap()
            .into_body();
        let polled = catch_unwind(AssertUnwindSafe(|| {
            Task::new(std::future::poll_fn(|cx| {
                Pin::new(&mut body).poll_frame(cx)
            }))
            .poll()
        }));
        assert!(polled.is_err());
        assert!(body.holds_slot(), "held until dropped");
        drop(body);
        let stats = pool.stats();
        assert_eq!(stats.running, 0, "{stats:?}");
        assert_eq!((stats.panicked, stats.cancelled), (1, 0), "{stats:?}");
        assert_accounted(&stats);
    }
}

#[cfg(feature = "tower")]
mod orphaned_job {
    use super::*;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tower::{service_fn, Layer, Service};

    fn until(what: &str, mut done: impl FnMut() -> bool) {
        let start = std::time::Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(5), "never: {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A handler's blocking job (a nested call, under the response's slot)
    /// whose response is dropped while the job runs keeps the slot busy
    /// until the job ends (the reentrancy rule: "a blocking job whose caller
    /// went away keeps the slot busy until it ends"), then frees it to the
    /// next waiter: never two bodies on one slot, counted from outside.
    #[test]
    fn a_blocking_job_of_a_dropped_response_keeps_the_slot_until_it_ends() {
        within(Duration::from_secs(10), || {
            let pool = fixed(1);
            let meter = Meter::default();
            let gate = Arc::new(AtomicBool::new(false));
            let mut service = PooledLayer::pool(pool.clone()).layer(service_fn({
                let (pool, meter, gate) = (pool.clone(), meter.clone(), gate.clone());
                move |()| {
                    let (pool, meter, gate) = (pool.clone(), meter.clone(), gate.clone());
                    async move {
                        pool.submit_blocking(move || {
                            let _inside = meter.enter();
                            while !gate.load(Ordering::SeqCst) {
                                std::thread::sleep(Duration::from_millis(1));
                            }
                        })
                        .await?;
                        Ok::<_, BoxError>(())
                    }
                }
            }));
            let mut ready = Task::new(std::future::poll_fn(|cx| service.poll_ready(cx)));
            assert!(ready.assert_ready().is_ok());
            drop(ready);
            let mut response = Task::new(service.call(()));
            response.assert_pending();
            until("the job starts", || meter.now() == 1);
            drop(response);
            assert_eq!(
                pool.try_acquire().err(),
                Some(Rejected::Full),
                "the orphaned job holds the slot"
            );
            let next_meter = meter.clone();
            let mut next = Task::new(pool.submit(async move {
                let _inside = next_meter.enter();
            }));
            next.assert_pending();

            gate.store(true, Ordering::SeqCst);
            until("the job ends", || meter.done() == 1);
            until("the next call is woken", || next.is_woken());
            next.assert_ready().unwrap();
            assert_eq!(meter.max(), 1);
            let stats = pool.stats();
            assert_eq!(
                (stats.running, stats.nested, stats.waiting),
                (0, 0, 0),
                "{stats:?}"
            );
            assert_accounted(&stats);
        });
    }
}

// ---- streams run from inside a call of their own pool ----------------------

#[cfg(feature = "stream")]
mod stream_nested {
    use super::*;
    use futures::StreamExt;
    use pool_runtime::PooledStreamExt;

    /// A stream adapter driven inside the work of a call of the same pool:
    /// its items are nested calls, which run one at a time under the
    /// parent's slot (or on a free slot), never deadlock a full pool, and
    /// together with the pool's other callers never exceed its size,
    /// counted from outside.
    fn nested_stream(size: usize, ordered: bool) {
        within(Duration::from_secs(10), move || {
            let pool = fixed(size);
            let meter = Meter::default();
            let rt = common::runtime();
            rt.block_on(async {
                let outsiders: Vec<_> = (0..4)
                    .map(|_| {
                        let (pool, meter) = (pool.clone(), meter.clone());
                        tokio::spawn(async move {
                            for _ in 0..10 {
                                pool.submit(async {
                                    let _inside = meter.enter();
                                    common::yield_now().await;
                                })
                                .await
                                .unwrap();
                            }
                        })
                    })
                    .collect();
                let items = |meter: Meter| {
                    futures::stream::iter(0..20u32).map(move |i| {
                        let meter = meter.clone();
                        async move {
                            let _inside = meter.enter();
                            common::yield_now().await;
                            i
                        }
                    })
                };
                let out: Vec<u32> = pool
                    .submit(async {
                        let outcomes: Vec<Result<u32, Rejected>> = if ordered {
                            items(meter.clone()).pooled_ordered(&pool).collect().await
                        } else {
                            items(meter.clone()).pooled_unordered(&pool).collect().await
                        };
                        outcomes.into_iter().map(Result::unwrap).collect()
                    })
                    .await
                    .unwrap();
                if ordered {
                    assert_eq!(out, (0..20).collect::<Vec<_>>());
                } else {
                    let mut out = out;
                    out.sort();
                    assert_eq!(out, (0..20).collect::<Vec<_>>());
                }
                for outsider in outsiders {
                    outsider.await.unwrap();
                }
            });
            assert!(
                meter.max() <= size,
                "{} bodies at once on {size} slots",
                meter.max()
            );
            assert_eq!(meter.done(), 60);
            let stats = pool.stats();
            assert_eq!(
                (stats.running, stats.nested, stats.waiting),
                (0, 0, 0),
                "{stats:?}"
            );
            assert_eq!(stats.completed, 61, "{stats:?}");
            assert_accounted(&stats);
        });
    }

    #[test]
    fn an_unordered_stream_inside_a_call_of_its_full_pool_of_one() {
        nested_stream(1, false);
    }

    #[test]
    fn an_ordered_stream_inside_a_call_of_its_pool_of_two() {
        nested_stream(2, true);
    }

    /// The same from a sync call's thread: a stream driven by `block_on`
    /// inside `Pool::run` is made of nested calls.
    #[test]
    fn a_stream_driven_inside_a_sync_call_of_its_full_pool() {
        within(Duration::from_secs(10), || {
            let pool = fixed(1);
            let meter = Meter::default();
            let out = pool
                .run(|| {
                    futures::executor::block_on(
                        futures::stream::iter(0..8u32)
                            .map(|i| {
                                let meter = meter.clone();
                                async move {
                                    let _inside = meter.enter();
                                    common::yield_now().await;
                                    i * 3
                                }
                            })
                            .pooled_ordered(&pool)
                            .map(Result::unwrap)
                            .collect::<Vec<_>>(),
                    )
                })
                .unwrap();
            assert_eq!(out, (0..8).map(|i| i * 3).collect::<Vec<_>>());
            assert_eq!(meter.max(), 1);
            let stats = pool.stats();
            assert_eq!(stats.completed, 9, "{stats:?}");
            assert_accounted(&stats);
        });
    }
}

// ---- Pool::spawn outside a runtime -------------------------------------------

/// `spawn` outside a tokio runtime panics, as documented; the call it had
/// placed (admitted, or queued behind a holder) is not left behind: the slot
/// is free, the queue empty, and every call is accounted for.
#[test]
fn spawn_outside_a_runtime_panics_and_leaves_nothing_behind() {
    common::quiet_planned_panics();
    let pool = fixed(1);
    let spawned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = pool.spawn(async {});
    }));
    assert!(spawned.is_err(), "spawn outside a runtime panics");
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
    assert_accounted(&stats);

    let held = pool.try_acquire().unwrap();
    let spawned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = pool.spawn(async {});
    }));
    assert!(spawned.is_err());
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting), (1, 0), "{stats:?}");
    assert_accounted(&stats);
    drop(held);
    assert!(pool.try_acquire().is_ok());
    let stats = pool.stats();
    assert_eq!(stats.panicked, 0, "no work ran, none panicked: {stats:?}");
    assert_accounted(&stats);
}

// ---- every integration at once, counted from outside ------------------------

#[cfg(all(feature = "tower", feature = "stream"))]
mod integrations_at_once {
    use super::*;
    use futures::{FutureExt, StreamExt};
    use http_body::Body;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::{Order, PooledStreamExt};
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tower::{service_fn, Layer, ServiceExt};

    /// A body of one frame made by a metered call of `pool` (nested under
    /// the body's slot).
    type RowCall = Pin<Box<dyn std::future::Future<Output = Result<(), Rejected>> + Send>>;

    struct OneRow {
        call: Option<RowCall>,
    }

    impl Body for OneRow {
        type Data = &'static [u8];
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<&'static [u8]>, BoxError>>> {
            let Some(call) = self.call.as_mut() else {
                return std::task::Poll::Ready(None);
            };
            let done = std::task::ready!(call.as_mut().poll(cx));
            self.call = None;
            std::task::Poll::Ready(Some(
                done.map(|()| http_body::Frame::data(&b"row"[..]))
                    .map_err(Into::into),
            ))
        }
        fn is_end_stream(&self) -> bool {
            self.call.is_none()
        }
    }

    async fn metered(meter: Meter) {
        let _inside = meter.enter();
        tokio::time::sleep(Duration::from_micros(100)).await;
    }

    /// Tower services (waiting, weighted, shedding, body-holding, with
    /// handlers and bodies that call the pool again), stream adapters (some
    /// dropped mid-stream), owned permits moved into tasks, and plain
    /// submits, all on one pool, while another thread pauses and resumes
    /// it: never more bodies at once than its slots, counted from outside;
    /// nothing hangs; every call accounted for.
    #[test]
    fn every_integration_on_one_pool_keeps_the_limit() {
        within(Duration::from_secs(30), || {
            for order in [Order::Fifo, Order::Lifo, Order::Priority] {
                let pool: &'static Pool = Box::leak(Box::new(
                    Pool::builder().size(2).order(order).build().unwrap(),
                ));
                let meter = Meter::default();
                let stop = Arc::new(AtomicBool::new(false));
                let controller = {
                    let stop = stop.clone();
                    std::thread::spawn(move || {
                        // Short pauses, now and then.
                        while !stop.load(Ordering::SeqCst) {
                            pool.pause();
                            std::thread::sleep(Duration::from_micros(100));
                            pool.resume();
                            std::thread::sleep(Duration::from_millis(3));
                        }
                    })
                };
                let rt = common::runtime();
                rt.block_on(async {
                    let mut tasks = Vec::new();
                    for t in 0..8u32 {
                        let meter = meter.clone();
                        tasks.push(async move {
                            for i in 0..12u32 {
                                let m = meter.clone();
                                match (t + i) % 7 {
                                    0 => {
                                        // A handler that calls the pool again.
                                        let service = PooledLayer::pool(pool.clone()).layer(
                                            service_fn(move |()| {
                                                let m = m.clone();
                                                async move {
                                                    metered(m.clone()).await;
                                                    pool.submit(metered(m)).await?;
                                                    Ok::<_, BoxError>(())
                                                }
                                            }),
                                        );
                                        let _ = service.oneshot(()).await;
                                    }
                                    1 => {
                                        let service = PooledLayer::pool(pool.clone())
                                            .weight(|n: &u32| i64::from(*n % 3))
                                            .layer(service_fn(move |_: u32| {
                                                metered(m.clone()).map(Ok::<_, BoxError>)
                                            }));
                                        let _ = service.oneshot(i).await;
                                    }
                                    2 => {
                                        let service = PooledLayer::pool(pool.clone())
                                            .reject()
                                            .layer(service_fn(move |()| {
                                                metered(m.clone()).map(Ok::<_, BoxError>)
                                            }));
                                        let _ = service.oneshot(()).await;
                                    }
                                    3 => {
                                        let service = PooledLayer::pool(pool.clone())
                                            .hold_until_body_ends()
                                            .layer(service_fn(move |()| {
                                                let body = OneRow {
                                                    call: Some(Box::pin(
                                                        pool.submit(metered(m.clone())),
                                                    )),
                                                };
                                                async move {
                                                    Ok::<_, BoxError>(http::Response::new(body))
                                                }
                                            }));
                                        if let Ok(response) = service.oneshot(()).await {
                                            let mut body = response.into_body();
                                            if i % 2 == 0 {
                                                let _ = std::future::poll_fn(|cx| {
                                                    Pin::new(&mut body).poll_frame(cx)
                                                })
                                                .await;
                                            }
                                        }
                                    }
                                    4 => {
                                        let items = futures::stream::iter(0..5u32)
                                            .map(move |_| metered(m.clone()));
                                        if i % 2 == 0 {
                                            let _: Vec<_> =
                                                items.pooled_ordered(pool).collect().await;
                                        } else {
                                            // Dropped with items in flight.
                                            let mut s = Box::pin(items.pooled_unordered(pool));
                                            let _ = s.next().await;
                                        }
                                    }
                                    5 => {
                                        if let Ok(permit) = pool.acquire_owned(i64::from(i)).await {
                                            tokio::spawn(async move {
                                                metered(m).await;
                                                drop(permit);
                                            })
                                            .await
                                            .unwrap();
                                        }
                                    }
                                    _ => {
                                        let _ = pool.submit(metered(m)).await;
                                    }
                                }
                            }
                        });
                    }
                    // Driven together on this thread (a service future whose
                    // error is `BoxError` cannot be `Send` in an async block:
                    // see the tower module docs); the permits' tasks and the
                    // blocking pool run on the runtime's workers.
                    futures::future::join_all(tasks).await;
                });
                stop.store(true, Ordering::SeqCst);
                controller.join().unwrap();
                assert!(
                    meter.max() <= 2,
                    "{order:?}: {} bodies at once",
                    meter.max()
                );
                assert_eq!(meter.now(), 0);
                let stats = pool.stats();
                assert_eq!(
                    (stats.running, stats.nested, stats.waiting),
                    (0, 0, 0),
                    "{order:?}: {stats:?}"
                );
                assert_accounted(&stats);
            }
        });
    }
}

// ---- shutdown with calls that cannot be turned away --------------------------

/// `shutdown`'s error "says how many" calls were left at its deadline. A
/// group's never-rejecting calls (`submit_wait`, the `#[pooled]` functions
/// that cannot return an error) still waiting then cannot be turned away:
/// they wait on and run once a slot frees, and the error counts them too
/// rather than reporting a pool with nothing waiting.
#[test]
fn a_shutdown_deadline_reports_never_rejecting_calls_left_waiting() {
    use pool_runtime::{Group, GroupSpec};
    static GROUP: Group = Group::new(GroupSpec::new("round9::shutdown_never_rejecting").size(1));
    within(Duration::from_secs(10), || {
        let held = GROUP.try_acquire_owned(0).unwrap();
        let mut waits = Task::new(GROUP.submit_wait(0, async { 7 }));
        waits.assert_pending();
        assert_eq!(GROUP.stats().waiting, 1);

        let timed_out = futures::executor::block_on(GROUP.pool().shutdown(Some(Duration::ZERO)))
            .expect_err("a call runs and one waits at the deadline");
        assert_eq!(timed_out.running, 1, "{timed_out:?}");
        assert_eq!(timed_out.turned_away, 0, "{timed_out:?}");
        assert_eq!(
            timed_out.waiting, 1,
            "the never-rejecting call is still waiting: {timed_out:?}"
        );
        let message = timed_out.to_string();
        assert!(message.contains("1 call(s) still waiting"), "{message}");

        drop(held);
        assert_eq!(waits.assert_ready(), 7, "it still runs, in the closed pool");
        futures::executor::block_on(GROUP.pool().drained());
        let stats = GROUP.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
        assert_accounted(&stats);
    });
}

// ---- a group permit under the ceiling ------------------------------------------

/// A group permit waiting for its group's slot holds a ceiling slot; dropped
/// then, the call is cancelled, for the ceiling as for the group, as a
/// `Group::submit` dropped at the same point is (the ceiling's stats count
/// top-level group calls: a call that never ran did not complete). Run in a
/// child process: the ceiling is process-wide.
#[cfg(feature = "config")]
#[test]
fn a_group_permit_dropped_waiting_for_its_group_is_cancelled_for_the_ceiling() {
    use pool_runtime::{config, Group, GroupSpec};
    static NARROW: Group = Group::new(GroupSpec::new("round9::ceiling_permit").size(1));
    common::in_child_process(
        "a_group_permit_dropped_waiting_for_its_group_is_cancelled_for_the_ceiling",
        &[],
        || {
            config::load_str("app.toml", "ceiling = 4\n").unwrap();
            let ceiling = || pool_runtime::ceiling::stats().unwrap();
            let holder = NARROW.try_acquire_owned(0).unwrap();

            let mut submit = Task::new(NARROW.submit(0, async {}));
            submit.assert_pending();
            assert_eq!(ceiling().running, 2, "{:?}", ceiling());
            drop(submit);
            let c = ceiling();
            assert_eq!(
                (c.running, c.completed, c.cancelled),
                (1, 0, 1),
                "submit: {c:?}"
            );

            for owned in [false, true] {
                let mut permit: Task<std::pin::Pin<Box<dyn std::future::Future<Output = bool>>>> =
                    if owned {
                        Task::new(Box::pin(async { NARROW.acquire_owned(0).await.is_ok() }))
                    } else {
                        Task::new(Box::pin(async { NARROW.acquire(0).await.is_ok() }))
                    };
                permit.assert_pending();
                assert_eq!(ceiling().running, 2, "{:?}", ceiling());
                drop(permit);
                let c = ceiling();
                assert_eq!(c.running, 1, "{c:?}");
                assert_eq!(
                    (c.completed, c.cancelled),
                    (0, if owned { 3 } else { 2 }),
                    "owned {owned}: {c:?}"
                );
                assert_accounted(&c);
            }
            let g = NARROW.stats();
            assert_eq!((g.running, g.waiting, g.cancelled), (1, 0, 3), "{g:?}");
            drop(holder);
            let c = ceiling();
            assert_eq!((c.running, c.completed, c.cancelled), (0, 1, 3), "{c:?}");
            assert_accounted(&c);
        },
    );
}

/// The body's frames run under its ceiling slot too: a held body of a group
/// layer that calls the group again, under a ceiling of one (which the body
/// holds), is a nested call for the ceiling as for the group. Run in a child
/// process: the ceiling is process-wide.
#[cfg(all(feature = "config", feature = "tower"))]
#[test]
fn a_groups_body_that_calls_the_group_under_a_full_ceiling_nests() {
    use http_body::{Body, Frame};
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::{config, Group, GroupSpec};
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tower::{service_fn, Layer, ServiceExt};

    static WIDE: Group = Group::new(GroupSpec::new("round9::ceiling_body").size(2));

    type GroupCall = Pin<Box<dyn Future<Output = Result<u8, Rejected>> + Send>>;

    struct CallsTheGroup(Option<GroupCall>);

    impl Body for CallsTheGroup {
        type Data = &'static [u8];
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<&'static [u8]>, BoxError>>> {
            let Some(call) = self.0.as_mut() else {
                return Poll::Ready(None);
            };
            let out = std::task::ready!(call.as_mut().poll(cx));
            self.0 = None;
            Poll::Ready(Some(
                out.map(|_| Frame::data(&b"row"[..])).map_err(Into::into),
            ))
        }
        fn is_end_stream(&self) -> bool {
            self.0.is_none()
        }
    }

    common::in_child_process(
        "a_groups_body_that_calls_the_group_under_a_full_ceiling_nests",
        &[],
        || {
            config::load_str("app.toml", "ceiling = 1\n").unwrap();
            let service = PooledLayer::group(&WIDE)
                .hold_until_body_ends()
                .layer(service_fn(|()| async {
                    let call = CallsTheGroup(Some(Box::pin(WIDE.submit(0, async { 1u8 }))));
                    Ok::<_, BoxError>(http::Response::new(call))
                }));
            let mut body = futures::executor::block_on(service.oneshot(()))
                .unwrap()
                .into_body();
            assert_eq!(pool_runtime::ceiling::stats().unwrap().running, 1);
            let mut frame = Task::new(std::future::poll_fn(|cx| {
                Pin::new(&mut body).poll_frame(cx)
            }));
            let mut got = None;
            for _ in 0..4 {
                if let Poll::Ready(out) = frame.poll() {
                    got = Some(out);
                    break;
                }
            }
            let got = got.expect("the body's call waited for a second ceiling slot");
            assert!(got.unwrap().is_ok());
            drop(frame);
            drop(body);
            let c = pool_runtime::ceiling::stats().unwrap();
            assert_eq!((c.running, c.waiting), (0, 0), "{c:?}");
            assert_accounted(&c);
            let g = WIDE.stats();
            assert_eq!((g.running, g.nested, g.completed), (0, 0, 2), "{g:?}");
            assert_accounted(&g);
        },
    );
}

// ---- try_acquire nested in a call's work ---------------------------------------

/// `try_acquire` inside the work of a call of the same pool is a nested call:
/// it borrows the parent's slot even when the pool is paused or closed
/// (nested calls belong to admitted work), one permit at a time (a second
/// one while the first holds the slot would have to wait: `Full`), never a
/// second slot; the queue is left alone.
#[test]
fn try_acquire_nested_in_work_borrows_the_parents_slot_one_at_a_time() {
    for close in [false, true] {
        let pool = fixed(1);
        let out = pool
            .run(|| {
                if close {
                    pool.close();
                } else {
                    pool.pause();
                }
                let first = pool.try_acquire().expect("borrows the parent's slot");
                assert_eq!(pool.stats().nested, 1);
                assert_eq!(
                    pool.try_acquire().err(),
                    Some(Rejected::Full),
                    "the slot is lent already"
                );
                assert_eq!(pool.stats().waiting, 0, "nothing left queued");
                drop(first);
                let again = pool.try_acquire_owned(0).expect("the slot came back");
                drop(again);
                let stats = pool.stats();
                (stats.running, stats.nested)
            })
            .unwrap();
        assert_eq!(out, (1, 0), "close {close}");
        let stats = pool.stats();
        assert_eq!(
            (stats.running, stats.nested, stats.waiting),
            (0, 0, 0),
            "{stats:?}"
        );
        assert_eq!(stats.completed, 3, "close {close}: {stats:?}");
        assert_accounted(&stats);
        let outside = if close {
            Rejected::Closed
        } else {
            Rejected::Paused
        };
        assert_eq!(pool.try_acquire().err(), Some(outside));
    }
}

// ---- how much of a stream is pulled ----------------------------------------------

/// "At most `2 × size` of the stream's items are pulled and not yet yielded
/// at any time", counted from outside (pulled when the source yields an
/// item, done when the consumer receives its outcome), for both adapters,
/// with items of uneven length and the pool resized between pulls.
#[cfg(feature = "stream")]
#[test]
fn a_stream_never_holds_more_than_twice_the_pools_size() {
    use futures::StreamExt;
    use pool_runtime::PooledStreamExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    for ordered in [false, true] {
        let pool = fixed(4);
        let held = Arc::new(AtomicUsize::new(0));
        let (most, seen) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let bound = Arc::new(AtomicUsize::new(8));
        let items = {
            let (held, most, bound, pool) =
                (held.clone(), most.clone(), bound.clone(), pool.clone());
            futures::stream::iter(0..400u32).map(move |i| {
                let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                assert!(
                    now <= bound.load(Ordering::SeqCst),
                    "item {i}: {now} held, bound {}",
                    bound.load(Ordering::SeqCst)
                );
                // Resized now and then: the bound follows the size at the pull.
                if i % 50 == 49 {
                    let size = [4, 2, 1, 3][(i / 50 % 4) as usize];
                    pool.resize(size);
                    // Items already held stay held: the bound is the larger
                    // of the old and the new until the adapter drains.
                    bound.fetch_max(2 * size, Ordering::SeqCst);
                }
                async move {
                    for _ in 0..(i % 5) {
                        common::yield_now().await;
                    }
                    i
                }
            })
        };
        futures::executor::block_on(async {
            let mut out: std::pin::Pin<Box<dyn futures::Stream<Item = Result<u32, Rejected>>>> =
                if ordered {
                    Box::pin(items.pooled_ordered(&pool))
                } else {
                    Box::pin(items.pooled_unordered(&pool))
                };
            while let Some(outcome) = out.next().await {
                outcome.unwrap();
                held.fetch_sub(1, Ordering::SeqCst);
                seen.fetch_add(1, Ordering::SeqCst);
            }
        });
        assert_eq!(seen.load(Ordering::SeqCst), 400);
        assert!(
            most.load(Ordering::SeqCst) <= 8,
            "ordered {ordered}: {}",
            most.load(Ordering::SeqCst)
        );
        assert_accounted(&pool.stats());
    }
}

// ---- tower services driven at random, poll by poll ---------------------------------

/// Services (clones of a waiting, a shedding and a weighted layer, some
/// holding their response's slot until its body ends) driven poll by poll in
/// a random order with random drops, while the pool is paused, resumed and
/// resized between 0 and 3: after every step the counters add up, no more
/// inner futures run at once than the largest size the pool had since the
/// last time it was drained, and once everything is dropped nothing is held.
#[cfg(feature = "tower")]
#[test]
fn tower_services_driven_at_random_keep_the_accounting_and_the_limit() {
    use http_body::Body;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::Order;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};
    use tower::{service_fn, Layer, Service};

    type Resp = Pin<
        Box<
            dyn Future<
                Output = Result<http::Response<pool_runtime::tower::PermitBody<String>>, BoxError>,
            >,
        >,
    >;

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    common::quiet_planned_panics();
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let order = [Order::Fifo, Order::Lifo, Order::Priority][(seed % 3) as usize];
        let pool = Pool::builder().size(2).order(order).build().unwrap();
        let meter = Meter::default();
        // An inner service whose futures take a few polls.
        let inner = {
            let meter = meter.clone();
            service_fn(move |n: u32| {
                let inside = meter.enter();
                let mut left = n % 3;
                std::future::poll_fn(move |cx| {
                    let _ = &inside;
                    if left == 0 {
                        Poll::Ready(Ok::<_, BoxError>(http::Response::new(format!("{n}"))))
                    } else {
                        left -= 1;
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                })
            })
        };
        let layers = [
            PooledLayer::pool(pool.clone())
                .hold_until_body_ends()
                .layer(inner.clone()),
            PooledLayer::pool(pool.clone())
                .reject()
                .hold_until_body_ends()
                .layer(inner.clone()),
        ];
        let weighted = PooledLayer::pool(pool.clone())
            .weight(|n: &u32| i64::from(*n % 4))
            .hold_until_body_ends()
            .layer(inner.clone());
        let mut services: Vec<_> = (0..4).map(|i| layers[i % 2].clone()).collect();
        let mut ready: Vec<bool> = vec![false; services.len()];
        let mut responses: Vec<Resp> = Vec::new();
        let mut bodies: Vec<pool_runtime::tower::PermitBody<String>> = Vec::new();
        let mut most = 2usize;
        let cx = &mut Context::from_waker(Waker::noop());
        for step in 0..300u32 {
            match rng.below(16) {
                0..=2 => {
                    let i = rng.below(services.len() as u64) as usize;
                    // Ready until asked again (a refusal is asked again).
                    ready[i] = match services[i].poll_ready(cx) {
                        Poll::Ready(out) => out.is_ok(),
                        Poll::Pending => false,
                    };
                }
                3 | 4 => {
                    let i = rng.below(services.len() as u64) as usize;
                    if std::mem::take(&mut ready[i]) {
                        responses.push(Box::pin(services[i].call(step)));
                    }
                }
                5 => {
                    let mut w = weighted.clone();
                    responses.push(Box::pin(w.call(step)));
                }
                6 | 7 | 11 | 12 if !responses.is_empty() => {
                    let j = rng.below(responses.len() as u64) as usize;
                    if let Poll::Ready(out) = responses[j].as_mut().poll(cx) {
                        drop(responses.swap_remove(j));
                        if let Ok(response) = out {
                            bodies.push(response.into_body());
                        }
                    }
                }
                8 if !responses.is_empty() => {
                    let j = rng.below(responses.len() as u64) as usize;
                    drop(responses.swap_remove(j));
                }
                9 | 13 if !bodies.is_empty() => {
                    let k = rng.below(bodies.len() as u64) as usize;
                    if rng.below(2) == 0 {
                        let _ = Pin::new(&mut bodies[k]).poll_frame(cx);
                    } else {
                        drop(bodies.swap_remove(k));
                    }
                }
                10 => {
                    let i = rng.below(services.len() as u64) as usize;
                    services[i] = layers[i % 2].clone();
                    ready[i] = false;
                }
                15 => match rng.below(6) {
                    0 => pool.pause(),
                    1 | 2 => pool.resume(),
                    _ => {
                        let size = rng.below(4) as usize;
                        pool.resize(size);
                        most = most.max(size);
                    }
                },
                _ => {}
            }
            let stats = pool.stats();
            assert_accounted(&stats);
            assert!(
                meter.now() <= most,
                "seed {seed} step {step}: {} inner futures at once, size at most {most}",
                meter.now()
            );
        }
        drop(responses);
        drop(bodies);
        drop(services);
        let stats = pool.stats();
        assert_eq!(
            (stats.running, stats.nested, stats.waiting),
            (0, 0, 0),
            "seed {seed}: {stats:?}"
        );
        assert_eq!(meter.now(), 0);
        assert_accounted(&stats);
    }
}

// ---- what starts a group ------------------------------------------------------------

/// A group's reading handles are uses that start it (its docs say so);
/// `settings`, `is_started` and `groups()` look without starting it.
#[test]
fn reading_a_groups_stats_starts_it_and_settings_does_not() {
    use pool_runtime::{register_group, Group, GroupSpec};
    static LOOKED_AT: Group = Group::new(GroupSpec::new("round9::looked_at").size(2));
    register_group!(LOOKED_AT);
    let _ = LOOKED_AT.settings();
    let listed = pool_runtime::groups();
    let info = listed
        .iter()
        .find(|info| info.name == "round9::looked_at")
        .expect("registered");
    assert!(info.stats.is_none(), "not started yet");
    assert!(
        !LOOKED_AT.is_started(),
        "settings and groups() start nothing"
    );
    assert_eq!(LOOKED_AT.stats().size, 2);
    assert!(LOOKED_AT.is_started(), "stats() is a use");
}

/// A group call whose work panics is a panicked call for its group and for
/// the ceiling, on every call path, also when the panic is caught by the
/// future's own `catch_unwind` and the call dropped afterwards. Run in a
/// child process: the ceiling is process-wide.
#[cfg(all(feature = "config", feature = "tokio"))]
#[test]
fn a_panicking_group_call_is_panicked_for_the_group_and_the_ceiling() {
    use futures::FutureExt;
    use pool_runtime::{config, Group, GroupSpec};
    use std::panic::AssertUnwindSafe;
    static PANICS: Group = Group::new(GroupSpec::new("round9::ceiling_panics").size(2));
    common::quiet_planned_panics();
    common::in_child_process(
        "a_panicking_group_call_is_panicked_for_the_group_and_the_ceiling",
        &[],
        || {
            common::quiet_planned_panics();
            config::load_str("app.toml", "ceiling = 4\n").unwrap();
            let rt = common::runtime();
            let submit = futures::executor::block_on(
                AssertUnwindSafe(PANICS.submit(0, async { panic!("planned: submit") }))
                    .catch_unwind(),
            );
            assert!(submit.is_err());
            let permit = futures::executor::block_on(
                AssertUnwindSafe(async {
                    let _permit = PANICS.acquire_owned(0).await;
                    panic!("planned: permit")
                })
                .catch_unwind(),
            );
            assert!(permit.is_err());
            let run = std::panic::catch_unwind(|| PANICS.run(|| panic!("planned: run")));
            assert!(run.is_err());
            let blocking = rt.block_on(
                AssertUnwindSafe(PANICS.submit_blocking(0, || panic!("planned: blocking")))
                    .catch_unwind(),
            );
            assert!(blocking.is_err());
            let g = PANICS.stats();
            assert_eq!(
                (g.running, g.panicked, g.cancelled),
                (0, 4, 0),
                "group: {g:?}"
            );
            let c = pool_runtime::ceiling::stats().unwrap();
            assert_eq!(
                (c.running, c.panicked, c.cancelled),
                (0, 4, 0),
                "ceiling: {c:?}"
            );
            assert_accounted(&g);
            assert_accounted(&c);
        },
    );
}

/// A group layer's call ends the same way for the ceiling as for the group:
/// a reservation never called and a response dropped before it finished are
/// cancelled, a handler that panics (its panic caught by the future's own
/// `catch_unwind`) panicked, a body dropped before its end cancelled. Run in
/// a child process: the ceiling is process-wide.
#[cfg(all(feature = "config", feature = "tower"))]
#[test]
fn a_group_layers_calls_end_alike_for_the_group_and_the_ceiling() {
    use futures::FutureExt;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::{config, Group, GroupSpec};
    use std::panic::AssertUnwindSafe;
    use std::task::Poll;
    use tower::{service_fn, Layer, Service, ServiceExt};
    static LAYERED: Group = Group::new(GroupSpec::new("round9::ceiling_layer").size(2));
    common::quiet_planned_panics();
    common::in_child_process(
        "a_group_layers_calls_end_alike_for_the_group_and_the_ceiling",
        &[],
        || {
            common::quiet_planned_panics();
            config::load_str("app.toml", "ceiling = 4\n").unwrap();
            let ends = || {
                let (g, c) = (LAYERED.stats(), pool_runtime::ceiling::stats().unwrap());
                assert_accounted(&g);
                assert_accounted(&c);
                (
                    (g.running, g.completed, g.panicked, g.cancelled),
                    (c.running, c.completed, c.panicked, c.cancelled),
                )
            };
            let handler = service_fn(|n: u8| async move {
                match n {
                    0 => Ok::<_, BoxError>(http::Response::new(String::from("body"))),
                    1 => std::future::pending().await,
                    _ => panic!("planned: the handler panics"),
                }
            });
            let layer = PooledLayer::group(&LAYERED).hold_until_body_ends();

            // A reservation never called.
            let mut service = layer.clone().layer(handler);
            let mut ready = Task::new(std::future::poll_fn(|cx| service.poll_ready(cx)));
            assert!(matches!(ready.poll(), Poll::Ready(Ok(()))));
            drop(ready);
            drop(service);
            let (g, c) = ends();
            assert_eq!(g, (0, 0, 0, 1), "reserved: group");
            assert_eq!(c, g, "reserved: the ceiling ends it as the group does");

            // A response dropped before it finished.
            let mut response = Task::new(layer.clone().layer(handler).oneshot(1));
            response.assert_pending();
            drop(response);
            let (g, c) = ends();
            assert_eq!(g, (0, 0, 0, 2), "dropped: group");
            assert_eq!(c, g, "dropped: the ceiling ends it as the group does");

            // A handler that panics.
            let caught = futures::executor::block_on(
                AssertUnwindSafe(layer.clone().layer(handler).oneshot(2)).catch_unwind(),
            );
            assert!(caught.is_err());
            let (g, c) = ends();
            assert_eq!(g, (0, 1, 1, 2), "panicked: group");
            assert_eq!(c, g, "panicked: the ceiling ends it as the group does");

            // A body dropped before its end.
            let response =
                futures::executor::block_on(layer.clone().layer(handler).oneshot(0)).unwrap();
            drop(response);
            let (g, c) = ends();
            assert_eq!(g, (0, 1, 1, 3), "body dropped: group");
            assert_eq!(c, g, "body dropped: the ceiling ends it as the group does");
        },
    );
}

/// A never-rejecting call that arrives while its group is paused waits for
/// `resume`, closed or not (as `shutdown`'s docs now say), so a shutdown
/// of a paused group reports it waiting at the deadline, and it runs once
/// the group is resumed.
#[test]
fn a_never_rejecting_call_in_a_paused_group_waits_for_resume_through_a_shutdown() {
    use pool_runtime::{Group, GroupSpec};
    static PAUSED: Group = Group::new(GroupSpec::new("round9::paused_never_rejecting").size(1));
    within(Duration::from_secs(10), || {
        PAUSED.pause();
        let mut waits = Task::new(PAUSED.submit_wait(0, async { 3 }));
        waits.assert_pending();
        let timed_out =
            futures::executor::block_on(PAUSED.pool().shutdown(Some(Duration::from_millis(20))))
                .expect_err("it waits for resume");
        assert_eq!(
            (timed_out.running, timed_out.turned_away, timed_out.waiting),
            (0, 0, 1),
            "{timed_out:?}"
        );
        waits.assert_pending();
        PAUSED.resume();
        assert_eq!(waits.assert_ready(), 3);
        futures::executor::block_on(PAUSED.pool().drained());
        assert_accounted(&PAUSED.stats());
    });
}

/// `PooledService`'s cancel safety: the wait of `poll_ready` is the
/// service's (as with tower's `ConcurrencyLimit`), so a `ready()` future
/// dropped while it waits leaves the service in the queue, a later
/// `poll_ready` goes on with the same wait (no second place in the queue),
/// a slot handed meanwhile is reserved for the service, and dropping the
/// service leaves the queue or frees the slot, as a cancelled call.
#[cfg(feature = "tower")]
#[test]
fn a_ready_future_dropped_while_it_waits_leaves_the_wait_to_its_service() {
    use pool_runtime::tower::{BoxError, PooledLayer};
    use tower::{service_fn, Layer, ServiceExt};
    let pool = fixed(1);
    let layer = PooledLayer::pool(pool.clone());
    let echo = service_fn(|()| async { Ok::<_, BoxError>(()) });

    // Dropped while waiting, then the service dropped: leaves the queue.
    let mut service = layer.clone().layer(echo);
    let held = pool.try_acquire().unwrap();
    let mut ready = Task::new(service.ready());
    ready.assert_pending();
    drop(ready);
    assert_eq!(pool.stats().waiting, 1, "the wait is the service's");
    drop(service);
    assert_eq!(
        pool.stats().waiting,
        0,
        "dropping the service leaves the queue"
    );

    // Dropped while waiting, then asked again: the same wait goes on.
    let mut service = layer.clone().layer(echo);
    let mut ready = Task::new(service.ready());
    ready.assert_pending();
    drop(ready);
    let submitted = pool.stats().submitted();
    let mut again = Task::new(service.ready());
    again.assert_pending();
    assert_eq!(
        pool.stats().submitted(),
        submitted,
        "no second place in the queue"
    );
    drop(again);
    drop(held);
    let stats = pool.stats();
    assert_eq!(
        (stats.running, stats.waiting),
        (1, 0),
        "reserved for the service: {stats:?}"
    );
    assert!(futures::executor::block_on(service.ready()).is_ok());
    drop(service);
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
    assert_eq!(stats.cancelled, 2, "{stats:?}");
    assert_accounted(&stats);
}

/// `SpawnHandle::abort`: a waiting or running call is cancelled (its slot or
/// place freed, counted cancelled) and the handle yields `Closed`; a call
/// that had already finished keeps its output.
#[cfg(feature = "tokio")]
#[test]
fn abort_cancels_a_waiting_or_running_spawned_call_and_keeps_a_finished_ones_output() {
    within(Duration::from_secs(10), || {
        let rt = common::runtime();
        rt.block_on(async {
            let pool = fixed(1);
            let done = pool.spawn(async { 5 }).unwrap();
            while !done.is_finished() {
                tokio::task::yield_now().await;
            }
            done.abort();
            assert_eq!(done.await, Ok(5), "a finished call keeps its output");

            let running = pool.spawn(std::future::pending::<()>()).unwrap();
            let waiting = pool.spawn(async {}).unwrap();
            while pool.stats().running != 1 || pool.stats().waiting != 1 {
                tokio::task::yield_now().await;
            }
            waiting.abort();
            running.abort();
            assert_eq!(waiting.await, Err(Rejected::Closed));
            assert_eq!(running.await, Err(Rejected::Closed));
            let stats = pool.stats();
            assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
            assert_eq!((stats.completed, stats.cancelled), (1, 2), "{stats:?}");
            assert_accounted(&stats);
        });
    });
}

/// Under a fleet limit of one (which the body's call holds), a held body of a
/// group layer that calls the group again runs that call under the body's
/// lease (the fleet counts top-level calls), instead of waiting for a second
/// lease no process could ever get. Against a real `redis-server`.
#[cfg(all(feature = "redis", feature = "tower"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_body_that_calls_the_group_under_a_fleet_limit_of_one_nests() {
    use http_body::{Body, Frame};
    use pool_runtime::fleet::OnUnreachable;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tower::{service_fn, Layer, ServiceExt};

    type GroupCall = Pin<Box<dyn Future<Output = Result<u8, Rejected>> + Send>>;
    struct CallsTheGroup(Option<GroupCall>);
    impl Body for CallsTheGroup {
        type Data = &'static [u8];
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<&'static [u8]>, BoxError>>> {
            let Some(call) = self.0.as_mut() else {
                return Poll::Ready(None);
            };
            let out = std::task::ready!(call.as_mut().poll(cx));
            self.0 = None;
            Poll::Ready(Some(
                out.map(|_| Frame::data(&b"row"[..])).map_err(Into::into),
            ))
        }
        fn is_end_stream(&self) -> bool {
            self.0.is_none()
        }
    }

    let server = redis_server::RedisServer::start();
    let group = redis_server::fleet_group("r9_body", &server, 1, OnUnreachable::Wait);
    let service = PooledLayer::group(group)
        .hold_until_body_ends()
        .layer(service_fn(move |()| async move {
            let call = CallsTheGroup(Some(Box::pin(group.submit(0, async { 1u8 }))));
            Ok::<_, BoxError>(http::Response::new(call))
        }));
    let outcome = tokio::time::timeout(Duration::from_secs(10), async {
        let mut body = service.oneshot(()).await.unwrap().into_body();
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        assert!(frame.unwrap().is_ok());
        assert!(!body.holds_slot());
    })
    .await;
    assert!(
        outcome.is_ok(),
        "the body's call waited for a second fleet lease"
    );
    let stats = group.stats();
    assert_eq!(
        (stats.running, stats.nested, stats.completed),
        (0, 0, 2),
        "{stats:?}"
    );
    let fleet = group.fleet_stats().unwrap();
    assert_eq!((fleet.held, fleet.waiting), (0, 0), "{fleet:?}");
    if let Some(fleet) = group.fleet() {
        let _ = tokio::time::timeout(Duration::from_secs(5), fleet.flush()).await;
    }
    redis_server::assert_no_fleet_keys(&server, "r9_body");
}

/// A pool resized to 0 holds every caller's place (tower services, a
/// stream's items, permits, plain submits), admits nothing, and once sized
/// back up serves them all within its new size, counted from outside.
#[cfg(all(feature = "tower", feature = "stream"))]
#[test]
fn scaled_to_zero_and_back_with_every_integration_waiting() {
    use futures::StreamExt;
    use pool_runtime::tower::{BoxError, PooledLayer};
    use pool_runtime::PooledStreamExt;
    use tower::{service_fn, Layer, ServiceExt};
    within(Duration::from_secs(10), || {
        let pool = fixed(2);
        let meter = Meter::default();
        assert_eq!(pool.resize(0), 0);
        let body = |m: Meter| async move {
            let _inside = m.enter();
            common::yield_now().await;
        };
        let services = (0..4).map(|_| {
            let m = meter.clone();
            PooledLayer::pool(pool.clone())
                .layer(service_fn(move |()| {
                    let m = m.clone();
                    async move {
                        body(m).await;
                        Ok::<(), BoxError>(())
                    }
                }))
                .oneshot(())
        });
        let mut all = Box::pin(async {
            let m = meter.clone();
            let stream = futures::stream::iter(0..6)
                .map(move |_| body(m.clone()))
                .pooled_unordered(&pool)
                .collect::<Vec<_>>();
            let permits = futures::future::join_all((0..3).map(|_| {
                let (pool, m) = (pool.clone(), meter.clone());
                async move {
                    let permit = pool.acquire_owned(0).await?;
                    body(m).await;
                    drop(permit);
                    Ok::<(), Rejected>(())
                }
            }));
            let submits =
                futures::future::join_all((0..3).map(|_| pool.submit(body(meter.clone()))));
            let (s, st, p, su) = futures::join!(
                futures::future::join_all(services),
                stream,
                permits,
                submits
            );
            assert!(s.iter().all(Result::is_ok));
            assert!(st.iter().all(Result::is_ok));
            assert!(p.iter().all(Result::is_ok));
            assert!(su.iter().all(Result::is_ok));
        });
        let mut task = Task::new(all.as_mut());
        for _ in 0..5 {
            task.assert_pending();
        }
        let stats = pool.stats();
        assert_eq!(stats.running, 0, "nothing admitted at size 0: {stats:?}");
        assert!(
            stats.waiting >= 4 + 1 + 3 + 3,
            "every caller holds a place: {stats:?}"
        );
        assert_eq!(meter.max(), 0);
        pool.resize(2);
        futures::executor::block_on(all);
        assert_eq!(meter.done(), 16);
        assert!(meter.max() <= 2, "{} bodies at once", meter.max());
        let stats = pool.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0), "{stats:?}");
        assert_accounted(&stats);
    });
}

/// README: "When a running call is cancelled, its work is dropped under its
/// slot, so a `Drop` that calls the same pool runs as a nested call instead
/// of waiting for a slot it holds itself." A held body is the call's work
/// (its frames run under the slot): dropped before its end, it is dropped
/// under its slot too, so a `Drop` of it that calls the pool (a sync call:
/// a drop cannot await) runs as a nested call on a full pool.
#[cfg(feature = "tower")]
#[test]
fn a_held_body_dropped_early_is_dropped_under_its_slot() {
    use http_body::{Body, Frame};
    use pool_runtime::tower::{BoxError, PermitBody};
    use std::pin::Pin;
    use std::task::{Context, Poll};

    struct CallsOnDrop(Pool, Meter);
    impl Body for CallsOnDrop {
        type Data = &'static [u8];
        type Error = BoxError;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<&'static [u8]>, BoxError>>> {
            Poll::Pending
        }
    }
    impl Drop for CallsOnDrop {
        fn drop(&mut self) {
            let meter = self.1.clone();
            self.0
                .run(|| drop(meter.enter()))
                .expect("a nested call of a closed or paused pool still runs");
        }
    }

    within(Duration::from_secs(5), || {
        let pool = fixed(1);
        let meter = Meter::default();
        let body = PermitBody::new(
            CallsOnDrop(pool.clone(), meter.clone()),
            pool.try_acquire_owned(0).unwrap(),
        );
        assert!(body.holds_slot());
        drop(body);
        assert_eq!(meter.done(), 1, "the drop's call ran");
        let stats = pool.stats();
        assert_eq!(
            (stats.running, stats.nested, stats.waiting),
            (0, 0, 0),
            "{stats:?}"
        );
        assert_eq!((stats.completed, stats.cancelled), (1, 1), "{stats:?}");
        assert_accounted(&stats);
    });
}

/// Calls their group turns away once they hold a ceiling slot (its waiting
/// bound is full) end alike for the ceiling on every call path.
#[cfg(all(feature = "config", feature = "tokio"))]
#[test]
fn calls_turned_away_by_their_group_end_alike_for_the_ceiling_on_every_path() {
    use pool_runtime::{config, Group, GroupSpec};
    static BOUNDED: Group = Group::new(
        GroupSpec::new("round9::ceiling_bounded")
            .size(1)
            .max_waiting(0),
    );
    common::in_child_process(
        "calls_turned_away_by_their_group_end_alike_for_the_ceiling_on_every_path",
        &[],
        || {
            config::load_str("app.toml", "ceiling = 4\n").unwrap();
            let rt = common::runtime();
            let holder = BOUNDED.try_acquire_owned(0).unwrap();
            let c0 = pool_runtime::ceiling::stats().unwrap();
            let mut ends = Vec::new();
            let mut end = |path: &str, answer: Result<(), Rejected>| {
                assert_eq!(answer, Err(Rejected::Full), "{path}");
                let c = pool_runtime::ceiling::stats().unwrap();
                ends.push((path.to_owned(), c.completed, c.cancelled));
            };
            end(
                "submit",
                futures::executor::block_on(BOUNDED.submit(0, async {})),
            );
            end(
                "acquire_owned",
                futures::executor::block_on(BOUNDED.acquire_owned(0)).map(drop),
            );
            end("try_acquire_owned", BOUNDED.try_acquire_owned(0).map(drop));
            end("run", BOUNDED.run(|| ()));
            end(
                "submit_blocking",
                rt.block_on(BOUNDED.submit_blocking(0, || ())),
            );
            let c = pool_runtime::ceiling::stats().unwrap();
            assert_eq!(c.running, 1, "{c:?}");
            let completed = c.completed - c0.completed;
            let cancelled = c.cancelled - c0.cancelled;
            assert!(
                completed == 5 || cancelled == 5,
                "every path ends the same way for the ceiling: {ends:?}"
            );
            drop(holder);
            assert_accounted(&pool_runtime::ceiling::stats().unwrap());
        },
    );
}
