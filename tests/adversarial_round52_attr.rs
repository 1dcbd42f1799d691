//! Hostile round 52, the attribute side of "How it works, and the rules it
//! keeps": sync and async `#[pooled]` functions of one priority group share
//! one queue ordered by their weights; functions that cannot return an
//! error wait through a pause and a close, admitted in order and within
//! the limit, while those that can are turned away at once. Counted from
//! outside; every wait is bounded (`within`).
//!
//! Broken promises found: none.
#![cfg(feature = "tokio")]

mod common;

use common::{wait_for, within, Meter};
use pooled::Rejected;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(30);

#[derive(Debug, PartialEq)]
enum Busy {
    Rejected(Rejected),
}

impl From<Rejected> for Busy {
    fn from(rejected: Rejected) -> Self {
        Busy::Rejected(rejected)
    }
}

#[derive(Default)]
struct Flag(std::sync::atomic::AtomicBool);

impl Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A future polled by hand, remembering whether it was woken.
struct Task<F: Future> {
    fut: Pin<Box<F>>,
    flag: std::sync::Arc<Flag>,
}

impl<F: Future> Task<F> {
    fn new(fut: F) -> Self {
        Task {
            fut: Box::pin(fut),
            flag: Default::default(),
        }
    }

    fn poll(&mut self) -> Poll<F::Output> {
        self.flag
            .0
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let waker = Waker::from(self.flag.clone());
        self.fut.as_mut().poll(&mut Context::from_waker(&waker))
    }

