//! The future of an async call: wait for a slot, then poll the work in the
//! caller's own task while holding it.

use crate::acquire::Acquire;
use crate::core::{Core, Mode};
use crate::rejected::Rejected;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// A call's work guarded by a slot of the pool behind `R`.
pub(crate) struct Guarded<R: Deref<Target = Core>, F> {
    // Field order is drop order: a cancelled call's work (and whatever it owns:
    // a connection, a buffer) is dropped before its slot is handed on, as
    // tower's `ConcurrencyLimit` future does.
    work: F,
    acquire: Acquire<R>,
}

impl<R: Deref<Target = Core>, F: Future> Guarded<R, F> {
    pub(crate) fn new(core: R, weight: i64, mode: Mode, work: F) -> Self {
        Guarded {
            acquire: Acquire::new(core, weight, mode),
            work,
        }
    }

    #[cfg(feature = "tokio")]
    pub(crate) fn acquire(self: Pin<&mut Self>) -> Pin<&mut Acquire<R>> {
        // Safety: structural pinning; `acquire` is never moved out.
        unsafe { self.map_unchecked_mut(|this| &mut this.acquire) }
    }
}

impl<R: Deref<Target = Core>, F: Future> Future for Guarded<R, F> {
    type Output = Result<F::Output, Rejected>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Safety: structural pinning of both fields; neither is moved out.
        let this = unsafe { self.get_unchecked_mut() };
        let mut acquire = unsafe { Pin::new_unchecked(&mut this.acquire) };
        ready!(acquire.as_mut().poll_acquire(cx))?;
        let work = unsafe { Pin::new_unchecked(&mut this.work) };
        let out = ready!(acquire.as_mut().run_work(|| work.poll(cx)));
        acquire.finish();
        Poll::Ready(Ok(out))
    }
}

/// The future returned by [`Pool::submit`](crate::Pool::submit) and
/// [`Pool::submit_weighted`](crate::Pool::submit_weighted).
///
/// It waits for a slot, then polls the submitted future *in the caller's own
/// task* while holding the slot, and resolves to that future's output, or to
/// the [`Rejected`] reason the call was turned away.
///
/// # Cancel safety
///
/// Dropping it at any point loses nothing: while waiting it leaves the queue at
/// once (`stats().waiting` drops); while running it frees its slot for the
/// next waiter. Either way the call is counted as cancelled.
#[must_use = "futures do nothing unless polled"]
pub struct Submit<'a, F> {
    inner: Guarded<&'a Core, F>,
}

impl<'a, F: Future> Submit<'a, F> {
    pub(crate) fn new(core: &'a Core, weight: i64, mode: Mode, work: F) -> Self {
        Submit {
            inner: Guarded::new(core, weight, mode, work),
        }
    }
}

impl<F: Future> Future for Submit<'_, F> {
    type Output = Result<F::Output, Rejected>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Safety: structural pinning of the only field.
        unsafe { self.map_unchecked_mut(|this| &mut this.inner) }.poll(cx)
    }
}

impl<F> fmt::Debug for Submit<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Submit").finish_non_exhaustive()
    }
}

/// The future of a call that never rejects (see [`Group::submit_wait`](crate::Group::submit_wait)): it waits
/// through pauses, the waiting bound and the admission timeout.
#[must_use = "futures do nothing unless polled"]
pub struct SubmitWait<'a, F> {
    inner: Guarded<&'a Core, F>,
}

impl<'a, F: Future> SubmitWait<'a, F> {
    pub(crate) fn new(core: &'a Core, weight: i64, work: F) -> Self {
        SubmitWait {
            inner: Guarded::new(core, weight, Mode::Wait, work),
        }
    }
}

impl<F: Future> Future for SubmitWait<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Safety: structural pinning of the only field.
        let inner = unsafe { self.map_unchecked_mut(|this| &mut this.inner) };
        match ready!(inner.poll(cx)) {
            Ok(out) => Poll::Ready(out),
            // Only a closed pool turns a waiting call away, and groups are never closed.
            Err(rejected) => panic!("a never-rejecting call was turned away: {rejected}"),
        }
    }
}

impl<F> fmt::Debug for SubmitWait<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmitWait").finish_non_exhaustive()
    }
}
