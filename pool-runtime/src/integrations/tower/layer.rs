//! [`PooledLayer`]: the configuration, and the builder that sets it.

use super::policy::{
    ConstantWeight, NoOverload, OverloadFn, UntilBodyEnds, UntilResponse, WeightFn,
};
use super::service::PooledService;
use super::{Admission, Limit};
use crate::group::Group;
use crate::pool::Pool;
use tower_layer::Layer;

/// Wraps services in a [`PooledService`]: each call holds a slot of a
/// [`Pool`] or a [`Group`] while it runs.
///
/// Every service the layer makes, and their clones, share the pool or
/// group (like tower's `GlobalConcurrencyLimitLayer`). By default a call
/// waits for a slot in `poll_ready`, with weight 0, releases it when its
/// response future completes, and feeds an adaptive pool a success for
/// every finished call; the builder methods change each of these.
///
/// Type parameters: where a call's weight comes from (`W`: [`ConstantWeight`]
/// or [`WeightFn`]), how a result is judged (`O`: [`NoOverload`] or
/// [`OverloadFn`]), and how long a response holds its slot (`H`:
/// [`UntilResponse`] or [`UntilBodyEnds`]).
///
/// # Examples
///
/// A bulkhead shared by two services, one of which sheds load:
///
/// ```
/// use pool_runtime::tower::{BoxError, PooledLayer};
/// use pool_runtime::{Group, GroupSpec, Rejected};
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// static BACKEND: Group = Group::new(GroupSpec::new("docs::backend").size(1));
///
/// # futures::executor::block_on(async {
/// let echo = service_fn(|s: &'static str| async move { Ok::<_, BoxError>(s) });
/// let mut waits = PooledLayer::group(&BACKEND).layer(echo);
/// let sheds = PooledLayer::group(&BACKEND).reject().layer(echo);
///
/// waits.ready().await?; // holds BACKEND's only slot until called
/// let error = sheds.oneshot("shed").await.unwrap_err();
/// assert_eq!(error.downcast_ref::<Rejected>(), Some(&Rejected::Full));
/// assert_eq!(waits.call("served").await?, "served");
/// # Ok::<(), BoxError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct PooledLayer<W = ConstantWeight, O = NoOverload, H = UntilResponse> {
    pub(super) limit: Limit,
    pub(super) admission: Admission,
    pub(super) weight: W,
    pub(super) overload: O,
    pub(super) hold: H,
}

impl PooledLayer {
    /// A layer whose calls hold slots of `pool` (a handle: the layer, its
    /// services and `pool` share one pool).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::tower::PooledLayer;
    /// use pool_runtime::Pool;
    ///
    /// let pool = Pool::builder().size(4).build()?;
    /// let layer = PooledLayer::pool(pool.clone());
    /// # let _ = layer;
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn pool(pool: Pool) -> Self {
        PooledLayer::new(Limit::Pool(pool))
    }

    /// A layer whose calls hold slots of `group` (under the application-wide
    /// ceiling too, if one is set), shared with every other user of the
    /// group: `#[pooled]` functions, other layers.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::tower::PooledLayer;
    /// use pool_runtime::{Group, GroupSpec};
    ///
    /// static DATABASE: Group = Group::new(GroupSpec::new("docs::database").size(16));
    /// let layer = PooledLayer::group(&DATABASE);
    /// # let _ = layer;
    /// ```
    pub fn group(group: &'static Group) -> Self {
        PooledLayer::new(Limit::Group(group))
    }

    fn new(limit: Limit) -> Self {
        PooledLayer {
            limit,
            admission: Admission::Wait,
            weight: ConstantWeight(0),
            overload: NoOverload,
            hold: UntilResponse,
        }
    }
}

impl<W, O, H> PooledLayer<W, O, H> {
    /// A call waits in the pool's queue for a slot (the default): in
    /// `poll_ready`, or, with a [`weight`](PooledLayer::weight) function,
    /// in the response future. The pool's own refusals (paused, closed, a
    /// full queue, an admission timeout) still fail the call.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::tower::PooledLayer;
    ///
    /// let pool = pool_runtime::Pool::builder().build()?;
    /// let layer = PooledLayer::pool(pool).reject().wait();
    /// # let _ = layer;
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn wait(mut self) -> Self {
        self.admission = Admission::Wait;
        self
    }

