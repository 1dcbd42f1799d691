//! The latency-adaptive limit: keep the server behind the pool below its knee.
//!
//! The queue-depth rule grows the pool whenever calls wait, so under overload
//! it climbs to `max` and keeps hammering the server it was meant to protect.
//! This policy instead watches what the server does with the concurrency it
//! gets — each call's latency (from admission to completion: time spent
//! waiting in the pool is not the server's) and whether the server refused
//! it (the caller's `overload` judgement: an "overloaded" answer, a timeout
//! of the call itself) — and moves the limit once per round trip at most
//! (drops excepted: they act at once, below):
//!
//! * **Start.** The pool starts where the user says (`size`, else `min`, or
//!   1 if `min` is 0) and
//!   doubles its limit every round trip while calls wait for a slot and the
//!   server shows no sign of load (TCP's slow start). A window of the start
//!   needs at most four rounds of the limit in calls (fewer than
//!   `window_samples` where the limit is small), and below three slots the
//!   step is two slots at least (1 → 3): at one slot ten calls are ten
//!   round trips, and the backlog of that time would keep the start
//!   doubling past the server's knee later. The first sign of
//!   load — drops that cut (below; a window with a drop too few to cut
//!   holds the limit, and the start goes on after it), a latency rise, or
//!   a window that surely queued a call at the server (below) — ends the
//!   doubling, and so does the first
//!   window in which no call waited: demand that does not fill the limit
//!   says nothing about the server, and a light load's bursts that merely
//!   neared it would otherwise double it far past the server's capacity,
//!   which the first round trips of a heavy load then run at.
//! * **Windows.** Calls are sampled in windows of at least `window_samples`
//!   calls, `window_time`, and one round trip (the typical latency), so the
//!   limit moves at most once per round trip and the calls it judges ran at
//!   the limit it set. A window's latency is the geometric mean of its
//!   calls' latencies (the mean of their logarithms): one slow call in a
//!   heavy-tailed window moves it as much as one fast call does.
//! * **Drops act at once.** Overload answers do not wait for the window's
//!   time or round trip: once `window_samples` calls admitted since the last
//!   cut are in (or, sooner, three drops: a burst of refusals is judged
//!   before the window fills, since every one is a call lost and a server
//!   that refuses at once can drain the whole queue into refusals within a
//!   few milliseconds), with at least two drops and more than `drop_tolerance` of
//!   them (above the server's background rate, if it has one: below), the
//!   limit is cut — to the concurrency the server has lately
//!   served without queueing (success throughput × unloaded latency, the
//!   bandwidth-delay product), or by the drop rate (`limit × (1 − rate)`) if
//!   that leaves more; by one slot at least and to `limit × backoff` at most.
//!   A server that refuses what exceeds its capacity is met at its capacity,
//!   not at half of it — even one that refuses at once, whose refusals free
//!   their slots at once and so outnumber its successes among finished
//!   calls. Drops of calls admitted before a cut say nothing about the new
//!   limit and are not counted against it: a burst of refusals that arrives
//!   together is one cut, not a cascade.
//! * **Drops the limit does not cause.** Some servers refuse a share of
//!   calls at any concurrency: a token bucket with no burst to speak of
//!   (two calls a few milliseconds apart find it empty however few are in
//!   flight), errors of the server's own that the `overload` predicate
//!   accepts. Cutting cannot lower that rate — at a lower limit the calls
//!   queued in the pool go out back to back as slots free, and a bucket
//!   refuses even more of them — and every cut only takes throughput. So
//!   when two cuts in a row left the drop rate where it was (the next
//!   window's rate at least 0.8× the rate that made the cut, the limit cut
//!   by a tenth or more, or already at `min`), their mean rate is the
//!   server's *background*: from then on drops cut only past
//!   `drop_tolerance` above it and three standard errors of its sampling
//!   noise (a window of a few calls cuts only on nearly all of them
//!   dropped), and drops under that do not stop the limit from growing. The
//!   background fades toward the rate of windows with fewer drops, so it
//!   goes when the server stops refusing; it rises only as it is learned,
//!   and never past 0.9 (a server refusing nearly every call is down, or as
//!   good as: the limit stays cut). Drops that a cut does lower (a
//!   server that refuses what exceeds its capacity) teach no background.
//!   On the simulator's token bucket of one token (`sim/RESULTS.md`, blind
//!   set) the limit went from `min` for the whole run (0.63× the oracle's
//!   goodput) to 0.92–0.94× of it.
//! * **After drops, caution.** Growth within a step of the limit that last
//!   drew drops — or, after the start, a congested window or one that
//!   surely queued four calls at the server (how a collapse past a cliff
//!   begins, before any timeout) — is a tenth of a slot per window; that
//!   level relaxes upward by a twentieth of itself per `baseline_interval`,
//!   so a server that has grown is found again. The first episode of such
//!   trouble marks no level: it is most often the start's own burst (the
//!   backlog the last doubling let in at once), which a server that takes
//!   the same concurrency spread out does not repeat; a level is marked from
//!   the next episode on (one that follows a window past the start that used
//!   the limit without trouble), which a cliff does repeat. On the
//!   simulator's long link (600 ms fixed; `sim/RESULTS.md`) a level marked
//!   by the start's burst held the limit at 0.71× the oracle's goodput for
//!   the whole run; the cost is one more episode of drops where the first
//!   was a real cliff.
//! * **Floor.** The server's unloaded latency is the mean log-latency of the
//!   calls of windows that did not load it: followed during the start (the
//!   limit is below the knee until the server shows load) and in windows
//!   that did not use the limit or ran at `min`, forgetting with a time
//!   constant of `baseline_interval`; never in loaded windows, whose
//!   queueing it would take for the server's speed. A mean of calls, not of
//!   windows: a window that looks fast closes early, so a mean (or minimum)
//!   of windows sits below the server's latency. When the running average
//!   of windows falls below it by two of its standard errors, the server got
//!   faster and the floor follows at once. Traffic is held back to measure
//!   it only by a probe, below.
//! * **Probe.** Under a backlog that never lets up no window is unloaded,
//!   and a floor set by the start's few calls is never corrected: one set
//!   low reads as a queue for good and holds the limit below a server that
//!   has room. So when the limit has been held by a queue for 8 windows in
//!   a row with calls waiting for a slot, and that queue may be the floor's
//!   own error (two of the floor's standard errors are worth half a call,
//!   and with the floor that much higher the queue would be under half a
//!   call), the limit
//!   goes a quarter below for two windows: the first drains the server,
//!   the second, of as many calls as the floor stands on (up to the
//!   longest window), feeds the floor as an unloaded window; then the
//!   limit returns. Each probe doubles the calls the floor stands on, so a
//!   few make it sure and the probes stop; a floor fed by light load is
//!   never probed.
//! * **Queue.** Little's law turns latency into calls: of the calls in
//!   flight over a window, the share `1 − floor / latency` of their time is
//!   spent beyond the unloaded latency — calls waiting at the server, not
//!   served. Measured at the typical latency (the running average of
//!   windows): past its knee a server queues every call added, so once half
//!   a call waits there the limit stops growing, and it grows in smaller
//!   steps as that queue builds; a window that surely queued half a call
//!   (even two standard errors below its mean) holds it too, before the
//!   average sees it. Half a call, not one: behind a long round trip one
//!   queued call is a rise of 1–2%, within noise, and a server may collapse
//!   there (a cliff). During the start, where the limit doubles per
//!   window and the average lags, the window itself decides: one that
//!   surely queued a call (even two standard errors below its mean) ends
//!   the doubling, and the floor does not take it.
//! * **Noise.** The variance of calls' log-latencies is pooled over windows.
//!   A window that might be congested runs until its mean's standard error
//!   is a third of `ln(tolerance)` (or 16 × `window_samples` calls), and it
//!   is *congested* only when its latency exceeds the floor by `tolerance`
//!   and two standard errors (of the difference: the window's and the
//!   floor's, which stands on fewer calls early on): latency that merely
//!   wobbles as much as it always does moves the limit neither way, and a
//!   heavy-tailed server does not drag it down.
//! * **Update.** A congested window moves the limit `smoothing` of the way to
//!   `limit × floor·tolerance·noise / latency` (at most halving it). A window
//!   that used the limit (its peak running count reached 80% of it) and was
//!   not congested moves it `smoothing · sqrt(limit) · (1 − queue / ½)` up
//!   while the server queues less than half a call, and holds it after; during the
//!   start, if a call waited for a slot, it doubles it. A window with a drop
//!   too few to cut (a single one, or under `drop_tolerance`) holds it: a
//!   limit that loses a call in every window is not one to grow past.
//! * The limit stays within `[min, max]`.
//!
//! Admission timeouts and calls turned away by the pool itself are never
//! drops: they measure the pool's own queue, which a lower limit only makes
//! longer.

use crate::pool::error::BuildError;
use pool_settings::adaptive as limits;
use std::ops::RangeInclusive;
use std::time::Duration;

/// Parameters of the latency-adaptive policy. Defaults: windows of at least
/// 10 calls and 100 ms (and one round trip), tolerance 1.2, smoothing 0.35,
/// an unloaded-latency floor with a time constant of 30 s, and a cut of at
/// most half past a 2% drop rate. See the module
/// docs of the policy (and `sim/RESULTS.md` for the measurements) for what
/// each does.
///
/// Each number has a range (the associated constants below); the builder
/// rejects values outside it, NaN included, with a
/// [`BuildError::OutOfRange`]. Durations may be anything: one too long to
/// pass (`Duration::MAX`) means "never".
///
/// The limit itself stays within the pool's `[min, max]`, and `min`
/// defaults to 3 (or `max` if smaller), as for any autoscaled pool: in
/// front of a server that may serve fewer than 3 calls at once, set
/// `min` to 1 (`.min(1)`, or `min = 1` in the attribute or the file) so
/// that the limit can go that low.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveSettings {
    /// Least calls in a window, within [`WINDOW_SAMPLES`](Self::WINDOW_SAMPLES).
    pub window_samples: u32,
    /// Least time a window spans.
    pub window_time: Duration,
    /// How much slower than the baseline latency may be before the limit
    /// falls, within [`TOLERANCE`](Self::TOLERANCE).
    pub tolerance: f64,
    /// Fraction of the way to the target the limit moves per window, within
    /// [`SMOOTHING`](Self::SMOOTHING).
    pub smoothing: f64,
    /// The time constant of the unloaded-latency floor in windows that did
    /// not load the server, and of the relaxing of the level that last drew
    /// drops.
    pub baseline_interval: Duration,
    /// The deepest cut drops make at once: the limit is cut to no less than
    /// `limit × backoff`, within [`BACKOFF`](Self::BACKOFF).
    pub backoff: f64,
    /// Drop rate a window may have without backing off (above the rate the
    /// server refuses at whatever the limit, once the policy has learned
    /// one: see the module docs), within
    /// [`DROP_TOLERANCE`](Self::DROP_TOLERANCE).
    pub drop_tolerance: f64,
}

