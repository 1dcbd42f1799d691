//! Hostile tests, round 35 (facade): `#[pooled(blocking)]` functions whose
//! bodies inherit the reentrancy frames of the work that called them
//! (commit 4f57c81): a group's async function awaiting another group's
//! blocking function that calls back into the first group (sync and
//! blocking forms), three levels deep, with contenders; and callers
//! cancelled while the blocking body calls back. Counted from outside,
//! under a watchdog.

mod common;

use common::{within, Meter};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(60);

#[pooled::group(size = 1)]
/// X: one slot.
pub struct R35X;

#[pooled::group(size = 1)]
/// Y: one slot.
pub struct R35Y;

static X_LEAVES: Meter = Meter::new();

#[pooled::pooled(group = R35X)]
fn x_leaf(v: u32) -> u32 {
    let _in = X_LEAVES.enter();
    std::thread::sleep(Duration::from_micros(300));
    v
}

#[pooled::pooled(blocking, group = R35X)]
fn x_blocking_leaf(v: u32) -> u32 {
    x_leaf(v) + 1
}

#[pooled::pooled(blocking, group = R35Y)]
fn y_blocking(v: u32) -> u32 {
    // Back into X from Y's job: sync, then X's own blocking function.
    x_leaf(v) + futures::executor::block_on(x_blocking_leaf(v))
}

#[pooled::pooled(group = R35X)]
async fn x_outer(v: u32) -> u32 {
    y_blocking(v).await
}

#[pooled::pooled(group = R35X)]
fn x_outer_sync(v: u32) -> u32 {
    futures::executor::block_on(y_blocking(v))
}

/// X async → Y blocking → X sync + X blocking → X sync, and the same from
/// a sync X function: completes with X and Y of one slot, with a contender
/// on X that never runs beside a leaf.
#[test]
fn attribute_functions_call_back_through_another_groups_blocking_function() {
    within(BOUND, || {
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let contender = std::thread::spawn(move || {
            while !s2.load(SeqCst) {
                x_leaf(0);
            }
        });
        let rt = common::multi_thread();
        for v in 0..20 {
            assert_eq!(rt.block_on(x_outer(v)), 2 * v + 1);
            assert_eq!(x_outer_sync(v), 2 * v + 1);
        }
        // Callers cut off while the blocking body calls back into X.
        rt.block_on(async {
            for v in 0..10 {
                let _ = tokio::time::timeout(Duration::from_micros(200), x_outer(v)).await;
            }
        });
        stop.store(true, SeqCst);
        contender.join().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while R35X::POOL.stats().running + R35Y::POOL.stats().running > 0
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(X_LEAVES.peak(), 1, "X leaves at once");
        for s in [R35X::POOL.stats(), R35Y::POOL.stats()] {
            assert_eq!((s.running, s.waiting, s.nested), (0, 0, 0), "{s:?}");
            assert_eq!(
                s.submitted(),
                s.completed + s.cancelled + s.rejected_total(),
                "{s:?}"
            );
        }
    });
}
