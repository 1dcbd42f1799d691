//! Feature `metrics`: a pool's metric handles, registered once when the pool
//! is built (documented in [`observe`](crate::observe)).

use crate::admission::core::Outcome;
use crate::observe::metric;
use crate::pool::rejected::Rejected;
use crate::scale::adaptive::WindowReport;
use crate::unwind::caught;
use ::metrics::{Counter, Gauge, Histogram, Unit};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

/// [`Meter::limit_share`] once the pool has taken its share back.
const RETIRED: isize = isize::MIN;

pub(crate) struct Meter {
    completed: Counter,
    panicked: Counter,
    cancelled: Counter,
    /// By [`Rejected::index`].
    rejected: [Counter; 4],
    limit: Gauge,
    running: Gauge,
    waiting: Gauge,
    wait_time: Histogram,
    run_time: Histogram,
    /// Adaptive pools only (no-ops for the others).
    floor: Gauge,
    latency: Gauge,
    /// What this pool has added to the `limit` gauge (the sum of the limit
    /// changes it reported, which may arrive out of order), or [`RETIRED`]
    /// once [`retire`](Meter::retire) took it back: from then on the pool
    /// moves no gauge of its own label's.
    limit_share: AtomicIsize,
}

impl Meter {
    /// Registers the handles of a pool labelled `pool` with the recorder in
    /// force (and describes the metrics to it), and counts its `limit`.
    ///
    /// A recorder that panics while describing or registering (its code,
    /// run while the pool is built) loses what it was asked for only: the
    /// panic is caught (the panic hook has shown it) and a no-op handle
    /// stands in for the one it did not return.
    pub(crate) fn new(pool: &str, limit: usize, adaptive: bool) -> Self {
        describe();
        let pool = pool.to_owned();
        let calls = |outcome: &'static str| {
            caught(
                || ::metrics::counter!(metric::CALLS, "pool" => pool.clone(), "outcome" => outcome),
            )
            .unwrap_or_else(Counter::noop)
        };
        let rejected = |reason: Rejected| {
            caught(|| {
                ::metrics::counter!(
                    metric::CALLS,
                    "pool" => pool.clone(),
                    "outcome" => "rejected",
                    "reason" => reason.as_str()
                )
            })
            .unwrap_or_else(Counter::noop)
        };
        let gauge = |name: &'static str| {
            caught(|| ::metrics::gauge!(name, "pool" => pool.clone())).unwrap_or_else(Gauge::noop)
        };
        let histogram = |name: &'static str| {
            caught(|| ::metrics::histogram!(name, "pool" => pool.clone()))
                .unwrap_or_else(Histogram::noop)
        };
        let adaptive_gauge = |name: &'static str| match adaptive {
            true => gauge(name),
            false => Gauge::noop(),
        };
        let meter = Meter {
            completed: calls("completed"),
            panicked: calls("panicked"),
            cancelled: calls("cancelled"),
            rejected: [
                rejected(Rejected::Paused),
                rejected(Rejected::Closed),
                rejected(Rejected::Full),
                rejected(Rejected::TimedOut),
            ],
            limit: gauge(metric::LIMIT),
            running: gauge(metric::RUNNING),
            waiting: gauge(metric::WAITING),
            wait_time: histogram(metric::WAIT_TIME),
            run_time: histogram(metric::RUN_TIME),
            floor: adaptive_gauge(metric::ADAPTIVE_FLOOR),
            latency: adaptive_gauge(metric::ADAPTIVE_LATENCY),
            limit_share: AtomicIsize::new(0),
        };
        meter.limit_changed(0, limit);
        meter
    }

    #[inline]
    pub(crate) fn ended(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Completed => &self.completed,
            Outcome::Panicked => &self.panicked,
            Outcome::Cancelled => &self.cancelled,
        };
        caught(|| counter.increment(1));
    }

    #[inline]
    pub(crate) fn rejected(&self, reason: Rejected) {
        caught(|| self.rejected[reason.index()].increment(1));
    }

    /// The limit moved `from` → `to`: the gauge moves by the difference,
    /// counted in this pool's share, unless the pool has retired.
    #[inline]
    pub(crate) fn limit_changed(&self, from: usize, to: usize) {
        // Limits are at most `MAX_SLOTS` (2^30 - 1): no overflow.
        let by = to as isize - from as isize;
        let counted =
            self.limit_share
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |share| {
                    (share != RETIRED).then(|| share + by)
                });
        if counted.is_ok() {
            caught(|| self.limit.increment(by as f64));
        }
    }

    /// Takes this pool's share back out of the `limit` gauge, once: a change
    /// counted in the share before this is taken back with it, and one
    /// reported after it moves nothing, so the gauge ends where it would be
    /// without the pool, whatever the order.
    pub(crate) fn retire(&self) {
        let share = self.limit_share.swap(RETIRED, Ordering::Relaxed);
        if share != RETIRED {
            caught(|| self.limit.decrement(share as f64));
        }
    }

    #[inline]
    pub(crate) fn running(&self, by: f64) {
        caught(|| self.running.increment(by));
    }

    #[inline]
    pub(crate) fn waiting(&self, by: f64) {
        caught(|| self.waiting.increment(by));
    }

    pub(crate) fn wait_time(&self, waited: Duration) {
        caught(|| self.wait_time.record(waited.as_secs_f64()));
    }

    pub(crate) fn run_time(&self, ran: Duration) {
        caught(|| self.run_time.record(ran.as_secs_f64()));
    }

    pub(crate) fn window(&self, report: &WindowReport) {
        if self.limit_share.load(Ordering::Relaxed) == RETIRED {
            // Set, not moved: a retired pool must not overwrite the value
            // of the pool that now reports under its name.
            return;
        }
        if let Some(floor) = report.floor {
            caught(|| self.floor.set(floor.as_secs_f64()));
        }
        if let Some(latency) = report.latency {
            caught(|| self.latency.set(latency.as_secs_f64()));
        }
    }
}

/// Tells the recorder in force what each metric is (each description on its
/// own: a recorder that panics on one loses that one only).
fn describe() {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram};
    caught(|| {
        describe_counter!(
            metric::CALLS,
            Unit::Count,
            "Calls that reached the pool, by outcome: completed, panicked, cancelled, \
             or rejected (with a reason: paused, closed, full, timed_out)"
        )
    });
    caught(|| {
        describe_gauge!(
            metric::LIMIT,
            Unit::Count,
            "The pool's limit on running calls (its size)"
        )
    });
    caught(|| describe_gauge!(metric::RUNNING, Unit::Count, "Slots held by running calls"));
    caught(|| describe_gauge!(metric::WAITING, Unit::Count, "Calls waiting for a slot"));
    caught(|| {
        describe_histogram!(
            metric::WAIT_TIME,
            Unit::Seconds,
            "Time from a call's submission to its admission (while call timing is on)"
        )
    });
    caught(|| {
        describe_histogram!(
            metric::RUN_TIME,
            Unit::Seconds,
            "Time a call held its slot (while call timing is on)"
        )
    });
    caught(|| {
        describe_gauge!(
            metric::ADAPTIVE_FLOOR,
            Unit::Seconds,
            "The adaptive policy's estimate of the server's unloaded latency"
        )
    });
    caught(|| {
        describe_gauge!(
            metric::ADAPTIVE_LATENCY,
            Unit::Seconds,
            "The latency of the adaptive policy's latest window (geometric mean)"
        )
    });
}
