//! What pools report through [`tracing`](https://docs.rs/tracing) (feature
//! `tracing`) and [`metrics`](https://docs.rs/metrics) (feature `metrics`).
//!
//! Both are off by default, and cost nothing then. Enabled, they cost a few
//! branches per call while no subscriber or recorder is interested: whether
//! a call is traced or timed is decided once, at its first poll (one load of
//! `tracing`'s level filter, one of the timing switch), and a quiet call
//! then only updates its pool's metric handles (the `running` gauge when it
//! takes and frees a slot, its outcome's counter: no-ops without a
//! recorder); a call's span is only created if a subscriber wants it
//! (`tracing::enabled!`), metric handles are registered once per pool when
//! it is built, nothing is formatted or allocated per call, and nothing is
//! reported while a pool's lock is held. Measured in BENCHMARKS.md ("The
//! cost of features tracing and metrics").
//!
//! Every pool reports under its name ([`PoolBuilder::name`](crate::PoolBuilder::name);
//! a group's pool under the group's name, the application-wide ceiling as
//! `(ceiling)`), and pools built without one as `(unnamed)`, together.
//! Pools that share a name add up in its counters and in the `limit`,
//! `running` and `waiting` gauges; the adaptive gauges (`pooled.adaptive.*`)
//! hold one value each, the last one reported by any of them. A pool that goes away (its
//! last handle dropped — an owned permit is one — or a group's isolated instance whose
//! `Isolation` guard is dropped, feature `test-util`)
//! takes its limit out of `pooled.limit` then, and its calls out of
//! `running`/`waiting` as they end. A group's isolated instance leaves the
//! adaptive gauges (`pooled.adaptive.*`, which hold one value each) to the
//! group's shared pool.
//!
//! A subscriber or a recorder is the application's code: one that panics
//! while the pool reports to it (creating, recording or closing a span, an
//! event, a metric update, or describing and registering a pool's or a
//! fleet's metrics when it is built, where a no-op handle stands in for
//! one the recorder did not return) loses that report and nothing else. The panic
//! is caught where the pool reports (the panic hook has shown it) and never
//! unwinds through the pool's accounting: no slot leaks, every call is
//! counted. (Entering and leaving a call's span around its work is the
//! work's own frame: a panic there is the call's panic.)
//!
//! # Feature `tracing`
//!
#![cfg_attr(
    feature = "tracing",
    doc = " Target `pooled` ([`TARGET`]): `RUST_LOG=pooled=debug` shows the events,"
)]
#![cfg_attr(
    not(feature = "tracing"),
    doc = " Target `pooled` (`TARGET`): `RUST_LOG=pooled=debug` shows the events,"
)]
//! `pooled=trace` the call spans too.
//!
//! | what | level | fields |
//! |---|---|---|
//! | span `call`: one per call, from its first poll to its end | TRACE | `pool`, `call` (`submit`, `spawn`, `run`, `blocking`, `permit`), `weight`; recorded later: `wait_us` (admission), `nested` (`true` if it ran under its parent's slot), `outcome` (`completed`, `panicked`, `cancelled`, `rejected`) |
//! | event `call rejected` (inside the call's span) | DEBUG | `pool`, `reason` (`paused`, `closed`, `full`, `timed_out`) |
//! | event `limit changed` | INFO (DEBUG when `adaptive`) | `pool`, `from`, `to`, `cause` (`scale`, `resize`, `bounds`, `reload`, `autoscale`, `adaptive`) |
//! | event `fleet lease lost` (feature `redis`) | WARN | `pool`, `token` |
//! | event `fleet limit mismatch` | WARN | `pool`, `ours`, `in_force` (the limit in Redis, which governs) |
//! | event `fleet redis unreachable` (the first failure after an answer) | WARN | `pool`, `error` |
//! | event `fleet redis reachable again` (the first answer after a failure) | INFO | `pool` |
//! | event `fleet settings refused` (a group's fleet settings fail their check at its first use: it runs without a fleet limit; see [`fleet`](crate::fleet#settings-that-fail-their-check)) | WARN | `pool`, `error` |
//! | event `adaptive window` (each window the adaptive policy closes) | DEBUG | `pool`, `latency_us` (the window's geometric mean), `floor_us` (the unloaded latency), `successes`, `drops`, `from`, `to`, `decision` (`drop_cut`, `latency_cut`, `slow_start`, `probe`, `grow`, `hold`) |
//!
//! The call's span is entered while its work is polled (an async call's
//! work runs in the caller's task, so its events are the span's children;
//! the `call rejected` event names the span as its parent), and, for a
//! blocking call, around the closure on the
//! executor's thread, inside the caller's own span and with the caller's
//! subscriber as that thread's default: a `submit_blocking` (or
//! `#[pooled(blocking)]`) closure sees the context it was submitted from.
//! Its wait is measured on the pool's [`Clock`](crate::Clock): 0 for a call
//! admitted at once.
//!
//! # Feature `metrics`
//!
//! Names follow OpenTelemetry's conventions (dotted, lower case, units in the
//! metadata, not the name; a Prometheus exporter renders `pooled.wait_time`
//! as `pooled_wait_time`), after its semantic conventions for connection
//! pools (`db.client.connection.*`), whose pool is the closest thing to
//! this one: a limit, slots in use, requests waiting for one, and the time
//! spent waiting and holding one.
//!
#![cfg_attr(
    feature = "metrics",
    doc = " | name ([`metric`]) | kind | unit | labels | the connection-pool convention it follows |"
)]
#![cfg_attr(
    not(feature = "metrics"),
    doc = " | name (`metric`) | kind | unit | labels | the connection-pool convention it follows |"
)]
//! |---|---|---|---|---|
//! | `pooled.calls` | counter | calls | `pool`, `outcome` (`completed`, `panicked`, `cancelled`, `rejected`), `reason` (with `rejected`: `paused`, `closed`, `full`, `timed_out`) | `db.client.connection.timeouts` is `outcome="rejected", reason="timed_out"` |
//! | `pooled.limit` | gauge | slots | `pool` | `db.client.connection.max` |
//! | `pooled.running` | gauge | slots | `pool` | `db.client.connection.count{state="used"}` |
//! | `pooled.waiting` | gauge | calls | `pool` | `db.client.connection.pending_requests` |
//! | `pooled.wait_time` | histogram | seconds | `pool` | `db.client.connection.wait_time` |
//! | `pooled.run_time` | histogram | seconds | `pool` | `db.client.connection.use_time` |
//! | `pooled.adaptive.floor` | gauge | seconds | `pool` | — (adaptive pools: the server's unloaded latency, as the policy holds it) |
//! | `pooled.adaptive.latency` | gauge | seconds | `pool` | — (adaptive pools: the latest window's latency) |
//! | `pooled.fleet.held` | gauge | leases | `pool` | — (feature `redis`: fleet leases this process holds) |
//! | `pooled.fleet.waiting` | gauge | calls | `pool` | — (calls of this process waiting for a fleet lease, holding their local slot) |
//! | `pooled.fleet.limit` | gauge | leases | `pool` | — (the fleet limit in force in Redis) |
//! | `pooled.fleet.lost` | counter | leases | `pool` | — (leases a renewal found expired or gone) |
//! | `pooled.fleet.reclaimed` | counter | leases | `pool` | — (expired leases of any process removed by this process's acquires) |
//! | `pooled.fleet.redis_errors` | counter | commands | `pool` | — (fleet commands that failed: unreachable, timed out, refused) |
//! | `pooled.fleet.local_fallbacks` | counter | calls | `pool` | — (calls run under the local limit alone while Redis was unreachable, policy `local`) |
//!
//! Where it departs from the convention, and why: the pool is named by a
//! plain `pool` label (a Prometheus label cannot contain dots, and there is
//! no database here); one `pooled.calls` counter with an `outcome` label
//! replaces a counter per outcome, so that rates of each outcome divide by
//! one total; `running` and `waiting` are gauges of their own rather than
//! one count with a `state` label, since a waiting call holds no slot.
//!
//! The counters count what [`Stats`](crate::Stats) counts, by the same rules
//! (a call counts once it is first polled; `completed` here excludes the
//! panicked calls, which `Stats` counts in both), except that `running`
//! excludes calls nested under their parent's slot and a call counts as
//! admitted (or no longer waiting) when it sees so, not when the pool
//! decides it: the gauges lag by a wake-up, and agree whenever the pool is
//! quiet.
//!
#![cfg_attr(
    feature = "metrics",
    doc = " **The histograms need [`time_calls`]`(true)`.** Timing a call reads the"
)]
#![cfg_attr(
    not(feature = "metrics"),
    doc = " **The histograms need `time_calls``(true)`.** Timing a call reads the"
)]
//! clock twice (some 20 ns each, as much as the whole uncontended call), and
//! a metric handle cannot tell whether a recorder listens, so the clock is
//! read only while timing is on (as tokio keeps its poll-time histogram
//! behind `enable_metrics_poll_time_histogram`). The counters and gauges
//! need nothing.
//!
//! **Install the recorder before pools are built.** Handles are registered
//! with the recorder in force when a pool is built (a group's pool: at the
//! group's first use); a pool built before a recorder was installed reports
//! to none.

