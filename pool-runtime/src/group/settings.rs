//! A pool's settings: the one list that the builder, a group's declaration
//! (and so `#[pooled]`), configuration layers and a reload all fill in and
//! check the same way.

use crate::admission::state::MAX_SLOTS;
use crate::fleet::{FleetSettings, OnUnreachable};
use crate::pool::error::BuildError;
use crate::pool::order::{ExecutorKind, Kind, Order};
use crate::scale::queue_depth::AutoscaleTiming;
use crate::scale::ScalePolicy;
use pool_settings::limits::{autoscale_bounds, DEFAULT_SIZE};
use std::time::Duration;

/// The settings of a pool: what a [`PoolBuilder`](crate::PoolBuilder) is
/// given, what a group declares (a [`GroupSpec`](crate::GroupSpec), written
/// by `#[pooled]`), and what a group runs with once configuration is laid
/// over its declaration ([`Group::settings`](crate::Group::settings)).
///
/// Every surface goes through this one type and its one check, so the same
/// values are refused everywhere with the same message (see [`BuildError`]).
/// A setting left unset takes its default when the pool is built; the
/// defaults are stated at each setter.
///
/// Built from [`GroupSettings::DEFAULT`] with `const` setters, so a
/// declaration can live in a `static`:
///
/// ```
/// use pool_runtime::{GroupSettings, Kind, Order};
///
/// const SEARCH: GroupSettings = GroupSettings::DEFAULT
///     .kind(Kind::Autoscale)
///     .order(Order::Lifo)
///     .max(12);
/// assert_eq!((SEARCH.min, SEARCH.max), (None, Some(12)));
/// assert_eq!(SEARCH.check()?, (3, (3, 12)), "starts at min = 3");
/// # Ok::<(), pool_runtime::BuildError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct GroupSettings {
    /// Fixed or autoscaled.
    pub kind: Kind,
    /// Admission order.
    pub order: Order,
    /// The slot count of a fixed pool, or where an autoscaled pool starts;
    /// `None`: the default (see [`size`](GroupSettings::size)).
    pub size: Option<usize>,
    /// Lower bound of an autoscaled pool; `None`: the default.
    pub min: Option<usize>,
    /// Upper bound of an autoscaled pool; `None`: the default.
    pub max: Option<usize>,
    /// Bound on waiting calls; `None`: unbounded.
    pub max_waiting: Option<usize>,
    /// Admission timeout; `None`: calls wait as long as it takes.
    pub admission_timeout: Option<Duration>,
    /// How long a sync caller may wait outside the queue for a slot that
    /// frees, before it takes its place in the order; `None`: it queues at
    /// once (strict order, the default). See
    /// [`sync_barging`](GroupSettings::sync_barging).
    pub sync_barging: Option<Duration>,
    /// Autoscale interval and window (queue-depth rule).
    pub autoscale: AutoscaleTiming,
    /// The rule an autoscaled pool follows.
    pub policy: ScalePolicy,
    /// Where blocking closures run.
    pub executor: ExecutorKind,
    /// The limit shared by every process (feature `redis`; see
    /// [`fleet`](crate::fleet)).
    pub fleet: FleetSettings,
}

impl Default for GroupSettings {
    fn default() -> Self {
        GroupSettings::DEFAULT
    }
}

impl GroupSettings {
    /// Nothing set: a fixed FIFO pool of 3 slots.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{GroupSettings, Kind, Order, Pool};
    ///
    /// let pool = Pool::builder().settings(GroupSettings::DEFAULT).build()?;
    /// assert_eq!((pool.kind(), pool.order(), pool.size()), (Kind::Fixed, Order::Fifo, 3));
    /// assert_eq!((pool.max_waiting(), pool.admission_timeout()), (None, None));
    /// assert_eq!(GroupSettings::default(), GroupSettings::DEFAULT);
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub const DEFAULT: GroupSettings = GroupSettings {
        kind: Kind::Fixed,
        order: Order::Fifo,
        size: None,
        min: None,
        max: None,
        max_waiting: None,
        admission_timeout: None,
        sync_barging: None,
        autoscale: AutoscaleTiming::DEFAULT,
        policy: ScalePolicy::QueueDepth,
        executor: ExecutorKind::Default,
        fleet: FleetSettings::DEFAULT,
    };

