//! The packed admission word: running count, limit and flags in one `AtomicU64`,
//! so the uncontended acquire and release are a single compare-and-swap each.
//!
//! Layout: bits 0..30 running, bits 30..60 limit, then the flags (`QUEUED`,
//! `PAUSED`, `CLOSED`, `ATTENDED`).
//!
//! Invariants (with the queue lock released):
//! * `QUEUED` is set exactly when the wait queue is non-empty, and then
//!   `running >= limit`: a slot that frees while calls wait is handed to one of
//!   them under the lock, so no newcomer can take it (no barging).
//! * `QUEUED`, `PAUSED`, `CLOSED` and the limit change only under the lock; the
//!   running count changes without it only while `QUEUED` and `CLOSED` are clear.

pub use pool_settings::limits::MAX_SLOTS;

const FIELD_MASK: u64 = MAX_SLOTS as u64;
const LIMIT_SHIFT: u32 = 30;
pub(crate) const QUEUED: u64 = 1 << 60;
pub(crate) const PAUSED: u64 = 1 << 61;
pub(crate) const CLOSED: u64 = 1 << 62;
/// The pool's lock-free paths attend to more than the word: it is
/// autoscaled (an acquire or release consults the autoscaler when a sample
/// is due, and an adaptive pool's release takes the lock to feed it), or its
/// sync callers may barge (a release wakes a caller waiting in the room).
/// Set when an autoscaled pool is built and never cleared; set and cleared
/// under the lock as a fixed pool's sync barging is turned on and off. The
/// fast paths of a pool with neither test it with the other flags, in the
/// word they loaded, for nothing more.
pub(crate) const ATTENDED: u64 = 1 << 63;

/// One running call, as an increment of the word.
pub(crate) const ONE_RUNNING: u64 = 1;

/// A decoded view of the admission word.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    #[inline]
    pub(crate) fn new(limit: usize) -> Self {
        Word((limit as u64 & FIELD_MASK) << LIMIT_SHIFT)
    }
    #[inline]
    pub(crate) fn running(self) -> usize {
        (self.0 & FIELD_MASK) as usize
    }
    #[inline]
    pub(crate) fn limit(self) -> usize {
        ((self.0 >> LIMIT_SHIFT) & FIELD_MASK) as usize
    }
    #[inline]
    pub(crate) fn has(self, flag: u64) -> bool {
        self.0 & flag != 0
    }
    #[inline]
    pub(crate) fn with_limit(self, limit: usize) -> Self {
        Word((self.0 & !(FIELD_MASK << LIMIT_SHIFT)) | ((limit as u64 & FIELD_MASK) << LIMIT_SHIFT))
    }
    #[inline]
    pub(crate) fn with_flag(self, flag: u64, on: bool) -> Self {
        if on {
            Word(self.0 | flag)
        } else {
            Word(self.0 & !flag)
        }
    }
    /// A slot is free and no call is waiting for one.
    #[inline]
    pub(crate) fn can_admit_directly(self) -> bool {
        !self.has(QUEUED) && self.running() < self.limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_without_disturbing_each_other() {
        let w = Word::new(MAX_SLOTS).with_flag(PAUSED, true);
        assert_eq!(w.limit(), MAX_SLOTS);
        assert_eq!(w.running(), 0);
        let w = Word(w.0 + ONE_RUNNING * 5).with_limit(7);
        assert_eq!((w.running(), w.limit()), (5, 7));
        assert!(w.has(PAUSED) && !w.has(QUEUED) && !w.has(CLOSED));
        assert!(w.with_flag(QUEUED, true).has(QUEUED));
        assert!(!w.with_flag(PAUSED, false).has(PAUSED));
    }

    #[test]
    fn direct_admission_needs_a_free_slot_and_an_empty_queue() {
        let w = Word::new(2);
        assert!(w.can_admit_directly());
        assert!(!Word(w.0 + 2).can_admit_directly());
        assert!(!w.with_flag(QUEUED, true).can_admit_directly());
    }
}
