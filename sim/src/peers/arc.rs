//! Vector's Adaptive Request Concurrency (ARC).
//!
//! Source: vectordotdev/vector, `src/sinks/util/adaptive_concurrency/controller.rs`
//! (`Controller::start_request`, `adjust_to_response_inner`, `manage_limit`),
//! defaults from `adaptive_concurrency/mod.rs` (`AdaptiveConcurrencySettings`),
//! statistics from `lib/vector-common/src/stats/mod.rs` (`EwmaVar`, `Mean`);
//! read at commit c3445d42d2799eb9afe102b71cba7ae96a80942b. Described in
//! Vector's "Adaptive Request Concurrency" RFC and blog post (2020).
//!
//! Defaults: `initial_concurrency` 1, `decrease_ratio` 0.9, `ewma_alpha` 0.4,
//! `rtt_deviation_scale` 2.5, `max_concurrency_limit` 200.
//!
//! The algorithm, as Vector runs it:
//!
//! * Each request's RTT (start to response) is averaged over the current
//!   period (a plain mean, successful responses only); the past RTT is an
//!   EWMA (alpha 0.4) of the period means, with an EWMA variance.
//! * A period lasts one past-RTT mean; at its end, with
//!   `threshold = sqrt(variance) * rtt_deviation_scale`:
//!   - if the limit was reached during the period (a request started with
//!     `in_flight >= limit`), there was no back-pressure, and the period's
//!     mean RTT is at most the past mean: limit + 1;
//!   - else if there was back-pressure (a retriable response — 429, 503 —
//!     or a timeout) or the period's mean RTT is at least
//!     `past mean + threshold`: `limit = floor(limit * 0.9)`, at least 1.
//! * Back-pressure responses count no RTT sample.

use super::{Controller, Outcome, Started};

/// ARC's parameters (`AdaptiveConcurrencySettings`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// The starting limit.
    pub initial_concurrency: usize,
    /// Multiplier of the limit on a decrease.
    pub decrease_ratio: f64,
    /// Weight of a new period's mean RTT in the past RTT's EWMA.
    pub ewma_alpha: f64,
    /// Deviations of the past RTT tolerated before decreasing.
    pub rtt_deviation_scale: f64,
    /// The largest limit.
    pub max_concurrency_limit: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            initial_concurrency: 1,
            decrease_ratio: 0.9,
            ewma_alpha: 0.4,
            rtt_deviation_scale: 2.5,
            max_concurrency_limit: 200,
        }
    }
}

/// `vector_common::stats::EwmaVar`'s state.
#[derive(Clone, Copy, Debug, PartialEq)]
struct MeanVariance {
    mean: f64,
    variance: f64,
}

/// The controller's state (Vector's `Inner`).
#[derive(Debug)]
pub struct Arc {
    settings: Settings,
    current_limit: usize,
    in_flight: usize,
    past_rtt: Option<MeanVariance>,
    next_update: f64,
    /// The period's RTTs: (count, mean).
    current_rtt: (u64, f64),
    had_back_pressure: bool,
    reached_limit: bool,
}

impl Arc {
    /// A controller at `initial_concurrency`.
    pub fn new(settings: Settings) -> Arc {
        Arc {
            settings,
            current_limit: settings.initial_concurrency,
            in_flight: 0,
            past_rtt: None,
            next_update: 0.0,
            current_rtt: (0, 0.0),
            had_back_pressure: false,
            reached_limit: false,
        }
    }

    /// `EwmaVar::update`.
    fn update_past(&mut self, point: f64) -> MeanVariance {
        let alpha = self.settings.ewma_alpha;
        let state = match self.past_rtt {
            None => MeanVariance {
                mean: point,
                variance: 0.0,
            },
            Some(state) => {
                let difference = point - state.mean;
                let increment = alpha * difference;
                MeanVariance {
                    mean: state.mean + increment,
                    variance: (1.0 - alpha) * difference.mul_add(increment, state.variance),
                }
            }
        };
        self.past_rtt = Some(state);
        state
    }

    fn current_average(&self) -> Option<f64> {
        (self.current_rtt.0 > 0).then_some(self.current_rtt.1)
    }

    fn manage_limit(&mut self, past: MeanVariance, current: Option<f64>) {
        let threshold = past.variance.sqrt() * self.settings.rtt_deviation_scale;
        if self.current_limit < self.settings.max_concurrency_limit
            && self.reached_limit
            && !self.had_back_pressure
            && current.is_some_and(|c| c <= past.mean)
        {
            self.current_limit += 1;
        } else if self.current_limit > 1
            && (self.had_back_pressure || current.unwrap_or(0.0) >= past.mean + threshold)
        {
            let new_limit =
                ((self.current_limit as f64 * self.settings.decrease_ratio) as usize).max(1);
            self.current_limit = new_limit;
        }
    }
}

