//! Waiting for a lease: ask Redis (which queues the call in arrival order),
//! then sleep until a release is announced or the nearest lease expires,
//! whichever comes first, with jitter; never longer than a third of a lease,
//! so the call keeps its place in the queue.

use super::client::{runtime, FleetInner, Grant};
use super::lease::Lease;
use super::settings::OnUnreachable;
use super::stats::Counters;
use crate::pool::rejected::Rejected;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// A lease being acquired on the fleet's runtime. Dropping it cancels the
/// wait (the call leaves the fleet's queue); a lease granted meanwhile is
/// released.
pub(crate) struct Acquire {
    task: tokio::task::JoinHandle<Result<Lease, Rejected>>,
    /// Dropped with `self`: tells the task to stop waiting.
    _cancel: oneshot::Sender<()>,
}

impl Acquire {
    pub(crate) fn start(fleet: Arc<FleetInner>, never_reject: bool) -> Acquire {
        let (cancel, cancelled) = oneshot::channel();
        Acquire {
            task: runtime().spawn(acquire(fleet, never_reject, cancelled)),
            _cancel: cancel,
        }
    }
}

impl Future for Acquire {
    type Output = Result<Lease, Rejected>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.task)
            .poll(cx)
            .map(|joined| joined.unwrap_or(Err(Rejected::FleetUnavailable)))
    }
}

impl std::fmt::Debug for Acquire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acquire").finish_non_exhaustive()
    }
}

/// Waits for a lease from a thread that is not polling futures: parks it.
pub(crate) fn acquire_blocking(
    fleet: Arc<FleetInner>,
    never_reject: bool,
) -> Result<Lease, Rejected> {
    if super::client::on_fleet_thread() {
        // Waiting here would wait for this very thread: turned away, or,
        // for a call that is never turned away, run under the local limit
        // alone (as under policy `local`), the only way it neither waits
        // forever nor fails.
        if never_reject {
            fleet.counters.local_fallback();
            return Ok(Lease::local());
        }
        fleet
            .counters
            .rejected_unavailable
            .fetch_add(1, Ordering::Relaxed);
        return Err(Rejected::FleetUnavailable);
    }
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    let (_cancel, cancelled) = oneshot::channel();
    runtime().spawn(async move {
        // If the caller is gone, the lease is dropped, so released.
        let _ = sender.send(acquire(fleet, never_reject, cancelled).await);
    });
    receiver.recv().unwrap_or(Err(Rejected::FleetUnavailable))
}

/// What one attempt that never queues found.
enum Now {
    Granted(Lease),
    /// No lease free now, or calls of the fleet wait for one.
    Busy,
    Unreachable,
}

/// One attempt at a lease that never queues: granted only if a lease is free
/// now and nobody in the fleet waits for one. It costs one Redis round trip,
/// on the fleet's runtime, for which the calling thread waits (at most the
/// fleet's patience with Redis, twice: the first failure after a broken
/// connection is retried once, as waiting calls do).
///
/// On the fleet's own thread (a waker, a `Drop` or a hook it runs there)
/// the round trip could never be made while the thread waits for it: Redis
/// counts as unreachable there, and the fleet's policy decides.
fn now(fleet: Arc<FleetInner>) -> Now {
    if super::client::on_fleet_thread() {
        return Now::Unreachable;
    }
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        let id = waiter_id();
        let mut asked = Instant::now();
        let mut attempt = fleet.try_acquire(&id, false).await;
        if attempt.is_err() {
            asked = Instant::now();
            attempt = fleet.try_acquire(&id, false).await;
        }
        let now = match attempt {
            Ok(Grant::Granted(token)) => Now::Granted(Lease::granted(fleet.clone(), token, asked)),
            Ok(Grant::Wait(_)) => Now::Busy,
            Err(_) => Now::Unreachable,
        };
        let unanswered = matches!(now, Now::Unreachable);
        // If the caller is gone, the lease is dropped, so released.
        let _ = sender.send(now);
        // An attempt whose answer never came may have been granted a lease
        // (a second attempt would have been handed it): released, if Redis
        // answers now.
        if unanswered {
            let _ = fleet.cancel(&id).await;
        }
    });
    receiver.recv().unwrap_or(Now::Unreachable)
}

/// A lease if one is free now and nobody in the fleet waits for one (see
/// [`now`]), for `try_acquire`, which never waits.
///
/// No lease free now: [`Rejected::Full`] (as a local `try_acquire` that finds
/// no slot free). Redis unreachable: a stand-in lease under policy `local`,
/// otherwise [`Rejected::FleetUnavailable`] (a `try_acquire` cannot wait for
/// Redis to come back, so `wait` turns it away as `reject` does).
pub(crate) fn try_now(fleet: Arc<FleetInner>) -> Result<Lease, Rejected> {
    let counters = &fleet.counters;
    match now(fleet.clone()) {
        Now::Granted(lease) => Ok(lease),
        Now::Busy => {
            counters.busy.fetch_add(1, Ordering::Relaxed);
            Err(Rejected::Full)
        }
        Now::Unreachable if fleet.unreachable == OnUnreachable::Local => {
            counters.local_fallback();
            Ok(Lease::local())
        }
        Now::Unreachable => {
            counters
                .rejected_unavailable
                .fetch_add(1, Ordering::Relaxed);
            Err(Rejected::FleetUnavailable)
        }
    }
}

