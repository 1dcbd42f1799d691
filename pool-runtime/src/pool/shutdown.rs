//! What [`Pool::shutdown`](crate::Pool::shutdown) reports when its deadline
//! passes before the pool drained.

use std::fmt;

/// The deadline of [`Pool::shutdown`](crate::Pool::shutdown) passed with calls
/// still in the pool: the calls still waiting were turned away
/// ([`Rejected::Closed`](crate::Rejected::Closed)); the ones still running
/// were left to finish (a running call is never interrupted; await
/// [`Pool::drained`](crate::Pool::drained) to wait for them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownTimedOut {
    /// Calls holding a slot at the deadline.
    pub running: usize,
    /// Calls running under another call's slot at the deadline.
    pub nested: usize,
    /// Calls that were still waiting at the deadline and were turned away.
    pub turned_away: usize,
    /// Calls still waiting after the deadline: a group's never-rejecting
    /// calls ([`Group::submit_wait`](crate::Group::submit_wait), the
    /// `#[pooled]` functions that cannot return an error), which cannot be
    /// turned away; they run, in order, once slots free.
    pub waiting: usize,
}

impl fmt::Display for ShutdownTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the pool did not drain before the shutdown deadline: {} call(s) still running \
             ({} nested), {} waiting call(s) turned away",
            self.running + self.nested,
            self.nested,
            self.turned_away
        )?;
        if self.waiting > 0 {
            write!(
                f,
                ", {} call(s) still waiting (never-rejecting: they run once slots free)",
                self.waiting
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ShutdownTimedOut {}