impl AdaptiveSettings {
    /// The defaults, usable in `const` contexts (group statics).
    pub const DEFAULT: AdaptiveSettings = AdaptiveSettings {
        window_samples: 10,
        window_time: Duration::from_millis(100),
        tolerance: 1.2,
        smoothing: 0.35,
        baseline_interval: Duration::from_secs(30),
        backoff: 0.5,
        drop_tolerance: 0.02,
    };

    /// Each parameter's key (as in a file: `adaptive_<name>`) and value, in
    /// the order of `pool_settings::adaptive::PARAMETERS`.
    pub(crate) fn keyed(&self) -> [(&'static str, String); 7] {
        [
            ("adaptive_window_samples", self.window_samples.to_string()),
            ("adaptive_window_time", format!("{:?}", self.window_time)),
            ("adaptive_tolerance", self.tolerance.to_string()),
            ("adaptive_smoothing", self.smoothing.to_string()),
            (
                "adaptive_baseline_interval",
                format!("{:?}", self.baseline_interval),
            ),
            ("adaptive_backoff", self.backoff.to_string()),
            ("adaptive_drop_tolerance", self.drop_tolerance.to_string()),
        ]
    }
}

impl AdaptiveSettings {
    /// The range of `window_samples`: a window needs a call to measure, and
    /// one of more than 10 000 calls would hold the limit still for longer
    /// than any server stays the same.
    pub const WINDOW_SAMPLES: RangeInclusive<u32> = limits::WINDOW_SAMPLES;
    /// The range of `tolerance`: a finite number of at least 1 (below 1 the
    /// limit would fall at the baseline latency itself).
    pub const TOLERANCE: RangeInclusive<f64> = limits::TOLERANCE;
    /// The range of `smoothing`, a fraction.
    pub const SMOOTHING: RangeInclusive<f64> = limits::SMOOTHING;
    /// The range of `backoff`, a multiplier that does not grow the limit.
    pub const BACKOFF: RangeInclusive<f64> = limits::BACKOFF;
    /// The range of `drop_tolerance`, a rate.
    pub const DROP_TOLERANCE: RangeInclusive<f64> = limits::DROP_TOLERANCE;

    /// The numbers with their names and ranges, for checking and clamping.
    fn numbers(&mut self) -> [(&'static str, &mut f64, RangeInclusive<f64>, f64); 4] {
        let d = Self::DEFAULT;
        [
            (
                "AdaptiveSettings::tolerance",
                &mut self.tolerance,
                Self::TOLERANCE,
                d.tolerance,
            ),
            (
                "AdaptiveSettings::smoothing",
                &mut self.smoothing,
                Self::SMOOTHING,
                d.smoothing,
            ),
            (
                "AdaptiveSettings::backoff",
                &mut self.backoff,
                Self::BACKOFF,
                d.backoff,
            ),
            (
                "AdaptiveSettings::drop_tolerance",
                &mut self.drop_tolerance,
                Self::DROP_TOLERANCE,
                d.drop_tolerance,
            ),
        ]
    }

    /// Checks every field against its range.
    ///
    /// # Errors
    ///
    /// [`BuildError::OutOfRange`] naming the first field out of its range.
    ///
    /// # Examples
    ///
    /// ```
    /// use pool_runtime::{AdaptiveSettings, BuildError};
    ///
    /// let nan = AdaptiveSettings { smoothing: f64::NAN, ..AdaptiveSettings::DEFAULT };
    /// assert_eq!(
    ///     nan.validate().unwrap_err().to_string(),
    ///     "`AdaptiveSettings::smoothing` = NaN is out of range: expected a number from 0 to 1"
    /// );
    /// assert_eq!(AdaptiveSettings::DEFAULT.validate(), Ok(()));
    /// ```
    pub fn validate(&self) -> Result<(), BuildError> {
        let samples = Self::WINDOW_SAMPLES;
        if !samples.contains(&self.window_samples) {
            return Err(BuildError::OutOfRange {
                setting: "AdaptiveSettings::window_samples",
                value: self.window_samples.to_string(),
                expected: limits::expected_calls(),
            });
        }
        let mut copy = *self;
        for (setting, value, range, _) in copy.numbers() {
            if !range.contains(value) {
                return Err(BuildError::OutOfRange {
                    setting,
                    value: format!("{value:?}"),
                    expected: limits::expected(&range),
                });
            }
        }
        Ok(())
    }

    /// These settings with every field brought into its range (NaN becomes
    /// the default), for settings that reach a pool without a builder's
    /// check (a hand-written `GroupSpec`).
    pub(crate) fn clamped(mut self) -> Self {
        let samples = Self::WINDOW_SAMPLES;
        self.window_samples = self.window_samples.clamp(*samples.start(), *samples.end());
        for (_, value, range, default) in self.numbers() {
            *value = if value.is_nan() {
                default
            } else {
                value.clamp(*range.start(), *range.end())
            };
        }
        self
    }
}

impl Default for AdaptiveSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How a finished call went, for the adaptive policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The server did the work: its latency is a sample.
    Success,
    /// The server refused or failed under load (an "overloaded" answer, a
    /// timeout): the call counts as a drop.
    Overload,
    /// Says nothing about the server (cancelled by the caller, an unrelated
    /// error): not sampled.
    Ignore,
}

#[derive(Debug, Default)]
struct Window {
    started: Duration,
    /// Sum of the natural logarithms of the successes' latencies (seconds),
    /// and of their squares.
    log_sum: f64,
    log_squares: f64,
    successes: u32,
    drops: u32,
    peak_running: usize,
    /// Seconds the window's successes spent running: over the window's
    /// length (at least a round trip), throughput times latency — the
    /// concurrency the server actually served (Little's law).
    busy: f64,
}

/// Two windows below the limit that re-measure the unloaded latency. The
/// floor learns only from windows that did not load the server, and under
/// a backlog that never lets up there are none: a floor set low by the
/// start's few calls would read as a queue for good and hold the limit far
/// below a server that has room (the simulator's `cap-rise`, seeds 102 and
/// 104: 8–10 slots for 50 s at a capacity of 24).
/// The limit during a probe is the limit before it times [`PROBE_SHARE`]
/// exactly (a probe that `min` would clamp is not made), so the state needs
/// no copy of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    /// The first window below the limit: its calls were admitted above it,
    /// and the server's queue drains.
    Draining,
    /// The second: its calls are the unloaded server's. Then the limit
    /// returns to where it was.
    Measuring,
}

/// How many standard errors of its mean a window's latency must be above
/// the congestion threshold to count (one window in forty, from noise alone).
const NOISE_ERRORS: f64 = 2.0;
/// A window that might be congested keeps sampling until the standard error of its mean
/// log-latency is at most `ln(tolerance) / PRECISION`, so that noise is
/// small next to the rise the tolerance allows...
const PRECISION: f64 = 3.0;
/// ...or until it holds this many times `window_samples` calls.
const MAX_WINDOW_STRETCH: u32 = 16;
/// How fast the typical window latency (the round trip) is followed.
const TRACKING: f64 = 0.2;
/// The standard error of that running average, over one window's:
/// `sqrt(TRACKING / (2 − TRACKING))` (an exponential average of independent
/// windows).
const AVERAGE_ERROR: f64 = 1.0 / 3.0;
/// The share of the limit a window's peak must reach for the limit to
/// count as used (and so be allowed to grow).
const USED: f64 = 0.8;
/// Drops that close a window before it holds `window_samples` calls.
const BURST: u32 = 3;
/// Slots per window the limit grows by near the level that drew drops.
const CAUTIOUS_STEP: f64 = 0.1;
/// How far past the level that drew drops growth stays cautious.
const CAUTIOUS_BAND: f64 = 0.1;
/// How fast the level that drew drops (or a queue) relaxes: by this
/// fraction of itself per `baseline_interval`. Slow, because a server that
/// refuses past a cliff refuses there again; relaxing it fully per interval
/// brought the limit back over the cliff every 20 s on the simulator's slow
/// link, and a quarter per interval every 25–30 s.
const DROP_LEVEL_RELAXING: f64 = 0.05;
/// Calls a window (past the start) must surely have queued at the server
/// for its limit to count as a level to be careful near, as if it had drawn
/// drops: a collapse past a cliff shows first as a queue of a few calls,
/// before the latency test or any timeout sees it.
const TROUBLE_QUEUED: f64 = 4.0;
/// The most a congested window cuts (the gradient's lower clamp).
const DEEPEST_LATENCY_CUT: f64 = 0.5;
/// Calls the server may hold queued (beyond those it serves) before the
/// limit stops growing: half a call. Past its knee every extra slot is one
/// more call waiting there: latency grows for nothing, and a server that
/// slows down as it queues (contention) serves less. Half rather than one:
/// behind a long round trip one queued call is a rise of 1–2% that the
/// estimate cannot tell from noise, and growth that stops at one call
/// stops at a server's cliff (the simulator's slow link collapses past ~77
/// in flight, where its queue is ~1: holding at one call failed 49 calls
/// there, at half a call 0; `sim/RESULTS.md`).
const QUEUED: f64 = 0.5;
/// The share of the limit a probe (see [`Probe`]) runs at: below the knee
/// of a server that queues up to a quarter of the limit, more than the
/// tolerance lets it queue. Going only one call below the queue the floor
/// reads (but no deeper than this) measured the same on the simulator.
const PROBE_SHARE: f64 = 0.75;
/// Windows in a row the limit must have been held by a queue, with calls
/// waiting for a slot, before a probe: a hold that the next windows lift
/// is no reason to slow the pool.
const PROBE_AFTER: u8 = 8;
/// The most calls a window of the start needs, in rounds of the limit:
/// below `window_samples` only at a limit of one or two slots (with the
/// default 10; three rounds, 9 calls at 3, changed the default start, to
/// which the simulator's slow link is that sensitive).
const START_ROUNDS: f64 = 4.0;
/// The least slots the start adds per window: from one slot it goes to
/// three, not two — at one or two slots a window spans several round
/// trips, and the default start (from 3) is the one measured.
const START_STEP: f64 = 2.0;
/// The queue that ends the start: one call, by the typical latency or
/// surely by the window's own (even two standard errors below its mean).
/// The floor then stands on few calls, and half a call of its noise would
/// end the start of a server with no knee.
const START_QUEUED: f64 = 1.0;

