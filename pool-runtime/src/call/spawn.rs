//! Submitting without waiting: the call takes its
//! queue position at once and runs on a tokio task.

use crate::admission::core::Core;
use crate::call::blocking;
use crate::call::submit::Guarded;
use crate::pool::rejected::Rejected;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The handle of a call submitted with [`Pool::spawn`](crate::Pool::spawn):
/// a future of the call's output.
///
/// # Cancel safety
///
/// Dropping the handle detaches the call (it still runs); use
/// [`abort`](SpawnHandle::abort) to cancel it, which frees its queue position
/// or slot like dropping a [`Submit`](crate::Submit).
///
/// A runtime that shuts down before the call ends drops it the same way
/// (waiting or running, it is counted in [`Stats::cancelled`](crate::Stats::cancelled));
/// awaiting its handle then yields `Err(Rejected::Closed)`, from any
/// executor.
///
/// # Panics
///
/// Awaiting the handle re-raises a panic of the call's work.
pub struct SpawnHandle<T> {
    task: tokio::task::JoinHandle<Result<T, Rejected>>,
}

impl<T> SpawnHandle<T> {
    /// Cancels the call: it leaves the queue, or its work is dropped and its
    /// slot freed. Awaiting the handle then yields `Err(Rejected::Closed)`
    /// (a call that had already finished is not cancelled: its outcome is
    /// yielded).
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Whether the call has finished (or was turned away).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl<T> Future for SpawnHandle<T> {
    type Output = Result<T, Rejected>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.task).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(out)) => Poll::Ready(out),
            Poll::Ready(Err(join)) if join.is_panic() => blocking::resume(join.into_panic()),
            Poll::Ready(Err(_)) => Poll::Ready(Err(Rejected::Closed)),
        }
    }
}

impl<T> fmt::Debug for SpawnHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnHandle").finish_non_exhaustive()
    }
}

pub(crate) fn spawn<F>(
    core: Arc<Core>,
    weight: i64,
    work: F,
) -> Result<SpawnHandle<F::Output>, Rejected>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut call = Box::pin(Guarded::independent(core, weight, work));
    // Take the queue position now (only admission is polled here, never the
    // work); the task re-registers its own waker when it first runs.
    let mut cx = Context::from_waker(crate::call::answer_now());
    if let Poll::Ready(Err(rejected)) = call.as_mut().acquire().poll_acquire(&mut cx) {
        return Err(rejected);
    }
    Ok(SpawnHandle {
        task: tokio::spawn(call),
    })
}
