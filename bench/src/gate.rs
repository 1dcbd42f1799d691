//! One interface over everything that can throttle a call, so each workload
//! (`sequential`, `contended`) is written once and run through the pool and
//! its anchors alike.

use crate::measure::ns_per_call;
use crate::rng::Rng;
use crate::worker_queue::Submitter;
use pooled::Pool;
use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

/// Runs a call's body while holding one unit of some limit.
pub trait Gate: Clone + Send + Sync + 'static {
    /// Runs `body` under the limit (`weight` matters to priority pools only).
    fn call<F>(&self, weight: i64, body: F) -> impl Future<Output = ()> + Send + '_
    where
        F: Future<Output = ()> + Send + 'static;
}

/// `pool.submit_weighted(weight, body)`.
#[derive(Debug, Clone)]
pub struct PoolGate(pub Pool);

impl Gate for PoolGate {
    async fn call<F>(&self, weight: i64, body: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.0.submit_weighted(weight, body).await.is_err() {
            unreachable!("an open, unbounded pool rejects nothing");
        }
    }
}

/// `let _permit = pool.acquire_weighted(weight).await?; body.await`: the
/// pool used as a semaphore, the form a `tokio::sync::Semaphore` user writes.
#[derive(Debug, Clone)]
pub struct PermitGate(pub Pool);

impl Gate for PermitGate {
    async fn call<F>(&self, weight: i64, body: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Ok(_permit) = self.0.acquire_weighted(weight).await else {
            unreachable!("an open, unbounded pool rejects nothing");
        };
        body.await;
    }
}

/// `let _permit = semaphore.acquire().await; body.await` (tokio's Semaphore).
#[derive(Debug, Clone)]
pub struct SemaphoreGate(pub Arc<Semaphore>);

impl SemaphoreGate {
    /// A semaphore of `permits`.
    pub fn new(permits: usize) -> SemaphoreGate {
        SemaphoreGate(Arc::new(Semaphore::new(permits)))
    }
}

impl Gate for SemaphoreGate {
    async fn call<F>(&self, _weight: i64, body: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let _permit = self.0.acquire().await.expect("the semaphore is open");
        body.await;
    }
}

/// The body boxed and sent to a worker-queue pool.
#[derive(Debug, Clone)]
pub struct WorkerQueueGate(pub Submitter);

impl Gate for WorkerQueueGate {
    fn call<F>(&self, _weight: i64, body: F) -> impl Future<Output = ()> + Send + '_
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.0.submit(body)
    }
}

/// The trivial body of an uncontended call.
pub async fn trivial() {
    black_box(());
}

/// The body of a contended call: it yields once while holding its slot, so
/// the other tasks really wait.
pub async fn yield_once() {
    tokio::task::yield_now().await;
}

/// Case 1's workload: one task, `calls` calls one after another, slots always
/// free. Returns ns/call.
pub async fn sequential<G: Gate>(gate: G, calls: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        gate.call(0, trivial()).await;
    }
    ns_per_call(start, calls)
}

/// Case 2's workload: `tasks` tasks each making `calls_per_task` calls whose
/// body yields once. Weights are random in `0..weights` (1: all zero).
/// Returns ns/call over all calls, spawning and joining included.
pub async fn contended<G: Gate>(gate: G, tasks: usize, calls_per_task: usize, weights: u64) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let gate = gate.clone();
            tokio::spawn(async move {
                let mut rng = Rng::new(task as u64 + 1);
                for _ in 0..calls_per_task {
                    let weight = rng.below(weights) as i64;
                    gate.call(weight, yield_once()).await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("a submitting task panicked");
    }
    ns_per_call(start, tasks * calls_per_task)
}

/// No limit at all: the workload's own cost, as a floor and as the baseline
/// that allocation counts are taken against.
#[derive(Debug, Clone, Copy)]
pub struct Unthrottled;

impl Gate for Unthrottled {
    fn call<F>(&self, _weight: i64, body: F) -> impl Future<Output = ()> + Send + '_
    where
        F: Future<Output = ()> + Send + 'static,
    {
        body
    }
}

/// Work that stays pending until `released` is set: it holds a slot for as
/// long as a hand-driven case needs the queue behind it.
pub fn held_until(released: &std::cell::Cell<bool>) -> impl Future<Output = ()> + '_ {
    std::future::poll_fn(|_| {
        if released.get() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
}