/// A cut "did not lower" the drop rate when the next window's rate is at
/// least this share of the rate that made it...
const UNHELPED_RATE: f64 = 0.8;
/// ...and the cuts of such a row took the limit to this share of what it
/// was before them, or to `min`.
const UNHELPED_CUT: f64 = 0.5;
/// Cuts in a row that did not lower the drop rate before it is taken for
/// the server's background rate.
const UNHELPED_CUTS: u8 = 2;
/// How many standard errors of the background rate a window's drop rate
/// must be above it (and `drop_tolerance`) to cut: windows are judged after
/// each drop, from a few calls on, and each look is a chance for noise.
const DROP_NOISE_ERRORS: f64 = 3.0;
/// The highest drop rate taken for a background: above it the server
/// refuses most calls whatever the limit, and the limit stays cut (a
/// background only rises when it is learned, so it never passes this).
const MAX_BACKGROUND: f64 = 0.9;
/// How far a window whose drops did not cut moves the background rate
/// toward its own.
const BACKGROUND_FORGET: f64 = 0.1;

/// Where the policy is: the start, then its episodes of trouble (drops, or
/// a queue at the server). One field for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Doubling per round trip until the first sign of load.
    Starting,
    /// Past the start, no trouble yet.
    Calm,
    /// In the first episode of trouble: it marks no level
    /// ([`trouble`](AdaptiveLimit::trouble)).
    FirstTrouble,
    /// Past the first episode: trouble marks a level.
    Later,
}

/// The policy's state: lives under the pool lock.
#[derive(Debug)]
pub(crate) struct AdaptiveLimit {
    settings: AdaptiveSettings,
    limit: f64,
    /// The start, then the episodes of trouble.
    stage: Stage,
    /// Whether a call of the current window waited for a slot: one was
    /// queued in the pool when a call finished (a waiting call is admitted
    /// only as another finishes).
    waited: bool,
    /// Log of the unloaded latency: the mean log-latency of the calls of
    /// windows that did not load the server, forgetting with time.
    floor: Option<f64>,
    /// How many calls the floor's mean stands on (decaying with time as
    /// the floor forgets). An `f32`: a count of calls needs no more.
    floor_samples: f32,
    /// Running average of window log-latencies (the round trip).
    average: f64,
    /// Running average of the variance of calls' log-latencies within a
    /// window: the server's noise, pooled over windows so that one window's
    /// luck does not decide how much its mean is trusted.
    variance: Option<f64>,
    /// When the limit was last cut for drops: drops of calls admitted
    /// before then are not held against the new limit.
    cut_at: Option<Duration>,
    /// The limit that last drew drops, and when.
    drops_at: Option<(f64, Duration)>,
    /// The concurrency the server has lately served without queueing
    /// (success throughput times the unloaded latency): rises at once,
    /// falls slowly.
    served: Option<f64>,
    window: Window,
    /// A probe below the limit under way, if any.
    probe: Option<Probe>,
    /// Windows in a row held by a queue with calls waiting (and not
    /// probed since).
    held_for: u8,
    /// Cuts in a row that did not lower the drop rate (see `background`).
    unhelped: u8,
    /// The limit before the first of those cuts.
    unhelped_from: f32,
    /// The drop rate the server keeps whatever the limit: the lower of the
    /// rates around two cuts in a row that did not lower it (a token
    /// bucket with no burst to speak of, errors of the server's own that
    /// the `overload` predicate accepts). Only drops above it are the
    /// limit's doing; it decays toward lower rates seen since.
    background: f32,
    /// The drop rate that made the last cut and the limit it cut, until the
    /// next window says whether the cut lowered the rate.
    after_cut: Option<(f32, f32)>,
    /// What the last closed window decided, until the pool reports it.
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    report: Option<WindowReport>,
}

impl AdaptiveLimit {
    pub(crate) fn new(settings: AdaptiveSettings, limit: usize, now: Duration) -> Self {
        AdaptiveLimit {
            // Builders validate; this keeps the arithmetic finite whatever
            // reaches the pool.
            settings: settings.clamped(),
            limit: limit as f64,
            stage: Stage::Starting,
            waited: false,
            floor: None,
            floor_samples: 0.0,
            average: 0.0,
            variance: None,
            cut_at: None,
            drops_at: None,
            served: None,
            window: Window {
                started: now,
                ..Window::default()
            },
            probe: None,
            held_for: 0,
            unhelped: 0,
            unhelped_from: 0.0,
            background: 0.0,
            after_cut: None,
            #[cfg(any(feature = "tracing", feature = "metrics"))]
            report: None,
        }
    }

    /// The limit was changed by hand (`scale`, `resize`, configuration): start from it.
    ///
    /// The pool calls this after every change of its limit or bounds, also
    /// one that leaves its limit where it was (bounds that still hold it, a
    /// reload of other settings, `scale(0)`): then nothing was changed, and
    /// a probe under way goes on, to return the limit it stands in for.
    /// Ended there, it would leave the limit a quarter down for good (and
    /// probe a quarter below that next: the hold it measures is still
    /// counted).
    pub(crate) fn reset_to(&mut self, limit: usize) {
        if self.probe.is_some() && limit == self.limit.round() as usize {
            return;
        }
        self.limit = limit as f64;
        self.probe = None;
        // Not held by a queue: a probe waits for a new row of held windows.
        self.held_for = 0;
    }

    /// The unloaded latency the policy holds, if it has measured one.
    #[cfg(test)]
    fn floor(&self) -> Option<Duration> {
        self.floor.map(|log| Duration::from_secs_f64(log.exp()))
    }

    /// At least two drops, and more than the tolerated share of the calls
    /// above the server's background rate.
    fn too_many_drops(&self, drops: u32, samples: u32) -> bool {
        drops >= 2 && f64::from(drops) / f64::from(samples) > self.drop_threshold(samples)
    }

    /// The drop rate past which the drops of `samples` calls cut the limit:
    /// `drop_tolerance` above the background rate and three standard errors
    /// of its sampling noise.
    fn drop_threshold(&self, samples: u32) -> f64 {
        let background = f64::from(self.background);
        let noise = (background * (1.0 - background) / f64::from(samples.max(1))).sqrt();
        self.settings.drop_tolerance + background + DROP_NOISE_ERRORS * noise
    }

    /// Learns from a closed window's drop `rate` whether the last cut
    /// lowered it: drops that cuts in a row left where they were, while they
    /// halved the limit (or took it to `low`), are not the limit's doing.
    fn learn_background(&mut self, rate: f64, low: f64) {
        if let Some((then, limit_then)) = self.after_cut.take() {
            let then = f64::from(then);
            if rate >= then * UNHELPED_RATE {
                if self.unhelped == 0 {
                    self.unhelped_from = limit_then;
                }
                self.unhelped = self.unhelped.saturating_add(1);
                let halved = self.limit <= f64::from(self.unhelped_from) * UNHELPED_CUT
                    || self.limit < low + 0.5;
                let learned = (rate + then) / 2.0;
                // (A server that refuses nearly everything is down, or
                // as good as: the limit stays cut.)
                if self.unhelped >= UNHELPED_CUTS && halved && learned <= MAX_BACKGROUND {
                    self.background = self.background.max(learned as f32);
                    self.unhelped = 0;
                }
            } else {
                self.unhelped = 0;
            }
        } else if rate < f64::from(self.background) {
            // Fades toward the rate of windows with fewer drops; it rises
            // only by the rule above (windows just under the cut would
            // otherwise raise it until nothing cuts).
            let background = f64::from(self.background);
            self.background = (background + (rate - background) * BACKGROUND_FORGET) as f32;
        }
    }

