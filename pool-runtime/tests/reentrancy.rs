//! A call into a pool from inside work holding one of its slots runs under the
//! parent's slot: nested calls never deadlock a full pool.

mod common;

use common::{Meter, Task};
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

// ---- The reentrancy rule, counted from outside the library -------------------
//
// Each case below broke the limit before the rule was enforced (issue 9, §1):
// a counter around each call's body (never around a parent that only waits for
// its nested calls) records the most bodies ever running at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Every call accounted for, by counters that are not derived from each other.
#[track_caller]
fn assert_quiet_and_accounted(pool: &Pool) {
    let s = pool.stats();
    assert_eq!((s.running, s.nested, s.waiting), (0, 0, 0), "{s:?}");
    assert_eq!(
        s.submitted(),
        s.completed + s.rejected_total() + s.cancelled,
        "{s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_spawned_through_the_pool_takes_slots_of_its_own() {
    let pool = Pool::fixed(1);
    let meter = Meter::default();
    let handles = pool
        .submit(async {
            let _inside = meter.enter();
            (0..4)
                .map(|_| pool.spawn(meter.clone().body(20)).unwrap())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    for handle in handles {
        handle.await.unwrap();
    }
    assert_eq!(meter.done(), 5);
    assert_eq!(meter.max(), 1, "spawned calls each waited for a slot");
    assert_quiet_and_accounted(&pool);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_blocking_job_keeps_its_slot_busy_after_its_caller_is_dropped() {
    let pool = Pool::fixed(1);
    let meter = Meter::default();
    let m = meter.clone();
    pool.submit(async {
        let mut job = Box::pin(pool.submit_blocking(move || {
            let _inside = m.enter();
            std::thread::sleep(Duration::from_millis(100));
        }));
        // Admitted under this call's slot and started on a blocking thread.
        assert!(futures::poll!(job.as_mut()).is_pending());
        drop(job);
    })
    .await
    .unwrap();
    // The closure still runs: the slot it borrowed stays busy until it ends.
    pool.submit(meter.clone().body(10)).await.unwrap();
    assert_eq!(meter.done(), 2);
    assert_eq!(meter.max(), 1);
    assert_quiet_and_accounted(&pool);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::async_yields_async)] // returning the nested call is the point
async fn a_nested_call_returned_out_of_its_parent_keeps_the_slot_until_it_ends() {
    let pool = Pool::fixed(1);
    let meter = Meter::default();
    let escaped = pool
        .submit(async {
            let mut inner = Box::pin(pool.submit(meter.clone().body(60)));
            assert!(futures::poll!(inner.as_mut()).is_pending());
            inner
        })
        .await
        .unwrap();
    assert_eq!(pool.stats().running, 1, "the escaped call holds the slot");
    let (a, b) = tokio::join!(escaped, pool.submit(meter.clone().body(10)));
    assert_eq!((a, b), (Ok(()), Ok(())));
    assert_eq!(meter.max(), 1);
    assert_quiet_and_accounted(&pool);
}

#[test]
fn tasks_of_a_runtime_driven_inside_a_sync_call_run_one_at_a_time_under_its_slot() {
    let pool = Pool::fixed(1);
    let meter = Meter::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let out = pool.run(|| {
        rt.block_on(async {
            let tasks: Vec<_> = (0..3)
                .map(|_| {
                    let (pool, meter) = (pool.clone(), meter.clone());
                    tokio::spawn(async move { pool.submit(meter.body(20)).await })
                })
                .collect();
            for task in tasks {
                task.await.unwrap().unwrap();
            }
        })
    });
    assert_eq!(out, Ok(()));
    assert_eq!(meter.done(), 3);
    assert_eq!(meter.max(), 1);
    assert_quiet_and_accounted(&pool);
}

#[tokio::test]
async fn joined_nested_calls_share_the_parents_slot_one_at_a_time() {
    let pool = Pool::fixed(1);
    let meter = Meter::default();
    let out = pool
        .submit(async {
            let (a, b) = tokio::join!(
                pool.submit(meter.clone().body(20)),
                pool.submit(meter.clone().body(20))
            );
            a.and(b)
        })
        .await;
    assert_eq!(out, Ok(Ok(())));
    assert_eq!(meter.done(), 2);
    assert_eq!(meter.max(), 1, "a pool of 1 never runs two bodies");
    assert_quiet_and_accounted(&pool);
}

#[tokio::test]
async fn a_nested_call_that_finds_the_parents_slot_lent_takes_a_free_one() {
    let pool = Pool::fixed(2);
    let meter = Meter::default();
    let out = pool
        .submit(async {
            let (a, b, c) = tokio::join!(
                pool.submit(meter.clone().body(30)),
                pool.submit(meter.clone().body(30)),
                pool.submit(meter.clone().body(30)),
            );
            a.and(b).and(c)
        })
        .await;
    assert_eq!(out, Ok(Ok(())));
    assert_eq!(meter.max(), 2, "the parent's slot and the free one");
    assert_quiet_and_accounted(&pool);
}

#[tokio::test]
async fn nested_calls_nest_to_any_depth_in_a_full_pool() {
    fn depth(pool: &Pool, meter: Meter, n: usize) -> futures::future::BoxFuture<'_, usize> {
        Box::pin(async move {
            if n == 0 {
                meter.body(1).await;
                return 0;
            }
            let (a, b) = tokio::join!(
                pool.submit(depth(pool, meter.clone(), n - 1)),
                pool.submit(depth(pool, meter.clone(), n - 1))
            );
            a.unwrap() + b.unwrap() + 1
        })
    }
    let pool = Pool::fixed(1);
    let meter = Meter::default();
    assert_eq!(pool.submit(depth(&pool, meter.clone(), 5)).await, Ok(31));
    assert_eq!(meter.done(), 32);
    assert_eq!(meter.max(), 1);
    assert_quiet_and_accounted(&pool);
}

#[test]
fn a_cancelled_calls_work_whose_drop_calls_the_same_full_pool_does_not_deadlock() {
    struct CallsOnDrop(Pool, Arc<AtomicUsize>);
    impl Drop for CallsOnDrop {
        fn drop(&mut self) {
            let ran = self.1.clone();
            self.0.run(|| ran.fetch_add(1, Ordering::SeqCst)).unwrap();
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let pool = Pool::fixed(1);
        let ran = Arc::new(AtomicUsize::new(0));
        let guard = CallsOnDrop(pool.clone(), ran.clone());
        let mut call = Task::new(pool.submit(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        }));
        call.assert_pending();
        drop(call);
        tx.send((ran.load(Ordering::SeqCst), pool.stats())).unwrap();
    });
    let (ran, stats) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("dropping the call deadlocked");
    assert_eq!(ran, 1);
    assert_eq!((stats.running, stats.cancelled, stats.completed), (0, 1, 1));
}

#[test]
fn a_sync_call_that_would_park_the_task_holding_its_parents_slot_fails_loudly() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let pool = Pool::fixed(1);
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures::executor::block_on(pool.submit(async {
                // One nested call borrows the slot and stays pending; the sync
                // call joined with it would park the thread that must finish it.
                let (lender_done, _) =
                    futures::join!(pool.submit(common::yield_now()), async { pool.run(|| ()) });
                lender_done
            }))
        }));
        let message = match refused {
            Err(payload) => payload
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default(),
            Ok(out) => format!("not refused: {out:?}"),
        };
        tx.send((message, pool.stats())).unwrap();
    });
    let (message, stats) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("deadlocked instead of failing loudly");
    assert!(message.contains("lent to another nested call"), "{message}");
    assert_eq!(
        (stats.running, stats.nested, stats.waiting),
        (0, 0, 0),
        "{stats:?}"
    );
}

#[test]
fn a_sync_call_nested_in_work_waits_for_a_slot_lent_to_a_blocking_job() {
    let pool = Pool::fixed(1);
    let meter = Meter::default();
    let m = meter.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let out = rt.block_on(pool.submit(async {
        let mut job = Box::pin(pool.submit_blocking(move || {
            let _inside = m.enter();
            std::thread::sleep(Duration::from_millis(50));
        }));
        assert!(
            futures::poll!(job.as_mut()).is_pending(),
            "the job borrowed the slot"
        );
        // The job runs on another thread: waiting for the slot is fine.
        let ran = pool.run(|| {
            let _inside = meter.enter();
        });
        job.await.unwrap();
        ran
    }));
    assert_eq!(out, Ok(Ok(())));
    assert_eq!(meter.done(), 2);
    assert_eq!(meter.max(), 1);
    assert_quiet_and_accounted(&pool);
}
