//! [`PooledService`]: a slot reserved in `poll_ready` and moved into the
//! response future by `call` (tower's `ConcurrencyLimit`), or, with a
//! weight per request, waited for in the response future.

use super::future::{ResponseFuture, WeightedResponseFuture};
use super::layer::PooledLayer;
use super::policy::{ConstantWeight, Hold, Judge, NoOverload, UntilResponse, WeightFn};
use super::{Acquired, Acquiring, Admission, BoxError};
use crate::call::permit::OwnedPermit;
use crate::pool::rejected::Rejected;
use std::fmt;
use std::mem;
use std::task::{Context, Poll};
use tower_service::Service;

/// A service whose calls each hold a slot of a pool or a group while they
/// run; made by [`PooledLayer`].
///
/// With a constant weight (the default), `poll_ready` reserves a slot —
/// waiting for one, or in [`reject`](PooledLayer::reject) mode taking one
/// only if it is free now — and then polls the inner service's readiness;
/// `call` moves the slot into the [`ResponseFuture`], which releases it
/// when it completes or is dropped (or hands it to the response body, with
/// [`hold_until_body_ends`](PooledLayer::hold_until_body_ends)). A clone
/// starts without a slot, so clones that never call hold nothing. With a
/// [`weight`](PooledLayer::weight) function the call waits in its
/// [`WeightedResponseFuture`] instead.
///
/// A refusal by the pool ([`Rejected`](crate::Rejected) in the
/// [`BoxError`]) fails that one call: `poll_ready` returns `Ready(Ok(()))`
/// and `call` returns a future that fails at once without calling the
/// inner service, which stays usable. `poll_ready` fails only when the
/// inner service's does.
///
/// # Cancel safety
///
/// Dropping the service while `poll_ready` waits leaves the pool's queue at
/// once. The wait belongs to the service, not to the future polling it (as
/// with tower's `ConcurrencyLimit`): dropping a `ready()` future leaves the
/// service in the queue, and the next `poll_ready` goes on with that wait;
/// a slot it is handed meanwhile stays reserved for the service's next
/// call. A `poll_ready` that unwinds while it waits (a waker whose `clone`
/// panics) ends that wait, as a cancelled call; the next `poll_ready` starts
/// a new one. Dropping a service that holds a reserved slot (ready but not
/// called) releases the slot, as a cancelled call; so does dropping a
/// response future before it finishes (after dropping the inner future
/// under the slot). Neither counts as a latency sample for an adaptive
/// pool.
///
/// # Panics
///
/// With a constant weight, `call` panics if `poll_ready` has not returned
/// `Ready(Ok(()))` since the last call (the `tower::Service` contract).
///
/// # Examples
///
/// ```
/// use pool_runtime::tower::{BoxError, PooledLayer};
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # futures::executor::block_on(async {
/// let pool = pool_runtime::Pool::builder().size(1).build()?;
/// let mut service = PooledLayer::pool(pool.clone())
///     .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n + 1) }));
/// let idle = service.clone();
///
/// service.ready().await?;
/// assert_eq!(pool.stats().running, 1, "reserved in poll_ready");
/// let response = service.call(1);
/// drop(idle); // a clone that never called held nothing
/// assert_eq!(response.await?, 2);
/// assert_eq!(pool.stats().running, 0, "released with the response");
/// # Ok::<(), BoxError>(())
/// # }).unwrap();
/// ```
pub struct PooledService<S, W = ConstantWeight, O = NoOverload, H = UntilResponse> {
    // Dropped first: a reserved slot is given back before the inner
    // service is dropped, whose `Drop` may call the same pool.
    reservation: Reservation,
    config: PooledLayer<W, O, H>,
    inner: S,
}

/// A constant-weight service's slot for its next call.
enum Reservation {
    /// Nothing reserved: a new service, a clone, or one just called.
    None,
    /// `poll_ready` is waiting for a slot.
    Acquiring(Acquiring),
    /// A slot for the next call.
    Held(Reserved),
    /// The pool refused the next call; `call` returns this.
    Refused(Rejected),
}

