//! [`Fleet`]: the public handle on a group's fleet.

use super::client::FleetInner;
use super::lease::Lease;
use super::settings::FleetSettings;
use super::stats::FleetStats;
use super::waiter::{self, Acquire};
use crate::pool::error::BuildError;
use crate::pool::rejected::Rejected;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A fleet limit on its own: leases in Redis shared by every process that
/// names the same group and Redis. A fleet group
/// ([`Group::fleet`](crate::Group::fleet)) uses one for its calls; the same
/// handle gives leases to code that manages its own slots (a permit, a
/// connection).
///
/// Cheap to clone (a shared handle). All its Redis traffic runs on a
/// background thread of its own, so it works from any runtime or none.
///
/// # Examples
///
/// ```no_run
/// use pool_runtime::fleet::{Fleet, FleetSettings};
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let settings = pool_runtime::GroupSettings::DEFAULT
///     .fleet_limit(20)
///     .fleet_url("redis://127.0.0.1:6379")
///     .fleet;
/// let fleet = Fleet::connect("billing", &settings)?;
/// let lease = fleet.acquire().await?;
/// // ... call the billing service, passing lease.token() along ...
/// drop(lease); // released
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Fleet {
    inner: Arc<FleetInner>,
}

impl Fleet {
    /// The fleet of group `name` with `settings` (which must set a limit and
    /// a URL). Connects lazily: an unreachable Redis is met, and handled by
    /// the settings' policy, at the first acquire.
    ///
    /// # Errors
    ///
    /// Settings that fail their check (see
    /// [`GroupSettings::check`](crate::GroupSettings::check)), or no limit.
    pub fn connect(name: &str, settings: &FleetSettings) -> Result<Fleet, BuildError> {
        settings.check()?;
        if settings.limit.is_none() {
            return Err(BuildError::OutOfRange {
                setting: "fleet_limit",
                value: "none".to_owned(),
                expected: "a fleet limit of 1 or more".to_owned(),
            });
        }
        Ok(Fleet {
            inner: FleetInner::start(name, settings),
        })
    }

    /// Waits for a lease: in the fleet's queue, in arrival order.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the queue; a lease granted just before is
    /// released.
    ///
    /// # Errors
    ///
    /// [`Rejected::FleetUnavailable`] if Redis cannot be reached and the
    /// policy is [`OnUnreachable::Reject`](super::OnUnreachable::Reject).
    pub fn acquire(&self) -> AcquireLease {
        AcquireLease {
            inner: Acquire::start(self.inner.clone(), false),
        }
    }

    /// [`acquire`](Fleet::acquire) for a thread that does not poll futures:
    /// parks it until the lease is granted.
    ///
    /// # Errors
    ///
    /// As [`acquire`](Fleet::acquire).
    pub fn acquire_blocking(&self) -> Result<Lease, Rejected> {
        waiter::acquire_blocking(self.inner.clone(), false)
    }

    /// This process's view of the fleet.
    pub fn stats(&self) -> FleetStats {
        self.inner.stats()
    }

    /// Waits until every release this process has begun so far has been
    /// answered by Redis (or given up after a lease length of retries).
    ///
    /// A lease let go by a drop (a dropped permit or call, a `Lease` dropped
    /// without awaiting [`Lease::release`]) is released in the background.
    /// A process that exits right after its last call can exit before that
    /// release is sent: its lease then stays in Redis until it expires (the
    /// next acquire of any process removes it), a lease length of capacity
    /// lost to the fleet. Await `flush` (with a timeout of your choosing)
    /// on the way out.
    ///
    /// # Cancel safety
    ///
    /// Dropping it stops the waiting only; the releases go on.
    pub async fn flush(&self) {
        let inner = &self.inner;
        loop {
            let notified = inner.released_all.notified();
            if inner.releasing.load(std::sync::atomic::Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    pub(crate) fn inner(&self) -> &Arc<FleetInner> {
        &self.inner
    }
}

/// The future of [`Fleet::acquire`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct AcquireLease {
    inner: Acquire,
}

impl Future for AcquireLease {
    type Output = Result<Lease, Rejected>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner).poll(cx)
    }
}
