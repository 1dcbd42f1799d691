//! A cheap snapshot of a pool's state and counters.

use crate::pool::rejected::Rejected;

/// A snapshot of a pool: a handful of relaxed atomic loads, cheap enough to take
/// on every request.
///
/// The counters are public fields (the struct is `#[non_exhaustive]`, so new
/// ones can be added), except the rejections: their breakdown follows
/// [`Rejected`], which may gain reasons, so they are read through
/// [`rejected_for`](Stats::rejected_for) and
/// [`rejected_total`](Stats::rejected_total).
///
/// Taken while calls come and go, the fields are each exact but not mutually
/// consistent; taken while nothing enters or leaves the pool they add up:
/// `submitted() == completed + rejected_total() + cancelled + running + nested + waiting`.
/// Every term is counted on its own (none is derived from the others), so the
/// identity is a real check of the accounting; [`Stats::in_flight`] is the
/// right-hand side's last three terms.
///
/// # Examples
///
/// ```
/// use pool_runtime::Pool;
///
/// # futures::executor::block_on(async {
/// let pool = Pool::fixed(1);
/// pool.submit(async {}).await?;
/// let held = pool.acquire().await?;
/// let mut waiting = Box::pin(pool.acquire());
/// assert!(futures::poll!(&mut waiting).is_pending());
///
/// let stats = pool.stats();
/// assert_eq!((stats.size, stats.running, stats.waiting, stats.completed), (1, 1, 1, 1));
/// assert_eq!(
///     stats.submitted(),
///     stats.completed + stats.rejected_total() + stats.cancelled + stats.in_flight()
/// );
/// drop(held);
/// # Ok::<(), pool_runtime::Rejected>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// The current slot count (the limit on running calls).
    pub size: usize,
    /// Calls holding a slot now. May exceed `size` right after a scale-down:
    /// running work is never interrupted, the pool just admits nothing until
    /// `running < size`.
    pub running: usize,
    /// Calls running under another call's slot (nested calls, see the
    /// reentrancy rule on [`Pool`](crate::Pool)): they share a slot counted
    /// in `running`, so they are not counted there.
    pub nested: usize,
    /// Calls waiting for a slot (including, for calls that never reject, those
    /// waiting for `resume`, and sync callers waiting outside the queue with
    /// [sync barging](crate::GroupSettings::sync_barging); one that a
    /// pause, a close or the end of its barging bound sends from there into
    /// the queue is counted throughout its move). In a group's stats, its calls waiting for a
    /// slot of the application-wide ceiling are not counted (nor submitted):
    /// they are not yet the group's, and the ceiling's own stats count them
    /// ([`ceiling::stats`](crate::ceiling::stats)).
    pub waiting: usize,
    /// Calls that ran to the end (returned or panicked), nested calls included.
    pub completed: u64,
    /// Of `completed`, those whose work panicked.
    pub panicked: u64,
    /// Calls dropped by their caller while waiting or running.
    pub cancelled: u64,
    /// Calls turned away, by reason, indexed by `Rejected::index`.
    pub(crate) rejected: [u64; 4],
    /// The pool admits no new calls (`pause()`).
    pub paused: bool,
    /// The pool was closed.
    pub closed: bool,
    /// Calls that reached the pool, counted when they first ask for a slot.
    pub(crate) submitted: u64,
}

impl Stats {
    /// The calls turned away for `reason` by this pool.
    ///
    /// The fleet's reasons ([`Rejected::FleetUnavailable`],
    /// [`Rejected::LeaseLost`]) are always 0 here: the fleet turns a call
    /// away after the pool admitted it, and the pool counts that call by how
    /// its slot ended — `completed` for an async call or a permit,
    /// `cancelled` for a blocking call turned away before its closure ran.
    /// The fleet counts them itself (`FleetStats::rejected_unavailable`,
    /// `FleetStats::lost`, feature `redis`).
    ///
    /// Likewise a blocking call whose job the [`BlockingExecutor`](crate::BlockingExecutor)
    /// dropped unrun (an executor shutting down): its caller gets
    /// [`Rejected::Closed`], but the call had been admitted and held a slot,
    /// so it is counted in `cancelled`, not here.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Pool, Rejected};
    ///
    /// let pool = Pool::fixed(1);
    /// pool.pause();
    /// assert_eq!(pool.run(|| ()), Err(Rejected::Paused));
    /// pool.resume();
    /// pool.close();
    /// assert_eq!(pool.run(|| ()), Err(Rejected::Closed));
    ///
    /// let stats = pool.stats();
    /// assert_eq!(stats.rejected_for(Rejected::Paused), 1);
    /// assert_eq!(stats.rejected_for(Rejected::Closed), 1);
    /// assert_eq!(stats.rejected_for(Rejected::FleetUnavailable), 0, "the fleet counts its own");
    /// ```
    pub fn rejected_for(&self, reason: Rejected) -> u64 {
        // Fleet reasons are counted in `FleetStats`, not here.
        self.rejected.get(reason.index()).copied().unwrap_or(0)
    }

    /// All calls turned away.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Pool, Rejected};
    ///
    /// let pool = Pool::fixed(1);
    /// pool.pause();
    /// for _ in 0..3 {
    ///     assert_eq!(pool.run(|| ()), Err(Rejected::Paused));
    /// }
    /// assert_eq!(pool.stats().rejected_total(), 3);
    /// ```
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    /// Every call the pool has seen (finished, turned away, cancelled, or
    /// still in the pool), counted by its own counter when the call first
    /// asks for a slot.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::Pool;
    ///
    /// let pool = Pool::fixed(1);
    /// assert_eq!(pool.run(|| ()), Ok(()));
    /// pool.close();
    /// assert!(pool.run(|| ()).is_err());
    /// assert_eq!(pool.stats().submitted(), 2, "a rejected call is counted too");
    /// ```
    pub fn submitted(&self) -> u64 {
        self.submitted
    }

    /// Calls in the pool now: holding a slot, running under a lent one, or
    /// waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::Pool;
    ///
    /// # futures::executor::block_on(async {
    /// let pool = Pool::fixed(1);
    /// let held = pool.acquire().await?;
    /// let mut waiting = Box::pin(pool.acquire());
    /// assert!(futures::poll!(&mut waiting).is_pending());
    /// assert_eq!(pool.stats().in_flight(), 2, "one running, one waiting");
    /// drop(held);
    /// drop(waiting.await?);
    /// assert_eq!(pool.stats().in_flight(), 0);
    /// # Ok::<(), pool_runtime::Rejected>(())
    /// # }).unwrap();
    /// ```
    pub fn in_flight(&self) -> u64 {
        (self.running + self.nested + self.waiting) as u64
    }
}
