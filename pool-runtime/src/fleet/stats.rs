//! A fleet's counters, and their snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of one process's view of a group's fleet: what this process
/// holds and waits for, and what happened to its leases. Relaxed loads, each
/// exact, not mutually consistent while calls come and go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetStats {
    /// The fleet limit this process was configured with.
    pub limit: usize,
    /// The limit in force in Redis when this process last asked (0 before
    /// it asked); differs from `limit` when another process set it first.
    pub limit_in_force: u64,
    /// Leases this process holds now.
    pub held: u64,
    /// Calls of this process waiting for a lease now (they hold their local
    /// slot meanwhile).
    pub waiting: u64,
    /// Leases granted to this process.
    pub acquired: u64,
    /// Leases this process released (with its calls' end).
    pub released: u64,
    /// Leases this process lost: a renewal found them expired or gone
    /// (the process was stopped or cut off past its lease, or Redis lost its
    /// data). Never renewed back: the holder is told (see the module docs).
    pub lost: u64,
    /// Expired leases (of any process) that this process's acquires removed
    /// from Redis: holders that died or stopped renewing.
    pub reclaimed: u64,
    /// Redis commands of this process that failed (unreachable, timed out,
    /// refused).
    pub redis_errors: u64,
    /// Calls that ran under the local limit alone because Redis was
    /// unreachable (policy [`OnUnreachable::Local`](super::OnUnreachable::Local)).
    pub local_fallbacks: u64,
    /// Calls turned away because Redis was unreachable (policy
    /// [`OnUnreachable::Reject`](super::OnUnreachable::Reject)).
    pub rejected_unavailable: u64,
    /// Times Redis held a limit other than this process's.
    pub limit_mismatches: u64,
    /// `try_acquire` calls turned away with
    /// [`Rejected::Full`](crate::Rejected::Full) because no lease was free
    /// at once (or calls of other processes were waiting for one).
    pub busy: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) limit_in_force: AtomicU64,
    pub(crate) held: AtomicU64,
    pub(crate) waiting: AtomicU64,
    pub(crate) acquired: AtomicU64,
    pub(crate) released: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) reclaimed: AtomicU64,
    pub(crate) redis_errors: AtomicU64,
    pub(crate) local_fallbacks: AtomicU64,
    pub(crate) rejected_unavailable: AtomicU64,
    pub(crate) limit_mismatches: AtomicU64,
    pub(crate) busy: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self, limit: usize) -> FleetStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        FleetStats {
            limit,
            limit_in_force: load(&self.limit_in_force),
            held: load(&self.held),
            waiting: load(&self.waiting),
            acquired: load(&self.acquired),
            released: load(&self.released),
            lost: load(&self.lost),
            reclaimed: load(&self.reclaimed),
            redis_errors: load(&self.redis_errors),
            local_fallbacks: load(&self.local_fallbacks),
            rejected_unavailable: load(&self.rejected_unavailable),
            limit_mismatches: load(&self.limit_mismatches),
            busy: load(&self.busy),
        }
    }
}
