//! The admission core every pool shares. Implementation details.
//!
//! A pool is an admission controller, not a set of workers: a call takes a slot
//! (a unit of the running count in the admission [`Word`]) or waits in the
//! [`WaitQueue`] under the lock; a released slot is handed straight to the next
//! waiter chosen by the order, so no newcomer can overtake a queued call.
//!
//! Fast paths (no lock): taking a slot while one is free and nobody waits, and
//! releasing one while nobody waits and the pool is open. Everything else —
//! queueing, hand-off, cancellation, scaling, pause/resume, close — happens under
//! the lock, and wakers are woken only after it is released.

use crate::admission::lend::{Lend, Returned};
use crate::admission::queue::WaitQueue;
use crate::admission::room::Room;
use crate::admission::state::{Word, ATTENDED, CLOSED, MAX_SLOTS, ONE_RUNNING, PAUSED, QUEUED};
use crate::admission::waiter::{status, List, Waiter};
use crate::admission::wake_list::{reraise, wake_catching, wake_each, WakeList};
use crate::pool::order::{Kind, Order};
use crate::pool::rejected::Rejected;
use crate::pool::stats::Stats;
use crate::scale::adaptive::Verdict;
use crate::scale::queue_depth::AutoscaleTiming;
use crate::scale::{LimitCause, ScalePolicy, Scaler};
use crate::sync::{AtomicU64, AtomicUsize, Mutex, MutexGuard, Ordering};
use crate::time::clock::Clock;
use std::ptr::NonNull;
use std::sync::Arc as StdArc;
use std::task::Waker;
use std::time::{Duration, Instant};

/// What an operation under the pool lock reports (a limit change, an
/// adaptive window), once the lock is released: features `tracing` and
/// `metrics` report it; without them it is nothing.
#[cfg(any(feature = "tracing", feature = "metrics"))]
use crate::obs::Deferred as Report;

/// Without features `tracing` and `metrics`: nothing to report.
#[cfg(not(any(feature = "tracing", feature = "metrics")))]
struct Report<'a>(std::marker::PhantomData<&'a Core>);

#[cfg(not(any(feature = "tracing", feature = "metrics")))]
impl Report<'_> {
    #[inline(always)]
    fn limit(&mut self, _from: usize, _to: usize, _cause: LimitCause) {}
}

/// Whether a call may be turned away.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// Paused, full, timed-out admissions and closed pools reject the call.
    Reject,
    /// The call waits instead: through a pause (until `resume`), past the
    /// waiting bound and the admission timeout, and through `close` and
    /// `abort` — it has no way to report a rejection (a `#[pooled]` function
    /// whose return type cannot carry an error), so a closed pool still
    /// admits it, in order.
    Wait,
}

/// How a finished call ended, for the counters.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Outcome {
    Completed,
    Panicked,
    Cancelled,
}

/// What the slow path decided for a call that found no free slot.
pub(crate) enum Enqueued {
    Admitted,
    /// A nested call borrowed its parent's slot after all.
    Lent,
    Rejected(Rejected),
    Waiting,
}

/// What a waiting call that gave up found it held.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Left {
    /// Nothing: it left the queue (counted as cancelled or rejected).
    Nothing,
    /// A slot of the pool, handed to it concurrently: the caller owns it.
    Slot,
    /// Its parent's lent slot, handed to it concurrently: the caller owns the borrow.
    Lent,
}

struct Counters {
    /// Calls that reached the pool (first poll), counted on their own so
    /// that the identity in [`Stats::submitted`] is a real check.
    submitted: AtomicU64,
    /// Calls running under a lent slot (not counted in `running`).
    nested: AtomicUsize,
    completed: AtomicU64,
    panicked: AtomicU64,
    cancelled: AtomicU64,
    rejected: [AtomicU64; 4],
    waiting: AtomicUsize,
}

struct Locked {
    queue: WaitQueue,
    /// Never-rejecting calls that arrived while the pool was paused.
    held: List,
    /// Futures of `drained()` waiting, by id (each removes its own entry
    /// when dropped, so abandoned ones keep nothing alive).
    drain_wakers: Vec<(u64, Waker)>,
    next_drain_id: u64,
    bounds: (usize, usize),
    /// `abort` was called: a caller that comes from the room (sync
    /// barging) is turned away, as the queued ones were.
    aborted: bool,
    /// Sync callers taken out of the room (sync barging) whose enqueue has
    /// not yet queued, admitted or turned them away: still waiting, and
    /// counted so (one per such enqueue; it may let go of the lock while it
    /// wakes a batch of admitted calls).
    in_transit: usize,
    max_waiting: Option<usize>,
    scaler: Option<Scaler>,
}

impl Locked {
    /// Whether the queue holds as many calls as `max_waiting` allows (a
    /// rejecting call that would wait is then turned away, `Full`).
    /// `room`: the callers waiting in the room, who count as waiting.
    #[inline(always)]
    fn waiting_full(&self, room: &Room) -> bool {
        self.max_waiting
            .is_some_and(|bound| self.queue.len() + self.in_transit + room.settled_len() >= bound)
    }
}

/// What a locked release tells the room (sync barging), after the lock.
enum RoomNews {
    /// The slot was handed to a queued call.
    Nothing,
    /// The slot went back to the word: one caller may take it.
    Released,
    /// The limit changed: every caller looks again.
    Changed,
}

/// Everything a pool needs that is fixed at build time.
pub(crate) struct CoreConfig {
    pub(crate) kind: Kind,
    pub(crate) order: Order,
    pub(crate) initial: usize,
    pub(crate) bounds: (usize, usize),
    pub(crate) max_waiting: Option<usize>,
    pub(crate) admission_timeout: Option<Duration>,
    /// How long a sync caller may wait in the room (`None`: it queues).
    pub(crate) sync_barging: Option<Duration>,
    pub(crate) autoscale: AutoscaleTiming,
    pub(crate) policy: ScalePolicy,
    pub(crate) clock: StdArc<dyn Clock>,
    /// The pool's name, which features `tracing` and `metrics` report it by.
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    pub(crate) name: Option<StdArc<str>>,
    /// A group's isolated instance (feature `test-util`): its limit and
    /// calls count in the group's series, but the adaptive gauges, which
    /// hold one value, stay the shared pool's.
    #[cfg(feature = "metrics")]
    pub(crate) isolated: bool,
}

pub(crate) struct Core {
    word: AtomicU64,
    counters: Counters,
    locked: Mutex<Locked>,
    kind: Kind,
    order: Order,
    /// Admission timeout in nanoseconds, `u64::MAX` for none (changed by reloads).
    admission_timeout: AtomicU64,
    /// How long a sync caller may wait in the room, in nanoseconds (0 for
    /// sync barging off; changed by reloads).
    sync_barging: AtomicU64,
    /// Sync callers waiting outside the queue (sync barging).
    room: Room,
    clock: StdArc<dyn Clock>,
    /// Calls are timed and judged for the adaptive policy.
    adaptive: bool,
    /// A group's pool (shared or isolated): its calls are under the
    /// application-wide ceiling when one is set. Set once, before the pool
    /// is shared.
    group: std::sync::atomic::AtomicBool,
    /// This core, for the reentrancy frames a blocking job inherits (see
    /// [`nested::inherit`](crate::admission::nested::inherit)): a frame
    /// names its core by address, and an inherited one must keep it alive.
    this: std::sync::Weak<Core>,
    /// When the autoscaler next wants a sample or an evaluation, in clock nanoseconds
    /// (`u64::MAX` for fixed pools): lock-free events skip it until then.
    autoscale_due: AtomicU64,
    /// What features `tracing` and `metrics` report the pool by.
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    obs: crate::obs::Observer,
}

