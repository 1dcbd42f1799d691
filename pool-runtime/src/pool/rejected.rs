//! Why a call was turned away. Rejections are values, never panics or silent drops.

use std::fmt;

/// Why a pool did not run a call.
///
/// A rejected call never ran: its future or closure was dropped unpolled (or,
/// for a call that was waiting, dropped while waiting). Every rejection is
/// counted by reason: [`Stats::rejected_for`](crate::Stats::rejected_for).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rejected {
    /// The pool is paused: it admits no new calls until `resume()`.
    Paused,
    /// The pool is closed (or closing): it admits no new calls, and an aborting
    /// close turned away the calls that were still waiting.
    Closed,
    /// The bound on waiting calls was reached.
    Full,
    /// The call waited longer than the pool's admission timeout.
    TimedOut,
}

impl Rejected {
    /// Every reason (a slice, not an array: the enum is `#[non_exhaustive]`,
    /// so reasons may be added).
    pub const ALL: &'static [Rejected] = &[
        Rejected::Paused,
        Rejected::Closed,
        Rejected::Full,
        Rejected::TimedOut,
    ];

    pub(crate) fn index(self) -> usize {
        match self {
            Rejected::Paused => 0,
            Rejected::Closed => 1,
            Rejected::Full => 2,
            Rejected::TimedOut => 3,
        }
    }

    /// A short lower-case name: `paused`, `closed`, `full`, `timed_out`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejected::Paused => "paused",
            Rejected::Closed => "closed",
            Rejected::Full => "full",
            Rejected::TimedOut => "timed_out",
        }
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejected::Paused => "task pool is paused",
            Rejected::Closed => "task pool is closed",
            Rejected::Full => "task pool queue is full",
            Rejected::TimedOut => "timed out waiting for a task pool slot",
        })
    }
}

impl std::error::Error for Rejected {}

impl From<Rejected> for std::io::Error {
    fn from(rejected: Rejected) -> Self {
        let kind = match rejected {
            Rejected::TimedOut => std::io::ErrorKind::TimedOut,
            Rejected::Full => std::io::ErrorKind::WouldBlock,
            Rejected::Paused | Rejected::Closed => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, rejected)
    }
}
