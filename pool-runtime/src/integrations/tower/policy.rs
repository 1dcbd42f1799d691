//! The layer's choices that change its types: where a call's weight comes
//! from, how a response is judged for an adaptive pool, and how long a
//! response holds its slot. Each is a small marker type the builder methods
//! of [`PooledLayer`](super::PooledLayer) put in place; users name them only
//! to spell out a service's type.

use super::body::PermitBody;
use crate::call::permit::OwnedPermit;
use crate::scale::adaptive::Verdict;
use std::fmt;

mod sealed {
    /// Keeps [`Judge`](super::Judge) and [`Hold`](super::Hold) to the
    /// markers of this module, so they can grow without breaking users.
    pub trait Sealed {}
}

/// One weight for every request (default 0): the slot is reserved in
/// `poll_ready`, before the request is known. See
/// [`PooledLayer::constant_weight`](super::PooledLayer::constant_weight).
///
/// # Examples
///
/// ```
/// use pool_runtime::tower::{ConstantWeight, PooledLayer};
///
/// let pool = pool_runtime::Pool::builder().build()?;
/// let _layer: PooledLayer<ConstantWeight> = PooledLayer::pool(pool).constant_weight(10);
/// # Ok::<(), pool_runtime::BuildError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConstantWeight(pub(super) i64);

/// A weight computed from each request: the call waits for its slot in the
/// response future, where the request is known. See
/// [`PooledLayer::weight`](super::PooledLayer::weight).
///
/// # Examples
///
/// ```
/// use pool_runtime::tower::{PooledLayer, WeightFn};
///
/// let pool = pool_runtime::Pool::builder().build()?;
/// let _layer: PooledLayer<WeightFn<fn(&u32) -> i64>> =
///     PooledLayer::pool(pool).weight(|n: &u32| i64::from(*n));
/// # Ok::<(), pool_runtime::BuildError>(())
/// ```
#[derive(Clone, Copy)]
pub struct WeightFn<F>(pub(super) F);

impl<F> fmt::Debug for WeightFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WeightFn(..)")
    }
}

/// How a finished call went, for an adaptive pool (see
/// [`OwnedPermit::set_verdict`]). Implemented by [`NoOverload`] and
/// [`OverloadFn`] only.
///
/// # Examples
///
/// ```
/// use pool_runtime::tower::{Judge, NoOverload};
/// use pool_runtime::Verdict;
///
/// let result: Result<u32, std::io::Error> = Ok(1);
/// assert_eq!(NoOverload.verdict(&result), Verdict::Success);
/// ```
pub trait Judge<T, E>: sealed::Sealed {
    /// The verdict on the inner service's result.
    fn verdict(&self, result: &Result<T, E>) -> Verdict;
}

/// No overload classifier (the default): every finished call is a
/// [`Verdict::Success`], a latency sample, as a `submit`ted call is.
///
/// # Examples
///
/// ```
/// use pool_runtime::tower::{NoOverload, PooledLayer};
///
/// let pool = pool_runtime::Pool::builder().build()?;
/// let _layer: PooledLayer<_, NoOverload> = PooledLayer::pool(pool);
/// # Ok::<(), pool_runtime::BuildError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoOverload;

impl sealed::Sealed for NoOverload {}

impl<T, E> Judge<T, E> for NoOverload {
    fn verdict(&self, _: &Result<T, E>) -> Verdict {
        Verdict::Success
    }
}

/// An overload classifier: a result it accepts is a
/// [`Verdict::Overload`]; any other success is a [`Verdict::Success`] and
/// any other error a [`Verdict::Ignore`] (it says nothing about the
/// server's load). See [`PooledLayer::overload`](super::PooledLayer::overload).
///
/// # Examples
///
/// ```
/// use pool_runtime::tower::{OverloadFn, PooledLayer};
///
/// let pool = pool_runtime::Pool::builder().build()?;
/// let is_503 = |result: &Result<u16, std::io::Error>| matches!(result, Ok(503));
/// let _layer: PooledLayer<_, OverloadFn<_>> = PooledLayer::pool(pool).overload(is_503);
/// # Ok::<(), pool_runtime::BuildError>(())
/// ```
#[derive(Clone, Copy)]
pub struct OverloadFn<F>(pub(super) F);

