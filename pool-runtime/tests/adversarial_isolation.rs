//! Hostile acceptance tests of `Group::isolate` (feature `test-util`),
//! round 2: parallel isolations of one group never see each other's pause,
//! close or stats; a guard dropped while its calls run; isolation from a
//! plain thread against isolation from a tokio runtime.
#![cfg(all(feature = "test-util", feature = "tokio"))]

use pool_runtime::{Group, GroupSpec, Rejected};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

static SHARED: Group = Group::new(GroupSpec::new("adv_iso::shared").size(2));

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `f` on its own thread, failing instead of hanging.
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("finished in time")
}

#[test]
fn parallel_isolations_never_see_each_others_pause_close_or_stats() {
    bounded(|| {
        let start = Arc::new(Barrier::new(4));
        let tests: Vec<_> = (0..4)
            .map(|i| {
                let start = start.clone();
                std::thread::spawn(move || {
                    // Half the "tests" run on a tokio runtime, half on a plain thread.
                    let body = move || {
                        let mine = SHARED.isolate();
                        start.wait();
                        match i {
                            0 => SHARED.pause(),
                            1 => SHARED.pool().close(),
                            _ => {}
                        }
                        start.wait();
                        let ran = (0..5).filter(|_| SHARED.run(|| ()).is_ok()).count();
                        let stats = SHARED.stats();
                        assert!(std::ptr::eq(SHARED.pool(), mine.pool()));
                        (
                            ran,
                            stats.completed,
                            stats.rejected_for(Rejected::Paused)
                                + stats.rejected_for(Rejected::Closed),
                        )
                    };
                    if i % 2 == 0 {
                        current_thread().block_on(async move { body() })
                    } else {
                        body()
                    }
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert_eq!(tests[0], (0, 0, 5), "paused: all five rejected, its own");
        assert_eq!(tests[1], (0, 0, 5), "closed: all five rejected, its own");
        assert_eq!(tests[2], (5, 5, 0), "never saw the pause or the close");
        assert_eq!(tests[3], (5, 5, 0), "never saw the pause or the close");
        assert!(!SHARED.is_paused(), "the shared pool was never paused");
        assert_eq!(SHARED.stats().completed, 0, "nor used");
    });
}

#[test]
fn a_guard_dropped_while_its_calls_run_lets_them_finish_in_their_pool() {
    static GROUP: Group = Group::new(GroupSpec::new("adv_iso::dropped").size(1));
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let isolated = rt.block_on(async {
        let guard = GROUP.isolate();
        let isolated = guard.pool();
        let calls: Vec<_> = (0..6)
            .map(|_| {
                let (now, peak) = (now.clone(), peak.clone());
                tokio::spawn(GROUP.submit(0, async move {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(3)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        tokio::time::timeout(Duration::from_secs(5), async {
            while isolated.stats().running == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap();
        drop(guard); // while one runs and five wait
        assert_eq!(GROUP.run(|| 7), Ok(7), "new calls go to the shared pool");
        for c in calls {
            tokio::time::timeout(Duration::from_secs(5), c)
                .await
                .expect("no hang")
                .unwrap()
                .unwrap();
        }
        isolated
    });
    assert_eq!(
        peak.load(Ordering::SeqCst),
        1,
        "its limit held after the drop"
    );
    let s = isolated.stats();
    assert_eq!((s.completed, s.running, s.waiting), (6, 0, 0), "{s:?}");
    let shared = GROUP.stats();
    assert_eq!((shared.completed, shared.running), (1, 0), "{shared:?}");
}

/// Where the guard is made decides which calls it covers: a guard made in
/// a runtime covers the calls made in that runtime (its tasks, its blocking
/// jobs), a guard made outside any runtime the calls its thread makes
/// outside runtimes; a test doing both isolates in both places.
#[test]
fn isolation_from_a_thread_and_from_a_runtime() {
    static GROUP: Group = Group::new(GroupSpec::new("adv_iso::scopes").size(2));
    bounded(|| {
        let on_thread = GROUP.isolate();
        GROUP.pause();
        assert_eq!(
            GROUP.run(|| ()),
            Err(Rejected::Paused),
            "the thread's instance"
        );
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // Not covered by the thread's guard: the shared pool.
            assert_eq!(GROUP.submit(0, async { 1 }).await, Ok(1));
            let in_runtime = GROUP.isolate();
            GROUP.pool().close();
            assert_eq!(GROUP.submit(0, async { 1 }).await, Err(Rejected::Closed));
            // Its tasks, sync calls from blocking jobs and blocking calls are
            // covered too.
            let task = tokio::spawn(async { GROUP.submit(0, async { 1 }).await });
            assert_eq!(task.await.unwrap(), Err(Rejected::Closed));
            let job = tokio::task::spawn_blocking(|| GROUP.run(|| 1));
            assert_eq!(job.await.unwrap(), Err(Rejected::Closed));
            assert_eq!(GROUP.submit_blocking(0, || 1).await, Err(Rejected::Closed));
            drop(in_runtime);
            assert_eq!(GROUP.submit(0, async { 1 }).await, Ok(1));
        });
        assert_eq!(
            GROUP.run(|| ()),
            Err(Rejected::Paused),
            "still the thread's"
        );
        drop(on_thread);
        assert_eq!(GROUP.run(|| 2), Ok(2));
        let s = GROUP.stats();
        assert_eq!((s.completed, s.rejected_for(Rejected::Paused)), (3, 0));
        assert!(!GROUP.is_paused() && !GROUP.pool().is_closed());
    });
}
