//! Admission deadlines hold nothing once their call stops waiting: a call
//! admitted (or given up by its caller) long before its timeout releases the
//! waker its deadline kept.

use pool_runtime::Pool;
use std::future::{pending, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// A waker whose live clones are counted by its `Arc`'s strong count.
struct Counted;

impl Wake for Counted {
    fn wake(self: Arc<Self>) {}
}

fn hour_pool() -> Pool {
    Pool::builder()
        .size(1)
        .admission_timeout(Duration::from_secs(3600))
        .build()
        .unwrap()
}

/// A call that runs until dropped, holding the pool's only slot.
fn hold(pool: &Pool) -> Pin<Box<impl Future + '_>> {
    let mut holder = Box::pin(pool.submit(pending::<()>()));
    assert!(holder
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending());
    assert_eq!(pool.stats().running, 1);
    holder
}

#[test]
fn a_thousand_calls_admitted_long_before_their_timeout_keep_no_wakers() {
    let pool = hour_pool();
    let counted = Arc::new(Counted);
    let waker = Waker::from(counted.clone());
    let mut cx = Context::from_waker(&waker);
    for _ in 0..1_000 {
        let holder = hold(&pool);
        let mut waiter = Box::pin(pool.submit(async {}));
        assert!(waiter.as_mut().poll(&mut cx).is_pending(), "waits");
        drop(holder); // hands the slot to the waiter
        assert_eq!(waiter.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    }
    assert_eq!(
        Arc::strong_count(&counted) - 2,
        0,
        "waker clones still alive after every call finished"
    );
    let stats = pool.stats();
    assert_eq!(
        (stats.completed, stats.cancelled, stats.running),
        (1_000, 1_000, 0),
        "each waiter ran; each holder was dropped while running"
    );
}

#[test]
fn a_thousand_calls_given_up_while_waiting_keep_no_wakers() {
    let pool = hour_pool();
    let counted = Arc::new(Counted);
    let waker = Waker::from(counted.clone());
    let mut cx = Context::from_waker(&waker);
    let holder = hold(&pool);
    for _ in 0..1_000 {
        let mut waiter = Box::pin(pool.submit(async {}));
        assert!(waiter.as_mut().poll(&mut cx).is_pending(), "waits");
        drop(waiter);
    }
    assert_eq!(
        Arc::strong_count(&counted) - 2,
        0,
        "waker clones still alive after every waiting call was dropped"
    );
    assert_eq!((pool.stats().cancelled, pool.stats().waiting), (1_000, 0));
    drop(holder);
}
