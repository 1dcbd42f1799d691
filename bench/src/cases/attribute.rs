//! Case 3: the same body through a `#[pooled]` function and through a manual
//! `submit` on an equivalent global group — what the attribute's expansion
//! costs on top of the call it generates.

use crate::cases::contended::{SLOTS, TASKS};
use crate::gate::{contended, sequential, Gate};
use crate::measure::{interleaved, variant};
use crate::options::Options;
use crate::report::{Row, Table, Target};
use crate::runtimes;
use pooled::{Group, GroupSpec, Rejected};
use std::future::Future;

/// Calls per run, uncontended (full, quick).
const CALLS: (usize, usize) = (500_000, 5_000);
/// Calls per task per run, contended (full, quick).
const CALLS_PER_TASK: (usize, usize) = (1_000, 20);

/// The annotated function: its body is whatever the caller passes.
#[pooled::pooled(size = 8)]
async fn annotated<F: Future<Output = ()>>(body: F) -> Result<(), Rejected> {
    body.await;
    Ok(())
}

/// The group the manual form submits to: the same settings as `annotated`'s.
static MANUAL: Group = Group::new(GroupSpec::new("pooled_bench::manual").size(SLOTS));

/// What a user writes without the attribute.
async fn manual<F: Future<Output = ()>>(body: F) -> Result<(), Rejected> {
    MANUAL
        .submit(0, async move {
            body.await;
            Ok(())
        })
        .await?
}

/// The pool of issue 14's comparison: the same call through a plain
/// `Pool::submit` (a static pool, as the attribute's group is static).
static POOL: std::sync::LazyLock<pooled::Pool> =
    std::sync::LazyLock::new(|| pooled::Pool::fixed(SLOTS));

/// What a user writes with a plain pool: the same body, `Pool::submit`.
async fn manual_pool<F: Future<Output = ()>>(body: F) -> Result<(), Rejected> {
    POOL.submit(async move {
        body.await;
        Ok(())
    })
    .await?
}

#[derive(Debug, Clone, Copy)]
struct ManualPool;

impl Gate for ManualPool {
    async fn call<F>(&self, _weight: i64, body: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        manual_pool(body).await.expect("the pool is open");
    }
}

#[derive(Debug, Clone, Copy)]
struct GroupPermit;

impl Gate for GroupPermit {
    async fn call<F>(&self, weight: i64, body: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Ok(_permit) = MANUAL.acquire(weight).await else {
            unreachable!("the group is open");
        };
        body.await;
    }
}

#[derive(Debug, Clone, Copy)]
struct Annotated;

impl Gate for Annotated {
    async fn call<F>(&self, _weight: i64, body: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        annotated(body).await.expect("the group is open");
    }
}

#[derive(Debug, Clone, Copy)]
struct Manual;

impl Gate for Manual {
    async fn call<F>(&self, _weight: i64, body: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        manual(body).await.expect("the group is open");
    }
}

pub fn run(options: &Options, table: &mut Table) {
    assert_eq!(ANNOTATED_POOL.size(), MANUAL.size(), "like for like");
    let calls = options.size(CALLS.0, CALLS.1);
    let per_task = options.size(CALLS_PER_TASK.0, CALLS_PER_TASK.1);
    for flavor in options.flavors() {
        let runtime = flavor.runtime();
        let rt = &runtime;
        let medians = interleaved(
            options,
            vec![
                variant("annotated", || {
                    runtimes::run(rt, sequential(Annotated, calls))
                }),
                variant("manual", || runtimes::run(rt, sequential(Manual, calls))),
                variant("pool-submit", || {
                    runtimes::run(rt, sequential(ManualPool, calls))
                }),
                variant("annotated-contended", || {
                    runtimes::run(rt, contended(Annotated, TASKS, per_task, 1))
                }),
                variant("manual-contended", || {
                    runtimes::run(rt, contended(Manual, TASKS, per_task, 1))
                }),
                variant("pool-submit-contended", || {
                    runtimes::run(rt, contended(ManualPool, TASKS, per_task, 1))
                }),
                variant("group-permit", || {
                    runtimes::run(rt, sequential(GroupPermit, calls))
                }),
            ],
        );
        let [annotated, manual, pool, annotated_contended, manual_contended, pool_contended, group_permit] =
            medians[..]
        else {
            unreachable!()
        };
        table.push(Row::ratio(
            "3 #[pooled] fn, uncontended",
            flavor.label(),
            annotated,
            "manual Group::submit",
            manual,
            Target::RatioAtMost(1.05),
        ));
        table.push(Row::ratio(
            "3 #[pooled] fn, contended (case 2 FIFO)",
            flavor.label(),
            annotated_contended,
            "manual Group::submit",
            manual_contended,
            Target::RatioAtMost(1.05),
        ));
        table.push(Row::ratio(
            "3 #[pooled] fn vs the same call through Pool::submit (issue 14), uncontended",
            flavor.label(),
            annotated,
            "static Pool::submit",
            pool,
            Target::RatioAtMost(1.05),
        ));
        table.push(Row::ratio(
            "3 #[pooled] fn vs the same call through Pool::submit (issue 14), contended",
            flavor.label(),
            annotated_contended,
            "static Pool::submit",
            pool_contended,
            Target::RatioAtMost(1.05),
        ));
        table.push(Row::ratio(
            "3 Group::acquire permit, then the body, uncontended",
            flavor.label(),
            group_permit,
            "manual Group::submit",
            manual,
            Target::Info,
        ));
    }
}
