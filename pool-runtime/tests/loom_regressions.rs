//! Bugs found by the loom models (`tests/loom.rs`), each reproduced here
//! deterministically, without loom, so that the normal test run keeps them
//! fixed.

mod common;

use common::PendingOnce;
use pool_runtime::{Pool, Rejected};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
}

/// A waker that, when woken, polls a held call to its end: its slot is
/// released right there, inside whatever operation is waking wakers.
struct ReleaseOnWake<F> {
    held: Mutex<Option<Pin<Box<F>>>>,
    released: AtomicBool,
}

impl<F: Future<Output = Result<(), Rejected>> + Send> Wake for ReleaseOnWake<F> {
    fn wake(self: Arc<Self>) {
        if let Some(mut held) = self.held.lock().unwrap().take() {
            let out = poll_once(held.as_mut(), Waker::noop());
            assert_eq!(out, Poll::Ready(Ok(())), "the held call finishes");
            self.released.store(true, Ordering::SeqCst);
        }
    }
}

/// Found by `wake_batches_larger_than_one_batch_racing_a_resize_and_abort_lose_no_waiter`.
///
/// `abort` turns waiters away in batches of wakers (32), unlocking between
/// batches to wake them. When the queue ran out exactly at the end of a
/// batch, it unlocked with the queue empty but the admission word still
/// flagged `QUEUED`; a slot released in that gap took the hand-off path,
/// found no waiter, and was never given back: `running` stayed at 1 for
/// good, and `drained()` (so `shutdown`) never resolved.
#[test]
fn a_slot_released_while_abort_wakes_a_full_batch_is_not_lost() {
    const BATCH: usize = 32;
    let pool: &'static Pool = Box::leak(Box::new(Pool::fixed(1)));
    let mut held = Box::pin(pool.submit(PendingOnce::default()));
    assert!(poll_once(held.as_mut(), Waker::noop()).is_pending());

    let release = Arc::new(ReleaseOnWake {
        held: Mutex::new(Some(held)),
        released: AtomicBool::new(false),
    });
    let release_waker = Waker::from(release.clone());
    // Exactly one batch of waiters; one of them, when woken by `abort`,
    // releases the held slot while `abort` has the lock dropped.
    let mut waiters: Vec<_> = (0..BATCH)
        .map(|_| Box::pin(pool.submit(async {})))
        .collect();
    for (i, waiter) in waiters.iter_mut().enumerate() {
        let waker = if i == BATCH - 1 {
            &release_waker
        } else {
            Waker::noop()
        };
        assert!(poll_once(waiter.as_mut(), waker).is_pending());
    }
    assert_eq!(pool.stats().waiting, BATCH);

    pool.abort();
    assert!(
        release.released.load(Ordering::SeqCst),
        "released during abort"
    );
    for waiter in &mut waiters {
        assert_eq!(
            poll_once(waiter.as_mut(), Waker::noop()),
            Poll::Ready(Err(Rejected::Closed))
        );
    }
    let stats = pool.stats();
    assert_eq!(
        (stats.running, stats.waiting),
        (0, 0),
        "the released slot is freed: {stats:?}"
    );
    let mut drained = Box::pin(pool.drained());
    assert_eq!(poll_once(drained.as_mut(), Waker::noop()), Poll::Ready(()));
}
