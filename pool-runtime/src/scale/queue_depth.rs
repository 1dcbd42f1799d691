//! The queue-depth autoscaling rule: every `interval`, grow the limit when
//! calls queue up and shrink it when slots idle. Precisely:
//!
//! * a *sample* is the demand on the pool, `running + waiting`, taken every
//!   `interval / window`; the demand changes only at intake and release
//!   events and when a waiting call leaves (cancelled or timed out), so
//!   samples are taken at those events, and the periods with no event in
//!   between are filled with the (unchanged) demand. No
//!   background thread is involved;
//! * every `interval`, with `D` the mean demand over the last `window` samples
//!   and `L` the current limit:
//!   - `D > L` (calls queued on average): grow to `ceil(D)`, at least `L + 1`,
//!     at most `2 L` per step;
//!   - `D < L / 2` (more than half the slots idle): shrink to
//!     `ceil(D * 1.25)` (a quarter of headroom), at most halving per step,
//!     and never below 1 (with `min = 0`: a pool at 0 slots has no release
//!     event to evaluate at, so a lone call would wait for good; only a
//!     `resize` takes it to 0);
//!   - otherwise keep `L`;
//!
//!   and the result is clamped to `[min, max]`.
//!
//! Every step follows from the formula; an idle pool shrinks toward its
//! demand, not one slot at a time; and there are no worker-stop messages to
//! jump a priority queue: the limit is a number.

use crate::pool::error::BuildError;
use std::collections::VecDeque;
use std::time::Duration;

/// Timing of the queue-depth rule. Defaults: every 10 s over 20 samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoscaleTiming {
    /// How often the limit is re-evaluated.
    pub interval: Duration,
    /// How many samples (taken evenly over one `interval`) the evaluation averages.
    pub window: usize,
}

impl AutoscaleTiming {
    /// The most samples a window may hold. The rule keeps the window's
    /// samples (one `usize` each) and may record up to a window of them at
    /// one event, under the pool lock: 4096 keeps that to 32 KiB and a few
    /// microseconds at worst, while sampling every 2.4 ms at the default
    /// 10 s interval, far finer than demand needs. (Unbounded, a window of
    /// 2^30 allocated 8 GiB and cost 200 ms per call.)
    pub const MAX_WINDOW: usize = pool_settings::limits::MAX_AUTOSCALE_WINDOW;

    /// Every 10 s over 20 samples.
    pub const DEFAULT: AutoscaleTiming = AutoscaleTiming {
        interval: Duration::from_secs(10),
        window: 20,
    };

    /// Checks the timing: a window of `1..=`[`MAX_WINDOW`](Self::MAX_WINDOW)
    /// samples and an interval longer than zero. An interval too long to
    /// ever pass (up to `Duration::MAX`) is valid: the limit then never moves.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroWindow`], [`BuildError::OutOfRange`] (the window),
    /// [`BuildError::ZeroInterval`].
    pub fn validate(&self) -> Result<(), BuildError> {
        if self.window == 0 {
            return Err(BuildError::ZeroWindow);
        }
        if self.window > Self::MAX_WINDOW {
            return Err(BuildError::OutOfRange {
                setting: "autoscale_window",
                value: self.window.to_string(),
                expected: format!(
                    "1 to {} samples (AutoscaleTiming::MAX_WINDOW)",
                    Self::MAX_WINDOW
                ),
            });
        }
        if self.interval.is_zero() {
            return Err(BuildError::ZeroInterval);
        }
        Ok(())
    }
}

impl Default for AutoscaleTiming {
    fn default() -> Self {
        AutoscaleTiming::DEFAULT
    }
}

/// The queue-depth rule's state: lives under the pool lock.
#[derive(Debug)]
pub(crate) struct QueueDepthRule {
    sample_every: Duration,
    window: usize,
    interval: Duration,
    samples: VecDeque<usize>,
    next_sample: Duration,
    next_eval: Duration,
}

impl QueueDepthRule {
    /// The rule never panics, whatever the timing (every public path
    /// validates it first; this is the last line of defence): the window is
    /// clamped to `1..=MAX_WINDOW`, the interval to at least 1 ns, and times
    /// saturate, so an interval too long to pass means "never".
    pub(crate) fn new(timing: AutoscaleTiming, now: Duration) -> Self {
        let window = timing.window.clamp(1, AutoscaleTiming::MAX_WINDOW);
        let interval = timing.interval.max(Duration::from_nanos(1));
        let per_window = u32::try_from(window).unwrap_or(u32::MAX);
        let sample_every = (interval / per_window).max(Duration::from_nanos(1));
        QueueDepthRule {
            sample_every,
            window,
            interval,
            samples: VecDeque::with_capacity(window),
            next_sample: now.saturating_add(sample_every),
            next_eval: now.saturating_add(interval),
        }
    }

    /// When the next sample or evaluation is due, whichever comes first: no
    /// event before then needs to call `observe` (an evaluation can fall
    /// due before the next sample: a sample taken late in an interval moves
    /// the next one past the interval's end).
    pub(crate) fn next_due(&self) -> Duration {
        self.next_sample.min(self.next_eval)
    }

