//! Time as the autoscaler sees it. Injected, so that tests (and simulations)
//! drive it deterministically instead of sleeping.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A monotonic clock: the time elapsed since an arbitrary, fixed origin.
///
/// # Examples
///
/// ```
/// use pool_runtime::{Clock, Pool};
/// use std::time::Duration;
///
/// /// A clock that stands still at one minute.
/// struct Frozen;
///
/// impl Clock for Frozen {
///     fn now(&self) -> Duration {
///         Duration::from_secs(60)
///     }
/// }
///
/// assert_eq!(Frozen.now(), Duration::from_secs(60));
/// assert!(!Frozen.uses_tokio_time(), "only `TokioClock` says yes");
/// let pool = Pool::builder().clock(Frozen).build()?;
/// assert_eq!(pool.run(|| "admitted"), Ok("admitted"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current time since this clock's origin.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Clock, ManualClock};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// clock.advance(Duration::from_secs(2));
    /// let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    /// assert_eq!(shared.now(), Duration::from_secs(2), "a shared clock reads as the clock it shares");
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Clock, ManualClock, SystemClock};
    ///
    /// assert!(!SystemClock.uses_tokio_time());
    /// assert!(!ManualClock::new().uses_tokio_time());
    /// # #[cfg(feature = "tokio")]
    /// assert!(pool_runtime::TokioClock::new().uses_tokio_time());
    /// ```
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
///
/// And it never goes backwards: a reading below the last one (a clock
/// reset, a VM restored) is taken as no time passed, and the time runs on
/// from there at the clock's pace (what it went back by is added to every
/// later reading). Read as it was, every timestamp the pool keeps (when an
/// adaptive window opened, when the limit was last cut, when the
/// autoscaler is next due) would lie ahead of every later reading until
/// the clock caught up: no window would close, every refusal would look
/// sent before the last cut and be set aside, no evaluation would fall due.
pub(crate) struct Caught<C> {
    clock: C,
    /// The last good reading and what earlier jumps back add to readings.
    readings: std::sync::Mutex<Readings>,
}

/// What [`Caught`] keeps of its clock's readings, in nanoseconds.
#[derive(Default)]
struct Readings {
    /// The last good reading, as the clock gave it.
    raw: u64,
    /// The sum of the clock's jumps back so far.
    offset: u64,
}

impl Readings {
    /// The time a pool reads for the clock's last good reading.
    fn time(&self) -> Duration {
        Duration::from_nanos(self.raw.saturating_add(self.offset))
    }
}

impl<C: Clock> Caught<C> {
    pub(crate) fn new(clock: C) -> Self {
        Caught {
            clock,
            readings: std::sync::Mutex::new(Readings::default()),
        }
    }
}

impl<C: Clock> Clock for Caught<C> {
    fn now(&self) -> Duration {
        let reading = crate::unwind::caught(|| self.clock.now());
        // (Nothing under this lock panics: a poisoned one is as good.)
        let mut readings = self
            .readings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(now) = reading {
            let raw = crate::time::saturating_nanos(now);
            if raw < readings.raw {
                readings.offset = readings.offset.saturating_add(readings.raw - raw);
            }
            readings.raw = raw;
        }
        readings.time()
    }

    fn uses_tokio_time(&self) -> bool {
        crate::unwind::caught(|| self.clock.uses_tokio_time()).unwrap_or(false)
    }
}

