//! Case 2: 64 submitting tasks share 8 slots; every call yields once while it
//! holds its slot, so calls really wait and are really handed slots. FIFO,
//! LIFO and priority (random weights) against tokio's Semaphore, the
//! worker-queue pool, and (for context) `buffer_unordered`.

use crate::gate::{contended, yield_once, PoolGate, SemaphoreGate, Unthrottled, WorkerQueueGate};
use crate::measure::{interleaved, ns_per_call, variant};
use crate::options::Options;
use crate::report::{Row, Table, Target};
use crate::runtimes;
use crate::worker_queue::WorkerQueuePool;
use futures::StreamExt;
use pooled::{Order, Pool};
use std::time::Instant;

/// Submitting tasks.
pub const TASKS: usize = 64;
/// Slots (and permits, and workers).
pub const SLOTS: usize = 8;
/// Priority weights are uniform in `0..WEIGHTS`.
pub const WEIGHTS: u64 = 32;
/// Calls per task per run (full, quick).
const CALLS_PER_TASK: (usize, usize) = (1_000, 20);

/// A pool of [`SLOTS`] in `order`.
pub fn pool(order: Order) -> Pool {
    Pool::builder()
        .order(order)
        .size(SLOTS)
        .build()
        .expect("a valid pool")
}

/// The worker-queue pool under the same workload (started and closed inside
/// the run: its workers belong to the runtime).
async fn worker_queue(calls_per_task: usize) -> f64 {
    let pool = WorkerQueuePool::start(SLOTS);
    let ns = contended(WorkerQueueGate(pool.submitter()), TASKS, calls_per_task, 1).await;
    pool.close().await;
    ns
}

/// The same calls driven by one task through `buffer_unordered(SLOTS)`.
async fn buffer_unordered(calls: usize) -> f64 {
    let start = Instant::now();
    futures::stream::iter(0..calls)
        .map(|_| yield_once())
        .buffer_unordered(SLOTS)
        .for_each(|()| async {})
        .await;
    ns_per_call(start, calls)
}

pub fn run(options: &Options, table: &mut Table) {
    let per_task = options.size(CALLS_PER_TASK.0, CALLS_PER_TASK.1);
    for flavor in options.flavors() {
        let runtime = flavor.runtime();
        let rt = &runtime;
        let (fifo, lifo, priority) = (pool(Order::Fifo), pool(Order::Lifo), pool(Order::Priority));
        let semaphore = SemaphoreGate::new(SLOTS);
        let medians = interleaved(
            options,
            vec![
                variant("pooled-fifo", || {
                    runtimes::run(rt, contended(PoolGate(fifo.clone()), TASKS, per_task, 1))
                }),
                variant("pooled-lifo", || {
                    runtimes::run(rt, contended(PoolGate(lifo.clone()), TASKS, per_task, 1))
                }),
                variant("pooled-priority", || {
                    runtimes::run(
                        rt,
                        contended(PoolGate(priority.clone()), TASKS, per_task, WEIGHTS),
                    )
                }),
                variant("semaphore", || {
                    runtimes::run(rt, contended(semaphore.clone(), TASKS, per_task, 1))
                }),
                variant("worker-queue", || runtimes::run(rt, worker_queue(per_task))),
                variant("buffer-unordered", || {
                    runtimes::run(rt, buffer_unordered(TASKS * per_task))
                }),
                variant("unthrottled", || {
                    runtimes::run(rt, contended(Unthrottled, TASKS, per_task, 1))
                }),
            ],
        );
        let [fifo, lifo, priority, semaphore, worker_queue, buffered, floor] = medians[..] else {
            unreachable!()
        };
        let label = flavor.label();
        let wq = "worker-queue pool (8 workers)";
        table.push(Row::ratio(
            "2 contended, FIFO",
            label,
            fifo,
            "tokio Semaphore(8)",
            semaphore,
            Target::RatioAtMost(1.0),
        ));
        table.push(Row::ratio(
            "2 contended, FIFO",
            label,
            fifo,
            wq,
            worker_queue,
            Target::RatioAtMost(0.2),
        ));
        table.push(Row::ratio(
            "2 contended, LIFO",
            label,
            lifo,
            "pooled FIFO",
            fifo,
            Target::RatioAtMost(1.3),
        ));
        table.push(Row::ratio(
            "2 contended, LIFO",
            label,
            lifo,
            wq,
            worker_queue,
            Target::RatioAtMost(0.2),
        ));
        table.push(Row::ratio(
            "2 contended, priority (weights 0..32)",
            label,
            priority,
            "pooled FIFO",
            fifo,
            Target::RatioAtMost(1.3),
        ));
        table.push(Row::ratio(
            "2 contended, priority (weights 0..32)",
            label,
            priority,
            wq,
            worker_queue,
            Target::RatioAtMost(0.2),
        ));
        table.push(Row::ratio(
            "2 contended, FIFO",
            label,
            fifo,
            "buffer_unordered(8), one task",
            buffered,
            Target::Info,
        ));
        table.push(Row::ratio(
            "2 unthrottled: 64 tasks yielding (harness floor)",
            label,
            floor,
            "worker-queue pool (8 workers)",
            worker_queue,
            Target::Info,
        ));
    }
}