/// A lease for a sync call (`Group::run`), which parks its thread: a lease
/// free now is taken at once (see [`now`]); Redis unreachable is handled by
/// the policy, as an async call's wait does. Only a call that has to wait
/// (its place in the fleet's queue, or Redis to come back) parks the thread
/// as a sync call waiting for a local slot does: on a multi-thread runtime's
/// worker its other tasks are handed to another thread first, so a lease
/// held by one of them is not held forever (renewed in the background while
/// its holder cannot run); on the thread driving a current-thread runtime it
/// panics, naming the fixes, instead of deadlocking.
pub(crate) fn acquire_sync(fleet: Arc<FleetInner>, never_reject: bool) -> Result<Lease, Rejected> {
    let counters = &fleet.counters;
    match (now(fleet.clone()), fleet.unreachable, never_reject) {
        (Now::Granted(lease), _, _) => return Ok(lease),
        (Now::Unreachable, OnUnreachable::Local, _) => {
            counters.local_fallback();
            return Ok(Lease::local());
        }
        (Now::Unreachable, OnUnreachable::Reject, false) => {
            counters
                .rejected_unavailable
                .fetch_add(1, Ordering::Relaxed);
            return Err(Rejected::FleetUnavailable);
        }
        _ => {}
    }
    crate::call::park::blocking_region(|| acquire_blocking(fleet, never_reject))
}

/// Counts a waiting call while it lives.
struct Waiting<'a>(&'a Counters);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting(-1.0);
    }
}

async fn acquire(
    fleet: Arc<FleetInner>,
    never_reject: bool,
    mut cancelled: oneshot::Receiver<()>,
) -> Result<Lease, Rejected> {
    let id = waiter_id();
    let counters = &fleet.counters;
    counters.waiting(1.0);
    let _waiting = Waiting(counters);
    let mut backoff = Duration::from_millis(10);
    // Whether Redis may hold something for this waiter: a place in the
    // queue, or a lease granted by an attempt whose answer never came
    // (which a later attempt is handed again, see `scripts`). A call that
    // gives up then has it cancelled.
    let mut queued = false;
    let mut failures = 0u32;
    loop {
        // Listen before asking, so a release between the answer and the
        // wait is not missed.
        let released = fleet.wake.notified();
        let mut released = std::pin::pin!(released);
        released.as_mut().enable();
        let asked = Instant::now();
        let pause = match fleet.try_acquire(&id, true).await {
            Ok(Grant::Granted(token)) => return Ok(Lease::granted(fleet.clone(), token, asked)),
            Ok(Grant::Wait(nearest)) => {
                queued = true;
                failures = 0;
                backoff = Duration::from_millis(10);
                // Past the nearest expiry the slot may be reclaimable; a
                // little later, so the holder's renewal goes first.
                let bound = (nearest + Duration::from_millis(5)).min(fleet.lease / 3);
                jitter(bound)
            }
            // The first failure after a broken connection is the one that
            // makes the connection manager reconnect: ask once more before
            // calling Redis unreachable.
            Err(_) if failures == 0 => {
                queued = true;
                failures += 1;
                Duration::from_millis(10)
            }
            Err(_) => match (fleet.unreachable, never_reject) {
                (OnUnreachable::Reject, false) => {
                    counters
                        .rejected_unavailable
                        .fetch_add(1, Ordering::Relaxed);
                    leave_queue(&fleet, queued, id);
                    return Err(Rejected::FleetUnavailable);
                }
                (OnUnreachable::Local, _) => {
                    counters.local_fallback();
                    leave_queue(&fleet, queued, id);
                    return Ok(Lease::local());
                }
                _ => {
                    let pause = jitter(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    pause
                }
            },
        };
        tokio::select! {
            _ = released => {}
            _ = tokio::time::sleep(pause) => {}
            _ = &mut cancelled => {
                leave_queue(&fleet, queued, id);
                return Err(Rejected::Closed);
            }
        }
    }
}

/// Takes a call that gives up out of the fleet's queue, in the background
/// (if Redis is unreachable, its place expires after one lease).
fn leave_queue(fleet: &Arc<FleetInner>, queued: bool, id: String) {
    if queued {
        let fleet = fleet.clone();
        runtime().spawn(async move { fleet.cancel(&id).await });
    }
}

/// A waiter's name, unique across the fleet: the host's process id, a
/// process-wide count, and a random part (two hosts may share a pid).
fn waiter_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}:{}:{:x}", std::process::id(), n, random())
}

/// Somewhere in `[bound / 2, bound]`, so waiters woken together spread out.
fn jitter(bound: Duration) -> Duration {
    let fraction = (random() % 1024) as f64 / 2048.0;
    bound.mul_f64(0.5 + fraction)
}

/// A cheap random number (xorshift over the clock and a count): for jitter
/// and names, not for anything an attacker may guess.
fn random() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            nanos ^ (u64::from(std::process::id()) << 32) | 1
        });
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x
    })
}
