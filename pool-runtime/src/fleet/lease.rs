//! A held lease: renewed in the background, released on drop, and marked
//! lost — never renewed back — when a renewal finds it expired or gone.

use super::client::{runtime, FleetInner};
use super::report;
use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

const HELD: u8 = 0;
const RELEASED: u8 = 1;
const LOST: u8 = 2;

/// A fleet lease held by this process, or the stand-in for one while Redis
/// is unreachable under [`OnUnreachable::Local`](super::OnUnreachable::Local).
///
/// Dropping it releases it: the release is sent to Redis in the background
/// (a lease whose release cannot be delivered expires on its own after its
/// length). While held it is renewed every third of its length; a renewal
/// that finds it expired or gone marks it lost and never re-creates it.
pub struct Lease {
    shared: Option<Arc<Shared>>,
}

struct Shared {
    fleet: Arc<FleetInner>,
    token: u64,
    state: AtomicU8,
    /// Who keeps the lease: its `Lease` and every [`LeaseHold`] (the calls
    /// nested in its call's work). The last to let go releases it.
    holds: AtomicUsize,
    /// The calls running under the lease, woken when it is lost: its own
    /// call (key 0) and calls nested in its work that wait (see
    /// [`LeaseHold::wake_on_loss`]), each under a key of its own.
    wakers: Mutex<Vec<(u64, Waker)>>,
    renewal: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Lease {
    /// A lease granted with `token` by the command sent at `asked`: starts
    /// its renewal. Called on the fleet's runtime.
    pub(crate) fn granted(
        fleet: Arc<FleetInner>,
        token: u64,
        asked: tokio::time::Instant,
    ) -> Lease {
        fleet.counters.granted();
        let shared = Arc::new(Shared {
            fleet,
            token,
            state: AtomicU8::new(HELD),
            holds: AtomicUsize::new(1),
            wakers: Mutex::new(Vec::new()),
            renewal: Mutex::new(None),
        });
        let renewal = runtime().spawn(renew(Arc::downgrade(&shared), asked));
        *lock(&shared.renewal) = Some(renewal.abort_handle());
        Lease {
            shared: Some(shared),
        }
    }

    /// The stand-in for a lease while Redis is unreachable (policy `local`).
    pub(crate) fn local() -> Lease {
        Lease { shared: None }
    }

    /// The lease's fencing token: larger than that of every lease of the
    /// group granted before it. `None` for a call that runs under the local
    /// limit alone (Redis unreachable, policy `local`).
    ///
    /// Pass it with every write to the resource the fleet limit protects, and
    /// have the resource refuse a token lower than the highest it has seen:
    /// a holder that was paused past its lease then cannot overwrite the
    /// work of the holder that got the slot after it.
    pub fn token(&self) -> Option<u64> {
        self.shared.as_ref().map(|shared| shared.token)
    }

    /// Whether a renewal found the lease expired or gone. A lost lease stays
    /// lost; the slot may already be someone else's.
    pub fn is_lost(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|shared| shared.state.load(Ordering::Acquire) == LOST)
    }

    /// Wakes `waker` when the lease is lost (replacing the one registered
    /// before).
    pub(crate) fn wake_on_loss(&self, waker: &Waker) {
        if let Some(shared) = &self.shared {
            shared.wake_on_loss(0, waker);
        }
    }
}

impl Lease {
    /// Releases the lease and waits until Redis has it (or, if Redis cannot
    /// be reached, until the first attempt failed: the release is then
    /// retried in the background, and the lease expires meanwhile anyway).
    /// Dropping the lease releases it in the background instead; this form
    /// makes sure a process that exits next does not leave it behind.
    /// A lease of a group call that calls nested in its work still hold
    /// (one returned out of the work) is released when the last of them
    /// ends, in the background.
    pub async fn release(mut self) {
        if let Some(sent) = self.start_release(true) {
            let _ = sent.await;
        }
    }

    /// Lets go of the lease; the last of its holders (see [`Lease::hold`])
    /// marks it released and sends the release: the handle of the first
    /// attempt if `wait` (`None` if there is nothing to send, or the lease is
    /// still held by a call nested in its call's work).
    fn start_release(&mut self, wait: bool) -> Option<tokio::task::JoinHandle<()>> {
        self.shared.take()?.let_go(wait)
    }

