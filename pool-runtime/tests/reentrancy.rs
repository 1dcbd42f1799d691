//! A call into a pool from inside work holding one of its slots runs under the
//! parent's slot: nested calls never deadlock a full pool.

mod common;

use common::Task;
use pool_runtime::Pool;

fn full_pool() -> Pool {
    Pool::fixed(1)
}

#[test]
fn nested_async_call_in_a_full_pool_runs_under_the_parents_slot() {
    let pool = full_pool();
    let out = futures::executor::block_on(pool.submit(async {
        assert_eq!(pool.stats().running, 1);
        let inner = pool
            .submit(async { pool.submit(async { 2 }).await.unwrap() * 10 })
            .await;
        assert_eq!(pool.stats().running, 1, "nested calls take no extra slot");
        inner.unwrap() + 1
    }));
    assert_eq!(out, Ok(21));
    let stats = pool.stats();
    assert_eq!(
        (stats.completed, stats.running, stats.submitted()),
        (3, 0, 3)
    );
}

#[test]
fn nested_sync_call_in_a_full_pool_runs_inline() {
    let pool = full_pool();
    let out = pool.run(|| pool.run(|| pool.run(|| 7).unwrap()).unwrap());
    assert_eq!(out, Ok(7));
}

#[test]
fn a_paused_pool_still_runs_nested_calls_of_admitted_work() {
    let pool = full_pool();
    let out = pool.run(|| {
        pool.pause();
        pool.run(|| "nested")
    });
    assert_eq!(out, Ok(Ok("nested")));
    assert_eq!(pool.run(|| ()), Err(pool_runtime::Rejected::Paused));
}

#[test]
fn a_call_into_another_full_pool_from_inside_work_waits() {
    let outer = full_pool();
    let other = full_pool();
    let mut holder = Task::new(other.submit(std::future::pending::<()>()));
    holder.assert_pending();
    let waited = outer.run(|| {
        let mut call = Task::new(other.submit(async {}));
        call.poll().is_pending()
    });
    assert_eq!(
        waited,
        Ok(true),
        "only slots of the same pool are inherited"
    );
}

#[tokio::test]
async fn blocking_work_nested_calls_run_under_its_slot() {
    let pool = full_pool();
    let inner = pool.clone();
    let out = pool.submit_blocking(move || inner.run(|| 5).unwrap()).await;
    assert_eq!(out, Ok(5));
}

#[tokio::test]
async fn a_spawned_task_is_an_independent_call_not_a_nested_one() {
    let pool = Pool::fixed(2);
    let p = pool.clone();
    let out = pool
        .submit(async move {
            let child = tokio::spawn({
                let p = p.clone();
                async move { p.submit(async { p.stats().running }).await }
            });
            child.await.unwrap()
        })
        .await;
    assert_eq!(out, Ok(Ok(2)), "the spawned call took the second slot");
}
