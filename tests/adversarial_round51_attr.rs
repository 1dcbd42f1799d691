//! Adversarial round 51, through the attribute: an async `#[pooled]`
//! function whose group is paused is turned away within its tokio task's
//! cooperative budget, like the group's own calls (commit c3ed360).

#![cfg(feature = "tokio")]

use pooled::Rejected;
use std::future::Future;
use std::pin::pin;
use std::sync::mpsc;
use std::time::Duration;

#[derive(Debug, PartialEq)]
enum Busy {
    Rejected(Rejected),
}

impl From<Rejected> for Busy {
    fn from(rejected: Rejected) -> Self {
        Busy::Rejected(rejected)
    }
}

#[pooled::pooled(size = 1)]
async fn lookup(n: u32) -> Result<u32, Busy> {
    Ok(n + 1)
}

#[pooled::pooled(size = 1)]
async fn counted(n: u32) -> Result<u32, Busy> {
    Ok(n)
}

/// Runs `scenario` on a current-thread runtime of its own thread; fails if
/// it has not finished within 20 s (a loop spinning for good).
fn on_one_thread<T: Send + 'static>(scenario: impl Future<Output = T> + Send + 'static) -> T {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = done.send(rt.block_on(scenario));
    });
    finished
        .recv_timeout(Duration::from_secs(20))
        .expect("the retry loop starved the task that would let it in")
}

/// A loop retrying a paused `#[pooled]` async function, the task that
/// resumes its group spawned beside it on one thread. Would catch: the
/// attribute's call path answering the pause outside the budget (the loop
/// spins for good and the watchdog fails the test), or a miscount.
#[test]
fn a_loop_retrying_a_paused_pooled_function_lets_the_resumer_run() {
    let rejected = on_one_thread(async {
        LOOKUP_POOL.pause();
        let resumer = tokio::spawn(async { LOOKUP_POOL.resume() });
        let mut rejected = 0u64;
        loop {
            match lookup(1).await {
                Ok(n) => {
                    assert_eq!(n, 2);
                    break;
                }
                Err(busy) => {
                    assert_eq!(busy, Busy::Rejected(Rejected::Paused));
                    rejected += 1;
                }
            }
        }
        resumer.await.unwrap();
        rejected
    });
    assert!(rejected > 0);
    let stats = LOOKUP_POOL.stats();
    assert_eq!(stats.rejected_for(Rejected::Paused), rejected, "{stats:?}");
    assert_eq!(stats.completed, 1, "{stats:?}");
}

/// Calls of a paused `#[pooled]` function, each polled once with the
/// budget spent and dropped before its answer, then one awaited after the
/// group is resumed. Would catch: a turned-away call dropped before its
/// answer counted twice (or not), or the kept answer re-decided (let in
/// after the resume).
#[test]
fn pooled_calls_dropped_before_their_answer_are_counted_once() {
    let stats = on_one_thread(async {
        COUNTED_POOL.pause();
        while tokio::task::coop::has_budget_remaining() {
            let mut unit = pin!(tokio::task::coop::consume_budget());
            assert!(futures::poll!(unit.as_mut()).is_ready());
        }
        for n in 0..1000 {
            let mut call = pin!(counted(n));
            assert!(futures::poll!(call.as_mut()).is_pending());
        }
        let mut kept = pin!(counted(7));
        assert!(futures::poll!(kept.as_mut()).is_pending());
        COUNTED_POOL.resume();
        tokio::task::yield_now().await;
        assert_eq!(kept.await, Err(Busy::Rejected(Rejected::Paused)));
        COUNTED_POOL.stats()
    });
    assert_eq!(stats.rejected_for(Rejected::Paused), 1001, "{stats:?}");
    assert_eq!(
        stats.submitted(),
        stats.completed + stats.cancelled + stats.rejected_total(),
        "{stats:?}"
    );
}