/// The real monotonic clock (`std::time::Instant`).
///
/// # Examples
///
/// ```
/// use pool_runtime::{Clock, SystemClock};
/// use std::time::Duration;
///
/// let before = SystemClock.now();
/// std::thread::sleep(Duration::from_millis(2));
/// assert!(SystemClock.now() >= before + Duration::from_millis(2));
/// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Clock, ManualClock};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// assert_eq!(clock.now(), Duration::ZERO);
    /// let shared = clock.clone();
    /// shared.advance(Duration::from_secs(1));
    /// assert_eq!(clock.now(), Duration::from_secs(1), "clones share the same time");
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`; past the end of its range (`u64::MAX`
    /// nanoseconds, some 584 years) it stays there, never wrapping back.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Clock, ManualClock};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// clock.advance(Duration::from_millis(1500));
    /// assert_eq!(clock.now(), Duration::from_millis(1500));
    /// clock.advance(Duration::MAX);
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(clock.now(), Duration::from_nanos(u64::MAX), "stays at the end, never wraps");
    /// ```
    pub fn advance(&self, by: Duration) {
        let nanos = crate::time::saturating_nanos(by);
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
/// the call is polled elsewhere): the rest of it is on the timer thread,
/// counted from the wait's last poll in its runtime (so a wait that began
/// on a paused clock a year ahead of the real one, or on one that stood
/// still while real time passed, waits the rest of its timeout, no more and
/// no less).
///
/// A clock made in a runtime whose paused time had run ahead of the real
/// clock (`tokio::time::advance`) has its origin in the real clock's future:
/// read where that time is not current (another runtime, or none), it reads
/// the real time since it was made instead of standing at zero until the
/// real clock reaches its origin (the pool's reading of its clock never
/// goes backwards: see [`PoolBuilder::clock`](crate::PoolBuilder::clock)).
///
/// # Examples
///
/// ```
/// use pool_runtime::{Clock, TokioClock};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let clock = TokioClock::new();
/// tokio::time::advance(Duration::from_secs(3600)).await;
/// assert!(clock.now() >= Duration::from_secs(3600), "follows tokio's paused time");
/// assert!(clock.uses_tokio_time());
/// # }
/// ```
#[cfg(feature = "tokio")]
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    origin: tokio::time::Instant,
    /// The origin on the real clock.
    made: std::time::Instant,
}

#[cfg(feature = "tokio")]
impl TokioClock {
    /// A clock whose origin is now.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{Clock, TokioClock};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let clock = TokioClock::new();
    /// assert_eq!(clock.now(), Duration::ZERO, "its origin is now (and paused time stands still)");
    /// tokio::time::sleep(Duration::from_secs(5)).await;
    /// assert!(clock.now() >= Duration::from_secs(5));
    /// # }
    /// ```
    pub fn new() -> Self {
        TokioClock {
            origin: tokio::time::Instant::now(),
            made: std::time::Instant::now(),
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
        tokio::time::Instant::now()
            .checked_duration_since(self.origin)
            .unwrap_or_else(|| self.made.elapsed())
    }

    fn uses_tokio_time(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock the test sets anywhere, backwards too.
    #[derive(Clone, Default)]
    struct Settable(Arc<AtomicU64>);

    impl Settable {
        fn set(&self, to: Duration) {
            let nanos = crate::time::saturating_nanos(to);
            self.0.store(nanos, Ordering::SeqCst);
        }
    }

    impl Clock for Settable {
        fn now(&self) -> Duration {
            Duration::from_nanos(self.0.load(Ordering::SeqCst))
        }
    }

    #[test]
    fn a_caught_clock_never_goes_backwards_and_runs_on_at_the_clocks_pace() {
        let manual = Settable::default();
        let caught = Caught::new(manual.clone());
        manual.set(Duration::from_secs(100));
        assert_eq!(caught.now(), Duration::from_secs(100));
        // Back by 90 s: no time passed.
        manual.set(Duration::from_secs(10));
        assert_eq!(caught.now(), Duration::from_secs(100));
        // Then on at its pace.
        manual.set(Duration::from_secs(15));
        assert_eq!(caught.now(), Duration::from_secs(105));
        // A jump forward is time that passed.
        manual.set(Duration::from_secs(1015));
        assert_eq!(caught.now(), Duration::from_secs(1105));
        // To the end of the range and back: it stays at the end.
        manual.set(Duration::MAX);
        let end = caught.now();
        manual.set(Duration::from_secs(1));
        assert_eq!(caught.now(), end);
    }

    #[test]
    fn a_caught_clock_that_panics_reads_as_standing_still() {
        struct Flaky(Settable, std::sync::atomic::AtomicBool);
        impl Clock for Flaky {
            fn now(&self) -> Duration {
                assert!(!self.1.load(Ordering::SeqCst), "the clock broke");
                self.0.now()
            }
        }
        let manual = Settable::default();
        let caught = Caught::new(Flaky(manual.clone(), false.into()));
        manual.set(Duration::from_secs(7));
        assert_eq!(caught.now(), Duration::from_secs(7));
        caught.clock.1.store(true, Ordering::SeqCst);
        manual.set(Duration::from_secs(9));
        assert_eq!(caught.now(), Duration::from_secs(7));
        caught.clock.1.store(false, Ordering::SeqCst);
        assert_eq!(caught.now(), Duration::from_secs(9));
    }
}