    /// A call that finds no free slot fails at once with
    /// [`Rejected::Full`](crate::Rejected::Full), without waiting or
    /// queueing: load shedding. The slot is taken in `poll_ready` (in
    /// `call`, with a [`weight`](PooledLayer::weight) function); the inner
    /// service's readiness is polled as usual, so only the pool sheds. The
    /// failing response future answers within its tokio task's cooperative
    /// budget, as a refused pool call does ([`Rejected`](crate::Rejected),
    /// "Retrying in a loop"): a client that retries in a loop lets the task
    /// holding a slot run.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::tower::{BoxError, PooledLayer};
    /// use pool_runtime::Rejected;
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = pool_runtime::Pool::builder().size(1).build()?;
    /// let service = PooledLayer::pool(pool.clone())
    ///     .reject()
    ///     .layer(service_fn(|()| async { Ok::<_, BoxError>(()) }));
    ///
    /// let _held = pool.try_acquire()?;
    /// let error = service.oneshot(()).await.unwrap_err();
    /// assert_eq!(error.downcast_ref::<Rejected>(), Some(&Rejected::Full));
    /// # Ok::<(), BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn reject(mut self) -> Self {
        self.admission = Admission::Reject;
        self
    }

    /// Every call has weight `weight` in a priority pool (smaller first);
    /// the slot is reserved in `poll_ready`. Two layers on one group with
    /// different weights rank urgent traffic before batch traffic.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::tower::PooledLayer;
    /// use pool_runtime::{Group, GroupSpec, Order};
    ///
    /// static API: Group = Group::new(GroupSpec::new("docs::api").order(Order::Priority));
    /// let interactive = PooledLayer::group(&API).constant_weight(0);
    /// let batch = PooledLayer::group(&API).constant_weight(10);
    /// # let _ = (interactive, batch);
    /// ```
    pub fn constant_weight(self, weight: i64) -> PooledLayer<ConstantWeight, O, H> {
        PooledLayer {
            limit: self.limit,
            admission: self.admission,
            weight: ConstantWeight(weight),
            overload: self.overload,
            hold: self.hold,
        }
    }

    /// Each call's weight in a priority pool is `weight(&request)`
    /// (smaller first; FIFO and LIFO pools ignore weights).
    ///
    /// A slot cannot be reserved in `poll_ready`, before the request is
    /// known, so with a weight function the call waits for its slot in the
    /// response future, in the pool's order, and only then drives a clone
    /// of the inner service to readiness and calls it (the inner service
    /// must be `Clone`, as for tower's `Oneshot`). `poll_ready` is ready at
    /// once; the pool's queue is the backlog (bound it with
    /// [`max_waiting`](crate::PoolBuilder::max_waiting)). In
    /// [`reject`](PooledLayer::reject) mode nothing waits: `poll_ready` is
    /// the inner service's and `call` takes a slot or fails.
    ///
    /// Annotate the closure's argument type (`|request: &Request<_>|`).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::tower::PooledLayer;
    /// use pool_runtime::{Order, Pool};
    ///
    /// struct Job { urgent: bool }
    ///
    /// let pool = Pool::builder().order(Order::Priority).build()?;
    /// let layer = PooledLayer::pool(pool).weight(|job: &Job| if job.urgent { 0 } else { 10 });
    /// # let _ = layer;
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn weight<F>(self, weight: F) -> PooledLayer<WeightFn<F>, O, H> {
        PooledLayer {
            limit: self.limit,
            admission: self.admission,
            weight: WeightFn(weight),
            overload: self.overload,
            hold: self.hold,
        }
    }

    /// Judges each finished call for an adaptive pool
    /// ([`ScalePolicy::Adaptive`](crate::ScalePolicy::Adaptive)): a result
    /// `is_overload` accepts (a 503, a timeout) is a
    /// [`Verdict::Overload`](crate::Verdict::Overload), which cuts the
    /// limit; any other success is a latency sample, and any other error is
    /// ignored. Without it every finished call is a success. Other pools
    /// ignore verdicts; a call dropped before it finished is no sample.
    ///
    /// The result is the inner service's, before errors are boxed; annotate
    /// the closure's argument type.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::tower::PooledLayer;
    /// use pool_runtime::{AdaptiveSettings, Kind, Pool, ScalePolicy};
    ///
    /// let pool = Pool::builder()
    ///     .kind(Kind::Autoscale)
    ///     .min(2)
    ///     .max(64)
    ///     .scale_policy(ScalePolicy::Adaptive(AdaptiveSettings::default()))
    ///     .build()?;
    /// let layer = PooledLayer::pool(pool).overload(|result: &Result<u16, std::io::Error>| {
    ///     matches!(result, Ok(503)) || matches!(result, Err(e) if e.kind() == std::io::ErrorKind::TimedOut)
    /// });
    /// # let _ = layer;
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn overload<F>(self, is_overload: F) -> PooledLayer<W, OverloadFn<F>, H> {
        PooledLayer {
            limit: self.limit,
            admission: self.admission,
            weight: self.weight,
            overload: OverloadFn(is_overload),
            hold: self.hold,
        }
    }

    /// An `http::Response`'s slot is held by its body ([`PermitBody`](super::PermitBody))
    /// until the body's last frame, a body error, or the body's drop,
    /// instead of being released when the response head is ready: for
    /// streaming responses, whose work goes on while the body is sent. The
    /// service's response becomes `http::Response<PermitBody<B>>`. For an
    /// adaptive pool the call's latency then runs to the body's end; a body
    /// dropped or broken before its end is no sample. A response with no
    /// content by its status (1xx, 204, 304) ends with its head; a `HEAD`
    /// answer's body is not told apart (see [`UntilBodyEnds`](super::UntilBodyEnds)).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::tower::{BoxError, PooledLayer};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # futures::executor::block_on(async {
    /// let pool = pool_runtime::Pool::builder().size(1).build()?;
    /// let stream = service_fn(|()| async { Ok::<_, BoxError>(http::Response::new(String::from("body"))) });
    /// let service = PooledLayer::pool(pool.clone()).hold_until_body_ends().layer(stream);
    ///
    /// let response = service.oneshot(()).await?;
    /// assert_eq!(pool.stats().running, 1, "the body holds the slot");
    /// drop(response);
    /// assert_eq!(pool.stats().running, 0);
    /// # Ok::<(), BoxError>(())
    /// # }).unwrap();
    /// ```
    pub fn hold_until_body_ends(self) -> PooledLayer<W, O, UntilBodyEnds> {
        PooledLayer {
            limit: self.limit,
            admission: self.admission,
            weight: self.weight,
            overload: self.overload,
            hold: UntilBodyEnds,
        }
    }
}

impl<S, W: Clone, O: Clone, H: Clone> Layer<S> for PooledLayer<W, O, H> {
    type Service = PooledService<S, W, O, H>;

    fn layer(&self, inner: S) -> Self::Service {
        PooledService::new(inner, self.clone())
    }
}
