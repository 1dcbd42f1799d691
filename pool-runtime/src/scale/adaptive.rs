//! The latency-adaptive limit: keep the server behind the pool below its knee.
//!
//! The queue-depth rule grows the pool whenever calls wait, so under overload
//! it climbs to `max` and keeps hammering the server it was meant to protect.
//! This policy instead watches what the server does with the concurrency it
//! gets — each call's latency (admission to completion) and whether it was
//! dropped (the caller judged the outcome an overload, or the call timed out
//! waiting for admission) — and moves the limit in the way of Netflix's
//! Gradient2 and Envoy's adaptive concurrency filter:
//!
//! * **Windows.** Calls are sampled in windows of at least `window_samples`
//!   calls and `window_time`; each window's mean latency is `sample`.
//! * **Baseline.** The server's unloaded latency is measured, not guessed: at
//!   the start and then every `baseline_interval`, one window runs at the
//!   pool's `min` concurrency (Envoy's minRTT probe) and its mean latency —
//!   over calls admitted after the probe began — becomes the baseline. A baseline averaged from loaded windows (Gradient2's
//!   long EWMA) creeps up with the load it measures and lets the limit drift
//!   past the knee; a periodic probe cannot.
//! * **Gradient.** `gradient = clamp(tolerance * baseline / sample, 0.5, 1)`:
//!   1 while latency stays within `tolerance` of the baseline (noise, or
//!   headroom), falling as the server starts to queue.
//! * **Update.** With the gradient at 1 and the pool actually used (at least
//!   half the slots busy at the window's peak), the limit probes upward by
//!   `sqrt(limit)`; below 1, it targets `limit * gradient`. It moves
//!   `smoothing` of the way to the target per window.
//! * **Drops.** As soon as a window holds two drops or more and they exceed
//!   `drop_tolerance` of its calls, it closes and the limit backs off
//!   multiplicatively (`limit * backoff`): an "overloaded" answer or an
//!   admission timeout is the server saying "too much" outright, and waiting
//!   for a full window lets timeouts pile abandoned work onto it. Rarer
//!   errors — and a lone drop in a window — are taken for unrelated failures
//!   and ignored.
//! * **Baseline refresh.** A window without drops that ran entirely at `min`
//!   concurrency measures the unloaded server as well as a probe does: it
//!   refreshes the baseline and postpones the next probe.
//! * The limit stays within `[min, max]`.
//!
//! Choosing `min`: the probe measures the server at `min` concurrency, so set
//! `min` at or below the lowest capacity the server may fall to (on the
//! simulator, `min = 2` for a server that drops to 2 workers re-converges in
//! under 2 s, `min = 3` — the default — takes up to 15 s), and above 1
//! unless the server really serves one call at a time (at `min = 1` the probe
//! window makes a lightly loaded pool's callers queue; see `sim/RESULTS.md`).

use crate::pool::error::BuildError;
use pool_settings::adaptive as limits;
use std::ops::RangeInclusive;
use std::time::Duration;

/// Parameters of the latency-adaptive policy. Defaults: windows of 10 calls
/// and 100 ms, tolerance 1.2, smoothing 0.35, a baseline probe every 60 s,
/// back-off to half past a 2% drop rate. They were tuned on the simulated
/// server of `sim/` (see `sim/RESULTS.md` for the sweep and its evidence):
/// smoothing 0.35 re-converges after a capacity drop in half the time of 0.2
/// at the same goodput; probing every 60 s instead of 10 s costs fewer stalls;
/// halving on drops stops a collapse that 0.9 lets through on slow servers.
///
/// Each number has a range (the associated constants below); the builder
/// rejects values outside it, NaN included, with a
/// [`BuildError::OutOfRange`]. Durations may be anything: one too long to
/// pass (`Duration::MAX`) means "never".
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
    /// How often the unloaded latency is re-measured by a probe window at `min`.
    pub baseline_interval: Duration,
    /// Multiplier applied to the limit after a window with too many drops,
    /// within [`BACKOFF`](Self::BACKOFF).
    pub backoff: f64,
    /// Drop rate a window may have without backing off, within
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
        baseline_interval: Duration::from_secs(60),
        backoff: 0.5,
        drop_tolerance: 0.02,
    };
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
    latency_sum: f64,
    successes: u32,
    drops: u32,
    peak_running: usize,
}

/// The policy's state: lives under the pool lock.
#[derive(Debug)]
pub(crate) struct AdaptiveLimit {
    settings: AdaptiveSettings,
    limit: f64,
    /// Unloaded latency (seconds), from the last probe window.
    baseline: Option<f64>,
    /// While probing: the limit to go back to, and when the probe began.
    probing: Option<(f64, Duration)>,
    next_probe: Duration,
    window: Window,
}

impl AdaptiveLimit {
    pub(crate) fn new(settings: AdaptiveSettings, limit: usize, now: Duration) -> Self {
        AdaptiveLimit {
            // Builders validate; this keeps the arithmetic finite whatever
            // reaches the pool.
            settings: settings.clamped(),
            limit: limit as f64,
            baseline: None,
            probing: None,
            next_probe: now,
            window: Window {
                started: now,
                ..Window::default()
            },
        }
    }

