//! Netflix concurrency-limits' `VegasLimit` (TCP Vegas applied to request
//! concurrency).
//!
//! Source: Netflix/concurrency-limits,
//! `concurrency-limits-core/src/main/java/com/netflix/concurrency/limits/limit/VegasLimit.java`
//! (with `functions/Log10RootIntFunction.java` and `limiter/AbstractLimiter.java`);
//! read at commit 78a74b9878d38c4c048b0304ce12a162ab7b7222.
//!
//! Defaults (the builder's): `initialLimit` 20, `maxConcurrency` 1000,
//! `smoothing` 1.0, `alpha = 3 * log10(limit)`, `beta = 6 * log10(limit)`,
//! `threshold = log10(limit)`, `increase = limit + log10(limit)`,
//! `decrease = limit - log10(limit)`, `probeMultiplier` 30, where `log10`
//! is `max(1, floor(log10(limit)))` (so 1 below a limit of 100: alpha 3,
//! beta 6, threshold 1, steps of 1).
//!
//! On every sample (`onSample(startTime, rtt, inflight, didDrop)`):
//!
//! * after `probeJitter * probeMultiplier * limit` samples (jitter uniform in
//!   [0.5, 1), redrawn per probe) the sample's RTT becomes `rtt_noload`
//!   and nothing else moves; otherwise a first or lower RTT becomes
//!   `rtt_noload` and nothing else moves;
//! * `queueSize = ceil(limit * (1 - rtt_noload / rtt))`;
//! * a drop: `decrease`; else if `inflight * 2 < limit`: nothing; else
//!   `queueSize <= threshold`: `limit + beta`; `< alpha`: `increase`;
//!   `> beta`: `decrease`; otherwise nothing;
//! * the new limit is clamped to `[1, maxConcurrency]` and smoothed
//!   (`(1 - smoothing) * old + smoothing * new`); the limiter uses its floor.
//!
//! Java throws on an RTT of 0 before touching any state; the simulated clock
//! gives 0 for instant refusals, which are therefore not samples — as in
//! Java, where that exception leaves the limit as it was.

use super::{Controller, Outcome, Started};
use crate::rng::Rng;

/// `VegasLimit.Builder`'s parameters (the functions are the defaults').
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// The starting limit.
    pub initial_limit: usize,
    /// The ceiling.
    pub max_concurrency: usize,
    /// Weight of a new limit.
    pub smoothing: f64,
    /// Samples between RTT probes, per unit of limit.
    pub probe_multiplier: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            initial_limit: 20,
            max_concurrency: 1000,
            smoothing: 1.0,
            probe_multiplier: 30,
        }
    }
}

/// `Log10RootIntFunction.create(0)`: `max(1, floor(log10(limit)))`.
pub fn log10(limit: usize) -> usize {
    if limit == 0 {
        return 1;
    }
    (limit.ilog10() as usize).max(1)
}

/// The limit's state.
#[derive(Debug)]
pub struct Vegas {
    settings: Settings,
    estimated_limit: f64,
    rtt_noload: f64,
    probe_count: u64,
    probe_jitter: f64,
    rng: Rng,
    in_flight: usize,
}

impl Vegas {
    /// A limit at `initial_limit`; `rng` draws the probe jitter.
    pub fn new(settings: Settings, mut rng: Rng) -> Vegas {
        let probe_jitter = 0.5 + 0.5 * rng.uniform();
        Vegas {
            settings,
            estimated_limit: settings.initial_limit as f64,
            rtt_noload: 0.0,
            probe_count: 0,
            probe_jitter,
            rng,
            in_flight: 0,
        }
    }

    fn should_probe(&self) -> bool {
        self.probe_jitter * f64::from(self.settings.probe_multiplier) * self.estimated_limit
            <= self.probe_count as f64
    }

    /// `_update(startTime, rtt, inflight, didDrop)`.
    fn update(&mut self, rtt: f64, inflight: usize, did_drop: bool) {
        if rtt <= 0.0 {
            return;
        }
        self.probe_count += 1;
        if self.should_probe() {
            self.probe_jitter = 0.5 + 0.5 * self.rng.uniform();
            self.probe_count = 0;
            self.rtt_noload = rtt;
            return;
        }
        if self.rtt_noload == 0.0 || rtt < self.rtt_noload {
            self.rtt_noload = rtt;
            return;
        }
        self.update_estimated_limit(rtt, inflight, did_drop);
    }

