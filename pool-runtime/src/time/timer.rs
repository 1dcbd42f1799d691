//! Admission deadlines for async waits, without assuming a runtime.
//!
//! A deadline is served by one lazily started timer thread, which works under
//! any executor (or none); the wakers of fired deadlines are woken on
//! threads of their own (see `Waking`), so that one that blocks holds up
//! no other deadline. Pools whose clock is tokio's
//! ([`TokioClock`](crate::time::clock::TokioClock)) use `tokio::time::Sleep` instead
//! when the current runtime has a time driver, so their deadlines follow
//! tokio's (possibly paused) time like their autoscaler does. In a runtime
//! built without `enable_time` (where `tokio::time::sleep` panics) they fall
//! back to the timer thread: such a runtime has no paused time to follow.
//! So do deadlines beyond tokio's timer's horizon (about 795 days, where it
//! would fire them early: on paused time, at once) and a tokio deadline
//! polled where its runtime is not current (gone, shut down, or another):
//! the rest of the wait is the timer thread's.
//! Tokio offers no way to ask whether a runtime has a time driver, so the
//! first deadline in each runtime finds out by catching the panic of
//! `tokio::time::sleep` (the panic hook sees it once per such runtime), and
//! the answer is remembered. Built with `panic = "abort"`, where the panic
//! cannot be caught, those pools use the timer thread in every runtime
//! (tokio's paused time only exists in tests, which unwind). Either way a
//! deadline is only created for a call that actually has to wait in a pool
//! with an admission timeout.
//!
//! A deadline that is dropped before it fires (the call was admitted, or
//! given up) releases its waker at once and is marked cancelled; cancelled
//! entries are dropped from the timer's heap when it reaches them, or all at
//! once when they make up most of the heap, so admitted calls with long
//! timeouts keep neither wakers nor memory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The longest wait tokio's timer keeps (its wheel's horizon, 2^36 - 1 ms,
/// about 795 days); it fires a longer one there.
#[cfg(feature = "tokio")]
const TOKIO_HORIZON: Duration = Duration::from_millis((1 << 36) - 1);

/// A deadline that completes once `timeout` has passed.
pub(crate) enum Sleep {
    /// Tokio's timer, of the runtime with this id, and how much of the
    /// wait has passed on its clock.
    #[cfg(feature = "tokio")]
    Tokio(tokio::time::Sleep, tokio::runtime::Id, Waited),
    Thread {
        timer: &'static TimerThread,
        entry: Arc<Entry>,
    },
    /// A timeout too long to be reached (past what `Instant` can hold).
    Never,
}

impl Sleep {
    /// With `tokio_time`, a tokio timer if the current runtime has a time
    /// driver; otherwise the timer thread's.
    pub(crate) fn new(timeout: Duration, tokio_time: bool) -> Pin<Box<Sleep>> {
        // Too long to pass means never, on every timer.
        if Instant::now().checked_add(timeout).is_none() {
            return Box::pin(Sleep::Never);
        }
        // Tokio's timer only where it keeps the deadline: it fires a longer
        // one at its horizon instead, which a paused runtime with nothing
        // else to do jumps to at once. Longer ones go to the timer thread's
        // wall clock (paused test time never reaches them).
        #[cfg(feature = "tokio")]
        if tokio_time && timeout <= TOKIO_HORIZON {
            if let Some((sleep, runtime)) = tokio_timer::sleep(timeout) {
                return Box::pin(Sleep::Tokio(sleep, runtime, Waited::new(timeout)));
            }
        }
        let _ = tokio_time;
        Box::pin(Sleep::on_thread(TimerThread::get(), timeout))
    }