    /// Records one finished call; returns the new limit when a window closes
    /// and the limit moves. `running` is the running count before the call
    /// released its slot, `waiting` the calls then waiting for one.
    pub(crate) fn observe(
        &mut self,
        now: Duration,
        latency: Duration,
        verdict: Verdict,
        running: usize,
        waiting: usize,
        bounds: (usize, usize),
    ) -> Option<usize> {
        let admitted = now.saturating_sub(latency);
        self.waited |= waiting > 0;
        let w = &mut self.window;
        w.peak_running = w.peak_running.max(running);
        match verdict {
            Verdict::Success => {
                w.busy += latency.as_secs_f64();
                let log = latency.as_secs_f64().max(1e-9).ln();
                w.log_sum += log;
                w.log_squares += log * log;
                w.successes = w.successes.saturating_add(1);
            }
            // A drop of a call sent before the last cut judged the old limit.
            Verdict::Overload if self.cut_at.is_some_and(|cut| admitted < cut) => return None,
            Verdict::Overload => w.drops = w.drops.saturating_add(1),
            Verdict::Ignore => return None,
        }
        let s = self.settings;
        let (samples, drops) = (w.successes.saturating_add(w.drops), w.drops);
        let elapsed = now.saturating_sub(w.started);
        // A burst of refusals is judged before the window fills: every one
        // is a call lost, and on a server that refuses at once the pool's
        // whole queue can drain into refusals within a few milliseconds.
        // During the start, at most `START_ROUNDS` rounds of the limit: at
        // one or two slots `window_samples` calls are ten or five round
        // trips, and the backlog of that time keeps calls waiting (and the
        // start doubling) past the server's knee once the limit is larger.
        let least = if self.stage == Stage::Starting {
            let rounds = START_ROUNDS * self.limit.round().max(1.0);
            s.window_samples.min(rounds as u32)
        } else {
            s.window_samples
        };
        if samples < least && drops < BURST {
            return None;
        }
        // A window long enough to judge: precise, or clear either way (a
        // window in between is extended until it is precise).
        let error = w.standard_error(self.variance);
        let precise = w.successes >= s.window_samples.saturating_mul(MAX_WINDOW_STRETCH)
            || error <= s.tolerance.ln() / PRECISION
            || self.floor.is_none_or(|floor| {
                let excess = w.mean() - floor - s.tolerance.ln();
                // Clearly not congested, or clearly congested already (by
                // twice the margin of the final test: the window is looked
                // at after every call, and each look is a chance for noise).
                excess <= 0.0 || excess > 2.0 * NOISE_ERRORS * error
            });
        // One round trip: the typical window latency once there is one.
        let round_trip = match self.floor {
            Some(_) => Duration::from_secs_f64(self.average.exp().min(3600.0)),
            None => s.window_time,
        };
        // Drops cut at once: on a server that refuses instantly, every
        // moment above its capacity turns waiting calls into refusals.
        let cut = self.too_many_drops(drops, samples);
        let rate = f64::from(drops) / f64::from(samples.max(1));
        // A probe's measuring window holds as many calls as the floor
        // stands on (up to the longest window): each probe doubles them.
        let probe_short = self.probe == Some(Probe::Measuring)
            && f64::from(self.window.successes)
                < f64::from(self.floor_samples).min(f64::from(
                    s.window_samples.saturating_mul(MAX_WINDOW_STRETCH),
                ));
        if !cut && (elapsed < s.window_time || !precise || elapsed < round_trip || probe_short) {
            return None;
        }
        let window = std::mem::replace(
            &mut self.window,
            Window {
                started: now,
                ..Window::default()
            },
        );
        let waited = std::mem::take(&mut self.waited);
        let (low, high) = (bounds.0.max(1) as f64, bounds.1.max(bounds.0).max(1) as f64);
        self.learn_background(rate, low);
        // (A background just learned may leave these drops uncut.)
        let cut = cut && self.too_many_drops(drops, samples);
        let before = self.limit.round() as usize;
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        let (limit_before, starting, probing) = (self.limit, self.starting(), self.probe.is_some());
        if cut {
            // To the concurrency the server has been serving (calls refused
            // at once free their slots at once and are over-represented
            // among finished calls: the drop rate alone cuts too deep on a
            // server that fails fast), or by the drop rate if that leaves
            // more; by one slot at least, by `backoff` at most.
            let limit_cut = self.limit;
            // What the server served lately: the window's own measure once it
            // spans a round trip (a server that just lost capacity shows it
            // there first), else the running one.
            let served = match self.floor {
                Some(floor) if elapsed >= round_trip => {
                    let unloaded = (floor + self.variance.unwrap_or(0.0) / 2.0).exp();
                    f64::from(window.successes) / elapsed.as_secs_f64() * unloaded
                }
                _ => self.served.unwrap_or(0.0),
            };
            let target = (self.limit * (1.0 - rate))
                .max(served)
                .min(self.limit - 1.0)
                .max(self.limit * s.backoff);
            // Drops end a probe: they judge the limit it stood in for.
            if self.probe.take().is_some() {
                self.limit /= PROBE_SHARE;
            }
            // Growth near the level that drew drops is slow from now on.
            self.trouble(now);
            self.limit = target.clamp(low, high);
            self.end_start();
            self.cut_at = Some(now);
            self.after_cut = Some((rate as f32, limit_cut as f32));
            // Nor was this window held by a queue: a probe waits for a new
            // row of held windows (the eighth of the old row right after a
            // cut took the limit just cut a quarter deeper).
            self.held_for = 0;
        } else if let (Some(probe), true) = (self.probe, window.successes > 0) {
            self.probe_window(probe, &window, elapsed);
            // The limit it returns to, within the bounds of this window: they
            // may have moved during the probe, and the pool applies what
            // this returns as it is.
            self.limit = self.limit.clamp(low, high);
        } else if window.successes > 0 {
            // Throughput times the unloaded latency (the mean of a lognormal
            // around the floor): what the server can take without queueing.
            // Throughput times the window's own latency would count the
            // queue a congested server builds as capacity.
            let seconds = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
            let served = match self.floor {
                Some(floor) => {
                    let unloaded = (floor + self.variance.unwrap_or(0.0) / 2.0).exp();
                    f64::from(window.successes) / seconds * unloaded
                }
                None => window.busy / seconds,
            };
            // Up at once (it grows with the limit during the start), down
            // slowly: a cut takes the most the server has lately served.
            let tracked = self.served.get_or_insert(served);
            *tracked = served.max(*tracked + (served - *tracked) * TRACKING);
            // Against the slots the pool has (the limit rounded), not the
            // fraction: a limit of 1.25 to 1.5 is one slot, and one busy
            // slot would never count as used (nor grow) at 0.8 of 1.3.
            let used = window.peak_running as f64 >= self.limit.round().max(1.0) * USED;
            // The floor may rise only where the server is not loaded by us:
            // a window that did not use the limit, or one at `min`.
            let unloaded = !used || self.limit <= low;
            // The calls in flight over the window (Little's law), at most
            // the limit.
            let running = (window.busy / seconds).min(self.limit);
            // During the start the limit doubles per window: the lagging
            // average would see the knee a doubling too late, so the window
            // itself ends the start once it surely queued a call (even at
            // its mean log-latency less two standard errors).
            // What the window itself surely queued (at its mean log-latency
            // less two standard errors).
            let surely = self.floor.map_or(0.0, |floor| {
                let error = self.difference_error(&window);
                queued(running, window.mean() - NOISE_ERRORS * error - floor)
            });
            let queueing = self.starting() && surely > START_QUEUED;
            let congested = self.track(&window, elapsed, unloaded && !queueing, queueing);
            // What the server queues at the typical latency.
            let queue = self
                .floor
                .map_or(0.0, |floor| queued(running, self.average - floor));
            // After the start: the server queues half a call by the typical
            // latency, or surely by this window's own (which the average
            // sees only windows later). During the start, a call by either:
            // there the floor stands on few calls, and half a call from
            // its noise would end the start of a server with no knee.
            let held = if self.starting() {
                queueing || queue >= START_QUEUED
            } else {
                queue >= QUEUED || surely >= QUEUED
            };
            // A queue of a few calls (or congestion) after the start marks
            // this limit as trouble, like drops: growth near it is slow from
            // now on. A new level only if the limit is not already below
            // the last one (the windows of one episode come in a row).
            if used && !self.starting() && (congested.is_some() || surely > TROUBLE_QUEUED) {
                let below = self
                    .drops_at
                    .is_some_and(|(level, at)| self.limit < 0.95 * self.relaxed(level, at, now));
                if !below {
                    self.trouble(now);
                }
            } else if used && !self.starting() && window.drops == 0 {
                // A window past the start that used the limit without
                // trouble: an episode of trouble is over.
                if self.stage == Stage::FirstTrouble {
                    self.stage = Stage::Later;
                }
            }
            self.held_for = if used && held && congested.is_none() && waited {
                self.held_for.saturating_add(1)
            } else {
                0
            };
            self.limit = if let Some(excess) = congested {
                self.end_start();
                let target = self.limit * (-excess).exp().max(DEEPEST_LATENCY_CUT);
                self.limit + (target - self.limit) * s.smoothing
            } else if used && held {
                // The server queues already: more slots would wait there.
                self.end_start();
                // Unless that queue, held for a while, may be the floor's
                // own error: then measure the floor below it.
                let below = self.limit * PROBE_SHARE;
                if self.held_for >= PROBE_AFTER
                    && surely < QUEUED
                    && self.floor_unsure(running)
                    && below >= low
                    && below < self.limit - 0.5
                {
                    self.probe = Some(Probe::Draining);
                    below
                } else {
                    self.limit
                }
            } else if used && window.drops > 0 && self.background == 0.0 {
                // Drops too few to cut (one, or under `drop_tolerance`)
                // are no reason to ask the server for more: a limit that
                // draws a drop in every window would otherwise climb on
                // past it, one lost call per window.
                self.limit
            } else if used {
                // Growth slows as the server's queue builds.
                // The start doubles only a limit that held calls back.
                let step = if self.starting() && waited {
                    self.limit.max(START_STEP)
                } else {
                    self.limit.sqrt() * s.smoothing * (1.0 - queue / QUEUED)
                };
                self.grow(step, now)
            } else {
                self.limit
            }
            .clamp(low, high);
            // A window in which no call waited for a slot ends the start:
            // the limit is past the demand, and doubling it on a burst
            // that merely neared it would take it past the server's
            // capacity without a test.
            if !waited {
                self.end_start();
            }
        }
        #[cfg(any(feature = "tracing", feature = "metrics"))]
        self.report_window(
            &window,
            cut,
            limit_before,
            starting,
            probing || self.probe.is_some(),
        );
        let after = self.limit.round() as usize;
        (after != before).then_some(after)
    }

    /// Whether the queue that holds the limit at `running` calls in flight
    /// (by the typical latency) may be the floor's own error: two of the
    /// floor's standard errors are worth half a call or more, and with the
    /// floor that much higher the queue would be less than half a call. A
    /// floor that stands on the few calls of the start's first windows,
    /// under a backlog that has not let up since; never one fed by light
    /// load, and a probe or two make it sure. (It once also asked that the
    /// error be more than the precision a window is held to,
    /// `ln(tolerance) / PRECISION`: at many calls in flight an error under
    /// that is still worth a call: a floor 3% low held the limit on a
    /// server of fixed latency (±10%) for good.)
    fn floor_unsure(&self, running: f64) -> bool {
        let error = NOISE_ERRORS
            * (self.variance.unwrap_or(0.0) / f64::from(self.floor_samples).max(1.0)).sqrt();
        self.floor.is_some_and(|floor| {
            queued(running, error) >= QUEUED
                && queued(running, self.average - floor - error) < QUEUED
        })
    }

    /// A window of a probe: the first lets the server drain, the second
    /// feeds the floor as an unloaded window, and then the limit returns to
    /// where it was. A congested one ends the probe: the server is loaded
    /// even below the limit, and the next window at the limit judges it.
    fn probe_window(&mut self, probe: Probe, window: &Window, elapsed: Duration) {
        let measuring = probe == Probe::Measuring;
        let congested = self.track_probe(window, elapsed, measuring);
        if !measuring && !congested {
            self.probe = Some(Probe::Measuring);
            return;
        }
        self.probe = None;
        self.limit /= PROBE_SHARE;
        self.held_for = 0;
    }

    /// The standard error of a window's mean log-latency less the floor:
    /// the floor is a mean too, and one of a few heavy-tailed calls (early
    /// on) says little about any window.
    fn difference_error(&self, window: &Window) -> f64 {
        let error = window.standard_error(self.variance);
        let floor = self.variance.or_else(|| window.variance()).unwrap_or(0.0)
            / f64::from(self.floor_samples).max(1.0);
        (error * error + floor).sqrt()
    }

    /// The limit drew trouble (drops, or a queue at the server) at `now`:
    /// a level to grow slowly near — from the second episode of trouble on.
    /// The first is most often the start's own burst, not a level the
    /// server cannot take (see the module docs).
    fn trouble(&mut self, now: Duration) {
        match self.stage {
            Stage::Starting | Stage::Calm => self.stage = Stage::FirstTrouble,
            Stage::FirstTrouble => {}
            Stage::Later => self.drops_at = Some((self.limit, now)),
        }
    }

    /// Doubling per round trip until the first sign of load.
    fn starting(&self) -> bool {
        self.stage == Stage::Starting
    }

    /// The start is over (if it was not).
    fn end_start(&mut self) {
        if self.stage == Stage::Starting {
            self.stage = Stage::Calm;
        }
    }

