//! Waiting on the calling thread: how sync callers wait in the same queue, in
//! the same order, as async ones.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` to completion on this thread, parking between polls. With a
/// `timeout`, gives up (returns `None`) once it has passed.
///
/// A waker (one `Arc`) is only made if the first poll is pending, so an
/// uncontended sync call allocates nothing.
pub(crate) fn block_on<F: Future>(
    mut fut: Pin<&mut F>,
    timeout: Option<Duration>,
) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
        return Some(out);
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Some(out);
        }
        match deadline {
            None => thread::park(),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                thread::park_timeout(left);
            }
        }
    }
}
