//! [`BuildError`]: settings a pool cannot be built with (or changed to). A
//! leaf: the scaling policies validate their own settings with it.

use crate::admission::state::MAX_SLOTS;
use std::fmt;

/// Settings a pool cannot be built with.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A fixed pool needs at least one slot to start with (it may be scaled to
    /// zero later, which holds its queue until it is scaled up again).
    ZeroSize,
    /// An autoscaled pool's `max` must be at least 1.
    ZeroMax,
    /// `min` is above `max`.
    MinAboveMax {
        /// The `min` given.
        min: usize,
        /// The `max` given.
        max: usize,
    },
    /// A starting `size` outside `[min, max]`.
    SizeOutsideBounds {
        /// The `size` given.
        size: usize,
        /// The lower bound.
        min: usize,
        /// The upper bound.
        max: usize,
    },
    /// A slot count above [`MAX_SLOTS`].
    TooLarge {
        /// The value given.
        value: usize,
    },
    /// `min`/`max` apply to autoscaled pools only; a fixed pool takes `size`.
    BoundsOnFixedPool,
    /// A scale policy applies to autoscaled pools only.
    PolicyOnFixedPool,
    /// The autoscale window must hold at least one sample.
    ZeroWindow,
    /// The autoscale interval must be longer than zero.
    ZeroInterval,
    /// A setting names something this build does not have: a cargo feature
    /// of `pooled` is off (`executor = "rayon"` without the `rayon` feature).
    Unavailable {
        /// The setting.
        setting: &'static str,
        /// The value given.
        value: &'static str,
        /// The feature that provides it.
        feature: &'static str,
    },
    /// A setting this build cannot honour whatever its value: a cargo
    /// feature of `pooled` is off (a `fleet_limit`, of any size, without
    /// the `redis` feature).
    NeedsFeature {
        /// The setting.
        setting: &'static str,
        /// The feature that provides it.
        feature: &'static str,
    },
    /// A setting outside its documented range: an autoscale window above
    /// [`AutoscaleTiming::MAX_WINDOW`](crate::AutoscaleTiming::MAX_WINDOW), a `max_waiting` above [`MAX_SLOTS`],
    /// an [`AdaptiveSettings`](crate::AdaptiveSettings) field outside its
    /// range (NaN included).
    OutOfRange {
        /// The setting, as the builder and the configuration name it.
        setting: &'static str,
        /// The value given.
        value: String,
        /// The values accepted.
        expected: String,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroSize => f.write_str("a fixed pool needs `size` >= 1"),
            BuildError::ZeroMax => f.write_str("an autoscaled pool needs `max` >= 1"),
            BuildError::MinAboveMax { min, max } => {
                write!(f, "`min` ({min}) is greater than `max` ({max})")
            }
            BuildError::SizeOutsideBounds { size, min, max } => {
                write!(f, "`size` ({size}) is outside `min..=max` ({min}..={max})")
            }
            BuildError::TooLarge { value } => {
                write!(f, "slot count {value} is above the maximum of {MAX_SLOTS}")
            }
            BuildError::BoundsOnFixedPool => {
                f.write_str("`min`/`max` apply to autoscaled pools; a fixed pool takes `size`")
            }
            BuildError::PolicyOnFixedPool => f.write_str(
                "a scale policy applies to autoscaled pools; a fixed pool has none (make its kind autoscale)",
            ),
            BuildError::ZeroWindow => f.write_str("the autoscale window must be at least 1 sample"),
            BuildError::ZeroInterval => {
                f.write_str("the autoscale interval must be longer than zero")
            }
            BuildError::NeedsFeature { setting, feature } => write!(
                f,
                "`{setting}` needs the `{feature}` feature of `pooled`, which this build does not have"
            ),
            BuildError::Unavailable {
                setting,
                value,
                feature,
            } => write!(
                f,
                "`{setting}` = \"{value}\" needs the `{feature}` feature of `pooled`, which this build does not have"
            ),
            BuildError::OutOfRange {
                setting,
                value,
                expected,
            } => write!(
                f,
                "`{setting}` = {value} is out of range: expected {expected}"
            ),
        }
    }
}

impl std::error::Error for BuildError {}
