//! Waiting on the calling thread: how sync callers wait in the same queue, in
//! the same order, as async ones.

use crate::sync::pool_thread_local;
use crate::sync::thread::{self, Thread};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
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

/// Waits on this thread, parking between polls, for `fut` to complete; with
/// a `timeout`, gives up (returns `None`) once it has passed.
///
/// The caller has polled `fut` once already, without a waker, and found it
/// pending. Nothing is allocated: the waker is the thread's own, made at its
/// first wait.
///
/// # Panics
///
/// If it would have to park the thread that drives a current-thread tokio
/// runtime (see [`blocking_region`]).
pub(crate) fn wait<F: Future>(
    mut fut: Pin<&mut F>,
    timeout: Option<Duration>,
) -> Option<F::Output> {
    blocking_region(|| {
        // A timeout too long to pass is none (`Duration::MAX` is never).
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let park = |waker: &Waker| {
            let mut cx = Context::from_waker(waker);
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
        };
        // This thread's waker, made at its first wait; a thread whose
        // thread-locals are being torn down makes one for the occasion.
        let mut park = Some(park);
        let cached = THREAD_WAKER.try_with(|waker| (park.take().expect("runs once"))(waker));
        match (cached, park) {
            (Ok(out), _) => out,
            (Err(_), Some(mut park)) => park(&unpark_waker()),
            (Err(_), None) => unreachable!("`try_with` failed without running its closure"),
        }
    })
}

/// A waker that unparks the current thread.
fn unpark_waker() -> Waker {
    Waker::from(Arc::new(Unpark(thread::current())))
}

pool_thread_local! {
    /// This thread's waker for sync calls that wait: made once per thread,
    /// so a waiting sync call allocates nothing (a queued call keeps a
    /// clone, one reference count).
    static THREAD_WAKER: Waker = unpark_waker();
}

/// Runs `wait`, which parks this thread, so that no async work is starved
/// by it.
///
/// On a worker thread of a multi-thread tokio runtime, the worker's other
/// tasks are handed to another thread first (`block_in_place`), so a sync
/// call made from async code waits without stalling them (and without
/// deadlocking when the slot it waits for is held by one of them). Off the
/// runtime's workers (a `spawn_blocking` thread, a plain thread) it just
/// parks.
///
/// # Panics
///
/// On the thread that drives a current-thread runtime, parking would stop
/// every task of that runtime, including the ones holding the slots the call
/// waits for: a deadlock. It panics instead, naming the fixes.
pub(crate) fn blocking_region<T>(wait: impl FnOnce() -> T) -> T {
    #[cfg(feature = "tokio")]
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        use tokio::runtime::RuntimeFlavor;
        match handle.runtime_flavor() {
            RuntimeFlavor::CurrentThread => {
                // `block_in_place` refuses (panics) on the thread driving a
                // current-thread runtime and is a no-op anywhere else: the one
                // public way to tell the two apart.
                let mut wait = Some(wait);
                let mut started = false;
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    tokio::task::block_in_place(|| {
                        started = true;
                        (wait.take().expect("runs once"))()
                    })
                }));
                return match out {
                    Ok(out) => out,
                    Err(payload) if started => std::panic::resume_unwind(payload),
                    Err(_) => panic!("{CURRENT_THREAD_WAIT}"),
                };
            }
            RuntimeFlavor::MultiThread => return tokio::task::block_in_place(wait),
            _ => {}
        }
    }
    wait()
}

/// Whether this thread runs in a current-thread tokio runtime's context
/// (its driving thread, where [`blocking_region`] refuses to park, or one
/// of its blocking threads, which cannot be told apart from it without
/// trying).
pub(crate) fn in_current_thread_runtime() -> bool {
    #[cfg(feature = "tokio")]
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        return handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread;
    }
    false
}

/// Why a sync call nested in pooled work refused to park.
pub(crate) const NESTED_SYNC_WAIT: &str = "pooled: a sync call (`Pool::run`, `Group::run`, or a \
    sync `#[pooled]` function) nested in work of the same pool had to wait for the work's slot, \
    which is lent to another nested call running in the same task; parking the thread would \
    stop that call from ever giving the slot back. Await the other call first, or make this \
    one async (`submit`)";

/// Why a sync call refused to park a current-thread runtime's thread.
#[cfg(feature = "tokio")]
pub(crate) const CURRENT_THREAD_WAIT: &str =
    "pooled: a sync call (`Pool::run`, `Group::run`, or a \
    sync `#[pooled]` function) had to wait for a slot (or a fleet lease) on the thread that drives \
    a current-thread tokio runtime; parking it would stop the tasks holding them, a deadlock. Make the \
    function `async`, run it with `tokio::task::spawn_blocking` (or `#[pooled(blocking)]`), or \
    use the multi-thread runtime";