impl<S, W, O, H> PooledService<S, W, O, H> {
    pub(super) fn new(inner: S, config: PooledLayer<W, O, H>) -> Self {
        PooledService {
            reservation: Reservation::None,
            config,
            inner,
        }
    }

    /// The inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::tower::PooledLayer;
    /// use tower::Layer;
    ///
    /// let pool = pool_runtime::Pool::builder().build()?;
    /// let service = PooledLayer::pool(pool).layer("inner");
    /// assert_eq!(*service.get_ref(), "inner");
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::tower::PooledLayer;
    /// use tower::Layer;
    ///
    /// let pool = pool_runtime::Pool::builder().build()?;
    /// let mut service = PooledLayer::pool(pool).layer(1);
    /// *service.get_mut() += 1;
    /// assert_eq!(*service.get_ref(), 2);
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service; a slot reserved for the next call is released.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::tower::PooledLayer;
    /// use tower::Layer;
    ///
    /// let pool = pool_runtime::Pool::builder().build()?;
    /// assert_eq!(PooledLayer::pool(pool).layer("inner").into_inner(), "inner");
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req, O, H> Service<Req> for PooledService<S, ConstantWeight, O, H>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    O: Judge<S::Response, S::Error> + Clone,
    H: Hold<S::Response> + Clone,
{
    type Response = H::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, O, H>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if let Reservation::Refused(_) = self.reservation {
            // A refusal is the next call's, not a state: asked again, ask
            // the pool again.
            self.reservation = Reservation::None;
        }
        loop {
            let weight = self.config.weight.0;
            self.reservation = match &mut self.reservation {
                Reservation::None => match self.config.admission {
                    Admission::Wait => match self.config.limit.acquire(weight) {
                        Acquired::Now(permit) => Reservation::Held(Reserved(Some(permit))),
                        Acquired::Later(acquiring) => Reservation::Acquiring(acquiring),
                    },
                    Admission::Reject => self.config.limit.try_acquire(weight).into(),
                },
                Reservation::Acquiring(_) => {
                    // Out of the service while it is polled: a poll that
                    // unwinds (a waker whose `clone` panics) leaves the
                    // wait poisoned, dropped here as the panic passes (the
                    // call counted cancelled), and the next `poll_ready`
                    // starts a new one instead of resuming it.
                    let Reservation::Acquiring(mut acquiring) =
                        mem::replace(&mut self.reservation, Reservation::None)
                    else {
                        unreachable!("matched above")
                    };
                    match acquiring.as_mut().poll(cx) {
                        Poll::Ready(acquired) => acquired.into(),
                        Poll::Pending => {
                            self.reservation = Reservation::Acquiring(acquiring);
                            return Poll::Pending;
                        }
                    }
                }
                Reservation::Held(reserved) => {
                    // In the reserved slot's frame, as `call` and the
                    // weighted service ready theirs: a layer of the same
                    // pool inside (one on the router and one on a route)
                    // makes a nested call, not a second wait for a slot
                    // this one holds.
                    let inner = &mut self.inner;
                    let ready = match reserved.get_mut() {
                        Some(permit) => permit.in_frame(|| inner.poll_ready(cx)),
                        None => inner.poll_ready(cx),
                    };
                    if let Poll::Ready(Err(_)) = ready {
                        // A failed service is never called: free its slot.
                        self.reservation = Reservation::None;
                    }
                    return ready.map_err(Into::into);
                }
                Reservation::Refused(_) => return Poll::Ready(Ok(())),
            };
        }
    }