impl Controller for Arc {
    fn limit(&self) -> usize {
        self.current_limit
    }

    fn start(&mut self, now: f64) -> Started {
        self.in_flight += 1;
        if self.in_flight >= self.current_limit {
            self.reached_limit = true;
        }
        Started {
            at: now,
            in_flight: self.in_flight,
        }
    }

    fn end(&mut self, started: Started, now: f64, outcome: Outcome) {
        let rtt = (now - started.at).max(0.0);
        let (is_back_pressure, use_rtt) = match outcome {
            Outcome::Ok => (false, true),
            Outcome::Dropped => (true, false),
        };
        if is_back_pressure {
            self.had_back_pressure = true;
        }
        self.in_flight -= 1;
        if use_rtt {
            let (n, mean) = self.current_rtt;
            let n = n + 1;
            self.current_rtt = (n, mean + (rtt - mean) / n as f64);
        }
        let current = self.current_average();
        match self.past_rtt {
            None => {
                if let Some(current) = current {
                    self.update_past(current);
                    self.next_update = now + current;
                }
            }
            Some(mut past) => {
                if now >= self.next_update {
                    self.manage_limit(past, current);
                    if let Some(current) = current {
                        past = self.update_past(current);
                    }
                    self.next_update = now + past.mean;
                    self.current_rtt = (0, 0.0);
                    self.had_back_pressure = false;
                    self.reached_limit = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RTTs are powers of two, so that sums of times are exact: Vector
    /// compares a period's mean RTT with the past mean, and with a zero
    /// deviation the slightest rounding up reads as a rise.
    const RTT: f64 = 1.0 / 16.0;

    /// `n` calls of `rtt` each, started together at `t`.
    fn round(arc: &mut Arc, t: f64, n: usize, rtt: f64, outcome: Outcome) -> f64 {
        let started: Vec<_> = (0..n).map(|_| arc.start(t)).collect();
        for s in started {
            arc.end(s, t + rtt, outcome);
        }
        t + rtt
    }

    #[test]
    fn adds_one_per_period_at_the_limit_with_flat_rtt() {
        let mut arc = Arc::new(Settings::default());
        assert_eq!(arc.limit(), 1);
        // The first response sets up the past RTT, no adjustment.
        let mut t = round(&mut arc, 0.0, 1, RTT, Outcome::Ok);
        assert_eq!(arc.limit(), 1);
        for expected in 2..=10 {
            let n = arc.limit();
            t = round(&mut arc, t, n, RTT, Outcome::Ok);
            assert_eq!(arc.limit(), expected, "at {t}");
        }
    }

    #[test]
    fn does_not_grow_when_the_limit_is_not_reached() {
        let mut arc = Arc::new(Settings {
            initial_concurrency: 10,
            ..Settings::default()
        });
        let mut t = 0.0;
        for i in 0..20 {
            let rtt = if i % 2 == 0 { RTT } else { RTT + 1.0 / 256.0 };
            t = round(&mut arc, t, 3, rtt, Outcome::Ok);
            assert!(arc.limit() <= 10);
        }
    }

    #[test]
    fn back_pressure_decreases_by_the_ratio_once_per_period() {
        let mut arc = Arc::new(Settings {
            initial_concurrency: 50,
            ..Settings::default()
        });
        let t = round(&mut arc, 0.0, 1, 0.125, Outcome::Ok);
        // Twenty drops within one period (0.125 s): one decrease, 50 → 45.
        let started: Vec<_> = (0..20).map(|_| arc.start(t)).collect();
        for (i, s) in started.into_iter().enumerate() {
            arc.end(s, t + 0.125 + f64::from(i as u8) / 1024.0, Outcome::Dropped);
        }
        assert_eq!(arc.limit(), 45);
        // The next period: 45 → 40 (floor of 40.5).
        round(&mut arc, t + 0.25, 5, 0.25, Outcome::Dropped);
        assert_eq!(arc.limit(), 40);
    }

    #[test]
    fn a_rising_rtt_decreases() {
        let mut arc = Arc::new(Settings {
            initial_concurrency: 20,
            ..Settings::default()
        });
        let mut t = 0.0;
        for _ in 0..3 {
            let n = arc.limit();
            t = round(&mut arc, t, n, RTT, Outcome::Ok);
        }
        assert_eq!(arc.limit(), 22);
        // Twice the RTT, at the limit: not an increase but a decrease.
        round(&mut arc, t, 22, 2.0 * RTT, Outcome::Ok);
        assert_eq!(arc.limit(), 19);
    }
}
