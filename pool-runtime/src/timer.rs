//! Admission deadlines for async waits, without assuming a runtime.
//!
//! A deadline is served by one lazily started timer thread, which works under
//! any executor (or none). Pools whose clock is tokio's
//! ([`TokioClock`](crate::clock::TokioClock)) use `tokio::time::Sleep` instead,
//! so their deadlines follow tokio's (possibly paused) time like their
//! autoscaler does; that needs a runtime with its time driver enabled. Using
//! tokio's timer whenever a runtime is current would panic in runtimes built
//! without `enable_time`. Either way a deadline is only created for a call
//! that actually has to wait in a pool with an admission timeout.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A deadline that completes once `timeout` has passed.
pub(crate) enum Sleep {
    #[cfg(feature = "tokio")]
    Tokio(tokio::time::Sleep),
    Thread(Arc<Entry>),
}

impl Sleep {
    /// With `tokio_time`, a tokio timer if a runtime is current.
    pub(crate) fn new(timeout: Duration, tokio_time: bool) -> Pin<Box<Sleep>> {
        #[cfg(feature = "tokio")]
        if tokio_time && tokio::runtime::Handle::try_current().is_ok() {
            return Box::pin(Sleep::Tokio(tokio::time::sleep(timeout)));
        }
        let _ = tokio_time;
        Box::pin(Sleep::Thread(
            TimerThread::get().schedule(Instant::now() + timeout),
        ))
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Safety: the `Tokio` variant is never moved out of the pinned box.
        match unsafe { self.get_unchecked_mut() } {
            #[cfg(feature = "tokio")]
            Sleep::Tokio(sleep) => unsafe { Pin::new_unchecked(sleep) }.poll(cx),
            Sleep::Thread(entry) => {
                if entry.fired.load(Ordering::Acquire) {
                    return Poll::Ready(());
                }
                *entry.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
                if entry.fired.load(Ordering::Acquire) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

pub(crate) struct Entry {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

struct Scheduled(Instant, Arc<Entry>);

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

struct TimerThread {
    heap: Mutex<BinaryHeap<Reverse<Scheduled>>>,
    changed: Condvar,
}

impl TimerThread {
    fn get() -> &'static TimerThread {
        static TIMER: OnceLock<&'static TimerThread> = OnceLock::new();
        TIMER.get_or_init(|| {
            let timer: &'static TimerThread = Box::leak(Box::new(TimerThread {
                heap: Mutex::new(BinaryHeap::new()),
                changed: Condvar::new(),
            }));
            std::thread::Builder::new()
                .name("pooled-timer".into())
                .spawn(move || timer.run())
                .expect("spawning the pooled timer thread");
            timer
        })
    }

    fn schedule(&self, at: Instant) -> Arc<Entry> {
        let entry = Arc::new(Entry {
            fired: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        let mut heap = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        let earliest = heap.peek().is_none_or(|Reverse(first)| at < first.0);
        heap.push(Reverse(Scheduled(at, entry.clone())));
        drop(heap);
        if earliest {
            self.changed.notify_one();
        }
        entry
    }

    fn run(&self) {
        let mut heap = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = Instant::now();
            while heap.peek().is_some_and(|Reverse(first)| first.0 <= now) {
                let Some(Reverse(Scheduled(_, entry))) = heap.pop() else {
                    break;
                };
                entry.fired.store(true, Ordering::Release);
                let waker = entry.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(waker) = waker {
                    drop(heap);
                    waker.wake();
                    heap = self.heap.lock().unwrap_or_else(|e| e.into_inner());
                }
            }
            heap = match heap.peek().map(|Reverse(first)| first.0) {
                Some(at) => {
                    let wait = at.saturating_duration_since(Instant::now());
                    self.changed
                        .wait_timeout(heap, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.changed.wait(heap).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }
}
