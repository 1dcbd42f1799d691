//! A group's effective settings: its compile-time spec with configuration
//! layered on top.

use crate::group::GroupSpec;
use crate::pool::builder::PoolBuilder;
use crate::pool::error::BuildError;
use crate::pool::order::{Kind, Order};
use crate::pool::Pool;
use crate::scale::queue_depth::AutoscaleTiming;
use crate::scale::ScalePolicy;
use std::time::Duration;

/// The settings a group's pool runs with.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct GroupSettings {
    /// Fixed or autoscaled.
    pub kind: Kind,
    /// Admission order.
    pub order: Order,
    /// Slot count of a fixed pool (the starting one of an autoscaled pool is `min`).
    pub size: usize,
    /// Lower bound of an autoscaled pool.
    pub min: usize,
    /// Upper bound of an autoscaled pool.
    pub max: usize,
    /// Bound on waiting calls.
    pub max_waiting: Option<usize>,
    /// Admission timeout.
    pub admission_timeout: Option<Duration>,
    /// Autoscale interval and window (queue-depth rule).
    pub autoscale: AutoscaleTiming,
    /// The rule an autoscaled pool follows.
    pub policy: ScalePolicy,
}

impl From<&GroupSpec> for GroupSettings {
    fn from(spec: &GroupSpec) -> Self {
        GroupSettings {
            kind: spec.kind,
            order: spec.order,
            size: spec.size,
            min: spec.min,
            max: spec.max,
            max_waiting: spec.max_waiting,
            admission_timeout: spec.admission_timeout,
            autoscale: AutoscaleTiming::default(),
            policy: spec.policy,
        }
    }
}

impl GroupSettings {
    /// The builder these settings stand for, unclamped: its checks are the one
    /// rule that the builder, configuration and a reload all apply. Settings a
    /// kind has no use for (a fixed pool's `min`/`max`, an autoscaled pool's
    /// `size`) are left out; a policy other than the default on a fixed pool
    /// is kept, so that it is refused.
    pub(crate) fn builder(&self, name: &'static str) -> PoolBuilder {
        let mut builder = Pool::builder().name(name).kind(self.kind).order(self.order);
        builder = match self.kind {
            Kind::Fixed if self.policy != ScalePolicy::QueueDepth => {
                builder.size(self.size).scale_policy(self.policy)
            }
            Kind::Fixed => builder.size(self.size),
            Kind::Autoscale => builder
                .min(self.min)
                .max(self.max)
                .autoscale_interval(self.autoscale.interval)
                .autoscale_window(self.autoscale.window)
                .scale_policy(self.policy),
        };
        if let Some(bound) = self.max_waiting {
            builder = builder.max_waiting(bound);
        }
        if let Some(timeout) = self.admission_timeout {
            builder = builder.admission_timeout(timeout);
        }
        builder
    }

    /// Checks these settings as [`PoolBuilder::build`] would.
    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        self.builder("").check().map(drop)
    }

    /// Builds a pool with these settings. Invalid values (which the attribute
    /// and configuration reject before they get here, but a hand-written
    /// `GroupSpec` may carry) are brought into range rather than failing at
    /// first use: sizes to `1..=MAX_SLOTS`, `min` to `max`, `max_waiting` to
    /// `MAX_SLOTS`, the autoscale window to `1..=AutoscaleTiming::MAX_WINDOW`,
    /// adaptive parameters to their ranges.
    pub(crate) fn build(&self, name: &'static str) -> Pool {
        let mut builder = Pool::builder().name(name).kind(self.kind).order(self.order);
        builder = match self.kind {
            Kind::Fixed => builder.size(self.size.clamp(1, crate::MAX_SLOTS)),
            Kind::Autoscale => {
                let max = self.max.clamp(1, crate::MAX_SLOTS);
                builder
                    .min(self.min.min(max))
                    .max(max)
                    .autoscale_interval(self.autoscale.interval.max(Duration::from_nanos(1)))
                    .autoscale_window(self.autoscale.window.clamp(1, AutoscaleTiming::MAX_WINDOW))
                    .scale_policy(match self.policy {
                        ScalePolicy::Adaptive(settings) => {
                            ScalePolicy::Adaptive(settings.clamped())
                        }
                        queue_depth => queue_depth,
                    })
            }
        };
        if let Some(bound) = self.max_waiting {
            builder = builder.max_waiting(bound.min(crate::MAX_SLOTS));
        }
        if let Some(timeout) = self.admission_timeout {
            builder = builder.admission_timeout(timeout);
        }
        builder
            .build()
            .expect("clamped group settings always build")
    }
}