    /// Fixed or autoscaled slot count (default: fixed).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{GroupSettings, Kind};
    ///
    /// assert_eq!(GroupSettings::DEFAULT.kind, Kind::Fixed);
    /// let autoscaled = GroupSettings::DEFAULT.kind(Kind::Autoscale);
    /// assert_eq!(autoscaled.bounds(), (3, 8), "default min 3, max min + 5");
    /// ```
    pub const fn kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// Admission order of waiting calls (default: FIFO).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{GroupSettings, Order};
    ///
    /// assert_eq!(GroupSettings::DEFAULT.order, Order::Fifo);
    /// assert_eq!(GroupSettings::DEFAULT.order(Order::Priority).order, Order::Priority);
    /// ```
    pub const fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// The slot count of a fixed pool (default 3), or the one an autoscaled
    /// pool starts with (default: `min`, or 1 if `min` is 0; the adaptive
    /// policy then doubles it every round trip until the server shows load).
    /// An autoscaled pool given `size(0)` holds its calls until it is
    /// resized, or an event that samples its demand (a call's arrival, or a
    /// waiting call that leaves: cancelled, timed out, turned away by
    /// `abort`) finds an evaluation due.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{GroupSettings, Kind};
    ///
    /// assert_eq!(GroupSettings::DEFAULT.starting_size(), 3);
    /// assert_eq!(GroupSettings::DEFAULT.size(5).starting_size(), 5);
    /// let autoscaled = GroupSettings::DEFAULT.kind(Kind::Autoscale).min(2).max(6);
    /// assert_eq!(autoscaled.starting_size(), 2, "starts at `min`");
    /// assert_eq!(autoscaled.size(4).starting_size(), 4);
    /// ```
    pub const fn size(mut self, size: usize) -> Self {
        self.size = Some(size);
        self
    }

    /// The lowest slot count an autoscaled pool goes to (default 3, or `max`
    /// if that is smaller). With `min = 0` the pool can be resized to 0 (it
    /// then holds its queue, as a fixed pool does); its autoscaler never
    /// takes it below 1 by itself, so that a call always finds a slot to
    /// wait for.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{GroupSettings, Kind};
    ///
    /// let autoscaled = GroupSettings::DEFAULT.kind(Kind::Autoscale);
    /// assert_eq!(autoscaled.min(1).bounds(), (1, 6));
    /// assert_eq!(autoscaled.max(2).bounds(), (2, 2), "min defaults to max if smaller");
    /// ```
    pub const fn min(mut self, min: usize) -> Self {
        self.min = Some(min);
        self
    }

    /// The highest slot count an autoscaled pool goes to (default `min + 5`, at most `MAX_SLOTS`).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{GroupSettings, Kind};
    ///
    /// let autoscaled = GroupSettings::DEFAULT.kind(Kind::Autoscale);
    /// assert_eq!(autoscaled.max(20).bounds(), (3, 20));
    /// assert_eq!(autoscaled.min(4).bounds(), (4, 9), "max defaults to min + 5");
    /// ```
    pub const fn max(mut self, max: usize) -> Self {
        self.max = Some(max);
        self
    }