    /// Records the samples due by `now` (all equal to `demand`, the demand since
    /// the previous event) and returns the new limit when an evaluation is due.
    pub(crate) fn observe(
        &mut self,
        now: Duration,
        demand: usize,
        limit: usize,
        bounds: (usize, usize),
    ) -> Option<usize> {
        if now >= self.next_sample {
            let due = ((now - self.next_sample).as_nanos() / self.sample_every.as_nanos()) + 1;
            for _ in 0..due.min(self.window as u128) {
                if self.samples.len() == self.window {
                    self.samples.pop_front();
                }
                self.samples.push_back(demand);
            }
            // On the schedule, not from this event: an event between two
            // sample times would otherwise push every later sample back by
            // the part of a period already passed, and events about a
            // period apart would take half the samples an interval has, so
            // that its window reached back into the interval before.
            self.next_sample = u32::try_from(due)
                .ok()
                .and_then(|due| self.sample_every.checked_mul(due))
                .and_then(|ahead| self.next_sample.checked_add(ahead))
                .unwrap_or_else(|| now.saturating_add(self.sample_every));
        }
        if now < self.next_eval || self.samples.is_empty() {
            return None;
        }
        self.next_eval = now.saturating_add(self.interval);
        let mean = self.samples.iter().sum::<usize>() as f64 / self.samples.len() as f64;
        let target = Self::target(mean, limit).clamp(bounds.0, bounds.1);
        (target != limit).then_some(target)
    }

    fn target(mean: f64, limit: usize) -> usize {
        let l = limit as f64;
        if mean > l {
            (mean.ceil() as usize).clamp(limit + 1, (limit * 2).max(1))
        } else if mean < l / 2.0 {
            // At most halving (an odd limit keeps the larger half), and
            // never to 0 by itself: see the module docs.
            ((mean * 1.25).ceil() as usize)
                .max(limit.div_ceil(2))
                .max(1)
        } else {
            limit
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn rule() -> QueueDepthRule {
        QueueDepthRule::new(AutoscaleTiming::default(), Duration::ZERO)
    }

    #[test]
    fn grows_toward_demand_at_most_doubling_per_interval() {
        let mut r = rule();
        assert_eq!(
            r.observe(SEC, 20, 4, (3, 8)),
            None,
            "no evaluation before the interval"
        );
        // 20 calls wanting slots for the whole interval: double 4 -> 8 (also max).
        assert_eq!(r.observe(10 * SEC, 20, 4, (3, 100)), Some(8));
        assert_eq!(r.observe(20 * SEC, 20, 8, (3, 100)), Some(16));
        assert_eq!(r.observe(30 * SEC, 20, 16, (3, 100)), Some(20));
        assert_eq!(r.observe(40 * SEC, 20, 20, (3, 100)), None, "demand met");
    }

    #[test]
    fn shrinks_toward_demand_when_mostly_idle_and_respects_min() {
        let mut r = rule();
        assert_eq!(r.observe(10 * SEC, 1, 8, (3, 8)), Some(4));
        assert_eq!(r.observe(20 * SEC, 1, 4, (3, 8)), Some(3), "clamped to min");
        assert_eq!(r.observe(30 * SEC, 0, 3, (3, 8)), None);
    }

    #[test]
    fn mean_covers_the_window_not_only_the_last_event() {
        let mut r = rule();
        // Demand 10 for the first half of the interval, 0 for the second half.
        r.observe(Duration::from_millis(500), 10, 8, (3, 8));
        assert_eq!(r.observe(5 * SEC, 10, 8, (3, 8)), None);
        // The event at 10s reports the demand since 5s (0): mean = 5 of 8 -> keep.
        assert_eq!(r.observe(10 * SEC, 0, 8, (3, 8)), None);
    }

    #[test]
    fn any_timing_is_safe_the_window_is_clamped_and_times_saturate() {
        let late = Duration::MAX - SEC;
        for timing in [
            AutoscaleTiming {
                interval: Duration::MAX,
                window: usize::MAX,
            },
            AutoscaleTiming {
                interval: Duration::ZERO,
                window: 0,
            },
            AutoscaleTiming {
                interval: SEC,
                window: 1 << 32,
            },
        ] {
            let mut r = QueueDepthRule::new(timing, late);
            assert!(r.window <= AutoscaleTiming::MAX_WINDOW);
            assert!(r.samples.capacity() < 2 * AutoscaleTiming::MAX_WINDOW);
            let _ = r.observe(Duration::MAX, 5, 4, (1, 8));
            let _ = r.observe(Duration::MAX, 5, 4, (1, 8));
        }
    }

    #[test]
    fn events_between_sample_times_take_every_sample_on_its_schedule() {
        let mut r = rule();
        // Demand 40 through the first interval (one event at its end).
        assert_eq!(r.observe(10 * SEC, 40, 40, (1, 100)), None);
        // Then 4, with events 1.9 s apart: ten samples of 4 by 20 s, not
        // five (each event restarting the second), so the mean is 4 and
        // the limit halves.
        let mut at = 10 * SEC;
        let mut decided = None;
        while at < 20 * SEC {
            at += Duration::from_millis(1900);
            decided = r.observe(at.min(20 * SEC), 4, 40, (1, 100)).or(decided);
        }
        assert_eq!(decided, Some(20), "samples: {:?}", r.samples);
        assert!(r.samples.iter().all(|&d| d == 4), "{:?}", r.samples);
    }

    #[test]
    fn moderate_load_keeps_the_limit() {
        let mut r = rule();
        assert_eq!(r.observe(10 * SEC, 6, 8, (3, 8)), None);
    }
}
