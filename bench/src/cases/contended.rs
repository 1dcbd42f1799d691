//! Case 2: 64 submitting tasks share 8 slots; every call yields once while it
//! holds its slot, so calls really wait and are really handed slots. FIFO,
//! LIFO and priority (random weights) against tokio's Semaphore, the
//! worker-queue pool, every peer of issue 14 ([`crate::peers`]; the priority
//! semaphores also with the same weights as the pool's priority order), and
//! (for context) `buffer_unordered`.

use crate::gate::{
    contended, yield_once, PermitGate, PoolGate, SemaphoreGate, Unthrottled, WorkerQueueGate,
};
use crate::measure::{interleaved, ns_per_call, variant};
use crate::options::Options;
use crate::peers::{
    AsyncLockGate, IntrusiveGate, PrioritySemaphoreGate, RankedSemaphoreGate, TowerLimitGate,
};
use crate::report::{fastest, Row, Table, Target};
use crate::runtimes::{self, Flavor};
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

/// The FIFO peers' names in the table, in the order of their variants.
const FIFO_PEERS: [&str; 6] = [
    "tokio Semaphore(8)",
    "futures-intrusive Semaphore (fair)",
    "async-lock Semaphore (not FIFO)",
    "priority-semaphore, one priority",
    "ranked-semaphore (FIFO), one priority",
    "tower ConcurrencyLimit",
];

/// The priority peers' names, in the order of their variants.
const PRIORITY_PEERS: [&str; 2] = [
    "priority-semaphore, weights 0..32",
    "ranked-semaphore, weights 0..32",
];

/// ranked-semaphore 0.1.4 loses a wake-up under this workload on the
/// multi-thread runtime: within a few runs every task waits and nothing
/// wakes them (both workers parked; `--case 2 --runtime multi --variant
/// ranked-semaphore --runs 5` under `timeout` hangs in 2 of 3 tries): its
/// `Acquire::poll` queues without re-checking the count and stores its waker
/// outside the lock (BENCHMARKS.md). Its case 2 variants are measured on
/// `current_thread` only.
fn ranked_semaphore_hangs_on(flavor: Flavor) -> bool {
    flavor == Flavor::MultiThread
}

/// What a row calls a peer: its name, or why it was not measured.
fn peer_name(name: &str, hangs: bool) -> String {
    if hangs {
        format!("{name}: not run, loses a wake-up on this runtime")
    } else {
        name.to_owned()
    }
}

pub fn run(options: &Options, table: &mut Table) {
    let per_task = options.size(CALLS_PER_TASK.0, CALLS_PER_TASK.1);
    for flavor in options.flavors() {
        let runtime = flavor.runtime();
        let rt = &runtime;
        let (fifo, lifo, priority) = (pool(Order::Fifo), pool(Order::Lifo), pool(Order::Priority));
        let semaphore = SemaphoreGate::new(SLOTS);
        let intrusive = IntrusiveGate::new(SLOTS);
        let async_lock = AsyncLockGate::new(SLOTS);
        let priority_semaphore = PrioritySemaphoreGate::new(SLOTS);
        let ranked_semaphore = RankedSemaphoreGate::new(SLOTS);
        let ranked_hangs = ranked_semaphore_hangs_on(flavor);
        let tower_limit = TowerLimitGate::new(SLOTS);
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
                variant("futures-intrusive", || {
                    runtimes::run(rt, contended(intrusive.clone(), TASKS, per_task, 1))
                }),
                variant("async-lock", || {
                    runtimes::run(rt, contended(async_lock.clone(), TASKS, per_task, 1))
                }),
                variant("priority-semaphore-fifo", || {
                    runtimes::run(
                        rt,
                        contended(priority_semaphore.clone(), TASKS, per_task, 1),
                    )
                }),
                variant("ranked-semaphore-fifo", || {
                    if ranked_hangs {
                        return f64::NAN;
                    }
                    runtimes::run(rt, contended(ranked_semaphore.clone(), TASKS, per_task, 1))
                }),
                variant("tower-limit", || {
                    runtimes::run(rt, contended(tower_limit.clone(), TASKS, per_task, 1))
                }),
                variant("priority-semaphore-priority", || {
                    runtimes::run(
                        rt,
                        contended(priority_semaphore.clone(), TASKS, per_task, WEIGHTS),
                    )
                }),
                variant("ranked-semaphore-priority", || {
                    if ranked_hangs {
                        return f64::NAN;
                    }
                    runtimes::run(
                        rt,
                        contended(ranked_semaphore.clone(), TASKS, per_task, WEIGHTS),
                    )
                }),
                variant("worker-queue", || runtimes::run(rt, worker_queue(per_task))),
                variant("buffer-unordered", || {
                    runtimes::run(rt, buffer_unordered(TASKS * per_task))
                }),
                variant("unthrottled", || {
                    runtimes::run(rt, contended(Unthrottled, TASKS, per_task, 1))
                }),
                variant("permit", || {
                    runtimes::run(rt, contended(PermitGate(fifo.clone()), TASKS, per_task, 1))
                }),
            ],
        );
        let [fifo, lifo, priority] = medians[..3] else {
            unreachable!()
        };
        let (fifo_peers, priority_peers) = (&medians[3..9], &medians[9..11]);
        let [worker_queue, buffered, floor, permit] = medians[11..] else {
            unreachable!()
        };
        let label = flavor.label();
        let wq = "worker-queue pool (8 workers)";
        for (i, (name, &peer)) in FIFO_PEERS.iter().zip(fifo_peers).enumerate() {
            let target = if i == 0 {
                Target::RatioAtMost(1.0)
            } else {
                // Issue 14's targets against the peers are in instructions
                // (`bench/callgrind.sh`); the times are shown for context.
                Target::Info
            };
            table.push(Row::ratio(
                "2 contended, FIFO",
                label,
                fifo,
                peer_name(name, ranked_hangs && name.starts_with("ranked")),
                peer,
                target,
            ));
        }
        if let Some((name, peer)) = fastest(&FIFO_PEERS, fifo_peers) {
            table.push(Row::ratio(
                "2 contended, FIFO, vs the fastest peer",
                label,
                fifo,
                name,
                peer,
                Target::Info,
            ));
        }
        table.push(Row::ratio(
            "2 contended, FIFO",
            label,
            fifo,
            wq,
            worker_queue,
            Target::RatioAtMost(0.2),
        ));
        table.push(Row::ratio(
            "2 contended, permit (acquire, then the body)",
            label,
            permit,
            FIFO_PEERS[0],
            fifo_peers[0],
            Target::Info,
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
        for (name, &peer) in PRIORITY_PEERS.iter().zip(priority_peers) {
            table.push(Row::ratio(
                "2 contended, priority (weights 0..32)",
                label,
                priority,
                peer_name(name, ranked_hangs && name.starts_with("ranked")),
                peer,
                Target::Info,
            ));
        }
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
