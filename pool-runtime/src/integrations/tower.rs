//! A tower [`Layer`](tower_layer::Layer) and
//! [`Service`](tower_service::Service) over a [`Pool`] or a [`Group`]
//! (feature `tower`): a bulkhead in front of a server, or a limit on the
//! calls a client makes, with the pool's order, rejections, accounting and
//! autoscaling.
//!
//! [`PooledLayer`] wraps a service in a [`PooledService`]. By default a
//! slot is reserved in `poll_ready`, as tower's `ConcurrencyLimit` does,
//! and released when the response future completes or is dropped:
//!
//! * [`reject`](PooledLayer::reject): no waiting; a call finding no free
//!   slot fails at once with [`Rejected::Full`] (the load shedding
//!   tower#793 asks of `ConcurrencyLimit`).
//! * [`weight`](PooledLayer::weight): a weight per request for a priority
//!   pool; the call then waits in the response future, where the request
//!   is known.
//! * [`overload`](PooledLayer::overload): tells an adaptive pool which
//!   responses mean the server is overloaded.
//! * [`hold_until_body_ends`](PooledLayer::hold_until_body_ends): an
//!   `http::Response` holds its slot until its body ends ([`PermitBody`]).
//!
//! The service's error is a [`BoxError`], as with tower's own middleware: a
//! pool's refusal is a [`Rejected`] inside it (paused, closed, full queue,
//! admission timeout, or no free slot in reject mode), the inner service's
//! errors are boxed as they are. A refusal is an error of one call, never
//! of the service: `poll_ready` reports it by returning `Ready(Ok(()))` and
//! leaving `call` to return it, so the service stays usable (tower's
//! `LoadShed` does the same).
//!
//! The inner service's response future is polled as the work of the call
//! holding the slot, and so is its `call` (and, for a weighted layer, which
//! takes the slot before readying the inner service, its `poll_ready`; with
//! `hold_until_body_ends`, the response body's `poll_frame` while it holds
//! the slot): a call of the same pool or group made from inside them
//! (a handler calling a `#[pooled]` function of the group the layer is over)
//! is a nested call and follows the reentrancy rule (see
//! [`Pool`](crate::Pool#reentrancy)): it runs under the response's slot
//! instead of waiting for a second one, so handlers cannot deadlock a full
//! pool by calling it, and the limit still holds.
//!
//! Every service a layer makes, and every clone of one, draws on the same
//! pool or group, like tower's `GlobalConcurrencyLimitLayer`: the pool is
//! the limit. A clone starts without a reserved slot, so clones that are
//! never called hold nothing.
//!
//! ```
//! use pool_runtime::tower::{BoxError, PooledLayer};
//! use pool_runtime::{Pool, Rejected};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # futures::executor::block_on(async {
//! let pool = Pool::builder().size(8).build()?;
//! let double = service_fn(|n: u32| async move { Ok::<_, BoxError>(n * 2) });
//! let service = PooledLayer::pool(pool.clone()).layer(double);
//!
//! assert_eq!(service.clone().oneshot(21).await?, 42);
//!
//! pool.pause();
//! let error = service.oneshot(1).await.unwrap_err();
//! assert_eq!(error.downcast_ref::<Rejected>(), Some(&Rejected::Paused));
//! # Ok::<(), BoxError>(())
//! # }).unwrap();
//! ```
//!
//! To run a call on a task of its own, spawn the call's future itself
//! (`tokio::spawn(service.oneshot(request))`). An `async move` block that
//! awaits it, with an inner service whose error is [`BoxError`], is refused
//! by rustc as "implementation of `From` is not general enough" when it
//! must be `Send` (a known limitation of higher-ranked bounds in async
//! blocks; tower's own `LoadShed` meets it the same way).

mod body;
mod future;
mod layer;
mod policy;
mod service;

pub use body::PermitBody;
pub use future::{ResponseFuture, WeightedResponseFuture};
pub use layer::PooledLayer;
pub use policy::{
    ConstantWeight, Hold, Judge, NoOverload, OverloadFn, UntilBodyEnds, UntilResponse, WeightFn,
};
pub use service::PooledService;

use crate::call::permit::OwnedPermit;
use crate::group::Group;
use crate::pool::rejected::Rejected;
use crate::pool::Pool;
use crate::scale::adaptive::Verdict;
use std::future::Future;
use std::pin::Pin;

/// The error of a [`PooledService`]: a [`Rejected`] when the pool refused
/// the call, the inner service's error otherwise (tower's own `BoxError`).
///
/// # Examples
///
/// ```
/// use pool_runtime::tower::BoxError;
/// use pool_runtime::Rejected;
///
/// let error: BoxError = Rejected::Full.into();
/// assert_eq!(error.downcast_ref::<Rejected>(), Some(&Rejected::Full));
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where a service's slots come from.
#[derive(Clone, Debug)]
enum Limit {
    Pool(Pool),
    Group(&'static Group),
}

/// What a service does when no slot is free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admission {
    /// Wait in the pool's queue.
    Wait,
    /// Fail the call at once.
    Reject,
}

/// A slot being waited for, kept across polls of `poll_ready` or of a
/// response future (boxed: the service must be `Unpin`, and its type
/// cannot name the pool's acquire future).
type Acquiring = Pin<Box<dyn Future<Output = Result<OwnedPermit, Rejected>> + Send + Sync>>;

/// A slot asked for in waiting mode: taken at once, or to wait for.
enum Acquired {
    /// Admitted without waiting (nothing boxed).
    Now(OwnedPermit),
    /// To wait for.
    Later(Acquiring),
}

impl Limit {
    /// A slot, taken now if the call would be admitted without waiting (no
    /// allocation; for a group, when no ceiling or fleet limit applies),
    /// else a future that waits for it.
    fn acquire(&self, weight: i64) -> Acquired {
        let now = match self {
            Limit::Pool(pool) => pool.acquire_owned_now(weight),
            Limit::Group(group) => group.acquire_owned_now(weight),
        };
        if let Some(permit) = now {
            return Acquired::Now(reserved(permit));
        }
        Acquired::Later(match self {
            Limit::Pool(pool) => {
                let pool = pool.clone();
                Box::pin(async move { pool.acquire_owned(weight).await.map(reserved) })
            }
            Limit::Group(group) => {
                let group = *group;
                Box::pin(async move { group.acquire_owned(weight).await.map(reserved) })
            }
        })
    }

    /// Takes a slot if one is free now.
    fn try_acquire(&self, weight: i64) -> Result<OwnedPermit, Rejected> {
        match self {
            Limit::Pool(pool) => pool.try_acquire_owned(weight),
            Limit::Group(group) => group.try_acquire_owned(weight),
        }
        .map(reserved)
    }
}

/// A slot reserved for a call says nothing about the server until the
/// call's result is judged: dropped before that (a service dropped after
/// `poll_ready`, a response future cancelled), it is no latency sample.
fn reserved(mut permit: OwnedPermit) -> OwnedPermit {
    permit.set_verdict(Verdict::Ignore);
    permit
}