    /// Keeps the lease held (renewed, not released) until the hold is
    /// dropped, even once the lease itself is dropped or released: for a
    /// call nested in the work of the lease's call, which may outlive it (a
    /// future returned out of the work, a blocking job whose caller went
    /// away), as the reentrancy rule keeps a parent's local slot busy.
    /// `None` for the stand-in of a lease (policy `local`).
    pub(crate) fn hold(&self) -> Option<LeaseHold> {
        self.shared
            .as_ref()
            .map(|shared| LeaseHold::new(shared.clone()))
    }
}

impl Shared {
    /// Wakes `waker` when the lease is lost, in place of the one registered
    /// under `key` before.
    fn wake_on_loss(&self, key: u64, waker: &Waker) {
        let replaced = {
            let mut wakers = lock(&self.wakers);
            match wakers.iter_mut().find(|(known, _)| *known == key) {
                Some((_, known)) if known.will_wake(waker) => None,
                Some((_, known)) => Some(std::mem::replace(known, waker.clone())),
                None => {
                    wakers.push((key, waker.clone()));
                    None
                }
            }
        };
        // The replaced waker is the caller's: dropped outside the lock, its
        // panic caught (the panic hook has shown it), so that the call goes
        // on to poll its work.
        if replaced.is_some() {
            crate::unwind::caught(move || drop(replaced));
        }
    }

    /// Forgets the waker registered under `key` (its call ended).
    fn forget_waker(&self, key: u64) {
        let forgotten = {
            let mut wakers = lock(&self.wakers);
            let at = wakers.iter().position(|(known, _)| *known == key);
            at.map(|at| wakers.swap_remove(at))
        };
        if forgotten.is_some() {
            crate::unwind::caught(move || drop(forgotten));
        }
    }

    /// One holder lets go; the last one releases the lease.
    fn let_go(&self, wait: bool) -> Option<tokio::task::JoinHandle<()>> {
        if self.holds.fetch_sub(1, Ordering::AcqRel) != 1 {
            return None;
        }
        let was = self.state.swap(RELEASED, Ordering::AcqRel);
        if let Some(renewal) = lock(&self.renewal).take() {
            renewal.abort();
        }
        self.fleet.counters.released();
        if was == LOST {
            // Nothing of ours is left in Redis to release.
            return None;
        }
        let (fleet, token) = (self.fleet.clone(), self.token);
        if !wait {
            spawn_release(fleet, token, None);
            return None;
        }
        let (sent, first) = tokio::sync::oneshot::channel();
        spawn_release(fleet, token, Some(sent));
        Some(runtime().spawn(async move {
            let _ = first.await;
        }))
    }
}

/// A hold on a lease (see [`Lease::hold`]): it stays held while this lives.
pub(crate) struct LeaseHold(Arc<Shared>);

impl LeaseHold {
    fn new(shared: Arc<Shared>) -> LeaseHold {
        // Made only from a lease or a hold that still holds it: never from 0.
        shared.holds.fetch_add(1, Ordering::Relaxed);
        LeaseHold(shared)
    }
}

impl Clone for LeaseHold {
    fn clone(&self) -> Self {
        LeaseHold::new(self.0.clone())
    }
}

impl LeaseHold {
    /// Whether the lease held was lost (see [`Lease::is_lost`]).
    pub(crate) fn is_lost(&self) -> bool {
        self.0.state.load(Ordering::Acquire) == LOST
    }

    /// A key of its own for a call nested under the lease, to register its
    /// waker under ([`wake_on_loss`](Self::wake_on_loss)).
    pub(crate) fn waker_key() -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    /// Wakes `waker` when the lease is lost, in place of the one registered
    /// under `key` before.
    pub(crate) fn wake_on_loss(&self, key: u64, waker: &Waker) {
        self.0.wake_on_loss(key, waker);
    }

    /// Forgets the waker registered under `key`.
    pub(crate) fn forget_waker(&self, key: u64) {
        self.0.forget_waker(key);
    }
}

impl Drop for LeaseHold {
    fn drop(&mut self) {
        self.0.let_go(false);
    }
}

impl fmt::Debug for LeaseHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseHold")
            .field("token", &self.0.token)
            .finish()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.start_release(false);
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("token", &self.token())
            .field("lost", &self.is_lost())
            .finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Renews every third of the lease while it is held. A renewal that fails
