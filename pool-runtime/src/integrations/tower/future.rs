//! The response futures: a call holding its slot ([`ResponseFuture`], tower's
//! `ResponseFuture` with a judge and a hold policy), and a call that waits
//! for its slot first ([`WeightedResponseFuture`]).

use super::policy::{Hold, Judge, NoOverload, UntilResponse};
use super::service::Reserved;
use super::{Acquired, Acquiring, BoxError};
use crate::call::permit::OwnedPermit;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tower_service::Service;

const POLLED_AFTER_COMPLETION: &str = "a pooled response future was polled after it completed";

pin_project! {
    /// The response future of a [`PooledService`](super::PooledService): the
    /// inner service's, holding the call's slot; or a call the pool
    /// refused, which fails on its first poll.
    ///
    /// When the inner future completes, the result is judged for an
    /// adaptive pool ([`PooledLayer::overload`](super::PooledLayer::overload))
    /// and the slot released, or handed to the response body
    /// ([`PooledLayer::hold_until_body_ends`](super::PooledLayer::hold_until_body_ends)).
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the inner future, under the slot (so a `Drop` in
    /// it that calls the same pool runs as a nested call), then releases
    /// the slot (no latency sample for an adaptive pool).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::tower::{BoxError, PooledLayer, ResponseFuture};
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = pool_runtime::Pool::builder().size(1).build()?;
    /// let mut service = PooledLayer::pool(pool.clone())
    ///     .layer(service_fn(|()| std::future::pending::<Result<(), BoxError>>()));
    /// service.ready().await?;
    /// let response: ResponseFuture<_> = service.call(());
    /// assert_eq!(pool.stats().running, 1);
    /// drop(response);
    /// assert_eq!(pool.stats().running, 0, "released on drop");
    /// # Ok::<(), BoxError>(())
    /// # }).unwrap();
    /// ```
    pub struct ResponseFuture<F, O = NoOverload, H = UntilResponse> {
        #[pin]
        state: State<F, O, H>,
    }

    impl<F, O, H> PinnedDrop for ResponseFuture<F, O, H> {
        fn drop(this: Pin<&mut Self>) {
            // Cancelled while the inner future runs: it is dropped under
            // the call's slot (as a submit's work is), so a `Drop` in it
            // that calls the same pool runs as a nested call instead of
            // waiting for the slot this response still holds.
            if let StateProj::Called {
                mut future,
                permit: Some(permit),
                ..
            } = this.project().state.project()
            {
                permit.in_frame(|| future.set(None));
                // A call that did not finish: cancelled, no latency sample.
                permit.unfinished();
            }
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, O, H> {
        Called {
            // `None` only once dropped (see `ResponseFuture`'s drop).
            #[pin]
            future: Option<F>,
            permit: Option<OwnedPermit>,
            overload: O,
            hold: H,
        },
        Failed {
            error: Option<BoxError>,
        },
    }
}

impl<F, O, H> ResponseFuture<F, O, H> {
    pub(super) fn called(future: F, permit: OwnedPermit, overload: O, hold: H) -> Self {
        ResponseFuture {
            state: State::Called {
                future: Some(future),
                permit: Some(permit),
                overload,
                hold,
            },
        }
    }

    pub(super) fn failed(error: BoxError) -> Self {
        ResponseFuture {
            state: State::Failed { error: Some(error) },
        }
    }
}

impl<F, T, E, O, H> Future for ResponseFuture<F, O, H>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    O: Judge<T, E>,
    H: Hold<T>,
{
    type Output = Result<H::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called {
                mut future,
                permit,
                overload,
                hold,
            } => {
                // Polled as the permit's work: calls of the same pool made
                // by the inner service run under its slot (the reentrancy
                // rule), instead of waiting for a second one.
                // A panic of the inner future makes this a panicked call.
                let held = permit.as_mut().expect(POLLED_AFTER_COMPLETION);
                let inner = future.as_mut().as_pin_mut().expect(POLLED_AFTER_COMPLETION);
                let result = ready!(held.poll_work(|| inner.poll(cx)));
                // The spent inner future goes now, under the slot (not with
                // this future, maybe long after, while a body holds the
                // slot): a `Drop` of a hand-written future that calls the
                // same pool is a nested call.
                held.poll_work(|| future.set(None));
                // The predicate is the user's code, run while the response
                // holds the slot: as the work too (a call of the same pool
                // there is nested), as a `submit_judged` judge is.
                let verdict = held.poll_work(|| overload.verdict(&result));
                let mut permit = permit.take().expect(POLLED_AFTER_COMPLETION);
                permit.set_verdict(verdict);
                Poll::Ready(match result {
                    Ok(response) => Ok(hold.hold(response, permit)),
                    Err(error) => Err(error.into()),
                })
            }
            StateProj::Failed { error } => {
                // A refusal is answered within the task's cooperative budget,
                // as a refused pool call is (see `Rejected`), so a client
                // that retries a refusing service in a loop lets the task
                // that would free a slot run.
                ready!(crate::call::charge(cx));
                Poll::Ready(Err(error.take().expect(POLLED_AFTER_COMPLETION)))
            }
        }
    }
}

impl<F: fmt::Debug, O: fmt::Debug, H: fmt::Debug> fmt::Debug for ResponseFuture<F, O, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            State::Called {
                future,
                permit,
                overload,
                hold,
            } => f
                .debug_struct("ResponseFuture")
                .field("future", future)
                .field("permit", permit)
                .field("overload", overload)
                .field("hold", hold)
                .finish(),
            State::Failed { error } => f
                .debug_struct("ResponseFuture")
                .field("error", error)
                .finish(),
        }
    }
}