    fn on_thread(timer: &'static TimerThread, timeout: Duration) -> Sleep {
        match Instant::now().checked_add(timeout) {
            Some(at) => Sleep::Thread {
                timer,
                entry: timer.schedule(at),
            },
            None => Sleep::Never,
        }
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // A hand-written projection: pin-project-lite cannot express this
        // enum, whose `Tokio` variant exists only with the `tokio` feature
        // (its generated `match` drops variant attributes such as `cfg`).
        // Safety: the `Tokio` variant is never moved out of the pinned box.
        let this = unsafe { self.get_unchecked_mut() };
        // Tokio's timer serves only while its runtime is current: polled
        // anywhere else (another runtime, none, or after that runtime shut
        // down, where tokio panics), the rest of the wait goes to the timer
        // thread.
        #[cfg(feature = "tokio")]
        if let Sleep::Tokio(_, runtime, waited) = this {
            let current = tokio::runtime::Handle::try_current().map(|handle| handle.id());
            if current.ok() == Some(*runtime) {
                waited.seen();
            } else {
                let left = waited.left();
                // The tokio `Sleep` is dropped in place (it is not moved).
                *this = Sleep::on_thread(TimerThread::get(), left);
            }
        }
        match this {
            #[cfg(feature = "tokio")]
            Sleep::Tokio(sleep, ..) => unsafe { Pin::new_unchecked(sleep) }.poll(cx),
            Sleep::Thread { entry, .. } => {
                if entry.fired.load(Ordering::Acquire) {
                    return Poll::Ready(());
                }
                let stored = lock(&entry.waker)
                    .as_ref()
                    .is_some_and(|waker| waker.will_wake(cx.waker()));
                // The clone is the caller's code (it may arm a timed wait of
                // its own, which takes the timer's heap lock): made holding
                // no lock, since the timer thread takes this entry's lock
                // under its heap lock. Only this future stores a waker here;
                // the timer thread only takes it, so nothing is lost if it
                // fires meanwhile (checked below).
                let replaced = match stored {
                    true => None,
                    false => {
                        let new = cx.waker().clone();
                        lock(&entry.waker).replace(new)
                    }
                };
                // The replaced waker is the caller's: dropped outside the
                // entry's lock, its panic caught, so that the call it
                // belongs to goes on to store its new waker with its pool.
                if replaced.is_some() {
                    crate::unwind::caught(move || drop(replaced));
                }
                if entry.fired.load(Ordering::Acquire) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
            Sleep::Never => Poll::Pending,
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Sleep::Thread { timer, entry } = self {
            timer.cancel(entry);
        }
    }
}

/// How much of a wait on tokio's timer has passed, kept so that the rest
/// of it can go to the timer thread when it leaves its runtime.
///
/// Its runtime's clock may be paused, and then stands still or jumps ahead
/// of the wall clock at will: its deadline says nothing about the wall
/// clock's time (a year ahead, or behind by the time the clock stood
/// still). So the wait is counted on the runtime's clock up to the last
/// poll made in the runtime, and on the wall clock from then on: a wait
/// that leaves its runtime waits the rest of its timeout, no more (a
/// deadline a year ahead) and no less (a clock that stood still).
#[cfg(feature = "tokio")]
pub(crate) struct Waited {
    timeout: Duration,
    /// When the wait began, on its runtime's clock.
    began: tokio::time::Instant,
    /// How long it had waited on that clock at the last poll there...
    waited: Duration,
    /// ...and that poll's time on the wall clock.
    seen_at: Instant,
}

#[cfg(feature = "tokio")]
impl Waited {
    /// A wait of `timeout` beginning now (in its runtime).
    fn new(timeout: Duration) -> Self {
        Waited {
            timeout,
            began: tokio::time::Instant::now(),
            waited: Duration::ZERO,
            seen_at: Instant::now(),
        }
    }

    /// A poll in the wait's runtime: how long it has waited on its clock.
    fn seen(&mut self) {
        self.waited = tokio::time::Instant::now().saturating_duration_since(self.began);
        self.seen_at = Instant::now();
    }

    /// What is left of the wait, counted on the wall clock since the last
    /// poll in its runtime.
    fn left(&self) -> Duration {
        self.timeout
            .saturating_sub(self.waited)
            .saturating_sub(self.seen_at.elapsed())
    }
}

/// Tokio's timer, where the current runtime has one.
#[cfg(feature = "tokio")]
mod tokio_timer {
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::time::Duration;
    use tokio::runtime::{Handle, Id};

    /// Runtimes found to have no time driver (the most recent ones: a
    /// forgotten one only costs another caught panic).
    static TIMELESS: Mutex<VecDeque<Id>> = Mutex::new(VecDeque::new());
    const REMEMBERED: usize = 64;

    /// A tokio `Sleep` if a runtime is current and has a time driver, with
    /// that runtime's id.
    pub(super) fn sleep(timeout: Duration) -> Option<(tokio::time::Sleep, Id)> {
        let id = Handle::try_current().ok()?.id();
        if super::lock(&TIMELESS).contains(&id) {
            return None;
        }
        #[cfg(panic = "unwind")]
        {
            // `tokio::time::sleep` panics (at once) without a time driver,
            // and tokio has no other way to tell.
            match std::panic::catch_unwind(|| tokio::time::sleep(timeout)) {
                Ok(sleep) => Some((sleep, id)),
                Err(_) => {
                    let mut timeless = super::lock(&TIMELESS);
                    if timeless.len() == REMEMBERED {
                        timeless.pop_front();
                    }
                    timeless.push_back(id);
                    None
                }
            }
        }
        #[cfg(not(panic = "unwind"))]
        {
            let _ = timeout;
            None
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) struct Entry {
    /// Set (under the heap lock) when the timer thread takes the entry off the heap.
    fired: AtomicBool,
    /// Set (under the heap lock) when its `Sleep` is dropped before firing.
    cancelled: AtomicBool,
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

/// Below this many cancelled entries the heap is never compacted: dropping
/// them one by one as the timer reaches them costs less.
const COMPACT_AT_LEAST: usize = 64;

#[derive(Default)]
struct Heap {
    entries: BinaryHeap<Reverse<Scheduled>>,
    /// How many of `entries` are cancelled.
    cancelled: usize,
}

pub(crate) struct TimerThread {
    heap: Mutex<Heap>,
    changed: Condvar,
}

impl TimerThread {
    fn new() -> TimerThread {
        TimerThread {
            heap: Mutex::new(Heap::default()),
            changed: Condvar::new(),
        }
    }

    fn get() -> &'static TimerThread {
        static TIMER: OnceLock<&'static TimerThread> = OnceLock::new();
        TIMER.get_or_init(|| {
            let timer: &'static TimerThread = Box::leak(Box::new(TimerThread::new()));
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
            cancelled: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        let mut heap = lock(&self.heap);
        let earliest = heap
            .entries
            .peek()
            .is_none_or(|Reverse(first)| at < first.0);
        heap.entries.push(Reverse(Scheduled(at, entry.clone())));
        drop(heap);
        if earliest {
            self.changed.notify_one();
        }
        entry
    }

    /// The entry's `Sleep` is gone: release its waker now, and mark it so that
    /// the heap drops it (at once, if cancelled entries dominate the heap).
    ///
    /// The waker is the caller's: taken out first, dropped last, outside
    /// both locks, its panic caught (the panic hook has shown it), so that
    /// it can neither leave the entry unmarked nor unwind out of the
    /// waiting call's `Drop` before the call has left its pool's queue.
    fn cancel(&self, entry: &Entry) {
        let waker = lock(&entry.waker).take();
        self.mark_cancelled(entry);
        crate::unwind::caught(move || drop(waker));
    }

    fn mark_cancelled(&self, entry: &Entry) {
        let mut heap = lock(&self.heap);
        if entry.fired.load(Ordering::Acquire) {
            return; // already off the heap
        }
        entry.cancelled.store(true, Ordering::Relaxed);
        heap.cancelled += 1;
        if heap.cancelled >= COMPACT_AT_LEAST && heap.cancelled * 2 > heap.entries.len() {
            heap.entries
                .retain(|Reverse(Scheduled(_, e))| !e.cancelled.load(Ordering::Relaxed));
            heap.cancelled = 0;
        }
    }

    fn run(&self) {
        let mut heap = lock(&self.heap);
        loop {
            let now = Instant::now();
            while heap
                .entries
                .peek()
                .is_some_and(|Reverse(first)| first.0 <= now)
            {
                let Some(Reverse(Scheduled(_, entry))) = heap.entries.pop() else {
                    break;
                };
                if entry.cancelled.load(Ordering::Relaxed) {
                    heap.cancelled -= 1;
                    continue;
                }
                entry.fired.store(true, Ordering::Release);
                let waker = lock(&entry.waker).take();
                if let Some(waker) = waker {
                    drop(heap);
                    // Woken off this thread (see `Waking`): a waker that
                    // blocks must not hold up every later deadline.
                    WAKING.hand(waker);
                    heap = lock(&self.heap);
                }
            }
            // While wakers wait to be woken, look again within a stall
            // period: one of them may be held up behind a waker that
            // blocks, which a new waking thread then serves.
            // (Only this thread queues wakers: none queued now, none while
            // it waits.)
            let mut next = heap.entries.peek().map(|Reverse(first)| first.0);
            let queued = WAKING.queued();
            if queued {
                let recheck = Instant::now() + STALL;
                next = Some(next.map_or(recheck, |at| at.min(recheck)));
            }
            heap = match next {
                Some(at) => {
                    let wait = at.saturating_duration_since(Instant::now());
                    self.changed
                        .wait_timeout(heap, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.changed.wait(heap).unwrap_or_else(|e| e.into_inner()),
            };
            if queued {
                drop(heap);
                WAKING.unstall();
                heap = lock(&self.heap);
            }
        }
    }
}

/// The threads that wake the wakers of fired deadlines: the callers'
/// code, which may block (a waker that makes a sync call into a full pool
/// waits there until a slot frees, which may take another deadline to
/// fire). Woken on the timer thread, one such waker held up every deadline
/// in the process, and a wait cycle through it hung for good. A waker is
/// handed to an idle waking thread; when none is idle and the busy ones
/// have woken nothing for a stall period (`STALL`, doubled for each thread
/// beyond the first: one of them is held up in a waker), a new thread takes the queue on — so a blocked waker holds
/// up only itself, and a burst of deadlines firing at once is woken by the
/// threads there are, not by a thread each. A thread idle for a second
/// ends, but the last one. Deadlines fire rarely (a call that waited too
/// long), so the hand-off's cost is off every call's path.
struct Waking {
    queue: Mutex<WakeQueue>,
    ready: Condvar,
}

struct WakeQueue {
    wakers: std::collections::VecDeque<Waker>,
    /// Threads waiting for a waker.
    idle: usize,
    /// Threads running.
    threads: usize,
    /// When a waking thread last took a waker or finished one.
    progress: Option<Instant>,
}

static WAKING: Waking = Waking {
    queue: Mutex::new(WakeQueue {
        wakers: std::collections::VecDeque::new(),
        idle: 0,
        threads: 0,
        progress: None,
    }),
    ready: Condvar::new(),
};

/// How long a waking thread beyond the first waits for work before it ends.
const WAKING_IDLE: Duration = Duration::from_secs(1);

/// How long one waking thread may make no progress, with wakers queued,
/// before another is started for them (twice as long for each thread
/// beyond the first: see `serve_queue`).
const STALL: Duration = Duration::from_millis(2);

impl Waking {
    fn hand(&'static self, waker: Waker) {
        let mut queue = lock(&self.queue);
        queue.wakers.push_back(waker);
        self.serve_queue(queue);
    }

    /// Whether wakers wait to be woken.
    fn queued(&self) -> bool {
        !lock(&self.queue).wakers.is_empty()
    }

    /// Starts a thread for the queue if the busy ones are held up.
    fn unstall(&'static self) {
        let queue = lock(&self.queue);
        if !queue.wakers.is_empty() {
            self.serve_queue(queue);
        }
    }

    /// Gets the queue served: by an idle thread, or by a new one if there
    /// is none, or the busy ones made no progress for `STALL` (else they
    /// take it when they are done).
    fn serve_queue(&'static self, mut queue: MutexGuard<'_, WakeQueue>) {
        if queue.idle > 0 {
            drop(queue);
            self.ready.notify_one();
            return;
        }
        // Each thread more waits twice as long for its turn (up to 2^8
        // stall periods): wakers that are merely slow, not blocked, make
        // the threads take their wakers together and finish together, a
        // stall period apart or more, and would otherwise add a thread per
        // burst; a few blocked ones still get a thread each.
        let patience = STALL * (1 << queue.threads.saturating_sub(1).min(8));
        let stalled = queue.progress.is_none_or(|at| at.elapsed() >= patience);
        if queue.threads > 0 && !stalled {
            return;
        }
        queue.threads += 1;
        // The new thread counts as progress: the next stall is measured
        // from its start.
        queue.progress = Some(Instant::now());
        drop(queue);
        let spawned = std::thread::Builder::new()
            .name("pooled-timer-wake".into())
            .spawn(move || self.serve());
        if spawned.is_err() {
            // No thread to be had: wake here, as before (a blocking waker
            // then holds up the timer).
            let mut queue = lock(&self.queue);
            queue.threads -= 1;
            let wakers = std::mem::take(&mut queue.wakers);
            drop(queue);
            wakers.into_iter().for_each(Self::wake);
        }
    }

    fn serve(&self) {
        let mut queue = lock(&self.queue);
        loop {
            if let Some(waker) = queue.wakers.pop_front() {
                queue.progress = Some(Instant::now());
                drop(queue);
                Self::wake(waker);
                queue = lock(&self.queue);
                queue.progress = Some(Instant::now());
                continue;
            }
            queue.idle += 1;
            let (next, waited) = self
                .ready
                .wait_timeout(queue, WAKING_IDLE)
                .unwrap_or_else(|e| e.into_inner());
            queue = next;
            queue.idle -= 1;
            if waited.timed_out() && queue.wakers.is_empty() && queue.threads > 1 {
                queue.threads -= 1;
                return;
            }
        }
    }

    /// A waker that panics must not end its thread. Its call still sees the
    /// deadline passed when next polled. (Its panic is dropped: nobody here
    /// can take it.)
    fn wake(waker: Waker) {
        crate::admission::wake_list::wake_catching(waker, &mut None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A timer whose thread is not running: deadlines never fire. Freed when
    /// dropped (so Miri's leak check sees nothing left behind): declare it
    /// before the deadlines that use it.
    struct IdleTimer(*mut TimerThread);

    impl IdleTimer {
        fn new() -> Self {
            IdleTimer(Box::into_raw(Box::new(TimerThread::new())))
        }

        fn get(&self) -> &'static TimerThread {
            // Safety: alive until `drop`, after every deadline that uses it.
            unsafe { &*self.0 }
        }
    }

    impl Drop for IdleTimer {
        fn drop(&mut self) {
            // Safety: made by `Box::into_raw` in `new`; no deadline is left.
            drop(unsafe { Box::from_raw(self.0) });
        }
    }

    #[test]
    fn dropped_deadlines_do_not_pile_up_in_the_heap() {
        let idle = IdleTimer::new();
        let timer = idle.get();
        let hour = Duration::from_secs(3600);
        let kept = Sleep::on_thread(timer, hour);
        for _ in 0..if cfg!(miri) { 300 } else { 10_000 } {
            drop(Sleep::on_thread(timer, hour));
        }
        let heap = lock(&timer.heap);
        assert!(
            heap.entries.len() <= 2 * COMPACT_AT_LEAST,
            "{} entries left for one live deadline",
            heap.entries.len()
        );
        assert!(heap
            .entries
            .iter()
            .any(|Reverse(Scheduled(_, e))| !e.cancelled.load(Ordering::Relaxed)));
        drop(heap);
        drop(kept);
    }

    #[test]
    fn a_timeout_past_what_an_instant_holds_never_fires_and_does_not_panic() {
        let idle = IdleTimer::new();
        let timer = idle.get();
        let sleep = Sleep::on_thread(timer, Duration::MAX);
        assert!(matches!(sleep, Sleep::Never));
        assert!(lock(&timer.heap).entries.is_empty());
        drop(sleep);
    }
}