#[cfg(feature = "metrics")]
use std::sync::atomic::{AtomicBool, Ordering};

/// The target of every span and event (feature `tracing`).
///
/// # Examples
///
/// ```
/// use pool_runtime::observe::TARGET;
/// use pool_runtime::{Pool, Rejected};
/// use std::sync::{Arc, Mutex};
/// use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
///
/// /// Collects the targets of the events it sees.
/// #[derive(Clone, Default)]
/// struct Targets(Arc<Mutex<Vec<String>>>);
///
/// impl<S: tracing::Subscriber> Layer<S> for Targets {
///     fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
///         self.0.lock().unwrap().push(event.metadata().target().to_owned());
///     }
/// }
///
/// let targets = Targets::default();
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(targets.clone()), || {
///     let pool = Pool::fixed(1);
///     pool.pause();
///     assert_eq!(pool.run(|| ()), Err(Rejected::Paused)); // a `call rejected` event
/// });
/// let targets = targets.0.lock().unwrap();
/// assert!(!targets.is_empty());
/// assert!(targets.iter().all(|target| target == TARGET));
/// ```
#[cfg(feature = "tracing")]
pub const TARGET: &str = "pooled";

/// The names of the metrics (feature `metrics`).
///
/// # Examples
///
/// ```
/// use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
/// use pool_runtime::observe::metric;
/// use pool_runtime::Pool;
/// use std::sync::Mutex;
///
/// /// Notes the name of every metric registered with it.
/// #[derive(Default)]
/// struct Names(Mutex<Vec<String>>);
///
/// impl Names {
///     fn note(&self, key: &Key) {
///         self.0.lock().unwrap().push(key.name().to_owned());
///     }
/// }
///
/// impl Recorder for Names {
///     fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
///     fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
///     fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
///     fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
///         self.note(key);
///         Counter::noop()
///     }
///     fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
///         self.note(key);
///         Gauge::noop()
///     }
///     fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
///         self.note(key);
///         Histogram::noop()
///     }
/// }
///
/// let names = Names::default();
/// let pool = metrics::with_local_recorder(&names, || Pool::builder().name("db").build())?;
/// let names = names.0.lock().unwrap();
/// for name in [metric::CALLS, metric::LIMIT, metric::RUNNING, metric::WAITING] {
///     assert!(names.iter().any(|n| n == name), "{name} is registered as the pool is built");
/// }
/// # drop(pool);
/// # Ok::<(), pool_runtime::BuildError>(())
/// ```
#[cfg(feature = "metrics")]
pub mod metric {
    /// Counter: calls by `outcome` (and `reason`, for rejections).
    pub const CALLS: &str = "pooled.calls";
    /// Gauge: the pool's limit.
    pub const LIMIT: &str = "pooled.limit";
    /// Gauge: slots held by running calls.
    pub const RUNNING: &str = "pooled.running";
    /// Gauge: calls waiting for a slot.
    pub const WAITING: &str = "pooled.waiting";
    /// Histogram (seconds): from a call's first poll to its admission.
    pub const WAIT_TIME: &str = "pooled.wait_time";
    /// Histogram (seconds): how long a call held its own slot.
    pub const RUN_TIME: &str = "pooled.run_time";
    /// Gauge (seconds): the adaptive policy's unloaded latency.
    pub const ADAPTIVE_FLOOR: &str = "pooled.adaptive.floor";
    /// Gauge (seconds): the latency of the adaptive policy's latest window.
    pub const ADAPTIVE_LATENCY: &str = "pooled.adaptive.latency";
    /// Gauge: fleet leases this process holds (feature `redis`).
    pub const FLEET_HELD: &str = "pooled.fleet.held";
    /// Gauge: calls of this process waiting for a fleet lease.
    pub const FLEET_WAITING: &str = "pooled.fleet.waiting";
    /// Gauge: the fleet limit in force in Redis.
    pub const FLEET_LIMIT: &str = "pooled.fleet.limit";
    /// Counter: fleet leases lost (a renewal found them expired or gone).
    pub const FLEET_LOST: &str = "pooled.fleet.lost";
    /// Counter: expired fleet leases this process's acquires removed.
    pub const FLEET_RECLAIMED: &str = "pooled.fleet.reclaimed";
    /// Counter: Redis commands of the fleet that failed.
    pub const FLEET_REDIS_ERRORS: &str = "pooled.fleet.redis_errors";
    /// Counter: calls run under the local limit alone, Redis unreachable.
    pub const FLEET_LOCAL_FALLBACKS: &str = "pooled.fleet.local_fallbacks";
}

#[cfg(feature = "metrics")]
static TIMING: AtomicBool = AtomicBool::new(false);

/// Turns call timing on or off, for every pool (feature `metrics`; off by
/// default): while it is on, calls are timed for the `pooled.wait_time` and
/// `pooled.run_time` histograms. A call admitted while it is off is not
/// timed.
///
/// # Examples
///
/// ```
/// pool_runtime::observe::time_calls(true);
/// assert!(pool_runtime::observe::times_calls());
/// # pool_runtime::observe::time_calls(false);
/// ```
#[cfg(feature = "metrics")]
pub fn time_calls(on: bool) {
    TIMING.store(on, Ordering::Relaxed);
}

/// Whether call timing is on (see [`time_calls`]).
///
/// # Examples
///
/// ```
/// use pool_runtime::observe::{time_calls, times_calls};
///
/// assert!(!times_calls(), "off by default");
/// time_calls(true);
/// assert!(times_calls());
/// time_calls(false);
/// assert!(!times_calls());
/// ```
#[cfg(feature = "metrics")]
#[inline]
pub fn times_calls() -> bool {
    TIMING.load(Ordering::Relaxed)
}