pin_project! {
    /// The response future of a [`PooledService`](super::PooledService) with
    /// a weight per request ([`PooledLayer::weight`](super::PooledLayer::weight)):
    /// waits for a slot in the pool's order with the request's weight, then
    /// drives a clone of the inner service to readiness, calls it, and goes
    /// on as a [`ResponseFuture`].
    ///
    /// # Cancel safety
    ///
    /// Dropped while it waits for a slot, the call leaves the pool's queue at
    /// once; dropped later, it releases the slot it holds, as a cancelled
    /// call (no latency sample), as a dropped [`ResponseFuture`] does. A slot
    /// whose inner service fails to get ready is released the same way: the
    /// service was never called.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::tower::{BoxError, PooledLayer};
    /// use pool_runtime::{Order, Pool};
    /// use tower::{service_fn, Layer, Service};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::builder().order(Order::Priority).size(1).build()?;
    /// let mut service = PooledLayer::pool(pool.clone())
    ///     .weight(|n: &i64| *n)
    ///     .layer(service_fn(|n: i64| async move { Ok::<_, BoxError>(n) }));
    ///
    /// let held = pool.try_acquire()?;
    /// let mut late = Box::pin(service.call(5));
    /// let mut urgent = Box::pin(service.call(1));
    /// assert!(futures::poll!(late.as_mut()).is_pending(), "queued with weight 5");
    /// assert!(futures::poll!(urgent.as_mut()).is_pending(), "queued with weight 1");
    /// drop(held);
    /// assert!(futures::poll!(late.as_mut()).is_pending(), "the smaller weight goes first");
    /// assert_eq!(urgent.await?, 1);
    /// assert_eq!(late.await?, 5);
    /// # Ok::<(), BoxError>(())
    /// # }).unwrap();
    /// ```
    pub struct WeightedResponseFuture<S, Req, O = NoOverload, H = UntilResponse>
    where
        S: Service<Req>,
    {
        #[pin]
        stage: Stage<S, Req, S::Future, O, H>,
    }
}

