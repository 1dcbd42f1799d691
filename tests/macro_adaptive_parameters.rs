//! The adaptive policy's parameters from the attribute (issue 10, item 1):
//! the same names as in configuration (`adaptive_<parameter>`), the same
//! ranges, checked at compile time (the failing cases are trybuild's).

use pooled::{AdaptiveSettings, ScalePolicy};
use std::time::Duration;

#[pooled::pooled(
    kind = "autoscale",
    policy = "adaptive",
    min = 1,
    max = 8,
    adaptive_tolerance = 2.5,
    adaptive_window_samples = 40,
    adaptive_baseline_interval = "30s",
    adaptive_backoff = 1
)]
async fn tuned() -> u32 {
    7
}

#[pooled::group(
    kind = "autoscale",
    policy = "adaptive",
    max = 4,
    adaptive_smoothing = 0.5
)]
struct Tuned;

#[pooled::pooled(group = Tuned)]
async fn in_group() {}

#[test]
fn the_attributes_adaptive_parameters_reach_the_pool() {
    assert_eq!(futures::executor::block_on(tuned()), 7);
    let ScalePolicy::Adaptive(params) = TUNED_POOL.settings().policy else {
        panic!("adaptive");
    };
    assert_eq!(
        params,
        AdaptiveSettings {
            tolerance: 2.5,
            window_samples: 40,
            baseline_interval: Duration::from_secs(30),
            backoff: 1.0,
            ..AdaptiveSettings::DEFAULT
        }
    );
    futures::executor::block_on(in_group());
    let ScalePolicy::Adaptive(params) = Tuned::POOL.settings().policy else {
        panic!("adaptive");
    };
    assert_eq!(params.smoothing, 0.5);
}
