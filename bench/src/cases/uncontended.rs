//! Case 1: one submitter, slots always free, trivial task — the pure cost of
//! passing through the pool, against tokio's Semaphore acquire + release and
//! every peer of issue 14 (see [`crate::peers`]).

use crate::gate::{sequential, PermitGate, PoolGate, SemaphoreGate, Unthrottled};
use crate::measure::{interleaved, variant};
use crate::options::Options;
use crate::peers::{
    AsyncLockGate, IntrusiveGate, PrioritySemaphoreGate, RankedSemaphoreGate, TowerLimitGate,
};
use crate::report::{fastest, Row, Table, Target};
use crate::runtimes;
use pooled::Pool;

/// Calls per run (full, quick).
const CALLS: (usize, usize) = (500_000, 5_000);

/// The peers' names in the table, in the order of their variants.
const PEERS: [&str; 6] = [
    "tokio Semaphore acquire+release",
    "futures-intrusive Semaphore (fair)",
    "async-lock Semaphore (not FIFO)",
    "priority-semaphore",
    "ranked-semaphore (FIFO)",
    "tower ConcurrencyLimit",
];

pub fn run(options: &Options, table: &mut Table) {
    let calls = options.size(CALLS.0, CALLS.1);
    for flavor in options.flavors() {
        let runtime = flavor.runtime();
        let pool = Pool::fixed(8);
        let semaphore = SemaphoreGate::new(8);
        let intrusive = IntrusiveGate::new(8);
        let async_lock = AsyncLockGate::new(8);
        let priority_semaphore = PrioritySemaphoreGate::new(8);
        let ranked_semaphore = RankedSemaphoreGate::new(8);
        let tower_limit = TowerLimitGate::new(8);
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
                variant("futures-intrusive", || {
                    runtimes::run(rt, sequential(intrusive.clone(), calls))
                }),
                variant("async-lock", || {
                    runtimes::run(rt, sequential(async_lock.clone(), calls))
                }),
                variant("priority-semaphore", || {
                    runtimes::run(rt, sequential(priority_semaphore.clone(), calls))
                }),
                variant("ranked-semaphore", || {
                    runtimes::run(rt, sequential(ranked_semaphore.clone(), calls))
                }),
                variant("tower-limit", || {
                    runtimes::run(rt, sequential(tower_limit.clone(), calls))
                }),
                variant("unthrottled", || {
                    runtimes::run(rt, sequential(Unthrottled, calls))
                }),
                variant("permit", || {
                    runtimes::run(rt, sequential(PermitGate(pool.clone()), calls))
                }),
            ],
        );
        let (pooled, peers, floor, permit) = (medians[0], &medians[1..7], medians[7], medians[8]);
        for (i, (name, &peer)) in PEERS.iter().zip(peers).enumerate() {
            let target = if i == 0 {
                Target::RatioAtMost(1.0)
            } else {
                // Issue 14's targets against the peers are in instructions
                // (`bench/callgrind.sh`); the times are shown for context.
                Target::Info
            };
            table.push(Row::ratio(
                "1 uncontended submit",
                flavor.label(),
                pooled,
                *name,
                peer,
                target,
            ));
        }
        if let Some((name, peer)) = fastest(&PEERS, peers) {
            table.push(Row::ratio(
                "1 uncontended submit, vs the fastest peer",
                flavor.label(),
                pooled,
                name,
                peer,
                Target::Info,
            ));
        }
        table.push(Row::ratio(
            "1 uncontended permit (acquire, then the body)",
            flavor.label(),
            permit,
            PEERS[0],
            peers[0],
            Target::Info,
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