    /// Turns calls away with [`Rejected::Full`](crate::Rejected::Full) once this
    /// many are waiting. `0` means: never wait, run now or be turned away.
    /// At most [`MAX_SLOTS`]. Default: no bound.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{GroupSettings, Pool, Rejected};
    ///
    /// let settings = GroupSettings::DEFAULT.size(1).max_waiting(0);
    /// let pool = Pool::builder().settings(settings).build()?;
    /// let held = pool.try_acquire()?;
    /// # futures::executor::block_on(async {
    /// assert_eq!(pool.submit(async {}).await, Err(Rejected::Full), "never wait");
    /// # });
    /// drop(held);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn max_waiting(mut self, max_waiting: usize) -> Self {
        self.max_waiting = Some(max_waiting);
        self
    }

    /// Turns a call away with [`Rejected::TimedOut`](crate::Rejected::TimedOut)
    /// once it has waited this long for a slot. Time spent running is not
    /// limited. Default: no timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{GroupSettings, Pool, Rejected};
    /// use std::time::Duration;
    ///
    /// let settings = GroupSettings::DEFAULT.size(1).admission_timeout(Duration::from_millis(10));
    /// let pool = Pool::builder().settings(settings).build()?;
    /// let held = pool.try_acquire()?;
    /// assert_eq!(pool.run(|| ()), Err(Rejected::TimedOut));
    /// drop(held);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn admission_timeout(mut self, timeout: Duration) -> Self {
        self.admission_timeout = Some(timeout);
        self
    }

    /// Lets sync callers ([`Pool::run`](crate::Pool::run), sync `#[pooled]`
    /// functions) barge for up to `bound`: eventual fairness, as
    /// `parking_lot`'s locks have, for many threads on few slots. Default:
    /// off (strict order); a zero `bound` is off too.
    ///
    /// In strict order, a freed slot goes to the call that has waited
    /// longest; when more threads than slots and than cores call at once,
    /// that call's thread is parked, so every call costs a thread switch
    /// (BENCHMARKS.md, case 8: tens of times an unfair `Mutex` + `Condvar`
    /// semaphore's cost for a trivial body). With sync barging, a sync call
    /// that finds no free slot first waits *outside* the queue, for up to
    /// `bound`: a slot that frees while nobody is queued goes back to the
    /// pool, and whoever asks first takes it — usually the thread that
    /// freed it, which has not stopped running — and one waiting outside is
    /// woken to try. A call still waiting after `bound` takes its place in
    /// the order (the queue) like any other.
    ///
    /// What holds: the limit, always; calls in the queue keep their order,
    /// and no call outside the queue ever takes a slot a queued call is
    /// owed (a slot that frees while calls are queued goes to the queue).
    /// A call waiting outside the queue is a waiting call: it counts in
    /// [`Stats::waiting`](crate::Stats::waiting), the autoscaler's demand
    /// and `max_waiting`, and as submitted from when it starts waiting; the
    /// waiting bound and the admission timeout that judge it are those in
    /// force then (its time outside counts against the timeout, and it is
    /// not turned away `Full` as it moves into the queue); a pause or a
    /// close leaves it waiting, as they leave queued calls — it takes its
    /// place in the queue, and a free slot then is its — and an abort turns
    /// it away, as it turns queued calls away; a closed pool is not drained
    /// while one waits. What it gives up: a call may be overtaken by calls
    /// that arrive after it for up to `bound` before it queues.
    ///
    /// A sync call that is never turned away ([`Group::run_wait`](crate::Group::run_wait),
    /// a sync `#[pooled]` function whose return type cannot carry an error)
    /// waits outside the queue too, as a queued one of its kind waits: past
    /// the waiting bound, and through an abort, which sends it on to the
    /// queue instead of turning it away.
    ///
    /// Async calls, blocking calls, permits and sync calls nested in work of
    /// the same pool always queue; so do sync calls made in a current-thread
    /// tokio runtime's context. (A sync call made in work of another pool, or under the
    /// application-wide ceiling, may barge.)
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::GroupSettings;
    /// use std::time::Duration;
    ///
    /// let barging = GroupSettings::DEFAULT.sync_barging(Duration::from_micros(50));
    /// assert_eq!(barging.sync_barging, Some(Duration::from_micros(50)));
    /// assert_eq!(GroupSettings::DEFAULT.sync_barging, None, "strict order by default");
    /// assert_eq!(barging.sync_barging(Duration::ZERO).sync_barging, None, "zero is off");
    /// ```
    pub const fn sync_barging(mut self, bound: Duration) -> Self {
        // (A zero bound is off, held as `None`: one way to say it.)
        self.sync_barging = if bound.is_zero() { None } else { Some(bound) };
        self
    }

    /// How often an autoscaled pool re-evaluates its size (default 10 s). An
    /// interval too long to ever pass (`Duration::MAX`) means: never.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{BuildError, GroupSettings, Kind};
    /// use std::time::Duration;
    ///
    /// let settings = GroupSettings::DEFAULT.kind(Kind::Autoscale);
    /// assert_eq!(settings.autoscale.interval, Duration::from_secs(10));
    /// assert!(settings.autoscale_interval(Duration::MAX).check().is_ok(), "never");
    /// let zero = settings.autoscale_interval(Duration::ZERO).check();
    /// assert_eq!(zero.unwrap_err(), BuildError::ZeroInterval);
    /// ```
    pub const fn autoscale_interval(mut self, interval: Duration) -> Self {
        self.autoscale.interval = interval;
        self
    }

    /// Over how many samples (spread over one interval) an autoscaled pool
    /// averages its demand (default 20, at most [`AutoscaleTiming::MAX_WINDOW`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{AutoscaleTiming, GroupSettings, Kind};
    ///
    /// let settings = GroupSettings::DEFAULT.kind(Kind::Autoscale);
    /// assert_eq!(settings.autoscale.window, 20);
    /// assert!(settings.autoscale_window(AutoscaleTiming::MAX_WINDOW).check().is_ok());
    /// assert!(settings.autoscale_window(AutoscaleTiming::MAX_WINDOW + 1).check().is_err());
    /// ```
    pub const fn autoscale_window(mut self, window: usize) -> Self {
        self.autoscale.window = window;
        self
    }

    /// The rule an autoscaled pool follows (default: the queue-depth rule);
    /// [`ScalePolicy::Adaptive`] keeps the server below its knee. A fixed
    /// pool follows none: the adaptive policy on one is refused.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{AdaptiveSettings, BuildError, GroupSettings, Kind, ScalePolicy};
    ///
    /// let adaptive = ScalePolicy::Adaptive(AdaptiveSettings::DEFAULT);
    /// let settings = GroupSettings::DEFAULT.kind(Kind::Autoscale).min(1).max(64);
    /// assert!(settings.scale_policy(adaptive).check().is_ok());
    /// let on_fixed = GroupSettings::DEFAULT.scale_policy(adaptive).check();
    /// assert_eq!(on_fixed.unwrap_err(), BuildError::PolicyOnFixedPool);
    /// ```
    pub const fn scale_policy(mut self, policy: ScalePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Where the pool's blocking closures run (default:
    /// [`ExecutorKind::Default`], tokio's blocking pool).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{ExecutorKind, GroupSettings};
    ///
    /// assert_eq!(GroupSettings::DEFAULT.executor, ExecutorKind::Default);
    /// let rayon = GroupSettings::DEFAULT.executor(ExecutorKind::Rayon);
    /// assert_eq!(rayon.check().is_ok(), cfg!(feature = "rayon"), "needs its feature");
    /// ```
    pub const fn executor(mut self, executor: ExecutorKind) -> Self {
        self.executor = executor;
        self
    }

    /// A limit on this group's calls running at once across every process
    /// that shares its Redis and its name (default: none). Needs a
    /// [`fleet_url`](Self::fleet_url) and the `redis` feature; see
    /// [`fleet`](crate::fleet).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{BuildError, GroupSettings};
    ///
    /// let fleet = GroupSettings::DEFAULT.fleet_limit(8).fleet_url("redis://127.0.0.1:6379/0");
    /// assert_eq!(fleet.fleet.limit, Some(8));
    /// if cfg!(feature = "redis") {
    ///     assert!(fleet.check().is_ok());
    /// } else {
    ///     assert!(matches!(fleet.check(), Err(BuildError::NeedsFeature { feature: "redis", .. })));
    /// }
    /// ```
    pub const fn fleet_limit(mut self, limit: usize) -> Self {
        self.fleet.limit = Some(limit);
        self
    }

    /// The Redis that keeps the fleet limit's leases, as a
    /// `redis://host:port/db` URL (default: none; needed with a fleet limit).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::GroupSettings;
    ///
    /// let fleet = GroupSettings::DEFAULT.fleet_limit(8);
    /// assert!(fleet.check().is_err(), "a fleet limit needs a URL");
    /// let fleet = fleet.fleet_url("redis://127.0.0.1:6379/0");
    /// assert_eq!(fleet.fleet.url, Some("redis://127.0.0.1:6379/0"));
    /// assert_eq!(fleet.check().is_ok(), cfg!(feature = "redis"));
    /// ```
    pub const fn fleet_url(mut self, url: &'static str) -> Self {
        self.fleet.url = Some(url);
        self
    }

    /// How long a fleet lease lasts without renewal (default 10 s; 100 ms to
    /// 24 h). A holder that dies keeps its slots this long; a holder stopped
    /// for longer loses them.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::GroupSettings;
    /// use std::time::Duration;
    ///
    /// let fleet = GroupSettings::DEFAULT.fleet_limit(8).fleet_url("redis://127.0.0.1:6379/0");
    /// assert_eq!(fleet.fleet.lease, Duration::from_secs(10));
    /// let short = fleet.fleet_lease(Duration::from_millis(10));
    /// assert!(short.check().is_err(), "below 100 ms");
    /// assert_eq!(fleet.fleet_lease(Duration::from_secs(1)).check().is_ok(), cfg!(feature = "redis"));
    /// ```
    pub const fn fleet_lease(mut self, lease: Duration) -> Self {
        self.fleet.lease = lease;
        self
    }

    /// What a fleet call does while Redis cannot be reached (default:
    /// [`OnUnreachable::Wait`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::fleet::OnUnreachable;
    /// use pool_runtime::GroupSettings;
    ///
    /// assert_eq!(GroupSettings::DEFAULT.fleet.unreachable, OnUnreachable::Wait);
    /// let rejecting = GroupSettings::DEFAULT.fleet_unreachable(OnUnreachable::Reject);
    /// assert_eq!(rejecting.fleet.unreachable, OnUnreachable::Reject);
    /// ```
    pub const fn fleet_unreachable(mut self, policy: OnUnreachable) -> Self {
        self.fleet.unreachable = policy;
        self
    }

    /// Every check a pool's settings must pass — the one rule the builder,
    /// configuration and a reload apply — and, if they pass, the slot count
    /// the pool starts with and the bounds `scale`/`resize` clamp to.
    ///
    /// # Errors
    ///
    /// See [`BuildError`]: zero sizes, `min > max`, sizes or a `max_waiting`
    /// above [`MAX_SLOTS`], `min`/`max` or the adaptive policy on a fixed pool,
    /// a start outside `[min, max]`, a zero autoscale interval, an autoscale
    /// window outside `1..=`[`AutoscaleTiming::MAX_WINDOW`],
    /// [`AdaptiveSettings`](crate::AdaptiveSettings) outside their ranges,
    /// a fleet limit outside `1..=MAX_SLOTS`, without a `redis://` URL, with
    /// a lease outside 100 ms to 24 h, or in a build without the `redis`
    /// feature.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{BuildError, GroupSettings, Kind, MAX_SLOTS};
    ///
    /// assert_eq!(GroupSettings::DEFAULT.check(), Ok((3, (0, MAX_SLOTS))));
    /// let autoscaled = GroupSettings::DEFAULT.kind(Kind::Autoscale).min(2).max(6).size(4);
    /// assert_eq!(autoscaled.check(), Ok((4, (2, 6))));
    /// assert_eq!(GroupSettings::DEFAULT.max(6).check(), Err(BuildError::BoundsOnFixedPool));
    /// let outside = autoscaled.size(9).check();
    /// assert_eq!(outside, Err(BuildError::SizeOutsideBounds { size: 9, min: 2, max: 6 }));
    /// ```
    pub fn check(&self) -> Result<(usize, (usize, usize)), BuildError> {
        let limits = self.limits()?;
        // Whatever the kind, as `Pool::set_autoscale_timing` checks it: a
        // zero interval or an out-of-range window is a mistake on a fixed
        // pool too (and would be found only once a layer made it autoscaled).
        self.autoscale.validate()?;
        if let Some((feature, false)) = self.executor.feature() {
            return Err(BuildError::Unavailable {
                setting: "executor",
                value: self.executor.as_str(),
                feature,
            });
        }
        if let Some(bound) = self.max_waiting {
            check_max_waiting(bound)?;
        }
        self.fleet.check()?;
        Ok(limits)
    }

    fn limits(&self) -> Result<(usize, (usize, usize)), BuildError> {
        let too_large = |value: usize| {
            if value > MAX_SLOTS {
                Err(BuildError::TooLarge { value })
            } else {
                Ok(value)
            }
        };
        match self.kind {
            Kind::Fixed => {
                if self.min.is_some() || self.max.is_some() {
                    return Err(BuildError::BoundsOnFixedPool);
                }
                if matches!(self.policy, ScalePolicy::Adaptive(_)) {
                    return Err(BuildError::PolicyOnFixedPool);
                }
                let size = too_large(self.size.unwrap_or(DEFAULT_SIZE))?;
                if size == 0 {
                    return Err(BuildError::ZeroSize);
                }
                Ok((size, (0, MAX_SLOTS)))
            }
            Kind::Autoscale => {
                let (min, max) = autoscale_bounds(self.min, self.max);
                let (min, max) = (too_large(min)?, too_large(max)?);
                if max == 0 {
                    return Err(BuildError::ZeroMax);
                }
                if min > max {
                    return Err(BuildError::MinAboveMax { min, max });
                }
                // An autoscaled pool left to start at 0 slots could never
                // admit a call (its autoscaler runs at intake and release
                // events: a lone waiting call would wait for good), so with
                // `min = 0` it starts at 1 (`max` is at least 1).
                let size = self.size.unwrap_or(min.max(1));
                if !(min..=max).contains(&size) {
                    return Err(BuildError::SizeOutsideBounds { size, min, max });
                }
                if let ScalePolicy::Adaptive(settings) = &self.policy {
                    settings.validate()?;
                }
                Ok((size, (min, max)))
            }
        }
    }

    /// The slot count the pool starts with and the bounds it is kept in,
    /// defaults filled in (for settings that fail their check: those of
    /// [`clamped`](Self::clamped)).
    pub(crate) fn resolved(&self) -> (usize, (usize, usize)) {
        self.check().unwrap_or_else(|_| {
            self.clamped()
                .check()
                .expect("clamped settings pass their check")
        })
    }

    /// The slot count a pool with these settings starts with, defaults
    /// filled in (`size`, else 3 for a fixed pool and `min` for an
    /// autoscaled one, or 1 if `min` is 0).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{GroupSettings, Kind};
    ///
    /// assert_eq!(GroupSettings::DEFAULT.starting_size(), 3);
    /// let autoscaled = GroupSettings::DEFAULT.kind(Kind::Autoscale);
    /// assert_eq!(autoscaled.min(2).starting_size(), 2);
    /// assert_eq!(autoscaled.min(0).starting_size(), 1, "1 if `min` is 0");
    /// ```
    pub fn starting_size(&self) -> usize {
        self.resolved().0
    }

    /// The range `scale`/`resize` keep the pool's slot count in, defaults
    /// filled in: `(min, max)` for an autoscaled pool, `(0, MAX_SLOTS)` for
    /// a fixed one.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{GroupSettings, Kind, MAX_SLOTS};
    ///
    /// assert_eq!(GroupSettings::DEFAULT.bounds(), (0, MAX_SLOTS));
    /// assert_eq!(GroupSettings::DEFAULT.kind(Kind::Autoscale).min(1).max(4).bounds(), (1, 4));
    /// ```
    pub fn bounds(&self) -> (usize, usize) {
        self.resolved().1
    }

    /// These settings with every value a pool could not take brought into
    /// range — sizes to `1..=MAX_SLOTS`, `min` to `max`, `max_waiting` to
    /// `MAX_SLOTS`, the autoscale window to `1..=MAX_WINDOW`, adaptive
    /// parameters to their ranges — and settings the kind has no use for
    /// dropped. The attribute and configuration refuse such values before
    /// they get here; a hand-written declaration may still carry them, and
    /// a group then starts rather than failing at its first call.
    pub(crate) fn clamped(&self) -> GroupSettings {
        let mut s = *self;
        s.max_waiting = s.max_waiting.map(|bound| bound.min(MAX_SLOTS));
        if let Some((_, false)) = s.executor.feature() {
            s.executor = ExecutorKind::Default;
        }
        s.fleet = s.fleet.clamped();
        s.autoscale.interval = s.autoscale.interval.max(Duration::from_nanos(1));
        s.autoscale.window = s.autoscale.window.clamp(1, AutoscaleTiming::MAX_WINDOW);
        match s.kind {
            Kind::Fixed => {
                s.size = Some(s.size.unwrap_or(DEFAULT_SIZE).clamp(1, MAX_SLOTS));
                (s.min, s.max) = (None, None);
                s.policy = ScalePolicy::QueueDepth;
            }
            Kind::Autoscale => {
                let (min, max) = autoscale_bounds(s.min, s.max);
                let max = max.clamp(1, MAX_SLOTS);
                let min = min.min(max);
                (s.min, s.max) = (Some(min), Some(max));
                s.size = s.size.map(|size| size.clamp(min, max));
                if let ScalePolicy::Adaptive(params) = s.policy {
                    s.policy = ScalePolicy::Adaptive(params.clamped());
                }
            }
        }
        s
    }
}

