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

/// The counters behind [`FleetStats`], and (feature `metrics`) the fleet's
/// series, registered once when the fleet starts (see
/// [`observe`](crate::observe)). Updated through the methods below, which
/// keep both in step.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    #[cfg(feature = "metrics")]
    meters: Option<Meters>,
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
    /// The counters of group `group`'s fleet, configured with `limit`.
    pub(crate) fn new(group: &str, limit: usize) -> Counters {
        #[cfg(not(feature = "metrics"))]
        let _ = (group, limit);
        Counters {
            #[cfg(feature = "metrics")]
            meters: Some(Meters::new(group, limit)),
            ..Counters::default()
        }
    }

    /// A lease granted.
    pub(crate) fn granted(&self) {
        self.acquired.fetch_add(1, Ordering::Relaxed);
        self.held.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(meters) = &self.meters {
            crate::unwind::caught(|| meters.held.increment(1.0));
        }
    }

    /// A lease released (or dropped after it was lost).
    pub(crate) fn released(&self) {
        self.held.fetch_sub(1, Ordering::Relaxed);
        self.released.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(meters) = &self.meters {
            crate::unwind::caught(|| meters.held.decrement(1.0));
        }
    }

    /// A call starts (`1.0`) or stops (`-1.0`) waiting for a lease.
    pub(crate) fn waiting(&self, by: f64) {
        if by > 0.0 {
            self.waiting.fetch_add(1, Ordering::Relaxed);
        } else {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        #[cfg(feature = "metrics")]
        if let Some(meters) = &self.meters {
            crate::unwind::caught(|| meters.waiting.increment(by));
        }
    }

    /// A renewal found a lease expired or gone.
    pub(crate) fn lost(&self) {
        self.lost.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(meters) = &self.meters {
            crate::unwind::caught(|| meters.lost.increment(1));
        }
    }

    /// An acquire removed `n` expired leases, and found `limit` in force.
    pub(crate) fn asked(&self, reclaimed: u64, limit: u64) {
        self.reclaimed.fetch_add(reclaimed, Ordering::Relaxed);
        self.limit_in_force.store(limit, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(meters) = &self.meters {
            crate::unwind::caught(|| meters.reclaimed.increment(reclaimed));
            crate::unwind::caught(|| meters.limit.set(limit as f64));
        }
    }

    /// A Redis command failed.
    pub(crate) fn redis_error(&self) {
        self.redis_errors.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(meters) = &self.meters {
            crate::unwind::caught(|| meters.redis_errors.increment(1));
        }
    }

    /// A call ran under the local limit alone.
    pub(crate) fn local_fallback(&self) {
        self.local_fallbacks.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(meters) = &self.meters {
            crate::unwind::caught(|| meters.local_fallbacks.increment(1));
        }
    }

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

/// The fleet's series (feature `metrics`), labelled with the group's name as
/// `pool`, as its pool's are.
#[cfg(feature = "metrics")]
#[derive(Debug)]
struct Meters {
    held: metrics::Gauge,
    waiting: metrics::Gauge,
    limit: metrics::Gauge,
    lost: metrics::Counter,
    reclaimed: metrics::Counter,
    redis_errors: metrics::Counter,
    local_fallbacks: metrics::Counter,
}

#[cfg(feature = "metrics")]
impl Meters {
    fn new(group: &str, limit: usize) -> Meters {
        use crate::observe::metric;
        use crate::unwind::caught;
        use metrics::Unit;
        // A recorder that panics (describing, registering or updating: its
        // code) loses that report only: the panic is caught, a no-op handle
        // stands in for one it did not return, and the `Once` is not
        // poisoned for the next fleet.
        static DESCRIBED: std::sync::Once = std::sync::Once::new();
        DESCRIBED.call_once(|| {
            caught(|| {
                metrics::describe_gauge!(
                    metric::FLEET_HELD,
                    Unit::Count,
                    "Fleet leases this process holds"
                )
            });
            caught(|| {
                metrics::describe_gauge!(
                    metric::FLEET_WAITING,
                    Unit::Count,
                    "Calls of this process waiting for a fleet lease (holding their local slot)"
                )
            });
            caught(|| {
                metrics::describe_gauge!(
                    metric::FLEET_LIMIT,
                    Unit::Count,
                    "The fleet limit in force in Redis (this process's own until it first asks)"
                )
            });
            caught(|| {
                metrics::describe_counter!(
                    metric::FLEET_LOST,
                    Unit::Count,
                    "Fleet leases of this process a renewal found expired or gone"
                )
            });
            caught(|| {
                metrics::describe_counter!(
                    metric::FLEET_RECLAIMED,
                    Unit::Count,
                    "Expired fleet leases (of any process) this process's acquires removed"
                )
            });
            caught(|| {
                metrics::describe_counter!(
                    metric::FLEET_REDIS_ERRORS,
                    Unit::Count,
                    "Redis commands of the fleet that failed (unreachable, timed out, refused)"
                )
            });
            caught(|| {
                metrics::describe_counter!(
                    metric::FLEET_LOCAL_FALLBACKS,
                    Unit::Count,
                    "Calls that ran under the local limit alone while Redis was unreachable"
                )
            });
        });
        let pool = group.to_owned();
        let gauge = |name: &'static str| {
            caught(|| metrics::gauge!(name, "pool" => pool.clone()))
                .unwrap_or_else(metrics::Gauge::noop)
        };
        let counter = |name: &'static str| {
            caught(|| metrics::counter!(name, "pool" => pool.clone()))
                .unwrap_or_else(metrics::Counter::noop)
        };
        let meters = Meters {
            held: gauge(metric::FLEET_HELD),
            waiting: gauge(metric::FLEET_WAITING),
            limit: gauge(metric::FLEET_LIMIT),
            lost: counter(metric::FLEET_LOST),
            reclaimed: counter(metric::FLEET_RECLAIMED),
            redis_errors: counter(metric::FLEET_REDIS_ERRORS),
            local_fallbacks: counter(metric::FLEET_LOCAL_FALLBACKS),
        };
        caught(|| meters.limit.set(limit as f64));
        meters
    }
}