    fn is_woken(&self) -> bool {
        self.flag.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[track_caller]
    fn ready(&mut self) -> F::Output {
        match self.poll() {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("expected the call to be done"),
        }
    }
}

// ---- one queue for sync and async functions, by weight ----------------------

#[pooled::group(order = "priority", size = 1)]
/// Sync and async functions of one priority group.
pub struct R52Mixed;

static MIXED_LOG: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
static MIXED_METER: Meter = Meter::new();

#[pooled::pooled(group = R52Mixed, weight = 0)]
fn r52_urgent_sync(name: &'static str) -> Result<(), Busy> {
    let _inside = MIXED_METER.enter();
    MIXED_LOG.lock().unwrap().push(name);
    Ok(())
}

#[pooled::pooled(group = R52Mixed, weight = 10)]
async fn r52_batch_async(name: &'static str) -> Result<(), Busy> {
    let _inside = MIXED_METER.enter();
    MIXED_LOG.lock().unwrap().push(name);
    Ok(())
}

#[pooled::pooled(group = R52Mixed, weight = 10)]
fn r52_batch_sync(name: &'static str) -> Result<(), Busy> {
    let _inside = MIXED_METER.enter();
    MIXED_LOG.lock().unwrap().push(name);
    Ok(())
}

/// "Weights order priority pools" (the attribute's `weight =`: "urgent
/// calls rank first", "batch work behind them") and "A sync function parks
/// its caller's thread while it waits for a slot": a sync urgent call
/// made after two batch calls (one async, one sync) goes first; the batch
/// calls keep their arrival order; one at a time, counted from outside.
#[test]
fn sync_and_async_functions_of_one_priority_group_share_its_queue_by_weight() {
    within(BOUND, || {
        let held = R52Mixed::POOL.try_acquire(0).unwrap();
        let mut batch_a = Task::new(r52_batch_async("batch-async"));
        assert!(batch_a.poll().is_pending());
        std::thread::scope(|scope| {
            let batch_s = scope.spawn(|| r52_batch_sync("batch-sync"));
            wait_for("batch-sync queued", || R52Mixed::POOL.stats().waiting == 2);
            let urgent = scope.spawn(|| r52_urgent_sync("urgent"));
            wait_for("urgent queued", || R52Mixed::POOL.stats().waiting == 3);
            drop(held);
            assert_eq!(urgent.join().unwrap(), Ok(()));
            wait_for("batch-async woken after urgent", || batch_a.is_woken());
            assert_eq!(batch_a.ready(), Ok(()));
            assert_eq!(batch_s.join().unwrap(), Ok(()));
        });
        assert_eq!(
            *MIXED_LOG.lock().unwrap(),
            vec!["urgent", "batch-async", "batch-sync"]
        );
        assert_eq!((MIXED_METER.peak(), MIXED_METER.done()), (1, 3));
        let s = R52Mixed::POOL.stats();
        assert_eq!((s.completed, s.running, s.waiting), (4, 0, 0), "{s:?}");
    });
}

// ---- never-rejecting functions through a pause and a close ------------------

#[pooled::group(size = 1)]
/// Functions that cannot fail, and one that can.
pub struct R52Waits;

static WAITS_LOG: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static WAITS_METER: Meter = Meter::new();

#[pooled::pooled(group = R52Waits)]
async fn r52_plain(n: u32) -> u32 {
    let _inside = WAITS_METER.enter();
    WAITS_LOG.lock().unwrap().push(n);
    n
}

#[pooled::pooled(group = R52Waits)]
async fn r52_fallible(n: u32) -> Result<u32, Busy> {
    let _inside = WAITS_METER.enter();
    WAITS_LOG.lock().unwrap().push(n);
    Ok(n)
}

/// "Rejections (paused, full, timed out) return through the function's own
/// `Result` ...; a function that cannot return an error waits instead",
/// `Pool::pause`: "calls that cannot be rejected wait for `resume`",
/// `Pool::close`: "a closed pool still admits them, in order and within
/// its limit". A plain call queued before the pause runs when the slot
/// frees, paused or not; those made while paused (then closed) wait for
/// the resume and run in their order, one at a time; fallible calls are
/// turned away at once.
#[test]
fn functions_that_cannot_fail_wait_through_pause_and_close_in_order() {
    within(BOUND, || {
        let held = R52Waits::POOL.try_acquire(0).unwrap();
        let mut a = Task::new(r52_plain(1));
        assert!(a.poll().is_pending());
        R52Waits::POOL.pause();
        let mut refused = Task::new(r52_fallible(100));
        assert_eq!(refused.ready(), Err(Busy::Rejected(Rejected::Paused)));
        let mut b = Task::new(r52_plain(2));
        assert!(b.poll().is_pending());
        R52Waits::POOL.pool().close();
        let mut refused = Task::new(r52_fallible(101));
        assert_eq!(refused.ready(), Err(Busy::Rejected(Rejected::Closed)));
        let mut c = Task::new(r52_plain(3));
        assert!(c.poll().is_pending());
        assert_eq!(R52Waits::POOL.stats().waiting, 3);

        drop(held);
        assert!(a.is_woken(), "queued before the pause: admitted");
        assert!(!b.is_woken() && !c.is_woken(), "made while paused: wait");
        assert_eq!(a.ready(), 1);
        assert!(!b.is_woken() && !c.is_woken(), "still paused");
        assert!(b.poll().is_pending() && c.poll().is_pending());

        R52Waits::POOL.resume();
        assert!(b.is_woken(), "the first of them, at the resume");
        assert_eq!(b.ready(), 2);
        assert!(c.is_woken());
        assert_eq!(c.ready(), 3);
        assert_eq!(*WAITS_LOG.lock().unwrap(), vec![1, 2, 3]);
        assert_eq!((WAITS_METER.peak(), WAITS_METER.done()), (1, 3));
        let s = R52Waits::POOL.stats();
        assert_eq!(
            (
                s.completed,
                s.rejected_for(Rejected::Paused),
                s.rejected_for(Rejected::Closed),
                s.waiting
            ),
            (4, 1, 1, 0),
            "{s:?}"
        );
        assert_eq!(
            s.submitted(),
            s.completed
                + s.cancelled
                + s.rejected_total()
                + (s.running + s.nested + s.waiting) as u64
        );
    });
}
