//! Feature `rayon`: blocking closures on a rayon thread pool, with the pool's
//! limit and panic handling counted from outside.
#![cfg(feature = "rayon")]

use pool_runtime::{Pool, RayonExecutor, Rejected};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counts the closures running now, and the most there ever were.
#[derive(Default)]
struct Meter {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Meter {
    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let out = f();
        self.now.fetch_sub(1, Ordering::SeqCst);
        out
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

fn on_rayon(size: usize, executor: RayonExecutor) -> Pool {
    Pool::builder()
        .size(size)
        .blocking_executor(Arc::new(executor))
        .build()
        .unwrap()
}

fn threads(n: usize, name: &'static str) -> Arc<rayon::ThreadPool> {
    Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(move |i| format!("{name}-{i}"))
            .build()
            .unwrap(),
    )
}

#[test]
fn blocking_closures_run_on_rayons_global_pool_by_default() {
    let pool = on_rayon(2, RayonExecutor::default());
    let index = futures::executor::block_on(pool.submit_blocking(rayon::current_thread_index));
    assert!(matches!(index, Ok(Some(_))), "{index:?}");
    assert!(RayonExecutor::global().thread_pool().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_a_tokio_runtime_they_still_go_to_rayon_not_spawn_blocking() {
    let rayon_threads = threads(3, "custom-rayon");
    let executor = RayonExecutor::new(rayon_threads.clone());
    assert!(executor.thread_pool().is_some());
    let pool = on_rayon(2, executor);
    let (index, name) = pool
        .submit_blocking({
            let rayon_threads = rayon_threads.clone();
            move || {
                (
                    rayon_threads.current_thread_index(),
                    std::thread::current().name().map(str::to_owned),
                )
            }
        })
        .await
        .unwrap();
    assert!(index.is_some(), "on a thread of the given rayon pool");
    assert!(name.unwrap().starts_with("custom-rayon-"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_limit_holds_on_a_larger_rayon_pool_with_async_callers_too() {
    // 6 rayon threads, a pool of 2: the pool decides.
    let pool = on_rayon(2, RayonExecutor::new(threads(6, "limit")));
    let meter = Arc::new(Meter::default());
    let blocking = (0..30).map(|i| {
        let meter = meter.clone();
        let pool = pool.clone();
        async move {
            pool.submit_blocking(move || {
                meter.run(|| {
                    assert!(rayon::current_thread_index().is_some());
                    std::thread::sleep(Duration::from_millis(2));
                    i
                })
            })
            .await
        }
    });
    let asynchronous = (0..10).map(|i| {
        let meter = meter.clone();
        let pool = pool.clone();
        async move {
            pool.submit(async {
                let now = meter.now.fetch_add(1, Ordering::SeqCst) + 1;
                meter.peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                meter.now.fetch_sub(1, Ordering::SeqCst);
                i
            })
            .await
        }
    });
    let (blocking, asynchronous) = futures::join!(
        futures::future::join_all(blocking),
        futures::future::join_all(asynchronous)
    );
    assert_eq!(blocking, (0..30).map(Ok).collect::<Vec<_>>());
    assert_eq!(asynchronous, (0..10).map(Ok).collect::<Vec<_>>());
    assert!(meter.peak() <= 2, "{} ran at once", meter.peak());
    assert_eq!(meter.peak(), 2, "both slots were used");
    let stats = pool.stats();
    assert_eq!((stats.running, stats.waiting, stats.completed), (0, 0, 40));
}

#[test]
fn a_panic_in_the_job_reaches_the_caller_and_frees_the_slot() {
    let rayon_threads = threads(2, "panics");
    let pool = on_rayon(1, RayonExecutor::new(rayon_threads.clone()));
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(pool.submit_blocking(|| -> u32 { panic!("rayon boom") }))
    }));
    let payload = caught.expect_err("the job's panic is re-raised in the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"rayon boom"));
    let stats = pool.stats();
    assert_eq!((stats.running, stats.panicked, stats.completed), (0, 1, 1));
    // The slot and the rayon pool both still work.
    let again = futures::executor::block_on(pool.submit_blocking(|| 7));
    assert_eq!(again, Ok(7));
    assert_eq!(rayon_threads.install(|| 1 + 1), 2);
}

#[test]
fn a_nested_sync_call_from_a_rayon_job_runs_under_its_slot() {
    // The only slot is the job's: the nested `run` borrows it instead of
    // parking the rayon thread for a slot it holds itself.
    let pool = on_rayon(1, RayonExecutor::new(threads(1, "nested")));
    let inner = pool.clone();
    let out = futures::executor::block_on(pool.submit_blocking(move || inner.run(|| 40 + 2)));
    assert_eq!(out, Ok(Ok(42)));
    assert_eq!(pool.stats().completed, 2);
}

#[test]
fn a_paused_pool_rejects_before_anything_reaches_rayon() {
    let pool = on_rayon(1, RayonExecutor::default());
    pool.pause();
    let out = futures::executor::block_on(pool.submit_blocking(|| unreachable!()));
    assert_eq!(out, Err::<(), _>(Rejected::Paused));
}

/// The executor is a setting too: by name from the builder, a group's
/// declaration and configuration, with the same meaning everywhere.
#[test]
fn the_executor_setting_selects_rayon_from_the_builder_and_a_group() {
    use pool_runtime::{ExecutorKind, Group, GroupSpec};
    let pool = Pool::builder()
        .size(2)
        .executor(ExecutorKind::Rayon)
        .build()
        .unwrap();
    let on = futures::executor::block_on(
        pool.submit_blocking(|| rayon::current_thread_index().is_some()),
    );
    assert_eq!(on, Ok(true));
    static CPU: Group =
        Group::new(GroupSpec::new("tests::rayon::cpu").executor(ExecutorKind::Rayon));
    let on = futures::executor::block_on(
        CPU.submit_blocking(0, || rayon::current_thread_index().is_some()),
    );
    assert_eq!(on, Ok(true));
    assert_eq!(CPU.settings().executor, ExecutorKind::Rayon);
}

#[cfg(feature = "config")]
#[test]
fn configuration_moves_a_group_to_rayon_at_its_next_start() {
    use pool_runtime::{config, register_group, Group, GroupSpec};
    static LATER: Group = Group::new(GroupSpec::new("tests::rayon::later"));
    register_group!(LATER);
    let report = config::load_str(
        "app.toml",
        "[groups.\"tests::rayon::later\"]\nexecutor = \"rayon\"\n",
    )
    .unwrap();
    assert!(
        report.changes.iter().any(|c| c.setting == "executor"),
        "{report:?}"
    );
    let on = futures::executor::block_on(
        LATER.submit_blocking(0, || rayon::current_thread_index().is_some()),
    );
    assert_eq!(
        on,
        Ok(true),
        "a group first used after the load starts on rayon"
    );
    let bad = config::load_str(
        "app.toml",
        "[groups.\"tests::rayon::later\"]\nexecutor = \"gpu\"\n",
    )
    .unwrap_err();
    assert!(bad.message().contains("`default`, `rayon`"), "{bad}");
    config::clear();
}