    fn update_estimated_limit(&mut self, rtt: f64, inflight: usize, did_drop: bool) {
        let estimated = self.estimated_limit;
        let queue_size = (estimated * (1.0 - self.rtt_noload / rtt)).ceil() as i64;
        let l = estimated as usize;
        let step = log10(l) as f64;
        let new = if did_drop {
            estimated - step
        } else if (inflight as f64) * 2.0 < estimated {
            return;
        } else {
            let alpha = 3 * log10(l) as i64;
            let beta = 6 * log10(l) as i64;
            let threshold = log10(l) as i64;
            if queue_size <= threshold {
                estimated + beta as f64
            } else if queue_size < alpha {
                estimated + step
            } else if queue_size > beta {
                estimated - step
            } else {
                return;
            }
        };
        let s = self.settings;
        let new = new.clamp(1.0, s.max_concurrency as f64);
        self.estimated_limit = (1.0 - s.smoothing) * estimated + s.smoothing * new;
    }
}

impl Controller for Vegas {
    fn limit(&self) -> usize {
        self.estimated_limit as usize
    }

    fn start(&mut self, now: f64) -> Started {
        Started::count(&mut self.in_flight, now)
    }

    fn end(&mut self, started: Started, now: f64, outcome: Outcome) {
        self.in_flight -= 1;
        self.update(
            now - started.at,
            started.in_flight,
            outcome == Outcome::Dropped,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vegas() -> Vegas {
        Vegas::new(Settings::default(), Rng::new(1, 4))
    }

    /// One sample at full use of the limit.
    fn sample(v: &mut Vegas, rtt: f64, drop: bool) {
        let inflight = v.limit();
        v.update(rtt, inflight, drop);
    }

    #[test]
    fn the_log10_function_is_the_librarys() {
        assert_eq!(log10(1), 1);
        assert_eq!(log10(20), 1);
        assert_eq!(log10(99), 1);
        assert_eq!(log10(100), 2);
        assert_eq!(log10(999), 2);
        assert_eq!(log10(1000), 3);
    }

    #[test]
    fn no_queueing_grows_by_beta() {
        let mut v = vegas();
        sample(&mut v, 0.05, false); // sets rtt_noload
        assert_eq!(v.limit(), 20);
        sample(&mut v, 0.05, false);
        assert_eq!(v.limit(), 26, "queue 0 <= threshold 1: + beta 6");
    }

    #[test]
    fn queueing_past_beta_decreases_and_a_drop_decreases() {
        let mut v = vegas();
        sample(&mut v, 0.05, false);
        // 20 * (1 - 0.05 / 0.1) = 10 > beta 6: - 1.
        sample(&mut v, 0.1, false);
        assert_eq!(v.limit(), 19);
        // queue 19 * (1 - 0.05/0.06) = 3.2 → 4: between alpha 3 and beta 6.
        sample(&mut v, 0.06, false);
        assert_eq!(v.limit(), 19);
        sample(&mut v, 0.05, true);
        assert_eq!(v.limit(), 18, "a drop decreases");
    }

    #[test]
    fn app_limited_successes_do_not_move_it_and_zero_rtts_are_ignored() {
        let mut v = vegas();
        v.update(0.05, 1, false);
        for _ in 0..50 {
            v.update(0.05, 3, false);
        }
        assert_eq!(v.limit(), 20);
        for _ in 0..50 {
            v.update(0.0, 20, true);
        }
        assert_eq!(v.limit(), 20);
    }

    #[test]
    fn probes_reset_the_noload_rtt() {
        let mut v = vegas();
        v.update(0.05, 20, false);
        // At most 1 * 30 * 20 = 600 samples later a probe takes the RTT as is.
        for _ in 0..600 {
            v.update(0.08, 5, false);
        }
        assert_eq!(v.rtt_noload, 0.08);
    }
}