    /// The limit after a step up: near the level where drops (or a queue)
    /// came last (within a step of it, or past it), a tenth of a slot per
    /// window — a level that relaxes upward (by a twentieth per `baseline_interval`),
    /// so that a server that has grown is found again.
    fn grow(&self, step: f64, now: Duration) -> f64 {
        let Some((level, at)) = self.drops_at else {
            return self.limit + step;
        };
        let level = self.relaxed(level, at, now);
        if self.limit + step < level || self.limit > level * (1.0 + CAUTIOUS_BAND) {
            // Below the level, or past it without drops: the server has grown.
            self.limit + step
        } else {
            // Within a step of it: a tenth of a slot, also below it (a step
            // to the level itself would draw the drops that marked it again,
            // a burst every window).
            self.limit + CAUTIOUS_STEP
        }
    }

    /// The level that drew drops (or a queue) at `at`, relaxed upward by
    /// `DROP_LEVEL_RELAXING` of itself per `baseline_interval` since.
    fn relaxed(&self, level: f64, at: Duration, now: Duration) -> f64 {
        let intervals =
            now.saturating_sub(at).as_secs_f64() / self.settings.baseline_interval.as_secs_f64();
        level * (1.0 + DROP_LEVEL_RELAXING * intervals.max(0.0))
    }

    /// Takes a window's mean log-latency into the floor and the running
    /// average (`queueing`: a start window that queued, which the floor must
    /// not take); returns how far (in log space) it is past the congestion
    /// threshold, if it is.
    fn track(
        &mut self,
        window: &Window,
        elapsed: Duration,
        unloaded: bool,
        queueing: bool,
    ) -> Option<f64> {
        let sample = window.mean();
        self.pool_variance(window);
        let error = window.standard_error(self.variance);
        let calls = f64::from(window.successes);
        let Some(floor) = self.floor else {
            (self.floor, self.average) = (Some(sample), sample);
            self.floor_samples = calls as f32;
            return None;
        };
        // The floor's own error counts (it is a mean too): a floor of ten
        // heavy-tailed calls is a third off one time in six, and a window
        // judged against it as if exact ends the start and cuts a server
        // with no knee at all — after the start too, for good, as no loaded
        // window corrects it. A floor that stands on many calls adds
        // little: a server that lost capacity is still cut at once.
        let judged = self.difference_error(window);
        let threshold = floor + self.settings.tolerance.ln() + NOISE_ERRORS * judged;
        self.average += (sample - self.average) * TRACKING;
        // The floor is the mean log-latency of the unloaded server's calls:
        // followed during the start (the limit is below the server's knee
        // until it shows load) and in windows that did not load it (the
        // limit not used, or at `min`), forgetting with a time constant of
        // `baseline_interval`; never in loaded windows, whose queueing it
        // would take for the server's speed. A mean of calls, not of
        // windows: a window closes early when it looks fast, so fast windows
        // are short and a mean of windows (or a running minimum of them)
        // sits below the server's latency — by up to a third with
        // heavy-tailed service — and every call then looks queued. When the running
        // average of windows is clearly below it (by two of its standard
        // errors) the server got faster: it is lowered at once.
        let faster = self.average + NOISE_ERRORS * error.min(1.0) * AVERAGE_ERROR;
        if faster < floor {
            self.floor = Some(faster);
        } else if (self.starting() && sample <= threshold && !queueing) || unloaded {
            // (A start window past the threshold is the knee, not the floor.)
            self.learn_floor(floor, window, elapsed);
        }
        (sample > threshold).then_some(sample - threshold)
    }

    /// Takes a probe's window into the pooled variance and, if `measuring`
    /// and not congested, into the floor as an unloaded window — never into
    /// the typical latency, which is the latency at the limit; returns
    /// whether it is congested.
    fn track_probe(&mut self, window: &Window, elapsed: Duration, measuring: bool) -> bool {
        self.pool_variance(window);
        let Some(floor) = self.floor else {
            return false;
        };
        // Against the floor's error too: the probe is there to find out
        // whether the floor is wrong.
        let threshold =
            floor + self.settings.tolerance.ln() + NOISE_ERRORS * self.difference_error(window);
        let congested = window.mean() > threshold;
        if measuring && !congested {
            self.learn_floor(floor, window, elapsed);
        }
        congested
    }

    /// Follows the server's noise: the variance of calls' log-latencies
    /// within a window, averaged over windows.
    fn pool_variance(&mut self, window: &Window) {
        if let Some(own) = window.variance() {
            let pooled = self.variance.get_or_insert(own);
            *pooled += (own - *pooled) * TRACKING;
        }
    }

    /// Takes the calls of an unloaded window into the floor (now `floor`):
    /// a mean of calls, forgetting with a time constant of
    /// `baseline_interval`.
    fn learn_floor(&mut self, floor: f64, window: &Window, elapsed: Duration) {
        let weight =
            (elapsed.as_secs_f64() / self.settings.baseline_interval.as_secs_f64()).clamp(0.0, 1.0);
        let calls = f64::from(window.successes);
        let samples = f64::from(self.floor_samples) * (1.0 - weight) + calls;
        self.floor_samples = samples as f32;
        let share = weight.max(calls / samples.max(1.0));
        self.floor = Some(floor + (window.mean() - floor) * share);
    }
}

/// Calls waiting at a server rather than being served, by Little's law:
/// `running` calls in flight of which the share `1 − floor / latency` is
/// time spent beyond the unloaded latency; `slower` is `ln(latency / floor)`.
fn queued(running: f64, slower: f64) -> f64 {
    running * (1.0 - (-slower.max(0.0)).exp())
}

impl Window {
    /// The mean log-latency of the window's successes (`-inf` without any).
    fn mean(&self) -> f64 {
        if self.successes == 0 {
            return f64::NEG_INFINITY;
        }
        self.log_sum / f64::from(self.successes)
    }

    /// The variance of the window's log-latencies (`None` below two successes).
    fn variance(&self) -> Option<f64> {
        if self.successes < 2 {
            return None;
        }
        let n = f64::from(self.successes);
        let mean = self.log_sum / n;
        Some(((self.log_squares - n * mean * mean) / (n - 1.0)).max(0.0))
    }

    /// The standard error of the window's mean log-latency, from the pooled
    /// variance (or the window's own, before there is one; infinite with
    /// neither).
    fn standard_error(&self, pooled: Option<f64>) -> f64 {
        match pooled.or_else(|| self.variance()) {
            Some(variance) if self.successes > 0 => (variance / f64::from(self.successes)).sqrt(),
            _ => f64::INFINITY,
        }
    }
}

/// What a closed window decided, for features `tracing` and `metrics`:
/// read off the policy's state after the fact, so the arithmetic above does
/// not change with them.
#[cfg(any(feature = "tracing", feature = "metrics"))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct WindowReport {
    /// The window's latency (the geometric mean of its successes), if it had any.
    pub(crate) latency: Option<Duration>,
    /// The unloaded latency the policy holds after the window, if any.
    pub(crate) floor: Option<Duration>,
    /// Successes and drops the window counted.
    pub(crate) successes: u32,
    pub(crate) drops: u32,
    /// The limit before and after the window (rounded to slots).
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) decision: Decision,
}

/// Which way a window moved the limit, and why.
#[cfg(any(feature = "tracing", feature = "metrics"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Too many drops: cut to the concurrency the server served.
    DropCut,
    /// Latency past the floor and tolerance: moved down.
    LatencyCut,
    /// Doubled (the start: no sign of load yet).
    SlowStart,
    /// Below the limit to re-measure the unloaded latency, or back from it.
    Probe,
    /// Grew: the limit was used and latency held.
    Grow,
    /// Unchanged (the limit unused, latency within noise, or at a bound).
    Hold,
}

#[cfg(feature = "tracing")]
impl Decision {
    /// Its name in events.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Decision::DropCut => "drop_cut",
            Decision::LatencyCut => "latency_cut",
            Decision::SlowStart => "slow_start",
            Decision::Probe => "probe",
            Decision::Grow => "grow",
            Decision::Hold => "hold",
        }
    }
}

#[cfg(any(feature = "tracing", feature = "metrics"))]
impl AdaptiveLimit {
    /// Keeps what the window that just closed decided (`cut`: for drops;
    /// the limit was `before` and the policy `starting` when it closed;
    /// `probing`: a probe was under way before or after it).
    fn report_window(
        &mut self,
        window: &Window,
        cut: bool,
        before: f64,
        starting: bool,
        probing: bool,
    ) {
        let decision = if cut {
            Decision::DropCut
        } else if probing {
            Decision::Probe
        } else if self.limit < before {
            Decision::LatencyCut
        } else if self.limit > before && starting {
            Decision::SlowStart
        } else if self.limit > before {
            Decision::Grow
        } else {
            Decision::Hold
        };
        let seconds = |log: f64| Duration::try_from_secs_f64(log.exp()).ok();
        self.report = Some(WindowReport {
            latency: (window.successes > 0)
                .then(|| seconds(window.mean()))
                .flatten(),
            floor: self.floor.and_then(seconds),
            successes: window.successes,
            drops: window.drops,
            from: before.round() as usize,
            to: self.limit.round() as usize,
            decision,
        });
    }

