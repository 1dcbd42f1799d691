//! Case 7: the cost of `stats()`, on an idle pool and while another thread
//! submits to it (its admission word and counters then bounce between the
//! cores' caches). For context: tokio's `Semaphore::available_permits()`, a
//! single atomic load, under the same conditions.

use crate::measure::{interleaved, ns_per_call, variant};
use crate::options::Options;
use crate::report::{Row, Table, Target};
use pooled::Pool;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

/// Calls per run (full, quick).
const CALLS: (usize, usize) = (2_000_000, 20_000);
/// The target of issue 5.
const MAX_NS: f64 = 20.0;

fn stats_loop(pool: &Pool, calls: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        black_box(pool.stats());
    }
    ns_per_call(start, calls)
}

fn permits_loop(semaphore: &Semaphore, calls: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        black_box(semaphore.available_permits());
    }
    ns_per_call(start, calls)
}

/// Runs `measure` while a second thread keeps submitting to `pool` and
/// acquiring `semaphore` (plain threads: `Pool::run` and `try_acquire`).
fn while_busy<T>(pool: &Pool, semaphore: &Arc<Semaphore>, measure: impl FnOnce() -> T) -> T {
    let (started, stop) = (AtomicBool::new(false), AtomicBool::new(false));
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                black_box(pool.run(|| black_box(1)).expect("open"));
                drop(black_box(semaphore.try_acquire()));
                started.store(true, Ordering::Relaxed);
            }
        });
        while !started.load(Ordering::Relaxed) {
            std::hint::spin_loop();
        }
        let out = measure();
        stop.store(true, Ordering::Relaxed);
        out
    })
}

pub fn run(options: &Options, table: &mut Table) {
    let calls = options.size(CALLS.0, CALLS.1);
    let pool = Pool::fixed(8);
    let semaphore = Arc::new(Semaphore::new(8));
    let idle = interleaved(
        options,
        vec![
            variant("stats", || stats_loop(&pool, calls)),
            variant("permits", || permits_loop(&semaphore, calls)),
        ],
    );
    table.push(Row::ratio(
        "7 stats(), idle pool",
        "thread",
        idle[0],
        "Semaphore::available_permits()",
        idle[1],
        Target::AtMost(MAX_NS),
    ));
    let busy = while_busy(&pool, &semaphore, || {
        interleaved(
            options,
            vec![
                variant("busy-stats", || stats_loop(&pool, calls)),
                variant("busy-permits", || permits_loop(&semaphore, calls)),
            ],
        )
    });
    table.push(Row::ratio(
        "7 stats(), another thread submitting",
        "2 threads",
        busy[0],
        "Semaphore::available_permits()",
        busy[1],
        Target::Info,
    ));
}