impl<F> fmt::Debug for OverloadFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OverloadFn(..)")
    }
}

impl<F> sealed::Sealed for OverloadFn<F> {}

impl<T, E, F> Judge<T, E> for OverloadFn<F>
where
    F: Fn(&Result<T, E>) -> bool,
{
    fn verdict(&self, result: &Result<T, E>) -> Verdict {
        match result {
            _ if (self.0)(result) => Verdict::Overload,
            Ok(_) => Verdict::Success,
            Err(_) => Verdict::Ignore,
        }
    }
}

/// How long a response holds its call's slot. Implemented by
/// [`UntilResponse`] and [`UntilBodyEnds`] only.
///
/// # Examples
///
/// ```
/// use pool_runtime::tower::{Hold, UntilResponse};
///
/// let pool = pool_runtime::Pool::builder().size(1).build()?;
/// let permit = pool.try_acquire_owned(0)?;
/// assert_eq!(UntilResponse.hold("response", permit), "response");
/// assert!(pool.try_acquire().is_ok(), "released with the response");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Hold<T>: sealed::Sealed {
    /// What the service returns.
    type Response;

    /// The response, holding `permit` for as long as this policy says.
    fn hold(&self, response: T, permit: OwnedPermit) -> Self::Response;
}

/// The slot is released as soon as the inner service's response future
/// completes (the default; tower's `ConcurrencyLimit` does the same).
///
/// # Examples
///
/// ```
/// use pool_runtime::tower::{PooledLayer, UntilResponse};
///
/// let pool = pool_runtime::Pool::builder().build()?;
/// let _layer: PooledLayer<_, _, UntilResponse> = PooledLayer::pool(pool);
/// # Ok::<(), pool_runtime::BuildError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UntilResponse;

impl sealed::Sealed for UntilResponse {}

impl<T> Hold<T> for UntilResponse {
    type Response = T;

    fn hold(&self, response: T, permit: OwnedPermit) -> T {
        drop(permit);
        response
    }
}

/// An `http::Response`'s slot is held by its body, a [`PermitBody`], until
/// the body ends or is dropped: for streaming responses whose work goes on
/// after the head is sent. See
/// [`PooledLayer::hold_until_body_ends`](super::PooledLayer::hold_until_body_ends).
///
/// A response that has no content by its status (informational, `204 No
/// Content`, `304 Not Modified`) ends with its head: its slot is released
/// then, the call completed (a server never sends such a body, and hyper
/// drops it unread). The answer to a `HEAD` request is not told apart (the
/// policy sees the response only): one whose body is empty ends with its
/// head too, and one whose body the server drops unread (axum replaces a
/// `HEAD` answer's body, hyper drops it) releases its slot at once, counted
/// as a cancelled call.
///
/// # Examples
///
/// ```
/// use pool_runtime::tower::{PooledLayer, UntilBodyEnds};
///
/// let pool = pool_runtime::Pool::builder().build()?;
/// let _layer: PooledLayer<_, _, UntilBodyEnds> = PooledLayer::pool(pool).hold_until_body_ends();
/// # Ok::<(), pool_runtime::BuildError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UntilBodyEnds;

impl sealed::Sealed for UntilBodyEnds {}

impl<B: http_body::Body> Hold<http::Response<B>> for UntilBodyEnds {
    type Response = http::Response<PermitBody<B>>;

    fn hold(&self, response: http::Response<B>, permit: OwnedPermit) -> Self::Response {
        // A response with no content (RFC 9110, 6.4.1) ends with its head:
        // hyper never polls its body, and would drop it unread — a call
        // served in full counted as cancelled.
        let status = response.status();
        if status.is_informational()
            || status == http::StatusCode::NO_CONTENT
            || status == http::StatusCode::NOT_MODIFIED
        {
            return response.map(|body| PermitBody::without_content(body, permit));
        }
        response.map(|body| PermitBody::new(body, permit))
    }
}
