//! Parallel tests that use one global group do not see each other's state
//! once each isolates it (feature `test-util`).
#![cfg(feature = "test-util")]

use pool_runtime::{Group, GroupSpec, Rejected};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

static SHARED: Group = Group::new(GroupSpec::new("tests::isolation").size(2));

/// Runs `f` on its own thread inside its own tokio runtime, as a
/// `#[tokio::test]` does.
fn in_runtime<T: Send + 'static>(
    f: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>> + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(f())
    })
}

#[test]
fn two_runtimes_pause_and_count_their_own_instances() {
    static GROUP: Group = Group::new(GroupSpec::new("tests::isolation::two").size(2));
    let both_isolated = Arc::new(Barrier::new(2));
    let both_done = Arc::new(Barrier::new(2));
    let spawn = |calls: u64, pause: bool| {
        let (isolated, done) = (both_isolated.clone(), both_done.clone());
        in_runtime(move || {
            Box::pin(async move {
                let _mine = GROUP.isolate();
                isolated.wait();
                if pause {
                    GROUP.pause();
                }
                let mut rejected = 0;
                for _ in 0..calls {
                    // A spawned task runs on the test's runtime: isolated too.
                    let out = tokio::spawn(async { GROUP.submit(0, async { 1 }).await })
                        .await
                        .unwrap();
                    if out == Err(Rejected::Paused) {
                        rejected += 1;
                    }
                }
                done.wait();
                (GROUP.stats().completed, rejected)
            })
        })
    };
    let paused = spawn(5, true);
    let running = spawn(7, false);
    assert_eq!(paused.join().unwrap(), (0, 5), "its own pause");
    assert_eq!(
        running.join().unwrap(),
        (7, 0),
        "not paused by the other test"
    );
    assert!(!GROUP.is_paused(), "the shared pool was never paused");
    assert_eq!(GROUP.stats().completed, 0, "nor called");
}

#[test]
fn a_plain_test_thread_is_its_own_scope_and_a_closed_instance_is_gone_with_it() {
    let first = std::thread::spawn(|| {
        let _mine = SHARED.isolate();
        SHARED.pool().close();
        SHARED.run(|| ())
    });
    assert_eq!(first.join().unwrap(), Err(Rejected::Closed));
    let second = std::thread::spawn(|| {
        let _mine = SHARED.isolate();
        SHARED.run(|| 2)
    });
    assert_eq!(
        second.join().unwrap(),
        Ok(2),
        "the next test gets an open one"
    );
    assert_eq!(SHARED.run(|| 3), Ok(3), "the shared pool is open");
}

#[test]
fn each_isolated_instance_keeps_the_limit_on_its_own() {
    static LIMITED: Group = Group::new(GroupSpec::new("tests::isolation::limit").size(2));
    let run = || {
        in_runtime(|| {
            Box::pin(async {
                let _mine = LIMITED.isolate();
                let gauge = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
                let tasks: Vec<_> = (0..16)
                    .map(|_| {
                        let gauge = gauge.clone();
                        tokio::spawn(async move {
                            LIMITED
                                .submit(0, async {
                                    let now = gauge.0.fetch_add(1, Ordering::SeqCst) + 1;
                                    gauge.1.fetch_max(now, Ordering::SeqCst);
                                    tokio::time::sleep(Duration::from_millis(2)).await;
                                    gauge.0.fetch_sub(1, Ordering::SeqCst);
                                })
                                .await
                                .unwrap();
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                (gauge.1.load(Ordering::SeqCst), LIMITED.stats().completed)
            })
        })
    };
    let (a, b) = (run(), run());
    assert_eq!(a.join().unwrap(), (2, 16));
    assert_eq!(b.join().unwrap(), (2, 16));
}

#[test]
fn nested_isolations_serve_the_newest_and_unwind_in_order() {
    static NESTED: Group = Group::new(GroupSpec::new("tests::isolation::nested").size(1));
    let outer = NESTED.isolate();
    outer.pool().pause();
    {
        let _inner = NESTED.isolate();
        assert_eq!(NESTED.run(|| 1), Ok(1), "the newest instance is not paused");
    }
    assert_eq!(
        NESTED.run(|| 1),
        Err(Rejected::Paused),
        "back to the outer one"
    );
    drop(outer);
    assert_eq!(NESTED.run(|| 1), Ok(1), "back to the shared pool");
}