pin_project! {
    #[project = StageProj]
    enum Stage<S, Req, F, O, H> {
        Admitting {
            acquiring: Acquiring,
            call: Option<Deferred<S, Req, O, H>>,
        },
        Readying {
            // Released unused (the future dropped, or the inner service
            // failed before a call): a cancelled call, as a service's
            // reservation is.
            permit: Reserved,
            call: Option<Deferred<S, Req, O, H>>,
        },
        Responding {
            #[pin]
            future: ResponseFuture<F, O, H>,
        },
    }
}

/// A call made once the slot is held and the service ready.
struct Deferred<S, Req, O, H> {
    service: S,
    request: Req,
    overload: O,
    hold: H,
}

impl<S: Service<Req>, Req, O, H> WeightedResponseFuture<S, Req, O, H> {
    pub(super) fn admitting(
        acquired: Acquired,
        service: S,
        request: Req,
        overload: O,
        hold: H,
    ) -> Self {
        let call = Some(Deferred {
            service,
            request,
            overload,
            hold,
        });
        WeightedResponseFuture {
            stage: match acquired {
                Acquired::Now(permit) => Stage::Readying {
                    permit: Reserved::new(permit),
                    call,
                },
                Acquired::Later(acquiring) => Stage::Admitting { acquiring, call },
            },
        }
    }

    pub(super) fn responding(future: ResponseFuture<S::Future, O, H>) -> Self {
        WeightedResponseFuture {
            stage: Stage::Responding { future },
        }
    }
}

impl<S, Req, O, H> Future for WeightedResponseFuture<S, Req, O, H>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    O: Judge<S::Response, S::Error>,
    H: Hold<S::Response>,
{
    type Output = Result<H::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut stage = self.project().stage;
        loop {
            let next = match stage.as_mut().project() {
                StageProj::Admitting { acquiring, call } => {
                    match ready!(acquiring.as_mut().poll(cx)) {
                        Ok(permit) => Stage::Readying {
                            permit: Reserved::new(permit),
                            call: call.take(),
                        },
                        Err(rejected) => Stage::Responding {
                            future: ResponseFuture::failed(rejected.into()),
                        },
                    }
                }
                StageProj::Readying { permit, call } => {
                    let deferred = call.as_mut().expect(POLLED_AFTER_COMPLETION);
                    let held = permit.get_mut().expect(POLLED_AFTER_COMPLETION);
                    // The inner service's readiness and its `call` run as the
                    // permit's work, as the response's polls do (a call of
                    // the same pool made there is a nested call; a panic
                    // there makes this a panicked call).
                    match ready!(held.poll_work(|| deferred.service.poll_ready(cx))) {
                        Ok(()) => {
                            let Deferred {
                                mut service,
                                request,
                                overload,
                                hold,
                            } = call.take().expect(POLLED_AFTER_COMPLETION);
                            let permit = permit.take();
                            Stage::Responding {
                                future: ResponseFuture::called(
                                    // The clone goes under the slot too: its
                                    // `Drop` may call the same pool.
                                    permit.in_frame(move || {
                                        let future = service.call(request);
                                        drop(service);
                                        future
                                    }),
                                    permit,
                                    overload,
                                    hold,
                                ),
                            }
                        }
                        // The slot is released as this stage is replaced:
                        // a cancelled call (the service was never called).
                        Err(error) => Stage::Responding {
                            future: ResponseFuture::failed(error.into()),
                        },
                    }
                }
                StageProj::Responding { future } => return future.poll(cx),
            };
            stage.set(next);
        }
    }
}

impl<S, Req, O, H> fmt::Debug for WeightedResponseFuture<S, Req, O, H>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match &self.stage {
            Stage::Admitting { .. } => "admitting",
            Stage::Readying { .. } => "readying",
            Stage::Responding { .. } => "responding",
        };
        f.debug_struct("WeightedResponseFuture")
            .field("stage", &stage)
            .finish_non_exhaustive()
    }
}
