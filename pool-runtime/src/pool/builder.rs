//! Building a pool: the six kinds, their limits, and what is rejected.

use crate::admission::core::{Core, CoreConfig};
use crate::call::blocking::BlockingExecutor;
use crate::group::settings::GroupSettings;
use crate::pool::error::BuildError;
use crate::pool::order::{ExecutorKind, Kind, Order};
use crate::pool::Pool;
use crate::scale::ScalePolicy;
use crate::time::clock::{Clock, SystemClock};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use pool_settings::limits::DEFAULT_SIZE;

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
    settings: GroupSettings,
    clock: Arc<dyn Clock>,
    executor: Option<Arc<dyn BlockingExecutor>>,
    /// A group's isolated instance (feature `test-util`), which reports
    /// under the group's name but does not set its adaptive gauges.
    #[cfg(all(feature = "test-util", feature = "metrics"))]
    isolated: bool,
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            name: None,
            settings: GroupSettings::DEFAULT,
            clock: Arc::new(SystemClock),
            executor: None,
            #[cfg(all(feature = "test-util", feature = "metrics"))]
            isolated: false,
        }
    }
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl PoolBuilder {
    /// A name for logs and [`Pool::name`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = pool_runtime::Pool::builder().name("search").build()?;
    /// assert_eq!(pool.name(), Some("search"));
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    delegate_setters!();

    /// Every pool setting at once (replacing those set before).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{GroupSettings, Order, Pool};
    ///
    /// let settings = GroupSettings::DEFAULT.order(Order::Lifo).size(2);
    /// let pool = Pool::builder().size(9).settings(settings).build()?;
    /// assert_eq!((pool.order(), pool.size()), (Order::Lifo, 2), "replaces `size(9)`");
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn settings(mut self, settings: GroupSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The clock the autoscaler reads (default: the system's monotonic clock);
    /// a [`ManualClock`](crate::time::clock::ManualClock) makes autoscaling
    #[cfg_attr(
        feature = "tokio",
        doc = " deterministic, a [`TokioClock`](crate::time::clock::TokioClock) makes"
    )]
    #[cfg_attr(not(feature = "tokio"), doc = " deterministic, a `TokioClock` makes")]
    /// the autoscaler and the admission timeouts follow tokio's (paused) time.
    ///
    /// Takes a clock as it is (`.clock(TokioClock::new())`) or shared
    /// (`.clock(Arc::new(clock.clone()))`, an `Arc<dyn Clock>`).
    ///
    /// A clock is the user's code, read while the pool keeps its books: a
    /// `now` that panics is caught there (the panic hook reports it) and
    /// read as the clock standing still at its last reading, so it costs no
    /// slot and no call. A clock that goes backwards (a reset, a VM
    /// restored) is read as standing still across the jump and running on
    /// from there at its own pace, so that nothing the pool timed before the
    /// jump (an adaptive window, the last cut, the autoscaler's next
    /// evaluation) lies ahead of it for as long as the clock takes to catch
    /// up; one that jumps to the end of its range is read as having got
    /// there (the autoscaler sees all that time pass), and stays there. The
    /// limit stays within its bounds throughout.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use pool_runtime::{Pool, Rejected, TokioClock};
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = Pool::builder()
    ///     .clock(TokioClock::new())
    ///     .size(1)
    ///     .admission_timeout(Duration::from_secs(3600))
    ///     .build()?;
    /// let held = pool.acquire().await?;
    /// let started = Instant::now();
    /// // tokio's paused time skips ahead: the hour-long timeout passes at once.
    /// assert_eq!(pool.submit(async {}).await, Err(Rejected::TimedOut));
    /// assert!(started.elapsed() < Duration::from_secs(60));
    /// drop(held);
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "tokio"))]
    /// # fn main() {}
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(crate::time::clock::Caught::new(clock));
        self
    }

    /// Where [`Pool::submit_blocking`] runs closures: this instance, over the
    /// [`executor`](PoolBuilder::executor) setting (default:
    /// [`DefaultExecutor`](crate::DefaultExecutor)).
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{BlockingExecutor, BlockingJob, Pool};
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// /// Runs each job on a new thread, and counts them.
    /// #[derive(Default)]
    /// struct Counted(AtomicUsize);
    ///
    /// impl BlockingExecutor for Counted {
    ///     fn execute(&self, job: BlockingJob) {
    ///         self.0.fetch_add(1, Ordering::SeqCst);
    ///         std::thread::spawn(job);
    ///     }
    /// }
    ///
    /// let executor = Arc::new(Counted::default());
    /// let pool = Pool::builder().blocking_executor(executor.clone()).build()?;
    /// let out = futures::executor::block_on(pool.submit_blocking(|| 6 * 7));
    /// assert_eq!(out, Ok(42));
    /// assert_eq!(executor.0.load(Ordering::SeqCst), 1, "the closure ran on `Counted`");
    /// # Ok::<(), pool_runtime::BuildError>(())
    /// ```
    pub fn blocking_executor(mut self, executor: Arc<dyn BlockingExecutor>) -> Self {
        self.executor = Some(executor);
        self
    }

    /// Marks the pool as a group's isolated instance (see
    /// [`Group::isolate`](crate::Group::isolate)).
    #[cfg(all(feature = "test-util", feature = "metrics"))]
    pub(crate) fn isolated(mut self) -> Self {
        self.isolated = true;
        self
    }

    /// Builds the pool, or says what is wrong with the settings.
    ///
    /// # Errors
    ///
    /// See [`GroupSettings::check`] and [`BuildError`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{BuildError, Kind, Pool};
    ///
    /// assert_eq!(Pool::builder().size(4).build()?.size(), 4);
    /// assert_eq!(Pool::builder().size(0).build().unwrap_err(), BuildError::ZeroSize);
    /// let inverted = Pool::builder().kind(Kind::Autoscale).min(5).max(2).build();
    /// assert_eq!(inverted.unwrap_err(), BuildError::MinAboveMax { min: 5, max: 2 });
    /// # Ok::<(), BuildError>(())
    /// ```
    pub fn build(self) -> Result<Pool, BuildError> {
        let (initial, bounds) = self.settings.check()?;
        let s = self.settings;
        let name: Option<Arc<str>> = self.name.map(Arc::from);
        let core = Core::new(CoreConfig {
            kind: s.kind,
            order: s.order,
            initial,
            bounds,
            max_waiting: s.max_waiting,
            admission_timeout: s.admission_timeout,
            sync_barging: s.sync_barging,
            autoscale: s.autoscale,
            policy: s.policy,
            clock: self.clock,
            #[cfg(any(feature = "tracing", feature = "metrics"))]
            name: name.clone(),
            #[cfg(feature = "metrics")]
            #[cfg(feature = "test-util")]
            isolated: self.isolated,
            #[cfg(feature = "metrics")]
            #[cfg(not(feature = "test-util"))]
            isolated: false,
        });
        let executor = self.executor.or_else(|| s.executor.instance());
        Ok(Pool::from_parts(core, name, executor))
    }
}
