//! How an autoscaled pool moves its limit: the queue-depth rule
//! ([`queue_depth`]) and the latency-adaptive policy ([`adaptive`]), behind
//! one small interface ([`Scaler`]) that the admission core drives without
//! knowing which policy it is.

pub(crate) mod adaptive;
pub(crate) mod queue_depth;

use adaptive::{AdaptiveLimit, AdaptiveSettings, Verdict};
use queue_depth::{AutoscaleTiming, QueueDepthRule};
use std::time::Duration;

/// Which rule an autoscaled pool follows.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum ScalePolicy {
    /// The queue-depth rule (see [`AutoscaleTiming`]): grow while calls
    /// queue, shrink while slots idle.
    #[default]
    QueueDepth,
    /// The latency-adaptive limit (see [`AdaptiveSettings`]): keep the server
    /// below its knee.
    Adaptive(AdaptiveSettings),
}

impl ScalePolicy {
    /// The policy's name, as in a file (`policy = "..."`).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            ScalePolicy::QueueDepth => "queue_depth",
            ScalePolicy::Adaptive(_) => "adaptive",
        }
    }
}

/// Why a pool's limit changed, as features `tracing` and `metrics` report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LimitCause {
    /// `scale(delta)`.
    Scale,
    /// `resize(n)`.
    Resize,
    /// `set_bounds(min, max)` clamped the limit into the new bounds.
    Bounds,
    /// Configuration: a (re)load changed the size or bounds of a running pool.
    Reload,
    /// The queue-depth rule.
    #[cfg_attr(not(any(feature = "tracing", feature = "metrics")), allow(dead_code))]
    Autoscale,
    /// The adaptive policy.
    #[cfg_attr(not(any(feature = "tracing", feature = "metrics")), allow(dead_code))]
    Adaptive,
}

impl LimitCause {
    /// Its name in events.
    #[cfg(feature = "tracing")]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LimitCause::Scale => "scale",
            LimitCause::Resize => "resize",
            LimitCause::Bounds => "bounds",
            LimitCause::Reload => "reload",
            LimitCause::Autoscale => "autoscale",
            LimitCause::Adaptive => "adaptive",
        }
    }
}

/// An autoscaled pool's policy, as the admission core drives it: fed events
/// (demand at intake and release) or finished calls (latency and verdict),
/// it answers with a new limit when it wants one.
pub(crate) enum Scaler {
    QueueDepth(QueueDepthRule),
    /// Boxed: its state is three times the rule's, and the pool's lock
    /// guards one or the other (one allocation per adaptive pool, none per
    /// call).
    Adaptive(Box<AdaptiveLimit>),
}

impl Scaler {
    pub(crate) fn new(
        policy: ScalePolicy,
        timing: AutoscaleTiming,
        initial: usize,
        now: Duration,
    ) -> Self {
        match policy {
            ScalePolicy::QueueDepth => Scaler::QueueDepth(QueueDepthRule::new(timing, now)),
            ScalePolicy::Adaptive(settings) => {
                Scaler::Adaptive(Box::new(AdaptiveLimit::new(settings, initial, now)))
            }
        }
    }

    /// Whether the policy wants each finished call timed and judged.
    pub(crate) fn samples_calls(&self) -> bool {
        matches!(self, Scaler::Adaptive(_))
    }

    /// When the policy next wants a demand sample or an evaluation (`None`:
    /// never; it is fed by finished calls instead).
    pub(crate) fn next_due(&self) -> Option<Duration> {
        match self {
            Scaler::QueueDepth(rule) => Some(rule.next_due()),
            Scaler::Adaptive(_) => None,
        }
    }

    /// An intake or release event: `demand` calls running or waiting now.
    pub(crate) fn on_demand(
        &mut self,
        now: Duration,
        demand: usize,
        limit: usize,
        bounds: (usize, usize),
    ) -> Option<usize> {
        match self {
            Scaler::QueueDepth(rule) => rule.observe(now, demand, limit, bounds),
            Scaler::Adaptive(_) => None,
        }
    }

    /// A finished call: how long it held its slot and how the server did;
    /// `running` and `waiting` are the pool's counts as it releases the slot.
    pub(crate) fn on_call(
        &mut self,
        now: Duration,
        latency: Duration,
        verdict: Verdict,
        running: usize,
        waiting: usize,
        bounds: (usize, usize),
    ) -> Option<usize> {
        match self {
            Scaler::Adaptive(policy) => {
                policy.observe(now, latency, verdict, running, waiting, bounds)
            }
            Scaler::QueueDepth(_) => None,
        }
    }

    /// The limit was set from outside (a scale call or a reload).
    pub(crate) fn reset_to(&mut self, limit: usize) {
        if let Scaler::Adaptive(policy) = self {
            policy.reset_to(limit);
        }
    }

    /// What the adaptive policy decided in the window it closed last, once.
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    pub(crate) fn take_window(&mut self) -> Option<adaptive::WindowReport> {
        match self {
            Scaler::Adaptive(policy) => policy.take_window(),
            Scaler::QueueDepth(_) => None,
        }
    }

    /// New timing for the queue-depth rule (restarts it); the adaptive
    /// policy has none.
    pub(crate) fn set_timing(&mut self, timing: AutoscaleTiming, now: Duration) {
        if let Scaler::QueueDepth(rule) = self {
            *rule = QueueDepthRule::new(timing, now);
        }
    }
}
