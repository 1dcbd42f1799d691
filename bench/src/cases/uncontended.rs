//! Case 1: one submitter, slots always free, trivial task — the pure cost of
//! passing through the pool, against tokio's Semaphore acquire + release.

use crate::gate::{sequential, PoolGate, SemaphoreGate, Unthrottled};
use crate::measure::{interleaved, variant};
use crate::options::Options;
use crate::report::{Row, Table, Target};
use crate::runtimes;
use pooled::Pool;

/// Calls per run (full, quick).
const CALLS: (usize, usize) = (500_000, 5_000);

pub fn run(options: &Options, table: &mut Table) {
    let calls = options.size(CALLS.0, CALLS.1);
    for flavor in options.flavors() {
        let runtime = flavor.runtime();
        let pool = Pool::fixed(8);
        let semaphore = SemaphoreGate::new(8);
        let rt = &runtime;
        let medians = interleaved(
            options,
            vec![
                variant("pooled", || {
                    runtimes::run(rt, sequential(PoolGate(pool.clone()), calls))
                }),
                variant("semaphore", || {
                    runtimes::run(rt, sequential(semaphore.clone(), calls))
                }),
                variant("unthrottled", || {
                    runtimes::run(rt, sequential(Unthrottled, calls))
                }),
            ],
        );
        let [pooled, semaphore, floor] = medians[..] else {
            unreachable!()
        };
        table.push(Row::ratio(
            "1 uncontended submit",
            flavor.label(),
            pooled,
            "tokio Semaphore acquire+release",
            semaphore,
            Target::RatioAtMost(1.0),
        ));
        table.push(Row::ratio(
            "1 unthrottled loop (harness floor)",
            flavor.label(),
            floor,
            "pooled submit",
            pooled,
            Target::Info,
        ));
    }
}