/// to reach Redis is tried again sooner; one that finds the lease expired or
/// gone marks it lost: nothing ever re-creates it.
///
/// A holder that cannot reach Redis does not run on past its lease either:
/// Redis keeps the lease for its length from when it ran the last grant or
/// renewal, which was after this process sent it (at `asked`, then at each
/// renewal that succeeded). Once that long has passed on this process's
/// monotonic clock without a renewal answered, the lease may be someone
/// else's. It is counted lost a tenth of a lease before that ([`usable`]),
/// so that its call has that long to stop (be woken, dropped, its guard
/// released) before Redis can hand the slot on: lost, its call ended, its
/// entry released in the background. This can only end a lease early, never
/// stretch it.
async fn renew(lease: std::sync::Weak<Shared>, asked: tokio::time::Instant) {
    let (period, length) = match lease.upgrade() {
        Some(shared) => (shared.fleet.lease / 3, usable(shared.fleet.lease)),
        None => return,
    };
    let mut valid_until = asked + length;
    let mut pause = period;
    loop {
        let run_out = tokio::select! {
            _ = tokio::time::sleep(pause) => false,
            _ = tokio::time::sleep_until(valid_until) => true,
        };
        let Some(shared) = lease.upgrade() else {
            return;
        };
        if shared.state.load(Ordering::Acquire) != HELD {
            return;
        }
        if run_out {
            shared.lose(true);
            return;
        }
        let sent = tokio::time::Instant::now();
        match tokio::time::timeout_at(valid_until, shared.fleet.renew(shared.token)).await {
            Ok(Ok(true)) => {
                valid_until = sent + length;
                pause = period;
            }
            Ok(Ok(false)) => {
                shared.lose(false);
                return;
            }
            Ok(Err(_)) => pause = (period / 4).max(Duration::from_millis(10)),
            Err(_) => {
                shared.lose(true);
                return;
            }
        }
    }
}

/// How long after the command that granted or renewed a lease was sent
/// this process treats it as its own: nine tenths of the lease. The tenth
/// left is the margin in which a call whose lease ran out here stops before
/// Redis (which counts the lease from when it ran that command, later) can
/// grant the slot to another process.
fn usable(lease: Duration) -> Duration {
    lease - lease / 10
}

impl Shared {
    /// The lease is lost (unless released meanwhile: a release that raced a
    /// renewal is not a loss): counted, reported, and its call woken. If
    /// Redis may still hold it (`release`: it ran out here unanswered), its
    /// entry is released in the background, so the slot is not kept.
    fn lose(&self, release_entry: bool) {
        if self
            .state
            .compare_exchange(HELD, LOST, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        self.fleet.counters.lost();
        report::lost(&self.fleet.name, self.token);
        // The calls' wakers, woken on the renewal task: a panic is caught,
        // so that the others are woken and the entry is still released
        // below.
        let wakers = std::mem::take(&mut *lock(&self.wakers));
        for (_, waker) in wakers {
            crate::unwind::caught(move || waker.wake());
        }
        if release_entry {
            spawn_release(self.fleet.clone(), self.token, None);
        }
    }
}

/// Sends the release of `token` in the background: counted in the fleet's
/// releases in flight before it is spawned (so a `flush` that starts after
/// this waits for it), uncounted by [`release`] however it ends.
fn spawn_release(
    fleet: Arc<FleetInner>,
    token: u64,
    first: Option<tokio::sync::oneshot::Sender<()>>,
) {
    fleet.releasing.fetch_add(1, Ordering::AcqRel);
    runtime().spawn(release(fleet, token, first));
}

/// Releases `token`, retrying while Redis is unreachable for up to one lease
/// (after which the lease has expired and is reclaimed anyway); `first` is
/// told when the first attempt is over.
async fn release(
    fleet: Arc<FleetInner>,
    token: u64,
    first: Option<tokio::sync::oneshot::Sender<()>>,
) {
    /// Uncounts the release however it ends (answered, given up, or the
    /// task dropped with the runtime).
    struct Sent(Arc<FleetInner>);
    impl Drop for Sent {
        fn drop(&mut self) {
            if self.0.releasing.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.0.released_all.notify_waiters();
            }
        }
    }
    let _sent = Sent(fleet.clone());
    let give_up = tokio::time::Instant::now() + fleet.lease;
    let mut pause = Duration::from_millis(20);
    let mut first = first;
    loop {
        let released = fleet.release(token).await.is_ok();
        if let Some(first) = first.take() {
            let _ = first.send(());
        }
        if released {
            return;
        }
        if tokio::time::Instant::now() + pause > give_up {
            return;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}
