//! Why a call was turned away. Rejections are values, never panics or silent drops.

use std::fmt;

/// Why a pool did not run a call.
///
/// A rejected call never ran: its future or closure was dropped unpolled (or,
/// for a call that was waiting, dropped while waiting), except a call whose
/// fleet lease was lost ([`LeaseLost`](Rejected::LeaseLost)), ended at an
/// await point of its running work. The pool counts its own rejections
/// (paused, closed, full, timed out) by reason,
/// [`Stats::rejected_for`](crate::Stats::rejected_for); the fleet's
/// reasons are counted by the fleet (see that method).
///
/// # Retrying in a loop
///
/// An async call turned away (feature `tokio`, inside a tokio task) is
/// charged a unit of the task's cooperative budget, as tokio's own resources
/// charge each operation: with the budget spent, the answer — decided and
/// counted when it was decided — is given at the call's next poll, once the
/// task has yielded to the runtime. Admissions are charged nothing. So a
/// loop that retries a paused, closed or full pool without ever waiting
/// (`while let Err(Rejected::Paused) = pool.submit(work()).await {}`)
/// cannot keep the task that resumes the pool or frees a slot from running,
/// even on a current-thread runtime; it still spins, so give it a backoff.
/// Every async form is answered this way: `submit` and its variants,
/// permits' `acquire*`, `submit_blocking*`, a group's calls (also those
/// turned away before the application-wide ceiling), the stream adapter and
/// the tower layer's refusals (`reject()`). Sync calls, the `try_` forms and
/// `Pool::spawn` answer at once, in their caller's thread. (As with tokio's
/// own resources, a call awaited by another executor's `block_on` inside a
/// tokio task — which blocks that task's worker — would wait for a wake-up
/// the runtime defers until the task yields: do not block a tokio task on a
/// call.)
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
    /// The group's fleet limit is kept in Redis, which could not be reached,
    /// and the group's `fleet_unreachable` policy is `reject` (see
    /// [`fleet`](crate::fleet)). The call held its local slot briefly but
    /// never ran.
    FleetUnavailable,
    /// The call's fleet lease was lost while it ran (its process was stopped
    /// or cut off from Redis past the lease, or Redis lost its data): the
    /// fleet may have given the slot to another call, so the call was ended
    /// at its next await point. Unlike the other reasons, the work had
    /// started. See [`fleet`](crate::fleet).
    LeaseLost,
}

impl Rejected {
    /// Every reason (a slice, not an array: the enum is `#[non_exhaustive]`,
    /// so reasons may be added).
    pub const ALL: &'static [Rejected] = &[
        Rejected::Paused,
        Rejected::Closed,
        Rejected::Full,
        Rejected::TimedOut,
        Rejected::FleetUnavailable,
        Rejected::LeaseLost,
    ];

    pub(crate) fn index(self) -> usize {
        match self {
            Rejected::Paused => 0,
            Rejected::Closed => 1,
            Rejected::Full => 2,
            Rejected::TimedOut => 3,
            // Never counted by a pool (a pool's counters have four places):
            // fleet rejections happen after admission and are counted in
            // `FleetStats`; `Stats::rejected_for` reports 0 for them.
            Rejected::FleetUnavailable => 4,
            Rejected::LeaseLost => 5,
        }
    }

    /// A short lower-case name: `paused`, `closed`, `full`, `timed_out`,
    /// `fleet_unavailable`, `lease_lost`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejected::Paused => "paused",
            Rejected::Closed => "closed",
            Rejected::Full => "full",
            Rejected::TimedOut => "timed_out",
            Rejected::FleetUnavailable => "fleet_unavailable",
            Rejected::LeaseLost => "lease_lost",
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
            Rejected::FleetUnavailable => "the fleet limit's Redis is unreachable",
            Rejected::LeaseLost => "the call's fleet lease was lost while it ran",
        })
    }
}

impl std::error::Error for Rejected {}

impl From<Rejected> for std::io::Error {
    fn from(rejected: Rejected) -> Self {
        let kind = match rejected {
            Rejected::TimedOut => std::io::ErrorKind::TimedOut,
            Rejected::Full => std::io::ErrorKind::WouldBlock,
            Rejected::FleetUnavailable => std::io::ErrorKind::NotConnected,
            Rejected::Paused | Rejected::Closed | Rejected::LeaseLost => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, rejected)
    }
}
