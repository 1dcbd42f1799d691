//! A cheap snapshot of a pool's state and counters.

use crate::rejected::Rejected;

/// A snapshot of a pool: a handful of relaxed atomic loads, cheap enough to take
/// on every request.
///
/// Taken while calls come and go, the fields are each exact but not mutually
/// consistent; taken on a quiet pool they add up:
/// `submitted() == completed + rejected_total() + cancelled` once
/// `running == 0 && waiting == 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// The current slot count (the limit on running calls).
    pub size: usize,
    /// Calls holding a slot now. May exceed `size` right after a scale-down:
    /// running work is never interrupted, the pool just admits nothing until
    /// `running < size`.
    pub running: usize,
    /// Calls waiting for a slot (including, for calls that never reject, those
    /// waiting for `resume`).
    pub waiting: usize,
    /// Calls that ran to the end (returned or panicked), nested calls included.
    pub completed: u64,
    /// Of `completed`, those whose work panicked.
    pub panicked: u64,
    /// Calls dropped by their caller while waiting or running.
    pub cancelled: u64,
    /// Calls turned away, by reason, indexed as [`Rejected::ALL`].
    pub rejected: [u64; 4],
    /// The pool admits no new calls (`pause()`).
    pub paused: bool,
    /// The pool was closed.
    pub closed: bool,
}

impl Stats {
    /// The calls turned away for `reason`.
    pub fn rejected_for(&self, reason: Rejected) -> u64 {
        self.rejected[reason.index()]
    }

    /// All calls turned away.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    /// Every call the pool has seen: finished, turned away, cancelled, or still
    /// in the pool.
    pub fn submitted(&self) -> u64 {
        self.completed
            + self.rejected_total()
            + self.cancelled
            + self.running as u64
            + self.waiting as u64
    }
}