impl Core {
    /// A core, shared from the start (see [`arc`](Core::arc)).
    pub(crate) fn new(config: CoreConfig) -> StdArc<Self> {
        StdArc::new_cyclic(|this| Self::with(config, this.clone()))
    }

    fn with(config: CoreConfig, this: std::sync::Weak<Core>) -> Self {
        let now = config.clock.now();
        let scaler = (config.kind == Kind::Autoscale)
            .then(|| Scaler::new(config.policy, config.autoscale, config.initial, now));
        let due = scaler
            .as_ref()
            .and_then(Scaler::next_due)
            .map_or(u64::MAX, nanos);
        let adaptive = scaler.as_ref().is_some_and(Scaler::samples_calls);
        let sync_barging = config.sync_barging.filter(|bound| !bound.is_zero());
        Core {
            word: AtomicU64::new(
                Word::new(config.initial)
                    .with_flag(ATTENDED, scaler.is_some() || sync_barging.is_some())
                    .0,
            ),
            counters: Counters {
                submitted: AtomicU64::new(0),
                nested: AtomicUsize::new(0),
                completed: AtomicU64::new(0),
                panicked: AtomicU64::new(0),
                cancelled: AtomicU64::new(0),
                rejected: std::array::from_fn(|_| AtomicU64::new(0)),
                waiting: AtomicUsize::new(0),
            },
            locked: Mutex::new(Locked {
                queue: WaitQueue::new(config.order),
                held: List::new(),
                drain_wakers: Vec::new(),
                next_drain_id: 0,
                aborted: false,
                in_transit: 0,
                bounds: config.bounds,
                max_waiting: config.max_waiting,
                scaler,
            }),
            kind: config.kind,
            order: config.order,
            admission_timeout: AtomicU64::new(config.admission_timeout.map_or(u64::MAX, nanos)),
            sync_barging: AtomicU64::new(sync_barging.map_or(0, nanos)),
            room: Room::new(),
            clock: config.clock,
            autoscale_due: AtomicU64::new(due),
            adaptive,
            group: std::sync::atomic::AtomicBool::new(false),
            this,
            #[cfg(any(feature = "tracing", feature = "metrics"))]
            obs: crate::obs::Observer::new(config.name.as_ref(), config.initial, {
                #[cfg(feature = "metrics")]
                let adaptive = adaptive && !config.isolated;
                adaptive
            }),
        }
    }

