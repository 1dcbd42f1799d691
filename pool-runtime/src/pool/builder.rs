//! Building a pool: the six kinds, their limits, and what is rejected.

use crate::admission::core::{Core, CoreConfig};
use crate::admission::state::MAX_SLOTS;
use crate::call::blocking::BlockingExecutor;
use crate::pool::error::BuildError;
use crate::pool::order::{Kind, Order};
use crate::pool::Pool;
use crate::scale::queue_depth::AutoscaleTiming;
use crate::scale::ScalePolicy;
use crate::time::clock::{Clock, SystemClock};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use pool_settings::limits::{DEFAULT_AUTOSCALE_HEADROOM, DEFAULT_SIZE};
/// Where an adaptive pool starts unless given a `size` (clamped to its bounds).
pub const ADAPTIVE_START: usize = 16;

/// Configures and builds a [`Pool`].
///
/// Defaults: a fixed FIFO pool of 3 slots; an autoscaled pool
/// between `min = 3` and `max = min + 5`, starting at `min`, re-evaluated every
/// 10 s over 20 samples. No bound on waiting calls, no admission timeout.
///
/// # Examples
///
/// ```
/// use pool_runtime::{Kind, Order, Pool};
///
/// let pool = Pool::builder()
///     .kind(Kind::Autoscale)
///     .order(Order::Priority)
///     .min(2)
///     .max(8)
///     .max_waiting(1_000)
///     .build()?;
/// assert_eq!(pool.size(), 2);
/// # Ok::<(), pool_runtime::BuildError>(())
/// ```
#[derive(Clone)]
#[must_use = "a builder does nothing until `build()`"]
pub struct PoolBuilder {
    name: Option<String>,
    kind: Kind,
    order: Order,
    size: Option<usize>,
    min: Option<usize>,
    max: Option<usize>,
    max_waiting: Option<usize>,
    admission_timeout: Option<Duration>,
    autoscale: AutoscaleTiming,
    policy: Option<ScalePolicy>,
    clock: Arc<dyn Clock>,
    executor: Option<Arc<dyn BlockingExecutor>>,
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            name: None,
            kind: Kind::Fixed,
            order: Order::Fifo,
            size: None,
            min: None,
            max: None,
            max_waiting: None,
            admission_timeout: None,
            autoscale: AutoscaleTiming::default(),
            policy: None,
            clock: Arc::new(SystemClock),
            executor: None,
        }
    }
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("order", &self.order)
            .field("size", &self.size)
            .field("min", &self.min)
            .field("max", &self.max)
            .field("max_waiting", &self.max_waiting)
            .field("admission_timeout", &self.admission_timeout)
            .field("autoscale", &self.autoscale)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl PoolBuilder {
    /// A name for logs and [`Pool::name`].
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Fixed or autoscaled slot count.
    pub fn kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// Admission order of waiting calls.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// The slot count of a fixed pool, or the starting one of an autoscaled pool
    /// (default: `min`; for the adaptive policy, [`ADAPTIVE_START`] within
    /// `[min, max]`).
    pub fn size(mut self, size: usize) -> Self {
        self.size = Some(size);
        self
    }

    /// The lowest slot count an autoscaled pool goes to (default 3).
    pub fn min(mut self, min: usize) -> Self {
        self.min = Some(min);
        self
    }

    /// The highest slot count an autoscaled pool goes to (default `min + 5`).
    pub fn max(mut self, max: usize) -> Self {
        self.max = Some(max);
        self
    }

    /// Turns calls away with [`Rejected::Full`](crate::Rejected::Full) once this
    /// many are waiting. `0` means: never wait, run now or be turned away.
    /// At most [`MAX_SLOTS`].
    pub fn max_waiting(mut self, max_waiting: usize) -> Self {
        self.max_waiting = Some(max_waiting);
        self
    }

    /// Turns a call away with [`Rejected::TimedOut`](crate::Rejected::TimedOut)
    /// once it has waited this long for a slot. Time spent running is not limited.
    pub fn admission_timeout(mut self, timeout: Duration) -> Self {
        self.admission_timeout = Some(timeout);
        self
    }

    /// How often an autoscaled pool re-evaluates its size (default 10 s). An
    /// interval too long to ever pass (`Duration::MAX`) means: never.
    pub fn autoscale_interval(mut self, interval: Duration) -> Self {
        self.autoscale.interval = interval;
        self
    }

    /// Over how many samples (spread over one interval) an autoscaled pool
    /// averages its demand (default 20, at most [`AutoscaleTiming::MAX_WINDOW`]).
    pub fn autoscale_window(mut self, window: usize) -> Self {
        self.autoscale.window = window;
        self
    }

    /// The rule an autoscaled pool follows (default: the queue-depth
    /// rule); [`ScalePolicy::Adaptive`] keeps the server below its knee.
    pub fn scale_policy(mut self, policy: ScalePolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The clock the autoscaler reads (default: the system's monotonic clock);
    /// a [`ManualClock`](crate::time::clock::ManualClock) makes autoscaling deterministic.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Where [`Pool::submit_blocking`] runs closures (default: [`DefaultExecutor`](crate::DefaultExecutor)).
    pub fn blocking_executor(mut self, executor: Arc<dyn BlockingExecutor>) -> Self {
        self.executor = Some(executor);
        self
    }

    /// Builds the pool, or says what is wrong with the settings.
    ///
    /// # Errors
    ///
    /// See [`BuildError`]: zero sizes, `min > max`, sizes or a `max_waiting`
    /// above [`MAX_SLOTS`], `min`/`max` on a fixed pool, a zero autoscale
    /// interval, an autoscale window outside `1..=`[`AutoscaleTiming::MAX_WINDOW`],
    /// [`AdaptiveSettings`](crate::AdaptiveSettings) outside their ranges.
    pub fn build(self) -> Result<Pool, BuildError> {
        let (initial, bounds) = self.check()?;
        let core = Core::new(CoreConfig {
            kind: self.kind,
            order: self.order,
            initial,
            bounds,
            max_waiting: self.max_waiting,
            admission_timeout: self.admission_timeout,
            autoscale: self.autoscale,
            policy: self.policy.unwrap_or_default(),
            clock: self.clock,
        });
        Ok(Pool::from_parts(
            Arc::new(core),
            self.name.map(Arc::from),
            self.executor,
        ))
    }

    /// Every check [`build`](PoolBuilder::build) makes — the one rule for a
    /// pool's settings, which configuration applies too — and, if they pass,
    /// the starting limit and the bounds `scale`/`resize` clamp to.
    pub(crate) fn check(&self) -> Result<(usize, (usize, usize)), BuildError> {
        let limits = self.limits()?;
        if let Some(bound) = self.max_waiting {
            check_max_waiting(bound)?;
        }
        Ok(limits)
    }

    /// The starting limit and the bounds `scale`/`resize` clamp to.
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
                if self.policy.is_some() {
                    return Err(BuildError::PolicyOnFixedPool);
                }
                let size = too_large(self.size.unwrap_or(DEFAULT_SIZE))?;
                if size == 0 {
                    return Err(BuildError::ZeroSize);
                }
                Ok((size, (0, MAX_SLOTS)))
            }
            Kind::Autoscale => {
                let (min, max) = pool_settings::limits::autoscale_bounds(self.min, self.max);
                let (min, max) = (too_large(min)?, too_large(max)?);
                if max == 0 {
                    return Err(BuildError::ZeroMax);
                }
                if min > max {
                    return Err(BuildError::MinAboveMax { min, max });
                }
                // An adaptive pool starts with some headroom (16, within the
                // bounds) rather than at `min`: it finds the server's knee
                // within seconds either way, but climbing from a handful of
                // slots makes a lightly loaded server's callers queue at first.
                let start = match self.policy {
                    Some(ScalePolicy::Adaptive(_)) => ADAPTIVE_START.clamp(min, max),
                    _ => min,
                };
                let size = self.size.unwrap_or(start);
                if !(min..=max).contains(&size) {
                    return Err(BuildError::SizeOutsideBounds { size, min, max });
                }
                self.autoscale.validate()?;
                if let Some(ScalePolicy::Adaptive(settings)) = &self.policy {
                    settings.validate()?;
                }
                Ok((size, (min, max)))
            }
        }
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
