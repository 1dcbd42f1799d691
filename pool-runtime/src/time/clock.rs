//! Time as the autoscaler sees it. Injected, so that tests (and simulations)
//! drive it deterministically instead of sleeping.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A monotonic clock: the time elapsed since an arbitrary, fixed origin.
pub trait Clock: Send + Sync + 'static {
    /// The current time since this clock's origin.
    fn now(&self) -> Duration;

    /// Whether the pool's admission timeouts should run on tokio's timer (so
    #[cfg_attr(
        feature = "tokio",
        doc = " they follow tokio's paused time too). Only [`TokioClock`] says yes."
    )]
    #[cfg_attr(
        not(feature = "tokio"),
        doc = " they follow tokio's paused time too). Only `TokioClock` says yes."
    )]
    fn uses_tokio_time(&self) -> bool {
        false
    }
}

/// A shared clock is the clock it shares (so `PoolBuilder::clock` takes an
/// `Arc<dyn Clock>` or an `Arc` of a clock as well as a clock).
impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Duration {
        (**self).now()
    }

    fn uses_tokio_time(&self) -> bool {
        (**self).uses_tokio_time()
    }
}

/// A user's clock as a pool reads it: a panic in `now` is caught (the panic
/// hook has reported it) and the clock is read as standing still at its
/// last good reading, so that a panicking clock never unwinds through the
/// pool's bookkeeping (a slot taken and not yet handed over, a release
/// under the pool's lock, a release in a `Drop` during unwinding).
pub(crate) struct Caught<C> {
    clock: C,
    /// The last good reading, in nanoseconds.
    last: AtomicU64,
}

impl<C: Clock> Caught<C> {
    pub(crate) fn new(clock: C) -> Self {
        Caught {
            clock,
            last: AtomicU64::new(0),
        }
    }
}

impl<C: Clock> Clock for Caught<C> {
    fn now(&self) -> Duration {
        match crate::unwind::caught(|| self.clock.now()) {
            Some(now) => {
                let nanos = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
                self.last.store(nanos, Ordering::Relaxed);
                now
            }
            None => Duration::from_nanos(self.last.load(Ordering::Relaxed)),
        }
    }

    fn uses_tokio_time(&self) -> bool {
        crate::unwind::caught(|| self.clock.uses_tokio_time()).unwrap_or(false)
    }
}

/// The real monotonic clock (`std::time::Instant`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        ORIGIN.get_or_init(Instant::now).elapsed()
    }
}

/// A clock that moves only when told to: for deterministic tests of autoscaling.
///
/// Clones share the same time.
///
/// # Examples
///
/// ```
/// use pool_runtime::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_secs(10));
/// assert_eq!(clock.now(), Duration::from_secs(10));
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`; past the end of its range (`u64::MAX`
    /// nanoseconds, some 584 years) it stays there, never wrapping back.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(nanos))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

/// Tokio's clock (`tokio::time::Instant`): a pool built with it follows
/// tokio's paused and auto-advanced test time (`tokio::time::pause`) in its
/// autoscaler and its admission timeouts, which then run on tokio's timer.
/// Outside a paused runtime it is the real monotonic clock. Calls that wait
/// outside any runtime, or in one built without `enable_time` (which has no
/// paused time), time out on the crate's timer thread instead; finding out
/// that a runtime has no time driver costs one caught panic of
/// `tokio::time::sleep` per runtime, which the panic hook sees. So do
/// timeouts longer than tokio's timer keeps (about 795 days: paused test
/// time never reaches them; `Duration::MAX` is never) and a wait that goes
/// on where its runtime is no longer current (that runtime shut down, or
/// the call is polled elsewhere): the rest of it is on the timer thread.
#[cfg(feature = "tokio")]
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

#[cfg(feature = "tokio")]
impl TokioClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        TokioClock {
            origin: tokio::time::Instant::now(),
        }
    }
}

#[cfg(feature = "tokio")]
impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "tokio")]
impl Clock for TokioClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn uses_tokio_time(&self) -> bool {
        true
    }
}
