//! Netflix concurrency-limits' `Gradient2Limit`.
//!
//! Source: Netflix/concurrency-limits,
//! `concurrency-limits-core/src/main/java/com/netflix/concurrency/limits/limit/Gradient2Limit.java`
//! (with `measurement/ExpAvgMeasurement.java`, `AbstractLimit.java` and
//! `limiter/AbstractLimiter.java`, which supplies `inflight` and `didDrop`);
//! read at commit 78a74b9878d38c4c048b0304ce12a162ab7b7222.
//!
//! Defaults (the builder's): `initialLimit` 20, `maxConcurrency` 200,
//! `smoothing` 0.2, `rttTolerance` 1.5, `longWindow` 600, `queueSize` 4
//! (a constant; the README suggests `sqrt(limit)` as an alternative), and
//! `minLimit` 20 — **lowered to 1 here**: a floor of 20 sits above the
//! capacity of most servers in the family (8 workers), where no limit could
//! protect anything, and none of the other contenders has such a floor.
//!
//! On every sample (`onSample(startTime, rtt, inflight, didDrop)`, called by
//! the limiter for successes and for drops alike; `didDrop` is not read):
//!
//! * `longRtt` is an exponential average of the RTTs (factor
//!   `2 / (longWindow + 1)`, a plain mean over the first 10); when
//!   `longRtt / rtt > 2` it decays by 5% (recovery after a long overload);
//! * if `inflight < limit / 2` (app-limited) nothing moves;
//! * `gradient = clamp(rttTolerance * longRtt / rtt, 0.5, 1)`,
//!   `new = limit * gradient + queueSize`,
//!   `limit = limit * (1 - smoothing) + new * smoothing`, within
//!   `[minLimit, maxConcurrency]`; the limiter uses `floor(limit)`.
//!
//! `inflight` is the limiter's count when the call was admitted, itself
//! included. A dropped call's RTT is its time to the answer or timeout, as
//! the limiter measures it (an instant refusal measures as 1 µs here, where
//! the simulated clock would give 0: Java's nanosecond clock never does).

use super::{Controller, Outcome, Started};

/// `Gradient2Limit.Builder`'s parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// The starting limit.
    pub initial_limit: usize,
    /// The floor (the library's default is 20; see the module's docs).
    pub min_limit: usize,
    /// The ceiling.
    pub max_concurrency: usize,
    /// Weight of a new estimate.
    pub smoothing: f64,
    /// Growth allowed per sample while latency is within tolerance.
    pub queue_size: f64,
    /// The long RTT average's window (samples).
    pub long_window: u32,
    /// How much slower than the long RTT a sample may be before the limit falls.
    pub rtt_tolerance: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            initial_limit: 20,
            min_limit: 1,
            max_concurrency: 200,
            smoothing: 0.2,
            queue_size: 4.0,
            long_window: 600,
            rtt_tolerance: 1.5,
        }
    }
}

/// The smallest RTT a sample reports (see the module's docs).
pub const MIN_RTT: f64 = 1e-6;

/// `ExpAvgMeasurement(window, warmup 10)`.
#[derive(Clone, Debug)]
struct ExpAvg {
    value: f64,
    sum: f64,
    window: u32,
    count: u32,
}

impl ExpAvg {
    const WARMUP: u32 = 10;

    fn add(&mut self, sample: f64) -> f64 {
        if self.count < Self::WARMUP {
            self.count += 1;
            self.sum += sample;
            self.value = self.sum / f64::from(self.count);
        } else {
            let factor = 2.0 / (f64::from(self.window) + 1.0);
            self.value = self.value * (1.0 - factor) + sample * factor;
        }
        self.value
    }
}

/// The limit's state.
#[derive(Debug)]
pub struct Gradient2 {
    settings: Settings,
    estimated_limit: f64,
    long_rtt: ExpAvg,
    in_flight: usize,
}

impl Gradient2 {
    /// A limit at `initial_limit`.
    pub fn new(settings: Settings) -> Gradient2 {
        Gradient2 {
            settings,
            estimated_limit: settings.initial_limit as f64,
            long_rtt: ExpAvg {
                value: 0.0,
                sum: 0.0,
                window: settings.long_window,
                count: 0,
            },
            in_flight: 0,
        }
    }

    /// `_update(startTime, rtt, inflight, didDrop)`.
    fn update(&mut self, rtt: f64, inflight: usize) {
        let s = self.settings;
        let estimated = self.estimated_limit;
        let short = rtt;
        let long = self.long_rtt.add(rtt);
        if long / short > 2.0 {
            self.long_rtt.value *= 0.95;
        }
        if (inflight as f64) < estimated / 2.0 {
            return;
        }
        let gradient = (s.rtt_tolerance * long / short).clamp(0.5, 1.0);
        let new = estimated * gradient + s.queue_size;
        let new = estimated * (1.0 - s.smoothing) + new * s.smoothing;
        self.estimated_limit = new.clamp(s.min_limit as f64, s.max_concurrency as f64);
    }
}

impl Controller for Gradient2 {
    fn limit(&self) -> usize {
        self.estimated_limit as usize
    }

    fn start(&mut self, now: f64) -> Started {
        Started::count(&mut self.in_flight, now)
    }

    fn end(&mut self, started: Started, now: f64, _outcome: Outcome) {
        self.in_flight -= 1;
        self.update((now - started.at).max(MIN_RTT), started.in_flight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(g: &mut Gradient2, n: usize, rtt: f64, outcome: Outcome) {
        for _ in 0..n {
            let inflight = g.limit();
            g.update(rtt.max(MIN_RTT), inflight);
            let _ = outcome;
        }
    }

    #[test]
    fn grows_while_latency_is_flat_and_the_pool_is_used() {
        let mut g = Gradient2::new(Settings::default());
        samples(&mut g, 50, 0.05, Outcome::Ok);
        // + 0.8 per sample: 20 + 50 * 0.8.
        assert_eq!(g.limit(), 60);
        samples(&mut g, 500, 0.05, Outcome::Ok);
        assert_eq!(g.limit(), 200, "the ceiling");
    }

    #[test]
    fn shrinks_when_latency_rises_above_the_tolerance() {
        let mut g = Gradient2::new(Settings::default());
        samples(&mut g, 20, 0.05, Outcome::Ok);
        let before = g.limit();
        samples(&mut g, 20, 0.2, Outcome::Ok);
        assert!(g.limit() < before, "{} → {}", before, g.limit());
        // 1.4× is within the tolerance (1.5): no fall.
        let mut g = Gradient2::new(Settings::default());
        samples(&mut g, 20, 0.05, Outcome::Ok);
        let before = g.limit();
        samples(&mut g, 5, 0.07, Outcome::Ok);
        assert!(g.limit() >= before);
    }

    #[test]
    fn app_limited_samples_do_not_move_the_limit() {
        let mut g = Gradient2::new(Settings::default());
        for _ in 0..100 {
            g.update(0.05, 3);
        }
        assert_eq!(g.limit(), 20);
    }

    #[test]
    fn the_long_rtt_decays_when_far_above_the_short() {
        let mut g = Gradient2::new(Settings::default());
        samples(&mut g, 10, 1.0, Outcome::Ok);
        let long = g.long_rtt.value;
        g.update(0.1, 0);
        assert!(g.long_rtt.value < 0.96 * long);
    }
}