    /// What an operation under the lock reports once the lock is released
    /// (see [`Report`]): declare it before the lock guard.
    #[inline(always)]
    fn report(&self) -> Report<'_> {
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        return crate::obs::Deferred::new(&self.obs);
        #[cfg(not(any(feature = "tracing", feature = "metrics")))]
        Report(std::marker::PhantomData)
    }

    /// The pool's reporting (features `tracing`, `metrics`).
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    #[inline]
    pub(crate) fn observer(&self) -> &crate::obs::Observer {
        &self.obs
    }

    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    pub(crate) fn order(&self) -> Order {
        self.order
    }

    /// Whether deadlines run on tokio's timer (the pool's clock is tokio's).
    pub(crate) fn uses_tokio_time(&self) -> bool {
        self.clock.uses_tokio_time()
    }

    pub(crate) fn admission_timeout(&self) -> Option<Duration> {
        match self.admission_timeout.load(Ordering::Relaxed) {
            u64::MAX => None,
            n => Some(duration(n)),
        }
    }

    /// Applies to calls that start waiting from now on.
    pub(crate) fn set_admission_timeout(&self, timeout: Option<Duration>) {
        self.admission_timeout
            .store(timeout.map_or(u64::MAX, nanos), Ordering::Relaxed);
    }

    /// How long a sync caller may wait in the room before it queues
    /// (`None`: sync barging is off).
    #[inline]
    pub(crate) fn sync_barging(&self) -> Option<Duration> {
        match self.sync_barging.load(Ordering::Acquire) {
            0 => None,
            n => Some(duration(n)),
        }
    }

    /// Applies to sync calls that arrive from now on (a zero bound turns
    /// sync barging off).
    pub(crate) fn set_sync_barging(&self, bound: Option<Duration>) {
        let bound = bound.map_or(0, nanos);
        let locked = self.locked.lock();
        // Flag first, then the bound (Release): a caller that reads the
        // bound (Acquire) and goes into the room is seen by every release
        // that comes after the flag, and a release before it freed its slot
        // in time for the caller's first look.
        if bound != 0 {
            self.word.fetch_or(ATTENDED, Ordering::AcqRel);
        } else if locked.scaler.is_none() {
            self.word.fetch_and(!ATTENDED, Ordering::AcqRel);
        }
        self.sync_barging.store(bound, Ordering::Release);
        drop(locked);
        // Turned off: callers in the room go to the queue's path.
        self.room.changed();
    }

    /// After a slot of an `ATTENDED` pool went back to the word lock-free:
    /// a barging pool wakes a caller in its room (see `admission/room.rs`).
    #[inline(always)]
    fn slot_returned(&self) {
        if self.sync_barging.load(Ordering::Relaxed) != 0 {
            self.room.released();
        }
    }

    /// Counts a sync caller into the room, if it may wait there: the pool
    /// is neither paused nor closed (those decide in the queue's path) and
    /// the waiting bound has room for it (callers in the room count as
    /// waiting). Under the lock, as the queue's own bound check.
    pub(crate) fn enter_room(&self, never_rejected: bool) -> bool {
        let locked = self.locked.lock();
        // (The waiting bound does not turn away a call that is never turned
        // away: it waits in the queue past it, and so in the room.)
        if self.load().has(PAUSED | CLOSED) || (!never_rejected && locked.waiting_full(&self.room))
        {
            return false;
        }
        self.room.enter(never_rejected);
        true
    }

    /// Waits in the room (entered with [`enter_room`](Core::enter_room))
    /// until `take` takes a slot that freed (`true`), or until `deadline`,
    /// a pause or a close (`false`: the caller goes on to the queue's path,
    /// which decides those).
    pub(crate) fn wait_in_room(&self, never_rejected: bool, deadline: Option<Instant>) -> bool {
        let word = || Word(self.word.load(Ordering::Relaxed));
        let taken = self.room.wait(
            never_rejected,
            deadline,
            || word().can_admit_directly(),
            || word().has(PAUSED | CLOSED) || self.sync_barging.load(Ordering::Relaxed) == 0,
            || {
                let mut attended = false;
                self.take_then(|| attended = true).then_some(attended)
            },
        );
        match taken {
            None => false,
            Some(attended) => {
                // Counted out of the room: now the autoscaler's event,
                // which may read the user's clock.
                if attended {
                    self.autoscale_if_due(1);
                }
                true
            }
        }
    }

    /// Applies to calls that arrive from now on; calls already waiting stay.
    pub(crate) fn set_max_waiting(&self, bound: Option<usize>) {
        self.locked.lock().max_waiting = bound;
    }

    pub(crate) fn max_waiting(&self) -> Option<usize> {
        self.locked.lock().max_waiting
    }

    /// Restarts the autoscaler with new timing (autoscaled pools only).
    pub(crate) fn set_autoscale_timing(&self, timing: AutoscaleTiming) {
        let now = self.clock.now();
        let mut locked = self.locked.lock();
        if let Some(scaler) = locked.scaler.as_mut() {
            scaler.set_timing(timing, now);
            let due = scaler.next_due().map_or(u64::MAX, nanos);
            self.autoscale_due.store(due, Ordering::Relaxed);
        }
    }

    #[inline]
    fn load(&self) -> Word {
        Word(self.word.load(Ordering::Acquire))
    }

    // ---- acquiring -------------------------------------------------------

    /// Takes a free slot if one is free and nobody waits. `false` means: go
    /// through [`Core::enqueue`].
    #[inline]
    pub(crate) fn try_acquire_fast(&self) -> bool {
        // This call is counted now; the period before it was not.
        self.take_then(|| self.autoscale_if_due(1))
    }

    /// [`try_acquire_fast`](Core::try_acquire_fast)'s compare-and-swap,
    /// then `attended` if it took a slot and the autoscaler wants the event.
    #[inline(always)]
    fn take_then(&self, attended: impl FnOnce()) -> bool {
        let mut w = self.load();
        loop {
            if w.has(PAUSED | CLOSED) || !w.can_admit_directly() {
                return false;
            }
            match self.word.compare_exchange_weak(
                w.0,
                w.0 + ONE_RUNNING,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if w.has(ATTENDED) {
                        attended();
                    }
                    return true;
                }
                Err(actual) => w = Word(actual),
            }
        }
    }

    /// The slow path of acquiring: under the lock, admit, reject, or link `node`
    /// into the queue (or, for a never-rejecting call on a paused pool, into the
    /// hold list) with `waker`.
    ///
    /// A nested call carries its parent's lend in its node: it borrows it if
    /// it came back meanwhile, or waits for it and for a free slot at once (in
    /// the queue, which a paused pool or a full waiting bound does not close to
    /// it: it is part of work already admitted).
    ///
    /// Inlined into its one caller (`Acquire::wait_or_reject`): a call that
    /// waits pays one call frame for its start, not two.
    ///
    /// # Safety
    /// `node` is pinned, unlinked, and its owner calls [`Core::cancel`] before
    /// dropping it unless it observes a final status.
    #[inline(always)]
    pub(crate) unsafe fn enqueue(
        &self,
        node: NonNull<Waiter>,
        weight: i64,
        mode: Mode,
        waker: &Waker,
        waited: bool,
    ) -> Enqueued {
        // Cloned before any state changes: a panicking `clone` loses nothing.
        // Not registered (the call admitted or turned away here), the clone
        // is dropped quietly: a panicking `drop` would unwind past a
        // decision already made (a slot taken, a rejection counted) and
        // lose it — a slot leaked for good.
        struct Unregistered(Option<Waker>);
        impl Drop for Unregistered {
            fn drop(&mut self) {
                if let Some(waker) = self.0.take() {
                    crate::unwind::caught(move || drop(waker));
                }
            }
        }
        let mut waker = Unregistered(Some(waker.clone()));
        let mut registered = || waker.0.take().expect("registered once");
        // Only an autoscaler's limit change admits a batch (none, and no
        // list to set up and check, on every other enqueue). Woken after the
        // lock, a waker's panic caught: re-raised into this call, which has
        // just been admitted, queued or turned away, it would lose that
        // decision (a slot taken, a place in the room counted out).
        struct Batch(Option<WakeList>);
        impl Drop for Batch {
            fn drop(&mut self) {
                if let Some(wakers) = self.0.take() {
                    wakers.wake_all_quietly();
                }
            }
        }
        let mut wakers = Batch(None);
        // Reports after the lock is released (dropped after `locked`).
        let mut report = self.report();
        // The clock, the user's code maybe, read before the lock.
        let now = self.autoscale_clock();
        let mut locked = self.locked.lock();
        if waited {
            // From the room (sync barging), where it is still counted: out
            // of it now, under the lock, into `in_transit` (counted as
            // waiting), and into the queue (or admitted) below. One move
            // for `stats()` (see `Room::moving`), with no user code inside.
            // Already waiting, it is not turned away by the waiting bound,
            // a pause or a close, as no queued call is; an abort turns it
            // away, as it did the queued ones (unless it is never turned
            // away: then it queues, as those the abort left).
            // (Turned away, it may have been what kept a closed pool from
            // being drained: its caller then calls `wake_if_drained`.)
            {
                let _moving = self.room.moving();
                locked.in_transit += 1;
                self.publish_waiting(&locked);
                self.room.leave(mode == Mode::Wait);
            }
            if locked.aborted && mode == Mode::Reject {
                let rejected = self.reject(Rejected::Closed);
                self.arrived(&mut locked);
                return rejected;
            }
        }
        let n = node.as_ref();
        let lend_ptr = n.lend();
        // Safety: the node's lend is alive while the node holds it.
        let lend = match lend_ptr
            .as_ref()
            .map(|lend| (lend, lend.borrow_or_wait(true, n.elsewhere())))
        {
            Some((_, crate::admission::lend::Borrow::Borrowed)) => {
                if waited {
                    self.arrived(&mut locked);
                }
                return Enqueued::Lent;
            }
            Some((lend, crate::admission::lend::Borrow::Waiting)) => Some(lend),
            Some((_, crate::admission::lend::Borrow::Unavailable)) => {
                // The lender is gone: wait as an independent call.
                n.clear_under();
                None
            }
            None => None,
        };
        // Undoes the waiter count taken above on every early return.
        let leave = |lend: Option<&Lend>| {
            if let Some(lend) = lend {
                lend.waiter_left();
            }
        };
        // (A caller from the room is in the demand, in transit.)
        if let Some(limit) = self.autoscale_observe(&mut locked, 0, now, &mut report) {
            locked = self.set_limit_locked(locked, limit, wakers.0.insert(WakeList::new()));
            // A new limit: the room looks again (as after a resize).
            if self.sync_barging.load(Ordering::Relaxed) != 0 {
                self.room.changed();
            }
        }
        // Already waiting (see above) or part of work already admitted (a
        // nested call waiting for its parent's slot): not turned away.
        let settled = lend.is_some() || waited;
        let mut w = self.load();
        loop {
            // The common case first: others wait, the pool is open and not
            // paused (what the checks below conclude, tested at once).
            if w.0 & (QUEUED | PAUSED | CLOSED) == QUEUED {
                if mode == Mode::Reject && !settled && locked.waiting_full(&self.room) {
                    return self.reject(Rejected::Full);
                }
                break;
            }
            // A nested call waiting for its parent's slot belongs to work
            // already admitted: closing (like pausing and the waiting bound)
            // does not turn it away; only `abort` does.
            if w.has(CLOSED) && mode == Mode::Reject && !settled {
                return self.reject(Rejected::Closed);
            }
            if w.has(PAUSED) && !settled {
                if mode == Mode::Reject {
                    return self.reject(Rejected::Paused);
                }
                n.set_weight(weight);
                n.register_owned(registered());
                n.set_status(status::HELD);
                locked.held.push_back(node);
                locked.in_transit -= usize::from(waited);
                self.publish_waiting(&locked);
                return Enqueued::Waiting;
            }
            // (A paused pool admits no new call; one that was already
            // waiting, from the room, takes a free slot as a queued call
            // would have been handed it, and so does a nested call, which
            // belongs to admitted work: queued over a free slot, it would
            // wait for a release that `resume` does not make.)
            if w.can_admit_directly() && (!w.has(PAUSED) || settled) {
                // (A closed pool only gets here for never-rejected calls,
                // nested ones and callers from the room.)
                match self.word.compare_exchange(
                    w.0,
                    w.0 + ONE_RUNNING,
                    Ordering::Acquire,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        leave(lend);
                        if waited {
                            self.arrived(&mut locked);
                        }
                        return Enqueued::Admitted;
                    }
                    Err(actual) => {
                        w = Word(actual);
                        continue;
                    }
                }
            }
            if mode == Mode::Reject && !settled && locked.waiting_full(&self.room) {
                return self.reject(Rejected::Full);
            }
            if w.has(QUEUED) {
                break;
            }
            // Set QUEUED only while no slot is free: from then on every release
            // takes the lock and will find this waiter.
            match self.word.compare_exchange(
                w.0,
                w.with_flag(QUEUED, true).0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => w = Word(actual),
            }
        }
        n.set_weight(weight);
        n.register_owned(registered());
        n.set_status(status::QUEUED);
        locked.queue.push(node);
        if waited {
            locked.in_transit -= 1;
        }
        self.publish_waiting(&locked);
        Enqueued::Waiting
    }

    /// A caller from the room that its enqueue admitted or turned away
    /// (rather than queued): no longer in transit.
    #[cold]
    fn arrived(&self, locked: &mut Locked) {
        locked.in_transit -= 1;
        self.publish_waiting(locked);
    }

    /// Bookkeeping for a node just unlinked from the queue: a nested call no
    /// longer waits for its parent's slot.
    ///
    /// # Safety
    /// Caller holds the lock; `node` was just unlinked and is alive.
    unsafe fn unlinked(node: NonNull<Waiter>) {
        // Safety: the node's lend is alive while the node holds it (its owner
        // clears it once it sees the node's fate).
        if let Some(lend) = node.as_ref().lend().as_ref() {
            lend.waiter_left();
        }
    }

    /// Re-registers the waker of a linked node; returns the node's status as
    /// seen under the lock.
    ///
    /// # Safety
    /// `node` was linked by [`Core::enqueue`] and is alive.
    pub(crate) unsafe fn refresh_waker(&self, node: NonNull<Waiter>, waker: &Waker) -> u8 {
        let n = node.as_ref();
        let waiting = |status| matches!(status, status::QUEUED | status::HELD);
        {
            let _locked = self.locked.lock();
            let status = n.status();
            if !waiting(status) || n.wakes(waker) {
                return status;
            }
        }
        // Another task's waker: cloned without the lock (a `clone` is the
        // executor's code, which may call this pool), then stored if the
        // call still waits. A `clone` that panics changes nothing.
        let cloned = waker.clone();
        let (status, replaced) = {
            let _locked = self.locked.lock();
            let status = n.status();
            if waiting(status) {
                (status, n.replace_waker(cloned))
            } else {
                (status, Some(cloned))
            }
        };
        // The replaced waker is dropped outside the lock, its panic caught
        // (the panic hook has shown it): the call stays queued with its new
        // waker, which the panic must not keep it from returning to.
        if replaced.is_some() {
            crate::unwind::caught(move || drop(replaced));
        }
        status
    }

    /// A waiting call gives up (dropped, or its admission timeout fired).
    /// Returns what it held after all (it was admitted concurrently), which
    /// the caller then owns.
    ///
    /// # Safety
    /// `node` was passed to [`Core::enqueue`], which returned `Waiting`.
    pub(crate) unsafe fn cancel(&self, node: NonNull<Waiter>, reason: Option<Rejected>) -> Left {
        // The call's waker, dropped once the call is counted and the lock
        // released: its `Drop` is the executor's code.
        let waker;
        // An autoscaler's limit change (see below) admits a batch, woken
        // after the lock with their panics caught: this call is leaving, and
        // its caller may be unwinding already.
        let mut wakers = WakeList::new();
        let mut resized = false;
        let mut report = self.report();
        let now = self.autoscale_clock();
        let drained = {
            let mut locked = self.locked.lock();
            let n = node.as_ref();
            match n.status() {
                status::QUEUED => {
                    locked.queue.remove(node);
                    Self::unlinked(node);
                    if locked.queue.is_empty() {
                        self.word.fetch_and(!QUEUED, Ordering::AcqRel);
                    }
                }
                status::HELD => locked.held.remove(node),
                status::ADMITTED => return Left::Slot,
                status::LENT => return Left::Lent,
                _ => return Left::Nothing,
            }
            n.set_status(status::IDLE);
            waker = n.take_waker();
            match reason {
                Some(reason) => self.count_rejection(reason),
                None => {
                    self.counters.cancelled.fetch_add(1, Ordering::Relaxed);
                }
            }
            // A call leaving the queue changes the demand: an event for the
            // autoscaler like an intake or a release (the period before it
            // had this call waiting), or a queue that keeps timing out
            // between releases would never be seen.
            if let Some(limit) = self.autoscale_observe(&mut locked, -1, now, &mut report) {
                locked = self.set_limit_locked(locked, limit, &mut wakers);
                resized = true;
            }
            self.publish_waiting(&locked);
            self.take_drained(&mut locked)
        };
        // A new limit: the room looks again (as after a resize).
        if resized && self.sync_barging.load(Ordering::Relaxed) != 0 {
            self.room.changed();
        }
        wakers.wake_all_quietly();
        // A `Drop` that panics loses nothing here (the call left the queue
        // and is counted): its panic is caught, as the panic hook has shown
        // it, so that it cannot stop the caller's own accounting (a call
        // dropped while waiting reports its end after this returns) nor
        // abort a caller that is already unwinding.
        crate::unwind::caught(move || drop(waker));
        wake_each(drained.into_iter().flatten());
        Left::Nothing
    }

    fn reject(&self, reason: Rejected) -> Enqueued {
        self.count_rejection(reason);
        Enqueued::Rejected(reason)
    }

    pub(crate) fn count_rejection(&self, reason: Rejected) {
        self.counters.rejected[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// A rejection decided without the lock (the pool is closed, or paused for
    /// a call that may be turned away). `None`: go through the slow path.
    #[inline]
    pub(crate) fn reject_fast(&self, mode: Mode) -> Option<Rejected> {
        let w = self.load();
        if !w.has(CLOSED | PAUSED) {
            return None;
        }
        let reason = if w.has(CLOSED) && mode == Mode::Reject {
            Rejected::Closed
        } else if w.has(PAUSED) && mode == Mode::Reject {
            Rejected::Paused
        } else {
            return None;
        };
        self.count_rejection(reason);
        Some(reason)
    }

    fn publish_waiting(&self, locked: &Locked) {
        self.counters.waiting.store(
            locked.queue.len() + locked.held.len() + locked.in_transit,
            Ordering::Relaxed,
        );
    }

    // ---- releasing -------------------------------------------------------

    /// What a call admitted now keeps as its admission stamp: the clock's
    /// time if the pool times its calls (the adaptive policy), else nothing.
    #[inline]
    pub(crate) fn admission_stamp(&self) -> Option<u64> {
        self.adaptive.then(|| self.now_nanos())
    }

    /// The clock's time in nanoseconds (admission stamps of adaptive pools).
    pub(crate) fn now_nanos(&self) -> u64 {
        nanos(self.clock.now())
    }

    /// Releases the slot of a call that ended (counted already) since
    /// `admitted_at` with `verdict`: lock-free for a fixed pool while nobody
    /// waits; an autoscaled pool consults its autoscaler when due, an
    /// adaptive one is fed the call's latency and verdict.
    #[inline(always)]
    pub(crate) fn release_slot(&self, admitted_at: u64, verdict: Verdict) {
        if let Err(w) = self.release_plain() {
            self.release_off_plain(w, Some((admitted_at, verdict)));
        }
    }

    /// The lock-free release of a fixed pool's slot while nobody waits and
    /// it is open; otherwise `Err` with the word that said it is not that
    /// case.
    #[inline(always)]
    fn release_plain(&self) -> Result<(), Word> {
        let released = self.decrement_unless(QUEUED | CLOSED | ATTENDED);
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        if released.is_ok() {
            self.obs.freed();
        }
        released
    }

    /// Where a release that [`release_plain`](Core::release_plain) turned
    /// down goes, by the word `w` it saw: a fixed, open pool has calls
    /// waiting (`QUEUED`), so the slot goes to one of them, under the lock;
    /// anything else takes [`release_other`](Core::release_other).
    #[inline(always)]
    fn release_off_plain(&self, w: Word, sample: Option<(u64, Verdict)>) {
        if w.has(ATTENDED | CLOSED) {
            self.release_other(sample);
        } else {
            // (Not adaptive: an adaptive pool is `ATTENDED`.)
            #[cfg(any(feature = "tracing", feature = "metrics"))]
            self.obs.freed();
            self.release_to_waiter();
        }
    }

    /// The common locked release: a pool without a scaler (nothing to feed,
    /// no limit to change) hands the slot to the next waiter. The slot stays
    /// taken, so the pool cannot have drained: nothing else to do. If there
    /// is no waiter to hand it to after all (the queue emptied, or the pool
    /// was shrunk below its running calls), the general release decides.
    #[inline(never)]
    fn release_to_waiter(&self) {
        let mut locked = self.locked.lock();
        debug_assert!(locked.scaler.is_none());
        let w = self.load();
        if w.has(QUEUED) && w.running() <= w.limit() {
            // Safety: linked nodes are alive; we hold the lock.
            if let Some(waker) = unsafe { self.hand_off(&mut locked) } {
                self.publish_waiting(&locked);
                drop(locked);
                if let Some(waker) = waker {
                    let mut first = None;
                    wake_catching(waker, &mut first);
                    reraise(first);
                }
                return;
            }
        }
        drop(locked);
        self.release_slow(None);
    }

    /// Frees a slot lock-free, unless (or as soon as) the word has one of
    /// `flags`: then `Err` with that word, nothing changed.
    #[inline(always)]
    fn decrement_unless(&self, flags: u64) -> Result<(), Word> {
        let mut w = self.load();
        while !w.has(flags) {
            match self.word.compare_exchange_weak(
                w.0,
                w.0 - ONE_RUNNING,
                Ordering::Release,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => w = Word(actual),
            }
        }
        Err(w)
    }

    /// A release off [`release_plain`](Core::release_plain)'s path: the
    /// adaptive policy's sample (`sample`, ignored by other pools), the
    /// autoscaler's due check, a waiter to hand the slot to, a closed pool.
    #[inline(never)]
    fn release_other(&self, sample: Option<(u64, Verdict)>) {
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        self.obs.freed();
        if self.adaptive {
            return self.release_slow(sample.or(Some((0, Verdict::Ignore))));
        }
        if self.decrement_unless(QUEUED | CLOSED).is_ok() {
            self.slot_returned();
            // This call is no longer counted; the period before it was.
            self.autoscale_if_due(-1);
        } else {
            self.release_slow(None);
        }
    }

    fn adaptive_observe(
        &self,
        locked: &mut Locked,
        admitted_at: u64,
        now: u64,
        verdict: Verdict,
    ) -> Option<usize> {
        let bounds = locked.bounds;
        let scaler = locked.scaler.as_mut()?;
        let latency = Duration::from_nanos(now.saturating_sub(admitted_at));
        let running = self.load().running();
        let waiting = locked.queue.len() + locked.held.len() + locked.in_transit + self.room.len();
        scaler.on_call(
            Duration::from_nanos(now),
            latency,
            verdict,
            running,
            waiting,
            bounds,
        )
    }

    /// A call that releases no slot of its own here (one nested under a
    /// lent slot, or one whose slot a nested call took over), admitted or
    /// nested at `sent_at` (its stamp), ended with an overload verdict: an
    /// adaptive pool counts it as a drop, as it counts one of a call that
    /// releases its slot (with no latency sample; one sent before the last
    /// cut judged the old limit, so a burst of nested refusals is one cut,
    /// not a cascade). Other pools ignore it. A cut admits nobody; a
    /// waker's panic would not be re-raised.
    #[cold]
    #[inline(never)]
    pub(crate) fn overloaded(&self, sent_at: u64) {
        if !self.adaptive {
            return;
        }
        let mut wakers = WakeList::new();
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        let mut report = self.report();
        let now = self.now_nanos();
        let mut locked = self.locked.lock();
        let scaled_to =
            self.adaptive_observe(&mut locked, sent_at.min(now), now, Verdict::Overload);
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        if let Some(scaler) = locked.scaler.as_mut() {
            report.window(scaler.take_window());
            if let Some(limit) = scaled_to {
                report.limit(self.limit(), limit, LimitCause::Adaptive);
            }
        }
        if let Some(limit) = scaled_to {
            locked = self.set_limit_locked(locked, limit, &mut wakers);
        }
        drop(locked);
        if scaled_to.is_some() {
            self.room.changed();
        }
        wakers.wake_all_quietly();
    }

    /// Counts how a call ended, releases its slot, then reports the end
    /// (also when a waker woken by the release panics: the panic goes on
    /// after the report).
    #[inline]
    pub(crate) fn release(&self, outcome: Outcome) {
        self.count(outcome);
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        let _reported = EndReported(self, outcome);
        self.free_slot();
    }

    /// Releases one slot of a call that gives no latency sample (cancelled,
    /// or not a call's), handing it to the next waiter if one is waiting.
    #[inline]
    pub(crate) fn free_slot(&self) {
        if let Err(w) = self.release_plain() {
            self.release_off_plain(w, None);
        }
    }

    fn release_slow(&self, sample: Option<(u64, Verdict)>) {
        // The waiter handed the slot, woken after the lock is released (one
        // waker: no batch to set up and tear down on every release).
        let mut handed_to: Option<Waker> = None;
        // Only a limit change admits a batch (no list to set up and check on
        // every other release).
        let mut wakers: Option<WakeList> = None;
        // What the room hears after the lock is released.
        let room_news;
        // Reports after the lock is released.
        let mut report = self.report();
        // The clock, the user's code maybe, read before the lock.
        let now = match sample {
            Some(_) => Err(self.now_nanos()),
            None => Ok(self.autoscale_clock()),
        };
        let drained = {
            let mut locked = self.locked.lock();
            let scaled_to = match (sample, now) {
                (Some((admitted_at, verdict)), Err(now)) => {
                    self.adaptive_observe(&mut locked, admitted_at, now, verdict)
                }
                (_, now) => self.autoscale_observe(&mut locked, 0, now.ok().flatten(), &mut report),
            };
            #[cfg(any(feature = "tracing", feature = "metrics"))]
            if let Some(scaler) = locked.scaler.as_mut() {
                report.window(scaler.take_window());
                // (An autoscaler's change was reported as it was decided.)
                if let (Some(limit), Some(_)) = (scaled_to, sample) {
                    report.limit(self.limit(), limit, LimitCause::Adaptive);
                }
            }
            let w = self.load();
            // A slot frees: it goes to the next waiter if running is within the
            // limit; otherwise (after a scale-down) it is simply retired. The
            // limit is the one this release's own evaluation moved it to, if
            // it did (set below, after the hand-off): a cut made here must
            // not let a waiter in by the limit it replaces.
            let limit = scaled_to.unwrap_or_else(|| w.limit());
            // Safety: linked nodes are alive; we hold the lock.
            let handed = w.has(QUEUED)
                && w.running() <= limit
                && match unsafe { self.hand_off(&mut locked) } {
                    Some(waker) => {
                        handed_to = waker;
                        true
                    }
                    None => false,
                };
            if !handed {
                self.word.fetch_sub(ONE_RUNNING, Ordering::AcqRel);
            }
            room_news = if scaled_to.is_some() {
                RoomNews::Changed
            } else if handed {
                RoomNews::Nothing
            } else {
                RoomNews::Released
            };
            if let Some(limit) = scaled_to {
                locked = self.set_limit_locked(locked, limit, wakers.insert(WakeList::new()));
            }
            self.publish_waiting(&locked);
            self.take_drained(&mut locked)
        };
        // Every waker is woken even if one panics; the first panic goes on
        // once all are.
        let mut first = None;
        if let Some(waker) = handed_to {
            wake_catching(waker, &mut first);
        }
        if let Some(drained) = drained {
            wake_each(drained);
        }
        if let Some(wakers) = &mut wakers {
            wakers.wake_all();
        }
        // A slot back in the word, or a new limit: the room looks again.
        if self.sync_barging.load(Ordering::Relaxed) != 0 {
            match room_news {
                RoomNews::Nothing => {}
                RoomNews::Released => self.room.released(),
                RoomNews::Changed => self.room.changed(),
            }
        }
        reraise(first);
        // (`wakers` re-raises a panic of its own as it drops.)
    }

    // ---- lending -----------------------------------------------------------

    /// A nested call borrowed its parent's slot.
    pub(crate) fn nested_started(&self) {
        self.counters.nested.fetch_add(1, Ordering::Relaxed);
    }

    /// A call ended without a slot being freed: one fewer call shares a slot.
    pub(crate) fn nested_ended(&self) {
        self.counters.nested.fetch_sub(1, Ordering::Relaxed);
    }

    /// A nested call is done with the slot it borrowed from `lend`: the slot
    /// goes to another nested call waiting for it, back to its lender, or — the
    /// lender gone — is released (up the chain of lends it came through).
    /// Returns what the caller still has to count (see [`LendReturned`]).
    ///
    /// Every count is taken before a waiter is woken: a waker whose `wake`
    /// panics unwinds out of this only after the pool's counts are right.
    pub(crate) fn return_lend(&self, lend: &Lend) -> LendReturned {
        match lend.give_back() {
            Returned::ToLender => return LendReturned::Ended,
            Returned::LenderGone => return self.release_lent(lend),
            Returned::Contended => {}
        }
        let mut wakers = WakeList::new();
        // Reports after the lock is released (dropped after `locked`).
        let mut report = self.report();
        // The clock, the user's code maybe, read before the lock.
        let now = self.autoscale_clock();
        let mut locked = self.locked.lock();
        let target: *const Lend = lend;
        // Safety: under the lock; linked nodes are alive. A lend counts its
        // waiters only while they are queued, so if it has any, one is found.
        let waiter = match lend.has_waiters() && !lend.is_lender_gone() {
            true => unsafe { locked.queue.find(|n| std::ptr::eq(n.lend(), target)) },
            false => None,
        };
        let Some(node) = waiter else {
            let returned = lend.give_back_locked();
            drop(locked);
            return match returned {
                Returned::LenderGone => self.release_lent(lend),
                _ => LendReturned::Ended,
            };
        };
        // The borrow passes to the waiter: the slot stays lent; one nested
        // call starts as the returning one ends (the nested count stays).
        // Safety: `node` is linked (just found) and alive; under the lock.
        unsafe {
            locked.queue.remove(node);
            Self::unlinked(node);
            let n = node.as_ref();
            wakers.push(n.take_waker());
            n.set_status(status::LENT);
            lend.passed_on(n.elsewhere());
        }
        if locked.queue.is_empty() {
            self.word.fetch_and(!QUEUED, Ordering::AcqRel);
        }
        // A call that leaves the queue (for the lent slot) changes the
        // demand: an event for the autoscaler, whose period before had it
        // waiting.
        let resized = match self.autoscale_observe(&mut locked, -1, now, &mut report) {
            Some(limit) => {
                locked = self.set_limit_locked(locked, limit, &mut wakers);
                true
            }
            None => false,
        };
        self.publish_waiting(&locked);
        drop(locked);
        // A new limit: the room looks again (as after a resize).
        if resized && self.sync_barging.load(Ordering::Relaxed) != 0 {
            self.room.changed();
        }
        wakers.wake_all();
        LendReturned::PassedOn
    }

    /// Releases the slot behind a lend whose lender is gone.
    fn release_lent(&self, lend: &Lend) -> LendReturned {
        match lend.up() {
            None => {
                self.free_slot();
                LendReturned::Freed
            }
            Some(up) => self.return_lend(up),
        }
    }

    /// Gives the slot of a finishing call to the next waiter (the running count
    /// stays the same).
    ///
    /// # Safety
    /// Caller holds the lock (`locked`); `QUEUED` is set.
    /// Returns the waker of the waiter that got the slot (to wake once the
    /// lock is released), or `None` if none did: the queue emptied without
    /// `QUEUED` being cleared, which must not happen, and the slot stays
    /// with the caller, so it can be freed instead of lost.
    #[inline(always)]
    unsafe fn hand_off(&self, locked: &mut Locked) -> Option<Option<Waker>> {
        let handed = locked.queue.pop().map(|node| {
            Self::unlinked(node);
            let n = node.as_ref();
            let waker = n.take_waker();
            n.set_status(status::ADMITTED);
            waker
        });
        if locked.queue.is_empty() {
            self.word.fetch_and(!QUEUED, Ordering::AcqRel);
        }
        handed
    }

    /// Admits waiters while slots are free. Caller holds the lock; `QUEUED` is
    /// set or the queue is empty. Wakes (unlocking in between) in batches.
    fn admit_waiting<'a>(
        &'a self,
        mut locked: MutexGuard<'a, Locked>,
        wakers: &mut WakeList,
    ) -> MutexGuard<'a, Locked> {
        loop {
            let w = self.load();
            if locked.queue.is_empty() || w.running() >= w.limit() {
                break;
            }
            if wakers.is_full() {
                drop(locked);
                wakers.wake_all();
                locked = self.locked.lock();
                continue;
            }
            self.word.fetch_add(ONE_RUNNING, Ordering::AcqRel);
            // Safety: under the lock; QUEUED is set so no fast path races us.
            match unsafe { self.hand_off(&mut locked) } {
                Some(waker) => wakers.push(waker),
                None => {
                    self.word.fetch_sub(ONE_RUNNING, Ordering::AcqRel);
                }
            }
        }
        if locked.queue.is_empty() {
            self.word.fetch_and(!QUEUED, Ordering::AcqRel);
        }
        self.publish_waiting(&locked);
        locked
    }

    // ---- scaling ---------------------------------------------------------

    pub(crate) fn bounds(&self) -> (usize, usize) {
        self.locked.lock().bounds
    }

    /// Sets the limit to `target` clamped to the pool's bounds; returns the new
    /// limit. Growing admits waiters at once; shrinking lets running work finish.
    /// `cause` is what features `tracing` and `metrics` report.
    pub(crate) fn resize(&self, target: impl FnOnce(usize) -> usize, cause: LimitCause) -> usize {
        let mut wakers = WakeList::new();
        let mut report = self.report();
        let mut locked = self.locked.lock();
        let limit = target(self.load().limit()).clamp(locked.bounds.0, locked.bounds.1);
        report.limit(self.limit(), limit, cause);
        if let Some(scaler) = locked.scaler.as_mut() {
            scaler.reset_to(limit);
        }
        let locked = self.set_limit_locked(locked, limit, &mut wakers);
        drop(locked);
        self.room.changed();
        wakers.wake_all();
        limit
    }

    /// Changes the bounds (and clamps the limit into them, for `cause`).
    pub(crate) fn set_bounds(&self, bounds: (usize, usize), cause: LimitCause) -> usize {
        let mut locked = self.locked.lock();
        locked.bounds = (bounds.0.min(MAX_SLOTS), bounds.1.min(MAX_SLOTS));
        drop(locked);
        self.resize(|limit| limit, cause)
    }

    fn set_limit_locked<'a>(
        &'a self,
        locked: MutexGuard<'a, Locked>,
        limit: usize,
        wakers: &mut WakeList,
    ) -> MutexGuard<'a, Locked> {
        let mut w = self.load();
        loop {
            match self.word.compare_exchange(
                w.0,
                w.with_limit(limit).0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => w = Word(actual),
            }
        }
        self.admit_waiting(locked, wakers)
    }

    // ---- autoscaling -----------------------------------------------------

    /// Feeds the autoscaler the demand since the previous event; returns the
    /// new limit when an evaluation changes it. `own` is the change the
    /// event itself already made to the counts (+1 for a call admitted on
    /// the fast path, -1 for one released there): it is taken back out, so
    /// that the period before the event is filled with the demand it had.
    /// A new limit is reported to `report` (the caller sets it).
    fn autoscale_observe(
        &self,
        locked: &mut Locked,
        own: isize,
        now: Option<Duration>,
        report: &mut Report<'_>,
    ) -> Option<usize> {
        // A pool that samples no demand (fixed, or adaptive) returns before
        // anything is computed: this is inlined into every enqueue and
        // locked release.
        let now = now?;
        let scaler = locked.scaler.as_mut()?;
        let w = self.load();
        let demand = (w.running()
            + locked.queue.len()
            + locked.held.len()
            + locked.in_transit
            + self.room.len())
        .saturating_add_signed(-own);
        let limit = scaler.on_demand(now, demand, w.limit(), locked.bounds);
        let due = scaler.next_due().map_or(u64::MAX, nanos);
        self.autoscale_due.store(due, Ordering::Relaxed);
        if let Some(to) = limit {
            // The limit moves only under the lock: what it is now is what
            // the caller moves it from.
            report.limit(w.limit(), to, LimitCause::Autoscale);
        }
        limit
    }

    /// The time of an event, for [`autoscale_observe`](Self::autoscale_observe),
    /// read before the lock is taken (a [`Clock`](crate::Clock) may be the
    /// user's code): `None` for a pool that samples no demand (one relaxed
    /// load, no clock read).
    #[inline]
    fn autoscale_clock(&self) -> Option<Duration> {
        (self.autoscale_due.load(Ordering::Relaxed) != u64::MAX).then(|| self.clock.now())
    }

    /// On a lock-free event of an autoscaled pool: consult the autoscaler if a
    /// sample is due (one clock read; nothing at all for fixed pools).
    #[inline]
    fn autoscale_if_due(&self, own: isize) {
        let due = self.autoscale_due.load(Ordering::Relaxed);
        if due != u64::MAX {
            let now = self.clock.now();
            if nanos(now) >= due {
                self.autoscale_now(own, now);
            }
        }
    }

    /// Consults the autoscaler outside any other operation (`own`: see
    /// [`autoscale_observe`](Self::autoscale_observe)).
    fn autoscale_now(&self, own: isize, now: Duration) {
        let mut wakers = WakeList::new();
        let mut report = self.report();
        let mut locked = self.locked.lock();
        if let Some(limit) = self.autoscale_observe(&mut locked, own, Some(now), &mut report) {
            locked = self.set_limit_locked(locked, limit, &mut wakers);
        }
        drop(locked);
        self.room.changed();
        if own > 0 {
            // For an admission that just took its slot lock-free (see
            // `try_acquire_fast`), whose caller has yet to record it: a
            // waker's panic is not re-raised into it, which would lose the
            // slot and the call. Its waiter was woken all the same, and the
            // panic hook has shown the panic.
            wakers.wake_all_quietly();
        } else {
            wakers.wake_all();
        }
    }

    // ---- pause / close ---------------------------------------------------

    pub(crate) fn set_paused(&self, paused: bool) {
        let mut wakers = WakeList::new();
        let mut locked = self.locked.lock();
        if paused {
            self.word.fetch_or(PAUSED, Ordering::AcqRel);
            drop(locked);
            // Callers in the room take their places in the queue, as
            // waiting calls (which a pause leaves waiting).
            self.room.changed();
            return;
        }
        self.word.fetch_and(!PAUSED, Ordering::AcqRel);
        if locked.held.is_empty() && locked.queue.is_empty() {
            drop(locked);
            self.room.changed();
            return;
        }
        // Calls that waited for `resume` join the queue in arrival order; setting
        // QUEUED first keeps fast paths out while `admit_waiting` settles it.
        self.word.fetch_or(QUEUED, Ordering::AcqRel);
        // Safety: held nodes are alive and linked only in `held`; under the lock.
        unsafe {
            while let Some(node) = locked.held.pop_front() {
                node.as_ref().set_status(status::QUEUED);
                locked.queue.push(node);
            }
        }
        let locked = self.admit_waiting(locked, &mut wakers);
        drop(locked);
        self.room.changed();
        wakers.wake_all();
    }

    /// Stops intake. With `abort`, also turns away every waiting call that
    /// can be turned away. Never-rejected calls stay, and keep being admitted
    /// (see [`Mode::Wait`]).
    /// Returns how many waiting calls it turned away.
    pub(crate) fn close(&self, abort: bool) -> usize {
        let mut turned_away = 0;
        let mut wakers = WakeList::new();
        // Reports after the lock is released (dropped after `locked`).
        let mut report = self.report();
        // The clock, the user's code maybe, read before the lock: an abort
        // turns waiting calls away, an event for the autoscaler.
        let now = if abort { self.autoscale_clock() } else { None };
        let mut locked = self.locked.lock();
        // The period before the abort had its waiting calls (sampled
        // before they go; a new limit is applied once they are gone, so
        // that it admits none of those the abort turns away).
        let scaled = self.autoscale_observe(&mut locked, 0, now, &mut report);
        self.word.fetch_or(CLOSED, Ordering::AcqRel);
        if abort && !locked.aborted {
            // Callers in the room (or on their way out of it) are turned
            // away by this abort as they reach the queue's lock (`enqueue`):
            // counted here, with the queued calls this turns away (not those
            // never turned away, which queue).
            turned_away += self.room.settled_rejecting();
        }
        locked.aborted |= abort;
        // Callers in the room take their places in the queue, as waiting
        // calls (an abort turns away there those it turns away queued).
        self.room.changed();
        loop {
            if wakers.is_full() {
                // The lock is free while the batch is woken: `QUEUED` must not
                // claim a waiter the queue no longer has, or a slot released in
                // that gap is handed to nobody, and lost.
                if locked.queue.is_empty() {
                    self.word.fetch_and(!QUEUED, Ordering::AcqRel);
                }
                drop(locked);
                wakers.wake_all();
                locked = self.locked.lock();
            }
            if !abort {
                break;
            }
            // Calls that are never turned away stay (held by a pause, they
            // wait for `resume`; queued, for a slot).
            // Safety: under the lock; nodes are alive while linked.
            let node = unsafe {
                match locked.queue.find(|n| !n.is_never_rejected()) {
                    Some(node) => {
                        locked.queue.remove(node);
                        Self::unlinked(node);
                        node
                    }
                    None => break,
                }
            };
            // Safety: just unlinked under the lock.
            unsafe {
                let n = node.as_ref();
                wakers.push(n.take_waker());
                n.set_status(status::CLOSED);
            }
            self.count_rejection(Rejected::Closed);
            turned_away += 1;
        }
        if locked.queue.is_empty() {
            self.word.fetch_and(!QUEUED, Ordering::AcqRel);
        }
        if let Some(limit) = scaled {
            locked = self.set_limit_locked(locked, limit, &mut wakers);
        }
        self.publish_waiting(&locked);
        let drained = self.take_drained(&mut locked);
        drop(locked);
        wakers.wake_all();
        wake_each(drained.into_iter().flatten());
        turned_away
    }

    /// Calls an abort left waiting: those in the queue or held by a pause
    /// and the never-rejecting callers still in the room (a room's caller
    /// is counted out of it under the lock as it queues, so none is counted
    /// twice; one that just took a slot on its way out is, for a moment,
    /// also running).
    pub(crate) fn left_waiting(&self) -> usize {
        let locked = self.locked.lock();
        locked.queue.len() + locked.held.len() + self.room.never_rejecting()
    }

    fn is_drained(&self, locked: &Locked) -> bool {
        let w = self.load();
        w.has(CLOSED)
            && w.running() == 0
            && locked.queue.is_empty()
            && locked.held.is_empty()
            && self.room.len() == 0
    }

    /// A caller that left the room without a slot and is still counted
    /// there ([`flag::IN_ROOM`](crate::admission::waiter::flag::IN_ROOM))
    /// took a slot on its way: counted out (the slot keeps a closed pool
    /// from draining meanwhile).
    pub(crate) fn room_left_admitted(&self, never_rejected: bool) {
        self.room.leave(never_rejected);
    }

    /// Such a caller goes away before it reached the queue (its first poll
    /// unwound): counted out, then a closed pool may be drained.
    pub(crate) fn room_left_gone(&self, never_rejected: bool) {
        self.room.leave(never_rejected);
        self.wake_if_drained();
    }

    /// Wakes the `drained()` futures if the pool is drained now (after a
    /// caller from the room was turned away: it may have been the last
    /// thing it waited for).
    #[cold]
    pub(crate) fn wake_if_drained(&self) {
        let mut locked = self.locked.lock();
        let drained = self.take_drained(&mut locked);
        drop(locked);
        wake_each(drained.into_iter().flatten());
    }

    /// Whether a closed pool has nothing left running or waiting; otherwise
    /// registers `waker` to be woken when it has, under `id` (assigned on the
    /// first registration).
    pub(crate) fn poll_drained(&self, id: &mut Option<u64>, waker: &Waker) -> bool {
        // Cloned before taking the lock: a panicking `clone` loses nothing.
        let waker = waker.clone();
        let replaced = {
            let mut locked = self.locked.lock();
            if self.is_drained(&locked) {
                return true;
            }
            let known = id.and_then(|id| locked.drain_wakers.iter_mut().find(|(k, _)| *k == id));
            match known {
                Some((_, old)) => std::mem::replace(old, waker),
                None => {
                    let next = locked.next_drain_id;
                    locked.next_drain_id += 1;
                    *id = Some(next);
                    locked.drain_wakers.push((next, waker));
                    return false;
                }
            }
        };
        // Dropped outside the lock, its panic caught (as in `refresh_waker`).
        crate::unwind::caught(move || drop(replaced));
        false
    }

    /// A `drained()` future went away: forget its waker.
    pub(crate) fn forget_drained(&self, id: u64) {
        let waker = {
            let mut locked = self.locked.lock();
            let at = locked.drain_wakers.iter().position(|(k, _)| *k == id);
            at.map(|at| locked.drain_wakers.swap_remove(at))
        };
        drop(waker);
    }

    /// The drain waiters to wake (after unlocking) if the pool just drained.
    /// (`None`, with no vector to build and drop, unless someone waits for
    /// the drain and it is complete.)
    #[inline]
    fn take_drained(&self, locked: &mut Locked) -> Option<Vec<Waker>> {
        if locked.drain_wakers.is_empty() {
            return None;
        }
        self.take_drained_slow(locked)
    }

    #[cold]
    fn take_drained_slow(&self, locked: &mut Locked) -> Option<Vec<Waker>> {
        if !self.is_drained(locked) {
            return None;
        }
        let wakers = std::mem::take(&mut locked.drain_wakers)
            .into_iter()
            .map(|(_, waker)| waker)
            .collect();
        Some(wakers)
    }

    // ---- observing -------------------------------------------------------

    /// Whether this is a group's pool.
    pub(crate) fn is_group(&self) -> bool {
        self.group.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Marks a pool just built, not yet shared, as a group's.
    pub(crate) fn mark_group(&self) {
        self.group.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// This core, shared (every core is: [`new`](Core::new)); `None` only
    /// while it is being dropped.
    pub(crate) fn arc(&self) -> Option<StdArc<Core>> {
        self.this.upgrade()
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.load().has(PAUSED)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.load().has(CLOSED)
    }

    pub(crate) fn limit(&self) -> usize {
        self.load().limit()
    }

    pub(crate) fn stats(&self) -> Stats {
        let w = Word(self.word.load(Ordering::Relaxed));
        let c = &self.counters;
        let panicked = c.panicked.load(Ordering::Acquire);
        Stats {
            size: w.limit(),
            running: w.running(),
            waiting: self.room.waiting(|| c.waiting.load(Ordering::Relaxed)),
            nested: c.nested.load(Ordering::Relaxed),
            submitted: c.submitted.load(Ordering::Relaxed),
            // `panicked` first, with Acquire: a panicked call is counted in
            // `completed` before `panicked` (Release), so a snapshot never
            // shows more panicked calls than completed ones.
            panicked,
            completed: c.completed.load(Ordering::Relaxed),
            cancelled: c.cancelled.load(Ordering::Relaxed),
            rejected: std::array::from_fn(|i| c.rejected[i].load(Ordering::Relaxed)),
            paused: w.has(PAUSED),
            closed: w.has(CLOSED),
        }
    }

    /// Counts a call that reached the pool (its first poll).
    #[inline]
    pub(crate) fn count_submitted(&self) {
        self.counters.submitted.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a call that was submitted and went away before it reached the
    /// queue or a slot (its first poll unwound): it was cancelled.
    #[cold]
    pub(crate) fn count_abandoned(&self) {
        self.counters.cancelled.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts how a call that held a slot ended (in [`stats`](Core::stats);
    /// its report to a metrics recorder is `EndReported`'s, made once the
    /// slot is released).
    #[inline]
    pub(crate) fn count(&self, outcome: Outcome) {
        let c = &self.counters;
        match outcome {
            Outcome::Completed => c.completed.fetch_add(1, Ordering::Relaxed),
            Outcome::Panicked => {
                // In `completed` first (see `stats`).
                c.completed.fetch_add(1, Ordering::Relaxed);
                c.panicked.fetch_add(1, Ordering::Release)
            }
            Outcome::Cancelled => c.cancelled.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// Reports a counted end to the metrics recorder (user code) when it drops:
/// declared before the call's slot is released, so that the report comes
/// after the release (never under the pool lock: a recorder that exports
/// through this very pool finds the slot free), on every path out of it.
#[cfg(any(feature = "tracing", feature = "metrics"))]
pub(crate) struct EndReported<'a>(pub(crate) &'a Core, pub(crate) Outcome);

#[cfg(any(feature = "tracing", feature = "metrics"))]
impl Drop for EndReported<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.obs.ended(self.1);
    }
}

/// A pool going away takes its limit out of the `pooled.limit` gauge (which
/// pools of one name share).
#[cfg(feature = "metrics")]
impl Drop for Core {
    fn drop(&mut self) {
        self.obs.retire();
    }
}

/// A duration in nanoseconds, saturating just below `u64::MAX` (which the
/// atomics above use for "none"): one that long (some 584 years) or longer
/// is kept as "never" ([`duration`] reads it back as `Duration::MAX`).
fn nanos(at: Duration) -> u64 {
    crate::time::saturating_nanos(at).min(NEVER)
}

/// [`nanos`] of `Duration::MAX` and of every duration too long to keep.
const NEVER: u64 = u64::MAX - 1;

/// The duration [`nanos`] kept as `n`: `Duration::MAX` ("never", which no
/// timer arms) for one it had to saturate, so that a setting of
/// `Duration::MAX` reads back as it was set.
fn duration(n: u64) -> Duration {
    match n {
        NEVER => Duration::MAX,
        n => Duration::from_nanos(n),
    }
}

/// What [`Core::return_lend`] leaves its caller to count.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[must_use]
pub(crate) enum LendReturned {
    /// A slot of the pool was freed (and counted so).
    Freed,
    /// The borrow ended with the slot still lent or back with its lender:
    /// one fewer nested call, for the caller to count
    /// ([`Core::nested_ended`]).
    Ended,
    /// The slot passed to a nested call that waited for it: one nested call
    /// started as the returning one ended, the count unchanged.
    PassedOn,
}