/// `max_waiting` counts calls like the slot counts do: at most [`MAX_SLOTS`].
pub(crate) fn check_max_waiting(bound: usize) -> Result<(), BuildError> {
    if bound > MAX_SLOTS {
        return Err(BuildError::OutOfRange {
            setting: "max_waiting",
            value: bound.to_string(),
            expected: format!("0 to {MAX_SLOTS} (MAX_SLOTS)"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fleet limit is refused without the `redis` feature, like the rayon
    /// executor without `rayon`; with it, without a URL or with a bad lease.
    #[test]
    fn a_fleet_limit_needs_the_feature_a_url_and_a_sensible_lease() {
        let fleet = GroupSettings::DEFAULT.fleet_limit(4);
        let with_url = fleet.fleet_url("redis://127.0.0.1:1");
        if cfg!(feature = "redis") {
            assert!(with_url.check().is_ok());
            assert!(matches!(
                fleet.check(),
                Err(BuildError::OutOfRange {
                    setting: "fleet_url",
                    ..
                })
            ));
            assert!(matches!(
                with_url.fleet_lease(Duration::from_millis(5)).check(),
                Err(BuildError::OutOfRange {
                    setting: "fleet_lease",
                    ..
                })
            ));
            assert!(matches!(
                with_url.fleet_limit(0).check(),
                Err(BuildError::OutOfRange {
                    setting: "fleet_limit",
                    ..
                })
            ));
        } else {
            assert_eq!(
                with_url.check(),
                Err(BuildError::NeedsFeature {
                    setting: "fleet_limit",
                    feature: "redis"
                })
            );
            assert_eq!(with_url.clamped().fleet.limit, None);
        }
        assert_eq!(
            GroupSettings::DEFAULT
                .fleet_unreachable(OnUnreachable::Local)
                .fleet
                .unreachable,
            OnUnreachable::Local
        );
    }

    /// An executor this build lacks is refused by the one check (and so by
    /// the builder, configuration and a reload alike), not swapped silently.
    #[test]
    fn an_executor_this_build_lacks_is_a_build_error() {
        let rayon = GroupSettings::DEFAULT.executor(ExecutorKind::Rayon);
        if cfg!(feature = "rayon") {
            assert!(rayon.check().is_ok());
        } else {
            assert_eq!(
                rayon.check(),
                Err(BuildError::Unavailable {
                    setting: "executor",
                    value: "rayon",
                    feature: "rayon"
                })
            );
            assert_eq!(rayon.clamped().executor, ExecutorKind::Default);
        }
    }
}
