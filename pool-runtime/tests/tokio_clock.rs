//! Admission timeouts of pools on tokio's clock: tokio's timer where the
//! runtime has one (so they follow paused time), the timer thread where it
//! has none (where `tokio::time::sleep` would panic).
#![cfg(feature = "tokio")]

use pool_runtime::{Pool, Rejected};
use std::sync::Arc;
use std::time::Duration;

/// The outcome of a call made while another call holds the pool's only slot.
async fn wait_behind_a_holder(pool: &Pool) -> Result<(), Rejected> {
    let holder = pool.submit(std::future::pending::<()>());
    tokio::pin!(holder);
    tokio::select! {
        biased; // the holder takes the slot first
        _ = &mut holder => unreachable!("the holder never finishes"),
        out = pool.submit(async {}) => out,
    }
}

fn tokio_clock_pool(timeout: Duration) -> Pool {
    Pool::builder()
        .size(1)
        .admission_timeout(timeout)
        .clock(Arc::new(pool_runtime::TokioClock::new()))
        .build()
        .unwrap()
}

#[test]
fn a_tokio_clock_pool_times_out_in_a_runtime_without_a_time_driver() {
    let pool = tokio_clock_pool(Duration::from_millis(20));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Twice: the second time the runtime is known to have no time driver.
        for _ in 0..2 {
            let out = wait_behind_a_holder(&pool).await;
            assert_eq!(out, Err(Rejected::TimedOut));
        }
    });
    assert_eq!(pool.stats().running, 0);
}

#[tokio::test(start_paused = true)]
async fn a_tokio_clock_pool_still_follows_paused_time_where_the_runtime_has_a_timer() {
    let pool = tokio_clock_pool(Duration::from_secs(3600));
    let start = tokio::time::Instant::now();
    // On the timer thread's real clock the call would still be waiting when
    // tokio's paused clock reaches this.
    let out = tokio::time::timeout(Duration::from_secs(7200), wait_behind_a_holder(&pool))
        .await
        .expect("the admission timeout follows tokio's paused clock");
    assert_eq!(out, Err(Rejected::TimedOut));
    assert!(start.elapsed() >= Duration::from_secs(3600));
}
