//! The peers of issue 14: every crate on crates.io that limits concurrent
//! async calls, each behind the [`Gate`] interface the way its own docs show
//! it used, so cases 1 and 2 run them with the same workload as the pool.
//! (tokio's `Semaphore`, `buffer_unordered` and the worker-queue pool are the
//! older anchors, in [`crate::gate`] and the cases.)

use crate::gate::Gate;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{Layer, Service, ServiceExt};

/// `futures-intrusive`'s `Semaphore` in fair mode (`Semaphore::new(true, n)`):
/// strict FIFO hand-off, a parking_lot mutex around an intrusive waiter list.
#[derive(Debug, Clone)]
pub struct IntrusiveGate(Arc<futures_intrusive::sync::Semaphore>);

impl IntrusiveGate {
    /// A fair semaphore of `permits`.
    pub fn new(permits: usize) -> IntrusiveGate {
        IntrusiveGate(Arc::new(futures_intrusive::sync::Semaphore::new(
            true, permits,
        )))
    }
}

impl Gate for IntrusiveGate {
    async fn call<F>(&self, _weight: i64, body: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let _releaser = self.0.acquire(1).await;
        body.await;
    }
}

/// `async-lock`'s `Semaphore` (smol): an atomic count with an
/// `event-listener` list; a released permit is not handed to a waiter, so a
/// newcomer may take it first (not FIFO).
#[derive(Debug, Clone)]
pub struct AsyncLockGate(pub Arc<async_lock::Semaphore>);

impl AsyncLockGate {
    /// A semaphore of `permits`.
    pub fn new(permits: usize) -> AsyncLockGate {
        AsyncLockGate(Arc::new(async_lock::Semaphore::new(permits)))
    }
}

impl Gate for AsyncLockGate {
    async fn call<F>(&self, _weight: i64, body: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let _guard = self.0.acquire().await;
        body.await;
    }
}

/// `priority-semaphore`'s `PrioritySemaphore`: the largest `i32` priority is
/// admitted first, equal priorities in FIFO order.
#[derive(Debug, Clone)]
pub struct PrioritySemaphoreGate(Arc<priority_semaphore::PrioritySemaphore>);

impl PrioritySemaphoreGate {
    /// A semaphore of `permits`.
    pub fn new(permits: usize) -> PrioritySemaphoreGate {
        PrioritySemaphoreGate(Arc::new(priority_semaphore::PrioritySemaphore::new(
            permits,
        )))
    }
}

impl Gate for PrioritySemaphoreGate {
    async fn call<F>(&self, weight: i64, body: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // The pool admits the smallest weight first, this crate the largest
        // priority: negated, both serve the same calls in the same order.
        let priority = weight
            .saturating_neg()
            .clamp(i32::MIN.into(), i32::MAX.into()) as i32;
        let _permit = self.0.acquire(priority).await.expect("never closed");
        body.await;
    }
}

/// `ranked-semaphore`'s `RankedSemaphore` with a FIFO queue per priority:
/// the largest `isize` priority is admitted first.
#[derive(Debug, Clone)]
pub struct RankedSemaphoreGate(Arc<ranked_semaphore::RankedSemaphore>);

impl RankedSemaphoreGate {
    /// A semaphore of `permits`, FIFO within a priority.
    pub fn new(permits: usize) -> RankedSemaphoreGate {
        RankedSemaphoreGate(Arc::new(ranked_semaphore::RankedSemaphore::new_fifo(
            permits,
        )))
    }
}

impl Gate for RankedSemaphoreGate {
    async fn call<F>(&self, weight: i64, body: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Negated for the same order as the pool's (see above).
        let priority = weight
            .saturating_neg()
            .clamp(isize::MIN as i64, isize::MAX as i64) as isize;
        let _permit = self
            .0
            .acquire_with_priority(priority)
            .await
            .expect("never closed");
        body.await;
    }
}

/// tower's `ConcurrencyLimit` over a `service_fn` that awaits the body, its
/// semaphore shared through `GlobalConcurrencyLimitLayer`. A call is what a
/// tower user writes per request: a fresh service from the layer (what
/// cloning a `ConcurrencyLimit` costs: an `Arc` clone), `ready().await`
/// (the permit, a tokio `Semaphore` through tokio-util's `PollSemaphore`),
/// then `call`.
#[derive(Debug, Clone)]
pub struct TowerLimitGate(GlobalConcurrencyLimitLayer);

impl TowerLimitGate {
    /// A limit of `max` requests in flight, shared by every clone.
    pub fn new(max: usize) -> TowerLimitGate {
        TowerLimitGate(GlobalConcurrencyLimitLayer::new(max))
    }
}

/// The inner service: runs the request, which is the call's body.
async fn run_body<F: Future<Output = ()>>(body: F) -> Result<(), Infallible> {
    body.await;
    Ok(())
}

impl Gate for TowerLimitGate {
    async fn call<F>(&self, _weight: i64, body: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut service = self.0.layer(tower::service_fn(run_body::<F>));
        let ready = service.ready().await.unwrap_or_else(|never| match never {});
        ready
            .call(body)
            .await
            .unwrap_or_else(|never| match never {});
    }
}
