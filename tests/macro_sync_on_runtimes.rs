//! A sync `#[pooled]` function called from async code (issue 9, §2): on a
//! multi-thread runtime's worker the wait hands the worker's tasks off; on a
//! current-thread runtime a call that must wait fails loudly instead of
//! deadlocking. Each test runs on its own thread under a bound, so a
//! regression fails instead of hanging the suite.

use std::time::Duration;

fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the call never finished: deadlocked")
}

#[pooled::pooled(size = 1)]
fn checksum_on_current_thread(n: u32) -> u32 {
    n.wrapping_mul(31)
}

#[test]
fn a_sync_fn_that_must_wait_on_a_current_thread_runtime_panics_naming_the_fix() {
    let message = within_10s(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(checksum_on_current_thread(1), 31, "a free slot: no wait");
            // A paused group holds this never-rejecting call until `resume`.
            CHECKSUM_ON_CURRENT_THREAD_POOL.pause();
            let refused = std::panic::catch_unwind(|| checksum_on_current_thread(2));
            CHECKSUM_ON_CURRENT_THREAD_POOL.resume();
            let payload = refused.expect_err("a wait here would never end");
            payload
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default()
        })
    });
    assert!(message.contains("current-thread"), "{message}");
    assert!(message.contains("async"), "names the fix: {message}");
    let stats = CHECKSUM_ON_CURRENT_THREAD_POOL.stats();
    assert_eq!(
        (stats.running, stats.waiting),
        (0, 0),
        "nothing left behind"
    );
}

#[pooled::pooled(size = 1)]
fn checksum_on_multi_thread(n: u32) -> u32 {
    n.wrapping_mul(31)
}

#[test]
fn a_sync_fn_that_must_wait_on_a_multi_thread_worker_waits_without_stalling_it() {
    within_10s(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            CHECKSUM_ON_MULTI_THREAD_POOL.pause();
            let call = tokio::spawn(async { checksum_on_multi_thread(3) });
            // Runs on the same (only) worker, which the waiting call handed off.
            let resume = tokio::spawn(async {
                while CHECKSUM_ON_MULTI_THREAD_POOL.stats().waiting == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                CHECKSUM_ON_MULTI_THREAD_POOL.resume();
            });
            resume.await.unwrap();
            assert_eq!(call.await.unwrap(), 93);
        });
    });
}