    /// The last window's report, once.
    pub(crate) fn take_window(&mut self) -> Option<WindowReport> {
        self.report.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_keyed_parameter_is_a_files_key_in_their_order() {
        let keys: Vec<_> = AdaptiveSettings::DEFAULT
            .keyed()
            .iter()
            .map(|(key, _)| *key)
            .collect();
        let expected: Vec<_> = pool_settings::adaptive::PARAMETERS
            .iter()
            .map(|(name, _)| format!("adaptive_{name}"))
            .collect();
        assert_eq!(keys, expected);
    }

    const MS: Duration = Duration::from_millis(1);

    /// Feeds `windows` windows of 10 calls each; `latency(limit)` gives the
    /// latency the server shows at that concurrency; every call reports the
    /// pool as fully used unless `idle`.
    fn run(
        policy: &mut AdaptiveLimit,
        windows: usize,
        start: &mut Duration,
        mut call: impl FnMut(usize) -> (Duration, Verdict),
        busy: bool,
    ) -> usize {
        let mut limit = policy.limit.round() as usize;
        for _ in 0..windows {
            for _ in 0..10 {
                *start += 10 * MS;
                let (latency, verdict) = call(limit);
                let running = if busy { limit } else { 1 };
                if let Some(new) = policy.observe(
                    *start,
                    latency,
                    verdict,
                    running,
                    usize::from(busy),
                    (1, 200),
                ) {
                    limit = new;
                }
            }
        }
        limit
    }

    /// A server with `capacity` workers and 50 ms service: past the knee,
    /// latency grows with the excess (it queues).
    fn server(capacity: usize) -> impl FnMut(usize) -> (Duration, Verdict) {
        move |concurrency| {
            let excess = concurrency.saturating_sub(capacity) as u64;
            (
                MS * (50 + 50 * excess as u32 / capacity as u32),
                Verdict::Success,
            )
        }
    }

    /// A server without a knee: lognormal latency, median 30 ms and sigma 1
    /// (p99 is 10x the median), at any concurrency, drawn from a xorshift
    /// generator seeded with `seed` (not zero): the same calls every run.
    fn lognormal(seed: u64) -> impl FnMut(usize) -> (Duration, Verdict) {
        let mut x = seed;
        let mut uniform = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        move |_| {
            let normal =
                (-2.0 * uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform()).cos();
            (
                Duration::from_secs_f64(0.03 * normal.exp()),
                Verdict::Success,
            )
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn rises_under_headroom_until_latency_says_the_knee_is_reached() {
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 4, Duration::ZERO);
        let mut t = Duration::ZERO;
        let limit = run(&mut p, 200, &mut t, server(32), true);
        assert!(
            (28..=56).contains(&limit),
            "settles near the knee of 32, got {limit}"
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn falls_under_queueing() {
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 64, Duration::ZERO);
        let mut t = Duration::ZERO;
        run(&mut p, 30, &mut t, server(64), true); // learn the baseline at 64
        let limit = run(&mut p, 60, &mut t, server(8), true); // capacity drops to 8
        assert!(
            limit <= 16,
            "backs off toward the new knee of 8, got {limit}"
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn backs_off_on_drops_but_not_on_rare_unrelated_errors() {
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 40, Duration::ZERO);
        let mut t = Duration::ZERO;
        let mut n = 0;
        let rare = run(
            &mut p,
            20,
            &mut t,
            |_| {
                n += 1;
                (
                    50 * MS,
                    if n % 100 == 0 {
                        Verdict::Overload
                    } else {
                        Verdict::Success
                    },
                )
            },
            false,
        );
        assert_eq!(rare, 40, "1% errors on an app-limited pool: no change");
        let overloaded = run(&mut p, 5, &mut t, |_| (50 * MS, Verdict::Overload), true);
        assert!(
            overloaded <= 40 * 9 / 10 * 9 / 10,
            "multiplicative back-off per window, got {overloaded}"
        );
    }

    #[test]
    fn drops_that_cuts_do_not_lower_are_the_servers_background_and_the_limit_grows_through_them() {
        // A fifth of the calls fail at any concurrency (a token bucket with
        // no burst, the server's own errors): cutting cannot help, and after
        // two cuts that did not lower the rate the limit grows to the knee.
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 8, Duration::ZERO);
        let mut t = Duration::ZERO;
        let mut n = 0u32;
        let mut serve = server(40);
        let limit = run(
            &mut p,
            300,
            &mut t,
            |concurrency| {
                n += 1;
                let (latency, verdict) = serve(concurrency);
                (
                    latency,
                    if n % 5 == 0 {
                        Verdict::Overload
                    } else {
                        verdict
                    },
                )
            },
            true,
        );
        assert!((0.15..0.3).contains(&p.background), "{}", p.background);
        assert!(
            limit >= 30,
            "grows to the knee through the background: {limit}"
        );
    }

    #[test]
    fn drops_that_cuts_lower_are_the_limits_doing_and_teach_no_background() {
        // Past 10 in flight the server refuses the excess: each cut lowers
        // the drop rate, so the drops stay the limit's, and it stays near 10.
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 8, Duration::ZERO);
        let mut t = Duration::ZERO;
        let mut n = 0usize;
        let mut highest = 0;
        for _ in 0..30 {
            let limit = run(
                &mut p,
                10,
                &mut t,
                |concurrency| {
                    n += 1;
                    let refused = n % concurrency.max(1) >= 10;
                    let verdict = if refused {
                        Verdict::Overload
                    } else {
                        Verdict::Success
                    };
                    (50 * MS, verdict)
                },
                true,
            );
            highest = highest.max(limit);
        }
        assert_eq!(p.background, 0.0);
        assert!(
            highest <= 14,
            "the limit never strays far past 10: {highest}"
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn stays_put_under_latency_noise_when_not_fully_used() {
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 20, Duration::ZERO);
        let mut t = Duration::ZERO;
        let mut x: u32 = 7;
        let limit = run(
            &mut p,
            100,
            &mut t,
            |_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (MS * (40 + (x >> 16) % 25), Verdict::Success) // 40..65 ms
            },
            false,
        );
        assert_eq!(limit, 20);
        assert!(p.floor().is_some());
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn ignored_calls_are_not_samples_and_bounds_hold() {
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 5, Duration::ZERO);
        for i in 1..100u32 {
            assert_eq!(
                p.observe(MS * i * 10, MS, Verdict::Ignore, 5, 1, (2, 6)),
                None
            );
        }
        let mut t = Duration::ZERO;
        let mut limit = 5;
        for _ in 0..400 {
            t += 10 * MS;
            if let Some(l) = p.observe(t, 50 * MS, Verdict::Success, limit, 1, (2, 6)) {
                limit = l;
            }
        }
        assert_eq!(limit, 6, "grows to max and no further");
    }
    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn starts_where_told_and_doubles_per_round_trip_while_unloaded() {
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 3, Duration::ZERO);
        let mut t = Duration::ZERO;
        let mut seen = vec![];
        for _ in 0..5 {
            seen.push(run(&mut p, 1, &mut t, server(1000), true));
        }
        assert_eq!(seen, [6, 12, 24, 48, 96], "one doubling per window");
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn a_start_at_one_slot_reaches_three_within_four_round_trips() {
        // One call of 300 ms at a time, calls always waiting: ten calls
        // (a window's least) would take ten round trips, three seconds, at
        // one slot, and five more at two, while the backlog grows.
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 1, Duration::ZERO);
        let mut t = Duration::ZERO;
        let mut limit = 1;
        let mut seen = vec![];
        for _ in 0..10 {
            t += 300 * MS;
            // The calls of a round ran at the limit of its start.
            let running = limit;
            for _ in 0..running {
                if let Some(new) = p.observe(t, 300 * MS, Verdict::Success, running, 1, (1, 200)) {
                    limit = new;
                }
            }
            seen.push(limit);
        }
        assert!(p.starting(), "still doubling");
        // From three on a window is ten calls, as from a start at 3.
        assert_eq!(
            seen,
            [1, 1, 1, 3, 3, 3, 3, 6, 6, 12],
            "four rounds at one slot, then three"
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn a_light_load_that_nears_the_limit_without_waiting_ends_the_start() {
        // Bursts fill 90% of the limit (it is used) but no call ever waits
        // for a slot: the limit grows as after the start, not by doubling
        // (which took it 12 -> 24 -> 48 -> 96 here).
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 12, Duration::ZERO);
        let mut t = Duration::ZERO;
        let mut limit = 12;
        for _ in 0..30 {
            t += 10 * MS;
            let running = limit * 9 / 10;
            if let Some(new) = p.observe(t, 50 * MS, Verdict::Success, running, 0, (1, 200)) {
                limit = new;
            }
        }
        assert!(!p.starting(), "the start is over");
        assert!((13..=17).contains(&limit), "grown in steps: {limit}");
        // Calls now wait: still no doubling.
        let grown = run(&mut p, 1, &mut t, server(1000), true);
        assert!(grown < limit * 3 / 2, "{limit} -> {grown}");
    }

    /// Every call of `count` drops at `now`, admitted `ago` before it.
    fn drops(p: &mut AdaptiveLimit, now: Duration, ago: Duration, count: usize) -> Option<usize> {
        let mut last = None;
        for _ in 0..count {
            last = p
                .observe(now, ago, Verdict::Overload, 40, 1, (1, 200))
                .or(last);
        }
        last
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn a_burst_of_drops_is_one_proportional_cut_per_round_trip() {
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 40, Duration::ZERO);
        let now = Duration::from_secs(1);
        // Eight served calls and two drops: a fifth of the calls refused.
        for _ in 0..8 {
            assert_eq!(
                p.observe(now, 50 * MS, Verdict::Success, 40, 1, (1, 200)),
                None
            );
        }
        assert_eq!(
            drops(&mut p, now, 50 * MS, 2),
            Some(32),
            "cut by the drop rate, 20%"
        );
        // The rest of the burst: calls sent before the cut, at the old limit.
        assert_eq!(
            drops(&mut p, now + MS, 50 * MS, 200),
            None,
            "not held against the new limit"
        );
        assert_eq!(p.limit.round() as usize, 32);
        // Drops of calls sent after the cut count: all refused, cut by `backoff`.
        assert_eq!(drops(&mut p, now + 100 * MS, 10 * MS, 10), Some(16));
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn a_limit_cut_to_one_slot_grows_again_under_load() {
        // A pool of `min` 1 cut to its last slot by refusals, then a server
        // with room for eight: its one slot is fully used, so it grows. (A
        // limit of 1.25 to 1.5 is one slot in the pool; judged "used" against
        // the fraction, one busy slot looked like an idle pool for good.)
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 4, Duration::ZERO);
        let mut t = Duration::ZERO;
        run(&mut p, 10, &mut t, server(8), true);
        let mut cut = p.limit.round() as usize;
        for _ in 0..20 {
            t += Duration::from_secs(1);
            cut = drops(&mut p, t, 10 * MS, 10).unwrap_or(cut);
        }
        assert_eq!(cut, 1, "cut to its last slot");
        let limit = run(&mut p, 200, &mut t, server(8), true);
        assert!(limit >= 4, "grows back toward the server's 8, got {limit}");
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn heavy_tailed_noise_without_a_knee_does_not_drag_the_limit_down() {
        // Lognormal service, sigma = 1 (p99 is 10x the median), at any
        // concurrency: no knee, no drops. The limit may only rise.
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 16, Duration::ZERO);
        let mut t = Duration::ZERO;
        let mut calls = lognormal(0x9e37_79b9_7f4a_7c15);
        let mut lowest = usize::MAX;
        for _ in 0..1000 {
            let limit = run(&mut p, 10, &mut t, &mut calls, true);
            lowest = lowest.min(limit);
        }
        assert!(lowest >= 16, "never below where it started: {lowest}");
        assert!(p.limit >= 64.0, "grows toward max: {}", p.limit);
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn a_fail_fast_server_is_met_at_its_capacity_not_below() {
        // Eight workers; every call past eight in flight is refused at once,
        // so the extra slots cycle through many instant refusals per round
        // trip: refusals outnumber successes among finished calls.
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 3, Duration::ZERO);
        let mut t = Duration::ZERO;
        let mut lowest_after_start = usize::MAX;
        for round in 0..400 {
            for i in 0..8u32 {
                let limit = p.limit.round() as usize;
                let at = t + MS * i * 6;
                // The slots past eight cycle through instant refusals.
                for _ in 0..limit.saturating_sub(8) * 5 / 8 {
                    let _ = p.observe(at, Duration::ZERO, Verdict::Overload, limit, 1, (1, 200));
                }
                if (i as usize) < limit {
                    let _ = p.observe(at, 50 * MS, Verdict::Success, limit, 1, (1, 200));
                }
            }
            t += 50 * MS;
            if round > 40 {
                lowest_after_start = lowest_after_start.min(p.limit.round() as usize);
            }
        }
        let limit = p.limit.round() as usize;
        assert!((8..=9).contains(&limit), "at the capacity: {limit}");
        assert!(
            lowest_after_start >= 7,
            "never cut far below it: {lowest_after_start}"
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn a_capacity_collapse_is_cut_by_what_the_server_serves_now_not_before() {
        // 40 in flight at 50 ms: the floor is learnt, and the server served
        // 40 at a time.
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 40, Duration::ZERO);
        let mut t = Duration::ZERO;
        for _ in 0..40 {
            for _ in 0..40 {
                t += MS;
                let _ = p.observe(t, 50 * MS, Verdict::Success, 40, 1, (1, 40));
            }
            t += 10 * MS;
        }
        assert_eq!(p.limit.round() as usize, 40);
        // It now serves 5 at a time: over a round trip, 5 calls succeed and
        // 5 of those sent since are refused. The cut goes to what it serves
        // now (bounded by `backoff`), not by one slot from what it used to.
        let start = t;
        let mut cut = None;
        for i in 0..10u32 {
            let now = start + 12 * MS * (i + 1);
            let (latency, verdict) = if i % 2 == 0 {
                (50 * MS, Verdict::Success)
            } else {
                (MS, Verdict::Overload)
            };
            cut = p.observe(now, latency, verdict, 40, 1, (1, 40)).or(cut);
        }
        assert_eq!(cut, Some(20), "to half (backoff), not to 39");
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn a_drop_in_every_window_too_few_to_cut_holds_the_limit() {
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 20, Duration::ZERO);
        let mut t = Duration::ZERO;
        let mut n = 0;
        // Windows of 10 calls, one of them dropped: never two in a window
        // (no cut), never a window without one.
        let limit = run(
            &mut p,
            30,
            &mut t,
            |limit| {
                n += 1;
                let (latency, _) = server(1000)(limit);
                let verdict = if n % 10 == 0 {
                    Verdict::Overload
                } else {
                    Verdict::Success
                };
                (latency, verdict)
            },
            true,
        );
        assert_eq!(limit, 20, "a limit that draws a drop per window grew");
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn growth_is_cautious_only_near_the_level_that_drew_drops() {
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 20, Duration::ZERO);
        let mut t = Duration::ZERO;
        // Drops at 20: one cut, and 20 is the level to be careful near.
        let _ = drops(&mut p, t + MS, Duration::ZERO, 3);
        t += 2 * MS;
        let cut = p.limit;
        assert!(cut < 20.0, "cut: {cut}");
        // The server (capacity 1000) now takes everything: the limit climbs
        // slowly through the band near 20, then at the usual pace again.
        let mut windows_to_40 = None;
        for w in 0..400 {
            run(&mut p, 1, &mut t, server(1000), true);
            if p.limit >= 40.0 {
                windows_to_40 = Some(w);
                break;
            }
        }
        let windows = windows_to_40.expect("grows past the level and on");
        assert!(
            windows < 150,
            "not a tenth of a slot per window forever: {windows}"
        );
    }

    /// Runs `rounds` round trips of a closed loop at the limit: each round,
    /// `limit` calls run together and finish together after
    /// `latency(limit)`, so the calls in flight are the limit (Little's law
    /// holds, as on a real server). Returns the highest limit reached.
    fn closed_loop(
        policy: &mut AdaptiveLimit,
        rounds: usize,
        start: &mut Duration,
        latency: impl Fn(usize) -> Duration,
    ) -> usize {
        let mut limit = policy.limit.round() as usize;
        let mut highest = limit;
        for _ in 0..rounds {
            let (running, took) = (limit, latency(limit));
            *start += took;
            for _ in 0..running {
                if let Some(new) =
                    policy.observe(*start, took, Verdict::Success, running, 1, (1, 200))
                {
                    limit = new;
                }
            }
            highest = highest.max(limit);
        }
        highest
    }

    /// A server of `capacity` workers, 50 ms each, and a queue: past
    /// `capacity` in flight, latency grows in proportion (no slowdown).
    fn queue(capacity: usize) -> impl Fn(usize) -> Duration {
        move |n| Duration::from_secs_f64(0.05 * n.max(capacity) as f64 / capacity as f64)
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn growth_stops_once_the_server_queues_a_call() {
        // Latency within the tolerance (1.2) until 14.4 in flight: the
        // latency test alone climbs to 15 and is cut back, again and again.
        // The queue estimate follows the typical latency, a window behind:
        // growth may overshoot by a step, then holds.
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 4, Duration::ZERO);
        p.stage = Stage::Calm;
        let mut t = Duration::ZERO;
        let highest = closed_loop(&mut p, 200, &mut t, queue(12));
        assert!(highest <= 15, "{highest}");
        let settled = p.limit.round() as usize;
        assert!(
            (12..=14).contains(&settled),
            "near the knee of 12: {settled}"
        );
        let later = closed_loop(&mut p, 200, &mut t, queue(12));
        assert_eq!(later, settled, "and stays");
        assert_eq!(p.limit.round() as usize, settled, "and stays");
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn the_start_ends_at_the_first_window_that_queued() {
        // Doubling from 3: 24 in flight queue 4 calls at a server of 20,
        // a latency of 1.2 times the floor (within the tolerance): the
        // doubling stops there rather than going on to 48.
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 3, Duration::ZERO);
        let mut t = Duration::ZERO;
        let highest = closed_loop(&mut p, 100, &mut t, queue(20));
        assert_eq!(highest, 24, "no doubling past the first queue");
        assert!(!p.starting());
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn the_floor_is_the_servers_latency_not_its_luckiest_windows() {
        // Lognormal service, sigma = 1, median 30 ms, the pool never used:
        // every window is unloaded. Short windows are the fast ones (a
        // window closes early when it looks fast): a minimum or a mean of
        // windows sits a third below the server's median.
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 16, Duration::ZERO);
        let mut t = Duration::ZERO;
        let mut calls = lognormal(0x2545_f491_4f6c_dd1d);
        let (mut sum, mut count, mut lowest) = (0.0, 0.0, f64::INFINITY);
        for _ in 0..300 {
            run(&mut p, 10, &mut t, &mut calls, false);
            let floor = p.floor().expect("measured").as_secs_f64() / 0.03;
            if t > Duration::from_secs(10) {
                (sum, count, lowest) = (sum + floor, count + 1.0, lowest.min(floor));
            }
        }
        assert!(
            (0.9..=1.1).contains(&(sum / count)),
            "the median, on average: {}",
            sum / count
        );
        assert!(lowest >= 0.75, "never a quarter below it: {lowest}");
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn a_floor_of_a_few_heavy_tailed_calls_does_not_make_the_next_window_congested() {
        // Lognormal service, sigma = 1, no knee, a pool always full: the
        // first window's ten calls set the floor, a third too low one time
        // in six. Taken as exact, it makes a later window look congested
        // (or queued), which ends the start and cuts a server that has no
        // knee.
        let mut ended = 0;
        for seed in 1..=200u64 {
            let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 4, Duration::ZERO);
            let mut t = Duration::ZERO;
            run(
                &mut p,
                30,
                &mut t,
                lognormal(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
                true,
            );
            if !p.starting() {
                ended += 1;
            }
        }
        // Noise alone ends some (a window past two standard errors is one
        // in forty); a floor taken as exact, nearly three times as many.
        assert!(ended <= 20, "the start ended in {ended} runs of 200");
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn a_floor_set_low_under_a_backlog_that_never_lets_up_is_relearned_and_the_limit_grows() {
        // Lognormal service, sigma = 0.5, no knee. Two idle windows set the
        // floor on 20 calls; from then on the pool is always full and calls
        // wait, and the server's calls take a fifth longer than that floor
        // says, at any concurrency (within two of the floor's standard
        // errors, 0.22). No window is unloaded: the typical latency reads as
        // a sixth of every call queued, and without a probe the limit holds
        // at 10 for good.
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 10, Duration::ZERO);
        let mut t = Duration::ZERO;
        let mut sigma_one = lognormal(0x5851_f42d_4c95_7f2d);
        // The server's median, in units of the calls' (30 ms).
        let median = std::cell::Cell::new(1.0);
        let mut calls = |limit| {
            let (latency, verdict) = sigma_one(limit);
            let factor = (latency.as_secs_f64() / 0.03).sqrt();
            (
                Duration::from_secs_f64(0.03 * median.get() * factor),
                verdict,
            )
        };
        run(&mut p, 2, &mut t, &mut calls, false);
        assert!(!p.starting());
        median.set(p.floor().expect("measured").as_secs_f64() / 0.03 * 1.2);
        let (mut last, mut probes) = (p.limit, 0);
        for _ in 0..300 {
            run(&mut p, 1, &mut t, &mut calls, true);
            probes += usize::from(p.limit < last);
            last = p.limit;
        }
        let floor = p.floor().expect("measured").as_secs_f64() / 0.03 / median.get();
        assert!((0.9..1.1).contains(&floor), "re-learnt: {floor}");
        assert!(p.limit >= 40.0, "grows: {}", p.limit);
        assert!(probes <= 6, "a few probes, then none: {probes}");
    }

    /// Feeds calls of `latency`, 10 ms apart, until a window closes; the
    /// limit is fully used (and calls wait) if `busy`, else one call runs at
    /// a time. By Little's law the window's calls in flight are `latency /
    /// 10 ms`. Returns the limit (unrounded).
    fn window(p: &mut AdaptiveLimit, t: &mut Duration, latency: Duration, busy: bool) -> f64 {
        loop {
            *t += 10 * MS;
            let running = if busy { p.limit.round() as usize } else { 1 };
            let _ = p.observe(
                *t,
                latency,
                Verdict::Success,
                running,
                usize::from(busy),
                (1, 200),
            );
            if p.window.started == *t {
                return p.limit;
            }
        }
    }

    /// A policy at a limit of 40 past its start, with a floor of exactly
    /// 300 ms (one idle window of equal calls: no noise), and the time.
    fn past_the_start_at_300_ms() -> (AdaptiveLimit, Duration) {
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 40, Duration::ZERO);
        let mut t = Duration::ZERO;
        window(&mut p, &mut t, 300 * MS, false);
        assert!(!p.starting());
        assert_eq!(p.limit, 40.0);
        let floor = p.floor().expect("measured");
        assert!(floor.abs_diff(300 * MS) < MS / 1000, "{floor:?}");
        (p, t)
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn after_the_start_a_window_that_surely_queued_half_a_call_holds_the_limit() {
        let (mut p, mut t) = past_the_start_at_300_ms();
        // 30 calls in flight at the floor: nothing queued, it grows.
        let grown = window(&mut p, &mut t, 300 * MS, true);
        assert!(grown > 42.0, "{grown}");
        // 308 ms: 30.8 in flight of which 0.8 surely wait (the window has
        // no noise), within the tolerance; the typical latency has moved a
        // fifth of the way, 0.16 calls. Half a call by the window: held.
        assert_eq!(window(&mut p, &mut t, 308 * MS, true), grown);
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn after_the_start_a_window_that_surely_queued_four_calls_is_a_level_to_grow_slowly_near() {
        let (mut p, mut t) = past_the_start_at_300_ms();
        // Past a first episode of trouble (which marks no level: see
        // `the_first_episode_of_trouble_marks_no_level_and_the_next_does`).
        p.stage = Stage::Later;
        // 350 ms: 35 in flight of which 5 surely wait, a rise of 1.17
        // (within the tolerance of 1.2: not congested). 40 is now the level.
        assert_eq!(window(&mut p, &mut t, 350 * MS, true), 40.0);
        assert_eq!(p.drops_at.map(|(level, _)| level), Some(40.0));
        // Ten idle seconds: the typical latency settles back to the floor
        // (the level relaxes by 1.7%, to 40.7).
        run(&mut p, 100, &mut t, |_| (300 * MS, Verdict::Success), false);
        // Back at the floor, used: a step is 2.2 slots, but near the level
        // the limit grows a tenth of a slot per window.
        let mut limit = p.limit;
        for _ in 0..10 {
            limit = window(&mut p, &mut t, 300 * MS, true);
        }
        assert!((40.7..42.0).contains(&limit), "{limit}");
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn the_level_to_grow_slowly_near_relaxes_by_a_twentieth_per_baseline_interval() {
        let (mut p, mut t) = past_the_start_at_300_ms();
        p.stage = Stage::Later;
        // A queue of five calls at 40 marks the level (as above).
        window(&mut p, &mut t, 350 * MS, true);
        assert_eq!(p.drops_at.map(|(level, _)| level), Some(40.0));
        // Two baseline intervals idle: the level relaxes to 44.
        run(&mut p, 600, &mut t, |_| (300 * MS, Verdict::Success), false);
        assert_eq!(p.limit, 40.0);
        // Used again: a full step of 2.2 slots while a step stays below 44
        // (one window, to 42.2), then a tenth of a slot per window within a
        // step of it (43.1 after ten windows): at a quarter per interval the
        // level would be 60 and the limit would climb there.
        let mut limit = p.limit;
        for _ in 0..10 {
            limit = window(&mut p, &mut t, 300 * MS, true);
        }
        assert!((42.9..43.3).contains(&limit), "{limit}");
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn the_first_episode_of_trouble_marks_no_level_and_the_next_does() {
        let (mut p, mut t) = past_the_start_at_300_ms();
        // A queue of five calls at 40 (the start's burst, say): trouble, the
        // limit held, but no level marked — nor by the episode's next window.
        assert_eq!(window(&mut p, &mut t, 350 * MS, true), 40.0);
        assert_eq!((p.stage, p.drops_at), (Stage::FirstTrouble, None));
        window(&mut p, &mut t, 350 * MS, true);
        assert_eq!((p.stage, p.drops_at), (Stage::FirstTrouble, None));
        // Idle, then used at the floor: a window without trouble ends the
        // episode.
        run(&mut p, 100, &mut t, |_| (300 * MS, Verdict::Success), false);
        let limit = window(&mut p, &mut t, 300 * MS, true);
        assert_eq!((p.stage, p.drops_at), (Stage::Later, None));
        // The next trouble marks its level.
        window(&mut p, &mut t, 350 * MS, true);
        assert_eq!(p.drops_at.map(|(level, _)| level), Some(limit));
    }

    /// The backlog of
    /// `a_floor_set_low_under_a_backlog_that_never_lets_up_is_relearned_and_the_limit_grows`,
    /// up to its first probe: the policy in
    /// the probe's first window, the time, the server, and the limit the
    /// probe stands in for (unrounded).
    #[allow(clippy::type_complexity)]
    fn in_a_probe() -> (
        AdaptiveLimit,
        Duration,
        Box<dyn FnMut(usize) -> (Duration, Verdict)>,
        f64,
    ) {
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 10, Duration::ZERO);
        let mut t = Duration::ZERO;
        let mut sigma_one = lognormal(0x5851_f42d_4c95_7f2d);
        let median = std::rc::Rc::new(std::cell::Cell::new(1.0));
        let server_median = median.clone();
        let mut calls: Box<dyn FnMut(usize) -> (Duration, Verdict)> = Box::new(move |limit| {
            let (latency, verdict) = sigma_one(limit);
            let factor = (latency.as_secs_f64() / 0.03).sqrt();
            (
                Duration::from_secs_f64(0.03 * server_median.get() * factor),
                verdict,
            )
        });
        run(&mut p, 2, &mut t, &mut calls, false);
        median.set(p.floor().expect("measured").as_secs_f64() / 0.03 * 1.2);
        for _ in 0..10_000 {
            let before = p.limit;
            t += 10 * MS;
            let limit = p.limit.round() as usize;
            let (latency, verdict) = calls(limit);
            let _ = p.observe(t, latency, verdict, limit, 1, (1, 200));
            if p.probe == Some(Probe::Draining) {
                return (p, t, calls, before);
            }
        }
        panic!("no probe");
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn a_bounds_change_that_leaves_the_limit_does_not_strand_a_probe_below_it() {
        // `set_bounds` (or a reload) that leaves the limit where it is
        // resets the policy to the pool's limit: during a probe, the probe's.
        // The limit must still return when the probe ends, not stay a
        // quarter down (and probe a quarter below that next).
        let (mut p, mut t, mut calls, before) = in_a_probe();
        let probing = p.limit.round() as usize;
        assert!(probing < before.round() as usize, "{probing} < {before}");
        p.reset_to(probing);
        let mut limit = probing;
        let mut closed = 0;
        while closed < 2 {
            t += 10 * MS;
            let (latency, verdict) = calls(limit);
            if let Some(new) = p.observe(t, latency, verdict, limit, 1, (1, 200)) {
                limit = new;
            }
            closed += usize::from(p.window.started == t);
        }
        assert_eq!(p.probe, None);
        assert_eq!(limit, p.limit.round() as usize);
        assert_eq!(limit, before.round() as usize, "back where it was");
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn a_probe_returns_within_the_bounds_it_is_given() {
        // The pool applies what `observe` returns as it is: the limit a
        // probe returns to is within the bounds of the window that ends it
        // (`max` lowered to the probe's own limit meanwhile).
        let (mut p, mut t, mut calls, before) = in_a_probe();
        let max = p.limit.round() as usize;
        assert!(max < before.round() as usize, "{max} < {before}");
        let mut limit = max;
        for _ in 0..2_000 {
            t += 10 * MS;
            let (latency, verdict) = calls(limit);
            if let Some(new) = p.observe(t, latency, verdict, limit, 1, (1, max)) {
                limit = new;
            }
            assert!(limit <= max, "{limit} above max {max}");
            assert!(
                p.limit.round() as usize <= max,
                "{} above max {max}",
                p.limit
            );
        }
        assert_eq!(p.probe, None);
    }

    #[test]
    #[cfg_attr(miri, ignore = "safe arithmetic: minutes under Miri")]
    fn a_cut_or_a_resize_breaks_the_row_of_held_windows_a_probe_waits_for() {
        // A probe waits for 8 windows in a row held by a queue at the limit.
        // A window that cut the limit for drops was not held, nor was a
        // limit set by hand: the next held window is the first of a new
        // row, not the eighth of the old one (which probed a limit just cut
        // for drops a quarter deeper at once).
        for resized in [false, true] {
            let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 10, Duration::ZERO);
            let mut t = Duration::ZERO;
            let mut sigma_one = lognormal(0x5851_f42d_4c95_7f2d);
            let mut calls = |limit, median: f64| {
                let (latency, verdict) = sigma_one(limit);
                let factor = (latency.as_secs_f64() / 0.03).sqrt();
                (Duration::from_secs_f64(0.03 * median * factor), verdict)
            };
            // Two idle windows set the floor; the server is a fifth slower
            // than it says from then on, the pool always full (as in
            // `a_floor_set_low_under_a_backlog_that_never_lets_up_is_relearned_and_the_limit_grows`).
            for _ in 0..20 {
                t += 10 * MS;
                let (latency, verdict) = calls(1, 1.0);
                let _ = p.observe(t, latency, verdict, 1, 0, (1, 200));
            }
            assert!(!p.starting());
            let median = p.floor().expect("measured").as_secs_f64() / 0.03 * 1.2;
            let mut n = 0;
            while p.held_for < PROBE_AFTER - 1 {
                n += 1;
                assert!(n < 10_000, "never held");
                t += 10 * MS;
                let limit = p.limit.round() as usize;
                let (latency, verdict) = calls(limit, median);
                let _ = p.observe(t, latency, verdict, limit, 1, (1, 200));
                assert_eq!(p.probe, None);
            }
            let before = p.limit;
            if resized {
                p.reset_to(before.round() as usize / 2);
            } else {
                // A burst of refusals: cut.
                while p.limit == before {
                    t += 10 * MS;
                    let limit = p.limit.round() as usize;
                    let _ = p.observe(t, 30 * MS, Verdict::Overload, limit, 1, (1, 200));
                }
            }
            // Held windows at the new limit: no probe before a row of 8.
            let mut closed = 0;
            while closed < PROBE_AFTER - 1 {
                t += 10 * MS;
                let limit = p.limit.round() as usize;
                let (latency, verdict) = calls(limit, median);
                let _ = p.observe(t, latency, verdict, limit, 1, (1, 200));
                closed += u8::from(p.window.started == t);
                assert_eq!(
                    p.probe, None,
                    "resized {resized}: a probe {closed} windows after"
                );
            }
        }
    }
}
