//! The wakers of fired admission deadlines are woken off the timer thread,
//! on waking threads: a waker that blocks holds up no other deadline
//! (`adversarial_round36.rs` keeps that case), and a burst of deadlines
//! firing together is woken by the threads there are — a new one only when
//! the busy ones stall — not by a thread each. Each test runs in a process
//! of its own: the timer and its waking threads are the process's.
#![cfg(not(miri))]

mod common;

use pool_runtime::{Pool, Rejected};
use std::future::{pending, Future};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// Counts its wakes.
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// This process's threads whose name starts with `prefix` (Linux: the
/// kernel keeps 15 bytes of a thread's name).
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .filter(|task| {
                    std::fs::read_to_string(task.path().join("comm"))
                        .is_ok_and(|name| name.starts_with(prefix))
                })
                .count()
        })
        .unwrap_or(0)
}

/// 2 000 waiting calls whose deadlines fire together, with quick wakers:
/// every one is woken and times out, and no more than a few waking threads
/// ever run (a thread per waker would be 2 000).
#[test]
#[cfg(target_os = "linux")]
fn a_burst_of_deadlines_is_woken_by_a_few_threads_not_a_thread_each() {
    common::in_own_process(
        "a_burst_of_deadlines_is_woken_by_a_few_threads_not_a_thread_each",
        &[],
        || {
            const CALLS: usize = 2000;
            let pool = Pool::builder()
                .size(1)
                .admission_timeout(Duration::from_millis(100))
                .build()
                .unwrap();
            let mut holder = Box::pin(pool.submit(pending::<()>()));
            let counting = Arc::new(Counting(AtomicUsize::new(0)));
            let waker = Waker::from(counting.clone());
            let mut cx = Context::from_waker(&waker);
            assert!(holder.as_mut().poll(&mut cx).is_pending());
            let mut calls: Vec<_> = (0..CALLS)
                .map(|i| Box::pin(pool.submit(async move { i })))
                .collect();
            for call in &mut calls {
                assert!(call.as_mut().poll(&mut cx).is_pending());
            }
            let start = Instant::now();
            let mut most = 0;
            while counting.0.load(SeqCst) < CALLS {
                most = most.max(threads_named("pooled-timer-wa"));
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "{} of {CALLS} woken",
                    counting.0.load(SeqCst)
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            most = most.max(threads_named("pooled-timer-wa"));
            assert!(most >= 1, "the wakers ran on a waking thread");
            assert!(
                most <= 4,
                "{most} waking threads for one burst of quick wakers"
            );
            for call in &mut calls {
                assert_eq!(
                    call.as_mut().poll(&mut cx),
                    Poll::Ready(Err(Rejected::TimedOut))
                );
            }
            drop(holder);
        },
    );
}
