//! Case 4: blocking closures. `Pool::submit_blocking` (the slot travels to
//! tokio's blocking pool with the closure) against what a user writes with
//! tokio alone: a `Semaphore(8)` permit held around `spawn_blocking`.

use crate::cases::contended::SLOTS;
use crate::measure::{interleaved, ns_per_call, variant};
use crate::options::Options;
use crate::report::{Row, Table, Target};
use crate::runtimes;
use pooled::Pool;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

/// Submitting tasks (twice the slots, so admission is gated).
const TASKS: usize = 16;
/// Calls per task per run (full, quick).
const CALLS_PER_TASK: (usize, usize) = (1_000, 10);

fn work() -> u64 {
    black_box(1)
}

async fn pooled_blocking(pool: Pool, calls_per_task: usize) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..TASKS)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for _ in 0..calls_per_task {
                    let out = pool.submit_blocking(work).await;
                    black_box(out.expect("an open pool"));
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("a submitting task panicked");
    }
    ns_per_call(start, TASKS * calls_per_task)
}

async fn gated_spawn_blocking(semaphore: Arc<Semaphore>, calls_per_task: usize) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..TASKS)
        .map(|_| {
            let semaphore = semaphore.clone();
            tokio::spawn(async move {
                for _ in 0..calls_per_task {
                    let _permit = semaphore.acquire().await.expect("open");
                    let out = tokio::task::spawn_blocking(work).await;
                    black_box(out.expect("the closure does not panic"));
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("a submitting task panicked");
    }
    ns_per_call(start, TASKS * calls_per_task)
}

pub fn run(options: &Options, table: &mut Table) {
    let per_task = options.size(CALLS_PER_TASK.0, CALLS_PER_TASK.1);
    for flavor in options.flavors() {
        let runtime = flavor.runtime();
        let rt = &runtime;
        let pool = Pool::fixed(SLOTS);
        let semaphore = Arc::new(Semaphore::new(SLOTS));
        let medians = interleaved(
            options,
            vec![
                variant("submit-blocking", || {
                    runtimes::run(rt, pooled_blocking(pool.clone(), per_task))
                }),
                variant("spawn-blocking", || {
                    runtimes::run(rt, gated_spawn_blocking(semaphore.clone(), per_task))
                }),
            ],
        );
        table.push(Row::ratio(
            "4 blocking: submit_blocking, 16 tasks, 8 slots",
            flavor.label(),
            medians[0],
            "Semaphore(8) + spawn_blocking",
            medians[1],
            Target::RatioAtMost(1.05),
        ));
    }
}