    /// The limit was changed by hand (`scale`, `resize`, configuration): start from it.
    pub(crate) fn reset_to(&mut self, limit: usize) {
        self.limit = limit as f64;
        if let Some((saved, _)) = self.probing.as_mut() {
            *saved = limit as f64;
        }
    }

    /// The unloaded latency measured by the last probe, if any.
    #[cfg(test)]
    fn baseline(&self) -> Option<f64> {
        self.baseline
    }

    /// At least two drops, and more than the tolerated share of the calls.
    fn too_many_drops(&self, drops: u32, samples: u32) -> bool {
        drops >= 2 && f64::from(drops) / f64::from(samples) > self.settings.drop_tolerance
    }

    /// Records one finished call; returns the new limit when a window closes
    /// and the limit moves. `running` is the running count before the call
    /// released its slot.
    pub(crate) fn observe(
        &mut self,
        now: Duration,
        latency: Duration,
        verdict: Verdict,
        running: usize,
        bounds: (usize, usize),
    ) -> Option<usize> {
        if let Some((_, began)) = self.probing {
            // Calls admitted before the probe ran at the old concurrency: their
            // latency says nothing about the unloaded server.
            if now.saturating_sub(latency) < began {
                return None;
            }
        }
        let w = &mut self.window;
        w.peak_running = w.peak_running.max(running);
        match verdict {
            Verdict::Success => {
                w.latency_sum += latency.as_secs_f64();
                w.successes = w.successes.saturating_add(1);
            }
            Verdict::Overload => w.drops = w.drops.saturating_add(1),
            Verdict::Ignore => return None,
        }
        let (samples, drops) = (w.successes.saturating_add(w.drops), w.drops);
        // Drops close the window at once: waiting for a full window lets
        // timeouts pile abandoned work onto a server that is already failing.
        let drops_now = self.probing.is_none()
            && self.baseline.is_some()
            && verdict == Verdict::Overload
            && self.too_many_drops(drops, samples);
        if !drops_now
            && (samples < self.settings.window_samples
                || now.saturating_sub(self.window.started) < self.settings.window_time)
        {
            return None;
        }
        let window = std::mem::replace(
            &mut self.window,
            Window {
                started: now,
                ..Window::default()
            },
        );
        let (low, high) = (bounds.0.max(1) as f64, bounds.1.max(bounds.0).max(1) as f64);
        let before = self.limit.round() as usize;
        let s = self.settings;
        let sample =
            (window.successes > 0).then(|| window.latency_sum / f64::from(window.successes));

        if let Some((saved, _)) = self.probing.take() {
            // The probe window ran at `low` concurrency: its latency is the baseline.
            if let Some(sample) = sample {
                self.baseline = Some(sample);
            }
            self.next_probe = now.saturating_add(s.baseline_interval);
            self.limit = saved.clamp(low, high);
        } else if now >= self.next_probe || self.baseline.is_none() && sample.is_some() {
            self.probing = Some((self.limit, now));
            self.limit = low;
        } else if window.drops == 0 && window.peak_running as f64 <= low && sample.is_some() {
            // A window that ran at `min` concurrency is as good as a probe: it
            // refreshes the baseline (a single probe can come out low on a
            // noisy server and pin the limit at `min` until the next one).
            self.baseline = sample;
            self.next_probe = now.saturating_add(s.baseline_interval);
            if window.peak_running as f64 >= self.limit / 2.0 {
                self.limit =
                    (self.limit + self.limit.sqrt() * s.smoothing.clamp(0.0, 1.0)).clamp(low, high);
            }
        } else if self.too_many_drops(window.drops, samples) {
            self.limit = (self.limit * s.backoff).clamp(low, high);
        } else if let (Some(sample), Some(baseline)) = (sample, self.baseline) {
            let gradient = (s.tolerance * baseline / sample.max(f64::MIN_POSITIVE)).clamp(0.5, 1.0);
            let used = window.peak_running as f64 >= self.limit / 2.0;
            let target = if gradient < 1.0 {
                self.limit * gradient
            } else if used {
                self.limit + self.limit.sqrt()
            } else {
                self.limit
            };
            let smoothing = s.smoothing.clamp(0.0, 1.0);
            self.limit = (self.limit * (1.0 - smoothing) + target * smoothing).clamp(low, high);
        }
        let after = self.limit.round() as usize;
        (after != before).then_some(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                if let Some(new) = policy.observe(*start, latency, verdict, running, (1, 200)) {
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

    #[test]
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
        assert!(p.baseline().is_some());
    }

    #[test]
    fn ignored_calls_are_not_samples_and_bounds_hold() {
        let mut p = AdaptiveLimit::new(AdaptiveSettings::default(), 5, Duration::ZERO);
        for i in 1..100u32 {
            assert_eq!(p.observe(MS * i * 10, MS, Verdict::Ignore, 5, (2, 6)), None);
        }
        let mut t = Duration::ZERO;
        let mut limit = 5;
        for _ in 0..400 {
            t += 10 * MS;
            if let Some(l) = p.observe(t, 50 * MS, Verdict::Success, limit, (2, 6)) {
                limit = l;
            }
        }
        assert_eq!(limit, 6, "grows to max and no further");
    }
}