    fn call(&mut self, request: Req) -> Self::Future {
        match mem::replace(&mut self.reservation, Reservation::None) {
            // The inner service's `call` runs as the permit's work too (a
            // call of the same pool made while it builds its future is a
            // nested call), as the response future's polls do.
            Reservation::Held(mut reserved) => {
                let permit = reserved.take();
                ResponseFuture::called(
                    permit.in_frame(|| self.inner.call(request)),
                    permit,
                    self.config.overload.clone(),
                    self.config.hold.clone(),
                )
            }
            Reservation::Refused(rejected) => ResponseFuture::failed(rejected.into()),
            Reservation::None | Reservation::Acquiring(_) => {
                panic!("PooledService::call without a slot: poll_ready must return Ready(Ok) first")
            }
        }
    }
}

impl<S, Req, F, O, H> Service<Req> for PooledService<S, WeightFn<F>, O, H>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    F: Fn(&Req) -> i64,
    O: Judge<S::Response, S::Error> + Clone,
    H: Hold<S::Response> + Clone,
{
    type Response = H::Response;
    type Error = BoxError;
    type Future = WeightedResponseFuture<S, Req, O, H>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self.config.admission {
            // The call waits for its slot, then for a clone's readiness.
            Admission::Wait => Poll::Ready(Ok(())),
            Admission::Reject => self.inner.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let weight = (self.config.weight.0)(&request);
        let overload = self.config.overload.clone();
        let hold = self.config.hold.clone();
        match self.config.admission {
            Admission::Wait => WeightedResponseFuture::admitting(
                self.config.limit.acquire(weight),
                self.inner.clone(),
                request,
                overload,
                hold,
            ),
            Admission::Reject => {
                WeightedResponseFuture::responding(match self.config.limit.try_acquire(weight) {
                    Ok(permit) => ResponseFuture::called(
                        permit.in_frame(|| self.inner.call(request)),
                        permit,
                        overload,
                        hold,
                    ),
                    Err(rejected) => ResponseFuture::failed(rejected.into()),
                })
            }
        }
    }
}

/// A slot reserved for a call not yet made (the next call of a service, or
/// a weighted response future's while it readies its inner service).
/// Released unused (the service or the future dropped, turned back into its
/// inner service, or its inner service failed before a call), it ends as a
/// cancelled call and is no latency sample.
pub(super) struct Reserved(Option<OwnedPermit>);

impl Reserved {
    pub(super) fn new(permit: OwnedPermit) -> Self {
        Reserved(Some(permit))
    }

    /// The slot, while it is reserved.
    pub(super) fn get_mut(&mut self) -> Option<&mut OwnedPermit> {
        self.0.as_mut()
    }

    /// The slot, for the call that takes it.
    pub(super) fn take(&mut self) -> OwnedPermit {
        self.0
            .take()
            .expect("a reservation holds its permit until taken")
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if let Some(mut permit) = self.0.take() {
            permit.unfinished();
        }
    }
}

impl From<Result<OwnedPermit, Rejected>> for Reservation {
    fn from(acquired: Result<OwnedPermit, Rejected>) -> Self {
        match acquired {
            Ok(permit) => Reservation::Held(Reserved(Some(permit))),
            Err(rejected) => Reservation::Refused(rejected),
        }
    }
}

impl<S: Clone, W: Clone, O: Clone, H: Clone> Clone for PooledService<S, W, O, H> {
    /// A clone with the same inner service and pool, without a reserved
    /// slot (tower's `ConcurrencyLimit` does the same): a slot is one call's.
    fn clone(&self) -> Self {
        PooledService::new(self.inner.clone(), self.config.clone())
    }
}

impl<S: fmt::Debug, W: fmt::Debug, O: fmt::Debug, H: fmt::Debug> fmt::Debug
    for PooledService<S, W, O, H>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledService")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("reservation", &self.reservation)
            .finish()
    }
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reservation::None => f.write_str("None"),
            Reservation::Acquiring(_) => f.write_str("Acquiring"),
            Reservation::Held(Reserved(permit)) => f.debug_tuple("Held").field(permit).finish(),
            Reservation::Refused(rejected) => f.debug_tuple("Refused").field(rejected).finish(),
        }
    }
}
